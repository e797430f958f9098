//! `tickitecking bench`: a load generator for a running instance. It sets up its own data
//! through the public API, drives one of the on-sale scenarios over a fixed number of
//! connections, reports throughput and latency percentiles, and then checks through the
//! API that no seat was sold twice and that every confirmation it received is a booking
//! (`webhook`: that every order whose payment event was taken is paid, once; `checkin`: that
//! the door counts exactly the admissions it answered, and admits none of them twice;
//! `queue`: that every fan got a place, admission kept the room's rate, and only fans
//! with a pass booked).

pub mod arena;
pub mod checkin;
mod client;
pub mod durability;
pub mod footprint;
mod load;
pub mod phases;
pub mod queue;
pub mod report;
mod setup;
pub mod webhook;

use std::collections::{HashMap, HashSet};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, ValueEnum};
use hyper::Method;

use self::client::Connection;
use self::load::Run;
use self::phases::Phases;
use self::report::{Report, Tally, Verification};
use crate::domain::venue::{MAX_HOLD_MINUTES, MAX_SEATS_PER_FAN};

/// What the load does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// Every attempt books a distinct free seat, until sold out or time is up.
    Spread,
    /// Many fans on few seats: almost every attempt is refused.
    Rush,
    /// Full seat-map reads of a 2,600-seat concert.
    Seatmap,
    /// Browse list, detail and map, book and cancel, in on-sale proportions.
    Mixed,
    /// `GET /health`: the ceiling the other figures are compared with.
    Health,
    /// `GET /concerts/{id}/availability` of a 100,000-place arena concert.
    Availability,
    /// `GET /concerts/{id}/seats?section=S1`: one 5,000-seat section of the arena.
    Section,
    /// A rush on the arena's standing floor of 5,000: every attempt asks for 2 places,
    /// on and on after it sold out.
    Standing,
    /// Memory and set-up cost: creates the concerts (default 100), loads each one's seat
    /// map and seat gate, and reports the service's resident memory per seat and how long
    /// each 2,600-seat concert took to create.
    Footprint,
    /// Stripe's `checkout.session.completed` webhook: every event, signed with
    /// `--webhook-secret`, pays a distinct pending order held before the run (`PAYMENT`
    /// concerts, one seat per order; the service needs `PAYMENT_PROVIDER=stripe`).
    Webhook,
    /// The door: every scan admits a distinct ticket booked before the run, with its
    /// concert's check-in token (`POST /concerts/{id}/checkins`).
    Checkin,
    /// The waiting room of one concert: every fan (`--fans`) joins before sales open,
    /// then `GET /concerts/{id}/queue/me` as the load; once sales open, admission at
    /// `--admit-per-minute` for `--admit-for` and the admitted fans booking with their pass.
    Queue,
}

