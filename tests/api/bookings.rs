//! Booking rules the other booking suites leave open: idempotency keys per user and across
//! retries, map versions and ETags, cancelling through the right concert, default and
//! per-concert limits, locks, deleted concerts, seats not on sale; races of cancels,
//! retries, locks and one fan's own multi-seat orders; and clients that hang up while
//! their booking or cancellation commits.

use std::collections::{HashMap, HashSet};

use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp};
use crate::rush::{active, book_all, fans, reserved_on_map};

fn path(concert: i64) -> String {
    format!("/api/v1/concerts/{concert}/reservations")
}

fn seat(h: &str, v: i64) -> Value {
    json!({"horizontal": h, "vertical": v})
}

fn ids(reply: &Reply) -> Vec<i64> {
    match reply.data()["reservations"].as_array() {
        Some(list) => list.iter().map(|r| r["id"].as_i64().unwrap()).collect(),
        None => vec![reply.data()["id"].as_i64().unwrap()],
    }
}

/// A promoter and their hall (rows A–J × 10 seats): `(promoter token, hall id)`.
async fn hall(app: &TestApp) -> (String, i64) {
    let (_, promoter) = app.promoter("booking-promoter").await;
    let hall = app
        .post(
            "/api/v1/auditoriums",
            &json!({"name": "Booking Hall", "address": "Busan", "maxRow": "J", "maxColumn": 10}),
            Some(&promoter),
        )
        .await;
    hall.assert_status(201);
    (promoter, hall.data()["id"].as_i64().unwrap())
}

/// A concert in `hall` selling `rows` (grade R at 100); `max` is its `maxSeatsPerFan`,
/// left out of the request when `None`.
async fn concert_in(app: &TestApp, promoter: &str, hall: i64, rows: &[&str], max: Option<i64>) -> i64 {
    let mut body = json!({
        "name": "Booking Live", "description": "an evening of tests", "startTime": "2099-06-01T19:00:00Z",
        "auditoriumId": hall, "seatPrices": [{"grade": "R", "price": 100}],
        "seatList": [{"horizontals": rows, "grade": "R"}],
    });
    if let Some(max) = max {
        body["maxSeatsPerFan"] = json!(max);
    }
    let created = app.post("/api/v1/concerts", &body, Some(promoter)).await;
    created.assert_status(201);
    created.data()["id"].as_i64().unwrap()
}

/// `POST` a booking with an `Idempotency-Key` header.
async fn post_keyed(app: &TestApp, concert: i64, body: &Value, token: &str, key: &str) -> Reply {
    let request =
        app.client.post(app.url(&path(concert))).bearer_auth(token).header("Idempotency-Key", key).json(body);
    TestApp::reply(request.send().await.unwrap()).await
}

