//! Advanced lip-sync: `POST /v1/videos/advanced-lip-sync` (SOURCES.md: Advanced Lip-Sync;
//! kling-api.md §5.8 (c)).
//!
//! Request: `session_id` (required: an identify-face session of the caller's, under 24 h old),
//! `face_choose` (required, exactly one item: `face_id` of that session; `audio_id` (a generated
//! audio of the caller's, 2–60 s) xor `sound_file` (Base64 or URL, `.mp3/.wav/.m4a/.aac`, ≤ 5 MB,
//! 2–60 s); `sound_start_time`, `sound_end_time` (ms, required: the cropped audio lasts at least
//! 2 s and ends within the audio); `sound_insert_time` (ms, required: the inserted audio fits in
//! the video and overlaps the face's window by at least 2 s); `sound_volume`,
//! `original_audio_volume` ([0, 2], default 1)), `watermark_info`, `callback_url`,
//! `external_task_id`.
//! The result is the session's video dubbed: its length and shape, with a sound track;
//! `task_info.parent_video` names it (when the mock has its file).

use super::Ctx;
use super::faces::{self, Dub, Shape, SoundFile, prefixed};
use super::fields::{Common, Fields};
use super::video;
use crate::auth::Account;
use crate::engine::Plan;
use crate::error::KlingError;
use crate::kinds::TaskResult;
use crate::media::VideoSource;
use crate::wire::format_secs;
use serde_json::{Map, Value};

/// The kind: its paths, limits, timings and cost (see [`super::KindSpec`]).
pub static SPEC: super::KindSpec = super::KindSpec {
    id: super::KindId::new("advanced-lip-sync"),
    path: "/v1/videos/advanced-lip-sync",
    mode: super::Mode::Task {
        query: "/v1/videos/advanced-lip-sync/{id}",
        result: super::result_type::<video::Videos>("Videos"),
        parse: |body| Ok(Box::new(CreateAdvancedLipSync::parse(body)?)),
    },
    max_page_size: 500,
    lifecycle: super::DEFAULT_TASK_LIFECYCLE,
    // --timing-profile realistic: as the legacy lip-sync (ComfyUI: 455 s; SOURCES.md: published
    // clients).
    realistic: super::realistic(20_000, 435_000),
    pool: crate::engine::billing::Pool::Video,
    unit_deduction: "0.5",
    doc,
    extras: &[],
};

/// Shortest and longest audio, ms (2–60 s).
pub const AUDIO_MS: (u64, u64) = (2_000, 60_000);
/// Shortest cropped audio, and shortest overlap of the audio with the face, ms.
pub const MIN_SPAN_MS: u64 = 2_000;

/// The audio of the chosen face.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Audio {
    /// `audio_id`.
    Id(String),
    /// `sound_file`.
    File(SoundFile),
}

/// A validated create request (one face).
#[derive(Clone, Debug)]
pub struct CreateAdvancedLipSync {
    /// `session_id`.
    pub session_id: String,
    /// `face_choose[0].face_id`.
    pub face_id: String,
    /// Its audio.
    pub audio: Audio,
    /// `sound_start_time`, `sound_end_time`, `sound_insert_time`, ms.
    pub times: (u64, u64, u64),
    /// `watermark_info.enabled`.
    pub watermark: bool,
    /// Settled by [`super::Job::resolve`]: the video's shape and parent.
    pub source: Option<faces::SourceVideo>,
    /// Why the task fails (a sound URL of the mock's own that names no file).
    pub failure: Option<String>,
    /// `external_task_id`, `callback_url`.
    pub common: Common,
}

/// A required whole number of ms, at least 0.
fn ms_field(f: &Fields<'_>, name: &str) -> Result<u64, KlingError> {
    match f.raw_value(name) {
        None => Err(KlingError::param(format!("{name} must not be null"))),
        Some(Value::Number(n)) => n.as_u64().ok_or_else(|| {
            KlingError::param(format!(
                "{name} must be a whole number of milliseconds, at least 0, got {n}"
            ))
        }),
        Some(other) => Err(KlingError::param(format!(
            "{name} must be a whole number of milliseconds, got {}",
            super::fields::json_kind(other)
        ))),
    }
}

