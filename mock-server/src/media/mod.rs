//! Real files behind every result URL, and the ids of generated media.
//!
//! A result never stores bytes: it stores a [`MediaRef`] (a random token, the format and the
//! length), and the file is synthesised when fetched (`GET /files/kling_<uuid>.<ext>`),
//! byte-identical every time: audio files from a [`MediaFile`] ([`audio`]), MP4 videos from a
//! [`VideoFile`] ([`video`]), PNG and JPEG images from an [`ImageFile`] ([`image`]). Made files are kept in memory under a byte budget ([`cache`]). The
//! library also remembers generated audio and video *ids* ([`MediaItem`], and [`VideoFacts`] for
//! videos) so that endpoints which take them as input (a custom voice's `video_id`, video
//! extension, later avatar/lip-sync `audio_id`) can check ownership, origin and duration.

pub mod audio;
pub mod cache;
pub mod image;
pub mod video;

use crate::churn::ChurnMap;
use audio::Sound;
use cache::{FileBytes, MediaCache};
use image::ImageError;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use video::VideoError;

/// A file format the mock serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Format {
    /// MPEG-2 Layer III, 24 kHz mono, CBR.
    Mp3,
    /// RIFF/WAVE PCM 16-bit, 24 kHz mono.
    Wav,
    /// MP4: H.264 video, and MP3 sound when the video has sound ([`video`]).
    Mp4,
    /// PNG, 8-bit RGB ([`image`]).
    Png,
    /// Baseline JPEG, RGB ([`image`]).
    Jpeg,
}

impl Format {
    /// File extension.
    pub const fn ext(self) -> &'static str {
        match self {
            Format::Mp3 => "mp3",
            Format::Wav => "wav",
            Format::Mp4 => "mp4",
            Format::Png => "png",
            Format::Jpeg => "jpg",
        }
    }

    /// `Content-Type`.
    pub const fn mime(self) -> &'static str {
        match self {
            Format::Mp3 => "audio/mpeg",
            Format::Wav => "audio/wav",
            Format::Mp4 => "video/mp4",
            Format::Png => "image/png",
            Format::Jpeg => "image/jpeg",
        }
    }

    fn from_ext(ext: &str) -> Option<Format> {
        match ext {
            "mp3" => Some(Format::Mp3),
            "wav" => Some(Format::Wav),
            "mp4" => Some(Format::Mp4),
            "png" => Some(Format::Png),
            "jpg" | "jpeg" => Some(Format::Jpeg),
            _ => None,
        }
    }
}

/// An unguessable file token: the 16 bytes of a v4 UUID (122 random bits, keyed by the accounts'
/// secret keys: [`crate::ids::Entropy::token`]).
pub type Token = [u8; 16];

/// A reference to a served file, as stored in a task result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MediaRef {
    /// The token in the file name.
    pub token: Token,
    /// The format.
    pub format: Format,
    /// The length: for audio, in PCM samples at [`audio::SAMPLE_RATE`]; for [`Format::Mp4`], in
    /// 1/600 s ticks ([`VideoFile::ticks`]: frames x 600 / fps, exact for every frame rate that
    /// divides 600, as 24, 25, 30 and 60 do); for [`Format::Png`] and [`Format::Jpeg`], 0 (an
    /// image has no length).
    pub samples: u32,
}

/// The query string the live CDN puts on media URLs (SOURCES.md: observed media URLs).
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
            Format::Mp4 => f64::from(self.samples) / f64::from(VIDEO_TICKS),
            Format::Png | Format::Jpeg => 0.0,
        }
    }
}

/// Ticks per second of [`MediaRef::samples`] for videos.
pub const VIDEO_TICKS: u32 = 600;

/// A model/mode label drawn on the picture, ASCII, at most 32 bytes (longer input is cut;
/// characters outside printable ASCII become `?`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Label([u8; 32]);

impl Label {
    /// The label of `text` (its first 32 bytes once made ASCII).
    pub fn new(text: &str) -> Label {
        let mut bytes = [0u8; 32];
        for (b, c) in bytes.iter_mut().zip(text.chars()) {
            *b = if c.is_ascii_graphic() || c == ' ' {
                c as u8
            } else {
                b'?'
            };
        }
        Label(bytes)
    }

