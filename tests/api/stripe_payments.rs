//! Paying through Stripe, against the faithful local Stripe of `fake_stripe`: a hold is paid
//! on Stripe's page and confirmed by the signed `checkout.session.completed` webhook, each
//! event processed once; bad signatures change nothing; money that no order can keep goes
//! back; late payments and cancelled paid seats are refunded through the Refunds API.

use serde_json::{Value, json};
use tickitecking::config::{PaymentProvider, StripeSettings};

use crate::fake_stripe::FakeStripe;
use crate::helpers::TestApp;

const KEY: &str = "sk_test_tickitecking";
const WEBHOOK_SECRET: &str = "whsec_tickitecking";
const WEBHOOK: &str = "/api/v1/payments/stripe/webhook";

async fn service() -> (TestApp, FakeStripe) {
    let stripe = FakeStripe::start(KEY, WEBHOOK_SECRET).await;
    let base = stripe.base_url().to_owned();
    let app = TestApp::spawn_with(move |config| {
        config.payments.provider = PaymentProvider::Stripe;
        config.payments.stripe = Some(StripeSettings {
            secret_key: KEY.into(),
            webhook_secret: WEBHOOK_SECRET.into(),
            api_base: base,
        });
    })
    .await;
    (app, stripe)
}

/// A `PAYMENT` concert in EUR (two rows of five at 25.50) and its promoter's token.
async fn concert(app: &TestApp) -> (String, i64) {
    let (_, promoter) = app.promoter("stripe-promoter").await;
    let hall = app
        .post(
            "/api/v1/auditoriums",
            &json!({"name": "Hall", "address": "x", "maxRow": "B", "maxColumn": 5}),
            Some(&promoter),
        )
        .await;
    let body = json!({
        "name": "Card only", "startTime": "2099-01-01T19:00:00Z", "auditoriumId": hall.data()["id"],
        "checkout": "PAYMENT", "currency": "EUR",
        "seatPrices": [{"grade": "R", "price": 25.5}], "seatList": [{"horizontals": ["A", "B"], "grade": "R"}],
    });
    let created = app.post("/api/v1/concerts", &body, Some(&promoter)).await;
    created.assert_status(201);
    (promoter, created.data()["id"].as_i64().unwrap())
}

/// A fan's hold of `seats` (as `[row, number]`) and the payment started: `(token, order,
/// session id)`.
async fn held_and_started(
    app: &TestApp,
    concert: i64,
    fan: &str,
    seats: &[(&str, u32)],
) -> (String, i64, String) {
    let (_, token) = app.fan(fan).await;
    let seats: Vec<Value> = seats.iter().map(|(h, v)| json!({"horizontal": h, "vertical": v})).collect();
    let held = app
        .post(&format!("/api/v1/concerts/{concert}/reservations"), &json!({ "seats": seats }), Some(&token))
        .await;
    held.assert_status(201);
    let order = held.data()["reservations"][0]["orderId"].as_i64().unwrap();
    let pay = app.post(&format!("/api/v1/orders/{order}/payment"), &json!({}), Some(&token)).await;
    pay.assert_status(200);
    assert_eq!(pay.data()["provider"], "stripe");
    let url = pay.data()["redirectUrl"].as_str().unwrap().to_owned();
    let session = url.rsplit('/').next().unwrap().to_owned();
    (token, order, session)
}

async fn order(app: &TestApp, token: &str, id: i64) -> Value {
    app.get(&format!("/api/v1/orders/{id}"), Some(token)).await.data().clone()
}

