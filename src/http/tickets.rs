//! Tickets and the door: `GET /users/my/tickets`, `GET /tickets/{id}`,
//! `GET /tickets/{id}/qr.svg`, `POST /tickets/{id}/transfer`, `POST /concerts/{id}/checkins`,
//! `GET /concerts/{id}/checkins`, `GET /concerts/{id}/checkin/key`,
//! `GET /concerts/{id}/checkin/tickets`, `GET /concerts/{id}/checkin/stats`,
//! `POST|GET /concerts/{id}/checkin/tokens`, `DELETE /concerts/{id}/checkin/tokens/{tokenId}`,
//! `GET /concerts/{id}/attendees.csv`.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath, bearer_token};
use super::{AppState, Data};
use crate::auth::Principal;
use crate::domain::FieldError;
use crate::domain::booking::SeatRef;
use crate::domain::ticket::{CheckinResult, TicketStatus};
use crate::domain::venue::Price;
use crate::service::ServiceError;
use crate::service::tickets::{CHECKIN_TOKEN_PREFIX, CheckinError, Door, ScanInput};
use crate::store::{Attendee, CheckinRecord, CheckinTokenRecord, DoorTicket, StoreError, TicketRecord};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(my_tickets))
        .routes(routes!(ticket))
        .routes(routes!(ticket_qr))
        .routes(routes!(transfer))
        .routes(routes!(check_in, checkins))
        .routes(routes!(door_key))
        .routes(routes!(door_tickets))
        .routes(routes!(door_stats))
        .routes(routes!(create_token, tokens))
        .routes(routes!(revoke_token))
        .routes(routes!(attendees_csv))
}

/// The door: a signed-in promoter or administrator, or a check-in token (`ct_…`) of the
/// concert, sent as `Authorization: Bearer`.
impl FromRequestParts<AppState> for Door {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer_token(parts)?;
        if token.starts_with(CHECKIN_TOKEN_PREFIX) {
            return state.tickets.door_of_token(token).await?.ok_or(ApiError::Unauthorized {
                code: "TOKEN_INVALID",
                message: "this check-in token is unknown or was revoked",
            });
        }
        Ok(Door::Staff(state.accounts.authenticate(token).await?))
    }
}

/// The concert a ticket is for.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TicketConcert {
    pub id: i64,
    pub name: String,
    pub start_time: DateTime<Utc>,
    pub venue: String,
}

/// A ticket's seat, or its standing place (`horizontal` `""`, `vertical` the place).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TicketSeat {
    pub section: String,
    pub horizontal: String,
    pub vertical: u32,
    pub grade: String,
}

impl TicketSeat {
    fn new(seat: SeatRef, grade: impl ToString) -> Self {
        Self {
            section: seat.section.to_string(),
            horizontal: seat.horizontal.to_string(),
            vertical: seat.vertical,
            grade: grade.to_string(),
        }
    }
}

/// Who holds a ticket.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TicketHolder {
    pub id: i64,
    pub username: String,
    #[schema(required)]
    pub nickname: Option<String>,
}

/// A ticket: its code (the text of its QR code), and what it opens.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TicketView {
    /// The reservation's id.
    pub id: i64,
    /// Signed with the deployment's Ed25519 key; a scanner can check it offline.
    pub code: String,
    /// `VALID` or `REVOKED` (cancelled).
    #[schema(example = "VALID")]
    pub status: &'static str,
    /// One more with each transfer: the door refuses codes of older versions.
    pub version: i64,
    pub concert: TicketConcert,
    pub seat: TicketSeat,
    #[schema(value_type = f64)]
    pub price: Price,
    pub holder: TicketHolder,
    #[schema(required)]
    pub order_id: Option<i64>,
    /// When it was admitted at the door.
    #[schema(required)]
    pub checked_in_at: Option<DateTime<Utc>>,
}

