//! The web app in a real browser: starts the service (the API suite's harness: a random
//! port, a fresh data dir) and runs the Playwright story in `tests/browser/app.test.mjs`
//! against it with Debian's chromium. `scripts/test` installs chromium and the node
//! packages; without them this test fails and says so, it never skips.

#[path = "backend/mod.rs"]
mod backend;
#[path = "api/helpers.rs"]
mod helpers;

use std::path::Path;
use std::process::Command;

use helpers::{ADMIN_PASSWORD, TestApp};

const CHROMIUM: &str = "/usr/bin/chromium";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fans_promoters_and_admins_use_the_web_app_in_a_browser() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    assert!(
        dir.join("node_modules/playwright-core").is_dir() && Path::new(CHROMIUM).exists(),
        "the browser tests need chromium ({CHROMIUM}) and tests/browser/node_modules: run `scripts/test` \
         (it installs both), or `apt-get install chromium && npm ci --prefix tests/browser`"
    );
    let app = TestApp::spawn().await;
    let address = app.address.clone();
    // Blocking: node runs for a while, and the service must keep serving meanwhile.
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg("app.test.mjs")
            .arg(&address)
            .current_dir(&dir)
            .env("ADMIN_PASSWORD", ADMIN_PASSWORD)
            .output()
    })
    .await
    .expect("the node task")
    .expect("node runs (is nodejs installed?)");
    println!("{}", String::from_utf8_lossy(&output.stdout));
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "the browser story failed: {}", output.status);
    app.stop().await;
}
