//! Text to speech: `POST /v1/audio/tts` (SOURCES.md: TTS). Synchronous: the create
//! answer already holds the finished audio; there is no query endpoint, task_info or callback.
//!
//! Request: `text` (required, ≤ 1000 characters, not blank), `voice_id` (required: an official
//! TTS voice of the Voice Guide), `voice_language` (`zh` | `en`, "Default to zh"), `voice_speed`
//! (default 1.0, [0.8, 2.0], one decimal: "values outside this range will be automatically
//! rounded", so the mock rounds to one decimal and clamps instead of refusing).
//! An unknown voice, a custom or preset voice, or a voice with the wrong language →
//! 400 / 1201 "Voice id not found" (live, SOURCES.md: observed preset voices, observed error bodies).
//!
//! Duration ([`speech_secs`]): 0.22 s per CJK character, 0.4 s per other word, 0.2 s per
//! clause-ending punctuation mark, divided by `voice_speed`, plus 0.2 s of lead-in.

use super::Ctx;
use super::fields::{Fields, max_chars};
use crate::auth::Account;
use crate::error::KlingError;
use crate::media::audio::{Sound, Style, samples_for_secs};
use crate::media::{Format, MediaFile, MediaItem, MediaRef, Origin};
use crate::voices::Lang;
use crate::wire::format_secs;
use serde::Serialize;
use serde_json::{Map, Value};

/// Longest `text`, characters.
pub const MAX_TEXT: usize = 1000;
/// `voice_speed` range in tenths.
pub const SPEED_TENTHS: (i64, i64) = (8, 20);

/// A validated TTS request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateTts {
    /// `text`.
    pub text: String,
    /// `voice_id`.
    pub voice_id: String,
    /// `voice_language`.
    pub voice_language: Lang,
    /// `voice_speed` after rounding and clamping, tenths.
    pub speed_tenths: i64,
}

impl CreateTts {
    /// Validate a TTS body (the voice catalogue is checked separately, by [`synthesize`]).
    pub fn parse(body: &Map<String, Value>) -> Result<Self, KlingError> {
        let f = Fields::new(body);
        let text = f.req_str("text")?;
        max_chars("text", text, MAX_TEXT)?;
        let voice_id = f.req_str("voice_id")?;
        let voice_language = match f.opt_str("voice_language")? {
            None => Lang::Zh,
            Some(l) => Lang::parse(l).ok_or_else(|| {
                KlingError::param(format!("voice_language must be one of zh, en, got '{l}'"))
            })?,
        };
        let speed = f.opt_number("voice_speed")?.unwrap_or(1.0);
        let speed_tenths = ((speed * 10.0).round() as i64).clamp(SPEED_TENTHS.0, SPEED_TENTHS.1);
        Ok(CreateTts {
            text: text.to_string(),
            voice_id: voice_id.to_string(),
            voice_language,
            speed_tenths,
        })
    }
}

/// The kind: its path, timings and cost (see [`super::KindSpec`]).
pub static SPEC: super::KindSpec = super::KindSpec {
    id: super::KindId::new("tts"),
    path: "/v1/audio/tts",
    mode: super::Mode::Call {
        parse: |body| Ok(Box::new(CreateTts::parse(body)?)),
    },
    max_page_size: 500,
    lifecycle: super::CALL_LIFECYCLE,
    // --timing-profile realistic: synchronous.
    realistic: super::CALL_LIFECYCLE,
    pool: crate::engine::billing::Pool::Video,
    unit_deduction: "0.05",
    doc,
    extras: &[],
};

