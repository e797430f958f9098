//! Configuration: the serve flags (each with its environment variable) and the typed
//! [`Config`] they are validated into, in one place. Plain data: the layers that use a
//! setting read it from here; nothing here reaches into them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use axum::http::{HeaderName, HeaderValue};
use clap::Args;

pub use crate::backup::{BackupPlace, BackupSchedule};
pub use crate::store::DatabaseUrl;
use crate::throttle::{Rate, RateLimits};

/// Flags of `tickitecking serve`, each with its environment variable.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// How `PAYMENT` concerts are paid: `none` (only `DIRECT` concerts can be created),
    /// `manual` (at the box office or by bank transfer, recorded with mark-paid) or `stripe`
    /// (Stripe Checkout); default: `manual` with `--demo`, else `none`.
    #[arg(long, env = "PAYMENT_PROVIDER")]
    pub payment_provider: Option<String>,
    /// Stripe's secret API key (`sk_live_…`, `sk_test_…`), with `stripe`.
    #[arg(long, env = "STRIPE_SECRET_KEY", hide_env_values = true)]
    pub stripe_secret_key: Option<String>,
    /// The signing secret of the webhook endpoint registered at Stripe (`whsec_…`).
    #[arg(long, env = "STRIPE_WEBHOOK_SECRET", hide_env_values = true)]
    pub stripe_webhook_secret: Option<String>,
    /// Stripe's API address (a Stripe-compatible test server in tests).
    #[arg(long, env = "STRIPE_API_BASE", default_value = "https://api.stripe.com")]
    pub stripe_api_base: String,
    /// Where e-mails go out: `smtp://user:pass@host:port` (STARTTLS when offered),
    /// `smtps://…` (TLS); default: each e-mail is written as an `.eml` file under
    /// `<data-dir>/outbox/`.
    #[arg(long, env = "SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// The sender of e-mails.
    #[arg(long, env = "MAIL_FROM", default_value = "tickitecking <no-reply@localhost>")]
    pub mail_from: String,
    /// The address fans reach the web app at, for links that leave the service (the
    /// payment page's way back, e-mails); default: `http://` and `--bind`.
    #[arg(long, env = "PUBLIC_URL")]
    pub public_url: Option<String>,
    /// ISO 4217 currency of a concert that does not name one.
    #[arg(long, env = "DEFAULT_CURRENCY", default_value = "KRW")]
    pub default_currency: String,
    /// Address and port to listen on.
    #[arg(long, env = "TICKITECKING_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// Folder for the SQLite database, posters and generated secrets.
    #[arg(long, env = "TICKITECKING_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Database URL: `sqlite:…` or `postgres://…`; default: SQLite file `tickitecking.db` in the data dir.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// PostgreSQL read replica for read-only queries that tolerate its lag (the concert list, the admin's reservation list).
    #[arg(long, env = "DATABASE_REPLICA_URL", hide_env_values = true)]
    pub database_replica_url: Option<String>,
    /// Redis for the seat gate, caches and token revocations shared by every instance
    /// (`redis://[user:password@]host:port[/db]`; this build has no TLS to Redis).
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    /// Prefix of every Redis key, so several deployments can share one Redis.
    #[arg(long, env = "REDIS_KEY_PREFIX", default_value = "tickitecking:")]
    pub redis_key_prefix: String,
    /// Secret for signing tokens; default: generated once and kept in the data dir.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// The Ed25519 key ticket codes are signed with: its 32-byte seed, base64url (every
    /// instance of a scaled-out deployment needs the same); default: generated once and
    /// kept in the data dir.
    #[arg(long, env = "TICKET_SIGNING_KEY", hide_env_values = true)]
    pub ticket_signing_key: Option<String>,
    /// Lifetime of access tokens (e.g. `15m`, `1h`).
    #[arg(long, env = "ACCESS_TOKEN_TTL", default_value = "1h", value_parser = humantime::parse_duration)]
    pub access_token_ttl: Duration,
    /// Lifetime of refresh tokens (e.g. `7d`).
    #[arg(long, env = "REFRESH_TOKEN_TTL", default_value = "7d", value_parser = humantime::parse_duration)]
    pub refresh_token_ttl: Duration,
    /// Requests handled at once; past it, requests get an immediate 503 (load shedding).
    #[arg(long, env = "MAX_IN_FLIGHT", default_value_t = 4096)]
    pub max_in_flight: usize,
    /// Longest a request may take before it is answered with 503 (e.g. `30s`).
    #[arg(long, env = "REQUEST_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub request_timeout: Duration,
    /// Longest a client may take to send a request's headers before the connection is
    /// closed (slow-loris defence; e.g. `10s`).
    #[arg(long, env = "HEADER_READ_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub header_read_timeout: Duration,
    /// At shutdown, longest to wait for in-flight requests to finish (e.g. `30s`).
    #[arg(long, env = "SHUTDOWN_GRACE", default_value = "30s", value_parser = humantime::parse_duration)]
    pub shutdown_grace: Duration,
    /// Login attempts per account, from any address: `COUNT/PERIOD` (e.g. `10/5m`) or `off`.
    #[arg(long, env = "RATE_LIMIT_LOGIN_ACCOUNT", default_value = "10/5m")]
    pub rate_limit_login_account: Rate,
    /// Login attempts per client address: `COUNT/PERIOD` or `off`.
    #[arg(long, env = "RATE_LIMIT_LOGIN_ADDRESS", default_value = "60/1m")]
    pub rate_limit_login_address: Rate,
    /// Signups per client address: `COUNT/PERIOD` or `off`.
    #[arg(long, env = "RATE_LIMIT_SIGNUP", default_value = "20/1h")]
    pub rate_limit_signup: Rate,
    /// Booking attempts per user: `COUNT/PERIOD` or `off`.
    #[arg(long, env = "RATE_LIMIT_BOOKING", default_value = "30/1m")]
    pub rate_limit_booking: Rate,
    /// Header that carries the client's address, set by a trusted load balancer (e.g.
    /// `X-Forwarded-For`: its last entry is used); default: the TCP peer address.
    #[arg(long, env = "CLIENT_ADDRESS_HEADER")]
    pub client_address_header: Option<String>,
    /// Browser origins allowed to call the API cross-origin, comma-separated
    /// (`https://shop.example.com`), or `*`; default: none (CORS off).
    #[arg(long, env = "CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    /// Where posters are stored: a folder path, or `s3://bucket/prefix` (with the usual
    /// `AWS_*` variables; `AWS_ENDPOINT_URL` for S3-compatible servers); default: `images/`
    /// in the data dir.
    #[arg(long, env = "IMAGE_STORE")]
    pub image_store: Option<String>,
    /// Load the demo promoter, venues and concerts before serving (idempotent).
    #[arg(long)]
    pub demo: bool,
    /// Back up the SQLite database this often while serving (e.g. `15m`); needs `--backup-to`.
    #[arg(long, env = "BACKUP_EVERY", value_parser = humantime::parse_duration)]
    pub backup_every: Option<Duration>,
    /// Where scheduled backups go: a folder, or `s3://bucket/prefix` (configured by the
    /// `AWS_*` variables, as posters are).
    #[arg(long, env = "BACKUP_TO")]
    pub backup_to: Option<String>,
    /// How many of the newest scheduled backups to keep; older ones are removed.
    #[arg(long, env = "BACKUP_KEEP", default_value_t = 24)]
    pub backup_keep: usize,
    /// Serve `/metrics` on this address (e.g. `127.0.0.1:9090`) instead of `--bind`'s, so it
    /// need not face the internet.
    #[arg(long, env = "METRICS_BIND")]
    pub metrics_bind: Option<SocketAddr>,
    /// Log lines as `text` or `json` (one JSON object per line).
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// The first admin account, created at start-up when it does not exist yet.
#[derive(Debug, Clone)]
pub struct AdminAccount {
    pub username: String,
    /// `None`: generate one and print it once to the log.
    pub password: Option<String>,
    pub email: String,
}

