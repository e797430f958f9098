//! The web app in a real browser: starts the service (the API suite's harness: a random
//! port, a fresh data dir) and runs the Playwright story in `tests/browser/app.test.mjs`
//! against it with Debian's chromium. `scripts/test` installs chromium and the node
//! packages; without them this test fails and says so, it never skips.
//!
//! The story may ask for what only the harness can do, one line on its output each:
//! `@end-hold ORDER` ends an order's hold now (a hold lasts a minute at least, too long to
//! wait for); the harness answers `done` on the story's input.

#[path = "backend/mod.rs"]
mod backend;
#[path = "api/helpers.rs"]
mod helpers;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

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
    let data_dir = app.dir.path().to_owned();
    let runtime = tokio::runtime::Handle::current();
    // Blocking: node runs for a while, and the service must keep serving meanwhile.
    let status = tokio::task::spawn_blocking(move || {
        let mut node = Command::new("node")
            .arg("app.test.mjs")
            .arg(&address)
            .current_dir(&dir)
            .env("ADMIN_PASSWORD", ADMIN_PASSWORD)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("node runs (is nodejs installed?)");
        let mut input = node.stdin.take().expect("node's input");
        let mut errors = node.stderr.take().expect("node's errors");
        let errors = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = errors.read_to_string(&mut text);
            text
        });
        for line in BufReader::new(node.stdout.take().expect("node's output")).lines() {
            let line = line.expect("node's output");
            match line.strip_prefix("@end-hold ") {
                Some(order) => {
                    let order = order.trim().parse().expect("an order id");
                    runtime.block_on(helpers::end_hold(&data_dir, order));
                    writeln!(input, "done").expect("answer node");
                }
                None => println!("{line}"),
            }
        }
        eprintln!("{}", errors.join().expect("node's errors"));
        node.wait().expect("node ends")
    })
    .await
    .expect("the node task");
    assert!(status.success(), "the browser story failed: {status}");
    app.stop().await;
}
