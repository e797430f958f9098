//! `/images`: poster upload and serving.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ErrorBody};
use super::extract::ApiPath;
use super::{AppState, Data};
use crate::auth::Principal;
use crate::domain::FieldError;
use crate::domain::poster::{ImageKind, MAX_POSTER_BYTES};
use crate::posters;
use crate::service::catalog::Poster;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        // Room for the file and the multipart framing; the file itself is counted exactly.
        .routes(routes!(upload_poster))
        .layer(DefaultBodyLimit::max(MAX_POSTER_BYTES + 64 * 1024))
        .routes(routes!(serve_poster))
}

/// The multipart form of `POST /images/upload`.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct PosterUpload {
    /// A JPEG, PNG or GIF image of at most 5 MiB; the type is read from the content.
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
    /// The concert whose poster it becomes.
    #[schema(example = 1)]
    pub concert_id: i64,
}

/// A poster's bytes.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
#[allow(dead_code)]
struct PosterImage(Vec<u8>);

/// A stored poster.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PosterView {
    pub concert_id: i64,
    /// Where the poster is served.
    pub image_path: String,
    pub content_type: String,
    pub size: usize,
    pub original_name: String,
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge
    } else {
        ApiError::MalformedBody(e.body_text())
    }
}

fn field_error(field: &str, message: &str) -> ApiError {
    ApiError::Invalid(vec![FieldError { field: field.into(), message: message.into() }])
}

/// Uploads a concert's poster (multipart: `file`, `concertId`); it replaces any earlier one.
#[utoipa::path(post, path = "/images/upload", tag = "concerts", security(("bearer" = [])),
    request_body(content = PosterUpload, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "poster stored and set", body = Data<PosterView>),
        (status = 400, description = "missing file or concertId", body = ErrorBody),
        (status = 401, description = "no valid token", body = ErrorBody),
        (status = 403, description = "not the concert's owner or an administrator", body = ErrorBody),
        (status = 404, description = "no such concert", body = ErrorBody),
        (status = 413, description = "file larger than 5 MiB", body = ErrorBody),
        (status = 415, description = "not multipart, or not a JPEG, PNG or GIF image", body = ErrorBody),
    ))]
async fn upload_poster(
    State(state): State<AppState>,
    principal: Principal,
    request: Request,
) -> Result<(StatusCode, Json<Data<PosterView>>), ApiError> {
    let is_multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
    if !is_multipart {
        return Err(ApiError::UnsupportedMediaType("expected a multipart/form-data body".into()));
    }
    let mut multipart =
        Multipart::from_request(request, &state).await.map_err(|e| ApiError::MalformedBody(e.body_text()))?;
    let mut file: Option<(String, Vec<u8>)> = None;
    let mut concert_id: Option<String> = None;
    while let Some(mut field) = multipart.next_field().await.map_err(multipart_error)? {
        match field.name() {
            Some("file") => {
                let name = field.file_name().unwrap_or("poster").chars().take(255).collect();
                let mut content = Vec::new();
                // Counted chunk by chunk: an oversized file is refused as soon as it passes
                // the limit, without being read whole.
                while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
                    if content.len() + chunk.len() > MAX_POSTER_BYTES {
                        return Err(ApiError::PayloadTooLarge);
                    }
                    content.extend_from_slice(&chunk);
                }
                file = Some((name, content));
            }
            Some("concertId") => concert_id = Some(field.text().await.map_err(multipart_error)?),
            _ => {}
        }
    }
    let concert_id: i64 = concert_id
        .ok_or_else(|| field_error("concertId", "is required"))?
        .trim()
        .parse()
        .map_err(|_| field_error("concertId", "must be a concert id"))?;
    let (original_name, content) = file.ok_or_else(|| field_error("file", "is required"))?;
    if content.is_empty() {
        return Err(field_error("file", "is empty"));
    }
    let kind = ImageKind::sniff(&content).ok_or_else(|| {
        ApiError::UnsupportedMediaType("the poster must be a JPEG, PNG or GIF image".into())
    })?;
    let poster = Poster { original_name, kind, content: Bytes::from(content) };
    let stored = state.catalog.set_poster(&principal, concert_id, poster).await?;
    let view = PosterView {
        concert_id,
        image_path: posters::public_path(&stored.key),
        content_type: stored.kind.content_type().into(),
        size: stored.size,
        original_name: stored.original_name,
    };
    Ok((StatusCode::CREATED, Json(Data::new(view))))
}

/// A stored poster, with its image type and long-lived caching (keys never change content).
#[utoipa::path(get, path = "/images/{key}", tag = "concerts",
    params(("key" = String, Path, description = "the key in a concert's imagePath")),
    responses(
        (status = 200, description = "the image, as its type says",
            content((PosterImage = "image/jpeg"), (PosterImage = "image/png"), (PosterImage = "image/gif"))),
        (status = 404, description = "no such poster", body = ErrorBody),
    ))]
async fn serve_poster(
    State(state): State<AppState>,
    ApiPath(key): ApiPath<String>,
) -> Result<Response, ApiError> {
    let safe = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    if !safe {
        return Err(ApiError::NotFound("poster"));
    }
    let (kind, content) = state.catalog.poster(&key).await?;
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(kind.content_type())),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable")),
            (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
            (header::CONTENT_DISPOSITION, HeaderValue::from_static("inline")),
            // Should a file ever be opened as a document anyway, it runs no script and
            // loads nothing: uploads are the one thing here whose bytes a stranger chose.
            (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; sandbox")),
        ],
        content,
    )
        .into_response())
}
