//! *media*: every result URL can be fetched. Audio decodes and lasts its declared duration
//! (within 50 ms: encoders pad to whole frames). A video family's result (any model, mode and
//! duration the capability map allows; the cheapest against a paying target) is an MP4 that
//! `ffprobe` reads, whose container lasts the declared `duration` within one frame (and the
//! declared one the requested one within half a second), whose frame size and rate are the
//! oracle's output spec for its model, mode and aspect ratio (`fixtures/video-models.json`),
//! with an audio stream exactly when `sound` was `on`, and that `ffmpeg -v error` decodes
//! without a word; with `watermark_info.enabled` the `watermark_url` file exists and differs
//! from `url`, and the query echoes `watermark_info`. Without `ffprobe` the files are fetched
//! but not decoded, and the run's notes say so.
//!
//! An image family's task (any body the documents accept; the example against a paying target)
//! makes as many images as asked (`n`; an omni series its `series_amount`, 2-9 for `auto`), each a
//! PNG or JPEG that decodes, of the requested aspect ratio and resolution class (or the input's
//! size grown by the expansion ratios, the person image's size for a try-on:
//! `fixtures/image-models.json` `sizes`), no two alike; with `watermark_info.enabled` each
//! `watermark_url` decodes to another picture of the same size.
//!
//! A video made for a source (`media.from_source`: video to audio and lip-sync take a video,
//! avatar an audio, from another family's task) lasts the source's length (within half a second)
//! and has a source video's frame size and rate; video to audio's `audios` (MP3 and WAV) decode
//! to their declared lengths, which are the video's (an MP3 may be padded by 0.1 s). A result
//! shape without `duration` (effects: §5.10 lists `{id, url, watermark_url}`) is measured against
//! the requested `input.duration`. A result that follows an input video (`media.duration_ranges`:
//! multi-elements, §5.6: duration 5 edits a 2-5 s video, 10 one of 7-10 s) is declared within
//! that range (give or take half a second). Image recognition (synchronous, §5.11) answers segmentations of
//! the four documented types, and the mask of each part it contains decodes as a PNG or JPEG.

use super::{billable_cases, check_envelope, create_ok, ensure, fail, need_budget, prepared};
use crate::bodies::GenOpts;
use crate::ctx::Ctx;
use crate::model::Family;
use crate::report::{PropResult, check_with};
use crate::rules::Scope;
use crate::target::Reply;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{Value, json};

/// Largest accepted difference between declared and decoded duration, seconds.
pub const TOLERANCE: f64 = 0.05;

/// Largest accepted difference between an MP3's length and the length it was made for, seconds:
/// an MP3 encoder adds its delay and pads the last frame (up to about three 1152-sample frames).
pub const MP3_PADDING: f64 = 0.1;

fn check_file(
    ctx: &Ctx,
    url: &Value,
    duration: &Value,
    reply: &Reply,
) -> Result<(), TestCaseError> {
    let url = url
        .as_str()
        .ok_or_else(|| fail("a result has no URL", reply))?;
    let declared: f64 = duration
        .as_str()
        .and_then(|d| d.parse().ok())
        .ok_or_else(|| {
            fail(
                format!("the duration of {url} is not a number string"),
                reply,
            )
        })?;
    let (status, bytes) = ctx.target.fetch(url).map_err(|e| fail(e, reply))?;
    ensure(
        status == 200,
        format!("GET {url} answered HTTP {status}"),
        reply,
    )?;
    let ext = url
        .split('?')
        .next()
        .and_then(|p| p.rsplit('.').next())
        .unwrap_or("mp3")
        .to_string();
    let secs =
        crate::audio::duration_secs(bytes, &ext).map_err(|e| fail(format!("{url}: {e}"), reply))?;
    ensure(
        (secs - declared).abs() <= TOLERANCE,
        format!("{url} plays {secs:.3}s, declared {declared}s"),
        reply,
    )
}

