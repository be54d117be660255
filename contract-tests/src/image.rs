//! Decoding result images (PNG with the `png` crate, JPEG with `zune-jpeg`) and judging their
//! size against what the oracle expects (`fixtures/image-models.json` `sizes`): an aspect ratio
//! within a tolerance, a resolution class by pixel area, or an exact size within a few pixels
//! (an expanded image, a try-on result).

use std::io::Cursor;

/// A decoded image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// `png` or `jpeg`.
    pub format: &'static str,
    /// Width, pixels.
    pub width: u32,
    /// Height, pixels.
    pub height: u32,
    /// The decoded samples (to tell images apart by content, not by file bytes).
    pub pixels: Vec<u8>,
}

/// Decode a PNG or JPEG file, by its signature.
pub fn decode(bytes: &[u8]) -> Result<Decoded, String> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        let mut reader = png::Decoder::new(Cursor::new(bytes))
            .read_info()
            .map_err(|e| format!("not a valid PNG: {e}"))?;
        let size = reader
            .output_buffer_size()
            .ok_or("a PNG too large to decode")?;
        let mut pixels = vec![0; size];
        let info = reader
            .next_frame(&mut pixels)
            .map_err(|e| format!("the PNG's pixels do not decode: {e}"))?;
        pixels.truncate(info.buffer_size());
        Ok(Decoded {
            format: "png",
            width: info.width,
            height: info.height,
            pixels,
        })
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        let mut d = zune_jpeg::JpegDecoder::new(Cursor::new(bytes));
        let pixels = d.decode().map_err(|e| format!("not a valid JPEG: {e:?}"))?;
        let (w, h) = d.dimensions().ok_or("a JPEG without dimensions")?;
        Ok(Decoded {
            format: "jpeg",
            width: w as u32,
            height: h as u32,
            pixels,
        })
    } else {
        Err(format!(
            "neither PNG nor JPEG (first bytes {:02x?})",
            &bytes[..bytes.len().min(8)]
        ))
    }
}

/// What a result image must measure.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SizeWant {
    /// Width / height, and the accepted relative difference.
    pub ratio: Option<(f64, f64)>,
    /// Pixel area, and the accepted relative difference.
    pub area: Option<(f64, f64)>,
    /// Width and height exactly, within this many pixels.
    pub exact: Option<(u32, u32, u32)>,
    /// What the expectation is for (for messages).
    pub what: String,
}

impl SizeWant {
    /// Whether it checks anything.
    pub fn is_empty(&self) -> bool {
        self.ratio.is_none() && self.area.is_none() && self.exact.is_none()
    }

    /// `Err` with the reason if a `width` × `height` image does not measure up.
    pub fn judge(&self, width: u32, height: u32) -> Result<(), String> {
        if width == 0 || height == 0 {
            return Err(format!("the image is {width}x{height}"));
        }
        let (w, h) = (width as f64, height as f64);
        if let Some((r, tol)) = self.ratio
            && ((w / h) / r - 1.0).abs() > tol
        {
            return Err(format!(
                "{width}x{height} has aspect ratio {:.4}, {} asks for {r:.4} (within {:.0}%)",
                w / h,
                self.what,
                tol * 100.0
            ));
        }
        if let Some((a, tol)) = self.area
            && ((w * h) / a - 1.0).abs() > tol
        {
            return Err(format!(
                "{width}x{height} is {:.2} megapixels, {} asks for about {:.2} (within {:.0}%)",
                w * h / 1e6,
                self.what,
                a / 1e6,
                tol * 100.0
            ));
        }
        if let Some((ew, eh, px)) = self.exact
            && (width.abs_diff(ew) > px || height.abs_diff(eh) > px)
        {
            return Err(format!(
                "{width}x{height}, {} asks for {ew}x{eh} (within {px} px)",
                self.what
            ));
        }
        Ok(())
    }
}

/// An expanded image's size: `(w, h)` grown by the left + right and up + down ratios (§5.18:
/// multiples of the original width / height).
pub fn grown(w: u32, h: u32, left_right: f64, up_down: f64) -> (u32, u32) {
    (
        (w as f64 * (1.0 + left_right)).round() as u32,
        (h as f64 * (1.0 + up_down)).round() as u32,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg(w: u16, h: u16, shade: u8) -> Vec<u8> {
        let mut out = Vec::new();
        let pixels = vec![shade; w as usize * h as usize * 3];
        jpeg_encoder::Encoder::new(&mut out, 90)
            .encode(&pixels, w, h, jpeg_encoder::ColorType::Rgb)
            .unwrap();
        out
    }

    #[test]
    fn a_png_made_here_decodes_to_its_size() {
        let d = decode(&crate::png::gradient(640, 360)).unwrap();
        assert_eq!((d.format, d.width, d.height), ("png", 640, 360));
        assert_eq!(d.pixels.len(), 640 * 360);
    }

    #[test]
    fn a_jpeg_decodes_to_its_size_and_content() {
        let a = decode(&jpeg(320, 200, 40)).unwrap();
        let b = decode(&jpeg(320, 200, 200)).unwrap();
        assert_eq!((a.format, a.width, a.height), ("jpeg", 320, 200));
        assert_ne!(a.pixels, b.pixels);
    }

    #[test]
    fn anything_else_is_refused() {
        assert!(decode(b"GIF89a....").is_err());
        let mut broken = crate::png::gradient(64, 64);
        broken.truncate(40);
        assert!(decode(&broken).is_err());
        assert!(decode(&jpeg(64, 64, 1)[..30]).is_err());
    }

    #[test]
    fn the_size_judge_accepts_within_tolerance_and_refuses_beyond() {
        let want = SizeWant {
            ratio: Some((16.0 / 9.0, 0.02)),
            area: Some((1048576.0, 0.15)),
            what: "1k 16:9".into(),
            ..SizeWant::default()
        };
        assert!(want.judge(1365, 768).is_ok());
        assert!(want.judge(1280, 720).is_ok(), "0.92 MP is within 15%");
        assert!(want.judge(1024, 1024).is_err(), "1:1 is not 16:9");
        assert!(want.judge(2048, 1152).is_err(), "2k is not 1k");
        assert!(want.judge(1000, 720).is_err());
        assert!(want.judge(0, 720).is_err());
        let exact = SizeWant {
            exact: Some((896, 432, 4)),
            what: "expand".into(),
            ..SizeWant::default()
        };
        assert!(exact.judge(898, 430).is_ok());
        assert!(exact.judge(640, 360).is_err());
        assert_eq!(grown(640, 360, 0.4, 0.2), (896, 432));
        assert!(SizeWant::default().is_empty());
    }
}