impl CreateAdvancedLipSync {
    /// Validate a create body (the session, face and audio are resolved later).
    pub fn parse(body: &Map<String, Value>) -> Result<Self, KlingError> {
        let f = Fields::new(body);
        let session_id = f
            .opt_str("session_id")?
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| KlingError::param("session_id must not be null"))?
            .trim()
            .to_string();
        let items = video::object_list(&f, "face_choose", usize::MAX)?;
        if items.len() != 1 {
            return Err(KlingError::param(format!(
                "face_choose must have exactly one item (one face at a time), got {}",
                items.len()
            )));
        }
        let p = "face_choose[0].";
        let c = Fields::new(items[0]);
        let face_id = match c.raw_value("face_id") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err(KlingError::param(format!("{p}face_id must not be null"))),
        };
        let audio_id = c
            .opt_str("audio_id")
            .map_err(|e| prefixed(p, e))?
            .filter(|s| !s.trim().is_empty());
        let sound_file = c
            .opt_str("sound_file")
            .map_err(|e| prefixed(p, e))?
            .filter(|s| !s.trim().is_empty());
        let audio = match (audio_id, sound_file) {
            (Some(_), Some(_)) => {
                return Err(KlingError::param(format!(
                    "{p}audio_id and {p}sound_file: give exactly one, got both"
                )));
            }
            (None, None) => {
                return Err(KlingError::param(format!(
                    "{p}audio_id or {p}sound_file is required"
                )));
            }
            (Some(id), None) => Audio::Id(id.trim().to_string()),
            (None, Some(file)) => {
                Audio::File(SoundFile::parse("sound_file", file).map_err(|e| prefixed(p, e))?)
            }
        };
        let start = ms_field(&c, "sound_start_time").map_err(|e| prefixed(p, e))?;
        let end = ms_field(&c, "sound_end_time").map_err(|e| prefixed(p, e))?;
        let insert = ms_field(&c, "sound_insert_time").map_err(|e| prefixed(p, e))?;
        if start
            .checked_add(MIN_SPAN_MS)
            .is_none_or(|least| end < least)
        {
            return Err(KlingError::param(format!(
                "{p}sound_end_time must be at least 2000 ms after sound_start_time (the cropped audio lasts at least 2 s), got {start}–{end}"
            )));
        }
        for name in ["sound_volume", "original_audio_volume"] {
            faces::number_in(&c, name, (0.0, 2.0), 1.0).map_err(|e| prefixed(p, e))?;
        }
        if let Audio::File(SoundFile::Inline(Some(ms))) = audio {
            faces::check_audio_ms(&format!("{p}sound_file"), ms, AUDIO_MS)?;
        }
        Ok(CreateAdvancedLipSync {
            session_id,
            face_id,
            audio,
            times: (start, end, insert),
            watermark: video::watermark(&f)?,
            source: None,
            failure: None,
            common: Common::parse(&f)?,
        })
    }
}

