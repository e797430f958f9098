//! Orders: `GET /orders/{id}`, `GET /users/my/orders`, `GET /concerts/{id}/orders`,
//! `DELETE /orders/{id}`, `POST /orders/{id}/payment`, `POST /orders/{id}/mark-paid`.

use axum::Json;
use axum::extract::State;
use axum::http::Uri;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::concerts::page_and_size;
use super::error::{ApiError, ErrorBody};
use super::extract::ApiPath;
use super::{AppState, Data};
use crate::auth::Principal;
use crate::domain::FieldError;
use crate::domain::booking::ReservationStatus;
use crate::domain::order::{OrderStatus, PaymentOutcome};
use crate::domain::venue::Price;
use crate::service::orders::{MANUAL_INSTRUCTIONS, WebhookError};
use crate::store::{OrderRecord, PaymentRecord};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(order, cancel_order))
        .routes(routes!(my_orders))
        .routes(routes!(concert_orders))
        .routes(routes!(pay))
        .routes(routes!(mark_paid))
        .routes(routes!(webhook))
}

/// What a webhook answers once the event is taken.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookAnswer {
    pub received: bool,
}

/// A payment provider's notice (Stripe: `checkout.session.completed` and others), signed by
/// the provider (`Stripe-Signature`: `t=…,v1=…`, HMAC-SHA256 of `{t}.{body}` with the
/// endpoint's secret, at most 5 minutes old). A bad, old or missing signature is 400 and
/// changes nothing. Each event is processed at most once: a repeat is 200 and changes
/// nothing. Register `https://<your host>/api/v1/payments/stripe/webhook` at Stripe.
#[utoipa::path(post, path = "/payments/{provider}/webhook", tag = "orders",
    params(("provider" = String, Path, description = "`stripe`")),
    request_body(content = String, content_type = "application/json", description = "the provider's event, as it signed it"),
    responses(
        (status = 200, description = "the event was taken (or taken before)", body = WebhookAnswer),
        (status = 400, description = "SIGNATURE_INVALID: a bad, old or missing signature, or no event", body = ErrorBody),
        (status = 404, description = "no such provider configured", body = ErrorBody),
    ))]
async fn webhook(
    State(state): State<AppState>,
    ApiPath(provider): ApiPath<String>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<WebhookAnswer>, ApiError> {
    let signature = headers.get("stripe-signature").and_then(|v| v.to_str().ok());
    match state.orders.webhook(&provider, signature, &body).await {
        Ok(()) => Ok(Json(WebhookAnswer { received: true })),
        Err(WebhookError::UnknownProvider) => Err(ApiError::NotFound("payment provider")),
        Err(WebhookError::Refused(message)) => {
            Err(ApiError::Invalid(vec![FieldError { field: "Stripe-Signature".into(), message }]))
        }
        Err(WebhookError::Failed(e)) => Err(e.into()),
    }
}

/// One seat or standing place of an order.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderLineView {
    pub reservation_id: i64,
    /// The section (`""` for the seed's one).
    pub section: String,
    /// The row (`""` for a standing place).
    pub horizontal: String,
    pub vertical: u32,
    #[schema(value_type = super::docs::ReservationStatusSchema)]
    pub status: ReservationStatus,
    #[schema(value_type = f64, example = 150000)]
    pub price: Price,
}

/// One change of an order.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderEventView {
    pub status: String,
    pub cause: String,
    /// Who made the change (none: the service itself, e.g. the hold ended).
    #[schema(required)]
    pub actor_id: Option<i64>,
    pub at: DateTime<Utc>,
}

/// How an order is paid.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentView {
    /// `manual` (box office, bank transfer).
    pub provider: String,
    /// `PENDING` until the money arrived, then `SUCCEEDED`.
    pub status: String,
    /// The provider's hosted payment page, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub redirect_url: Option<String>,
    /// What the fan does to pay (the manual provider).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub instructions: Option<String>,
    #[schema(value_type = f64)]
    pub amount: Price,
    pub currency: String,
    #[schema(required)]
    pub paid_at: Option<DateTime<Utc>>,
    /// Who recorded a manual payment.
    #[schema(required)]
    pub paid_by: Option<i64>,
}

impl From<PaymentRecord> for PaymentView {
    fn from(p: PaymentRecord) -> Self {
        let instructions = (p.provider == "manual").then(|| MANUAL_INSTRUCTIONS.to_owned());
        Self {
            provider: p.provider,
            status: p.status,
            redirect_url: p.redirect_url,
            instructions,
            amount: Price::from_cents(p.amount_cents),
            currency: p.currency,
            paid_at: p.paid_at,
            paid_by: p.paid_by,
        }
    }
}

/// Money given back.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefundView {
    /// The cancelled seat it pays back; none for a whole order.
    #[schema(required)]
    pub reservation_id: Option<i64>,
    #[schema(value_type = f64)]
    pub amount: Price,
    pub reason: String,
    pub provider: String,
    pub created_at: DateTime<Utc>,
}

