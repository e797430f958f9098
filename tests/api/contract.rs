//! The served contract: every SPEC endpoint is routed and documented, every documented
//! operation is served, and every error answers with the envelope.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::TestApp;

/// Every endpoint of SPEC.md, as (method, path template). A route that exists in the spec
/// but is missing from the served OpenAPI document (or not served) fails the test.
const SPEC_ROUTES: &[(&str, &str)] = &[
    ("post", "/api/v1/users/signup"),
    ("post", "/api/v1/users/login"),
    ("post", "/api/v1/users/token/refresh"),
    ("post", "/api/v1/users/logout"),
    ("get", "/api/v1/users/my"),
    ("put", "/api/v1/users/my"),
    ("delete", "/api/v1/users/my"),
    ("get", "/api/v1/users/my/reservations"),
    ("post", "/api/v1/auditoriums"),
    ("get", "/api/v1/auditoriums"),
    ("get", "/api/v1/auditoriums/{id}"),
    ("put", "/api/v1/auditoriums/{id}"),
    ("delete", "/api/v1/auditoriums/{id}"),
    ("post", "/api/v1/concerts"),
    ("get", "/api/v1/concerts"),
    ("get", "/api/v1/concerts/{id}"),
    ("put", "/api/v1/concerts/{id}"),
    ("delete", "/api/v1/concerts/{id}"),
    ("post", "/api/v1/images/upload"),
    ("get", "/api/v1/concerts/{id}/reservations"),
    ("get", "/api/v1/concerts/{id}/seats"),
    ("post", "/api/v1/concerts/{id}/reservations"),
    ("delete", "/api/v1/concerts/{id}/reservations/{reservation_id}"),
    ("post", "/api/v1/admin/login"),
    ("get", "/api/v1/admin/users"),
    ("put", "/api/v1/admin/users/{id}"),
    ("get", "/api/v1/admin/auditoriums"),
    ("patch", "/api/v1/admin/auditoriums/{id}/seats"),
    ("get", "/api/v1/admin/reservations"),
    ("get", "/health"),
    ("get", "/ready"),
    ("get", "/metrics"),
];

async fn document(app: &TestApp) -> Value {
    let doc = app.get("/api-docs/openapi.json", None).await;
    doc.assert_status(200);
    assert!(doc.body["openapi"].as_str().unwrap().starts_with("3."), "OpenAPI 3: {}", doc.text);
    doc.body
}

#[tokio::test]
async fn every_spec_endpoint_is_in_the_openapi_document() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    let missing: Vec<String> = SPEC_ROUTES
        .iter()
        .filter(|(method, path)| doc["paths"][*path][*method].is_null())
        .map(|(method, path)| format!("{method} {path}"))
        .collect();
    assert!(missing.is_empty(), "missing from the OpenAPI document: {missing:?}");
}

#[tokio::test]
async fn every_documented_operation_is_served_and_documents_its_errors() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;
    for (path, operations) in doc["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            let concrete =
                path.replace("{id}", "1").replace("{reservation_id}", "1").replace("{key}", "x.png");
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let body = matches!(method, Method::POST | Method::PUT | Method::PATCH).then(|| json!({}));
            let reply = app.request(method.clone(), &concrete, body.as_ref(), None).await;
            let unrouted = reply.status == 404 && reply.body["message"] == "route not found";
            assert!(
                !unrouted && reply.status != 405,
                "{method} {path} is documented but not served: {}",
                reply.text
            );
            if !["/health", "/ready", "/metrics"].contains(&path.as_str()) {
                let errors = operation["responses"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .filter(|(status, _)| status.starts_with('4'))
                    .filter(|(_, r)| r.to_string().contains("ErrorBody"))
                    .count();
                assert!(errors > 0, "{method} {path} documents no error response");
            }
        }
    }
}

#[tokio::test]
async fn the_interactive_docs_page_is_served() {
    let app = TestApp::spawn().await;
    let mut reply = app.get("/docs", None).await;
    if reply.status.is_redirection() {
        reply = app.get("/docs/", None).await;
    }
    reply.assert_status(200);
    assert!(reply.text.to_lowercase().contains("<html"), "{}", reply.text);
}