/// Flags of `tickitecking bench`.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Base URL of the instance to load (loopback only makes sense on one machine).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub target: String,
    #[arg(long, value_enum, default_value_t = Scenario::Spread)]
    pub scenario: Scenario,
    /// Open connections, one request in flight on each.
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// How long to run (e.g. `10s`).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Sent but not counted first (e.g. `1s`): opening the connections and the service's
    /// first touches of each concert, which would otherwise stand in the latency tail.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub warmup: Duration,
    /// Open loop: offer this many requests per second in all (`5000`), or this share of
    /// the scenario's closed-loop peak, measured first in the same run over as many
    /// connections (`50%`); default: closed loop.
    #[arg(long, conflicts_with = "ceiling", value_parser = Rate::parse)]
    pub rate: Option<Rate>,
    /// With `--rate N%`: how long the peak is measured, after its own warm-up.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    pub peak_for: Duration,
    /// Measure the `GET /health` ceiling inside the same run: the connections alternate
    /// between phases of the scenario and phases of `/health`, and the report gives the
    /// scenario's share of the ceiling from the same seconds (closed loop only).
    #[arg(long)]
    pub ceiling: bool,
    /// Length of each phase with `--ceiling` (e.g. `1s`); its first tenth is not counted.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub phase: Duration,
    /// How the run's concerts sell: `DIRECT` (confirmed at once) or `PAYMENT` (each booking
    /// holds its seats and makes a pending order; the service needs a payment provider,
    /// e.g. `PAYMENT_PROVIDER=manual`). `webhook` always makes `PAYMENT` concerts.
    #[arg(long, default_value = "DIRECT", value_parser = ["DIRECT", "PAYMENT"])]
    pub checkout: String,
    /// `webhook`: pending orders held before the run, one seat each, each paid by one
    /// event; default: enough for the warm-up and the run at 4,000 events/s.
    #[arg(long)]
    pub orders: Option<usize>,
    /// `checkin`: tickets booked before the run, each scanned once; default: enough for the
    /// warm-up and the run at 10,000 scans/s.
    #[arg(long)]
    pub tickets: Option<usize>,
    /// `webhook`: the signing secret of the service's Stripe webhook endpoint (`whsec_…`),
    /// which the events are signed with.
    #[arg(long, env = "STRIPE_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<String>,
    /// `queue`: the room's rate (fans let in a minute once sales open).
    #[arg(long, default_value_t = 6000)]
    pub admit_per_minute: i64,
    /// `queue`: how long admission and the bookings behind the room are watched.
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    pub admit_for: Duration,
    /// Fans to create (each signs up and logs in once).
    #[arg(long, default_value_t = 100)]
    pub fans: usize,
    /// Writes the fans straight into the embedded database of the service whose data dir
    /// this is (`scripts/bench --mint-fans` passes it), signing their tokens with its JWT
    /// secret, instead of signing each up over HTTP (two password hashes a fan): for rooms
    /// of 100,000 fans. SQLite only.
    #[arg(long)]
    pub mint_fans_in: Option<std::path::PathBuf>,
    /// Concerts to create (2,600 seats each); default: 20 for spread and mixed, as many as
    /// the orders need for webhook (the tickets for checkin), else 1.
    #[arg(long)]
    pub concerts: Option<usize>,
    /// Seats fought over in `rush`.
    #[arg(long, default_value_t = 100)]
    pub rush_seats: usize,
    #[arg(long, env = "ADMIN_USERNAME", default_value = "admin")]
    pub admin_username: String,
    #[arg(long, env = "ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: String,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// The event rate `webhook` holds orders for by default: generous against the target of
/// 1,000 events/s.
const DEFAULT_EVENTS_PER_SECOND: f64 = 4_000.0;

/// The scan rate `checkin` books tickets for by default: twice the target of 5,000 scans/s.
const DEFAULT_SCANS_PER_SECOND: f64 = 10_000.0;

/// How hard an open loop pushes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rate {
    /// Requests per second in all.
    PerSecond(f64),
    /// This share (0–1] of the closed-loop peak measured first in the same run: the
    /// latency target's "half the peak" follows the machine as it speeds up or slows down.
    OfPeak(f64),
}

impl Rate {
    /// `5000` or `50%`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let number = |s: &str| s.trim().parse::<f64>().ok().filter(|n| n.is_finite() && *n > 0.0);
        match text.strip_suffix('%') {
            Some(share) => match number(share) {
                Some(percent) if percent <= 100.0 => Ok(Rate::OfPeak(percent / 100.0)),
                _ => Err(format!("{text:?}: a share of the peak is above 0% and at most 100%")),
            },
            None => number(text)
                .map(Rate::PerSecond)
                .ok_or_else(|| format!("{text:?}: requests per second above 0, or a share such as 50%")),
        }
    }
}

fn address(target: &str) -> anyhow::Result<SocketAddr> {
    let host = target.trim_start_matches("http://").trim_end_matches('/');
    anyhow::ensure!(!target.starts_with("https://"), "bench speaks plain HTTP only");
    host.to_socket_addrs()
        .with_context(|| format!("resolving {host}"))?
        .next()
        .with_context(|| format!("no address for {host}"))
}

