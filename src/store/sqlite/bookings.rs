use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Connection, SqliteConnection};

use super::{SqliteStore, letter};
use crate::domain::booking::{Order, ReservationStatus, SeatRef};
use crate::domain::venue::{Price, SeatStatus};
use crate::store::bookings::{RESERVATION_COLUMNS, ReservationRow, corrupt};
use crate::store::{
    Booked, BookingError, BookingRequest, BookingStore, Cancelled, ReservationHistory, ReservationRecord,
    StoreError,
};

/// What the schema's triggers or unique index refused, if that is what `err` is.
enum Refusal {
    Taken,
    Locked,
    ConcertNotFound,
    ConcertStarted,
    FanLimit,
}

fn refusal_of(err: &sqlx::Error) -> Option<Refusal> {
    let sqlx::Error::Database(db) = err else { return None };
    let message = db.message();
    if db.is_unique_violation() || message.contains("SEAT_TAKEN") {
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
async fn refusal(conn: &mut SqliteConnection, err: sqlx::Error, request: &OwnedBooking) -> BookingError {
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
            let counts: Result<(i64, i64), sqlx::Error> = sqlx::query_as(
                "SELECT max_seats_per_fan,
                        (SELECT count(*) FROM reservations WHERE user_id = $2 AND concert_id = $1 AND status = 'Y')
                 FROM concerts WHERE id = $1",
            )
            .bind(request.concert_id)
            .bind(request.user_id)
            .fetch_one(conn)
            .await;
            match counts {
                Ok((limit, held)) => BookingError::FanLimit { limit, held },
                Err(e) => BookingError::Store(e.into()),
            }
        }
        None => BookingError::Store(err.into()),
    }
}

/// The fast path of a single seat without an idempotency key: one INSERT, checked by the
/// schema's triggers. A refused statement leaves nothing behind, so it needs no savepoint.
async fn book_one(
    conn: &mut SqliteConnection,
    request: &OwnedBooking,
    seat: SeatRef,
) -> Result<Booked, BookingError> {
    let inserted: Result<Option<ReservationRow>, sqlx::Error> = sqlx::query_as(&format!(
        "INSERT INTO reservations (user_id, concert_id, seat_id, status, price_cents, created_at)
         SELECT $1, $2, s.id, 'Y', p.price_cents, $3
         FROM seats s JOIN seat_prices p ON p.concert_id = s.concert_id AND p.grade = s.grade
         WHERE s.concert_id = $2 AND s.horizontal = $4 AND s.vertical = $5
         RETURNING {RESERVATION_COLUMNS}"
    ))
    .bind(request.user_id)
    .bind(request.concert_id)
    .bind(Utc::now())
    .bind(seat.horizontal.to_string())
    .bind(i64::from(seat.vertical))
    .fetch_optional(&mut *conn)
    .await;
    match inserted {
        Ok(Some(row)) => {
            Ok(Booked { reservations: vec![row.try_into()?], version: 0, replayed: false, seats: vec![seat] })
        }
        // Nothing to insert: no such seat, or no such concert.
        Ok(None) => {
            let live: Option<i64> =
                sqlx::query_scalar("SELECT id FROM concerts WHERE id = $1 AND deleted_at IS NULL")
                    .bind(request.concert_id)
                    .fetch_optional(&mut *conn)
                    .await?;
            Err(if live.is_some() {
                BookingError::SeatsNotFound(vec![seat])
            } else {
                BookingError::ConcertNotFound
            })
        }
        Err(e) => Err(refusal(conn, e, request).await),
    }
}

pub(super) async fn version(conn: &mut SqliteConnection, concert_id: i64) -> Result<i64, BookingError> {
    Ok(sqlx::query_scalar("SELECT seat_version FROM concerts WHERE id = $1")
        .bind(concert_id)
        .fetch_one(conn)
        .await?)
}

