//! Booking, cancelling and reservation histories.

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auditoriums::SeatPositionRequest;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath};
use super::{AppState, Data};
use crate::auth::Principal;
use crate::domain::FieldError;
use crate::domain::booking::{Order, OrderShape, ReservationStatus, SeatRef};
use crate::domain::presale::AccessCode;
use crate::domain::sections::{RowLabel, SectionName};
use crate::domain::venue::{Letter, Price, SeatStatus};
use crate::store::{BookingError, ReservationHistory, ReservationRecord};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(book))
        .routes(routes!(cancel))
        .routes(routes!(my_reservations))
        .routes(routes!(all_reservations))
}

/// Body of `POST /concerts/{id}/reservations`: one seat, or `seats` for several at once.
/// Documented as [`BookRequestSchema`]: the fields are read as optional here only so that a
/// body with neither form gets a 400 that names what is missing.
#[derive(Debug, Deserialize)]
pub struct BookRequest {
    pub section: Option<String>,
    pub horizontal: Option<String>,
    pub vertical: Option<i64>,
    pub seats: Option<Vec<SeatPositionRequest>>,
    pub standing: Option<Vec<StandingPlacesRequest>>,
    #[serde(rename = "accessCode")]
    pub access_code: Option<String>,
}

/// Standing places of one section, booked by quantity: the first free ones.
#[derive(Debug, Deserialize, ToSchema)]
pub struct StandingPlacesRequest {
    #[schema(example = "Floor", required, nullable = false)]
    pub section: Option<String>,
    /// 1 to 100, within the concert's per-fan limit with everything else the fan holds.
    #[schema(example = 2, required, nullable = false, minimum = 1, maximum = 100)]
    pub quantity: Option<i64>,
}

/// Body of `POST /concerts/{id}/reservations`: one seat (`{horizontal, vertical}`), or
/// `{seats: [...]}` for several, booked all together or none. Never both.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
#[schema(as = BookRequest)]
#[allow(dead_code)]
enum BookRequestSchema {
    One(SeatBookingRequest),
    Several(SeatListRequest),
}

/// One seat, booked on its own.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct SeatBookingRequest {
    /// The seat's section; required when the venue has more than one.
    #[schema(example = "101")]
    section: Option<String>,
    #[schema(example = "B", required, nullable = false, pattern = "^[A-Z0-9]{1,4}$")]
    horizontal: Option<String>,
    #[schema(example = 1, required, nullable = false, minimum = 1, maximum = 200)]
    vertical: Option<i64>,
    /// A presale access code (4–32 letters, digits or `-`, any case): before the concert's
    /// `salesOpenAt` a booking needs one of its presales' codes, and each booking counts
    /// one use of it; from `salesOpenAt` on, a code sent is ignored.
    #[schema(example = "FANCLUB-2027", nullable = false, min_length = 4, max_length = 32)]
    access_code: Option<String>,
}

/// Several seats and standing places, booked all together or none: `seats`, `standing`
/// or both.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct SeatListRequest {
    /// Distinct seats; with the standing places, at most 100.
    #[schema(max_items = 100)]
    seats: Option<Vec<SeatPositionRequest>>,
    /// Standing places by section.
    #[schema(max_items = 100)]
    standing: Option<Vec<StandingPlacesRequest>>,
    /// A presale access code, as for one seat: needed before `salesOpenAt`, one use per
    /// booking (however many seats), ignored from then on.
    #[schema(example = "FANCLUB-2027", nullable = false, min_length = 4, max_length = 32)]
    access_code: Option<String>,
}

impl BookRequest {
    /// The presale access code sent, if any: 400 for one that cannot be a code.
    fn access_code(&self) -> Result<Option<AccessCode>, ApiError> {
        let Some(raw) = self.access_code.as_deref() else { return Ok(None) };
        AccessCode::parse(raw)
            .map(Some)
            .map_err(|message| ApiError::Invalid(vec![FieldError { field: "accessCode".into(), message }]))
    }

