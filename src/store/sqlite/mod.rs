//! SQLite backend: the embedded default.
//!
//! One file in WAL mode with `synchronous = FULL`, so a commit is on disk before it is
//! confirmed. Writes take one lock ([`write_lock`]) and go through a single-connection pool
//! or the booking writer: SQLite admits one writer at a time anyway, and queueing for the
//! lock avoids `SQLITE_BUSY` lock upgrades. Reads use their own pool and run in parallel
//! with the writer.

mod booking_sql;
mod bookings;
mod layouts;
pub mod live_lock;
mod map_reader;
mod write_lock;
mod writer;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};

use super::sql::{Backend, Held, WriteTx};
use super::{SeatMapRecord, Store, StoreError};
use crate::domain::sections::{RowLabel, SectionName};
use crate::domain::venue::Letter;

/// The SQLite schema's migrations, as compiled into this binary (a restore checks a backup
/// against them).
pub static MIGRATOR: Migrator = sqlx::migrate!("migrations/sqlite");

/// The database file a `sqlite:` URL names, when it names one.
pub fn database_file(url: &str) -> anyhow::Result<std::path::PathBuf> {
    let options =
        SqliteConnectOptions::from_str(url).with_context(|| format!("parsing database URL {url}"))?;
    let file = options.get_filename();
    anyhow::ensure!(
        !file.as_os_str().is_empty() && file != std::path::Path::new(":memory:"),
        "SQLite needs a database file: {url} names none"
    );
    Ok(file.to_path_buf())
}

/// The SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    read: SqlitePool,
    write: write_lock::WritePool,
    /// Seat maps, read on synchronous connections.
    maps: map_reader::MapReader,
    /// Group commit of bookings, on a connection of its own, under the same write lock.
    writer: writer::BookingWriter,
    /// Held while the store is open, so no restore swaps the file underneath.
    _live: Arc<live_lock::LiveLock>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `url` and applies pending migrations.
    pub async fn open(url: &str) -> anyhow::Result<Self> {
        if let Some(path) = url.strip_prefix("sqlite://").filter(|p| !p.starts_with(':')) {
            let path = path.split('?').next().unwrap_or(path);
            if let Some(dir) = std::path::Path::new(path).parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            }
        }
        let options = SqliteConnectOptions::from_str(url)
            .with_context(|| format!("parsing database URL {url}"))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            .pragma("temp_store", "memory");
        // Every connection must see the same database, which an in-memory one cannot share.
        let live = Arc::new(live_lock::LiveLock::take(&database_file(url)?, live_lock::Use::Serve)?);
        // A connection to a local file does not go stale: no round trip to its worker
        // thread to test it on every acquire.
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.clone())
            .await
            .with_context(|| format!("opening {url}"))?;
        MIGRATOR.run(&write).await.context("applying SQLite migrations")?;
        let read = SqlitePoolOptions::new()
            .max_connections(8)
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.clone())
            .await
            .with_context(|| format!("opening {url} for reading"))?;
        let write = write_lock::WritePool::new(write);
        let writer = writer::BookingWriter::start(options.get_filename(), write.lock_handle())?;
        let maps = map_reader::MapReader::new(options.get_filename());
        Ok(Self { read, write, maps, writer, _live: live })
    }
}

/// A synchronous connection to the database file, for the booking writer and the seat-map
/// readers: the same ten-second busy wait as the pools, then `pragmas`.
fn open_direct(path: &std::path::Path, purpose: &str, pragmas: &str) -> anyhow::Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open(path)
        .with_context(|| format!("opening {} for {purpose}", path.display()))?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.execute_batch(pragmas)?;
    Ok(conn)
}

// Reads go to the read pool, which runs beside the writer; writes take the write lock.
#[async_trait::async_trait]
impl Backend for SqliteStore {
    type DB = Sqlite;
    const ROW_LOCKS: bool = false;
    const JSON: &'static str = "TEXT";
    // Through the index that starts with the concert (migration 0005), concert by concert.
    const FAN_RESERVATIONS: &'static str = "r.user_id = $1 AND r.concert_id IN (SELECT id FROM concerts)";

    fn fresh(&self) -> &SqlitePool {
        &self.read
    }

    fn replica(&self) -> Option<&SqlitePool> {
        None
    }

    async fn write(&self) -> Result<Held<'_, Sqlite>, StoreError> {
        self.write.lock().await
    }

    async fn begin(&self) -> Result<WriteTx<Sqlite>, StoreError> {
        self.write.begin().await
    }

    async fn snapshot(pool: &SqlitePool) -> Result<Transaction<'static, Sqlite>, StoreError> {
        Ok(pool.begin().await?)
    }

    // One statement per row of seats (SQLite binds no arrays); each is a few microseconds a
    // seat, its rules checked by row triggers.
    async fn insert_seats(
        conn: &mut SqliteConnection,
        concert_id: i64,
        rows: &[(SectionName, RowLabel, u32, Letter)],
    ) -> Result<(), StoreError> {
        for (section, label, seats, grade) in rows {
            sqlx::query(
                "INSERT INTO seats (concert_id, section, horizontal, vertical, grade)
                 WITH RECURSIVE columns(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM columns WHERE n < $3)
                 SELECT $1, $5, $2, n, $4 FROM columns",
            )
            .bind(concert_id)
            .bind(label.as_str())
            .bind(i64::from(*seats))
            .bind(grade.to_string())
            .bind(section.as_str())
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }

    async fn seat_map(&self, concert_id: i64) -> Result<Option<SeatMapRecord>, StoreError> {
        self.maps.seat_map(concert_id).await
    }
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn close(&self) {
        self.read.close().await;
        self.write.pool().close().await;
    }

    fn pool_usage(&self) -> Vec<(&'static str, u32, usize)> {
        vec![
            ("read", self.read.size(), self.read.num_idle()),
            ("write", self.write.pool().size(), self.write.pool().num_idle()),
        ]
    }

    async fn prune(&self, keep_keys: Duration) -> Result<(), StoreError> {
        super::prune(self, keep_keys).await
    }
}
