//! Keeping the embedded database: `tickitecking backup` and `restore` and scheduled
//! backups, run as the real binary beside a real service. A backup taken during a rush
//! holds every booking confirmed before it began; a backup killed halfway harms neither
//! the live database nor the last good backup; a restore refuses corrupt and truncated
//! files, schemas it does not know, and a data dir a service is running on, changing
//! nothing; a bucket that is down fails scheduled backups loudly (log and `/metrics`)
//! and they are tried again while selling goes on. SQLite only: PostgreSQL is backed up
//! with its own tools.

use std::collections::HashSet;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

const ADMIN_PASSWORD: &str = "Admin#Pass1";
const PASSWORD: &str = "Secret#2026";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The binary, with the environment of a test: no settings from the caller's shell.
fn tickitecking() -> Command {
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
fn run(args: &[&str], data_dir: &Path) -> Output {
    tickitecking().args(args).arg("--data-dir").arg(data_dir).output().expect("run the binary")
}

#[track_caller]
fn assert_refused(output: &Output, says: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "expected a refusal, got success: {stderr}");
    assert!(stderr.contains(says), "expected {says:?} in: {stderr}");
}

#[track_caller]
fn assert_ok(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "failed: {stderr}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The service as a child process, killed when dropped.
struct Server {
    child: Child,
    api: Api,
}

impl Server {
    async fn start(data_dir: &Path, args: &[&str], env: &[(&str, &str)], log: Option<&Path>) -> Self {
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
    fn stop(mut self) {
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
struct Api {
    client: reqwest::Client,
    base: String,
}

impl Api {
    fn new(base: String) -> Self {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
        Self { client, base }
    }

    async fn call(
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

    async fn login(&self, username: &str, password: &str) -> String {
        let body = json!({"username": username, "password": password});
        let (status, body) = self.call(Method::POST, "/api/v1/users/login", None, Some(&body)).await;
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
        self.login("admin", ADMIN_PASSWORD).await
    }

    /// A promoter with a 26 × 100 hall and `concerts` concerts on all of it, each letting a
    /// fan hold 100 seats: `(promoter token, concert ids)`.
    async fn stage(&self, concerts: usize) -> (String, Vec<i64>) {
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
    async fn fans(&self, prefix: &str, count: usize) -> Vec<String> {
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
    async fn book(&self, token: &str, concert: i64, n: usize) -> i64 {
        let seat =
            json!({"horizontal": char::from(b'A' + (n / 100) as u8).to_string(), "vertical": n % 100 + 1});
        let path = format!("/api/v1/concerts/{concert}/reservations");
        let (status, body) = self.call(Method::POST, &path, Some(token), Some(&seat)).await;
        assert_eq!(status, 201, "{body}");
        body["data"]["id"].as_i64().unwrap()
    }

    async fn metrics(&self) -> String {
        self.client.get(format!("{}/metrics", self.base)).send().await.unwrap().text().await.unwrap()
    }
}

/// A Prometheus sample's value (0 when absent).
fn sample(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .map_or(0.0, |value| value.trim().parse().unwrap())
}

fn sha256(path: &Path) -> String {
    format!("{:x}", Sha256::digest(std::fs::read(path).unwrap()))
}

fn database(dir: &Path) -> PathBuf {
    dir.join("tickitecking.db")
}

/// Active reservation ids of a database file, and whether every seat's status agrees
/// with its reservations (invariant 2).
fn active_reservations(db: &Path) -> (HashSet<i64>, bool) {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_taken_during_a_10000_booking_rush_restores_every_booking_confirmed_before_it_began() {
    const BOOKINGS: usize = 10_000;
    const FANS: usize = 100;
    let live = tempfile::tempdir().unwrap();
    let server = Server::start(live.path(), &[], &[], None).await;
    let api = server.api.clone();
    let (_, concerts) = api.stage(4).await;
    let fans = api.fans("rushfan", FANS).await;

    // Fan f books seats f*26 .. f*26+25 of each concert: 100 fans × 4 concerts × 25 seats.
    let confirmed = Arc::new(Mutex::new(Vec::<i64>::with_capacity(BOOKINGS)));
    let tasks: Vec<_> = fans
        .into_iter()
        .enumerate()
        .map(|(f, token)| {
            let (api, concerts, confirmed) = (api.clone(), concerts.clone(), confirmed.clone());
            tokio::spawn(async move {
                for k in 0..BOOKINGS / FANS {
                    let concert = concerts[k % concerts.len()];
                    let id = api.book(&token, concert, f * 26 + k / concerts.len()).await;
                    confirmed.lock().await.push(id);
                }
            })
        })
        .collect();
    while confirmed.lock().await.len() < BOOKINGS / 4 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Everything confirmed up to here must be in the backup.
    let before: HashSet<i64> = confirmed.lock().await.iter().copied().collect();
    let backups = tempfile::tempdir().unwrap();
    let file = backups.path().join("rush.sqlite");
    let backup = tokio::task::spawn_blocking({
        let (file, live) = (file.clone(), live.path().to_owned());
        move || run(&["backup", "--to", file.to_str().unwrap()], &live)
    })
    .await
    .unwrap();
    let during = confirmed.lock().await.len();
    let said = assert_ok(&backup);
    assert!(said.contains("backup written to"), "{said}");
    for task in tasks {
        task.await.unwrap();
    }
    let all: HashSet<i64> = confirmed.lock().await.iter().copied().collect();
    assert_eq!(all.len(), BOOKINGS);
    eprintln!("backup began after {} confirmations, ended after {during}", before.len());

    // Restored into a data dir of its own: every booking confirmed before the backup
    // began, nothing that was never confirmed, the seats agreeing with them.
    let restored = tempfile::tempdir().unwrap();
    assert_ok(&run(&["restore", "--from", file.to_str().unwrap()], restored.path()));
    let (active, consistent) = active_reservations(&database(restored.path()));
    assert!(consistent, "restored seat statuses disagree with reservations");
    let missing: Vec<_> = before.difference(&active).collect();
    assert!(missing.is_empty(), "{} bookings confirmed before the backup are missing", missing.len());
    assert!(active.is_subset(&all), "the backup holds a booking that was never confirmed");
    // And a service on it serves them.
    let again = Server::start(restored.path(), &[], &[], None).await;
    let admin = again.api.admin().await;
    let (status, list) = again.api.call(Method::GET, "/api/v1/admin/reservations", Some(&admin), None).await;
    assert_eq!(status, 200);
    assert_eq!(list["data"].as_array().unwrap().len(), active.len());
    drop(server);
}

#[tokio::test]
async fn a_backup_killed_midway_leaves_the_live_database_and_the_last_good_backup_intact() {
    let live = tempfile::tempdir().unwrap();
    let server = Server::start(live.path(), &[], &[], None).await;
    let (_, concerts) = server.api.stage(1).await;
    let fan = server.api.fans("killfan", 1).await.remove(0);
    let first = server.api.book(&fan, concerts[0], 0).await;
    // Posters make the backup long enough to be caught halfway.
    let posters = live.path().join("images");
    std::fs::create_dir_all(&posters).unwrap();
    for i in 0..48 {
        std::fs::write(posters.join(format!("padding-{i}.png")), vec![i as u8; 1 << 20]).unwrap();
    }
    let backups = tempfile::tempdir().unwrap();
    let good = backups.path().join("nightly.sqlite");
    assert_ok(&run(&["backup", "--to", good.to_str().unwrap()], live.path()));
    let good_hash = sha256(&good);
    server.api.book(&fan, concerts[0], 1).await;

    for delay in [0, 30, 150] {
        let mut backup = tickitecking()
            .args(["backup", "--to", good.to_str().unwrap(), "--data-dir"])
            .arg(live.path())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let partial = backups.path().join(format!(".nightly.sqlite.partial-{}", backup.id()));
        let deadline = Instant::now() + Duration::from_secs(30);
        while !partial.exists() {
            assert!(backup.try_wait().unwrap().is_none(), "the backup ended before it could be killed");
            assert!(Instant::now() < deadline, "no partial backup appeared");
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(delay));
        backup.kill().unwrap();
        backup.wait().unwrap();
        assert_eq!(sha256(&good), good_hash, "the last good backup changed (killed after {delay} ms)");
        tickitecking::backup::check(&good).expect("the last good backup is sound");
    }
    // The live database is whole and selling.
    let (active, consistent) = active_reservations(&database(live.path()));
    assert!(consistent && active.contains(&first));
    server.api.book(&fan, concerts[0], 2).await;
    // The next backup succeeds, and holds what was sold since.
    assert_ok(&run(&["backup", "--to", good.to_str().unwrap()], live.path()));
    let restored = tempfile::tempdir().unwrap();
    assert_ok(&run(&["restore", "--from", good.to_str().unwrap()], restored.path()));
    assert_eq!(active_reservations(&database(restored.path())).0.len(), 3);
    assert_eq!(std::fs::read_dir(restored.path().join("images")).unwrap().count(), 48, "posters restored");
}

#[tokio::test]
async fn a_restore_refuses_corrupt_truncated_and_unknown_backups_and_a_running_service_changing_nothing() {
    // A good backup of a service with a booking and a poster.
    let source = tempfile::tempdir().unwrap();
    let server = Server::start(source.path(), &[], &[], None).await;
    let (_, concerts) = server.api.stage(1).await;
    let fan = server.api.fans("restorefan", 1).await.remove(0);
    let booked = server.api.book(&fan, concerts[0], 7).await;
    std::fs::write(source.path().join("images").join("poster.png"), b"\x89PNG poster").unwrap();
    let backups = tempfile::tempdir().unwrap();
    let good = backups.path().join("good.sqlite");
    assert_ok(&run(&["backup", "--to", good.to_str().unwrap()], source.path()));
    server.stop();

    // The target: a live data dir of its own, whose service is running.
    let target = tempfile::tempdir().unwrap();
    let running = Server::start(target.path(), &[], &[], None).await;
    running.api.signup("bystander").await;
    let untouched = || {
        let mut names: Vec<String> = std::fs::read_dir(target.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into())
            .collect();
        names.sort();
        names
    };
    let files_before = untouched();
    assert_refused(
        &run(&["restore", "--from", good.to_str().unwrap()], target.path()),
        "in use by a running tickitecking",
    );
    running.api.signup("still-selling").await;
    running.stop();
    let db_hash = sha256(&database(target.path()));

    let bytes = std::fs::read(&good).unwrap();
    let bad = |name: &str, content: &[u8]| {
        let path = backups.path().join(name);
        std::fs::write(&path, content).unwrap();
        path
    };
    // Pages 2 onwards (tables' and indexes' first pages among them) overwritten.
    let mut corrupt = bytes.clone();
    let half = corrupt.len() / 2;
    corrupt[4096..half].fill(0x5a);
    let future = backups.path().join("future.sqlite");
    std::fs::copy(&good, &future).unwrap();
    rusqlite::Connection::open(&future)
        .unwrap()
        .execute_batch(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (9999, 'from the future', 1, X'00', 0)",
        )
        .unwrap();
    let cases = [
        (bad("truncated.sqlite", &bytes[..bytes.len() / 2]), "truncated"),
        (bad("corrupt.sqlite", &corrupt), "damaged"),
        (
            bad("text.sqlite", b"these are not the bytes you are looking for, not at all, no"),
            "not a SQLite database",
        ),
        (bad("empty.sqlite", b""), "not a SQLite database"),
        (future, "migration 9999, which this binary does not know"),
        (backups.path().join("missing.sqlite"), "missing.sqlite"),
    ];
    for (path, says) in &cases {
        let output = run(&["restore", "--from", path.to_str().unwrap()], target.path());
        assert_refused(&output, says);
        assert_eq!(sha256(&database(target.path())), db_hash, "{} changed the database", path.display());
        let mut files_now = untouched();
        files_now.retain(|n| !n.ends_with("-wal") && !n.ends_with("-shm"));
        let mut expected = files_before.clone();
        expected.retain(|n| !n.ends_with("-wal") && !n.ends_with("-shm"));
        assert_eq!(files_now, expected, "{} left files behind", path.display());
    }

    // The good one goes in: the booking, the poster and the secret (tokens stay valid),
    // with the replaced database kept beside.
    let said = assert_ok(&run(&["restore", "--from", good.to_str().unwrap()], target.path()));
    assert!(said.contains("kept as"), "{said}");
    assert!(untouched().iter().any(|n| n.starts_with("tickitecking.db.before-restore-")));
    let restored = Server::start(target.path(), &[], &[], None).await;
    let (status, mine) =
        restored.api.call(Method::GET, "/api/v1/users/my/reservations", Some(&fan), None).await;
    assert_eq!(status, 200, "the fan's token from before the backup still works: {mine}");
    assert_eq!(mine["data"][0]["id"], booked);
    assert_eq!(std::fs::read(target.path().join("images").join("poster.png")).unwrap(), b"\x89PNG poster");
    let (status, _) = restored
        .api
        .call(
            Method::POST,
            "/api/v1/users/login",
            None,
            Some(&json!({"username": "bystander", "password": PASSWORD})),
        )
        .await;
    assert_eq!(status, 401, "the replaced database's accounts are gone");
}

/// The S3-speaking test server (`scripts/test.d/25-s3.sh`), or `None` outside scripts/test.
fn s3_endpoint() -> Option<String> {
    match std::env::var("TICKITECKING_TEST_S3_ENDPOINT") {
        Ok(endpoint) if !endpoint.is_empty() => Some(endpoint),
        _ if std::env::var_os("TEST_RUN_DIR").is_some() => {
            panic!(
                "scripts/test runs the S3 backup test: TICKITECKING_TEST_S3_ENDPOINT must come from scripts/test.d/25-s3.sh"
            )
        }
        _ => {
            eprintln!("NOTE: S3 backup test not run: set TICKITECKING_TEST_S3_ENDPOINT or use scripts/test");
            None
        }
    }
}

/// Forwards connections on `port` to `to` while `up` is set; refuses them otherwise.
async fn switchable_proxy(port: u16, to: String, up: Arc<AtomicBool>) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    loop {
        let (mut inbound, _) = listener.accept().await.unwrap();
        if !up.load(Ordering::SeqCst) {
            drop(inbound);
            continue;
        }
        let to = to.clone();
        tokio::spawn(async move {
            if let Ok(mut outbound) = tokio::net::TcpStream::connect(&to).await {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            }
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_backups_to_a_bucket_that_is_down_are_reported_and_retried_while_selling_goes_on() {
    let Some(endpoint) = s3_endpoint() else { return };
    let bucket = format!("backups-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let created = reqwest::Client::new().put(format!("{endpoint}/{bucket}")).send().await.unwrap();
    assert!(created.status().is_success(), "creating the bucket: {}", created.status());
    let moto = endpoint.trim_start_matches("http://").to_owned();
    let port = free_port();
    let up = Arc::new(AtomicBool::new(false));
    tokio::spawn(switchable_proxy(port, moto, up.clone()));

    let live = tempfile::tempdir().unwrap();
    let log = live.path().join("service.log");
    let metrics_port = free_port();
    let proxy = format!("http://127.0.0.1:{port}");
    let aws = [
        ("AWS_ENDPOINT_URL", proxy.as_str()),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
    ];
    let to = format!("s3://{bucket}/nightly");
    let metrics_bind = format!("127.0.0.1:{metrics_port}");
    let flags = [
        "--backup-every",
        "1s",
        "--backup-to",
        &to,
        "--backup-keep",
        "2",
        "--metrics-bind",
        &metrics_bind,
        "--log-format",
        "json",
    ];
    let server = Server::start(live.path(), &flags, &aws, Some(&log)).await;
    let metrics = Api::new(format!("http://127.0.0.1:{metrics_port}"));
    let (status, _) = server.api.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(status, 404, "/metrics is on its own address only");
    let (_, concerts) = server.api.stage(1).await;
    let fan = server.api.fans("s3fan", 1).await.remove(0);

    // The bucket is down: backups fail, are counted and logged, and tried again; bookings go on.
    let mut booked = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while sample(&metrics.metrics().await, "backups_total{outcome=\"failed\"}") < 2.0 {
        booked.push(server.api.book(&fan, concerts[0], booked.len()).await);
        assert!(Instant::now() < deadline, "no failed backups counted: {}", metrics.metrics().await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seen = metrics.metrics().await;
    assert!(sample(&seen, "backup_consecutive_failures") >= 2.0, "{seen}");
    assert_eq!(sample(&seen, "backups_total{outcome=\"ok\"}"), 0.0);
    let logged = std::fs::read_to_string(&log).unwrap();
    let failure = logged
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|line| {
            line["fields"]["message"].as_str().is_some_and(|m| m.contains(&format!("backup to {to} failed")))
        })
        .unwrap_or_else(|| panic!("no JSON log line of the failure in:\n{logged}"));
    assert_eq!(failure["level"], "ERROR");

    // The bucket is back: the next try succeeds, without a restart.
    up.store(true, Ordering::SeqCst);
    let before_recovery: HashSet<i64> = booked.iter().copied().collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while sample(&metrics.metrics().await, "backups_total{outcome=\"ok\"}") < 3.0 {
        booked.push(server.api.book(&fan, concerts[0], booked.len()).await);
        assert!(Instant::now() < deadline, "backups did not recover: {}", metrics.metrics().await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seen = metrics.metrics().await;
    assert_eq!(sample(&seen, "backup_consecutive_failures"), 0.0, "{seen}");
    assert!(
        sample(&seen, "backup_last_size_bytes") > 0.0
            && sample(&seen, "backup_last_success_timestamp_seconds") > 0.0
    );
    let listing = reqwest::get(format!("{endpoint}/{bucket}?list-type=2&prefix=nightly/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let kept = listing.matches("<Key>nightly/tickitecking-").count();
    assert!((1..=3).contains(&kept), "keeps the newest 2 (3 while the next is written): {listing}");

    // The bucket's newest backup restores, with every booking made before it came back.
    let restored = tempfile::tempdir().unwrap();
    let output = tickitecking()
        .args(["restore", "--from", &format!("s3://{bucket}/nightly"), "--data-dir"])
        .arg(restored.path())
        .envs([
            ("AWS_ENDPOINT_URL", endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", "us-east-1"),
        ])
        .output()
        .unwrap();
    assert_ok(&output);
    let (active, consistent) = active_reservations(&database(restored.path()));
    assert!(consistent && before_recovery.is_subset(&active));
    drop(server);
}
