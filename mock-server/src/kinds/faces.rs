//! What the face families share (SOURCES.md: Lip-Sync, Identify Face, Advanced Lip-Sync, Avatar):
//! the video a request starts from (`video_id` xor `video_url`, [`VideoRef`], [`resolve_video`]),
//! the audio it is given (an `audio_id` of the caller's, Base64 audio or an audio URL:
//! [`audio_id`], [`SoundFile`]), and the talking video it makes ([`make`]).
//!
//! Not a kind: each family is its own file (`lip_sync.rs`, `identify_face.rs`,
//! `advanced_lip_sync.rs`, `avatar.rs`).
//!
//! What the documents leave open (FIDELITY.md: faces and lip-sync):
//! * a foreign `video_url` is not fetched: it counts as a 5 s 1280 × 720 video at 24 fps
//!   ([`Shape::FOREIGN`]), and the result has no `task_info.parent_video` (the mock has no file
//!   to point at);
//! * a foreign audio URL, or Base64 `.m4a` / `.aac`, has an unknown length: [`UNKNOWN_AUDIO_MS`];
//!   Base64 MP3 and WAV are measured from their headers;
//! * the made videos carry the label of the family that made them, not a model: they cannot be
//!   extended (`video-extend` takes text2video / image2video / video-extend videos only).

use super::Ctx;
use super::fields::{Fields, http_url};
use super::video::{self, Parent, VideoOut, Videos};
use crate::auth::Account;
use crate::error::KlingError;
use crate::media::{
    Format, Label, MediaItem, MediaRef, Origin, VideoFacts, VideoFile, VideoSource,
};
use crate::wire::format_secs;
use base64::Engine as _;

/// Audio formats the families take (kling-api.md §5.8, §5.9: `.mp3/.wav/.m4a/.aac`).
pub const AUDIO_EXTS: [&str; 4] = ["mp3", "wav", "m4a", "aac"];
/// Largest Base64 audio, bytes (≤ 5 MB).
pub const MAX_AUDIO_BYTES: usize = 5 * 1024 * 1024;
/// The length assumed for audio the mock cannot measure (a foreign URL, `.m4a`, `.aac`), ms.
pub const UNKNOWN_AUDIO_MS: u64 = 5_000;
/// How long an identify-face session is valid, ms (kling-api.md §5.8 (b): 24 h).
pub const SESSION_MS: i64 = 24 * 3600 * 1000;

/// The size, frame rate and length of a video.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// Width, px.
    pub width: u32,
    /// Height, px.
    pub height: u32,
    /// Frames per second.
    pub fps: u32,
    /// Frames.
    pub frames: u32,
}

impl Shape {
    /// What a foreign `video_url` counts as: 5 s, 1280 × 720, 24 fps (the documents: 720p or
    /// 1080p, 2–10 s for lip-sync; video to audio assumes the same).
    pub const FOREIGN: Shape = Shape {
        width: 1280,
        height: 720,
        fps: 24,
        frames: 120,
    };

    /// The shape of a generated video file.
    pub fn of(file: &VideoFile) -> Shape {
        Shape {
            width: file.width,
            height: file.height,
            fps: file.fps,
            frames: file.frames,
        }
    }

    /// Its length, ms.
    pub fn ms(&self) -> u64 {
        u64::from(self.frames) * 1000 / u64::from(self.fps.max(1))
    }

    /// This size and frame rate, `ms` long (at least one frame).
    pub fn lasting(self, ms: u64) -> Shape {
        let frames = (ms * u64::from(self.fps) + 500) / 1000;
        Shape {
            frames: frames.clamp(1, u64::from(u32::MAX)) as u32,
            ..self
        }
    }
}

/// `video_id` or `video_url` of a request (exactly one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VideoRef {
    /// A video id of the caller's.
    Id(String),
    /// A `.mp4` / `.mov` URL.
    Url(String),
}

