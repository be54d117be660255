//! What the element kinds share, and what the video kinds ask of elements (SOURCES.md:
//! Elements).
//!
//! * The tags (`tag_list[].tag_id`): `o_101` Hottest … `o_108` Others.
//! * The preset catalogue (`fixtures/preset-elements.json`, made up for the mock: FIDELITY.md,
//!   Elements): twelve elements owned by `kling`, listed by `advanced-presets-elements` and
//!   `presets-elements`, usable by every account, never deletable. Each has a frontal and a
//!   reference picture: PNG files of the mock's own with fixed names, registered at start and
//!   kept across resets.
//! * [`check_element_list`]: whether the ids of a create's `element_list` name elements the
//!   caller may use — its own advanced elements whose task succeeded, its own legacy elements,
//!   or presets; never deleted ones or another account's.
//!
//! The kinds themselves live in `advanced_element` (the task, its preset list and the deletes)
//! and `custom_element` (the legacy synchronous create and its lists); the registry of created
//! elements is `crate::elements`.

use super::Ctx;
use super::fields::Fields;
use crate::auth::Account;
use crate::elements::Source;
use crate::error::KlingError;
use crate::media::{Format, ImageFile, Label, MediaLibrary, MediaRef, Token};
use serde::Deserialize;
use serde_json::Value;
use std::sync::LazyLock;

/// The tags an element may carry: (`tag_id`, name) (SOURCES.md: Elements).
pub const TAGS: [(&str, &str); 8] = [
    ("o_101", "Hottest"),
    ("o_102", "Character"),
    ("o_103", "Animal"),
    ("o_104", "Item"),
    ("o_105", "Costume"),
    ("o_106", "Scene"),
    ("o_107", "Effect"),
    ("o_108", "Others"),
];

/// The name of tag `id`.
pub fn tag_name(id: &str) -> Option<&'static str> {
    TAGS.iter().find(|(t, _)| *t == id).map(|(_, n)| *n)
}

/// Longest `element_name`, characters.
pub const MAX_ELEMENT_NAME: usize = 20;
/// Longest `element_description`, characters.
pub const MAX_ELEMENT_DESCRIPTION: usize = 100;
/// Reference images besides the frontal one: at least, at most.
pub const REFER_IMAGES: (usize, usize) = (1, 3);

/// Read `element_name` and `element_description` (both required; ≤ 20 and ≤ 100 characters).
pub fn name_and_description(f: &Fields<'_>) -> Result<(String, String), KlingError> {
    let name = f.req_str("element_name")?;
    super::fields::max_chars("element_name", name, MAX_ELEMENT_NAME)?;
    let description = f.req_str("element_description")?;
    super::fields::max_chars("element_description", description, MAX_ELEMENT_DESCRIPTION)?;
    Ok((name.to_string(), description.to_string()))
}

/// Read `tag_list`: `[{tag_id}]`, each one of [`TAGS`], no repeats; empty when absent.
pub fn tag_list(f: &Fields<'_>) -> Result<Vec<&'static str>, KlingError> {
    let items = super::video::object_list(f, "tag_list", TAGS.len())?;
    let mut out: Vec<&'static str> = Vec::with_capacity(items.len());
    for (i, o) in items.iter().enumerate() {
        let id = match o.get("tag_id") {
            None | Some(Value::Null) => {
                return Err(KlingError::param(format!(
                    "tag_list[{i}].tag_id must not be null"
                )));
            }
            Some(Value::String(s)) => s.as_str(),
            Some(other) => {
                return Err(KlingError::param(format!(
                    "tag_list[{i}].tag_id must be a string, got {}",
                    super::fields::json_kind(other)
                )));
            }
        };
        let Some((tag, _)) = TAGS.iter().find(|(t, _)| *t == id) else {
            return Err(KlingError::param(format!(
                "tag_list[{i}].tag_id must be one of {}, got '{id}'",
                TAGS.map(|(t, _)| t).join(", ")
            )));
        };
        if out.contains(tag) {
            return Err(KlingError::param(format!(
                "tag_list[{i}].tag_id '{id}' is given twice"
            )));
        }
        out.push(tag);
    }
    Ok(out)
}

/// A row of `fixtures/preset-elements.json`.
#[derive(Debug, Deserialize)]
pub struct PresetElement {
    /// The catalogue item's `task_id`.
    pub task_id: String,
    /// The element id (18 digits, below the mock's generated ids).
    #[serde(deserialize_with = "numeric_string")]
    pub element_id: u64,
    /// `element_name`.
    pub element_name: String,
    /// `element_description`.
    pub element_description: String,
    /// Its tags (`o_101`..`o_108`).
    pub tag_ids: Vec<String>,
    /// `created_at` = `updated_at` of the item.
    pub created_at: i64,
}

fn numeric_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let s = String::deserialize(d)?;
    s.parse().map_err(serde::de::Error::custom)
}

