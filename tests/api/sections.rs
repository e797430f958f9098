//! Real venues: sections, rows of their own lengths and standing floors. Venues given in
//! sections and answered back (and the seed's venues answered as one unnamed section), every
//! refused venue and what a venue may no longer lose, concerts graded per section, seats
//! booked by section and standing places by quantity (all or nothing, within the per-fan
//! limit, never beyond a floor's capacity, even in a rush), the sectioned seat map, the
//! availability overview and compressed answers.

use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp};
use crate::rush::{book_all, fans};

/// The code of a refusal for passing a concert's `maxSeatsPerFan`: the one the seed's
/// seat-only orders already answer, since standing places count under the same limit.
const FAN_LIMIT: &str = "SEAT_LIMIT";

fn path(concert: i64) -> String {
    format!("/api/v1/concerts/{concert}/reservations")
}

fn seat(section: &str, h: &str, v: i64) -> Value {
    json!({"section": section, "horizontal": h, "vertical": v})
}

fn floor(quantity: i64) -> Value {
    json!({"section": "Floor", "quantity": quantity})
}

/// The arena: a standing floor of 20, section 101 with rows of 4, 6 and 5 seats, and
/// section 102 with rows `A` and `12` of 3 seats each.
fn arena_sections() -> Value {
    json!([
        {"name": "Floor", "kind": "STANDING", "capacity": 20},
        {"name": "101", "kind": "SEATED", "rows": [
            {"label": "A", "seats": 4}, {"label": "B", "seats": 6}, {"label": "C", "seats": 5},
        ]},
        {"name": "102", "kind": "SEATED", "rows": [{"label": "A", "seats": 3}, {"label": "12", "seats": 3}]},
    ])
}

fn venue_body(sections: &Value) -> Value {
    json!({"name": "Arena", "address": "Seoul", "sections": sections})
}

/// Every row of the arena on sale: 101 in grade R, 102 in grade S.
fn all_rows() -> Value {
    json!([
        {"section": "101", "horizontals": ["A", "B", "C"], "grade": "R"},
        {"section": "102", "horizontals": ["A", "12"], "grade": "S"},
    ])
}

/// A concert in `hall` selling `seat_list` (R 100, S 50) and the floor (G 30).
fn concert_body(hall: i64, max_per_fan: i64, seat_list: Value) -> Value {
    json!({
        "name": "Arena Live", "description": "sections and a floor", "startTime": "2099-07-01T19:00:00Z",
        "auditoriumId": hall, "maxSeatsPerFan": max_per_fan,
        "seatPrices": [
            {"grade": "R", "price": 100}, {"grade": "S", "price": 50}, {"grade": "G", "price": 30},
        ],
        "seatList": seat_list,
        "standing": [{"section": "Floor", "grade": "G"}],
    })
}

/// A promoter and their arena: `(promoter token, auditorium id)`.
async fn arena_venue(app: &TestApp) -> (String, i64) {
    let (_, promoter) = app.promoter("arena-promoter").await;
    let created = app.post("/api/v1/auditoriums", &venue_body(&arena_sections()), Some(&promoter)).await;
    created.assert_status(201);
    (promoter, created.data()["id"].as_i64().unwrap())
}

async fn create_concert(app: &TestApp, promoter: &str, body: &Value) -> i64 {
    let created = app.post("/api/v1/concerts", body, Some(promoter)).await;
    created.assert_status(201);
    created.data()["id"].as_i64().unwrap()
}

/// The arena with every place on sale: `(promoter token, auditorium id, concert id)`.
async fn arena(app: &TestApp, max_per_fan: i64) -> (String, i64, i64) {
    let (promoter, hall) = arena_venue(app).await;
    let concert = create_concert(app, &promoter, &concert_body(hall, max_per_fan, all_rows())).await;
    (promoter, hall, concert)
}

async fn seat_map(app: &TestApp, concert: i64) -> Value {
    let map = app.get(&format!("/api/v1/concerts/{concert}/seats"), None).await;
    map.assert_status(200);
    map.data().clone()
}

async fn availability(app: &TestApp, concert: i64) -> Value {
    let reply = app.get(&format!("/api/v1/concerts/{concert}/availability"), None).await;
    reply.assert_status(200);
    reply.data().clone()
}

/// The entry named `name` of a list of sections (of a seat map or of availability).
#[track_caller]
fn section<'a>(map: &'a Value, name: &str) -> &'a Value {
    let sections = map["sections"].as_array().unwrap_or_else(|| panic!("no sections: {map}"));
    sections.iter().find(|s| s["name"] == name).unwrap_or_else(|| panic!("no section {name:?}: {map}"))
}

/// The statuses of row `label` of a seated section of a seat map.
#[track_caller]
fn row(map: &Value, name: &str, label: &str) -> String {
    let rows = section(map, name)["rows"].as_array().unwrap_or_else(|| panic!("{name} has no rows: {map}"));
    let row =
        rows.iter().find(|r| r["horizontal"] == label).unwrap_or_else(|| panic!("no row {label}: {map}"));
    row["statuses"].as_str().unwrap().to_owned()
}

/// Places left on the arena's floor, as the seat map shows them.
async fn floor_left(app: &TestApp, concert: i64) -> i64 {
    section(&seat_map(app, concert).await, "Floor")["available"].as_i64().unwrap()
}

/// Active reservations of a concert, seats and standing places alike, as the admin sees them.
async fn held(app: &TestApp, concert: i64) -> usize {
    let admin = app.admin_token().await;
    let list = app.get("/api/v1/admin/reservations", Some(&admin)).await;
    list.assert_status(200);
    list.data()
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["concert"]["id"] == concert && r["status"] == "Y")
        .count()
}

