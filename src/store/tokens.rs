//! Refresh tokens and revocations in storage.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;

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
