//! Upgrades: a database made by the first release (its schema and data, kept as plain SQL
//! in `tests/upgrade/`, built by `tests/upgrade/make-fixtures` from the migrations in git
//! history) is opened by today's binary, migrated, and every booking in it is served
//! through the API; booking and cancelling go on working on it. On SQLite and on
//! PostgreSQL. Every future migration must keep this green.

use std::collections::HashMap;

use serde_json::{Value, json};
use sqlx::{Connection, Executor};

use crate::helpers::{PASSWORD, TestApp};

const SQLITE_FIXTURE: &str = include_str!("../upgrade/sqlite-first-release.sql");
const POSTGRES_FIXTURE: &str = include_str!("../upgrade/postgres-first-release.sql");

/// A data dir (and, on PostgreSQL, its database) holding the first release's database.
async fn first_release_data() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    match crate::backend::postgres_url_for(dir.path()).await {
        Some(url) => {
            let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
            conn.execute(sqlx::raw_sql(POSTGRES_FIXTURE)).await.expect("loading the PostgreSQL fixture");
            conn.close().await.unwrap();
        }
        None => {
            let db = rusqlite::Connection::open(dir.path().join("tickitecking.db")).unwrap();
            db.execute_batch(SQLITE_FIXTURE).expect("loading the SQLite fixture");
        }
    }
    dir
}

fn by_seat(reservations: &Value) -> HashMap<String, Value> {
    reservations
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let seat = format!("{}{}", r["seat"]["horizontal"].as_str().unwrap(), r["seat"]["vertical"]);
            (seat, r.clone())
        })
        .collect()
}

#[tokio::test]
async fn a_first_release_database_is_migrated_and_serves_every_booking() {
    let app = TestApp::spawn_in(first_release_data().await, |_| {}).await;

    // Every booking, as its fan sees it.
    let fan1 = app.login("fan1", PASSWORD).await.access;
    let mine = app.get("/api/v1/users/my/reservations", Some(&fan1)).await;
    mine.assert_status(200);
    let mine = by_seat(mine.data());
    assert_eq!(mine.len(), 2, "{mine:?}");
    for seat in ["A1", "A2"] {
        assert_eq!(mine[seat]["status"], "Y");
        assert_eq!(mine[seat]["price"], 500, "price_cents 50000");
        assert_eq!(mine[seat]["seat"]["grade"], "R");
        assert_eq!(mine[seat]["concert"]["name"], "First Light");
        assert_eq!(mine[seat]["auditorium"]["name"], "Old Hall");
        assert!(mine[seat]["cancelledAt"].is_null());
    }
    let fan2 = app.login("fan2", PASSWORD).await.access;
    let theirs = by_seat(app.get("/api/v1/users/my/reservations", Some(&fan2)).await.data());
    assert_eq!((theirs["B5"]["status"].clone(), theirs["B5"]["price"].clone()), (json!("Y"), json!(300)));
    assert_eq!(theirs["B6"]["status"], "N");
    assert!(theirs["B6"]["cancelledAt"].as_str().unwrap().starts_with("2026-11-25T11:00:00"));
    let fan3 = app.login("fan3", PASSWORD).await.access;
    let encore = by_seat(app.get("/api/v1/users/my/reservations", Some(&fan3)).await.data());
    assert_eq!(encore["A1"]["concert"]["name"], "Encore");

    // And as the admin sees them all.
    let admin = app.admin_token().await;
    let all = app.get("/api/v1/admin/reservations", Some(&admin)).await;
    all.assert_status(200);
    let all = all.data().as_array().unwrap();
    assert_eq!(all.len(), 5);
    assert_eq!(all.iter().filter(|r| r["status"] == "Y").count(), 4);

    // The seat maps agree: reserved seats, the cancelled one free again, the locked one.
    let concerts = app.get("/api/v1/concerts", None).await;
    let id_of = |name: &str| {
        concerts.data()["content"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap()["id"]
            .as_i64()
            .unwrap()
    };
    let (first_light, encore_id) = (id_of("First Light"), id_of("Encore"));
    let map = app.get(&format!("/api/v1/concerts/{first_light}/seats"), None).await;
    map.assert_status(200);
    let rows: HashMap<String, String> = map.data()["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["horizontal"].as_str().unwrap().to_owned(), r["statuses"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(rows["A"], "RRAAAAAAAA");
    assert_eq!(rows["B"], "AAAARAAAAA");
    assert_eq!(rows["C"], "AAAAAAAAAL");
    let encore_map = app.get(&format!("/api/v1/concerts/{encore_id}/seats"), None).await;
    assert!(encore_map.data()["rows"][0]["statuses"].as_str().unwrap().starts_with('R'));

    // Selling goes on under today's schema: the fan's limit counts the old bookings, a
    // taken seat stays taken, the cancelled seat can be sold again, cancelling works.
    let book = |seat: &str, vertical: i64| json!({"horizontal": seat, "vertical": vertical});
    let path = format!("/api/v1/concerts/{first_light}/reservations");
    app.post(&path, &book("A", 3), Some(&fan1)).await.assert_status(201);
    app.post(&path, &book("A", 4), Some(&fan1)).await.assert_status(201);
    app.post(&path, &book("A", 5), Some(&fan1)).await.assert_status(409);
    app.post(&path, &book("A", 1), Some(&fan2)).await.assert_error(409, "SEAT_TAKEN");
    app.post(&path, &book("C", 10), Some(&fan2)).await.assert_status(409);
    app.post(&path, &book("B", 6), Some(&fan3)).await.assert_status(201);
    let b5 = theirs["B5"]["id"].as_i64().unwrap();
    app.delete(&format!("{path}/{b5}"), Some(&fan2)).await.assert_status(200);
    app.post(&path, &book("B", 5), Some(&fan3)).await.assert_status(201);

    // The promoter still owns the hall and its concerts.
    let promoter = app.login("promoter", PASSWORD).await.access;
    let halls = app.get("/api/v1/auditoriums", Some(&promoter)).await;
    assert_eq!(halls.data().as_array().unwrap()[0]["name"], "Old Hall");
}
