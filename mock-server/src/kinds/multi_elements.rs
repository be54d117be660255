//! Multi-elements video editing: `POST /v1/videos/multi-elements` and its synchronous selection
//! helpers `…/init-selection`, `…/add-selection`, `…/delete-selection`, `…/clear-selection` and
//! `…/preview-selection` (SOURCES.md: Multi-Elements; kling-api.md §5.6).
//!
//! The flow: `init-selection` opens a session on a video (`video_id` of the caller's, or
//! `video_url`; 2–5 s or 7–10 s) and answers its frame count, rate and size with a normalized
//! copy; `add-selection` marks the element to edit by clicking points on a frame (at most 10
//! frames, 10 points a frame) and answers the frame's mask, as COCO RLE and as a PNG;
//! `delete-selection` takes clicks back (exactly as added); `clear-selection` forgets them;
//! `preview-selection` answers a preview video, its cover picture and the tracking video. The
//! task then edits the session's video: `edit_mode` `addition` (1–2 images), `swap` (1 image) or
//! `removal` (none), `prompt` required. Its `videos[]` carry the `session_id`.
//!
//! The session is kept in [`crate::sessions`] (the caller's, valid 24 h on the mock's clock,
//! saved with `--state-file`). What the documents leave open (FIDELITY.md: multi-elements):
//! * a mask is the union of discs around the clicked points (a radius of 12 % of the shorter
//!   side), the same clicks giving the same mask; one object (`object_id` 1) per frame;
//! * `swap` and `removal` need a selection (what is swapped or removed); `addition` does not;
//! * the edited video lasts as long as the session's video (`duration` is the price class:
//!   5 for a 2–5 s video, 10 for a 7–10 s one), at its size and frame rate;
//! * a foreign `video_url` is not fetched: 5 s, 1280 × 720, 24 fps (as the face families);
//! * the helpers cost nothing (`final_unit_deduction` `"0"`) and always answer `status` 0.

use super::Ctx;
use super::faces::{self, Shape, VideoRef};
use super::fields::{Common, Fields};
use super::video::{self, Family, Output, Videos, inputs::Image};
use crate::auth::Account;
use crate::engine::{KindResult, Plan};
use crate::error::KlingError;
use crate::kinds::TaskResult;
use crate::media::{Format, ImageFile, Label, VideoFile};
use crate::sessions::Session;
use crate::wire::format_secs;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// The kind: its paths, limits, timings and cost (see [`super::KindSpec`]).
pub static SPEC: super::KindSpec = super::KindSpec {
    id: super::KindId::new("multi-elements"),
    path: "/v1/videos/multi-elements",
    mode: super::Mode::Task {
        query: "/v1/videos/multi-elements/{id}",
        result: super::result_type::<Edited>("Edited"),
        parse: |body| Ok(Box::new(CreateMultiElements::parse(body)?)),
    },
    max_page_size: 500,
    lifecycle: super::DEFAULT_TASK_LIFECYCLE,
    // --timing-profile realistic: never observed: as text2video (FIDELITY.md: timings).
    realistic: super::realistic(20_000, 300_000),
    pool: crate::engine::billing::Pool::Video,
    unit_deduction: "2",
    doc,
    extras: &[
        super::Extra {
            method: super::ExtraMethod::Post,
            path: "/v1/videos/multi-elements/init-selection",
            handler: init_selection,
            doc: init_doc,
        },
        super::Extra {
            method: super::ExtraMethod::Post,
            path: "/v1/videos/multi-elements/add-selection",
            handler: add_selection,
            doc: || {
                area_doc(
                    "addSelection",
                    "Mark the element on one frame by clicking points; answers the frame's mask",
                )
            },
        },
        super::Extra {
            method: super::ExtraMethod::Post,
            path: "/v1/videos/multi-elements/delete-selection",
            handler: delete_selection,
            doc: || {
                area_doc(
                    "deleteSelection",
                    "Take back clicks of one frame (exactly as added); answers the frame's mask",
                )
            },
        },
        super::Extra {
            method: super::ExtraMethod::Post,
            path: "/v1/videos/multi-elements/clear-selection",
            handler: clear_selection,
            doc: clear_doc,
        },
        super::Extra {
            method: super::ExtraMethod::Post,
            path: "/v1/videos/multi-elements/preview-selection",
            handler: preview_selection,
            doc: preview_doc,
        },
    ],
};

/// The models of this family.
pub const MODELS: &[&str] = &["kling-v1-6"];
/// The two length classes of a session's video, ms, and the `duration` each goes with.
pub const CLASSES: [((u64, u64), u32); 2] = [((2_000, 5_000), 5), ((7_000, 10_000), 10)];
/// Sides of a `video_url` video, px.
pub const URL_SIDES: (u32, u32) = (720, 2160);
/// Frame rates of a `video_url` video.
pub const URL_FPS: [u32; 3] = [24, 30, 60];
/// Most marked frames in a session.
pub const MAX_FRAMES: usize = 10;
/// Most points on one frame.
pub const MAX_POINTS: usize = 10;
/// The radius of the disc around a clicked point, in thousandths of the shorter side.
pub const DISC_PERMILLE: u32 = 120;
/// The `object_id` of the selected element.
pub const OBJECT_ID: u32 = 1;