/// A media case.
#[derive(Clone, Debug)]
pub enum Case {
    /// A text-to-audio task of this many tenths of a second.
    TextToAudio(u32),
    /// A TTS call with these words.
    Tts(String),
    /// An image recognition of this picture (an index into the harness's PNGs; 3: the sample
    /// image URL).
    Recognize(usize),
    /// A task of an image family (an index into the oracle's families) with this body and
    /// `watermark_info.enabled` (absent when `None`).
    Image {
        /// The family.
        family: usize,
        /// The create body.
        body: Value,
        /// `watermark_info.enabled`.
        watermark: Option<bool>,
    },
    /// A task of a video family (an index into the oracle's families) with this body, and
    /// `watermark_info.enabled` set to this (absent when `None`).
    Video {
        /// The family.
        family: usize,
        /// The create body.
        body: Value,
        /// `watermark_info.enabled`.
        watermark: Option<bool>,
    },
}

/// What a video result must be, from the oracle.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Expected {
    /// Width × height, when the aspect ratio and the output spec are known.
    pub size: Option<(u32, u32)>,
    /// Frames per second.
    pub fps: Option<f64>,
    /// Whether an audio stream is expected (`None`: not checked).
    pub audio: Option<bool>,
    /// The requested duration, seconds.
    pub requested: Option<f64>,
    /// The lengths the requested duration allows, seconds, where the result follows an input
    /// (`media.duration_ranges`: multi-elements' "5" is 2-5 s); then `requested` is `None`.
    pub range: Option<(f64, f64)>,
    /// What the spec is for (for messages): model, mode, aspect ratio.
    pub what: String,
}

/// The aspect ratio of a raw Base64 PNG, if it is one of the three documented ones.
fn png_aspect(b64: &str) -> Option<&'static str> {
    let (w, h) = crate::png::base64_dimensions(b64)?;
    let r = w as f64 / h as f64;
    [("16:9", 16.0 / 9.0), ("9:16", 9.0 / 16.0), ("1:1", 1.0)]
        .into_iter()
        .find(|(_, x)| (r - x).abs() < 0.01)
        .map(|(a, _)| a)
}

/// The oracle's expectation for a video task of family `f` created with `body`.
pub fn expected(ctx: &Ctx, f: &Family, body: &Value) -> Expected {
    let c = &ctx.contract;
    let ep = c.endpoint(&f.create);
    let empty = serde_json::Map::new();
    let scope = Scope {
        fields: &ep.fields,
        obj: body.as_object().unwrap_or(&empty),
    };
    let text = |k: &str| {
        scope
            .effective(k)
            .and_then(|v| v.as_str().map(str::to_string))
    };
    let media = f.media.clone().unwrap_or_default();
    let mut e = Expected {
        audio: match &media.audio {
            Some(Value::Bool(b)) => Some(*b),
            Some(cond) => crate::rules::parse_cond(cond).ok().map(|c| scope.holds(&c)),
            None => None,
        },
        requested: media
            .duration
            .as_deref()
            .and_then(text)
            .and_then(|d| d.parse().ok()),
        ..Expected::default()
    };
    if let Some([lo, hi]) = media
        .duration
        .as_deref()
        .and_then(text)
        .and_then(|d| media.duration_ranges.get(&d).copied())
    {
        e.requested = None;
        e.range = Some((lo, hi));
    }
    // A video made for a source (video to audio, lip-sync: a video; avatar: an audio): the
    // source's length, and a source video's size and rate.
    if media.from_source {
        let source = f
            .needs
            .keys()
            .find_map(|k| crate::model::at_path(body, k))
            .and_then(|v| ctx.source_of(v));
        if let Some(s) = source
            && let Some(sf) = c.family(&s.family)
        {
            let from = expected(ctx, sf, &s.body);
            e.size = from.size;
            e.fps = from.fps;
            e.requested = s.result[media.source_duration.as_deref().unwrap_or("duration")]
                .as_str()
                .and_then(|d| d.parse().ok());
            e.what = format!("its source {}", from.what);
        }
        return e;
    }
    let fam = ep.capabilities.as_deref().unwrap_or_default();
    // A video made from another (video-extend): its spec is the source's.
    if c.video
        .families
        .get(fam)
        .is_some_and(|x| x.output_from_source)
    {
        let source = f
            .needs
            .keys()
            .find_map(|k| body.get(k.as_str()))
            .and_then(|v| ctx.source_of(v));
        if let Some(s) = source
            && let Some(sf) = c.family(&s.family)
        {
            let from = expected(ctx, sf, &s.body);
            e.size = from.size;
            e.fps = from.fps;
            e.what = format!("its source {}", from.what);
        }
        return e;
    }
    let model = ep.model_field.as_deref().and_then(text);
    let mode = text("mode").unwrap_or_else(|| "std".into());
    let Some(out) = model.as_deref().and_then(|m| c.video.output(fam, m)) else {
        return e;
    };
    e.fps = Some(out.fps);
    let aspect = match &media.aspect {
        Some(Value::Object(o)) if o.contains_key("field") => {
            o["field"].as_str().and_then(text).map(|a| a.to_string())
        }
        Some(Value::Object(o)) if o.contains_key("image") => o["image"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|k| body.get(k.as_str()?)?.as_str())
            .find_map(png_aspect)
            .map(str::to_string),
        _ => None,
    };
    if let Some(a) = &aspect {
        e.size = c.video.frame_size(out.quality(&mode), a);
    }
    e.what = format!(
        "{} {mode}{}",
        model.unwrap_or_default(),
        aspect.map(|a| format!(" {a}")).unwrap_or_default()
    );
    e
}

