//! Group commit for bookings. Bookings and cancellations queue here; whatever is waiting
//! when the previous batch is done forms the next batch, which runs one job after the
//! other inside one transaction (each job either a single statement or its own savepoint,
//! so a refused one leaves no trace) and commits. Nobody is answered before that commit
//! is on disk, so a confirmation still means durable — but a rush costs one fsync per
//! round of batches instead of one per booking.
//!
//! Two threads: the writer gathers a batch, takes the write lock and runs the batch with
//! its own connection and prepared statements — synchronous SQLite calls in a tight loop,
//! instead of one round trip through the async runtime per statement — and the seat
//! layouts of the concerts it books in memory ([`super::layouts`]), so that a single-seat
//! booking is one INSERT. It gives the lock back as soon as it has committed; the sync
//! thread fsyncs the WAL and only then answers.
//! So the next batch runs while the last one is being made durable. The service's other
//! writes take the same lock ([`super::write_lock`]) before they use the one-connection
//! write pool, so neither side ever meets `SQLITE_BUSY`.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use rusqlite::Connection;
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::booking_sql::{OwnedBooking, OwnedCancel, book_in, cancel_in, store_error};
use super::layouts::{self, BatchConcert, Layouts};
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
    /// `write_lock` is the database's write lock, taken for each batch.
    pub(super) fn start(path: &Path, write_lock: Arc<Semaphore>) -> anyhow::Result<Self> {
        let conn = open(path)?;
        let wal = wal_path(path);
        let runtime = tokio::runtime::Handle::current();
        let (queue, jobs) = mpsc::channel(4 * MAX_BATCH);
        let (committed, committed_rx) = std::sync::mpsc::channel::<Vec<(Reply, Done)>>();
        std::thread::Builder::new()
            .name("booking-writer".into())
            .spawn(move || write_batches(&conn, &runtime, &write_lock, jobs, &committed))
            .context("starting the booking writer thread")?;
        std::thread::Builder::new()
            .name("booking-sync".into())
            .spawn(move || sync_and_answer(&wal, committed_rx))
            .context("starting the booking sync thread")?;
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

/// The writer's own connection, set up like the pools' (WAL, foreign keys), with room for
/// every statement of a batch in its statement cache, and a page cache large enough
/// (32 MiB at most) that a rush's seats and indexes stay in it rather than being read
/// back from the file each batch. Its commits are made durable by
/// [`sync_and_answer`] rather than by SQLite: `synchronous = NORMAL` still syncs the WAL
/// before each checkpoint and the database after it, so nothing a checkpoint moves out of
/// the WAL is ever only in memory.
fn open(path: &Path) -> anyhow::Result<Connection> {
    let conn = super::open_direct(
        path,
        "bookings",
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;
         PRAGMA temp_store = MEMORY; PRAGMA cache_size = -32768;",
    )?;
    conn.set_prepared_statement_cache_capacity(40);
    Ok(conn)
}

fn closed() -> BookingError {
    BookingError::Store(StoreError::Other(anyhow::anyhow!("the booking writer has stopped")))
}

/// The writer thread: gathers a batch, takes the write lock, runs and commits the batch,
/// gives the lock back and hands the batch on to be made durable and answered. It waits
/// for jobs and for the lock right here, on its own thread, so that neither wake-up queues
/// behind the runtime's requests.
fn write_batches(
    conn: &Connection,
    runtime: &tokio::runtime::Handle,
    write_lock: &Semaphore,
    mut jobs: mpsc::Receiver<(Job, Reply)>,
    committed: &std::sync::mpsc::Sender<Vec<(Reply, Done)>>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut layouts = Layouts::default();
    loop {
        let lock = runtime.block_on(async {
            if jobs.recv_many(&mut batch, MAX_BATCH).await == 0 {
                return None;
            }
            Some(write_lock.acquire().await)
        });
        let lock = match lock {
            None => return,
            Some(Ok(lock)) => lock,
            // The lock is never closed while the store is open.
            Some(Err(_)) => {
                for (_, reply) in batch.drain(..) {
                    let err = StoreError::Unavailable(sqlx::Error::PoolClosed);
                    let _ = reply.send(Err(BookingError::Store(err)));
                }
                return;
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
        let started = Instant::now();
        let done_jobs = commit_batch(conn, &mut layouts, std::mem::take(&mut batch));
        // How long the batch held the database (a commit that checkpoints includes the
        // checkpoint's own fsync of the database file).
        metrics::histogram!("booking_batch_seconds").record(started.elapsed());
        // The lock goes back at once: the next batch runs while this one is made durable.
        drop(lock);
        if !done_jobs.is_empty() && committed.send(done_jobs).is_err() {
            return;
        }
    }
}

/// Answers every job of a batch whose shared transaction failed: none of it is committed.
fn fail_all(jobs: Vec<Reply>, why: &str) {
    for reply in jobs {
        let err = StoreError::Other(anyhow::anyhow!("booking batch not committed: {why}"));
        let _ = reply.send(Err(BookingError::Store(err)));
    }
}

/// Runs a batch in one transaction and commits it; returns the jobs it did, to be answered
/// once the commit is durable. Jobs refused or failed are answered here.
fn commit_batch(conn: &Connection, layouts: &mut Layouts, jobs: Batch) -> Vec<(Reply, Done)> {
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
        return Vec::new();
    }
    match run_jobs(conn, layouts, jobs) {
        Ok(done_jobs) => match conn.execute_batch("COMMIT") {
            Ok(()) => done_jobs,
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                fail_all(done_jobs.into_iter().map(|(r, _)| r).collect(), &e.to_string());
                Vec::new()
            }
        },
        Err(done_replies) => {
            let _ = conn.execute_batch("ROLLBACK");
            fail_all(done_replies, "an earlier write of the batch failed");
            Vec::new()
        }
    }
}

/// The WAL file of the database at `path`, where SQLite appends every commit.
fn wal_path(path: &Path) -> PathBuf {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    PathBuf::from(wal)
}

/// Answers committed batches once they are on disk. Whatever was committed while the last
/// sync ran is made durable by one `fsync` of the WAL (which covers every write to the
/// file before it) and then answered: the write lock is never held across an fsync, and
/// a rush costs one fsync per round of batches however fast they come.
fn sync_and_answer(wal: &Path, committed: std::sync::mpsc::Receiver<Vec<(Reply, Done)>>) {
    let mut file: Option<File> = None;
    while let Ok(mut answered) = committed.recv() {
        while let Ok(more) = committed.try_recv() {
            answered.extend(more);
        }
        let started = Instant::now();
        let synced = match &file {
            Some(file) => file.sync_data(),
            None => File::open(wal).and_then(|opened| {
                let result = opened.sync_data();
                file = Some(opened);
                result
            }),
        };
        match synced {
            Ok(()) => {
                // The disk's share of every confirmation's latency: under a durable
                // commit, nothing answers faster than this.
                metrics::histogram!("booking_sync_seconds").record(started.elapsed());
                metrics::histogram!("booking_sync_size").record(answered.len() as f64);
                for (reply, done) in answered {
                    let _ = reply.send(Ok(done));
                }
            }
            Err(e) => {
                // Committed but perhaps not on disk: never confirmed. A retry with the same
                // idempotency key finds the booking if it stood.
                tracing::error!(error = %e, wal = %wal.display(), "syncing bookings to disk failed");
                file = None;
                fail_all(answered.into_iter().map(|(r, _)| r).collect(), "syncing to disk failed");
            }
        }
    }
}

/// Runs every job of the batch in the open transaction. Refused jobs are answered at
/// once (they left nothing behind); done ones are returned to be answered after the
/// commit. Should storage itself fail, the transaction cannot be trusted: the failing
/// job is answered and the replies of the done ones are returned to be failed too.
fn run_jobs(conn: &Connection, layouts: &mut Layouts, jobs: Batch) -> Result<Vec<(Reply, Done)>, Vec<Reply>> {
    // Each seat-status change bumps its concert's map version by exactly one (trigger
    // `seats_bump_map_version`), and only this transaction writes: so reading a concert's
    // version once, before its first job, gives every job its exact version by counting.
    // Per concert: its versions (the map version as counted so far) and checkout terms.
    let mut concerts: HashMap<i64, BatchConcert> = HashMap::new();
    let mut done_jobs: Vec<(Reply, Done)> = Vec::with_capacity(jobs.len());
    for (job, reply) in jobs {
        let concert = match &job {
            Job::Book(booking) => booking.concert_id,
            Job::Cancel(cancel) => cancel.concert_id,
        };
        let outcome = prepare(conn, layouts, &mut concerts, concert, &job).and_then(|()| match &job {
            Job::Book(booking) => {
                let selling = concerts.get(&concert).and_then(|c| c.selling);
                book_in(conn, layouts, booking, selling).map(Done::Booked)
            }
            Job::Cancel(cancel) => cancel_in(conn, cancel).map(Done::Cancelled),
        });
        match outcome {
            Ok(mut done) => {
                let changes = match &done {
                    Done::Booked(b) if !b.replayed => (b.reservations.len() + b.released.len()) as i64,
                    Done::Cancelled(c) if c.version.is_some() => 1,
                    _ => 0,
                };
                if let Some(read) = concerts.get_mut(&concert) {
                    read.map_version += changes;
                    done.set_version(read.map_version);
                }
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

/// Before a job: at the batch's first job of the concert, reads its versions and checkout
/// terms; before a booking, makes sure the writer's layout of the concert is the stored
/// one (nothing in the batch changes it; a cancellation never needs it).
fn prepare(
    conn: &Connection,
    layouts: &mut Layouts,
    concerts: &mut HashMap<i64, BatchConcert>,
    concert: i64,
    job: &Job,
) -> Result<(), BookingError> {
    if let Entry::Vacant(slot) = concerts.entry(concert) {
        // No such concert: the job itself will say so.
        let Some(found) = layouts::batch_concert(conn, concert)? else { return Ok(()) };
        slot.insert(found);
    }
    if let (Job::Book(_), Some(read)) = (job, concerts.get(&concert)) {
        layouts.check(conn, concert, read.layout_version)?;
    }
    Ok(())
}
