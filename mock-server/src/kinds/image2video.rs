//! Image to video: `POST /v1/videos/image2video` (SOURCES.md: Image to Video, Capability Map).
//!
//! Request: `model_name` (default `kling-v1`; nine models), `image` and / or `image_tail` (at
//! least one; URL or raw Base64), `prompt` (≤ 2500, required unless multi-shot `customize`, as
//! text to video), `negative_prompt` (≤ 2500), the multi-shot fields,
//! `element_list` (≤ 3) or `voice_list` (≤ 2, not both), `sound`, `cfg_scale`, `mode` (default
//! std), `static_mask` / `dynamic_masks` (motion brush, ≤ 6 groups of a mask and 2–77 points),
//! `camera_control`, `duration`, `watermark_info`, `callback_url`, `external_task_id`. There is
//! no `aspect_ratio`: the video takes the input image's shape.
//! `image_tail`, the motion brush and `camera_control` exclude one another; the capability map
//! decides per model and mode which of them, sound and voices are offered.
//! Image rules ([`super::video::inputs`]): Base64 that does not decode, or is not a JPEG/PNG, is
//! refused at create; a picture under 300 px or too elongated makes the task fail ("Image pixel
//! is invalid", as live). A foreign URL's shape is unknown (16:9) unless `--fetch-inputs`
//! downloads it ([`super::Job::remote_images`]).

use super::Ctx;
use super::fields::{Common, Fields};
use super::video::inputs::Image;
use super::video::{self, Family, Output, Shots};
use crate::auth::Account;
use crate::engine::Plan;
use crate::error::KlingError;
use crate::kinds::TaskResult;
use serde_json::{Map, Value};

/// The kind: its paths, limits, timings and cost (see [`super::KindSpec`]).
pub static SPEC: super::KindSpec = super::KindSpec {
    id: super::KindId::new("image2video"),
    path: "/v1/videos/image2video",
    mode: super::Mode::Task {
        query: "/v1/videos/image2video/{id}",
        result: super::result_type::<video::Videos>("Videos"),
        parse: |body| Ok(Box::new(CreateImageToVideo::parse(body)?)),
    },
    max_page_size: 500,
    lifecycle: super::DEFAULT_TASK_LIFECYCLE,
    // --timing-profile realistic: ComfyUI's expected duration of an image2video task: 164 s (SOURCES.md: published clients).
    realistic: super::realistic(15_000, 150_000),
    pool: crate::engine::billing::Pool::Video,
    unit_deduction: "1",
    doc,
    extras: &[],
};

/// The models of this family.
pub const MODELS: &[&str] = &[
    "kling-v1",
    "kling-v1-5",
    "kling-v1-6",
    "kling-v2-master",
    "kling-v2-1",
    "kling-v2-1-master",
    "kling-v2-5-turbo",
    "kling-v2-6",
    "kling-v3",
];

/// Most motion-brush groups.
pub const MAX_MASKS: usize = 6;
/// Points of a trajectory (for a 5 s video).
pub const TRAJECTORY_POINTS: (usize, usize) = (2, 77);

