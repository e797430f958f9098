//! The web app: pages and assets from `web/`, compiled into the binary so the one
//! executable serves it (no build step, no CDN), with security headers on every page.

use std::sync::OnceLock;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

use super::AppState;
use super::error::ApiError;
use super::extract::ApiPath;

/// One file of `web/`, embedded at compile time.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $type:literal) => {
        Asset {
            path: $path,
            content_type: $type,
            body: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/web/", $path)),
        }
    };
}

const INDEX: Asset = asset!("index.html", "text/html; charset=utf-8");

const ASSETS: &[Asset] = &[
    asset!("app.css", "text/css; charset=utf-8"),
    asset!("favicon.svg", "image/svg+xml"),
    asset!("js/api.js", "text/javascript; charset=utf-8"),
    asset!("js/ui.js", "text/javascript; charset=utf-8"),
    asset!("js/main.js", "text/javascript; charset=utf-8"),
    asset!("js/catalog.js", "text/javascript; charset=utf-8"),
    asset!("js/concert.js", "text/javascript; charset=utf-8"),
    asset!("js/concert_sections.js", "text/javascript; charset=utf-8"),
    asset!("js/booking.js", "text/javascript; charset=utf-8"),
    asset!("js/sections.js", "text/javascript; charset=utf-8"),
    asset!("js/seatmap.js", "text/javascript; charset=utf-8"),
    asset!("js/account.js", "text/javascript; charset=utf-8"),
    asset!("js/promoter.js", "text/javascript; charset=utf-8"),
    asset!("js/venue_form.js", "text/javascript; charset=utf-8"),
    asset!("js/concert_form.js", "text/javascript; charset=utf-8"),
    asset!("js/presale_panel.js", "text/javascript; charset=utf-8"),
    asset!("js/admin.js", "text/javascript; charset=utf-8"),
    asset!("js/checkout.js", "text/javascript; charset=utf-8"),
    asset!("js/queue.js", "text/javascript; charset=utf-8"),
    asset!("js/queue_panel.js", "text/javascript; charset=utf-8"),
    asset!("js/orders.js", "text/javascript; charset=utf-8"),
    asset!("js/ticket_code.js", "text/javascript; charset=utf-8"),
    asset!("js/tickets.js", "text/javascript; charset=utf-8"),
    asset!("js/scanner.js", "text/javascript; charset=utf-8"),
    asset!("js/door.js", "text/javascript; charset=utf-8"),
    asset!("js/door_panel.js", "text/javascript; charset=utf-8"),
    // The door scanner's service worker: the scanner page reloads offline.
    asset!("js/door_sw.js", "text/javascript; charset=utf-8"),
    // Loaded by ticket_code.js only where WebCrypto cannot verify Ed25519 (see vendor/README.md).
    asset!("js/vendor/noble-ed25519.js", "text/javascript; charset=utf-8"),
    asset!("js/vendor/noble-hashes/sha2.js", "text/javascript; charset=utf-8"),
    asset!("js/vendor/noble-hashes/_md.js", "text/javascript; charset=utf-8"),
    asset!("js/vendor/noble-hashes/_u64.js", "text/javascript; charset=utf-8"),
    asset!("js/vendor/noble-hashes/utils.js", "text/javascript; charset=utf-8"),
];

/// Paths the app draws itself (its client-side routes, as in `web/js/main.js`); each is
/// answered with the page, which then reads the path.
const PAGES: &[&str] = &[
    "/",
    "/login",
    "/signup",
    "/profile",
    "/tickets",
    "/tickets/{id}",
    "/door",
    "/orders",
    "/concerts/{id}",
    "/concerts/{id}/queue",
    "/promoter",
    "/promoter/{*rest}",
    "/admin",
    "/admin/{*rest}",
];

/// No inline scripts or styles anywhere: everything comes from this origin's files.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
                   frame-ancestors 'none'";

