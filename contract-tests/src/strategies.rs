//! proptest generators: request bodies (valid, and invalid in every documented way), paging
//! parameters and broken tokens. Built from the contract's field list, so a field the documents
//! add is generated without new code.
//!
//! Only cases whose outcome the documents fix are generated: no blank-but-not-empty strings, no
//! malformed callback URLs, no external ids that may collide (those are made unique at send time).

use crate::model::{Contract, Field, Ty};
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Map, Value, json};

/// The vendor's own sample voice file (SOURCES.md: Custom Voices), so custom voices also work on the real API.
pub const SAMPLE_VOICE_URL: &str =
    "https://p2-kling.klingai.com/kcdn/cdn-kcdn112452/kling-qa-test/out.mp3";

/// A way to break (or not) a valid body.
#[derive(Clone, Debug, PartialEq)]
pub enum Mutation {
    /// Leave it valid.
    None,
    /// Remove the field.
    Missing(String),
    /// Replace the field's value with one of another JSON type.
    WrongType(String, Value),
    /// Make the string `extra` characters longer than allowed.
    TooLong(String, usize),
    /// Put the number outside its range.
    OutOfRange(String, f64),
    /// A value outside the enum.
    BadEnum(String, String),
    /// A number with more decimals than allowed.
    TooManyDecimals(String, f64),
    /// Both of an exactly-one-of pair.
    Both,
    /// Neither of an exactly-one-of pair.
    Neither,
    /// A URL with a file type the document does not list.
    BadExtension(String),
    /// A voice id not in the TTS catalogue.
    UnknownVoice(String),
    /// A catalogue voice in a language it does not have (or the other way round).
    SwapLanguage,
}

/// A generated create body, and how it was made (the oracle judges the body, not the label).
#[derive(Clone, Debug)]
pub struct BodyCase {
    /// Endpoint name.
    pub endpoint: String,
    /// The body sent.
    pub body: Value,
    /// How it was made.
    pub mutation: Mutation,
}

fn text(max: usize) -> BoxedStrategy<String> {
    // Non-blank (first character is not a space), Latin and CJK, within `max` characters.
    let max = max.max(1);
    (
        select(vec!['a', 'Z', '7', '声', 'é', 'k']),
        proptest::collection::vec(select(vec!['a', 'b', ' ', '音', 'x', '9', '-']), 0..max),
    )
        .prop_map(|(first, rest)| std::iter::once(first).chain(rest).collect())
        .boxed()
}

fn valid_value(f: &Field) -> BoxedStrategy<Value> {
    match f.ty {
        Ty::String if f.url_extensions.is_some() => {
            let exts = f.url_extensions.clone().unwrap_or_default();
            select(exts)
                .prop_map(|e| {
                    json!(format!(
                        "https://p2-kling.klingai.com/kcdn/sample-voice.{e}"
                    ))
                })
                .boxed()
        }
        Ty::String if f.values.is_some() => select(f.values.clone().unwrap_or_default())
            .prop_map(Value::from)
            .boxed(),
        Ty::String => text(f.max_chars.unwrap_or(40).min(60))
            .prop_map(Value::from)
            .boxed(),
        Ty::Number => {
            let (min, max) = (f.min.unwrap_or(0.0), f.max.unwrap_or(100.0));
            let scale = 10f64.powi(f.decimals.unwrap_or(1) as i32);
            ((min * scale).round() as i64..=(max * scale).round() as i64)
                .prop_map(move |n| json!(n as f64 / scale))
                .boxed()
        }
    }
}

/// Fields generated for an endpoint: callback URLs (undocumented validity) are left out, and
/// `external_task_id` is added at send time.
fn generated_fields(c: &Contract, endpoint: &str) -> Vec<Field> {
    c.endpoint(endpoint)
        .fields
        .iter()
        .filter(|f| !f.url && f.name != "external_task_id")
        .cloned()
        .collect()
}

