//! Accounts in storage.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Encode, Executor, IntoArguments, Type};

use super::StoreError;
use super::sql::{Args, Backend, Column, Conn, FOR_UPDATE, RowOf};
use super::tokens::REVOKE_USER_TOKENS;
use crate::domain::user::Role;

/// A live (not deleted) account as stored.
#[derive(Debug, Clone)]
pub struct UserRecord {
    pub id: i64,
    pub username: String,
    pub password_hash: String,
    pub email: String,
    pub nickname: Option<String>,
    pub role: Role,
    pub token_version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A new account, already validated and hashed.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub password_hash: String,
    pub email: String,
    pub nickname: Option<String>,
    pub role: Role,
}

/// An admin's change to an account; `None` keeps the field as it is.
#[derive(Debug, Clone)]
pub struct UserUpdate {
    pub username: String,
    pub password_hash: Option<String>,
    pub email: String,
    pub nickname: Option<String>,
    pub role: Role,
}

/// The columns [`UserRow`] reads.
const USER_COLUMNS: &str =
    "id, username, password_hash, email, nickname, role, token_version, created_at, updated_at";

/// A `users` row as every backend returns it.
#[derive(sqlx::FromRow)]
struct UserRow {
    id: i64,
    username: String,
    password_hash: String,
    email: String,
    nickname: Option<String>,
    role: String,
    token_version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<UserRow> for UserRecord {
    type Error = StoreError;
    fn try_from(row: UserRow) -> Result<Self, StoreError> {
        let role = row.role.parse().map_err(|e| {
            StoreError::Other(anyhow::anyhow!("user {} has role {:?}: {e}", row.id, row.role))
        })?;
        Ok(UserRecord {
            id: row.id,
            username: row.username,
            password_hash: row.password_hash,
            email: row.email,
            nickname: row.nickname,
            role,
            token_version: row.token_version,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// Accounts.
#[async_trait]
pub trait UserStore {
    /// Checks that the database answers.
    async fn ping(&self) -> Result<(), StoreError>;
    /// Inserts an account; `Duplicate` names the clashing field.
    async fn create_user(&self, new: &NewUser) -> Result<UserRecord, StoreError>;
    /// A live account by id.
    async fn user_by_id(&self, id: i64) -> Result<Option<UserRecord>, StoreError>;
    /// A live account by username, ignoring case.
    async fn user_by_username(&self, username: &str) -> Result<Option<UserRecord>, StoreError>;
    /// Every live account, oldest first.
    async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError>;
    /// A user's own change of email and nickname.
    async fn update_profile(
        &self,
        id: i64,
        email: &str,
        nickname: Option<&str>,
    ) -> Result<UserRecord, StoreError>;
    /// An admin's change. When the role or password changes, the token version is bumped so
    /// that every token issued before stops working.
    async fn admin_update_user(&self, id: i64, update: &UserUpdate) -> Result<UserRecord, StoreError>;
    /// Soft-deletes an account, bumps its token version, revokes its refresh tokens and
    /// cancels its reservations of concerts not yet started, in one transaction. Returns
    /// the new token version.
    async fn delete_user(&self, id: i64) -> Result<i64, StoreError>;
    /// `(user id, token version)` of every account whose version is above zero.
    async fn token_versions(&self) -> Result<Vec<(i64, i64)>, StoreError>;
}

fn one(row: Option<UserRow>) -> Result<Option<UserRecord>, StoreError> {
    row.map(UserRecord::try_from).transpose()
}

// Accounts are read where the latest write is: a login right after a signup or a role
// change must see it, which a lagging replica would not.
#[async_trait]
impl<B> UserStore for B
where
    B: Backend,
    for<'c> &'c mut Conn<B>: Executor<'c, Database = B::DB>,
    for<'q> Args<'q, B>: IntoArguments<'q, B::DB>,
    for<'r> &'r str: ColumnIndex<RowOf<B>>,
    usize: ColumnIndex<RowOf<B>>,
    for<'q> &'q str: Encode<'q, B::DB> + Type<B::DB>,
    for<'q> Option<&'q str>: Encode<'q, B::DB>,
    i64: Column<B::DB>,
    String: Column<B::DB>,
    Option<String>: Column<B::DB>,
    DateTime<Utc>: Column<B::DB>,
{
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(self.fresh()).await?;
        if let Some(replica) = self.replica() {
            sqlx::query("SELECT 1").execute(replica).await?;
        }
        Ok(())
    }

    async fn create_user(&self, new: &NewUser) -> Result<UserRecord, StoreError> {
        let row: UserRow = sqlx::query_as(&format!(
            "INSERT INTO users (username, password_hash, email, nickname, role, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING {USER_COLUMNS}"
        ))
        .bind(&new.username)
        .bind(&new.password_hash)
        .bind(&new.email)
        .bind(&new.nickname)
        .bind(new.role.as_str())
        .bind(Utc::now())
        .fetch_one(&*self.write().await?)
        .await?;
        row.try_into()
    }

    async fn user_by_id(&self, id: i64) -> Result<Option<UserRecord>, StoreError> {
        let row =
            sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1 AND deleted_at IS NULL"))
                .bind(id)
                .fetch_optional(self.fresh())
                .await?;
        one(row)
    }

    async fn user_by_username(&self, username: &str) -> Result<Option<UserRecord>, StoreError> {
        let row = sqlx::query_as(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE lower(username) = lower($1) AND deleted_at IS NULL"
        ))
        .bind(username)
        .fetch_optional(self.fresh())
        .await?;
        one(row)
    }

    async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError> {
        let rows: Vec<UserRow> =
            sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE deleted_at IS NULL ORDER BY id"))
                .fetch_all(self.fresh())
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
        .fetch_optional(&*self.write().await?)
        .await?;
        one(row)?.ok_or(StoreError::NotFound)
    }

    async fn admin_update_user(&self, id: i64, update: &UserUpdate) -> Result<UserRecord, StoreError> {
        // The version bump is computed in the same statement as the change (which holds the
        // row, or the database, for writing), so it cannot miss a concurrent role change.
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
        .fetch_optional(&*self.write().await?)
        .await?;
        one(row)?.ok_or(StoreError::NotFound)
    }

    async fn delete_user(&self, id: i64) -> Result<i64, StoreError> {
        let now = Utc::now();
        let mut tx = self.begin().await?;
        let version: Option<i64> = sqlx::query_scalar(
            "UPDATE users SET deleted_at = $2, updated_at = $2, token_version = token_version + 1
             WHERE id = $1 AND deleted_at IS NULL RETURNING token_version",
        )
        .bind(id)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let version = version.ok_or(StoreError::NotFound)?;
        if B::ROW_LOCKS {
            // The concerts whose seats go back on sale are locked first, in id order, as
            // every booking locks its concert before its seats: so this cannot deadlock
            // with them.
            sqlx::query(&format!(
                "SELECT id FROM concerts
                 WHERE start_time > $2
                   AND id IN (SELECT concert_id FROM reservations WHERE user_id = $1 AND status = 'Y')
                 ORDER BY id{FOR_UPDATE}"
            ))
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        // Seats of concerts still to come go back on sale (the triggers free them);
        // reservations of past concerts stay as they were.
        sqlx::query(
            "UPDATE reservations SET status = 'N', cancelled_at = $2
             WHERE user_id = $1 AND status = 'Y'
               AND concert_id IN (SELECT id FROM concerts WHERE start_time > $2)",
        )
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(REVOKE_USER_TOKENS).bind(id).bind(now).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(version)
    }

    async fn token_versions(&self) -> Result<Vec<(i64, i64)>, StoreError> {
        Ok(sqlx::query_as("SELECT id, token_version FROM users WHERE token_version > 0")
            .fetch_all(self.fresh())
            .await?)
    }
}
