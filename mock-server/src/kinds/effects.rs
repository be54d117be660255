//! Video effects: `POST /v1/videos/effects` (SOURCES.md: Video Effects).
//!
//! Request: `effect_scene` (required: one of the scenes of `fixtures/effect-scenes.json`),
//! `input` (required object), `watermark_info`, `callback_url`, `external_task_id`.
//! * A single-image scene: `input.image` (URL or raw Base64), `input.duration` (`5` | `10`,
//!   default 5; the newest page has no duration, the Chinese 2026 page has both).
//! * A dual-image scene: `input.images`, exactly two (the first on the left of the composite,
//!   the second on the right), `input.duration` `5` only.
//! * An older dual-character scene (`hug`, `kiss`, `heart_gesture`, `fight`): `input.images`
//!   (two), `input.model_name` (kling-v1, v1-5 or v1-6, default kling-v1; `fight` kling-v1-6
//!   only), `input.mode` (std | pro), `input.duration` (`5` | `10`).
//!
//! Result: `task_result.videos[{id, url, watermark_url, duration}]`: an MP4 (720p, the single
//! image's shape or 16:9 for two; 1080p for an older scene in pro mode) labelled with its scene.
//! The scene list is data: one fixture file, easy to update when Kling adds scenes.

use super::Ctx;
use super::fields::{Common, Fields};
use super::video::{self, Family, Output, inputs::Image};
use crate::auth::Account;
use crate::engine::Plan;
use crate::error::KlingError;
use crate::kinds::TaskResult;
use crate::media::Label;
use serde_json::{Map, Value};
use std::sync::OnceLock;

/// The kind: its paths, limits, timings and cost (see [`super::KindSpec`]).
pub static SPEC: super::KindSpec = super::KindSpec {
    id: super::KindId::new("effects"),
    path: "/v1/videos/effects",
    mode: super::Mode::Task {
        query: "/v1/videos/effects/{id}",
        result: super::result_type::<video::Videos>("Videos"),
        parse: |body| Ok(Box::new(CreateEffect::parse(body)?)),
    },
    max_page_size: 500,
    lifecycle: super::DEFAULT_TASK_LIFECYCLE,
    // --timing-profile realistic: ComfyUI's expected duration of an effects task: 320 s
    // (SOURCES.md: published clients).
    realistic: super::realistic(20_000, 300_000),
    pool: crate::engine::billing::Pool::Video,
    unit_deduction: "2",
    doc,
    extras: &[],
};

/// The scene catalogue (`fixtures/effect-scenes.json`).
pub struct Scenes {
    /// One picture in `input.image`.
    pub single: Vec<String>,
    /// Two pictures in `input.images`.
    pub dual: Vec<String>,
    /// The older dual-character scenes and the models each takes.
    pub legacy: Vec<(String, Vec<String>)>,
}

/// The catalogue, read once from the fixture compiled in.
pub fn scenes() -> &'static Scenes {
    static SCENES: OnceLock<Scenes> = OnceLock::new();
    SCENES.get_or_init(|| {
        let v: Value = serde_json::from_str(include_str!("../../../fixtures/effect-scenes.json"))
            .expect("fixtures/effect-scenes.json is valid JSON (a unit test reads it)");
        let list = |k: &str| -> Vec<String> {
            v[k].as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        let legacy = v["legacy_dual"]
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, m)| {
                        let models = m
                            .as_array()
                            .map(|a| {
                                a.iter()
                                    .filter_map(|s| s.as_str().map(str::to_owned))
                                    .collect()
                            })
                            .unwrap_or_default();
                        (k.clone(), models)
                    })
                    .collect()
            })
            .unwrap_or_default();
        Scenes {
            single: list("single"),
            dual: list("dual"),
            legacy,
        }
    })
}

/// What kind of scene a name is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SceneKind {
    /// One picture.
    Single,
    /// Two pictures.
    Dual,
    /// An older dual-character scene.
    Legacy,
}

/// The kind of `scene`, if the catalogue has it.
pub fn scene_kind(scene: &str) -> Option<SceneKind> {
    let s = scenes();
    if s.single.iter().any(|x| x == scene) {
        Some(SceneKind::Single)
    } else if s.dual.iter().any(|x| x == scene) {
        Some(SceneKind::Dual)
    } else if s.legacy.iter().any(|(x, _)| x == scene) {
        Some(SceneKind::Legacy)
    } else {
        None
    }
}

