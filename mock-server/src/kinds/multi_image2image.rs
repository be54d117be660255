//! Multi-image to image ("reference to image"): `POST /v1/images/multi-image2image`
//! (SOURCES.md: Multi-Image to Image, Capability Map).
//!
//! Request: `model_name` (default `kling-v2`; `kling-v2`, `kling-v2-1`), `prompt` (required,
//! ≤ 2500), `subject_image_list` (`[{subject_image}]`, 1–4: the Chinese page requires it, the
//! English one says optional; the mock requires one, FIDELITY.md: image families),
//! `scene_image`, `style_image`, `n` (1–9), `aspect_ratio` (the eight, default 16:9),
//! `watermark_info`, `callback_url`, `external_task_id`.
//! Result: `task_result.images[{index, url, watermark_url}]`, `n` PNGs of the 1k size of the
//! aspect ratio.

use super::fields::{Common, Fields};
use super::image::{self, ImageJob, Layout, Pictures, Resolution, Shape};
use super::video::{self, inputs::Image};
use crate::error::KlingError;
use crate::media::Format;
use serde_json::{Map, Value};

/// The kind: its paths, limits, timings and cost (see [`super::KindSpec`]).
pub static SPEC: super::KindSpec = super::KindSpec {
    id: super::KindId::new("multi-image2image"),
    path: "/v1/images/multi-image2image",
    mode: super::Mode::Task {
        query: "/v1/images/multi-image2image/{id}",
        result: super::result_type::<image::Images>("Images"),
        parse: |body| Ok(Box::new(parse(body)?)),
    },
    max_page_size: 500,
    lifecycle: super::DEFAULT_TASK_LIFECYCLE,
    // --timing-profile realistic: never observed: as image generation (FIDELITY.md: timings).
    realistic: super::realistic(4_000, 24_000),
    pool: crate::engine::billing::Pool::Image,
    unit_deduction: "4",
    doc,
    extras: &[],
};

/// The models of this family.
pub const MODELS: &[&str] = &["kling-v2", "kling-v2-1"];
/// Most subject images.
pub const MAX_SUBJECTS: usize = 4;

/// Validate a create body.
pub fn parse(body: &Map<String, Value>) -> Result<ImageJob, KlingError> {
    let f = Fields::new(body);
    let model = image::model_name(&f, MODELS, "kling-v2")?;
    video::required_prompt(&f, &video::Shots::Single)?;
    let subjects = video::object_list(&f, "subject_image_list", MAX_SUBJECTS)?;
    if subjects.is_empty() {
        return Err(KlingError::param(match f.raw_value("subject_image_list") {
            None => "subject_image_list must not be null",
            Some(_) => "subject_image_list must have 1 to 4 items, got 0",
        }));
    }
    let mut inputs = Vec::new();
    for (i, o) in subjects.into_iter().enumerate() {
        let name = format!("subject_image_list[{i}].subject_image");
        let v = Fields::new(o)
            .opt_str("subject_image")
            .map_err(|e| KlingError::param(format!("subject_image_list[{i}].{}", e.message)))?
            .ok_or_else(|| KlingError::param(format!("{name} must not be null")))?;
        inputs.push((name.clone(), Image::parse(&name, v)?));
    }
    for name in ["scene_image", "style_image"] {
        if let Some(v) = f.opt_str(name)? {
            inputs.push((name.to_string(), Image::parse(name, v)?));
        }
    }
    let n = image::n(&f)?;
    let ratio = image::aspect_ratio(&f, "16:9", false)?.unwrap_or((16, 9));
    let pics = Pictures {
        size: image::picture_size(Resolution::K1, ratio),
        n,
        watermark: video::watermark(&f)?,
        label: super::images_generations::label(model, Resolution::K1, ratio),
        format: Format::Png,
    };
    Ok(ImageJob::new(
        inputs,
        pics,
        Shape::Fixed,
        Layout::Images {
            watermark_info: true,
        },
        super::images_generations::units_per_image(model),
        Common::parse(&f)?,
    ))
}

