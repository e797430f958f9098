//! Reservations in storage: booking, cancelling and history.

mod history;

pub(in crate::store) use history::history;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{StoreError, row_label};
use crate::domain::booking::{Order, Refusal, ReservationStatus, SeatRef};
use crate::domain::presale::AccessCode;
use crate::domain::sections::{RowLabel, SectionName};
use crate::domain::venue::{Letter, Price, SeatStatus};

/// One reservation row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservationRecord {
    pub id: i64,
    pub user_id: i64,
    pub concert_id: i64,
    pub seat_id: i64,
    pub status: ReservationStatus,
    pub created_at: DateTime<Utc>,
    pub cancelled_at: Option<DateTime<Utc>>,
    /// The order it belongs to (none for reservations made before orders existed).
    pub order_id: Option<i64>,
    /// Until when a held reservation holds its seat.
    pub expires_at: Option<DateTime<Utc>>,
}

/// An order to book, with its idempotency key if the client sent one.
#[derive(Debug, Clone)]
pub struct BookingRequest<'a> {
    pub user_id: i64,
    pub concert_id: i64,
    pub order: &'a Order,
    /// `(key, fingerprint of the order)`.
    pub idempotency: Option<(&'a str, String)>,
    /// The presale access code sent with it, if any.
    pub access_code: Option<&'a AccessCode>,
}

/// A booking as a writer holds it while it waits for its batch.
#[derive(Debug, Clone)]
pub(in crate::store) struct OwnedBooking {
    pub user_id: i64,
    pub concert_id: i64,
    pub order: Order,
    /// `(key, fingerprint)`.
    pub idempotency: Option<(String, String)>,
    pub access_code: Option<AccessCode>,
}

impl From<&BookingRequest<'_>> for OwnedBooking {
    fn from(r: &BookingRequest<'_>) -> Self {
        Self {
            user_id: r.user_id,
            concert_id: r.concert_id,
            order: r.order.clone(),
            idempotency: r.idempotency.as_ref().map(|(k, f)| ((*k).to_owned(), f.clone())),
            access_code: r.access_code.cloned(),
        }
    }
}

impl OwnedBooking {
    /// The booking as the request it came from.
    pub(in crate::store) fn request(&self) -> BookingRequest<'_> {
        BookingRequest {
            user_id: self.user_id,
            concert_id: self.concert_id,
            order: &self.order,
            idempotency: self.idempotency.as_ref().map(|(k, f)| (k.as_str(), f.clone())),
            access_code: self.access_code.as_ref(),
        }
    }
}

/// A committed booking.
#[derive(Debug, Clone)]
pub struct Booked {
    /// As first answered (for a replay: as they were when first booked).
    pub reservations: Vec<ReservationRecord>,
    /// The concert's seat-map version right after the booking.
    pub version: i64,
    /// True when an earlier request with the same idempotency key booked these.
    pub replayed: bool,
    /// The seats it reserved.
    pub seats: Vec<SeatRef>,
    /// Seats whose holds were past due and were expired to make room, before the seats
    /// were taken (each one step of the map version, like every booked seat).
    pub released: Vec<SeatRef>,
}

impl Booked {
    /// The concert booked in.
    pub fn concert_id(&self) -> i64 {
        self.reservations.first().map_or(0, |r| r.concert_id)
    }
}

/// A committed cancellation.
#[derive(Debug, Clone)]
pub struct Cancelled {
    pub reservation: ReservationRecord,
    pub seat: SeatRef,
    /// The concert's seat-map version after it; `None` when it was cancelled already.
    pub version: Option<i64>,
}

