//! Legacy custom elements: `POST /v1/general/custom-elements`, synchronous, and its lists
//! `GET /v1/general/custom-elements` and `GET /v1/general/presets-elements` (SOURCES.md:
//! Elements, the Chinese transcription of the older page).
//!
//! Request: `element_name` (required, ≤ 20 characters), `element_description` (required, ≤ 100),
//! `element_frontal_image` (required; URL or raw Base64, the image rules),
//! `element_refer_list` (required, 1–3 `{image_url}`), `tag_list` (`[{tag_id}]`, `o_101`..`o_108`).
//! Answer: `data {element_id, element_name, element_description, element_frontal_image,
//! element_refer_list, tag_list: [{id, name, description}], owned_by}`.
//!
//! There is no task to fail, so what a video task would fail on (a picture too small or of the
//! wrong shape, a URL of the mock's own that names no file) is a 400 / 1201 here, naming the
//! field (FIDELITY.md: Elements). The element is usable in `element_list` at once, and deleted
//! through the same delete endpoints as advanced elements (`super::advanced_element`).

use super::Ctx;
use super::advanced_element::{Picture, image_urls};
use super::elements::{self, name_and_description, tag_list, tag_name};
use super::fields::Fields;
use super::video::inputs::{self, Image};
use crate::auth::Account;
use crate::elements::{Element, LegacyElement, Source};
use crate::error::KlingError;
use serde::Serialize;
use serde_json::{Map, Value, json};

/// Largest `pageSize` of the two lists (SOURCES.md: General Info).
pub const MAX_PAGE_SIZE: u32 = 500;

/// A validated create request.
#[derive(Clone, Debug, PartialEq)]
pub struct CreateCustomElement {
    /// `element_name`.
    pub name: String,
    /// `element_description`.
    pub description: String,
    /// `element_frontal_image`, then `element_refer_list[].image_url`, with their field names.
    pub images: Vec<(String, Image)>,
    /// `tag_list`.
    pub tags: Vec<&'static str>,
}

impl CreateCustomElement {
    /// Validate a body.
    pub fn parse(body: &Map<String, Value>) -> Result<Self, KlingError> {
        let f = Fields::new(body);
        let (name, description) = name_and_description(&f)?;
        let frontal = Image::parse("element_frontal_image", f.req_str("element_frontal_image")?)?;
        let refer = super::video::object_list(&f, "element_refer_list", usize::MAX)?;
        let (min, max) = elements::REFER_IMAGES;
        if !(min..=max).contains(&refer.len()) {
            return Err(KlingError::param(format!(
                "element_refer_list must have {min} to {max} items, got {}",
                refer.len()
            )));
        }
        let mut images = vec![("element_frontal_image".to_string(), frontal)];
        images.extend(image_urls(&refer, "element_refer_list")?);
        Ok(CreateCustomElement {
            name,
            description,
            images,
            tags: tag_list(&f)?,
        })
    }
}

/// `tag_list` as the legacy answers show it: `[{id, name, description}]` (the description is
/// the name: the documents give none, FIDELITY.md: Elements).
fn wire_tags<'a>(tags: impl IntoIterator<Item = &'a str>) -> Vec<Value> {
    tags.into_iter()
        .map(|t| {
            let name = tag_name(t).unwrap_or_default();
            json!({"id": t, "name": name, "description": name})
        })
        .collect()
}

/// A legacy element on the wire.
#[derive(Serialize)]
struct WireElement {
    element_id: u64,
    element_name: String,
    element_description: String,
    element_frontal_image: String,
    element_refer_list: Vec<Value>,
    tag_list: Vec<Value>,
    owned_by: String,
}

fn to_wire(id: u64, e: &LegacyElement) -> WireElement {
    WireElement {
        element_id: id,
        element_name: e.name.clone(),
        element_description: e.description.clone(),
        element_frontal_image: e.frontal_image.clone(),
        element_refer_list: e
            .refer_images
            .iter()
            .map(|u| json!({"image_url": u}))
            .collect(),
        tag_list: wire_tags(e.tags.iter().map(String::as_str)),
        owned_by: e.owned_by.to_string(),
    }
}

