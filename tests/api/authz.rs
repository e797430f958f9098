//! The authorization matrix: every operation of the OpenAPI document, called as each kind
//! of caller, answers the status in [`MATRIX`]. A route the document has and the matrix
//! lacks (or the other way round) fails the test, so no endpoint is forgotten.
//!
//! Each call gets fresh resources (owned by `promoter` and `fan`), so calls do not depend
//! on each other's order, and a call that ends a session or an account uses its own.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::helpers::{ADMIN_PASSWORD, PASSWORD, Reply, TestApp};

/// Who calls: nobody, the fan who owns the reservation, another fan, the promoter who
/// owns the venue and concert, another promoter, an administrator.
const CALLERS: [&str; 6] = ["anonymous", "fan", "other fan", "promoter", "other promoter", "admin"];

/// `(method, path)` → the status for each of [`CALLERS`], in order.
#[rustfmt::skip]
const MATRIX: &[(&str, &str, [u16; 6])] = &[
    //                                                          anon fan  fan2 prom prom2 admin
    ("post",   "/api/v1/users/signup",                          [201, 201, 201, 201, 201, 201]),
    ("post",   "/api/v1/users/login",                           [200, 200, 200, 200, 200, 200]),
    ("post",   "/api/v1/users/token/refresh",                   [200, 200, 200, 200, 200, 200]),
    ("post",   "/api/v1/users/logout",                          [401, 204, 204, 204, 204, 204]),
    ("get",    "/api/v1/users/my",                              [401, 200, 200, 200, 200, 200]),
    ("put",    "/api/v1/users/my",                              [401, 200, 200, 200, 200, 200]),
    ("delete", "/api/v1/users/my",                              [401, 204, 204, 204, 204, 204]),
    ("get",    "/api/v1/users/my/reservations",                 [401, 200, 200, 200, 200, 200]),
    ("post",   "/api/v1/auditoriums",                           [401, 403, 403, 201, 201, 201]),
    ("get",    "/api/v1/auditoriums",                           [401, 403, 403, 200, 200, 200]),
    ("get",    "/api/v1/auditoriums/{id}",                      [200, 200, 200, 200, 200, 200]),
    ("put",    "/api/v1/auditoriums/{id}",                      [401, 403, 403, 200, 403, 200]),
    ("delete", "/api/v1/auditoriums/{id}",                      [401, 403, 403, 204, 403, 204]),
    ("post",   "/api/v1/concerts",                              [401, 403, 403, 201, 403, 201]),
    ("get",    "/api/v1/concerts",                              [200, 200, 200, 200, 200, 200]),
    ("get",    "/api/v1/concerts/{id}",                         [200, 200, 200, 200, 200, 200]),
    ("put",    "/api/v1/concerts/{id}",                         [401, 403, 403, 200, 403, 200]),
    ("delete", "/api/v1/concerts/{id}",                         [401, 403, 403, 204, 403, 204]),
    ("post",   "/api/v1/images/upload",                         [401, 403, 403, 201, 403, 201]),
    ("get",    "/api/v1/images/{key}",                          [200, 200, 200, 200, 200, 200]),
    ("get",    "/api/v1/concerts/{id}/seats",                   [200, 200, 200, 200, 200, 200]),
    ("get",    "/api/v1/concerts/{id}/availability",            [200, 200, 200, 200, 200, 200]),
    ("get",    "/api/v1/concerts/{id}/seats/events",            [200, 200, 200, 200, 200, 200]),
    ("get",    "/api/v1/concerts/{id}/sales",                   [401, 403, 403, 200, 403, 200]),
    ("get",    "/api/v1/concerts/{id}/reservations",            [200, 200, 200, 200, 200, 200]),
    ("post",   "/api/v1/concerts/{id}/reservations",            [401, 201, 201, 201, 201, 201]),
    ("delete", "/api/v1/concerts/{id}/reservations/{reservation_id}", [401, 200, 403, 403, 403, 200]),
    ("get",    "/api/v1/users/my/orders",                       [401, 200, 200, 200, 200, 200]),
    ("get",    "/api/v1/concerts/{id}/orders",                  [401, 403, 403, 200, 403, 200]),
    ("get",    "/api/v1/orders/{id}",                           [401, 200, 403, 200, 403, 200]),
    ("delete", "/api/v1/orders/{id}",                           [401, 200, 403, 403, 403, 200]),
    ("post",   "/api/v1/orders/{id}/payment",                   [401, 200, 403, 403, 403, 403]),
    ("post",   "/api/v1/orders/{id}/mark-paid",                 [401, 403, 403, 200, 403, 200]),
    ("post",   "/api/v1/concerts/{id}/presales",                [401, 403, 403, 201, 403, 201]),
    ("get",    "/api/v1/concerts/{id}/presales",                [401, 403, 403, 200, 403, 200]),
    ("delete", "/api/v1/concerts/{id}/presales/{presaleId}",    [401, 403, 403, 204, 403, 204]),
    // Signed by the provider, not a caller; this service has no Stripe set up, so none.
    ("post",   "/api/v1/payments/{provider}/webhook",           [404, 404, 404, 404, 404, 404]),
    ("get",    "/api/v1/users/my/tickets",                      [401, 200, 200, 200, 200, 200]),
    ("get",    "/api/v1/tickets/{id}",                          [401, 200, 403, 200, 403, 200]),
    ("get",    "/api/v1/tickets/{id}/qr.svg",                   [401, 200, 403, 200, 403, 200]),
    ("post",   "/api/v1/tickets/{id}/transfer",                 [401, 200, 403, 403, 403, 403]),
    ("post",   "/api/v1/concerts/{id}/checkins",                [401, 403, 403, 200, 403, 200]),
    ("get",    "/api/v1/concerts/{id}/checkins",                [401, 403, 403, 200, 403, 200]),
    ("get",    "/api/v1/concerts/{id}/checkin/key",             [401, 403, 403, 200, 403, 200]),
    ("get",    "/api/v1/concerts/{id}/checkin/tickets",         [401, 403, 403, 200, 403, 200]),
    ("get",    "/api/v1/concerts/{id}/checkin/stats",           [401, 403, 403, 200, 403, 200]),
    ("post",   "/api/v1/concerts/{id}/checkin/tokens",          [401, 403, 403, 201, 403, 201]),
    ("get",    "/api/v1/concerts/{id}/checkin/tokens",          [401, 403, 403, 200, 403, 200]),
    ("delete", "/api/v1/concerts/{id}/checkin/tokens/{tokenId}", [401, 403, 403, 204, 403, 204]),
    ("get",    "/api/v1/concerts/{id}/attendees.csv",           [401, 403, 403, 200, 403, 200]),
    // A concert whose waiting room is open, which the fan has joined.
    ("post",   "/api/v1/concerts/{id}/queue",                   [401, 200, 201, 201, 201, 201]),
    ("get",    "/api/v1/concerts/{id}/queue/me",                [401, 200, 404, 404, 404, 404]),
    ("get",    "/api/v1/concerts/{id}/queue/events",            [401, 200, 404, 404, 404, 404]),
    ("get",    "/api/v1/concerts/{id}/queue",                   [401, 403, 403, 200, 403, 200]),
    ("patch",  "/api/v1/concerts/{id}/queue",                   [401, 403, 403, 200, 403, 200]),
    ("post",   "/api/v1/admin/login",                           [200, 200, 200, 200, 200, 200]),
    ("get",    "/api/v1/admin/users",                           [401, 403, 403, 403, 403, 200]),
    ("put",    "/api/v1/admin/users/{id}",                      [401, 403, 403, 403, 403, 200]),
    ("get",    "/api/v1/admin/auditoriums",                     [401, 403, 403, 403, 403, 200]),
    ("patch",  "/api/v1/admin/auditoriums/{id}/seats",          [401, 403, 403, 403, 403, 200]),
    ("get",    "/api/v1/admin/reservations",                    [401, 403, 403, 403, 403, 200]),
    ("get",    "/api/v1/admin/audit",                           [401, 403, 403, 403, 403, 200]),
    ("get",    "/health",                                       [200, 200, 200, 200, 200, 200]),
    ("get",    "/ready",                                        [200, 200, 200, 200, 200, 200]),
    ("get",    "/metrics",                                      [200, 200, 200, 200, 200, 200]),
];

