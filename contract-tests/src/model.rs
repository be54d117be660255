//! The oracle: the documented contract, read from `fixtures/contract/` (with the Voice Guide's
//! `fixtures/tts-voices.json` and the video models of `fixtures/video-models.json`), and the
//! harness's own reading of it.
//!
//! Nothing here comes from `kling-mock`: the fixtures are transcriptions of the Kling documents
//! (each file names its sources), and the rules below are written from those documents. Where
//! the documents are silent the harness does not generate the case at all, so it never grades a
//! choice the documents did not make.
//!
//! A body is judged in three layers, and every reason found is kept (a target may name any of
//! them): each field alone ([`Field`]: type, length, range, enum, URL, image, items), the rules
//! that tie fields together ([`crate::rules`]), and for the video families the capability map
//! ([`crate::video_models`]: which model allows which mode, duration and feature).

use crate::image_models::ImageModels;
use crate::rules::{Cond, Rule, RuleKind, Scope, number_text, sent};
use crate::video_models::{Billed, Capability, Feature, VideoModels};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet};

const ENDPOINTS: &str = include_str!("../../fixtures/contract/endpoints.json");
const ERRORS: &str = include_str!("../../fixtures/contract/errors.json");
const TTS_VOICES: &str = include_str!("../../fixtures/tts-voices.json");
const VIDEO_MODELS: &str = include_str!("../../fixtures/video-models.json");
const IMAGE_MODELS: &str = include_str!("../../fixtures/image-models.json");

/// A JSON type a field must have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Ty {
    /// A JSON string.
    String,
    /// A JSON number.
    Number,
    /// A JSON number without a fraction.
    Integer,
    /// `true` / `false`.
    Boolean,
    /// A JSON object (its `fields`).
    Object,
    /// A JSON array (of `items`).
    Array,
}

/// What a field's string points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Media {
    /// An image (`.jpg/.jpeg/.png`, at least 300 px a side).
    Image,
    /// A video (`.mp4/.mov`).
    Video,
}

/// What happens to a number outside its range or with too many decimals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutOfRange {
    /// Refused with 1201 (the default: "Value range", "supports one decimal place").
    #[default]
    Reject,
    /// Accepted and rounded into range (TTS `voice_speed`: "values outside this range will be
    /// automatically rounded").
    Rounded,
}

fn rules_de<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Rule>, D::Error> {
    let list: Vec<Value> = Deserialize::deserialize(d)?;
    list.into_iter()
        .map(|v| Rule::try_from(v).map_err(serde::de::Error::custom))
        .collect()
}

/// One request field (or an array's item, or an object's field).
#[derive(Clone, Debug, Deserialize)]
pub struct Field {
    /// Field name (empty for an array's items).
    #[serde(default)]
    pub name: String,
    /// JSON type.
    #[serde(rename = "type")]
    pub ty: Ty,
    /// Other JSON types real clients send for it, read as the documented type: `number` for a
    /// string enum (`"duration": 5`), `string` for a boolean (`"multi_shot": "true"`).
    #[serde(default)]
    pub also: Vec<Ty>,
    /// Required.
    #[serde(default)]
    pub required: bool,
    /// Longest value, in characters.
    pub max_chars: Option<usize>,
    /// Smallest number.
    pub min: Option<f64>,
    /// Largest number.
    pub max: Option<f64>,
    /// Decimal places allowed.
    pub decimals: Option<u32>,
    /// What an out-of-range number does.
    #[serde(default)]
    pub out_of_range: OutOfRange,
    /// Allowed values.
    #[serde(rename = "enum")]
    pub values: Option<Vec<String>>,
    /// The value when absent.
    pub default: Option<Value>,
    /// The value is a callback URL (its validity is not documented: never generated).
    #[serde(default)]
    pub url: bool,
    /// Allowed file extensions of a URL's path.
    pub url_extensions: Option<Vec<String>>,
    /// The string is an image or a video (a URL, or Base64 where `base64` says so).
    pub media: Option<Media>,
    /// The string may be raw Base64 (never with a `data:` prefix).
    #[serde(default)]
    pub base64: bool,
    /// The value names something that must exist on the target (an element, a voice, a video):
    /// generated valid bodies never hold it, unless the family's `needs` provides one.
    #[serde(default)]
    pub external: bool,
    /// A legacy alias sent with the same value as this field (`model` beside `model_name`).
    pub mirror_of: Option<String>,
    /// An object's fields.
    #[serde(default)]
    pub fields: Vec<Field>,
    /// An object's rules.
    #[serde(default, deserialize_with = "rules_de")]
    pub rules: Vec<Rule>,
    /// An array's items.
    pub items: Option<Box<Field>>,
    /// Fewest items.
    pub min_items: Option<usize>,
    /// Most items.
    pub max_items: Option<usize>,
    /// The documents say the field is read only when this holds (ignored otherwise): generated
    /// valid bodies leave it out otherwise, and a broken value is only sent where it is read.
    #[serde(default, deserialize_with = "opt_cond")]
    pub used_when: Option<Cond>,
    /// A value to generate for it (a stand-in the documents or live captures show).
    pub sample: Option<Value>,
    /// Whether generated valid bodies may hold it (`false` where the documents leave unclear
    /// what it does).
    #[serde(default = "yes")]
    pub generate: bool,
    /// Generated bodies always hold it, and its absence is never sent: the documents disagree
    /// on whether it is required (`subject_image_list`: CN required, EN optional), so the judge
    /// reads it as optional but no case depends on that reading.
    #[serde(default)]
    pub always_sent: bool,
    /// Generated arrays never hold the same item twice (what a repeated item does is not
    /// documented: never sent, so never judged).
    #[serde(default)]
    pub distinct_items: bool,
}