impl super::Job for CreateAdvancedLipSync {
    fn common(&self) -> &Common {
        &self.common
    }
    fn resolve(&mut self, s: &Ctx<'_>, account: &Account) -> Result<(), KlingError> {
        let p = "face_choose[0].";
        let (video_id, file, video_ms) =
            super::identify_face::session(s, account, "session_id", &self.session_id)?;
        let face = super::identify_face::faces_of(video_ms)
            .into_iter()
            .find(|f| f.id.to_string() == self.face_id)
            .ok_or_else(|| {
                KlingError::param(format!(
                    "{p}face_id: face '{}' not found in session {}",
                    self.face_id, self.session_id
                ))
            })?;
        let audio_ms = match &self.audio {
            Audio::Id(id) => Some(faces::audio_id(
                s,
                account,
                &format!("{p}audio_id"),
                id,
                AUDIO_MS,
            )?),
            Audio::File(SoundFile::Inline(ms)) => *ms,
            Audio::File(SoundFile::Url(url)) => {
                match faces::own_audio_url(s, &format!("{p}sound_file"), url)? {
                    Ok(Some(ms)) => {
                        faces::check_audio_ms(&format!("{p}sound_file"), ms, AUDIO_MS)?;
                        Some(ms)
                    }
                    Ok(None) => None,
                    Err(reason) => {
                        self.failure.get_or_insert(reason);
                        None
                    }
                }
            }
        };
        let (start, end, insert) = self.times;
        if let Some(len) = audio_ms
            && end > len
        {
            return Err(KlingError::param(format!(
                "{p}sound_end_time must be at most the audio's length {len} ms ({} s), got {end}",
                format_secs(len as f64 / 1000.0)
            )));
        }
        let span = end - start;
        let until = insert.saturating_add(span);
        if until > video_ms {
            return Err(KlingError::param(format!(
                "{p}sound_insert_time: the audio inserted at {insert} ms would end at {until} ms, after the video's end at {video_ms} ms"
            )));
        }
        let overlap = until.min(face.end).saturating_sub(insert.max(face.start));
        if overlap < MIN_SPAN_MS {
            return Err(KlingError::param(format!(
                "{p}sound_insert_time: the audio ({insert}–{until} ms) must overlap the face's window ({}–{} ms) by at least 2000 ms, got {overlap} ms",
                face.start, face.end
            )));
        }
        // The session's video: one of the mock's own files (its shape), or a foreign URL.
        let now = s.clock.now_ms();
        let source = if video_id == 0 {
            faces::SourceVideo {
                shape: Shape::FOREIGN.lasting(video_ms),
                parent: None,
                failure: None,
            }
        } else {
            let vf = s.media.video(&file, now).ok_or_else(|| {
                KlingError::param(format!(
                    "session_id: the video of session {} is no longer available",
                    self.session_id
                ))
            })?;
            faces::SourceVideo {
                shape: Shape::of(&vf),
                parent: Some((video_id, file)),
                failure: None,
            }
        };
        self.source = Some(source);
        Ok(())
    }
    fn cost(&self) -> Option<f64> {
        self.source
            .as_ref()
            .map(|src| faces::units(src.shape.ms(), super::lip_sync::UNITS_PER_SEC))
    }
    fn plan(&self, s: &Ctx<'_>, account: &Account, task_id: u64, now: i64) -> Plan {
        let src = self.source.as_ref().expect("resolve runs before plan");
        let dub = Dub {
            shape: src.shape,
            label: "advanced-lip-sync",
            pro: false,
            source: VideoSource::LipSync,
            watermark: self.watermark,
            units: faces::units(src.shape.ms(), super::lip_sync::UNITS_PER_SEC),
        };
        Plan {
            result: TaskResult::new(faces::make(
                s,
                account,
                task_id,
                now,
                &dub,
                src.parent_video(),
            )),
            failure: self.failure.clone(),
        }
    }
}

