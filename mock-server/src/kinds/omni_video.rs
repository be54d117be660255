//! Omni video: `POST /v1/videos/omni-video` (SOURCES.md: Video Omni, Capability Map).
//!
//! Request: `model_name` (default `kling-video-o1`; `kling-video-o1`, `kling-v3-omni`), the
//! multi-shot fields (`multi_shot` default false; kling-v3-omni only), `prompt` (≤ 2500; required
//! unless multi-shot `customize`), `image_list` (`[{image_url, type?: first_frame | end_frame}]`),
//! `element_list` (`[{element_id}]`), `video_list` (at most 1 `{video_url, refer_type: feature |
//! base (default base), keep_original_sound: yes | no}`), `sound` (default off), `mode` (default
//! pro), `aspect_ratio` (required without a first frame or a video to edit), `duration` (3–15,
//! kling-video-o1 3–10; default 5), `watermark_info`, `callback_url`, `external_task_id`.
//! Rules: an end frame needs a first frame; multi-shot takes no first or end frame; a `base`
//! video (editing) takes no first or end frame and its output lasts as long as the input (its
//! `duration` is ignored); any reference video needs `sound` off; images + elements at most 4
//! with a reference video, 7 without; at most 3 elements with a first frame; kling-video-o1 takes
//! no start/end frame with more than 2 images, and single-shot text or first-frame videos of 5 or
//! 10 s only ("Duration only supports 5 or 10 seconds when no refer_image is provided", live).

use super::Ctx;
use super::fields::{Common, Fields};
use super::video::inputs::{self, Image};
use super::video::{self, Family, Output, Shots};
use crate::auth::Account;
use crate::engine::Plan;
use crate::error::KlingError;
use crate::kinds::TaskResult;
use serde_json::{Map, Value};

/// The kind: its paths, limits, timings and cost (see [`super::KindSpec`]).
pub static SPEC: super::KindSpec = super::KindSpec {
    id: super::KindId::new("omni-video"),
    path: "/v1/videos/omni-video",
    mode: super::Mode::Task {
        query: "/v1/videos/omni-video/{id}",
        result: super::result_type::<video::Videos>("Videos"),
        parse: |body| Ok(Box::new(CreateOmniVideo::parse(body)?)),
    },
    max_page_size: 500,
    lifecycle: super::DEFAULT_TASK_LIFECYCLE,
    // --timing-profile realistic: never observed: as text2video (FIDELITY.md: timings).
    realistic: super::realistic(20_000, 300_000),
    pool: crate::engine::billing::Pool::Video,
    unit_deduction: "4",
    doc,
    extras: &[],
};

/// The models of this family.
pub const MODELS: &[&str] = &["kling-video-o1", "kling-v3-omni"];

/// A validated create request.
#[derive(Clone, Debug, PartialEq)]
pub struct CreateOmniVideo {
    /// What the task makes.
    pub out: Output,
    /// `image_list[].image_url`.
    pub images: Vec<Image>,
    /// `video_list[0]`: URL and whether it is a `base` (edited) video.
    pub video: Option<(String, bool)>,
    /// The index in `images` of the image whose shape the video takes: the first frame, when
    /// there is no `aspect_ratio`.
    pub shape_from: Option<usize>,
    /// `element_list[].element_id`.
    pub elements: Vec<u64>,
    /// Why the task will fail.
    pub failure: Option<String>,
    /// `external_task_id`, `callback_url`.
    pub common: Common,
}

