//! E-mail: the messages the service sends (order confirmations, refund and transfer
//! notices, expired holds) and the background sender that delivers them from an outbox.
//!
//! - [`Mailer`] delivers one [`Email`]: over SMTP when `SMTP_URL` is set, otherwise as an
//!   `.eml` file under `<data-dir>/outbox/`. Its [`MailError`] says whether trying again
//!   can help.
//! - [`spawn_sender`] drains an [`Outbox`] (a table written in the same transaction as the
//!   change an e-mail reports) with retries and backoff, marking each e-mail sent right
//!   after the server accepted it.
//!
//! Nothing here knows the database: the store implements [`Outbox`].

mod files;
mod mailer;
mod message;
mod sender;

pub use mailer::Mailer;
pub use sender::{Outbox, Queued, SendPolicy, describe_metrics, spawn_sender};

/// One e-mail to one recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email {
    /// Unique per (event, recipient), e.g. `order-12-paid/fan@example.com`: the same key is
    /// the same e-mail, so it names the outbox file and fixes the Message-ID.
    pub key: String,
    /// The recipient's address.
    pub to: String,
    /// The recipient's display name.
    pub to_name: Option<String>,
    pub subject: String,
    /// The plain-text body, always sent.
    pub text: String,
    /// An HTML alternative to the text, sent with it as `multipart/alternative`.
    pub html: Option<String>,
    /// Images the HTML shows inline (`<img src="cid:…">`), sent with it as
    /// `multipart/related`.
    pub images: Vec<InlineImage>,
}

/// An image shown inside an e-mail's HTML, named by its Content-ID.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InlineImage {
    /// What the HTML's `cid:` names, e.g. `ticket-12@tickets` (without angle brackets).
    pub content_id: String,
    /// e.g. `image/png`.
    pub content_type: &'static str,
    pub data: Vec<u8>,
}

/// Why an e-mail was not delivered, and whether trying again later can help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    /// Never deliverable as it is: an invalid address, or the server refused it for good
    /// (a 5xx answer about the message or its recipient).
    #[error("rejected: {0}")]
    Rejected(String),
    /// The server did not take this e-mail now (a 4xx answer): try it again later.
    #[error("deferred: {0}")]
    Deferred(String),
    /// The server could not be used at all (connection refused, timeout, TLS, login
    /// refused) or the outbox folder could not be written: no e-mail can go out now, try
    /// again later.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

impl MailError {
    /// True when retrying cannot help.
    pub fn is_permanent(&self) -> bool {
        matches!(self, MailError::Rejected(_))
    }

    /// `permanent` or `transient`, as counted on `/metrics`.
    pub fn kind(&self) -> &'static str {
        if self.is_permanent() { "permanent" } else { "transient" }
    }
}
