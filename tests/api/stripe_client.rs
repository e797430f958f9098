//! The Stripe client against the fake Stripe: what each call sends, and how Stripe's
//! answers (idempotent replays, refusals, outages) come back typed.

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};
use tickitecking::payment::stripe::{
    ApiError, CheckoutRequest, ErrorKind, EventData, PaymentStatus, RefundStatus, SessionStatus,
    StripeClient, StripeError, parse_event, session_expires_at, verify_signature,
};
use tokio::sync::mpsc;

use crate::fake_stripe::FakeStripe;

const KEY: &str = "sk_test_51FakeTickitecking0000000000";
const WEBHOOK_SECRET: &str = "whsec_fake0000000000000000000000";

async fn stripe() -> (FakeStripe, StripeClient) {
    let fake = FakeStripe::start(KEY, WEBHOOK_SECRET).await;
    let client = StripeClient::new(fake.base_url().to_owned(), KEY.to_owned()).unwrap();
    (fake, client)
}

/// Order 7: 150,000 won, its hold ending at `hold_ends`.
fn order(hold_ends: DateTime<Utc>) -> CheckoutRequest<'static> {
    CheckoutRequest {
        order_id: 7,
        amount: 150_000,
        currency: "KRW",
        description: "Spring Gala — 2 seats",
        customer_email: Some("fan@example.com"),
        success_url: "https://tickets.example/orders/7?session={CHECKOUT_SESSION_ID}",
        cancel_url: "https://tickets.example/orders/7",
        expires_at: hold_ends,
    }
}

fn hold_of_ten_minutes() -> DateTime<Utc> {
    Utc::now() + TimeDelta::minutes(10)
}

