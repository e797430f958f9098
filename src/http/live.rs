//! Live seat maps: a server-sent event stream per concert, so a fan's page shows seats
//! turning taken while the fan looks at it, without polling.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};
use tokio::time::Instant;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::concerts::seat_map_body;
use super::error::{ApiError, ErrorBody};
use super::extract::ApiPath;
use crate::cache::EncodedSeatMap;
use crate::seat_news::SeatMapNews;
use crate::service::ServiceError;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(seat_events))
}

/// Least time between two maps sent to one page: during a rush a page gets a fresh map
/// twice a second, not once per booking. Each map is a few kilobytes per watcher, so this
/// bounds what thousands of open pages cost the service while it books.
const MIN_INTERVAL: Duration = Duration::from_millis(500);
/// A comment line this often keeps proxies and browsers from closing an idle stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The seat map of a concert, live: a `seats` event now and after every change, each
/// carrying the same JSON as `GET /concerts/{id}/seats` and the map's version as its `id`.
/// A reconnecting `EventSource` sends `Last-Event-ID` and gets a map only if it changed.
/// When the concert is deleted a `gone` event ends the stream.
#[utoipa::path(get, path = "/concerts/{id}/seats/events", tag = "seats",
    params(
        ("id" = i64, Path, description = "concert id"),
        ("Last-Event-ID" = Option<i64>, Header, nullable = false, description = "the version the client already has"),
    ),
    responses(
        (status = 200, description = "text/event-stream of `seats` events (data: the seat map envelope, id: its version), a `gone` event if the concert is deleted, and a keep-alive comment every 15 s",
            content_type = "text/event-stream", body = String),
        (status = 400, description = "the id is not a number", body = ErrorBody),
        (status = 404, description = "no such concert", body = ErrorBody),
    ))]
async fn seat_events(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    // Subscribed before reading the map, so no change between the two goes unheard.
    let news = state.bookings.watch(id);
    let map = state.bookings.seat_map(id, seat_map_body).await?;
    let known =
        headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<i64>().ok());
    let watch = Watch { state, id, news, sent: known, last_sent_at: None, first: Some(map) };
    let mut response =
        Sse::new(watch.into_stream()).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)).into_response();
    // Tells buffering proxies (nginx) to pass events on at once.
    response.headers_mut().insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

/// One page's watch of one concert.
struct Watch {
    state: AppState,
    id: i64,
    news: broadcast::Receiver<SeatMapNews>,
    /// The version the page has.
    sent: Option<i64>,
    last_sent_at: Option<Instant>,
    /// The map read when the stream opened.
    first: Option<Arc<EncodedSeatMap>>,
}

/// What the watch does next.
enum Next {
    Send(Event),
    /// Send this event, then end the stream.
    Last(Event),
    End,
}

impl Watch {
    fn into_stream(self) -> impl Stream<Item = Result<Event, Infallible>> + Send {
        futures_util::stream::unfold(Some(self), |watch| async move {
            let mut watch = watch?;
            match watch.next().await {
                Next::Send(event) => Some((Ok(event), Some(watch))),
                Next::Last(event) => Some((Ok(event), None)),
                Next::End => None,
            }
        })
    }

    async fn next(&mut self) -> Next {
        if let Some(map) = self.first.take()
            && self.sent != Some(map.version)
        {
            return self.send(&map);
        }
        loop {
            if !self.wait_for_news().await {
                return Next::End;
            }
            if let Some(at) = self.last_sent_at {
                tokio::time::sleep_until(at + MIN_INTERVAL).await;
            }
            // Whatever came in meanwhile is answered by the one map read below.
            if !self.drain() {
                return Next::End;
            }
            match self.state.bookings.seat_map(self.id, seat_map_body).await {
                // An older or equal version: a stale snapshot served while another reader
                // rebuilds; its `Rebuilt` news brings this watch back here.
                Ok(map) if self.sent.is_none_or(|sent| map.version > sent) => return self.send(&map),
                Ok(_) => {}
                Err(ServiceError::NotFound(_)) => {
                    return Next::Last(
                        Event::default().event("gone").data("the concert is no longer on sale"),
                    );
                }
                Err(e) => {
                    tracing::warn!(concert_id = self.id, error = %e, "live seat map could not be read");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    fn send(&mut self, map: &EncodedSeatMap) -> Next {
        self.sent = Some(map.version);
        self.last_sent_at = Some(Instant::now());
        Next::Send(
            Event::default()
                .event("seats")
                .id(map.version.to_string())
                .data(String::from_utf8_lossy(&map.body)),
        )
    }

    /// Waits until this concert's map may have changed; false when the stream must end.
    async fn wait_for_news(&mut self) -> bool {
        loop {
            if self.state.bookings.news_closed() {
                return false;
            }
            match self.news.recv().await {
                Ok(news) if news.may_change(self.id, self.sent) => return true,
                Ok(SeatMapNews::Closing) | Err(RecvError::Closed) => return false,
                Ok(_) => {}
                // Fell behind: some of the missed news may have been ours.
                Err(RecvError::Lagged(_)) => return true,
            }
        }
    }

    /// Empties the queue of news; false when the stream must end.
    fn drain(&mut self) -> bool {
        loop {
            match self.news.try_recv() {
                Ok(SeatMapNews::Closing) | Err(TryRecvError::Closed) => return false,
                Ok(_) | Err(TryRecvError::Lagged(_)) => {}
                Err(TryRecvError::Empty) => return !self.state.bookings.news_closed(),
            }
        }
    }
}
