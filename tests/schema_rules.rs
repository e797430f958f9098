//! The invariants hold in the database itself: raw SQL that bypasses the service, its
//! gate and its checks, is refused by the schema.

use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
use tickitecking::domain::booking::Order;
use tickitecking::domain::user::Role;
use tickitecking::domain::venue::{AuditoriumSpec, ConcertSpec, Letter, Price};
use tickitecking::store::sqlite::SqliteStore;
use tickitecking::store::{BookingRequest, BookingStore, NewUser, Store, UserStore, VenueStore};

fn letter(c: char) -> Letter {
    Letter::parse(&c.to_string()).unwrap()
}

/// A store with a hall of rows A–C × 5, an upcoming concert on rows A–B with seat A-1
/// booked, and a raw connection to the same file.
async fn fixture() -> (tempfile::TempDir, SqlitePool, i64, i64) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let store = SqliteStore::open(&url).await.unwrap();
    let user = |name: &str, role| NewUser {
        username: name.into(),
        password_hash: "x".into(),
        email: format!("{name}@example.com"),
        nickname: None,
        role,
    };
    let owner = store.create_user(&user("owner", Role::CompanyUser)).await.unwrap();
    let fan = store.create_user(&user("fan", Role::User)).await.unwrap();
    let hall = AuditoriumSpec { name: "H".into(), address: "S".into(), max_row: letter('C'), max_column: 5 };
    let hall = store.create_auditorium(owner.id, &hall).await.unwrap();
    let concert = store
        .create_concert(&ConcertSpec {
            name: "C".into(),
            description: String::new(),
            start_time: chrono::Utc::now() + chrono::Duration::days(1),
            auditorium_id: hall.id,
            max_seats_per_fan: 4,
            prices: [(letter('R'), Price::from_cents(100))].into(),
            rows: [(letter('A'), letter('R')), (letter('B'), letter('R'))].into(),
        })
        .await
        .unwrap();
    let order = Order::parse(Some((Some("A"), Some(1))), None).unwrap();
    store
        .book(&BookingRequest { user_id: fan.id, concert_id: concert, order: &order, idempotency: None })
        .await
        .unwrap();
    store.close().await;
    let raw = SqlitePool::connect_with(SqliteConnectOptions::from_str(&url).unwrap()).await.unwrap();
    (dir, raw, hall.id, concert)
}

/// Runs raw SQL and returns the database's refusal message.
async fn refused(pool: &SqlitePool, sql: &str) -> String {
    match sqlx::query(sql).execute(pool).await {
        Ok(done) => panic!("the database accepted {sql:?} ({} rows)", done.rows_affected()),
        Err(e) => e.to_string(),
    }
}

const NOW: &str = "strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')";

#[tokio::test]
async fn a_seat_never_gets_a_second_active_reservation() {
    let (_dir, db, _, concert) = fixture().await;
    let seat =
        format!("(SELECT id FROM seats WHERE concert_id = {concert} AND horizontal = 'A' AND vertical = 1)");
    // Behind the triggers' back: the unique index still refuses.
    sqlx::query("DROP TRIGGER reservations_check_insert").execute(&db).await.unwrap();
    let msg = refused(
        &db,
        &format!(
            "INSERT INTO reservations (user_id, concert_id, seat_id, status, price_cents, created_at)
         VALUES (2, {concert}, {seat}, 'Y', 100, {NOW})"
        ),
    )
    .await;
    assert!(msg.contains("UNIQUE"), "{msg}");
}

#[tokio::test]
async fn seat_status_always_matches_the_reservations() {
    let (_dir, db, _, concert) = fixture().await;
    let booked = format!("concert_id = {concert} AND horizontal = 'A' AND vertical = 1");
    let free = format!("concert_id = {concert} AND horizontal = 'A' AND vertical = 2");
    for sql in [
        format!("UPDATE seats SET status = 'LOCKED' WHERE {booked}"),
        format!("UPDATE seats SET status = 'AVAILABLE' WHERE {booked}"),
        format!("UPDATE seats SET status = 'RESERVED' WHERE {free}"),
    ] {
        assert!(refused(&db, &sql).await.contains("SEAT_STATUS_MISMATCH"), "{sql}");
    }
    let locked = format!("UPDATE seats SET status = 'LOCKED' WHERE {free}");
    sqlx::query(&locked).execute(&db).await.unwrap();
    let msg = refused(
        &db,
        &format!(
            "INSERT INTO reservations (user_id, concert_id, seat_id, status, price_cents, created_at)
         VALUES (2, {concert}, (SELECT id FROM seats WHERE {free}), 'Y', 100, {NOW})"
        ),
    )
    .await;
    assert!(msg.contains("SEAT_LOCKED"), "{msg}");
}

