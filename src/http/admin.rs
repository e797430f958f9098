//! `/admin`: operator login and account management.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath, ClientAddress};
use super::users::{LoginRequest, TokenResponse, token_response};
use super::{AppState, Data};
use crate::auth::Principal;
use crate::domain::Validator;
use crate::domain::user::{Email, Nickname, Password, Role, Username};
use crate::service::accounts::AccountChange;
use crate::store::UserRecord;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(admin_login)).routes(routes!(list_users)).routes(routes!(update_user))
}

/// Logs in like `/users/login`, for administrators only.
#[utoipa::path(post, path = "/admin/login", tag = "admin", request_body = LoginRequest,
    responses(
        (status = 200, description = "a new token pair; the access token is also in the Authorization header", body = Data<TokenResponse>,
            headers(("Authorization" = String, description = "`Bearer <access token>`"))),
        (status = 400, description = "missing fields", body = ErrorBody),
        (status = 401, description = "unknown user or wrong password", body = ErrorBody),
        (status = 403, description = "valid credentials of an account that is not an administrator", body = ErrorBody),
        (status = 429, description = "too many attempts for this account or from this address (RATE_LIMITED; see Retry-After)", body = ErrorBody),
    ))]
async fn admin_login(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<(HeaderMap, Json<Data<TokenResponse>>), ApiError> {
    let (username, password) = body.credentials()?;
    token_response(state.accounts.login(&address, username, password, true).await?)
}

/// An account as administrators see it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdminUserView {
    pub user_id: i64,
    pub username: String,
    pub email: String,
    #[schema(required)]
    pub nickname: Option<String>,
    #[schema(value_type = super::docs::RoleSchema)]
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<UserRecord> for AdminUserView {
    fn from(u: UserRecord) -> Self {
        Self {
            user_id: u.id,
            username: u.username,
            email: u.email,
            nickname: u.nickname,
            role: u.role,
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

/// Every live account.
#[utoipa::path(get, path = "/admin/users", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, description = "every account, oldest first", body = Data<Vec<AdminUserView>>),
        (status = 401, description = "no valid token", body = ErrorBody),
        (status = 403, description = "not an administrator", body = ErrorBody),
    ))]
async fn list_users(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Data<Vec<AdminUserView>>>, ApiError> {
    let users = state.accounts.list(&principal).await?;
    Ok(Json(Data::new(users.into_iter().map(Into::into).collect())))
}

/// Body of `PUT /admin/users/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AdminUserRequest {
    #[schema(
        example = "fan01",
        required,
        nullable = false,
        min_length = 3,
        max_length = 30,
        pattern = "^[A-Za-z0-9_.-]+$"
    )]
    pub username: Option<String>,
    /// Absent or null keeps the current password; else 8–64 characters with a letter, a
    /// digit and a symbol.
    #[schema(min_length = 8, max_length = 64)]
    pub password: Option<String>,
    #[schema(example = "fan01@example.com", required, nullable = false)]
    pub email: Option<String>,
    /// Absent or null removes the nickname.
    pub nickname: Option<String>,
    #[schema(value_type = super::docs::RoleSchema, required)]
    pub role: Option<Role>,
}

/// Changes an account, including its role (how a fan becomes a promoter or admin).
/// A role or password change ends every session of that account.
#[utoipa::path(put, path = "/admin/users/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path, description = "user id")),
    request_body = AdminUserRequest,
    responses(
        (status = 200, description = "the updated account", body = Data<AdminUserView>),
        (status = 400, description = "invalid fields", body = ErrorBody),
        (status = 401, description = "no valid token", body = ErrorBody),
        (status = 403, description = "not an administrator", body = ErrorBody),
        (status = 404, description = "no such account", body = ErrorBody),
        (status = 409, description = "username, email or nickname taken, or an admin changing their own role", body = ErrorBody),
    ))]
async fn update_user(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<AdminUserRequest>,
) -> Result<Json<Data<AdminUserView>>, ApiError> {
    let mut v = Validator::default();
    let username = v.require("username", body.username.as_deref(), Username::parse);
    let password = body.password.as_deref().and_then(|p| v.check("password", Password::parse(p)));
    let email = v.require("email", body.email.as_deref(), Email::parse);
    let nickname = body.nickname.as_deref().and_then(|n| v.check("nickname", Nickname::parse(n)));
    let role = v.check("role", body.role.ok_or_else(|| "is required".to_owned()));
    let ((username, email), role) = v.finish_with(username.zip(email).zip(role))?;
    let change = AccountChange { username, password, email, nickname, role };
    let view = AdminUserView::from(state.accounts.change(&principal, id, change).await?);
    Ok(Json(Data::new(view)))
}
