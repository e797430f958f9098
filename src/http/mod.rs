//! HTTP: the router, extractors, DTOs and the mapping of errors to responses. Handlers are
//! thin: parse the request into domain values, call auth or the store, shape the answer.

mod admin;
mod audit;
mod auditoriums;
mod concerts;
mod docs;
pub mod error;
pub mod extract;
mod images;
mod live;
pub mod ops;
mod reservations;
mod sales;
pub mod server;
mod users;
mod web;

use std::sync::Arc;

use std::future::Future;
use std::time::Duration;

use axum::BoxError;
use axum::error_handling::HandleErrorLayer;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use axum::{Router, middleware};
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Serialize;
use tower::ServiceBuilder;
use tower::layer::util::{Identity, Stack};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::auth::Auth;
use crate::cache::{Catalog, SeatMapCache};
use crate::gate::SeatGate;
use crate::posters::PosterStore;
use crate::store::Store;
use crate::throttle::Throttle;
pub use concerts::seat_map_body;
use error::ApiError;

/// Largest JSON body accepted anywhere but on uploads.
pub const JSON_BODY_LIMIT: usize = 64 * 1024;

/// What every handler can reach: one shared [`Services`], so that the several copies a
/// request takes (one per extractor and middleware) cost one reference count each.
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl AppState {
    pub fn new(services: Services) -> Self {
        Self(Arc::new(services))
    }
}

impl std::ops::Deref for AppState {
    type Target = Services;
    fn deref(&self) -> &Services {
        &self.0
    }
}

/// The service's parts, as handlers reach them through [`AppState`].
pub struct Services {
    pub store: Arc<dyn Store>,
    pub auth: Arc<Auth>,
    pub metrics: PrometheusHandle,
    pub catalog: Arc<dyn Catalog>,
    pub seat_maps: Arc<dyn SeatMapCache>,
    /// News of seat-map changes for live watchers (told by `seat_maps`).
    pub seat_news: Arc<crate::seat_news::SeatNews>,
    pub posters: PosterStore,
    pub gate: Arc<dyn SeatGate>,
    pub throttle: Arc<Throttle>,
    pub edge: Edge,
    /// The shared Redis, if any: only `/ready` looks at it.
    pub shared_state: Option<crate::shared_state::SharedState>,
}

/// How the service meets the open internet.
#[derive(Debug, Clone, Default)]
pub struct Edge {
    /// Header a trusted load balancer puts the client address in; `None`: the TCP peer.
    pub client_address_header: Option<HeaderName>,
    /// Origins allowed to call cross-origin from a browser; empty: CORS off.
    pub cors_origins: Vec<HeaderValue>,
}

/// The success envelope: `{"data": ...}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Data<T> {
    pub data: T,
}

impl<T> Data<T> {
    pub fn new(data: T) -> Self {
        Self { data }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "tickitecking", description = "Concert ticket booking: every seat sold at most once."),
    components(schemas(error::ErrorBody)),
    modifiers(&BearerAuth),
    tags(
        (name = "users", description = "Accounts and sessions"),
        (name = "auditoriums", description = "Venues"),
        (name = "concerts", description = "Concerts and posters"),
        (name = "seats", description = "Seat maps"),
        (name = "admin", description = "Operators only"),
        (name = "ops", description = "Health, readiness and metrics"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build(),
            ),
        );
    }
}

/// The routes of the API with their OpenAPI document, built together so that no route
/// can be served without being documented.
pub fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (routes, mut openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest(
            "/api/v1",
            OpenApiRouter::new()
                .merge(users::router())
                .merge(admin::router())
                .merge(audit::router())
                .merge(auditoriums::router())
                .merge(concerts::router())
                .merge(images::router())
                .merge(reservations::router())
                .merge(live::router())
                .merge(sales::router()),
        )
        .merge(ops::router())
        .split_for_parts();
    docs::document_shared_errors(&mut openapi);
    docs::document_links(&mut openapi);
    docs::reference_envelope_contents(&mut openapi);
    (routes, openapi)
}

/// Runs `work` to completion even if the request that started it is dropped (the client
/// hung up, the request timed out). For work that commits and then brings the in-memory
/// views (seat gate, seat maps, caches) up to date: stopping between the two would leave
/// a view that disagrees with the database, e.g. a gate refusing a seat that was freed.
///
/// The request's own task runs `work`; only if the request is dropped first does what is
/// left of it move to a task of its own. (A task per request cost a spawn, a second wake-up
/// and a join on every booking.)
pub(crate) fn to_completion<T, F>(work: F) -> ToCompletion<F>
where
    T: Send + 'static,
    F: Future<Output = Result<T, ApiError>> + Send + 'static,
{
    ToCompletion { work: Some(Box::pin(work)) }
}

/// The future of [`to_completion`].
pub(crate) struct ToCompletion<F: Future<Output: Send + 'static> + Send + 'static> {
    /// `None` once finished.
    work: Option<std::pin::Pin<Box<F>>>,
}

impl<F: Future<Output: Send + 'static> + Send + 'static> Future for ToCompletion<F> {
    type Output = F::Output;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        let Some(work) = self.work.as_mut() else {
            panic!("ToCompletion polled after it finished");
        };
        let output = std::task::ready!(work.as_mut().poll(cx));
        self.work = None;
        std::task::Poll::Ready(output)
    }
}

