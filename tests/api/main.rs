//! HTTP integration tests: each test starts the real service on a random port with a
//! fresh data directory and talks HTTP to it.

mod account_rules;
mod accounts;
mod bookings;
mod catalog;
mod contract;
mod helpers;
mod ops;
mod reservation_rules;
pub mod rush;
mod s3_posters;
mod shared_state;
