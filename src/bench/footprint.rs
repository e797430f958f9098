//! The `footprint` scenario: what loaded concerts cost the service in memory, and what
//! creating one costs in time. Memory is the service's own `process_resident_memory_bytes`
//! from `/metrics`, read once the run's accounts exist (password hashing leaves the
//! allocator holding memory that has nothing to do with seats) and again once every
//! concert is created and its seat map and seat gate are loaded.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use hyper::Method;
use serde::Serialize;
use serde_json::json;

use super::client::{self, Connection};
use super::setup::{Fixture, SEATS_PER_CONCERT};

/// What the footprint run found.
#[derive(Debug, Serialize)]
pub struct Footprint {
    pub concerts: usize,
    pub seats: usize,
    pub resident_before_bytes: u64,
    pub resident_after_bytes: u64,
    /// Resident memory added per loaded seat.
    pub bytes_per_seat: f64,
    pub create_p50_ms: f64,
    pub create_max_ms: f64,
}

impl Footprint {
    pub fn text(&self) -> String {
        format!(
            "footprint: {} concerts, {} seats loaded\n  resident: {:.1} MiB before, {:.1} MiB after: {:.0} bytes per seat\n  creating a 2,600-seat concert: p50 {:.1} ms, max {:.1} ms\n",
            self.concerts,
            self.seats,
            self.resident_before_bytes as f64 / 1048576.0,
            self.resident_after_bytes as f64 / 1048576.0,
            self.bytes_per_seat,
            self.create_p50_ms,
            self.create_max_ms,
        )
    }
}

/// The service's resident memory, from its metrics.
pub async fn resident_bytes(address: SocketAddr) -> anyhow::Result<u64> {
    client::metrics(address)
        .await?
        .lines()
        .find_map(|line| line.strip_prefix("process_resident_memory_bytes "))
        .and_then(|value| value.trim().parse::<f64>().ok())
        .map(|bytes| bytes as u64)
        .context("the service reports no process_resident_memory_bytes")
}

/// Creates `concerts` concerts, timing each, and loads each one the way an on-sale does —
/// its seat map read, a seat booked (which loads its seat gate) — then reads the memory.
pub async fn measure(address: SocketAddr, fixture: &Fixture, concerts: usize) -> anyhow::Result<Footprint> {
    let mut conn = Connection::new(address);
    let fan = fixture.fans.first().context("the footprint needs a fan")?;
    let before = resident_bytes(address).await?;
    let mut ids = Vec::with_capacity(concerts);
    let mut creation = Vec::with_capacity(concerts);
    for i in 0..concerts {
        let started = std::time::Instant::now();
        ids.push(fixture.venue.create_concert(&mut conn, i).await?);
        creation.push(started.elapsed());
    }
    for concert in &ids {
        let map = conn.send(Method::GET, &format!("/api/v1/concerts/{concert}/seats"), None, None).await?;
        anyhow::ensure!(map.status == 200, "reading the map of concert {concert}: {}", map.status);
        let booked = conn
            .send_json(
                Method::POST,
                &format!("/api/v1/concerts/{concert}/reservations"),
                Some(fan),
                &json!({"horizontal": "A", "vertical": 1}),
            )
            .await?;
        anyhow::ensure!(booked.status == 201, "booking in concert {concert}: {}", booked.status);
    }
    let after = resident_bytes(address).await?;
    let seats = ids.len() * SEATS_PER_CONCERT;
    creation.sort();
    let ms = |d: Option<&Duration>| d.map_or(0.0, |d| d.as_secs_f64() * 1000.0);
    Ok(Footprint {
        concerts: ids.len(),
        seats,
        resident_before_bytes: before,
        resident_after_bytes: after,
        bytes_per_seat: after.saturating_sub(before) as f64 / seats.max(1) as f64,
        create_p50_ms: ms(creation.get(creation.len() / 2)),
        create_max_ms: ms(creation.last()),
    })
}
