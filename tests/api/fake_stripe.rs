//! A stand-in for Stripe's API on 127.0.0.1, for tests: the calls the service makes
//! (create, retrieve and expire a Checkout Session; create a refund) as Stripe's API
//! reference documents them — Bearer authentication, form bodies with `a[b][c]` keys,
//! Stripe's error object, idempotency keys — and controls for what Stripe does on its
//! own: a fan paying on the hosted page, a session timing out, a signed webhook delivery.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use hmac::{Hmac, Mac};
use rand::distributions::{Alphanumeric, DistString};
use serde_json::{Value, json};
use sha2::Sha256;

use form::{Form, read_form};

mod form;

/// Stripe's limits on a Checkout Session's `expires_at`, in seconds after its creation.
const MIN_SESSION_LIFETIME: i64 = 30 * 60;
const MAX_SESSION_LIFETIME: i64 = 24 * 3600;

/// The fake's event payloads claim this API version.
const API_VERSION: &str = "2024-06-20";

/// A running fake Stripe; the server stops when this is dropped.
pub struct FakeStripe {
    base_url: String,
    webhook_secret: String,
    shared: Arc<Mutex<Account>>,
    client: reqwest::Client,
    server: tokio::task::JoinHandle<()>,
}

/// One request as the fake received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    /// The form body's pairs in the order sent, keys and values decoded.
    pub form: Vec<(String, String)>,
}

impl RecordedRequest {
    /// A form parameter (the last, when sent more than once).
    pub fn param(&self, key: &str) -> Option<&str> {
        self.form.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Stripe's side of one account.
struct Account {
    secret_key: String,
    base_url: String,
    sessions: Vec<Session>,
    payments: Vec<Value>,
    refunds: Vec<Value>,
    events: Vec<Value>,
    requests: Vec<RecordedRequest>,
    idempotency: HashMap<String, Saved>,
    /// API calls still to fail with a 500 ([`FakeStripe::fail_next`]).
    failures: usize,
}

struct Session {
    object: Value,
    /// `payment_intent_data[metadata]`: the payment's metadata once the fan pays.
    payment_metadata: Value,
}

/// The first answer to an idempotency key, and what it was for.
struct Saved {
    endpoint: String,
    form: Vec<(String, String)>,
    status: StatusCode,
    body: Value,
}

/// An error answer. `kept` when Stripe had begun carrying the request out: its
/// idempotency key then replays the error; a request refused by parameter validation
/// leaves the key unused.
struct Refusal {
    status: StatusCode,
    body: Value,
    kept: bool,
}

/// What the fake answers an API call.
struct Answer {
    status: StatusCode,
    body: Value,
    /// The first answer to the request's idempotency key, again.
    replayed: bool,
}

impl From<Refusal> for Answer {
    fn from(refusal: Refusal) -> Self {
        Self { status: refusal.status, body: refusal.body, replayed: false }
    }
}

/// Stripe's error object: `{"error": {"type", "code", "message", "param", "doc_url"}}`.
fn refusal(
    status: StatusCode,
    kind: &str,
    code: Option<&str>,
    param: Option<&str>,
    message: String,
) -> Refusal {
    let mut error = json!({"type": kind, "message": message});
    if let Some(code) = code {
        error["code"] = json!(code);
        error["doc_url"] = json!(format!("https://stripe.com/docs/error-codes/{}", code.replace('_', "-")));
    }
    if let Some(param) = param {
        error["param"] = json!(param);
    }
    Refusal { status, body: json!({ "error": error }), kept: false }
}

fn invalid(code: Option<&str>, param: Option<&str>, message: String) -> Refusal {
    refusal(StatusCode::BAD_REQUEST, "invalid_request_error", code, param, message)
}

fn kept(mut refusal: Refusal) -> Refusal {
    refusal.kept = true;
    refusal
}

fn new_id(prefix: &str, length: usize) -> String {
    format!("{prefix}{}", Alphanumeric.sample_string(&mut rand::thread_rng(), length))
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

impl FakeStripe {
    /// Starts the fake on a free port of 127.0.0.1, accepting `secret_key` (`sk_test_…`)
    /// and signing webhook deliveries with `webhook_secret` (`whsec_…`).
    pub async fn start(secret_key: &str, webhook_secret: &str) -> Self {
        assert!(secret_key.starts_with("sk_test_"), "a test-mode secret key");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base_url = format!("http://{}", listener.local_addr().expect("address"));
        let shared = Arc::new(Mutex::new(Account {
            secret_key: secret_key.to_owned(),
            base_url: base_url.clone(),
            sessions: Vec::new(),
            payments: Vec::new(),
            refunds: Vec::new(),
            events: Vec::new(),
            requests: Vec::new(),
            idempotency: HashMap::new(),
            failures: 0,
        }));
        let router = Router::new()
            .route("/v1/checkout/sessions", post(create_session))
            .route("/v1/checkout/sessions/{id}", get(retrieve_session))
            .route("/v1/checkout/sessions/{id}/expire", post(expire_session))
            .route("/v1/refunds", post(create_refund))
            .route("/c/pay/{id}", get(payment_page))
            .fallback(unrecognized)
            .method_not_allowed_fallback(unrecognized)
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.expect("fake Stripe server");
        });
        Self {
            base_url,
            webhook_secret: webhook_secret.to_owned(),
            shared,
            client: reqwest::Client::new(),
            server,
        }
    }

    /// Where the fake listens (`STRIPE_API_BASE`).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The secret it signs webhook deliveries with.
    pub fn webhook_secret(&self) -> &str {
        &self.webhook_secret
    }

    fn account(&self) -> MutexGuard<'_, Account> {
        self.shared.lock().expect("fake Stripe state")
    }

