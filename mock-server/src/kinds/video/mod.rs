//! What the video families share (SOURCES.md: Text to Video, Image to Video, Capability Map):
//! the models and the capability map ([`models`]), input images ([`inputs`]), the fields every
//! video create reads (model, mode, duration, aspect ratio, sound, `cfg_scale`, camera control,
//! multi-shot, `watermark_info`, element and voice lists), the result `task_result.videos`
//! ([`Videos`]) and the planning of its MP4 files ([`make_video`]).
//!
//! Not a kind: each family is its own file (`text2video.rs`, `image2video.rs`, ...), which reads
//! its fields with these helpers in the order its document lists them.
//!
//! What real clients send is accepted (FIDELITY.md: video requests): `model` beside
//! `model_name` (ignored, as the documents say), `duration` as a number as well as the
//! documented string, `cfg_scale` sent to a v2 model (ignored), `multi_shot` as the string
//! `"true"`.

pub mod inputs;
pub mod models;

use super::Ctx;
use super::fields::{Fields, max_chars};
use crate::auth::Account;
use crate::error::KlingError;
use crate::media::{Label, MediaItem, MediaRef, Origin, VideoFacts, VideoFile, VideoSource};
use crate::wire::format_secs;
pub use models::{Family, Model};
use serde::Serialize;
use serde_json::{Map, Value, json};

/// Longest `prompt` / `negative_prompt`, characters.
pub const MAX_PROMPT: usize = 2500;
/// Longest prompt of one shot of `multi_prompt`, characters.
pub const MAX_SHOT_PROMPT: usize = 512;
/// Most shots of `multi_prompt`.
pub const MAX_SHOTS: usize = 6;

/// An enum field's value, or "`name` value 'x' is invalid; allowed values: a, b".
pub fn one_of(
    f: &Fields<'_>,
    name: &str,
    allowed: &[&'static str],
    default: Option<&'static str>,
) -> Result<Option<&'static str>, KlingError> {
    match f.opt_str(name)? {
        None => Ok(default),
        Some(v) => allowed
            .iter()
            .copied()
            .find(|a| *a == v)
            .map(Some)
            .ok_or_else(|| {
                KlingError::param(format!(
                    "{name} value '{v}' is invalid; allowed values: {}",
                    allowed.join(", ")
                ))
            }),
    }
}

/// `model_name` of a family: one of `allowed`, `default` when absent. The older `model` field is
/// ignored (the documents: it "behaves like an empty model_name").
pub fn model_name(
    f: &Fields<'_>,
    allowed: &[&'static str],
    default: &'static str,
) -> Result<&'static Model, KlingError> {
    let name = match f.opt_str("model_name")? {
        None => default,
        Some(v) => allowed.iter().copied().find(|a| *a == v).ok_or_else(|| {
            KlingError::param(format!(
                "model is not supported: model_name '{v}'; allowed values: {}",
                allowed.join(", ")
            ))
        })?,
    };
    Ok(models::model(name).expect("every allowed model is in the capability map"))
}

/// `mode`: `std` | `pro`, `default` when absent; `true` for pro.
pub fn mode(f: &Fields<'_>, default: &'static str) -> Result<bool, KlingError> {
    Ok(one_of(f, "mode", &["std", "pro"], Some(default))? == Some("pro"))
}

/// `duration`: the documented string (`"5"`) or a number (`5`, as some clients send it), whole
/// seconds; `None` when absent.
pub fn duration(f: &Fields<'_>) -> Result<Option<u32>, KlingError> {
    let raw = match body_value(f, "duration") {
        None => return Ok(None),
        Some(v) => v,
    };
    let shown = match raw {
        Value::String(s) if s.is_empty() => return Ok(None),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => {
            return Err(KlingError::param(format!(
                "duration must be a string of whole seconds, got {}",
                super::fields::json_kind(other)
            )));
        }
    };
    let secs = shown
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.fract() == 0.0 && *s >= 1.0 && *s <= 3600.0);
    secs.map(|s| Some(s as u32))
        .ok_or_else(|| KlingError::param(format!("duration value '{shown}' is invalid")))
}