/// The session's state: the video it was opened on and the clicks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Selection {
    /// The source video's id (0: a `video_url`).
    pub video_id: u64,
    /// Width, px.
    pub width: u32,
    /// Height, px.
    pub height: u32,
    /// Frames per second.
    pub fps: u32,
    /// Frames.
    pub frames: u32,
    /// The marked frames, by frame index, each with its points (`[x, y]`, 0–1).
    pub marks: Vec<(u32, Vec<[f64; 2]>)>,
}

impl Selection {
    fn shape(&self) -> Shape {
        Shape {
            width: self.width,
            height: self.height,
            fps: self.fps,
            frames: self.frames,
        }
    }

    fn points(&self, frame: u32) -> &[[f64; 2]] {
        self.marks
            .iter()
            .find(|(f, _)| *f == frame)
            .map_or(&[], |(_, p)| p.as_slice())
    }
}

/// A session of the caller's, opened by `init-selection`, valid at the mock's now: its id, when
/// it was opened and its state. Unknown, foreign or expired: a 400 naming `session_id`.
fn session(s: &Ctx<'_>, account: &Account, raw: &str) -> Result<(u64, i64, Selection), KlingError> {
    let not_found = || KlingError::param(format!("session_id: Session not found by id: {raw}"));
    let id: u64 = raw.trim().parse().map_err(|_| not_found())?;
    let found = s
        .sessions
        .of(account.idx, SPEC.id.slug(), id)
        .ok_or_else(not_found)?;
    if s.clock.now_ms() >= found.created_at.saturating_add(faces::SESSION_MS) {
        return Err(KlingError::param(format!(
            "session_id: session {id} has expired (a selection session is valid for 24 hours)"
        )));
    }
    let sel = serde_json::from_value(found.body).map_err(|_| not_found())?;
    Ok((id, found.created_at, sel))
}

/// Keep `sel` as the state of session `id`.
fn store(s: &Ctx<'_>, account: &Account, id: u64, created_at: i64, sel: &Selection) {
    s.sessions.put(
        id,
        Session {
            account: account.idx,
            kind: SPEC.id.slug().to_string(),
            created_at,
            body: serde_json::to_value(sel).unwrap_or(Value::Null),
        },
        s.clock.now_ms(),
    );
}

fn body<'a>(input: super::Input<'a>) -> Result<&'a Map<String, Value>, KlingError> {
    match input {
        super::Input::Body(b) => Ok(b),
        super::Input::Query(_) => Err(KlingError::param("a JSON body was expected")),
    }
}

/// A helper's body and the session it names (the caller's, valid): the body's fields, the
/// session's id, when it was opened and its state.
fn open<'a>(
    s: &Ctx<'_>,
    account: &Account,
    input: super::Input<'a>,
) -> Result<(Fields<'a>, u64, i64, Selection), KlingError> {
    let f = Fields::new(body(input)?);
    let (id, created_at, sel) = session(s, account, &session_field(&f)?)?;
    Ok((f, id, created_at, sel))
}

/// `session_id`: required, a string (a number is taken too).
fn session_field(f: &Fields<'_>) -> Result<String, KlingError> {
    match f.raw_value("session_id") {
        None => Err(KlingError::param("session_id must not be null")),
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(Value::String(s)) if s.trim().is_empty() => {
            Err(KlingError::param("session_id must not be blank"))
        }
        Some(Value::String(s)) => Ok(s.trim().to_string()),
        Some(other) => Err(KlingError::param(format!(
            "session_id must be a string, got {}",
            super::fields::json_kind(other)
        ))),
    }
}

/// The `status` and cost every helper answers.
#[derive(Serialize)]
struct Head {
    status: u32,
    session_id: String,
    final_unit_deduction: &'static str,
}

fn head(id: u64) -> Head {
    Head {
        status: 0,
        session_id: id.to_string(),
        final_unit_deduction: "0",
    }
}

#[derive(Serialize)]
struct InitData {
    #[serde(flatten)]
    head: Head,
    fps: f64,
    original_duration: u64,
    width: u32,
    height: u32,
    total_frame: u32,
    normalized_video: String,
}

/// `POST …/init-selection` `{video_id | video_url}`.
fn init_selection(
    s: &Ctx<'_>,
    account: &Account,
    input: super::Input<'_>,
) -> Result<axum::response::Response, KlingError> {
    let f = Fields::new(body(input)?);
    let r = VideoRef::parse(&f, "video_id or video_url is required")?;
    // The two length classes are checked below, with a message naming both.
    let src = faces::resolve_video(s, account, &r, (0, u64::MAX))?;
    if let Some(reason) = src.failure {
        return Err(KlingError::param(format!("video_url: {reason}")));
    }
    let sh = src.shape;
    let ms = sh.ms();
    if !CLASSES
        .iter()
        .any(|((lo, hi), _)| (*lo..=*hi).contains(&ms))
    {
        return Err(KlingError::param(format!(
            "{}: the video must last 2 to 5 s or 7 to 10 s, got {} s",
            r.field(),
            format_secs(ms as f64 / 1000.0)
        )));
    }
    if let VideoRef::Url(_) = r {
        let (lo, hi) = URL_SIDES;
        if !(lo..=hi).contains(&sh.width) || !(lo..=hi).contains(&sh.height) {
            return Err(KlingError::param(format!(
                "video_url: each side must be {lo} to {hi} px, got {} x {}",
                sh.width, sh.height
            )));
        }
        if !URL_FPS.contains(&sh.fps) {
            return Err(KlingError::param(format!(
                "video_url: the frame rate must be 24, 30 or 60 fps, got {}",
                sh.fps
            )));
        }
    }
    let now = s.clock.now_ms();
    let id = s.ids.next(now);
    let sel = Selection {
        video_id: src.parent.map_or(0, |(v, _)| v),
        width: sh.width,
        height: sh.height,
        fps: sh.fps,
        frames: sh.frames,
        marks: Vec::new(),
    };
    let normalized = add_video(s, id, now, &sel, "normalized");
    store(s, account, id, now, &sel);
    Ok(crate::wire::data_response(&InitData {
        head: head(id),
        fps: f64::from(sh.fps),
        original_duration: ms,
        width: sh.width,
        height: sh.height,
        total_frame: sh.frames,
        normalized_video: normalized.url(s.engine.base_url()),
    }))
}