    /// The fan pays on the hosted page: the session becomes `complete` and `paid` with a
    /// new payment (`pi_…`, charge `ch_…`). Answers the `checkout.session.completed`
    /// event, whose `data.object` is the session, as Stripe would deliver it.
    pub fn complete(&self, session_id: &str) -> Value {
        let mut account = self.account();
        let session = account.session_mut(session_id).unwrap_or_else(|| panic!("no session {session_id}"));
        assert_eq!(session.object["status"], "open", "only an open session can be paid");
        let payment = json!({
            "id": new_id("pi_3", 24), "object": "payment_intent",
            "amount": session.object["amount_total"], "amount_received": session.object["amount_total"],
            "currency": session.object["currency"], "latest_charge": new_id("ch_3", 24),
            "metadata": session.payment_metadata, "status": "succeeded", "created": now(),
            "amount_refunded": 0,
        });
        session.object["status"] = json!("complete");
        session.object["payment_status"] = json!("paid");
        session.object["payment_intent"] = payment["id"].clone();
        session.object["url"] = Value::Null;
        let object = session.object.clone();
        account.payments.push(payment);
        account.event("checkout.session.completed", object)
    }

    /// The session reaches its `expires_at` unpaid (Stripe's own expiry). Answers the
    /// `checkout.session.expired` event.
    pub fn time_out(&self, session_id: &str) -> Value {
        let mut account = self.account();
        let session = account.session_mut(session_id).unwrap_or_else(|| panic!("no session {session_id}"));
        assert_eq!(session.object["status"], "open", "only an open session expires");
        session.object["status"] = json!("expired");
        session.object["url"] = Value::Null;
        let object = session.object.clone();
        account.event("checkout.session.expired", object)
    }

