//! The oracle's vocabulary for rules that tie fields together, read from
//! `fixtures/contract/endpoints.json` (an endpoint's `rules`, an object field's `rules`, an
//! endpoint's `features`, a capability's `when`): conditions ([`Cond`]), what a rule asks
//! ([`RuleKind`]) and their evaluation over a request body.
//!
//! Conditions see *effective* values: a field that is absent, `null`, `""` or `[]` takes its
//! documented default; a value real clients send in another JSON type is read as the documented
//! one (`"multi_shot": "true"` is `true`, `"duration": 5` is `"5"`; kling-clients.md). Presence
//! (`require`, `forbid`, `exactly_one_of`, ...) looks at what was sent, not at defaults.
//!
//! The JSON forms, each with an example from the file:
//!
//! * conditions: `{"field": "video_list"}` (present), `{"field": "sound", "equals": "on"}`,
//!   `{"field": "mode", "in": ["std"]}`, `{"items": "image_list", "where": {"type": "first_frame"}}`
//!   (an item whose fields have these effective values; `null` = absent), `{"count": ["image_list"],
//!   "min": 3}`, `{"not": c}`, `{"all": [c, ...]}`, `{"any": [c, ...]}`; a list is `all`.
//! * rules: `{"exactly_one_of": ["voice_url", "video_id"]}`, `{"at_least_one_of": ["image",
//!   "image_tail"]}`, `{"at_most_one_of": [["image_tail"], ["dynamic_masks", "static_mask"],
//!   ["camera_control"]]}` (mutually exclusive groups), `{"when": c, "require": ["shot_type"]}`,
//!   `{"when": c, "forbid": [{"items": "image_list", "where": {"type": "end_frame"}}]}`,
//!   `{"when": c, "require_values": {"sound": "off"}}`, `{"when": c, "sum": {"items":
//!   "multi_prompt", "field": "duration"}, "equals_field": "duration"}`, `{"when": c, "max_count":
//!   7, "of": ["image_list", "element_list"]}`, `{"exactly_one_nonzero": ["horizontal", ...]}`,
//!   `{"max_area_factor": 3, "width": ["left_expansion_ratio", "right_expansion_ratio"], "height":
//!   [...]}` (an image grown by these multiples of its width and height is at most 3x its area).

use crate::model::{Field, Ty};
use serde_json::{Map, Value};

/// A condition on a body (or on an object inside it).
#[derive(Clone, Debug, PartialEq)]
pub enum Cond {
    /// The field (a dotted path) was sent.
    Present(String),
    /// Its effective value equals this (`Null`: it has none).
    Equals(String, Value),
    /// Its effective value is one of these.
    In(String, Vec<Value>),
    /// Some item of the array has these effective values.
    Items(ItemSel),
    /// The arrays hold at least `min` items together.
    Count {
        /// Array fields.
        of: Vec<String>,
        /// Least total.
        min: usize,
    },
    /// Negation.
    Not(Box<Cond>),
    /// Conjunction.
    All(Vec<Cond>),
    /// Disjunction.
    Any(Vec<Cond>),
}

/// The items of an array whose fields have given effective values.
#[derive(Clone, Debug, PartialEq)]
pub struct ItemSel {
    /// The array field (a dotted path).
    pub array: String,
    /// Item field → effective value (`Null`: absent).
    pub filter: Map<String, Value>,
}

/// What a `require` or `forbid` names: a field, or items of an array.
#[derive(Clone, Debug, PartialEq)]
pub enum Sel {
    /// A field.
    Field(String),
    /// Items of an array.
    Items(ItemSel),
}

impl Sel {
    /// The field a message should name.
    pub fn name(&self) -> &str {
        match self {
            Sel::Field(f) => f,
            Sel::Items(i) => &i.array,
        }
    }
}

