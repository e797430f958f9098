//! `tickitecking bench` against a running instance: it sets up its own data through the
//! API, loads the service, and checks afterwards that no seat was sold twice (`webhook`:
//! that every order whose payment event was taken is paid, once; `checkin`: that every
//! ticket it was answered admitted is admitted, once; `queue`: that every fan got a place,
//! admission kept the room's rate, and only fans with a pass booked).

use std::time::Duration;

use tickitecking::bench::{BenchArgs, Outcome, Rate, Scenario, measure};
use tickitecking::config::{PaymentProvider, StripeSettings};

use crate::fake_stripe::FakeStripe;
use crate::helpers::{ADMIN_PASSWORD, TestApp};

fn args(app: &TestApp, scenario: Scenario) -> BenchArgs {
    BenchArgs {
        target: app.address.clone(),
        scenario,
        connections: 4,
        duration: Duration::from_millis(1600),
        warmup: Duration::from_millis(200),
        rate: None,
        peak_for: Duration::from_millis(600),
        ceiling: false,
        phase: Duration::from_millis(200),
        // A fan may hold 100 seats of a concert: 26 fans can buy all 2,600.
        fans: 26,
        mint_fans_in: None,
        checkout: "DIRECT".into(),
        // Enough seats that the run cannot sell out, so every phase is counted.
        concerts: Some(2),
        rush_seats: 10,
        orders: None,
        tickets: None,
        webhook_secret: None,
        admit_per_minute: 6000,
        admit_for: Duration::from_secs(20),
        admin_username: "admin".into(),
        admin_password: ADMIN_PASSWORD.into(),
        json: true,
    }
}

#[tokio::test]
async fn spread_with_its_ceiling_in_the_same_run_sells_every_seat_once() {
    let app = TestApp::spawn().await;
    let outcome =
        measure(BenchArgs { ceiling: true, ..args(&app, Scenario::Spread) }).await.expect("bench runs");
    let Outcome::Load(report) = outcome else { panic!("a load report, got {outcome:?}") };

    let verified = report.verification.as_ref().expect("spread is verified");
    assert!(verified.ok, "{verified:?}");
    assert_eq!(verified.seats_sold_twice, 0);
    assert!(verified.confirmed > 0 && verified.confirmed_found_active == verified.confirmed);
    assert_eq!(report.statuses.keys().copied().collect::<Vec<_>>(), vec![201], "only bookings counted");

    // 1.6 s of 0.2 s phases: four of spread, each followed by one of /health.
    let ceiling = report.ceiling.as_ref().expect("the ceiling was measured");
    assert_eq!(ceiling.pairs, 4);
    assert_eq!(ceiling.pair_ratios.len(), 4);
    assert!(ceiling.requests_per_second > 0.0 && ceiling.ratio > 0.0, "{ceiling:?}");
    // The scenario's rates are per second of its own counted time (0.18 s of each phase).
    assert!((report.seconds - 4.0 * 0.18).abs() < 1e-6, "{}", report.seconds);
    let own_rate = report.requests as f64 / report.seconds;
    assert!((own_rate - report.requests_per_second).abs() < 1e-6);
    let ratio = report.requests_per_second / ceiling.requests_per_second;
    assert!((ratio - ceiling.ratio).abs() < 1e-9, "{ratio} vs {}", ceiling.ratio);
    // The group commit's waits in the same seconds, from the service's own metrics (other
    // tests of this process book too, so only lower bounds hold).
    match (crate::backend::name(), &report.durability) {
        ("sqlite", Some(waits)) => {
            assert!(waits.fsyncs > 0 && waits.batches > 0, "{waits:?}");
            assert!(waits.fsync_seconds > 0.0 && waits.fsync_p99_ms_at_most > 0.0, "{waits:?}");
        }
        ("sqlite", None) => panic!("no durability figures from the embedded database"),
        (_, waits) => assert!(waits.is_none(), "PostgreSQL has no group commit: {waits:?}"),
    }
    app.stop().await;
}

