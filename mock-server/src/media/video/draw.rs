//! The picture: 8-bit I420 frames drawn with plain integer arithmetic (deterministic on every
//! platform), text in the `font8x8` bitmap font scaled to whole pixels.
//!
//! What a viewer sees, top to bottom: colour bars; `KLING-MOCK` and the label line (model and
//! mode, size, duration, frame rate); in the first second only, the title card with the task id
//! and the video id; the running timecode `HH:MM:SS.ff` (`ff` = frame within the second) and
//! `frame N/TOTAL`; a marker that sweeps across once a second; a progress bar at the bottom. A
//! watermarked file also carries a wide diagonal band reading `KLING MOCK WATERMARK`.
//!
//! Everything but the title card depends only on the [`Variant`]: that is what lets the encoded
//! seconds after the first be shared between tasks (see `super`).

use super::Variant;

/// Luma of text.
const INK: u8 = 235;
/// Luma of the dark boxes behind text.
const BOX: u8 = 24;
/// Neutral chroma.
const GREY: u8 = 128;
/// The watermark's band luma and its text luma.
const BAND: u8 = 190;
const BAND_INK: u8 = 40;
/// The text along the watermark band, centred.
pub(crate) const WATERMARK: &str = "KLING MOCK WATERMARK";

/// One 8-bit I420 picture (even width and height).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Canvas {
    pub w: usize,
    pub h: usize,
    pub y: Vec<u8>,
    pub u: Vec<u8>,
    pub v: Vec<u8>,
}

impl Canvas {
    fn new(w: usize, h: usize) -> Canvas {
        Canvas {
            w,
            h,
            y: vec![16; w * h],
            u: vec![GREY; w * h / 4],
            v: vec![GREY; w * h / 4],
        }
    }

    /// Fill a rectangle (clipped to the picture) with one colour.
    fn rect(&mut self, x: usize, y: usize, rw: usize, rh: usize, (l, cu, cv): (u8, u8, u8)) {
        let (x1, y1) = ((x + rw).min(self.w), (y + rh).min(self.h));
        let x = x.min(x1);
        for row in y.min(y1)..y1 {
            self.y[row * self.w + x..row * self.w + x1].fill(l);
        }
        let cw = self.w / 2;
        for row in y / 2..y1.div_ceil(2).min(self.h / 2) {
            self.u[row * cw + x / 2..row * cw + x1.div_ceil(2).min(cw)].fill(cu);
            self.v[row * cw + x / 2..row * cw + x1.div_ceil(2).min(cw)].fill(cv);
        }
    }

    /// `text` in glyphs of `scale` x 8 pixels, its top-left corner at (x, y), on a dark box with
    /// a margin of `scale` pixels (so it reads on any background).
    fn text(&mut self, x: usize, y: usize, scale: usize, text: &str) {
        let (tw, th) = text_size(text, scale);
        self.rect(
            x.saturating_sub(scale),
            y.saturating_sub(scale),
            tw + 2 * scale,
            th + 2 * scale,
            (BOX, GREY, GREY),
        );
        for (i, ch) in text.bytes().enumerate() {
            let glyph = glyph(ch);
            for (gy, bits) in glyph.iter().enumerate() {
                for gx in 0..8 {
                    if bits >> gx & 1 == 1 {
                        let (px, py) = (x + (i * 8 + gx) * scale, y + gy * scale);
                        let px1 = (px + scale).min(self.w);
                        for row in py..(py + scale).min(self.h) {
                            self.y[row * self.w + px.min(px1)..row * self.w + px1].fill(INK);
                        }
                    }
                }
            }
        }
    }

    /// `text` centred horizontally with its top at `y`.
    fn text_centred(&mut self, y: usize, scale: usize, text: &str) {
        let (tw, _) = text_size(text, scale);
        self.text(self.w.saturating_sub(tw) / 2, y, scale, text);
    }
}

/// The 8x8 bitmap of an ASCII character (anything else: `?`).
pub(crate) fn glyph(ch: u8) -> [u8; 8] {
    let ch = if ch.is_ascii() { ch } else { b'?' };
    font8x8::legacy::BASIC_LEGACY[usize::from(ch)]
}

/// Width and height of `text` at `scale`.
pub(crate) fn text_size(text: &str, scale: usize) -> (usize, usize) {
    (text.len() * 8 * scale, 8 * scale)
}

/// The largest scale at most `want` at which `text` fits in `width` pixels (at least 1).
pub(crate) fn fit(text: &str, want: usize, width: usize) -> usize {
    want.min(width / (text.len().max(1) * 8)).max(1)
}

/// The longest title line (an 18-digit id) the title card is sized for.
const TITLE_TEMPLATE: &str = "video 000000000000000000";

/// The per-file title of the first second: which task and which video this file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Title {
    pub task_id: u64,
    pub video_id: u64,
}

