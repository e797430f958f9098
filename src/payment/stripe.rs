//! Stripe: a Checkout Session per order (Stripe's hosted payment page), refunds through the
//! Refunds API, and the webhook's signature and events ([`verify_signature`],
//! [`parse_event`]). Only Stripe's wire protocol lives here: which order a payment belongs
//! to and what it changes is the caller's business.

mod webhook;

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;
use serde::de::DeserializeOwned;

pub use webhook::{
    CompletedCheckout, EndedCheckout, Event, EventData, EventError, RefundedCharge, SIGNATURE_HEADER,
    SIGNATURE_TOLERANCE, SignatureError, parse_event, verify_signature,
};

/// Stripe refuses a Checkout Session that expires sooner than this after its creation…
const MIN_SESSION_LIFETIME: TimeDelta = TimeDelta::minutes(30);
/// … or later than this.
const MAX_SESSION_LIFETIME: TimeDelta = TimeDelta::hours(24);
/// Room for the clocks of Stripe and of this host to differ, and for a retry that reaches
/// Stripe a little after the first try.
const EXPIRY_MARGIN: TimeDelta = TimeDelta::minutes(5);

/// Stripe's API with one secret key; cheap to clone (one connection pool).
#[derive(Clone)]
pub struct StripeClient {
    http: reqwest::Client,
    api_base: Url,
    secret_key: String,
}

/// What to charge for one order.
#[derive(Debug, Clone, Copy)]
pub struct CheckoutRequest<'a> {
    /// The order paid for: `client_reference_id`, `metadata[order_id]` and the idempotency key.
    pub order_id: i64,
    /// The total, in the currency's minor unit (KRW and JPY have none).
    pub amount: i64,
    /// ISO 4217 code, any case (Stripe is sent lowercase).
    pub currency: &'a str,
    /// The line shown on the payment page.
    pub description: &'a str,
    /// Prefills the payment page's e-mail field.
    pub customer_email: Option<&'a str>,
    /// Where Stripe sends the fan after paying (may hold `{CHECKOUT_SESSION_ID}`).
    pub success_url: &'a str,
    /// Where Stripe sends the fan who goes back without paying.
    pub cancel_url: &'a str,
    /// When the order's hold ends; see [`session_expires_at`] for what Stripe is sent.
    pub expires_at: DateTime<Utc>,
}

/// A Checkout Session as Stripe answers it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CheckoutSession {
    /// `cs_…`
    pub id: String,
    /// The hosted payment page; `None` once the session is complete or expired.
    pub url: Option<String>,
    /// Open, complete or expired.
    pub status: SessionStatus,
    /// Whether the money is in.
    pub payment_status: PaymentStatus,
    /// `pi_…`, the payment once the fan has confirmed it (what a refund names).
    pub payment_intent: Option<String>,
    /// In the minor unit.
    pub amount_total: i64,
    /// Lowercase ISO 4217.
    pub currency: String,
    /// When Stripe expires the session by itself.
    #[serde(with = "chrono::serde::ts_seconds")]
    pub expires_at: DateTime<Utc>,
}

/// A Checkout Session's `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    /// The fan can still pay.
    Open,
    /// The fan finished the payment page (the money may still be on its way: see
    /// [`PaymentStatus`]).
    Complete,
    /// Expired by Stripe or by the service; it can no longer be paid.
    Expired,
    /// A status newer than this code.
    #[serde(other)]
    Unknown,
}

/// A Checkout Session's `payment_status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// The money is in.
    Paid,
    /// Not yet, or never (a delayed method such as a bank debit is still on its way).
    Unpaid,
    /// Nothing to pay now.
    NoPaymentRequired,
    /// A status newer than this code.
    #[serde(other)]
    Unknown,
}

/// A refund as Stripe answers it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Refund {
    /// `re_…`
    pub id: String,
    /// Cards refund at once (`succeeded`); some methods take days or fail later.
    pub status: RefundStatus,
    /// In the minor unit.
    pub amount: i64,
    /// Lowercase ISO 4217.
    pub currency: String,
}

/// A refund's `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundStatus {
    /// On its way.
    Pending,
    /// Waits for the customer (some payment methods).
    RequiresAction,
    /// The money is back.
    Succeeded,
    /// The bank refused it.
    Failed,
    /// Cancelled before it went out.
    Canceled,
    /// A status newer than this code.
    #[serde(other)]
    Unknown,
}

