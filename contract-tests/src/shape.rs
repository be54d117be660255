//! Checks a JSON value against a shape of `fixtures/contract/endpoints.json`.
//!
//! The type words: `int`, `number` (any JSON number), `string`, `bool`, `object`, `any`, `id` (a numeric string), `status` (one of
//! the four task statuses), `url` (an absolute http(s) URL), `seconds` (a decimal number of
//! seconds as a string). A trailing `?` makes a key optional; a one-element array is a list of
//! that shape; a string naming another shape refers to it.

use serde_json::{Map, Value};

/// The four documented statuses.
pub const STATUSES: [&str; 4] = ["submitted", "processing", "succeed", "failed"];

/// Check `v` against `shape` (a shape value or a shape name), resolving names in `shapes`.
pub fn check(
    shapes: &Map<String, Value>,
    shape: &Value,
    v: &Value,
    at: &str,
) -> Result<(), String> {
    match shape {
        Value::String(word) => check_word(shapes, word, v, at),
        Value::Array(items) => {
            let inner = items
                .first()
                .ok_or_else(|| format!("{at}: empty list shape"))?;
            let arr = v
                .as_array()
                .ok_or_else(|| format!("{at}: expected an array, got {}", kind(v)))?;
            arr.iter()
                .enumerate()
                .try_for_each(|(i, x)| check(shapes, inner, x, &format!("{at}[{i}]")))
        }
        Value::Object(fields) => {
            let obj = v
                .as_object()
                .ok_or_else(|| format!("{at}: expected an object, got {}", kind(v)))?;
            for (key, want) in fields {
                let (word_optional, inner) = match want {
                    Value::String(w) if w.ends_with('?') => {
                        (true, Value::String(w.trim_end_matches('?').into()))
                    }
                    other => (false, other.clone()),
                };
                match obj.get(key) {
                    Some(x) => check(shapes, &inner, x, &format!("{at}.{key}"))?,
                    None if word_optional => {}
                    None => return Err(format!("{at}.{key}: missing")),
                }
            }
            Ok(())
        }
        _ => Err(format!("{at}: bad shape {shape}")),
    }
}

fn check_word(shapes: &Map<String, Value>, word: &str, v: &Value, at: &str) -> Result<(), String> {
    let bad = |what: &str| Err(format!("{at}: expected {what}, got {}", short(v)));
    match word.trim_end_matches('?') {
        "any" => Ok(()),
        "int" => {
            if v.as_i64().is_some() || v.as_u64().is_some() {
                Ok(())
            } else {
                bad("an integer")
            }
        }
        "number" => {
            if v.is_number() {
                Ok(())
            } else {
                bad("a number")
            }
        }
        "string" => {
            if v.is_string() {
                Ok(())
            } else {
                bad("a string")
            }
        }
        "bool" => {
            if v.is_boolean() {
                Ok(())
            } else {
                bad("a boolean")
            }
        }
        "object" => {
            if v.is_object() {
                Ok(())
            } else {
                bad("an object")
            }
        }
        "id" => match v.as_str() {
            Some(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => Ok(()),
            _ => bad("a numeric string id"),
        },
        "status" => match v.as_str() {
            Some(s) if STATUSES.contains(&s) => Ok(()),
            _ => bad("a task status"),
        },
        "url" => match v.as_str().and_then(|s| url::Url::parse(s).ok()) {
            Some(u) if matches!(u.scheme(), "http" | "https") => Ok(()),
            _ => bad("an http(s) URL"),
        },
        "seconds" => match v.as_str().map(str::parse::<f64>) {
            Some(Ok(x)) if x.is_finite() && x >= 0.0 => Ok(()),
            _ => bad("a duration string in seconds"),
        },
        name => match shapes.get(name) {
            Some(s) => check(shapes, s, v, at),
            None => Err(format!("{at}: unknown shape '{name}'")),
        },
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 80 {
        format!(
            "{}…",
            &s[..s.char_indices().nth(80).map_or(s.len(), |(i, _)| i)]
        )
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Contract;
    use serde_json::json;

    #[test]
    fn task_objects_are_checked_field_by_field() {
        let c = Contract::load().unwrap();
        let task = json!({"task_id": "822794198693600000", "task_status": "succeed", "task_status_msg": "",
            "task_info": {}, "task_result": {}, "final_unit_deduction": "0.05", "created_at": 1, "updated_at": 2});
        assert!(check(&c.shapes, &json!("task"), &task, "data").is_ok());
        let mut bad = task.clone();
        bad["task_status"] = json!("done");
        assert!(
            check(&c.shapes, &json!("task"), &bad, "data")
                .unwrap_err()
                .contains("task_status")
        );
        let mut missing = task.clone();
        missing.as_object_mut().unwrap().remove("created_at");
        assert_eq!(
            check(&c.shapes, &json!("task"), &missing, "data").unwrap_err(),
            "data.created_at: missing"
        );
        assert!(
            check(&c.shapes, &json!("task_list"), &json!([task, bad]), "data")
                .unwrap_err()
                .starts_with("data[1]")
        );
        let created =
            json!({"task_id": "1", "task_status": "submitted", "created_at": 1, "updated_at": 1});
        assert!(
            check(&c.shapes, &json!("created"), &created, "data").is_ok(),
            "task_info is optional on create"
        );
    }
}
