//! One SQL body for both backends. The store traits are implemented once, over sqlx's
//! [`Database`], for every [`Backend`]: their statements are written in the subset both
//! databases run (sqlx binds `$N` on both) and sit beside the traits with their row
//! mappings. A backend supplies only what truly differs: its executors (SQLite's write
//! lock), PostgreSQL's row locks and casts, and its own booking and seat-map paths.
//!
//! Each generic implementation restates the sqlx bounds it relies on (the executor, the
//! arguments, the column types): Rust carries bounds on a trait's own `Self` to its users,
//! but not bounds on `i64` or on `&mut Connection`, so they cannot be stated once here.

use std::ops::{Deref, DerefMut};

use async_trait::async_trait;
use sqlx::{Database, Decode, Encode, Pool, Transaction, Type};
use tokio::sync::OwnedSemaphorePermit;

use super::{SeatMapRecord, StoreError};
use crate::domain::sections::{RowLabel, SectionName};
use crate::domain::venue::Letter;

/// The lock a writer takes on a row it is about to change, or whose rule it checks.
pub const FOR_UPDATE: &str = " FOR NO KEY UPDATE";
/// The lock that keeps a row as it is (a venue while a concert is added to it).
pub const FOR_SHARE: &str = " FOR SHARE";

/// What differs between the backends around the shared statements.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// The sqlx database it runs on.
    type DB: Database + sqlx::database::HasStatementCache;
    /// Whether writers run side by side and lock the rows a rule is about before they
    /// check it, as PostgreSQL's do; SQLite runs one write transaction at a time.
    const ROW_LOCKS: bool;
    /// The column type JSON text is cast to when stored: PostgreSQL's `jsonb`, else text.
    const JSON: &'static str;
    /// The condition choosing one fan's (`$1`) rows of the reservation history.
    const FAN_RESERVATIONS: &'static str;

    /// Reads that must see the latest write.
    fn fresh(&self) -> &Pool<Self::DB>;
    /// A read-only replica, if one is configured.
    fn replica(&self) -> Option<&Pool<Self::DB>>;
    /// The pool for a write of one statement, held for writing.
    async fn write(&self) -> Result<Held<'_, Self::DB>, StoreError>;
    /// A write transaction.
    async fn begin(&self) -> Result<WriteTx<Self::DB>, StoreError>;
    /// A read transaction on `pool` whose statements all see one snapshot.
    async fn snapshot(pool: &Pool<Self::DB>) -> Result<Transaction<'static, Self::DB>, StoreError>;
    /// Inserts a concert's seats inside `conn`'s transaction: for each row `(section,
    /// label, seats, grade)`, seats `1..=seats` (a standing section's places are its one
    /// row), the backend's fastest way.
    async fn insert_seats(
        conn: &mut Conn<Self>,
        concert_id: i64,
        rows: &[(SectionName, RowLabel, u32, Letter)],
    ) -> Result<(), StoreError>;
    /// The whole seat map of a live concert, read the backend's fastest way.
    async fn seat_map(&self, concert_id: i64) -> Result<Option<SeatMapRecord>, StoreError>;

    /// Reads that tolerate a replica's lag.
    fn lagging(&self) -> &Pool<Self::DB> {
        self.replica().unwrap_or(self.fresh())
    }

    /// `clause` (a row lock) where writers lock rows, else nothing.
    fn locking(clause: &'static str) -> &'static str {
        if Self::ROW_LOCKS { clause } else { "" }
    }
}

/// A backend's connection type.
pub type Conn<B> = <<B as Backend>::DB as Database>::Connection;
/// A backend's row type.
pub type RowOf<B> = <<B as Backend>::DB as Database>::Row;
/// A backend's bound arguments.
pub type Args<'q, B> = <<B as Backend>::DB as Database>::Arguments<'q>;

/// A Rust type stored in a column: bound, typed and read back alike on every backend.
pub trait Column<DB: Database>: for<'q> Encode<'q, DB> + for<'r> Decode<'r, DB> + Type<DB> {}

impl<DB: Database, T> Column<DB> for T where T: for<'q> Encode<'q, DB> + for<'r> Decode<'r, DB> + Type<DB> {}

/// A pool held for writing, with whatever its backend holds for that (SQLite's write lock).
pub struct Held<'a, DB: Database> {
    pool: &'a Pool<DB>,
    _lock: Option<OwnedSemaphorePermit>,
}

impl<'a, DB: Database> Held<'a, DB> {
    /// `pool`, held with `lock` until dropped.
    pub fn new(pool: &'a Pool<DB>, lock: Option<OwnedSemaphorePermit>) -> Self {
        Self { pool, _lock: lock }
    }
}

impl<DB: Database> Deref for Held<'_, DB> {
    type Target = Pool<DB>;
    fn deref(&self) -> &Pool<DB> {
        self.pool
    }
}

/// A write transaction, holding what its backend holds for writing until it commits or
/// is dropped.
pub struct WriteTx<DB: Database> {
    tx: Transaction<'static, DB>,
    _lock: Option<OwnedSemaphorePermit>,
}

impl<DB: Database> WriteTx<DB> {
    /// `tx`, holding `lock` until it ends.
    pub fn new(tx: Transaction<'static, DB>, lock: Option<OwnedSemaphorePermit>) -> Self {
        Self { tx, _lock: lock }
    }

    /// Commits, then lets go of the lock.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }
}

impl<DB: Database> Deref for WriteTx<DB> {
    type Target = DB::Connection;
    fn deref(&self) -> &DB::Connection {
        &self.tx
    }
}

impl<DB: Database> DerefMut for WriteTx<DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        &mut self.tx
    }
}
