//! tickitecking: a concert ticket booking service built for the on-sale rush.
//!
//! Layers, outermost first: [`http`] (routes, extractors, DTOs, error mapping) calls
//! [`auth`] and [`store`]; [`domain`] holds the rules and validation and does no I/O.
//! [`app`] wires them together from a [`config::Config`].

pub mod app;
pub mod auth;
pub mod bench;
pub mod cache;
pub mod config;
pub mod demo;
pub mod domain;
pub mod gate;
pub mod http;
pub mod posters;
pub mod seat_news;
pub mod service;
pub mod shared_state;
pub mod store;
pub mod throttle;