impl<F: Future<Output: Send + 'static> + Send + 'static> Drop for ToCompletion<F> {
    fn drop(&mut self) {
        // Abandoned midway: the rest runs on. (Not while unwinding from a panic inside the
        // work itself: that work cannot be resumed.)
        if let Some(work) = self.work.take()
            && !std::thread::panicking()
        {
            tokio::spawn(work);
        }
    }
}

/// Bounds that keep the service answering under overload.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Requests handled at once; past it, new requests get an immediate 503.
    pub max_in_flight: usize,
    /// Longest a request may take before it is answered with 503.
    pub request_timeout: Duration,
    /// Longest a client may take to send a request's headers.
    pub header_read_timeout: Duration,
    /// Longest to wait for in-flight requests at shutdown.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_in_flight: 4096,
            request_timeout: Duration::from_secs(30),
            header_read_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// The whole service.
pub fn router(state: AppState, limits: Limits) -> Router {
    let cors = cors(&state.edge);
    let (routes, openapi) = api();
    let app = routes
        .merge(SwaggerUi::new("/docs").url("/api-docs/openapi.json", openapi))
        .merge(web::router())
        .fallback(web::fallback)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(middleware::from_fn(ops::track))
        .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT))
        .layer(CatchPanicLayer::custom(|_: Box<dyn std::any::Any + Send>| -> Response {
            ApiError::Internal(anyhow::anyhow!("handler panicked")).into_response()
        }))
        .with_state(state);
    // Around the whole app (one route here, so one shared bound): past the in-flight
    // limit a request is shed at once instead of queueing, so latency stays bounded and
    // the client knows to retry.
    Router::new()
        .fallback_service(app)
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(overloaded))
                .load_shed()
                .concurrency_limit(limits.max_in_flight)
                .timeout(limits.request_timeout),
        )
        .layer(tower::util::option_layer(cors))
        .layer(security_headers())
        .layer(TraceLayer::new_for_http())
}

type SetHeader = SetResponseHeaderLayer<HeaderValue>;
type SecurityHeaders = Stack<SetHeader, Stack<SetHeader, Stack<SetHeader, Identity>>>;

/// Security headers on every response, shed and failed ones included. The one place for
/// them: a route that needs other values (a page's CSP) sets its own, which wins.
fn security_headers() -> ServiceBuilder<SecurityHeaders> {
    let header = |name: HeaderName, value: &'static str| {
        SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
    };
    ServiceBuilder::new()
        .layer(header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(header(header::X_FRAME_OPTIONS, "DENY"))
        .layer(header(header::REFERRER_POLICY, "no-referrer"))
}

/// CORS for the configured origins; `None` (no CORS headers at all) when there are none.
/// Tokens travel in the `Authorization` header, never in cookies, so no credentials mode.
fn cors(edge: &Edge) -> Option<CorsLayer> {
    if edge.cors_origins.is_empty() {
        return None;
    }
    let origins = if edge.cors_origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(edge.cors_origins.clone())
    };
    Some(
        CorsLayer::new()
            .allow_origin(origins)
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::IF_NONE_MATCH,
                HeaderName::from_static("idempotency-key"),
            ])
            .expose_headers([header::ETAG, header::RETRY_AFTER, header::AUTHORIZATION])
            .max_age(Duration::from_secs(600)),
    )
}

/// Answers a shed or timed-out request.
async fn overloaded(err: BoxError) -> ApiError {
    if err.is::<tower::load_shed::error::Overloaded>() {
        metrics::counter!("requests_shed_total").increment(1);
        ApiError::Overloaded("the service is at capacity; retry in a moment")
    } else if err.is::<tower::timeout::error::Elapsed>() {
        metrics::counter!("requests_timed_out_total").increment(1);
        ApiError::Overloaded("the request took too long; retry in a moment")
    } else {
        ApiError::Internal(anyhow::anyhow!("middleware failed: {err}"))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{ApiError, to_completion};

    #[tokio::test]
    async fn work_runs_in_the_request_and_answers_it() {
        let answer = to_completion(async { Ok::<_, ApiError>(7) }).await;
        assert_eq!(answer.ok(), Some(7));
    }

    #[tokio::test]
    async fn work_abandoned_midway_still_runs_to_its_end() {
        let (resume, resumed) = tokio::sync::oneshot::channel::<()>();
        let (finished, finish) = tokio::sync::oneshot::channel::<&str>();
        let work = to_completion(async move {
            let _ = resumed.await;
            let _ = finished.send("the rest ran");
            Ok::<_, ApiError>(())
        });
        // The request gives up while the work waits (the timeout drops it)...
        assert!(tokio::time::timeout(Duration::from_millis(20), work).await.is_err());
        // ...and the work goes on from where it was.
        resume.send(()).expect("the abandoned work is still waiting");
        let ended = tokio::time::timeout(Duration::from_secs(5), finish).await;
        assert_eq!(ended.ok().and_then(Result::ok), Some("the rest ran"));
    }
}
