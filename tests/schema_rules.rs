//! The invariants hold in the database itself: raw SQL that bypasses the service, its
//! gate and its checks, is refused by the schema — on SQLite, and on PostgreSQL when
//! `TICKITECKING_TEST_POSTGRES_URL` is set (each test on a database of its own).

use std::str::FromStr;
use std::sync::Arc;

use sqlx::postgres::PgPool;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
use sqlx::{Connection, Executor, PgConnection, SqliteConnection};
use tickitecking::domain::booking::Order;
use tickitecking::domain::sections::{Layout, RowLabel, SectionName};
use tickitecking::domain::user::Role;
use tickitecking::domain::venue::{AuditoriumSpec, ConcertSpec, Letter, Price};
use tickitecking::store::DatabaseUrl;
use tickitecking::store::{BookingRequest, NewUser, Store};

#[path = "backend/mod.rs"]
mod backend;

fn letter(c: char) -> Letter {
    Letter::parse(&c.to_string()).unwrap()
}

/// A row of the seed's section.
fn row(c: char) -> (SectionName, RowLabel) {
    (SectionName::SEED, RowLabel::from(letter(c)))
}

/// Raw access to the store's database, past the service.
enum Raw {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// One raw connection, for statements inside an explicit transaction.
enum RawConnection {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

impl Raw {
    async fn open(url: &DatabaseUrl) -> Self {
        match url {
            DatabaseUrl::Sqlite(url) => Raw::Sqlite(
                SqlitePool::connect_with(SqliteConnectOptions::from_str(url).unwrap()).await.unwrap(),
            ),
            DatabaseUrl::Postgres { url, .. } => Raw::Postgres(PgPool::connect(url).await.unwrap()),
        }
    }

    /// Runs one statement: rows affected, or the database's refusal message.
    async fn run(&self, sql: &str) -> Result<u64, String> {
        let done = match self {
            Raw::Sqlite(pool) => pool.execute(sql).await.map(|d| d.rows_affected()),
            Raw::Postgres(pool) => pool.execute(sql).await.map(|d| d.rows_affected()),
        };
        done.map_err(|e| e.to_string())
    }

    async fn text(&self, sql: &str) -> String {
        match self {
            Raw::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
            Raw::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
        }
    }

    async fn connection(&self) -> RawConnection {
        match self {
            Raw::Sqlite(pool) => RawConnection::Sqlite(pool.acquire().await.unwrap().detach()),
            Raw::Postgres(pool) => RawConnection::Postgres(pool.acquire().await.unwrap().detach()),
        }
    }

    /// The current time as an SQL expression of the column type times are stored in.
    fn now(&self) -> &'static str {
        match self {
            Raw::Sqlite(_) => "strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')",
            Raw::Postgres(_) => "now()",
        }
    }

    /// Drops the trigger that checks a new reservation, leaving the unique index alone.
    fn drop_insert_checks(&self) -> &'static str {
        match self {
            Raw::Sqlite(_) => "DROP TRIGGER reservations_check_insert",
            Raw::Postgres(_) => "DROP TRIGGER reservations_book_inserted ON reservations",
        }
    }
}

impl RawConnection {
    async fn run(&mut self, sql: &str) -> Result<u64, String> {
        let done = match self {
            RawConnection::Sqlite(conn) => conn.execute(sql).await.map(|d| d.rows_affected()),
            RawConnection::Postgres(conn) => conn.execute(sql).await.map(|d| d.rows_affected()),
        };
        done.map_err(|e| e.to_string())
    }

    async fn close(self) {
        match self {
            RawConnection::Sqlite(conn) => conn.close().await.unwrap(),
            RawConnection::Postgres(conn) => conn.close().await.unwrap(),
        }
    }
}

/// A store with a hall of rows A–C × 5, an upcoming concert on rows A–B with seat A-1
/// booked by the fan (user 2), and raw access to the same database.
async fn fixture() -> (tempfile::TempDir, Raw, i64, i64) {
    let dir = tempfile::tempdir().unwrap();
    let url = backend::database_url_for(dir.path()).await;
    let store = tickitecking::store::open(&url).await.unwrap();
    let user = |name: &str, role| NewUser {
        username: name.into(),
        password_hash: "x".into(),
        email: format!("{name}@example.com"),
        nickname: None,
        role,
    };
    let owner = store.create_user(&user("owner", Role::CompanyUser)).await.unwrap();
    let fan = store.create_user(&user("fan", Role::User)).await.unwrap();
    assert_eq!(fan.id, 2, "the raw SQL below books as user 2");
    let hall = AuditoriumSpec {
        name: "H".into(),
        address: "S".into(),
        layout: Layout::seed(letter('C'), 5),
        seed: Some((letter('C'), 5)),
    };
    let hall = store.create_auditorium(owner.id, &hall).await.unwrap();
    let concert = store.create_concert(&upcoming(hall.id)).await.unwrap();
    book_a1(&store, concert).await;
    store.close().await;
    (dir, Raw::open(&url).await, hall.id, concert)
}

/// An upcoming `DIRECT` concert in `hall` selling rows A–B at grade R, four seats a fan.
fn upcoming(hall: i64) -> ConcertSpec {
    ConcertSpec {
        name: "C".into(),
        description: String::new(),
        start_time: chrono::Utc::now() + chrono::Duration::days(1),
        auditorium_id: hall,
        max_seats_per_fan: 4,
        sales_open_at: None,
        sales_close_at: None,
        checkout: tickitecking::domain::venue::Checkout::Direct,
        hold_minutes: 10,
        currency: None,
        waiting_room: None,
        prices: [(letter('R'), Price::from_cents(100))].into(),
        rows: [(row('A'), letter('R')), (row('B'), letter('R'))].into(),
    }
}

/// The fan (user 2) books seat A-1 of `concert` through the store.
async fn book_a1(store: &Arc<dyn Store>, concert: i64) {
    let order = Order::parse(Some((None, Some("A"), Some(1))), None, None).unwrap();
    store
        .book(&BookingRequest {
            user_id: 2,
            concert_id: concert,
            order: &order,
            idempotency: None,
            access_code: None,
        })
        .await
        .unwrap();
}

