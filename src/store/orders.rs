//! Orders and their payments in the SQL both backends run. Bookings make orders (in the
//! writers' batches); everything that happens to an order afterwards — paid, expired,
//! given up — is here, each in one transaction that first takes the concert's lock (on
//! PostgreSQL; SQLite's write lock on SQLite), so that a payment and the sweeper never
//! both decide one order.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Encode, Executor, IntoArguments, Type};

use super::StoreError;
use super::bookings::{HOLD_ENDED, ORDER_EVENT, corrupt, seat_ref};
use super::outbox::QUEUE_CONFIRMATION;
use super::sql::{Args, Backend, Column, Conn, FOR_UPDATE, RowOf, WriteTx};
use crate::domain::booking::{ReservationStatus, SeatRef};
use crate::domain::order::{
    EXPIRED_BEFORE_PAYMENT, Notice, OrderStatus, PaymentOutcome, minor_units, on_payment,
};
use crate::domain::venue::Price;

/// One seat or place of an order.
#[derive(Debug, Clone)]
pub struct OrderLine {
    pub reservation_id: i64,
    pub seat: SeatRef,
    pub status: ReservationStatus,
    pub price_cents: i64,
}

/// One change of an order.
#[derive(Debug, Clone)]
pub struct OrderEvent {
    pub status: String,
    pub cause: String,
    pub actor_id: Option<i64>,
    pub at: DateTime<Utc>,
}

/// How an order is (being) paid.
#[derive(Debug, Clone)]
pub struct PaymentRecord {
    pub provider: String,
    /// `PENDING` or `SUCCEEDED`.
    pub status: String,
    pub reference: Option<String>,
    pub redirect_url: Option<String>,
    pub amount_cents: i64,
    pub currency: String,
    pub created_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
    pub paid_by: Option<i64>,
}

/// Money given back.
#[derive(Debug, Clone)]
pub struct RefundRecord {
    pub reservation_id: Option<i64>,
    pub amount_cents: i64,
    pub reason: String,
    pub provider: String,
    pub created_at: DateTime<Utc>,
}

/// An order with its seats, history, payment and refunds.
#[derive(Debug, Clone)]
pub struct OrderRecord {
    pub id: i64,
    pub concert_id: i64,
    pub user_id: i64,
    pub status: OrderStatus,
    pub total_cents: i64,
    pub currency: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub reason: Option<String>,
    pub paid_cents: i64,
    pub refunded_cents: i64,
    pub lines: Vec<OrderLine>,
    pub events: Vec<OrderEvent>,
    pub payment: Option<PaymentRecord>,
    pub refunds: Vec<RefundRecord>,
    /// The presale it was booked in, if any: `(presale's name, access code used)`.
    pub presale: Option<(String, String)>,
}

/// Why an order could not be changed.
#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    #[error("no such order")]
    NotFound,
    /// Only a pending order can be given up or paid for: this one is in this state.
    #[error("the order is {}", .0.as_str())]
    NotPending(OrderStatus),
    /// The provider's event was processed before: nothing changed.
    #[error("event processed before")]
    EventSeen,
    /// The money is not what the order costs (amount in the minor unit, or currency):
    /// nothing changed.
    #[error("the payment does not match the order")]
    Mismatch,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for OrderError {
    fn from(e: sqlx::Error) -> Self {
        OrderError::Store(e.into())
    }
}

/// A payment that arrived for an order.
#[derive(Debug, Clone)]
pub struct Payment<'a> {
    pub provider: &'a str,
    /// The provider's reference of the money (a payment intent; a box-office note).
    pub reference: Option<&'a str>,
    /// Who recorded it (a manual payment), if anyone.
    pub recorded_by: Option<i64>,
    /// The provider's event that told of it (`id`, `type`): processed at most once, in the
    /// payment's own transaction.
    pub event: Option<(&'a str, &'a str)>,
    /// What the provider says it took (in the currency's minor unit, and the currency):
    /// settled only if it is the order's total.
    pub amount: Option<(i64, &'a str)>,
}

/// The order a payment settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settled {
    pub id: i64,
    pub concert_id: i64,
}

/// A refund recorded and not yet sent through its provider.
#[derive(Debug, Clone)]
pub struct UnsentRefund {
    pub id: i64,
    pub order_id: i64,
    pub amount_cents: i64,
    pub currency: String,
    /// What the provider named the money (a payment intent).
    pub payment_reference: Option<String>,
}

