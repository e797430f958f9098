//! Accounts and sessions: every rule, every 401/403 path, token lifecycle.

use std::time::Duration;

use base64::Engine;
use serde_json::json;

use crate::helpers::{ADMIN_PASSWORD, PASSWORD, TestApp};

fn signup_body(username: &str, password: &str, email: &str) -> serde_json::Value {
    json!({"username": username, "password": password, "email": email})
}

#[tokio::test]
async fn signup_checks_every_field_and_names_each_broken_rule() {
    let app = TestApp::spawn().await;
    let cases = [
        (signup_body("ab", PASSWORD, "a@example.com"), "username"),
        (signup_body("has space", PASSWORD, "a@example.com"), "username"),
        (signup_body("fan01", "Sh0rt!", "a@example.com"), "password"),
        (signup_body("fan01", "nodigits!!", "a@example.com"), "password"),
        (signup_body("fan01", "nosymbol123", "a@example.com"), "password"),
        (signup_body("fan01", "12345678!!", "a@example.com"), "password"),
        (signup_body("fan01", &format!("Aa1!{}", "x".repeat(61)), "a@example.com"), "password"),
        (signup_body("fan01", PASSWORD, "not-an-email"), "email"),
        (
            json!({"username": "fan01", "password": PASSWORD, "email": "a@example.com", "nickname": "x"}),
            "nickname",
        ),
        (json!({"password": PASSWORD, "email": "a@example.com"}), "username"),
        (json!({"username": "fan01", "password": 12345678, "email": "a@example.com"}), "password"),
    ];
    for (body, field) in cases {
        let reply = app.post("/api/v1/users/signup", &body, None).await;
        reply.assert_error(400, "VALIDATION_FAILED");
        assert_eq!(reply.error_fields(), [field], "{body}");
    }
    let all = app.post("/api/v1/users/signup", &json!({}), None).await;
    all.assert_error(400, "VALIDATION_FAILED");
    assert_eq!(all.error_fields(), ["username", "password", "email"]);
    let admin = app.admin_token().await;
    let users = app.get("/api/v1/admin/users", Some(&admin)).await;
    assert_eq!(users.data().as_array().unwrap().len(), 1, "nothing was created");
}

#[tokio::test]
async fn usernames_emails_and_nicknames_are_unique_regardless_of_case() {
    let app = TestApp::spawn().await;
    let first =
        json!({"username": "Fan01", "password": PASSWORD, "email": "Fan01@Example.com", "nickname": "Kim"});
    let created = app.post("/api/v1/users/signup", &first, None).await;
    created.assert_status(201);
    assert_eq!(created.data()["email"], "fan01@example.com");
    let clash = |username: &str, email: &str, nickname: &str| json!({"username": username, "password": PASSWORD, "email": email, "nickname": nickname});
    app.post("/api/v1/users/signup", &clash("fan01", "other@example.com", "Lee"), None)
        .await
        .assert_error(409, "USERNAME_TAKEN");
    app.post("/api/v1/users/signup", &clash("fan02", "FAN01@example.com", "Lee"), None)
        .await
        .assert_error(409, "EMAIL_TAKEN");
    app.post("/api/v1/users/signup", &clash("fan02", "fan02@example.com", "KIM"), None)
        .await
        .assert_error(409, "NICKNAME_TAKEN");
}

#[tokio::test]
async fn login_returns_a_pair_and_the_access_token_in_the_header() {
    let app = TestApp::spawn().await;
    app.signup("fan01").await;
    let reply =
        app.post("/api/v1/users/login", &json!({"username": "fan01", "password": PASSWORD}), None).await;
    reply.assert_status(200);
    let data = reply.data();
    assert_eq!(data["tokenType"], "Bearer");
    assert_eq!(data["expiresIn"], 3600);
    let header = reply.headers["authorization"].to_str().unwrap();
    assert_eq!(header, format!("Bearer {}", data["accessToken"].as_str().unwrap()));
    assert!(data["refreshToken"].is_string());
}

#[tokio::test]
async fn unknown_user_and_wrong_password_get_the_same_401() {
    let app = TestApp::spawn().await;
    app.signup("fan01").await;
    let wrong =
        app.post("/api/v1/users/login", &json!({"username": "fan01", "password": "Wrong#pass1"}), None).await;
    let unknown =
        app.post("/api/v1/users/login", &json!({"username": "nobody", "password": PASSWORD}), None).await;
    wrong.assert_error(401, "INVALID_CREDENTIALS");
    assert_eq!(wrong.body, unknown.body);
    app.post("/api/v1/users/login", &json!({"username": "fan01"}), None)
        .await
        .assert_error(400, "VALIDATION_FAILED");
}

