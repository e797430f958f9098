//! Storage: the traits the rest of the program talks to, implemented once in the SQL both
//! backends run (see `sql`), with what each backend adds ([`sqlite`], [`postgres`]).
//!
//! The backend is chosen once at start-up from the database URL ([`open`]); handlers only
//! ever see `Arc<dyn Store>`. Invariants live in the schema (constraints, partial unique
//! indexes, transactions); the traits' methods are whole transactions.

mod audit;
mod bookings;
mod orders;
mod outbox;
pub mod postgres;
mod presales;
mod queue;
mod sql;
pub mod sqlite;
mod tickets;
mod tokens;
mod url;
mod users;
mod venues;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::{Executor, IntoArguments};

pub use audit::{AuditEntry, AuditStore, NewAuditEntry};
pub use bookings::{
    Booked, BookingError, BookingRequest, BookingStore, Cancelled, ReservationHistory, ReservationRecord,
};
pub use orders::{
    OrderError, OrderEvent, OrderLine, OrderRecord, OrderStore, Payment, PaymentRecord, RefundRecord,
    Settled, UnsentRefund,
};
pub use outbox::{ConfirmedOrder, ORDER_CONFIRMED, OutboxEmail, OutboxStore};
pub use presales::{CodeRecord, PresaleRecord, PresaleStore};
pub use queue::{
    ENDED_BY_OWNER, ENDED_BY_SELLING_OUT, EntryRecord, QueueStore, RoomChange, RoomRecord, Tick,
};
pub use tickets::{
    Attendee, Checkin, CheckinRecord, CheckinTokenRecord, DoorTicket, GradeCount, Scan, TicketRecord,
    TicketStore, TransferError,
};
pub use tokens::{NewRefreshToken, Rotation, TokenStore};
pub use url::DatabaseUrl;
pub use users::{NewUser, UserRecord, UserStore, UserUpdate};
pub use venues::{
    AuditoriumRecord, ConcertRecord, ConcertSummary, LockToggle, NewImage, SeatMapRecord, SeatRow, VenueStore,
};

use crate::domain::sections::RowLabel;
use crate::domain::venue::Letter;
use sql::{Args, Backend, Column, Conn};

/// A letter column (row or grade) read back from the database.
pub(in crate::store) fn letter(raw: &str) -> Result<Letter, StoreError> {
    Letter::parse(raw).map_err(|e| StoreError::Other(anyhow::anyhow!("stored letter {raw:?}: {e}")))
}

/// A row label read back from the database (`""`: a standing section's row).
pub(in crate::store) fn row_label(raw: &str) -> Result<RowLabel, StoreError> {
    RowLabel::stored(raw).map_err(|e| StoreError::Other(anyhow::anyhow!("stored row {raw:?}: {e}")))
}

/// Everything the service stores, on one backend.
#[async_trait::async_trait]
pub trait Store:
    UserStore
    + TokenStore
    + VenueStore
    + BookingStore
    + OrderStore
    + OutboxStore
    + TicketStore
    + QueueStore
    + PresaleStore
    + AuditStore
    + Send
    + Sync
    + 'static
{
    /// Backend name for logs and `/ready` ("sqlite", "postgres").
    fn backend(&self) -> &'static str;
    /// Finishes pending work and closes connections; called once at shutdown.
    async fn close(&self);
    /// `(pool name, open connections, idle connections)` of each connection pool.
    fn pool_usage(&self) -> Vec<(&'static str, u32, usize)>;
    /// Drops what has outlived its use: idempotency keys older than `keep_keys` and
    /// revocations of tokens that have expired anyway.
    async fn prune(&self, keep_keys: std::time::Duration) -> Result<(), StoreError>;
    /// Waits until the reads that go to a replica see every write committed so far, for
    /// at most `patience`: `Ok(false)` if the replica is still behind then. Without a
    /// replica they see it already.
    async fn replica_caught_up(&self, _patience: std::time::Duration) -> Result<bool, StoreError> {
        Ok(true)
    }

    /// Whether reads that tolerate lag go to a replica.
    fn has_replica(&self) -> bool {
        false
    }
}

/// [`Store::prune`] on every backend.
async fn prune<B>(backend: &B, keep_keys: std::time::Duration) -> Result<(), StoreError>
where
    B: Backend,
    for<'c> &'c mut Conn<B>: Executor<'c, Database = B::DB>,
    for<'q> Args<'q, B>: IntoArguments<'q, B::DB>,
    DateTime<Utc>: Column<B::DB>,
{
    let now = Utc::now();
    let cutoff = now - chrono::Duration::from_std(keep_keys).map_err(|e| anyhow::anyhow!(e))?;
    sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
        .bind(cutoff)
        .execute(&*backend.write().await?)
        .await?;
    sqlx::query(tokens::PRUNE_REVOKED).bind(now).execute(&*backend.write().await?).await?;
    Ok(())
}

/// What can go wrong in storage, in terms the HTTP layer can answer with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A live row already has this unique value; the payload names the field.
    #[error("{0} is already taken")]
    Duplicate(&'static str),
    /// No such (live) row.
    #[error("not found")]
    NotFound,
    /// The change would break a rule that depends on other rows (e.g. deleting a venue
    /// with upcoming concerts); `code` is the API's error code.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// The database cannot be reached or is overloaded; worth retrying later.
    #[error("database unavailable")]
    Unavailable(#[source] sqlx::Error),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                StoreError::Unavailable(err)
            }
            // PostgreSQL: a deadlock or serialization conflict broken by aborting this
            // transaction, too many connections, or a server shutting down — all transient.
            sqlx::Error::Database(db)
                if matches!(db.code().as_deref(), Some("40001" | "40P01" | "53300" | "57P01")) =>
            {
                StoreError::Unavailable(err)
            }
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                match duplicate_field(db.constraint().unwrap_or_default(), db.message()) {
                    Some(field) => StoreError::Duplicate(field),
                    None => StoreError::Other(anyhow::Error::new(err)),
                }
            }
            sqlx::Error::Database(db) => match trigger_refusal(db.message()) {
                Some((code, message)) => StoreError::conflict(code, message),
                None => StoreError::Other(anyhow::Error::new(err)),
            },
            _ => StoreError::Other(anyhow::Error::new(err)),
        }
    }
}