impl AdminAccount {
    /// Reads `ADMIN_USERNAME`, `ADMIN_PASSWORD` and `ADMIN_EMAIL`.
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Self {
            username: var("ADMIN_USERNAME").unwrap_or_else(|| "admin".into()),
            password: var("ADMIN_PASSWORD"),
            email: var("ADMIN_EMAIL").unwrap_or_else(|| "admin@localhost".into()),
        }
    }
}

/// The shared Redis of a scaled-out deployment.
#[derive(Clone)]
pub struct RedisSettings {
    pub url: String,
    pub key_prefix: String,
}

impl std::fmt::Debug for RedisSettings {
    /// Without the URL, which may hold a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSettings").field("url", &"…").field("key_prefix", &self.key_prefix).finish()
    }
}

/// Where posters are stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageStore {
    /// A local folder.
    Folder(PathBuf),
    /// A bucket of S3 or an S3-compatible server, configured by the `AWS_*` variables,
    /// with `options` (object_store's S3 keys, e.g. `aws_endpoint`) on top.
    S3 { bucket: String, prefix: String, options: Vec<(String, String)> },
}

impl ImageStore {
    /// A folder path (or `file://` URL), or `s3://bucket/prefix`.
    pub fn parse(raw: &str) -> anyhow::Result<Self> {
        let Some(rest) = raw.strip_prefix("s3://") else {
            return Ok(Self::Folder(PathBuf::from(raw.strip_prefix("file://").unwrap_or(raw))));
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            bail!("IMAGE_STORE s3:// needs a bucket: s3://bucket/prefix");
        }
        Ok(Self::S3 {
            bucket: bucket.to_owned(),
            prefix: prefix.trim_matches('/').to_owned(),
            options: Vec::new(),
        })
    }
}