/// Why a booking or cancellation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum BookingError {
    #[error("no such concert")]
    ConcertNotFound,
    #[error("the concert has already started")]
    ConcertStarted,
    /// Its sales open at this time.
    #[error("sales have not opened")]
    SalesNotOpen(DateTime<Utc>),
    #[error("sales have closed")]
    SalesClosed,
    /// Before the general sale, an access code the concert does not have.
    #[error("unknown access code")]
    AccessCodeInvalid,
    /// The code's presale opens at this time.
    #[error("the presale has not opened")]
    PresaleNotOpen(DateTime<Utc>),
    /// The code's presale has closed; the general sale opens at this time.
    #[error("the presale has closed")]
    PresaleClosed(DateTime<Utc>),
    /// The code has made all the bookings it may.
    #[error("access code used up")]
    AccessCodeUsedUp,
    /// Seats that do not exist in this concert.
    #[error("no such seat")]
    SeatsNotFound(Vec<SeatRef>),
    /// Seats that are reserved or locked, with their status.
    #[error("seats not available")]
    SeatsUnavailable(Vec<(SeatRef, SeatStatus)>),
    /// Standing sections the concert does not sell.
    #[error("no such standing section")]
    SectionsNotFound(Vec<SectionName>),
    /// Standing sections with fewer places left than ordered: `(section, places left)`.
    #[error("sold out")]
    SoldOut(Vec<(SectionName, i64)>),
    /// The fan would hold more than the concert allows.
    #[error("per-fan limit")]
    FanLimit { limit: i64, held: i64 },
    /// The idempotency key was used before for a different request.
    #[error("idempotency key reused")]
    KeyReused,
    #[error("no such reservation")]
    ReservationNotFound,
    /// A held seat is given up with its whole order (this one), not alone.
    #[error("held by a pending order")]
    HeldByOrder(i64),
    #[error("not your reservation")]
    NotOwner,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for BookingError {
    fn from(e: sqlx::Error) -> Self {
        BookingError::Store(e.into())
    }
}

impl From<Refusal> for BookingError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::ConcertNotFound => BookingError::ConcertNotFound,
            Refusal::ConcertStarted => BookingError::ConcertStarted,
            Refusal::SalesNotOpen(at) => BookingError::SalesNotOpen(at),
            Refusal::SalesClosed => BookingError::SalesClosed,
            Refusal::AccessCodeInvalid => BookingError::AccessCodeInvalid,
            Refusal::PresaleNotOpen(at) => BookingError::PresaleNotOpen(at),
            Refusal::PresaleClosed(at) => BookingError::PresaleClosed(at),
            Refusal::AccessCodeUsedUp => BookingError::AccessCodeUsedUp,
            Refusal::SeatsNotFound(seats) => BookingError::SeatsNotFound(seats),
            Refusal::SeatsUnavailable(seats) => BookingError::SeatsUnavailable(seats),
            Refusal::FanLimit { limit, held } => BookingError::FanLimit { limit, held },
        }
    }
}

/// A reservation with everything a fan or admin sees of it, from one joined query.
#[derive(Debug, Clone)]
pub struct ReservationHistory {
    pub id: i64,
    pub status: ReservationStatus,
    pub price: Price,
    pub created_at: DateTime<Utc>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub user_id: i64,
    pub username: String,
    pub nickname: Option<String>,
    pub concert_id: i64,
    pub concert_name: String,
    pub concert_description: String,
    pub start_time: DateTime<Utc>,
    pub auditorium_id: i64,
    pub auditorium_name: String,
    pub auditorium_address: String,
    pub seat_id: i64,
    pub seat: SeatRef,
    pub grade: Letter,
}

/// The columns [`ReservationRow`] reads, as a literal so that statements can be built at
/// compile time (SQLite's statement cache is keyed by the text, looked up on every booking).
macro_rules! reservation_columns {
    () => {
        "id, user_id, concert_id, seat_id, status, created_at, cancelled_at, order_id, expires_at"
    };
}

/// The columns [`ReservationRow`] reads.
pub(in crate::store) const RESERVATION_COLUMNS: &str = reservation_columns!();

/// A reservation (`$1`) of a concert (`$2`).
pub(in crate::store) const RESERVATION_IN_CONCERT: &str =
    concat!("SELECT ", reservation_columns!(), " FROM reservations WHERE id = $1 AND concert_id = $2");

/// What a booking of a live concert (`$1`) is decided by: [`crate::domain::booking::Terms`].
pub(in crate::store) const CONCERT_TERMS: &str =
    "SELECT start_time, max_seats_per_fan, sales_open_at, sales_close_at, checkout, hold_minutes
     FROM concerts WHERE id = $1 AND deleted_at IS NULL";

/// The code (`$2`, as stored) of a concert (`$1`), with its presale's window and its uses:
/// `(id, opens at, closes at, uses, most uses)`, a
/// [`crate::domain::presale::PresaleCode`].
pub(in crate::store) const PRESALE_CODE: &str = "SELECT c.id, p.opens_at, p.closes_at, c.uses, c.max_uses
     FROM presale_codes c JOIN presales p ON p.id = c.presale_id WHERE c.concert_id = $1 AND c.code = $2";

