//! Image expansion ("outpainting"): `POST /v1/images/editing/expand` (SOURCES.md: Image
//! Expansion).
//!
//! Request: `image` (required, URL or raw Base64), `up_expansion_ratio`,
//! `down_expansion_ratio`, `left_expansion_ratio`, `right_expansion_ratio` (required numbers in
//! [0, 2]: fractions of the input's height and width), whose expanded area must stay within 3
//! times the input's (`(1 + up + down) × (1 + left + right) ≤ 3`, known without the picture),
//! `prompt` (≤ 2500), `n` (1–9), `watermark_info`, `callback_url`, `external_task_id`. No model:
//! expansion is model-independent (capability map).
//! Result: `task_result.images[{index, url, watermark_url}]`: `n` PNGs of the input grown by the
//! ratios; an input of unknown size (a foreign URL, not fetched) counts as 1024 × 1024
//! (FIDELITY.md: image families).

use super::fields::{Common, Fields};
use super::image::{self, ImageJob, Layout, Pictures, Shape};
use super::video::{self, inputs::Image};
use crate::error::KlingError;
use crate::media::Format;
use serde_json::{Map, Value};

/// The kind: its paths, limits, timings and cost (see [`super::KindSpec`]).
pub static SPEC: super::KindSpec = super::KindSpec {
    id: super::KindId::new("image-expand"),
    path: "/v1/images/editing/expand",
    mode: super::Mode::Task {
        query: "/v1/images/editing/expand/{id}",
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

/// The four ratios, in the documents' order.
pub const RATIOS: [&str; 4] = [
    "up_expansion_ratio",
    "down_expansion_ratio",
    "left_expansion_ratio",
    "right_expansion_ratio",
];
/// Most the expanded area may be, in times the input's.
pub const MAX_AREA: f64 = 3.0;
/// The size assumed for an input whose size is unknown.
pub const UNKNOWN_INPUT: (u32, u32) = (1024, 1024);
/// Units a picture costs (INFERRED, FIDELITY.md: image costs).
pub const UNITS_PER_IMAGE: f64 = 8.0;

/// Validate a create body.
pub fn parse(body: &Map<String, Value>) -> Result<ImageJob, KlingError> {
    let f = Fields::new(body);
    let img = Image::parse("image", f.req_str("image")?)?;
    let mut r = [0.0; 4];
    for (slot, name) in r.iter_mut().zip(RATIOS) {
        let v = f.req_number(name)?;
        if !(0.0..=2.0).contains(&v) {
            return Err(KlingError::param(format!(
                "{name} must be between 0 and 2, got {v}"
            )));
        }
        *slot = v;
    }
    let [up, down, left, right] = r;
    let area = (1.0 + up + down) * (1.0 + left + right);
    if area > MAX_AREA + 1e-9 {
        return Err(KlingError::param(format!(
            "the expanded image's area must be at most {MAX_AREA} times the original's: (1 + up_expansion_ratio + down_expansion_ratio) x (1 + left_expansion_ratio + right_expansion_ratio) = {}",
            (area * 1000.0).round() / 1000.0
        )));
    }
    video::prompt(&f, "prompt")?;
    let shape = Shape::Grow {
        up,
        down,
        left,
        right,
    };
    let pics = Pictures {
        size: shape
            .size_for(UNKNOWN_INPUT)
            .expect("a growing shape follows its input"),
        n: image::n(&f)?,
        watermark: video::watermark(&f)?,
        label: format!("expand u{up} d{down} l{left} r{right}"),
        format: Format::Png,
    };
    Ok(ImageJob::new(
        vec![("image".to_string(), img)],
        pics,
        shape,
        Layout::Images {
            watermark_info: true,
        },
        UNITS_PER_IMAGE,
        Common::parse(&f)?,
    ))
}

/// Its part of the OpenAPI document.
fn doc() -> super::doc::KindDoc {
    use super::doc::*;
    use serde_json::json;
    let mut schemas = image::shared_schemas();
    schemas.push(("ImageExpandTask", image::image_task()));
    let ratio = json!({"type": "number", "minimum": 0, "maximum": 2, "description": "A fraction of the input's height (up, down) or width (left, right)."});
    schemas.push((
        "ImageExpandRequest",
        json!({
            "type": "object",
            "required": ["image", "up_expansion_ratio", "down_expansion_ratio", "left_expansion_ratio", "right_expansion_ratio"],
            "description": "Unknown fields are ignored. (1 + up + down) x (1 + left + right) must be at most 3. The pictures are the input grown by the ratios (an input of unknown size counts as 1024 x 1024).",
            "properties": {
                "image": {"type": "string", "description": "URL or raw Base64 (.jpg/.jpeg/.png, ≤ 10 MB, sides ≥ 300 px, 1:2.5 to 2.5:1)."},
                "up_expansion_ratio": ratio,
                "down_expansion_ratio": ratio,
                "left_expansion_ratio": ratio,
                "right_expansion_ratio": ratio,
                "prompt": {"type": "string", "maxLength": video::MAX_PROMPT},
                "n": {"type": "integer", "minimum": 1, "maximum": image::MAX_IMAGES, "default": 1},
                "watermark_info": schema_ref("WatermarkInfo"),
                "callback_url": schema_ref("CallbackUrl"),
                "external_task_id": schema_ref("ExternalTaskId"),
            },
            "examples": [{"image": "https://example.com/a.png", "up_expansion_ratio": 0.1, "down_expansion_ratio": 0.1, "left_expansion_ratio": 0.5, "right_expansion_ratio": 0.5}],
        }),
    ));
    KindDoc {
        tag: "images",
        ids: ["createImageExpand", "getImageExpand", "listImageExpand"],
        summaries: [
            "Create an image expansion task",
            "One image expansion task, by task_id or external_task_id",
            "The caller's image expansion tasks, newest first",
        ],
        description: "SOURCES.md: Image Expansion.",
        request: "ImageExpandRequest",
        answer: "ImageExpandTask",
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

    fn body(img: String, r: [f64; 4]) -> Value {
        json!({"image": img, "up_expansion_ratio": r[0], "down_expansion_ratio": r[1],
               "left_expansion_ratio": r[2], "right_expansion_ratio": r[3]})
    }

    fn err(v: Value) -> String {
        parse(v.as_object().unwrap())
            .unwrap_err()
            .message
            .to_string()
    }

    #[test]
    fn the_picture_is_the_input_grown_by_the_ratios() {
        let r = parse(
            body(png_b64(800, 600), [0.5, 0.0, 0.25, 0.25])
                .as_object()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(r.pics.size, (1200, 900));
        let r = parse(
            body("https://example.com/a.png".into(), [0.0, 0.0, 1.0, 1.0])
                .as_object()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            r.pics.size,
            (3072, 1024),
            "an unknown input counts as 1024 x 1024"
        );
        assert_eq!(r.units(), 8.0);
    }

    #[test]
    fn the_area_rule_and_the_ranges_are_enforced() {
        let img = png_b64(800, 600);
        assert!(
            err(body(img.clone(), [0.5, 0.5, 0.6, 0.0]))
                .starts_with("the expanded image's area must be at most 3 times the original's")
        );
        assert!(parse(body(img.clone(), [1.0, 1.0, 0.0, 0.0]).as_object().unwrap()).is_ok());
        assert_eq!(
            err(body(img.clone(), [0.0, 2.5, 0.0, 0.0])),
            "down_expansion_ratio must be between 0 and 2, got 2.5"
        );
        let mut missing = body(img, [0.1, 0.1, 0.1, 0.1]);
        missing
            .as_object_mut()
            .unwrap()
            .remove("left_expansion_ratio");
        assert!(err(missing).starts_with("left_expansion_ratio"));
        assert!(err(json!({"up_expansion_ratio": 0})).starts_with("image"));
    }
}