/// Refuse `secs` if `model` does not make videos that long.
pub fn check_duration(model: &Model, secs: u32) -> Result<(), KlingError> {
    if model.durations.allows(secs) {
        return Ok(());
    }
    Err(KlingError::param(format!(
        "duration value '{secs}' is invalid; allowed values for {}: {}",
        model.name,
        model.durations.describe()
    )))
}

fn body_value<'a>(f: &Fields<'a>, name: &str) -> Option<&'a Value> {
    f.raw_value(name)
}

/// `aspect_ratio`: one of `16:9`, `9:16`, `1:1`; `default` when absent.
pub fn aspect_ratio(
    f: &Fields<'_>,
    default: Option<&'static str>,
) -> Result<Option<(u32, u32)>, KlingError> {
    Ok(
        one_of(f, "aspect_ratio", &["16:9", "9:16", "1:1"], default)?.map(|r| match r {
            "9:16" => (9, 16),
            "1:1" => (1, 1),
            _ => (16, 9),
        }),
    )
}

/// `sound`: `on` | `off` (default `off`); `true` for on. The model's support is checked by
/// [`check_option`].
pub fn sound(f: &Fields<'_>) -> Result<bool, KlingError> {
    Ok(one_of(f, "sound", &["on", "off"], Some("off"))? == Some("on"))
}

/// `cfg_scale`: a number in [0, 1]. Accepted for every model: the documents say v2.x models do
/// not support it, and clients send it to them anyway (it is ignored).
pub fn cfg_scale(f: &Fields<'_>) -> Result<(), KlingError> {
    if let Some(c) = f.opt_number("cfg_scale")?
        && !(0.0..=1.0).contains(&c)
    {
        return Err(KlingError::param(format!(
            "cfg_scale must be between 0 and 1, got {c}"
        )));
    }
    Ok(())
}

/// `prompt` or `negative_prompt`: at most 2500 characters; `None` when absent or blank.
pub fn prompt(f: &Fields<'_>, name: &str) -> Result<Option<String>, KlingError> {
    let p = f.opt_str(name)?;
    if let Some(p) = p {
        max_chars(name, p, MAX_PROMPT)?;
    }
    Ok(p.filter(|p| !p.trim().is_empty()).map(str::to_owned))
}

/// `prompt` where it is required (unless the caller gives the shots: multi-shot `customize`):
/// "must not be null" when absent, "must not be blank" when empty.
pub fn required_prompt(f: &Fields<'_>, shots: &Shots) -> Result<(), KlingError> {
    if prompt(f, "prompt")?.is_none() && !matches!(shots, Shots::Customize(_)) {
        return Err(KlingError::param(match f.raw_value("prompt") {
            None => "prompt must not be null",
            Some(_) => "prompt must not be blank",
        }));
    }
    Ok(())
}

/// `watermark_info.enabled` (default false).
pub fn watermark(f: &Fields<'_>) -> Result<bool, KlingError> {
    match body_value(f, "watermark_info") {
        None => Ok(false),
        Some(Value::Object(o)) => match o.get("enabled") {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(KlingError::param(format!(
                "watermark_info.enabled must be a boolean, got {}",
                super::fields::json_kind(other)
            ))),
        },
        Some(other) => Err(KlingError::param(format!(
            "watermark_info must be an object, got {}",
            super::fields::json_kind(other)
        ))),
    }
}

/// A boolean that clients also send as the string `"true"` / `"false"` (the official examples
/// send `"multi_shot": "true"`).
pub fn loose_bool(f: &Fields<'_>, name: &str) -> Result<bool, KlingError> {
    match body_value(f, name) {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if s.is_empty() || s == "false" => Ok(false),
        Some(Value::String(s)) if s == "true" => Ok(true),
        Some(other) => Err(KlingError::param(format!(
            "{name} must be a boolean (true or false), got {}",
            match other {
                Value::String(s) => format!("'{s}'"),
                o => super::fields::json_kind(o).to_string(),
            }
        ))),
    }
}

