//! Multi-elements over HTTP: the selection helpers on a session (init, add, delete, clear,
//! preview), their masks decoded (the PNG and the COCO RLE agree and cover the clicks), the
//! 24 h session on the virtual clock, another caller's session refused, the task editing the
//! session's video (its `videos[]` carrying the session), and a session surviving a restart.

use crate::helpers::*;
use base64::Engine as _;
use serde_json::{Value, json};
use std::io::Cursor;
use std::time::Duration;

const T2V: &str = "/v1/videos/text2video";
const ME: &str = "/v1/videos/multi-elements";
const INIT: &str = "/v1/videos/multi-elements/init-selection";
const ADD: &str = "/v1/videos/multi-elements/add-selection";
const DEL: &str = "/v1/videos/multi-elements/delete-selection";
const CLEAR: &str = "/v1/videos/multi-elements/clear-selection";
const PREVIEW: &str = "/v1/videos/multi-elements/preview-selection";
const FOREIGN: &str = "https://example.com/clip.mp4";
const CAT: &str = "https://example.com/cat.png";

async fn finished(app: &TestApp, path: &str, body: Value) -> Value {
    let a = app.post(path, body).await;
    let id = a.ok()["task_id"].as_str().expect("task_id").to_string();
    app.advance(FINISH);
    app.get(&format!("{path}/{id}")).await.ok().clone()
}

