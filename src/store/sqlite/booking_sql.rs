//! Booking and cancelling as the group commit runs them: synchronous SQLite calls on the
//! writer thread's own connection, with prepared statements kept across batches. Each
//! function runs inside the batch's open transaction; the writer commits, and nobody is
//! answered before.

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, params};

use super::layouts::{Layouts, PricedSeat};
use crate::domain::booking::{Order, ReservationStatus, SeatRef};
use crate::domain::venue::{Letter, SeatStatus};
use crate::store::bookings::{ReservationRow, corrupt};
use crate::store::{Booked, BookingError, Cancelled, ReservationRecord, StoreError};

/// The columns [`reservation_row`] reads, as a literal so that statements are built at
/// compile time (the statement cache is keyed by the text, looked up on every booking).
macro_rules! reservation_columns {
    () => {
        "id, user_id, concert_id, seat_id, status, created_at, cancelled_at"
    };
}

/// A booking as the writer holds it.
#[derive(Debug, Clone)]
pub(super) struct OwnedBooking {
    pub user_id: i64,
    pub concert_id: i64,
    pub order: Order,
    /// `(key, fingerprint)`.
    pub idempotency: Option<(String, String)>,
}

/// A cancellation as the writer holds it.
#[derive(Debug, Clone)]
pub(super) struct OwnedCancel {
    pub concert_id: i64,
    pub reservation_id: i64,
    pub actor_id: i64,
    pub actor_is_admin: bool,
}

/// Times as the rest of the store writes them (sqlx's encoding of `DateTime<Utc>`), so
/// that the schema's text comparisons of times hold across both connections.
pub(super) fn time_text(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

fn parse_rfc3339(raw: &str) -> Result<DateTime<Utc>, chrono::ParseError> {
    DateTime::parse_from_rfc3339(raw).map(|t| t.with_timezone(&Utc))
}

fn parse_time(raw: &str) -> Result<DateTime<Utc>, StoreError> {
    parse_rfc3339(raw).map_err(|e| corrupt(format!("stored time {raw:?}: {e}")))
}

/// A storage failure: busy or unreachable files are worth retrying, the rest is not.
pub(super) fn store_error(err: rusqlite::Error) -> StoreError {
    match err.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            StoreError::Unavailable(sqlx::Error::PoolTimedOut)
        }
        _ => StoreError::Other(anyhow::Error::new(err)),
    }
}

impl From<rusqlite::Error> for BookingError {
    fn from(err: rusqlite::Error) -> Self {
        BookingError::Store(store_error(err))
    }
}

/// A reservation row read into the stores' shared row shape, its text times parsed.
fn reservation_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ReservationRow> {
    let time = |index: usize, raw: &str| {
        parse_rfc3339(raw)
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(index, Type::Text, Box::new(e)))
    };
    Ok(ReservationRow {
        id: row.get(0)?,
        user_id: row.get(1)?,
        concert_id: row.get(2)?,
        seat_id: row.get(3)?,
        status: row.get(4)?,
        created_at: time(5, row.get_ref(5)?.as_str()?)?,
        cancelled_at: row.get_ref(6)?.as_str_or_null()?.map(|raw| time(6, raw)).transpose()?,
    })
}

/// What the schema's triggers or unique index refused, if that is what `err` is.
enum Refusal {
    Taken,
    Locked,
    ConcertNotFound,
    ConcertStarted,
    FanLimit,
}

fn refusal_of(err: &rusqlite::Error) -> Option<Refusal> {
    let rusqlite::Error::SqliteFailure(failure, message) = err else { return None };
    if failure.code != rusqlite::ErrorCode::ConstraintViolation {
        return None;
    }
    let message = message.as_deref().unwrap_or_default();
    if failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE || message.contains("SEAT_TAKEN") {
        Some(Refusal::Taken)
    } else if message.contains("SEAT_LOCKED") {
        Some(Refusal::Locked)
    } else if message.contains("CONCERT_NOT_FOUND") {
        Some(Refusal::ConcertNotFound)
    } else if message.contains("CONCERT_STARTED") {
        Some(Refusal::ConcertStarted)
    } else if message.contains("FAN_LIMIT") {
        Some(Refusal::FanLimit)
    } else {
        None
    }
}

