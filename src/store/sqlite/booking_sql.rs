//! Booking and cancelling as the group commit runs them: synchronous SQLite calls on the
//! writer thread's own connection, with prepared statements kept across batches. Each
//! function runs inside the batch's open transaction; the writer commits, and nobody is
//! answered before. The decision, the statements and the schema's refusals are those of
//! PostgreSQL's bookings (which say why the two paths stay apart).

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, params};

use super::layouts::{Layouts, PricedSeat};
use crate::domain::booking::{ReservationStatus, SeatRef, Terms, decide};
use crate::domain::venue::SeatStatus;
pub(super) use crate::store::bookings::OwnedBooking;
use crate::store::bookings::{
    CONCERT_START, CONCERT_TERMS, FREE_PLACES, HELD_SEATS, RESERVATION_IN_CONCERT, ReservationRow,
    SAVED_ANSWER, SECTION_SOLD, SchemaRefusal, Shortfall, as_first_answered, cancellable, corrupt, place,
    saved_ids, seat_ref,
};
use crate::store::{Booked, BookingError, Cancelled, ReservationRecord, StoreError};

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

/// The booking error a refusal by the schema stands for.
fn refusal(conn: &Connection, err: rusqlite::Error, request: &OwnedBooking) -> BookingError {
    let refused = match &err {
        rusqlite::Error::SqliteFailure(failure, message)
            if failure.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            let unique = failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE;
            SchemaRefusal::of(message.as_deref().unwrap_or_default(), unique)
        }
        _ => None,
    };
    let Some(refused) = refused else { return err.into() };
    refused.answer(
        &request.order.seats,
        || {
            let limit = conn
                .prepare_cached("SELECT max_seats_per_fan FROM concerts WHERE id = $1")?
                .query_row([request.concert_id], |r| r.get(0))?;
            Ok((limit, held_seats(conn, request)?))
        },
        || {
            let opens: String = conn
                .prepare_cached("SELECT sales_open_at FROM concerts WHERE id = $1")?
                .query_row([request.concert_id], |r| r.get(0))?;
            Ok(parse_time(&opens)?)
        },
    )
}

