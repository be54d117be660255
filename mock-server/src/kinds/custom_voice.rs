//! Custom voice: `POST /v1/general/custom-voices` (SOURCES.md: Custom Voices).
//!
//! Request: `voice_name` (required, ≤ 20 characters), exactly one of `voice_url` (`.mp3 .wav
//! .mp4 .mov`) or `video_id` (SOURCES.md: Reseller guide: "Provide exactly one ... submitting both, or neither,
//! will be rejected"), `callback_url`, `external_task_id`.
//! Result: `task_result.voices[{voice_id, voice_name, trial_url, owned_by}]`, `owned_by` the
//! creator's numeric id.
//!
//! What the mock can check of the source, it checks as the real service would, by failing the
//! task (the sample is only fetched after creation):
//! * a `voice_url` that points at a file this mock serves must last 5–30 s;
//! * a `video_id` must name a video of the caller's that qualifies (V2.6 with sound, Avatar or
//!   Lip-Sync; SOURCES.md: Custom Voices) and lasts 5–30 s.
//!
//! Other URLs cannot be fetched here (and need not be): they are taken as valid samples.

use super::fields::{Common, Fields, http_url, max_chars};
use crate::auth::Account;
use crate::engine::Plan;
use crate::error::KlingError;
use crate::kinds::Ctx;
use crate::kinds::TaskResult;
use crate::media::audio::{Sound, Style, samples_for_secs};
use crate::media::{Format, MediaFile, MediaRef, Origin, parse_file_name};
use crate::voices::TRIAL_SECS;
use crate::wire::format_secs;
use serde::Serialize;
use serde_json::{Map, Value};

/// Longest `voice_name`, characters.
pub const MAX_VOICE_NAME: usize = 20;
/// Accepted `voice_url` extensions.
pub const VOICE_URL_EXTENSIONS: [&str; 4] = ["mp3", "wav", "mp4", "mov"];
/// Shortest and longest accepted voice sample, seconds.
pub const SAMPLE_SECS: (f64, f64) = (5.0, 30.0);

/// Where the voice comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VoiceSource {
    /// `voice_url`.
    Url(String),
    /// `video_id`.
    Video(String),
}

/// A validated create request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateCustomVoice {
    /// `voice_name`.
    pub voice_name: String,
    /// `voice_url` or `video_id`.
    pub source: VoiceSource,
    /// `external_task_id`, `callback_url`.
    pub common: Common,
}

impl CreateCustomVoice {
    /// Validate a create body.
    pub fn parse(body: &Map<String, Value>) -> Result<Self, KlingError> {
        let f = Fields::new(body);
        let voice_name = f.req_str("voice_name")?;
        max_chars("voice_name", voice_name, MAX_VOICE_NAME)?;
        let voice_url = f.opt_str("voice_url")?;
        let video_id = f.opt_str("video_id")?;
        let source = match (voice_url, video_id) {
            (Some(_), Some(_)) => {
                return Err(KlingError::param(
                    "exactly one of voice_url and video_id is required, got both",
                ));
            }
            (None, None) => {
                return Err(KlingError::param(
                    "exactly one of voice_url and video_id is required, got neither",
                ));
            }
            (Some(u), None) => {
                let url = http_url("voice_url", u)?;
                let ext = url
                    .path()
                    .rsplit_once('.')
                    .map(|(_, e)| e.to_ascii_lowercase())
                    .unwrap_or_default();
                if !VOICE_URL_EXTENSIONS.contains(&ext.as_str()) {
                    return Err(KlingError::param(format!(
                        "voice_url must be a .mp3, .wav, .mp4 or .mov file, got '{u}'"
                    )));
                }
                VoiceSource::Url(u.to_string())
            }
            (None, Some(v)) => VoiceSource::Video(v.to_string()),
        };
        Ok(CreateCustomVoice {
            voice_name: voice_name.to_string(),
            source,
            common: Common::parse(&f)?,
        })
    }
}

/// One voice of `task_result.voices`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct VoiceOut {
    /// `voice_id`.
    pub voice_id: u64,
    /// `voice_name`.
    pub voice_name: Box<str>,
    /// The file behind `trial_url`.
    pub trial: MediaRef,
    /// `owned_by`: the creator's numeric id.
    pub owned_by: u64,
}

#[derive(Serialize)]
struct WireVoice {
    voice_id: String,
    voice_name: String,
    trial_url: String,
    owned_by: String,
}

impl VoiceOut {
    fn to_wire(&self, base: &str) -> WireVoice {
        WireVoice {
            voice_id: self.voice_id.to_string(),
            voice_name: self.voice_name.to_string(),
            trial_url: self.trial.url(base),
            owned_by: self.owned_by.to_string(),
        }
    }
}

