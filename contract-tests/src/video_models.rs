//! The video models as the documents describe them, read from `fixtures/video-models.json`
//! (kling-mock reads the same file): the capability map (which modes, durations and features a
//! model allows in each video family), the output specs (frame size and frame rate by model and
//! mode) and the unit cost table. Each row names its source; INFERRED rows say so.

use crate::rules::{Cond, parse_cond};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use std::collections::BTreeMap;

/// What a model outputs.
#[derive(Clone, Debug, Deserialize)]
pub struct Output {
    /// Frame size name (`720p`, `1080p`) in `std` mode.
    pub std: String,
    /// Frame size name in `pro` mode.
    pub pro: String,
    /// Frames per second.
    pub fps: f64,
}

impl Output {
    /// The frame size name of a mode.
    pub fn quality(&self, mode: &str) -> &str {
        if mode == "pro" { &self.pro } else { &self.std }
    }
}

/// What a model costs.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Cost {
    /// Units per second of output, by mode (sound off).
    #[serde(default)]
    pub per_second: BTreeMap<String, f64>,
    /// Units per second with `sound: on`, by mode.
    pub per_second_sound: Option<BTreeMap<String, f64>>,
    /// Factor when a reference video is given.
    pub video_input_factor: Option<f64>,
    /// A flat price per task.
    pub units: Option<f64>,
}

/// Whether a feature is allowed.
#[derive(Clone, Debug)]
pub enum Feature {
    /// Allowed (`true`) or refused (`false`) in every mode and duration.
    Always(bool),
    /// Allowed only in these modes / durations, and only when `when` holds.
    Limited {
        /// Modes (all when `None`).
        modes: Option<Vec<String>>,
        /// Durations (all when `None`).
        durations: Option<Vec<String>>,
        /// A further condition on the body.
        when: Option<Cond>,
    },
}

impl<'de> Deserialize<'de> for Feature {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Feature, D::Error> {
        let v = Value::deserialize(d)?;
        match &v {
            Value::Bool(b) => Ok(Feature::Always(*b)),
            Value::Object(o) => {
                let list = |k: &str| -> Result<Option<Vec<String>>, D::Error> {
                    o.get(k)
                        .map(|x| {
                            serde_json::from_value(x.clone()).map_err(serde::de::Error::custom)
                        })
                        .transpose()
                };
                Ok(Feature::Limited {
                    modes: list("modes")?,
                    durations: list("durations")?,
                    when: o
                        .get("when")
                        .map(parse_cond)
                        .transpose()
                        .map_err(serde::de::Error::custom)?,
                })
            }
            _ => Err(serde::de::Error::custom(format!("a feature: {v}"))),
        }
    }
}

/// Durations allowed when a condition holds.
#[derive(Clone, Debug, Deserialize)]
pub struct DurationsWhen {
    /// The condition.
    #[serde(deserialize_with = "cond")]
    pub when: Cond,
    /// The durations then.
    pub durations: Vec<String>,
}

fn cond<'de, D: Deserializer<'de>>(d: D) -> Result<Cond, D::Error> {
    parse_cond(&Value::deserialize(d)?).map_err(serde::de::Error::custom)
}

/// What a model may do in one family.
#[derive(Clone, Debug, Deserialize)]
pub struct Capability {
    /// Modes accepted.
    pub modes: Vec<String>,
    /// Durations accepted (not constrained when `None`).
    pub durations: Option<Vec<String>>,
    /// Narrower durations when a condition holds (the first that holds wins).
    #[serde(default)]
    pub durations_when: Vec<DurationsWhen>,
    /// The family's features (named by the endpoint's `features`).
    #[serde(default)]
    pub features: BTreeMap<String, Feature>,
    /// Output, when it differs from the model's.
    pub output: Option<Output>,
    /// Cost, when it differs from the model's.
    pub cost: Option<Cost>,
}

