//! Presales: before a concert's general sale (`salesOpenAt`) fans holding an access code
//! book in the presale's window, each code up to its number of bookings, counted in the
//! booking's own transaction; without a code the concert answers `SALES_NOT_OPEN`, and
//! once the general sale is open a code is ignored.

use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::rush::{book_all, fans};

const SALES_OPEN: &str = "2098-06-01T10:00:00Z";

/// A promoter's hall (rows A–B × 10) and a concert starting in 2099 with `fields` merged
/// into its body (by default its general sale opens at [`SALES_OPEN`]): `(promoter's
/// token, concert id, its body)`.
async fn concert(app: &TestApp, promoter: &str, fields: Value) -> (String, i64, Value) {
    let (_, token) = app.promoter(promoter).await;
    let hall = app
        .post(
            "/api/v1/auditoriums",
            &json!({"name": "Presale Hall", "address": "Seoul", "maxRow": "B", "maxColumn": 10}),
            Some(&token),
        )
        .await;
    hall.assert_status(201);
    let mut body = json!({
        "name": "Presale Live", "startTime": "2099-01-01T19:00:00Z", "auditoriumId": hall.data()["id"],
        "salesOpenAt": SALES_OPEN, "seatPrices": [{"grade": "R", "price": 100}],
        "seatList": [{"horizontals": ["A", "B"], "grade": "R"}],
    });
    for (key, value) in fields.as_object().unwrap() {
        body[key] = value.clone();
    }
    let created = app.post("/api/v1/concerts", &body, Some(&token)).await;
    created.assert_status(201);
    (token, created.data()["id"].as_i64().unwrap(), body)
}

/// A presale open from 2001 until the general sale, with `fields` merged into its body.
fn presale(fields: Value) -> Value {
    let mut body = json!({
        "name": "Fan club", "opensAt": "2001-01-01T00:00:00Z", "closesAt": SALES_OPEN, "maxUsesPerCode": 1,
    });
    for (key, value) in fields.as_object().unwrap() {
        body[key] = value.clone();
    }
    body
}

fn presales(concert: i64) -> String {
    format!("/api/v1/concerts/{concert}/presales")
}

fn reservations(concert: i64) -> String {
    format!("/api/v1/concerts/{concert}/reservations")
}

/// Opens a presale and answers it.
async fn open(app: &TestApp, token: &str, concert: i64, fields: Value) -> Value {
    let made = app.post(&presales(concert), &presale(fields), Some(token)).await;
    made.assert_status(201);
    made.data().clone()
}

/// The uses of each code of the concert's presales, as the promoter lists them.
async fn uses(app: &TestApp, token: &str, concert: i64) -> Vec<(String, i64)> {
    let list = app.get(&presales(concert), Some(token)).await;
    list.assert_status(200);
    list.data()
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["codes"].as_array().unwrap().iter())
        .map(|c| (c["code"].as_str().unwrap().to_owned(), c["uses"].as_i64().unwrap()))
        .collect()
}

fn seat(column: i64, code: &str) -> Value {
    json!({"seats": [{"horizontal": "A", "vertical": column}], "accessCode": code})
}

