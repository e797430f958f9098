//! The scaled-out shape itself: two instances of the service on ONE PostgreSQL database and
//! ONE Redis, as behind a load balancer. Runs in `scripts/test`'s PostgreSQL pass (it needs
//! `TICKITECKING_TEST_POSTGRES_URL` and `TICKITECKING_TEST_REDIS_URL`); on the SQLite pass
//! there is no second process that could share the database, so it has nothing to prove.

use serde_json::{Value, json};

use crate::helpers::{Deployment, TestApp};
use crate::rush;
use crate::shared_state::redis_url;

/// Two instances sharing a fresh PostgreSQL database and a Redis key space.
pub async fn two_instances() -> Option<(TestApp, TestApp, tempfile::TempDir)> {
    crate::backend::postgres_server()?;
    let redis = redis_url()?;
    let dir = tempfile::tempdir().unwrap();
    let database = crate::backend::database_url_for(dir.path()).await;
    let deployment = Deployment::new(&redis);
    let shared = database.clone();
    let a = deployment.instance_with(move |c| c.database = shared).await;
    let b = deployment.instance_with(move |c| c.database = database).await;
    Some((a, b, dir))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rush_spread_over_two_instances_sells_each_seat_once() {
    let Some((a, b, _dir)) = two_instances().await else { return };
    let (_, concert) = rush::concert(&a, 4).await;
    let tokens = rush::fans(&a, "split", 120).await;
    // 120 fans, 12 per seat on the first ten seats of row A, every other one through B.
    let url = |app: &TestApp| app.url(&format!("/api/v1/concerts/{concert}/reservations"));
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(tokens.len()));
    let tasks: Vec<_> = tokens
        .into_iter()
        .enumerate()
        .map(|(i, token)| {
            let app = if i % 2 == 0 { &a } else { &b };
            let (client, url, barrier) = (app.client.clone(), url(app), barrier.clone());
            tokio::spawn(async move {
                let body = json!({"horizontal": "A", "vertical": i % 10 + 1});
                barrier.wait().await;
                let response = client.post(url).bearer_auth(token).json(&body).send().await.unwrap();
                (response.status().as_u16(), response.json::<Value>().await.unwrap_or(Value::Null))
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    let won: Vec<_> = answers.iter().filter(|(status, _)| *status == 201).collect();
    let refused = answers.iter().filter(|(s, body)| *s == 409 && body["code"] == "SEAT_TAKEN").count();
    assert_eq!((won.len(), refused), (10, 110), "answers: {answers:?}");
    let seats: std::collections::HashSet<i64> =
        won.iter().map(|(_, b)| b["data"]["seatId"].as_i64().unwrap()).collect();
    assert_eq!(seats.len(), 10, "ten distinct seats, each once");
    // Both instances read the one database: ten active reservations, ten taken seats.
    for app in [&a, &b] {
        assert_eq!(rush::active(app, concert).await.len(), 10);
        assert_eq!(rush::reserved_on_map(app, concert).await, 10);
    }

    // A cancellation through A is in B's seat map at once, and B books the seat again.
    let (_, first) = won[0];
    let (reservation, seat) =
        (first["data"]["id"].as_i64().unwrap(), first["data"]["seatId"].as_i64().unwrap());
    let admin = a.admin_token().await;
    a.delete(&format!("/api/v1/concerts/{concert}/reservations/{reservation}"), Some(&admin))
        .await
        .assert_status(200);
    assert_eq!(rush::reserved_on_map(&b, concert).await, 9);
    let vertical = answers
        .iter()
        .zip(0..)
        .find(|((_, body), _)| body["data"]["seatId"].as_i64() == Some(seat))
        .map(|(_, i)| i % 10 + 1)
        .unwrap();
    let (_, fan) = b.fan("rebooker").await;
    b.post(
        &format!("/api/v1/concerts/{concert}/reservations"),
        &json!({"horizontal": "A", "vertical": vertical}),
        Some(&fan),
    )
    .await
    .assert_status(201);
    assert_eq!(rush::reserved_on_map(&a, concert).await, 10);
}
