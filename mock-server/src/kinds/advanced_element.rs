//! Advanced custom elements: `POST /v1/general/advanced-custom-elements` (SOURCES.md: Elements),
//! its preset catalogue and the deletes of elements.
//!
//! Request: `element_name` (required, ≤ 20 characters), `element_description` (required, ≤ 100),
//! `reference_type` (required: `image_refer` | `video_refer`), `element_image_list` (required for
//! `image_refer`: `{frontal_image, refer_images: [{image_url}] (1–3)}`, images as everywhere:
//! URL or raw Base64, `.jpg/.jpeg/.png`), `element_video_list` (required for `video_refer`:
//! `{refer_videos: [{video_url}]}`, exactly one `.mp4/.mov`), `element_voice_id` (a preset voice
//! or the caller's own usable custom voice), `tag_list` (`[{tag_id}]`, `o_101`..`o_108`),
//! `callback_url`, `external_task_id`.
//! Result: `task_result.elements[{element_id, element_name, element_description, reference_type,
//! element_image_list, element_video_list, element_voice_info (when a voice is bound), tag_list,
//! owned_by, status}]`, `status` `succeed`, and `deleted` once its owner deleted it; cost "0"
//! (kling-clients.md: a live element create deducted "0" and took about 5 s).
//!
//! What the mock can check of the references, the task checks as the service would, by failing:
//! a picture too small or of the wrong shape, a URL of the mock's own that names no file, a
//! video of the mock's own that does not last 3–8 s.
//!
//! Extras: `GET /v1/general/advanced-presets-elements` (the preset catalogue,
//! `super::elements`), `POST /v1/general/delete-elements` and `POST
//! /v1/general/delete-advanced-elements` (the two names the documents give for one delete; both
//! delete the caller's advanced and legacy elements).

use super::Ctx;
use super::elements::{self, Lookup, PresetElement, name_and_description, tag_list, tag_name};
use super::fields::{Common, Fields};
use super::video::inputs::{self, Image};
use crate::auth::Account;
use crate::elements::{Element, Source};
use crate::engine::Plan;
use crate::error::KlingError;
use crate::kinds::TaskResult;
use crate::media::{Format, ImageFile, Label, MediaRef};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// Shortest and longest reference video, seconds (SOURCES.md: Elements).
pub const VIDEO_SECS: (f64, f64) = (3.0, 8.0);

/// `reference_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RefType {
    /// `image_refer`: a frontal picture and 1–3 more.
    Image,
    /// `video_refer`: one video.
    Video,
}

impl RefType {
    /// The wire value.
    pub const fn as_str(self) -> &'static str {
        match self {
            RefType::Image => "image_refer",
            RefType::Video => "video_refer",
        }
    }
}

/// A validated create request.
#[derive(Clone, Debug, PartialEq)]
pub struct CreateAdvancedElement {
    /// `element_name`.
    pub name: String,
    /// `element_description`.
    pub description: String,
    /// `reference_type`.
    pub reference_type: RefType,
    /// `element_image_list`: the frontal picture, then the reference pictures (image_refer).
    pub images: Vec<(String, Image)>,
    /// `element_video_list.refer_videos[0].video_url` (video_refer).
    pub video: Option<String>,
    /// `element_voice_id`.
    pub voice_id: Option<String>,
    /// The bound voice, once [`super::Job::resolve`] found it.
    pub voice: Option<VoiceInfo>,
    /// `tag_list`.
    pub tags: Vec<&'static str>,
    /// Why the task will fail.
    pub failure: Option<String>,
    /// `external_task_id`, `callback_url`.
    pub common: Common,
}

/// An object field `name` of `o` (required: `why` says when).
fn object<'a>(
    v: Option<&'a Value>,
    name: &str,
    why: &str,
) -> Result<&'a Map<String, Value>, KlingError> {
    match v {
        None | Some(Value::Null) => Err(KlingError::param(format!("{name} is required {why}"))),
        Some(Value::Object(o)) => Ok(o),
        Some(other) => Err(KlingError::param(format!(
            "{name} must be an object, got {}",
            super::fields::json_kind(other)
        ))),
    }
}

