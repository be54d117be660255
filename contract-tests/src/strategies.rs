//! proptest generators: request bodies (valid, and invalid in every documented way), paging
//! parameters and broken tokens. Built from the contract's field tree, rules and capability map
//! ([`crate::bodies`]), so a field, rule or capability the documents add is generated without new
//! code.
//!
//! Only cases whose outcome the documents fix are generated: no blank-but-not-empty strings, no
//! malformed callback URLs, no external ids that may collide (those are made unique at send time),
//! no broken value in a field the documents say is ignored there.

use crate::bodies::{
    GenOpts, PNGS, field_paths, force, lookup_def, parent_of, sample_value, unforce, wrong_types,
};
use crate::model::{Contract, Field, Layer, Media, OutOfRange, Ty, Verdict};
use crate::rules::{RuleKind, Scope, Sel};
use crate::video_models::Feature;
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Map, Value, json};

pub use crate::bodies::{SAMPLE_IMAGE_URL, SAMPLE_VIDEO_URL, SAMPLE_VOICE_URL};

/// A way to break the capability map.
#[derive(Clone, Debug, PartialEq)]
pub enum CapBreak {
    /// A mode the model does not have in the family.
    Mode {
        /// Model.
        model: String,
        /// Mode.
        mode: String,
    },
    /// A duration the model does not make (under the `durations_when` condition `when`, if any).
    Duration {
        /// Model.
        model: String,
        /// Duration.
        duration: String,
        /// Index of the `durations_when` entry whose condition is made to hold.
        when: Option<usize>,
    },
    /// A feature the model does not allow with this mode and duration.
    Feature {
        /// Model.
        model: String,
        /// Mode set.
        mode: Option<String>,
        /// Duration set.
        duration: Option<String>,
        /// The feature (a key of the endpoint's `features`).
        feature: String,
        /// Break the feature's own `when` condition instead.
        break_when: bool,
    },
}

