//! Keeping the embedded database: consistent backups while the service sells (on demand
//! with `tickitecking backup`, or on a schedule from `serve`), and restores that refuse
//! anything but a sound backup this binary can open. PostgreSQL deployments use
//! PostgreSQL's own tools instead (docs/operations.md).

mod place;
mod restore;
mod snapshot;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

pub use place::BackupPlace;
pub use restore::{RestoreTarget, Restored, check, restore};
pub use snapshot::Extras;

use crate::config::{Config, ImageStore};
use crate::store::DatabaseUrl;

/// Scheduled backups from `serve`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSchedule {
    pub every: Duration,
    /// A folder or a bucket.
    pub place: BackupPlace,
    /// How many of the newest backups to keep there.
    pub keep: usize,
}

/// What is backed up: the SQLite database and the files beside it.
#[derive(Debug, Clone)]
pub struct Source {
    pub database: PathBuf,
    pub extras: Extras,
    /// Where a backup bound for a bucket is written first.
    pub staging: PathBuf,
}

/// Refusal for PostgreSQL, whose own tools do this better.
const POSTGRES_TOOLS: &str = "backups and restores of PostgreSQL are made with PostgreSQL's own tools \
     (pg_dump, pg_basebackup, WAL archiving): see docs/operations.md";

impl Source {
    /// The configured SQLite database with its posters (when in a local folder) and the
    /// keys generated into its data dir (the JWT secret, the ticket signing key), unless
    /// configured.
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        let DatabaseUrl::Sqlite(url) = &config.database else { bail!(POSTGRES_TOOLS) };
        let database = crate::store::sqlite::database_file(url)?;
        let mut notes = Vec::new();
        let posters = match &config.image_store {
            ImageStore::Folder(dir) => Some(dir.clone()),
            ImageStore::S3 { bucket, prefix, .. } => {
                notes.push(format!(
                    "posters: in s3://{bucket}/{prefix}, kept by that bucket (versioning or replication)"
                ));
                None
            }
        };
        // The keys generated into the data dir (a configured one is kept with the secrets).
        let mut secrets = Vec::new();
        if config.jwt_secret.is_some() {
            notes.push("JWT secret: JWT_SECRET from the configuration, kept with your secrets".to_owned());
        } else {
            secrets.push(config.data_dir.join("jwt-secret"));
        }
        if config.ticket_signing_key.is_some() {
            notes.push(
                "ticket key: TICKET_SIGNING_KEY from the configuration, kept with your secrets".to_owned(),
            );
        } else {
            secrets.push(config.data_dir.join(crate::ticket::key::KEY_FILE));
        }
        Ok(Self { database, extras: Extras { posters, secrets, notes }, staging: config.data_dir.clone() })
    }
}

/// Where a restore puts the configured database and files.
pub fn restore_target(config: &Config) -> anyhow::Result<RestoreTarget> {
    let source = Source::from_config(config)?;
    Ok(RestoreTarget {
        database: source.database,
        posters: source.extras.posters,
        secrets: source.extras.secrets,
    })
}

/// A backup taken.
#[derive(Debug, Clone)]
pub struct Taken {
    /// Where it is (a path or an `s3://` URL).
    pub location: String,
    pub bytes: u64,
    pub schema_version: i64,
    pub posters: usize,
    /// The names of the keys it holds.
    pub secrets: Vec<String>,
    /// The database copy alone (its read transaction).
    pub copy: Duration,
    /// All of it, upload included.
    pub total: Duration,
    /// What is not in it, and where that is kept instead.
    pub notes: Vec<String>,
}

impl std::fmt::Display for Taken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "backup written to {} ({} bytes, schema version {}, database copied in {} ms, {} ms in all; {} poster file(s){})",
            self.location,
            self.bytes,
            self.schema_version,
            self.copy.as_millis(),
            self.total.as_millis(),
            self.posters,
            secrets_named(&self.secrets),
        )?;
        for note in &self.notes {
            write!(f, "; not included: {note}")?;
        }
        Ok(())
    }
}

/// `, keys: a, b` for the keys a backup holds, or nothing.
pub fn secrets_named(secrets: &[String]) -> String {
    if secrets.is_empty() { String::new() } else { format!(", keys: {}", secrets.join(", ")) }
}