/// An array field `name` of `o` with `min`..=`max` objects.
fn objects<'a>(
    o: &'a Map<String, Value>,
    name: &str,
    (min, max): (usize, usize),
) -> Result<Vec<&'a Map<String, Value>>, KlingError> {
    let items = match o.get(name.rsplit('.').next().unwrap_or(name)) {
        None | Some(Value::Null) => return Err(KlingError::param(format!("{name} is required"))),
        Some(Value::Array(a)) => a,
        Some(other) => {
            return Err(KlingError::param(format!(
                "{name} must be an array, got {}",
                super::fields::json_kind(other)
            )));
        }
    };
    if !(min..=max).contains(&items.len()) {
        let count = if min == max {
            format!("exactly {min} item{}", if min == 1 { "" } else { "s" })
        } else {
            format!("{min} to {max} items")
        };
        return Err(KlingError::param(format!(
            "{name} must have {count}, got {}",
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

/// A required string field `key` of `o`, named `name` in messages.
pub fn str_in<'a>(o: &'a Map<String, Value>, key: &str, name: &str) -> Result<&'a str, KlingError> {
    match o.get(key) {
        None | Some(Value::Null) => Err(KlingError::param(format!("{name} is required"))),
        Some(Value::String(s)) if s.trim().is_empty() => {
            Err(KlingError::param(format!("{name} must not be blank")))
        }
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(KlingError::param(format!(
            "{name} must be a string, got {}",
            super::fields::json_kind(other)
        ))),
    }
}

/// Read `[{image_url}]` items as images named `{list}[i].image_url`.
pub fn image_urls(
    items: &[&Map<String, Value>],
    list: &str,
) -> Result<Vec<(String, Image)>, KlingError> {
    items
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let name = format!("{list}[{i}].image_url");
            let img = Image::parse(&name, str_in(o, "image_url", &name)?)?;
            Ok((name, img))
        })
        .collect()
}

impl CreateAdvancedElement {
    /// Validate a create body.
    pub fn parse(body: &Map<String, Value>) -> Result<Self, KlingError> {
        let f = Fields::new(body);
        let (name, description) = name_and_description(&f)?;
        let reference_type = match f.req_str("reference_type")? {
            "image_refer" => RefType::Image,
            "video_refer" => RefType::Video,
            other => {
                return Err(KlingError::param(format!(
                    "reference_type must be one of image_refer, video_refer, got '{other}'"
                )));
            }
        };
        let (mut images, mut video) = (Vec::new(), None);
        match reference_type {
            RefType::Image => {
                if f.raw_value("element_video_list").is_some() {
                    return Err(KlingError::param(
                        "element_video_list is only for reference_type video_refer",
                    ));
                }
                let list = object(
                    f.raw_value("element_image_list"),
                    "element_image_list",
                    "when reference_type is image_refer",
                )?;
                let frontal = "element_image_list.frontal_image";
                images.push((
                    frontal.to_string(),
                    Image::parse(frontal, str_in(list, "frontal_image", frontal)?)?,
                ));
                let refer = "element_image_list.refer_images";
                images.extend(image_urls(
                    &objects(list, refer, elements::REFER_IMAGES)?,
                    refer,
                )?);
            }
            RefType::Video => {
                if f.raw_value("element_image_list").is_some() {
                    return Err(KlingError::param(
                        "element_image_list is only for reference_type image_refer",
                    ));
                }
                let list = object(
                    f.raw_value("element_video_list"),
                    "element_video_list",
                    "when reference_type is video_refer",
                )?;
                let refer = "element_video_list.refer_videos";
                let items = objects(list, refer, (1, 1))?;
                let name = format!("{refer}[0].video_url");
                video = Some(inputs::video_url(
                    &name,
                    str_in(items[0], "video_url", &name)?,
                )?);
            }
        }
        let voice_id = f.opt_str("element_voice_id")?.map(str::to_string);
        let tags = tag_list(&f)?;
        let failure = images
            .iter()
            .find_map(|(n, i)| i.failure().map(|why| format!("{why} ({})", n.as_str())));
        Ok(CreateAdvancedElement {
            name,
            description,
            reference_type,
            images,
            video,
            voice_id,
            voice: None,
            tags,
            failure,
            common: Common::parse(&f)?,
        })
    }
}

/// The voice bound to an element (`element_voice_info`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoiceInfo {
    /// `voice_id`.
    pub voice_id: Box<str>,
    /// `voice_name`.
    pub voice_name: Box<str>,
    /// The file behind `trial_url`.
    pub trial: MediaRef,
    /// `owned_by`: `kling` for a preset voice, else the creator's numeric id.
    pub owned_by: Box<str>,
}

/// The voice `voice_id` as `account` may bind it: a preset voice (`presets-voices`) or one of
/// its own usable custom voices.
pub fn bindable_voice(s: &Ctx<'_>, account: &Account, voice_id: &str) -> Option<VoiceInfo> {
    if let Some(p) = s.voices.presets().iter().find(|p| p.voice_id == voice_id) {
        return Some(VoiceInfo {
            voice_id: p.voice_id.as_str().into(),
            voice_name: p.voice_name.as_str().into(),
            trial: p.trial,
            owned_by: "kling".into(),
        });
    }
    let v = super::custom_voice::usable_voice_info(s, account.idx, voice_id)?;
    Some(VoiceInfo {
        voice_id: v.voice_id.to_string().into(),
        voice_name: v.voice_name,
        trial: v.trial,
        owned_by: v.owned_by.to_string().into(),
    })
}

/// A picture of an element: the URL it was given by, or a file of the mock's own (made from
/// Base64 input, or a preset's).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Picture {
    /// The URL as given.
    Url(Box<str>),
    /// A file the mock serves.
    Own(MediaRef),
}

