//! Group commit for bookings. Bookings and cancellations queue here; whatever is waiting
//! when the previous batch is done forms the next batch, which runs one job after the
//! other inside one transaction (each job either a single statement or its own savepoint,
//! so a refused one leaves no trace) and commits with a single fsync. Nobody is answered
//! before that commit is on disk, so a confirmation still means durable — but a rush
//! costs one fsync per batch instead of one per booking.
//!
//! The batch runs on a thread of its own with its own connection and prepared statements:
//! synchronous SQLite calls in a tight loop, instead of one round trip through the async
//! runtime per statement, which on a busy runtime waits behind every request in the
//! queue. The service's other writes go through the one-connection write pool; holding
//! that pool's connection while a batch runs makes it the single write lock of the
//! database, taken in turn (the pool queues fairly), so neither side ever meets
//! `SQLITE_BUSY`.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use rusqlite::Connection;
use sqlx::sqlite::SqlitePool;
use tokio::sync::{mpsc, oneshot};

use super::booking_sql::{OwnedBooking, OwnedCancel, book_in, cancel_in, store_error, version};
use crate::store::{Booked, BookingError, Cancelled, StoreError};

/// Most jobs committed together: bounds the time the database is held for writing.
const MAX_BATCH: usize = 256;

/// A write the writer runs for a caller.
#[derive(Debug)]
pub(super) enum Job {
    Book(OwnedBooking),
    Cancel(OwnedCancel),
}

/// What a job did.
#[derive(Debug)]
pub(super) enum Done {
    Booked(Booked),
    Cancelled(Cancelled),
}

impl Done {
    fn set_version(&mut self, version: i64) {
        match self {
            Done::Booked(b) => b.version = version,
            Done::Cancelled(c) if c.version.is_some() => c.version = Some(version),
            Done::Cancelled(_) => {}
        }
    }
}

type Reply = oneshot::Sender<Result<Done, BookingError>>;
type Batch = Vec<(Job, Reply)>;

/// The queue in front of the booking writer.
#[derive(Debug, Clone)]
pub(super) struct BookingWriter {
    queue: mpsc::Sender<(Job, Reply)>,
}

impl BookingWriter {
    /// Opens the writer's connection to the database file at `path` and starts the writer;
    /// `write_pool` is the service's one-connection write pool, taken as the write lock.
    pub(super) fn start(path: &Path, write_pool: SqlitePool) -> anyhow::Result<Self> {
        let conn = open(path)?;
        let (queue, jobs) = mpsc::channel(4 * MAX_BATCH);
        let (batches, batch_rx) = std::sync::mpsc::sync_channel::<(Batch, oneshot::Sender<()>)>(1);
        std::thread::Builder::new()
            .name("booking-writer".into())
            .spawn(move || {
                for (batch, done) in batch_rx {
                    commit_batch(&conn, batch);
                    let _ = done.send(());
                }
            })
            .context("starting the booking writer thread")?;
        tokio::spawn(feed(write_pool, jobs, batches));
        Ok(Self { queue })
    }

    async fn run_job(&self, job: Job) -> Result<Done, BookingError> {
        let (reply, answer) = oneshot::channel();
        self.queue.send((job, reply)).await.map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }

    /// Books through the group commit; answers once the booking is durable (or refused).
    pub(super) async fn book(&self, booking: OwnedBooking) -> Result<Booked, BookingError> {
        match self.run_job(Job::Book(booking)).await? {
            Done::Booked(booked) => Ok(booked),
            Done::Cancelled(_) => Err(closed()),
        }
    }

    /// Cancels through the group commit; answers once the cancellation is durable.
    pub(super) async fn cancel(&self, cancel: OwnedCancel) -> Result<Cancelled, BookingError> {
        match self.run_job(Job::Cancel(cancel)).await? {
            Done::Cancelled(cancelled) => Ok(cancelled),
            Done::Booked(_) => Err(closed()),
        }
    }
}

/// The writer's own connection, set up like the pools' (WAL, synchronous commits,
/// foreign keys), with room for every statement of a batch in its statement cache.
fn open(path: &Path) -> anyhow::Result<Connection> {
    let conn = Connection::open(path).with_context(|| format!("opening {} for bookings", path.display()))?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;
         PRAGMA temp_store = MEMORY;",
    )?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

fn closed() -> BookingError {
    BookingError::Store(StoreError::Other(anyhow::anyhow!("the booking writer has stopped")))
}

