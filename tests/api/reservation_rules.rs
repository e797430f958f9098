//! Booking and cancelling over HTTP: every answer, every refusal, and what it leaves.

use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::rush::{active, concert};

fn path(concert: i64) -> String {
    format!("/api/v1/concerts/{concert}/reservations")
}

fn seat(h: &str, v: i64) -> Value {
    json!({"horizontal": h, "vertical": v})
}

#[tokio::test]
async fn a_fan_books_a_seat_and_sees_it_taken_on_the_map() {
    let app = TestApp::spawn().await;
    let (_, concert) = concert(&app, 4).await;
    let (fan_id, fan) = app.fan("fan01").await;
    let version = app.get(&format!("/api/v1/concerts/{concert}/seats"), None).await.data()["version"].clone();
    let booked = app.post(&path(concert), &seat("B", 3), Some(&fan)).await;
    booked.assert_status(201);
    let data = booked.data();
    assert_eq!(
        (data["status"].as_str(), data["userId"].as_i64(), data["concertId"].as_i64()),
        (Some("Y"), Some(fan_id), Some(concert))
    );
    assert!(data["id"].is_i64() && data["seatId"].is_i64());
    let map = app.get(&format!("/api/v1/concerts/{concert}/seats"), None).await;
    assert_ne!(map.data()["version"], version);
    assert_eq!(map.data()["rows"][1]["statuses"], "AARAAAAAAA");
    let seed = app.get(&format!("/api/v1/concerts/{concert}/reservations"), None).await;
    assert_eq!(
        seed.data()["unreservableSeats"],
        json!([{"horizontal": "B", "vertical": 3, "status": "RESERVED"}])
    );
    app.post(&path(concert), &seat("B", 3), None).await.assert_error(401, "UNAUTHORIZED");
    app.post(&path(9999), &seat("B", 3), Some(&fan)).await.assert_error(404, "NOT_FOUND");
    app.post(&path(concert), &seat("K", 3), Some(&fan)).await.assert_error(404, "SEAT_NOT_FOUND");
}

#[tokio::test]
async fn a_multi_seat_order_is_all_or_nothing_and_names_the_seats_not_free() {
    let app = TestApp::spawn().await;
    let (_, concert) = concert(&app, 6).await;
    let (_, first) = app.fan("fan01").await;
    let (_, second) = app.fan("fan02").await;
    app.post(&path(concert), &seat("A", 2), Some(&first)).await.assert_status(201);
    let refused = app
        .post(&path(concert), &json!({"seats": [seat("A", 1), seat("A", 2), seat("A", 3)]}), Some(&second))
        .await;
    refused.assert_error(409, "SEAT_TAKEN");
    assert_eq!(refused.error_fields(), ["seats.A-2"]);
    assert_eq!(active(&app, concert).await.len(), 1, "nothing of the refused order was booked");
    let booked =
        app.post(&path(concert), &json!({"seats": [seat("A", 1), seat("A", 3)]}), Some(&second)).await;
    booked.assert_status(201);
    assert_eq!(booked.data()["reservations"].as_array().unwrap().len(), 2);
    let missing =
        app.post(&path(concert), &json!({"seats": [seat("A", 4), seat("K", 1)]}), Some(&second)).await;
    missing.assert_error(404, "SEAT_NOT_FOUND");
    assert_eq!(active(&app, concert).await.len(), 3);
}

#[tokio::test]
async fn the_per_fan_limit_counts_only_active_reservations() {
    let app = TestApp::spawn().await;
    let (_, concert) = concert(&app, 2).await;
    let (_, fan) = app.fan("fan01").await;
    let first = app.post(&path(concert), &seat("A", 1), Some(&fan)).await;
    app.post(&path(concert), &seat("A", 2), Some(&fan)).await.assert_status(201);
    app.post(&path(concert), &seat("A", 3), Some(&fan)).await.assert_error(409, "SEAT_LIMIT");
    app.post(&path(concert), &json!({"seats": [seat("B", 1), seat("B", 2), seat("B", 3)]}), Some(&fan))
        .await
        .assert_error(409, "SEAT_LIMIT");
    let id = first.data()["id"].as_i64().unwrap();
    app.delete(&format!("{}/{id}", path(concert)), Some(&fan)).await.assert_status(200);
    app.post(&path(concert), &seat("A", 3), Some(&fan)).await.assert_status(201);
}

