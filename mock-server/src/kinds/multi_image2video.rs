//! Multi-image to video ("reference to video"): `POST /v1/videos/multi-image2video`
//! (SOURCES.md: Multi-Image to Video, Capability Map).
//!
//! Request: `model_name` (`kling-v1-6`, the default and only value), `image_list` (required,
//! 1–4 `{image}`, URL or raw Base64), `prompt` (required, ≤ 2500), `negative_prompt` (≤ 2500),
//! `mode` (default std), `duration` (`5` | `10`, default 5), `aspect_ratio` (default 16:9),
//! `watermark_info`, `callback_url`, `external_task_id`.
//! A third party saw the live endpoint answer "This API is no longer available" in 2026; the
//! mock serves it as documented, since clients still call it (FIDELITY.md: video families).

use super::Ctx;
use super::fields::{Common, Fields};
use super::video::inputs::Image;
use super::video::{self, Family, Output};
use crate::auth::Account;
use crate::engine::Plan;
use crate::error::KlingError;
use crate::kinds::TaskResult;
use serde_json::{Map, Value};

/// The kind: its paths, limits, timings and cost (see [`super::KindSpec`]).
pub static SPEC: super::KindSpec = super::KindSpec {
    id: super::KindId::new("multi-image2video"),
    path: "/v1/videos/multi-image2video",
    mode: super::Mode::Task {
        query: "/v1/videos/multi-image2video/{id}",
        result: super::result_type::<video::Videos>("Videos"),
        parse: |body| Ok(Box::new(CreateMultiImageToVideo::parse(body)?)),
    },
    max_page_size: 500,
    lifecycle: super::DEFAULT_TASK_LIFECYCLE,
    // --timing-profile realistic: never observed: as text2video (FIDELITY.md: timings).
    realistic: super::realistic(20_000, 300_000),
    pool: crate::engine::billing::Pool::Video,
    unit_deduction: "2",
    doc,
    extras: &[],
};

/// The models of this family.
pub const MODELS: &[&str] = &["kling-v1-6"];
/// Most reference images.
pub const MAX_IMAGES: usize = 4;

/// A validated create request.
#[derive(Clone, Debug, PartialEq)]
pub struct CreateMultiImageToVideo {
    /// What the task makes.
    pub out: Output,
    /// `image_list[].image`, by field.
    pub images: Vec<(String, Image)>,
    /// Why the task will fail (an input picture's size or shape).
    pub failure: Option<String>,
    /// `external_task_id`, `callback_url`.
    pub common: Common,
}

impl CreateMultiImageToVideo {
    /// Validate a create body.
    pub fn parse(body: &Map<String, Value>) -> Result<Self, KlingError> {
        let f = Fields::new(body);
        let model = video::model_name(&f, MODELS, "kling-v1-6")?;
        let images = video::image_items(&f, "image_list", "image", MAX_IMAGES)?;
        if images.is_empty() {
            return Err(KlingError::param(match f.raw_value("image_list") {
                None => "image_list must not be null",
                Some(_) => "image_list must have 1 to 4 items, got 0",
            }));
        }
        video::required_prompt(&f, &video::Shots::Single)?;
        video::prompt(&f, "negative_prompt")?;
        let pro = video::mode(&f, "std")?;
        let secs = video::duration(&f)?.unwrap_or(5);
        video::check_duration(model, secs)?;
        let ratio = video::aspect_ratio(&f, Some("16:9"))?;
        let watermark = video::watermark(&f)?;
        let failure = images.iter().find_map(|(_, i)| i.failure());
        Ok(CreateMultiImageToVideo {
            out: Output::new(
                model,
                Family::MultiImage,
                pro,
                secs,
                ratio,
                None,
                false,
                watermark,
            ),
            images,
            failure,
            common: Common::parse(&f)?,
        })
    }
}

