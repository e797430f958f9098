//! Reservation histories, read alike on both backends.

use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Executor, IntoArguments};

use super::{ReservationHistory, corrupt, seat_ref};
use crate::domain::booking::ReservationStatus;
use crate::domain::venue::Price;
use crate::store::sql::{Args, Backend, Column, Conn, RowOf};
use crate::store::{StoreError, letter};

/// A reservation joined with its fan, concert, venue and seat.
#[derive(sqlx::FromRow)]
struct HistoryRow {
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
    section: String,
    horizontal: String,
    vertical: i64,
    grade: String,
}

impl TryFrom<HistoryRow> for ReservationHistory {
    type Error = StoreError;
    fn try_from(r: HistoryRow) -> Result<Self, StoreError> {
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
            seat: seat_ref(&r.section, &r.horizontal, r.vertical)?,
            grade: letter(&r.grade)?,
        })
    }
}

/// Reservations, newest first: one fan's, or everyone's. A fan's own history is read fresh
/// (their booking of a moment ago must be in it); everyone's tolerates a replica's lag.
pub(in crate::store) async fn history<B>(
    backend: &B,
    user_id: Option<i64>,
) -> Result<Vec<ReservationHistory>, StoreError>
where
    B: Backend,
    for<'c> &'c mut Conn<B>: Executor<'c, Database = B::DB>,
    for<'q> Args<'q, B>: IntoArguments<'q, B::DB>,
    for<'r> &'r str: ColumnIndex<RowOf<B>>,
    i64: Column<B::DB>,
    Option<i64>: Column<B::DB>,
    String: Column<B::DB>,
    DateTime<Utc>: Column<B::DB>,
{
    let (filter, pool) = match user_id {
        Some(_) => (B::FAN_RESERVATIONS, backend.fresh()),
        None => ("$1 IS NULL", backend.lagging()),
    };
    let rows: Vec<HistoryRow> = sqlx::query_as(&format!(
        "SELECT r.id, r.status, r.price_cents, r.created_at, r.cancelled_at,
                u.id AS user_id, u.username, u.nickname,
                c.id AS concert_id, c.name AS concert_name, c.description AS concert_description, c.start_time,
                a.id AS auditorium_id, a.name AS auditorium_name, a.address AS auditorium_address,
                s.id AS seat_id, s.section, s.horizontal, s.vertical, s.grade
         FROM reservations r
         JOIN users u ON u.id = r.user_id
         JOIN concerts c ON c.id = r.concert_id
         JOIN auditoriums a ON a.id = c.auditorium_id
         JOIN seats s ON s.id = r.seat_id
         WHERE {filter}
         ORDER BY r.id DESC"
    ))
    .bind(user_id)
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(ReservationHistory::try_from).collect()
}
