//! `/concerts`: the catalog, concert management and seat maps.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath};
use super::{AppState, Data};
use crate::auth::Principal;
use crate::cache::{Derived, EncodedSeatMap, MapLayout};
use crate::domain::sections::{Layout, RowLabel, SectionName};
use crate::domain::venue::{
    ConcertInput, ConcertSpec, Letter, Price, RowsInput, SeatStatus, WaitingRoomInput, row_statuses,
};
use crate::domain::{FieldError, Invalid};
use crate::posters;
use crate::store::{ConcertRecord, SeatMapRecord, SeatRow};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_concert, list_concerts))
        .routes(routes!(get_concert, update_concert, delete_concert))
        .routes(routes!(seat_map))
        .routes(routes!(availability))
        .routes(routes!(reservation_map))
}

/// One grade's price in a concert request.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PriceRequest {
    /// One capital letter.
    #[schema(example = "R", required, nullable = false, pattern = "^[A-Z]$")]
    pub grade: Option<String>,
    /// A non-negative amount with at most two decimals.
    #[schema(example = 150000, required, nullable = false, minimum = 0, maximum = 1000000000)]
    pub price: Option<f64>,
}

/// Rows put on sale at one grade.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RowsRequest {
    /// The rows' section; required when the venue has more than one.
    #[schema(example = "101")]
    pub section: Option<String>,
    /// Row labels, each a row of the section.
    #[schema(example = json!(["A", "B"]), required, nullable = false, min_items = 1)]
    pub horizontals: Option<Vec<String>>,
    /// A grade that `seatPrices` prices.
    #[schema(example = "R", required, nullable = false, pattern = "^[A-Z]$")]
    pub grade: Option<String>,
}

/// Body of `POST /concerts` and `PUT /concerts/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConcertRequest {
    #[schema(example = "Spring Live 2027", required, nullable = false)]
    pub name: Option<String>,
    /// Absent or null: none.
    pub description: Option<String>,
    /// RFC 3339; must be in the future.
    #[schema(value_type = String, format = DateTime, example = "2027-05-01T19:00:00Z", required)]
    pub start_time: Option<String>,
    #[schema(example = 1, required, nullable = false)]
    pub auditorium_id: Option<i64>,
    /// When sales open, RFC 3339 (absent or null: at once); before `salesCloseAt`.
    #[schema(value_type = Option<String>, format = DateTime, example = "2027-04-01T10:00:00Z")]
    pub sales_open_at: Option<String>,
    /// When sales close, RFC 3339 (absent or null: at `startTime`); not after it.
    #[schema(value_type = Option<String>, format = DateTime, example = "2027-05-01T18:00:00Z")]
    pub sales_close_at: Option<String>,
    /// Most active seats one fan may hold for this concert (absent or null: 4).
    #[schema(minimum = 1, maximum = 100)]
    pub max_seats_per_fan: Option<i64>,
    /// `DIRECT` (absent or null: a booking is confirmed at once, no money moves) or
    /// `PAYMENT` (a booking holds its seats until paid; needs a payment provider).
    #[schema(example = "DIRECT", pattern = "^(DIRECT|PAYMENT)$")]
    pub checkout: Option<String>,
    /// How long a `PAYMENT` booking holds its seats, in minutes (absent or null: 10).
    #[schema(minimum = 1, maximum = 60)]
    pub hold_minutes: Option<i64>,
    /// ISO 4217 code of the prices (absent or null: the service's default currency).
    #[schema(example = "KRW", pattern = "^[A-Z]{3}$")]
    pub currency: Option<String>,
    /// A waiting room in front of the sale (absent or null: none): fans join from its
    /// `opensAt`, are put in a random order when sales open, and book with a pass.
    pub waiting_room: Option<WaitingRoomRequest>,
    /// The price of every grade `seatList` uses.
    #[schema(required, nullable = false, min_items = 1)]
    pub seat_prices: Option<Vec<PriceRequest>>,
    /// The rows on sale, by grade: every seat of each row goes on sale. Required unless
    /// `standing` puts something on sale.
    pub seat_list: Option<Vec<RowsRequest>>,
    /// The standing sections on sale, each at one grade: all of its places.
    pub standing: Option<Vec<StandingRequest>>,
}

