//! Run statistics: an HDR latency histogram, status counts, throughput.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::durability::Durability;
use super::phases::Ceiling;

/// What one worker saw.
pub struct Tally {
    pub latency_us: Histogram<u64>,
    pub statuses: BTreeMap<u16, u64>,
    pub errors: u64,
    /// Reservation ids of every 201 (booking scenarios).
    pub booked: Vec<i64>,
    /// Reservation ids this worker cancelled again (mixed scenario).
    pub cancelled: Vec<i64>,
    /// Order ids whose payment event was answered 200 (webhook scenario), warm-up included.
    pub paid: Vec<i64>,
    /// Payment events answered otherwise (webhook scenario), warm-up included.
    pub not_taken: u64,
    /// Ticket ids whose scan was answered 200 `ADMITTED` (checkin scenario), warm-up
    /// included.
    pub admitted: Vec<i64>,
    /// Scans answered otherwise (checkin scenario), warm-up included.
    pub not_admitted: u64,
}

impl Tally {
    pub fn new() -> anyhow::Result<Self> {
        Ok(Self {
            latency_us: Histogram::new_with_bounds(1, 60_000_000, 3)?,
            statuses: BTreeMap::new(),
            errors: 0,
            booked: Vec::new(),
            cancelled: Vec::new(),
            paid: Vec::new(),
            not_taken: 0,
            admitted: Vec::new(),
            not_admitted: 0,
        })
    }

    pub fn record(&mut self, status: u16, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX).clamp(1, 60_000_000);
        let _ = self.latency_us.record(us);
        *self.statuses.entry(status).or_default() += 1;
    }

    pub fn merge(&mut self, other: Tally) -> anyhow::Result<()> {
        self.latency_us.add(&other.latency_us)?;
        for (status, n) in other.statuses {
            *self.statuses.entry(status).or_default() += n;
        }
        self.errors += other.errors;
        self.booked.extend(other.booked);
        self.cancelled.extend(other.cancelled);
        self.paid.extend(other.paid);
        self.not_taken += other.not_taken;
        self.admitted.extend(other.admitted);
        self.not_admitted += other.not_admitted;
        Ok(())
    }
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Serialize)]
pub struct Latency {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

impl Latency {
    /// The percentiles of a histogram of microseconds.
    pub fn of(h: &Histogram<u64>) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        Latency {
            p50_ms: ms(h.value_at_quantile(0.5)),
            p90_ms: ms(h.value_at_quantile(0.9)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
            mean_ms: h.mean() / 1000.0,
        }
    }
}

/// The outcome of a run.
#[derive(Debug, Serialize)]
pub struct Report {
    pub scenario: String,
    pub mode: String,
    pub connections: usize,
    pub seconds: f64,
    pub requests: u64,
    pub requests_per_second: f64,
    /// 2xx answers per second (bookings per second in `spread`, events taken in `webhook`,
    /// admissions in `checkin`).
    pub successes_per_second: f64,
    /// 409 answers per second (refusals in `rush`).
    pub refusals_per_second: f64,
    pub transport_errors: u64,
    pub statuses: BTreeMap<u16, u64>,
    pub latency: Latency,
    /// Result of the after-run check through the API, when the scenario books.
    pub verification: Option<Verification>,
    /// `webhook`: the after-run check that every order whose event was taken is paid, once.
    pub payments: Option<super::webhook::Payments>,
    /// `checkin`: the after-run check that the door counts exactly the admissions answered
    /// and admits none of them twice.
    pub admissions: Option<super::checkin::Admissions>,
    /// With `--rate N%`: the closed-loop peak (answers per second) measured first.
    pub peak_per_second: Option<f64>,
    /// With `--ceiling`: `/health` measured in the same run, and the scenario's share.
    pub ceiling: Option<Ceiling>,
    /// What the service's group commit waited for after the warm-up (embedded
    /// database only): the disk's part of the latency.
    pub durability: Option<Durability>,
    /// The arena scenarios' set-up: its creation time and memory per place.
    pub arena: Option<super::arena::ArenaSetup>,
    /// `standing`: places the floor sold in all (it has [`super::arena::FLOOR`]).
    pub floor_sold: Option<u64>,
    /// `queue`: the joins, the memory per waiting fan, admission and the bookings behind
    /// the room (the report's own figures are the status reads).
    pub queue: Option<super::queue::QueueRun>,
}

/// The after-run check: nothing sold twice, every confirmation still a booking.
#[derive(Debug, Serialize)]
pub struct Verification {
    pub confirmed: usize,
    pub confirmed_found_active: usize,
    pub active_reservations: usize,
    pub seats_sold_twice: usize,
    pub ok: bool,
}

impl Report {
    pub fn new(scenario: &str, mode: String, connections: usize, elapsed: Duration, tally: &Tally) -> Self {
        let seconds = elapsed.as_secs_f64().max(1e-9);
        let requests: u64 = tally.statuses.values().sum();
        let count = |pred: &dyn Fn(u16) -> bool| {
            tally.statuses.iter().filter(|(s, _)| pred(**s)).map(|(_, n)| n).sum::<u64>()
        };
        Self {
            scenario: scenario.to_owned(),
            mode,
            connections,
            seconds,
            requests,
            requests_per_second: requests as f64 / seconds,
            successes_per_second: count(&|s| (200..300).contains(&s)) as f64 / seconds,
            refusals_per_second: count(&|s| s == 409) as f64 / seconds,
            transport_errors: tally.errors,
            statuses: tally.statuses.clone(),
            latency: Latency::of(&tally.latency_us),
            verification: None,
            payments: None,
            admissions: None,
            peak_per_second: None,
            ceiling: None,
            durability: None,
            arena: None,
            floor_sold: None,
            queue: None,
        }
    }

