//! Request bodies from the oracle's field tree, rules and capability map: valid ones (across
//! models, modes and durations the capability map allows), and ways to break them, each aimed at
//! one documented rule (a field alone, a rule tying fields together, the capability map).
//!
//! A valid body is drawn field by field (each optional field kept or not, each value valid on its
//! own), then *repaired* against the rules in a fixed order (a field a rule requires is added, a
//! field it forbids removed, a feature the model does not allow dropped, the shots' durations
//! spread over the total, ...) and finally filtered by the oracle itself: what is generated as
//! valid is exactly what [`Contract::judge`] accepts. Fields the documents say are ignored in a
//! situation (`used_when`) are never sent there, and fields that name things on the target
//! (`external`: elements, voices, reference videos) never appear in valid bodies.
//!
//! Everything here is deterministic given proptest's draws, so failures shrink: an optional
//! field's draw shrinks to "left out".

use crate::model::{
    Contract, Endpoint, Field, Media, Ty, allowed_durations, feature_allowed, need_placeholder,
};
use crate::rules::{Cond, ItemSel, Rule, RuleKind, Scope, Sel, as_number};
use proptest::prelude::*;
use proptest::sample::{Index, select};
use serde_json::{Map, Value, json};
use std::sync::LazyLock;

/// The vendor's own sample voice file (SOURCES.md: Custom Voices), so custom voices also work on
/// the real API.
pub const SAMPLE_VOICE_URL: &str =
    "https://p2-kling.klingai.com/kcdn/cdn-kcdn112452/kling-qa-test/out.mp3";
/// The image of the official image-to-video example (the Chinese Kling 3.0 reference).
pub const SAMPLE_IMAGE_URL: &str =
    "https://p2-kling.klingai.com/kcdn/cdn-kcdn112452/kling-qa-test/multi-2.png";
/// A motion video on Kling's sample host, as public client code uses it (third party); only sent in
/// bodies the documents refuse or to a mock.
pub const SAMPLE_VIDEO_URL: &str =
    "https://p2-kling.klingai.com/kcdn/cdn-kcdn112452/kling-qa-test/dance.mp4";

/// The PNGs valid bodies use: 16:9 (the examples' image), 9:16 and 1:1, as raw Base64.
pub static PNGS: LazyLock<[String; 3]> = LazyLock::new(|| {
    [
        crate::png::gradient_base64(640, 360),
        crate::png::gradient_base64(360, 640),
        crate::png::gradient_base64(360, 360),
    ]
});

/// How valid bodies are drawn.
#[derive(Clone, Copy, Debug, Default)]
pub struct GenOpts {
    /// Against a paying target: the family example's model, mode and duration, and no feature
    /// that costs more (`sound: on`).
    pub cheap: bool,
}

fn text(max: usize) -> BoxedStrategy<String> {
    // Non-blank (first character is not a space), Latin and CJK, within `max` characters.
    let max = max.clamp(1, 60);
    (
        select(vec!['a', 'Z', '7', '声', 'é', 'k']),
        proptest::collection::vec(select(vec!['a', 'b', ' ', '音', 'x', '9', '-']), 0..max),
    )
        .prop_map(|(first, rest)| std::iter::once(first).chain(rest).collect())
        .boxed()
}

/// Whether a field is left out of generated valid bodies (a callback URL, the external id added at
/// send time, something that must exist on the target).
fn not_generated(f: &Field) -> bool {
    !f.generate || ((f.url || f.name == "external_task_id" || f.external) && f.sample.is_none())
}

