//! *selection*: the synchronous selection helpers of multi-elements video editing
//! (kling-api.md §5.6), walked in their documented order on a session of the sample video.
//!
//! * `init-selection` answers `status` 0 and a video whose numbers agree: `total_frame` is `fps`
//!   times `original_duration` (ms; within two frames), the length is one the document allows
//!   (2-5 s or 7-10 s, within 50 ms), and `normalized_video` is an MP4 that decodes, of
//!   `width`×`height` at `fps`, lasting `total_frame / fps` (within a frame). That the numbers
//!   describe the normalized video (the one frames are counted in) is INFERRED: they sit beside
//!   it in the answer.
//! * `add-selection` of two points on frame 0 answers that frame's masks: each `rle_mask` and
//!   `png_mask` has `size` `[height, width]` of the session's video; the PNG decodes to that size;
//!   the RLE `counts` (a list of run lengths, or the COCO compressed string: the document names
//!   no format, both are read) add up to `h × w` and mark the same pixels as the PNG (in COCO's
//!   column-major order or in row order: the document names neither); a mask is not empty, and
//!   the masks together cover each clicked point (within 2 px). A PNG pixel is foreground where
//!   its gray (or red) sample is at least half and, with an alpha channel, so is the alpha: how
//!   the PNG draws the mask is not documented.
//! * `delete-selection` of points that were not added is refused (400); of the added ones it
//!   answers the frame with no mask left.
//! * Ten points on a frame are accepted, an eleventh on it is refused; ten marked frames are
//!   accepted, an eleventh frame is refused (400), where the video has that many frames.
//! * `clear-selection` answers `status` 0; `preview-selection` of a marked session answers a
//!   `video` and a `tracking_output` that are MP4s that decode and a `video_cover` that is a PNG or
//!   JPEG that decodes.
//! * A session id that names nothing, and another account's session, are refused with 400 / 1201;
//!   so are a negative or fractional `frame_index`, no points, eleven points in one call and a
//!   coordinate outside 0-1.
//!
//! What a session with nothing marked does in `preview-selection` or `clear-selection`, and
//! whether a `frame_index` past the last frame is refused, is not documented: never sent.

use super::{check_envelope, ensure, fail, need_budget};
use crate::ctx::Ctx;
use crate::report::{PropResult, check};
use crate::target::Reply;
use base64::Engine as _;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{Value, json};

/// The endpoints walked (names in `fixtures/contract/endpoints.json`).
const INIT: &str = "multi_elements_init_selection";
const ADD: &str = "multi_elements_add_selection";
const DELETE: &str = "multi_elements_delete_selection";
const CLEAR: &str = "multi_elements_clear_selection";
const PREVIEW: &str = "multi_elements_preview_selection";

/// Most points on one frame, and most marked frames in a session (§5.6).
const MAX_MARKS: usize = 10;

/// One walk: the two points clicked on frame 0, in hundredths.
#[derive(Clone, Debug)]
pub struct Walk {
    /// The first point (x, y), hundredths of the width and height.
    pub a: (u32, u32),
    /// The second point.
    pub b: (u32, u32),
}

fn point((x, y): (u32, u32)) -> Value {
    json!({"x": x as f64 / 100.0, "y": y as f64 / 100.0})
}

/// The walks: two distinct points away from the edges.
pub fn walks() -> BoxedStrategy<Walk> {
    ((10u32..=90, 10u32..=90), (10u32..=90, 10u32..=90))
        .prop_filter("two distinct points", |(a, b)| a != b)
        .prop_map(|(a, b)| Walk { a, b })
        .boxed()
}

/// A session's video, from the init-selection answer.
#[derive(Clone, Copy, Debug)]
pub struct Session<'a> {
    /// Its id.
    pub id: &'a str,
    /// Width, pixels.
    pub width: u32,
    /// Height, pixels.
    pub height: u32,
    /// Frames.
    pub total_frame: u64,
}

/// Call a helper the documents accept: it must succeed with its documented shape and status 0.
fn accepted(
    ctx: &Ctx,
    endpoint: &str,
    account: usize,
    body: Value,
) -> Result<Reply, TestCaseError> {
    let r = super::sent(ctx.create(endpoint, account, body.clone()))?;
    check_envelope(ctx, &r, &ctx.contract.endpoint(endpoint).response)?;
    ensure(
        r.is_success(),
        format!("{endpoint} refused a body the documents accept: {body}"),
        &r,
    )?;
    ensure(
        r.data()["status"] == 0,
        format!(
            "{endpoint} answered status {} (0 is success)",
            r.data()["status"]
        ),
        &r,
    )?;
    Ok(r)
}

