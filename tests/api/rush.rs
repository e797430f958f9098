//! On-sale races over real HTTP: the invariants hold when many requests arrive at once.

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp};

/// A promoter's hall (rows A–J, 10 seats each) with one concert on sale in every row.
pub async fn concert(app: &TestApp, max_seats_per_fan: i64) -> (i64, i64) {
    let (_, promoter) = app.promoter("rush-promoter").await;
    let hall = app
        .post(
            "/api/v1/auditoriums",
            &json!({"name": "Rush Hall", "address": "Seoul", "maxRow": "J", "maxColumn": 10}),
            Some(&promoter),
        )
        .await;
    hall.assert_status(201);
    let hall_id = hall.data()["id"].as_i64().unwrap();
    let concert = app
        .post(
            "/api/v1/concerts",
            &json!({
                "name": "Rush Live", "description": "", "startTime": "2099-01-01T19:00:00Z",
                "auditoriumId": hall_id, "maxSeatsPerFan": max_seats_per_fan,
                "seatPrices": [{"grade": "R", "price": 100}],
                "seatList": [{"horizontals": ["A","B","C","D","E","F","G","H","I","J"], "grade": "R"}],
            }),
            Some(&promoter),
        )
        .await;
    concert.assert_status(201);
    (hall_id, concert.data()["id"].as_i64().unwrap())
}

