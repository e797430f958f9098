//! The one error type of the HTTP layer. Its variants are the HTTP outcomes; every error
//! answers with the envelope `{message, code, errors}`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::AuthError;
use crate::domain::{FieldError, Invalid};
use crate::service::ServiceError;
use crate::store::StoreError;
use crate::throttle::{Throttled, retry_after_secs};

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong, for people.
    #[schema(example = "seat A-1 is already taken")]
    pub message: String,
    /// What went wrong, for programs: a stable upper-case code.
    #[schema(example = "SEAT_TAKEN")]
    pub code: String,
    /// Per-field problems of invalid input; empty otherwise.
    #[schema(value_type = Vec<super::docs::FieldErrorSchema>)]
    pub errors: Vec<FieldError>,
}

/// An HTTP outcome other than success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: fields that break the rules.
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    /// 400 with a code saying what was refused (e.g. `INVALID_CODE`).
    #[error("{message}")]
    Refused { code: &'static str, message: String },
    /// 400: a body that is not JSON at all.
    #[error("{0}")]
    MalformedBody(String),
    /// 401, with a code saying why.
    #[error("{message}")]
    Unauthorized { code: &'static str, message: &'static str },
    /// 403.
    #[error("{0}")]
    Forbidden(&'static str),
    /// 403 with a code saying what the caller lacks (e.g. `ACCESS_CODE_INVALID`).
    #[error("{message}")]
    Denied { code: &'static str, message: String },
    /// 404 for a thing, or for an unknown route.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// 404 with a specific code and the fields that named missing things.
    #[error("{message}")]
    NotFoundDetail { code: &'static str, message: String, errors: Vec<FieldError> },
    /// 405.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 409 with a code saying what clashed.
    #[error("{message}")]
    Conflict { code: &'static str, message: String, errors: Vec<FieldError> },
    /// 413.
    #[error("request body too large")]
    PayloadTooLarge,
    /// 415.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 429: a rate limit; `Retry-After` says when to come back.
    #[error("{message}")]
    TooManyRequests { message: String, retry_after_secs: u64 },
    /// 503: the service itself is at capacity (load shedding, timeouts); worth retrying.
    #[error("{0}")]
    Overloaded(&'static str),
    /// 503: a backend is down or overloaded; worth retrying.
    #[error("service temporarily unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// 500: a bug or an unexpected failure. The cause is logged, never sent.
    #[error("internal error")]
    Internal(anyhow::Error),
}

impl ApiError {
    /// 409 with a message and no field errors.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Conflict { code, message: message.into(), errors: Vec::new() }
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Invalid(_) => (StatusCode::BAD_REQUEST, "VALIDATION_FAILED"),
            ApiError::Refused { code, .. } => (StatusCode::BAD_REQUEST, code),
            ApiError::MalformedBody(_) => (StatusCode::BAD_REQUEST, "MALFORMED_BODY"),
            ApiError::Unauthorized { code, .. } => (StatusCode::UNAUTHORIZED, code),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "FORBIDDEN"),
            ApiError::Denied { code, .. } => (StatusCode::FORBIDDEN, code),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "NOT_FOUND"),
            ApiError::NotFoundDetail { code, .. } => (StatusCode::NOT_FOUND, code),
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED"),
            ApiError::Conflict { code, .. } => (StatusCode::CONFLICT, code),
            ApiError::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE"),
            ApiError::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE")
            }
            ApiError::TooManyRequests { .. } => (StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED"),
            ApiError::Overloaded(_) => (StatusCode::SERVICE_UNAVAILABLE, "OVERLOADED"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            ApiError::Internal(cause) => tracing::error!(error = format!("{cause:#}"), "request failed"),
            ApiError::Unavailable(cause) => {
                tracing::warn!(error = format!("{cause:#}"), "backend unavailable")
            }
            _ => {}
        }
        let (status, code) = self.status_and_code();
        let retry_after = match &self {
            ApiError::TooManyRequests { retry_after_secs, .. } => Some(HeaderValue::from(*retry_after_secs)),
            _ if status == StatusCode::SERVICE_UNAVAILABLE => Some(HeaderValue::from_static("1")),
            _ => None,
        };
        let message = match &self {
            ApiError::Invalid(errors) => {
                let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
                format!("invalid input: {}", fields.join(", "))
            }
            other => other.to_string(),
        };
        let errors = match self {
            ApiError::Invalid(errors)
            | ApiError::Conflict { errors, .. }
            | ApiError::NotFoundDetail { errors, .. } => errors,
            _ => Vec::new(),
        };
        let mut response =
            (status, Json(ErrorBody { message, code: code.to_owned(), errors })).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(retry_after) = retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, retry_after);
        }
        response
    }
}

