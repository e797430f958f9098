//! Which database the integration tests run on: SQLite in each test's data dir by default;
//! PostgreSQL when `TICKITECKING_TEST_POSTGRES_URL` names a server (`scripts/test` starts a
//! throwaway one), each test on a database of its own so tests stay independent and run in
//! parallel. Shared by the test binaries through `#[path]`.

#![allow(dead_code)]

use std::path::Path;

use sqlx::{Connection, Executor, PgConnection};
use tickitecking::config::DatabaseUrl;

/// Names the PostgreSQL server (with a database to connect to for `CREATE DATABASE`).
pub const POSTGRES_VAR: &str = "TICKITECKING_TEST_POSTGRES_URL";

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
    let (base, query) = server.split_once('?').map_or((server.as_str(), None), |(b, q)| (b, Some(q)));
    let host = base.rsplit_once('/').map_or(base, |(host, _database)| host);
    let url = match query {
        Some(query) => format!("{host}/{name}?{query}"),
        None => format!("{host}/{name}"),
    };
    std::fs::write(&remembered, &url).expect("remember the test database");
    Some(url)
}

/// The database URL a service on `data_dir` uses: its own PostgreSQL database, or SQLite
/// in the dir.
pub async fn database_url_for(data_dir: &Path) -> DatabaseUrl {
    match postgres_url_for(data_dir).await {
        Some(url) => DatabaseUrl::Postgres { url, replica: None },
        None => DatabaseUrl::parse(None, data_dir).expect("the default URL is valid"),
    }
}
