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
use crate::domain::order::{OrderStatus, PaymentOutcome};
use crate::domain::user::Role;
use crate::store::{OrderError, OrderRecord, Payment, PaymentRecord, Store};

/// How often the sweeper looks for holds that are over.
pub const SWEEP_EVERY: Duration = Duration::from_secs(1);
/// Most orders one sweep expires (the next sweep takes the rest).
const SWEEP_BATCH: i64 = 2_000;

/// What a fan is told to do to pay an order through the manual provider.
pub const MANUAL_INSTRUCTIONS: &str = "Pay at the box office or by bank transfer, quoting your order number. \
     The seats are yours once the promoter records the payment; unpaid, they are released when the hold ends.";

/// The order use cases.
pub struct Orders {
    store: Arc<dyn Store>,
    views: Arc<Views>,
    audit: Arc<AuditLog>,
    payments: PaymentSettings,
}

impl From<OrderError> for ServiceError {
    fn from(e: OrderError) -> Self {
        match e {
            OrderError::NotFound => ServiceError::NotFound("order"),
            OrderError::NotPending(status) => ServiceError::conflict(
                "ORDER_NOT_PENDING",
                format!("the order is {}: only a pending order can be paid for or given up", status.as_str()),
            ),
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
    ) -> Self {
        Self { store, views, audit, payments }
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
            let payment = Payment { provider: "manual", reference: None, recorded_by: Some(caller.user_id) };
            let (order, outcome) = store.settle(id, payment).await?;
            committed().await;
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
