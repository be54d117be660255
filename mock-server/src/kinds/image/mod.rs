//! What the image families share (SOURCES.md: Image Generation, Omni-Image, Capability Map): the
//! eight aspect ratios, `resolution`, `n`, the size of a picture ([`picture_size`]), the result
//! `task_result.images` ([`Images`]) and the planning of its PNG / JPEG files ([`make_images`]).
//!
//! Not a kind: each family is its own file (`images_generations.rs`, `omni_image.rs`, ...), which
//! reads its fields with these helpers and [`super::video`]'s (`model_name`, `watermark`,
//! `element_list`, input images).
//!
//! **Picture sizes** (FIDELITY.md: image families; the documents give no pixel table): a `1k`
//! picture has the area of a 1024 × 1024 square, `2k` of 2048 × 2048 and `4k` of 4096 × 4096, in
//! the requested aspect ratio, both sides rounded to a multiple of 16 (`1k` 16:9 is 1360 × 768,
//! `1k` 1:1 is 1024 × 1024, `2k` 21:9 is 3120 × 1344). An `n`-image task holds `n` concurrency
//! slots (SOURCES.md: Rate Limits, "consumes n concurrency").

use super::Ctx;
use super::fields::Fields;
use super::video::inputs::Image;
use super::video::one_of;
use crate::auth::Account;
use crate::error::KlingError;
use crate::media::{Format, ImageFile, Label, MediaRef};
use crate::wire::format_secs;
use serde::Serialize;
use serde_json::{Value, json};

/// The aspect ratios of the image families, in the documents' order.
pub const ASPECT_RATIOS: [&str; 8] = ["16:9", "9:16", "1:1", "4:3", "3:4", "3:2", "2:3", "21:9"];

/// Most images one task makes (`n`, `series_amount`).
pub const MAX_IMAGES: u32 = 9;

/// `resolution`: the side of the square whose area a picture has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum Resolution {
    /// `1k`: about 1 megapixel.
    K1,
    /// `2k`: about 4 megapixels.
    K2,
    /// `4k`: about 16 megapixels.
    K4,
}

impl Resolution {
    /// Its name in requests (`1k`).
    pub const fn name(self) -> &'static str {
        match self {
            Resolution::K1 => "1k",
            Resolution::K2 => "2k",
            Resolution::K4 => "4k",
        }
    }

    /// The side of the square of the same area, px.
    pub const fn side(self) -> u32 {
        match self {
            Resolution::K1 => 1024,
            Resolution::K2 => 2048,
            Resolution::K4 => 4096,
        }
    }

    /// How many times a `1k` picture's price a picture of this resolution costs (INFERRED:
    /// FIDELITY.md, image costs).
    pub const fn price_factor(self) -> f64 {
        match self {
            Resolution::K1 => 1.0,
            Resolution::K2 => 2.0,
            Resolution::K4 => 4.0,
        }
    }
}

/// `model_name` of an image family: one of `allowed`, `default` when absent (the older `model`
/// field is ignored, as the video families do).
pub fn model_name(
    f: &Fields<'_>,
    allowed: &[&'static str],
    default: &'static str,
) -> Result<&'static str, KlingError> {
    match f.opt_str("model_name")? {
        None => Ok(default),
        Some(v) => allowed.iter().copied().find(|a| *a == v).ok_or_else(|| {
            KlingError::param(format!(
                "model is not supported: model_name '{v}'; allowed values: {}",
                allowed.join(", ")
            ))
        }),
    }
}

/// `resolution`: one of `allowed` (`1k`, `2k`, `4k`), `1k` when absent.
pub fn resolution(f: &Fields<'_>, allowed: &[&'static str]) -> Result<Resolution, KlingError> {
    Ok(match one_of(f, "resolution", allowed, Some("1k"))? {
        Some("2k") => Resolution::K2,
        Some("4k") => Resolution::K4,
        _ => Resolution::K1,
    })
}

/// `aspect_ratio`: one of the eight (and `auto` when `auto` is allowed); `default` when absent.
/// `None`: `auto` (the picture takes the shape of an input, or 1:1).
pub fn aspect_ratio(
    f: &Fields<'_>,
    default: &'static str,
    auto: bool,
) -> Result<Option<(u32, u32)>, KlingError> {
    let mut allowed: Vec<&'static str> = ASPECT_RATIOS.to_vec();
    if auto {
        allowed.push("auto");
    }
    let r = one_of(f, "aspect_ratio", &allowed, Some(default))?.unwrap_or(default);
    Ok(parse_ratio(r))
}