    fn parse(&self) -> Result<Order, ApiError> {
        let single = (self.horizontal.is_some() || self.vertical.is_some()).then_some((
            self.section.as_deref(),
            self.horizontal.as_deref(),
            self.vertical,
        ));
        let list = self.seats.as_ref().map(|seats| {
            seats.iter().map(|s| (s.section.as_deref(), s.horizontal.as_deref(), s.vertical)).collect()
        });
        let standing = self
            .standing
            .as_ref()
            .map(|places| places.iter().map(|p| (p.section.as_deref(), p.quantity)).collect());
        Ok(Order::parse(single, list, standing)?)
    }
}

/// A reservation as booking answers it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReservationView {
    pub id: i64,
    #[schema(value_type = super::docs::ReservationStatusSchema)]
    pub status: ReservationStatus,
    pub user_id: i64,
    pub concert_id: i64,
    pub seat_id: i64,
    /// A held reservation's order (`GET /orders/{id}`, `POST /orders/{id}/payment`); left
    /// out for a `DIRECT` concert's, whose shape is the seed's.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub order_id: Option<i64>,
    /// Until when a held reservation holds its seat; left out when it is not held.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub expires_at: Option<DateTime<Utc>>,
}

impl From<&ReservationRecord> for ReservationView {
    fn from(r: &ReservationRecord) -> Self {
        Self {
            id: r.id,
            status: r.status,
            user_id: r.user_id,
            concert_id: r.concert_id,
            seat_id: r.seat_id,
            order_id: r.expires_at.and(r.order_id),
            expires_at: r.expires_at,
        }
    }
}

/// The answer to a several-seat order.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReservationList {
    pub reservations: Vec<ReservationView>,
}

/// The answer to a booking: the reservation for the one-seat form, `{reservations}` for
/// the `seats` form.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum Booked {
    One(ReservationView),
    Several(ReservationList),
}

const IDEMPOTENCY_KEY: &str = "idempotency-key";

const QUEUE_PASS: &str = "queue-pass";

/// The raw `Idempotency-Key` and `Queue-Pass` headers, taken from the request in place
/// (the `HeaderMap` extractor would copy every header of every booking); the key is
/// checked by [`idempotency_key`].
struct IdempotencyHeader(Option<HeaderValue>, Option<HeaderValue>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyHeader {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(parts.headers.get(IDEMPOTENCY_KEY).cloned(), parts.headers.get(QUEUE_PASS).cloned()))
    }
}

/// The `Idempotency-Key` header: 1–255 visible ASCII characters.
fn idempotency_key(header: &IdempotencyHeader) -> Result<Option<&str>, ApiError> {
    let Some(value) = &header.0 else { return Ok(None) };
    let invalid = || {
        ApiError::Invalid(vec![FieldError {
            field: "Idempotency-Key".into(),
            message: "must be 1 to 255 visible ASCII characters".into(),
        }])
    };
    let key = value.to_str().map_err(|_| invalid())?;
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid());
    }
    Ok(Some(key))
}

fn seat_errors(seats: &[SeatRef], what: impl Fn(&SeatRef) -> String) -> Vec<FieldError> {
    seats.iter().map(|s| FieldError { field: format!("seats.{s}"), message: what(s) }).collect()
}

/// 409 naming the seats that are not free.
fn unavailable(seats: &[(SeatRef, SeatStatus)]) -> ApiError {
    let locked = seats.iter().all(|(_, status)| *status == SeatStatus::Locked);
    let names: Vec<String> = seats.iter().map(|(s, _)| s.to_string()).collect();
    let (code, verb) = if locked { ("SEAT_LOCKED", "locked") } else { ("SEAT_TAKEN", "taken") };
    ApiError::Conflict {
        code,
        message: format!("seat {} {} {verb}", names.join(", "), if names.len() == 1 { "is" } else { "are" }),
        errors: seats
            .iter()
            .map(|(s, status)| FieldError {
                field: format!("seats.{s}"),
                message: if *status == SeatStatus::Locked { "is locked".into() } else { "is taken".into() },
            })
            .collect(),
    }
}

