//! Avatar: `POST /v1/videos/avatar/image2video` (SOURCES.md: Avatar; kling-api.md §5.9).
//!
//! Request: `image` (required; the image rules of `video::inputs`), `audio_id` (a generated
//! audio of the caller's, 2–300 s) xor `sound_file` (Base64 or URL, `.mp3/.wav/.m4a/.aac`, ≤ 5
//! MB, 2–300 s), `prompt` (≤ 2500), `mode` (`std` | `pro`, default `std`), `watermark_info`,
//! `callback_url`, `external_task_id`.
//! The video lasts as long as the audio (Base64 MP3/WAV and the mock's own audio URLs are
//! measured; a foreign URL, `.m4a` or `.aac` counts as 5 s), in the image's shape at 720p (std)
//! or 1080p (pro), 30 fps, with a sound track. Cost: 0.36 units a second in std (live: a 12.27 s
//! std video cost 4.4, kling-clients.md), twice that in pro (INFERRED).

use super::Ctx;
use super::faces::{self, Dub, Shape, SoundFile, UNKNOWN_AUDIO_MS};
use super::fields::{Common, Fields};
use super::video::{self, inputs::Image};
use crate::auth::Account;
use crate::engine::Plan;
use crate::error::KlingError;
use crate::kinds::TaskResult;
use crate::media::VideoSource;
use serde_json::{Map, Value};

/// The kind: its paths, limits, timings and cost (see [`super::KindSpec`]).
pub static SPEC: super::KindSpec = super::KindSpec {
    id: super::KindId::new("avatar"),
    path: "/v1/videos/avatar/image2video",
    mode: super::Mode::Task {
        query: "/v1/videos/avatar/image2video/{id}",
        result: super::result_type::<video::Videos>("Videos"),
        parse: |body| Ok(Box::new(CreateAvatar::parse(body)?)),
    },
    max_page_size: 500,
    lifecycle: super::DEFAULT_TASK_LIFECYCLE,
    // --timing-profile realistic: no client publishes it; taken as the lip-sync's 455 s
    // (FIDELITY.md: faces and lip-sync).
    realistic: super::realistic(20_000, 435_000),
    pool: crate::engine::billing::Pool::Video,
    unit_deduction: "1.8",
    doc,
    extras: &[],
};

/// Shortest and longest audio, ms (2–300 s).
pub const AUDIO_MS: (u64, u64) = (2_000, 300_000);
/// Units per second of video in std (live: 12.27 s → 4.4).
pub const STD_UNITS_PER_SEC: f64 = 0.36;
/// Frames per second of an avatar video.
pub const FPS: u32 = 30;

/// The audio the avatar speaks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Audio {
    /// `audio_id`.
    Id(String),
    /// `sound_file`.
    File(SoundFile),
}

/// A validated create request.
#[derive(Clone, Debug)]
pub struct CreateAvatar {
    /// `image`.
    pub image: Image,
    /// `audio_id` / `sound_file`.
    pub audio: Audio,
    /// Mode pro.
    pub pro: bool,
    /// `watermark_info.enabled`.
    pub watermark: bool,
    /// The audio's length once known, ms.
    pub audio_ms: Option<u64>,
    /// Why the task fails (an image or audio the rules refuse once measured or fetched).
    pub failure: Option<String>,
    /// `external_task_id`, `callback_url`.
    pub common: Common,
}

