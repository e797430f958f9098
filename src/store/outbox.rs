//! The e-mail outbox: e-mails written in the transaction of the change they report, and
//! claimed, marked sent or failed by the background sender (several instances may send:
//! a claim is a lease, so a sender that died leaves its e-mails to another a little later).
//!
//! Most rows hold their e-mail whole. An order's confirmation, due with every booking, is
//! only noted then ([`QUEUE_CONFIRMATION`]: its order, in a table of pending confirmations);
//! the sender moves pending confirmations into the outbox as it claims e-mails, as light
//! rows (their kind, [`ORDER_CONFIRMED`], and their order), and composes them from the
//! order and its tickets ([`OutboxStore::confirmed_orders`]).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Encode, Executor, IntoArguments, Type};

use super::StoreError;
use super::bookings::corrupt;
use super::sql::{Args, Backend, Column, Conn, RowOf};
use super::tickets::{TicketRecord, tickets_of_orders};
use crate::domain::order::OrderStatus;

/// Queues an e-mail to an order's (`$5`) fan, once per event key (`$1`): subject `$2`,
/// text `$3`, written at `$4`. (Parameters in their numbers' order, for SQLite's own
/// binding on the booking writer.)
pub(in crate::store) const QUEUE_EMAIL: &str =
    "INSERT INTO outbox (event_key, recipient, subject, body_text, created_at, next_attempt_at)
     SELECT $1, u.email, $2, $3, $4, $4 FROM orders o JOIN users u ON u.id = o.user_id WHERE o.id = $5
     ON CONFLICT DO NOTHING";

/// Queues an e-mail to a user (`$5`), once per event key (`$1`): subject `$2`, text `$3`,
/// written at `$4`.
pub(in crate::store) const QUEUE_EMAIL_TO_USER: &str =
    "INSERT INTO outbox (event_key, recipient, subject, body_text, created_at, next_attempt_at)
     SELECT $1, u.email, $2, $3, $4, $4 FROM users u WHERE u.id = $5
     ON CONFLICT DO NOTHING";

/// The kind of a light row: an order's confirmation with its tickets.
pub const ORDER_CONFIRMED: &str = "ORDER_CONFIRMED";

/// Notes that order `$1`, confirmed at `$2`, is to be confirmed to its fan by e-mail: in
/// the booking's (or the payment's) transaction, about the least write there is (one short
/// row by its key), moved into the outbox by the sender ([`PROMOTE_CONFIRMATIONS`]).
/// PostgreSQL's booking writer does the same in the statement that inserts a batch's orders.
pub(in crate::store) const QUEUE_CONFIRMATION: &str =
    "INSERT INTO confirmations_pending (order_id, queued_at) VALUES ($1, $2) ON CONFLICT DO NOTHING";

/// Up to `$1` pending confirmations, oldest orders first (locked against other senders'
/// claims, which skip them, where rows are locked).
const PENDING: &str = "SELECT order_id FROM confirmations_pending ORDER BY order_id LIMIT $1";

/// Moves pending confirmations (of the orders `{list}`) into the outbox as light rows due
/// at `$1`, once per order (event key `order-<id>-confirmed`, whether confirmed at booking
/// or when paid), queued when the order was confirmed. Orders that are gone are left out.
const PROMOTE_CONFIRMATIONS: &str =
    "INSERT INTO outbox (event_key, recipient, subject, body_text, kind, order_id, created_at, next_attempt_at)
     SELECT 'order-' || q.order_id || '-confirmed', u.email, '', '', 'ORDER_CONFIRMED', q.order_id, q.queued_at, $1
     FROM confirmations_pending q JOIN orders o ON o.id = q.order_id JOIN users u ON u.id = o.user_id
     WHERE q.order_id IN ({list})
     ON CONFLICT DO NOTHING";

/// An e-mail claimed for sending.
#[derive(Debug, Clone)]
pub struct OutboxEmail {
    pub id: i64,
    pub key: String,
    pub recipient: String,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
    /// A light row's kind ([`ORDER_CONFIRMED`]): composed when sent, its subject and text
    /// empty.
    pub kind: Option<String>,
    /// The order a light row is about.
    pub order_id: Option<i64>,
    pub attempts: i64,
    pub created_at: DateTime<Utc>,
}

/// What an order's confirmation says, read when it is sent.
#[derive(Debug, Clone)]
pub struct ConfirmedOrder {
    pub order_id: i64,
    /// The fan who booked: a ticket another holds now was given away.
    pub user_id: i64,
    pub status: OrderStatus,
    pub total_cents: i64,
    pub currency: String,
    /// Its tickets as they are now (cancelled ones too), by id.
    pub tickets: Vec<TicketRecord>,
}

