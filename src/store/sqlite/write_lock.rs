//! The database's one writer at a time. SQLite admits a single write transaction; every
//! write of this store — the booking writer's batches and the one-connection write pool's
//! statements — takes this lock first, in turn (the semaphore queues fairly), so none of
//! them ever meets `SQLITE_BUSY`.
//!
//! The lock is a semaphore beside the pool rather than the pool's connection itself: the
//! booking writer takes it once per batch, and a pool connection goes back through a task
//! on the runtime and a round trip to its worker thread, which a batch would wait for.

use std::sync::Arc;

use sqlx::Sqlite;
use sqlx::sqlite::SqlitePool;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::store::StoreError;
use crate::store::sql::{Held, WriteTx};

/// The write pool behind the write lock.
#[derive(Debug, Clone)]
pub(super) struct WritePool {
    pool: SqlitePool,
    lock: Arc<Semaphore>,
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

    async fn acquire(&self) -> Result<OwnedSemaphorePermit, StoreError> {
        Arc::clone(&self.lock)
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Unavailable(sqlx::Error::PoolClosed))
    }

    /// Takes the lock, for single statements run on the pool.
    pub(super) async fn lock(&self) -> Result<Held<'_, Sqlite>, StoreError> {
        Ok(Held::new(&self.pool, Some(self.acquire().await?)))
    }

    /// Takes the lock and begins a transaction; the lock goes with the transaction.
    pub(super) async fn begin(&self) -> Result<WriteTx<Sqlite>, StoreError> {
        let permit = self.acquire().await?;
        Ok(WriteTx::new(self.pool.begin().await?, Some(permit)))
    }
}
