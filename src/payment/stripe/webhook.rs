//! Stripe's webhook: the `Stripe-Signature` check and the events the service acts on.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use super::PaymentStatus;

/// The header Stripe signs its webhook deliveries in.
pub const SIGNATURE_HEADER: &str = "Stripe-Signature";

/// How far a signature's timestamp may be from now, either way: Stripe's libraries'
/// default. An older delivery may be a replay of a captured one.
pub const SIGNATURE_TOLERANCE: TimeDelta = TimeDelta::seconds(300);

/// Why a webhook delivery's signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No `Stripe-Signature` header.
    #[error("no Stripe-Signature header")]
    MissingHeader,
    /// Not `t=<unix time>,v1=<hex>,…`.
    #[error("malformed Stripe-Signature header")]
    Malformed,
    /// No `v1` (HMAC-SHA256) signature among the header's.
    #[error("no v1 signature in the Stripe-Signature header")]
    NoV1Signature,
    /// No `v1` signature is the payload's under this secret.
    #[error("no v1 signature matches the payload")]
    Mismatch,
    /// Signed longer ago than the tolerance.
    #[error("signature older than the tolerance")]
    TooOld,
    /// Signed further in the future than the tolerance.
    #[error("signature timestamp in the future")]
    InFuture,
}

/// Checks a webhook delivery as Stripe documents it: `header` is
/// `t=<unix time>,v1=<hex>[,v1=…][,v0=…]`, and some `v1` must be the HMAC-SHA256, under the
/// endpoint's secret (`whsec_…`, its bytes as they are), of `"{t}.{payload}"`, compared in
/// constant time; the timestamp must be within [`SIGNATURE_TOLERANCE`] of `now`. Several
/// `v1` appear while a secret is being rolled; `v0` and unknown schemes are ignored.
pub fn verify_signature(
    secret: &str,
    header: Option<&str>,
    payload: &[u8],
    now: DateTime<Utc>,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::MissingHeader)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for item in header.split(',') {
        let (key, value) = item.trim().split_once('=').ok_or(SignatureError::Malformed)?;
        match key {
            "t" => timestamp = Some(value),
            "v1" => signatures.push(value),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    let signed_at: i64 = timestamp.parse().map_err(|_| SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::NoV1Signature);
    }
    // An unset secret would make every signature forgeable.
    if secret.is_empty() {
        return Err(SignatureError::Mismatch);
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).map_err(|_| SignatureError::Mismatch)?;
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(payload);
    let matches =
        signatures.iter().filter_map(|hex| decode_hex(hex)).any(|sig| mac.clone().verify_slice(&sig).is_ok());
    if !matches {
        return Err(SignatureError::Mismatch);
    }
    let age = now.timestamp().saturating_sub(signed_at);
    if age > SIGNATURE_TOLERANCE.num_seconds() {
        return Err(SignatureError::TooOld);
    }
    if age < -SIGNATURE_TOLERANCE.num_seconds() {
        return Err(SignatureError::InFuture);
    }
    Ok(())
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

/// A webhook event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// `evt_…`: a delivery repeated by Stripe has the same id.
    pub id: String,
    /// Stripe's `type` (`checkout.session.completed`, …).
    pub kind: String,
    /// When it happened (deliveries may arrive out of order).
    pub created: DateTime<Utc>,
    /// Live or test mode.
    pub livemode: bool,
    /// What the service acts on.
    pub data: EventData,
}

/// The events the service acts on; the others are `Other`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventData {
    /// `checkout.session.completed` (a card: paid at once; a delayed method: still
    /// `unpaid`, see [`CompletedCheckout::is_paid`]) or
    /// `checkout.session.async_payment_succeeded` (the delayed payment arrived).
    CheckoutCompleted(CompletedCheckout),
    /// `checkout.session.async_payment_failed`: a delayed payment will not arrive.
    CheckoutPaymentFailed(EndedCheckout),
    /// `checkout.session.expired`: the session can no longer be paid.
    CheckoutExpired(EndedCheckout),
    /// `charge.refunded`: some or all of a payment went back.
    ChargeRefunded(RefundedCharge),
    /// Any other event.
    Other,
}