    /// A `Stripe-Signature` header for `payload` signed at `at_unix`, as Stripe sends it:
    /// `t=<time>,v1=<hex HMAC-SHA256 of "{t}.{payload}" under the webhook secret>`.
    pub fn sign(&self, payload: &[u8], at_unix: i64) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.webhook_secret.as_bytes()).expect("any key length");
        mac.update(format!("{at_unix}.").as_bytes());
        mac.update(payload);
        let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
        format!("t={at_unix},v1={hex}")
    }

    /// Delivers `event` to a webhook endpoint as Stripe does: a JSON POST signed now.
    pub async fn deliver(&self, url: &str, event: &Value) -> reqwest::Response {
        let payload = serde_json::to_vec_pretty(event).expect("event JSON");
        self.client
            .post(url)
            .header("Content-Type", "application/json; charset=utf-8")
            .header("User-Agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)")
            .header("Stripe-Signature", self.sign(&payload, now()))
            .body(payload)
            .send()
            .await
            .expect("webhook delivery")
    }

    /// The next `count` API calls fail with Stripe's 500 `api_error` before doing anything
    /// (an outage): nothing is created and no idempotency key is used up.
    pub fn fail_next(&self, count: usize) {
        self.account().failures = count;
    }

    /// A session as Stripe has it now.
    pub fn session(&self, id: &str) -> Option<Value> {
        self.account().sessions.iter().find(|s| s.object["id"] == id).map(|s| s.object.clone())
    }

    /// Every session, oldest first.
    pub fn sessions(&self) -> Vec<Value> {
        self.account().sessions.iter().map(|s| s.object.clone()).collect()
    }

    /// A payment (`pi_…`), with its `amount_refunded` so far.
    pub fn payment(&self, id: &str) -> Option<Value> {
        self.account().payments.iter().find(|p| p["id"] == id).cloned()
    }

    /// Every refund, oldest first.
    pub fn refunds(&self) -> Vec<Value> {
        self.account().refunds.clone()
    }

    /// Every event the account produced, oldest first.
    pub fn events(&self) -> Vec<Value> {
        self.account().events.clone()
    }

    /// Every request received, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.account().requests.clone()
    }
}

impl Drop for FakeStripe {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Account {
    fn session_mut(&mut self, id: &str) -> Option<&mut Session> {
        self.sessions.iter_mut().find(|s| s.object["id"] == id)
    }

    /// Records an event about `object` and answers it.
    fn event(&mut self, kind: &str, object: Value) -> Value {
        let event = json!({
            "id": new_id("evt_1", 24), "object": "event", "api_version": API_VERSION, "created": now(),
            "data": {"object": object}, "livemode": false, "pending_webhooks": 1,
            "request": {"id": null, "idempotency_key": null}, "type": kind,
        });
        self.events.push(event.clone());
        event
    }

    /// Stripe's gatekeeping for every API call, then `operation`.
    fn answer(
        &mut self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        form: Result<Vec<(String, String)>, String>,
        operation: impl FnOnce(&mut Self, &Form) -> Result<Value, Refusal>,
    ) -> Answer {
        if self.failures > 0 {
            self.failures -= 1;
            let message = "An unknown error occurred".to_owned();
            return refusal(StatusCode::INTERNAL_SERVER_ERROR, "api_error", None, None, message).into();
        }
        if let Err(refusal) = self.authenticate(headers) {
            return refusal.into();
        }
        let form = match form {
            Ok(form) => Form(form),
            Err(message) => return invalid(None, None, message).into(),
        };
        let endpoint = format!("{method} {path}");
        let key =
            headers.get("Idempotency-Key").and_then(|v| v.to_str().ok()).filter(|_| method == Method::POST);
        if let Some(key) = key
            && let Some(saved) = self.idempotency.get(key)
        {
            return replay(key, saved, &endpoint, &form);
        }
        let (status, body, keep) = match operation(self, &form) {
            Ok(body) => (StatusCode::OK, body, true),
            Err(refusal) => (refusal.status, refusal.body, refusal.kept),
        };
        if let (Some(key), true) = (key, keep) {
            let saved = Saved { endpoint, form: sorted(&form.0), status, body: body.clone() };
            self.idempotency.insert(key.to_owned(), saved);
        }
        Answer { status, body, replayed: false }
    }

    fn authenticate(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        let unauthorized =
            |message: String| refusal(StatusCode::UNAUTHORIZED, "invalid_request_error", None, None, message);
        let given = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        let Some(key) = given.and_then(|v| v.strip_prefix("Bearer ")) else {
            return Err(unauthorized(
                "You did not provide an API key. You need to provide your API key in the Authorization header, \
                 using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See \
                 https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/."
                    .to_owned(),
            ));
        };
        if key != self.secret_key {
            return Err(unauthorized(format!("Invalid API Key provided: {}", masked(key))));
        }
        Ok(())
    }