fn rfc3339_in(seconds: i64) -> String {
    (Utc::now() + chrono::Duration::seconds(seconds)).to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Sleeps until `at` (RFC 3339) has passed, and a little more.
async fn sleep_past(at: &str) {
    let at = chrono::DateTime::parse_from_rfc3339(at).unwrap().with_timezone(&Utc);
    let left = (at - Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(left + Duration::from_millis(300)).await;
}

#[tokio::test]
async fn a_promoter_opens_presales_with_given_or_generated_codes() {
    let app = TestApp::spawn().await;
    let (token, id, _) = concert(&app, "presale-promoter", json!({})).await;
    let given =
        open(&app, &token, id, json!({"codes": [" fan-club-1 ", "Fan-Club-2"], "maxUsesPerCode": 2})).await;
    assert_eq!(given["name"], "Fan club");
    assert_eq!((given["concertId"].as_i64(), given["maxUsesPerCode"].as_i64()), (Some(id), Some(2)));
    assert_eq!(given["closesAt"], SALES_OPEN);
    assert_eq!(given["codes"], json!([{"code": "FAN-CLUB-1", "uses": 0}, {"code": "FAN-CLUB-2", "uses": 0}]));
    let generated = open(&app, &token, id, json!({"name": "Radio", "count": 25})).await;
    let codes: Vec<&str> =
        generated["codes"].as_array().unwrap().iter().map(|c| c["code"].as_str().unwrap()).collect();
    assert_eq!(codes.len(), 25);
    assert_eq!(codes.iter().collect::<std::collections::HashSet<_>>().len(), 25, "distinct");
    assert!(
        codes
            .iter()
            .all(|c| c.len() == 10 && c.chars().all(|ch| ch.is_ascii_uppercase() || ch.is_ascii_digit()))
    );
    // An administrator may open one too; the promoter lists them all, oldest first.
    let admin = app.admin_token().await;
    open(&app, &admin, id, json!({"name": "Press", "codes": ["PRESS-ONLY"]})).await;
    let list = app.get(&presales(id), Some(&token)).await;
    list.assert_status(200);
    let names: Vec<&str> =
        list.data().as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Fan club", "Radio", "Press"]);
    assert_eq!(uses(&app, &token, id).await.len(), 28);
    // Each is an audited change, without its codes.
    let audit = app.get("/api/v1/admin/audit", Some(&admin)).await;
    let created: Vec<&Value> = audit.data()["content"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "presale.create")
        .collect();
    assert_eq!(created.len(), 3);
    assert_eq!(created[1]["after"]["codes"], 25);
    assert!(!audit.text.contains("FAN-CLUB-1"), "codes stay out of the audit log");
}

#[tokio::test]
async fn a_bad_presale_is_refused_naming_its_fields_and_nothing_is_made() {
    let app = TestApp::spawn().await;
    let (token, id, _) = concert(&app, "careful-promoter", json!({})).await;
    for (fields, named) in [
        (
            json!({"opensAt": "2098-05-01T00:00:00Z", "closesAt": "2098-05-01T00:00:00Z", "count": 1}),
            vec!["closesAt"],
        ),
        (json!({"closesAt": "2098-06-01T10:00:01Z", "count": 1}), vec!["closesAt"]),
        (json!({"closesAt": "2002-01-01T00:00:00Z", "count": 1}), vec!["closesAt"]),
        (json!({"name": "  ", "count": 1}), vec!["name"]),
        (json!({"maxUsesPerCode": 0, "count": 1}), vec!["maxUsesPerCode"]),
        (json!({"codes": ["ALPHA", "alpha"]}), vec!["codes[1]"]),
        (json!({"codes": ["ALPHA", "no spaces"]}), vec!["codes[1]"]),
        (json!({"codes": ["ALPHA"], "count": 3}), vec!["codes"]),
        (json!({}), vec!["codes"]),
        (json!({"count": 1001}), vec!["count"]),
        (json!({"opensAt": "soon", "count": 1}), vec!["opensAt"]),
    ] {
        let refused = app.post(&presales(id), &presale(fields.clone()), Some(&token)).await;
        refused.assert_error(400, "VALIDATION_FAILED");
        assert_eq!(refused.error_fields(), named, "{fields}");
    }
    assert!(uses(&app, &token, id).await.is_empty(), "nothing was made");
    // A code the concert has in another presale is taken.
    open(&app, &token, id, json!({"codes": ["ALPHA"]})).await;
    let taken = app.post(&presales(id), &presale(json!({"codes": ["BRAVO", "alpha"]})), Some(&token)).await;
    taken.assert_error(409, "ACCESS_CODE_TAKEN");
    assert!(taken.body["message"].as_str().unwrap().contains("ALPHA"));
    assert_eq!(uses(&app, &token, id).await, [("ALPHA".to_owned(), 0)], "BRAVO was not made either");
    // A concert on sale from its creation has no time for a presale.
    let (other_token, on_sale, _) = concert(&app, "hasty-promoter", json!({"salesOpenAt": null})).await;
    let refused = app.post(&presales(on_sale), &presale(json!({"count": 1})), Some(&other_token)).await;
    refused.assert_error(400, "VALIDATION_FAILED");
    assert_eq!(refused.error_fields(), ["closesAt"]);
    app.post(&presales(9999), &presale(json!({"count": 1})), Some(&token))
        .await
        .assert_error(404, "NOT_FOUND");
}

#[tokio::test]
async fn before_the_general_sale_a_booking_needs_a_code_of_an_open_presale() {
    let app = TestApp::spawn().await;
    let (token, id, _) = concert(&app, "gate-promoter", json!({})).await;
    open(&app, &token, id, json!({"codes": ["FAN-CLUB-1", "FAN-CLUB-2"], "maxUsesPerCode": 3})).await;
    let (other_token, other, _) = concert(&app, "other-promoter", json!({})).await;
    open(&app, &other_token, other, json!({"codes": ["ELSEWHERE"]})).await;
    let (_, fan) = app.fan("early-fan").await;
    let no_code = app.post(&reservations(id), &json!({"horizontal": "A", "vertical": 1}), Some(&fan)).await;
    no_code.assert_error(409, "SALES_NOT_OPEN");
    app.post(&reservations(id), &seat(1, "NO-SUCH-CODE"), Some(&fan))
        .await
        .assert_error(403, "ACCESS_CODE_INVALID");
    app.post(&reservations(id), &seat(1, "ELSEWHERE"), Some(&fan))
        .await
        .assert_error(403, "ACCESS_CODE_INVALID");
    let malformed = app.post(&reservations(id), &seat(1, "no"), Some(&fan)).await;
    malformed.assert_error(400, "VALIDATION_FAILED");
    assert_eq!(malformed.error_fields(), ["accessCode"]);
    assert_eq!(uses(&app, &token, id).await, [("FAN-CLUB-1".into(), 0), ("FAN-CLUB-2".into(), 0)]);
    // A code of its presale, in any case: booked, and counted once per booking.
    let booked = app
        .post(
            &reservations(id),
            &json!({"seats": [{"horizontal": "A", "vertical": 1},
        {"horizontal": "A", "vertical": 2}], "accessCode": " fan-club-1"}),
            Some(&fan),
        )
        .await;
    booked.assert_status(201);
    assert_eq!(booked.data()["reservations"].as_array().unwrap().len(), 2);
    // The one-seat form too.
    let one = json!({"horizontal": "B", "vertical": 1, "accessCode": "FAN-CLUB-1"});
    app.post(&reservations(id), &one, Some(&fan)).await.assert_status(201);
    assert_eq!(uses(&app, &token, id).await, [("FAN-CLUB-1".into(), 2), ("FAN-CLUB-2".into(), 0)]);
    let map = app.get(&format!("/api/v1/concerts/{id}/seats"), None).await;
    assert_eq!(map.data()["rows"][0]["statuses"], "RRAAAAAAAA");
    // The promoter's orders say which presale and code each came through.
    let orders = app.get(&format!("/api/v1/concerts/{id}/orders"), Some(&token)).await;
    orders.assert_status(200);
    let content = orders.data()["content"].as_array().unwrap();
    assert_eq!(content.len(), 2);
    for order in content {
        assert_eq!(order["presale"], json!({"name": "Fan club", "accessCode": "FAN-CLUB-1"}));
    }
}

#[tokio::test]
async fn a_code_books_only_inside_its_presales_window() {
    let app = TestApp::spawn().await;
    let (_, fan) = app.fan("timely-fan").await;
    let (token, id, _) = concert(&app, "window-promoter", json!({})).await;
    // Not yet: the presale opens later.
    open(&app, &token, id, json!({"codes": ["LATER-ONE"], "opensAt": "2098-01-01T00:00:00Z"})).await;
    let early = app.post(&reservations(id), &seat(1, "LATER-ONE"), Some(&fan)).await;
    early.assert_error(409, "PRESALE_NOT_OPEN");
    assert!(early.body["message"].as_str().unwrap().contains("2098-01-01T00:00:00Z"));
    // Over: a presale that closed before the general sale opened.
    let closes = rfc3339_in(3);
    open(&app, &token, id, json!({"codes": ["SHORT-ONE"], "closesAt": closes, "maxUsesPerCode": 5})).await;
    app.post(&reservations(id), &seat(2, "SHORT-ONE"), Some(&fan)).await.assert_status(201);
    sleep_past(&closes).await;
    let late = app.post(&reservations(id), &seat(3, "SHORT-ONE"), Some(&fan)).await;
    late.assert_error(409, "PRESALE_CLOSED");
    assert!(late.body["message"].as_str().unwrap().contains("2098-06-01T10:00:00Z"), "says when sales open");
    assert_eq!(uses(&app, &token, id).await, [("LATER-ONE".into(), 0), ("SHORT-ONE".into(), 1)]);
}

#[tokio::test]
async fn once_the_general_sale_opens_a_code_is_ignored() {
    let app = TestApp::spawn().await;
    let (_, fan) = app.fan("patient-fan").await;
    let (_, promoter) = app.promoter("opening-promoter").await;
    let hall = app
        .post(
            "/api/v1/auditoriums",
            &json!({"name": "H", "address": "S", "maxRow": "A", "maxColumn": 5}),
            Some(&promoter),
        )
        .await;
    let sales_open = rfc3339_in(4);
    let created = app
        .post(
            "/api/v1/concerts",
            &json!({"name": "Soon", "startTime": "2099-01-01T19:00:00Z", "auditoriumId": hall.data()["id"],
                    "salesOpenAt": sales_open, "seatPrices": [{"grade": "R", "price": 1}],
                    "seatList": [{"horizontals": ["A"], "grade": "R"}]}),
            Some(&promoter),
        )
        .await;
    created.assert_status(201);
    let id = created.data()["id"].as_i64().unwrap();
    open(&app, &promoter, id, json!({"codes": ["EARLY-BIRD"], "closesAt": sales_open})).await;
    app.post(&reservations(id), &seat(1, "EARLY-BIRD"), Some(&fan)).await.assert_status(201);
    app.post(&reservations(id), &seat(2, "EARLY-BIRD"), Some(&fan))
        .await
        .assert_error(409, "ACCESS_CODE_USED_UP");
    sleep_past(&sales_open).await;
    // The general sale: a used-up code, an unknown one, or none all book, and count nothing.
    app.post(&reservations(id), &seat(2, "EARLY-BIRD"), Some(&fan)).await.assert_status(201);
    app.post(&reservations(id), &seat(3, "NOT-A-CODE"), Some(&fan)).await.assert_status(201);
    app.post(&reservations(id), &json!({"horizontal": "A", "vertical": 4}), Some(&fan))
        .await
        .assert_status(201);
    assert_eq!(uses(&app, &promoter, id).await, [("EARLY-BIRD".into(), 1)]);
    let orders = app.get(&format!("/api/v1/concerts/{id}/orders"), Some(&promoter)).await;
    let content = orders.data()["content"].as_array().unwrap();
    assert_eq!(content.len(), 4);
    let presale_orders = content.iter().filter(|o| !o["presale"].is_null()).count();
    assert_eq!(presale_orders, 1, "only the order of the presale: {content:?}");
}

#[tokio::test]
async fn a_used_up_code_books_no_more_and_a_cancellation_does_not_give_its_use_back() {
    let app = TestApp::spawn().await;
    let (token, id, _) = concert(&app, "thrifty-promoter", json!({"maxSeatsPerFan": 10})).await;
    open(&app, &token, id, json!({"codes": ["TWICE-ONLY"], "maxUsesPerCode": 2})).await;
    let (_, fan) = app.fan("first-fan").await;
    let (_, friend) = app.fan("second-fan").await;
    let first = app.post(&reservations(id), &seat(1, "TWICE-ONLY"), Some(&fan)).await;
    first.assert_status(201);
    app.post(&reservations(id), &seat(2, "TWICE-ONLY"), Some(&friend)).await.assert_status(201);
    for token in [&fan, &friend] {
        let refused = app.post(&reservations(id), &seat(3, "TWICE-ONLY"), Some(token)).await;
        refused.assert_error(409, "ACCESS_CODE_USED_UP");
    }
    let reservation = first.data()["reservations"][0]["id"].as_i64().unwrap();
    app.delete(&format!("{}/{reservation}", reservations(id)), Some(&fan)).await.assert_status(200);
    app.post(&reservations(id), &seat(3, "TWICE-ONLY"), Some(&fan))
        .await
        .assert_error(409, "ACCESS_CODE_USED_UP");
    assert_eq!(uses(&app, &token, id).await, [("TWICE-ONLY".into(), 2)]);
}

#[tokio::test]
async fn a_retry_with_the_same_idempotency_key_counts_its_code_once() {
    let app = TestApp::spawn().await;
    let (token, id, _) = concert(&app, "retry-promoter", json!({})).await;
    open(&app, &token, id, json!({"codes": ["RETRY-ME"], "maxUsesPerCode": 2})).await;
    let (_, fan) = app.fan("retrying-fan").await;
    let send = || async {
        let request = app
            .client
            .post(app.url(&reservations(id)))
            .bearer_auth(&fan)
            .header("Idempotency-Key", "presale-retry-1")
            .json(&seat(5, "RETRY-ME"));
        TestApp::reply(request.send().await.unwrap()).await
    };
    let first = send().await;
    first.assert_status(201);
    let again = send().await;
    again.assert_status(201);
    assert_eq!(again.data()["reservations"][0]["id"], first.data()["reservations"][0]["id"]);
    assert_eq!(uses(&app, &token, id).await, [("RETRY-ME".into(), 1)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fans_racing_with_one_code_book_exactly_as_often_as_it_allows() {
    const FANS: usize = 16;
    const USES: i64 = 3;
    let app = TestApp::spawn().await;
    let (token, id, _) = concert(&app, "race-promoter", json!({})).await;
    open(&app, &token, id, json!({"codes": ["SHARED-CODE"], "maxUsesPerCode": USES})).await;
    let tokens = fans(&app, "racer", FANS).await;
    // Every fan a seat of their own: only the code is contended.
    let orders = tokens
        .into_iter()
        .enumerate()
        .map(|(i, token)| {
            let (row, column) = (if i < 10 { "A" } else { "B" }, i % 10 + 1);
            (token, json!({"seats": [{"horizontal": row, "vertical": column}], "accessCode": "shared-code"}))
        })
        .collect();
    let answers = book_all(&app, id, orders).await;
    let booked = answers.iter().filter(|(status, _)| *status == 201).count();
    let used_up = answers
        .iter()
        .filter(|(status, body)| *status == 409 && body["code"] == "ACCESS_CODE_USED_UP")
        .count();
    assert_eq!((booked, used_up), (USES as usize, FANS - USES as usize), "{answers:?}");
    assert_eq!(uses(&app, &token, id).await, [("SHARED-CODE".into(), USES)]);
    let map = app.get(&format!("/api/v1/concerts/{id}/seats"), None).await;
    let taken: usize = map.data()["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["statuses"].as_str().unwrap().matches('R').count())
        .sum();
    assert_eq!(taken, USES as usize);
}

#[tokio::test]
async fn an_unused_presale_can_be_deleted_and_a_used_one_is_kept() {
    let app = TestApp::spawn().await;
    let (token, id, _) = concert(&app, "tidy-promoter", json!({})).await;
    let mistake = open(&app, &token, id, json!({"codes": ["TYPO-CODE"]})).await;
    let kept = open(&app, &token, id, json!({"codes": ["REAL-CODE"]})).await;
    let path = |p: &Value| format!("{}/{}", presales(id), p["id"]);
    app.delete(&path(&mistake), Some(&token)).await.assert_status(204);
    app.delete(&path(&mistake), Some(&token)).await.assert_error(404, "NOT_FOUND");
    // Its code is free for another presale.
    open(&app, &token, id, json!({"codes": ["TYPO-CODE"]})).await;
    let (_, fan) = app.fan("kept-fan").await;
    app.post(&reservations(id), &seat(1, "REAL-CODE"), Some(&fan)).await.assert_status(201);
    app.delete(&path(&kept), Some(&token)).await.assert_error(409, "PRESALE_USED");
    assert_eq!(uses(&app, &token, id).await, [("REAL-CODE".into(), 1), ("TYPO-CODE".into(), 0)]);
    let admin = app.admin_token().await;
    let audit = app.get("/api/v1/admin/audit", Some(&admin)).await;
    let deleted: Vec<&Value> = audit.data()["content"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "presale.delete")
        .collect();
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0]["before"]["name"], "Fan club");
}

#[tokio::test]
async fn the_general_sale_cannot_open_before_a_presale_has_closed() {
    let app = TestApp::spawn().await;
    let (token, id, mut body) = concert(&app, "moving-promoter", json!({})).await;
    open(&app, &token, id, json!({"codes": ["STAYS-PUT"], "closesAt": "2098-05-01T00:00:00Z"})).await;
    for earlier in [json!("2098-04-30T00:00:00Z"), Value::Null] {
        body["salesOpenAt"] = earlier;
        let moved = app.put(&format!("/api/v1/concerts/{id}"), &body, Some(&token)).await;
        moved.assert_error(409, "PRESALE_AFTER_SALES_OPEN");
    }
    body["salesOpenAt"] = json!("2098-05-01T00:00:00Z");
    app.put(&format!("/api/v1/concerts/{id}"), &body, Some(&token)).await.assert_status(200);
    let detail = app.get(&format!("/api/v1/concerts/{id}"), None).await;
    assert_eq!(detail.data()["salesOpenAt"], "2098-05-01T00:00:00Z");
}
