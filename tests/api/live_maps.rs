//! Live seat maps across instances: a page watching through one instance hears of the
//! bookings made through another (seat news through Redis pub/sub), and ends on the latest
//! map even when its instance missed the news.
//!
//! The pages' tests need two instances on ONE PostgreSQL database and ONE Redis, as in
//! `scale_out.rs`, so they run in `scripts/test`'s PostgreSQL pass; the test of the news
//! itself needs Redis only.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;
use tickitecking::seat_news::{self, SeatMapNews, SeatNews};
use tickitecking::shared_state::SharedState;

use crate::helpers::{Deployment, TestApp};
use crate::shared_state::{RedisServer, on_sale, redis_url, reservations, reserved, seat};

/// How soon a page hears of a change made through another instance (it takes about half a
/// second: a page gets at most two maps a second).
const SOON: Duration = Duration::from_secs(3);
/// How soon a page catches up after its instance missed news: news that could not be
/// published is sent again within a second.
const CATCH_UP: Duration = Duration::from_secs(5);

/// A page's live stream of a concert's seat map.
struct LivePage {
    response: reqwest::Response,
    buffer: String,
}

impl LivePage {
    async fn open(app: &TestApp, concert: i64) -> Self {
        let url = app.url(&format!("/api/v1/concerts/{concert}/seats/events"));
        let response = app.client.get(url).send().await.unwrap();
        assert_eq!(response.status(), 200);
        Self { response, buffer: String::new() }
    }