/// `16:9` → (16, 9); `auto` → `None`.
pub fn parse_ratio(r: &str) -> Option<(u32, u32)> {
    let (w, h) = r.split_once(':')?;
    Some((w.parse().ok()?, h.parse().ok()?))
}

/// `n`: an integer in [1, 9], default 1 (a whole-number float too; a string is refused, as
/// every number field's is).
pub fn n(f: &Fields<'_>) -> Result<u32, KlingError> {
    count(f, "n", 1)
}

/// An integer count field in [1, 9] (`n`), `default` when absent.
pub fn count(f: &Fields<'_>, name: &str, default: u32) -> Result<u32, KlingError> {
    let v = match f.raw_value(name) {
        None => return Ok(default),
        Some(Value::Number(n)) => n.as_f64(),
        Some(other) => {
            return Err(KlingError::param(format!(
                "{name} must be an integer, got {}",
                super::fields::json_kind(other)
            )));
        }
    };
    match v {
        Some(x) if x.fract() == 0.0 && (1.0..=f64::from(MAX_IMAGES)).contains(&x) => Ok(x as u32),
        _ => Err(KlingError::param(format!(
            "{name} must be an integer between 1 and {MAX_IMAGES}, got {}",
            f.raw_value(name).map(Value::to_string).unwrap_or_default()
        ))),
    }
}

/// A number field in [0, 1] (`image_fidelity`, `human_fidelity`), if present.
pub fn unit_interval(f: &Fields<'_>, name: &str) -> Result<Option<f64>, KlingError> {
    match f.opt_number(name)? {
        Some(v) if !(0.0..=1.0).contains(&v) => Err(KlingError::param(format!(
            "{name} must be between 0 and 1, got {v}"
        ))),
        v => Ok(v),
    }
}

/// Width and height of a picture of `res` in the aspect ratio `(rw, rh)`: the area of the
/// resolution's square, both sides multiples of 16.
pub fn picture_size(res: Resolution, (rw, rh): (u32, u32)) -> (u32, u32) {
    let area = f64::from(res.side()).powi(2);
    let ratio = f64::from(rw.max(1)) / f64::from(rh.max(1));
    let w = (area * ratio).sqrt();
    let h = w / ratio;
    (round16(w), round16(h))
}

/// A picture of `res` in the shape of an input of `w × h` (aspect ratio `auto`).
pub fn picture_size_like(res: Resolution, w: u32, h: u32) -> (u32, u32) {
    picture_size(res, (w.max(1), h.max(1)))
}

fn round16(v: f64) -> u32 {
    ((v / 16.0).round() as u32).clamp(1, crate::media::image::MAX_SIDE / 16) * 16
}

/// What an image task makes: `n` pictures of one size.
#[derive(Clone, Debug, PartialEq)]
pub struct Pictures {
    /// Width, height, px.
    pub size: (u32, u32),
    /// How many.
    pub n: u32,
    /// Watermarked copies too (`watermark_info.enabled`).
    pub watermark: bool,
    /// Drawn at the top: model, resolution, aspect ratio.
    pub label: String,
    /// PNG or JPEG.
    pub format: Format,
}

/// One image of `task_result.images` (or `series_images`).
#[derive(Clone, Copy, Debug, Serialize, serde::Deserialize)]
pub struct ImageOut {
    /// `index`, from 0.
    pub index: u32,
    /// The file behind `url`.
    pub file: MediaRef,
    /// The file behind `watermark_url`.
    pub marked: Option<MediaRef>,
}

/// The result of every image family: `task_result.images` (and omni-image's `result_type` and
/// `series_images`), with what every status shows (`watermark_info`), the cost and the slots.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct Images {
    /// `images`.
    pub images: Vec<ImageOut>,
    /// `series_images` (omni-image), shown when `Some`.
    pub series: Option<Vec<ImageOut>>,
    /// `result_type` (omni-image), shown when `Some`.
    pub result_type: Option<Box<str>>,
    /// `watermark_info.enabled`, for families that take `watermark_info` (`None`: not shown).
    pub watermark: Option<bool>,
    /// `final_unit_deduction` once succeeded.
    pub deduction: Box<str>,
    /// Concurrency slots held in flight.
    pub slots: u32,
}