/// An array field: its items (objects), at most `max`; empty when absent.
pub fn object_list<'a>(
    f: &Fields<'a>,
    name: &str,
    max: usize,
) -> Result<Vec<&'a Map<String, Value>>, KlingError> {
    let items = match body_value(f, name) {
        None => return Ok(Vec::new()),
        Some(Value::Array(a)) => a,
        Some(other) => {
            return Err(KlingError::param(format!(
                "{name} must be an array, got {}",
                super::fields::json_kind(other)
            )));
        }
    };
    if items.len() > max {
        return Err(KlingError::param(format!(
            "{name} must have at most {max} items, got {}",
            items.len()
        )));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, v)| {
            v.as_object()
                .ok_or_else(|| KlingError::param(format!("{name}[{i}] must be an object")))
        })
        .collect()
}

/// The pictures of a list of objects (`image_list: [{image}]`): field `key` of each item, a URL
/// or raw Base64, named by its place (`image_list[0].image`); at most `max` items.
pub fn image_items(
    f: &Fields<'_>,
    name: &str,
    key: &str,
    max: usize,
) -> Result<Vec<(String, inputs::Image)>, KlingError> {
    object_list(f, name, max)?
        .into_iter()
        .enumerate()
        .map(|(i, o)| {
            let field = format!("{name}[{i}].{key}");
            let v = Fields::new(o)
                .opt_str(key)
                .map_err(|e| KlingError::param(format!("{name}[{i}].{}", e.message)))?
                .ok_or_else(|| KlingError::param(format!("{field} must not be null")))?;
            Ok((field.clone(), inputs::Image::parse(&field, v)?))
        })
        .collect()
}

/// `element_list`: `[{element_id}]`, at most `max` (ids are numbers or numeric strings; whether
/// they name elements the caller may use is checked by the kind's `resolve`, with
/// [`super::elements::check_element_list`]).
pub fn element_list(f: &Fields<'_>, max: usize) -> Result<Vec<u64>, KlingError> {
    object_list(f, "element_list", max)?
        .into_iter()
        .enumerate()
        .map(|(i, o)| id_field(o, "element_list", i, "element_id"))
        .collect()
}

/// `voice_list`: `[{voice_id}]`, at most `max`.
pub fn voice_list(f: &Fields<'_>, max: usize) -> Result<Vec<String>, KlingError> {
    object_list(f, "voice_list", max)?
        .into_iter()
        .enumerate()
        .map(|(i, o)| match o.get("voice_id") {
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
            Some(Value::Number(n)) => Ok(n.to_string()),
            _ => Err(KlingError::param(format!(
                "voice_list[{i}].voice_id must not be null"
            ))),
        })
        .collect()
}

fn id_field(o: &Map<String, Value>, list: &str, i: usize, name: &str) -> Result<u64, KlingError> {
    match o.get(name) {
        Some(Value::Number(n)) if n.as_u64().is_some() => Ok(n.as_u64().unwrap_or_default()),
        Some(Value::String(s)) if s.parse::<u64>().is_ok() => Ok(s.parse().unwrap_or_default()),
        None | Some(Value::Null) => Err(KlingError::param(format!(
            "{list}[{i}].{name} must not be null"
        ))),
        Some(_) => Err(KlingError::param(format!(
            "{list}[{i}].{name} must be a numeric id"
        ))),
    }
}

/// `camera_control` (SOURCES.md: Text to Video): `type` one of five; `config` required for
/// `simple` and absent otherwise, six axes in [-10, 10] with exactly one non-zero.
#[derive(Clone, Debug, PartialEq)]
pub struct Camera {
    /// `type`.
    pub kind: &'static str,
}

