//! Video to audio: `POST /v1/audio/video-to-audio` (SOURCES.md: Video to Audio).
//!
//! Request: `video_id` (one of the caller's videos, made by a task that has succeeded, within
//! the retention, 3–20 s) or `video_url` (`.mp4/.mov`, 3–20 s): exactly one; `sound_effect_prompt`
//! and `bgm_prompt` (≤ 200 each), `asmr_mode` (boolean, default false), `callback_url`,
//! `external_task_id`.
//! Result: `task_info.parent_video {id, url, duration}` (when the source is one of the mock's
//! videos) and `task_result {videos: [{id, url, duration}], audios: [{id, url_mp3, url_wav,
//! duration_mp3, duration_wav}]}`: the source video with its new sound track, and that sound as
//! MP3 and WAV, all as long as the source. The video reference is resolved as the face
//! families resolve theirs ([`faces::resolve_video`]): a foreign `video_url` (not fetched)
//! counts as a 5 s 1280 × 720 24 fps video (FIDELITY.md: video to audio).

use super::Ctx;
use super::faces::{self, Shape, SourceVideo, VideoRef};
use super::fields::{Common, Fields, max_chars};
use super::video::Parent;
use crate::auth::Account;
use crate::engine::Plan;
use crate::error::KlingError;
use crate::kinds::TaskResult;
use crate::media::audio::{Sound, Style, samples_for_secs};
use crate::media::{
    Format, Label, MediaFile, MediaItem, MediaRef, Origin, VideoFacts, VideoFile, VideoSource,
};
use crate::wire::format_secs;
use serde_json::{Map, Value, json};

/// The kind: its paths, limits, timings and cost (see [`super::KindSpec`]).
pub static SPEC: super::KindSpec = super::KindSpec {
    id: super::KindId::new("video-to-audio"),
    path: "/v1/audio/video-to-audio",
    mode: super::Mode::Task {
        query: "/v1/audio/video-to-audio/{id}",
        result: super::result_type::<Dubbed>("Dubbed"),
        parse: |body| Ok(Box::new(CreateVideoToAudio::parse(body)?)),
    },
    max_page_size: 500,
    lifecycle: super::DEFAULT_TASK_LIFECYCLE,
    // --timing-profile realistic: never observed: as text to audio (FIDELITY.md: timings).
    realistic: super::realistic(2_000, 15_000),
    pool: crate::engine::billing::Pool::Video,
    // INFERRED: as text to audio (FIDELITY.md: video to audio).
    unit_deduction: "0.05",
    doc,
    extras: &[],
};

/// Longest `sound_effect_prompt` / `bgm_prompt`, characters.
pub const MAX_PROMPT: usize = 200;
/// Shortest and longest source video, ms.
pub const MS: (u64, u64) = (3_000, 20_000);

/// A validated create request.
#[derive(Clone, Debug)]
pub struct CreateVideoToAudio {
    /// `video_id` or `video_url`.
    pub source: VideoRef,
    /// Settled by [`super::Job::resolve`].
    pub resolved: Option<SourceVideo>,
    /// `external_task_id`, `callback_url`.
    pub common: Common,
}

impl CreateVideoToAudio {
    /// Validate a create body.
    pub fn parse(body: &Map<String, Value>) -> Result<Self, KlingError> {
        let f = Fields::new(body);
        let source = VideoRef::parse(&f, "video_id or video_url is required")?;
        for name in ["sound_effect_prompt", "bgm_prompt"] {
            if let Some(p) = f.opt_str(name)? {
                max_chars(name, p, MAX_PROMPT)?;
            }
        }
        match f.raw_value("asmr_mode") {
            None | Some(Value::Bool(_)) => {}
            Some(other) => {
                return Err(KlingError::param(format!(
                    "asmr_mode must be a boolean, got {}",
                    super::fields::json_kind(other)
                )));
            }
        }
        Ok(CreateVideoToAudio {
            source,
            resolved: None,
            common: Common::parse(&f)?,
        })
    }
}

impl super::Job for CreateVideoToAudio {
    fn common(&self) -> &Common {
        &self.common
    }
    fn resolve(&mut self, s: &Ctx<'_>, account: &Account) -> Result<(), KlingError> {
        self.resolved = Some(faces::resolve_video(s, account, &self.source, MS)?);
        Ok(())
    }
    fn plan(&self, s: &Ctx<'_>, account: &Account, task_id: u64, now: i64) -> Plan {
        let r = self.resolved.clone().expect("resolve runs before plan");
        let Shape {
            width,
            height,
            fps,
            frames,
        } = r.shape;
        let audio_id = s.ids.next(now);
        let video_id = s.ids.next(now);
        let secs = f64::from(frames) / f64::from(fps.max(1));
        let samples = samples_for_secs(secs);
        let sound = Sound {
            seed: audio_id,
            style: Style::Effect,
        };
        let audio_file = |format| MediaFile {
            sound,
            format,
            samples,
            born: Some(now),
        };
        let mp3 = s.media.add_file(s.entropy.token(), audio_file(Format::Mp3));
        let wav = s.media.add_file(s.entropy.token(), audio_file(Format::Wav));
        let item = |origin| MediaItem {
            account: account.idx,
            origin,
            duration_ms: (secs * 1000.0).round() as u64,
            created_at: now,
        };
        s.media.add_item(audio_id, item(Origin::Audio));
        let token = s.entropy.token();
        let label = Label::new("video-to-audio");
        let video = s.media.add_video(
            token,
            VideoFile {
                task_id,
                video_id,
                width,
                height,
                fps,
                frames,
                sound: Some(audio_id),
                watermark: false,
                label,
                born: Some(now),
            },
        );
        s.media.add_video_item(
            video_id,
            item(Origin::Video(VideoSource::Other)),
            VideoFacts {
                model: label,
                pro: false,
                sound: true,
                file: token,
                width,
                height,
                fps,
                frames,
                chain_ms: (secs * 1000.0).round() as u64,
            },
        );
        Plan {
            result: TaskResult::new(Dubbed {
                video_id,
                video,
                audio_id,
                mp3,
                wav,
                parent: r.parent_video(),
            }),
            failure: r.failure.clone(),
        }
    }
}

