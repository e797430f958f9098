//! Caches in front of the database for what every fan reads during an on-sale.
//!
//! - [`Catalog`]: concert details and the first page of the concert list, as ready-made
//!   JSON. Every catalog write bumps a generation that is part of each key, so one bump
//!   invalidates everything at once (cheap, and it works the same on a shared cache).
//! - [`SeatMaps`]: each concert's encoded seat map with its version, patched in place by
//!   each committed change of its seats ([`seat_map`]), marked stale when a change cannot
//!   be patched in, and then rebuilt by one reader at a time.
//!
//! Both are traits: [`MemoryCatalog`] and [`SeatMaps`] serve one process; with Redis,
//! the shared ones in `cache/redis.rs` serve every instance of a deployment.
//! [`WatchedSeatMaps`] wraps either and tells pages watching a map live of every change
//! and rebuild this instance sees ([`crate::seat_news`], which passes it on to the other
//! instances when there are any).

mod redis;
mod seat_map;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::body::Bytes;

pub use self::redis::{RedisCatalog, RedisSeatMaps};
pub use self::seat_map::{Derived, EncodedSeatMap, MapLayout, SeatChange};
use crate::domain::booking::SeatRef;
use crate::domain::venue::SeatStatus;
use crate::seat_news::{SeatMapNews, SeatNews};

/// How long a catalog entry may be served before it is read again.
pub(crate) const CATALOG_TTL: Duration = Duration::from_secs(30);
/// Most catalog entries kept in process.
const CATALOG_CAPACITY: usize = 10_000;

/// A cache of ready-made catalog responses.
#[async_trait]
pub trait Catalog: Send + Sync {
    /// The cached bytes of `key` in the current generation.
    async fn get(&self, key: &str) -> Option<Bytes>;
    /// Caches `value` under `key` in the current generation.
    async fn put(&self, key: &str, value: Bytes);
    /// Drops every entry: called after any write that changes a concert or the list.
    async fn invalidate(&self);
}

/// The catalog cache of one process.
#[derive(Debug, Default)]
pub struct MemoryCatalog {
    generation: AtomicU64,
    entries: Mutex<HashMap<String, (u64, Instant, Bytes)>>,
}

#[async_trait]
impl Catalog for MemoryCatalog {
    async fn get(&self, key: &str) -> Option<Bytes> {
        let generation = self.generation.load(Ordering::Acquire);
        let entries = self.entries.lock().ok()?;
        match entries.get(key) {
            Some((g, at, value)) if *g == generation && at.elapsed() < CATALOG_TTL => Some(value.clone()),
            _ => None,
        }
    }

    async fn put(&self, key: &str, value: Bytes) {
        let generation = self.generation.load(Ordering::Acquire);
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= CATALOG_CAPACITY {
                entries.clear();
            }
            entries.insert(key.to_owned(), (generation, Instant::now(), value));
        }
    }

    async fn invalidate(&self) {
        // Bump first: a reader that built its value before the write cannot store it
        // under the new generation, because `put` reads the generation at insert time
        // only after the value was built — at worst it stores a stale value under the old
        // generation, which no reader will accept.
        self.generation.fetch_add(1, Ordering::AcqRel);
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
        }
    }
}

