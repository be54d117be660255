//! The official voice catalogues, and the registry of custom voices.
//!
//! Two catalogues, because live probes show they are separate (SOURCES.md: observed preset voices): a
//! `/v1/general/presets-voices` id used as a TTS `voice_id` answers "Voice id not found".
//! * **TTS voices** (`fixtures/tts-voices.json`, from the Voice Guide): slug ids such as
//!   `oversea_male1`, each bound to its language; 16 ids exist in both languages.
//! * **Preset voices** (`fixtures/presets-voices.json`): what `presets-voices` lists, with numeric
//!   ids and `owned_by: "kling"`. Their real contents were never captured; ours carry the Voice
//!   Guide's names (README, fidelity notes).
//!
//! Custom voices are tasks of the engine; [`CustomVoices`] maps each voice id to its task so that
//! a voice is usable exactly while its task has succeeded and has not been deleted.

use crate::media::audio::{Sound, Style, samples_for_secs};
use crate::media::{Format, MediaFile, MediaLibrary, MediaRef};
use dashmap::DashMap;
use serde::Deserialize;
use std::collections::HashSet;

/// Voice language (`voice_language`, enum `zh` | `en`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// Chinese.
    Zh,
    /// English.
    En,
}

impl Lang {
    /// Parse a wire value.
    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "zh" => Some(Lang::Zh),
            "en" => Some(Lang::En),
            _ => None,
        }
    }
}

#[derive(Deserialize)]
struct TtsRow {
    voice_id: String,
    voice_language: Lang,
}

#[derive(Deserialize)]
struct PresetRow {
    task_id: String,
    voice_id: String,
    voice_name: String,
    created_at: i64,
}

/// One entry of `presets-voices`.
#[derive(Clone, Debug)]
pub struct Preset {
    /// The item's `task_id`.
    pub task_id: String,
    /// The voice id (numeric string).
    pub voice_id: String,
    /// The voice name.
    pub voice_name: String,
    /// `created_at` = `updated_at` of the item.
    pub created_at: i64,
    /// The trial file behind `trial_url`.
    pub trial: MediaRef,
}

/// Length of the trial clip of a voice (preset or custom), seconds.
pub const TRIAL_SECS: f64 = 6.0;

/// The official catalogues.
#[derive(Debug)]
pub struct VoiceCatalog {
    tts: HashSet<(String, Lang)>,
    tts_ids: HashSet<String>,
    presets: Vec<Preset>,
    preset_ids: HashSet<String>,
}

impl VoiceCatalog {
    /// Load the catalogues compiled into the binary and register the presets' trial files.
    pub fn load(media: &MediaLibrary) -> Self {
        // The fixtures are part of the source tree and checked by a unit test; a broken file is a
        // build defect, so an empty catalogue (with an error logged) is the fallback, never a panic.
        let tts_rows: Vec<TtsRow> = parse_fixture(
            include_str!("../../fixtures/tts-voices.json"),
            "tts-voices.json",
        );
        let preset_rows: Vec<PresetRow> = parse_fixture(
            include_str!("../../fixtures/presets-voices.json"),
            "presets-voices.json",
        );
        let presets: Vec<Preset> = preset_rows
            .into_iter()
            .map(|r| {
                let n: u64 = r.voice_id.parse().unwrap_or_default();
                // A fixed token per preset, so trial URLs are stable across starts and seeds.
                let token = ((n as u128) << 64 | 0x6b6c_696e_675f_7072).to_be_bytes();
                let trial = media.add_file(
                    token,
                    MediaFile {
                        sound: Sound {
                            seed: n,
                            style: Style::Speech,
                        },
                        format: Format::Mp3,
                        samples: samples_for_secs(TRIAL_SECS),
                        born: None,
                    },
                );
                Preset {
                    task_id: r.task_id,
                    voice_id: r.voice_id,
                    voice_name: r.voice_name,
                    created_at: r.created_at,
                    trial,
                }
            })
            .collect();
        VoiceCatalog {
            tts_ids: tts_rows.iter().map(|r| r.voice_id.clone()).collect(),
            tts: tts_rows
                .into_iter()
                .map(|r| (r.voice_id, r.voice_language))
                .collect(),
            preset_ids: presets.iter().map(|p| p.voice_id.clone()).collect(),
            presets,
        }
    }

