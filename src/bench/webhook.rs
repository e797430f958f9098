//! The `webhook` scenario: Stripe's `checkout.session.completed` events, each paying a
//! distinct pending order held before the run, signed as Stripe signs them. Before the run
//! the bench holds one seat per order; afterwards it checks through the API that every
//! order whose event was taken is paid, once.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, bail};
use axum::body::Bytes;
use hmac::{Hmac, Mac};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, StatusCode};
use serde::Serialize;
use serde_json::json;
use sha2::Sha256;

use super::client::Connection;
use super::report::Tally;
use super::setup::{Fixture, SEATS_PER_CONCERT, seat_at};
use crate::domain::order::minor_units;
use crate::domain::venue::Price;

/// Where the service takes Stripe's events.
pub const PATH: &str = "/api/v1/payments/stripe/webhook";
/// The header Stripe signs its deliveries in.
const SIGNATURE: HeaderName = HeaderName::from_static("stripe-signature");
/// Paid orders read back one by one after the run (evenly spread over all of them).
const SAMPLE: usize = 300;

/// A pending order the run pays, as the service answered it.
#[derive(Debug, Clone)]
pub struct PendingOrder {
    pub id: i64,
    /// Its total in the currency's minor unit: what Stripe would have charged.
    pub amount: i64,
    /// Lowercase ISO 4217, as Stripe writes it.
    pub currency: String,
}

/// The run's orders and the key their events are signed with.
pub struct Webhooks {
    run: String,
    /// The orders in the order their events are sent.
    pub orders: Vec<PendingOrder>,
    key: Hmac<Sha256>,
}

impl Webhooks {
    /// The events of run `run` for `orders`, signed with the endpoint's secret (`whsec_…`).
    pub fn new(run: &str, orders: Vec<PendingOrder>, secret: &str) -> anyhow::Result<Self> {
        Ok(Self { run: run.to_owned(), orders, key: signing_key(secret)? })
    }

    /// The `checkout.session.completed` event that pays order number `i` of the run (the
    /// same event id each time it is made), and its `Stripe-Signature` made now.
    pub fn delivery(&self, i: usize) -> anyhow::Result<(Bytes, (HeaderName, HeaderValue))> {
        let order = &self.orders[i];
        let (run, id) = (&self.run, order.id);
        let body = Bytes::from(serde_json::to_vec(&json!({
            "id": format!("evt_bench_{run}_{id}"),
            "object": "event",
            "type": "checkout.session.completed",
            "created": chrono::Utc::now().timestamp(),
            "livemode": false,
            "data": {"object": {
                "id": format!("cs_bench_{run}_{id}"),
                "object": "checkout.session",
                "metadata": {"order_id": id.to_string()},
                "client_reference_id": id.to_string(),
                "amount_total": order.amount,
                "currency": order.currency,
                "payment_status": "paid",
                "status": "complete",
                "payment_intent": format!("pi_bench_{run}_{id}"),
            }},
        }))?);
        let signature = sign(&self.key, &body)?;
        Ok((body, signature))
    }
}

fn signing_key(secret: &str) -> anyhow::Result<Hmac<Sha256>> {
    anyhow::ensure!(!secret.is_empty(), "an empty webhook secret signs nothing");
    Hmac::<Sha256>::new_from_slice(secret.as_bytes()).context("the webhook secret")
}

/// `Stripe-Signature` as Stripe sends it: `t=<unix time>,v1=<hex HMAC-SHA256 of
/// "{t}.{body}" under the endpoint's secret>`.
fn sign(key: &Hmac<Sha256>, body: &[u8]) -> anyhow::Result<(HeaderName, HeaderValue)> {
    let t = chrono::Utc::now().timestamp();
    let mut mac = key.clone();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    let mut header = format!("t={t},v1=");
    for byte in mac.finalize().into_bytes() {
        write!(header, "{byte:02x}")?;
    }
    Ok((SIGNATURE, HeaderValue::try_from(header)?))
}

