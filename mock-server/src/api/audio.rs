//! Audio endpoints (SOURCES.md: TTS, Text to Audio): `POST /v1/audio/tts`,
//! `POST /v1/audio/text-to-audio`, `GET /v1/audio/text-to-audio/{id}`,
//! `GET /v1/audio/text-to-audio`.

use super::extract::{Caller, IdPath, JsonObject};
use crate::error::KlingError;
use crate::kinds::KindId;
use crate::kinds::text_to_audio::{self, CreateTextToAudio};
use crate::kinds::tts::{self, CreateTts};
use crate::state::AppState;
use crate::wire::data_response;
use axum::Extension;
use axum::extract::{RawQuery, State};
use axum::response::Response;

/// `POST /v1/audio/tts`: answers with the finished audio.
pub async fn tts_create(
    State(s): State<AppState>,
    Caller(account): Caller,
    note: Option<Extension<crate::control::RuleNote>>,
    JsonObject(body): JsonObject,
) -> Result<Response, KlingError> {
    let req = CreateTts::parse(&body)?;
    let fail = super::scripted(&s, KindId::Tts, &body, note.as_ref().map(|n| &n.0))?;
    Ok(data_response(&tts::synthesize(&s, &account, &req, fail)?))
}

/// `POST /v1/audio/text-to-audio`.
pub async fn t2a_create(
    State(s): State<AppState>,
    Caller(account): Caller,
    note: Option<Extension<crate::control::RuleNote>>,
    JsonObject(body): JsonObject,
) -> Result<Response, KlingError> {
    let req = CreateTextToAudio::parse(&body)?;
    let fail = super::scripted(&s, KindId::TextToAudio, &body, note.as_ref().map(|n| &n.0))?;
    let view = s
        .engine
        .create(account.idx, KindId::TextToAudio, &req.common, |id, now| {
            super::with_failure(text_to_audio::plan(&s, &account, &req, id, now), fail)
        })?;
    Ok(data_response(&view.created()))
}

/// `GET /v1/audio/text-to-audio/{id}` (task id or external id).
pub async fn t2a_get(
    State(s): State<AppState>,
    Caller(account): Caller,
    IdPath(id): IdPath,
) -> Result<Response, KlingError> {
    super::task_get(&s, account.idx, KindId::TextToAudio, &id)
}

/// `GET /v1/audio/text-to-audio?pageNum&pageSize` (pageSize [1, 500]).
pub async fn t2a_list(
    State(s): State<AppState>,
    Caller(account): Caller,
    RawQuery(q): RawQuery,
) -> Result<Response, KlingError> {
    super::task_list(&s, account.idx, KindId::TextToAudio, q.as_deref())
}