/// The status and Stripe's error object of a refused call.
#[track_caller]
fn refused(error: StripeError) -> (StatusCode, ApiError) {
    match error {
        StripeError::Api { status, error, .. } => (status, error),
        other => panic!("expected Stripe's refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_checkout_session_carries_the_order_its_amount_and_its_urls_to_stripe() {
    let (fake, client) = stripe().await;
    let hold_ends = hold_of_ten_minutes();
    let session = client.create_checkout_session(&order(hold_ends)).await.unwrap();

    assert!(session.id.starts_with("cs_test_"), "{}", session.id);
    assert_eq!(session.url.as_deref(), Some(format!("{}/c/pay/{}", fake.base_url(), session.id).as_str()));
    assert_eq!((session.status, session.payment_status), (SessionStatus::Open, PaymentStatus::Unpaid));
    assert_eq!(session.payment_intent, None);
    assert_eq!((session.amount_total, session.currency.as_str()), (150_000, "krw"));
    // Stripe wants at least 30 minutes; the service expires it itself when the hold ends.
    assert_eq!(session.expires_at.timestamp(), session_expires_at(hold_ends, Utc::now()).timestamp());
    assert!(session.expires_at > Utc::now() + TimeDelta::minutes(30));

    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    let sent = &requests[0];
    assert_eq!((sent.method.as_str(), sent.path.as_str()), ("POST", "/v1/checkout/sessions"));
    assert_eq!(sent.header("authorization"), Some(format!("Bearer {KEY}").as_str()));
    assert_eq!(sent.header("idempotency-key"), Some("order-7-checkout"));
    assert_eq!(sent.header("content-type"), Some("application/x-www-form-urlencoded"));
    let expected = [
        ("mode", "payment"),
        ("line_items[0][price_data][currency]", "krw"),
        ("line_items[0][price_data][unit_amount]", "150000"),
        ("line_items[0][price_data][product_data][name]", "Spring Gala — 2 seats"),
        ("line_items[0][quantity]", "1"),
        ("client_reference_id", "7"),
        ("metadata[order_id]", "7"),
        ("payment_intent_data[metadata][order_id]", "7"),
        ("success_url", "https://tickets.example/orders/7?session={CHECKOUT_SESSION_ID}"),
        ("cancel_url", "https://tickets.example/orders/7"),
        ("customer_email", "fan@example.com"),
    ];
    for (key, value) in expected {
        assert_eq!(sent.param(key), Some(value), "{key}");
    }
    assert_eq!(sent.param("expires_at"), Some(session.expires_at.timestamp().to_string().as_str()));
    assert_eq!(sent.form.len(), expected.len() + 1, "nothing else: {:?}", sent.form);

    let stored = fake.session(&session.id).unwrap();
    assert_eq!(stored["object"], "checkout.session");
    assert_eq!(stored["mode"], "payment");
    assert_eq!(stored["metadata"], json!({"order_id": "7"}));
    assert_eq!(stored["client_reference_id"], "7");
    assert_eq!(stored["customer_email"], "fan@example.com");
    assert_eq!(stored["amount_total"], 150_000);
    assert_eq!(stored["currency"], "krw");
    assert_eq!(stored["expires_at"], session.expires_at.timestamp());

    let page = reqwest::get(session.url.unwrap()).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("150000 KRW"));
}

#[tokio::test]
async fn a_repeated_checkout_for_an_order_answers_the_same_session() {
    let (fake, client) = stripe().await;
    let hold_ends = hold_of_ten_minutes();
    let first = client.create_checkout_session(&order(hold_ends)).await.unwrap();
    let again = client.create_checkout_session(&order(hold_ends)).await.unwrap();
    assert_eq!(first, again);
    assert_eq!(fake.sessions().len(), 1);
}

#[tokio::test]
async fn a_checkout_for_the_same_order_with_another_amount_is_an_idempotency_error() {
    let (fake, client) = stripe().await;
    let hold_ends = hold_of_ten_minutes();
    client.create_checkout_session(&order(hold_ends)).await.unwrap();
    let changed = CheckoutRequest { amount: 1, ..order(hold_ends) };
    let error = client.create_checkout_session(&changed).await.unwrap_err();
    assert!(!error.is_retryable());
    let (status, api) = refused(error);
    assert_eq!((status, api.kind), (StatusCode::BAD_REQUEST, ErrorKind::IdempotencyError));
    assert_eq!(fake.sessions().len(), 1);
}

#[tokio::test]
async fn stripe_refuses_a_session_expiring_within_30_minutes_or_after_24_hours() {
    let fake = FakeStripe::start(KEY, WEBHOOK_SECRET).await;
    let post = |form: Vec<(&'static str, String)>| {
        reqwest::Client::new()
            .post(format!("{}/v1/checkout/sessions", fake.base_url()))
            .bearer_auth(KEY)
            .form(&form)
            .send()
    };
    let form = |expires_in: TimeDelta| {
        vec![
            ("mode", "payment".to_owned()),
            ("line_items[0][price_data][currency]", "usd".to_owned()),
            ("line_items[0][price_data][unit_amount]", "500".to_owned()),
            ("line_items[0][price_data][product_data][name]", "Seat".to_owned()),
            ("line_items[0][quantity]", "1".to_owned()),
            ("success_url", "https://example.com/ok".to_owned()),
            ("expires_at", (Utc::now() + expires_in).timestamp().to_string()),
        ]
    };
    for expires_in in [TimeDelta::minutes(10), TimeDelta::hours(25)] {
        let answer = post(form(expires_in)).await.unwrap();
        assert_eq!(answer.status(), 400);
        let body: Value = answer.json().await.unwrap();
        assert_eq!(body["error"]["type"], "invalid_request_error");
        assert_eq!(body["error"]["param"], "expires_at", "{body}");
    }
    assert_eq!(post(form(TimeDelta::minutes(31))).await.unwrap().status(), 200);

    let mut without_mode = form(TimeDelta::hours(1));
    without_mode.remove(0);
    let body: Value = post(without_mode).await.unwrap().json().await.unwrap();
    assert_eq!(
        (body["error"]["code"].as_str(), body["error"]["param"].as_str()),
        (Some("parameter_missing"), Some("mode"))
    );
    let mut unknown = form(TimeDelta::hours(1));
    unknown.push(("line_items[0][colour]", "red".to_owned()));
    let body: Value = post(unknown).await.unwrap().json().await.unwrap();
    assert_eq!(body["error"]["code"], "parameter_unknown");
    assert_eq!(body["error"]["param"], "line_items[0][colour]");
}

#[tokio::test]
async fn a_paid_session_reads_back_complete_with_its_payment() {
    let (fake, client) = stripe().await;
    let session = client.create_checkout_session(&order(hold_of_ten_minutes())).await.unwrap();
    let event = fake.complete(&session.id);

    let paid = client.retrieve_checkout_session(&session.id).await.unwrap();
    assert_eq!((paid.status, paid.payment_status), (SessionStatus::Complete, PaymentStatus::Paid));
    assert_eq!(paid.url, None);
    let payment_intent = paid.payment_intent.clone().unwrap();
    assert!(payment_intent.starts_with("pi_"));
    assert_eq!(fake.payment(&payment_intent).unwrap()["metadata"], json!({"order_id": "7"}));
    let fetched = fake.requests().pop().unwrap();
    assert_eq!((fetched.method.as_str(), fetched.header("idempotency-key")), ("GET", None));

    let parsed = parse_event(&serde_json::to_vec(&event).unwrap()).unwrap();
    assert!(parsed.id.starts_with("evt_"));
    assert_eq!(parsed.kind, "checkout.session.completed");
    let EventData::CheckoutCompleted(done) = parsed.data else { panic!("{parsed:?}") };
    assert_eq!(done.session_id, session.id);
    assert_eq!(done.order_id, Some(7));
    assert_eq!((done.amount_total, done.currency.as_str()), (150_000, "krw"));
    assert_eq!(done.payment_intent, Some(payment_intent));
    assert!(done.is_paid());
}

#[tokio::test]
async fn a_refund_returns_part_of_a_payment_and_never_more_than_is_left() {
    let (fake, client) = stripe().await;
    let session = client.create_checkout_session(&order(hold_of_ten_minutes())).await.unwrap();
    fake.complete(&session.id);
    let payment = client.retrieve_checkout_session(&session.id).await.unwrap().payment_intent.unwrap();

    let refund = client.create_refund(&payment, 50_000, "order-7-seat-1-refund").await.unwrap();
    assert!(refund.id.starts_with("re_"));
    assert_eq!(
        (refund.status, refund.amount, refund.currency.as_str()),
        (RefundStatus::Succeeded, 50_000, "krw")
    );
    let sent = fake.requests().pop().unwrap();
    assert_eq!((sent.method.as_str(), sent.path.as_str()), ("POST", "/v1/refunds"));
    assert_eq!(sent.header("idempotency-key"), Some("order-7-seat-1-refund"));
    assert_eq!((sent.param("payment_intent"), sent.param("amount")), (Some(payment.as_str()), Some("50000")));

    let too_much = client.create_refund(&payment, 100_001, "order-7-seat-2-refund").await.unwrap_err();
    let (status, api) = refused(too_much);
    assert_eq!((status, api.kind), (StatusCode::BAD_REQUEST, ErrorKind::InvalidRequestError));
    assert_eq!((api.code.as_deref(), api.param.as_deref()), (Some("amount_too_large"), Some("amount")));

    client.create_refund(&payment, 100_000, "order-7-seat-3-refund").await.unwrap();
    let again = client.create_refund(&payment, 1, "order-7-late-refund").await.unwrap_err();
    assert_eq!(refused(again).1.code.as_deref(), Some("charge_already_refunded"));
    assert_eq!(fake.payment(&payment).unwrap()["amount_refunded"], 150_000);
    assert_eq!(fake.refunds().len(), 2);
    let refunded: Vec<_> = fake.events().into_iter().filter(|e| e["type"] == "charge.refunded").collect();
    assert_eq!(refunded.last().unwrap()["data"]["object"]["refunded"], true);
}

#[tokio::test]
async fn a_retried_refund_refunds_once() {
    let (fake, client) = stripe().await;
    let session = client.create_checkout_session(&order(hold_of_ten_minutes())).await.unwrap();
    fake.complete(&session.id);
    let payment = client.retrieve_checkout_session(&session.id).await.unwrap().payment_intent.unwrap();
    let first = client.create_refund(&payment, 30_000, "order-7-refund-1").await.unwrap();
    let retried = client.create_refund(&payment, 30_000, "order-7-refund-1").await.unwrap();
    assert_eq!(first, retried);
    assert_eq!(fake.refunds().len(), 1);
    assert_eq!(fake.payment(&payment).unwrap()["amount_refunded"], 30_000);
}

#[tokio::test]
async fn a_wrong_secret_key_is_an_authentication_error() {
    let fake = FakeStripe::start(KEY, WEBHOOK_SECRET).await;
    let client =
        StripeClient::new(fake.base_url().to_owned(), "sk_test_51WrongKey00000000000".to_owned()).unwrap();
    let error = client.create_checkout_session(&order(hold_of_ten_minutes())).await.unwrap_err();
    assert!(!error.is_retryable());
    let StripeError::Authentication(api) = error else { panic!("{error:?}") };
    assert_eq!(api.kind, ErrorKind::InvalidRequestError);
    assert!(api.message.starts_with("Invalid API Key provided: sk_test_"), "{}", api.message);
    assert!(!api.message.contains("WrongKey"), "Stripe masks the key: {}", api.message);
    assert!(fake.sessions().is_empty());
}

#[tokio::test]
async fn an_expired_session_cannot_be_expired_again() {
    let (fake, client) = stripe().await;
    let session = client.create_checkout_session(&order(hold_of_ten_minutes())).await.unwrap();
    let expired = client.expire_checkout_session(&session.id).await.unwrap();
    assert_eq!((expired.status, expired.url.as_deref()), (SessionStatus::Expired, None));
    let sent = fake.requests().pop().unwrap();
    assert_eq!(sent.path, format!("/v1/checkout/sessions/{}/expire", session.id));
    assert_eq!(fake.events().last().unwrap()["type"], "checkout.session.expired");

    // The same call again (a retry) replays its answer; another caller's is refused.
    assert_eq!(client.expire_checkout_session(&session.id).await.unwrap(), expired);
    let refused_again = reqwest::Client::new()
        .post(format!("{}/v1/checkout/sessions/{}/expire", fake.base_url(), session.id))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(refused_again.status(), 400);
}

#[tokio::test]
async fn expiring_a_paid_session_fails_because_the_payment_came_first() {
    let (fake, client) = stripe().await;
    let session = client.create_checkout_session(&order(hold_of_ten_minutes())).await.unwrap();
    fake.complete(&session.id);
    let error = client.expire_checkout_session(&session.id).await.unwrap_err();
    let (status, api) = refused(error);
    assert_eq!((status, api.kind), (StatusCode::BAD_REQUEST, ErrorKind::InvalidRequestError));
    assert!(api.message.contains("status of `complete`"), "{}", api.message);
}

#[tokio::test]
async fn an_unknown_session_is_missing() {
    let (_fake, client) = stripe().await;
    let (status, api) = refused(client.retrieve_checkout_session("cs_test_nope").await.unwrap_err());
    assert_eq!((status, api.code.as_deref()), (StatusCode::NOT_FOUND, Some("resource_missing")));
}

#[tokio::test]
async fn an_outage_is_retryable_and_the_retry_creates_one_session() {
    let (fake, client) = stripe().await;
    let hold_ends = hold_of_ten_minutes();
    fake.fail_next(1);
    let error = client.create_checkout_session(&order(hold_ends)).await.unwrap_err();
    assert!(matches!(error, StripeError::Server { .. }), "{error:?}");
    assert_eq!(error.api_error().map(|e| e.kind), Some(ErrorKind::ApiError));
    assert!(error.is_retryable());
    client.create_checkout_session(&order(hold_ends)).await.unwrap();
    assert_eq!(fake.sessions().len(), 1);
}

#[tokio::test]
async fn an_unreachable_stripe_is_a_retryable_network_error() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = closed.local_addr().unwrap();
    drop(closed);
    let client = StripeClient::new(format!("http://{address}"), KEY.to_owned()).unwrap();
    let error = client.retrieve_checkout_session("cs_test_1").await.unwrap_err();
    assert!(matches!(error, StripeError::Network(_)), "{error:?}");
    assert!(error.is_retryable());
}

