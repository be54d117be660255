//! The video models and the capability map (SOURCES.md: Capability Map; kling-api §6): which
//! model serves which family, in which modes and durations, with which options, and what it
//! outputs (frame height by mode, frame rate). The mock's own table, written from the
//! documents; the contract oracle has its own (`fixtures/contract/`).

/// A video family, as far as the capability map distinguishes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// `text2video`.
    Text,
    /// `image2video`.
    Image,
    /// `multi-image2video`.
    MultiImage,
    /// `motion-control`.
    Motion,
    /// `omni-video`.
    Omni,
    /// `video-extend` (the source video's model).
    Extend,
}

/// Which durations a model accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durations {
    /// `5` or `10` seconds.
    FiveOrTen,
    /// Whole seconds from `.0` to `.1`.
    Range(u32, u32),
}

impl Durations {
    /// Whether `secs` is allowed.
    pub fn allows(self, secs: u32) -> bool {
        match self {
            Durations::FiveOrTen => secs == 5 || secs == 10,
            Durations::Range(a, b) => (a..=b).contains(&secs),
        }
    }

    /// The allowed values, for messages ("5, 10" or "3 to 15").
    pub fn describe(self) -> String {
        match self {
            Durations::FiveOrTen => "5, 10".into(),
            Durations::Range(a, b) => format!("{a} to {b}"),
        }
    }
}

/// When an option is available, by mode and duration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    /// Never.
    No,
    /// Any mode and duration.
    Any,
    /// `pro` mode only.
    Pro,
    /// 5-second videos only, any mode.
    Five,
    /// `std` mode, 5 s only.
    Std5,
    /// `pro` mode, 5 s only.
    Pro5,
}

impl When {
    /// Whether the option is available for `pro` (else std) and `secs`.
    pub fn allows(self, pro: bool, secs: u32) -> bool {
        match self {
            When::No => false,
            When::Any => true,
            When::Pro => pro,
            When::Five => secs == 5,
            When::Std5 => !pro && secs == 5,
            When::Pro5 => pro && secs == 5,
        }
    }

    /// Where the option is available, in words ("in pro mode").
    pub fn describe(self) -> &'static str {
        match self {
            When::No => "never",
            When::Any => "always",
            When::Pro => "in pro mode only",
            When::Five => "for 5 s videos only",
            When::Std5 => "in std mode for 5 s videos only",
            When::Pro5 => "in pro mode for 5 s videos only",
        }
    }
}

/// One model's row of the capability map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Model {
    /// `model_name`.
    pub name: &'static str,
    /// Text to video.
    pub text: bool,
    /// Image to video (first frame).
    pub image: bool,
    /// Durations of text/image to video.
    pub durations: Durations,
    /// Whether `mode` decides anything (the master models have one quality).
    pub has_mode: bool,
    /// `camera_control` on text2video.
    pub camera_text: When,
    /// `camera_control` on image2video (type `simple` only where the map says "simple camera").
    pub camera_image: When,
    /// An end frame (`image_tail`).
    pub end_frame: When,
    /// Motion brush (`static_mask`, `dynamic_masks`).
    pub motion_brush: When,
    /// `sound: on`.
    pub sound: When,
    /// `voice_list` (voice control).
    pub voices: When,
    /// `element_list` on image2video.
    pub elements: bool,
    /// `multi_shot: true`.
    pub multi_shot: bool,
    /// A video of it can be extended (`video-extend`).
    pub extendable: bool,
    /// Frame height (the short side) in std and in pro mode.
    pub height: (u32, u32),
    /// Frame rate of text to video and of image to video.
    pub fps: (u32, u32),
}

const BASE: Model = Model {
    name: "",
    text: true,
    image: true,
    durations: Durations::FiveOrTen,
    has_mode: true,
    camera_text: When::No,
    camera_image: When::No,
    end_frame: When::No,
    motion_brush: When::No,
    sound: When::No,
    voices: When::No,
    elements: false,
    multi_shot: false,
    extendable: false,
    height: (720, 1080),
    fps: (24, 24),
};

