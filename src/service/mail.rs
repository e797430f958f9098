//! The store's outbox as the e-mail sender drains it: claims are leases, and links in an
//! e-mail point at the service's public address.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use crate::domain::order::PUBLIC_URL;
use crate::mail::{Email, Outbox, Queued};
use crate::store::Store;

/// How long a claimed e-mail is this sender's before another may take it: longer than a
/// batch of SMTP timeouts.
const LEASE: Duration = Duration::minutes(10);

/// The outbox in the database.
pub struct StoreOutbox {
    store: Arc<dyn Store>,
    public_url: String,
}

impl StoreOutbox {
    pub fn new(store: Arc<dyn Store>, public_url: String) -> Self {
        Self { store, public_url }
    }
}

#[async_trait]
impl Outbox for StoreOutbox {
    async fn claim_due(&self, now: DateTime<Utc>, limit: u32) -> anyhow::Result<Vec<Queued>> {
        let claimed = self.store.claim_emails(now, now + LEASE, i64::from(limit)).await?;
        Ok(claimed
            .into_iter()
            .map(|e| Queued {
                id: e.id,
                email: Email {
                    key: e.key,
                    to: e.recipient,
                    to_name: None,
                    subject: e.subject,
                    text: e.text.replace(PUBLIC_URL, &self.public_url),
                    html: e.html.map(|html| html.replace(PUBLIC_URL, &self.public_url)),
                },
                attempts: u32::try_from(e.attempts).unwrap_or(u32::MAX),
                queued_at: e.created_at,
            })
            .collect())
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