/// The seats of a stored reservation list, in order.
async fn seats_of(
    conn: &mut SqliteConnection,
    reservations: &[ReservationRecord],
) -> Result<Vec<SeatRef>, BookingError> {
    let mut seats = Vec::with_capacity(reservations.len());
    for r in reservations {
        let (h, v): (String, i64) = sqlx::query_as("SELECT horizontal, vertical FROM seats WHERE id = $1")
            .bind(r.seat_id)
            .fetch_one(&mut *conn)
            .await?;
        seats.push(SeatRef {
            horizontal: letter(&h)?,
            vertical: u8::try_from(v).map_err(|e| StoreError::Other(e.into()))?,
        });
    }
    Ok(seats)
}

/// The answer saved under an idempotency key, if the key was used before.
async fn replay(conn: &mut SqliteConnection, request: &OwnedBooking) -> Result<Option<Booked>, BookingError> {
    let Some((key, fingerprint)) = &request.idempotency else { return Ok(None) };
    let saved: Option<(String, String)> = sqlx::query_as(
        "SELECT fingerprint, reservation_ids FROM idempotency_keys WHERE user_id = $1 AND key = $2",
    )
    .bind(request.user_id)
    .bind(key)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((saved_fingerprint, ids)) = saved else { return Ok(None) };
    if &saved_fingerprint != fingerprint {
        return Err(BookingError::KeyReused);
    }
    let mut reservations = Vec::new();
    for id in ids.split(',').filter(|s| !s.is_empty()) {
        let id: i64 = id.parse().map_err(|_| corrupt(format!("idempotency ids {ids:?}")))?;
        let row: ReservationRow =
            sqlx::query_as(&format!("SELECT {RESERVATION_COLUMNS} FROM reservations WHERE id = $1"))
                .bind(id)
                .fetch_one(&mut *conn)
                .await?;
        let mut record = ReservationRecord::try_from(row)?;
        // The first answer reported them active; a replay answers the same.
        record.status = ReservationStatus::Active;
        record.cancelled_at = None;
        reservations.push(record);
    }
    let seats = seats_of(conn, &reservations).await?;
    Ok(Some(Booked { reservations, version: 0, replayed: true, seats }))
}

/// A booking as the writer task holds it.
#[derive(Debug, Clone)]
pub(super) struct OwnedBooking {
    pub user_id: i64,
    pub concert_id: i64,
    pub order: Order,
    /// `(key, fingerprint)`.
    pub idempotency: Option<(String, String)>,
}

/// One booking inside the caller's transaction (the group commit's); the caller commits,
/// and nobody is answered before. `version` is left 0: the writer sets it after the batch.
pub(super) async fn book_in(
    conn: &mut SqliteConnection,
    request: &OwnedBooking,
) -> Result<Booked, BookingError> {
    if let ([seat], None) = (&request.order.seats[..], &request.idempotency) {
        return book_one(conn, request, *seat).await;
    }
    // Several seats or an idempotency key: every check first, then the inserts, all in a
    // savepoint so that a refusal midway leaves nothing behind.
    let mut savepoint = conn.begin().await?;
    match book_checked(&mut savepoint, request).await {
        Ok(booked) => {
            savepoint.commit().await?;
            Ok(booked)
        }
        Err(refused) => {
            savepoint.rollback().await?;
            Err(refused)
        }
    }
}

