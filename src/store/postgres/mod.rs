//! PostgreSQL backend: for running several instances on one database.
//!
//! Every write is one transaction on the primary; a commit returned means the WAL is on
//! disk (the server's default `synchronous_commit = on`), so a confirmation is durable.
//! Unlike SQLite, writers run side by side: the schema's triggers and the booking code take
//! the concert's row lock before touching its seats (see `migrations/postgres/0003`), which
//! serialises the bookings of one concert and keeps the lock order the same everywhere.
//! Read-only catalog queries may go to a replica.

mod bookings;
mod writer;

use std::time::Duration;

use anyhow::Context;
use futures_util::TryStreamExt;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, PgConnection, Postgres, Row, Transaction};

use super::sql::{Backend, Held, WriteTx};
use super::venues::{SEAT_MAP_HEAD, SEAT_MAP_ROWS, SEAT_MAP_SEATS, SeatMapBuilder};
use super::{SeatMapRecord, Store, StoreError};
use crate::domain::sections::{RowLabel, SectionName};
use crate::domain::venue::Letter;

/// Connections per pool. Bookings of one concert wait on its row lock anyway, so more
/// would only queue inside the server instead of in the pool; and four instances stay
/// under PostgreSQL's default `max_connections = 100`.
const MAX_CONNECTIONS: u32 = 20;

/// How often a booking or cancellation is tried when PostgreSQL aborts it to break a
/// deadlock, or when a concurrent request claimed its idempotency key first.
const ATTEMPTS: usize = 3;

/// The PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    /// Every write and every read that must see the latest write.
    primary: PgPool,
    /// Read-only catalog queries: the replica when one is configured, else the primary.
    read: PgPool,
    replica: bool,
    /// The group commit of bookings.
    writer: writer::Writer,
}

async fn pool(url: &str, what: &str) -> anyhow::Result<PgPool> {
    let options: PgConnectOptions =
        url.parse().with_context(|| format!("parsing the {what} database URL"))?;
    let options = options.application_name("tickitecking").log_statements(tracing::log::LevelFilter::Trace);
    PgPoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await
        .with_context(|| format!("connecting to the {what} database"))
}

impl PostgresStore {
    /// Connects to the primary (and the replica, if given) and applies pending migrations
    /// on the primary.
    pub async fn open(url: &str, replica: Option<&str>) -> anyhow::Result<Self> {
        let primary = pool(url, "PostgreSQL").await?;
        sqlx::migrate!("migrations/postgres")
            .run(&primary)
            .await
            .context("applying PostgreSQL migrations")?;
        let read = match replica {
            Some(url) => pool(url, "replica").await?,
            None => primary.clone(),
        };
        let single = writer::Single { book: bookings::book_alone, cancel: bookings::cancel_alone };
        let writer = writer::Writer::start(primary.clone(), single);
        Ok(Self { primary, read, replica: replica.is_some(), writer })
    }
}

/// True when PostgreSQL aborted the transaction only to break a deadlock or a
/// serialization conflict: running it again is the documented remedy.
fn lost_race(err: &StoreError) -> bool {
    matches!(err, StoreError::Unavailable(sqlx::Error::Database(db))
        if matches!(db.code().as_deref(), Some("40001" | "40P01")))
}

/// Read committed (PostgreSQL's default) gives every statement its own snapshot; reads made
/// of several statements ask for one snapshot, as SQLite's read transactions have.
const ONE_SNAPSHOT: &str = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY";

// Every write and every read that must see it go to the primary.
#[async_trait::async_trait]
impl Backend for PostgresStore {
    type DB = Postgres;
    const ROW_LOCKS: bool = true;
    const JSON: &'static str = "jsonb";
    const FAN_RESERVATIONS: &'static str = "r.user_id = $1";

    fn fresh(&self) -> &PgPool {
        &self.primary
    }

    fn replica(&self) -> Option<&PgPool> {
        self.replica.then_some(&self.read)
    }

