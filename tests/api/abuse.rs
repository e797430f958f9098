//! Brute force and abuse: logins per account and per address, signups per address and
//! bookings per user are limited, answered 429 with `Retry-After`, and nothing changes.

use std::time::Duration;

use serde_json::json;
use tickitecking::throttle::{Rate, RateLimits};

use crate::helpers::{PASSWORD, Reply, TestApp};

fn per_hour(count: u32) -> Rate {
    Rate::new(count, Duration::from_secs(3600))
}

#[track_caller]
fn assert_limited(reply: &Reply) {
    reply.assert_error(429, "RATE_LIMITED");
    let wait: u64 = reply.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=3600).contains(&wait), "Retry-After {wait}");
}

async fn login(app: &TestApp, username: &str, password: &str, forwarded_for: Option<&str>) -> Reply {
    let mut request = app
        .client
        .post(app.url("/api/v1/users/login"))
        .json(&json!({"username": username, "password": password}));
    if let Some(address) = forwarded_for {
        request = request.header("x-forwarded-for", address);
    }
    TestApp::reply(request.send().await.unwrap()).await
}

#[tokio::test]
async fn guessing_one_accounts_password_is_stopped_whatever_the_address() {
    let app = TestApp::spawn_with(|c| {
        c.rate_limits = RateLimits { login_per_account: per_hour(3), ..RateLimits::OFF };
        c.edge.client_address_header = Some("x-forwarded-for".parse().unwrap());
    })
    .await;
    app.signup("victim").await;
    for i in 0..3 {
        login(&app, "victim", "Wrong#pass1", Some(&format!("10.0.0.{i}"))).await.assert_status(401);
    }
    // From a fourth address, and even with the right password: the account is resting.
    assert_limited(&login(&app, "VICTIM", PASSWORD, Some("10.0.0.9")).await);
    // Other accounts are not affected.
    app.signup("bystander").await;
    login(&app, "bystander", PASSWORD, Some("10.0.0.9")).await.assert_status(200);
}

#[tokio::test]
async fn one_address_trying_many_accounts_is_stopped_and_others_are_not() {
    let app = TestApp::spawn_with(|c| {
        c.rate_limits = RateLimits { login_per_address: per_hour(4), ..RateLimits::OFF };
        c.edge.client_address_header = Some("x-forwarded-for".parse().unwrap());
    })
    .await;
    app.signup("fan01").await;
    for name in ["a1", "a2", "a3", "a4"] {
        login(&app, name, PASSWORD, Some("198.51.100.7")).await.assert_status(401);
    }
    // The load balancer appends the real client last; what a client puts first is ignored.
    assert_limited(&login(&app, "fan01", PASSWORD, Some("203.0.113.1, 198.51.100.7")).await);
    login(&app, "fan01", PASSWORD, Some("198.51.100.8")).await.assert_status(200);
    // The admin door shares the allowance.
    let admin = app
        .client
        .post(app.url("/api/v1/admin/login"))
        .header("x-forwarded-for", "198.51.100.7")
        .json(&json!({"username": "admin", "password": crate::helpers::ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_limited(&TestApp::reply(admin).await);
}

#[tokio::test]
async fn unknown_users_and_wrong_passwords_get_the_same_answer() {
    let app = TestApp::spawn().await;
    app.signup("fan01").await;
    let wrong = login(&app, "fan01", "Wrong#pass1", None).await;
    let unknown = login(&app, "nobody-here", "Wrong#pass1", None).await;
    wrong.assert_error(401, "INVALID_CREDENTIALS");
    unknown.assert_error(401, "INVALID_CREDENTIALS");
    assert_eq!(wrong.text, unknown.text);
}

#[tokio::test]
async fn signups_per_address_are_limited_and_a_refused_one_creates_nothing() {
    let app = TestApp::spawn_with(|c| {
        c.rate_limits = RateLimits { signup_per_address: per_hour(2), ..RateLimits::OFF };
    })
    .await;
    app.signup("bot1").await;
    // Invalid input does not use up the allowance (it costs no hash and creates nothing).
    app.post("/api/v1/users/signup", &json!({"username": "x"}), None).await.assert_status(400);
    app.signup("bot2").await;
    let third = app
        .post(
            "/api/v1/users/signup",
            &json!({"username": "bot3", "password": PASSWORD, "email": "bot3@example.com"}),
            None,
        )
        .await;
    assert_limited(&third);
    login(&app, "bot3", PASSWORD, None).await.assert_error(401, "INVALID_CREDENTIALS");
}

#[tokio::test]
async fn bookings_per_user_are_limited_and_a_refused_one_books_nothing() {
    let app = TestApp::spawn_with(|c| {
        c.rate_limits = RateLimits { booking_per_user: per_hour(2), ..RateLimits::OFF };
    })
    .await;
    let (_, concert) = crate::rush::concert(&app, 10).await;
    let (_, bot) = app.fan("bot").await;
    let (_, fan) = app.fan("fan").await;
    let path = format!("/api/v1/concerts/{concert}/reservations");
    app.post(&path, &json!({"horizontal": "A", "vertical": 1}), Some(&bot)).await.assert_status(201);
    app.post(&path, &json!({"horizontal": "A", "vertical": 1}), Some(&bot)).await.assert_status(409);
    assert_limited(&app.post(&path, &json!({"horizontal": "A", "vertical": 2}), Some(&bot)).await);
    // The refused order left the seat free: another fan books it.
    app.post(&path, &json!({"horizontal": "A", "vertical": 2}), Some(&fan)).await.assert_status(201);
    let mine = app.get("/api/v1/users/my/reservations", Some(&bot)).await;
    assert_eq!(mine.data().as_array().unwrap().len(), 1, "{}", mine.text);
}

#[tokio::test]
async fn a_client_that_waits_as_told_gets_through() {
    let app = TestApp::spawn_with(|c| {
        c.rate_limits =
            RateLimits { login_per_account: Rate::new(1, Duration::from_secs(1)), ..RateLimits::OFF };
    })
    .await;
    app.signup("fan01").await;
    login(&app, "fan01", PASSWORD, None).await.assert_status(200);
    let refused = login(&app, "fan01", PASSWORD, None).await;
    assert_limited(&refused);
    let wait: u64 = refused.headers["retry-after"].to_str().unwrap().parse().unwrap();
    tokio::time::sleep(Duration::from_secs(wait)).await;
    login(&app, "fan01", PASSWORD, None).await.assert_status(200);
}