/// Runs a benchmark and prints its report; fails when the run's verification does.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let json = args.json;
    let report = measure(args).await?;
    let text = match &report {
        Outcome::Load(report) if json => serde_json::to_string_pretty(report)? + "\n",
        Outcome::Load(report) => report.text(),
        Outcome::Footprint(report) if json => serde_json::to_string_pretty(report)? + "\n",
        Outcome::Footprint(report) => report.text(),
    };
    print!("{text}");
    match &report {
        Outcome::Load(load)
            if load.verification.as_ref().is_some_and(|v| !v.ok)
                || load.payments.as_ref().is_some_and(|p| !p.ok)
                || load.admissions.as_ref().is_some_and(|a| !a.ok)
                || load.queue.as_ref().is_some_and(|q| !q.ok()) =>
        {
            anyhow::bail!("verification failed")
        }
        _ => Ok(()),
    }
}

/// What a benchmark measured.
#[derive(Debug)]
pub enum Outcome {
    Load(Box<Report>),
    Footprint(footprint::Footprint),
}

/// Runs a benchmark and returns its report.
pub async fn measure(args: BenchArgs) -> anyhow::Result<Outcome> {
    let address = address(&args.target)?;
    anyhow::ensure!(args.connections > 0 && args.fans > 0, "--connections and --fans must be at least 1");
    anyhow::ensure!(
        !args.ceiling || !matches!(args.scenario, Scenario::Health | Scenario::Footprint),
        "--ceiling compares a load scenario with /health"
    );
    // A fan may hold only so many seats of a concert: with too few fans, spread would turn
    // into refusals long before the seats run out.
    let fans_needed = setup::SEATS_PER_CONCERT.div_ceil(MAX_SEATS_PER_FAN as usize);
    let scenario = format!("{:?}", args.scenario).to_lowercase();
    let sells_in_order = matches!(args.scenario, Scenario::Spread | Scenario::Webhook | Scenario::Checkin);
    anyhow::ensure!(
        !sells_in_order || args.fans >= fans_needed,
        "{scenario} needs --fans {fans_needed} or more: a fan may hold at most {MAX_SEATS_PER_FAN} seats of a concert"
    );
    anyhow::ensure!(
        !matches!(args.rate, Some(Rate::OfPeak(_))) || !args.peak_for.is_zero(),
        "--rate N% needs a --peak-for above zero to measure the peak in"
    );
    anyhow::ensure!(
        !args.ceiling || (!args.phase.is_zero() && args.duration >= 2 * args.phase),
        "--ceiling needs a --duration of at least two phases (--phase {:?})",
        args.phase
    );
    let arena_scenario =
        matches!(args.scenario, Scenario::Availability | Scenario::Section | Scenario::Standing);
    let webhook = args.scenario == Scenario::Webhook;
    let checkin = args.scenario == Scenario::Checkin;
    let queue_scenario = args.scenario == Scenario::Queue;
    // What a run at `per_second` uses up: its warm-up and time, and the peak run's.
    let sized_to_run = |per_second: f64| {
        let seconds = (args.warmup + args.duration).as_secs_f64()
            + if matches!(args.rate, Some(Rate::OfPeak(_))) {
                (args.warmup + args.peak_for).as_secs_f64()
            } else {
                0.0
            };
        (seconds * per_second).ceil() as usize
    };
    let orders = args.orders.unwrap_or_else(|| sized_to_run(DEFAULT_EVENTS_PER_SECOND));
    anyhow::ensure!(!webhook || orders > 0, "--orders must be at least 1");
    let tickets = args.tickets.unwrap_or_else(|| sized_to_run(DEFAULT_SCANS_PER_SECOND));
    anyhow::ensure!(!checkin || tickets > 0, "--tickets must be at least 1");
    let concerts = args.concerts.unwrap_or(match args.scenario {
        Scenario::Spread | Scenario::Mixed => 20,
        Scenario::Footprint => 100,
        Scenario::Webhook => orders.div_ceil(setup::SEATS_PER_CONCERT),
        Scenario::Checkin => tickets.div_ceil(setup::SEATS_PER_CONCERT),
        // The arena (the room's concert) is the one concert.
        _ if arena_scenario || queue_scenario => 0,
        _ => 1,
    });
    let run_id = format!("{:x}", rand::random::<u32>());
    let secret = match (webhook, &args.webhook_secret) {
        (false, _) => None,
        (true, Some(secret)) => Some(secret.as_str()),
        (true, None) => anyhow::bail!(
            "webhook needs --webhook-secret (or STRIPE_WEBHOOK_SECRET): the service's webhook signing secret"
        ),
    };
    if let Some(secret) = secret {
        webhook::probe(address, secret, &run_id).await?;
    }

    let terms = setup::Terms {
        // `checkin` books a whole row for one fan at a time.
        seats_per_fan: if checkin {
            MAX_SEATS_PER_FAN as usize
        } else {
            setup::SEATS_PER_CONCERT.div_ceil(args.fans)
        },
        // Tickets are confirmed bookings.
        checkout: match args.scenario {
            Scenario::Webhook => "PAYMENT".into(),
            Scenario::Checkin => "DIRECT".into(),
            _ => args.checkout.clone(),
        },
        // The shortest hold, so that a run can watch its holds expire; the longest for the
        // orders a webhook run pays, which must still be pending when their events come.
        hold_minutes: if webhook { MAX_HOLD_MINUTES } else { 1 },
    };
    eprintln!("setting up run {run_id}: {concerts} concert(s) of 2,600 seats, {} fans…", args.fans);
    let fixture = setup::prepare(
        address,
        (&args.admin_username, &args.admin_password),
        &run_id,
        // The footprint makes its concerts itself, timing each, once the fans exist; the
        // arena scenarios make theirs below.
        if args.scenario == Scenario::Footprint || arena_scenario || queue_scenario {
            0
        } else {
            concerts.max(1)
        },
        args.fans,
        terms,
        args.mint_fans_in.as_deref(),
    )
    .await?;
    if args.scenario == Scenario::Footprint {
        return Ok(Outcome::Footprint(footprint::measure(address, &fixture, concerts).await?));
    }
    let mut fixture = fixture;
    let arena = match arena_scenario {
        true => {
            eprintln!("setting up the arena: 100,000 places…");
            let arena = arena::prepare(address, &fixture.venue).await?;
            fixture.concerts = vec![arena.concert];
            Some(arena)
        }
        false => None,
    };
    let room = match queue_scenario {
        true => {
            let reads = args.warmup
                + args.duration
                + match args.rate {
                    Some(Rate::OfPeak(_)) => args.warmup + args.peak_for,
                    _ => Duration::ZERO,
                };
            let room =
                queue::prepare(address, &fixture.venue, args.fans, args.admit_per_minute, reads).await?;
            fixture.concerts = vec![room.concert];
            Some(room)
        }
        false => None,
    };
    let fixture = Arc::new(fixture);
    let webhooks = match secret {
        Some(secret) => {
            eprintln!("holding {orders} seats, one pending order each…");
            let held = webhook::hold(address, &fixture, orders, args.connections).await?;
            Some(Arc::new(webhook::Webhooks::new(&run_id, held, secret)?))
        }
        None => None,
    };
    let door = match checkin {
        true => {
            eprintln!("booking {tickets} tickets, reading their codes, making a check-in token per concert…");
            Some(Arc::new(checkin::prepare(address, &fixture, tickets, args.connections).await?))
        }
        false => None,
    };
    let fan_auth = load::fan_auth(&fixture)?;
    let joins = match room {
        Some(room) => {
            eprintln!("{} fans join the waiting room…", args.fans);
            let auth = Arc::new(fan_auth.clone());
            Some(queue::join_all(address, &fixture, &auth, room, args.connections).await?)
        }
        None => None,
    };
    let new_run = |rate: Option<f64>, duration: Duration, first: usize, ceiling: bool| {
        let measured_from = Instant::now() + args.warmup;
        let deadline = measured_from + duration;
        Arc::new(Run {
            scenario: args.scenario,
            fan_auth: fan_auth.clone(),
            fixture: fixture.clone(),
            measured_from,
            deadline,
            per_connection_rate: rate.map(|r| r / args.connections as f64),
            rush_seats: args.rush_seats,
            webhooks: webhooks.clone(),
            door: door.clone(),
            next: AtomicUsize::new(first),
            completed: AtomicU64::new(0),
            ran_out: AtomicBool::new(false),
            phases: ceiling.then(|| Phases::new(measured_from, deadline, args.phase, args.phase / 10)),
        })
    };
    // With a share of the peak: the closed-loop peak first, on connections of its own.
    let (rate, peak) = match args.rate {
        None => (None, None),
        Some(Rate::PerSecond(rate)) => (Some(rate), None),
        Some(Rate::OfPeak(share)) => {
            eprintln!("measuring the closed-loop peak for {:?}…", args.peak_for);
            let peak =
                Peak::measure(new_run(None, args.peak_for, 0, false), address, args.connections).await?;
            (Some(share * peak.per_second), Some(peak))
        }
    };
    let run = new_run(rate, args.duration, peak.as_ref().map_or(0, |p| p.next), args.ceiling);
    let measured_from = run.measured_from;
    let books =
        matches!(args.scenario, Scenario::Spread | Scenario::Rush | Scenario::Mixed | Scenario::Standing);
    // The group commit's waits after the warm-up, read when it ends.
    let waits_before = books.then(|| {
        tokio::spawn(async move {
            tokio::time::sleep_until(measured_from.into()).await;
            durability::snapshot(address).await
        })
    });
    let mut tally = drive(&run, address, args.connections).await?;
    let ended = Instant::now();
    let mode = match (rate, &peak) {
        (Some(rate), Some(peak)) => format!(
            "open loop, {rate:.0} req/s offered: {:.0}% of a closed-loop peak of {:.0}/s measured first",
            100.0 * rate / peak.per_second,
            peak.per_second
        ),
        (Some(rate), None) => format!("open loop, {rate:.0} req/s offered"),
        (None, _) => "closed loop".into(),
    };
    let mut report = Report::new(&scenario, mode, args.connections, run.counted(ended), &tally);
    report.peak_per_second = peak.as_ref().map(|peak| peak.per_second);
    // A booking whose answer was lost may still stand: the peak run's count here too.
    report.transport_errors += peak.as_ref().map_or(0, |peak| peak.tally.errors);
    report.ceiling = run.phases.as_ref().map(|phases| phases.ceiling(ended));
    if args.scenario == Scenario::Standing
        && let Some(arena) = &arena
    {
        report.floor_sold = Some(arena::FLOOR as u64 - arena::floor_left(address, arena.concert).await?);
    }
    report.arena = arena;
    if let Some(before) = waits_before {
        // Best effort: a service without the writer's metrics (PostgreSQL) reports none, and
        // so does a run whose first reading failed (it would count since the service began).
        if let Ok(Ok(before)) = before.await
            && let Ok(Some(after)) = durability::snapshot(address).await
        {
            report.durability = Some(durability::Durability::between(before.as_ref(), &after));
        }
    }
    // The peak run's bookings, payments and admissions are checked too (the report above is
    // the main run's).
    if let Some(peak) = peak {
        tally.merge(peak.tally)?;
    }
    if books {
        report.verification = Some(verify(address, &run.fixture, &tally).await?);
    }
    if let Some(webhooks) = &webhooks {
        report.payments = Some(webhook::verify(address, &run.fixture, webhooks.orders.len(), &tally).await?);
    }
    if let Some(door) = &door {
        report.admissions = Some(checkin::verify(address, door, &tally).await?);
    }
    if let (Some(room), Some(joins)) = (room, joins) {
        eprintln!("waiting for sales to open, then admission for {:?}…", args.admit_for);
        let auth = Arc::new(fan_auth.clone());
        let admission =
            queue::admit_and_book(address, &run.fixture, &auth, room, args.connections, args.admit_for)
                .await?;
        report.queue = Some(queue::QueueRun { joins, admission });
    }
    if run.ran_out.load(Ordering::Relaxed) {
        match args.scenario {
            Scenario::Webhook => eprintln!("every order was paid before the time was up: more --orders"),
            Scenario::Checkin => eprintln!("every ticket was scanned before the time was up: more --tickets"),
            _ => eprintln!("every seat was sold before the time was up"),
        }
    }
    Ok(Outcome::Load(Box::new(report)))
}

