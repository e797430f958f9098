//! Reservations on SQLite: booking and cancelling go through the group commit
//! ([`super::writer`], SQL in [`super::booking_sql`]); histories are read as on every backend.

use async_trait::async_trait;

use super::SqliteStore;
use super::booking_sql::{OwnedBooking, OwnedCancel};
use crate::store::bookings::history;
use crate::store::{
    Booked, BookingError, BookingRequest, BookingStore, Cancelled, ReservationHistory, StoreError,
};

#[async_trait]
impl BookingStore for SqliteStore {
    async fn book(&self, request: &BookingRequest<'_>) -> Result<Booked, BookingError> {
        self.writer.book(OwnedBooking::from(request)).await
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
        history(self, user_id).await
    }
}
