//! AI multi-shot: `POST /v1/general/ai-multi-shot` (SOURCES.md: AI Multi-Shot).
//!
//! Request: `element_frontal_image` (required, URL or raw Base64), `callback_url`,
//! `external_task_id`. It makes three more views of the subject for an element's references.
//! Result: `task_result.images[{index, url}]`: three PNGs at 1k in the frontal image's shape
//! (square when its size is unknown). The document's list example shows `url_1`..`url_3` in one
//! item instead; the mock answers the single query's shape everywhere (FIDELITY.md: image
//! families).

use super::fields::{Common, Fields};
use super::image::{self, ImageJob, Layout, Pictures, Resolution, Shape};
use super::video::inputs::Image;
use crate::error::KlingError;
use crate::media::Format;
use serde_json::{Map, Value};

/// The kind: its paths, limits, timings and cost (see [`super::KindSpec`]).
pub static SPEC: super::KindSpec = super::KindSpec {
    id: super::KindId::new("ai-multi-shot"),
    path: "/v1/general/ai-multi-shot",
    mode: super::Mode::Task {
        query: "/v1/general/ai-multi-shot/{id}",
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

/// How many views a task makes.
pub const VIEWS: u32 = 3;

/// Validate a create body.
pub fn parse(body: &Map<String, Value>) -> Result<ImageJob, KlingError> {
    let f = Fields::new(body);
    let front = Image::parse("element_frontal_image", f.req_str("element_frontal_image")?)?;
    let pics = Pictures {
        size: image::picture_size(Resolution::K1, (1, 1)),
        n: VIEWS,
        watermark: false,
        label: "ai-multi-shot view".into(),
        format: Format::Png,
    };
    // INFERRED: the price of one kling-v3 picture for the three views, and one concurrency slot:
    // the request has no `n` (FIDELITY.md: image families).
    let mut job = ImageJob::new(
        vec![("element_frontal_image".to_string(), front)],
        pics,
        Shape::Like(Resolution::K1),
        Layout::Images {
            watermark_info: false,
        },
        8.0 / f64::from(VIEWS),
        Common::parse(&f)?,
    );
    job.slots = 1;
    Ok(job)
}

/// Its part of the OpenAPI document.
fn doc() -> super::doc::KindDoc {
    use super::doc::*;
    use serde_json::json;
    let mut schemas = image::shared_schemas();
    schemas.push(("AiMultiShotTask", task_of("GeneratedImage", "images")));
    schemas.push((
        "AiMultiShotRequest",
        json!({
            "type": "object",
            "required": ["element_frontal_image"],
            "description": "Unknown fields are ignored. Makes three views of the subject (PNG, 1k in the frontal image's shape).",
            "properties": {
                "element_frontal_image": {"type": "string", "description": "URL or raw Base64 (.jpg/.jpeg/.png, ≤ 10 MB, sides ≥ 300 px, 1:2.5 to 2.5:1)."},
                "callback_url": schema_ref("CallbackUrl"),
                "external_task_id": schema_ref("ExternalTaskId"),
            },
            "examples": [{"element_frontal_image": "https://example.com/front.png"}],
        }),
    ));
    KindDoc {
        tag: "images",
        ids: ["createAiMultiShot", "getAiMultiShot", "listAiMultiShot"],
        summaries: [
            "Create an AI multi-shot task",
            "One AI multi-shot task, by task_id or external_task_id",
            "The caller's AI multi-shot tasks, newest first",
        ],
        description: "SOURCES.md: AI Multi-Shot.",
        request: "AiMultiShotRequest",
        answer: "AiMultiShotTask",
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

    #[test]
    fn three_views_in_the_frontal_image_shape() {
        let r = parse(
            json!({"element_frontal_image": png_b64(600, 900)})
                .as_object()
                .unwrap(),
        )
        .unwrap();
        assert_eq!((r.pics.size, r.pics.n), ((832, 1248), 3));
        assert!((r.units() - 8.0).abs() < 1e-9);
        use crate::kinds::Job;
        assert_eq!(r.slots(), 1, "one task, one slot: the request has no n");
        let e = parse(json!({}).as_object().unwrap()).unwrap_err();
        assert_eq!(e.message, "element_frontal_image is required");
    }
}