impl From<BookingError> for ApiError {
    fn from(e: BookingError) -> Self {
        match e {
            BookingError::ConcertNotFound => ApiError::NotFound("concert"),
            BookingError::HeldByOrder(order) => ApiError::conflict(
                "ORDER_PENDING",
                format!(
                    "this seat is held by pending order {order}: cancel the order (DELETE /api/v1/orders/{order})"
                ),
            ),
            BookingError::ConcertStarted => {
                ApiError::conflict("CONCERT_STARTED", "the concert has already started")
            }
            BookingError::SalesNotOpen(at) => ApiError::conflict(
                "SALES_NOT_OPEN",
                format!("sales open at {}", at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            ),
            BookingError::SalesClosed => {
                ApiError::conflict("SALES_CLOSED", "sales for this concert have closed")
            }
            BookingError::AccessCodeInvalid => ApiError::Denied {
                code: "ACCESS_CODE_INVALID",
                message: "this access code is not one of this concert's presales".into(),
            },
            BookingError::PresaleNotOpen(at) => ApiError::conflict(
                "PRESALE_NOT_OPEN",
                format!(
                    "the presale of this access code opens at {}",
                    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                ),
            ),
            BookingError::PresaleClosed(general) => ApiError::conflict(
                "PRESALE_CLOSED",
                format!(
                    "the presale of this access code has closed; sales open at {}",
                    general.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                ),
            ),
            BookingError::AccessCodeUsedUp => {
                ApiError::conflict("ACCESS_CODE_USED_UP", "this access code has made all the bookings it may")
            }
            BookingError::SeatsNotFound(seats) => ApiError::NotFoundDetail {
                code: "SEAT_NOT_FOUND",
                message: format!(
                    "no seat {} in this concert",
                    seats.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
                ),
                errors: seat_errors(&seats, |_| "no such seat".into()),
            },
            BookingError::SeatsUnavailable(seats) => unavailable(&seats),
            BookingError::SectionsNotFound(sections) => ApiError::NotFoundDetail {
                code: "SEAT_NOT_FOUND",
                message: format!(
                    "no standing section {} in this concert",
                    sections.iter().map(|s| format!("{:?}", s.as_str())).collect::<Vec<_>>().join(", ")
                ),
                errors: sections
                    .iter()
                    .map(|s| FieldError {
                        field: format!("standing.{s}"),
                        message: "no such standing section".into(),
                    })
                    .collect(),
            },
            BookingError::SoldOut(sections) => ApiError::Conflict {
                code: "SOLD_OUT",
                message: sections
                    .iter()
                    .map(|(s, left)| format!("{left} place(s) left in {:?}", s.as_str()))
                    .collect::<Vec<_>>()
                    .join("; "),
                errors: sections
                    .iter()
                    .map(|(s, left)| FieldError {
                        field: format!("standing.{s}"),
                        message: format!("{left} left"),
                    })
                    .collect(),
            },
            BookingError::FanLimit { limit, held } => ApiError::conflict(
                "SEAT_LIMIT",
                format!("at most {limit} seats per fan for this concert; you hold {held}"),
            ),
            BookingError::KeyReused => ApiError::conflict(
                "IDEMPOTENCY_KEY_REUSED",
                "this Idempotency-Key was used for a different request",
            ),
            BookingError::ReservationNotFound => ApiError::NotFound("reservation"),
            BookingError::NotOwner => ApiError::Forbidden("only its owner or an administrator may cancel it"),
            BookingError::Store(e) => e.into(),
        }
    }
}

/// Books one seat (`{horizontal, vertical}`) or several, all or none (`{seats: [...]}`).
/// With an `Idempotency-Key` header, a retry answers what the first request answered.
#[utoipa::path(post, path = "/concerts/{id}/reservations", tag = "seats", security(("bearer" = [])),
    params(
        ("id" = i64, Path, description = "concert id"),
        ("Idempotency-Key" = Option<String>, Header, nullable = false, min_length = 1, max_length = 255, pattern = "^[!-~]+$", description = "makes a retry return the first answer"),
        ("Queue-Pass" = Option<String>, Header, nullable = false, description = "the pass the concert's waiting room gave the caller (required while the room is on)"),
    ),
    request_body = BookRequestSchema,
    responses(
        (status = 201, description = "booked: one reservation, or `{reservations}` for the list form", body = Data<Booked>),
        (status = 400, description = "missing, malformed, out-of-range or duplicate seats, an empty or oversized list, or an accessCode that cannot be a code", body = ErrorBody),
        (status = 401, description = "no valid token", body = ErrorBody),
        (status = 403, description = "QUEUE_PASS_REQUIRED: the concert's waiting room is on and no valid pass of the caller's was sent; ACCESS_CODE_INVALID: before the general sale, an access code that is not one of the concert's presales", body = ErrorBody),
        (status = 404, description = "no such concert or seat (SEAT_NOT_FOUND)", body = ErrorBody),
        (status = 409, description = "SEAT_TAKEN, SEAT_LOCKED, SOLD_OUT, CONCERT_STARTED, SALES_NOT_OPEN (no access code before the general sale), SALES_CLOSED, PRESALE_NOT_OPEN or PRESALE_CLOSED (outside the code's presale), ACCESS_CODE_USED_UP, SEAT_LIMIT or IDEMPOTENCY_KEY_REUSED", body = ErrorBody),
        (status = 429, description = "too many booking attempts by this user (RATE_LIMITED; see Retry-After)", body = ErrorBody),
    ))]