fn yes() -> bool {
    true
}

fn opt_cond<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Cond>, D::Error> {
    let v: Option<Value> = Deserialize::deserialize(d)?;
    v.map(|v| crate::rules::parse_cond(&v))
        .transpose()
        .map_err(serde::de::Error::custom)
}

/// `pageNum` / `pageSize` ranges.
#[derive(Clone, Debug, Deserialize)]
pub struct Paging {
    /// Inclusive `pageNum` range.
    pub page_num: [u32; 2],
    /// Inclusive `pageSize` range.
    pub page_size: [u32; 2],
    /// `pageSize` when absent.
    pub default_page_size: u32,
}

fn features_de<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeMap<String, Cond>, D::Error> {
    let m: BTreeMap<String, Value> = Deserialize::deserialize(d)?;
    m.into_iter()
        .map(|(k, v)| {
            crate::rules::parse_cond(&v)
                .map(|c| (k, c))
                .map_err(serde::de::Error::custom)
        })
        .collect()
}

/// One endpoint.
#[derive(Clone, Debug, Deserialize)]
pub struct Endpoint {
    /// HTTP method.
    pub method: String,
    /// Path; `{id}` stands for a task id or external id.
    pub path: String,
    /// Whether a successful call costs credits.
    #[serde(default)]
    pub billable: bool,
    /// Whether it deletes something.
    #[serde(default)]
    pub destructive: bool,
    /// The task kind it creates, if any.
    pub creates: Option<String>,
    /// Body fields.
    #[serde(default)]
    pub fields: Vec<Field>,
    /// Groups of fields of which exactly one must be present (also in `rules`).
    #[serde(default)]
    pub exactly_one_of: Vec<Vec<String>>,
    /// Rules tying fields together.
    #[serde(default, deserialize_with = "rules_de")]
    pub rules: Vec<Rule>,
    /// The family of `fixtures/video-models.json` whose capability map, outputs and costs apply.
    pub capabilities: Option<String>,
    /// The field choosing the model (capabilities apply per model).
    pub model_field: Option<String>,
    /// Features the capability map allows per model, each as the condition that the body uses it.
    #[serde(default, deserialize_with = "features_de")]
    pub features: BTreeMap<String, Cond>,
    /// Units a successful call costs when no cost table applies (default 1: an upper bound on the
    /// observed 0.05 of TTS and voices).
    pub unit_cost: Option<f64>,
    /// Paging ranges of a list.
    pub paging: Option<Paging>,
    /// Name of the success `data` shape.
    pub response: String,
    /// The key of `task_result` that holds the results (`voices`, `audios`, `videos`).
    pub result_key: Option<String>,
    /// Values its bodies take from a call to another endpoint (a synchronous call that is no
    /// family's create: the selection helpers' `session_id` from init-selection), like a
    /// family's `needs`.
    #[serde(default)]
    pub needs: BTreeMap<String, Need>,
    /// Whether a body its fields accept may still be refused for what earlier calls did (the
    /// points a delete-selection names must have been added): the validation property sends it
    /// only the bodies its fields refuse.
    #[serde(default)]
    pub stateful: bool,
    /// The family a synchronous endpoint serves (the selection helpers: multi-elements): left
    /// out with it by [`Contract::only_families`].
    pub part_of: Option<String>,
}

/// A value one family takes from a task of another: `video_id` (video-extend) from a finished
/// text-to-video task, for instance.
#[derive(Clone, Debug, Deserialize)]
pub struct Need {
    /// The family whose example makes the source task (empty with `from_call`).
    #[serde(default)]
    pub from_family: String,
    /// Or a synchronous call that gives the value (identify-face's session and faces): one call
    /// per account and family gives every value its `needs` take from that endpoint.
    pub from_call: Option<CallNeed>,
    /// Fields set on that example.
    #[serde(default)]
    pub example_override: Map<String, Value>,
    /// The field of the source task's first result that is taken (for `from_call`: a dotted
    /// path in the answer's `data`, `face_data.0.face_id`).
    pub result_field: String,
}

/// A synchronous call a need is taken from.
#[derive(Clone, Debug, Deserialize)]
pub struct CallNeed {
    /// The endpoint called.
    pub endpoint: String,
    /// Its body.
    pub body: Value,
    /// Calls made after it, in order, before the value is handed out (the documented flow of a
    /// session: init-selection, then add-selection on the session it opened). The value still
    /// comes from the first call's answer.
    #[serde(default)]
    pub then: Vec<FollowUp>,
    /// Made afresh for every body that takes it (not once per account): what one body does to
    /// it (points marked on a session) would change what the next may do.
    #[serde(default)]
    pub fresh: bool,
}

/// A call made after a [`CallNeed`]'s, on what it answered.
#[derive(Clone, Debug, Deserialize)]
pub struct FollowUp {
    /// The endpoint called.
    pub endpoint: String,
    /// Its body, without the values taken from the first answer.
    pub body: Value,
    /// Body field (a dotted path) → the path in the first answer's `data` it takes.
    #[serde(default)]
    pub take: BTreeMap<String, String>,
}

