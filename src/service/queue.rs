//! The on-sale waiting room: fans join a concert's room, wait their turn in a fair order,
//! and are let in at the room's rate with a pass that booking asks for while the room is on.
//!
//! Who joined and who was let in is kept in the database ([`QueueStore`]); the line itself
//! (places and positions) lives in the process or in Redis ([`Lines`]) and is loaded from
//! the database whenever it is missing. Every instance runs [`run_forever`]: each second
//! it reads the rooms, and the one instance holding the ticker's lease lets fans in; each
//! instance then tells its own live streams the room's counts, one message per room and
//! tick, from which each stream works out its fan's position.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::distributions::{Alphanumeric, DistString};
use tokio::sync::{mpsc, oneshot, watch};

use super::{ServiceError, ensure_owner, not_found};
use crate::auth::Principal;
use crate::queue::{Counts, LineError, LineKey, Lines, PassKey, Standing, prequeue_place};
use crate::store::{
    ENDED_BY_OWNER, ENDED_BY_SELLING_OUT, EntryRecord, RoomChange, RoomRecord, Store, StoreError, Tick,
};

/// How often the rooms are read and the ticker ticks.
pub const TICK: Duration = Duration::from_secs(1);
/// How long the ticker's lease lasts without renewal: another instance takes over this
/// long after the ticking one died.
const LEASE: Duration = Duration::from_secs(5);
/// Places kept by one transaction at most.
const JOINS_PER_BATCH: usize = 2048;
/// The longest time one tick lets fans in for.
const MAX_PACED_MS: i64 = 5_000;
/// The ticker looks whether a room's concert sold out every this many ticks.
const SOLD_OUT_EVERY: u64 = 5;

/// A fan's state in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FanState {
    Waiting,
    Admitted,
    Expired,
    SoldOut,
}

impl FanState {
    pub fn as_str(self) -> &'static str {
        match self {
            FanState::Waiting => "WAITING",
            FanState::Admitted => "ADMITTED",
            FanState::Expired => "EXPIRED",
            FanState::SoldOut => "SOLD_OUT",
        }
    }
}

/// What a fan is told about their place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub state: FanState,
    /// 1: next in; `None` before sales open (the order is not settled) and once let in.
    pub position: Option<u64>,
    pub joined_at: DateTime<Utc>,
    pub estimated_wait_seconds: Option<u64>,
    /// The pass to book with, while it is valid and the room asks for one.
    pub pass: Option<String>,
    pub pass_expires_at: Option<DateTime<Utc>>,
}

/// A room's state as its owner sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomState {
    /// Before `opensAt`.
    Scheduled,
    /// Fans join; sales have not opened.
    Open,
    /// Sales opened: fans are let in at the rate.
    Admitting,
    Paused,
    Ended,
}

impl RoomState {
    pub fn as_str(self) -> &'static str {
        match self {
            RoomState::Scheduled => "SCHEDULED",
            RoomState::Open => "OPEN",
            RoomState::Admitting => "ADMITTING",
            RoomState::Paused => "PAUSED",
            RoomState::Ended => "ENDED",
        }
    }
}

/// A room with its counts, for its owner.
#[derive(Debug, Clone)]
pub struct RoomStats {
    pub room: RoomRecord,
    pub state: RoomState,
    pub counts: Counts,
}

impl RoomStats {
    pub fn waiting(&self) -> u64 {
        self.counts.joined.saturating_sub(self.counts.admitted)
    }
}

/// A room's counts as of a tick, for the live streams.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pulse {
    pub counts: Counts,
    pub at: DateTime<Utc>,
}

/// Who waits for a place to be kept.
type Kept = oneshot::Sender<Result<(), StoreError>>;
/// A place waiting to be kept, and who waits for it.
type JoinQueued = (i64, EntryRecord, Kept);

