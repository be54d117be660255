//! Images given as input (SOURCES.md: General Info, image rules): raw Base64 (no `data:` prefix)
//! or a URL; `.jpg/.jpeg/.png`, at most 10 MB, both sides at least 300 px, aspect ratio between
//! 1:2.5 and 2.5:1.
//!
//! What is checked when (FIDELITY.md: image inputs):
//! * at create (400 / 1201): a string that is neither a URL nor Base64, Base64 that does not
//!   decode ("File is not in a valid base64 format", the live message, also for a `data:` URI),
//!   decoded bytes that are not a JPEG or PNG, more than 10 MB; a URL of the mock's own media
//!   that is not an image;
//! * by the task (it ends `failed`): a picture smaller than 300 px ("Image pixel is invalid", a
//!   live failed task's message) or outside the aspect-ratio range, and a URL of the mock's own
//!   that names no file it generated (the download would be a 404).
//!
//! Foreign URLs are not fetched by default: their size and shape are unknown, and the output
//! takes the requested (or default 16:9) shape. With `--fetch-inputs` they are downloaded before
//! the task is created (`crate::kinds::fetch_images`) and measured as Base64 is ([`measure`]):
//! the video takes their shape, and a picture the rules refuse, or a download that fails
//! ([`downloaded`]), makes the task fail with a message naming the field and the URL.

use crate::engine::downloads::DownloadError;
use crate::error::KlingError;
use base64::Engine as _;

/// Largest input image, bytes.
pub const MAX_IMAGE_BYTES: usize = 10 * 1024 * 1024;
/// Smallest side, pixels.
pub const MIN_SIDE: u32 = 300;
/// Largest ratio of the long side to the short one.
pub const MAX_RATIO: f64 = 2.5;

/// An input image, as far as the mock knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Image {
    /// Base64 bytes, decoded: format and size known.
    Inline {
        /// Width, px.
        width: u32,
        /// Height, px.
        height: u32,
    },
    /// A URL (its size is unknown unless it is the mock's own file).
    Url(String),
    /// A foreign URL downloaded and measured (`--fetch-inputs`).
    Fetched {
        /// The URL.
        url: String,
        /// Width, px.
        width: u32,
        /// Height, px.
        height: u32,
    },
}

/// Why bytes are not a usable input image (the checks of [`measure`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unusable {
    /// More than [`MAX_IMAGE_BYTES`]: this many bytes.
    TooBig(usize),
    /// Neither a JPEG nor a PNG.
    NotJpegOrPng,
    /// A JPEG or PNG whose size cannot be read.
    Unreadable,
}

impl Unusable {
    /// The rule broken, for the field `name` ("image must be a .jpg/.jpeg/.png image").
    pub fn describe(self, name: &str) -> String {
        match self {
            Unusable::TooBig(n) => format!(
                "{name} must be at most 10MB, got {:.1}MB",
                n as f64 / 1_048_576.0
            ),
            Unusable::NotJpegOrPng => format!("{name} must be a .jpg/.jpeg/.png image"),
            Unusable::Unreadable => format!("{name} is not a readable .jpg/.jpeg/.png image"),
        }
    }
}

/// The width and height of an input image's bytes: a JPEG or PNG of at most 10 MB. Reads the
/// header only.
pub fn measure(bytes: &[u8]) -> Result<(u32, u32), Unusable> {
    if bytes.len() > MAX_IMAGE_BYTES {
        return Err(Unusable::TooBig(bytes.len()));
    }
    let fmt = imagesize::image_type(bytes).ok();
    if !matches!(
        fmt,
        Some(imagesize::ImageType::Jpeg | imagesize::ImageType::Png)
    ) {
        return Err(Unusable::NotJpegOrPng);
    }
    let size = imagesize::blob_size(bytes).map_err(|_| Unusable::Unreadable)?;
    let side = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    Ok((side(size.width), side(size.height)))
}

/// What downloading the image of field `name` at `url` came to (`--fetch-inputs`): its size, or
/// the failed task's message ("Failed to download the image file of image: HTTP 404 for
/// https://…"; "image must be a .jpg/.jpeg/.png image (https://…)").
pub fn downloaded(
    name: &str,
    url: &str,
    got: Result<bytes::Bytes, DownloadError>,
) -> Result<(u32, u32), String> {
    let bytes =
        got.map_err(|e| format!("Failed to download the image file of {name}: {e} for {url}"))?;
    measure(&bytes).map_err(|u| format!("{} ({url})", u.describe(name)))
}

/// The images of `named` given by URL and not measured yet, as (field, URL): what a kind's
/// `Job::remote_images` lists.
pub fn remote<'a>(named: impl IntoIterator<Item = (String, &'a Image)>) -> Vec<(String, String)> {
    named
        .into_iter()
        .filter_map(|(name, img)| img.unmeasured_url().map(|u| (name, u.to_string())))
        .collect()
}

