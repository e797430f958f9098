//! Operations and the HTTP edges every route shares: health, readiness, metrics, and the
//! error envelope for unknown routes, wrong methods and bodies that are not acceptable JSON.

use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{PASSWORD, Reply, TestApp};

/// The sum of the samples of `metric` whose labels include every one of `labels`.
fn sample_sum(text: &str, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut found = None;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some(rest) = line.strip_prefix(metric) else { continue };
        let (label_text, value) = match rest.strip_prefix('{') {
            Some(rest) => match rest.split_once("} ") {
                Some(parts) => parts,
                None => continue,
            },
            None => match rest.strip_prefix(' ') {
                Some(value) => ("", value),
                None => continue,
            },
        };
        if labels.iter().all(|(k, v)| label_text.contains(&format!("{k}=\"{v}\""))) {
            let value: f64 = value.trim().parse().expect("a sample value");
            *found.get_or_insert(0.0) += value;
        }
    }
    found
}

async fn metrics(app: &TestApp) -> String {
    let reply = app.get("/metrics", None).await;
    reply.assert_status(200);
    reply.text
}

/// Asserts the reply is an error envelope in JSON with exactly its three fields.
#[track_caller]
fn assert_envelope(reply: &Reply, status: u16, code: &str) {
    reply.assert_error(status, code);
    let content_type = reply.headers["content-type"].to_str().unwrap();
    assert!(content_type.starts_with("application/json"), "{content_type}");
    let mut keys: Vec<&String> = reply.body.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["code", "errors", "message"], "{}", reply.text);
    assert!(!reply.body["message"].as_str().unwrap().is_empty());
}

#[tokio::test]
async fn health_answers_200_ok_without_a_token() {
    let app = TestApp::spawn().await;
    let reply = app.get("/health", None).await;
    reply.assert_status(200);
    assert_eq!(reply.body["status"], "ok");
    // A bad token is no reason to fail a liveness probe.
    app.get("/health", Some("garbage")).await.assert_status(200);
}

#[tokio::test]
async fn ready_answers_200_naming_the_database_backend() {
    let app = TestApp::spawn().await;
    let reply = app.get("/ready", None).await;
    reply.assert_status(200);
    assert_eq!(reply.body["status"], "ready");
    assert_eq!(reply.body["database"], crate::backend::name());
}