/// A valid value for a field on its own (`None`: never generated).
pub fn value_strategy(f: &Field) -> Option<BoxedStrategy<Value>> {
    if not_generated(f) {
        return None;
    }
    if let Some(s) = &f.sample {
        return Some(Just(s.clone()).boxed());
    }
    Some(match f.ty {
        Ty::String => match (&f.media, &f.values, &f.url_extensions) {
            (Some(Media::Image), _, _) if f.base64 => select(vec![
                Value::from(PNGS[0].clone()),
                Value::from(PNGS[1].clone()),
                Value::from(PNGS[2].clone()),
                Value::from(SAMPLE_IMAGE_URL),
            ])
            .boxed(),
            (Some(Media::Image), _, _) => Just(Value::from(SAMPLE_IMAGE_URL)).boxed(),
            (Some(Media::Video), _, _) => Just(Value::from(SAMPLE_VIDEO_URL)).boxed(),
            (None, Some(values), _) => {
                let as_number = f.also.contains(&Ty::Number);
                (select(values.clone()), prop::bool::weighted(0.25))
                    .prop_map(move |(v, number)| match v.parse::<i64>() {
                        Ok(n) if as_number && number => json!(n),
                        _ => Value::from(v),
                    })
                    .boxed()
            }
            (None, None, Some(exts)) => select(exts.clone())
                .prop_map(|e| {
                    json!(format!(
                        "https://p2-kling.klingai.com/kcdn/sample-voice.{e}"
                    ))
                })
                .boxed(),
            (None, None, None) => text(f.max_chars.unwrap_or(40))
                .prop_map(Value::from)
                .boxed(),
        },
        Ty::Number => {
            let (min, max) = (f.min.unwrap_or(0.0), f.max.unwrap_or(100.0));
            let scale = 10f64.powi(f.decimals.unwrap_or(1) as i32);
            ((min * scale).round() as i64..=(max * scale).round() as i64)
                .prop_map(move |n| json!(n as f64 / scale))
                .boxed()
        }
        Ty::Integer => {
            let (min, max) = (f.min.unwrap_or(1.0) as i64, f.max.unwrap_or(300.0) as i64);
            (min..=max).prop_map(Value::from).boxed()
        }
        Ty::Boolean => {
            let lenient = f.also.contains(&Ty::String);
            (
                any::<bool>(),
                prop::bool::weighted(if lenient { 0.5 } else { 0.0 }),
            )
                .prop_map(|(b, as_text)| {
                    if as_text {
                        Value::from(b.to_string())
                    } else {
                        Value::from(b)
                    }
                })
                .boxed()
        }
        Ty::Object => object_strategy(&f.fields, &f.rules),
        Ty::Array => {
            let item = value_strategy(f.items.as_deref()?)?;
            let min = f.min_items.unwrap_or(1).max(1);
            let max = f.max_items.unwrap_or(3).clamp(min, min.max(3));
            let distinct = f.distinct_items;
            proptest::collection::vec(item, min..=max)
                .prop_map(move |mut items| {
                    if distinct {
                        let mut seen = Vec::new();
                        items.retain(|i| {
                            let new = !seen.contains(i);
                            seen.push(i.clone());
                            new
                        });
                    }
                    Value::Array(items)
                })
                .boxed()
        }
    })
}

/// Each field's draw: kept or not, and a valid value (`Null`: none can be generated).
fn draws_strategy(fields: &[Field]) -> BoxedStrategy<Vec<(bool, Value)>> {
    let single = fields.len() == 1;
    fields
        .iter()
        .map(|f| {
            let keep = prop::bool::weighted(if single { 1.0 } else { 0.35 });
            match value_strategy(f) {
                Some(v) => (keep, v).boxed(),
                None => (keep, Just(Value::Null)).boxed(),
            }
        })
        .collect::<Vec<_>>()
        .boxed()
}

fn object_strategy(fields: &[Field], rules: &[Rule]) -> BoxedStrategy<Value> {
    let (fields, rules) = (fields.to_vec(), rules.to_vec());
    draws_strategy(&fields)
        .prop_map(move |draws| Value::Object(build_object(&fields, &rules, &draws)))
        .boxed()
}

/// A deterministic valid value (what is added when a rule asks for a field).
pub fn sample_value(f: &Field) -> Option<Value> {
    if let Some(s) = &f.sample {
        return Some(s.clone());
    }
    if f.url {
        return None;
    }
    Some(match f.ty {
        Ty::String => match (&f.media, &f.values, &f.url_extensions) {
            (Some(Media::Image), _, _) if f.base64 => Value::from(PNGS[0].clone()),
            (Some(Media::Image), _, _) => Value::from(SAMPLE_IMAGE_URL),
            (Some(Media::Video), _, _) => Value::from(SAMPLE_VIDEO_URL),
            (None, Some(v), _) => Value::from(
                f.default
                    .as_ref()
                    .and_then(Value::as_str)
                    .filter(|d| v.iter().any(|x| x == d))
                    .unwrap_or(&v[0]),
            ),
            (None, None, Some(exts)) => {
                json!(format!(
                    "https://p2-kling.klingai.com/kcdn/sample.{}",
                    exts[0]
                ))
            }
            (None, None, None) => Value::from("contract"),
        },
        Ty::Number => {
            let (min, max) = (f.min.unwrap_or(0.0), f.max.unwrap_or(100.0));
            json!(if (min..=max).contains(&1.0) {
                1.0
            } else {
                (min + max) / 2.0
            })
        }
        Ty::Integer => json!(f.min.map_or(1, |m| m as i64).max(1)),
        Ty::Boolean => json!(f.default.as_ref().and_then(Value::as_bool).unwrap_or(false)),
        Ty::Object => {
            let draws: Vec<(bool, Value)> = f
                .fields
                .iter()
                .map(|x| (false, sample_value(x).unwrap_or(Value::Null)))
                .collect();
            Value::Object(build_object(&f.fields, &f.rules, &draws))
        }
        Ty::Array => {
            let item = sample_value(f.items.as_deref()?)?;
            Value::Array(vec![item; f.min_items.unwrap_or(1).max(1)])
        }
    })
}