impl VideoRef {
    /// Read `video_id` / `video_url` of `f`: exactly one; `missing` is the message when neither
    /// is given.
    pub fn parse(f: &Fields<'_>, missing: &'static str) -> Result<VideoRef, KlingError> {
        let id = f.opt_str("video_id")?.filter(|v| !v.trim().is_empty());
        let url = f.opt_str("video_url")?.filter(|v| !v.trim().is_empty());
        match (id, url) {
            (Some(_), Some(_)) => Err(KlingError::param(
                "only one of video_id and video_url may be given, got both",
            )),
            (None, None) => Err(KlingError::param(missing)),
            (Some(id), None) => Ok(VideoRef::Id(id.trim().to_string())),
            (None, Some(u)) => Ok(VideoRef::Url(video::inputs::video_url("video_url", u)?)),
        }
    }

    /// The field it was given in.
    pub fn field(&self) -> &'static str {
        match self {
            VideoRef::Id(_) => "video_id",
            VideoRef::Url(_) => "video_url",
        }
    }
}

/// The video a request starts from, once resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceVideo {
    /// Its shape ([`Shape::FOREIGN`] for a foreign URL).
    pub shape: Shape,
    /// Its id and file (`None`: a foreign URL).
    pub parent: Option<(u64, crate::media::Token)>,
    /// Why a task given it fails (one of the mock's own URLs that names no file).
    pub failure: Option<String>,
}

impl SourceVideo {
    /// `task_info.parent_video`, when the mock has its file.
    pub fn parent_video(&self) -> Option<Parent> {
        let (id, token) = self.parent?;
        let file = VideoFile {
            task_id: 0,
            video_id: id,
            width: self.shape.width,
            height: self.shape.height,
            fps: self.shape.fps,
            frames: self.shape.frames,
            sound: None,
            watermark: false,
            label: Label::new(""),
            born: None,
        };
        Some(Parent {
            id,
            file: MediaRef {
                token,
                format: Format::Mp4,
                samples: file.ticks(),
            },
        })
    }
}

/// A generated video of the caller's that has finished: its id, facts and file (the one rule of
/// every `video_id`: video extension, video to audio and the face families).
/// Unknown, foreign, expired, still being made, or not a video: "`field`: Video not found by id".
pub fn own_video(
    s: &Ctx<'_>,
    account: &Account,
    field: &str,
    id: &str,
) -> Result<(u64, VideoFacts, VideoFile), KlingError> {
    let not_found = || KlingError::param(format!("{field}: Video not found by id: {id}"));
    let now = s.clock.now_ms();
    let vid: u64 = id.parse().map_err(|_| not_found())?;
    let (item, facts) = s
        .media
        .video_item(account.idx, vid, now)
        .ok_or_else(not_found)?;
    if !matches!(item.origin, Origin::Video(_)) {
        return Err(not_found());
    }
    let file = s.media.video(&facts.file, now).ok_or_else(not_found)?;
    let done = s
        .engine
        .get_owned(account.idx, file.task_id)
        .is_some_and(|t| t.status == crate::engine::Status::Succeed);
    if !done {
        return Err(not_found());
    }
    Ok((vid, facts, file))
}

/// Resolve a [`VideoRef`]: a video id of the caller's, one of the mock's own URLs (measured), or
/// a foreign URL ([`Shape::FOREIGN`]). A video the mock knows must last `min_ms..=max_ms`.
pub fn resolve_video(
    s: &Ctx<'_>,
    account: &Account,
    r: &VideoRef,
    (min_ms, max_ms): (u64, u64),
) -> Result<SourceVideo, KlingError> {
    let (parent, file) = match r {
        VideoRef::Id(id) => {
            let (vid, facts, file) = own_video(s, account, "video_id", id)?;
            (Some((vid, facts.file)), file)
        }
        VideoRef::Url(url) => match video::inputs::own_video(s, url) {
            Ok(Some(file)) => {
                let token = crate::media::parse_file_name(url).map(|(t, _)| t);
                (token.map(|t| (file.video_id, t)), file)
            }
            Ok(None) => {
                return Ok(SourceVideo {
                    shape: Shape::FOREIGN,
                    parent: None,
                    failure: None,
                });
            }
            Err(reason) => {
                return Ok(SourceVideo {
                    shape: Shape::FOREIGN,
                    parent: None,
                    failure: Some(reason),
                });
            }
        },
    };
    let shape = Shape::of(&file);
    let ms = shape.ms();
    if !(min_ms..=max_ms).contains(&ms) {
        return Err(KlingError::param(format!(
            "{}: the video must last {} to {} s, got {} s",
            r.field(),
            format_secs(min_ms as f64 / 1000.0),
            format_secs(max_ms as f64 / 1000.0),
            format_secs(file.duration_secs())
        )));
    }
    Ok(SourceVideo {
        shape,
        parent,
        failure: None,
    })
}