/// Read `camera_control`, if present.
pub fn camera_control(f: &Fields<'_>) -> Result<Option<Camera>, KlingError> {
    let o = match body_value(f, "camera_control") {
        None => return Ok(None),
        Some(Value::Object(o)) => o,
        Some(other) => {
            return Err(KlingError::param(format!(
                "camera_control must be an object, got {}",
                super::fields::json_kind(other)
            )));
        }
    };
    let cf = Fields::new(o);
    let kind = one_of(
        &cf,
        "type",
        &[
            "simple",
            "down_back",
            "forward_up",
            "right_turn_forward",
            "left_turn_forward",
        ],
        None,
    )
    .map_err(|e| prefix("camera_control.", e))?
    .ok_or_else(|| KlingError::param("camera_control.type must not be null"))?;
    let config = match cf.raw_value("config") {
        None => None,
        Some(Value::Object(c)) => Some(c),
        Some(other) => {
            return Err(KlingError::param(format!(
                "camera_control.config must be an object, got {}",
                super::fields::json_kind(other)
            )));
        }
    };
    match (kind, config) {
        ("simple", None) => Err(KlingError::param(
            "camera_control.config must not be null when camera_control.type is simple",
        )),
        ("simple", Some(c)) => {
            let cc = Fields::new(c);
            let mut nonzero = Vec::new();
            for axis in ["horizontal", "vertical", "pan", "tilt", "roll", "zoom"] {
                let v = cc
                    .opt_number(axis)
                    .map_err(|e| prefix("camera_control.config.", e))?
                    .unwrap_or(0.0);
                if !(-10.0..=10.0).contains(&v) {
                    return Err(KlingError::param(format!(
                        "camera_control.config.{axis} must be between -10 and 10, got {v}"
                    )));
                }
                if v != 0.0 {
                    nonzero.push(axis);
                }
            }
            if nonzero.len() != 1 {
                return Err(KlingError::param(format!(
                    "camera_control.config must have exactly one non-zero value among horizontal, vertical, pan, tilt, roll, zoom, got {}",
                    if nonzero.is_empty() {
                        "none".to_string()
                    } else {
                        nonzero.join(", ")
                    }
                )));
            }
            Ok(Some(Camera { kind }))
        }
        (_, Some(_)) => Err(KlingError::param(format!(
            "camera_control.config must be null when camera_control.type is {kind} (only simple takes a config)"
        ))),
        (_, None) => Ok(Some(Camera { kind })),
    }
}

fn prefix(p: &str, mut e: KlingError) -> KlingError {
    e.message = format!("{p}{}", e.message).into();
    e
}

/// Multi-shot fields (SOURCES.md: Video Omni, Text to Video): `multi_shot`, `shot_type`,
/// `multi_prompt`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Shots {
    /// One shot.
    Single,
    /// The model plans the shots from `prompt`.
    Intelligence,
    /// The caller's shots: their lengths, seconds.
    Customize(Vec<u32>),
}

/// Read the multi-shot fields. `secs` is the requested duration (the shots must sum to it).
pub fn shots(f: &Fields<'_>, model: &Model, secs: u32) -> Result<Shots, KlingError> {
    if !loose_bool(f, "multi_shot")? {
        return Ok(Shots::Single);
    }
    if !model.multi_shot {
        return Err(KlingError::param(format!(
            "multi_shot is not supported by {}",
            model.name
        )));
    }
    match one_of(f, "shot_type", &["customize", "intelligence"], None)? {
        None => Err(KlingError::param(
            "shot_type must not be null when multi_shot is true",
        )),
        Some("intelligence") => Ok(Shots::Intelligence),
        Some(_) => {
            let items = object_list(f, "multi_prompt", MAX_SHOTS)?;
            if items.is_empty() {
                return Err(KlingError::param(
                    "multi_prompt must not be empty when shot_type is customize",
                ));
            }
            let mut lens = Vec::with_capacity(items.len());
            for (i, o) in items.into_iter().enumerate() {
                let sf = Fields::new(o);
                if let Some(ix) = sf.raw_value("index")
                    && !ix.is_i64()
                {
                    return Err(KlingError::param(format!(
                        "multi_prompt[{i}].index must be an integer, got {}",
                        super::fields::json_kind(ix)
                    )));
                }
                let p = sf
                    .req_str("prompt")
                    .map_err(|e| prefix(&format!("multi_prompt[{i}]."), e))?;
                max_chars(&format!("multi_prompt[{i}].prompt"), p, MAX_SHOT_PROMPT)?;
                let d = duration(&sf)
                    .map_err(|e| prefix(&format!("multi_prompt[{i}]."), e))?
                    .ok_or_else(|| {
                        KlingError::param(format!("multi_prompt[{i}].duration must not be null"))
                    })?;
                if d < 1 || d > secs {
                    return Err(KlingError::param(format!(
                        "multi_prompt[{i}].duration must be between 1 and the video's duration {secs}, got {d}"
                    )));
                }
                lens.push(d);
            }
            let sum: u32 = lens.iter().sum();
            if sum != secs {
                return Err(KlingError::param(format!(
                    "the durations of multi_prompt must add up to duration {secs}, got {sum}"
                )));
            }
            Ok(Shots::Customize(lens))
        }
    }
}