/// Records that an order (`$1`) used a presale code (`$2`): the schema checks the use and
/// counts it in the code's `uses`.
pub(in crate::store) const USE_CODE: &str = "INSERT INTO presale_uses (order_id, code_id) VALUES ($1, $2)";

/// The refusal a failed [`USE_CODE`] stands for, named by the schema's messages (a use one
/// too many is refused by the trigger, or, racing another, by the CHECK on `uses`).
pub(in crate::store) fn code_refusal(message: &str) -> Option<BookingError> {
    if message.contains("ACCESS_CODE_USED_UP") || message.contains("presale_codes_uses_within_max") {
        Some(BookingError::AccessCodeUsedUp)
    } else if message.contains("ACCESS_CODE_INVALID") {
        Some(BookingError::AccessCodeInvalid)
    } else {
        None
    }
}

/// A new order of a fan (`$2`) in a concert (`$1`), in the concert's currency: status `$3`,
/// total `$4`, made at `$5`, held until `$6`. Inserts nothing when there is no such concert.
pub(in crate::store) const INSERT_ORDER: &str =
    "INSERT INTO orders (concert_id, user_id, status, total_cents, currency, created_at, expires_at)
     SELECT $1, $2, $3, $4, currency, $5, $6 FROM concerts WHERE id = $1";

/// The order whose hold takes a seat (`$1`) and ended by `$2` (an order's hold ends at
/// the order's `expires_at`).
pub(in crate::store) const DUE_ORDER_OF_SEAT: &str =
    "SELECT r.order_id FROM reservations r JOIN orders o ON o.id = r.order_id
     WHERE r.seat_id = $1 AND r.status = 'H' AND o.expires_at <= $2";

/// The held places of a standing section (`$2`) of a concert (`$1`) whose holds ended by
/// `$3`, by order.
pub(in crate::store) const DUE_ORDERS_OF_SECTION: &str = "SELECT DISTINCT r.order_id FROM reservations r
     JOIN seats s ON s.id = r.seat_id
     WHERE s.concert_id = $1 AND s.section = $2 AND s.horizontal = '' AND s.status = 'HELD'
       AND r.status = 'H' AND r.order_id IN (SELECT id FROM orders WHERE concert_id = $1
                                             AND status = 'PENDING_PAYMENT' AND expires_at <= $3)";

/// The seats an order (`$1`) holds: `(section, row, number)`.
pub(in crate::store) const HELD_SEATS_OF_ORDER: &str = "SELECT s.section, s.horizontal, s.vertical
     FROM reservations r JOIN seats s ON s.id = r.seat_id WHERE r.order_id = $1 AND r.status = 'H'
     ORDER BY r.id";

/// Ends an order's (`$2`) holds at `$1` (the triggers free the seats). (Parameters appear
/// in their numbers' order: SQLite's own binding counts them by appearance.)
pub(in crate::store) const EXPIRE_HOLDS: &str =
    "UPDATE reservations SET status = 'E', cancelled_at = $1 WHERE order_id = $2 AND status = 'H'";

/// Marks a pending order (`$1`) expired.
pub(in crate::store) const EXPIRE_ORDER: &str =
    "UPDATE orders SET status = 'EXPIRED' WHERE id = $1 AND status = 'PENDING_PAYMENT'";

/// Records a change of an order (`$1`) to `$2` for a cause (`$3`) by someone (`$4`) at `$5`.
pub(in crate::store) const ORDER_EVENT: &str =
    "INSERT INTO order_events (order_id, status, cause, actor_id, at) VALUES ($1, $2, $3, $4, $5)";

/// Refunds a cancelled reservation (`$3`) of a paid order at `$2`, for a reason (`$1`):
/// inserts nothing for an order that took no money (or a free seat).
pub(in crate::store) const REFUND_SEAT: &str =
    "INSERT INTO refunds (order_id, reservation_id, amount_cents, reason, provider, created_at)
     SELECT o.id, r.id, r.price_cents, $1, coalesce(p.provider, 'manual'), $2
     FROM reservations r JOIN orders o ON o.id = r.order_id LEFT JOIN payments p ON p.order_id = o.id
     WHERE r.id = $3 AND (o.status = 'PAID' OR o.status = 'PARTIALLY_REFUNDED') AND r.price_cents > 0";