#[tokio::test]
async fn locked_seats_cannot_be_booked_and_reserved_seats_cannot_be_locked() {
    let app = TestApp::spawn().await;
    let (hall, concert) = concert(&app, 4).await;
    let (_, fan) = app.fan("fan01").await;
    let admin = app.admin_token().await;
    let lock = format!("/api/v1/admin/auditoriums/{hall}/seats");
    app.patch(&lock, &seat("C", 1), Some(&admin)).await.assert_status(200);
    app.post(&path(concert), &seat("C", 1), Some(&fan)).await.assert_error(409, "SEAT_LOCKED");
    app.post(&path(concert), &seat("C", 2), Some(&fan)).await.assert_status(201);
    let toggled = app.patch(&lock, &seat("C", 2), Some(&admin)).await;
    toggled.assert_status(200);
    assert_eq!(toggled.data()["concerts"][0]["status"], "RESERVED");
    assert_eq!(toggled.data()["concerts"][0]["changed"], false);
    let map = app.get(&format!("/api/v1/concerts/{concert}/seats"), None).await;
    assert_eq!(map.data()["rows"][2]["statuses"], "LRAAAAAAAA");
}

#[tokio::test]
async fn no_booking_once_the_concert_has_started() {
    let app = TestApp::spawn().await;
    let (_, promoter) = app.promoter("promoter").await;
    let hall = app
        .post(
            "/api/v1/auditoriums",
            &json!({"name": "H", "address": "S", "maxRow": "A", "maxColumn": 2}),
            Some(&promoter),
        )
        .await;
    let start = (chrono::Utc::now() + chrono::Duration::milliseconds(1500)).to_rfc3339();
    let created = app.post("/api/v1/concerts", &json!({
        "name": "Soon", "startTime": start, "auditoriumId": hall.data()["id"],
        "seatPrices": [{"grade": "R", "price": 1}], "seatList": [{"horizontals": ["A"], "grade": "R"}],
    }), Some(&promoter)).await;
    created.assert_status(201);
    let concert = created.data()["id"].as_i64().unwrap();
    let (_, fan) = app.fan("fan01").await;
    let booked = app.post(&path(concert), &seat("A", 1), Some(&fan)).await;
    tokio::time::sleep(std::time::Duration::from_millis(1600)).await;
    app.post(&path(concert), &seat("A", 2), Some(&fan)).await.assert_error(409, "CONCERT_STARTED");
    let id = booked.data()["id"].as_i64().unwrap();
    app.delete(&format!("{}/{id}", path(concert)), Some(&fan)).await.assert_error(409, "CONCERT_STARTED");
}

#[tokio::test]
async fn cancelling_frees_the_seat_at_once_and_twice_answers_the_same() {
    let app = TestApp::spawn().await;
    let (_, concert) = concert(&app, 4).await;
    let (_, owner) = app.fan("owner").await;
    let (_, other) = app.fan("other").await;
    let admin = app.admin_token().await;
    let id = app.post(&path(concert), &seat("D", 4), Some(&owner)).await.data()["id"].as_i64().unwrap();
    let cancel = format!("{}/{id}", path(concert));
    app.delete(&cancel, Some(&other)).await.assert_error(403, "FORBIDDEN");
    app.delete(&format!("{}/{id}", path(concert + 1)), Some(&owner)).await.assert_error(404, "NOT_FOUND");
    let first = app.delete(&cancel, Some(&owner)).await;
    first.assert_status(200);
    assert_eq!(first.data()["status"], "N");
    assert!(first.data()["cancelledAt"].is_string());
    assert_eq!(app.delete(&cancel, Some(&owner)).await.body, first.body);
    assert_eq!(
        app.get(&format!("/api/v1/concerts/{concert}/seats"), None).await.data()["rows"][3]["statuses"],
        "AAAAAAAAAA"
    );
    let rebooked = app.post(&path(concert), &seat("D", 4), Some(&other)).await;
    rebooked.assert_status(201);
    let again = rebooked.data()["id"].as_i64().unwrap();
    app.delete(&format!("{}/{again}", path(concert)), Some(&admin)).await.assert_status(200);
}

