//! Revocations in Redis, shared by every instance: a token revoked on one is refused by all.
//!
//! The database stays the durable record. A `loaded` marker says Redis holds all of it;
//! when the marker is missing (first start, a Redis restart or flush) the first instance
//! to notice reloads every live revocation from the database before answering, so a lost
//! Redis never brings a revoked token back to life.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ::redis::Script;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::Revocations;
use crate::shared_state::{RedisUnavailable, SharedState};
use crate::store::Store;

/// How long one instance may take to reload before another may try.
const LOADING_LEASE: std::time::Duration = std::time::Duration::from_secs(10);

/// KEYS: marker, then revoked-id keys. -1 when not loaded, else how many exist.
const ANY_REVOKED: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if #KEYS == 1 then return 0 end
return redis.call('EXISTS', unpack(KEYS, 2))
";

/// KEYS: marker, the user's version key. -1 when not loaded, else the version.
const USER_VERSION: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
return tonumber(redis.call('GET', KEYS[2]) or '0')
";

/// KEYS: marker, the user's version key, then revoked-id keys. ARGV: the token's version.
/// -1 when not loaded, 1 when the token is dead, else 0.
const TOKEN_DEAD: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if #KEYS > 2 and redis.call('EXISTS', unpack(KEYS, 3)) > 0 then return 1 end
if tonumber(redis.call('GET', KEYS[2]) or '0') > tonumber(ARGV[1]) then return 1 end
return 0
";

/// Versions only ever go up, whatever order the news arrives in.
const SET_VERSION: &str = r"
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end
return 1
";

/// KEYS: marker, lease. ARGV: lease token, key prefix, number of ids, id/expiry pairs,
/// then user/version pairs. Kept only if the lease is still this loader's: a flush while
/// it read the database would otherwise mark as complete a set that misses revocations.
const RELOAD: &str = r"
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
local prefix = ARGV[2]
local i = 4
for _ = 1, tonumber(ARGV[3]) do
  redis.call('SET', prefix .. 'revoked:' .. ARGV[i], '1', 'PXAT', ARGV[i + 1])
  i = i + 2
end
while i <= #ARGV do
  local key = prefix .. 'token-version:' .. ARGV[i]
  if tonumber(redis.call('GET', key) or '0') < tonumber(ARGV[i + 1]) then
    redis.call('SET', key, ARGV[i + 1])
  end
  i = i + 2
end
redis.call('SET', KEYS[1], '1')
redis.call('DEL', KEYS[2])
return 1
";

/// Token revocations in Redis.
pub struct RedisRevocations {
    redis: SharedState,
    store: Arc<dyn Store>,
    any_revoked: Script,
    user_version: Script,
    token_dead: Script,
    set_version: Script,
    reload: Script,
    /// Set when a revocation could not be written: Redis is then told to reload from the
    /// database before it answers again.
    missed: AtomicBool,
    reloading: tokio::sync::Mutex<()>,
}

impl RedisRevocations {
    pub fn new(redis: SharedState, store: Arc<dyn Store>) -> Self {
        Self {
            redis,
            store,
            any_revoked: Script::new(ANY_REVOKED),
            user_version: Script::new(USER_VERSION),
            token_dead: Script::new(TOKEN_DEAD),
            set_version: Script::new(SET_VERSION),
            reload: Script::new(RELOAD),
            missed: AtomicBool::new(false),
            reloading: tokio::sync::Mutex::new(()),
        }
    }

    fn marker(&self) -> String {
        self.redis.key("revocations:loaded")
    }

    /// After a missed write, drops the marker so that the database is read again. Also
    /// called in the background, so other instances stop accepting the token soon.
    pub async fn catch_up(&self) -> anyhow::Result<()> {
        if self.missed.swap(false, Ordering::AcqRel) {
            let marker = self.marker();
            let dropped = self
                .redis
                .call("resetting revocations", |mut c| async move {
                    ::redis::cmd("DEL").arg(marker).query_async::<i64>(&mut c).await
                })
                .await;
            if dropped.is_err() {
                self.missed.store(true, Ordering::Release);
            }
            dropped?;
        }
        Ok(())
    }

