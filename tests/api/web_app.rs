//! What the web app adds to the API: the live seat-map stream, promoters' sales figures,
//! and the pages themselves (served with their security headers, API 404s untouched).

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::TestApp;

/// A promoter's hall (rows A–C × 4 seats) and a concert selling rows A (grade R at 150) and
/// B (grade S at 90.5): `(promoter token, concert id)`.
async fn concert(app: &TestApp) -> (String, i64) {
    let (_, promoter) = app.promoter("web-promoter").await;
    let hall = app
        .post(
            "/api/v1/auditoriums",
            &json!({"name": "Web Hall", "address": "Seoul", "maxRow": "C", "maxColumn": 4}),
            Some(&promoter),
        )
        .await;
    hall.assert_status(201);
    let created = app
        .post(
            "/api/v1/concerts",
            &json!({
                "name": "Web Live", "description": "", "startTime": "2099-06-01T19:00:00Z",
                "auditoriumId": hall.data()["id"],
                "seatPrices": [{"grade": "R", "price": 150}, {"grade": "S", "price": 90.5}],
                "seatList": [{"horizontals": ["A"], "grade": "R"}, {"horizontals": ["B"], "grade": "S"}],
            }),
            Some(&promoter),
        )
        .await;
    created.assert_status(201);
    (promoter, created.data()["id"].as_i64().unwrap())
}

fn seats(list: &[(&str, i64)]) -> Value {
    json!({"seats": list.iter().map(|(h, v)| json!({"horizontal": h, "vertical": v})).collect::<Vec<_>>()})
}

#[tokio::test]
async fn sales_count_sold_and_locked_seats_and_revenue_by_grade_for_owner_and_admin_only() {
    let app = TestApp::spawn().await;
    let (promoter, id) = concert(&app).await;
    let (_, fan) = app.fan("web-fan").await;
    let path = format!("/api/v1/concerts/{id}/sales");
    app.post(
        &format!("/api/v1/concerts/{id}/reservations"),
        &seats(&[("A", 1), ("A", 2), ("B", 3)]),
        Some(&fan),
    )
    .await
    .assert_status(201);
    let admin = app.admin_token().await;
    let hall = app.get(&format!("/api/v1/concerts/{id}"), None).await.data()["auditoriumId"].clone();
    app.patch(
        &format!("/api/v1/admin/auditoriums/{hall}/seats"),
        &json!({"horizontal": "B", "vertical": 4}),
        Some(&admin),
    )
    .await
    .assert_status(200);

    for token in [&promoter, &admin] {
        let sales = app.get(&path, Some(token)).await;
        sales.assert_status(200);
        let d = sales.data();
        assert_eq!(
            (d["concertId"].as_i64(), d["totalSeats"].as_u64(), d["soldSeats"].as_u64()),
            (Some(id), Some(8), Some(3))
        );
        assert_eq!((d["lockedSeats"].as_u64(), d["availableSeats"].as_u64()), (Some(1), Some(4)));
        assert_eq!(d["revenue"], json!(390.5), "2 × 150 + 1 × 90.5");
        assert_eq!(
            d["grades"],
            json!([
                {"grade": "R", "price": 150, "totalSeats": 4, "soldSeats": 2, "lockedSeats": 0, "revenue": 300},
                {"grade": "S", "price": 90.5, "totalSeats": 4, "soldSeats": 1, "lockedSeats": 1, "revenue": 90.5},
            ])
        );
    }
    app.get(&path, None).await.assert_error(401, "UNAUTHORIZED");
    app.get(&path, Some(&fan)).await.assert_error(403, "FORBIDDEN");
    let (_, other) = app.promoter("web-rival").await;
    app.get(&path, Some(&other)).await.assert_error(403, "FORBIDDEN");
    app.get("/api/v1/concerts/999/sales", Some(&admin)).await.assert_error(404, "NOT_FOUND");
    app.get("/api/v1/concerts/x/sales", Some(&admin)).await.assert_error(400, "VALIDATION_FAILED");
}

/// Reads a server-sent event stream until `count` `seats` events came, returning their data.
async fn seat_events(response: &mut reqwest::Response, count: usize) -> Vec<Value> {
    let mut buffer = String::new();
    let mut events = Vec::new();
    while events.len() < count {
        let chunk = tokio::time::timeout(Duration::from_secs(10), response.chunk())
            .await
            .expect("an event within 10 s")
            .expect("stream readable")
            .expect("stream still open");
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            if block.lines().any(|l| l == "event: seats") {
                let data = block.lines().find_map(|l| l.strip_prefix("data: ")).expect("data line");
                events.push(serde_json::from_str(data).expect("JSON data"));
            }
        }
    }
    events
}

