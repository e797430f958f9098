//! `/users`: signup, login, token refresh, logout and the caller's own account.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ClientAddress};
use super::{AppState, Data};
use crate::auth::{Principal, TokenPair};
use crate::domain::Validator;
use crate::domain::user::{Email, Nickname, Password, Role, Username};
use crate::service::accounts::Signup;
use crate::store::UserRecord;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(signup))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(get_my, update_my, delete_my))
}

/// Body of `POST /users/signup`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignupRequest {
    /// 3–30 letters, digits, `_`, `.`, `-`.
    #[schema(
        example = "fan01",
        required,
        nullable = false,
        min_length = 3,
        max_length = 30,
        pattern = "^[A-Za-z0-9_.-]+$"
    )]
    pub username: Option<String>,
    /// 8–64 characters with a letter, a digit and a symbol.
    #[schema(example = "Secret#2026", required, nullable = false, min_length = 8, max_length = 64)]
    pub password: Option<String>,
    #[schema(example = "fan01@example.com", required, nullable = false)]
    pub email: Option<String>,
    /// Optional display name, 2–20 characters.
    pub nickname: Option<String>,
}

/// An account as its owner sees it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    pub id: i64,
    pub username: String,
    pub email: String,
    #[schema(required)]
    pub nickname: Option<String>,
    #[schema(value_type = super::docs::RoleSchema)]
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

impl From<UserRecord> for UserView {
    fn from(u: UserRecord) -> Self {
        Self {
            id: u.id,
            username: u.username,
            email: u.email,
            nickname: u.nickname,
            role: u.role,
            created_at: u.created_at,
        }
    }
}

/// Creates a fan account.
#[utoipa::path(post, path = "/users/signup", tag = "users", request_body = SignupRequest,
    responses(
        (status = 201, description = "account created", body = Data<UserView>),
        (status = 400, description = "invalid fields", body = ErrorBody),
        (status = 409, description = "username, email or nickname taken", body = ErrorBody),
        (status = 415, description = "not JSON", body = ErrorBody),
        (status = 429, description = "too many signups from this address (RATE_LIMITED; see Retry-After)", body = ErrorBody),
    ))]
async fn signup(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    ApiJson(body): ApiJson<SignupRequest>,
) -> Result<(StatusCode, Json<Data<UserView>>), ApiError> {
    let mut v = Validator::default();
    let username = v.require("username", body.username.as_deref(), Username::parse);
    let password = v.require("password", body.password.as_deref(), Password::parse);
    let email = v.require("email", body.email.as_deref(), Email::parse);
    let nickname = body.nickname.as_deref().and_then(|n| v.check("nickname", Nickname::parse(n)));
    let ((username, password), email) = v.finish_with(username.zip(password).zip(email))?;
    let user = state.accounts.signup(&address, Signup { username, password, email, nickname }).await?;
    Ok((StatusCode::CREATED, Json(Data::new(user.into()))))
}

/// Body of `POST /users/login` and `POST /admin/login`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    #[schema(example = "fan01", required, nullable = false)]
    pub username: Option<String>,
    #[schema(example = "Secret#2026", required, nullable = false)]
    pub password: Option<String>,
}

impl LoginRequest {
    /// The credentials, or 400 naming the missing ones.
    pub(super) fn credentials(&self) -> Result<(&str, &str), ApiError> {
        let mut v = Validator::default();
        let username = v.require("username", self.username.as_deref(), Ok);
        let password = v.require("password", self.password.as_deref(), Ok);
        Ok(v.finish_with(username.zip(password))?)
    }
}

/// A new access/refresh pair.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenResponse {
    pub access_token: String,
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

/// The pair as a body, with the access token also in the `Authorization` header.
pub(super) fn token_response(pair: TokenPair) -> Result<(HeaderMap, Json<Data<TokenResponse>>), ApiError> {
    let mut headers = HeaderMap::new();
    let value = HeaderValue::from_str(&format!("Bearer {}", pair.access_token))
        .map_err(|e| ApiError::Internal(e.into()))?;
    headers.insert(header::AUTHORIZATION, value);
    Ok((
        headers,
        Json(Data::new(TokenResponse {
            access_token: pair.access_token,
            refresh_token: pair.refresh_token,
            token_type: "Bearer",
            expires_in: pair.expires_in,
        })),
    ))
}

