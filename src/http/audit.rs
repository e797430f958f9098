//! `GET /admin/audit`: the audit log of admin and promoter actions, for administrators.

use axum::Json;
use axum::extract::State;
use axum::http::Uri;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::concerts::{PageQuery, page_and_size};
use super::error::{ApiError, ErrorBody};
use super::{AppState, Data};
use crate::auth::Principal;
use crate::domain::user::Role;
use crate::store::AuditEntry;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(audit_log))
}

/// One recorded action.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntryView {
    pub id: i64,
    pub actor_id: i64,
    pub actor_username: String,
    #[schema(value_type = super::docs::RoleSchema)]
    pub actor_role: Role,
    /// `<target>.<verb>`, e.g. `concert.update`, `user.update`, `seat.lock_toggle`.
    #[schema(example = "concert.update")]
    pub action: String,
    #[schema(example = "concert")]
    pub target_type: String,
    #[schema(required)]
    pub target_id: Option<i64>,
    /// The target as the API showed it before (null for creations).
    #[schema(value_type = Option<Object>, required)]
    pub before: Option<serde_json::Value>,
    /// The target as the API shows it after (null for deletions).
    #[schema(value_type = Option<Object>, required)]
    pub after: Option<serde_json::Value>,
    pub created_at: DateTime<Utc>,
}

impl From<AuditEntry> for AuditEntryView {
    fn from(e: AuditEntry) -> Self {
        Self {
            id: e.id,
            actor_id: e.actor_id,
            actor_username: e.actor_username,
            actor_role: e.actor_role,
            action: e.action,
            target_type: e.target_type,
            target_id: e.target_id,
            before: e.before,
            after: e.after,
            created_at: e.created_at,
        }
    }
}

/// A page of the audit log.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditPage {
    pub content: Vec<AuditEntryView>,
    pub page: i64,
    pub size: i64,
    pub total_elements: i64,
    pub total_pages: i64,
}

/// The audit log of admin and promoter actions, newest first.
#[utoipa::path(get, path = "/admin/audit", tag = "admin", security(("bearer" = [])), params(PageQuery),
    responses(
        (status = 200, description = "one page of the audit log", body = Data<AuditPage>),
        (status = 400, description = "page < 1 or size outside 1–100", body = ErrorBody),
        (status = 401, description = "no valid token", body = ErrorBody),
        (status = 403, description = "not an administrator", body = ErrorBody),
    ))]
async fn audit_log(
    State(state): State<AppState>,
    principal: Principal,
    uri: Uri,
) -> Result<Json<Data<AuditPage>>, ApiError> {
    let (page, size) = page_and_size(&uri)?;
    let (entries, total) = state.audit.page(&principal, (page - 1).saturating_mul(size), size).await?;
    Ok(Json(Data::new(AuditPage {
        content: entries.into_iter().map(Into::into).collect(),
        page,
        size,
        total_elements: total,
        total_pages: (total + size - 1) / size,
    })))
}