/// The waiting room's use cases.
pub struct Queue {
    store: Arc<dyn Store>,
    lines: Arc<dyn Lines>,
    passes: PassKey,
    /// Every live room, as the last tick read them.
    rooms: RwLock<Option<HashMap<i64, RoomRecord>>>,
    /// Each room's counts for its live streams.
    pulses: RwLock<HashMap<i64, watch::Sender<Option<Pulse>>>>,
    /// The writer of places ([`keep_forever`]).
    joins: mpsc::UnboundedSender<JoinQueued>,
    /// This instance, as the ticker's lease names it.
    holder: String,
    /// Set at shutdown: live streams end and no new one starts.
    closed: std::sync::atomic::AtomicBool,
    /// Fans this instance's ticker let in during the last minute, per room: `(when in
    /// ms, how many)`; read from the database when this instance took over the ticker.
    recent: std::sync::Mutex<HashMap<i64, VecDeque<(i64, u64)>>>,
}

/// A fan's live stream of their place: where they stood when it was last read.
pub struct Follower {
    concert_id: i64,
    user_id: i64,
    standing: Standing,
}

impl Queue {
    /// The room's use cases; starts the writer of places on the current runtime.
    pub fn new(store: Arc<dyn Store>, lines: Arc<dyn Lines>, passes: PassKey) -> Self {
        let (joins, queued) = mpsc::unbounded_channel();
        tokio::spawn(keep_forever(store.clone(), queued));
        let holder = uuid::Uuid::new_v4().to_string();
        Self {
            store,
            lines,
            passes,
            rooms: RwLock::new(None),
            pulses: RwLock::default(),
            joins,
            holder,
            closed: std::sync::atomic::AtomicBool::new(false),
            recent: std::sync::Mutex::default(),
        }
    }

    /// Ends every live stream (the service is stopping).
    pub fn close(&self) {
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
        self.pulses.write().expect("pulses lock").clear();
    }

    /// A live concert's room, from the rooms the last tick read (or the database before
    /// the first tick).
    async fn room(&self, concert_id: i64) -> Result<Option<RoomRecord>, ServiceError> {
        if let Some(Some(room)) = self.known_room(concert_id) {
            return Ok(Some(room));
        }
        // Before the first tick, or a concert put up since the last one.
        let room = self.store.room(concert_id).await?;
        if let Some(room) = &room {
            self.remember(room.clone());
        }
        Ok(room)
    }

    /// A concert's room as the last tick read the rooms (`Some(None)`: it had none),
    /// `None` before the first tick.
    fn known_room(&self, concert_id: i64) -> Option<Option<RoomRecord>> {
        let rooms = self.rooms.read().expect("rooms lock");
        rooms.as_ref().map(|rooms| rooms.get(&concert_id).cloned())
    }

    fn remember(&self, room: RoomRecord) {
        if let Some(rooms) = self.rooms.write().expect("rooms lock").as_mut() {
            rooms.insert(room.concert_id, room);
        }
    }

    /// A room that exists, else 404.
    async fn existing_room(&self, concert_id: i64) -> Result<RoomRecord, ServiceError> {
        self.room(concert_id).await?.ok_or(ServiceError::NotFound("waiting room"))
    }

    /// Runs `call` on the room's line, loading it from the database first if it is not
    /// loaded (a start, a flushed Redis).
    async fn on_line<T, F, Fut>(&self, room: &RoomRecord, call: F) -> Result<T, ServiceError>
    where
        F: Fn(LineKey) -> Fut,
        Fut: std::future::Future<Output = Result<T, LineError>>,
    {
        let key = line_key(room);
        match call(key).await {
            Err(LineError::Unloaded) => {
                let entries = self.store.entries(room.concert_id).await?;
                self.lines.load(key, entries).await?;
                call(key).await.map_err(line_error)
            }
            other => other.map_err(line_error),
        }
    }