impl CreateAvatar {
    /// Validate a create body (the audio id and the mock's own URLs are resolved later).
    pub fn parse(body: &Map<String, Value>) -> Result<Self, KlingError> {
        let f = Fields::new(body);
        let image = f
            .opt_str("image")?
            .ok_or_else(|| KlingError::param("image must not be null"))?;
        let image = Image::parse("image", image)?;
        let audio_id = f.opt_str("audio_id")?.filter(|s| !s.trim().is_empty());
        let sound_file = f.opt_str("sound_file")?.filter(|s| !s.trim().is_empty());
        let audio = match (audio_id, sound_file) {
            (Some(_), Some(_)) => {
                return Err(KlingError::param(
                    "audio_id and sound_file: give exactly one, got both",
                ));
            }
            (None, None) => {
                return Err(KlingError::param("audio_id or sound_file is required"));
            }
            (Some(id), None) => Audio::Id(id.trim().to_string()),
            (None, Some(file)) => Audio::File(SoundFile::parse("sound_file", file)?),
        };
        let audio_ms = match &audio {
            Audio::File(SoundFile::Inline(ms)) => {
                let ms = ms.unwrap_or(UNKNOWN_AUDIO_MS);
                faces::check_audio_ms("sound_file", ms, AUDIO_MS)?;
                Some(ms)
            }
            _ => None,
        };
        video::prompt(&f, "prompt")?;
        let pro = video::mode(&f, "std")?;
        let failure = image.failure();
        Ok(CreateAvatar {
            image,
            audio,
            pro,
            watermark: video::watermark(&f)?,
            audio_ms,
            failure,
            common: Common::parse(&f)?,
        })
    }

    /// What the task makes.
    fn dub(&self) -> Dub {
        let height = if self.pro { 1080 } else { 720 };
        let (width, height) = match self.image.size() {
            Some((w, h)) => video::models::frame_size_like(height, w, h),
            None => video::models::frame_size(height, (16, 9)),
        };
        let ms = self.audio_ms.unwrap_or(UNKNOWN_AUDIO_MS);
        let per_sec = STD_UNITS_PER_SEC * if self.pro { 2.0 } else { 1.0 };
        Dub {
            shape: Shape {
                width,
                height,
                fps: FPS,
                frames: 1,
            }
            .lasting(ms),
            label: if self.pro { "avatar pro" } else { "avatar std" },
            pro: self.pro,
            source: VideoSource::Avatar,
            watermark: self.watermark,
            units: faces::units(ms, per_sec),
        }
    }
}

impl super::Job for CreateAvatar {
    fn common(&self) -> &Common {
        &self.common
    }
    fn resolve(&mut self, s: &Ctx<'_>, account: &Account) -> Result<(), KlingError> {
        if let Some(f) = video::inputs::own_file_check(s, "image", &mut self.image)? {
            self.failure.get_or_insert(f);
        }
        match &self.audio {
            Audio::Id(id) => {
                self.audio_ms = Some(faces::audio_id(s, account, "audio_id", id, AUDIO_MS)?);
            }
            Audio::File(SoundFile::Url(url)) => match faces::own_audio_url(s, "sound_file", url)? {
                Ok(Some(ms)) => {
                    faces::check_audio_ms("sound_file", ms, AUDIO_MS)?;
                    self.audio_ms = Some(ms);
                }
                Ok(None) => self.audio_ms = Some(UNKNOWN_AUDIO_MS),
                Err(reason) => {
                    self.failure.get_or_insert(reason);
                }
            },
            Audio::File(SoundFile::Inline(_)) => {}
        }
        Ok(())
    }
    fn remote_images(&self) -> Vec<(String, String)> {
        video::inputs::remote([("image".to_string(), &self.image)])
    }
    fn measured(&mut self, _field: &str, result: Result<(u32, u32), String>) {
        if let Some(f) = self.image.take_download(result) {
            self.failure.get_or_insert(f);
        }
    }
    fn cost(&self) -> Option<f64> {
        Some(self.dub().units)
    }
    fn plan(&self, s: &Ctx<'_>, account: &Account, task_id: u64, now: i64) -> Plan {
        Plan {
            result: TaskResult::new(faces::make(s, account, task_id, now, &self.dub(), None)),
            failure: self.failure.clone(),
        }
    }
}

