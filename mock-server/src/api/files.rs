//! `GET`/`HEAD /files/kling_<uuid>.<ext>`: the media behind result URLs, served like a CDN.
//!
//! * The bytes are made on first fetch (on a blocking thread: an MP4 is up to a second or so of
//!   CPU) and kept in memory under the media cache's budget; repeat fetches are served from it.
//! * `HEAD` answers the headers a `GET` would, without the body.
//! * `Accept-Ranges: bytes`; a single range `bytes=a-b`, `bytes=a-` or `bytes=-n` answers 206
//!   with `Content-Range`; a range that starts past the end (or `-0`) answers 416 with
//!   `Content-Range: bytes */<len>`. A multi-range request (`bytes=0-1,5-6`) and any `Range`
//!   that is not a byte range this server understands are answered with the whole file (200),
//!   as RFC 9110 §14.2 allows a server that ignores `Range`: simpler for every client than
//!   `multipart/byteranges`, which no player asks for.
//! * A strong `ETag` (the token and a hash of the bytes: the same file always has the same
//!   tag); `If-None-Match` with it (or `*`) answers 304; `If-Range` with it lets the range
//!   through, anything else (another tag, a date: there is no `Last-Modified`) gets the whole
//!   file.
//! * Errors stay in the Kling envelope: 404 / 1203 for an unknown or expired name; the 416 has
//!   the envelope of 1200 (invalid request) with HTTP status 416.

use super::extract::IdPath;
use crate::error::{Code, KlingError};
use crate::media::cache::FileBytes;
use crate::media::parse_file_name;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Serve one file. Unknown or expired names answer 404 / 1203 in the Kling envelope, as does a
/// name that is not UTF-8 once percent-decoded (no file has one).
pub async fn files_get(
    State(s): State<AppState>,
    method: Method,
    headers: HeaderMap,
    name: Result<IdPath, KlingError>,
) -> Result<Response, KlingError> {
    let Ok(IdPath(name)) = name else {
        return Err(KlingError::new(
            Code::NotFound,
            "File not found: the name is not valid UTF-8",
        ));
    };
    let not_found = || KlingError::new(Code::NotFound, format!("File not found: {name}"));
    let (token, format) = parse_file_name(&name).ok_or_else(not_found)?;
    let now = s.clock.now_ms();
    let served = match s
        .media
        .served_any_age(&token)
        .filter(|f| f.format() == format)
    {
        None => return Err(not_found()),
        Some(f) if !s.media.is_alive(f.born(), now) => {
            // Past the retention (the real API clears generated media after 30 days).
            let expired = s.media.expires_at(f.born()).unwrap_or(now);
            return Err(KlingError::new(
                Code::NotFound,
                format!(
                    "File not found: {name} expired at {} (generated media are kept {} days)",
                    humantime::format_rfc3339_millis(
                        std::time::UNIX_EPOCH
                            + std::time::Duration::from_millis(expired.max(0) as u64)
                    ),
                    s.media.retention_ms() / 86_400_000
                ),
            ));
        }
        Some(f) => f,
    };
    let file = match s.media.cached(&token) {
        Some(f) => f,
        None => {
            // Making a file is CPU work (milliseconds for MP3, up to a second or so for a long
            // video): keep it off the async workers.
            let state = s.clone();
            tokio::task::spawn_blocking(move || state.media.bytes(&token, served))
                .await
                .map_err(|_| KlingError::plain(Code::Internal))?
                .map_err(|err| {
                    tracing::error!(%err, "a media file could not be made");
                    KlingError::plain(Code::Internal)
                })?
        }
    };
    Ok(answer(&file, format.mime(), &method, &headers))
}