/// What stands for a value another family's task provides, until it is made (a valid value of
/// the field: a sample video URL, a made-up id).
pub fn stand_in(f: &Field) -> Option<Value> {
    match f.media {
        Some(_) => sample_value(f),
        None => Some(Value::from("827964097668337738")),
    }
}

/// The family's example with its `needs` placeholders replaced by stand-ins.
pub fn example_with_stand_ins(c: &Contract, family: &crate::model::Family) -> Value {
    with_stand_ins(c, &family.create, family.example.clone())
}

/// A create body with the `needs` placeholders of its family (or endpoint) replaced by stand-ins.
pub fn with_stand_ins(c: &Contract, endpoint: &str, mut body: Value) -> Value {
    let Some((_, needs)) = c.needs_of(endpoint) else {
        return body;
    };
    let fields = &c.endpoint(endpoint).fields;
    for field in needs.keys() {
        if crate::model::at_path(&body, field).and_then(Value::as_str)
            == Some(need_placeholder(field).as_str())
            && let Some(v) = lookup_def(fields, field).and_then(stand_in)
        {
            crate::model::set_at_path(&mut body, field, v);
        }
    }
    body
}

fn def<'a>(fields: &'a [Field], name: &str) -> Option<&'a Field> {
    fields.iter().find(|f| f.name == name)
}

/// The draw of `name`, else its sample value.
fn drawn_value(fields: &[Field], draws: &[(bool, Value)], name: &str) -> Option<Value> {
    let i = fields.iter().position(|f| f.name == name)?;
    match draws.get(i) {
        Some((_, v)) if !v.is_null() => Some(v.clone()),
        _ => sample_value(&fields[i]),
    }
}

/// Build an object from draws and repair it against its rules.
pub fn build_object(
    fields: &[Field],
    rules: &[Rule],
    draws: &[(bool, Value)],
) -> Map<String, Value> {
    let mut m = Map::new();
    for (f, (keep, v)) in fields.iter().zip(draws) {
        if (f.required || f.always_sent || *keep) && !v.is_null() {
            m.insert(f.name.clone(), v.clone());
        }
    }
    for _ in 0..3 {
        repair_rules(fields, rules, &mut m, draws);
        drop_unused(fields, &mut m);
    }
    m
}

/// Remove the fields the documents say are ignored here.
fn drop_unused(fields: &[Field], m: &mut Map<String, Value>) {
    drop_unused_except(fields, m, &[]);
}

/// Remove the fields the documents say are not read in this body (`used_when` does not hold),
/// but those in `except`: after a rule is broken, what a field left where it is ignored does is
/// not documented (an `element_video_list` left in an `image_refer` element, say).
pub fn drop_unused_except(fields: &[Field], m: &mut Map<String, Value>, except: &[String]) {
    let unused: Vec<String> = fields
        .iter()
        .filter(|f| !f.required && !except.contains(&f.name))
        .filter(|f| {
            f.used_when.as_ref().is_some_and(|w| {
                !Scope {
                    fields,
                    obj: &m.clone(),
                }
                .holds(w)
            })
        })
        .map(|f| f.name.clone())
        .collect();
    for n in unused {
        m.remove(&n);
    }
}

fn is_present(fields: &[Field], m: &Map<String, Value>, path: &str) -> bool {
    Scope { fields, obj: m }.present(path)
}