/// Counts a refunded reservation's (`$1`) price against its order: partly or wholly refunded.
pub(in crate::store) const COUNT_REFUND: &str = "UPDATE orders
     SET refunded_cents = refunded_cents + (SELECT price_cents FROM reservations WHERE id = $1),
         status = CASE WHEN refunded_cents + (SELECT price_cents FROM reservations WHERE id = $1) >= paid_cents
                       THEN 'REFUNDED' ELSE 'PARTIALLY_REFUNDED' END
     WHERE id = (SELECT order_id FROM reservations WHERE id = $1)";

/// What a refund notice of a cancelled reservation (`$1`) says: `(order, price, currency,
/// refunds of the order so far)`.
pub(in crate::store) const REFUND_FACTS: &str = "SELECT o.id, r.price_cents, o.currency,
            (SELECT count(*) FROM refunds f WHERE f.order_id = o.id)
     FROM reservations r JOIN orders o ON o.id = r.order_id WHERE r.id = $1";

/// The reason a refund notice gives for a cancelled seat.
pub(in crate::store) const SEAT_REFUND_REASON: &str = "a seat of the order was cancelled";

/// The status an order (`$1`) has now.
pub(in crate::store) const ORDER_STATUS: &str = "SELECT status FROM orders WHERE id = $1";

/// The cause recorded when a paid seat is cancelled.
pub(in crate::store) const SEAT_CANCELLED: &str = "a paid seat was cancelled and its price refunded";

/// The cause recorded when a hold ends unpaid.
pub(in crate::store) const HOLD_ENDED: &str = "the hold ended before payment";

/// When a concert (`$1`), live or not, starts.
pub(in crate::store) const CONCERT_START: &str = "SELECT start_time FROM concerts WHERE id = $1";

/// The seats a fan (`$2`) holds in a concert (`$1`).
pub(in crate::store) const HELD_SEATS: &str = "SELECT count(*) FROM reservations WHERE concert_id = $1 AND user_id = $2 AND (status = 'Y' OR status = 'H')";

/// The first free places (`$3` of them) of a standing section (`$2`) of a concert (`$1`):
/// `(seat id, place number, price in cents)`.
pub(in crate::store) const FREE_PLACES: &str = "SELECT s.id, s.vertical, p.price_cents
     FROM seats s JOIN seat_prices p ON p.concert_id = s.concert_id AND p.grade = s.grade
     WHERE s.concert_id = $1 AND s.section = $2 AND s.horizontal = '' AND s.status = 'AVAILABLE'
     ORDER BY s.vertical LIMIT $3";

/// Whether a concert (`$1`) sells places of a standing section (`$2`) at all.
pub(in crate::store) const SECTION_SOLD: &str =
    "SELECT EXISTS (SELECT 1 FROM seats WHERE concert_id = $1 AND section = $2 AND horizontal = '')";

/// A standing place of a section, by its number.
pub(in crate::store) fn place(section: SectionName, number: i64) -> SeatRef {
    SeatRef { section, horizontal: RowLabel::STANDING, vertical: u32::try_from(number).unwrap_or(0) }
}

/// What an order's standing sections lacked: sections the concert does not sell, and
/// sections with fewer places left than asked for.
#[derive(Debug, Default)]
pub(in crate::store) struct Shortfall {
    missing: Vec<SectionName>,
    short: Vec<(SectionName, i64)>,
}

impl Shortfall {
    /// `section` has only `left` places for the order; `sold`: the concert sells it at all.
    pub(in crate::store) fn lacks(&mut self, section: SectionName, sold: bool, left: usize) {
        if sold { self.short.push((section, left as i64)) } else { self.missing.push(section) }
    }

    /// The refusal, if anything was lacking: unknown sections first.
    pub(in crate::store) fn refusal(self) -> Result<(), BookingError> {
        if !self.missing.is_empty() {
            return Err(BookingError::SectionsNotFound(self.missing));
        }
        if !self.short.is_empty() {
            return Err(BookingError::SoldOut(self.short));
        }
        Ok(())
    }
}

/// The answer saved under a fan's (`$1`) idempotency key (`$2`): fingerprint, reservation ids
/// and concert.
pub(in crate::store) const SAVED_ANSWER: &str =
    "SELECT fingerprint, reservation_ids, concert_id FROM idempotency_keys WHERE user_id = $1 AND key = $2";

