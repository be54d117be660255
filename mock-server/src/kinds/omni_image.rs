//! Omni-image: `POST /v1/images/omni-image` (SOURCES.md: Omni-Image, Capability Map).
//!
//! Request: `model_name` (default `kling-image-o1`; `kling-image-o1`, `kling-v3-omni`), `prompt`
//! (required, ≤ 2500, may refer to `<<<image_1>>>`), `image_list` (`[{image}]`), `element_list`
//! (images and elements ≤ 10), `resolution` (`1k` | `2k`, and `4k` for kling-v3-omni),
//! `result_type` (`single` | `series`, default single), `n` (1–9, single only), `series_amount`
//! (2–9 or `auto`, default 4, series only), `aspect_ratio` (the eight or `auto`, the default),
//! `watermark_info`, `callback_url`, `external_task_id`.
//! The capability map: a series is made by kling-v3-omni from images (image to image series
//! only); kling-image-o1 makes pictures from text in a custom aspect ratio only (`auto` sent
//! with no image is refused). `auto` takes the first image's shape, 1:1 without one (the
//! default, FIDELITY.md: image families).
//! Result: `task_result {result_type, images, series_images}` with the pictures under `images`
//! (single) or `series_images` (series), each `{index, url, watermark_url}`.

use super::fields::{Common, Fields};
use super::image::{self, ImageJob, Layout, Pictures, Shape};
use super::video;
use crate::error::KlingError;
use crate::media::Format;
use serde_json::{Map, Value};

/// The kind: its paths, limits, timings and cost (see [`super::KindSpec`]).
pub static SPEC: super::KindSpec = super::KindSpec {
    id: super::KindId::new("omni-image"),
    path: "/v1/images/omni-image",
    mode: super::Mode::Task {
        query: "/v1/images/omni-image/{id}",
        result: super::result_type::<image::Images>("Images"),
        parse: |body| Ok(Box::new(parse(body)?)),
    },
    max_page_size: 500,
    lifecycle: super::DEFAULT_TASK_LIFECYCLE,
    // --timing-profile realistic: never observed: as image generation (FIDELITY.md: timings).
    realistic: super::realistic(4_000, 24_000),
    pool: crate::engine::billing::Pool::Image,
    unit_deduction: "8",
    doc,
    extras: &[],
};

/// The models of this family.
pub const MODELS: &[&str] = &["kling-image-o1", "kling-v3-omni"];
/// Most images and elements together.
pub const MAX_REFERENCES: usize = 10;
/// Units a 1k picture costs (INFERRED: the price of kling-v3 images; FIDELITY.md: image costs).
pub const UNITS_PER_IMAGE: f64 = 8.0;
/// `series_amount` when absent.
pub const DEFAULT_SERIES: u32 = 4;

/// Validate a create body.
pub fn parse(body: &Map<String, Value>) -> Result<ImageJob, KlingError> {
    let f = Fields::new(body);
    let model = image::model_name(&f, MODELS, "kling-image-o1")?;
    video::required_prompt(&f, &video::Shots::Single)?;
    let inputs = video::image_items(&f, "image_list", "image", MAX_REFERENCES)?;
    let elements = video::element_list(&f, MAX_REFERENCES)?;
    image::check_references("image_list", inputs.len(), elements.len(), MAX_REFERENCES)?;
    let res = image::resolution(&f, &["1k", "2k", "4k"])?;
    if res == image::Resolution::K4 && model != "kling-v3-omni" {
        return Err(KlingError::param(format!(
            "resolution 4k is supported by kling-v3-omni only, not {model}"
        )));
    }
    let series =
        video::one_of(&f, "result_type", &["single", "series"], Some("single"))? == Some("series");
    let n = if series {
        if model != "kling-v3-omni" {
            return Err(KlingError::param(format!(
                "result_type series is supported by kling-v3-omni only, not {model}"
            )));
        }
        if inputs.is_empty() {
            return Err(KlingError::param(
                "result_type series needs at least one image in image_list (image to image series)",
            ));
        }
        series_amount(&f, video::prompt(&f, "prompt")?.as_deref().unwrap_or(""))?
    } else {
        image::n(&f)?
    };
    let ratio = image::aspect_ratio(&f, "auto", true)?;
    // The capability map: kling-image-o1 makes pictures from text in a custom aspect ratio only.
    if ratio.is_none()
        && inputs.is_empty()
        && model == "kling-image-o1"
        && f.opt_str("aspect_ratio")? == Some("auto")
    {
        return Err(KlingError::param(
            "aspect_ratio auto is supported by kling-image-o1 only with an image in image_list (text to image takes a custom aspect ratio)",
        ));
    }
    let shape_label = match ratio {
        Some((w, h)) => format!("{w}:{h}"),
        None => "auto".into(),
    };
    let pics = Pictures {
        size: image::picture_size(res, ratio.unwrap_or((1, 1))),
        n,
        watermark: video::watermark(&f)?,
        label: format!("{model} {} {shape_label}", res.name()),
        format: Format::Png,
    };
    let shape = match ratio {
        Some(_) => Shape::Fixed,
        None => Shape::Like(res),
    };
    let mut job = ImageJob::new(
        inputs,
        pics,
        shape,
        Layout::Omni { series },
        UNITS_PER_IMAGE * res.price_factor(),
        Common::parse(&f)?,
    );
    job.elements = elements;
    Ok(job)
}