/// A variant's drawing plan: the static background (bars, labels, the watermark band under
/// the moving parts) and where the moving parts go.
pub(crate) struct Scene {
    v: Variant,
    background: Canvas,
    /// Top of the title card, of the timecode and of the frame counter.
    title_y: usize,
    /// Scale of the title card's text.
    title_scale: usize,
    clock_y: usize,
    clock_scale: usize,
    counter_y: usize,
    counter_scale: usize,
    /// Top and height of the sweeping marker's track.
    sweep_y: usize,
    sweep_h: usize,
    /// Top of the progress bar.
    bar_y: usize,
    /// Watermark: per luma row, the band's columns `[x0, x1)` and, per pixel in it, whether it
    /// is a letter (`true`) or the band (`false`).
    band: Vec<(usize, Vec<bool>)>,
}

/// The eight SMPTE-like bars (BT.601 limited range): white, yellow, cyan, green, magenta, red,
/// blue, black.
const BARS: [(u8, u8, u8); 8] = [
    (235, 128, 128),
    (210, 16, 146),
    (170, 166, 16),
    (145, 54, 34),
    (106, 202, 222),
    (81, 90, 240),
    (41, 240, 110),
    (16, 128, 128),
];

impl Scene {
    /// Plan the picture of `v` (its width and height even, at least 16).
    pub fn new(v: &Variant) -> Scene {
        let (w, h) = (v.width as usize, v.height as usize);
        let unit = (w.min(h) / 90).max(1);
        let mut bg = Canvas::new(w, h);
        // A dark blue vertical gradient.
        for row in 0..h {
            let l = (40 + row * 50 / h) as u8;
            bg.y[row * w..(row + 1) * w].fill(l);
        }
        bg.u.fill(150);
        bg.v.fill(118);
        // Colour bars along the top.
        let bars_h = (h / 14).max(2) & !1;
        for (i, &c) in BARS.iter().enumerate() {
            let x0 = (w * i / 8) & !1;
            let x1 = (w * (i + 1) / 8) & !1;
            bg.rect(x0, 0, x1 - x0, bars_h, c);
        }
        // The brand and the label line.
        let margin = 2 * unit;
        let brand = "KLING-MOCK  generated test video";
        let brand_scale = fit(brand, 3 * unit, w - 2 * margin);
        let brand_y = bars_h + 2 * unit;
        bg.text(margin, brand_y, brand_scale, brand);
        let label = v.caption();
        let label_scale = fit(&label, 2 * unit, w - 2 * margin);
        let label_y = brand_y + 8 * brand_scale + 3 * unit;
        bg.text(margin, label_y, label_scale, &label);
        // The title card: two lines as wide as an 18-digit id allows.
        let title_y = label_y + 8 * label_scale + 4 * unit;
        let title_scale = fit(TITLE_TEMPLATE, 2 * unit, w * 9 / 10);
        let title_h = 18 * title_scale + 2 * unit;
        // The timecode in the middle (below the title card), the counter under it.
        let clock_scale = fit("00:00:00.00", h / 40, w * 9 / 10);
        let clock_y = (h / 2)
            .saturating_sub(4 * clock_scale)
            .max(title_y + title_h + 2 * unit);
        let counter = format!("frame {0}/{0}", v.frames);
        let counter_scale = fit(&counter, unit, w - 2 * margin);
        let counter_y = clock_y + 8 * clock_scale + 3 * unit;
        // The sweep marker's track and the progress bar at the bottom.
        let bar_h = (h / 40).max(2);
        let bar_y = h - bar_h;
        let sweep_h = (6 * unit).min(h / 8).max(2);
        let sweep_y = bar_y.saturating_sub(sweep_h + 3 * unit);
        bg.rect(0, sweep_y, w, sweep_h, (28, 128, 128));
        bg.rect(0, bar_y, w, bar_h, (30, 128, 128));
        let mut scene = Scene {
            v: *v,
            background: bg,
            title_y,
            title_scale,
            clock_y,
            clock_scale,
            counter_y,
            counter_scale,
            sweep_y,
            sweep_h,
            bar_y,
            band: Vec::new(),
        };
        if v.watermark {
            scene.band = watermark_band(w, h, unit);
            let mut bg = std::mem::replace(&mut scene.background, Canvas::new(2, 2));
            scene.apply_band(&mut bg);
            scene.background = bg;
        }
        scene
    }

    /// Draw frame `index` (0-based) into `out`, with the title card when `title` is given.
    pub fn frame(&self, index: u32, title: Option<Title>, out: &mut Canvas) {
        out.clone_from(&self.background);
        let (w, v) = (out.w, &self.v);
        if let Some(t) = title {
            let task = format!("task  {}", t.task_id);
            let video = format!("video {}", t.video_id);
            let scale = self.title_scale;
            let (tw, vw) = (text_size(&task, scale).0, text_size(&video, scale).0);
            let x = w.saturating_sub(tw.max(vw)) / 2;
            out.text(x, self.title_y, scale, &task);
            out.text(x, self.title_y + 10 * scale, scale, &video);
        }
        let fps = v.fps.max(1);
        let secs = index / fps;
        let clock = format!(
            "{:02}:{:02}:{:02}.{:02}",
            secs / 3600,
            secs / 60 % 60,
            secs % 60,
            index % fps
        );
        out.text_centred(self.clock_y, self.clock_scale, &clock);
        let counter = format!("frame {}/{}", index + 1, v.frames);
        out.text_centred(self.counter_y, self.counter_scale, &counter);
        // The marker crosses the picture once a second.
        let travel = w.saturating_sub(self.sweep_h);
        let x = travel * (index % fps) as usize / (fps as usize).max(2).saturating_sub(1).max(1);
        out.rect(
            x & !1,
            self.sweep_y,
            self.sweep_h,
            self.sweep_h,
            (200, 60, 200),
        );
        // The progress bar: its lit part is the share of frames shown so far.
        let lit = w * (index as usize + 1) / (v.frames.max(1) as usize);
        out.rect(0, self.bar_y, lit, out.h - self.bar_y, (180, 90, 60));
        if !self.band.is_empty() {
            self.apply_band(out);
        }
    }