/// The result of a custom-voice task: `task_result.voices` (JSON state files wrote it as `Voices`).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Voices(pub Vec<VoiceOut>);

#[derive(Serialize)]
struct WireVoices {
    voices: Vec<WireVoice>,
}

impl super::KindResult for Voices {
    fn wire<'a>(&'a self, base: &'a str) -> Box<dyn erased_serde::Serialize + 'a> {
        Box::new(WireVoices {
            voices: self.0.iter().map(|v| v.to_wire(base)).collect(),
        })
    }
}

/// The kind: its paths, limits, timings and cost (see [`super::KindSpec`]).
pub static SPEC: super::KindSpec = super::KindSpec {
    id: super::KindId::new("custom-voice"),
    path: "/v1/general/custom-voices",
    mode: super::Mode::Task {
        query: "/v1/general/custom-voices/{id}",
        result: super::result_type::<Voices>("Voices"),
        parse: |body| Ok(Box::new(CreateCustomVoice::parse(body)?)),
    },
    max_page_size: 1000,
    lifecycle: super::DEFAULT_TASK_LIFECYCLE,
    // --timing-profile realistic: the live custom-voice task: about 9 s (SOURCES.md: observed voice objects).
    realistic: super::realistic(2_000, 8_000),
    // TTS, voices and audio draw on the video pack (SOURCES.md: observed deductions).
    pool: crate::engine::billing::Pool::Video,
    unit_deduction: "0.05",
    doc,
    extras: &[
        super::Extra {
            method: super::ExtraMethod::Get,
            path: "/v1/general/presets-voices",
            handler: presets_list,
            doc: presets_doc,
        },
        super::Extra {
            method: super::ExtraMethod::Post,
            path: "/v1/general/delete-voices",
            handler: delete_voice,
            doc: delete_doc,
        },
    ],
};

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

/// `GET /v1/general/presets-voices?pageNum&pageSize` (pageSize [1, 1000]): the official voices.
fn presets_list(
    s: &Ctx<'_>,
    _: &Account,
    input: super::Input<'_>,
) -> Result<axum::response::Response, KlingError> {
    let super::Input::Query(q) = input else {
        return Err(KlingError::param("a query string was expected"));
    };
    let paging = super::fields::Paging::parse(q, 1000)?;
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
    Ok(crate::wire::data_response(&items))
}

#[derive(Serialize)]
struct Deleted {
    task_id: String,
    task_status: &'static str,
}

/// `POST /v1/general/delete-voices` `{voice_id}`: only the caller's own custom voices.
fn delete_voice(
    s: &Ctx<'_>,
    account: &Account,
    input: super::Input<'_>,
) -> Result<axum::response::Response, KlingError> {
    let super::Input::Body(body) = input else {
        return Err(KlingError::param("a JSON body was expected"));
    };
    let voice_id = super::fields::Fields::new(body).req_str("voice_id")?;
    if s.voices.is_official(voice_id) {
        return Err(KlingError::param(format!(
            "Voice {voice_id} is an official voice: only custom voices can be deleted"
        )));
    }
    // A voice exists once its task has succeeded; until then, after a failure, after a deletion,
    // or for another account, there is none.
    let task_id = usable_voice(s, account.idx, voice_id)
        .filter(|&t| s.engine.delete(account.idx, t))
        .ok_or_else(|| KlingError::param("Voice id not found"))?;
    Ok(crate::wire::data_response(&Deleted {
        task_id: task_id.to_string(),
        task_status: "succeed",
    }))
}

fn presets_doc() -> super::doc::ExtraDoc {
    use super::doc::*;
    ExtraDoc {
        id: "listPresetVoices",
        summary: "The official voices (`owned_by: \"kling\"`)",
        description: "",
        paging: Some(1000),
        body: None,
        ok: (
            "A page of preset voices.",
            serde_json::json!({"type": "array", "items": schema_ref("PresetVoiceItem")}),
        ),
        field_rules: "",
    }
}

fn delete_doc() -> super::doc::ExtraDoc {
    use super::doc::*;
    ExtraDoc {
        id: "deleteVoice",
        summary: "Delete one of the caller's custom voices",
        description: "",
        paging: None,
        body: Some("DeleteVoiceRequest"),
        ok: ("The voice was deleted.", schema_ref("DeletedVoice")),
        field_rules: "voice_id missing, blank or not a string; an official voice (only custom \
                      voices can be deleted); not a usable custom voice of the caller's \
                      (`Voice id not found`)",
    }
}

