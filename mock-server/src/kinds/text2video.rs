//! Text to video: `POST /v1/videos/text2video` (SOURCES.md: Text to Video, Capability Map).
//!
//! Request: `model_name` (default `kling-v1`; `kling-v1`, `kling-v1-6`, `kling-v2-master`,
//! `kling-v2-1-master`, `kling-v2-5-turbo`, `kling-v2-6`, `kling-v3`), `prompt` (≤ 2500, required
//! unless multi-shot `customize`), `negative_prompt` (≤ 2500), `multi_shot` / `shot_type` /
//! `multi_prompt`, `sound` (`on` | `off`), `cfg_scale` ([0, 1]), `mode` (`std` | `pro`, default
//! std), `camera_control`, `aspect_ratio` (`16:9` | `9:16` | `1:1`, default 16:9), `duration`
//! (default `"5"`), `watermark_info`, `callback_url`, `external_task_id`.
//! The capability map decides per model: durations (5 / 10, or 3–15 for kling-v3), camera
//! control (kling-v1, std, 5 s), sound (kling-v2-6 pro, kling-v3), multi-shot (kling-v3).
//! Result: `task_result.videos[{id, url, watermark_url, duration}]`; the MP4's size follows mode
//! and aspect ratio, its frame rate the model (kling-v1-6 text to video: 24 fps).

use super::Ctx;
use super::fields::{Common, Fields};
use super::video::{self, Family, Output, Shots};
use crate::auth::Account;
use crate::engine::Plan;
use crate::error::KlingError;
use crate::kinds::TaskResult;
use serde_json::{Map, Value};

/// The kind: its paths, limits, timings and cost (see [`super::KindSpec`]).
pub static SPEC: super::KindSpec = super::KindSpec {
    id: super::KindId::new("text2video"),
    path: "/v1/videos/text2video",
    mode: super::Mode::Task {
        query: "/v1/videos/text2video/{id}",
        result: super::result_type::<video::Videos>("Videos"),
        parse: |body| Ok(Box::new(CreateTextToVideo::parse(body)?)),
    },
    max_page_size: 500,
    lifecycle: super::DEFAULT_TASK_LIFECYCLE,
    // --timing-profile realistic: ComfyUI's expected duration of a text2video task: 319 s (SOURCES.md: published clients).
    realistic: super::realistic(20_000, 300_000),
    pool: crate::engine::billing::Pool::Video,
    // The cheapest: each task's own cost comes from its model, mode and duration.
    unit_deduction: "1",
    doc,
    extras: &[],
};

/// The models of this family.
pub const MODELS: &[&str] = &[
    "kling-v1",
    "kling-v1-6",
    "kling-v2-master",
    "kling-v2-1-master",
    "kling-v2-5-turbo",
    "kling-v2-6",
    "kling-v3",
];

/// A validated create request.
#[derive(Clone, Debug, PartialEq)]
pub struct CreateTextToVideo {
    /// What the task makes.
    pub out: Output,
    /// The shots.
    pub shots: Shots,
    /// `external_task_id`, `callback_url`.
    pub common: Common,
}

impl CreateTextToVideo {
    /// Validate a create body.
    pub fn parse(body: &Map<String, Value>) -> Result<Self, KlingError> {
        let f = Fields::new(body);
        let model = video::model_name(&f, MODELS, "kling-v1")?;
        let secs = video::duration(&f)?.unwrap_or(5);
        video::check_duration(model, secs)?;
        let shots = video::shots(&f, model, secs)?;
        video::required_prompt(&f, &shots)?;
        video::prompt(&f, "negative_prompt")?;
        let pro = video::mode(&f, "std")?;
        let sound = video::sound(&f)?;
        if sound {
            video::check_option(model, "sound on", model.sound, pro, secs)?;
        }
        video::cfg_scale(&f)?;
        if video::camera_control(&f)?.is_some() {
            video::check_option(model, "camera_control", model.camera_text, pro, secs)?;
        }
        let ratio = video::aspect_ratio(&f, Some("16:9"))?;
        let watermark = video::watermark(&f)?;
        Ok(CreateTextToVideo {
            out: Output::new(
                model,
                Family::Text,
                pro,
                secs,
                ratio,
                None,
                sound,
                watermark,
            ),
            shots,
            common: Common::parse(&f)?,
        })
    }
}