    /// The text (without the padding).
    pub fn as_str(&self) -> &str {
        let end = self.0.iter().position(|&b| b == 0).unwrap_or(self.0.len());
        // Only printable ASCII is ever stored; a label read from a damaged state shows empty.
        std::str::from_utf8(&self.0[..end]).unwrap_or("")
    }
}

impl std::fmt::Display for Label {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A generated video file: everything needed to re-create its bytes ([`video::render`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VideoFile {
    /// The task that made it (shown in its first second).
    pub task_id: u64,
    /// Its video id (shown in its first second).
    pub video_id: u64,
    /// Width, pixels (even, 16 to 3840).
    pub width: u32,
    /// Height, pixels (even, 16 to 3840; the short side at most 2160).
    pub height: u32,
    /// Frames per second, 1 to 60 (Kling: 24 or 30).
    pub fps: u32,
    /// Frames; the duration is frames / fps.
    pub frames: u32,
    /// `Some(seed)`: a sound track from this seed; `None`: no sound track.
    pub sound: Option<u64>,
    /// Whether the watermark band is drawn.
    pub watermark: bool,
    /// The model/mode label drawn on the picture, e.g. `kling-v2-6 pro`.
    pub label: Label,
    /// When it was generated, Unix ms on the mock's clock; `None`: never expires.
    pub born: Option<i64>,
}

impl VideoFile {
    /// The duration in 1/600 s ticks (what [`MediaRef::samples`] holds for a video), rounded to
    /// the nearest tick.
    pub fn ticks(&self) -> u32 {
        let fps = u64::from(self.fps.max(1));
        ((u64::from(self.frames) * u64::from(VIDEO_TICKS) + fps / 2) / fps).min(u64::from(u32::MAX))
            as u32
    }

    /// The duration, seconds: frames / fps.
    pub fn duration_secs(&self) -> f64 {
        f64::from(self.frames) / f64::from(self.fps.max(1))
    }
}

/// A generated image file: everything needed to re-create its bytes ([`image::render`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ImageFile {
    /// The task that made it (drawn large in the middle).
    pub task_id: u64,
    /// Its index among the task's images, from 0 (drawn as `image <index+1>/<n>`).
    pub index: u32,
    /// How many images the task made.
    pub n: u32,
    /// Width, pixels ([`image::MIN_SIDE`] to [`image::MAX_SIDE`]).
    pub width: u32,
    /// Height, pixels ([`image::MIN_SIDE`] to [`image::MAX_SIDE`]).
    pub height: u32,
    /// The seed of its colours and shapes (with the index).
    pub seed: u64,
    /// Whether the watermark band is drawn.
    pub watermark: bool,
    /// The label drawn at the top, e.g. `kling-v2-1 2k 16:9`.
    pub label: Label,
    /// [`Format::Png`] or [`Format::Jpeg`].
    pub format: Format,
    /// When it was generated, Unix ms on the mock's clock; `None`: never expires.
    pub born: Option<i64>,
}

/// What the mock knows of a generated video id, beside its [`MediaItem`]: what families that
/// take a `video_id` (video extension, ...) need: model, mode, its file, the extension chain's
/// total length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VideoFacts {
    /// The model name, e.g. `kling-v1-6`.
    pub model: Label,
    /// Mode `pro` (`false`: `std`).
    pub pro: bool,
    /// Whether it has sound.
    pub sound: bool,
    /// Its file's token (the `url`).
    pub file: Token,
    /// Width, pixels.
    pub width: u32,
    /// Height, pixels.
    pub height: u32,
    /// Frames per second.
    pub fps: u32,
    /// Frames.
    pub frames: u32,
    /// Total length of the extension chain ending here, ms (its own length when it extends
    /// nothing).
    pub chain_ms: u64,
}

/// A file the library can serve: an audio, video or image file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Served {
    /// A WAV or MP3 file.
    Audio(MediaFile),
    /// An MP4 file.
    Video(VideoFile),
    /// A PNG or JPEG file.
    Image(ImageFile),
}

impl Served {
    /// Its format.
    pub fn format(&self) -> Format {
        match self {
            Served::Audio(f) => f.format,
            Served::Video(_) => Format::Mp4,
            Served::Image(i) => i.format,
        }
    }