/// Repair the rules of one object, in order.
fn repair_rules(
    fields: &[Field],
    rules: &[Rule],
    m: &mut Map<String, Value>,
    draws: &[(bool, Value)],
) {
    for r in rules {
        if let Some(w) = &r.when
            && !(Scope { fields, obj: m }.holds(w))
        {
            continue;
        }
        if (Scope { fields, obj: m }).violation(r).is_none() {
            continue;
        }
        match &r.kind {
            RuleKind::ExactlyOneOf(fs) => {
                let present: Vec<&String> =
                    fs.iter().filter(|f| is_present(fields, m, f)).collect();
                if let Some(first) = present.first().cloned() {
                    for f in fs.iter().filter(|f| *f != first) {
                        m.remove(f);
                    }
                } else if let Some(v) = drawn_value(fields, draws, &fs[0]) {
                    m.insert(fs[0].clone(), v);
                }
            }
            RuleKind::AtLeastOneOf(fs) => {
                if let Some(v) = drawn_value(fields, draws, &fs[0]) {
                    m.insert(fs[0].clone(), v);
                }
            }
            RuleKind::AtMostOneOf(groups) => {
                let mut seen = false;
                for g in groups {
                    let used = g.iter().any(|f| is_present(fields, m, f));
                    if used && seen {
                        for f in g {
                            m.remove(f);
                        }
                    }
                    seen |= used;
                }
            }
            RuleKind::Require(sels) => {
                for s in sels {
                    match s {
                        Sel::Field(f) if !is_present(fields, m, f) => {
                            match drawn_value(fields, draws, f) {
                                Some(v) if !def(fields, f).is_some_and(|d| d.external) => {
                                    m.insert(f.clone(), v);
                                }
                                _ => {
                                    if let Some(w) = &r.when {
                                        unforce(fields, m, w);
                                    }
                                }
                            }
                        }
                        Sel::Items(_) => {
                            if let Some(w) = &r.when {
                                unforce(fields, m, w);
                            }
                        }
                        Sel::Field(_) => {}
                    }
                }
            }
            RuleKind::Forbid(sels) => {
                for s in sels {
                    remove_sel(m, s, fields);
                }
            }
            RuleKind::RequireValues(pairs) => {
                for (f, v) in pairs {
                    set_path(fields, m, f, v.clone());
                }
            }
            RuleKind::Sum {
                items,
                field,
                total,
            } => {
                let scope = Scope { fields, obj: m };
                let Some(t) = scope.effective(total).as_ref().and_then(as_number) else {
                    continue;
                };
                let t = t.max(1.0) as usize;
                if let Some(Value::Array(list)) = m.get_mut(items) {
                    list.truncate(t);
                    let k = list.len().max(1);
                    for (i, it) in list.iter_mut().enumerate() {
                        let share = t / k + usize::from(i < t % k);
                        if let Some(o) = it.as_object_mut() {
                            o.insert(field.clone(), Value::from(share.to_string()));
                        }
                    }
                }
            }
            RuleKind::MaxCount { max, of } => {
                let mut total: usize = of
                    .iter()
                    .map(|f| m.get(f).and_then(Value::as_array).map_or(0, Vec::len))
                    .sum();
                for f in of.iter().rev() {
                    if total <= *max {
                        break;
                    }
                    if let Some(Value::Array(list)) = m.get_mut(f) {
                        let cut = (total - max).min(list.len());
                        list.truncate(list.len() - cut);
                        total -= cut;
                        if list.is_empty() {
                            m.remove(f);
                        }
                    }
                }
            }
            RuleKind::ExactlyOneNonzero(fs) => {
                let nonzero = |m: &Map<String, Value>, f: &String| {
                    m.get(f).and_then(Value::as_f64).is_some_and(|x| x != 0.0)
                };
                match fs.iter().find(|f| nonzero(m, f)).cloned() {
                    Some(keep) => {
                        for f in fs.iter().filter(|f| **f != keep) {
                            m.remove(f);
                        }
                    }
                    None => {
                        m.insert(fs[0].clone(), json!(1.0));
                    }
                }
            }
            RuleKind::MaxAreaFactor { width, height, .. } => {
                // No growth in height, at most 0.9 + 0.9 in width: 2.8x the area.
                for f in height {
                    m.insert(f.clone(), json!(0.0));
                }
                for f in width {
                    let v = m.get(f).and_then(Value::as_f64).unwrap_or(0.0);
                    m.insert(f.clone(), json!(v.min(0.9)));
                }
            }
        }
    }
}

fn remove_sel(m: &mut Map<String, Value>, s: &Sel, fields: &[Field]) {
    match s {
        Sel::Field(f) => remove_path(m, f),
        Sel::Items(sel) => remove_items(m, sel, fields),
    }
}

fn remove_items(m: &mut Map<String, Value>, sel: &ItemSel, fields: &[Field]) {
    let item_def = def(fields, &sel.array).and_then(|d| d.items.as_deref());
    if let Some(Value::Array(list)) = m.get_mut(&sel.array) {
        list.retain(|it| !Scope::item_matches(item_def, it, &sel.filter));
        if list.is_empty() {
            m.remove(&sel.array);
        }
    }
}

fn remove_path(m: &mut Map<String, Value>, path: &str) {
    match path.split_once('.') {
        None => {
            m.remove(path);
        }
        Some((head, rest)) => {
            if let Some(Value::Object(o)) = m.get_mut(head) {
                remove_path(o, rest);
            }
        }
    }
}