    /// The next map the page gets (the `GET /concerts/{id}/seats` envelope), within `within`.
    async fn next(&mut self, within: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let event: String = self.buffer.drain(..end + 2).collect();
                if event.lines().any(|l| l == "event: seats") {
                    let data = event.lines().find_map(|l| l.strip_prefix("data: ")).expect("data line");
                    let map: Value = serde_json::from_str(data).expect("JSON data");
                    let id = event.lines().find_map(|l| l.strip_prefix("id: ")).expect("id line");
                    assert_eq!(id, map["data"]["version"].to_string(), "the event id is the map's version");
                    return map;
                }
                assert!(!event.contains("event: gone"), "the stream ended: {event}");
                continue;
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .unwrap_or_else(|_| panic!("no map within {within:?}"))
                .expect("stream readable")
                .expect("stream still open");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

fn version(map: &Value) -> i64 {
    map["data"]["version"].as_i64().expect("a version")
}

/// The concert's current map version, read through `app`.
async fn current_version(app: &TestApp, concert: i64) -> i64 {
    version(&app.get(&format!("/api/v1/concerts/{concert}/seats"), None).await.body)
}

#[tokio::test]
async fn news_told_on_one_instance_reaches_the_pages_of_another_and_not_its_own_twice() {
    let Some(url) = redis_url() else { return };
    let deployment = Deployment::new(&url);
    let redis = SharedState::connect(&url, &deployment.key_prefix).await.unwrap();
    let (a, b) = (Arc::new(SeatNews::default()), Arc::new(SeatNews::default()));
    seat_news::share(&a, &redis).await.unwrap();
    seat_news::share(&b, &redis).await.unwrap();
    let (mut on_a, mut on_b) = (a.subscribe(7), b.subscribe(7));
    let changed = SeatMapNews::Changed { concert_id: 7, version: Some(3) };
    a.tell(changed);
    assert_eq!(tokio::time::timeout(SOON, on_b.recv()).await.unwrap().unwrap(), changed);
    assert_eq!(on_a.recv().await.unwrap(), changed, "told here at once");
    let rebuilt = SeatMapNews::Rebuilt { concert_id: 7, version: 3 };
    b.tell(rebuilt);
    // Redis delivers in order: had A's own message come back to it, it would come first.
    assert_eq!(tokio::time::timeout(SOON, on_a.recv()).await.unwrap().unwrap(), rebuilt);
    assert_eq!(on_b.recv().await.unwrap(), rebuilt);
}

#[tokio::test]
async fn a_fan_watching_through_one_instance_sees_a_booking_made_through_another() {
    let Some((a, b, _dir)) = crate::scale_out::two_instances().await else { return };
    let concert = on_sale(&a, "Live").await;
    let (_, fan) = a.fan("fan").await;
    let mut page = LivePage::open(&b, concert).await;
    let before = page.next(SOON).await;
    assert!(reserved(&before).is_empty());

    a.post(&reservations(concert), &seat("B", 4), Some(&fan)).await.assert_status(201);
    let after = page.next(SOON).await;
    assert_eq!(reserved(&after), ["B4"]);
    assert_eq!(version(&after), current_version(&a, concert).await, "the latest map");
    assert!(version(&after) > version(&before));
}

/// Two instances on one fresh PostgreSQL database and the Redis `server`, instance A
/// connecting as Redis user `a` and B as `b` (so that each can be cut off on its own).
async fn two_instances_as_users(
    server: &RedisServer,
    deployment: &Deployment,
) -> Option<(TestApp, TestApp, tempfile::TempDir)> {
    crate::backend::postgres_server()?;
    let dir = tempfile::tempdir().unwrap();
    let database = crate::backend::database_url_for(dir.path()).await;
    let mut instances = Vec::new();
    for user in ["a", "b"] {
        let _: () =
            server.run(&["ACL", "SETUSER", user, "on", ">secret", "~*", "&*", "+@all"]).await.unwrap();
        let (url, database) = (format!("redis://{user}:secret@127.0.0.1:{}", server.port), database.clone());
        instances.push(
            deployment
                .instance_with(move |c| {
                    c.database = database;
                    c.redis.as_mut().unwrap().url = url;
                })
                .await,
        );
    }
    let b = instances.pop()?;
    Some((instances.pop()?, b, dir))
}

/// Whether Redis refused a `PUBLISH` of `user` (its ACL log).
async fn publish_refused(server: &RedisServer, user: &str) -> bool {
    let log: Vec<Vec<String>> = server.run(&["ACL", "LOG"]).await.unwrap();
    log.iter().any(|entry| {
        let field = |name: &str| entry.chunks(2).find(|kv| kv[0] == name).map(|kv| kv[1].as_str());
        field("username") == Some(user) && field("object") == Some("publish")
    })
}

#[tokio::test]
async fn a_page_whose_instance_missed_news_still_ends_on_the_latest_map() {
    if redis_url().is_none() {
        return;
    }
    let server = RedisServer::start().await;
    let deployment = Deployment::new(&server.url());
    let Some((a, b, _dir)) = two_instances_as_users(&server, &deployment).await else { return };
    let concert = on_sale(&a, "Live").await;
    let (_, fan) = a.fan("fan").await;
    let mut page = LivePage::open(&b, concert).await;
    page.next(SOON).await;

    // B's subscription drops and cannot come back yet: what A publishes now never reaches B.
    let _: () = server.run(&["ACL", "SETUSER", "b", "-subscribe"]).await.unwrap();
    let killed: i64 = server.run(&["CLIENT", "KILL", "USER", "b", "TYPE", "pubsub"]).await.unwrap();
    assert_eq!(killed, 1, "B's subscription");
    let channel = format!("{}seatmap:news", deployment.key_prefix);
    let mut spy = redis::Client::open(server.url()).unwrap().get_async_pubsub().await.unwrap();
    spy.subscribe(&channel).await.unwrap();
    let (_, listening): (String, i64) = server.run(&["PUBSUB", "NUMSUB", &channel]).await.unwrap();
    assert_eq!(listening, 2, "A and the spy, not B");
    a.post(&reservations(concert), &seat("A", 1), Some(&fan)).await.assert_status(201);
    let published = tokio::time::timeout(SOON, async {
        while let Some(message) = spy.on_message().next().await {
            if message.get_payload::<String>().unwrap().contains(&format!("\nchanged {concert} ")) {
                return;
            }
        }
    });
    published.await.expect("A published the booking while B was away");

    // Subscribed again, B cannot know what it missed: its pages look again.
    let _: () = server.run(&["ACL", "SETUSER", "b", "+subscribe"]).await.unwrap();
    let caught_up = page.next(CATCH_UP).await;
    assert_eq!(reserved(&caught_up), ["A1"]);
    assert_eq!(version(&caught_up), current_version(&a, concert).await);

    // A cannot publish the next booking: it publishes "look again" once Redis takes it.
    let _: () = server.run(&["ACL", "SETUSER", "a", "-publish"]).await.unwrap();
    a.post(&reservations(concert), &seat("A", 2), Some(&fan)).await.assert_status(201);
    let deadline = tokio::time::Instant::now() + SOON;
    while !publish_refused(&server, "a").await {
        assert!(tokio::time::Instant::now() < deadline, "A never tried to publish");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _: () = server.run(&["ACL", "SETUSER", "a", "+publish"]).await.unwrap();
    let later = page.next(CATCH_UP).await;
    assert_eq!(reserved(&later), ["A1", "A2"]);
    assert_eq!(version(&later), current_version(&a, concert).await);
}
