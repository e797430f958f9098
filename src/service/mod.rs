//! The application layer: one method per use case. Each decides (who may, what is
//! valid beyond the input's own shape), commits through the store, then does the
//! after-commit work — the views ([`views::Views`]: seat gate, seat-map and catalog
//! caches, seat news), the audit entry, the metrics — in one place that runs to its end
//! even when the caller hangs up ([`completion::to_completion`]).
//!
//! The HTTP layer parses requests into domain values, calls a use case and shapes the
//! answer; it reaches no store, gate or cache of its own.

pub mod accounts;
pub mod audit;
pub mod bookings;
pub mod catalog;
pub mod completion;
pub mod mail;
pub mod orders;
pub mod presales;
pub mod queue;
pub mod tickets;
pub mod views;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use crate::auth::{Auth, AuthError, Principal};
use crate::domain::Invalid;
use crate::domain::user::Role;
use crate::posters::PosterStore;
use crate::shared_state::SharedState;
use crate::store::{BookingError, Store, StoreError};
use crate::throttle::{Throttle, Throttled};

pub use self::accounts::Accounts;
pub use self::audit::AuditLog;
pub use self::bookings::Bookings;
pub use self::catalog::Catalog;
pub use self::orders::Orders;
pub use self::presales::Presales;
pub use self::queue::Queue;
pub use self::tickets::Tickets;
pub use self::views::Views;

/// Every use case of the service, as the HTTP layer reaches them.
pub struct Services {
    pub accounts: Accounts,
    pub catalog: Catalog,
    pub bookings: Bookings,
    pub orders: Arc<Orders>,
    pub presales: Presales,
    pub tickets: Tickets,
    pub queue: Arc<Queue>,
    pub audit: Arc<AuditLog>,
    pub health: Health,
    /// The views, for tests that check the after-commit work.
    #[cfg(test)]
    views: Arc<Views>,
}

/// What the service is built from.
pub struct Parts {
    pub store: Arc<dyn Store>,
    pub auth: Arc<Auth>,
    pub views: Views,
    pub posters: PosterStore,
    pub throttle: Arc<Throttle>,
    /// The shared Redis, if any: readiness looks at it.
    pub shared_state: Option<SharedState>,
    pub payments: crate::config::PaymentSettings,
    /// What ticket codes are signed with (the e-mail sender signs them too).
    pub ticket_key: Arc<crate::ticket::TicketKey>,
    /// The waiting rooms' lines, and what their passes are signed with.
    pub lines: Arc<dyn crate::queue::Lines>,
    pub passes: crate::queue::PassKey,
}

impl Services {
    pub fn new(parts: Parts) -> anyhow::Result<Self> {
        let Parts {
            store,
            auth,
            views,
            posters,
            throttle,
            shared_state,
            payments,
            ticket_key,
            lines,
            passes,
        } = parts;
        let views = Arc::new(views);
        let audit = Arc::new(AuditLog::new(store.clone()));
        let queue = Arc::new(Queue::new(store.clone(), lines, passes));
        Ok(Self {
            accounts: Accounts::new(store.clone(), auth, throttle.clone(), views.clone(), audit.clone()),
            catalog: Catalog::new(store.clone(), posters, views.clone(), audit.clone(), payments.clone()),
            bookings: Bookings::new(store.clone(), throttle, views.clone(), audit.clone(), queue.clone()),
            orders: Arc::new(Orders::new(store.clone(), views.clone(), audit.clone(), payments)?),
            presales: Presales::new(store.clone(), audit.clone()),
            tickets: Tickets::new(store.clone(), ticket_key),
            queue,
            audit,
            health: Health { store, shared_state },
            #[cfg(test)]
            views,
        })
    }
}

/// Whether the backends answer, for `/ready` and `/metrics`.
pub struct Health {
    store: Arc<dyn Store>,
    shared_state: Option<SharedState>,
}

impl Health {
    /// The database backend's name, or why it does not answer.
    pub async fn database(&self) -> Result<&'static str, String> {
        let backend = self.store.backend();
        self.store.ping().await.map(|()| backend).map_err(|e| format!("{backend}: {e}"))
    }

    /// The shared Redis, or why it does not answer: `None` without one.
    pub async fn redis(&self) -> Option<Result<String, String>> {
        let redis = self.shared_state.as_ref()?;
        Some(
            redis
                .ping()
                .await
                .map(|()| redis.description.clone())
                .map_err(|e| format!("{}: {e:#}", redis.description)),
        )
    }

    /// `(pool name, open connections, idle connections)` of each database pool.
    pub fn pool_usage(&self) -> Vec<(&'static str, u32, usize)> {
        self.store.pool_usage()
    }
}

/// Why a use case did not happen, in terms the HTTP layer answers with.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Fields that break the rules.
    #[error("invalid input")]
    Invalid(#[from] Invalid),
    /// The caller may not do this.
    #[error("{0}")]
    Forbidden(&'static str),
    /// The caller may not do this without something they can get; `code` says what.
    #[error("{message}")]
    Denied { code: &'static str, message: &'static str },
    /// No such (live) thing.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The change clashes with the state of things; `code` is the API's error code.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error(transparent)]
    Booking(#[from] BookingError),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Throttled(#[from] Throttled),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl ServiceError {
    /// A conflict with a code and a message.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        ServiceError::Conflict { code, message: message.into() }
    }
}

/// Refuses a caller whose role does not include `role`.
pub fn require(caller: &Principal, role: Role) -> Result<(), ServiceError> {
    if caller.has(role) {
        Ok(())
    } else {
        Err(ServiceError::Forbidden(match role {
            Role::Admin => "administrators only",
            Role::CompanyUser => "promoters and administrators only",
            Role::User => "signed-in users only",
        }))
    }
}

/// Refuses a caller who is neither an admin nor the promoter who owns the thing.
pub fn ensure_owner(caller: &Principal, owner_id: i64) -> Result<(), ServiceError> {
    if caller.has(Role::Admin) || (caller.has(Role::CompanyUser) && caller.user_id == owner_id) {
        Ok(())
    } else {
        Err(ServiceError::Forbidden("only its owner or an administrator may change this"))
    }
}

/// A 404 naming `what` for a row the store did not find.
pub(crate) fn not_found(what: &'static str) -> impl Fn(StoreError) -> ServiceError {
    move |e| match e {
        StoreError::NotFound => ServiceError::NotFound(what),
        other => other.into(),
    }
}
