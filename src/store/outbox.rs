//! The e-mail outbox: e-mails written in the transaction of the change they report, and
//! claimed, marked sent or failed by the background sender (several instances may send:
//! a claim is a lease, so a sender that died leaves its e-mails to another a little later).
//!
//! Most rows hold their e-mail whole. An order's confirmation is a light row instead,
//! written with every booking: its kind ([`ORDER_CONFIRMED`]) and its order, composed by
//! the sender from the order and its tickets ([`OutboxStore::confirmed_orders`]).

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

/// The event key of an order's confirmation: once per order, whether it was confirmed at
/// booking (`DIRECT`) or when paid. (PostgreSQL's booking writer spells it in SQL, in the
/// statement that inserts a batch's orders.)
pub fn confirmation_key(order: i64) -> String {
    format!("order-{order}-confirmed")
}

/// Queues the confirmation of order `$3` to its fan as a light row, once per event key
/// (`$1`, [`confirmation_key`]), written at `$2`. (Parameters in their numbers' order,
/// for SQLite's own binding on the booking writer.)
pub(in crate::store) const QUEUE_CONFIRMATION: &str =
    "INSERT INTO outbox (event_key, recipient, subject, body_text, kind, order_id, created_at, next_attempt_at)
     SELECT $1, u.email, '', '', 'ORDER_CONFIRMED', o.id, $2, $2
     FROM orders o JOIN users u ON u.id = o.user_id WHERE o.id = $3
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
