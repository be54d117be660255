//! One file per task kind: its request type, validation, result and timings.
//!
//! The engine (`crate::engine`) is the same for every kind; a kind only says how to read its
//! create request ([`fields`] helps with the Kling field rules), what its result looks like, and
//! how long it takes. [`KindId`] is the closed list of kinds; [`TaskResult`] holds any kind's
//! result.

pub mod custom_voice;
pub mod fields;
pub mod text_to_audio;
pub mod tts;

use crate::engine::{Lifecycle, Progress, Span};
use serde::Serialize;

/// A task kind.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum KindId {
    /// `POST /v1/general/custom-voices` (SOURCES.md: Custom Voices).
    CustomVoice,
    /// `POST /v1/audio/text-to-audio` (SOURCES.md: Text to Audio).
    TextToAudio,
    /// `POST /v1/audio/tts`: synchronous, never stored as a queryable task (SOURCES.md: TTS).
    Tts,
}

impl KindId {
    /// The kinds that run through the asynchronous lifecycle.
    pub const ASYNC: [KindId; 2] = [KindId::CustomVoice, KindId::TextToAudio];

    /// The name used in `--timing` and the control plane.
    pub const fn slug(self) -> &'static str {
        match self {
            KindId::CustomVoice => "custom-voice",
            KindId::TextToAudio => "text-to-audio",
            KindId::Tts => "tts",
        }
    }

    /// The kind named `slug`.
    pub fn from_slug(slug: &str) -> Option<KindId> {
        [KindId::CustomVoice, KindId::TextToAudio, KindId::Tts]
            .into_iter()
            .find(|k| k.slug() == slug)
    }

    /// Default time in `submitted` and in `processing`: short enough for local development
    /// (the live custom-voice task takes about 9 s, SOURCES.md: observed voice objects).
    pub const fn default_lifecycle(self) -> Lifecycle {
        let (sub, proc) = match self {
            KindId::CustomVoice | KindId::TextToAudio => (1000, 3000),
            KindId::Tts => (0, 0),
        };
        Lifecycle {
            submitted: Span::fixed(sub),
            processing: Span::fixed(proc),
            progress: Progress::Time,
        }
    }

    /// Largest `pageSize` of this kind's list query (SOURCES.md: Text to Audio, Custom Voices).
    pub const fn max_page_size(self) -> u32 {
        match self {
            KindId::CustomVoice => 1000,
            KindId::TextToAudio | KindId::Tts => 500,
        }
    }

    /// The units a succeeded task costs (its `final_unit_deduction` as a number).
    pub fn unit_cost(self) -> f64 {
        self.unit_deduction().parse().unwrap_or(0.0)
    }

    /// `final_unit_deduction` of a succeeded task (SOURCES.md: observed deductions: TTS and custom voice
    /// 0.05 observed live; text-to-audio not observed, see the README's fidelity notes).
    pub const fn unit_deduction(self) -> &'static str {
        match self {
            KindId::CustomVoice | KindId::TextToAudio | KindId::Tts => "0.05",
        }
    }
}

/// What a task produced, per kind. Serialized as the `task_result` object once the task succeeded.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub enum TaskResult {
    /// `{voices: [...]}` (custom voice).
    Voices(Vec<custom_voice::VoiceOut>),
    /// `{audios: [...]}` (text to audio).
    Audios(Vec<text_to_audio::GeneratedAudio>),
}

impl TaskResult {
    /// The `task_result` object with URLs rooted at `base`.
    pub fn to_wire<'a>(&'a self, base: &'a str) -> impl Serialize + 'a {
        WireResult { result: self, base }
    }
}

struct WireResult<'a> {
    result: &'a TaskResult,
    base: &'a str,
}

impl Serialize for WireResult<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(1))?;
        match self.result {
            TaskResult::Voices(v) => {
                let items: Vec<_> = v.iter().map(|x| x.to_wire(self.base)).collect();
                m.serialize_entry("voices", &items)?;
            }
            TaskResult::Audios(a) => {
                let items: Vec<_> = a.iter().map(|x| x.to_wire(self.base)).collect();
                m.serialize_entry("audios", &items)?;
            }
        }
        m.end()
    }
}