#[derive(Serialize)]
struct WireImage {
    index: u32,
    url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    watermark_url: Option<String>,
}

#[derive(Serialize)]
struct WireImages {
    #[serde(skip_serializing_if = "Option::is_none")]
    result_type: Option<String>,
    images: Vec<WireImage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    series_images: Option<Vec<WireImage>>,
}

fn wire_list(list: &[ImageOut], base: &str) -> Vec<WireImage> {
    list.iter()
        .map(|i| WireImage {
            index: i.index,
            url: i.file.url(base),
            watermark_url: i.marked.map(|m| m.url(base)),
        })
        .collect()
}

impl super::KindResult for Images {
    fn wire<'a>(&'a self, base: &'a str) -> Box<dyn erased_serde::Serialize + 'a> {
        Box::new(WireImages {
            result_type: self.result_type.as_deref().map(str::to_owned),
            images: wire_list(&self.images, base),
            series_images: self.series.as_deref().map(|s| wire_list(s, base)),
        })
    }

    fn extra(&self) -> Vec<(&'static str, Value)> {
        match self.watermark {
            Some(w) => vec![("watermark_info", json!({"enabled": w}))],
            None => Vec::new(),
        }
    }

    fn deduction(&self) -> Option<&str> {
        Some(&self.deduction)
    }

    fn slots(&self) -> u32 {
        self.slots
    }
}

/// Register the `pics.n` files of one task (and their watermarked copies), indexes from 0. Each
/// picture's colours come from its own token (the seeded random source), so the `n` images of a
/// task differ and a seeded mock makes the same bytes again.
pub fn make_images(s: &Ctx<'_>, task_id: u64, now: i64, pics: &Pictures) -> Vec<ImageOut> {
    (0..pics.n)
        .map(|index| {
            let token = s.entropy.token();
            let seed = u64::from_le_bytes(token[..8].try_into().unwrap_or_default());
            let file = |watermark| ImageFile {
                task_id,
                index,
                n: pics.n,
                width: pics.size.0,
                height: pics.size.1,
                seed,
                watermark,
                label: Label::new(&pics.label),
                format: pics.format,
                born: Some(now),
            };
            let main = s.media.add_image(token, file(false));
            let marked = pics
                .watermark
                .then(|| s.media.add_image(s.entropy.token(), file(true)));
            ImageOut {
                index,
                file: main,
                marked,
            }
        })
        .collect()
}

/// How a task's picture size follows its first input image once that image's size is known
/// (a Base64 image at parse, one of the mock's own at create, a download with `--fetch-inputs`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Shape {
    /// The size is the request's (resolution and aspect ratio): inputs do not change it.
    Fixed,
    /// `aspect_ratio: auto`: the input's shape at this resolution.
    Like(Resolution),
    /// The input grown by these fractions of its height (up, down) and width (left, right):
    /// image expansion.
    Grow {
        /// `up_expansion_ratio`.
        up: f64,
        /// `down_expansion_ratio`.
        down: f64,
        /// `left_expansion_ratio`.
        left: f64,
        /// `right_expansion_ratio`.
        right: f64,
    },
    /// The input's own size (virtual try-on: the person image's).
    Same,
}

impl Shape {
    /// The picture size for a first input of `w × h`, or `None` when it does not follow inputs.
    pub fn size_for(self, (w, h): (u32, u32)) -> Option<(u32, u32)> {
        let max = f64::from(crate::media::image::MAX_SIDE);
        let min = f64::from(crate::media::image::MIN_SIDE);
        let fit = |w: f64, h: f64| {
            // Within the image files' limits, keeping the shape (FIDELITY.md: image sizes).
            let k = (max / w.max(h)).min(1.0);
            let (w, h) = (w * k, h * k);
            ((w.round().max(min)) as u32, (h.round().max(min)) as u32)
        };
        match self {
            Shape::Fixed => None,
            Shape::Like(res) => Some(picture_size_like(res, w, h)),
            Shape::Grow {
                up,
                down,
                left,
                right,
            } => Some(fit(
                f64::from(w) * (1.0 + left + right),
                f64::from(h) * (1.0 + up + down),
            )),
            Shape::Same => Some(fit(f64::from(w), f64::from(h))),
        }
    }
}

