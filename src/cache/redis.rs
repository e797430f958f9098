//! The catalog and seat-map caches in Redis, shared by every instance of a deployment.
//!
//! Invalidation uses versioned keys rather than messages: a write bumps a generation
//! counter in Redis, and an entry built under an older generation is never served again by
//! any instance. Nothing can be missed the way a pub/sub message can while an instance is
//! disconnected. A cache that cannot reach Redis answers "not cached": reads go to the
//! database and stay correct; a missed invalidation is made good (every entry dropped)
//! as soon as Redis answers again.
//!
//! A seat map is a hash (version, build ticket, layout) beside its body, a string of its
//! own so that a booking is patched into it with `SETRANGE` by the instance that made it
//! ([`super::seat_map`]), without moving the map over the wire.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use ::redis::Script;
use async_trait::async_trait;
use axum::body::Bytes;

use super::{CATALOG_TTL, Catalog, EncodedSeatMap, GAP_WAIT, Lookup, MAX_EARLY, SeatChange, SeatMapCache};
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

/// Milliseconds since the epoch, by Redis's clock (one clock for every instance).
const NOW_MS: &str = r"
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
";

/// KEYS: epoch, map, the concert's generation, rebuild lease, map body, early changes.
/// ARGV: lease ms, the version and build ticket of the caller's local copy, gap wait ms.
/// Serves the map when current, or while someone rebuilds it (stale while revalidate):
/// only `same` when the caller's copy is that very map, so the body crosses the wire once
/// per change and instance; else the caller rebuilds, holding the lease when nobody else
/// does. A map whose early changes waited longer than the gap wait is stale.
const SEAT_MAP_LOOKUP: &str = r"
local gap = redis.call('HGET', KEYS[2], 'gap')
if gap and now_ms() - tonumber(gap) > tonumber(ARGV[4]) then
  redis.call('INCR', KEYS[3])
  redis.call('DEL', KEYS[6])
  redis.call('HDEL', KEYS[2], 'gap')
end
local current = (redis.call('GET', KEYS[1]) or '0') .. ':' .. (redis.call('GET', KEYS[3]) or '0')
local map = redis.call('HMGET', KEYS[2], 'version', 'built', 'layout')
local rebuilding = redis.call('EXISTS', KEYS[4]) == 1
if map[1] and map[3] and (map[2] == current or rebuilding) then
  if map[1] == ARGV[2] and map[2] == ARGV[3] then return {'same'} end
  local body = redis.call('GET', KEYS[5])
  if body then return {'serve', map[1], body, map[2]} end
end
if not rebuilding then redis.call('SET', KEYS[4], '1', 'PX', ARGV[1]) end
return {'rebuild', current}
";

/// Most seat maps an instance keeps copies of.
const LOCAL_COPIES: usize = 1_000;

/// KEYS: map, lease, map body, early changes. ARGV: version, body, ticket, TTL, layout. An
/// older map never replaces a newer one. (Early changes are only ever left over from
/// before the map went stale, which a rebuild follows.)
const SEAT_MAP_PUT: &str = r"
if tonumber(redis.call('HGET', KEYS[1], 'version') or '-1') <= tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], 'version', ARGV[1], 'built', ARGV[3], 'layout', ARGV[5])
  redis.call('HDEL', KEYS[1], 'gap')
  redis.call('EXPIRE', KEYS[1], ARGV[4])
  redis.call('SET', KEYS[3], ARGV[2], 'EX', ARGV[4])
  redis.call('DEL', KEYS[4])
end
redis.call('DEL', KEYS[2])
return 1
";

/// KEYS: epoch, map, the concert's generation, map body, early changes. ARGV: the change's
/// from and to versions, the most early changes held, then row/column/status triples.
/// Patches the body in place (SETRANGE: no copy of the map) when it is current and at the
/// change's `from`, where the stored map's own layout (`MapLayout`'s text form) puts the
/// seats, then any early changes that follow on; a change that comes before one it was
/// made after waits as an early change (the lookup gives up on it after the gap wait); a
/// map that has the change already is left alone; any other is marked stale. Answers 1
/// patched or had, 2 early, 0 stale.
const SEAT_MAP_PATCH: &str = r"
local function stale()
  redis.call('INCR', KEYS[3])
  redis.call('DEL', KEYS[5])
  redis.call('HDEL', KEYS[2], 'gap')
  return 0
end
local current = (redis.call('GET', KEYS[1]) or '0') .. ':' .. (redis.call('GET', KEYS[3]) or '0')
local map = redis.call('HMGET', KEYS[2], 'version', 'built', 'layout')
if map[1] and tonumber(map[1]) >= tonumber(ARGV[2]) then return 1 end
if not (map[1] and map[3] and map[2] == current) or redis.call('EXISTS', KEYS[4]) == 0 then
  return stale()
