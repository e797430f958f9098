//! The harness: the binary as a child process with a test's environment, a small API
//! client, and looks into database files.

use std::collections::HashSet;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub const ADMIN_PASSWORD: &str = "Admin#Pass1";
pub const PASSWORD: &str = "Secret#2026";

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The binary, with the environment of a test: no settings from the caller's shell.
pub fn tickitecking() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tickitecking"));
    command
        .env("ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("RUST_LOG", "info")
        .env("RATE_LIMIT_LOGIN_ADDRESS", "off")
        .env("RATE_LIMIT_LOGIN_ACCOUNT", "off")
        .env("RATE_LIMIT_SIGNUP", "off")
        .env("RATE_LIMIT_BOOKING", "off");
    for var in [
        "DATABASE_URL",
        "DATABASE_REPLICA_URL",
        "REDIS_URL",
        "IMAGE_STORE",
        "ADMIN_USERNAME",
        "JWT_SECRET",
        "BACKUP_EVERY",
        "BACKUP_TO",
        "METRICS_BIND",
        "LOG_FORMAT",
        "TICKITECKING_DATA_DIR",
        "TICKITECKING_BIND",
    ] {
        command.env_remove(var);
    }
    command
}

/// Runs `tickitecking ARGS… --data-dir DIR` to its end.
pub fn run(args: &[&str], data_dir: &Path) -> Output {
    tickitecking().args(args).arg("--data-dir").arg(data_dir).output().expect("run the binary")
}

#[track_caller]
pub fn assert_refused(output: &Output, says: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "expected a refusal, got success: {stderr}");
    assert!(stderr.contains(says), "expected {says:?} in: {stderr}");
}

