//! Voice endpoints (SOURCES.md: Custom Voices):
//! `POST /v1/general/custom-voices`, `GET /v1/general/custom-voices/{id}`,
//! `GET /v1/general/custom-voices`, `GET /v1/general/presets-voices`,
//! `POST /v1/general/delete-voices`.

use super::extract::{Caller, IdPath, JsonObject};
use crate::error::KlingError;
use crate::kinds::KindId;
use crate::kinds::custom_voice::{self, CreateCustomVoice};
use crate::kinds::fields::{Fields, Paging};
use crate::state::AppState;
use crate::wire::data_response;
use axum::Extension;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use serde::Serialize;

/// `POST /v1/general/custom-voices`.
pub async fn voices_create(
    State(s): State<AppState>,
    Caller(account): Caller,
    note: Option<Extension<crate::control::RuleNote>>,
    JsonObject(body): JsonObject,
) -> Result<Response, KlingError> {
    let req = CreateCustomVoice::parse(&body)?;
    let fail = super::scripted(&s, KindId::CustomVoice, &body, note.as_ref().map(|n| &n.0))?;
    let view = s
        .engine
        .create(account.idx, KindId::CustomVoice, &req.common, |id, now| {
            super::with_failure(custom_voice::plan(&s, &account, &req, id, now), fail)
        })?;
    Ok(data_response(&view.created()))
}

/// `GET /v1/general/custom-voices/{id}` (task id or external id).
pub async fn voices_get(
    State(s): State<AppState>,
    Caller(account): Caller,
    IdPath(id): IdPath,
) -> Result<Response, KlingError> {
    super::task_get(&s, account.idx, KindId::CustomVoice, &id)
}

/// `GET /v1/general/custom-voices?pageNum&pageSize` (pageSize [1, 1000]).
pub async fn voices_list(
    State(s): State<AppState>,
    Caller(account): Caller,
    RawQuery(q): RawQuery,
) -> Result<Response, KlingError> {
    super::task_list(&s, account.idx, KindId::CustomVoice, q.as_deref())
}

#[derive(Serialize)]
struct PresetVoice<'a> {
    voice_id: &'a str,
    voice_name: &'a str,
    trial_url: String,
    owned_by: &'static str,
}

#[derive(Serialize)]
struct PresetResult<'a> {
    voices: [PresetVoice<'a>; 1],
}

/// A presets-voices item: task-like, without `task_info` or deductions (SOURCES.md: Custom Voices).
#[derive(Serialize)]
struct PresetItem<'a> {
    task_id: &'a str,
    task_status: &'static str,
    task_status_msg: &'static str,
    created_at: i64,
    updated_at: i64,
    task_result: PresetResult<'a>,
}

/// `GET /v1/general/presets-voices?pageNum&pageSize` (pageSize [1, 1000]).
pub async fn presets_list(
    State(s): State<AppState>,
    Caller(_): Caller,
    RawQuery(q): RawQuery,
) -> Result<Response, KlingError> {
    let paging = Paging::parse(q.as_deref(), 1000)?;
    let base = s.engine.base_url();
    let items: Vec<PresetItem<'_>> = s
        .voices
        .presets()
        .iter()
        .skip(paging.offset())
        .take(paging.page_size as usize)
        .map(|p| PresetItem {
            task_id: &p.task_id,
            task_status: "succeed",
            task_status_msg: "",
            created_at: p.created_at,
            updated_at: p.created_at,
            task_result: PresetResult {
                voices: [PresetVoice {
                    voice_id: &p.voice_id,
                    voice_name: &p.voice_name,
                    trial_url: p.trial.url(base),
                    owned_by: "kling",
                }],
            },
        })
        .collect();
    Ok(data_response(&items))
}

#[derive(Serialize)]
struct Deleted {
    task_id: String,
    task_status: &'static str,
}

/// `POST /v1/general/delete-voices` `{voice_id}`: only the caller's own custom voices.
pub async fn voices_delete(
    State(s): State<AppState>,
    Caller(account): Caller,
    JsonObject(body): JsonObject,
) -> Result<Response, KlingError> {
    let voice_id = Fields::new(&body).req_str("voice_id")?;
    if s.voices.is_official(voice_id) {
        return Err(KlingError::param(format!(
            "Voice {voice_id} is an official voice: only custom voices can be deleted"
        )));
    }
    // A voice exists once its task has succeeded; until then, after a failure, after a deletion,
    // or for another account, there is none.
    let task_id = custom_voice::usable_voice(&s, account.idx, voice_id)
        .filter(|&t| s.engine.delete(account.idx, t))
        .ok_or_else(|| KlingError::param("Voice id not found"))?;
    Ok(data_response(&Deleted {
        task_id: task_id.to_string(),
        task_status: "succeed",
    }))
}
