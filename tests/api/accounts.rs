//! Accounts, sessions and the admin's user management, rule by rule: field rules at their
//! boundaries, every way a token can be missing, forged, expired, spent or revoked, and
//! what survives a restart. (`account_rules.rs` holds the first, broader walkthroughs.)

use std::time::Duration;

use base64::Engine;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_PASSWORD, PASSWORD, TestApp, Tokens};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A secret long enough for the service, for tests that need to sign tokens themselves.
const KNOWN_SECRET: &str = "a test secret that is at least 32 bytes long";

fn signup_body(username: &str, password: &str, email: &str) -> Value {
    json!({"username": username, "password": password, "email": email})
}

/// The decoded payload of a JWT.
fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT has a payload");
    serde_json::from_slice(&B64.decode(payload).expect("base64url payload")).expect("JSON payload")
}

/// Signs `claims` with HS256 and `secret`, as the service would.
fn sign(claims: &Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("signing")
}

/// `token` with one character of part `part` (0 header, 1 payload, 2 signature) changed.
fn tamper(token: &str, part: usize) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let target = &mut parts[part];
    // The middle of a part, so that every bit of the changed character is significant.
    let i = target.len() / 2;
    let old = target.as_bytes()[i];
    let new = if old == b'A' { 'B' } else { 'A' };
    target.replace_range(i..=i, &new.to_string());
    parts.join(".")
}

/// Signs up `username` with this nickname, expecting 201.
async fn signup_with_nickname(app: &TestApp, username: &str, nickname: &str) -> Value {
    let body = json!({
        "username": username, "password": PASSWORD,
        "email": format!("{username}@example.com"), "nickname": nickname,
    });
    let reply = app.post("/api/v1/users/signup", &body, None).await;
    reply.assert_status(201);
    reply.data().clone()
}

/// Asserts that signing up with `body` is refused with 400 naming exactly `field`.
#[track_caller]
fn assert_refused(reply: &crate::helpers::Reply, field: &str, body: &Value) {
    reply.assert_error(400, "VALIDATION_FAILED");
    assert_eq!(reply.error_fields(), [field], "{body}");
    let message = reply.body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "the field error says what is wrong: {}", reply.text);
}

/// The account ids the admin listing shows.
async fn listed_usernames(app: &TestApp) -> Vec<String> {
    let admin = app.admin_token().await;
    let users = app.get("/api/v1/admin/users", Some(&admin)).await;
    users.assert_status(200);
    users.data().as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap().to_owned()).collect()
}

// ---------------------------------------------------------------------------------------
// Signup

#[tokio::test]
async fn signup_answers_201_with_the_account_in_lower_case_email_and_never_the_password() {
    let app = TestApp::spawn().await;
    let body = json!({
        "username": "Fan.01_x-y", "password": PASSWORD,
        "email": "  Fan.01@Example.COM ", "nickname": "  김철수  ",
    });
    let reply = app.post("/api/v1/users/signup", &body, None).await;
    reply.assert_status(201);
    let user = reply.data();
    assert!(user["id"].as_i64().is_some_and(|id| id > 0), "{user}");
    assert_eq!(user["username"], "Fan.01_x-y", "the username is kept as written");
    assert_eq!(user["email"], "fan.01@example.com");
    assert_eq!(user["nickname"], "김철수", "the nickname is trimmed");
    assert_eq!(user["role"], "USER", "every signup is a fan");
    let created = user["createdAt"].as_str().expect("createdAt");
    assert!(chrono::DateTime::parse_from_rfc3339(created).is_ok(), "RFC 3339: {created}");
    assert!(
        !reply.text.contains(PASSWORD) && !reply.text.to_lowercase().contains("password"),
        "{}",
        reply.text
    );
    assert!(!reply.text.contains("$argon2"), "no hash either: {}", reply.text);
    // The password works, i.e. what was stored is the password that was sent.
    app.login("Fan.01_x-y", PASSWORD).await;
}

#[tokio::test]
async fn signup_without_a_nickname_gives_a_null_nickname() {
    let app = TestApp::spawn().await;
    let user = app.signup("fan01").await;
    assert!(user["nickname"].is_null(), "{user}");
    let user = app
        .post(
            "/api/v1/users/signup",
            &json!({"username": "fan02", "password": PASSWORD, "email": "f2@example.com", "nickname": null}),
            None,
        )
        .await;
    user.assert_status(201);
    assert!(user.data()["nickname"].is_null());
}

#[tokio::test]
async fn usernames_are_3_to_30_letters_digits_dots_dashes_and_underscores() {
    let app = TestApp::spawn().await;
    for (i, good) in ["abc", &"a".repeat(30), "A.b-c_9"].iter().enumerate() {
        let reply = app
            .post("/api/v1/users/signup", &signup_body(good, PASSWORD, &format!("u{i}@example.com")), None)
            .await;
        reply.assert_status(201);
    }
    for bad in ["", "ab", &"a".repeat(31), "has space", "fan@01", "fan/01", "팬클럽", "fan01!", " fan01"] {
        let body = signup_body(bad, PASSWORD, "x@example.com");
        let reply = app.post("/api/v1/users/signup", &body, None).await;
        assert_refused(&reply, "username", &body);
    }
}

#[tokio::test]
async fn passwords_are_8_to_64_characters_with_a_letter_a_digit_and_a_symbol() {
    let app = TestApp::spawn().await;
    let exactly_8 = "abcde1!x";
    let exactly_64 = format!("Aa1!{}", "x".repeat(60));
    for (i, good) in [exactly_8, exactly_64.as_str(), "비밀번호는1234!", "with space 1!"].iter().enumerate()
    {
        let username = format!("fan{i:02}");
        let reply = app
            .post(
                "/api/v1/users/signup",
                &signup_body(&username, good, &format!("{username}@example.com")),
                None,
            )
            .await;
        reply.assert_status(201);
        app.login(&username, good).await;
    }
    let too_long = format!("{exactly_64}y");
    for bad in ["", "abcd1!x", too_long.as_str(), "abcdefgh1", "abcdefgh!", "12345678!", "        1a"] {
        let body = signup_body("newfan", bad, "newfan@example.com");
        let reply = app.post("/api/v1/users/signup", &body, None).await;
        assert_refused(&reply, "password", &body);
    }
    assert!(!listed_usernames(&app).await.contains(&"newfan".to_owned()));
}