/// Why a call to Stripe failed.
#[derive(Debug, thiserror::Error)]
pub enum StripeError {
    /// The API base is not an http(s) URL, or the HTTP client could not be built.
    #[error("Stripe client configuration: {0}")]
    Config(String),
    /// Stripe was not reached, or its answer was cut off: the call may or may not have
    /// taken effect. Retryable with the same idempotency key.
    #[error("Stripe unreachable")]
    Network(#[source] reqwest::Error),
    /// Stripe failed (5xx); retryable with the same idempotency key.
    #[error("Stripe failed ({status})")]
    Server { status: StatusCode, error: Option<ApiError> },
    /// 401: the secret key is missing, wrong or revoked.
    #[error("Stripe refused the secret key: {0}")]
    Authentication(ApiError),
    /// Stripe refused the request (4xx other than 401).
    #[error("Stripe refused the request ({status}): {error}")]
    Api {
        status: StatusCode,
        error: ApiError,
        /// Stripe's own advice (`Stripe-Should-Retry`), when it gave one.
        should_retry: Option<bool>,
    },
    /// A success answer that is not the object asked for.
    #[error("unexpected answer from Stripe: {0}")]
    Decode(String),
}

impl StripeError {
    /// Whether the same call (with the same idempotency key) may succeed later: network
    /// failures, 5xx, 409 (a concurrent call with the same key) and 429 (rate limit), unless
    /// Stripe says otherwise in `Stripe-Should-Retry`.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Network(_) | Self::Server { .. } => true,
            Self::Api { status, should_retry, .. } => should_retry
                .unwrap_or(matches!(*status, StatusCode::CONFLICT | StatusCode::TOO_MANY_REQUESTS)),
            Self::Config(_) | Self::Authentication(_) | Self::Decode(_) => false,
        }
    }

    /// Stripe's error object, when Stripe answered one.
    pub fn api_error(&self) -> Option<&ApiError> {
        match self {
            Self::Authentication(error) | Self::Api { error, .. } => Some(error),
            Self::Server { error, .. } => error.as_ref(),
            Self::Config(_) | Self::Network(_) | Self::Decode(_) => None,
        }
    }
}

/// Stripe's error object: `{"error": {"type", "code", "message", "param"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ApiError {
    /// Stripe's `type`.
    #[serde(rename = "type")]
    pub kind: ErrorKind,
    /// A short machine-readable reason (`resource_missing`, `amount_too_large`, …).
    pub code: Option<String>,
    /// For people, not for matching.
    #[serde(default)]
    pub message: String,
    /// The request parameter at fault.
    pub param: Option<String>,
}

/// Stripe's error `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Stripe's own failure.
    ApiError,
    /// A card was declined.
    CardError,
    /// An idempotency key reused with other parameters.
    IdempotencyError,
    /// Bad parameters, a missing object, a wrong key.
    InvalidRequestError,
    /// A type newer than this code, or an error body that was not Stripe's.
    #[serde(other)]
    Other,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.kind)?;
        if let Some(code) = &self.code {
            write!(f, " {code}")?;
        }
        if let Some(param) = &self.param {
            write!(f, " (param {param})")?;
        }
        write!(f, ": {}", self.message)
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ApiError,
}

impl fmt::Debug for StripeClient {
    // The secret key stays out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripeClient").field("api_base", &self.api_base.as_str()).finish_non_exhaustive()
    }
}