impl AppState {
    fn ticket_view(&self, t: TicketRecord) -> TicketView {
        let code = self.tickets.code(&t);
        TicketView {
            id: t.id,
            code,
            status: t.status.as_str(),
            version: t.version,
            concert: TicketConcert {
                id: t.concert_id,
                name: t.concert_name,
                start_time: t.start_time,
                venue: t.venue,
            },
            seat: TicketSeat::new(t.seat, t.grade),
            price: t.price,
            holder: TicketHolder {
                id: t.holder_id,
                username: t.holder_username,
                nickname: t.holder_nickname,
            },
            order_id: t.order_id,
            checked_in_at: t.admitted.map(|a| a.scanned_at),
        }
    }
}

/// The caller's valid tickets, soonest concert first.
#[utoipa::path(get, path = "/users/my/tickets", tag = "tickets", security(("bearer" = [])),
    responses(
        (status = 200, description = "the caller's tickets", body = Data<Vec<TicketView>>),
        (status = 401, description = "no valid token", body = ErrorBody),
    ))]
async fn my_tickets(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Data<Vec<TicketView>>>, ApiError> {
    let tickets = state.tickets.mine(&principal).await?;
    Ok(Json(Data::new(tickets.into_iter().map(|t| state.ticket_view(t)).collect())))
}

/// One ticket, for its holder, the concert's promoter or an administrator.
#[utoipa::path(get, path = "/tickets/{id}", tag = "tickets", security(("bearer" = [])),
    params(("id" = i64, Path, description = "ticket id")),
    responses(
        (status = 200, description = "the ticket", body = Data<TicketView>),
        (status = 400, description = "the id is not a number", body = ErrorBody),
        (status = 401, description = "no valid token", body = ErrorBody),
        (status = 403, description = "not the holder, the promoter or an administrator", body = ErrorBody),
        (status = 404, description = "no such ticket", body = ErrorBody),
    ))]
async fn ticket(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Data<TicketView>>, ApiError> {
    let ticket = state.tickets.ticket(&principal, id).await?;
    Ok(Json(Data::new(state.ticket_view(ticket))))
}

/// The ticket's code as a QR code (SVG), for the screen or for print.
#[utoipa::path(get, path = "/tickets/{id}/qr.svg", tag = "tickets", security(("bearer" = [])),
    params(("id" = i64, Path, description = "ticket id")),
    responses(
        (status = 200, description = "the QR code", body = String, content_type = "image/svg+xml"),
        (status = 400, description = "the id is not a number", body = ErrorBody),
        (status = 401, description = "no valid token", body = ErrorBody),
        (status = 403, description = "not the holder, the promoter or an administrator", body = ErrorBody),
        (status = 404, description = "no such ticket", body = ErrorBody),
    ))]
async fn ticket_qr(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    let svg = state.tickets.qr(&principal, id).await?;
    Ok(([(header::CONTENT_TYPE, "image/svg+xml"), (header::CACHE_CONTROL, "private, no-store")], svg)
        .into_response())
}

/// Whom a ticket goes to.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TransferRequest {
    /// The receiving fan's username.
    pub username: String,
}

/// The holder gives the ticket to another fan before the concert starts: the ticket gets
/// a new code and the old one no longer opens the door; both fans are e-mailed.
#[utoipa::path(post, path = "/tickets/{id}/transfer", tag = "tickets", security(("bearer" = [])),
    params(("id" = i64, Path, description = "ticket id")),
    request_body = TransferRequest,
    responses(
        (status = 200, description = "the ticket, now the other fan's", body = Data<TicketView>),
        (status = 400, description = "no username, or the caller's own", body = ErrorBody),
        (status = 401, description = "no valid token", body = ErrorBody),
        (status = 403, description = "not the ticket's holder", body = ErrorBody),
        (status = 404, description = "no such ticket or user", body = ErrorBody),
        (status = 409, description = "TICKET_REVOKED, CONCERT_STARTED or ALREADY_CHECKED_IN", body = ErrorBody),
    ))]
async fn transfer(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<TransferRequest>,
) -> Result<Json<Data<TicketView>>, ApiError> {
    let ticket = state.tickets.transfer(&principal, id, &body.username).await?;
    Ok(Json(Data::new(state.ticket_view(ticket))))
}

