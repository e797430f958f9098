//! `kill -9` of the real binary in the middle of an on-sale: a booking rush (killed right
//! after the last answer, and mid-rush), clients retrying with their `Idempotency-Key`
//! after the crash, and cancellations; payments taken from the provider's webhook;
//! admissions at the door. Nothing the API confirmed is lost, nothing is doubled, and the
//! seat map agrees with the reservations afterwards. On SQLite, or on PostgreSQL when
//! `TICKITECKING_TEST_POSTGRES_URL` is set (the server is not killed: the service is, and
//! PostgreSQL must hold what it confirmed).

use std::collections::{HashMap, HashSet};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use tokio::sync::mpsc;

#[path = "backend/mod.rs"]
mod backend;

const ADMIN_PASSWORD: &str = "Admin#Pass1";
const PASSWORD: &str = "Secret#2026";
const LIMIT: usize = 4;

/// The server process, killed with SIGKILL when dropped so a failing test leaves none.
struct Server {
    child: Child,
    api: Api,
}

impl Server {
    /// Starts the binary on a free port over `data_dir` and waits until `/health` answers.
    async fn start(data_dir: &Path) -> Self {
        Self::start_with(data_dir, &[]).await
    }

    /// [`Server::start`] with more environment variables.
    async fn start_with(data_dir: &Path, env: &[(&str, &str)]) -> Self {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        // On PostgreSQL the data dir remembers its database, so a restart finds the same data.
        let database = backend::postgres_url_for(data_dir).await;
        let child = Command::new(env!("CARGO_BIN_EXE_tickitecking"))
            .args(["serve", "--bind", &format!("127.0.0.1:{port}"), "--data-dir"])
            .arg(data_dir)
            .args(database.iter().flat_map(|url| ["--database-url", url.as_str()]))
            .env("ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("RUST_LOG", "warn")
            // A rush of hundreds of fans from one address, on purpose.
            .env("RATE_LIMIT_LOGIN_ADDRESS", "off")
            .env("RATE_LIMIT_SIGNUP", "off")
            .env("RATE_LIMIT_BOOKING", "off")
            .env_remove("DATABASE_URL")
            .env_remove("DATABASE_REPLICA_URL")
            .env_remove("REDIS_URL")
            .env_remove("IMAGE_STORE")
            .env_remove("ADMIN_USERNAME")
            .env_remove("PAYMENT_PROVIDER")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .spawn()
            .expect("start the binary");
        let mut server = Self { child, api: Api::new(format!("http://127.0.0.1:{port}")) };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let health = server.api.client.get(format!("{}/health", server.api.base)).send().await;
            if health.is_ok_and(|r| r.status().is_success()) {
                return server;
            }
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!("the server exited at start: {status}");
            }
            assert!(Instant::now() < deadline, "the server did not answer /health within 30 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `kill -9`: no graceful shutdown, no chance to flush anything.
    fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client of one server.
#[derive(Clone)]
struct Api {
    client: reqwest::Client,
    base: String,
}

impl Api {
    fn new(base: String) -> Self {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
        Self { client, base }
    }

    /// One request; `Err` when no answer came (the server died meanwhile).
    async fn try_call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        key: Option<&str>,
        body: Option<&Value>,
    ) -> reqwest::Result<(u16, Value)> {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (u16, Value) {
        self.try_call(method, path, token, None, body).await.expect("an answer")
    }

    async fn login(&self, path: &str, username: &str, password: &str) -> String {
        let (status, body) = self
            .call(Method::POST, path, None, Some(&json!({"username": username, "password": password})))
            .await;
        assert_eq!(status, 200, "{body}");
        body["data"]["accessToken"].as_str().unwrap().to_owned()
    }

    async fn signup(&self, username: &str) -> i64 {
        let body =
            json!({"username": username, "password": PASSWORD, "email": format!("{username}@example.com")});
        let (status, body) = self.call(Method::POST, "/api/v1/users/signup", None, Some(&body)).await;
        assert_eq!(status, 201, "{body}");
        body["data"]["id"].as_i64().unwrap()
    }

    async fn admin(&self) -> String {
        self.login("/api/v1/admin/login", "admin", ADMIN_PASSWORD).await
    }
}

/// A promoter's hall (rows A–E × 10) with one concert of `maxSeatsPerFan` [`LIMIT`] on
/// every row, and `fans` fans signed up in parallel: `(concert id, fan tokens)`.
async fn stage(api: &Api, fans: usize) -> (i64, Vec<String>) {
    let admin = api.admin().await;
    let promoter = api.signup("crash-promoter").await;
    let role =
        json!({"username": "crash-promoter", "email": "crash-promoter@example.com", "role": "COMPANY_USER"});
    let (status, body) =
        api.call(Method::PUT, &format!("/api/v1/admin/users/{promoter}"), Some(&admin), Some(&role)).await;
    assert_eq!(status, 200, "{body}");
    let promoter = api.login("/api/v1/users/login", "crash-promoter", PASSWORD).await;
    let hall = json!({"name": "Crash Hall", "address": "Seoul", "maxRow": "E", "maxColumn": 10});
    let (status, hall) = api.call(Method::POST, "/api/v1/auditoriums", Some(&promoter), Some(&hall)).await;
    assert_eq!(status, 201, "{hall}");
    let concert = json!({
        "name": "Crash Live", "description": "", "startTime": "2099-01-01T19:00:00Z",
        "auditoriumId": hall["data"]["id"], "maxSeatsPerFan": LIMIT,
        "seatPrices": [{"grade": "R", "price": 100}],
        "seatList": [{"horizontals": ["A", "B", "C", "D", "E"], "grade": "R"}],
    });
    let (status, concert) = api.call(Method::POST, "/api/v1/concerts", Some(&promoter), Some(&concert)).await;
    assert_eq!(status, 201, "{concert}");
    let tasks: Vec<_> = (0..fans)
        .map(|i| {
            let api = api.clone();
            tokio::spawn(async move {
                let name = format!("crashfan{i}");
                api.signup(&name).await;
                api.login("/api/v1/users/login", &name, PASSWORD).await
            })
        })
        .collect();
    let mut tokens = Vec::new();
    for task in tasks {
        tokens.push(task.await.unwrap());
    }
    (concert["data"]["id"].as_i64().unwrap(), tokens)
}

fn seat(n: usize) -> Value {
    json!({"horizontal": char::from(b'A' + (n / 10 % 5) as u8).to_string(), "vertical": n % 10 + 1})
}

/// The reservation ids of a 201 answer, single or list form.
fn reservation_ids(body: &Value) -> Vec<i64> {
    match body["data"]["reservations"].as_array() {
        Some(list) => list.iter().map(|r| r["id"].as_i64().unwrap()).collect(),
        None => vec![body["data"]["id"].as_i64().expect("a reservation id")],
    }
}

/// One reservation of the concert as the admin list shows it.
#[derive(Debug, Clone)]
struct Held {
    user: i64,
    seat: i64,
    position: (String, usize),
    active: bool,
    cancelled_time: Value,
}

/// Every reservation of the concert by id, and the seat map's `R` positions.
async fn state(api: &Api, concert: i64) -> (HashMap<i64, Held>, HashSet<(String, usize)>) {
    let admin = api.admin().await;
    let (status, list) = api.call(Method::GET, "/api/v1/admin/reservations", Some(&admin), None).await;
    assert_eq!(status, 200, "{list}");
    let reservations = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["concert"]["id"] == concert)
        .map(|r| {
            let position = (
                r["seat"]["horizontal"].as_str().unwrap().to_owned(),
                r["seat"]["vertical"].as_u64().unwrap() as usize,
            );
            let held = Held {
                user: r["user"]["id"].as_i64().unwrap(),
                seat: r["seat"]["id"].as_i64().unwrap(),
                position,
                active: r["status"] == "Y",
                cancelled_time: r["cancelledTime"].clone(),
            };
            (r["id"].as_i64().unwrap(), held)
        })
        .collect();
    let (status, map) = api.call(Method::GET, &format!("/api/v1/concerts/{concert}/seats"), None, None).await;
    assert_eq!(status, 200, "{map}");
    let mut reserved = HashSet::new();
    for row in map["data"]["rows"].as_array().unwrap() {
        let h = row["horizontal"].as_str().unwrap();
        for (i, c) in row["statuses"].as_str().unwrap().chars().enumerate() {
            if c == 'R' {
                reserved.insert((h.to_owned(), i + 1));
            }
        }
    }
    (reservations, reserved)
}

/// Invariants 1 and 2 and the per-fan limit: no seat twice, `R` on the map exactly at the
/// actively reserved seats, nobody over the limit. Returns the active reservation ids.
fn assert_invariants(reservations: &HashMap<i64, Held>, reserved: &HashSet<(String, usize)>) -> HashSet<i64> {
    let active: Vec<(&i64, &Held)> = reservations.iter().filter(|(_, r)| r.active).collect();
    let seats: HashSet<i64> = active.iter().map(|(_, r)| r.seat).collect();
    assert_eq!(seats.len(), active.len(), "a seat has two active reservations");
    let positions: HashSet<(String, usize)> = active.iter().map(|(_, r)| r.position.clone()).collect();
    assert_eq!(&positions, reserved, "the map's R are exactly the actively reserved seats");
    let mut per_fan: HashMap<i64, usize> = HashMap::new();
    for (_, r) in &active {
        *per_fan.entry(r.user).or_default() += 1;
    }
    assert!(per_fan.values().all(|n| *n <= LIMIT), "a fan holds more than {LIMIT}: {per_fan:?}");
    active.iter().map(|(id, _)| **id).collect()
}

/// Order `i`: a single seat or a pair, most of them on seats other orders want too.
fn order(i: usize) -> Value {
    if i.is_multiple_of(3) { json!({"seats": [seat(i % 37), seat(i % 37 + 1)]}) } else { seat(i % 41) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retrying_with_idempotency_keys_after_a_kill_9_mid_rush_neither_loses_nor_doubles_a_booking() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let (concert, tokens) = stage(&server.api, 30).await;
    let path = format!("/api/v1/concerts/{concert}/reservations");
    let orders = 120;
    let (tx, mut answers) = mpsc::unbounded_channel();
    let tasks: Vec<_> = (0..orders)
        .map(|i| {
            let (api, tx, token, path) =
                (server.api.clone(), tx.clone(), tokens[i % tokens.len()].clone(), path.clone());
            tokio::spawn(async move {
                let key = format!("order-{i}");
                if let Ok(answer) =
                    api.try_call(Method::POST, &path, Some(&token), Some(&key), Some(&order(i))).await
                {
                    let _ = tx.send((i, answer));
                }
            })
        })
        .collect();
    drop(tx);
    // Kill right after the tenth confirmation, with later requests still in flight: some
    // of those may commit unanswered.
    let mut before: HashMap<usize, (u16, Value)> = HashMap::new();
    while before.values().filter(|(status, _)| *status == 201).count() < 10 {
        let Some((i, answer)) = answers.recv().await else { break };
        before.insert(i, answer);
    }
    server.kill();
    for task in tasks {
        task.await.unwrap();
    }
    // Answers read before the kill took effect count as confirmed too.
    while let Ok((i, answer)) = answers.try_recv() {
        before.insert(i, answer);
    }
    let confirmed: HashMap<usize, Value> = before
        .iter()
        .filter(|(_, (status, _))| *status == 201)
        .map(|(i, (_, body))| (*i, body.clone()))
        .collect();
    assert!(confirmed.len() >= 10, "ten bookings were confirmed before the kill: {before:?}");

    let server = Server::start(dir.path()).await;
    let (reservations, reserved) = state(&server.api, concert).await;
    let survived = assert_invariants(&reservations, &reserved);
    for (i, body) in &confirmed {
        for id in reservation_ids(body) {
            assert!(survived.contains(&id), "order {i}: confirmed reservation {id} lost");
        }
    }
    // Every client retries with its key, whatever it heard before.
    let retries: Vec<_> = (0..orders)
        .map(|i| {
            let (api, token, path) = (server.api.clone(), tokens[i % tokens.len()].clone(), path.clone());
            tokio::spawn(async move {
                let key = format!("order-{i}");
                api.try_call(Method::POST, &path, Some(&token), Some(&key), Some(&order(i)))
                    .await
                    .expect("an answer")
            })
        })
        .collect();
    let mut answered = HashSet::new();
    for (i, retry) in retries.into_iter().enumerate() {
        let (status, body) = retry.await.unwrap();
        if let Some(first) = confirmed.get(&i) {
            assert_eq!((status, &body), (201, first), "order {i}: a retry answers the confirmed booking");
        }
        match status {
            201 => answered.extend(reservation_ids(&body)),
            409 => assert!(
                ["SEAT_TAKEN", "SEAT_LIMIT"].contains(&body["code"].as_str().unwrap_or_default()),
                "order {i}: {body}"
            ),
            _ => panic!("order {i}: {status} {body}"),
        }
    }
    let (reservations, reserved) = state(&server.api, concert).await;
    let active = assert_invariants(&reservations, &reserved);
    assert_eq!(active, answered, "exactly the bookings some answer confirmed, each once");
    assert!(survived.is_subset(&active), "a retry never undoes a booking");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirmed_cancellations_and_rebookings_survive_a_kill_9_after_the_last_answer() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let (concert, tokens) = stage(&server.api, 30).await;
    let path = format!("/api/v1/concerts/{concert}/reservations");
    // Fans 0–19 hold two seats each, rows A–D.
    let mut holdings: Vec<(usize, Vec<i64>)> = Vec::new();
    for (f, token) in tokens.iter().enumerate().take(20) {
        let pair = json!({"seats": [seat(2 * f), seat(2 * f + 1)]});
        let (status, body) = server.api.call(Method::POST, &path, Some(token), Some(&pair)).await;
        assert_eq!(status, 201, "{body}");
        holdings.push((f, reservation_ids(&body)));
    }
    // At once: each holder gives back their first seat (fans 0–4 twice over); fans 20–29
    // go for the seats being given back and fight over pairs in row E.
    enum Job {
        Cancel(i64),
        Book,
    }
    let mut jobs: Vec<(String, Method, String, Option<Value>, Job)> = Vec::new();
    for (f, ids) in &holdings {
        let cancel = format!("{path}/{}", ids[0]);
        for _ in 0..if *f < 5 { 2 } else { 1 } {
            jobs.push((tokens[*f].clone(), Method::DELETE, cancel.clone(), None, Job::Cancel(ids[0])));
        }
    }
    for n in 0..10 {
        let token = &tokens[20 + n];
        for wanted in [seat(2 * n), seat(2 * (n + 10))] {
            jobs.push((token.clone(), Method::POST, path.clone(), Some(wanted), Job::Book));
        }
        let pair = json!({"seats": [seat(40 + n), seat(40 + (n + 1) % 10)]});
        jobs.push((token.clone(), Method::POST, path.clone(), Some(pair), Job::Book));
    }
    let total = jobs.len();
    let (tx, mut answers) = mpsc::unbounded_channel();
    for (token, method, url, body, job) in jobs {
        let (api, tx) = (server.api.clone(), tx.clone());
        tokio::spawn(async move {
            let answer = api.try_call(method, &url, Some(&token), None, body.as_ref()).await;
            let _ = tx.send((job, answer));
        });
    }
    drop(tx);
    let mut cancelled: HashMap<i64, Value> = HashMap::new();
    let mut booked = HashSet::new();
    for _ in 0..total {
        let (job, answer) = answers.recv().await.unwrap();
        let (status, body) = answer.expect("every request answered before the kill");
        match (job, status) {
            (Job::Cancel(id), 200) => {
                assert_eq!(
                    (body["data"]["id"].as_i64(), body["data"]["status"].as_str()),
                    (Some(id), Some("N"))
                );
                if let Some(first) = cancelled.insert(id, body["data"]["cancelledAt"].clone()) {
                    assert_eq!(first, body["data"]["cancelledAt"], "cancelling twice answers the same");
                }
            }
            (Job::Book, 201) => booked.extend(reservation_ids(&body)),
            (Job::Book, 409) => assert_eq!(body["code"], "SEAT_TAKEN", "{body}"),
            (_, status) => panic!("unexpected {status}: {body}"),
        }
    }
    server.kill();
    assert_eq!(cancelled.len(), 20, "every holder's cancellation was confirmed");
    assert!(!booked.is_empty());

    let server = Server::start(dir.path()).await;
    let (reservations, reserved) = state(&server.api, concert).await;
    let active = assert_invariants(&reservations, &reserved);
    for (id, cancelled_at) in &cancelled {
        let r = &reservations[id];
        assert!(!r.active, "confirmed cancellation {id} undone by the crash");
        assert_eq!(&r.cancelled_time, cancelled_at, "{id} keeps the time it was cancelled at");
    }
    let kept: HashSet<i64> = holdings.iter().map(|(_, ids)| ids[1]).collect();
    let expected: HashSet<i64> = kept.union(&booked).copied().collect();
    assert_eq!(active, expected, "exactly the kept seats and the confirmed new bookings are held");
    assert_eq!(reservations.len(), 40 + booked.len(), "nothing unconfirmed was written");

    // The restarted service books by the recovered state: a held seat is refused, a free
    // one is granted.
    let newcomer = {
        server.api.signup("after-crash").await;
        server.api.login("/api/v1/users/login", "after-crash", PASSWORD).await
    };
    let held = reservations.values().find(|r| r.active).unwrap();
    let held_seat = json!({"horizontal": held.position.0, "vertical": held.position.1});
    let (status, body) = server.api.call(Method::POST, &path, Some(&newcomer), Some(&held_seat)).await;
    assert_eq!((status, body["code"].as_str()), (409, Some("SEAT_TAKEN")), "{body}");
    let free = (0..50).map(seat).find(|s| {
        let position =
            (s["horizontal"].as_str().unwrap().to_owned(), s["vertical"].as_u64().unwrap() as usize);
        !reserved.contains(&position)
    });
    let free = free.expect("a seat left free");
    let (status, body) = server.api.call(Method::POST, &path, Some(&newcomer), Some(&free)).await;
    assert_eq!(status, 201, "{body}");
}

/// Fires `orders` bookings at once (fan `i % fans`, [`order`] `i`, no idempotency key);
/// the receiver gets the reservation ids of each answer (empty unless 201) as they arrive.
fn rush(api: &Api, concert: i64, tokens: &[String], orders: usize) -> mpsc::UnboundedReceiver<Vec<i64>> {
    let (tx, rx) = mpsc::unbounded_channel();
    for i in 0..orders {
        let (api, tx, token) = (api.clone(), tx.clone(), tokens[i % tokens.len()].clone());
        tokio::spawn(async move {
            let path = format!("/api/v1/concerts/{concert}/reservations");
            let answer = api.try_call(Method::POST, &path, Some(&token), None, Some(&order(i))).await;
            let ids = match answer {
                Ok((201, body)) => reservation_ids(&body),
                _ => Vec::new(),
            };
            let _ = tx.send(ids);
        });
    }
    rx
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_confirmed_booking_and_nothing_else_survives_kill_9_after_the_last_answer() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let (concert, tokens) = stage(&server.api, 30).await;
    let orders = 120;
    let mut answers = rush(&server.api, concert, &tokens, orders);
    let mut confirmed = HashSet::new();
    for _ in 0..orders {
        confirmed.extend(answers.recv().await.unwrap());
    }
    server.kill();
    assert!(!confirmed.is_empty());
    let server = Server::start(dir.path()).await;
    let (reservations, reserved) = state(&server.api, concert).await;
    let active = assert_invariants(&reservations, &reserved);
    assert_eq!(active, confirmed, "exactly the confirmed bookings survive");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirmations_received_before_a_kill_9_mid_rush_all_survive() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let (concert, tokens) = stage(&server.api, 30).await;
    let mut answers = rush(&server.api, concert, &tokens, 120);
    let mut confirmed = HashSet::new();
    for _ in 0..30 {
        confirmed.extend(answers.recv().await.unwrap());
    }
    // Requests are still in flight: some may commit unanswered, none confirmed may vanish.
    server.kill();
    let server = Server::start(dir.path()).await;
    let (reservations, reserved) = state(&server.api, concert).await;
    let active = assert_invariants(&reservations, &reserved);
    assert!(confirmed.is_subset(&active), "lost: {:?}", confirmed.difference(&active).collect::<Vec<_>>());
}

/// The Stripe settings of the payment crash test: its webhooks are signed here; no call
/// reaches Stripe (nothing is refunded), so the API address leads nowhere.
const STRIPE: [(&str, &str); 4] = [
    ("PAYMENT_PROVIDER", "stripe"),
    ("STRIPE_SECRET_KEY", "sk_test_crash"),
    ("STRIPE_WEBHOOK_SECRET", "whsec_crash"),
    ("STRIPE_API_BASE", "http://127.0.0.1:9"),
];

/// A `checkout.session.completed` event for `order` (`amount` cents of EUR), signed now as
/// Stripe signs: `(body, Stripe-Signature)`.
fn signed_payment(order: i64, amount: i64) -> (String, String) {
    use hmac::{Hmac, Mac};
    let body = json!({
        "id": format!("evt_crash_{order}"), "object": "event", "type": "checkout.session.completed",
        "created": chrono::Utc::now().timestamp(), "livemode": false,
        "data": {"object": {
            "id": format!("cs_test_crash_{order}"), "object": "checkout.session",
            "client_reference_id": order.to_string(), "metadata": {"order_id": order.to_string()},
            "amount_total": amount, "currency": "eur", "payment_intent": format!("pi_crash_{order}"),
            "payment_status": "paid", "status": "complete",
        }},
    })
    .to_string();
    let t = chrono::Utc::now().timestamp();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"whsec_crash").unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    let signature: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    (body, format!("t={t},v1={signature}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_answered_paid_to_the_providers_webhook_is_paid_after_a_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), &STRIPE).await;
    let api = &server.api;
    let admin = api.admin().await;
    let promoter = api.signup("pay-promoter").await;
    let role =
        json!({"username": "pay-promoter", "email": "pay-promoter@example.com", "role": "COMPANY_USER"});
    let (status, _) =
        api.call(Method::PUT, &format!("/api/v1/admin/users/{promoter}"), Some(&admin), Some(&role)).await;
    assert_eq!(status, 200);
    let promoter = api.login("/api/v1/users/login", "pay-promoter", PASSWORD).await;
    let hall = json!({"name": "Pay Hall", "address": "Seoul", "maxRow": "B", "maxColumn": 10});
    let (_, hall) = api.call(Method::POST, "/api/v1/auditoriums", Some(&promoter), Some(&hall)).await;
    let concert = json!({
        "name": "Pay Live", "startTime": "2099-01-01T19:00:00Z", "auditoriumId": hall["data"]["id"],
        "checkout": "PAYMENT", "currency": "EUR",
        "seatPrices": [{"grade": "R", "price": 10}], "seatList": [{"horizontals": ["A", "B"], "grade": "R"}],
    });
    let (status, concert) = api.call(Method::POST, "/api/v1/concerts", Some(&promoter), Some(&concert)).await;
    assert_eq!(status, 201, "{concert}");
    let path = format!("/api/v1/concerts/{}/reservations", concert["data"]["id"]);
    let mut orders = Vec::new();
    for n in 0..20 {
        let name = format!("payfan{n}");
        api.signup(&name).await;
        let token = api.login("/api/v1/users/login", &name, PASSWORD).await;
        let (status, held) = api.call(Method::POST, &path, Some(&token), Some(&seat(n))).await;
        assert_eq!(status, 201, "{held}");
        orders.push(held["data"]["orderId"].as_i64().unwrap());
    }
    // Every payment's webhook at once; the service is killed the instant the last is answered.
    let deliveries: Vec<_> = orders
        .iter()
        .map(|&order| {
            let (client, url) = (api.client.clone(), format!("{}/api/v1/payments/stripe/webhook", api.base));
            let (body, signature) = signed_payment(order, 1000);
            tokio::spawn(async move {
                let answer = client
                    .post(url)
                    .header("content-type", "application/json")
                    .header("Stripe-Signature", signature)
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                answer.status().as_u16()
            })
        })
        .collect();
    for delivery in deliveries {
        assert_eq!(delivery.await.unwrap(), 200);
    }
    server.kill();

    let server = Server::start_with(dir.path(), &STRIPE).await;
    let admin = server.api.admin().await;
    for order in orders {
        let (status, body) =
            server.api.call(Method::GET, &format!("/api/v1/orders/{order}"), Some(&admin), None).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"]["status"], "PAID", "order {order} answered PAID before the kill");
        assert!(body["data"]["reservations"].as_array().unwrap().iter().all(|r| r["status"] == "Y"));
    }
}

/// A door token of `concert`, made by the stage's promoter.
async fn door_token(api: &Api, concert: i64) -> String {
    let promoter = api.login("/api/v1/users/login", "crash-promoter", PASSWORD).await;
    let (status, body) = api
        .call(
            Method::POST,
            &format!("/api/v1/concerts/{concert}/checkin/tokens"),
            Some(&promoter),
            Some(&json!({"name": "crash gate"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["data"]["token"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_ticket_answered_admitted_is_still_admitted_after_a_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let (concert, fans) = stage(&server.api, 10).await;
    let path = format!("/api/v1/concerts/{concert}/reservations");
    // Ten fans hold four seats each: 40 tickets, each with its code.
    let mut codes = Vec::new();
    for (f, fan) in fans.iter().enumerate() {
        let four = json!({"seats": (4 * f..4 * f + 4).map(seat).collect::<Vec<_>>()});
        let (status, body) = server.api.call(Method::POST, &path, Some(fan), Some(&four)).await;
        assert_eq!(status, 201, "{body}");
        let (status, mine) = server.api.call(Method::GET, "/api/v1/users/my/tickets", Some(fan), None).await;
        assert_eq!(status, 200, "{mine}");
        for ticket in mine["data"].as_array().unwrap() {
            codes.push((ticket["id"].as_i64().unwrap(), ticket["code"].as_str().unwrap().to_owned()));
        }
    }
    assert_eq!(codes.len(), 40);
    let door = door_token(&server.api, concert).await;
    let checkins = format!("/api/v1/concerts/{concert}/checkins");
    // 30 of them scanned at three gates at once; the service is killed the instant the last
    // is answered.
    let (scanned, unscanned) = codes.split_at(30);
    let scans: Vec<_> = scanned
        .iter()
        .enumerate()
        .map(|(i, (id, code))| {
            let (api, door, checkins, id) = (server.api.clone(), door.clone(), checkins.clone(), *id);
            let body = json!({"code": code, "deviceId": format!("gate-{}", i % 3)});
            tokio::spawn(
                async move { (id, api.call(Method::POST, &checkins, Some(&door), Some(&body)).await) },
            )
        })
        .collect();
    let mut admitted = HashMap::new();
    for scan in scans {
        let (id, (status, body)) = scan.await.unwrap();
        assert_eq!((status, body["data"]["result"].as_str()), (200, Some("ADMITTED")), "{body}");
        assert_eq!(body["data"]["ticket"], id);
        admitted.insert(id, body["data"]["scan"].clone());
    }
    server.kill();

    let server = Server::start(dir.path()).await;
    let door = door_token(&server.api, concert).await;
    let stats = format!("/api/v1/concerts/{concert}/checkin/stats");
    let (status, counted) = server.api.call(Method::GET, &stats, Some(&door), None).await;
    assert_eq!(status, 200, "{counted}");
    assert_eq!(
        (counted["data"]["admitted"].as_i64(), counted["data"]["total"].as_i64()),
        (Some(30), Some(40))
    );
    // Each admission is the one answered before the kill: scanned again, it is refused
    // with that first scan.
    for (id, code) in scanned {
        let (status, again) =
            server.api.call(Method::POST, &checkins, Some(&door), Some(&json!({"code": code}))).await;
        assert_eq!((status, again["code"].as_str()), (409, Some("ALREADY_CHECKED_IN")), "{again}");
        let first = &admitted[id];
        assert_eq!(again["firstScan"]["id"], first["id"], "ticket {id}");
        assert_eq!(again["firstScan"]["deviceId"], first["deviceId"], "ticket {id}");
    }
    // The ten never scanned were not admitted: they go in now.
    for (id, code) in unscanned {
        let (status, body) =
            server.api.call(Method::POST, &checkins, Some(&door), Some(&json!({"code": code}))).await;
        assert_eq!((status, body["data"]["result"].as_str()), (200, Some("ADMITTED")), "ticket {id}: {body}");
    }
    let (_, counted) = server.api.call(Method::GET, &stats, Some(&door), None).await;
    assert_eq!(counted["data"]["admitted"], 40);
}

/// A waiting room on two instances of one deployment (one PostgreSQL database, one
/// Redis): one order for both, one ticker; when the ticking instance is killed with
/// `kill -9`, the other takes over within seconds. PostgreSQL pass only (two processes
/// cannot share an embedded database), and it needs Redis for the shared line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_ticking_instance_is_killed_another_lets_the_room_in() {
    if backend::postgres_server().is_none() {
        eprintln!("NOTE: needs PostgreSQL: runs in scripts/test's PostgreSQL pass");
        return;
    }
    let Ok(redis) = std::env::var("TICKITECKING_TEST_REDIS_URL") else {
        assert!(std::env::var_os("TEST_RUN_DIR").is_none(), "scripts/test sets TICKITECKING_TEST_REDIS_URL");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let prefix = format!("crash-{}:", uuid::Uuid::new_v4().simple());
    let env = [("REDIS_URL", redis.as_str()), ("REDIS_KEY_PREFIX", prefix.as_str())];
    // The first instance ticks a few times alone, so it holds the ticker's lease.
    let first = Server::start_with(dir.path(), &env).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let second = Server::start_with(dir.path(), &env).await;
    let (concert, _) = stage(&first.api, 0).await;
    let promoter = first.api.login("/api/v1/users/login", "crash-promoter", PASSWORD).await;
    // The stage's concert gets a room: sales open in 4 s, two fans a second.
    let (status, mut detail) =
        first.api.call(Method::GET, &format!("/api/v1/concerts/{concert}"), None, None).await;
    assert_eq!(status, 200);
    let now = chrono::Utc::now();
    let opens = now + chrono::Duration::seconds(4);
    let update = json!({
        "name": detail["data"]["name"], "startTime": detail["data"]["startTime"],
        "auditoriumId": detail["data"]["auditoriumId"], "maxSeatsPerFan": LIMIT,
        "seatPrices": [{"grade": "R", "price": 100}],
        "seatList": [{"horizontals": ["A", "B", "C", "D", "E"], "grade": "R"}],
        "salesOpenAt": opens.to_rfc3339(),
        "waitingRoom": {"opensAt": (now - chrono::Duration::minutes(1)).to_rfc3339(), "admitPerMinute": 120, "passMinutes": 5},
    });
    let (status, body) = first
        .api
        .call(Method::PUT, &format!("/api/v1/concerts/{concert}"), Some(&promoter), Some(&update))
        .await;
    assert_eq!(status, 200, "{body}");
    detail = body;
    assert_eq!(detail["data"]["waitingRoom"]["admitPerMinute"], 120);
    // 40 fans join, every other one through the second instance: one line for both.
    let mut tokens = Vec::new();
    for i in 0..40 {
        let api = if i % 2 == 0 { &first.api } else { &second.api };
        let name = format!("roomfan{i}");
        api.signup(&name).await;
        let token = api.login("/api/v1/users/login", &name, PASSWORD).await;
        let (status, body) =
            api.call(Method::POST, &format!("/api/v1/concerts/{concert}/queue"), Some(&token), None).await;
        assert_eq!(status, 201, "{body}");
        tokens.push(token);
    }
    let room = format!("/api/v1/concerts/{concert}/queue");
    let admitted = |api: Api| {
        let (room, promoter) = (room.clone(), promoter.clone());
        async move {
            let (status, body) = api.call(Method::GET, &room, Some(&promoter), None).await;
            assert_eq!(status, 200, "{body}");
            body["data"]["admitted"].as_u64().unwrap()
        }
    };
    // Both instances give every fan one position, the same through either.
    while chrono::Utc::now() < opens + chrono::Duration::milliseconds(200) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut positions = HashSet::new();
    for token in &tokens {
        let path = format!("{room}/me");
        let (_, a) = first.api.call(Method::GET, &path, Some(token), None).await;
        let (_, b) = second.api.call(Method::GET, &path, Some(token), None).await;
        assert_eq!(a["data"]["joinedAt"], b["data"]["joinedAt"]);
        if a["data"]["state"] == "WAITING" && a["data"]["position"] == b["data"]["position"] {
            positions.insert(a["data"]["position"].as_u64().unwrap());
        }
    }
    assert!(positions.len() >= 30, "distinct positions: {positions:?}");
    // One ticker: two fans a second, not four.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let elapsed = (chrono::Utc::now() - opens).num_milliseconds() as f64 / 1000.0;
    let before_kill = admitted(first.api.clone()).await;
    assert!(before_kill >= 2 && (before_kill as f64) <= 2.0 * elapsed + 2.0, "{before_kill} in {elapsed} s");
    first.kill();
    // The other instance takes the lease over when it runs out (5 s) and goes on.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let now = admitted(second.api.clone()).await;
        if now >= before_kill + 2 {
            break;
        }
        assert!(Instant::now() < deadline, "no fan let in since the kill: {now}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
