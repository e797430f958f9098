//! Group commit for bookings. Booking transactions queue here; one task takes every booking
//! waiting, runs each in its own savepoint inside one transaction, and commits them with a
//! single fsync. Nobody is answered before that commit is on disk, so a confirmation still
//! means durable — but a rush of bookings costs one fsync per batch instead of per booking.

use std::sync::Arc;

use sqlx::Acquire;
use sqlx::sqlite::SqlitePool;
use tokio::sync::{mpsc, oneshot};

use super::bookings::{OwnedBooking, book_in};
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

/// Answers every job of a batch whose shared transaction failed.
fn fail_all(jobs: Vec<Reply>, err: &sqlx::Error) {
    let err = Arc::new(err.to_string());
    for reply in jobs {
        let message = err.clone();
        let _ = reply.send(Err(BookingError::Store(StoreError::Other(anyhow::anyhow!(
            "batch commit failed: {message}"
        )))));
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
        Err(e) => return fail_all(jobs.into_iter().map(|(_, r)| r).collect(), &e),
    };
    let mut booked: Vec<(Reply, Booked)> = Vec::with_capacity(jobs.len());
    let mut pending: Vec<(OwnedBooking, Reply)> = jobs;
    pending.reverse();
    while let Some((job, reply)) = pending.pop() {
        // Each booking in its own savepoint: a refused one leaves no trace, the others stay.
        let outcome = async {
            let mut savepoint = tx.begin().await?;
            match book_in(&mut savepoint, &job).await {
                Ok(done) => {
                    savepoint.commit().await?;
                    Ok(Ok(done))
                }
                Err(refused) => {
                    savepoint.rollback().await?;
                    Ok(Err(refused))
                }
            }
        }
        .await;
        match outcome {
            Ok(Ok(done)) => booked.push((reply, done)),
            Ok(Err(refused)) => {
                let _ = reply.send(Err(refused));
            }
            Err(e) => {
                // The transaction itself is broken: nothing of this batch is committed.
                let replies = booked.into_iter().map(|(r, _)| r).chain(std::iter::once(reply));
                let rest = pending.into_iter().map(|(_, r)| r);
                return fail_all(replies.chain(rest).collect(), &e);
            }
        }
    }
    match tx.commit().await {
        Ok(()) => {
            for (reply, done) in booked {
                let _ = reply.send(Ok(done));
            }
        }
        Err(e) => fail_all(booked.into_iter().map(|(r, _)| r).collect(), &e),
    }
}