/// Logs in with username and password.
#[utoipa::path(post, path = "/users/login", tag = "users", request_body = LoginRequest,
    responses(
        (status = 200, description = "a new token pair; the access token is also in the Authorization header", body = Data<TokenResponse>,
            headers(("Authorization" = String, description = "`Bearer <access token>`"))),
        (status = 400, description = "missing fields", body = ErrorBody),
        (status = 401, description = "unknown user or wrong password (the same answer for both)", body = ErrorBody),
        (status = 429, description = "too many attempts for this account or from this address (RATE_LIMITED; see Retry-After)", body = ErrorBody),
    ))]
async fn login(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<(HeaderMap, Json<Data<TokenResponse>>), ApiError> {
    let (username, password) = body.credentials()?;
    token_response(state.accounts.login(&address, username, password, false).await?)
}

/// Body of `POST /users/token/refresh`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefreshRequest {
    #[schema(required, nullable = false)]
    pub refresh_token: Option<String>,
}

/// Trades a refresh token for a new pair. The old refresh token stops working; presenting
/// it again revokes every token of that login.
#[utoipa::path(post, path = "/users/token/refresh", tag = "users", request_body = RefreshRequest,
    responses(
        (status = 200, description = "a new token pair; the access token is also in the Authorization header", body = Data<TokenResponse>,
            headers(("Authorization" = String, description = "`Bearer <access token>`"))),
        (status = 400, description = "missing refreshToken", body = ErrorBody),
        (status = 401, description = "invalid, expired, revoked or reused refresh token", body = ErrorBody),
    ))]
async fn refresh(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> Result<(HeaderMap, Json<Data<TokenResponse>>), ApiError> {
    let mut v = Validator::default();
    let token = v.require("refreshToken", body.refresh_token.as_deref(), Ok);
    let token = v.finish_with(token)?;
    token_response(state.accounts.refresh(token).await?)
}

/// Logs out: revokes the presented access token and every refresh token of the user.
#[utoipa::path(post, path = "/users/logout", tag = "users", security(("bearer" = [])),
    responses(
        (status = 204, description = "logged out"),
        (status = 401, description = "no valid token", body = ErrorBody),
    ))]
async fn logout(State(state): State<AppState>, principal: Principal) -> Result<StatusCode, ApiError> {
    state.accounts.logout(&principal).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's account.
#[utoipa::path(get, path = "/users/my", tag = "users", security(("bearer" = [])),
    responses(
        (status = 200, description = "the account", body = Data<UserView>),
        (status = 401, description = "no valid token", body = ErrorBody),
    ))]
async fn get_my(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Data<UserView>>, ApiError> {
    Ok(Json(Data::new(state.accounts.me(&principal).await?.into())))
}

/// Body of `PUT /users/my`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ProfileRequest {
    #[schema(example = "fan01@example.com", required, nullable = false)]
    pub email: Option<String>,
    /// Absent or null removes the nickname.
    pub nickname: Option<String>,
}

/// Changes the caller's email and nickname.
#[utoipa::path(put, path = "/users/my", tag = "users", security(("bearer" = [])), request_body = ProfileRequest,
    responses(
        (status = 200, description = "the updated account", body = Data<UserView>),
        (status = 400, description = "invalid fields", body = ErrorBody),
        (status = 401, description = "no valid token", body = ErrorBody),
        (status = 409, description = "email or nickname taken", body = ErrorBody),
    ))]
async fn update_my(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<ProfileRequest>,
) -> Result<Json<Data<UserView>>, ApiError> {
    let mut v = Validator::default();
    let email = v.require("email", body.email.as_deref(), Email::parse);
    let nickname = body.nickname.as_deref().and_then(|n| v.check("nickname", Nickname::parse(n)));
    let email = v.finish_with(email)?;
    let user = state.accounts.update_profile(&principal, email, nickname).await?;
    Ok(Json(Data::new(user.into())))
}

/// Deletes the caller's account (soft delete); every token of it stops working and its
/// reservations of upcoming concerts are cancelled.
#[utoipa::path(delete, path = "/users/my", tag = "users", security(("bearer" = [])),
    responses(
        (status = 204, description = "account deleted"),
        (status = 401, description = "no valid token", body = ErrorBody),
    ))]
async fn delete_my(State(state): State<AppState>, principal: Principal) -> Result<StatusCode, ApiError> {
    state.accounts.delete_me(&principal).await?;
    Ok(StatusCode::NO_CONTENT)
}