/// A session the fan finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedCheckout {
    /// `cs_…`
    pub session_id: String,
    /// From `metadata.order_id`, else `client_reference_id`; `None` for a session this
    /// service did not create (another integration on the same account).
    pub order_id: Option<i64>,
    /// In the minor unit.
    pub amount_total: i64,
    /// Lowercase ISO 4217.
    pub currency: String,
    /// `pi_…`, what a refund names.
    pub payment_intent: Option<String>,
    /// Whether the money is in.
    pub payment_status: PaymentStatus,
}

impl CompletedCheckout {
    /// Whether the money is in (a delayed method completes the session unpaid first).
    pub fn is_paid(&self) -> bool {
        self.payment_status == PaymentStatus::Paid
    }
}

/// A session that will not be paid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndedCheckout {
    /// `cs_…`
    pub session_id: String,
    /// As in [`CompletedCheckout::order_id`].
    pub order_id: Option<i64>,
}

/// A charge refunded in part or in full.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundedCharge {
    /// `ch_…`
    pub charge_id: String,
    /// `pi_…`
    pub payment_intent: Option<String>,
    /// What was charged, in the minor unit.
    pub amount: i64,
    /// All refunded so far, in the minor unit.
    pub amount_refunded: i64,
    /// Lowercase ISO 4217.
    pub currency: String,
}

/// A webhook body that is not a Stripe event, or an event whose object lacks what its
/// type promises.
#[derive(Debug, thiserror::Error)]
#[error("not a Stripe event: {0}")]
pub struct EventError(#[from] serde_json::Error);

/// Reads a webhook body (after [`verify_signature`]).
pub fn parse_event(payload: &[u8]) -> Result<Event, EventError> {
    let raw: RawEvent = serde_json::from_slice(payload)?;
    let object = raw.data.object;
    let data = match raw.kind.as_str() {
        "checkout.session.completed" | "checkout.session.async_payment_succeeded" => {
            let session: RawSession = serde_json::from_value(object)?;
            EventData::CheckoutCompleted(CompletedCheckout {
                order_id: session.order_id(),
                session_id: session.id,
                amount_total: session.amount_total.ok_or_else(|| missing("amount_total"))?,
                currency: session.currency.ok_or_else(|| missing("currency"))?,
                payment_intent: session.payment_intent,
                payment_status: session.payment_status,
            })
        }
        "checkout.session.async_payment_failed" | "checkout.session.expired" => {
            let session: RawSession = serde_json::from_value(object)?;
            let ended = EndedCheckout { order_id: session.order_id(), session_id: session.id };
            match raw.kind.as_str() {
                "checkout.session.expired" => EventData::CheckoutExpired(ended),
                _ => EventData::CheckoutPaymentFailed(ended),
            }
        }
        "charge.refunded" => {
            let charge: RawCharge = serde_json::from_value(object)?;
            EventData::ChargeRefunded(RefundedCharge {
                charge_id: charge.id,
                payment_intent: charge.payment_intent,
                amount: charge.amount,
                amount_refunded: charge.amount_refunded,
                currency: charge.currency,
            })
        }
        _ => EventData::Other,
    };
    Ok(Event { id: raw.id, kind: raw.kind, created: raw.created, livemode: raw.livemode, data })
}

fn missing(field: &'static str) -> serde_json::Error {
    serde::de::Error::missing_field(field)
}

#[derive(Deserialize)]
struct RawEvent {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(with = "chrono::serde::ts_seconds")]
    created: DateTime<Utc>,
    #[serde(default)]
    livemode: bool,
    data: RawData,
}

#[derive(Deserialize)]
struct RawData {
    object: serde_json::Value,
}

#[derive(Deserialize)]
struct RawSession {
    id: String,
    #[serde(default)]
    metadata: HashMap<String, String>,
    client_reference_id: Option<String>,
    amount_total: Option<i64>,
    currency: Option<String>,
    payment_intent: Option<String>,
    payment_status: PaymentStatus,
}

impl RawSession {
    fn order_id(&self) -> Option<i64> {
        let named = self.metadata.get("order_id").or(self.client_reference_id.as_ref());
        named.and_then(|id| id.parse().ok())
    }
}