#[tokio::test]
async fn health_ready_and_metrics_answer() {
    let app = TestApp::spawn().await;
    app.get("/health", None).await.assert_status(200);
    let ready = app.get("/ready", None).await;
    ready.assert_status(200);
    assert_eq!(ready.body["database"], crate::backend::name());
    app.get("/api/v1/concerts", None).await.assert_status(200);
    let metrics = app.get("/metrics", None).await;
    metrics.assert_status(200);
    assert!(metrics.headers["content-type"].to_str().unwrap().starts_with("text/plain"));
    assert!(
        metrics.text.contains(r#"http_requests_total{method="GET",route="/api/v1/concerts",status="200"}"#),
        "{}",
        metrics.text
    );
    assert!(metrics.text.contains("http_request_duration_seconds_bucket"));
    assert!(metrics.text.contains("db_pool_connections"));
}

#[tokio::test]
async fn unknown_routes_wrong_methods_and_bad_bodies_get_the_error_envelope() {
    let app = TestApp::spawn().await;
    app.get("/no/such/route", None).await.assert_error(404, "NOT_FOUND");
    app.delete("/health", None).await.assert_error(405, "METHOD_NOT_ALLOWED");
    let url = app.url("/api/v1/users/signup");
    let send = |content_type: &'static str, body: Vec<u8>| {
        let request = app.client.post(&url).header("content-type", content_type).body(body);
        async move { TestApp::reply(request.send().await.unwrap()).await }
    };
    send("text/plain", b"{}".to_vec()).await.assert_error(415, "UNSUPPORTED_MEDIA_TYPE");
    send("application/json", b"{\"username\":".to_vec()).await.assert_error(400, "MALFORMED_BODY");
    let typed = send("application/json", br#"{"username": 5}"#.to_vec()).await;
    typed.assert_error(400, "VALIDATION_FAILED");
    assert_eq!(typed.error_fields(), ["username"]);
    let big = format!(r#"{{"username": "{}"}}"#, "x".repeat(70 * 1024));
    send("application/json", big.into_bytes()).await.assert_error(413, "PAYLOAD_TOO_LARGE");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_in_flight_bound_requests_are_shed_at_once_and_the_service_recovers() {
    let app = TestApp::spawn_with(|c| c.limits.max_in_flight = 2).await;
    app.signup("fan01").await;
    let started = std::time::Instant::now();
    let tasks: Vec<_> = (0..24)
        .map(|_| {
            let (client, url) = (app.client.clone(), app.url("/api/v1/users/login"));
            tokio::spawn(async move {
                let body = json!({"username": "fan01", "password": crate::helpers::PASSWORD});
                TestApp::reply(client.post(url).json(&body).send().await.unwrap()).await
            })
        })
        .collect();
    let mut shed = 0;
    for task in tasks {
        let reply = task.await.unwrap();
        match reply.status.as_u16() {
            200 => {}
            503 => {
                reply.assert_error(503, "OVERLOADED");
                assert_eq!(reply.headers["retry-after"], "1");
                shed += 1;
            }
            other => panic!("unexpected {other}: {}", reply.text),
        }
    }
    assert!(shed > 0, "with 2 in flight, some of 24 parallel logins are shed");
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    app.login("fan01", crate::helpers::PASSWORD).await;
}

#[tokio::test]
async fn a_request_past_the_timeout_is_answered_with_503() {
    let app = TestApp::spawn_with(|c| c.limits.request_timeout = std::time::Duration::from_millis(1)).await;
    // Signing up hashes a password: far longer than a millisecond.
    let reply = app
        .post(
            "/api/v1/users/signup",
            &json!({"username": "slow", "password": "Secret#2026", "email": "s@example.com"}),
            None,
        )
        .await;
    reply.assert_error(503, "OVERLOADED");
    // A shed request carries the security headers too.
    crate::hygiene::assert_security_headers(&reply.headers);
}

/// The shared layers answer 503 (shed, timed out) anywhere, 400 for a path parameter that
/// does not parse, and 413/415 for JSON bodies: each operation documents them, and the
/// limited ones document 429, all with `Retry-After` where the service sends it.
#[test]
fn every_operation_documents_the_answers_the_shared_layers_give() {
    let (_, openapi) = tickitecking::http::api();
    let doc = serde_json::to_value(&openapi).unwrap();
    let mut limited = Vec::new();
    for (path, operations) in doc["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            let responses = &operation["responses"];
            let name = format!("{method} {path}");
            // `/ready` documents its own 503 (a backend down); every other one is the shared one.
            let shared = responses["503"]["content"]["application/json"]["schema"]["$ref"]
                .as_str()
                .is_some_and(|r| r.ends_with("/ErrorBody"));
            assert!(responses["503"].is_object(), "{name}: no 503");
            assert!(
                !shared || responses["503"]["headers"]["Retry-After"].is_object(),
                "{name}: 503 without Retry-After"
            );
            assert!(shared || path == "/ready", "{name}: its own 503");
            if path.contains('{') {
                assert!(responses["400"].is_object(), "{name}: no 400 for a bad path parameter");
            }
            if operation["requestBody"]["content"]["application/json"].is_object() {
                assert!(responses["413"].is_object() && responses["415"].is_object(), "{name}: no 413/415");
            }
            if responses["429"].is_object() {
                assert!(
                    responses["429"]["headers"]["Retry-After"].is_object(),
                    "{name}: 429 without Retry-After"
                );
                limited.push(name);
            }
        }
    }
    limited.sort();
    assert_eq!(
        limited,
        [
            "post /api/v1/admin/login",
            "post /api/v1/concerts/{id}/reservations",
            "post /api/v1/users/login",
            "post /api/v1/users/signup"
        ]
    );
}

/// Links lead from a creation to what can be done with what it created (clients and the
/// stateful fuzzer follow them); each names an operation that exists, with its parameters.
#[test]
fn response_links_name_operations_that_exist() {
    let (_, openapi) = tickitecking::http::api();
    let doc = serde_json::to_value(&openapi).unwrap();
    let mut operations = std::collections::HashMap::new();
    for operations_of_path in doc["paths"].as_object().unwrap().values() {
        for operation in operations_of_path.as_object().unwrap().values() {
            operations.insert(operation["operationId"].as_str().unwrap().to_owned(), operation.clone());
        }
    }
    let mut links = 0;
    for operation in operations.values() {
        for response in operation["responses"].as_object().unwrap().values() {
            for (name, link) in response["links"].as_object().into_iter().flatten() {
                let target = &operations[link["operationId"].as_str().unwrap()];
                for parameter in link["parameters"].as_object().unwrap().keys() {
                    let declared = target["parameters"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|p| p["name"] == *parameter);
                    assert!(declared, "link {name}: {} has no parameter {parameter}", link["operationId"]);
                }
                links += 1;
            }
        }
    }
    assert_eq!(links, 12);
}