/// The reservations of a list-form booking.
#[track_caller]
fn reservations(reply: &Reply) -> Vec<Value> {
    reply.assert_status(201);
    reply.data()["reservations"]
        .as_array()
        .unwrap_or_else(|| panic!("no reservations: {}", reply.text))
        .clone()
}

fn ids(list: &[Value]) -> Vec<i64> {
    list.iter().map(|r| r["id"].as_i64().unwrap()).collect()
}

async fn own_venues(app: &TestApp, token: &str) -> usize {
    let list = app.get("/api/v1/auditoriums", Some(token)).await;
    list.assert_status(200);
    list.data().as_array().unwrap().len()
}

#[tokio::test]
async fn a_venue_given_in_sections_answers_them_back_trimmed_without_max_row_or_column() {
    let app = TestApp::spawn().await;
    let (_, promoter) = app.promoter("arena-promoter").await;
    let mut sent = arena_sections();
    sent[0]["name"] = json!("  Floor ");
    sent[2]["name"] = json!(" 102");
    let created = app.post("/api/v1/auditoriums", &venue_body(&sent), Some(&promoter)).await;
    created.assert_status(201);
    let id = created.data()["id"].as_i64().unwrap();
    for shown in
        [created.data().clone(), app.get(&format!("/api/v1/auditoriums/{id}"), None).await.data().clone()]
    {
        assert_eq!(shown["sections"], arena_sections(), "the sections, names trimmed: {shown}");
        assert_eq!((shown["name"].as_str(), shown["address"].as_str()), (Some("Arena"), Some("Seoul")));
        assert!(shown["maxRow"].is_null() && shown["maxColumn"].is_null(), "{shown}");
    }
    let own = app.get("/api/v1/auditoriums", Some(&promoter)).await;
    assert_eq!(own.data()[0]["sections"], arena_sections());
}

#[tokio::test]
async fn a_seed_form_venue_is_one_unnamed_seated_section_and_keeps_its_max_row_and_column() {
    let app = TestApp::spawn().await;
    let (_, promoter) = app.promoter("seed-promoter").await;
    let body = json!({"name": "Hall", "address": "Seoul", "maxRow": "C", "maxColumn": 5});
    let created = app.post("/api/v1/auditoriums", &body, Some(&promoter)).await;
    created.assert_status(201);
    let id = created.data()["id"].as_i64().unwrap();
    let rows = |labels: &str, seats: i64| -> Value {
        labels.chars().map(|l| json!({"label": l.to_string(), "seats": seats})).collect()
    };
    let shown = app.get(&format!("/api/v1/auditoriums/{id}"), None).await;
    for venue in [created.data(), shown.data()] {
        assert_eq!(venue["sections"], json!([{"name": "", "kind": "SEATED", "rows": rows("ABC", 5)}]));
        assert_eq!((venue["maxRow"].as_str(), venue["maxColumn"].as_i64()), (Some("C"), Some(5)));
    }
    let grown = app
        .put(
            &format!("/api/v1/auditoriums/{id}"),
            &json!({"name": "Hall", "address": "Seoul", "maxRow": "D", "maxColumn": 6}),
            Some(&promoter),
        )
        .await;
    grown.assert_status(200);
    assert_eq!(grown.data()["sections"], json!([{"name": "", "kind": "SEATED", "rows": rows("ABCD", 6)}]));
}

#[tokio::test]
async fn a_venue_may_have_200_sections_100000_places_200_seat_rows_and_40_byte_names() {
    let app = TestApp::spawn().await;
    let (_, promoter) = app.promoter("big-promoter").await;
    // 40 bytes of UTF-8: 20 two-byte letters.
    let long_name = "é".repeat(20);
    let mut sections: Vec<Value> =
        (0..199).map(|i| json!({"name": format!("S{i}"), "kind": "STANDING", "capacity": 1})).collect();
    sections.push(json!({"name": long_name, "kind": "SEATED", "rows": [
        {"label": "ABC1", "seats": 200}, {"label": "7", "seats": 1}, {"label": "AA", "seats": 3},
    ]}));
    let many = app.post("/api/v1/auditoriums", &venue_body(&json!(sections)), Some(&promoter)).await;
    many.assert_status(201);
    assert_eq!(many.data()["sections"], json!(sections));
    let full = json!([
        {"name": "Field", "kind": "STANDING", "capacity": 99_990},
        {"name": "Box", "kind": "SEATED", "rows": [{"label": "A", "seats": 10}]},
    ]);
    let stadium = app.post("/api/v1/auditoriums", &venue_body(&full), Some(&promoter)).await;
    stadium.assert_status(201);
    assert_eq!(stadium.data()["sections"], full);
    assert_eq!(own_venues(&app, &promoter).await, 2);
}

