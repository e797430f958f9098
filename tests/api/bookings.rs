//! Booking: single and multi-seat orders, limits, idempotency, cancellation, concurrency.
