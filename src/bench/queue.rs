//! The `queue` scenario: an on-sale behind its waiting room. The bench makes one concert
//! with a room that is open from the start and whose sales open once the joins and the
//! status reads are done; every fan joins once (closed loop over the connections), then
//! the status reads run as a load (`GET /concerts/{id}/queue/me`, with `--ceiling` beside
//! `/health`), and once sales open the bench watches the owner's counts against the rate
//! while the admitted fans book a seat each with their pass. Memory per waiting fan is the
//! service's resident memory after the joins less before (with the bench's connections
//! already open), over the fans.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use hyper::header::{AUTHORIZATION, HeaderName, HeaderValue};
use hyper::{Method, StatusCode};
use serde::Serialize;
use serde_json::json;

use super::client::Connection;
use super::footprint::resident_bytes;
use super::report::{Latency, Tally, Verification};
use super::setup::{Fixture, SEATS_PER_CONCERT, Venue, seat_at, seat_body};

/// Fans who join a second time, to see the same place answered (evenly spread).
const SAMPLE: usize = 300;
/// The join rate the opening of sales is planned for: well below the target of 10,000/s,
/// so that the joins are over before sales open on a slow machine too.
const PLANNED_JOINS_PER_SECOND: f64 = 2_500.0;
const QUEUE_PASS: HeaderName = HeaderName::from_static("queue-pass");

/// The run's room.
#[derive(Debug, Clone, Copy)]
pub struct Room {
    pub concert: i64,
    pub sales_open_at: DateTime<Utc>,
    pub admit_per_minute: i64,
}

impl Room {
    fn path(&self, tail: &str) -> String {
        format!("/api/v1/concerts/{}/queue{tail}", self.concert)
    }
}

/// Makes the run's concert with its waiting room: open now, sales opening `joins_and_reads`
/// plus the time `fans` joins take at the planned rate from now.
pub async fn prepare(
    address: SocketAddr,
    venue: &Venue,
    fans: usize,
    admit_per_minute: i64,
    reads: Duration,
) -> anyhow::Result<Room> {
    let now = Utc::now();
    let joins = Duration::from_secs_f64(fans as f64 / PLANNED_JOINS_PER_SECOND) + Duration::from_secs(3);
    let sales_open_at = now + chrono::Duration::from_std(joins + reads)?;
    let room = json!({
        "salesOpenAt": sales_open_at.to_rfc3339(),
        "waitingRoom": {
            "opensAt": (now - chrono::Duration::seconds(1)).to_rfc3339(),
            "admitPerMinute": admit_per_minute,
            "passMinutes": 10,
        },
    });
    let concert = venue.create_concert_with(&mut Connection::new(address), 0, room).await?;
    Ok(Room { concert, sales_open_at, admit_per_minute })
}

/// The joins: every fan once, and a sample again.
#[derive(Debug, Serialize)]
pub struct Joins {
    pub fans: usize,
    pub seconds: f64,
    pub joins_per_second: f64,
    pub latency: Latency,
    /// Answered 201; any other answer is a failure.
    pub created: usize,
    pub transport_errors: u64,
    /// Fans in the room as its owner counts them: one place each, so as many as fans.
    pub room_joined: u64,
    /// Fans who joined again, and of them those answered 200 with their first `joinedAt`.
    pub sampled: usize,
    pub sampled_same: usize,
    /// Seconds from the last join to the opening of sales (below zero: joins ran late).
    pub spare_seconds: f64,
    pub resident_before_bytes: u64,
    pub resident_after_bytes: u64,
    pub bytes_per_waiting_fan: f64,
    pub ok: bool,
}