#[tokio::test]
async fn spread_on_payment_concerts_holds_every_seat_once() {
    let app = TestApp::spawn().await;
    let outcome = measure(BenchArgs { checkout: "PAYMENT".into(), ..args(&app, Scenario::Spread) })
        .await
        .expect("bench runs");
    let Outcome::Load(report) = outcome else { panic!("a load report, got {outcome:?}") };
    let verified = report.verification.as_ref().expect("spread is verified");
    assert!(verified.ok && verified.confirmed > 0, "{verified:?}");
    // Every booking made a pending order of its fan's.
    let admin = app.admin_token().await;
    let held = app.get("/api/v1/admin/reservations", Some(&admin)).await;
    let held: Vec<_> = held.data().as_array().unwrap().iter().filter(|r| r["status"] == "H").collect();
    assert_eq!(held.len(), verified.confirmed);
    app.stop().await;
}

#[tokio::test]
async fn an_open_loop_at_a_share_of_the_peak_measures_the_peak_first_in_the_same_run() {
    let app = TestApp::spawn().await;
    let half = BenchArgs { rate: Some(Rate::OfPeak(0.5)), ..args(&app, Scenario::Spread) };
    let Outcome::Load(report) = measure(half).await.expect("bench runs") else { panic!("a load report") };

    let peak = report.peak_per_second.expect("the peak was measured");
    assert!(peak > 0.0);
    assert!(report.mode.contains("50% of a closed-loop peak"), "{}", report.mode);
    // An open loop never sends more than it offers (give or take each connection's first).
    let slack = 4.0 / report.seconds;
    assert!(report.requests_per_second <= 0.5 * peak + slack, "{} of {peak}", report.requests_per_second);
    // The peak run's bookings are verified with the rest, on seats of their own: every
    // active reservation of the run's concerts is one the bench was confirmed.
    let verified = report.verification.as_ref().expect("spread is verified");
    assert!(verified.ok && verified.seats_sold_twice == 0, "{verified:?}");
    assert_eq!(report.transport_errors, 0);
    assert_eq!(verified.active_reservations, verified.confirmed, "{verified:?}");
    app.stop().await;
}

const STRIPE_KEY: &str = "sk_test_bench";
const WEBHOOK_SECRET: &str = "whsec_bench";

/// A service paid through Stripe: the local Stripe stands in for its API.
async fn stripe_service() -> (TestApp, FakeStripe) {
    let stripe = FakeStripe::start(STRIPE_KEY, WEBHOOK_SECRET).await;
    let base = stripe.base_url().to_owned();
    let app = TestApp::spawn_with(move |config| {
        config.payments.provider = PaymentProvider::Stripe;
        config.payments.stripe = Some(StripeSettings {
            secret_key: STRIPE_KEY.into(),
            webhook_secret: WEBHOOK_SECRET.into(),
            api_base: base,
        });
    })
    .await;
    (app, stripe)
}

#[tokio::test]
async fn webhook_events_pay_each_held_order_once() {
    let (app, stripe) = stripe_service().await;
    let webhook = BenchArgs {
        webhook_secret: Some(WEBHOOK_SECRET.into()),
        // Over one concert: the run may pay them all before its time is up.
        orders: Some(3000),
        concerts: None,
        ..args(&app, Scenario::Webhook)
    };
    let Outcome::Load(report) = measure(webhook).await.expect("bench runs") else { panic!("a load report") };

    let payments = report.payments.as_ref().expect("webhook is verified");
    assert!(payments.ok, "{payments:?}");
    assert!(payments.taken > 0 && payments.not_taken == 0, "{payments:?}");
    assert_eq!(report.transport_errors, 0);
    assert_eq!(report.statuses.keys().copied().collect::<Vec<_>>(), vec![200], "only events taken");
    // The service's own count: as many orders paid as events taken, the rest still held.
    assert_eq!(payments.paid_orders, payments.taken as i64);
    assert_eq!(payments.pending_orders, 3000 - payments.taken as i64);
    assert_eq!(payments.sampled, payments.sampled_paid_once);
    assert!(payments.sampled > 0 && payments.sampled <= 300, "{payments:?}");
    // Every held seat of a paid order is now the fan's; the amounts matched, so Stripe's
    // API was never called (no refund, nothing to call off).
    let admin = app.admin_token().await;
    let listed = app.get("/api/v1/admin/reservations", Some(&admin)).await;
    let reservations = listed.data().as_array().unwrap();
    let confirmed = reservations.iter().filter(|r| r["status"] == "Y").count();
    let held = reservations.iter().filter(|r| r["status"] == "H").count();
    assert_eq!((confirmed, held), (payments.taken, 3000 - payments.taken));
    assert!(stripe.requests().is_empty(), "{:?}", stripe.requests());
    app.stop().await;
}