#[tokio::test]
async fn the_live_stream_sends_the_map_at_once_and_again_after_each_booking_and_cancel() {
    let app = TestApp::spawn().await;
    let (_, id) = concert(&app).await;
    let (_, fan) = app.fan("web-watcher").await;
    let url = app.url(&format!("/api/v1/concerts/{id}/seats/events"));
    let mut stream = app.client.get(&url).send().await.unwrap();
    assert_eq!(stream.status(), 200);
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    let first = seat_events(&mut stream, 1).await.remove(0);
    assert_eq!(first["data"]["rows"][0]["statuses"], "AAAA");
    let version = first["data"]["version"].as_i64().unwrap();

    let booked = app
        .post(&format!("/api/v1/concerts/{id}/reservations"), &seats(&[("A", 2), ("A", 3)]), Some(&fan))
        .await;
    booked.assert_status(201);
    let after = seat_events(&mut stream, 1).await.remove(0);
    assert_eq!(after["data"]["rows"][0]["statuses"], "ARRA");
    assert!(after["data"]["version"].as_i64().unwrap() > version);

    let reservation = booked.data()["reservations"][0]["id"].as_i64().unwrap();
    app.delete(&format!("/api/v1/concerts/{id}/reservations/{reservation}"), Some(&fan))
        .await
        .assert_status(200);
    let cancelled = seat_events(&mut stream, 1).await.remove(0);
    assert_eq!(cancelled["data"]["rows"][0]["statuses"], "AARA");

    // A reconnect naming the version it has gets nothing until the next change.
    let current = cancelled["data"]["version"].to_string();
    let mut again = app.client.get(&url).header("last-event-id", &current).send().await.unwrap();
    let quiet = tokio::time::timeout(Duration::from_millis(600), seat_events(&mut again, 1)).await;
    assert!(quiet.is_err(), "no map for a client that has the current one");

    app.get("/api/v1/concerts/999/seats/events", None).await.assert_error(404, "NOT_FOUND");
    app.get("/api/v1/concerts/x/seats/events", None).await.assert_error(400, "VALIDATION_FAILED");
    // Open streams do not hold up a graceful shutdown.
    tokio::time::timeout(Duration::from_secs(10), app.stop()).await.expect("shutdown with open streams");
}

#[tokio::test]
async fn pages_come_with_security_headers_and_api_routes_keep_their_json_404() {
    let app = TestApp::spawn().await;
    let html = |path: &str| app.client.get(app.url(path)).header("accept", "text/html,*/*").send();
    for path in ["/", "/concerts/7", "/tickets", "/tickets/7", "/door", "/promoter/venues", "/admin/users"] {
        let page = TestApp::reply(html(path).await.unwrap()).await;
        page.assert_status(200);
        assert!(page.text.contains("<script type=\"module\" src=\"/assets/js/main.js\">"), "{path}");
        let csp = page.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(!csp.contains("unsafe-inline"));
        assert_eq!(page.headers["x-frame-options"], "DENY");
        assert_eq!(page.headers["x-content-type-options"], "nosniff");
        assert!(page.headers.contains_key("referrer-policy"));
    }
    let unknown = TestApp::reply(html("/no/such/page").await.unwrap()).await;
    unknown.assert_status(404);
    assert!(unknown.text.contains("<html"), "a browser gets the app's own not-found page");
    TestApp::reply(html("/api/v1/nope").await.unwrap()).await.assert_error(404, "NOT_FOUND");
    TestApp::reply(html("/favicon.ico").await.unwrap()).await.assert_error(404, "NOT_FOUND");
    app.get("/no/such/route", None).await.assert_error(404, "NOT_FOUND");

    let script = app.get("/assets/js/main.js", None).await;
    script.assert_status(200);
    assert!(script.headers["content-type"].to_str().unwrap().starts_with("text/javascript"));
    let etag = script.headers["etag"].to_str().unwrap().to_owned();
    let cached =
        app.client.get(app.url("/assets/js/main.js")).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(cached.status(), 304);
    app.get("/assets/nope.js", None).await.assert_error(404, "NOT_FOUND");

    // The door scanner's service worker may serve the scanner page, and nothing else.
    let worker = app.get("/assets/js/door_sw.js", None).await;
    worker.assert_status(200);
    assert_eq!(worker.headers["service-worker-allowed"], "/door");
    assert!(!script.headers.contains_key("service-worker-allowed"));
}