/// A cache of encoded seat maps. A cache failure never fails a read: the map is then
/// rebuilt from the database.
#[async_trait]
pub trait SeatMapCache: Send + Sync {
    /// What to do for `concert_id`'s map.
    async fn lookup(&self, concert_id: i64) -> Lookup;
    /// Stores a rebuilt map; it is current unless a change came in since `ticket`.
    async fn put(&self, concert_id: i64, map: Arc<EncodedSeatMap>, ticket: u64);
    /// Gives up a rebuild (the concert is gone, or the database failed).
    async fn abandon(&self, concert_id: i64);
    /// Brings a concert's map up to date with a committed change of its seats: patched in
    /// place when the cached map is the one the change was made on, marked stale otherwise.
    async fn patch(&self, concert_id: i64, change: &SeatChange<'_>);
    /// Marks a concert's map stale after a change of its seats that cannot be patched in.
    async fn invalidate(&self, concert_id: i64);
    /// Drops every map (e.g. when a venue's width changed).
    async fn clear(&self);
}

/// What a reader should do for a concert's seat map.
#[derive(Debug)]
pub enum Lookup {
    /// Serve this map: it is current, or another reader is rebuilding it right now and
    /// this one is the latest consistent snapshot (its version matches its content).
    Serve(Arc<EncodedSeatMap>),
    /// Rebuild it from the database, then [`SeatMaps::put`] it with this ticket (or
    /// [`SeatMaps::abandon`] on failure).
    Rebuild(u64),
}

/// How long a change that came before the one it was made after may wait for it. Changes
/// of one batch are committed together and told by concurrent tasks, in any order; a
/// change that never comes (it cannot: every commit tells its change) would leave the map
/// behind, so after this the map is rebuilt instead.
const GAP_WAIT: Duration = Duration::from_millis(100);
/// Most early changes a map holds; past that it is rebuilt.
const MAX_EARLY: usize = 256;

#[derive(Debug, Default)]
struct SeatMapEntry {
    map: Option<Arc<EncodedSeatMap>>,
    /// Bumped by every invalidation; a rebuild started before one is not current.
    generation: u64,
    /// The generation the map was built at.
    built_at: u64,
    rebuilding: bool,
    /// Changes made after one the map has not had yet, waiting for it.
    early: Vec<EarlyChange>,
    /// Since when the oldest of `early` waits.
    gap_since: Option<Instant>,
}

#[derive(Debug)]
struct EarlyChange {
    from: i64,
    to: i64,
    seats: Vec<(SeatRef, SeatStatus)>,
}

/// What a change did to a cached map.
#[derive(Debug, PartialEq, Eq)]
enum Patched {
    /// Written in (with any early changes that follow on from it).
    Yes,
    /// The map has it already.
    Had,
    /// Came before a change it was made after: held until that one comes.
    Early,
    /// The map is marked stale: it is rebuilt by its next reader.
    Stale,
}

impl SeatMapEntry {
    fn current(&self) -> bool {
        self.built_at == self.generation
    }

    fn patch(&mut self, change: &SeatChange<'_>) -> Patched {
        let Some(map) = self.map.as_ref().filter(|_| self.current()) else { return self.stale() };
        if map.version >= change.to {
            return Patched::Had;
        }
        if change.from > map.version && self.early.len() < MAX_EARLY {
            self.early.push(EarlyChange { from: change.from, to: change.to, seats: change.seats.to_vec() });
            self.gap_since.get_or_insert_with(Instant::now);
            return Patched::Early;
        }
        let Some(mut map) = map.patched(change) else { return self.stale() };
        while let Some(next) = self.early.iter().position(|early| early.from == map.version) {
            let early = self.early.swap_remove(next);
            let change = SeatChange { from: early.from, to: early.to, seats: &early.seats };
            match map.patched(&change) {
                Some(patched) => map = patched,
                None => return self.stale(),
            }
        }
        let version = map.version;
        self.early.retain(|early| early.to > version);
        if self.early.is_empty() {
            self.gap_since = None;
        }
        self.map = Some(Arc::new(map));
        Patched::Yes
    }

    fn stale(&mut self) -> Patched {
        self.generation += 1;
        self.early.clear();
        self.gap_since = None;
        Patched::Stale
    }
}

/// Encoded seat maps by concert. Each committed change is patched into its concert's map
/// ([`SeatMaps::patch`]); a change that cannot be marks the map stale, and the next reader
/// rebuilds it while readers arriving meanwhile are served the previous snapshot (stale
/// while revalidate), so a rush of bookings costs at most one rebuild at a time.
#[derive(Debug, Default)]
pub struct SeatMaps {
    maps: Mutex<HashMap<i64, SeatMapEntry>>,
}

impl SeatMaps {
    /// What to do for `concert_id`'s map.
    pub fn lookup(&self, concert_id: i64) -> Lookup {
        let Ok(mut maps) = self.maps.lock() else { return Lookup::Rebuild(0) };
        let entry = maps.entry(concert_id).or_default();
        if entry.gap_since.is_some_and(|since| since.elapsed() > GAP_WAIT) {
            entry.stale();
        }
        match &entry.map {
            Some(map) if entry.current() || entry.rebuilding => Lookup::Serve(map.clone()),
            _ if entry.rebuilding => Lookup::Rebuild(entry.generation),
            _ => {
                entry.rebuilding = true;
                Lookup::Rebuild(entry.generation)
            }
        }
    }