#[tokio::test]
async fn webhook_refuses_to_run_without_stripe_or_with_another_secret() {
    let (app, _stripe) = stripe_service().await;
    let no_secret = measure(args(&app, Scenario::Webhook)).await.expect_err("refused");
    assert!(no_secret.to_string().contains("--webhook-secret"), "{no_secret}");
    let other = BenchArgs { webhook_secret: Some("whsec_other".into()), ..args(&app, Scenario::Webhook) };
    let other = measure(other).await.expect_err("refused");
    assert!(other.to_string().contains("refused a signed event"), "{other}");
    app.stop().await;

    let app = TestApp::spawn().await;
    let no_stripe =
        BenchArgs { webhook_secret: Some(WEBHOOK_SECRET.into()), ..args(&app, Scenario::Webhook) };
    let no_stripe = measure(no_stripe).await.expect_err("refused");
    assert!(no_stripe.to_string().contains("PAYMENT_PROVIDER=stripe"), "{no_stripe}");
    app.stop().await;
}

#[tokio::test]
async fn checkin_scans_admit_each_ticket_once_and_the_door_counts_exactly_those() {
    let app = TestApp::spawn().await;
    // Over two concerts (a row and a few tickets more than one holds): the run may scan
    // them all before its time is up.
    let checkin =
        BenchArgs { tickets: Some(2_700), concerts: None, ceiling: true, ..args(&app, Scenario::Checkin) };
    let Outcome::Load(report) = measure(checkin).await.expect("bench runs") else { panic!("a load report") };

    let admissions = report.admissions.as_ref().expect("checkin is verified");
    assert!(admissions.ok, "{admissions:?}");
    assert_eq!((admissions.tickets, admissions.door_total), (2_700, 2_700));
    assert!(admissions.admitted > 0 && admissions.not_admitted == 0, "{admissions:?}");
    assert_eq!(report.transport_errors, 0);
    assert_eq!(admissions.door_admitted, admissions.admitted as i64);
    assert!(admissions.sampled > 0 && admissions.sampled <= 300, "{admissions:?}");
    assert_eq!(admissions.sampled_refused, admissions.sampled);
    assert_eq!(report.statuses.keys().copied().collect::<Vec<_>>(), vec![200], "only admissions");
    assert!(report.ceiling.as_ref().is_some_and(|c| c.requests_per_second > 0.0), "{:?}", report.ceiling);
    // The door's own records: one admission per ticket answered, by the run's four
    // scanners (one per connection), and the sample's second scans refused.
    let admin = app.admin_token().await;
    let concerts = app.get("/api/v1/concerts?size=100", None).await;
    let concerts: Vec<i64> =
        concerts.data()["content"].as_array().unwrap().iter().map(|c| c["id"].as_i64().unwrap()).collect();
    assert_eq!(concerts.len(), 2, "{concerts:?}");
    let (mut admitted, mut refused) = (Vec::new(), Vec::new());
    for concert in concerts {
        for (result, scans) in [("ADMITTED", &mut admitted), ("ALREADY_CHECKED_IN", &mut refused)] {
            let listed =
                app.get(&format!("/api/v1/concerts/{concert}/checkins?result={result}"), Some(&admin)).await;
            listed.assert_status(200);
            scans.extend(listed.data().as_array().unwrap().clone());
        }
    }
    assert_eq!(admitted.len(), admissions.admitted);
    let tickets: std::collections::HashSet<_> = admitted.iter().map(|s| s["ticketId"].as_i64()).collect();
    assert_eq!(tickets.len(), admitted.len(), "a ticket admitted twice");
    let devices: std::collections::BTreeSet<_> =
        admitted.iter().map(|s| s["deviceId"].as_str().unwrap()).collect();
    assert_eq!(devices.into_iter().collect::<Vec<_>>(), ["bench-1", "bench-2", "bench-3", "bench-4"]);
    assert_eq!(refused.len(), admissions.sampled);
    assert!(refused.iter().all(|s| s["deviceId"] == "bench-verify"), "{refused:?}");
    app.stop().await;
}