    /// When it was generated (`None`: never expires).
    pub fn born(&self) -> Option<i64> {
        match self {
            Served::Audio(f) => f.born,
            Served::Video(v) => v.born,
            Served::Image(i) => i.born,
        }
    }
}

/// Why a file's bytes could not be made.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// The MP3 encoder failed.
    #[error(transparent)]
    Audio(#[from] audio::Mp3EncodeError),
    /// The video could not be made.
    #[error(transparent)]
    Video(#[from] VideoError),
    /// The image could not be made.
    #[error(transparent)]
    Image(#[from] ImageError),
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
    /// When it was generated, Unix ms (virtual clock); `None`: never expires (the preset
    /// voices' trial files, files saved by an older version).
    #[serde(default)]
    pub born: Option<i64>,
}

/// Where a generated media id came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Origin {
    /// A generated audio (TTS, text to audio, ...). States saved in layout version 1 name it by
    /// the kind that made it.
    #[serde(alias = "Tts", alias = "TextToAudio")]
    Audio,
    /// A generated video.
    Video(VideoSource),
    /// A face-identification session (`POST /v1/videos/identify-face`): its `duration_ms` is the
    /// identified video's length. Kept with the media ids so that a session belongs to its
    /// caller, is saved with `--state-file` and is forgotten by a reset like them; its own 24 h
    /// validity is checked by the kinds that take a `session_id` (added after the other
    /// variants: older logs read unchanged).
    FaceSession {
        /// The identified video's id (0: a video given by a foreign URL).
        video_id: u64,
        /// The identified video's file token (zeros: a foreign URL).
        file: Token,
    },
}

/// How a video was generated: decides whether it may serve as a custom-voice source
/// (SOURCES.md: Custom Voices: V2.6 with sound on, the Avatar API, the Lip-Sync API).
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

/// A generated file or media id, as the state store logs it.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum MediaChange {
    /// A file was generated.
    File(Token, MediaFile),
    /// A media id was generated.
    Item(u64, MediaItem),
    /// A video file was generated (added after layout 3's first release: at the end, so older
    /// logs read unchanged).
    Video(Token, VideoFile),
    /// A video id was generated, with what the mock knows of it.
    VideoItem(u64, MediaItem, VideoFacts),
    /// An image file was generated (added after the video entries: at the end, so older logs
    /// read unchanged).
    Image(Token, ImageFile),
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
///
/// Retention (SOURCES.md: General Info: generated media are cleared after 30 days): a generated file or
/// media id is gone once `retention` has passed on the mock's clock since it was generated (a
/// lookup then finds nothing: the URL answers 404, a custom voice from it is refused), and
/// past `cap` generated entries the oldest are forgotten first. Expired entries leave memory a
/// few at a time as new ones are added (oldest first), so memory follows the live set.
#[derive(Debug, Default)]
pub struct MediaLibrary {
    files: ChurnMap<Token, MediaFile>,
    items: ChurnMap<u64, MediaItem>,
    /// Generated video files (a table of their own: their entries are three times an audio
    /// file's).
    videos: ChurnMap<Token, VideoFile>,
    /// Generated image files (a table of their own, like the videos').
    images: ChurnMap<Token, ImageFile>,
    /// What is known of generated video ids (each also in `items`).
    facts: ChurnMap<u64, VideoFacts>,
    /// Generated files in the order they were added, with their birth time.
    file_order: Mutex<VecDeque<(i64, Token)>>,
    /// Generated video files in the order they were added, with their birth time.
    video_order: Mutex<VecDeque<(i64, Token)>>,
    /// Generated image files in the order they were added, with their birth time.
    image_order: Mutex<VecDeque<(i64, Token)>>,
    /// Generated media ids in the order they were added, with their birth time.
    item_order: Mutex<VecDeque<(i64, u64)>>,
    /// How long a generated entry lives, ms (0: forever).
    retention_ms: AtomicI64,
    /// Most generated files, and most media ids, kept (0: no cap).
    cap: AtomicUsize,
    /// Entries forgotten (expired or past the cap) since the start.
    evicted: AtomicU64,
    /// Generated files and media ids, in the order they were added, for the state store.
    pub added: crate::dirty::Dirty<MediaChange>,
    /// Entries were removed other than oldest-first (a reset): the store rewrites its media log.
    pub rewritten: AtomicBool,
    /// Made files and shared video GOPs, in memory under a byte budget.
    cache: MediaCache,
}

/// Entries examined per addition when sweeping.
const SWEEP_PER_ADD: usize = 4;

impl MediaLibrary {
    /// Set the retention (`None` or zero: forever) and the cap on generated entries (0: none).
    pub fn set_limits(&self, retention: Option<std::time::Duration>, cap: usize) {
        let ms = retention.map_or(0, |d| d.as_millis().min(i64::MAX as u128) as i64);
        self.retention_ms.store(ms, Ordering::Relaxed);
        self.cap.store(cap, Ordering::Relaxed);
    }

    /// The retention, ms (0: forever).
    pub fn retention_ms(&self) -> i64 {
        self.retention_ms.load(Ordering::Relaxed)
    }

    /// The cap on generated files and on media ids (0: none).
    pub fn cap(&self) -> usize {
        self.cap.load(Ordering::Relaxed)
    }

    /// Entries forgotten (expired or past the cap) since the start.
    pub fn evicted(&self) -> u64 {
        self.evicted.load(Ordering::Relaxed)
    }

    /// Whether an entry born at `born` is still alive at `now`.
    fn alive(&self, born: Option<i64>, now: i64) -> bool {
        let keep = self.retention_ms();
        match born {
            Some(b) if keep > 0 => b.saturating_add(keep) > now,
            _ => true,
        }
    }

    /// When an entry born at `born` expires (`None`: never).
    pub fn expires_at(&self, born: Option<i64>) -> Option<i64> {
        let keep = self.retention_ms();
        born.filter(|_| keep > 0).map(|b| b.saturating_add(keep))
    }

    /// Register a file and return its reference. A file with a birth time is subject to the
    /// retention and the cap.
    pub fn add_file(&self, token: Token, file: MediaFile) -> MediaRef {
        self.files.insert(token, file);
        if let Some(born) = file.born {
            self.added.mark(MediaChange::File(token, file));
            let mut order = self.file_order.lock().unwrap_or_else(|e| e.into_inner());
            order.push_back((born, token));
            self.sweep(&mut order, born, |t| self.files.evict(t));
        }
        MediaRef {
            token,
            format: file.format,
            samples: file.samples,
        }
    }

    /// The file with this token, if it exists and has not expired at `now`.
    pub fn file(&self, token: &Token, now: i64) -> Option<MediaFile> {
        self.files.get(token).filter(|f| self.alive(f.born, now))
    }

    /// The file with this token even if it has expired (to tell "expired" from "unknown").
    pub fn file_any_age(&self, token: &Token) -> Option<MediaFile> {
        self.files.get(token)
    }

    /// Register a generated audio or video id (subject to the retention and the cap).
    pub fn add_item(&self, id: u64, item: MediaItem) {
        self.items.insert(id, item);
        self.added.mark(MediaChange::Item(id, item));
        let mut order = self.item_order.lock().unwrap_or_else(|e| e.into_inner());
        order.push_back((item.created_at, id));
        self.sweep(&mut order, item.created_at, |id| {
            self.facts.evict(id);
            self.items.evict(id)
        });
    }

    /// A generated media id, if it exists, belongs to `account` and has not expired at `now`.
    pub fn item(&self, account: u32, id: u64, now: i64) -> Option<MediaItem> {
        self.items
            .get(&id)
            .filter(|i| i.account == account && self.alive(Some(i.created_at), now))
    }

    /// Register a video file (retention and cap apply as for audio files) and return its
    /// reference. Queues its variant's shared part for the background warm-up, which never
    /// blocks the caller.
    pub fn add_video(&self, token: Token, file: VideoFile) -> MediaRef {
        let r = self.restore_video(token, file);
        self.cache.warm(video::Variant::of(&file));
        r
    }

    /// Register a video file without warming anything (a restore).
    pub fn restore_video(&self, token: Token, file: VideoFile) -> MediaRef {
        self.videos.insert(token, file);
        if let Some(born) = file.born {
            self.added.mark(MediaChange::Video(token, file));
            let mut order = self.video_order.lock().unwrap_or_else(|e| e.into_inner());
            order.push_back((born, token));
            self.sweep(&mut order, born, |t| self.videos.evict(t));
        }
        MediaRef {
            token,
            format: Format::Mp4,
            samples: file.ticks(),
        }
    }

    /// The video file with this token, if it exists and has not expired at `now`.
    pub fn video(&self, token: &Token, now: i64) -> Option<VideoFile> {
        self.videos.get(token).filter(|f| self.alive(f.born, now))
    }

    /// Register an image file (retention and cap apply as for audio files) and return its
    /// reference (its `samples` is 0). Its bytes are made on first fetch.
    pub fn add_image(&self, token: Token, file: ImageFile) -> MediaRef {
        self.images.insert(token, file);
        if let Some(born) = file.born {
            self.added.mark(MediaChange::Image(token, file));
            let mut order = self.image_order.lock().unwrap_or_else(|e| e.into_inner());
            order.push_back((born, token));
            self.sweep(&mut order, born, |t| self.images.evict(t));
        }
        MediaRef {
            token,
            format: file.format,
            samples: 0,
        }
    }

    /// The image file with this token, if it exists and has not expired at `now`.
    pub fn image(&self, token: &Token, now: i64) -> Option<ImageFile> {
        self.images.get(token).filter(|f| self.alive(f.born, now))
    }

    /// Every image file, for persistence.
    pub fn images(&self) -> Vec<(Token, ImageFile)> {
        self.images.snapshot()
    }

    /// Number of image files registered.
    pub fn image_count(&self) -> usize {
        self.images.len()
    }

    /// Register a generated video id: its [`MediaItem`] (origin [`Origin::Video`]) and its facts.
    pub fn add_video_item(&self, id: u64, item: MediaItem, facts: VideoFacts) {
        self.facts.insert(id, facts);
        self.items.insert(id, item);
        self.added.mark(MediaChange::VideoItem(id, item, facts));
        let mut order = self.item_order.lock().unwrap_or_else(|e| e.into_inner());
        order.push_back((item.created_at, id));
        self.sweep(&mut order, item.created_at, |id| {
            self.facts.evict(id);
            self.items.evict(id)
        });
    }

    /// A generated video id and its facts, if the id exists, belongs to `account` and has not
    /// expired at `now`.
    pub fn video_item(&self, account: u32, id: u64, now: i64) -> Option<(MediaItem, VideoFacts)> {
        let item = self.item(account, id, now)?;
        Some((item, self.facts.get(&id)?))
    }

    /// The audio, video or image file with this token, alive or expired (to tell "expired"
    /// from "unknown").
    pub fn served_any_age(&self, token: &Token) -> Option<Served> {
        self.files
            .get(token)
            .map(Served::Audio)
            .or_else(|| self.videos.get(token).map(Served::Video))
            .or_else(|| self.images.get(token).map(Served::Image))
    }

    /// Whether a file born at `born` is alive at `now`.
    pub fn is_alive(&self, born: Option<i64>, now: i64) -> bool {
        self.alive(born, now)
    }

    /// The bytes of file `token` if they are in memory.
    pub fn cached(&self, token: &Token) -> Option<FileBytes> {
        self.cache.get(token)
    }

    /// The bytes of file `token` (`what` it is), from memory or made now: CPU work of up to a
    /// second or so for a long 1080p video, so call it on a blocking thread. Concurrent calls
    /// for one file make it once.
    pub fn bytes(&self, token: &Token, what: Served) -> Result<FileBytes, RenderError> {
        self.cache.file(token, || {
            let bytes = match what {
                Served::Audio(f) => match f.format {
                    Format::Wav => audio::render_wav(f.sound, f.samples),
                    _ => audio::render_mp3(f.sound, f.samples).map_err(RenderError::Audio)?,
                },
                Served::Video(v) => {
                    let variant = video::Variant::of(&v);
                    variant.check().map_err(RenderError::Video)?;
                    let gops = self.cache.variant(variant);
                    let out = video::render(&v, &gops);
                    self.cache.settle_variant(&gops, variant);
                    out.map_err(RenderError::Video)?
                }
                Served::Image(i) => image::render(&i).map_err(RenderError::Image)?,
            };
            Ok(FileBytes {
                etag: etag(token, &bytes).into(),
                bytes: bytes.into(),
            })
        })
    }

    /// The media cache's budget and use.
    pub fn cache_stats(&self) -> cache::CacheStats {
        self.cache.stats()
    }

    /// Set the media cache's byte budget (0: keep nothing in memory).
    pub fn set_cache_budget(&self, bytes: usize) {
        self.cache.set_budget(bytes);
    }

    /// Every video file, for persistence.
    pub fn videos(&self) -> Vec<(Token, VideoFile)> {
        self.videos.snapshot()
    }

    /// The facts of every video id, for persistence.
    pub fn video_facts(&self) -> Vec<(u64, VideoFacts)> {
        self.facts.snapshot()
    }

    /// Number of video files registered.
    pub fn video_count(&self) -> usize {
        self.videos.len()
    }

    /// Forget up to [`SWEEP_PER_ADD`] of the oldest entries of `order` that expired at `now` or
    /// are past the cap.
    fn sweep<K: Copy>(&self, order: &mut VecDeque<(i64, K)>, now: i64, evict: impl Fn(&K) -> bool) {
        let cap = self.cap();
        for _ in 0..SWEEP_PER_ADD {
            let Some(&(born, key)) = order.front() else {
                return;
            };
            let over = cap > 0 && order.len() > cap;
            if !over && self.alive(Some(born), now) {
                return;
            }
            order.pop_front();
            if evict(&key) {
                self.evicted.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Make room for `files` generated files and `items` media ids (a restore).
    pub fn reserve(&self, files: usize, items: usize) {
        self.files.reserve(files);
        self.items.reserve(items);
        self.file_order
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .reserve(files);
        self.item_order
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .reserve(items);
    }

    /// After a restore: the sweep order is the birth order.
    pub fn restored(&self) {
        self.file_order
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .make_contiguous()
            .sort_unstable();
        self.video_order
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .make_contiguous()
            .sort_unstable();
        self.image_order
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .make_contiguous()
            .sort_unstable();
        self.item_order
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .make_contiguous()
            .sort_unstable();
    }

    /// Number of files registered.
    pub fn file_count(&self) -> usize {
        self.files.len()
    }

    /// Every file, for persistence.
    pub fn files(&self) -> Vec<(Token, MediaFile)> {
        self.files.snapshot()
    }

    /// Every media id, for persistence.
    pub fn items(&self) -> Vec<(u64, MediaItem)> {
        self.items.snapshot()
    }

    /// Entries the file table and the media-id table can hold before they next grow or rehash,
    /// for memory diagnostics.
    pub fn table_capacities(&self) -> (usize, usize) {
        (self.files.capacity(), self.items.capacity())
    }

    /// Number of generated media ids.
    pub fn item_count(&self) -> usize {
        self.items.len()
    }

    /// Forget the media ids of `account` (or all).
    pub fn clear_items(&self, account: Option<u32>) {
        self.rewritten.store(true, Ordering::Relaxed);
        self.items
            .retain(|_, i| account.is_some_and(|a| a != i.account));
        self.facts.retain(|id, _| self.items.contains_key(id));
        self.item_order
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(_, id)| self.items.contains_key(id));
    }

    /// Keep only the files `keep` accepts.
    pub fn retain_files(&self, keep: impl Fn(&Token) -> bool) {
        self.rewritten.store(true, Ordering::Relaxed);
        self.files.retain(|t, _| keep(t));
        self.file_order
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(_, t)| self.files.contains_key(t));
        self.videos.retain(|t, _| keep(t));
        self.video_order
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(_, t)| self.videos.contains_key(t));
        self.images.retain(|t, _| keep(t));
        self.image_order
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(_, t)| self.images.contains_key(t));
        self.cache.clear();
    }
}

/// The strong entity tag of file `token` with these bytes: the token and the first 64 bits of
/// the bytes' SHA-256, quoted. Deterministic: the same file always has the same tag.
fn etag(token: &Token, bytes: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(bytes);
    let mut tag = String::with_capacity(52);
    tag.push('"');
    for b in token.iter().chain(&digest[..8]) {
        tag.push_str(&format!("{b:02x}"));
    }
    tag.push('"');
    tag
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
