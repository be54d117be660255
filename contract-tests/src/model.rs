//! The oracle: the documented contract, read from `fixtures/contract/` (and the Voice Guide's
//! `fixtures/tts-voices.json`), and the harness's own reading of it.
//!
//! Nothing here comes from `kling-mock`: the fixtures are transcriptions of the Kling documents
//! (each file names its sources), and the rules below are written from those documents. Where
//! the documents are silent the harness does not generate the case at all, so it never grades a
//! choice the documents did not make.

use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet};

const ENDPOINTS: &str = include_str!("../../fixtures/contract/endpoints.json");
const ERRORS: &str = include_str!("../../fixtures/contract/errors.json");
const TTS_VOICES: &str = include_str!("../../fixtures/tts-voices.json");

/// A JSON type a field must have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Ty {
    /// A JSON string.
    String,
    /// A JSON number.
    Number,
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

/// One request field.
#[derive(Clone, Debug, Deserialize)]
pub struct Field {
    /// Field name.
    pub name: String,
    /// JSON type.
    #[serde(rename = "type")]
    pub ty: Ty,
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
    pub default: Option<String>,
    /// The value is a URL (its validity is not documented: only valid URLs are generated).
    #[serde(default)]
    pub url: bool,
    /// Allowed file extensions of a URL's path.
    pub url_extensions: Option<Vec<String>>,
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
    /// Groups of fields of which exactly one must be present.
    #[serde(default)]
    pub exactly_one_of: Vec<Vec<String>>,
    /// Paging ranges of a list.
    pub paging: Option<Paging>,
    /// Name of the success `data` shape.
    pub response: String,
    /// The key of `task_result` that holds the results (`voices`, `audios`).
    pub result_key: Option<String>,
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
    /// Key of `task_result` holding the results (`voices`, `audios`).
    pub results: String,
    /// A minimal valid create body (without `external_task_id`).
    pub example: Value,
    /// How an owner deletes what a succeeded task made, if the family has a delete.
    pub delete: Option<FamilyDelete>,
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

/// The oracle's verdict on a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The documents say it is accepted.
    Accept,
    /// The documents say it is refused, and why.
    Reject(String),
}

impl Verdict {
    /// Whether accepted.
    pub fn accepted(&self) -> bool {
        matches!(self, Verdict::Accept)
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
    http_of: HashMap<i64, u16>,
    auth_codes: HashMap<String, i64>,
    /// Codes of validation rejections (1200, 1201).
    pub validation_codes: Vec<i64>,
    /// Codes that mean "slow down and retry" (1302, 1303).
    pub retry_codes: Vec<i64>,
    /// (voice_id, voice_language) pairs TTS accepts.
    pub tts_voices: HashSet<(String, String)>,
}

impl Contract {
    /// The contract compiled into the harness.
    pub fn load() -> Result<Contract, String> {
        let e: EndpointsFile =
            serde_json::from_str(ENDPOINTS).map_err(|e| format!("endpoints.json: {e}"))?;
        let errors: ErrorsFile =
            serde_json::from_str(ERRORS).map_err(|e| format!("errors.json: {e}"))?;
        let voices: Vec<VoiceRow> =
            serde_json::from_str(TTS_VOICES).map_err(|e| format!("tts-voices.json: {e}"))?;
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
        }
        Ok(Contract {
            endpoints: e.endpoints,
            families,
            shapes: e.shapes,
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

    /// An endpoint by name (panics on a name not in the fixture: a harness bug).
    pub fn endpoint(&self, name: &str) -> &Endpoint {
        self.endpoints
            .get(name)
            .unwrap_or_else(|| panic!("no endpoint '{name}' in fixtures/contract/endpoints.json"))
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
        let ep = self.endpoint(endpoint);
        let Some(obj) = body.as_object() else {
            return Verdict::Reject("body is not a JSON object".into());
        };
        let mut present: HashSet<&str> = HashSet::new();
        for f in &ep.fields {
            match judge_field(f, obj.get(&f.name)) {
                Ok(true) => {
                    present.insert(&f.name);
                }
                Ok(false) if f.required => {
                    return Verdict::Reject(format!("{} is required", f.name));
                }
                Ok(false) => {}
                Err(why) => return Verdict::Reject(why),
            }
        }
        for group in &ep.exactly_one_of {
            let n = group
                .iter()
                .filter(|g| present.contains(g.as_str()))
                .count();
            if n != 1 {
                return Verdict::Reject(format!(
                    "exactly one of {} is required, got {n}",
                    group.join(", ")
                ));
            }
        }
        if endpoint == "tts" {
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
                return Verdict::Reject("Voice id not found".into());
            }
        }
        Verdict::Accept
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
                        return Verdict::Reject(format!(
                            "{name} must be in [{}, {}], got '{raw}'",
                            range[0], range[1]
                        ));
                    }
                }
            }
        }
        Verdict::Accept
    }
}

