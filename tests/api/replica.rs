//! A read replica (`DATABASE_REPLICA_URL`), on the real streaming replica `scripts/test`
//! starts beside PostgreSQL: the lists that tolerate its lag are read from it, and every
//! read that must see the caller's own write of a moment ago stays on the primary. The
//! replica's lag is made real and as long as a test needs by pausing its replay
//! (`tests/backend`). SQLite has no replica and refuses one.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tickitecking::store::DatabaseUrl;

use crate::backend::{pause_replay, replica_caught_up, replica_url_for};
use crate::helpers::{PASSWORD, Reply, TestApp};

/// A service on PostgreSQL whose replica is the streaming replica; `None` on SQLite.
async fn with_replica() -> Option<TestApp> {
    let dir = tempfile::tempdir().unwrap();
    let replica = replica_url_for(dir.path()).await?;
    let app = TestApp::spawn_in(dir, |config| {
        config.database = config.database.clone().with_replica(Some(&replica)).unwrap();
    })
    .await;
    let ready = app.get("/ready", None).await;
    ready.assert_status(200);
    assert_eq!(ready.body["database"], "postgres");
    Some(app)
}

/// A promoter and their hall (rows A–C × 4 seats): `(promoter token, hall id)`.
async fn hall(app: &TestApp, promoter: &str) -> (String, i64) {
    let (_, token) = app.promoter(promoter).await;
    let hall = app
        .post(
            "/api/v1/auditoriums",
            &json!({"name": "Replica Hall", "address": "Daegu", "maxRow": "C", "maxColumn": 4}),
            Some(&token),
        )
        .await;
    hall.assert_status(201);
    (token, hall.data()["id"].as_i64().unwrap())
}

fn concert_body(hall: i64, name: &str) -> Value {
    json!({
        "name": name, "description": "", "startTime": "2099-03-01T19:00:00Z", "auditoriumId": hall,
        "seatPrices": [{"grade": "R", "price": 100}],
        "seatList": [{"horizontals": ["A", "B", "C"], "grade": "R"}],
    })
}

async fn concert(app: &TestApp, promoter: &str, hall: i64, name: &str) -> i64 {
    let reply = app.post("/api/v1/concerts", &concert_body(hall, name), Some(promoter)).await;
    reply.assert_status(201);
    reply.data()["id"].as_i64().unwrap()
}

async fn book(app: &TestApp, fan: &str, concert: i64, row: &str, column: i64) -> Reply {
    app.post(
        &format!("/api/v1/concerts/{concert}/reservations"),
        &json!({"horizontal": row, "vertical": column}),
        Some(fan),
    )
    .await
}

/// The names in the first page of the concert list, newest first.
async fn listed(app: &TestApp) -> Vec<String> {
    let list = app.get("/api/v1/concerts", None).await;
    list.assert_status(200);
    let names: Vec<String> = list.data()["content"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().into())
        .collect();
    assert_eq!(list.data()["totalElements"], names.len(), "{}", list.text);
    names
}

/// The ids of every reservation, as the admin lists them.
async fn all_reservations(app: &TestApp, admin: &str) -> Vec<i64> {
    let list = app.get("/api/v1/admin/reservations", Some(admin)).await;
    list.assert_status(200);
    list.data().as_array().unwrap().iter().map(|r| r["id"].as_i64().unwrap()).collect()
}

/// The status letter of one seat in a concert's seat map (`R` taken).
async fn seat_status(app: &TestApp, concert: i64, row: &str, column: usize) -> char {
    let map = app.get(&format!("/api/v1/concerts/{concert}/seats"), None).await;
    map.assert_status(200);
    let rows = map.data()["rows"].as_array().unwrap();
    let line = rows.iter().find(|r| r["horizontal"] == row).unwrap()["statuses"].as_str().unwrap();
    line.chars().nth(column - 1).unwrap()
}