    /// Whether TTS accepts `voice_id` in `lang`.
    pub fn tts_accepts(&self, voice_id: &str, lang: Lang) -> bool {
        self.tts.contains(&(voice_id.to_string(), lang))
    }

    /// Whether `voice_id` is an official voice (either catalogue).
    pub fn is_official(&self, voice_id: &str) -> bool {
        self.tts_ids.contains(voice_id) || self.preset_ids.contains(voice_id)
    }

    /// Whether `token` is the trial file of a preset (kept across resets).
    pub fn is_preset_file(&self, token: &crate::media::Token) -> bool {
        self.presets.iter().any(|p| &p.trial.token == token)
    }

    /// The `presets-voices` entries, in catalogue order.
    pub fn presets(&self) -> &[Preset] {
        &self.presets
    }

    /// Number of (TTS voice id, language) pairs.
    pub fn tts_len(&self) -> usize {
        self.tts.len()
    }
}

fn parse_fixture<T: serde::de::DeserializeOwned>(text: &str, name: &str) -> Vec<T> {
    serde_json::from_str(text).unwrap_or_else(|err| {
        tracing::error!(%err, "fixtures/{name} is invalid; catalogue left empty");
        Vec::new()
    })
}

/// Custom voice id → (owning account, creating task id).
#[derive(Debug, Default)]
pub struct CustomVoices {
    by_voice: DashMap<u64, (u32, u64)>,
    /// Voice ids registered or forgotten, for the state store.
    pub dirty: crate::dirty::Dirty<u64>,
}

impl CustomVoices {
    /// Every (voice id, account, task id), for persistence.
    pub fn entries(&self) -> Vec<(u64, u32, u64)> {
        self.by_voice
            .iter()
            .map(|e| (*e.key(), e.value().0, e.value().1))
            .collect()
    }

    /// Forget the voices of `account` (or all).
    pub fn clear(&self, account: Option<u32>) {
        self.by_voice.retain(|v, e| {
            let keep = account.is_some_and(|a| a != e.0);
            if !keep {
                self.dirty.mark(*v);
            }
            keep
        });
    }

    /// The (account, task id) of a voice, whoever owns it (for the state store).
    pub fn entry(&self, voice_id: u64) -> Option<(u32, u64)> {
        self.by_voice.get(&voice_id).map(|e| *e.value())
    }

    /// Remember that task `task_id` of `account` creates voice `voice_id`.
    pub fn register(&self, voice_id: u64, account: u32, task_id: u64) {
        self.by_voice.insert(voice_id, (account, task_id));
        self.dirty.mark(voice_id);
    }

    /// The creating task of `voice_id`, if the voice belongs to `account`.
    pub fn task_of(&self, account: u32, voice_id: u64) -> Option<u64> {
        self.by_voice
            .get(&voice_id)
            .filter(|e| e.0 == account)
            .map(|e| e.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogues_load_from_the_fixtures() {
        let media = MediaLibrary::default();
        let c = VoiceCatalog::load(&media);
        assert_eq!(
            c.tts_len(),
            62,
            "62 (voice, language) rows in the Voice Guide"
        );
        assert!(c.tts_accepts("oversea_male1", Lang::En));
        assert!(!c.tts_accepts("oversea_male1", Lang::Zh), "en-only voice");
        assert!(
            c.tts_accepts("genshin_vindi2", Lang::Zh) && c.tts_accepts("genshin_vindi2", Lang::En)
        );
        assert_eq!(c.presets().len(), 62);
        assert!(
            c.presets()
                .iter()
                .all(|p| p.voice_id.len() == 18 && p.voice_id.parse::<u64>().is_ok())
        );
        assert!(
            !c.tts_accepts(&c.presets()[0].voice_id, Lang::Zh),
            "preset ids are not TTS ids"
        );
        assert_eq!(media.file_count(), 62, "every preset has a trial file");
    }
}