/// What a rule asks.
#[derive(Clone, Debug, PartialEq)]
pub enum RuleKind {
    /// Exactly one of the fields is sent.
    ExactlyOneOf(Vec<String>),
    /// At least one of the fields is sent.
    AtLeastOneOf(Vec<String>),
    /// At most one group has a field sent (mutually exclusive groups).
    AtMostOneOf(Vec<Vec<String>>),
    /// These are sent.
    Require(Vec<Sel>),
    /// These are not sent.
    Forbid(Vec<Sel>),
    /// These fields have these effective values.
    RequireValues(Vec<(String, Value)>),
    /// The items' `field` values add up to the `total` field's effective value.
    Sum {
        /// The array.
        items: String,
        /// The item field summed.
        field: String,
        /// The field holding the total.
        total: String,
    },
    /// The arrays hold at most `max` items together.
    MaxCount {
        /// Most items.
        max: usize,
        /// The arrays.
        of: Vec<String>,
    },
    /// Exactly one of these number fields is not zero (absent = 0).
    ExactlyOneNonzero(Vec<String>),
    /// An image grown by the `width` ratios (multiples of its width, added) and the `height`
    /// ratios has at most `max` times its area: `(1 + Σwidth) × (1 + Σheight) <= max`.
    MaxAreaFactor {
        /// Most area, as a multiple of the original.
        max: f64,
        /// Fields adding to the width.
        width: Vec<String>,
        /// Fields adding to the height.
        height: Vec<String>,
    },
}

/// Rounding slack of [`RuleKind::MaxAreaFactor`]: ratios of one decimal multiply to a product
/// a few ulps off (1.5 × 2.0 may come out as 3.0000000000000004).
pub const AREA_EPSILON: f64 = 1e-9;

/// A rule: what it asks, when, and where the documents say so.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    /// What it asks.
    pub kind: RuleKind,
    /// When it applies (always when `None`).
    pub when: Option<Cond>,
    /// The document section.
    pub source: Option<String>,
}

impl Rule {
    /// The fields a refusal under this rule should name (any of them).
    pub fn names(&self) -> Vec<String> {
        match &self.kind {
            RuleKind::ExactlyOneOf(f) | RuleKind::AtLeastOneOf(f) => f.clone(),
            RuleKind::AtMostOneOf(groups) => groups.iter().flatten().cloned().collect(),
            RuleKind::Require(s) | RuleKind::Forbid(s) => {
                s.iter().map(|s| s.name().to_string()).collect()
            }
            RuleKind::RequireValues(v) => v.iter().map(|(f, _)| f.clone()).collect(),
            RuleKind::Sum {
                items,
                field,
                total,
            } => vec![items.clone(), field.clone(), total.clone()],
            RuleKind::MaxCount { of, .. } => of.clone(),
            RuleKind::ExactlyOneNonzero(f) => f.clone(),
            RuleKind::MaxAreaFactor { width, height, .. } => {
                width.iter().chain(height).cloned().collect()
            }
        }
    }
}

fn strings(v: &Value, what: &str) -> Result<Vec<String>, String> {
    v.as_array()
        .ok_or(format!("{what}: expected a list"))?
        .iter()
        .map(|x| {
            x.as_str()
                .map(str::to_string)
                .ok_or(format!("{what}: expected strings"))
        })
        .collect()
}

fn item_sel(o: &Map<String, Value>) -> Result<ItemSel, String> {
    Ok(ItemSel {
        array: o["items"]
            .as_str()
            .ok_or("items: a field name")?
            .to_string(),
        filter: o
            .get("where")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default(),
    })
}

impl TryFrom<Value> for Cond {
    type Error = String;
    fn try_from(v: Value) -> Result<Cond, String> {
        parse_cond(&v)
    }
}

/// Read a condition from its JSON form.
pub fn parse_cond(v: &Value) -> Result<Cond, String> {
    if let Some(list) = v.as_array() {
        return Ok(Cond::All(
            list.iter().map(parse_cond).collect::<Result<_, _>>()?,
        ));
    }
    let o = v.as_object().ok_or(format!("a condition: {v}"))?;
    if let Some(c) = o.get("not") {
        return Ok(Cond::Not(Box::new(parse_cond(c)?)));
    }
    if let Some(c) = o.get("all") {
        return parse_cond(c);
    }
    if let Some(c) = o.get("any") {
        let list = c.as_array().ok_or("any: a list")?;
        return Ok(Cond::Any(
            list.iter().map(parse_cond).collect::<Result<_, _>>()?,
        ));
    }
    if o.contains_key("items") {
        return Ok(Cond::Items(item_sel(o)?));
    }
    if let Some(of) = o.get("count") {
        return Ok(Cond::Count {
            of: strings(of, "count")?,
            min: o.get("min").and_then(Value::as_u64).ok_or("count: min")? as usize,
        });
    }
    let field = o
        .get("field")
        .and_then(Value::as_str)
        .ok_or(format!("a condition names no field: {v}"))?
        .to_string();
    if let Some(x) = o.get("equals") {
        return Ok(Cond::Equals(field, x.clone()));
    }
    if let Some(x) = o.get("in") {
        return Ok(Cond::In(field, x.as_array().ok_or("in: a list")?.clone()));
    }
    Ok(Cond::Present(field))
}