/// How a video family's results are checked (the media property).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct MediaSpec {
    /// Where the output's aspect ratio comes from: `{"field": "aspect_ratio"}`, `{"image":
    /// ["image", "image_tail"]}` (the first Base64 PNG given) or `"source"` (the source video).
    pub aspect: Option<Value>,
    /// When an audio stream is expected: a condition, or `false` (never); unchecked if absent.
    pub audio: Option<Value>,
    /// The field holding the requested duration, if any (a dotted path: `input.duration`).
    pub duration: Option<String>,
    /// The result is made from the source video a `needs` entry provides (video to audio): it
    /// lasts the source's length and has its frame size and rate.
    #[serde(default)]
    pub from_source: bool,
    /// The key of `task_result` holding audio results (`audio_t2a` items) that last as long as
    /// the video (video to audio's `audios`).
    pub audios: Option<String>,
    /// The key of the source's result holding its length (default `duration`; an audio source:
    /// `duration_mp3`).
    pub source_duration: Option<String>,
    /// The lengths, in seconds, a requested `duration` allows, where the result follows an input
    /// (multi-elements: "5" makes 2-5 s, "10" 7-10 s); absent: the requested length itself.
    #[serde(default)]
    pub duration_ranges: BTreeMap<String, [f64; 2]>,
}

/// A task family: the create, single-query and list endpoints of one kind of task, and a valid
/// create body from the documents. One new family is one new entry under `families` in
/// `endpoints.json`: every property that creates, queries or lists runs on every family.
#[derive(Clone, Debug, Deserialize)]
pub struct Family {
    /// The family's name (its key in `endpoints.json`).
    #[serde(skip)]
    pub name: String,
    /// Create endpoint.
    pub create: String,
    /// Single-query endpoint.
    pub get: String,
    /// List endpoint.
    pub list: String,
    /// Key of `task_result` holding the results (`voices`, `audios`, `videos`).
    pub results: String,
    /// Shape of one result (`voice`, `audio_t2a`, `video`).
    pub result_shape: Option<String>,
    /// A minimal valid create body (without `external_task_id`); a value `"needs:<field>"` is
    /// filled from `needs` at run time.
    pub example: Value,
    /// Values taken from tasks of other families.
    #[serde(default)]
    pub needs: BTreeMap<String, Need>,
    /// How its media is checked.
    pub media: Option<MediaSpec>,
    /// How an owner deletes what a succeeded task made, if the family has a delete.
    pub delete: Option<FamilyDelete>,
    /// How its result images are checked (the image families).
    pub image_media: Option<crate::image_models::ImageMedia>,
    /// Whether the single query documents the external id (AI multi-shot's documents only
    /// `task_id`, §5.19).
    #[serde(default = "yes")]
    pub query_by_external: bool,
    /// Other paths real clients query a task at (`{id}` for the task id), answered like the
    /// single query.
    #[serde(default)]
    pub query_aliases: Vec<String>,
}

/// The value at a dotted path of a body (`input.video_id`; a number segment indexes an array:
/// `face_choose.0.face_id`).
pub fn at_path<'a>(body: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(body, |v, seg| match v {
        Value::Array(a) => a.get(seg.parse::<usize>().ok()?),
        _ => v.get(seg),
    })
}

/// Set the value at a dotted path whose parents exist; whether it was set.
pub fn set_at_path(body: &mut Value, path: &str, value: Value) -> bool {
    let (parent, last) = match path.rsplit_once('.') {
        Some((p, l)) => (Some(p), l),
        None => (None, path),
    };
    let mut cur = body;
    if let Some(p) = parent {
        for seg in p.split('.') {
            let next = match cur {
                Value::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get_mut(i)),
                _ => cur.get_mut(seg),
            };
            match next {
                Some(n) => cur = n,
                None => return false,
            }
        }
    }
    match cur {
        Value::Object(o) => {
            o.insert(last.to_string(), value);
            true
        }
        Value::Array(a) => match last.parse::<usize>().ok().and_then(|i| a.get_mut(i)) {
            Some(slot) => {
                *slot = value;
                true
            }
            None => false,
        },
        _ => false,
    }
}

/// The placeholder of a needed value in an example.
pub fn need_placeholder(field: &str) -> String {
    format!("needs:{field}")
}

/// A family's delete call: `POST endpoint {field: <results[0].result_field>}`.
#[derive(Clone, Debug, Deserialize)]
pub struct FamilyDelete {
    /// Delete endpoint.
    pub endpoint: String,
    /// The body field naming what to delete.
    pub field: String,
    /// The field of the first result that holds its id.
    pub result_field: String,
}

#[derive(Deserialize)]
struct EndpointsFile {
    endpoints: BTreeMap<String, Endpoint>,
    families: BTreeMap<String, Family>,
    shapes: Map<String, Value>,
}

#[derive(Deserialize)]
struct ErrorRow {
    code: i64,
    http: u16,
}

#[derive(Deserialize)]
struct ErrorsFile {
    errors: Vec<ErrorRow>,
    auth: HashMap<String, Value>,
    validation_codes: Vec<i64>,
    retry_codes: Vec<i64>,
}

#[derive(Deserialize)]
struct VoiceRow {
    voice_id: String,
    voice_language: String,
}

/// Which layer of the oracle refused a body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layer {
    /// One field alone (type, length, range, enum, format, items).
    Field,
    /// A rule tying fields together.
    Rule,
    /// The capability map.
    Capability,
    /// A catalogue lookup (TTS voices).
    Catalogue,
}

