//! Sets up a run's data through the public API: a promoter, a full 26 × 100 venue,
//! concerts, and fans with tokens.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, bail};
use axum::body::Bytes;
use hyper::{Method, StatusCode};
use serde_json::json;

use super::client::{Answer, Connection};
use crate::domain::venue::MAX_SEATS_PER_FAN;

/// Seats per concert: rows A–Z × columns 1–100.
pub const SEATS_PER_CONCERT: usize = 26 * 100;
const PASSWORD: &str = "Bench#Fan2026";

/// What a run works on.
pub struct Fixture {
    pub admin_token: String,
    /// The run's promoter and hall, for concerts made later.
    pub venue: Venue,
    pub concerts: Vec<i64>,
    /// Access tokens of the fans, index = fan number.
    pub fans: Vec<String>,
}

fn expect(answer: Answer, status: StatusCode, what: &str) -> anyhow::Result<serde_json::Value> {
    if answer.status != status {
        bail!("{what}: expected {status}, got {}: {}", answer.status, String::from_utf8_lossy(&answer.body));
    }
    Ok(answer.json())
}

async fn login(conn: &mut Connection, path: &str, username: &str, password: &str) -> anyhow::Result<String> {
    let answer = conn
        .send_json(Method::POST, path, None, &json!({"username": username, "password": password}))
        .await?;
    let body = expect(answer, StatusCode::OK, &format!("logging in as {username}"))?;
    body["data"]["accessToken"].as_str().map(str::to_owned).context("no accessToken")
}

async fn signup(conn: &mut Connection, username: &str) -> anyhow::Result<i64> {
    let answer = conn
        .send_json(
            Method::POST,
            "/api/v1/users/signup",
            None,
            &json!({"username": username, "password": PASSWORD, "email": format!("{username}@bench.example")}),
        )
        .await?;
    let body = expect(answer, StatusCode::CREATED, &format!("signing up {username}"))?;
    body["data"]["id"].as_i64().context("no user id")
}

/// How the run's concerts sell.
pub struct Terms {
    /// Each concert's `maxSeatsPerFan` (clamped to what the service accepts).
    pub seats_per_fan: usize,
    /// `DIRECT` or `PAYMENT`.
    pub checkout: String,
    /// How long a `PAYMENT` concert holds a booking's seats.
    pub hold_minutes: i64,
}

/// Creates everything a run needs. Names carry `run` so runs never collide.
pub async fn prepare(
    address: SocketAddr,
    admin: (&str, &str),
    run: &str,
    concerts: usize,
    fans: usize,
    terms: Terms,
    minted_in: Option<&std::path::Path>,
) -> anyhow::Result<Fixture> {
    let mut conn = Connection::new(address);
    let admin_token = login(&mut conn, "/api/v1/admin/login", admin.0, admin.1).await?;
    let promoter = format!("bp-{run}");
    let promoter_id = signup(&mut conn, &promoter).await?;
    let answer = conn
        .send_json(
            Method::PUT,
            &format!("/api/v1/admin/users/{promoter_id}"),
            Some(&admin_token),
            &json!({"username": promoter, "email": format!("{promoter}@bench.example"), "role": "COMPANY_USER"}),
        )
        .await?;
    expect(answer, StatusCode::OK, "promoting the bench promoter")?;
    let promoter_token = login(&mut conn, "/api/v1/users/login", &promoter, PASSWORD).await?;
    let answer = conn
        .send_json(
            Method::POST,
            "/api/v1/auditoriums",
            Some(&promoter_token),
            &json!({"name": format!("Bench Hall {run}"), "address": "loopback", "maxRow": "Z", "maxColumn": 100}),
        )
        .await?;
    let hall = expect(answer, StatusCode::CREATED, "creating the venue")?["data"]["id"]
        .as_i64()
        .context("venue id")?;
    let venue = Venue { promoter_token, hall, run: run.to_owned(), terms };
    let mut concert_ids = Vec::with_capacity(concerts);
    for i in 0..concerts {
        concert_ids.push(venue.create_concert(&mut conn, i).await?);
    }
    if let Some(data_dir) = minted_in {
        let fans = mint_fans(data_dir, run, fans).await?;
        return Ok(Fixture { admin_token, venue, concerts: concert_ids, fans });
    }
    // Fans sign up and log in a few at a time: each costs the server a password hash.
    let fan_names: Arc<Vec<String>> = Arc::new((0..fans).map(|i| format!("bf-{run}-{i}")).collect());
    let mut tasks = Vec::new();
    let lanes = 4;
    for lane in 0..lanes {
        let names = fan_names.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = Connection::new(address);
            let mut tokens = Vec::new();
            for i in (lane..names.len()).step_by(lanes) {
                signup(&mut conn, &names[i]).await?;
                tokens.push((i, login(&mut conn, "/api/v1/users/login", &names[i], PASSWORD).await?));
            }
            anyhow::Ok(tokens)
        }));
    }
    let mut fans_tokens = vec![String::new(); fans];
    for task in tasks {
        for (i, token) in task.await?? {
            fans_tokens[i] = token;
        }
    }
    Ok(Fixture { admin_token, venue, concerts: concert_ids, fans: fans_tokens })
}

/// A run's promoter and full 26 × 100 hall.
pub struct Venue {
    promoter_token: String,
    hall: i64,
    run: String,
    terms: Terms,
}

