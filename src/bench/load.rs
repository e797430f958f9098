//! The load itself: one task per connection, closed loop (send, wait, send) or open loop
//! (requests at a fixed rate, latency counted from when each was due, so a slow server
//! cannot hide its queueing — no coordinated omission).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use hyper::Method;
use hyper::header::HeaderValue;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::checkin::{self, Door};
use super::client::{Connection, bearer};
use super::phases::{Kind, Phases};
use super::report::Tally;
use super::setup::{Fixture, SEATS_PER_CONCERT, seat_at, seat_body};
use super::webhook::{self, Webhooks};
use super::{Scenario, arena};

/// Shared state of a run.
pub struct Run {
    pub scenario: Scenario,
    pub fixture: Arc<Fixture>,
    /// The fans' `Authorization` headers, made once.
    pub fan_auth: Vec<HeaderValue>,
    /// Requests due before this are sent but not counted (the warm-up).
    pub measured_from: Instant,
    pub deadline: Instant,
    /// Requests per second per connection, for open loop.
    pub per_connection_rate: Option<f64>,
    pub rush_seats: usize,
    /// `webhook`: the orders to pay and how their events are signed.
    pub webhooks: Option<Arc<Webhooks>>,
    /// `checkin`: the tickets to scan and the door's tokens.
    pub door: Option<Arc<Door>>,
    /// The next seat to sell (`spread`), order to pay (`webhook`) or ticket to scan
    /// (`checkin`).
    pub next: AtomicUsize,
    pub completed: AtomicU64,
    /// The run's work ran out: every seat sold (`spread`), every order paid (`webhook`) or
    /// every ticket scanned (`checkin`).
    pub ran_out: AtomicBool,
    /// With `--ceiling`: the phases of scenario and `/health` the run alternates between.
    pub phases: Option<Phases>,
}

/// What to send next.
enum Step {
    Get(String),
    /// A read as fan number `fan`.
    GetAs {
        path: String,
        fan: usize,
    },
    Book {
        concert: i64,
        row: String,
        column: usize,
        fan: usize,
    },
    /// Standing places of the arena's floor.
    BookStanding {
        concert: i64,
        fan: usize,
    },
    Cancel {
        concert: i64,
        reservation: i64,
        fan: usize,
    },
    /// The payment event of the run's order number `i`.
    Pay(usize),
    /// The scan of the run's ticket number `i`.
    Scan(usize),
    Stop,
}

impl Run {
    /// The time counted by a run that ended at `ended`: after the warm-up, and with
    /// `--ceiling` only the settled part of the scenario's own phases.
    pub fn counted(&self, ended: Instant) -> Duration {
        match &self.phases {
            Some(phases) => Duration::from_secs_f64(phases.scenario_seconds(ended)),
            None => ended.saturating_duration_since(self.measured_from),
        }
    }