impl Picture {
    /// The URL shown, with the mock's own files rooted at `base`.
    pub fn url(&self, base: &str) -> String {
        match self {
            Picture::Url(u) => u.to_string(),
            Picture::Own(m) => m.url(base),
        }
    }

    /// The picture an input image becomes: a URL stays; Base64 becomes a PNG of the mock's of
    /// the same size (`seed`, `index` and `label` choose what it shows).
    pub fn of(
        s: &Ctx<'_>,
        img: &Image,
        seed: u64,
        (index, n): (u32, u32),
        label: &str,
        now: i64,
    ) -> Picture {
        match img {
            Image::Url(u) | Image::Fetched { url: u, .. } => Picture::Url(u.as_str().into()),
            Image::Inline { width, height } => Picture::Own(
                s.media.add_image(
                    s.entropy.token(),
                    ImageFile {
                        task_id: seed,
                        index,
                        n,
                        width: (*width)
                            .clamp(crate::media::image::MIN_SIDE, crate::media::image::MAX_SIDE),
                        height: (*height)
                            .clamp(crate::media::image::MIN_SIDE, crate::media::image::MAX_SIDE),
                        seed,
                        watermark: false,
                        label: Label::new(label),
                        format: Format::Png,
                        born: Some(now),
                    },
                ),
            ),
        }
    }
}

/// One element of `task_result.elements`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ElementOut {
    /// `element_id`.
    pub element_id: u64,
    /// `element_name`.
    pub name: Box<str>,
    /// `element_description`.
    pub description: Box<str>,
    /// `reference_type`.
    pub reference_type: RefType,
    /// The frontal picture, then the reference pictures (image_refer).
    pub pictures: Vec<Picture>,
    /// The reference video URL (video_refer).
    pub video: Option<Box<str>>,
    /// `element_voice_info`.
    pub voice: Option<VoiceInfo>,
    /// `tag_list[].tag_id`.
    pub tags: Vec<Box<str>>,
    /// `owned_by`: the creator's numeric id, or `kling`.
    pub owned_by: Box<str>,
    /// Deleted by its owner (`status: "deleted"`).
    pub deleted: bool,
}

/// `element_image_list` / `element_video_list` on the wire (both always present; the one the
/// reference type does not use is empty, FIDELITY.md: Elements).
#[derive(Serialize)]
struct WireImages {
    #[serde(skip_serializing_if = "Option::is_none")]
    frontal_image: Option<String>,
    refer_images: Vec<Value>,
}

#[derive(Serialize)]
struct WireVideos {
    refer_videos: Vec<Value>,
}

#[derive(Serialize)]
struct WireVoice {
    voice_id: String,
    voice_name: String,
    trial_url: String,
    owned_by: String,
}

#[derive(Serialize)]
struct WireElement {
    element_id: u64,
    element_name: String,
    element_description: String,
    reference_type: &'static str,
    element_image_list: WireImages,
    element_video_list: WireVideos,
    #[serde(skip_serializing_if = "Option::is_none")]
    element_voice_info: Option<WireVoice>,
    tag_list: Vec<Value>,
    owned_by: String,
    status: &'static str,
}

/// `tag_list` as results show it: `[{tag_id, tag_name}]`.
fn wire_tags<'a>(tags: impl IntoIterator<Item = &'a str>) -> Vec<Value> {
    tags.into_iter()
        .map(|t| json!({"tag_id": t, "tag_name": tag_name(t).unwrap_or_default()}))
        .collect()
}

impl ElementOut {
    fn to_wire(&self, base: &str) -> WireElement {
        let mut pics = self.pictures.iter().map(|p| p.url(base));
        WireElement {
            element_id: self.element_id,
            element_name: self.name.to_string(),
            element_description: self.description.to_string(),
            reference_type: self.reference_type.as_str(),
            element_image_list: WireImages {
                frontal_image: pics.next(),
                refer_images: pics.map(|u| json!({"image_url": u})).collect(),
            },
            element_video_list: WireVideos {
                refer_videos: self
                    .video
                    .iter()
                    .map(|u| json!({"video_url": &**u}))
                    .collect(),
            },
            element_voice_info: self.voice.as_ref().map(|v| WireVoice {
                voice_id: v.voice_id.to_string(),
                voice_name: v.voice_name.to_string(),
                trial_url: v.trial.url(base),
                owned_by: v.owned_by.to_string(),
            }),
            tag_list: wire_tags(self.tags.iter().map(|t| &**t)),
            owned_by: self.owned_by.to_string(),
            status: if self.deleted { "deleted" } else { "succeed" },
        }
    }

    /// A preset element as the preset lists show it.
    pub fn preset(p: &PresetElement) -> ElementOut {
        ElementOut {
            element_id: p.element_id,
            name: p.element_name.as_str().into(),
            description: p.element_description.as_str().into(),
            reference_type: RefType::Image,
            pictures: elements::preset_images(p)
                .into_iter()
                .map(Picture::Own)
                .collect(),
            video: None,
            voice: None,
            tags: p.tag_ids.iter().map(|t| t.as_str().into()).collect(),
            owned_by: "kling".into(),
            deleted: false,
        }
    }
}