    /// Puts the caller in the concert's room (once: joining again answers the same place).
    /// `true` with a place that is new.
    pub async fn join(&self, caller: &Principal, concert_id: i64) -> Result<(Place, bool), ServiceError> {
        let room = self.existing_room(concert_id).await?;
        let now = Utc::now();
        if now < room.settings.opens_at {
            return Err(ServiceError::conflict(
                "QUEUE_NOT_OPEN",
                format!("the waiting room opens at {}", room.settings.opens_at.to_rfc3339()),
            ));
        }
        if room.start_time <= now {
            return Err(ServiceError::conflict("CONCERT_STARTED", "the concert has already started"));
        }
        let room = match room.seed {
            Some(_) => room,
            None => {
                let seed = Alphanumeric.sample_string(&mut rand::thread_rng(), 32);
                let seed = self.store.start_room(concert_id, &seed).await?;
                let started = RoomRecord { seed: Some(seed), ..room };
                self.remember(started.clone());
                started
            }
        };
        let seed = room.seed.as_deref().unwrap_or_default();
        let place = prequeue_place(seed, caller.user_id);
        let user = caller.user_id;
        let now_ms = now.timestamp_millis();
        let lines = &self.lines;
        if room.ended.is_some() {
            // Nobody joins an ended room; who is in it hears how it ended.
            return match self.on_line(&room, |key| lines.standing(key, user, now_ms)).await? {
                Some(standing) => {
                    let counts = self.on_line(&room, |key| lines.counts(key)).await?;
                    Ok((self.place(&room, user, &standing, counts, now), false))
                }
                None => Err(ServiceError::conflict("QUEUE_ENDED", "the waiting room has ended")),
            };
        }
        let joined = self.on_line(&room, |key| lines.join(key, user, place, now_ms)).await?;
        if joined.new {
            let entry = EntryRecord {
                user_id: user,
                place: i64::try_from(joined.standing.place).map_err(anyhow::Error::new)?,
                joined_at: DateTime::from_timestamp_millis(joined.standing.joined_at_ms).unwrap_or(now),
                admitted_at: None,
            };
            let (kept, answer) = oneshot::channel();
            self.joins
                .send((concert_id, entry, kept))
                .map_err(|_| anyhow::anyhow!("the writer of places stopped"))?;
            answer.await.map_err(|_| anyhow::anyhow!("the writer of places stopped"))??;
            metrics::counter!("queue_joins_total").increment(1);
        }
        let counts = self.on_line(&room, |key| lines.counts(key)).await?;
        Ok((self.place(&room, caller.user_id, &joined.standing, counts, now), joined.new))
    }

    /// The caller's place in the concert's room.
    pub async fn mine(&self, caller: &Principal, concert_id: i64) -> Result<Place, ServiceError> {
        let room = self.existing_room(concert_id).await?;
        let now = Utc::now();
        let (user, lines) = (caller.user_id, &self.lines);
        let standing = self
            .on_line(&room, |key| lines.standing(key, user, now.timestamp_millis()))
            .await?
            .ok_or(ServiceError::NotFound("place in the waiting room"))?;
        let counts = self.on_line(&room, |key| lines.counts(key)).await?;
        Ok(self.place(&room, caller.user_id, &standing, counts, now))
    }

    /// What a fan who stands at `standing` is told, the line's counts being `counts`.
    fn place(
        &self,
        room: &RoomRecord,
        user_id: i64,
        standing: &Standing,
        counts: Counts,
        now: DateTime<Utc>,
    ) -> Place {
        let joined_at = DateTime::from_timestamp_millis(standing.joined_at_ms).unwrap_or(now);
        let waiting = |position: Option<u64>, estimate: Option<u64>| Place {
            state: FanState::Waiting,
            position,
            joined_at,
            estimated_wait_seconds: estimate,
            pass: None,
            pass_expires_at: None,
        };
        if let Some(at) = standing.admitted_at_ms.and_then(DateTime::from_timestamp_millis) {
            let expires = at + chrono::Duration::minutes(room.settings.pass_minutes);
            let valid = now < expires;
            return Place {
                state: if valid { FanState::Admitted } else { FanState::Expired },
                position: None,
                joined_at,
                estimated_wait_seconds: None,
                pass: valid.then(|| self.passes.issue(room.concert_id, user_id, expires)),
                pass_expires_at: valid.then_some(expires),
            };
        }
        match &room.ended {
            Some((_, by)) if by == ENDED_BY_SELLING_OUT => {
                Place { state: FanState::SoldOut, ..waiting(None, None) }
            }
            // Ended by its owner: the room is off and booking asks for no pass.
            Some(_) => Place { state: FanState::Admitted, ..waiting(None, None) },
            None => {
                let position = standing.index.map(|i| i.saturating_sub(counts.admitted) + 1);
                let estimate = match (position, room.paused) {
                    (Some(p), false) => Some((p * 60).div_ceil(room.settings.admit_per_minute.max(1) as u64)),
                    _ => None,
                };
                waiting(position, estimate)
            }
        }
    }