/// One reason a body is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reason {
    /// What is wrong.
    pub why: String,
    /// The fields a refusal message may name (any of them).
    pub names: Vec<String>,
    /// The layer.
    pub layer: Layer,
}

/// Why the documents refuse a body: every reason found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The reasons, in the order found.
    pub reasons: Vec<Reason>,
}

impl Refusal {
    /// A refusal of one field-level reason.
    pub fn field(why: impl Into<String>, name: &str) -> Refusal {
        Refusal {
            reasons: vec![Reason {
                why: why.into(),
                names: vec![name.to_string()],
                layer: Layer::Field,
            }],
        }
    }

    /// Whether every reason is a rule or the capability map: the target must then answer 1201
    /// and name one of the fields.
    pub fn cross_field(&self) -> bool {
        !self.reasons.is_empty()
            && self
                .reasons
                .iter()
                .all(|r| matches!(r.layer, Layer::Rule | Layer::Capability))
    }

    /// Every name a message may use: the dotted paths, their segments and their array names.
    pub fn names(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for n in self.reasons.iter().flat_map(|r| &r.names) {
            let plain: String = n
                .split('[')
                .enumerate()
                .map(|(i, s)| {
                    if i == 0 {
                        s.to_string()
                    } else {
                        s.split_once(']')
                            .map_or(String::new(), |(_, t)| t.to_string())
                    }
                })
                .collect();
            for cand in std::iter::once(n.clone())
                .chain(std::iter::once(plain.clone()))
                .chain(plain.split('.').map(str::to_string))
            {
                if !cand.is_empty() && !out.contains(&cand) {
                    out.push(cand);
                }
            }
        }
        out
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<&str> = self.reasons.iter().map(|r| r.why.as_str()).collect();
        f.write_str(&parts.join("; "))
    }
}

/// The oracle's verdict on a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The documents say it is accepted.
    Accept,
    /// The documents say it is refused, and why.
    Reject(Refusal),
}

impl Verdict {
    /// Whether accepted.
    pub fn accepted(&self) -> bool {
        matches!(self, Verdict::Accept)
    }

    /// A refusal for one reason (paging and other single checks).
    pub fn reject(why: impl Into<String>, name: &str) -> Verdict {
        Verdict::Reject(Refusal::field(why, name))
    }
}

/// Which layers [`Contract::judge_with`] applies.
#[derive(Clone, Copy, Debug)]
pub struct Layers {
    /// The rules tying fields together.
    pub rules: bool,
    /// The capability map.
    pub capabilities: bool,
}

impl Default for Layers {
    fn default() -> Layers {
        Layers {
            rules: true,
            capabilities: true,
        }
    }
}

/// The whole documented contract.
#[derive(Clone, Debug)]
pub struct Contract {
    /// Endpoints by name.
    pub endpoints: BTreeMap<String, Endpoint>,
    /// Task families, by name.
    pub families: Vec<Family>,
    /// Response shapes by name.
    pub shapes: Map<String, Value>,
    /// The video models (capabilities, outputs, costs).
    pub video: VideoModels,
    /// The image models (capabilities, result sizes, costs).
    pub images: ImageModels,
    http_of: HashMap<i64, u16>,
    auth_codes: HashMap<String, i64>,
    /// Codes of validation rejections (1200, 1201).
    pub validation_codes: Vec<i64>,
    /// Codes that mean "slow down and retry" (1302, 1303).
    pub retry_codes: Vec<i64>,
    /// (voice_id, voice_language) pairs TTS accepts.
    pub tts_voices: HashSet<(String, String)>,
}

/// Replace every field `{"name": n, "use": d, ...}` by the definition `d` of `field_defs`,
/// with the field's own keys on top.
fn resolve_uses(v: &mut Value, defs: &Map<String, Value>) -> Result<(), String> {
    match v {
        Value::Object(o) => {
            if let Some(Value::String(d)) = o.remove("use") {
                let def = defs
                    .get(&d)
                    .and_then(Value::as_object)
                    .ok_or(format!("field_defs has no '{d}'"))?;
                for (k, x) in def {
                    o.entry(k.clone()).or_insert_with(|| x.clone());
                }
            }
            for x in o.values_mut() {
                resolve_uses(x, defs)?;
            }
        }
        Value::Array(a) => {
            for x in a {
                resolve_uses(x, defs)?;
            }
        }
        _ => {}
    }
    Ok(())
}

