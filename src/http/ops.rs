//! Operations: liveness, readiness, Prometheus metrics and the per-request metrics layer.

use std::sync::Mutex;
use std::time::Instant;

use axum::Json;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(health)).routes(routes!(ready)).routes(routes!(render_metrics))
}

/// `/metrics` alone, for an address of its own (`--metrics-bind`).
pub fn metrics_router(state: AppState) -> axum::Router {
    axum::Router::new().route("/metrics", axum::routing::get(render_metrics)).with_state(state)
}

/// The service with `/metrics` answered 404, for when it is served on an address of its own.
pub fn without_metrics(service: axum::Router) -> axum::Router {
    axum::Router::new()
        .route("/metrics", axum::routing::any(|| async { super::error::ApiError::NotFound("route") }))
        .fallback_service(service)
}

/// The process-wide Prometheus recorder (metrics macros record into one global recorder,
/// so several apps in one test process share it).
pub fn metrics_handle() -> anyhow::Result<PrometheusHandle> {
    // A mutex, not a OnceLock: installing can fail, and a second caller must wait until the
    // first has finished installing rather than find neither a handle nor a free slot.
    static HANDLE: Mutex<Option<PrometheusHandle>> = Mutex::new(None);
    let mut handle = HANDLE.lock().map_err(|_| anyhow::anyhow!("metrics lock poisoned"))?;
    if let Some(handle) = handle.as_ref() {
        return Ok(handle.clone());
    }
    const LATENCY_BUCKETS: [f64; 14] =
        [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &LATENCY_BUCKETS)?
        .build_recorder();
    let installed = recorder.handle();
    metrics::set_global_recorder(recorder)
        .map_err(|_| anyhow::anyhow!("another metrics recorder is installed"))?;
    let upkeep = installed.clone();
    std::thread::Builder::new().name("metrics-upkeep".into()).spawn(move || {
        loop {
            std::thread::sleep(std::time::Duration::from_secs(5));
            upkeep.run_upkeep();
        }
    })?;
    *handle = Some(installed.clone());
    Ok(installed)
}

/// Counts every request and records its latency, by method, route template and status.
pub(super) async fn track(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels).record(started.elapsed().as_secs_f64());
    response
}

/// Status of the service and its backends.
#[derive(Debug, Serialize, ToSchema)]
pub struct Status {
    /// `ok`, `ready` or `unavailable`.
    pub status: &'static str,
    /// Database state, on `/ready`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub database: Option<String>,
    /// Redis state (its address, and the error when unreachable), on `/ready` where
    /// Redis is used.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub redis: Option<String>,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/health", tag = "ops", responses((status = 200, description = "alive", body = Status)))]
async fn health() -> Json<Status> {
    Json(Status { status: "ok", database: None, redis: None })
}

/// Readiness: the database answers, and Redis where it is used.
#[utoipa::path(get, path = "/ready", tag = "ops", responses(
    (status = 200, description = "ready to serve", body = Status),
    (status = 503, description = "a backend is unreachable; the body says which", body = Status),
))]
async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Status>) {
    let database = state.health.database().await;
    let redis = state.health.redis().await;
    let ok = database.is_ok() && redis.as_ref().is_none_or(Result::is_ok);
    let status = Status {
        status: if ok { "ready" } else { "unavailable" },
        database: Some(database.map_or_else(|e| e, str::to_owned)),
        redis: redis.map(|r| r.unwrap_or_else(|e| e)),
    };
    (if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }, Json(status))
}

/// Prometheus text exposition of the service's metrics.
#[utoipa::path(get, path = "/metrics", tag = "ops", responses(
    (status = 200, description = "Prometheus text format", content_type = "text/plain", body = String),
))]
async fn render_metrics(State(state): State<AppState>) -> impl IntoResponse {
    for (pool, size, idle) in state.health.pool_usage() {
        metrics::gauge!("db_pool_connections", "pool" => pool).set(f64::from(size));
        metrics::gauge!("db_pool_idle_connections", "pool" => pool).set(idle as f64);
    }
    if let Some(bytes) = resident_memory_bytes() {
        metrics::gauge!("process_resident_memory_bytes").set(bytes as f64);
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], state.metrics().render())
}

/// The process's resident memory (Linux: `VmRSS` of `/proc/self/status`); `None` where
/// the system does not tell.
fn resident_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib = status.lines().find_map(|line| line.strip_prefix("VmRSS:"))?.trim().strip_suffix("kB")?;
    kib.trim().parse::<u64>().ok().map(|kib| kib * 1024)
}