/// The closed-loop peak an open loop at a share of it is offered against.
struct Peak {
    /// Answers per second over the counted time.
    per_second: f64,
    /// Where the main run goes on (`spread`, `webhook`, `checkin`): the peak run's seats stay
    /// sold, its orders paid and its tickets admitted.
    next: usize,
    /// What the peak run saw (its bookings are verified with the main run's).
    tally: Tally,
}

impl Peak {
    /// Drives `run` (closed loop) and reads its rate.
    async fn measure(run: Arc<Run>, address: SocketAddr, connections: usize) -> anyhow::Result<Self> {
        let tally = drive(&run, address, connections).await?;
        let seconds = run.counted(Instant::now()).as_secs_f64();
        let answers: u64 = tally.statuses.values().sum();
        anyhow::ensure!(answers > 0 && seconds > 0.0, "the peak run got no answer to count");
        anyhow::ensure!(
            !run.ran_out.load(Ordering::Relaxed),
            "the work ran out while measuring the peak (every seat sold, every order paid or every ticket \
             scanned): more --concerts, --orders or --tickets, or a shorter --peak-for"
        );
        let next = run.next.load(Ordering::Relaxed);
        Ok(Self { per_second: answers as f64 / seconds, next, tally })
    }
}

/// Drives `run` over `connections` connections of its own until its deadline (or
/// sell-out), with a progress line; what they saw.
async fn drive(run: &Arc<Run>, address: SocketAddr, connections: usize) -> anyhow::Result<Tally> {
    let progress = indicatif::ProgressBar::new_spinner();
    let started = Instant::now();
    let mut workers = Vec::with_capacity(connections);
    for i in 0..connections {
        workers.push(tokio::spawn(load::worker(run.clone(), Connection::new(address), i as u64 + 1)));
    }
    let ticker = {
        let run = run.clone();
        let progress = progress.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                let done = run.completed.load(Ordering::Relaxed);
                let secs = started.elapsed().as_secs_f64();
                progress.set_message(format!("{done} requests, {:.0}/s, {secs:.1} s", done as f64 / secs));
                progress.tick();
            }
        })
    };
    let mut tally = Tally::new()?;
    for worker in workers {
        tally.merge(worker.await??)?;
    }
    ticker.abort();
    progress.finish_and_clear();
    Ok(tally)
}