/// An order: what one booking request bought, its payment and its history.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderView {
    pub id: i64,
    pub concert_id: i64,
    pub user_id: i64,
    /// `CONFIRMED`, `PENDING_PAYMENT`, `PAID`, `EXPIRED`, `CANCELLED`, `PARTIALLY_REFUNDED`
    /// or `REFUNDED`.
    #[schema(example = "PENDING_PAYMENT")]
    pub status: &'static str,
    /// What its seats cost when booked.
    #[schema(value_type = f64, example = 300000)]
    pub total: Price,
    pub currency: String,
    pub created_at: DateTime<Utc>,
    /// Until when a pending order holds its seats.
    #[schema(required)]
    pub expires_at: Option<DateTime<Utc>>,
    /// Why it ended as it did (`EXPIRED_BEFORE_PAYMENT`), when that needs saying.
    #[schema(required)]
    pub reason: Option<String>,
    #[schema(value_type = f64)]
    pub paid: Price,
    #[schema(value_type = f64)]
    pub refunded: Price,
    pub reservations: Vec<OrderLineView>,
    #[schema(required)]
    pub payment: Option<PaymentView>,
    pub refunds: Vec<RefundView>,
    /// Every change after it was made, oldest first.
    pub history: Vec<OrderEventView>,
    /// The presale it was booked in, with the access code used; null for an order of
    /// the general sale.
    #[schema(required)]
    pub presale: Option<OrderPresaleView>,
}

/// The presale an order was booked in.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderPresaleView {
    #[schema(example = "Fan club")]
    pub name: String,
    #[schema(example = "FANCLUB-2027")]
    pub access_code: String,
}

impl From<OrderRecord> for OrderView {
    fn from(o: OrderRecord) -> Self {
        Self {
            id: o.id,
            concert_id: o.concert_id,
            user_id: o.user_id,
            status: o.status.as_str(),
            total: Price::from_cents(o.total_cents),
            currency: o.currency,
            created_at: o.created_at,
            expires_at: o.expires_at,
            reason: o.reason,
            paid: Price::from_cents(o.paid_cents),
            refunded: Price::from_cents(o.refunded_cents),
            reservations: o
                .lines
                .into_iter()
                .map(|l| OrderLineView {
                    reservation_id: l.reservation_id,
                    section: l.seat.section.to_string(),
                    horizontal: l.seat.horizontal.to_string(),
                    vertical: l.seat.vertical,
                    status: l.status,
                    price: Price::from_cents(l.price_cents),
                })
                .collect(),
            payment: o.payment.map(PaymentView::from),
            refunds: o
                .refunds
                .into_iter()
                .map(|r| RefundView {
                    reservation_id: r.reservation_id,
                    amount: Price::from_cents(r.amount_cents),
                    reason: r.reason,
                    provider: r.provider,
                    created_at: r.created_at,
                })
                .collect(),
            history: o
                .events
                .into_iter()
                .map(|e| OrderEventView { status: e.status, cause: e.cause, actor_id: e.actor_id, at: e.at })
                .collect(),
            presale: o.presale.map(|(name, access_code)| OrderPresaleView { name, access_code }),
        }
    }
}

/// A page of orders.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderPage {
    pub content: Vec<OrderView>,
    pub page: i64,
    pub size: i64,
    pub total_elements: i64,
    pub total_pages: i64,
}

/// `?status=` of a concert's order list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrderFilter {
    /// Only orders of this status.
    pub status: Option<String>,
}

/// What a recorded payment did.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MarkPaidView {
    /// `PAID` (the seats are the fan's), `ALREADY_PAID` (recorded before: nothing changed),
    /// `REFUNDED` (the hold had ended and its seats were gone: the money goes back).
    #[schema(example = "PAID")]
    pub outcome: &'static str,
    pub order: OrderView,
}

/// One order, for its fan, its concert's promoter or an administrator.
#[utoipa::path(get, path = "/orders/{id}", tag = "orders", security(("bearer" = [])),
    params(("id" = i64, Path, description = "order id")),
    responses(
        (status = 200, description = "the order", body = Data<OrderView>),
        (status = 400, description = "the id is not a number", body = ErrorBody),
        (status = 401, description = "no valid token", body = ErrorBody),
        (status = 403, description = "not the fan, the promoter or an administrator", body = ErrorBody),
        (status = 404, description = "no such order", body = ErrorBody),
    ))]
async fn order(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Data<OrderView>>, ApiError> {
    Ok(Json(Data::new(state.orders.order(&principal, id).await?.into())))
}

/// The fan gives up a pending order: its seats are free at once.
#[utoipa::path(delete, path = "/orders/{id}", tag = "orders", security(("bearer" = [])),
    params(("id" = i64, Path, description = "order id")),
    responses(
        (status = 200, description = "the order, cancelled", body = Data<OrderView>),
        (status = 400, description = "the id is not a number", body = ErrorBody),
        (status = 401, description = "no valid token", body = ErrorBody),
        (status = 403, description = "not the fan's order", body = ErrorBody),
        (status = 404, description = "no such order", body = ErrorBody),
        (status = 409, description = "ORDER_NOT_PENDING: paid, expired or cancelled already", body = ErrorBody),
    ))]