/// A validated create request.
#[derive(Clone, Debug)]
pub struct CreateEffect {
    /// `effect_scene`.
    pub scene: String,
    /// What the task makes.
    pub out: Output,
    /// The input pictures by field name.
    pub images: Vec<(String, Image)>,
    /// Why the task will fail (an input picture's size or shape).
    pub failure: Option<String>,
    /// `external_task_id`, `callback_url`.
    pub common: Common,
}

fn durations(f: &Fields<'_>, allowed: &[&'static str]) -> Result<u32, KlingError> {
    let secs = video::duration(f).map_err(prefix_input)?.unwrap_or(5);
    if !allowed.contains(&secs.to_string().as_str()) {
        return Err(KlingError::param(format!(
            "input.duration value '{secs}' is invalid for this effect_scene; allowed values: {}",
            allowed.join(", ")
        )));
    }
    Ok(secs)
}

fn prefix_input(mut e: KlingError) -> KlingError {
    e.message = format!("input.{}", e.message).into();
    e
}

fn two_images(f: &Fields<'_>) -> Result<Vec<(String, Image)>, KlingError> {
    let list = match f.raw_value("images") {
        None => return Err(KlingError::param("input.images must not be null")),
        Some(Value::Array(a)) => a,
        Some(other) => {
            return Err(KlingError::param(format!(
                "input.images must be an array, got {}",
                super::fields::json_kind(other)
            )));
        }
    };
    if list.len() != 2 {
        return Err(KlingError::param(format!(
            "input.images must have exactly 2 items (left, right), got {}",
            list.len()
        )));
    }
    list.iter()
        .enumerate()
        .map(|(i, v)| {
            let name = format!("input.images[{i}]");
            let s = v.as_str().filter(|s| !s.trim().is_empty()).ok_or_else(|| {
                KlingError::param(format!("{name} must be a URL or raw Base64 image"))
            })?;
            Ok((name.clone(), Image::parse(&name, s)?))
        })
        .collect()
}

impl CreateEffect {
    /// Validate a create body.
    pub fn parse(body: &Map<String, Value>) -> Result<Self, KlingError> {
        let f = Fields::new(body);
        let scene = f
            .opt_str("effect_scene")?
            .ok_or_else(|| KlingError::param("effect_scene must not be null"))?;
        let kind = scene_kind(scene).ok_or_else(|| {
            KlingError::param(format!(
                "effect_scene value '{scene}' is invalid; see the scene list of the Video Effects page ({} scenes, e.g. {})",
                scenes().single.len() + scenes().dual.len() + scenes().legacy.len(),
                scenes().single.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
            ))
        })?;
        let input = match f.raw_value("input") {
            Some(Value::Object(o)) => o,
            None => return Err(KlingError::param("input must not be null")),
            Some(other) => {
                return Err(KlingError::param(format!(
                    "input must be an object, got {}",
                    super::fields::json_kind(other)
                )));
            }
        };
        let inf = Fields::new(input);
        let v16 = video::models::model("kling-v1-6").expect("kling-v1-6 is in the capability map");
        let (model, pro, secs, images) = match kind {
            SceneKind::Single => {
                let img = inf.opt_str("image").map_err(prefix_input)?.ok_or_else(|| {
                    KlingError::param(format!(
                        "input.image must not be null (effect_scene {scene} takes one picture)"
                    ))
                })?;
                let secs = durations(&inf, &["5", "10"])?;
                (
                    v16,
                    false,
                    secs,
                    vec![("input.image".to_string(), Image::parse("input.image", img)?)],
                )
            }
            SceneKind::Dual => (v16, false, durations(&inf, &["5"])?, two_images(&inf)?),
            SceneKind::Legacy => {
                let allowed: Vec<&'static str> = scenes()
                    .legacy
                    .iter()
                    .find(|(s, _)| s == scene)
                    .map(|(_, m)| {
                        m.iter()
                            .filter_map(|m| video::models::model(m).map(|m| m.name))
                            .collect()
                    })
                    .unwrap_or_default();
                let default = allowed.first().copied().unwrap_or("kling-v1-6");
                let model = video::model_name(&inf, &allowed, default).map_err(prefix_input)?;
                let pro = video::mode(&inf, "std").map_err(prefix_input)?;
                (
                    model,
                    pro,
                    durations(&inf, &["5", "10"])?,
                    two_images(&inf)?,
                )
            }
        };
        let like = match kind {
            SceneKind::Single => images[0].1.size(),
            _ => None,
        };
        let mut out = Output::new(
            model,
            Family::Image,
            pro,
            secs,
            (kind != SceneKind::Single).then_some((16, 9)),
            like,
            false,
            video::watermark(&f)?,
        );
        out.units = video::models::units(model, Family::Image, out.pro, secs, false, false);
        let failure = images.iter().find_map(|(_, i)| i.failure());
        Ok(CreateEffect {
            scene: scene.to_string(),
            out,
            images,
            failure,
            common: Common::parse(&f)?,
        })
    }
}