/// A scan at the door.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScanRequest {
    /// The ticket's code, as its QR code says.
    pub code: String,
    /// When it was scanned (a scanner that was offline uploads later); default: now.
    pub scanned_at: Option<DateTime<Utc>>,
    /// Which scanner (1–100 characters).
    pub device_id: Option<String>,
    /// Names this scan (1–100 characters): sent again, it gets the same answer.
    pub nonce: Option<String>,
}

/// One scan as the door kept it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScanView {
    pub id: i64,
    pub ticket_id: i64,
    pub version: i64,
    /// `ADMITTED`, `ALREADY_CHECKED_IN`, `CONFLICT` (a second admission made offline) or
    /// `TICKET_REVOKED`.
    #[schema(example = "ADMITTED")]
    pub result: &'static str,
    pub scanned_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    #[schema(required)]
    pub device_id: Option<String>,
    #[schema(required)]
    pub nonce: Option<String>,
}

impl From<CheckinRecord> for ScanView {
    fn from(c: CheckinRecord) -> Self {
        Self {
            id: c.id,
            ticket_id: c.ticket_id,
            version: c.version,
            result: c.result.as_str(),
            scanned_at: c.scanned_at,
            received_at: c.received_at,
            device_id: c.device_id,
            nonce: c.nonce,
        }
    }
}

/// The door's answer to a scan: 200 with `result` `ADMITTED`, or 409 (the error envelope
/// with `code` `ALREADY_CHECKED_IN` — `CONFLICT` as `result` when the scan was made offline
/// and both went in — or `TICKET_REVOKED`), with the seat and holder, and the ticket's
/// first admission when this scan was not it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckinView {
    #[schema(example = "ADMITTED")]
    pub result: &'static str,
    pub ticket: i64,
    pub seat: TicketSeat,
    /// The holder's nickname (else username).
    pub holder: String,
    pub scan: ScanView,
    /// The admission, when this scan was refused or a conflict.
    #[schema(required)]
    pub first_scan: Option<ScanView>,
    /// 409 only: what went wrong, for people.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub message: Option<String>,
    /// 409 only: `ALREADY_CHECKED_IN` or `TICKET_REVOKED`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub code: Option<&'static str>,
    /// 409 only: always empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, value_type = Option<Vec<super::docs::FieldErrorSchema>>)]
    pub errors: Option<Vec<FieldError>>,
}

/// A scan at the door, by the concert's promoter, an administrator or a check-in token of
/// the concert. The database admits a ticket once: the same ticket at two doors at once
/// is admitted at one. A scan made offline (`scannedAt` in the past) is kept in scan order;
/// a second admission of a ticket made offline is recorded as a conflict, never dropped.
#[utoipa::path(post, path = "/concerts/{id}/checkins", tag = "door", security(("bearer" = [])),
    params(("id" = i64, Path, description = "concert id")),
    request_body = ScanRequest,
    responses(
        (status = 200, description = "ADMITTED", body = Data<CheckinView>),
        (status = 400, description = "INVALID_CODE (bad signature, another concert, no such ticket), or bad fields", body = ErrorBody),
        (status = 401, description = "no valid token", body = ErrorBody),
        (status = 403, description = "not the promoter, an administrator or this concert's check-in token", body = ErrorBody),
        (status = 404, description = "no such concert", body = ErrorBody),
        (status = 409, description = "ALREADY_CHECKED_IN (result CONFLICT for an offline admission) or TICKET_REVOKED", body = CheckinView),
    ))]
