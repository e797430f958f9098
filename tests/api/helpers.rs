//! The test harness: [`TestApp`] runs the service on a random port with its own data dir
//! and its own database (SQLite in the dir, or PostgreSQL: see `tests/backend`).

#![allow(dead_code)]

use std::path::Path;

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::Connection;
use tempfile::TempDir;
use tickitecking::app;
use tickitecking::config::Config;
use tickitecking::store::DatabaseUrl;
use tokio::sync::oneshot;

/// Password of the admin account every test app starts with.
pub const ADMIN_PASSWORD: &str = "Admin#Pass1";
/// Password used for the accounts tests create.
pub const PASSWORD: &str = "Secret#2026";

/// A running service and a client for it.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub dir: TempDir,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// One HTTP response, body parsed as JSON (`Value::Null` when empty or not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
    pub body: Value,
}

impl Reply {
    /// The `data` of a success envelope.
    pub fn data(&self) -> &Value {
        &self.body["data"]
    }

    /// The `code` of an error envelope.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or_default()
    }

    /// The fields named in an error envelope's `errors`.
    pub fn error_fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|errors| errors.iter().filter_map(|e| e["field"].as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    }

    /// Asserts the status, showing the body when it differs.
    #[track_caller]
    pub fn assert_status(&self, expected: u16) -> &Self {
        assert_eq!(self.status.as_u16(), expected, "unexpected status; body: {}", self.text);
        self
    }

    /// Asserts an error envelope with this status and code.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) -> &Self {
        self.assert_status(status);
        assert_eq!(self.code(), code, "unexpected code; body: {}", self.text);
        assert!(self.body["message"].is_string(), "error without message: {}", self.text);
        assert!(self.body["errors"].is_array(), "error without errors array: {}", self.text);
        self
    }
}

/// An access/refresh pair from a login.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
}

impl TestApp {
    /// A service with default settings.
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// A service whose config `adjust` may change first.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::spawn_in(dir, adjust).await
    }

    /// A service on an existing data dir (e.g. to restart on the same data).
    pub async fn spawn_in(dir: TempDir, adjust: impl FnOnce(&mut Config)) -> Self {
        let mut config = Config::in_dir(dir.path());
        config.database = crate::backend::database_url_for(dir.path()).await;
        config.admin.password = Some(ADMIN_PASSWORD.into());
        // Tests create many accounts and bookings from one address; the suites that test
        // the limits turn them on.
        config.rate_limits = tickitecking::throttle::RateLimits::OFF;
        adjust(&mut config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = format!("http://{}", listener.local_addr().expect("address"));
        let service = app::build(&config).await.expect("service builds");
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(app::run(service, listener, async {
            let _ = rx.await;
        }));
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Self { address, client, dir, shutdown: Some(tx), server: Some(server) }
    }

    /// Ends an order's hold now, as if its time had passed (see [`end_hold`]).
    pub async fn end_hold(&self, order: i64) {
        end_hold(self.dir.path(), order).await;
    }

    /// Runs one statement on the service's database behind its back (see [`run_sql`]).
    pub async fn run_sql(&self, sql: &str) {
        run_sql(self.dir.path(), sql).await;
    }

    /// Stops the service gracefully and gives back its data dir.
    pub async fn stop(mut self) -> TempDir {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("server task").expect("server ran");
        }
        let dir = tempfile::tempdir().expect("temp dir");
        std::mem::replace(&mut self.dir, dir)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// Sends a request with an optional JSON body and bearer token.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        token: Option<&str>,
    ) -> Reply {
        let mut request = self.client.request(method, self.url(path));
        if let Some(body) = body {
            request = request.json(body);
        }
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        Self::reply(request.send().await.expect("request sent")).await
    }

    /// Reads a response into a [`Reply`].
    pub async fn reply(response: reqwest::Response) -> Reply {
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply { status, headers, text, body }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.request(Method::GET, path, None, token).await
    }

    pub async fn post(&self, path: &str, body: &Value, token: Option<&str>) -> Reply {
        self.request(Method::POST, path, Some(body), token).await
    }

    pub async fn put(&self, path: &str, body: &Value, token: Option<&str>) -> Reply {
        self.request(Method::PUT, path, Some(body), token).await
    }

    pub async fn patch(&self, path: &str, body: &Value, token: Option<&str>) -> Reply {
        self.request(Method::PATCH, path, Some(body), token).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Reply {
        self.request(Method::DELETE, path, None, token).await
    }

    /// Signs up `username` (email `<username>@example.com`, password [`PASSWORD`]).
    pub async fn signup(&self, username: &str) -> Value {
        let reply = self
            .post(
                "/api/v1/users/signup",
                &json!({"username": username, "password": PASSWORD, "email": format!("{username}@example.com")}),
                None,
            )
            .await;
        reply.assert_status(201);
        reply.data().clone()
    }

    /// Logs in and returns the pair.
    pub async fn login(&self, username: &str, password: &str) -> Tokens {
        let reply = self
            .post("/api/v1/users/login", &json!({"username": username, "password": password}), None)
            .await;
        reply.assert_status(200);
        Tokens {
            access: reply.data()["accessToken"].as_str().expect("accessToken").to_owned(),
            refresh: reply.data()["refreshToken"].as_str().expect("refreshToken").to_owned(),
        }
    }

    /// A new fan, signed up and logged in: `(user id, access token)`.
    pub async fn fan(&self, username: &str) -> (i64, String) {
        let user = self.signup(username).await;
        let tokens = self.login(username, PASSWORD).await;
        (user["id"].as_i64().expect("id"), tokens.access)
    }

    /// The admin's access token.
    pub async fn admin_token(&self) -> String {
        self.login("admin", ADMIN_PASSWORD).await.access
    }

    /// A new promoter (a fan an admin made COMPANY_USER), logged in: `(user id, access token)`.
    pub async fn promoter(&self, username: &str) -> (i64, String) {
        let user = self.signup(username).await;
        let id = user["id"].as_i64().expect("id");
        let admin = self.admin_token().await;
        self.put(
            &format!("/api/v1/admin/users/{id}"),
            &json!({"username": username, "email": user["email"], "role": "COMPANY_USER"}),
            Some(&admin),
        )
        .await
        .assert_status(200);
        (id, self.login(username, PASSWORD).await.access)
    }
}