/// The booking error a refusal by the schema stands for.
fn refusal(conn: &Connection, err: rusqlite::Error, request: &OwnedBooking) -> BookingError {
    let seats = &request.order.seats;
    match refusal_of(&err) {
        Some(Refusal::Taken) => {
            BookingError::SeatsUnavailable(seats.iter().map(|s| (*s, SeatStatus::Reserved)).collect())
        }
        Some(Refusal::Locked) => {
            BookingError::SeatsUnavailable(seats.iter().map(|s| (*s, SeatStatus::Locked)).collect())
        }
        Some(Refusal::ConcertNotFound) => BookingError::ConcertNotFound,
        Some(Refusal::ConcertStarted) => BookingError::ConcertStarted,
        Some(Refusal::FanLimit) => {
            let counts = conn
                .prepare_cached("SELECT max_seats_per_fan FROM concerts WHERE id = ?1")
                .and_then(|mut s| s.query_row([request.concert_id], |r| r.get(0)))
                .map_err(BookingError::from)
                .and_then(|limit| Ok((limit, held_seats(conn, request)?)));
            match counts {
                Ok((limit, held)) => BookingError::FanLimit { limit, held },
                Err(e) => e,
            }
        }
        None => err.into(),
    }
}

/// One booking inside the batch's transaction, `layouts` checked for its concert in this
/// transaction. `version` is left 0: the writer sets it.
pub(super) fn book_in(
    conn: &Connection,
    layouts: &Layouts,
    request: &OwnedBooking,
) -> Result<Booked, BookingError> {
    if let ([seat], None) = (&request.order.seats[..], &request.idempotency) {
        return book_one(conn, layouts, request, *seat);
    }
    // Several seats or an idempotency key: every check first, then the inserts, all in a
    // savepoint so that a refusal midway leaves nothing behind.
    conn.execute_batch("SAVEPOINT booking")?;
    match book_checked(conn, request) {
        Ok(booked) => {
            conn.execute_batch("RELEASE booking")?;
            Ok(booked)
        }
        Err(refused) => {
            conn.execute_batch("ROLLBACK TO booking; RELEASE booking")?;
            Err(refused)
        }
    }
}

/// The fast path of a single seat without an idempotency key: the seat and its price from
/// the concert's layout (or one look-up), then one INSERT, checked by the schema's
/// triggers. A refused statement leaves nothing behind, so it needs no savepoint.
fn book_one(
    conn: &Connection,
    layouts: &Layouts,
    request: &OwnedBooking,
    seat: SeatRef,
) -> Result<Booked, BookingError> {
    // Its status is the triggers' to check, with the reason they name.
    let stored = match layouts.seat(request.concert_id, seat) {
        Some(known) => Some(known),
        None => stored_seat(conn, request.concert_id, seat)?.map(|s| PricedSeat { id: s.id, price: s.price }),
    };
    let Some(PricedSeat { id: seat_id, price }) = stored else {
        // No such seat, or no such concert.
        let live = conn
            .prepare_cached("SELECT id FROM concerts WHERE id = ?1 AND deleted_at IS NULL")?
            .query_row([request.concert_id], |r| r.get::<_, i64>(0))
            .optional()?;
        return Err(if live.is_some() {
            BookingError::SeatsNotFound(vec![seat])
        } else {
            BookingError::ConcertNotFound
        });
    };
    let record = insert_reservation(conn, request, seat_id, price, Utc::now())?;
    Ok(Booked { reservations: vec![record], version: 0, replayed: false, seats: vec![seat] })
}

/// A seat of the concert as stored, with the price of its grade.
struct StoredSeat {
    id: i64,
    status: SeatStatus,
    price: i64,
}

