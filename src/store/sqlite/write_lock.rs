//! The database's one writer at a time. SQLite admits a single write transaction; every
//! write of this store — the booking writer's batches and the one-connection write pool's
//! statements — takes this lock first, in turn (the semaphore queues fairly), so none of
//! them ever meets `SQLITE_BUSY`.
//!
//! The lock is a semaphore beside the pool rather than the pool's connection itself: the
//! booking writer takes it once per batch, and a pool connection goes back through a task
//! on the runtime and a round trip to its worker thread, which a batch would wait for.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use sqlx::sqlite::SqlitePool;
use sqlx::{Sqlite, Transaction};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::store::StoreError;

/// The write pool behind the write lock.
#[derive(Debug, Clone)]
pub(super) struct WritePool {
    pool: SqlitePool,
    lock: Arc<Semaphore>,
}

/// The write pool, held: an executor for statements that each commit on their own.
pub(super) struct Locked<'a> {
    pool: &'a SqlitePool,
    _permit: OwnedSemaphorePermit,
}

impl Deref for Locked<'_> {
    type Target = SqlitePool;
    fn deref(&self) -> &SqlitePool {
        self.pool
    }
}

/// A write transaction, holding the lock until it commits or is dropped.
pub(super) struct WriteTx {
    tx: Transaction<'static, Sqlite>,
    _permit: OwnedSemaphorePermit,
}

impl WriteTx {
    pub(super) async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }
}

impl Deref for WriteTx {
    type Target = Transaction<'static, Sqlite>;
    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

impl DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tx
    }
}

fn closed() -> StoreError {
    StoreError::Unavailable(sqlx::Error::PoolClosed)
}

impl WritePool {
    pub(super) fn new(pool: SqlitePool) -> Self {
        Self { pool, lock: Arc::new(Semaphore::new(1)) }
    }

    /// The pool, unlocked: for what does not write (closing it, its size).
    pub(super) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The lock itself, for the booking writer.
    pub(super) fn lock_handle(&self) -> Arc<Semaphore> {
        Arc::clone(&self.lock)
    }

    /// Takes the lock, for single statements run on the pool.
    pub(super) async fn lock(&self) -> Result<Locked<'_>, StoreError> {
        let permit = Arc::clone(&self.lock).acquire_owned().await.map_err(|_| closed())?;
        Ok(Locked { pool: &self.pool, _permit: permit })
    }

    /// Takes the lock and begins a transaction; the lock goes with the transaction.
    pub(super) async fn begin(&self) -> Result<WriteTx, StoreError> {
        let permit = Arc::clone(&self.lock).acquire_owned().await.map_err(|_| closed())?;
        Ok(WriteTx { tx: self.pool.begin().await?, _permit: permit })
    }
}