/// A video file of the session's shape, drawn with `what` and the session id.
fn add_video(
    s: &Ctx<'_>,
    session_id: u64,
    now: i64,
    sel: &Selection,
    what: &str,
) -> crate::media::MediaRef {
    s.media.add_video(
        s.entropy.token(),
        VideoFile {
            task_id: session_id,
            video_id: sel.video_id,
            width: sel.width,
            height: sel.height,
            fps: sel.fps,
            frames: sel.frames,
            sound: None,
            watermark: false,
            label: Label::new(&format!("selection {what}")),
            born: Some(now),
        },
    )
}

/// `frame_index` and `points` of add- and delete-selection, checked against the session.
fn area(f: &Fields<'_>, sel: &Selection) -> Result<(u32, Vec<[f64; 2]>), KlingError> {
    let last = sel.frames.saturating_sub(1);
    let frame = match f.raw_value("frame_index") {
        None => return Err(KlingError::param("frame_index must not be null")),
        Some(Value::Number(n)) => n.as_u64().filter(|i| *i <= u64::from(last)),
        Some(_) => None,
    }
    .ok_or_else(|| {
        KlingError::param(format!(
            "frame_index must be an integer from 0 to {last} (the video has {} frames), got {}",
            sel.frames,
            f.raw_value("frame_index")
                .map_or(String::new(), Value::to_string)
        ))
    })? as u32;
    let list = match f.raw_value("points") {
        None => return Err(KlingError::param("points must not be null")),
        Some(Value::Array(a)) => a,
        Some(other) => {
            return Err(KlingError::param(format!(
                "points must be an array, got {}",
                super::fields::json_kind(other)
            )));
        }
    };
    if list.is_empty() || list.len() > MAX_POINTS {
        return Err(KlingError::param(format!(
            "points must have 1 to {MAX_POINTS} items, got {}",
            list.len()
        )));
    }
    let points = list
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let o = p
                .as_object()
                .ok_or_else(|| KlingError::param(format!("points[{i}] must be an object")))?;
            let pf = Fields::new(o);
            let mut xy = [0.0; 2];
            for (k, name) in ["x", "y"].iter().enumerate() {
                let v = pf
                    .opt_number(name)
                    .map_err(|e| faces::prefixed(&format!("points[{i}]."), e))?
                    .ok_or_else(|| {
                        KlingError::param(format!("points[{i}].{name} must not be null"))
                    })?;
                if !(0.0..=1.0).contains(&v) {
                    return Err(KlingError::param(format!(
                        "points[{i}].{name} must be between 0 and 1, got {v}"
                    )));
                }
                xy[k] = v;
            }
            Ok(xy)
        })
        .collect::<Result<Vec<_>, KlingError>>()?;
    Ok((frame, points))
}

#[derive(Serialize)]
struct AreaData {
    #[serde(flatten)]
    head: Head,
    res: AreaRes,
}

#[derive(Serialize)]
struct AreaRes {
    frame_index: u32,
    rle_mask_list: Vec<Value>,
}

/// The answer of add- and delete-selection: the frame's mask now.
fn area_answer(id: u64, sel: &Selection, frame: u32) -> axum::response::Response {
    let points = sel.points(frame);
    let rle_mask_list = if points.is_empty() {
        Vec::new()
    } else {
        let (w, h) = (sel.width, sel.height);
        let m = mask(w, h, points);
        vec![json!({
            "object_id": OBJECT_ID,
            "rle_mask": {"size": [h, w], "counts": rle_string(&column_runs(&m, w, h))},
            "png_mask": {"size": [h, w], "base64": base64::engine::general_purpose::STANDARD.encode(mask_png(&m, w, h))},
        })]
    };
    crate::wire::data_response(&AreaData {
        head: head(id),
        res: AreaRes {
            frame_index: frame,
            rle_mask_list,
        },
    })
}

/// `POST …/add-selection` `{session_id, frame_index, points}`.
fn add_selection(
    s: &Ctx<'_>,
    account: &Account,
    input: super::Input<'_>,
) -> Result<axum::response::Response, KlingError> {
    let (f, id, created_at, mut sel) = open(s, account, input)?;
    let (frame, points) = area(&f, &sel)?;
    let marked = sel.marks.len();
    let entry = match sel.marks.iter().position(|(fr, _)| *fr == frame) {
        Some(i) => &mut sel.marks[i].1,
        None if marked >= MAX_FRAMES => {
            return Err(KlingError::param(format!(
                "frame_index: at most {MAX_FRAMES} frames may be marked in a session, {marked} are (delete or clear a selection first)"
            )));
        }
        None => {
            sel.marks.push((frame, Vec::new()));
            sel.marks.sort_by_key(|(fr, _)| *fr);
            let i = sel
                .marks
                .iter()
                .position(|(fr, _)| *fr == frame)
                .unwrap_or_default();
            &mut sel.marks[i].1
        }
    };
    for p in points {
        if !entry.contains(&p) {
            entry.push(p);
        }
    }
    if entry.len() > MAX_POINTS {
        return Err(KlingError::param(format!(
            "points: frame {frame} would have {} points; at most {MAX_POINTS} a frame",
            entry.len()
        )));
    }
    store(s, account, id, created_at, &sel);
    Ok(area_answer(id, &sel, frame))
}