/// A validated create request.
#[derive(Clone, Debug, PartialEq)]
pub struct CreateImageToVideo {
    /// What the task makes.
    pub out: Output,
    /// `image`, `image_tail`.
    pub images: Vec<(&'static str, Image)>,
    /// `voice_list`.
    pub voices: Vec<String>,
    /// `element_list[].element_id`.
    pub elements: Vec<u64>,
    /// The shots.
    pub shots: Shots,
    /// Why the task will fail (an input picture's size or shape).
    pub failure: Option<String>,
    /// `external_task_id`, `callback_url`.
    pub common: Common,
}

impl CreateImageToVideo {
    /// Validate a create body.
    pub fn parse(body: &Map<String, Value>) -> Result<Self, KlingError> {
        let f = Fields::new(body);
        let model = video::model_name(&f, MODELS, "kling-v1")?;
        let image = f
            .opt_str("image")?
            .map(|v| Image::parse("image", v))
            .transpose()?;
        let tail = f
            .opt_str("image_tail")?
            .map(|v| Image::parse("image_tail", v))
            .transpose()?;
        if image.is_none() && tail.is_none() {
            return Err(KlingError::param(
                "image and image_tail must not both be null: send at least one",
            ));
        }
        let secs = video::duration(&f)?.unwrap_or(5);
        video::check_duration(model, secs)?;
        let shots = video::shots(&f, model, secs)?;
        video::required_prompt(&f, &shots)?;
        video::prompt(&f, "negative_prompt")?;
        let pro = video::mode(&f, "std")?;
        let sound = video::sound(&f)?;
        video::cfg_scale(&f)?;
        let elements = video::element_list(&f, 3)?;
        let voices = video::voice_list(&f, 2)?;
        if !elements.is_empty() && !voices.is_empty() {
            return Err(KlingError::param(
                "element_list and voice_list cannot be used together",
            ));
        }
        let masks = motion_brush(&f, secs)?;
        let camera = video::camera_control(&f)?;
        let used: Vec<&str> = [
            (tail.is_some(), "image_tail"),
            (masks, "static_mask/dynamic_masks"),
            (camera.is_some(), "camera_control"),
        ]
        .into_iter()
        .filter_map(|(on, n)| on.then_some(n))
        .collect();
        if used.len() > 1 {
            return Err(KlingError::param(format!(
                "image_tail, static_mask/dynamic_masks and camera_control cannot be used together, got {}",
                used.join(" and ")
            )));
        }
        if tail.is_some() {
            if shots != Shots::Single {
                return Err(KlingError::param(
                    "image_tail cannot be used with multi_shot",
                ));
            }
            video::check_option(
                model,
                "image_tail (an end frame)",
                model.end_frame,
                pro,
                secs,
            )?;
            if sound && model.name == "kling-v2-6" {
                return Err(KlingError::param(
                    "image_tail (an end frame) is supported by kling-v2-6 with sound off only",
                ));
            }
        }
        if masks {
            video::check_option(model, "motion brush", model.motion_brush, pro, secs)?;
        }
        if let Some(c) = &camera {
            video::check_option(model, "camera_control", model.camera_image, pro, secs)?;
            if c.kind != "simple" {
                return Err(KlingError::param(format!(
                    "camera_control.type value '{}' is invalid for image2video; allowed values: simple",
                    c.kind
                )));
            }
        }
        if sound {
            video::check_option(model, "sound on", model.sound, pro, secs)?;
        }
        if !voices.is_empty() {
            video::check_option(model, "voice_list", model.voices, pro, secs)?;
            if !sound {
                return Err(KlingError::param("voice_list needs sound on"));
            }
        }
        if !elements.is_empty() && !model.elements {
            return Err(KlingError::param(format!(
                "element_list is not supported by {}",
                model.name
            )));
        }
        let watermark = video::watermark(&f)?;
        let like = image.as_ref().or(tail.as_ref()).and_then(Image::size);
        let images: Vec<(&'static str, Image)> = [("image", image), ("image_tail", tail)]
            .into_iter()
            .filter_map(|(n, i)| i.map(|i| (n, i)))
            .collect();
        let failure = images.iter().find_map(|(_, i)| i.failure());
        Ok(CreateImageToVideo {
            out: Output::new(
                model,
                Family::Image,
                pro,
                secs,
                None,
                like,
                sound,
                watermark,
            ),
            images,
            voices,
            elements,
            shots,
            failure,
            common: Common::parse(&f)?,
        })
    }
}

/// Read `static_mask` / `dynamic_masks`: whether the motion brush is used.
fn motion_brush(f: &Fields<'_>, secs: u32) -> Result<bool, KlingError> {
    let stat = f
        .opt_str("static_mask")?
        .map(|v| Image::parse("static_mask", v))
        .transpose()?;
    let groups = video::object_list(f, "dynamic_masks", MAX_MASKS)?;
    for (i, g) in groups.iter().enumerate() {
        let gf = Fields::new(g);
        let mask = gf.opt_str("mask")?.ok_or_else(|| {
            KlingError::param(format!("dynamic_masks[{i}].mask must not be null"))
        })?;
        Image::parse(&format!("dynamic_masks[{i}].mask"), mask)?;
        let points = match g.get("trajectories") {
            Some(Value::Array(a)) => a,
            None | Some(Value::Null) => {
                return Err(KlingError::param(format!(
                    "dynamic_masks[{i}].trajectories must not be null"
                )));
            }
            Some(_) => {
                return Err(KlingError::param(format!(
                    "dynamic_masks[{i}].trajectories must be an array"
                )));
            }
        };
        let (lo, hi) = TRAJECTORY_POINTS;
        // The documents give 2–77 points for a 5 s video; a 10 s one is allowed twice as many.
        let hi = if secs > 5 { hi * 2 } else { hi };
        if !(lo..=hi).contains(&points.len()) {
            return Err(KlingError::param(format!(
                "dynamic_masks[{i}].trajectories must have {lo} to {hi} points, got {}",
                points.len()
            )));
        }
        for (j, p) in points.iter().enumerate() {
            let ok = p.as_object().is_some_and(|o| {
                ["x", "y"]
                    .iter()
                    .all(|k| o.get(*k).is_some_and(|v| v.is_i64()))
            });
            if !ok {
                return Err(KlingError::param(format!(
                    "dynamic_masks[{i}].trajectories[{j}] must be {{x: int, y: int}}"
                )));
            }
        }
    }
    Ok(stat.is_some() || !groups.is_empty())
}

impl super::Job for CreateImageToVideo {
    fn common(&self) -> &Common {
        &self.common
    }
    fn resolve(&mut self, s: &Ctx<'_>, account: &Account) -> Result<(), KlingError> {
        super::elements::check_element_list(s, account, &self.elements)?;
        if let Some(f) = video::inputs::own_files_check(s, &mut self.images)? {
            self.failure.get_or_insert(f);
        }
        // One of the mock's own images is measured now: the video takes its shape.
        if let Some(size) = self.images.first().and_then(|(_, i)| i.size()) {
            self.out.take_shape(size);
        }
        for (i, v) in self.voices.iter().enumerate() {
            if !s.voices.is_official(v)
                && super::custom_voice::usable_voice(s, account.idx, v).is_none()
            {
                return Err(KlingError::param(format!(
                    "voice_list[{i}].voice_id: Voice id not found: {v}"
                )));
            }
        }
        Ok(())
    }
    fn remote_images(&self) -> Vec<(String, String)> {
        video::inputs::remote(self.images.iter().map(|(n, i)| (n.to_string(), i)))
    }
    fn measured(&mut self, field: &str, result: Result<(u32, u32), String>) {
        if let Some(f) = video::inputs::take_download_of(&mut self.images, field, result) {
            self.failure.get_or_insert(f);
        }
        // As at parse: the shape of `image`, else of `image_tail`.
        if let Some(size) = self.images.first().and_then(|(_, i)| i.size()) {
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
    let image = json!({"type": "string", "description": "An http(s) URL or raw Base64 (no data: prefix) of a .jpg/.jpeg/.png, ≤ 10 MB, sides ≥ 300 px, aspect 1:2.5 to 2.5:1."});
    KindDoc {
        tag: "video",
        ids: ["createImageToVideo", "getImageToVideo", "listImageToVideo"],
        summaries: [
            "Create an image-to-video task",
            "One image-to-video task, by task_id or external_task_id",
            "The caller's image-to-video tasks, newest first",
        ],
        description: "SOURCES.md: Image to Video, Capability Map.",
        request: "ImageToVideoRequest",
        answer: "ImageToVideoTask",
        answer_description: "",
        field_rules: TASK_FIELD_RULES,
        schemas: vec![
            ("ImageToVideoTask", super::text2video::video_task()),
            (
                "ImageToVideoRequest",
                json!({
                    "type": "object",
                    "description": "At least one of image and image_tail. image_tail, the motion brush and camera_control exclude one another; element_list and voice_list too. Unknown fields are ignored.",
                    "properties": {
                        "model_name": {"type": "string", "enum": MODELS, "default": "kling-v1"},
                        "image": image,
                        "image_tail": image,
                        "prompt": {"type": "string", "maxLength": video::MAX_PROMPT, "description": "Required unless multi_shot with shot_type customize."},
                        "negative_prompt": {"type": "string", "maxLength": video::MAX_PROMPT},
                        "multi_shot": {"type": ["boolean", "string"]},
                        "shot_type": {"type": "string", "enum": ["customize", "intelligence"]},
                        "multi_prompt": super::text2video::multi_prompt_schema(),
                        "element_list": {"type": "array", "maxItems": 3, "items": {"type": "object", "required": ["element_id"], "properties": {"element_id": {"type": ["integer", "string"]}}}},
                        "voice_list": {"type": "array", "maxItems": 2, "items": {"type": "object", "required": ["voice_id"], "properties": {"voice_id": {"type": "string"}}}},
                        "sound": {"type": "string", "enum": ["on", "off"], "default": "off"},
                        "cfg_scale": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.5},
                        "mode": {"type": "string", "enum": ["std", "pro"], "default": "std"},
                        "static_mask": image,
                        "dynamic_masks": {"type": "array", "maxItems": MAX_MASKS, "items": {"type": "object", "required": ["mask", "trajectories"]}},
                        "camera_control": super::text2video::camera_schema(),
                        "duration": {"type": ["string", "integer"], "default": "5"},
                        "watermark_info": schema_ref("WatermarkInfo"),
                        "callback_url": schema_ref("CallbackUrl"),
                        "external_task_id": schema_ref("ExternalTaskId"),
                    },
                    "examples": [{"model_name": "kling-v1", "image": "https://example.com/first-frame.jpg", "prompt": "The cat turns its head", "duration": "5"}],
                }),
            ),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::video::inputs::tests::png_b64;
    use serde_json::json;

    /// Parse `v`, with a prompt unless it has one (or `"prompt": null`).
    fn parse(mut v: Value) -> Result<CreateImageToVideo, KlingError> {
        let o = v.as_object_mut().unwrap();
        if !o.contains_key("prompt") {
            o.insert("prompt".into(), json!("a prompt"));
        }
        CreateImageToVideo::parse(o)
    }

    #[test]
    fn a_prompt_is_required_unless_the_shots_are_given() {
        let img = "https://x.example/a.jpg";
        let e = parse(json!({"image": img, "prompt": null})).unwrap_err();
        assert_eq!(e.message, "prompt must not be null");
        let e = parse(json!({"image": img, "prompt": "  "})).unwrap_err();
        assert_eq!(e.message, "prompt must not be blank");
        let shots = json!({"image": img, "prompt": null, "model_name": "kling-v3", "multi_shot": true,
            "shot_type": "customize", "multi_prompt": [{"index": 1, "prompt": "a", "duration": "5"}]});
        assert!(parse(shots).is_ok());
    }

    fn err(v: Value) -> String {
        parse(v).unwrap_err().message.to_string()
    }

    #[test]
    fn the_video_takes_the_image_shape() {
        let r =
            parse(json!({"image": png_b64(600, 1200), "model_name": "kling-v2-1", "mode": "pro"}))
                .unwrap();
        assert_eq!((r.out.size, r.out.fps), ((1080, 2160), 24));
        let r = parse(json!({"image": "https://x.example/a.jpg"})).unwrap();
        assert_eq!(r.out.size, (1280, 720));
        let small = parse(json!({"image": png_b64(200, 200)})).unwrap();
        assert_eq!(small.failure.as_deref(), Some("Image pixel is invalid"));
    }

    #[test]
    fn exclusive_options_and_the_capability_map() {
        let img = "https://x.example/a.jpg";
        assert!(err(json!({})).starts_with("image and image_tail must not both be null"));
        let simple = json!({"type": "simple", "config": {"pan": 1}});
        assert!(
            err(json!({"image": img, "image_tail": img, "camera_control": simple}))
                .contains("cannot be used together, got image_tail and camera_control")
        );
        assert!(
            err(json!({"image": img, "image_tail": img, "model_name": "kling-v1-6"}))
                .contains("in pro mode only")
        );
        assert!(
            parse(
                json!({"image": img, "image_tail": img, "model_name": "kling-v1-6", "mode": "pro"})
            )
            .is_ok()
        );
        assert!(parse(json!({"image": img, "model_name": "kling-v1-5", "mode": "pro", "camera_control": simple})).is_ok());
        assert!(err(json!({"image": img, "model_name": "kling-v1-5", "mode": "pro", "camera_control": {"type": "down_back"}})).contains("allowed values: simple"));
        assert!(err(json!({"image": img, "element_list": [{"element_id": 1}], "voice_list": [{"voice_id": "1"}]})).contains("cannot be used together"));
        assert!(err(json!({"image": img, "element_list": [{"element_id": 1}, {"element_id": 2}, {"element_id": 3}, {"element_id": 4}]})).contains("at most 3 items"));
        let masks = json!([{"mask": img, "trajectories": [{"x": 1, "y": 2}, {"x": 3, "y": 4}]}]);
        assert!(parse(json!({"image": img, "dynamic_masks": masks})).is_ok());
        assert!(
            err(json!({"image": img, "dynamic_masks": masks, "model_name": "kling-v2-6"}))
                .contains("motion brush is not supported by kling-v2-6")
        );
        assert!(err(json!({"image": img, "dynamic_masks": [{"mask": img, "trajectories": [{"x": 1, "y": 2}]}]})).contains("2 to 77 points"));
        assert!(err(json!({"image": img, "model_name": "kling-v2-6", "mode": "pro", "voice_list": [{"voice_id": "1"}]})).contains("needs sound on"));
    }
}