impl super::Call for CreateCustomElement {
    fn answer(
        &self,
        s: &Ctx<'_>,
        account: &Account,
        fail: Option<String>,
    ) -> Result<axum::response::Response, KlingError> {
        // What a task would fail on is refused here, naming the field.
        for (name, img) in &self.images {
            // A picture of the mock's own is measured by the check (on a copy: the answer shows
            // the URL as given either way).
            let mut img = img.clone();
            if let Some(why) = inputs::own_file_check(s, name, &mut img)?.or_else(|| img.failure())
            {
                return Err(KlingError::param(format!("{name}: {why}")));
            }
        }
        let now = s.clock.now_ms();
        let cost = SPEC.id.unit_cost();
        s.engine
            .billing
            .admit(account.idx, SPEC.pool, cost, 0, now)?;
        if let Some(msg) = fail {
            // An outcome rule: there is no task to fail, so the call is refused with its message.
            s.engine
                .billing
                .finish(account.idx, SPEC.pool, 0, None, now);
            return Err(KlingError::param(msg));
        }
        s.engine
            .billing
            .finish(account.idx, SPEC.pool, 0, Some(cost), now);
        let id = s.ids.next(now);
        let n = self.images.len() as u32;
        let base = s.engine.base_url();
        let mut urls =
            self.images.iter().enumerate().map(|(i, (_, img))| {
                Picture::of(s, img, id, (i as u32, n), &self.name, now).url(base)
            });
        let element = LegacyElement {
            name: self.name.clone(),
            description: self.description.clone(),
            frontal_image: urls.next().unwrap_or_default(),
            refer_images: urls.collect(),
            tags: self.tags.iter().map(|t| t.to_string()).collect(),
            owned_by: account.owner_id,
            created_at: now,
        };
        let wire = to_wire(id, &element);
        s.elements.register(
            id,
            Element {
                account: account.idx,
                source: Source::Legacy(Box::new(element)),
                deleted: false,
            },
        );
        Ok(crate::wire::data_response(&wire))
    }
}

/// The kind: its path and cost (see [`super::KindSpec`]).
pub static SPEC: super::KindSpec = super::KindSpec {
    id: super::KindId::new("custom-element"),
    path: "/v1/general/custom-elements",
    mode: super::Mode::Call {
        parse: |body| Ok(Box::new(CreateCustomElement::parse(body)?)),
    },
    max_page_size: MAX_PAGE_SIZE,
    lifecycle: super::CALL_LIFECYCLE,
    // --timing-profile realistic: synchronous.
    realistic: super::CALL_LIFECYCLE,
    pool: crate::engine::billing::Pool::Video,
    // As the advanced create (kling-clients.md: a live element create deducted "0").
    unit_deduction: "0",
    doc,
    extras: &[
        super::Extra {
            method: super::ExtraMethod::Get,
            path: "/v1/general/custom-elements",
            handler: own_list,
            doc: own_list_doc,
        },
        super::Extra {
            method: super::ExtraMethod::Get,
            path: "/v1/general/presets-elements",
            handler: presets_list,
            doc: presets_doc,
        },
    ],
};

/// `GET /v1/general/custom-elements?pageNum&pageSize`: the caller's legacy elements that are
/// not deleted, newest first.
fn own_list(
    s: &Ctx<'_>,
    account: &Account,
    input: super::Input<'_>,
) -> Result<axum::response::Response, KlingError> {
    let super::Input::Query(q) = input else {
        return Err(KlingError::param("a query string was expected"));
    };
    let paging = super::fields::Paging::parse(q, MAX_PAGE_SIZE)?;
    let items: Vec<WireElement> = s
        .elements
        .legacy_of(account.idx)
        .into_iter()
        .filter(|(_, _, deleted)| !deleted)
        .skip(paging.offset())
        .take(paging.page_size as usize)
        .map(|(id, e, _)| to_wire(id, &e))
        .collect();
    Ok(crate::wire::data_response(&items))
}