/// A concert's waiting room, as sent.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WaitingRoomRequest {
    /// When fans may start to join, RFC 3339; before `salesOpenAt` (which is required).
    #[schema(value_type = String, format = DateTime, example = "2027-04-01T09:30:00Z", required, nullable = false)]
    pub opens_at: Option<String>,
    /// How many waiting fans are let in a minute once sales open.
    #[schema(minimum = 1, maximum = 1_000_000, example = 600, required, nullable = false)]
    pub admit_per_minute: Option<i64>,
    /// How long an admitted fan's pass is valid, in minutes.
    #[schema(minimum = 1, maximum = 240, example = 15, required, nullable = false)]
    pub pass_minutes: Option<i64>,
}

/// A concert's waiting room.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WaitingRoomView {
    pub opens_at: DateTime<Utc>,
    pub admit_per_minute: i64,
    pub pass_minutes: i64,
}

/// A standing section put on sale at one grade.
#[derive(Debug, Deserialize, ToSchema)]
pub struct StandingRequest {
    #[schema(example = "Floor", required, nullable = false)]
    pub section: Option<String>,
    /// A grade that `seatPrices` prices.
    #[schema(example = "S", required, nullable = false, pattern = "^[A-Z]$")]
    pub grade: Option<String>,
}

impl ConcertRequest {
    fn parse(&self, venue: Option<&Layout>) -> Result<ConcertSpec, Invalid> {
        let input = ConcertInput {
            name: self.name.as_deref(),
            description: self.description.as_deref(),
            start_time: self.start_time.as_deref(),
            sales_open_at: self.sales_open_at.as_deref(),
            sales_close_at: self.sales_close_at.as_deref(),
            checkout: self.checkout.as_deref(),
            hold_minutes: self.hold_minutes,
            currency: self.currency.as_deref(),
            waiting_room: self.waiting_room.as_ref().map(|room| WaitingRoomInput {
                opens_at: room.opens_at.as_deref(),
                admit_per_minute: room.admit_per_minute,
                pass_minutes: room.pass_minutes,
            }),
            auditorium_id: self.auditorium_id,
            max_seats_per_fan: self.max_seats_per_fan,
            prices: self
                .seat_prices
                .as_ref()
                .map(|list| list.iter().map(|p| (p.grade.as_deref(), p.price)).collect()),
            seat_list: self.seat_list.as_ref().map(|list| {
                list.iter()
                    .map(|r| RowsInput {
                        section: r.section.as_deref(),
                        horizontals: r.horizontals.as_ref().map(|h| h.iter().map(String::as_str).collect()),
                        grade: r.grade.as_deref(),
                    })
                    .collect()
            }),
            standing: self
                .standing
                .as_ref()
                .map(|list| list.iter().map(|s| (s.section.as_deref(), s.grade.as_deref())).collect()),
        };
        ConcertSpec::parse(input, Utc::now(), venue)
    }
}

/// A grade and its price.
#[derive(Debug, Serialize, ToSchema)]
pub struct SeatPriceView {
    #[schema(value_type = String, example = "R")]
    pub grade: Letter,
    #[schema(value_type = f64, example = 150000)]
    pub price: Price,
}

/// A concert with its venue and prices.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConcertDetail {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub start_time: DateTime<Utc>,
    pub company_user_id: i64,
    pub auditorium_id: i64,
    pub auditorium_name: String,
    pub auditorium_address: String,
    /// The venue's seed description; `null` for a venue of sections.
    #[schema(value_type = Option<String>, example = "J", required)]
    pub auditorium_max_row: Option<Letter>,
    #[schema(required)]
    pub auditorium_max_column: Option<u8>,
    /// Where the poster is served; null without one.
    #[schema(required)]
    pub image_path: Option<String>,
    pub max_seats_per_fan: i64,
    pub seat_prices: Vec<SeatPriceView>,
    /// When sales open (the concert's creation, unless it set a time).
    pub sales_open_at: DateTime<Utc>,
    /// When sales close (its start, unless it set an earlier time).
    pub sales_close_at: DateTime<Utc>,
    /// `DIRECT`: a booking is confirmed at once; `PAYMENT`: held for `holdMinutes` until paid.
    #[schema(example = "DIRECT")]
    pub checkout: &'static str,
    pub hold_minutes: i64,
    /// ISO 4217 code of the prices.
    #[schema(example = "KRW")]
    pub currency: String,
    /// The waiting room in front of the sale; null without one.
    #[schema(required)]
    pub waiting_room: Option<WaitingRoomView>,
}