impl StripeClient {
    /// A client for the API at `api_base` (`https://api.stripe.com`, or a test server).
    pub fn new(api_base: String, secret_key: String) -> Result<Self, StripeError> {
        let api_base = Url::parse(&api_base).map_err(|e| StripeError::Config(format!("{api_base}: {e}")))?;
        if !matches!(api_base.scheme(), "http" | "https") || api_base.cannot_be_a_base() {
            return Err(StripeError::Config(format!("{api_base}: not an http(s) URL")));
        }
        // A fan waits on the checkout call, so it gives up well before a proxy would;
        // a refund or an expiry that times out is retried with its idempotency key.
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| StripeError::Config(format!("HTTP client: {e}")))?;
        Ok(Self { http, api_base, secret_key })
    }

    /// Creates the order's Checkout Session (idempotency key `order-<id>-checkout`, so a
    /// retry answers the same session).
    pub async fn create_checkout_session(
        &self,
        request: &CheckoutRequest<'_>,
    ) -> Result<CheckoutSession, StripeError> {
        let form = checkout_form(request, Utc::now());
        let key = format!("order-{}-checkout", request.order_id);
        self.call(Method::POST, &["checkout", "sessions"], Some(&form), Some(&key)).await
    }

    /// Expires an open session at once, so it can no longer be paid. Stripe refuses (400)
    /// a session that is already complete: the payment won the race, its webhook follows.
    pub async fn expire_checkout_session(&self, id: &str) -> Result<CheckoutSession, StripeError> {
        let key = format!("{id}-expire");
        self.call(Method::POST, &["checkout", "sessions", id, "expire"], Some(&[]), Some(&key)).await
    }

    /// The session as Stripe has it now.
    pub async fn retrieve_checkout_session(&self, id: &str) -> Result<CheckoutSession, StripeError> {
        self.call(Method::GET, &["checkout", "sessions", id], None, None).await
    }

    /// Refunds `amount` (minor unit) of a payment; the caller's `idempotency_key` names the
    /// refund, so a retry never refunds twice.
    pub async fn create_refund(
        &self,
        payment_intent: &str,
        amount: i64,
        idempotency_key: &str,
    ) -> Result<Refund, StripeError> {
        let form = [("payment_intent", payment_intent.to_owned()), ("amount", amount.to_string())];
        self.call(Method::POST, &["refunds"], Some(&form), Some(idempotency_key)).await
    }

    /// One call: `/v1/<segments>` with a form body (POST) and Stripe's answer decoded.
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        form: Option<&[(&str, String)]>,
        idempotency_key: Option<&str>,
    ) -> Result<T, StripeError> {
        let mut url = self.api_base.clone();
        // Checked in new(): an http(s) URL can be a base. Each segment is escaped, so an
        // id cannot reach another path.
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().push("v1").extend(segments);
        }
        let mut request = self.http.request(method, url).bearer_auth(&self.secret_key);
        if let Some(form) = form {
            request = request.form(form);
        }
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        let response = request.send().await.map_err(StripeError::Network)?;
        let status = response.status();
        let should_retry = response
            .headers()
            .get("Stripe-Should-Retry")
            .and_then(|value| value.to_str().ok())
            .map(|value| value == "true");
        let body = response.bytes().await.map_err(StripeError::Network)?;
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|e| StripeError::Decode(e.to_string()));
        }
        let error = serde_json::from_slice::<ErrorBody>(&body).map(|body| body.error);
        Err(match (status, error) {
            (status, error) if status.is_server_error() => StripeError::Server { status, error: error.ok() },
            (StatusCode::UNAUTHORIZED, error) => {
                StripeError::Authentication(error.unwrap_or_else(|_| unreadable(&body)))
            }
            (status, error) => {
                StripeError::Api { status, error: error.unwrap_or_else(|_| unreadable(&body)), should_retry }
            }
        })
    }
}

/// An error answer that is not Stripe's JSON (a proxy's page, say), kept for the log.
fn unreadable(body: &[u8]) -> ApiError {
    let text = String::from_utf8_lossy(body);
    ApiError { kind: ErrorKind::Other, code: None, message: text.chars().take(200).collect(), param: None }
}

/// The `expires_at` Stripe is sent for a hold ending at `hold_ends`.
///
/// Stripe wants a session to live 30 minutes to 24 hours, longer than most holds, so the
/// session outlives its hold by 35 minutes and the service expires it itself
/// ([`StripeClient::expire_checkout_session`]) when the hold ends. The time depends on the
/// hold, not on the clock: a retry sends the same body, which Stripe answers with the
/// first answer, where a body that changed would be refused for its reused idempotency
/// key. Only a hold ending more than a day away is brought within Stripe's 24 hours.
pub fn session_expires_at(hold_ends: DateTime<Utc>, now: DateTime<Utc>) -> DateTime<Utc> {
    let after_hold = hold_ends + MIN_SESSION_LIFETIME + EXPIRY_MARGIN;
    after_hold.min(now + MAX_SESSION_LIFETIME - EXPIRY_MARGIN)
}