/// Runs raw SQL and returns the database's refusal message.
async fn refused(db: &Raw, sql: &str) -> String {
    match db.run(sql).await {
        Ok(rows) => panic!("the database accepted {sql:?} ({rows} rows)"),
        Err(message) => message,
    }
}

/// Whether a refusal is of a seat taken already: SQLite's insert trigger names it before
/// the row is written; on PostgreSQL, whose booking checks run after the statement's rows
/// are in, the partial unique index refuses it first (the store answers both the same).
fn seat_taken(message: &str) -> bool {
    message.contains("SEAT_TAKEN") || message.contains("reservations_one_active_per_seat")
}

/// A fan's reservation of seat `row`-`col` made at `at`, as raw SQL.
fn reserve(concert: i64, row: char, col: u8, at: &str) -> String {
    format!(
        "INSERT INTO reservations (user_id, concert_id, seat_id, status, price_cents, created_at)
         VALUES (2, {concert}, (SELECT id FROM seats WHERE concert_id = {concert} AND horizontal = '{row}'
                                AND vertical = {col}), 'Y', 100, {at})"
    )
}

#[tokio::test]
async fn a_seat_never_gets_a_second_active_reservation() {
    let (_dir, db, _, concert) = fixture().await;
    // Behind the triggers' back: the unique index still refuses.
    db.run(db.drop_insert_checks()).await.unwrap();
    let msg = refused(&db, &reserve(concert, 'A', 1, db.now())).await;
    assert!(msg.to_lowercase().contains("unique"), "{msg}");
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
    db.run(&format!("UPDATE seats SET status = 'LOCKED' WHERE {free}")).await.unwrap();
    let msg = refused(&db, &reserve(concert, 'A', 2, db.now())).await;
    assert!(msg.contains("SEAT_LOCKED"), "{msg}");
}

#[tokio::test]
async fn a_seat_is_available_reserved_or_locked_and_nothing_else() {
    let (_dir, db, _, concert) = fixture().await;
    let free = format!("concert_id = {concert} AND horizontal = 'A' AND vertical = 2");
    for status in ["SOLD", "available", ""] {
        let msg = refused(&db, &format!("UPDATE seats SET status = '{status}' WHERE {free}")).await;
        assert!(msg.to_lowercase().contains("check"), "{status:?}: {msg}");
    }
    assert_eq!(db.text(&format!("SELECT status FROM seats WHERE {free}")).await, "AVAILABLE");
    if let Raw::Sqlite(_) = db {
        // Migration 0008 rewrote the check with comparisons (no temporary index per update).
        let definition =
            db.text("SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'seats'").await;
        assert!(definition.contains("status = 'AVAILABLE' OR status = 'RESERVED' OR status = 'LOCKED'"));
        assert!(!definition.contains("status IN"), "{definition}");
    }
}

#[tokio::test]
async fn reservations_are_history_and_only_move_from_active_to_cancelled() {
    let (_dir, db, _, _) = fixture().await;
    assert!(refused(&db, "DELETE FROM reservations").await.contains("RESERVATION_IMMUTABLE"));
    db.run(&format!("UPDATE reservations SET status = 'N', cancelled_at = {}", db.now())).await.unwrap();
    let msg = refused(&db, "UPDATE reservations SET status = 'Y', cancelled_at = NULL").await;
    assert!(msg.contains("RESERVATION_IMMUTABLE"), "{msg}");
    let free = db.text("SELECT status FROM seats WHERE horizontal = 'A' AND vertical = 1").await;
    assert_eq!(free, "AVAILABLE", "cancelling freed the seat in the same statement");
}

#[tokio::test]
async fn the_insert_check_names_what_it_refuses_and_lets_a_good_booking_in() {
    let (_dir, db, _, concert) = fixture().await;
    let msg = refused(&db, &reserve(concert, 'A', 1, db.now())).await;
    assert!(seat_taken(&msg), "{msg}");
    let elsewhere = format!(
        "INSERT INTO reservations (user_id, concert_id, seat_id, status, price_cents, created_at)
         VALUES (2, {}, (SELECT id FROM seats WHERE concert_id = {concert} AND horizontal = 'A'
                         AND vertical = 2), 'Y', 100, {})",
        concert + 1000,
        db.now()
    );
    let msg = refused(&db, &elsewhere).await;
    // On PostgreSQL the concert's foreign key is checked before the statement's booking
    // checks, and refuses first.
    assert!(msg.contains("SEAT_MISMATCH") || msg.contains("reservations_concert_id_fkey"), "{msg}");
    // Everything in order: the check's one condition passes and the seat is taken.
    db.run(&reserve(concert, 'A', 2, db.now())).await.unwrap();
    let taken = db
        .text(&format!(
            "SELECT status FROM seats WHERE concert_id = {concert} AND horizontal = 'A' AND vertical = 2"
        ))
        .await;
    assert_eq!(taken, "RESERVED");
}