/// Every `(method, path)` of the OpenAPI document the service serves.
fn documented_routes() -> BTreeSet<(String, String)> {
    let (_, openapi) = tickitecking::http::api();
    let doc = serde_json::to_value(&openapi).unwrap();
    let mut routes = BTreeSet::new();
    for (path, operations) in doc["paths"].as_object().unwrap() {
        for method in operations.as_object().unwrap().keys() {
            routes.insert((method.clone(), path.clone()));
        }
    }
    routes
}

/// The accounts of the matrix: `(username, email)` per caller (none for anonymous).
struct World {
    accounts: Vec<Option<(String, String)>>,
    other_fan_id: i64,
}
/// What one call acts on, made fresh for it.
struct Fixture {
    hall: i64,
    empty_hall: i64,
    concert: i64,
    empty_concert: i64,
    /// A concert whose waiting room is open (its sales open tomorrow), which the fan joined.
    room_concert: i64,
    reservation: i64,
    /// The fan's pending order of a `PAYMENT` concert of the promoter's.
    order: i64,
    /// A concert of the promoter's whose general sale opens in 2098, with an unused
    /// presale.
    presale_concert: i64,
    presale: i64,
    poster_key: String,
}

async fn setup(app: &TestApp) -> World {
    app.signup("fan").await;
    let other = app.signup("otherfan").await;
    app.promoter("promoter").await;
    app.promoter("otherpromoter").await;
    let account = |name: &str| Some((name.to_owned(), format!("{name}@example.com")));
    World {
        accounts: vec![
            None,
            account("fan"),
            account("otherfan"),
            account("promoter"),
            account("otherpromoter"),
            Some(("admin".into(), "admin@localhost".into())),
        ],
        other_fan_id: other["id"].as_i64().unwrap(),
    }
}

