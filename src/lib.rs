//! tickitecking: a concert ticket booking service built for the on-sale rush.
//!
//! Layers, outermost first; each uses only the ones below it:
//! - [`http`]: routes, extractors, DTOs, the error envelope and the OpenAPI document. A
//!   handler parses the request into domain values, calls one use case, shapes the answer.
//! - [`service`]: the use cases (accounts, catalog, bookings, audit). Each decides, commits
//!   through the store, then brings the views, the audit log and the metrics up to date, to
//!   the end even when the caller hangs up.
//! - the parts the use cases work with: [`auth`] (passwords, tokens, revocation),
//!   [`store`] (the storage traits, one implementation per backend, chosen by URL),
//!   [`gate`] (the seat gate), [`cache`] and [`seat_news`] (catalog and seat-map views, live
//!   news), [`throttle`] (rate limits), [`posters`] (poster files), [`shared_state`] (Redis),
//!   [`payment`] (the payment providers), [`mail`] (e-mail delivery and the outbox's
//!   background sender), [`ticket`] (tickets' signed codes, their key, their QR codes),
//!   [`key_file`] (keys generated once into the data dir).
//! - [`domain`]: the rules and validation; no I/O, no HTTP.
//!
//! [`config`] is plain data read by the others; [`app`] wires everything together from a
//! [`config::Config`]; [`bench`] is the load generator, [`demo`] the demo data and [`backup`] the backups
//! and restores of the embedded database.

pub mod app;
pub mod auth;
pub mod backup;
pub mod bench;
pub mod cache;
pub mod config;
pub mod demo;
pub mod domain;
pub mod gate;
pub mod http;
pub mod key_file;
pub mod mail;
pub mod payment;
pub mod posters;
pub mod queue;
pub mod seat_news;
pub mod service;
pub mod shared_state;
pub mod store;
pub mod throttle;
pub mod ticket;