#[tokio::test]
async fn queue_places_every_fan_once_admits_at_the_rate_and_only_passes_book() {
    let app = TestApp::spawn().await;
    // On SQLite the fans are written straight into the database (as `--mint-fans` does for
    // rooms of 100,000); their tokens must work like signed-in ones.
    let sqlite = app.dir.path().join("tickitecking.db").exists();
    let queue = BenchArgs {
        fans: 120,
        mint_fans_in: sqlite.then(|| app.dir.path().to_path_buf()),
        ceiling: true,
        // A second's ticks let every fan in: 1,000 a second.
        admit_per_minute: 60_000,
        admit_for: Duration::from_secs(2),
        concerts: None,
        ..args(&app, Scenario::Queue)
    };
    let Outcome::Load(report) = measure(queue).await.expect("bench runs") else { panic!("a load report") };

    let run = report.queue.as_ref().expect("queue reports its phases");
    assert!(run.ok(), "{run:#?}");
    let joins = &run.joins;
    assert_eq!((joins.created, joins.room_joined), (120, 120), "{joins:?}");
    assert!(joins.joins_per_second > 0.0 && joins.transport_errors == 0, "{joins:?}");
    assert!(joins.sampled > 0 && joins.sampled_same == joins.sampled, "{joins:?}");
    assert!(joins.spare_seconds > 0.0, "the joins ran into the opening of sales: {joins:?}");
    assert!(joins.resident_after_bytes > 0, "{joins:?}");
    // The status reads are the run's load: every one answered 200, beside /health.
    assert_eq!(report.statuses.keys().copied().collect::<Vec<_>>(), vec![200], "only places read");
    assert!(report.ceiling.as_ref().is_some_and(|c| c.ratio > 0.0), "{:?}", report.ceiling);
    let admission = &run.admission;
    assert_eq!(admission.admitted, 120, "{admission:?}");
    assert!((admission.accuracy_percent - 100.0).abs() < 1e-9, "{admission:?}");
    assert_eq!((admission.bookings, admission.bookings_refused), (120, 0), "{admission:?}");
    assert_eq!((admission.passless_status, admission.passless_code.as_str()), (403, "QUEUE_PASS_REQUIRED"));
    assert_eq!(admission.verification.active_reservations, 120, "{admission:?}");
    assert_eq!(admission.verification.seats_sold_twice, 0);
    app.stop().await;
}

#[test]
fn a_rate_is_requests_per_second_or_a_share_of_the_peak() {
    assert_eq!(Rate::parse("5000"), Ok(Rate::PerSecond(5000.0)));
    assert_eq!(Rate::parse("50%"), Ok(Rate::OfPeak(0.5)));
    assert_eq!(Rate::parse("100%"), Ok(Rate::OfPeak(1.0)));
    for wrong in ["0", "-3", "0%", "150%", "half", "%", "NaN", "inf"] {
        assert!(Rate::parse(wrong).is_err(), "{wrong} accepted");
    }
}

#[tokio::test]
async fn runs_that_cannot_measure_what_they_claim_are_refused() {
    let app = TestApp::spawn().await;
    for scenario in [Scenario::Health, Scenario::Footprint] {
        let err = measure(BenchArgs { ceiling: true, ..args(&app, scenario) }).await.expect_err("refused");
        assert!(err.to_string().contains("--ceiling"), "{err}");
    }
    // A run too short for one pair of phases would have nothing to compare.
    let short =
        BenchArgs { ceiling: true, duration: Duration::from_millis(300), ..args(&app, Scenario::Spread) };
    let err = measure(short).await.expect_err("refused");
    assert!(err.to_string().contains("two phases"), "{err}");
    // Four fans could buy 400 of a concert's 2,600 seats: spread would be refusals.
    let err = measure(BenchArgs { fans: 4, ..args(&app, Scenario::Spread) }).await.expect_err("refused");
    assert!(err.to_string().contains("--fans 26"), "{err}");
    // Checkin books each row of a concert for one fan: 26 rows need 26 fans.
    let few = BenchArgs { fans: 10, tickets: Some(100), ..args(&app, Scenario::Checkin) };
    let err = measure(few).await.expect_err("refused");
    assert!(err.to_string().contains("--fans 26"), "{err}");
    app.stop().await;
}