async fn book(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(concert_id): ApiPath<i64>,
    idempotency: IdempotencyHeader,
    ApiJson(body): ApiJson<BookRequest>,
) -> Result<Response, ApiError> {
    let order = body.parse()?;
    let access_code = body.access_code()?;
    let key = idempotency_key(&idempotency)?.map(str::to_owned);
    let shape = order.shape;
    let pass = idempotency.1.as_ref().and_then(|v| v.to_str().ok());
    let booked = state.bookings.book(&principal, concert_id, order, key, access_code, pass).await?;
    let views: Vec<ReservationView> = booked.reservations.iter().map(Into::into).collect();
    Ok(match shape {
        OrderShape::Single => match views.into_iter().next() {
            Some(view) => (StatusCode::CREATED, Json(Data::new(view))).into_response(),
            None => return Err(ApiError::Internal(anyhow::anyhow!("a booking returned no reservation"))),
        },
        OrderShape::List => {
            (StatusCode::CREATED, Json(Data::new(ReservationList { reservations: views }))).into_response()
        }
    })
}

/// A cancelled (or already cancelled) reservation.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CancelledView {
    #[serde(flatten)]
    pub reservation: ReservationView,
    #[schema(required)]
    pub cancelled_at: Option<DateTime<Utc>>,
}

/// Cancels a reservation: the seat is free at once. Cancelling twice answers the same.
#[utoipa::path(delete, path = "/concerts/{id}/reservations/{reservation_id}", tag = "seats",
    security(("bearer" = [])),
    params(
        ("id" = i64, Path, description = "concert id"),
        ("reservation_id" = i64, Path, description = "reservation id"),
    ),
    responses(
        (status = 200, description = "the cancelled reservation", body = Data<CancelledView>),
        (status = 401, description = "no valid token", body = ErrorBody),
        (status = 403, description = "not the reservation's owner or an administrator", body = ErrorBody),
        (status = 404, description = "no such reservation in this concert", body = ErrorBody),
        (status = 409, description = "CONCERT_STARTED, or TICKET_TRANSFERRED (the fan gave the ticket away: only an administrator can cancel it)", body = ErrorBody),
    ))]
async fn cancel(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((concert_id, reservation_id)): ApiPath<(i64, i64)>,
) -> Result<Json<Data<CancelledView>>, ApiError> {
    let cancelled = state.bookings.cancel(&principal, concert_id, reservation_id).await?;
    let view = CancelledView {
        reservation: (&cancelled.reservation).into(),
        cancelled_at: cancelled.reservation.cancelled_at,
    };
    Ok(Json(Data::new(view)))
}

/// A concert as shown in a reservation.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReservedConcert {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub start_time: DateTime<Utc>,
}

/// A venue as shown in a reservation.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReservedAuditorium {
    pub id: i64,
    pub name: String,
    pub address: String,
}

