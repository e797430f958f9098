//! Booking and cancelling as the group commit runs them: synchronous SQLite calls on the
//! writer thread's own connection, with prepared statements kept across batches. Each
//! function runs inside the batch's open transaction; the writer commits, and nobody is
//! answered before. The decision, the statements and the schema's refusals are those of
//! PostgreSQL's bookings (which say why the two paths stay apart).

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, params};

use super::layouts::{Layouts, PricedSeat};
use crate::domain::booking::{ReservationStatus, SeatRef, Terms, booked_as, decide, order_status_of};
use crate::domain::order::Notice;
use crate::domain::presale::{Access, AccessCode, PresaleCode};
use crate::domain::venue::Price;
use crate::domain::venue::{Checkout, SeatStatus};
pub(super) use crate::store::bookings::OwnedBooking;
use crate::store::bookings::{
    CONCERT_START, CONCERT_TERMS, COUNT_REFUND, DUE_ORDER_OF_SEAT, DUE_ORDERS_OF_SECTION, EXPIRE_HOLDS,
    EXPIRE_ORDER, FREE_PLACES, HELD_SEATS, HELD_SEATS_OF_ORDER, HOLD_ENDED, INSERT_ORDER, ORDER_EVENT,
    ORDER_STATUS, PRESALE_CODE, REFUND_FACTS, REFUND_SEAT, RESERVATION_IN_CONCERT, ReservationRow,
    SAVED_ANSWER, SEAT_CANCELLED, SEAT_REFUND_REASON, SECTION_SOLD, SchemaRefusal, Shortfall, USE_CODE,
    as_first_answered, cancellable, code_refusal, corrupt, place, saved_ids, seat_ref,
};
use crate::store::outbox::{QUEUE_CONFIRMATION, QUEUE_EMAIL};
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
        order_id: row.get(7)?,
        expires_at: row.get_ref(8)?.as_str_or_null()?.map(|raw| time(8, raw)).transpose()?,
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
/// transaction and `selling` (checkout, hold minutes) read by it, `None` for no such
/// concert. `version` is left 0: the writer sets it.
pub(super) fn book_in(
    conn: &Connection,
    layouts: &Layouts,
    request: &OwnedBooking,
    selling: Option<(Checkout, i64)>,
) -> Result<Booked, BookingError> {
    if let ([seat], None, [], None, Some(selling)) = (
        &request.order.seats[..],
        &request.idempotency,
        &request.order.standing[..],
        &request.access_code,
        selling,
    ) {
        return book_one(conn, layouts, request, *seat, selling);
    }
    book_in_savepoint(conn, request)
}