/// The concert's seat map: `(version, ETag header, statuses by row letter)`.
async fn seat_map(app: &TestApp, concert: i64) -> (Value, String, HashMap<String, String>) {
    let map = app.get(&format!("/api/v1/concerts/{concert}/seats"), None).await;
    map.assert_status(200);
    let etag = map.headers["etag"].to_str().unwrap().to_owned();
    let rows = map.data()["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["horizontal"].as_str().unwrap().to_owned(), r["statuses"].as_str().unwrap().to_owned()))
        .collect();
    (map.data()["version"].clone(), etag, rows)
}

#[tokio::test]
async fn an_idempotency_key_belongs_to_its_user_alone() {
    let app = TestApp::spawn().await;
    let (promoter, hall) = hall(&app).await;
    let concert = concert_in(&app, &promoter, hall, &["A", "B"], None).await;
    let (first_id, first) = app.fan("first").await;
    let (second_id, second) = app.fan("second").await;
    let mine = post_keyed(&app, concert, &seat("A", 1), &first, "order-1").await;
    mine.assert_status(201);
    assert_eq!(mine.data()["userId"], first_id);
    // The same key and body from someone else is their own first attempt, not a replay.
    post_keyed(&app, concert, &seat("A", 1), &second, "order-1").await.assert_error(409, "SEAT_TAKEN");
    let theirs = post_keyed(&app, concert, &seat("A", 2), &second, "order-1").await;
    theirs.assert_status(201);
    assert_eq!(theirs.data()["userId"], second_id);
    assert_ne!(theirs.data()["id"], mine.data()["id"]);
    let again = post_keyed(&app, concert, &seat("A", 1), &first, "order-1").await;
    again.assert_status(201);
    assert_eq!(again.body, mine.body, "the first user's retry still answers their booking");
    assert_eq!(active(&app, concert).await.len(), 2);
}

#[tokio::test]
async fn a_retried_multi_seat_order_answers_the_same_reservations_and_books_nothing_more() {
    let app = TestApp::spawn().await;
    let (promoter, hall) = hall(&app).await;
    let concert = concert_in(&app, &promoter, hall, &["A", "B"], None).await;
    let other = concert_in(&app, &promoter, hall, &["A"], None).await;
    let (_, fan) = app.fan("retrier").await;
    let order = json!({"seats": [seat("B", 4), seat("B", 5), seat("B", 6)]});
    let first = post_keyed(&app, concert, &order, &fan, "multi-1").await;
    first.assert_status(201);
    assert_eq!(ids(&first).len(), 3);
    let (version, _, _) = seat_map(&app, concert).await;
    for _ in 0..3 {
        let again = post_keyed(&app, concert, &order, &fan, "multi-1").await;
        again.assert_status(201);
        assert_eq!(again.body, first.body);
    }
    let (after, _, rows) = seat_map(&app, concert).await;
    assert_eq!(after, version, "a replay changes nothing on the map");
    assert_eq!(rows["B"], "AAARRRAAAA");
    let booked: HashSet<i64> = active(&app, concert).await.iter().map(|(id, _)| *id).collect();
    assert_eq!(booked, ids(&first).into_iter().collect());
    // The same key for anything else: another seat list, the single form, another concert.
    for (target, body) in [
        (concert, json!({"seats": [seat("B", 4), seat("B", 5)]})),
        (concert, json!({"seats": [seat("B", 6), seat("B", 5), seat("B", 4)]})),
        (concert, seat("B", 4)),
        (other, order.clone()),
    ] {
        post_keyed(&app, target, &body, &fan, "multi-1").await.assert_error(409, "IDEMPOTENCY_KEY_REUSED");
    }
    assert_eq!(active(&app, concert).await.len(), 3);
    assert!(active(&app, other).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_retries_with_one_key_book_once_and_all_answer_the_same() {
    let app = TestApp::spawn().await;
    let (promoter, hall) = hall(&app).await;
    let concert = concert_in(&app, &promoter, hall, &["C"], None).await;
    let (_, fan) = app.fan("impatient").await;
    let body = json!({"seats": [seat("C", 1), seat("C", 2)]});
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let request = app
                .client
                .post(app.url(&path(concert)))
                .bearer_auth(&fan)
                .header("Idempotency-Key", "same-click")
                .json(&body);
            tokio::spawn(async move { TestApp::reply(request.send().await.unwrap()).await })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    for answer in &answers {
        answer.assert_status(201);
        assert_eq!(answer.body, answers[0].body, "every retry answers the one booking");
    }
    let booked = active(&app, concert).await;
    assert_eq!(booked.len(), 2);
    assert_eq!(
        booked.iter().map(|(id, _)| *id).collect::<HashSet<_>>(),
        ids(&answers[0]).into_iter().collect()
    );
    assert_eq!(reserved_on_map(&app, concert).await, 2);
}

#[tokio::test]
async fn a_retry_after_cancelling_answers_the_first_booking_and_books_nothing() {
    let app = TestApp::spawn().await;
    let (promoter, hall) = hall(&app).await;
    let concert = concert_in(&app, &promoter, hall, &["A"], None).await;
    let (_, fan) = app.fan("changed-mind").await;
    let first = post_keyed(&app, concert, &seat("A", 7), &fan, "k-7").await;
    first.assert_status(201);
    let id = first.data()["id"].as_i64().unwrap();
    app.delete(&format!("{}/{id}", path(concert)), Some(&fan)).await.assert_status(200);
    let late = post_keyed(&app, concert, &seat("A", 7), &fan, "k-7").await;
    late.assert_status(201);
    assert_eq!(late.body, first.body, "the retry answers what the first request answered");
    assert!(active(&app, concert).await.is_empty(), "and does not book the seat again");
    assert_eq!(seat_map(&app, concert).await.2["A"], "AAAAAAAAAA");
}

#[tokio::test]
async fn idempotency_keys_must_be_1_to_255_visible_ascii_characters() {
    let app = TestApp::spawn().await;
    let (promoter, hall) = hall(&app).await;
    let concert = concert_in(&app, &promoter, hall, &["A"], None).await;
    let (_, fan) = app.fan("keyed").await;
    for key in [String::new(), "k".repeat(256), "has space".into(), "tab\tinside".into()] {
        let reply = post_keyed(&app, concert, &seat("A", 1), &fan, &key).await;
        reply.assert_error(400, "VALIDATION_FAILED");
        assert_eq!(reply.error_fields(), ["Idempotency-Key"], "key {key:?}");
    }
    let non_ascii = app
        .client
        .post(app.url(&path(concert)))
        .bearer_auth(&fan)
        .header("Idempotency-Key", reqwest::header::HeaderValue::from_bytes(b"caf\xe9").unwrap())
        .json(&seat("A", 1));
    TestApp::reply(non_ascii.send().await.unwrap()).await.assert_error(400, "VALIDATION_FAILED");
    assert!(active(&app, concert).await.is_empty(), "no refused key booked anything");
    post_keyed(&app, concert, &seat("A", 1), &fan, &"k".repeat(255)).await.assert_status(201);
}

#[tokio::test]
async fn the_seat_map_version_and_etag_change_on_booking_and_on_cancelling() {
    let app = TestApp::spawn().await;
    let (promoter, hall) = hall(&app).await;
    let concert = concert_in(&app, &promoter, hall, &["A", "B"], None).await;
    let (_, fan) = app.fan("mapper").await;
    let seats = format!("/api/v1/concerts/{concert}/seats");
    let conditional = |tag: String| {
        let request = app.client.get(app.url(&seats)).header("If-None-Match", tag);
        async move { TestApp::reply(request.send().await.unwrap()).await }
    };
    let (v0, tag0, rows) = seat_map(&app, concert).await;
    assert_eq!(tag0, format!("\"{v0}\""), "the ETag is the version");
    assert_eq!(rows["B"], "AAAAAAAAAA");
    conditional(tag0.clone()).await.assert_status(304);

    let booked = app.post(&path(concert), &seat("B", 10), Some(&fan)).await;
    booked.assert_status(201);
    let (v1, tag1, rows) = seat_map(&app, concert).await;
    assert_ne!(v1, v0);
    assert_eq!(rows["B"], "AAAAAAAAAR");
    assert_eq!(conditional(tag0).await.status, 200, "the old ETag no longer matches");
    conditional(tag1.clone()).await.assert_status(304);

    let id = booked.data()["id"].as_i64().unwrap();
    app.delete(&format!("{}/{id}", path(concert)), Some(&fan)).await.assert_status(200);
    let (v2, _, rows) = seat_map(&app, concert).await;
    assert!(v2 != v1 && v2 != v0, "every change gets a new version: {v0} {v1} {v2}");
    assert_eq!(rows["B"], "AAAAAAAAAA");
    assert_eq!(conditional(tag1).await.status, 200);
    let unreservable = app.get(&path(concert), None).await;
    assert_eq!(unreservable.data()["unreservableSeats"], json!([]));
}

#[tokio::test]
async fn a_reservation_is_cancelled_only_through_its_own_concert_by_its_owner_or_an_admin() {
    let app = TestApp::spawn().await;
    let (promoter, hall) = hall(&app).await;
    let concert = concert_in(&app, &promoter, hall, &["A"], None).await;
    let other = concert_in(&app, &promoter, hall, &["A"], None).await;
    let (_, owner) = app.fan("owner").await;
    let (_, stranger) = app.fan("stranger").await;
    let admin = app.admin_token().await;
    let id = app.post(&path(concert), &seat("A", 3), Some(&owner)).await.data()["id"].as_i64().unwrap();
    app.post(&path(other), &seat("A", 3), Some(&owner)).await.assert_status(201);
    app.delete(&format!("{}/{id}", path(other)), Some(&owner)).await.assert_error(404, "NOT_FOUND");
    app.delete(&format!("{}/{id}", path(other)), Some(&admin)).await.assert_error(404, "NOT_FOUND");
    app.delete(&format!("{}/999999", path(concert)), Some(&owner)).await.assert_error(404, "NOT_FOUND");
    app.delete(&format!("{}/{id}", path(concert)), None).await.assert_error(401, "UNAUTHORIZED");
    app.delete(&format!("{}/{id}", path(concert)), Some(&stranger)).await.assert_error(403, "FORBIDDEN");
    assert_eq!(active(&app, concert).await.len(), 1, "no refused cancel touched it");
    assert_eq!(active(&app, other).await.len(), 1);

    let cancelled = app.delete(&format!("{}/{id}", path(concert)), Some(&admin)).await;
    cancelled.assert_status(200);
    assert_eq!((cancelled.data()["id"].as_i64(), cancelled.data()["status"].as_str()), (Some(id), Some("N")));
    assert!(cancelled.data()["cancelledAt"].is_string());
    app.delete(&format!("{}/{id}", path(concert)), Some(&stranger)).await.assert_error(403, "FORBIDDEN");
    let again = app.delete(&format!("{}/{id}", path(concert)), Some(&owner)).await;
    again.assert_status(200);
    assert_eq!(again.body, cancelled.body, "the owner sees the admin's cancellation");
    let mine = app.get("/api/v1/users/my/reservations", Some(&owner)).await;
    let row = mine.data().as_array().unwrap().iter().find(|r| r["id"] == id).unwrap().clone();
    assert_eq!(
        (row["status"].clone(), row["cancelledAt"].clone()),
        (json!("N"), cancelled.data()["cancelledAt"].clone())
    );
    app.post(&path(concert), &seat("A", 3), Some(&stranger)).await.assert_status(201);
}

#[tokio::test]
async fn the_per_fan_limit_defaults_to_four_and_counts_each_concert_apart() {
    let app = TestApp::spawn().await;
    let (promoter, hall) = hall(&app).await;
    let concert = concert_in(&app, &promoter, hall, &["A", "B"], None).await;
    let other = concert_in(&app, &promoter, hall, &["A"], Some(1)).await;
    let (_, fan) = app.fan("collector").await;
    app.post(&path(concert), &json!({"seats": [seat("A", 1), seat("A", 2), seat("A", 3)]}), Some(&fan))
        .await
        .assert_status(201);
    app.post(&path(concert), &json!({"seats": [seat("A", 4), seat("A", 5)]}), Some(&fan))
        .await
        .assert_error(409, "SEAT_LIMIT");
    app.post(&path(concert), &seat("A", 4), Some(&fan)).await.assert_status(201);
    let fifth = app.post(&path(concert), &seat("A", 5), Some(&fan)).await;
    fifth.assert_error(409, "SEAT_LIMIT");
    assert!(fifth.body["message"].as_str().unwrap().contains('4'), "{}", fifth.text);
    // Another concert has its own count and its own limit.
    app.post(&path(other), &seat("A", 1), Some(&fan)).await.assert_status(201);
    app.post(&path(other), &seat("A", 2), Some(&fan)).await.assert_error(409, "SEAT_LIMIT");
    assert_eq!(active(&app, concert).await.len(), 4);
    assert_eq!(active(&app, other).await.len(), 1);
    // Another fan is not limited by this one.
    let (_, friend) = app.fan("friend").await;
    app.post(&path(concert), &seat("A", 5), Some(&friend)).await.assert_status(201);
}

#[tokio::test]
async fn a_locked_seat_refuses_every_order_naming_it_until_it_is_unlocked() {
    let app = TestApp::spawn().await;
    let (promoter, hall) = hall(&app).await;
    let concert = concert_in(&app, &promoter, hall, &["A"], None).await;
    let (_, fan) = app.fan("patient").await;
    let admin = app.admin_token().await;
    let lock = format!("/api/v1/admin/auditoriums/{hall}/seats");
    let locked = app.patch(&lock, &seat("A", 5), Some(&admin)).await;
    locked.assert_status(200);
    assert_eq!(locked.data()["concerts"][0]["status"], "LOCKED");
    assert_eq!(locked.data()["concerts"][0]["changed"], true);
    assert_eq!(seat_map(&app, concert).await.2["A"], "AAAALAAAAA");
    app.post(&path(concert), &seat("A", 5), Some(&fan)).await.assert_error(409, "SEAT_LOCKED");
    let order = app.post(&path(concert), &json!({"seats": [seat("A", 4), seat("A", 5)]}), Some(&fan)).await;
    order.assert_error(409, "SEAT_LOCKED");
    assert_eq!(order.error_fields(), ["seats.A-5"]);
    post_keyed(&app, concert, &seat("A", 5), &fan, "locked-1").await.assert_error(409, "SEAT_LOCKED");
    assert!(active(&app, concert).await.is_empty());
    let unreservable = app.get(&path(concert), None).await;
    assert_eq!(
        unreservable.data()["unreservableSeats"],
        json!([{"horizontal": "A", "vertical": 5, "status": "LOCKED"}])
    );

    let unlocked = app.patch(&lock, &seat("A", 5), Some(&admin)).await;
    assert_eq!(unlocked.data()["concerts"][0]["status"], "AVAILABLE");
    app.post(&path(concert), &json!({"seats": [seat("A", 4), seat("A", 5)]}), Some(&fan))
        .await
        .assert_status(201);
    assert_eq!(seat_map(&app, concert).await.2["A"], "AAARRAAAAA");
    let toggled = app.patch(&lock, &seat("A", 5), Some(&admin)).await;
    assert_eq!(
        toggled.data()["concerts"][0],
        json!({
            "concertId": concert, "concertName": "Booking Live", "status": "RESERVED", "changed": false,
        })
    );
    assert_eq!(seat_map(&app, concert).await.2["A"], "AAARRAAAAA", "a reserved seat stays reserved");
}

#[tokio::test]
async fn a_deleted_concert_takes_no_bookings() {
    let app = TestApp::spawn().await;
    let (promoter, hall) = hall(&app).await;
    let concert = concert_in(&app, &promoter, hall, &["A"], None).await;
    let (_, fan) = app.fan("late").await;
    // Warm the gate and the map first: deletion must reach both.
    app.post(&path(concert), &seat("A", 1), Some(&fan)).await.assert_status(201);
    let id = active(&app, concert).await[0].0;
    app.delete(&format!("{}/{id}", path(concert)), Some(&fan)).await.assert_status(200);
    app.delete(&format!("/api/v1/concerts/{concert}"), Some(&promoter)).await.assert_status(204);
    app.post(&path(concert), &seat("A", 2), Some(&fan)).await.assert_error(404, "NOT_FOUND");
    app.post(&path(concert), &json!({"seats": [seat("A", 2), seat("A", 3)]}), Some(&fan))
        .await
        .assert_error(404, "NOT_FOUND");
    post_keyed(&app, concert, &seat("A", 2), &fan, "gone").await.assert_error(404, "NOT_FOUND");
    assert!(active(&app, concert).await.is_empty());
}

#[tokio::test]
async fn a_seat_not_on_sale_is_not_found_and_an_order_naming_it_books_nothing() {
    let app = TestApp::spawn().await;
    let (promoter, hall) = hall(&app).await;
    // The hall has rows A–J; only A and B are on sale.
    let concert = concert_in(&app, &promoter, hall, &["A", "B"], None).await;
    let (_, fan) = app.fan("explorer").await;
    let single = app.post(&path(concert), &seat("C", 1), Some(&fan)).await;
    single.assert_error(404, "SEAT_NOT_FOUND");
    assert_eq!(single.error_fields(), ["seats.C-1"]);
    app.post(&path(concert), &seat("A", 11), Some(&fan)).await.assert_error(404, "SEAT_NOT_FOUND");
    app.post(&path(concert), &seat("Z", 100), Some(&fan)).await.assert_error(404, "SEAT_NOT_FOUND");
    let order = app
        .post(&path(concert), &json!({"seats": [seat("A", 1), seat("C", 1), seat("B", 11)]}), Some(&fan))
        .await;
    order.assert_error(404, "SEAT_NOT_FOUND");
    assert_eq!(order.error_fields(), ["seats.C-1", "seats.B-11"]);
    assert!(active(&app, concert).await.is_empty(), "the real seat of the order was not booked");
    app.post(&path(concert), &seat("A", 1), Some(&fan)).await.assert_status(201);
}

#[tokio::test]
async fn histories_show_each_fan_their_own_reservations_and_admins_everyones() {
    let app = TestApp::spawn().await;
    let (promoter, hall) = hall(&app).await;
    let concert = concert_in(&app, &promoter, hall, &["A", "B"], None).await;
    let (me_id, me) = app.fan("me-fan").await;
    let (you_id, you) = app.fan("you-fan").await;
    let mine =
        ids(&app.post(&path(concert), &json!({"seats": [seat("A", 1), seat("B", 2)]}), Some(&me)).await);
    let yours = ids(&app.post(&path(concert), &seat("A", 2), Some(&you)).await);
    let cancelled = app.delete(&format!("{}/{}", path(concert), mine[0]), Some(&me)).await;

    let list = app.get("/api/v1/users/my/reservations", Some(&me)).await;
    list.assert_status(200);
    let list = list.data().as_array().unwrap().clone();
    let listed: Vec<i64> = list.iter().map(|r| r["id"].as_i64().unwrap()).collect();
    assert_eq!(listed, [mine[1], mine[0]], "only mine, newest first");
    let detail = app.get(&format!("/api/v1/concerts/{concert}"), None).await;
    let active_one = &list[0];
    assert_eq!(
        active_one["concert"],
        json!({"id": concert, "name": "Booking Live", "description": "an evening of tests",
               "startTime": detail.data()["startTime"]})
    );
    assert_eq!(active_one["auditorium"], json!({"id": hall, "name": "Booking Hall", "address": "Busan"}));
    assert_eq!(active_one["seat"]["horizontal"], "B");
    assert_eq!(active_one["seat"]["vertical"], 2);
    assert_eq!(active_one["seat"]["grade"], "R");
    assert_eq!((active_one["status"].as_str(), active_one["price"].as_f64()), (Some("Y"), Some(100.0)));
    assert!(active_one["createdAt"].is_string() && active_one["cancelledAt"].is_null());
    assert_eq!(list[1]["status"], "N");
    assert_eq!(list[1]["cancelledAt"], cancelled.data()["cancelledAt"]);
    let theirs = app.get("/api/v1/users/my/reservations", Some(&you)).await;
    assert_eq!(theirs.data().as_array().unwrap().len(), 1);
    assert_eq!(theirs.data()[0]["id"], yours[0]);

    let admin = app.admin_token().await;
    let all = app.get("/api/v1/admin/reservations", Some(&admin)).await;
    all.assert_status(200);
    let by_id: HashMap<i64, Value> =
        all.data().as_array().unwrap().iter().map(|r| (r["id"].as_i64().unwrap(), r.clone())).collect();
    assert_eq!(by_id.len(), 3);
    assert_eq!(by_id[&yours[0]]["user"]["id"], you_id);
    assert_eq!(by_id[&yours[0]]["user"]["username"], "you-fan");
    assert_eq!(by_id[&mine[0]]["user"]["id"], me_id);
    assert_eq!(by_id[&mine[0]]["status"], "N");
    assert!(by_id[&mine[0]]["cancelledTime"].is_string() && by_id[&mine[1]]["cancelledTime"].is_null());
    assert!(by_id.values().all(|r| r["reservedTime"].is_string() && r["concert"]["id"] == concert));
    app.get("/api/v1/admin/reservations", Some(&promoter)).await.assert_error(403, "FORBIDDEN");
    app.get("/api/v1/admin/reservations", None).await.assert_error(401, "UNAUTHORIZED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_cancels_of_one_reservation_all_answer_the_same_and_free_the_seat_once() {
    let app = TestApp::spawn().await;
    let (promoter, hall) = hall(&app).await;
    let concert = concert_in(&app, &promoter, hall, &["A"], None).await;
    let (_, owner) = app.fan("owner").await;
    let admin = app.admin_token().await;
    let id = app.post(&path(concert), &seat("A", 9), Some(&owner)).await.data()["id"].as_i64().unwrap();
    let (before, _, _) = seat_map(&app, concert).await;
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let token = if i % 2 == 0 { &owner } else { &admin };
            let request = app.client.delete(app.url(&format!("{}/{id}", path(concert)))).bearer_auth(token);
            tokio::spawn(async move { TestApp::reply(request.send().await.unwrap()).await })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    for answer in &answers {
        answer.assert_status(200);
        assert_eq!(answer.body, answers[0].body, "one cancellation, answered alike");
    }
    let (after, _, rows) = seat_map(&app, concert).await;
    assert_eq!(rows["A"], "AAAAAAAAAA");
    assert_eq!(after.as_i64(), before.as_i64().map(|v| v + 1), "the seat was freed exactly once");
    let (_, next) = app.fan("next").await;
    app.post(&path(concert), &seat("A", 9), Some(&next)).await.assert_status(201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locks_racing_bookings_never_leave_a_seat_both_locked_and_reserved() {
    let app = TestApp::spawn().await;
    let (promoter, hall) = hall(&app).await;
    let concert = concert_in(&app, &promoter, hall, &["D"], None).await;
    let tokens = fans(&app, "locker", 24).await;
    let admin = app.admin_token().await;
    let lock = app.url(&format!("/api/v1/admin/auditoriums/{hall}/seats"));
    for column in 1..=4 {
        let target = seat("D", column);
        let toggles: Vec<_> = (0..9)
            .map(|_| {
                let request = app.client.patch(&lock).bearer_auth(&admin).json(&target);
                tokio::spawn(async move { TestApp::reply(request.send().await.unwrap()).await })
            })
            .collect();
        let bookers = tokens[(column as usize - 1) * 6..column as usize * 6].iter();
        let answers = book_all(&app, concert, bookers.map(|t| (t.clone(), target.clone())).collect()).await;
        for toggle in toggles {
            toggle.await.unwrap().assert_status(200);
        }
        let won = answers.iter().filter(|(s, _)| *s == 201).count();
        assert!(won <= 1, "column {column}: {answers:?}");
        for (status, body) in &answers {
            assert!(
                *status == 201
                    || (*status == 409
                        && ["SEAT_TAKEN", "SEAT_LOCKED"].contains(&body["code"].as_str().unwrap())),
                "{status} {body}"
            );
        }
    }
    let held: usize = active(&app, concert).await.len();
    let (_, _, rows) = seat_map(&app, concert).await;
    let row = rows["D"].as_bytes();
    assert_eq!(row.iter().filter(|c| **c == b'R').count(), held, "R exactly for active reservations");
    // A seat shown reserved is not locked by a toggle now, and a free one toggles to locked.
    for column in 1..=4 {
        let toggled = app
            .patch(&format!("/api/v1/admin/auditoriums/{hall}/seats"), &seat("D", column), Some(&admin))
            .await;
        let expected = match row[column as usize - 1] {
            b'R' => json!(["RESERVED", false]),
            b'L' => json!(["AVAILABLE", true]),
            _ => json!(["LOCKED", true]),
        };
        let state = &toggled.data()["concerts"][0];
        assert_eq!(json!([state["status"], state["changed"]]), expected, "column {column}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fan_racing_themself_with_multi_seat_orders_never_passes_the_limit() {
    let app = TestApp::spawn().await;
    let (promoter, hall) = hall(&app).await;
    let concert = concert_in(&app, &promoter, hall, &["E", "F", "G", "H", "I"], Some(5)).await;
    let tokens = fans(&app, "pairs", 6).await;
    // Every fan sends 4 pairs of seats nobody else wants, at once: limit 5 admits 2 pairs.
    let mut orders = Vec::new();
    for (f, token) in tokens.iter().enumerate() {
        for pair in 0..4 {
            let n = (f * 8 + pair * 2) as i64;
            let at = |k: i64| seat(["E", "F", "G", "H", "I"][((n + k) / 10) as usize], (n + k) % 10 + 1);
            orders.push((token.clone(), json!({"seats": [at(0), at(1)]})));
        }
    }
    let answers = book_all(&app, concert, orders).await;
    for (f, per_fan) in answers.chunks(4).enumerate() {
        let won = per_fan.iter().filter(|(s, _)| *s == 201).count();
        let limited = per_fan.iter().filter(|(s, b)| *s == 409 && b["code"] == "SEAT_LIMIT").count();
        assert_eq!((won, limited), (2, 2), "fan {f}: {per_fan:?}");
    }
    for token in &tokens {
        let mine = app.get("/api/v1/users/my/reservations", Some(token)).await;
        let held = mine.data().as_array().unwrap().iter().filter(|r| r["status"] == "Y").count();
        assert_eq!(held, 4);
    }
    assert_eq!(active(&app, concert).await.len(), 24);
    assert_eq!(reserved_on_map(&app, concert).await, 24);
}

/// Sends one raw HTTP/1.1 request (with an `Idempotency-Key` if given) and closes the
/// connection at once, without reading the answer: a client that gives up (a closed tab,
/// a phone losing its signal). The server notices and drops the request's handler.
async fn send_and_hang_up(
    app: &TestApp,
    method: &str,
    path: &str,
    token: &str,
    key: Option<&str>,
    body: Option<&Value>,
) {
    use tokio::io::AsyncWriteExt;
    let body = body.map(Value::to_string).unwrap_or_default();
    let key = key.map(|k| format!("Idempotency-Key: {k}\r\n")).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n{key}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(app.address.trim_start_matches("http://")).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    stream.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_cancel_whose_client_hangs_up_still_frees_the_seat_for_the_next_fan() {
    let app = TestApp::spawn().await;
    let (promoter, hall) = hall(&app).await;
    let concert = concert_in(&app, &promoter, hall, &["A"], Some(10)).await;
    let (_, owner) = app.fan("hang-up").await;
    let (_, next) = app.fan("next-in-line").await;
    for column in 1..=10 {
        let booked = app.post(&path(concert), &seat("A", column), Some(&owner)).await;
        booked.assert_status(201);
        let id = booked.data()["id"].as_i64().unwrap();
        // Someone else tries first: the seat is taken (and the gate knows it).
        app.post(&path(concert), &seat("A", column), Some(&next)).await.assert_error(409, "SEAT_TAKEN");
        let cancel = format!("{}/{id}", path(concert));
        send_and_hang_up(&app, "DELETE", &cancel, &owner, None, None).await;
        // The owner's app tries again: it cancels now, or answers the cancellation the
        // hung-up request made. Either way the seat is free, on the map and for booking.
        let cancelled = app.delete(&cancel, Some(&owner)).await;
        assert_eq!((cancelled.status.as_u16(), cancelled.data()["status"].as_str()), (200, Some("N")));
        let (_, _, rows) = seat_map(&app, concert).await;
        assert_eq!(rows["A"].as_bytes()[column as usize - 1], b'A', "column {column}: {}", rows["A"]);
        app.post(&path(concert), &seat("A", column), Some(&next)).await.assert_status(201);
        assert_eq!(active(&app, concert).await.len(), column as usize, "next holds 1..={column}");
    }
}

#[tokio::test]
async fn a_booking_whose_client_hangs_up_still_shows_on_the_seat_map() {
    let app = TestApp::spawn().await;
    let (promoter, hall) = hall(&app).await;
    let concert = concert_in(&app, &promoter, hall, &["A"], Some(10)).await;
    let (_, fan) = app.fan("hang-up").await;
    for column in 1..=10 {
        // A fresh map in the cache first, so a missed invalidation would show.
        let (_, _, before) = seat_map(&app, concert).await;
        assert_eq!(before["A"].as_bytes()[column as usize - 1], b'A');
        let key = format!("hung-up-{column}");
        send_and_hang_up(&app, "POST", &path(concert), &fan, Some(&key), Some(&seat("A", column))).await;
        // The retry answers the hung-up booking if it committed, or books now: either way
        // the seat is the fan's, once, and the map says so.
        post_keyed(&app, concert, &seat("A", column), &fan, &key).await.assert_status(201);
        assert_eq!(active(&app, concert).await.len(), column as usize);
        let (_, _, rows) = seat_map(&app, concert).await;
        assert_eq!(rows["A"].as_bytes()[column as usize - 1], b'R', "column {column}: {}", rows["A"]);
    }
}

#[tokio::test]
async fn a_seat_map_reader_hanging_up_mid_rebuild_does_not_freeze_the_map() {
    let app = TestApp::spawn().await;
    let (promoter, hall) = hall(&app).await;
    let concert = concert_in(&app, &promoter, hall, &["A"], Some(10)).await;
    let (_, fan) = app.fan("reader").await;
    for column in 1..=5 {
        seat_map(&app, concert).await;
        app.post(&path(concert), &seat("A", column), Some(&fan)).await.assert_status(201);
        // The first reader after the booking rebuilds the map, and hangs up meanwhile.
        send_and_hang_up(&app, "GET", &format!("/api/v1/concerts/{concert}/seats"), &fan, None, None).await;
        // Readers may see the previous snapshot for a moment, never for good.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
        loop {
            let (_, _, rows) = seat_map(&app, concert).await;
            if rows["A"].as_bytes()[column as usize - 1] == b'R' {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "column {column}: the map froze at {}", rows["A"]);
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
}