async fn check_in(
    State(state): State<AppState>,
    door: Door,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<ScanRequest>,
) -> Result<Response, ApiError> {
    let input = ScanInput {
        code: body.code,
        scanned_at: body.scanned_at,
        device_id: body.device_id,
        nonce: body.nonce,
    };
    let checkin = match state.tickets.check_in(&door, id, input).await {
        Ok(checkin) => checkin,
        Err(CheckinError::InvalidCode(why)) => {
            return Err(ApiError::Refused {
                code: "INVALID_CODE",
                message: format!("not a valid ticket: {why}"),
            });
        }
        Err(CheckinError::Service(e)) => return Err(e.into()),
    };
    let ticket = checkin.ticket;
    let result = checkin.scan.result;
    let holder = ticket.holder_nickname.clone().unwrap_or_else(|| ticket.holder_username.clone());
    let first_scan = match result {
        CheckinResult::Admitted => None,
        _ => ticket.admitted.clone().filter(|a| a.id != checkin.scan.id).map(ScanView::from),
    };
    let refusal = match result {
        CheckinResult::Admitted => None,
        CheckinResult::TicketRevoked => Some((
            "TICKET_REVOKED",
            match ticket.status {
                TicketStatus::Revoked => "the ticket was cancelled".to_owned(),
                TicketStatus::Valid => "this code was replaced: the ticket changed hands".to_owned(),
            },
        )),
        CheckinResult::AlreadyCheckedIn | CheckinResult::Conflict => Some((
            "ALREADY_CHECKED_IN",
            match &first_scan {
                Some(first) => format!(
                    "already checked in at {}{}",
                    first.scanned_at.format("%H:%M:%S UTC"),
                    first.device_id.as_deref().map(|d| format!(" by {d}")).unwrap_or_default()
                ),
                None => "already checked in".to_owned(),
            },
        )),
    };
    let view = CheckinView {
        result: result.as_str(),
        ticket: ticket.id,
        seat: TicketSeat::new(ticket.seat, ticket.grade),
        holder,
        scan: checkin.scan.into(),
        first_scan,
        message: refusal.as_ref().map(|(_, m)| m.clone()),
        code: refusal.as_ref().map(|(c, _)| *c),
        errors: refusal.as_ref().map(|_| Vec::new()),
    };
    Ok(match refusal {
        None => Json(Data::new(view)).into_response(),
        Some(_) => (StatusCode::CONFLICT, Json(view)).into_response(),
    })
}

/// `?result=` of the scan list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ScanFilter {
    /// Only scans with this answer (`CONFLICT`: second admissions made offline).
    pub result: Option<String>,
}

/// The concert's scans in scan order, for its promoter and administrators.
#[utoipa::path(get, path = "/concerts/{id}/checkins", tag = "door", security(("bearer" = [])),
    params(("id" = i64, Path, description = "concert id"), ScanFilter),
    responses(
        (status = 200, description = "the scans", body = Data<Vec<ScanView>>),
        (status = 400, description = "a bad result", body = ErrorBody),
        (status = 401, description = "no valid token", body = ErrorBody),
        (status = 403, description = "not the concert's promoter or an administrator", body = ErrorBody),
        (status = 404, description = "no such concert", body = ErrorBody),
    ))]
async fn checkins(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
    uri: Uri,
) -> Result<Json<Data<Vec<ScanView>>>, ApiError> {
    let filter = query::<ScanFilter>(&uri)?;
    let result = match filter.result.as_deref() {
        None => None,
        Some(raw) => Some(
            CheckinResult::parse(raw)
                .map_err(|message| ApiError::Invalid(vec![FieldError { field: "result".into(), message }]))?,
        ),
    };
    let scans = state.tickets.checkins(&principal, id, result).await?;
    Ok(Json(Data::new(scans.into_iter().map(ScanView::from).collect())))
}

/// What a scanner verifies codes with.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DoorKey {
    pub concert_id: i64,
    #[schema(example = "Ed25519")]
    pub algorithm: &'static str,
    /// The 32-byte public key, base64url without padding (WebCrypto's `raw` format).
    pub public_key: String,
}