async fn token(app: &TestApp, world: &World, caller: usize) -> Option<String> {
    let (username, _) = world.accounts[caller].as_ref()?;
    let password = if username == "admin" { ADMIN_PASSWORD } else { PASSWORD };
    Some(app.login(username, password).await.access)
}

/// A new account of the caller's role, for calls that delete the caller's account.
async fn disposable(app: &TestApp, caller: usize, n: usize) -> Option<String> {
    let role = match caller {
        0 => return None,
        1 | 2 => None,
        3 | 4 => Some("COMPANY_USER"),
        _ => Some("ADMIN"),
    };
    let name = format!("spare{caller}x{n}");
    let user = app.signup(&name).await;
    if let Some(role) = role {
        let admin = app.admin_token().await;
        let body = json!({"username": name, "email": user["email"], "role": role});
        app.put(&format!("/api/v1/admin/users/{}", user["id"]), &body, Some(&admin)).await.assert_status(200);
    }
    Some(app.login(&name, PASSWORD).await.access)
}

async fn fixture(app: &TestApp) -> Fixture {
    let promoter = app.login("promoter", PASSWORD).await.access;
    let fan = app.login("fan", PASSWORD).await.access;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let hall = json!({"name": "Hall", "address": "Seoul", "maxRow": "C", "maxColumn": 5});
        let reply = app.post("/api/v1/auditoriums", &hall, Some(&promoter)).await;
        reply.assert_status(201);
        ids.push(reply.data()["id"].as_i64().unwrap());
    }
    let mut concerts = Vec::new();
    for _ in 0..2 {
        let reply = app.post("/api/v1/concerts", &concert_body(ids[0]), Some(&promoter)).await;
        reply.assert_status(201);
        concerts.push(reply.data()["id"].as_i64().unwrap());
    }
    let path = format!("/api/v1/concerts/{}/reservations", concerts[0]);
    let booked = app.post(&path, &json!({"horizontal": "A", "vertical": 1}), Some(&fan)).await;
    booked.assert_status(201);
    let mut paid = concert_body(ids[0]);
    paid["checkout"] = json!("PAYMENT");
    let payment_concert = app.post("/api/v1/concerts", &paid, Some(&promoter)).await;
    payment_concert.assert_status(201);
    let path = format!("/api/v1/concerts/{}/reservations", payment_concert.data()["id"]);
    let held = app.post(&path, &json!({"horizontal": "A", "vertical": 1}), Some(&fan)).await;
    held.assert_status(201);
    let mut roomed = concert_body(ids[0]);
    let now = chrono::Utc::now();
    roomed["salesOpenAt"] = json!((now + chrono::Duration::days(1)).to_rfc3339());
    roomed["waitingRoom"] = json!({"opensAt": (now - chrono::Duration::hours(1)).to_rfc3339(), "admitPerMinute": 60, "passMinutes": 5});
    let room_concert = app.post("/api/v1/concerts", &roomed, Some(&promoter)).await;
    room_concert.assert_status(201);
    let room_concert = room_concert.data()["id"].as_i64().unwrap();
    app.post(&format!("/api/v1/concerts/{room_concert}/queue"), &json!({}), Some(&fan))
        .await
        .assert_status(201);
    let mut later = concert_body(ids[0]);
    later["salesOpenAt"] = json!("2098-06-01T10:00:00Z");
    let presale_concert = app.post("/api/v1/concerts", &later, Some(&promoter)).await;
    presale_concert.assert_status(201);
    let presale_concert = presale_concert.data()["id"].as_i64().unwrap();
    let presale = app
        .post(&format!("/api/v1/concerts/{presale_concert}/presales"), &presale_body(), Some(&promoter))
        .await;
    presale.assert_status(201);
    let poster = upload(app, &promoter, concerts[0]).await;
    poster.assert_status(201);
    let poster_key = poster.data()["imagePath"].as_str().unwrap().rsplit('/').next().unwrap().to_owned();
    Fixture {
        hall: ids[0],
        empty_hall: ids[1],
        concert: concerts[0],
        empty_concert: concerts[1],
        room_concert,
        reservation: booked.data()["id"].as_i64().unwrap(),
        order: held.data()["orderId"].as_i64().unwrap(),
        presale_concert,
        presale: presale.data()["id"].as_i64().unwrap(),
        poster_key,
    }
}