pub(super) fn router() -> Router<AppState> {
    let mut router = Router::new().route("/assets/{*path}", get(serve_asset));
    for path in PAGES {
        router = router.route(path, get(|headers: HeaderMap| async move { page(StatusCode::OK, &headers) }));
    }
    router
}

/// Unknown routes: a browser asking for a page outside the API gets the app, which shows
/// its own "not found" (with status 404); everything else, files included (a missing
/// `/favicon.ico` is no page), gets the JSON error envelope.
pub(super) async fn fallback(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path();
    let file = path.rsplit('/').next().is_some_and(|name| name.contains('.'));
    let api = ["/api/", "/api-docs/", "/docs/"].iter().any(|p| path.starts_with(p)) || path == "/api" || file;
    let wants_html =
        headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("text/html"));
    if (method == Method::GET || method == Method::HEAD) && !api && wants_html {
        return page(StatusCode::NOT_FOUND, &headers);
    }
    ApiError::NotFound("route").into_response()
}

/// The door scanner's service worker, and the pages it may serve: its file lives under
/// `/assets/`, its scope is the scanner page.
const DOOR_WORKER: (&str, &str) = ("js/door_sw.js", "/door");

async fn serve_asset(ApiPath(path): ApiPath<String>, headers: HeaderMap) -> Response {
    let Some(i) = ASSETS.iter().position(|a| a.path == path) else {
        return ApiError::NotFound("asset").into_response();
    };
    let mut response = file(&ASSETS[i], &etags()[i], StatusCode::OK, &headers);
    if path == DOOR_WORKER.0 {
        response.headers_mut().insert("service-worker-allowed", HeaderValue::from_static(DOOR_WORKER.1));
    }
    response
}

fn page(status: StatusCode, headers: &HeaderMap) -> Response {
    file(&INDEX, &etags()[ASSETS.len()], status, headers)
}

/// A content hash per asset (the index last): the browser revalidates every load and
/// gets a 304 until the binary changes.
fn etags() -> &'static [String] {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .chain(std::iter::once(&INDEX))
            .map(|a| {
                let hash = Sha256::digest(a.body);
                let hex: String = hash.iter().take(12).map(|b| format!("{b:02x}")).collect();
                format!("\"{hex}\"")
            })
            .collect()
    })
}

fn file(asset: &Asset, etag: &str, status: StatusCode, request: &HeaderMap) -> Response {
    let fresh = status == StatusCode::OK
        && request
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (status, [(header::CONTENT_TYPE, asset.content_type)], asset.body).into_response()
    };
    let headers = response.headers_mut();
    if let Ok(tag) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, tag);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    response
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;

    /// Every file under `dir`, by its path from `root`.
    fn files(root: &Path, dir: &Path, found: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path: PathBuf = entry.unwrap().path();
            if path.is_dir() {
                files(root, &path, found);
            } else {
                found.push(path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/"));
            }
        }
    }

    fn content_type(path: &str) -> Option<&'static str> {
        match path.rsplit_once('.')?.1 {
            "js" => Some("text/javascript; charset=utf-8"),
            "css" => Some("text/css; charset=utf-8"),
            "svg" => Some("image/svg+xml"),
            "html" => Some("text/html; charset=utf-8"),
            _ => None,
        }
    }

    /// A file added to `web/` but not to `ASSETS` would only show as a 404 in a browser
    /// (a module imported lazily, even later).
    #[test]
    fn every_page_script_style_and_image_of_web_is_served_with_its_type() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
        let mut found = Vec::new();
        files(&root, &root, &mut found);
        for path in found.iter().filter(|p| content_type(p).is_some() && *p != INDEX.path) {
            assert!(ASSETS.iter().any(|a| a.path == path), "web/{path} is not in ASSETS");
        }
        for asset in ASSETS.iter().chain([&INDEX]) {
            assert_eq!(Some(asset.content_type), content_type(asset.path), "{}", asset.path);
        }
    }
}
