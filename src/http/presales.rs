//! Presales of a concert: `POST|GET /concerts/{id}/presales`,
//! `DELETE /concerts/{id}/presales/{presaleId}`. Fans use the codes when booking
//! (`accessCode` in the booking's body, `reservations.rs`).

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
use crate::domain::presale::PresaleInput;
use crate::store::PresaleRecord;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_presale, presales)).routes(routes!(delete_presale))
}

/// Body of `POST /concerts/{id}/presales`: a window before the general sale and its
/// access codes, given (`codes`) or generated (`count`), never both.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PresaleRequest {
    /// What it is, for the promoter (e.g. "Fan club"): 1–100 characters.
    #[schema(example = "Fan club", required, nullable = false)]
    pub name: Option<String>,
    /// When fans with a code may start booking, RFC 3339.
    #[schema(value_type = String, format = DateTime, example = "2027-03-30T10:00:00Z", required)]
    pub opens_at: Option<String>,
    /// When the presale ends, RFC 3339: after `opensAt`, in the future, and not after the
    /// concert's `salesOpenAt` (a concert on sale from its creation has no presale).
    #[schema(value_type = String, format = DateTime, example = "2027-04-01T10:00:00Z", required)]
    pub closes_at: Option<String>,
    /// The codes to hand out (1–1000, each 4–32 letters, digits or `-`; stored upper case,
    /// matched regardless of case, unique in the concert) — or `count`.
    #[schema(example = json!(["FANCLUB-2027"]), nullable = false, max_items = 1000)]
    pub codes: Option<Vec<String>>,
    /// How many codes to generate (1–1000; ten readable characters each) — or `codes`.
    #[schema(example = 100, nullable = false, minimum = 1, maximum = 1000)]
    pub count: Option<i64>,
    /// How many bookings each code may make (1–10,000): a booking of several seats is one.
    #[schema(example = 1, required, nullable = false, minimum = 1, maximum = 10000)]
    pub max_uses_per_code: Option<i64>,
}

/// An access code and the bookings made with it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CodeView {
    #[schema(example = "K7PXM4QW2D")]
    pub code: String,
    pub uses: i64,
}

/// A presale with its codes.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PresaleView {
    pub id: i64,
    pub concert_id: i64,
    pub name: String,
    pub opens_at: DateTime<Utc>,
    pub closes_at: DateTime<Utc>,
    pub max_uses_per_code: i64,
    pub created_at: DateTime<Utc>,
    /// Bookings made with its codes, in all.
    pub uses: i64,
    pub codes: Vec<CodeView>,
}

impl From<PresaleRecord> for PresaleView {
    fn from(p: PresaleRecord) -> Self {
        Self {
            uses: p.uses(),
            id: p.id,
            concert_id: p.concert_id,
            name: p.name,
            opens_at: p.opens_at,
            closes_at: p.closes_at,
            max_uses_per_code: p.max_uses_per_code,
            created_at: p.created_at,
            codes: p.codes.into_iter().map(|c| CodeView { code: c.code.to_string(), uses: c.uses }).collect(),
        }
    }
}

/// Opens a presale: before the concert's general sale (`salesOpenAt`), fans holding one
/// of its codes book in its window, each code up to `maxUsesPerCode` bookings.
#[utoipa::path(post, path = "/concerts/{id}/presales", tag = "presales", security(("bearer" = [])),
    params(("id" = i64, Path, description = "concert id")),
    request_body = PresaleRequest,
    responses(
        (status = 201, description = "the presale with its codes", body = Data<PresaleView>),
        (status = 400, description = "a missing or bad field: an empty name, a window that is backwards, past, or ends after salesOpenAt, maxUsesPerCode out of range, a bad or repeated code, both codes and count or neither", body = ErrorBody),
        (status = 401, description = "no valid token", body = ErrorBody),
        (status = 403, description = "not the concert's promoter or an administrator", body = ErrorBody),
        (status = 404, description = "no such concert", body = ErrorBody),
        (status = 409, description = "CONCERT_STARTED, ACCESS_CODE_TAKEN (the concert has the code in another presale), PRESALE_AFTER_SALES_OPEN (salesOpenAt moved meanwhile)", body = ErrorBody),
    ))]
async fn create_presale(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<PresaleRequest>,
) -> Result<(StatusCode, Json<Data<PresaleView>>), ApiError> {
    let input = PresaleInput {
        name: body.name.as_deref(),
        opens_at: body.opens_at.as_deref(),
        closes_at: body.closes_at.as_deref(),
        codes: body.codes.as_ref().map(|codes| codes.iter().map(String::as_str).collect()),
        count: body.count,
        max_uses_per_code: body.max_uses_per_code,
    };
    let record = state.presales.create(&principal, id, input).await?;
    Ok((StatusCode::CREATED, Json(Data::new(record.into()))))
}

/// The concert's presales, oldest first, each with its codes and how often they were used.
#[utoipa::path(get, path = "/concerts/{id}/presales", tag = "presales", security(("bearer" = [])),
    params(("id" = i64, Path, description = "concert id")),
    responses(
        (status = 200, description = "the presales", body = Data<Vec<PresaleView>>),
        (status = 401, description = "no valid token", body = ErrorBody),
        (status = 403, description = "not the concert's promoter or an administrator", body = ErrorBody),
        (status = 404, description = "no such concert", body = ErrorBody),
    ))]
async fn presales(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Data<Vec<PresaleView>>>, ApiError> {
    let list = state.presales.list(&principal, id).await?;
    Ok(Json(Data::new(list.into_iter().map(Into::into).collect())))
}

/// Deletes a presale none of whose codes was used, to correct a mistake.
#[utoipa::path(delete, path = "/concerts/{id}/presales/{presaleId}", tag = "presales", security(("bearer" = [])),
    params(("id" = i64, Path, description = "concert id"), ("presaleId" = i64, Path, description = "presale id")),
    responses(
        (status = 204, description = "deleted, with its codes"),
        (status = 400, description = "an id is not a number", body = ErrorBody),
        (status = 401, description = "no valid token", body = ErrorBody),
        (status = 403, description = "not the concert's promoter or an administrator", body = ErrorBody),
        (status = 404, description = "no such concert, or no such presale of it", body = ErrorBody),
        (status = 409, description = "PRESALE_USED: a booking used one of its codes; it is kept", body = ErrorBody),
    ))]
async fn delete_presale(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((id, presale_id)): ApiPath<(i64, i64)>,
) -> Result<StatusCode, ApiError> {
    state.presales.delete(&principal, id, presale_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
