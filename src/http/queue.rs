//! The waiting room: `POST /concerts/{id}/queue`, `GET /concerts/{id}/queue/me`,
//! `GET /concerts/{id}/queue/events`, and for the room's owner `GET|PATCH /concerts/{id}/queue`.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath};
use super::{AppState, Data};
use crate::auth::Principal;
use crate::service::queue::{FanState, Place, RoomStats};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(join, room_stats, change_room))
        .routes(routes!(my_place))
        .routes(routes!(place_events))
}

/// A comment line this often keeps proxies and browsers from closing an idle stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// A fan's place in a waiting room.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueueView {
    /// `WAITING`, `ADMITTED` (book now, with `pass` if there is one), `EXPIRED` (the
    /// pass ran out) or `SOLD_OUT`.
    #[schema(example = "WAITING")]
    pub state: &'static str,
    /// 1: next in. Null before sales open (the order is settled then) and once let in.
    #[schema(required, example = 1532)]
    pub position: Option<u64>,
    pub joined_at: DateTime<Utc>,
    /// At the room's current rate; null when not known (before sales open, paused).
    #[schema(required, example = 153)]
    pub estimated_wait_seconds: Option<u64>,
    /// Send it as header `Queue-Pass` when booking; null unless `ADMITTED` by the ticker.
    #[schema(required)]
    pub pass: Option<String>,
    #[schema(required)]
    pub pass_expires_at: Option<DateTime<Utc>>,
}

impl From<Place> for QueueView {
    fn from(p: Place) -> Self {
        Self {
            state: p.state.as_str(),
            position: p.position,
            joined_at: p.joined_at,
            estimated_wait_seconds: p.estimated_wait_seconds,
            pass: p.pass,
            pass_expires_at: p.pass_expires_at,
        }
    }
}

/// A waiting room as its owner sees it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoomView {
    pub concert_id: i64,
    /// `SCHEDULED` (before `opensAt`), `OPEN` (fans join, sales not open), `ADMITTING`,
    /// `PAUSED` or `ENDED`.
    #[schema(example = "ADMITTING")]
    pub state: &'static str,
    pub opens_at: DateTime<Utc>,
    pub sales_open_at: DateTime<Utc>,
    pub admit_per_minute: i64,
    pub pass_minutes: i64,
    /// Fans who joined, are still waiting, and were let in.
    pub joined: u64,
    pub waiting: u64,
    pub admitted: u64,
    #[schema(required)]
    pub ended_at: Option<DateTime<Utc>>,
    /// `OWNER` or `SOLD_OUT`; null while the room is on.
    #[schema(required, example = "SOLD_OUT")]
    pub ended_by: Option<String>,
}

impl From<RoomStats> for RoomView {
    fn from(stats: RoomStats) -> Self {
        let waiting = stats.waiting();
        let RoomStats { room, state, counts } = stats;
        let (ended_at, ended_by) = room.ended.map_or((None, None), |(at, by)| (Some(at), Some(by)));
        Self {
            concert_id: room.concert_id,
            state: state.as_str(),
            opens_at: room.settings.opens_at,
            sales_open_at: room.sales_open_at,
            admit_per_minute: room.settings.admit_per_minute,
            pass_minutes: room.settings.pass_minutes,
            joined: counts.joined,
            waiting,
            admitted: counts.admitted,
            ended_at,
            ended_by,
        }
    }
}

/// A change of a waiting room by its owner; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoomChangeRequest {
    /// The new rate.
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub admit_per_minute: Option<i64>,
    /// `true` stops letting fans in; `false` goes on.
    pub paused: Option<bool>,
    /// `true` ends the room for good: booking needs no pass any more.
    pub ended: Option<bool>,
}

/// Joins the concert's waiting room. Joining again answers the same place (200).
#[utoipa::path(post, path = "/concerts/{id}/queue", tag = "queue", security(("bearer" = [])),
    params(("id" = i64, Path, description = "concert id")),
    responses(
        (status = 201, description = "placed in the room", body = Data<QueueView>),
        (status = 200, description = "already in the room: the same place", body = Data<QueueView>),
        (status = 401, description = "no valid token", body = ErrorBody),
        (status = 404, description = "no such concert, or it has no waiting room", body = ErrorBody),
        (status = 409, description = "QUEUE_NOT_OPEN (before its opensAt), QUEUE_ENDED or CONCERT_STARTED", body = ErrorBody),
    ))]
async fn join(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(concert_id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    let (place, new) = state.queue.join(&principal, concert_id).await?;
    let status = if new { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(Data::new(QueueView::from(place)))).into_response())
}

/// The caller's place in the concert's waiting room; once let in, the pass to book with.
#[utoipa::path(get, path = "/concerts/{id}/queue/me", tag = "queue", security(("bearer" = [])),
    params(("id" = i64, Path, description = "concert id")),
    responses(
        (status = 200, description = "the caller's place", body = Data<QueueView>),
        (status = 401, description = "no valid token", body = ErrorBody),
        (status = 404, description = "no waiting room, or the caller has not joined it", body = ErrorBody),
    ))]