/// An `audio_id`: a generated audio of the caller's (TTS, text to audio), within the retention,
/// lasting `min_ms..=max_ms`. Returns its length, ms.
pub fn audio_id(
    s: &Ctx<'_>,
    account: &Account,
    field: &str,
    id: &str,
    (min_ms, max_ms): (u64, u64),
) -> Result<u64, KlingError> {
    let item = id
        .trim()
        .parse::<u64>()
        .ok()
        .and_then(|n| s.media.item(account.idx, n, s.clock.now_ms()))
        .filter(|i| i.origin == Origin::Audio)
        .ok_or_else(|| KlingError::param(format!("{field}: Audio not found by id: {id}")))?;
    check_audio_ms(field, item.duration_ms, (min_ms, max_ms))?;
    Ok(item.duration_ms)
}

/// Refuse an audio of `ms` outside `min_ms..=max_ms`.
pub fn check_audio_ms(
    field: &str,
    ms: u64,
    (min_ms, max_ms): (u64, u64),
) -> Result<(), KlingError> {
    if (min_ms..=max_ms).contains(&ms) {
        return Ok(());
    }
    Err(KlingError::param(format!(
        "{field}: the audio must last {} to {} s, got {} s",
        format_secs(min_ms as f64 / 1000.0),
        format_secs(max_ms as f64 / 1000.0),
        format_secs(ms as f64 / 1000.0)
    )))
}

/// Audio given as a file: raw Base64 or a URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SoundFile {
    /// Base64 bytes: their length when measurable (MP3, WAV), ms.
    Inline(Option<u64>),
    /// A URL.
    Url(String),
}

impl SoundFile {
    /// Read field `name`: an http(s) URL whose path ends in an audio extension, or raw Base64 of
    /// a `.mp3/.wav/.m4a/.aac` audio of at most 5 MB.
    pub fn parse(name: &str, value: &str) -> Result<SoundFile, KlingError> {
        let v = value.trim();
        if v.starts_with("http://") || v.starts_with("https://") {
            return Ok(SoundFile::Url(audio_url(name, v)?));
        }
        if v.contains("://") {
            return Err(KlingError::param(format!(
                "{name} must be an http or https URL or raw Base64 audio data"
            )));
        }
        Ok(SoundFile::Inline(audio_base64(name, v)?))
    }
}

/// An audio URL: http(s), its path ending in `.mp3/.wav/.m4a/.aac`.
pub fn audio_url(name: &str, value: &str) -> Result<String, KlingError> {
    let u = http_url(name, value)?;
    let path = u.path().to_ascii_lowercase();
    if !AUDIO_EXTS.iter().any(|e| path.ends_with(&format!(".{e}"))) {
        return Err(KlingError::param(format!(
            "{name} must be a .mp3/.wav/.m4a/.aac audio URL, got '{value}'"
        )));
    }
    Ok(value.trim().to_string())
}

/// Raw Base64 audio: decoded, at most 5 MB, a `.mp3/.wav/.m4a/.aac` file by its first bytes.
/// Returns its length when measurable (MP3, WAV), ms.
pub fn audio_base64(name: &str, value: &str) -> Result<Option<u64>, KlingError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value.as_bytes())
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(value.as_bytes()))
        .map_err(|_| {
            KlingError::param(format!(
                "File is not in a valid base64 format: {name} (send raw Base64 without a data: prefix, or a URL)"
            ))
        })?;
    if bytes.len() > MAX_AUDIO_BYTES {
        return Err(KlingError::param(format!(
            "{name} must be at most 5MB, got {:.1}MB",
            bytes.len() as f64 / 1_048_576.0
        )));
    }
    match sniff(&bytes) {
        Some(Sniffed::Wav) => Ok(wav_ms(&bytes)),
        Some(Sniffed::Mp3) => Ok(mp3_ms(&bytes)),
        Some(Sniffed::Other) => Ok(None),
        None => Err(KlingError::param(format!(
            "{name} must be a .mp3/.wav/.m4a/.aac audio"
        ))),
    }
}