/// `GET /v1/general/presets-elements?pageNum&pageSize`: the preset catalogue, legacy-shaped.
fn presets_list(
    s: &Ctx<'_>,
    _: &Account,
    input: super::Input<'_>,
) -> Result<axum::response::Response, KlingError> {
    let super::Input::Query(q) = input else {
        return Err(KlingError::param("a query string was expected"));
    };
    let paging = super::fields::Paging::parse(q, MAX_PAGE_SIZE)?;
    let base = s.engine.base_url();
    let items: Vec<Value> = elements::presets()
        .iter()
        .skip(paging.offset())
        .take(paging.page_size as usize)
        .map(|p| {
            let [front, refer] = elements::preset_images(p);
            json!({
                "element_id": p.element_id,
                "element_name": p.element_name,
                "element_description": p.element_description,
                "element_frontal_image": front.url(base),
                "element_refer_list": [{"image_url": refer.url(base)}],
                "tag_list": wire_tags(p.tag_ids.iter().map(String::as_str)),
                "owned_by": "kling",
            })
        })
        .collect();
    Ok(crate::wire::data_response(&items))
}

fn own_list_doc() -> super::doc::ExtraDoc {
    use super::doc::*;
    ExtraDoc {
        id: "listCustomElements",
        summary: "The caller's legacy elements that are not deleted, newest first",
        description: "",
        paging: Some(MAX_PAGE_SIZE),
        body: None,
        ok: (
            "A page of legacy elements.",
            json!({"type": "array", "items": schema_ref("LegacyElement")}),
        ),
        field_rules: "",
    }
}

fn presets_doc() -> super::doc::ExtraDoc {
    use super::doc::*;
    ExtraDoc {
        id: "listPresetElements",
        summary: "The preset elements, legacy-shaped (`owned_by: \"kling\"`)",
        description: "The catalogue is made up for the mock (FIDELITY.md: Elements).",
        paging: Some(MAX_PAGE_SIZE),
        body: None,
        ok: (
            "A page of preset elements.",
            json!({"type": "array", "items": schema_ref("LegacyElement")}),
        ),
        field_rules: "",
    }
}