    /// Stores a rebuilt map; it is current unless a change came in since `ticket`.
    pub fn put(&self, concert_id: i64, map: Arc<EncodedSeatMap>, ticket: u64) {
        if let Ok(mut maps) = self.maps.lock() {
            let entry = maps.entry(concert_id).or_default();
            if entry.map.as_ref().is_none_or(|current| current.version <= map.version) {
                let version = map.version;
                entry.early.retain(|early| early.to > version);
                entry.map = Some(map);
                entry.built_at = ticket;
            }
            entry.rebuilding = false;
        }
    }

    /// Gives up a rebuild (the concert is gone, or the database failed).
    pub fn abandon(&self, concert_id: i64) {
        if let Ok(mut maps) = self.maps.lock() {
            match maps.get_mut(&concert_id) {
                Some(entry) if entry.map.is_some() => entry.rebuilding = false,
                _ => {
                    maps.remove(&concert_id);
                }
            }
        }
    }

    /// Patches a concert's cached map with a committed change when it is current and the
    /// one the change was made on (or holds the change until the one before it comes);
    /// else marks it stale.
    pub fn patch(&self, concert_id: i64, change: &SeatChange<'_>) {
        let Ok(mut maps) = self.maps.lock() else { return };
        // Nothing cached, and no rebuild under way that could miss the change.
        let Some(entry) = maps.get_mut(&concert_id) else { return };
        let outcome = match entry.patch(change) {
            Patched::Yes => "patched",
            Patched::Had => return,
            Patched::Early => "early",
            Patched::Stale => "stale",
        };
        metrics::counter!("seat_map_changes_total", "outcome" => outcome).increment(1);
    }

    /// Marks a concert's map stale after a change of its seats.
    pub fn invalidate(&self, concert_id: i64) {
        if let Ok(mut maps) = self.maps.lock()
            && let Some(entry) = maps.get_mut(&concert_id)
        {
            entry.stale();
        }
    }

    /// Drops every map (e.g. when a venue's width changed).
    pub fn clear(&self) {
        if let Ok(mut maps) = self.maps.lock() {
            maps.clear();
        }
    }
}

#[async_trait]
impl SeatMapCache for SeatMaps {
    async fn lookup(&self, concert_id: i64) -> Lookup {
        SeatMaps::lookup(self, concert_id)
    }

    async fn put(&self, concert_id: i64, map: Arc<EncodedSeatMap>, ticket: u64) {
        SeatMaps::put(self, concert_id, map, ticket);
    }

    async fn abandon(&self, concert_id: i64) {
        SeatMaps::abandon(self, concert_id);
    }

    async fn patch(&self, concert_id: i64, change: &SeatChange<'_>) {
        SeatMaps::patch(self, concert_id, change);
    }

    async fn invalidate(&self, concert_id: i64) {
        SeatMaps::invalidate(self, concert_id);
    }

    async fn clear(&self) {
        SeatMaps::clear(self);
    }
}

/// A seat-map cache that tells live watchers ([`SeatNews`]) of every change and rebuild.
pub struct WatchedSeatMaps {
    inner: Arc<dyn SeatMapCache>,
    news: Arc<SeatNews>,
}

impl WatchedSeatMaps {
    pub fn new(inner: Arc<dyn SeatMapCache>, news: Arc<SeatNews>) -> Self {
        Self { inner, news }
    }
}

#[async_trait]
impl SeatMapCache for WatchedSeatMaps {
    async fn lookup(&self, concert_id: i64) -> Lookup {
        self.inner.lookup(concert_id).await
    }

