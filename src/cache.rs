//! Caches in front of the database for what every fan reads during an on-sale.
//!
//! - [`Catalog`]: concert details and the first page of the concert list, as ready-made
//!   JSON. Every catalog write bumps a generation that is part of each key, so one bump
//!   invalidates everything at once (cheap, and it works the same on a shared cache).
//! - [`SeatMaps`]: each concert's encoded seat map with its version, dropped on every seat
//!   change of that concert.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::body::Bytes;

/// How long a catalog entry may be served before it is read again.
const CATALOG_TTL: Duration = Duration::from_secs(30);
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

/// A concert's seat map, encoded once for every reader.
#[derive(Debug)]
pub struct EncodedSeatMap {
    pub version: i64,
    /// The JSON response body.
    pub body: Bytes,
}

/// Encoded seat maps by concert, dropped on every change of a concert's seats.
#[derive(Debug, Default)]
pub struct SeatMaps {
    maps: Mutex<HashMap<i64, Arc<EncodedSeatMap>>>,
}

impl SeatMaps {
    pub fn get(&self, concert_id: i64) -> Option<Arc<EncodedSeatMap>> {
        self.maps.lock().ok()?.get(&concert_id).cloned()
    }

    /// Stores a map unless a newer version is already there.
    pub fn put(&self, concert_id: i64, map: Arc<EncodedSeatMap>) {
        if let Ok(mut maps) = self.maps.lock() {
            match maps.get(&concert_id) {
                Some(current) if current.version >= map.version => {}
                _ => {
                    maps.insert(concert_id, map);
                }
            }
        }
    }

    pub fn invalidate(&self, concert_id: i64) {
        if let Ok(mut maps) = self.maps.lock() {
            maps.remove(&concert_id);
        }
    }

    /// Drops every map (e.g. when a venue's width changed).
    pub fn clear(&self) {
        if let Ok(mut maps) = self.maps.lock() {
            maps.clear();
        }
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

    #[test]
    fn an_older_seat_map_never_replaces_a_newer_one() {
        let maps = SeatMaps::default();
        maps.put(1, Arc::new(EncodedSeatMap { version: 5, body: Bytes::from_static(b"new") }));
        maps.put(1, Arc::new(EncodedSeatMap { version: 4, body: Bytes::from_static(b"old") }));
        assert_eq!(maps.get(1).map(|m| m.version), Some(5));
        maps.invalidate(1);
        assert!(maps.get(1).is_none());
    }
}