impl From<ConcertRecord> for ConcertDetail {
    fn from(c: ConcertRecord) -> Self {
        Self {
            id: c.id,
            name: c.name,
            description: c.description,
            start_time: c.start_time,
            company_user_id: c.owner_id,
            auditorium_id: c.auditorium.id,
            auditorium_name: c.auditorium.name,
            auditorium_address: c.auditorium.address,
            auditorium_max_row: c.auditorium.max_row,
            auditorium_max_column: c.auditorium.max_column,
            image_path: c.poster_key.as_deref().map(posters::public_path),
            max_seats_per_fan: c.max_seats_per_fan,
            seat_prices: c.prices.into_iter().map(|(grade, price)| SeatPriceView { grade, price }).collect(),
            sales_open_at: c.sales_open_at.unwrap_or(c.created_at),
            sales_close_at: c.sales_close_at.unwrap_or(c.start_time),
            checkout: c.checkout.as_str(),
            hold_minutes: c.hold_minutes,
            currency: c.currency,
            waiting_room: c.waiting_room.map(|r| WaitingRoomView {
                opens_at: r.opens_at,
                admit_per_minute: r.admit_per_minute,
                pass_minutes: r.pass_minutes,
            }),
        }
    }
}

/// JSON bytes as a response.
fn json_bytes(status: StatusCode, body: Bytes) -> Response {
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response()
}

fn encode<T: Serialize>(value: &T) -> anyhow::Result<Bytes> {
    Ok(Bytes::from(serde_json::to_vec(value)?))
}

/// Puts a concert on sale: one seat per listed row × column, all in one transaction.
#[utoipa::path(post, path = "/concerts", tag = "concerts", security(("bearer" = [])),
    request_body = ConcertRequest,
    responses(
        (status = 201, description = "concert created", body = Data<ConcertDetail>),
        (status = 400, description = "invalid fields (rows beyond the venue, duplicate rows, unpriced grades, past start, …)", body = ErrorBody),
        (status = 401, description = "no valid token", body = ErrorBody),
        (status = 403, description = "not the venue's owner or an administrator", body = ErrorBody),
        (status = 404, description = "no such venue", body = ErrorBody),
    ))]
async fn create_concert(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<ConcertRequest>,
) -> Result<(StatusCode, Json<Data<ConcertDetail>>), ApiError> {
    let parse = |venue: Option<&Layout>| body.parse(venue);
    let detail =
        ConcertDetail::from(state.catalog.create_concert(&principal, body.auditorium_id, parse).await?);
    Ok((StatusCode::CREATED, Json(Data::new(detail))))
}

/// Paging of `GET /concerts`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1-based page number (default 1).
    #[param(minimum = 1)]
    pub page: Option<i64>,
    /// Entries per page, 1–100 (default 10).
    #[param(minimum = 1, maximum = 100)]
    pub size: Option<i64>,
}

/// One line of the concert list.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConcertListItem {
    pub id: i64,
    pub name: String,
    /// Where the poster is served; null without one.
    #[schema(required)]
    pub image_path: Option<String>,
    pub start_time: DateTime<Utc>,
    /// The promoter's nickname (or username).
    pub writer: String,
    pub auditorium_name: String,
    /// When sales open (the concert's creation, unless it set a time) and close (its
    /// start, unless it set an earlier time).
    pub sales_open_at: DateTime<Utc>,
    pub sales_close_at: DateTime<Utc>,
}

/// A page of concerts.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConcertPage {
    pub content: Vec<ConcertListItem>,
    pub page: i64,
    pub size: i64,
    pub total_elements: i64,
    pub total_pages: i64,
}

/// `page` (1-based, default 1) and `size` (1–100, default 10) of a paged list, or 400.
pub(super) fn page_and_size(uri: &Uri) -> Result<(i64, i64), ApiError> {
    let query = Query::<PageQuery>::try_from_uri(uri)
        .map_err(|e| ApiError::Invalid(vec![FieldError { field: "query".into(), message: e.body_text() }]))?;
    let page = query.page.unwrap_or(1);
    let size = query.size.unwrap_or(10);
    let mut errors = Vec::new();
    if page < 1 {
        errors.push(FieldError { field: "page".into(), message: "must be 1 or more".into() });
    }
    if !(1..=100).contains(&size) {
        errors.push(FieldError { field: "size".into(), message: "must be 1 to 100".into() });
    }
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    Ok((page, size))
}