/// One INSERT of several reservations (as PostgreSQL's group commit writes a batch) takes
/// every seat and moves the map version by one per seat; a refused one breaks no rule, and
/// on PostgreSQL (whose triggers check a statement as a whole) leaves nothing behind.
/// (SQLite's triggers refuse a row with FAIL, which keeps the rows before it: every
/// statement of the service writes one row there — see migration 0006.)
#[tokio::test]
async fn a_many_row_insert_takes_every_seat_and_a_refused_one_breaks_no_rule() {
    let (_dir, db, _, concert) = fixture().await;
    let version_sql = format!("SELECT CAST(seat_version AS TEXT) FROM concerts WHERE id = {concert}");
    let version = || async { db.text(&version_sql).await.parse::<i64>().unwrap() };
    let seats = |which: &str| {
        format!(
            "INSERT INTO reservations (user_id, concert_id, seat_id, status, price_cents, created_at)
             SELECT 2, {concert}, id, 'Y', 100, {} FROM seats WHERE concert_id = {concert} AND ({which})",
            db.now()
        )
    };
    let held_sql = "SELECT CAST(count(*) AS TEXT) FROM reservations WHERE user_id = 2 AND status = 'Y'";
    let reserved_sql = format!(
        "SELECT CAST(count(*) AS TEXT) FROM seats WHERE concert_id = {concert} AND status = 'RESERVED'"
    );
    let before = version().await;
    assert_eq!(db.run(&seats("horizontal = 'B' AND vertical IN (2, 3)")).await.unwrap(), 2);
    assert_eq!(db.text(held_sql).await, "3", "A-1, B-2 and B-3");
    assert_eq!(db.text(&reserved_sql).await, "3");
    assert_eq!(version().await, before + 2);

    let with_taken = seats("horizontal = 'B' AND vertical = 4 OR horizontal = 'A' AND vertical = 1");
    let msg = refused(&db, &with_taken).await;
    assert!(seat_taken(&msg), "{msg}");
    let over_limit = seats("horizontal = 'B' AND vertical IN (1, 4, 5)");
    assert!(refused(&db, &over_limit).await.contains("FAN_LIMIT"), "the fan may hold 4");
    let held: i64 = db.text(held_sql).await.parse().unwrap();
    assert!(held <= 4, "the per-fan limit holds: {held}");
    assert_eq!(db.text(&reserved_sql).await, held.to_string(), "reserved exactly when actively reserved");
    if let Raw::Postgres(_) = db {
        assert_eq!(held, 3, "nothing of a refused statement stays");
        assert_eq!(version().await, before + 2);
    }
}

#[tokio::test]
async fn a_reservation_of_no_such_fan_never_commits() {
    let (_dir, db, _, concert) = fixture().await;
    let seat = format!("concert_id = {concert} AND horizontal = 'B' AND vertical = 5");
    let ghost = reserve(concert, 'B', 5, db.now()).replace("VALUES (2,", "VALUES (999,");
    let mut conn = db.connection().await;
    conn.run("BEGIN").await.unwrap();
    // PostgreSQL checks the foreign key at the statement; SQLite at the commit (deferred,
    // so that a booking's INSERT needs no statement journal). Either way, never committed.
    let msg = match conn.run(&ghost).await {
        Err(msg) => msg,
        Ok(_) => conn.run("COMMIT").await.expect_err("committed a reservation of no such fan"),
    };
    assert!(msg.to_lowercase().contains("foreign key"), "{msg}");
    conn.close().await;
    let held = db.text("SELECT CAST(count(*) AS TEXT) FROM reservations WHERE user_id = 999").await;
    assert_eq!(held, "0");
    assert_eq!(db.text(&format!("SELECT status FROM seats WHERE {seat}")).await, "AVAILABLE");
}

#[tokio::test]
async fn the_per_fan_limit_and_the_start_time_hold_in_the_schema() {
    let (_dir, db, _, concert) = fixture().await;
    db.run(&format!("UPDATE concerts SET max_seats_per_fan = 1 WHERE id = {concert}")).await.unwrap();
    assert!(refused(&db, &reserve(concert, 'B', 1, db.now())).await.contains("FAN_LIMIT"));
    let late = reserve(concert, 'B', 2, "'2999-01-01T00:00:00+00:00'");
    assert!(refused(&db, &late).await.contains("CONCERT_STARTED"));
}

#[tokio::test]
async fn venues_and_concerts_in_use_neither_shrink_nor_disappear() {
    let (_dir, db, hall, concert) = fixture().await;
    let now = db.now();
    let shrink = format!("UPDATE auditoriums SET max_row = 'A', updated_at = {now} WHERE id = {hall}");
    assert!(refused(&db, &shrink).await.contains("AUDITORIUM_IN_USE"));
    let narrow = format!("UPDATE auditoriums SET max_column = 4, updated_at = {now} WHERE id = {hall}");
    assert!(refused(&db, &narrow).await.contains("AUDITORIUM_IN_USE"));
    let gone = format!("UPDATE auditoriums SET deleted_at = {now} WHERE id = {hall}");
    assert!(refused(&db, &gone).await.contains("AUDITORIUM_IN_USE"));
    let reserved = format!("UPDATE concerts SET deleted_at = {now} WHERE id = {concert}");
    assert!(refused(&db, &reserved).await.contains("CONCERT_HAS_RESERVATIONS"));
    let outside = format!(
        "INSERT INTO seats (concert_id, horizontal, vertical, grade) VALUES ({concert}, 'C', 6, 'R')"
    );
    assert!(refused(&db, &outside).await.contains("SEAT_OUTSIDE_AUDITORIUM"));
    // The venue's rows: none on sale is dropped or shortened, in any section.
    let touch = format!("UPDATE auditoriums SET updated_at = {now} WHERE id = {hall}");
    db.run(&touch).await.unwrap();
    let dropped = format!("DELETE FROM auditorium_rows WHERE auditorium_id = {hall} AND label = 'B'");
    assert!(refused(&db, &dropped).await.contains("AUDITORIUM_IN_USE"));
    let shortened =
        format!("UPDATE auditorium_rows SET seats = 4 WHERE auditorium_id = {hall} AND label = 'A'");
    assert!(refused(&db, &shortened).await.contains("AUDITORIUM_IN_USE"));
    let other_section = format!(
        "INSERT INTO seats (concert_id, section, horizontal, vertical, grade) VALUES ({concert}, 'Floor', '', 1, 'R')"
    );
    assert!(refused(&db, &other_section).await.contains("SEAT_OUTSIDE_AUDITORIUM"));
    let unsold = format!("DELETE FROM auditorium_rows WHERE auditorium_id = {hall} AND label = 'C'");
    assert_eq!(db.run(&unsold).await, Ok(1), "a row no concert sells may go");
    for table in ["users", "auditoriums", "concerts"] {
        assert!(refused(&db, &format!("DELETE FROM {table}")).await.contains("SOFT_DELETE_ONLY"), "{table}");
        if let Raw::Postgres(_) = db {
            // PostgreSQL's TRUNCATE skips row triggers; statement triggers refuse it.
            let msg = refused(&db, &format!("TRUNCATE {table} CASCADE")).await;
            assert!(
                msg.contains("SOFT_DELETE_ONLY") || msg.contains("RESERVATION_IMMUTABLE"),
                "{table}: {msg}"
            );
        }
    }
}