/// Its part of the OpenAPI document.
fn doc() -> super::doc::KindDoc {
    use super::doc::*;
    let image = |desc: &str| json!({"type": "string", "minLength": 1, "description": format!("{desc} An http(s) URL or raw Base64 (.jpg/.jpeg/.png, ≤ 10 MB, sides ≥ 300 px, aspect 1:2.5–2.5:1).")});
    KindDoc {
        tag: "elements",
        ids: ["createCustomElement", "", ""],
        summaries: [
            "Create a legacy custom element: answers with the element",
            "",
            "",
        ],
        description: "SOURCES.md: Elements (the legacy page). Synchronous: there is no task, \
                      query or callback; what a task would fail on is refused with 400 / 1201.",
        request: "CreateCustomElementRequest",
        answer: "LegacyElement",
        answer_description: "The element, usable in element_list at once.",
        field_rules: "a field breaks a rule of the request schema (the message names the field \
                      and the rule); a picture smaller than 300 px or outside 1:2.5–2.5:1, or a \
                      URL of this mock's that is no image it serves",
        schemas: vec![
            (
                "LegacyElement",
                json!({
                    "type": "object",
                    "required": ["element_id", "element_name", "element_description", "element_frontal_image", "element_refer_list", "tag_list", "owned_by"],
                    "properties": {
                        "element_id": {"type": "integer", "format": "int64"},
                        "element_name": {"type": "string"},
                        "element_description": {"type": "string"},
                        "element_frontal_image": {"type": "string", "format": "uri"},
                        "element_refer_list": {"type": "array", "items": {"type": "object", "required": ["image_url"], "properties": {"image_url": {"type": "string", "format": "uri"}}}},
                        "tag_list": {"type": "array", "items": {"type": "object", "required": ["id", "name", "description"], "properties": {"id": {"type": "string"}, "name": {"type": "string"}, "description": {"type": "string"}}}},
                        "owned_by": {"type": "string", "description": "The creator's numeric id, or `kling` for presets."},
                    },
                }),
            ),
            (
                "CreateCustomElementRequest",
                json!({
                    "type": "object",
                    "required": ["element_name", "element_description", "element_frontal_image", "element_refer_list"],
                    "description": "Unknown fields are ignored.",
                    "properties": {
                        "element_name": nonblank(Some(elements::MAX_ELEMENT_NAME), "Name of the element (characters)."),
                        "element_description": nonblank(Some(elements::MAX_ELEMENT_DESCRIPTION), "Description of the element (characters)."),
                        "element_frontal_image": image("The frontal picture."),
                        "element_refer_list": {"type": "array", "minItems": 1, "maxItems": 3, "items": {"type": "object", "required": ["image_url"], "properties": {"image_url": image("A reference picture.")}}},
                        "tag_list": {"type": "array", "maxItems": 8, "items": {"type": "object", "required": ["tag_id"], "properties": {"tag_id": {"enum": elements::TAGS.map(|(t, _)| t)}}}},
                    },
                    "examples": [{"element_name": "Knight", "element_description": "A knight in red armour", "element_frontal_image": "https://example.com/front.png", "element_refer_list": [{"image_url": "https://example.com/side.png"}], "tag_list": [{"tag_id": "o_102"}]}],
                }),
            ),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::video::inputs::tests::png_b64;

    fn parse(v: Value) -> Result<CreateCustomElement, KlingError> {
        CreateCustomElement::parse(v.as_object().unwrap())
    }

    fn body() -> Value {
        json!({
            "element_name": "Knight",
            "element_description": "A knight",
            "element_frontal_image": "https://example.com/front.png",
            "element_refer_list": [{"image_url": "https://example.com/side.png"}],
            "tag_list": [{"tag_id": "o_102"}, {"tag_id": "o_105"}],
        })
    }

    fn err(patch: Value) -> String {
        let mut b = body();
        for (k, v) in patch.as_object().unwrap() {
            b[k] = v.clone();
        }
        parse(b).unwrap_err().message.to_string()
    }

    #[test]
    fn a_legacy_element_is_read() {
        let r = parse(body()).unwrap();
        assert_eq!(r.images.len(), 2);
        assert_eq!(r.images[1].0, "element_refer_list[0].image_url");
        assert_eq!(r.tags, vec!["o_102", "o_105"]);
        assert!(parse(json!({"element_name": "a", "element_description": "b", "element_frontal_image": png_b64(600, 600), "element_refer_list": [{"image_url": png_b64(600, 800)}]})).is_ok());
    }

    #[test]
    fn every_field_has_its_rule() {
        assert_eq!(
            err(json!({"element_frontal_image": null})),
            "element_frontal_image is required"
        );
        assert_eq!(
            err(json!({"element_refer_list": []})),
            "element_refer_list must have 1 to 3 items, got 0"
        );
        assert_eq!(
            err(json!({"element_refer_list": null})),
            "element_refer_list must have 1 to 3 items, got 0"
        );
        let four: Vec<Value> = (0..4)
            .map(|_| json!({"image_url": "https://x/a.png"}))
            .collect();
        assert_eq!(
            err(json!({"element_refer_list": four})),
            "element_refer_list must have 1 to 3 items, got 4"
        );
        assert_eq!(
            err(json!({"element_refer_list": [{"image_url": 3}]})),
            "element_refer_list[0].image_url must be a string, got a number"
        );
        assert_eq!(
            err(json!({"element_refer_list": [{"image_url": "ftp://x/a.png"}]})),
            "element_refer_list[0].image_url must be an http or https URL or raw Base64 image data"
        );
        assert_eq!(
            err(json!({"element_name": ""})),
            "element_name must not be blank"
        );
        assert_eq!(
            err(json!({"element_description": "é".repeat(101)})),
            "element_description must be at most 100 characters, got 101"
        );
        assert_eq!(
            err(json!({"tag_list": [{"tag_id": "Hottest"}]})),
            "tag_list[0].tag_id must be one of o_101, o_102, o_103, o_104, o_105, o_106, o_107, o_108, got 'Hottest'"
        );
    }

    #[test]
    fn tags_carry_id_name_and_description() {
        assert_eq!(
            wire_tags(["o_106"]),
            vec![json!({"id": "o_106", "name": "Scene", "description": "Scene"})]
        );
    }
}