/// Its part of the OpenAPI document.
fn doc() -> super::doc::KindDoc {
    use super::doc::*;
    use serde_json::json;
    let ms = json!({"type": "integer", "minimum": 0, "description": "ms"});
    let volume = json!({"type": "number", "minimum": 0, "maximum": 2, "default": 1});
    KindDoc {
        tag: "video",
        ids: [
            "createAdvancedLipSync",
            "getAdvancedLipSync",
            "listAdvancedLipSync",
        ],
        summaries: [
            "Dub one face of an identified video with an audio",
            "One advanced lip-sync task, by task_id or external_task_id",
            "The caller's advanced lip-sync tasks, newest first",
        ],
        description: "SOURCES.md: Advanced Lip-Sync; kling-api.md §5.8 (c). The result lasts as long as the session's video.",
        request: "AdvancedLipSyncRequest",
        answer: "AdvancedLipSyncTask",
        answer_description: "",
        field_rules: "a field breaks a rule of the request schema, the session_id is not a session of the caller's under 24 hours old, the face_id is not one of its faces, the audio_id is not a generated audio of the caller's of 2–60 s, the crop or insert times break their rules, or the external_task_id is already used",
        schemas: vec![
            ("AdvancedLipSyncTask", super::lip_sync::dubbed_task()),
            (
                "AdvancedLipSyncRequest",
                json!({
                    "type": "object",
                    "required": ["session_id", "face_choose"],
                    "description": "Unknown fields are ignored.",
                    "properties": {
                        "session_id": {"type": "string", "description": "From identify-face, valid 24 h."},
                        "face_choose": {"type": "array", "minItems": 1, "maxItems": 1, "items": {
                            "type": "object",
                            "required": ["face_id", "sound_start_time", "sound_end_time", "sound_insert_time"],
                            "description": "Exactly one of audio_id and sound_file.",
                            "properties": {
                                "face_id": {"type": "string"},
                                "audio_id": {"type": "string", "description": "A generated audio of the caller's (TTS), 2–60 s."},
                                "sound_file": {"type": "string", "description": "Raw Base64 or an http(s) URL of a .mp3/.wav/.m4a/.aac audio, ≤ 5 MB, 2–60 s."},
                                "sound_start_time": ms.clone(),
                                "sound_end_time": ms.clone(),
                                "sound_insert_time": ms,
                                "sound_volume": volume.clone(),
                                "original_audio_volume": volume,
                            },
                        }},
                        "watermark_info": schema_ref("WatermarkInfo"),
                        "callback_url": schema_ref("CallbackUrl"),
                        "external_task_id": schema_ref("ExternalTaskId"),
                    },
                    "examples": [{"session_id": "860000000000000001", "face_choose": [{"face_id": "0", "audio_id": "860000000000000002", "sound_start_time": 0, "sound_end_time": 3000, "sound_insert_time": 0}]}],
                }),
            ),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(v: Value) -> String {
        CreateAdvancedLipSync::parse(v.as_object().unwrap())
            .unwrap_err()
            .message
            .into_owned()
    }

    fn face(extra: Value) -> Value {
        let mut f = json!({"face_id": "0", "audio_id": "1", "sound_start_time": 0,
                           "sound_end_time": 3000, "sound_insert_time": 0});
        for (k, v) in extra.as_object().unwrap() {
            f[k] = v.clone();
        }
        json!({"session_id": "9", "face_choose": [f]})
    }

    #[test]
    fn fields_follow_their_rules() {
        assert_eq!(
            err(json!({"face_choose": []})),
            "session_id must not be null"
        );
        assert_eq!(
            err(json!({"session_id": "1", "face_choose": []})),
            "face_choose must have exactly one item (one face at a time), got 0"
        );
        assert_eq!(
            err(face(json!({"sound_file": "https://x.example/a.mp3"}))),
            "face_choose[0].audio_id and face_choose[0].sound_file: give exactly one, got both"
        );
        assert_eq!(
            err(face(json!({"audio_id": null}))),
            "face_choose[0].audio_id or face_choose[0].sound_file is required"
        );
        assert_eq!(
            err(face(json!({"sound_end_time": 1500}))),
            "face_choose[0].sound_end_time must be at least 2000 ms after sound_start_time (the cropped audio lasts at least 2 s), got 0–1500"
        );
        assert_eq!(
            err(face(json!({"sound_insert_time": null}))),
            "face_choose[0].sound_insert_time must not be null"
        );
        assert_eq!(
            err(face(json!({"sound_start_time": -1}))),
            "face_choose[0].sound_start_time must be a whole number of milliseconds, at least 0, got -1"
        );
        assert_eq!(
            err(face(json!({"sound_volume": 2.5}))),
            "face_choose[0].sound_volume must be between 0 and 2, got 2.5"
        );
        assert_eq!(
            err(face(
                json!({"audio_id": null, "sound_file": faces::tests::wav_b64(1500)})
            )),
            "face_choose[0].sound_file: the audio must last 2 to 60 s, got 1.5 s"
        );
        // Huge times are refused or checked without overflowing.
        assert!(
            err(face(
                json!({"sound_start_time": u64::MAX, "sound_end_time": u64::MAX})
            ))
            .contains("at least 2000 ms after")
        );
        let ok = CreateAdvancedLipSync::parse(face(json!({})).as_object().unwrap()).unwrap();
        assert_eq!(ok.times, (0, 3000, 0));
        assert_eq!(ok.audio, Audio::Id("1".into()));
    }
}