impl CreateOmniVideo {
    /// Validate a create body.
    pub fn parse(body: &Map<String, Value>) -> Result<Self, KlingError> {
        let f = Fields::new(body);
        let model = video::model_name(&f, MODELS, "kling-video-o1")?;
        let requested = video::duration(&f)?;
        let edits = |o: &Map<String, Value>| !matches!(o.get("refer_type"), Some(Value::String(t)) if t == "feature");
        let editing_requested = match f.raw_value("video_list") {
            Some(Value::Array(a)) => a.first().and_then(Value::as_object).is_some_and(edits),
            _ => false,
        };
        // A base video (editing) keeps its own length: `duration` is ignored (documented).
        let secs = if editing_requested {
            5
        } else {
            let secs = requested.unwrap_or(5);
            video::check_duration(model, secs)?;
            secs
        };
        let shots = video::shots(&f, model, secs)?;
        video::required_prompt(&f, &shots)?;
        let mut images = Vec::new();
        let (mut first, mut first_at, mut end, mut refer_images) = (None, None, false, 0);
        for (i, o) in video::object_list(&f, "image_list", 7)?
            .into_iter()
            .enumerate()
        {
            let itf = Fields::new(o);
            let name = format!("image_list[{i}].image_url");
            let url = itf
                .opt_str("image_url")?
                .ok_or_else(|| KlingError::param(format!("{name} must not be null")))?;
            let img = Image::parse(&name, url)?;
            match video::one_of(&itf, "type", &["first_frame", "end_frame"], None)
                .map_err(|e| KlingError::param(format!("image_list[{i}].{}", e.message)))?
            {
                Some("first_frame") => (first, first_at) = (Some(img.size()), Some(i)),
                Some(_) => end = true,
                None => refer_images += 1,
            }
            images.push(img);
        }
        let elements = video::element_list(&f, 7)?;
        let videos = video::object_list(&f, "video_list", 1)?;
        let video = match videos.first() {
            None => None,
            Some(o) => {
                let vf = Fields::new(o);
                let url = inputs::video_url(
                    "video_list[0].video_url",
                    vf.opt_str("video_url")?.ok_or_else(|| {
                        KlingError::param("video_list[0].video_url must not be null")
                    })?,
                )?;
                let base = video::one_of(&vf, "refer_type", &["feature", "base"], Some("base"))
                    .map_err(|e| KlingError::param(format!("video_list[0].{}", e.message)))?
                    == Some("base");
                video::one_of(&vf, "keep_original_sound", &["yes", "no"], None)
                    .map_err(|e| KlingError::param(format!("video_list[0].{}", e.message)))?;
                Some((url, base))
            }
        };
        let frames_used = first.is_some() || end;
        if end && first.is_none() {
            return Err(KlingError::param(
                "image_list: an end_frame needs a first_frame",
            ));
        }
        if frames_used && shots != Shots::Single {
            return Err(KlingError::param(
                "image_list: first_frame and end_frame cannot be used with multi_shot",
            ));
        }
        if frames_used && matches!(video, Some((_, true))) {
            return Err(KlingError::param(
                "image_list: first_frame and end_frame cannot be used with a base video (video editing)",
            ));
        }
        let refs = images.len() + elements.len();
        let max_refs = if video.is_some() { 4 } else { 7 };
        if refs > max_refs {
            return Err(KlingError::param(format!(
                "image_list and element_list may hold at most {max_refs} references together{}, got {refs}",
                if video.is_some() {
                    " with a reference video"
                } else {
                    ""
                }
            )));
        }
        if first.is_some() && elements.len() > 3 {
            return Err(KlingError::param(format!(
                "element_list must have at most 3 items with a first_frame, got {}",
                elements.len()
            )));
        }
        if model.name == "kling-video-o1" && frames_used && images.len() > 2 {
            return Err(KlingError::param(
                "image_list: kling-video-o1 supports first_frame/end_frame with at most 2 images",
            ));
        }
        let sound = video::sound(&f)?;
        if sound && video.is_some() {
            return Err(KlingError::param(
                "sound must be off when video_list holds a reference video",
            ));
        }
        let pro = video::mode(&f, "pro")?;
        let editing = matches!(video, Some((_, true)));
        let ratio = video::aspect_ratio(&f, None)?;
        if ratio.is_none() && first.is_none() && !editing {
            return Err(KlingError::param(
                "aspect_ratio must not be null without a first_frame or a base video",
            ));
        }
        // kling-video-o1: a single-shot video from text or a first frame alone is 5 or 10 s.
        // Reference images (no `type`), elements, an end frame or a video make it a reference video.
        let plain = !end && refer_images == 0 && elements.is_empty() && video.is_none();
        if model.name == "kling-video-o1" && plain && !editing && secs != 5 && secs != 10 {
            return Err(KlingError::param(
                "Duration only supports 5 or 10 seconds when no refer_image is provided",
            ));
        }
        let watermark = video::watermark(&f)?;
        let like = first.flatten();
        let failure = images.iter().find_map(Image::failure);
        let mut out = Output::new(
            model,
            Family::Omni,
            pro,
            secs,
            ratio,
            like,
            sound,
            watermark,
        );
        if video.is_some() {
            // A reference video costs half as much again.
            out.units = video::models::units(model, Family::Omni, pro, secs, sound, true);
        }
        Ok(CreateOmniVideo {
            out,
            images,
            video,
            shape_from: first_at.filter(|_| ratio.is_none()),
            elements,
            failure,
            common: Common::parse(&f)?,
        })
    }
}

