//! The audit log in storage: an append-only record of admin and promoter actions.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;
use crate::domain::user::Role;

/// An action to record. `before` and `after` are the target's state as the API shows it
/// (never secrets such as password hashes).
#[derive(Debug, Clone)]
pub struct NewAuditEntry {
    pub actor_id: i64,
    pub actor_role: Role,
    /// `<target>.<verb>`, e.g. `concert.update`.
    pub action: &'static str,
    /// `user`, `auditorium`, `concert`, `reservation`.
    pub target_type: &'static str,
    pub target_id: Option<i64>,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

/// A recorded action, with the actor's username at reading time.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub id: i64,
    pub actor_id: i64,
    pub actor_username: String,
    pub actor_role: Role,
    pub action: String,
    pub target_type: String,
    pub target_id: Option<i64>,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub created_at: DateTime<Utc>,
}

/// The audit log.
#[async_trait]
pub trait AuditStore {
    /// Appends an entry; returns its id.
    async fn record_audit(&self, entry: &NewAuditEntry) -> Result<i64, StoreError>;
    /// One page of entries, newest first, and the total count.
    async fn audit_page(&self, offset: i64, limit: i64) -> Result<(Vec<AuditEntry>, i64), StoreError>;
}