#[tokio::test]
async fn bad_venues_are_refused_naming_the_field_and_create_or_change_nothing() {
    let app = TestApp::spawn().await;
    let (promoter, hall) = arena_venue(&app).await;
    let seated = |rows: Value| json!({"name": "101", "kind": "SEATED", "rows": rows});
    let box_of =
        |seats: i64| json!({"name": "Box", "kind": "SEATED", "rows": [{"label": "A", "seats": seats}]});
    let label = |label: &str| seated(json!([{"label": label, "seats": 5}]));
    let standing =
        |name: &str, capacity: i64| json!({"name": name, "kind": "STANDING", "capacity": capacity});
    let too_many: Vec<Value> = (0..201).map(|i| standing(&format!("S{i}"), 1)).collect();
    let cases = [
        (json!([standing("Floor", 10), standing("Floor", 5)]), "sections[1].name"),
        (json!([box_of(5), standing("Box", 5)]), "sections[1].name"),
        (
            json!([seated(json!([{"label": "A", "seats": 5}, {"label": "A", "seats": 6}]))]),
            "sections[0].rows[1].label",
        ),
        (json!([seated(json!([{"label": "A", "seats": 0}]))]), "sections[0].rows[0].seats"),
        (json!([seated(json!([{"label": "A", "seats": 201}]))]), "sections[0].rows[0].seats"),
        (json!([standing("Floor", 0)]), "sections[0].capacity"),
        (json!([standing("North", 60_000), standing("South", 40_001)]), "sections"),
        (json!([standing("Field", 99_991), box_of(10)]), "sections"),
        (json!(too_many), "sections"),
        (json!([standing("   ", 10)]), "sections[0].name"),
        (json!([standing(&"x".repeat(41), 10)]), "sections[0].name"),
        (json!([standing(&"é".repeat(21), 10)]), "sections[0].name"),
        (json!([label("")]), "sections[0].rows[0].label"),
        (json!([label("ABCDE")]), "sections[0].rows[0].label"),
        (json!([label("A-1")]), "sections[0].rows[0].label"),
        (json!([label("Ä")]), "sections[0].rows[0].label"),
    ];
    for (sections, field) in &cases {
        let reply = app.post("/api/v1/auditoriums", &venue_body(sections), Some(&promoter)).await;
        reply.assert_error(400, "VALIDATION_FAILED");
        assert_eq!(reply.error_fields(), [*field], "{sections}");
        assert_eq!(own_venues(&app, &promoter).await, 1, "nothing created by {sections}");
    }
    let both = json!({"name": "Arena", "address": "Seoul", "maxRow": "C", "maxColumn": 5,
                      "sections": [standing("Floor", 10)]});
    app.post("/api/v1/auditoriums", &both, Some(&promoter)).await.assert_error(400, "VALIDATION_FAILED");
    assert_eq!(own_venues(&app, &promoter).await, 1, "nothing created by both forms at once");
    // The same rules hold for a change, and a refused change leaves the venue as it was.
    let venue = format!("/api/v1/auditoriums/{hall}");
    for (sections, field) in &cases[..5] {
        let reply = app.put(&venue, &venue_body(sections), Some(&promoter)).await;
        reply.assert_error(400, "VALIDATION_FAILED");
        assert_eq!(reply.error_fields(), [*field], "{sections}");
    }
    app.put(&venue, &both, Some(&promoter)).await.assert_error(400, "VALIDATION_FAILED");
    assert_eq!(app.get(&venue, None).await.data()["sections"], arena_sections());
}

#[tokio::test]
async fn a_venue_cannot_drop_a_seat_or_standing_place_an_upcoming_concert_sells() {
    let app = TestApp::spawn().await;
    let (promoter, hall, concert) = arena(&app, 4).await;
    let venue = format!("/api/v1/auditoriums/{hall}");
    let map = seat_map(&app, concert).await;
    let changed = |change: fn(&mut Value)| -> Value {
        let mut sections = arena_sections();
        change(&mut sections);
        sections
    };
    let shrinks = [
        changed(|s: &mut Value| s[1]["rows"][2]["seats"] = json!(4)),
        changed(|s: &mut Value| {
            s[1]["rows"].as_array_mut().unwrap().remove(1);
        }),
        changed(|s: &mut Value| s[0]["capacity"] = json!(19)),
        changed(|s: &mut Value| {
            s.as_array_mut().unwrap().remove(0);
        }),
        changed(|s: &mut Value| s[2]["name"] = json!("103")),
        changed(|s: &mut Value| s[2]["rows"][1]["label"] = json!("13")),
    ];
    for sections in &shrinks {
        let reply = app.put(&venue, &venue_body(sections), Some(&promoter)).await;
        reply.assert_error(409, "AUDITORIUM_IN_USE");
        let shown = app.get(&venue, None).await;
        assert_eq!(shown.data()["sections"], arena_sections(), "unchanged after {sections}");
    }
    assert_eq!(seat_map(&app, concert).await, map, "the concert's map is untouched");
}

#[tokio::test]
async fn a_venue_grows_freely_and_may_drop_what_no_upcoming_concert_sells() {
    let app = TestApp::spawn().await;
    let (promoter, hall) = arena_venue(&app).await;
    // Only rows A and B of 101 and the floor on sale: row C and section 102 are not.
    let rows = json!([{"section": "101", "horizontals": ["A", "B"], "grade": "R"}]);
    let concert = create_concert(&app, &promoter, &concert_body(hall, 4, rows)).await;
    let mut grown = arena_sections();
    grown[0]["capacity"] = json!(25);
    grown[1]["rows"] =
        json!([{"label": "A", "seats": 6}, {"label": "B", "seats": 6}, {"label": "D", "seats": 3}]);
    grown[2] = json!({"name": "Terrace", "kind": "STANDING", "capacity": 10});
    let venue = format!("/api/v1/auditoriums/{hall}");
    let reply = app.put(&venue, &venue_body(&grown), Some(&promoter)).await;
    reply.assert_status(200);
    assert_eq!(reply.data()["sections"], grown);
    assert!(reply.data()["maxRow"].is_null() && reply.data()["maxColumn"].is_null());
    assert_eq!(app.get(&venue, None).await.data()["sections"], grown);
    // The row is as long as the venue's row now; its new seats are not on sale.
    let map = seat_map(&app, concert).await;
    assert_eq!((row(&map, "101", "A"), row(&map, "101", "B")), ("AAAA--".into(), "AAAAAA".into()));
}