end
local a, b, c = string.match(map[3], '^(%d+)|(%d+)|(%d+)|')
if not a then return stale() end
local head = #a + #b + #c + 3
local version_at, width = tonumber(a), tonumber(b)
local tail = string.sub(map[3], head + 1, head + tonumber(c))
local rows = {}
for row, at in string.gmatch(string.sub(map[3], head + tonumber(c) + 1), '(%u)(%d+)') do
  rows[row] = tonumber(at)
end
local cells = {}
for i = 4, #ARGV - 2, 3 do
  local start, column = rows[ARGV[i]], tonumber(ARGV[i + 1])
  if not start or not column or column < 1 or column > width then return stale() end
  cells[#cells + 1] = start + column - 1
  cells[#cells + 1] = ARGV[i + 2]
end
local version, from = tonumber(map[1]), tonumber(ARGV[1])
if from > version then
  if redis.call('HLEN', KEYS[5]) >= tonumber(ARGV[3]) then return stale() end
  redis.call('HSET', KEYS[5], ARGV[1], ARGV[2] .. ',' .. table.concat(cells, ','))
  redis.call('EXPIRE', KEYS[5], 60)
  if redis.call('HEXISTS', KEYS[2], 'gap') == 0 then redis.call('HSET', KEYS[2], 'gap', now_ms()) end
  return 2
end
if from < version then return stale() end
local function write(to, pairs)
  for i = 1, #pairs - 1, 2 do redis.call('SETRANGE', KEYS[4], pairs[i], pairs[i + 1]) end
  redis.call('SETRANGE', KEYS[4], version_at, to .. tail)
end
write(ARGV[2], cells)
version = ARGV[2]
local early = redis.call('HGET', KEYS[5], version)
while early do
  redis.call('HDEL', KEYS[5], version)
  local parts = {}
  for part in string.gmatch(early, '[^,]+') do parts[#parts + 1] = part end
  version = table.remove(parts, 1)
  write(version, parts)
  early = redis.call('HGET', KEYS[5], version)
end
redis.call('HSET', KEYS[2], 'version', version)
if redis.call('HLEN', KEYS[5]) == 0 then redis.call('HDEL', KEYS[2], 'gap') end
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
    patch: Script,
    invalidation: Invalidation,
    /// This instance's copy of each map it served, with the build ticket it had in Redis.
    copies: Mutex<HashMap<i64, LocalCopy>>,
}

impl RedisSeatMaps {
    pub fn new(redis: SharedState) -> Self {
        Self {
            redis,
            lookup: Script::new(&format!("{NOW_MS}{SEAT_MAP_LOOKUP}")),
            put: Script::new(SEAT_MAP_PUT),
            patch: Script::new(&format!("{NOW_MS}{SEAT_MAP_PATCH}")),
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

    fn body_key(&self, concert_id: i64) -> String {
        self.redis.key(&format!("seatmap:{concert_id}:body"))
    }

    fn early_key(&self, concert_id: i64) -> String {
        self.redis.key(&format!("seatmap:{concert_id}:early"))
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
        let keys = [
            self.epoch(),
            self.map_key(concert_id),
            self.generation(concert_id),
            self.lease(concert_id),
            self.body_key(concert_id),
            self.early_key(concert_id),
        ];
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
                    .arg(GAP_WAIT.as_millis() as u64)
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
                // No layout: a shared map is patched in Redis, not in this copy.
                let map = Arc::new(EncodedSeatMap::new(version, Bytes::from(body.clone()), None));
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
        let keys = [
            self.map_key(concert_id),
            self.lease(concert_id),
            self.body_key(concert_id),
            self.early_key(concert_id),
        ];
        let stored = self
            .redis
            .call("filling the seat-map cache", |mut c| async move {
                self.put
                    .key(&keys)
                    .arg(map.version)
                    .arg(map.body.as_ref())
                    .arg(unpack(ticket))
                    .arg(SEAT_MAP_TTL_SECONDS)
                    .arg(map.layout.as_ref().map(ToString::to_string).unwrap_or_default())
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

    async fn patch(&self, concert_id: i64, change: &SeatChange<'_>) {
        // Where the seats lie is the stored map's own business (its layout): any instance
        // can patch it, whether or not it has a copy.
        let keys = [
            self.epoch(),
            self.map_key(concert_id),
            self.generation(concert_id),
            self.body_key(concert_id),
            self.early_key(concert_id),
        ];
        let patched = self
            .redis
            .call("patching a seat map", |mut c| async move {
                let mut invocation = self.patch.key(&keys);
                invocation.arg(change.from).arg(change.to).arg(MAX_EARLY);
                for (seat, status) in change.seats {
                    invocation
                        .arg(seat.horizontal.to_string())
                        .arg(seat.vertical)
                        .arg(&[status.map_char()][..]);
                }
                invocation.invoke_async::<i64>(&mut c).await
            })
            .await;
        let outcome = match patched {
            Ok(1) => "patched",
            Ok(2) => "early",
            Ok(_) => "stale",
            Err(_) => return self.invalidate(concert_id).await,
        };
        metrics::counter!("seat_map_changes_total", "outcome" => outcome).increment(1);
    }

    async fn invalidate(&self, concert_id: i64) {
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