/// Checks through the API that no seat was sold twice and every confirmation stands.
async fn verify(
    address: SocketAddr,
    fixture: &setup::Fixture,
    tally: &Tally,
) -> anyhow::Result<Verification> {
    let mut conn = Connection::new(address);
    let answer =
        conn.send(Method::GET, "/api/v1/admin/reservations", Some(&fixture.admin_token), None).await?;
    anyhow::ensure!(answer.status == 200, "listing reservations: {}", answer.status);
    let ours: HashSet<i64> = fixture.concerts.iter().copied().collect();
    let mut active_ids = HashSet::new();
    let mut per_seat: HashMap<i64, usize> = HashMap::new();
    for r in answer.json()["data"].as_array().cloned().unwrap_or_default() {
        let in_run = r["concert"]["id"].as_i64().is_some_and(|c| ours.contains(&c));
        // Held (a PAYMENT concert's booking) or confirmed: the seat is taken.
        if in_run && (r["status"] == "Y" || r["status"] == "H") {
            active_ids.insert(r["id"].as_i64().unwrap_or_default());
            *per_seat.entry(r["seat"]["id"].as_i64().unwrap_or_default()).or_default() += 1;
        }
    }
    let cancelled: HashSet<i64> = tally.cancelled.iter().copied().collect();
    let confirmed: Vec<i64> = tally.booked.iter().copied().filter(|id| !cancelled.contains(id)).collect();
    let found = confirmed.iter().filter(|id| active_ids.contains(id)).count();
    let twice = per_seat.values().filter(|n| **n > 1).count();
    Ok(Verification {
        confirmed: confirmed.len(),
        confirmed_found_active: found,
        active_reservations: active_ids.len(),
        seats_sold_twice: twice,
        ok: twice == 0 && found == confirmed.len(),
    })
}