#[tokio::test]
async fn emails_must_be_plain_valid_addresses() {
    let app = TestApp::spawn().await;
    let long = format!("{}@example.com", "a".repeat(250));
    for bad in [
        "",
        "plain",
        "a@",
        "@example.com",
        "a b@example.com",
        "Fan <fan@example.com>",
        "a@@example.com",
        &long,
    ] {
        let body = signup_body("fan01", PASSWORD, bad);
        let reply = app.post("/api/v1/users/signup", &body, None).await;
        assert_refused(&reply, "email", &body);
    }
    let reply = app
        .post("/api/v1/users/signup", &signup_body("fan01", PASSWORD, "First.Last+tag@Sub.Example.org"), None)
        .await;
    reply.assert_status(201);
    assert_eq!(reply.data()["email"], "first.last+tag@sub.example.org");
}

#[tokio::test]
async fn nicknames_are_2_to_20_characters_after_trimming() {
    let app = TestApp::spawn().await;
    let good = ["Jo", &"n".repeat(20), "김철수", "  Kim Lee  "];
    for (i, nickname) in good.iter().enumerate() {
        let user = signup_with_nickname(&app, &format!("fan{i:02}"), nickname).await;
        assert_eq!(user["nickname"], nickname.trim());
    }
    for bad in ["", "x", "   x   ", &"n".repeat(21), "bad\u{7}bell", "tab\tbed"] {
        let body =
            json!({"username": "newfan", "password": PASSWORD, "email": "n@example.com", "nickname": bad});
        let reply = app.post("/api/v1/users/signup", &body, None).await;
        assert_refused(&reply, "nickname", &body);
    }
}

#[tokio::test]
async fn a_field_of_the_wrong_json_type_is_named_in_a_400() {
    let app = TestApp::spawn().await;
    let base = signup_body("fan01", PASSWORD, "fan01@example.com");
    for (field, value) in [
        ("username", json!(5)),
        ("password", json!(["Secret#2026"])),
        ("email", json!(true)),
        ("nickname", json!({"name": "Kim"})),
    ] {
        let mut body = base.clone();
        body[field] = value;
        let reply = app.post("/api/v1/users/signup", &body, None).await;
        assert_refused(&reply, field, &body);
    }
    // A body that is JSON, but not an object.
    for body in [json!([]), json!("fan01"), json!(null)] {
        let reply = app.post("/api/v1/users/signup", &body, None).await;
        assert_refused(&reply, "body", &body);
    }
    assert_eq!(listed_usernames(&app).await, ["admin"], "nothing was created");
}

#[tokio::test]
async fn every_missing_required_field_is_named_and_null_counts_as_missing() {
    let app = TestApp::spawn().await;
    let reply = app
        .post("/api/v1/users/signup", &json!({"username": null, "password": null, "email": null}), None)
        .await;
    reply.assert_error(400, "VALIDATION_FAILED");
    assert_eq!(reply.error_fields(), ["username", "password", "email"]);
    for (missing, body) in [
        ("password", json!({"username": "fan01", "email": "f@example.com"})),
        ("email", json!({"username": "fan01", "password": PASSWORD})),
    ] {
        let reply = app.post("/api/v1/users/signup", &body, None).await;
        assert_refused(&reply, missing, &body);
    }
    let login = app.post("/api/v1/users/login", &json!({}), None).await;
    login.assert_error(400, "VALIDATION_FAILED");
    assert_eq!(login.error_fields(), ["username", "password"]);
    let refresh = app.post("/api/v1/users/token/refresh", &json!({"refreshToken": null}), None).await;
    refresh.assert_error(400, "VALIDATION_FAILED");
    assert_eq!(refresh.error_fields(), ["refreshToken"]);
}

