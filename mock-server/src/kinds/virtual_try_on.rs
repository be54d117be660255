//! Virtual try-on: `POST /v1/images/kolors-virtual-try-on` (SOURCES.md: Virtual Try-On, Rate
//! Limits).
//!
//! Request: `model_name` (default `kolors-virtual-try-on-v1`; `kolors-virtual-try-on-v1`,
//! `kolors-virtual-try-on-v1-5`), `human_image` (required, URL or raw Base64), `cloth_image`
//! (a garment: the Chinese page requires it, the English one says optional; the mock requires
//! it, FIDELITY.md: image families), `callback_url`, `external_task_id`. No `n`, no
//! `watermark_info`.
//! It draws on the try-on resource pack and its own concurrency pool (`Pool::TryOn`).
//! Result: `task_result.images[{index, url}]`: one JPEG of the person image's size (768 × 1024
//! when that size is unknown: a foreign URL, not fetched).
//! KwaiVGI's nodes query it with a doubled slash (`/v1/images/kolors-virtual-try-on//{id}`); the
//! router answers such paths as their single-slash form.

use super::fields::{Common, Fields};
use super::image::{self, ImageJob, Layout, Pictures, Shape};
use super::video::inputs::Image;
use crate::error::KlingError;
use crate::media::Format;
use serde_json::{Map, Value};

/// The kind: its paths, limits, timings and cost (see [`super::KindSpec`]).
pub static SPEC: super::KindSpec = super::KindSpec {
    id: super::KindId::new("virtual-try-on"),
    path: "/v1/images/kolors-virtual-try-on",
    mode: super::Mode::Task {
        query: "/v1/images/kolors-virtual-try-on/{id}",
        result: super::result_type::<image::Images>("Images"),
        parse: |body| Ok(Box::new(parse(body)?)),
    },
    max_page_size: 500,
    lifecycle: super::DEFAULT_TASK_LIFECYCLE,
    // --timing-profile realistic: ComfyUI expects 19 s (SOURCES.md: published clients).
    realistic: super::realistic(3_000, 16_000),
    pool: crate::engine::billing::Pool::TryOn,
    // INFERRED: one unit of the try-on pack a picture (FIDELITY.md: image costs).
    unit_deduction: "1",
    doc,
    extras: &[],
};

/// The models of this family.
pub const MODELS: &[&str] = &["kolors-virtual-try-on-v1", "kolors-virtual-try-on-v1-5"];
/// The picture's size when the person image's is unknown.
pub const UNKNOWN_PERSON: (u32, u32) = (768, 1024);

/// Validate a create body.
pub fn parse(body: &Map<String, Value>) -> Result<ImageJob, KlingError> {
    let f = Fields::new(body);
    let model = image::model_name(&f, MODELS, "kolors-virtual-try-on-v1")?;
    let human = Image::parse("human_image", f.req_str("human_image")?)?;
    let cloth = Image::parse("cloth_image", f.req_str("cloth_image")?)?;
    let pics = Pictures {
        size: UNKNOWN_PERSON,
        n: 1,
        watermark: false,
        label: model.to_string(),
        format: Format::Jpeg,
    };
    Ok(ImageJob::new(
        vec![
            ("human_image".to_string(), human),
            ("cloth_image".to_string(), cloth),
        ],
        pics,
        Shape::Same,
        Layout::Images {
            watermark_info: false,
        },
        1.0,
        Common::parse(&f)?,
    ))
}

/// Its part of the OpenAPI document.
fn doc() -> super::doc::KindDoc {
    use super::doc::*;
    use serde_json::json;
    let mut schemas = image::shared_schemas();
    schemas.push(("VirtualTryOnTask", task_of("GeneratedImage", "images")));
    let img = json!({"type": "string", "description": "URL or raw Base64 (.jpg/.jpeg/.png, ≤ 10 MB, sides ≥ 300 px, 1:2.5 to 2.5:1)."});
    schemas.push((
        "VirtualTryOnRequest",
        json!({
            "type": "object",
            "required": ["human_image", "cloth_image"],
            "description": "Unknown fields are ignored. Draws on the try-on pack and its own concurrency pool. The picture (a JPEG) has the person image's size.",
            "properties": {
                "model_name": {"type": "string", "enum": MODELS, "default": "kolors-virtual-try-on-v1"},
                "human_image": img,
                "cloth_image": img,
                "callback_url": schema_ref("CallbackUrl"),
                "external_task_id": schema_ref("ExternalTaskId"),
            },
            "examples": [{"human_image": "https://example.com/person.jpg", "cloth_image": "https://example.com/shirt.png"}],
        }),
    ));
    KindDoc {
        tag: "images",
        ids: ["createVirtualTryOn", "getVirtualTryOn", "listVirtualTryOn"],
        summaries: [
            "Create a virtual try-on task",
            "One virtual try-on task, by task_id or external_task_id",
            "The caller's virtual try-on tasks, newest first",
        ],
        description: "SOURCES.md: Virtual Try-On.",
        request: "VirtualTryOnRequest",
        answer: "VirtualTryOnTask",
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
    fn the_picture_has_the_person_image_size() {
        let r = parse(
            json!({"human_image": png_b64(600, 900), "cloth_image": "https://example.com/s.png"})
                .as_object()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            (r.pics.size, r.pics.n, r.pics.format),
            ((600, 900), 1, Format::Jpeg)
        );
        let r = parse(
            json!({"human_image": "https://example.com/p.jpg", "cloth_image": png_b64(500, 500)})
                .as_object()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            r.pics.size, UNKNOWN_PERSON,
            "the cloth does not decide the size"
        );
        assert_eq!(
            r.layout,
            Layout::Images {
                watermark_info: false
            }
        );
    }

    #[test]
    fn both_images_are_required() {
        assert_eq!(
            err(json!({"cloth_image": "https://example.com/s.png"})),
            "human_image is required"
        );
        assert_eq!(
            err(json!({"human_image": "https://example.com/p.png"})),
            "cloth_image is required"
        );
        assert!(
            err(json!({"human_image": "x", "cloth_image": "y", "model_name": "kolors"}))
                .starts_with("model is not supported")
        );
    }
}