/// Its part of the OpenAPI document.
fn doc() -> super::doc::KindDoc {
    use super::doc::*;
    use serde_json::json;
    let absent_or_empty = ABSENT_OR_EMPTY;
    KindDoc {
        tag: "custom-voices",
        ids: ["createCustomVoice", "getCustomVoice", "listCustomVoices"],
        summaries: [
            "Create a custom voice task",
            "One custom voice task, by task_id or external_task_id",
            "The caller's custom voice tasks, newest first",
        ],
        description: "SOURCES.md: Custom Voices, Reseller guide. The sample is checked after \
                      creation: a sample served by this mock must last 5–30 s, a video_id \
                      must name a qualifying video of the caller's; otherwise the task fails \
                      with the reason in task_status_msg.",
        request: "CreateCustomVoiceRequest",
        answer: "CustomVoiceTask",
        answer_description: "",
        field_rules: TASK_FIELD_RULES,
        schemas: vec![
            ("CustomVoiceTask", task_of("Voice", "voices")),
            (
                "Voice",
                json!({
                    "type": "object",
                    "required": ["voice_id", "voice_name", "trial_url", "owned_by"],
                    "properties": {
                        "voice_id": {"type": "string"},
                        "voice_name": {"type": "string"},
                        "trial_url": {"type": "string", "format": "uri", "description": "A 6 s MP3 served under /files."},
                        "owned_by": {"type": "string", "description": "The creator's numeric id, or `kling` for presets."},
                    },
                }),
            ),
            ("PresetVoiceItem", preset_item("voices", "Voice")),
            ("DeletedVoice", deleted_answer()),
            (
                "DeleteVoiceRequest",
                json!({
                    "type": "object",
                    "required": ["voice_id"],
                    "properties": {
                        "voice_id": nonblank(None, "A custom voice of the caller's whose task succeeded."),
                    },
                }),
            ),
            (
                "CreateCustomVoiceRequest",
                json!({
                    "type": "object",
                    "required": ["voice_name"],
                    "description": "Exactly one of voice_url and video_id (a non-empty string); the other absent, null or \"\". Unknown fields are ignored.",
                    "properties": {
                        "voice_name": nonblank(Some(MAX_VOICE_NAME), "Name of the voice (characters, not bytes); not blank."),
                        "voice_url": {
                            "type": ["string", "null"],
                            "pattern": url_pattern(&VOICE_URL_EXTENSIONS),
                            "description": format!("An http(s) URL of a .{} sample (5–30 s). {absent_or_empty}", VOICE_URL_EXTENSIONS.join(", .")),
                        },
                        "video_id": {
                            "type": ["string", "null"],
                            "description": format!("A video generated by kling-v2-6 with sound, the Avatar API or the Lip-Sync API, 5–30 s. {absent_or_empty}"),
                        },
                        "callback_url": schema_ref("CallbackUrl"),
                        "external_task_id": schema_ref("ExternalTaskId"),
                    },
                    "oneOf": [
                        {"required": ["voice_url"], "properties": {
                            "voice_url": {"type": "string", "minLength": 1},
                            "video_id": {"enum": [null, ""]},
                        }},
                        {"required": ["video_id"], "properties": {
                            "video_id": {"type": "string", "minLength": 1},
                            "voice_url": {"enum": [null, ""]},
                        }},
                    ],
                    "examples": [{"voice_name": "My voice", "voice_url": "https://example.com/sample.mp3"}],
                }),
            ),
        ],
    }
}

impl super::Job for CreateCustomVoice {
    fn common(&self) -> &super::fields::Common {
        &self.common
    }
    fn plan(&self, s: &Ctx<'_>, account: &Account, task_id: u64, now: i64) -> Plan {
        plan(s, account, self, task_id, now)
    }
}

/// Plan the task: a new voice id and trial file, and whether the sample will be refused.
pub fn plan(
    s: &Ctx<'_>,
    account: &Account,
    req: &CreateCustomVoice,
    task_id: u64,
    now: i64,
) -> Plan {
    let voice_id = s.ids.next(now);
    let trial = s.media.add_file(
        s.entropy.token(),
        MediaFile {
            sound: Sound {
                seed: voice_id,
                style: Style::Speech,
            },
            format: Format::Mp3,
            samples: samples_for_secs(TRIAL_SECS),
            born: Some(now),
        },
    );
    s.custom_voices.register(voice_id, account.idx, task_id);
    let failure = match &req.source {
        VoiceSource::Url(u) => check_url_sample(s, u),
        VoiceSource::Video(v) => check_video_sample(s, account, v),
    };
    Plan {
        result: TaskResult::new(Voices(vec![VoiceOut {
            voice_id,
            voice_name: req.voice_name.as_str().into(),
            trial,
            owned_by: account.owner_id,
        }])),
        failure,
    }
}

