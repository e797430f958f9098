//! A backup killed halfway, and restores that must be refused.

use std::process::Stdio;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::harness::{
    PASSWORD, Server, active_reservations, assert_ok, assert_refused, database, run, sha256, tickitecking,
};

#[tokio::test]
async fn a_backup_killed_midway_leaves_the_live_database_and_the_last_good_backup_intact() {
    let live = tempfile::tempdir().unwrap();
    let server = Server::start(live.path(), &[], &[], None).await;
    let (_, concerts) = server.api.stage(1).await;
    let fan = server.api.fans("killfan", 1).await.remove(0);
    let first = server.api.book(&fan, concerts[0], 0).await;
    // Posters make the backup long enough to be caught halfway.
    let posters = live.path().join("images");
    std::fs::create_dir_all(&posters).unwrap();
    for i in 0..48 {
        std::fs::write(posters.join(format!("padding-{i}.png")), vec![i as u8; 1 << 20]).unwrap();
    }
    let backups = tempfile::tempdir().unwrap();
    let good = backups.path().join("nightly.sqlite");
    assert_ok(&run(&["backup", "--to", good.to_str().unwrap()], live.path()));
    let good_hash = sha256(&good);
    server.api.book(&fan, concerts[0], 1).await;

    for delay in [0, 30, 150] {
        let mut backup = tickitecking()
            .args(["backup", "--to", good.to_str().unwrap(), "--data-dir"])
            .arg(live.path())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let partial = backups.path().join(format!(".nightly.sqlite.partial-{}", backup.id()));
        let deadline = Instant::now() + Duration::from_secs(30);
        while !partial.exists() {
            assert!(backup.try_wait().unwrap().is_none(), "the backup ended before it could be killed");
            assert!(Instant::now() < deadline, "no partial backup appeared");
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(delay));
        backup.kill().unwrap();
        backup.wait().unwrap();
        assert_eq!(sha256(&good), good_hash, "the last good backup changed (killed after {delay} ms)");
        tickitecking::backup::check(&good).expect("the last good backup is sound");
    }
    // The live database is whole and selling.
    let (active, consistent) = active_reservations(&database(live.path()));
    assert!(consistent && active.contains(&first));
    server.api.book(&fan, concerts[0], 2).await;
    // The next backup succeeds, and holds what was sold since.
    assert_ok(&run(&["backup", "--to", good.to_str().unwrap()], live.path()));
    let restored = tempfile::tempdir().unwrap();
    assert_ok(&run(&["restore", "--from", good.to_str().unwrap()], restored.path()));
    assert_eq!(active_reservations(&database(restored.path())).0.len(), 3);
    assert_eq!(std::fs::read_dir(restored.path().join("images")).unwrap().count(), 48, "posters restored");
}

#[tokio::test]
async fn a_restore_refuses_corrupt_truncated_and_unknown_backups_and_a_running_service_changing_nothing() {
    // A good backup of a service with a booking and a poster.
    let source = tempfile::tempdir().unwrap();
    let server = Server::start(source.path(), &[], &[], None).await;
    let (_, concerts) = server.api.stage(1).await;
    let fan = server.api.fans("restorefan", 1).await.remove(0);
    let booked = server.api.book(&fan, concerts[0], 7).await;
    let (_, ticket) =
        server.api.call(Method::GET, &format!("/api/v1/tickets/{booked}"), Some(&fan), None).await;
    let code = ticket["data"]["code"].clone();
    assert!(code.is_string(), "{ticket}");
    std::fs::write(source.path().join("images").join("poster.png"), b"\x89PNG poster").unwrap();
    let backups = tempfile::tempdir().unwrap();
    let good = backups.path().join("good.sqlite");
    assert_ok(&run(&["backup", "--to", good.to_str().unwrap()], source.path()));
    server.stop();

    // The target: a live data dir of its own, whose service is running.
    let target = tempfile::tempdir().unwrap();
    let running = Server::start(target.path(), &[], &[], None).await;
    running.api.signup("bystander").await;
    let untouched = || {
        let mut names: Vec<String> = std::fs::read_dir(target.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into())
            .collect();
        names.sort();
        names
    };
    let files_before = untouched();
    assert_refused(
        &run(&["restore", "--from", good.to_str().unwrap()], target.path()),
        "in use by a running tickitecking",
    );
    running.api.signup("still-selling").await;
    running.stop();
    let db_hash = sha256(&database(target.path()));

    let bytes = std::fs::read(&good).unwrap();
    let bad = |name: &str, content: &[u8]| {
        let path = backups.path().join(name);
        std::fs::write(&path, content).unwrap();
        path
    };
    // Pages 2 onwards (tables' and indexes' first pages among them) overwritten.
    let mut corrupt = bytes.clone();
    let half = corrupt.len() / 2;
    corrupt[4096..half].fill(0x5a);
    let future = backups.path().join("future.sqlite");
    std::fs::copy(&good, &future).unwrap();
    rusqlite::Connection::open(&future)
        .unwrap()
        .execute_batch(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (9999, 'from the future', 1, X'00', 0)",
        )
        .unwrap();
    let cases = [
        (bad("truncated.sqlite", &bytes[..bytes.len() / 2]), "truncated"),
        (bad("corrupt.sqlite", &corrupt), "damaged"),
        (
            bad("text.sqlite", b"these are not the bytes you are looking for, not at all, no"),
            "not a SQLite database",
        ),
        (bad("empty.sqlite", b""), "not a SQLite database"),
        (future, "migration 9999, which this binary does not know"),
        (backups.path().join("missing.sqlite"), "missing.sqlite"),
    ];
    for (path, says) in &cases {
        let output = run(&["restore", "--from", path.to_str().unwrap()], target.path());
        assert_refused(&output, says);
        assert_eq!(sha256(&database(target.path())), db_hash, "{} changed the database", path.display());
        let mut files_now = untouched();
        files_now.retain(|n| !n.ends_with("-wal") && !n.ends_with("-shm"));
        let mut expected = files_before.clone();
        expected.retain(|n| !n.ends_with("-wal") && !n.ends_with("-shm"));
        assert_eq!(files_now, expected, "{} left files behind", path.display());
    }

    // The good one goes in: the booking, the poster and the keys (tokens and tickets stay valid),
    // with the replaced database kept beside.
    let said = assert_ok(&run(&["restore", "--from", good.to_str().unwrap()], target.path()));
    assert!(said.contains("kept as"), "{said}");
    assert!(untouched().iter().any(|n| n.starts_with("tickitecking.db.before-restore-")));
    let restored = Server::start(target.path(), &[], &[], None).await;
    let (status, mine) =
        restored.api.call(Method::GET, "/api/v1/users/my/reservations", Some(&fan), None).await;
    assert_eq!(status, 200, "the fan's token from before the backup still works: {mine}");
    assert_eq!(mine["data"][0]["id"], booked);
    // The ticket key came back too: the fan's ticket has the code it had, so it opens the door.
    let (_, ticket) =
        restored.api.call(Method::GET, &format!("/api/v1/tickets/{booked}"), Some(&fan), None).await;
    assert_eq!(ticket["data"]["code"], code, "the ticket signing key was restored");
    assert_eq!(std::fs::read(target.path().join("images").join("poster.png")).unwrap(), b"\x89PNG poster");
    let (status, _) = restored
        .api
        .call(
            Method::POST,
            "/api/v1/users/login",
            None,
            Some(&json!({"username": "bystander", "password": PASSWORD})),
        )
        .await;
    assert_eq!(status, 401, "the replaced database's accounts are gone");
}