/// The outbox as the sender uses it.
#[async_trait]
pub trait OutboxStore {
    /// Claims up to `limit` e-mails due at `now` until `lease_until` (no other sender takes
    /// them meanwhile).
    async fn claim_emails(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<OutboxEmail>, StoreError>;
    /// The confirmations of these orders as they are now; an order that is gone is left out.
    async fn confirmed_orders(&self, orders: &[i64]) -> Result<Vec<ConfirmedOrder>, StoreError>;
    /// The server accepted the e-mail: never sent again.
    async fn email_sent(&self, id: i64, at: DateTime<Utc>) -> Result<(), StoreError>;
    /// Sending failed: tried again at `retry_at`, or given up (`None`).
    async fn email_failed(
        &self,
        id: i64,
        attempts: i64,
        retry_at: Option<DateTime<Utc>>,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
}

#[async_trait]
impl<B> OutboxStore for B
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
    async fn claim_emails(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<OutboxEmail>, StoreError> {
        type Row = (
            i64,
            String,
            String,
            String,
            String,
            Option<String>,
            Option<String>,
            Option<i64>,
            i64,
            DateTime<Utc>,
        );
        let mut tx = self.begin().await?;
        // The confirmations pending since the last claim join the outbox first, as many as
        // a claim takes: a backlog of them waits in its own table, out of the bookings' way.
        let pending: Vec<i64> =
            sqlx::query_scalar(&format!("{PENDING}{}", B::locking(" FOR UPDATE SKIP LOCKED")))
                .bind(limit)
                .fetch_all(&mut *tx)
                .await?;
        if !pending.is_empty() {
            let list = pending.iter().map(i64::to_string).collect::<Vec<_>>().join(", ");
            sqlx::query(&PROMOTE_CONFIRMATIONS.replace("{list}", &list)).bind(now).execute(&mut *tx).await?;
            sqlx::query(&format!("DELETE FROM confirmations_pending WHERE order_id IN ({list})"))
                .execute(&mut *tx)
                .await?;
        }
        // In the order of the index of unsent e-mails by due time (`outbox_due`), so that a
        // claim reads about as many rows as it takes: in id order, SQLite sorted every due
        // e-mail of a backlog for each claim, and PostgreSQL walked past every e-mail ever
        // sent (sent rows are kept) before the first unsent one.
        let rows: Vec<Row> = sqlx::query_as(&format!(
            "UPDATE outbox SET claimed_until = $2
             WHERE id IN (SELECT id FROM outbox
                          WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $1
                            AND (claimed_until IS NULL OR claimed_until <= $1)
                          ORDER BY next_attempt_at, id LIMIT $3{})
             RETURNING id, event_key, recipient, subject, body_text, body_html, kind, order_id, attempts, created_at",
            B::locking(" FOR UPDATE SKIP LOCKED")
        ))
        .bind(now)
        .bind(lease_until)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows
            .into_iter()
            .map(|(id, key, recipient, subject, text, html, kind, order_id, attempts, created_at)| {
                OutboxEmail { id, key, recipient, subject, text, html, kind, order_id, attempts, created_at }
            })
            .collect())
    }

    async fn confirmed_orders(&self, orders: &[i64]) -> Result<Vec<ConfirmedOrder>, StoreError> {
        if orders.is_empty() {
            return Ok(Vec::new());
        }
        let list = orders.iter().map(i64::to_string).collect::<Vec<_>>().join(", ");
        let mut tx = B::snapshot(self.fresh()).await?;
        let rows: Vec<(i64, i64, String, i64, String)> = sqlx::query_as(&format!(
            "SELECT id, user_id, status, total_cents, currency FROM orders WHERE id IN ({list}) ORDER BY id"
        ))
        .fetch_all(&mut *tx)
        .await?;
        let mut tickets = tickets_of_orders::<B>(&mut tx, &list).await?;
        tx.commit().await?;
        rows.into_iter()
            .map(|(order_id, user_id, status, total_cents, currency)| {
                Ok(ConfirmedOrder {
                    order_id,
                    user_id,
                    status: OrderStatus::parse(&status).map_err(corrupt)?,
                    total_cents,
                    currency,
                    tickets: tickets.remove(&order_id).unwrap_or_default(),
                })
            })
            .collect()
    }

    async fn email_sent(&self, id: i64, at: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query("UPDATE outbox SET sent_at = $2, claimed_until = NULL WHERE id = $1")
            .bind(id)
            .bind(at)
            .execute(&*self.write().await?)
            .await?;
        Ok(())
    }

    async fn email_failed(
        &self,
        id: i64,
        attempts: i64,
        retry_at: Option<DateTime<Utc>>,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let failed_at = retry_at.is_none().then_some(now);
        sqlx::query(
            "UPDATE outbox SET attempts = $2, next_attempt_at = coalesce($3, next_attempt_at), failed_at = $4,
                               last_error = $5, claimed_until = NULL
             WHERE id = $1",
        )
        .bind(id)
        .bind(attempts)
        .bind(retry_at)
        .bind(failed_at)
        .bind(error)
        .execute(&*self.write().await?)
        .await?;
        Ok(())
    }
}
