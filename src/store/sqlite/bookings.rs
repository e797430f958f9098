//! Reservations on SQLite: booking and cancelling go through the group commit
//! ([`super::writer`], SQL in [`super::booking_sql`]); histories are read here.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::booking_sql::{OwnedBooking, OwnedCancel};
use super::{SqliteStore, letter};
use crate::domain::booking::ReservationStatus;
use crate::domain::venue::Price;
use crate::store::bookings::corrupt;
use crate::store::{
    Booked, BookingError, BookingRequest, BookingStore, Cancelled, ReservationHistory, StoreError,
};

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
        // A fan's reservations are found concert by concert through the index that
        // starts with the concert (migration 0005); everyone's, in one pass.
        let filter = if user_id.is_some() {
            "r.user_id = $1 AND r.concert_id IN (SELECT id FROM concerts)"
        } else {
            "$1 IS NULL"
        };
        let rows: Vec<Row> = sqlx::query_as(&format!(
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
             WHERE {filter}
             ORDER BY r.id DESC"
        ))
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