/// Refuse an option the model does not offer in this mode and duration.
pub fn check_option(
    model: &Model,
    option: &str,
    when: models::When,
    pro: bool,
    secs: u32,
) -> Result<(), KlingError> {
    if when.allows(model.effective_pro(pro), secs) {
        return Ok(());
    }
    let mode = if model.effective_pro(pro) {
        "pro"
    } else {
        "std"
    };
    Err(KlingError::param(match when {
        models::When::No => format!("{option} is not supported by {}", model.name),
        w => format!(
            "{option} is supported by {} {} (got {mode} mode, {secs} s)",
            model.name,
            w.describe()
        ),
    }))
}

/// What a video task makes: one video of this shape.
#[derive(Clone, Debug, PartialEq)]
pub struct Output {
    /// The model.
    pub model: &'static Model,
    /// Pro mode (as it applies to the model).
    pub pro: bool,
    /// Width, height, px.
    pub size: (u32, u32),
    /// Frames per second.
    pub fps: u32,
    /// Length, whole seconds (for a video longer than whole seconds, see `frames`).
    pub frames: u32,
    /// An audio track.
    pub sound: bool,
    /// A watermarked copy too.
    pub watermark: bool,
    /// How a custom voice may treat it.
    pub source: VideoSource,
    /// `final_unit_deduction`.
    pub units: f64,
    /// What the picture is labelled with instead of model and mode (an effect's scene).
    pub tag: Option<Label>,
}

impl Output {
    /// A video of `model` for `family`, `secs` long, in the shape `ratio` (or of an input image
    /// `like`, else 16:9).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        model: &'static Model,
        family: Family,
        pro: bool,
        secs: u32,
        ratio: Option<(u32, u32)>,
        like: Option<(u32, u32)>,
        sound: bool,
        watermark: bool,
    ) -> Output {
        let pro = model.effective_pro(pro);
        let height = model.height(pro);
        let size = match (ratio, like) {
            (Some(r), _) => models::frame_size(height, r),
            (None, Some((w, h))) => models::frame_size_like(height, w, h),
            (None, None) => models::frame_size(height, (16, 9)),
        };
        let fps = match family {
            Family::Text => model.fps.0,
            _ => model.fps.1,
        };
        let source = if model.name == "kling-v2-6" && sound {
            VideoSource::V26WithSound
        } else {
            VideoSource::Other
        };
        Output {
            model,
            pro,
            size,
            fps,
            frames: secs * fps,
            sound,
            watermark,
            source,
            units: models::units(model, family, pro, secs, sound, false),
            tag: None,
        }
    }

    /// Take the shape of an input image of `w × h` (measured after [`Output::new`], a downloaded
    /// image): the height of the model and mode, the image's aspect ratio.
    pub fn take_shape(&mut self, (w, h): (u32, u32)) {
        self.size = models::frame_size_like(self.model.height(self.pro), w, h);
    }

    /// The label drawn on the picture: model and mode.
    pub fn label(&self) -> Label {
        if let Some(tag) = self.tag {
            return tag;
        }
        let mode = if self.pro { "pro" } else { "std" };
        Label::new(&format!("{} {mode}", self.model.name))
    }

    /// `final_unit_deduction` as Kling writes it (`"2.5"`, `"10"`).
    pub fn deduction(&self) -> String {
        format_secs(self.units)
    }
}

/// One video of `task_result.videos`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct VideoOut {
    /// `id`.
    pub id: u64,
    /// The file behind `url`.
    pub file: MediaRef,
    /// The file behind `watermark_url` (when `watermark_info.enabled`).
    pub marked: Option<MediaRef>,
}

/// The video a task started from (`task_info.parent_video` of an extension).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Parent {
    /// Its id.
    pub id: u64,
    /// Its file.
    pub file: MediaRef,
}

/// The result of every video family: `task_result.videos`, plus what the request decided that
/// every status shows (`watermark_info`, a parent video) and the cost.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Videos {
    /// The videos.
    pub videos: Vec<VideoOut>,
    /// `watermark_info.enabled`.
    pub watermark: bool,
    /// `final_unit_deduction` once succeeded.
    pub deduction: Box<str>,
    /// `task_info.parent_video`.
    pub parent: Option<Parent>,
}