/// Several seats, an idempotency key, an access code, or a seat held past its time: every
/// check first, then the writes, all in a savepoint so that a refusal midway leaves
/// nothing behind.
fn book_in_savepoint(conn: &Connection, request: &OwnedBooking) -> Result<Booked, BookingError> {
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
/// the concert's layout (or one look-up), how it sells as the batch read it, then the
/// order and its one reservation, checked by the schema's triggers. A refused reservation leaves nothing but its order behind,
/// which is deleted again, so it needs no savepoint. A seat whose hold is over but not yet
/// expired by the sweeper takes the checked path, which expires it first.
fn book_one(
    conn: &Connection,
    layouts: &Layouts,
    request: &OwnedBooking,
    seat: SeatRef,
    (checkout, hold_minutes): (Checkout, i64),
) -> Result<Booked, BookingError> {
    // Its status is the triggers' to check, with the reason they name.
    let stored = match layouts.seat(request.concert_id, seat) {
        Some(known) => Some(known),
        None => stored_seat(conn, request.concert_id, seat)?.map(|s| PricedSeat { id: s.id, price: s.price }),
    };
    let Some(PricedSeat { id: seat_id, price }) = stored else {
        return Err(BookingError::SeatsNotFound(vec![seat]));
    };
    let now = Utc::now();
    let (status, expires_at) = booked_as(checkout, hold_minutes, now);
    let order_id = insert_order(conn, request, status, price, expires_at, now)?;
    match insert_reservation(conn, request, seat_id, price, now, (status, expires_at, order_id)) {
        Ok(record) => {
            confirm(conn, order_id, status, now)?;
            Ok(Booked {
                reservations: vec![record],
                version: 0,
                replayed: false,
                seats: vec![seat],
                released: Vec::new(),
            })
        }
        Err(refused) => {
            conn.prepare_cached("DELETE FROM orders WHERE id = ?1")?.execute([order_id])?;
            let held: Option<String> = conn
                .prepare_cached("SELECT status FROM seats WHERE id = ?1")?
                .query_row([seat_id], |r| r.get(0))
                .optional()?;
            if held.as_deref() == Some(SeatStatus::Held.as_str()) {
                return book_in_savepoint(conn, request);
            }
            Err(refused)
        }
    }
}

/// Inserts the order of a booking: pending payment until `expires_at` for held seats,
/// else confirmed; its total is what its seats cost.
fn insert_order(
    conn: &Connection,
    request: &OwnedBooking,
    status: ReservationStatus,
    total: i64,
    expires_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<i64, BookingError> {
    let inserted = conn.prepare_cached(INSERT_ORDER)?.execute(params![
        request.concert_id,
        request.user_id,
        order_status_of(status).as_str(),
        total,
        time_text(now),
        expires_at.map(time_text),
    ])?;
    if inserted != 1 {
        return Err(BookingError::ConcertNotFound);
    }
    Ok(conn.last_insert_rowid())
}

/// Expires the orders whose holds ended by `now` (inside the batch's transaction): their
/// held reservations end and free their seats. Returns the seats freed.
pub(super) fn expire_orders(
    conn: &Connection,
    orders: impl IntoIterator<Item = i64>,
    now: DateTime<Utc>,
) -> Result<Vec<SeatRef>, BookingError> {
    let mut freed = Vec::new();
    let mut done = std::collections::HashSet::new();
    for order in orders {
        if !done.insert(order) {
            continue;
        }
        let seats = conn
            .prepare_cached(HELD_SEATS_OF_ORDER)?
            .query_map([order], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        conn.prepare_cached(EXPIRE_HOLDS)?.execute(params![time_text(now), order])?;
        let mut named = Vec::with_capacity(seats.len());
        for (section, row, number) in seats {
            let seat = seat_ref(&section, &row, number)?;
            named.push(seat.to_string());
            freed.push(seat);
        }
        if conn.prepare_cached(EXPIRE_ORDER)?.execute([order])? == 1 {
            conn.prepare_cached(ORDER_EVENT)?.execute(params![
                order,
                "EXPIRED",
                HOLD_ENDED,
                Option::<i64>::None,
                time_text(now)
            ])?;
            queue(conn, order, &Notice::HoldEnded { order, seats: &named }, now)?;
        }
    }
    Ok(freed)
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
    released: &mut Vec<SeatRef>,
    now: DateTime<Utc>,
) -> Result<Vec<(SeatRef, StoredSeat)>, BookingError> {
    let (mut places, mut shortfall) = (Vec::new(), Shortfall::default());
    for wanted in &request.order.standing {
        let free_places = || -> Result<Vec<(i64, i64, i64)>, BookingError> {
            Ok(conn
                .prepare_cached(FREE_PLACES)?
                .query_map(params![request.concert_id, wanted.section.as_str(), wanted.quantity], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
                })?
                .collect::<Result<Vec<_>, _>>()?)
        };
        let mut free = free_places()?;
        if free.len() < wanted.quantity as usize {
            // Places whose holds are over count as free: expired here, before the sweeper.
            let due = conn
                .prepare_cached(DUE_ORDERS_OF_SECTION)?
                .query_map(params![request.concert_id, wanted.section.as_str(), time_text(now)], |r| {
                    r.get(0)
                })?
                .collect::<Result<Vec<i64>, _>>()?;
            if !due.is_empty() {
                released.extend(expire_orders(conn, due, now)?);
                free = free_places()?;
            }
        }
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
    (status, expires_at, order_id): (ReservationStatus, Option<DateTime<Utc>>, i64),
) -> Result<ReservationRecord, BookingError> {
    let inserted = conn
        .prepare_cached(
            "INSERT OR FAIL INTO reservations
                 (user_id, concert_id, seat_id, status, price_cents, created_at, order_id, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?
        .execute(params![
            request.user_id,
            request.concert_id,
            seat_id,
            status.code(),
            price,
            time_text(now),
            order_id,
            expires_at.map(time_text)
        ]);
    match inserted {
        Ok(_) => Ok(ReservationRecord {
            id: conn.last_insert_rowid(),
            user_id: request.user_id,
            concert_id: request.concert_id,
            seat_id,
            status,
            created_at: now,
            cancelled_at: None,
            order_id: Some(order_id),
            expires_at,
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
    type Row = (String, i64, Option<String>, Option<String>, String, i64);
    let concert: Option<Row> = conn
        .prepare_cached(CONCERT_TERMS)?
        .query_row([request.concert_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
        })
        .optional()?;
    let terms = match concert {
        Some((start, max_seats_per_fan, opens, closes, checkout, hold_minutes)) => Some(Terms {
            start_time: parse_time(&start)?,
            max_seats_per_fan,
            sales_open_at: opens.as_deref().map(parse_time).transpose()?,
            sales_close_at: closes.as_deref().map(parse_time).transpose()?,
            checkout: Checkout::parse(&checkout).map_err(corrupt)?,
            hold_minutes,
        }),
        None => None,
    };
    let read_seats = || {
        seats
            .iter()
            .map(|seat| Ok((*seat, stored_seat(conn, request.concert_id, *seat)?)))
            .collect::<Result<Vec<_>, BookingError>>()
    };
    let mut stored = read_seats()?;
    // Seats whose holds are over are free: their orders expire here, before the sweeper.
    let mut due = Vec::new();
    for (_, found) in &stored {
        if let Some(StoredSeat { id, status: SeatStatus::Held, .. }) = found {
            let order: Option<i64> = conn
                .prepare_cached(DUE_ORDER_OF_SEAT)?
                .query_row(params![id, time_text(now)], |r| r.get(0))
                .optional()?;
            due.extend(order);
        }
    }
    let mut released = Vec::new();
    if !due.is_empty() {
        released = expire_orders(conn, due, now)?;
        stored = read_seats()?;
    }
    // Standing places once the concert is known to sell (else `decide` says why not).
    if !request.order.standing.is_empty() && terms.is_some_and(|t| t.start_time > now) {
        let places = standing_places(conn, request, &mut released, now)?;
        stored.extend(places.into_iter().map(|(seat, s)| (seat, Some(s))));
    }
    // An access code is looked up only before the general sale: after it, it is ignored.
    let access = match (&request.access_code, terms) {
        (Some(code), Some(terms)) if terms.before_general_sale(now) => {
            Access::Code(presale_code(conn, request.concert_id, code)?)
        }
        _ => Access::None,
    };
    let statuses = stored.iter().map(|(seat, s)| (*seat, s.as_ref().map(|s| s.status)));
    let admission = decide(terms, now, access, statuses, held_seats(conn, request)?)?;
    let Some(terms) = terms else { return Err(BookingError::ConcertNotFound) };
    let (status, expires_at) = terms.booked_as(now);
    let total = stored.iter().filter_map(|(_, s)| s.as_ref().map(|s| s.price)).sum();
    let order_id = insert_order(conn, request, status, total, expires_at, now)?;
    if let Some(code_id) = admission.code_id() {
        use_code(conn, order_id, code_id)?;
    }
    let mut reservations = Vec::with_capacity(stored.len());
    let mut booked = Vec::with_capacity(stored.len());
    for (seat, found) in stored {
        if let Some(StoredSeat { id, price, .. }) = found {
            reservations.push(insert_reservation(
                conn,
                request,
                id,
                price,
                now,
                (status, expires_at, order_id),
            )?);
            booked.push(seat);
        }
    }
    confirm(conn, order_id, status, now)?;
    if let Some((key, fingerprint)) = &request.idempotency {
        let ids: Vec<String> = reservations.iter().map(|r| r.id.to_string()).collect();
        conn.prepare_cached(
            "INSERT INTO idempotency_keys (user_id, key, fingerprint, concert_id, reservation_ids, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![request.user_id, key, fingerprint, request.concert_id, ids.join(","), time_text(now)])?;
    }
    Ok(Booked { reservations, version: 0, replayed: false, seats: booked, released })
}

/// The concert's presale code of this text, as stored.
fn presale_code(
    conn: &Connection,
    concert_id: i64,
    code: &AccessCode,
) -> Result<Option<PresaleCode>, BookingError> {
    let row: Option<(i64, String, String, i64, i64)> = conn
        .prepare_cached(PRESALE_CODE)?
        .query_row(params![concert_id, code.as_str()], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .optional()?;
    let Some((id, opens, closes, uses, max_uses)) = row else { return Ok(None) };
    Ok(Some(PresaleCode {
        id,
        opens_at: parse_time(&opens)?,
        closes_at: parse_time(&closes)?,
        uses,
        max_uses,
    }))
}

/// Counts an order's use of a presale code, in the booking's savepoint (the schema checks
/// it again and counts it in the code's `uses`).
fn use_code(conn: &Connection, order_id: i64, code_id: i64) -> Result<(), BookingError> {
    match conn.prepare_cached(USE_CODE)?.execute(params![order_id, code_id]) {
        Ok(_) => Ok(()),
        Err(rusqlite::Error::SqliteFailure(failure, Some(message)))
            if failure.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            Err(code_refusal(&message).unwrap_or_else(|| {
                BookingError::Store(corrupt(format!("a presale use was refused: {message}")))
            }))
        }
        Err(e) => Err(e.into()),
    }
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
    Ok(Some(Booked { reservations, version: 0, replayed: true, seats, released: Vec::new() }))
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
    refund_seat(conn, request.reservation_id, request.actor_id, now)?;
    let reservation =
        ReservationRecord { status: ReservationStatus::Cancelled, cancelled_at: Some(now), ..record };
    Ok(Cancelled { reservation, seat, version: Some(0) })
}

/// Records the refund of a cancelled seat of a paid order, in the cancellation's
/// transaction; the order becomes partly or wholly refunded. Nothing for a seat no money
/// was paid for.
fn refund_seat(
    conn: &Connection,
    reservation_id: i64,
    actor_id: i64,
    now: DateTime<Utc>,
) -> Result<(), BookingError> {
    let refunded =
        conn.prepare_cached(REFUND_SEAT)?.execute(params![SEAT_CANCELLED, time_text(now), reservation_id])?;
    if refunded == 0 {
        return Ok(());
    }
    conn.prepare_cached(COUNT_REFUND)?.execute([reservation_id])?;
    let order: i64 = conn
        .prepare_cached("SELECT order_id FROM reservations WHERE id = ?1")?
        .query_row([reservation_id], |r| r.get(0))?;
    let status: String = conn.prepare_cached(ORDER_STATUS)?.query_row([order], |r| r.get(0))?;
    conn.prepare_cached(ORDER_EVENT)?.execute(params![
        order,
        status,
        SEAT_CANCELLED,
        actor_id,
        time_text(now)
    ])?;
    let (order, price, currency, part): (i64, i64, String, i64) = conn
        .prepare_cached(REFUND_FACTS)?
        .query_row([reservation_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
    let amount = Price::from_cents(price).to_string();
    let notice =
        Notice::Refunded { order, part, amount: &amount, currency: &currency, reason: SEAT_REFUND_REASON };
    queue(conn, order, &notice, now)
}

/// Notes the confirmation e-mail of an order confirmed at once (`DIRECT`) as pending, in
/// the booking's transaction: one short row, which the sender moves into the outbox and
/// composes (held seats are confirmed by their payment).
fn confirm(
    conn: &Connection,
    order: i64,
    status: ReservationStatus,
    now: DateTime<Utc>,
) -> Result<(), BookingError> {
    if status == ReservationStatus::Active {
        conn.prepare_cached(QUEUE_CONFIRMATION)?.execute(params![order, time_text(now)])?;
    }
    Ok(())
}

/// Writes an e-mail about an order to its fan into the outbox, in the batch's transaction.
fn queue(conn: &Connection, order: i64, notice: &Notice<'_>, now: DateTime<Utc>) -> Result<(), BookingError> {
    let (key, subject, text) = notice.compose();
    conn.prepare_cached(QUEUE_EMAIL)?.execute(params![key, subject, text, time_text(now), order])?;
    Ok(())
}
