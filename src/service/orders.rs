//! Orders: reading them, paying for them, giving them up, and the sweeper that expires
//! holds nobody paid for.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use super::audit::{AuditLog, Change};
use super::completion::{committed, to_completion};
use super::views::Views;
use super::{ServiceError, ensure_owner};
use crate::auth::Principal;
use crate::config::{PaymentProvider, PaymentSettings};
use crate::domain::order::{OrderStatus, PaymentOutcome, minor_units};
use crate::domain::user::Role;
use crate::payment::stripe::{self, EventData};
use crate::payment::{Charge, Provider, Stripe};
use crate::store::{OrderError, OrderRecord, Payment, PaymentRecord, Store};

/// How often the sweeper looks for holds that are over.
pub const SWEEP_EVERY: Duration = Duration::from_secs(1);
/// Most orders one sweep expires (the next sweep takes the rest).
const SWEEP_BATCH: i64 = 20_000;

/// What a fan is told to do to pay an order through the manual provider.
pub const MANUAL_INSTRUCTIONS: &str = "Pay at the box office or by bank transfer, quoting your order number. \
     The seats are yours once the promoter records the payment; unpaid, they are released when the hold ends.";

/// The order use cases.
pub struct Orders {
    store: Arc<dyn Store>,
    views: Arc<Views>,
    audit: Arc<AuditLog>,
    payments: PaymentSettings,
    /// The provider money moves through (none for `none` and `manual`).
    provider: Option<Arc<dyn Provider>>,
}

/// Why a provider's webhook was not taken.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// No such provider here (404).
    #[error("no webhook for this provider")]
    UnknownProvider,
    /// A bad, old or missing signature, or a body that is no event (400): nothing changed.
    #[error("{0}")]
    Refused(String),
    /// Something failed on the way (500: the provider delivers the event again).
    #[error(transparent)]
    Failed(#[from] ServiceError),
}

impl From<OrderError> for ServiceError {
    fn from(e: OrderError) -> Self {
        match e {
            OrderError::NotFound => ServiceError::NotFound("order"),
            OrderError::NotPending(status) => ServiceError::conflict(
                "ORDER_NOT_PENDING",
                format!("the order is {}: only a pending order can be paid for or given up", status.as_str()),
            ),
            OrderError::EventSeen => ServiceError::conflict("EVENT_SEEN", "this event was processed before"),
            OrderError::Mismatch => {
                ServiceError::conflict("PAYMENT_MISMATCH", "the payment is not the order's total")
            }
            OrderError::Store(e) => e.into(),
        }
    }
}

impl Orders {
    pub(super) fn new(
        store: Arc<dyn Store>,
        views: Arc<Views>,
        audit: Arc<AuditLog>,
        payments: PaymentSettings,
    ) -> anyhow::Result<Self> {
        let provider: Option<Arc<dyn Provider>> = match &payments.stripe {
            Some(settings) => Some(Arc::new(Stripe::new(&settings.api_base, &settings.secret_key)?)),
            None => None,
        };
        Ok(Self { store, views, audit, payments, provider })
    }

    /// The provider this service pays orders with.
    pub fn provider(&self) -> PaymentProvider {
        self.payments.provider
    }

    /// The currency of a concert that does not name one.
    pub fn default_currency(&self) -> &str {
        &self.payments.default_currency
    }

    /// An order, for its fan, its concert's promoter or an administrator.
    pub async fn order(&self, caller: &Principal, id: i64) -> Result<OrderRecord, ServiceError> {
        let order = self.store.order(id).await?.ok_or(ServiceError::NotFound("order"))?;
        self.may_see(caller, &order).await?;
        Ok(order)
    }

    /// The caller's own orders, newest first.
    pub async fn mine(&self, caller: &Principal) -> Result<Vec<OrderRecord>, ServiceError> {
        Ok(self.store.orders_of_user(caller.user_id, 200).await?)
    }