/// Everything the service needs to start, already validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub bind: SocketAddr,
    pub data_dir: PathBuf,
    pub database: DatabaseUrl,
    pub jwt_secret: Option<String>,
    /// `TICKET_SIGNING_KEY`; `None`: the key kept in the data dir.
    pub ticket_signing_key: Option<String>,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub admin: AdminAccount,
    /// Redis shared by every instance; `None`: gate, caches and revocations in process.
    pub redis: Option<RedisSettings>,
    /// Where poster files go.
    pub image_store: ImageStore,
    /// Overload bounds.
    pub limits: Limits,
    /// Rate limits against brute force and abuse.
    pub rate_limits: RateLimits,
    /// Where the client address comes from, and who may call cross-origin.
    pub edge: Edge,
    /// Load the demo data at start-up.
    pub demo: bool,
    /// Scheduled backups of the SQLite database; `None`: none.
    pub backups: Option<BackupSchedule>,
    /// Where `/metrics` is served when not on `bind`.
    pub metrics_bind: Option<SocketAddr>,
    /// How orders are paid.
    pub payments: PaymentSettings,
    /// Where e-mails go: `(SMTP URL or none: files, sender address)`.
    pub mail: MailSettings,
}

/// E-mail settings.
#[derive(Clone)]
pub struct MailSettings {
    /// `None`: `.eml` files under `<data-dir>/outbox/`.
    pub smtp_url: Option<String>,
    pub from: String,
}

impl std::fmt::Debug for MailSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailSettings")
            .field("smtp", &self.smtp_url.is_some())
            .field("from", &self.from)
            .finish()
    }
}

impl Default for MailSettings {
    fn default() -> Self {
        Self { smtp_url: None, from: "tickitecking <no-reply@localhost>".into() }
    }
}

/// Which payment provider settles `PAYMENT` concerts' orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentProvider {
    /// None: only `DIRECT` concerts.
    None,
    /// At the box office or by bank transfer; the promoter records it (mark-paid).
    Manual,
    /// Stripe Checkout, confirmed by Stripe's webhook.
    Stripe,
}

impl PaymentProvider {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentProvider::None => "none",
            PaymentProvider::Manual => "manual",
            PaymentProvider::Stripe => "stripe",
        }
    }
}

