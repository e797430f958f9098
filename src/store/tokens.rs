//! Refresh tokens and revocations in storage.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Encode, Executor, IntoArguments, Type};

use super::StoreError;
use super::sql::{Args, Backend, Column, Conn, RowOf};

/// A refresh token to remember.
#[derive(Debug, Clone)]
pub struct NewRefreshToken {
    pub jti: String,
    pub family: String,
    pub user_id: i64,
    pub expires_at: DateTime<Utc>,
}

/// What became of presenting a refresh token for rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// It was fresh: it is now spent and the new one is stored.
    Rotated,
    /// It was spent already: someone replayed it, so its whole family is now revoked.
    Reused { family: String },
    /// Unknown, expired or revoked.
    Invalid,
}

/// Refresh tokens and revoked token ids.
#[async_trait]
pub trait TokenStore {
    /// Remembers a newly issued refresh token.
    async fn insert_refresh_token(&self, token: &NewRefreshToken) -> Result<(), StoreError>;
    /// Spends `old_jti` and stores `new` in one transaction, or detects reuse and revokes
    /// the family. Safe against two concurrent rotations of the same token: one wins.
    async fn rotate_refresh_token(
        &self,
        old_jti: &str,
        new: &NewRefreshToken,
    ) -> Result<Rotation, StoreError>;
    /// Revokes every refresh token of a user.
    async fn revoke_user_refresh_tokens(&self, user_id: i64) -> Result<(), StoreError>;
    /// Remembers a revoked access-token id or family until it would expire anyway.
    async fn revoke_token_id(&self, token_id: &str, expires_at: DateTime<Utc>) -> Result<(), StoreError>;
    /// Revoked ids that have not expired yet (expired ones are pruned).
    async fn live_revoked_token_ids(&self) -> Result<Vec<(String, DateTime<Utc>)>, StoreError>;
}

/// Stores a refresh token issued at `now`.
const INSERT_REFRESH_TOKEN: &str =
    "INSERT INTO refresh_tokens (jti, family, user_id, expires_at, created_at) VALUES ($1, $2, $3, $4, $5)";

/// Revokes at `$2` every live refresh token of a user (`$1`).
pub(super) const REVOKE_USER_TOKENS: &str =
    "UPDATE refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL";

/// Forgets revocations of tokens that have expired by `$1` anyway.
pub(super) const PRUNE_REVOKED: &str = "DELETE FROM revoked_tokens WHERE expires_at <= $1";

#[async_trait]
impl<B> TokenStore for B
where
    B: Backend,
    for<'c> &'c mut Conn<B>: Executor<'c, Database = B::DB>,
    for<'q> Args<'q, B>: IntoArguments<'q, B::DB>,
    usize: ColumnIndex<RowOf<B>>,
    for<'q> &'q str: Encode<'q, B::DB> + Type<B::DB>,
    i64: Column<B::DB>,
    bool: Column<B::DB>,
    String: Column<B::DB>,
    DateTime<Utc>: Column<B::DB>,
{
    async fn insert_refresh_token(&self, token: &NewRefreshToken) -> Result<(), StoreError> {
        sqlx::query(INSERT_REFRESH_TOKEN)
            .bind(&token.jti)
            .bind(&token.family)
            .bind(token.user_id)
            .bind(token.expires_at)
            .bind(Utc::now())
            .execute(&*self.write().await?)
            .await?;
        Ok(())
    }

    async fn rotate_refresh_token(
        &self,
        old_jti: &str,
        new: &NewRefreshToken,
    ) -> Result<Rotation, StoreError> {
        let now = Utc::now();
        let mut tx = self.begin().await?;
        // Spending is a conditional update: of two concurrent rotations only one matches.
        let spent: Option<String> = sqlx::query_scalar(
            "UPDATE refresh_tokens SET used_at = $2
             WHERE jti = $1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $2
               AND user_id IN (SELECT id FROM users WHERE deleted_at IS NULL)
             RETURNING jti",
        )
        .bind(old_jti)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        if spent.is_some() {
            sqlx::query(INSERT_REFRESH_TOKEN)
                .bind(&new.jti)
                .bind(&new.family)
                .bind(new.user_id)
                .bind(new.expires_at)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            return Ok(Rotation::Rotated);
        }
        let family: Option<(String, bool)> =
            sqlx::query_as("SELECT family, used_at IS NOT NULL FROM refresh_tokens WHERE jti = $1")
                .bind(old_jti)
                .fetch_optional(&mut *tx)
                .await?;
        let outcome = match family {
            Some((family, true)) => {
                sqlx::query(
                    "UPDATE refresh_tokens SET revoked_at = $2 WHERE family = $1 AND revoked_at IS NULL",
                )
                .bind(&family)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                Rotation::Reused { family }
            }
            _ => Rotation::Invalid,
        };
        tx.commit().await?;
        Ok(outcome)
    }

    async fn revoke_user_refresh_tokens(&self, user_id: i64) -> Result<(), StoreError> {
        sqlx::query(REVOKE_USER_TOKENS).bind(user_id).bind(Utc::now()).execute(&*self.write().await?).await?;
        Ok(())
    }

    async fn revoke_token_id(&self, token_id: &str, expires_at: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO revoked_tokens (token_id, expires_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(token_id)
        .bind(expires_at)
        .execute(&*self.write().await?)
        .await?;
        Ok(())
    }

    async fn live_revoked_token_ids(&self) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
        sqlx::query(PRUNE_REVOKED).bind(Utc::now()).execute(&*self.write().await?).await?;
        Ok(sqlx::query_as("SELECT token_id, expires_at FROM revoked_tokens").fetch_all(self.fresh()).await?)
    }
}