/// The checked path: replay, concert, every seat, the per-fan limit, then the inserts.
async fn book_checked(conn: &mut SqliteConnection, request: &OwnedBooking) -> Result<Booked, BookingError> {
    let now = Utc::now();
    let seats = &request.order.seats;
    if let Some(booked) = replay(conn, request).await? {
        return Ok(booked);
    }
    let concert: Option<(DateTime<Utc>, i64)> = sqlx::query_as(
        "SELECT start_time, max_seats_per_fan FROM concerts WHERE id = $1 AND deleted_at IS NULL",
    )
    .bind(request.concert_id)
    .fetch_optional(&mut *conn)
    .await?;
    let (start_time, limit) = concert.ok_or(BookingError::ConcertNotFound)?;
    if start_time <= now {
        return Err(BookingError::ConcertStarted);
    }
    let mut found = Vec::with_capacity(seats.len());
    let mut missing = Vec::new();
    let mut unavailable = Vec::new();
    for seat in seats {
        let row: Option<(i64, String, i64)> = sqlx::query_as(
            "SELECT s.id, s.status, p.price_cents
                 FROM seats s JOIN seat_prices p ON p.concert_id = s.concert_id AND p.grade = s.grade
                 WHERE s.concert_id = $1 AND s.horizontal = $2 AND s.vertical = $3",
        )
        .bind(request.concert_id)
        .bind(seat.horizontal.to_string())
        .bind(i64::from(seat.vertical))
        .fetch_optional(&mut *conn)
        .await?;
        match row {
            None => missing.push(*seat),
            Some((id, status, price)) => match SeatStatus::parse(&status).map_err(corrupt)? {
                SeatStatus::Available => found.push((id, price)),
                other => unavailable.push((*seat, other)),
            },
        }
    }
    if !missing.is_empty() {
        return Err(BookingError::SeatsNotFound(missing));
    }
    if !unavailable.is_empty() {
        return Err(BookingError::SeatsUnavailable(unavailable));
    }
    let held: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM reservations WHERE user_id = $1 AND concert_id = $2 AND status = 'Y'",
    )
    .bind(request.user_id)
    .bind(request.concert_id)
    .fetch_one(&mut *conn)
    .await?;
    if held + i64::try_from(seats.len()).unwrap_or(i64::MAX) > limit {
        return Err(BookingError::FanLimit { limit, held });
    }
    let mut reservations = Vec::with_capacity(found.len());
    for (seat_id, price) in found {
        let row: Result<ReservationRow, sqlx::Error> = sqlx::query_as(&format!(
            "INSERT INTO reservations (user_id, concert_id, seat_id, status, price_cents, created_at)
                 VALUES ($1, $2, $3, 'Y', $4, $5) RETURNING {RESERVATION_COLUMNS}"
        ))
        .bind(request.user_id)
        .bind(request.concert_id)
        .bind(seat_id)
        .bind(price)
        .bind(now)
        .fetch_one(&mut *conn)
        .await;
        let row = match row {
            Ok(row) => row,
            Err(e) => return Err(refusal(conn, e, request).await),
        };
        reservations.push(ReservationRecord::try_from(row)?);
    }
    if let Some((key, fingerprint)) = &request.idempotency {
        let ids: Vec<String> = reservations.iter().map(|r| r.id.to_string()).collect();
        sqlx::query(
                "INSERT INTO idempotency_keys (user_id, key, fingerprint, concert_id, reservation_ids, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(request.user_id)
            .bind(key)
            .bind(fingerprint)
            .bind(request.concert_id)
            .bind(ids.join(","))
            .bind(now)
            .execute(&mut *conn)
            .await?;
    }
    Ok(Booked { reservations, version: 0, replayed: false, seats: seats.clone() })
}

/// A cancellation as the writer task holds it.
#[derive(Debug, Clone)]
pub(super) struct OwnedCancel {
    pub concert_id: i64,
    pub reservation_id: i64,
    pub actor_id: i64,
    pub actor_is_admin: bool,
}

/// One cancellation inside the writer's transaction. Its only write is one conditional
/// UPDATE (the triggers free the seat), so a refusal needs no savepoint. `version` is set
/// by the writer after the batch; `None` means it was cancelled already.
pub(super) async fn cancel_in(
    conn: &mut SqliteConnection,
    request: &OwnedCancel,
) -> Result<Cancelled, BookingError> {
    let now = Utc::now();
    let row: Option<ReservationRow> = sqlx::query_as(&format!(
        "SELECT {RESERVATION_COLUMNS} FROM reservations WHERE id = $1 AND concert_id = $2"
    ))
    .bind(request.reservation_id)
    .bind(request.concert_id)
    .fetch_optional(&mut *conn)
    .await?;
    let record = ReservationRecord::try_from(row.ok_or(BookingError::ReservationNotFound)?)?;
    if record.user_id != request.actor_id && !request.actor_is_admin {
        return Err(BookingError::NotOwner);
    }
    let seat = seats_of(conn, std::slice::from_ref(&record)).await?.remove(0);
    if !record.status.can_become(ReservationStatus::Cancelled) {
        return Ok(Cancelled { reservation: record, seat, version: None });
    }
    let start_time: DateTime<Utc> = sqlx::query_scalar("SELECT start_time FROM concerts WHERE id = $1")
        .bind(request.concert_id)
        .fetch_one(&mut *conn)
        .await?;
    if start_time <= now && !request.actor_is_admin {
        return Err(BookingError::ConcertStarted);
    }
    let row: ReservationRow = sqlx::query_as(&format!(
        "UPDATE reservations SET status = 'N', cancelled_at = $2 WHERE id = $1 AND status = 'Y'
         RETURNING {RESERVATION_COLUMNS}"
    ))
    .bind(request.reservation_id)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    Ok(Cancelled { reservation: row.try_into()?, seat, version: Some(0) })
}

