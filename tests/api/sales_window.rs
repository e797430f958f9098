//! The on-sale window: a concert sells from `salesOpenAt` until `salesCloseAt`; outside it
//! a booking is refused (409 `SALES_NOT_OPEN` / `SALES_CLOSED`) and the map stays readable.

use serde_json::{Value, json};

use crate::helpers::TestApp;

/// A hall and a concert starting in 2099 with `window` merged into its body.
async fn concert(app: &TestApp, window: Value) -> (String, i64, Value) {
    let (_, promoter) = app.promoter("window-promoter").await;
    let hall = app
        .post(
            "/api/v1/auditoriums",
            &json!({"name": "Hall", "address": "x", "maxRow": "B", "maxColumn": 5}),
            Some(&promoter),
        )
        .await;
    hall.assert_status(201);
    let mut body = json!({
        "name": "Windowed", "startTime": "2099-01-01T19:00:00Z", "auditoriumId": hall.data()["id"],
        "seatPrices": [{"grade": "R", "price": 100}], "seatList": [{"horizontals": ["A", "B"], "grade": "R"}],
    });
    for (key, value) in window.as_object().unwrap() {
        body[key] = value.clone();
    }
    let created = app.post("/api/v1/concerts", &body, Some(&promoter)).await;
    created.assert_status(201);
    let id = created.data()["id"].as_i64().unwrap();
    (promoter, id, body)
}

fn path(concert: i64) -> String {
    format!("/api/v1/concerts/{concert}/reservations")
}

#[tokio::test]
async fn a_concert_sells_from_creation_until_its_start_by_default() {
    let app = TestApp::spawn().await;
    let (_, id, _) = concert(&app, json!({})).await;
    let detail = app.get(&format!("/api/v1/concerts/{id}"), None).await;
    assert_eq!(detail.data()["salesCloseAt"], "2099-01-01T19:00:00Z");
    let opens = chrono::DateTime::parse_from_rfc3339(detail.data()["salesOpenAt"].as_str().unwrap()).unwrap();
    assert!(opens <= chrono::Utc::now(), "on sale since it was put up");
    let listed = app.get("/api/v1/concerts", None).await;
    assert_eq!(listed.data()["content"][0]["salesCloseAt"], "2099-01-01T19:00:00Z");
    let (_, fan) = app.fan("early-bird").await;
    app.post(&path(id), &json!({"horizontal": "A", "vertical": 1}), Some(&fan)).await.assert_status(201);
}

#[tokio::test]
async fn before_its_sales_open_a_concert_refuses_bookings_and_shows_its_map() {
    let app = TestApp::spawn().await;
    let (promoter, id, mut body) = concert(&app, json!({"salesOpenAt": "2098-06-01T10:00:00Z"})).await;
    let detail = app.get(&format!("/api/v1/concerts/{id}"), None).await;
    assert_eq!(detail.data()["salesOpenAt"], "2098-06-01T10:00:00Z");
    let (_, fan) = app.fan("too-early").await;
    for order in [
        json!({"horizontal": "A", "vertical": 1}),
        json!({"seats": [{"horizontal": "A", "vertical": 2}, {"horizontal": "B", "vertical": 2}]}),
    ] {
        let refused = app.post(&path(id), &order, Some(&fan)).await;
        refused.assert_error(409, "SALES_NOT_OPEN");
        assert!(refused.body["message"].as_str().unwrap().contains("2098-06-01T10:00:00Z"), "{order}");
    }
    app.get(&format!("/api/v1/concerts/{id}/seats"), None).await.assert_status(200);
    assert!(
        app.get(&format!("/api/v1/concerts/{id}/seats"), None).await.data()["rows"][0]["statuses"] == "AAAAA"
    );
    // Opened now by its promoter: on sale at once.
    body["salesOpenAt"] = json!("2001-01-01T00:00:00Z");
    app.put(&format!("/api/v1/concerts/{id}"), &body, Some(&promoter)).await.assert_status(200);
    app.post(&path(id), &json!({"horizontal": "A", "vertical": 1}), Some(&fan)).await.assert_status(201);
}

#[tokio::test]
async fn after_its_sales_close_a_concert_refuses_bookings() {
    let app = TestApp::spawn().await;
    let (_, id, _) = concert(&app, json!({"salesCloseAt": "2001-01-01T00:00:00Z"})).await;
    let (_, fan) = app.fan("too-late").await;
    app.post(&path(id), &json!({"horizontal": "A", "vertical": 1}), Some(&fan))
        .await
        .assert_error(409, "SALES_CLOSED");
    app.post(&path(id), &json!({"seats": [{"horizontal": "A", "vertical": 1}]}), Some(&fan))
        .await
        .assert_error(409, "SALES_CLOSED");
}

#[tokio::test]
async fn a_window_must_lie_before_the_start_and_open_before_it_closes() {
    let app = TestApp::spawn().await;
    let (promoter, id, body) = concert(&app, json!({})).await;
    for (window, field) in [
        (json!({"salesCloseAt": "2099-01-02T00:00:00Z"}), "salesCloseAt"),
        (
            json!({"salesOpenAt": "2098-01-02T00:00:00Z", "salesCloseAt": "2098-01-01T00:00:00Z"}),
            "salesOpenAt",
        ),
        (json!({"salesOpenAt": "next week"}), "salesOpenAt"),
    ] {
        let mut bad = body.clone();
        for (key, value) in window.as_object().unwrap() {
            bad[key] = value.clone();
        }
        let refused = app.post("/api/v1/concerts", &bad, Some(&promoter)).await;
        refused.assert_error(400, "VALIDATION_FAILED");
        assert_eq!(refused.error_fields(), [field], "{window}");
        let refused = app.put(&format!("/api/v1/concerts/{id}"), &bad, Some(&promoter)).await;
        refused.assert_error(400, "VALIDATION_FAILED");
    }
    assert_eq!(app.get("/api/v1/concerts", None).await.data()["totalElements"], 1, "nothing created");
}