/// Fetch a result URL: HTTP 200 and not empty.
pub fn fetch(ctx: &Ctx, url: &str, reply: &Reply) -> Result<Vec<u8>, TestCaseError> {
    let (status, bytes) = ctx.target.fetch(url).map_err(|e| fail(e, reply))?;
    ensure(
        status == 200,
        format!("GET {url} answered HTTP {status}"),
        reply,
    )?;
    ensure(!bytes.is_empty(), format!("{url} is empty"), reply)?;
    Ok(bytes)
}

/// Check one video of a result against the expectation; `shape` is the family's result shape
/// (a `duration` it makes optional is then the requested one).
pub fn check_video(
    ctx: &Ctx,
    video: &Value,
    shape: &str,
    want: &Expected,
    watermark: Option<bool>,
    reply: &Reply,
) -> Result<(), TestCaseError> {
    crate::shape::check(&ctx.contract.shapes, &Value::from(shape), video, "video")
        .map_err(|e| fail(e, reply))?;
    let url = video["url"].as_str().unwrap_or_default();
    let declared: f64 = match video.get("duration") {
        None if want.requested.is_some() => want.requested.unwrap_or_default(),
        d => d
            .and_then(Value::as_str)
            .and_then(|d| d.parse().ok())
            .ok_or_else(|| {
                fail(
                    format!("the duration of {url} is not a number string"),
                    reply,
                )
            })?,
    };
    if let Some(req) = want.requested {
        ensure(
            (declared - req).abs() <= 0.5,
            format!("{url} is declared {declared}s long, {req}s were asked for"),
            reply,
        )?;
    }
    if let Some((lo, hi)) = want.range {
        ensure(
            declared >= lo - 0.5 && declared <= hi + 0.5,
            format!("{url} is declared {declared}s long, the duration asked for makes {lo}-{hi}s"),
            reply,
        )?;
    }
    let bytes = fetch(ctx, url, reply)?;
    if watermark == Some(true) {
        let wm = video["watermark_url"]
            .as_str()
            .filter(|u| url::Url::parse(u).is_ok())
            .ok_or_else(|| {
                fail(
                    "watermark_info.enabled was true, the result has no watermark_url",
                    reply,
                )
            })?;
        let marked = fetch(ctx, wm, reply)?;
        ensure(
            marked != bytes,
            format!("the watermarked file {wm} is the same file as {url}"),
            reply,
        )?;
    }
    if !crate::video::available() {
        ctx.note(
            "media: ffprobe / ffmpeg not found (Debian package ffmpeg): result MP4s were \
             downloaded but not decoded",
        );
        return Ok(());
    }
    let p = crate::video::probe(&bytes).map_err(|e| fail(format!("{url}: {e}"), reply))?;
    ensure(
        p.format.split(',').any(|f| f == "mp4"),
        format!("{url} is not an MP4 ({})", p.format),
        reply,
    )?;
    let fps = want.fps.unwrap_or(p.fps);
    ensure(
        (p.duration - declared).abs() <= 1.0 / fps + 0.001,
        format!(
            "{url} plays {:.3}s, declared {declared}s (more than one frame apart at {fps} fps)",
            p.duration
        ),
        reply,
    )?;
    if let Some(size) = want.size {
        ensure(
            (p.width, p.height) == size,
            format!(
                "{url} has frame size {}x{}, the output spec of {} is {}x{}",
                p.width, p.height, want.what, size.0, size.1
            ),
            reply,
        )?;
    }
    if let Some(f) = want.fps {
        ensure(
            (p.fps - f).abs() < 0.01,
            format!(
                "{url} runs at {:.3} fps, the output spec of {} is {f}",
                p.fps, want.what
            ),
            reply,
        )?;
    }
    if let Some(audio) = want.audio {
        ensure(
            p.audio == audio,
            if audio {
                format!("{url} has no audio stream, but sound was on (or a track made for it)")
            } else {
                format!("{url} has an audio stream, but sound was not on")
            },
            reply,
        )?;
    }
    let errors = crate::video::decode_errors(&bytes).map_err(|e| fail(e, reply))?;
    ensure(
        errors.is_empty(),
        format!("ffmpeg reports errors decoding {url}: {errors}"),
        reply,
    )
}

