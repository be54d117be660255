//! The images the harness sends: small grayscale PNGs made here, at any size (the documents ask
//! for `.jpg / .jpeg / .png`, both sides at least 300 px, aspect ratio within 1:2.5-2.5:1;
//! SOURCES.md: General Info, "Images as input"), sent as raw Base64 without a `data:` prefix.
//!
//! A home-made encoder keeps the harness free of an image library: every row is the same
//! horizontal gradient, so the deflate stream is the first row as literals and then copies of the
//! row above (fixed Huffman codes, RFC 1951 §3.2.6). A 640×360 image is about 3 KB.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// Width and height of the example image of the families (16:9).
pub const EXAMPLE_SIZE: (u32, u32) = (640, 360);

/// Bits written least significant first, as deflate packs them.
#[derive(Default)]
struct Bits {
    out: Vec<u8>,
    acc: u64,
    n: u32,
}

impl Bits {
    /// `len` bits of `value`, least significant first (extra bits, block headers).
    fn put(&mut self, value: u32, len: u32) {
        self.acc |= u64::from(value) << self.n;
        self.n += len;
        while self.n >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.n -= 8;
        }
    }

    /// A Huffman code of `len` bits, most significant first.
    fn code(&mut self, code: u32, len: u32) {
        let mut rev = 0;
        for i in 0..len {
            rev |= ((code >> i) & 1) << (len - 1 - i);
        }
        self.put(rev, len);
    }

    fn finish(mut self) -> Vec<u8> {
        if self.n > 0 {
            self.out.push(self.acc as u8);
        }
        self.out
    }
}

/// The fixed literal/length code of `sym` (0..=287).
fn literal(bits: &mut Bits, sym: u32) {
    match sym {
        0..=143 => bits.code(0x30 + sym, 8),
        144..=255 => bits.code(0x190 + sym - 144, 9),
        256..=279 => bits.code(sym - 256, 7),
        _ => bits.code(0xc0 + sym - 280, 8),
    }
}

/// Base lengths of the length codes 257..=285 (RFC 1951 §3.2.5).
const LEN_BASE: [u32; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 258,
];
/// Extra bits of the length codes 257..=285.
const LEN_EXTRA: [u32; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];

/// (code, extra bits, base) of the deflate length `len` (3..=258).
fn length_code(len: u32) -> (u32, u32, u32) {
    let i = LEN_BASE.iter().rposition(|&b| b <= len).unwrap_or(0);
    (257 + i as u32, LEN_EXTRA[i], LEN_BASE[i])
}

/// (code, extra bits, base) of the deflate distance `dist` (1..=32768).
fn distance_code(dist: u32) -> (u32, u32, u32) {
    let mut base = 1;
    for code in 0..30u32 {
        let extra = if code < 4 { 0 } else { code / 2 - 1 };
        let next = base + (1 << extra);
        if dist < next {
            return (code, extra, base);
        }
        base = next;
    }
    (29, 13, 24577)
}

/// The zlib stream of `rows` identical rows of `row` (filter byte included).
fn zlib_rows(row: &[u8], rows: u32) -> Vec<u8> {
    let mut bits = Bits::default();
    bits.put(1, 1); // BFINAL
    bits.put(1, 2); // BTYPE 01: fixed Huffman codes
    for &b in row {
        literal(&mut bits, u32::from(b));
    }
    let dist = row.len() as u32;
    let mut left = dist as u64 * u64::from(rows.saturating_sub(1));
    while left > 0 {
        // Never leave a tail shorter than 3 (the shortest copy).
        let mut len = left.min(258) as u32;
        if left > 258 && left - 258 < 3 {
            len = 255;
        }
        let (code, extra, base) = length_code(len);
        literal(&mut bits, code);
        bits.put(len - base, extra);
        let (dcode, dextra, dbase) = distance_code(dist);
        bits.code(dcode, 5);
        bits.put(dist - dbase, dextra);
        left -= u64::from(len);
    }
    literal(&mut bits, 256);
    let data = bits.finish();
    let (mut a, mut b) = (1u32, 0u32);
    for _ in 0..rows {
        for &x in row {
            a = (a + u32::from(x)) % 65521;
            b = (b + a) % 65521;
        }
    }
    let mut out = vec![0x78, 0x01];
    out.extend(data);
    out.extend(((b << 16) | a).to_be_bytes());
    out
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend((data.len() as u32).to_be_bytes());
    let mut body = kind.to_vec();
    body.extend_from_slice(data);
    out.extend(&body);
    out.extend(crc32(&body).to_be_bytes());
}

/// A `width`×`height` 8-bit grayscale PNG: a left-to-right gradient.
pub fn gradient(width: u32, height: u32) -> Vec<u8> {
    let width = width.max(1);
    let mut row = Vec::with_capacity(width as usize + 1);
    row.push(0); // filter: none
    for x in 0..width {
        row.push((32 + x * 191 / width.max(2).saturating_sub(1).max(1)).min(255) as u8);
    }
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend(width.to_be_bytes());
    ihdr.extend(height.max(1).to_be_bytes());
    ihdr.extend([8, 0, 0, 0, 0]); // 8 bits, grayscale, deflate, adaptive filters, no interlace
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(&mut png, b"IDAT", &zlib_rows(&row, height.max(1)));
    chunk(&mut png, b"IEND", &[]);
    png
}