impl TestApp {
    /// Trades a refresh token for a new pair (the raw reply, to check failures too).
    pub async fn refresh(&self, refresh_token: &str) -> Reply {
        self.post("/api/v1/users/token/refresh", &json!({ "refreshToken": refresh_token }), None).await
    }

    /// Sends raw bytes with an optional content type, for tests of the body handling itself.
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
        token: Option<&str>,
    ) -> Reply {
        let mut request = self.client.request(method, self.url(path)).body(body);
        if let Some(content_type) = content_type {
            request = request.header(reqwest::header::CONTENT_TYPE, content_type);
        }
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        Self::reply(request.send().await.expect("request sent")).await
    }
}

impl Tokens {
    /// The pair of a successful login or refresh reply.
    #[track_caller]
    pub fn from_reply(reply: &Reply) -> Self {
        reply.assert_status(200);
        Tokens {
            access: reply.data()["accessToken"].as_str().expect("accessToken").to_owned(),
            refresh: reply.data()["refreshToken"].as_str().expect("refreshToken").to_owned(),
        }
    }
}

/// Settings that make several test apps instances of one scaled-out deployment: the same
/// Redis keys and the same token secret. Each instance still has its own data dir, so its
/// own SQLite database: what instances share here is Redis state only.
#[derive(Debug, Clone)]
pub struct Deployment {
    pub redis_url: String,
    pub key_prefix: String,
    pub jwt_secret: String,
}

impl Deployment {
    /// A deployment on `redis_url` with keys no other test uses.
    pub fn new(redis_url: &str) -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        Self {
            redis_url: redis_url.to_owned(),
            key_prefix: format!("test-{id}:"),
            jwt_secret: format!("shared-secret-of-deployment-{id}"),
        }
    }

    /// A new instance of the deployment.
    pub async fn instance(&self) -> TestApp {
        self.instance_with(|_| {}).await
    }

    /// A new instance of the deployment, whose config `adjust` may change further.
    pub async fn instance_with(&self, adjust: impl FnOnce(&mut Config)) -> TestApp {
        let settings = self.clone();
        TestApp::spawn_with(move |config| {
            config.redis = Some(tickitecking::config::RedisSettings {
                url: settings.redis_url,
                key_prefix: settings.key_prefix,
            });
            config.jwt_secret = Some(settings.jwt_secret);
            adjust(config);
        })
        .await
    }
}

/// Ends an order's hold now, as if its time had passed: raw SQL on the database of the
/// service in `data_dir` (its sweeper then expires the order within a second).
pub async fn end_hold(data_dir: &Path, order: i64) {
    run_sql(
        data_dir,
        &format!("UPDATE orders SET expires_at = '2000-01-01T00:00:00+00:00' WHERE id = {order}"),
    )
    .await;
}

/// Runs one statement on the database of the service in `data_dir`, behind its back: for
/// moving time on (a hold's end, a concert's start).
pub async fn run_sql(data_dir: &Path, sql: &str) {
    match crate::backend::database_url_for(data_dir).await {
        DatabaseUrl::Postgres { url, .. } => {
            let mut conn = sqlx::PgConnection::connect(&url).await.expect("connect to the test database");
            sqlx::query(sql).execute(&mut conn).await.expect("run the statement");
        }
        DatabaseUrl::Sqlite(url) => {
            let mut conn = sqlx::SqliteConnection::connect(&url).await.expect("open the test database");
            sqlx::query(sql).execute(&mut conn).await.expect("run the statement");
        }
    }
}
