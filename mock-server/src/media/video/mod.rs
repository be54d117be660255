//! Playable MP4 videos behind every generated video URL: H.264 pictures that show what the file
//! is (see `draw`), an MP3 sound track when the video has sound, in a faststart MP4.
//!
//! A file is cut into GOPs of one second (`fps` frames; two at 1 fps), each opening with an IDR
//! picture and encoded by an encoder of its own (`encode`), so GOPs are encoded in parallel
//! and put side by side. The first GOP carries the task's title card (task id, video id) and
//! belongs to its file; every later GOP depends only on the [`Variant`] (size, frame rate, frame
//! count, label, watermark), so it is encoded once and shared by every file of that variant
//! ([`VariantGops`], kept in the media cache). The sound (a per-task seed) is cheap and made per
//! file. The same [`VideoFile`] always gives byte-identical output.

pub(crate) mod draw;
pub(crate) mod encode;
pub(crate) mod mux;

use crate::media::{Label, VideoFile};
use encode::Gop;
use std::sync::{Arc, OnceLock};

/// Why a video file could not be made.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VideoError {
    /// The file's parameters cannot be encoded (odd or out-of-range size, frame rate, frames).
    #[error("unsupported video parameters: {0}")]
    Unsupported(String),
    /// OpenH264 failed.
    #[error("H.264 encoding failed: {0}")]
    Encode(String),
    /// LAME failed.
    #[error("MP3 encoding failed: {0}")]
    Audio(String),
    /// The container could not be written.
    #[error("MP4 muxing failed: {0}")]
    Mux(String),
}

/// Largest width or height (OpenH264 encodes up to 3840x2160 or 2160x3840).
pub const MAX_SIDE: u32 = 3_840;
/// Most frames of one file (ten minutes at 60 fps).
pub const MAX_FRAMES: u32 = 36_000;

/// What the shared GOPs of a file depend on: everything in the picture but the title card.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Variant {
    /// Width, pixels.
    pub width: u32,
    /// Height, pixels.
    pub height: u32,
    /// Frames per second.
    pub fps: u32,
    /// Frames in the file.
    pub frames: u32,
    /// The model/mode label.
    pub label: Label,
    /// Whether the watermark band is drawn.
    pub watermark: bool,
}

impl Variant {
    /// The variant of `file`.
    pub fn of(file: &VideoFile) -> Variant {
        Variant {
            width: file.width,
            height: file.height,
            fps: file.fps,
            frames: file.frames,
            label: file.label,
            watermark: file.watermark,
        }
    }

    /// The label line drawn under the brand: `<label>  <w>x<h>  <secs>s  <fps>fps`.
    pub(crate) fn caption(&self) -> String {
        let ms = u64::from(self.frames) * 1000 / u64::from(self.fps.max(1));
        let secs = if ms % 1000 == 0 {
            format!("{}", ms / 1000)
        } else {
            format!("{}.{:03}", ms / 1000, ms % 1000)
        };
        format!(
            "{}  {}x{}  {secs}s  {}fps",
            self.label.as_str(),
            self.width,
            self.height,
            self.fps
        )
    }

    /// Frames per GOP: one second (at least two frames, so two IDR pictures never follow each
    /// other).
    pub fn gop_frames(&self) -> u32 {
        self.fps.max(2)
    }

    /// Number of GOPs.
    pub fn gop_count(&self) -> usize {
        self.frames.div_ceil(self.gop_frames()) as usize
    }

    /// Frames of GOP `i`.
    fn gop_range(&self, i: usize) -> std::ops::Range<u32> {
        let start = i as u32 * self.gop_frames();
        start..(start + self.gop_frames()).min(self.frames)
    }

    /// Check that the variant can be encoded.
    pub fn check(&self) -> Result<(), VideoError> {
        let bad = |why: String| Err(VideoError::Unsupported(why));
        let (w, h) = (self.width, self.height);
        if w % 2 != 0 || h % 2 != 0 || w < 16 || h < 16 {
            return bad(format!(
                "{w}x{h}: width and height must be even and at least 16"
            ));
        }
        if w.max(h) > MAX_SIDE || w.min(h) > 2_160 {
            return bad(format!("{w}x{h}: at most 3840x2160 or 2160x3840"));
        }
        if !(1..=60).contains(&self.fps) {
            return bad(format!("{} fps: 1 to 60", self.fps));
        }
        if !(1..=MAX_FRAMES).contains(&self.frames) {
            return bad(format!("{} frames: 1 to {MAX_FRAMES}", self.frames));
        }
        Ok(())
    }
}

