//! Reading request fields the way the Kling documents state their rules.
//!
//! Every violation is HTTP 400, code 1201, with a message that names the field and the rule
//! (`"voice_name must be at most 20 characters, got 25"`). Conventions shared by every endpoint,
//! recorded in the README's fidelity notes:
//! * an optional string that is `null` or `""` counts as absent (the vendor's own examples send
//!   `"video_id": ""`, `"external_task_id": ""`, `"callback_url": ""`);
//! * a required string that is absent or `null` "is required"; one that is empty or only
//!   white space "must not be blank";
//! * types are strict: a number sent as a string is refused, not coerced;
//! * lengths count Unicode characters, not bytes;
//! * fields the document does not list are ignored.

use crate::error::KlingError;
use serde_json::{Map, Value};

/// The fields of a JSON object body.
#[derive(Clone, Copy, Debug)]
pub struct Fields<'a> {
    obj: &'a Map<String, Value>,
}

impl<'a> Fields<'a> {
    /// Read fields of `obj`.
    pub fn new(obj: &'a Map<String, Value>) -> Self {
        Fields { obj }
    }

    fn raw(&self, name: &str) -> Option<&'a Value> {
        match self.obj.get(name) {
            None | Some(Value::Null) => None,
            Some(v) => Some(v),
        }
    }

    /// A field's value; `None` when absent or `null`.
    pub fn raw_value(&self, name: &str) -> Option<&'a Value> {
        self.raw(name)
    }

    /// An optional string: `None` when absent, `null` or `""`.
    pub fn opt_str(&self, name: &str) -> Result<Option<&'a str>, KlingError> {
        match self.raw(name) {
            None => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(other) => Err(wrong_type(name, "a string", other)),
        }
    }

    /// A required, non-blank string.
    pub fn req_str(&self, name: &str) -> Result<&'a str, KlingError> {
        match self.raw(name) {
            None => Err(KlingError::param(format!("{name} is required"))),
            Some(Value::String(s)) if s.trim().is_empty() => {
                Err(KlingError::param(format!("{name} must not be blank")))
            }
            Some(Value::String(s)) => Ok(s.as_str()),
            Some(other) => Err(wrong_type(name, "a string", other)),
        }
    }

    /// An optional number.
    pub fn opt_number(&self, name: &str) -> Result<Option<f64>, KlingError> {
        match self.raw(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_f64()
                .filter(|f| f.is_finite())
                .map(Some)
                .ok_or_else(|| KlingError::param(format!("{name} is not a representable number"))),
            Some(other) => Err(wrong_type(name, "a number", other)),
        }
    }

    /// A required number.
    pub fn req_number(&self, name: &str) -> Result<f64, KlingError> {
        self.opt_number(name)?
            .ok_or_else(|| KlingError::param(format!("{name} is required")))
    }
}

fn wrong_type(name: &str, expected: &str, got: &Value) -> KlingError {
    KlingError::param(format!("{name} must be {expected}, got {}", json_kind(got)))
}

pub(crate) use crate::error::json_kind;

/// Refuse `value` if it is longer than `max` characters.
pub fn max_chars(name: &str, value: &str, max: usize) -> Result<(), KlingError> {
    let n = value.chars().count();
    if n > max {
        return Err(KlingError::param(format!(
            "{name} must be at most {max} characters, got {n}"
        )));
    }
    Ok(())
}

/// A value with at most one decimal place, as a whole number of tenths.
pub fn tenths(name: &str, value: f64) -> Result<i64, KlingError> {
    let t = value * 10.0;
    if (t - t.round()).abs() > 1e-6 || t.abs() > 1e12 {
        return Err(KlingError::param(format!(
            "{name} must have at most one decimal place, got {value}"
        )));
    }
    Ok(t.round() as i64)
}

/// Refuse anything but an absolute `http`/`https` URL with a host.
pub fn http_url(name: &str, value: &str) -> Result<url::Url, KlingError> {
    let bad = || {
        KlingError::param(format!(
            "{name} must be an http or https URL, got '{value}'"
        ))
    };
    let u = url::Url::parse(value.trim()).map_err(|_| bad())?;
    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none_or(str::is_empty) {
        return Err(bad());
    }
    Ok(u)
}

pub use crate::engine::Common;

impl Common {
    /// Read `external_task_id` and `callback_url`.
    pub fn parse(f: &Fields<'_>) -> Result<Common, KlingError> {
        let external_task_id = f.opt_str("external_task_id")?.map(str::to_owned);
        let callback_url = match f.opt_str("callback_url")? {
            Some(u) => Some(http_url("callback_url", u)?.to_string()),
            None => None,
        };
        Ok(Common {
            external_task_id,
            callback_url,
        })
    }
}

/// `pageNum` / `pageSize` of a list query (SOURCES.md: General Info).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Paging {
    /// 1-based page number, 1..=1000.
    pub page_num: u32,
    /// Items per page, 1..=max for the endpoint.
    pub page_size: u32,
}

