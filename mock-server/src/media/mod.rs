//! Real files behind every result URL, and the ids of generated media.
//!
//! A result never stores bytes: it stores a [`MediaRef`] (a random token, the format and the
//! length in samples), and the file is synthesised when fetched (`GET /files/kling_<uuid>.<ext>`),
//! byte-identical every time ([`audio`]). The library also remembers generated audio and video
//! *ids* ([`MediaItem`]) so that endpoints which take them as input (a custom voice's `video_id`,
//! later avatar/lip-sync `audio_id`) can check ownership, origin and duration.

pub mod audio;

use audio::Sound;
use dashmap::DashMap;

/// A file format the mock serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Format {
    /// MPEG-2 Layer III, 24 kHz mono, CBR.
    Mp3,
    /// RIFF/WAVE PCM 16-bit, 24 kHz mono.
    Wav,
}

impl Format {
    /// File extension.
    pub const fn ext(self) -> &'static str {
        match self {
            Format::Mp3 => "mp3",
            Format::Wav => "wav",
        }
    }

    /// `Content-Type`.
    pub const fn mime(self) -> &'static str {
        match self {
            Format::Mp3 => "audio/mpeg",
            Format::Wav => "audio/wav",
        }
    }

    fn from_ext(ext: &str) -> Option<Format> {
        match ext {
            "mp3" => Some(Format::Mp3),
            "wav" => Some(Format::Wav),
            _ => None,
        }
    }
}

/// An unguessable file token (128 random bits).
pub type Token = [u8; 16];

/// A reference to a served file, as stored in a task result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MediaRef {
    /// The token in the file name.
    pub token: Token,
    /// The format.
    pub format: Format,
    /// Length in PCM samples at [`audio::SAMPLE_RATE`].
    pub samples: u32,
}

/// The query string the live CDN puts on media URLs (kling-audio-samples.md §4).
const CDN_QUERY: &str = "x-kcdn-pid=112452";

impl MediaRef {
    /// The file's URL under `base` (e.g. `http://127.0.0.1:8080`).
    pub fn url(&self, base: &str) -> String {
        format!(
            "{}/files/kling_{}.{}?{CDN_QUERY}",
            base.trim_end_matches('/'),
            uuid::Uuid::from_bytes(self.token).hyphenated(),
            self.format.ext()
        )
    }

    /// The playing time players report for this file, in seconds.
    pub fn duration_secs(&self) -> f64 {
        match self.format {
            Format::Mp3 => audio::mp3_duration_secs(self.samples),
            Format::Wav => audio::wav_duration_secs(self.samples),
        }
    }
}

/// The token and format named by a file name `kling_<uuid>.<ext>` or by any URL whose path ends so.
pub fn parse_file_name(url_or_name: &str) -> Option<(Token, Format)> {
    let no_query = url_or_name.split(['?', '#']).next()?;
    let name = no_query.rsplit('/').next()?;
    let (stem, ext) = name.rsplit_once('.')?;
    let uuid = uuid::Uuid::parse_str(stem.strip_prefix("kling_")?).ok()?;
    Some((
        *uuid.as_bytes(),
        Format::from_ext(&ext.to_ascii_lowercase())?,
    ))
}

/// A file the mock can serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MediaFile {
    /// What it sounds like.
    pub sound: Sound,
    /// Its format.
    pub format: Format,
    /// Its length in samples.
    pub samples: u32,
}

/// Where a generated media id came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Origin {
    /// An audio of `POST /v1/audio/tts`.
    Tts,
    /// An audio of a text-to-audio task.
    TextToAudio,
    /// A generated video.
    Video(VideoSource),
}

/// How a video was generated: decides whether it may serve as a custom-voice source
/// (kling-api.md §5.13: V2.6 with sound on, the Avatar API, the Lip-Sync API).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum VideoSource {
    /// kling-v2-6 with `sound: on`.
    V26WithSound,
    /// The Avatar API.
    Avatar,
    /// The Lip-Sync API.
    LipSync,
    /// Anything else (other models, sound off, ...).
    Other,
}

impl VideoSource {
    /// Whether a custom voice may be cloned from such a video.
    pub const fn qualifies_for_custom_voice(self) -> bool {
        matches!(
            self,
            VideoSource::V26WithSound | VideoSource::Avatar | VideoSource::LipSync
        )
    }
}

/// A generated audio or video, known by its id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MediaItem {
    /// The owning account's index.
    pub account: u32,
    /// How it was made.
    pub origin: Origin,
    /// Its duration, milliseconds.
    pub duration_ms: u64,
    /// When it was generated, Unix ms.
    pub created_at: i64,
}

/// Every file and media id the mock has generated.
#[derive(Debug, Default)]
pub struct MediaLibrary {
    files: DashMap<Token, MediaFile>,
    items: DashMap<u64, MediaItem>,
}

impl MediaLibrary {
    /// Register a file and return its reference.
    pub fn add_file(&self, token: Token, file: MediaFile) -> MediaRef {
        self.files.insert(token, file);
        MediaRef {
            token,
            format: file.format,
            samples: file.samples,
        }
    }

    /// The file with this token.
    pub fn file(&self, token: &Token) -> Option<MediaFile> {
        self.files.get(token).map(|f| *f)
    }

    /// Register a generated audio or video id.
    pub fn add_item(&self, id: u64, item: MediaItem) {
        self.items.insert(id, item);
    }

    /// A generated media id, if it exists and belongs to `account`.
    pub fn item(&self, account: u32, id: u64) -> Option<MediaItem> {
        self.items
            .get(&id)
            .map(|i| *i)
            .filter(|i| i.account == account)
    }

    /// Number of files registered.
    pub fn file_count(&self) -> usize {
        self.files.len()
    }

    /// Every file, for persistence.
    pub fn files(&self) -> Vec<(Token, MediaFile)> {
        self.files.iter().map(|e| (*e.key(), *e.value())).collect()
    }

    /// Every media id, for persistence.
    pub fn items(&self) -> Vec<(u64, MediaItem)> {
        self.items.iter().map(|e| (*e.key(), *e.value())).collect()
    }

    /// Number of generated media ids.
    pub fn item_count(&self) -> usize {
        self.items.len()
    }

    /// Forget the media ids of `account` (or all).
    pub fn clear_items(&self, account: Option<u32>) {
        self.items
            .retain(|_, i| account.is_some_and(|a| a != i.account));
    }

    /// Keep only the files `keep` accepts.
    pub fn retain_files(&self, keep: impl Fn(&Token) -> bool) {
        self.files.retain(|t, _| keep(t));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_round_trip_to_their_token() {
        let r = MediaRef {
            token: [7; 16],
            format: Format::Wav,
            samples: 100,
        };
        let url = r.url("http://127.0.0.1:9/");
        assert!(
            url.starts_with("http://127.0.0.1:9/files/kling_07070707-"),
            "{url}"
        );
        assert!(url.ends_with(".wav?x-kcdn-pid=112452"), "{url}");
        assert_eq!(parse_file_name(&url), Some(([7; 16], Format::Wav)));
        assert_eq!(parse_file_name("https://cdn.example/out.mp3"), None);
    }
}