impl From<anyhow::Error> for ApiError {
    /// A shared backend that did not answer (Redis) is worth retrying: 503, not 500.
    fn from(e: anyhow::Error) -> Self {
        if crate::shared_state::is_unavailable(&e) { ApiError::Unavailable(e) } else { ApiError::Internal(e) }
    }
}

impl From<Invalid> for ApiError {
    fn from(invalid: Invalid) -> Self {
        ApiError::Invalid(invalid.0)
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Duplicate(field) => ApiError::Conflict {
                code: match field {
                    "username" => "USERNAME_TAKEN",
                    "email" => "EMAIL_TAKEN",
                    "nickname" => "NICKNAME_TAKEN",
                    _ => "DUPLICATE",
                },
                message: format!("{field} is already taken"),
                errors: vec![FieldError { field: field.into(), message: "is already taken".into() }],
            },
            StoreError::NotFound => ApiError::NotFound("resource"),
            StoreError::Conflict { code, message } => ApiError::conflict(code, message),
            StoreError::Unavailable(e) => ApiError::Unavailable(e.into()),
            StoreError::Other(e) => ApiError::Internal(e),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        match err {
            AuthError::InvalidCredentials => ApiError::Unauthorized {
                code: "INVALID_CREDENTIALS",
                message: "invalid username or password",
            },
            AuthError::TokenExpired => {
                ApiError::Unauthorized { code: "TOKEN_EXPIRED", message: "token expired" }
            }
            AuthError::TokenInvalid => {
                ApiError::Unauthorized { code: "TOKEN_INVALID", message: "token invalid or revoked" }
            }
            AuthError::TokenReused => ApiError::Unauthorized {
                code: "TOKEN_REUSED",
                message: "refresh token was already used; every session of that login was revoked",
            },
            AuthError::Store(e) => e.into(),
            AuthError::Other(e) => e.into(),
        }
    }
}

impl From<Throttled> for ApiError {
    fn from(err: Throttled) -> Self {
        match err {
            Throttled::Limited { retry_after, .. } => ApiError::TooManyRequests {
                message: err.to_string(),
                retry_after_secs: retry_after_secs(retry_after),
            },
            // A limiter that cannot count (a shared one unreachable) refuses rather than
            // lets brute force through unchecked.
            Throttled::Other(e) => ApiError::Unavailable(e),
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(err: ServiceError) -> Self {
        match err {
            ServiceError::Invalid(invalid) => invalid.into(),
            ServiceError::Forbidden(message) => ApiError::Forbidden(message),
            ServiceError::Denied { code, message } => ApiError::Denied { code, message: message.to_owned() },
            ServiceError::NotFound(what) => ApiError::NotFound(what),
            ServiceError::Conflict { code, message } => ApiError::conflict(code, message),
            ServiceError::Booking(e) => e.into(),
            ServiceError::Auth(e) => e.into(),
            ServiceError::Throttled(e) => e.into(),
            ServiceError::Store(e) => e.into(),
            ServiceError::Other(e) => e.into(),
        }
    }
}

/// Answers unknown routes with the envelope.
pub async fn not_found() -> ApiError {
    ApiError::NotFound("route")
}

/// Answers a known route called with the wrong method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
