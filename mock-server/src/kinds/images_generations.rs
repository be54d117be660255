//! Image generation: `POST /v1/images/generations` (SOURCES.md: Image Generation, Capability
//! Map).
//!
//! Request: `model_name` (default `kling-v3`, the newest document's; `kling-v1`, `kling-v1-5`,
//! `kling-v2`, `kling-v2-new`, `kling-v2-1`, `kling-v3`), `prompt` (required, ≤ 2500),
//! `negative_prompt` (≤ 2500, not with `image`), `image` (URL or raw Base64; required with
//! `image_reference`), `image_reference` (`subject` | `face`; required for kling-v1-5 with an
//! image), `image_fidelity` and `human_fidelity` ([0, 1]; `human_fidelity` only with
//! `image_reference` subject), `element_list` (kling-v3; elements and the image ≤ 10),
//! `resolution` (`1k` | `2k`, default 1k), `n` (1–9, default 1, holding `n` concurrency slots),
//! `aspect_ratio` (the eight, default 16:9; kling-v1 has no 21:9), `watermark_info`,
//! `callback_url`, `external_task_id`.
//! The capability map decides per model what takes an image: kling-v2-1 only makes pictures from
//! text; kling-v2-new only restyles one (it needs an image).
//! Result: `task_result.images[{index, url, watermark_url}]`, `n` PNGs of the size
//! [`super::image::picture_size`] gives.

use super::fields::{Common, Fields};
use super::image::{self, ImageJob, Layout, Pictures, Resolution, Shape};
use super::video::{self, inputs::Image};
use crate::error::KlingError;
use crate::media::Format;
use serde_json::{Map, Value};

/// The kind: its paths, limits, timings and cost (see [`super::KindSpec`]).
pub static SPEC: super::KindSpec = super::KindSpec {
    id: super::KindId::new("image-generation"),
    path: "/v1/images/generations",
    mode: super::Mode::Task {
        query: "/v1/images/generations/{id}",
        result: super::result_type::<image::Images>("Images"),
        parse: |body| Ok(Box::new(parse(body)?)),
    },
    max_page_size: 500,
    lifecycle: super::DEFAULT_TASK_LIFECYCLE,
    // --timing-profile realistic: a live kling-v3 image succeeded in 24 s; ComfyUI expects 32 s
    // (SOURCES.md: published clients).
    realistic: super::realistic(4_000, 24_000),
    pool: crate::engine::billing::Pool::Image,
    // The cheapest: each task's cost comes from its model, resolution and n.
    unit_deduction: "1",
    doc,
    extras: &[],
};

/// The models of this family, oldest first.
pub const MODELS: &[&str] = &[
    "kling-v1",
    "kling-v1-5",
    "kling-v2",
    "kling-v2-new",
    "kling-v2-1",
    "kling-v3",
];

/// Most elements and images together.
pub const MAX_REFERENCES: usize = 10;

/// Units one 1k picture of `model` costs: kling-v3 8 (a live task, SOURCES.md: observed
/// deductions); the others INFERRED from the price list's ratios (FIDELITY.md: image costs).
pub fn units_per_image(model: &str) -> f64 {
    match model {
        "kling-v1" => 1.0,
        "kling-v1-5" => 2.0,
        "kling-v3" => 8.0,
        _ => 4.0,
    }
}