/// The form body of a Checkout Session for one order, as Stripe's API reference names it.
fn checkout_form(request: &CheckoutRequest<'_>, now: DateTime<Utc>) -> Vec<(&'static str, String)> {
    let order = request.order_id.to_string();
    let mut form = vec![
        ("mode", "payment".to_owned()),
        ("line_items[0][price_data][currency]", request.currency.to_ascii_lowercase()),
        ("line_items[0][price_data][unit_amount]", request.amount.to_string()),
        ("line_items[0][price_data][product_data][name]", request.description.to_owned()),
        ("line_items[0][quantity]", "1".to_owned()),
        ("client_reference_id", order.clone()),
        ("metadata[order_id]", order.clone()),
        // The payment itself names the order too, for refunds and the Dashboard.
        ("payment_intent_data[metadata][order_id]", order),
        ("success_url", request.success_url.to_owned()),
        ("cancel_url", request.cancel_url.to_owned()),
        ("expires_at", session_expires_at(request.expires_at, now).timestamp().to_string()),
    ];
    if let Some(email) = request.customer_email {
        form.push(("customer_email", email.to_owned()));
    }
    form
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(expires_at: DateTime<Utc>) -> CheckoutRequest<'static> {
        CheckoutRequest {
            order_id: 42,
            amount: 150_000,
            currency: "KRW",
            description: "Concert, 2 seats",
            customer_email: Some("fan@example.com"),
            success_url: "https://tickets.example/orders/42?paid",
            cancel_url: "https://tickets.example/orders/42",
            expires_at,
        }
    }

    #[test]
    fn a_checkout_form_names_the_order_three_ways_and_sends_the_currency_lowercase() {
        let now = Utc::now();
        let form = checkout_form(&request(now + TimeDelta::minutes(10)), now);
        let get = |key: &str| form.iter().find(|(k, _)| *k == key).map(|(_, v)| v.as_str());
        assert_eq!(get("mode"), Some("payment"));
        assert_eq!(get("line_items[0][price_data][currency]"), Some("krw"));
        assert_eq!(get("line_items[0][price_data][unit_amount]"), Some("150000"));
        assert_eq!(get("line_items[0][price_data][product_data][name]"), Some("Concert, 2 seats"));
        assert_eq!(get("line_items[0][quantity]"), Some("1"));
        assert_eq!(get("client_reference_id"), Some("42"));
        assert_eq!(get("metadata[order_id]"), Some("42"));
        assert_eq!(get("payment_intent_data[metadata][order_id]"), Some("42"));
        assert_eq!(get("customer_email"), Some("fan@example.com"));
        let without_email = checkout_form(&CheckoutRequest { customer_email: None, ..request(now) }, now);
        assert!(without_email.iter().all(|(k, _)| *k != "customer_email"));
    }

    #[test]
    fn a_session_outlives_a_short_hold_by_more_than_stripes_thirty_minutes() {
        let now = Utc::now();
        let hold_ends = now + TimeDelta::minutes(10);
        let expires = session_expires_at(hold_ends, now);
        assert!(expires - now > MIN_SESSION_LIFETIME + TimeDelta::minutes(2));
        assert!(expires - now < MAX_SESSION_LIFETIME);
    }

    #[test]
    fn a_retry_minutes_later_sends_the_same_expiry() {
        let now = Utc::now();
        let hold_ends = now + TimeDelta::minutes(10);
        let first = checkout_form(&request(hold_ends), now);
        let retry = checkout_form(&request(hold_ends), now + TimeDelta::minutes(4));
        assert_eq!(first, retry);
    }

    #[test]
    fn a_session_never_asks_for_more_than_stripes_24_hours() {
        let now = Utc::now();
        let expires = session_expires_at(now + TimeDelta::hours(30), now);
        assert!(expires - now < MAX_SESSION_LIFETIME);
    }

    #[test]
    fn retryable_means_network_5xx_conflict_or_rate_limit_unless_stripe_says_otherwise() {
        let error = ApiError {
            kind: ErrorKind::InvalidRequestError,
            code: None,
            message: String::new(),
            param: None,
        };
        let api = |status, should_retry| StripeError::Api { status, error: error.clone(), should_retry };
        assert!(StripeError::Server { status: StatusCode::BAD_GATEWAY, error: None }.is_retryable());
        assert!(api(StatusCode::TOO_MANY_REQUESTS, None).is_retryable());
        assert!(api(StatusCode::CONFLICT, None).is_retryable());
        assert!(!api(StatusCode::BAD_REQUEST, None).is_retryable());
        assert!(api(StatusCode::BAD_REQUEST, Some(true)).is_retryable());
        assert!(!api(StatusCode::CONFLICT, Some(false)).is_retryable());
        assert!(!StripeError::Authentication(error).is_retryable());
    }

    #[test]
    fn an_api_base_must_be_an_http_url() {
        assert!(StripeClient::new("https://api.stripe.com".into(), "sk_test_x".into()).is_ok());
        assert!(matches!(
            StripeClient::new("api.stripe.com".into(), "k".into()),
            Err(StripeError::Config(_))
        ));
        assert!(matches!(StripeClient::new("mailto:a@b".into(), "k".into()), Err(StripeError::Config(_))));
    }

    #[test]
    fn a_client_keeps_its_secret_key_out_of_debug_output() {
        let client = StripeClient::new("https://api.stripe.com".into(), "sk_test_secret".into()).unwrap();
        assert!(!format!("{client:?}").contains("sk_test_secret"));
    }
}