/// Its part of the OpenAPI document.
fn doc() -> super::doc::KindDoc {
    use super::doc::*;
    use serde_json::json;
    let absent_or_empty = ABSENT_OR_EMPTY;
    let (id, ms) = (id_schema(), ms_schema());
    KindDoc {
        tag: "audio",
        ids: ["createTts", "", ""],
        summaries: ["Text to speech: answers with the finished audio", "", ""],
        description: "SOURCES.md: TTS. Synchronous: there is no query endpoint, task_info or \
                      callback.",
        request: "TtsRequest",
        answer: "TtsResult",
        answer_description: "The synthesis (a `failed` one without audio when an outcome rule \
                             says so).",
        field_rules: "a field breaks a rule of the request schema, or voice_id is not an \
                      official TTS voice of voice_language (`Voice id not found`)",
        schemas: vec![
            (
                "TtsResult",
                json!({
                    "type": "object",
                    "required": ["task_id", "task_status", "task_status_msg", "task_result",
                                 "final_unit_deduction", "created_at", "updated_at"],
                    "properties": {
                        "task_id": id,
                        "task_status": {"enum": ["succeed", "failed"]},
                        "task_status_msg": {"type": "string"},
                        "task_result": {
                            "type": "object",
                            "description": "`{}` for a failed synthesis.",
                            "properties": {"audios": {"type": "array", "minItems": 1, "maxItems": 1, "items": {
                                "type": "object",
                                "required": ["id", "url", "duration"],
                                "properties": {
                                    "id": id,
                                    "url": {"type": "string", "format": "uri"},
                                    "duration": {"type": "string", "description": "Seconds, at most 3 decimals."},
                                },
                            }}},
                        },
                        "final_unit_deduction": {"type": "string"},
                        "created_at": ms,
                        "updated_at": ms,
                    },
                }),
            ),
            (
                "TtsRequest",
                json!({
                    "type": "object",
                    "required": ["text", "voice_id"],
                    "description": "Unknown fields are ignored.",
                    "properties": {
                        "text": nonblank(Some(MAX_TEXT), "The text (characters, not bytes); not blank."),
                        "voice_id": nonblank(None, "An official TTS voice of the Voice Guide in voice_language (the ids of each language are listed in `oneOf`); any other id, custom and preset voices included, is 400 / 1201 `Voice id not found`."),
                        "voice_language": {
                            "enum": ["zh", "en", "", null],
                            "default": "zh",
                            "description": format!("zh or en. {absent_or_empty}"),
                        },
                        "voice_speed": {
                            "type": ["number", "null"],
                            "minimum": SPEED_TENTHS.0 as f64 / 10.0,
                            "maximum": SPEED_TENTHS.1 as f64 / 10.0,
                            "default": 1.0,
                            "description": "Speech rate, one decimal. As documented (\"values outside this range will be automatically rounded\"), a value outside the range or with more decimals is rounded to one decimal and clamped into the range, not refused; only a non-number is 400 / 1201. `null` counts as absent.",
                            "x-kling-out-of-range": "clamped",
                        },
                    },
                    "oneOf": [
                        {"required": ["voice_language"], "properties": {
                            "voice_language": {"const": "en"},
                            "voice_id": {"enum": tts_voices("en")},
                        }},
                        {"properties": {
                            "voice_language": {"enum": ["zh", "", null]},
                            "voice_id": {"enum": tts_voices("zh")},
                        }},
                    ],
                    "examples": [{"text": "Hello from the mock", "voice_id": "oversea_male1", "voice_language": "en"}],
                }),
            ),
        ],
    }
}

/// The official TTS voice ids of `lang`, from the catalogue the mock loads
/// (`fixtures/tts-voices.json`, read by [`crate::voices`]).
pub(crate) fn tts_voices(lang: &str) -> Vec<String> {
    let rows: Vec<serde_json::Value> =
        serde_json::from_str(include_str!("../../../fixtures/tts-voices.json")).unwrap_or_default();
    rows.iter()
        .filter(|r| r["voice_language"] == lang)
        .filter_map(|r| r["voice_id"].as_str().map(str::to_owned))
        .collect()
}

impl super::Call for CreateTts {
    fn answer(
        &self,
        s: &Ctx<'_>,
        account: &Account,
        fail: Option<String>,
    ) -> Result<axum::response::Response, KlingError> {
        Ok(crate::wire::data_response(&synthesize(
            s, account, self, fail,
        )?))
    }
}

/// Seconds of speech for `text` at `speed_tenths` / 10.
pub fn speech_secs(text: &str, speed_tenths: i64) -> f64 {
    let (mut cjk, mut words, mut pauses, mut in_word) = (0u32, 0u32, 0u32, false);
    for c in text.chars() {
        if is_cjk(c) {
            cjk += 1;
            in_word = false;
        } else if c.is_alphanumeric() {
            if !in_word {
                words += 1;
            }
            in_word = true;
        } else {
            in_word = false;
            if ",.;:!?，。；：！？、…".contains(c) {
                pauses += 1;
            }
        }
    }
    let speed = speed_tenths.max(1) as f64 / 10.0;
    0.2 + (0.22 * cjk as f64 + 0.4 * words as f64 + 0.2 * pauses as f64) / speed
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xAC00..=0xD7AF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F)
}