impl super::Job for CreateTextToVideo {
    fn common(&self) -> &Common {
        &self.common
    }
    fn cost(&self) -> Option<f64> {
        Some(self.out.units)
    }
    fn plan(&self, s: &Ctx<'_>, account: &Account, task_id: u64, now: i64) -> Plan {
        Plan {
            result: TaskResult::new(video::videos(s, account, task_id, now, &self.out, None, 0)),
            failure: None,
        }
    }
}

/// Its part of the OpenAPI document.
fn doc() -> super::doc::KindDoc {
    use super::doc::*;
    use serde_json::json;
    let mut schemas = video::shared_schemas();
    schemas.push(("TextToVideoTask", video_task()));
    schemas.push((
        "TextToVideoRequest",
        json!({
            "type": "object",
            "description": "Unknown fields are ignored (`model` too: model_name decides). The capability map decides per model which durations, modes and options are allowed.",
            "properties": {
                "model_name": {"type": "string", "enum": MODELS, "default": "kling-v1"},
                "prompt": {"type": "string", "maxLength": video::MAX_PROMPT, "description": "Required unless multi_shot with shot_type customize."},
                "negative_prompt": {"type": "string", "maxLength": video::MAX_PROMPT},
                "multi_shot": {"type": ["boolean", "string"], "description": "true / false (the string \"true\" too). kling-v3 only."},
                "shot_type": {"type": "string", "enum": ["customize", "intelligence"]},
                "multi_prompt": multi_prompt_schema(),
                "sound": {"type": "string", "enum": ["on", "off"], "default": "off"},
                "cfg_scale": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.5},
                "mode": {"type": "string", "enum": ["std", "pro"], "default": "std"},
                "camera_control": camera_schema(),
                "aspect_ratio": {"type": "string", "enum": ["16:9", "9:16", "1:1"], "default": "16:9"},
                "duration": {"type": ["string", "integer"], "default": "5", "description": "Seconds: 5 or 10; 3 to 15 for kling-v3."},
                "watermark_info": schema_ref("WatermarkInfo"),
                "callback_url": schema_ref("CallbackUrl"),
                "external_task_id": schema_ref("ExternalTaskId"),
            },
            "examples": [{"model_name": "kling-v1", "prompt": "A red fox runs through snow", "duration": "5"}],
        }),
    ));
    KindDoc {
        tag: "video",
        ids: ["createTextToVideo", "getTextToVideo", "listTextToVideo"],
        summaries: [
            "Create a text-to-video task",
            "One text-to-video task, by task_id or external_task_id",
            "The caller's text-to-video tasks, newest first",
        ],
        description: "SOURCES.md: Text to Video, Capability Map.",
        request: "TextToVideoRequest",
        answer: "TextToVideoTask",
        answer_description: "",
        field_rules: TASK_FIELD_RULES,
        schemas,
    }
}

/// A video task's schema (shared shape: `task_result.videos`, `watermark_info`).
pub(crate) fn video_task() -> Value {
    use super::doc::*;
    let mut t = task_of("GeneratedVideo", "videos");
    t["properties"]["watermark_info"] = schema_ref("WatermarkInfo");
    t
}

pub(crate) fn multi_prompt_schema() -> Value {
    serde_json::json!({
        "type": "array", "maxItems": video::MAX_SHOTS, "minItems": 1,
        "description": "Required when shot_type is customize; durations add up to duration.",
        "items": {"type": "object", "required": ["prompt", "duration"], "properties": {
            "index": {"type": "integer"},
            "prompt": {"type": "string", "maxLength": video::MAX_SHOT_PROMPT},
            "duration": {"type": ["string", "integer"]},
        }},
    })
}

