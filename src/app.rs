//! Wiring: builds the service from a [`Config`] and runs it until shutdown.

use std::future::Future;
use std::sync::{Arc, Weak};

use anyhow::Context;
use rand::distributions::{Alphanumeric, DistString};
use tokio::net::TcpListener;

use crate::auth::revocation::{MemoryRevocations, RedisRevocations, Revocations};
use crate::auth::{self, Auth, password};
use crate::backup;
use crate::cache::{
    Catalog, MemoryCatalog, RedisCatalog, RedisSeatMaps, SeatMapCache, SeatMaps, WatchedSeatMaps,
};
use crate::config::{AdminAccount, Config, ImageStore};
use crate::demo;
use crate::domain::user::{Email, Password, Role, Username};
use crate::gate::{MemoryGate, RedisGate, SeatGate};
use crate::http::{self, AppState};
use crate::posters::PosterStore;
use crate::queue::{Lines, MemoryLines, RedisLines};
use crate::seat_news::{self, SeatMapNews, SeatNews};
use crate::service::{self, Parts, Services};
use crate::shared_state::SharedState;
use crate::store::{self, NewUser, Store};
use crate::throttle::{MemoryLimiter, RateLimiter, RedisLimiter, Throttle};
use crate::ticket::TicketKey;

/// A built service, ready to serve.
pub struct Service {
    pub router: axum::Router,
    pub store: Arc<dyn Store>,
    /// One line saying which backends are in use.
    pub backends: String,
    /// News of seat maps, whose live streams must end when shutdown starts.
    pub seat_news: Arc<SeatNews>,
    /// Connection-level bounds (header timeout, shutdown grace).
    pub limits: http::Limits,
    /// `/metrics` on an address of its own, when configured.
    pub metrics: Option<(std::net::SocketAddr, axum::Router)>,
    /// Scheduled backups, when configured.
    pub backups: Option<(backup::Source, backup::BackupSchedule)>,
    /// The orders, whose holds the sweeper expires.
    pub orders: Arc<service::Orders>,
    /// The waiting rooms, whose ticker runs beside the server.
    pub queue: Arc<service::Queue>,
    /// What the e-mail sender needs.
    pub mail: MailParts,
}

/// Where e-mails from the outbox go, and what they are composed with.
pub struct MailParts {
    pub settings: crate::config::MailSettings,
    /// The data dir, for `.eml` files without SMTP.
    pub data_dir: std::path::PathBuf,
    /// The public address their links point at.
    pub public_url: String,
    /// What the tickets' codes in order confirmations are signed with.
    pub ticket_key: Arc<TicketKey>,
}

/// Opens the backends, applies migrations and creates the first admin account.
pub async fn build(config: &Config) -> anyhow::Result<Service> {
    let (services, assembled) = assemble(config).await?;
    let orders = services.orders.clone();
    let queue = services.queue.clone();
    let state = AppState::new(services, http::ops::metrics_handle()?, config.edge.clone());
    let backups = match &config.backups {
        Some(schedule) => {
            backup::describe_metrics();
            Some((backup::Source::from_config(config)?, schedule.clone()))
        }
        None => None,
    };
    let metrics = config.metrics_bind.map(|address| (address, http::ops::metrics_router(state.clone())));
    let mut router = http::router(state, config.limits);
    if metrics.is_some() {
        router = http::ops::without_metrics(router);
    }
    Ok(Service {
        router,
        store: assembled.store,
        backends: assembled.backends,
        seat_news: assembled.seat_news,
        limits: config.limits,
        metrics,
        backups,
        orders,
        queue,
        mail: MailParts {
            settings: config.mail.clone(),
            data_dir: config.data_dir.clone(),
            public_url: config.payments.public_url.clone(),
            ticket_key: assembled.ticket_key,
        },
    })
}

/// What [`assemble`] hands on besides the use cases.
pub(crate) struct Assembled {
    pub store: Arc<dyn Store>,
    pub backends: String,
    pub seat_news: Arc<SeatNews>,
    pub ticket_key: Arc<TicketKey>,
}

