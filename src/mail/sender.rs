//! The background sender: delivers what the outbox says is due, with retries.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_util::FutureExt;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tracing::Instrument;

use super::{Email, MailError, Mailer};

/// An e-mail waiting in the outbox.
#[derive(Clone, Debug)]
pub struct Queued {
    /// The outbox's id for it.
    pub id: i64,
    pub email: Email,
    /// Delivery attempts made so far.
    pub attempts: u32,
    /// When it was written to the outbox (for the queue age and for giving up).
    pub queued_at: DateTime<Utc>,
}

/// Where e-mails wait: a table written in the same transaction as the change each e-mail
/// reports. Implemented by the store.
#[async_trait]
pub trait Outbox: Send + Sync {
    /// Up to `limit` e-mails that are due at `now`: neither sent nor given up, and never
    /// tried or their retry time passed. Each is leased to this caller (for a few minutes;
    /// longer than [`SendPolicy::batch`] SMTP timeouts) so that a second sender does not
    /// claim it too; a lease that runs out (the sender died) makes it due again.
    async fn claim_due(&self, now: DateTime<Utc>, limit: u32) -> anyhow::Result<Vec<Queued>>;

    /// The server accepted e-mail `id` at `at`: never claim it again.
    async fn sent(&self, id: i64, at: DateTime<Utc>) -> anyhow::Result<()>;

    /// Attempt number `attempts` of e-mail `id` failed with `error`: due again at
    /// `retry_at`, or never when `None` (given up; kept with its error for an operator).
    async fn failed(
        &self,
        id: i64,
        attempts: u32,
        retry_at: Option<DateTime<Utc>>,
        error: &str,
    ) -> anyhow::Result<()>;
}

/// How the sender polls, batches and retries.
#[derive(Clone, Debug)]
pub struct SendPolicy {
    /// How often the outbox is read when nobody wakes the sender.
    pub poll_every: Duration,
    /// How many e-mails are claimed at once.
    pub batch: u32,
    /// The least time between two full batches: a backlog (an on-sale's expired holds)
    /// drains at up to `batch` e-mails per `pace`, leaving the database's writes to the
    /// bookings meanwhile (each e-mail is marked sent in a write of its own).
    pub pace: Duration,
    /// The wait after the first failure; it doubles with each further failure…
    pub first_retry: Duration,
    /// …up to this.
    pub max_retry_delay: Duration,
    /// An e-mail not delivered this long after it was queued is given up…
    pub give_up_after: Duration,
    /// …as is one that failed this many times.
    pub max_attempts: u32,
}

impl Default for SendPolicy {
    /// Polls every 5 s, 10 e-mails at a time, at most 200 a second; retries after 10 s,
    /// doubling up to 15 min, for at most a day or 100 attempts.
    fn default() -> Self {
        SendPolicy {
            poll_every: Duration::from_secs(5),
            batch: 10,
            pace: Duration::from_millis(50),
            first_retry: Duration::from_secs(10),
            max_retry_delay: Duration::from_secs(15 * 60),
            give_up_after: Duration::from_secs(24 * 60 * 60),
            max_attempts: 100,
        }
    }
}

impl SendPolicy {
    /// When to try again after attempt number `attempts` failed at `now`, or `None` to
    /// give up.
    pub fn retry_at(
        &self,
        attempts: u32,
        queued_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        if attempts >= self.max_attempts {
            return None;
        }
        let doublings = attempts.saturating_sub(1).min(31);
        let delay = self.first_retry.saturating_mul(1 << doublings).min(self.max_retry_delay);
        let retry_at = now + chrono::Duration::from_std(delay).ok()?;
        let deadline = queued_at + chrono::Duration::from_std(self.give_up_after).ok()?;
        (retry_at <= deadline).then_some(retry_at)
    }
}

/// Makes `/metrics` show the e-mail figures from the start, before the first e-mail.
pub fn describe_metrics() {
    metrics::counter!("emails_sent_total").increment(0);
    metrics::counter!("emails_failed_total", "kind" => "permanent").increment(0);
    metrics::counter!("emails_failed_total", "kind" => "transient").increment(0);
    metrics::counter!("emails_given_up_total").increment(0);
}