fn concert_body(hall: i64) -> Value {
    json!({
        "name": "Live", "description": "", "startTime": "2099-01-01T19:00:00Z", "auditoriumId": hall,
        "seatPrices": [{"grade": "R", "price": 10}], "seatList": [{"horizontals": ["A", "B"], "grade": "R"}],
    })
}

fn presale_body() -> Value {
    json!({"name": "Fan club", "opensAt": "2001-01-01T00:00:00Z", "closesAt": "2098-06-01T10:00:00Z",
           "count": 2, "maxUsesPerCode": 1})
}

async fn upload(app: &TestApp, token: &str, concert: i64) -> Reply {
    let boundary = "authzboundary";
    let mut body =
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"concertId\"\r\n\r\n{concert}\r\n")
            .into_bytes();
    body.extend(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"p.gif\"\r\n\r\n")
            .as_bytes(),
    );
    body.extend(b"GIF89a poster\r\n");
    body.extend(format!("--{boundary}--\r\n").as_bytes());
    let request = app
        .client
        .post(app.url("/api/v1/images/upload"))
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(body);
    let request = if token.is_empty() { request } else { request.bearer_auth(token) };
    TestApp::reply(request.send().await.unwrap()).await
}

/// Makes one call of the matrix and returns its status.
async fn call(app: &TestApp, world: &World, caller: usize, method: &str, route: &str, n: usize) -> u16 {
    let f = fixture(app).await;
    let token = match (method, route) {
        ("delete", "/api/v1/users/my") => disposable(app, caller, n).await,
        _ => token(app, world, caller).await,
    };
    let token = token.as_deref();
    let own_email = world.accounts[caller].as_ref().map_or("x@example.com".to_owned(), |(_, e)| e.clone());
    let path = if route.contains("{tokenId}") {
        let admin = app.admin_token().await;
        let made = app
            .post(
                &format!("/api/v1/concerts/{}/checkin/tokens", f.concert),
                &json!({"name": "gate"}),
                Some(&admin),
            )
            .await;
        route.replace("{tokenId}", &made.data()["id"].to_string())
    } else {
        route.to_owned()
    };
    let path = path
        .replace("{reservation_id}", &f.reservation.to_string())
        .replace("{presaleId}", &f.presale.to_string())
        .replace("{key}", &f.poster_key)
        .replace("{provider}", "stripe")
        .replace(
            "{id}",
            &match (method, route) {
                (_, r)
                    if r.starts_with("/api/v1/auditoriums/")
                        || r.starts_with("/api/v1/admin/auditoriums/") =>
                {
                    if method == "delete" {
                        f.empty_hall
                    } else {
                        f.hall
                    }
                }
                (_, r) if r.starts_with("/api/v1/admin/users/") => world.other_fan_id,
                (_, r) if r.starts_with("/api/v1/orders/") => f.order,
                (_, r) if r.starts_with("/api/v1/tickets/") => f.reservation,
                (_, r) if r.contains("/presales") => f.presale_concert,
                ("delete", "/api/v1/concerts/{id}") => f.empty_concert,
                (_, r) if r.starts_with("/api/v1/concerts/{id}/queue") => f.room_concert,
                _ => f.concert,
            }
            .to_string(),
        );
    if route == "/api/v1/concerts/{id}/seats/events" || route == "/api/v1/concerts/{id}/queue/events" {
        // A live stream never ends by itself: its status is all there is to check.
        let request = app.client.get(app.url(&path));
        let request = match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        return request.send().await.unwrap().status().as_u16();
    }
    let body = match (method, route) {
        ("post", "/api/v1/users/signup") => {
            let name = format!("new{caller}x{n}");
            Some(json!({"username": name, "password": PASSWORD, "email": format!("{name}@example.com")}))
        }
        ("post", "/api/v1/users/login") => Some(json!({"username": "fan", "password": PASSWORD})),
        ("post", "/api/v1/admin/login") => Some(json!({"username": "admin", "password": ADMIN_PASSWORD})),
        ("post", "/api/v1/users/token/refresh") => {
            Some(json!({"refreshToken": app.login("otherfan", PASSWORD).await.refresh}))
        }
        ("put", "/api/v1/users/my") => Some(json!({"email": own_email})),
        ("post", "/api/v1/auditoriums") | ("put", "/api/v1/auditoriums/{id}") => {
            Some(json!({"name": "Renamed", "address": "Busan", "maxRow": "C", "maxColumn": 5}))
        }
        ("post", "/api/v1/concerts") | ("put", "/api/v1/concerts/{id}") => Some(concert_body(f.hall)),
        ("post", "/api/v1/concerts/{id}/reservations") => Some(json!({"horizontal": "B", "vertical": 2})),
        ("put", "/api/v1/admin/users/{id}") => {
            Some(json!({"username": "otherfan", "email": "otherfan@example.com", "role": "USER"}))
        }
        ("patch", "/api/v1/admin/auditoriums/{id}/seats") => Some(json!({"horizontal": "C", "vertical": 5})),
        ("post", "/api/v1/tickets/{id}/transfer") => Some(json!({"username": "otherfan"})),
        ("post", "/api/v1/concerts/{id}/checkin/tokens") => Some(json!({"name": "North gate"})),
        ("post", "/api/v1/concerts/{id}/queue") => Some(json!({})),
        ("patch", "/api/v1/concerts/{id}/queue") => Some(json!({"paused": true})),
        ("post", "/api/v1/concerts/{id}/presales") => Some(presale_body()),
        ("post", "/api/v1/concerts/{id}/checkins") => {
            let admin = app.admin_token().await;
            let ticket = app.get(&format!("/api/v1/tickets/{}", f.reservation), Some(&admin)).await;
            Some(json!({"code": ticket.data()["code"]}))
        }
        ("post", "/api/v1/images/upload") => {
            return upload(app, token.unwrap_or_default(), f.concert).await.status.as_u16();
        }
        ("get" | "delete", _)
        | (
            "post",
            "/api/v1/users/logout"
            | "/api/v1/orders/{id}/payment"
            | "/api/v1/orders/{id}/mark-paid"
            | "/api/v1/payments/{provider}/webhook",
        ) => None,
        other => panic!("no request for {other:?}: teach `call` how to make one"),
    };
    let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
    app.request(method, &path, body.as_ref(), token).await.status.as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_answers_every_kind_of_caller_as_the_matrix_says() {
    let documented = documented_routes();
    let listed: BTreeSet<(String, String)> =
        MATRIX.iter().map(|(m, p, _)| (m.to_string(), p.to_string())).collect();
    let missing: Vec<_> = documented.difference(&listed).collect();
    assert!(
        missing.is_empty(),
        "routes the matrix lacks (add a row with its expected statuses): {missing:?}"
    );
    let stale: Vec<_> = listed.difference(&documented).collect();
    assert!(stale.is_empty(), "matrix rows for routes that no longer exist: {stale:?}");

    let app = TestApp::spawn().await;
    let world = setup(&app).await;
    let mut wrong = Vec::new();
    let mut n = 0;
    for (method, route, expected) in MATRIX {
        for (caller, want) in expected.iter().enumerate() {
            n += 1;
            let got = call(&app, &world, caller, method, route, n).await;
            if got != *want {
                wrong.push(format!(
                    "{} {route} as {}: {got}, expected {want}",
                    method.to_uppercase(),
                    CALLERS[caller]
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{} of {n} calls differ from the matrix:\n{}", wrong.len(), wrong.join("\n"));
}
