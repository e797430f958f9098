use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::SqliteStore;
use crate::store::{NewRefreshToken, Rotation, StoreError, TokenStore};

#[async_trait]
impl TokenStore for SqliteStore {
    async fn insert_refresh_token(&self, token: &NewRefreshToken) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO refresh_tokens (jti, family, user_id, expires_at, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&token.jti)
        .bind(&token.family)
        .bind(token.user_id)
        .bind(token.expires_at)
        .bind(Utc::now())
        .execute(&*self.write.lock().await?)
        .await?;
        Ok(())
    }

    async fn rotate_refresh_token(
        &self,
        old_jti: &str,
        new: &NewRefreshToken,
    ) -> Result<Rotation, StoreError> {
        let now = Utc::now();
        let mut tx = self.write.begin().await?;
        // Spending is a conditional update: of two concurrent rotations only one matches.
        let spent = sqlx::query(
            "UPDATE refresh_tokens SET used_at = $2
             WHERE jti = $1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $2
               AND user_id IN (SELECT id FROM users WHERE deleted_at IS NULL)",
        )
        .bind(old_jti)
        .bind(now)
        .execute(&mut **tx)
        .await?
        .rows_affected();
        if spent == 1 {
            sqlx::query(
                "INSERT INTO refresh_tokens (jti, family, user_id, expires_at, created_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&new.jti)
            .bind(&new.family)
            .bind(new.user_id)
            .bind(new.expires_at)
            .bind(now)
            .execute(&mut **tx)
            .await?;
            tx.commit().await?;
            return Ok(Rotation::Rotated);
        }
        let family: Option<(String, bool)> =
            sqlx::query_as("SELECT family, used_at IS NOT NULL FROM refresh_tokens WHERE jti = $1")
                .bind(old_jti)
                .fetch_optional(&mut **tx)
                .await?;
        let outcome = match family {
            Some((family, true)) => {
                sqlx::query(
                    "UPDATE refresh_tokens SET revoked_at = $2 WHERE family = $1 AND revoked_at IS NULL",
                )
                .bind(&family)
                .bind(now)
                .execute(&mut **tx)
                .await?;
                Rotation::Reused { family }
            }
            _ => Rotation::Invalid,
        };
        tx.commit().await?;
        Ok(outcome)
    }

    async fn revoke_user_refresh_tokens(&self, user_id: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL")
            .bind(user_id)
            .bind(Utc::now())
            .execute(&*self.write.lock().await?)
            .await?;
        Ok(())
    }

    async fn revoke_token_id(&self, token_id: &str, expires_at: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO revoked_tokens (token_id, expires_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(token_id)
        .bind(expires_at)
        .execute(&*self.write.lock().await?)
        .await?;
        Ok(())
    }

    async fn live_revoked_token_ids(&self) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
        let now = Utc::now();
        sqlx::query("DELETE FROM revoked_tokens WHERE expires_at <= $1")
            .bind(now)
            .execute(&*self.write.lock().await?)
            .await?;
        Ok(sqlx::query_as("SELECT token_id, expires_at FROM revoked_tokens").fetch_all(&self.read).await?)
    }
}