    fn next_step(&self, rng: &mut StdRng, mine: &[(i64, i64, usize)]) -> Step {
        let fixture = &self.fixture;
        let fans = fixture.fans.len();
        let random_concert = |rng: &mut StdRng| fixture.concerts[rng.gen_range(0..fixture.concerts.len())];
        match self.scenario {
            Scenario::Health => Step::Get("/health".into()),
            // Measured by `footprint::measure`, never driven as a load.
            Scenario::Footprint => Step::Stop,
            Scenario::Seatmap => Step::Get(format!("/api/v1/concerts/{}/seats", fixture.concerts[0])),
            Scenario::Availability => {
                Step::Get(format!("/api/v1/concerts/{}/availability", fixture.concerts[0]))
            }
            Scenario::Section => Step::Get(format!(
                "/api/v1/concerts/{}/seats?section={}",
                fixture.concerts[0],
                arena::READ_SECTION
            )),
            Scenario::Queue => Step::GetAs {
                path: format!("/api/v1/concerts/{}/queue/me", fixture.concerts[0]),
                fan: rng.gen_range(0..fans),
            },
            Scenario::Standing => {
                Step::BookStanding { concert: fixture.concerts[0], fan: rng.gen_range(0..fans) }
            }
            Scenario::Spread => {
                let i = self.next.fetch_add(1, Ordering::Relaxed);
                if i >= fixture.concerts.len() * SEATS_PER_CONCERT {
                    self.ran_out.store(true, Ordering::Relaxed);
                    return Step::Stop;
                }
                let (row, column) = seat_at(i % SEATS_PER_CONCERT);
                Step::Book { concert: fixture.concerts[i / SEATS_PER_CONCERT], row, column, fan: i % fans }
            }
            Scenario::Webhook => {
                let i = self.next.fetch_add(1, Ordering::Relaxed);
                if i >= self.webhooks.as_ref().map_or(0, |w| w.orders.len()) {
                    self.ran_out.store(true, Ordering::Relaxed);
                    return Step::Stop;
                }
                Step::Pay(i)
            }
            Scenario::Checkin => {
                let i = self.next.fetch_add(1, Ordering::Relaxed);
                if i >= self.door.as_ref().map_or(0, |d| d.tickets.len()) {
                    self.ran_out.store(true, Ordering::Relaxed);
                    return Step::Stop;
                }
                Step::Scan(i)
            }
            Scenario::Rush => {
                let (row, column) = seat_at(rng.gen_range(0..self.rush_seats.clamp(1, SEATS_PER_CONCERT)));
                Step::Book { concert: fixture.concerts[0], row, column, fan: rng.gen_range(0..fans) }
            }
            Scenario::Mixed => {
                let roll = rng.gen_range(0..100);
                match roll {
                    0..30 => Step::Get("/api/v1/concerts?page=1&size=10".into()),
                    30..50 => Step::Get(format!("/api/v1/concerts/{}", random_concert(rng))),
                    50..80 => Step::Get(format!("/api/v1/concerts/{}/seats", random_concert(rng))),
                    _ if roll >= 95 && !mine.is_empty() => {
                        let (concert, reservation, fan) = mine[rng.gen_range(0..mine.len())];
                        Step::Cancel { concert, reservation, fan }
                    }
                    _ => {
                        let (row, column) = seat_at(rng.gen_range(0..SEATS_PER_CONCERT));
                        Step::Book { concert: random_concert(rng), row, column, fan: rng.gen_range(0..fans) }
                    }
                }
            }
        }
    }
}

/// The id of the reservation a 201 answered, read without building the whole document.
fn created_id(body: &[u8]) -> Option<i64> {
    #[derive(serde::Deserialize)]
    struct Created {
        data: Id,
    }
    #[derive(serde::Deserialize)]
    struct Id {
        id: i64,
    }
    serde_json::from_slice::<Created>(body).ok().map(|c| c.data.id)
}

/// The ids of the reservations a 201 of the list form answered.
fn created_ids(body: &[u8]) -> Vec<i64> {
    #[derive(serde::Deserialize)]
    struct Created {
        data: List,
    }
    #[derive(serde::Deserialize)]
    struct List {
        reservations: Vec<Id>,
    }
    #[derive(serde::Deserialize)]
    struct Id {
        id: i64,
    }
    serde_json::from_slice::<Created>(body)
        .map(|c| c.data.reservations.into_iter().map(|r| r.id).collect())
        .unwrap_or_default()
}

/// Makes the fans' `Authorization` headers.
pub fn fan_auth(fixture: &Fixture) -> anyhow::Result<Vec<HeaderValue>> {
    fixture.fans.iter().map(|token| bearer(token)).collect()
}

