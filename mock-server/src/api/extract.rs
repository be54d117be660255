//! Extractors whose rejections are Kling errors (never axum's plain-text ones).

use crate::auth::Account;
use crate::clock::Clock;
use crate::error::KlingError;
use crate::state::AppState;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde_json::{Map, Value};

/// The authenticated caller (SOURCES.md: General Info).
pub struct Caller(pub Account);

impl FromRequestParts<AppState> for Caller {
    type Rejection = KlingError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, KlingError> {
        let h = parts
            .headers
            .get(header::AUTHORIZATION)
            .map(|v| v.as_bytes());
        state
            .accounts
            .authenticate(h, Clock::wall_ms() / 1000)
            .map(Caller)
    }
}

/// A JSON object body: `Content-Type: application/json`, at most `--body-limit` bytes.
pub struct JsonObject(pub Map<String, Value>);

impl FromRequest<AppState> for JsonObject {
    type Rejection = KlingError;
    async fn from_request(req: Request, state: &AppState) -> Result<Self, KlingError> {
        let ct = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let essence = ct.split(';').next().unwrap_or("").trim();
        if !essence.eq_ignore_ascii_case("application/json") {
            let got = if ct.is_empty() {
                "none".to_string()
            } else {
                format!("'{ct}'")
            };
            return Err(KlingError::request(format!(
                "Content-Type must be application/json, got {got}"
            )));
        }
        let limit = body_limit(req.uri().path(), state.config.body_limit);
        let too_large = || {
            KlingError::request(format!(
                "Request body is larger than the limit of {limit} bytes"
            ))
        };
        if let Some(len) = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
            && len > limit as u64
        {
            return Err(too_large());
        }
        let bytes = match axum::body::to_bytes(req.into_body(), limit).await {
            Ok(b) => b,
            Err(err) => {
                let over = std::error::Error::source(&err)
                    .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
                return Err(if over {
                    too_large()
                } else {
                    KlingError::request("Request body could not be read")
                });
            }
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(KlingError::request(
                "Request body is empty: a JSON object is required",
            ));
        }
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(m)) => Ok(JsonObject(m)),
            Ok(_) => Err(KlingError::request("Request body must be a JSON object")),
            Err(e) => Err(KlingError::request(format!(
                "Request body is not valid JSON: {e}"
            ))),
        }
    }
}

/// An optional JSON object body (control plane): `None` when the body is empty, otherwise the
/// same rules as [`JsonObject`].
pub struct MaybeJson(pub Option<Map<String, Value>>);

impl FromRequest<AppState> for MaybeJson {
    type Rejection = KlingError;
    async fn from_request(req: Request, state: &AppState) -> Result<Self, KlingError> {
        let empty_len = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
            == Some(0);
        let no_type = !req.headers().contains_key(header::CONTENT_TYPE);
        if empty_len || (no_type && !req.headers().contains_key(header::TRANSFER_ENCODING)) {
            return Ok(MaybeJson(None));
        }
        JsonObject::from_request(req, state)
            .await
            .map(|JsonObject(m)| MaybeJson(Some(m)))
    }
}

/// The `{id}` path segment.
pub struct IdPath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for IdPath {
    type Rejection = KlingError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, KlingError> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(id)) => Ok(IdPath(id)),
            Err(_) => Err(KlingError::param("the id in the path is not valid UTF-8")),
        }
    }
}

/// Largest JSON body of a public create route, bytes. Their fields are short texts, ids and
/// URLs (the longest, `text` of `POST /v1/audio/tts`, is 1,000 characters: at most 4 KB of
/// UTF-8), so 64 KiB leaves ample room for whitespace and escapes. Image or video routes taking
/// base64 images (10 MB: about 13.4 MB of base64) would need their own, larger entries.
pub const CREATE_BODY_LIMIT: usize = 64 * 1024;

/// The body limit of `path`: [`CREATE_BODY_LIMIT`] for the public API's POST routes, `global`
/// (`--body-limit`, default 1 MiB) for the rest (the control plane: scripts, rules, snapshots);
/// never more than `global`.
pub fn body_limit(path: &str, global: usize) -> usize {
    if path.starts_with("/v1/") {
        CREATE_BODY_LIMIT.min(global)
    } else {
        global
    }
}