/// The result of an advanced-element task: `task_result.elements`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Elements(pub Vec<ElementOut>);

#[derive(Serialize)]
struct WireElements {
    elements: Vec<WireElement>,
}

impl super::KindResult for Elements {
    fn wire<'a>(&'a self, base: &'a str) -> Box<dyn erased_serde::Serialize + 'a> {
        Box::new(WireElements {
            elements: self.0.iter().map(|e| e.to_wire(base)).collect(),
        })
    }
}

/// The kind: its paths, limits, timings and cost (see [`super::KindSpec`]).
pub static SPEC: super::KindSpec = super::KindSpec {
    id: super::KindId::new("advanced-element"),
    path: "/v1/general/advanced-custom-elements",
    mode: super::Mode::Task {
        query: "/v1/general/advanced-custom-elements/{id}",
        result: super::result_type::<Elements>("Elements"),
        parse: |body| Ok(Box::new(CreateAdvancedElement::parse(body)?)),
    },
    max_page_size: 500,
    lifecycle: super::DEFAULT_TASK_LIFECYCLE,
    // --timing-profile realistic: a live element create took about 5 s (kling-clients.md).
    realistic: super::realistic(1_000, 4_000),
    // Not documented; an element is made on the video side (FIDELITY.md: Elements).
    pool: crate::engine::billing::Pool::Video,
    // A live element create deducted "0" (kling-clients.md).
    unit_deduction: "0",
    doc,
    extras: &[
        super::Extra {
            method: super::ExtraMethod::Get,
            path: "/v1/general/advanced-presets-elements",
            handler: presets_list,
            doc: presets_doc,
        },
        super::Extra {
            method: super::ExtraMethod::Post,
            path: "/v1/general/delete-elements",
            handler: delete_element,
            doc: || delete_doc("deleteElement"),
        },
        super::Extra {
            method: super::ExtraMethod::Post,
            path: "/v1/general/delete-advanced-elements",
            handler: delete_element,
            doc: || delete_doc("deleteAdvancedElement"),
        },
    ],
};

impl super::Job for CreateAdvancedElement {
    fn common(&self) -> &Common {
        &self.common
    }
    fn resolve(&mut self, s: &Ctx<'_>, account: &Account) -> Result<(), KlingError> {
        if let Some(f) = inputs::own_files_check(s, &mut self.images)? {
            self.failure.get_or_insert(f);
        }
        if let Some(url) = &self.video {
            let name = "element_video_list.refer_videos[0].video_url";
            match inputs::own_video(s, url) {
                Ok(Some(v)) => {
                    let secs = v.frames as f64 / v.fps.max(1) as f64;
                    let (min, max) = VIDEO_SECS;
                    if !(min..=max).contains(&secs) {
                        self.failure.get_or_insert(format!(
                            "{name} must be 3 to 8 s long, got {secs:.3} s"
                        ));
                    }
                }
                Ok(None) => {}
                Err(reason) => {
                    self.failure.get_or_insert(reason);
                }
            }
        }
        if let Some(v) = &self.voice_id {
            self.voice = Some(bindable_voice(s, account, v).ok_or_else(|| {
                KlingError::param(format!("element_voice_id: Voice id not found: {v}"))
            })?);
        }
        Ok(())
    }
    fn remote_images(&self) -> Vec<(String, String)> {
        inputs::remote(self.images.iter().map(|(n, i)| (n.clone(), i)))
    }
    fn measured(&mut self, field: &str, result: Result<(u32, u32), String>) {
        if let Some(f) = inputs::take_download_of(&mut self.images, field, result) {
            self.failure.get_or_insert(f);
        }
    }
    fn plan(&self, s: &Ctx<'_>, account: &Account, task_id: u64, now: i64) -> Plan {
        let element_id = s.ids.next(now);
        s.elements.register(
            element_id,
            Element {
                account: account.idx,
                source: Source::Task(task_id),
                deleted: false,
            },
        );
        let pictures = self
            .images
            .iter()
            .enumerate()
            .map(|(i, (_, img))| {
                let at = (i as u32, self.images.len() as u32);
                Picture::of(s, img, element_id, at, &self.name, now)
            })
            .collect();
        Plan {
            result: TaskResult::new(Elements(vec![ElementOut {
                element_id,
                name: self.name.as_str().into(),
                description: self.description.as_str().into(),
                reference_type: self.reference_type,
                pictures,
                video: self.video.as_deref().map(Box::from),
                voice: self.voice.clone(),
                tags: self.tags.iter().map(|t| Box::from(*t)).collect(),
                owned_by: account.owner_id.to_string().into(),
                deleted: false,
            }])),
            failure: self.failure.clone(),
        }
    }
}