/// One connection's loop until the deadline (or sell-out).
pub async fn worker(run: Arc<Run>, mut conn: Connection, seed: u64) -> anyhow::Result<Tally> {
    let mut tally = Tally::new()?;
    let mut rng = StdRng::seed_from_u64(seed);
    // (concert, reservation, fan) this worker booked and has not cancelled.
    let mut mine: Vec<(i64, i64, usize)> = Vec::new();
    // `checkin`: each connection is a scanner of its own.
    let device = format!("bench-{seed}");
    let interval = run.per_connection_rate.map(|r| Duration::from_secs_f64(1.0 / r.max(1e-6)));
    // Spread connections' first requests over one interval so an open loop is smooth.
    let mut due = Instant::now() + interval.map_or(Duration::ZERO, |i| i.mul_f64(rng.r#gen::<f64>()));
    while Instant::now() < run.deadline {
        if interval.is_some() {
            tokio::time::sleep_until(due.into()).await;
        }
        let started = if interval.is_some() { due } else { Instant::now() };
        let kind = run.phases.as_ref().map_or(Kind::Scenario, |phases| phases.kind(started));
        let step = match kind {
            Kind::Scenario => run.next_step(&mut rng, &mine),
            Kind::Ceiling => Step::Get("/health".into()),
        };
        let answer = match &step {
            Step::Stop => {
                if let Some(phases) = &run.phases {
                    phases.stop(Instant::now());
                }
                break;
            }
            Step::Get(path) => conn.send(Method::GET, path, None, None).await,
            Step::GetAs { path, fan } => {
                conn.send_as(Method::GET, path, Some(run.fan_auth[*fan].clone()), None).await
            }
            Step::Book { concert, row, column, fan } => {
                let body = seat_body(row, *column);
                let path = format!("/api/v1/concerts/{concert}/reservations");
                conn.send_as(Method::POST, &path, Some(run.fan_auth[*fan].clone()), Some(body)).await
            }
            Step::BookStanding { concert, fan } => {
                let body = Bytes::from(format!(
                    r#"{{"standing":[{{"section":"Floor","quantity":{}}}]}}"#,
                    arena::STANDING_ORDER
                ));
                let path = format!("/api/v1/concerts/{concert}/reservations");
                conn.send_as(Method::POST, &path, Some(run.fan_auth[*fan].clone()), Some(body)).await
            }
            Step::Cancel { concert, reservation, fan } => {
                let path = format!("/api/v1/concerts/{concert}/reservations/{reservation}");
                conn.send_as(Method::DELETE, &path, Some(run.fan_auth[*fan].clone()), None).await
            }
            Step::Pay(i) => match run.webhooks.as_ref().map(|w| w.delivery(*i)) {
                Some(Ok((body, signature))) => {
                    conn.send_with(Method::POST, webhook::PATH, Some(signature), Some(body)).await
                }
                Some(Err(e)) => Err(e),
                None => Err(anyhow::anyhow!("a payment step without the run's orders")),
            },
            Step::Scan(i) => match run.door.as_ref().map(|door| door.scan(*i, &device)) {
                Some(Ok((path, token, body))) => {
                    conn.send_as(Method::POST, &path, Some(token), Some(body)).await
                }
                Some(Err(e)) => Err(e),
                None => Err(anyhow::anyhow!("a scan step without the run's tickets")),
            },
        };
        match answer {
            Ok(answer) => {
                let counted = match &run.phases {
                    Some(phases) => phases.answered(kind, Instant::now()),
                    None => started >= run.measured_from,
                };
                if counted && kind == Kind::Scenario {
                    tally.record(answer.status.as_u16(), started.elapsed());
                }
                match step {
                    Step::Book { concert, fan, .. } if answer.status == 201 => {
                        if let Some(id) = created_id(&answer.body) {
                            tally.booked.push(id);
                            mine.push((concert, id, fan));
                        }
                    }
                    Step::BookStanding { .. } if answer.status == 201 => {
                        tally.booked.extend(created_ids(&answer.body));
                    }
                    Step::Cancel { reservation, .. } if answer.status == 200 => {
                        tally.cancelled.push(reservation);
                        mine.retain(|(_, id, _)| *id != reservation);
                    }
                    Step::Pay(i) if answer.status == 200 => {
                        tally.paid.extend(run.webhooks.as_ref().map(|w| w.orders[i].id));
                    }
                    Step::Pay(_) => tally.not_taken += 1,
                    Step::Scan(i) if answer.status == 200 && checkin::admitted(&answer.body) => {
                        tally.admitted.extend(run.door.as_ref().map(|d| d.tickets[i].id));
                    }
                    Step::Scan(_) => tally.not_admitted += 1,
                    _ => {}
                }
            }
            Err(_) => tally.errors += 1,
        }
        run.completed.fetch_add(1, Ordering::Relaxed);
        if let Some(interval) = interval {
            due += interval;
        }
    }
    Ok(tally)
}
