//! Lip-sync (legacy): `POST /v1/videos/lip-sync` (SOURCES.md: Lip-Sync; kling-api.md §5.8 (a)).
//!
//! Request: `{input: {...}, callback_url, external_task_id}`; `input`: `video_id` xor `video_url`
//! (a video of the caller's or a `.mp4/.mov` URL, 2–10 s), `mode` (required: `text2video` |
//! `audio2video`); for `text2video`: `text` (required, ≤ 120), `voice_id` (required),
//! `voice_language` (`zh` | `en`, default `zh`), `voice_speed` ([0.8, 2.0], one decimal, default
//! 1.0); for `audio2video`: `audio_type` (required: `file` | `url`), `audio_file` (Base64
//! `.mp3/.wav/.m4a/.aac`, ≤ 5 MB) or `audio_url`.
//! The live validation messages are used where they exist ("input.mode: must not be null",
//! "video_id or video_url is required", "Audio type is null", "text is required", "Voice language
//! not found", "Voice id not found", "input.voiceSpeed: must be less than or equal to 2.0").
//!
//! `voice_id`: an official TTS voice of `voice_language` (one of the other language: "Voice
//! language not found"), or a custom voice of the caller's (FIDELITY.md: faces and lip-sync: a
//! voice cloned from a lip-sync or avatar video is meant to speak again).
//! The result is the source video dubbed: as long as it, in its size and frame rate (a foreign
//! URL: 5 s 1280 × 720), with a sound track; `task_info.parent_video` names the source.

use super::Ctx;
use super::faces::{self, Dub, SourceVideo, VideoRef};
use super::fields::{Common, Fields, max_chars};
use super::video;
use crate::auth::Account;
use crate::engine::Plan;
use crate::error::KlingError;
use crate::kinds::TaskResult;
use crate::media::VideoSource;
use crate::voices::Lang;
use serde_json::{Map, Value};

/// The kind: its paths, limits, timings and cost (see [`super::KindSpec`]).
pub static SPEC: super::KindSpec = super::KindSpec {
    id: super::KindId::new("lip-sync"),
    path: "/v1/videos/lip-sync",
    mode: super::Mode::Task {
        query: "/v1/videos/lip-sync/{id}",
        result: super::result_type::<video::Videos>("Videos"),
        parse: |body| Ok(Box::new(CreateLipSync::parse(body)?)),
    },
    max_page_size: 500,
    lifecycle: super::DEFAULT_TASK_LIFECYCLE,
    // --timing-profile realistic: ComfyUI's expected duration of a lip-sync task: 455 s
    // (SOURCES.md: published clients).
    realistic: super::realistic(20_000, 435_000),
    pool: crate::engine::billing::Pool::Video,
    unit_deduction: "0.5",
    doc,
    extras: &[],
};

/// Longest `text`, characters.
pub const MAX_TEXT: usize = 120;
/// Shortest and longest source video, ms (kling-api.md §5.8 (a): 2–10 s).
pub const VIDEO_MS: (u64, u64) = (2_000, 10_000);
/// Units per second of dubbed video (INFERRED: FIDELITY.md, faces and lip-sync).
pub const UNITS_PER_SEC: f64 = 0.1;

/// What the video is dubbed with.
#[derive(Clone, Debug, PartialEq)]
pub enum Speech {
    /// `text2video`: the text spoken by a voice.
    Text {
        /// `voice_id`.
        voice_id: String,
        /// `voice_language`.
        language: Lang,
    },
    /// `audio2video` with Base64 audio.
    File,
    /// `audio2video` with an audio URL.
    Url(String),
}

/// A validated create request.
#[derive(Clone, Debug)]
pub struct CreateLipSync {
    /// `input.video_id` / `input.video_url`.
    pub video: VideoRef,
    /// `input.mode` and what it brings.
    pub speech: Speech,
    /// Settled by [`super::Job::resolve`].
    pub source: Option<SourceVideo>,
    /// Why the task fails (an audio URL of the mock's own that names no file).
    pub failure: Option<String>,
    /// `external_task_id`, `callback_url`.
    pub common: Common,
}