/// One booking inside the batch's transaction, `layouts` checked for its concert in this
/// transaction. `version` is left 0: the writer sets it.
pub(super) fn book_in(
    conn: &Connection,
    layouts: &Layouts,
    request: &OwnedBooking,
) -> Result<Booked, BookingError> {
    if let ([seat], None, []) = (&request.order.seats[..], &request.idempotency, &request.order.standing[..])
    {
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
             WHERE s.concert_id = ?1 AND s.section = ?2 AND s.horizontal = ?3 AND s.vertical = ?4",
        )?
        .query_row(params![concert_id, seat.section.as_str(), seat.horizontal.as_str(), seat.vertical], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    let Some((id, status, price)) = row else { return Ok(None) };
    Ok(Some(StoredSeat { id, status: SeatStatus::parse(&status).map_err(corrupt)?, price }))
}

/// The first free places of each standing section the order asks for, as seats with
/// their stored status and price; refused when a section is not sold or has fewer left.
/// Run inside the batch's transaction, which no one else writes: what is free here is
/// free when inserted.
fn standing_places(
    conn: &Connection,
    request: &OwnedBooking,
) -> Result<Vec<(SeatRef, StoredSeat)>, BookingError> {
    let (mut places, mut shortfall) = (Vec::new(), Shortfall::default());
    for wanted in &request.order.standing {
        let free = conn
            .prepare_cached(FREE_PLACES)?
            .query_map(params![request.concert_id, wanted.section.as_str(), wanted.quantity], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        if free.len() < wanted.quantity as usize {
            let sold = conn
                .prepare_cached(SECTION_SOLD)?
                .query_row(params![request.concert_id, wanted.section.as_str()], |r| r.get(0))?;
            shortfall.lacks(wanted.section, sold, free.len());
            continue;
        }
        for (id, number, price) in free {
            places.push((
                place(wanted.section, number),
                StoredSeat { id, status: SeatStatus::Available, price },
            ));
        }
    }
    shortfall.refusal()?;
    Ok(places)
}

/// The fan's active reservations of the concert.
fn held_seats(conn: &Connection, request: &OwnedBooking) -> Result<i64, BookingError> {
    Ok(conn.prepare_cached(HELD_SEATS)?.query_row([request.concert_id, request.user_id], |r| r.get(0))?)
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

/// The checked path: replay, then the concert, every seat and the fan's count decided
/// together, then the inserts.
fn book_checked(conn: &Connection, request: &OwnedBooking) -> Result<Booked, BookingError> {
    let now = Utc::now();
    let seats = &request.order.seats;
    if let Some(booked) = replay(conn, request)? {
        return Ok(booked);
    }
    let concert: Option<(String, i64, Option<String>, Option<String>)> = conn
        .prepare_cached(CONCERT_TERMS)?
        .query_row([request.concert_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .optional()?;
    let terms = match concert {
        Some((start, max_seats_per_fan, opens, closes)) => Some(Terms {
            start_time: parse_time(&start)?,
            max_seats_per_fan,
            sales_open_at: opens.as_deref().map(parse_time).transpose()?,
            sales_close_at: closes.as_deref().map(parse_time).transpose()?,
        }),
        None => None,
    };
    let mut stored = seats
        .iter()
        .map(|seat| Ok((*seat, stored_seat(conn, request.concert_id, *seat)?)))
        .collect::<Result<Vec<_>, BookingError>>()?;
    // Standing places once the concert is known to sell (else `decide` says why not).
    if !request.order.standing.is_empty() && terms.is_some_and(|t| t.start_time > now) {
        stored.extend(standing_places(conn, request)?.into_iter().map(|(seat, s)| (seat, Some(s))));
    }
    let statuses = stored.iter().map(|(seat, s)| (*seat, s.as_ref().map(|s| s.status)));
    decide(terms, now, statuses, held_seats(conn, request)?)?;
    let mut reservations = Vec::with_capacity(stored.len());
    let mut booked = Vec::with_capacity(stored.len());
    for (seat, found) in stored {
        if let Some(StoredSeat { id, price, .. }) = found {
            reservations.push(insert_reservation(conn, request, id, price, now)?);
            booked.push(seat);
        }
    }
    if let Some((key, fingerprint)) = &request.idempotency {
        let ids: Vec<String> = reservations.iter().map(|r| r.id.to_string()).collect();
        conn.prepare_cached(
            "INSERT INTO idempotency_keys (user_id, key, fingerprint, concert_id, reservation_ids, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![request.user_id, key, fingerprint, request.concert_id, ids.join(","), time_text(now)])?;
    }
    Ok(Booked { reservations, version: 0, replayed: false, seats: booked })
}

/// The answer saved under an idempotency key, if the key was used before.
fn replay(conn: &Connection, request: &OwnedBooking) -> Result<Option<Booked>, BookingError> {
    let Some((key, fingerprint)) = &request.idempotency else { return Ok(None) };
    let saved: Option<(String, String, i64)> = conn
        .prepare_cached(SAVED_ANSWER)?
        .query_row(params![request.user_id, key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let Some((saved_fingerprint, ids, concert_id)) = saved else { return Ok(None) };
    if &saved_fingerprint != fingerprint {
        return Err(BookingError::KeyReused);
    }
    let mut reservations = Vec::new();
    for id in saved_ids(&ids)? {
        let row =
            conn.prepare_cached(RESERVATION_IN_CONCERT)?.query_row([id, concert_id], reservation_row)?;
        reservations.push(as_first_answered(row.try_into()?));
    }
    let seats = reservations.iter().map(|r| seat_of(conn, r.seat_id)).collect::<Result<_, _>>()?;
    Ok(Some(Booked { reservations, version: 0, replayed: true, seats }))
}

/// The position of a stored seat.
fn seat_of(conn: &Connection, seat_id: i64) -> Result<SeatRef, BookingError> {
    let (section, horizontal, vertical): (String, String, i64) = conn
        .prepare_cached("SELECT section, horizontal, vertical FROM seats WHERE id = ?1")?
        .query_row([seat_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(seat_ref(&section, &horizontal, vertical)?)
}

/// One cancellation inside the batch's transaction. Its only write is one conditional
/// UPDATE (the triggers free the seat), so a refusal needs no savepoint. `version` is set
/// by the writer after the batch; `None` means it was cancelled already.
pub(super) fn cancel_in(conn: &Connection, request: &OwnedCancel) -> Result<Cancelled, BookingError> {
    let now = Utc::now();
    let row = conn
        .prepare_cached(RESERVATION_IN_CONCERT)?
        .query_row([request.reservation_id, request.concert_id], reservation_row)
        .optional()?;
    let record = ReservationRecord::try_from(row.ok_or(BookingError::ReservationNotFound)?)?;
    let start: Option<String> =
        conn.prepare_cached(CONCERT_START)?.query_row([request.concert_id], |r| r.get(0)).optional()?;
    let start = start.as_deref().map(parse_time).transpose()?;
    let to_cancel = cancellable(&record, request.actor_id, request.actor_is_admin, start, now)?;
    let seat = seat_of(conn, record.seat_id)?;
    if !to_cancel {
        return Ok(Cancelled { reservation: record, seat, version: None });
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
