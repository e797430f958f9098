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
use crate::domain::booking::SeatRef;
use crate::domain::sections::{MAX_ROW_SEATS, RowLabel, Section, SectionInput, SectionKind, SectionName};
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

/// Body of `POST /auditoriums` and `PUT /auditoriums/{id}`: the seed's block of rows
/// (`maxRow`, `maxColumn`), or `sections`. Never both.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditoriumRequest {
    #[schema(example = "Olympic Hall", required, nullable = false)]
    pub name: Option<String>,
    #[schema(example = "424 Olympic-ro, Seoul", required, nullable = false)]
    pub address: Option<String>,
    /// Last row: one capital letter; rows run from `A` to it. With `maxColumn`, instead of
    /// `sections`.
    #[schema(example = "J", pattern = "^[A-Z]$")]
    pub max_row: Option<String>,
    /// Seats per row, 1–100.
    #[schema(example = 30, minimum = 1, maximum = 100)]
    pub max_column: Option<i64>,
    /// The venue's sections, in order: at most 200, and 100,000 places in all.
    #[schema(min_items = 1, max_items = 200)]
    pub sections: Option<Vec<SectionRequest>>,
}

/// A section of a venue: seated (`rows`) or standing (`capacity`).
#[derive(Debug, Deserialize, ToSchema)]
pub struct SectionRequest {
    /// Unique in the venue, 1–40 bytes of UTF-8.
    #[schema(example = "101", required, nullable = false)]
    pub name: Option<String>,
    /// `SEATED` or `STANDING`.
    #[schema(example = "SEATED", required, nullable = false, pattern = "^(SEATED|STANDING)$")]
    pub kind: Option<String>,
    /// A seated section's rows, in order.
    pub rows: Option<Vec<RowRequest>>,
    /// A standing section's places, 1–100,000.
    #[schema(example = 5000, minimum = 1, maximum = 100000)]
    pub capacity: Option<i64>,
}

/// A row of a seated section.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RowRequest {
    /// 1–4 capital letters or digits, unique in the section.
    #[schema(example = "AA", required, nullable = false, pattern = "^[A-Z0-9]{1,4}$")]
    pub label: Option<String>,
    /// Seats of the row, numbered from 1: 1–200.
    #[schema(example = 24, required, nullable = false, minimum = 1, maximum = 200)]
    pub seats: Option<i64>,
}

impl AuditoriumRequest {
    fn parse(&self) -> Result<AuditoriumSpec, ApiError> {
        let sections = self.sections.as_ref().map(|list| {
            list.iter()
                .map(|s| SectionInput {
                    name: s.name.as_deref(),
                    kind: s.kind.as_deref(),
                    rows: s
                        .rows
                        .as_ref()
                        .map(|rows| rows.iter().map(|r| (r.label.as_deref(), r.seats)).collect()),
                    capacity: s.capacity,
                })
                .collect()
        });
        Ok(AuditoriumSpec::parse(AuditoriumInput {
            name: self.name.as_deref(),
            address: self.address.as_deref(),
            max_row: self.max_row.as_deref(),
            max_column: self.max_column,
            sections,
        })?)
    }
}

/// A section of a venue as shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct SectionView {
    /// `""` for the one section of a venue described by `maxRow`/`maxColumn`.
    #[schema(value_type = String)]
    pub name: SectionName,
    /// `SEATED` or `STANDING`.
    pub kind: &'static str,
    /// A seated section's rows.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub rows: Option<Vec<RowView>>,
    /// A standing section's places.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub capacity: Option<u32>,
}

/// A row of a seated section as shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct RowView {
    #[schema(value_type = String, example = "AA")]
    pub label: RowLabel,
    pub seats: u32,
}

impl From<&Section> for SectionView {
    fn from(s: &Section) -> Self {
        match &s.kind {
            SectionKind::Seated(rows) => Self {
                name: s.name,
                kind: s.kind.name(),
                rows: Some(
                    rows.iter().map(|(label, seats)| RowView { label: *label, seats: *seats }).collect(),
                ),
                capacity: None,
            },
            SectionKind::Standing(capacity) => {
                Self { name: s.name, kind: s.kind.name(), rows: None, capacity: Some(*capacity) }
            }
        }
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
    /// The seed's description (`null` for a venue of sections).
    #[schema(value_type = Option<String>, example = "J", required)]
    pub max_row: Option<Letter>,
    #[schema(required)]
    pub max_column: Option<u8>,
    /// The venue's sections, in order (a venue described by `maxRow`/`maxColumn` is one
    /// seated section named `""`).
    pub sections: Vec<SectionView>,
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
            sections: a.layout.sections.iter().map(SectionView::from).collect(),
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
    /// The seat's section; required when the venue has more than one.
    #[schema(example = "101")]
    pub section: Option<String>,
    #[schema(example = "B", required, nullable = false, pattern = "^[A-Z0-9]{1,4}$")]
    pub horizontal: Option<String>,
    #[schema(example = 1, required, nullable = false, minimum = 1, maximum = 200)]
    pub vertical: Option<i64>,
}

impl SeatPositionRequest {
    /// The requested seat, checked against the venue's sections, rows and seats.
    fn position(&self, auditorium: &AuditoriumRecord) -> Result<SeatRef, Invalid> {
        let mut v = Validator::default();
        let layout = &auditorium.layout;
        let section = match self.section.as_deref().map(str::trim) {
            None | Some("") => v.check(
                "section",
                layout
                    .only_section()
                    .ok_or_else(|| format!("is required: the venue has {} sections", layout.sections.len())),
            ),
            Some(raw) => v.check("section", SectionName::parse(raw)),
        };
        let section = section.and_then(|name| match layout.section(name) {
            Some(found @ Section { kind: SectionKind::Seated(_), .. }) => Some(found),
            _ => {
                v.reject("section", format!("the venue has no seated section {name:?}"));
                None
            }
        });
        let horizontal = v.require("horizontal", self.horizontal.as_deref(), |raw| {
            let row = RowLabel::parse(raw)?;
            match (section, auditorium.max_row) {
                (Some(s), _) if s.row_seats(row).is_some() => Ok(row),
                (Some(_), Some(last)) => Err(format!("the venue's last row is {last}")),
                (Some(s), None) => Err(format!("section {} has no row {row}", s.name)),
                (None, _) => Ok(row),
            }
        });
        let seats = section.zip(horizontal).and_then(|(s, row)| s.row_seats(row)).unwrap_or(MAX_ROW_SEATS);
        let vertical = v.check(
            "vertical",
            match self.vertical {
                Some(n) if n >= 1 && n <= i64::from(seats) => Ok(n as u32),
                Some(_) => Err(format!("must be 1 to {seats}")),
                None => Err("is required".into()),
            },
        );
        let ((section, horizontal), vertical) = v.finish_with(section.zip(horizontal).zip(vertical))?;
        Ok(SeatRef { section: section.name, horizontal, vertical })
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
    /// Absent in a venue described by `maxRow`/`maxColumn`.
    #[serde(skip_serializing_if = "SectionName::is_seed")]
    #[schema(value_type = String, example = "101", required = false)]
    pub section: SectionName,
    #[schema(value_type = String, example = "B")]
    pub horizontal: RowLabel,
    pub vertical: u32,
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
    let (seat, toggles) = state.catalog.toggle_seat_lock(&principal, id, position).await?;
    let result = LockResult {
        auditorium_id: id,
        section: seat.section,
        horizontal: seat.horizontal,
        vertical: seat.vertical,
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