/// Whether `url` points at the mock's own server (its base URL `base`, then a path, a query or
/// nothing): never fetched over HTTP, checked against what the mock knows instead.
pub fn is_own(base: &str, url: &str) -> bool {
    !base.is_empty()
        && url
            .strip_prefix(base)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?', '#']))
}

impl Image {
    /// Read field `name` (a URL or raw Base64).
    pub fn parse(name: &str, value: &str) -> Result<Image, KlingError> {
        let v = value.trim();
        if v.starts_with("http://") || v.starts_with("https://") {
            super::super::fields::http_url(name, v)?;
            return Ok(Image::Url(v.to_string()));
        }
        if v.contains("://") {
            return Err(KlingError::param(format!(
                "{name} must be an http or https URL or raw Base64 image data"
            )));
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(v.as_bytes())
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(v.as_bytes()))
            .map_err(|_| {
                KlingError::param(format!(
                    "File is not in a valid base64 format: {name} (send raw Base64 without a data: prefix, or a URL)"
                ))
            })?;
        let (width, height) = measure(&bytes).map_err(|u| KlingError::param(u.describe(name)))?;
        Ok(Image::Inline { width, height })
    }

    /// Its size, when known.
    pub fn size(&self) -> Option<(u32, u32)> {
        match self {
            Image::Inline { width, height } | Image::Fetched { width, height, .. } => {
                Some((*width, *height))
            }
            Image::Url(_) => None,
        }
    }

    /// The URL, while it is not measured (a Base64 image, or one already downloaded: `None`).
    pub fn unmeasured_url(&self) -> Option<&str> {
        match self {
            Image::Url(u) => Some(u),
            _ => None,
        }
    }

    /// Take what downloading this URL came to ([`downloaded`]): with its size it is measured
    /// from then on, like a Base64 image. Returns why a task given it fails, if it does (the
    /// download's failure, or the size and shape rules of [`Image::failure`]).
    pub fn take_download(&mut self, result: Result<(u32, u32), String>) -> Option<String> {
        let (width, height) = match result {
            Ok(size) => size,
            Err(reason) => return Some(reason),
        };
        if let Image::Url(url) = self {
            *self = Image::Fetched {
                url: std::mem::take(url),
                width,
                height,
            };
        }
        self.failure()
    }

    /// Why a task given this image fails, if it does (size and shape rules).
    pub fn failure(&self) -> Option<String> {
        let (w, h) = self.size()?;
        if w < MIN_SIDE || h < MIN_SIDE {
            return Some("Image pixel is invalid".into());
        }
        let r = w.max(h) as f64 / w.min(h) as f64;
        (r > MAX_RATIO + 1e-9).then(|| "Image aspect ratio is invalid".into())
    }
}

/// A video given by URL (`video_url`, `video_list[].video_url`): an http(s) URL whose path ends
/// in `.mp4` or `.mov`.
pub fn video_url(name: &str, value: &str) -> Result<String, KlingError> {
    let u = super::super::fields::http_url(name, value)?;
    let path = u.path().to_ascii_lowercase();
    if !(path.ends_with(".mp4") || path.ends_with(".mov")) {
        return Err(KlingError::param(format!(
            "{name} must be a .mp4/.mov video URL, got '{value}'"
        )));
    }
    Ok(value.trim().to_string())
}

/// What the mock knows of a video URL: `Ok(Some(file))` for one of its own generated videos,
/// `Ok(None)` for a foreign URL (not fetched), `Err(reason)` for one of its own names that it
/// never generated or that expired (the task fails as the download would).
pub fn own_video(
    s: &super::super::Ctx<'_>,
    url: &str,
) -> Result<Option<crate::media::VideoFile>, String> {
    if !is_own(s.engine.base_url(), url) {
        return Ok(None);
    }
    let Some((token, _)) = crate::media::parse_file_name(url) else {
        return Ok(None);
    };
    match s.media.video(&token, s.clock.now_ms()) {
        Some(v) => Ok(Some(v)),
        None => Err(format!(
            "Failed to download the video file: HTTP 404 for {url}"
        )),
    }
}

/// Check an image URL that points at the mock's own files (`{base}/files/kling_<uuid>.<ext>`):
/// one of its generated images is measured (the image becomes [`Image::Fetched`] with its size,
/// and the size rules of [`Image::failure`] apply); a generated audio or video is not an image
/// (400 / 1201); a name the mock never generated, or one past its retention, makes the task fail
/// as the download would. Foreign URLs pass untouched.
pub fn own_file_check(
    s: &super::super::Ctx<'_>,
    name: &str,
    img: &mut Image,
) -> Result<Option<String>, KlingError> {
    let Image::Url(url) = img else {
        return Ok(None);
    };
    if !is_own(s.engine.base_url(), url) {
        return Ok(None);
    }
    let Some((token, format)) = crate::media::parse_file_name(url) else {
        return Ok(None);
    };
    let now = s.clock.now_ms();
    if let Some(pic) = s.media.image(&token, now) {
        *img = Image::Fetched {
            url: std::mem::take(url),
            width: pic.width,
            height: pic.height,
        };
        return Ok(img.failure());
    }
    let known = s.media.file(&token, now).is_some() || s.media.video(&token, now).is_some();
    if known {
        return Err(KlingError::param(format!(
            "{name} must be a .jpg/.jpeg/.png image, got the mock's .{} file {url}",
            format.ext()
        )));
    }
    Ok(Some(format!(
        "Failed to download the image file: HTTP 404 for {url}"
    )))
}