    /// Refuses a booking of a concert whose room is on (sales open, the room not ended)
    /// unless `pass` lets the caller in.
    pub async fn check_pass(
        &self,
        caller: &Principal,
        concert_id: i64,
        pass: Option<&str>,
    ) -> Result<(), ServiceError> {
        // On every booking: decided under the rooms' lock, no room copied. A room put up
        // less than a tick ago is not asked for yet: its sales open later.
        let now = Utc::now();
        let on = |room: &RoomRecord| room.ended.is_none() && now >= room.sales_open_at;
        let known = {
            let rooms = self.rooms.read().expect("rooms lock");
            rooms.as_ref().map(|rooms| rooms.get(&concert_id).is_some_and(on))
        };
        let room_on = match known {
            Some(on) => on,
            None => self.room(concert_id).await?.as_ref().is_some_and(on),
        };
        if !room_on {
            return Ok(());
        }
        match pass {
            Some(pass) if self.passes.admits(pass, concert_id, caller.user_id, now) => Ok(()),
            _ => Err(ServiceError::Denied {
                code: "QUEUE_PASS_REQUIRED",
                message: "this concert sells through its waiting room: join it and book with the pass it gives (header Queue-Pass)",
            }),
        }
    }

    /// The room and its counts, for its owner or an administrator.
    pub async fn stats(&self, caller: &Principal, concert_id: i64) -> Result<RoomStats, ServiceError> {
        let room = self.existing_room(concert_id).await?;
        ensure_owner(caller, room.owner_id)?;
        self.stats_of(room).await
    }

    async fn stats_of(&self, room: RoomRecord) -> Result<RoomStats, ServiceError> {
        let counts = match room.seed {
            Some(_) => {
                let lines = &self.lines;
                self.on_line(&room, |key| lines.counts(key)).await?
            }
            None => Counts::default(),
        };
        let now = Utc::now();
        let state = if room.ended.is_some() {
            RoomState::Ended
        } else if now < room.settings.opens_at {
            RoomState::Scheduled
        } else if now < room.sales_open_at {
            RoomState::Open
        } else if room.paused {
            RoomState::Paused
        } else {
            RoomState::Admitting
        };
        Ok(RoomStats { room, state, counts })
    }

    /// Changes the room's rate, pauses or resumes it, or ends it, for its owner or an
    /// administrator. An ended room stays ended.
    pub async fn change(
        &self,
        caller: &Principal,
        concert_id: i64,
        admit_per_minute: Option<i64>,
        paused: Option<bool>,
        end: bool,
    ) -> Result<RoomStats, ServiceError> {
        let room = self.existing_room(concert_id).await?;
        ensure_owner(caller, room.owner_id)?;
        if let Some(rate) = admit_per_minute
            && !(1..=crate::domain::venue::MAX_ADMIT_PER_MINUTE).contains(&rate)
        {
            return Err(crate::domain::Invalid::field(
                "admitPerMinute",
                format!("must be 1 to {}", crate::domain::venue::MAX_ADMIT_PER_MINUTE),
            )
            .into());
        }
        if room.ended.is_some() && (admit_per_minute.is_some() || paused.is_some()) {
            return Err(ServiceError::conflict("QUEUE_ENDED", "the waiting room has ended"));
        }
        if room.seed.is_none() {
            let seed = Alphanumeric.sample_string(&mut rand::thread_rng(), 32);
            self.store.start_room(concert_id, &seed).await?;
        }
        let now = Utc::now();
        let change = RoomChange { admit_per_minute, paused, end: end.then_some((now, ENDED_BY_OWNER)) };
        self.store.change_room(concert_id, &change).await.map_err(not_found("waiting room"))?;
        let room = self.store.room(concert_id).await?.ok_or(ServiceError::NotFound("waiting room"))?;
        self.remember(room.clone());
        self.stats_of(room).await
    }