/// Call a helper the documents refuse: 400 with 1200/1201 (1201 when `exact`).
fn refused(
    ctx: &Ctx,
    endpoint: &str,
    account: usize,
    body: Value,
    what: &str,
    exact: bool,
) -> Result<(), TestCaseError> {
    let r = ctx.send_refused(endpoint, account, body);
    check_envelope(ctx, &r, &ctx.contract.endpoint(endpoint).response)?;
    let code = r.code().unwrap_or(-1);
    ensure(
        r.status == 400
            && if exact {
                code == 1201
            } else {
                ctx.contract.validation_codes.contains(&code)
            },
        format!(
            "{endpoint} with {what} must be HTTP 400 with {}",
            if exact { "1201" } else { "1200/1201" }
        ),
        &r,
    )
}

/// Open a session on the sample video as `account` and check what init-selection says of it.
fn init(ctx: &Ctx, account: usize) -> Result<Reply, TestCaseError> {
    let r = accepted(
        ctx,
        INIT,
        account,
        json!({ "video_url": crate::bodies::SAMPLE_VIDEO_URL }),
    )?;
    let d = r.data();
    let fps = d["fps"].as_f64().unwrap_or(0.0);
    let ms = d["original_duration"].as_f64().unwrap_or(-1.0);
    let frames = d["total_frame"].as_f64().unwrap_or(-1.0);
    ensure(fps > 0.0, "init-selection answered no positive fps", &r)?;
    ensure(
        d["width"].as_u64().unwrap_or(0) > 0 && d["height"].as_u64().unwrap_or(0) > 0,
        "init-selection answered no frame size",
        &r,
    )?;
    // §5.6: the video lasts 2-5 s or 7-10 s.
    ensure(
        (1950.0..=5050.0).contains(&ms) || (6950.0..=10050.0).contains(&ms),
        format!("original_duration {ms} ms is outside 2-5 s and 7-10 s, the lengths §5.6 allows"),
        &r,
    )?;
    ensure(
        (frames - fps * ms / 1000.0).abs() <= 2.0,
        format!(
            "total_frame {frames} is not fps {fps} × original_duration {ms} ms (within 2 frames)"
        ),
        &r,
    )?;
    Ok(r)
}

fn session_of(r: &Reply) -> Session<'_> {
    let d = r.data();
    Session {
        id: d["session_id"].as_str().unwrap_or_default(),
        width: d["width"].as_u64().unwrap_or(0) as u32,
        height: d["height"].as_u64().unwrap_or(0) as u32,
        total_frame: d["total_frame"].as_u64().unwrap_or(0),
    }
}

/// Fetch a URL the target answered: HTTP 200, not empty.
fn fetch(ctx: &Ctx, url: &Value, what: &str, r: &Reply) -> Result<Vec<u8>, TestCaseError> {
    let url = url
        .as_str()
        .ok_or_else(|| fail(format!("{what} is not a URL"), r))?;
    super::media::fetch(ctx, url, r)
}

/// An MP4 that `ffprobe` reads and `ffmpeg` decodes without an error (skipped without them).
fn check_mp4(
    ctx: &Ctx,
    bytes: &[u8],
    what: &str,
    r: &Reply,
) -> Result<Option<crate::video::Probe>, TestCaseError> {
    if !crate::video::available() {
        ctx.note(
            "selection: ffprobe / ffmpeg not found (Debian package ffmpeg): the selection \
             videos were downloaded but not decoded",
        );
        return Ok(None);
    }
    let p = crate::video::probe(bytes).map_err(|e| fail(format!("{what}: {e}"), r))?;
    ensure(
        p.format.split(',').any(|f| f == "mp4"),
        format!("{what} is not an MP4 ({})", p.format),
        r,
    )?;
    let errors = crate::video::decode_errors(bytes).map_err(|e| fail(e, r))?;
    ensure(
        errors.is_empty(),
        format!("ffmpeg reports errors decoding {what}: {errors}"),
        r,
    )?;
    Ok(Some(p))
}