#[tokio::test]
async fn metrics_count_requests_by_method_route_template_and_status_with_latency_histograms() {
    let app = TestApp::spawn().await;
    let before = metrics(&app).await;
    let route = [("method", "POST"), ("route", "/api/v1/users/login"), ("status", "401")];
    let counted_before = sample_sum(&before, "http_requests_total", &route).unwrap_or(0.0);
    for _ in 0..3 {
        app.post("/api/v1/users/login", &json!({"username": "nobody", "password": PASSWORD}), None)
            .await
            .assert_status(401);
    }
    let admin = app.admin_token().await;
    app.put("/api/v1/admin/users/424242", &json!({}), Some(&admin)).await.assert_status(400);
    let text = metrics(&app).await;
    let content_type = app.get("/metrics", None).await.headers["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    assert!(text.contains("# TYPE http_requests_total counter"), "{text}");
    assert!(text.contains("# TYPE http_request_duration_seconds histogram"), "{text}");
    let counted = sample_sum(&text, "http_requests_total", &route).expect("the login route is counted");
    assert!(counted >= counted_before + 3.0, "{counted_before} then {counted}");
    // Latency: buckets, sum and count per route and status.
    let buckets = sample_sum(
        &text,
        "http_request_duration_seconds_bucket",
        &[route[0], route[1], route[2], ("le", "+Inf")],
    )
    .expect("a +Inf bucket for the login route");
    let count = sample_sum(&text, "http_request_duration_seconds_count", &route).expect("a count");
    assert_eq!(buckets, count, "the +Inf bucket holds every observation");
    assert!(count >= 3.0);
    assert!(sample_sum(&text, "http_request_duration_seconds_sum", &route).expect("a sum") > 0.0);
    // Routes are labelled by their template, never by the concrete id.
    let template = [("method", "PUT"), ("route", "/api/v1/admin/users/{id}"), ("status", "400")];
    assert!(sample_sum(&text, "http_requests_total", &template).is_some(), "{text}");
    assert!(!text.contains("424242"), "a concrete id leaked into a label");
    // The database pool is reported.
    assert!(text.contains("db_pool_connections"), "{text}");
    // So is the process's resident memory: more than a MiB, less than the machine.
    let resident = sample_sum(&text, "process_resident_memory_bytes", &[]).expect("resident memory");
    assert!((1_048_576.0..64.0 * 1_073_741_824.0).contains(&resident), "{resident}");
}

#[tokio::test]
async fn metrics_show_what_a_durable_booking_waited_for_on_the_embedded_database() {
    let app = TestApp::spawn().await;
    let (_, concert) = crate::rush::concert(&app, 4).await;
    let (_, fan) = app.fan("metered-fan").await;
    let path = format!("/api/v1/concerts/{concert}/reservations");
    app.post(&path, &json!({"horizontal": "A", "vertical": 1}), Some(&fan)).await.assert_status(201);
    let text = metrics(&app).await;
    if crate::backend::name() != "sqlite" {
        // PostgreSQL makes each booking durable in its own commit: no group commit to meter.
        return;
    }
    // The group commit's two waits: the batch holding the database, the fsync of the WAL.
    for histogram in ["booking_batch_seconds", "booking_sync_seconds"] {
        assert!(text.contains(&format!("# TYPE {histogram} histogram")), "{histogram}: {text}");
        let count = sample_sum(&text, &format!("{histogram}_count"), &[]).expect("a count");
        let all = sample_sum(&text, &format!("{histogram}_bucket"), &[("le", "+Inf")]).expect("+Inf");
        assert!(count >= 1.0 && all == count, "{histogram}: {count} observations, +Inf bucket {all}");
        let within = sample_sum(&text, &format!("{histogram}_bucket"), &[("le", "10")]).expect("le 10");
        assert_eq!(within, count, "{histogram}: every observation under 10 s here");
    }
}

/// Bookings that arrive together commit together, on either backend: the writer's
/// batches hold more than one booking each, and every booking is answered once.
#[tokio::test]
async fn bookings_that_arrive_together_commit_in_shared_batches() {
    let app = TestApp::spawn().await;
    let (_, concert) = crate::rush::concert(&app, 4).await;
    let fans = crate::rush::fans(&app, "batched-fan", 40).await;
    let path = format!("/api/v1/concerts/{concert}/reservations");
    let bookings = fans.iter().enumerate().map(|(i, fan)| {
        let row = ["A", "B", "C", "D"][i / 10];
        let body = json!({"horizontal": row, "vertical": i % 10 + 1});
        let path = path.clone();
        let app = &app;
        async move { app.post(&path, &body, Some(fan)).await.status.as_u16() }
    });
    let statuses = futures_util::future::join_all(bookings).await;
    assert!(statuses.iter().all(|s| *s == 201), "{statuses:?}");
    let text = metrics(&app).await;
    let batches = sample_sum(&text, "booking_batch_size_count", &[]).expect("batches counted");
    let booked = sample_sum(&text, "booking_batch_size_sum", &[]).expect("batch sizes summed");
    assert!(booked >= 40.0, "every booking went through a batch: {booked}");
    assert!(batches < booked, "{booked} bookings in {batches} batches: none shared");
}

/// Cancellations that arrive together are written together too, beside bookings of the
/// seats they free, on either backend: every cancellation is answered once, a rebooking
/// gets the seat or a clean 409, and the seat map agrees with what was answered.
#[tokio::test]
async fn cancellations_that_arrive_together_commit_in_shared_batches() {
    let app = TestApp::spawn().await;
    let (_, concert) = crate::rush::concert(&app, 4).await;
    let holders = crate::rush::fans(&app, "cancelling-fan", 20).await;
    let others = crate::rush::fans(&app, "rebooking-fan", 20).await;
    let path = format!("/api/v1/concerts/{concert}/reservations");
    let seat = |i: usize| {
        let row = ["A", "B"][i / 10];
        json!({"horizontal": row, "vertical": i % 10 + 1})
    };
    let mut ids = Vec::new();
    for (i, fan) in holders.iter().enumerate() {
        let booked = app.post(&path, &seat(i), Some(fan)).await;
        booked.assert_status(201);
        ids.push(booked.data()["id"].as_i64().unwrap());
    }
    let before = sample_sum(&metrics(&app).await, "booking_batch_size_count", &[]).unwrap_or(0.0);
    let (app, path) = (&app, &path);
    let cancels = holders
        .iter()
        .zip(&ids)
        .map(|(fan, id)| async move { app.delete(&format!("{path}/{id}"), Some(fan)).await.status.as_u16() });
    let rebookings = others.iter().enumerate().map(|(i, fan)| async move {
        let reply = app.post(path, &seat(i), Some(fan)).await;
        (reply.status.as_u16(), reply.code().to_owned())
    });
    let (cancelled, rebooked) = futures_util::future::join(
        futures_util::future::join_all(cancels),
        futures_util::future::join_all(rebookings),
    )
    .await;
    assert!(cancelled.iter().all(|s| *s == 200), "{cancelled:?}");
    assert!(
        rebooked.iter().all(|(s, code)| *s == 201 || (*s == 409 && code == "SEAT_TAKEN")),
        "{rebooked:?}"
    );
    let batches = sample_sum(&metrics(app).await, "booking_batch_size_count", &[]).unwrap_or(0.0) - before;
    assert!(batches < 40.0, "40 jobs in {batches} batches: none shared");
    let map = app.get(&format!("/api/v1/concerts/{concert}/seats"), None).await;
    let taken = rebooked.iter().filter(|(s, _)| *s == 201).count();
    assert_eq!(crate::shared_state::reserved(&map.body).len(), taken, "{}", map.text);
}

#[tokio::test]
async fn unknown_routes_answer_404_route_not_found_in_the_envelope() {
    let app = TestApp::spawn().await;
    for (method, path) in [
        (Method::GET, "/no/such/route"),
        (Method::GET, "/api/v1"),
        (Method::GET, "/api/v1/users"),
        (Method::POST, "/api/v1/users/signin"),
        (Method::DELETE, "/api/v2/users/my"),
        (Method::GET, "/api/v1/users/my/settings"),
    ] {
        let reply = app.request(method.clone(), path, None, None).await;
        assert_eq!(reply.status, 404, "{method} {path}: {}", reply.text);
        assert_envelope(&reply, 404, "NOT_FOUND");
        assert_eq!(reply.body["message"], "route not found", "{method} {path}");
    }
}

#[tokio::test]
async fn a_known_route_with_a_wrong_method_answers_405_in_the_envelope() {
    let app = TestApp::spawn().await;
    for (method, path) in [
        (Method::DELETE, "/health"),
        (Method::POST, "/ready"),
        (Method::PUT, "/metrics"),
        (Method::GET, "/api/v1/users/signup"),
        (Method::GET, "/api/v1/users/login"),
        (Method::DELETE, "/api/v1/users/token/refresh"),
        (Method::PATCH, "/api/v1/users/my"),
        (Method::POST, "/api/v1/users/my"),
        (Method::GET, "/api/v1/admin/login"),
        (Method::DELETE, "/api/v1/admin/users"),
        (Method::GET, "/api/v1/admin/users/1"),
    ] {
        let reply = app.request(method.clone(), path, None, None).await;
        assert_eq!(reply.status, 405, "{method} {path}: {}", reply.text);
        assert_envelope(&reply, 405, "METHOD_NOT_ALLOWED");
    }
}

#[tokio::test]
async fn a_json_body_needs_a_json_content_type() {
    let app = TestApp::spawn().await;
    app.signup("fan01").await;
    let body = serde_json::to_vec(&json!({"username": "fan01", "password": PASSWORD})).unwrap();
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        Some("application/jsonx"),
    ] {
        let reply = app.send_raw(Method::POST, "/api/v1/users/login", content_type, body.clone(), None).await;
        assert_eq!(reply.status, 415, "{content_type:?}: {}", reply.text);
        assert_envelope(&reply, 415, "UNSUPPORTED_MEDIA_TYPE");
    }
    for content_type in [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/vnd.api+json",
    ] {
        let reply =
            app.send_raw(Method::POST, "/api/v1/users/login", Some(content_type), body.clone(), None).await;
        assert_eq!(reply.status, 200, "{content_type}: {}", reply.text);
    }
}