/// `series_amount`: 2–9 (a number or a numeric string) or `auto` (the model decides: 2–9, the
/// same for the same prompt), default 4.
fn series_amount(f: &Fields<'_>, prompt: &str) -> Result<u32, KlingError> {
    let bad = |shown: String| {
        KlingError::param(format!(
            "series_amount must be an integer between 2 and 9 or 'auto', got {shown}"
        ))
    };
    let v = match f.raw_value("series_amount") {
        None => return Ok(DEFAULT_SERIES),
        Some(Value::String(s)) if s.is_empty() => return Ok(DEFAULT_SERIES),
        Some(Value::String(s)) if s == "auto" => {
            let h = prompt.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            });
            return Ok(2 + (h % 8) as u32);
        }
        Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
        Some(Value::Number(n)) => n.as_f64(),
        Some(other) => return Err(bad(super::fields::json_kind(other).to_string())),
    };
    match v {
        Some(x) if x.fract() == 0.0 && (2.0..=9.0).contains(&x) => Ok(x as u32),
        _ => Err(bad(f
            .raw_value("series_amount")
            .map(Value::to_string)
            .unwrap_or_default())),
    }
}

/// Its part of the OpenAPI document.
fn doc() -> super::doc::KindDoc {
    use super::doc::*;
    use serde_json::json;
    let mut schemas = image::shared_schemas();
    let mut task = image::image_task();
    task["properties"]["task_result"]["properties"]["result_type"] =
        json!({"type": "string", "enum": ["single", "series"]});
    task["properties"]["task_result"]["properties"]["series_images"] =
        json!({"type": "array", "items": schema_ref("GeneratedImage")});
    schemas.push(("OmniImageTask", task));
    schemas.push((
        "OmniImageRequest",
        json!({
            "type": "object",
            "required": ["prompt"],
            "description": "Unknown fields are ignored. The pictures hold as many concurrency slots of the image pool as there are pictures.",
            "properties": {
                "model_name": {"type": "string", "enum": MODELS, "default": "kling-image-o1"},
                "prompt": {"type": "string", "maxLength": video::MAX_PROMPT, "description": "May refer to <<<image_1>>>."},
                "image_list": {"type": "array", "maxItems": MAX_REFERENCES, "items": {"type": "object", "required": ["image"], "properties": {"image": {"type": "string", "description": "URL or raw Base64."}}}},
                "element_list": {"type": "array", "maxItems": MAX_REFERENCES, "description": "Images and elements ≤ 10 together.",
                    "items": {"type": "object", "required": ["element_id"], "properties": {"element_id": {"type": ["integer", "string"]}}}},
                "resolution": {"type": "string", "enum": ["1k", "2k", "4k"], "default": "1k", "description": "4k: kling-v3-omni only."},
                "result_type": {"type": "string", "enum": ["single", "series"], "default": "single", "description": "series: kling-v3-omni with at least one image."},
                "n": {"type": "integer", "minimum": 1, "maximum": image::MAX_IMAGES, "default": 1, "description": "Ignored for a series."},
                "series_amount": {"type": ["integer", "string"], "default": DEFAULT_SERIES, "description": "2 to 9, or auto; ignored unless result_type is series."},
                "aspect_ratio": image::ratio_schema("auto", true),
                "watermark_info": schema_ref("WatermarkInfo"),
                "callback_url": schema_ref("CallbackUrl"),
                "external_task_id": schema_ref("ExternalTaskId"),
            },
            "examples": [{"model_name": "kling-image-o1", "prompt": "A cat in a spacesuit", "aspect_ratio": "1:1"}],
        }),
    ));
    KindDoc {
        tag: "images",
        ids: ["createOmniImage", "getOmniImage", "listOmniImage"],
        summaries: [
            "Create an omni-image task",
            "One omni-image task, by task_id or external_task_id",
            "The caller's omni-image tasks, newest first",
        ],
        description: "SOURCES.md: Omni-Image, Capability Map.",
        request: "OmniImageRequest",
        answer: "OmniImageTask",
        answer_description: "",
        field_rules: TASK_FIELD_RULES,
        schemas,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::Job;
    use crate::kinds::video::inputs::tests::png_b64;
    use serde_json::json;

    fn parse(v: Value) -> Result<ImageJob, KlingError> {
        super::parse(v.as_object().unwrap())
    }

    fn err(v: Value) -> String {
        parse(v).unwrap_err().message.to_string()
    }

    #[test]
    fn auto_takes_the_first_image_shape_and_is_square_without_one() {
        let r = parse(json!({"prompt": "x"})).unwrap();
        assert_eq!((r.pics.size, r.pics.n), ((1024, 1024), 1));
        let r = parse(json!({"prompt": "x", "image_list": [{"image": png_b64(1200, 800)}], "resolution": "2k"}))
            .unwrap();
        assert_eq!(r.pics.size, (2512, 1680));
        assert_eq!(r.layout, Layout::Omni { series: false });
        let r = parse(json!({"prompt": "x", "aspect_ratio": "21:9", "n": 2})).unwrap();
        assert_eq!((r.pics.size, r.slots()), ((1568, 672), 2));
    }

    #[test]
    fn a_series_is_kling_v3_omni_from_images() {
        let img = json!([{"image": png_b64(800, 800)}]);
        let r = parse(json!({"prompt": "x", "model_name": "kling-v3-omni", "result_type": "series", "image_list": img, "n": 7}))
            .unwrap();
        assert_eq!(
            (r.pics.n, r.layout),
            (4, Layout::Omni { series: true }),
            "n is ignored"
        );
        let r = parse(json!({"prompt": "x", "model_name": "kling-v3-omni", "result_type": "series", "image_list": img, "series_amount": "6"}))
            .unwrap();
        assert_eq!(r.pics.n, 6);
        let a = parse(json!({"prompt": "same", "model_name": "kling-v3-omni", "result_type": "series", "image_list": img, "series_amount": "auto"}))
            .unwrap();
        let b = parse(json!({"prompt": "same", "model_name": "kling-v3-omni", "result_type": "series", "image_list": img, "series_amount": "auto"}))
            .unwrap();
        assert!((2..=9).contains(&a.pics.n) && a.pics.n == b.pics.n);
        assert_eq!(a.slots(), a.pics.n, "auto holds the actual count");
        assert!(
            err(json!({"prompt": "x", "result_type": "series", "image_list": img}))
                .contains("kling-v3-omni only")
        );
        assert!(
            err(json!({"prompt": "x", "model_name": "kling-v3-omni", "result_type": "series"}))
                .contains("needs at least one image")
        );
        assert!(err(json!({"prompt": "x", "model_name": "kling-v3-omni", "result_type": "series", "image_list": img, "series_amount": 1}))
            .starts_with("series_amount must be an integer between 2 and 9 or 'auto'"));
        // Ignored for a single result.
        assert!(parse(json!({"prompt": "x", "series_amount": 50})).is_ok());
    }

    #[test]
    fn resolution_and_reference_counts_follow_the_capability_map() {
        assert_eq!(
            err(json!({"prompt": "x", "resolution": "4k"})),
            "resolution 4k is supported by kling-v3-omni only, not kling-image-o1"
        );
        let r = parse(json!({"prompt": "x", "model_name": "kling-v3-omni", "resolution": "4k", "aspect_ratio": "16:9"})).unwrap();
        assert_eq!(r.pics.size, (5456, 3072));
        assert_eq!(r.units(), 32.0);
        let imgs: Vec<Value> = (0..6)
            .map(|_| json!({"image": "https://example.com/a.png"}))
            .collect();
        let els: Vec<Value> = (1..=5).map(|i| json!({"element_id": i})).collect();
        assert!(
            err(json!({"prompt": "x", "image_list": imgs, "element_list": els}))
                .starts_with("image_list and element_list must have at most 10 items together")
        );
        assert_eq!(
            err(json!({"prompt": "x", "image_list": [{}]})),
            "image_list[0].image must not be null"
        );
        assert_eq!(err(json!({})), "prompt must not be null");
        assert!(
            err(json!({"prompt": "x", "aspect_ratio": "auto"}))
                .starts_with("aspect_ratio auto is supported by kling-image-o1 only with an image")
        );
        assert!(
            parse(json!({"prompt": "x", "model_name": "kling-v3-omni", "aspect_ratio": "auto"}))
                .is_ok()
        );
    }
}