/// Validate a create body.
pub fn parse(body: &Map<String, Value>) -> Result<ImageJob, KlingError> {
    let f = Fields::new(body);
    let model = image::model_name(&f, MODELS, "kling-v3")?;
    video::required_prompt(&f, &video::Shots::Single)?;
    let negative = video::prompt(&f, "negative_prompt")?;
    let image = f
        .opt_str("image")?
        .map(|v| Image::parse("image", v))
        .transpose()?;
    let reference = video::one_of(&f, "image_reference", &["subject", "face"], None)?;
    image::unit_interval(&f, "image_fidelity")?;
    let human = image::unit_interval(&f, "human_fidelity")?;
    if image.is_some() {
        if negative.is_some() {
            return Err(KlingError::param(
                "negative_prompt is not supported when image is set",
            ));
        }
        if model == "kling-v2-1" {
            return Err(KlingError::param(
                "image is not supported by kling-v2-1 (text to image only)",
            ));
        }
        if model == "kling-v1-5" && reference.is_none() {
            return Err(KlingError::param(
                "image_reference must not be null for kling-v1-5 with an image",
            ));
        }
    } else {
        if let Some(r) = reference {
            return Err(KlingError::param(format!(
                "image must not be null when image_reference is {r}"
            )));
        }
        if model == "kling-v2-new" {
            return Err(KlingError::param(
                "image must not be null for kling-v2-new (image restyle only)",
            ));
        }
    }
    if human.is_some() && reference != Some("subject") {
        return Err(KlingError::param(
            "human_fidelity is only supported with image_reference subject",
        ));
    }
    let elements = video::element_list(&f, MAX_REFERENCES)?;
    if !elements.is_empty() && model != "kling-v3" {
        return Err(KlingError::param(format!(
            "element_list is not supported by {model}"
        )));
    }
    image::check_references(
        "image",
        usize::from(image.is_some()),
        elements.len(),
        MAX_REFERENCES,
    )?;
    let res = image::resolution(&f, &["1k", "2k"])?;
    let n = image::n(&f)?;
    let ratio = image::aspect_ratio(&f, "16:9", false)?.unwrap_or((16, 9));
    if model == "kling-v1" && ratio == (21, 9) {
        return Err(KlingError::param(
            "aspect_ratio value '21:9' is not supported by kling-v1",
        ));
    }
    let pics = Pictures {
        size: image::picture_size(res, ratio),
        n,
        watermark: video::watermark(&f)?,
        label: label(model, res, ratio),
        format: Format::Png,
    };
    let mut job = ImageJob::new(
        image
            .map(|i| ("image".to_string(), i))
            .into_iter()
            .collect(),
        pics,
        Shape::Fixed,
        Layout::Images {
            watermark_info: true,
        },
        units_per_image(model) * res.price_factor(),
        Common::parse(&f)?,
    );
    job.elements = elements;
    Ok(job)
}

/// The label drawn at the top of a picture: `kling-v3 1k 16:9`.
pub fn label(model: &str, res: Resolution, (w, h): (u32, u32)) -> String {
    format!("{model} {} {w}:{h}", res.name())
}