/// Every fan joins `room` once over `connections` connections; then a sample joins again.
pub async fn join_all(
    address: SocketAddr,
    fixture: &Arc<Fixture>,
    fan_auth: &Arc<Vec<HeaderValue>>,
    room: Room,
    connections: usize,
) -> anyhow::Result<Joins> {
    let fans = fan_auth.len();
    let step = fans.div_ceil(SAMPLE).max(1);
    // The lanes' connections are opened first, each answered once, so what the service
    // spends on a connection (its task, its buffers) is in `before`: what the joins add
    // is what the fans cost, not what the generator's connections do.
    let mut conns = Vec::with_capacity(connections.min(fans));
    for _ in 0..connections.min(fans) {
        let mut conn = Connection::new(address);
        let answer = conn.send(Method::GET, "/health", None, None).await?;
        anyhow::ensure!(answer.status == StatusCode::OK, "GET /health answered {}", answer.status);
        conns.push(conn);
    }
    let before = resident_bytes(address).await?;
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut lanes = Vec::with_capacity(connections);
    for mut conn in conns {
        let (next, fan_auth, path) = (next.clone(), fan_auth.clone(), room.path(""));
        lanes.push(tokio::spawn(async move {
            let mut tally = Tally::new()?;
            let mut firsts = Vec::new();
            loop {
                let fan = next.fetch_add(1, Ordering::Relaxed);
                if fan >= fan_auth.len() {
                    break;
                }
                let sent = Instant::now();
                match conn.send_as(Method::POST, &path, Some(fan_auth[fan].clone()), None).await {
                    Ok(answer) => {
                        tally.record(answer.status.as_u16(), sent.elapsed());
                        if fan % step == 0 {
                            firsts.push((fan, answer.json()["data"]["joinedAt"].clone()));
                        }
                    }
                    Err(_) => tally.errors += 1,
                }
            }
            anyhow::Ok((tally, firsts))
        }));
    }
    let mut tally = Tally::new()?;
    let mut firsts = Vec::new();
    for lane in lanes {
        let (lane, first) = lane.await??;
        tally.merge(lane)?;
        firsts.extend(first);
    }
    let elapsed = started.elapsed();
    let spare_seconds = (room.sales_open_at - Utc::now()).num_milliseconds() as f64 / 1000.0;
    let after = resident_bytes(address).await?;
    let mut conn = Connection::new(address);
    let mut sampled_same = 0;
    for (fan, joined_at) in &firsts {
        let again = conn.send_as(Method::POST, &room.path(""), Some(fan_auth[*fan].clone()), None).await?;
        if again.status == StatusCode::OK
            && !joined_at.is_null()
            && again.json()["data"]["joinedAt"] == *joined_at
        {
            sampled_same += 1;
        }
    }
    let room_joined = room_counts(&mut conn, fixture, room).await?.0;
    let created = tally.statuses.get(&201).copied().unwrap_or(0) as usize;
    let seconds = elapsed.as_secs_f64().max(1e-9);
    Ok(Joins {
        fans,
        seconds,
        joins_per_second: created as f64 / seconds,
        latency: Latency::of(&tally.latency_us),
        created,
        transport_errors: tally.errors,
        room_joined,
        sampled: firsts.len(),
        sampled_same,
        spare_seconds,
        resident_before_bytes: before,
        resident_after_bytes: after,
        bytes_per_waiting_fan: after.saturating_sub(before) as f64 / fans.max(1) as f64,
        ok: created == fans && room_joined == fans as u64 && sampled_same == firsts.len(),
    })
}

/// The room's `joined` and `admitted` as its owner reads them.
async fn room_counts(conn: &mut Connection, fixture: &Fixture, room: Room) -> anyhow::Result<(u64, u64)> {
    let answer = conn.send(Method::GET, &room.path(""), Some(fixture.venue.promoter_token()), None).await?;
    anyhow::ensure!(answer.status == StatusCode::OK, "reading the room's counts: {}", answer.status);
    let data = answer.json()["data"].clone();
    Ok((
        data["joined"].as_u64().context("a room without its joined count")?,
        data["admitted"].as_u64().context("a room without its admitted count")?,
    ))
}

/// Admission at the room's rate and the bookings behind it.
#[derive(Debug, Serialize)]
pub struct Admission {
    pub admit_per_minute: i64,
    /// From the opening of sales to the owner's last reading.
    pub seconds: f64,
    pub admitted: u64,
    /// The rate times the time, at most every fan.
    pub expected: f64,
    /// `admitted` over `expected`, in percent.
    pub accuracy_percent: f64,
    /// Status reads of the fans who watched for their turn.
    pub status_reads: u64,
    /// Bookings with a pass answered 201, and per second of the window.
    pub bookings: usize,
    pub bookings_per_second: f64,
    pub booking_latency: Latency,
    /// Bookings with a pass answered otherwise.
    pub bookings_refused: u64,
    /// The probe without a pass: its status and code (403 `QUEUE_PASS_REQUIRED`).
    pub passless_status: u16,
    pub passless_code: String,
    /// The concert's reservations read back: every booking answered, and no other.
    pub verification: Verification,
    pub ok: bool,
}

