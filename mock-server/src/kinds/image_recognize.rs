//! Image recognition: `POST /v1/videos/image-recognize` (SOURCES.md: Image Recognize).
//! Synchronous: the answer holds the finished segmentation; there is no task to query.
//!
//! Request: `image` (required, URL or raw Base64, the image rules).
//! Answer: `data {final_unit_deduction, task_result: {images: [{type, is_contain, url}]}}` with
//! one entry per `type`: `object_seg` (the main subject), `head_seg` (face with hair),
//! `face_seg` (face without hair), `cloth_seg` (clothes). Each `url` is a real PNG mask of the
//! input's size (1024 × 1024 when the size is unknown: a foreign URL, not fetched); the mock
//! finds every part in every picture (`is_contain: true`, FIDELITY.md: image recognition).
//! A picture the size rules refuse, or a URL of the mock's own that names no file, is 400 /
//! 1201 naming the field (a synchronous call has no task to fail).

use super::Ctx;
use super::fields::Fields;
use super::video::inputs::{self, Image};
use crate::auth::Account;
use crate::error::KlingError;
use crate::media::{Format, ImageFile, Label};
use serde_json::{Map, Value, json};

/// The kind: its path and cost (see [`super::KindSpec`]).
pub static SPEC: super::KindSpec = super::KindSpec {
    id: super::KindId::new("image-recognize"),
    path: "/v1/videos/image-recognize",
    mode: super::Mode::Call {
        parse: |body| Ok(Box::new(Recognize::parse(body)?)),
    },
    max_page_size: 500,
    lifecycle: super::CALL_LIFECYCLE,
    realistic: super::CALL_LIFECYCLE,
    pool: crate::engine::billing::Pool::Video,
    // INFERRED: no price was found (FIDELITY.md: image recognition).
    unit_deduction: "0.05",
    doc,
    extras: &[],
};

/// The segmentation types, in the documents' order.
pub const TYPES: [&str; 4] = ["object_seg", "head_seg", "face_seg", "cloth_seg"];
/// The mask size when the input's is unknown.
pub const UNKNOWN_SIZE: (u32, u32) = (1024, 1024);

/// A validated request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recognize {
    /// `image`.
    pub image: Image,
}

impl Recognize {
    /// Validate a body.
    pub fn parse(body: &Map<String, Value>) -> Result<Self, KlingError> {
        let f = Fields::new(body);
        Ok(Recognize {
            image: Image::parse("image", f.req_str("image")?)?,
        })
    }
}

impl super::Call for Recognize {
    fn answer(
        &self,
        s: &Ctx<'_>,
        _account: &Account,
        fail: Option<String>,
    ) -> Result<axum::response::Response, KlingError> {
        let mut image = self.image.clone();
        let refused = inputs::own_file_check(s, "image", &mut image)?.or_else(|| image.failure());
        if let Some(why) = refused.or(fail) {
            return Err(KlingError::param(format!("image: {why}")));
        }
        let (width, height) = image.size().unwrap_or(UNKNOWN_SIZE);
        let now = s.clock.now_ms();
        let id = s.ids.next(now);
        let images: Vec<Value> = TYPES
            .iter()
            .enumerate()
            .map(|(i, kind)| {
                let token = s.entropy.token();
                let file = s.media.add_image(
                    token,
                    ImageFile {
                        task_id: id,
                        index: i as u32,
                        n: TYPES.len() as u32,
                        width,
                        height,
                        seed: u64::from_le_bytes(token[..8].try_into().unwrap_or_default()),
                        watermark: false,
                        label: Label::new(&format!("{kind} mask")),
                        format: Format::Png,
                        born: Some(now),
                    },
                );
                json!({"type": kind, "is_contain": true, "url": file.url(s.engine.base_url())})
            })
            .collect();
        Ok(crate::wire::data_response(&json!({
            "final_unit_deduction": SPEC.unit_deduction,
            "task_result": {"images": images},
        })))
    }
}

/// Its part of the OpenAPI document.
fn doc() -> super::doc::KindDoc {
    use super::doc::*;
    KindDoc {
        tag: "video",
        ids: ["imageRecognize", "", ""],
        summaries: [
            "Image recognition: answers with the segmentation masks",
            "",
            "",
        ],
        description: "SOURCES.md: Image Recognize. Synchronous: there is no task to query.",
        request: "ImageRecognizeRequest",
        answer: "ImageRecognizeResult",
        answer_description: "One PNG mask of the input's size per segmentation type.",
        field_rules: "image is absent, not a URL or raw Base64 of a .jpg/.jpeg/.png, or a picture \
                      the size rules refuse (`image: Image pixel is invalid`)",
        schemas: vec![
            (
                "ImageRecognizeResult",
                json!({
                    "type": "object",
                    "required": ["final_unit_deduction", "task_result"],
                    "properties": {
                        "final_unit_deduction": {"type": "string"},
                        "task_result": {"type": "object", "properties": {"images": {
                            "type": "array", "minItems": 4, "maxItems": 4,
                            "items": {"type": "object", "required": ["type", "is_contain", "url"], "properties": {
                                "type": {"enum": TYPES},
                                "is_contain": {"type": "boolean"},
                                "url": {"type": "string", "format": "uri", "description": "A PNG mask."},
                            }},
                        }}},
                    },
                }),
            ),
            (
                "ImageRecognizeRequest",
                json!({
                    "type": "object",
                    "required": ["image"],
                    "description": "Unknown fields are ignored.",
                    "properties": {
                        "image": {"type": "string", "description": "URL or raw Base64 (.jpg/.jpeg/.png, ≤ 10 MB, sides ≥ 300 px, 1:2.5 to 2.5:1)."},
                    },
                    "examples": [{"image": "https://example.com/person.jpg"}],
                }),
            ),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_image_is_required_and_checked() {
        let e = Recognize::parse(json!({}).as_object().unwrap()).unwrap_err();
        assert_eq!(e.message, "image is required");
        let e = Recognize::parse(
            json!({"image": "data:image/png;base64,AAAA"})
                .as_object()
                .unwrap(),
        )
        .unwrap_err();
        assert!(
            e.message
                .starts_with("File is not in a valid base64 format")
        );
    }
}