/// Checks before any set-up that the target takes Stripe's events signed with `secret`:
/// a signed event of a type the service only records must be answered 200.
pub async fn probe(address: SocketAddr, secret: &str, run: &str) -> anyhow::Result<()> {
    let body = Bytes::from(serde_json::to_vec(&json!({
        "id": format!("evt_bench_{run}_probe"),
        "object": "event",
        "type": "bench.probe",
        "created": chrono::Utc::now().timestamp(),
        "livemode": false,
        "data": {"object": {}},
    }))?);
    let signature = sign(&signing_key(secret)?, &body)?;
    let answer = Connection::new(address).send_with(Method::POST, PATH, Some(signature), Some(body)).await?;
    match answer.status {
        StatusCode::OK => Ok(()),
        StatusCode::NOT_FOUND => {
            bail!("the target takes no Stripe webhooks: start it with PAYMENT_PROVIDER=stripe")
        }
        StatusCode::BAD_REQUEST => bail!(
            "the target refused a signed event: is --webhook-secret its STRIPE_WEBHOOK_SECRET? {}",
            String::from_utf8_lossy(&answer.body)
        ),
        status => bail!("probing the webhook: {status}: {}", String::from_utf8_lossy(&answer.body)),
    }
}

/// Holds `count` seats of the run's (`PAYMENT`) concerts, one booking and so one pending
/// order each, over `lanes` connections: seat `k` of the run's concerts in order, booked
/// by fan `k % fans` (as `spread` would), and reads each order's total and currency.
pub async fn hold(
    address: SocketAddr,
    fixture: &Arc<Fixture>,
    count: usize,
    lanes: usize,
) -> anyhow::Result<Vec<PendingOrder>> {
    anyhow::ensure!(
        count <= fixture.concerts.len() * SEATS_PER_CONCERT,
        "{count} orders need {} concerts",
        count.div_ceil(SEATS_PER_CONCERT)
    );
    let lanes = lanes.clamp(1, count.max(1));
    let mut tasks = Vec::with_capacity(lanes);
    for lane in 0..lanes {
        let fixture = fixture.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = Connection::new(address);
            let mut held = Vec::new();
            for k in (lane..count).step_by(lanes) {
                held.push((k, hold_one(&mut conn, &fixture, k).await?));
            }
            anyhow::Ok(held)
        }));
    }
    let mut orders = vec![None; count];
    for task in tasks {
        for (k, order) in task.await?? {
            orders[k] = Some(order);
        }
    }
    orders.into_iter().map(|order| order.context("an order not held")).collect()
}