/// The preset catalogue, in catalogue order. The fixture is part of the source tree and checked
/// by a unit test; a broken file is logged and leaves the catalogue empty, never a panic.
pub fn presets() -> &'static [PresetElement] {
    static PRESETS: LazyLock<Vec<PresetElement>> = LazyLock::new(|| {
        serde_json::from_str(include_str!("../../../fixtures/preset-elements.json"))
            .unwrap_or_else(|err| {
                tracing::error!(%err, "fixtures/preset-elements.json is invalid; no preset elements");
                Vec::new()
            })
    });
    &PRESETS
}

/// The preset element `id`, if there is one.
pub fn preset(id: u64) -> Option<&'static PresetElement> {
    presets().iter().find(|p| p.element_id == id)
}

/// Pixels of a preset's pictures (portrait 3:4).
const PRESET_SIZE: (u32, u32) = (768, 1024);
/// Marks the tokens of preset pictures ("elem" in the low half).
const PRESET_TAG: u64 = 0x656c_656d_5f70_7265;

fn preset_token(element_id: u64, index: u32) -> Token {
    ((u128::from(element_id) << 64) | u128::from(PRESET_TAG ^ u64::from(index))).to_be_bytes()
}

/// The frontal (index 0) and reference (index 1) pictures of preset `p`.
pub fn preset_images(p: &PresetElement) -> [MediaRef; 2] {
    [0, 1].map(|i| MediaRef {
        token: preset_token(p.element_id, i),
        format: Format::Png,
        samples: 0,
    })
}

/// Whether `token` names a preset element's picture (kept across resets).
pub fn is_preset_file(token: &Token) -> bool {
    presets()
        .iter()
        .any(|p| preset_images(p).iter().any(|m| &m.token == token))
}

/// Register the preset elements' pictures in `media` (at start; they never expire).
pub fn register_preset_files(media: &MediaLibrary) {
    for p in presets() {
        for (i, m) in preset_images(p).iter().enumerate() {
            media.add_image(
                m.token,
                ImageFile {
                    task_id: p.element_id,
                    index: i as u32,
                    n: 2,
                    width: PRESET_SIZE.0,
                    height: PRESET_SIZE.1,
                    seed: p.element_id,
                    watermark: false,
                    label: Label::new(&p.element_name),
                    format: Format::Png,
                    born: None,
                },
            );
        }
    }
}

/// What an element id names for a caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// A preset element.
    Preset,
    /// The caller's own element, usable now (an advanced one: its task has succeeded).
    Own(Source),
    /// The caller's own element, deleted.
    Deleted,
    /// Nothing the caller may use: unknown, another account's, or an advanced element whose
    /// task has not succeeded (yet, or ever).
    Missing,
}

/// What element `id` is for `account`.
pub fn lookup(s: &Ctx<'_>, account: u32, id: u64) -> Lookup {
    if preset(id).is_some() {
        return Lookup::Preset;
    }
    let Some(e) = s.elements.of(account, id) else {
        return Lookup::Missing;
    };
    if e.deleted {
        return Lookup::Deleted;
    }
    match &e.source {
        Source::Task(task_id) => match s.engine.get_owned(account, *task_id) {
            Some(t) if t.status == crate::engine::Status::Succeed => Lookup::Own(e.source),
            _ => Lookup::Missing,
        },
        Source::Legacy(_) => Lookup::Own(e.source),
    }
}

