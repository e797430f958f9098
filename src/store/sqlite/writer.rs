//! Group commit for bookings. Bookings queue here; one task takes every booking waiting,
//! runs them one after the other inside one transaction (each either a single statement or
//! its own savepoint, so a refused one leaves no trace), and commits them with a single
//! fsync. Nobody is answered before that commit is on disk, so a confirmation still
//! means durable — but a rush of bookings costs one fsync per batch instead of per booking.

use std::collections::HashMap;

use sqlx::Acquire;
use sqlx::sqlite::SqlitePool;
use tokio::sync::{mpsc, oneshot};

use super::bookings::{OwnedBooking, book_in, version};
use crate::store::{Booked, BookingError, StoreError};

/// Most bookings committed together: bounds the time the write connection is held.
const MAX_BATCH: usize = 128;

type Reply = oneshot::Sender<Result<Booked, BookingError>>;

/// The queue in front of the booking writer task.
#[derive(Debug, Clone)]
pub(super) struct BookingWriter {
    queue: mpsc::Sender<(OwnedBooking, Reply)>,
}

impl BookingWriter {
    /// Starts the writer task on the write pool.
    pub(super) fn start(pool: SqlitePool) -> Self {
        let (queue, jobs) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(run(pool, jobs));
        Self { queue }
    }

    /// Books through the group commit; answers once the booking is durable (or refused).
    pub(super) async fn book(&self, booking: OwnedBooking) -> Result<Booked, BookingError> {
        let (reply, answer) = oneshot::channel();
        self.queue.send((booking, reply)).await.map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }
}

fn closed() -> BookingError {
    BookingError::Store(StoreError::Other(anyhow::anyhow!("the booking writer has stopped")))
}

async fn run(pool: SqlitePool, mut jobs: mpsc::Receiver<(OwnedBooking, Reply)>) {
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

async fn commit_batch(pool: &SqlitePool, jobs: Vec<(OwnedBooking, Reply)>) {
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
    let mut booked: Vec<(Reply, Booked)> = Vec::with_capacity(jobs.len());
    for (job, reply) in jobs {
        match book_in(&mut tx, &job).await {
            Ok(done) => booked.push((reply, done)),
            Err(BookingError::Store(e)) => {
                // Storage failed mid-batch: the shared transaction cannot be trusted, so
                // nothing of this batch is committed and every booking in it is refused.
                let _ = reply.send(Err(BookingError::Store(e)));
                return fail_all(
                    booked.into_iter().map(|(r, _)| r).collect(),
                    "an earlier booking of the batch failed",
                );
            }
            Err(refused) => {
                let _ = reply.send(Err(refused));
            }
        }
    }
    // Every change of the batch is at or below the version read last, and every later
    // change above it: one version per concert is exact enough for the gate's ordering.
    let mut versions: HashMap<i64, i64> = HashMap::new();
    for (_, done) in &mut booked {
        let version = match versions.get(&done.concert_id()) {
            Some(v) => *v,
            None => match version(&mut tx, done.concert_id()).await {
                Ok(v) => *versions.entry(done.concert_id()).or_insert(v),
                Err(e) => {
                    return fail_all(booked.into_iter().map(|(r, _)| r).collect(), &e.to_string());
                }
            },
        };
        done.version = version;
    }
    match tx.commit().await {
        Ok(()) => {
            for (reply, done) in booked {
                let _ = reply.send(Ok(done));
            }
        }
        Err(e) => fail_all(booked.into_iter().map(|(r, _)| r).collect(), &e.to_string()),
    }
}
