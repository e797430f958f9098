//! [`Mailer`]: delivers one e-mail over SMTP, or into the outbox folder without it.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use lettre::message::Mailbox;
use lettre::transport::smtp::Error as SmtpError;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use url::Url;

use super::{Email, MailError, files, message};

/// How long one SMTP exchange (connect, a command, the message) may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// SMTP replies that refuse the login, not the e-mail: a configuration fault that every
/// e-mail would meet, so retried (once the credentials are fixed) rather than given up.
const LOGIN_REFUSED: [&str; 4] = ["530", "534", "535", "538"];

/// Delivers e-mails from one sender address, over SMTP or into `<data-dir>/outbox/`.
/// Cheap to clone: clones share the SMTP connection pool.
#[derive(Clone)]
pub struct Mailer {
    from: Mailbox,
    delivery: Delivery,
}

#[derive(Clone)]
enum Delivery {
    Smtp { transport: AsyncSmtpTransport<Tokio1Executor>, description: String },
    Files(PathBuf),
}

impl Mailer {
    /// A mailer for `SMTP_URL` (none: `.eml` files under `<data_dir>/outbox/`) sending as
    /// `from` (`"Name <address>"` or a bare address). The URL forms are described in
    /// `docs/e-mail.md`. Connects to nothing yet; call within the Tokio runtime (the SMTP
    /// connection pool starts its housekeeping task here).
    pub fn new(smtp_url: Option<&str>, from: &str, data_dir: &Path) -> anyhow::Result<Self> {
        let from = from.parse().with_context(|| format!("invalid sender address {from:?}"))?;
        let delivery = match smtp_url {
            Some(url) => {
                let (transport, description) = smtp_transport(url)?;
                Delivery::Smtp { transport, description }
            }
            None => Delivery::Files(data_dir.join("outbox")),
        };
        Ok(Mailer { from, delivery })
    }

    /// Where e-mails go, for the start-up line (never shows the password).
    pub fn describe(&self) -> String {
        match &self.delivery {
            Delivery::Smtp { description, .. } => description.clone(),
            Delivery::Files(dir) => format!(".eml files in {}", dir.display()),
        }
    }

    /// Delivers `email`: `Ok` once the SMTP server has accepted it (or its file is in the
    /// outbox folder, where a second send of the same key leaves the first file as it is).
    pub async fn send(&self, email: &Email) -> Result<(), MailError> {
        let message = message::build(email, &self.from)?;
        match &self.delivery {
            Delivery::Smtp { transport, .. } => transport.send(message).await.map(drop).map_err(classify),
            Delivery::Files(dir) => {
                let (dir, name, bytes) = (dir.clone(), files::file_name(&email.key), message.formatted());
                let written = tokio::task::spawn_blocking(move || files::write_once(&dir, &name, &bytes))
                    .await
                    .map_err(|e| MailError::Unavailable(format!("writing to the outbox folder: {e}")))?;
                match written {
                    Ok(true) => Ok(()),
                    Ok(false) => {
                        tracing::debug!("the outbox folder already has this e-mail; left as it was");
                        Ok(())
                    }
                    Err(e) => Err(MailError::Unavailable(format!("writing to the outbox folder: {e}"))),
                }
            }
        }
    }
}

impl fmt::Debug for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailer").field("from", &self.from.to_string()).field("to", &self.describe()).finish()
    }
}

/// The transport for an SMTP URL and a description of it without the password.
///
/// lettre's URL forms (host, port, credentials, the EHLO name as the path), except that
/// `smtp://` without `?tls=` upgrades with STARTTLS when the server offers it, where lettre
/// would never, and `?tls=none` asks for plain SMTP.
fn smtp_transport(raw: &str) -> anyhow::Result<(AsyncSmtpTransport<Tokio1Executor>, String)> {
    let mut url = Url::parse(raw).map_err(|e| anyhow!("SMTP_URL is not a URL: {e}"))?;
    let tls = take_query_value(&mut url, "tls");
    let host = url.host_str().context("SMTP_URL has no host")?.to_owned();
    let security = match (url.scheme(), tls.as_deref()) {
        ("smtps", None) => Security::Tls,
        ("smtp", Some("required")) => Security::StartTlsRequired,
        ("smtp", Some("opportunistic") | None) => Security::StartTlsIfOffered,
        ("smtp", Some("none")) => Security::Plain,
        (scheme, tls) => bail!(
            "SMTP_URL: unknown form {scheme}://…{}; use smtp:// (optionally with ?tls=required, \
             ?tls=opportunistic or ?tls=none) or smtps://",
            tls.map(|t| format!("?tls={t}")).unwrap_or_default()
        ),
    };
    // lettre's defaults: the submission ports when TLS is asked for, else the relay port.
    let port = url.port().unwrap_or(match (&security, &tls) {
        (Security::Tls, _) => 465,
        (Security::StartTlsRequired | Security::StartTlsIfOffered, Some(_)) => 587,
        _ => 25,
    });
    let description = format!("SMTP to {host}:{port} ({})", security.describe());
    let encrypted = matches!(security, Security::Tls | Security::StartTlsRequired);
    if url.password().is_some() && !encrypted && !is_loopback(&host) {
        tracing::warn!(
            "{description}: the SMTP password may cross the network unencrypted; use ?tls=required or smtps://"
        );
    }

    let parameters =
        || TlsParameters::new(host.clone()).map_err(|e| anyhow!("SMTP_URL: setting up TLS: {e}"));
    let tls = match security {
        Security::Tls => Tls::Wrapper(parameters()?),
        Security::StartTlsRequired => Tls::Required(parameters()?),
        Security::StartTlsIfOffered => Tls::Opportunistic(parameters()?),
        Security::Plain => Tls::None,
    };
    let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.as_str())
        .map_err(|e| anyhow!("SMTP_URL: {e}"))?
        .port(port)
        .tls(tls)
        .timeout(Some(SMTP_TIMEOUT))
        .build();
    Ok((transport, description))
}