/// Set a dotted path, creating the objects on the way (sample values for the parents).
fn set_path(fields: &[Field], m: &mut Map<String, Value>, path: &str, v: Value) {
    match path.split_once('.') {
        None => {
            if v.is_null() {
                m.remove(path);
            } else {
                m.insert(path.to_string(), v);
            }
        }
        Some((head, rest)) => {
            let d = def(fields, head);
            if !m.get(head).is_some_and(Value::is_object) {
                let parent = d.and_then(sample_value).unwrap_or_else(|| json!({}));
                m.insert(head.to_string(), parent);
            }
            let sub = d.map_or(&[][..], |d| &d.fields[..]);
            if let Some(Value::Object(o)) = m.get_mut(head) {
                set_path(sub, o, rest, v);
            }
        }
    }
}

/// An item matching a selector's filter.
fn matching_item(fields: &[Field], sel: &ItemSel) -> Value {
    let item_def = def(fields, &sel.array).and_then(|d| d.items.as_deref());
    let mut it = item_def
        .and_then(sample_value)
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default();
    for (k, v) in &sel.filter {
        if v.is_null() {
            it.remove(k);
        } else {
            it.insert(k.clone(), v.clone());
        }
    }
    Value::Object(it)
}

fn push_item(fields: &[Field], m: &mut Map<String, Value>, array: &str, item: Value) {
    match m.get_mut(array) {
        Some(Value::Array(list)) => list.push(item),
        _ => {
            m.insert(array.to_string(), json!([item]));
        }
    }
    let _ = fields;
}

/// Make a condition hold, as far as possible; whether it now holds.
pub fn force(fields: &[Field], m: &mut Map<String, Value>, c: &Cond) -> bool {
    match c {
        Cond::Present(f) => {
            if !is_present(fields, m, f) {
                let leaf = lookup_def(fields, f);
                if let Some(v) = leaf.and_then(sample_value) {
                    set_path(fields, m, f, v);
                }
            }
        }
        Cond::Equals(f, v) => set_path(fields, m, f, v.clone()),
        Cond::In(f, vs) => {
            if let Some(v) = vs.first() {
                set_path(fields, m, f, v.clone());
            }
        }
        Cond::Items(sel) => {
            let item = matching_item(fields, sel);
            push_item(fields, m, &sel.array, item);
        }
        Cond::Count { of, min } => {
            let item_def = def(fields, &of[0]).and_then(|d| d.items.as_deref());
            let sample = item_def.and_then(sample_value).unwrap_or(json!({}));
            while !(Scope { fields, obj: m }).holds(c) {
                push_item(fields, m, &of[0], sample.clone());
                if m.get(&of[0]).and_then(Value::as_array).map_or(0, Vec::len) > *min + 10 {
                    break;
                }
            }
        }
        Cond::Not(c) => {
            unforce(fields, m, c);
        }
        Cond::All(cs) => {
            for c in cs {
                force(fields, m, c);
            }
        }
        Cond::Any(cs) => {
            if let Some(c) = cs.first() {
                force(fields, m, c);
            }
        }
    }
    Scope { fields, obj: m }.holds(c)
}

/// Make a condition fail, as far as possible; whether it now fails.
pub fn unforce(fields: &[Field], m: &mut Map<String, Value>, c: &Cond) -> bool {
    match c {
        Cond::Present(f) => remove_path(m, f),
        Cond::Equals(f, _) | Cond::In(f, _) => {
            let avoid: Vec<Value> = match c {
                Cond::In(_, vs) => vs.clone(),
                Cond::Equals(_, v) => vec![v.clone()],
                _ => Vec::new(),
            };
            let d = lookup_def(fields, f);
            let other = d.and_then(|d| match d.ty {
                Ty::Boolean => [json!(true), json!(false)]
                    .into_iter()
                    .find(|x| !avoid.contains(x)),
                _ => d
                    .values
                    .iter()
                    .flatten()
                    .map(|x| Value::from(x.as_str()))
                    .find(|x| !avoid.contains(x)),
            });
            match other {
                Some(x) => set_path(fields, m, f, x),
                None if avoid.iter().all(Value::is_null) => {
                    if let Some(x) = d.and_then(sample_value) {
                        set_path(fields, m, f, x);
                    }
                }
                None => remove_path(m, f),
            }
        }
        Cond::Items(sel) => remove_items(m, sel, fields),
        Cond::Count { of, min } => {
            let mut left = min.saturating_sub(1);
            for f in of {
                if let Some(Value::Array(list)) = m.get_mut(f) {
                    list.truncate(left);
                    left -= list.len();
                    if list.is_empty() {
                        m.remove(f);
                    }
                }
            }
        }
        Cond::Not(c) => {
            force(fields, m, c);
        }
        Cond::All(cs) => {
            if let Some(c) = cs.first() {
                unforce(fields, m, c);
            }
        }
        Cond::Any(cs) => {
            for c in cs {
                unforce(fields, m, c);
            }
        }
    }
    !(Scope { fields, obj: m }).holds(c)
}

