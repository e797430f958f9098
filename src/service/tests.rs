//! Every write use case finishes its after-commit work — views, audit entry, sessions —
//! when its caller goes away right after the commit, as a client that hangs up would.
//!
//! Each test runs a use case until it reaches its commit point (`completion::committed`),
//! drops it there, and then waits for the effects that only the after-commit work brings:
//! a cached view (warmed first, so that a missed invalidation would go on serving the old
//! state), the seat gate, the audit log, a revoked session. Real SQLite store, no mocks.

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;
use std::time::Duration;

use axum::body::Bytes;
use chrono::Utc;
use serde_json::Value;
use tempfile::TempDir;

use super::accounts::{AccountChange, Signup};
use super::audit::Snapshot;
use super::catalog::Poster;
use super::completion::AFTER_COMMIT;
use super::{ServiceError, Services};
use crate::auth::Principal;
use crate::cache::Lookup;
use crate::config::Config;
use crate::domain::booking::{Order, SeatRef};
use crate::domain::poster::ImageKind;
use crate::domain::sections::{Layout, RowLabel};
use crate::domain::user::{Email, Nickname, Password, Role, Username};
use crate::domain::venue::{AuditoriumInput, AuditoriumSpec, ConcertInput, ConcertSpec, RowsInput};
use crate::http::seat_map_body;
use crate::store::{ConcertRecord, ConcertSummary};

const PASSWORD: &str = "Secret#2026";
const ADDRESS: &str = "127.0.0.1";

/// Runs a use case until it has committed, then drops it.
async fn hang_up_after_commit<T>(use_case: impl Future<Output = Result<T, ServiceError>>) {
    let reached = Arc::new(AtomicBool::new(false));
    let finished = AFTER_COMMIT
        .scope(reached.clone(), async {
            let mut use_case = pin!(use_case);
            poll_fn(|cx| match use_case.as_mut().poll(cx) {
                Poll::Ready(result) => Poll::Ready(Some(result.err().map(|e| e.to_string()))),
                Poll::Pending if reached.load(Ordering::SeqCst) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            })
            .await
        })
        .await;
    assert!(finished.is_none(), "the use case ended before its commit: {finished:?}");
}

/// Waits until `check` holds, or fails after five seconds.
async fn eventually<F: Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "after-commit work never ran: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn concert_json(record: ConcertRecord) -> anyhow::Result<Bytes> {
    Ok(Bytes::from(serde_json::to_vec(&record.snapshot())?))
}

fn page_json(summaries: Vec<ConcertSummary>, _total: i64) -> anyhow::Result<Bytes> {
    let list: Vec<Value> = summaries
        .iter()
        .map(|s| serde_json::json!({ "id": s.id, "name": s.name, "writer": s.writer }))
        .collect();
    Ok(Bytes::from(serde_json::to_vec(&list)?))
}

fn seat(row: &str, column: u32) -> SeatRef {
    SeatRef::seed(RowLabel::parse(row).expect("a row"), column)
}

fn order(row: &str, column: i64) -> Order {
    Order::parse(Some((None, Some(row), Some(column))), None, None).expect("a valid order")
}

fn venue(name: &str) -> AuditoriumSpec {
    venue_of(name, 10)
}

fn venue_of(name: &str, columns: i64) -> AuditoriumSpec {
    let input = AuditoriumInput {
        name: Some(name),
        address: Some("1 Main St"),
        max_row: Some("C"),
        max_column: Some(columns),
        sections: None,
    };
    AuditoriumSpec::parse(input).expect("a valid venue")
}