    async fn put(&self, concert_id: i64, map: Arc<EncodedSeatMap>, ticket: u64) {
        let version = map.version;
        self.inner.put(concert_id, map, ticket).await;
        self.news.tell(SeatMapNews::Rebuilt { concert_id, version });
    }

    async fn abandon(&self, concert_id: i64) {
        self.inner.abandon(concert_id).await;
    }

    async fn patch(&self, concert_id: i64, change: &SeatChange<'_>) {
        // Told only once the map is patched or marked stale: a watcher that reads it on
        // this news, on any instance, must not get the map from before the change.
        self.inner.patch(concert_id, change).await;
        self.news.tell(SeatMapNews::Changed { concert_id, version: Some(change.to) });
    }

    async fn invalidate(&self, concert_id: i64) {
        self.inner.invalidate(concert_id).await;
        self.news.tell(SeatMapNews::Changed { concert_id, version: None });
    }

    async fn clear(&self) {
        self.inner.clear().await;
        self.news.tell(SeatMapNews::All);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn invalidation_drops_every_catalog_entry() {
        let cache = MemoryCatalog::default();
        cache.put("a", Bytes::from_static(b"1")).await;
        assert_eq!(cache.get("a").await.as_deref(), Some(&b"1"[..]));
        cache.invalidate().await;
        assert_eq!(cache.get("a").await, None);
    }

    /// A one-row map of four seats, all available, at `version`.
    fn map(version: i64) -> Arc<EncodedSeatMap> {
        let body = format!(r#"{{"s":"AAAA","version":{version}}}"#);
        let row = (crate::domain::sections::SectionName::SEED, row_a());
        let layout = MapLayout::new(vec![(row, 6, 4)], Vec::new(), 22, "}").unwrap();
        Arc::new(EncodedSeatMap::new(version, Bytes::from(body), Some(Arc::new(layout))))
    }

    fn row_a() -> crate::domain::sections::RowLabel {
        crate::domain::sections::RowLabel::parse("A").unwrap()
    }

    /// Seat A2 taken.
    fn taken() -> [(SeatRef, SeatStatus); 1] {
        [(SeatRef::seed(row_a(), 2), SeatStatus::Reserved)]
    }

    fn body(lookup: Lookup) -> String {
        match lookup {
            Lookup::Serve(map) => String::from_utf8(map.body.to_vec()).unwrap(),
            Lookup::Rebuild(_) => "rebuild".into(),
        }
    }

    #[test]
    fn a_change_made_on_the_current_map_is_patched_in_without_a_rebuild() {
        let maps = SeatMaps::default();
        let Lookup::Rebuild(ticket) = maps.lookup(1) else { panic!("a cold map is rebuilt") };
        maps.put(1, map(5), ticket);
        maps.patch(1, &SeatChange { from: 5, to: 6, seats: &taken() });
        assert_eq!(body(maps.lookup(1)), r#"{"s":"ARAA","version":6}"#);
        maps.patch(1, &SeatChange { from: 5, to: 6, seats: &taken() });
        assert_eq!(served(maps.lookup(1)), Some(6), "a change the map has is no news");
        let gone = [(SeatRef::seed(row_a(), 9), SeatStatus::Reserved)];
        maps.patch(1, &SeatChange { from: 6, to: 7, seats: &gone });
        assert!(matches!(maps.lookup(1), Lookup::Rebuild(_)), "a seat not on the map: rebuild");
    }

    #[test]
    fn changes_told_out_of_order_are_patched_in_once_the_gap_closes_or_the_map_is_rebuilt() {
        let maps = SeatMaps::default();
        let Lookup::Rebuild(ticket) = maps.lookup(1) else { panic!() };
        maps.put(1, map(5), ticket);
        let third = [(SeatRef::seed(row_a(), 3), SeatStatus::Locked)];
        maps.patch(1, &SeatChange { from: 6, to: 7, seats: &third });
        assert_eq!(served(maps.lookup(1)), Some(5), "held while the change before it is missing");
        maps.patch(1, &SeatChange { from: 5, to: 6, seats: &taken() });
        assert_eq!(body(maps.lookup(1)), r#"{"s":"ARLA","version":7}"#);
        // A gap that does not close within GAP_WAIT makes the next reader rebuild.
        maps.patch(1, &SeatChange { from: 9, to: 10, seats: &taken() });
        assert_eq!(served(maps.lookup(1)), Some(7));
        std::thread::sleep(GAP_WAIT + Duration::from_millis(10));
        assert!(matches!(maps.lookup(1), Lookup::Rebuild(_)));
    }

    #[test]
    fn a_change_during_a_rebuild_is_not_patched_and_keeps_the_map_stale() {
        let maps = SeatMaps::default();
        let Lookup::Rebuild(ticket) = maps.lookup(1) else { panic!() };
        maps.put(1, map(5), ticket);
        maps.invalidate(1);
        let Lookup::Rebuild(ticket) = maps.lookup(1) else { panic!() };
        maps.patch(1, &SeatChange { from: 5, to: 6, seats: &taken() });
        assert_eq!(served(maps.lookup(1)), Some(5), "a stale map is not patched");
        maps.put(1, map(5), ticket);
        assert!(matches!(maps.lookup(1), Lookup::Rebuild(_)), "the rebuild may have missed the change");
        // With nothing cached yet, a rebuild under way is told too.
        let Lookup::Rebuild(ticket) = maps.lookup(2) else { panic!() };
        maps.patch(2, &SeatChange { from: 5, to: 6, seats: &taken() });
        maps.put(2, map(5), ticket);
        assert!(matches!(maps.lookup(2), Lookup::Rebuild(_)));
    }

    fn served(lookup: Lookup) -> Option<i64> {
        match lookup {
            Lookup::Serve(map) => Some(map.version),
            Lookup::Rebuild(_) => None,
        }
    }

    #[test]
    fn after_a_change_one_reader_rebuilds_while_the_others_get_the_last_snapshot() {
        let maps = SeatMaps::default();
        let Lookup::Rebuild(ticket) = maps.lookup(1) else { panic!("a cold map is rebuilt") };
        maps.put(1, map(5), ticket);
        assert_eq!(served(maps.lookup(1)), Some(5));
        maps.invalidate(1);
        let Lookup::Rebuild(ticket) = maps.lookup(1) else {
            panic!("the first reader after a change rebuilds")
        };
        assert_eq!(served(maps.lookup(1)), Some(5), "others meanwhile get the snapshot");
        maps.put(1, map(6), ticket);
        assert_eq!(served(maps.lookup(1)), Some(6));
    }

    #[test]
    fn a_change_during_a_rebuild_keeps_the_map_stale() {
        let maps = SeatMaps::default();
        let Lookup::Rebuild(ticket) = maps.lookup(1) else { panic!() };
        maps.invalidate(1);
        maps.put(1, map(5), ticket);
        assert!(matches!(maps.lookup(1), Lookup::Rebuild(_)), "built before the change: rebuild again");
    }

    #[test]
    fn an_older_map_never_replaces_a_newer_one_and_failures_release_the_rebuild() {
        let maps = SeatMaps::default();
        let Lookup::Rebuild(ticket) = maps.lookup(1) else { panic!() };
        maps.put(1, map(5), ticket);
        maps.put(1, map(4), ticket);
        assert_eq!(served(maps.lookup(1)), Some(5));
        maps.invalidate(1);
        assert!(matches!(maps.lookup(1), Lookup::Rebuild(_)));
        maps.abandon(1);
        assert!(matches!(maps.lookup(1), Lookup::Rebuild(_)), "after a failure the next reader tries again");
        let Lookup::Rebuild(_) = maps.lookup(2) else { panic!() };
        maps.abandon(2);
        assert!(maps.maps.lock().unwrap().get(&2).is_none(), "no entry kept for a concert that is not there");
    }
}