fn parse_sel(v: &Value) -> Result<Sel, String> {
    match v {
        Value::String(s) => Ok(Sel::Field(s.clone())),
        Value::Object(o) if o.contains_key("items") => Ok(Sel::Items(item_sel(o)?)),
        _ => Err(format!("a field or an item selector: {v}")),
    }
}

impl TryFrom<Value> for Rule {
    type Error = String;
    fn try_from(v: Value) -> Result<Rule, String> {
        let o = v.as_object().ok_or(format!("a rule: {v}"))?;
        let when = o.get("when").map(parse_cond).transpose()?;
        let source = o.get("source").and_then(Value::as_str).map(str::to_string);
        let kind = if let Some(x) = o.get("exactly_one_of") {
            RuleKind::ExactlyOneOf(strings(x, "exactly_one_of")?)
        } else if let Some(x) = o.get("at_least_one_of") {
            RuleKind::AtLeastOneOf(strings(x, "at_least_one_of")?)
        } else if let Some(x) = o.get("at_most_one_of") {
            RuleKind::AtMostOneOf(
                x.as_array()
                    .ok_or("at_most_one_of: a list of groups")?
                    .iter()
                    .map(|g| strings(g, "at_most_one_of"))
                    .collect::<Result<_, _>>()?,
            )
        } else if let Some(x) = o.get("require") {
            RuleKind::Require(
                x.as_array()
                    .ok_or("require: a list")?
                    .iter()
                    .map(parse_sel)
                    .collect::<Result<_, _>>()?,
            )
        } else if let Some(x) = o.get("forbid") {
            RuleKind::Forbid(
                x.as_array()
                    .ok_or("forbid: a list")?
                    .iter()
                    .map(parse_sel)
                    .collect::<Result<_, _>>()?,
            )
        } else if let Some(x) = o.get("require_values") {
            RuleKind::RequireValues(
                x.as_object()
                    .ok_or("require_values: an object")?
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            )
        } else if let Some(x) = o.get("sum") {
            RuleKind::Sum {
                items: x["items"].as_str().ok_or("sum: items")?.to_string(),
                field: x["field"].as_str().ok_or("sum: field")?.to_string(),
                total: o
                    .get("equals_field")
                    .and_then(Value::as_str)
                    .ok_or("sum: equals_field")?
                    .to_string(),
            }
        } else if let Some(x) = o.get("max_count") {
            RuleKind::MaxCount {
                max: x.as_u64().ok_or("max_count: a number")? as usize,
                of: strings(o.get("of").ok_or("max_count: of")?, "of")?,
            }
        } else if let Some(x) = o.get("exactly_one_nonzero") {
            RuleKind::ExactlyOneNonzero(strings(x, "exactly_one_nonzero")?)
        } else if let Some(x) = o.get("max_area_factor") {
            RuleKind::MaxAreaFactor {
                max: x.as_f64().ok_or("max_area_factor: a number")?,
                width: strings(o.get("width").ok_or("max_area_factor: width")?, "width")?,
                height: strings(o.get("height").ok_or("max_area_factor: height")?, "height")?,
            }
        } else {
            return Err(format!("a rule of no known kind: {v}"));
        };
        Ok(Rule { kind, when, source })
    }
}

/// A body (or an object inside it) with the field definitions that describe it.
#[derive(Clone, Copy)]
pub struct Scope<'a> {
    /// The fields of this object.
    pub fields: &'a [Field],
    /// The object as sent.
    pub obj: &'a Map<String, Value>,
}