/// `POST …/delete-selection` `{session_id, frame_index, points}`: the points must be ones added
/// to that frame.
fn delete_selection(
    s: &Ctx<'_>,
    account: &Account,
    input: super::Input<'_>,
) -> Result<axum::response::Response, KlingError> {
    let (f, id, created_at, mut sel) = open(s, account, input)?;
    let (frame, points) = area(&f, &sel)?;
    let Some(i) = sel.marks.iter().position(|(fr, _)| *fr == frame) else {
        return Err(KlingError::param(format!(
            "frame_index: frame {frame} has no selection"
        )));
    };
    for (k, p) in points.iter().enumerate() {
        if !sel.marks[i].1.contains(p) {
            return Err(KlingError::param(format!(
                "points[{k}]: ({}, {}) was not added to frame {frame}",
                p[0], p[1]
            )));
        }
    }
    sel.marks[i].1.retain(|p| !points.contains(p));
    if sel.marks[i].1.is_empty() {
        sel.marks.remove(i);
    }
    store(s, account, id, created_at, &sel);
    Ok(area_answer(id, &sel, frame))
}

/// `POST …/clear-selection` `{session_id}`.
fn clear_selection(
    s: &Ctx<'_>,
    account: &Account,
    input: super::Input<'_>,
) -> Result<axum::response::Response, KlingError> {
    let (_, id, created_at, mut sel) = open(s, account, input)?;
    sel.marks.clear();
    store(s, account, id, created_at, &sel);
    Ok(crate::wire::data_response(&head(id)))
}

#[derive(Serialize)]
struct PreviewData {
    #[serde(flatten)]
    head: Head,
    res: PreviewRes,
}

#[derive(Serialize)]
struct PreviewRes {
    video: String,
    video_cover: String,
    tracking_output: String,
}

/// `POST …/preview-selection` `{session_id}`: a preview video, its cover (PNG) and the tracking
/// video, all of the session's shape.
fn preview_selection(
    s: &Ctx<'_>,
    account: &Account,
    input: super::Input<'_>,
) -> Result<axum::response::Response, KlingError> {
    let (_, id, _, sel) = open(s, account, input)?;
    if sel.marks.is_empty() {
        return Err(KlingError::param(format!(
            "session_id: session {id} has no selection to preview (mark the element with add-selection first)"
        )));
    }
    let now = s.clock.now_ms();
    let base = s.engine.base_url();
    let video = add_video(s, id, now, &sel, "preview");
    let tracking = add_video(s, id, now, &sel, "tracking");
    let token = s.entropy.token();
    let cover = s.media.add_image(
        token,
        ImageFile {
            task_id: id,
            index: 0,
            n: 1,
            width: sel.width,
            height: sel.height,
            seed: u64::from_le_bytes(token[..8].try_into().unwrap_or_default()),
            watermark: false,
            label: Label::new(&format!("selection cover {} frames", sel.marks.len())),
            format: Format::Png,
            born: Some(now),
        },
    );
    Ok(crate::wire::data_response(&PreviewData {
        head: head(id),
        res: PreviewRes {
            video: video.url(base),
            video_cover: cover.url(base),
            tracking_output: tracking.url(base),
        },
    }))
}

/// The mask of `points` on a `w` × `h` frame, row-major, 1 inside: the union of discs of radius
/// [`DISC_PERMILLE`] ‰ of the shorter side around each point.
pub fn mask(w: u32, h: u32, points: &[[f64; 2]]) -> Vec<u8> {
    let (wi, hi) = (i64::from(w), i64::from(h));
    let r = (i64::from(w.min(h)) * i64::from(DISC_PERMILLE) / 1000).max(2);
    let mut m = vec![0u8; (w as usize) * (h as usize)];
    for p in points {
        let cx = (p[0] * f64::from(w)).floor() as i64;
        let cy = (p[1] * f64::from(h)).floor() as i64;
        for y in (cy - r).max(0)..=(cy + r).min(hi - 1) {
            let dy = y - cy;
            let dx = ((r * r - dy * dy) as f64).sqrt() as i64;
            let (x0, x1) = ((cx - dx).max(0), (cx + dx).min(wi - 1));
            if x0 <= x1 {
                let row = (y * wi) as usize;
                m[row + x0 as usize..=row + x1 as usize].fill(1);
            }
        }
    }
    m
}

/// COCO's run lengths of a row-major mask: column by column (top to bottom, left to right),
/// alternating runs of 0 and 1, starting with 0 (a first run of 0 length when the first pixel
/// is set).
pub fn column_runs(m: &[u8], w: u32, h: u32) -> Vec<u64> {
    let (w, h) = (w as usize, h as usize);
    let mut runs = Vec::new();
    let (mut cur, mut len) = (0u8, 0u64);
    for x in 0..w {
        for y in 0..h {
            let v = m[y * w + x];
            if v != cur {
                runs.push(len);
                cur = v;
                len = 0;
            }
            len += 1;
        }
    }
    runs.push(len);
    runs
}