/// Create `body` (its needs made, `watermark_info` set when `watermark` is given) and wait for
/// the task: the body sent and the final query, which must show it succeeded and echo the
/// watermark setting.
fn succeeded(
    ctx: &Ctx,
    f: &Family,
    body: Value,
    watermark: Option<bool>,
) -> Result<(Value, Reply), TestCaseError> {
    let mut body = prepared(ctx, &f.create, 0, body)?;
    if let (Some(w), Some(o)) = (watermark, body.as_object_mut()) {
        o.insert("watermark_info".into(), json!({ "enabled": w }));
    }
    let (_, id) = create_ok(ctx, &f.create, 0, body.clone())?;
    let mut replies = ctx.settle(0, &ctx.contract.endpoint(&f.get).path, &id);
    let last = replies
        .pop()
        .ok_or_else(|| TestCaseError::fail("no answer"))?;
    check_envelope(ctx, &last, "task")?;
    ensure(
        last.data()["task_status"] == "succeed",
        format!("the {} task did not succeed", f.name),
        &last,
    )?;
    if let Some(w) = watermark {
        ensure(
            last.data()["watermark_info"]["enabled"] == w,
            format!("the query does not echo watermark_info {{enabled: {w}}}"),
            &last,
        )?;
    }
    Ok((body, last))
}

fn video_case(
    ctx: &Ctx,
    f: &Family,
    body: Value,
    watermark: Option<bool>,
) -> Result<(), TestCaseError> {
    let (body, last) = succeeded(ctx, f, body, watermark)?;
    let last = &last;
    for (field, need) in &f.needs {
        if need.result_field == "id"
            && let Some(sent) = crate::model::at_path(&body, field)
        {
            ensure(
                &last.data()["task_info"]["parent_video"]["id"] == sent,
                format!("task_info.parent_video.id is not the {field} extended"),
                last,
            )?;
        }
    }
    let want = expected(ctx, f, &body);
    let videos = last.data()["task_result"][f.results.as_str()]
        .as_array()
        .cloned()
        .unwrap_or_default();
    ensure(!videos.is_empty(), "a succeeded task has no videos", last)?;
    let shape = f.result_shape.as_deref().unwrap_or("video");
    for v in &videos {
        check_video(ctx, v, shape, &want, watermark, last)?;
    }
    if let Some(key) = f.media.as_ref().and_then(|m| m.audios.as_deref()) {
        check_audios(ctx, key, &videos[0], last)?;
    }
    Ok(())
}

/// The audio results of a video task (video to audio's `audios`): at least one, each shaped
/// `audio_t2a`, its MP3 and WAV decoding to their declared durations, which are the video's.
fn check_audios(ctx: &Ctx, key: &str, video: &Value, last: &Reply) -> Result<(), TestCaseError> {
    let audios = last.data()["task_result"][key]
        .as_array()
        .cloned()
        .unwrap_or_default();
    ensure(
        !audios.is_empty(),
        format!("a succeeded task has no task_result.{key}"),
        last,
    )?;
    let video_secs: Option<f64> = video["duration"].as_str().and_then(|d| d.parse().ok());
    for a in &audios {
        crate::shape::check(&ctx.contract.shapes, &Value::from("audio_t2a"), a, key)
            .map_err(|e| fail(e, last))?;
        check_file(ctx, &a["url_mp3"], &a["duration_mp3"], last)?;
        check_file(ctx, &a["url_wav"], &a["duration_wav"], last)?;
        for (d, slack) in [("duration_mp3", MP3_PADDING), ("duration_wav", TOLERANCE)] {
            let secs: f64 = a[d].as_str().and_then(|x| x.parse().ok()).unwrap_or(-1.0);
            if let Some(v) = video_secs {
                ensure(
                    (secs - v).abs() <= slack,
                    format!(
                        "{key} {d} is {secs}s, the video {v}s: the sound is made for the video"
                    ),
                    last,
                )?;
            }
        }
    }
    Ok(())
}