/// Whether a sent value counts as sent: not `null`, `""` or `[]`.
pub fn sent(v: &Value) -> bool {
    !(v.is_null()
        || v.as_str().is_some_and(str::is_empty)
        || v.as_array().is_some_and(Vec::is_empty))
}

/// A value as the field's documented type, if a lenient form of it (see the module docs).
pub fn normalize(f: Option<&Field>, v: &Value) -> Value {
    let Some(f) = f else { return v.clone() };
    match (f.ty, v) {
        (Ty::Boolean, Value::String(s)) if f.also.contains(&Ty::String) => match s.as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => v.clone(),
        },
        (Ty::String, Value::Number(n)) if f.also.contains(&Ty::Number) => {
            Value::String(number_text(n.as_f64().unwrap_or(f64::NAN)))
        }
        _ => v.clone(),
    }
}

/// The shortest decimal text of a number (`5.0` → `"5"`, `2.5` → `"2.5"`).
pub fn number_text(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

impl<'a> Scope<'a> {
    /// The definition and the sent value at a dotted path.
    pub fn lookup(&self, path: &str) -> (Option<&'a Field>, Option<&'a Value>) {
        let mut fields = self.fields;
        let mut obj = Some(self.obj);
        let mut def = None;
        let mut val = None;
        for (i, seg) in path.split('.').enumerate() {
            if i > 0 {
                fields = def.map_or(&[][..], |d: &Field| &d.fields[..]);
                obj = val.and_then(Value::as_object);
            }
            def = fields.iter().find(|f| f.name == seg);
            val = obj.and_then(|o| o.get(seg));
        }
        (def, val)
    }

    /// Whether the field at `path` was sent.
    pub fn present(&self, path: &str) -> bool {
        self.lookup(path).1.is_some_and(sent)
    }

    /// The effective value at `path`: as sent (normalised), else the default.
    pub fn effective(&self, path: &str) -> Option<Value> {
        let (def, val) = self.lookup(path);
        match val {
            Some(v) if sent(v) => Some(normalize(def, v)),
            _ => def.and_then(|d| d.default.clone()),
        }
    }

    /// The items of the array at `path` (empty when absent or not an array).
    pub fn items(&self, path: &str) -> (Option<&'a Field>, &'a [Value]) {
        let (def, val) = self.lookup(path);
        (
            def.and_then(|d| d.items.as_deref()),
            val.and_then(Value::as_array).map_or(&[][..], Vec::as_slice),
        )
    }

    /// Whether an item matches a selector's filter.
    pub fn item_matches(
        item_def: Option<&Field>,
        item: &Value,
        filter: &Map<String, Value>,
    ) -> bool {
        let Some(o) = item.as_object() else {
            return false;
        };
        let fields = item_def.map_or(&[][..], |d| &d.fields[..]);
        let s = Scope { fields, obj: o };
        filter.iter().all(|(k, want)| {
            let got = s.effective(k);
            match want {
                Value::Null => got.is_none(),
                w => got.as_ref() == Some(w),
            }
        })
    }

    /// How many items of `sel` the body holds.
    pub fn count_items(&self, sel: &ItemSel) -> usize {
        let (def, items) = self.items(&sel.array);
        items
            .iter()
            .filter(|i| Self::item_matches(def, i, &sel.filter))
            .count()
    }

    /// Evaluate a condition.
    pub fn holds(&self, c: &Cond) -> bool {
        match c {
            Cond::Present(f) => self.present(f),
            Cond::Equals(f, want) => match want {
                Value::Null => self.effective(f).is_none(),
                w => self.effective(f).as_ref() == Some(w),
            },
            Cond::In(f, set) => self.effective(f).is_some_and(|v| set.contains(&v)),
            Cond::Items(sel) => self.count_items(sel) > 0,
            Cond::Count { of, min } => {
                of.iter().map(|f| self.items(f).1.len()).sum::<usize>() >= *min
            }
            Cond::Not(c) => !self.holds(c),
            Cond::All(cs) => cs.iter().all(|c| self.holds(c)),
            Cond::Any(cs) => cs.iter().any(|c| self.holds(c)),
        }
    }

    /// Whether a selector is sent.
    pub fn selected(&self, s: &Sel) -> bool {
        match s {
            Sel::Field(f) => self.present(f),
            Sel::Items(i) => self.count_items(i) > 0,
        }
    }

    /// Check a rule: `None` if it holds (or does not apply), else why not.
    pub fn violation(&self, r: &Rule) -> Option<String> {
        if let Some(w) = &r.when
            && !self.holds(w)
        {
            return None;
        }
        let present = |f: &String| self.present(f);
        match &r.kind {
            RuleKind::ExactlyOneOf(fs) => {
                let n = fs.iter().filter(|f| present(f)).count();
                (n != 1).then(|| format!("exactly one of {} is required, got {n}", fs.join(", ")))
            }
            RuleKind::AtLeastOneOf(fs) => (!fs.iter().any(present))
                .then(|| format!("at least one of {} is required", fs.join(", "))),
            RuleKind::AtMostOneOf(groups) => {
                let used: Vec<String> = groups
                    .iter()
                    .filter(|g| g.iter().any(present))
                    .map(|g| g.join("/"))
                    .collect();
                (used.len() > 1).then(|| format!("{} cannot be used together", used.join(", ")))
            }
            RuleKind::Require(sels) => sels
                .iter()
                .find(|s| !self.selected(s))
                .map(|s| format!("{} is required here", describe(s))),
            RuleKind::Forbid(sels) => sels
                .iter()
                .find(|s| self.selected(s))
                .map(|s| format!("{} is not allowed here", describe(s))),
            RuleKind::RequireValues(pairs) => pairs
                .iter()
                .find(|(f, v)| self.effective(f).as_ref() != Some(v))
                .map(|(f, v)| format!("{f} must be {v} here")),
            RuleKind::Sum {
                items,
                field,
                total,
            } => {
                let (def, list) = self.items(items);
                if list.is_empty() {
                    return None;
                }
                let item_fields = def.map_or(&[][..], |d| &d.fields[..]);
                let mut sum = 0.0;
                for it in list {
                    let o = it.as_object()?;
                    let s = Scope {
                        fields: item_fields,
                        obj: o,
                    };
                    sum += as_number(&s.effective(field)?)?;
                }
                let want = as_number(&self.effective(total)?)?;
                ((sum - want).abs() > 1e-9)
                    .then(|| format!("the {field}s of {items} add up to {sum}, {total} is {want}"))
            }
            RuleKind::MaxCount { max, of } => {
                let n: usize = of.iter().map(|f| self.items(f).1.len()).sum();
                (n > *max)
                    .then(|| format!("{} hold {n} items together, at most {max}", of.join(" + ")))
            }
            RuleKind::ExactlyOneNonzero(fs) => {
                let n = fs
                    .iter()
                    .filter(|f| {
                        self.effective(f)
                            .and_then(|v| v.as_f64())
                            .is_some_and(|x| x != 0.0)
                    })
                    .count();
                (n != 1)
                    .then(|| format!("exactly one of {} must be non-zero, got {n}", fs.join(", ")))
            }
            RuleKind::MaxAreaFactor { max, width, height } => {
                let factor = self.area_factor(width, height)?;
                (factor > max + AREA_EPSILON).then(|| {
                    format!("the grown image is {factor:.3}x the original area, at most {max}x")
                })
            }
        }
    }

    /// `(1 + Σwidth) × (1 + Σheight)` of effective values (`None`: one is not a number).
    pub fn area_factor(&self, width: &[String], height: &[String]) -> Option<f64> {
        let sum = |fs: &[String]| -> Option<f64> {
            fs.iter()
                .map(|f| self.effective(f).map_or(Some(0.0), |v| as_number(&v)))
                .sum()
        };
        Some((1.0 + sum(width)?) * (1.0 + sum(height)?))
    }
}

fn describe(s: &Sel) -> String {
    match s {
        Sel::Field(f) => f.clone(),
        Sel::Items(i) => format!(
            "an item of {} with {}",
            i.array,
            serde_json::to_string(&i.filter).unwrap_or_default()
        ),
    }
}

/// A number, or a string holding one.
pub fn as_number(v: &Value) -> Option<f64> {
    v.as_f64().or_else(|| v.as_str()?.trim().parse().ok())
}