#[tokio::test]
async fn a_concert_grades_rows_per_section_and_prices_its_standing_floor() {
    let app = TestApp::spawn().await;
    let (_, _, concert) = arena(&app, 4).await;
    let map = seat_map(&app, concert).await;
    assert_eq!(map["concertId"], concert);
    assert!(map["version"].is_i64(), "{map}");
    assert!(map.get("rows").is_none(), "no seed-shaped rows for a sectioned venue: {map}");
    assert_eq!(map["sections"].as_array().unwrap().len(), 3);
    assert_eq!(
        section(&map, "Floor"),
        &json!({
            "name": "Floor", "kind": "STANDING", "capacity": 20, "available": 20, "grade": "G", "price": 30,
        })
    );
    assert_eq!(
        section(&map, "101"),
        &json!({"name": "101", "kind": "SEATED", "rows": [
            {"horizontal": "A", "grade": "R", "price": 100, "statuses": "AAAA"},
            {"horizontal": "B", "grade": "R", "price": 100, "statuses": "AAAAAA"},
            {"horizontal": "C", "grade": "R", "price": 100, "statuses": "AAAAA"},
        ]})
    );
    assert_eq!(
        section(&map, "102"),
        &json!({"name": "102", "kind": "SEATED", "rows": [
            {"horizontal": "A", "grade": "S", "price": 50, "statuses": "AAA"},
            {"horizontal": "12", "grade": "S", "price": 50, "statuses": "AAA"},
        ]})
    );
}

#[tokio::test]
async fn a_concert_must_name_sections_the_venue_has_and_rows_those_sections_have() {
    let app = TestApp::spawn().await;
    let (promoter, hall) = arena_venue(&app).await;
    let floor = json!([{"section": "Floor", "grade": "G"}]);
    let cases = [
        (
            json!([{"section": "999", "horizontals": ["A"], "grade": "R"}]),
            floor.clone(),
            "seatList[0].section",
        ),
        (json!([{"horizontals": ["A"], "grade": "R"}]), floor.clone(), "seatList[0].section"),
        (
            json!([{"section": "102", "horizontals": ["A", "B"], "grade": "R"}]),
            floor,
            "seatList[0].horizontals[1]",
        ),
        (all_rows(), json!([{"section": "Pit", "grade": "G"}]), "standing[0].section"),
        (all_rows(), json!([{"section": "Floor", "grade": "X"}]), "standing[0].grade"),
    ];
    for (seat_list, standing, field) in cases {
        let mut body = concert_body(hall, 4, seat_list);
        body["standing"] = standing;
        let reply = app.post("/api/v1/concerts", &body, Some(&promoter)).await;
        reply.assert_error(400, "VALIDATION_FAILED");
        assert_eq!(reply.error_fields(), [field], "{body}");
    }
    assert_eq!(app.get("/api/v1/concerts", None).await.data()["totalElements"], 0, "nothing created");
}

#[tokio::test]
async fn a_one_section_venue_needs_no_section_name_and_keeps_the_seed_shaped_map() {
    let app = TestApp::spawn().await;
    let (_, promoter) = app.promoter("club-promoter").await;
    let rows = json!([{"label": "A", "seats": 3}, {"label": "B", "seats": 5}]);
    let sections = json!([{"name": "Main", "kind": "SEATED", "rows": rows}]);
    let hall = app.post("/api/v1/auditoriums", &venue_body(&sections), Some(&promoter)).await;
    hall.assert_status(201);
    let mut body = concert_body(
        hall.data()["id"].as_i64().unwrap(),
        4,
        json!([{"horizontals": ["A", "B"], "grade": "R"}]),
    );
    body.as_object_mut().unwrap().remove("standing");
    let concert = create_concert(&app, &promoter, &body).await;
    let (_, fan) = app.fan("clubber").await;
    app.post(&path(concert), &json!({"horizontal": "A", "vertical": 2}), Some(&fan)).await.assert_status(201);
    app.post(&path(concert), &seat("Main", "B", 5), Some(&fan)).await.assert_status(201);
    let map = seat_map(&app, concert).await;
    assert!(map.get("sections").is_none(), "{map}");
    assert_eq!(map["section"], "Main", "the one section is named");
    assert_eq!(
        map["rows"],
        json!([
            {"horizontal": "A", "grade": "R", "price": 100, "statuses": "ARA"},
            {"horizontal": "B", "grade": "R", "price": 100, "statuses": "AAAAR"},
        ])
    );
    // Its section by name, and the overview under its name.
    let one = app.get(&format!("/api/v1/concerts/{concert}/seats?section=Main"), None).await;
    one.assert_status(200);
    assert_eq!(one.data()["sections"][0]["rows"][1]["statuses"], "AAAAR");
    assert_eq!(availability(&app, concert).await["sections"][0]["name"], "Main");
    // A seat named with and without the section is one seat named twice.
    let twice = json!({"seats": [{"horizontal": "A", "vertical": 1}, seat("Main", "A", 1)]});
    let refused = app.post(&path(concert), &twice, Some(&fan)).await;
    refused.assert_error(400, "VALIDATION_FAILED");
    assert_eq!(refused.error_fields(), ["seats[1]"]);
    // A retry with its idempotency key answers the first booking, named as it was sent.
    let retried = || async {
        let response = app
            .client
            .post(app.url(&path(concert)))
            .bearer_auth(&fan)
            .header("Idempotency-Key", "club-retry-1")
            .json(&json!({"horizontal": "A", "vertical": 3}))
            .send()
            .await
            .unwrap();
        TestApp::reply(response).await
    };
    let first = retried().await;
    first.assert_status(201);
    let again = retried().await;
    again.assert_status(201);
    assert_eq!(again.data()["id"], first.data()["id"], "replayed, not refused");
}

#[tokio::test]
async fn a_changed_venue_of_sections_shows_at_once_in_its_concerts_maps() {
    let app = TestApp::spawn().await;
    let (promoter, hall, concert) = arena(&app, 4).await;
    assert_eq!(row(&seat_map(&app, concert).await, "101", "A"), "AAAA");
    let mut sections = arena_sections();
    sections[1]["rows"][0]["seats"] = json!(6);
    let grown =
        app.put(&format!("/api/v1/auditoriums/{hall}"), &venue_body(&sections), Some(&promoter)).await;
    grown.assert_status(200);
    assert_eq!(
        row(&seat_map(&app, concert).await, "101", "A"),
        "AAAA--",
        "the row's new seats are not on sale"
    );
}