async fn my_place(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(concert_id): ApiPath<i64>,
) -> Result<Json<Data<QueueView>>, ApiError> {
    Ok(Json(Data::new(state.queue.mine(&principal, concert_id).await?.into())))
}

/// The caller's place, live: a `place` event now and whenever it changes (at most once
/// a second), carrying the same JSON as `GET /concerts/{id}/queue/me`. The stream ends
/// after a place that is final (`ADMITTED`, `EXPIRED`, `SOLD_OUT`).
#[utoipa::path(get, path = "/concerts/{id}/queue/events", tag = "queue", security(("bearer" = [])),
    params(("id" = i64, Path, description = "concert id")),
    responses(
        (status = 200, description = "text/event-stream of `place` events (data: the place envelope) and a keep-alive comment every 15 s",
            content_type = "text/event-stream", body = String),
        (status = 401, description = "no valid token", body = ErrorBody),
        (status = 404, description = "no waiting room, or the caller has not joined it", body = ErrorBody),
    ))]
async fn place_events(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(concert_id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    let (place, pulses, follower) = state.queue.follow(&principal, concert_id).await?;
    let first = event(&place)?;
    let done = is_final(&place);
    let stream = futures_util::stream::unfold(
        (Some(first), done, place, pulses, follower, state),
        |(first, done, last, mut pulses, mut follower, state)| async move {
            if let Some(first) = first {
                return Some((Ok::<_, Infallible>(first), (None, done, last, pulses, follower, state)));
            }
            if done {
                return None;
            }
            loop {
                pulses.changed().await.ok()?;
                let Some(pulse) = *pulses.borrow_and_update() else { continue };
                let place = match state.queue.followed(&mut follower, pulse).await {
                    Ok(place) => place,
                    Err(e) => {
                        tracing::warn!(error = %e, "waiting room place could not be read");
                        continue;
                    }
                };
                if place == last {
                    continue;
                }
                let done = is_final(&place);
                let event = event(&place).ok()?;
                return Some((Ok(event), (None, done, place, pulses, follower, state)));
            }
        },
    );
    let mut response = Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)).into_response();
    response.headers_mut().insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

fn is_final(place: &Place) -> bool {
    place.state != FanState::Waiting
}

fn event(place: &Place) -> Result<Event, ApiError> {
    let view = Data::new(QueueView::from(place.clone()));
    Event::default().event("place").json_data(view).map_err(|e| ApiError::Internal(e.into()))
}

/// The waiting room's settings and counts, for the concert's promoter or an administrator.
#[utoipa::path(get, path = "/concerts/{id}/queue", tag = "queue", security(("bearer" = [])),
    params(("id" = i64, Path, description = "concert id")),
    responses(
        (status = 200, description = "the room", body = Data<RoomView>),
        (status = 401, description = "no valid token", body = ErrorBody),
        (status = 403, description = "not the concert's promoter or an administrator", body = ErrorBody),
        (status = 404, description = "no such concert, or it has no waiting room", body = ErrorBody),
    ))]
async fn room_stats(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(concert_id): ApiPath<i64>,
) -> Result<Json<Data<RoomView>>, ApiError> {
    Ok(Json(Data::new(state.queue.stats(&principal, concert_id).await?.into())))
}

/// Changes the waiting room's rate, pauses or resumes it, or ends it.
#[utoipa::path(patch, path = "/concerts/{id}/queue", tag = "queue", security(("bearer" = [])),
    params(("id" = i64, Path, description = "concert id")),
    request_body = RoomChangeRequest,
    responses(
        (status = 200, description = "the room as changed", body = Data<RoomView>),
        (status = 400, description = "a rate out of range, or `ended: false`", body = ErrorBody),
        (status = 401, description = "no valid token", body = ErrorBody),
        (status = 403, description = "not the concert's promoter or an administrator", body = ErrorBody),
        (status = 404, description = "no such concert, or it has no waiting room", body = ErrorBody),
        (status = 409, description = "QUEUE_ENDED: an ended room does not change", body = ErrorBody),
    ))]
async fn change_room(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(concert_id): ApiPath<i64>,
    ApiJson(body): ApiJson<RoomChangeRequest>,
) -> Result<Json<Data<RoomView>>, ApiError> {
    if body.ended == Some(false) {
        return Err(ApiError::Invalid(vec![crate::domain::FieldError {
            field: "ended".into(),
            message: "an ended room cannot be reopened; leave it out to keep the room on".into(),
        }]));
    }
    let stats = state
        .queue
        .change(&principal, concert_id, body.admit_per_minute, body.paused, body.ended == Some(true))
        .await?;
    Ok(Json(Data::new(stats.into())))
}
