//! The audit log of admin and promoter actions: one entry per committed action, written
//! as part of the action's after-commit work.

use std::sync::Arc;

use serde_json::{Value, json};

use super::{ServiceError, require};
use crate::auth::Principal;
use crate::domain::user::Role;
use crate::posters;
use crate::store::{
    AuditEntry, AuditoriumRecord, ConcertRecord, NewAuditEntry, ReservationRecord, Store, UserRecord,
};

/// What an action did to its target.
pub struct Change {
    pub action: &'static str,
    pub target_type: &'static str,
    pub target_id: Option<i64>,
    /// The target before (absent for creations).
    pub before: Option<Value>,
    /// The target after (absent for deletions).
    pub after: Option<Value>,
}

impl Change {
    /// A target created: its state after.
    pub fn created(action: &'static str, target_type: &'static str, id: i64, after: &impl Snapshot) -> Self {
        Self { action, target_type, target_id: Some(id), before: None, after: Some(after.snapshot()) }
    }

    /// A target changed: its state before and after.
    pub fn updated(
        action: &'static str,
        target_type: &'static str,
        id: i64,
        before: &impl Snapshot,
        after: &impl Snapshot,
    ) -> Self {
        let (before, after) = (Some(before.snapshot()), Some(after.snapshot()));
        Self { action, target_type, target_id: Some(id), before, after }
    }

    /// A target deleted: its state before.
    pub fn deleted(action: &'static str, target_type: &'static str, id: i64, before: &impl Snapshot) -> Self {
        Self { action, target_type, target_id: Some(id), before: Some(before.snapshot()), after: None }
    }
}

/// Writes and reads the audit log.
pub struct AuditLog {
    store: Arc<dyn Store>,
}

impl AuditLog {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    /// Records an action of `actor` that has committed. A failure to write is logged and
    /// counted but does not turn the committed action into an error.
    pub async fn record(&self, actor: &Principal, change: Change) {
        let action = change.action;
        let entry = NewAuditEntry {
            actor_id: actor.user_id,
            actor_role: actor.role,
            action,
            target_type: change.target_type,
            target_id: change.target_id,
            before: change.before,
            after: change.after,
        };
        if let Err(e) = self.store.record_audit(&entry).await {
            metrics::counter!("audit_write_failures_total").increment(1);
            tracing::error!(action, error = %e, "audit entry not written");
        }
    }

    /// One page of the log, newest first, and the number of entries in all; for
    /// administrators.
    pub async fn page(
        &self,
        caller: &Principal,
        offset: i64,
        size: i64,
    ) -> Result<(Vec<AuditEntry>, i64), ServiceError> {
        require(caller, Role::Admin)?;
        Ok(self.store.audit_page(offset, size).await?)
    }
}

/// How the log shows a target: the fields the API shows, in its names, never a secret.
pub trait Snapshot {
    fn snapshot(&self) -> Value;
}

impl Snapshot for AuditoriumRecord {
    fn snapshot(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "address": self.address,
            "maxRow": self.max_row.map(|row| row.to_string()),
            "maxColumn": self.max_column,
            "sections": self.layout.sections.iter().map(|s| json!({
                "name": s.name,
                "kind": s.kind.name(),
                "rows": s.rows().iter().map(|(label, seats)| json!({"label": label, "seats": seats})).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "owner": { "id": self.owner_id, "username": self.owner_username, "nickname": self.owner_nickname },
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        })
    }
}

impl Snapshot for ConcertRecord {
    fn snapshot(&self) -> Value {
        let prices: Vec<Value> = self
            .prices
            .iter()
            .map(|(grade, price)| json!({ "grade": grade.to_string(), "price": price }))
            .collect();
        json!({
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "startTime": self.start_time,
            "companyUserId": self.owner_id,
            "auditoriumId": self.auditorium.id,
            "auditoriumName": self.auditorium.name,
            "auditoriumAddress": self.auditorium.address,
            "auditoriumMaxRow": self.auditorium.max_row,
            "auditoriumMaxColumn": self.auditorium.max_column,
            "imagePath": self.poster_key.as_deref().map(posters::public_path),
            "maxSeatsPerFan": self.max_seats_per_fan,
            "salesOpenAt": self.sales_open_at,
            "salesCloseAt": self.sales_close_at,
            "waitingRoom": self.waiting_room.map(|r| json!({
                "opensAt": r.opens_at,
                "admitPerMinute": r.admit_per_minute,
                "passMinutes": r.pass_minutes,
            })),
            "seatPrices": prices,
        })
    }
}

impl Snapshot for UserRecord {
    fn snapshot(&self) -> Value {
        json!({
            "userId": self.id,
            "username": self.username,
            "email": self.email,
            "nickname": self.nickname,
            "role": self.role,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        })
    }
}

impl Snapshot for ReservationRecord {
    fn snapshot(&self) -> Value {
        json!({
            "id": self.id,
            "status": self.status,
            "userId": self.user_id,
            "concertId": self.concert_id,
            "seatId": self.seat_id,
            "cancelledAt": self.cancelled_at,
        })
    }
}