/// Concerts, newest first.
#[utoipa::path(get, path = "/concerts", tag = "concerts", params(PageQuery),
    responses(
        (status = 200, description = "one page of concerts", body = Data<ConcertPage>),
        (status = 400, description = "page < 1 or size outside 1–100", body = ErrorBody),
    ))]
async fn list_concerts(State(state): State<AppState>, uri: Uri) -> Result<Response, ApiError> {
    let (page, size) = page_and_size(&uri)?;
    // The first page is what everyone opens: it is served from the catalog cache.
    let body = state
        .catalog
        .concert_page(page, size, |summaries, total| {
            encode(&Data::new(ConcertPage {
                content: summaries
                    .into_iter()
                    .map(|s| ConcertListItem {
                        id: s.id,
                        name: s.name,
                        image_path: s.poster_key.as_deref().map(posters::public_path),
                        start_time: s.start_time,
                        writer: s.writer,
                        auditorium_name: s.auditorium_name,
                        sales_open_at: s.sales_open_at.unwrap_or(s.created_at),
                        sales_close_at: s.sales_close_at.unwrap_or(s.start_time),
                    })
                    .collect(),
                page,
                size,
                total_elements: total,
                total_pages: (total + size - 1) / size,
            }))
        })
        .await?;
    Ok(json_bytes(StatusCode::OK, body))
}

/// One concert with its venue and prices.
#[utoipa::path(get, path = "/concerts/{id}", tag = "concerts",
    params(("id" = i64, Path, description = "concert id")),
    responses(
        (status = 200, description = "the concert", body = Data<ConcertDetail>),
        (status = 404, description = "no such concert (or deleted)", body = ErrorBody),
    ))]
async fn get_concert(State(state): State<AppState>, ApiPath(id): ApiPath<i64>) -> Result<Response, ApiError> {
    let body =
        state.catalog.concert_cached(id, |record| encode(&Data::new(ConcertDetail::from(record)))).await?;
    Ok(json_bytes(StatusCode::OK, body))
}

/// Changes a concert: name, description, start, per-fan limit, row grades and prices, and
/// more rows. Reserved seats keep their reservations; rows on sale cannot be removed.
#[utoipa::path(put, path = "/concerts/{id}", tag = "concerts", security(("bearer" = [])),
    params(("id" = i64, Path, description = "concert id")),
    request_body = ConcertRequest,
    responses(
        (status = 200, description = "the updated concert", body = Data<ConcertDetail>),
        (status = 400, description = "invalid fields", body = ErrorBody),
        (status = 401, description = "no valid token", body = ErrorBody),
        (status = 403, description = "not the owner or an administrator", body = ErrorBody),
        (status = 404, description = "no such concert", body = ErrorBody),
        (status = 409, description = "started already, another venue, removing rows on sale, or opening the general sale before a presale of the concert closes (PRESALE_AFTER_SALES_OPEN)", body = ErrorBody),
    ))]
async fn update_concert(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<ConcertRequest>,
) -> Result<Json<Data<ConcertDetail>>, ApiError> {
    let parse = |venue: Option<&Layout>| body.parse(venue);
    let detail = ConcertDetail::from(state.catalog.update_concert(&principal, id, parse).await?);
    Ok(Json(Data::new(detail)))
}

/// Deletes a concert (soft delete). Refused while it has active reservations.
#[utoipa::path(delete, path = "/concerts/{id}", tag = "concerts", security(("bearer" = [])),
    params(("id" = i64, Path, description = "concert id")),
    responses(
        (status = 204, description = "deleted"),
        (status = 401, description = "no valid token", body = ErrorBody),
        (status = 403, description = "not the owner or an administrator", body = ErrorBody),
        (status = 404, description = "no such concert", body = ErrorBody),
        (status = 409, description = "the concert has active reservations (CONCERT_HAS_RESERVATIONS)", body = ErrorBody),
    ))]
