use async_trait::async_trait;
use chrono::Utc;

use super::SqliteStore;
use crate::store::audit::AuditRow;
use crate::store::{AuditEntry, AuditStore, NewAuditEntry, StoreError};

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
        .fetch_one(&*self.write.lock().await?)
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