/// `Ok(true)`: present and valid; `Ok(false)`: absent; `Err`: present and invalid.
fn judge_field(f: &Field, v: Option<&Value>) -> Result<bool, String> {
    let v = match v {
        None | Some(Value::Null) => return Ok(false),
        Some(v) => v,
    };
    match f.ty {
        Ty::String => {
            let Some(s) = v.as_str() else {
                return Err(format!("{} must be a string", f.name));
            };
            if s.is_empty() {
                return Ok(false);
            }
            if let Some(max) = f.max_chars
                && s.chars().count() > max
            {
                return Err(format!("{} is longer than {max} characters", f.name));
            }
            if let Some(values) = &f.values
                && !values.iter().any(|x| x == s)
            {
                return Err(format!("{} must be one of {values:?}", f.name));
            }
            if let Some(exts) = &f.url_extensions {
                let path = url::Url::parse(s)
                    .map(|u| u.path().to_string())
                    .unwrap_or_default();
                let ext = path
                    .rsplit_once('.')
                    .map(|(_, e)| e.to_ascii_lowercase())
                    .unwrap_or_default();
                if !exts.contains(&ext) {
                    return Err(format!("{} must be one of {exts:?} files", f.name));
                }
            }
            Ok(true)
        }
        Ty::Number => {
            let Some(n) = v.as_f64() else {
                return Err(format!("{} must be a number", f.name));
            };
            if f.out_of_range == OutOfRange::Rounded {
                return Ok(true);
            }
            if f.min.is_some_and(|min| n < min) || f.max.is_some_and(|max| n > max) {
                return Err(format!("{} is out of range", f.name));
            }
            if let Some(d) = f.decimals {
                let scaled = n * 10f64.powi(d as i32);
                if (scaled - scaled.round()).abs() > 1e-6 {
                    return Err(format!("{} has more than {d} decimal places", f.name));
                }
            }
            Ok(true)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_fixtures_load_and_cover_every_seed_endpoint() {
        let c = Contract::load().unwrap();
        for e in [
            "custom_voice_create",
            "custom_voice_get",
            "custom_voice_list",
            "presets_list",
            "delete_voice",
            "tts",
            "text_to_audio_create",
            "text_to_audio_get",
            "text_to_audio_list",
        ] {
            assert!(c.endpoints.contains_key(e), "{e}");
        }
        assert_eq!(c.http_for(1303), Some(429));
        assert_eq!(c.http_for(1202), Some(404));
        assert_eq!(c.http_for(42), None);
        assert_eq!(c.tts_voices.len(), 62);
        assert_eq!(c.auth_code("expired"), 1004);
    }

    #[test]
    fn families_name_their_endpoints_and_their_examples_are_valid_creates() {
        let c = Contract::load().unwrap();
        let names: Vec<&str> = c.families.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["custom_voice", "text_to_audio"]);
        for f in &c.families {
            assert_eq!(
                c.judge(&f.create, &f.example),
                Verdict::Accept,
                "{}",
                f.name
            );
            assert_eq!(
                c.endpoint(&f.create).creates.as_deref(),
                Some(f.name.as_str())
            );
            assert_eq!(
                c.endpoint(&f.get).result_key.as_deref(),
                Some(f.results.as_str())
            );
            assert_eq!(
                c.endpoint(&f.list).result_key.as_deref(),
                Some(f.results.as_str())
            );
        }
        // What the properties derive from the file, not from tables of their own.
        assert_eq!(
            c.lists(),
            ["custom_voice_list", "presets_list", "text_to_audio_list"]
        );
        assert_eq!(
            c.creates(),
            ["custom_voice_create", "text_to_audio_create", "tts"]
        );
        assert_eq!(c.gets(), ["custom_voice_get", "text_to_audio_get"]);
    }

    #[test]
    fn the_oracle_reads_the_documented_rules() {
        let c = Contract::load().unwrap();
        let ok = json!({"prompt": "rain", "duration": 3.5});
        assert_eq!(c.judge("text_to_audio_create", &ok), Verdict::Accept);
        assert!(
            !c.judge(
                "text_to_audio_create",
                &json!({"prompt": "rain", "duration": 3.55})
            )
            .accepted()
        );
        assert!(
            !c.judge(
                "text_to_audio_create",
                &json!({"prompt": "rain", "duration": 10.5})
            )
            .accepted()
        );
        assert!(
            !c.judge(
                "text_to_audio_create",
                &json!({"prompt": "rain", "duration": "5"})
            )
            .accepted()
        );
        assert!(
            !c.judge("text_to_audio_create", &json!({"duration": 5}))
                .accepted()
        );
        let both = json!({"voice_name": "a", "voice_url": "https://x/a.mp3", "video_id": "1"});
        assert!(!c.judge("custom_voice_create", &both).accepted());
        let empty_video =
            json!({"voice_name": "a", "voice_url": "https://x/a.mp3", "video_id": ""});
        assert!(c.judge("custom_voice_create", &empty_video).accepted());
        assert!(
            !c.judge(
                "custom_voice_create",
                &json!({"voice_name": "a", "voice_url": "https://x/a.ogg"})
            )
            .accepted()
        );
        let tts = json!({"text": "hi", "voice_id": "oversea_male1", "voice_language": "en", "voice_speed": 7});
        assert!(
            c.judge("tts", &tts).accepted(),
            "speed is rounded, not refused"
        );
        assert!(
            !c.judge("tts", &json!({"text": "hi", "voice_id": "oversea_male1"}))
                .accepted(),
            "zh by default"
        );
        assert!(
            c.judge_paging("text_to_audio_list", Some("1000"), Some("500"))
                .accepted()
        );
        assert!(
            !c.judge_paging("text_to_audio_list", None, Some("501"))
                .accepted()
        );
        assert!(
            c.judge_paging("custom_voice_list", None, Some("501"))
                .accepted()
        );
        assert!(
            !c.judge_paging("custom_voice_list", Some("0"), None)
                .accepted()
        );
    }
}