#[derive(Serialize)]
struct WireAudio {
    id: String,
    url: String,
    duration: String,
}

/// `task_result`: the audio, or `{}` for a failed synthesis.
#[derive(Serialize)]
struct WireResult {
    #[serde(skip_serializing_if = "Option::is_none")]
    audios: Option<[WireAudio; 1]>,
}

/// The TTS answer's `data`.
#[derive(Serialize)]
pub struct TtsData {
    task_id: String,
    task_status: &'static str,
    task_status_msg: String,
    task_result: WireResult,
    final_unit_deduction: &'static str,
    created_at: i64,
    updated_at: i64,
}

/// Check the voice, make the audio, and build the answer. `fail`: an outcome rule made this
/// synthesis fail with that message (answered as a `failed` task without audio, not billed).
pub fn synthesize(
    s: &Ctx<'_>,
    account: &Account,
    req: &CreateTts,
    fail: Option<String>,
) -> Result<TtsData, KlingError> {
    if !s.voices.tts_accepts(&req.voice_id, req.voice_language) {
        return Err(KlingError::param("Voice id not found"));
    }
    let now = s.clock.now_ms();
    let cost = SPEC.id.unit_cost();
    s.engine
        .billing
        .admit(account.idx, SPEC.pool, cost, 0, now)?;
    if let Some(msg) = fail {
        return Ok(TtsData {
            task_id: s.ids.next(now).to_string(),
            task_status: "failed",
            task_status_msg: msg,
            task_result: WireResult { audios: None },
            final_unit_deduction: "0",
            created_at: now,
            updated_at: now,
        });
    }
    s.engine
        .billing
        .finish(account.idx, SPEC.pool, 0, Some(cost), now);
    let task_id = s.ids.next(now);
    let audio_id = s.ids.next(now);
    let samples = samples_for_secs(speech_secs(&req.text, req.speed_tenths));
    let seed = req.voice_id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    let file: MediaRef = s.media.add_file(
        s.entropy.token(),
        MediaFile {
            sound: Sound {
                seed,
                style: Style::Speech,
            },
            format: Format::Mp3,
            samples,
            born: Some(now),
        },
    );
    let secs = file.duration_secs();
    s.media.add_item(
        audio_id,
        MediaItem {
            account: account.idx,
            origin: Origin::Audio,
            duration_ms: (secs * 1000.0).round() as u64,
            created_at: now,
        },
    );
    Ok(TtsData {
        task_id: task_id.to_string(),
        task_status: "succeed",
        task_status_msg: String::new(),
        task_result: WireResult {
            audios: Some([WireAudio {
                id: audio_id.to_string(),
                url: file.url(s.engine.base_url()),
                duration: format_secs(secs),
            }]),
        },
        final_unit_deduction: SPEC.unit_deduction,
        created_at: now,
        updated_at: now,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<CreateTts, KlingError> {
        CreateTts::parse(v.as_object().unwrap())
    }

    #[test]
    fn speed_is_rounded_to_one_decimal_and_clamped() {
        let base = json!({"text": "hi", "voice_id": "oversea_male1", "voice_language": "en"});
        let with = |s: f64| {
            let mut b = base.clone();
            b["voice_speed"] = json!(s);
            parse(b).unwrap().speed_tenths
        };
        assert_eq!(parse(base.clone()).unwrap().speed_tenths, 10);
        assert_eq!(with(1.26), 13);
        assert_eq!(with(0.5), 8);
        assert_eq!(with(3.0), 20);
        assert_eq!(with(0.84), 8);
    }

    #[test]
    fn language_defaults_to_zh_and_must_be_in_the_enum() {
        assert_eq!(
            parse(json!({"text": "你好", "voice_id": "x"}))
                .unwrap()
                .voice_language,
            Lang::Zh
        );
        let e = parse(json!({"text": "hi", "voice_id": "x", "voice_language": "fr"})).unwrap_err();
        assert_eq!(e.message, "voice_language must be one of zh, en, got 'fr'");
    }

    #[test]
    fn speech_lasts_longer_for_more_text_and_shorter_when_faster() {
        let en = "Throughout my time in college, several memorable event left a significant impact on my life";
        let d = speech_secs(en, 10);
        assert!((6.0..8.0).contains(&d), "{d}");
        assert!(speech_secs(en, 20) < d);
        assert!(speech_secs("你好，世界。", 10) > speech_secs("你好", 10));
    }
}