/// The result: the video with its new sound, that sound as MP3 and WAV, the source.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Dubbed {
    /// The new video's id.
    pub video_id: u64,
    /// Its file.
    pub video: MediaRef,
    /// The sound's id.
    pub audio_id: u64,
    /// The sound as MP3.
    pub mp3: MediaRef,
    /// The sound as WAV.
    pub wav: MediaRef,
    /// `task_info.parent_video`.
    pub parent: Option<Parent>,
}

impl super::KindResult for Dubbed {
    fn wire<'a>(&'a self, base: &'a str) -> Box<dyn erased_serde::Serialize + 'a> {
        Box::new(json!({
            "videos": [{
                "id": self.video_id.to_string(),
                "url": self.video.url(base),
                "duration": format_secs(self.video.duration_secs()),
            }],
            "audios": [{
                "id": self.audio_id.to_string(),
                "url_mp3": self.mp3.url(base),
                "url_wav": self.wav.url(base),
                "duration_mp3": format_secs(self.mp3.duration_secs()),
                "duration_wav": format_secs(self.wav.duration_secs()),
            }],
        }))
    }

    fn task_info(&self, base: &str) -> Vec<(&'static str, Value)> {
        match &self.parent {
            Some(p) => vec![(
                "parent_video",
                json!({
                    "id": p.id.to_string(),
                    "url": p.file.url(base),
                    "duration": format_secs(p.file.duration_secs()),
                }),
            )],
            None => Vec::new(),
        }
    }
}

/// Its part of the OpenAPI document.
fn doc() -> super::doc::KindDoc {
    use super::doc::*;
    let task = json!({
        "allOf": [schema_ref("Task")],
        "properties": {
            "task_info": {"type": "object", "properties": {
                "external_task_id": {"type": "string"},
                "parent_video": {"type": "object", "properties": {
                    "id": id_schema(), "url": {"type": "string", "format": "uri"}, "duration": {"type": "string"}}},
            }},
            "task_result": {
                "type": "object",
                "description": "`{}` until the task succeeds.",
                "properties": {
                    "videos": {"type": "array", "items": {"type": "object", "properties": {
                        "id": id_schema(), "url": {"type": "string", "format": "uri", "description": "The source video with its new sound (MP4)."},
                        "duration": {"type": "string"}}}},
                    "audios": {"type": "array", "items": {"type": "object", "properties": {
                        "id": id_schema(),
                        "url_mp3": {"type": "string", "format": "uri"}, "url_wav": {"type": "string", "format": "uri"},
                        "duration_mp3": {"type": "string"}, "duration_wav": {"type": "string"}}}},
                },
            },
        },
    });
    KindDoc {
        tag: "audio",
        ids: ["createVideoToAudio", "getVideoToAudio", "listVideoToAudio"],
        summaries: [
            "Create a video-to-audio task (a sound track for a video)",
            "One video-to-audio task, by task_id or external_task_id",
            "The caller's video-to-audio tasks, newest first",
        ],
        description: "SOURCES.md: Video to Audio.",
        request: "VideoToAudioRequest",
        answer: "VideoToAudioTask",
        answer_description: "",
        field_rules: TASK_FIELD_RULES,
        schemas: vec![
            ("VideoToAudioTask", task),
            (
                "VideoToAudioRequest",
                json!({
                    "type": "object",
                    "description": "Exactly one of video_id and video_url. The video must last 3 to 20 s.",
                    "properties": {
                        "video_id": {"type": "string", "description": "One of the caller's generated videos."},
                        "video_url": {"type": "string", "description": "A .mp4/.mov URL."},
                        "sound_effect_prompt": {"type": "string", "maxLength": MAX_PROMPT},
                        "bgm_prompt": {"type": "string", "maxLength": MAX_PROMPT},
                        "asmr_mode": {"type": "boolean", "default": false},
                        "callback_url": schema_ref("CallbackUrl"),
                        "external_task_id": schema_ref("ExternalTaskId"),
                    },
                    "examples": [{"video_url": "https://example.com/clip.mp4", "sound_effect_prompt": "waves and gulls"}],
                }),
            ),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(v: Value) -> String {
        CreateVideoToAudio::parse(v.as_object().unwrap())
            .unwrap_err()
            .message
            .to_string()
    }

    #[test]
    fn exactly_one_source_and_short_prompts() {
        assert_eq!(err(json!({})), "video_id or video_url is required");
        assert_eq!(
            err(json!({"video_id": "1", "video_url": "https://x.example/a.mp4"})),
            "only one of video_id and video_url may be given, got both"
        );
        assert!(err(json!({"video_url": "https://x.example/a.gif"})).contains(".mp4/.mov"));
        assert_eq!(
            err(json!({"video_id": "1", "bgm_prompt": "x".repeat(201)})),
            "bgm_prompt must be at most 200 characters, got 201"
        );
        assert_eq!(
            err(json!({"video_id": "1", "asmr_mode": "yes"})),
            "asmr_mode must be a boolean, got a string"
        );
        let ok = CreateVideoToAudio::parse(
            json!({"video_url": "https://x.example/a.mp4", "asmr_mode": true})
                .as_object()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(ok.source, VideoRef::Url("https://x.example/a.mp4".into()));
    }
}