/// A seat as shown in a reservation.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReservedSeat {
    pub id: i64,
    /// Absent in a venue described by `maxRow`/`maxColumn`.
    #[serde(skip_serializing_if = "SectionName::is_seed")]
    #[schema(value_type = String, example = "101", required = false)]
    pub section: SectionName,
    /// `""` for a standing place.
    #[schema(value_type = String, example = "B")]
    pub horizontal: RowLabel,
    pub vertical: u32,
    #[schema(value_type = String, example = "R")]
    pub grade: Letter,
}

/// The fan who holds a reservation.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReservedBy {
    pub id: i64,
    pub username: String,
    #[schema(required)]
    pub nickname: Option<String>,
}

/// One of the caller's reservations.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MyReservation {
    pub id: i64,
    #[schema(value_type = super::docs::ReservationStatusSchema)]
    pub status: ReservationStatus,
    pub concert: ReservedConcert,
    pub auditorium: ReservedAuditorium,
    pub seat: ReservedSeat,
    /// The price when booked.
    #[schema(value_type = f64)]
    pub price: Price,
    pub created_at: DateTime<Utc>,
    #[schema(required)]
    pub cancelled_at: Option<DateTime<Utc>>,
}

fn parts(r: &ReservationHistory) -> (ReservedConcert, ReservedAuditorium, ReservedSeat) {
    (
        ReservedConcert {
            id: r.concert_id,
            name: r.concert_name.clone(),
            description: r.concert_description.clone(),
            start_time: r.start_time,
        },
        ReservedAuditorium {
            id: r.auditorium_id,
            name: r.auditorium_name.clone(),
            address: r.auditorium_address.clone(),
        },
        ReservedSeat {
            id: r.seat_id,
            section: r.seat.section,
            horizontal: r.seat.horizontal,
            vertical: r.seat.vertical,
            grade: r.grade,
        },
    )
}

/// Every reservation of the caller, active and cancelled, newest first.
#[utoipa::path(get, path = "/users/my/reservations", tag = "users", security(("bearer" = [])),
    responses(
        (status = 200, description = "the caller's reservations", body = Data<Vec<MyReservation>>),
        (status = 401, description = "no valid token", body = ErrorBody),
    ))]
async fn my_reservations(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Data<Vec<MyReservation>>>, ApiError> {
    let history = state.bookings.history(&principal, false).await?;
    Ok(Json(Data::new(
        history
            .iter()
            .map(|r| {
                let (concert, auditorium, seat) = parts(r);
                MyReservation {
                    id: r.id,
                    status: r.status,
                    concert,
                    auditorium,
                    seat,
                    price: r.price,
                    created_at: r.created_at,
                    cancelled_at: r.cancelled_at,
                }
            })
            .collect(),
    )))
}

/// A reservation as administrators see it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdminReservation {
    pub id: i64,
    #[schema(value_type = super::docs::ReservationStatusSchema)]
    pub status: ReservationStatus,
    pub user: ReservedBy,
    pub concert: ReservedConcert,
    pub auditorium: ReservedAuditorium,
    pub seat: ReservedSeat,
    #[schema(value_type = f64)]
    pub price: Price,
    pub reserved_time: DateTime<Utc>,
    #[schema(required)]
    pub cancelled_time: Option<DateTime<Utc>>,
}

/// Every reservation of everyone, newest first.
#[utoipa::path(get, path = "/admin/reservations", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, description = "every reservation", body = Data<Vec<AdminReservation>>),
        (status = 401, description = "no valid token", body = ErrorBody),
        (status = 403, description = "not an administrator", body = ErrorBody),
    ))]
async fn all_reservations(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Data<Vec<AdminReservation>>>, ApiError> {
    let history = state.bookings.history(&principal, true).await?;
    Ok(Json(Data::new(
        history
            .iter()
            .map(|r| {
                let (concert, auditorium, seat) = parts(r);
                AdminReservation {
                    id: r.id,
                    status: r.status,
                    user: ReservedBy {
                        id: r.user_id,
                        username: r.username.clone(),
                        nickname: r.nickname.clone(),
                    },
                    concert,
                    auditorium,
                    seat,
                    price: r.price,
                    reserved_time: r.created_at,
                    cancelled_time: r.cancelled_at,
                }
            })
            .collect(),
    )))
}