fn concert_spec(name: &str, auditorium_id: i64, venue: Option<&Layout>) -> ConcertSpec {
    let start = (Utc::now() + chrono::Duration::days(30)).to_rfc3339();
    let input = ConcertInput {
        name: Some(name),
        description: Some("live"),
        start_time: Some(&start),
        sales_open_at: None,
        sales_close_at: None,
        checkout: None,
        hold_minutes: None,
        currency: None,
        waiting_room: None,
        auditorium_id: Some(auditorium_id),
        max_seats_per_fan: Some(4),
        prices: Some(vec![(Some("R"), Some(100.0))]),
        seat_list: Some(vec![RowsInput {
            section: None,
            horizontals: Some(vec!["A", "B"]),
            grade: Some("R"),
        }]),
        standing: None,
    };
    ConcertSpec::parse(input, Utc::now(), venue).expect("a valid concert")
}

/// A service on its own SQLite store, with an admin, a promoter, a fan, and one
/// concert (rows A–B of ten seats) in the promoter's venue.
struct World {
    services: Services,
    admin: Principal,
    promoter: Principal,
    fan: Principal,
    venue_id: i64,
    concert_id: i64,
    _dir: TempDir,
}

impl World {
    async fn new() -> Self {
        let dir = TempDir::new().expect("a temporary dir");
        let mut config = Config::in_dir(dir.path());
        config.admin.password = Some(PASSWORD.into());
        let (services, _) = crate::app::assemble(&config).await.expect("the service assembles");
        let admin = login(&services, "admin").await;
        let promoter = signup(&services, "promoter").await;
        let change = account("promoter", Role::CompanyUser);
        services.accounts.change(&admin, promoter.user_id, change).await.expect("promoted");
        let promoter = login(&services, "promoter").await;
        let fan = signup(&services, "fan").await;
        let venue_id = services.catalog.create_auditorium(&promoter, venue("Hall")).await.expect("venue").id;
        let parse = |venue: Option<&Layout>| Ok(concert_spec("Spring", venue_id, venue));
        let concert =
            services.catalog.create_concert(&promoter, Some(venue_id), parse).await.expect("concert");
        Self { services, admin, promoter, fan, venue_id, concert_id: concert.id, _dir: dir }
    }

    /// The seat map as served (from the cache when it is there), which warms the cache.
    async fn map(&self) -> Value {
        let map = self.services.bookings.seat_map(self.concert_id, seat_map_body).await.expect("seat map");
        let body: Value = serde_json::from_slice(&map.body).expect("JSON");
        assert_eq!(body["data"]["version"], map.version, "the body says the version it is cached at");
        body
    }

    /// The seat map's version as served, which warms the seat-map cache.
    async fn map_version(&self) -> i64 {
        self.map().await["data"]["version"].as_i64().expect("a version")
    }

    /// The seat map's columns as served (from the cache when it is there).
    async fn map_columns(&self) -> String {
        let map = self.map().await;
        map["data"]["rows"][0]["statuses"].as_str().map_or(0, str::len).to_string()
    }

    /// The concert as the catalog serves it, which warms its cache.
    async fn concert_view(&self) -> Value {
        let body =
            self.services.catalog.concert_cached(self.concert_id, concert_json).await.expect("concert");
        serde_json::from_slice(&body).expect("JSON")
    }

    /// The first page of the catalog, which warms its cache.
    async fn first_page(&self) -> Value {
        let body = self.services.catalog.concert_page(1, 10, page_json).await.expect("page");
        serde_json::from_slice(&body).expect("JSON")
    }

    /// Whether the seat gate refuses the seat.
    async fn gate_refuses(&self, seat: SeatRef) -> bool {
        let refused = self.services.views.gate.refused(self.concert_id, &[seat]).await.expect("gate answers");
        !refused.is_empty()
    }

    /// Books A1 for the fan and waits until the gate's board of the concert is loaded
    /// (it loads in the background), so that the gate answers from what it is told.
    async fn warm_gate(&self) {
        self.services
            .bookings
            .book(&self.fan, self.concert_id, order("A", 1), None, None, None)
            .await
            .expect("booked");
        eventually("the gate loads the concert", || self.gate_refuses(seat("A", 1))).await;
    }

    /// The newest audit entry's action.
    async fn last_audit_action(&self) -> Option<String> {
        let (entries, _) = self.services.audit.page(&self.admin, 0, 1).await.expect("audit log");
        entries.into_iter().next().map(|e| e.action)
    }