/// `n` fans signed up and logged in, in parallel: their access tokens.
pub async fn fans(app: &TestApp, prefix: &str, n: usize) -> Vec<String> {
    let mut tasks = Vec::new();
    for i in 0..n {
        let (client, base, name) = (app.client.clone(), app.address.clone(), format!("{prefix}{i}"));
        tasks.push(tokio::spawn(async move {
            let signup = client
                .post(format!("{base}/api/v1/users/signup"))
                .json(
                    &json!({"username": name, "password": PASSWORD, "email": format!("{name}@example.com")}),
                )
                .send()
                .await
                .unwrap();
            let status = signup.status();
            assert_eq!(status, 201, "signup: {}", signup.text().await.unwrap_or_default());
            let login: Value = client
                .post(format!("{base}/api/v1/users/login"))
                .json(&json!({"username": name, "password": PASSWORD}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            login["data"]["accessToken"].as_str().unwrap().to_owned()
        }));
    }
    let mut tokens = Vec::new();
    for task in tasks {
        tokens.push(task.await.unwrap());
    }
    tokens
}

/// Sends every `(token, body)` booking at once; returns `(status, body)` in the same order.
pub async fn book_all(app: &TestApp, concert: i64, orders: Vec<(String, Value)>) -> Vec<(u16, Value)> {
    let url = app.url(&format!("/api/v1/concerts/{concert}/reservations"));
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(orders.len()));
    let tasks: Vec<_> = orders
        .into_iter()
        .map(|(token, body)| {
            let (client, url, barrier) = (app.client.clone(), url.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let response = client.post(url).bearer_auth(token).json(&body).send().await.unwrap();
                let status = response.status().as_u16();
                (status, response.json::<Value>().await.unwrap_or(Value::Null))
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    answers
}

/// Active reservations of a concert as the admin sees them: `(reservation id, seat id)`.
pub async fn active(app: &TestApp, concert: i64) -> Vec<(i64, i64)> {
    let admin = app.admin_token().await;
    let list = app.get("/api/v1/admin/reservations", Some(&admin)).await;
    list.assert_status(200);
    list.data()
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["concert"]["id"] == concert && r["status"] == "Y")
        .map(|r| (r["id"].as_i64().unwrap(), r["seat"]["id"].as_i64().unwrap()))
        .collect()
}

/// Number of `R` characters in the concert's seat map.
pub async fn reserved_on_map(app: &TestApp, concert: i64) -> usize {
    let map = app.get(&format!("/api/v1/concerts/{concert}/seats"), None).await;
    map.assert_status(200);
    map.data()["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["statuses"].as_str().unwrap().matches('R').count())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_fans_on_one_seat_get_exactly_one_booking() {
    let app = TestApp::spawn().await;
    let (_, concert) = concert(&app, 4).await;
    let tokens = fans(&app, "one", 200).await;
    let orders = tokens.into_iter().map(|t| (t, json!({"horizontal": "A", "vertical": 1}))).collect();
    let answers = book_all(&app, concert, orders).await;
    let won = answers.iter().filter(|(s, _)| *s == 201).count();
    let taken = answers.iter().filter(|(s, b)| *s == 409 && b["code"] == "SEAT_TAKEN").count();
    assert_eq!((won, taken), (1, 199), "answers: {answers:?}");
    assert_eq!(active(&app, concert).await.len(), 1);
    assert_eq!(reserved_on_map(&app, concert).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_multi_seat_orders_never_sell_a_seat_twice_nor_half_an_order() {
    let app = TestApp::spawn().await;
    let (_, concert) = concert(&app, 10).await;
    let tokens = fans(&app, "multi", 40).await;
    // Fan i wants seats i%8+1 .. i%8+3 of row (i/8): windows overlap within each row.
    let wanted: Vec<Vec<(String, i64)>> = (0..40)
        .map(|i| {
            let row = char::from(b'A' + (i / 8) as u8).to_string();
            (0..3).map(|k| (row.clone(), (i % 8 + 1 + k) as i64)).collect()
        })
        .collect();
    let orders = tokens
        .iter()
        .zip(&wanted)
        .map(|(t, seats)| {
            let seats: Vec<Value> =
                seats.iter().map(|(h, v)| json!({"horizontal": h, "vertical": v})).collect();
            (t.clone(), json!({"seats": seats}))
        })
        .collect();
    let answers = book_all(&app, concert, orders).await;
    let active = active(&app, concert).await;
    let seats: HashSet<i64> = active.iter().map(|(_, seat)| *seat).collect();
    assert_eq!(seats.len(), active.len(), "a seat was sold twice");
    let active_ids: HashSet<i64> = active.iter().map(|(id, _)| *id).collect();
    let mut booked = 0;
    for (status, body) in &answers {
        match status {
            201 => {
                let reservations = body["data"]["reservations"].as_array().unwrap();
                assert_eq!(reservations.len(), 3, "a whole order: {body}");
                for r in reservations {
                    assert!(active_ids.contains(&r["id"].as_i64().unwrap()));
                }
                booked += 3;
            }
            409 => assert_eq!(body["code"], "SEAT_TAKEN", "{body}"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!(booked > 0);
    assert_eq!(active.len(), booked, "refused orders booked nothing");
    assert_eq!(reserved_on_map(&app, concert).await, booked);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fan_racing_themself_never_passes_the_per_fan_limit() {
    let app = TestApp::spawn().await;
    let (_, concert) = concert(&app, 4).await;
    let (_, token) = app.fan("racer").await;
    let orders = (1..=10)
        .flat_map(|v| [("B", v), ("C", v)])
        .map(|(h, v)| (token.clone(), json!({"horizontal": h, "vertical": v})))
        .collect();
    let answers = book_all(&app, concert, orders).await;
    let won = answers.iter().filter(|(s, _)| *s == 201).count();
    let limited = answers.iter().filter(|(s, b)| *s == 409 && b["code"] == "SEAT_LIMIT").count();
    assert_eq!((won, limited), (4, 16), "answers: {answers:?}");
    let mine = app.get("/api/v1/users/my/reservations", Some(&token)).await;
    let held = mine.data().as_array().unwrap().iter().filter(|r| r["status"] == "Y").count();
    assert_eq!(held, 4);
}

#[tokio::test]
async fn a_retry_with_the_same_idempotency_key_answers_the_first_booking_again() {
    let app = TestApp::spawn().await;
    let (_, concert) = concert(&app, 4).await;
    let (_, token) = app.fan("retrier").await;
    let path = app.url(&format!("/api/v1/concerts/{concert}/reservations"));
    let send = |body: Value, key: &'static str| {
        let request = app.client.post(&path).bearer_auth(&token).header("Idempotency-Key", key).json(&body);
        async move { TestApp::reply(request.send().await.unwrap()).await }
    };
    let first = send(json!({"horizontal": "A", "vertical": 5}), "retry-1").await;
    first.assert_status(201);
    let again = send(json!({"horizontal": "A", "vertical": 5}), "retry-1").await;
    again.assert_status(201);
    assert_eq!(first.body, again.body, "the same answer");
    assert_eq!(active(&app, concert).await.len(), 1, "booked once");
    send(json!({"horizontal": "A", "vertical": 6}), "retry-1")
        .await
        .assert_error(409, "IDEMPOTENCY_KEY_REUSED");
    // Without the key the same request is an ordinary second attempt: taken.
    app.post(
        &format!("/api/v1/concerts/{concert}/reservations"),
        &json!({"horizontal": "A", "vertical": 5}),
        Some(&token),
    )
    .await
    .assert_error(409, "SEAT_TAKEN");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_cancels_and_rebookings_never_leave_a_free_seat_refused() {
    let app = TestApp::spawn().await;
    let (_, concert) = concert(&app, 100).await;
    let tokens = fans(&app, "churn", 6).await;
    let path = format!("/api/v1/concerts/{concert}/reservations");
    for round in 0..15 {
        let seat = json!({"horizontal": "F", "vertical": round % 10 + 1});
        let booked = app.post(&path, &seat, Some(&tokens[0])).await;
        if booked.status != 201 {
            continue; // still held from an earlier round by someone else
        }
        let id = booked.data()["id"].as_i64().unwrap();
        let cancel = {
            let (client, url, token) =
                (app.client.clone(), app.url(&format!("{path}/{id}")), tokens[0].clone());
            tokio::spawn(async move {
                client.delete(url).bearer_auth(token).send().await.unwrap().status().as_u16()
            })
        };
        let attempts =
            book_all(&app, concert, tokens[1..].iter().map(|t| (t.clone(), seat.clone())).collect()).await;
        assert_eq!(cancel.await.unwrap(), 200);
        assert!(attempts.iter().filter(|(s, _)| *s == 201).count() <= 1);
        let holders = active(&app, concert).await.len();
        let map = app.get(&format!("/api/v1/concerts/{concert}/seats"), None).await;
        let reserved = map.data()["rows"][5]["statuses"].as_str().unwrap().as_bytes()[round % 10] == b'R';
        if !reserved {
            // Free by the database: the gate must let the next fan through.
            let last = app.post(&path, &seat, Some(&tokens[5])).await;
            last.assert_status(201);
            let id = last.data()["id"].as_i64().unwrap();
            app.delete(&format!("{path}/{id}"), Some(&tokens[5])).await.assert_status(200);
        }
        assert_eq!(holders, reserved_on_map(&app, concert).await, "map and reservations agree");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_writes_go_through_while_bookings_rush() {
    let app = TestApp::spawn().await;
    let (_, concert) = concert(&app, 4).await;
    let tokens = fans(&app, "busy", 100).await;
    // Every fan books a distinct seat while newcomers sign up and fans edit their profiles:
    // the group commit and the other writes share the database's one write lock in turn.
    let orders: Vec<(String, Value)> = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let row = char::from(b'A' + u8::try_from(i / 10).unwrap()).to_string();
            (t.clone(), json!({"horizontal": row, "vertical": i % 10 + 1}))
        })
        .collect();
    let signups = fans(&app, "late", 20);
    let edits = async {
        let mut statuses = Vec::new();
        for (i, token) in tokens.iter().take(20).enumerate() {
            let reply = app
                .put("/api/v1/users/my", &json!({"email": format!("busy{i}@edited.example")}), Some(token))
                .await;
            statuses.push(reply.status);
        }
        statuses
    };
    let (answers, late, edited) = tokio::join!(book_all(&app, concert, orders), signups, edits);
    assert!(answers.iter().all(|(s, _)| *s == 201), "answers: {answers:?}");
    assert_eq!(late.len(), 20);
    assert!(edited.iter().all(|s| *s == 200), "profile edits: {edited:?}");
    assert_eq!(active(&app, concert).await.len(), 100);
    assert_eq!(reserved_on_map(&app, concert).await, 100);
}
