//! PNG and JPEG image files: a picture drawn from an [`ImageFile`], then encoded by the `png`
//! crate (fdeflate, its fastest setting) or by `jpeg-encoder` (baseline, quality 90).
//!
//! What a viewer sees: a diagonal two-colour gradient with translucent circles and rectangles,
//! all in colours drawn from the seed and the index (successive indexes are a golden angle apart
//! in hue, so the `n` images of one task never look alike); along the top `KLING-MOCK generated
//! test image`, the label (model, resolution, aspect ratio) and the size `WxH`; in the middle,
//! large, `task <id>` and `image <index+1>/<n>`; at the bottom `seed <seed>`. A watermarked file
//! also carries the video files' diagonal band reading `KLING MOCK WATERMARK`.
//!
//! Drawing is plain integer arithmetic on 8-bit RGB and both encoders are deterministic, so the
//! same [`ImageFile`] always gives the same bytes. A 4k picture takes a few tens of milliseconds
//! to draw; the encoding dominates (see the README's "Image files").

use super::video::draw::{fit, glyph, text_size, watermark_band};
use super::{Format, ImageFile};

/// The smallest width or height an image file may have, pixels.
pub const MIN_SIDE: u32 = 16;
/// The largest width or height an image file may have, pixels.
pub const MAX_SIDE: u32 = 8192;

/// Why an image file could not be made.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    /// A side is outside [`MIN_SIDE`]..=[`MAX_SIDE`].
    #[error("image size {0}x{1} is outside {MIN_SIDE}..={MAX_SIDE} per side")]
    Size(u32, u32),
    /// The format is not an image format.
    #[error("{0:?} is not an image format")]
    Format(Format),
    /// The encoder failed.
    #[error("image encoding failed: {0}")]
    Encode(String),
}

/// Colour of text.
const INK: [u8; 3] = [240, 240, 240];
/// Colour of the dark boxes behind text.
const BOX: [u8; 3] = [20, 20, 24];
/// The watermark band's colour (blended 3/4 over the picture) and its letters' colour.
const BAND: [u8; 3] = [235, 235, 235];
const BAND_INK: [u8; 3] = [40, 40, 40];

/// An 8-bit RGB picture, rows top to bottom.
struct Picture {
    w: usize,
    h: usize,
    px: Vec<u8>,
}

impl Picture {
    /// Fill the rectangle (clipped) with `c`, at opacity `alpha`/256 (256: opaque).
    fn rect(&mut self, x: usize, y: usize, rw: usize, rh: usize, c: [u8; 3], alpha: u32) {
        let (x1, y1) = ((x + rw).min(self.w), (y + rh).min(self.h));
        for row in y.min(y1)..y1 {
            self.span(row, x.min(x1), x1, c, alpha);
        }
    }

    /// A disc centred at (cx, cy) of radius `r`, at opacity `alpha`/256.
    fn disc(&mut self, cx: usize, cy: usize, r: usize, c: [u8; 3], alpha: u32) {
        for row in cy.saturating_sub(r)..(cy + r + 1).min(self.h) {
            let dy = row.abs_diff(cy);
            let half = (r * r - dy * dy).isqrt();
            let x0 = cx.saturating_sub(half).min(self.w);
            let x1 = (cx + half + 1).min(self.w);
            self.span(row, x0, x1, c, alpha);
        }
    }

    /// Pixels `x0..x1` of `row` blended toward `c` at opacity `alpha`/256.
    fn span(&mut self, row: usize, x0: usize, x1: usize, c: [u8; 3], alpha: u32) {
        let line = &mut self.px[(row * self.w + x0) * 3..(row * self.w + x1) * 3];
        if alpha >= 256 {
            for p in line.chunks_exact_mut(3) {
                p.copy_from_slice(&c);
            }
            return;
        }
        for p in line.chunks_exact_mut(3) {
            for (v, &t) in p.iter_mut().zip(&c) {
                *v = ((u32::from(*v) * (256 - alpha) + u32::from(t) * alpha) >> 8) as u8;
            }
        }
    }