    async fn audited(&self, action: &str) -> bool {
        self.last_audit_action().await.as_deref() == Some(action)
    }

    async fn session_ended(&self, token: &str) -> bool {
        self.services.accounts.authenticate(token).await.is_err()
    }
}

async fn signup(services: &Services, name: &str) -> Principal {
    let signup = Signup {
        username: Username::parse(name).expect("a username"),
        password: Password::parse(PASSWORD).expect("a password"),
        email: Email::parse(&format!("{name}@example.com")).expect("an email"),
        nickname: None,
    };
    services.accounts.signup(ADDRESS, signup).await.expect("signed up");
    login(services, name).await
}

async fn login(services: &Services, name: &str) -> Principal {
    let pair = services.accounts.login(ADDRESS, name, PASSWORD, false).await.expect("logged in");
    services.accounts.authenticate(&pair.access_token).await.expect("a valid token")
}

async fn token(services: &Services, name: &str) -> String {
    services.accounts.login(ADDRESS, name, PASSWORD, false).await.expect("logged in").access_token
}

fn account(name: &str, role: Role) -> AccountChange {
    AccountChange {
        username: Username::parse(name).expect("a username"),
        password: None,
        email: Email::parse(&format!("{name}@example.com")).expect("an email"),
        nickname: None,
        role,
    }
}

#[tokio::test]
async fn a_booking_reaches_the_gate_and_the_seat_map() {
    let world = World::new().await;
    world.warm_gate().await;
    let before = world.map_version().await;
    hang_up_after_commit(world.services.bookings.book(
        &world.fan,
        world.concert_id,
        order("A", 2),
        None,
        None,
        None,
    ))
    .await;
    eventually("the gate refuses the booked seat", || world.gate_refuses(seat("A", 2))).await;
    eventually("the seat map is rebuilt", || async { world.map_version().await > before }).await;
}

/// Bookings and cancellations are written into the cached map (no rebuild), which stays
/// byte for byte what a rebuild from the database gives.
#[tokio::test]
async fn bookings_and_cancellations_patch_the_cached_map_as_a_rebuild_would_draw_it() {
    let world = World::new().await;
    let first = world.map_version().await;
    let (bookings, concert) = (&world.services.bookings, world.concert_id);
    let pair = Order::parse(None, Some(vec![(None, Some("A"), Some(4)), (None, Some("B"), Some(10))]), None)
        .expect("an order");
    bookings.book(&world.fan, concert, pair, None, None, None).await.expect("booked");
    let single = bookings.book(&world.fan, concert, order("B", 1), None, None, None).await.expect("booked");
    bookings.cancel(&world.fan, concert, single.reservations[0].id).await.expect("cancelled");
    let cached = match world.services.views.seat_maps.lookup(concert).await {
        Lookup::Serve(map) => map,
        Lookup::Rebuild(_) => panic!("a change was not patched in: the map must be rebuilt"),
    };
    assert_eq!(cached.version, first + 4, "two seats booked, one booked and freed");
    let (_, record) = bookings.concert_seats(concert).await.expect("read from the database");
    let rebuilt = seat_map_body(&record).expect("encoded");
    assert_eq!((cached.version, &cached.body), (rebuilt.version, &rebuilt.body));
    let map = world.map().await;
    assert_eq!(map["data"]["rows"][0]["statuses"], "AAARAAAAAA");
    assert_eq!(map["data"]["rows"][1]["statuses"], "AAAAAAAAAR");
}

