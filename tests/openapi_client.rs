//! The contract as a new user of the API meets it: the served OpenAPI document must be
//! valid OpenAPI 3.1, a standard generator (openapi-python-client) must make a typed client
//! of it without a warning, and that client must walk every flow of the product — signup
//! to admin, `tests/openapi_client/walk.py` — with every answer parsing into the type the
//! document declares for it.
//!
//! It starts the service with the API suite's harness (a random port, a fresh data dir).
//! `scripts/test` installs the pinned generator and validator
//! (scripts/test.d/45-openapi-client.sh); without them this test fails and says so, it
//! never skips.

#[path = "backend/mod.rs"]
mod backend;
#[path = "api/helpers.rs"]
mod helpers;

use std::path::{Path, PathBuf};
use std::process::Command;

use helpers::{ADMIN_PASSWORD, TestApp};

/// The virtualenv holding the pinned tools: `OPENAPI_CLIENT_VENV`, else where
/// scripts/test.d/45-openapi-client.sh puts it.
fn tools() -> PathBuf {
    let venv = std::env::var_os("OPENAPI_CLIENT_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/openapi-client-venv"));
    assert!(
        ["openapi-python-client", "openapi-spec-validator", "python"]
            .iter()
            .all(|t| venv.join("bin").join(t).exists()),
        "the client generator is not installed in {}: run `scripts/test` (scripts/test.d/45-openapi-client.sh \
         installs it), or `python3 -m venv target/openapi-client-venv && target/openapi-client-venv/bin/pip \
         install -r tests/openapi_client/requirements.txt`, or set OPENAPI_CLIENT_VENV to such a virtualenv",
        venv.display()
    );
    venv
}

/// Runs a tool to its end off the runtime (the service must keep answering meanwhile),
/// shows its output, and fails the test if it fails.
async fn run(what: &'static str, mut command: Command) {
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("the tool's task")
        .unwrap_or_else(|e| panic!("{what} did not start: {e}"));
    println!("==== {what}\n{}", String::from_utf8_lossy(&output.stdout));
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{what} failed ({}); its output is above", output.status);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_generated_from_the_served_document_walks_every_flow() {
    let venv = tools();
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/openapi_client");
    let app = TestApp::spawn().await;
    let served = app.get("/api-docs/openapi.json", None).await;
    served.assert_status(200);
    assert!(
        served.body["openapi"].as_str().is_some_and(|v| v.starts_with("3.1.")),
        "the document declares OpenAPI 3.1: {}",
        served.body["openapi"]
    );
    let work = tempfile::tempdir().expect("temp dir");
    let document = work.path().join("openapi.json");
    std::fs::write(&document, &served.text).expect("write the document");

    let mut validate = Command::new(venv.join("bin/openapi-spec-validator"));
    validate.arg(&document);
    run("openapi-spec-validator", validate).await;

    let mut generate = Command::new(venv.join("bin/openapi-python-client"));
    generate
        .current_dir(work.path())
        .args(["generate", "--meta", "none", "--fail-on-warning", "--path"])
        .arg(&document)
        .arg("--output-path")
        .arg(work.path().join("tickitecking_client"))
        .arg("--config")
        .arg(here.join("config.yml"));
    run("openapi-python-client generate", generate).await;

    let mut walk = Command::new(venv.join("bin/python"));
    walk.arg(here.join("walk.py"))
        .arg(&app.address)
        .current_dir(work.path())
        .env("PYTHONPATH", work.path())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("ADMIN_PASSWORD", ADMIN_PASSWORD);
    run("the walk through every flow", walk).await;
    app.stop().await;
}