#[tokio::test]
async fn missing_garbage_tampered_and_foreign_tokens_are_rejected() {
    let app = TestApp::spawn().await;
    let (_, token) = app.fan("fan01").await;
    app.get("/api/v1/users/my", None).await.assert_error(401, "UNAUTHORIZED");
    app.get("/api/v1/users/my", Some("garbage")).await.assert_error(401, "TOKEN_INVALID");
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut claims: serde_json::Value = serde_json::from_slice(&b64.decode(&parts[1]).unwrap()).unwrap();
    claims["role"] = json!("ADMIN");
    parts[1] = b64.encode(serde_json::to_vec(&claims).unwrap());
    app.get("/api/v1/admin/users", Some(&parts.join("."))).await.assert_error(401, "TOKEN_INVALID");
    // A token signed with another secret: another instance's, for instance.
    let other = TestApp::spawn().await;
    let (_, foreign) = other.fan("fan01").await;
    app.get("/api/v1/users/my", Some(&foreign)).await.assert_error(401, "TOKEN_INVALID");
    app.get("/api/v1/users/my", Some(&token)).await.assert_status(200);
}

#[tokio::test]
async fn an_expired_access_token_is_rejected_as_expired() {
    let app = TestApp::spawn_with(|c| c.access_token_ttl = Duration::from_secs(1)).await;
    let (_, token) = app.fan("fan01").await;
    app.get("/api/v1/users/my", Some(&token)).await.assert_status(200);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    app.get("/api/v1/users/my", Some(&token)).await.assert_error(401, "TOKEN_EXPIRED");
}

#[tokio::test]
async fn refresh_rotates_and_reusing_a_spent_token_revokes_the_whole_family() {
    let app = TestApp::spawn().await;
    app.signup("fan01").await;
    let first = app.login("fan01", PASSWORD).await;
    let app = &app;
    let refresh = |token: &str| {
        let body = json!({"refreshToken": token});
        async move { app.post("/api/v1/users/token/refresh", &body, None).await }
    };
    let rotated = refresh(&first.refresh).await;
    rotated.assert_status(200);
    let second_access = rotated.data()["accessToken"].as_str().unwrap().to_owned();
    let second_refresh = rotated.data()["refreshToken"].as_str().unwrap().to_owned();
    app.get("/api/v1/users/my", Some(&second_access)).await.assert_status(200);
    // Replaying the spent token: someone stole it, so every token of the login dies.
    refresh(&first.refresh).await.assert_error(401, "TOKEN_REUSED");
    refresh(&second_refresh).await.assert_error(401, "TOKEN_INVALID");
    app.get("/api/v1/users/my", Some(&second_access)).await.assert_error(401, "TOKEN_INVALID");
    app.get("/api/v1/users/my", Some(&first.access)).await.assert_error(401, "TOKEN_INVALID");
    // Another login of the same user is another family and keeps working.
    let other = app.login("fan01", PASSWORD).await;
    app.get("/api/v1/users/my", Some(&other.access)).await.assert_status(200);
    refresh(&other.access).await.assert_error(401, "TOKEN_INVALID");
    app.post("/api/v1/users/token/refresh", &json!({}), None).await.assert_error(400, "VALIDATION_FAILED");
}

#[tokio::test]
async fn logout_kills_the_presented_access_token_and_every_refresh_token() {
    let app = TestApp::spawn().await;
    app.signup("fan01").await;
    let one = app.login("fan01", PASSWORD).await;
    let two = app.login("fan01", PASSWORD).await;
    app.post("/api/v1/users/logout", &json!({}), Some(&one.access)).await.assert_status(204);
    app.get("/api/v1/users/my", Some(&one.access)).await.assert_error(401, "TOKEN_INVALID");
    app.get("/api/v1/users/my", Some(&two.access)).await.assert_status(200);
    for refresh in [&one.refresh, &two.refresh] {
        app.post("/api/v1/users/token/refresh", &json!({"refreshToken": refresh}), None)
            .await
            .assert_error(401, "TOKEN_INVALID");
    }
    app.post("/api/v1/users/logout", &json!({}), None).await.assert_error(401, "UNAUTHORIZED");
}

#[tokio::test]
async fn a_user_updates_and_deletes_their_own_account() {
    let app = TestApp::spawn().await;
    let (_, token) = app.fan("fan01").await;
    app.signup("fan02").await;
    let updated = app
        .put("/api/v1/users/my", &json!({"email": "New@Example.com", "nickname": "Kim"}), Some(&token))
        .await;
    updated.assert_status(200);
    assert_eq!(
        (updated.data()["email"].as_str(), updated.data()["nickname"].as_str()),
        (Some("new@example.com"), Some("Kim"))
    );
    app.put("/api/v1/users/my", &json!({"email": "fan02@example.com"}), Some(&token))
        .await
        .assert_error(409, "EMAIL_TAKEN");
    let bad = app.put("/api/v1/users/my", &json!({"email": "nope", "nickname": "x"}), Some(&token)).await;
    bad.assert_error(400, "VALIDATION_FAILED");
    assert_eq!(bad.error_fields(), ["email", "nickname"]);
    app.delete("/api/v1/users/my", Some(&token)).await.assert_status(204);
    app.get("/api/v1/users/my", Some(&token)).await.assert_error(401, "TOKEN_INVALID");
    app.post("/api/v1/users/login", &json!({"username": "fan01", "password": PASSWORD}), None)
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    // A deleted account frees its name for someone new.
    app.signup("fan01").await;
}