/// The public key codes are signed with, for a scanner of the concert (offline too).
#[utoipa::path(get, path = "/concerts/{id}/checkin/key", tag = "door", security(("bearer" = [])),
    params(("id" = i64, Path, description = "concert id")),
    responses(
        (status = 200, description = "the key", body = Data<DoorKey>),
        (status = 401, description = "no valid token", body = ErrorBody),
        (status = 403, description = "not the promoter, an administrator or this concert's check-in token", body = ErrorBody),
        (status = 404, description = "no such concert", body = ErrorBody),
    ))]
async fn door_key(
    State(state): State<AppState>,
    door: Door,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Data<DoorKey>>, ApiError> {
    let public_key = state.tickets.door_key(&door, id).await?;
    Ok(Json(Data::new(DoorKey { concert_id: id, algorithm: "Ed25519", public_key })))
}

/// A ticket as an offline scanner keeps it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DoorTicketView {
    pub id: i64,
    /// The current version: codes of older versions are revoked.
    pub version: i64,
    /// `VALID` or `REVOKED` (every version).
    pub status: &'static str,
    pub seat: TicketSeat,
    pub holder: String,
    #[schema(required)]
    pub checked_in_at: Option<DateTime<Utc>>,
}

/// A code revoked: every code of the ticket up to and including `version`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Revoked {
    pub ticket: i64,
    pub version: i64,
}

/// The tickets an offline scanner keeps, and the codes it refuses.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DoorList {
    /// Send as `since` next time for the changes only.
    pub as_of: DateTime<Utc>,
    pub tickets: Vec<DoorTicketView>,
    /// The revocation list: cancelled tickets, and the old codes of transferred ones.
    pub revoked: Vec<Revoked>,
}

/// `?since=` of the ticket list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SinceQuery {
    /// The `asOf` of an earlier download: only what changed since (RFC 3339).
    pub since: Option<DateTime<Utc>>,
}

/// The concert's tickets and revocation list for scanners that work offline: all of them,
/// or what changed since an earlier download.
#[utoipa::path(get, path = "/concerts/{id}/checkin/tickets", tag = "door", security(("bearer" = [])),
    params(("id" = i64, Path, description = "concert id"), SinceQuery),
    responses(
        (status = 200, description = "the tickets", body = Data<DoorList>),
        (status = 400, description = "a bad since", body = ErrorBody),
        (status = 401, description = "no valid token", body = ErrorBody),
        (status = 403, description = "not the promoter, an administrator or this concert's check-in token", body = ErrorBody),
        (status = 404, description = "no such concert", body = ErrorBody),
    ))]
async fn door_tickets(
    State(state): State<AppState>,
    door: Door,
    ApiPath(id): ApiPath<i64>,
    uri: Uri,
) -> Result<Json<Data<DoorList>>, ApiError> {
    let since = query::<SinceQuery>(&uri)?.since;
    let list = state.tickets.door_list(&door, id, since).await?;
    let revoked = list
        .tickets
        .iter()
        .filter_map(|t| match t.status {
            TicketStatus::Revoked => Some(Revoked { ticket: t.id, version: t.version }),
            TicketStatus::Valid if t.version > 1 => Some(Revoked { ticket: t.id, version: t.version - 1 }),
            TicketStatus::Valid => None,
        })
        .collect();
    let tickets = list
        .tickets
        .into_iter()
        .map(|t: DoorTicket| DoorTicketView {
            id: t.id,
            version: t.version,
            status: t.status.as_str(),
            seat: TicketSeat::new(t.seat, t.grade),
            holder: t.holder,
            checked_in_at: t.admitted_at,
        })
        .collect();
    Ok(Json(Data::new(DoorList { as_of: list.as_of, tickets, revoked })))
}

/// Admitted and sold, of one grade.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GradeStats {
    pub grade: String,
    pub admitted: i64,
    pub total: i64,
}

/// The door's figures.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DoorStats {
    pub admitted: i64,
    pub total: i64,
    /// Second admissions made offline and reported.
    pub conflicts: i64,
    pub grades: Vec<GradeStats>,
}