/// How a family's result shows its pictures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// `task_result.images`; `watermark_info` shown when the family takes it.
    Images {
        /// The family takes `watermark_info` (and every status shows it).
        watermark_info: bool,
    },
    /// Omni-image: `result_type` with `images` (single) or `series_images` (series).
    Omni {
        /// `result_type: series`.
        series: bool,
    },
}

/// A validated create request of an image family: its input images (named by field), what it
/// makes, the cost, the elements it refers to. Each family's file builds one with its own rules;
/// this is the [`super::Job`] they share.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageJob {
    /// Input images by field name (`image`, `image_list[0].image`); the first decides the shape
    /// when [`ImageJob::shape`] follows inputs.
    pub inputs: Vec<(String, Image)>,
    /// What the task makes.
    pub pics: Pictures,
    /// How the size follows the first input.
    pub shape: Shape,
    /// How the result shows the pictures.
    pub layout: Layout,
    /// `element_list[].element_id`.
    pub elements: Vec<u64>,
    /// Units a picture costs (the task costs `n` times it).
    pub unit_price: f64,
    /// Concurrency slots held in flight: `n` (one per picture, as documented for `n`).
    pub slots: u32,
    /// Why the task will fail (an input picture's size or shape, a missing file).
    pub failure: Option<String>,
    /// `external_task_id`, `callback_url`.
    pub common: super::fields::Common,
}

impl ImageJob {
    /// A job making `pics` from `inputs`: the size follows the first input if its size is
    /// known already (Base64), and an input the size rules refuse makes the task fail.
    pub fn new(
        inputs: Vec<(String, Image)>,
        pics: Pictures,
        shape: Shape,
        layout: Layout,
        unit_price: f64,
        common: super::fields::Common,
    ) -> ImageJob {
        let mut job = ImageJob {
            failure: inputs.iter().find_map(|(_, i)| i.failure()),
            slots: pics.n,
            inputs,
            pics,
            shape,
            layout,
            elements: Vec::new(),
            unit_price,
            common,
        };
        job.follow_input();
        job
    }

    /// `final_unit_deduction`: the unit price times the pictures.
    pub fn units(&self) -> f64 {
        self.unit_price * f64::from(self.pics.n)
    }

    fn follow_input(&mut self) {
        if let Some(size) = self
            .inputs
            .first()
            .and_then(|(_, i)| i.size())
            .and_then(|s| self.shape.size_for(s))
        {
            self.pics.size = size;
        }
    }
}

impl super::Job for ImageJob {
    fn common(&self) -> &super::fields::Common {
        &self.common
    }
    fn resolve(&mut self, s: &Ctx<'_>, account: &Account) -> Result<(), KlingError> {
        super::elements::check_element_list(s, account, &self.elements)?;
        if let Some(f) = super::video::inputs::own_files_check(s, &mut self.inputs)? {
            self.failure.get_or_insert(f);
        }
        self.follow_input();
        Ok(())
    }
    fn remote_images(&self) -> Vec<(String, String)> {
        super::video::inputs::remote(self.inputs.iter().map(|(n, i)| (n.clone(), i)))
    }
    fn measured(&mut self, field: &str, result: Result<(u32, u32), String>) {
        if let Some(f) = super::video::inputs::take_download_of(&mut self.inputs, field, result) {
            self.failure.get_or_insert(f);
        }
        self.follow_input();
    }
    fn cost(&self) -> Option<f64> {
        Some(self.units())
    }
    fn slots(&self) -> u32 {
        self.slots
    }
    fn plan(&self, s: &Ctx<'_>, _account: &Account, task_id: u64, now: i64) -> crate::engine::Plan {
        let made = make_images(s, task_id, now, &self.pics);
        let (images, series, result_type, watermark) = match self.layout {
            Layout::Images { watermark_info } => (
                made,
                None,
                None,
                watermark_info.then_some(self.pics.watermark),
            ),
            Layout::Omni { series: false } => (
                made,
                Some(Vec::new()),
                Some("single".into()),
                Some(self.pics.watermark),
            ),
            Layout::Omni { series: true } => (
                Vec::new(),
                Some(made),
                Some("series".into()),
                Some(self.pics.watermark),
            ),
        };
        crate::engine::Plan {
            result: super::TaskResult::new(Images {
                images,
                series,
                result_type,
                watermark,
                deduction: format_secs(self.units()).into(),
                slots: self.slots,
            }),
            failure: self.failure.clone(),
        }
    }
}