/// A way to break (or not) a valid body. Paths are dotted, `[0]` for an array's first item.
#[derive(Clone, Debug, PartialEq)]
pub enum Mutation {
    /// Leave it valid.
    None,
    /// Remove a required field.
    Missing(String),
    /// Replace a value with one of another JSON type.
    WrongType(String, Value),
    /// Make a string `extra` characters longer than allowed.
    TooLong(String, usize),
    /// Put a number outside its range.
    OutOfRange(String, f64),
    /// A value outside the enum.
    BadEnum(String, String),
    /// A number with more decimals than allowed.
    TooManyDecimals(String, f64),
    /// A URL with a file type the document does not list.
    BadExtension(String, String),
    /// An image as a `data:` URI instead of raw Base64.
    DataUri(String),
    /// One item more than allowed.
    TooManyItems(String),
    /// One item fewer than needed.
    TooFewItems(String),
    /// Break rule `rule` of the object at `at` ("" for the body), in way `how`.
    BreakRule {
        /// The object's path.
        at: String,
        /// Index into its rules.
        rule: usize,
        /// Which way (both/neither, which forbidden thing, ...).
        how: u8,
    },
    /// Break the capability map.
    Capability(CapBreak),
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

/// A valid body for `endpoint` (any model, mode and duration the capability map allows).
pub fn valid_body(c: &Contract, endpoint: &str) -> BoxedStrategy<Value> {
    crate::bodies::valid_body(c, endpoint, GenOpts::default())
}

/// The rules of an endpoint's objects: (object path, rule index, ways).
fn rule_targets(c: &Contract, endpoint: &str) -> Vec<(String, usize, u8)> {
    let ep = c.endpoint(endpoint);
    let ways = |k: &RuleKind| -> u8 {
        match k {
            RuleKind::ExactlyOneOf(_)
            | RuleKind::ExactlyOneNonzero(_)
            | RuleKind::MaxAreaFactor { .. } => 2,
            RuleKind::Forbid(s) => s.len() as u8,
            _ => 1,
        }
    };
    let mut out: Vec<(String, usize, u8)> = ep
        .rules
        .iter()
        .enumerate()
        .map(|(i, r)| (String::new(), i, ways(&r.kind)))
        .collect();
    for (path, f) in field_paths(&ep.fields) {
        if f.ty == Ty::Object && !path.contains('[') {
            out.extend(
                f.rules
                    .iter()
                    .enumerate()
                    .map(|(i, r)| (path.clone(), i, ways(&r.kind))),
            );
        }
    }
    out
}

/// Every capability break of an endpoint.
pub fn capability_breaks(c: &Contract, endpoint: &str) -> Vec<CapBreak> {
    let ep = c.endpoint(endpoint);
    let (Some(fam), Some(mf)) = (ep.capabilities.as_deref(), ep.model_field.as_deref()) else {
        return Vec::new();
    };
    let field = |n: &str| ep.fields.iter().find(|f| f.name == n);
    let enum_of = |n: &str| field(n).and_then(|f| f.values.clone()).unwrap_or_default();
    let (modes, durations) = (enum_of("mode"), enum_of("duration"));
    let mut out = Vec::new();
    for model in enum_of(mf) {
        let Some(cap) = c.capability(fam, &model) else {
            continue;
        };
        for mode in modes.iter().filter(|m| !cap.modes.contains(m)) {
            out.push(CapBreak::Mode {
                model: model.clone(),
                mode: mode.clone(),
            });
        }
        if let Some(allowed) = &cap.durations {
            for d in durations.iter().filter(|d| !allowed.contains(d)) {
                out.push(CapBreak::Duration {
                    model: model.clone(),
                    duration: d.clone(),
                    when: None,
                });
            }
            for (i, dw) in cap.durations_when.iter().enumerate() {
                for d in allowed.iter().filter(|d| !dw.durations.contains(d)) {
                    out.push(CapBreak::Duration {
                        model: model.clone(),
                        duration: d.clone(),
                        when: Some(i),
                    });
                }
            }
        }
        let first_mode = cap.modes.first().cloned();
        let first_duration = cap
            .durations_when
            .iter()
            .find(|_| true)
            .map(|dw| dw.durations[0].clone())
            .or_else(|| cap.durations.as_ref().map(|d| d[0].clone()));
        for feature in ep.features.keys() {
            let brk = |mode: Option<String>, duration: Option<String>, break_when: bool| {
                CapBreak::Feature {
                    model: model.clone(),
                    mode,
                    duration,
                    feature: feature.clone(),
                    break_when,
                }
            };
            match cap.features.get(feature) {
                None | Some(Feature::Always(false)) => {
                    out.push(brk(first_mode.clone(), first_duration.clone(), false));
                }
                Some(Feature::Always(true)) => {}
                Some(Feature::Limited {
                    modes,
                    durations,
                    when,
                }) => {
                    if let Some(ms) = modes
                        && let Some(m) = cap.modes.iter().find(|m| !ms.contains(m))
                    {
                        out.push(brk(
                            Some(m.clone()),
                            durations.as_ref().map(|d| d[0].clone()),
                            false,
                        ));
                    }
                    if let Some(ds) = durations
                        && let Some(d) = cap.durations.iter().flatten().find(|d| !ds.contains(d))
                    {
                        out.push(brk(
                            modes.as_ref().map(|m| m[0].clone()),
                            Some(d.clone()),
                            false,
                        ));
                    }
                    if when.is_some() {
                        out.push(brk(
                            modes.as_ref().map(|m| m[0].clone()),
                            durations.as_ref().map(|d| d[0].clone()),
                            true,
                        ));
                    }
                }
            }
        }
    }
    out
}

fn mutations(c: &Contract, endpoint: &str) -> BoxedStrategy<Mutation> {
    let ep = c.endpoint(endpoint);
    // A stateful endpoint's valid body may be refused for what earlier calls did: only broken
    // bodies are sent to it.
    let mut options: Vec<BoxedStrategy<Mutation>> = if ep.stateful {
        Vec::new()
    } else {
        vec![Just(Mutation::None).boxed()]
    };
    for (path, f) in field_paths(&ep.fields) {
        // A legacy alias "behaves like an empty model_name" (§1.5): what an odd value of it does
        // is not documented.
        if f.mirror_of.is_some() {
            continue;
        }
        let p = path.clone();
        if f.required {
            options.push(Just(Mutation::Missing(p.clone())).boxed());
        }
        let p2 = p.clone();
        options.push(
            select(wrong_types(&f))
                .prop_map(move |v| Mutation::WrongType(p2.clone(), v))
                .boxed(),
        );
        if f.max_chars.is_some() {
            let p2 = p.clone();
            options.push(
                (1usize..40)
                    .prop_map(move |k| Mutation::TooLong(p2.clone(), k))
                    .boxed(),
            );
        }
        // A number with only a lower bound (a frame index from 0) is broken below it.
        if let (Some(min), None, OutOfRange::Reject, Ty::Number | Ty::Integer) =
            (f.min, f.max, f.out_of_range, f.ty)
        {
            let p2 = p.clone();
            let step = if f.ty == Ty::Integer { 1.0 } else { 0.1 };
            options.push(
                (((min - 20.0) / step).round() as i64..(min / step).round() as i64)
                    .prop_map(move |t| Mutation::OutOfRange(p2.clone(), t as f64 * step))
                    .boxed(),
            );
        }
        if let (Some(min), Some(max), OutOfRange::Reject, Ty::Number | Ty::Integer) =
            (f.min, f.max, f.out_of_range, f.ty)
        {
            let p2 = p.clone();
            let step = if f.ty == Ty::Integer { 1.0 } else { 0.1 };
            let below = ((min - 20.0) / step).round() as i64..(min / step).round() as i64;
            let above = (max / step).round() as i64 + 1..((max + 20.0) / step).round() as i64;
            options.push(
                prop_oneof![below, above]
                    .prop_map(move |t| Mutation::OutOfRange(p2.clone(), t as f64 * step))
                    .boxed(),
            );
            if let Some(d) = f.decimals {
                let p3 = p.clone();
                let scale = 10f64.powi(d as i32 + 1);
                options.push(
                    ((min * scale).round() as i64..(max * scale).round() as i64)
                        .prop_filter("one decimal too many", |h| h % 10 != 0)
                        .prop_map(move |h| Mutation::TooManyDecimals(p3.clone(), h as f64 / scale))
                        .boxed(),
                );
            }
        }
        if let Some(values) = &f.values {
            let p2 = p.clone();
            let bad: Vec<&str> = ["fr", "ZH", "english", "jp", "16:10", "99"]
                .into_iter()
                .filter(|b| !values.iter().any(|v| v == b))
                .collect();
            options.push(
                select(bad)
                    .prop_map(move |v| Mutation::BadEnum(p2.clone(), v.into()))
                    .boxed(),
            );
        }
        if let Some(exts) = &f.url_extensions {
            let p2 = p.clone();
            // Not one the field allows (lip-sync's audio_url takes .m4a).
            let bad: Vec<&str> = ["ogg", "m4a", "flac", "txt", "avi"]
                .into_iter()
                .filter(|b| !exts.iter().any(|e| e == b))
                .collect();
            options.push(
                select(bad)
                    .prop_map(move |e| Mutation::BadExtension(p2.clone(), e.to_string()))
                    .boxed(),
            );
        }
        if f.media == Some(Media::Image) && f.base64 {
            options.push(Just(Mutation::DataUri(p.clone())).boxed());
        }
        if f.max_items.is_some() {
            options.push(Just(Mutation::TooManyItems(p.clone())).boxed());
        }
        if f.min_items.unwrap_or(0) >= 2 || (f.min_items == Some(1) && f.required) {
            options.push(Just(Mutation::TooFewItems(p.clone())).boxed());
        }
    }
    for (at, rule, ways) in rule_targets(c, endpoint) {
        options.push(
            (0..ways.max(1))
                .prop_map(move |how| Mutation::BreakRule {
                    at: at.clone(),
                    rule,
                    how,
                })
                .boxed(),
        );
    }
    let breaks = capability_breaks(c, endpoint);
    if !breaks.is_empty() {
        options.push(select(breaks).prop_map(Mutation::Capability).boxed());
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

fn def<'a>(fields: &'a [Field], name: &str) -> Option<&'a Field> {
    fields.iter().find(|f| f.name == name)
}

/// Apply a field-level mutation at `path`.
fn apply_at(
    fields: &[Field],
    obj: &mut Map<String, Value>,
    path: &str,
    m: &Mutation,
) -> Option<()> {
    let (parent, defs, last) = parent_of(fields, obj, path)?;
    let f = def(defs, &last)?.clone();
    match m {
        Mutation::Missing(_) => {
            parent.remove(&last);
        }
        Mutation::WrongType(_, v) => {
            parent.insert(last, v.clone());
        }
        Mutation::TooLong(_, extra) => {
            parent.insert(last, json!("长".repeat(f.max_chars? + extra)));
        }
        Mutation::OutOfRange(_, v) | Mutation::TooManyDecimals(_, v) => {
            let v = if f.ty == Ty::Integer {
                json!(*v as i64)
            } else {
                json!(v)
            };
            parent.insert(last, v);
        }
        Mutation::BadEnum(_, v) => {
            parent.insert(last, json!(v));
        }
        Mutation::BadExtension(_, ext) => {
            parent.insert(
                last,
                json!(format!("https://p2-kling.klingai.com/kcdn/sample.{ext}")),
            );
        }
        Mutation::DataUri(_) => {
            parent.insert(last, json!(format!("data:image/png;base64,{}", PNGS[0])));
        }
        Mutation::TooManyItems(_) | Mutation::TooFewItems(_) => {
            let item = sample_value(f.items.as_deref()?)?;
            let n = match m {
                Mutation::TooManyItems(_) => f.max_items? + 1,
                _ => f.min_items?.saturating_sub(1),
            };
            parent.insert(last, Value::Array(vec![item; n]));
        }
        _ => return None,
    }
    Some(())
}

/// Break rule `rule` of the object at `at`.
fn break_rule(
    ep: &crate::model::Endpoint,
    body: &mut Map<String, Value>,
    at: &str,
    rule: usize,
    how: u8,
) -> Option<()> {
    let (fields, rules, obj): (Vec<Field>, Vec<crate::rules::Rule>, &mut Map<String, Value>) =
        if at.is_empty() {
            (ep.fields.clone(), ep.rules.clone(), body)
        } else {
            let (parent, defs, last) = parent_of(&ep.fields, body, at)?;
            let d = def(defs, &last)?.clone();
            if !parent.get(&last).is_some_and(Value::is_object) {
                parent.insert(last.to_string(), sample_value(&d)?);
            }
            (
                d.fields.clone(),
                d.rules.clone(),
                parent.get_mut(&last)?.as_object_mut()?,
            )
        };
    let r = rules.get(rule)?.clone();
    if let Some(w) = &r.when
        && !force(&fields, obj, w)
    {
        return None;
    }
    let sample = |name: &str| lookup_def(&fields, name).and_then(sample_value);
    match &r.kind {
        RuleKind::ExactlyOneOf(fs) => {
            for f in fs {
                if how.is_multiple_of(2) {
                    if !(Scope {
                        fields: &fields,
                        obj,
                    })
                    .present(f)
                    {
                        obj.insert(f.clone(), sample(f)?);
                    }
                } else {
                    obj.remove(f);
                }
            }
        }
        RuleKind::AtLeastOneOf(fs) => {
            for f in fs {
                obj.remove(f);
            }
        }
        RuleKind::AtMostOneOf(groups) => {
            for g in groups.iter().take(2) {
                if !g.iter().any(|f| {
                    (Scope {
                        fields: &fields,
                        obj,
                    })
                    .present(f)
                }) {
                    obj.insert(g[0].clone(), sample(&g[0])?);
                }
            }
        }
        RuleKind::Require(sels) => {
            for s in sels {
                match s {
                    Sel::Field(f) => {
                        obj.remove(f);
                    }
                    Sel::Items(sel) => {
                        unforce(&fields, obj, &crate::rules::Cond::Items(sel.clone()));
                    }
                }
            }
        }
        RuleKind::Forbid(sels) => match &sels[how as usize % sels.len()] {
            Sel::Field(f) => {
                obj.insert(f.clone(), sample(f)?);
            }
            Sel::Items(sel) => {
                force(&fields, obj, &crate::rules::Cond::Items(sel.clone()));
            }
        },
        RuleKind::RequireValues(pairs) => {
            let (f, v) = pairs.first()?;
            unforce(
                &fields,
                obj,
                &crate::rules::Cond::Equals(f.clone(), v.clone()),
            );
        }
        RuleKind::Sum {
            items,
            field,
            total,
        } => {
            let t = (Scope {
                fields: &fields,
                obj,
            })
            .effective(total)
            .as_ref()
            .and_then(crate::rules::as_number)? as i64;
            let mut item = lookup_def(&fields, items)?
                .items
                .as_deref()
                .and_then(sample_value)?
                .as_object()?
                .clone();
            let off = if t < 15 { t + 1 } else { t - 1 };
            item.insert(field.clone(), json!(off.to_string()));
            obj.insert(items.clone(), json!([item]));
        }
        RuleKind::MaxCount { max, of } => {
            let item = lookup_def(&fields, &of[0])?
                .items
                .as_deref()
                .and_then(sample_value)?;
            let have: usize = of
                .iter()
                .map(|f| obj.get(f).and_then(Value::as_array).map_or(0, Vec::len))
                .sum();
            let list = obj
                .entry(of[0].clone())
                .or_insert_with(|| json!([]))
                .as_array_mut()?;
            for _ in have..=*max {
                list.push(item.clone());
            }
        }
        RuleKind::ExactlyOneNonzero(fs) => {
            for (i, f) in fs.iter().enumerate() {
                if how.is_multiple_of(2) && i < 2 {
                    obj.insert(f.clone(), json!(1.5));
                } else {
                    obj.remove(f);
                }
            }
        }
        RuleKind::MaxAreaFactor { width, height, .. } => {
            // Just over the bound: three times the width and a tenth more height (3.3x), or
            // everything at its largest (25x).
            let (w, h) = if how.is_multiple_of(2) {
                (1.0, 0.1)
            } else {
                (2.0, 2.0)
            };
            for (i, f) in width.iter().enumerate() {
                obj.insert(f.clone(), json!(if i < 2 { w } else { 0.0 }));
            }
            for (i, f) in height.iter().enumerate() {
                obj.insert(f.clone(), json!(if i == 0 { h } else { 0.0 }));
            }
        }
    }
    Some(())
}

/// Break the capability map.
fn break_capability(
    c: &Contract,
    endpoint: &str,
    obj: &mut Map<String, Value>,
    b: &CapBreak,
) -> Option<()> {
    let ep = c.endpoint(endpoint);
    let fields = &ep.fields;
    let mf = ep.model_field.as_deref()?;
    let fam = ep.capabilities.as_deref()?;
    let set = |obj: &mut Map<String, Value>, k: &str, v: Option<&String>| {
        if let Some(v) = v
            && def(fields, k).is_some()
        {
            obj.insert(k.to_string(), json!(v));
        }
    };
    match b {
        CapBreak::Mode { model, mode } => {
            set(obj, mf, Some(model));
            set(obj, "mode", Some(mode));
        }
        CapBreak::Duration {
            model,
            duration,
            when,
        } => {
            set(obj, mf, Some(model));
            let cap = c.capability(fam, model)?;
            for (i, dw) in cap.durations_when.iter().enumerate() {
                if Some(i) == *when {
                    force(fields, obj, &dw.when);
                } else {
                    unforce(fields, obj, &dw.when);
                }
            }
            if let Some(Value::Object(_)) = obj.get("duration") {
                return None;
            }
            set(obj, "duration", Some(duration));
        }
        CapBreak::Feature {
            model,
            mode,
            duration,
            feature,
            break_when,
        } => {
            set(obj, mf, Some(model));
            set(obj, "mode", mode.as_ref());
            set(obj, "duration", duration.as_ref());
            let uses = ep.features.get(feature)?;
            force(fields, obj, uses);
            if *break_when
                && let Some(Feature::Limited { when: Some(w), .. }) =
                    c.capability(fam, model)?.features.get(feature)
            {
                unforce(fields, obj, w);
            }
            // Forcing the feature may have moved the mode or duration (a sample value).
            set(obj, "mode", mode.as_ref());
            set(obj, "duration", duration.as_ref());
        }
    }
    Some(())
}

/// Apply a mutation to a valid body (`None`: it does not apply to this body).
pub fn apply(c: &Contract, endpoint: &str, mut body: Value, m: &Mutation) -> Option<Value> {
    let ep = c.endpoint(endpoint);
    let fields = ep.fields.clone();
    let obj = body.as_object_mut()?;
    match m {
        Mutation::None => {}
        Mutation::Missing(p)
        | Mutation::WrongType(p, _)
        | Mutation::TooLong(p, _)
        | Mutation::OutOfRange(p, _)
        | Mutation::BadEnum(p, _)
        | Mutation::TooManyDecimals(p, _)
        | Mutation::BadExtension(p, _)
        | Mutation::DataUri(p)
        | Mutation::TooManyItems(p)
        | Mutation::TooFewItems(p) => apply_at(&fields, obj, &p.clone(), m)?,
        Mutation::BreakRule { at, rule, how } => {
            break_rule(ep, obj, at, *rule, *how)?;
            if at.is_empty() {
                let names = ep.rules.get(*rule).map(|r| r.names()).unwrap_or_default();
                crate::bodies::drop_unused_except(&fields, obj, &names);
            }
        }
        Mutation::Capability(b) => break_capability(c, endpoint, obj, b)?,
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
    Some(body)
}

/// Whether a mutated body is refused for the reason the mutation aims at (rule and capability
/// breaks may not apply to every body: those that do not are not generated).
fn aimed(c: &Contract, endpoint: &str, body: &Value, m: &Mutation) -> bool {
    let layer = match m {
        Mutation::BreakRule { .. } => Layer::Rule,
        Mutation::Capability(_) => Layer::Capability,
        _ => return true,
    };
    match c.judge(endpoint, body) {
        Verdict::Reject(r) => r.reasons.iter().any(|x| x.layer == layer),
        Verdict::Accept => false,
    }
}

/// Bodies for the create endpoints, valid and broken.
pub fn body_case<S: AsRef<str>>(c: &Contract, endpoints: &[S]) -> BoxedStrategy<BodyCase> {
    body_case_with(c, endpoints, GenOpts::default())
}

/// [`body_case`] with generation options (a paying target's valid bodies are its cheapest).
pub fn body_case_with<S: AsRef<str>>(
    c: &Contract,
    endpoints: &[S],
    opts: GenOpts,
) -> BoxedStrategy<BodyCase> {
    let per: Vec<BoxedStrategy<BodyCase>> = endpoints
        .iter()
        .map(|e| {
            let e = e.as_ref();
            let c3 = c.clone();
            let name = e.to_string();
            (crate::bodies::valid_body(c, e, opts), mutations(c, e))
                .prop_filter_map("the mutation does not apply to this body", move |(b, m)| {
                    let body = apply(&c3, &name, b, &m)?;
                    let judged = !c3.endpoint(&name).stateful || !c3.judge(&name, &body).accepted();
                    (judged && aimed(&c3, &name, &body, &m)).then(|| BodyCase {
                        endpoint: name.clone(),
                        body,
                        mutation: m,
                    })
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
mod tests;