/// The normalized video is an MP4 of the session's size, rate and length.
fn check_normalized(ctx: &Ctx, r: &Reply) -> Result<(), TestCaseError> {
    let d = r.data();
    let bytes = fetch(ctx, &d["normalized_video"], "normalized_video", r)?;
    let Some(p) = check_mp4(ctx, &bytes, "normalized_video", r)? else {
        return Ok(());
    };
    let fps = d["fps"].as_f64().unwrap_or(1.0);
    let s = session_of(r);
    ensure(
        (p.width, p.height) == (s.width, s.height),
        format!(
            "normalized_video is {}x{}, init-selection says {}x{}",
            p.width, p.height, s.width, s.height
        ),
        r,
    )?;
    ensure(
        (p.fps - fps).abs() < 0.01,
        format!(
            "normalized_video runs at {:.3} fps, init-selection says {fps}",
            p.fps
        ),
        r,
    )?;
    let secs = s.total_frame as f64 / fps;
    ensure(
        (p.duration - secs).abs() <= 1.0 / fps + 0.001,
        format!(
            "normalized_video plays {:.3}s, total_frame / fps is {secs:.3}s",
            p.duration
        ),
        r,
    )
}

/// A COCO run-length encoding's counts: a list of run lengths, or the compressed string
/// (pycocotools' `rleFrString`: 5-bit groups offset by 48, runs after the second as deltas).
pub fn rle_counts(counts: &Value) -> Result<Vec<u64>, String> {
    if let Some(list) = counts.as_array() {
        return list
            .iter()
            .map(|c| {
                c.as_u64()
                    .ok_or(format!("a run length {c} is not a whole number"))
            })
            .collect();
    }
    let s = counts
        .as_str()
        .ok_or("counts is neither a list of run lengths nor a COCO string")?;
    let bytes = s.as_bytes();
    let mut out: Vec<i64> = Vec::new();
    let mut p = 0;
    while p < bytes.len() {
        let (mut x, mut k, mut more) = (0i64, 0u32, true);
        while more {
            let c = *bytes.get(p).ok_or("the COCO string ends inside a number")? as i64 - 48;
            if !(0..64).contains(&c) || k > 12 {
                return Err(format!("'{s}' is not a COCO compressed string"));
            }
            x |= (c & 0x1f) << (5 * k);
            more = c & 0x20 != 0;
            p += 1;
            k += 1;
            if !more && c & 0x10 != 0 {
                x |= -1i64 << (5 * k);
            }
        }
        if out.len() > 2 {
            x += out[out.len() - 2];
        }
        out.push(x);
    }
    out.into_iter()
        .map(|x| u64::try_from(x).map_err(|_| format!("a negative run {x} in '{s}'")))
        .collect()
}

/// The pixels a PNG mask marks, row by row (`true`: foreground).
pub fn png_mask(bytes: &[u8]) -> Result<(u32, u32, Vec<bool>), String> {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder
        .read_info()
        .map_err(|e| format!("not a valid PNG: {e}"))?;
    let size = reader.output_buffer_size().ok_or("a PNG too large")?;
    let mut buf = vec![0; size];
    let info = reader
        .next_frame(&mut buf)
        .map_err(|e| format!("the PNG's pixels do not decode: {e}"))?;
    let (w, h) = (info.width, info.height);
    let channels = info.color_type.samples();
    let alpha = matches!(
        info.color_type,
        png::ColorType::GrayscaleAlpha | png::ColorType::Rgba
    );
    let mut on = Vec::with_capacity((w * h) as usize);
    for row in buf[..info.buffer_size()].chunks(info.line_size) {
        for px in row.chunks(channels).take(w as usize) {
            on.push(px[0] >= 128 && (!alpha || px[channels - 1] >= 128));
        }
    }
    Ok((w, h, on))
}

/// The pixels a run-length encoding marks, row by row, read column-major (COCO) or row-major.
fn rle_pixels(runs: &[u64], w: u32, h: u32, column_major: bool) -> Vec<bool> {
    let mut on = vec![false; (w * h) as usize];
    let mut i = 0usize;
    for (k, run) in runs.iter().enumerate() {
        for j in i..i + *run as usize {
            if k % 2 == 1 && j < on.len() {
                let (row, col) = if column_major {
                    (j % h as usize, j / h as usize)
                } else {
                    (j / w as usize, j % w as usize)
                };
                on[row * w as usize + col] = true;
            }
        }
        i += *run as usize;
    }
    on
}