#[tokio::test]
async fn malformed_json_answers_400_malformed_body() {
    let app = TestApp::spawn().await;
    let bodies: [&[u8]; 6] = [
        b"",
        b"{\"username\":",
        b"{\"username\": \"fan01\"} trailing",
        b"{'username': 'fan01'}",
        b"{\"username\": \"fan01\",}",
        b"{\"username\": \"\xff\xfe\"}",
    ];
    for body in bodies {
        let reply = app
            .send_raw(Method::POST, "/api/v1/users/signup", Some("application/json"), body.to_vec(), None)
            .await;
        assert_eq!(reply.status, 400, "{:?}: {}", String::from_utf8_lossy(body), reply.text);
        assert_envelope(&reply, 400, "MALFORMED_BODY");
    }
    let admin = app.admin_token().await;
    for (method, path) in [(Method::PUT, "/api/v1/users/my"), (Method::PUT, "/api/v1/admin/users/1")] {
        let reply = app.send_raw(method, path, Some("application/json"), b"{".to_vec(), Some(&admin)).await;
        assert_envelope(&reply, 400, "MALFORMED_BODY");
    }
}

#[tokio::test]
async fn a_body_over_64_kib_answers_413() {
    let app = TestApp::spawn().await;
    let body = |size: usize| {
        let filler = "x".repeat(size - r#"{"username": ""}"#.len());
        format!(r#"{{"username": "{filler}"}}"#).into_bytes()
    };
    let reply = app
        .send_raw(Method::POST, "/api/v1/users/signup", Some("application/json"), body(64 * 1024 + 1), None)
        .await;
    assert_envelope(&reply, 413, "PAYLOAD_TOO_LARGE");
    let reply = app
        .send_raw(Method::POST, "/api/v1/users/login", Some("application/json"), body(1024 * 1024), None)
        .await;
    assert_envelope(&reply, 413, "PAYLOAD_TOO_LARGE");
    // At the limit the body is read and judged on its fields.
    let reply = app
        .send_raw(Method::POST, "/api/v1/users/signup", Some("application/json"), body(64 * 1024), None)
        .await;
    reply.assert_error(400, "VALIDATION_FAILED");
    assert!(reply.error_fields().contains(&"username".to_owned()), "{}", reply.text);
}

#[tokio::test]
async fn a_chunked_body_over_64_kib_answers_413_too() {
    let app = TestApp::spawn().await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /api/v1/users/signup HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = "x".repeat(8 * 1024);
    let mut sent = String::from("{\"username\": \"");
    stream.write_all(format!("{:x}\r\n{sent}\r\n", sent.len()).as_bytes()).await.unwrap();
    // 80 KiB in chunks; the server may answer and close before it has read them all.
    for _ in 0..10 {
        if stream.write_all(format!("{:x}\r\n{chunk}\r\n", chunk.len()).as_bytes()).await.is_err() {
            break;
        }
        sent.push_str(&chunk);
    }
    let _ = stream.write_all(b"2\r\n\"}\r\n0\r\n\r\n").await;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    let body: Value = serde_json::from_str(response.split("\r\n\r\n").nth(1).unwrap_or_default().trim())
        .or_else(|_| {
            // The body may itself be chunked: take the JSON object out of it.
            let start = response.find('{').unwrap_or(0);
            let end = response.rfind('}').map_or(response.len(), |i| i + 1);
            serde_json::from_str(&response[start..end])
        })
        .expect("a JSON error body");
    assert_eq!(body["code"], "PAYLOAD_TOO_LARGE", "{response}");
}

#[tokio::test]
async fn every_error_is_a_json_envelope_with_message_code_and_errors() {
    let app = TestApp::spawn().await;
    let (_, fan) = app.fan("fan01").await;
    let cases = [
        (app.post("/api/v1/users/signup", &json!({}), None).await, 400, "VALIDATION_FAILED"),
        (app.get("/api/v1/users/my", None).await, 401, "UNAUTHORIZED"),
        (app.get("/api/v1/users/my", Some("garbage")).await, 401, "TOKEN_INVALID"),
        (
            app.post("/api/v1/users/login", &json!({"username": "fan01", "password": "Wrong#1x"}), None)
                .await,
            401,
            "INVALID_CREDENTIALS",
        ),
        (app.get("/api/v1/admin/users", Some(&fan)).await, 403, "FORBIDDEN"),
        (app.get("/nowhere", None).await, 404, "NOT_FOUND"),
        (app.delete("/api/v1/users/login", None).await, 405, "METHOD_NOT_ALLOWED"),
        (
            app.post(
                "/api/v1/users/signup",
                &json!({"username": "fan01", "password": PASSWORD, "email": "x@example.com"}),
                None,
            )
            .await,
            409,
            "USERNAME_TAKEN",
        ),
    ];
    for (reply, status, code) in cases {
        assert_envelope(&reply, status, code);
    }
    let invalid = app.post("/api/v1/users/signup", &json!({"username": "x"}), None).await;
    for error in invalid.body["errors"].as_array().unwrap() {
        assert!(error["field"].is_string() && error["message"].is_string(), "{error}");
    }
}
