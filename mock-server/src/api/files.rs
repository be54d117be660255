//! `GET /files/kling_<uuid>.<ext>`: the media behind result URLs, synthesised on request.

use super::extract::IdPath;
use crate::error::{Code, KlingError};
use crate::media::{Format, audio, parse_file_name};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

/// Serve one file. Unknown or expired names answer 404 / 1203 in the Kling envelope, as does a
/// name that is not UTF-8 once percent-decoded (no file has one).
pub async fn files_get(
    State(s): State<AppState>,
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
    let file = match s.media.file_any_age(&token).filter(|f| f.format == format) {
        None => return Err(not_found()),
        Some(f) if s.media.file(&token, now).is_none() => {
            // Past the retention (the real API clears generated media after 30 days).
            let expired = s.media.expires_at(f.born).unwrap_or(now);
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
    // Encoding is CPU work (milliseconds for MP3): keep it off the async workers.
    let bytes = tokio::task::spawn_blocking(move || match file.format {
        Format::Mp3 => audio::render_mp3(file.sound, file.samples),
        Format::Wav => Ok(audio::render_wav(file.sound, file.samples)),
    })
    .await
    .map_err(|_| KlingError::plain(Code::Internal))?
    .map_err(|err| {
        tracing::error!(%err, "mp3 encoding failed");
        KlingError::plain(Code::Internal)
    })?;
    let mut resp = bytes.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.mime()),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=2592000, immutable"),
    );
    Ok(resp)
}
