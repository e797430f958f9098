//! A scaled-out deployment's shared state in Redis: the seat gate, token revocations and
//! the caches, seen across instances, through a Redis outage and a flush.
//!
//! Instances of one [`Deployment`] share Redis keys and the token secret but each has its
//! own SQLite database (two services must not share one SQLite file). So a test here proves
//! what travels through Redis: e.g. a seat refused by instance B although B's own database
//! has it free can only have been refused by the gate that A filled.
//!
//! They need Redis: `TICKITECKING_TEST_REDIS_URL` (set by `scripts/test`, which also makes
//! them fail rather than skip when it is missing) and `redis-server` to start servers of
//! their own for the outage and flush tests.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{Deployment, TestApp};
use crate::rush;

/// The shared test Redis; `None` (and a note) only outside `scripts/test`.
pub fn redis_url() -> Option<String> {
    match std::env::var("TICKITECKING_TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("TEST_RUN_DIR").is_some() => {
            panic!(
                "scripts/test runs the Redis tests: TICKITECKING_TEST_REDIS_URL must come from scripts/test.d/20-redis.sh"
            )
        }
        _ => {
            eprintln!("NOTE: Redis test not run: set TICKITECKING_TEST_REDIS_URL or use scripts/test");
            None
        }
    }
}

/// A redis-server of the test's own, to kill and restart.
pub struct RedisServer {
    child: Option<std::process::Child>,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl RedisServer {
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut server = Self { child: None, port, dir: tempfile::tempdir().unwrap() };
        server.restart().await;
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts it (again) on the same port, with nothing saved from before.
    async fn restart(&mut self) {
        let binary =
            std::env::var("TICKITECKING_TEST_REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        let child = std::process::Command::new(&binary)
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {binary}: {e}"));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.command("PING").await.is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start on port {}", self.port);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn command(&self, name: &str) -> redis::RedisResult<String> {
        self.run(&[name]).await
    }

    /// Runs one command, its name and arguments in `args`.
    pub async fn run<T: redis::FromRedisValue>(&self, args: &[&str]) -> redis::RedisResult<T> {
        let client = redis::Client::open(self.url())?;
        let mut connection = client.get_multiplexed_async_connection().await?;
        redis::cmd(args[0]).arg(&args[1..]).query_async(&mut connection).await
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A promoter's concert named `name` (rows A–C, 10 seats each, 10 seats per fan).
pub async fn on_sale(app: &TestApp, name: &str) -> i64 {
    let (_, promoter) = app.promoter("promoter").await;
    let hall = app
        .post(
            "/api/v1/auditoriums",
            &json!({"name": "Hall", "address": "Seoul", "maxRow": "C", "maxColumn": 10}),
            Some(&promoter),
        )
        .await;
    hall.assert_status(201);
    let concert = app
        .post("/api/v1/concerts", &concert_body(name, hall.data()["id"].as_i64().unwrap()), Some(&promoter))
        .await;
    concert.assert_status(201);
    concert.data()["id"].as_i64().unwrap()
}

fn concert_body(name: &str, hall: i64) -> Value {
    json!({
        "name": name, "description": "", "startTime": "2099-01-01T19:00:00Z",
        "auditoriumId": hall, "maxSeatsPerFan": 10,
        "seatPrices": [{"grade": "R", "price": 100}],
        "seatList": [{"horizontals": ["A", "B", "C"], "grade": "R"}],
    })
}

/// One seat of an order.
pub fn seat(horizontal: &str, vertical: i64) -> Value {
    json!({"horizontal": horizontal, "vertical": vertical})
}

/// Where a concert's seats are booked.
pub fn reservations(concert: i64) -> String {
    format!("/api/v1/concerts/{concert}/reservations")
}

/// The seats a seat map (the `GET /concerts/{id}/seats` envelope) shows reserved.
pub fn reserved(map: &Value) -> Vec<String> {
    let mut seats = Vec::new();
    for row in map["data"]["rows"].as_array().unwrap() {
        for (i, status) in row["statuses"].as_str().unwrap().chars().enumerate() {
            if status == 'R' {
                seats.push(format!("{}{}", row["horizontal"].as_str().unwrap(), i + 1));
            }
        }
    }
    seats
}

#[tokio::test]
async fn a_seat_booked_through_one_instance_is_refused_by_the_shared_gate_on_another() {
    let Some(url) = redis_url() else { return };
    let deployment = Deployment::new(&url);
    let (a, b) = (deployment.instance().await, deployment.instance().await);
    let (concert, on_b) = (on_sale(&a, "Live").await, on_sale(&b, "Live").await);
    assert_eq!(concert, on_b, "both databases were set up alike");
    let (_, fan_a) = a.fan("fan-a").await;
    let (_, fan_b) = b.fan("fan-b").await;

    a.post(&reservations(concert), &seat("A", 1), Some(&fan_a)).await.assert_status(201);
    let refused = b.post(&reservations(concert), &seat("A", 1), Some(&fan_b)).await;
    refused.assert_error(409, "SEAT_TAKEN");
    // B's own database has A1 free: only the gate A told can have refused it.
    assert!(rush::active(&b, concert).await.is_empty());
    b.post(&reservations(concert), &seat("A", 2), Some(&fan_b)).await.assert_status(201);
}

/// A concert of a standing floor of `capacity` places, set up alike on an instance.
async fn floor_on_sale(app: &TestApp, capacity: i64) -> i64 {
    let (_, promoter) = app.promoter("floor-promoter").await;
    let sections = json!([{"name": "Floor", "kind": "STANDING", "capacity": capacity}]);
    let hall = app
        .post(
            "/api/v1/auditoriums",
            &json!({"name": "Club", "address": "Seoul", "sections": sections}),
            Some(&promoter),
        )
        .await;
    hall.assert_status(201);
    let body = json!({
        "name": "Floor", "startTime": "2099-01-01T19:00:00Z", "auditoriumId": hall.data()["id"],
        "maxSeatsPerFan": 10, "seatPrices": [{"grade": "G", "price": 30}],
        "standing": [{"section": "Floor", "grade": "G"}],
    });
    let concert = app.post("/api/v1/concerts", &body, Some(&promoter)).await;
    concert.assert_status(201);
    concert.data()["id"].as_i64().unwrap()
}

#[tokio::test]
async fn a_floor_sold_out_through_one_instance_is_refused_by_the_shared_gate_on_another() {
    let Some(url) = redis_url() else { return };
    let deployment = Deployment::new(&url);
    let (a, b) = (deployment.instance().await, deployment.instance().await);
    let (concert, on_b) = (floor_on_sale(&a, 4).await, floor_on_sale(&b, 4).await);
    assert_eq!(concert, on_b, "both databases were set up alike");
    let (_, fan_a) = a.fan("fan-a").await;
    let (_, fan_b) = b.fan("fan-b").await;
    let two = json!({"standing": [{"section": "Floor", "quantity": 2}]});

    a.post(&reservations(concert), &two, Some(&fan_a)).await.assert_status(201);
    a.post(&reservations(concert), &two, Some(&fan_a)).await.assert_status(201);
    let refused = b.post(&reservations(concert), &two, Some(&fan_b)).await;
    refused.assert_error(409, "SOLD_OUT");
    // B's own database has the whole floor free: only the gate A told can have refused.
    assert!(rush::active(&b, concert).await.is_empty());
    // A place given back through A is bookable through B again.
    let mine = a.get("/api/v1/users/my/reservations", Some(&fan_a)).await;
    let id = mine.data()[0]["id"].as_i64().unwrap();
    a.delete(&format!("{}/{id}", reservations(concert)), Some(&fan_a)).await.assert_status(200);
    let one = json!({"standing": [{"section": "Floor", "quantity": 1}]});
    b.post(&reservations(concert), &one, Some(&fan_b)).await.assert_status(201);
    b.post(&reservations(concert), &two, Some(&fan_b)).await.assert_error(409, "SOLD_OUT");
}

#[tokio::test]
async fn a_seat_freed_by_a_cancel_becomes_bookable_again_on_every_instance() {
    let Some(url) = redis_url() else { return };
    let deployment = Deployment::new(&url);
    let (a, b) = (deployment.instance().await, deployment.instance().await);
    let concert = on_sale(&a, "Live").await;
    on_sale(&b, "Live").await;
    let (_, first) = a.fan("first").await;
    let (_, second) = a.fan("second").await;
    let (_, fan_b) = b.fan("fan-b").await;
    let cancel = |id: i64| format!("{}/{id}", reservations(concert));

    let booked = a.post(&reservations(concert), &seat("B", 5), Some(&first)).await;
    booked.assert_status(201);
    b.post(&reservations(concert), &seat("B", 5), Some(&fan_b)).await.assert_error(409, "SEAT_TAKEN");
    a.delete(&cancel(booked.data()["id"].as_i64().unwrap()), Some(&first)).await.assert_status(200);

    // Freed on the instance that cancelled it, and taken again for everyone by the rebooking.
    let rebooked = a.post(&reservations(concert), &seat("B", 5), Some(&second)).await;
    rebooked.assert_status(201);
    b.post(&reservations(concert), &seat("B", 5), Some(&fan_b)).await.assert_error(409, "SEAT_TAKEN");
    a.delete(&cancel(rebooked.data()["id"].as_i64().unwrap()), Some(&second)).await.assert_status(200);

    // The cancel's news let B through to its own database, where the seat is free.
    b.post(&reservations(concert), &seat("B", 5), Some(&fan_b)).await.assert_status(201);
}

#[tokio::test]
async fn tokens_revoked_on_one_instance_by_logout_or_a_role_change_are_refused_by_another() {
    let Some(url) = redis_url() else { return };
    let deployment = Deployment::new(&url);
    let (a, b) = (deployment.instance().await, deployment.instance().await);
    // The same account (same id) in both databases, so B can answer A's token.
    let (id_a, token) = a.fan("roaming").await;
    let (id_b, _) = b.fan("roaming").await;
    assert_eq!(id_a, id_b);
    let kept = a.login("roaming", crate::helpers::PASSWORD).await;

    b.get("/api/v1/users/my", Some(&token)).await.assert_status(200);
    a.post("/api/v1/users/logout", &json!({}), Some(&token)).await.assert_status(204);
    b.get("/api/v1/users/my", Some(&token)).await.assert_error(401, "TOKEN_INVALID");
    a.get("/api/v1/users/my", Some(&token)).await.assert_error(401, "TOKEN_INVALID");
    b.get("/api/v1/users/my", Some(&kept.access)).await.assert_status(200);

    // A role change on A ends every older session of the user, on B too.
    let admin = a.admin_token().await;
    let promoted = json!({"username": "roaming", "email": "roaming@example.com", "role": "COMPANY_USER"});
    a.put(&format!("/api/v1/admin/users/{id_a}"), &promoted, Some(&admin)).await.assert_status(200);
    b.get("/api/v1/users/my", Some(&kept.access)).await.assert_error(401, "TOKEN_INVALID");
}

#[tokio::test]
async fn rate_limits_are_counted_once_for_every_instance() {
    let Some(url) = redis_url() else { return };
    let deployment = Deployment::new(&url);
    let three_an_hour = |c: &mut tickitecking::config::Config| {
        c.rate_limits = tickitecking::throttle::RateLimits {
            login_per_account: tickitecking::throttle::Rate::new(3, Duration::from_secs(3600)),
            ..tickitecking::throttle::RateLimits::OFF
        };
    };
    let (a, b) =
        (deployment.instance_with(three_an_hour).await, deployment.instance_with(three_an_hour).await);
    a.signup("guessed").await;
    let wrong = json!({"username": "guessed", "password": "Wrong#pass1"});
    // Three guesses spread over both instances use up the account's allowance on both:
    // a guesser cannot multiply it by the number of instances behind the load balancer.
    a.post("/api/v1/users/login", &wrong, None).await.assert_error(401, "INVALID_CREDENTIALS");
    b.post("/api/v1/users/login", &wrong, None).await.assert_error(401, "INVALID_CREDENTIALS");
    a.post("/api/v1/users/login", &wrong, None).await.assert_error(401, "INVALID_CREDENTIALS");
    for instance in [&b, &a] {
        let refused = instance.post("/api/v1/users/login", &wrong, None).await;
        refused.assert_error(429, "RATE_LIMITED");
        let retry_after: u64 = refused.headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=3600).contains(&retry_after), "Retry-After {retry_after}");
    }
}

#[tokio::test]
async fn caches_are_shared_and_a_change_on_one_instance_invalidates_them_for_all() {
    let Some(url) = redis_url() else { return };
    let deployment = Deployment::new(&url);
    let (a, b) = (deployment.instance().await, deployment.instance().await);
    let concert = on_sale(&a, "Alpha").await;
    on_sale(&b, "Beta").await;
    let (_, fan_a) = a.fan("fan-a").await;
    let (_, fan_b) = b.fan("fan-b").await;
    b.post(&reservations(concert), &seat("C", 3), Some(&fan_b)).await.assert_status(201);

    // What A cached is what B serves, though B's database says otherwise.
    let detail = format!("/api/v1/concerts/{concert}");
    assert_eq!(a.get(&detail, None).await.data()["name"], "Alpha");
    assert_eq!(b.get(&detail, None).await.data()["name"], "Alpha");
    let seats = format!("/api/v1/concerts/{concert}/seats");
    assert!(reserved(&a.get(&seats, None).await.body).is_empty());
    assert!(reserved(&b.get(&seats, None).await.body).is_empty());
    // Read again: now from B's own copy, which Redis confirmed is still the current map.
    assert!(reserved(&b.get(&seats, None).await.body).is_empty());

    // A's booking is patched into the shared map in Redis: B serves it, though B's own
    // database does not have it.
    a.post(&reservations(concert), &seat("A", 1), Some(&fan_a)).await.assert_status(201);
    let patched = b.get(&seats, None).await;
    assert_eq!(reserved(&patched.body), ["A1"]);
    assert_eq!(a.get(&seats, None).await.body, patched.body, "one shared map");
    // A change that is not patched in drops the shared entries: B now reads its own database.
    let promoter = a.login("promoter", crate::helpers::PASSWORD).await.access;
    let hall = a.get(&detail, None).await.data()["auditoriumId"].as_i64().unwrap();
    a.put(&detail, &concert_body("Alpha 2", hall), Some(&promoter)).await.assert_status(200);
    assert_eq!(b.get(&detail, None).await.data()["name"], "Beta");
    assert_eq!(reserved(&b.get(&seats, None).await.body), ["C3"]);
}

/// The bookings of a rush, told out of order by concurrent tasks, are all patched into the
/// shared map (a change that comes before the one it was made after waits in Redis): B,
/// whose own database has none of them, serves every one.
#[tokio::test]
async fn bookings_of_one_rush_are_patched_into_the_shared_map_in_any_order() {
    let Some(url) = redis_url() else { return };
    let deployment = Deployment::new(&url);
    let (a, b) = (deployment.instance().await, deployment.instance().await);
    let concert = on_sale(&a, "Alpha").await;
    on_sale(&b, "Beta").await;
    let seats = format!("/api/v1/concerts/{concert}/seats");
    a.get(&seats, None).await.assert_status(200);
    let mut fans = Vec::new();
    for i in 0..10 {
        fans.push(a.fan(&format!("fan-{i}")).await.1);
    }
    // Thirty bookings at once share group-commit batches.
    let a = &a;
    let bookings = fans.iter().enumerate().flat_map(|(i, fan)| {
        ["A", "B", "C"].into_iter().map(move |row| async move {
            a.post(&reservations(concert), &seat(row, i as i64 + 1), Some(fan)).await.assert_status(201);
        })
    });
    futures_util::future::join_all(bookings).await;
    let map = b.get(&seats, None).await;
    assert_eq!(reserved(&map.body).len(), 30, "every booking is on the shared map: {}", map.text);
    assert_eq!(a.get(&seats, None).await.body, map.body);
}

#[tokio::test]
async fn with_redis_gone_requests_needing_it_fail_fast_and_the_service_recovers_when_it_returns() {
    if redis_url().is_none() {
        return;
    }
    let mut redis = RedisServer::start().await;
    let app = Deployment::new(&redis.url()).instance().await;
    let concert = on_sale(&app, "Live").await;
    let (_, fan) = app.fan("fan").await;
    let logged_out = app.login("fan", crate::helpers::PASSWORD).await;
    app.post(&reservations(concert), &seat("A", 1), Some(&fan)).await.assert_status(201);
    app.post("/api/v1/users/logout", &json!({}), Some(&logged_out.access)).await.assert_status(204);

    redis.kill();
    let started = Instant::now();
    let booking = app.post(&reservations(concert), &seat("A", 2), Some(&fan)).await;
    booking.assert_error(503, "SERVICE_UNAVAILABLE");
    app.get("/api/v1/users/my", Some(&fan)).await.assert_error(503, "SERVICE_UNAVAILABLE");
    // Both answered at once (well under a second here), not after a hanging wait.
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
    let ready = app.get("/ready", None).await;
    ready.assert_status(503);
    assert!(ready.body["redis"].as_str().unwrap().contains("unavailable"), "{}", ready.text);
    // The database itself is fine, whichever backend the suite runs on.
    assert!(matches!(ready.body["database"].as_str(), Some("sqlite" | "postgres")), "{}", ready.text);
    app.get("/health", None).await.assert_status(200);
    assert!(app.get("/metrics", None).await.text.contains("redis_unavailable_total"));
    // Public reads do not need Redis: they go to the database.
    app.get(&format!("/api/v1/concerts/{concert}/seats"), None).await.assert_status(200);

    // Back, empty: same service, no restart.
    redis.restart().await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while app.get("/ready", None).await.status != 200 {
        assert!(Instant::now() < deadline, "the service did not recover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.get("/ready", None).await.body["redis"], format!("redis 127.0.0.1:{}", redis.port));
    // Revocations and the gate were reloaded from the database.
    app.get("/api/v1/users/my", Some(&logged_out.access)).await.assert_error(401, "TOKEN_INVALID");
    let (_, other) = app.fan("other").await;
    app.post(&reservations(concert), &seat("A", 1), Some(&other)).await.assert_error(409, "SEAT_TAKEN");
    app.post(&reservations(concert), &seat("A", 2), Some(&fan)).await.assert_status(201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flushing_redis_in_the_middle_of_a_rush_sells_no_seat_twice() {
    if redis_url().is_none() {
        return;
    }
    let redis = RedisServer::start().await;
    let app = Deployment::new(&redis.url()).instance().await;
    let concert = on_sale(&app, "Live").await;
    let tokens = rush::fans(&app, "rusher", 24).await;
    // Every fan wants every seat of row A, each starting elsewhere: all ten are fought over.
    let orders: Vec<(String, Value)> = tokens
        .iter()
        .enumerate()
        .flat_map(|(i, token)| (0..10).map(move |k| (token.clone(), seat("A", (i as i64 + k) % 10 + 1))))
        .collect();
    let rushing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let still_rushing = rushing.clone();
    let flusher = tokio::spawn(async move {
        // A few flushes, each of which every instance must notice and recover from.
        let mut flushes = 0;
        while flushes < 3 && still_rushing.load(std::sync::atomic::Ordering::Acquire) {
            redis.command("FLUSHALL").await.expect("flush");
            flushes += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        (redis, flushes)
    });
    let answers = rush::book_all(&app, concert, orders).await;
    rushing.store(false, std::sync::atomic::Ordering::Release);
    let (_redis, flushes) = flusher.await.unwrap();
    assert!(flushes >= 2, "Redis was flushed during the rush, {flushes} times");

    let won: Vec<&Value> = answers.iter().filter(|(s, _)| *s == 201).map(|(_, b)| b).collect();
    assert!(answers.iter().all(|(s, _)| *s == 201 || *s == 409), "answers: {answers:?}");
    let mut seats: Vec<i64> = won.iter().map(|b| b["data"]["seatId"].as_i64().unwrap()).collect();
    seats.sort_unstable();
    seats.dedup();
    assert_eq!(seats.len(), won.len(), "a seat was confirmed twice: {won:?}");
    assert_eq!(won.len(), 10, "every seat of row A is sold once");
    assert_eq!(rush::active(&app, concert).await.len(), 10);
    // The gate, rebuilt from the database after the flushes, refuses every sold seat.
    let (_, late) = app.fan("late").await;
    for vertical in 1..=10 {
        app.post(&reservations(concert), &seat("A", vertical), Some(&late))
            .await
            .assert_error(409, "SEAT_TAKEN");
    }
}

#[tokio::test]
async fn news_arriving_out_of_order_never_makes_the_shared_gate_refuse_a_free_seat() {
    use tickitecking::domain::booking::SeatRef;
    use tickitecking::domain::sections::RowLabel;
    use tickitecking::domain::venue::SeatStatus;
    use tickitecking::gate::{RedisGate, SeatGate};

    let Some(url) = redis_url() else { return };
    let dir = tempfile::tempdir().unwrap();
    let database = tickitecking::store::DatabaseUrl::parse(None, dir.path()).unwrap();
    let store = tickitecking::store::open(&database).await.unwrap();
    let deployment = Deployment::new(&url);
    let redis = tickitecking::shared_state::SharedState::connect(&url, &deployment.key_prefix).await.unwrap();
    let (one, other) = (RedisGate::new(redis.clone(), store.clone()), RedisGate::new(redis, store));
    // Concert 7's gate as if loaded with every seat free, without needing it in a database.
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let key = format!("{}gate:7", deployment.key_prefix);
    redis::cmd("HSET").arg(&key).arg("loaded").arg("1").query_async::<()>(&mut connection).await.unwrap();
    let a1 = SeatRef::seed(RowLabel::parse("A").unwrap(), 1);

    // Freed at version 7 by one instance; the other's news of version 6 comes late.
    one.record(7, 7, &[(a1, SeatStatus::Available)]).await.unwrap();
    other.record(7, 6, &[(a1, SeatStatus::Reserved)]).await.unwrap();
    assert!(one.refused(7, &[a1]).await.unwrap().is_empty());
    assert!(other.refused(7, &[a1]).await.unwrap().is_empty());
    other.record(7, 8, &[(a1, SeatStatus::Locked)]).await.unwrap();
    assert_eq!(one.refused(7, &[a1]).await.unwrap(), [(a1, SeatStatus::Locked)]);

    // Forgotten: reloaded from the database, which has no such concert and so refuses nothing.
    one.forget(Some(7)).await.unwrap();
    assert!(other.refused(7, &[a1]).await.unwrap().is_empty());
}