/// Its part of the OpenAPI document.
fn doc() -> super::doc::KindDoc {
    use super::doc::*;
    use serde_json::json;
    let mut schemas = image::shared_schemas();
    schemas.push(("ImageGenerationTask", image::image_task()));
    schemas.push((
        "ImageGenerationRequest",
        json!({
            "type": "object",
            "required": ["prompt"],
            "description": "Unknown fields are ignored. n pictures hold n concurrency slots of the image pool while in flight.",
            "properties": {
                "model_name": {"type": "string", "enum": MODELS, "default": "kling-v3"},
                "prompt": {"type": "string", "maxLength": video::MAX_PROMPT},
                "negative_prompt": {"type": "string", "maxLength": video::MAX_PROMPT, "description": "Not with image."},
                "image": {"type": "string", "description": "URL or raw Base64 (.jpg/.jpeg/.png, ≤ 10 MB, sides ≥ 300 px, 1:2.5 to 2.5:1). Not for kling-v2-1; required for kling-v2-new."},
                "image_reference": {"type": "string", "enum": ["subject", "face"], "description": "Needs image; required for kling-v1-5 with an image."},
                "image_fidelity": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.5},
                "human_fidelity": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.45, "description": "Only with image_reference subject."},
                "element_list": {"type": "array", "maxItems": MAX_REFERENCES, "description": "kling-v3 only; the caller's own elements or presets.",
                    "items": {"type": "object", "required": ["element_id"], "properties": {"element_id": {"type": ["integer", "string"]}}}},
                "resolution": {"type": "string", "enum": ["1k", "2k"], "default": "1k"},
                "n": {"type": "integer", "minimum": 1, "maximum": image::MAX_IMAGES, "default": 1},
                "aspect_ratio": image::ratio_schema("16:9", false),
                "watermark_info": schema_ref("WatermarkInfo"),
                "callback_url": schema_ref("CallbackUrl"),
                "external_task_id": schema_ref("ExternalTaskId"),
            },
            "examples": [{"model_name": "kling-v3", "prompt": "A lighthouse at dawn, watercolour", "n": 2, "aspect_ratio": "3:2"}],
        }),
    ));
    KindDoc {
        tag: "images",
        ids: [
            "createImageGeneration",
            "getImageGeneration",
            "listImageGeneration",
        ],
        summaries: [
            "Create an image generation task",
            "One image generation task, by task_id or external_task_id",
            "The caller's image generation tasks, newest first",
        ],
        description: "SOURCES.md: Image Generation, Capability Map.",
        request: "ImageGenerationRequest",
        answer: "ImageGenerationTask",
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

    fn parse(v: Value) -> Result<ImageJob, KlingError> {
        super::parse(v.as_object().unwrap())
    }

    fn err(v: Value) -> String {
        parse(v).unwrap_err().message.to_string()
    }

    #[test]
    fn defaults_follow_the_newest_document() {
        let r = parse(json!({"prompt": "a fox"})).unwrap();
        assert_eq!((r.pics.size, r.pics.n), ((1360, 768), 1));
        assert!(!r.pics.watermark);
        assert_eq!(r.units(), 8.0, "the live kling-v3 1k price");
        assert_eq!(r.pics.label, "kling-v3 1k 16:9");
    }

    #[test]
    fn n_resolution_and_ratio_decide_the_pictures_and_the_cost() {
        let r = parse(json!({"prompt": "x", "model_name": "kling-v2-1", "n": 3, "resolution": "2k", "aspect_ratio": "2:3"}))
            .unwrap();
        assert_eq!((r.pics.size, r.pics.n), ((1680, 2512), 3));
        assert_eq!(r.units(), 4.0 * 2.0 * 3.0);
        use crate::kinds::Job;
        assert_eq!(r.slots(), 3, "n images hold n slots");
    }

    #[test]
    fn model_rules_are_enforced() {
        let img = png_b64(800, 600);
        assert!(
            err(json!({"prompt": "x", "model_name": "kling-v9"}))
                .starts_with("model is not supported")
        );
        assert_eq!(
            err(json!({"prompt": "x", "model_name": "kling-v1", "aspect_ratio": "21:9"})),
            "aspect_ratio value '21:9' is not supported by kling-v1"
        );
        assert!(
            err(json!({"prompt": "x", "model_name": "kling-v2-1", "image": img}))
                .contains("not supported by kling-v2-1")
        );
        assert!(
            err(json!({"prompt": "x", "model_name": "kling-v2-new"}))
                .starts_with("image must not be null")
        );
        assert!(
            err(json!({"prompt": "x", "model_name": "kling-v1-5", "image": img}))
                .starts_with("image_reference must not be null")
        );
        assert!(parse(json!({"prompt": "x", "model_name": "kling-v1-5", "image": img, "image_reference": "face"})).is_ok());
        assert_eq!(
            err(
                json!({"prompt": "x", "model_name": "kling-v2", "element_list": [{"element_id": 1}]})
            ),
            "element_list is not supported by kling-v2"
        );
        assert_eq!(
            err(json!({"prompt": "x", "resolution": "4k"})),
            "resolution value '4k' is invalid; allowed values: 1k, 2k"
        );
    }

    #[test]
    fn cross_field_rules_name_the_field() {
        let img = png_b64(800, 600);
        assert_eq!(err(json!({})), "prompt must not be null");
        assert_eq!(err(json!({"prompt": " "})), "prompt must not be blank");
        assert_eq!(
            err(json!({"prompt": "x", "image_reference": "subject"})),
            "image must not be null when image_reference is subject"
        );
        assert_eq!(
            err(json!({"prompt": "x", "image": img, "negative_prompt": "blur"})),
            "negative_prompt is not supported when image is set"
        );
        assert_eq!(
            err(
                json!({"prompt": "x", "image": img, "image_reference": "face", "human_fidelity": 0.5})
            ),
            "human_fidelity is only supported with image_reference subject"
        );
        assert_eq!(
            err(json!({"prompt": "x", "image_fidelity": 1.5})),
            "image_fidelity must be between 0 and 1, got 1.5"
        );
        let eleven: Vec<Value> = (1..=10).map(|i| json!({"element_id": i})).collect();
        assert!(
            err(json!({"prompt": "x", "image": img, "element_list": eleven}))
                .starts_with("image and element_list must have at most 10 items together")
        );
        assert!(
            err(json!({"prompt": "x", "aspect_ratio": "5:4"}))
                .contains("allowed values: 16:9, 9:16, 1:1, 4:3, 3:4, 3:2, 2:3, 21:9")
        );
    }

    #[test]
    fn a_small_input_picture_makes_the_task_fail() {
        let r = parse(json!({"prompt": "x", "image": png_b64(200, 600)})).unwrap();
        assert_eq!(r.failure.as_deref(), Some("Image pixel is invalid"));
    }
}
