//! Accounts: signup, login, tokens, profile, admin user management.

use crate::helpers::{PASSWORD, TestApp};

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