    fn create_session(&mut self, form: &Form) -> Result<Value, Refusal> {
        form.only(&[
            "mode",
            "line_items[#][quantity]",
            "line_items[#][price_data][currency]",
            "line_items[#][price_data][unit_amount]",
            "line_items[#][price_data][product_data][name]",
            "line_items[#][price_data][product_data][description]",
            "success_url",
            "cancel_url",
            "client_reference_id",
            "customer_email",
            "metadata[*]",
            "payment_intent_data[metadata][*]",
            "expires_at",
        ])?;
        match form.required("mode")? {
            "payment" => {}
            "setup" | "subscription" => {
                return Err(invalid(None, Some("mode"), "The fake implements mode=payment only".to_owned()));
            }
            other => return Err(invalid(None, Some("mode"), format!("Invalid mode: {other}"))),
        }
        let (currency, amount_total) = form.line_items()?;
        let success_url = form.url("success_url")?.ok_or_else(|| missing("success_url"))?;
        let cancel_url = form.url("cancel_url")?;
        let reference = form.get("client_reference_id");
        if reference.is_some_and(|r| r.chars().count() > 200) {
            return Err(invalid(
                None,
                Some("client_reference_id"),
                "Must be at most 200 characters".to_owned(),
            ));
        }
        let email = form.get("customer_email");
        if let Some(email) = email {
            let (local, domain) = email.split_once('@').unwrap_or_default();
            if local.is_empty() || !domain.contains('.') || email.contains(char::is_whitespace) {
                let message = format!("Invalid email address: {email}");
                return Err(invalid(Some("email_invalid"), Some("customer_email"), message));
            }
        }
        let created = now();
        let expires_at = form.integer("expires_at")?.unwrap_or(created + MAX_SESSION_LIFETIME);
        if expires_at < created + MIN_SESSION_LIFETIME {
            let message =
                "The `expires_at` timestamp must be at least 30 minutes from Checkout Session creation.";
            return Err(invalid(None, Some("expires_at"), message.to_owned()));
        }
        if expires_at > created + MAX_SESSION_LIFETIME {
            let message =
                "The `expires_at` timestamp must be less than 24 hours from Checkout Session creation.";
            return Err(invalid(None, Some("expires_at"), message.to_owned()));
        }
        let metadata = form.metadata("metadata")?;
        let payment_metadata = form.metadata("payment_intent_data[metadata]")?;
        let id = new_id("cs_test_a1", 56);
        let object = json!({
            "id": id, "object": "checkout.session", "amount_subtotal": amount_total,
            "amount_total": amount_total, "cancel_url": cancel_url, "client_reference_id": reference,
            "created": created, "currency": currency, "customer_email": email, "expires_at": expires_at,
            "livemode": false, "metadata": metadata, "mode": "payment", "payment_intent": null,
            "payment_status": "unpaid", "status": "open", "success_url": success_url,
            "url": format!("{}/c/pay/{id}", self.base_url),
        });
        self.sessions.push(Session { object: object.clone(), payment_metadata });
        Ok(object)
    }

    fn retrieve_session(&mut self, id: &str, form: &Form) -> Result<Value, Refusal> {
        form.only(&[])?;
        self.session_mut(id).map(|s| s.object.clone()).ok_or_else(|| no_such_session(id))
    }

    fn expire_session(&mut self, id: &str, form: &Form) -> Result<Value, Refusal> {
        form.only(&[])?;
        let session = self.session_mut(id).ok_or_else(|| no_such_session(id))?;
        let status = session.object["status"].as_str().unwrap_or_default().to_owned();
        if status != "open" {
            return Err(kept(invalid(
                None,
                None,
                format!(
                    "Only Checkout Sessions with a status in [\"open\"] can be expired. \
                     This Checkout Session has a status of `{status}`."
                ),
            )));
        }
        session.object["status"] = json!("expired");
        session.object["url"] = Value::Null;
        let object = session.object.clone();
        self.event("checkout.session.expired", object.clone());
        Ok(object)
    }

