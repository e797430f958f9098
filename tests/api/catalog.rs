//! Venues, concerts, seat maps and posters: every endpoint, rule and ownership check.

use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp};

async fn hall(app: &TestApp, token: &str, max_row: &str, max_column: i64) -> i64 {
    let reply = app
        .post(
            "/api/v1/auditoriums",
            &json!({"name": "Olympic Hall", "address": "Seoul", "maxRow": max_row, "maxColumn": max_column}),
            Some(token),
        )
        .await;
    reply.assert_status(201);
    reply.data()["id"].as_i64().unwrap()
}

fn concert_body(hall: i64, rows: &[&str]) -> Value {
    json!({
        "name": "Spring Live", "description": "a night", "startTime": "2099-05-01T19:00:00Z",
        "auditoriumId": hall,
        "seatPrices": [{"grade": "R", "price": 150000}, {"grade": "S", "price": 12.5}],
        "seatList": [{"horizontals": rows, "grade": "R"}],
    })
}

async fn concert(app: &TestApp, token: &str, hall: i64, rows: &[&str]) -> i64 {
    let reply = app.post("/api/v1/concerts", &concert_body(hall, rows), Some(token)).await;
    reply.assert_status(201);
    reply.data()["id"].as_i64().unwrap()
}

async fn seat_map(app: &TestApp, concert: i64) -> Reply {
    let reply = app.get(&format!("/api/v1/concerts/{concert}/seats"), None).await;
    reply.assert_status(200);
    reply
}