#[async_trait]
impl BookingStore for SqliteStore {
    async fn book(&self, request: &BookingRequest<'_>) -> Result<Booked, BookingError> {
        self.writer
            .book(OwnedBooking {
                user_id: request.user_id,
                concert_id: request.concert_id,
                order: request.order.clone(),
                idempotency: request.idempotency.as_ref().map(|(k, f)| ((*k).to_owned(), f.clone())),
            })
            .await
    }
    async fn cancel(
        &self,
        concert_id: i64,
        reservation_id: i64,
        actor_id: i64,
        actor_is_admin: bool,
    ) -> Result<Cancelled, BookingError> {
        self.writer.cancel(OwnedCancel { concert_id, reservation_id, actor_id, actor_is_admin }).await
    }

    async fn reservation_history(&self, user_id: Option<i64>) -> Result<Vec<ReservationHistory>, StoreError> {
        #[derive(sqlx::FromRow)]
        struct Row {
            id: i64,
            status: String,
            price_cents: i64,
            created_at: DateTime<Utc>,
            cancelled_at: Option<DateTime<Utc>>,
            user_id: i64,
            username: String,
            nickname: Option<String>,
            concert_id: i64,
            concert_name: String,
            concert_description: String,
            start_time: DateTime<Utc>,
            auditorium_id: i64,
            auditorium_name: String,
            auditorium_address: String,
            seat_id: i64,
            horizontal: String,
            vertical: i64,
            grade: String,
        }
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT r.id, r.status, r.price_cents, r.created_at, r.cancelled_at,
                    u.id AS user_id, u.username, u.nickname,
                    c.id AS concert_id, c.name AS concert_name, c.description AS concert_description, c.start_time,
                    a.id AS auditorium_id, a.name AS auditorium_name, a.address AS auditorium_address,
                    s.id AS seat_id, s.horizontal, s.vertical, s.grade
             FROM reservations r
             JOIN users u ON u.id = r.user_id
             JOIN concerts c ON c.id = r.concert_id
             JOIN auditoriums a ON a.id = c.auditorium_id
             JOIN seats s ON s.id = r.seat_id
             WHERE $1 IS NULL OR r.user_id = $1
             ORDER BY r.id DESC",
        )
        .bind(user_id)
        .fetch_all(&self.read)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(ReservationHistory {
                    id: r.id,
                    status: ReservationStatus::parse(&r.status).map_err(corrupt)?,
                    price: Price::from_cents(r.price_cents),
                    created_at: r.created_at,
                    cancelled_at: r.cancelled_at,
                    user_id: r.user_id,
                    username: r.username,
                    nickname: r.nickname,
                    concert_id: r.concert_id,
                    concert_name: r.concert_name,
                    concert_description: r.concert_description,
                    start_time: r.start_time,
                    auditorium_id: r.auditorium_id,
                    auditorium_name: r.auditorium_name,
                    auditorium_address: r.auditorium_address,
                    seat_id: r.seat_id,
                    horizontal: letter(&r.horizontal)?,
                    vertical: u8::try_from(r.vertical).map_err(|e| StoreError::Other(e.into()))?,
                    grade: letter(&r.grade)?,
                })
            })
            .collect()
    }
}