impl CreateEffect {
    /// A single-image scene's video takes its picture's shape, once the picture is measured.
    fn single_shape(&mut self) {
        if let [(_, img)] = self.images.as_slice()
            && let Some(size) = img.size()
        {
            self.out.take_shape(size);
        }
    }
}

impl super::Job for CreateEffect {
    fn common(&self) -> &Common {
        &self.common
    }
    fn resolve(&mut self, s: &Ctx<'_>, _account: &Account) -> Result<(), KlingError> {
        if let Some(f) = video::inputs::own_files_check(s, &mut self.images)? {
            self.failure.get_or_insert(f);
        }
        self.single_shape();
        Ok(())
    }
    fn remote_images(&self) -> Vec<(String, String)> {
        video::inputs::remote(self.images.iter().map(|(n, i)| (n.clone(), i)))
    }
    fn measured(&mut self, field: &str, result: Result<(u32, u32), String>) {
        if let Some(f) = video::inputs::take_download_of(&mut self.images, field, result) {
            self.failure.get_or_insert(f);
        }
        self.single_shape();
    }
    fn cost(&self) -> Option<f64> {
        Some(self.out.units)
    }
    fn plan(&self, s: &Ctx<'_>, account: &Account, task_id: u64, now: i64) -> Plan {
        let mut out = self.out.clone();
        // The picture shows the scene rather than the model.
        out.tag = Some(Label::new(&format!("effect {}", self.scene)));
        Plan {
            result: TaskResult::new(video::videos(s, account, task_id, now, &out, None, 0)),
            failure: self.failure.clone(),
        }
    }
}

