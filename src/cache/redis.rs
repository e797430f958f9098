//! The catalog and seat-map caches in Redis, shared by every instance of a deployment.
//!
//! Invalidation uses versioned keys rather than messages: a write bumps a generation
//! counter in Redis, and an entry built under an older generation is never served again by
//! any instance. Nothing can be missed the way a pub/sub message can while an instance is
//! disconnected. A cache that cannot reach Redis answers "not cached": reads go to the
//! database and stay correct; a missed invalidation is made good (every entry dropped)
//! as soon as Redis answers again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use ::redis::Script;
use async_trait::async_trait;
use axum::body::Bytes;

use super::{CATALOG_TTL, Catalog, EncodedSeatMap, Lookup, SeatMapCache};
use crate::shared_state::SharedState;

/// How long an unread seat map stays in Redis.
const SEAT_MAP_TTL_SECONDS: u64 = 24 * 3600;
/// How long one reader may rebuild a seat map before another may try.
const REBUILD_LEASE_MS: u64 = 5_000;
/// A ticket that is never current: for rebuilds started while Redis did not answer.
const NO_TICKET: u64 = u64::MAX;

/// KEYS: generation. ARGV: entry key prefix, key.
const CATALOG_GET: &str = r"
local generation = redis.call('GET', KEYS[1]) or '0'
return redis.call('GET', ARGV[1] .. generation .. ':' .. ARGV[2])
";

/// KEYS: generation. ARGV: entry key prefix, key, value, TTL seconds.
const CATALOG_PUT: &str = r"
local generation = redis.call('GET', KEYS[1]) or '0'
redis.call('SET', ARGV[1] .. generation .. ':' .. ARGV[2], ARGV[3], 'EX', ARGV[4])
return 1
";

/// KEYS: epoch, map, the concert's generation, rebuild lease. ARGV: lease ms, then the
/// version and build ticket of the caller's local copy.
/// Serves the map when current, or while someone rebuilds it (stale while revalidate):
/// only `same` when the caller's copy is that very map, so the body crosses the wire once
/// per build and instance; else the caller rebuilds, holding the lease when nobody else does.
const SEAT_MAP_LOOKUP: &str = r"
local current = (redis.call('GET', KEYS[1]) or '0') .. ':' .. (redis.call('GET', KEYS[3]) or '0')
local map = redis.call('HMGET', KEYS[2], 'version', 'built')
local rebuilding = redis.call('EXISTS', KEYS[4]) == 1
if map[1] and (map[2] == current or rebuilding) then
  if map[1] == ARGV[2] and map[2] == ARGV[3] then return {'same'} end
  return {'serve', map[1], redis.call('HGET', KEYS[2], 'body'), map[2]}
end
if not rebuilding then redis.call('SET', KEYS[4], '1', 'PX', ARGV[1]) end
return {'rebuild', current}
";

/// Most seat maps an instance keeps copies of.
const LOCAL_COPIES: usize = 1_000;

/// KEYS: map, lease. ARGV: version, body, ticket, TTL. An older map never replaces a
/// newer one.
const SEAT_MAP_PUT: &str = r"
if tonumber(redis.call('HGET', KEYS[1], 'version') or '-1') <= tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], 'version', ARGV[1], 'body', ARGV[2], 'built', ARGV[3])
  redis.call('EXPIRE', KEYS[1], ARGV[4])
end
redis.call('DEL', KEYS[2])
return 1
";

/// Bumps a generation counter, remembering a failure to bump it again later.
struct Invalidation {
    missed: AtomicBool,
    /// A missed bump was made good since [`Invalidation::made_good`] was last asked.
    made_good: AtomicBool,
}

impl Invalidation {
    fn new() -> Self {
        Self { missed: AtomicBool::new(false), made_good: AtomicBool::new(false) }
    }

    async fn bump(&self, redis: &SharedState, key: String) -> anyhow::Result<()> {
        let bumped = redis
            .call("invalidating a cache", |mut c| async move {
                ::redis::cmd("INCR").arg(key).query_async::<i64>(&mut c).await
            })
            .await
            .map(drop);
        if let Err(e) = &bumped {
            self.missed.store(true, Ordering::Release);
            tracing::warn!(error = format!("{e:#}"), "cache invalidation missed; retried when Redis answers");
        }
        bumped
    }

