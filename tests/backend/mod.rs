//! Which database the integration tests run on: SQLite in each test's data dir by default;
//! PostgreSQL when `TICKITECKING_TEST_POSTGRES_URL` names a server (`scripts/test` starts a
//! throwaway one), each test on a database of its own so tests stay independent and run in
//! parallel. Shared by the test binaries through `#[path]`.
//!
//! With PostgreSQL, `scripts/test` also starts a streaming replica of that server
//! (`TICKITECKING_TEST_POSTGRES_REPLICA_URL`): a database created on the primary appears on
//! it by replication, a moment later, and the replica tests can hold its replay to make
//! that moment as long as they need.

#![allow(dead_code)]

use std::path::Path;
use std::time::{Duration, Instant};

use sqlx::{Connection, Executor, PgConnection};
use tickitecking::store::DatabaseUrl;

/// Names the PostgreSQL server (with a database to connect to for `CREATE DATABASE`).
pub const POSTGRES_VAR: &str = "TICKITECKING_TEST_POSTGRES_URL";

/// Names the streaming replica of that server.
pub const REPLICA_VAR: &str = "TICKITECKING_TEST_POSTGRES_REPLICA_URL";

/// How long the replica may take to replay what the tests wrote before they give up.
const REPLAY_TIMEOUT: Duration = Duration::from_secs(60);

/// File in a data dir that remembers its database, so a restart on the dir finds its data.
const DATABASE_FILE: &str = "test-database-url";

/// The PostgreSQL server to test against, if any.
pub fn postgres_server() -> Option<String> {
    std::env::var(POSTGRES_VAR).ok().filter(|url| !url.is_empty())
}

/// The backend name the service reports (`/ready`, logs).
pub fn name() -> &'static str {
    if postgres_server().is_some() { "postgres" } else { "sqlite" }
}

/// The PostgreSQL URL of the database that belongs to `data_dir`, created on first use;
/// `None` when the tests run on SQLite (which lives in the data dir itself).
pub async fn postgres_url_for(data_dir: &Path) -> Option<String> {
    let server = postgres_server()?;
    let remembered = data_dir.join(DATABASE_FILE);
    if let Ok(url) = std::fs::read_to_string(&remembered) {
        return Some(url);
    }
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(&server).await.expect("connect to the test PostgreSQL server");
    admin.execute(format!("CREATE DATABASE {name}").as_str()).await.expect("CREATE DATABASE");
    admin.close().await.expect("disconnect");
    let url = on_database(&server, &name);
    std::fs::write(&remembered, &url).expect("remember the test database");
    Some(url)
}

/// `server`'s URL with its database replaced by `name`.
fn on_database(server: &str, name: &str) -> String {
    let (base, query) = server.split_once('?').map_or((server, None), |(b, q)| (b, Some(q)));
    let host = base.rsplit_once('/').map_or(base, |(host, _database)| host);
    match query {
        Some(query) => format!("{host}/{name}?{query}"),
        None => format!("{host}/{name}"),
    }
}

/// The database name of a PostgreSQL URL.
fn database_of(url: &str) -> &str {
    let base = url.split_once('?').map_or(url, |(base, _query)| base);
    base.rsplit_once('/').map_or(base, |(_host, name)| name)
}

/// The streaming replica of the PostgreSQL server; `None` on SQLite. PostgreSQL without a
/// replica is a broken setup, not a reason to skip: a replica test that passed without one
/// would have tested nothing.
pub fn replica_server() -> Option<String> {
    postgres_server()?;
    match std::env::var(REPLICA_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => panic!(
            "{POSTGRES_VAR} is set but {REPLICA_VAR} is not: run the tests through scripts/test, \
             which starts a streaming replica beside the PostgreSQL server"
        ),
    }
}

/// The replica's URL of the database that belongs to `data_dir` (created on the primary on
/// first use), once the replica has it; `None` on SQLite.
pub async fn replica_url_for(data_dir: &Path) -> Option<String> {
    let replica = replica_server()?;
    let primary = postgres_url_for(data_dir).await?;
    replica_caught_up().await;
    Some(on_database(&replica, database_of(&primary)))
}