impl super::Job for CreateOmniVideo {
    fn common(&self) -> &Common {
        &self.common
    }
    fn resolve(&mut self, s: &Ctx<'_>, account: &Account) -> Result<(), KlingError> {
        super::elements::check_element_list(s, account, &self.elements)?;
        for (i, img) in self.images.iter_mut().enumerate() {
            if let Some(f) = inputs::own_file_check(s, &format!("image_list[{i}].image_url"), img)?
            {
                self.failure.get_or_insert(f);
            }
        }
        // One of the mock's own images is measured now: the video may take its shape.
        if let Some(i) = self.shape_from
            && let Some(size) = self.images[i].size()
        {
            self.out.take_shape(size);
        }
        if let Some((url, base)) = &self.video {
            match inputs::own_video(s, url) {
                Ok(Some(v)) => {
                    let secs = v.frames as f64 / v.fps.max(1) as f64;
                    let max = if self.out.model.name == "kling-v3-omni" {
                        10.0
                    } else {
                        15.5
                    };
                    if !(3.0..=max).contains(&secs) {
                        return Err(KlingError::param(format!(
                            "video_list[0].video_url must be 3 to {max} s long, got {secs:.3} s"
                        )));
                    }
                    if *base {
                        // Editing keeps the input's length and shape.
                        self.out.size = (v.width, v.height);
                        self.out.frames = (secs * self.out.fps as f64).round() as u32;
                        let whole = secs.round() as u32;
                        self.out.units = video::models::units(
                            self.out.model,
                            Family::Omni,
                            self.out.pro,
                            whole,
                            false,
                            true,
                        );
                    }
                }
                Ok(None) => {}
                Err(reason) => {
                    self.failure.get_or_insert(reason);
                }
            }
        }
        Ok(())
    }
    fn remote_images(&self) -> Vec<(String, String)> {
        inputs::remote(
            self.images
                .iter()
                .enumerate()
                .map(|(i, img)| (format!("image_list[{i}].image_url"), img)),
        )
    }
    fn measured(&mut self, field: &str, result: Result<(u32, u32), String>) {
        let Some(i) =
            (0..self.images.len()).find(|i| format!("image_list[{i}].image_url") == field)
        else {
            return;
        };
        if let Some(f) = self.images[i].take_download(result) {
            self.failure.get_or_insert(f);
        }
        if self.shape_from == Some(i)
            && let Some(size) = self.images[i].size()
        {
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
        ids: ["createOmniVideo", "getOmniVideo", "listOmniVideo"],
        summaries: [
            "Create an omni-video task",
            "One omni-video task, by task_id or external_task_id",
            "The caller's omni-video tasks, newest first",
        ],
        description: "SOURCES.md: Video Omni, Capability Map.",
        request: "OmniVideoRequest",
        answer: "OmniVideoTask",
        answer_description: "",
        field_rules: TASK_FIELD_RULES,
        schemas: vec![
            ("OmniVideoTask", super::text2video::video_task()),
            (
                "OmniVideoRequest",
                json!({
                    "type": "object",
                    "description": "An end frame needs a first frame; multi-shot and base videos take no first/end frame; a reference video needs sound off; images + elements ≤ 4 with a reference video, ≤ 7 without. Unknown fields are ignored.",
                    "properties": {
                        "model_name": {"type": "string", "enum": MODELS, "default": "kling-video-o1"},
                        "multi_shot": {"type": ["boolean", "string"], "default": false},
                        "shot_type": {"type": "string", "enum": ["customize", "intelligence"]},
                        "prompt": {"type": "string", "maxLength": video::MAX_PROMPT},
                        "multi_prompt": super::text2video::multi_prompt_schema(),
                        "image_list": {"type": "array", "maxItems": 7, "items": {"type": "object", "required": ["image_url"], "properties": {
                            "image_url": {"type": "string"}, "type": {"type": "string", "enum": ["first_frame", "end_frame"]}}}},
                        "element_list": {"type": "array", "maxItems": 7, "items": {"type": "object", "required": ["element_id"]}},
                        "video_list": {"type": "array", "maxItems": 1, "items": {"type": "object", "required": ["video_url"], "properties": {
                            "video_url": {"type": "string"}, "refer_type": {"type": "string", "enum": ["feature", "base"], "default": "base"},
                            "keep_original_sound": {"type": "string", "enum": ["yes", "no"]}}}},
                        "sound": {"type": "string", "enum": ["on", "off"], "default": "off"},
                        "mode": {"type": "string", "enum": ["std", "pro"], "default": "pro"},
                        "aspect_ratio": {"type": "string", "enum": ["16:9", "9:16", "1:1"]},
                        "duration": {"type": ["string", "integer"], "default": "5", "description": "3 to 15 s (kling-video-o1: 3 to 10)."},
                        "watermark_info": schema_ref("WatermarkInfo"),
                        "callback_url": schema_ref("CallbackUrl"),
                        "external_task_id": schema_ref("ExternalTaskId"),
                    },
                    "examples": [{"prompt": "A paper boat on a stream", "aspect_ratio": "16:9", "duration": "5"}],
                }),
            ),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<CreateOmniVideo, KlingError> {
        CreateOmniVideo::parse(v.as_object().unwrap())
    }
    fn err(v: Value) -> String {
        parse(v).unwrap_err().message.to_string()
    }

    #[test]
    fn rules_of_the_document() {
        let img = |t: Option<&str>| match t {
            Some(t) => json!({"image_url": "https://x.example/a.jpg", "type": t}),
            None => json!({"image_url": "https://x.example/a.jpg"}),
        };
        let r = parse(json!({"prompt": "p", "aspect_ratio": "16:9"})).unwrap();
        assert_eq!(
            (r.out.model.name, r.out.pro, r.out.size, r.out.fps),
            ("kling-video-o1", true, (1920, 1080), 24)
        );
        assert!(err(json!({"prompt": "p"})).starts_with("aspect_ratio must not be null"));
        assert!(parse(json!({"prompt": "p", "image_list": [img(Some("first_frame"))]})).is_ok());
        assert!(
            err(json!({"prompt": "p", "image_list": [img(Some("end_frame"))]}))
                .contains("needs a first_frame")
        );
        assert_eq!(
            err(json!({"prompt": "p", "aspect_ratio": "1:1", "duration": "7"})),
            "Duration only supports 5 or 10 seconds when no refer_image is provided"
        );
        assert!(parse(json!({"prompt": "p", "aspect_ratio": "1:1", "duration": "7", "image_list": [img(None), img(None)]})).is_ok());
        assert!(parse(json!({"prompt": "p", "aspect_ratio": "1:1", "duration": "6", "image_list": [img(None)]})).is_ok());
        assert!(
            err(json!({"prompt": "p", "duration": "6", "image_list": [img(Some("first_frame"))]}))
                .starts_with("Duration only supports 5 or 10")
        );
        assert!(err(json!({"prompt": "p", "aspect_ratio": "1:1", "duration": "12", "image_list": [img(None), img(None)]})).contains("allowed values for kling-video-o1: 3 to 10"));
        let vid = json!([{"video_url": "https://x.example/v.mp4", "refer_type": "feature"}]);
        assert!(
            err(json!({"prompt": "p", "aspect_ratio": "1:1", "video_list": vid, "sound": "on"}))
                .starts_with("sound must be off")
        );
        let five: Vec<Value> = (0..5).map(|_| img(None)).collect();
        assert!(
            err(
                json!({"prompt": "p", "aspect_ratio": "1:1", "video_list": vid, "image_list": five})
            )
            .contains("at most 4 references together with a reference video")
        );
        let base = json!([{"video_url": "https://x.example/v.mp4"}]);
        assert!(parse(json!({"prompt": "p", "video_list": base})).is_ok());
        // A base video ignores duration.
        assert!(parse(json!({"prompt": "p", "video_list": base, "duration": "60"})).is_ok());
        assert!(
            err(
                json!({"prompt": "p", "video_list": base, "image_list": [img(Some("first_frame"))]})
            )
            .contains("base video")
        );
        assert!(err(json!({"prompt": "p", "aspect_ratio": "1:1", "video_list": [{"video_url": "https://x.example/v.avi"}]})).contains(".mp4/.mov"));
        assert!(err(json!({"model_name": "kling-video-o1", "multi_shot": true, "shot_type": "intelligence", "prompt": "p", "aspect_ratio": "1:1"})).contains("multi_shot is not supported by kling-video-o1"));
        assert!(parse(json!({"model_name": "kling-v3-omni", "multi_shot": true, "shot_type": "intelligence", "prompt": "p", "aspect_ratio": "1:1", "duration": 12})).is_ok());
    }
}