    /// Bumps `key` if an earlier invalidation was missed.
    async fn catch_up(&self, redis: &SharedState, key: String) -> anyhow::Result<()> {
        if self.missed.swap(false, Ordering::AcqRel) {
            self.bump(redis, key).await?;
            self.made_good.store(true, Ordering::Release);
        }
        Ok(())
    }

    fn made_good(&self) -> bool {
        self.made_good.swap(false, Ordering::AcqRel)
    }
}

/// The catalog cache in Redis.
pub struct RedisCatalog {
    redis: SharedState,
    get: Script,
    put: Script,
    invalidation: Invalidation,
}

impl RedisCatalog {
    pub fn new(redis: SharedState) -> Self {
        Self {
            redis,
            get: Script::new(CATALOG_GET),
            put: Script::new(CATALOG_PUT),
            invalidation: Invalidation::new(),
        }
    }

    fn generation(&self) -> String {
        self.redis.key("catalog:generation")
    }

    /// Makes good an invalidation missed while Redis did not answer.
    pub async fn catch_up(&self) -> anyhow::Result<()> {
        self.invalidation.catch_up(&self.redis, self.generation()).await
    }
}

#[async_trait]
impl Catalog for RedisCatalog {
    async fn get(&self, key: &str) -> Option<Bytes> {
        self.catch_up().await.ok()?;
        let (generation, prefix) = (self.generation(), self.redis.key("catalog:"));
        let value: Option<Vec<u8>> = self
            .redis
            .call("reading the catalog cache", |mut c| async move {
                self.get.key(generation).arg(prefix).arg(key).invoke_async(&mut c).await
            })
            .await
            .inspect_err(|e| tracing::debug!(error = format!("{e:#}"), "catalog cache not read"))
            .ok()?;
        value.map(Bytes::from)
    }

    async fn put(&self, key: &str, value: Bytes) {
        if self.catch_up().await.is_err() {
            return;
        }
        let (generation, prefix) = (self.generation(), self.redis.key("catalog:"));
        let stored = self
            .redis
            .call("filling the catalog cache", |mut c| async move {
                self.put
                    .key(generation)
                    .arg(prefix)
                    .arg(key)
                    .arg(value.as_ref())
                    .arg(CATALOG_TTL.as_secs())
                    .invoke_async::<i64>(&mut c)
                    .await
            })
            .await;
        if let Err(e) = stored {
            tracing::debug!(error = format!("{e:#}"), "catalog cache not filled");
        }
    }

    async fn invalidate(&self) {
        let _ = self.invalidation.bump(&self.redis, self.generation()).await;
    }
}

/// A seat map as an instance keeps it: the build ticket it had in Redis, and the map.
type LocalCopy = (Vec<u8>, Arc<EncodedSeatMap>);

/// Seat maps in Redis: one encoded map per concert for every instance.
pub struct RedisSeatMaps {
    redis: SharedState,
    lookup: Script,
    put: Script,
    invalidation: Invalidation,
    /// This instance's copy of each map it served, with the build ticket it had in Redis.
    copies: Mutex<HashMap<i64, LocalCopy>>,
}

impl RedisSeatMaps {
    pub fn new(redis: SharedState) -> Self {
        Self {
            redis,
            lookup: Script::new(SEAT_MAP_LOOKUP),
            put: Script::new(SEAT_MAP_PUT),
            invalidation: Invalidation::new(),
            copies: Mutex::new(HashMap::new()),
        }
    }

    fn epoch(&self) -> String {
        self.redis.key("seatmap:epoch")
    }

    /// Makes good an invalidation missed while Redis did not answer (drops every map).
    pub async fn catch_up(&self) -> anyhow::Result<()> {
        self.invalidation.catch_up(&self.redis, self.epoch()).await
    }

    /// Whether a missed invalidation was made good since last asked: the news of the
    /// change may have gone out before it, so pages watching any map must look again.
    pub fn made_good(&self) -> bool {
        self.invalidation.made_good()
    }

    fn map_key(&self, concert_id: i64) -> String {
        self.redis.key(&format!("seatmap:{concert_id}"))
    }

    fn generation(&self, concert_id: i64) -> String {
        self.redis.key(&format!("seatmap:{concert_id}:generation"))
    }

    fn lease(&self, concert_id: i64) -> String {
        self.redis.key(&format!("seatmap:{concert_id}:rebuilding"))
    }