/// The video cases: every video family, any body the documents accept (a paying target: the
/// family's example), `watermark_info.enabled` absent, true (more often) or false.
pub fn video_cases(ctx: &Ctx) -> Option<BoxedStrategy<Case>> {
    let opts = GenOpts {
        cheap: !ctx.target.is_mock,
    };
    let c = &ctx.contract;
    let videos: Vec<BoxedStrategy<Case>> = c
        .families
        .iter()
        .enumerate()
        .filter(|(_, f)| f.media.is_some())
        .map(|(i, f)| {
            let body = if opts.cheap {
                Just(crate::bodies::example_with_stand_ins(c, f)).boxed()
            } else {
                crate::bodies::valid_body(c, &f.create, opts)
            };
            let marked = c
                .endpoint(&f.create)
                .fields
                .iter()
                .any(|x| x.name == "watermark_info");
            let watermark = if marked {
                prop_oneof![
                    1 => Just(None),
                    2 => Just(Some(true)),
                    1 => Just(Some(false)),
                ]
                .boxed()
            } else {
                Just(None).boxed()
            };
            (body, watermark)
                .prop_map(move |(body, watermark)| Case::Video {
                    family: i,
                    body,
                    watermark,
                })
                .boxed()
        })
        .collect();
    (!videos.is_empty()).then(|| proptest::strategy::Union::new(videos).boxed())
}

/// One image of a result, fetched and decoded, checked against the expected size; its pixels.
pub fn check_image(
    ctx: &Ctx,
    url: &str,
    want: &crate::image::SizeWant,
    reply: &Reply,
) -> Result<crate::image::Decoded, TestCaseError> {
    let bytes = fetch(ctx, url, reply)?;
    let d = crate::image::decode(&bytes).map_err(|e| fail(format!("{url}: {e}"), reply))?;
    want.judge(d.width, d.height)
        .map_err(|e| fail(format!("{url}: {e}"), reply))?;
    Ok(d)
}

/// Check the images of a succeeded image task created with `body`.
pub fn check_images(
    ctx: &Ctx,
    f: &Family,
    body: &Value,
    watermark: Option<bool>,
    last: &Reply,
) -> Result<(), TestCaseError> {
    let want = crate::image_models::expected(&ctx.contract, f, body);
    let images = last.data()["task_result"][want.results.as_str()]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let n = images.len() as u32;
    ensure(
        n >= want.min && n <= want.max,
        if want.max == u32::MAX {
            format!(
                "task_result.{} holds {n} images, at least {} asked for",
                want.results, want.min
            )
        } else if want.min == want.max {
            format!(
                "task_result.{} holds {n} images, {} asked for",
                want.results, want.min
            )
        } else {
            format!(
                "task_result.{} holds {n} images, {}-{} expected",
                want.results, want.min, want.max
            )
        },
        last,
    )?;
    let mut seen: Vec<(String, Vec<u8>)> = Vec::new();
    for img in &images {
        crate::shape::check(&ctx.contract.shapes, &Value::from("image"), img, "image")
            .map_err(|e| fail(e, last))?;
        let url = img["url"].as_str().unwrap_or_default();
        let plain = check_image(ctx, url, &want.size, last)?;
        if watermark == Some(true) {
            let wm = img["watermark_url"]
                .as_str()
                .filter(|u| url::Url::parse(u).is_ok())
                .ok_or_else(|| {
                    fail(
                        "watermark_info.enabled was true, an image has no watermark_url",
                        last,
                    )
                })?;
            ensure(wm != url, format!("watermark_url is url ({url})"), last)?;
            let marked = check_image(ctx, wm, &want.size, last)?;
            ensure(
                (marked.width, marked.height) == (plain.width, plain.height),
                format!(
                    "the watermarked {wm} is {}x{}, the image {}x{}",
                    marked.width, marked.height, plain.width, plain.height
                ),
                last,
            )?;
            ensure(
                marked.pixels != plain.pixels,
                format!("the watermarked {wm} is the same picture as {url}"),
                last,
            )?;
        }
        if let Some((other, _)) = seen.iter().find(|(_, p)| *p == plain.pixels) {
            return Err(fail(
                format!("{url} is the same picture as {other}: the images of one task must differ"),
                last,
            ));
        }
        seen.push((url.to_string(), plain.pixels));
    }
    Ok(())
}