#[tokio::test]
async fn a_seed_venue_still_refuses_rows_that_are_not_one_letter() {
    let app = TestApp::spawn().await;
    let (_, promoter) = app.promoter("seed-promoter").await;
    let hall = app
        .post(
            "/api/v1/auditoriums",
            &json!({"name": "Hall", "address": "x", "maxRow": "C", "maxColumn": 5}),
            Some(&promoter),
        )
        .await;
    hall.assert_status(201);
    let mut body =
        concert_body(hall.data()["id"].as_i64().unwrap(), 4, json!([{"horizontals": ["A"], "grade": "R"}]));
    body.as_object_mut().unwrap().remove("standing");
    let concert = create_concert(&app, &promoter, &body).await;
    let (_, fan) = app.fan("seed-fan").await;
    for (order, field) in [
        (json!({"horizontal": "AA", "vertical": 1}), "horizontal"),
        (json!({"seats": [{"horizontal": "1", "vertical": 1}]}), "seats[0].horizontal"),
    ] {
        let refused = app.post(&path(concert), &order, Some(&fan)).await;
        refused.assert_error(400, "VALIDATION_FAILED");
        assert_eq!(refused.error_fields(), [field], "{order}");
    }
}

#[tokio::test]
async fn a_seat_is_booked_by_section_and_the_same_row_and_number_elsewhere_is_another_seat() {
    let app = TestApp::spawn().await;
    let (_, _, concert) = arena(&app, 4).await;
    let (fan_id, fan) = app.fan("sectioned").await;
    let (_, other) = app.fan("other").await;
    let booked = app
        .post(&path(concert), &json!({"seats": [seat("101", "A", 3), seat("102", "A", 3)]}), Some(&fan))
        .await;
    let list = reservations(&booked);
    assert_eq!(list.len(), 2);
    for r in &list {
        assert_eq!(
            (r["status"].as_str(), r["userId"].as_i64(), r["concertId"].as_i64()),
            (Some("Y"), Some(fan_id), Some(concert))
        );
        assert!(r["id"].is_i64() && r["seatId"].is_i64(), "{r}");
    }
    assert_ne!(list[0]["seatId"], list[1]["seatId"], "two seats, not one");
    app.post(&path(concert), &seat("101", "A", 3), Some(&other)).await.assert_error(409, "SEAT_TAKEN");
    let single = app.post(&path(concert), &seat("102", "A", 1), Some(&other)).await;
    single.assert_status(201);
    assert!(single.data()["id"].is_i64() && single.data()["seatId"].is_i64(), "{}", single.text);
    assert!(single.data().get("reservations").is_none(), "the single form answers one reservation");
    let map = seat_map(&app, concert).await;
    assert_eq!((row(&map, "101", "A"), row(&map, "102", "A")), ("AARA".into(), "RAR".into()));
    assert_eq!(held(&app, concert).await, 3);
}

#[tokio::test]
async fn standing_places_are_booked_by_quantity_one_reservation_per_place() {
    let app = TestApp::spawn().await;
    let (_, _, concert) = arena(&app, 10).await;
    let (fan_id, fan) = app.fan("stander").await;
    let list = reservations(&app.post(&path(concert), &json!({"standing": [floor(3)]}), Some(&fan)).await);
    assert_eq!(list.len(), 3);
    for r in &list {
        assert_eq!(
            (r["status"].as_str(), r["userId"].as_i64(), r["concertId"].as_i64()),
            (Some("Y"), Some(fan_id), Some(concert))
        );
        assert!(r["id"].is_i64() && r.as_object().unwrap().contains_key("seatId"), "{r}");
    }
    let distinct: std::collections::HashSet<i64> = ids(&list).into_iter().collect();
    assert_eq!(distinct.len(), 3, "one reservation per place");
    assert_eq!(floor_left(&app, concert).await, 17);
    assert_eq!(section(&availability(&app, concert).await, "Floor")["available"], 17);
    assert_eq!(held(&app, concert).await, 3);
}

#[tokio::test]
async fn malformed_or_unknown_section_orders_are_refused_and_book_nothing() {
    let app = TestApp::spawn().await;
    let (_, _, concert) = arena(&app, 10).await;
    let (_, fan) = app.fan("careless").await;
    let version = seat_map(&app, concert).await["version"].clone();
    let invalid = [
        (json!({"seats": [{"horizontal": "A", "vertical": 1}]}), "seats[0].section"),
        (json!({"seats": [seat("101", "A", 1), {"horizontal": "A", "vertical": 2}]}), "seats[1].section"),
        (json!({"horizontal": "A", "vertical": 1}), "section"),
        (json!({"standing": [floor(0)]}), "standing[0].quantity"),
        (json!({"standing": [floor(-1)]}), "standing[0].quantity"),
        (json!({"seats": [seat("101", "A", 1)], "standing": [floor(0)]}), "standing[0].quantity"),
    ];
    for (body, field) in invalid {
        let reply = app.post(&path(concert), &body, Some(&fan)).await;
        reply.assert_error(400, "VALIDATION_FAILED");
        assert_eq!(reply.error_fields(), [field], "{body}");
    }
    let unknown = json!({"section": "Pit", "quantity": 1});
    app.post(&path(concert), &json!({"standing": [unknown.clone()]}), Some(&fan))
        .await
        .assert_error(404, "SEAT_NOT_FOUND");
    app.post(&path(concert), &json!({"seats": [seat("101", "A", 1)], "standing": [unknown]}), Some(&fan))
        .await
        .assert_error(404, "SEAT_NOT_FOUND");
    assert_eq!(held(&app, concert).await, 0);
    let map = seat_map(&app, concert).await;
    assert_eq!(map["version"], version, "the map did not change");
    assert_eq!(
        (row(&map, "101", "A"), section(&map, "Floor")["available"].as_i64()),
        ("AAAA".into(), Some(20))
    );
}