/// Refuse more than `max` images and elements together ("images + elements ≤ 10").
pub fn check_references(
    field: &str,
    images: usize,
    elements: usize,
    max: usize,
) -> Result<(), KlingError> {
    if images + elements > max {
        return Err(KlingError::param(format!(
            "{field} and element_list must have at most {max} items together, got {images} images and {elements} elements"
        )));
    }
    Ok(())
}

/// The OpenAPI schemas every image family shares.
pub fn shared_schemas() -> Vec<(&'static str, Value)> {
    let mut v = super::video::shared_schemas();
    v.retain(|(n, _)| *n == "WatermarkInfo");
    v.push((
        "GeneratedImage",
        json!({
            "type": "object",
            "required": ["index", "url"],
            "properties": {
                "index": {"type": "integer", "minimum": 0},
                "url": {"type": "string", "format": "uri", "description": "A PNG (JPEG for virtual try-on) of the size the resolution and aspect ratio give."},
                "watermark_url": {"type": "string", "format": "uri", "description": "The same picture, watermarked; only when watermark_info.enabled was true."},
            },
        }),
    ));
    v
}

/// An image task's schema (`task_result.images`, `watermark_info`).
pub fn image_task() -> Value {
    use super::doc::*;
    let mut t = task_of("GeneratedImage", "images");
    t["properties"]["watermark_info"] = schema_ref("WatermarkInfo");
    t
}

/// The `aspect_ratio` schema of a family (`auto` too when `auto`).
pub fn ratio_schema(default: &str, auto: bool) -> Value {
    let mut e: Vec<&str> = ASPECT_RATIOS.to_vec();
    if auto {
        e.push("auto");
    }
    json!({"type": "string", "enum": e, "default": default})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picture_sizes_keep_the_area_and_the_ratio() {
        assert_eq!(picture_size(Resolution::K1, (1, 1)), (1024, 1024));
        assert_eq!(picture_size(Resolution::K1, (16, 9)), (1360, 768));
        assert_eq!(picture_size(Resolution::K1, (9, 16)), (768, 1360));
        assert_eq!(picture_size(Resolution::K2, (1, 1)), (2048, 2048));
        assert_eq!(picture_size(Resolution::K4, (1, 1)), (4096, 4096));
        for res in [Resolution::K1, Resolution::K2, Resolution::K4] {
            for r in ASPECT_RATIOS {
                let (rw, rh) = parse_ratio(r).unwrap();
                let (w, h) = picture_size(res, (rw, rh));
                assert!(w % 16 == 0 && h % 16 == 0, "{r}: {w}x{h}");
                let area = f64::from(w) * f64::from(h) / f64::from(res.side()).powi(2);
                assert!((0.97..1.03).contains(&area), "{r} {res:?}: area x{area}");
                let got = f64::from(w) / f64::from(h);
                let want = f64::from(rw) / f64::from(rh);
                assert!((got / want - 1.0).abs() < 0.02, "{r}: {w}x{h}");
                assert!(w <= crate::media::image::MAX_SIDE && h <= crate::media::image::MAX_SIDE);
            }
        }
    }

    #[test]
    fn counts_are_whole_numbers_from_one_to_nine() {
        let ok = |v: Value| {
            let o = json!({ "n": v });
            n(&Fields::new(o.as_object().unwrap()))
        };
        assert_eq!(ok(json!(3)).unwrap(), 3);
        assert_eq!(ok(json!(9)).unwrap(), 9);
        assert_eq!(ok(json!(2.0)).unwrap(), 2);
        for bad in [json!(0), json!(10), json!(1.5), json!(-1)] {
            let e = ok(bad.clone()).unwrap_err();
            assert!(
                e.message
                    .starts_with("n must be an integer between 1 and 9"),
                "{bad}: {}",
                e.message
            );
        }
        assert!(
            ok(json!(true))
                .unwrap_err()
                .message
                .contains("got a boolean")
        );
        assert!(ok(json!("3")).unwrap_err().message.contains("got a string"));
    }
}