    async fn try_lookup(&self, concert_id: i64) -> anyhow::Result<Lookup> {
        // A missed invalidation of any map is made good by dropping them all.
        self.catch_up().await?;
        let keys =
            [self.epoch(), self.map_key(concert_id), self.generation(concert_id), self.lease(concert_id)];
        let copy = self.copies.lock().ok().and_then(|copies| copies.get(&concert_id).cloned());
        let (copy_version, copy_ticket) = match &copy {
            Some((ticket, map)) => (map.version.to_string(), ticket.clone()),
            None => (String::new(), Vec::new()),
        };
        let answer: Vec<Vec<u8>> = self
            .redis
            .call("reading the seat-map cache", |mut c| async move {
                self.lookup
                    .key(&keys)
                    .arg(REBUILD_LEASE_MS)
                    .arg(copy_version)
                    .arg(copy_ticket)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        match answer.as_slice() {
            [what] if what == b"same" => match copy {
                Some((_, map)) => Ok(Lookup::Serve(map)),
                None => anyhow::bail!("seat-map cache answered `same` for no copy"),
            },
            [what, version, body, ticket] if what == b"serve" => {
                let version = std::str::from_utf8(version)?.parse()?;
                let map = Arc::new(EncodedSeatMap { version, body: Bytes::from(body.clone()) });
                if let Ok(mut copies) = self.copies.lock() {
                    if copies.len() >= LOCAL_COPIES {
                        copies.clear();
                    }
                    copies.insert(concert_id, (ticket.clone(), map.clone()));
                }
                Ok(Lookup::Serve(map))
            }
            [what, current] if what == b"rebuild" => Ok(Lookup::Rebuild(pack(std::str::from_utf8(current)?))),
            _ => anyhow::bail!("unexpected seat-map cache answer"),
        }
    }
}

/// A ticket `epoch:generation` as one number (each part is far below 2^32).
fn pack(ticket: &str) -> u64 {
    let parse = |part: &str| part.parse::<u64>().ok().filter(|n| *n < 1 << 32);
    match ticket.split_once(':').and_then(|(e, g)| Some((parse(e)?, parse(g)?))) {
        Some((epoch, generation)) => (epoch << 32) | generation,
        None => NO_TICKET,
    }
}

fn unpack(ticket: u64) -> String {
    format!("{}:{}", ticket >> 32, ticket & 0xffff_ffff)
}

#[async_trait]
impl SeatMapCache for RedisSeatMaps {
    async fn lookup(&self, concert_id: i64) -> Lookup {
        self.try_lookup(concert_id).await.unwrap_or_else(|e| {
            tracing::debug!(error = format!("{e:#}"), "seat-map cache not read");
            Lookup::Rebuild(NO_TICKET)
        })
    }

    async fn put(&self, concert_id: i64, map: Arc<EncodedSeatMap>, ticket: u64) {
        let keys = [self.map_key(concert_id), self.lease(concert_id)];
        let stored = self
            .redis
            .call("filling the seat-map cache", |mut c| async move {
                self.put
                    .key(&keys)
                    .arg(map.version)
                    .arg(map.body.as_ref())
                    .arg(unpack(ticket))
                    .arg(SEAT_MAP_TTL_SECONDS)
                    .invoke_async::<i64>(&mut c)
                    .await
            })
            .await;
        if let Err(e) = stored {
            tracing::debug!(error = format!("{e:#}"), "seat-map cache not filled");
        }
    }

    async fn abandon(&self, concert_id: i64) {
        let lease = self.lease(concert_id);
        let _ = self
            .redis
            .call("releasing a seat-map rebuild", |mut c| async move {
                ::redis::cmd("DEL").arg(lease).query_async::<i64>(&mut c).await
            })
            .await;
    }

    async fn invalidate(&self, concert_id: i64, _version: Option<i64>) {
        // On failure it is remembered: the next answer from Redis bumps the epoch instead.
        let _ = self.invalidation.bump(&self.redis, self.generation(concert_id)).await;
    }

    async fn clear(&self) {
        let _ = self.invalidation.bump(&self.redis, self.epoch()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_round_trip_and_garbage_is_never_current() {
        assert_eq!(unpack(pack("3:17")), "3:17");
        assert_eq!(pack("0:0"), 0);
        assert_eq!(pack("x:1"), NO_TICKET);
        assert_ne!(unpack(NO_TICKET), "0:0");
    }
}