/// A preset list's item: task-like, without `task_info` or deductions, like `presets-voices`.
#[derive(Serialize)]
struct PresetItem<'a> {
    task_id: &'a str,
    task_status: &'static str,
    task_status_msg: &'static str,
    created_at: i64,
    updated_at: i64,
    task_result: WireElements,
}

/// `GET /v1/general/advanced-presets-elements?pageNum&pageSize` (pageSize [1, 500]).
fn presets_list(
    s: &Ctx<'_>,
    _: &Account,
    input: super::Input<'_>,
) -> Result<axum::response::Response, KlingError> {
    let super::Input::Query(q) = input else {
        return Err(KlingError::param("a query string was expected"));
    };
    let paging = super::fields::Paging::parse(q, 500)?;
    let base = s.engine.base_url();
    let items: Vec<PresetItem<'_>> = elements::presets()
        .iter()
        .skip(paging.offset())
        .take(paging.page_size as usize)
        .map(|p| PresetItem {
            task_id: &p.task_id,
            task_status: "succeed",
            task_status_msg: "",
            created_at: p.created_at,
            updated_at: p.created_at,
            task_result: WireElements {
                elements: vec![ElementOut::preset(p).to_wire(base)],
            },
        })
        .collect();
    Ok(crate::wire::data_response(&items))
}

#[derive(Serialize)]
struct Deleted {
    task_id: String,
    task_status: &'static str,
}

/// Read `element_id` (a number or a numeric string) of a body.
pub fn element_id(body: &Map<String, Value>) -> Result<u64, KlingError> {
    match body.get("element_id") {
        None | Some(Value::Null) => Err(KlingError::param("element_id is required")),
        Some(Value::Number(n)) if n.as_u64().is_some() => Ok(n.as_u64().unwrap_or_default()),
        Some(Value::String(s)) if s.trim().parse::<u64>().is_ok() => {
            Ok(s.trim().parse().unwrap_or_default())
        }
        Some(Value::String(s)) if s.trim().is_empty() => {
            Err(KlingError::param("element_id must not be blank"))
        }
        Some(_) => Err(KlingError::param("element_id must be a numeric id")),
    }
}

/// `POST /v1/general/delete-elements` and `/v1/general/delete-advanced-elements` `{element_id}`:
/// one of the caller's own elements (advanced, once its task succeeded, or legacy), not deleted
/// yet. Answers `{task_id, task_status: "succeed"}`: the creating task of an advanced element,
/// the element id of a legacy one (it has no task).
fn delete_element(
    s: &Ctx<'_>,
    account: &Account,
    input: super::Input<'_>,
) -> Result<axum::response::Response, KlingError> {
    let super::Input::Body(body) = input else {
        return Err(KlingError::param("a JSON body was expected"));
    };
    let id = element_id(body)?;
    let task_id = match elements::lookup(s, account.idx, id) {
        Lookup::Preset => {
            return Err(KlingError::param(format!(
                "element_id: Element {id} is a preset element: only your own elements can be deleted"
            )));
        }
        Lookup::Deleted => {
            return Err(KlingError::param(format!(
                "element_id: Element {id} has been deleted"
            )));
        }
        Lookup::Missing => {
            return Err(KlingError::param(format!(
                "element_id: Element not found by id: {id}"
            )));
        }
        Lookup::Own(Source::Task(task_id)) => {
            s.engine.replace_result(account.idx, task_id, |r| {
                let bytes = postcard::to_stdvec(r.saved()).ok()?;
                let Elements(mut els) = postcard::from_bytes(&bytes).ok()?;
                els.iter_mut()
                    .filter(|e| e.element_id == id)
                    .for_each(|e| e.deleted = true);
                Some(TaskResult::new(Elements(els)))
            });
            task_id
        }
        Lookup::Own(Source::Legacy(_)) => id,
    };
    s.elements.delete(account.idx, id);
    Ok(crate::wire::data_response(&Deleted {
        task_id: task_id.to_string(),
        task_status: "succeed",
    }))
}

fn presets_doc() -> super::doc::ExtraDoc {
    use super::doc::*;
    ExtraDoc {
        id: "listPresetAdvancedElements",
        summary: "The preset elements (`owned_by: \"kling\"`)",
        description: "The catalogue is made up for the mock (FIDELITY.md: Elements).",
        paging: Some(500),
        body: None,
        ok: (
            "A page of preset elements.",
            serde_json::json!({"type": "array", "items": schema_ref("PresetElementItem")}),
        ),
        field_rules: "",
    }
}

fn delete_doc(id: &'static str) -> super::doc::ExtraDoc {
    use super::doc::*;
    ExtraDoc {
        id,
        summary: "Delete one of the caller's elements (advanced or legacy)",
        description: "Both delete paths the documents name do the same. The element stays \
                      visible in its task with `status: \"deleted\"`; video creates naming it are \
                      refused.",
        paging: None,
        body: Some("DeleteElementRequest"),
        ok: ("The element was deleted.", schema_ref("DeletedElement")),
        field_rules: "element_id missing or not a numeric id; a preset element; not an element \
                      of the caller's (`element_id: Element not found by id: …`) or already \
                      deleted (`element_id: Element … has been deleted`)",
    }
}

