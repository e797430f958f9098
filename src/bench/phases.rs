//! The ceiling measured inside the run (`--ceiling`). A shared machine's speed drifts by
//! ±10–20% from one minute to the next, so a scenario and a `/health` run made one after
//! the other compare two different machines. Here every connection alternates: a phase of
//! the scenario, then a phase of `GET /health`, and so on. Only the settled part of each
//! phase is counted (the first requests of a phase are still the last ones of the previous
//! kind finishing), and the two rates come from the same seconds of the same run.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

/// What a phase sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Scenario,
    Ceiling,
}

/// The phases of a run: even ones the scenario, odd ones `/health`.
#[derive(Debug)]
pub struct Phases {
    start: Instant,
    length: Duration,
    /// Not counted at the start of each phase.
    settle: Duration,
    /// Requests answered in the counted part of each phase.
    answered: Vec<AtomicU64>,
    /// When the scenario ran out of work (every seat sold): later phases are not counted.
    stopped: OnceLock<Instant>,
}

/// The ceiling as the run measured it.
#[derive(Debug, Serialize)]
pub struct Ceiling {
    /// Length of each phase; the first `settle_seconds` of each are not counted.
    pub phase_seconds: f64,
    pub settle_seconds: f64,
    /// Scenario phases counted, each followed by a `/health` phase.
    pub pairs: usize,
    /// `GET /health` answers per second in the `/health` phases.
    pub requests_per_second: f64,
    /// The scenario's answers per second over the ceiling's.
    pub ratio: f64,
    /// The same ratio for each pair of neighbouring phases: how much it moved.
    pub pair_ratios: Vec<f64>,
}

impl Phases {
    /// Phases of `length` from `start` until `end`; `settle` of each is not counted.
    pub fn new(start: Instant, end: Instant, length: Duration, settle: Duration) -> Self {
        let length = length.max(Duration::from_millis(1));
        // Whole pairs only: a scenario phase without its ceiling phase is not counted.
        let pairs = (end.saturating_duration_since(start).as_nanos() / (2 * length.as_nanos())) as usize;
        Self {
            start,
            length,
            settle: settle.min(length / 2),
            answered: (0..2 * pairs).map(|_| AtomicU64::new(0)).collect(),
            stopped: OnceLock::new(),
        }
    }

    fn phase_start(&self, index: usize) -> Instant {
        self.start + self.length * index as u32
    }

    fn index(&self, at: Instant) -> Option<usize> {
        let since = at.checked_duration_since(self.start)?;
        Some((since.as_nanos() / self.length.as_nanos()) as usize)
    }

    /// What to send at `at`: the scenario before the first phase (the warm-up) too.
    pub fn kind(&self, at: Instant) -> Kind {
        match self.index(at) {
            Some(i) if i % 2 == 1 => Kind::Ceiling,
            _ => Kind::Scenario,
        }
    }

    /// Counts a request of `kind` answered at `at`, if that is in the settled part of a
    /// phase of the same kind; says whether it was counted.
    pub fn answered(&self, kind: Kind, at: Instant) -> bool {
        let Some(i) = self.index(at) else { return false };
        let settled = at >= self.phase_start(i) + self.settle;
        let same_kind = (i % 2 == 1) == (kind == Kind::Ceiling);
        match self.answered.get(i) {
            Some(count) if settled && same_kind => {
                count.fetch_add(1, Ordering::Relaxed);
                true
            }
            _ => false,
        }
    }

    /// The scenario has no more work from `at` on.
    pub fn stop(&self, at: Instant) {
        let _ = self.stopped.set(at);
    }

    /// Pairs of phases that ended by `end` (and before the scenario stopped).
    fn complete_pairs(&self, end: Instant) -> usize {
        let end = self.stopped.get().map_or(end, |stopped| end.min(*stopped));
        let phases = end.saturating_duration_since(self.start).as_nanos() / self.length.as_nanos();
        (phases as usize / 2).min(self.answered.len() / 2)
    }

    /// Seconds counted in the scenario's phases up to `end` (or the stop): the time its
    /// answers were counted over, so the time its figures are per second of.
    pub fn scenario_seconds(&self, end: Instant) -> f64 {
        let end = self.stopped.get().map_or(end, |stopped| end.min(*stopped));
        (0..self.answered.len())
            .step_by(2)
            .map(|i| {
                let phase_start = self.phase_start(i);
                let counted_end = end.min(phase_start + self.length);
                counted_end.saturating_duration_since(phase_start + self.settle).as_secs_f64()
            })
            .sum()
    }