#[tokio::test]
async fn admin_login_is_for_admins_only() {
    let app = TestApp::spawn().await;
    app.signup("fan01").await;
    let app = &app;
    let login = |u: &str, p: &str| {
        let body = json!({"username": u, "password": p});
        async move { app.post("/api/v1/admin/login", &body, None).await }
    };
    login("admin", ADMIN_PASSWORD).await.assert_status(200);
    login("fan01", PASSWORD).await.assert_error(403, "FORBIDDEN");
    login("admin", "Wrong#pass1").await.assert_error(401, "INVALID_CREDENTIALS");
}

#[tokio::test]
async fn admins_list_users_and_promote_a_fan_whose_old_sessions_end() {
    let app = TestApp::spawn().await;
    let (fan_id, fan) = app.fan("fan01").await;
    let admin = app.admin_token().await;
    app.get("/api/v1/admin/users", None).await.assert_error(401, "UNAUTHORIZED");
    app.get("/api/v1/admin/users", Some(&fan)).await.assert_error(403, "FORBIDDEN");
    let users = app.get("/api/v1/admin/users", Some(&admin)).await;
    users.assert_status(200);
    let listed = users.data().as_array().unwrap().iter().find(|u| u["userId"] == fan_id).cloned().unwrap();
    assert_eq!(listed["username"], "fan01");
    assert_eq!(listed["role"], "USER");
    let promote = json!({"username": "fan01", "email": "fan01@example.com", "role": "COMPANY_USER"});
    app.put(&format!("/api/v1/admin/users/{fan_id}"), &promote, Some(&fan))
        .await
        .assert_error(403, "FORBIDDEN");
    let done = app.put(&format!("/api/v1/admin/users/{fan_id}"), &promote, Some(&admin)).await;
    done.assert_status(200);
    assert_eq!(done.data()["role"], "COMPANY_USER");
    app.get("/api/v1/users/my", Some(&fan)).await.assert_error(401, "TOKEN_INVALID");
    let fresh = app.login("fan01", PASSWORD).await;
    assert_eq!(app.get("/api/v1/users/my", Some(&fresh.access)).await.data()["role"], "COMPANY_USER");
    app.put("/api/v1/admin/users/9999", &promote, Some(&admin)).await.assert_error(404, "NOT_FOUND");
    let bad_role = json!({"username": "fan01", "email": "fan01@example.com", "role": "KING"});
    app.put(&format!("/api/v1/admin/users/{fan_id}"), &bad_role, Some(&admin))
        .await
        .assert_error(400, "VALIDATION_FAILED");
}

#[tokio::test]
async fn an_admin_cannot_demote_themself_and_can_reset_a_password() {
    let app = TestApp::spawn().await;
    let (fan_id, _) = app.fan("fan01").await;
    let admin = app.admin_token().await;
    let me = app.get("/api/v1/users/my", Some(&admin)).await.data()["id"].as_i64().unwrap();
    let demote = json!({"username": "admin", "email": "admin@localhost", "role": "USER"});
    app.put(&format!("/api/v1/admin/users/{me}"), &demote, Some(&admin)).await.assert_error(409, "OWN_ROLE");
    let reset = json!({"username": "fan01", "email": "fan01@example.com", "password": "Brand#New2026", "role": "USER"});
    app.put(&format!("/api/v1/admin/users/{fan_id}"), &reset, Some(&admin)).await.assert_status(200);
    app.post("/api/v1/users/login", &json!({"username": "fan01", "password": PASSWORD}), None)
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    app.login("fan01", "Brand#New2026").await;
}

#[tokio::test]
async fn revocations_and_the_token_secret_survive_a_restart() {
    let app = TestApp::spawn().await;
    app.signup("fan01").await;
    let kept = app.login("fan01", PASSWORD).await;
    let dropped = app.login("fan01", PASSWORD).await;
    app.post("/api/v1/users/logout", &json!({}), Some(&dropped.access)).await.assert_status(204);
    let dir = app.stop().await;
    let app = TestApp::spawn_in(dir, |_| {}).await;
    app.get("/api/v1/users/my", Some(&kept.access)).await.assert_status(200);
    app.get("/api/v1/users/my", Some(&dropped.access)).await.assert_error(401, "TOKEN_INVALID");
}

#[tokio::test]
async fn signup_then_login_then_read_own_profile() {
    let app = TestApp::spawn().await;
    let user = app.signup("fan01").await;
    assert_eq!(user["username"], "fan01");
    assert_eq!(user["role"], "USER");
    assert!(user.get("password").is_none() && user.get("passwordHash").is_none());
    let tokens = app.login("fan01", PASSWORD).await;
    let me = app.get("/api/v1/users/my", Some(&tokens.access)).await;
    me.assert_status(200);
    assert_eq!(me.data()["id"], user["id"]);
    assert_eq!(me.data()["email"], "fan01@example.com");
}