enum Sniffed {
    Wav,
    Mp3,
    Other,
}

/// What audio file `b` is, by its first bytes.
fn sniff(b: &[u8]) -> Option<Sniffed> {
    if b.len() >= 12 && &b[..4] == b"RIFF" && &b[8..12] == b"WAVE" {
        return Some(Sniffed::Wav);
    }
    if b.starts_with(b"ID3") || mp3_header(b, 0).is_some() {
        return Some(Sniffed::Mp3);
    }
    if b.len() >= 8 && &b[4..8] == b"ftyp" {
        return Some(Sniffed::Other); // .m4a
    }
    // ADTS (.aac): a 12-bit sync word, layer 00.
    if b.len() >= 2 && b[0] == 0xFF && b[1] & 0xF6 == 0xF0 {
        return Some(Sniffed::Other);
    }
    None
}

/// The bitrate (bit/s) of an MPEG layer III frame header at `at`.
fn mp3_header(b: &[u8], at: usize) -> Option<u32> {
    const V1: [u32; 15] = [
        0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
    ];
    const V2: [u32; 15] = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];
    let h = b.get(at..at + 4)?;
    if h[0] != 0xFF || h[1] & 0xE0 != 0xE0 || (h[1] >> 1) & 3 != 1 {
        return None;
    }
    let version = (h[1] >> 3) & 3;
    let index = usize::from(h[2] >> 4);
    let kbps = match version {
        3 => V1.get(index)?,
        0 | 2 => V2.get(index)?,
        _ => return None,
    };
    (*kbps > 0).then_some(kbps * 1000)
}

/// The length of a constant-bitrate MP3, ms (after an ID3v2 tag, if any).
fn mp3_ms(b: &[u8]) -> Option<u64> {
    let start = if b.starts_with(b"ID3") && b.len() >= 10 {
        10 + b[6..10]
            .iter()
            .fold(0usize, |n, &x| (n << 7) | usize::from(x & 0x7F))
    } else {
        0
    };
    let bitrate = mp3_header(b, start)?;
    Some((b.len().saturating_sub(start) as u64) * 8 * 1000 / u64::from(bitrate))
}

/// The length of a WAV file (its `data` chunk over the byte rate of `fmt `), ms.
fn wav_ms(b: &[u8]) -> Option<u64> {
    let (mut at, mut byte_rate) = (12usize, None);
    while at + 8 <= b.len() {
        let id = &b[at..at + 4];
        let size = u32::from_le_bytes(b[at + 4..at + 8].try_into().ok()?) as usize;
        let body = at + 8;
        if id == b"fmt " {
            byte_rate = Some(u32::from_le_bytes(
                b.get(body + 8..body + 12)?.try_into().ok()?,
            ));
        } else if id == b"data" {
            let rate = u64::from(byte_rate.filter(|r| *r > 0)?);
            let size = size.min(b.len() - body) as u64;
            return Some(size * 1000 / rate);
        }
        at = body + size + (size & 1);
    }
    None
}

