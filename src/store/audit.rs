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

/// An audit row as every backend reads it (states as JSON text).
#[derive(sqlx::FromRow)]
pub(in crate::store) struct AuditRow {
    pub id: i64,
    pub actor_id: i64,
    pub actor_username: String,
    pub actor_role: String,
    pub action: String,
    pub target_type: String,
    pub target_id: Option<i64>,
    pub before_state: Option<String>,
    pub after_state: Option<String>,
    pub created_at: DateTime<Utc>,
}

fn json(raw: Option<String>) -> Result<Option<serde_json::Value>, StoreError> {
    raw.map(|text| serde_json::from_str(&text))
        .transpose()
        .map_err(|e| StoreError::Other(anyhow::anyhow!("stored audit state is not JSON: {e}")))
}

impl TryFrom<AuditRow> for AuditEntry {
    type Error = StoreError;
    fn try_from(row: AuditRow) -> Result<Self, StoreError> {
        let actor_role = row.actor_role.parse().map_err(|e| {
            StoreError::Other(anyhow::anyhow!("audit entry {} has role {:?}: {e}", row.id, row.actor_role))
        })?;
        Ok(AuditEntry {
            id: row.id,
            actor_id: row.actor_id,
            actor_username: row.actor_username,
            actor_role,
            action: row.action,
            target_type: row.target_type,
            target_id: row.target_id,
            before: json(row.before_state)?,
            after: json(row.after_state)?,
            created_at: row.created_at,
        })
    }
}