/// The use cases over the configured backends, ready to serve.
pub(crate) async fn assemble(config: &Config) -> anyhow::Result<(Services, Assembled)> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data dir {}", config.data_dir.display()))?;
    let store = store::open(&config.database).await?;
    ensure_admin(store.as_ref(), &config.admin).await?;
    let secret = auth::load_or_create_secret(config.jwt_secret.as_deref(), &config.data_dir)?;
    let ticket_key = Arc::new(match &config.ticket_signing_key {
        Some(key) => TicketKey::from_setting(key).context("TICKET_SIGNING_KEY")?,
        None => TicketKey::load_or_create(&config.data_dir)?,
    });
    let shared = match &config.redis {
        Some(redis) => Some(SharedState::connect(&redis.url, &redis.key_prefix).await?),
        None => None,
    };
    let seat_news = Arc::new(SeatNews::default());
    let fast = FastViews::new(shared.as_ref(), &store, &seat_news).await?;
    let auth = Auth::new(
        &secret,
        store.clone(),
        fast.revocations,
        config.access_token_ttl,
        config.refresh_token_ttl,
    )
    .await?;
    if config.demo {
        // Loaded outside the log macro: its arguments are not evaluated when the level is off.
        let summary = demo::load(store.as_ref()).await?;
        tracing::info!("{summary}");
    }
    let posters = match &config.image_store {
        ImageStore::Folder(dir) => PosterStore::local(dir)?,
        ImageStore::S3 { bucket, prefix, options } => PosterStore::s3(bucket, prefix, options)?,
    };
    let backends = format!(
        "database: {} ({}), posters: {}, seat gate, caches, seat news, token revocation and rate limits: {}",
        store.backend(),
        config.database,
        posters.description,
        shared
            .as_ref()
            .map_or_else(|| "in-process".to_owned(), |redis| format!("shared in {}", redis.description)),
    );
    let services = Services::new(Parts {
        store: store.clone(),
        auth: Arc::new(auth),
        views: service::Views {
            gate: fast.gate,
            seat_maps: Arc::new(WatchedSeatMaps::new(fast.seat_maps, seat_news.clone())),
            catalog: fast.catalog,
            seat_news: seat_news.clone(),
            store: store.clone(),
        },
        posters,
        throttle: Arc::new(Throttle::new(fast.limiter, config.rate_limits)),
        shared_state: shared,
        payments: config.payments.clone(),
        ticket_key: ticket_key.clone(),
        lines: fast.lines,
        passes: crate::queue::PassKey::new(&secret),
    })?;
    Ok((services, Assembled { store, backends, seat_news, ticket_key }))
}

/// The fast views in front of the database: each kept in process, or in Redis.
struct FastViews {
    revocations: Arc<dyn Revocations>,
    gate: Arc<dyn SeatGate>,
    catalog: Arc<dyn Catalog>,
    seat_maps: Arc<dyn SeatMapCache>,
    limiter: Box<dyn RateLimiter>,
    lines: Arc<dyn Lines>,
}

impl FastViews {
    /// The one place that knows which implementations are in use: with Redis, every
    /// instance shares them, and `seat_news` goes to every instance too; without, each
    /// lives in this process.
    async fn new(
        shared: Option<&SharedState>,
        store: &Arc<dyn Store>,
        seat_news: &Arc<SeatNews>,
    ) -> anyhow::Result<Self> {
        Ok(match shared {
            Some(redis) => {
                let revocations = Arc::new(RedisRevocations::new(redis.clone(), store.clone()));
                let gate = Arc::new(RedisGate::new(redis.clone(), store.clone()));
                let catalog = Arc::new(RedisCatalog::new(redis.clone()));
                let seat_maps = Arc::new(RedisSeatMaps::new(redis.clone()));
                seat_news::share(seat_news, redis).await?;
                tokio::spawn(catch_up_with_redis(
                    Arc::downgrade(&revocations),
                    Arc::downgrade(&gate),
                    Arc::downgrade(&catalog),
                    Arc::downgrade(&seat_maps),
                    Arc::downgrade(seat_news),
                ));
                let limiter = Box::new(RedisLimiter::new(redis.clone()));
                let lines = Arc::new(RedisLines::new(redis.clone()));
                Self { revocations, gate, catalog, seat_maps, limiter, lines }
            }
            None => Self {
                revocations: Arc::new(MemoryRevocations::default()),
                gate: Arc::new(MemoryGate::new(store.clone())),
                catalog: Arc::new(MemoryCatalog::default()),
                seat_maps: Arc::new(SeatMaps::default()),
                limiter: Box::new(MemoryLimiter::default()),
                lines: Arc::new(MemoryLines::default()),
            },
        })
    }
}

/// Every second, makes good in Redis what an instance could not write there (a
/// revocation, a seat freed, an invalidation) even if no request comes to do it; ends
/// with the service.
async fn catch_up_with_redis(
    revocations: Weak<RedisRevocations>,
    gate: Weak<RedisGate>,
    catalog: Weak<RedisCatalog>,
    seat_maps: Weak<RedisSeatMaps>,
    seat_news: Weak<SeatNews>,
) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        every.tick().await;
        let (Some(revocations), Some(gate), Some(catalog), Some(seat_maps), Some(seat_news)) = (
            revocations.upgrade(),
            gate.upgrade(),
            catalog.upgrade(),
            seat_maps.upgrade(),
            seat_news.upgrade(),
        ) else {
            return;
        };
        // Failures are already counted and logged where they happened; the next tick retries.
        let _ = revocations.catch_up().await;
        let _ = gate.catch_up().await;
        let _ = catalog.catch_up().await;
        let _ = seat_maps.catch_up().await;
        // Pages on any instance may have read the map again on the news of a change
        // before its invalidation reached Redis, and got the old map.
        if seat_maps.made_good() {
            seat_news.tell(SeatMapNews::All);
        }
    }
}

