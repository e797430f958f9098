//! `/auditoriums` and `/admin/auditoriums`: venues and seat locks.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath};
use super::{AppState, Data};
use crate::auth::Principal;
use crate::domain::venue::{AuditoriumInput, AuditoriumSpec, Letter, SeatStatus};
use crate::domain::{Invalid, Validator};
use crate::store::AuditoriumRecord;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_auditorium, list_own_auditoriums))
        .routes(routes!(get_auditorium, update_auditorium, delete_auditorium))
        .routes(routes!(list_all_auditoriums))
        .routes(routes!(toggle_seat_lock))
}

/// Body of `POST /auditoriums` and `PUT /auditoriums/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditoriumRequest {
    #[schema(example = "Olympic Hall", required, nullable = false)]
    pub name: Option<String>,
    #[schema(example = "424 Olympic-ro, Seoul", required, nullable = false)]
    pub address: Option<String>,
    /// Last row: one capital letter; rows run from `A` to it.
    #[schema(example = "J", required, nullable = false, pattern = "^[A-Z]$")]
    pub max_row: Option<String>,
    /// Seats per row, 1–100.
    #[schema(example = 30, required, nullable = false, minimum = 1, maximum = 100)]
    pub max_column: Option<i64>,
}

impl AuditoriumRequest {
    fn parse(&self) -> Result<AuditoriumSpec, ApiError> {
        Ok(AuditoriumSpec::parse(AuditoriumInput {
            name: self.name.as_deref(),
            address: self.address.as_deref(),
            max_row: self.max_row.as_deref(),
            max_column: self.max_column,
        })?)
    }
}

/// A promoter as shown with their venues.
#[derive(Debug, Serialize, ToSchema)]
pub struct OwnerView {
    pub id: i64,
    pub username: String,
    #[schema(required)]
    pub nickname: Option<String>,
}

/// A venue.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditoriumView {
    pub id: i64,
    pub name: String,
    pub address: String,
    #[schema(value_type = String, example = "J")]
    pub max_row: Letter,
    pub max_column: u8,
    pub owner: OwnerView,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<AuditoriumRecord> for AuditoriumView {
    fn from(a: AuditoriumRecord) -> Self {
        Self {
            id: a.id,
            name: a.name,
            address: a.address,
            max_row: a.max_row,
            max_column: a.max_column,
            owner: OwnerView { id: a.owner_id, username: a.owner_username, nickname: a.owner_nickname },
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

/// Creates a venue owned by the caller.
#[utoipa::path(post, path = "/auditoriums", tag = "auditoriums", security(("bearer" = [])),
    request_body = AuditoriumRequest,
    responses(
        (status = 201, description = "venue created", body = Data<AuditoriumView>),
        (status = 400, description = "invalid fields", body = ErrorBody),
        (status = 401, description = "no valid token", body = ErrorBody),
        (status = 403, description = "not a promoter or administrator", body = ErrorBody),
    ))]
async fn create_auditorium(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<AuditoriumRequest>,
) -> Result<(StatusCode, Json<Data<AuditoriumView>>), ApiError> {
    let spec = body.parse()?;
    let view = AuditoriumView::from(state.catalog.create_auditorium(&principal, spec).await?);
    Ok((StatusCode::CREATED, Json(Data::new(view))))
}

/// The caller's own venues.
#[utoipa::path(get, path = "/auditoriums", tag = "auditoriums", security(("bearer" = [])),
    responses(
        (status = 200, description = "the caller's venues, oldest first", body = Data<Vec<AuditoriumView>>),
        (status = 401, description = "no valid token", body = ErrorBody),
        (status = 403, description = "not a promoter or administrator", body = ErrorBody),
    ))]
async fn list_own_auditoriums(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Data<Vec<AuditoriumView>>>, ApiError> {
    let list = state.catalog.auditoriums(&principal, false).await?;
    Ok(Json(Data::new(list.into_iter().map(Into::into).collect())))
}

/// One venue with its owner.
#[utoipa::path(get, path = "/auditoriums/{id}", tag = "auditoriums",
    params(("id" = i64, Path, description = "auditorium id")),
    responses(
        (status = 200, description = "the venue", body = Data<AuditoriumView>),
        (status = 404, description = "no such venue (or deleted)", body = ErrorBody),
    ))]
async fn get_auditorium(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Data<AuditoriumView>>, ApiError> {
    Ok(Json(Data::new(state.catalog.auditorium(id).await?.into())))
}

/// Changes a venue. It cannot shrink below the seats of its upcoming concerts.
#[utoipa::path(put, path = "/auditoriums/{id}", tag = "auditoriums", security(("bearer" = [])),
    params(("id" = i64, Path, description = "auditorium id")),
    request_body = AuditoriumRequest,
    responses(
        (status = 200, description = "the updated venue", body = Data<AuditoriumView>),
        (status = 400, description = "invalid fields", body = ErrorBody),
        (status = 401, description = "no valid token", body = ErrorBody),
        (status = 403, description = "not the owner or an administrator", body = ErrorBody),
        (status = 404, description = "no such venue", body = ErrorBody),
        (status = 409, description = "would shrink below seats of upcoming concerts (AUDITORIUM_IN_USE)", body = ErrorBody),
    ))]