    /// Starts following the caller's place: the place now, the room's counts as of each
    /// tick to come (`None` before the first), and the follower to read them with.
    pub async fn follow(
        &self,
        caller: &Principal,
        concert_id: i64,
    ) -> Result<(Place, watch::Receiver<Option<Pulse>>, Follower), ServiceError> {
        let pulses = {
            let mut pulses = self.pulses.write().expect("pulses lock");
            if self.closed.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(ServiceError::Other(anyhow::anyhow!("the service is stopping")));
            }
            pulses.entry(concert_id).or_insert_with(|| watch::channel(None).0).subscribe()
        };
        let room = self.existing_room(concert_id).await?;
        let now = Utc::now();
        let (user, lines) = (caller.user_id, &self.lines);
        let standing = self
            .on_line(&room, |key| lines.standing(key, user, now.timestamp_millis()))
            .await?
            .ok_or(ServiceError::NotFound("place in the waiting room"))?;
        let counts = self.on_line(&room, |key| lines.counts(key)).await?;
        let place = self.place(&room, user, &standing, counts, now);
        Ok((place, pulses, Follower { concert_id, user_id: user, standing }))
    }

    /// The followed fan's place as of `pulse`: worked out from the room's counts, the
    /// line asked again only when the fan's order settled (sales opened) or they were
    /// let in.
    pub async fn followed(&self, follower: &mut Follower, pulse: Pulse) -> Result<Place, ServiceError> {
        let room = self.existing_room(follower.concert_id).await?;
        let now = Utc::now();
        let standing = follower.standing;
        let moved = match standing.index {
            None => now >= room.sales_open_at,
            Some(index) => standing.admitted_at_ms.is_none() && index < pulse.counts.admitted,
        };
        if moved {
            let (user, lines) = (follower.user_id, &self.lines);
            if let Some(standing) =
                self.on_line(&room, |key| lines.standing(key, user, now.timestamp_millis())).await?
            {
                follower.standing = standing;
            }
        }
        Ok(self.place(&room, follower.user_id, &follower.standing, pulse.counts, now))
    }

    /// One second's work: the rooms read again, fans let in where this instance holds the
    /// ticker's lease, the live streams told.
    async fn tick(&self, tick: u64) -> Result<(), ServiceError> {
        let now = Utc::now();
        let rooms = self.store.rooms(now).await?;
        let live: HashMap<i64, RoomRecord> = rooms.iter().map(|r| (r.concert_id, r.clone())).collect();
        *self.rooms.write().expect("rooms lock") = Some(live);
        let lease = chrono::Duration::from_std(LEASE).map_err(anyhow::Error::new)?;
        if self.store.take_lease(&self.holder, now, now + lease).await? {
            for room in rooms.iter().filter(|r| r.seed.is_some() && r.ended.is_none()) {
                if let Err(e) = self.admit(room, now, tick).await {
                    tracing::warn!(concert_id = room.concert_id, "waiting room tick failed: {e}");
                }
            }
        }
        self.tell_streams(&rooms, now).await;
        Ok(())
    }

    /// Lets in as many fans of `room` as its rate allows since its last tick.
    async fn admit(&self, room: &RoomRecord, now: DateTime<Utc>, tick: u64) -> Result<(), ServiceError> {
        if now < room.sales_open_at {
            return Ok(());
        }
        if tick.is_multiple_of(SOLD_OUT_EVERY) && self.store.sold_out(room.concert_id).await? {
            let change = RoomChange { end: Some((now, ENDED_BY_SELLING_OUT)), ..RoomChange::default() };
            self.store.change_room(room.concert_id, &change).await?;
            metrics::counter!("queue_rooms_sold_out_total").increment(1);
            return Ok(());
        }
        let since = room.ticked_at.unwrap_or(room.sales_open_at).max(room.sales_open_at);
        let (admitted, carry) = if room.paused {
            (Vec::new(), room.carry)
        } else {
            let (n, owed) = pace(room.carry, now - since, room.settings.admit_per_minute);
            let now_ms = now.timestamp_millis();
            let room_left =
                self.room_this_minute(room.concert_id, now, room.settings.admit_per_minute).await?;
            // Held back by the last minute's admissions: what is owed waits for the next tick.
            let owed = if n > room_left { 0.999_999 } else { owed };
            let n = n.min(room_left);
            let lines = &self.lines;
            let admitted = self.on_line(room, |key| lines.admit(key, n, now_ms)).await?;
            if !admitted.is_empty() {
                let mut recent = self.recent.lock().expect("recent lock");
                recent.entry(room.concert_id).or_default().push_back((now_ms, admitted.len() as u64));
            }
            // Nobody left to let in: what was owed is not saved up for a burst later.
            let carry = if (admitted.len() as u64) < n { 0.0 } else { owed };
            (admitted, carry)
        };
        let lines = &self.lines;
        let counts = self.on_line(room, |key| lines.counts(key)).await?;
        self.store
            .tick(&Tick {
                concert_id: room.concert_id,
                at: now,
                admitted: &admitted,
                admitted_total: i64::try_from(counts.admitted).unwrap_or(i64::MAX),
                carry,
            })
            .await?;
        metrics::counter!("queue_admitted_total").increment(admitted.len() as u64);
        Ok(())
    }

    /// How many more fans the room may let in at `now` without more than `per_minute` in
    /// the minute before.
    async fn room_this_minute(
        &self,
        concert_id: i64,
        now: DateTime<Utc>,
        per_minute: i64,
    ) -> Result<u64, ServiceError> {
        let known = self.recent.lock().expect("recent lock").contains_key(&concert_id);
        if !known {
            let since = now - chrono::Duration::minutes(1);
            let admitted = self.store.admitted_since(concert_id, since).await?;
            let window = admitted.into_iter().map(|(at, n)| (at.timestamp_millis(), n as u64)).collect();
            self.recent.lock().expect("recent lock").entry(concert_id).or_insert(window);
        }
        let mut recent = self.recent.lock().expect("recent lock");
        let window = recent.entry(concert_id).or_default();
        Ok(room_left(window, now.timestamp_millis(), per_minute))
    }

    /// Sends each room's counts to the streams that watch it (one message per room and
    /// tick); forgets channels nobody watches.
    async fn tell_streams(&self, rooms: &[RoomRecord], now: DateTime<Utc>) {
        let watched: Vec<i64> = {
            let mut pulses = self.pulses.write().expect("pulses lock");
            pulses.retain(|_, sender| sender.receiver_count() > 0);
            pulses.keys().copied().collect()
        };
        for concert_id in watched {
            let Some(room) = rooms.iter().find(|r| r.concert_id == concert_id && r.seed.is_some()) else {
                continue;
            };
            let lines = &self.lines;
            let Ok(counts) = self.on_line(room, |key| lines.counts(key)).await else { continue };
            if let Some(sender) = self.pulses.read().expect("pulses lock").get(&concert_id) {
                sender.send_replace(Some(Pulse { counts, at: now }));
            }
        }
    }
}

