//! The gate shared by every instance: one Redis hash per concert, one field per seat.
//!
//! Each field holds `version,status` (`R`, `L` or `A`) as of that seat-map version, and a
//! change is applied by a Lua script only when it is newer than what the field holds, so
//! news arriving out of order from several instances never turns a free seat "taken".
//! A `loaded` field says the hash was filled from the database; without it (first use, a
//! Redis restart or flush, an expiry) the next booking reloads it from the database.

use std::sync::{Arc, Mutex};

use ::redis::Script;
use async_trait::async_trait;

use super::SeatGate;
use crate::domain::booking::SeatRef;
use crate::domain::venue::SeatStatus;
use crate::shared_state::SharedState;
use crate::store::Store;

/// How long an unused concert's gate stays in Redis (it reloads from the database after).
const GATE_TTL_SECONDS: u64 = 24 * 3600;
/// How long one instance may take to load a concert before another may try.
const LOADING_LEASE: std::time::Duration = std::time::Duration::from_secs(10);

/// Applies `version,status` news to seat fields unless a field holds newer.
const APPLY: &str = r"
local function apply(key, version, field, status)
  local current = redis.call('HGET', key, field)
  if not current or tonumber(string.match(current, '^[^,]+')) < version then
    redis.call('HSET', key, field, version .. ',' .. status)
  end
end
";

/// ARGV: version, TTL, then field/status pairs.
const RECORD: &str = r"
local version = tonumber(ARGV[1])
for i = 3, #ARGV, 2 do apply(KEYS[1], version, ARGV[i], ARGV[i + 1]) end
if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return 1
";

/// KEYS: the gate, its loading lease. ARGV: lease token, version, TTL, then field/status
/// pairs. Applies only if the lease is still this loader's: a `forget` (or a flush) while
/// it read the database means its snapshot may predate a change, so it must not be kept.
const LOAD: &str = r"
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
local version = tonumber(ARGV[2])
for i = 4, #ARGV, 2 do apply(KEYS[1], version, ARGV[i], ARGV[i + 1]) end
redis.call('HSET', KEYS[1], 'loaded', '1')
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('DEL', KEYS[2])
return 1
";

/// Nil when the gate was never loaded; else the fields asked for.
const LOOKUP: &str = r"
if redis.call('HEXISTS', KEYS[1], 'loaded') == 0 then return false end
return redis.call('HMGET', KEYS[1], unpack(ARGV))
";

/// The seat gate in Redis, shared by every instance of a deployment.
pub struct RedisGate {
    redis: SharedState,
    store: Arc<dyn Store>,
    record: Script,
    load: Script,
    lookup: Script,
    /// Concerts (`None`: all) whose news could not reach Redis: forgotten there before
    /// anything else is asked, so a gate that missed a cancellation never refuses the seat.
    missed: Mutex<Vec<Option<i64>>>,
    /// One load at a time in this process, so a rush on a cold concert reads it once.
    loading: tokio::sync::Mutex<()>,
}

impl RedisGate {
    pub fn new(redis: SharedState, store: Arc<dyn Store>) -> Self {
        Self {
            redis,
            store,
            record: Script::new(&format!("{APPLY}{RECORD}")),
            load: Script::new(&format!("{APPLY}{LOAD}")),
            lookup: Script::new(LOOKUP),
            missed: Mutex::new(Vec::new()),
            loading: tokio::sync::Mutex::new(()),
        }
    }

    fn gate_key(&self, concert_id: i64) -> String {
        self.redis.key(&format!("gate:{concert_id}"))
    }

    fn lease_key(&self, concert_id: i64) -> String {
        self.redis.key(&format!("gate:{concert_id}:loading"))
    }

    /// `B12` for a seat of the seed's section (whose rows are single letters), else the
    /// seat's full name (`101:AA-12`).
    fn field(seat: SeatRef) -> String {
        if seat.section.is_seed() {
            format!("{}{}", seat.horizontal, seat.vertical)
        } else {
            seat.to_string()
        }
    }

    fn miss(&self, concert_id: Option<i64>) {
        if let Ok(mut missed) = self.missed.lock() {
            missed.push(concert_id);
        }
    }

    /// Forgets in Redis what news could not be recorded earlier. Also called in the
    /// background, so an instance that gets no bookings still makes it good.
    pub async fn catch_up(&self) -> anyhow::Result<()> {
        let pending: Vec<Option<i64>> = match self.missed.lock() {
            Ok(mut missed) if !missed.is_empty() => std::mem::take(&mut *missed),
            _ => return Ok(()),
        };
        for (i, concert_id) in pending.iter().enumerate() {
            if let Err(e) = self.delete(*concert_id).await {
                if let Ok(mut missed) = self.missed.lock() {
                    missed.extend_from_slice(&pending[i..]);
                }
                return Err(e);
            }
        }
        Ok(())
    }

    async fn delete(&self, concert_id: Option<i64>) -> anyhow::Result<()> {
        let keys = match concert_id {
            Some(id) => vec![self.gate_key(id), self.lease_key(id)],
            None => self.every_gate_key().await?,
        };
        if keys.is_empty() {
            return Ok(());
        }
        self.redis
            .call("forgetting seats", |mut c| async move {
                ::redis::cmd("DEL").arg(&keys).query_async::<i64>(&mut c).await
            })
            .await
            .map(drop)
    }