#[derive(Serialize)]
struct WireVideo {
    id: String,
    url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    watermark_url: Option<String>,
    duration: String,
}

#[derive(Serialize)]
struct WireVideos {
    videos: Vec<WireVideo>,
}

impl super::KindResult for Videos {
    fn wire<'a>(&'a self, base: &'a str) -> Box<dyn erased_serde::Serialize + 'a> {
        Box::new(WireVideos {
            videos: self
                .videos
                .iter()
                .map(|v| WireVideo {
                    id: v.id.to_string(),
                    url: v.file.url(base),
                    watermark_url: v.marked.map(|m| m.url(base)),
                    duration: format_secs(v.file.duration_secs()),
                })
                .collect(),
        })
    }

    fn task_info(&self, base: &str) -> Vec<(&'static str, Value)> {
        match &self.parent {
            Some(p) => vec![(
                "parent_video",
                json!({
                    "id": p.id.to_string(),
                    "url": p.file.url(base),
                    "duration": format_secs(p.file.duration_secs()),
                }),
            )],
            None => Vec::new(),
        }
    }

    fn extra(&self) -> Vec<(&'static str, Value)> {
        vec![("watermark_info", json!({"enabled": self.watermark}))]
    }

    fn deduction(&self) -> Option<&str> {
        Some(&self.deduction)
    }
}

/// Register the files and the id of one generated video (and its watermarked copy).
/// `chain_ms`: the length of the extension chain it ends (its own length when not an extension).
pub fn make_video(
    s: &Ctx<'_>,
    account: &Account,
    task_id: u64,
    now: i64,
    out: &Output,
    chain_ms: u64,
) -> VideoOut {
    let id = s.ids.next(now);
    let file = |watermark| VideoFile {
        task_id,
        video_id: id,
        width: out.size.0,
        height: out.size.1,
        fps: out.fps,
        frames: out.frames,
        sound: out.sound.then_some(id),
        watermark,
        label: out.label(),
        born: Some(now),
    };
    let token = s.entropy.token();
    let main = s.media.add_video(token, file(false));
    let marked = out
        .watermark
        .then(|| s.media.add_video(s.entropy.token(), file(true)));
    let duration_ms = u64::from(out.frames) * 1000 / u64::from(out.fps.max(1));
    s.media.add_video_item(
        id,
        MediaItem {
            account: account.idx,
            origin: Origin::Video(out.source),
            duration_ms,
            created_at: now,
        },
        VideoFacts {
            model: Label::new(out.model.name),
            pro: out.pro,
            sound: out.sound,
            file: token,
            width: out.size.0,
            height: out.size.1,
            fps: out.fps,
            frames: out.frames,
            chain_ms: chain_ms.max(duration_ms),
        },
    );
    VideoOut {
        id,
        file: main,
        marked,
    }
}

/// The result of a task making `out` (one video).
pub fn videos(
    s: &Ctx<'_>,
    account: &Account,
    task_id: u64,
    now: i64,
    out: &Output,
    parent: Option<Parent>,
    chain_ms: u64,
) -> Videos {
    Videos {
        videos: vec![make_video(s, account, task_id, now, out, chain_ms)],
        watermark: out.watermark,
        deduction: out.deduction().into(),
        parent,
    }
}

/// The OpenAPI schemas every video family shares.
pub fn shared_schemas() -> Vec<(&'static str, Value)> {
    use super::doc::*;
    vec![
        (
            "GeneratedVideo",
            json!({
                "type": "object",
                "required": ["id", "url", "duration"],
                "properties": {
                    "id": id_schema(),
                    "url": {"type": "string", "format": "uri", "description": "An MP4 (H.264, with an MP3 audio track when the video has sound)."},
                    "watermark_url": {"type": "string", "format": "uri", "description": "The same video, watermarked; only when watermark_info.enabled was true."},
                    "duration": {"type": "string", "description": "Seconds."},
                },
            }),
        ),
        (
            "WatermarkInfo",
            json!({
                "type": "object",
                "properties": {"enabled": {"type": "boolean", "default": false}},
            }),
        ),
    ]
}