async fn delete_concert(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    state.catalog.delete_concert(&principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// One row of the compact seat map.
#[derive(Debug, Serialize, ToSchema)]
pub struct SeatMapRow {
    #[schema(value_type = String, example = "A")]
    pub horizontal: RowLabel,
    #[schema(value_type = String, example = "R")]
    pub grade: Letter,
    #[schema(value_type = f64, example = 150000)]
    pub price: Price,
    /// One character per seat of the row, seat 1 first: `A` available, `R` reserved, `L`
    /// locked, `-` not on sale.
    #[schema(example = "AARRA-L")]
    pub statuses: String,
}

impl From<&SeatRow> for SeatMapRow {
    fn from(row: &SeatRow) -> Self {
        Self {
            horizontal: row.horizontal,
            grade: row.grade,
            price: row.price,
            statuses: row_statuses(row.width, row.seats.iter().copied()),
        }
    }
}

/// The whole seat map of a concert in one small response. A venue of one seated section
/// answers its `rows`; any other its `sections`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeatMapView {
    pub concert_id: i64,
    /// The name of the venue's one seated section, when it has one (a venue described by
    /// `maxRow`/`maxColumn` has none).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub section: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub rows: Option<Vec<SeatMapRow>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub sections: Option<Vec<SeatMapSection>>,
    /// Changes on every change of the map; also the `ETag`. Encoded last (see
    /// [`seat_map_body`]).
    pub version: i64,
}

/// One section of a seat map: a seated one's rows, or a standing one's places left.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SeatMapSection {
    #[schema(example = "101")]
    pub name: String,
    /// `SEATED` or `STANDING`.
    #[schema(example = "SEATED")]
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[schema(value_type = Option<Vec<SeatMapRow>>, nullable = false)]
    pub rows: Option<Vec<ParsedRow>>,
    /// A standing section's places on sale.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[schema(nullable = false)]
    pub capacity: Option<u64>,
    /// A standing section's places left.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[schema(nullable = false)]
    pub available: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[schema(value_type = Option<String>, example = "S", nullable = false)]
    pub grade: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[schema(value_type = Option<f64>, example = 99000, nullable = false)]
    pub price: Option<serde_json::Number>,
}

/// A row of a seat map as read back from its encoding.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ParsedRow {
    pub horizontal: String,
    pub grade: String,
    #[schema(value_type = f64)]
    pub price: serde_json::Number,
    pub statuses: String,
}

fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

/// Whether `If-None-Match` names the current version.
fn not_modified(headers: &HeaderMap, version: i64) -> bool {
    let current = etag(version);
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').map(str::trim).any(|tag| tag == "*" || tag.trim_start_matches("W/") == current))
}

/// `?section=NAME` of `GET /concerts/{id}/seats`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SectionQuery {
    /// One section only.
    pub section: Option<String>,
}

/// A cached answer with the map's version as its `ETag`: 304 when `If-None-Match` names it.
fn conditional(headers: &HeaderMap, version: i64, body: Bytes) -> Result<Response, ApiError> {
    let tag = HeaderValue::from_str(&etag(version)).map_err(|e| ApiError::Internal(e.into()))?;
    let cache = HeaderValue::from_static("no-cache");
    if not_modified(headers, version) {
        return Ok(
            (StatusCode::NOT_MODIFIED, [(header::ETAG, tag), (header::CACHE_CONTROL, cache)]).into_response()
        );
    }
    let mut response = json_bytes(StatusCode::OK, body);
    response.headers_mut().insert(header::ETAG, tag);
    response.headers_mut().insert(header::CACHE_CONTROL, cache);
    Ok(response)
}

/// The compact seat map, cached and conditional: `If-None-Match` with the current `ETag`
/// gets 304 and no body. `?section=` answers one section.
#[utoipa::path(get, path = "/concerts/{id}/seats", tag = "seats",
    params(
        ("id" = i64, Path, description = "concert id"),
        SectionQuery,
        ("If-None-Match" = Option<String>, Header, nullable = false, description = "an ETag of this map the client has"),
    ),
    responses(
        (status = 200, description = "the whole seat map (or one section), with its version as ETag", body = Data<SeatMapView>,
            headers(("ETag" = String, description = "the map's version, quoted"))),
        (status = 304, description = "unchanged since the ETag in If-None-Match",
            headers(("ETag" = String, description = "the map's version, quoted"))),
        (status = 404, description = "no such concert, or no such section", body = ErrorBody),
    ))]