    /// `text` in glyphs of `scale` x 8 pixels, its top-left corner at (x, y), on a dark box
    /// with a margin of `scale` pixels.
    fn text(&mut self, x: usize, y: usize, scale: usize, text: &str) {
        let (tw, th) = text_size(text, scale);
        self.rect(
            x.saturating_sub(scale),
            y.saturating_sub(scale),
            tw + 2 * scale,
            th + 2 * scale,
            BOX,
            256,
        );
        for (i, ch) in text.bytes().enumerate() {
            for (gy, bits) in glyph(ch).iter().enumerate() {
                for gx in 0..8 {
                    if bits >> gx & 1 == 1 {
                        let (px, py) = (x + (i * 8 + gx) * scale, y + gy * scale);
                        self.rect(px, py, scale, scale, INK, 256);
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

/// SplitMix64: the next value of the state `s`.
fn next(s: &mut u64) -> u64 {
    *s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *s;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The colour of hue `hue` (degrees, any value), saturation and value out of 255.
fn hsv(hue: u32, s: u32, v: u32) -> [u8; 3] {
    let h = hue % 360;
    let sector = h / 60;
    let f = (h % 60) * 255 / 60;
    let p = v * (255 - s) / 255;
    let q = v * (255 - s * f / 255) / 255;
    let t = v * (255 - s * (255 - f) / 255) / 255;
    let (r, g, b) = match sector {
        0 => (v, t, p),
        1 => (q, v, p),
        2 => (p, v, t),
        3 => (p, q, v),
        4 => (t, p, v),
        _ => (v, p, q),
    };
    [r as u8, g as u8, b as u8]
}

/// Draw the picture of `f` (its size already checked).
fn draw(f: &ImageFile) -> Picture {
    let (w, h) = (f.width as usize, f.height as usize);
    let mut rng = f.seed ^ 0x4B4C_494E_474D_4F43; // "KLINGMOC"
    // Successive indexes a golden angle (137.5 degrees) apart in hue.
    let hue = (next(&mut rng) % 360) as u32 + f.index.wrapping_mul(137);
    let mut rng = rng ^ u64::from(f.index).wrapping_mul(0xD1B5_4A32_D192_ED03);
    let c0 = hsv(hue, 200, 230);
    let c1 = hsv(hue + 150 + (next(&mut rng) % 60) as u32, 220, 110);
    // The gradient from the top-left corner (c0) to the bottom-right one (c1), in 1/256 steps.
    let span = (w * h * 2) as u64;
    let mut px = vec![0u8; w * h * 3];
    for (row, line) in px.chunks_exact_mut(w * 3).enumerate() {
        let base = (row * w) as u64;
        for (col, p) in line.chunks_exact_mut(3).enumerate() {
            let t = (((col * h) as u64 + base) * 256 / span) as i32;
            for k in 0..3 {
                let (a, b) = (i32::from(c0[k]), i32::from(c1[k]));
                p[k] = (a + (b - a) * t / 256) as u8;
            }
        }
    }
    let mut pic = Picture { w, h, px };
    // Translucent shapes in the family of the gradient's colours.
    let short = w.min(h);
    for _ in 0..7 {
        let r = next(&mut rng);
        let c = hsv(hue + (r % 120) as u32, 160, 250);
        let (x, y) = ((r >> 8) as usize % w, (r >> 24) as usize % h);
        let size = short / 10 + (r >> 40) as usize % (short / 4).max(1);
        if r >> 63 == 1 {
            pic.disc(x, y, size, c, 110);
        } else {
            pic.rect(
                x.saturating_sub(size),
                y.saturating_sub(size / 2),
                2 * size,
                size,
                c,
                110,
            );
        }
    }
    // The text: what this file is.
    let unit = (short / 90).max(1);
    let margin = 3 * unit;
    let room = w.saturating_sub(2 * margin).max(8);
    // The header lines and the seed at the scale the brand line fits at; the task and the
    // index larger, at the scale an 18-digit task id fits at.
    let brand = "KLING-MOCK generated test image";
    let small = fit(brand, (short / 60).max(1), room);
    let mut y = margin;
    let size = format!("{}x{} {}", f.width, f.height, f.format.ext().to_uppercase());
    for line in [brand, f.label.as_str(), &size] {
        if !line.is_empty() {
            pic.text(margin, y, small, line);
            y += 11 * small;
        }
    }
    let seed = format!("seed {}", f.seed);
    pic.text(margin, h.saturating_sub(margin + 8 * small), small, &seed);
    let task = format!("task {}", f.task_id);
    let image = format!("image {}/{}", f.index.saturating_add(1), f.n.max(1));
    let big = fit("task 000000000000000000", (short / 20).max(1), w * 9 / 10);
    let mid = (h / 2).saturating_sub(9 * big).max(y + 2 * big);
    pic.text_centred(mid, big, &task);
    pic.text_centred(mid + 11 * big, big, &image);
    if f.watermark {
        for (row, (x0, letters)) in watermark_band(w, h, unit).into_iter().enumerate() {
            let line = &mut pic.px[(row * w + x0) * 3..(row * w + x0 + letters.len()) * 3];
            for (p, letter) in line.chunks_exact_mut(3).zip(letters) {
                if letter {
                    p.copy_from_slice(&BAND_INK);
                } else {
                    for (v, &t) in p.iter_mut().zip(&BAND) {
                        *v = ((u16::from(*v) + 3 * u16::from(t)) / 4) as u8;
                    }
                }
            }
        }
    }
    pic
}

/// The bytes of image file `f`: PNG or JPEG as its format says, `width` x `height` pixels.
pub fn render(f: &ImageFile) -> Result<Vec<u8>, ImageError> {
    let ok = |s| (MIN_SIDE..=MAX_SIDE).contains(&s);
    if !ok(f.width) || !ok(f.height) {
        return Err(ImageError::Size(f.width, f.height));
    }
    if !matches!(f.format, Format::Png | Format::Jpeg) {
        return Err(ImageError::Format(f.format));
    }
    let pic = draw(f);
    let enc = |e: &dyn std::fmt::Display| ImageError::Encode(e.to_string());
    let mut out = Vec::with_capacity(pic.px.len() / 8);
    if f.format == Format::Png {
        let mut e = png::Encoder::new(&mut out, f.width, f.height);
        e.set_color(png::ColorType::Rgb);
        e.set_depth(png::BitDepth::Eight);
        e.set_compression(png::Compression::Fast);
        let mut w = e.write_header().map_err(|e| enc(&e))?;
        w.write_image_data(&pic.px).map_err(|e| enc(&e))?;
        w.finish().map_err(|e| enc(&e))?;
    } else {
        jpeg_encoder::Encoder::new(&mut out, 90)
            .encode(
                &pic.px,
                f.width as u16,
                f.height as u16,
                jpeg_encoder::ColorType::Rgb,
            )
            .map_err(|e| enc(&e))?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::Label;

    fn file(index: u32, watermark: bool) -> ImageFile {
        ImageFile {
            task_id: 123_456_789_012_345_678,
            index,
            n: 4,
            width: 640,
            height: 360,
            seed: 42,
            watermark,
            label: Label::new("kling-v2-1 1k 16:9"),
            format: Format::Png,
            born: None,
        }
    }

    /// Decode a PNG: (width, height, RGB pixels).
    fn decode(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
        let mut r = png::Decoder::new(std::io::Cursor::new(bytes))
            .read_info()
            .unwrap();
        let mut buf = vec![0; r.output_buffer_size().unwrap()];
        let info = r.next_frame(&mut buf).unwrap();
        assert_eq!(info.color_type, png::ColorType::Rgb);
        buf.truncate(info.buffer_size());
        (info.width, info.height, buf)
    }

    #[test]
    fn a_png_decodes_at_exactly_its_size_and_the_same_file_gives_the_same_bytes() {
        for (w, h) in [(640, 360), (17, 31), (1024, 1024)] {
            let f = ImageFile {
                width: w,
                height: h,
                ..file(0, false)
            };
            let bytes = render(&f).unwrap();
            assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
            let (dw, dh, px) = decode(&bytes);
            assert_eq!((dw, dh, px.len()), (w, h, (w * h * 3) as usize));
            assert_eq!(render(&f).unwrap(), bytes, "deterministic");
        }
    }

    #[test]
    fn the_images_of_one_task_differ_and_so_do_seeds() {
        let (_, _, a) = decode(&render(&file(0, false)).unwrap());
        let (_, _, b) = decode(&render(&file(1, false)).unwrap());
        let (_, _, c) = decode(
            &render(&ImageFile {
                seed: 43,
                ..file(0, false)
            })
            .unwrap(),
        );
        // Not only the text: most pixels differ.
        let differ = |x: &[u8], y: &[u8]| x.iter().zip(y).filter(|(p, q)| p != q).count();
        assert!(differ(&a, &b) > a.len() / 2, "{}", differ(&a, &b));
        assert!(differ(&a, &c) > a.len() / 2, "{}", differ(&a, &c));
    }

    #[test]
    fn the_watermark_band_brightens_the_diagonal_and_leaves_the_corners() {
        let (w, h, plain) = decode(&render(&file(2, false)).unwrap());
        let (_, _, marked) = decode(&render(&file(2, true)).unwrap());
        let luma = |px: &[u8], x: u32, y: u32| -> u32 {
            let i = ((y * w + x) * 3) as usize;
            px[i..i + 3].iter().map(|&v| u32::from(v)).sum()
        };
        // Along the band (bottom-left to top-right), away from the big central text.
        let mut brighter = 0;
        for k in 1..10 {
            let (x, y) = (w * k / 40 + w / 8, h - (h * k / 40 + h / 8));
            if luma(&marked, x, y) != luma(&plain, x, y) {
                brighter += 1;
            }
        }
        assert!(brighter >= 8, "{brighter}");
        // Corners off the band are untouched.
        assert_eq!(luma(&marked, w - 2, h - 2), luma(&plain, w - 2, h - 2));
        assert_eq!(luma(&marked, 1, 1), luma(&plain, 1, 1));
    }

    #[test]
    fn a_jpeg_has_its_size_in_its_header() {
        let f = ImageFile {
            format: Format::Jpeg,
            width: 1000,
            height: 562,
            ..file(1, true)
        };
        let bytes = render(&f).unwrap();
        assert!(bytes.starts_with(&[0xFF, 0xD8]));
        let size = imagesize::blob_size(&bytes).unwrap();
        assert_eq!((size.width, size.height), (1000, 562));
        assert_eq!(render(&f).unwrap(), bytes);
    }

    #[test]
    fn sizes_and_formats_out_of_range_are_refused() {
        let f = |width, height, format| ImageFile {
            width,
            height,
            format,
            ..file(0, false)
        };
        assert!(matches!(
            render(&f(8, 100, Format::Png)),
            Err(ImageError::Size(..))
        ));
        assert!(matches!(
            render(&f(100, 9000, Format::Png)),
            Err(ImageError::Size(..))
        ));
        assert!(matches!(
            render(&f(100, 100, Format::Mp4)),
            Err(ImageError::Format(Format::Mp4))
        ));
    }

    /// `cargo test --release -p kling-mock --lib render_times -- --ignored --nocapture`; leaves
    /// the pictures in the temporary directory to look at.
    #[test]
    #[ignore = "a measurement, not a check"]
    fn render_times() {
        for (w, h) in [
            (1024, 1024),
            (1920, 1080),
            (2048, 2048),
            (3840, 2160),
            (4096, 4096),
        ] {
            for format in [Format::Png, Format::Jpeg] {
                let f = ImageFile {
                    width: w,
                    height: h,
                    format,
                    ..file(0, true)
                };
                let t = std::time::Instant::now();
                let draw_t = {
                    let t = std::time::Instant::now();
                    draw(&f);
                    t.elapsed()
                };
                let t1 = std::time::Instant::now();
                let bytes = render(&f).unwrap();
                let n = bytes.len();
                let name = format!("kling-mock-image-{w}x{h}.{}", format.ext());
                std::fs::write(std::env::temp_dir().join(name), &bytes).unwrap();
                println!(
                    "{w}x{h} {format:?}: draw {draw_t:?}, render {:?}, {n} bytes ({:?} total)",
                    t1.elapsed(),
                    t.elapsed()
                );
            }
        }
    }
}