    fn create_refund(&mut self, form: &Form) -> Result<Value, Refusal> {
        form.only(&["payment_intent", "charge", "amount", "reason", "metadata[*]"])?;
        let amount = form.integer("amount")?;
        if amount.is_some_and(|a| a < 1) {
            let message = "This value must be greater than or equal to 1.".to_owned();
            return Err(invalid(Some("parameter_invalid_integer"), Some("amount"), message));
        }
        let reasons = ["duplicate", "fraudulent", "requested_by_customer"];
        if let Some(reason) = form.get("reason")
            && !reasons.contains(&reason)
        {
            let message = "Invalid reason: must be one of duplicate, fraudulent, or requested_by_customer";
            return Err(invalid(None, Some("reason"), message.to_owned()));
        }
        let metadata = form.metadata("metadata")?;
        let payment = match (form.get("payment_intent"), form.get("charge")) {
            (Some(id), _) => self.payments.iter_mut().find(|p| p["id"] == id).ok_or_else(|| {
                invalid(
                    Some("resource_missing"),
                    Some("payment_intent"),
                    format!("No such payment_intent: '{id}'"),
                )
            })?,
            (None, Some(id)) => {
                self.payments.iter_mut().find(|p| p["latest_charge"] == id).ok_or_else(|| {
                    invalid(Some("resource_missing"), Some("charge"), format!("No such charge: '{id}'"))
                })?
            }
            (None, None) => {
                let message = "One of the following params should be provided for this request: payment_intent or charge.";
                return Err(invalid(None, None, message.to_owned()));
            }
        };
        let charged = payment["amount_received"].as_i64().unwrap_or_default();
        let refunded = payment["amount_refunded"].as_i64().unwrap_or_default();
        let charge_id = payment["latest_charge"].clone();
        let currency = payment["currency"].clone();
        let remaining = charged - refunded;
        if remaining == 0 {
            let message =
                format!("Charge {} has already been refunded.", charge_id.as_str().unwrap_or_default());
            return Err(kept(invalid(Some("charge_already_refunded"), None, message)));
        }
        let amount = amount.unwrap_or(remaining);
        if amount > remaining {
            let message = format!(
                "Refund amount ({amount} {currency}) is greater than unrefunded amount on charge ({remaining} {currency})",
                currency = currency.as_str().unwrap_or_default()
            );
            return Err(kept(invalid(Some("amount_too_large"), Some("amount"), message)));
        }
        payment["amount_refunded"] = json!(refunded + amount);
        let refund = json!({
            "id": new_id("re_3", 24), "object": "refund", "amount": amount, "charge": charge_id,
            "created": now(), "currency": currency, "metadata": metadata, "payment_intent": payment["id"],
            "reason": form.get("reason"), "status": "succeeded",
        });
        let charge = json!({
            "id": charge_id, "object": "charge", "amount": charged, "amount_captured": charged,
            "amount_refunded": refunded + amount, "captured": true, "currency": currency,
            "metadata": payment["metadata"], "paid": true, "payment_intent": payment["id"],
            "refunded": refunded + amount == charged, "status": "succeeded",
        });
        self.refunds.push(refund.clone());
        self.event("charge.refunded", charge);
        Ok(refund)
    }
}

/// The first answer again for the same request, Stripe's `idempotency_error` otherwise.
fn replay(key: &str, saved: &Saved, endpoint: &str, form: &Form) -> Answer {
    if saved.endpoint != endpoint {
        let message = format!(
            "Keys for idempotent requests can only be used for the same endpoint they were first used for \
             ('{endpoint}' vs '{}'). Try using a key other than '{key}' if you meant to execute a different request.",
            saved.endpoint
        );
        return refusal(StatusCode::BAD_REQUEST, "idempotency_error", None, None, message).into();
    }
    if saved.form != sorted(&form.0) {
        let message = format!(
            "Keys for idempotent requests can only be used with the same parameters they were first used with. \
             Try using a key other than '{key}' if you meant to execute a different request."
        );
        return refusal(StatusCode::BAD_REQUEST, "idempotency_error", None, None, message).into();
    }
    Answer { status: saved.status, body: saved.body.clone(), replayed: true }
}

fn sorted(form: &[(String, String)]) -> Vec<(String, String)> {
    let mut form = form.to_vec();
    form.sort();
    form
}

/// `sk_test_************1234`, as Stripe echoes a wrong key.
fn masked(key: &str) -> String {
    let shown = if key.starts_with("sk_test_") || key.starts_with("sk_live_") { 8 } else { 0 };
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= shown + 4 {
        return "*".repeat(chars.len());
    }
    let middle = "*".repeat(chars.len() - shown - 4);
    format!(
        "{}{middle}{}",
        chars[..shown].iter().collect::<String>(),
        chars[chars.len() - 4..].iter().collect::<String>()
    )
}

fn missing(param: &str) -> Refusal {
    invalid(Some("parameter_missing"), Some(param), format!("Missing required param: {param}."))
}

fn no_such_session(id: &str) -> Refusal {
    let message = format!("No such checkout.session: '{id}'");
    refusal(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        Some("resource_missing"),
        Some("session"),
        message,
    )
}

type Shared = Arc<Mutex<Account>>;

/// Records the request, then answers it as Stripe would.
fn serve(
    shared: &Shared,
    method: Method,
    uri: &Uri,
    headers: HeaderMap,
    body: &[u8],
    operation: impl FnOnce(&mut Account, &Form) -> Result<Value, Refusal>,
) -> Response {
    let form = read_form(&method, uri, &headers, body);
    let path = uri.path().to_owned();
    let mut account = shared.lock().expect("fake Stripe state");
    account.requests.push(RecordedRequest {
        method: method.clone(),
        path: path.clone(),
        headers: headers.clone(),
        form: form.clone().unwrap_or_default(),
    });
    let Answer { status, body, replayed } = account.answer(&method, &path, &headers, form, operation);
    let mut response = (status, axum::Json(body)).into_response();
    let response_headers = response.headers_mut();
    response_headers.insert("Request-Id", HeaderValue::from_str(&new_id("req_", 14)).expect("ascii"));
    if replayed {
        response_headers.insert("Idempotent-Replayed", HeaderValue::from_static("true"));
    }
    if status == StatusCode::UNAUTHORIZED {
        response_headers
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"Stripe\""));
    }
    response
}

