//! The image models as the documents describe them, read from `fixtures/image-models.json` (the
//! harness's own file: kling-mock does not read it): the capability map of the image families
//! (which resolutions, aspect ratios and result types a model allows, as the endpoint's
//! `features`), how big a result image is (resolution class by pixel area, aspect ratio within a
//! tolerance: the documents give no pixel table) and what a create costs. Each row names its
//! source; INFERRED rows say so.

use crate::image::SizeWant;
use crate::model::{Contract, Family};
use crate::rules::{Cond, Scope, as_number, parse_cond};
use crate::video_models::Capability;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// What a model may do in one image family.
#[derive(Clone, Debug, Deserialize)]
pub struct ImageCapability {
    /// The features, as the video families have them (no modes, no durations).
    #[serde(flatten)]
    pub cap: Capability,
    /// Resolution classes, in words (the features say the same).
    #[serde(default)]
    pub resolutions: Vec<String>,
    /// Aspect ratios, in words.
    #[serde(default)]
    pub aspect_ratios: Vec<String>,
    /// Result types, in words.
    #[serde(default)]
    pub result_types: Vec<String>,
}

/// One image model.
#[derive(Clone, Debug, Deserialize)]
pub struct ImageModel {
    /// Capabilities by family (its key in `endpoints.json`).
    pub families: BTreeMap<String, ImageCapability>,
}

/// How big a result image is.
#[derive(Clone, Debug, Deserialize)]
pub struct Sizes {
    /// Pixel area of each resolution class.
    pub areas: BTreeMap<String, f64>,
    /// Accepted relative difference from the class's area.
    pub area_tolerance: f64,
    /// Accepted relative difference of width / height from the requested ratio.
    pub aspect_tolerance: f64,
    /// Accepted difference, in pixels a side, of an expanded image from the grown input.
    pub grow_tolerance_px: u32,
    /// The named aspect ratios as `[width, height]`.
    pub aspect_ratios: BTreeMap<String, [u32; 2]>,
}

/// What image creates cost.
#[derive(Clone, Debug, Deserialize)]
pub struct Costs {
    /// Units per image, by resolution class.
    pub per_image: BTreeMap<String, f64>,
    /// How many images an omni series of `auto` is counted as.
    pub auto_series_counts_as: u32,
}

/// The whole file.
#[derive(Clone, Debug, Deserialize)]
pub struct ImageModels {
    /// Result sizes.
    pub sizes: Sizes,
    /// Costs.
    pub costs: Costs,
    /// Models by name.
    pub models: BTreeMap<String, ImageModel>,
}

impl ImageModels {
    /// Read the file's text.
    pub fn parse(text: &str) -> Result<ImageModels, String> {
        serde_json::from_str(text).map_err(|e| format!("image-models.json: {e}"))
    }

    /// What `model` may do in `family`.
    pub fn capability(&self, family: &str, model: &str) -> Option<&ImageCapability> {
        self.models.get(model)?.families.get(family)
    }

    /// The width / height of a named aspect ratio.
    pub fn ratio(&self, aspect: &str) -> Option<f64> {
        let [w, h] = self.sizes.aspect_ratios.get(aspect)?;
        Some(*w as f64 / *h as f64)
    }

    /// Units one image of a resolution class costs (1k when the family has none).
    pub fn per_image(&self, resolution: Option<&str>) -> f64 {
        let c = &self.costs.per_image;
        resolution
            .and_then(|r| c.get(r))
            .or_else(|| c.get("1k"))
            .copied()
            .unwrap_or(8.0)
    }
}

/// How many images a task makes when its body asks for a series (omni-image `result_type:
/// series`): the condition, where they are listed, the field counting them, and the range
/// `auto` may make.
#[derive(Clone, Debug, Deserialize)]
pub struct SeriesSpec {
    /// When the body asks for a series.
    #[serde(deserialize_with = "cond")]
    pub when: Cond,
    /// The key of `task_result` that lists them.
    pub results: String,
    /// The field counting them (`"auto"` or a number).
    pub count: String,
    /// How many `auto` may make.
    pub auto: [u32; 2],
    /// A body asking for a series (the media property sends it with each `series_amount` of the
    /// field's enum, against a mock: valid bodies drawn at random rarely make a series).
    pub example: Option<Value>,
}

/// Where a result's aspect ratio comes from.
#[derive(Clone, Debug, Deserialize)]
pub struct AspectSpec {
    /// The field naming it.
    pub field: String,
    /// Only when this holds (`None`: always).
    #[serde(default, deserialize_with = "opt_cond")]
    pub when: Option<Cond>,
    /// For `auto`: arrays of `{image}` items whose first harness-made PNG gives the ratio.
    #[serde(default)]
    pub auto_from: Vec<String>,
}

/// An expanded image: the input grown by ratios of its width and height.
#[derive(Clone, Debug, Deserialize)]
pub struct GrowSpec {
    /// The field holding the input image.
    pub image: String,
    /// The ratios that add to the width.
    pub width: Vec<String>,
    /// The ratios that add to the height.
    pub height: Vec<String>,
}