/// How many fans a tick lets in after `elapsed` since the last one at `per_minute`, the
/// last tick having owed `carry` (< 1) of a fan: `(fans, what this tick owes the next)`.
/// Fans let in up to any time are at most the rate's share of the time since sales
/// opened, plus less than one. A gap longer than a few seconds (no instance ticked)
/// counts as a few seconds: the time nobody ticked is lost rather than let in at once.
/// (Ticks jitter, so a tick may also be held back: see [`room_left`].)
fn pace(carry: f64, elapsed: chrono::Duration, per_minute: i64) -> (u64, f64) {
    let elapsed = elapsed.num_milliseconds().clamp(0, MAX_PACED_MS) as f64 / 1000.0;
    let allowance = carry + elapsed * per_minute as f64 / 60.0;
    let n = allowance.floor();
    (n as u64, (allowance - n).clamp(0.0, 0.999_999))
}

/// How many more fans may be let in at `now_ms` so that no minute lets in more than
/// `per_minute`, the window holding what was let in before (`(when, how many)`, older
/// than a minute dropped here).
fn room_left(window: &mut VecDeque<(i64, u64)>, now_ms: i64, per_minute: i64) -> u64 {
    while window.front().is_some_and(|(at, _)| now_ms - at >= 60_000) {
        window.pop_front();
    }
    let used: u64 = window.iter().map(|(_, n)| n).sum();
    (per_minute.max(0) as u64).saturating_sub(used)
}

/// The line's key of a room.
fn line_key(room: &RoomRecord) -> LineKey {
    LineKey { concert_id: room.concert_id, sales_open_ms: room.sales_open_at.timestamp_millis() }
}