/// A valid body for `endpoint`.
pub fn valid_body(c: &Contract, endpoint: &str) -> BoxedStrategy<Value> {
    let fields = generated_fields(c, endpoint);
    let one_of: Vec<Vec<String>> = c.endpoint(endpoint).exactly_one_of.clone();
    let voices: Vec<(String, String)> = {
        let mut v: Vec<_> = c.tts_voices.iter().cloned().collect();
        v.sort();
        v
    };
    let per_field: Vec<BoxedStrategy<(String, Value, bool)>> = fields
        .into_iter()
        .map(|f| {
            let name = f.name.clone();
            let required = f.required;
            (valid_value(&f), any::<bool>())
                .prop_map(move |(v, keep)| (name.clone(), v, required || keep))
                .boxed()
        })
        .collect();
    let is_tts = endpoint == "tts";
    (per_field, select(voices), any::<prop::sample::Index>())
        .prop_map(move |(vals, voice, pick)| {
            let mut m = Map::new();
            for (name, v, keep) in vals {
                if keep {
                    m.insert(name, v);
                }
            }
            for group in &one_of {
                for g in group {
                    m.remove(g);
                }
                let chosen = &group[pick.index(group.len())];
                let v = if chosen == "video_id" {
                    json!("827964097668337738")
                } else {
                    json!(SAMPLE_VOICE_URL)
                };
                m.insert(chosen.clone(), v);
            }
            if is_tts {
                m.insert("voice_id".into(), json!(voice.0));
                m.insert("voice_language".into(), json!(voice.1));
            }
            Value::Object(m)
        })
        .boxed()
}

fn mutations(c: &Contract, endpoint: &str) -> BoxedStrategy<Mutation> {
    let ep = c.endpoint(endpoint);
    let mut options: Vec<BoxedStrategy<Mutation>> = vec![Just(Mutation::None).boxed()];
    for f in generated_fields(c, endpoint) {
        let n = f.name.clone();
        if f.required {
            options.push(Just(Mutation::Missing(n.clone())).boxed());
        }
        let wrong: Vec<Value> = match f.ty {
            Ty::String => vec![json!(7), json!(true), json!(["x"]), json!({"a": 1})],
            Ty::Number => vec![json!("5"), json!(true), json!([5]), json!({"v": 5})],
        };
        let n2 = n.clone();
        options.push(
            select(wrong)
                .prop_map(move |v| Mutation::WrongType(n2.clone(), v))
                .boxed(),
        );
        if f.max_chars.is_some() {
            let n2 = n.clone();
            options.push(
                (1usize..40)
                    .prop_map(move |k| Mutation::TooLong(n2.clone(), k))
                    .boxed(),
            );
        }
        if let (Some(min), Some(max)) = (f.min, f.max) {
            let n2 = n.clone();
            let below = (-50i64..(min * 10.0).round() as i64).prop_map(|t| t as f64 / 10.0);
            let above = ((max * 10.0).round() as i64 + 1..(max * 10.0).round() as i64 + 200)
                .prop_map(|t| t as f64 / 10.0);
            options.push(
                prop_oneof![below, above]
                    .prop_map(move |v| Mutation::OutOfRange(n2.clone(), v))
                    .boxed(),
            );
            let n3 = n.clone();
            options.push(
                ((min * 100.0).round() as i64..(max * 100.0).round() as i64)
                    .prop_filter("two decimals", |h| h % 10 != 0)
                    .prop_map(move |h| Mutation::TooManyDecimals(n3.clone(), h as f64 / 100.0))
                    .boxed(),
            );
        }
        if f.values.is_some() {
            let n2 = n.clone();
            options.push(
                select(vec!["fr", "ZH", "english", "jp"])
                    .prop_map(move |v| Mutation::BadEnum(n2.clone(), v.into()))
                    .boxed(),
            );
        }
        if f.url_extensions.is_some() {
            options.push(
                select(vec!["ogg", "m4a", "flac", "txt"])
                    .prop_map(|e| Mutation::BadExtension(e.to_string()))
                    .boxed(),
            );
        }
    }
    if !ep.exactly_one_of.is_empty() {
        options.push(Just(Mutation::Both).boxed());
        options.push(Just(Mutation::Neither).boxed());
    }
    if endpoint == "tts" {
        options.push(
            select(vec![
                "no_such_voice",
                "oversea_male_x",
                "123456789012345678",
            ])
            .prop_map(|v| Mutation::UnknownVoice(v.into()))
            .boxed(),
        );
        options.push(Just(Mutation::SwapLanguage).boxed());
    }
    proptest::strategy::Union::new(options).boxed()
}

