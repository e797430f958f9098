//! The lines of one process: each a vector of places (sorted once sales open, then only
//! appended to) and a map from fan to place, about 50 bytes a fan.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{ARRIVALS, Counts, Joined, LineError, LineKey, Lines, Standing, admitted_at, loaded_order};
use crate::store::EntryRecord;

/// Every room's line, in this process.
#[derive(Default)]
pub struct MemoryLines {
    lines: Mutex<HashMap<i64, Line>>,
}

#[derive(Default)]
struct Line {
    /// `(place, fan)`: in any order before sales open, in the line's order after.
    order: Vec<(u64, i64)>,
    /// Whether `order` is in the line's order.
    settled: bool,
    /// Fan → `(place, joined at in ms)`.
    fans: HashMap<i64, (u64, i64)>,
    /// Fans let in: the first `admitted` of `order`.
    admitted: u64,
    /// `(fans let in after the tick, when)`.
    ticks: Vec<(u64, i64)>,
    /// The last arrival number given.
    arrivals: u64,
}

impl Line {
    /// Puts the line in order once sales opened.
    fn settle(&mut self, key: LineKey, now_ms: i64) {
        if !self.settled && now_ms >= key.sales_open_ms {
            self.order.sort_unstable();
            self.settled = true;
        }
    }

    fn index(&self, place: u64, user_id: i64) -> Option<u64> {
        if !self.settled {
            return None;
        }
        let found = match self.order.binary_search(&(place, user_id)) {
            Ok(i) => Some(i),
            // A line loaded with fans let in out of place order.
            Err(_) => self.order.iter().position(|e| *e == (place, user_id)),
        };
        found.map(|i| i as u64)
    }

    fn standing(&self, user_id: i64) -> Option<Standing> {
        let (place, joined_at_ms) = *self.fans.get(&user_id)?;
        let index = self.index(place, user_id);
        let admitted_at_ms = index.filter(|i| *i < self.admitted).and_then(|i| admitted_at(&self.ticks, i));
        Some(Standing { place, joined_at_ms, index, admitted_at_ms })
    }
}

#[async_trait]
impl Lines for MemoryLines {
    async fn join(
        &self,
        key: LineKey,
        user_id: i64,
        prequeue_place: u64,
        now_ms: i64,
    ) -> Result<Joined, LineError> {
        let mut lines = self.lines.lock().expect("lines lock");
        let line = lines.get_mut(&key.concert_id).ok_or(LineError::Unloaded)?;
        line.settle(key, now_ms);
        if let Some(standing) = line.standing(user_id) {
            return Ok(Joined { standing, new: false });
        }
        let place = if now_ms < key.sales_open_ms {
            prequeue_place
        } else {
            line.arrivals += 1;
            ARRIVALS + line.arrivals
        };
        line.order.push((place, user_id));
        line.fans.insert(user_id, (place, now_ms));
        let standing = line.standing(user_id).expect("just placed");
        Ok(Joined { standing, new: true })
    }

    async fn standing(&self, key: LineKey, user_id: i64, now_ms: i64) -> Result<Option<Standing>, LineError> {
        let mut lines = self.lines.lock().expect("lines lock");
        let line = lines.get_mut(&key.concert_id).ok_or(LineError::Unloaded)?;
        line.settle(key, now_ms);
        Ok(line.standing(user_id))
    }

    async fn admit(&self, key: LineKey, n: u64, now_ms: i64) -> Result<Vec<i64>, LineError> {
        let mut lines = self.lines.lock().expect("lines lock");
        let line = lines.get_mut(&key.concert_id).ok_or(LineError::Unloaded)?;
        line.settle(key, now_ms);
        if !line.settled || n == 0 {
            return Ok(Vec::new());
        }
        let from = line.admitted as usize;
        let to = (from + n as usize).min(line.order.len());
        let admitted: Vec<i64> = line.order[from..to].iter().map(|(_, user)| *user).collect();
        if !admitted.is_empty() {
            line.admitted = to as u64;
            line.ticks.push((line.admitted, now_ms));
        }
        Ok(admitted)
    }

    async fn counts(&self, key: LineKey) -> Result<Counts, LineError> {
        let lines = self.lines.lock().expect("lines lock");
        let line = lines.get(&key.concert_id).ok_or(LineError::Unloaded)?;
        Ok(Counts { joined: line.order.len() as u64, admitted: line.admitted })
    }

    async fn load(&self, key: LineKey, entries: Vec<EntryRecord>) -> anyhow::Result<()> {
        let (entries, ticks, arrivals) = loaded_order(entries);
        let admitted = ticks.last().map_or(0, |(count, _)| *count);
        let mut line = Line {
            order: Vec::with_capacity(entries.len()),
            settled: admitted > 0,
            fans: HashMap::with_capacity(entries.len()),
            admitted,
            ticks,
            arrivals,
        };
        for entry in entries {
            let place = u64::try_from(entry.place)?;
            line.order.push((place, entry.user_id));
            line.fans.insert(entry.user_id, (place, entry.joined_at.timestamp_millis()));
        }
        let mut lines = self.lines.lock().expect("lines lock");
        // A line loaded meanwhile (by a request that raced this one) is as good.
        lines.entry(key.concert_id).or_insert(line);
        Ok(())
    }

    async fn forget(&self, concert_id: i64) -> anyhow::Result<()> {
        self.lines.lock().expect("lines lock").remove(&concert_id);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::contract::{self, OPEN, key};

    #[tokio::test]
    async fn the_prequeue_is_ordered_by_place_then_arrivals_follow() {
        contract::the_prequeue_is_ordered_by_place_then_arrivals_follow(&MemoryLines::default()).await;
    }

    #[tokio::test]
    async fn a_loaded_line_keeps_who_was_let_in_and_the_next_arrival() {
        contract::a_loaded_line_keeps_who_was_let_in_and_the_next_arrival(&MemoryLines::default()).await;
    }

    /// Fairness: where a fan stands when sales open does not depend on when they joined.
    /// 5,000 fans join one after another; the rank correlation between join order and
    /// position is near zero (its spread for a random order is 1/sqrt(n-1), about 0.014).
    #[tokio::test]
    async fn positions_at_opening_do_not_depend_on_join_order() {
        let lines = MemoryLines::default();
        lines.load(key(), Vec::new()).await.unwrap();
        let n = 5_000_i64;
        for user in 0..n {
            let place = super::super::prequeue_place("a room's seed", user);
            lines.join(key(), user, place, user).await.unwrap();
        }
        let mut sum = 0.0;
        for user in 0..n {
            let index = lines.standing(key(), user, OPEN).await.unwrap().unwrap().index.unwrap() as f64;
            let d = index - user as f64;
            sum += d * d;
        }
        let n = n as f64;
        let rho = 1.0 - 6.0 * sum / (n * (n * n - 1.0));
        assert!(rho.abs() < 0.06, "rank correlation {rho}");
    }
}