#[tokio::test]
async fn a_hold_paid_on_stripes_page_is_confirmed_by_the_signed_webhook_once() {
    let (app, stripe) = service().await;
    let (_, concert) = concert(&app).await;
    let (fan, id, session) = held_and_started(&app, concert, "card-fan", &[("A", 1), ("A", 2)]).await;
    // The session Stripe was asked for: the order's total in cents, the order named.
    let created = stripe.session(&session).expect("a Checkout Session");
    assert_eq!(created["amount_total"], 5100);
    assert_eq!(created["currency"], "eur");
    assert_eq!(created["metadata"]["order_id"], id.to_string());
    assert_eq!(created["client_reference_id"], id.to_string());
    // Asked again: the same payment, no second session.
    let again = app.post(&format!("/api/v1/orders/{id}/payment"), &json!({}), Some(&fan)).await;
    assert!(again.data()["redirectUrl"].as_str().unwrap().ends_with(&session));
    assert_eq!(stripe.sessions().len(), 1);

    let event = stripe.complete(&session);
    let url = app.url(WEBHOOK);
    let delivered = stripe.deliver(&url, &event).await;
    assert_eq!(delivered.status(), 200);
    let paid = order(&app, &fan, id).await;
    assert_eq!(paid["status"], "PAID");
    assert_eq!(paid["payment"]["status"], "SUCCEEDED");
    assert!(paid["reservations"].as_array().unwrap().iter().all(|r| r["status"] == "Y"));
    // The same event again, twice at once: 200, nothing changes.
    let (a, b) = tokio::join!(stripe.deliver(&url, &event), stripe.deliver(&url, &event));
    assert_eq!((a.status(), b.status()), (reqwest::StatusCode::OK, reqwest::StatusCode::OK));
    assert_eq!(order(&app, &fan, id).await["history"], paid["history"]);
}

#[tokio::test]
async fn a_webhook_with_a_bad_old_or_missing_signature_changes_nothing() {
    let (app, stripe) = service().await;
    let (_, concert) = concert(&app).await;
    let (fan, id, session) = held_and_started(&app, concert, "forged", &[("B", 1)]).await;
    let event = stripe.complete(&session);
    let body = serde_json::to_vec(&event).unwrap();
    let now = chrono::Utc::now().timestamp();
    let post = |signature: Option<String>| {
        let mut request =
            app.client.post(app.url(WEBHOOK)).header("content-type", "application/json").body(body.clone());
        if let Some(signature) = signature {
            request = request.header("Stripe-Signature", signature);
        }
        request.send()
    };
    let forged = format!("t={now},v1={}", "0".repeat(64));
    let old = stripe.sign(&body, now - 600);
    for signature in [None, Some(forged), Some(old), Some("garbage".to_owned())] {
        let refused = post(signature.clone()).await.unwrap();
        assert_eq!(refused.status(), 400, "{signature:?}");
    }
    // Signed for another body: refused too.
    let mut tampered = event.clone();
    tampered["data"]["object"]["amount_total"] = json!(1);
    let other = stripe.sign(&serde_json::to_vec(&tampered).unwrap(), now);
    assert_eq!(post(Some(other)).await.unwrap().status(), 400);
    assert_eq!(order(&app, &fan, id).await["status"], "PENDING_PAYMENT");
    // An unknown provider has no webhook.
    let unknown =
        app.client.post(app.url("/api/v1/payments/paypal/webhook")).body("{}").send().await.unwrap();
    assert_eq!(unknown.status(), 404);
}