/// Stripe's settings.
#[derive(Clone)]
pub struct StripeSettings {
    pub secret_key: String,
    pub webhook_secret: String,
    pub api_base: String,
}

impl std::fmt::Debug for StripeSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeSettings").field("api_base", &self.api_base).finish_non_exhaustive()
    }
}

/// Payment settings.
#[derive(Debug, Clone)]
pub struct PaymentSettings {
    pub provider: PaymentProvider,
    /// The currency of a concert that does not name one.
    pub default_currency: String,
    /// With the `stripe` provider.
    pub stripe: Option<StripeSettings>,
    /// Where fans reach the web app (the payment page sends them back there).
    pub public_url: String,
}

impl Default for PaymentSettings {
    fn default() -> Self {
        Self {
            provider: PaymentProvider::None,
            default_currency: crate::domain::venue::DEFAULT_CURRENCY.into(),
            stripe: None,
            public_url: "http://127.0.0.1:8080".into(),
        }
    }
}

impl PaymentSettings {
    /// From `PAYMENT_PROVIDER` (unset: `manual` when the demo is loaded, else `none`), the
    /// Stripe settings it needs, `DEFAULT_CURRENCY` and `PUBLIC_URL`.
    pub fn from_args(args: &ServeArgs) -> anyhow::Result<Self> {
        let provider = match args.payment_provider.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
            None if args.demo => PaymentProvider::Manual,
            None | Some("none") => PaymentProvider::None,
            Some("manual") => PaymentProvider::Manual,
            Some("stripe") => PaymentProvider::Stripe,
            Some(other) => bail!("PAYMENT_PROVIDER must be none, manual or stripe, not {other:?}"),
        };
        let stripe = match provider {
            PaymentProvider::Stripe => {
                let given = |value: &Option<String>, name: &str| match value.as_deref().map(str::trim) {
                    Some(v) if !v.is_empty() => Ok(v.to_owned()),
                    _ => Err(anyhow::anyhow!("PAYMENT_PROVIDER stripe needs {name}")),
                };
                let secret_key = given(&args.stripe_secret_key, "STRIPE_SECRET_KEY")?;
                let webhook_secret = given(&args.stripe_webhook_secret, "STRIPE_WEBHOOK_SECRET")?;
                Some(StripeSettings { secret_key, webhook_secret, api_base: args.stripe_api_base.clone() })
            }
            _ => None,
        };
        let default_currency = crate::domain::venue::currency(&args.default_currency)
            .map_err(|e| anyhow::anyhow!("DEFAULT_CURRENCY {e}"))?;
        let public_url = match args.public_url.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
            Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
                url.trim_end_matches('/').to_owned()
            }
            Some(_) => bail!("PUBLIC_URL must start with http:// or https://"),
            None => format!("http://{}", args.bind),
        };
        Ok(Self { provider, default_currency, stripe, public_url })
    }
}

