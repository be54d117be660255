//! ENDPOINTS.md: the OpenAPI document ([`super::document`]) rendered as a Markdown reference, one
//! section per operation with its parameters, body fields (type, required, rules, meaning), the
//! fields of its answer and the errors its handler gives. Generated, never written by hand:
//! `tests/api/openapi.rs` fails when the committed file differs, and rewrites it when run with
//! `KLING_MOCK_BLESS=1`.

use serde_json::{Map, Value};
use std::fmt::Write as _;

/// Patterns longer than this are not shown (the URL patterns are explained by their description).
const MAX_PATTERN: usize = 24;
/// How deep the fields of an answer are unfolded (`data.task_result.audios[].url_wav` is 3).
const MAX_DEPTH: usize = 4;

/// The reference of `doc` (an OpenAPI 3.1 document as [`super::document`] builds it).
pub fn markdown(doc: &Value) -> String {
    let r = Renderer { doc };
    let mut out = String::new();
    out.push_str(
        "# Endpoints\n\n\
         Every endpoint kling-mock serves: its parameters, body fields and rules, the fields of \
         its answer and the errors it gives. Generated from the OpenAPI document the mock serves \
         at `GET /__mock/openapi.json` (`kling_mock::openapi::document()`), so it cannot drift \
         from what the server checks: do not edit it by hand; `KLING_MOCK_BLESS=1 cargo test -p \
         kling-mock --test api openapi` rewrites it. Back to the [README](README.md); the \
         official pages behind each rule: [SOURCES.md](SOURCES.md).\n\n\
         Every answer but media files is the envelope `{code, message, request_id, data}`; \
         errors carry no `data`. Any public path can also answer any documented code when a \
         control-plane fault rule fires (README, \"Control plane\"); those are not repeated \
         below.\n\n",
    );
    let tags: Vec<(String, String)> = doc["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| (str_of(&t["name"]), str_of(&t["description"])))
        .collect();
    let ops = r.operations();
    out.push_str("## Contents\n\n");
    for (tag, desc) in &tags {
        let _ = writeln!(out, "* **{tag}**: {desc}");
        for (method, path, _) in ops.iter().filter(|(_, _, op)| op["tags"][0] == **tag) {
            let _ = writeln!(
                out,
                "  * [`{method} {path}`](#{})",
                anchor(&format!("{method} {path}"))
            );
        }
    }
    out.push('\n');
    for (tag, desc) in &tags {
        let _ = writeln!(out, "## {tag}\n\n{desc}\n");
        for (method, path, op) in ops.iter().filter(|(_, _, op)| op["tags"][0] == **tag) {
            r.operation(&mut out, method, path, op);
        }
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

struct Renderer<'a> {
    doc: &'a Value,
}

impl Renderer<'_> {
    /// (METHOD, path, operation) in path order, then method order.
    fn operations(&self) -> Vec<(String, String, &Value)> {
        let mut ops = Vec::new();
        for (path, item) in self.doc["paths"].as_object().into_iter().flatten() {
            for (method, op) in item.as_object().into_iter().flatten() {
                ops.push((method.to_uppercase(), path.clone(), op));
            }
        }
        ops.sort_by(|a, b| (&a.1, &a.0).cmp(&(&b.1, &b.0)));
        ops
    }

    /// A schema with its `$ref` followed (and `allOf` parts merged into one object).
    fn resolve(&self, s: &Value) -> Value {
        if let Some(r) = s["$ref"].as_str() {
            let name = r.rsplit('/').next().unwrap_or_default();
            let mut target = self.resolve(&self.doc["components"]["schemas"][name]);
            if let (Some(t), Some(own)) = (target.as_object_mut(), s.as_object()) {
                for (k, v) in own.iter().filter(|(k, _)| *k != "$ref") {
                    t.insert(k.clone(), v.clone());
                }
            }
            return target;
        }
        let Some(parts) = s["allOf"].as_array() else {
            return s.clone();
        };
        let mut merged = Map::new();
        let mut props = Map::new();
        let mut required = Vec::new();
        for part in parts.iter().map(|p| self.resolve(p)).chain([s.clone()]) {
            if let Some(p) = part["properties"].as_object() {
                props.extend(p.clone());
            }
            required.extend(part["required"].as_array().cloned().unwrap_or_default());
            for (k, v) in part.as_object().into_iter().flatten() {
                if !matches!(k.as_str(), "properties" | "required" | "allOf") {
                    merged.insert(k.clone(), v.clone());
                }
            }
        }
        merged.insert("properties".into(), Value::Object(props));
        merged.insert("required".into(), Value::Array(required));
        Value::Object(merged)
    }

    fn operation(&self, out: &mut String, method: &str, path: &str, op: &Value) {
        let _ = writeln!(out, "### `{method} {path}`\n");
        let _ = writeln!(out, "{}", sentence(&str_of(&op["summary"])));
        let desc = str_of(&op["description"]);
        if !desc.is_empty() {
            let _ = writeln!(out, "{desc}");
        }
        out.push('\n');
        let params: Vec<&Value> = op["parameters"].as_array().into_iter().flatten().collect();
        if !params.is_empty() {
            out.push_str("| parameter | in | type | required | rules | meaning |\n|---|---|---|---|---|---|\n");
            for p in params {
                let s = self.resolve(&p["schema"]);
                let _ = writeln!(
                    out,
                    "| `{}` | {} | {} | {} | {} | {} |",
                    str_of(&p["name"]),
                    str_of(&p["in"]),
                    type_of(&s),
                    yes_no(p["required"].as_bool().unwrap_or(false)),
                    cell(&rules(&s)),
                    cell(&str_of(&p["description"]))
                );
            }
            out.push('\n');
        }
        let body = &op["requestBody"];
        if let Some(schema) = body["content"]["application/json"]["schema"].as_object() {
            let s = self.resolve(&Value::Object(schema.clone()));
            let required = if body["required"].as_bool().unwrap_or(false) {
                "a JSON object"
            } else {
                "an optional JSON object"
            };
            let _ = writeln!(out, "**Body**: {required}. {}\n", str_of(&s["description"]));
            self.fields(out, &s, true);
            if let Some(variants) = s["oneOf"].as_array() {
                out.push_str("Exactly one of these holds:\n\n");
                for v in variants {
                    let _ = writeln!(out, "* {}", self.variant(v));
                }
                out.push('\n');
            }
        }
        let ok = &op["responses"]["200"];
        let content = &ok["content"];
        let _ = write!(out, "**Answer** (200): {}", str_of(&ok["description"]));
        match content["application/json"]["schema"].as_object() {
            Some(schema) => {
                let s = self.resolve(&Value::Object(schema.clone()));
                let data = self.resolve(&s["properties"]["data"]);
                if data["properties"]
                    .as_object()
                    .is_some_and(|p| !p.is_empty())
                    || data["items"].is_object()
                {
                    let shape = if data["type"] == "array" || data["items"].is_object() {
                        " `data` is an array of:"
                    } else {
                        " `data`:"
                    };
                    let _ = writeln!(out, "{shape}\n");
                    let item = if data["items"].is_object() {
                        self.resolve(&data["items"])
                    } else {
                        data
                    };
                    self.fields(out, &item, false);
                } else {
                    out.push_str("\n\n");
                }
            }
            None => {
                let types: Vec<&String> = content
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, _)| k)
                    .collect();
                let types: Vec<String> = types.iter().map(|t| format!("`{t}`")).collect();
                let _ = writeln!(out, " ({}).\n", types.join(", "));
            }
        }
        let mut errors = Vec::new();
        for (status, resp) in op["responses"].as_object().into_iter().flatten() {
            for c in resp["x-kling-causes"].as_array().into_iter().flatten() {
                errors.push((
                    status.clone(),
                    c["code"].as_u64().unwrap_or(0),
                    str_of(&c["cause"]),
                ));
            }
        }
        if !errors.is_empty() {
            out.push_str("| HTTP | code | when |\n|---|---|---|\n");
            for (status, code, cause) in errors {
                let _ = writeln!(out, "| {status} | {code} | {} |", cell(&cause));
            }
            out.push('\n');
        }
    }

    /// A table of an object's fields, nested objects and arrays of objects unfolded with dotted
    /// names (`task_result.audios[].url_wav`).
    fn fields(&self, out: &mut String, s: &Value, request: bool) {
        let mut rows = Vec::new();
        self.collect(s, "", 0, &mut rows);
        if rows.is_empty() {
            return;
        }
        if request {
            out.push_str("| field | type | required | rules | meaning |\n|---|---|---|---|---|\n");
        } else {
            out.push_str("| field | type | always there | meaning |\n|---|---|---|---|\n");
        }
        for (name, ty, req, rules, meaning) in rows {
            if request {
                let _ = writeln!(
                    out,
                    "| `{name}` | {ty} | {} | {} | {} |",
                    yes_no(req),
                    cell(&rules),
                    cell(&meaning)
                );
            } else {
                let meaning = [meaning, rules]
                    .into_iter()
                    .filter(|m| !m.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ");
                let _ = writeln!(
                    out,
                    "| `{name}` | {ty} | {} | {} |",
                    yes_no(req),
                    cell(&meaning)
                );
            }
        }
        out.push('\n');
    }

    fn collect(
        &self,
        s: &Value,
        prefix: &str,
        depth: usize,
        rows: &mut Vec<(String, String, bool, String, String)>,
    ) {
        let required: Vec<&str> = s["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        for (name, raw) in s["properties"].as_object().into_iter().flatten() {
            let f = self.resolve(raw);
            let full = format!("{prefix}{name}");
            rows.push((
                full.clone(),
                type_of(&f),
                required.contains(&name.as_str()),
                rules(&f),
                str_of(&f["description"]),
            ));
            if depth + 1 >= MAX_DEPTH {
                continue;
            }
            if f["properties"].as_object().is_some_and(|p| !p.is_empty()) {
                self.collect(&f, &format!("{full}."), depth + 1, rows);
            } else if f["items"].is_object() {
                let item = self.resolve(&f["items"]);
                if item["properties"]
                    .as_object()
                    .is_some_and(|p| !p.is_empty())
                {
                    self.collect(&item, &format!("{full}[]."), depth + 1, rows);
                }
            }
        }
    }

    /// One `oneOf` alternative of a body, in words.
    fn variant(&self, v: &Value) -> String {
        let required: Vec<&str> = v["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let mut parts = Vec::new();
        for (name, raw) in v["properties"].as_object().into_iter().flatten() {
            let f = self.resolve(raw);
            let mut r = rules(&f);
            if r.is_empty() {
                r = type_of(&f);
            }
            let req = if required.contains(&name.as_str()) {
                " (required)"
            } else {
                ""
            };
            parts.push(format!("`{name}`{req}: {r}"));
        }
        parts.join("; ")
    }
}

fn str_of(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

fn sentence(s: &str) -> String {
    if s.ends_with('.') || s.is_empty() {
        s.to_string()
    } else {
        format!("{s}.")
    }
}

/// Text fit for a table cell (no line breaks, no unescaped pipes).
fn cell(s: &str) -> String {
    s.replace('\n', " ").replace('|', "\\|")
}

/// GitHub's heading anchor of `text`.
fn anchor(text: &str) -> String {
    text.to_lowercase()
        .chars()
        .filter_map(|c| match c {
            'a'..='z' | '0'..='9' | '-' | '_' => Some(c),
            ' ' => Some('-'),
            _ => None,
        })
        .collect()
}

fn type_of(s: &Value) -> String {
    let t = match &s["type"] {
        Value::String(t) => t.clone(),
        Value::Array(ts) => ts
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" or "),
        _ if s["enum"].is_array() || s["const"] != Value::Null => "enum".into(),
        _ if s["properties"].is_object() => "object".into(),
        _ => "any".into(),
    };
    if t == "array"
        && let Some(item) = s["items"]["type"].as_str()
    {
        return format!("array of {item}");
    }
    t
}

fn json_inline(v: &Value) -> String {
    format!("`{}`", v)
}

/// The rules of a value in words: range, length, enum, default, pattern.
fn rules(s: &Value) -> String {
    let mut r = Vec::new();
    if let Some(c) = s.get("const") {
        r.push(format!("exactly {}", json_inline(c)));
    }
    if let Some(e) = s["enum"].as_array() {
        let vals: Vec<String> = e.iter().map(json_inline).collect();
        r.push(format!("one of {}", vals.join(", ")));
    }
    match (s["minimum"].as_f64(), s["maximum"].as_f64()) {
        (Some(a), Some(b)) => r.push(format!(
            "{}–{}",
            num(&s["minimum"], a),
            num(&s["maximum"], b)
        )),
        (Some(a), None) => r.push(format!("≥ {}", num(&s["minimum"], a))),
        (None, Some(b)) => r.push(format!("≤ {}", num(&s["maximum"], b))),
        _ => {}
    }
    if let Some(m) = s["multipleOf"].as_f64() {
        r.push(format!("a multiple of {}", num(&s["multipleOf"], m)));
    }
    match (s["minLength"].as_u64(), s["maxLength"].as_u64()) {
        (Some(a), Some(b)) => r.push(format!("{a}–{b} characters")),
        (Some(a), None) if a > 0 => r.push(format!(
            "at least {a} character{}",
            if a == 1 { "" } else { "s" }
        )),
        (None, Some(b)) => r.push(format!("at most {b} characters")),
        _ => {}
    }
    if let Some(p) = s["pattern"].as_str()
        && p.len() <= MAX_PATTERN
    {
        r.push(format!("matches `{p}`"));
    }
    if let Some(d) = s.get("default") {
        r.push(format!("default {}", json_inline(d)));
    }
    r.join("; ")
}

fn num(v: &Value, f: f64) -> String {
    if v.is_i64() || v.is_u64() {
        v.to_string()
    } else {
        format!("{f}")
    }
}