/// Check the masks of an add-selection answer against the session; the union of their pixels.
fn check_masks(s: &Session<'_>, r: &Reply) -> Result<Vec<bool>, TestCaseError> {
    let masks = r.data()["res"]["rle_mask_list"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    ensure(
        !masks.is_empty(),
        "add-selection answered no mask for the marked frame",
        r,
    )?;
    let (w, h) = (s.width, s.height);
    let want = json!([h, w]);
    let mut union = vec![false; (w * h) as usize];
    for (i, m) in masks.iter().enumerate() {
        for key in ["rle_mask", "png_mask"] {
            ensure(
                m[key]["size"] == want,
                format!(
                    "mask {i}: {key}.size is {}, the session's video is [height, width] = {want}",
                    m[key]["size"]
                ),
                r,
            )?;
        }
        let b64 = m["png_mask"]["base64"].as_str().unwrap_or_default();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|e| fail(format!("mask {i}: png_mask.base64 is not Base64: {e}"), r))?;
        let (pw, ph, png) =
            png_mask(&bytes).map_err(|e| fail(format!("mask {i}: png_mask: {e}"), r))?;
        ensure(
            (pw, ph) == (w, h),
            format!("mask {i}: the PNG is {pw}x{ph}, the session's video {w}x{h}"),
            r,
        )?;
        let runs = rle_counts(&m["rle_mask"]["counts"])
            .map_err(|e| fail(format!("mask {i}: rle_mask.counts: {e}"), r))?;
        let total: u64 = runs.iter().sum();
        ensure(
            total == u64::from(w) * u64::from(h),
            format!(
                "mask {i}: the RLE runs add up to {total}, h × w is {}",
                w * h
            ),
            r,
        )?;
        let agrees = [true, false]
            .into_iter()
            .any(|column_major| rle_pixels(&runs, w, h, column_major) == png);
        ensure(
            agrees,
            format!("mask {i}: the RLE and the PNG mark different pixels"),
            r,
        )?;
        ensure(png.iter().any(|&p| p), format!("mask {i} is empty"), r)?;
        for (u, p) in union.iter_mut().zip(&png) {
            *u |= *p;
        }
    }
    Ok(union)
}

/// Whether the mask covers the point (x, y in hundredths) within 2 px.
fn covers(union: &[bool], w: u32, h: u32, (x, y): (u32, u32)) -> bool {
    let (cx, cy) = (
        (x as f64 / 100.0 * w as f64) as i64,
        (y as f64 / 100.0 * h as f64) as i64,
    );
    (-2..=2).any(|dy| {
        (-2..=2).any(|dx| {
            let (px, py) = (cx + dx, cy + dy);
            px >= 0
                && py >= 0
                && px < w as i64
                && py < h as i64
                && union[(py * w as i64 + px) as usize]
        })
    })
}

fn body(session: &str, frame: u64, points: &[Value]) -> Value {
    json!({"session_id": session, "frame_index": frame, "points": points})
}

/// One walk through the helpers.
pub fn walk(ctx: &Ctx, w: &Walk) -> Result<(), TestCaseError> {
    let opened = init(ctx, 0)?;
    check_normalized(ctx, &opened)?;
    let s = session_of(&opened);
    let clicked = [point(w.a), point(w.b)];

    // Two points on frame 0: the frame's masks.
    let r = accepted(ctx, ADD, 0, body(s.id, 0, &clicked))?;
    ensure(
        r.data()["session_id"] == s.id && r.data()["res"]["frame_index"] == 0,
        "add-selection answered another session or frame",
        &r,
    )?;
    let union = check_masks(&s, &r)?;
    for p in [w.a, w.b] {
        ensure(
            covers(&union, s.width, s.height, p),
            format!(
                "the masks of frame 0 do not cover the clicked point ({}, {})",
                p.0 as f64 / 100.0,
                p.1 as f64 / 100.0
            ),
            &r,
        )?;
    }

    // Deleting what was not added is refused; deleting what was leaves the frame unmarked.
    let other = [point((if w.a.0 == 5 { 6 } else { 5 }, 5))];
    refused(
        ctx,
        DELETE,
        0,
        body(s.id, 0, &other),
        "a point that was never added",
        false,
    )?;
    let r = accepted(ctx, DELETE, 0, body(s.id, 0, &clicked))?;
    ensure(
        r.data()["res"]["rle_mask_list"]
            .as_array()
            .is_some_and(Vec::is_empty),
        "delete-selection of every added point left masks on the frame",
        &r,
    )?;

    // At most ten points on a frame.
    let ten: Vec<Value> = (0..MAX_MARKS as u32)
        .map(|i| point((10 + 8 * i, 10 + 8 * i)))
        .collect();
    accepted(ctx, ADD, 0, body(s.id, 0, &ten))?;
    refused(
        ctx,
        ADD,
        0,
        body(s.id, 0, &[point((95, 5))]),
        "an eleventh point on a frame",
        false,
    )?;
    // At most ten marked frames (where the video has eleven).
    if s.total_frame > MAX_MARKS as u64 {
        for f in 1..MAX_MARKS as u64 {
            accepted(ctx, ADD, 0, body(s.id, f, &[point(w.a)]))?;
        }
        refused(
            ctx,
            ADD,
            0,
            body(s.id, MAX_MARKS as u64, &[point(w.a)]),
            "an eleventh marked frame",
            false,
        )?;
    }
    accepted(ctx, CLEAR, 0, json!({ "session_id": s.id }))?;

    // A preview of a marked session.
    accepted(ctx, ADD, 0, body(s.id, 0, &clicked))?;
    let r = accepted(ctx, PREVIEW, 0, json!({ "session_id": s.id }))?;
    for key in ["video", "tracking_output"] {
        let bytes = fetch(ctx, &r.data()["res"][key], key, &r)?;
        check_mp4(ctx, &bytes, key, &r)?;
    }
    let cover = fetch(ctx, &r.data()["res"]["video_cover"], "video_cover", &r)?;
    crate::image::decode(&cover).map_err(|e| fail(format!("video_cover: {e}"), &r))?;

    // Sessions that are not the caller's, and bodies the documents refuse.
    refused(
        ctx,
        ADD,
        0,
        body(super::references::UNKNOWN_VIDEO, 0, &clicked),
        "a session id that names nothing",
        true,
    )?;
    if ctx.target.has_second_account() {
        let theirs = init(ctx, 1)?;
        let id = session_of(&theirs).id.to_string();
        refused(
            ctx,
            ADD,
            0,
            body(&id, 0, &clicked),
            "another account's session",
            true,
        )?;
        refused(
            ctx,
            PREVIEW,
            0,
            json!({ "session_id": id }),
            "another account's session",
            true,
        )?;
    }
    let eleven: Vec<Value> = (0..=MAX_MARKS as u32)
        .map(|i| point((5 + 8 * i, 50)))
        .collect();
    for (b, what) in [
        (
            json!({"session_id": s.id, "frame_index": -1, "points": clicked}),
            "frame_index -1",
        ),
        (
            json!({"session_id": s.id, "frame_index": 1.5, "points": clicked}),
            "frame_index 1.5",
        ),
        (
            json!({"session_id": s.id, "frame_index": 0, "points": []}),
            "no points",
        ),
        (body(s.id, 1, &eleven), "eleven points in one call"),
        (
            json!({"session_id": s.id, "frame_index": 0, "points": [{"x": 1.5, "y": 0.5}]}),
            "x outside 0-1",
        ),
        (
            json!({"frame_index": 0, "points": clicked}),
            "no session_id",
        ),
    ] {
        refused(ctx, ADD, 0, b, what, true)?;
    }
    Ok(())
}