async fn create_session(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    serve(&shared, method, &uri, headers, &body, Account::create_session)
}

async fn retrieve_session(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    serve(&shared, method, &uri, headers, &[], |account, form| account.retrieve_session(&id, form))
}

async fn expire_session(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    serve(&shared, method, &uri, headers, &body, |account, form| account.expire_session(&id, form))
}

async fn create_refund(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    serve(&shared, method, &uri, headers, &body, Account::create_refund)
}

/// The hosted payment page a session's `url` leads to.
async fn payment_page(State(shared): State<Shared>, Path(id): Path<String>) -> Response {
    let account = shared.lock().expect("fake Stripe state");
    let Some(session) = account.sessions.iter().find(|s| s.object["id"] == id.as_str()) else {
        return (StatusCode::NOT_FOUND, Html("<h1>Something went wrong</h1>".to_owned())).into_response();
    };
    let object = &session.object;
    if object["status"] != "open" {
        return Html("<h1>This Checkout Session is no longer active.</h1>".to_owned()).into_response();
    }
    Html(format!(
        "<!doctype html><title>Fake Stripe Checkout</title><h1>Pay {} {}</h1><p>Session {}</p>",
        object["amount_total"],
        object["currency"].as_str().unwrap_or_default().to_ascii_uppercase(),
        object["id"].as_str().unwrap_or_default()
    ))
    .into_response()
}

/// Stripe's answer to a path or method it does not have.
async fn unrecognized(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let mut account = shared.lock().expect("fake Stripe state");
    let path = uri.path().to_owned();
    account.requests.push(RecordedRequest {
        method: method.clone(),
        path: path.clone(),
        headers,
        form: Vec::new(),
    });
    let message = format!(
        "Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or we can help at \
         https://support.stripe.com/."
    );
    let refusal = refusal(StatusCode::NOT_FOUND, "invalid_request_error", None, None, message);
    (refusal.status, axum::Json(refusal.body)).into_response()
}