    async fn every_gate_key(&self) -> anyhow::Result<Vec<String>> {
        let pattern = self.redis.key("gate:*");
        let mut keys = Vec::new();
        let mut cursor = 0u64;
        loop {
            let pattern = pattern.clone();
            let (next, batch): (u64, Vec<String>) = self
                .redis
                .call("listing gates", |mut c| async move {
                    ::redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(pattern)
                        .arg("COUNT")
                        .arg(1000)
                        .query_async(&mut c)
                        .await
                })
                .await?;
            keys.extend(batch);
            if next == 0 {
                return Ok(keys);
            }
            cursor = next;
        }
    }

    /// The fields of `seats`, or `None` when the concert's gate is not loaded.
    async fn lookup(
        &self,
        concert_id: i64,
        seats: &[SeatRef],
    ) -> anyhow::Result<Option<Vec<Option<String>>>> {
        let key = self.gate_key(concert_id);
        let fields: Vec<String> = seats.iter().map(|s| Self::field(*s)).collect();
        self.redis
            .call("checking seats", |mut c| async move {
                self.lookup.key(key).arg(fields).invoke_async(&mut c).await
            })
            .await
    }

    /// Fills the concert's gate from the database; `false` if the concert does not exist
    /// or another loader or a `forget` got in the way (the database then decides).
    async fn load(&self, concert_id: i64) -> anyhow::Result<bool> {
        let lease = self
            .redis
            .take_lease("taking the gate's loading lease", self.lease_key(concert_id), LOADING_LEASE)
            .await?;
        let Some(map) = self.store.seat_map(concert_id).await? else { return Ok(false) };
        let mut invocation = self.load.prepare_invoke();
        invocation
            .key(self.gate_key(concert_id))
            .key(self.lease_key(concert_id))
            .arg(lease)
            .arg(map.version)
            .arg(GATE_TTL_SECONDS);
        // Standing places are booked by quantity, never by position: not kept.
        for section in map.sections.iter().filter(|s| !s.standing) {
            for row in &section.rows {
                for &(column, status) in &row.seats {
                    let vertical = column;
                    invocation
                        .arg(Self::field(SeatRef {
                            section: section.name,
                            horizontal: row.horizontal,
                            vertical,
                        }))
                        .arg(char::from(status.map_char()).to_string());
                }
            }
        }
        let loaded: i64 = self
            .redis
            .call("loading the gate", |mut c| async move { invocation.invoke_async(&mut c).await })
            .await?;
        Ok(loaded == 1)
    }
}

/// The status a field holds, if it says the seat is not bookable.
fn refusing(field: Option<&str>) -> Option<SeatStatus> {
    match field?.rsplit_once(',')?.1 {
        "R" => Some(SeatStatus::Reserved),
        "L" => Some(SeatStatus::Locked),
        _ => None,
    }
}

#[async_trait]
impl SeatGate for RedisGate {
    async fn refused(
        &self,
        concert_id: i64,
        seats: &[SeatRef],
    ) -> anyhow::Result<Vec<(SeatRef, SeatStatus)>> {
        if seats.is_empty() {
            return Ok(Vec::new());
        }
        self.catch_up().await?;
        let mut fields = self.lookup(concert_id, seats).await?;
        if fields.is_none() {
            let _loading = self.loading.lock().await;
            fields = self.lookup(concert_id, seats).await?;
            if fields.is_none() && self.load(concert_id).await? {
                fields = self.lookup(concert_id, seats).await?;
            }
        }
        let Some(fields) = fields else { return Ok(Vec::new()) };
        Ok(seats
            .iter()
            .zip(fields)
            .filter_map(|(seat, field)| refusing(field.as_deref()).map(|status| (*seat, status)))
            .collect())
    }

    async fn record(
        &self,
        concert_id: i64,
        version: i64,
        seats: &[(SeatRef, SeatStatus)],
    ) -> anyhow::Result<()> {
        let result = async {
            self.catch_up().await?;
            let mut invocation = self.record.prepare_invoke();
            invocation.key(self.gate_key(concert_id)).arg(version).arg(GATE_TTL_SECONDS);
            for &(seat, status) in seats {
                invocation.arg(Self::field(seat)).arg(char::from(status.map_char()).to_string());
            }
            self.redis
                .call("recording seats", |mut c| async move { invocation.invoke_async::<i64>(&mut c).await })
                .await
        }
        .await;
        if result.is_err() {
            self.miss(Some(concert_id));
        }
        result.map(drop)
    }

    async fn forget(&self, concert_id: Option<i64>) -> anyhow::Result<()> {
        self.miss(concert_id);
        self.catch_up().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::sections::RowLabel;

    #[test]
    fn only_reserved_and_locked_fields_refuse() {
        assert_eq!(refusing(Some("7,R")), Some(SeatStatus::Reserved));
        assert_eq!(refusing(Some("12,L")), Some(SeatStatus::Locked));
        assert_eq!(refusing(Some("13,A")), None);
        assert_eq!(refusing(None), None);
        assert_eq!(RedisGate::field(SeatRef::seed(RowLabel::parse("B").unwrap(), 12)), "B12");
    }
}