/// Orders after they were booked.
#[async_trait]
pub trait OrderStore {
    /// One order, whole.
    async fn order(&self, id: i64) -> Result<Option<OrderRecord>, StoreError>;
    /// A fan's orders, newest first (at most `limit`).
    async fn orders_of_user(&self, user_id: i64, limit: i64) -> Result<Vec<OrderRecord>, StoreError>;
    /// A concert's orders, newest first, perhaps of one status: a page and the total.
    async fn orders_of_concert(
        &self,
        concert_id: i64,
        status: Option<OrderStatus>,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<OrderRecord>, i64), StoreError>;
    /// The money a concert's orders took and gave back, in the minor unit of hundredths
    /// the prices are kept in: `(paid, refunded)`.
    async fn takings(&self, concert_id: i64) -> Result<(i64, i64), StoreError>;
    /// Gives up a pending order: its seats are free at once.
    async fn cancel_order(&self, id: i64, actor_id: i64) -> Result<OrderRecord, OrderError>;
    /// Starts paying for a pending order with `provider` (the one payment of the order:
    /// asked again, answers the one started first). `reference`/`redirect_url`: what the
    /// provider answered, for a payment started with it.
    async fn start_payment(
        &self,
        id: i64,
        provider: &str,
        reference: Option<&str>,
        redirect_url: Option<&str>,
    ) -> Result<PaymentRecord, OrderError>;
    /// Records that an order was paid, by SPEC's rules: a live hold is confirmed; a hold
    /// that is over takes its seats again if every one is still free, else the money is
    /// refunded (`EXPIRED_BEFORE_PAYMENT`); paid before: nothing changes.
    async fn settle(&self, id: i64, payment: Payment<'_>) -> Result<(Settled, PaymentOutcome), OrderError>;
    /// Expires up to `limit` pending orders whose holds ended by `now`; returns `(order,
    /// concert)` of each.
    async fn expire_due(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<(i64, i64)>, StoreError>;
    /// Records a provider's event that changes no order (`order_id` if it named one), with
    /// what was done about it; `false` when it was recorded before.
    async fn record_event(
        &self,
        provider: &str,
        event: (&str, &str),
        order_id: Option<i64>,
        outcome: &str,
    ) -> Result<bool, StoreError>;
    /// Refunds of `provider` recorded and not yet sent (oldest first, at most `limit`).
    async fn unsent_refunds(&self, provider: &str, limit: i64) -> Result<Vec<UnsentRefund>, StoreError>;
    /// A refund went through its provider, which named it `reference`.
    async fn refund_sent(&self, id: i64, reference: &str) -> Result<(), StoreError>;
}

/// Orders the sweeper expires in one transaction.
const EXPIRE_PER_TRANSACTION: usize = 500;

/// An `orders` row: id, concert, fan, status, total, currency, created, expires, reason,
/// paid, refunded.
type OrderRow =
    (i64, i64, i64, String, i64, String, DateTime<Utc>, Option<DateTime<Utc>>, Option<String>, i64, i64);

/// The orders of a concert (`$1`), found through its reservations: orders keep no index of
/// their own by concert or by fan (each would cost every booking a write at a random place
/// in a second index; every order holds reservations, which are indexed so already).
const OF_CONCERT: &str = "id IN (SELECT order_id FROM reservations WHERE concert_id = $1)";

const ORDER_COLUMNS: &str =
    "id, concert_id, user_id, status, total_cents, currency, created_at, expires_at, reason,
     paid_cents, refunded_cents";

#[async_trait]
impl<B> OrderStore for B
where
    B: Backend,
    for<'c> &'c mut Conn<B>: Executor<'c, Database = B::DB>,
    for<'q> Args<'q, B>: IntoArguments<'q, B::DB>,
    for<'r> &'r str: ColumnIndex<RowOf<B>>,
    usize: ColumnIndex<RowOf<B>>,
    for<'q> &'q str: Encode<'q, B::DB> + Type<B::DB>,
    i64: Column<B::DB>,
    Option<i64>: Column<B::DB>,
    Option<String>: Column<B::DB>,
    String: Column<B::DB>,
    DateTime<Utc>: Column<B::DB>,
    Option<DateTime<Utc>>: Column<B::DB>,
{
    async fn order(&self, id: i64) -> Result<Option<OrderRecord>, StoreError> {
        let mut tx = B::snapshot(self.fresh()).await?;
        let row: Option<OrderRow> =
            sqlx::query_as(&format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1"))
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        let order = match row {
            Some(row) => Some(whole::<B>(&mut tx, row).await?),
            None => None,
        };
        tx.commit().await?;
        Ok(order)
    }

    async fn orders_of_user(&self, user_id: i64, limit: i64) -> Result<Vec<OrderRecord>, StoreError> {
        let mut tx = B::snapshot(self.fresh()).await?;
        let rows: Vec<OrderRow> = sqlx::query_as(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders
             WHERE id IN (SELECT r.order_id FROM reservations r WHERE {}) ORDER BY id DESC LIMIT $2",
            B::FAN_RESERVATIONS
        ))
        .bind(user_id)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        let mut orders = Vec::with_capacity(rows.len());
        for row in rows {
            orders.push(whole::<B>(&mut tx, row).await?);
        }
        tx.commit().await?;
        Ok(orders)
    }

    async fn orders_of_concert(
        &self,
        concert_id: i64,
        status: Option<OrderStatus>,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<OrderRecord>, i64), StoreError> {
        let mut tx = B::snapshot(self.fresh()).await?;
        let status = status.map(|s| s.as_str().to_owned());
        let total: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM orders WHERE {OF_CONCERT} AND ($2 IS NULL OR status = $2)"
        ))
        .bind(concert_id)
        .bind(status.clone())
        .fetch_one(&mut *tx)
        .await?;
        let rows: Vec<OrderRow> = sqlx::query_as(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE {OF_CONCERT} AND ($2 IS NULL OR status = $2)
             ORDER BY id DESC LIMIT $3 OFFSET $4"
        ))
        .bind(concert_id)
        .bind(status)
        .bind(limit)
        .bind(offset)
        .fetch_all(&mut *tx)
        .await?;
        let mut orders = Vec::with_capacity(rows.len());
        for row in rows {
            orders.push(whole::<B>(&mut tx, row).await?);
        }
        tx.commit().await?;
        Ok((orders, total))
    }

    async fn takings(&self, concert_id: i64) -> Result<(i64, i64), StoreError> {
        Ok(sqlx::query_as(&format!(
            "SELECT CAST(coalesce(sum(paid_cents), 0) AS BIGINT), CAST(coalesce(sum(refunded_cents), 0) AS BIGINT)
             FROM orders WHERE {OF_CONCERT}"
        ))
        .bind(concert_id)
        .fetch_one(self.fresh())
        .await?)
    }

    async fn cancel_order(&self, id: i64, actor_id: i64) -> Result<OrderRecord, OrderError> {
        let now = Utc::now();
        let mut tx = self.begin().await?;
        let order = locked::<B>(&mut tx, id).await?;
        let status = OrderStatus::parse(&order.3).map_err(corrupt)?;
        if status != OrderStatus::PendingPayment {
            return Err(OrderError::NotPending(status));
        }
        sqlx::query(
            "UPDATE reservations SET status = 'N', cancelled_at = $2 WHERE order_id = $1 AND status = 'H'",
        )
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE orders SET status = 'CANCELLED' WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        event::<B>(
            &mut tx,
            id,
            OrderStatus::Cancelled,
            "given up by the fan before paying",
            Some(actor_id),
            now,
        )
        .await?;
        let row = order_row::<B>(&mut tx, id).await?;
        let record = whole::<B>(&mut tx, row).await?;
        tx.commit().await?;
        Ok(record)
    }

    async fn start_payment(
        &self,
        id: i64,
        provider: &str,
        reference: Option<&str>,
        redirect_url: Option<&str>,
    ) -> Result<PaymentRecord, OrderError> {
        let now = Utc::now();
        let mut tx = self.begin().await?;
        let order = locked::<B>(&mut tx, id).await?;
        if let Some(payment) = payment_of::<B>(&mut tx, id).await? {
            tx.commit().await?;
            return Ok(payment);
        }
        let status = OrderStatus::parse(&order.3).map_err(corrupt)?;
        if status != OrderStatus::PendingPayment {
            return Err(OrderError::NotPending(status));
        }
        sqlx::query(
            "INSERT INTO payments (order_id, provider, status, reference, redirect_url, amount_cents, currency, created_at)
             VALUES ($1, $2, 'PENDING', $3, $4, $5, $6, $7)",
        )
        .bind(id)
        .bind(provider)
        .bind(reference.map(str::to_owned))
        .bind(redirect_url.map(str::to_owned))
        .bind(order.4)
        .bind(order.5.clone())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let payment =
            payment_of::<B>(&mut tx, id).await?.ok_or_else(|| corrupt("a payment just made".into()))?;
        tx.commit().await?;
        Ok(payment)
    }

    async fn settle(&self, id: i64, payment: Payment<'_>) -> Result<(Settled, PaymentOutcome), OrderError> {
        let now = Utc::now();
        let mut tx = self.begin().await?;
        let order = locked::<B>(&mut tx, id).await?;
        let status = OrderStatus::parse(&order.3).map_err(corrupt)?;
        let (total, expires_at) = (order.4, order.7);
        if let Some((amount, currency)) = payment.amount
            && (minor_units(total, &order.5) != amount || !order.5.eq_ignore_ascii_case(currency))
        {
            return Err(OrderError::Mismatch);
        }
        let mut outcome = on_payment(status, expires_at, now, || true);
        if outcome == PaymentOutcome::Paid && expires_at.is_some_and(|at| at <= now) {
            // The hold is over: expired (if the sweeper has not come by yet), then its seats
            // taken again, all of them or none.
            if status == OrderStatus::PendingPayment {
                expire_many::<B>(&mut tx, &[id], now).await?;
            }
            if !retake::<B>(&mut tx, id, now).await? {
                outcome = PaymentOutcome::RefundExpired;
            }
        }
        // The provider's event, once: a repeat (or the same event at another instance, after
        // this one) changes nothing, whatever the order became since.
        if let Some(event) = payment.event
            && !first_time::<B>(&mut tx, payment.provider, event, Some(id), &format!("{outcome:?}"), now)
                .await?
        {
            return Err(OrderError::EventSeen);
        }
        match outcome {
            PaymentOutcome::AlreadyPaid => {}
            PaymentOutcome::Paid => {
                sqlx::query("UPDATE reservations SET status = 'Y' WHERE order_id = $1 AND status = 'H'")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("UPDATE orders SET status = 'PAID', paid_cents = total_cents, reason = NULL WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                record_payment::<B>(&mut tx, id, &payment, total, &order.5, now).await?;
                event::<B>(&mut tx, id, OrderStatus::Paid, "payment received", payment.recorded_by, now)
                    .await?;
            }
            PaymentOutcome::RefundExpired | PaymentOutcome::Refund => {
                let reason = if outcome == PaymentOutcome::RefundExpired {
                    EXPIRED_BEFORE_PAYMENT
                } else {
                    "PAID_AFTER_CANCELLATION"
                };
                sqlx::query(
                    "UPDATE orders SET status = 'REFUNDED', paid_cents = paid_cents + $2,
                                       refunded_cents = refunded_cents + $2, reason = $3 WHERE id = $1",
                )
                .bind(id)
                .bind(total)
                .bind(reason)
                .execute(&mut *tx)
                .await?;
                record_payment::<B>(&mut tx, id, &payment, total, &order.5, now).await?;
                if total > 0 {
                    sqlx::query(
                        "INSERT INTO refunds (order_id, amount_cents, reason, provider, created_at)
                         VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(id)
                    .bind(total)
                    .bind(reason)
                    .bind(payment.provider)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
                let cause = format!("payment received after the seats were gone: refunded ({reason})");
                event::<B>(&mut tx, id, OrderStatus::Refunded, &cause, payment.recorded_by, now).await?;
            }
        }
        let (total, currency) = (Price::from_cents(total).to_string(), &order.5);
        match outcome {
            PaymentOutcome::AlreadyPaid => {}
            PaymentOutcome::Paid => {
                // Pending: the sender composes it with the tickets as they are then.
                sqlx::query(QUEUE_CONFIRMATION).bind(id).bind(now).execute(&mut *tx).await?;
            }
            PaymentOutcome::RefundExpired | PaymentOutcome::Refund => {
                let reason = match outcome {
                    PaymentOutcome::RefundExpired => {
                        "the hold had ended and its seats were taken before the payment arrived"
                    }
                    _ => "the order had been given up before the payment arrived",
                };
                let part: i64 = sqlx::query_scalar("SELECT count(*) FROM refunds WHERE order_id = $1")
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?;
                let notice = Notice::Refunded { order: id, part, amount: &total, currency, reason };
                queue_many::<B>(&mut tx, &[(id, notice.compose())], now).await?;
            }
        }
        tx.commit().await?;
        Ok((Settled { id, concert_id: order.1 }, outcome))
    }

    async fn record_event(
        &self,
        provider: &str,
        event: (&str, &str),
        order_id: Option<i64>,
        outcome: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let first = first_time::<B>(&mut tx, provider, event, order_id, outcome, Utc::now()).await?;
        tx.commit().await?;
        Ok(first)
    }

    async fn unsent_refunds(&self, provider: &str, limit: i64) -> Result<Vec<UnsentRefund>, StoreError> {
        let rows: Vec<(i64, i64, i64, String, Option<String>)> = sqlx::query_as(
            "SELECT f.id, f.order_id, f.amount_cents, o.currency, p.reference
             FROM refunds f JOIN orders o ON o.id = f.order_id LEFT JOIN payments p ON p.order_id = f.order_id
             WHERE f.provider = $1 AND f.reference IS NULL ORDER BY f.id LIMIT $2",
        )
        .bind(provider)
        .bind(limit)
        .fetch_all(self.fresh())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, order_id, amount_cents, currency, payment_reference)| UnsentRefund {
                id,
                order_id,
                amount_cents,
                currency,
                payment_reference,
            })
            .collect())
    }

    async fn refund_sent(&self, id: i64, reference: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE refunds SET reference = $2 WHERE id = $1 AND reference IS NULL")
            .bind(id)
            .bind(reference)
            .execute(&*self.write().await?)
            .await?;
        Ok(())
    }

    async fn expire_due(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<(i64, i64)>, StoreError> {
        let due: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT id, concert_id FROM orders WHERE status = 'PENDING_PAYMENT' AND expires_at <= $1
             ORDER BY expires_at LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(self.fresh())
        .await?;
        let mut expired = Vec::with_capacity(due.len());
        // A few orders of one concert per transaction: few commits for a whole on-sale's
        // expiry, and bookings of the concert (or, on SQLite, any booking) wait for a few
        // orders' statements at most.
        let mut by_concert: std::collections::BTreeMap<i64, Vec<i64>> = std::collections::BTreeMap::new();
        for (order, concert) in due {
            by_concert.entry(concert).or_default().push(order);
        }
        for (concert, orders) in by_concert {
            for chunk in orders.chunks(EXPIRE_PER_TRANSACTION) {
                let mut tx = self.begin().await?;
                lock_concert::<B>(&mut tx, concert).await?;
                for (order, _) in expire_many::<B>(&mut tx, chunk, now).await? {
                    expired.push((order, concert));
                }
                tx.commit().await?;
            }
        }
        Ok(expired)
    }
}

