//! H.264 with OpenH264: one encoder per GOP, so that every GOP starts with an IDR picture and
//! can be encoded apart from the others (in parallel, and once for every task that shares it).
//!
//! Every encoder gets the same configuration, so every GOP carries the same SPS and PPS (checked
//! when a file is put together, `super::mux`). Frame skipping is off: every input picture gives
//! one access unit, which is what makes the duration exact (frames / fps).

use super::VideoError;
use super::draw::{Canvas, Scene, Title};
use openh264::OpenH264API;
use openh264::encoder::{
    Complexity, Encoder, EncoderConfig, FrameRate, IntraFramePeriod, RateControlMode, UsageType,
};
use openh264::formats::YUVSlices;

/// One encoded GOP: an IDR picture and the P pictures after it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Gop {
    /// The sequence parameter set (NAL unit without start code).
    pub sps: Vec<u8>,
    /// The picture parameter set (NAL unit without start code).
    pub pps: Vec<u8>,
    /// One access unit per frame, its NAL units each prefixed with their 4-byte length (the MP4
    /// sample format); the first is the IDR picture.
    pub samples: Vec<Vec<u8>>,
}

impl Gop {
    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.sps.len() + self.pps.len() + self.samples.iter().map(Vec::len).sum::<usize>()
    }
}

/// The encoder configuration of every GOP. Camera usage (screen-content usage was slow and
/// failed on some sizes), rate control off (a fixed quantiser: the same picture always encodes
/// to the same bytes, whatever came before), no frame skipping, no scene-change detection (no
/// extra intra pictures), no pre-analysis, one thread (deterministic output).
fn config(fps: u32) -> EncoderConfig {
    EncoderConfig::new()
        .usage_type(UsageType::CameraVideoRealTime)
        .rate_control_mode(RateControlMode::Off)
        .max_frame_rate(FrameRate::from_hz(fps as f32))
        .skip_frames(false)
        .scene_change_detect(false)
        // The pre-analysis passes (background detection, adaptive quantisation) took a third
        // of the time and buy nothing on a synthetic picture.
        .background_detection(false)
        .adaptive_quantization(false)
        .complexity(Complexity::Low)
        // No periodic intra pictures: each GOP has its own encoder, whose first picture is IDR.
        .intra_frame_period(IntraFramePeriod::from_num_frames(0))
        .num_threads(1)
}

/// Encode frames `range` of `scene` (one GOP), with the title card when `title` is given.
pub(crate) fn encode_gop(
    scene: &Scene,
    fps: u32,
    range: std::ops::Range<u32>,
    title: Option<Title>,
) -> Result<Gop, VideoError> {
    let fail = |e: openh264::Error| VideoError::Encode(e.to_string());
    let mut enc =
        Encoder::with_api_config(OpenH264API::from_source(), config(fps)).map_err(fail)?;
    let mut canvas = Canvas {
        w: 0,
        h: 0,
        y: Vec::new(),
        u: Vec::new(),
        v: Vec::new(),
    };
    let (mut sps, mut pps) = (None, None);
    let mut samples = Vec::with_capacity(range.len());
    for index in range.clone() {
        scene.frame(index, title, &mut canvas);
        let (w, h) = (canvas.w, canvas.h);
        let yuv = YUVSlices::new((&canvas.y, &canvas.u, &canvas.v), (w, h), (w, w / 2, w / 2));
        let stream = enc.encode(&yuv).map_err(fail)?;
        let mut au = Vec::new();
        let mut idr = false;
        for l in 0..stream.num_layers() {
            let Some(layer) = stream.layer(l) else {
                continue;
            };
            for n in 0..layer.nal_count() {
                let Some(nal) = layer.nal_unit(n).map(strip_start_code) else {
                    continue;
                };
                match nal.first().map(|b| b & 0x1f) {
                    None => {}
                    Some(7) => sps = Some(nal.to_vec()),
                    Some(8) => pps = Some(nal.to_vec()),
                    Some(t) => {
                        idr |= t == 5;
                        au.extend_from_slice(&(nal.len() as u32).to_be_bytes());
                        au.extend_from_slice(nal);
                    }
                }
            }
        }
        if au.is_empty() {
            return Err(VideoError::Encode(format!("no picture for frame {index}")));
        }
        // The GOP is independent only if it opens with an IDR picture and has no other.
        if idr != (index == range.start) {
            return Err(VideoError::Encode(format!(
                "frame {index} of a GOP starting at {} is {}an IDR picture",
                range.start,
                if idr { "" } else { "not " }
            )));
        }
        samples.push(au);
    }
    match (sps, pps) {
        (Some(sps), Some(pps)) => Ok(Gop { sps, pps, samples }),
        _ => Err(VideoError::Encode("no SPS/PPS".into())),
    }
}

/// A NAL unit without its Annex B start code.
fn strip_start_code(nal: &[u8]) -> &[u8] {
    nal.strip_prefix(&[0, 0, 0, 1])
        .or_else(|| nal.strip_prefix(&[0, 0, 1]))
        .unwrap_or(nal)
}