/// The concert list and the admin's list of all reservations come from the replica: what
/// the primary committed while the replica's replay was held is missing from them, and
/// there once the replica has replayed it.
#[tokio::test]
async fn the_concert_list_and_the_admins_reservations_come_from_the_replica() {
    let Some(app) = with_replica().await else {
        let dir = tempfile::tempdir().unwrap();
        let sqlite = DatabaseUrl::parse(None, dir.path()).unwrap();
        assert!(sqlite.with_replica(Some("postgres://replica/db")).is_err());
        return;
    };
    let (promoter, hall) = hall(&app, "replica-promoter").await;
    let first = concert(&app, &promoter, hall, "First Night").await;
    let (_, fan) = app.fan("replica-fan").await;
    let admin = app.admin_token().await;
    let early = book(&app, &fan, first, "A", 1).await;
    early.assert_status(201);
    let early = early.data()["id"].as_i64().unwrap();
    replica_caught_up().await;
    assert_eq!(listed(&app).await, ["First Night"]);
    assert_eq!(all_reservations(&app, &admin).await, [early]);

    let paused = pause_replay().await;
    concert(&app, &promoter, hall, "Second Night").await;
    let late = book(&app, &fan, first, "A", 2).await;
    late.assert_status(201);
    let late = late.data()["id"].as_i64().unwrap();
    assert_eq!(listed(&app).await, ["First Night"], "the replica has not replayed the second concert");
    assert_eq!(all_reservations(&app, &admin).await, [early], "nor the second booking");

    paused.resume().await;
    replica_caught_up().await;
    assert_eq!(all_reservations(&app, &admin).await, [late, early]);
    // The list read above was cached: the service drops it once it sees the replica has
    // caught up, well before the cache's own 30 s expiry.
    let deadline = Instant::now() + Duration::from_secs(10);
    while listed(&app).await != ["Second Night", "First Night"] {
        assert!(Instant::now() < deadline, "the cached list outlived the replica's lag");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// While the replica lags (its replay held), each read of what the caller has just written
/// is current: those reads are the primary's. The list from the replica shows the lag is
/// real.
#[tokio::test]
async fn reads_of_ones_own_writes_stay_on_the_primary_while_the_replica_lags() {
    let Some(app) = with_replica().await else { return };
    let (promoter, hall) = hall(&app, "lag-promoter").await;
    let admin = app.admin_token().await;
    let paused = pause_replay().await;

    // Accounts and sessions: a signup logs in at once, a profile change is read back, a
    // refresh and a logout take effect at once.
    let user = app.signup("lag-fan").await;
    let tokens = app.login("lag-fan", PASSWORD).await;
    let me = app.get("/api/v1/users/my", Some(&tokens.access)).await;
    me.assert_status(200);
    assert_eq!(me.data()["id"], user["id"]);
    let profile = json!({"email": "lag-fan@example.com", "nickname": "Laggard"});
    app.put("/api/v1/users/my", &profile, Some(&tokens.access)).await.assert_status(200);
    assert_eq!(app.get("/api/v1/users/my", Some(&tokens.access)).await.data()["nickname"], "Laggard");
    let renewed = app.refresh(&tokens.refresh).await;
    renewed.assert_status(200);
    let fan = renewed.data()["accessToken"].as_str().unwrap().to_owned();
    app.get("/api/v1/users/my", Some(&fan)).await.assert_status(200);
    let (_, other) = app.fan("lag-other").await;
    app.post("/api/v1/users/logout", &json!({}), Some(&other)).await.assert_status(204);
    app.get("/api/v1/users/my", Some(&other)).await.assert_error(401, "TOKEN_INVALID");

    // A concert: created, read back, changed, read back.
    let id = concert(&app, &promoter, hall, "Fresh Night").await;
    let path = format!("/api/v1/concerts/{id}");
    assert_eq!(app.get(&path, None).await.data()["name"], "Fresh Night");
    assert_eq!(seat_status(&app, id, "C", 4).await, 'A');
    app.put(&path, &concert_body(hall, "Renamed Night"), Some(&promoter)).await.assert_status(200);
    assert_eq!(app.get(&path, None).await.data()["name"], "Renamed Night");

    // A booking and its cancellation, each in the fan's history and the seat map at once.
    let booked = book(&app, &fan, id, "B", 3).await;
    booked.assert_status(201);
    let reservation = booked.data()["id"].as_i64().unwrap();
    let mine = app.get("/api/v1/users/my/reservations", Some(&fan)).await;
    assert_eq!(mine.data()[0]["id"], reservation, "{}", mine.text);
    assert_eq!(mine.data()[0]["status"], "Y");
    assert_eq!(seat_status(&app, id, "B", 3).await, 'R');
    let (_, rival) = app.fan("lag-rival").await;
    book(&app, &rival, id, "B", 3).await.assert_error(409, "SEAT_TAKEN");
    app.delete(&format!("{path}/reservations/{reservation}"), Some(&fan)).await.assert_status(200);
    let mine = app.get("/api/v1/users/my/reservations", Some(&fan)).await;
    assert_eq!(mine.data()[0]["status"], "N", "{}", mine.text);
    assert_eq!(seat_status(&app, id, "B", 3).await, 'A');

    // Meanwhile the replica has none of it.
    assert_eq!(listed(&app).await, Vec::<String>::new());
    assert_eq!(all_reservations(&app, &admin).await, Vec::<i64>::new());
    paused.resume().await;
}
