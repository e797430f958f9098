//! The arena of the `availability`, `section` and `standing` scenarios: a venue of
//! 100,000 places (a standing floor of 5,000 and 19 seated sections of 5,000 seats in rows
//! of their own lengths) and one concert selling all of it, made through the public API.
//! Setting it up times the concert's creation and measures the service's resident memory
//! per place once its seat map, availability, a section and the gate are loaded.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context;
use hyper::{Method, StatusCode};
use serde_json::{Value, json};

use super::client::Connection;
use super::footprint::resident_bytes;
use super::setup::Venue;

/// Places on the standing floor.
pub const FLOOR: usize = 5_000;
/// Seated sections, `S1`..`S19`, of [`SECTION_SEATS`] each.
pub const SECTIONS: usize = 19;
pub const SECTION_SEATS: u64 = 5_000;
/// The section the `section` scenario reads.
pub const READ_SECTION: &str = "S1";
/// Places a fan asks for in `standing`.
pub const STANDING_ORDER: usize = 2;

/// What setting the arena up measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ArenaSetup {
    pub concert: i64,
    pub places: u64,
    /// `POST /concerts` of all 100,000 places, as the client waited for it.
    pub create_millis: f64,
    /// Resident memory before the venue was made and after everything was loaded.
    pub resident_before_bytes: u64,
    pub resident_after_bytes: u64,
}

impl ArenaSetup {
    pub fn text(&self) -> String {
        format!(
            "arena: {} places; creating the concert took {:.0} ms; resident memory {:.1} → {:.1} MiB once its map, availability, a section and the gate were loaded: {:.0} bytes per place\n",
            self.places,
            self.create_millis,
            self.resident_before_bytes as f64 / 1_048_576.0,
            self.resident_after_bytes as f64 / 1_048_576.0,
            self.resident_after_bytes.saturating_sub(self.resident_before_bytes) as f64 / self.places as f64
        )
    }
}

/// Rows of one seated section: lengths 170, 180, 190, 200, 170, … until its seats are
/// placed (the last row takes what is left), labelled `A`.., `AA`...
fn section_rows() -> Vec<Value> {
    let mut rows = Vec::new();
    let mut left = SECTION_SEATS;
    let mut i = 0u64;
    while left > 0 {
        let seats = (170 + (i % 4) * 10).min(left);
        let label = if i < 26 {
            char::from(b'A' + i as u8).to_string()
        } else {
            let c = char::from(b'A' + (i - 26) as u8);
            format!("{c}{c}")
        };
        rows.push(json!({"label": label, "seats": seats}));
        left -= seats;
        i += 1;
    }
    rows
}

fn sections() -> Value {
    let mut sections = vec![json!({"name": "Floor", "kind": "STANDING", "capacity": FLOOR})];
    for s in 1..=SECTIONS {
        sections.push(json!({"name": format!("S{s}"), "kind": "SEATED", "rows": section_rows()}));
    }
    Value::Array(sections)
}

fn expect(answer: super::client::Answer, status: StatusCode, what: &str) -> anyhow::Result<Value> {
    anyhow::ensure!(
        answer.status == status,
        "{what}: expected {status}, got {}: {}",
        answer.status,
        String::from_utf8_lossy(&answer.body)
    );
    Ok(answer.json())
}

/// Makes the arena and its concert (a fan may hold 100 places, so a few fans can empty
/// the floor), then loads what fans read.
pub async fn prepare(address: SocketAddr, venue: &Venue) -> anyhow::Result<ArenaSetup> {
    let mut conn = Connection::new(address);
    let before = resident_bytes(address).await?;
    let token = venue.promoter_token();
    let answer = conn
        .send_json(
            Method::POST,
            "/api/v1/auditoriums",
            Some(token),
            &json!({"name": format!("Bench Arena {}", venue.run()), "address": "loopback", "sections": sections()}),
        )
        .await?;
    let hall = expect(answer, StatusCode::CREATED, "creating the arena")?["data"]["id"]
        .as_i64()
        .context("arena id")?;
    let mut seat_list = Vec::new();
    for s in 1..=SECTIONS {
        let labels: Vec<Value> = section_rows().into_iter().map(|r| r["label"].clone()).collect();
        seat_list.push(json!({"section": format!("S{s}"), "horizontals": labels, "grade": if s <= 6 { "R" } else { "S" }}));
    }
    let body = json!({
        "name": format!("Bench Arena {}", venue.run()),
        "description": "load generator arena",
        "startTime": (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339(),
        "auditoriumId": hall,
        "maxSeatsPerFan": 100,
        "seatPrices": [{"grade": "R", "price": 150000}, {"grade": "S", "price": 99000}, {"grade": "G", "price": 110000}],
        "seatList": seat_list,
        "standing": [{"section": "Floor", "grade": "G"}],
    });
    let started = Instant::now();
    let answer = conn.send_json(Method::POST, "/api/v1/concerts", Some(token), &body).await?;
    let create_millis = started.elapsed().as_secs_f64() * 1000.0;
    let concert = expect(answer, StatusCode::CREATED, "creating the arena concert")?["data"]["id"]
        .as_i64()
        .context("id")?;
    for path in [
        format!("/api/v1/concerts/{concert}/seats"),
        format!("/api/v1/concerts/{concert}/availability"),
        format!("/api/v1/concerts/{concert}/seats?section={READ_SECTION}"),
    ] {
        expect(conn.send(Method::GET, &path, None, None).await?, StatusCode::OK, &path)?;
    }
    // The gate loads in the background on a concert's first booking: a refused one will do
    // (a seat that does not exist), then the load is given a moment.
    let path = format!("/api/v1/concerts/{concert}/reservations");
    let _ = conn
        .send_json(
            Method::POST,
            &path,
            Some(token),
            &json!({"section": "S1", "horizontal": "A", "vertical": 200}),
        )
        .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = resident_bytes(address).await?;
    Ok(ArenaSetup {
        concert,
        places: FLOOR as u64 + SECTIONS as u64 * SECTION_SEATS,
        create_millis,
        resident_before_bytes: before,
        resident_after_bytes: after,
    })
}

/// Places left on the floor, from the availability summary.
pub async fn floor_left(address: SocketAddr, concert: i64) -> anyhow::Result<u64> {
    let mut conn = Connection::new(address);
    let path = format!("/api/v1/concerts/{concert}/availability");
    let summary = expect(conn.send(Method::GET, &path, None, None).await?, StatusCode::OK, &path)?;
    summary["data"]["sections"]
        .as_array()
        .and_then(|sections| sections.iter().find(|s| s["name"] == "Floor"))
        .and_then(|floor| floor["available"].as_u64())
        .context("no floor in the availability summary")
}
