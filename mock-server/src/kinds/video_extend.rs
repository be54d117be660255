//! Video extension: `POST /v1/videos/video-extend` (SOURCES.md: Video Extension, Capability Map).
//!
//! Request: `video_id` (required: a video of the caller's made by text2video, image2video or
//! video-extend with kling-v1, kling-v1-5 or kling-v1-6, within the retention), `prompt`,
//! `negative_prompt` (≤ 2500; not for kling-v1 videos), `cfg_scale` ([0, 1]),
//! `watermark_info`, `callback_url`, `external_task_id`.
//! The extension has the source's model and mode and adds [`EXTENSION_SECS`] (the documents:
//! "4–5 s"); the result is the whole extended video, and a chain of extensions may not pass
//! 3 minutes. `task_info.parent_video` names the source video.
//! A `video_id` that is unknown, another account's, expired, still being made, or not a video
//! is refused (400 / 1201) naming the field.

use super::Ctx;
use super::fields::{Common, Fields};
use super::video::{self, Family, Output, Parent};
use crate::auth::Account;
use crate::engine::Plan;
use crate::error::KlingError;
use crate::kinds::TaskResult;
use crate::media::MediaRef;
use serde_json::{Map, Value};

/// The kind: its paths, limits, timings and cost (see [`super::KindSpec`]).
pub static SPEC: super::KindSpec = super::KindSpec {
    id: super::KindId::new("video-extend"),
    path: "/v1/videos/video-extend",
    mode: super::Mode::Task {
        query: "/v1/videos/video-extend/{id}",
        result: super::result_type::<video::Videos>("Videos"),
        parse: |body| Ok(Box::new(CreateVideoExtend::parse(body)?)),
    },
    max_page_size: 500,
    lifecycle: super::DEFAULT_TASK_LIFECYCLE,
    // --timing-profile realistic: ComfyUI's expected duration of a video-extend task: 320 s (SOURCES.md: published clients).
    realistic: super::realistic(20_000, 300_000),
    pool: crate::engine::billing::Pool::Video,
    unit_deduction: "1",
    doc,
    extras: &[],
};

/// What one extension adds, in tenths of a second (the documents: 4–5 s).
pub const EXTENSION_TENTHS: u32 = 45;
/// What one extension adds, seconds.
pub const EXTENSION_SECS: f64 = EXTENSION_TENTHS as f64 / 10.0;
/// Longest extension chain, ms (3 minutes).
pub const MAX_CHAIN_MS: u64 = 180_000;

/// A validated create request.
#[derive(Clone, Debug)]
pub struct CreateVideoExtend {
    /// `video_id`.
    pub video_id: String,
    /// `negative_prompt` was sent.
    pub negative_prompt: bool,
    /// `watermark_info.enabled`.
    pub watermark: bool,
    /// Settled by [`super::Job::resolve`]: the output, the parent and the chain's length.
    pub resolved: Option<(Output, Parent, u64)>,
    /// `external_task_id`, `callback_url`.
    pub common: Common,
}

impl CreateVideoExtend {
    /// Validate a create body (the `video_id` is resolved against the caller's videos later).
    pub fn parse(body: &Map<String, Value>) -> Result<Self, KlingError> {
        let f = Fields::new(body);
        let video_id = f
            .opt_str("video_id")?
            .ok_or_else(|| KlingError::param("video_id must not be null"))?
            .to_string();
        video::prompt(&f, "prompt")?;
        let negative_prompt = video::prompt(&f, "negative_prompt")?.is_some();
        video::cfg_scale(&f)?;
        Ok(CreateVideoExtend {
            video_id,
            negative_prompt,
            watermark: video::watermark(&f)?,
            resolved: None,
            common: Common::parse(&f)?,
        })
    }
}

/// The models whose videos can be extended.
fn extendable() -> String {
    video::models::MODELS
        .iter()
        .filter(|m| m.extendable)
        .map(|m| m.name)
        .collect::<Vec<_>>()
        .join(", ")
}

