//! Crash tests on the real binary: every booking the API confirmed survives `kill -9`
//! of the server the instant after the answer, and nothing unconfirmed appears.

use std::collections::{HashMap, HashSet};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const ADMIN_PASSWORD: &str = "Admin#Pass1";
const PASSWORD: &str = "Secret#2026";

/// The server process; killed with SIGKILL when dropped, so a failing test leaves none.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    async fn start(data_dir: &Path) -> Self {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(env!("CARGO_BIN_EXE_tickitecking"))
            .args(["serve", "--bind", &format!("127.0.0.1:{port}"), "--data-dir"])
            .arg(data_dir)
            .env("ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("start the binary");
        let server = Self { child, base: format!("http://127.0.0.1:{port}") };
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = reqwest::Client::new();
        while client.get(format!("{}/health", server.base)).send().await.is_err() {
            assert!(Instant::now() < deadline, "the server did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        server
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

async fn call(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = client.request(method, url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("answer");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn login(client: &reqwest::Client, base: &str, path: &str, username: &str, password: &str) -> String {
    let (status, body) = call(
        client,
        reqwest::Method::POST,
        format!("{base}{path}"),
        None,
        Some(json!({"username": username, "password": password})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["data"]["accessToken"].as_str().unwrap().to_owned()
}

/// A concert of rows A–E × 10 seats and `fans` fans: `(concert id, fan tokens)`.
async fn stage(server: &Server, fans: usize) -> (i64, Vec<String>) {
    let (client, base) = (reqwest::Client::new(), server.base.clone());
    let post = reqwest::Method::POST;
    let admin = login(&client, &base, "/api/v1/admin/login", "admin", ADMIN_PASSWORD).await;
    let signup = |name: String| {
        let (client, base) = (client.clone(), base.clone());
        async move {
            let body =
                json!({"username": name, "password": PASSWORD, "email": format!("{name}@example.com")});
            let (status, body) =
                call(&client, reqwest::Method::POST, format!("{base}/api/v1/users/signup"), None, Some(body))
                    .await;
            assert_eq!(status, 201, "{body}");
            body["data"]["id"].as_i64().unwrap()
        }
    };
    let promoter = signup("crash-promoter".into()).await;
    let (status, _) = call(&client, reqwest::Method::PUT, format!("{base}/api/v1/admin/users/{promoter}"), Some(&admin),
        Some(json!({"username": "crash-promoter", "email": "crash-promoter@example.com", "role": "COMPANY_USER"}))).await;
    assert_eq!(status, 200);
    let promoter = login(&client, &base, "/api/v1/users/login", "crash-promoter", PASSWORD).await;
    let (status, hall) = call(
        &client,
        post.clone(),
        format!("{base}/api/v1/auditoriums"),
        Some(&promoter),
        Some(json!({"name": "Crash Hall", "address": "Seoul", "maxRow": "E", "maxColumn": 10})),
    )
    .await;
    assert_eq!(status, 201, "{hall}");
    let (status, concert) = call(
        &client,
        post.clone(),
        format!("{base}/api/v1/concerts"),
        Some(&promoter),
        Some(json!({
            "name": "Crash Live", "description": "", "startTime": "2099-01-01T19:00:00Z",
            "auditoriumId": hall["data"]["id"], "maxSeatsPerFan": 4,
            "seatPrices": [{"grade": "R", "price": 100}],
            "seatList": [{"horizontals": ["A", "B", "C", "D", "E"], "grade": "R"}],
        })),
    )
    .await;
    assert_eq!(status, 201, "{concert}");
    let mut tokens = Vec::new();
    for i in 0..fans {
        let name = format!("crashfan{i}");
        signup(name.clone()).await;
        tokens.push(login(&client, &base, "/api/v1/users/login", &name, PASSWORD).await);
    }
    (concert["data"]["id"].as_i64().unwrap(), tokens)
}

/// Order `i`: a single seat or a pair, most of them on contested seats.
fn order(i: usize) -> Value {
    let seat = |n: usize| json!({"horizontal": char::from(b'A' + (n / 10 % 5) as u8).to_string(), "vertical": n % 10 + 1});
    if i.is_multiple_of(3) { json!({"seats": [seat(i % 37), seat(i % 37 + 1)]}) } else { seat(i % 41) }
}

/// Fires `orders` bookings at once; the receiver gets each reservation id of every 201,
/// in the order the answers arrive.
fn fire(
    server: &Server,
    concert: i64,
    tokens: &[String],
    orders: usize,
) -> tokio::sync::mpsc::UnboundedReceiver<Vec<i64>> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let client = reqwest::Client::new();
    for i in 0..orders {
        let (client, tx, token) = (client.clone(), tx.clone(), tokens[i % tokens.len()].clone());
        let url = format!("{}/api/v1/concerts/{concert}/reservations", server.base);
        tokio::spawn(async move {
            let Ok(response) = client.post(url).bearer_auth(token).json(&order(i)).send().await else {
                let _ = tx.send(Vec::new());
                return;
            };
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            let ids = if status == 201 {
                let data = &body["data"];
                match data["reservations"].as_array() {
                    Some(list) => list.iter().map(|r| r["id"].as_i64().unwrap()).collect(),
                    None => vec![data["id"].as_i64().unwrap()],
                }
            } else {
                Vec::new()
            };
            let _ = tx.send(ids);
        });
    }
    rx
}

/// After a restart: `(active reservation id → seat id)` and the number of `R` on the map.
async fn state_after_restart(data_dir: &Path, concert: i64) -> (HashMap<i64, i64>, usize, Server) {
    let server = Server::start(data_dir).await;
    let client = reqwest::Client::new();
    let admin = login(&client, &server.base, "/api/v1/admin/login", "admin", ADMIN_PASSWORD).await;
    let (status, list) = call(
        &client,
        reqwest::Method::GET,
        format!("{}/api/v1/admin/reservations", server.base),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let active: HashMap<i64, i64> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["concert"]["id"] == concert && r["status"] == "Y")
        .map(|r| (r["id"].as_i64().unwrap(), r["seat"]["id"].as_i64().unwrap()))
        .collect();
    let (status, map) = call(
        &client,
        reqwest::Method::GET,
        format!("{}/api/v1/concerts/{concert}/seats", server.base),
        None,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let reserved = map["data"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["statuses"].as_str().unwrap().matches('R').count())
        .sum();
    (active, reserved, server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_confirmed_booking_and_nothing_else_survives_kill_9_after_the_last_answer() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let (concert, tokens) = stage(&server, 30).await;
    let orders = 120;
    let mut answers = fire(&server, concert, &tokens, orders);
    let mut confirmed = HashSet::new();
    for _ in 0..orders {
        confirmed.extend(answers.recv().await.unwrap());
    }
    server.kill();
    assert!(!confirmed.is_empty());
    let (active, reserved, _server) = state_after_restart(dir.path(), concert).await;
    let active_ids: HashSet<i64> = active.keys().copied().collect();
    assert_eq!(active_ids, confirmed, "exactly the confirmed bookings survive");
    let seats: HashSet<i64> = active.values().copied().collect();
    assert_eq!(seats.len(), active.len(), "no seat has two active reservations");
    assert_eq!(reserved, active.len(), "the map shows exactly the reserved seats");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirmations_received_before_a_kill_9_mid_rush_all_survive() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let (concert, tokens) = stage(&server, 30).await;
    let mut answers = fire(&server, concert, &tokens, 120);
    let mut confirmed = HashSet::new();
    for _ in 0..30 {
        confirmed.extend(answers.recv().await.unwrap());
    }
    // Requests are still in flight: some may commit unanswered, none confirmed may vanish.
    server.kill();
    let (active, reserved, _server) = state_after_restart(dir.path(), concert).await;
    let active_ids: HashSet<i64> = active.keys().copied().collect();
    assert!(
        confirmed.is_subset(&active_ids),
        "lost: {:?}",
        confirmed.difference(&active_ids).collect::<Vec<_>>()
    );
    let seats: HashSet<i64> = active.values().copied().collect();
    assert_eq!(seats.len(), active.len(), "no seat has two active reservations");
    assert_eq!(reserved, active.len(), "the map shows exactly the reserved seats");
}
