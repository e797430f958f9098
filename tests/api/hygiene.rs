//! Web hygiene: security headers on every API response (errors and shed requests too),
//! CORS off unless configured, and then only for the configured origins.

use reqwest::Method;
use serde_json::json;

use crate::helpers::TestApp;

#[track_caller]
pub(crate) fn assert_security_headers(headers: &reqwest::header::HeaderMap) {
    assert_eq!(headers["x-content-type-options"], "nosniff", "{headers:?}");
    assert_eq!(headers["x-frame-options"], "DENY", "{headers:?}");
    assert_eq!(headers["referrer-policy"], "no-referrer", "{headers:?}");
}

#[tokio::test]
async fn every_kind_of_answer_carries_the_security_headers() {
    let app = TestApp::spawn().await;
    assert_security_headers(&app.get("/api/v1/concerts", None).await.headers);
    assert_security_headers(&app.get("/api/v1/users/my", None).await.headers);
    assert_security_headers(&app.get("/no/such/route", None).await.headers);
    assert_security_headers(&app.get("/health", None).await.headers);
    assert_security_headers(&app.post("/api/v1/users/login", &json!({}), None).await.headers);
}

async fn preflight(app: &TestApp, origin: &str) -> reqwest::Response {
    app.client
        .request(Method::OPTIONS, app.url("/api/v1/concerts"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization, content-type")
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn cors_is_off_by_default() {
    let app = TestApp::spawn().await;
    let response = preflight(&app, "https://evil.example").await;
    assert!(response.headers().get("access-control-allow-origin").is_none(), "{:?}", response.headers());
    let simple = app
        .client
        .get(app.url("/api/v1/concerts"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(simple.status(), 200);
    assert!(simple.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn cors_answers_only_the_configured_origins() {
    let app =
        TestApp::spawn_with(|c| c.edge.cors_origins = vec!["https://shop.example".parse().unwrap()]).await;
    let allowed = preflight(&app, "https://shop.example").await;
    assert!(allowed.status().is_success(), "{}", allowed.status());
    assert_eq!(allowed.headers()["access-control-allow-origin"], "https://shop.example");
    let methods = allowed.headers()["access-control-allow-methods"].to_str().unwrap().to_owned();
    assert!(methods.contains("POST"), "{methods}");
    let headers = allowed.headers()["access-control-allow-headers"].to_str().unwrap().to_lowercase();
    assert!(headers.contains("authorization"), "{headers}");
    // No cookies are used, so credentials are never allowed cross-origin.
    assert!(allowed.headers().get("access-control-allow-credentials").is_none());
    let other = preflight(&app, "https://evil.example").await;
    assert!(other.headers().get("access-control-allow-origin").is_none());
    let simple = app
        .client
        .get(app.url("/api/v1/concerts"))
        .header("origin", "https://shop.example")
        .send()
        .await
        .unwrap();
    assert_eq!(simple.headers()["access-control-allow-origin"], "https://shop.example");
    assert!(
        simple.headers()["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .to_lowercase()
            .contains("retry-after")
    );
}

#[tokio::test]
async fn no_response_sets_a_cookie() {
    let app = TestApp::spawn().await;
    app.signup("fan01").await;
    let login = app
        .post(
            "/api/v1/users/login",
            &json!({"username": "fan01", "password": crate::helpers::PASSWORD}),
            None,
        )
        .await;
    login.assert_status(200);
    assert!(login.headers.get("set-cookie").is_none(), "tokens travel in headers and bodies, never cookies");
}