impl super::Job for CreateVideoExtend {
    fn common(&self) -> &Common {
        &self.common
    }
    fn resolve(&mut self, s: &Ctx<'_>, account: &Account) -> Result<(), KlingError> {
        // The caller's own video, made by a task that has succeeded, within the retention.
        let (vid, facts, _) = super::faces::own_video(s, account, "video_id", &self.video_id)?;
        let model = video::models::model(facts.model.as_str())
            .filter(|m| m.extendable)
            .ok_or_else(|| {
                KlingError::param(format!(
                    "video_id: only videos of {} can be extended, got a {} video",
                    extendable(),
                    facts.model.as_str()
                ))
            })?;
        if self.negative_prompt && model.name == "kling-v1" {
            return Err(KlingError::param(
                "negative_prompt is not supported when extending a kling-v1 video",
            ));
        }
        let add_ms = u64::from(EXTENSION_TENTHS) * 100;
        if facts.chain_ms + add_ms > MAX_CHAIN_MS {
            return Err(KlingError::param(format!(
                "video_id: an extended video may last at most 3 minutes; this one lasts {} s already",
                crate::wire::format_secs(facts.chain_ms as f64 / 1000.0)
            )));
        }
        let mut out = Output::new(
            model,
            Family::Extend,
            facts.pro,
            5,
            Some((facts.width, facts.height)),
            None,
            false,
            self.watermark,
        );
        out.size = (facts.width, facts.height);
        out.fps = facts.fps;
        out.frames = facts.frames + EXTENSION_TENTHS * facts.fps / 10;
        out.units = video::models::EXTENSION_UNITS;
        let parent = Parent {
            id: vid,
            file: MediaRef {
                token: facts.file,
                format: crate::media::Format::Mp4,
                samples: facts.frames * 600 / facts.fps.max(1),
            },
        };
        self.resolved = Some((out, parent, facts.chain_ms + add_ms));
        Ok(())
    }
    fn cost(&self) -> Option<f64> {
        self.resolved.as_ref().map(|(o, _, _)| o.units)
    }
    fn plan(&self, s: &Ctx<'_>, account: &Account, task_id: u64, now: i64) -> Plan {
        let (out, parent, chain) = self.resolved.clone().expect("resolve runs before plan");
        Plan {
            result: TaskResult::new(video::videos(
                s,
                account,
                task_id,
                now,
                &out,
                Some(parent),
                chain,
            )),
            failure: None,
        }
    }
}

/// Its part of the OpenAPI document.
fn doc() -> super::doc::KindDoc {
    use super::doc::*;
    use serde_json::json;
    let mut task = super::text2video::video_task();
    task["properties"]["task_info"] = json!({
        "type": "object",
        "properties": {
            "external_task_id": {"type": "string"},
            "parent_video": {"type": "object", "properties": {
                "id": id_schema(), "url": {"type": "string", "format": "uri"}, "duration": {"type": "string"}}},
        },
    });
    KindDoc {
        tag: "video",
        ids: ["createVideoExtend", "getVideoExtend", "listVideoExtend"],
        summaries: [
            "Extend a generated video by 4.5 s",
            "One video-extension task, by task_id or external_task_id",
            "The caller's video-extension tasks, newest first",
        ],
        description: "SOURCES.md: Video Extension, Capability Map.",
        request: "VideoExtendRequest",
        answer: "VideoExtendTask",
        answer_description: "",
        field_rules: "a field breaks a rule of the request schema, the video_id does not name a succeeded video of the caller's (kling-v1, kling-v1-5 or kling-v1-6, within the retention), the chain would pass 3 minutes, or the external_task_id is already used",
        schemas: vec![
            ("VideoExtendTask", task),
            (
                "VideoExtendRequest",
                json!({
                    "type": "object",
                    "required": ["video_id"],
                    "description": "Unknown fields are ignored.",
                    "properties": {
                        "video_id": {"type": "string", "description": "A video of the caller's from text2video, image2video or video-extend (kling-v1, kling-v1-5, kling-v1-6)."},
                        "prompt": {"type": "string", "maxLength": video::MAX_PROMPT},
                        "negative_prompt": {"type": "string", "maxLength": video::MAX_PROMPT, "description": "Not for kling-v1 videos."},
                        "cfg_scale": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.5},
                        "watermark_info": schema_ref("WatermarkInfo"),
                        "callback_url": schema_ref("CallbackUrl"),
                        "external_task_id": schema_ref("ExternalTaskId"),
                    },
                    "examples": [{"video_id": "860000000000000001", "prompt": "The camera keeps moving"}],
                }),
            ),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn video_id_is_required() {
        let e = CreateVideoExtend::parse(json!({"prompt": "x"}).as_object().unwrap()).unwrap_err();
        assert_eq!(e.message, "video_id must not be null");
        let e = CreateVideoExtend::parse(
            json!({"video_id": "1", "cfg_scale": 2})
                .as_object()
                .unwrap(),
        )
        .unwrap_err();
        assert!(
            e.message.starts_with("cfg_scale must be between 0 and 1"),
            "{}",
            e.message
        );
    }
}
