//! A kind's part of the OpenAPI document, written in the kind's own file and read by
//! `crate::openapi`, which builds the kind's create, single-query and list operations from it and
//! the [`super::KindSpec`]. Also the schema helpers the kinds and the document share.

use serde_json::{Value, json};

/// What the document says of a kind besides what its spec says.
pub struct KindDoc {
    /// The tag that groups its operations (a family of endpoints, e.g. `audio`).
    pub tag: &'static str,
    /// operationIds: create, single query, list (a synchronous kind uses the first only).
    pub ids: [&'static str; 3],
    /// Summaries: create, single query, list.
    pub summaries: [&'static str; 3],
    /// The create's description (its sources, what is checked when).
    pub description: &'static str,
    /// The create body's schema, by name.
    pub request: &'static str,
    /// A task kind: its task's schema (the single query's and the list's items); a synchronous
    /// kind: its answer's.
    pub answer: &'static str,
    /// A synchronous kind's answer, in words (a task kind answers "The task was created.").
    pub answer_description: &'static str,
    /// When a create is 400 / 1201.
    pub field_rules: &'static str,
    /// The schemas the kind adds to `components.schemas`.
    pub schemas: Vec<(&'static str, Value)>,
}

/// What the document says of a kind's own endpoint ([`super::Extra`]); the kind's tag groups it.
pub struct ExtraDoc {
    /// operationId.
    pub id: &'static str,
    /// Summary.
    pub summary: &'static str,
    /// Description (may be empty).
    pub description: &'static str,
    /// A paged list: its largest `pageSize` (the paging parameters and their error are added).
    pub paging: Option<u32>,
    /// A `POST`'s body schema, by name.
    pub body: Option<&'static str>,
    /// The success answer: its description and its `data` schema.
    pub ok: (&'static str, Value),
    /// A `POST`: when it is 400 / 1201 (besides a body that is not a JSON object).
    pub field_rules: &'static str,
}

/// The 1201 cause of every asynchronous create.
pub const TASK_FIELD_RULES: &str = "a field breaks a rule of the request schema (the message \
                                    names the field and the rule), or the external_task_id is \
                                    already used by the account (`External_task_id … already \
                                    exists`)";

/// How optional string fields treat `null` and `""`.
pub const ABSENT_OR_EMPTY: &str = "`null` and `\"\"` count as absent.";

/// A reference to `#/components/schemas/{name}`.
pub fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// A numeric id string.
pub fn id_schema() -> Value {
    json!({"type": "string", "pattern": "^[0-9]+$"})
}

/// A Unix-ms timestamp.
pub fn ms_schema() -> Value {
    json!({"type": "integer", "format": "int64", "description": "Unix ms."})
}

/// A required string that is not blank, at most `max` characters.
pub fn nonblank(max: Option<usize>, description: &str) -> Value {
    let mut s = json!({"type": "string", "minLength": 1, "pattern": "\\S",
                       "description": description});
    if let Some(m) = max {
        s["maxLength"] = json!(m);
    }
    s
}

/// One item of a preset list (presets-voices, advanced-presets-elements): a task-like object,
/// always `succeed`, whose `task_result.<list>` holds `item`s.
pub fn preset_item(list: &str, item: &str) -> Value {
    json!({
        "type": "object",
        "required": ["task_id", "task_status", "task_status_msg", "created_at", "updated_at", "task_result"],
        "properties": {
            "task_id": {"type": "string"},
            "task_status": {"const": "succeed"},
            "task_status_msg": {"const": ""},
            "created_at": ms_schema(),
            "updated_at": ms_schema(),
            "task_result": {
                "type": "object",
                "required": [list],
                "properties": {list: {"type": "array", "items": schema_ref(item)}},
            },
        },
    })
}

/// The answer of a delete (delete-voices, delete-elements): `{task_id, task_status}`.
pub fn deleted_answer() -> Value {
    json!({
        "type": "object",
        "required": ["task_id", "task_status"],
        "properties": {"task_id": id_schema(), "task_status": {"const": "succeed"}},
    })
}

/// A task of a kind whose `task_result` holds a list `list` of `item`s.
pub fn task_of(item: &str, list: &str) -> Value {
    json!({
        "allOf": [schema_ref("Task")],
        "properties": {"task_result": {
            "type": "object",
            "description": "`{}` until the task succeeds.",
            "properties": {list: {"type": "array", "items": schema_ref(item)}},
        }},
    })
}

/// `^$|` + an absolute http(s) URL whose path ends with one of `exts` (case-insensitive; ECMA
/// regexes have no inline flags, hence the character classes). The host is a plain domain name
/// whose last label starts with a letter, and an optional port: narrower than what the mock's URL
/// parser accepts (IP literals, user info, internationalised names), so that every string the
/// pattern admits is accepted.
pub fn url_pattern(exts: &[&str]) -> String {
    let ci = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphabetic() {
                    format!("[{}{}]", c.to_ascii_lowercase(), c.to_ascii_uppercase())
                } else {
                    c.to_string()
                }
            })
            .collect()
    };
    let port =
        "(?::(?:[0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?";
    let host = "(?:[A-Za-z0-9-]+\\.)*[A-Za-z][A-Za-z0-9-]*";
    let scheme = format!("{}[sS]?://{host}{port}", ci("http"));
    if exts.is_empty() {
        format!("^$|^{scheme}([/?#]\\S*)?$")
    } else {
        let alts: Vec<String> = exts.iter().map(|e| ci(e)).collect();
        format!("^$|^{scheme}/[^?#\\s]*\\.({})([?#]\\S*)?$", alts.join("|"))
    }
}