#[tokio::test]
async fn a_mixed_order_of_seats_and_standing_places_is_all_or_nothing() {
    let app = TestApp::spawn().await;
    let (_, _, concert) = arena(&app, 10).await;
    let (_, first) = app.fan("first").await;
    let (_, second) = app.fan("second").await;
    app.post(&path(concert), &seat("101", "A", 2), Some(&first)).await.assert_status(201);
    let before = seat_map(&app, concert).await;
    let counts = availability(&app, concert).await;
    let refused = app
        .post(
            &path(concert),
            &json!({"seats": [seat("101", "A", 1), seat("101", "A", 2)], "standing": [floor(2)]}),
            Some(&second),
        )
        .await;
    refused.assert_error(409, "SEAT_TAKEN");
    assert_eq!(seat_map(&app, concert).await, before, "neither the free seat nor the floor was booked");
    assert_eq!(availability(&app, concert).await, counts);
    assert_eq!(held(&app, concert).await, 1);
    let booked = app
        .post(&path(concert), &json!({"seats": [seat("101", "A", 1)], "standing": [floor(2)]}), Some(&second))
        .await;
    assert_eq!(reservations(&booked).len(), 3);
    let map = seat_map(&app, concert).await;
    assert_eq!(
        (row(&map, "101", "A"), section(&map, "Floor")["available"].as_i64()),
        ("RRAA".into(), Some(18))
    );
    assert_eq!(held(&app, concert).await, 4);
}