#[tokio::test]
async fn the_audit_log_is_append_only_and_holds_json() {
    let (_dir, db, hall, _) = fixture().await;
    let insert = |state: &str| {
        format!(
            "INSERT INTO audit_log (actor_id, actor_role, action, target_type, target_id, after_state, created_at)
             VALUES (1, 'COMPANY_USER', 'auditorium.update', 'auditorium', {hall}, {state}, {})",
            db.now()
        )
    };
    db.run(&insert("'{\"name\": \"H\"}'")).await.unwrap();
    let not_json = db.run(&insert("'not json'")).await.expect_err("not JSON");
    assert!(not_json.contains("CHECK") || not_json.contains("json"), "{not_json}");
    let changed = db.run("UPDATE audit_log SET action = 'nothing.happened'").await.expect_err("changed");
    assert!(changed.contains("cannot be changed"), "{changed}");
    let deleted = db.run("DELETE FROM audit_log").await.expect_err("deleted");
    assert!(deleted.contains("cannot be deleted"), "{deleted}");
}

#[tokio::test]
async fn the_per_fan_limit_holds_for_concurrent_raw_inserts() {
    let (_dir, db, _, concert) = fixture().await;
    // The fan holds A-1; one more seat is allowed. Two writers try one each, the second
    // while the first is still uncommitted: it must wait and then count the first's.
    db.run(&format!("UPDATE concerts SET max_seats_per_fan = 2 WHERE id = {concert}")).await.unwrap();
    let first = reserve(concert, 'B', 1, db.now());
    let msg = race(&db, &first, reserve(concert, 'B', 2, db.now())).await.expect_err("passed the limit");
    assert!(msg.contains("FAN_LIMIT"), "{msg}");
    let held =
        db.text("SELECT CAST(count(*) AS TEXT) FROM reservations WHERE user_id = 2 AND status = 'Y'").await;
    assert_eq!(held, "2");
}

