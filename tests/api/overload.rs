//! Overload and slow clients: past the in-flight bound the service sheds at once and
//! recovers, slow or oversized request heads are cut off, and a graceful shutdown
//! finishes the bookings in flight.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{PASSWORD, TestApp};

/// `(status, latency)` of every answer; a transport error fails the test at once.
async fn login_at_rate(app: &TestApp, per_second: f64, duration: Duration) -> Vec<(u16, Duration)> {
    let period = Duration::from_secs_f64(1.0 / per_second);
    let count = (duration.as_secs_f64() * per_second).ceil() as usize;
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = Vec::with_capacity(count);
    for _ in 0..count {
        ticks.tick().await;
        let request = app
            .client
            .post(app.url("/api/v1/users/login"))
            .json(&json!({"username": "fan01", "password": PASSWORD}));
        tasks.push(tokio::spawn(async move {
            let started = Instant::now();
            let response = request.send().await.expect("every request is answered");
            let status = response.status().as_u16();
            response.bytes().await.expect("a whole body");
            (status, started.elapsed())
        }));
    }
    let mut answers = Vec::with_capacity(count);
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    answers
}

fn percentile(mut latencies: Vec<Duration>, p: f64) -> Duration {
    latencies.sort();
    latencies.get(((latencies.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or_default()
}

/// Logins hash with Argon2, so a few in flight saturate the CPU: the sustainable rate is
/// measured first, then four times that rate is offered for the same time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_four_times_the_sustainable_load_it_sheds_fast_keeps_serving_and_recovers() {
    let app = TestApp::spawn_with(|c| c.limits.max_in_flight = 4).await;
    app.signup("fan01").await;
    let window = Duration::from_secs(3);

    // Sustainable: four clients one after the other, as fast as answers come.
    let started = Instant::now();
    let mut served = 0usize;
    let mut calm_latencies = Vec::new();
    while started.elapsed() < window {
        let batch = login_at_rate(&app, 400.0, Duration::from_millis(10)).await;
        for (status, latency) in batch {
            assert_eq!(status, 200, "below the bound nothing is shed");
            calm_latencies.push(latency);
            served += 1;
        }
    }
    let sustainable = served as f64 / started.elapsed().as_secs_f64();
    let calm_p90 = percentile(calm_latencies, 0.9);

    let offered = 4.0 * sustainable;
    let answers = login_at_rate(&app, offered, window).await;
    let ok: Vec<Duration> = answers.iter().filter(|(s, _)| *s == 200).map(|(_, l)| *l).collect();
    let shed: Vec<Duration> = answers.iter().filter(|(s, _)| *s == 503).map(|(_, l)| *l).collect();
    let other: Vec<u16> = answers.iter().map(|(s, _)| *s).filter(|s| *s != 200 && *s != 503).collect();
    let report = format!(
        "sustainable {sustainable:.1}/s (p90 {calm_p90:?}), offered {offered:.1}/s: {} ok (p90 {:?}), {} shed (p90 {:?})",
        ok.len(),
        percentile(ok.clone(), 0.9),
        shed.len(),
        percentile(shed.clone(), 0.9)
    );
    eprintln!("{report}");
    assert!(other.is_empty(), "only 200 or 503 under overload, got {other:?}; {report}");
    assert!(!shed.is_empty(), "four times the sustainable load is shed in part; {report}");
    // Shedding is immediate, not a queue: a 503 comes back far faster than a login.
    assert!(percentile(shed.clone(), 0.9) < Duration::from_millis(250), "{report}");
    // The admitted requests are still served at about the calm pace, not melted down.
    let ok_rate = ok.len() as f64 / window.as_secs_f64();
    assert!(ok_rate >= 0.4 * sustainable, "useful work continues; {report}");
    assert!(percentile(ok, 0.9) < calm_p90 * 4 + Duration::from_millis(500), "{report}");

    // Recovery: once the surge is over, every request is served again, promptly.
    for _ in 0..4 {
        let started = Instant::now();
        app.login("fan01", PASSWORD).await;
        assert!(started.elapsed() < calm_p90 * 4 + Duration::from_secs(1), "{report}");
    }
}

/// Reads from `stream` until it is closed; the bytes read.
async fn read_to_close(stream: &mut TcpStream, within: Duration) -> Vec<u8> {
    let mut seen = Vec::new();
    tokio::time::timeout(within, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .expect("the server closes the connection");
    seen
}

#[tokio::test]
async fn a_client_too_slow_to_send_its_headers_is_disconnected() {
    let app = TestApp::spawn_with(|c| c.limits.header_read_timeout = Duration::from_millis(300)).await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(&address).await.unwrap();
    stream.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ").await.unwrap();
    let started = Instant::now();
    read_to_close(&mut stream, Duration::from_secs(5)).await;
    assert!(started.elapsed() >= Duration::from_millis(250), "not before the timeout");
    // The service itself is fine.
    app.get("/health", None).await.assert_status(200);
}

#[tokio::test]
async fn an_oversized_request_head_is_refused_with_431() {
    let app = TestApp::spawn().await;
    let big = "x".repeat(64 * 1024);
    let response = app.client.get(app.url("/health")).header("x-big", big).send().await.unwrap();
    assert_eq!(response.status(), 431);
    app.get("/health", None).await.assert_status(200);
}

#[tokio::test]
async fn a_graceful_shutdown_finishes_the_booking_in_flight_and_it_is_kept() {
    let app = TestApp::spawn().await;
    let (_, concert) = crate::rush::concert(&app, 4).await;
    let (_, fan) = app.fan("fan01").await;
    // A booking whose body is still arriving when the shutdown begins: surely in flight.
    let body = json!({"horizontal": "C", "vertical": 3}).to_string();
    let (head, tail) = body.split_at(body.len() / 2);
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(&address).await.unwrap();
    let request = format!(
        "POST /api/v1/concerts/{concert}/reservations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {fan}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{head}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stopping = tokio::spawn(app.stop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!stopping.is_finished(), "shutdown waits for the request in flight");
    // New connections are no longer accepted meanwhile.
    assert!(TcpStream::connect(&address).await.is_err(), "the listener is closed");
    stream.write_all(tail.as_bytes()).await.unwrap();
    let answer =
        String::from_utf8_lossy(&read_to_close(&mut stream, Duration::from_secs(10)).await).into_owned();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    let dir = stopping.await.unwrap();

    let app = TestApp::spawn_in(dir, |_| {}).await;
    let fan = app.login("fan01", PASSWORD).await.access;
    let mine = app.get("/api/v1/users/my/reservations", Some(&fan)).await;
    mine.assert_status(200);
    assert_eq!(mine.data().as_array().unwrap().len(), 1, "{}", mine.text);
    assert_eq!(mine.data()[0]["status"], "Y", "{}", mine.text);
}
