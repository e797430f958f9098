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

/// The component schemas reachable from `roots` (schemas, or anything holding them), by
/// following `$ref`s through properties, items and compositions.
fn reachable_schemas(doc: &Value, roots: Vec<&Value>) -> std::collections::BTreeSet<String> {
    let mut seen = std::collections::BTreeSet::new();
    let mut stack = roots;
    while let Some(value) = stack.pop() {
        match value {
            Value::Object(map) => {
                if let Some(name) = map.get("$ref").and_then(Value::as_str) {
                    let name = name.trim_start_matches("#/components/schemas/");
                    if seen.insert(name.to_owned()) {
                        stack.push(&doc["components"]["schemas"][name]);
                    }
                }
                stack.extend(map.values());
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    seen
}

/// Every object schema within `schema` (itself, and inline ones in it), not following `$ref`s.
fn objects_in(schema: &Value) -> Vec<&Value> {
    let mut objects = Vec::new();
    let mut stack = vec![schema];
    while let Some(value) = stack.pop() {
        match value {
            Value::Object(map) => {
                if map.contains_key("properties") {
                    objects.push(value);
                }
                stack.extend(map.values());
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    objects
}

fn nullable(property: &Value) -> bool {
    property["type"].as_array().is_some_and(|types| types.iter().any(|t| t == "null"))
        || property["oneOf"].as_array().is_some_and(|arms| arms.iter().any(|a| a["type"] == "null"))
}

/// What the service sends is declared as sent: every field of every answer is required
/// (a field that can be empty is sent as `null`, and declared nullable), except the few
/// the service leaves out when it has nothing to say. A client generated from the document
/// may then rely on every other field being there.
#[test]
fn every_field_the_service_always_sends_is_required() {
    /// `(schema, field)`: left out of the answer rather than sent as `null`.
    const OMITTED_WHEN_EMPTY: &[(&str, &str)] = &[
        ("Status", "database"),
        ("Status", "redis"),
        // The seed's one section has no name to tell: left out, so its answers stay the seed's.
        ("LockResult", "section"),
        ("ReservedSeat", "section"),
        ("UnreservableSeat", "section"),
        // A venue of one seated section answers `rows`, any other `sections`.
        ("SeatMapView", "section"),
        ("SeatMapView", "rows"),
        ("SeatMapView", "sections"),
        // A seated section has rows, a standing one its capacity, places left, grade and price.
        ("SeatMapSection", "rows"),
        ("SeatMapSection", "capacity"),
        ("SeatMapSection", "available"),
        ("SeatMapSection", "grade"),
        ("SeatMapSection", "price"),
        ("SectionView", "rows"),
        ("SectionView", "capacity"),
        // A held reservation names its order and its end; a confirmed one keeps the seed's shape.
        ("ReservationView", "orderId"),
        ("ReservationView", "expiresAt"),
        // What a payment needs from the fan: a page to go to, or instructions.
        ("PaymentView", "redirectUrl"),
        ("PaymentView", "instructions"),
        // A refused scan carries the error envelope's fields; an admission does not.
        ("CheckinView", "code"),
        ("CheckinView", "message"),
        ("CheckinView", "errors"),
        // A check-in token's secret is shown once, in the answer that made it.
        ("TokenView", "token"),
    ];
    let (_, openapi) = tickitecking::http::api();
    let doc = serde_json::to_value(&openapi).unwrap();
    let responses = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|ops| ops.as_object().unwrap().values().map(|op| &op["responses"]));
    let mut problems = Vec::new();
    for name in reachable_schemas(&doc, responses.collect()) {
        for object in objects_in(&doc["components"]["schemas"][&name]) {
            let required: Vec<&str> =
                object["required"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            for (field, property) in object["properties"].as_object().unwrap() {
                let omitted = OMITTED_WHEN_EMPTY.contains(&(name.as_str(), field.as_str()));
                if omitted == required.contains(&field.as_str()) {
                    problems.push(format!("{name}.{field}: required is {}", !omitted));
                }
                if omitted && nullable(property) {
                    problems.push(format!("{name}.{field}: left out, never null"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "answers declared otherwise than sent: {problems:#?}");
}

/// A request field the service refuses when it is missing is required in the document,
/// and a required field is never `null` (the service reads `null` as missing).
#[test]
fn request_fields_are_required_as_the_service_reads_them() {
    let (_, openapi) = tickitecking::http::api();
    let doc = serde_json::to_value(&openapi).unwrap();
    let bodies = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|ops| ops.as_object().unwrap().values().map(|op| &op["requestBody"]));
    let schemas = reachable_schemas(&doc, bodies.collect());
    let mut problems = Vec::new();
    for name in &schemas {
        for object in objects_in(&doc["components"]["schemas"][name]) {
            for field in object["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                if nullable(&object["properties"][field]) {
                    problems.push(format!("{name}.{field}: required, yet declared nullable"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    // Spot checks of what each body cannot do without (the store refuses each missing one).
    let required = |name: &str| doc["components"]["schemas"][name]["required"].clone();
    assert_eq!(required("SignupRequest"), json!(["username", "password", "email"]));
    assert_eq!(required("ProfileRequest"), json!(["email"]));
    assert_eq!(required("AdminUserRequest"), json!(["username", "email", "role"]));
    // `maxRow` and `maxColumn`, or `sections`; `seatList`, or `standing`, or both.
    assert_eq!(required("AuditoriumRequest"), json!(["name", "address"]));
    assert_eq!(required("SectionRequest"), json!(["name", "kind"]));
    assert_eq!(required("RowRequest"), json!(["label", "seats"]));
    assert_eq!(required("ConcertRequest"), json!(["name", "startTime", "auditoriumId", "seatPrices"]));
    assert_eq!(required("StandingRequest"), json!(["section", "grade"]));
    assert_eq!(required("StandingPlacesRequest"), json!(["section", "quantity"]));
    assert_eq!(required("PriceRequest"), json!(["grade", "price"]));
    assert_eq!(required("RowsRequest"), json!(["horizontals", "grade"]));
    assert_eq!(required("SeatPositionRequest"), json!(["horizontal", "vertical"]));
    assert_eq!(required("SeatListRequest"), Value::Null, "seats, standing places, or both");
    assert_eq!(required("PosterUpload"), json!(["file", "concertId"]));
}

/// Times are RFC 3339 everywhere, in requests and answers, and say so.
#[test]
fn every_time_is_a_date_time() {
    let (_, openapi) = tickitecking::http::api();
    let doc = serde_json::to_value(&openapi).unwrap();
    let mut times = Vec::new();
    for (name, schema) in doc["components"]["schemas"].as_object().unwrap() {
        for object in objects_in(schema) {
            for (field, property) in object["properties"].as_object().unwrap() {
                if field.ends_with("At") || field.ends_with("Time") {
                    assert_eq!(property["format"], "date-time", "{name}.{field}: {property}");
                    times.push(format!("{name}.{field}"));
                }
            }
        }
    }
    assert!(times.contains(&"ConcertRequest.startTime".to_owned()), "{times:?}");
    assert!(times.contains(&"MyReservation.cancelledAt".to_owned()), "{times:?}");
}

/// Each answer the service gives is the one documented: both shapes of a booking's 201,
/// and the multipart field names the upload reads.
#[test]
fn both_booking_answers_and_the_upload_fields_are_documented() {
    let (_, openapi) = tickitecking::http::api();
    let doc = serde_json::to_value(&openapi).unwrap();
    let schemas = &doc["components"]["schemas"];
    let booking = &doc["paths"]["/api/v1/concerts/{id}/reservations"]["post"];
    assert_eq!(
        booking["responses"]["201"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/Data_Booked"
    );
    assert_eq!(schemas["Data_Booked"]["properties"]["data"]["$ref"], "#/components/schemas/Booked");
    assert_eq!(
        schemas["Booked"]["oneOf"],
        json!([{"$ref": "#/components/schemas/ReservationView"}, {"$ref": "#/components/schemas/ReservationList"}])
    );
    assert_eq!(
        schemas["BookRequest"]["oneOf"],
        json!([
            {"$ref": "#/components/schemas/SeatBookingRequest"},
            {"$ref": "#/components/schemas/SeatListRequest"}
        ])
    );
    // Either form may carry a presale access code.
    for form in ["SeatBookingRequest", "SeatListRequest"] {
        assert_eq!(schemas[form]["properties"]["accessCode"]["type"], "string", "{form}");
    }
    let upload = &doc["paths"]["/api/v1/images/upload"]["post"]["requestBody"]["content"];
    assert_eq!(upload["multipart/form-data"]["schema"]["$ref"], "#/components/schemas/PosterUpload");
    let fields: Vec<&String> = schemas["PosterUpload"]["properties"].as_object().unwrap().keys().collect();
    assert_eq!(fields, ["concertId", "file"]);
}

/// Each `{data: ...}` envelope names its content's own schema, so that a client generated
/// from the document gets that type (a `UserView`), not a copy per envelope.
#[test]
fn every_envelope_refers_to_its_content() {
    let (_, openapi) = tickitecking::http::api();
    let doc = serde_json::to_value(&openapi).unwrap();
    let mut envelopes = 0;
    for (name, schema) in doc["components"]["schemas"].as_object().unwrap() {
        if !name.starts_with("Data_") {
            continue;
        }
        let data = &schema["properties"]["data"];
        let content = if data["type"] == "array" { &data["items"] } else { data };
        assert!(content["$ref"].is_string(), "{name}: its data is not a reference: {data}");
        envelopes += 1;
    }
    assert!(envelopes > 10, "{envelopes} envelopes");
}

/// The domain is the service's rules, and knows neither the web framework nor OpenAPI:
/// how its values look on the wire is the HTTP layer's business (src/http/docs.rs).
#[test]
fn the_domain_knows_neither_the_web_framework_nor_openapi() {
    let domain = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/domain");
    let mut offenders = Vec::new();
    for entry in std::fs::read_dir(&domain).unwrap() {
        let path = entry.unwrap().path();
        let source = std::fs::read_to_string(&path).unwrap();
        for word in ["utoipa", "axum"] {
            if source.contains(word) {
                offenders.push(format!("{} names {word}", path.display()));
            }
        }
    }
    assert!(offenders.is_empty(), "{offenders:?}");
}