/// COCO's compressed RLE string of `runs` (pycocotools' `rleToString`: each count after the
/// second is stored as its difference from the one two before, in 5-bit groups with a
/// continuation bit, offset by 48 into printable ASCII).
pub fn rle_string(runs: &[u64]) -> String {
    let mut out = String::new();
    for (i, &c) in runs.iter().enumerate() {
        let mut x = c as i64;
        if i > 2 {
            x -= runs[i - 2] as i64;
        }
        loop {
            let mut c = (x & 0x1f) as u8;
            x >>= 5;
            let more = if c & 0x10 != 0 { x != -1 } else { x != 0 };
            if more {
                c |= 0x20;
            }
            out.push(char::from(c + 48));
            if !more {
                break;
            }
        }
    }
    out
}

/// A grayscale PNG of the mask: 255 inside, 0 outside.
pub fn mask_png(m: &[u8], w: u32, h: u32) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::Fast);
        let pixels: Vec<u8> = m.iter().map(|&v| if v != 0 { 255 } else { 0 }).collect();
        let written = enc
            .write_header()
            .and_then(|mut wr| wr.write_image_data(&pixels));
        if let Err(e) = written {
            tracing::error!(error = %e, "a selection mask could not be encoded");
        }
    }
    out
}

/// `edit_mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EditMode {
    /// Add an element from the images (1–2).
    Addition,
    /// Swap the selected element for the image's (1).
    Swap,
    /// Remove the selected element (no image).
    Removal,
}

impl EditMode {
    fn name(self) -> &'static str {
        match self {
            EditMode::Addition => "addition",
            EditMode::Swap => "swap",
            EditMode::Removal => "removal",
        }
    }

    /// How many images it takes.
    pub fn images(self) -> (usize, usize) {
        match self {
            EditMode::Addition => (1, 2),
            EditMode::Swap => (1, 1),
            EditMode::Removal => (0, 0),
        }
    }
}

/// A validated create request.
#[derive(Clone, Debug)]
pub struct CreateMultiElements {
    /// `session_id` as given.
    pub session: String,
    /// `edit_mode`.
    pub edit_mode: EditMode,
    /// `duration`: 5 or 10.
    pub secs: u32,
    /// What the task makes (its shape is the session's, settled by [`super::Job::resolve`]).
    pub out: Output,
    /// `image_list[].image`, by field.
    pub images: Vec<(String, Image)>,
    /// The session's id, once resolved.
    pub session_id: u64,
    /// Why the task will fail (an input picture's size or shape).
    pub failure: Option<String>,
    /// `external_task_id`, `callback_url`.
    pub common: Common,
}

impl CreateMultiElements {
    /// Validate a create body.
    pub fn parse(body: &Map<String, Value>) -> Result<Self, KlingError> {
        let f = Fields::new(body);
        let model = video::model_name(&f, MODELS, "kling-v1-6")?;
        let session = session_field(&f)?;
        let edit_mode =
            match video::one_of(&f, "edit_mode", &["addition", "swap", "removal"], None)? {
                None => return Err(KlingError::param("edit_mode must not be null")),
                Some("addition") => EditMode::Addition,
                Some("swap") => EditMode::Swap,
                Some(_) => EditMode::Removal,
            };
        let (lo, hi) = edit_mode.images();
        let images = video::image_items(&f, "image_list", "image", 2.max(hi))?;
        if !(lo..=hi).contains(&images.len()) {
            let want = match edit_mode {
                EditMode::Addition => "1 to 2 items",
                EditMode::Swap => "exactly 1 item",
                EditMode::Removal => "no items",
            };
            return Err(KlingError::param(format!(
                "image_list must have {want} when edit_mode is {}, got {}",
                edit_mode.name(),
                images.len()
            )));
        }
        video::required_prompt(&f, &video::Shots::Single)?;
        video::prompt(&f, "negative_prompt")?;
        let pro = video::mode(&f, "std")?;
        let secs = video::duration(&f)?.unwrap_or(5);
        if !CLASSES.iter().any(|(_, d)| *d == secs) {
            return Err(KlingError::param(format!(
                "duration value '{secs}' is invalid; allowed values: 5, 10"
            )));
        }
        let mut out = Output::new(
            model,
            Family::MultiImage,
            pro,
            secs,
            None,
            None,
            false,
            video::watermark(&f)?,
        );
        out.units = video::models::units(model, Family::MultiImage, out.pro, secs, false, false);
        out.tag = Some(Label::new(&format!(
            "multi-elements {} {}",
            edit_mode.name(),
            if out.pro { "pro" } else { "std" }
        )));
        let failure = images.iter().find_map(|(_, i)| i.failure());
        Ok(CreateMultiElements {
            session,
            edit_mode,
            secs,
            out,
            images,
            session_id: 0,
            failure,
            common: Common::parse(&f)?,
        })
    }
}