/// [`gradient`] as raw Base64 (no `data:` prefix), as the documents ask.
pub fn gradient_base64(width: u32, height: u32) -> String {
    STANDARD.encode(gradient(width, height))
}

/// Width and height of a PNG given as raw Base64 (`None` if it is not one).
pub fn base64_dimensions(b64: &str) -> Option<(u32, u32)> {
    // The signature and IHDR fit in the first 32 bytes: 44 Base64 characters hold 33.
    let head: String = b64.chars().take(44).collect();
    let bytes = STANDARD.decode(head.as_bytes()).ok()?;
    if bytes.len() < 24 || &bytes[..8] != b"\x89PNG\r\n\x1a\n" || &bytes[12..16] != b"IHDR" {
        return None;
    }
    let w = u32::from_be_bytes(bytes[16..20].try_into().ok()?);
    let h = u32::from_be_bytes(bytes[20..24].try_into().ok()?);
    Some((w, h))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Inflate a fixed-Huffman zlib stream as written above (only what the encoder emits).
    fn inflate(z: &[u8]) -> Vec<u8> {
        struct Rd<'a> {
            d: &'a [u8],
            pos: usize,
        }
        impl Rd<'_> {
            fn bit(&mut self) -> u32 {
                let b = (self.d[self.pos / 8] >> (self.pos % 8)) & 1;
                self.pos += 1;
                u32::from(b)
            }
            fn bits(&mut self, n: u32) -> u32 {
                (0..n).fold(0, |acc, i| acc | (self.bit() << i))
            }
            fn huff(&mut self, n: u32) -> u32 {
                (0..n).fold(0, |acc, _| (acc << 1) | self.bit())
            }
            fn sym(&mut self) -> u32 {
                let c7 = self.huff(7);
                if c7 <= 0x17 {
                    return c7 + 256;
                }
                let c8 = (c7 << 1) | self.bit();
                if (0x30..=0xbf).contains(&c8) {
                    return c8 - 0x30;
                }
                if (0xc0..=0xc7).contains(&c8) {
                    return c8 - 0xc0 + 280;
                }
                let c9 = (c8 << 1) | self.bit();
                c9 - 0x190 + 144
            }
        }
        let mut r = Rd {
            d: &z[2..z.len() - 4],
            pos: 0,
        };
        assert_eq!(r.bits(3), 0b011, "final fixed block");
        let mut out: Vec<u8> = Vec::new();
        loop {
            let s = r.sym();
            match s {
                0..=255 => out.push(s as u8),
                256 => break,
                _ => {
                    let i = (s - 257) as usize;
                    let len = LEN_BASE[i] + r.bits(LEN_EXTRA[i]);
                    let dcode = r.huff(5);
                    let (_, dextra, dbase) = (1..=32768)
                        .map(distance_code)
                        .find(|d| d.0 == dcode)
                        .unwrap();
                    let dist = (dbase + r.bits(dextra)) as usize;
                    for _ in 0..len {
                        out.push(out[out.len() - dist]);
                    }
                }
            }
        }
        out
    }

    #[test]
    fn the_png_has_the_size_asked_and_its_pixels_decode_back() {
        for (w, h) in [(640, 360), (360, 640), (300, 300), (301, 977)] {
            let png = gradient(w, h);
            let b64 = gradient_base64(w, h);
            assert!(!b64.starts_with("data:"));
            assert_eq!(base64_dimensions(&b64), Some((w, h)));
            // IDAT: after signature (8) + IHDR chunk (25) + IDAT length/type (8).
            let len = u32::from_be_bytes(png[33..37].try_into().unwrap()) as usize;
            let idat = &png[41..41 + len];
            let raw = inflate(idat);
            assert_eq!(raw.len(), (w as usize + 1) * h as usize);
            let row = &raw[..w as usize + 1];
            assert_eq!(row[0], 0);
            assert!(raw.chunks(w as usize + 1).all(|r| r == row));
            assert!(row[1] < row[w as usize], "a gradient");
            // The CRC of IEND is the well-known constant.
            assert_eq!(&png[png.len() - 4..], &[0xae, 0x42, 0x60, 0x82]);
        }
        assert!(
            gradient_base64(640, 360).len() < 6000,
            "small enough for a request body"
        );
        assert_eq!(base64_dimensions("not a png"), None);
    }

    #[test]
    fn ffmpeg_reads_the_png_where_it_is_installed() {
        let Ok(out) = std::process::Command::new("ffprobe")
            .arg("-version")
            .output()
        else {
            return;
        };
        if !out.status.success() {
            return;
        }
        let path = std::env::temp_dir().join(format!("kling-contract-{}.png", std::process::id()));
        std::fs::write(&path, gradient(640, 360)).unwrap();
        let probe = std::process::Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-show_entries",
                "stream=width,height",
                "-of",
                "csv=p=0",
            ])
            .arg(&path)
            .output()
            .unwrap();
        let decode = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(&path)
            .args(["-f", "null", "-"])
            .output()
            .unwrap();
        let _ = std::fs::remove_file(&path);
        assert!(
            probe.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&probe.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&probe.stdout).trim(), "640,360");
        assert!(
            decode.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&decode.stderr)
        );
    }
}