fn image_case(
    ctx: &Ctx,
    f: &Family,
    body: Value,
    watermark: Option<bool>,
) -> Result<(), TestCaseError> {
    let (body, last) = succeeded(ctx, f, body, watermark)?;
    check_images(ctx, f, &body, watermark, &last)
}

/// The image cases: every image family, any body the documents accept (a paying target: the
/// family's example), `watermark_info.enabled` absent, true (more often) or false where the
/// family has it.
pub fn image_cases(ctx: &Ctx) -> Option<BoxedStrategy<Case>> {
    let cheap = !ctx.target.is_mock;
    let c = &ctx.contract;
    let images: Vec<BoxedStrategy<Case>> = c
        .families
        .iter()
        .enumerate()
        .filter(|(_, f)| f.image_media.is_some())
        .map(|(i, f)| {
            let body = if cheap {
                Just(crate::bodies::example_with_stand_ins(c, f)).boxed()
            } else {
                crate::bodies::valid_body(c, &f.create, GenOpts { cheap })
            };
            let marked = c
                .endpoint(&f.create)
                .fields
                .iter()
                .any(|x| x.name == "watermark_info");
            let watermark = if marked {
                prop_oneof![
                    1 => Just(None),
                    2 => Just(Some(true)),
                    1 => Just(Some(false)),
                ]
                .boxed()
            } else {
                Just(None).boxed()
            };
            let series = f
                .image_media
                .as_ref()
                .and_then(|m| m.series.as_ref())
                .and_then(|sr| Some((sr.example.clone()?, sr.count.clone())))
                .filter(|_| !cheap);
            let body = match series {
                Some((example, count)) => {
                    let amounts = c
                        .endpoint(&f.create)
                        .fields
                        .iter()
                        .find(|x| x.name == count)
                        .and_then(|x| x.values.clone())
                        .unwrap_or_default();
                    let series_body = proptest::sample::select(amounts).prop_map(move |a| {
                        let mut b = example.clone();
                        b[count.as_str()] = Value::from(a);
                        b
                    });
                    prop_oneof![body, series_body].boxed()
                }
                None => body,
            };
            (body, watermark)
                .prop_map(move |(body, watermark)| Case::Image {
                    family: i,
                    body,
                    watermark,
                })
                .boxed()
        })
        .collect();
    (!images.is_empty()).then(|| proptest::strategy::Union::new(images).boxed())
}

/// The audio cases: text-to-audio and TTS; and the synchronous image recognition.
pub fn audio_cases() -> BoxedStrategy<Case> {
    prop_oneof![
        (30u32..=100).prop_map(Case::TextToAudio),
        "[a-z ]{1,80}".prop_map(Case::Tts),
        (0usize..4).prop_map(Case::Recognize),
    ]
    .boxed()
}

/// The segmentation types of image recognition (kling-api.md §5.11).
pub const RECOGNIZED_TYPES: [&str; 4] = ["object_seg", "head_seg", "face_seg", "cloth_seg"];