    /// Lay the watermark band over `c`.
    fn apply_band(&self, c: &mut Canvas) {
        let w = c.w;
        for (row, (x0, letters)) in self.band.iter().enumerate() {
            if letters.is_empty() {
                continue;
            }
            let line = &mut c.y[row * w + x0..row * w + x0 + letters.len()];
            for (px, &letter) in line.iter_mut().zip(letters) {
                *px = if letter {
                    BAND_INK
                } else {
                    ((u16::from(*px) + 3 * u16::from(BAND)) / 4) as u8
                };
            }
            if row % 2 == 0 {
                let cw = w / 2;
                let (c0, c1) = (x0 / 2, (x0 + letters.len()).div_ceil(2).min(cw));
                c.u[row / 2 * cw + c0..row / 2 * cw + c1].fill(GREY);
                c.v[row / 2 * cw + c0..row / 2 * cw + c1].fill(GREY);
            }
        }
    }
}

/// The watermark band: from the bottom-left corner to the top-right one, a sixth of the short
/// side wide, `WATERMARK` written along it. Integer arithmetic only.
pub(crate) fn watermark_band(w: usize, h: usize, unit: usize) -> Vec<(usize, Vec<bool>)> {
    let (wi, hi) = (w as i64, h as i64);
    // Along-axis unit vector e = (w, -h) / len, across-axis n = (h, w) / len, in 1/1024 units.
    let len = ((wi * wi + hi * hi) as f64).sqrt();
    let ex = (wi as f64 / len * 1024.0).round() as i64;
    let ey = (-hi as f64 / len * 1024.0).round() as i64;
    let (nx, ny) = (-ey, ex);
    let half = (w.min(h) / 12) as i64;
    // As tall as the band allows, as long as the whole text fits along the diagonal.
    let chars: Vec<u8> = WATERMARK.bytes().collect();
    let fits = (len as i64 * 9 / 10) / (8 * chars.len() as i64);
    let scale = ((2 * half - 2 * unit as i64) / 8).min(fits).max(1);
    let text_len = 8 * scale * chars.len() as i64;
    let text_top = -4 * scale;
    let (cx, cy) = (wi / 2, hi / 2);
    let mut band = Vec::with_capacity(h);
    for row in 0..hi {
        let mut x0 = None;
        let mut cells = Vec::new();
        for col in 0..wi {
            let (dx, dy) = (col - cx, row - cy);
            let across = (dx * nx + dy * ny) >> 10;
            if across.abs() >= half {
                if x0.is_some() {
                    break;
                }
                continue;
            }
            if x0.is_none() {
                x0 = Some(col as usize);
            }
            // From the start of the text, which is centred on the band.
            let along = ((dx * ex + dy * ey) >> 10) + text_len / 2;
            let gy = (across - text_top).div_euclid(scale);
            let letter = (0..8).contains(&gy) && (0..text_len).contains(&along) && {
                let cell = (along / (8 * scale)) as usize;
                let gx = along % (8 * scale) / scale;
                glyph(chars[cell])[gy as usize] >> gx & 1 == 1
            };
            cells.push(letter);
        }
        band.push((x0.unwrap_or(0), cells));
    }
    band
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::Label;

    fn variant(watermark: bool) -> Variant {
        Variant {
            width: 320,
            height: 180,
            fps: 24,
            frames: 48,
            label: Label::new("kling-v2-6 pro"),
            watermark,
        }
    }

    #[test]
    fn frames_differ_over_time_and_the_title_shows_only_when_asked() {
        let scene = Scene::new(&variant(false));
        let mut a = Canvas::new(2, 2);
        let mut b = Canvas::new(2, 2);
        scene.frame(0, None, &mut a);
        scene.frame(1, None, &mut b);
        assert_ne!(a, b);
        scene.frame(
            0,
            Some(Title {
                task_id: 1,
                video_id: 2,
            }),
            &mut b,
        );
        assert_ne!(a, b);
        scene.frame(0, None, &mut b);
        assert_eq!(a, b, "drawing is deterministic");
    }

    #[test]
    fn the_watermark_band_brightens_the_centre() {
        let mut plain = Canvas::new(2, 2);
        let mut marked = Canvas::new(2, 2);
        Scene::new(&variant(false)).frame(5, None, &mut plain);
        Scene::new(&variant(true)).frame(5, None, &mut marked);
        assert_ne!(plain.y, marked.y);
    }
}