    async fn write(&self) -> Result<Held<'_, Postgres>, StoreError> {
        Ok(Held::new(&self.primary, None))
    }

    async fn begin(&self) -> Result<WriteTx<Postgres>, StoreError> {
        Ok(WriteTx::new(self.primary.begin().await?, None))
    }

    async fn snapshot(pool: &PgPool) -> Result<Transaction<'static, Postgres>, StoreError> {
        let mut tx = pool.begin().await?;
        sqlx::query(ONE_SNAPSHOT).execute(&mut *tx).await?;
        Ok(tx)
    }

    // One statement for every seat: its rules are checked once (the statement trigger
    // `seats_within_auditorium`), and a concert of 100,000 places is one round trip.
    async fn insert_seats(
        conn: &mut PgConnection,
        concert_id: i64,
        rows: &[(SectionName, RowLabel, u32, Letter)],
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO seats (concert_id, section, horizontal, vertical, grade)
             SELECT $1, r.section, r.label, n, r.grade
             FROM unnest($2::text[], $3::text[], $4::bigint[], $5::text[]) WITH ORDINALITY
                  AS r(section, label, seats, grade, i)
             CROSS JOIN LATERAL generate_series(1, r.seats) AS n
             ORDER BY r.i, n",
        )
        .bind(concert_id)
        .bind(rows.iter().map(|r| r.0.to_string()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.1.to_string()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| i64::from(r.2)).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.3.to_string()).collect::<Vec<_>>())
        .execute(conn)
        .await?;
        Ok(())
    }

    // From the primary: the map's version is the ETag and tags the seat gate's cells, and
    // a replica's older map read after a booking would be cached as the newest.
    async fn seat_map(&self, concert_id: i64) -> Result<Option<SeatMapRecord>, StoreError> {
        let mut tx = Self::snapshot(&self.primary).await?;
        let head: Option<i64> =
            sqlx::query_scalar(SEAT_MAP_HEAD).bind(concert_id).fetch_optional(&mut *tx).await?;
        let Some(version) = head else { return Ok(None) };
        let venue = sqlx::query_as(SEAT_MAP_ROWS).bind(concert_id).fetch_all(&mut *tx).await?;
        let mut map = SeatMapBuilder::new();
        let mut seats = sqlx::query(SEAT_MAP_SEATS).bind(concert_id).fetch(&mut *tx);
        while let Some(row) = seats.try_next().await? {
            map.push(
                row.try_get(0)?,
                row.try_get(1)?,
                row.try_get(2)?,
                row.try_get(3)?,
                row.try_get(4)?,
                row.try_get(5)?,
            )?;
        }
        drop(seats);
        tx.commit().await?;
        map.finish(concert_id, version, venue).map(Some)
    }
}

#[async_trait::async_trait]
impl Store for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn close(&self) {
        self.primary.close().await;
        self.read.close().await;
    }

    fn pool_usage(&self) -> Vec<(&'static str, u32, usize)> {
        let mut pools = vec![("primary", self.primary.size(), self.primary.num_idle())];
        if self.replica {
            pools.push(("replica", self.read.size(), self.read.num_idle()));
        }
        pools
    }

    async fn prune(&self, keep_keys: Duration) -> Result<(), StoreError> {
        super::prune(self, keep_keys).await
    }

    fn has_replica(&self) -> bool {
        self.replica
    }

    async fn replica_caught_up(&self, patience: Duration) -> Result<bool, StoreError> {
        if !self.replica {
            return Ok(true);
        }
        let written: String =
            sqlx::query_scalar("SELECT pg_current_wal_lsn()::text").fetch_one(&self.primary).await?;
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            // NULL from a server that is not a standby (a promoted replica, or the primary
            // itself named as replica): it has every commit.
            let replayed: Option<bool> = sqlx::query_scalar("SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn")
                .bind(&written)
                .fetch_one(&self.read)
                .await?;
            if replayed != Some(false) {
                return Ok(true);
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