/// A multipart/form-data body with a `concertId` and, when given, a `file` part.
fn multipart(concert: &str, file: Option<(&str, &[u8])>) -> (String, Vec<u8>) {
    let boundary = "tickiteckingboundary";
    let mut body =
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"concertId\"\r\n\r\n{concert}\r\n")
            .into_bytes();
    if let Some((name, content)) = file {
        body.extend(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: image/png\r\n\r\n").as_bytes());
        body.extend(content);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn upload(app: &TestApp, token: &str, concert: &str, file: Option<(&str, &[u8])>) -> Reply {
    let (content_type, body) = multipart(concert, file);
    let request = app
        .client
        .post(app.url("/api/v1/images/upload"))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body);
    TestApp::reply(request.send().await.unwrap()).await
}

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR fake but typed by its first bytes";

#[tokio::test]
async fn a_promoter_puts_a_full_26_by_100_hall_on_sale_and_anyone_reads_it() {
    let app = TestApp::spawn().await;
    let (promoter_id, promoter) = app.promoter("promoter").await;
    let hall = hall(&app, &promoter, "Z", 100).await;
    let shown = app.get(&format!("/api/v1/auditoriums/{hall}"), None).await;
    shown.assert_status(200);
    assert_eq!(shown.data()["owner"]["id"], promoter_id);
    let rows: Vec<String> = (b'A'..=b'Z').map(|b| char::from(b).to_string()).collect();
    let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
    let created = app.post("/api/v1/concerts", &concert_body(hall, &rows), Some(&promoter)).await;
    created.assert_status(201);
    let id = created.data()["id"].as_i64().unwrap();
    assert_eq!(created.data()["companyUserId"], promoter_id);
    assert_eq!(
        created.data()["seatPrices"],
        json!([{"grade": "R", "price": 150000}, {"grade": "S", "price": 12.5}])
    );
    assert_eq!(created.data()["maxSeatsPerFan"], 4);
    let map = seat_map(&app, id).await;
    let rows = map.data()["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 26);
    assert!(
        rows.iter().all(|r| r["statuses"] == "A".repeat(100) && r["grade"] == "R" && r["price"] == 150000)
    );
    let seed_shape = app.get(&format!("/api/v1/concerts/{id}/reservations"), None).await;
    seed_shape.assert_status(200);
    assert_eq!(seed_shape.data()["concert"]["id"], id);
    assert_eq!(seed_shape.data()["unreservableSeats"], json!([]));
    let list = app.get("/api/v1/concerts", None).await;
    assert_eq!(list.data()["content"][0]["id"], id);
    assert_eq!(list.data()["content"][0]["writer"], "promoter");
    assert_eq!(list.data()["content"][0]["imagePath"], Value::Null);
}

#[tokio::test]
async fn only_promoters_and_admins_create_and_only_owners_and_admins_change() {
    let app = TestApp::spawn().await;
    let (_, fan) = app.fan("fan01").await;
    let (_, owner) = app.promoter("owner").await;
    let (_, rival) = app.promoter("rival").await;
    let admin = app.admin_token().await;
    let body = json!({"name": "Hall", "address": "Seoul", "maxRow": "C", "maxColumn": 5});
    app.post("/api/v1/auditoriums", &body, None).await.assert_error(401, "UNAUTHORIZED");
    app.post("/api/v1/auditoriums", &body, Some(&fan)).await.assert_error(403, "FORBIDDEN");
    app.get("/api/v1/auditoriums", Some(&fan)).await.assert_error(403, "FORBIDDEN");
    let hall = hall(&app, &owner, "C", 5).await;
    assert_eq!(app.get("/api/v1/auditoriums", Some(&rival)).await.data(), &json!([]));
    assert_eq!(app.get("/api/v1/auditoriums", Some(&owner)).await.data().as_array().unwrap().len(), 1);
    let path = format!("/api/v1/auditoriums/{hall}");
    app.put(&path, &body, Some(&rival)).await.assert_error(403, "FORBIDDEN");
    app.delete(&path, Some(&rival)).await.assert_error(403, "FORBIDDEN");
    app.post("/api/v1/concerts", &concert_body(hall, &["A"]), Some(&rival))
        .await
        .assert_error(403, "FORBIDDEN");
    app.post("/api/v1/concerts", &concert_body(hall, &["A"]), Some(&fan))
        .await
        .assert_error(403, "FORBIDDEN");
    let id = concert(&app, &owner, hall, &["A"]).await;
    let by_admin = concert(&app, &admin, hall, &["B"]).await;
    let cpath = format!("/api/v1/concerts/{id}");
    app.put(&cpath, &concert_body(hall, &["A"]), Some(&rival)).await.assert_error(403, "FORBIDDEN");
    app.delete(&cpath, Some(&rival)).await.assert_error(403, "FORBIDDEN");
    upload(&app, &rival, &id.to_string(), Some(("p.png", PNG))).await.assert_error(403, "FORBIDDEN");
    app.put(&cpath, &concert_body(hall, &["A"]), Some(&admin)).await.assert_status(200);
    app.delete(&format!("/api/v1/concerts/{by_admin}"), Some(&owner)).await.assert_status(204);
    let all = app.get("/api/v1/admin/auditoriums", Some(&admin)).await;
    assert_eq!(all.data().as_array().unwrap().len(), 1);
    app.get("/api/v1/admin/auditoriums", Some(&owner)).await.assert_error(403, "FORBIDDEN");
}

#[tokio::test]
async fn bad_venues_and_concerts_are_refused_field_by_field_and_leave_nothing() {
    let app = TestApp::spawn().await;
    let (_, promoter) = app.promoter("promoter").await;
    let bad_hall = app
        .post("/api/v1/auditoriums", &json!({"name": " ", "maxRow": "a", "maxColumn": 101}), Some(&promoter))
        .await;
    bad_hall.assert_error(400, "VALIDATION_FAILED");
    assert_eq!(bad_hall.error_fields(), ["name", "address", "maxRow", "maxColumn"]);
    let hall = hall(&app, &promoter, "C", 5).await;
    let cases = [
        (json!({"horizontals": ["D"], "grade": "R"}), "seatList[0].horizontals[0]"),
        (json!({"horizontals": ["A", "A"], "grade": "R"}), "seatList[0].horizontals[1]"),
        (json!({"horizontals": ["A"], "grade": "X"}), "seatList[0].grade"),
        (json!({"horizontals": ["a"], "grade": "R"}), "seatList[0].horizontals[0]"),
    ];
    for (rows, field) in cases {
        let mut body = concert_body(hall, &[]);
        body["seatList"] = json!([rows]);
        let reply = app.post("/api/v1/concerts", &body, Some(&promoter)).await;
        reply.assert_error(400, "VALIDATION_FAILED");
        assert_eq!(reply.error_fields(), [field], "{body}");
    }
    let mut body = concert_body(hall, &["A"]);
    body["name"] = json!("");
    body["startTime"] = json!("2001-01-01T00:00:00Z");
    body["seatPrices"] = json!([{"grade": "R", "price": -1}, {"grade": "S", "price": 1.234}]);
    let reply = app.post("/api/v1/concerts", &body, Some(&promoter)).await;
    reply.assert_error(400, "VALIDATION_FAILED");
    assert_eq!(reply.error_fields(), ["name", "startTime", "seatPrices[0].price", "seatPrices[1].price"]);
    app.post("/api/v1/concerts", &concert_body(9999, &["A"]), Some(&promoter))
        .await
        .assert_error(404, "NOT_FOUND");
    assert_eq!(app.get("/api/v1/concerts", None).await.data()["totalElements"], 0, "nothing half-written");
}

#[tokio::test]
async fn the_list_pages_newest_first_and_checks_its_parameters() {
    let app = TestApp::spawn().await;
    let (_, promoter) = app.promoter("promoter").await;
    let hall = hall(&app, &promoter, "C", 5).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(concert(&app, &promoter, hall, &["A"]).await);
    }
    let page = app.get("/api/v1/concerts?page=2&size=2", None).await;
    page.assert_status(200);
    let got: Vec<i64> =
        page.data()["content"].as_array().unwrap().iter().map(|c| c["id"].as_i64().unwrap()).collect();
    assert_eq!(got, [ids[2], ids[1]]);
    assert_eq!(
        (page.data()["totalElements"].as_i64(), page.data()["totalPages"].as_i64()),
        (Some(5), Some(3))
    );
    assert_eq!(app.get("/api/v1/concerts?page=9&size=2", None).await.data()["content"], json!([]));
    for bad in ["page=0", "size=101", "page=abc"] {
        app.get(&format!("/api/v1/concerts?{bad}"), None).await.assert_error(400, "VALIDATION_FAILED");
    }
}

#[tokio::test]
async fn cached_list_and_detail_change_at_once_after_writes() {
    let app = TestApp::spawn().await;
    let (_, promoter) = app.promoter("promoter").await;
    let hall = hall(&app, &promoter, "C", 5).await;
    let id = concert(&app, &promoter, hall, &["A"]).await;
    assert_eq!(app.get("/api/v1/concerts", None).await.data()["totalElements"], 1);
    app.get(&format!("/api/v1/concerts/{id}"), None).await.assert_status(200);
    let mut body = concert_body(hall, &["A"]);
    body["name"] = json!("Renamed");
    app.put(&format!("/api/v1/concerts/{id}"), &body, Some(&promoter)).await.assert_status(200);
    assert_eq!(app.get(&format!("/api/v1/concerts/{id}"), None).await.data()["name"], "Renamed");
    assert_eq!(app.get("/api/v1/concerts", None).await.data()["content"][0]["name"], "Renamed");
    upload(&app, &promoter, &id.to_string(), Some(("p.png", PNG))).await.assert_status(201);
    assert!(app.get("/api/v1/concerts", None).await.data()["content"][0]["imagePath"].is_string());
    let renamed = json!({"email": "promoter@example.com", "nickname": "Blue Stage"});
    app.put("/api/v1/users/my", &renamed, Some(&promoter)).await.assert_status(200);
    assert_eq!(app.get("/api/v1/concerts", None).await.data()["content"][0]["writer"], "Blue Stage");
    app.delete(&format!("/api/v1/concerts/{id}"), Some(&promoter)).await.assert_status(204);
    assert_eq!(app.get("/api/v1/concerts", None).await.data()["totalElements"], 0);
    app.get(&format!("/api/v1/concerts/{id}"), None).await.assert_error(404, "NOT_FOUND");
    app.get(&format!("/api/v1/concerts/{id}/seats"), None).await.assert_error(404, "NOT_FOUND");
}

#[tokio::test]
async fn updates_change_grades_and_prices_and_add_rows_but_never_remove_rows_on_sale() {
    let app = TestApp::spawn().await;
    let (_, promoter) = app.promoter("promoter").await;
    let hall = hall(&app, &promoter, "C", 5).await;
    let id = concert(&app, &promoter, hall, &["A"]).await;
    let path = format!("/api/v1/concerts/{id}");
    let mut body = concert_body(hall, &[]);
    body["seatPrices"] = json!([{"grade": "S", "price": 99}]);
    body["seatList"] = json!([{"horizontals": ["A", "B"], "grade": "S"}]);
    app.put(&path, &body, Some(&promoter)).await.assert_status(200);
    let map = seat_map(&app, id).await;
    assert_eq!(
        map.data()["rows"],
        json!([
            {"horizontal": "A", "grade": "S", "price": 99, "statuses": "AAAAA"},
            {"horizontal": "B", "grade": "S", "price": 99, "statuses": "AAAAA"},
        ])
    );
    body["seatList"] = json!([{"horizontals": ["B"], "grade": "S"}]);
    app.put(&path, &body, Some(&promoter)).await.assert_error(409, "ROWS_ON_SALE");
    let other_hall = self::hall(&app, &promoter, "C", 5).await;
    app.put(&path, &concert_body(other_hall, &["A", "B"]), Some(&promoter))
        .await
        .assert_error(409, "AUDITORIUM_FIXED");
    app.put("/api/v1/concerts/9999", &body, Some(&promoter)).await.assert_error(404, "NOT_FOUND");
}

#[tokio::test]
async fn a_hall_cannot_shrink_below_or_be_deleted_under_an_upcoming_concert() {
    let app = TestApp::spawn().await;
    let (_, promoter) = app.promoter("promoter").await;
    let hall = hall(&app, &promoter, "C", 5).await;
    let id = concert(&app, &promoter, hall, &["C"]).await;
    let path = format!("/api/v1/auditoriums/{hall}");
    let resize =
        |row: &str, col: i64| json!({"name": "Hall", "address": "Seoul", "maxRow": row, "maxColumn": col});
    app.put(&path, &resize("B", 5), Some(&promoter)).await.assert_error(409, "AUDITORIUM_IN_USE");
    app.put(&path, &resize("C", 4), Some(&promoter)).await.assert_error(409, "AUDITORIUM_IN_USE");
    let grown = app.put(&path, &resize("E", 8), Some(&promoter)).await;
    grown.assert_status(200);
    assert_eq!((grown.data()["maxRow"].as_str(), grown.data()["maxColumn"].as_i64()), (Some("E"), Some(8)));
    app.delete(&path, Some(&promoter)).await.assert_error(409, "AUDITORIUM_IN_USE");
    app.delete(&format!("/api/v1/concerts/{id}"), Some(&promoter)).await.assert_status(204);
    app.delete(&path, Some(&promoter)).await.assert_status(204);
    app.get(&path, None).await.assert_error(404, "NOT_FOUND");
    app.put(&path, &resize("E", 8), Some(&promoter)).await.assert_error(404, "NOT_FOUND");
}

#[tokio::test]
async fn an_admin_lock_toggles_a_position_in_every_upcoming_concert_and_changes_the_etag() {
    let app = TestApp::spawn().await;
    let (_, promoter) = app.promoter("promoter").await;
    let admin = app.admin_token().await;
    let hall = hall(&app, &promoter, "C", 5).await;
    let first = concert(&app, &promoter, hall, &["A", "B"]).await;
    let second = concert(&app, &promoter, hall, &["B"]).await;
    let before = seat_map(&app, first).await;
    let etag = before.headers["etag"].to_str().unwrap().to_owned();
    let unchanged = app
        .client
        .get(app.url(&format!("/api/v1/concerts/{first}/seats")))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(unchanged.status(), 304);
    let path = format!("/api/v1/admin/auditoriums/{hall}/seats");
    let toggled = app.patch(&path, &json!({"horizontal": "B", "vertical": 3}), Some(&admin)).await;
    toggled.assert_status(200);
    let concerts = toggled.data()["concerts"].as_array().unwrap();
    assert_eq!(concerts.len(), 2);
    assert!(concerts.iter().all(|c| c["status"] == "LOCKED" && c["changed"] == true));
    let after = seat_map(&app, first).await;
    assert_ne!(after.headers["etag"].to_str().unwrap(), etag);
    assert_eq!(after.data()["rows"][1]["statuses"], "AALAA");
    assert_eq!(seat_map(&app, second).await.data()["rows"][0]["statuses"], "AALAA");
    let unreservable = app.get(&format!("/api/v1/concerts/{first}/reservations"), None).await;
    assert_eq!(
        unreservable.data()["unreservableSeats"],
        json!([{"horizontal": "B", "vertical": 3, "status": "LOCKED"}])
    );
    app.patch(&path, &json!({"horizontal": "B", "vertical": 3}), Some(&admin)).await.assert_status(200);
    assert_eq!(seat_map(&app, first).await.data()["rows"][1]["statuses"], "AAAAA");
    app.patch(&path, &json!({"horizontal": "D", "vertical": 3}), Some(&admin))
        .await
        .assert_error(400, "VALIDATION_FAILED");
    app.patch(&path, &json!({"horizontal": "A", "vertical": 6}), Some(&admin))
        .await
        .assert_error(400, "VALIDATION_FAILED");
    app.patch(&path, &json!({"horizontal": "A", "vertical": 1}), Some(&promoter))
        .await
        .assert_error(403, "FORBIDDEN");
}

#[tokio::test]
async fn posters_are_typed_by_content_bounded_in_size_and_served_back_safely() {
    let app = TestApp::spawn().await;
    let (_, promoter) = app.promoter("promoter").await;
    let hall = hall(&app, &promoter, "C", 5).await;
    let id = concert(&app, &promoter, hall, &["A"]).await;
    let concert_id = id.to_string();
    for (name, content) in [("a.jpg", &b"\xFF\xD8\xFF\xE0jpeg"[..]), ("b.gif", b"GIF89a gif"), ("c.png", PNG)]
    {
        upload(&app, &promoter, &concert_id, Some((name, content))).await.assert_status(201);
    }
    let stored = upload(&app, &promoter, &concert_id, Some(("poster.png", PNG))).await;
    stored.assert_status(201);
    let path = stored.data()["imagePath"].as_str().unwrap().to_owned();
    assert_eq!(app.get(&format!("/api/v1/concerts/{id}"), None).await.data()["imagePath"], path.as_str());
    let served = app.client.get(app.url(&path)).send().await.unwrap();
    assert_eq!(served.status(), 200);
    assert_eq!(served.headers()["content-type"], "image/png");
    assert!(served.headers()["cache-control"].to_str().unwrap().contains("immutable"));
    assert_eq!(served.headers()["x-content-type-options"], "nosniff");
    let policy = served.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(policy.contains("sandbox") && policy.contains("default-src 'none'"), "{policy}");
    assert_eq!(served.bytes().await.unwrap().as_ref(), PNG);
    upload(&app, &promoter, &concert_id, Some(("evil.png", b"<html><script>alert(1)</script>")))
        .await
        .assert_error(415, "UNSUPPORTED_MEDIA_TYPE");
    let too_big = [PNG, &vec![0u8; 5 * 1024 * 1024]].concat();
    upload(&app, &promoter, &concert_id, Some(("big.png", &too_big)))
        .await
        .assert_error(413, "PAYLOAD_TOO_LARGE");
    upload(&app, &promoter, &concert_id, None).await.assert_error(400, "VALIDATION_FAILED");
    upload(&app, &promoter, "9999", Some(("p.png", PNG))).await.assert_error(404, "NOT_FOUND");
    let json = app.post("/api/v1/images/upload", &json!({"concertId": id}), Some(&promoter)).await;
    json.assert_error(415, "UNSUPPORTED_MEDIA_TYPE");
    app.get("/api/v1/images/..%2Fjwt-secret", None).await.assert_error(404, "NOT_FOUND");
    app.get("/api/v1/images/nothing-here.png", None).await.assert_error(404, "NOT_FOUND");
}

#[tokio::test]
async fn the_demo_loads_once_however_often_it_runs() {
    let dir = tempfile::tempdir().unwrap();
    let database = crate::backend::database_url_for(dir.path()).await;
    for _ in 0..2 {
        let status = std::process::Command::new(env!("CARGO_BIN_EXE_tickitecking"))
            .args(["demo", "--data-dir"])
            .arg(dir.path())
            .args(match &database {
                tickitecking::store::DatabaseUrl::Postgres { url, .. } => {
                    vec!["--database-url", url.as_str()]
                }
                _ => vec![],
            })
            .env_remove("DATABASE_URL")
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
    }
    let app = TestApp::spawn_in(dir, |_| {}).await;
    // Two halls with three concerts, and the arena with its concert.
    let concerts = app.get("/api/v1/concerts?size=10", None).await;
    assert_eq!(concerts.data()["totalElements"], 5);
    let promoter = app.login("demo-promoter", "Demo#Promoter1").await;
    let venues = app.get("/api/v1/auditoriums", Some(&promoter.access)).await;
    assert_eq!(venues.data().as_array().unwrap().len(), 3);
    let arena =
        venues.data().as_array().unwrap().iter().find(|v| v["name"] == "Seoul Arena").unwrap().clone();
    let places: u64 = arena["sections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            s["capacity"].as_u64().unwrap_or_else(|| {
                s["rows"].as_array().unwrap().iter().map(|r| r["seats"].as_u64().unwrap()).sum()
            })
        })
        .sum();
    assert_eq!((arena["sections"].as_array().unwrap().len(), places), (4, 20_540));
    let tour = concerts.data()["content"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Arena Tour 2027")
        .unwrap()
        .clone();
    let summary = app.get(&format!("/api/v1/concerts/{}/availability", tour["id"]), None).await;
    assert_eq!(summary.data()["sections"][0]["available"], 5000, "the floor, all on sale");
}