#[derive(Deserialize)]
struct RawCharge {
    id: String,
    payment_intent: Option<String>,
    amount: i64,
    amount_refunded: i64,
    currency: String,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const SECRET: &str = "whsec_test_5WbX5kEWLlfzsGNjH64I8lOOqUB6e8FH";
    const BODY: &[u8] = br#"{"id":"evt_1","object":"event","type":"checkout.session.completed"}"#;

    /// Stripe's documented scheme, written out here apart from the code under test:
    /// hex(HMAC-SHA256(secret, "{t}.{body}")).
    fn v1(secret: &str, t: i64, body: &[u8]) -> String {
        let mut signed = format!("{t}.").into_bytes();
        signed.extend_from_slice(body);
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(&signed);
        mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
    }

    fn at(t: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(t, 0).unwrap()
    }

    const T: i64 = 1_767_225_600;

    #[test]
    fn a_signature_made_with_the_secret_over_the_body_is_accepted() {
        let header = format!("t={T},v1={}", v1(SECRET, T, BODY));
        assert_eq!(verify_signature(SECRET, Some(&header), BODY, at(T + 5)), Ok(()));
    }

    #[test]
    fn a_signature_made_with_another_secret_is_refused() {
        let header = format!("t={T},v1={}", v1("whsec_other", T, BODY));
        assert_eq!(verify_signature(SECRET, Some(&header), BODY, at(T)), Err(SignatureError::Mismatch));
    }

    #[test]
    fn a_body_changed_after_signing_is_refused() {
        let header = format!("t={T},v1={}", v1(SECRET, T, BODY));
        let tampered = br#"{"id":"evt_1","object":"event","type":"checkout.session.expired"}"#;
        assert_eq!(verify_signature(SECRET, Some(&header), tampered, at(T)), Err(SignatureError::Mismatch));
    }

    #[test]
    fn a_timestamp_changed_after_signing_is_refused() {
        let header = format!("t={},v1={}", T + 1, v1(SECRET, T, BODY));
        assert_eq!(verify_signature(SECRET, Some(&header), BODY, at(T)), Err(SignatureError::Mismatch));
    }

    #[test]
    fn a_delivery_without_the_header_is_refused() {
        assert_eq!(verify_signature(SECRET, None, BODY, at(T)), Err(SignatureError::MissingHeader));
    }

    #[test]
    fn a_signature_older_than_five_minutes_is_refused() {
        let header = format!("t={T},v1={}", v1(SECRET, T, BODY));
        assert_eq!(verify_signature(SECRET, Some(&header), BODY, at(T + 300)), Ok(()));
        assert_eq!(verify_signature(SECRET, Some(&header), BODY, at(T + 301)), Err(SignatureError::TooOld));
    }

    #[test]
    fn a_signature_more_than_five_minutes_ahead_is_refused() {
        let header = format!("t={T},v1={}", v1(SECRET, T, BODY));
        assert_eq!(verify_signature(SECRET, Some(&header), BODY, at(T - 300)), Ok(()));
        assert_eq!(verify_signature(SECRET, Some(&header), BODY, at(T - 301)), Err(SignatureError::InFuture));
    }

    #[test]
    fn any_one_matching_v1_among_several_is_enough() {
        let header = format!(
            "t={T},v1={},v1={},v0={}",
            v1("whsec_old", T, BODY),
            v1(SECRET, T, BODY),
            v1("x", T, BODY)
        );
        assert_eq!(verify_signature(SECRET, Some(&header), BODY, at(T)), Ok(()));
    }

    #[test]
    fn a_v0_signature_alone_is_not_enough() {
        let header = format!("t={T},v0={}", v1(SECRET, T, BODY));
        assert_eq!(verify_signature(SECRET, Some(&header), BODY, at(T)), Err(SignatureError::NoV1Signature));
    }

    #[test]
    fn a_header_without_a_readable_timestamp_is_malformed() {
        let sig = v1(SECRET, T, BODY);
        for header in [format!("v1={sig}"), format!("t=soon,v1={sig}"), format!("t={T},v1"), String::new()] {
            assert_eq!(
                verify_signature(SECRET, Some(&header), BODY, at(T)),
                Err(SignatureError::Malformed),
                "{header}"
            );
        }
    }