/// The shared GOPs of a variant (index 1 on; GOP 0 is each file's own), each encoded at most
/// once: concurrent callers of the same GOP wait for the one encoding it.
#[derive(Debug)]
pub struct VariantGops {
    variant: Variant,
    gops: Vec<OnceLock<Result<Arc<Gop>, VideoError>>>,
}

impl VariantGops {
    /// Empty: nothing encoded yet.
    pub fn new(variant: Variant) -> VariantGops {
        VariantGops {
            variant,
            gops: (0..variant.gop_count()).map(|_| OnceLock::new()).collect(),
        }
    }

    /// Bytes held by the GOPs encoded so far.
    pub fn bytes(&self) -> usize {
        self.gops
            .iter()
            .filter_map(|g| g.get().and_then(|r| r.as_ref().ok()))
            .map(|g| g.bytes())
            .sum()
    }

    /// Whether every shared GOP is encoded.
    pub fn complete(&self) -> bool {
        self.gops.iter().skip(1).all(|g| g.get().is_some())
    }

    /// Shared GOP `i` (1 on), encoding it if no one has.
    fn gop(&self, scene: &OnceLock<draw::Scene>, i: usize) -> Result<Arc<Gop>, VideoError> {
        self.gops[i]
            .get_or_init(|| {
                let scene = scene.get_or_init(|| draw::Scene::new(&self.variant));
                encode::encode_gop(scene, self.variant.fps, self.variant.gop_range(i), None)
                    .map(Arc::new)
            })
            .clone()
    }

    /// Encode the shared GOPs not yet encoded, one at a time on this thread, while `go()` says
    /// so (the background warm-up).
    pub fn warm(&self, go: impl Fn() -> bool) -> Result<(), VideoError> {
        let scene = OnceLock::new();
        for i in 1..self.gops.len() {
            if !go() {
                break;
            }
            self.gop(&scene, i)?;
        }
        Ok(())
    }
}

/// The complete MP4 of `file`, using (and filling) `shared`, the GOPs of its variant. The work is
/// spread over the machine's cores: each thread takes the next GOP not yet encoded.
pub fn render(file: &VideoFile, shared: &VariantGops) -> Result<Vec<u8>, VideoError> {
    let variant = Variant::of(file);
    variant.check()?;
    if shared.variant != variant {
        return Err(VideoError::Unsupported("GOPs of another variant".into()));
    }
    let scene = OnceLock::new();
    let count = variant.gop_count();
    let first: OnceLock<Result<Gop, VideoError>> = OnceLock::new();
    let missing = 1
        + (1..count)
            .filter(|&i| shared.gops[i].get().is_none())
            .count();
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(missing);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let work = || {
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if i >= count {
                return;
            }
            if i == 0 {
                let title = draw::Title {
                    task_id: file.task_id,
                    video_id: file.video_id,
                };
                let s = scene.get_or_init(|| draw::Scene::new(&variant));
                let _ = first.set(encode::encode_gop(
                    s,
                    variant.fps,
                    variant.gop_range(0),
                    Some(title),
                ));
            } else if shared.gop(&scene, i).is_err() {
                return;
            }
        }
    };
    std::thread::scope(|s| {
        for _ in 1..threads {
            s.spawn(work);
        }
        work();
    });
    let first = first
        .into_inner()
        .unwrap_or_else(|| Err(VideoError::Encode("the first GOP was not encoded".into())))?;
    let mut rest = Vec::with_capacity(count.saturating_sub(1));
    for i in 1..count {
        rest.push(shared.gop(&scene, i)?);
    }
    for g in &rest {
        if g.sps != first.sps || g.pps != first.pps {
            return Err(VideoError::Encode(
                "GOPs were encoded with different SPS/PPS".into(),
            ));
        }
    }
    let audio = match file.sound {
        Some(seed) => Some(mux::mp3_frames(seed, file.frames, file.fps)?),
        None => None,
    };
    let video = std::iter::once(&first)
        .chain(rest.iter().map(|g| &**g))
        .flat_map(|g| {
            g.samples
                .iter()
                .enumerate()
                .map(|(i, s)| (s.as_slice(), i == 0))
        })
        .collect();
    mux::mux(&mux::Tracks {
        width: file.width as u16,
        height: file.height as u16,
        fps: file.fps,
        sps: &first.sps,
        pps: &first.pps,
        video,
        audio: audio.as_deref(),
    })
}

#[cfg(test)]
mod tests;