/// Hands batches to the writer thread, each while holding the write lock.
async fn feed(
    write_pool: SqlitePool,
    mut jobs: mpsc::Receiver<(Job, Reply)>,
    batches: std::sync::mpsc::SyncSender<(Batch, oneshot::Sender<()>)>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while jobs.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let lock = match write_pool.acquire().await {
            Ok(lock) => lock,
            Err(e) => {
                let unavailable = matches!(e, sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed);
                for (_, reply) in batch.drain(..) {
                    let err = if unavailable {
                        StoreError::Unavailable(sqlx::Error::PoolTimedOut)
                    } else {
                        StoreError::Other(anyhow::anyhow!("taking the write lock: {e}"))
                    };
                    let _ = reply.send(Err(BookingError::Store(err)));
                }
                continue;
            }
        };
        // What arrived while waiting for the lock joins this batch.
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        metrics::histogram!("booking_batch_size").record(batch.len() as f64);
        let (done, finished) = oneshot::channel();
        if batches.send((std::mem::take(&mut batch), done)).is_err() {
            return;
        }
        // The thread answers every job itself; this only waits to release the lock.
        let _ = finished.await;
        drop(lock);
        batch.reserve(MAX_BATCH);
    }
}

/// Answers every job of a batch whose shared transaction failed: none of it is committed.
fn fail_all(jobs: Vec<Reply>, why: &str) {
    for reply in jobs {
        let err = StoreError::Other(anyhow::anyhow!("booking batch not committed: {why}"));
        let _ = reply.send(Err(BookingError::Store(err)));
    }
}

fn commit_batch(conn: &Connection, jobs: Batch) {
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        let why = e.to_string();
        let busy = matches!(store_error(e), StoreError::Unavailable(_));
        for (_, reply) in jobs {
            let err = if busy {
                StoreError::Unavailable(sqlx::Error::PoolTimedOut)
            } else {
                StoreError::Other(anyhow::anyhow!("beginning a booking batch: {why}"))
            };
            let _ = reply.send(Err(BookingError::Store(err)));
        }
        return;
    }
    match run_jobs(conn, jobs) {
        Ok(done_jobs) => match conn.execute_batch("COMMIT") {
            Ok(()) => {
                for (reply, done) in done_jobs {
                    let _ = reply.send(Ok(done));
                }
            }
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                fail_all(done_jobs.into_iter().map(|(r, _)| r).collect(), &e.to_string());
            }
        },
        Err(done_replies) => {
            let _ = conn.execute_batch("ROLLBACK");
            fail_all(done_replies, "an earlier write of the batch failed");
        }
    }
}

/// Runs every job of the batch in the open transaction. Refused jobs are answered at
/// once (they left nothing behind); done ones are returned to be answered after the
/// commit. Should storage itself fail, the transaction cannot be trusted: the failing
/// job is answered and the replies of the done ones are returned to be failed too.
fn run_jobs(conn: &Connection, jobs: Batch) -> Result<Vec<(Reply, Done)>, Vec<Reply>> {
    // Each seat-status change bumps its concert's map version by exactly one (trigger
    // `seats_bump_map_version`), and only this transaction writes: so reading a concert's
    // version once, before its first job, gives every job its exact version by counting.
    let mut versions: HashMap<i64, i64> = HashMap::new();
    let mut done_jobs: Vec<(Reply, Done)> = Vec::with_capacity(jobs.len());
    for (job, reply) in jobs {
        let concert = match &job {
            Job::Book(booking) => booking.concert_id,
            Job::Cancel(cancel) => cancel.concert_id,
        };
        if let Entry::Vacant(slot) = versions.entry(concert) {
            match version(conn, concert) {
                Ok(Some(v)) => {
                    slot.insert(v);
                }
                // No such concert: the job itself will say so.
                Ok(None) => {}
                Err(e) => {
                    let _ = reply.send(Err(e));
                    return Err(done_jobs.into_iter().map(|(r, _)| r).collect());
                }
            }
        }
        let outcome = match &job {
            Job::Book(booking) => book_in(conn, booking).map(Done::Booked),
            Job::Cancel(cancel) => cancel_in(conn, cancel).map(Done::Cancelled),
        };
        match outcome {
            Ok(mut done) => {
                let changes = match &done {
                    Done::Booked(b) if !b.replayed => b.reservations.len() as i64,
                    Done::Cancelled(c) if c.version.is_some() => 1,
                    _ => 0,
                };
                let current = versions.entry(concert).or_default();
                *current += changes;
                done.set_version(*current);
                done_jobs.push((reply, done));
            }
            Err(BookingError::Store(e)) => {
                let _ = reply.send(Err(BookingError::Store(e)));
                return Err(done_jobs.into_iter().map(|(r, _)| r).collect());
            }
            Err(refused) => {
                let _ = reply.send(Err(refused));
            }
        }
    }
    Ok(done_jobs)
}