/// What the mock knows of an audio URL: `Ok(Ok(Some(ms)))` for one of its own audio files,
/// `Ok(Ok(None))` for a foreign URL (not fetched), `Ok(Err(reason))` for one of its own names
/// that it never generated or that expired (the task fails as the download would), and 400 for
/// one of its own videos or images (not audio).
pub fn own_audio_url(
    s: &Ctx<'_>,
    name: &str,
    url: &str,
) -> Result<Result<Option<u64>, String>, KlingError> {
    if !video::inputs::is_own(s.engine.base_url(), url) {
        return Ok(Ok(None));
    }
    let Some((token, _)) = crate::media::parse_file_name(url) else {
        return Ok(Ok(None));
    };
    let now = s.clock.now_ms();
    if let Some(f) = s.media.file(&token, now) {
        let r = MediaRef {
            token,
            format: f.format,
            samples: f.samples,
        };
        return Ok(Ok(Some((r.duration_secs() * 1000.0).round() as u64)));
    }
    let what = if s.media.video(&token, now).is_some() {
        Some("video")
    } else if s.media.image(&token, now).is_some() {
        Some("picture")
    } else {
        None
    };
    if let Some(what) = what {
        return Err(KlingError::param(format!(
            "{name} must be a .mp3/.wav/.m4a/.aac audio, but {url} is one of the mock's {what}s"
        )));
    }
    Ok(Err(format!(
        "Failed to download the audio file: HTTP 404 for {url}"
    )))
}

/// `final_unit_deduction` of `ms` of video at `per_sec` units a second, to one decimal (at least
/// 0.1).
pub fn units(ms: u64, per_sec: f64) -> f64 {
    ((ms as f64 / 1000.0 * per_sec * 10.0).round() / 10.0).max(0.1)
}

/// A number field in `range`, `default` when absent.
pub fn number_in(
    f: &Fields<'_>,
    name: &str,
    (min, max): (f64, f64),
    default: f64,
) -> Result<f64, KlingError> {
    let v = f.opt_number(name)?.unwrap_or(default);
    if !(min..=max).contains(&v) {
        return Err(KlingError::param(format!(
            "{name} must be between {min} and {max}, got {v}"
        )));
    }
    Ok(v)
}

/// What a face family makes: one video of `shape` with a sound track.
#[derive(Clone, Debug, PartialEq)]
pub struct Dub {
    /// Size, frame rate, length.
    pub shape: Shape,
    /// The label drawn on it and kept as its "model" (`lip-sync`, `avatar std`).
    pub label: &'static str,
    /// Mode pro.
    pub pro: bool,
    /// How a custom voice may treat it (lip-sync and avatar videos may become custom voices).
    pub source: VideoSource,
    /// `watermark_info.enabled`.
    pub watermark: bool,
    /// `final_unit_deduction`.
    pub units: f64,
}

/// Register the files and the id of the video a face task makes, and its result.
pub fn make(
    s: &Ctx<'_>,
    account: &Account,
    task_id: u64,
    now: i64,
    dub: &Dub,
    parent: Option<Parent>,
) -> Videos {
    let id = s.ids.next(now);
    let sh = dub.shape;
    let file = |watermark| VideoFile {
        task_id,
        video_id: id,
        width: sh.width,
        height: sh.height,
        fps: sh.fps,
        frames: sh.frames,
        sound: Some(id),
        watermark,
        label: Label::new(dub.label),
        born: Some(now),
    };
    let token = s.entropy.token();
    let main = s.media.add_video(token, file(false));
    let marked = dub
        .watermark
        .then(|| s.media.add_video(s.entropy.token(), file(true)));
    let duration_ms = sh.ms();
    s.media.add_video_item(
        id,
        MediaItem {
            account: account.idx,
            origin: Origin::Video(dub.source),
            duration_ms,
            created_at: now,
        },
        VideoFacts {
            model: Label::new(dub.label),
            pro: dub.pro,
            sound: true,
            file: token,
            width: sh.width,
            height: sh.height,
            fps: sh.fps,
            frames: sh.frames,
            chain_ms: duration_ms,
        },
    );
    Videos {
        videos: vec![VideoOut {
            id,
            file: main,
            marked,
        }],
        watermark: dub.watermark,
        deduction: format_secs(dub.units).into(),
        parent,
    }
}