    #[test]
    fn an_unset_secret_verifies_nothing() {
        let header = format!("t={T},v1={}", v1("", T, BODY));
        assert_eq!(verify_signature("", Some(&header), BODY, at(T)), Err(SignatureError::Mismatch));
    }

    fn event(kind: &str, object: serde_json::Value) -> Vec<u8> {
        json!({"id": "evt_9", "object": "event", "type": kind, "created": T, "livemode": false,
               "data": {"object": object}})
        .to_string()
        .into_bytes()
    }

    fn session(metadata: serde_json::Value, reference: Option<&str>) -> serde_json::Value {
        json!({"id": "cs_test_1", "object": "checkout.session", "metadata": metadata,
               "client_reference_id": reference, "amount_total": 30000, "currency": "krw",
               "payment_intent": "pi_1", "payment_status": "paid", "status": "complete"})
    }

    #[test]
    fn a_completed_checkout_names_its_order_payment_and_amount() {
        let parsed =
            parse_event(&event("checkout.session.completed", session(json!({"order_id": "7"}), None)))
                .unwrap();
        assert_eq!(
            (parsed.id.as_str(), parsed.kind.as_str(), parsed.created),
            ("evt_9", "checkout.session.completed", at(T))
        );
        let EventData::CheckoutCompleted(done) = parsed.data else { panic!("{parsed:?}") };
        assert_eq!(done.order_id, Some(7));
        assert_eq!((done.amount_total, done.currency.as_str()), (30000, "krw"));
        assert_eq!(done.payment_intent.as_deref(), Some("pi_1"));
        assert!(done.is_paid());
    }

    #[test]
    fn without_metadata_the_order_is_the_client_reference() {
        let body = event("checkout.session.async_payment_succeeded", session(json!({}), Some("8")));
        let EventData::CheckoutCompleted(done) = parse_event(&body).unwrap().data else { panic!() };
        assert_eq!(done.order_id, Some(8));
        let foreign = event("checkout.session.completed", session(json!({}), None));
        let EventData::CheckoutCompleted(done) = parse_event(&foreign).unwrap().data else { panic!() };
        assert_eq!(done.order_id, None);
    }

    #[test]
    fn a_delayed_payment_completes_the_session_unpaid() {
        let mut object = session(json!({"order_id": "7"}), Some("7"));
        object["payment_status"] = json!("unpaid");
        let EventData::CheckoutCompleted(done) =
            parse_event(&event("checkout.session.completed", object)).unwrap().data
        else {
            panic!()
        };
        assert!(!done.is_paid());
    }

    #[test]
    fn expired_sessions_refunded_charges_and_other_events_are_told_apart() {
        let mut expired = session(json!({"order_id": "7"}), Some("7"));
        expired["payment_status"] = json!("unpaid");
        assert_eq!(
            parse_event(&event("checkout.session.expired", expired)).unwrap().data,
            EventData::CheckoutExpired(EndedCheckout { session_id: "cs_test_1".into(), order_id: Some(7) })
        );
        let charge = json!({"id": "ch_1", "object": "charge", "payment_intent": "pi_1", "amount": 30000,
                            "amount_refunded": 10000, "currency": "krw", "refunded": false});
        assert_eq!(
            parse_event(&event("charge.refunded", charge)).unwrap().data,
            EventData::ChargeRefunded(RefundedCharge {
                charge_id: "ch_1".into(),
                payment_intent: Some("pi_1".into()),
                amount: 30000,
                amount_refunded: 10000,
                currency: "krw".into()
            })
        );
        let other = parse_event(&event("customer.created", json!({"id": "cus_1"}))).unwrap();
        assert_eq!((other.kind.as_str(), other.data), ("customer.created", EventData::Other));
    }

    #[test]
    fn a_completed_checkout_without_its_amount_is_not_an_event() {
        let mut object = session(json!({"order_id": "7"}), None);
        object.as_object_mut().unwrap().remove("amount_total");
        assert!(parse_event(&event("checkout.session.completed", object)).is_err());
        assert!(parse_event(b"not json").is_err());
    }
}