#[tokio::test]
async fn a_cancellation_frees_the_seat_in_the_gate_and_is_audited() {
    let world = World::new().await;
    world.warm_gate().await;
    let booked = world
        .services
        .bookings
        .book(&world.fan, world.concert_id, order("A", 3), None, None, None)
        .await
        .unwrap();
    eventually("the gate refuses the booked seat", || world.gate_refuses(seat("A", 3))).await;
    let before = world.map_version().await;
    let reservation = booked.reservations[0].id;
    hang_up_after_commit(world.services.bookings.cancel(&world.admin, world.concert_id, reservation)).await;
    eventually("the gate lets the seat go", || async { !world.gate_refuses(seat("A", 3)).await }).await;
    eventually("the seat map is rebuilt", || async { world.map_version().await > before }).await;
    eventually("the cancellation is audited", || world.audited("reservation.cancel")).await;
}

#[tokio::test]
async fn a_seat_lock_reaches_the_gate_and_the_seat_map_and_is_audited() {
    let world = World::new().await;
    world.warm_gate().await;
    let before = world.map_version().await;
    let position = |_: &_| Ok(seat("B", 5));
    hang_up_after_commit(world.services.catalog.toggle_seat_lock(&world.admin, world.venue_id, position))
        .await;
    eventually("the seat map is rebuilt", || async { world.map_version().await > before }).await;
    eventually("the gate refuses the locked seat", || world.gate_refuses(seat("B", 5))).await;
    eventually("the lock is audited", || world.audited("seat.lock_toggle")).await;
}

#[tokio::test]
async fn a_logout_ends_the_session() {
    let world = World::new().await;
    let token = token(&world.services, "fan").await;
    let caller = world.services.accounts.authenticate(&token).await.unwrap();
    hang_up_after_commit(world.services.accounts.logout(&caller)).await;
    eventually("the token is revoked", || world.session_ended(&token)).await;
}

#[tokio::test]
async fn a_profile_change_reaches_the_catalog() {
    let world = World::new().await;
    assert_eq!(world.first_page().await[0]["writer"], "promoter");
    let nickname = Some(Nickname::parse("Promo").unwrap());
    let email = Email::parse("promoter@example.com").unwrap();
    hang_up_after_commit(world.services.accounts.update_profile(&world.promoter, email, nickname)).await;
    eventually("the catalog shows the nickname", || async {
        world.first_page().await[0]["writer"] == "Promo"
    })
    .await;
}

#[tokio::test]
async fn an_account_deletion_ends_sessions_and_releases_seats_everywhere() {
    let world = World::new().await;
    world.warm_gate().await;
    let token = token(&world.services, "fan").await;
    let before = world.map_version().await;
    hang_up_after_commit(world.services.accounts.delete_me(&world.fan)).await;
    eventually("the fan's sessions end", || world.session_ended(&token)).await;
    eventually("the seat map is rebuilt", || async { world.map_version().await > before }).await;
    eventually("the gate lets the fan's seat go", || async { !world.gate_refuses(seat("A", 1)).await }).await;
}

#[tokio::test]
async fn an_admin_account_change_ends_sessions_reaches_the_catalog_and_is_audited() {
    let world = World::new().await;
    let token = token(&world.services, "promoter").await;
    assert_eq!(world.first_page().await[0]["writer"], "promoter");
    let mut change = account("promoter", Role::CompanyUser);
    change.nickname = Some(Nickname::parse("Renamed").unwrap());
    change.password = Some(Password::parse("Other#Pass99").unwrap());
    hang_up_after_commit(world.services.accounts.change(&world.admin, world.promoter.user_id, change)).await;
    eventually("the promoter's sessions end", || world.session_ended(&token)).await;
    eventually("the catalog shows the nickname", || async {
        world.first_page().await[0]["writer"] == "Renamed"
    })
    .await;
    eventually("the change is audited", || world.audited("user.update")).await;
}

#[tokio::test]
async fn a_venue_creation_is_audited() {
    let world = World::new().await;
    hang_up_after_commit(world.services.catalog.create_auditorium(&world.promoter, venue("Annex"))).await;
    eventually("the creation is audited", || world.audited("auditorium.create")).await;
}

