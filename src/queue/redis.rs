//! The lines in Redis, shared by every instance: every step on a line is one Lua script,
//! so instances never see a half-made change.
//!
//! A room's keys (under the deployment's prefix):
//! - `queue:<id>:line`, a hash: `arrivals` (the last arrival number given) and `admitted`
//!   (fans let in: the first `admitted` of the order). It exists only once the line was
//!   loaded: without it (a flush, a Redis restart) every step answers
//!   [`LineError::Unloaded`] and writes nothing, so no join is lost while the line is
//!   rebuilt from the database.
//! - `queue:<id>:order`, a sorted set: fan → place (places are below 2^53, exact as scores).
//!   Pre-queue places are given only before sales open and arrivals only grow, so once
//!   fans are let in the order only grows at its end: those let in are its first `admitted`.
//! - `queue:<id>:joined`, a hash: fan → when they joined, in ms.
//! - `queue:<id>:ticks`, a sorted set, one member `<count>:<ms>` per tick scored by the
//!   count of fans let in after it: the tick that let in index `i` is the first scored
//!   above `i`.
//! - `queue:<id>:places`, a hash: fan → place, for fans whose score is not their place.
//!   Only a line loaded with fans let in out of place order has it (the service lets
//!   fans in from the front, so never; but the database may say otherwise): those let
//!   in then get scores below every place, -n .. -1 in the order they were let in, so
//!   that they are the first of the order, as [`super::MemoryLines`] has them.
//! - `queue:<id>:loading`, a loader's lease, and `queue:<id>:loading:{order,joined,ticks,
//!   places}`, what it has written so far; they expire with the lease.
//!
//! The keys have no expiry (a line lives until its room is forgotten) and must not be
//! evicted one without the others: Redis runs with `noeviction` (or a `volatile-*` policy).
//!
//! A line counts as settled (in order, with indices) once sales opened by the caller's
//! clock, or once anyone was given an arrival or let in: so an instance whose clock lags
//! never gives a pre-queue place, which would land inside the order, after the line moved.

use std::time::{Duration, Instant};

use ::redis::Script;
use anyhow::Context;
use async_trait::async_trait;

use super::{ARRIVALS, Counts, Joined, LineError, LineKey, Lines, Standing, loaded_order};
use crate::shared_state::SharedState;
use crate::store::EntryRecord;

/// How long a loader may go between two writes before another instance may take over.
const LOADING_LEASE: Duration = Duration::from_secs(10);
/// Longest a load waits for another instance's load of the same line.
const LOAD_WAIT: Duration = Duration::from_secs(20);
/// Fans (or ticks) a loader writes in one round trip.
const CHUNK: usize = 1000;

/// KEYS: line, order, joined, ticks, places. ARGV: now ms, sales open ms, ... The line's
/// state, or nil when it is not loaded; and where a fan stands: `{1}` not in the line,
/// else `{2, place, joined}`, then the index once settled, then when they were let in.
const LINE: &str = r"
local function line()
  local fields = redis.call('HMGET', KEYS[1], 'arrivals', 'admitted')
  if not fields[1] then return nil end
  local arrivals, admitted = tonumber(fields[1]), tonumber(fields[2])
  local open = tonumber(ARGV[1]) >= tonumber(ARGV[2])
  return {arrivals = arrivals, admitted = admitted, settled = open or arrivals > 0 or admitted > 0}
end
local function standing(state, user)
  local place = redis.call('ZSCORE', KEYS[2], user)
  if not place then return {1} end
  place = tonumber(place)
  if place < 0 then place = tonumber(redis.call('HGET', KEYS[5], user)) end
  local answer = {2, place, tonumber(redis.call('HGET', KEYS[3], user))}
  if not state.settled then return answer end
  local index = redis.call('ZRANK', KEYS[2], user)
  answer[4] = index
  if index < state.admitted then
    local tick = redis.call('ZRANGEBYSCORE', KEYS[4], '(' .. index, '+inf', 'LIMIT', 0, 1)[1]
    if tick then answer[5] = tonumber(string.match(tick, ':(.*)$')) end
  end
  return answer
end
";

/// ARGV: now, sales open, fan, pre-queue place, `ARRIVALS`. `{0}` when not loaded, else
/// the fan's standing, code 3 when just placed.
const JOIN: &str = r"
local state = line()
if not state then return {0} end
local known = standing(state, ARGV[3])
if known[1] == 2 then return known end
local place = ARGV[4]
if state.settled then
  local n = redis.call('HINCRBY', KEYS[1], 'arrivals', 1)
  place = string.format('%.0f', tonumber(ARGV[5]) + n)