impl Config {
    /// Validates the parsed flags and reads the admin variables.
    pub fn from_args(args: ServeArgs) -> anyhow::Result<Self> {
        let payments = PaymentSettings::from_args(&args)?;
        if args.access_token_ttl < Duration::from_secs(1) {
            bail!("--access-token-ttl must be at least 1s");
        }
        if args.refresh_token_ttl < args.access_token_ttl {
            bail!("--refresh-token-ttl must not be shorter than --access-token-ttl");
        }
        // Refused rather than ignored: a deployment that sets these expects them used.
        let redis = match args.redis_url.filter(|u| !u.is_empty()) {
            None => None,
            Some(url) if url.starts_with("redis://") => {
                Some(RedisSettings { url, key_prefix: args.redis_key_prefix })
            }
            // Refused rather than failing later: TLS would need the redis crate's TLS feature.
            Some(url) if url.starts_with("rediss://") => {
                bail!(
                    "REDIS_URL rediss:// (TLS) is not supported by this build; use redis:// on a private network"
                )
            }
            Some(_) => bail!("REDIS_URL must start with redis://"),
        };
        let database = DatabaseUrl::parse(args.database_url.as_deref(), &args.data_dir)?
            .with_replica(args.database_replica_url.as_deref())?;
        let image_store = match args.image_store.filter(|s| !s.is_empty()) {
            None => ImageStore::Folder(args.data_dir.join("images")),
            Some(raw) => ImageStore::parse(&raw)?,
        };
        if args.max_in_flight == 0 {
            bail!("--max-in-flight must be at least 1");
        }
        let backups = backups(args.backup_every, args.backup_to.as_deref(), args.backup_keep, &database)?;
        if args.metrics_bind == Some(args.bind) {
            bail!("--metrics-bind must differ from --bind (leave it out to serve /metrics on --bind)");
        }
        let mail = MailSettings {
            smtp_url: args.smtp_url.clone().filter(|u| !u.trim().is_empty()),
            from: args.mail_from.clone(),
        };
        Ok(Self {
            backups,
            payments,
            mail,
            metrics_bind: args.metrics_bind,
            limits: Limits {
                max_in_flight: args.max_in_flight,
                request_timeout: args.request_timeout,
                header_read_timeout: args.header_read_timeout,
                shutdown_grace: args.shutdown_grace,
            },
            rate_limits: RateLimits {
                login_per_account: args.rate_limit_login_account,
                login_per_address: args.rate_limit_login_address,
                signup_per_address: args.rate_limit_signup,
                booking_per_user: args.rate_limit_booking,
            },
            edge: edge(args.client_address_header.as_deref(), &args.cors_origins)?,
            image_store,
            redis,
            demo: args.demo,
            bind: args.bind,
            data_dir: args.data_dir,
            database,
            jwt_secret: args.jwt_secret.filter(|s| !s.is_empty()),
            ticket_signing_key: args.ticket_signing_key.filter(|s| !s.trim().is_empty()),
            access_token_ttl: args.access_token_ttl,
            refresh_token_ttl: args.refresh_token_ttl,
            admin: AdminAccount::from_env(),
        })
    }

    /// Defaults for a service kept entirely in `data_dir` (used by tests and tools).
    pub fn in_dir(data_dir: impl Into<PathBuf>) -> Self {
        let data_dir = data_dir.into();
        Self {
            limits: Limits::default(),
            rate_limits: RateLimits::default(),
            edge: Edge::default(),
            image_store: ImageStore::Folder(data_dir.join("images")),
            redis: None,
            demo: false,
            backups: None,
            metrics_bind: None,
            // Tests and tools sell `PAYMENT` concerts too.
            payments: PaymentSettings { provider: PaymentProvider::Manual, ..PaymentSettings::default() },
            mail: MailSettings::default(),
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            database: DatabaseUrl::parse(None, &data_dir).expect("the default URL is valid"),
            data_dir,
            jwt_secret: None,
            ticket_signing_key: None,
            access_token_ttl: Duration::from_secs(3600),
            refresh_token_ttl: Duration::from_secs(7 * 24 * 3600),
            admin: AdminAccount { username: "admin".into(), password: None, email: "admin@localhost".into() },
        }
    }
}

/// The backup schedule the flags ask for, checked.
fn backups(
    every: Option<Duration>,
    to: Option<&str>,
    keep: usize,
    database: &DatabaseUrl,
) -> anyhow::Result<Option<BackupSchedule>> {
    let (every, to) = match (every, to.filter(|t| !t.is_empty())) {
        (None, None) => return Ok(None),
        (Some(every), Some(to)) => (every, to),
        (Some(_), None) => bail!("--backup-every needs --backup-to (a folder or s3://bucket/prefix)"),
        (None, Some(_)) => bail!("--backup-to needs --backup-every (e.g. 15m)"),
    };
    if matches!(database, DatabaseUrl::Postgres { .. }) {
        bail!(
            "--backup-every backs up the embedded SQLite database; back PostgreSQL up with its own tools (pg_dump, pg_basebackup, WAL archiving): see docs/operations.md"
        );
    }
    if every < Duration::from_secs(1) {
        bail!("--backup-every must be at least 1s");
    }
    if keep == 0 {
        bail!("--backup-keep must be at least 1");
    }
    Ok(Some(BackupSchedule { every, place: BackupPlace::parse_for_schedule(to)?, keep }))
}