async fn seat_map(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let query = Query::<SectionQuery>::try_from_uri(&uri)
        .map_err(|e| ApiError::Invalid(vec![FieldError { field: "query".into(), message: e.body_text() }]))?;
    let map = state.bookings.seat_map(id, seat_map_body).await?;
    let Some(section) = query.section.as_deref() else {
        return conditional(&headers, map.version, map.body.clone());
    };
    let derived = derived(&map)?;
    let body =
        derived.sections.get(&SectionName::stored(section.trim())).ok_or(ApiError::NotFound("section"))?;
    conditional(&headers, map.version, body.clone())
}

/// Free places of one grade in a section.
#[derive(Debug, Serialize, ToSchema)]
pub struct GradeAvailability {
    #[schema(example = "R")]
    pub grade: String,
    #[schema(value_type = f64, example = 150000)]
    pub price: serde_json::Number,
    /// Places of this grade on sale.
    pub capacity: u64,
    /// Of them, free now.
    pub available: u64,
}

/// Free places of one section, in all and by grade.
#[derive(Debug, Serialize, ToSchema)]
pub struct SectionAvailability {
    #[schema(example = "Floor")]
    pub name: String,
    /// `SEATED` or `STANDING`.
    #[schema(example = "STANDING")]
    pub kind: String,
    pub capacity: u64,
    pub available: u64,
    pub grades: Vec<GradeAvailability>,
}

/// How many places are free in each section of a concert: small, for an overview.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Availability {
    pub concert_id: i64,
    pub sections: Vec<SectionAvailability>,
    /// The seat map's version this was counted from; also the `ETag`.
    pub version: i64,
}

/// Free places by section and grade, from the cached seat map.
#[utoipa::path(get, path = "/concerts/{id}/availability", tag = "seats",
    params(
        ("id" = i64, Path, description = "concert id"),
        ("If-None-Match" = Option<String>, Header, nullable = false, description = "an ETag the client has"),
    ),
    responses(
        (status = 200, description = "free places by section and grade", body = Data<Availability>,
            headers(("ETag" = String, description = "the map's version, quoted"))),
        (status = 304, description = "unchanged since the ETag in If-None-Match"),
        (status = 404, description = "no such concert", body = ErrorBody),
    ))]
async fn availability(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let map = state.bookings.seat_map(id, seat_map_body).await?;
    let body = derived(&map)?.availability.clone();
    conditional(&headers, map.version, body)
}

/// The availability summary and each section's map of an encoded map, made once per map.
fn derived(map: &EncodedSeatMap) -> Result<&Derived, ApiError> {
    if let Some(derived) = map.derived.get() {
        return Ok(derived);
    }
    let made = derive(map).map_err(ApiError::Internal)?;
    Ok(map.derived.get_or_init(|| made))
}

/// A seat map's encoding read back: the seed's rows, or sections kept as written.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ParsedMap<'a> {
    concert_id: i64,
    section: Option<String>,
    rows: Option<Vec<ParsedRow>>,
    #[serde(borrow)]
    sections: Option<Vec<&'a serde_json::value::RawValue>>,
}

