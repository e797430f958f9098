//! The audit log: every admin and promoter action is recorded with who, what, when and
//! the target before and after, and only administrators can read it.

use serde_json::{Value, json};

use crate::helpers::TestApp;

async fn entries(app: &TestApp, admin: &str, query: &str) -> Value {
    let reply = app.get(&format!("/api/v1/admin/audit{query}"), Some(admin)).await;
    reply.assert_status(200);
    reply.data().clone()
}

#[tokio::test]
async fn promoter_and_admin_actions_are_recorded_with_before_and_after() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (promoter_id, promoter) = app.promoter("promoter").await;
    let hall_body = json!({"name": "Hall", "address": "Seoul", "maxRow": "B", "maxColumn": 5});
    let hall = app.post("/api/v1/auditoriums", &hall_body, Some(&promoter)).await;
    hall.assert_status(201);
    let hall_id = hall.data()["id"].as_i64().unwrap();
    let renamed = json!({"name": "Big Hall", "address": "Seoul", "maxRow": "B", "maxColumn": 5});
    app.put(&format!("/api/v1/auditoriums/{hall_id}"), &renamed, Some(&promoter)).await.assert_status(200);
    let concert = json!({
        "name": "Live", "description": "", "startTime": "2099-01-01T19:00:00Z", "auditoriumId": hall_id,
        "seatPrices": [{"grade": "R", "price": 10}], "seatList": [{"horizontals": ["A"], "grade": "R"}],
    });
    let concert = app.post("/api/v1/concerts", &concert, Some(&promoter)).await;
    concert.assert_status(201);
    let concert_id = concert.data()["id"].as_i64().unwrap();
    let (fan_id, fan) = app.fan("fan").await;
    let path = format!("/api/v1/concerts/{concert_id}/reservations");
    let booked = app.post(&path, &json!({"horizontal": "A", "vertical": 1}), Some(&fan)).await;
    booked.assert_status(201);
    let own = app.post(&path, &json!({"horizontal": "A", "vertical": 2}), Some(&fan)).await;
    // A fan's own booking and cancellation are not operator actions.
    app.delete(&format!("{path}/{}", own.data()["id"]), Some(&fan)).await.assert_status(200);
    app.delete(&format!("{path}/{}", booked.data()["id"]), Some(&admin)).await.assert_status(200);
    app.patch(
        &format!("/api/v1/admin/auditoriums/{hall_id}/seats"),
        &json!({"horizontal": "A", "vertical": 3}),
        Some(&admin),
    )
    .await
    .assert_status(200);
    let role = json!({"username": "fan", "email": "fan@example.com", "role": "COMPANY_USER", "password": "New#Secret99"});
    app.put(&format!("/api/v1/admin/users/{fan_id}"), &role, Some(&admin)).await.assert_status(200);

    let log = entries(&app, &admin, "?size=100").await;
    let content = log["content"].as_array().unwrap();
    let actions: Vec<&str> = content.iter().map(|e| e["action"].as_str().unwrap()).collect();
    // Newest first; the promoter's promotion by the admin (in app.promoter) is the oldest.
    assert_eq!(
        actions,
        [
            "user.update",
            "seat.lock_toggle",
            "reservation.cancel",
            "concert.create",
            "auditorium.update",
            "auditorium.create",
            "user.update"
        ],
        "{log}"
    );
    assert_eq!(log["totalElements"], 7);
    let update = &content[4];
    assert_eq!(update["actorId"], promoter_id);
    assert_eq!(update["actorUsername"], "promoter");
    assert_eq!(update["actorRole"], "COMPANY_USER");
    assert_eq!(update["targetType"], "auditorium");
    assert_eq!(update["targetId"], hall_id);
    assert_eq!(update["before"]["name"], "Hall");
    assert_eq!(update["after"]["name"], "Big Hall");
    assert!(update["createdAt"].as_str().unwrap().ends_with('Z'));
    let cancel = &content[2];
    assert_eq!(cancel["actorUsername"], "admin");
    assert_eq!(cancel["after"]["userId"], fan_id);
    let promotion = &content[0];
    assert_eq!(promotion["before"]["role"], "USER");
    assert_eq!(promotion["after"]["role"], "COMPANY_USER");
    assert_eq!(promotion["after"]["passwordChanged"], true);
    let text = log.to_string();
    assert!(!text.contains("New#Secret99") && !text.contains("argon2"), "no secrets in the log: {text}");

    let page = entries(&app, &admin, "?page=2&size=3").await;
    assert_eq!(page["content"].as_array().unwrap().len(), 3);
    assert_eq!(page["content"][0]["action"], "concert.create");
    assert_eq!(page["totalPages"], 3);
}

#[tokio::test]
async fn deletions_keep_the_target_as_it_was() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (_, promoter) = app.promoter("promoter").await;
    let hall = app
        .post(
            "/api/v1/auditoriums",
            &json!({"name": "Gone Hall", "address": "Seoul", "maxRow": "A", "maxColumn": 2}),
            Some(&promoter),
        )
        .await;
    let id = hall.data()["id"].as_i64().unwrap();
    app.delete(&format!("/api/v1/auditoriums/{id}"), Some(&admin)).await.assert_status(204);
    let newest = &entries(&app, &admin, "?size=1").await["content"][0];
    assert_eq!(newest["action"], "auditorium.delete");
    assert_eq!(newest["actorRole"], "ADMIN");
    assert_eq!(newest["before"]["name"], "Gone Hall");
    assert!(newest["after"].is_null());
}

#[tokio::test]
async fn only_administrators_read_the_audit_log() {
    let app = TestApp::spawn().await;
    let (_, fan) = app.fan("fan").await;
    let (_, promoter) = app.promoter("promoter").await;
    app.get("/api/v1/admin/audit", None).await.assert_error(401, "UNAUTHORIZED");
    app.get("/api/v1/admin/audit", Some(&fan)).await.assert_error(403, "FORBIDDEN");
    app.get("/api/v1/admin/audit", Some(&promoter)).await.assert_error(403, "FORBIDDEN");
    let admin = app.admin_token().await;
    app.get("/api/v1/admin/audit?size=101", Some(&admin)).await.assert_error(400, "VALIDATION_FAILED");
    app.get("/api/v1/admin/audit?page=0", Some(&admin)).await.assert_error(400, "VALIDATION_FAILED");
}