fn stored_seat(
    conn: &Connection,
    concert_id: i64,
    seat: SeatRef,
) -> Result<Option<StoredSeat>, BookingError> {
    let row: Option<(i64, String, i64)> = conn
        .prepare_cached(
            "SELECT s.id, s.status, p.price_cents
             FROM seats s JOIN seat_prices p ON p.concert_id = s.concert_id AND p.grade = s.grade
             WHERE s.concert_id = ?1 AND s.horizontal = ?2 AND s.vertical = ?3",
        )?
        .query_row(params![concert_id, seat.horizontal.to_string(), seat.vertical], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    let Some((id, status, price)) = row else { return Ok(None) };
    Ok(Some(StoredSeat { id, status: SeatStatus::parse(&status).map_err(corrupt)?, price }))
}

/// The fan's active reservations of the concert.
fn held_seats(conn: &Connection, request: &OwnedBooking) -> Result<i64, BookingError> {
    Ok(conn
        .prepare_cached(
            "SELECT count(*) FROM reservations WHERE concert_id = ?1 AND user_id = ?2 AND status = 'Y'",
        )?
        .query_row([request.concert_id, request.user_id], |r| r.get(0))?)
}

/// Inserts one active reservation; the schema's triggers check it and take the seat.
/// Without `RETURNING`, which SQLite runs through a temporary table: every column but the
/// id is what was written, and the id is the new row's. `OR FAIL`, with the schema's
/// FAIL triggers and deferred foreign keys (migration 0006), leaves SQLite no way to stop
/// the statement halfway, so it runs without a statement journal; every refusal comes
/// before the reservation is written, so a refused INSERT still leaves nothing behind.
fn insert_reservation(
    conn: &Connection,
    request: &OwnedBooking,
    seat_id: i64,
    price: i64,
    now: DateTime<Utc>,
) -> Result<ReservationRecord, BookingError> {
    let inserted = conn
        .prepare_cached(
            "INSERT OR FAIL INTO reservations (user_id, concert_id, seat_id, status, price_cents, created_at)
             VALUES (?1, ?2, ?3, 'Y', ?4, ?5)",
        )?
        .execute(params![request.user_id, request.concert_id, seat_id, price, time_text(now)]);
    match inserted {
        Ok(_) => Ok(ReservationRecord {
            id: conn.last_insert_rowid(),
            user_id: request.user_id,
            concert_id: request.concert_id,
            seat_id,
            status: ReservationStatus::Active,
            created_at: now,
            cancelled_at: None,
        }),
        Err(e) => Err(refusal(conn, e, request)),
    }
}

/// The checked path: replay, concert, every seat, the per-fan limit, then the inserts.
fn book_checked(conn: &Connection, request: &OwnedBooking) -> Result<Booked, BookingError> {
    let now = Utc::now();
    let seats = &request.order.seats;
    if let Some(booked) = replay(conn, request)? {
        return Ok(booked);
    }
    let concert: Option<(String, i64)> = conn
        .prepare_cached(
            "SELECT start_time, max_seats_per_fan FROM concerts WHERE id = ?1 AND deleted_at IS NULL",
        )?
        .query_row([request.concert_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let (start_time, limit) = concert.ok_or(BookingError::ConcertNotFound)?;
    if parse_time(&start_time)? <= now {
        return Err(BookingError::ConcertStarted);
    }
    let mut found = Vec::with_capacity(seats.len());
    let mut missing = Vec::new();
    let mut unavailable = Vec::new();
    for seat in seats {
        match stored_seat(conn, request.concert_id, *seat)? {
            None => missing.push(*seat),
            Some(StoredSeat { id, status: SeatStatus::Available, price }) => found.push((id, price)),
            Some(StoredSeat { status, .. }) => unavailable.push((*seat, status)),
        }
    }
    if !missing.is_empty() {
        return Err(BookingError::SeatsNotFound(missing));
    }
    if !unavailable.is_empty() {
        return Err(BookingError::SeatsUnavailable(unavailable));
    }
    let held = held_seats(conn, request)?;
    if held + i64::try_from(seats.len()).unwrap_or(i64::MAX) > limit {
        return Err(BookingError::FanLimit { limit, held });
    }
    let mut reservations = Vec::with_capacity(found.len());
    for (seat_id, price) in found {
        reservations.push(insert_reservation(conn, request, seat_id, price, now)?);
    }
    if let Some((key, fingerprint)) = &request.idempotency {
        let ids: Vec<String> = reservations.iter().map(|r| r.id.to_string()).collect();
        conn.prepare_cached(
            "INSERT INTO idempotency_keys (user_id, key, fingerprint, concert_id, reservation_ids, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![request.user_id, key, fingerprint, request.concert_id, ids.join(","), time_text(now)])?;
    }
    Ok(Booked { reservations, version: 0, replayed: false, seats: seats.clone() })
}

/// The answer saved under an idempotency key, if the key was used before.
fn replay(conn: &Connection, request: &OwnedBooking) -> Result<Option<Booked>, BookingError> {
    let Some((key, fingerprint)) = &request.idempotency else { return Ok(None) };
    let saved: Option<(String, String)> = conn
        .prepare_cached(
            "SELECT fingerprint, reservation_ids FROM idempotency_keys WHERE user_id = ?1 AND key = ?2",
        )?
        .query_row(params![request.user_id, key], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((saved_fingerprint, ids)) = saved else { return Ok(None) };
    if &saved_fingerprint != fingerprint {
        return Err(BookingError::KeyReused);
    }
    let mut reservations = Vec::new();
    for id in ids.split(',').filter(|s| !s.is_empty()) {
        let id: i64 = id.parse().map_err(|_| corrupt(format!("idempotency ids {ids:?}")))?;
        let mut record = reservation_by_id(conn, id)?;
        // The first answer reported them active; a replay answers the same.
        record.status = ReservationStatus::Active;
        record.cancelled_at = None;
        reservations.push(record);
    }
    let seats = reservations.iter().map(|r| seat_of(conn, r.seat_id)).collect::<Result<_, _>>()?;
    Ok(Some(Booked { reservations, version: 0, replayed: true, seats }))
}

fn reservation_by_id(conn: &Connection, id: i64) -> Result<ReservationRecord, BookingError> {
    let row = conn
        .prepare_cached(concat!("SELECT ", reservation_columns!(), " FROM reservations WHERE id = ?1"))?
        .query_row([id], reservation_row)?;
    Ok(row.try_into()?)
}

/// The position of a stored seat.
fn seat_of(conn: &Connection, seat_id: i64) -> Result<SeatRef, BookingError> {
    let (horizontal, vertical): (String, i64) = conn
        .prepare_cached("SELECT horizontal, vertical FROM seats WHERE id = ?1")?
        .query_row([seat_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(SeatRef {
        horizontal: Letter::parse(&horizontal)
            .map_err(|e| corrupt(format!("stored row {horizontal:?}: {e}")))?,
        vertical: u8::try_from(vertical).map_err(|e| StoreError::Other(e.into()))?,
    })
}

/// One cancellation inside the batch's transaction. Its only write is one conditional
/// UPDATE (the triggers free the seat), so a refusal needs no savepoint. `version` is set
/// by the writer after the batch; `None` means it was cancelled already.
pub(super) fn cancel_in(conn: &Connection, request: &OwnedCancel) -> Result<Cancelled, BookingError> {
    let now = Utc::now();
    let row = conn
        .prepare_cached(concat!(
            "SELECT ",
            reservation_columns!(),
            " FROM reservations WHERE id = ?1 AND concert_id = ?2"
        ))?
        .query_row([request.reservation_id, request.concert_id], reservation_row)
        .optional()?;
    let record = ReservationRecord::try_from(row.ok_or(BookingError::ReservationNotFound)?)?;
    if record.user_id != request.actor_id && !request.actor_is_admin {
        return Err(BookingError::NotOwner);
    }
    let seat = seat_of(conn, record.seat_id)?;
    if !record.status.can_become(ReservationStatus::Cancelled) {
        return Ok(Cancelled { reservation: record, seat, version: None });
    }
    let start_time: String = conn
        .prepare_cached("SELECT start_time FROM concerts WHERE id = ?1")?
        .query_row([request.concert_id], |r| r.get(0))?;
    if parse_time(&start_time)? <= now && !request.actor_is_admin {
        return Err(BookingError::ConcertStarted);
    }
    // Only this transaction writes, and it read the reservation active just above.
    let changed = conn
        .prepare_cached(
            "UPDATE reservations SET status = 'N', cancelled_at = ?2 WHERE id = ?1 AND status = 'Y'",
        )?
        .execute(params![request.reservation_id, time_text(now)])?;
    if changed != 1 {
        return Err(BookingError::Store(corrupt(format!(
            "reservation {} changed while it was being cancelled",
            request.reservation_id
        ))));
    }
    let reservation =
        ReservationRecord { status: ReservationStatus::Cancelled, cancelled_at: Some(now), ..record };
    Ok(Cancelled { reservation, seat, version: Some(0) })
}