/// A webhook endpoint that checks deliveries the way the service will, and passes on the
/// events it accepted.
async fn webhook_endpoint(secret: &str) -> (String, mpsc::UnboundedReceiver<EventData>) {
    let secret = secret.to_owned();
    let (accepted, events) = mpsc::unbounded_channel();
    let route = axum::routing::post(move |headers: HeaderMap, body: Bytes| async move {
        let signature = headers.get("Stripe-Signature").and_then(|v| v.to_str().ok());
        if verify_signature(&secret, signature, &body, Utc::now()).is_err() {
            return StatusCode::BAD_REQUEST;
        }
        let Ok(event) = parse_event(&body) else { return StatusCode::BAD_REQUEST };
        accepted.send(event.data).unwrap();
        StatusCode::OK
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, axum::Router::new().route("/webhook", route)).await });
    (url, events)
}

#[tokio::test]
async fn a_delivered_webhook_passes_the_signature_check_and_a_stale_one_does_not() {
    let (fake, client) = stripe().await;
    let (url, mut accepted) = webhook_endpoint(fake.webhook_secret()).await;
    let session = client.create_checkout_session(&order(hold_of_ten_minutes())).await.unwrap();
    let event = fake.complete(&session.id);

    assert_eq!(fake.deliver(&url, &event).await.status(), 200);
    let EventData::CheckoutCompleted(done) = accepted.recv().await.unwrap() else { panic!() };
    assert_eq!((done.order_id, done.session_id), (Some(7), session.id.clone()));

    let payload = serde_json::to_vec(&event).unwrap();
    let stale = fake.sign(&payload, Utc::now().timestamp() - 301);
    let replayed = reqwest::Client::new().post(&url).header("Stripe-Signature", stale).body(payload.clone());
    assert_eq!(replayed.send().await.unwrap().status(), 400);
    let unsigned = reqwest::Client::new().post(&url).body(payload);
    assert_eq!(unsigned.send().await.unwrap().status(), 400);

    let next_order = CheckoutRequest { order_id: 8, ..order(hold_of_ten_minutes()) };
    let expired = client.create_checkout_session(&next_order).await.unwrap();
    assert_eq!(fake.deliver(&url, &fake.time_out(&expired.id)).await.status(), 200);
    let EventData::CheckoutExpired(ended) = accepted.recv().await.unwrap() else { panic!() };
    assert_eq!(ended.order_id, Some(8));
}