/// The definition at a dotted path.
pub fn lookup_def<'a>(fields: &'a [Field], path: &str) -> Option<&'a Field> {
    let mut fs = fields;
    let mut d = None;
    for seg in path.split('.') {
        // An array index (`face_choose.0.face_id`): the array's item.
        d = if seg.parse::<usize>().is_ok() {
            d.and_then(|x: &Field| x.items.as_deref())
        } else {
            def(fs, seg)
        };
        fs = d.map_or(&[][..], |x| &x.fields[..]);
    }
    d
}

/// The top-level draws of a body.
#[derive(Clone, Debug)]
struct TopDraw {
    fields: Vec<(bool, Value)>,
    model: Index,
    mode: Index,
    duration: Index,
    duration_as_number: bool,
    voice: Option<(String, String)>,
}

/// Fields generated for an endpoint: callback URLs (undocumented validity) are left out, and
/// `external_task_id` is added at send time.
pub fn generated_fields(c: &Contract, endpoint: &str) -> Vec<Field> {
    c.endpoint(endpoint)
        .fields
        .iter()
        .filter(|f| !f.url && f.name != "external_task_id")
        .cloned()
        .collect()
}

/// A valid body for `endpoint`.
pub fn valid_body(c: &Contract, endpoint: &str, opts: GenOpts) -> BoxedStrategy<Value> {
    let c3 = c.clone();
    let name = endpoint.to_string();
    raw_body(c, endpoint, opts)
        .prop_filter("the oracle accepts it", move |b| {
            c3.judge(&name, b).accepted()
        })
        .boxed()
}

/// A drawn and repaired body, before the oracle's filter.
pub fn raw_body(c: &Contract, endpoint: &str, opts: GenOpts) -> BoxedStrategy<Value> {
    let fields = c.endpoint(endpoint).fields.clone();
    let mut voices: Vec<(String, String)> = c.tts_voices.iter().cloned().collect();
    voices.sort();
    let voice = if endpoint == "tts" {
        select(voices).prop_map(Some).boxed()
    } else {
        Just(None).boxed()
    };
    let draw = (
        draws_strategy(&fields),
        any::<Index>(),
        any::<Index>(),
        any::<Index>(),
        prop::bool::weighted(0.25),
        voice,
    )
        .prop_map(
            |(fields, model, mode, duration, duration_as_number, voice)| TopDraw {
                fields,
                model,
                mode,
                duration,
                duration_as_number,
                voice,
            },
        );
    let c2 = c.clone();
    let name = endpoint.to_string();
    draw.prop_map(move |d| build_top(&c2, &name, &d, opts))
        .boxed()
}

fn pick<T: Clone>(list: &[T], i: &Index) -> Option<T> {
    (!list.is_empty()).then(|| list[i.index(list.len())].clone())
}

fn text_of(fields: &[Field], m: &Map<String, Value>, path: &str) -> Option<String> {
    Scope { fields, obj: m }
        .effective(path)
        .and_then(|v| v.as_str().map(str::to_string))
}