/// An image recognition (§5.11): the answer holds segmentations, each of a documented `type`,
/// and every one that `is_contain`s its part has a mask URL that decodes as a PNG or JPEG.
fn recognize_case(ctx: &Ctx, picture: usize) -> Result<(), TestCaseError> {
    let image = crate::bodies::PNGS
        .get(picture)
        .cloned()
        .unwrap_or_else(|| crate::bodies::SAMPLE_IMAGE_URL.to_string());
    let r = super::sent(ctx.create("image_recognize", 0, json!({ "image": image })))?;
    check_envelope(ctx, &r, &ctx.contract.endpoint("image_recognize").response)?;
    ensure(
        r.is_success(),
        "image recognition refused a valid image",
        &r,
    )?;
    let images = r.data()["task_result"]["images"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    ensure(
        !images.is_empty(),
        "image recognition answered no task_result.images",
        &r,
    )?;
    for img in &images {
        let ty = img["type"].as_str().unwrap_or_default();
        ensure(
            RECOGNIZED_TYPES.contains(&ty),
            format!("a recognized type {ty:?} is not one of {RECOGNIZED_TYPES:?}"),
            &r,
        )?;
        if img["is_contain"] == true {
            let url = img["url"]
                .as_str()
                .filter(|u| url::Url::parse(u).is_ok())
                .ok_or_else(|| fail(format!("the {ty} mask has no URL"), &r))?;
            let bytes = fetch(ctx, url, &r)?;
            crate::image::decode(&bytes)
                .map_err(|e| fail(format!("the {ty} mask {url}: {e}"), &r))?;
        }
    }
    Ok(())
}

/// Video cases at most per run: each makes, fetches and decodes files (a mock run stays quick).
pub const MAX_VIDEO_CASES: u32 = 12;

/// Shrinking steps at most: each makes and decodes files.
const SHRINK_STEPS: u32 = 16;

/// Run the property: the audio cases, then (at most [`MAX_VIDEO_CASES`]) the video cases.
pub fn run(ctx: &Ctx, seed: [u8; 32]) -> PropResult {
    need_budget(ctx, 1)?;
    let cases = billable_cases(ctx);
    let shrink = if ctx.target.virtual_time() {
        256
    } else {
        SHRINK_STEPS
    };
    let audio = check_with(seed, cases, shrink, audio_cases(), |case| {
        run_case(ctx, case)
    })?;
    let mut image_seed = seed;
    image_seed[0] ^= 0x49;
    let image = match image_cases(ctx) {
        Some(images) => check_with(
            image_seed,
            cases.min(MAX_VIDEO_CASES),
            SHRINK_STEPS,
            images,
            |case| run_case(ctx, case),
        )?,
        None => 0,
    };
    let Some(videos) = video_cases(ctx) else {
        return Ok(audio + image);
    };
    let mut video_seed = seed;
    video_seed[0] ^= 0x56;
    let video = check_with(
        video_seed,
        cases.min(MAX_VIDEO_CASES),
        SHRINK_STEPS,
        videos,
        |case| run_case(ctx, case),
    )?;
    Ok(audio + image + video)
}

fn run_case(ctx: &Ctx, case: Case) -> Result<(), TestCaseError> {
    match case {
        Case::Video {
            family,
            body,
            watermark,
        } => video_case(ctx, &ctx.contract.families[family], body, watermark),
        Case::Image {
            family,
            body,
            watermark,
        } => image_case(ctx, &ctx.contract.families[family], body, watermark),
        Case::Recognize(picture) => recognize_case(ctx, picture),
        Case::TextToAudio(tenths) => {
            let body = json!({"prompt": "contract media", "duration": tenths as f64 / 10.0});
            let (_, id) = create_ok(ctx, "text_to_audio_create", 0, body)?;
            let replies = ctx.settle(0, &ctx.contract.endpoint("text_to_audio_get").path, &id);
            let last = replies
                .last()
                .ok_or_else(|| TestCaseError::fail("no answer"))?;
            check_envelope(ctx, last, "task")?;
            ensure(
                last.data()["task_status"] == "succeed",
                "the task did not succeed",
                last,
            )?;
            for a in last.data()["task_result"]["audios"]
                .as_array()
                .into_iter()
                .flatten()
            {
                crate::shape::check(&ctx.contract.shapes, &Value::from("audio_t2a"), a, "audio")
                    .map_err(|e| fail(e, last))?;
                check_file(ctx, &a["url_mp3"], &a["duration_mp3"], last)?;
                check_file(ctx, &a["url_wav"], &a["duration_wav"], last)?;
            }
            Ok(())
        }
        Case::Tts(words) => {
            let body = json!({"text": format!("contract {words}"), "voice_id": "oversea_male1", "voice_language": "en"});
            let r = super::sent(ctx.create("tts", 0, body))?;
            check_envelope(ctx, &r, "tts")?;
            ensure(r.is_success(), "TTS refused a valid request", &r)?;
            for a in r.data()["task_result"]["audios"]
                .as_array()
                .into_iter()
                .flatten()
            {
                crate::shape::check(&ctx.contract.shapes, &Value::from("audio_tts"), a, "audio")
                    .map_err(|e| fail(e, &r))?;
                check_file(ctx, &a["url"], &a["duration"], &r)?;
            }
            Ok(())
        }
    }
}
