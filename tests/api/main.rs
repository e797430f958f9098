//! HTTP integration tests: each test starts the real service on a random port with a
//! fresh data directory and database, and talks HTTP to it. The same tests run on SQLite
//! and, with `TICKITECKING_TEST_POSTGRES_URL` set, on PostgreSQL.

mod abuse;
mod account_rules;
mod accounts;
mod audit;
mod authz;
#[path = "../backend/mod.rs"]
mod backend;
mod bookings;
mod catalog;
mod contract;
mod emails;
mod fake_stripe;
mod helpers;
mod hygiene;
mod live_maps;
mod load_generator;
mod ops;
mod orders;
mod overload;
mod presales;
mod queue;
mod replica;
mod reservation_rules;
pub mod rush;
mod s3_posters;
mod sales_window;
mod scale_out;
mod sections;
pub mod shared_state;
mod stripe_client;
mod stripe_payments;
mod tickets;
mod upgrade;
mod web_app;
