//! HTTP integration tests: each test starts the real service on a random port with a
//! fresh data directory and talks HTTP to it.

mod abuse;
mod account_rules;
mod accounts;
mod audit;
mod authz;
mod bookings;
mod catalog;
mod contract;
mod helpers;
mod hygiene;
mod ops;
mod overload;
mod reservation_rules;
pub mod rush;
mod web_app;