async fn cancel_order(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Data<OrderView>>, ApiError> {
    Ok(Json(Data::new(state.orders.cancel(&principal, id).await?.into())))
}

/// The caller's orders, newest first.
#[utoipa::path(get, path = "/users/my/orders", tag = "users", security(("bearer" = [])),
    responses(
        (status = 200, description = "the caller's orders", body = Data<Vec<OrderView>>),
        (status = 401, description = "no valid token", body = ErrorBody),
    ))]
async fn my_orders(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Data<Vec<OrderView>>>, ApiError> {
    let orders = state.orders.mine(&principal).await?;
    Ok(Json(Data::new(orders.into_iter().map(OrderView::from).collect())))
}

/// A concert's orders, newest first, for its promoter and administrators.
#[utoipa::path(get, path = "/concerts/{id}/orders", tag = "concerts", security(("bearer" = [])),
    params(("id" = i64, Path, description = "concert id"), super::concerts::PageQuery, OrderFilter),
    responses(
        (status = 200, description = "a page of the concert's orders", body = Data<OrderPage>),
        (status = 400, description = "a bad page, size or status", body = ErrorBody),
        (status = 401, description = "no valid token", body = ErrorBody),
        (status = 403, description = "not the concert's promoter or an administrator", body = ErrorBody),
        (status = 404, description = "no such concert", body = ErrorBody),
    ))]
async fn concert_orders(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
    uri: Uri,
) -> Result<Json<Data<OrderPage>>, ApiError> {
    let (page, size) = page_and_size(&uri)?;
    let filter = axum::extract::Query::<OrderFilter>::try_from_uri(&uri)
        .map_err(|e| ApiError::Invalid(vec![FieldError { field: "query".into(), message: e.body_text() }]))?;
    let status = match filter.status.as_deref() {
        None => None,
        Some(raw) => Some(
            OrderStatus::parse(raw)
                .map_err(|message| ApiError::Invalid(vec![FieldError { field: "status".into(), message }]))?,
        ),
    };
    let (orders, total) = state.orders.of_concert(&principal, id, status, (page, size)).await?;
    Ok(Json(Data::new(OrderPage {
        content: orders.into_iter().map(OrderView::from).collect(),
        page,
        size,
        total_elements: total,
        total_pages: (total + size - 1) / size,
    })))
}

/// The fan starts paying a pending order with the service's payment provider; asked
/// again, answers the same payment.
#[utoipa::path(post, path = "/orders/{id}/payment", tag = "orders", security(("bearer" = [])),
    params(("id" = i64, Path, description = "order id")),
    responses(
        (status = 200, description = "the order's payment: where to pay, or what to do", body = Data<PaymentView>),
        (status = 400, description = "the id is not a number", body = ErrorBody),
        (status = 401, description = "no valid token", body = ErrorBody),
        (status = 403, description = "not the fan's order", body = ErrorBody),
        (status = 404, description = "no such order", body = ErrorBody),
        (status = 409, description = "ORDER_NOT_PENDING, or PAYMENT_UNAVAILABLE (no provider)", body = ErrorBody),
    ))]
async fn pay(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Data<PaymentView>>, ApiError> {
    Ok(Json(Data::new(state.orders.pay(&principal, id).await?.into())))
}

/// The concert's promoter or an administrator records a payment taken at the box office or
/// by bank transfer (the manual provider). A hold that has ended takes its seats again if
/// they are all still free; else the money is to be given back (`REFUNDED`,
/// `EXPIRED_BEFORE_PAYMENT`). Recorded twice, it counts once.
#[utoipa::path(post, path = "/orders/{id}/mark-paid", tag = "orders", security(("bearer" = [])),
    params(("id" = i64, Path, description = "order id")),
    responses(
        (status = 200, description = "what the payment did, and the order", body = Data<MarkPaidView>),
        (status = 400, description = "the id is not a number", body = ErrorBody),
        (status = 401, description = "no valid token", body = ErrorBody),
        (status = 403, description = "not the concert's promoter or an administrator", body = ErrorBody),
        (status = 404, description = "no such order", body = ErrorBody),
    ))]
async fn mark_paid(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Data<MarkPaidView>>, ApiError> {
    let (order, outcome) = state.orders.mark_paid(&principal, id).await?;
    let outcome = match outcome {
        PaymentOutcome::Paid => "PAID",
        PaymentOutcome::AlreadyPaid => "ALREADY_PAID",
        PaymentOutcome::RefundExpired | PaymentOutcome::Refund => "REFUNDED",
    };
    Ok(Json(Data::new(MarkPaidView { outcome, order: order.into() })))
}