/// The response to a fetch of `file` with these request headers.
fn answer(file: &FileBytes, mime: &'static str, method: &Method, req: &HeaderMap) -> Response {
    let len = file.bytes.len() as u64;
    let etag = HeaderValue::from_str(&file.etag).unwrap_or(HeaderValue::from_static("\"\""));
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(header::ETAG, etag);
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=2592000, immutable"),
    );
    // RFC 9110 §13.1.2: If-None-Match compares weakly; a match answers 304 with the validators.
    if let Some(inm) = req.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok())
        && inm
            .split(',')
            .map(str::trim)
            .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == &*file.etag)
    {
        headers.remove(header::CONTENT_TYPE);
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    // RFC 9110 §13.1.5: If-Range compares strongly; no match (or a date) means the whole file.
    let range_allowed = match req.get(header::IF_RANGE).and_then(|v| v.to_str().ok()) {
        None => true,
        Some(tag) => tag.trim() == &*file.etag,
    };
    let range = req
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .filter(|_| range_allowed)
        .map(|r| parse_range(r, len));
    let (status, body) = match range {
        None | Some(Range::Ignored) => (StatusCode::OK, file.bytes.clone()),
        Some(Range::Unsatisfiable) => {
            let mut resp = KlingError::new(
                Code::InvalidRequest,
                format!("Range not satisfiable: the file is {len} bytes"),
            )
            .into_response();
            *resp.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
            let h = resp.headers_mut();
            h.insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes */{len}"))
                    .unwrap_or(HeaderValue::from_static("bytes */0")),
            );
            h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
            return resp;
        }
        Some(Range::Bytes(first, last)) => {
            if let Ok(v) = HeaderValue::from_str(&format!("bytes {first}-{last}/{len}")) {
                headers.insert(header::CONTENT_RANGE, v);
            }
            (
                StatusCode::PARTIAL_CONTENT,
                file.bytes.slice(first as usize..=last as usize),
            )
        }
    };
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        Body::from(body)
    };
    (status, headers, body).into_response()
}

/// What a `Range` header asks of a file of `len` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Range {
    /// Bytes `first..=last`, within the file.
    Bytes(u64, u64),
    /// A byte range that selects nothing of the file (416).
    Unsatisfiable,
    /// Not a single byte range: serve the whole file.
    Ignored,
}

/// Parse `bytes=a-b`, `bytes=a-` or `bytes=-n` (RFC 9110 §14.1.2) against a file of `len` bytes.
fn parse_range(header: &str, len: u64) -> Range {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return Range::Ignored;
    };
    if spec.contains(',') {
        return Range::Ignored;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Range::Ignored;
    };
    let num = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let (a, b) = (a.trim(), b.trim());
    match (a.is_empty(), num(a), num(b)) {
        // bytes=-n: the last n bytes.
        (true, _, Some(n)) => {
            if n == 0 || len == 0 {
                Range::Unsatisfiable
            } else {
                Range::Bytes(len - n.min(len), len - 1)
            }
        }
        // bytes=a- or bytes=a-b.
        (false, Some(first), last) if b.is_empty() || last.is_some() => {
            if let Some(last) = last
                && last < first
            {
                return Range::Ignored;
            }
            if first >= len {
                Range::Unsatisfiable
            } else {
                Range::Bytes(first, last.unwrap_or(len - 1).min(len - 1))
            }
        }
        _ => Range::Ignored,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_as_rfc_9110_says() {
        let r = |h| parse_range(h, 100);
        assert_eq!(r("bytes=0-9"), Range::Bytes(0, 9));
        assert_eq!(r("bytes=90-"), Range::Bytes(90, 99));
        assert_eq!(r("bytes=90-500"), Range::Bytes(90, 99));
        assert_eq!(r("bytes=-10"), Range::Bytes(90, 99));
        assert_eq!(r("bytes=-500"), Range::Bytes(0, 99));
        assert_eq!(r("bytes=100-"), Range::Unsatisfiable);
        assert_eq!(r("bytes=100-200"), Range::Unsatisfiable);
        assert_eq!(r("bytes=-0"), Range::Unsatisfiable);
        assert_eq!(r("bytes=0-1,5-6"), Range::Ignored);
        assert_eq!(r("bytes=9-1"), Range::Ignored);
        assert_eq!(r("items=0-1"), Range::Ignored);
        assert_eq!(r("bytes=a-b"), Range::Ignored);
        assert_eq!(r("bytes=-"), Range::Ignored);
        assert_eq!(r("bytes=+1-2"), Range::Ignored);
        assert_eq!(parse_range("bytes=0-", 0), Range::Unsatisfiable);
    }
}