/// Takes one backup of `source` to `place`.
pub async fn take(source: &Source, place: &BackupPlace) -> anyhow::Result<Taken> {
    let started = Instant::now();
    let local = place::local_destination(place, &source.staging)?;
    let snapshot = {
        let (database, extras, local) = (source.database.clone(), source.extras.clone(), local.clone());
        in_background(move || snapshot::write(&database, &extras, &local)).await?
    };
    let location = place::deliver(place, &snapshot.path).await?;
    Ok(Taken {
        location,
        bytes: snapshot.bytes,
        schema_version: snapshot.schema_version,
        posters: snapshot.posters,
        secrets: snapshot.secrets,
        copy: snapshot.copy,
        total: started.elapsed(),
        notes: source.extras.notes.clone(),
    })
}

/// Runs `work` on a thread of its own at a lower CPU priority, so a backup takes what the
/// booking path leaves rather than competing with it (on Linux; elsewhere at normal
/// priority).
async fn in_background<T: Send + 'static>(
    work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("backup".into())
        .spawn(move || {
            lower_priority();
            let _ = tx.send(work());
        })
        .context("starting the backup thread")?;
    rx.await.context("the backup thread stopped")?
}

#[cfg(target_os = "linux")]
fn lower_priority() {
    // SAFETY: plain system calls on the calling thread's own id; a failure only leaves
    // the priority as it was.
    unsafe {
        let thread = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, thread, 10);
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

/// Takes a backup every `schedule.every` until the service stops, keeping the newest
/// `schedule.keep`. A failed backup is logged, counted on `/metrics` and tried again
/// sooner (after 30 s, doubling, at most `every`); selling is never held up by it.
pub async fn run_schedule(source: Source, schedule: BackupSchedule) {
    tracing::info!(
        "backups every {} to {}, keeping {}",
        humantime::format_duration(schedule.every),
        schedule.place.describe(),
        schedule.keep
    );
    let mut failures: u32 = 0;
    loop {
        tokio::time::sleep(next_try(failures, schedule.every)).await;
        match take(&source, &schedule.place).await {
            Ok(taken) => {
                failures = 0;
                record_success(&taken);
                tracing::info!("{taken}");
                match place::prune(&schedule.place, schedule.keep).await {
                    Ok(0) => {}
                    Ok(removed) => {
                        tracing::info!("removed {removed} old backup(s) from {}", schedule.place.describe())
                    }
                    Err(e) => tracing::warn!("removing old backups failed: {e:#}"),
                }
            }
            Err(e) => {
                failures += 1;
                metrics::counter!("backups_total", "outcome" => "failed").increment(1);
                metrics::gauge!("backup_consecutive_failures").set(f64::from(failures));
                metrics::gauge!("backup_last_failure_timestamp_seconds").set(unix_now());
                tracing::error!(
                    "backup to {} failed ({failures} in a row), trying again in {}: {e:#}",
                    schedule.place.describe(),
                    humantime::format_duration(
                        (Duration::from_secs(30) * 2u32.saturating_pow(failures - 1)).min(schedule.every)
                    ),
                );
            }
        }
    }
}

/// How long to wait for the next backup after `failures` failures in a row: the period,
/// or sooner while failing (30 s, doubling, at most the period).
fn next_try(failures: u32, every: Duration) -> Duration {
    match failures {
        0 => every,
        n => Duration::from_secs(30).saturating_mul(2u32.saturating_pow(n - 1)).min(every),
    }
}

fn record_success(taken: &Taken) {
    metrics::counter!("backups_total", "outcome" => "ok").increment(1);
    metrics::gauge!("backup_consecutive_failures").set(0.0);
    metrics::gauge!("backup_last_success_timestamp_seconds").set(unix_now());
    metrics::gauge!("backup_last_duration_seconds").set(taken.total.as_secs_f64());
    metrics::gauge!("backup_last_copy_seconds").set(taken.copy.as_secs_f64());
    metrics::gauge!("backup_last_size_bytes").set(taken.bytes as f64);
}

fn unix_now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// Makes `/metrics` show the backup figures from the start, before the first backup.
pub fn describe_metrics() {
    metrics::counter!("backups_total", "outcome" => "ok").increment(0);
    metrics::counter!("backups_total", "outcome" => "failed").increment(0);
    metrics::gauge!("backup_consecutive_failures").set(0.0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_backup_is_tried_again_sooner_but_never_later_than_the_period() {
        let every = Duration::from_secs(15 * 60);
        let waits: Vec<u64> = (0..7).map(|n| next_try(n, every).as_secs()).collect();
        assert_eq!(waits, [900, 30, 60, 120, 240, 480, 900]);
        assert_eq!(next_try(40, every), every, "no overflow after many failures");
        assert_eq!(next_try(1, Duration::from_secs(1)), Duration::from_secs(1));
    }
}