#[tokio::test]
async fn histories_show_every_reservation_with_its_concert_hall_seat_and_price() {
    let app = TestApp::spawn().await;
    let (_, concert) = concert(&app, 4).await;
    let (fan_id, fan) = app.fan("fan01").await;
    let first = app.post(&path(concert), &seat("A", 1), Some(&fan)).await.data()["id"].as_i64().unwrap();
    app.post(&path(concert), &seat("A", 2), Some(&fan)).await.assert_status(201);
    app.delete(&format!("{}/{first}", path(concert)), Some(&fan)).await.assert_status(200);
    let mine = app.get("/api/v1/users/my/reservations", Some(&fan)).await;
    mine.assert_status(200);
    let list = mine.data().as_array().unwrap();
    assert_eq!(list.len(), 2);
    let cancelled = list.iter().find(|r| r["id"] == first).unwrap();
    assert_eq!(cancelled["status"], "N");
    assert!(cancelled["cancelledAt"].is_string() && cancelled["createdAt"].is_string());
    assert_eq!(cancelled["concert"]["name"], "Rush Live");
    assert_eq!(cancelled["auditorium"]["name"], "Rush Hall");
    assert_eq!(
        cancelled["seat"],
        json!({"id": cancelled["seat"]["id"], "horizontal": "A", "vertical": 1, "grade": "R"})
    );
    assert_eq!(cancelled["price"], 100);
    app.get("/api/v1/users/my/reservations", None).await.assert_error(401, "UNAUTHORIZED");
    app.get("/api/v1/admin/reservations", Some(&fan)).await.assert_error(403, "FORBIDDEN");
    let admin = app.admin_token().await;
    let all = app.get("/api/v1/admin/reservations", Some(&admin)).await;
    let row = all.data().as_array().unwrap().iter().find(|r| r["id"] == first).unwrap().clone();
    assert_eq!(row["user"]["id"], fan_id);
    assert!(row["reservedTime"].is_string() && row["cancelledTime"].is_string());
}

#[tokio::test]
async fn a_concert_with_active_reservations_cannot_be_deleted() {
    let app = TestApp::spawn().await;
    let (_, concert) = concert(&app, 4).await;
    let (_, fan) = app.fan("fan01").await;
    let promoter = app.login("rush-promoter", crate::helpers::PASSWORD).await.access;
    let id = app.post(&path(concert), &seat("A", 1), Some(&fan)).await.data()["id"].as_i64().unwrap();
    let delete = format!("/api/v1/concerts/{concert}");
    app.delete(&delete, Some(&promoter)).await.assert_error(409, "CONCERT_HAS_RESERVATIONS");
    app.delete(&format!("{}/{id}", path(concert)), Some(&fan)).await.assert_status(200);
    app.delete(&delete, Some(&promoter)).await.assert_status(204);
}

#[tokio::test]
async fn deleting_an_account_gives_its_upcoming_seats_back() {
    let app = TestApp::spawn().await;
    let (_, concert) = concert(&app, 4).await;
    let (_, leaving) = app.fan("leaving").await;
    let (_, staying) = app.fan("staying").await;
    app.post(&path(concert), &seat("E", 5), Some(&leaving)).await.assert_status(201);
    app.post(&path(concert), &seat("E", 5), Some(&staying)).await.assert_error(409, "SEAT_TAKEN");
    app.delete("/api/v1/users/my", Some(&leaving)).await.assert_status(204);
    app.post(&path(concert), &seat("E", 5), Some(&staying)).await.assert_status(201);
    let admin = app.admin_token().await;
    let all = app.get("/api/v1/admin/reservations", Some(&admin)).await;
    let statuses: Vec<&str> =
        all.data().as_array().unwrap().iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["Y", "N"], "the leaver's reservation is kept, cancelled");
}