#[tokio::test]
async fn a_venue_change_reaches_the_catalog_and_the_seat_maps_and_is_audited() {
    let world = World::new().await;
    assert_eq!(world.concert_view().await["auditoriumName"], "Hall");
    assert_eq!(world.map_columns().await, "10");
    let wider = venue_of("Great Hall", 12);
    hang_up_after_commit(world.services.catalog.update_auditorium(&world.promoter, world.venue_id, wider))
        .await;
    eventually("the catalog shows the new name", || async {
        world.concert_view().await["auditoriumName"] == "Great Hall"
    })
    .await;
    eventually("the seat maps are rebuilt", || async { world.map_columns().await == "12" }).await;
    eventually("the change is audited", || world.audited("auditorium.update")).await;
}

#[tokio::test]
async fn a_venue_deletion_reaches_the_catalog_and_is_audited() {
    let world = World::new().await;
    let annex = world.services.catalog.create_auditorium(&world.promoter, venue("Annex")).await.unwrap();
    hang_up_after_commit(world.services.catalog.delete_auditorium(&world.promoter, annex.id)).await;
    eventually("the deletion is audited", || world.audited("auditorium.delete")).await;
}

#[tokio::test]
async fn a_concert_creation_reaches_the_catalog_and_is_audited() {
    let world = World::new().await;
    assert_eq!(world.first_page().await.as_array().map(Vec::len), Some(1));
    let venue_id = world.venue_id;
    let parse = move |venue: Option<&Layout>| Ok(concert_spec("Autumn", venue_id, venue));
    hang_up_after_commit(world.services.catalog.create_concert(&world.promoter, Some(venue_id), parse)).await;
    eventually("the catalog lists it", || async {
        world.first_page().await.as_array().map(Vec::len) == Some(2)
    })
    .await;
    eventually("the creation is audited", || world.audited("concert.create")).await;
}

#[tokio::test]
async fn a_concert_change_reaches_the_catalog_and_the_seat_map_and_is_audited() {
    let world = World::new().await;
    assert_eq!(world.concert_view().await["name"], "Spring");
    let before = world.map_version().await;
    let venue_id = world.venue_id;
    let parse = move |venue: Option<&Layout>| Ok(concert_spec("Spring Encore", venue_id, venue));
    let id = world.concert_id;
    hang_up_after_commit(world.services.catalog.update_concert(&world.promoter, id, parse)).await;
    eventually("the catalog shows the new name", || async {
        world.concert_view().await["name"] == "Spring Encore"
    })
    .await;
    eventually("the seat map is rebuilt", || async { world.map_version().await > before }).await;
    eventually("the change is audited", || world.audited("concert.update")).await;
}

#[tokio::test]
async fn a_concert_deletion_reaches_the_catalog_the_seat_map_and_the_gate_and_is_audited() {
    let world = World::new().await;
    assert_eq!(world.first_page().await.as_array().map(Vec::len), Some(1));
    world.map_version().await;
    hang_up_after_commit(world.services.catalog.delete_concert(&world.promoter, world.concert_id)).await;
    eventually("the catalog drops it", || async {
        world.first_page().await.as_array().map(Vec::len) == Some(0)
    })
    .await;
    eventually("the seat map is gone", || async {
        matches!(
            world.services.bookings.seat_map(world.concert_id, seat_map_body).await,
            Err(ServiceError::NotFound(_))
        )
    })
    .await;
    eventually("the deletion is audited", || world.audited("concert.delete")).await;
}

#[tokio::test]
async fn a_poster_reaches_the_catalog_and_is_audited() {
    let world = World::new().await;
    assert!(world.concert_view().await["imagePath"].is_null());
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    let kind = ImageKind::sniff(&png).expect("a PNG");
    let poster = Poster { original_name: "poster.png".into(), kind, content: Bytes::from(png) };
    hang_up_after_commit(world.services.catalog.set_poster(&world.promoter, world.concert_id, poster)).await;
    eventually("the catalog shows the poster", || async {
        world.concert_view().await["imagePath"].is_string()
    })
    .await;
    eventually("the poster is audited", || world.audited("concert.poster")).await;
}
