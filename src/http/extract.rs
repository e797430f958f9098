//! Request extractors whose failures answer with the error envelope.

use axum::body::Bytes;
use axum::extract::path::ErrorKind;
use axum::extract::rejection::PathRejection;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, RawPathParams, Request};
use axum::http::StatusCode;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::AppState;
use super::error::ApiError;
use crate::auth::Principal;
use crate::domain::FieldError;

/// A JSON body: 415 without a JSON content type, 413 past the body limit, 400 for
/// malformed JSON, and 400 with the offending field's path for a value of the wrong type.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|mime| {
                let mime = mime.trim().to_ascii_lowercase();
                mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
            })
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::UnsupportedMediaType(
                "expected a body with content type application/json".into(),
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::MalformedBody(rejection.body_text())
            }
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Deserializes JSON, naming the path of a field that has the wrong type. Parsing first
/// into a value and only then into `T` keeps the two failures apart: text that is not one
/// JSON document (trailing bytes included) is malformed, while a well-formed document
/// with a wrong value — a number where an enum's name belongs, say — is a field error.
/// A body that parses straight into `T` (nearly every one) is read once, without the value.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if let Ok(parsed) = serde_json::from_slice(bytes) {
        return Ok(parsed);
    }
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|err| ApiError::MalformedBody(format!("malformed JSON: {err}")))?;
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        ApiError::Invalid(vec![FieldError {
            field: if path == "." { "body".into() } else { path },
            message: data_error_message(err.inner()),
        }])
    })
}

/// Path parameters: a value that does not parse (`/concerts/abc`) is a 400 naming the
/// parameter, in the error envelope.
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(ApiPath(value)),
            Err(PathRejection::FailedToDeserializePathParams(err)) => {
                let key = match err.kind() {
                    ErrorKind::ParseErrorAtKey { key, .. } | ErrorKind::InvalidUtf8InPathParam { key } => {
                        Some(key.clone())
                    }
                    // A tuple's element, or a lone value: named from the route's parameters.
                    kind => {
                        let index = match kind {
                            ErrorKind::ParseErrorAtIndex { index, .. } => *index,
                            _ => 0,
                        };
                        RawPathParams::from_request_parts(parts, state)
                            .await
                            .ok()
                            .and_then(|raw| raw.iter().nth(index).map(|(key, _)| key.to_owned()))
                    }
                };
                let field = key.unwrap_or_else(|| "path".to_owned());
                Err(ApiError::Invalid(vec![FieldError { field, message: err.body_text() }]))
            }
            Err(other) => Err(ApiError::Internal(anyhow::anyhow!("path parameters: {}", other.body_text()))),
        }
    }
}

/// serde's message without its " at line 1 column 17" suffix.
fn data_error_message(err: &serde_json::Error) -> String {
    let text = err.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(state.accounts.authenticate(bearer_token(parts)?).await?)
    }
}

/// The token of `Authorization: Bearer <token>`.
pub fn bearer_token(parts: &Parts) -> Result<&str, ApiError> {
    let header = parts.headers.get(AUTHORIZATION).ok_or(ApiError::Unauthorized {
        code: "UNAUTHORIZED",
        message: "authentication required: send Authorization: Bearer <access token>",
    })?;
    header
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .ok_or(ApiError::Unauthorized { code: "TOKEN_INVALID", message: "expected a Bearer token" })
}

/// The client's address, for rate limits: the last entry of the configured header set by
/// a trusted load balancer, else the TCP peer. IPv6 addresses count by their /64, the
/// block one subscriber usually holds, so hopping within it gains nothing.
pub struct ClientAddress(pub String);

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let forwarded = state.edge().client_address_header.as_ref().and_then(|name| {
            let last = parts.headers.get_all(name).iter().next_back()?.to_str().ok()?;
            let entry = last.rsplit(',').next()?.trim();
            (!entry.is_empty()).then(|| entry.to_owned())
        });
        let address = forwarded
            .or_else(|| parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string()))
            .unwrap_or_else(|| "unknown".to_owned());
        Ok(ClientAddress(rate_limit_key(address)))
    }
}

/// The key a client address is counted under: IPv4 as it is, IPv6 by its /64 (and an
/// IPv4-mapped IPv6 address as the IPv4 one); anything else (a header value that is no
/// address) as it is.
fn rate_limit_key(address: String) -> String {
    match address.trim().parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Err(_) => address,
    }
}

#[cfg(test)]
mod tests {
    use super::rate_limit_key;

    #[test]
    fn ipv6_clients_count_by_their_64_block_and_mapped_ipv4_as_ipv4() {
        let key = |a: &str| rate_limit_key(a.to_owned());
        assert_eq!(key("2001:db8:1:2:aaaa::1"), key("2001:db8:1:2:bbbb::9"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("2001:db8:1:2::1"), "2001:db8:1:2::/64");
        assert_eq!(key("::ffff:198.51.100.7"), "198.51.100.7");
        assert_eq!(key("198.51.100.7"), "198.51.100.7");
        assert_eq!(key("not-an-address"), "not-an-address");
    }
}