/// Apply a mutation to a valid body.
pub fn apply(c: &Contract, endpoint: &str, mut body: Value, m: &Mutation) -> Value {
    let Some(obj) = body.as_object_mut() else {
        return body;
    };
    let field = |name: &str| {
        c.endpoint(endpoint)
            .fields
            .iter()
            .find(|f| f.name == name)
            .cloned()
    };
    match m {
        Mutation::None => {}
        Mutation::Missing(n) => {
            obj.remove(n);
        }
        Mutation::WrongType(n, v) => {
            obj.insert(n.clone(), v.clone());
        }
        Mutation::TooLong(n, extra) => {
            let max = field(n).and_then(|f| f.max_chars).unwrap_or(0);
            obj.insert(n.clone(), json!("长".repeat(max + extra)));
        }
        Mutation::OutOfRange(n, v) | Mutation::TooManyDecimals(n, v) => {
            obj.insert(n.clone(), json!(v));
        }
        Mutation::BadEnum(n, v) => {
            obj.insert(n.clone(), json!(v));
        }
        Mutation::Both => {
            obj.insert("voice_url".into(), json!(SAMPLE_VOICE_URL));
            obj.insert("video_id".into(), json!("827964097668337738"));
        }
        Mutation::Neither => {
            obj.remove("voice_url");
            obj.insert("video_id".into(), json!(""));
        }
        Mutation::BadExtension(ext) => {
            obj.remove("video_id");
            obj.insert(
                "voice_url".into(),
                json!(format!("https://p2-kling.klingai.com/kcdn/sample.{ext}")),
            );
        }
        Mutation::UnknownVoice(v) => {
            obj.insert("voice_id".into(), json!(v));
        }
        Mutation::SwapLanguage => {
            let lang = obj
                .get("voice_language")
                .and_then(Value::as_str)
                .unwrap_or("zh");
            let other = if lang == "zh" { "en" } else { "zh" };
            obj.insert("voice_language".into(), json!(other));
        }
    }
    body
}

/// Bodies for the create endpoints, valid and broken.
pub fn body_case<S: AsRef<str>>(c: &Contract, endpoints: &[S]) -> BoxedStrategy<BodyCase> {
    let c2 = c.clone();
    let per: Vec<BoxedStrategy<BodyCase>> = endpoints
        .iter()
        .map(|e| {
            let e = e.as_ref();
            let c3 = c2.clone();
            let name = e.to_string();
            (valid_body(c, e), mutations(c, e))
                .prop_map(move |(b, m)| BodyCase {
                    endpoint: name.clone(),
                    body: apply(&c3, &name, b, &m),
                    mutation: m,
                })
                .boxed()
        })
        .collect();
    proptest::strategy::Union::new(per).boxed()
}