/// Prefix an error's message with `p` (`face_choose[0].`).
pub fn prefixed(p: &str, mut e: KlingError) -> KlingError {
    e.message = format!("{p}{}", e.message).into();
    e
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// Base64 of a WAV of `ms` of 24 kHz 16-bit mono silence.
    pub(crate) fn wav_b64(ms: u32) -> String {
        let samples = ms * 24;
        let data = samples * 2;
        let mut b = b"RIFF".to_vec();
        b.extend_from_slice(&(36 + data).to_le_bytes());
        b.extend_from_slice(b"WAVEfmt ");
        b.extend_from_slice(&16u32.to_le_bytes());
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&24_000u32.to_le_bytes());
        b.extend_from_slice(&48_000u32.to_le_bytes());
        b.extend_from_slice(&2u16.to_le_bytes());
        b.extend_from_slice(&16u16.to_le_bytes());
        b.extend_from_slice(b"data");
        b.extend_from_slice(&data.to_le_bytes());
        b.resize(b.len() + data as usize, 0);
        base64::engine::general_purpose::STANDARD.encode(b)
    }

    #[test]
    fn base64_audio_is_measured_and_checked() {
        assert_eq!(audio_base64("sound_file", &wav_b64(3_500)), Ok(Some(3_500)));
        // A CBR MP3 of 10 frames of 192 bytes at 64 kbit/s (MPEG-2, 24 kHz): 240 ms.
        let mut mp3 = Vec::new();
        for _ in 0..10 {
            mp3.extend_from_slice(&[0xFF, 0xF3, 0x84, 0xC4]);
            mp3.resize(mp3.len() + 188, 0);
        }
        let b64 = base64::engine::general_purpose::STANDARD.encode(&mp3);
        assert_eq!(audio_base64("sound_file", &b64), Ok(Some(240)));
        let m4a = base64::engine::general_purpose::STANDARD.encode(b"\0\0\0\x20ftypM4A ");
        assert_eq!(audio_base64("audio_file", &m4a), Ok(None));
        let png = super::super::video::inputs::tests::png_b64(400, 400);
        assert_eq!(
            audio_base64("audio_file", &png).unwrap_err().message,
            "audio_file must be a .mp3/.wav/.m4a/.aac audio"
        );
        let e = audio_base64("audio_file", "data:audio/wav;base64,AAAA").unwrap_err();
        assert!(
            e.message
                .starts_with("File is not in a valid base64 format: audio_file"),
            "{}",
            e.message
        );
    }

    #[test]
    fn audio_urls_must_name_an_audio_file() {
        assert!(audio_url("audio_url", "https://x.example/a.M4A?sig=1").is_ok());
        assert_eq!(
            audio_url("audio_url", "https://x.example/a.ogg")
                .unwrap_err()
                .message,
            "audio_url must be a .mp3/.wav/.m4a/.aac audio URL, got 'https://x.example/a.ogg'"
        );
        assert!(matches!(
            SoundFile::parse("sound_file", "https://x.example/a.wav"),
            Ok(SoundFile::Url(_))
        ));
    }

    #[test]
    fn exactly_one_of_video_id_and_video_url() {
        let parse = |v: serde_json::Value| {
            VideoRef::parse(
                &Fields::new(v.as_object().unwrap()),
                "video_id or video_url is required",
            )
        };
        assert_eq!(
            parse(json!({})).unwrap_err().message,
            "video_id or video_url is required"
        );
        assert_eq!(
            parse(json!({"video_id": "1", "video_url": "https://x.example/a.mp4"}))
                .unwrap_err()
                .message,
            "only one of video_id and video_url may be given, got both"
        );
        assert_eq!(
            parse(json!({"video_id": "", "video_url": "https://x.example/a.mp4"})),
            Ok(VideoRef::Url("https://x.example/a.mp4".into()))
        );
        assert!(
            parse(json!({"video_url": "https://x.example/a.gif"}))
                .unwrap_err()
                .message
                .starts_with("video_url must be a .mp4/.mov video URL")
        );
    }

    #[test]
    fn units_follow_the_length() {
        // kling-clients.md: a live avatar std video of 12.27 s cost 4.4.
        assert_eq!(units(12_270, 0.36), 4.4);
        assert_eq!(units(5_000, 0.1), 0.5);
        assert_eq!(units(100, 0.1), 0.1);
        assert_eq!(Shape::FOREIGN.ms(), 5_000);
        assert_eq!(Shape::FOREIGN.lasting(12_270).frames, 294);
    }
}