#[tokio::test]
async fn malformed_orders_are_refused_and_book_nothing() {
    let app = TestApp::spawn().await;
    let (_, concert) = concert(&app, 4).await;
    let (_, fan) = app.fan("fan01").await;
    let too_many: Vec<Value> = (0..101).map(|i| seat("A", i % 10 + 1)).collect();
    let cases = [
        (json!({}), vec!["seats"]),
        (json!({"horizontal": "A"}), vec!["vertical"]),
        (json!({"horizontal": "a", "vertical": 1}), vec!["horizontal"]),
        (json!({"horizontal": "A", "vertical": 0}), vec!["vertical"]),
        (json!({"horizontal": "A", "vertical": 101}), vec!["vertical"]),
        (json!({"horizontal": "A", "vertical": "1"}), vec!["vertical"]),
        (json!({"horizontal": "A", "vertical": 1, "seats": [seat("A", 2)]}), vec!["seats"]),
        (json!({"seats": []}), vec!["seats"]),
        (json!({"seats": too_many}), vec!["seats"]),
        (json!({"seats": [seat("A", 1), seat("A", 1)]}), vec!["seats[1]"]),
    ];
    for (body, fields) in cases {
        let reply = app.post(&path(concert), &body, Some(&fan)).await;
        reply.assert_error(400, "VALIDATION_FAILED");
        assert_eq!(reply.error_fields(), fields, "{body}");
    }
    let bad_key = app
        .client
        .post(app.url(&path(concert)))
        .bearer_auth(&fan)
        .header("Idempotency-Key", "k".repeat(300))
        .json(&seat("A", 1));
    TestApp::reply(bad_key.send().await.unwrap()).await.assert_error(400, "VALIDATION_FAILED");
    assert!(active(&app, concert).await.is_empty());
}

#[tokio::test]
async fn a_booking_pays_the_price_of_the_moment_after_prices_grades_and_rows_change() {
    let app = TestApp::spawn().await;
    let (_, promoter) = app.promoter("promoter").await;
    let hall = app
        .post(
            "/api/v1/auditoriums",
            &json!({"name": "H", "address": "S", "maxRow": "C", "maxColumn": 4}),
            Some(&promoter),
        )
        .await;
    let start = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    let mut body = json!({
        "name": "Repriced", "startTime": start, "auditoriumId": hall.data()["id"],
        "seatPrices": [{"grade": "R", "price": 100}], "seatList": [{"horizontals": ["A", "B"], "grade": "R"}],
    });
    let concert = app.post("/api/v1/concerts", &body, Some(&promoter)).await.data()["id"].as_i64().unwrap();
    let (_, fan) = app.fan("fan01").await;
    let id_of = |booked: crate::helpers::Reply| {
        booked.assert_status(201);
        booked.data()["id"].as_i64().unwrap()
    };
    // The first booking has the writer keep the concert's seats and prices.
    let first = id_of(app.post(&path(concert), &seat("A", 1), Some(&fan)).await);
    // Then R costs more, row B becomes grade S, and row C is added.
    body["seatPrices"] = json!([{"grade": "R", "price": 250}, {"grade": "S", "price": 70}]);
    body["seatList"] =
        json!([{"horizontals": ["A"], "grade": "R"}, {"horizontals": ["B", "C"], "grade": "S"}]);
    app.put(&format!("/api/v1/concerts/{concert}"), &body, Some(&promoter)).await.assert_status(200);
    let repriced = id_of(app.post(&path(concert), &seat("A", 2), Some(&fan)).await);
    let regraded = id_of(app.post(&path(concert), &seat("B", 1), Some(&fan)).await);
    let added = id_of(app.post(&path(concert), &seat("C", 1), Some(&fan)).await);
    let mine = app.get("/api/v1/users/my/reservations", Some(&fan)).await;
    let price = |id: i64| {
        let list = mine.data().as_array().unwrap().clone();
        list.iter().find(|r| r["id"] == id).unwrap()["price"].clone()
    };
    assert_eq!([price(first), price(repriced), price(regraded), price(added)], [100, 250, 70, 70]);
}
