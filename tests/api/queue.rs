//! The on-sale waiting room: fans join a concert's room, are put in a random order when
//! sales open and let in at the room's rate; while the room is on, a booking needs the
//! fan's own pass (403 `QUEUE_PASS_REQUIRED`). The owner watches and steers the room.

use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp};

/// How long a test waits for the ticker (one tick a second) to do something.
const PATIENCE: Duration = Duration::from_secs(20);

/// A hall of `seats` seats in row A and a concert on sale in it from `sales_in` from now,
/// with a waiting room that opened a minute ago (`room` merged into its settings):
/// `(promoter's token, concert id)`.
async fn concert_with_room(app: &TestApp, seats: u32, sales_in: Duration, room: Value) -> (String, i64) {
    let (_, promoter) = app.promoter("room-promoter").await;
    let hall = app
        .post(
            "/api/v1/auditoriums",
            &json!({"name": "Hall", "address": "x", "maxRow": "A", "maxColumn": seats}),
            Some(&promoter),
        )
        .await;
    hall.assert_status(201);
    let now = Utc::now();
    let mut settings = json!({
        "opensAt": (now - chrono::Duration::minutes(1)).to_rfc3339(),
        "admitPerMinute": 60,
        "passMinutes": 5,
    });
    for (key, value) in room.as_object().unwrap() {
        settings[key] = value.clone();
    }
    let created = app
        .post(
            "/api/v1/concerts",
            &json!({
                "name": "Rush", "startTime": "2099-01-01T19:00:00Z", "auditoriumId": hall.data()["id"],
                "salesOpenAt": (now + chrono::Duration::from_std(sales_in).unwrap()).to_rfc3339(),
                "seatPrices": [{"grade": "R", "price": 100}], "seatList": [{"horizontals": ["A"], "grade": "R"}],
                "waitingRoom": settings,
            }),
            Some(&promoter),
        )
        .await;
    created.assert_status(201);
    (promoter, created.data()["id"].as_i64().unwrap())
}

fn queue(concert: i64) -> String {
    format!("/api/v1/concerts/{concert}/queue")
}

async fn book(app: &TestApp, concert: i64, seat: u32, token: &str, pass: Option<&str>) -> Reply {
    let url = app.url(&format!("/api/v1/concerts/{concert}/reservations"));
    let mut request =
        app.client.post(url).bearer_auth(token).json(&json!({"horizontal": "A", "vertical": seat}));
    if let Some(pass) = pass {
        request = request.header("Queue-Pass", pass);
    }
    TestApp::reply(request.send().await.unwrap()).await
}

