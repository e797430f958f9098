//! A backup taken during a 10,000-booking rush.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use tokio::sync::Mutex;

use crate::harness::{Server, active_reservations, assert_ok, database, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_taken_during_a_10000_booking_rush_restores_every_booking_confirmed_before_it_began() {
    const BOOKINGS: usize = 10_000;
    const FANS: usize = 100;
    let live = tempfile::tempdir().unwrap();
    let server = Server::start(live.path(), &[], &[], None).await;
    let api = server.api.clone();
    let (_, concerts) = api.stage(4).await;
    let fans = api.fans("rushfan", FANS).await;

    // Fan f books seats f*26 .. f*26+25 of each concert: 100 fans × 4 concerts × 25 seats.
    let confirmed = Arc::new(Mutex::new(Vec::<i64>::with_capacity(BOOKINGS)));
    let tasks: Vec<_> = fans
        .into_iter()
        .enumerate()
        .map(|(f, token)| {
            let (api, concerts, confirmed) = (api.clone(), concerts.clone(), confirmed.clone());
            tokio::spawn(async move {
                for k in 0..BOOKINGS / FANS {
                    let concert = concerts[k % concerts.len()];
                    let id = api.book(&token, concert, f * 26 + k / concerts.len()).await;
                    confirmed.lock().await.push(id);
                }
            })
        })
        .collect();
    while confirmed.lock().await.len() < BOOKINGS / 4 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Everything confirmed up to here must be in the backup.
    let before: HashSet<i64> = confirmed.lock().await.iter().copied().collect();
    let backups = tempfile::tempdir().unwrap();
    let file = backups.path().join("rush.sqlite");
    let backup = tokio::task::spawn_blocking({
        let (file, live) = (file.clone(), live.path().to_owned());
        move || run(&["backup", "--to", file.to_str().unwrap()], &live)
    })
    .await
    .unwrap();
    let during = confirmed.lock().await.len();
    let said = assert_ok(&backup);
    assert!(said.contains("backup written to"), "{said}");
    for task in tasks {
        task.await.unwrap();
    }
    let all: HashSet<i64> = confirmed.lock().await.iter().copied().collect();
    assert_eq!(all.len(), BOOKINGS);
    eprintln!("backup began after {} confirmations, ended after {during}", before.len());

    // Restored into a data dir of its own: every booking confirmed before the backup
    // began, nothing that was never confirmed, the seats agreeing with them.
    let restored = tempfile::tempdir().unwrap();
    assert_ok(&run(&["restore", "--from", file.to_str().unwrap()], restored.path()));
    let (active, consistent) = active_reservations(&database(restored.path()));
    assert!(consistent, "restored seat statuses disagree with reservations");
    let missing: Vec<_> = before.difference(&active).collect();
    assert!(missing.is_empty(), "{} bookings confirmed before the backup are missing", missing.len());
    assert!(active.is_subset(&all), "the backup holds a booking that was never confirmed");
    // And a service on it serves them.
    let again = Server::start(restored.path(), &[], &[], None).await;
    let admin = again.api.admin().await;
    let (status, list) = again.api.call(Method::GET, "/api/v1/admin/reservations", Some(&admin), None).await;
    assert_eq!(status, 200);
    assert_eq!(list["data"].as_array().unwrap().len(), active.len());
    drop(server);
}
