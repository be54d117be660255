//! Motion control: `POST /v1/videos/motion-control` (SOURCES.md: Motion Control, Capability Map).
//!
//! Request: `model_name` (default `kling-v2-6`; `kling-v2-6`, `kling-v3`), `prompt` (≤ 2500),
//! `image_url` (required: the character; URL or raw Base64), `video_url` (required: the motion,
//! `.mp4/.mov`, at least 3 s; at most 30 s when `character_orientation` is `video`, 10 s when
//! `image`), `element_list` (≤ 1), `keep_original_sound` (`yes` | `no`, default yes),
//! `character_orientation` (required: `image` | `video`), `mode` (required: `std` | `pro`),
//! `watermark_info`, `callback_url`, `external_task_id`.
//! The output lasts as long as the motion video (only known for the mock's own videos; a
//! foreign URL is not fetched and gives a 5 s video, FIDELITY.md: video inputs), takes the
//! character image's shape, and keeps the motion video's sound when `keep_original_sound` is yes.

use super::Ctx;
use super::fields::{Common, Fields};
use super::video::inputs::{self, Image};
use super::video::{self, Family, Output};
use crate::auth::Account;
use crate::engine::Plan;
use crate::error::KlingError;
use crate::kinds::TaskResult;
use serde_json::{Map, Value};

/// The kind: its paths, limits, timings and cost (see [`super::KindSpec`]).
pub static SPEC: super::KindSpec = super::KindSpec {
    id: super::KindId::new("motion-control"),
    path: "/v1/videos/motion-control",
    mode: super::Mode::Task {
        query: "/v1/videos/motion-control/{id}",
        result: super::result_type::<video::Videos>("Videos"),
        parse: |body| Ok(Box::new(CreateMotionControl::parse(body)?)),
    },
    max_page_size: 500,
    lifecycle: super::DEFAULT_TASK_LIFECYCLE,
    // --timing-profile realistic: never observed: as text2video (FIDELITY.md: timings).
    realistic: super::realistic(20_000, 300_000),
    pool: crate::engine::billing::Pool::Video,
    unit_deduction: "1.5",
    doc,
    extras: &[],
};

/// The models of this family.
pub const MODELS: &[&str] = &["kling-v2-6", "kling-v3"];
/// Length of the output when the motion video's length is unknown, seconds.
pub const UNKNOWN_MOTION_SECS: u32 = 5;

/// A validated create request.
#[derive(Clone, Debug, PartialEq)]
pub struct CreateMotionControl {
    /// What the task makes (its length is settled by [`super::Job::resolve`]).
    pub out: Output,
    /// `image_url`.
    pub image: Image,
    /// `video_url`.
    pub video_url: String,
    /// `character_orientation` is `video`.
    pub follow_video: bool,
    /// `keep_original_sound`.
    pub keep_sound: bool,
    /// `element_list[].element_id`.
    pub elements: Vec<u64>,
    /// Why the task will fail.
    pub failure: Option<String>,
    /// `external_task_id`, `callback_url`.
    pub common: Common,
}

impl CreateMotionControl {
    /// Validate a create body.
    pub fn parse(body: &Map<String, Value>) -> Result<Self, KlingError> {
        let f = Fields::new(body);
        let model = video::model_name(&f, MODELS, "kling-v2-6")?;
        video::prompt(&f, "prompt")?;
        let image = Image::parse(
            "image_url",
            f.opt_str("image_url")?
                .ok_or_else(|| KlingError::param("image_url must not be null"))?,
        )?;
        let video_url = inputs::video_url(
            "video_url",
            f.opt_str("video_url")?
                .ok_or_else(|| KlingError::param("video_url must not be null"))?,
        )?;
        let elements = video::element_list(&f, 1)?;
        let keep_sound =
            video::one_of(&f, "keep_original_sound", &["yes", "no"], Some("yes"))? == Some("yes");
        let follow_video = video::one_of(&f, "character_orientation", &["image", "video"], None)?
            .ok_or_else(|| {
            KlingError::param("character_orientation must not be null")
        })? == "video";
        if f.raw_value("mode").is_none() {
            return Err(KlingError::param("mode must not be null"));
        }
        let pro = video::mode(&f, "std")?;
        let watermark = video::watermark(&f)?;
        let failure = image.failure();
        Ok(CreateMotionControl {
            out: Output::new(
                model,
                Family::Motion,
                pro,
                UNKNOWN_MOTION_SECS,
                None,
                image.size(),
                keep_sound,
                watermark,
            ),
            image,
            video_url,
            follow_video,
            keep_sound,
            elements,
            failure,
            common: Common::parse(&f)?,
        })
    }
}