impl Venue {
    pub fn promoter_token(&self) -> &str {
        &self.promoter_token
    }

    /// The run's name, part of everything it creates.
    pub fn run(&self) -> &str {
        &self.run
    }

    /// Creates the run's concert number `i`: all 2,600 seats on sale in three grades.
    pub async fn create_concert(&self, conn: &mut Connection, i: usize) -> anyhow::Result<i64> {
        self.create_concert_with(conn, i, json!({})).await
    }

    /// As [`Self::create_concert`], with `extra` fields of the request added (a waiting
    /// room and its `salesOpenAt`).
    pub async fn create_concert_with(
        &self,
        conn: &mut Connection,
        i: usize,
        extra: serde_json::Value,
    ) -> anyhow::Result<i64> {
        let rows = |from: u8, to: u8| (from..=to).map(|b| char::from(b).to_string()).collect::<Vec<_>>();
        let mut body = json!({
            "name": format!("Bench {} #{i}", self.run),
            "description": "load generator concert",
            "startTime": (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339(),
            "auditoriumId": self.hall,
            "maxSeatsPerFan": (self.terms.seats_per_fan as i64).clamp(1, MAX_SEATS_PER_FAN),
            "checkout": self.terms.checkout,
            "holdMinutes": self.terms.hold_minutes,
            "seatPrices": [{"grade": "R", "price": 150000}, {"grade": "S", "price": 120000}, {"grade": "A", "price": 90000}],
            "seatList": [
                {"horizontals": rows(b'A', b'E'), "grade": "R"},
                {"horizontals": rows(b'F', b'P'), "grade": "S"},
                {"horizontals": rows(b'Q', b'Z'), "grade": "A"},
            ],
        });
        if let (Some(body), serde_json::Value::Object(extra)) = (body.as_object_mut(), extra) {
            body.extend(extra);
        }
        let answer =
            conn.send_json(Method::POST, "/api/v1/concerts", Some(&self.promoter_token), &body).await?;
        expect(answer, StatusCode::CREATED, "creating a concert")?["data"]["id"]
            .as_i64()
            .context("concert id")
    }
}

/// The seat at `index` of a concert's 2,600: row-major, `(row letter, column)`.
pub fn seat_at(index: usize) -> (String, usize) {
    let row = char::from(b'A' + u8::try_from(index / 100 % 26).unwrap_or(0));
    (row.to_string(), index % 100 + 1)
}

/// The body of a booking of one seated place.
pub fn seat_body(row: &str, column: usize) -> Bytes {
    Bytes::from(format!(r#"{{"horizontal":"{row}","vertical":{column}}}"#))
}

/// Fans written straight into the embedded database of the service whose data dir is
/// `data_dir`, with access tokens signed by its JWT secret: `fans` accounts in seconds,
/// where signing each up and in over HTTP costs two password hashes (an hour for a room
/// of 100,000). Only the set-up differs; every request measured goes over HTTP as usual.
async fn mint_fans(data_dir: &std::path::Path, run: &str, fans: usize) -> anyhow::Result<Vec<String>> {
    use sqlx::Connection as _;
    let path = data_dir.join("tickitecking.db");
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&path)
        .busy_timeout(std::time::Duration::from_secs(30));
    let mut db = sqlx::SqliteConnection::connect_with(&options)
        .await
        .with_context(|| format!("opening {} to write fans", path.display()))?;
    let hash = crate::auth::password::hash(PASSWORD.to_owned()).await?;
    let now = chrono::Utc::now();
    let mut tx = db.begin().await?;
    for chunk in (0..fans).collect::<Vec<_>>().chunks(500) {
        let values = vec!["(?, ?, ?, 'USER', ?, ?)"; chunk.len()].join(", ");
        let sql = format!(
            "INSERT INTO users (username, password_hash, email, role, created_at, updated_at) VALUES {values}"
        );
        let mut insert = sqlx::query(&sql);
        for i in chunk {
            insert = insert
                .bind(format!("bf-{run}-{i}"))
                .bind(&hash)
                .bind(format!("bf-{run}-{i}@bench.example"))
                .bind(now)
                .bind(now);
        }
        insert.execute(&mut *tx).await?;
    }
    let ids: Vec<(i64, String)> = sqlx::query_as("SELECT id, username FROM users WHERE username LIKE ?")
        .bind(format!("bf-{run}-%"))
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    let secret = crate::auth::load_or_create_secret(None, data_dir)?;
    let keys = crate::auth::token::TokenKeys::new(&secret);
    let mut tokens = vec![String::new(); fans];
    for (id, username) in ids {
        let i: usize = username.rsplit('-').next().context("a minted fan's name")?.parse()?;
        let claims = crate::auth::token::Claims {
            sub: id.to_string(),
            role: crate::domain::user::Role::User,
            typ: crate::auth::token::TokenKind::Access,
            jti: uuid::Uuid::new_v4().to_string(),
            fam: uuid::Uuid::new_v4().to_string(),
            ver: 0,
            iat: now.timestamp(),
            exp: (now + chrono::Duration::hours(6)).timestamp(),
        };
        tokens[i] = keys.sign(&claims)?;
    }
    anyhow::ensure!(tokens.iter().all(|t| !t.is_empty()), "every minted fan has a token");
    Ok(tokens)
}