/// An enum field with the live service's wording: "input.`java`: invalid value 'x', allowed
/// values: a, b".
fn enum_field(
    f: &Fields<'_>,
    name: &str,
    java: &str,
    allowed: &[&'static str],
) -> Result<Option<&'static str>, KlingError> {
    match f.opt_str(name)? {
        None => Ok(None),
        Some(v) => allowed
            .iter()
            .copied()
            .find(|a| *a == v)
            .map(Some)
            .ok_or_else(|| {
                KlingError::param(format!(
                    "input.{java}: invalid value '{v}', allowed values: {}",
                    allowed.join(", ")
                ))
            }),
    }
}

impl CreateLipSync {
    /// Validate a create body (the video and the voice are resolved later).
    pub fn parse(body: &Map<String, Value>) -> Result<Self, KlingError> {
        let top = Fields::new(body);
        let empty = Map::new();
        let input = match top.raw_value("input") {
            None => &empty,
            Some(Value::Object(o)) => o,
            Some(other) => {
                return Err(KlingError::param(format!(
                    "input must be an object, got {}",
                    super::fields::json_kind(other)
                )));
            }
        };
        let f = Fields::new(input);
        let mode = enum_field(&f, "mode", "mode", &["text2video", "audio2video"])?
            .ok_or_else(|| KlingError::param("input.mode: must not be null"))?;
        let video = VideoRef::parse(&f, "video_id or video_url is required")?;
        let speech = if mode == "text2video" {
            let text = f
                .opt_str("text")?
                .filter(|t| !t.trim().is_empty())
                .ok_or_else(|| KlingError::param("text is required"))?;
            max_chars("text", text, MAX_TEXT)?;
            let voice_id = f
                .opt_str("voice_id")?
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| KlingError::param("voice_id is required"))?
                .to_string();
            let language = match enum_field(&f, "voice_language", "voiceLanguage", &["zh", "en"])? {
                Some("en") => Lang::En,
                _ => Lang::Zh,
            };
            if let Some(speed) = f.opt_number("voice_speed")? {
                if speed > 2.0 {
                    return Err(KlingError::param(
                        "input.voiceSpeed: must be less than or equal to 2.0",
                    ));
                }
                if speed < 0.8 {
                    return Err(KlingError::param(
                        "input.voiceSpeed: must be greater than or equal to 0.8",
                    ));
                }
                // "one decimal" (kling-api.md §5.8 (a)); the oracle found 0.81 accepted.
                super::fields::tenths("input.voice_speed", speed)?;
            }
            Speech::Text { voice_id, language }
        } else {
            let kind = enum_field(&f, "audio_type", "audioType", &["file", "url"])?
                .ok_or_else(|| KlingError::param("Audio type is null"))?;
            if kind == "file" {
                let file = f.opt_str("audio_file")?.ok_or_else(|| {
                    KlingError::param("audio_file is required when audio_type is file")
                })?;
                faces::audio_base64("audio_file", file.trim())?;
                Speech::File
            } else {
                let url = f.opt_str("audio_url")?.ok_or_else(|| {
                    KlingError::param("audio_url is required when audio_type is url")
                })?;
                Speech::Url(faces::audio_url("audio_url", url)?)
            }
        };
        Ok(CreateLipSync {
            video,
            speech,
            source: None,
            failure: None,
            common: Common::parse(&top)?,
        })
    }
}

/// Check a `voice_id` of `language`: an official TTS voice of that language, or a usable custom
/// voice of the caller's.
pub fn check_voice(
    s: &Ctx<'_>,
    account: &Account,
    voice_id: &str,
    language: Lang,
) -> Result<(), KlingError> {
    if s.voices.tts_accepts(voice_id, language)
        || super::custom_voice::usable_voice(s, account.idx, voice_id).is_some()
    {
        return Ok(());
    }
    let other = match language {
        Lang::Zh => Lang::En,
        Lang::En => Lang::Zh,
    };
    if s.voices.tts_accepts(voice_id, other) {
        return Err(KlingError::param("Voice language not found"));
    }
    Err(KlingError::param("Voice id not found"))
}