/// Admitted and sold tickets, per grade.
#[utoipa::path(get, path = "/concerts/{id}/checkin/stats", tag = "door", security(("bearer" = [])),
    params(("id" = i64, Path, description = "concert id")),
    responses(
        (status = 200, description = "the figures", body = Data<DoorStats>),
        (status = 401, description = "no valid token", body = ErrorBody),
        (status = 403, description = "not the promoter, an administrator or this concert's check-in token", body = ErrorBody),
        (status = 404, description = "no such concert", body = ErrorBody),
    ))]
async fn door_stats(
    State(state): State<AppState>,
    door: Door,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Data<DoorStats>>, ApiError> {
    let stats = state.tickets.stats(&door, id).await?;
    let grades: Vec<GradeStats> = stats
        .grades
        .into_iter()
        .map(|g| GradeStats { grade: g.grade.to_string(), admitted: g.admitted, total: g.total })
        .collect();
    Ok(Json(Data::new(DoorStats {
        admitted: grades.iter().map(|g| g.admitted).sum(),
        total: grades.iter().map(|g| g.total).sum(),
        conflicts: stats.conflicts,
        grades,
    })))
}

/// A new check-in token.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewTokenRequest {
    /// What it is for (e.g. "North gate, phone 2"), 1–100 characters.
    pub name: String,
}

/// A check-in token.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenView {
    pub id: i64,
    pub concert_id: i64,
    pub name: String,
    pub created_by: i64,
    pub created_at: DateTime<Utc>,
    #[schema(required)]
    pub revoked_at: Option<DateTime<Utc>>,
    /// The secret (`ct_…`), only in the answer that made it: send it as
    /// `Authorization: Bearer` from the door's phone.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub token: Option<String>,
}

impl TokenView {
    fn new(t: CheckinTokenRecord, token: Option<String>) -> Self {
        Self {
            id: t.id,
            concert_id: t.concert_id,
            name: t.name,
            created_by: t.created_by,
            created_at: t.created_at,
            revoked_at: t.revoked_at,
            token,
        }
    }
}

/// A token for door staff: it checks in for this concert only, until revoked.
#[utoipa::path(post, path = "/concerts/{id}/checkin/tokens", tag = "door", security(("bearer" = [])),
    params(("id" = i64, Path, description = "concert id")),
    request_body = NewTokenRequest,
    responses(
        (status = 201, description = "the token, with its secret (shown once)", body = Data<TokenView>),
        (status = 400, description = "a bad name", body = ErrorBody),
        (status = 401, description = "no valid token", body = ErrorBody),
        (status = 403, description = "not the concert's promoter or an administrator", body = ErrorBody),
        (status = 404, description = "no such concert", body = ErrorBody),
    ))]
async fn create_token(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<NewTokenRequest>,
) -> Result<(StatusCode, Json<Data<TokenView>>), ApiError> {
    let (record, token) = state.tickets.create_token(&principal, id, &body.name).await?;
    Ok((StatusCode::CREATED, Json(Data::new(TokenView::new(record, Some(token))))))
}

/// The concert's check-in tokens (without their secrets).
#[utoipa::path(get, path = "/concerts/{id}/checkin/tokens", tag = "door", security(("bearer" = [])),
    params(("id" = i64, Path, description = "concert id")),
    responses(
        (status = 200, description = "the tokens", body = Data<Vec<TokenView>>),
        (status = 401, description = "no valid token", body = ErrorBody),
        (status = 403, description = "not the concert's promoter or an administrator", body = ErrorBody),
        (status = 404, description = "no such concert", body = ErrorBody),
    ))]
async fn tokens(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Data<Vec<TokenView>>>, ApiError> {
    let tokens = state.tickets.tokens(&principal, id).await?;
    Ok(Json(Data::new(tokens.into_iter().map(|t| TokenView::new(t, None)).collect())))
}

/// Revokes a check-in token: it checks in no more.
#[utoipa::path(delete, path = "/concerts/{id}/checkin/tokens/{tokenId}", tag = "door", security(("bearer" = [])),
    params(("id" = i64, Path, description = "concert id"), ("tokenId" = i64, Path, description = "token id")),
    responses(
        (status = 204, description = "revoked"),
        (status = 400, description = "an id is not a number", body = ErrorBody),
        (status = 401, description = "no valid token", body = ErrorBody),
        (status = 403, description = "not the concert's promoter or an administrator", body = ErrorBody),
        (status = 404, description = "no such concert or token", body = ErrorBody),
    ))]
