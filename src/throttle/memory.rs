//! The in-process limiter: one theoretical arrival time per key (GCRA), in a map that
//! forgets keys once their allowance is whole again.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use async_trait::async_trait;

use super::{Decision, Rate, RateLimiter};

/// Past this many keys the map is swept of keys whose allowance is whole again, so an
/// attacker cycling through usernames or addresses cannot grow it without bound.
const SWEEP_ABOVE: usize = 10_000;

/// Rate limits counted in this process only.
#[derive(Debug, Default)]
pub struct MemoryLimiter {
    /// Per key: when its allowance will be whole again.
    full_at: Mutex<HashMap<String, Instant>>,
}

impl MemoryLimiter {
    /// [`RateLimiter::hit`] at a given moment.
    pub fn hit_at(&self, key: &str, rate: Rate, now: Instant) -> Decision {
        if rate.is_off() {
            return Decision::Allowed;
        }
        let interval = rate.interval();
        // How far ahead of now the allowance may be spent: `count` events at once.
        let tolerance = rate.period.saturating_sub(interval);
        let mut map = self.full_at.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let full_at = map.get(key).copied().unwrap_or(now).max(now);
        let ahead = full_at - now;
        if ahead > tolerance {
            return Decision::Limited { retry_after: ahead - tolerance };
        }
        if map.len() >= SWEEP_ABOVE && !map.contains_key(key) {
            map.retain(|_, at| *at > now);
        }
        map.insert(key.to_owned(), full_at + interval);
        Decision::Allowed
    }

    /// How many keys are remembered.
    pub fn len(&self) -> usize {
        self.full_at.lock().map(|m| m.len()).unwrap_or_default()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl RateLimiter for MemoryLimiter {
    async fn hit(&self, key: &str, rate: Rate) -> anyhow::Result<Decision> {
        Ok(self.hit_at(key, rate, Instant::now()))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn a_burst_up_to_the_count_passes_then_one_event_per_interval() {
        let limiter = MemoryLimiter::default();
        let rate = Rate::new(3, 3 * SECOND);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.hit_at("k", rate, t0), Decision::Allowed);
        }
        assert_eq!(limiter.hit_at("k", rate, t0), Decision::Limited { retry_after: SECOND });
        // Refused events are not counted: after the advertised wait, one more passes.
        assert_eq!(limiter.hit_at("k", rate, t0 + SECOND), Decision::Allowed);
        assert!(matches!(limiter.hit_at("k", rate, t0 + SECOND), Decision::Limited { .. }));
        // After a whole period the full burst is back.
        let later = t0 + 5 * SECOND;
        for _ in 0..3 {
            assert_eq!(limiter.hit_at("k", rate, later), Decision::Allowed);
        }
    }

    #[test]
    fn keys_are_counted_apart_and_off_counts_nothing() {
        let limiter = MemoryLimiter::default();
        let rate = Rate::new(1, 60 * SECOND);
        let now = Instant::now();
        assert_eq!(limiter.hit_at("a", rate, now), Decision::Allowed);
        assert!(matches!(limiter.hit_at("a", rate, now), Decision::Limited { .. }));
        assert_eq!(limiter.hit_at("b", rate, now), Decision::Allowed);
        assert_eq!(limiter.hit_at("c", Rate::OFF, now), Decision::Allowed);
        assert_eq!(limiter.len(), 2);
    }

    #[test]
    fn keys_whose_allowance_is_whole_again_are_swept() {
        let limiter = MemoryLimiter::default();
        let rate = Rate::new(5, SECOND);
        let t0 = Instant::now();
        for i in 0..SWEEP_ABOVE {
            limiter.hit_at(&i.to_string(), rate, t0);
        }
        limiter.hit_at("new", rate, t0 + 2 * SECOND);
        assert_eq!(limiter.len(), 1);
    }
}