/// Check the ids of a create's `element_list`: each must name a preset or one of the caller's
/// own live elements (advanced, once its task has succeeded, or legacy). The first that does not
/// is refused with 400 / 1201: `element_list[i].element_id: Element not found by id: N`, or
/// `... Element N has been deleted`. Called from the `resolve` hook of every kind that reads
/// `element_list`.
pub fn check_element_list(s: &Ctx<'_>, account: &Account, ids: &[u64]) -> Result<(), KlingError> {
    for (i, &id) in ids.iter().enumerate() {
        match lookup(s, account.idx, id) {
            Lookup::Preset | Lookup::Own(_) => {}
            Lookup::Deleted => {
                return Err(KlingError::param(format!(
                    "element_list[{i}].element_id: Element {id} has been deleted"
                )));
            }
            Lookup::Missing => {
                return Err(KlingError::param(format!(
                    "element_list[{i}].element_id: Element not found by id: {id}"
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_preset_catalogue_loads_and_covers_every_tag() {
        let p = presets();
        assert_eq!(p.len(), 12);
        for row in p {
            assert_eq!(row.element_id.to_string().len(), 18);
            assert!(
                row.element_id < 800_000_000_000_000_000,
                "below generated ids"
            );
            assert!(row.element_name.chars().count() <= MAX_ELEMENT_NAME);
            assert!(row.element_description.chars().count() <= MAX_ELEMENT_DESCRIPTION);
            assert!(row.tag_ids.iter().all(|t| tag_name(t).is_some()), "{row:?}");
        }
        for (tag, _) in TAGS {
            assert!(
                p.iter().any(|r| r.tag_ids.iter().any(|t| t == tag)),
                "no preset with {tag}"
            );
        }
        let media = MediaLibrary::default();
        register_preset_files(&media);
        assert_eq!(media.image_count(), 24, "two pictures a preset");
        let first = preset_images(&p[0]);
        assert!(is_preset_file(&first[1].token));
        assert!(!is_preset_file(&[0; 16]));
    }

    #[test]
    fn tags_must_be_known_objects_given_once() {
        let read = |v: Value| tag_list(&Fields::new(v.as_object().unwrap()));
        assert_eq!(
            read(json!({"tag_list": [{"tag_id": "o_102"}, {"tag_id": "o_108"}]})).unwrap(),
            vec!["o_102", "o_108"]
        );
        assert!(read(json!({})).unwrap().is_empty());
        let msg = |v: Value| read(v).unwrap_err().message.to_string();
        assert_eq!(
            msg(json!({"tag_list": [{"tag_id": "o_109"}]})),
            "tag_list[0].tag_id must be one of o_101, o_102, o_103, o_104, o_105, o_106, o_107, o_108, got 'o_109'"
        );
        assert_eq!(
            msg(json!({"tag_list": [{"tag_id": "o_101"}, {}]})),
            "tag_list[1].tag_id must not be null"
        );
        assert_eq!(
            msg(json!({"tag_list": [{"tag_id": 101}]})),
            "tag_list[0].tag_id must be a string, got a number"
        );
        assert_eq!(
            msg(json!({"tag_list": [{"tag_id": "o_101"}, {"tag_id": "o_101"}]})),
            "tag_list[1].tag_id 'o_101' is given twice"
        );
        assert_eq!(
            msg(json!({"tag_list": "o_101"})),
            "tag_list must be an array, got a string"
        );
    }

    #[test]
    fn names_and_descriptions_have_their_limits() {
        let read = |v: Value| name_and_description(&Fields::new(v.as_object().unwrap()));
        assert!(
            read(json!({"element_name": "a".repeat(20), "element_description": "d".repeat(100)}))
                .is_ok()
        );
        let msg = |v: Value| read(v).unwrap_err().message.to_string();
        assert_eq!(
            msg(json!({"element_description": "d"})),
            "element_name is required"
        );
        assert_eq!(
            msg(json!({"element_name": "a".repeat(21), "element_description": "d"})),
            "element_name must be at most 20 characters, got 21"
        );
        assert_eq!(
            msg(json!({"element_name": "a", "element_description": " "})),
            "element_description must not be blank"
        );
        assert_eq!(
            msg(json!({"element_name": "a", "element_description": "d".repeat(101)})),
            "element_description must be at most 100 characters, got 101"
        );
    }
}