end
redis.call('ZADD', KEYS[2], place, ARGV[3])
redis.call('HSET', KEYS[3], ARGV[3], ARGV[1])
local placed = standing(state, ARGV[3])
placed[1] = 3
return placed
";

/// ARGV: now, sales open, fan. `{0}` when not loaded, else the fan's standing.
const STANDING: &str = r"
local state = line()
if not state then return {0} end
return standing(state, ARGV[3])
";

/// ARGV: now, sales open, how many. Nil when not loaded, else the fans let in.
const ADMIT: &str = r"
local state = line()
if not state then return false end
local n = tonumber(ARGV[3])
if not state.settled or n == 0 then return {} end
local fans = redis.call('ZRANGE', KEYS[2], state.admitted, state.admitted + n - 1)
if #fans > 0 then
  local count = redis.call('HINCRBY', KEYS[1], 'admitted', #fans)
  redis.call('ZADD', KEYS[4], count, count .. ':' .. ARGV[1])
end
return fans
";

/// KEYS: line, order. Nil when not loaded, else `{joined, admitted}`.
const COUNTS: &str = r"
local admitted = redis.call('HGET', KEYS[1], 'admitted')
if not admitted then return false end
return {redis.call('ZCARD', KEYS[2]), tonumber(admitted)}
";

/// KEYS: line, lease, then the loading keys. ARGV: token, lease ms.
/// `loaded` when someone loaded the line already, `busy` while someone else loads it,
/// else `mine`: the lease is the caller's and the loading keys are empty.
const TAKE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 'loaded' end
if not redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return 'busy' end
redis.call('DEL', KEYS[3], KEYS[4], KEYS[5], KEYS[6])
return 'mine'
";

/// KEYS: lease, a loading key. ARGV: token, lease ms, `ZADD` or `HSET`, its pairs. Writes
/// only while the lease is the caller's (a `forget`, or a loader that took over a lapsed
/// lease, cancels it), and extends it. 0 when it was not the caller's.
const CHUNK_WRITE: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call(ARGV[3], KEYS[2], unpack(ARGV, 4))
redis.call('PEXPIRE', KEYS[2], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
";

/// KEYS: line, order, joined, ticks, places, lease, then the loading keys (in that order).
/// ARGV: token, arrivals, admitted. Puts what the loader wrote in place and marks the
/// line loaded, if the lease is still the caller's. 0 when it was not.
const INSTALL: &str = r"
if redis.call('GET', KEYS[6]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[6])
for i = 2, 5 do
  if redis.call('EXISTS', KEYS[i + 5]) == 1 then
    redis.call('RENAME', KEYS[i + 5], KEYS[i])
    redis.call('PERSIST', KEYS[i])
  else
    redis.call('DEL', KEYS[i])
  end
end
redis.call('HSET', KEYS[1], 'arrivals', ARGV[2], 'admitted', ARGV[3])
return 1
";

/// Every room's line, in the shared Redis.
pub struct RedisLines {
    redis: SharedState,
    join: Script,
    standing: Script,
    admit: Script,
    counts: Script,
    take: Script,
    chunk: Script,
    install: Script,
}

/// A room's keys: the line's five, then the lease and the loading keys.
struct RoomKeys([String; 10]);

impl RoomKeys {
    fn line(&self) -> &[String] {
        &self.0[..5]
    }

    fn lease(&self) -> &String {
        &self.0[5]
    }

    fn loading(&self) -> &[String] {
        &self.0[6..]
    }
}

/// What a loader found when it asked for the lease.
enum Taken {
    Loaded,
    Busy,
    Mine(String),
}

impl RedisLines {
    pub fn new(redis: SharedState) -> Self {
        Self {
            redis,
            join: Script::new(&format!("{LINE}{JOIN}")),
            standing: Script::new(&format!("{LINE}{STANDING}")),
            admit: Script::new(&format!("{LINE}{ADMIT}")),
            counts: Script::new(COUNTS),
            take: Script::new(TAKE),
            chunk: Script::new(CHUNK_WRITE),
            install: Script::new(INSTALL),
        }
    }

    fn keys(&self, concert_id: i64) -> RoomKeys {
        let key = |name: &str| self.redis.key(&format!("queue:{concert_id}:{name}"));
        RoomKeys([
            key("line"),
            key("order"),
            key("joined"),
            key("ticks"),
            key("places"),
            key("loading"),
            key("loading:order"),
            key("loading:joined"),
            key("loading:ticks"),
            key("loading:places"),
        ])
    }

    async fn take(&self, keys: &RoomKeys) -> anyhow::Result<Taken> {
        let token = uuid::Uuid::new_v4().to_string();
        let (line, lease, loading, arg) = (&keys.line()[0], keys.lease(), keys.loading(), &token);
        let taken: String = self
            .redis
            .call("taking a line's loading lease", |mut c| async move {
                self.take
                    .key(line)
                    .key(lease)
                    .key(loading)
                    .arg(arg)
                    .arg(LOADING_LEASE.as_millis() as u64)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        Ok(match taken.as_str() {
            "loaded" => Taken::Loaded,
            "busy" => Taken::Busy,
            _ => Taken::Mine(token),
        })
    }

    /// Writes the line (in [`loaded_order`], its first `admitted` let in) under the lease
    /// `token`; false when the lease was lost.
    async fn write(
        &self,
        keys: &RoomKeys,
        token: &str,
        entries: &[EntryRecord],
        ticks: &[(u64, i64)],
        admitted: u64,
    ) -> anyhow::Result<bool> {
        // Those let in are the first of the order. They hold the lowest places when the
        // line grew as the service grows it (pre-queue places only before sales open,
        // nobody let in before, arrivals at the end): then the places are the scores. If
        // the database says otherwise, those let in are scored below every place.
        let in_place = entries.windows(2).all(|pair| pair[0].place <= pair[1].place);
        let lease_ms = LOADING_LEASE.as_millis() as u64;
        let invocation = |target: &String, command: &str| {
            let mut invocation = self.chunk.key(keys.lease());
            invocation.key(target).arg(token).arg(lease_ms).arg(command);
            invocation
        };
        let mut rounds: Vec<Vec<::redis::ScriptInvocation<'_>>> = Vec::new();
        let mut loaded = 0;
        for chunk in entries.chunks(CHUNK) {
            let (mut order, mut joined) =
                (invocation(&keys.loading()[0], "ZADD"), invocation(&keys.loading()[1], "HSET"));
            let mut places = invocation(&keys.loading()[3], "HSET");
            let mut out_of_place = false;
            for (entry, i) in chunk.iter().zip(loaded as u64..) {
                anyhow::ensure!(entry.place >= 0, "a negative place");
                if in_place || i >= admitted {
                    order.arg(entry.place).arg(entry.user_id);
                } else {
                    order.arg(i as i64 - admitted as i64).arg(entry.user_id);
                    places.arg(entry.user_id).arg(entry.place);
                    out_of_place = true;
                }
                joined.arg(entry.user_id).arg(entry.joined_at.timestamp_millis());
            }
            loaded += chunk.len();
            rounds.push(if out_of_place { vec![order, joined, places] } else { vec![order, joined] });
        }
        for chunk in ticks.chunks(CHUNK) {
            let mut tick = invocation(&keys.loading()[2], "ZADD");
            for (count, at) in chunk {
                tick.arg(count).arg(format!("{count}:{at}"));
            }
            rounds.push(vec![tick]);
        }
        for round in rounds {
            // Pipelined invocations are not loaded on demand: the load goes first.
            let mut pipe = ::redis::pipe();
            pipe.load_script(&self.chunk).ignore();
            for invocation in &round {
                pipe.invoke_script(invocation);
            }
            let written: Vec<i64> = self
                .redis
                .call("loading a line", |mut c| async move { pipe.query_async(&mut c).await })
                .await?;
            if written.contains(&0) {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// A standing from a script's answer: `None` when the fan is not in the line.
fn decode(answer: &[i64]) -> Result<Option<Standing>, LineError> {
    match *answer {
        [0] => Err(LineError::Unloaded),
        [1] => Ok(None),
        [_, place, joined_at_ms, ref rest @ ..] => Ok(Some(Standing {
            place: u64::try_from(place).context("a negative place")?,
            joined_at_ms,
            index: rest.first().map(|i| *i as u64),
            admitted_at_ms: rest.get(1).copied(),
        })),
        _ => Err(anyhow::anyhow!("unexpected answer from the line: {answer:?}").into()),
    }
}

#[async_trait]
impl Lines for RedisLines {
    async fn join(
        &self,
        key: LineKey,
        user_id: i64,
        prequeue_place: u64,
        now_ms: i64,
    ) -> Result<Joined, LineError> {
        let keys = self.keys(key.concert_id);
        let answer: Vec<i64> = self
            .redis
            .call("joining a line", |mut c| async move {
                self.join
                    .key(keys.line())
                    .arg(now_ms)
                    .arg(key.sales_open_ms)
                    .arg(user_id)
                    .arg(prequeue_place)
                    .arg(ARRIVALS)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        let new = answer.first() == Some(&3);
        let standing = decode(&answer)?.context("a fan just placed is not in the line")?;
        Ok(Joined { standing, new })
    }

    async fn standing(&self, key: LineKey, user_id: i64, now_ms: i64) -> Result<Option<Standing>, LineError> {
        let keys = self.keys(key.concert_id);
        let answer: Vec<i64> = self
            .redis
            .call("reading a line", |mut c| async move {
                self.standing
                    .key(keys.line())
                    .arg(now_ms)
                    .arg(key.sales_open_ms)
                    .arg(user_id)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        decode(&answer)
    }

    async fn admit(&self, key: LineKey, n: u64, now_ms: i64) -> Result<Vec<i64>, LineError> {
        let keys = self.keys(key.concert_id);
        // Past the most fans a line can hold, and exact in Lua.
        let n = n.min(ARRIVALS);
        let admitted: Option<Vec<i64>> = self
            .redis
            .call("letting fans in", |mut c| async move {
                self.admit
                    .key(keys.line())
                    .arg(now_ms)
                    .arg(key.sales_open_ms)
                    .arg(n)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        admitted.ok_or(LineError::Unloaded)
    }

    async fn counts(&self, key: LineKey) -> Result<Counts, LineError> {
        let keys = self.keys(key.concert_id);
        let counts: Option<(u64, u64)> = self
            .redis
            .call("counting a line", |mut c| async move {
                self.counts.key(&keys.line()[..2]).invoke_async(&mut c).await
            })
            .await?;
        let (joined, admitted) = counts.ok_or(LineError::Unloaded)?;
        Ok(Counts { joined, admitted })
    }

    async fn load(&self, key: LineKey, entries: Vec<EntryRecord>) -> anyhow::Result<()> {
        let keys = self.keys(key.concert_id);
        let deadline = Instant::now() + LOAD_WAIT;
        // One instance loads; the others wait for its line (a line loaded meanwhile is as
        // good as theirs), or take over when its lease lapses.
        let token = loop {
            match self.take(&keys).await? {
                Taken::Loaded => return Ok(()),
                Taken::Mine(token) => break token,
                Taken::Busy if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await
                }
                Taken::Busy => anyhow::bail!("another instance is still loading the line"),
            }
        };
        let (entries, ticks, arrivals) = loaded_order(entries);
        let admitted = ticks.last().map_or(0, |(count, _)| *count);
        if !self.write(&keys, &token, &entries, &ticks, admitted).await? {
            // Forgotten meanwhile, or taken over by another loader: the next ask finds
            // their line, or reloads.
            tracing::debug!(concert_id = key.concert_id, "line load cancelled");
            return Ok(());
        }
        let installed: i64 = self
            .redis
            .call("putting a loaded line in place", |mut c| async move {
                self.install
                    .key(keys.line())
                    .key(keys.lease())
                    .key(keys.loading())
                    .arg(&token)
                    .arg(arrivals)
                    .arg(admitted)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        if installed == 0 {
            tracing::debug!(concert_id = key.concert_id, "line load cancelled");
        }
        Ok(())
    }

    async fn forget(&self, concert_id: i64) -> anyhow::Result<()> {
        let RoomKeys(keys) = self.keys(concert_id);
        self.redis
            .call("forgetting a line", |mut c| async move {
                ::redis::cmd("DEL").arg(&keys).query_async::<i64>(&mut c).await
            })
            .await
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::queue::contract::{self, OPEN, at, key};

    /// The test Redis; `None` (and a note) only outside `scripts/test`.
    fn redis_url() -> Option<String> {
        match std::env::var("TICKITECKING_TEST_REDIS_URL") {
            Ok(url) if !url.is_empty() => Some(url),
            _ if std::env::var_os("TEST_RUN_DIR").is_some() => {
                panic!("scripts/test runs the Redis tests: TICKITECKING_TEST_REDIS_URL must be set")
            }
            _ => {
                eprintln!("NOTE: Redis test not run: set TICKITECKING_TEST_REDIS_URL or use scripts/test");
                None
            }
        }
    }

    /// A prefix of the test's own in the test Redis, its keys deleted when dropped.
    struct Room {
        url: String,
        prefix: String,
        redis: SharedState,
    }

    impl Room {
        async fn new() -> Option<Self> {
            let url = redis_url()?;
            let prefix = format!("test-lines-{}:", uuid::Uuid::new_v4());
            let redis = SharedState::connect(&url, &prefix).await.unwrap();
            Some(Self { url, prefix, redis })
        }

        /// Another instance's handle on the same keys.
        async fn lines(&self) -> RedisLines {
            RedisLines::new(SharedState::connect(&self.url, &self.prefix).await.unwrap())
        }

        /// Deletes every key of the test, as a flush would.
        async fn flush(&self) {
            let pattern = format!("{}*", self.prefix);
            let keys: Vec<String> = self
                .redis
                .call("listing", |mut c| async move {
                    ::redis::cmd("KEYS").arg(pattern).query_async(&mut c).await
                })
                .await
                .unwrap();
            if !keys.is_empty() {
                self.redis
                    .call("flushing", |mut c| async move {
                        ::redis::cmd("DEL").arg(keys).query_async::<i64>(&mut c).await
                    })
                    .await
                    .unwrap();
            }
        }
    }

    impl Drop for Room {
        fn drop(&mut self) {
            if let Ok(client) = ::redis::Client::open(self.url.as_str())
                && let Ok(mut c) = client.get_connection()
            {
                let keys: Vec<String> =
                    ::redis::cmd("KEYS").arg(format!("{}*", self.prefix)).query(&mut c).unwrap_or_default();
                if !keys.is_empty() {
                    let _: Result<i64, _> = ::redis::cmd("DEL").arg(keys).query(&mut c);
                }
            }
        }
    }

    #[tokio::test]
    async fn the_prequeue_is_ordered_by_place_then_arrivals_follow() {
        let Some(room) = Room::new().await else { return };
        contract::the_prequeue_is_ordered_by_place_then_arrivals_follow(&room.lines().await).await;
    }

    #[tokio::test]
    async fn a_loaded_line_keeps_who_was_let_in_and_the_next_arrival() {
        let Some(room) = Room::new().await else { return };
        contract::a_loaded_line_keeps_who_was_let_in_and_the_next_arrival(&room.lines().await).await;
    }

    #[tokio::test]
    async fn two_instances_see_one_line() {
        let Some(room) = Room::new().await else { return };
        let (a, b) = (room.lines().await, room.lines().await);
        a.load(key(), Vec::new()).await.unwrap();
        b.load(key(), Vec::new()).await.unwrap();
        a.join(key(), 1, 500, OPEN - 1).await.unwrap();
        b.join(key(), 2, 400, OPEN - 1).await.unwrap();
        assert!(!b.join(key(), 1, 1, OPEN - 1).await.unwrap().new);
        let late = a.join(key(), 3, 1, OPEN + 1).await.unwrap();
        assert_eq!(late.standing.place, ARRIVALS + 1);
        assert_eq!(b.join(key(), 4, 1, OPEN + 2).await.unwrap().standing.place, ARRIVALS + 2);
        for (user, index) in [(2, 0), (1, 1), (3, 2), (4, 3)] {
            let on_a = a.standing(key(), user, OPEN + 3).await.unwrap().unwrap();
            assert_eq!(on_a.index, Some(index));
            assert_eq!(Some(on_a), b.standing(key(), user, OPEN + 3).await.unwrap());
        }
        assert_eq!(b.admit(key(), 3, OPEN + 10).await.unwrap(), vec![2, 1, 3]);
        assert_eq!(a.standing(key(), 3, OPEN + 11).await.unwrap().unwrap().admitted_at_ms, Some(OPEN + 10));
        assert_eq!(a.admit(key(), 3, OPEN + 20).await.unwrap(), vec![4]);
        assert_eq!(a.counts(key()).await.unwrap(), b.counts(key()).await.unwrap());
        a.forget(key().concert_id).await.unwrap();
        assert!(matches!(b.counts(key()).await, Err(LineError::Unloaded)));
    }

    #[tokio::test]
    async fn a_flushed_line_is_refused_until_loaded_again_from_the_database() {
        let Some(room) = Room::new().await else { return };
        let lines = room.lines().await;
        lines.load(key(), Vec::new()).await.unwrap();
        for user in 1..=5 {
            lines.join(key(), user, 1000 - user as u64, OPEN - 10).await.unwrap();
        }
        for user in 6..=9 {
            lines.join(key(), user, 0, OPEN + user).await.unwrap();
        }
        lines.admit(key(), 2, OPEN + 100).await.unwrap();
        lines.admit(key(), 3, OPEN + 200).await.unwrap();
        let mut before = Vec::new();
        for user in 1..=9 {
            before.push(lines.standing(key(), user, OPEN + 300).await.unwrap().unwrap());
        }
        // What the database keeps of each fan.
        let entries: Vec<EntryRecord> = (1..=9)
            .zip(&before)
            .map(|(user_id, s)| EntryRecord {
                user_id,
                place: s.place as i64,
                joined_at: at(s.joined_at_ms),
                admitted_at: s.admitted_at_ms.map(at),
            })
            .collect();

        room.flush().await;
        assert!(matches!(lines.join(key(), 10, 1, OPEN + 400).await, Err(LineError::Unloaded)));
        assert!(matches!(lines.standing(key(), 1, OPEN + 400).await, Err(LineError::Unloaded)));
        assert!(matches!(lines.admit(key(), 1, OPEN + 400).await, Err(LineError::Unloaded)));
        assert!(matches!(lines.counts(key()).await, Err(LineError::Unloaded)));

        lines.load(key(), entries).await.unwrap();
        for (user, s) in (1..=9).zip(&before) {
            assert_eq!(lines.standing(key(), user, OPEN + 400).await.unwrap().as_ref(), Some(s));
        }
        assert_eq!(lines.counts(key()).await.unwrap(), Counts { joined: 9, admitted: 5 });
        assert_eq!(lines.join(key(), 10, 1, OPEN + 500).await.unwrap().standing.place, ARRIVALS + 5);
        assert_eq!(lines.admit(key(), 2, OPEN + 600).await.unwrap(), vec![6, 7]);
    }

    #[tokio::test]
    async fn concurrent_joins_of_one_fan_give_one_place() {
        let Some(room) = Room::new().await else { return };
        let lines = Arc::new(room.lines().await);
        lines.load(key(), Vec::new()).await.unwrap();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..20 {
            let lines = lines.clone();
            tasks.spawn(async move { lines.join(key(), 7, 1, OPEN + 1).await.unwrap() });
        }
        let joins = tasks.join_all().await;
        assert_eq!(joins.iter().filter(|j| j.new).count(), 1);
        assert!(joins.iter().all(|j| j.standing.place == ARRIVALS + 1 && j.standing.index == Some(0)));
        assert_eq!(lines.counts(key()).await.unwrap(), Counts { joined: 1, admitted: 0 });
    }

    #[tokio::test]
    async fn arrivals_after_opening_are_numbered_in_order() {
        let Some(room) = Room::new().await else { return };
        let lines = room.lines().await;
        lines.load(key(), Vec::new()).await.unwrap();
        for user in 1..=1000 {
            let joined = lines.join(key(), user, 1, OPEN + user).await.unwrap();
            assert_eq!(joined.standing.place, ARRIVALS + user as u64);
            assert_eq!(joined.standing.index, Some(user as u64 - 1));
        }
        assert_eq!(lines.admit(key(), 1000, OPEN + 2000).await.unwrap(), (1..=1000).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn instances_loading_at_once_build_one_line() {
        let Some(room) = Room::new().await else { return };
        // More fans than one chunk, some let in.
        let entries: Vec<EntryRecord> = (1..=2500)
            .map(|user_id| EntryRecord {
                user_id,
                place: (ARRIVALS as i64) + user_id,
                joined_at: at(OPEN + user_id),
                admitted_at: (user_id <= 1200).then(|| at(OPEN + 5000 + user_id / 500)),
            })
            .collect();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..4 {
            let (lines, entries) = (room.lines().await, entries.clone());
            tasks.spawn(async move { lines.load(key(), entries).await.unwrap() });
        }
        tasks.join_all().await;
        let lines = room.lines().await;
        assert_eq!(lines.counts(key()).await.unwrap(), Counts { joined: 2500, admitted: 1200 });
        let s = lines.standing(key(), 999, OPEN + 9000).await.unwrap().unwrap();
        assert_eq!((s.index, s.admitted_at_ms, s.joined_at_ms), (Some(998), Some(OPEN + 5001), OPEN + 999));
        assert_eq!(lines.standing(key(), 2500, OPEN + 9000).await.unwrap().unwrap().index, Some(2499));
        assert_eq!(lines.join(key(), 3000, 1, OPEN + 9000).await.unwrap().standing.place, ARRIVALS + 2501);
        assert_eq!(lines.admit(key(), 2, OPEN + 9100).await.unwrap(), vec![1201, 1202]);
    }
}