/// Its part of the OpenAPI document.
fn doc() -> super::doc::KindDoc {
    use super::doc::*;
    use serde_json::json;
    let mut schemas = image::shared_schemas();
    schemas.push(("MultiImageToImageTask", image::image_task()));
    let img = json!({"type": "string", "description": "URL or raw Base64 (.jpg/.jpeg/.png, ≤ 10 MB, sides ≥ 300 px, 1:2.5 to 2.5:1)."});
    schemas.push((
        "MultiImageToImageRequest",
        json!({
            "type": "object",
            "required": ["prompt", "subject_image_list"],
            "description": "Unknown fields are ignored. n pictures hold n concurrency slots of the image pool.",
            "properties": {
                "model_name": {"type": "string", "enum": MODELS, "default": "kling-v2"},
                "prompt": {"type": "string", "maxLength": video::MAX_PROMPT},
                "subject_image_list": {"type": "array", "minItems": 1, "maxItems": MAX_SUBJECTS,
                    "items": {"type": "object", "required": ["subject_image"], "properties": {"subject_image": img}}},
                "scene_image": img,
                "style_image": img,
                "n": {"type": "integer", "minimum": 1, "maximum": image::MAX_IMAGES, "default": 1},
                "aspect_ratio": image::ratio_schema("16:9", false),
                "watermark_info": schema_ref("WatermarkInfo"),
                "callback_url": schema_ref("CallbackUrl"),
                "external_task_id": schema_ref("ExternalTaskId"),
            },
            "examples": [{"prompt": "The two of them at a picnic", "subject_image_list": [{"subject_image": "https://example.com/a.png"}, {"subject_image": "https://example.com/b.png"}]}],
        }),
    ));
    KindDoc {
        tag: "images",
        ids: [
            "createMultiImageToImage",
            "getMultiImageToImage",
            "listMultiImageToImage",
        ],
        summaries: [
            "Create a multi-image to image task",
            "One multi-image to image task, by task_id or external_task_id",
            "The caller's multi-image to image tasks, newest first",
        ],
        description: "SOURCES.md: Multi-Image to Image, Capability Map.",
        request: "MultiImageToImageRequest",
        answer: "MultiImageToImageTask",
        answer_description: "",
        field_rules: TASK_FIELD_RULES,
        schemas,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::video::inputs::tests::png_b64;
    use serde_json::json;

    fn err(v: Value) -> String {
        parse(v.as_object().unwrap())
            .unwrap_err()
            .message
            .to_string()
    }

    #[test]
    fn subjects_scene_and_style_are_inputs() {
        let img = png_b64(800, 600);
        let r = parse(
            json!({"prompt": "x", "subject_image_list": [{"subject_image": img}, {"subject_image": "https://example.com/b.png"}],
                   "scene_image": img, "style_image": png_b64(100, 100), "n": 2, "aspect_ratio": "4:3"})
            .as_object()
            .unwrap(),
        )
        .unwrap();
        let names: Vec<&str> = r.inputs.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "subject_image_list[0].subject_image",
                "subject_image_list[1].subject_image",
                "scene_image",
                "style_image"
            ]
        );
        assert_eq!(
            r.failure.as_deref(),
            Some("Image pixel is invalid"),
            "the 100 px style image"
        );
        assert_eq!((r.pics.size, r.units()), ((1184, 880), 8.0));
    }

    #[test]
    fn bad_requests_name_the_field() {
        assert_eq!(
            err(json!({"prompt": "x"})),
            "subject_image_list must not be null"
        );
        assert_eq!(
            err(json!({"prompt": "x", "subject_image_list": []})),
            "subject_image_list must have 1 to 4 items, got 0"
        );
        let five: Vec<Value> = (0..5)
            .map(|_| json!({"subject_image": "https://example.com/a.png"}))
            .collect();
        assert_eq!(
            err(json!({"prompt": "x", "subject_image_list": five})),
            "subject_image_list must have at most 4 items, got 5"
        );
        assert_eq!(
            err(json!({"prompt": "x", "subject_image_list": [{}]})),
            "subject_image_list[0].subject_image must not be null"
        );
        assert!(err(json!({"prompt": "x", "model_name": "kling-v1", "subject_image_list": [{"subject_image": "https://example.com/a.png"}]}))
            .starts_with("model is not supported"));
        assert!(
            err(json!({"subject_image_list": [{"subject_image": "https://example.com/a.png"}]}))
                .starts_with("prompt must not be null")
        );
    }
}