/// A finished text2video video of `secs`: its id.
async fn video_of(app: &TestApp, secs: &str) -> String {
    let d = finished(
        app,
        T2V,
        json!({"prompt": "a dog on a lawn", "duration": secs}),
    )
    .await;
    d["task_result"]["videos"][0]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The decoded MP4 behind a URL: (duration, (width, height)).
async fn mp4_of(app: &TestApp, url: &str) -> (Duration, (u16, u16)) {
    let (status, ctype, body) = app.fetch(url).await;
    assert_eq!((status, ctype.as_str()), (200, "video/mp4"), "{url}");
    let m = mp4::Mp4Reader::read_header(Cursor::new(&body), body.len() as u64).unwrap();
    let v = m
        .tracks()
        .values()
        .find(|t| t.width() > 0)
        .expect("a video track");
    (m.duration(), (v.width(), v.height()))
}

/// A PNG's size and its row-major grey (or first channel) values.
fn decode_png(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let mut r = png::Decoder::new(Cursor::new(bytes)).read_info().unwrap();
    let mut buf = vec![0; r.output_buffer_size().unwrap()];
    let info = r.next_frame(&mut buf).unwrap();
    let step = info.color_type.samples();
    let px = buf[..info.buffer_size()]
        .iter()
        .step_by(step)
        .copied()
        .collect();
    (info.width, info.height, px)
}

/// pycocotools' `rleFrString`: the run lengths of a compressed RLE string.
fn coco_runs(s: &str) -> Vec<u64> {
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

/// Check one `rle_mask_list` entry against a `w` × `h` frame and the clicked points: the PNG and
/// the RLE have the frame's size, agree pixel for pixel, and cover every click.
fn check_mask(entry: &Value, w: u32, h: u32, clicks: &[(f64, f64)]) -> usize {
    assert_eq!(entry["rle_mask"]["size"], json!([h, w]));
    assert_eq!(entry["png_mask"]["size"], json!([h, w]));
    let png = base64::engine::general_purpose::STANDARD
        .decode(entry["png_mask"]["base64"].as_str().unwrap())
        .unwrap();
    let (pw, ph, px) = decode_png(&png);
    assert_eq!((pw, ph), (w, h));
    let runs = coco_runs(entry["rle_mask"]["counts"].as_str().unwrap());
    assert_eq!(runs.iter().sum::<u64>(), u64::from(w * h));
    // Column-major runs, starting with unset pixels.
    let mut col_major = Vec::with_capacity((w * h) as usize);
    for (i, r) in runs.iter().enumerate() {
        col_major.extend(std::iter::repeat_n(u8::from(i % 2 == 1), *r as usize));
    }
    let (wu, hu) = (w as usize, h as usize);
    for x in 0..wu {
        for y in 0..hu {
            assert_eq!(
                px[y * wu + x] != 0,
                col_major[x * hu + y] == 1,
                "pixel ({x}, {y})"
            );
        }
    }
    for (cx, cy) in clicks {
        let (x, y) = (
            ((cx * f64::from(w)) as usize).min(wu - 1),
            ((cy * f64::from(h)) as usize).min(hu - 1),
        );
        assert_ne!(
            px[y * wu + x],
            0,
            "the click ({cx}, {cy}) is inside the mask"
        );
    }
    let set = px.iter().filter(|v| **v != 0).count();
    assert!(set < wu * hu / 2, "a mask, not the whole frame: {set}");
    set
}

fn points(list: &[(f64, f64)]) -> Value {
    Value::Array(list.iter().map(|(x, y)| json!({"x": x, "y": y})).collect())
}

async fn init(app: &TestApp, body: Value) -> Value {
    app.post(INIT, body).await.ok().clone()
}

fn session_of(d: &Value) -> String {
    d["session_id"].as_str().expect("session_id").to_string()
}

#[tokio::test]
async fn a_selection_goes_from_init_to_preview_with_masks_that_decode() {
    let app = spawn_app().await;
    let vid = video_of(&app, "5").await;
    let s = init(&app, json!({"video_id": vid})).await;
    assert_eq!(s["status"], 0);
    assert_eq!(s["final_unit_deduction"], "0");
    assert_eq!(s["original_duration"], 5000);
    let (w, h) = (
        s["width"].as_u64().unwrap() as u32,
        s["height"].as_u64().unwrap() as u32,
    );
    let fps = s["fps"].as_f64().unwrap();
    assert_eq!(s["total_frame"].as_f64().unwrap(), fps * 5.0);
    let (dur, size) = mp4_of(&app, s["normalized_video"].as_str().unwrap()).await;
    assert_eq!(dur, Duration::from_secs(5));
    assert_eq!((u32::from(size.0), u32::from(size.1)), (w, h));
    let sid = session_of(&s);

    // Two clicks on frame 12: one object, its mask covering both.
    let clicks = [(0.3, 0.4), (0.35, 0.45)];
    let a = app
        .post(
            ADD,
            json!({"session_id": sid, "frame_index": 12, "points": points(&clicks)}),
        )
        .await;
    let r = &a.ok()["res"];
    assert_eq!(r["frame_index"], 12);
    assert_eq!(a.ok()["session_id"], sid.as_str());
    let list = r["rle_mask_list"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["object_id"], 1);
    let two = check_mask(&list[0], w, h, &clicks);
    // A third click far away grows the mask; the same clicks again change nothing.
    let a = app
        .post(
            ADD,
            json!({"session_id": sid, "frame_index": 12, "points": points(&[(0.9, 0.1)])}),
        )
        .await;
    let three = check_mask(
        &a.ok()["res"]["rle_mask_list"][0],
        w,
        h,
        &[(0.3, 0.4), (0.9, 0.1)],
    );
    assert!(three > two, "{three} > {two}");
    let again = app
        .post(
            ADD,
            json!({"session_id": sid, "frame_index": 12, "points": points(&clicks)}),
        )
        .await;
    assert_eq!(
        again.ok()["res"],
        a.ok()["res"],
        "the same clicks, the same mask"
    );

    // Deleting takes back exactly the clicks that were added.
    let e = app
        .post(
            DEL,
            json!({"session_id": sid, "frame_index": 12, "points": points(&[(0.5, 0.5)])}),
        )
        .await;
    assert_eq!(
        e.err(400, 1201),
        "points[0]: (0.5, 0.5) was not added to frame 12"
    );
    let e = app
        .post(
            DEL,
            json!({"session_id": sid, "frame_index": 3, "points": points(&clicks)}),
        )
        .await;
    assert_eq!(e.err(400, 1201), "frame_index: frame 3 has no selection");
    let d = app
        .post(
            DEL,
            json!({"session_id": sid, "frame_index": 12, "points": points(&[(0.9, 0.1)])}),
        )
        .await;
    assert_eq!(
        check_mask(&d.ok()["res"]["rle_mask_list"][0], w, h, &clicks),
        two,
        "back to the mask of the first two clicks"
    );

    // Preview: two MP4s of the video's size and length, and a PNG cover.
    let p = app.post(PREVIEW, json!({"session_id": sid})).await;
    let res = p.ok()["res"].clone();
    for k in ["video", "tracking_output"] {
        let (dur, size) = mp4_of(&app, res[k].as_str().unwrap()).await;
        assert_eq!(dur, Duration::from_secs(5), "{k}");
        assert_eq!((u32::from(size.0), u32::from(size.1)), (w, h), "{k}");
    }
    let (status, ctype, cover) = app.fetch(res["video_cover"].as_str().unwrap()).await;
    assert_eq!((status, ctype.as_str()), (200, "image/png"));
    let (cw, ch, _) = decode_png(&cover);
    assert_eq!((cw, ch), (w, h));
    assert_ne!(res["video"], res["tracking_output"]);

    // The last clicks deleted: the frame has no mask; clear leaves nothing to preview.
    let d = app
        .post(
            DEL,
            json!({"session_id": sid, "frame_index": 12, "points": points(&clicks)}),
        )
        .await;
    assert_eq!(d.ok()["res"]["rle_mask_list"], json!([]));
    app.post(
        ADD,
        json!({"session_id": sid, "frame_index": 0, "points": points(&clicks)}),
    )
    .await
    .ok();
    let c = app.post(CLEAR, json!({"session_id": sid})).await;
    assert_eq!(
        c.ok(),
        &json!({"status": 0, "session_id": sid, "final_unit_deduction": "0"})
    );
    let e = app.post(PREVIEW, json!({"session_id": sid})).await;
    assert!(
        e.err(400, 1201).starts_with(&format!(
            "session_id: session {sid} has no selection to preview"
        )),
        "{}",
        e.message()
    );
}

#[tokio::test]
async fn selections_keep_their_limits() {
    let app = spawn_app().await;
    let s = init(&app, json!({"video_url": FOREIGN})).await;
    assert_eq!(
        (
            &s["width"],
            &s["height"],
            &s["total_frame"],
            &s["original_duration"]
        ),
        (&json!(1280), &json!(720), &json!(120), &json!(5000)),
        "a foreign URL counts as 5 s of 1280 x 720 at 24 fps"
    );
    let sid = session_of(&s);
    let add = |frame: Value, pts: Value| {
        let body = json!({"session_id": sid, "frame_index": frame, "points": pts});
        let app = &app;
        async move { app.post(ADD, body).await }
    };
    let one = points(&[(0.5, 0.5)]);
    for frame in 0..10 {
        add(json!(frame * 10), one.clone()).await.ok();
    }
    let e = add(json!(101), one.clone()).await;
    assert_eq!(
        e.err(400, 1201),
        "frame_index: at most 10 frames may be marked in a session, 10 are (delete or clear a selection first)"
    );
    // A frame already marked still takes points, up to 10.
    let more: Vec<(f64, f64)> = (1..=10).map(|i| (f64::from(i) / 11.0, 0.6)).collect();
    add(json!(0), points(&more[..8])).await.ok();
    let e = add(json!(0), points(&more[8..])).await;
    assert_eq!(
        e.err(400, 1201),
        "points: frame 0 would have 11 points; at most 10 a frame"
    );
    let eleven: Vec<(f64, f64)> = (0..11).map(|i| (f64::from(i) / 20.0, 0.1)).collect();
    assert_eq!(
        add(json!(10), points(&eleven)).await.err(400, 1201),
        "points must have 1 to 10 items, got 11"
    );
    assert_eq!(
        add(json!(10), json!([])).await.err(400, 1201),
        "points must have 1 to 10 items, got 0"
    );
    assert_eq!(
        add(json!(10), points(&[(1.2, 0.5)])).await.err(400, 1201),
        "points[0].x must be between 0 and 1, got 1.2"
    );
    assert_eq!(
        add(json!(10), json!([{"x": 0.5}])).await.err(400, 1201),
        "points[0].y must not be null"
    );
    for bad in [json!(120), json!(-1), json!(1.5), json!("3")] {
        let e = add(bad.clone(), one.clone()).await;
        assert!(
            e.err(400, 1201).starts_with(
                "frame_index must be an integer from 0 to 119 (the video has 120 frames)"
            ),
            "{bad}: {}",
            e.message()
        );
    }
    let e = app
        .post(ADD, json!({"frame_index": 0, "points": one}))
        .await;
    assert_eq!(e.err(400, 1201), "session_id must not be null");
    let e = app
        .post(
            ADD,
            json!({"session_id": "42", "frame_index": 0, "points": one}),
        )
        .await;
    assert_eq!(e.err(400, 1201), "session_id: Session not found by id: 42");
    // init-selection's own rules.
    assert_eq!(
        app.post(INIT, json!({})).await.err(400, 1201),
        "video_id or video_url is required"
    );
    assert!(
        app.post(INIT, json!({"video_url": "https://example.com/a.gif"}))
            .await
            .err(400, 1201)
            .starts_with("video_url must be a .mp4/.mov video URL")
    );
    assert_eq!(
        app.post(INIT, json!({"video_id": "77"}))
            .await
            .err(400, 1201),
        "video_id: Video not found by id: 77"
    );
}

#[tokio::test]
async fn a_video_must_last_2_to_5_or_7_to_10_seconds() {
    let app = spawn_app().await;
    let ten = video_of(&app, "10").await;
    let s = init(&app, json!({"video_id": ten})).await;
    assert_eq!(s["original_duration"], 10_000);
    // A 10 s kling-v1 video extended once lasts 14.5 s.
    let d = finished(&app, "/v1/videos/video-extend", json!({"video_id": ten})).await;
    let long = d["task_result"]["videos"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let e = app.post(INIT, json!({"video_id": long})).await;
    assert_eq!(
        e.err(400, 1201),
        "video_id: the video must last 2 to 5 s or 7 to 10 s, got 14.5 s"
    );
    // The task's duration must match the session's class.
    let sid = session_of(&s);
    let body = json!({"session_id": sid, "edit_mode": "addition", "image_list": [{"image": CAT}],
        "prompt": "add the cat from <<<image_1>>> to <<<video_1>>>"});
    let e = app.post(ME, body.clone()).await;
    assert_eq!(
        e.err(400, 1201),
        format!("duration 5 needs a video of 2 to 5 s; the video of session {sid} lasts 10 s")
    );
    let mut ten_s = body;
    ten_s["duration"] = json!("10");
    ten_s["mode"] = json!("pro");
    let d = finished(&app, ME, ten_s).await;
    assert_eq!(d["task_status"], "succeed", "{d}");
    let v = &d["task_result"]["videos"][0];
    assert_eq!(
        (&v["duration"], &v["session_id"]),
        (&json!("10"), &json!(sid))
    );
    assert_eq!(d["final_unit_deduction"], "7", "kling-v1-6 pro, 10 s");
}

#[tokio::test]
async fn the_task_edits_the_sessions_video() {
    let app = spawn_app().await;
    let vid = video_of(&app, "5").await;
    let s = init(&app, json!({"video_id": vid})).await;
    let sid = session_of(&s);
    let (w, h) = (s["width"].as_u64().unwrap(), s["height"].as_u64().unwrap());
    let removal = json!({"session_id": sid, "edit_mode": "removal", "prompt": "Delete the dog from <<<video_1>>>"});
    // Swap and removal need a selection; addition does not.
    let e = app.post(ME, removal.clone()).await;
    assert_eq!(
        e.err(400, 1201),
        format!(
            "session_id: session {sid} has no selection: mark the element to remove with add-selection first"
        )
    );
    let addition = json!({"session_id": sid, "edit_mode": "addition", "image_list": [{"image": CAT}],
        "prompt": "Using the context of <<<video_1>>>, add the cat from <<<image_1>>>",
        "watermark_info": {"enabled": true}, "external_task_id": "edit-1"});
    let d = finished(&app, ME, addition).await;
    assert_eq!(d["task_status"], "succeed", "{d}");
    assert_eq!(d["task_info"]["external_task_id"], "edit-1");
    let v = &d["task_result"]["videos"][0];
    assert_eq!(v["session_id"], sid.as_str());
    assert_eq!(v["duration"], "5");
    assert_ne!(v["id"], vid.as_str());
    let (dur, size) = mp4_of(&app, v["url"].as_str().unwrap()).await;
    assert_eq!(dur, Duration::from_secs(5));
    assert_eq!(
        (u64::from(size.0), u64::from(size.1)),
        (w, h),
        "the session video's size"
    );
    mp4_of(&app, v["watermark_url"].as_str().unwrap()).await;
    assert_eq!(d["final_unit_deduction"], "2", "kling-v1-6 std, 5 s");

    app.post(
        ADD,
        json!({"session_id": sid, "frame_index": 0, "points": points(&[(0.5, 0.5)])}),
    )
    .await
    .ok();
    let d = finished(&app, ME, removal).await;
    assert_eq!(d["task_status"], "succeed", "{d}");
    // The list and the query by external id show it as the single query does.
    let q = app.get(&format!("{ME}/edit-1")).await;
    assert_eq!(
        q.ok()["task_result"]["videos"][0]["session_id"],
        sid.as_str()
    );
    let l = app.get(&format!("{ME}?pageNum=1&pageSize=10")).await;
    assert_eq!(l.ok().as_array().unwrap().len(), 2);
    // The swap takes exactly one image.
    let e = app
        .post(
            ME,
            json!({"session_id": sid, "edit_mode": "swap", "prompt": "swap",
            "image_list": [{"image": CAT}, {"image": CAT}]}),
        )
        .await;
    assert_eq!(
        e.err(400, 1201),
        "image_list must have exactly 1 item when edit_mode is swap, got 2"
    );
}

#[tokio::test]
async fn sessions_are_the_callers_own_and_last_24_hours() {
    let app = spawn_app().await;
    let sid = session_of(&init(&app, json!({"video_url": FOREIGN})).await);
    let add = json!({"session_id": sid, "frame_index": 0, "points": points(&[(0.5, 0.5)])});
    let e = app.post_as(AK2, SK2, ADD, add.clone()).await;
    assert_eq!(
        e.err(400, 1201),
        format!("session_id: Session not found by id: {sid}")
    );
    let e = app
        .post_as(
            AK2,
            SK2,
            ME,
            json!({"session_id": sid, "edit_mode": "removal", "prompt": "p"}),
        )
        .await;
    assert_eq!(
        e.err(400, 1201),
        format!("session_id: Session not found by id: {sid}")
    );
    app.post(ADD, add.clone()).await.ok();
    app.advance(Duration::from_secs(24 * 3600 - 1));
    app.post(PREVIEW, json!({"session_id": sid})).await.ok();
    app.advance(Duration::from_secs(1));
    let expired = format!(
        "session_id: session {sid} has expired (a selection session is valid for 24 hours)"
    );
    assert_eq!(app.post(ADD, add).await.err(400, 1201), expired);
    assert_eq!(
        app.post(CLEAR, json!({"session_id": sid}))
            .await
            .err(400, 1201),
        expired
    );
    let e = app
        .post(
            ME,
            json!({"session_id": sid, "edit_mode": "removal", "prompt": "p"}),
        )
        .await;
    assert_eq!(e.err(400, 1201), expired);
    // A reset of the account forgets its sessions; another account's are kept.
    let mine = session_of(&init(&app, json!({"video_url": FOREIGN})).await);
    let theirs = session_of(
        app.post_as(AK2, SK2, INIT, json!({"video_url": FOREIGN}))
            .await
            .ok(),
    );
    app.ctl_post("/__mock/reset", json!({"account": AK}))
        .await
        .ok();
    let e = app.post(CLEAR, json!({"session_id": mine})).await;
    assert_eq!(
        e.err(400, 1201),
        format!("session_id: Session not found by id: {mine}")
    );
    app.post_as(AK2, SK2, CLEAR, json!({"session_id": theirs}))
        .await
        .ok();
}

#[tokio::test]
async fn a_session_and_its_marks_survive_a_restart() {
    let dir = std::env::temp_dir().join(format!("kling-mock-me-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("sessions.db");
    let _ = std::fs::remove_file(&path);
    let serve = |at: i64| {
        let cfg = kling_mock::Config {
            state_file: Some(path.clone()),
            ..config()
        };
        spawn_stoppable(cfg, at)
    };
    let t0 = 1_790_000_000_000;
    let (app, stop, run) = serve(t0).await;
    let sid = session_of(&init(&app, json!({"video_url": FOREIGN})).await);
    let clicks = points(&[(0.25, 0.75)]);
    let before = app
        .post(
            ADD,
            json!({"session_id": sid, "frame_index": 7, "points": clicks}),
        )
        .await
        .ok()
        .clone();
    stop.send(()).unwrap();
    run.await.unwrap().unwrap();

    let (app, stop, run) = serve(t0 + 60_000).await;
    // The marks are kept: the same click is already there, and deleting it works.
    let again = app
        .post(
            ADD,
            json!({"session_id": sid, "frame_index": 7, "points": clicks}),
        )
        .await;
    assert_eq!(again.ok()["res"], before["res"]);
    app.post_as(AK2, SK2, PREVIEW, json!({"session_id": sid}))
        .await
        .err(400, 1201);
    app.post(PREVIEW, json!({"session_id": sid})).await.ok();
    stop.send(()).unwrap();
    run.await.unwrap().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
