use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::SqliteStore;
use crate::store::{AuditEntry, AuditStore, NewAuditEntry, StoreError};

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
impl AuditStore for SqliteStore {
    async fn record_audit(&self, entry: &NewAuditEntry) -> Result<i64, StoreError> {
        let text = |value: &Option<serde_json::Value>| value.as_ref().map(serde_json::Value::to_string);
        Ok(sqlx::query_scalar(
            "INSERT INTO audit_log
                 (actor_id, actor_role, action, target_type, target_id, before_state, after_state, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(entry.actor_id)
        .bind(entry.actor_role.as_str())
        .bind(entry.action)
        .bind(entry.target_type)
        .bind(entry.target_id)
        .bind(text(&entry.before))
        .bind(text(&entry.after))
        .bind(Utc::now())
        .fetch_one(&self.write)
        .await?)
    }

    async fn audit_page(&self, offset: i64, limit: i64) -> Result<(Vec<AuditEntry>, i64), StoreError> {
        let rows: Vec<AuditRow> = sqlx::query_as(
            "SELECT a.id, a.actor_id, u.username AS actor_username, a.actor_role, a.action,
                    a.target_type, a.target_id, a.before_state, a.after_state, a.created_at
             FROM audit_log a JOIN users u ON u.id = a.actor_id
             ORDER BY a.id DESC LIMIT $1 OFFSET $2",
        )
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.read)
        .await?;
        let total: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log").fetch_one(&self.read).await?;
        Ok((rows.into_iter().map(AuditEntry::try_from).collect::<Result<_, _>>()?, total))
    }
}