/// How an SMTP connection is protected.
enum Security {
    /// TLS from the first byte (`smtps://`).
    Tls,
    StartTlsRequired,
    /// STARTTLS when the server offers it, plain otherwise.
    StartTlsIfOffered,
    Plain,
}

impl Security {
    fn describe(&self) -> &'static str {
        match self {
            Security::Tls => "TLS",
            Security::StartTlsRequired => "STARTTLS required",
            Security::StartTlsIfOffered => "STARTTLS if offered",
            Security::Plain => "no TLS",
        }
    }
}

/// Removes `name=…` from the URL's query and returns its value.
fn take_query_value(url: &mut Url, name: &str) -> Option<String> {
    let (taken, kept): (Vec<_>, Vec<_>) =
        url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).partition(|(k, _)| k == name);
    if kept.is_empty() {
        url.set_query(None);
    } else {
        url.query_pairs_mut().clear().extend_pairs(kept);
    }
    taken.into_iter().next().map(|(_, v)| v)
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.trim_matches(['[', ']']).parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether a failed SMTP delivery can succeed later, and if so whether the server is
/// usable at all.
fn classify(error: SmtpError) -> MailError {
    let text = error.to_string();
    match error.status().map(|code| code.to_string()) {
        Some(code) if error.is_permanent() && LOGIN_REFUSED.contains(&code.as_str()) => {
            MailError::Unavailable(text)
        }
        Some(_) if error.is_permanent() => MailError::Rejected(text),
        // 421: the server is closing the connection (shutting down, overloaded).
        Some(code) if code == "421" => MailError::Unavailable(text),
        Some(_) => MailError::Deferred(text),
        None => MailError::Unavailable(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn describe(url: &str) -> String {
        Mailer::new(Some(url), "tickets@example.com", Path::new("data")).unwrap().describe()
    }

    #[tokio::test]
    async fn the_url_says_how_the_connection_is_protected() {
        assert_eq!(describe("smtp://127.0.0.1:2525"), "SMTP to 127.0.0.1:2525 (STARTTLS if offered)");
        assert_eq!(describe("smtp://mail.example.com"), "SMTP to mail.example.com:25 (STARTTLS if offered)");
        assert_eq!(
            describe("smtp://u:p@mail.example.com?tls=required"),
            "SMTP to mail.example.com:587 (STARTTLS required)"
        );
        assert_eq!(
            describe("smtp://mail.example.com:2525?tls=none"),
            "SMTP to mail.example.com:2525 (no TLS)"
        );
        assert_eq!(describe("smtps://u:secret@mail.example.com"), "SMTP to mail.example.com:465 (TLS)");
        assert!(
            !format!("{:?}", Mailer::new(Some("smtps://u:secret@h"), "a@b.c", Path::new("d")).unwrap())
                .contains("secret")
        );
    }

    #[tokio::test]
    async fn a_wrong_url_or_sender_is_refused_at_start() {
        for url in [
            "http://mail.example.com",
            "smtps://h?tls=none",
            "smtp://h?tls=maybe",
            "not a url",
            "smtp:///path",
        ] {
            let error = Mailer::new(Some(url), "tickets@example.com", Path::new("data")).unwrap_err();
            assert!(error.to_string().contains("SMTP_URL"), "{url}: {error}");
        }
        assert!(Mailer::new(None, "not an address", Path::new("data")).is_err());
    }

    #[test]
    fn without_smtp_e_mails_go_to_the_outbox_folder() {
        let mailer = Mailer::new(None, "Tickets <tickets@example.com>", Path::new("/srv/data")).unwrap();
        assert_eq!(mailer.describe(), ".eml files in /srv/data/outbox");
    }
}