/// A `reservations` row as every backend returns it.
#[derive(sqlx::FromRow)]
pub(in crate::store) struct ReservationRow {
    pub(in crate::store) id: i64,
    pub(in crate::store) user_id: i64,
    pub(in crate::store) concert_id: i64,
    pub(in crate::store) seat_id: i64,
    pub(in crate::store) status: String,
    pub(in crate::store) created_at: DateTime<Utc>,
    pub(in crate::store) cancelled_at: Option<DateTime<Utc>>,
    pub(in crate::store) order_id: Option<i64>,
    pub(in crate::store) expires_at: Option<DateTime<Utc>>,
}

/// A stored value the program cannot read back.
pub(in crate::store) fn corrupt(what: String) -> StoreError {
    StoreError::Other(anyhow::anyhow!(what))
}

/// A seat position as stored.
pub(in crate::store) fn seat_ref(
    section: &str,
    horizontal: &str,
    vertical: i64,
) -> Result<SeatRef, StoreError> {
    Ok(SeatRef {
        section: SectionName::stored(section),
        horizontal: row_label(horizontal)?,
        vertical: u32::try_from(vertical).map_err(|e| corrupt(format!("stored column {vertical}: {e}")))?,
    })
}

/// The reservation ids saved under an idempotency key (comma-separated, in order).
pub(in crate::store) fn saved_ids(ids: &str) -> Result<Vec<i64>, StoreError> {
    ids.split(',')
        .filter(|s| !s.is_empty())
        .map(|id| id.parse().map_err(|_| corrupt(format!("idempotency ids {ids:?}"))))
        .collect()
}

/// A saved reservation as the first answer reported it (held until its expiry, or
/// confirmed), for a replay to answer the same.
pub(in crate::store) fn as_first_answered(record: ReservationRecord) -> ReservationRecord {
    let status =
        if record.expires_at.is_some() { ReservationStatus::Held } else { ReservationStatus::Active };
    ReservationRecord { status, cancelled_at: None, ..record }
}