async fn update_auditorium(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<AuditoriumRequest>,
) -> Result<Json<Data<AuditoriumView>>, ApiError> {
    let spec = body.parse()?;
    let record = state.catalog.update_auditorium(&principal, id, spec).await?;
    Ok(Json(Data::new(record.into())))
}

/// Deletes a venue (soft delete). Refused while it has upcoming concerts.
#[utoipa::path(delete, path = "/auditoriums/{id}", tag = "auditoriums", security(("bearer" = [])),
    params(("id" = i64, Path, description = "auditorium id")),
    responses(
        (status = 204, description = "deleted"),
        (status = 401, description = "no valid token", body = ErrorBody),
        (status = 403, description = "not the owner or an administrator", body = ErrorBody),
        (status = 404, description = "no such venue", body = ErrorBody),
        (status = 409, description = "the venue has upcoming concerts (AUDITORIUM_IN_USE)", body = ErrorBody),
    ))]
async fn delete_auditorium(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    state.catalog.delete_auditorium(&principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every venue of every promoter.
#[utoipa::path(get, path = "/admin/auditoriums", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, description = "every venue, oldest first", body = Data<Vec<AuditoriumView>>),
        (status = 401, description = "no valid token", body = ErrorBody),
        (status = 403, description = "not an administrator", body = ErrorBody),
    ))]
async fn list_all_auditoriums(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Data<Vec<AuditoriumView>>>, ApiError> {
    let list = state.catalog.auditoriums(&principal, true).await?;
    Ok(Json(Data::new(list.into_iter().map(Into::into).collect())))
}

/// A seat position of a venue.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SeatPositionRequest {
    #[schema(example = "B", required, nullable = false, pattern = "^[A-Z]$")]
    pub horizontal: Option<String>,
    #[schema(example = 1, required, nullable = false, minimum = 1, maximum = 100)]
    pub vertical: Option<i64>,
}

impl SeatPositionRequest {
    /// The requested seat, checked against the venue's rows and columns.
    fn position(&self, auditorium: &AuditoriumRecord) -> Result<(Letter, u8), Invalid> {
        let mut v = Validator::default();
        let horizontal = v.require("horizontal", self.horizontal.as_deref(), |raw| {
            Letter::parse(raw).and_then(|row| {
                if row > auditorium.max_row {
                    Err(format!("the venue's last row is {}", auditorium.max_row))
                } else {
                    Ok(row)
                }
            })
        });
        let vertical = v.check(
            "vertical",
            match self.vertical {
                Some(n) if n >= 1 && n <= i64::from(auditorium.max_column) => Ok(n as u8),
                Some(_) => Err(format!("must be 1 to {}", auditorium.max_column)),
                None => Err("is required".into()),
            },
        );
        v.finish_with(horizontal.zip(vertical))
    }
}

/// What a lock toggle did in one concert.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LockToggleView {
    pub concert_id: i64,
    pub concert_name: String,
    /// The seat's status afterwards: `AVAILABLE`, `LOCKED`, or `RESERVED` when left as it was.
    #[schema(value_type = super::docs::SeatStatusSchema)]
    pub status: SeatStatus,
    /// False for a reserved seat, which stays reserved.
    pub changed: bool,
}

/// Result of `PATCH /admin/auditoriums/{id}/seats`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LockResult {
    pub auditorium_id: i64,
    #[schema(value_type = String, example = "B")]
    pub horizontal: Letter,
    pub vertical: u8,
    /// One entry per upcoming concert of the venue.
    pub concerts: Vec<LockToggleView>,
}

/// Toggles the lock of one seat position in every upcoming concert of a venue
/// (available ↔ locked); a reserved seat stays reserved and is reported.
#[utoipa::path(patch, path = "/admin/auditoriums/{id}/seats", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path, description = "auditorium id")),
    request_body = SeatPositionRequest,
    responses(
        (status = 200, description = "what changed in each upcoming concert", body = Data<LockResult>),
        (status = 400, description = "invalid or out-of-range seat position", body = ErrorBody),
        (status = 401, description = "no valid token", body = ErrorBody),
        (status = 403, description = "not an administrator", body = ErrorBody),
        (status = 404, description = "no such venue", body = ErrorBody),
    ))]
async fn toggle_seat_lock(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<SeatPositionRequest>,
) -> Result<Json<Data<LockResult>>, ApiError> {
    let position = |auditorium: &AuditoriumRecord| body.position(auditorium);
    let (horizontal, vertical, toggles) = state.catalog.toggle_seat_lock(&principal, id, position).await?;
    let result = LockResult {
        auditorium_id: id,
        horizontal,
        vertical,
        concerts: toggles
            .into_iter()
            .map(|t| LockToggleView {
                concert_id: t.concert_id,
                concert_name: t.concert_name,
                status: t.status,
                changed: t.changed,
            })
            .collect(),
    };
    Ok(Json(Data::new(result)))
}