    /// The ceiling and the scenario's share of it, from the phases complete by `end`.
    pub fn ceiling(&self, end: Instant) -> Ceiling {
        let pairs = self.complete_pairs(end);
        let counted = (self.length - self.settle).as_secs_f64();
        let count = |i: usize| self.answered[i].load(Ordering::Relaxed) as f64;
        let (scenario, ceiling): (f64, f64) = (0..pairs)
            .map(|p| (count(2 * p), count(2 * p + 1)))
            .fold((0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1));
        let ratio = |s: f64, c: f64| if c > 0.0 { s / c } else { 0.0 };
        Ceiling {
            phase_seconds: self.length.as_secs_f64(),
            settle_seconds: self.settle.as_secs_f64(),
            pairs,
            requests_per_second: if pairs > 0 { ceiling / (pairs as f64 * counted) } else { 0.0 },
            ratio: ratio(scenario, ceiling),
            pair_ratios: (0..pairs).map(|p| ratio(count(2 * p), count(2 * p + 1))).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn phases_alternate_and_count_only_their_settled_part() {
        let t0 = Instant::now();
        let phases = Phases::new(t0, t0 + ms(4000), ms(1000), ms(100));
        assert_eq!(phases.kind(t0 + ms(10)), Kind::Scenario);
        assert_eq!(phases.kind(t0 + ms(1500)), Kind::Ceiling);
        assert_eq!(phases.kind(t0 + ms(2500)), Kind::Scenario);
        // Before the first phase: the warm-up, the scenario's, never counted.
        assert_eq!(phases.kind(t0.checked_sub(ms(5)).unwrap()), Kind::Scenario);
        assert!(!phases.answered(Kind::Scenario, t0.checked_sub(ms(5)).unwrap()));
        // Settling: a scenario answer early in a ceiling phase counts for neither.
        assert!(!phases.answered(Kind::Scenario, t0 + ms(1050)));
        assert!(!phases.answered(Kind::Ceiling, t0 + ms(1050)));
        assert!(!phases.answered(Kind::Ceiling, t0 + ms(500)));
        for _ in 0..30 {
            assert!(phases.answered(Kind::Scenario, t0 + ms(200)));
            assert!(phases.answered(Kind::Scenario, t0 + ms(2200)));
        }
        for _ in 0..60 {
            assert!(phases.answered(Kind::Ceiling, t0 + ms(1200)));
        }
        for _ in 0..100 {
            assert!(phases.answered(Kind::Ceiling, t0 + ms(3900)));
        }
        let ceiling = phases.ceiling(t0 + ms(4000));
        assert_eq!(ceiling.pairs, 2);
        assert_eq!(ceiling.pair_ratios, vec![0.5, 0.3]);
        assert!((ceiling.ratio - 60.0 / 160.0).abs() < 1e-9);
        assert!((ceiling.requests_per_second - 160.0 / 1.8).abs() < 1e-9);
        assert!((phases.scenario_seconds(t0 + ms(4000)) - 1.8).abs() < 1e-9);
    }

    #[test]
    fn phases_after_the_scenario_stopped_are_not_counted() {
        let t0 = Instant::now();
        let phases = Phases::new(t0, t0 + ms(6000), ms(1000), ms(100));
        phases.answered(Kind::Scenario, t0 + ms(500));
        phases.answered(Kind::Ceiling, t0 + ms(1500));
        phases.answered(Kind::Scenario, t0 + ms(2500));
        phases.stop(t0 + ms(3300));
        // The second pair was cut short by the stop: only the first counts in the ratio,
        // while the scenario's own rate covers all the time it was counted.
        let ceiling = phases.ceiling(t0 + ms(6000));
        assert_eq!(ceiling.pairs, 1);
        assert_eq!(ceiling.pair_ratios, vec![1.0]);
        assert!((phases.scenario_seconds(t0 + ms(6000)) - 1.8).abs() < 1e-9);
        // Past the last whole pair nothing is counted.
        assert!(!phases.answered(Kind::Scenario, t0 + ms(6500)));
    }
}
