//! Text to audio: `POST /v1/audio/text-to-audio` (SOURCES.md: Text to Audio).
//!
//! Request: `prompt` (required, ≤ 200 characters), `duration` (required, 3.0–10.0 s, at most one
//! decimal place), `external_task_id`, `callback_url`.
//! Result: `task_result.audios[{id, url_mp3, url_wav, duration_mp3, duration_wav}]`. The WAV
//! lasts exactly the requested duration; the MP3 holds the same audio and lasts what its frames
//! hold, a few tens of milliseconds more (as the live API's mp3/wav durations differ,
//! SOURCES.md: observed durations).

use super::fields::{Common, Fields, max_chars, tenths};
use crate::auth::Account;
use crate::engine::Plan;
use crate::error::KlingError;
use crate::kinds::Ctx;
use crate::kinds::TaskResult;
use crate::media::audio::{Sound, Style, samples_for_secs};
use crate::media::{Format, MediaFile, MediaItem, MediaRef, Origin};
use crate::wire::format_secs;
use serde::Serialize;
use serde_json::{Map, Value};

/// The kind: its paths, limits, timings and cost (see [`super::KindSpec`]).
pub static SPEC: super::KindSpec = super::KindSpec {
    id: super::KindId::new("text-to-audio"),
    path: "/v1/audio/text-to-audio",
    mode: super::Mode::Task {
        query: "/v1/audio/text-to-audio/{id}",
        result: super::result_type::<Audios>("Audios"),
        parse: |body| Ok(Box::new(CreateTextToAudio::parse(body)?)),
    },
    max_page_size: 500,
    lifecycle: super::DEFAULT_TASK_LIFECYCLE,
    // --timing-profile realistic: never observed; a little longer than a custom voice (FIDELITY.md: timings).
    realistic: super::realistic(2_000, 15_000),
    pool: crate::engine::billing::Pool::Video,
    // Never observed: the same as TTS and custom voices (FIDELITY.md).
    unit_deduction: "0.05",
    doc,
    extras: &[],
};

/// Its part of the OpenAPI document.
fn doc() -> super::doc::KindDoc {
    use super::doc::*;
    use serde_json::json;
    let id = id_schema();
    KindDoc {
        tag: "audio",
        ids: ["createTextToAudio", "getTextToAudio", "listTextToAudio"],
        summaries: [
            "Create a sound-effect task",
            "One text-to-audio task, by task_id or external_task_id",
            "The caller's text-to-audio tasks, newest first",
        ],
        description: "SOURCES.md: Text to Audio.",
        request: "TextToAudioRequest",
        answer: "TextToAudioTask",
        answer_description: "",
        field_rules: TASK_FIELD_RULES,
        schemas: vec![
            ("TextToAudioTask", task_of("GeneratedAudio", "audios")),
            (
                "GeneratedAudio",
                json!({
                    "type": "object",
                    "required": ["id", "url_mp3", "url_wav", "duration_mp3", "duration_wav"],
                    "properties": {
                        "id": id,
                        "url_mp3": {"type": "string", "format": "uri"},
                        "url_wav": {"type": "string", "format": "uri"},
                        "duration_mp3": {"type": "string", "description": "Seconds, at most 3 decimals."},
                        "duration_wav": {"type": "string", "description": "Seconds, at most 3 decimals: the requested duration."},
                    },
                }),
            ),
            (
                "TextToAudioRequest",
                json!({
                    "type": "object",
                    "required": ["prompt", "duration"],
                    "description": "Unknown fields are ignored.",
                    "properties": {
                        "prompt": nonblank(Some(MAX_PROMPT), "What to hear (characters, not bytes); not blank."),
                        "duration": {
                            "type": "number",
                            "minimum": DURATION_TENTHS.0 as f64 / 10.0,
                            "maximum": DURATION_TENTHS.1 as f64 / 10.0,
                            "multipleOf": 0.1,
                            "description": "Seconds, at most one decimal place. A string is refused, not coerced.",
                        },
                        "callback_url": schema_ref("CallbackUrl"),
                        "external_task_id": schema_ref("ExternalTaskId"),
                    },
                    "examples": [{"prompt": "Rain on a tin roof", "duration": 5}],
                }),
            ),
        ],
    }
}

impl super::Job for CreateTextToAudio {
    fn common(&self) -> &super::fields::Common {
        &self.common
    }
    fn plan(&self, s: &Ctx<'_>, account: &Account, task_id: u64, now: i64) -> Plan {
        plan(s, account, self, task_id, now)
    }
}

/// Longest `prompt`, characters.
pub const MAX_PROMPT: usize = 200;
/// `duration` range in tenths of a second.
pub const DURATION_TENTHS: (i64, i64) = (30, 100);

/// A validated create request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateTextToAudio {
    /// `prompt`.
    pub prompt: String,
    /// `duration`, tenths of a second.
    pub duration_tenths: i64,
    /// `external_task_id`, `callback_url`.
    pub common: Common,
}