/// Runs `racing` on its own connection while `first` holds an open transaction that ran
/// `held`; commits `first`, then returns what became of `racing`.
async fn race(db: &Raw, held: &str, racing: String) -> Result<u64, String> {
    let mut first = db.connection().await;
    first.run("BEGIN").await.unwrap();
    first.run(held).await.unwrap();
    let mut second = db.connection().await;
    let task = tokio::spawn(async move {
        let outcome = second.run(&racing).await;
        second.close().await;
        outcome
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!task.is_finished(), "the second writer waits for the first");
    first.run("COMMIT").await.unwrap();
    first.close().await;
    task.await.unwrap()
}

#[tokio::test]
async fn a_seat_locked_while_a_booking_is_in_flight_is_not_booked() {
    let (_dir, db, _, concert) = fixture().await;
    let seat = format!("concert_id = {concert} AND horizontal = 'B' AND vertical = 3");
    let lock = format!("UPDATE seats SET status = 'LOCKED' WHERE {seat}");
    let msg = race(&db, &lock, reserve(concert, 'B', 3, db.now())).await.expect_err("booked a locked seat");
    assert!(msg.contains("SEAT_LOCKED"), "{msg}");
    assert_eq!(db.text(&format!("SELECT status FROM seats WHERE {seat}")).await, "LOCKED");
}

#[tokio::test]
async fn a_seat_booked_while_a_lock_is_in_flight_is_not_locked() {
    let (_dir, db, _, concert) = fixture().await;
    let seat = format!("concert_id = {concert} AND horizontal = 'B' AND vertical = 4");
    let lock = format!("UPDATE seats SET status = 'LOCKED' WHERE {seat}");
    let msg = race(&db, &reserve(concert, 'B', 4, db.now()), lock).await.expect_err("locked a reserved seat");
    assert!(msg.contains("SEAT_STATUS_MISMATCH"), "{msg}");
    assert_eq!(db.text(&format!("SELECT status FROM seats WHERE {seat}")).await, "RESERVED");
}

#[tokio::test]
async fn a_booking_outside_the_sales_window_is_refused_by_the_database() {
    let (_dir, db, _, concert) = fixture().await;
    let window = |open: &str, close: &str| {
        format!("UPDATE concerts SET sales_open_at = {open}, sales_close_at = {close} WHERE id = {concert}")
    };
    // The window lies before the start and opens before it closes.
    let after_start = window("NULL", "'2100-01-01T00:00:00+00:00'");
    assert!(refused(&db, &after_start).await.contains("sales_close"), "a close after the start");
    let start = format!("UPDATE concerts SET start_time = '2099-06-01T00:00:00+00:00' WHERE id = {concert}");
    db.run(&start).await.unwrap();
    let backwards = window("'2098-02-01T00:00:00+00:00'", "'2098-01-01T00:00:00+00:00'");
    assert!(refused(&db, &backwards).await.contains("sales_open"), "an opening after the close");
    db.run(&window("'2098-01-01T00:00:00+00:00'", "NULL")).await.unwrap();
    let msg = refused(&db, &reserve(concert, 'A', 2, db.now())).await;
    assert!(msg.contains("SALES_NOT_OPEN"), "{msg}");
    db.run(&window("NULL", "'2000-01-01T00:00:00+00:00'")).await.unwrap();
    let msg = refused(&db, &reserve(concert, 'A', 2, db.now())).await;
    assert!(msg.contains("SALES_CLOSED"), "{msg}");
    db.run(&window("'2000-01-01T00:00:00+00:00'", "NULL")).await.unwrap();
    db.run(&reserve(concert, 'A', 2, db.now())).await.unwrap();
}

#[tokio::test]
async fn a_held_seat_is_as_taken_as_a_sold_one_for_every_rule_of_the_schema() {
    let (_dir, db, _, concert) = fixture().await;
    let seat_a2 = format!("concert_id = {concert} AND horizontal = 'A' AND vertical = 2");
    let hold = |row: char, col: u8, expires: &str| {
        reserve(concert, row, col, db.now())
            .replace("price_cents, created_at)", "price_cents, created_at, expires_at)")
            .replace("'Y', 100,", "'H', 100,")
            .replace(&format!("{})", db.now()), &format!("{}, {expires})", db.now()))
    };
    // A hold needs its end.
    let msg = refused(&db, &hold('A', 2, "NULL")).await;
    assert!(msg.to_lowercase().contains("check"), "{msg}");
    db.run(&hold('A', 2, "'2999-01-01T00:00:00+00:00'")).await.unwrap();
    assert_eq!(db.text(&format!("SELECT status FROM seats WHERE {seat_a2}")).await, "HELD");
    // Neither a sale nor another hold takes it; the seat cannot be freed or sold behind it.
    assert!(seat_taken(&refused(&db, &reserve(concert, 'A', 2, db.now())).await));
    assert!(seat_taken(&refused(&db, &hold('A', 2, "'2999-01-01T00:00:00+00:00'")).await));
    for status in ["AVAILABLE", "RESERVED", "LOCKED"] {
        let msg = refused(&db, &format!("UPDATE seats SET status = '{status}' WHERE {seat_a2}")).await;
        assert!(msg.contains("SEAT_STATUS_MISMATCH"), "{status}: {msg}");
    }
    // The fan's limit counts it: one sold and one held of a limit of two.
    db.run(&format!("UPDATE concerts SET max_seats_per_fan = 2 WHERE id = {concert}")).await.unwrap();
    assert!(refused(&db, &reserve(concert, 'B', 1, db.now())).await.contains("FAN_LIMIT"));
    // Expired, the seat is free; an expired hold never comes back.
    let held = format!("seat_id = (SELECT id FROM seats WHERE {seat_a2}) AND status = 'H'");
    db.run(&format!("UPDATE reservations SET status = 'E', cancelled_at = {} WHERE {held}", db.now()))
        .await
        .unwrap();
    assert_eq!(db.text(&format!("SELECT status FROM seats WHERE {seat_a2}")).await, "AVAILABLE");
    let back = "UPDATE reservations SET status = 'H', cancelled_at = NULL WHERE status = 'E'";
    assert!(refused(&db, back).await.contains("RESERVATION_IMMUTABLE"));
    // Paid: a hold becomes a sale and the seat reserved.
    db.run(&hold('B', 3, "'2999-01-01T00:00:00+00:00'")).await.unwrap();
    db.run("UPDATE reservations SET status = 'Y' WHERE status = 'H'").await.unwrap();
    let seat_b3 = format!("concert_id = {concert} AND horizontal = 'B' AND vertical = 3");
    assert_eq!(db.text(&format!("SELECT status FROM seats WHERE {seat_b3}")).await, "RESERVED");
}

/// [`fixture`] and a second concert in the same hall, where the fan holds A-1 too: `(dir,
/// raw access, first concert, second concert)`. A ticket is a confirmed reservation.
async fn door_fixture() -> (tempfile::TempDir, Raw, i64, i64) {
    let (dir, db, hall, concert) = fixture().await;
    let store = tickitecking::store::open(&backend::database_url_for(dir.path()).await).await.unwrap();
    let other = store.create_concert(&upcoming(hall)).await.unwrap();
    book_a1(&store, other).await;
    store.close().await;
    (dir, db, concert, other)
}

/// The id of the latest reservation of seat `row`-`col` in `concert`.
async fn reservation(db: &Raw, concert: i64, row: char, col: u8) -> i64 {
    db.text(&format!(
        "SELECT CAST(max(id) AS TEXT) FROM reservations WHERE concert_id = {concert}
           AND seat_id = (SELECT id FROM seats WHERE concert_id = {concert} AND horizontal = '{row}'
                                                  AND vertical = {col})"
    ))
    .await
    .parse()
    .unwrap()
}

/// The fan's hold of seat `row`-`col` (booked, not paid yet), as raw SQL.
fn hold(concert: i64, row: char, col: u8, at: &str) -> String {
    format!(
        "INSERT INTO reservations (user_id, concert_id, seat_id, status, price_cents, created_at, expires_at)
         VALUES (2, {concert}, (SELECT id FROM seats WHERE concert_id = {concert} AND horizontal = '{row}'
                                AND vertical = {col}), 'H', 100, {at}, '2999-01-01T00:00:00+00:00')"
    )
}

/// A scan at `concert`'s door of `ticket`'s code of `version`, answered `result`, as raw SQL.
fn scan(db: &Raw, concert: i64, ticket: i64, version: i64, result: &str) -> String {
    format!(
        "INSERT INTO checkins (concert_id, ticket_id, version, result, scanned_at, received_at)
         VALUES ({concert}, {ticket}, {version}, '{result}', {now}, {now})",
        now = db.now()
    )
}

/// `ticket` of `concert` handed to user `holder` as its `version`, as raw SQL.
fn hand_over(db: &Raw, concert: i64, ticket: i64, holder: i64, version: i64) -> String {
    format!(
        "INSERT INTO ticket_holders (reservation_id, concert_id, holder_id, version, changed_at)
         VALUES ({ticket}, {concert}, {holder}, {version}, {})",
        db.now()
    )
}

/// Cancels reservation `id`, as raw SQL.
fn cancel(db: &Raw, id: i64) -> String {
    format!("UPDATE reservations SET status = 'N', cancelled_at = {} WHERE id = {id}", db.now())
}

#[tokio::test]
async fn a_ticket_is_admitted_once_whatever_else_the_door_keeps_of_it() {
    let (_dir, db, concert, _) = door_fixture().await;
    let ticket = reservation(&db, concert, 'A', 1).await;
    assert_eq!(db.run(&scan(&db, concert, ticket, 1, "ADMITTED")).await, Ok(1));
    let msg = refused(&db, &scan(&db, concert, ticket, 1, "ADMITTED")).await;
    assert!(msg.to_lowercase().contains("unique"), "{msg}");
    // Refusals and offline conflicts of the same ticket are kept beside its admission.
    for result in ["ALREADY_CHECKED_IN", "CONFLICT", "ALREADY_CHECKED_IN"] {
        assert_eq!(db.run(&scan(&db, concert, ticket, 1, result)).await, Ok(1), "{result}");
    }
    let msg = refused(&db, &scan(&db, concert, ticket, 1, "LET_IN")).await;
    assert!(msg.to_lowercase().contains("check"), "{msg}");
    // Behind the admission check's back: the partial unique index still refuses.
    let drop_check = match db {
        Raw::Sqlite(_) => "DROP TRIGGER checkins_check_admission",
        Raw::Postgres(_) => "DROP TRIGGER checkins_check_admission ON checkins",
    };
    db.run(drop_check).await.unwrap();
    let msg = refused(&db, &scan(&db, concert, ticket, 1, "ADMITTED")).await;
    assert!(msg.to_lowercase().contains("unique"), "{msg}");
    let kept = format!("SELECT CAST(count(*) AS TEXT) FROM checkins WHERE ticket_id = {ticket}");
    assert_eq!(db.text(&kept).await, "4");
    let admitted = format!("{kept} AND result = 'ADMITTED'");
    assert_eq!(db.text(&admitted).await, "1");
}

#[tokio::test]
async fn only_a_confirmed_ticket_of_the_concert_in_its_current_version_is_admitted() {
    let (_dir, db, concert, other) = door_fixture().await;
    let ticket = reservation(&db, concert, 'A', 1).await;
    db.run(&reserve(concert, 'B', 1, db.now())).await.unwrap();
    let cancelled = reservation(&db, concert, 'B', 1).await;
    db.run(&cancel(&db, cancelled)).await.unwrap();
    db.run(&hold(concert, 'B', 2, db.now())).await.unwrap();
    let held = reservation(&db, concert, 'B', 2).await;
    for (what, at, id, version) in [
        ("a cancelled ticket", concert, cancelled, 1),
        ("a held seat", concert, held, 1),
        ("another concert's ticket", other, ticket, 1),
        ("a version the ticket never had", concert, ticket, 2),
        ("version 0", concert, ticket, 0),
    ] {
        let msg = refused(&db, &scan(&db, at, id, version, "ADMITTED")).await;
        assert!(msg.contains("TICKET_REVOKED"), "{what}: {msg}");
    }
    // Refusing them is history like any other scan.
    assert_eq!(db.run(&scan(&db, concert, cancelled, 1, "TICKET_REVOKED")).await, Ok(1));
    // Handed to the promoter (user 1) as version 2: its first code no longer admits, its
    // second does.
    db.run(&hand_over(&db, concert, ticket, 1, 2)).await.unwrap();
    let msg = refused(&db, &scan(&db, concert, ticket, 1, "ADMITTED")).await;
    assert!(msg.contains("TICKET_REVOKED"), "{msg}");
    assert_eq!(db.run(&scan(&db, concert, ticket, 2, "ADMITTED")).await, Ok(1));
    // The second concert's own ticket goes in at its own door.
    let theirs = reservation(&db, other, 'A', 1).await;
    assert_eq!(db.run(&scan(&db, other, theirs, 1, "ADMITTED")).await, Ok(1));
    let admitted = "SELECT CAST(count(*) AS TEXT) FROM checkins WHERE result = 'ADMITTED'";
    assert_eq!(db.text(admitted).await, "2");
}

#[tokio::test]
async fn the_doors_scans_are_never_changed_or_deleted() {
    let (_dir, db, concert, _) = door_fixture().await;
    let ticket = reservation(&db, concert, 'A', 1).await;
    db.run(&scan(&db, concert, ticket, 1, "ADMITTED")).await.unwrap();
    db.run(&scan(&db, concert, ticket, 1, "ALREADY_CHECKED_IN")).await.unwrap();
    for sql in [
        "UPDATE checkins SET result = 'CONFLICT' WHERE result = 'ALREADY_CHECKED_IN'".to_owned(),
        "UPDATE checkins SET device_id = 'gate-9'".to_owned(),
        format!("UPDATE checkins SET scanned_at = {}", db.now()),
        "DELETE FROM checkins WHERE result = 'ALREADY_CHECKED_IN'".to_owned(),
        "DELETE FROM checkins".to_owned(),
    ] {
        assert!(refused(&db, &sql).await.contains("CHECKIN_HISTORY_IMMUTABLE"), "{sql}");
    }
    let kept = "SELECT CAST(count(*) AS TEXT) FROM checkins WHERE device_id IS NULL";
    assert_eq!(db.text(kept).await, "2");
}

#[tokio::test]
async fn a_ticket_changes_hands_only_while_confirmed_one_version_at_a_time() {
    let (_dir, db, concert, other) = door_fixture().await;
    let ticket = reservation(&db, concert, 'A', 1).await;
    db.run(&reserve(concert, 'B', 1, db.now())).await.unwrap();
    let cancelled = reservation(&db, concert, 'B', 1).await;
    db.run(&cancel(&db, cancelled)).await.unwrap();
    db.run(&hold(concert, 'B', 2, db.now())).await.unwrap();
    let held = reservation(&db, concert, 'B', 2).await;
    for (what, sql) in [
        ("to the fan who booked it", hand_over(&db, concert, ticket, 2, 2)),
        ("a first move to version 3", hand_over(&db, concert, ticket, 1, 3)),
        ("under another concert", hand_over(&db, other, ticket, 1, 2)),
        ("a cancelled ticket", hand_over(&db, concert, cancelled, 1, 2)),
        ("a held seat", hand_over(&db, concert, held, 1, 2)),
        (
            "once the concert started",
            hand_over(&db, concert, ticket, 1, 2).replace(db.now(), "'2999-01-01T00:00:00+00:00'"),
        ),
    ] {
        assert!(refused(&db, &sql).await.contains("TICKET_NOT_TRANSFERABLE"), "{what}: {sql}");
    }
    // To the promoter (user 1) as version 2: the one first move there is.
    assert_eq!(db.run(&hand_over(&db, concert, ticket, 1, 2)).await, Ok(1));
    let moved = |set: &str| format!("UPDATE ticket_holders SET {set} WHERE reservation_id = {ticket}");
    for (what, set) in [
        ("a jump of two versions", "holder_id = 2, version = 4".to_owned()),
        ("a move without a new version", "holder_id = 2".to_owned()),
        ("a new version to the same holder", "version = 3".to_owned()),
        ("to another concert", format!("holder_id = 2, version = 3, concert_id = {other}")),
        (
            "once the concert started",
            "holder_id = 2, version = 3, changed_at = '2999-01-01T00:00:00+00:00'".to_owned(),
        ),
    ] {
        let msg = refused(&db, &moved(&set)).await;
        assert!(msg.contains("TICKET_NOT_TRANSFERABLE"), "{what}: {msg}");
    }
    // Back to the fan who booked it, one version on.
    assert_eq!(db.run(&moved("holder_id = 2, version = 3")).await, Ok(1));
    // Once cancelled, it moves no more.
    db.run(&cancel(&db, ticket)).await.unwrap();
    let msg = refused(&db, &moved("holder_id = 1, version = 4")).await;
    assert!(msg.contains("TICKET_NOT_TRANSFERABLE"), "{msg}");
    let now = format!(
        "SELECT CAST(holder_id AS TEXT) || '@' || CAST(version AS TEXT) FROM ticket_holders WHERE reservation_id = {ticket}"
    );
    assert_eq!(db.text(&now).await, "2@3");
    // Where it went is never undone: removing the holder would give the ticket back its
    // first code.
    let msg = refused(&db, &format!("DELETE FROM ticket_holders WHERE reservation_id = {ticket}")).await;
    assert!(msg.contains("TICKET_HISTORY_IMMUTABLE"), "{msg}");
    assert_eq!(db.text(&now).await, "2@3");
}

/// [`fixture`] with the concert's general sale in 2098 and a presale of it open from 2001
/// until then, with code `ALPHA` good for `max_uses` bookings: `(dir, raw access, concert,
/// code id)`.
async fn presale_fixture(max_uses: i64) -> (tempfile::TempDir, Raw, i64, i64) {
    let (dir, db, _, concert) = fixture().await;
    db.run(&format!(
        "UPDATE concerts SET start_time = '2099-06-01T00:00:00+00:00', sales_open_at = '2098-06-01T00:00:00+00:00'
         WHERE id = {concert}"
    ))
    .await
    .unwrap();
    db.run(&presale(concert, 1, "'2001-01-01T00:00:00+00:00'", "'2098-06-01T00:00:00+00:00'", max_uses))
        .await
        .unwrap();
    db.run(&format!(
        "INSERT INTO presale_codes (id, presale_id, concert_id, code, max_uses) VALUES (1, 1, {concert}, 'ALPHA', {max_uses})"
    ))
    .await
    .unwrap();
    (dir, db, concert, 1)
}

/// Presale `id` of `concert` open from `opens` until `closes`, as raw SQL.
fn presale(concert: i64, id: i64, opens: &str, closes: &str, max_uses: i64) -> String {
    format!(
        "INSERT INTO presales (id, concert_id, name, opens_at, closes_at, max_uses_per_code, created_at)
         VALUES ({id}, {concert}, 'P', {opens}, {closes}, {max_uses}, '2001-01-01T00:00:00+00:00')"
    )
}

/// Order `id` of the fan (user 2) in `concert`, made now, and its use of code `code`.
fn order_using(db: &Raw, concert: i64, id: i64, code: i64) -> [String; 2] {
    [
        format!(
            "INSERT INTO orders (id, concert_id, user_id, status, total_cents, currency, created_at)
             VALUES ({id}, {concert}, 2, 'CONFIRMED', 100, 'KRW', {})",
            db.now()
        ),
        format!("INSERT INTO presale_uses (order_id, code_id) VALUES ({id}, {code})"),
    ]
}

#[tokio::test]
async fn before_the_general_sale_only_a_reservation_whose_order_used_an_open_presales_code_is_taken() {
    let (_dir, db, concert, code) = presale_fixture(2).await;
    // No code: not yet on sale, even with an order.
    let msg = refused(&db, &reserve(concert, 'A', 2, db.now())).await;
    assert!(msg.contains("SALES_NOT_OPEN"), "{msg}");
    let [order, used] = order_using(&db, concert, 1000, code);
    db.run(&order).await.unwrap();
    let in_order = |row: char, col: u8, order: i64| {
        reserve(concert, row, col, db.now())
            .replace("price_cents, created_at)", "price_cents, created_at, order_id)")
            .replace(&format!("{})", db.now()), &format!("{}, {order})", db.now()))
    };
    let msg = refused(&db, &in_order('A', 2, 1000)).await;
    assert!(msg.contains("SALES_NOT_OPEN"), "an order that used no code: {msg}");
    db.run(&used).await.unwrap();
    db.run(&in_order('A', 2, 1000)).await.unwrap();
    assert_eq!(db.text("SELECT CAST(uses AS TEXT) FROM presale_codes WHERE id = 1").await, "1");
    // The order's use lets in its own fan only, and not after its presale closed.
    let someone_else = in_order('A', 3, 1000).replace("VALUES (2,", "VALUES (1,");
    assert!(refused(&db, &someone_else).await.contains("SALES_NOT_OPEN"));
    let later = in_order('A', 3, 1000).replace(db.now(), "'2098-05-31T23:59:59+00:00'");
    db.run(&later).await.unwrap();
    let too_late = in_order('A', 4, 1000).replace(db.now(), "'2098-06-01T00:00:00+00:00'");
    db.run(&format!("UPDATE concerts SET max_seats_per_fan = 10 WHERE id = {concert}")).await.unwrap();
    db.run(&too_late).await.expect("at the general sale itself, on sale for everyone");
}

#[tokio::test]
async fn a_code_is_never_used_more_often_than_it_allows_whatever_writes_its_uses() {
    let (_dir, db, concert, code) = presale_fixture(1).await;
    for statement in order_using(&db, concert, 1000, code) {
        db.run(&statement).await.unwrap();
    }
    let [order, used] = order_using(&db, concert, 1001, code);
    db.run(&order).await.unwrap();
    assert!(refused(&db, &used).await.contains("ACCESS_CODE_USED_UP"));
    // The count is the uses, and never above the most.
    for uses in [0, 2] {
        let msg = refused(&db, &format!("UPDATE presale_codes SET uses = {uses} WHERE id = {code}")).await;
        assert!(
            msg.contains("presale_codes_uses_within_max") || msg.contains("PRESALE_USES_MISMATCH"),
            "{msg}"
        );
    }
    assert!(
        refused(&db, &format!("UPDATE presale_codes SET max_uses = 5 WHERE id = {code}"))
            .await
            .contains("PRESALE_IMMUTABLE")
    );
    // Uses are history, and a used code stays.
    assert!(refused(&db, "DELETE FROM presale_uses").await.contains("PRESALE_USE_IMMUTABLE"));
    assert!(refused(&db, "DELETE FROM presale_codes").await.contains("PRESALE_USED"));
    assert_eq!(db.text("SELECT CAST(uses AS TEXT) FROM presale_codes WHERE id = 1").await, "1");
}

#[tokio::test]
async fn two_uses_racing_for_a_codes_last_use_are_not_both_counted() {
    let (_dir, db, concert, code) = presale_fixture(1).await;
    let [first_order, first_use] = order_using(&db, concert, 1000, code);
    let [second_order, second_use] = order_using(&db, concert, 1001, code);
    db.run(&first_order).await.unwrap();
    db.run(&second_order).await.unwrap();
    // The first use is written but not committed while the second arrives: the second
    // waits for it, then finds the code used up (PostgreSQL: its count, re-read after the
    // wait, passes the most, which the CHECK refuses).
    let msg = race(&db, &first_use, second_use).await.expect_err("used twice");
    assert!(msg.contains("ACCESS_CODE_USED_UP") || msg.contains("presale_codes_uses_within_max"), "{msg}");
    assert_eq!(db.text("SELECT CAST(uses AS TEXT) FROM presale_codes WHERE id = 1").await, "1");
    assert_eq!(db.text("SELECT CAST(count(*) AS TEXT) FROM presale_uses").await, "1");
}

#[tokio::test]
async fn a_use_needs_a_code_of_its_orders_concert_made_while_the_presale_was_open() {
    let (_dir, db, concert, code) = presale_fixture(5).await;
    let [order, _] = order_using(&db, concert, 1000, code);
    db.run(&order).await.unwrap();
    // A presale opening later, with a code of its own.
    db.run(&presale(concert, 2, "'2098-01-01T00:00:00+00:00'", "'2098-02-01T00:00:00+00:00'", 5))
        .await
        .unwrap();
    db.run(&format!("INSERT INTO presale_codes (id, presale_id, concert_id, code, max_uses) VALUES (2, 2, {concert}, 'LATER', 5)"))
        .await
        .unwrap();
    let msg = refused(&db, "INSERT INTO presale_uses (order_id, code_id) VALUES (1000, 2)").await;
    assert!(msg.contains("PRESALE_NOT_OPEN"), "{msg}");
    // A code whose most uses is not its presale's, or of another concert than its presale.
    let msg = refused(&db, &format!("INSERT INTO presale_codes (id, presale_id, concert_id, code, max_uses) VALUES (10, 1, {concert}, 'BRAVO', 9)")).await;
    assert!(msg.to_lowercase().contains("foreign key"), "{msg}");
    // Codes are unique in the concert and stored upper case.
    let msg = refused(&db, &format!("INSERT INTO presale_codes (id, presale_id, concert_id, code, max_uses) VALUES (11, 2, {concert}, 'ALPHA', 5)")).await;
    assert!(msg.to_lowercase().contains("unique"), "{msg}");
    let msg = refused(&db, &format!("INSERT INTO presale_codes (id, presale_id, concert_id, code, max_uses) VALUES (12, 2, {concert}, 'lower', 5)")).await;
    assert!(msg.to_lowercase().contains("check"), "{msg}");
}

#[tokio::test]
async fn a_presale_closes_by_the_general_sale_and_the_general_sale_cannot_move_before_it() {
    let (_dir, db, concert, _) = presale_fixture(1).await;
    let late = presale(concert, 2, "'2001-01-01T00:00:00+00:00'", "'2098-06-01T00:00:01+00:00'", 1);
    assert!(refused(&db, &late).await.contains("PRESALE_AFTER_SALES_OPEN"));
    let backwards = presale(concert, 2, "'2098-01-02T00:00:00+00:00'", "'2098-01-01T00:00:00+00:00'", 1);
    assert!(refused(&db, &backwards).await.contains("presales_open_before_close"));
    let no_uses = presale(concert, 2, "'2098-01-01T00:00:00+00:00'", "'2098-01-02T00:00:00+00:00'", 0);
    assert!(refused(&db, &no_uses).await.to_lowercase().contains("check"));
    for earlier in ["'2098-05-31T00:00:00+00:00'", "NULL"] {
        let msg =
            refused(&db, &format!("UPDATE concerts SET sales_open_at = {earlier} WHERE id = {concert}"))
                .await;
        assert!(msg.contains("PRESALE_AFTER_SALES_OPEN"), "{earlier}: {msg}");
    }
    db.run(&format!("UPDATE concerts SET sales_open_at = '2098-07-01T00:00:00+00:00' WHERE id = {concert}"))
        .await
        .unwrap();
    let msg = refused(&db, "UPDATE presales SET closes_at = '2098-06-30T00:00:00+00:00'").await;
    assert!(msg.contains("PRESALE_IMMUTABLE"), "{msg}");
}