/// Whether `actor_id` may cancel `record` of a concert starting at `start` (`None`: no such
/// concert) at `now`: `Ok(false)` when it is cancelled already, which changes nothing. An
/// admin may cancel anyone's, even once the concert has started.
pub(in crate::store) fn cancellable(
    record: &ReservationRecord,
    actor_id: i64,
    actor_is_admin: bool,
    start: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<bool, BookingError> {
    if record.user_id != actor_id && !actor_is_admin {
        return Err(BookingError::NotOwner);
    }
    if let (ReservationStatus::Held, Some(order_id)) = (record.status, record.order_id) {
        return Err(BookingError::HeldByOrder(order_id));
    }
    if !record.status.can_become(ReservationStatus::Cancelled) {
        return Ok(false);
    }
    if start.is_none_or(|start| start <= now) && !actor_is_admin {
        return Err(BookingError::ConcertStarted);
    }
    Ok(true)
}

/// What the schema refused a reservation for, named by its triggers' messages (or by the
/// one-active-reservation-per-seat index).
pub(in crate::store) enum SchemaRefusal {
    Taken,
    Locked,
    ConcertNotFound,
    ConcertStarted,
    SalesNotOpen,
    SalesClosed,
    FanLimit,
}

impl SchemaRefusal {
    /// The refusal a database error stands for, from its message; `None` for other errors.
    pub(in crate::store) fn of(message: &str, unique_violation: bool) -> Option<Self> {
        const NAMES: [(&str, SchemaRefusal); 7] = [
            ("SEAT_TAKEN", SchemaRefusal::Taken),
            ("SEAT_LOCKED", SchemaRefusal::Locked),
            ("CONCERT_NOT_FOUND", SchemaRefusal::ConcertNotFound),
            ("CONCERT_STARTED", SchemaRefusal::ConcertStarted),
            ("SALES_NOT_OPEN", SchemaRefusal::SalesNotOpen),
            ("SALES_CLOSED", SchemaRefusal::SalesClosed),
            ("FAN_LIMIT", SchemaRefusal::FanLimit),
        ];
        if unique_violation {
            return Some(SchemaRefusal::Taken);
        }
        NAMES.into_iter().find(|(name, _)| message.contains(name)).map(|(_, refusal)| refusal)
    }

    /// The answer to an order of `seats`; `fan_limit` gives the limit and the seats held,
    /// `opens_at` when the concert's sales open.
    pub(in crate::store) fn answer(
        self,
        seats: &[SeatRef],
        fan_limit: impl FnOnce() -> Result<(i64, i64), BookingError>,
        opens_at: impl FnOnce() -> Result<DateTime<Utc>, BookingError>,
    ) -> BookingError {
        let all = |status| BookingError::SeatsUnavailable(seats.iter().map(|s| (*s, status)).collect());
        match self {
            SchemaRefusal::Taken => all(SeatStatus::Reserved),
            SchemaRefusal::Locked => all(SeatStatus::Locked),
            SchemaRefusal::ConcertNotFound => BookingError::ConcertNotFound,
            SchemaRefusal::ConcertStarted => BookingError::ConcertStarted,
            SchemaRefusal::SalesNotOpen => match opens_at() {
                Ok(at) => BookingError::SalesNotOpen(at),
                Err(e) => e,
            },
            SchemaRefusal::SalesClosed => BookingError::SalesClosed,
            SchemaRefusal::FanLimit => match fan_limit() {
                Ok((limit, held)) => BookingError::FanLimit { limit, held },
                Err(e) => e,
            },
        }
    }
}

impl TryFrom<ReservationRow> for ReservationRecord {
    type Error = StoreError;
    fn try_from(r: ReservationRow) -> Result<Self, StoreError> {
        Ok(ReservationRecord {
            id: r.id,
            user_id: r.user_id,
            concert_id: r.concert_id,
            seat_id: r.seat_id,
            status: ReservationStatus::parse(&r.status).map_err(corrupt)?,
            created_at: r.created_at,
            cancelled_at: r.cancelled_at,
            order_id: r.order_id,
            expires_at: r.expires_at,
        })
    }
}

/// Booking and cancelling.
#[async_trait]
pub trait BookingStore {
    /// Books every seat of the order or none, in one durable transaction.
    async fn book(&self, request: &BookingRequest<'_>) -> Result<Booked, BookingError>;
    /// Cancels a reservation of `concert_id` for its owner (or an admin). Cancelling a
    /// cancelled reservation changes nothing and answers the same.
    async fn cancel(
        &self,
        concert_id: i64,
        reservation_id: i64,
        actor_id: i64,
        actor_is_admin: bool,
    ) -> Result<Cancelled, BookingError>;
    /// Reservations, newest first: one user's, or everyone's.
    async fn reservation_history(&self, user_id: Option<i64>) -> Result<Vec<ReservationHistory>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::{SchemaRefusal, saved_ids};

    #[test]
    fn the_schema_refusals_are_read_from_either_backends_messages() {
        let of = SchemaRefusal::of;
        assert!(matches!(of("SEAT_LOCKED", false), Some(SchemaRefusal::Locked)));
        assert!(matches!(of("FAN_LIMIT", false), Some(SchemaRefusal::FanLimit)));
        assert!(matches!(of("CONCERT_STARTED (code 1811)", false), Some(SchemaRefusal::ConcertStarted)));
        assert!(matches!(of("UNIQUE constraint failed", true), Some(SchemaRefusal::Taken)));
        assert!(matches!(of("SALES_NOT_OPEN", false), Some(SchemaRefusal::SalesNotOpen)));
        assert!(matches!(of("SALES_CLOSED", false), Some(SchemaRefusal::SalesClosed)));
        assert!(of("SEAT_MISMATCH", false).is_none());
    }

    #[test]
    fn a_refused_use_of_a_code_is_read_from_either_backends_messages() {
        use super::{BookingError, code_refusal};
        let sqlite = "CHECK constraint failed: presale_codes_uses_within_max";
        let postgres = "new row for relation \"presale_codes\" violates check constraint \"presale_codes_uses_within_max\"";
        for message in [sqlite, postgres, "ACCESS_CODE_USED_UP"] {
            assert!(matches!(code_refusal(message), Some(BookingError::AccessCodeUsedUp)), "{message}");
        }
        assert!(matches!(code_refusal("ACCESS_CODE_INVALID"), Some(BookingError::AccessCodeInvalid)));
        assert!(code_refusal("FOREIGN KEY constraint failed").is_none());
    }

    #[test]
    fn saved_ids_keep_their_order() {
        assert_eq!(saved_ids("3,1,2").unwrap(), [3, 1, 2]);
        assert!(saved_ids("").unwrap().is_empty());
        assert!(saved_ids("1,x").is_err());
    }
}