/// Every video model of the legacy design (SOURCES.md: Capability Map). Where the map is silent
/// on an output spec the value is marked INFERRED in FIDELITY.md (std 720p, pro 1080p, 24 fps).
pub static MODELS: &[Model] = &[
    Model {
        name: "kling-v1",
        camera_text: When::Std5,
        end_frame: When::Five,
        motion_brush: When::Five,
        extendable: true,
        height: (720, 720),
        fps: (30, 30),
        ..BASE
    },
    Model {
        name: "kling-v1-5",
        text: false,
        camera_image: When::Pro5,
        end_frame: When::Pro,
        motion_brush: When::Pro5,
        extendable: true,
        fps: (30, 30),
        ..BASE
    },
    Model {
        name: "kling-v1-6",
        end_frame: When::Pro,
        extendable: true,
        fps: (24, 30),
        ..BASE
    },
    Model {
        name: "kling-v2-master",
        has_mode: false,
        height: (720, 720),
        ..BASE
    },
    Model {
        name: "kling-v2-1",
        text: false,
        end_frame: When::Pro,
        ..BASE
    },
    Model {
        name: "kling-v2-1-master",
        has_mode: false,
        height: (1080, 1080),
        ..BASE
    },
    Model {
        name: "kling-v2-5-turbo",
        end_frame: When::Pro,
        ..BASE
    },
    Model {
        name: "kling-v2-6",
        end_frame: When::Pro,
        sound: When::Pro,
        voices: When::Pro,
        ..BASE
    },
    Model {
        name: "kling-v3",
        durations: Durations::Range(3, 15),
        end_frame: When::Any,
        sound: When::Any,
        elements: true,
        multi_shot: true,
        ..BASE
    },
    Model {
        name: "kling-video-o1",
        durations: Durations::Range(3, 10),
        end_frame: When::Any,
        sound: When::Any,
        elements: true,
        ..BASE
    },
    Model {
        name: "kling-v3-omni",
        durations: Durations::Range(3, 15),
        end_frame: When::Any,
        sound: When::Any,
        elements: true,
        multi_shot: true,
        ..BASE
    },
];

/// The model named `name`, if the mock knows it.
pub fn model(name: &str) -> Option<&'static Model> {
    MODELS.iter().find(|m| m.name == name)
}

impl Model {
    /// Frame height for `pro` (else std).
    pub fn height(&self, pro: bool) -> u32 {
        if pro { self.height.1 } else { self.height.0 }
    }

    /// `mode` as it applies to this model: the master models have one quality (reported as pro
    /// when their height is 1080p, std otherwise).
    pub fn effective_pro(&self, pro: bool) -> bool {
        if self.has_mode {
            pro
        } else {
            self.height.0 >= 1080
        }
    }
}

/// Frame size for a frame `height` (the short side) and an aspect ratio `w:h`: the short side is
/// `height`, the long one follows the ratio, rounded to an even number (H.264 4:2:0 needs even
/// sides). 16:9 at 720 → 1280×720; 9:16 → 720×1280; 1:1 → 720×720.
pub fn frame_size(height: u32, ratio: (u32, u32)) -> (u32, u32) {
    let (w, h) = ratio;
    let even = |x: f64| ((x / 2.0).round() as u32 * 2).max(2);
    if w >= h {
        (even(height as f64 * w as f64 / h as f64), height)
    } else {
        (height, even(height as f64 * h as f64 / w as f64))
    }
}

/// Frame size for a short side `height` and a picture of `w × h` pixels (image to video: the
/// output follows the input image's shape).
pub fn frame_size_like(height: u32, w: u32, h: u32) -> (u32, u32) {
    frame_size(height, (w.max(1), h.max(1)))
}

