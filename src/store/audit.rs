//! The audit log in storage: an append-only record of admin and promoter actions.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Encode, Executor, IntoArguments, Type};

use super::StoreError;
use super::sql::{Args, Backend, Column, Conn, RowOf};
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
struct AuditRow {
    id: i64,
    actor_id: i64,
    actor_username: String,
    actor_role: String,
    action: String,
    target_type: String,
    target_id: Option<i64>,
    before_state: Option<String>,
    after_state: Option<String>,
    created_at: DateTime<Utc>,
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

#[async_trait]
impl<B> AuditStore for B
where
    B: Backend,
    for<'c> &'c mut Conn<B>: Executor<'c, Database = B::DB>,
    for<'q> Args<'q, B>: IntoArguments<'q, B::DB>,
    for<'r> &'r str: ColumnIndex<RowOf<B>>,
    usize: ColumnIndex<RowOf<B>>,
    for<'q> &'q str: Encode<'q, B::DB> + Type<B::DB>,
    i64: Column<B::DB>,
    Option<i64>: Column<B::DB>,
    String: Column<B::DB>,
    Option<String>: Column<B::DB>,
    DateTime<Utc>: Column<B::DB>,
{
    async fn record_audit(&self, entry: &NewAuditEntry) -> Result<i64, StoreError> {
        let text = |value: &Option<serde_json::Value>| value.as_ref().map(serde_json::Value::to_string);
        Ok(sqlx::query_scalar(&format!(
            "INSERT INTO audit_log
                 (actor_id, actor_role, action, target_type, target_id, before_state, after_state, created_at)
             VALUES ($1, $2, $3, $4, $5, CAST($6 AS {json}), CAST($7 AS {json}), $8) RETURNING id",
            json = B::JSON
        ))
        .bind(entry.actor_id)
        .bind(entry.actor_role.as_str())
        .bind(entry.action)
        .bind(entry.target_type)
        .bind(entry.target_id)
        .bind(text(&entry.before))
        .bind(text(&entry.after))
        .bind(Utc::now())
        .fetch_one(&*self.write().await?)
        .await?)
    }

    async fn audit_page(&self, offset: i64, limit: i64) -> Result<(Vec<AuditEntry>, i64), StoreError> {
        let rows: Vec<AuditRow> = sqlx::query_as(
            "SELECT a.id, a.actor_id, u.username AS actor_username, a.actor_role, a.action,
                    a.target_type, a.target_id, CAST(a.before_state AS TEXT) AS before_state,
                    CAST(a.after_state AS TEXT) AS after_state, a.created_at
             FROM audit_log a JOIN users u ON u.id = a.actor_id
             ORDER BY a.id DESC LIMIT $1 OFFSET $2",
        )
        .bind(limit)
        .bind(offset)
        .fetch_all(self.fresh())
        .await?;
        let total: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log").fetch_one(self.fresh()).await?;
        Ok((rows.into_iter().map(AuditEntry::try_from).collect::<Result<_, _>>()?, total))
    }
}