#[tokio::test]
async fn a_standing_floor_never_sells_more_than_its_capacity() {
    let app = TestApp::spawn().await;
    let (_, _, concert) = arena(&app, 20).await;
    let (_, first) = app.fan("first").await;
    let (_, second) = app.fan("second").await;
    let (_, third) = app.fan("third").await;
    assert_eq!(
        reservations(&app.post(&path(concert), &json!({"standing": [floor(18)]}), Some(&first)).await).len(),
        18
    );
    app.post(&path(concert), &json!({"standing": [floor(3)]}), Some(&second))
        .await
        .assert_error(409, "SOLD_OUT");
    // A seat beside too many standing places is refused with them.
    app.post(&path(concert), &json!({"seats": [seat("101", "B", 1)], "standing": [floor(3)]}), Some(&second))
        .await
        .assert_error(409, "SOLD_OUT");
    let map = seat_map(&app, concert).await;
    assert_eq!(
        (row(&map, "101", "B"), section(&map, "Floor")["available"].as_i64()),
        ("AAAAAA".into(), Some(2))
    );
    assert_eq!(
        reservations(&app.post(&path(concert), &json!({"standing": [floor(2)]}), Some(&second)).await).len(),
        2
    );
    app.post(&path(concert), &json!({"standing": [floor(1)]}), Some(&third))
        .await
        .assert_error(409, "SOLD_OUT");
    assert_eq!(floor_left(&app, concert).await, 0);
    assert_eq!(held(&app, concert).await, 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_fans_rushing_a_twenty_place_floor_in_pairs_get_exactly_twenty_places() {
    let app = TestApp::spawn().await;
    let (_, _, concert) = arena(&app, 4).await;
    let tokens = fans(&app, "floor", 30).await;
    let orders = tokens.into_iter().map(|t| (t, json!({"standing": [floor(2)]}))).collect();
    let answers = book_all(&app, concert, orders).await;
    let mut won = 0;
    for (status, body) in &answers {
        match status {
            201 => {
                assert_eq!(
                    body["data"]["reservations"].as_array().map(Vec::len),
                    Some(2),
                    "a whole pair: {body}"
                );
                won += 1;
            }
            409 => assert_eq!(body["code"], "SOLD_OUT", "{body}"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(won, 10, "answers: {answers:?}");
    assert_eq!(held(&app, concert).await, 20);
    assert_eq!(floor_left(&app, concert).await, 0);
    assert_eq!(section(&availability(&app, concert).await, "Floor")["available"], 0);
}

#[tokio::test]
async fn the_per_fan_limit_counts_standing_places_and_seats_together() {
    let app = TestApp::spawn().await;
    let (_, _, concert) = arena(&app, 4).await;
    let (_, fan) = app.fan("collector").await;
    let (_, friend) = app.fan("friend").await;
    app.post(&path(concert), &json!({"standing": [floor(5)]}), Some(&fan)).await.assert_error(409, FAN_LIMIT);
    app.post(
        &path(concert),
        &json!({"seats": [seat("101", "A", 1), seat("101", "A", 2)], "standing": [floor(3)]}),
        Some(&fan),
    )
    .await
    .assert_error(409, FAN_LIMIT);
    assert_eq!(held(&app, concert).await, 0, "a refused order books nothing");
    let mixed = json!({"seats": [seat("101", "A", 1)], "standing": [floor(1)]});
    assert_eq!(reservations(&app.post(&path(concert), &mixed, Some(&fan)).await).len(), 2);
    let standing =
        ids(&reservations(&app.post(&path(concert), &json!({"standing": [floor(2)]}), Some(&fan)).await));
    app.post(&path(concert), &json!({"standing": [floor(1)]}), Some(&fan)).await.assert_error(409, FAN_LIMIT);
    app.post(&path(concert), &seat("101", "A", 3), Some(&fan)).await.assert_error(409, FAN_LIMIT);
    // A standing place given back makes room for a seat.
    app.delete(&format!("{}/{}", path(concert), standing[0]), Some(&fan)).await.assert_status(200);
    app.post(&path(concert), &seat("101", "A", 3), Some(&fan)).await.assert_status(201);
    app.post(&path(concert), &json!({"standing": [floor(1)]}), Some(&fan)).await.assert_error(409, FAN_LIMIT);
    // Another fan has a limit of their own.
    assert_eq!(
        reservations(&app.post(&path(concert), &json!({"standing": [floor(4)]}), Some(&friend)).await).len(),
        4
    );
    assert_eq!(held(&app, concert).await, 8);
}

#[tokio::test]
async fn cancelling_a_standing_place_gives_it_back_to_the_floor() {
    let app = TestApp::spawn().await;
    let (_, _, concert) = arena(&app, 20).await;
    let (_, early) = app.fan("early").await;
    let (_, late) = app.fan("late").await;
    let places =
        ids(&reservations(&app.post(&path(concert), &json!({"standing": [floor(20)]}), Some(&early)).await));
    app.post(&path(concert), &json!({"standing": [floor(1)]}), Some(&late))
        .await
        .assert_error(409, "SOLD_OUT");
    let cancel = format!("{}/{}", path(concert), places[0]);
    app.delete(&cancel, Some(&late)).await.assert_error(403, "FORBIDDEN");
    let cancelled = app.delete(&cancel, Some(&early)).await;
    cancelled.assert_status(200);
    assert_eq!(
        (cancelled.data()["id"].as_i64(), cancelled.data()["status"].as_str()),
        (Some(places[0]), Some("N"))
    );
    assert_eq!(app.delete(&cancel, Some(&early)).await.body, cancelled.body, "twice answers the same");
    assert_eq!(floor_left(&app, concert).await, 1, "one place back, once");
    assert_eq!(held(&app, concert).await, 19, "the other places of the order stay booked");
    assert_eq!(
        reservations(&app.post(&path(concert), &json!({"standing": [floor(1)]}), Some(&late)).await).len(),
        1
    );
    assert_eq!(floor_left(&app, concert).await, 0);
    let mine = app.get("/api/v1/users/my/reservations", Some(&early)).await;
    let statuses: Vec<&str> =
        mine.data().as_array().unwrap().iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(
        (statuses.iter().filter(|s| **s == "Y").count(), statuses.iter().filter(|s| **s == "N").count()),
        (19, 1)
    );
}

#[tokio::test]
async fn the_seat_map_shows_rows_of_their_own_lengths_and_answers_one_section_on_request() {
    let app = TestApp::spawn().await;
    let (_, _, concert) = arena(&app, 10).await;
    let (_, fan) = app.fan("mapper").await;
    let seats = [seat("101", "C", 5), seat("101", "B", 6), seat("102", "12", 1)];
    let order = json!({"seats": seats, "standing": [floor(2)]});
    reservations(&app.post(&path(concert), &order, Some(&fan)).await);
    let map = seat_map(&app, concert).await;
    let lengths: Vec<usize> = ["A", "B", "C"].iter().map(|r| row(&map, "101", r).len()).collect();
    assert_eq!(lengths, [4, 6, 5]);
    assert_eq!((row(&map, "101", "B"), row(&map, "101", "C")), ("AAAAAR".into(), "AAAAR".into()));
    assert_eq!((row(&map, "102", "A"), row(&map, "102", "12")), ("AAA".into(), "RAA".into()));
    assert_eq!(section(&map, "Floor")["available"], 18);
    for name in ["101", "Floor"] {
        let one = app.get(&format!("/api/v1/concerts/{concert}/seats?section={name}"), None).await;
        one.assert_status(200);
        assert_eq!(one.data()["concertId"], concert);
        assert!(one.data()["version"].is_i64() && one.data().get("rows").is_none(), "{}", one.text);
        assert_eq!(one.data()["sections"], json!([section(&map, name)]), "only {name}");
    }
    app.get(&format!("/api/v1/concerts/{concert}/seats?section=Nowhere"), None).await.assert_status(404);
}

/// The seat map's ETag, checked to be its version.
async fn etag(app: &TestApp, concert: i64) -> String {
    let reply = app.get(&format!("/api/v1/concerts/{concert}/seats"), None).await;
    reply.assert_status(200);
    let etag = reply.headers["etag"].to_str().unwrap().to_owned();
    assert_eq!(etag, format!("\"{}\"", reply.data()["version"]), "the ETag is the version");
    etag
}

#[tokio::test]
async fn every_booking_and_cancel_in_a_sectioned_venue_changes_the_map_version_and_etag() {
    let app = TestApp::spawn().await;
    let (_, _, concert) = arena(&app, 10).await;
    let (_, fan) = app.fan("watcher").await;
    let seats = app.url(&format!("/api/v1/concerts/{concert}/seats"));
    let conditional = |tag: String| {
        let request = app.client.get(&seats).header("If-None-Match", tag);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    let mut tags = vec![etag(&app, concert).await];
    assert_eq!(conditional(tags[0].clone()).await, 304);
    let standing =
        ids(&reservations(&app.post(&path(concert), &json!({"standing": [floor(1)]}), Some(&fan)).await));
    tags.push(etag(&app, concert).await);
    app.post(&path(concert), &seat("102", "12", 2), Some(&fan)).await.assert_status(201);
    tags.push(etag(&app, concert).await);
    app.delete(&format!("{}/{}", path(concert), standing[0]), Some(&fan)).await.assert_status(200);
    tags.push(etag(&app, concert).await);
    for (i, tag) in tags.iter().enumerate() {
        assert!(!tags[..i].contains(tag), "every change gets a new version: {tags:?}");
        let expected = if i == tags.len() - 1 { 304 } else { 200 };
        assert_eq!(conditional(tag.clone()).await, expected, "ETag {tag} of {tags:?}");
    }
}

#[tokio::test]
async fn availability_counts_places_on_sale_per_section_and_grade_before_and_after_bookings() {
    let app = TestApp::spawn().await;
    let (promoter, hall) = arena_venue(&app).await;
    // 101 C and 102's row 12 are not on sale.
    let rows = json!([
        {"section": "101", "horizontals": ["A"], "grade": "R"},
        {"section": "101", "horizontals": ["B"], "grade": "S"},
        {"section": "102", "horizontals": ["A"], "grade": "S"},
    ]);
    let concert = create_concert(&app, &promoter, &concert_body(hall, 10, rows)).await;
    let grade = |counts: &Value, name: &str, grade: &str| -> Value {
        let grades = section(counts, name)["grades"].as_array().unwrap().clone();
        grades
            .into_iter()
            .find(|g| g["grade"] == grade)
            .unwrap_or_else(|| panic!("no grade {grade} in {name}: {counts}"))
    };
    let check = |counts: &Value, left: [i64; 6]| {
        let [standing, s101, r101, b101, s102, b102] = left;
        assert_eq!(counts["concertId"], concert);
        assert_eq!(counts["sections"].as_array().unwrap().len(), 3, "{counts}");
        let summary = |name: &str| {
            let s = section(counts, name);
            (
                s["kind"].as_str().unwrap().to_owned(),
                s["capacity"].as_i64(),
                s["available"].as_i64(),
                s["grades"].as_array().unwrap().len(),
            )
        };
        assert_eq!(summary("Floor"), ("STANDING".into(), Some(20), Some(standing), 1));
        assert_eq!(summary("101"), ("SEATED".into(), Some(10), Some(s101), 2));
        assert_eq!(summary("102"), ("SEATED".into(), Some(3), Some(s102), 1));
        assert_eq!(
            grade(counts, "Floor", "G"),
            json!({"grade": "G", "price": 30, "capacity": 20, "available": standing})
        );
        assert_eq!(
            grade(counts, "101", "R"),
            json!({"grade": "R", "price": 100, "capacity": 4, "available": r101})
        );
        assert_eq!(
            grade(counts, "101", "S"),
            json!({"grade": "S", "price": 50, "capacity": 6, "available": b101})
        );
        assert_eq!(
            grade(counts, "102", "S"),
            json!({"grade": "S", "price": 50, "capacity": 3, "available": b102})
        );
    };
    let before = availability(&app, concert).await;
    check(&before, [20, 10, 4, 6, 3, 3]);
    let (_, fan) = app.fan("counter").await;
    let order = json!({"seats": [seat("101", "B", 1), seat("102", "A", 1)], "standing": [floor(3)]});
    assert_eq!(reservations(&app.post(&path(concert), &order, Some(&fan)).await).len(), 5);
    let single = app.post(&path(concert), &seat("101", "A", 1), Some(&fan)).await;
    single.assert_status(201);
    let after = availability(&app, concert).await;
    check(&after, [17, 8, 3, 5, 2, 2]);
    assert_ne!(after["version"], before["version"]);
    let id = single.data()["id"].as_i64().unwrap();
    app.delete(&format!("{}/{id}", path(concert)), Some(&fan)).await.assert_status(200);
    check(&availability(&app, concert).await, [17, 9, 4, 5, 2, 2]);
}

#[tokio::test]
async fn seat_maps_are_compressed_for_clients_that_accept_it() {
    let app = TestApp::spawn().await;
    let (_, _, concert) = arena(&app, 4).await;
    // A client that neither asks for compression by itself nor undoes it.
    let raw = reqwest::Client::builder().no_gzip().no_brotli().no_deflate().no_zstd().build().unwrap();
    let url = app.url(&format!("/api/v1/concerts/{concert}/seats"));
    let get = |encoding: Option<&'static str>| {
        let mut request = raw.get(&url);
        if let Some(encoding) = encoding {
            request = request.header("Accept-Encoding", encoding);
        }
        async move { request.send().await.unwrap() }
    };
    let gzip = get(Some("gzip")).await;
    assert_eq!(gzip.status(), 200);
    assert_eq!(
        gzip.headers().get("content-encoding").map(|v| v.to_str().unwrap().to_owned()),
        Some("gzip".into())
    );
    let bytes = gzip.bytes().await.unwrap();
    assert_eq!(bytes.get(..2), Some(&[0x1f_u8, 0x8b][..]), "a gzip stream");
    let brotli = get(Some("br")).await;
    assert_eq!(brotli.status(), 200);
    assert_eq!(
        brotli.headers().get("content-encoding").map(|v| v.to_str().unwrap().to_owned()),
        Some("br".into())
    );
    let plain = get(None).await;
    assert_eq!(plain.status(), 200);
    assert!(plain.headers().get("content-encoding").is_none(), "nothing compressed unasked");
    let body: Value = plain.json().await.unwrap();
    assert_eq!(body["data"]["concertId"], concert);
}

#[tokio::test]
async fn a_fans_history_names_the_section_of_every_seat_and_standing_place() {
    let app = TestApp::spawn().await;
    let (_, _, concert) = arena(&app, 4).await;
    let (_, fan) = app.fan("historian").await;
    let order = json!({"seats": [seat("101", "B", 2)], "standing": [floor(1)]});
    reservations(&app.post(&path(concert), &order, Some(&fan)).await);
    let mine = app.get("/api/v1/users/my/reservations", Some(&fan)).await;
    mine.assert_status(200);
    let list = mine.data().as_array().unwrap();
    assert_eq!(list.len(), 2);
    let seated =
        list.iter().find(|r| r["seat"]["section"] == "101").unwrap_or_else(|| panic!("{}", mine.text));
    assert_eq!(
        (seated["seat"]["horizontal"].as_str(), seated["seat"]["vertical"].as_i64()),
        (Some("B"), Some(2))
    );
    assert_eq!((seated["seat"]["grade"].as_str(), seated["price"].as_i64()), (Some("R"), Some(100)));
    let standing =
        list.iter().find(|r| r["seat"]["section"] == "Floor").unwrap_or_else(|| panic!("{}", mine.text));
    assert_eq!((standing["status"].as_str(), standing["price"].as_i64()), (Some("Y"), Some(30)));
}