/// Its part of the OpenAPI document.
fn doc() -> super::doc::KindDoc {
    use super::doc::*;
    use serde_json::json;
    let s = scenes();
    let mut all: Vec<&str> = s.single.iter().map(String::as_str).collect();
    all.extend(s.dual.iter().map(String::as_str));
    all.extend(s.legacy.iter().map(|(n, _)| n.as_str()));
    let img = json!({"type": "string", "description": "URL or raw Base64 (.jpg/.jpeg/.png, ≤ 10 MB, sides ≥ 300 px, 1:2.5 to 2.5:1)."});
    let mut schemas = video::shared_schemas();
    schemas.push(("EffectsTask", super::text2video::video_task()));
    schemas.push((
        "EffectsRequest",
        json!({
            "type": "object",
            "required": ["effect_scene", "input"],
            "description": format!("Unknown fields are ignored. Dual-image scenes (input.images, two): {}. Older dual-character scenes (input.images, model_name, mode, duration): {}. Every other scene takes input.image.",
                s.dual.join(", "), s.legacy.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")),
            "properties": {
                "effect_scene": {"type": "string", "enum": all},
                "input": {"type": "object", "properties": {
                    "image": img,
                    "images": {"type": "array", "minItems": 2, "maxItems": 2, "items": img},
                    "duration": {"type": ["string", "integer"], "enum": ["5", "10", 5, 10], "default": "5", "description": "10 only for single-image and older dual-character scenes."},
                    "model_name": {"type": "string", "enum": ["kling-v1", "kling-v1-5", "kling-v1-6"], "description": "Older dual-character scenes only."},
                    "mode": {"type": "string", "enum": ["std", "pro"], "default": "std", "description": "Older dual-character scenes only."},
                }},
                "watermark_info": schema_ref("WatermarkInfo"),
                "callback_url": schema_ref("CallbackUrl"),
                "external_task_id": schema_ref("ExternalTaskId"),
            },
            "examples": [{"effect_scene": "hug_pro", "input": {"images": ["https://example.com/a.jpg", "https://example.com/b.jpg"]}}],
        }),
    ));
    KindDoc {
        tag: "video",
        ids: ["createEffect", "getEffect", "listEffect"],
        summaries: [
            "Create a video effects task",
            "One video effects task, by task_id or external_task_id",
            "The caller's video effects tasks, newest first",
        ],
        description: "SOURCES.md: Video Effects. The scene list is fixtures/effect-scenes.json.",
        request: "EffectsRequest",
        answer: "EffectsTask",
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

    fn parse(v: Value) -> Result<CreateEffect, KlingError> {
        CreateEffect::parse(v.as_object().unwrap())
    }

    fn err(v: Value) -> String {
        parse(v).unwrap_err().message.to_string()
    }

    #[test]
    fn the_catalogue_is_read_and_its_lists_are_apart() {
        let s = scenes();
        assert!(s.single.len() > 200, "{}", s.single.len());
        assert_eq!(s.dual.len(), 15);
        assert_eq!(s.legacy.len(), 4);
        for d in &s.dual {
            assert!(!s.single.contains(d), "{d} is in both lists");
        }
        assert_eq!(scene_kind("hug_pro"), Some(SceneKind::Dual));
        assert_eq!(scene_kind("pet_dance"), Some(SceneKind::Single));
        assert_eq!(scene_kind("fight"), Some(SceneKind::Legacy));
        assert_eq!(scene_kind("moonwalk_2099"), None);
    }

    #[test]
    fn each_scene_kind_takes_its_input_shape() {
        let a = png_b64(600, 900);
        let r =
            parse(json!({"effect_scene": "pet_dance", "input": {"image": a, "duration": "10"}}))
                .unwrap();
        assert_eq!(
            (r.out.size, r.out.frames, r.out.units),
            ((720, 1080), 300, 4.0)
        );
        let r = parse(json!({"effect_scene": "hug_pro", "input": {"images": [a, a]}})).unwrap();
        assert_eq!((r.out.size, r.out.frames), ((1280, 720), 150));
        let r = parse(json!({"effect_scene": "kiss", "input": {"images": [a, a], "model_name": "kling-v1-6", "mode": "pro", "duration": "10"}}))
            .unwrap();
        assert_eq!((r.out.size, r.out.units), ((1920, 1080), 7.0));
    }

    #[test]
    fn bad_inputs_name_the_field() {
        let a = png_b64(600, 900);
        assert_eq!(err(json!({"input": {}})), "effect_scene must not be null");
        assert!(
            err(json!({"effect_scene": "moonwalk_2099", "input": {}}))
                .starts_with("effect_scene value 'moonwalk_2099' is invalid")
        );
        assert_eq!(
            err(json!({"effect_scene": "pet_dance"})),
            "input must not be null"
        );
        assert!(
            err(json!({"effect_scene": "pet_dance", "input": {}}))
                .starts_with("input.image must not be null")
        );
        assert_eq!(
            err(json!({"effect_scene": "hug_pro", "input": {"images": [a]}})),
            "input.images must have exactly 2 items (left, right), got 1"
        );
        assert!(
            err(json!({"effect_scene": "hug_pro", "input": {"images": [a, a], "duration": "10"}}))
                .starts_with(
                    "input.duration value '10' is invalid for this effect_scene; allowed values: 5"
                )
        );
        assert!(err(json!({"effect_scene": "fight", "input": {"images": [a, a], "model_name": "kling-v1"}}))
            .starts_with("input.model is not supported"));
        let r = parse(json!({"effect_scene": "pet_dance", "input": {"image": png_b64(200, 200)}}))
            .unwrap();
        assert_eq!(r.failure.as_deref(), Some("Image pixel is invalid"));
    }
}