impl Contract {
    /// The contract compiled into the harness.
    pub fn load() -> Result<Contract, String> {
        let mut raw: Value =
            serde_json::from_str(ENDPOINTS).map_err(|e| format!("endpoints.json: {e}"))?;
        let defs = raw
            .get("field_defs")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        for key in ["endpoints", "field_defs"] {
            if let Some(x) = raw.get_mut(key) {
                resolve_uses(x, &defs).map_err(|e| format!("endpoints.json: {e}"))?;
            }
        }
        let mut e: EndpointsFile =
            serde_json::from_value(raw).map_err(|e| format!("endpoints.json: {e}"))?;
        for ep in e.endpoints.values_mut() {
            let groups = ep.exactly_one_of.clone();
            ep.rules.extend(groups.into_iter().map(|g| Rule {
                kind: RuleKind::ExactlyOneOf(g),
                when: None,
                source: None,
            }));
        }
        let errors: ErrorsFile =
            serde_json::from_str(ERRORS).map_err(|e| format!("errors.json: {e}"))?;
        let voices: Vec<VoiceRow> =
            serde_json::from_str(TTS_VOICES).map_err(|e| format!("tts-voices.json: {e}"))?;
        let video = VideoModels::parse(VIDEO_MODELS)?;
        let images = ImageModels::parse(IMAGE_MODELS)?;
        let families: Vec<Family> = e
            .families
            .into_iter()
            .map(|(name, f)| Family { name, ..f })
            .collect();
        for f in &families {
            for ep in [&f.create, &f.get, &f.list]
                .into_iter()
                .chain(f.delete.as_ref().map(|d| &d.endpoint))
            {
                if !e.endpoints.contains_key(ep) {
                    return Err(format!(
                        "endpoints.json: family {} names no endpoint '{ep}'",
                        f.name
                    ));
                }
            }
            for (field, need) in &f.needs {
                if let Some(call) = &need.from_call {
                    check_call(&e.endpoints, &f.name, field, call)?;
                } else if !families.iter().any(|g| g.name == need.from_family) {
                    return Err(format!(
                        "endpoints.json: family {} needs {field} from unknown family {}",
                        f.name, need.from_family
                    ));
                }
            }
        }
        for (name, ep) in &e.endpoints {
            if let Some(f) = &ep.part_of
                && !families.iter().any(|g| &g.name == f)
            {
                return Err(format!(
                    "endpoints.json: endpoint {name} is part of unknown family {f}"
                ));
            }
            for (field, need) in &ep.needs {
                let call = need.from_call.as_ref().ok_or(format!(
                    "endpoints.json: endpoint {name} needs {field} from no call (only from_call)"
                ))?;
                check_call(&e.endpoints, name, field, call)?;
            }
        }
        Ok(Contract {
            endpoints: e.endpoints,
            families,
            shapes: e.shapes,
            video,
            images,
            http_of: errors.errors.iter().map(|r| (r.code, r.http)).collect(),
            auth_codes: errors
                .auth
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_i64()?)))
                .collect(),
            validation_codes: errors.validation_codes,
            retry_codes: errors.retry_codes,
            tts_voices: voices
                .into_iter()
                .map(|v| (v.voice_id, v.voice_language))
                .collect(),
        })
    }

    /// Keep only the named families, and drop the endpoints only the others use (a target that
    /// serves some families; a synchronous endpoint `part_of` a dropped family goes with it).
    /// Families another kept one needs are kept too, and so are the custom-voice and
    /// text-to-audio families, which the voices and media properties call by name.
    pub fn only_families(&mut self, names: &[String]) -> Result<(), String> {
        for n in names {
            if self.family(n).is_none() {
                return Err(format!(
                    "unknown family '{n}'; known: {}",
                    self.families
                        .iter()
                        .map(|f| f.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        let mut keep: Vec<String> = names.to_vec();
        keep.extend(["custom_voice".to_string(), "text_to_audio".to_string()]);
        for f in &self.families {
            if names.contains(&f.name) {
                keep.extend(f.needs.values().map(|n| n.from_family.clone()));
            }
        }
        let endpoints = |f: &Family| {
            let mut e = vec![f.create.clone(), f.get.clone(), f.list.clone()];
            e.extend(f.delete.as_ref().map(|d| d.endpoint.clone()));
            e
        };
        let dropped: Vec<String> = self
            .families
            .iter()
            .filter(|f| !keep.contains(&f.name))
            .flat_map(endpoints)
            .collect();
        let kept: Vec<String> = self
            .families
            .iter()
            .filter(|f| keep.contains(&f.name))
            .flat_map(endpoints)
            .collect();
        self.families.retain(|f| keep.contains(&f.name));
        self.endpoints.retain(|n, e| {
            (!dropped.contains(n) || kept.contains(n))
                && e.part_of.as_ref().is_none_or(|f| keep.contains(f))
        });
        Ok(())
    }

    /// An endpoint by name (panics on a name not in the fixture: a harness bug).
    pub fn endpoint(&self, name: &str) -> &Endpoint {
        self.endpoints
            .get(name)
            .unwrap_or_else(|| panic!("no endpoint '{name}' in fixtures/contract/endpoints.json"))
    }

    /// A family by name.
    pub fn family(&self, name: &str) -> Option<&Family> {
        self.families.iter().find(|f| f.name == name)
    }

    /// The family whose create endpoint this is.
    pub fn family_of_create(&self, endpoint: &str) -> Option<&Family> {
        self.families.iter().find(|f| f.create == endpoint)
    }

    /// The values an endpoint's bodies take from elsewhere, and whose they are (the family's
    /// name for a create, else the endpoint's): its own `needs`, or its family's.
    pub fn needs_of(&self, endpoint: &str) -> Option<(String, &BTreeMap<String, Need>)> {
        let ep = self.endpoints.get(endpoint)?;
        if !ep.needs.is_empty() {
            return Some((endpoint.to_string(), &ep.needs));
        }
        self.family_of_create(endpoint)
            .map(|f| (f.name.clone(), &f.needs))
    }

    /// The list endpoints (those with paging ranges), by name.
    pub fn lists(&self) -> Vec<String> {
        self.endpoints
            .iter()
            .filter(|(_, e)| e.paging.is_some())
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// The endpoints whose bodies are judged: every billable `POST` with documented fields.
    pub fn creates(&self) -> Vec<String> {
        self.endpoints
            .iter()
            .filter(|(_, e)| e.method == "POST" && e.billable && !e.fields.is_empty())
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// The single-query endpoints of the families.
    pub fn gets(&self) -> Vec<String> {
        self.families.iter().map(|f| f.get.clone()).collect()
    }

    /// The HTTP status the error table pairs with `code` (200 for 0); `None` for an undocumented code.
    pub fn http_for(&self, code: i64) -> Option<u16> {
        if code == 0 {
            Some(200)
        } else {
            self.http_of.get(&code).copied()
        }
    }

    /// The code for an auth situation (`missing`, `malformed`, `bad_signature`, ...).
    pub fn auth_code(&self, situation: &str) -> i64 {
        self.auth_codes.get(situation).copied().unwrap_or(1000)
    }

    /// Judge a create/delete body for `endpoint`.
    pub fn judge(&self, endpoint: &str, body: &Value) -> Verdict {
        self.judge_with(endpoint, body, Layers::default())
    }

    /// Judge with some layers left out (a drift test's model of a target that skips them).
    pub fn judge_with(&self, endpoint: &str, body: &Value, layers: Layers) -> Verdict {
        let ep = self.endpoint(endpoint);
        let Some(obj) = body.as_object() else {
            return Verdict::reject("body is not a JSON object", "body");
        };
        let mut reasons = Vec::new();
        judge_object(&ep.fields, &ep.rules, obj, "", layers.rules, &mut reasons);
        if layers.capabilities {
            self.judge_capabilities(ep, obj, &mut reasons);
        }
        if reasons.is_empty() && endpoint == "tts" {
            let voice = obj
                .get("voice_id")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let lang = match obj.get("voice_language").and_then(Value::as_str) {
                Some(l) if !l.is_empty() => l,
                _ => "zh",
            };
            if !self
                .tts_voices
                .contains(&(voice.to_string(), lang.to_string()))
            {
                reasons.push(Reason {
                    why: "Voice id not found".into(),
                    names: Vec::new(),
                    layer: Layer::Catalogue,
                });
            }
        }
        if reasons.is_empty() {
            Verdict::Accept
        } else {
            Verdict::Reject(Refusal { reasons })
        }
    }

    /// The capability of the body's model in the endpoint's family (`None` without one).
    pub fn capability_of(&self, endpoint: &str, body: &Value) -> Option<(String, &Capability)> {
        let ep = self.endpoint(endpoint);
        let fam = ep.capabilities.as_deref()?;
        let obj = body.as_object()?;
        let scope = Scope {
            fields: &ep.fields,
            obj,
        };
        let model = scope.effective(ep.model_field.as_deref()?)?;
        let model = model.as_str()?.to_string();
        let cap = self.capability(fam, &model)?;
        Some((model, cap))
    }

    fn judge_capabilities(&self, ep: &Endpoint, obj: &Map<String, Value>, out: &mut Vec<Reason>) {
        let (Some(fam), Some(model_field)) = (&ep.capabilities, &ep.model_field) else {
            return;
        };
        let scope = Scope {
            fields: &ep.fields,
            obj,
        };
        let Some(model) = scope
            .effective(model_field)
            .and_then(|m| m.as_str().map(str::to_string))
        else {
            return;
        };
        let Some(cap) = self.capability(fam, &model) else {
            // An unknown model is the enum's business; a known one outside the map is refused.
            if ep
                .fields
                .iter()
                .find(|f| &f.name == model_field)
                .and_then(|f| f.values.as_ref())
                .is_some_and(|v| v.contains(&model))
            {
                out.push(Reason {
                    why: format!("{model} does not do {fam} (capability map)"),
                    names: vec![model_field.clone()],
                    layer: Layer::Capability,
                });
            }
            return;
        };
        let text = |f: &str| {
            scope
                .effective(f)
                .and_then(|v| v.as_str().map(str::to_string))
        };
        let mode = text("mode");
        let duration = text("duration");
        if let Some(m) = &mode
            && ep.fields.iter().any(|f| f.name == "mode")
            && !cap.modes.contains(m)
        {
            out.push(Reason {
                why: format!("{model} has no {m} mode in {fam} (capability map)"),
                names: vec!["mode".into(), model_field.clone()],
                layer: Layer::Capability,
            });
        }
        if let Some(d) = &duration
            && let Some(allowed) = allowed_durations(cap, &scope)
            && !allowed.contains(d)
        {
            out.push(Reason {
                why: format!(
                    "{model} does not make {d} s videos here in {fam}, only {} (capability map)",
                    allowed.join(", ")
                ),
                names: vec!["duration".into(), model_field.clone()],
                layer: Layer::Capability,
            });
        }
        for (name, uses) in &ep.features {
            if !scope.holds(uses) {
                continue;
            }
            let allowed = feature_allowed(
                cap.features.get(name),
                mode.as_deref(),
                duration.as_deref(),
                &scope,
            );
            if !allowed {
                // The feature by its own name too ("motion brush" is no field's name).
                let mut names = vec![name.clone(), name.replace('_', " ")];
                names.extend(cond_fields(uses));
                names.extend([model_field.clone(), "mode".into(), "duration".into()]);
                out.push(Reason {
                    why: format!(
                        "{model} does not allow {name} in {fam} with mode {} and duration {} (capability map)",
                        mode.as_deref().unwrap_or("-"),
                        duration.as_deref().unwrap_or("-")
                    ),
                    names,
                    layer: Layer::Capability,
                });
            }
        }
    }

    /// What `model` may do in the video or image family `family` (`None`: nothing).
    pub fn capability(&self, family: &str, model: &str) -> Option<&Capability> {
        self.video
            .capability(family, model)
            .or_else(|| self.images.capability(family, model).map(|c| &c.cap))
    }

    /// Units a create costs: the cost table for the video families (the first matching row),
    /// the images it makes for an image family, else the endpoint's `unit_cost` (default 1).
    pub fn unit_cost(&self, endpoint: &str, body: &Value) -> f64 {
        let ep = self.endpoint(endpoint);
        if let Some(f) = self.family_of_create(endpoint)
            && f.image_media.is_some()
        {
            return crate::image_models::cost(self, f, body);
        }
        let Some(fam) = &ep.capabilities else {
            return ep.unit_cost.unwrap_or(1.0);
        };
        let empty = Map::new();
        let obj = body.as_object().unwrap_or(&empty);
        let scope = Scope {
            fields: &ep.fields,
            obj,
        };
        let text = |f: &str| {
            scope
                .effective(f)
                .and_then(|v| v.as_str().map(str::to_string))
        };
        let model = ep.model_field.as_deref().and_then(text);
        let mode = text("mode");
        let seconds = text("duration").and_then(|d| d.parse::<f64>().ok());
        let billed = Billed {
            family: fam,
            model: model.as_deref(),
            mode: mode.as_deref(),
            seconds,
            sound: text("sound").as_deref() == Some("on"),
            video_input: scope.present("video_list"),
        };
        self.video
            .cost_units(&billed)
            .unwrap_or_else(|| self.most_expensive_second(fam) * seconds.unwrap_or(15.0))
    }

    /// The highest rate of a family (a safe bound for a body the table has no row for).
    fn most_expensive_second(&self, family: &str) -> f64 {
        self.video
            .models
            .values()
            .filter_map(|m| {
                let c = m.families.get(family)?.cost.as_ref().unwrap_or(&m.cost);
                c.per_second
                    .values()
                    .chain(c.per_second_sound.iter().flat_map(|s| s.values()))
                    .cloned()
                    .reduce(f64::max)
            })
            .fold(1.0, f64::max)
    }

    /// Judge raw `pageNum` / `pageSize` values of a list query (`None`: parameter absent).
    pub fn judge_paging(
        &self,
        endpoint: &str,
        page_num: Option<&str>,
        page_size: Option<&str>,
    ) -> Verdict {
        let Some(p) = &self.endpoint(endpoint).paging else {
            return Verdict::Accept;
        };
        for (name, raw, range) in [
            ("pageNum", page_num, p.page_num),
            ("pageSize", page_size, p.page_size),
        ] {
            if let Some(raw) = raw {
                match raw.parse::<i64>() {
                    Ok(n) if n >= range[0] as i64 && n <= range[1] as i64 => {}
                    _ => {
                        return Verdict::reject(
                            format!(
                                "{name} must be in [{}, {}], got '{raw}'",
                                range[0], range[1]
                            ),
                            name,
                        );
                    }
                }
            }
        }
        Verdict::Accept
    }
}

/// That a need's call and its follow-ups name endpoints of the file.
fn check_call(
    endpoints: &BTreeMap<String, Endpoint>,
    owner: &str,
    field: &str,
    call: &CallNeed,
) -> Result<(), String> {
    for ep in std::iter::once(&call.endpoint).chain(call.then.iter().map(|t| &t.endpoint)) {
        if !endpoints.contains_key(ep) {
            return Err(format!(
                "endpoints.json: {owner} needs {field} from unknown endpoint {ep}"
            ));
        }
    }
    Ok(())
}

/// The durations a capability allows for this body (`None`: not constrained).
pub fn allowed_durations<'a>(cap: &'a Capability, scope: &Scope<'_>) -> Option<&'a Vec<String>> {
    cap.durations_when
        .iter()
        .find(|d| scope.holds(&d.when))
        .map(|d| &d.durations)
        .or(cap.durations.as_ref())
}

/// Whether a capability allows a feature for this mode, duration and body (a feature the map
/// does not list is refused).
pub fn feature_allowed(
    feature: Option<&Feature>,
    mode: Option<&str>,
    duration: Option<&str>,
    scope: &Scope<'_>,
) -> bool {
    match feature {
        None | Some(Feature::Always(false)) => false,
        Some(Feature::Always(true)) => true,
        Some(Feature::Limited {
            modes,
            durations,
            when,
        }) => {
            modes
                .as_ref()
                .is_none_or(|ms| mode.is_some_and(|m| ms.iter().any(|x| x == m)))
                && durations
                    .as_ref()
                    .is_none_or(|ds| duration.is_some_and(|d| ds.iter().any(|x| x == d)))
                && when.as_ref().is_none_or(|w| scope.holds(w))
        }
    }
}

/// The fields a condition looks at.
pub fn cond_fields(c: &Cond) -> Vec<String> {
    match c {
        Cond::Present(f) | Cond::Equals(f, _) | Cond::In(f, _) => vec![f.clone()],
        Cond::Items(s) => vec![s.array.clone()],
        Cond::Count { of, .. } => of.clone(),
        Cond::Not(c) => cond_fields(c),
        Cond::All(cs) | Cond::Any(cs) => cs.iter().flat_map(cond_fields).collect(),
    }
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// Judge an object: each field, then (if `rules`) its rules; reasons are appended.
fn judge_object(
    fields: &[Field],
    rules: &[Rule],
    obj: &Map<String, Value>,
    prefix: &str,
    with_rules: bool,
    out: &mut Vec<Reason>,
) {
    for f in fields {
        judge_value(f, obj.get(&f.name), &join(prefix, &f.name), with_rules, out);
    }
    if with_rules {
        let scope = Scope { fields, obj };
        for r in rules {
            if let Some(why) = scope.violation(r) {
                out.push(Reason {
                    why: format!(
                        "{}{why}",
                        if prefix.is_empty() {
                            String::new()
                        } else {
                            format!("{prefix}: ")
                        }
                    ),
                    names: r
                        .names()
                        .into_iter()
                        .map(|n| join(prefix, &n))
                        .chain((!prefix.is_empty()).then(|| prefix.to_string()))
                        .collect(),
                    layer: Layer::Rule,
                });
            }
        }
    }
}

fn field_reason(out: &mut Vec<Reason>, path: &str, why: String) {
    out.push(Reason {
        why,
        names: vec![path.to_string()],
        layer: Layer::Field,
    });
}

/// Judge one value against its definition; whether it counts as sent.
fn judge_value(
    f: &Field,
    v: Option<&Value>,
    path: &str,
    with_rules: bool,
    out: &mut Vec<Reason>,
) -> bool {
    let v = match v {
        Some(v) if sent(v) || v.is_object() => v,
        Some(Value::Array(_)) if f.required => {
            field_reason(
                out,
                path,
                format!("{path} is required and may not be empty"),
            );
            return false;
        }
        _ => {
            if f.required {
                field_reason(out, path, format!("{path} is required"));
            }
            return false;
        }
    };
    let wrong = |out: &mut Vec<Reason>, what: &str| {
        field_reason(out, path, format!("{path} must be {what}"));
        false
    };
    match f.ty {
        Ty::String => {
            let s = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) if f.also.contains(&Ty::Number) => {
                    number_text(n.as_f64().unwrap_or(f64::NAN))
                }
                _ => return wrong(out, "a string"),
            };
            if let Some(max) = f.max_chars
                && s.chars().count() > max
            {
                field_reason(out, path, format!("{path} is longer than {max} characters"));
            }
            if let Some(values) = &f.values
                && !values.contains(&s)
            {
                field_reason(out, path, format!("{path} must be one of {values:?}"));
            }
            if let Some(exts) = &f.url_extensions {
                let p = url::Url::parse(&s)
                    .map(|u| u.path().to_string())
                    .unwrap_or_default();
                let ext = p
                    .rsplit_once('.')
                    .map(|(_, e)| e.to_ascii_lowercase())
                    .unwrap_or_default();
                if !exts.contains(&ext) {
                    field_reason(out, path, format!("{path} must be one of {exts:?} files"));
                }
            }
            if f.media.is_some() && f.base64 && s.starts_with("data:") {
                // Live: "File is not in a valid base64 format" for a data: URI (SOURCES.md:
                // General Info, images as input: raw Base64, no prefix).
                field_reason(
                    out,
                    path,
                    format!("{path} is not valid Base64 (no data: prefix allowed)"),
                );
            }
            true
        }
        Ty::Number | Ty::Integer => {
            let Some(n) = v.as_f64() else {
                return wrong(out, "a number");
            };
            if f.ty == Ty::Integer && !(v.is_i64() || v.is_u64()) {
                return wrong(out, "an integer");
            }
            if f.out_of_range == OutOfRange::Rounded {
                return true;
            }
            if f.min.is_some_and(|min| n < min) || f.max.is_some_and(|max| n > max) {
                field_reason(out, path, format!("{path} is out of range"));
            }
            if let Some(d) = f.decimals {
                let scaled = n * 10f64.powi(d as i32);
                if (scaled - scaled.round()).abs() > 1e-6 {
                    field_reason(
                        out,
                        path,
                        format!("{path} has more than {d} decimal places"),
                    );
                }
            }
            true
        }
        Ty::Boolean => match v {
            Value::Bool(_) => true,
            Value::String(s) if f.also.contains(&Ty::String) && (s == "true" || s == "false") => {
                true
            }
            _ => wrong(out, "a boolean"),
        },
        Ty::Object => {
            let Some(o) = v.as_object() else {
                return wrong(out, "an object");
            };
            judge_object(&f.fields, &f.rules, o, path, with_rules, out);
            true
        }
        Ty::Array => {
            let Some(items) = v.as_array() else {
                return wrong(out, "an array");
            };
            if let Some(min) = f.min_items
                && items.len() < min
            {
                field_reason(out, path, format!("{path} needs at least {min} items"));
            }
            if let Some(max) = f.max_items
                && items.len() > max
            {
                field_reason(out, path, format!("{path} holds at most {max} items"));
            }
            if let Some(def) = &f.items {
                for (i, item) in items.iter().enumerate() {
                    let p = format!("{path}[{i}]");
                    if item.is_null() {
                        field_reason(out, &p, format!("{p} may not be null"));
                    } else {
                        judge_value(def, Some(item), &p, with_rules, out);
                    }
                }
            }
            true
        }
    }
}

#[cfg(test)]
mod tests;