/// Reads the fan's place until `done` says it is what the test waits for.
async fn place_until(app: &TestApp, concert: i64, token: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let me = app.get(&format!("{}/me", queue(concert)), Some(token)).await;
        me.assert_status(200);
        if done(me.data()) {
            return me.data().clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "still {}", me.data());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn stats_until(app: &TestApp, concert: i64, token: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let stats = app.get(&queue(concert), Some(token)).await;
        stats.assert_status(200);
        if done(stats.data()) {
            return stats.data().clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "still {}", stats.data());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_room_lets_its_fans_in_in_turn_and_only_their_passes_book() {
    let app = TestApp::spawn().await;
    let (promoter, concert) = concert_with_room(&app, 10, Duration::from_secs(3), json!({})).await;
    let detail = app.get(&format!("/api/v1/concerts/{concert}"), None).await;
    assert_eq!(detail.data()["waitingRoom"]["admitPerMinute"], 60);
    let mut fans = Vec::new();
    for name in ["queue-fan-1", "queue-fan-2", "queue-fan-3"] {
        let (_, token) = app.fan(name).await;
        let joined = app.post(&queue(concert), &json!({}), Some(&token)).await;
        joined.assert_status(201);
        assert_eq!(joined.data()["state"], "WAITING");
        assert_eq!(joined.data()["position"], Value::Null, "no order before sales open");
        let again = app.post(&queue(concert), &json!({}), Some(&token)).await;
        again.assert_status(200);
        assert_eq!(again.data()["joinedAt"], joined.data()["joinedAt"], "one place per fan");
        fans.push(token);
    }
    // Before sales open nobody books, pass or not.
    book(&app, concert, 1, &fans[0], None).await.assert_error(409, "SALES_NOT_OPEN");
    let stats = app.get(&queue(concert), Some(&promoter)).await;
    assert_eq!(stats.data()["state"], "OPEN");
    assert_eq!(stats.data()["joined"], 3);
    // A fan does not see the room's stats nor steer it.
    app.get(&queue(concert), Some(&fans[0])).await.assert_status(403);
    app.patch(&queue(concert), &json!({"paused": true}), Some(&fans[0])).await.assert_status(403);

    // Sales open: positions 1..3 in some order, then one fan a second is let in.
    let first = stats_until(&app, concert, &promoter, |s| s["admitted"].as_u64() >= Some(1)).await;
    assert_eq!(first["state"], "ADMITTING");
    let mut admitted = None;
    for token in &fans {
        let me =
            place_until(&app, concert, token, |p| p["state"] == "ADMITTED" || p["position"].is_u64()).await;
        if me["state"] == "ADMITTED" && admitted.is_none() {
            assert!(me["pass"].is_string() && me["passExpiresAt"].is_string(), "{me}");
            admitted = Some((token.clone(), me["pass"].as_str().unwrap().to_owned()));
        }
    }
    let (lucky, pass) = admitted.expect("someone was let in");
    let other = fans.iter().find(|t| **t != lucky).unwrap();
    book(&app, concert, 1, &lucky, None).await.assert_error(403, "QUEUE_PASS_REQUIRED");
    book(&app, concert, 1, &lucky, Some("qp1.1.2.3.forged")).await.assert_error(403, "QUEUE_PASS_REQUIRED");
    book(&app, concert, 1, other, Some(&pass)).await.assert_error(403, "QUEUE_PASS_REQUIRED");
    book(&app, concert, 1, &lucky, Some(&pass)).await.assert_status(201);

    // The owner steers: a bad rate is refused, a pause holds, the end lets everyone book.
    app.patch(&queue(concert), &json!({"admitPerMinute": 0}), Some(&promoter))
        .await
        .assert_error(400, "VALIDATION_FAILED");
    app.patch(&queue(concert), &json!({"ended": false}), Some(&promoter)).await.assert_status(400);
    let paused =
        app.patch(&queue(concert), &json!({"paused": true, "admitPerMinute": 120}), Some(&promoter)).await;
    paused.assert_status(200);
    assert_eq!(paused.data()["state"], "PAUSED");
    assert_eq!(paused.data()["admitPerMinute"], 120);
    let ended = app.patch(&queue(concert), &json!({"ended": true}), Some(&promoter)).await;
    assert_eq!(ended.data()["state"], "ENDED");
    assert_eq!(ended.data()["endedBy"], "OWNER");
    book(&app, concert, 2, other, None).await.assert_status(201);
    let me = app.get(&format!("{}/me", queue(concert)), Some(other)).await;
    assert!(me.data()["state"] == "ADMITTED", "{}", me.data());
    let (_, late) = app.fan("queue-fan-late").await;
    app.post(&queue(concert), &json!({}), Some(&late)).await.assert_error(409, "QUEUE_ENDED");
    app.patch(&queue(concert), &json!({"paused": false}), Some(&promoter))
        .await
        .assert_error(409, "QUEUE_ENDED");
}

#[tokio::test]
async fn a_room_is_refused_when_its_settings_do_not_hold_and_before_it_opens() {
    let app = TestApp::spawn().await;
    let (_, promoter) = app.promoter("room-rules").await;
    let hall = app
        .post(
            "/api/v1/auditoriums",
            &json!({"name": "H", "address": "x", "maxRow": "A", "maxColumn": 2}),
            Some(&promoter),
        )
        .await;
    let base = json!({
        "name": "Bad room", "startTime": "2099-01-01T19:00:00Z", "auditoriumId": hall.data()["id"],
        "seatPrices": [{"grade": "R", "price": 100}], "seatList": [{"horizontals": ["A"], "grade": "R"}],
    });
    let with = |extra: Value| {
        let mut body = base.clone();
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let room = json!({"opensAt": "2098-01-01T09:00:00Z", "admitPerMinute": 100, "passMinutes": 10});
    for (body, field) in [
        (with(json!({"waitingRoom": room})), "salesOpenAt"),
        (with(json!({"salesOpenAt": "2098-01-01T08:00:00Z", "waitingRoom": room})), "waitingRoom.opensAt"),
        (
            with(json!({"salesOpenAt": "2098-01-01T10:00:00Z",
                        "waitingRoom": {"opensAt": "2098-01-01T09:00:00Z", "admitPerMinute": 0, "passMinutes": 10}})),
            "waitingRoom.admitPerMinute",
        ),
        (
            with(json!({"salesOpenAt": "2098-01-01T10:00:00Z",
                        "waitingRoom": {"opensAt": "2098-01-01T09:00:00Z", "admitPerMinute": 5}})),
            "waitingRoom.passMinutes",
        ),
    ] {
        let refused = app.post("/api/v1/concerts", &body, Some(&promoter)).await;
        refused.assert_error(400, "VALIDATION_FAILED");
        assert!(refused.error_fields().contains(&field.to_owned()), "{field}: {:?}", refused.body);
    }
    let listed = app.get("/api/v1/concerts", None).await;
    assert_eq!(listed.data()["totalElements"], 0, "nothing was created");

    // A room that opens later refuses joins until then; a concert without one has none.
    let later = app
        .post(
            "/api/v1/concerts",
            &with(json!({"salesOpenAt": "2098-01-01T10:00:00Z", "waitingRoom": room})),
            Some(&promoter),
        )
        .await;
    later.assert_status(201);
    let plain = app.post("/api/v1/concerts", &base, Some(&promoter)).await;
    let (_, fan) = app.fan("room-early").await;
    let id = later.data()["id"].as_i64().unwrap();
    app.post(&queue(id), &json!({}), Some(&fan)).await.assert_error(409, "QUEUE_NOT_OPEN");
    app.get(&format!("{}/me", queue(id)), Some(&fan)).await.assert_status(404);
    let plain = plain.data()["id"].as_i64().unwrap();
    app.post(&queue(plain), &json!({}), Some(&fan)).await.assert_status(404);
    app.post(&queue(id), &json!({}), None).await.assert_status(401);
    // A concert without a room books without a pass.
    book(&app, plain, 1, &fan, None).await.assert_status(201);
}

#[tokio::test]
async fn when_the_concert_sells_out_the_fans_still_waiting_hear_so() {
    let app = TestApp::spawn().await;
    // One seat; a fan every two seconds.
    let (promoter, concert) =
        concert_with_room(&app, 1, Duration::from_secs(2), json!({"admitPerMinute": 30})).await;
    let mut fans = Vec::new();
    for i in 0..6 {
        let (_, token) = app.fan(&format!("sellout-fan-{i}")).await;
        app.post(&queue(concert), &json!({}), Some(&token)).await.assert_status(201);
        fans.push(token);
    }
    stats_until(&app, concert, &promoter, |s| s["admitted"].as_u64() >= Some(1)).await;
    let mut booked = false;
    for token in &fans {
        let me = app.get(&format!("{}/me", queue(concert)), Some(token)).await;
        if let Some(pass) = me.data()["pass"].as_str() {
            book(&app, concert, 1, token, Some(pass)).await.assert_status(201);
            booked = true;
            break;
        }
    }
    assert!(booked);
    let ended = stats_until(&app, concert, &promoter, |s| s["state"] == "ENDED").await;
    assert_eq!(ended["endedBy"], "SOLD_OUT");
    assert!(ended["waiting"].as_u64().unwrap() >= 1, "{ended}");
    let mut sold_out = 0;
    for token in &fans {
        let me = app.get(&format!("{}/me", queue(concert)), Some(token)).await;
        assert!(["ADMITTED", "SOLD_OUT"].contains(&me.data()["state"].as_str().unwrap()), "{}", me.data());
        sold_out += usize::from(me.data()["state"] == "SOLD_OUT");
    }
    assert_eq!(sold_out as u64, ended["waiting"].as_u64().unwrap());
}

#[tokio::test]
async fn a_restart_keeps_every_place() {
    let app = TestApp::spawn().await;
    let (_, concert) = concert_with_room(&app, 5, Duration::from_secs(3600), json!({})).await;
    let mut fans = Vec::new();
    for i in 0..3 {
        let (_, token) = app.fan(&format!("restart-fan-{i}")).await;
        let joined = app.post(&queue(concert), &json!({}), Some(&token)).await;
        fans.push((token, joined.data()["joinedAt"].clone()));
    }
    let dir = app.stop().await;
    let app = TestApp::spawn_in(dir, |_| {}).await;
    for (token, joined_at) in &fans {
        let me = app.get(&format!("{}/me", queue(concert)), Some(token)).await;
        me.assert_status(200);
        assert_eq!(&me.data()["joinedAt"], joined_at);
        let again = app.post(&queue(concert), &json!({}), Some(token)).await;
        again.assert_status(200);
        assert_eq!(&again.data()["joinedAt"], joined_at);
    }
}

#[tokio::test]
async fn a_fans_place_streams_live_until_they_are_let_in() {
    let app = TestApp::spawn().await;
    let (_, concert) =
        concert_with_room(&app, 5, Duration::from_secs(2), json!({"admitPerMinute": 600})).await;
    let (_, fan) = app.fan("stream-fan").await;
    app.post(&queue(concert), &json!({}), Some(&fan)).await.assert_status(201);
    let url = app.url(&format!("{}/events", queue(concert)));
    let mut response = app.client.get(url).bearer_auth(&fan).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let mut buffer = String::new();
    let mut states = Vec::new();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        while let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            if let Some(data) = event.lines().find_map(|l| l.strip_prefix("data: ")) {
                assert!(event.lines().any(|l| l == "event: place"), "{event}");
                let place: Value = serde_json::from_str(data).unwrap();
                states.push(place["data"]["state"].as_str().unwrap().to_owned());
                if place["data"]["state"] == "ADMITTED" {
                    assert!(place["data"]["pass"].is_string());
                }
            }
        }
        match tokio::time::timeout_at(deadline, response.chunk()).await.expect("an event in time").unwrap() {
            Some(chunk) => buffer.push_str(&String::from_utf8_lossy(&chunk)),
            None => break,
        }
    }
    assert_eq!(states.first().map(String::as_str), Some("WAITING"));
    assert_eq!(
        states.last().map(String::as_str),
        Some("ADMITTED"),
        "the stream ends once let in: {states:?}"
    );
}

/// Scaled out, the line lives in Redis; flushed, it is rebuilt from the database with
/// every place as it was. (PostgreSQL pass: two instances on one database and one Redis.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flushed_redis_loses_no_place() {
    let Some((a, b, _dir)) = crate::scale_out::two_instances().await else { return };
    let (promoter, concert) =
        concert_with_room(&a, 5, Duration::from_secs(2), json!({"admitPerMinute": 60})).await;
    let mut fans = Vec::new();
    for i in 0..6 {
        let app = if i % 2 == 0 { &a } else { &b };
        let (_, token) = app.fan(&format!("flush-fan-{i}")).await;
        app.post(&queue(concert), &json!({}), Some(&token)).await.assert_status(201);
        fans.push(token);
    }
    stats_until(&a, concert, &promoter, |s| s["admitted"].as_u64() >= Some(2)).await;
    let before: Vec<Value> = {
        let mut places = Vec::new();
        for token in &fans {
            places.push(a.get(&format!("{}/me", queue(concert)), Some(token)).await.data().clone());
        }
        places
    };
    // Every key of the deployment's room goes, as in a FLUSHALL (other tests share this Redis).
    let redis_url = crate::shared_state::redis_url().unwrap();
    let mut redis = redis::Client::open(redis_url).unwrap().get_multiplexed_async_connection().await.unwrap();
    // Deployments of tests have prefixes `test-<uuid>:`; this test's concert is the only
    // room of its number whose line is in Redis.
    let keys: Vec<String> =
        redis::cmd("KEYS").arg(format!("test-*:queue:{concert}:*")).query_async(&mut redis).await.unwrap();
    assert!(!keys.is_empty(), "the line was in Redis");
    redis::cmd("DEL").arg(&keys).query_async::<()>(&mut redis).await.unwrap();
    for (token, was) in fans.iter().zip(&before) {
        let now = b.get(&format!("{}/me", queue(concert)), Some(token)).await;
        now.assert_status(200);
        assert_eq!(now.data()["joinedAt"], was["joinedAt"]);
        if was["state"] == "ADMITTED" {
            assert_eq!(now.data()["state"], "ADMITTED", "{} then {}", was, now.data());
            assert_eq!(now.data()["pass"], was["pass"]);
        } else if now.data()["state"] == "WAITING" {
            assert!(
                now.data()["position"].as_u64() <= was["position"].as_u64(),
                "{} then {}",
                was,
                now.data()
            );
        }
    }
}