/// Waits until the replica has replayed everything the primary had written when called,
/// so what a test wrote so far is on the replica too.
pub async fn replica_caught_up() {
    let (Some(server), Some(replica)) = (postgres_server(), replica_server()) else { return };
    let mut primary = PgConnection::connect(&server).await.expect("connect to the primary");
    let written: String = sqlx::query_scalar("SELECT pg_current_wal_lsn()::text")
        .fetch_one(&mut primary)
        .await
        .expect("WAL position");
    primary.close().await.expect("disconnect");
    let mut replica = PgConnection::connect(&replica).await.expect("connect to the replica");
    let deadline = Instant::now() + REPLAY_TIMEOUT;
    loop {
        let replayed: bool = sqlx::query_scalar("SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn")
            .bind(&written)
            .fetch_one(&mut replica)
            .await
            .expect("replay position");
        if replayed {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the replica has not replayed up to {written} in {REPLAY_TIMEOUT:?} (is its replay paused?)"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    replica.close().await.expect("disconnect");
}

/// Only one test at a time holds the replay of the replica every test shares.
static REPLAY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The replica's replay held: what the primary commits meanwhile reaches the replica (its
/// WAL is received) but is not visible there until [`ReplayPaused::resume`]. Dropped
/// without it (a test failed), it resumes replay anyway, so the other replica tests of the
/// run are not held too.
pub struct ReplayPaused {
    replica: String,
    resumed: bool,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

/// Holds the replica's replay (see [`ReplayPaused`]); panics on SQLite.
pub async fn pause_replay() -> ReplayPaused {
    let replica = replica_server().expect("a replica: PostgreSQL tests only");
    let turn = REPLAY.lock().await;
    let mut connection = PgConnection::connect(&replica).await.expect("connect to the replica");
    connection.execute("SELECT pg_wal_replay_pause()").await.expect("pause replay");
    let paused = ReplayPaused { replica, resumed: false, _turn: turn };
    // Asked is not yet paused: the startup process may still be applying a record, which
    // the test would then see or not by chance.
    let deadline = Instant::now() + REPLAY_TIMEOUT;
    loop {
        let state: String = sqlx::query_scalar("SELECT pg_get_wal_replay_pause_state()")
            .fetch_one(&mut connection)
            .await
            .expect("replay pause state");
        if state == "paused" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the replica's replay is still {state:?} after {REPLAY_TIMEOUT:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    connection.close().await.expect("disconnect");
    paused
}

impl ReplayPaused {
    /// Lets the replica replay again (it catches up on its own; see [`replica_caught_up`]).
    pub async fn resume(mut self) {
        resume_replay(&self.replica).await;
        self.resumed = true;
    }
}

async fn resume_replay(replica: &str) {
    let mut connection = PgConnection::connect(replica).await.expect("connect to the replica");
    connection.execute("SELECT pg_wal_replay_resume()").await.expect("resume replay");
    connection.close().await.expect("disconnect");
}

impl Drop for ReplayPaused {
    fn drop(&mut self) {
        if self.resumed {
            return;
        }
        // Drop cannot wait on the test's runtime (it may be unwinding from a panic, or
        // single-threaded): a thread of its own with a runtime of its own does the resume.
        let replica = self.replica.clone();
        let resumed = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime")
                .block_on(resume_replay(&replica));
        })
        .join();
        if resumed.is_err() {
            eprintln!("could not resume the replica's replay: later replica tests will wait for it");
        }
    }
}

/// The database URL a service on `data_dir` uses: its own PostgreSQL database, or SQLite
/// in the dir.
pub async fn database_url_for(data_dir: &Path) -> DatabaseUrl {
    match postgres_url_for(data_dir).await {
        Some(url) => DatabaseUrl::Postgres { url, replica: None },
        None => DatabaseUrl::parse(None, data_dir).expect("the default URL is valid"),
    }
}