impl super::Job for CreateMultiElements {
    fn common(&self) -> &Common {
        &self.common
    }
    fn resolve(&mut self, s: &Ctx<'_>, account: &Account) -> Result<(), KlingError> {
        let (id, _, sel) = session(s, account, &self.session)?;
        let ms = sel.shape().ms();
        let ((lo, hi), _) = CLASSES
            .iter()
            .find(|(_, d)| *d == self.secs)
            .copied()
            .unwrap_or(CLASSES[0]);
        if !(lo..=hi).contains(&ms) {
            return Err(KlingError::param(format!(
                "duration {} needs a video of {} to {} s; the video of session {id} lasts {} s",
                self.secs,
                lo / 1000,
                hi / 1000,
                format_secs(ms as f64 / 1000.0)
            )));
        }
        if self.edit_mode != EditMode::Addition && sel.marks.is_empty() {
            return Err(KlingError::param(format!(
                "session_id: session {id} has no selection: mark the element to {} with add-selection first",
                if self.edit_mode == EditMode::Swap {
                    "swap"
                } else {
                    "remove"
                }
            )));
        }
        if let Some(f) = video::inputs::own_files_check(s, &mut self.images)? {
            self.failure.get_or_insert(f);
        }
        self.session_id = id;
        self.out.size = (sel.width, sel.height);
        self.out.fps = sel.fps;
        self.out.frames = sel.frames;
        Ok(())
    }
    fn remote_images(&self) -> Vec<(String, String)> {
        video::inputs::remote(self.images.iter().map(|(n, i)| (n.clone(), i)))
    }
    fn measured(&mut self, field: &str, result: Result<(u32, u32), String>) {
        if let Some(f) = video::inputs::take_download_of(&mut self.images, field, result) {
            self.failure.get_or_insert(f);
        }
    }
    fn cost(&self) -> Option<f64> {
        Some(self.out.units)
    }
    fn plan(&self, s: &Ctx<'_>, account: &Account, task_id: u64, now: i64) -> Plan {
        Plan {
            result: TaskResult::new(Edited {
                session_id: self.session_id,
                videos: video::videos(s, account, task_id, now, &self.out, None, 0),
            }),
            failure: self.failure.clone(),
        }
    }
}

/// The result: the edited video, whose entries carry the session.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Edited {
    /// The session edited.
    pub session_id: u64,
    /// The video.
    pub videos: Videos,
}

impl KindResult for Edited {
    fn wire<'a>(&'a self, base: &'a str) -> Box<dyn erased_serde::Serialize + 'a> {
        let mut v = serde_json::to_value(&*self.videos.wire(base)).unwrap_or(Value::Null);
        if let Some(list) = v.get_mut("videos").and_then(Value::as_array_mut) {
            for item in list.iter_mut().filter_map(Value::as_object_mut) {
                item.insert("session_id".into(), self.session_id.to_string().into());
            }
        }
        Box::new(v)
    }
    fn task_info(&self, base: &str) -> Vec<(&'static str, Value)> {
        self.videos.task_info(base)
    }
    fn extra(&self) -> Vec<(&'static str, Value)> {
        self.videos.extra()
    }
    fn deduction(&self) -> Option<&str> {
        self.videos.deduction()
    }
}

fn init_doc() -> super::doc::ExtraDoc {
    use super::doc::*;
    ExtraDoc {
        id: "initSelection",
        summary: "Open a selection session on a video (multi-elements)",
        description: "SOURCES.md: Multi-Elements. The session belongs to the caller and is valid for 24 hours.",
        paging: None,
        body: Some("InitSelectionRequest"),
        ok: (
            "The session and the video's frames.",
            schema_ref("InitSelectionResult"),
        ),
        field_rules: "neither or both of video_id and video_url; a video_id that does not name a finished video of the caller's; a video that does not last 2–5 s or 7–10 s; a video_url that is not an http(s) .mp4/.mov URL, or one of the mock's own whose sides are not 720–2160 px or whose rate is not 24/30/60 fps",
    }
}

fn area_doc(id: &'static str, summary: &'static str) -> super::doc::ExtraDoc {
    use super::doc::*;
    ExtraDoc {
        id,
        summary,
        description: "SOURCES.md: Multi-Elements. The mask is the union of discs around the frame's points (12 % of the shorter side), as COCO compressed RLE (column-major) and as a grayscale PNG, both of the video's size.",
        paging: None,
        body: Some("SelectionAreaRequest"),
        ok: ("The frame's mask now.", schema_ref("SelectionAreaResult")),
        field_rules: "session_id missing, unknown, another caller's or expired; frame_index not an integer inside the video; points empty or more than 10, or a coordinate outside 0–1; an 11th marked frame or an 11th point on a frame (add); a frame without selection or a point that was not added (delete)",
    }
}

fn clear_doc() -> super::doc::ExtraDoc {
    use super::doc::*;
    ExtraDoc {
        id: "clearSelection",
        summary: "Forget every mark of a selection session",
        description: "SOURCES.md: Multi-Elements.",
        paging: None,
        body: Some("SessionRequest"),
        ok: (
            "The session, now without marks.",
            schema_ref("SelectionHead"),
        ),
        field_rules: "session_id missing, unknown, another caller's or expired",
    }
}

fn preview_doc() -> super::doc::ExtraDoc {
    use super::doc::*;
    ExtraDoc {
        id: "previewSelection",
        summary: "Preview a selection: a video, its cover and the tracking video",
        description: "SOURCES.md: Multi-Elements. MP4s of the session's video's size and length, and a PNG cover.",
        paging: None,
        body: Some("SessionRequest"),
        ok: ("The preview files.", schema_ref("PreviewSelectionResult")),
        field_rules: "session_id missing, unknown, another caller's or expired; a session with no mark",
    }
}