    /// Runs a marker-guarded query, reloading from the database when it answers -1.
    async fn loaded_query(&self, script: &Script, keys: Vec<String>, args: &[i64]) -> anyhow::Result<i64> {
        self.catch_up().await?;
        let query = || {
            let keys = keys.clone();
            self.redis.call("checking revocations", move |mut c| async move {
                script.key(keys).arg(args).invoke_async::<i64>(&mut c).await
            })
        };
        let answer = query().await?;
        if answer >= 0 {
            return Ok(answer);
        }
        let _reloading = self.reloading.lock().await;
        for _ in 0..5 {
            let answer = query().await?;
            if answer >= 0 {
                return Ok(answer);
            }
            self.reload_from_store().await?;
        }
        Err(RedisUnavailable("revocations could not be reloaded into Redis".into()).into())
    }

    async fn reload_from_store(&self) -> anyhow::Result<()> {
        let lease_key = self.redis.key("revocations:loading");
        let lease = self
            .redis
            .take_lease("taking the revocations' loading lease", lease_key.clone(), LOADING_LEASE)
            .await?;
        let ids = self.store.live_revoked_token_ids().await?;
        let versions = self.store.token_versions().await?;
        let mut invocation = self.reload.prepare_invoke();
        invocation.key(self.marker()).key(lease_key).arg(lease).arg(self.redis.prefix()).arg(ids.len());
        for (id, expires_at) in &ids {
            invocation.arg(id).arg(expires_at.timestamp_millis());
        }
        for (user_id, version) in &versions {
            invocation.arg(user_id).arg(version);
        }
        self.redis
            .call(
                "reloading revocations",
                |mut c| async move { invocation.invoke_async::<i64>(&mut c).await },
            )
            .await
            .map(drop)
    }

    /// Remembers a failed write so it is made good once Redis answers again.
    fn written<T>(&self, result: anyhow::Result<T>) -> anyhow::Result<T> {
        if result.is_err() {
            self.missed.store(true, Ordering::Release);
        }
        result
    }
}

#[async_trait]
impl Revocations for RedisRevocations {
    async fn revoke(&self, token_id: &str, expires_at: DateTime<Utc>) -> anyhow::Result<()> {
        if expires_at <= Utc::now() {
            return Ok(());
        }
        let key = self.redis.key(&format!("revoked:{token_id}"));
        let result = self
            .redis
            .call("revoking a token", |mut c| async move {
                ::redis::cmd("SET")
                    .arg(key)
                    .arg(1)
                    .arg("PXAT")
                    .arg(expires_at.timestamp_millis())
                    .query_async::<()>(&mut c)
                    .await
            })
            .await;
        self.written(result)
    }

    async fn any_revoked(&self, token_ids: &[&str]) -> anyhow::Result<bool> {
        let mut keys = vec![self.marker()];
        keys.extend(token_ids.iter().map(|id| self.redis.key(&format!("revoked:{id}"))));
        Ok(self.loaded_query(&self.any_revoked, keys, &[]).await? > 0)
    }

    async fn set_user_version(&self, user_id: i64, version: i64) -> anyhow::Result<()> {
        let key = self.redis.key(&format!("token-version:{user_id}"));
        let result = self
            .redis
            .call("recording a token version", |mut c| async move {
                self.set_version.key(key).arg(version).invoke_async::<i64>(&mut c).await
            })
            .await;
        self.written(result).map(drop)
    }

    async fn user_version(&self, user_id: i64) -> anyhow::Result<i64> {
        let keys = vec![self.marker(), self.redis.key(&format!("token-version:{user_id}"))];
        self.loaded_query(&self.user_version, keys, &[]).await
    }

    async fn token_dead(&self, token_ids: &[&str], user_id: i64, version: i64) -> anyhow::Result<bool> {
        let mut keys = vec![self.marker(), self.redis.key(&format!("token-version:{user_id}"))];
        keys.extend(token_ids.iter().map(|id| self.redis.key(&format!("revoked:{id}"))));
        Ok(self.loaded_query(&self.token_dead, keys, &[version]).await? == 1)
    }
}