impl super::Job for CreateMultiImageToVideo {
    fn common(&self) -> &Common {
        &self.common
    }
    fn resolve(&mut self, s: &Ctx<'_>, _account: &Account) -> Result<(), KlingError> {
        if let Some(f) = video::inputs::own_files_check(s, &mut self.images)? {
            self.failure.get_or_insert(f);
        }
        Ok(())
    }
    fn remote_images(&self) -> Vec<(String, String)> {
        video::inputs::remote(self.images.iter().map(|(n, i)| (n.clone(), i)))
    }
    fn measured(&mut self, field: &str, result: Result<(u32, u32), String>) {
        // The video's shape is its aspect_ratio's: a downloaded image only decides a failure.
        if let Some(f) = video::inputs::take_download_of(&mut self.images, field, result) {
            self.failure.get_or_insert(f);
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
            "createMultiImageToVideo",
            "getMultiImageToVideo",
            "listMultiImageToVideo",
        ],
        summaries: [
            "Create a multi-image-to-video task",
            "One multi-image-to-video task, by task_id or external_task_id",
            "The caller's multi-image-to-video tasks, newest first",
        ],
        description: "SOURCES.md: Multi-Image to Video, Capability Map.",
        request: "MultiImageToVideoRequest",
        answer: "MultiImageToVideoTask",
        answer_description: "",
        field_rules: TASK_FIELD_RULES,
        schemas: vec![
            ("MultiImageToVideoTask", super::text2video::video_task()),
            (
                "MultiImageToVideoRequest",
                json!({
                    "type": "object",
                    "required": ["image_list", "prompt"],
                    "description": "Unknown fields are ignored.",
                    "properties": {
                        "model_name": {"type": "string", "enum": MODELS, "default": "kling-v1-6"},
                        "image_list": {"type": "array", "minItems": 1, "maxItems": MAX_IMAGES, "items": {"type": "object", "required": ["image"], "properties": {"image": {"type": "string", "description": "URL or raw Base64 (.jpg/.jpeg/.png)."}}}},
                        "prompt": nonblank(Some(video::MAX_PROMPT), "What happens; not blank."),
                        "negative_prompt": {"type": "string", "maxLength": video::MAX_PROMPT},
                        "mode": {"type": "string", "enum": ["std", "pro"], "default": "std"},
                        "duration": {"type": ["string", "integer"], "enum": ["5", "10", 5, 10], "default": "5"},
                        "aspect_ratio": {"type": "string", "enum": ["16:9", "9:16", "1:1"], "default": "16:9"},
                        "watermark_info": schema_ref("WatermarkInfo"),
                        "callback_url": schema_ref("CallbackUrl"),
                        "external_task_id": schema_ref("ExternalTaskId"),
                    },
                    "examples": [{"image_list": [{"image": "https://example.com/a.jpg"}, {"image": "https://example.com/b.jpg"}], "prompt": "The two meet in a park"}],
                }),
            ),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<CreateMultiImageToVideo, KlingError> {
        CreateMultiImageToVideo::parse(v.as_object().unwrap())
    }

    #[test]
    fn rules_of_the_document() {
        let img = json!({"image": "https://x.example/a.jpg"});
        let r = parse(
            json!({"image_list": [img], "prompt": "p", "mode": "pro", "aspect_ratio": "1:1"}),
        )
        .unwrap();
        assert_eq!(
            (r.out.size, r.out.fps, r.out.model.name),
            ((1080, 1080), 30, "kling-v1-6")
        );
        let e = |v: Value| parse(v).unwrap_err().message.to_string();
        assert_eq!(e(json!({"prompt": "p"})), "image_list must not be null");
        assert!(
            e(json!({"image_list": [img, img, img, img, img], "prompt": "p"}))
                .contains("at most 4 items")
        );
        assert_eq!(e(json!({"image_list": [img]})), "prompt must not be null");
        assert_eq!(
            e(json!({"image_list": [{}], "prompt": "p"})),
            "image_list[0].image must not be null"
        );
        assert!(
            e(json!({"image_list": [img], "prompt": "p", "model_name": "kling-v2-6"}))
                .starts_with("model is not supported")
        );
        assert!(
            e(json!({"image_list": [img], "prompt": "p", "duration": "3"}))
                .contains("allowed values for kling-v1-6: 5, 10")
        );
    }
}