    /// The report for people.
    pub fn text(&self) -> String {
        let statuses: Vec<String> = self.statuses.iter().map(|(s, n)| format!("{s}: {n}")).collect();
        let mut out = format!(
            "scenario {} ({}), {} connections, {:.1} s\n\
             requests   {} ({:.0}/s), 2xx {:.0}/s, 409 {:.0}/s, transport errors {}\n\
             statuses   {}\n\
             latency ms p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}  mean {:.2}\n",
            self.scenario,
            self.mode,
            self.connections,
            self.seconds,
            self.requests,
            self.requests_per_second,
            self.successes_per_second,
            self.refusals_per_second,
            self.transport_errors,
            statuses.join(", "),
            self.latency.p50_ms,
            self.latency.p90_ms,
            self.latency.p99_ms,
            self.latency.p999_ms,
            self.latency.max_ms,
            self.latency.mean_ms,
        );
        if let Some(arena) = &self.arena {
            out.push_str(&arena.text());
        }
        if let Some(sold) = self.floor_sold {
            out.push_str(&format!("floor      {sold} of {} places sold\n", super::arena::FLOOR));
        }
        if let Some(queue) = &self.queue {
            out.push_str(&queue.text());
        }
        if let Some(c) = &self.ceiling {
            let (low, high) =
                c.pair_ratios.iter().fold((f64::MAX, 0.0_f64), |(l, h), r| (l.min(*r), h.max(*r)));
            out.push_str(&format!(
                "ceiling    GET /health {:.0}/s in the same run ({} pairs of {:.1} s phases): {:.1}% of it \
                 (pairs {:.1}–{:.1}%)\n",
                c.requests_per_second,
                c.pairs,
                c.phase_seconds,
                100.0 * c.ratio,
                100.0 * if c.pairs > 0 { low } else { 0.0 },
                100.0 * high,
            ));
        }
        if let Some(d) = &self.durability {
            out.push_str(&format!(
                "durability {} WAL fsyncs: p50 {}, p99 {}, longest {}, {} over 10 ms, {:.2} s in all; \
                 {} batches: p99 {}, {} over 10 ms\n",
                d.fsyncs,
                at_most(d.fsync_p50_ms_at_most),
                at_most(d.fsync_p99_ms_at_most),
                at_most(d.fsync_max_ms_at_most),
                d.fsyncs_over_10ms,
                d.fsync_seconds,
                d.batches,
                at_most(d.batch_p99_ms_at_most),
                d.batches_over_10ms,
            ));
        }
        if let Some(v) = &self.verification {
            out.push_str(&format!(
                "verified   {}: {} confirmed, {} of them active, {} active in all, {} seats sold twice\n",
                if v.ok { "OK" } else { "FAILED" },
                v.confirmed,
                v.confirmed_found_active,
                v.active_reservations,
                v.seats_sold_twice
            ));
        }
        if let Some(p) = &self.payments {
            out.push_str(&format!(
                "verified   {}: {} of {} orders paid by events taken (200), {} events not taken; the service \
                 lists {} PAID and {} pending; {} of {} read back paid once\n",
                if p.ok { "OK" } else { "FAILED" },
                p.taken,
                p.orders,
                p.not_taken,
                p.paid_orders,
                p.pending_orders,
                p.sampled_paid_once,
                p.sampled
            ));
        }
        if let Some(a) = &self.admissions {
            out.push_str(&format!(
                "verified   {}: {} of {} tickets admitted (200 ADMITTED), {} scans answered otherwise; the \
                 door's stats count {} admitted of {}; {} of {} admitted tickets scanned again refused (409 \
                 ALREADY_CHECKED_IN)\n",
                if a.ok { "OK" } else { "FAILED" },
                a.admitted,
                a.tickets,
                a.not_admitted,
                a.door_admitted,
                a.door_total,
                a.sampled_refused,
                a.sampled
            ));
        }
        out
    }
}

/// A bucket's upper bound in milliseconds, as text; past the last bucket, "over 10 s".
fn at_most(ms: f64) -> String {
    if ms.is_finite() { format!("≤ {ms} ms") } else { "> 10 s".into() }
}