/// A change the schema's triggers refused that the client can act on: `(code, message)`,
/// by the trigger's message (the same on both backends).
fn trigger_refusal(message: &str) -> Option<(&'static str, &'static str)> {
    const REFUSALS: [(&str, &str); 2] = [
        (
            "PRESALE_AFTER_SALES_OPEN",
            "a presale of this concert would close after its sales open (salesOpenAt): keep salesOpenAt at or \
             after the end of every presale, or delete the presale first",
        ),
        ("PRESALE_USED", "codes of this presale were used to book: it is kept"),
    ];
    REFUSALS.into_iter().find(|(code, _)| message.contains(code))
}

/// Names the field behind a unique violation. PostgreSQL names the violated index; SQLite
/// reports no constraint name, only a message naming the index or column, so both are
/// searched for the `<table>_<field>_key` index names the migrations of both backends use.
fn duplicate_field(constraint: &str, message: &str) -> Option<&'static str> {
    const KEYS: [(&str, &str, &str); 3] = [
        ("users_username_key", "users.username", "username"),
        ("users_email_key", "users.email", "email"),
        ("users_nickname_key", "users.nickname", "nickname"),
    ];
    KEYS.iter()
        .find(|(index, column, _)| {
            constraint == *index || message.contains(index) || message.contains(column)
        })
        .map(|(_, _, field)| *field)
}

impl StoreError {
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        StoreError::Conflict { code, message: message.into() }
    }
}

/// Opens the store the URL names and brings its schema up to date.
pub async fn open(url: &DatabaseUrl) -> anyhow::Result<Arc<dyn Store>> {
    match url {
        DatabaseUrl::Sqlite(url) => Ok(Arc::new(sqlite::SqliteStore::open(url).await?)),
        DatabaseUrl::Postgres { url, replica } => {
            Ok(Arc::new(postgres::PostgresStore::open(url, replica.as_deref()).await?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::duplicate_field;

    #[test]
    fn the_triggers_refusals_a_client_can_act_on_are_named() {
        assert_eq!(super::trigger_refusal("PRESALE_USED").map(|(code, _)| code), Some("PRESALE_USED"));
        let postgres = "PRESALE_AFTER_SALES_OPEN";
        assert_eq!(super::trigger_refusal(postgres).map(|(code, _)| code), Some("PRESALE_AFTER_SALES_OPEN"));
        assert_eq!(super::trigger_refusal("SEAT_TAKEN"), None);
    }

    #[test]
    fn duplicate_field_is_found_in_sqlite_messages() {
        let msg = "UNIQUE constraint failed: index 'users_email_key'";
        assert_eq!(duplicate_field("", msg), Some("email"));
        assert_eq!(duplicate_field("users_nickname_key", ""), Some("nickname"));
        assert_eq!(duplicate_field("", "UNIQUE constraint failed: other.x"), None);
    }
}