/// How an image family's results are checked (its `image_media` in `endpoints.json`).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ImageMedia {
    /// How many images: the field holding `n`, or a number (absent: at least one).
    pub count: Option<Value>,
    /// A series instead, when asked for.
    pub series: Option<SeriesSpec>,
    /// The requested aspect ratio.
    pub aspect: Option<AspectSpec>,
    /// The field holding the resolution class.
    pub resolution: Option<String>,
    /// The output is the input grown.
    pub grow: Option<GrowSpec>,
    /// The output has this input image's size.
    pub same_size_as: Option<String>,
}

fn cond<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Cond, D::Error> {
    parse_cond(&Value::deserialize(d)?).map_err(serde::de::Error::custom)
}

fn opt_cond<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Cond>, D::Error> {
    Option::<Value>::deserialize(d)?
        .map(|v| parse_cond(&v))
        .transpose()
        .map_err(serde::de::Error::custom)
}

/// The images a task of an image family must make.
#[derive(Clone, Debug, PartialEq)]
pub struct Expected {
    /// The key of `task_result` listing them.
    pub results: String,
    /// Fewest images.
    pub min: u32,
    /// Most images.
    pub max: u32,
    /// Their size.
    pub size: SizeWant,
}

fn scope<'a>(c: &'a Contract, f: &Family, body: &'a Value) -> Scope<'a> {
    static EMPTY: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);
    Scope {
        fields: &c.endpoint(&f.create).fields,
        obj: body.as_object().unwrap_or(&EMPTY),
    }
}

/// The size of the first harness-made (Base64 PNG) image in `value` (a string, or `{image}`
/// items).
fn png_size(value: Option<&Value>) -> Option<(u32, u32)> {
    match value? {
        Value::String(s) => crate::png::base64_dimensions(s),
        Value::Array(items) => items.iter().find_map(|i| {
            i.as_object()?
                .values()
                .find_map(|v| crate::png::base64_dimensions(v.as_str()?))
        }),
        _ => None,
    }
}

/// What a task of the image family `f` created with `body` must make.
pub fn expected(c: &Contract, f: &Family, body: &Value) -> Expected {
    let media = f.image_media.clone().unwrap_or_default();
    let s = scope(c, f, body);
    let sizes = &c.images.sizes;
    let number = |v: Option<Value>| v.as_ref().and_then(as_number).map(|n| n as u32);
    let (results, min, max) = match &media.series {
        Some(series) if s.holds(&series.when) => match s.effective(&series.count) {
            Some(Value::String(a)) if a == "auto" => {
                (series.results.clone(), series.auto[0], series.auto[1])
            }
            v => {
                let n = number(v).unwrap_or(1);
                (series.results.clone(), n, n)
            }
        },
        _ => {
            let n = match &media.count {
                Some(Value::String(field)) => number(s.effective(field)),
                Some(v) => number(Some(v.clone())),
                None => None,
            };
            (f.results.clone(), n.unwrap_or(1), n.unwrap_or(u32::MAX))
        }
    };
    let mut size = SizeWant::default();
    let mut what = Vec::new();
    if let Some(a) = &media.aspect
        && a.when.as_ref().is_none_or(|w| s.holds(w))
        && let Some(Value::String(name)) = s.effective(&a.field)
    {
        let ratio = if name == "auto" {
            a.auto_from
                .iter()
                .find_map(|k| png_size(body.get(k)))
                .map(|(w, h)| w as f64 / h as f64)
        } else {
            c.images.ratio(&name)
        };
        if let Some(r) = ratio {
            size.ratio = Some((r, sizes.aspect_tolerance));
            what.push(format!("aspect_ratio {name}"));
        }
    }
    if let Some(field) = &media.resolution
        && let Some(Value::String(class)) = s.effective(field)
        && let Some(area) = sizes.areas.get(&class)
    {
        size.area = Some((*area, sizes.area_tolerance));
        what.push(format!("resolution {class}"));
    }
    if let Some(g) = &media.grow
        && let Some((w, h)) = png_size(body.get(&g.image))
    {
        let sum = |fs: &[String]| {
            fs.iter()
                .filter_map(|k| s.effective(k).as_ref().and_then(as_number))
                .sum::<f64>()
        };
        let (ew, eh) = crate::image::grown(w, h, sum(&g.width), sum(&g.height));
        size.exact = Some((ew, eh, sizes.grow_tolerance_px));
        what.push(format!("a {w}x{h} input grown by the expansion ratios"));
    }
    if let Some(k) = &media.same_size_as
        && let Some((w, h)) = png_size(body.get(k))
    {
        size.exact = Some((w, h, 1));
        what.push(format!("the {w}x{h} {k}"));
    }
    size.what = what.join(", ");
    Expected {
        results,
        min,
        max,
        size,
    }
}

/// Units an image create costs: per image (by resolution class) times the most images it may
/// make.
pub fn cost(c: &Contract, f: &Family, body: &Value) -> f64 {
    let e = expected(c, f, body);
    let s = scope(c, f, body);
    let class = f
        .image_media
        .as_ref()
        .and_then(|m| m.resolution.as_ref())
        .and_then(|r| s.effective(r))
        .and_then(|v| v.as_str().map(str::to_string));
    let count = if e.max == u32::MAX {
        e.min
    } else if e.results != f.results && e.max > e.min {
        c.images.costs.auto_series_counts_as
    } else {
        e.max
    };
    c.images.per_image(class.as_deref()) * count as f64
}