#[tokio::test]
async fn money_no_order_can_keep_goes_back_and_is_recorded() {
    let (app, stripe) = service().await;
    let (_, concert) = concert(&app).await;
    let (fan, id, session) = held_and_started(&app, concert, "odd-amount", &[("A", 3)]).await;
    let event = stripe.complete(&session);
    // The wrong amount for the order: refunded, the order untouched.
    let mut wrong = event.clone();
    wrong["id"] = json!("evt_wrong_amount");
    wrong["data"]["object"]["amount_total"] = json!(100);
    assert_eq!(stripe.deliver(&app.url(WEBHOOK), &wrong).await.status(), 200);
    assert_eq!(order(&app, &fan, id).await["status"], "PENDING_PAYMENT");
    // A payment for an order that does not exist: refunded.
    let (_, _, other_session) = held_and_started(&app, concert, "ghost", &[("B", 2)]).await;
    let mut unknown = stripe.complete(&other_session);
    unknown["id"] = json!("evt_unknown_order");
    unknown["data"]["object"]["metadata"]["order_id"] = json!("999999");
    unknown["data"]["object"]["client_reference_id"] = json!("999999");
    assert_eq!(stripe.deliver(&app.url(WEBHOOK), &unknown).await.status(), 200);
    let refunds = stripe.refunds();
    assert_eq!(refunds.len(), 2, "{refunds:#?}");
    // Delivered again: nothing refunded twice.
    stripe.deliver(&app.url(WEBHOOK), &unknown).await;
    assert_eq!(stripe.refunds().len(), 2);
}

#[tokio::test]
async fn a_payment_after_the_seats_were_taken_is_refunded_and_a_cancelled_paid_seat_too() {
    let (app, stripe) = service().await;
    let (promoter, concert) = concert(&app).await;
    let (late, id, session) = held_and_started(&app, concert, "too-late", &[("A", 5)]).await;
    // The fan pays at the last instant; before Stripe's notice arrives the hold ends, the
    // sweeper frees the seat (the session, paid, cannot be called off) and another fan
    // takes it.
    let event = stripe.complete(&session);
    app.end_hold(id).await;
    let mut freed = false;
    for _ in 0..100 {
        if order(&app, &late, id).await["status"] == "EXPIRED" {
            freed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(freed, "the sweeper expired the hold");
    let (_, quick) = app.fan("quick").await;
    let taken = app
        .post(
            &format!("/api/v1/concerts/{concert}/reservations"),
            &json!({"horizontal": "A", "vertical": 5}),
            Some(&quick),
        )
        .await;
    taken.assert_status(201);
    // The late payment's notice arrives: refunded, and the order says why.
    assert_eq!(stripe.deliver(&app.url(WEBHOOK), &event).await.status(), 200);
    let refunded = order(&app, &late, id).await;
    assert_eq!(refunded["status"], "REFUNDED");
    assert_eq!(refunded["reason"], "EXPIRED_BEFORE_PAYMENT");
    let refunds = stripe.refunds();
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0]["amount"], 2550);
    assert_eq!(refunds[0]["payment_intent"], event["data"]["object"]["payment_intent"]);

    // A paid seat cancelled by its promoter's admin: its price goes back through Stripe.
    let (fan, paid_id, paid_session) =
        held_and_started(&app, concert, "refunded-fan", &[("B", 4), ("B", 5)]).await;
    let paid_event = stripe.complete(&paid_session);
    stripe.deliver(&app.url(WEBHOOK), &paid_event).await;
    let paid = order(&app, &fan, paid_id).await;
    assert_eq!(paid["status"], "PAID");
    let reservation = paid["reservations"][0]["reservationId"].as_i64().unwrap();
    let _ = promoter;
    app.delete(&format!("/api/v1/concerts/{concert}/reservations/{reservation}"), Some(&fan))
        .await
        .assert_status(200);
    let mut sent = false;
    for _ in 0..100 {
        if stripe.refunds().len() == 2 {
            sent = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(sent, "the seat's refund reached Stripe");
    assert_eq!(stripe.refunds()[1]["amount"], 2550);
    let partly = order(&app, &fan, paid_id).await;
    assert_eq!(partly["status"], "PARTIALLY_REFUNDED");
    // Stripe delivers the paying event once more after all that: taken (200), nothing
    // changes — the event was processed before, whatever became of its order since.
    assert_eq!(stripe.deliver(&app.url(WEBHOOK), &paid_event).await.status(), 200);
    assert_eq!(order(&app, &fan, paid_id).await, partly);
    assert_eq!(stripe.refunds().len(), 2);
}