#[tokio::test]
async fn reservations_are_history_and_only_move_from_active_to_cancelled() {
    let (_dir, db, _, _) = fixture().await;
    assert!(refused(&db, "DELETE FROM reservations").await.contains("RESERVATION_IMMUTABLE"));
    sqlx::query(&format!("UPDATE reservations SET status = 'N', cancelled_at = {NOW}"))
        .execute(&db)
        .await
        .unwrap();
    let msg = refused(&db, "UPDATE reservations SET status = 'Y', cancelled_at = NULL").await;
    assert!(msg.contains("RESERVATION_IMMUTABLE"), "{msg}");
    let free: String = sqlx::query_scalar("SELECT status FROM seats WHERE horizontal = 'A' AND vertical = 1")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(free, "AVAILABLE", "cancelling freed the seat in the same statement");
}

#[tokio::test]
async fn the_per_fan_limit_and_the_start_time_hold_in_the_schema() {
    let (_dir, db, _, concert) = fixture().await;
    sqlx::query(&format!("UPDATE concerts SET max_seats_per_fan = 1 WHERE id = {concert}"))
        .execute(&db)
        .await
        .unwrap();
    let insert = |col: i32, at: &str| {
        format!(
        "INSERT INTO reservations (user_id, concert_id, seat_id, status, price_cents, created_at)
         VALUES (2, {concert}, (SELECT id FROM seats WHERE concert_id = {concert} AND horizontal = 'B' AND vertical = {col}), 'Y', 100, {at})"
    )
    };
    assert!(refused(&db, &insert(1, NOW)).await.contains("FAN_LIMIT"));
    assert!(refused(&db, &insert(2, "'2999-01-01T00:00:00+00:00'")).await.contains("CONCERT_STARTED"));
}

#[tokio::test]
async fn venues_and_concerts_in_use_neither_shrink_nor_disappear() {
    let (_dir, db, hall, concert) = fixture().await;
    let shrink = format!("UPDATE auditoriums SET max_row = 'A', updated_at = {NOW} WHERE id = {hall}");
    assert!(refused(&db, &shrink).await.contains("AUDITORIUM_IN_USE"));
    let narrow = format!("UPDATE auditoriums SET max_column = 4, updated_at = {NOW} WHERE id = {hall}");
    assert!(refused(&db, &narrow).await.contains("AUDITORIUM_IN_USE"));
    let gone = format!("UPDATE auditoriums SET deleted_at = {NOW} WHERE id = {hall}");
    assert!(refused(&db, &gone).await.contains("AUDITORIUM_IN_USE"));
    let reserved = format!("UPDATE concerts SET deleted_at = {NOW} WHERE id = {concert}");
    assert!(refused(&db, &reserved).await.contains("CONCERT_HAS_RESERVATIONS"));
    let outside = format!(
        "INSERT INTO seats (concert_id, horizontal, vertical, grade) VALUES ({concert}, 'C', 6, 'R')"
    );
    assert!(refused(&db, &outside).await.contains("SEAT_OUTSIDE_AUDITORIUM"));
    for table in ["users", "auditoriums", "concerts"] {
        assert!(refused(&db, &format!("DELETE FROM {table}")).await.contains("SOFT_DELETE_ONLY"), "{table}");
    }
}

#[tokio::test]
async fn the_audit_log_is_append_only_and_holds_json() {
    let (_dir, db, hall, _) = fixture().await;
    let insert = |state: &str| {
        format!(
            "INSERT INTO audit_log (actor_id, actor_role, action, target_type, target_id, after_state, created_at)
             VALUES (1, 'COMPANY_USER', 'auditorium.update', 'auditorium', {hall}, {state}, {NOW})"
        )
    };
    sqlx::query(&insert("'{\"name\": \"H\"}'")).execute(&db).await.unwrap();
    assert!(refused(&db, &insert("'not json'")).await.contains("CHECK"));
    let changed = refused(&db, "UPDATE audit_log SET action = 'nothing.happened'").await;
    assert!(changed.contains("cannot be changed"), "{changed}");
    let deleted = refused(&db, "DELETE FROM audit_log").await;
    assert!(deleted.contains("cannot be deleted"), "{deleted}");
}
