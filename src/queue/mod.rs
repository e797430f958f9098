//! The on-sale waiting room's fast state: each room's line of fans, in order, and how far
//! the ticker has let it in.
//!
//! A fan's place decides the order. Fans who join before sales open get a place below
//! [`ARRIVALS`] from a keyed hash of the room's secret seed and the fan ([`prequeue_place`]):
//! when sales open, the pre-queue is in a random order that no join time, refresh or bot
//! can change, and that every instance and every restart compute alike. Later fans get
//! `ARRIVALS + n`, n their arrival number: after everyone who was early, first come first
//! served. The ticker lets fans in from the front of the line; a fan's position is their
//! index in the line minus the fans let in.
//!
//! The database keeps every place and admission ([`crate::store::QueueStore`]); the line is
//! rebuilt from it when it is missing ([`LineError::Unloaded`]: a process that just
//! started, a Redis that was flushed). [`MemoryLines`] serves one process;
//! [`RedisLines`] is shared by every instance of a scaled-out deployment.

#[cfg(test)]
mod contract;
mod memory;
mod pass;
mod redis;

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub use self::memory::MemoryLines;
pub use self::pass::PassKey;
pub use self::redis::RedisLines;

use crate::store::EntryRecord;

/// The first place of a fan who joined after sales opened; pre-queue places lie below.
pub const ARRIVALS: u64 = 1 << 52;

/// The place a fan who joins before sales open gets: a keyed hash of the room's seed and
/// the fan, below [`ARRIVALS`].
pub fn prequeue_place(seed: &str, user_id: i64) -> u64 {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(seed.as_bytes()).expect("HMAC takes any key");
    mac.update(&user_id.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let mut first = [0_u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first) >> 12
}

/// A room as the line needs it: which concert, and when its sales open (from then on,
/// new fans arrive behind the pre-queue).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineKey {
    pub concert_id: i64,
    pub sales_open_ms: i64,
}

/// Where a fan stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    pub place: u64,
    pub joined_at_ms: i64,
    /// The fan's index in the line (0: its front), once sales opened; before, the order
    /// is not settled.
    pub index: Option<u64>,
    /// When the ticker let the fan in.
    pub admitted_at_ms: Option<i64>,
}

/// A fan placed in a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Joined {
    pub standing: Standing,
    /// Whether the fan was not in the line before.
    pub new: bool,
}

/// How many fans joined a line and how many were let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    pub joined: u64,
    pub admitted: u64,
}

/// Why the line did not answer.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    /// The line is not loaded here (or was lost): load it from the database and ask again.
    #[error("the waiting line is not loaded")]
    Unloaded,
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// The lines of every room.
#[async_trait]
pub trait Lines: Send + Sync {
    /// Places `user` in the line, unless they are in it: at `prequeue_place` before sales
    /// open (`now_ms`), else behind everyone who came before.
    async fn join(
        &self,
        key: LineKey,
        user_id: i64,
        prequeue_place: u64,
        now_ms: i64,
    ) -> Result<Joined, LineError>;
    /// Where `user` stands, if in the line.
    async fn standing(&self, key: LineKey, user_id: i64, now_ms: i64) -> Result<Option<Standing>, LineError>;
    /// Lets in up to `n` fans from the front of the line (only once sales opened): the
    /// fans let in, in order.
    async fn admit(&self, key: LineKey, n: u64, now_ms: i64) -> Result<Vec<i64>, LineError>;
    /// How many joined and were let in.
    async fn counts(&self, key: LineKey) -> Result<Counts, LineError>;
    /// Loads a line from the database's places (those let in first, in the order they
    /// were let in), replacing what was there.
    async fn load(&self, key: LineKey, entries: Vec<EntryRecord>) -> anyhow::Result<()>;
    /// Forgets a line (its room ended or its concert is gone).
    async fn forget(&self, concert_id: i64) -> anyhow::Result<()>;
}

/// The places of a line as it is loaded: those let in first (by when, then by place),
/// then the rest by place; with the ticks that let them in (`(fans let in after the
/// tick, when)`), and the next arrival number.
pub(crate) fn loaded_order(mut entries: Vec<EntryRecord>) -> (Vec<EntryRecord>, Vec<(u64, i64)>, u64) {
    entries.sort_by_key(|e| (e.admitted_at.is_none(), e.admitted_at, e.place));
    let mut ticks: Vec<(u64, i64)> = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let Some(at) = entry.admitted_at else { break };
        let at = at.timestamp_millis();
        match ticks.last_mut() {
            Some((count, last)) if *last == at => *count = i as u64 + 1,
            _ => ticks.push((i as u64 + 1, at)),
        }
    }
    let arrivals = entries
        .iter()
        .filter_map(|e| u64::try_from(e.place).ok())
        .filter(|p| *p >= ARRIVALS)
        .map(|p| p - ARRIVALS)
        .max()
        .unwrap_or(0);
    (entries, ticks, arrivals)
}

/// When the fan at `index` was let in, from the ticks (`(fans let in after, when)`).
pub(crate) fn admitted_at(ticks: &[(u64, i64)], index: u64) -> Option<i64> {
    let tick = ticks.partition_point(|(count, _)| *count <= index);
    ticks.get(tick).map(|(_, at)| *at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prequeue_places_are_below_arrivals_and_depend_on_the_seed() {
        let a = prequeue_place("seed-1", 42);
        assert!(a < ARRIVALS);
        assert_eq!(a, prequeue_place("seed-1", 42));
        assert_ne!(a, prequeue_place("seed-2", 42));
        assert_ne!(a, prequeue_place("seed-1", 43));
    }

    #[test]
    fn admission_times_come_from_the_tick_that_passed_the_index() {
        let ticks = [(2, 1000), (5, 2000)];
        assert_eq!(admitted_at(&ticks, 0), Some(1000));
        assert_eq!(admitted_at(&ticks, 1), Some(1000));
        assert_eq!(admitted_at(&ticks, 2), Some(2000));
        assert_eq!(admitted_at(&ticks, 4), Some(2000));
        assert_eq!(admitted_at(&ticks, 5), None);
    }
}