/// Its part of the OpenAPI document.
fn doc() -> super::doc::KindDoc {
    use super::doc::*;
    let images = |desc: &str| json!({"type": "string", "minLength": 1, "description": format!("{desc} An http(s) URL or raw Base64 (.jpg/.jpeg/.png, ≤ 10 MB, sides ≥ 300 px, aspect 1:2.5–2.5:1).")});
    KindDoc {
        tag: "elements",
        ids: [
            "createAdvancedElement",
            "getAdvancedElement",
            "listAdvancedElements",
        ],
        summaries: [
            "Create an advanced custom element task",
            "One advanced element task, by task_id or external_task_id",
            "The caller's advanced element tasks, newest first",
        ],
        description: "SOURCES.md: Elements. The references are checked after creation: a \
                      picture too small or of the wrong shape, a URL of this mock's that names no \
                      file, a video of this mock's that does not last 3–8 s make the task fail \
                      with the reason in task_status_msg. element_voice_id must be a preset voice \
                      or a usable custom voice of the caller's.",
        request: "CreateAdvancedElementRequest",
        answer: "AdvancedElementTask",
        answer_description: "",
        field_rules: TASK_FIELD_RULES,
        schemas: vec![
            ("AdvancedElementTask", task_of("Element", "elements")),
            (
                "Element",
                json!({
                    "type": "object",
                    "required": ["element_id", "element_name", "element_description", "reference_type", "element_image_list", "element_video_list", "tag_list", "owned_by", "status"],
                    "properties": {
                        "element_id": {"type": "integer", "format": "int64"},
                        "element_name": {"type": "string"},
                        "element_description": {"type": "string"},
                        "reference_type": {"enum": ["image_refer", "video_refer"]},
                        "element_image_list": {
                            "type": "object",
                            "required": ["refer_images"],
                            "description": "Empty (no frontal_image, no refer_images) for video_refer.",
                            "properties": {
                                "frontal_image": {"type": "string", "format": "uri"},
                                "refer_images": {"type": "array", "items": {"type": "object", "required": ["image_url"], "properties": {"image_url": {"type": "string", "format": "uri"}}}},
                            },
                        },
                        "element_video_list": {
                            "type": "object",
                            "required": ["refer_videos"],
                            "description": "Empty for image_refer.",
                            "properties": {
                                "refer_videos": {"type": "array", "items": {"type": "object", "required": ["video_url"], "properties": {"video_url": {"type": "string", "format": "uri"}}}},
                            },
                        },
                        "element_voice_info": {
                            "type": "object",
                            "description": "Only when a voice is bound.",
                            "required": ["voice_id", "voice_name", "trial_url", "owned_by"],
                            "properties": {
                                "voice_id": {"type": "string"},
                                "voice_name": {"type": "string"},
                                "trial_url": {"type": "string", "format": "uri"},
                                "owned_by": {"type": "string"},
                            },
                        },
                        "tag_list": {"type": "array", "items": {"type": "object", "required": ["tag_id", "tag_name"], "properties": {"tag_id": {"type": "string"}, "tag_name": {"type": "string"}}}},
                        "owned_by": {"type": "string", "description": "The creator's numeric id, or `kling` for presets."},
                        "status": {"enum": ["succeed", "deleted"]},
                    },
                }),
            ),
            ("PresetElementItem", preset_item("elements", "Element")),
            ("DeletedElement", deleted_answer()),
            (
                "DeleteElementRequest",
                json!({
                    "type": "object",
                    "required": ["element_id"],
                    "properties": {
                        "element_id": {"type": ["integer", "string"], "description": "An element of the caller's (a number or a numeric string)."},
                    },
                }),
            ),
            (
                "CreateAdvancedElementRequest",
                json!({
                    "type": "object",
                    "required": ["element_name", "element_description", "reference_type"],
                    "description": "element_image_list is required for image_refer and refused for video_refer; element_video_list the other way round. Unknown fields are ignored.",
                    "properties": {
                        "element_name": nonblank(Some(elements::MAX_ELEMENT_NAME), "Name of the element (characters)."),
                        "element_description": nonblank(Some(elements::MAX_ELEMENT_DESCRIPTION), "Description of the element (characters)."),
                        "reference_type": {"enum": ["image_refer", "video_refer"]},
                        "element_image_list": {
                            "type": "object",
                            "required": ["frontal_image", "refer_images"],
                            "properties": {
                                "frontal_image": images("The frontal picture."),
                                "refer_images": {"type": "array", "minItems": 1, "maxItems": 3, "items": {"type": "object", "required": ["image_url"], "properties": {"image_url": images("A reference picture.")}}},
                            },
                        },
                        "element_video_list": {
                            "type": "object",
                            "required": ["refer_videos"],
                            "properties": {
                                "refer_videos": {"type": "array", "minItems": 1, "maxItems": 1, "items": {"type": "object", "required": ["video_url"], "properties": {"video_url": {"type": "string", "pattern": url_pattern(&["mp4", "mov"]), "description": "A .mp4/.mov video of 3–8 s."}}}},
                            },
                        },
                        "element_voice_id": {"type": ["string", "null"], "description": format!("A preset voice or a usable custom voice of the caller's. {ABSENT_OR_EMPTY}")},
                        "tag_list": {"type": "array", "maxItems": 8, "items": {"type": "object", "required": ["tag_id"], "properties": {"tag_id": {"enum": elements::TAGS.map(|(t, _)| t)}}}},
                        "callback_url": schema_ref("CallbackUrl"),
                        "external_task_id": schema_ref("ExternalTaskId"),
                    },
                    "examples": [{"element_name": "Knight", "element_description": "A knight in red armour", "reference_type": "image_refer", "element_image_list": {"frontal_image": "https://example.com/front.png", "refer_images": [{"image_url": "https://example.com/side.png"}]}, "tag_list": [{"tag_id": "o_102"}]}],
                }),
            ),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::video::inputs::tests::png_b64;

    fn parse(v: Value) -> Result<CreateAdvancedElement, KlingError> {
        CreateAdvancedElement::parse(v.as_object().unwrap())
    }

    fn err(v: Value) -> String {
        let e = parse(v).unwrap_err();
        assert_eq!(e.code, crate::error::Code::InvalidParameter);
        e.message.to_string()
    }

    fn image_body() -> Value {
        json!({
            "element_name": "Knight",
            "element_description": "A knight",
            "reference_type": "image_refer",
            "element_image_list": {
                "frontal_image": "https://example.com/front.png",
                "refer_images": [{"image_url": "https://example.com/side.png"}],
            },
            "tag_list": [{"tag_id": "o_102"}],
        })
    }

    fn with(mut v: Value, key: &str, val: Value) -> Value {
        v[key] = val;
        v
    }

    #[test]
    fn an_image_element_is_read() {
        let r = parse(image_body()).unwrap();
        assert_eq!(r.reference_type, RefType::Image);
        assert_eq!(r.images.len(), 2);
        assert_eq!(
            r.images[1].0,
            "element_image_list.refer_images[0].image_url"
        );
        assert_eq!(r.tags, vec!["o_102"]);
        assert_eq!((r.video, r.voice_id, r.failure), (None, None, None));
    }

    #[test]
    fn a_video_element_is_read() {
        let r = parse(json!({
            "element_name": "Dancer", "element_description": "d", "reference_type": "video_refer",
            "element_video_list": {"refer_videos": [{"video_url": "https://x.example/a.MOV"}]},
            "element_voice_id": "759810000000000029",
        }))
        .unwrap();
        assert_eq!(r.video.as_deref(), Some("https://x.example/a.MOV"));
        assert_eq!(r.voice_id.as_deref(), Some("759810000000000029"));
        assert!(r.images.is_empty());
    }

    #[test]
    fn the_reference_type_decides_which_list_is_required() {
        let b = image_body();
        assert_eq!(
            err(with(b.clone(), "reference_type", json!("audio_refer"))),
            "reference_type must be one of image_refer, video_refer, got 'audio_refer'"
        );
        let mut no_list = b.clone();
        no_list
            .as_object_mut()
            .unwrap()
            .remove("element_image_list");
        assert_eq!(
            err(no_list),
            "element_image_list is required when reference_type is image_refer"
        );
        assert_eq!(
            err(with(
                b.clone(),
                "element_video_list",
                json!({"refer_videos": []})
            )),
            "element_video_list is only for reference_type video_refer"
        );
        let v = with(b.clone(), "reference_type", json!("video_refer"));
        assert_eq!(
            err(v.clone()),
            "element_image_list is only for reference_type image_refer"
        );
        let mut v = v;
        v.as_object_mut().unwrap().remove("element_image_list");
        assert_eq!(
            err(v.clone()),
            "element_video_list is required when reference_type is video_refer"
        );
        assert_eq!(
            err(with(v.clone(), "element_video_list", json!([]))),
            "element_video_list must be an object, got an array"
        );
        assert_eq!(
            err(with(
                v.clone(),
                "element_video_list",
                json!({"refer_videos": [{"video_url": "https://x/a.mp4"}, {"video_url": "https://x/b.mp4"}]})
            )),
            "element_video_list.refer_videos must have exactly 1 item, got 2"
        );
        assert_eq!(
            err(with(
                v.clone(),
                "element_video_list",
                json!({"refer_videos": [{"video_url": "https://x/a.avi"}]})
            )),
            "element_video_list.refer_videos[0].video_url must be a .mp4/.mov video URL, got 'https://x/a.avi'"
        );
        assert_eq!(
            err(with(v, "element_video_list", json!({"refer_videos": [{}]}))),
            "element_video_list.refer_videos[0].video_url is required"
        );
    }

    #[test]
    fn image_lists_follow_the_image_rules() {
        let b = image_body();
        let list = |v: Value| with(b.clone(), "element_image_list", v);
        assert_eq!(
            err(list(
                json!({"refer_images": [{"image_url": "https://x/a.png"}]})
            )),
            "element_image_list.frontal_image is required"
        );
        assert_eq!(
            err(list(
                json!({"frontal_image": "https://x/a.png", "refer_images": []})
            )),
            "element_image_list.refer_images must have 1 to 3 items, got 0"
        );
        let four: Vec<Value> = (0..4)
            .map(|_| json!({"image_url": "https://x/a.png"}))
            .collect();
        assert_eq!(
            err(list(
                json!({"frontal_image": "https://x/a.png", "refer_images": four})
            )),
            "element_image_list.refer_images must have 1 to 3 items, got 4"
        );
        assert_eq!(
            err(list(json!({"frontal_image": "https://x/a.png"}))),
            "element_image_list.refer_images is required"
        );
        assert_eq!(
            err(list(
                json!({"frontal_image": "https://x/a.png", "refer_images": ["https://x/a.png"]})
            )),
            "element_image_list.refer_images[0] must be an object"
        );
        let gif = "R0lGODlhAQABAAAAACw=";
        assert_eq!(
            err(list(
                json!({"frontal_image": gif, "refer_images": [{"image_url": "https://x/a.png"}]})
            )),
            "element_image_list.frontal_image must be a .jpg/.jpeg/.png image"
        );
        assert!(
            err(list(json!({"frontal_image": "https://x/a.png", "refer_images": [{"image_url": "data:image/png;base64,AAAA"}]})))
                .starts_with("File is not in a valid base64 format: element_image_list.refer_images[0].image_url")
        );
        // A Base64 picture too small is taken, and the task fails naming it.
        let small = parse(list(json!({"frontal_image": png_b64(200, 400), "refer_images": [{"image_url": png_b64(500, 500)}]}))).unwrap();
        assert_eq!(
            small.failure.as_deref(),
            Some("Image pixel is invalid (element_image_list.frontal_image)")
        );
    }

    #[test]
    fn names_tags_and_voice_ids_have_their_rules() {
        let b = image_body();
        assert_eq!(
            err(with(b.clone(), "element_name", json!("x".repeat(21)))),
            "element_name must be at most 20 characters, got 21"
        );
        assert_eq!(
            err(with(b.clone(), "element_description", json!(null))),
            "element_description is required"
        );
        assert_eq!(
            err(with(b.clone(), "tag_list", json!([{"tag_id": "o_100"}]))),
            "tag_list[0].tag_id must be one of o_101, o_102, o_103, o_104, o_105, o_106, o_107, o_108, got 'o_100'"
        );
        assert_eq!(
            err(with(b.clone(), "element_voice_id", json!(5))),
            "element_voice_id must be a string, got a number"
        );
        assert!(
            parse(with(b, "element_voice_id", json!("")))
                .unwrap()
                .voice_id
                .is_none()
        );
    }

    #[test]
    fn delete_bodies_name_the_element_id() {
        let id = |v: Value| element_id(v.as_object().unwrap());
        assert_eq!(id(json!({"element_id": 12})).unwrap(), 12);
        assert_eq!(id(json!({"element_id": "13"})).unwrap(), 13);
        assert_eq!(id(json!({})).unwrap_err().message, "element_id is required");
        assert_eq!(
            id(json!({"element_id": "x1"})).unwrap_err().message,
            "element_id must be a numeric id"
        );
        assert_eq!(
            id(json!({"element_id": -1})).unwrap_err().message,
            "element_id must be a numeric id"
        );
    }

    #[test]
    fn results_show_both_lists_tags_and_the_deleted_status() {
        let mut e = ElementOut::preset(&elements::presets()[0]);
        let w = serde_json::to_value(e.to_wire("http://m")).unwrap();
        assert_eq!(w["status"], "succeed");
        assert_eq!(w["owned_by"], "kling");
        assert!(w["element_id"].is_u64());
        assert!(
            w["element_image_list"]["frontal_image"]
                .as_str()
                .unwrap()
                .starts_with("http://m/files/kling_")
        );
        assert_eq!(
            w["element_image_list"]["refer_images"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        assert_eq!(w["element_video_list"], json!({"refer_videos": []}));
        assert_eq!(
            w["tag_list"][0],
            json!({"tag_id": "o_101", "tag_name": "Hottest"})
        );
        assert!(w.get("element_voice_info").is_none(), "no voice bound");
        e.deleted = true;
        let bytes = postcard::to_stdvec(&Elements(vec![e])).unwrap();
        let Elements(back) = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(
            serde_json::to_value(back[0].to_wire("")).unwrap()["status"],
            "deleted"
        );
    }
}