/// Builds the service and serves it on `listener` until `shutdown` completes.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    run(build(&config).await?, listener, shutdown).await
}

/// Serves a built service until `shutdown` completes, then lets in-flight requests finish
/// and closes the store.
pub async fn run(
    service: Service,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let address = listener.local_addr()?;
    let metrics = match service.metrics {
        Some((metrics_address, router)) => {
            let metrics_listener = TcpListener::bind(metrics_address)
                .await
                .with_context(|| format!("cannot listen for /metrics on {metrics_address}"))?;
            tracing::info!("metrics on http://{}/metrics", metrics_listener.local_addr()?);
            Some(tokio::spawn(http::server::serve(
                metrics_listener,
                router,
                service.limits,
                std::future::pending(),
            )))
        }
        None => None,
    };
    tracing::info!("tickitecking listening on http://{address} ({})", service.backends);
    let maintenance = tokio::spawn(maintain(service.store.clone()));
    let sweeper = tokio::spawn(service::orders::sweep_forever(service.orders.clone()));
    let queue = tokio::spawn(service::queue::run_forever(service.queue.clone()));
    let MailParts { settings, data_dir, public_url, ticket_key } = service.mail;
    let mailer = crate::mail::Mailer::new(settings.smtp_url.as_deref(), &settings.from, &data_dir)?;
    let outbox = Arc::new(service::mail::StoreOutbox::new(service.store.clone(), public_url, ticket_key));
    let (stop_mail, mail_stopped) = tokio::sync::oneshot::channel::<()>();
    let sender = crate::mail::spawn_sender(
        outbox,
        mailer,
        crate::mail::SendPolicy::default(),
        Arc::new(tokio::sync::Notify::new()),
        async {
            let _ = mail_stopped.await;
        },
    );
    let backups =
        service.backups.map(|(source, schedule)| tokio::spawn(backup::run_schedule(source, schedule)));
    let seat_news = service.seat_news.clone();
    let rooms = service.queue.clone();
    let shutdown = async move {
        shutdown.await;
        rooms.close();
        // Live seat-map streams never finish by themselves; the graceful shutdown waits
        // for every open response.
        seat_news.close();
    };
    http::server::serve(listener, service.router, service.limits, shutdown).await?;
    maintenance.abort();
    sweeper.abort();
    queue.abort();
    // The e-mail in flight is finished and marked before the store closes.
    let _ = stop_mail.send(());
    let _ = sender.await;
    // A backup cut short leaves only its temporary file, removed by the next one.
    for task in [metrics.map(|t| t.abort_handle()), backups.map(|t| t.abort_handle())].into_iter().flatten() {
        task.abort();
    }
    service.store.close().await;
    tracing::info!("tickitecking stopped");
    Ok(())
}

/// How long an idempotency key answers retries.
const IDEMPOTENCY_KEY_LIFETIME: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Hourly housekeeping: expired idempotency keys and revocations.
async fn maintain(store: Arc<dyn Store>) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        every.tick().await;
        if let Err(e) = store.prune(IDEMPOTENCY_KEY_LIFETIME).await {
            tracing::warn!("housekeeping failed: {e:#}");
        }
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!("cannot listen for Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

/// Creates the configured admin account unless an account of that name exists. Without a
/// configured password one is generated and logged, once.
async fn ensure_admin(store: &dyn Store, admin: &AdminAccount) -> anyhow::Result<()> {
    let username = Username::parse(&admin.username).map_err(|e| anyhow::anyhow!("ADMIN_USERNAME {e}"))?;
    let email = Email::parse(&admin.email).map_err(|e| anyhow::anyhow!("ADMIN_EMAIL {e}"))?;
    if let Some(existing) = store.user_by_username(username.as_str()).await? {
        if existing.role != Role::Admin {
            tracing::warn!(
                "ADMIN_USERNAME {:?} exists but is not an admin; no admin account created",
                existing.username
            );
        }
        return Ok(());
    }
    let (password, generated) = match &admin.password {
        Some(p) => (Password::parse(p).map_err(|e| anyhow::anyhow!("ADMIN_PASSWORD {e}"))?, false),
        None => {
            let random = Alphanumeric.sample_string(&mut rand::thread_rng(), 20);
            (
                Password::parse(&format!("{random}#7a"))
                    .map_err(|e| anyhow::anyhow!("generated password {e}"))?,
                true,
            )
        }
    };
    let password_hash = password::hash(password.expose().to_owned()).await?;
    store
        .create_user(&NewUser {
            username: username.as_str().to_owned(),
            password_hash,
            email: email.as_str().to_owned(),
            nickname: None,
            role: Role::Admin,
        })
        .await
        .context("creating the admin account")?;
    if generated {
        tracing::warn!(
            "created admin account {:?} with generated password {:?}; it is shown only this once",
            username.as_str(),
            password.expose()
        );
    } else {
        tracing::info!("created admin account {:?}", username.as_str());
    }
    Ok(())
}