fn line_error(e: LineError) -> ServiceError {
    match e {
        LineError::Unloaded => ServiceError::Other(anyhow::anyhow!("the waiting line could not be loaded")),
        LineError::Other(e) => ServiceError::Other(e),
    }
}

/// Every second, until the service stops: the rooms, the ticker, the streams.
pub async fn run_forever(queue: Arc<Queue>) {
    let mut every = tokio::time::interval(TICK);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut tick = 0_u64;
    loop {
        every.tick().await;
        if let Err(e) = queue.tick(tick).await {
            tracing::warn!("waiting room tick failed: {e}");
        }
        tick += 1;
    }
}

/// The writer of places: keeps the places that arrive together in one transaction per
/// room, and answers each join once its place is committed.
async fn keep_forever(store: Arc<dyn Store>, mut queued: mpsc::UnboundedReceiver<JoinQueued>) {
    let mut batch = Vec::with_capacity(JOINS_PER_BATCH);
    while queued.recv_many(&mut batch, JOINS_PER_BATCH).await > 0 {
        let mut by_room: HashMap<i64, (Vec<EntryRecord>, Vec<Kept>)> = HashMap::new();
        for (concert_id, entry, reply) in batch.drain(..) {
            let (entries, replies) = by_room.entry(concert_id).or_default();
            entries.push(entry);
            replies.push(reply);
        }
        for (concert_id, (entries, replies)) in by_room {
            match store.join_many(concert_id, &entries).await {
                Ok(()) => {
                    for reply in replies {
                        let _ = reply.send(Ok(()));
                    }
                }
                Err(e) => {
                    tracing::warn!("keeping {} places failed: {e}", replies.len());
                    let message = e.to_string();
                    for reply in replies {
                        let _ = reply.send(Err(StoreError::Other(anyhow::anyhow!(
                            "keeping the place failed: {message}"
                        ))));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::{pace, room_left};
    use rand::Rng;

    /// Over three hours of ticks a second apart, jittered, with gaps (an instance died and
    /// another took over) and rate changes, no minute lets in more than the rate, and the
    /// fans let in add up to the rate's share of the time.
    #[test]
    fn no_minute_lets_in_more_than_the_rate() {
        let mut rng = rand::thread_rng();
        for per_minute in [1, 7, 60, 600, 6_000, 1_000_000] {
            let (mut carry, mut now_ms, mut admissions) = (0.0, 0_i64, Vec::new());
            let mut window = VecDeque::new();
            let mut owed_total = 0.0;
            while now_ms < 3 * 3600 * 1000 {
                let step = if rng.gen_ratio(1, 500) {
                    rng.gen_range(2_000..90_000)
                } else {
                    rng.gen_range(900..1_100)
                };
                now_ms += step;
                owed_total += step.min(super::MAX_PACED_MS) as f64 / 60_000.0 * per_minute as f64;
                let (n, owed) = pace(carry, chrono::Duration::milliseconds(step), per_minute);
                let left = room_left(&mut window, now_ms, per_minute);
                let owed = if n > left { 0.999_999 } else { owed };
                let n = n.min(left);
                window.push_back((now_ms, n));
                carry = owed;
                admissions.push((now_ms, n));
            }
            let total: u64 = admissions.iter().map(|(_, n)| n).sum();
            assert!(
                total as f64 >= 0.97 * owed_total - 2.0,
                "{total} let in of {owed_total} at {per_minute}/min"
            );
            let mut in_window = 0_u64;
            let mut first = 0;
            for i in 0..admissions.len() {
                in_window += admissions[i].1;
                while admissions[i].0 - admissions[first].0 >= 60_000 {
                    in_window -= admissions[first].1;
                    first += 1;
                }
                assert!(in_window <= per_minute as u64, "{in_window} in a minute at {per_minute}/min");
            }
        }
        // Steady ticks let in the rate exactly.
        let (mut carry, mut total) = (0.0, 0);
        for _ in 0..60 {
            let (n, owed) = pace(carry, chrono::Duration::seconds(1), 100);
            carry = owed;
            total += n;
        }
        assert!((99..=100).contains(&total), "{total}");
    }
}
