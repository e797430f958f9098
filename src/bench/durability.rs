//! What the service's group commit waited for during a run, read from its own `/metrics`
//! from the end of the warm-up to the end of the run (with `--ceiling`, its `/health`
//! phases too, which book nothing): the WAL fsyncs every confirmation waits for, and
//! the batches that hold the database. Set beside the run's latency, it tells the disk's
//! share of the tail from the service's. Only the embedded database has a group commit;
//! against PostgreSQL there is nothing to report.

use std::net::SocketAddr;

use serde::Serialize;

use super::client;

/// The two histograms of the booking writer, as `/metrics` shows them at one moment.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    sync: Histogram,
    batch: Histogram,
}

/// A Prometheus histogram: cumulative counts per upper bound (seconds), sum and count.
#[derive(Debug, Clone, Default, PartialEq)]
struct Histogram {
    buckets: Vec<(f64, f64)>,
    sum: f64,
    count: f64,
}

/// The group commit's waits from the end of a run's warm-up to its end.
#[derive(Debug, Serialize)]
pub struct Durability {
    /// fsyncs of the WAL: each answers every booking committed since the one before.
    pub fsyncs: u64,
    /// Upper bounds of the buckets holding the median and the 99th percentile fsync.
    pub fsync_p50_ms_at_most: f64,
    pub fsync_p99_ms_at_most: f64,
    /// Upper bound of the bucket holding the longest fsync: one long stall of the disk
    /// holds up every booking made while it lasts.
    pub fsync_max_ms_at_most: f64,
    pub fsyncs_over_10ms: u64,
    /// Seconds spent in fsync, in all.
    pub fsync_seconds: f64,
    /// Batches the writer ran (each one a transaction, its checkpoint included).
    pub batches: u64,
    pub batch_p99_ms_at_most: f64,
    pub batches_over_10ms: u64,
}

/// Reads the writer's histograms; `None` when the service has none (PostgreSQL, or no
/// booking made yet since it started).
pub async fn snapshot(address: SocketAddr) -> anyhow::Result<Option<Snapshot>> {
    let text = client::metrics(address).await?;
    Ok(parse(&text, "booking_sync_seconds")
        .zip(parse(&text, "booking_batch_seconds"))
        .map(|(sync, batch)| Snapshot { sync, batch }))
}

impl Durability {
    /// The waits between two snapshots; `None` before: the service had no such waits yet.
    pub fn between(before: Option<&Snapshot>, after: &Snapshot) -> Self {
        let zero = Snapshot::default();
        let before = before.unwrap_or(&zero);
        let sync = after.sync.since(&before.sync);
        let batch = after.batch.since(&before.batch);
        Self {
            fsyncs: sync.count as u64,
            fsync_p50_ms_at_most: 1000.0 * sync.quantile(0.5),
            fsync_p99_ms_at_most: 1000.0 * sync.quantile(0.99),
            fsync_max_ms_at_most: 1000.0 * sync.quantile(1.0),
            fsyncs_over_10ms: sync.over(0.01) as u64,
            fsync_seconds: sync.sum,
            batches: batch.count as u64,
            batch_p99_ms_at_most: 1000.0 * batch.quantile(0.99),
            batches_over_10ms: batch.over(0.01) as u64,
        }
    }
}

/// The histogram `name` in Prometheus text, if the text has it.
fn parse(text: &str, name: &str) -> Option<Histogram> {
    let mut histogram = Histogram::default();
    let mut seen = false;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some(rest) = line.strip_prefix(name) else { continue };
        let Some((series, value)) = rest.rsplit_once(' ') else { continue };
        let Ok(value) = value.trim().parse::<f64>() else { continue };
        if let Some(bound) = series.strip_prefix("_bucket{le=\"").and_then(|b| b.strip_suffix("\"}")) {
            let bound = if bound == "+Inf" { f64::INFINITY } else { bound.parse().ok()? };
            histogram.buckets.push((bound, value));
        } else if series == "_sum" {
            histogram.sum = value;
        } else if series == "_count" {
            histogram.count = value;
        } else {
            continue;
        }
        seen = true;
    }
    histogram.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    seen.then_some(histogram)
}

impl Histogram {
    /// What was observed after `before` was read.
    fn since(&self, before: &Self) -> Self {
        let earlier = |bound: f64| before.buckets.iter().find(|(b, _)| *b == bound).map_or(0.0, |(_, n)| *n);
        Self {
            buckets: self.buckets.iter().map(|&(bound, n)| (bound, n - earlier(bound))).collect(),
            sum: self.sum - before.sum,
            count: self.count - before.count,
        }
    }

    /// The upper bound of the bucket holding quantile `q` (0 with no observation).
    fn quantile(&self, q: f64) -> f64 {
        if self.count <= 0.0 {
            return 0.0;
        }
        let rank = q * self.count;
        self.buckets.iter().find(|(_, n)| *n >= rank).map_or(f64::INFINITY, |(bound, _)| *bound)
    }

    /// Observations above `limit`, at least: those beyond the largest bucket bound that
    /// is not above it.
    fn over(&self, limit: f64) -> f64 {
        let within = self.buckets.iter().rev().find(|(b, _)| *b <= limit).map_or(0.0, |(_, n)| *n);
        self.count - within
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `/metrics` text with the fsync histogram at these cumulative counts (within 0.5 ms,
    /// within 10 ms, all) and sum, beside another metric of a similar name.
    fn exposition(counts: [u32; 3], sum: f64) -> String {
        let [fast, within_10ms, all] = counts;
        format!(
            "# TYPE booking_sync_seconds histogram\n\
             booking_sync_seconds_bucket{{le=\"0.0005\"}} {fast}\n\
             booking_sync_seconds_bucket{{le=\"0.01\"}} {within_10ms}\n\
             booking_sync_seconds_bucket{{le=\"+Inf\"}} {all}\n\
             booking_sync_seconds_sum {sum}\n\
             booking_sync_seconds_count {all}\n\
             booking_sync_size_count 4000\n"
        )
    }

    #[test]
    fn a_histogram_is_read_by_its_own_name_only() {
        let after = exposition([80, 105, 110], 0.5);
        let sync = parse(&after, "booking_sync_seconds").expect("present");
        assert_eq!(sync.buckets, vec![(0.0005, 80.0), (0.01, 105.0), (f64::INFINITY, 110.0)]);
        assert_eq!((sync.sum, sync.count), (0.5, 110.0), "booking_sync_size is another metric");
        assert_eq!(parse(&after, "booking_batch_seconds"), None);
    }

    #[test]
    fn the_run_counts_only_what_came_after_the_first_snapshot() {
        let before = parse(&exposition([10, 10, 10], 0.002), "booking_sync_seconds").unwrap();
        let run = parse(&exposition([80, 105, 110], 0.5), "booking_sync_seconds").unwrap().since(&before);
        assert_eq!(run.count, 100.0);
        assert!((run.sum - 0.498).abs() < 1e-12);
        // 70 of 100 within 0.5 ms, 95 within 10 ms, 5 beyond.
        assert_eq!(run.quantile(0.5), 0.0005);
        assert_eq!(run.quantile(0.9), 0.01);
        assert_eq!(run.quantile(0.99), f64::INFINITY);
        assert_eq!(run.quantile(1.0), f64::INFINITY);
        assert_eq!(before.quantile(1.0), 0.0005);
        assert_eq!(run.over(0.01), 5.0);
        assert_eq!(run.over(0.02), 5.0, "no bucket at 20 ms: counted from the one at 10 ms");
        assert_eq!(run.over(0.0001), 100.0);
    }
}
