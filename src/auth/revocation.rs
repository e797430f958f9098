//! Which tokens stopped working before their expiry.
//!
//! The database keeps the durable record (revoked ids, users' token versions); an
//! implementation of [`Revocations`] answers the per-request question fast. The in-process
//! one is loaded from the database at start-up; the Redis one ([`RedisRevocations`]) is
//! shared by every instance of a scaled-out deployment.

mod redis;

use std::collections::HashMap;
use std::sync::RwLock;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use self::redis::RedisRevocations;

/// The fast answer to "is this token still good?".
#[async_trait]
pub trait Revocations: Send + Sync {
    /// Marks an access-token id or a token family as revoked until `expires_at`.
    async fn revoke(&self, token_id: &str, expires_at: DateTime<Utc>) -> anyhow::Result<()>;
    /// Whether any of these ids (a token's `jti` and its family) was revoked.
    async fn any_revoked(&self, token_ids: &[&str]) -> anyhow::Result<bool>;
    /// Records a user's current token version; tokens with a lower one are dead.
    async fn set_user_version(&self, user_id: i64, version: i64) -> anyhow::Result<()>;
    /// A user's current token version (0 when never bumped).
    async fn user_version(&self, user_id: i64) -> anyhow::Result<i64>;
    /// Whether a token is dead: one of its ids revoked, or issued under an older version
    /// of its user's tokens. One question, so a shared store can answer it in one trip.
    async fn token_dead(&self, token_ids: &[&str], user_id: i64, version: i64) -> anyhow::Result<bool> {
        Ok(self.any_revoked(token_ids).await? || self.user_version(user_id).await? > version)
    }
}

/// Revocations held in this process.
#[derive(Debug, Default)]
pub struct MemoryRevocations {
    ids: RwLock<HashMap<String, DateTime<Utc>>>,
    versions: RwLock<HashMap<i64, i64>>,
}

impl MemoryRevocations {
    fn prune(ids: &mut HashMap<String, DateTime<Utc>>) {
        let now = Utc::now();
        ids.retain(|_, expires_at| *expires_at > now);
    }
}

#[async_trait]
impl Revocations for MemoryRevocations {
    async fn revoke(&self, token_id: &str, expires_at: DateTime<Utc>) -> anyhow::Result<()> {
        let mut ids = self.ids.write().map_err(|_| anyhow::anyhow!("revocation lock poisoned"))?;
        // Pruning on insert keeps the map no larger than the tokens still alive.
        if ids.len() % 1024 == 1023 {
            Self::prune(&mut ids);
        }
        ids.insert(token_id.to_owned(), expires_at);
        Ok(())
    }

    async fn any_revoked(&self, token_ids: &[&str]) -> anyhow::Result<bool> {
        let ids = self.ids.read().map_err(|_| anyhow::anyhow!("revocation lock poisoned"))?;
        Ok(token_ids.iter().any(|id| ids.contains_key(*id)))
    }

    async fn set_user_version(&self, user_id: i64, version: i64) -> anyhow::Result<()> {
        let mut versions = self.versions.write().map_err(|_| anyhow::anyhow!("version lock poisoned"))?;
        let entry = versions.entry(user_id).or_default();
        *entry = (*entry).max(version);
        Ok(())
    }

    async fn user_version(&self, user_id: i64) -> anyhow::Result<i64> {
        let versions = self.versions.read().map_err(|_| anyhow::anyhow!("version lock poisoned"))?;
        Ok(versions.get(&user_id).copied().unwrap_or(0))
    }
}