async fn revoke_token(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((id, token_id)): ApiPath<(i64, i64)>,
) -> Result<StatusCode, ApiError> {
    state.tickets.revoke_token(&principal, id, token_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Everyone holding a valid ticket, by seat, with when they were admitted: CSV for the
/// promoter (`ticket,section,row,seat,grade,username,nickname,email,checked_in_at,device`).
#[utoipa::path(get, path = "/concerts/{id}/attendees.csv", tag = "door", security(("bearer" = [])),
    params(("id" = i64, Path, description = "concert id")),
    responses(
        (status = 200, description = "the attendee list", body = String, content_type = "text/csv"),
        (status = 401, description = "no valid token", body = ErrorBody),
        (status = 403, description = "not the concert's promoter or an administrator", body = ErrorBody),
        (status = 404, description = "no such concert", body = ErrorBody),
    ))]
async fn attendees_csv(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    // Fused: after a first `None` (no attendee), the rest must not poll the stream again.
    let mut attendees = Box::pin(state.tickets.attendees(&principal, id).await?.fuse());
    // The first row (or the end) before the answer: a query that fails at once is a 500,
    // not a cut-off 200. A failure later can only cut the body short.
    let first = attendees.next().await.transpose().map_err(ServiceError::from)?;
    let head = futures_util::stream::iter(
        std::iter::once(Ok(Bytes::from_static(CSV_HEADER.as_bytes())))
            .chain(first.map(|a| Ok(Bytes::from(csv_line(a))))),
    );
    // Rows that are already there go out together, in one chunk.
    let rest = attendees.ready_chunks(64).map(|rows| {
        let mut chunk = String::new();
        for row in rows {
            chunk.push_str(&csv_line(row?));
        }
        Ok::<_, StoreError>(Bytes::from(chunk))
    });
    let disposition = format!("attachment; filename=\"concert-{id}-attendees.csv\"");
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        Body::from_stream(head.chain(rest)),
    )
        .into_response())
}

/// The attendee export's first line.
const CSV_HEADER: &str = "ticket,section,row,seat,grade,username,nickname,email,checked_in_at,device\n";

/// One attendee as a line of the export.
fn csv_line(a: Attendee) -> String {
    let fields = [
        a.ticket_id.to_string(),
        a.seat.section.to_string(),
        a.seat.horizontal.to_string(),
        a.seat.vertical.to_string(),
        a.grade.to_string(),
        a.holder_username,
        a.holder_nickname.unwrap_or_default(),
        a.holder_email,
        a.admitted_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
        a.device_id.unwrap_or_default(),
    ];
    let mut line = fields.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(",");
    line.push('\n');
    line
}

/// One CSV field (RFC 4180), with a leading `=`, `+`, `-` or `@` defused so that a
/// spreadsheet does not run a name as a formula.
fn csv_field(value: &str) -> String {
    let value = match value.chars().next() {
        Some('=' | '+' | '-' | '@') => format!("'{value}"),
        _ => value.to_owned(),
    };
    if value.contains([',', '"', '\n', '\r']) { format!("\"{}\"", value.replace('"', "\"\"")) } else { value }
}

/// The query string as `T`, a bad one a 400.
fn query<T: serde::de::DeserializeOwned>(uri: &Uri) -> Result<T, ApiError> {
    axum::extract::Query::<T>::try_from_uri(uri)
        .map(|q| q.0)
        .map_err(|e| ApiError::Invalid(vec![FieldError { field: "query".into(), message: e.body_text() }]))
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=SUM(A1)"), "'=SUM(A1)");
        assert_eq!(csv_field("-1"), "'-1");
    }
}