/// Its part of the OpenAPI document.
fn doc() -> super::doc::KindDoc {
    use super::doc::*;
    use serde_json::json;
    KindDoc {
        tag: "video",
        ids: ["createAvatar", "getAvatar", "listAvatar"],
        summaries: [
            "Make a talking video of an image and an audio",
            "One avatar task, by task_id or external_task_id",
            "The caller's avatar tasks, newest first",
        ],
        description: "SOURCES.md: Avatar; kling-api.md §5.9. The video lasts as long as the audio (a foreign audio URL counts as 5 s).",
        request: "AvatarRequest",
        answer: "AvatarTask",
        answer_description: "",
        field_rules: "a field breaks a rule of the request schema, the audio_id is not a generated audio of the caller's of 2–300 s, a measured sound_file lasts less than 2 s or more than 300 s, or the external_task_id is already used",
        schemas: vec![
            ("AvatarTask", super::text2video::video_task()),
            (
                "AvatarRequest",
                json!({
                    "type": "object",
                    "required": ["image"],
                    "description": "Exactly one of audio_id and sound_file. Unknown fields are ignored.",
                    "properties": {
                        "image": {"type": "string", "description": "An http(s) URL or raw Base64 (no data: prefix) of a .jpg/.jpeg/.png, ≤ 10 MB, sides ≥ 300 px, aspect 1:2.5 to 2.5:1."},
                        "audio_id": {"type": "string", "description": "A generated audio of the caller's (TTS), 2–300 s."},
                        "sound_file": {"type": "string", "description": "Raw Base64 or an http(s) URL of a .mp3/.wav/.m4a/.aac audio, ≤ 5 MB, 2–300 s."},
                        "prompt": {"type": "string", "maxLength": video::MAX_PROMPT},
                        "mode": {"enum": ["std", "pro"], "default": "std"},
                        "watermark_info": schema_ref("WatermarkInfo"),
                        "callback_url": schema_ref("CallbackUrl"),
                        "external_task_id": schema_ref("ExternalTaskId"),
                    },
                    "examples": [{"image": "https://example.com/face.png", "audio_id": "860000000000000002", "mode": "std"}],
                }),
            ),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::video::inputs::tests::png_b64;
    use serde_json::json;

    fn parse(v: Value) -> Result<CreateAvatar, KlingError> {
        CreateAvatar::parse(v.as_object().unwrap())
    }

    #[test]
    fn image_and_exactly_one_audio_are_required() {
        assert_eq!(
            parse(json!({"audio_id": "1"})).unwrap_err().message,
            "image must not be null"
        );
        let img = png_b64(600, 800);
        assert_eq!(
            parse(json!({"image": img})).unwrap_err().message,
            "audio_id or sound_file is required"
        );
        assert_eq!(
            parse(json!({"image": img, "audio_id": "1", "sound_file": "https://x.example/a.mp3"}))
                .unwrap_err()
                .message,
            "audio_id and sound_file: give exactly one, got both"
        );
        assert!(
            parse(json!({"image": img, "audio_id": "1", "mode": "max"}))
                .unwrap_err()
                .message
                .ends_with("allowed values: std, pro")
        );
        assert_eq!(
            parse(json!({"image": img, "audio_id": "1", "prompt": "a".repeat(2501)}))
                .unwrap_err()
                .message,
            "prompt must be at most 2500 characters, got 2501"
        );
        assert_eq!(
            parse(json!({"image": img, "sound_file": faces::tests::wav_b64(1_000)}))
                .unwrap_err()
                .message,
            "sound_file: the audio must last 2 to 300 s, got 1 s"
        );
    }

    #[test]
    fn the_video_takes_the_audios_length_and_the_images_shape() {
        let img = png_b64(600, 800);
        let a = parse(json!({"image": img, "sound_file": faces::tests::wav_b64(12_270)})).unwrap();
        let d = a.dub();
        assert_eq!(d.shape.ms(), 12_266, "368 frames at 30 fps");
        assert_eq!((d.shape.width, d.shape.height), (720, 960));
        assert_eq!(d.units, 4.4, "kling-clients.md: avatar std 12.27 s → 4.4");
        let p = parse(
            json!({"image": img, "sound_file": faces::tests::wav_b64(12_270), "mode": "pro"}),
        )
        .unwrap();
        assert_eq!(p.dub().shape.height, 1440);
        assert_eq!(p.dub().units, 8.8);
    }
}