    /// A concert's orders, for its promoter and administrators: a page and the total.
    pub async fn of_concert(
        &self,
        caller: &Principal,
        concert_id: i64,
        status: Option<OrderStatus>,
        (page, size): (i64, i64),
    ) -> Result<(Vec<OrderRecord>, i64), ServiceError> {
        let concert = self.store.concert(concert_id).await?.ok_or(ServiceError::NotFound("concert"))?;
        ensure_owner(caller, concert.owner_id)?;
        Ok(self.store.orders_of_concert(concert_id, status, (page - 1) * size, size).await?)
    }

    /// The fan gives up a pending order: its seats are free at once.
    pub async fn cancel(&self, caller: &Principal, id: i64) -> Result<OrderRecord, ServiceError> {
        let order = self.order(caller, id).await?;
        if order.user_id != caller.user_id && !caller.has(Role::Admin) {
            return Err(ServiceError::Forbidden("only the fan who ordered may give an order up"));
        }
        let (store, views) = (self.store.clone(), self.views.clone());
        let caller = caller.clone();
        to_completion(async move {
            let order = store.cancel_order(id, caller.user_id).await?;
            committed().await;
            views.concert_seats_unknown(order.concert_id).await;
            metrics::counter!("orders_total", "outcome" => "cancelled").increment(1);
            Ok(order)
        })
        .await
    }

    /// The fan starts paying a pending order with the configured provider; asked again,
    /// answers the same payment.
    pub async fn pay(&self, caller: &Principal, id: i64) -> Result<PaymentRecord, ServiceError> {
        let order = self.order(caller, id).await?;
        if order.user_id != caller.user_id {
            return Err(ServiceError::Forbidden("only the fan who ordered may pay for it"));
        }
        if let Some(payment) = order.payment {
            return Ok(payment);
        }
        match self.payments.provider {
            PaymentProvider::None => Err(ServiceError::conflict(
                "PAYMENT_UNAVAILABLE",
                "this service takes no payments (PAYMENT_PROVIDER is none)",
            )),
            PaymentProvider::Manual => Ok(self.store.start_payment(id, "manual", None, None).await?),
            PaymentProvider::Stripe => {
                let provider =
                    self.provider.as_ref().ok_or_else(|| anyhow::anyhow!("Stripe is not set up"))?;
                if order.status != OrderStatus::PendingPayment {
                    return Err(OrderError::NotPending(order.status).into());
                }
                let concert = self.store.concert(order.concert_id).await?;
                let description = format!(
                    "{}: {} seat(s), order {}",
                    concert.as_ref().map_or("Tickets", |c| c.name.as_str()),
                    order.lines.len(),
                    order.id
                );
                let return_url = format!("{}/orders?order={}", self.payments.public_url, order.id);
                let charge = Charge {
                    order_id: order.id,
                    amount: minor_units(order.total_cents, &order.currency),
                    currency: &order.currency,
                    description: &description,
                    customer_email: None,
                    return_url: &return_url,
                    hold_ends: order.expires_at.unwrap_or_else(Utc::now),
                };
                let started = provider.start(&charge).await.map_err(|e| {
                    tracing::warn!(order = id, error = format!("{e:#}"), "starting a payment failed");
                    ServiceError::conflict(
                        "PAYMENT_PROVIDER_UNAVAILABLE",
                        "the payment provider did not answer; try again",
                    )
                })?;
                Ok(self
                    .store
                    .start_payment(
                        id,
                        provider.name(),
                        started.reference.as_deref(),
                        started.redirect_url.as_deref(),
                    )
                    .await?)
            }
        }
    }