/// Largest `pageNum` of every list.
pub const MAX_PAGE_NUM: u32 = 1000;
/// `pageSize` when none is given.
pub const DEFAULT_PAGE_SIZE: u32 = 30;

impl Paging {
    /// Read `pageNum` (default 1, range [1, 1000]) and `pageSize` (default 30, range
    /// [1, `max_size`]) from a raw query string. An empty value counts as absent; other parameters
    /// are ignored; a repeated parameter takes its first value.
    pub fn parse(query: Option<&str>, max_size: u32) -> Result<Paging, KlingError> {
        let page_num = int_param(query, "pageNum", 1, MAX_PAGE_NUM)?.unwrap_or(1);
        let page_size = int_param(query, "pageSize", 1, max_size)?.unwrap_or(DEFAULT_PAGE_SIZE);
        Ok(Paging {
            page_num,
            page_size,
        })
    }

    /// How many items come before this page.
    pub fn offset(&self) -> usize {
        (self.page_num as usize - 1) * self.page_size as usize
    }
}

/// The first value of query parameter `name`, percent-decoded.
pub fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    let q = query?;
    url::form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn int_param(
    query: Option<&str>,
    name: &str,
    min: u32,
    max: u32,
) -> Result<Option<u32>, KlingError> {
    let Some(raw) = query_param(query, name) else {
        return Ok(None);
    };
    if raw.is_empty() {
        return Ok(None);
    }
    let range = || format!("{name} must be an integer between {min} and {max}");
    let n: i64 = raw
        .trim()
        .parse()
        .map_err(|_| KlingError::param(format!("{}, got '{raw}'", range())))?;
    if n < min as i64 || n > max as i64 {
        return Err(KlingError::param(format!("{}, got {n}", range())));
    }
    Ok(Some(n as u32))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn empty_and_null_optional_strings_count_as_absent() {
        let o = obj(json!({"a": "", "b": null, "c": "x", "d": 5}));
        let f = Fields::new(&o);
        assert_eq!(f.opt_str("a").unwrap(), None);
        assert_eq!(f.opt_str("b").unwrap(), None);
        assert_eq!(f.opt_str("c").unwrap(), Some("x"));
        assert_eq!(f.opt_str("missing").unwrap(), None);
        assert_eq!(
            f.opt_str("d").unwrap_err().message,
            "d must be a string, got a number"
        );
    }

    #[test]
    fn required_strings_name_the_field_when_missing_or_blank() {
        let o = obj(json!({"a": "  ", "n": 1}));
        let f = Fields::new(&o);
        assert_eq!(f.req_str("x").unwrap_err().message, "x is required");
        assert_eq!(f.req_str("a").unwrap_err().message, "a must not be blank");
        assert_eq!(
            f.req_str("n").unwrap_err().message,
            "n must be a string, got a number"
        );
    }

    #[test]
    fn numbers_are_strict_about_type_and_decimals() {
        let o = obj(json!({"s": "5", "i": 3, "f": 3.5}));
        let f = Fields::new(&o);
        assert!(
            f.req_number("s")
                .unwrap_err()
                .message
                .contains("must be a number")
        );
        assert_eq!(f.req_number("i").unwrap(), 3.0);
        assert_eq!(tenths("f", 3.5).unwrap(), 35);
        assert_eq!(tenths("f", 9.9).unwrap(), 99);
        assert!(tenths("f", 3.05).is_err());
        assert!(tenths("f", 4.123).is_err());
    }

    #[test]
    fn lengths_count_characters_not_bytes() {
        assert!(max_chars("voice_name", &"声".repeat(20), 20).is_ok());
        let e = max_chars("voice_name", &"声".repeat(21), 20).unwrap_err();
        assert_eq!(
            e.message,
            "voice_name must be at most 20 characters, got 21"
        );
    }

    #[test]
    fn paging_defaults_and_bounds() {
        assert_eq!(
            Paging::parse(None, 500).unwrap(),
            Paging {
                page_num: 1,
                page_size: 30
            }
        );
        assert_eq!(
            Paging::parse(Some("pageNum=1000&pageSize=500"), 500).unwrap(),
            Paging {
                page_num: 1000,
                page_size: 500
            }
        );
        assert!(Paging::parse(Some("pageNum=0"), 500).is_err());
        assert!(Paging::parse(Some("pageNum=1001"), 500).is_err());
        assert!(Paging::parse(Some("pageSize=501"), 500).is_err());
        assert!(Paging::parse(Some("pageSize=501"), 1000).is_ok());
        let e = Paging::parse(Some("pageSize=abc"), 500).unwrap_err();
        assert_eq!(
            e.message,
            "pageSize must be an integer between 1 and 500, got 'abc'"
        );
        assert_eq!(Paging::parse(Some("pageNum="), 500).unwrap().page_num, 1);
    }

    #[test]
    fn urls_must_be_absolute_http() {
        assert!(http_url("u", "https://example.com/a.mp3").is_ok());
        assert!(http_url("u", "ftp://example.com/a.mp3").is_err());
        assert!(http_url("u", "/relative").is_err());
        assert!(http_url("u", "not a url").is_err());
    }
}