/// How the service meets the open internet.
#[derive(Debug, Clone, Default)]
pub struct Edge {
    /// Header a trusted load balancer puts the client address in; `None`: the TCP peer.
    pub client_address_header: Option<HeaderName>,
    /// Origins allowed to call cross-origin from a browser; empty: CORS off.
    pub cors_origins: Vec<HeaderValue>,
}

/// Bounds that keep the service answering under overload.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Requests handled at once; past it, new requests get an immediate 503.
    pub max_in_flight: usize,
    /// Longest a request may take before it is answered with 503.
    pub request_timeout: Duration,
    /// Longest a client may take to send a request's headers.
    pub header_read_timeout: Duration,
    /// Longest to wait for in-flight requests at shutdown.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_in_flight: 4096,
            request_timeout: Duration::from_secs(30),
            header_read_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// Parses the client-address header name and the CORS origins.
fn edge(client_address_header: Option<&str>, cors_origins: &[String]) -> anyhow::Result<Edge> {
    let client_address_header = match client_address_header.map(str::trim).filter(|h| !h.is_empty()) {
        None => None,
        Some(name) => Some(
            HeaderName::try_from(name)
                .map_err(|_| anyhow::anyhow!("CLIENT_ADDRESS_HEADER {name:?} is not a header name"))?,
        ),
    };
    let mut origins = Vec::new();
    for origin in cors_origins.iter().map(|o| o.trim()).filter(|o| !o.is_empty()) {
        let well_formed = origin == "*"
            || ((origin.starts_with("https://") || origin.starts_with("http://"))
                && !origin.trim_end_matches('/').contains(['?', '#'])
                && origin.split("://").nth(1).is_some_and(|host| !host.is_empty() && !host.contains('/')));
        if !well_formed {
            bail!("CORS_ORIGINS entry {origin:?} is not an origin like https://shop.example.com (or *)");
        }
        origins.push(
            HeaderValue::from_str(origin)
                .map_err(|_| anyhow::anyhow!("CORS_ORIGINS entry {origin:?} is not a header value"))?,
        );
    }
    Ok(Edge { client_address_header, cors_origins: origins })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    /// The serve flags alone, as `tickitecking serve` takes them.
    #[derive(Parser)]
    struct Serve {
        #[command(flatten)]
        args: ServeArgs,
    }

    /// Parses `t serve FLAGS…`.
    fn serve_args(args: &[&str]) -> Result<ServeArgs, clap::Error> {
        let flags = args.iter().filter(|a| **a != "serve");
        Serve::try_parse_from(flags).map(|serve| serve.args)
    }

    #[test]
    fn settings_this_build_cannot_honour_are_refused_not_ignored() {
        let parse = |args: &[&str]| Config::from_args(serve_args(args).unwrap());
        assert!(parse(&["t", "serve", "--database-replica-url", "postgres://r/db"]).is_err());
        assert!(parse(&["t", "serve", "--redis-url", "http://localhost"]).is_err());
        assert!(parse(&["t", "serve", "--redis-url", "rediss://localhost"]).is_err());
        assert!(parse(&["t", "serve", "--image-store", "s3:///posters"]).is_err());
        assert!(parse(&["t", "serve", "--image-store", "/srv/posters"]).is_ok());
    }

    #[test]
    fn rate_limits_cors_and_client_address_come_from_flags() {
        let parse = |args: &[&str]| Config::from_args(serve_args(args).unwrap());
        let defaults = parse(&["t", "serve"]).unwrap();
        assert_eq!(defaults.rate_limits, RateLimits::default());
        assert!(defaults.edge.cors_origins.is_empty(), "CORS is off by default");
        assert!(defaults.edge.client_address_header.is_none());
        let set = parse(&[
            "t",
            "serve",
            "--rate-limit-login-account",
            "3/1m",
            "--rate-limit-booking",
            "off",
            "--cors-origins",
            "https://a.example,http://localhost:3000",
            "--client-address-header",
            "X-Forwarded-For",
        ])
        .unwrap();
        assert_eq!(set.rate_limits.login_per_account, Rate::new(3, Duration::from_secs(60)));
        assert!(set.rate_limits.booking_per_user.is_off());
        assert_eq!(set.edge.cors_origins.len(), 2);
        assert_eq!(set.edge.client_address_header.unwrap().as_str(), "x-forwarded-for");
        assert!(parse(&["t", "serve", "--cors-origins", "a.example"]).is_err());
        assert!(parse(&["t", "serve", "--cors-origins", "https://a.example/path"]).is_err());
        assert!(serve_args(&["t", "serve", "--rate-limit-signup", "lots"]).is_err());
    }

    #[test]
    fn redis_and_s3_are_chosen_by_their_urls() {
        let args = serve_args(&["t", "serve", "--redis-url", "redis://cache:6379/2"]).unwrap();
        let redis = Config::from_args(args).unwrap().redis.unwrap();
        assert_eq!(
            (redis.url.as_str(), redis.key_prefix.as_str()),
            ("redis://cache:6379/2", "tickitecking:")
        );
        assert_eq!(
            ImageStore::parse("s3://posters/prod/images/").unwrap(),
            ImageStore::S3 { bucket: "posters".into(), prefix: "prod/images".into(), options: Vec::new() }
        );
        assert_eq!(
            ImageStore::parse("s3://posters").unwrap(),
            ImageStore::S3 { bucket: "posters".into(), prefix: String::new(), options: Vec::new() }
        );
        assert_eq!(ImageStore::parse("file:///srv/p").unwrap(), ImageStore::Folder("/srv/p".into()));
    }

    #[test]
    fn backups_and_the_metrics_address_are_checked() {
        let parse = |args: &[&str]| Config::from_args(serve_args(args).unwrap());
        let set = parse(&[
            "t",
            "serve",
            "--backup-every",
            "15m",
            "--backup-to",
            "s3://keep/db",
            "--backup-keep",
            "3",
        ])
        .unwrap()
        .backups
        .unwrap();
        assert_eq!(set.every, Duration::from_secs(900));
        assert_eq!(set.keep, 3);
        assert_eq!(
            set.place,
            BackupPlace::S3 { bucket: "keep".into(), prefix: "db".into(), options: Vec::new() }
        );
        assert!(parse(&["t", "serve"]).unwrap().backups.is_none());
        assert!(parse(&["t", "serve", "--backup-every", "15m"]).is_err(), "needs a place");
        assert!(parse(&["t", "serve", "--backup-to", "/srv/b"]).is_err(), "needs a period");
        assert!(
            parse(&["t", "serve", "--backup-every", "15m", "--backup-to", "/b", "--backup-keep", "0"])
                .is_err()
        );
        let postgres = [
            "t",
            "serve",
            "--database-url",
            "postgres://u@h/db",
            "--backup-every",
            "1h",
            "--backup-to",
            "/b",
        ];
        assert!(parse(&postgres).unwrap_err().to_string().contains("pg_dump"));
        let metrics = parse(&["t", "serve", "--metrics-bind", "127.0.0.1:9090"]).unwrap();
        assert_eq!(metrics.metrics_bind.unwrap().to_string(), "127.0.0.1:9090");
        assert!(
            parse(&["t", "serve", "--metrics-bind", "127.0.0.1:8080"]).is_err(),
            "the same address as --bind"
        );
        assert_eq!(serve_args(&["t", "serve", "--log-format", "json"]).unwrap().log_format, LogFormat::Json);
        assert!(serve_args(&["t", "serve", "--log-format", "xml"]).is_err());
    }

    #[test]
    fn cli_parses_durations_and_defaults() {
        let args = serve_args(&["tickitecking", "serve", "--access-token-ttl", "15m"]).unwrap();
        assert_eq!(args.access_token_ttl, Duration::from_secs(900));
        assert_eq!(args.refresh_token_ttl, Duration::from_secs(7 * 86400));
        assert_eq!(args.bind.to_string(), "127.0.0.1:8080");
    }
}