/// The creating task of `voice_id` if it is a custom voice of `account` that can be used now: its
/// task succeeded and it has not been deleted. Endpoints that accept a voice id (video
/// `voice_list`, lip-sync) go through this.
pub fn usable_voice(s: &Ctx<'_>, account: u32, voice_id: &str) -> Option<u64> {
    let task_id = s.custom_voices.task_of(account, voice_id.parse().ok()?)?;
    let task = s.engine.get_owned(account, task_id)?;
    (task.status == crate::engine::Status::Succeed).then_some(task_id)
}

/// The custom voice `voice_id` of `account` if it can be used now ([`usable_voice`]), as its
/// task shows it (name, trial file, owner): what an element bound to it reports.
pub fn usable_voice_info(s: &Ctx<'_>, account: u32, voice_id: &str) -> Option<VoiceOut> {
    let task_id = usable_voice(s, account, voice_id)?;
    let task = s.engine.get_owned(account, task_id)?;
    // The result is this kind's own type behind the engine's trait object: read it back the way
    // a saved state does.
    let bytes = postcard::to_stdvec(task.planned.saved()).ok()?;
    let Voices(voices) = postcard::from_bytes(&bytes).ok()?;
    voices.into_iter().next()
}

fn duration_rule(secs: f64) -> Option<String> {
    let (min, max) = SAMPLE_SECS;
    (!(min..=max).contains(&secs)).then(|| {
        format!(
            "The voice duration must be between 5 and 30 seconds, got {}s",
            format_secs(secs)
        )
    })
}

fn check_url_sample(s: &Ctx<'_>, url: &str) -> Option<String> {
    let (token, _) = parse_file_name(url)?;
    let now = s.clock.now_ms();
    if let Some(v) = s.media.video(&token, now) {
        // One of the mock's own videos: its sound track is the sample.
        return match v.sound {
            Some(_) => duration_rule(v.duration_secs()),
            None => Some(format!(
                "No voice was found in the sample: the video {url} has no sound"
            )),
        };
    }
    match s.media.file(&token, now) {
        Some(f) => duration_rule(
            MediaRef {
                token,
                format: f.format,
                samples: f.samples,
            }
            .duration_secs(),
        ),
        // One of our own file names that we never generated: the download would be a 404.
        None if url.starts_with(s.engine.base_url()) => Some(format!(
            "Failed to download the voice file: HTTP 404 for {url}"
        )),
        None => None,
    }
}

fn check_video_sample(s: &Ctx<'_>, account: &Account, video_id: &str) -> Option<String> {
    let item = video_id
        .parse::<u64>()
        .ok()
        .and_then(|id| s.media.item(account.idx, id, s.clock.now_ms()));
    match item {
        Some(item) => match item.origin {
            Origin::Video(src) if src.qualifies_for_custom_voice() => {
                duration_rule(item.duration_ms as f64 / 1000.0)
            }
            Origin::Video(_) => Some(format!(
                "Video {video_id} cannot be used for a custom voice: only videos generated by kling-v2-6 with sound on, by the Avatar API or by the Lip-Sync API qualify"
            )),
            Origin::Audio | Origin::FaceSession { .. } => {
                Some(format!("Video not found by id: {video_id}"))
            }
        },
        None => Some(format!("Video not found by id: {video_id}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<CreateCustomVoice, KlingError> {
        CreateCustomVoice::parse(v.as_object().unwrap())
    }

    #[test]
    fn the_vendor_example_with_an_empty_video_id_is_accepted() {
        let r = parse(json!({
            "video_id": "",
            "voice_url": "https://p2-kling.klingai.com/kcdn/cdn-kcdn112452/kling-qa-test/out.mp3",
            "voice_name": "Custom Voice",
            "callback_url": ""
        }))
        .unwrap();
        assert!(matches!(r.source, VoiceSource::Url(_)));
        assert_eq!(r.common, Common::default());
    }

    #[test]
    fn both_or_neither_source_is_refused() {
        let both =
            parse(json!({"voice_name": "a", "voice_url": "https://x/a.mp3", "video_id": "1"}))
                .unwrap_err();
        assert!(both.message.contains("got both"), "{}", both.message);
        let neither = parse(json!({"voice_name": "a"})).unwrap_err();
        assert!(
            neither.message.contains("got neither"),
            "{}",
            neither.message
        );
    }

    #[test]
    fn voice_url_extensions_follow_the_document() {
        for ok in [
            "https://x/a.mp3",
            "https://x/a.WAV",
            "http://x/v.mp4?sig=1",
            "https://x/v.mov",
        ] {
            assert!(
                parse(json!({"voice_name": "a", "voice_url": ok})).is_ok(),
                "{ok}"
            );
        }
        for bad in ["https://x/a.ogg", "https://x/a", "https://x/a.m4a"] {
            let e = parse(json!({"voice_name": "a", "voice_url": bad})).unwrap_err();
            assert!(
                e.message.starts_with("voice_url must be a .mp3"),
                "{bad}: {}",
                e.message
            );
        }
    }
}