/// A `pageNum`/`pageSize` pair: absent, in range, at the edges, out of range or not a number.
pub fn paging_case(max_size: u32) -> BoxedStrategy<(Option<String>, Option<String>)> {
    let num = prop_oneof![
        Just(None),
        (1u32..=1000).prop_map(|n| Some(n.to_string())),
        select(vec!["0", "1", "1000", "1001", "-1", "abc", "2.5"])
            .prop_map(|s| Some(s.to_string())),
    ];
    let edges = vec![
        "0".to_string(),
        "1".to_string(),
        max_size.to_string(),
        (max_size + 1).to_string(),
        "x".to_string(),
    ];
    let size = prop_oneof![
        Just(None),
        (1u32..=max_size).prop_map(|n| Some(n.to_string())),
        select(edges).prop_map(Some)
    ];
    (num, size).boxed()
}

/// How a token is broken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthCase {
    /// No header.
    Missing,
    /// Not a JWT.
    Garbage(String),
    /// Signed with another secret.
    WrongSecret,
    /// An access key the target does not know.
    UnknownKey,
    /// `exp` this many seconds ago.
    Expired(i64),
    /// `nbf` this many seconds ahead.
    NotYetValid(i64),
    /// `alg: none`, no signature.
    AlgNone,
    /// Signed with HS384 or HS512.
    OtherAlg(bool),
}

impl AuthCase {
    /// The error-table situation it belongs to (`fixtures/contract/errors.json` "auth").
    pub fn situation(&self) -> &'static str {
        match self {
            AuthCase::Missing => "missing",
            AuthCase::Garbage(_) => "malformed",
            AuthCase::WrongSecret => "bad_signature",
            AuthCase::UnknownKey => "unknown_key",
            AuthCase::Expired(_) => "expired",
            AuthCase::NotYetValid(_) => "not_yet_valid",
            AuthCase::AlgNone | AuthCase::OtherAlg(_) => "wrong_algorithm",
        }
    }
}

/// Broken tokens. Times are well past any leeway (at least a minute).
pub fn auth_case() -> BoxedStrategy<AuthCase> {
    prop_oneof![
        Just(AuthCase::Missing),
        "[A-Za-z0-9]{1,40}".prop_map(AuthCase::Garbage),
        Just(AuthCase::WrongSecret),
        Just(AuthCase::UnknownKey),
        (60i64..86_400).prop_map(AuthCase::Expired),
        (60i64..86_400).prop_map(AuthCase::NotYetValid),
        Just(AuthCase::AlgNone),
        any::<bool>().prop_map(AuthCase::OtherAlg),
    ]
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    #[test]
    fn valid_bodies_are_accepted_by_the_oracle() {
        let c = Contract::load().unwrap();
        let mut r = TestRunner::deterministic();
        for e in ["tts", "text_to_audio_create", "custom_voice_create"] {
            let s = valid_body(&c, e);
            for _ in 0..200 {
                let b = s.new_tree(&mut r).unwrap().current();
                assert!(
                    c.judge(e, &b).accepted(),
                    "{e}: {b} -> {:?}",
                    c.judge(e, &b)
                );
            }
        }
    }

    #[test]
    fn every_mutation_but_none_and_range_rounding_is_refused_by_the_oracle() {
        let c = Contract::load().unwrap();
        let mut r = TestRunner::deterministic();
        let s = body_case(&c, &["tts", "text_to_audio_create", "custom_voice_create"]);
        let (mut refused, mut accepted) = (0, 0);
        for _ in 0..2000 {
            let case = s.new_tree(&mut r).unwrap().current();
            let v = c.judge(&case.endpoint, &case.body);
            let speed = matches!(&case.mutation, Mutation::OutOfRange(n, _) | Mutation::TooManyDecimals(n, _) if n == "voice_speed");
            let may_pass = case.mutation == Mutation::None
                || speed
                || matches!(&case.mutation, Mutation::SwapLanguage);
            if !may_pass {
                assert!(!v.accepted(), "{case:?} should be refused");
            }
            if v.accepted() {
                accepted += 1
            } else {
                refused += 1
            }
        }
        assert!(
            refused > 500 && accepted > 100,
            "a mix: {refused} refused, {accepted} accepted"
        );
    }
}