fn derive(map: &EncodedSeatMap) -> anyhow::Result<Derived> {
    #[derive(Deserialize)]
    struct Wrapped<T> {
        data: T,
    }
    let parsed: Wrapped<ParsedMap<'_>> = serde_json::from_slice(&map.body)?;
    let parsed = parsed.data;
    let mut sections = HashMap::new();
    let mut summary = Vec::new();
    let mut add = |section: SeatMapSection, raw: &str| -> anyhow::Result<()> {
        let mut grades: Vec<GradeAvailability> = Vec::new();
        let mut count = |grade: &str, price: &serde_json::Number, capacity: u64, available: u64| match grades
            .iter_mut()
            .find(|g| g.grade == grade)
        {
            Some(g) => {
                g.capacity += capacity;
                g.available += available;
            }
            None => grades.push(GradeAvailability {
                grade: grade.into(),
                price: price.clone(),
                capacity,
                available,
            }),
        };
        for row in section.rows.iter().flatten() {
            let bytes = row.statuses.as_bytes();
            let on_sale = bytes.iter().filter(|b| **b != b'-').count() as u64;
            let free = bytecount(bytes, b'A');
            count(&row.grade, &row.price, on_sale, free);
        }
        if let (Some(capacity), Some(available), Some(grade), Some(price)) =
            (section.capacity, section.available, &section.grade, &section.price)
        {
            count(grade, price, capacity, available);
        }
        grades.sort_by(|a, b| a.grade.cmp(&b.grade));
        let body = format!(
            r#"{{"data":{{"concertId":{},"sections":[{raw}],"version":{}}}}}"#,
            parsed.concert_id, map.version
        );
        sections.insert(SectionName::stored(&section.name), Bytes::from(body));
        summary.push(SectionAvailability {
            capacity: grades.iter().map(|g| g.capacity).sum(),
            available: grades.iter().map(|g| g.available).sum(),
            name: section.name,
            kind: section.kind,
            grades,
        });
        Ok(())
    };
    if let Some(rows) = parsed.rows {
        // The seed's shape: one seated section, its rows at the top.
        let section = SeatMapSection {
            name: parsed.section.clone().unwrap_or_default(),
            kind: "SEATED".into(),
            rows: Some(rows),
            capacity: None,
            available: None,
            grade: None,
            price: None,
        };
        let raw = serde_json::to_string(&section)?;
        add(section, &raw)?;
    }
    for raw in parsed.sections.unwrap_or_default() {
        add(serde_json::from_str(raw.get())?, raw.get())?;
    }
    let availability = encode(&Data::new(Availability {
        concert_id: parsed.concert_id,
        sections: summary,
        version: map.version,
    }))?;
    Ok(Derived { availability, sections })
}

/// How many times `byte` is in `bytes`.
fn bytecount(bytes: &[u8], byte: u8) -> u64 {
    bytes.iter().filter(|b| **b == byte).count() as u64
}

/// The response body of `GET /concerts/{id}/seats` for a seat map, with where each row's
/// statuses, each standing section's count of places left and the version lie in it, so
/// that a change can be patched into it in place. The version is the last field: nothing
/// else moves when it grows a digit.
pub fn seat_map_body(record: &SeatMapRecord) -> anyhow::Result<EncodedSeatMap> {
    if record.seed_shaped { seed_shaped_body(record) } else { sections_body(record) }
}

/// The seed's shape: `{concertId, rows, version}`.
fn seed_shaped_body(record: &SeatMapRecord) -> anyhow::Result<EncodedSeatMap> {
    const STATUSES: &[u8] = br#""statuses":""#;
    const VERSION: &[u8] = br#""version":"#;
    let (section, rows) = match record.sections.first() {
        Some(section) => (section.name, &section.rows[..]),
        None => (SectionName::SEED, &[][..]),
    };
    let view = SeatMapView {
        concert_id: record.concert_id,
        section: (!section.is_seed()).then(|| section.to_string()),
        rows: Some(rows.iter().map(SeatMapRow::from).collect()),
        sections: None,
        version: record.version,
    };
    let body = serde_json::to_vec(&Data::new(&view))?;
    let find = |what: &[u8], from: usize| {
        body.get(from..)?.windows(what.len()).position(|w| w == what).map(|at| from + at + what.len())
    };
    // Each row's statuses, in order: no string before them can hold the key.
    let mut offsets = Vec::with_capacity(rows.len());
    let mut from = 0;
    for row in view.rows.iter().flatten() {
        let at = find(STATUSES, from).context("a row's statuses are not in the encoded map")?;
        anyhow::ensure!(body.get(at..at + row.statuses.len()) == Some(row.statuses.as_bytes()));
        offsets.push(((section, row.horizontal), at, row.statuses.len()));
        from = at + row.statuses.len();
    }
    let version_at = find(VERSION, from).context("the version is not last in the encoded map")?;
    let digits = view.version.to_string();
    anyhow::ensure!(body.get(version_at..version_at + digits.len()) == Some(digits.as_bytes()));
    let tail = std::str::from_utf8(&body[version_at + digits.len()..])?;
    let layout = MapLayout::new(offsets, Vec::new(), version_at, tail).context("a seat map too large")?;
    Ok(EncodedSeatMap::new(record.version, Bytes::from(body), Some(Arc::new(layout))))
}