    /// A provider's webhook: verified, then each event processed at most once. A payment
    /// settles its order by the late-payment rule; money for an unknown order, or of the
    /// wrong amount or currency, is refunded and recorded; every other event is recorded.
    pub async fn webhook(
        &self,
        provider: &str,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<(), WebhookError> {
        let (Some(settings), "stripe") = (&self.payments.stripe, provider) else {
            return Err(WebhookError::UnknownProvider);
        };
        stripe::verify_signature(&settings.webhook_secret, signature, body, Utc::now())
            .map_err(|e| WebhookError::Refused(format!("Stripe-Signature: {e}")))?;
        let event = stripe::parse_event(body).map_err(|e| WebhookError::Refused(e.to_string()))?;
        let record = |order: Option<i64>, outcome: &str| {
            let (store, id, kind, outcome) =
                (self.store.clone(), event.id.clone(), event.kind.clone(), outcome.to_owned());
            async move {
                store.record_event("stripe", (&id, &kind), order, &outcome).await.map_err(ServiceError::from)
            }
        };
        let EventData::CheckoutCompleted(paid) = &event.data else {
            let order = match &event.data {
                EventData::CheckoutExpired(ended) | EventData::CheckoutPaymentFailed(ended) => ended.order_id,
                _ => None,
            };
            record(order, "RECORDED").await?;
            return Ok(());
        };
        if !paid.is_paid() {
            record(paid.order_id, "AWAITING_PAYMENT").await?;
            return Ok(());
        }
        let Some(id) = paid.order_id else {
            // Another integration's session on the same account: not ours to act on.
            record(None, "NOT_OURS").await?;
            return Ok(());
        };
        let payment = Payment {
            provider: "stripe",
            reference: paid.payment_intent.as_deref(),
            recorded_by: None,
            event: Some((&event.id, &event.kind)),
            amount: Some((paid.amount_total, &paid.currency)),
        };
        let why = match self.store.settle(id, payment).await {
            Ok((order, outcome)) => {
                if outcome != PaymentOutcome::AlreadyPaid {
                    self.views.concert_seats_unknown(order.concert_id).await;
                }
                metrics::counter!("orders_total", "outcome" => format!("{outcome:?}")).increment(1);
                if matches!(outcome, PaymentOutcome::Refund | PaymentOutcome::RefundExpired) {
                    self.send_refunds().await;
                }
                return Ok(());
            }
            Err(OrderError::EventSeen) => return Ok(()),
            Err(OrderError::NotFound) => "UNKNOWN_ORDER",
            Err(OrderError::Mismatch) => "AMOUNT_MISMATCH",
            Err(e) => return Err(ServiceError::from(e).into()),
        };
        // Money moved that no order can keep: it goes back (the event names the refund, so
        // a redelivery never refunds twice), and the event says why.
        let outcome = match (&self.provider, &paid.payment_intent) {
            (Some(provider), Some(intent)) => {
                let key = format!("{}-refund", event.id);
                let refund = provider
                    .refund(intent, paid.amount_total, &key)
                    .await
                    .map_err(|e| ServiceError::Other(e.context("refunding a payment no order can keep")))?;
                format!("{why}: REFUNDED {refund}")
            }
            _ => format!("{why}: NOTHING TO REFUND"),
        };
        tracing::warn!(event = %event.id, order = id, outcome, "a payment did not match its order");
        record(Some(id), &outcome).await?;
        Ok(())
    }

    /// Sends the refunds recorded for the provider and not sent yet (each named by its own
    /// key, so a retry never refunds twice). Failures stay for the next round.
    pub async fn send_refunds(&self) {
        let Some(provider) = &self.provider else { return };
        let unsent = match self.store.unsent_refunds(provider.name(), 100).await {
            Ok(unsent) => unsent,
            Err(e) => {
                tracing::warn!("reading unsent refunds failed: {e}");
                return;
            }
        };
        for refund in unsent {
            let Some(reference) = &refund.payment_reference else {
                tracing::warn!(
                    refund = refund.id,
                    order = refund.order_id,
                    "a refund without a payment to refund"
                );
                continue;
            };
            let amount = minor_units(refund.amount_cents, &refund.currency);
            match provider.refund(reference, amount, &format!("refund-{}", refund.id)).await {
                Ok(sent) => {
                    if let Err(e) = self.store.refund_sent(refund.id, &sent).await {
                        tracing::warn!(refund = refund.id, "recording a sent refund failed: {e}");
                    }
                    metrics::counter!("refunds_sent_total").increment(1);
                }
                Err(e) => tracing::warn!(
                    refund = refund.id,
                    error = format!("{e:#}"),
                    "a refund failed; retried later"
                ),
            }
        }
    }

    /// The concert's promoter or an administrator records a payment taken at the box office
    /// or by bank transfer. Recorded twice, it counts once.
    pub async fn mark_paid(
        &self,
        caller: &Principal,
        id: i64,
    ) -> Result<(OrderRecord, PaymentOutcome), ServiceError> {
        let order = self.store.order(id).await?.ok_or(ServiceError::NotFound("order"))?;
        let owner = self.store.concert(order.concert_id).await?.map(|c| c.owner_id);
        match owner {
            Some(owner) => ensure_owner(caller, owner)?,
            None => super::require(caller, Role::Admin)?,
        }
        let (store, views, audit, caller) =
            (self.store.clone(), self.views.clone(), self.audit.clone(), caller.clone());
        to_completion(async move {
            let payment =
                Payment { provider: "manual", reference: None, recorded_by: Some(caller.user_id), event: None, amount: None };
            let (settled, outcome) = store.settle(id, payment).await?;
            committed().await;
            let order = store.order(settled.id).await?.ok_or(ServiceError::NotFound("order"))?;
            if outcome != PaymentOutcome::AlreadyPaid {
                views.concert_seats_unknown(order.concert_id).await;
                let change = Change {
                    action: "order.mark-paid",
                    target_type: "order",
                    target_id: Some(id),
                    before: None,
                    after: Some(serde_json::json!({ "status": order.status.as_str(), "outcome": format!("{outcome:?}") })),
                };
                audit.record(&caller, change).await;
            }
            metrics::counter!("orders_total", "outcome" => format!("{outcome:?}")).increment(1);
            Ok((order, outcome))
        })
        .await
    }

    /// Expires every pending order whose hold is over; returns how many.
    pub async fn sweep(&self) -> Result<usize, ServiceError> {
        let expired = self.store.expire_due(Utc::now(), SWEEP_BATCH).await?;
        let concerts: BTreeSet<i64> = expired.iter().map(|(_, concert)| *concert).collect();
        for concert in concerts {
            self.views.concert_seats_unknown(concert).await;
        }
        if !expired.is_empty() {
            metrics::counter!("orders_total", "outcome" => "expired").increment(expired.len() as u64);
            tracing::info!(orders = expired.len(), "holds expired");
        }
        // A payment page still open for an expired hold is called off (a payment made
        // meanwhile is settled by the late-payment rule).
        if let Some(provider) = &self.provider {
            for (order, _) in &expired {
                let started = self.store.order(*order).await?.and_then(|o| o.payment);
                if let Some(reference) = started.filter(|p| p.status == "PENDING").and_then(|p| p.reference)
                    && let Err(e) = provider.call_off(&reference).await
                {
                    tracing::warn!(order, error = format!("{e:#}"), "calling off a payment failed");
                }
            }
        }
        self.send_refunds().await;
        Ok(expired.len())
    }

    async fn may_see(&self, caller: &Principal, order: &OrderRecord) -> Result<(), ServiceError> {
        if order.user_id == caller.user_id || caller.has(Role::Admin) {
            return Ok(());
        }
        match self.store.concert(order.concert_id).await? {
            Some(concert) if caller.has(Role::CompanyUser) && concert.owner_id == caller.user_id => Ok(()),
            _ => Err(ServiceError::Forbidden(
                "only the fan, the concert's promoter or an administrator may see an order",
            )),
        }
    }
}

/// Runs the sweeper until the task is dropped: every [`SWEEP_EVERY`], the holds that are
/// over are expired and their seats freed.
pub async fn sweep_forever(orders: Arc<Orders>) {
    let mut every = tokio::time::interval(SWEEP_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if let Err(e) = orders.sweep().await {
            tracing::warn!("expiring holds failed: {e}");
        }
    }
}
