use async_trait::async_trait;
use chrono::Utc;

use super::SqliteStore;
use crate::store::users::{USER_COLUMNS, UserRow};
use crate::store::{NewUser, StoreError, UserRecord, UserStore, UserUpdate};

fn one(row: Option<UserRow>) -> Result<Option<UserRecord>, StoreError> {
    row.map(UserRecord::try_from).transpose()
}

#[async_trait]
impl UserStore for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    async fn create_user(&self, new: &NewUser) -> Result<UserRecord, StoreError> {
        let now = Utc::now();
        let row: UserRow = sqlx::query_as(&format!(
            "INSERT INTO users (username, password_hash, email, nickname, role, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING {USER_COLUMNS}"
        ))
        .bind(&new.username)
        .bind(&new.password_hash)
        .bind(&new.email)
        .bind(&new.nickname)
        .bind(new.role.as_str())
        .bind(now)
        .fetch_one(&*self.write.lock().await?)
        .await?;
        row.try_into()
    }

    async fn user_by_id(&self, id: i64) -> Result<Option<UserRecord>, StoreError> {
        let row =
            sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1 AND deleted_at IS NULL"))
                .bind(id)
                .fetch_optional(&self.read)
                .await?;
        one(row)
    }

    async fn user_by_username(&self, username: &str) -> Result<Option<UserRecord>, StoreError> {
        let row = sqlx::query_as(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE lower(username) = lower($1) AND deleted_at IS NULL"
        ))
        .bind(username)
        .fetch_optional(&self.read)
        .await?;
        one(row)
    }

    async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError> {
        let rows: Vec<UserRow> =
            sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE deleted_at IS NULL ORDER BY id"))
                .fetch_all(&self.read)
                .await?;
        rows.into_iter().map(UserRecord::try_from).collect()
    }

    async fn update_profile(
        &self,
        id: i64,
        email: &str,
        nickname: Option<&str>,
    ) -> Result<UserRecord, StoreError> {
        let row: Option<UserRow> = sqlx::query_as(&format!(
            "UPDATE users SET email = $2, nickname = $3, updated_at = $4
             WHERE id = $1 AND deleted_at IS NULL RETURNING {USER_COLUMNS}"
        ))
        .bind(id)
        .bind(email)
        .bind(nickname)
        .bind(Utc::now())
        .fetch_optional(&*self.write.lock().await?)
        .await?;
        one(row)?.ok_or(StoreError::NotFound)
    }

    async fn admin_update_user(&self, id: i64, update: &UserUpdate) -> Result<UserRecord, StoreError> {
        // The version bump is computed in the same statement as the change, so it cannot
        // miss a role change made concurrently.
        let row: Option<UserRow> = sqlx::query_as(&format!(
            "UPDATE users SET
                 token_version = token_version + (CASE WHEN role <> $5 OR $3 IS NOT NULL THEN 1 ELSE 0 END),
                 username = $2, password_hash = coalesce($3, password_hash),
                 email = $4, role = $5, nickname = $6, updated_at = $7
             WHERE id = $1 AND deleted_at IS NULL RETURNING {USER_COLUMNS}"
        ))
        .bind(id)
        .bind(&update.username)
        .bind(&update.password_hash)
        .bind(&update.email)
        .bind(update.role.as_str())
        .bind(&update.nickname)
        .bind(Utc::now())
        .fetch_optional(&*self.write.lock().await?)
        .await?;
        one(row)?.ok_or(StoreError::NotFound)
    }

    async fn delete_user(&self, id: i64) -> Result<i64, StoreError> {
        let now = Utc::now();
        let mut tx = self.write.begin().await?;
        let version: Option<i64> = sqlx::query_scalar(
            "UPDATE users SET deleted_at = $2, updated_at = $2, token_version = token_version + 1
             WHERE id = $1 AND deleted_at IS NULL RETURNING token_version",
        )
        .bind(id)
        .bind(now)
        .fetch_optional(&mut **tx)
        .await?;
        let version = version.ok_or(StoreError::NotFound)?;
        // Seats of concerts still to come go back on sale (the triggers free them);
        // reservations of past concerts stay as they were.
        sqlx::query(
            "UPDATE reservations SET status = 'N', cancelled_at = $2
             WHERE user_id = $1 AND status = 'Y'
               AND concert_id IN (SELECT id FROM concerts WHERE start_time > $2)",
        )
        .bind(id)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        sqlx::query("UPDATE refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL")
            .bind(id)
            .bind(now)
            .execute(&mut **tx)
            .await?;
        tx.commit().await?;
        Ok(version)
    }

    async fn token_versions(&self) -> Result<Vec<(i64, i64)>, StoreError> {
        Ok(sqlx::query_as("SELECT id, token_version FROM users WHERE token_version > 0")
            .fetch_all(&self.read)
            .await?)
    }
}
