//! Reservations in storage: booking, cancelling and history.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;
use crate::domain::booking::{Order, ReservationStatus, SeatRef};
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
}

/// An order to book, with its idempotency key if the client sent one.
#[derive(Debug, Clone)]
pub struct BookingRequest<'a> {
    pub user_id: i64,
    pub concert_id: i64,
    pub order: &'a Order,
    /// `(key, fingerprint of the order)`.
    pub idempotency: Option<(&'a str, String)>,
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
    /// Seats that do not exist in this concert.
    #[error("no such seat")]
    SeatsNotFound(Vec<SeatRef>),
    /// Seats that are reserved or locked, with their status.
    #[error("seats not available")]
    SeatsUnavailable(Vec<(SeatRef, SeatStatus)>),
    /// The fan would hold more than the concert allows.
    #[error("per-fan limit")]
    FanLimit { limit: i64, held: i64 },
    /// The idempotency key was used before for a different request.
    #[error("idempotency key reused")]
    KeyReused,
    #[error("no such reservation")]
    ReservationNotFound,
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
    pub horizontal: Letter,
    pub vertical: u8,
    pub grade: Letter,
}

/// The columns [`ReservationRow`] reads, for every backend.
pub(in crate::store) const RESERVATION_COLUMNS: &str =
    "id, user_id, concert_id, seat_id, status, created_at, cancelled_at";

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
}

/// A stored value the program cannot read back.
pub(in crate::store) fn corrupt(what: String) -> StoreError {
    StoreError::Other(anyhow::anyhow!(what))
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