/// Records a provider's event (`id`, `type`) as processed; `false`: it was before.
async fn first_time<B>(
    conn: &mut Conn<B>,
    provider: &str,
    (event_id, kind): (&str, &str),
    order_id: Option<i64>,
    outcome: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError>
where
    B: Backend,
    usize: ColumnIndex<RowOf<B>>,
    for<'c> &'c mut Conn<B>: Executor<'c, Database = B::DB>,
    for<'q> Args<'q, B>: IntoArguments<'q, B::DB>,
    for<'q> &'q str: Encode<'q, B::DB> + Type<B::DB>,
    Option<i64>: Column<B::DB>,
    String: Column<B::DB>,
    DateTime<Utc>: Column<B::DB>,
{
    let recorded: Option<String> = sqlx::query_scalar(
        "INSERT INTO payment_events (provider, event_id, kind, order_id, outcome, received_at)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING event_id",
    )
    .bind(provider)
    .bind(event_id)
    .bind(kind)
    .bind(order_id)
    .bind(outcome)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(recorded.is_some())
}

/// Takes the concert's lock (PostgreSQL; SQLite's write transaction already excludes
/// every other writer), as every booking of it does first.
async fn lock_concert<B>(tx: &mut WriteTx<B::DB>, concert_id: i64) -> Result<(), StoreError>
where
    B: Backend,
    for<'c> &'c mut Conn<B>: Executor<'c, Database = B::DB>,
    for<'q> Args<'q, B>: IntoArguments<'q, B::DB>,
    i64: Column<B::DB>,
{
    if B::ROW_LOCKS {
        sqlx::query(&format!("SELECT id FROM concerts WHERE id = $1{FOR_UPDATE}"))
            .bind(concert_id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// An order's row under its concert's lock.
async fn locked<B>(tx: &mut WriteTx<B::DB>, id: i64) -> Result<OrderRow, OrderError>
where
    B: Backend,
    for<'c> &'c mut Conn<B>: Executor<'c, Database = B::DB>,
    for<'q> Args<'q, B>: IntoArguments<'q, B::DB>,
    for<'r> &'r str: ColumnIndex<RowOf<B>>,
    usize: ColumnIndex<RowOf<B>>,
    i64: Column<B::DB>,
    String: Column<B::DB>,
    Option<String>: Column<B::DB>,
    DateTime<Utc>: Column<B::DB>,
    Option<DateTime<Utc>>: Column<B::DB>,
{
    if !B::ROW_LOCKS {
        // The write transaction excludes every other writer already.
        return sqlx::query_as(&format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?
            .ok_or(OrderError::NotFound);
    }
    let concert: Option<i64> = sqlx::query_scalar("SELECT concert_id FROM orders WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?;
    lock_concert::<B>(tx, concert.ok_or(OrderError::NotFound)?).await?;
    Ok(order_row::<B>(tx, id).await?)
}

async fn order_row<B>(conn: &mut Conn<B>, id: i64) -> Result<OrderRow, StoreError>
where
    B: Backend,
    for<'c> &'c mut Conn<B>: Executor<'c, Database = B::DB>,
    for<'q> Args<'q, B>: IntoArguments<'q, B::DB>,
    for<'r> &'r str: ColumnIndex<RowOf<B>>,
    usize: ColumnIndex<RowOf<B>>,
    i64: Column<B::DB>,
    String: Column<B::DB>,
    Option<String>: Column<B::DB>,
    DateTime<Utc>: Column<B::DB>,
    Option<DateTime<Utc>>: Column<B::DB>,
{
    Ok(sqlx::query_as(&format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1"))
        .bind(id)
        .fetch_one(conn)
        .await?)
}

/// Expires the orders of `orders` (under their concerts' locks) that are still pending, set
/// by set: their held reservations end (the triggers free the seats), their history and each
/// fan's e-mail are written. Returns each order expired with the seats it freed. The one
/// expiry of the sweeper, of a late payment and of PostgreSQL's booking path (SQLite's
/// booking writer runs the same steps on its own connection).
pub(in crate::store) async fn expire_many<B>(
    conn: &mut Conn<B>,
    orders: &[i64],
    now: DateTime<Utc>,
) -> Result<Vec<(i64, Vec<SeatRef>)>, StoreError>
where
    B: Backend,
    usize: ColumnIndex<RowOf<B>>,
    for<'r> &'r str: ColumnIndex<RowOf<B>>,
    for<'c> &'c mut Conn<B>: Executor<'c, Database = B::DB>,
    for<'q> Args<'q, B>: IntoArguments<'q, B::DB>,
    for<'q> &'q str: Encode<'q, B::DB> + Type<B::DB>,
    i64: Column<B::DB>,
    Option<i64>: Column<B::DB>,
    String: Column<B::DB>,
    DateTime<Utc>: Column<B::DB>,
{
    if orders.is_empty() {
        return Ok(Vec::new());
    }
    // Integers only: the list is written into the statement.
    let list = orders.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    let pending: Vec<i64> = sqlx::query_scalar(&format!(
        "SELECT id FROM orders WHERE id IN ({list}) AND status = 'PENDING_PAYMENT' ORDER BY id"
    ))
    .fetch_all(&mut *conn)
    .await?;
    if pending.is_empty() {
        return Ok(Vec::new());
    }
    let list = pending.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    let held: Vec<(i64, String, String, i64)> = sqlx::query_as(&format!(
        "SELECT r.order_id, s.section, s.horizontal, s.vertical
         FROM reservations r JOIN seats s ON s.id = r.seat_id
         WHERE r.order_id IN ({list}) AND r.status = 'H' ORDER BY r.id"
    ))
    .fetch_all(&mut *conn)
    .await?;
    sqlx::query(&format!(
        "UPDATE reservations SET status = 'E', cancelled_at = $1 WHERE order_id IN ({list}) AND status = 'H'"
    ))
    .bind(now)
    .execute(&mut *conn)
    .await?;
    sqlx::query(&format!("UPDATE orders SET status = 'EXPIRED' WHERE id IN ({list})"))
        .execute(&mut *conn)
        .await?;
    sqlx::query(&format!(
        "INSERT INTO order_events (order_id, status, cause, actor_id, at)
         SELECT id, 'EXPIRED', $1, NULL, $2 FROM orders WHERE id IN ({list})"
    ))
    .bind(HOLD_ENDED)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    let mut seats: std::collections::HashMap<i64, Vec<SeatRef>> = std::collections::HashMap::new();
    for (order, section, row, number) in held {
        seats.entry(order).or_default().push(seat_ref(&section, &row, number)?);
    }
    let mut expired = Vec::with_capacity(pending.len());
    let mut notices = Vec::with_capacity(pending.len());
    for order in pending {
        let freed = seats.remove(&order).unwrap_or_default();
        let named: Vec<String> = freed.iter().map(ToString::to_string).collect();
        notices.push((order, Notice::HoldEnded { order, seats: &named }.compose()));
        expired.push((order, freed));
    }
    queue_many::<B>(conn, &notices, now).await?;
    Ok(expired)
}

/// Writes e-mails about orders to their fans into the outbox, in the change's transaction
/// and in one statement: `(order, (key, subject, text))` each.
pub(in crate::store) async fn queue_many<B>(
    conn: &mut Conn<B>,
    notices: &[(i64, (String, String, String))],
    now: DateTime<Utc>,
) -> Result<(), StoreError>
where
    B: Backend,
    for<'c> &'c mut Conn<B>: Executor<'c, Database = B::DB>,
    for<'q> Args<'q, B>: IntoArguments<'q, B::DB>,
    i64: Column<B::DB>,
    String: Column<B::DB>,
    DateTime<Utc>: Column<B::DB>,
{
    if notices.is_empty() {
        return Ok(());
    }
    // Parameters in their numbers' order (SQLite numbers them as they appear).
    let rows: Vec<String> = (0..notices.len())
        .map(|i| format!("(CAST(${} AS BIGINT), ${}, ${}, ${})", 4 * i + 1, 4 * i + 2, 4 * i + 3, 4 * i + 4))
        .collect();
    let at = 4 * notices.len() + 1;
    let sql = format!(
        "WITH notice (order_id, event_key, subject, body_text) AS (VALUES {})
         INSERT INTO outbox (event_key, recipient, subject, body_text, created_at, next_attempt_at)
         SELECT n.event_key, u.email, n.subject, n.body_text, ${at}, ${at}
         FROM notice n JOIN orders o ON o.id = n.order_id JOIN users u ON u.id = o.user_id WHERE true
         ON CONFLICT DO NOTHING",
        rows.join(", ")
    );
    let mut query = sqlx::query(&sql);
    for (order, (key, subject, text)) in notices {
        query = query.bind(*order).bind(key.clone()).bind(subject.clone()).bind(text.clone());
    }
    query.bind(now).execute(&mut *conn).await?;
    Ok(())
}

/// Takes an expired order's seats again, confirmed, if every one is still free: one new
/// reservation per seat, checked by the schema like any booking. `false`: some seat is
/// gone (or the concert no longer sells), and nothing was taken.
async fn retake<B>(tx: &mut WriteTx<B::DB>, id: i64, now: DateTime<Utc>) -> Result<bool, StoreError>
where
    B: Backend,
    usize: ColumnIndex<RowOf<B>>,
    for<'c> &'c mut Conn<B>: Executor<'c, Database = B::DB>,
    for<'q> Args<'q, B>: IntoArguments<'q, B::DB>,
    i64: Column<B::DB>,
    DateTime<Utc>: Column<B::DB>,
{
    let free: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM reservations r JOIN seats s ON s.id = r.seat_id
         WHERE r.order_id = $1 AND r.status = 'E' AND s.status <> 'AVAILABLE'",
    )
    .bind(id)
    .fetch_one(&mut **tx)
    .await?;
    if free > 0 {
        return Ok(false);
    }
    // The schema checks every rule (the seats free, the concert on sale, the fan's limit);
    // a refusal rolls back to here and means the seats are not to be had.
    sqlx::query("SAVEPOINT retake").execute(&mut **tx).await?;
    let taken = sqlx::query(
        "INSERT INTO reservations (user_id, concert_id, seat_id, status, price_cents, created_at, order_id)
         SELECT user_id, concert_id, seat_id, 'Y', price_cents, $2, order_id FROM reservations
         WHERE order_id = $1 AND status = 'E'",
    )
    .bind(id)
    .bind(now)
    .execute(&mut **tx)
    .await;
    match taken {
        Ok(_) => {
            sqlx::query("RELEASE SAVEPOINT retake").execute(&mut **tx).await?;
            Ok(true)
        }
        Err(sqlx::Error::Database(e)) => {
            tracing::info!(
                order = id,
                refusal = e.message(),
                "a late payment's seats could not be taken again"
            );
            sqlx::query("ROLLBACK TO SAVEPOINT retake").execute(&mut **tx).await?;
            sqlx::query("RELEASE SAVEPOINT retake").execute(&mut **tx).await?;
            Ok(false)
        }
        Err(e) => Err(e.into()),
    }
}

/// Records the money received for an order (the one payment row: started before, or made
/// now).
async fn record_payment<B>(
    conn: &mut Conn<B>,
    id: i64,
    payment: &Payment<'_>,
    amount: i64,
    currency: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError>
where
    B: Backend,
    usize: ColumnIndex<RowOf<B>>,
    for<'c> &'c mut Conn<B>: Executor<'c, Database = B::DB>,
    for<'q> Args<'q, B>: IntoArguments<'q, B::DB>,
    for<'q> &'q str: Encode<'q, B::DB> + Type<B::DB>,
    i64: Column<B::DB>,
    Option<i64>: Column<B::DB>,
    Option<String>: Column<B::DB>,
    String: Column<B::DB>,
    DateTime<Utc>: Column<B::DB>,
{
    let updated: Option<i64> = sqlx::query_scalar(
        "UPDATE payments SET status = 'SUCCEEDED', paid_at = $2, paid_by = $3,
                             reference = coalesce($4, reference)
         WHERE order_id = $1 AND status = 'PENDING' RETURNING order_id",
    )
    .bind(id)
    .bind(now)
    .bind(payment.recorded_by)
    .bind(payment.reference.map(str::to_owned))
    .fetch_optional(&mut *conn)
    .await?;
    if updated.is_none() {
        sqlx::query(
            "INSERT INTO payments (order_id, provider, status, reference, amount_cents, currency, created_at,
                                   paid_at, paid_by)
             VALUES ($1, $2, 'SUCCEEDED', $3, $4, $5, $6, $6, $7)",
        )
        .bind(id)
        .bind(payment.provider)
        .bind(payment.reference.map(str::to_owned))
        .bind(amount)
        .bind(currency.to_owned())
        .bind(now)
        .bind(payment.recorded_by)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

async fn event<B>(
    conn: &mut Conn<B>,
    id: i64,
    status: OrderStatus,
    cause: &str,
    actor_id: Option<i64>,
    now: DateTime<Utc>,
) -> Result<(), StoreError>
where
    B: Backend,
    for<'c> &'c mut Conn<B>: Executor<'c, Database = B::DB>,
    for<'q> Args<'q, B>: IntoArguments<'q, B::DB>,
    for<'q> &'q str: Encode<'q, B::DB> + Type<B::DB>,
    i64: Column<B::DB>,
    Option<i64>: Column<B::DB>,
    DateTime<Utc>: Column<B::DB>,
{
    sqlx::query(ORDER_EVENT)
        .bind(id)
        .bind(status.as_str())
        .bind(cause)
        .bind(actor_id)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn payment_of<B>(conn: &mut Conn<B>, id: i64) -> Result<Option<PaymentRecord>, StoreError>
where
    B: Backend,
    for<'c> &'c mut Conn<B>: Executor<'c, Database = B::DB>,
    for<'q> Args<'q, B>: IntoArguments<'q, B::DB>,
    for<'r> &'r str: ColumnIndex<RowOf<B>>,
    usize: ColumnIndex<RowOf<B>>,
    i64: Column<B::DB>,
    Option<i64>: Column<B::DB>,
    String: Column<B::DB>,
    Option<String>: Column<B::DB>,
    DateTime<Utc>: Column<B::DB>,
    Option<DateTime<Utc>>: Column<B::DB>,
{
    type Row = (
        String,
        String,
        Option<String>,
        Option<String>,
        i64,
        String,
        DateTime<Utc>,
        Option<DateTime<Utc>>,
        Option<i64>,
    );
    let row: Option<Row> = sqlx::query_as(
        "SELECT provider, status, reference, redirect_url, amount_cents, currency, created_at, paid_at, paid_by
         FROM payments WHERE order_id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(
        |(
            provider,
            status,
            reference,
            redirect_url,
            amount_cents,
            currency,
            created_at,
            paid_at,
            paid_by,
        )| {
            PaymentRecord {
                provider,
                status,
                reference,
                redirect_url,
                amount_cents,
                currency,
                created_at,
                paid_at,
                paid_by,
            }
        },
    ))
}

/// An order row with its seats, history, payment and refunds.
/// The seats and places of an order.
async fn lines_of<B>(conn: &mut Conn<B>, id: i64) -> Result<Vec<OrderLine>, StoreError>
where
    B: Backend,
    for<'c> &'c mut Conn<B>: Executor<'c, Database = B::DB>,
    for<'q> Args<'q, B>: IntoArguments<'q, B::DB>,
    usize: ColumnIndex<RowOf<B>>,
    i64: Column<B::DB>,
    String: Column<B::DB>,
{
    let lines: Vec<(i64, String, String, i64, String, i64)> = sqlx::query_as(
        "SELECT r.id, s.section, s.horizontal, s.vertical, r.status, r.price_cents
         FROM reservations r JOIN seats s ON s.id = r.seat_id WHERE r.order_id = $1 ORDER BY r.id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    lines
        .into_iter()
        .map(|(reservation_id, section, row, number, status, price_cents)| {
            Ok(OrderLine {
                reservation_id,
                seat: seat_ref(&section, &row, number)?,
                status: ReservationStatus::parse(&status).map_err(corrupt)?,
                price_cents,
            })
        })
        .collect()
}

async fn whole<B>(conn: &mut Conn<B>, row: OrderRow) -> Result<OrderRecord, StoreError>
where
    B: Backend,
    for<'c> &'c mut Conn<B>: Executor<'c, Database = B::DB>,
    for<'q> Args<'q, B>: IntoArguments<'q, B::DB>,
    for<'r> &'r str: ColumnIndex<RowOf<B>>,
    usize: ColumnIndex<RowOf<B>>,
    i64: Column<B::DB>,
    Option<i64>: Column<B::DB>,
    String: Column<B::DB>,
    Option<String>: Column<B::DB>,
    DateTime<Utc>: Column<B::DB>,
    Option<DateTime<Utc>>: Column<B::DB>,
{
    let (
        id,
        concert_id,
        user_id,
        status,
        total_cents,
        currency,
        created_at,
        expires_at,
        reason,
        paid,
        refunded,
    ) = row;
    let lines = lines_of::<B>(conn, id).await?;
    let events: Vec<(String, String, Option<i64>, DateTime<Utc>)> = sqlx::query_as(
        "SELECT status, cause, actor_id, at FROM order_events WHERE order_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let events = events
        .into_iter()
        .map(|(status, cause, actor_id, at)| OrderEvent { status, cause, actor_id, at })
        .collect();
    type RefundRow = (Option<i64>, i64, String, String, DateTime<Utc>);
    let refunds: Vec<RefundRow> = sqlx::query_as(
        "SELECT reservation_id, amount_cents, reason, provider, created_at FROM refunds WHERE order_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let refunds = refunds
        .into_iter()
        .map(|(reservation_id, amount_cents, reason, provider, created_at)| RefundRecord {
            reservation_id,
            amount_cents,
            reason,
            provider,
            created_at,
        })
        .collect();
    let payment = payment_of::<B>(conn, id).await?;
    let presale: Option<(String, String)> = sqlx::query_as(
        "SELECT p.name, c.code FROM presale_uses u
         JOIN presale_codes c ON c.id = u.code_id JOIN presales p ON p.id = c.presale_id
         WHERE u.order_id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(OrderRecord {
        id,
        concert_id,
        user_id,
        status: OrderStatus::parse(&status).map_err(corrupt)?,
        total_cents,
        currency,
        created_at,
        expires_at,
        reason,
        paid_cents: paid,
        refunded_cents: refunded,
        lines,
        events,
        payment,
        refunds,
        presale,
    })
}