fn build_top(c: &Contract, endpoint: &str, d: &TopDraw, opts: GenOpts) -> Value {
    let ep = c.endpoint(endpoint);
    let fields = &ep.fields;
    let draws: Vec<(bool, Value)> = fields
        .iter()
        .zip(&d.fields)
        .map(|(f, (keep, v))| {
            let skip = f.url || f.name == "external_task_id" || f.mirror_of.is_some();
            (*keep && !skip, if skip { Value::Null } else { v.clone() })
        })
        .collect();
    let mut m = Map::new();
    for (f, (keep, v)) in fields.iter().zip(&draws) {
        if (f.required || f.always_sent || *keep) && !v.is_null() {
            m.insert(f.name.clone(), v.clone());
        }
    }
    let family = c.family_of_create(endpoint);
    let example = family.and_then(|f| f.example.as_object());
    // Values other families' tasks provide: a stand-in, replaced at send time.
    if let Some(f) = family {
        for field in f.needs.keys() {
            if let Some(v) = def(fields, field).and_then(stand_in) {
                m.insert(field.clone(), v);
            }
        }
    }
    let ex_text = |k: &str| {
        example
            .and_then(|e| e.get(k))
            .and_then(|v| v.as_str().map(str::to_string))
    };
    let cap_family = ep.capabilities.as_deref();
    let model_field = ep.model_field.as_deref();
    if let (Some(fam), Some(mf)) = (cap_family, model_field) {
        let enum_models: Vec<String> = def(fields, mf)
            .and_then(|f| f.values.clone())
            .unwrap_or_default();
        let models: Vec<String> = if opts.cheap {
            ex_text(mf).into_iter().collect()
        } else {
            enum_models
                .into_iter()
                .filter(|x| c.capability(fam, x).is_some())
                .collect()
        };
        if let Some(model) = pick(&models, &d.model) {
            let default = text_of(fields, &m, mf);
            if m.contains_key(mf) || opts.cheap || default.as_deref() != Some(model.as_str()) {
                m.insert(mf.to_string(), Value::from(model));
            }
        }
    }
    for _ in 0..3 {
        repair_rules(fields, &ep.rules, &mut m, &draws);
        fix_capabilities(c, ep, &mut m, d, opts, example);
        drop_unused(fields, &mut m);
    }
    // `model` beside `model_name`, with the same value, as new-api sends it.
    for f in fields.iter().filter(|f| f.mirror_of.is_some()) {
        let i = fields.iter().position(|x| x.name == f.name).unwrap_or(0);
        let keep = d.fields.get(i).is_some_and(|(k, _)| *k);
        let of = f.mirror_of.as_deref().unwrap_or_default();
        match m.get(of).cloned() {
            Some(v) if keep => {
                m.insert(f.name.clone(), v);
            }
            _ => {
                m.remove(&f.name);
            }
        }
    }
    if d.duration_as_number
        && let Some(Value::String(s)) = m.get("duration")
        && let Ok(n) = s.parse::<i64>()
        && def(fields, "duration").is_some_and(|f| f.also.contains(&Ty::Number))
    {
        m.insert("duration".into(), json!(n));
    }
    if let Some((voice, lang)) = &d.voice {
        m.insert("voice_id".into(), json!(voice));
        m.insert("voice_language".into(), json!(lang));
    }
    Value::Object(m)
}

/// Bring mode, duration and features within what the model allows.
fn fix_capabilities(
    c: &Contract,
    ep: &Endpoint,
    m: &mut Map<String, Value>,
    d: &TopDraw,
    opts: GenOpts,
    example: Option<&Map<String, Value>>,
) {
    let fields = &ep.fields;
    let (Some(fam), Some(mf)) = (ep.capabilities.as_deref(), ep.model_field.as_deref()) else {
        return;
    };
    let Some(model) = text_of(fields, m, mf) else {
        return;
    };
    let Some(cap) = c.capability(fam, &model) else {
        return;
    };
    let ex = |k: &str| example.and_then(|e| e.get(k)).cloned();
    if let Some(mode_def) = def(fields, "mode") {
        let modes: Vec<String> = if opts.cheap {
            ex("mode")
                .and_then(|v| v.as_str().map(str::to_string))
                .into_iter()
                .collect()
        } else {
            cap.modes
                .iter()
                .filter(|x| mode_def.values.as_ref().is_none_or(|v| v.contains(x)))
                .cloned()
                .collect()
        };
        let current = text_of(fields, m, "mode");
        let wanted = m.contains_key("mode") || mode_def.required;
        if wanted || current.as_ref().is_none_or(|x| !modes.contains(x)) {
            let keep_current = current
                .as_ref()
                .filter(|x| modes.contains(x) && !opts.cheap);
            if let Some(mode) = keep_current.cloned().or_else(|| pick(&modes, &d.mode)) {
                m.insert("mode".into(), Value::from(mode));
            }
        }
    }
    if opts.cheap {
        m.remove("sound");
        // An image task costs by its resolution class and its number of pictures: the
        // example's (or the default).
        for k in ["resolution", "n"] {
            if fields.iter().any(|f| f.name == k) {
                match ex(k) {
                    Some(v) => {
                        m.insert(k.into(), v);
                    }
                    None => {
                        m.remove(k);
                    }
                }
            }
        }
    }
    let mode = text_of(fields, m, "mode");
    if let Some(dur_def) = def(fields, "duration") {
        let scope = Scope { fields, obj: m };
        let allowed: Vec<String> = match allowed_durations(cap, &scope) {
            Some(a) => a
                .iter()
                .filter(|x| dur_def.values.as_ref().is_none_or(|v| v.contains(x)))
                .cloned()
                .collect(),
            None => dur_def.values.clone().unwrap_or_default(),
        };
        let allowed = if opts.cheap {
            ex("duration")
                .and_then(|v| v.as_str().map(str::to_string))
                .into_iter()
                .collect()
        } else {
            allowed
        };
        let current = text_of(fields, m, "duration");
        if (current.as_ref().is_none_or(|x| !allowed.contains(x)) || opts.cheap)
            && let Some(x) = pick(&allowed, &d.duration)
        {
            m.insert("duration".into(), Value::from(x));
        }
    }
    let duration = text_of(fields, m, "duration");
    for (name, uses) in &ep.features {
        let scope = Scope { fields, obj: m };
        if scope.holds(uses)
            && !feature_allowed(
                cap.features.get(name),
                mode.as_deref(),
                duration.as_deref(),
                &scope,
            )
        {
            unforce(fields, m, uses);
        }
    }
}

