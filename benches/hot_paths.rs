//! Micro-benchmarks of the pieces on every on-sale request: verifying an access token,
//! asking the seat gate, encoding a full seat map, and patching a booking into it.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use tickitecking::auth::token::{self, TokenKeys, TokenKind};
use tickitecking::cache::SeatChange;
use tickitecking::domain::booking::SeatRef;
use tickitecking::domain::sections::{Layout, RowLabel, SectionName};
use tickitecking::domain::user::Role;
use tickitecking::domain::venue::{AuditoriumSpec, ConcertSpec, Letter, Price, SeatStatus};
use tickitecking::gate::{MemoryGate, SeatGate};
use tickitecking::http::seat_map_body;
use tickitecking::store::sqlite::SqliteStore;
use tickitecking::store::{NewUser, Store};

fn token_verification(c: &mut Criterion) {
    let keys = TokenKeys::new(b"a benchmark secret of at least 32 bytes!");
    let claims = token::claims(42, Role::User, 0, TokenKind::Access, "family", Duration::from_secs(3600));
    let jwt = keys.sign(&claims).expect("sign");
    c.bench_function("verify access token", |b| b.iter(|| keys.verify(black_box(&jwt), TokenKind::Access)));
    // The same token again, as every request of a fan's on-sale sends it.
    c.bench_function("verify access token, remembered", |b| b.iter(|| keys.verify_access(black_box(&jwt))));
}

fn seat(row: char, column: u32) -> SeatRef {
    SeatRef::seed(RowLabel::from(letter(row)), column)
}

/// A promoter, a 26 × 100 hall and a concert of 2,600 seats, straight through the store.
async fn full_concert(store: &dyn Store) -> i64 {
    let owner = store
        .create_user(&NewUser {
            username: "bench".into(),
            password_hash: "not used".into(),
            email: "bench@example.com".into(),
            nickname: None,
            role: Role::CompanyUser,
        })
        .await
        .expect("user");
    let hall = AuditoriumSpec {
        name: "Hall".into(),
        address: "here".into(),
        layout: Layout::seed(letter('Z'), 100),
        seed: Some((letter('Z'), 100)),
    };
    let hall = store.create_auditorium(owner.id, &hall).await.expect("hall");
    let spec = ConcertSpec {
        name: "Bench".into(),
        description: String::new(),
        start_time: chrono::Utc::now() + chrono::Duration::days(30),
        auditorium_id: hall.id,
        max_seats_per_fan: 4,
        sales_open_at: None,
        sales_close_at: None,
        checkout: tickitecking::domain::venue::Checkout::Direct,
        hold_minutes: tickitecking::domain::venue::DEFAULT_HOLD_MINUTES,
        currency: None,
        waiting_room: None,
        prices: BTreeMap::from([(letter('R'), Price::from_cents(10_000))]),
        rows: letter('Z')
            .up_to()
            .map(|row| ((SectionName::SEED, RowLabel::from(row)), letter('R')))
            .collect(),
    };
    store.create_concert(&spec).await.expect("concert")
}

fn letter(c: char) -> Letter {
    Letter::parse(&c.to_string()).expect("letter")
}

fn gate_check(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store: Arc<dyn Store> = Arc::new(runtime.block_on(SqliteStore::open(&url)).expect("store"));
    let concert = runtime.block_on(full_concert(store.as_ref()));
    let gate = MemoryGate::new(store);
    let taken: Vec<(SeatRef, SeatStatus)> =
        (1..=100).map(|col| (seat('A', col), SeatStatus::Reserved)).collect();
    runtime.block_on(gate.record(concert, i64::MAX / 2, &taken)).expect("record");
    // The first check loads the concert's board from the database; the rest are memory.
    runtime.block_on(gate.refused(concert, &[seat('B', 1)])).expect("load");
    let asked = [seat('A', 50)];
    c.bench_function("gate: surely taken seat", |b| {
        b.to_async(&runtime).iter(|| async { gate.refused(black_box(concert), black_box(&asked)).await })
    });
}

fn seat_map_encoding(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store: Arc<dyn Store> = Arc::new(runtime.block_on(SqliteStore::open(&url)).expect("store"));
    let concert = runtime.block_on(full_concert(store.as_ref()));
    let record = runtime.block_on(store.seat_map(concert)).expect("read").expect("a map");
    c.bench_function("seat map: encode 2,600 seats", |b| b.iter(|| seat_map_body(black_box(&record))));
    // What a cache rebuild costs in all: the read from SQLite and the encoding.
    c.bench_function("seat map: read and encode 2,600 seats", |b| {
        b.to_async(&runtime).iter(|| async {
            let record = store.seat_map(black_box(concert)).await.expect("read").expect("a map");
            seat_map_body(&record).expect("encode")
        })
    });
    // What a cached map costs a booking instead: a copy with one seat and the version
    // rewritten.
    let map = seat_map_body(&record).expect("encode");
    let seats = [(seat('M', 50), SeatStatus::Reserved)];
    let change = SeatChange { from: map.version, to: map.version + 1, seats: &seats };
    c.bench_function("seat map: patch one booking into 2,600 seats", |b| {
        b.iter(|| black_box(&map).patched(black_box(&change)).expect("patched"))
    });
}

criterion_group!(benches, token_verification, gate_check, seat_map_encoding);
criterion_main!(benches);