/// Its part of the OpenAPI document.
fn doc() -> super::doc::KindDoc {
    use super::doc::*;
    let head = json!({
        "status": {"type": "integer", "description": "0: recognised."},
        "session_id": id_schema(),
        "final_unit_deduction": {"type": "string"},
    });
    let with_head = |extra: Value| {
        let mut props = head.clone();
        if let (Some(p), Some(e)) = (props.as_object_mut(), extra.as_object()) {
            p.extend(e.clone());
        }
        props
    };
    let uri = json!({"type": "string", "format": "uri"});
    let size = json!({"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2, "description": "[height, width]"});
    let mut t = super::text2video::video_task();
    t["description"] =
        json!("task_result.videos[] entries also carry session_id (the session edited).");
    let mut schemas = video::shared_schemas();
    schemas.extend([
        ("MultiElementsTask", t),
        (
            "MultiElementsRequest",
            json!({
                "type": "object",
                "required": ["session_id", "edit_mode", "prompt"],
                "description": "Unknown fields are ignored. swap and removal need a marked selection in the session.",
                "properties": {
                    "model_name": {"type": "string", "enum": MODELS, "default": "kling-v1-6"},
                    "session_id": id_schema(),
                    "edit_mode": {"type": "string", "enum": ["addition", "swap", "removal"]},
                    "image_list": {"type": "array", "maxItems": 2, "description": "addition: 1–2; swap: exactly 1; removal: none.",
                        "items": {"type": "object", "required": ["image"], "properties": {"image": {"type": "string", "description": "URL or raw Base64 (.jpg/.jpeg/.png)."}}}},
                    "prompt": {"type": "string", "maxLength": video::MAX_PROMPT, "description": "Refer to the video as <<<video_1>>> and to the images as <<<image_1>>>, <<<image_2>>>."},
                    "negative_prompt": {"type": "string", "maxLength": video::MAX_PROMPT},
                    "mode": {"type": "string", "enum": ["std", "pro"], "default": "std"},
                    "duration": {"type": ["string", "integer"], "enum": ["5", "10", 5, 10], "default": "5", "description": "5 for a session video of 2–5 s, 10 for one of 7–10 s."},
                    "watermark_info": schema_ref("WatermarkInfo"),
                    "callback_url": schema_ref("CallbackUrl"),
                    "external_task_id": schema_ref("ExternalTaskId"),
                },
                "examples": [{"session_id": "860000000000000001", "edit_mode": "swap", "image_list": [{"image": "https://example.com/cat.png"}], "prompt": "swap the dog from <<<video_1>>> for the cat from <<<image_1>>>"}],
            }),
        ),
        (
            "InitSelectionRequest",
            json!({
                "type": "object",
                "description": "Exactly one of video_id and video_url. The video lasts 2–5 s or 7–10 s.",
                "properties": {
                    "video_id": {"type": "string", "description": "A finished video of the caller's."},
                    "video_url": {"type": "string", "pattern": url_pattern(&["mp4", "mov"]), "description": "Sides 720–2160 px, 24/30/60 fps."},
                },
                "examples": [{"video_id": "860000000000000001"}],
            }),
        ),
        (
            "InitSelectionResult",
            json!({"type": "object", "required": ["status", "session_id", "final_unit_deduction", "fps", "original_duration", "width", "height", "total_frame", "normalized_video"],
                "properties": with_head(json!({
                    "fps": {"type": "number"},
                    "original_duration": {"type": "integer", "description": "ms"},
                    "width": {"type": "integer"}, "height": {"type": "integer"},
                    "total_frame": {"type": "integer"},
                    "normalized_video": uri,
                }))}),
        ),
        (
            "SelectionAreaRequest",
            json!({"type": "object", "required": ["session_id", "frame_index", "points"], "properties": {
                "session_id": id_schema(),
                "frame_index": {"type": "integer", "minimum": 0},
                "points": {"type": "array", "minItems": 1, "maxItems": MAX_POINTS, "items": {"type": "object", "required": ["x", "y"], "properties": {
                    "x": {"type": "number", "minimum": 0, "maximum": 1}, "y": {"type": "number", "minimum": 0, "maximum": 1}}}},
            }, "examples": [{"session_id": "860000000000000001", "frame_index": 0, "points": [{"x": 0.5, "y": 0.5}]}]}),
        ),
        (
            "SelectionAreaResult",
            json!({"type": "object", "required": ["status", "session_id", "final_unit_deduction", "res"],
                "properties": with_head(json!({"res": {"type": "object", "required": ["frame_index", "rle_mask_list"], "properties": {
                    "frame_index": {"type": "integer"},
                    "rle_mask_list": {"type": "array", "description": "Empty when the frame has no point left.", "items": {"type": "object", "properties": {
                        "object_id": {"type": "integer"},
                        "rle_mask": {"type": "object", "properties": {"size": size, "counts": {"type": "string", "description": "COCO compressed RLE, column-major."}}},
                        "png_mask": {"type": "object", "properties": {"size": size, "base64": {"type": "string", "description": "A grayscale PNG, 255 inside."}}},
                    }}},
                }}}))}),
        ),
        (
            "SessionRequest",
            json!({"type": "object", "required": ["session_id"], "properties": {"session_id": id_schema()}, "examples": [{"session_id": "860000000000000001"}]}),
        ),
        (
            "SelectionHead",
            json!({"type": "object", "required": ["status", "session_id", "final_unit_deduction"], "properties": head}),
        ),
        (
            "PreviewSelectionResult",
            json!({"type": "object", "required": ["status", "session_id", "final_unit_deduction", "res"],
                "properties": with_head(json!({"res": {"type": "object", "required": ["video", "video_cover", "tracking_output"], "properties": {
                    "video": uri, "video_cover": uri, "tracking_output": uri}}}))}),
        ),
    ]);
    KindDoc {
        tag: "video",
        ids: [
            "createMultiElements",
            "getMultiElements",
            "listMultiElements",
        ],
        summaries: [
            "Create a multi-elements editing task (add, swap or remove an element of a video)",
            "One multi-elements task, by task_id or external_task_id",
            "The caller's multi-elements tasks, newest first",
        ],
        description: "SOURCES.md: Multi-Elements. The session comes from init-selection.",
        request: "MultiElementsRequest",
        answer: "MultiElementsTask",
        answer_description: "",
        field_rules: TASK_FIELD_RULES,
        schemas,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(v: Value) -> String {
        CreateMultiElements::parse(v.as_object().unwrap())
            .unwrap_err()
            .message
            .to_string()
    }

    /// pycocotools' `rleFrString`, to read back what [`rle_string`] wrote.
    fn runs_of(s: &str) -> Vec<u64> {
        let b = s.as_bytes();
        let (mut p, mut out) = (0, Vec::<i64>::new());
        while p < b.len() {
            let (mut x, mut k, mut more) = (0i64, 0, true);
            while more {
                let c = i64::from(b[p]) - 48;
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
        out.into_iter().map(|x| x as u64).collect()
    }

    #[test]
    fn the_rle_string_reads_back_and_matches_pycocotools() {
        // A 4 × 3 mask with pixels (1, 1) and (2, 1) set: column-major runs 4, 1, 2, 1, 4.
        let mut m = vec![0u8; 12];
        m[4 + 1] = 1;
        m[4 + 2] = 1;
        let runs = column_runs(&m, 4, 3);
        assert_eq!(runs, vec![4, 1, 2, 1, 4]);
        assert_eq!(runs_of(&rle_string(&runs)), runs);
        // A 2 × 2 mask [[0, 1], [1, 1]]: runs 1, 3, as pycocotools writes them: "13".
        let m = vec![0, 1, 1, 1];
        assert_eq!(column_runs(&m, 2, 2), vec![1, 3]);
        assert_eq!(rle_string(&[1, 3]), "13");
        // Long runs and differences that go negative survive the round trip.
        let runs = vec![0, 900_000, 5, 17, 3, 2_000_000, 1];
        assert_eq!(runs_of(&rle_string(&runs)), runs);
    }

    #[test]
    fn a_mask_covers_its_points_and_no_more_than_their_discs() {
        let (w, h) = (1280, 720);
        let m = mask(w, h, &[[0.25, 0.5], [1.0, 1.0]]);
        assert_eq!(m[360 * 1280 + 320], 1, "the clicked pixel");
        assert_eq!(
            m[719 * 1280 + 1279],
            1,
            "a corner click stays inside the frame"
        );
        assert_eq!(m[0], 0);
        let set = m.iter().filter(|v| **v == 1).count() as f64;
        let r = 720.0 * 0.12;
        let disc = std::f64::consts::PI * r * r;
        assert!(
            set > disc && set < disc * 1.3,
            "one whole disc and a quarter: {set}"
        );
        let runs = column_runs(&m, w, h);
        assert_eq!(runs.iter().sum::<u64>(), u64::from(w * h));
        let png = mask_png(&m, w, h);
        assert!(png.starts_with(b"\x89PNG"));
        assert!(png.len() < 20_000, "{}", png.len());
    }

    #[test]
    fn edit_modes_take_their_image_counts() {
        let img = json!({"image": "https://x.example/a.png"});
        let base = json!({"session_id": "1", "prompt": "swap <<<image_1>>> into <<<video_1>>>"});
        let with = |mode: &str, n: usize| {
            let mut b = base.clone();
            b["edit_mode"] = mode.into();
            b["image_list"] = Value::Array(vec![img.clone(); n]);
            b
        };
        assert_eq!(
            err(with("removal", 1)),
            "image_list must have no items when edit_mode is removal, got 1"
        );
        assert_eq!(
            err(with("swap", 2)),
            "image_list must have exactly 1 item when edit_mode is swap, got 2"
        );
        assert_eq!(
            err(with("addition", 0)),
            "image_list must have 1 to 2 items when edit_mode is addition, got 0"
        );
        assert_eq!(
            err(with("addition", 3)),
            "image_list must have at most 2 items, got 3"
        );
        let ok = CreateMultiElements::parse(with("addition", 2).as_object().unwrap()).unwrap();
        assert_eq!((ok.images.len(), ok.secs, ok.out.units), (2, 5, 2.0));
        assert_eq!(
            err(json!({"session_id": "1", "prompt": "p"})),
            "edit_mode must not be null"
        );
        assert_eq!(
            err(json!({"edit_mode": "removal", "prompt": "p"})),
            "session_id must not be null"
        );
        assert_eq!(
            err(json!({"session_id": "1", "edit_mode": "removal"})),
            "prompt must not be null"
        );
        assert!(
            err(json!({"session_id": "1", "edit_mode": "erase", "prompt": "p"}))
                .starts_with("edit_mode value 'erase' is invalid")
        );
        assert_eq!(
            err(json!({"session_id": "1", "edit_mode": "removal", "prompt": "p", "duration": "7"})),
            "duration value '7' is invalid; allowed values: 5, 10"
        );
        assert!(
            err(json!({"session_id": "1", "edit_mode": "removal", "prompt": "p", "model_name": "kling-v2-6"}))
                .starts_with("model is not supported")
        );
    }
}