#[track_caller]
pub fn assert_ok(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "failed: {stderr}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The service as a child process, killed when dropped.
pub struct Server {
    child: Child,
    pub api: Api,
}

impl Server {
    pub async fn start(data_dir: &Path, args: &[&str], env: &[(&str, &str)], log: Option<&Path>) -> Self {
        let port = free_port();
        let mut command = tickitecking();
        command
            .args(["serve", "--bind", &format!("127.0.0.1:{port}"), "--data-dir"])
            .arg(data_dir)
            .args(args);
        for (name, value) in env {
            command.env(name, value);
        }
        match log {
            Some(path) => command.stdout(std::fs::File::create(path).unwrap()),
            None => command.stdout(Stdio::null()),
        };
        let child = command.spawn().expect("start the binary");
        let mut server = Self { child, api: Api::new(format!("http://127.0.0.1:{port}")) };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let health = server.api.client.get(format!("{}/health", server.api.base)).send().await;
            if health.is_ok_and(|r| r.status().is_success()) {
                return server;
            }
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!("the server exited at start: {status}");
            }
            assert!(Instant::now() < deadline, "the server did not answer /health within 60 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGTERM, and waits for the graceful end (so its lock is released).
    pub fn stop(mut self) {
        // SAFETY: a signal to our own child process.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "the server did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Clone)]
pub struct Api {
    pub client: reqwest::Client,
    pub base: String,
}

impl Api {
    pub fn new(base: String) -> Self {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
        Self { client, base }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.expect("an answer");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn login(&self, username: &str, password: &str) -> String {
        let body = json!({"username": username, "password": password});
        let (status, body) = self.call(Method::POST, "/api/v1/users/login", None, Some(&body)).await;
        assert_eq!(status, 200, "{body}");
        body["data"]["accessToken"].as_str().unwrap().to_owned()
    }

    pub async fn signup(&self, username: &str) -> i64 {
        let body =
            json!({"username": username, "password": PASSWORD, "email": format!("{username}@example.com")});
        let (status, body) = self.call(Method::POST, "/api/v1/users/signup", None, Some(&body)).await;
        assert_eq!(status, 201, "{body}");
        body["data"]["id"].as_i64().unwrap()
    }

    pub async fn admin(&self) -> String {
        self.login("admin", ADMIN_PASSWORD).await
    }

    /// A promoter with a 26 × 100 hall and `concerts` concerts on all of it, each letting a
    /// fan hold 100 seats: `(promoter token, concert ids)`.
    pub async fn stage(&self, concerts: usize) -> (String, Vec<i64>) {
        let admin = self.admin().await;
        let promoter = self.signup("keeper").await;
        let role = json!({"username": "keeper", "email": "keeper@example.com", "role": "COMPANY_USER"});
        let (status, body) = self
            .call(Method::PUT, &format!("/api/v1/admin/users/{promoter}"), Some(&admin), Some(&role))
            .await;
        assert_eq!(status, 200, "{body}");
        let promoter = self.login("keeper", PASSWORD).await;
        let hall = json!({"name": "Keep Hall", "address": "Seoul", "maxRow": "Z", "maxColumn": 100});
        let (status, hall) =
            self.call(Method::POST, "/api/v1/auditoriums", Some(&promoter), Some(&hall)).await;
        assert_eq!(status, 201, "{hall}");
        let rows: Vec<String> = (b'A'..=b'Z').map(|c| char::from(c).to_string()).collect();
        let mut ids = Vec::new();
        for i in 0..concerts {
            let concert = json!({
                "name": format!("Keep Live {i}"), "description": "", "startTime": "2099-01-01T19:00:00Z",
                "auditoriumId": hall["data"]["id"], "maxSeatsPerFan": 100,
                "seatPrices": [{"grade": "R", "price": 100}],
                "seatList": [{"horizontals": rows, "grade": "R"}],
            });
            let (status, concert) =
                self.call(Method::POST, "/api/v1/concerts", Some(&promoter), Some(&concert)).await;
            assert_eq!(status, 201, "{concert}");
            ids.push(concert["data"]["id"].as_i64().unwrap());
        }
        (promoter, ids)
    }

    /// `count` fans, signed up and logged in, ten at a time (each signup hashes a password
    /// through 19 MiB).
    pub async fn fans(&self, prefix: &str, count: usize) -> Vec<String> {
        let mut tokens = Vec::new();
        for first in (0..count).step_by(10) {
            let tasks: Vec<_> = (first..count.min(first + 10))
                .map(|i| {
                    let api = self.clone();
                    let name = format!("{prefix}{i}");
                    tokio::spawn(async move {
                        api.signup(&name).await;
                        api.login(&name, PASSWORD).await
                    })
                })
                .collect();
            for task in tasks {
                tokens.push(task.await.unwrap());
            }
        }
        tokens
    }

    /// Books seat number `n` (0..2600) of `concert`: the reservation id.
    pub async fn book(&self, token: &str, concert: i64, n: usize) -> i64 {
        let seat =
            json!({"horizontal": char::from(b'A' + (n / 100) as u8).to_string(), "vertical": n % 100 + 1});
        let path = format!("/api/v1/concerts/{concert}/reservations");
        let (status, body) = self.call(Method::POST, &path, Some(token), Some(&seat)).await;
        assert_eq!(status, 201, "{body}");
        body["data"]["id"].as_i64().unwrap()
    }

    pub async fn metrics(&self) -> String {
        self.client.get(format!("{}/metrics", self.base)).send().await.unwrap().text().await.unwrap()
    }
}

/// A Prometheus sample's value (0 when absent).
pub fn sample(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .map_or(0.0, |value| value.trim().parse().unwrap())
}

pub fn sha256(path: &Path) -> String {
    format!("{:x}", Sha256::digest(std::fs::read(path).unwrap()))
}

pub fn database(dir: &Path) -> PathBuf {
    dir.join("tickitecking.db")
}

/// Active reservation ids of a database file, and whether every seat's status agrees
/// with its reservations (invariant 2).
pub fn active_reservations(db: &Path) -> (HashSet<i64>, bool) {
    let conn = rusqlite::Connection::open(db).unwrap();
    let ids = conn
        .prepare("SELECT id FROM reservations WHERE status = 'Y'")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<HashSet<i64>, _>>()
        .unwrap();
    let disagreeing: i64 = conn
        .query_row(
            "SELECT count(*) FROM seats s WHERE (s.status = 'RESERVED') <> \
             EXISTS (SELECT 1 FROM reservations r WHERE r.seat_id = s.id AND r.status = 'Y')",
            [],
            |row| row.get(0),
        )
        .unwrap();
    let quick: String = conn.query_row("PRAGMA quick_check", [], |row| row.get(0)).unwrap();
    (ids, disagreeing == 0 && quick == "ok")
}
