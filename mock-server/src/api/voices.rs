//! The voice endpoints of their own (SOURCES.md: Custom Voices): `GET
//! /v1/general/presets-voices` and `POST /v1/general/delete-voices`. Custom voice tasks are
//! created, queried and listed by the registry's routes ([`super::tasks`]).

use super::extract::{Caller, JsonObject};
use crate::error::KlingError;
use crate::kinds::custom_voice;
use crate::kinds::fields::{Fields, Paging};
use crate::state::AppState;
use crate::wire::data_response;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use serde::Serialize;

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
    let task_id = custom_voice::usable_voice(&s.kind_ctx(), account.idx, voice_id)
        .filter(|&t| s.engine.delete(account.idx, t))
        .ok_or_else(|| KlingError::param("Voice id not found"))?;
    Ok(data_response(&Deleted {
        task_id: task_id.to_string(),
        task_status: "succeed",
    }))
}
