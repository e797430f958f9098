//! Group commit for bookings. Bookings queue here; one task takes every booking waiting,
//! runs them one after the other inside one transaction (each either a single statement or
//! its own savepoint, so a refused one leaves no trace), and commits them with a single
//! fsync. Nobody is answered before that commit is on disk, so a confirmation still
//! means durable — but a rush of bookings costs one fsync per batch instead of per booking.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use sqlx::Acquire;
use sqlx::sqlite::SqlitePool;
use tokio::sync::{mpsc, oneshot};

use super::bookings::{OwnedBooking, OwnedCancel, book_in, cancel_in, version};
use crate::store::{Booked, BookingError, Cancelled, StoreError};

/// Most bookings committed together: bounds the time the write connection is held.
const MAX_BATCH: usize = 128;

/// A write the writer task runs for a caller.
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

/// The queue in front of the booking writer task.
#[derive(Debug, Clone)]
pub(super) struct BookingWriter {
    queue: mpsc::Sender<(Job, Reply)>,
}

impl BookingWriter {
    /// Starts the writer task on the write pool.
    pub(super) fn start(pool: SqlitePool) -> Self {
        let (queue, jobs) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(run(pool, jobs));
        Self { queue }
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

fn closed() -> BookingError {
    BookingError::Store(StoreError::Other(anyhow::anyhow!("the booking writer has stopped")))
}

async fn run(pool: SqlitePool, mut jobs: mpsc::Receiver<(Job, Reply)>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    // Whatever arrived while the previous batch was being committed forms the next one.
    while jobs.recv_many(&mut batch, MAX_BATCH).await > 0 {
        commit_batch(&pool, std::mem::take(&mut batch)).await;
    }
}

/// Answers every job of a batch whose shared transaction failed: none of it is committed.
fn fail_all(jobs: Vec<Reply>, why: &str) {
    for reply in jobs {
        let err = StoreError::Other(anyhow::anyhow!("booking batch not committed: {why}"));
        let _ = reply.send(Err(BookingError::Store(err)));
    }
}

async fn commit_batch(pool: &SqlitePool, jobs: Vec<(Job, Reply)>) {
    metrics::histogram!("booking_batch_size").record(jobs.len() as f64);
    let mut conn = match pool.acquire().await {
        Ok(conn) => conn,
        Err(e) => {
            let unavailable = matches!(e, sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed);
            for (_, reply) in jobs {
                let err = if unavailable {
                    StoreError::Unavailable(sqlx::Error::PoolTimedOut)
                } else {
                    StoreError::Other(anyhow::anyhow!("acquiring the write connection: {e}"))
                };
                let _ = reply.send(Err(BookingError::Store(err)));
            }
            return;
        }
    };
    let mut tx = match conn.begin().await {
        Ok(tx) => tx,
        Err(e) => return fail_all(jobs.into_iter().map(|(_, r)| r).collect(), &e.to_string()),
    };
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
            match version(&mut tx, concert).await {
                Ok(v) => {
                    slot.insert(v);
                }
                // No such concert: the job itself will say so.
                Err(BookingError::Store(StoreError::NotFound)) => {}
                Err(e) => {
                    let _ = reply.send(Err(e));
                    return fail_all(
                        done_jobs.into_iter().map(|(r, _)| r).collect(),
                        "reading a map version failed",
                    );
                }
            }
        }
        let outcome = match &job {
            Job::Book(booking) => book_in(&mut tx, booking).await.map(Done::Booked),
            Job::Cancel(cancel) => cancel_in(&mut tx, cancel).await.map(Done::Cancelled),
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
                // Storage failed mid-batch: the shared transaction cannot be trusted, so
                // nothing of this batch is committed and every write in it is refused.
                let _ = reply.send(Err(BookingError::Store(e)));
                return fail_all(
                    done_jobs.into_iter().map(|(r, _)| r).collect(),
                    "an earlier write of the batch failed",
                );
            }
            Err(refused) => {
                let _ = reply.send(Err(refused));
            }
        }
    }
    match tx.commit().await {
        Ok(()) => {
            for (reply, done) in done_jobs {
                let _ = reply.send(Ok(done));
            }
        }
        Err(e) => fail_all(done_jobs.into_iter().map(|(r, _)| r).collect(), &e.to_string()),
    }
}