impl super::Job for CreateLipSync {
    fn common(&self) -> &Common {
        &self.common
    }
    fn resolve(&mut self, s: &Ctx<'_>, account: &Account) -> Result<(), KlingError> {
        let source = faces::resolve_video(s, account, &self.video, VIDEO_MS)?;
        match &self.speech {
            Speech::Text { voice_id, language } => check_voice(s, account, voice_id, *language)?,
            Speech::Url(url) => {
                if let Err(reason) = faces::own_audio_url(s, "audio_url", url)? {
                    self.failure.get_or_insert(reason);
                }
            }
            Speech::File => {}
        }
        if let Some(f) = &source.failure {
            self.failure.get_or_insert(f.clone());
        }
        self.source = Some(source);
        Ok(())
    }
    fn cost(&self) -> Option<f64> {
        self.source
            .as_ref()
            .map(|src| faces::units(src.shape.ms(), UNITS_PER_SEC))
    }
    fn plan(&self, s: &Ctx<'_>, account: &Account, task_id: u64, now: i64) -> Plan {
        let src = self.source.as_ref().expect("resolve runs before plan");
        let dub = Dub {
            shape: src.shape,
            label: "lip-sync",
            pro: false,
            source: VideoSource::LipSync,
            watermark: false,
            units: faces::units(src.shape.ms(), UNITS_PER_SEC),
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

/// A face family's task schema: a video task with `task_info.parent_video`.
pub(crate) fn dubbed_task() -> Value {
    use super::doc::*;
    use serde_json::json;
    let mut task = super::text2video::video_task();
    task["properties"]["task_info"] = json!({
        "type": "object",
        "properties": {
            "external_task_id": {"type": "string"},
            "parent_video": {"type": "object", "description": "The source video (absent when it was a foreign URL).",
                "properties": {"id": id_schema(), "url": {"type": "string", "format": "uri"}, "duration": {"type": "string"}}},
        },
    });
    task
}

/// Its part of the OpenAPI document.
fn doc() -> super::doc::KindDoc {
    use super::doc::*;
    use serde_json::json;
    let voices: Vec<String> = super::tts::tts_voices("zh")
        .into_iter()
        .chain(super::tts::tts_voices("en"))
        .collect();
    KindDoc {
        tag: "video",
        ids: ["createLipSync", "getLipSync", "listLipSync"],
        summaries: [
            "Dub a video with text or audio (legacy lip-sync)",
            "One lip-sync task, by task_id or external_task_id",
            "The caller's lip-sync tasks, newest first",
        ],
        description: "SOURCES.md: Lip-Sync; kling-api.md §5.8 (a). The result lasts as long as the source video.",
        request: "LipSyncRequest",
        answer: "LipSyncTask",
        answer_description: "",
        field_rules: "a field breaks a rule of the request schema (the live messages: `input.mode: must not be null`, `video_id or video_url is required`, `Audio type is null`, `text is required`, `Voice language not found`, `Voice id not found`, `input.voiceSpeed: must be less than or equal to 2.0`), the video_id does not name a finished video of the caller's of 2–10 s, or the external_task_id is already used",
        schemas: vec![
            ("LipSyncTask", dubbed_task()),
            (
                "LipSyncRequest",
                json!({
                    "type": "object",
                    "required": ["input"],
                    "description": "Unknown fields are ignored.",
                    "properties": {
                        "input": {
                            "type": "object",
                            "required": ["mode"],
                            "description": "Exactly one of video_id and video_url. text2video: text and voice_id; audio2video: audio_type and audio_file or audio_url.",
                            "properties": {
                                "video_id": {"type": "string", "description": "A finished video of the caller's, 2–10 s."},
                                "video_url": {"type": "string", "pattern": url_pattern(&["mp4", "mov"])},
                                "mode": {"enum": ["text2video", "audio2video"]},
                                "text": {"type": "string", "maxLength": MAX_TEXT},
                                "voice_id": {"type": "string", "description": "An official TTS voice of voice_language, or a custom voice of the caller's.", "examples": voices.into_iter().take(3).collect::<Vec<_>>()},
                                "voice_language": {"enum": ["zh", "en"], "default": "zh"},
                                "voice_speed": {"type": "number", "minimum": 0.8, "maximum": 2.0, "default": 1.0},
                                "audio_type": {"enum": ["file", "url"]},
                                "audio_file": {"type": "string", "description": "Raw Base64 of a .mp3/.wav/.m4a/.aac audio, ≤ 5 MB."},
                                "audio_url": {"type": "string", "pattern": url_pattern(&faces::AUDIO_EXTS)},
                            },
                        },
                        "callback_url": schema_ref("CallbackUrl"),
                        "external_task_id": schema_ref("ExternalTaskId"),
                    },
                    "examples": [{"input": {"video_id": "860000000000000001", "mode": "text2video", "text": "Hello", "voice_id": "oversea_male1", "voice_language": "en"}}],
                }),
            ),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(input: Value) -> String {
        CreateLipSync::parse(json!({ "input": input }).as_object().unwrap())
            .unwrap_err()
            .message
            .into_owned()
    }

    #[test]
    fn the_live_messages_are_used() {
        let v = json!({"video_id": "1"});
        assert_eq!(err(v.clone()), "input.mode: must not be null");
        let e = CreateLipSync::parse(json!({}).as_object().unwrap()).unwrap_err();
        assert_eq!(e.message, "input.mode: must not be null");
        assert!(
            err(json!({"video_id": "1", "mode": "x"}))
                .ends_with("allowed values: text2video, audio2video")
        );
        assert_eq!(
            err(json!({"mode": "text2video", "text": "hi", "voice_id": "v"})),
            "video_id or video_url is required"
        );
        assert_eq!(
            err(json!({"video_id": "1", "mode": "audio2video"})),
            "Audio type is null"
        );
        assert!(
            err(json!({"video_id": "1", "mode": "audio2video", "audio_type": "x"}))
                .ends_with("allowed values: file, url")
        );
        assert_eq!(
            err(json!({"video_id": "1", "mode": "text2video", "voice_id": "v"})),
            "text is required"
        );
        assert!(
            err(json!({"video_id": "1", "mode": "text2video", "text": "hi", "voice_id": "v", "voice_language": "fr"}))
                .ends_with("allowed values: zh, en")
        );
        assert_eq!(
            err(
                json!({"video_id": "1", "mode": "text2video", "text": "hi", "voice_id": "v", "voice_speed": 2.1})
            ),
            "input.voiceSpeed: must be less than or equal to 2.0"
        );
        assert_eq!(
            err(
                json!({"video_id": "1", "mode": "text2video", "text": "hi", "voice_id": "v", "voice_speed": 0.7})
            ),
            "input.voiceSpeed: must be greater than or equal to 0.8"
        );
        assert_eq!(
            err(
                json!({"video_id": "1", "mode": "text2video", "text": "hi", "voice_id": "v", "voice_speed": 0.81})
            ),
            "input.voice_speed must have at most one decimal place, got 0.81"
        );
    }

    #[test]
    fn text_and_audio_follow_their_rules() {
        assert_eq!(
            err(
                json!({"video_id": "1", "mode": "text2video", "text": "a".repeat(121), "voice_id": "v"})
            ),
            "text must be at most 120 characters, got 121"
        );
        assert_eq!(
            err(json!({"video_id": "1", "mode": "text2video", "text": "hi"})),
            "voice_id is required"
        );
        assert_eq!(
            err(json!({"video_id": "1", "mode": "audio2video", "audio_type": "file"})),
            "audio_file is required when audio_type is file"
        );
        assert!(
            err(json!({"video_id": "1", "mode": "audio2video", "audio_type": "url", "audio_url": "https://x.example/a.txt"}))
                .starts_with("audio_url must be a .mp3/.wav/.m4a/.aac audio URL")
        );
        let ok = CreateLipSync::parse(
            json!({"input": {"video_url": "https://x.example/a.mp4", "mode": "audio2video",
                   "audio_type": "file", "audio_file": faces::tests::wav_b64(3000)},
                   "external_task_id": "e1"})
            .as_object()
            .unwrap(),
        )
        .unwrap();
        assert_eq!(ok.speech, Speech::File);
        assert_eq!(ok.common.external_task_id.as_deref(), Some("e1"));
    }
}