/// Sections: `{concertId, sections: [{name, kind, rows} | {name, kind, capacity,
/// available, grade, price}], version}`, written piece by piece so that each standing
/// count is right-aligned in the width of its capacity (a patch rewrites it in place).
fn sections_body(record: &SeatMapRecord) -> anyhow::Result<EncodedSeatMap> {
    use std::io::Write;
    let mut body = Vec::new();
    let (mut rows, mut counts) = (Vec::new(), Vec::new());
    write!(body, r#"{{"data":{{"concertId":{},"sections":["#, record.concert_id)?;
    for (i, section) in record.sections.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(br#"{"name":"#);
        serde_json::to_writer(&mut body, section.name.as_str())?;
        if section.standing {
            let row = section.rows.first().context("a standing section without places")?;
            let capacity = row.seats.len();
            let available = row.seats.iter().filter(|(_, s)| *s == SeatStatus::Available).count();
            write!(body, r#","kind":"STANDING","capacity":{capacity},"available":"#)?;
            let width = capacity.to_string().len();
            counts.push((section.name, body.len(), width));
            write!(body, "{available:>width$}")?;
            body.extend_from_slice(br#","grade":"#);
            serde_json::to_writer(&mut body, &row.grade)?;
            body.extend_from_slice(br#","price":"#);
            serde_json::to_writer(&mut body, &row.price)?;
            body.push(b'}');
        } else {
            body.extend_from_slice(br#","kind":"SEATED","rows":["#);
            for (j, row) in section.rows.iter().enumerate() {
                if j > 0 {
                    body.push(b',');
                }
                body.extend_from_slice(br#"{"horizontal":"#);
                serde_json::to_writer(&mut body, &row.horizontal)?;
                body.extend_from_slice(br#","grade":"#);
                serde_json::to_writer(&mut body, &row.grade)?;
                body.extend_from_slice(br#","price":"#);
                serde_json::to_writer(&mut body, &row.price)?;
                body.extend_from_slice(br#","statuses":""#);
                let statuses = row_statuses(row.width, row.seats.iter().copied());
                rows.push(((section.name, row.horizontal), body.len(), statuses.len()));
                body.extend_from_slice(statuses.as_bytes());
                body.extend_from_slice(b"\"}");
            }
            body.extend_from_slice(b"]}");
        }
    }
    body.extend_from_slice(br#"],"version":"#);
    let version_at = body.len();
    write!(body, "{}", record.version)?;
    let tail = "}}";
    body.extend_from_slice(tail.as_bytes());
    let layout = MapLayout::new(rows, counts, version_at, tail).context("a seat map too large")?;
    Ok(EncodedSeatMap::new(record.version, Bytes::from(body), Some(Arc::new(layout))))
}

/// A seat that cannot be booked.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnreservableSeat {
    /// Absent in a venue described by `maxRow`/`maxColumn`.
    #[serde(skip_serializing_if = "SectionName::is_seed")]
    #[schema(value_type = String, example = "101", required = false)]
    pub section: SectionName,
    /// `""` for a standing place.
    #[schema(value_type = String, example = "A")]
    pub horizontal: RowLabel,
    pub vertical: u32,
    /// `RESERVED` or `LOCKED`.
    #[schema(value_type = super::docs::SeatStatusSchema)]
    pub status: SeatStatus,
}

/// The seat map in the original service's shape.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReservationMap {
    pub concert: ConcertDetail,
    pub unreservable_seats: Vec<UnreservableSeat>,
}

/// The concert and every seat that cannot be booked (reserved or locked).
#[utoipa::path(get, path = "/concerts/{id}/reservations", tag = "seats",
    params(("id" = i64, Path, description = "concert id")),
    responses(
        (status = 200, description = "the concert and its unbookable seats", body = Data<ReservationMap>),
        (status = 404, description = "no such concert", body = ErrorBody),
    ))]
async fn reservation_map(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Data<ReservationMap>>, ApiError> {
    let (concert, map) = state.bookings.concert_seats(id).await?;
    let unreservable_seats = map
        .sections
        .iter()
        .flat_map(|section| section.rows.iter().map(move |row| (section.name, row)))
        .flat_map(|(section, row)| {
            row.seats.iter().filter(|(_, status)| *status != SeatStatus::Available).map(
                move |&(vertical, status)| UnreservableSeat {
                    section,
                    horizontal: row.horizontal,
                    vertical,
                    status,
                },
            )
        })
        .collect();
    Ok(Json(Data::new(ReservationMap { concert: concert.into(), unreservable_seats })))
}