/// Run the property: skipped when the oracle has no selection helpers (`--family` without
/// multi-elements) or nothing can be billed.
pub fn run(ctx: &Ctx, seed: [u8; 32]) -> PropResult {
    if !ctx.contract.endpoints.contains_key(INIT) {
        return Err(crate::report::PropError::Skipped(
            "the oracle has no selection helpers".into(),
        ));
    }
    need_budget(ctx, 20)?;
    check(ctx, seed, super::billable_cases(ctx).min(4), walks(), |w| {
        walk(ctx, &w)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coco_strings_and_lists_decode_to_the_same_runs() {
        assert_eq!(rle_counts(&json!([3, 5, 2])).unwrap(), vec![3, 5, 2]);
        // One 5-bit group each: '3' = 48 + 3, '5' = 48 + 5, '2' = 48 + 2.
        assert_eq!(rle_counts(&json!("352")).unwrap(), vec![3, 5, 2]);
        // Runs from the fourth on are deltas of the one two back: 5 + 2 = 7.
        assert_eq!(rle_counts(&json!("3512")).unwrap(), vec![3, 5, 1, 7]);
        // A number over 5 bits: 100 = 0b11_00100 → groups 4 | 0x20, 3 → "T3".
        assert_eq!(rle_counts(&json!("T3")).unwrap(), vec![100]);
        assert!(rle_counts(&json!({"a": 1})).is_err());
    }

    #[test]
    fn column_and_row_orders_mark_the_same_count() {
        // A 2x3 (h x w) mask: 1 off, 2 on, 3 off.
        let col = rle_pixels(&[1, 2, 3], 3, 2, true);
        let row = rle_pixels(&[1, 2, 3], 3, 2, false);
        assert_eq!(col, vec![false, true, false, true, false, false]);
        assert_eq!(row, vec![false, true, true, false, false, false]);
    }

    #[test]
    fn a_gray_png_mask_decodes_to_its_pixels() {
        let (w, h, on) = png_mask(&crate::png::gradient(400, 300)).unwrap();
        assert_eq!((w, h), (400, 300));
        assert!(on.iter().any(|&p| p) && on.iter().any(|&p| !p));
        assert!(covers(&on, w, h, (99, 50)));
    }
}
