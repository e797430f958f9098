//! HTTP: the router, extractors, DTOs and the mapping of errors to responses. Handlers are
//! thin: parse the request into domain values, call a use case of [`crate::service`],
//! shape the answer.

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
mod orders;
mod presales;
mod queue;
mod reservations;
mod sales;
pub mod server;
mod tickets;
mod users;
mod web;

use std::sync::Arc;

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
use tower_http::compression::{CompressionLayer, CompressionLevel};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

pub use crate::config::{Edge, Limits};
use crate::service::Services;
pub use concerts::seat_map_body;
use error::ApiError;

/// Largest JSON body accepted anywhere but on uploads.
pub const JSON_BODY_LIMIT: usize = 64 * 1024;

/// What every handler can reach: the use cases ([`Services`], through `Deref`) and the
/// few things only HTTP needs, shared so that the several copies a request takes (one per
/// extractor and middleware) cost one reference count each.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

struct Shared {
    services: Services,
    metrics: PrometheusHandle,
    edge: Edge,
}

impl AppState {
    pub fn new(services: Services, metrics: PrometheusHandle, edge: Edge) -> Self {
        Self(Arc::new(Shared { services, metrics, edge }))
    }

    /// The Prometheus registry `/metrics` renders.
    pub fn metrics(&self) -> &PrometheusHandle {
        &self.0.metrics
    }

    /// How the service meets the open internet.
    pub fn edge(&self) -> &Edge {
        &self.0.edge
    }
}

impl std::ops::Deref for AppState {
    type Target = Services;
    fn deref(&self) -> &Services {
        &self.0.services
    }
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
        (name = "orders", description = "Orders, holds and payment"),
        (name = "presales", description = "Presales: access codes that open a concert's seats before its general sale"),
        (name = "tickets", description = "Tickets: codes, QR codes, transfers"),
        (name = "door", description = "Check-in at the door, online and offline"),
        (name = "queue", description = "The on-sale waiting room"),
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
                .merge(orders::router())
                .merge(presales::router())
                .merge(tickets::router())
                .merge(queue::router())
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

/// The whole service.
pub fn router(state: AppState, limits: Limits) -> Router {
    let cors = cors(state.edge());
    let (routes, openapi) = api();
    let app = routes
        .merge(SwaggerUi::new("/docs").url("/api-docs/openapi.json", openapi))
        .merge(web::router())
        .fallback(web::fallback)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(middleware::from_fn(ops::track))
        // Bodies are compressed when the client accepts it (gzip, br), fastest level: a
        // seat map of 100,000 places is mostly runs of one letter. Small bodies, images and
        // live news (SSE) are left alone (the layer's default predicate).
        .layer(CompressionLayer::new().quality(CompressionLevel::Fastest))
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
