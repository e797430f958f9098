//! The store's outbox as the e-mail sender drains it: claims are leases, links in an
//! e-mail point at the service's public address, and an order's confirmation — a light
//! row, written with every booking — is composed here, when it is sent: the order and its
//! tickets are read as they are then, and each ticket the fan still holds goes with its
//! current code, as a link and as a QR code shown inline.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use super::tickets::code_of;
use crate::domain::confirmation::{Concert, Confirmation, ConfirmedTicket, TicketState};
use crate::domain::order::{OrderStatus, PUBLIC_URL};
use crate::domain::venue::Price;
use crate::mail::{Email, InlineImage, Outbox, Queued};
use crate::store::{self, ORDER_CONFIRMED, OutboxEmail, Store};
use crate::ticket::{QrImageError, TicketKey, qr_png};

/// How long a claimed e-mail is this sender's before another may take it: longer than a
/// batch of SMTP timeouts.
const LEASE: Duration = Duration::minutes(10);

/// The outbox in the database.
pub struct StoreOutbox {
    store: Arc<dyn Store>,
    public_url: String,
    /// Signs the codes of the tickets in order confirmations.
    ticket_key: Arc<TicketKey>,
}

impl StoreOutbox {
    pub fn new(store: Arc<dyn Store>, public_url: String, ticket_key: Arc<TicketKey>) -> Self {
        Self { store, public_url, ticket_key }
    }
}

#[async_trait]
impl Outbox for StoreOutbox {
    /// Claims due e-mails and composes the order confirmations among them. One that cannot
    /// be composed (its order is gone) is given up at once. Should reading the orders
    /// fail, the batch stays claimed until its lease runs out, and is tried again then.
    async fn claim_due(&self, now: DateTime<Utc>, limit: u32) -> anyhow::Result<Vec<Queued>> {
        let claimed = self.store.claim_emails(now, now + LEASE, i64::from(limit)).await?;
        let orders: Vec<i64> = claimed
            .iter()
            .filter(|e| e.kind.as_deref() == Some(ORDER_CONFIRMED))
            .filter_map(|e| e.order_id)
            .collect();
        let confirmations: HashMap<i64, store::ConfirmedOrder> =
            self.store.confirmed_orders(&orders).await?.into_iter().map(|c| (c.order_id, c)).collect();
        // Signing codes and drawing QR codes is CPU work: off the runtime's threads.
        let (key, public_url) = (self.ticket_key.clone(), self.public_url.clone());
        let composed = tokio::task::spawn_blocking(move || {
            claimed
                .into_iter()
                .map(|row| {
                    let email = compose(&row, &confirmations, &key, &public_url);
                    (row, email)
                })
                .collect::<Vec<_>>()
        })
        .await?;
        let mut due = Vec::with_capacity(composed.len());
        for (row, email) in composed {
            let attempts = u32::try_from(row.attempts).unwrap_or(u32::MAX);
            match email {
                Ok(email) => due.push(Queued { id: row.id, email, attempts, queued_at: row.created_at }),
                Err(why) => {
                    tracing::error!(id = row.id, "e-mail given up: {why}");
                    metrics::counter!("emails_given_up_total").increment(1);
                    if let Err(e) = self.store.email_failed(row.id, row.attempts + 1, None, &why, now).await {
                        // Its lease runs out and it is tried (and given up) again.
                        tracing::warn!(id = row.id, "recording the e-mail's failure failed: {e:#}");
                    }
                }
            }
        }
        Ok(due)
    }

    async fn sent(&self, id: i64, at: DateTime<Utc>) -> anyhow::Result<()> {
        Ok(self.store.email_sent(id, at).await?)
    }

    async fn failed(
        &self,
        id: i64,
        attempts: u32,
        retry_at: Option<DateTime<Utc>>,
        error: &str,
    ) -> anyhow::Result<()> {
        Ok(self.store.email_failed(id, i64::from(attempts), retry_at, error, Utc::now()).await?)
    }
}

/// The e-mail of an outbox row: as written, or composed now (an order's confirmation);
/// why not, when it cannot be.
fn compose(
    row: &OutboxEmail,
    confirmations: &HashMap<i64, store::ConfirmedOrder>,
    key: &TicketKey,
    public_url: &str,
) -> Result<Email, String> {
    let written = || Email {
        key: row.key.clone(),
        to: row.recipient.clone(),
        to_name: None,
        subject: row.subject.clone(),
        text: row.text.replace(PUBLIC_URL, public_url),
        html: row.html.as_ref().map(|html| html.replace(PUBLIC_URL, public_url)),
        images: Vec::new(),
    };
    match (row.kind.as_deref(), row.order_id) {
        (None, _) => Ok(written()),
        (Some(ORDER_CONFIRMED), Some(order)) => {
            let confirmation = confirmations
                .get(&order)
                .ok_or_else(|| format!("order {order} is gone: no confirmation to send"))?;
            let (subject, text, html, images) = confirmation_of(confirmation, key, public_url)
                .map_err(|e| format!("composing the confirmation of order {order}: {e}"))?;
            Ok(Email { subject, text, html: Some(html), images, ..written() })
        }
        (Some(kind), _) => Err(format!("an e-mail of unknown kind {kind:?}")),
    }
}

/// An order's confirmation as it stands: `(subject, text, html, the held tickets' QR codes)`.
fn confirmation_of(
    confirmation: &store::ConfirmedOrder,
    key: &TicketKey,
    public_url: &str,
) -> Result<(String, String, String, Vec<InlineImage>), QrImageError> {
    let shown: Vec<ConfirmedTicket> = confirmation
        .tickets
        .iter()
        .map(|t| ConfirmedTicket {
            id: t.id,
            seat: t.seat.to_string(),
            state: TicketState::of(t.status, t.holder_id, confirmation.user_id),
        })
        .collect();
    let mut images = Vec::new();
    for (ticket, shown) in confirmation.tickets.iter().zip(&shown) {
        if shown.state == TicketState::Held {
            let data = qr_png(&code_of(ticket, key))?;
            images.push(InlineImage { content_id: shown.image_id(), content_type: "image/png", data });
        }
    }
    let total = Price::from_cents(confirmation.total_cents).to_string();
    let paid = (confirmation.status != OrderStatus::Confirmed)
        .then_some((total.as_str(), confirmation.currency.as_str()));
    let concert = confirmation.tickets.first().map(|t| Concert {
        name: &t.concert_name,
        venue: &t.venue,
        start: t.start_time,
    });
    let (subject, text, html) =
        Confirmation { order: confirmation.order_id, paid, concert, tickets: &shown }.compose(public_url);
    Ok((subject, text, html, images))
}