impl CreateTextToAudio {
    /// Validate a create body.
    pub fn parse(body: &Map<String, Value>) -> Result<Self, KlingError> {
        let f = Fields::new(body);
        let prompt = f.req_str("prompt")?;
        max_chars("prompt", prompt, MAX_PROMPT)?;
        let d = f.req_number("duration")?;
        if !(3.0..=10.0).contains(&d) {
            return Err(KlingError::param(format!(
                "duration must be between 3.0 and 10.0 seconds, got {d}"
            )));
        }
        let duration_tenths = tenths("duration", d)?;
        Ok(CreateTextToAudio {
            prompt: prompt.to_string(),
            duration_tenths,
            common: Common::parse(&f)?,
        })
    }
}

/// One audio of `task_result.audios`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct GeneratedAudio {
    /// `id`.
    pub id: u64,
    /// The MP3 file.
    pub mp3: MediaRef,
    /// The WAV file.
    pub wav: MediaRef,
}

#[derive(Serialize)]
struct WireAudio {
    id: String,
    url_mp3: String,
    url_wav: String,
    duration_mp3: String,
    duration_wav: String,
}

/// The result of a text-to-audio task: `task_result.audios` (JSON state files wrote it as `Audios`).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Audios(pub Vec<GeneratedAudio>);

#[derive(Serialize)]
struct WireAudios {
    audios: Vec<WireAudio>,
}

impl super::KindResult for Audios {
    fn wire<'a>(&'a self, base: &'a str) -> Box<dyn erased_serde::Serialize + 'a> {
        Box::new(WireAudios {
            audios: self.0.iter().map(|a| a.to_wire(base)).collect(),
        })
    }
}

impl GeneratedAudio {
    fn to_wire(&self, base: &str) -> WireAudio {
        WireAudio {
            id: self.id.to_string(),
            url_mp3: self.mp3.url(base),
            url_wav: self.wav.url(base),
            duration_mp3: format_secs(self.mp3.duration_secs()),
            duration_wav: format_secs(self.wav.duration_secs()),
        }
    }
}

/// Plan the task: one audio of the requested length, in MP3 and WAV.
pub fn plan(
    s: &Ctx<'_>,
    account: &Account,
    req: &CreateTextToAudio,
    _task_id: u64,
    now: i64,
) -> Plan {
    let id = s.ids.next(now);
    let samples = samples_for_secs(req.duration_tenths as f64 / 10.0);
    let sound = Sound {
        seed: id,
        style: Style::Effect,
    };
    let mp3 = s.media.add_file(
        s.entropy.token(),
        MediaFile {
            sound,
            format: Format::Mp3,
            samples,
            born: Some(now),
        },
    );
    let wav = s.media.add_file(
        s.entropy.token(),
        MediaFile {
            sound,
            format: Format::Wav,
            samples,
            born: Some(now),
        },
    );
    s.media.add_item(
        id,
        MediaItem {
            account: account.idx,
            origin: Origin::Audio,
            duration_ms: (wav.duration_secs() * 1000.0).round() as u64,
            created_at: now,
        },
    );
    Plan {
        result: TaskResult::new(Audios(vec![GeneratedAudio { id, mp3, wav }])),
        failure: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<CreateTextToAudio, KlingError> {
        CreateTextToAudio::parse(v.as_object().unwrap())
    }

    #[test]
    fn duration_bounds_and_precision() {
        assert_eq!(
            parse(json!({"prompt": "rain", "duration": 3}))
                .unwrap()
                .duration_tenths,
            30
        );
        assert_eq!(
            parse(json!({"prompt": "rain", "duration": 10.0}))
                .unwrap()
                .duration_tenths,
            100
        );
        assert_eq!(
            parse(json!({"prompt": "rain", "duration": 7.3}))
                .unwrap()
                .duration_tenths,
            73
        );
        for bad in [2.9, 10.1, 0.0, -5.0] {
            let e = parse(json!({"prompt": "rain", "duration": bad})).unwrap_err();
            assert!(
                e.message
                    .starts_with("duration must be between 3.0 and 10.0"),
                "{}",
                e.message
            );
        }
        let e = parse(json!({"prompt": "rain", "duration": 5.25})).unwrap_err();
        assert_eq!(
            e.message,
            "duration must have at most one decimal place, got 5.25"
        );
        let e = parse(json!({"prompt": "rain", "duration": "5"})).unwrap_err();
        assert_eq!(e.message, "duration must be a number, got a string");
    }

    #[test]
    fn the_vendor_example_is_accepted() {
        let r = parse(json!({
            "prompt": "Fireworks sound during Chinese New Year celebration",
            "duration": 3, "external_task_id": "", "callback_url": ""
        }))
        .unwrap();
        assert_eq!(r.common, Common::default());
    }
}