/// [`own_file_check`] on every named input of a request (`Job::resolve`): the first reason a
/// task given them fails, if any.
pub fn own_files_check<N: AsRef<str>>(
    s: &super::super::Ctx<'_>,
    named: &mut [(N, Image)],
) -> Result<Option<String>, KlingError> {
    let mut failure = None;
    for (name, img) in named.iter_mut() {
        if let Some(f) = own_file_check(s, name.as_ref(), img)? {
            failure.get_or_insert(f);
        }
    }
    Ok(failure)
}

/// Hand what downloading the input of `field` came to to that input ([`Image::take_download`],
/// `Job::measured`): why a task given it fails, if it does; `None` too for a field not named.
pub fn take_download_of<N: AsRef<str>>(
    named: &mut [(N, Image)],
    field: &str,
    result: Result<(u32, u32), String>,
) -> Option<String> {
    named
        .iter_mut()
        .find(|(n, _)| n.as_ref() == field)
        .and_then(|(_, img)| img.take_download(result))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A PNG header (signature and IHDR) of `w × h`: enough for size checks.
    pub(crate) fn png_b64(w: u32, h: u32) -> String {
        let mut b = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
        b.extend_from_slice(&13u32.to_be_bytes());
        b.extend_from_slice(b"IHDR");
        b.extend_from_slice(&w.to_be_bytes());
        b.extend_from_slice(&h.to_be_bytes());
        b.extend_from_slice(&[8, 2, 0, 0, 0, 0, 0, 0, 0]);
        base64::engine::general_purpose::STANDARD.encode(b)
    }

    #[test]
    fn base64_images_are_measured() {
        let img = Image::parse("image", &png_b64(1280, 720)).unwrap();
        assert_eq!(img.size(), Some((1280, 720)));
        assert_eq!(img.failure(), None);
        let small = Image::parse("image", &png_b64(299, 720)).unwrap();
        assert_eq!(small.failure().as_deref(), Some("Image pixel is invalid"));
        let thin = Image::parse("image", &png_b64(300, 751)).unwrap();
        assert_eq!(
            thin.failure().as_deref(),
            Some("Image aspect ratio is invalid")
        );
    }

    #[test]
    fn bad_inputs_are_refused_with_the_field_named() {
        let data_uri = format!("data:image/png;base64,{}", png_b64(500, 500));
        let e = Image::parse("image", &data_uri).unwrap_err();
        assert!(
            e.message
                .starts_with("File is not in a valid base64 format"),
            "{}",
            e.message
        );
        let gif = base64::engine::general_purpose::STANDARD.encode(b"GIF89a\x01\x00\x01\x00");
        let e = Image::parse("image_tail", &gif).unwrap_err();
        assert_eq!(e.message, "image_tail must be a .jpg/.jpeg/.png image");
        let e = Image::parse("image", "ftp://x/y.png").unwrap_err();
        assert!(e.message.contains("http or https"), "{}", e.message);
        assert!(matches!(
            Image::parse("image", "https://example.com/cat.jpg"),
            Ok(Image::Url(_))
        ));
    }

    #[test]
    fn a_downloaded_image_is_measured_like_base64() {
        use base64::Engine as _;
        let png = base64::engine::general_purpose::STANDARD
            .decode(png_b64(600, 1200))
            .unwrap();
        let url = "https://x.example/a.png";
        assert_eq!(downloaded("image", url, Ok(png.into())), Ok((600, 1200)));
        assert_eq!(
            downloaded("image_tail", url, Err(DownloadError::Status(404))),
            Err("Failed to download the image file of image_tail: HTTP 404 for https://x.example/a.png".into())
        );
        assert_eq!(
            downloaded("image", url, Ok(bytes::Bytes::from_static(b"<html>"))),
            Err("image must be a .jpg/.jpeg/.png image (https://x.example/a.png)".into())
        );
        let mut img = Image::parse("image", url).unwrap();
        assert_eq!(img.unmeasured_url(), Some(url));
        assert_eq!(
            img.take_download(Ok((200, 200))).as_deref(),
            Some("Image pixel is invalid")
        );
        assert_eq!((img.size(), img.unmeasured_url()), (Some((200, 200)), None));
    }

    #[test]
    fn own_urls_are_those_under_the_base_url() {
        let base = "http://127.0.0.1:4000";
        assert!(is_own(base, "http://127.0.0.1:4000/files/kling_x.png"));
        assert!(is_own(base, base));
        assert!(!is_own(base, "http://127.0.0.1:40001/files/kling_x.png"));
        assert!(!is_own(base, "https://example.com/a.png"));
        assert!(!is_own("", "https://example.com/a.png"));
    }
}
