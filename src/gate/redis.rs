//! The gate shared by every instance: one Redis hash per concert, one field per seat.
//!
//! Each field holds `version,status` (`R`, `L` or `A`) as of that seat-map version, and a
//! change is applied by a Lua script only when it is newer than what the field holds, so
//! news arriving out of order from several instances never turns a free seat "taken".
//! A `loaded` field says the hash was filled from the database; without it (first use, a
//! Redis restart or flush, an expiry) the next booking reloads it from the database.
//!
//! A standing section's places are fields too (`Floor:#12`), and the hash keeps, per
//! section, its places (`places:Floor`, from the load) and how many of its fields say taken
//! (`taken:Floor`, moved by the same script that changes a field, so it always agrees with
//! them): an order for more places than are surely left is refused without the database.

use std::sync::{Arc, Mutex};

use ::redis::Script;
use async_trait::async_trait;

use super::SeatGate;
use crate::domain::booking::{SeatRef, StandingRef};
use crate::domain::sections::SectionName;
use crate::domain::venue::SeatStatus;
use crate::shared_state::SharedState;
use crate::store::Store;

/// How long an unused concert's gate stays in Redis (it reloads from the database after).
const GATE_TTL_SECONDS: u64 = 24 * 3600;
/// How long one instance may take to load a concert before another may try.
const LOADING_LEASE: std::time::Duration = std::time::Duration::from_secs(10);

/// Applies `version,status` news to seat fields unless a field holds newer; a standing
/// place's field (`<section>:#<n>`) taken or freed moves its section's `taken:` count.
const APPLY: &str = r"
local function apply(key, version, field, status)
  local current = redis.call('HGET', key, field)
  if not current or tonumber(string.match(current, '^[^,]+')) < version then
    redis.call('HSET', key, field, version .. ',' .. status)
    local section = string.match(field, '^(.*):#%d+$')
    if section then
      local was = current and string.match(current, ',(%a)$') or 'A'
      local delta = (status ~= 'A' and 1 or 0) - (was ~= 'A' and 1 or 0)
      if delta ~= 0 then redis.call('HINCRBY', key, 'taken:' .. section, delta) end
    end
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
/// pairs (a `places:<section>` field's value is its count of places). Applies only if the
/// lease is still this loader's: a `forget` (or a flush) while it read the database means
/// its snapshot may predate a change, so it must not be kept.
const LOAD: &str = r"
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
local version = tonumber(ARGV[2])
for i = 4, #ARGV, 2 do
  if string.sub(ARGV[i], 1, 7) == 'places:' then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  else
    apply(KEYS[1], version, ARGV[i], ARGV[i + 1])
  end
end
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
        self.lookup_fields(concert_id, seats.iter().map(|s| Self::field(*s)).collect()).await
    }

    /// `fields` of the concert's gate, or `None` when it is not loaded.
    async fn lookup_fields(
        &self,
        concert_id: i64,
        fields: Vec<String>,
    ) -> anyhow::Result<Option<Vec<Option<String>>>> {
        let key = self.gate_key(concert_id);
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
        for section in &map.sections {
            for row in &section.rows {
                if section.standing {
                    invocation.arg(format!("places:{}", section.name)).arg(row.seats.len());
                }
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
        "H" => Some(SeatStatus::Held),
        _ => None,
    }
}

/// The places left of each standing section asked for, from its `places:`/`taken:` fields:
/// `None` for a section the gate has no count of (the database decides).
fn places_left(fields: &[Option<String>]) -> Vec<Option<i64>> {
    fields
        .chunks(2)
        .map(|pair| {
            let places: i64 = pair.first()?.as_deref()?.parse().ok()?;
            let taken: i64 = pair.get(1).cloned().flatten().and_then(|t| t.parse().ok()).unwrap_or(0);
            Some((places - taken).max(0))
        })
        .collect()
}

#[async_trait]
impl SeatGate for RedisGate {
    async fn sold_out(
        &self,
        concert_id: i64,
        wanted: &[StandingRef],
    ) -> anyhow::Result<Vec<(SectionName, i64)>> {
        self.catch_up().await?;
        let fields: Vec<String> = wanted
            .iter()
            .flat_map(|w| [format!("places:{}", w.section), format!("taken:{}", w.section)])
            .collect();
        let mut counts = self.lookup_fields(concert_id, fields.clone()).await?;
        if counts.is_none() {
            let _loading = self.loading.lock().await;
            counts = self.lookup_fields(concert_id, fields.clone()).await?;
            if counts.is_none() && self.load(concert_id).await? {
                counts = self.lookup_fields(concert_id, fields).await?;
            }
        }
        let Some(counts) = counts else { return Ok(Vec::new()) };
        Ok(wanted
            .iter()
            .zip(places_left(&counts))
            .filter_map(|(w, left)| {
                left.filter(|left| *left < i64::from(w.quantity)).map(|left| (w.section, left))
            })
            .collect())
    }

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
    fn places_left_are_the_places_less_those_taken() {
        let text = |s: &str| Some(s.to_owned());
        assert_eq!(
            places_left(&[text("20"), text("18"), text("5"), None, None, text("3"), text("4"), text("9")]),
            [Some(2), Some(5), None, Some(0)]
        );
    }

    #[test]
    fn only_reserved_and_locked_fields_refuse() {
        assert_eq!(refusing(Some("7,R")), Some(SeatStatus::Reserved));
        assert_eq!(refusing(Some("12,L")), Some(SeatStatus::Locked));
        assert_eq!(refusing(Some("13,A")), None);
        assert_eq!(refusing(None), None);
        assert_eq!(RedisGate::field(SeatRef::seed(RowLabel::parse("B").unwrap(), 12)), "B12");
    }
}