/// Starts the sender: it delivers what `outbox` has due, whenever `wake` is notified (after
/// a commit that queued an e-mail) and every [`SendPolicy::poll_every`] otherwise, until
/// `shutdown` completes. An e-mail being delivered when shutdown comes is finished and
/// marked first; await the handle to let it.
///
/// Counts `emails_sent_total`, `emails_failed_total{kind="permanent"|"transient"}` (each
/// failed attempt), `emails_given_up_total`, and records `email_queue_age_seconds` (from
/// queued to accepted).
pub fn spawn_sender(
    outbox: Arc<dyn Outbox>,
    mailer: Mailer,
    policy: SendPolicy,
    wake: Arc<Notify>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> JoinHandle<()> {
    describe_metrics();
    tracing::info!("e-mail sender started: {}", mailer.describe());
    let sender = Sender { outbox, mailer, policy };
    tokio::spawn(async move {
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let claimed = match sender.outbox.claim_due(Utc::now(), sender.policy.batch).await {
                Ok(claimed) => claimed,
                Err(e) => {
                    tracing::warn!("reading the e-mail outbox failed: {e:#}");
                    Vec::new()
                }
            };
            let full = claimed.len() >= sender.policy.batch as usize;
            let mut unavailable: Option<MailError> = None;
            for item in claimed {
                if shutdown.as_mut().now_or_never().is_some() {
                    // The rest stay leased until their lease runs out, then are due again.
                    return;
                }
                let span = tracing::info_span!("email", id = item.id, attempt = item.attempts + 1);
                match &unavailable {
                    // The server failed the last e-mail as a whole: the others would only
                    // wait for the same timeout each. They are due again after their backoff.
                    Some(error) => sender.fail(&item, error.clone()).instrument(span).await,
                    None => unavailable = sender.deliver(&item).instrument(span).await,
                }
            }
            if full && unavailable.is_none() {
                tokio::select! {
                    biased;
                    () = shutdown.as_mut() => return,
                    () = tokio::time::sleep(sender.policy.pace) => continue,
                }
            }
            tokio::select! {
                biased;
                () = shutdown.as_mut() => return,
                () = wake.notified() => {}
                () = tokio::time::sleep(sender.policy.poll_every) => {}
            }
        }
    })
}

struct Sender {
    outbox: Arc<dyn Outbox>,
    mailer: Mailer,
    policy: SendPolicy,
}

impl Sender {
    /// Sends one e-mail and records the outcome; returns the error when the server as a
    /// whole is unavailable.
    async fn deliver(&self, item: &Queued) -> Option<MailError> {
        match self.mailer.send(&item.email).await {
            Ok(()) => {
                let at = Utc::now();
                metrics::counter!("emails_sent_total").increment(1);
                metrics::histogram!("email_queue_age_seconds")
                    .record((at - item.queued_at).to_std().unwrap_or_default().as_secs_f64());
                tracing::debug!("e-mail sent");
                self.mark_sent(item.id, at).await;
                None
            }
            Err(error) => {
                let unavailable = matches!(error, MailError::Unavailable(_)).then(|| error.clone());
                self.fail(item, error).await;
                unavailable
            }
        }
    }

    /// Records a failed attempt with its retry time, or gives up.
    async fn fail(&self, item: &Queued, error: MailError) {
        let attempts = item.attempts + 1;
        metrics::counter!("emails_failed_total", "kind" => error.kind()).increment(1);
        let retry_at = if error.is_permanent() {
            None
        } else {
            self.policy.retry_at(attempts, item.queued_at, Utc::now())
        };
        match retry_at {
            Some(at) => tracing::warn!("e-mail not sent, trying again at {at}: {error}"),
            None => {
                metrics::counter!("emails_given_up_total").increment(1);
                tracing::error!("e-mail not sent, given up after {attempts} attempt(s): {error}");
            }
        }
        if let Err(e) = self.outbox.failed(item.id, attempts, retry_at, &error.to_string()).await {
            // Its lease runs out and it is tried again: nothing is lost.
            tracing::warn!("recording the e-mail's failure failed: {e:#}");
        }
    }

    /// Marks an accepted e-mail sent, trying a little harder than for a failure: an
    /// e-mail the outbox still holds is sent again once its lease runs out (the same
    /// Message-ID lets the receiver tell, but the fan may still see it twice).
    async fn mark_sent(&self, id: i64, at: DateTime<Utc>) {
        for wait in [0, 1, 2, 4] {
            tokio::time::sleep(Duration::from_secs(wait)).await;
            match self.outbox.sent(id, at).await {
                Ok(()) => return,
                Err(e) => tracing::warn!("marking the e-mail sent failed: {e:#}"),
            }
        }
        tracing::error!("the e-mail was sent but could not be marked sent; it will be sent again");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_email_waits_longer_each_time_up_to_the_cap() {
        let policy = SendPolicy::default();
        let queued = Utc::now();
        let waits: Vec<i64> =
            (1..=9).map(|n| (policy.retry_at(n, queued, queued).unwrap() - queued).num_seconds()).collect();
        assert_eq!(waits, [10, 20, 40, 80, 160, 320, 640, 900, 900]);
    }

    #[test]
    fn an_email_is_given_up_after_a_day_or_too_many_attempts() {
        let policy = SendPolicy::default();
        let queued = Utc::now();
        let almost_a_day = queued + chrono::Duration::hours(23) + chrono::Duration::minutes(50);
        assert!(policy.retry_at(50, queued, almost_a_day).is_none(), "past the day");
        assert!(policy.retry_at(50, queued, queued + chrono::Duration::hours(1)).is_some());
        assert!(policy.retry_at(100, queued, queued).is_none(), "too many attempts");
        assert!(policy.retry_at(u32::MAX - 1, queued, queued).is_none(), "no overflow");
    }
}