/// One model.
#[derive(Clone, Debug, Deserialize)]
pub struct VideoModel {
    /// Output spec.
    pub output: Output,
    /// Costs.
    #[serde(default)]
    pub cost: Cost,
    /// Capabilities by family.
    pub families: BTreeMap<String, Capability>,
}

/// Family-wide settings (families without a model choice).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct FamilyVideo {
    /// A flat cost.
    pub cost: Option<Cost>,
    /// Seconds billed when the body sets no duration (an upper bound).
    pub billed_seconds: Option<f64>,
    /// The output follows the source video (video-extend).
    #[serde(default)]
    pub output_from_source: bool,
}

/// The whole file.
#[derive(Clone, Debug, Deserialize)]
pub struct VideoModels {
    /// Frame sizes by name and aspect ratio (`"720p" → "16:9" → [1280, 720]`).
    pub frame_sizes: BTreeMap<String, Value>,
    /// Models by name.
    pub models: BTreeMap<String, VideoModel>,
    /// Family-wide settings.
    #[serde(default)]
    pub families: BTreeMap<String, FamilyVideo>,
}

/// What a create is billed on.
#[derive(Clone, Debug, Default)]
pub struct Billed<'a> {
    /// The family (its key in the file).
    pub family: &'a str,
    /// The model, if the family has a choice.
    pub model: Option<&'a str>,
    /// The mode.
    pub mode: Option<&'a str>,
    /// Seconds of output, if the body says.
    pub seconds: Option<f64>,
    /// `sound: on`.
    pub sound: bool,
    /// A reference video was given.
    pub video_input: bool,
}

impl VideoModels {
    /// Read the file's text.
    pub fn parse(text: &str) -> Result<VideoModels, String> {
        serde_json::from_str(text).map_err(|e| format!("video-models.json: {e}"))
    }

    /// What `model` may do in `family`.
    pub fn capability(&self, family: &str, model: &str) -> Option<&Capability> {
        self.models.get(model)?.families.get(family)
    }

    /// The models that have `family`.
    pub fn models_of(&self, family: &str) -> Vec<&str> {
        self.models
            .iter()
            .filter(|(_, m)| m.families.contains_key(family))
            .map(|(n, _)| n.as_str())
            .collect()
    }

    /// Output spec of `model` in `family`.
    pub fn output(&self, family: &str, model: &str) -> Option<&Output> {
        let m = self.models.get(model)?;
        Some(
            m.families
                .get(family)
                .and_then(|c| c.output.as_ref())
                .unwrap_or(&m.output),
        )
    }

    /// The frame size of a size name and aspect ratio.
    pub fn frame_size(&self, quality: &str, aspect: &str) -> Option<(u32, u32)> {
        let wh = self.frame_sizes.get(quality)?.get(aspect)?.as_array()?;
        Some((wh.first()?.as_u64()? as u32, wh.get(1)?.as_u64()? as u32))
    }

    /// Units a create costs, from the cost table (`None`: the table has no row for it).
    pub fn cost_units(&self, b: &Billed<'_>) -> Option<f64> {
        let fam = self.families.get(b.family);
        if let Some(units) = fam.and_then(|f| f.cost.as_ref()).and_then(|c| c.units) {
            return Some(units);
        }
        let model = self.models.get(b.model?)?;
        let cost = model
            .families
            .get(b.family)
            .and_then(|c| c.cost.as_ref())
            .unwrap_or(&model.cost);
        let mode = b.mode.unwrap_or("std");
        let rate = match (&cost.per_second_sound, b.sound) {
            (Some(sound), true) => sound.get(mode),
            _ => cost.per_second.get(mode),
        }?;
        let seconds = b.seconds.or(fam.and_then(|f| f.billed_seconds))?;
        let factor = if b.video_input {
            cost.video_input_factor.unwrap_or(1.0)
        } else {
            1.0
        };
        Some(rate * seconds * factor)
    }
}