/// Units a video costs (`final_unit_deduction`), from a rate in units per second of output by
/// model, mode, sound and family (FIDELITY.md: video costs). The sources: Kling's "Prepaid
/// Resource Packs" page as transcribed in public code (kling-v1 std 5 s = 1 unit, pro 3.5;
/// kling-v1-5 / v1-6 / v2-1 std 2, pro 3.5; the master models 10; kling-v2-5-turbo and
/// kling-v2-6 std 1.5, pro 2.5; 10 s twice 5 s), kling.ai/dev/pricing for kling-v3 (0.6 / 0.8
/// units a second), and, INFERRED, third-party price lists for sound, the omni models and motion
/// control. A reference video makes an omni video cost half as much again.
pub fn units(
    model: &Model,
    family: Family,
    pro: bool,
    secs: u32,
    sound: bool,
    video_input: bool,
) -> f64 {
    let pro = model.effective_pro(pro);
    let pick = |std: f64, p: f64| if pro { p } else { std };
    let per_sec = match (model.name, family) {
        ("kling-v2-6", Family::Motion) => pick(0.5, 0.8),
        ("kling-v3", Family::Motion) => pick(0.9, 1.2),
        ("kling-v1", _) => pick(0.2, 0.7),
        ("kling-v2-master" | "kling-v2-1-master", _) => 2.0,
        ("kling-v2-5-turbo", _) => pick(0.3, 0.5),
        ("kling-v2-6", _) if sound => pick(0.3, 1.0),
        ("kling-v2-6", _) => pick(0.3, 0.5),
        ("kling-v3", _) if sound => pick(0.9, 1.2),
        ("kling-v3", _) => pick(0.6, 0.8),
        ("kling-video-o1" | "kling-v3-omni", _) if sound => pick(0.8, 1.0),
        ("kling-video-o1" | "kling-v3-omni", _) => pick(0.6, 0.8),
        // kling-v1-5, kling-v1-6, kling-v2-1.
        _ => pick(0.4, 0.7),
    };
    let factor = if video_input { 1.5 } else { 1.0 };
    // Two decimals, as the packs show balances.
    (per_sec * secs as f64 * factor * 100.0).round() / 100.0
}

/// What a video extension costs, whatever its source (INFERRED: ComfyUI's price of a video
/// extension, $0.28, at $0.14 a unit).
pub const EXTENSION_UNITS: f64 = 2.0;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_sizes_follow_height_and_ratio() {
        assert_eq!(frame_size(720, (16, 9)), (1280, 720));
        assert_eq!(frame_size(1080, (16, 9)), (1920, 1080));
        assert_eq!(frame_size(720, (9, 16)), (720, 1280));
        assert_eq!(frame_size(1080, (1, 1)), (1080, 1080));
        assert_eq!(frame_size_like(720, 1000, 2500), (720, 1800));
        assert_eq!(frame_size_like(720, 301, 300), (722, 720));
    }

    #[test]
    fn the_capability_map_has_every_model_once() {
        let mut names: Vec<_> = MODELS.iter().map(|m| m.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), MODELS.len());
        assert!(!model("kling-v1-5").unwrap().text);
        assert!(model("kling-v1").unwrap().camera_text.allows(false, 5));
        assert!(!model("kling-v1").unwrap().camera_text.allows(true, 5));
        assert_eq!(model("kling-v1-6").unwrap().fps, (24, 30));
    }

    #[test]
    fn costs_scale_with_duration_and_sound() {
        let v26 = model("kling-v2-6").unwrap();
        assert_eq!(units(v26, Family::Text, true, 5, false, false), 2.5);
        assert_eq!(units(v26, Family::Text, true, 10, true, false), 10.0);
        assert_eq!(units(v26, Family::Motion, true, 5, false, false), 4.0);
        let v3 = model("kling-v3").unwrap();
        assert_eq!(units(v3, Family::Text, false, 3, false, false), 1.8);
        let v21 = model("kling-v2-1").unwrap();
        assert_eq!(units(v21, Family::Image, false, 5, false, false), 2.0);
        let o1 = model("kling-video-o1").unwrap();
        assert_eq!(units(o1, Family::Omni, true, 5, false, true), 6.0);
        assert_eq!(units(o1, Family::Omni, true, 5, true, false), 5.0);
    }
}