/// All field paths of an endpoint's tree, with their definitions (`[0]` for array items).
pub fn field_paths(fields: &[Field]) -> Vec<(String, Field)> {
    fn walk(fields: &[Field], prefix: &str, out: &mut Vec<(String, Field)>) {
        for f in fields {
            if f.url || f.name == "external_task_id" {
                continue;
            }
            let path = if prefix.is_empty() {
                f.name.clone()
            } else {
                format!("{prefix}.{}", f.name)
            };
            out.push((path.clone(), f.clone()));
            match f.ty {
                Ty::Object => walk(&f.fields, &path, out),
                Ty::Array => {
                    if let Some(item) = &f.items
                        && item.ty == Ty::Object
                    {
                        walk(&item.fields, &format!("{path}[0]"), out);
                    }
                }
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    walk(fields, "", &mut out);
    out
}

/// One segment of a path: a field, and an item index if the field is an array's item.
fn segments(path: &str) -> Vec<(String, Option<usize>)> {
    path.split('.')
        .map(|seg| match seg.split_once('[') {
            Some((name, rest)) => (name.to_string(), rest.trim_end_matches(']').parse().ok()),
            None => (seg.to_string(), None),
        })
        .collect()
}

/// The object that holds the last segment of `path`, created with sample values on the way; the
/// definitions of its fields. The `used_when` of the top field and of the last one is forced first.
pub fn parent_of<'a>(
    fields: &'a [Field],
    m: &'a mut Map<String, Value>,
    path: &str,
) -> Option<(&'a mut Map<String, Value>, &'a [Field], String)> {
    let segs = segments(path);
    // The field is read where its documents say.
    if let Some(top) = def(fields, &segs[0].0)
        && let Some(w) = &top.used_when
    {
        force(fields, m, w);
    }
    let (last, rest) = segs.split_last()?;
    let mut obj = m;
    let mut defs = fields;
    for (name, index) in rest {
        let d = def(defs, name)?;
        let present = obj.get(name).is_some_and(|v| match index {
            Some(_) => v.as_array().is_some_and(|a| !a.is_empty()),
            None => v.is_object(),
        });
        if !present {
            obj.insert(name.clone(), sample_value(d)?);
        }
        let v = obj.get_mut(name)?;
        match index {
            Some(i) => {
                let item_def = d.items.as_deref()?;
                let list = v.as_array_mut()?;
                while list.len() <= *i {
                    list.push(sample_value(item_def)?);
                }
                obj = list.get_mut(*i)?.as_object_mut()?;
                defs = &item_def.fields;
            }
            None => {
                obj = v.as_object_mut()?;
                defs = &d.fields;
            }
        }
    }
    // A nested field is read where its documents say too (`input.images` only without
    // `input.image`).
    // Forced with what its own condition reads (`audio_file` is read for `audio_type: file`,
    // which is read for `mode: audio2video`).
    if !rest.is_empty()
        && let Some(d) = def(defs, &last.0)
        && let Some(w) = &d.used_when
    {
        let mut conds = vec![w.clone()];
        for _ in 0..4 {
            let Some(c) = conds.pop() else { break };
            force(defs, obj, &c);
            for name in crate::model::cond_fields(&c) {
                if let Some(w2) = def(defs, &name).and_then(|d2| d2.used_when.clone()) {
                    conds.push(w2);
                }
            }
        }
    }
    Some((obj, defs, last.0.clone()))
}

/// Values of another JSON type than the field's (a lenient form is not one of them).
pub fn wrong_types(f: &Field) -> Vec<Value> {
    match f.ty {
        Ty::String if f.also.contains(&Ty::Number) => {
            vec![json!(true), json!(["x"]), json!({"a": 1})]
        }
        Ty::String => vec![json!(7), json!(true), json!(["x"]), json!({"a": 1})],
        Ty::Number => vec![json!("5"), json!(true), json!([5]), json!({"v": 5})],
        // Not a numeric string: a Java backend may read "5" as 5 (the documents say "long").
        Ty::Integer => vec![json!("x"), json!(1.5), json!(true), json!([5])],
        Ty::Boolean if f.also.contains(&Ty::String) => vec![json!(7), json!("yes"), json!([true])],
        Ty::Boolean => vec![json!(7), json!("true"), json!([true])],
        Ty::Object => vec![json!("x"), json!(7), json!([1])],
        Ty::Array => vec![json!("x"), json!(7), json!({"a": 1})],
    }
}