pub(crate) fn camera_schema() -> Value {
    let axis = serde_json::json!({"type": "number", "minimum": -10, "maximum": 10});
    serde_json::json!({
        "type": "object", "required": ["type"],
        "properties": {
            "type": {"type": "string", "enum": ["simple", "down_back", "forward_up", "right_turn_forward", "left_turn_forward"]},
            "config": {"type": ["object", "null"], "description": "Only for simple: exactly one non-zero axis.",
                "properties": {"horizontal": axis, "vertical": axis, "pan": axis, "tilt": axis, "roll": axis, "zoom": axis}},
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<CreateTextToVideo, KlingError> {
        CreateTextToVideo::parse(v.as_object().unwrap())
    }

    fn err(v: Value) -> String {
        parse(v).unwrap_err().message.to_string()
    }

    #[test]
    fn defaults_follow_the_document() {
        let r = parse(json!({"prompt": "a fox"})).unwrap();
        assert_eq!(r.out.model.name, "kling-v1");
        assert_eq!(
            (r.out.size, r.out.fps, r.out.frames),
            ((1280, 720), 30, 150)
        );
        assert!(!r.out.pro && !r.out.sound && !r.out.watermark);
        assert_eq!(r.out.deduction(), "1");
    }

    #[test]
    fn what_real_clients_send_is_accepted() {
        // new-api: model beside model_name, cfg_scale to a v2 model; Griptape: a numeric duration.
        let r = parse(json!({
            "model": "kling-v2-master", "model_name": "kling-v2-master", "prompt": "x",
            "cfg_scale": 0.5, "duration": 10, "mode": "std", "aspect_ratio": "9:16",
        }))
        .unwrap();
        assert_eq!((r.out.size, r.out.frames), ((720, 1280), 240));
        let r = parse(json!({
            "model_name": "kling-v3", "multi_shot": "true", "shot_type": "customize",
            "multi_prompt": [{"index": 1, "prompt": "a", "duration": "2"}, {"index": 2, "prompt": "b", "duration": 4}],
            "duration": "6", "sound": "on", "mode": "pro",
        }))
        .unwrap();
        assert_eq!(r.shots, Shots::Customize(vec![2, 4]));
        assert_eq!(
            (r.out.size, r.out.fps, r.out.frames),
            ((1920, 1080), 24, 144)
        );
    }

    #[test]
    fn the_capability_map_is_enforced() {
        assert!(
            err(json!({"prompt": "x", "model_name": "kling-v1-5"}))
                .starts_with("model is not supported")
        );
        assert_eq!(
            err(json!({"prompt": "x", "duration": "7"})),
            "duration value '7' is invalid; allowed values for kling-v1: 5, 10"
        );
        let simple = json!({"type": "simple", "config": {"zoom": 5}});
        assert!(parse(json!({"prompt": "x", "camera_control": simple})).is_ok());
        assert!(
            err(json!({"prompt": "x", "mode": "pro", "camera_control": simple}))
                .contains("in std mode for 5 s videos only")
        );
        assert!(
            err(json!({"prompt": "x", "model_name": "kling-v2-6", "camera_control": simple}))
                .contains("not supported by kling-v2-6")
        );
        assert!(
            err(json!({"prompt": "x", "model_name": "kling-v2-6", "sound": "on"}))
                .contains("in pro mode only")
        );
        assert!(
            err(json!({"prompt": "x", "model_name": "kling-v1-6", "multi_shot": true}))
                .contains("multi_shot is not supported")
        );
    }

    #[test]
    fn cross_field_rules_name_the_field() {
        assert_eq!(err(json!({})), "prompt must not be null");
        let cfg = |c: Value| json!({"prompt": "x", "camera_control": c});
        assert!(
            err(cfg(json!({"type": "simple"})))
                .starts_with("camera_control.config must not be null")
        );
        assert!(
            err(cfg(json!({"type": "down_back", "config": {"zoom": 1}})))
                .starts_with("camera_control.config must be null")
        );
        assert!(
            err(cfg(
                json!({"type": "simple", "config": {"zoom": 1, "pan": 2}})
            ))
            .contains("exactly one non-zero")
        );
        assert!(
            err(cfg(json!({"type": "simple", "config": {"zoom": 11}})))
                .contains("between -10 and 10")
        );
        assert!(err(cfg(json!({"type": "tilt"}))).contains("allowed values: simple"));
        let v3 = |m: Value| json!({"model_name": "kling-v3", "duration": "5", "multi_shot": true, "shot_type": "customize", "multi_prompt": m});
        assert!(
            err(v3(json!([{"prompt": "a", "duration": "2"}])))
                .contains("must add up to duration 5, got 2")
        );
        assert!(
            err(json!({"model_name": "kling-v3", "multi_shot": true, "prompt": "x"}))
                .starts_with("shot_type must not be null")
        );
        assert!(
            err(json!({"prompt": "x", "multi_shot": "yes"}))
                .starts_with("multi_shot must be a boolean")
        );
        assert!(err(json!({"prompt": "x", "mode": "fast"})).contains("allowed values: std, pro"));
        assert!(
            err(json!({"prompt": "x", "watermark_info": {"enabled": "yes"}}))
                .contains("watermark_info.enabled")
        );
    }
}