#[tokio::test]
async fn a_taken_username_email_or_nickname_is_a_409_naming_the_field() {
    let app = TestApp::spawn().await;
    signup_with_nickname(&app, "fan01", "Kim").await;
    let clash = |username: &str, email: &str, nickname: &str| json!({"username": username, "password": PASSWORD, "email": email, "nickname": nickname});
    for (body, code, field) in [
        (clash("FAN01", "other@example.com", "Lee"), "USERNAME_TAKEN", "username"),
        (clash("fan02", "fan01@EXAMPLE.com", "Lee"), "EMAIL_TAKEN", "email"),
        (clash("fan02", "fan02@example.com", "kIM"), "NICKNAME_TAKEN", "nickname"),
    ] {
        let reply = app.post("/api/v1/users/signup", &body, None).await;
        reply.assert_error(409, code);
        assert_eq!(reply.error_fields(), [field], "{}", reply.text);
    }
    // The admin's username too.
    app.post("/api/v1/users/signup", &clash("Admin", "a2@example.com", "Ad"), None)
        .await
        .assert_error(409, "USERNAME_TAKEN");
    assert_eq!(listed_usernames(&app).await, ["admin", "fan01"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_signups_of_one_username_create_exactly_one_account() {
    let app = TestApp::spawn().await;
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let (client, url) = (app.client.clone(), app.url("/api/v1/users/signup"));
            tokio::spawn(async move {
                let body =
                    json!({"username": "rush", "password": PASSWORD, "email": format!("r{i}@example.com")});
                TestApp::reply(client.post(url).json(&body).send().await.unwrap()).await
            })
        })
        .collect();
    let mut created = 0;
    for task in tasks {
        let reply = task.await.unwrap();
        match reply.status.as_u16() {
            201 => created += 1,
            _ => {
                reply.assert_error(409, "USERNAME_TAKEN");
            }
        }
    }
    assert_eq!(created, 1);
    assert_eq!(listed_usernames(&app).await, ["admin", "rush"]);
}

// ---------------------------------------------------------------------------------------
// Login and the tokens it issues

#[tokio::test]
async fn login_issues_an_access_and_a_refresh_token_of_the_configured_lifetimes() {
    let app = TestApp::spawn_with(|c| {
        c.access_token_ttl = Duration::from_secs(900);
        c.refresh_token_ttl = Duration::from_secs(86_400);
    })
    .await;
    let user = app.signup("fan01").await;
    let reply =
        app.post("/api/v1/users/login", &json!({"username": "fan01", "password": PASSWORD}), None).await;
    reply.assert_status(200);
    assert_eq!(reply.data()["tokenType"], "Bearer");
    assert_eq!(reply.data()["expiresIn"], 900);
    let tokens = Tokens::from_reply(&reply);
    assert_eq!(reply.headers["authorization"].to_str().unwrap(), format!("Bearer {}", tokens.access));
    assert_ne!(tokens.access, tokens.refresh);
    let header: Value =
        serde_json::from_slice(&B64.decode(tokens.access.split('.').next().unwrap()).unwrap()).unwrap();
    assert_eq!(header["alg"], "HS256");
    let (access, refresh) = (claims(&tokens.access), claims(&tokens.refresh));
    assert_eq!(access["sub"], user["id"].as_i64().unwrap().to_string());
    assert_eq!(access["role"], "USER");
    assert_eq!((access["typ"].as_str(), refresh["typ"].as_str()), (Some("access"), Some("refresh")));
    assert_eq!(access["exp"].as_i64().unwrap() - access["iat"].as_i64().unwrap(), 900);
    assert_eq!(refresh["exp"].as_i64().unwrap() - refresh["iat"].as_i64().unwrap(), 86_400);
    assert_eq!(access["fam"], refresh["fam"], "one login is one token family");
    assert_ne!(access["jti"], refresh["jti"]);
    // Each login is its own family.
    let again = app.login("fan01", PASSWORD).await;
    assert_ne!(claims(&again.access)["fam"], access["fam"]);
}

#[tokio::test]
async fn login_finds_the_account_whatever_the_case_of_its_username() {
    let app = TestApp::spawn().await;
    let user = app.signup("Fan01").await;
    let tokens = app.login("fAN01", PASSWORD).await;
    assert_eq!(app.get("/api/v1/users/my", Some(&tokens.access)).await.data()["id"], user["id"]);
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_user_get_the_identical_401() {
    let app = TestApp::spawn().await;
    app.signup("fan01").await;
    let login = |username: &str, password: &str| {
        let body = json!({"username": username, "password": password});
        let app = &app;
        async move { app.post("/api/v1/users/login", &body, None).await }
    };
    let wrong = login("fan01", "Wrong#pass1").await;
    wrong.assert_error(401, "INVALID_CREDENTIALS");
    assert!(wrong.headers.get("authorization").is_none());
    for other in [
        login("nobody", PASSWORD).await,
        login("fan01", "").await,
        login("fan01", &PASSWORD.to_lowercase()).await,
    ] {
        other.assert_error(401, "INVALID_CREDENTIALS");
        assert_eq!(other.body, wrong.body, "nothing tells which part was wrong");
    }
}

// ---------------------------------------------------------------------------------------
// Bearer tokens on the account endpoints

/// The account endpoints that need a token, with a body where they take one.
fn account_endpoints() -> Vec<(Method, &'static str, Option<Value>)> {
    vec![
        (Method::GET, "/api/v1/users/my", None),
        (Method::PUT, "/api/v1/users/my", Some(json!({"email": "changed@example.com"}))),
        (Method::DELETE, "/api/v1/users/my", None),
        (Method::POST, "/api/v1/users/logout", Some(json!({}))),
    ]
}

/// Asserts every account endpoint refuses `token` with 401 `code`.
async fn assert_every_account_endpoint_refuses(app: &TestApp, token: Option<&str>, code: &str) {
    for (method, path, body) in account_endpoints() {
        let reply = app.request(method.clone(), path, body.as_ref(), token).await;
        assert_eq!(reply.status, 401, "{method} {path}: {}", reply.text);
        reply.assert_error(401, code);
        assert_eq!(reply.headers["www-authenticate"], "Bearer", "{method} {path}");
    }
}

#[tokio::test]
async fn the_account_endpoints_refuse_a_missing_token_or_another_scheme() {
    let app = TestApp::spawn().await;
    let (_, token) = app.fan("fan01").await;
    assert_every_account_endpoint_refuses(&app, None, "UNAUTHORIZED").await;
    for header in [format!("Basic {token}"), token.clone(), "Bearer".to_owned(), "Bearer ".to_owned()] {
        let reply = TestApp::reply(
            app.client
                .get(app.url("/api/v1/users/my"))
                .header("authorization", header.clone())
                .send()
                .await
                .unwrap(),
        )
        .await;
        reply.assert_error(401, "TOKEN_INVALID");
    }
    // The scheme is case-insensitive, as HTTP says.
    let reply = TestApp::reply(
        app.client
            .get(app.url("/api/v1/users/my"))
            .header("authorization", format!("bearer {token}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    reply.assert_status(200);
    // Nothing above changed the account.
    assert_eq!(app.get("/api/v1/users/my", Some(&token)).await.data()["email"], "fan01@example.com");
}

#[tokio::test]
async fn garbage_and_tampered_tokens_are_refused_everywhere() {
    let app = TestApp::spawn().await;
    let (_, token) = app.fan("fan01").await;
    assert_every_account_endpoint_refuses(&app, Some("garbage"), "TOKEN_INVALID").await;
    assert_every_account_endpoint_refuses(&app, Some("a.b.c"), "TOKEN_INVALID").await;
    for part in 0..3 {
        assert_every_account_endpoint_refuses(&app, Some(&tamper(&token, part)), "TOKEN_INVALID").await;
    }
    // The same claims without a signature ("alg": "none").
    let unsigned =
        format!("{}.{}.", B64.encode(br#"{"alg":"none","typ":"JWT"}"#), token.split('.').nth(1).unwrap());
    assert_every_account_endpoint_refuses(&app, Some(&unsigned), "TOKEN_INVALID").await;
    // A truncated signature.
    assert_every_account_endpoint_refuses(&app, Some(&token[..token.len() - 4]), "TOKEN_INVALID").await;
    // None of it deleted, changed or logged out the account.
    let me = app.get("/api/v1/users/my", Some(&token)).await;
    me.assert_status(200);
    assert_eq!(me.data()["email"], "fan01@example.com");
}

#[tokio::test]
async fn a_token_signed_with_another_secret_is_refused_even_with_valid_claims() {
    let app = TestApp::spawn_with(|c| c.jwt_secret = Some(KNOWN_SECRET.into())).await;
    let (_, token) = app.fan("fan01").await;
    let mut forged = claims(&token);
    // Signed with the service's secret, fresh claims are accepted: the secret is the one configured.
    forged["jti"] = json!("minted-by-the-test");
    app.get("/api/v1/users/my", Some(&sign(&forged, KNOWN_SECRET))).await.assert_status(200);
    // The same claims, or an admin's, under another secret are not.
    let other_secret = "another secret, also at least 32 bytes long";
    assert_every_account_endpoint_refuses(&app, Some(&sign(&forged, other_secret)), "TOKEN_INVALID").await;
    forged["role"] = json!("ADMIN");
    app.get("/api/v1/admin/users", Some(&sign(&forged, other_secret)))
        .await
        .assert_error(401, "TOKEN_INVALID");
    // And a token from another instance (its own generated secret).
    let other = TestApp::spawn().await;
    let (_, foreign) = other.fan("fan01").await;
    assert_every_account_endpoint_refuses(&app, Some(&foreign), "TOKEN_INVALID").await;
}

#[tokio::test]
async fn a_refresh_token_is_not_an_access_token_and_an_access_token_is_not_a_refresh_token() {
    let app = TestApp::spawn().await;
    app.signup("fan01").await;
    let tokens = app.login("fan01", PASSWORD).await;
    assert_every_account_endpoint_refuses(&app, Some(&tokens.refresh), "TOKEN_INVALID").await;
    app.refresh(&tokens.access).await.assert_error(401, "TOKEN_INVALID");
    app.refresh("garbage").await.assert_error(401, "TOKEN_INVALID");
    app.refresh(&tamper(&tokens.refresh, 1)).await.assert_error(401, "TOKEN_INVALID");
    // The failed attempts spent nothing.
    let next = Tokens::from_reply(&app.refresh(&tokens.refresh).await);
    app.get("/api/v1/users/my", Some(&next.access)).await.assert_status(200);
}

#[tokio::test]
async fn an_expired_access_token_is_refused_as_expired_and_its_refresh_token_renews_the_session() {
    let app = TestApp::spawn_with(|c| c.access_token_ttl = Duration::from_secs(1)).await;
    app.signup("fan01").await;
    let tokens = app.login("fan01", PASSWORD).await;
    app.get("/api/v1/users/my", Some(&tokens.access)).await.assert_status(200);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_every_account_endpoint_refuses(&app, Some(&tokens.access), "TOKEN_EXPIRED").await;
    let renewed = app.refresh(&tokens.refresh).await;
    assert_eq!(renewed.data()["expiresIn"], 1);
    let renewed = Tokens::from_reply(&renewed);
    app.get("/api/v1/users/my", Some(&renewed.access)).await.assert_status(200);
}

#[tokio::test]
async fn an_expired_refresh_token_is_refused_as_expired() {
    let app = TestApp::spawn_with(|c| {
        c.access_token_ttl = Duration::from_secs(1);
        c.refresh_token_ttl = Duration::from_secs(1);
    })
    .await;
    app.signup("fan01").await;
    let tokens = app.login("fan01", PASSWORD).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    app.refresh(&tokens.refresh).await.assert_error(401, "TOKEN_EXPIRED");
    // A new login is the way back in.
    let fresh = app.login("fan01", PASSWORD).await;
    app.get("/api/v1/users/my", Some(&fresh.access)).await.assert_status(200);
}

// ---------------------------------------------------------------------------------------
// Refresh rotation

#[tokio::test]
async fn each_refresh_spends_the_old_token_and_the_chain_stays_one_family() {
    let app = TestApp::spawn().await;
    app.signup("fan01").await;
    let first = app.login("fan01", PASSWORD).await;
    let family = claims(&first.refresh)["fam"].clone();
    let mut current = first.clone();
    for _ in 0..3 {
        let reply = app.refresh(&current.refresh).await;
        assert_eq!(reply.data()["tokenType"], "Bearer");
        assert_eq!(
            reply.headers["authorization"].to_str().unwrap(),
            format!("Bearer {}", reply.data()["accessToken"].as_str().unwrap()),
            "a refresh answers like a login"
        );
        let next = Tokens::from_reply(&reply);
        assert_ne!(next.refresh, current.refresh);
        assert_eq!(claims(&next.refresh)["fam"], family);
        assert_eq!(claims(&next.access)["fam"], family);
        app.get("/api/v1/users/my", Some(&next.access)).await.assert_status(200);
        current = next;
    }
    // The first access token was never revoked: it lives until it expires.
    app.get("/api/v1/users/my", Some(&first.access)).await.assert_status(200);
}

#[tokio::test]
async fn reusing_a_spent_refresh_token_revokes_the_whole_family() {
    let app = TestApp::spawn().await;
    app.signup("fan01").await;
    let first = app.login("fan01", PASSWORD).await;
    let other_login = app.login("fan01", PASSWORD).await;
    let second = Tokens::from_reply(&app.refresh(&first.refresh).await);
    app.refresh(&first.refresh).await.assert_error(401, "TOKEN_REUSED");
    // Every token of that login is dead: the new pair too, access and refresh.
    for token in [&first.access, &second.access] {
        assert_every_account_endpoint_refuses(&app, Some(token), "TOKEN_INVALID").await;
    }
    app.refresh(&second.refresh).await.assert_error(401, "TOKEN_INVALID");
    // The spent token stays spent.
    assert_eq!(app.refresh(&first.refresh).await.status, 401);
    // Another login of the same user is untouched.
    app.get("/api/v1/users/my", Some(&other_login.access)).await.assert_status(200);
    let renewed = Tokens::from_reply(&app.refresh(&other_login.refresh).await);
    app.get("/api/v1/users/my", Some(&renewed.access)).await.assert_status(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_concurrent_refreshes_with_one_token_at_most_one_succeeds() {
    let app = TestApp::spawn().await;
    app.signup("fan01").await;
    let tokens = app.login("fan01", PASSWORD).await;
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let (client, url) = (app.client.clone(), app.url("/api/v1/users/token/refresh"));
            let body = json!({"refreshToken": tokens.refresh});
            tokio::spawn(
                async move { TestApp::reply(client.post(url).json(&body).send().await.unwrap()).await },
            )
        })
        .collect();
    let mut succeeded = 0;
    for task in tasks {
        let reply = task.await.unwrap();
        match reply.status.as_u16() {
            200 => succeeded += 1,
            _ => assert_eq!(reply.status, 401, "{}", reply.text),
        }
    }
    assert!(succeeded <= 1, "{succeeded} rotations of one refresh token succeeded");
    // Presenting it once more is a reuse.
    assert_eq!(app.refresh(&tokens.refresh).await.status, 401);
}

// ---------------------------------------------------------------------------------------
// Logout

#[tokio::test]
async fn logout_revokes_the_presented_access_token_and_all_refresh_tokens_but_no_other_access_token() {
    let app = TestApp::spawn().await;
    app.signup("fan01").await;
    let one = app.login("fan01", PASSWORD).await;
    let two = app.login("fan01", PASSWORD).await;
    let reply = app.post("/api/v1/users/logout", &json!({}), Some(&one.access)).await;
    reply.assert_status(204);
    assert!(reply.text.is_empty());
    assert_every_account_endpoint_refuses(&app, Some(&one.access), "TOKEN_INVALID").await;
    app.refresh(&one.refresh).await.assert_error(401, "TOKEN_INVALID");
    app.refresh(&two.refresh).await.assert_error(401, "TOKEN_INVALID");
    app.get("/api/v1/users/my", Some(&two.access)).await.assert_status(200);
    // Logging in again starts a session that fully works.
    let three = app.login("fan01", PASSWORD).await;
    let renewed = Tokens::from_reply(&app.refresh(&three.refresh).await);
    app.get("/api/v1/users/my", Some(&renewed.access)).await.assert_status(200);
    // Another user's session is untouched.
    let (_, other) = app.fan("fan02").await;
    app.post("/api/v1/users/logout", &json!({}), Some(&renewed.access)).await.assert_status(204);
    app.get("/api/v1/users/my", Some(&other)).await.assert_status(200);
}

#[tokio::test]
async fn logout_needs_no_body() {
    let app = TestApp::spawn().await;
    let (_, token) = app.fan("fan01").await;
    app.request(Method::POST, "/api/v1/users/logout", None, Some(&token)).await.assert_status(204);
    app.get("/api/v1/users/my", Some(&token)).await.assert_error(401, "TOKEN_INVALID");
}

// ---------------------------------------------------------------------------------------
// The caller's own account

#[tokio::test]
async fn my_account_shows_id_username_email_nickname_and_role() {
    let app = TestApp::spawn().await;
    let user = signup_with_nickname(&app, "fan01", "Kim").await;
    let token = app.login("fan01", PASSWORD).await.access;
    let me = app.get("/api/v1/users/my", Some(&token)).await;
    me.assert_status(200);
    for field in ["id", "username", "email", "nickname", "role"] {
        assert_eq!(me.data()[field], user[field], "{field}: {}", me.text);
    }
    assert!(!me.text.to_lowercase().contains("password"), "{}", me.text);
}

#[tokio::test]
async fn updating_my_account_changes_email_and_nickname_and_checks_them() {
    let app = TestApp::spawn().await;
    signup_with_nickname(&app, "fan01", "Kim").await;
    signup_with_nickname(&app, "fan02", "Lee").await;
    let token = app.login("fan01", PASSWORD).await.access;
    let put = |body: Value| {
        let (app, token) = (&app, token.clone());
        async move { app.put("/api/v1/users/my", &body, Some(&token)).await }
    };
    // Keeping one's own values, in another case, is no conflict.
    let same = put(json!({"email": "FAN01@example.com", "nickname": "KIM"})).await;
    same.assert_status(200);
    assert_eq!(
        (same.data()["email"].as_str(), same.data()["nickname"].as_str()),
        (Some("fan01@example.com"), Some("KIM"))
    );
    let changed = put(json!({"email": "New@Example.com", "nickname": "  Park  "})).await;
    changed.assert_status(200);
    assert_eq!(changed.data()["username"], "fan01");
    assert_eq!(changed.data()["role"], "USER");
    let me = app.get("/api/v1/users/my", Some(&token)).await;
    assert_eq!(
        (me.data()["email"].as_str(), me.data()["nickname"].as_str()),
        (Some("new@example.com"), Some("Park"))
    );
    // Clashes with another account.
    let taken = put(json!({"email": "FAN02@example.com", "nickname": "Park"})).await;
    taken.assert_error(409, "EMAIL_TAKEN");
    assert_eq!(taken.error_fields(), ["email"]);
    let taken = put(json!({"email": "new@example.com", "nickname": "lee"})).await;
    taken.assert_error(409, "NICKNAME_TAKEN");
    assert_eq!(taken.error_fields(), ["nickname"]);
    // Broken rules, missing and mistyped fields.
    for (body, fields) in [
        (json!({"nickname": "Park"}), vec!["email"]),
        (json!({"email": "nope", "nickname": "P"}), vec!["email", "nickname"]),
        (json!({"email": 7, "nickname": "Park"}), vec!["email"]),
        (json!({"email": "new@example.com", "nickname": false}), vec!["nickname"]),
    ] {
        let reply = put(body.clone()).await;
        reply.assert_error(400, "VALIDATION_FAILED");
        assert_eq!(reply.error_fields(), fields, "{body}");
    }
    // None of the refused updates changed anything.
    let me = app.get("/api/v1/users/my", Some(&token)).await;
    assert_eq!(
        (me.data()["email"].as_str(), me.data()["nickname"].as_str()),
        (Some("new@example.com"), Some("Park"))
    );
    // Leaving the nickname out removes it, and frees it for others.
    let cleared = put(json!({"email": "new@example.com"})).await;
    cleared.assert_status(200);
    assert!(cleared.data()["nickname"].is_null(), "{}", cleared.text);
    signup_with_nickname(&app, "fan03", "park").await;
}

#[tokio::test]
async fn deleting_my_account_ends_every_session_and_frees_its_username_email_and_nickname() {
    let app = TestApp::spawn().await;
    let old = signup_with_nickname(&app, "fan01", "Kim").await;
    let one = app.login("fan01", PASSWORD).await;
    let two = app.login("fan01", PASSWORD).await;
    let reply = app.delete("/api/v1/users/my", Some(&one.access)).await;
    reply.assert_status(204);
    assert!(reply.text.is_empty());
    for tokens in [&one, &two] {
        assert_every_account_endpoint_refuses(&app, Some(&tokens.access), "TOKEN_INVALID").await;
        app.refresh(&tokens.refresh).await.assert_error(401, "TOKEN_INVALID");
    }
    app.post("/api/v1/users/login", &json!({"username": "fan01", "password": PASSWORD}), None)
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    assert!(!listed_usernames(&app).await.contains(&"fan01".to_owned()), "gone from the admin listing");
    // Someone else may now take the name, the address and the nickname.
    let new = signup_with_nickname(&app, "FAN01", "kim").await;
    assert_ne!(new["id"], old["id"]);
    let fresh = app.login("fan01", PASSWORD).await;
    assert_eq!(app.get("/api/v1/users/my", Some(&fresh.access)).await.data()["id"], new["id"]);
    // The old account's tokens do not open the new one.
    app.get("/api/v1/users/my", Some(&two.access)).await.assert_error(401, "TOKEN_INVALID");
}

// ---------------------------------------------------------------------------------------
// Admin

#[tokio::test]
async fn admin_login_answers_like_login_for_admins_only() {
    let app = TestApp::spawn().await;
    app.signup("fan01").await;
    let (_, _) = app.promoter("promo01").await;
    let login = |username: &str, password: &str| {
        let body = json!({"username": username, "password": password});
        let app = &app;
        async move { app.post("/api/v1/admin/login", &body, None).await }
    };
    let ok = login("admin", ADMIN_PASSWORD).await;
    ok.assert_status(200);
    assert_eq!(ok.data()["tokenType"], "Bearer");
    let tokens = Tokens::from_reply(&ok);
    assert_eq!(ok.headers["authorization"].to_str().unwrap(), format!("Bearer {}", tokens.access));
    app.get("/api/v1/admin/users", Some(&tokens.access)).await.assert_status(200);
    login("fan01", PASSWORD).await.assert_error(403, "FORBIDDEN");
    login("promo01", PASSWORD).await.assert_error(403, "FORBIDDEN");
    let wrong = login("admin", "Wrong#pass1").await;
    wrong.assert_error(401, "INVALID_CREDENTIALS");
    assert_eq!(login("nobody", PASSWORD).await.body, wrong.body);
    // A non-admin with a wrong password learns nothing about their role.
    assert_eq!(login("fan01", "Wrong#pass1").await.body, wrong.body);
    let missing = app.post("/api/v1/admin/login", &json!({"username": "admin"}), None).await;
    missing.assert_error(400, "VALIDATION_FAILED");
    assert_eq!(missing.error_fields(), ["password"]);
}

#[tokio::test]
async fn only_admins_list_users_and_the_listing_shows_each_live_account() {
    let app = TestApp::spawn().await;
    let (fan_id, fan) = app.fan("fan01").await;
    let (promoter_id, promoter) = app.promoter("promo01").await;
    signup_with_nickname(&app, "fan02", "Kim").await;
    app.get("/api/v1/admin/users", None).await.assert_error(401, "UNAUTHORIZED");
    app.get("/api/v1/admin/users", Some("garbage")).await.assert_error(401, "TOKEN_INVALID");
    app.get("/api/v1/admin/users", Some(&fan)).await.assert_error(403, "FORBIDDEN");
    app.get("/api/v1/admin/users", Some(&promoter)).await.assert_error(403, "FORBIDDEN");
    let admin = app.admin_token().await;
    let users = app.get("/api/v1/admin/users", Some(&admin)).await;
    users.assert_status(200);
    let users = users.data().as_array().unwrap().clone();
    let names: Vec<&str> = users.iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert_eq!(names, ["admin", "fan01", "promo01", "fan02"], "oldest first");
    for user in &users {
        for field in ["userId", "username", "email", "role"] {
            assert!(!user[field].is_null(), "{field} in {user}");
        }
        assert!(user.as_object().unwrap().contains_key("nickname"), "{user}");
        assert!(!user.to_string().to_lowercase().contains("password"), "{user}");
    }
    let by_name = |name: &str| users.iter().find(|u| u["username"] == name).unwrap().clone();
    assert_eq!(by_name("admin")["role"], "ADMIN");
    assert_eq!(by_name("admin")["email"], "admin@localhost");
    assert_eq!(by_name("fan01")["userId"], fan_id);
    assert_eq!(by_name("fan01")["role"], "USER");
    assert_eq!(by_name("fan01")["email"], "fan01@example.com");
    assert_eq!(by_name("promo01")["userId"], promoter_id);
    assert_eq!(by_name("promo01")["role"], "COMPANY_USER");
    assert_eq!(by_name("fan02")["nickname"], "Kim");
    assert!(by_name("fan01")["nickname"].is_null());
}

fn admin_update(username: &str, email: &str, role: &str) -> Value {
    json!({"username": username, "email": email, "role": role})
}

#[tokio::test]
async fn promoting_a_fan_ends_their_old_sessions_and_a_new_login_carries_the_new_role() {
    let app = TestApp::spawn().await;
    let (fan_id, _) = app.fan("fan01").await;
    let old = app.login("fan01", PASSWORD).await;
    let admin = app.admin_token().await;
    let done = app
        .put(
            &format!("/api/v1/admin/users/{fan_id}"),
            &admin_update("fan01", "fan01@example.com", "COMPANY_USER"),
            Some(&admin),
        )
        .await;
    done.assert_status(200);
    assert_eq!(done.data()["userId"], fan_id);
    assert_eq!(done.data()["role"], "COMPANY_USER");
    assert_every_account_endpoint_refuses(&app, Some(&old.access), "TOKEN_INVALID").await;
    app.refresh(&old.refresh).await.assert_error(401, "TOKEN_INVALID");
    let fresh = app.login("fan01", PASSWORD).await;
    assert_eq!(claims(&fresh.access)["role"], "COMPANY_USER");
    let me = app.get("/api/v1/users/my", Some(&fresh.access)).await;
    assert_eq!(me.data()["role"], "COMPANY_USER");
    // Promoted further to admin, they can use the admin endpoints (after logging in again).
    app.put(
        &format!("/api/v1/admin/users/{fan_id}"),
        &admin_update("fan01", "fan01@example.com", "ADMIN"),
        Some(&admin),
    )
    .await
    .assert_status(200);
    app.get("/api/v1/admin/users", Some(&fresh.access)).await.assert_error(401, "TOKEN_INVALID");
    let as_admin =
        app.post("/api/v1/admin/login", &json!({"username": "fan01", "password": PASSWORD}), None).await;
    let as_admin = Tokens::from_reply(&as_admin);
    app.get("/api/v1/admin/users", Some(&as_admin.access)).await.assert_status(200);
}

#[tokio::test]
async fn an_admin_edit_that_keeps_role_and_password_keeps_the_users_sessions() {
    let app = TestApp::spawn().await;
    let (fan_id, fan) = app.fan("fan01").await;
    let admin = app.admin_token().await;
    let body = json!({"username": "fan01_renamed", "email": "Renamed@Example.com", "nickname": "Kim", "role": "USER"});
    let done = app.put(&format!("/api/v1/admin/users/{fan_id}"), &body, Some(&admin)).await;
    done.assert_status(200);
    assert_eq!(done.data()["username"], "fan01_renamed");
    assert_eq!(done.data()["email"], "renamed@example.com");
    let me = app.get("/api/v1/users/my", Some(&fan)).await;
    me.assert_status(200);
    assert_eq!(
        (me.data()["username"].as_str(), me.data()["nickname"].as_str()),
        (Some("fan01_renamed"), Some("Kim"))
    );
    // The new username logs in with the unchanged password; the old one is gone.
    app.login("fan01_renamed", PASSWORD).await;
    app.post("/api/v1/users/login", &json!({"username": "fan01", "password": PASSWORD}), None)
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
}

#[tokio::test]
async fn an_admin_password_change_lets_the_user_in_with_the_new_password_only() {
    let app = TestApp::spawn().await;
    let (fan_id, _) = app.fan("fan01").await;
    let old = app.login("fan01", PASSWORD).await;
    let admin = app.admin_token().await;
    let mut body = admin_update("fan01", "fan01@example.com", "USER");
    body["password"] = json!("Brand#New2026");
    app.put(&format!("/api/v1/admin/users/{fan_id}"), &body, Some(&admin)).await.assert_status(200);
    app.post("/api/v1/users/login", &json!({"username": "fan01", "password": PASSWORD}), None)
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    let fresh = app.login("fan01", "Brand#New2026").await;
    app.get("/api/v1/users/my", Some(&fresh.access)).await.assert_status(200);
    // Whoever held the old sessions is out.
    assert_every_account_endpoint_refuses(&app, Some(&old.access), "TOKEN_INVALID").await;
    app.refresh(&old.refresh).await.assert_error(401, "TOKEN_INVALID");
    // The new password must meet the rule.
    body["password"] = json!("weak");
    let weak = app.put(&format!("/api/v1/admin/users/{fan_id}"), &body, Some(&admin)).await;
    weak.assert_error(400, "VALIDATION_FAILED");
    assert_eq!(weak.error_fields(), ["password"]);
    app.login("fan01", "Brand#New2026").await;
}

#[tokio::test]
async fn an_admin_update_needs_an_admin_an_existing_account_and_valid_fields() {
    let app = TestApp::spawn().await;
    let (fan_id, fan) = app.fan("fan01").await;
    let (promoter_id, promoter) = app.promoter("promo01").await;
    let admin = app.admin_token().await;
    let path = format!("/api/v1/admin/users/{fan_id}");
    let valid = admin_update("fan01", "fan01@example.com", "COMPANY_USER");
    app.put(&path, &valid, None).await.assert_error(401, "UNAUTHORIZED");
    app.put(&path, &valid, Some(&fan)).await.assert_error(403, "FORBIDDEN");
    app.put(&path, &valid, Some(&promoter)).await.assert_error(403, "FORBIDDEN");
    app.put(
        &format!("/api/v1/admin/users/{promoter_id}"),
        &admin_update("promo01", "promo01@example.com", "ADMIN"),
        Some(&promoter),
    )
    .await
    .assert_error(403, "FORBIDDEN");
    app.put("/api/v1/admin/users/999999", &valid, Some(&admin)).await.assert_error(404, "NOT_FOUND");
    for (body, fields) in [
        (json!({}), vec!["username", "email", "role"]),
        (admin_update("x", "fan01@example.com", "USER"), vec!["username"]),
        (admin_update("fan01", "not-an-email", "USER"), vec!["email"]),
        (
            json!({"username": "fan01", "email": "fan01@example.com", "nickname": "x", "role": "USER"}),
            vec!["nickname"],
        ),
        (admin_update("fan01", "fan01@example.com", "KING"), vec!["role"]),
        (admin_update("fan01", "fan01@example.com", "company_user"), vec!["role"]),
        (json!({"username": "fan01", "email": "fan01@example.com", "role": 1}), vec!["role"]),
        (json!({"username": "fan01", "email": "fan01@example.com"}), vec!["role"]),
    ] {
        let reply = app.put(&path, &body, Some(&admin)).await;
        reply.assert_error(400, "VALIDATION_FAILED");
        assert_eq!(reply.error_fields(), fields, "{body}");
    }
    // Nothing was changed by the refused requests: the fan's token still works as a fan's.
    let me = app.get("/api/v1/users/my", Some(&fan)).await;
    me.assert_status(200);
    assert_eq!(me.data()["role"], "USER");
}

#[tokio::test]
async fn an_admin_update_answers_400_with_the_envelope_for_an_id_that_is_not_a_number() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let reply = app
        .put("/api/v1/admin/users/abc", &admin_update("fan01", "fan01@example.com", "USER"), Some(&admin))
        .await;
    reply.assert_error(400, "VALIDATION_FAILED");
    assert_eq!(reply.error_fields(), ["id"]);
}

#[tokio::test]
async fn an_admin_cannot_give_an_account_the_username_email_or_nickname_of_another() {
    let app = TestApp::spawn().await;
    let (fan_id, _) = app.fan("fan01").await;
    signup_with_nickname(&app, "fan02", "Kim").await;
    let admin = app.admin_token().await;
    let path = format!("/api/v1/admin/users/{fan_id}");
    for (body, code, field) in [
        (admin_update("FAN02", "fan01@example.com", "USER"), "USERNAME_TAKEN", "username"),
        (admin_update("admin", "fan01@example.com", "USER"), "USERNAME_TAKEN", "username"),
        (admin_update("fan01", "Fan02@example.com", "USER"), "EMAIL_TAKEN", "email"),
        (
            json!({"username": "fan01", "email": "fan01@example.com", "nickname": "KIM", "role": "USER"}),
            "NICKNAME_TAKEN",
            "nickname",
        ),
    ] {
        let reply = app.put(&path, &body, Some(&admin)).await;
        reply.assert_error(409, code);
        assert_eq!(reply.error_fields(), [field], "{body}");
    }
    assert_eq!(listed_usernames(&app).await, ["admin", "fan01", "fan02"]);
}

#[tokio::test]
async fn an_admin_cannot_change_their_own_role_but_may_edit_the_rest_of_their_account() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let me = app.get("/api/v1/users/my", Some(&admin)).await.data()["id"].as_i64().unwrap();
    let path = format!("/api/v1/admin/users/{me}");
    for role in ["USER", "COMPANY_USER"] {
        let reply = app.put(&path, &admin_update("admin", "admin@localhost", role), Some(&admin)).await;
        reply.assert_error(409, "OWN_ROLE");
    }
    app.get("/api/v1/admin/users", Some(&admin)).await.assert_status(200);
    let body =
        json!({"username": "admin", "email": "ops@example.com", "nickname": "Operator", "role": "ADMIN"});
    let edited = app.put(&path, &body, Some(&admin)).await;
    edited.assert_status(200);
    assert_eq!(edited.data()["email"], "ops@example.com");
    assert_eq!(edited.data()["role"], "ADMIN");
    // No role or password change: the admin's session goes on.
    app.get("/api/v1/admin/users", Some(&admin)).await.assert_status(200);
}

#[tokio::test]
async fn an_admin_may_demote_another_admin_whose_sessions_then_end() {
    let app = TestApp::spawn().await;
    let (other_id, _) = app.fan("ops2").await;
    let admin = app.admin_token().await;
    let path = format!("/api/v1/admin/users/{other_id}");
    app.put(&path, &admin_update("ops2", "ops2@example.com", "ADMIN"), Some(&admin)).await.assert_status(200);
    let other = Tokens::from_reply(
        &app.post("/api/v1/admin/login", &json!({"username": "ops2", "password": PASSWORD}), None).await,
    );
    app.get("/api/v1/admin/users", Some(&other.access)).await.assert_status(200);
    app.put(&path, &admin_update("ops2", "ops2@example.com", "USER"), Some(&admin)).await.assert_status(200);
    app.get("/api/v1/admin/users", Some(&other.access)).await.assert_error(401, "TOKEN_INVALID");
    let fan = app.login("ops2", PASSWORD).await;
    app.get("/api/v1/admin/users", Some(&fan.access)).await.assert_error(403, "FORBIDDEN");
}

#[tokio::test]
async fn a_deleted_account_cannot_be_edited_by_an_admin() {
    let app = TestApp::spawn().await;
    let (fan_id, fan) = app.fan("fan01").await;
    app.delete("/api/v1/users/my", Some(&fan)).await.assert_status(204);
    let admin = app.admin_token().await;
    app.put(
        &format!("/api/v1/admin/users/{fan_id}"),
        &admin_update("fan01", "fan01@example.com", "ADMIN"),
        Some(&admin),
    )
    .await
    .assert_error(404, "NOT_FOUND");
    app.post("/api/v1/admin/login", &json!({"username": "fan01", "password": PASSWORD}), None)
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
}

// ---------------------------------------------------------------------------------------
// Restarts

#[tokio::test]
async fn logged_out_tokens_stay_revoked_after_a_restart_and_live_ones_keep_working() {
    let app = TestApp::spawn().await;
    app.signup("fan01").await;
    let kept = app.login("fan01", PASSWORD).await;
    let dropped = app.login("fan01", PASSWORD).await;
    app.post("/api/v1/users/logout", &json!({}), Some(&dropped.access)).await.assert_status(204);
    app.signup("fan02").await;
    let untouched = app.login("fan02", PASSWORD).await;
    let dir = app.stop().await;
    let app = TestApp::spawn_in(dir, |_| {}).await;
    // The JWT secret was kept in the data dir, so tokens of before still verify.
    app.get("/api/v1/users/my", Some(&kept.access)).await.assert_status(200);
    assert_every_account_endpoint_refuses(&app, Some(&dropped.access), "TOKEN_INVALID").await;
    app.refresh(&dropped.refresh).await.assert_error(401, "TOKEN_INVALID");
    app.refresh(&kept.refresh).await.assert_error(401, "TOKEN_INVALID");
    // Refresh tokens are remembered across the restart: fan02's still rotates.
    let renewed = Tokens::from_reply(&app.refresh(&untouched.refresh).await);
    app.get("/api/v1/users/my", Some(&renewed.access)).await.assert_status(200);
}

#[tokio::test]
async fn a_revoked_family_a_role_change_and_a_deleted_account_stay_in_force_after_a_restart() {
    let app = TestApp::spawn().await;
    // A family revoked by reuse.
    app.signup("fan01").await;
    let first = app.login("fan01", PASSWORD).await;
    let second = Tokens::from_reply(&app.refresh(&first.refresh).await);
    app.refresh(&first.refresh).await.assert_error(401, "TOKEN_REUSED");
    // A promoted fan's old session.
    let (promoted_id, promoted) = app.fan("fan02").await;
    let admin = app.admin_token().await;
    app.put(
        &format!("/api/v1/admin/users/{promoted_id}"),
        &admin_update("fan02", "fan02@example.com", "COMPANY_USER"),
        Some(&admin),
    )
    .await
    .assert_status(200);
    // A deleted account's other session.
    app.signup("fan03").await;
    let deleted_one = app.login("fan03", PASSWORD).await;
    let deleted_two = app.login("fan03", PASSWORD).await;
    app.delete("/api/v1/users/my", Some(&deleted_one.access)).await.assert_status(204);

    let dir = app.stop().await;
    let app = TestApp::spawn_in(dir, |_| {}).await;
    app.get("/api/v1/users/my", Some(&second.access)).await.assert_error(401, "TOKEN_INVALID");
    app.refresh(&second.refresh).await.assert_error(401, "TOKEN_INVALID");
    app.get("/api/v1/users/my", Some(&promoted)).await.assert_error(401, "TOKEN_INVALID");
    app.get("/api/v1/users/my", Some(&deleted_two.access)).await.assert_error(401, "TOKEN_INVALID");
    app.refresh(&deleted_two.refresh).await.assert_error(401, "TOKEN_INVALID");
    // What was not revoked still works.
    app.get("/api/v1/users/my", Some(&admin)).await.assert_status(200);
    let fresh = app.login("fan02", PASSWORD).await;
    assert_eq!(app.get("/api/v1/users/my", Some(&fresh.access)).await.data()["role"], "COMPANY_USER");
}