impl super::Job for CreateMotionControl {
    fn common(&self) -> &Common {
        &self.common
    }
    fn resolve(&mut self, s: &Ctx<'_>, account: &Account) -> Result<(), KlingError> {
        super::elements::check_element_list(s, account, &self.elements)?;
        if let Some(f) = inputs::own_file_check(s, "image_url", &mut self.image)? {
            self.failure.get_or_insert(f);
        }
        // One of the mock's own images is measured now: the video takes its shape.
        if let Some(size) = self.image.size() {
            self.out.take_shape(size);
        }
        match inputs::own_video(s, &self.video_url) {
            Ok(Some(v)) => {
                let secs = v.frames as f64 / v.fps.max(1) as f64;
                let max = if self.follow_video { 30.0 } else { 10.0 };
                if !(3.0..=max).contains(&secs) {
                    return Err(KlingError::param(format!(
                        "video_url must be 3 to {max} s long when character_orientation is {}, got {secs:.3} s",
                        if self.follow_video { "video" } else { "image" }
                    )));
                }
                let out = &self.out;
                let whole = secs.round().max(3.0) as u32;
                let mut next = Output::new(
                    out.model,
                    Family::Motion,
                    out.pro,
                    whole,
                    None,
                    self.image.size(),
                    self.keep_sound && v.sound.is_some(),
                    out.watermark,
                );
                // The motion's own frame count, at the output frame rate.
                next.frames = ((secs * next.fps as f64).round() as u32).max(3 * next.fps);
                self.out = next;
            }
            Ok(None) => {}
            Err(reason) => {
                self.failure.get_or_insert(reason);
            }
        }
        Ok(())
    }
    fn remote_images(&self) -> Vec<(String, String)> {
        inputs::remote([("image_url".to_string(), &self.image)])
    }
    fn measured(&mut self, field: &str, result: Result<(u32, u32), String>) {
        if field != "image_url" {
            return;
        }
        if let Some(f) = self.image.take_download(result) {
            self.failure.get_or_insert(f);
        }
        // The video takes the character's shape (resolve keeps it when it reads the motion).
        if let Some(size) = self.image.size() {
            self.out.take_shape(size);
        }
    }
    fn cost(&self) -> Option<f64> {
        Some(self.out.units)
    }
    fn plan(&self, s: &Ctx<'_>, account: &Account, task_id: u64, now: i64) -> Plan {
        Plan {
            result: TaskResult::new(video::videos(s, account, task_id, now, &self.out, None, 0)),
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
        ids: [
            "createMotionControl",
            "getMotionControl",
            "listMotionControl",
        ],
        summaries: [
            "Create a motion-control task",
            "One motion-control task, by task_id or external_task_id",
            "The caller's motion-control tasks, newest first",
        ],
        description: "SOURCES.md: Motion Control, Capability Map.",
        request: "MotionControlRequest",
        answer: "MotionControlTask",
        answer_description: "",
        field_rules: TASK_FIELD_RULES,
        schemas: vec![
            ("MotionControlTask", super::text2video::video_task()),
            (
                "MotionControlRequest",
                json!({
                    "type": "object",
                    "required": ["image_url", "video_url", "character_orientation", "mode"],
                    "description": "Unknown fields are ignored.",
                    "properties": {
                        "model_name": {"type": "string", "enum": MODELS, "default": "kling-v2-6"},
                        "prompt": {"type": "string", "maxLength": video::MAX_PROMPT},
                        "image_url": {"type": "string", "description": "The character: URL or raw Base64 (.jpg/.jpeg/.png)."},
                        "video_url": {"type": "string", "description": "The motion: an http(s) URL of a .mp4/.mov, 3–30 s (3–10 s with character_orientation image)."},
                        "element_list": {"type": "array", "maxItems": 1, "items": {"type": "object", "required": ["element_id"]}},
                        "keep_original_sound": {"type": "string", "enum": ["yes", "no"], "default": "yes"},
                        "character_orientation": {"type": "string", "enum": ["image", "video"]},
                        "mode": {"type": "string", "enum": ["std", "pro"]},
                        "watermark_info": schema_ref("WatermarkInfo"),
                        "callback_url": schema_ref("CallbackUrl"),
                        "external_task_id": schema_ref("ExternalTaskId"),
                    },
                    "examples": [{"image_url": "https://example.com/person.jpg", "video_url": "https://example.com/dance.mp4", "character_orientation": "image", "mode": "std"}],
                }),
            ),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<CreateMotionControl, KlingError> {
        CreateMotionControl::parse(v.as_object().unwrap())
    }

    #[test]
    fn rules_of_the_document() {
        let ok = json!({"image_url": "https://x.example/p.jpg", "video_url": "https://x.example/m.mp4", "character_orientation": "video", "mode": "pro"});
        let r = parse(ok.clone()).unwrap();
        assert_eq!(
            (r.out.model.name, r.out.frames, r.out.sound),
            ("kling-v2-6", 120, true)
        );
        let e = |patch: Value| {
            let mut b = ok.clone();
            for (k, v) in patch.as_object().unwrap() {
                if v.is_null() {
                    b.as_object_mut().unwrap().remove(k);
                } else {
                    b[k] = v.clone();
                }
            }
            parse(b).unwrap_err().message.to_string()
        };
        assert_eq!(e(json!({"mode": null})), "mode must not be null");
        assert_eq!(
            e(json!({"character_orientation": null})),
            "character_orientation must not be null"
        );
        assert!(
            e(json!({"character_orientation": "left"})).contains("allowed values: image, video")
        );
        assert!(e(json!({"video_url": "https://x.example/m.gif"})).contains(".mp4/.mov"));
        assert_eq!(e(json!({"image_url": null})), "image_url must not be null");
        assert!(
            e(json!({"element_list": [{"element_id": 1}, {"element_id": 2}]}))
                .contains("at most 1 items")
        );
        assert!(e(json!({"keep_original_sound": "maybe"})).contains("allowed values: yes, no"));
    }
}