/// Books seat `k` of the run's concerts and reads the pending order it made.
async fn hold_one(conn: &mut Connection, fixture: &Fixture, k: usize) -> anyhow::Result<PendingOrder> {
    let fan = &fixture.fans[k % fixture.fans.len()];
    let concert = fixture.concerts[k / SEATS_PER_CONCERT];
    let (row, column) = seat_at(k % SEATS_PER_CONCERT);
    let path = format!("/api/v1/concerts/{concert}/reservations");
    let answer = conn
        .send_json(Method::POST, &path, Some(fan), &json!({"horizontal": row, "vertical": column}))
        .await?;
    if answer.status != StatusCode::CREATED {
        bail!(
            "holding seat {row}{column} of concert {concert}: {}: {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        );
    }
    let id = answer.json()["data"]["orderId"]
        .as_i64()
        .context("a hold without its orderId: is the concert PAYMENT?")?;
    let answer = conn.send(Method::GET, &format!("/api/v1/orders/{id}"), Some(fan), None).await?;
    anyhow::ensure!(answer.status == StatusCode::OK, "reading order {id}: {}", answer.status);
    let order = answer.json();
    let total = order["data"]["total"].as_f64().context("an order without its total")?;
    let currency = order["data"]["currency"].as_str().context("an order without its currency")?;
    let cents = Price::parse(total).map_err(|e| anyhow::anyhow!("order {id}'s total {total}: {e}"))?.cents();
    Ok(PendingOrder { id, amount: minor_units(cents, currency), currency: currency.to_ascii_lowercase() })
}

/// The after-run check of `webhook`: every order whose event was taken is paid, once.
#[derive(Debug, Serialize)]
pub struct Payments {
    /// Orders held before the run.
    pub orders: usize,
    /// Events answered 200 (the peak run's with `--rate N%` too).
    pub taken: usize,
    /// Events answered otherwise: each one a failure.
    pub not_taken: u64,
    /// Orders of the run's concerts the service lists as `PAID`: as many as events taken
    /// (a few more at most where an answer was lost on the way).
    pub paid_orders: i64,
    /// Orders of the run's concerts still `PENDING_PAYMENT`: the rest of them.
    pub pending_orders: i64,
    /// Orders of taken events read back one by one.
    pub sampled: usize,
    /// Of them: `PAID`, a succeeded Stripe payment of their total, one `PAID` in their
    /// history, nothing refunded.
    pub sampled_paid_once: usize,
    pub ok: bool,
}

/// Reads back, as the administrator, what the events the run sent did.
pub async fn verify(
    address: SocketAddr,
    fixture: &Fixture,
    orders: usize,
    tally: &Tally,
) -> anyhow::Result<Payments> {
    let mut conn = Connection::new(address);
    let token = Some(fixture.admin_token.as_str());
    let (mut paid_orders, mut pending_orders) = (0, 0);
    for concert in &fixture.concerts {
        for (status, count) in [("PAID", &mut paid_orders), ("PENDING_PAYMENT", &mut pending_orders)] {
            let path = format!("/api/v1/concerts/{concert}/orders?status={status}&size=1");
            let answer = conn.send(Method::GET, &path, token, None).await?;
            anyhow::ensure!(
                answer.status == StatusCode::OK,
                "listing concert {concert}'s orders: {}",
                answer.status
            );
            *count += answer.json()["data"]["totalElements"].as_i64().context("totalElements")?;
        }
    }
    let taken = &tally.paid;
    let step = taken.len().div_ceil(SAMPLE).max(1);
    let (mut sampled, mut sampled_paid_once) = (0, 0);
    for id in taken.iter().step_by(step) {
        let answer = conn.send(Method::GET, &format!("/api/v1/orders/{id}"), token, None).await?;
        anyhow::ensure!(answer.status == StatusCode::OK, "reading order {id}: {}", answer.status);
        let order = &answer.json()["data"];
        let payment = &order["payment"];
        let paid_entries =
            order["history"].as_array().map_or(0, |h| h.iter().filter(|e| e["status"] == "PAID").count());
        sampled += 1;
        if order["status"] == "PAID"
            && payment["provider"] == "stripe"
            && payment["status"] == "SUCCEEDED"
            && payment["amount"] == order["total"]
            && order["paid"] == order["total"]
            && order["refunds"].as_array().is_some_and(Vec::is_empty)
            && paid_entries == 1
        {
            sampled_paid_once += 1;
        }
    }
    let unanswered = i64::try_from(tally.errors)?;
    let taken_count = i64::try_from(taken.len())?;
    let ok = tally.not_taken == 0
        && sampled_paid_once == sampled
        && (taken_count..=taken_count + unanswered).contains(&paid_orders)
        && paid_orders + pending_orders == i64::try_from(orders)?;
    Ok(Payments {
        orders,
        taken: taken.len(),
        not_taken: tally.not_taken,
        paid_orders,
        pending_orders,
        sampled,
        sampled_paid_once,
        ok,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payment::stripe::{EventData, parse_event, verify_signature};

    #[test]
    fn an_event_is_signed_and_read_as_the_service_takes_stripes() {
        let order = PendingOrder { id: 42, amount: 150_000, currency: "krw".into() };
        let webhooks = Webhooks::new("r1", vec![order], "whsec_bench").unwrap();
        let (body, (name, signature)) = webhooks.delivery(0).unwrap();
        assert_eq!(name.as_str(), "stripe-signature");
        let signature = signature.to_str().unwrap();
        assert_eq!(verify_signature("whsec_bench", Some(signature), &body, chrono::Utc::now()), Ok(()));
        assert!(verify_signature("whsec_other", Some(signature), &body, chrono::Utc::now()).is_err());
        let event = parse_event(&body).unwrap();
        assert_eq!(
            (event.id.as_str(), event.kind.as_str()),
            ("evt_bench_r1_42", "checkout.session.completed")
        );
        let EventData::CheckoutCompleted(paid) = event.data else { panic!("{:?}", event.data) };
        assert_eq!((paid.order_id, paid.amount_total, paid.currency.as_str()), (Some(42), 150_000, "krw"));
        assert!(paid.is_paid());
        assert_eq!(paid.payment_intent.as_deref(), Some("pi_bench_r1_42"));
        // Made again, the event keeps its id: a repeat, as Stripe's redeliveries are.
        let (again, _) = webhooks.delivery(0).unwrap();
        assert_eq!(parse_event(&again).unwrap().id, event.id);
    }
}