/// What one fan watching for their turn knows.
#[derive(Clone, Copy)]
enum Watch {
    /// Not read since sales opened.
    Unknown,
    /// Let in once the room's admitted count passes this.
    Rank(u64),
    Booked,
}

/// Waits for sales to open, then for `window` reads the owner's counts and lets the
/// admitted fans book a seat each with their pass, over `connections` connections.
pub async fn admit_and_book(
    address: SocketAddr,
    fixture: &Arc<Fixture>,
    fan_auth: &Arc<Vec<HeaderValue>>,
    room: Room,
    connections: usize,
    window: Duration,
) -> anyhow::Result<Admission> {
    let until_open = (room.sales_open_at - Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(until_open + Duration::from_millis(50)).await;
    let mut conn = Connection::new(address);
    // A booking without a pass, on the last seat (never booked with one).
    let (row, column) = seat_at(SEATS_PER_CONCERT - 1);
    let body = seat_body(&row, column);
    let book_path = format!("/api/v1/concerts/{}/reservations", room.concert);
    let probe = conn.send_as(Method::POST, &book_path, Some(fan_auth[0].clone()), Some(body)).await?;
    let passless_code = probe.json()["code"].as_str().unwrap_or_default().to_owned();
    let passless_status = probe.status.as_u16();

    let deadline = Instant::now() + window;
    let admitted = Arc::new(AtomicU64::new(0));
    let next_seat = Arc::new(AtomicUsize::new(0));
    let lanes_n = connections.min(fan_auth.len()).max(1);
    let mut lanes = Vec::with_capacity(lanes_n);
    for lane in 0..lanes_n {
        let (admitted, next_seat, fan_auth) = (admitted.clone(), next_seat.clone(), fan_auth.clone());
        let (me, book_path) = (room.path("/me"), book_path.clone());
        // Two ticks' worth: a fan is read again a little before their turn.
        let margin = (room.admit_per_minute as u64 / 30).max(1);
        lanes.push(tokio::spawn(async move {
            let mut conn = Connection::new(address);
            let mut bookings = Tally::new()?;
            let mut reads = 0_u64;
            let mine: Vec<usize> = (lane..fan_auth.len()).step_by(lanes_n).collect();
            let mut watch = vec![Watch::Unknown; mine.len()];
            while Instant::now() < deadline {
                let mut sent = false;
                for (k, &fan) in mine.iter().enumerate() {
                    if Instant::now() >= deadline {
                        break;
                    }
                    let now_admitted = admitted.load(Ordering::Relaxed);
                    match watch[k] {
                        Watch::Booked => continue,
                        Watch::Rank(rank) if rank > now_admitted + margin => continue,
                        _ => {}
                    }
                    sent = true;
                    reads += 1;
                    let place = conn.send_as(Method::GET, &me, Some(fan_auth[fan].clone()), None).await?;
                    let data = place.json()["data"].clone();
                    match (data["state"].as_str(), data["pass"].as_str(), data["position"].as_u64()) {
                        (Some("ADMITTED"), Some(pass), _) => {
                            let seat = next_seat.fetch_add(1, Ordering::Relaxed);
                            if seat >= SEATS_PER_CONCERT - 1 {
                                watch[k] = Watch::Booked;
                                continue;
                            }
                            let (row, column) = seat_at(seat);
                            let body = seat_body(&row, column);
                            let headers = [
                                (AUTHORIZATION, fan_auth[fan].clone()),
                                (QUEUE_PASS, HeaderValue::from_str(pass)?),
                            ];
                            let started = Instant::now();
                            let answer = conn
                                .send_with_all(Method::POST, &book_path, headers.into_iter(), Some(body))
                                .await?;
                            bookings.record(answer.status.as_u16(), started.elapsed());
                            if answer.status == StatusCode::CREATED {
                                bookings.booked.extend(answer.json()["data"]["id"].as_i64());
                            }
                            watch[k] = Watch::Booked;
                        }
                        (Some("WAITING"), _, Some(position)) => {
                            watch[k] = Watch::Rank(position + admitted.load(Ordering::Relaxed));
                        }
                        // Let in but without a pass (the room ended), expired or sold out.
                        (Some(_), _, _) if data["state"] != "WAITING" => watch[k] = Watch::Booked,
                        _ => {}
                    }
                }
                if !sent {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            anyhow::Ok((bookings, reads))
        }));
    }
    // The owner reads the counts meanwhile; the last reading is the one compared.
    let mut last = (0_u64, 0.0_f64);
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (_, count) = room_counts(&mut conn, fixture, room).await?;
        let at = (Utc::now() - room.sales_open_at).num_milliseconds() as f64 / 1000.0;
        admitted.store(count, Ordering::Relaxed);
        last = (count, at);
    }
    let mut bookings = Tally::new()?;
    let mut status_reads = 0;
    for lane in lanes {
        let (lane, reads) = lane.await??;
        bookings.merge(lane)?;
        status_reads += reads;
    }
    let (admitted, seconds) = last;
    let expected = (room.admit_per_minute as f64 * seconds / 60.0).min(fan_auth.len() as f64);
    let booked = bookings.booked.len();
    let verification = super::verify(address, fixture, &bookings).await?;
    // One tick late at most, and a fan's rounding.
    let slack = room.admit_per_minute as f64 / 60.0 * 1.5 + 1.0;
    let ok = (admitted as f64 - expected).abs() <= slack
        && passless_status == 403
        && passless_code == "QUEUE_PASS_REQUIRED"
        && booked > 0
        && bookings.statuses.keys().all(|s| *s == 201)
        && verification.ok
        && verification.active_reservations == booked;
    Ok(Admission {
        admit_per_minute: room.admit_per_minute,
        seconds,
        admitted,
        expected,
        accuracy_percent: if expected > 0.0 { 100.0 * admitted as f64 / expected } else { 0.0 },
        status_reads,
        bookings: booked,
        bookings_per_second: booked as f64 / window.as_secs_f64().max(1e-9),
        booking_latency: Latency::of(&bookings.latency_us),
        bookings_refused: bookings.statuses.iter().filter(|(s, _)| **s != 201).map(|(_, n)| n).sum(),
        passless_status,
        passless_code,
        verification,
        ok,
    })
}

/// The whole of a `queue` run beside its status-read load.
#[derive(Debug, Serialize)]
pub struct QueueRun {
    pub joins: Joins,
    pub admission: Admission,
}

impl QueueRun {
    pub fn ok(&self) -> bool {
        self.joins.ok && self.admission.ok
    }

    pub fn text(&self) -> String {
        let (j, a) = (&self.joins, &self.admission);
        format!(
            "joins      {} fans: {:.0} joins/s in {:.2} s; p50 {:.2}  p99 {:.2}  max {:.2} ms; {} answered 201, \
             the room counts {}, {} of {} joined again answered 200 with their joinedAt; {:.1} s to spare \
             before sales opened\n\
             memory     resident {:.1} MiB before the joins, {:.1} MiB after: {:.0} bytes per waiting fan\n\
             admission  {} admitted in {:.1} s at {}/min against {:.0} expected: {:.1}%\n\
             bookings   {} with a pass ({:.1}/s), {} refused; p50 {:.2}  p99 {:.2} ms; {} status reads by the \
             waiting fans; without a pass: {} {}\n\
             verified   {}: {} bookings, {} active reservations in the concert, {} seats sold twice\n",
            j.fans,
            j.joins_per_second,
            j.seconds,
            j.latency.p50_ms,
            j.latency.p99_ms,
            j.latency.max_ms,
            j.created,
            j.room_joined,
            j.sampled_same,
            j.sampled,
            j.spare_seconds,
            j.resident_before_bytes as f64 / 1048576.0,
            j.resident_after_bytes as f64 / 1048576.0,
            j.bytes_per_waiting_fan,
            a.admitted,
            a.seconds,
            a.admit_per_minute,
            a.expected,
            a.accuracy_percent,
            a.bookings,
            a.bookings_per_second,
            a.bookings_refused,
            a.booking_latency.p50_ms,
            a.booking_latency.p99_ms,
            a.status_reads,
            a.passless_status,
            a.passless_code,
            if self.ok() { "OK" } else { "FAILED" },
            a.verification.confirmed,
            a.verification.active_reservations,
            a.verification.seats_sold_twice,
        )
    }
}
