//! `GET /files/kling_<uuid>.<ext>`: the media behind result URLs, synthesised on request.

use super::extract::IdPath;
use crate::error::{Code, KlingError};
use crate::media::{Format, audio, parse_file_name};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

/// Serve one file. Unknown names answer 404 / 1203 in the Kling envelope.
pub async fn files_get(
    State(s): State<AppState>,
    IdPath(name): IdPath,
) -> Result<Response, KlingError> {
    let not_found = || KlingError::new(Code::NotFound, format!("File not found: {name}"));
    let (token, format) = parse_file_name(&name).ok_or_else(not_found)?;
    let file = s
        .media
        .file(&token)
        .filter(|f| f.format == format)
        .ok_or_else(not_found)?;
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
