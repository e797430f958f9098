//! Seat maps read on synchronous connections. A 2,600-seat map through sqlx costs one
//! trip through its connection's worker thread per row (~14 ms a map); read here, in a
//! blocking task with prepared statements, it costs well under a millisecond. Seat maps
//! are read when a cached map is stale (after every booking) and when the seat gate first
//! meets a concert, so this is on the on-sale's path.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension};

use super::booking_sql::store_error;
use crate::store::venues::{SEAT_MAP_HEAD, SEAT_MAP_ROWS, SEAT_MAP_SEATS, SeatMapBuilder};
use crate::store::{SeatMapRecord, StoreError};

/// Idle connections kept for the next read; more are opened when reads overlap.
const KEEP_IDLE: usize = 4;

/// A small pool of read-only connections to the database file.
#[derive(Debug, Clone)]
pub(super) struct MapReader {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl MapReader {
    pub(super) fn new(path: &Path) -> Self {
        Self { inner: Arc::new(Inner { path: path.to_owned(), idle: Mutex::new(Vec::new()) }) }
    }

    /// The concert's seat map as one snapshot; `None` for no such (live) concert.
    pub(super) async fn seat_map(&self, concert_id: i64) -> Result<Option<SeatMapRecord>, StoreError> {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let conn = inner.take()?;
            let map = read_map(&conn, concert_id);
            inner.put(conn);
            map
        })
        .await
        .map_err(|e| StoreError::Other(anyhow::anyhow!("seat-map reader: {e}")))?
    }
}

impl Inner {
    fn take(&self) -> Result<Connection, StoreError> {
        if let Some(conn) = self.idle.lock().ok().and_then(|mut idle| idle.pop()) {
            return Ok(conn);
        }
        open(&self.path).map_err(StoreError::Other)
    }

    fn put(&self, conn: Connection) {
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < KEEP_IDLE
        {
            idle.push(conn);
        }
    }
}

fn open(path: &Path) -> anyhow::Result<Connection> {
    super::open_direct(path, "seat maps", "PRAGMA query_only = ON; PRAGMA temp_store = MEMORY;")
}

/// Reads the version and the seats in one read transaction, so they agree.
fn read_map(conn: &Connection, concert_id: i64) -> Result<Option<SeatMapRecord>, StoreError> {
    conn.execute_batch("BEGIN").map_err(store_error)?;
    let map = read_in(conn, concert_id);
    // A read transaction has nothing to keep: ending it cannot lose anything.
    let _ = conn.execute_batch("COMMIT");
    map
}

fn read_in(conn: &Connection, concert_id: i64) -> Result<Option<SeatMapRecord>, StoreError> {
    let head: Option<i64> = conn
        .prepare_cached(SEAT_MAP_HEAD)
        .and_then(|mut s| s.query_row([concert_id], |r| r.get(0)).optional())
        .map_err(store_error)?;
    let Some(version) = head else { return Ok(None) };
    let venue = conn
        .prepare_cached(SEAT_MAP_ROWS)
        .and_then(|mut query| {
            query.query_map([concert_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?.collect()
        })
        .map_err(store_error)?;
    let mut query = conn.prepare_cached(SEAT_MAP_SEATS).map_err(store_error)?;
    let mut rows = query.query([concert_id]).map_err(store_error)?;
    let mut map = SeatMapBuilder::new();
    while let Some(row) = rows.next().map_err(store_error)? {
        let text =
            |i: usize| row.get_ref(i).and_then(|v| v.as_str().map_err(Into::into)).map_err(store_error);
        map.push(
            text(0)?,
            text(1)?,
            row.get(2).map_err(store_error)?,
            text(3)?,
            text(4)?,
            row.get(5).map_err(store_error)?,
        )?;
    }
    map.finish(concert_id, version, venue).map(Some)
}
