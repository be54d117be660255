//! Video to audio and image recognition over HTTP. Video to audio: a sound track for one of the caller's videos (by id or by the
//! mock's own URL), the dubbed MP4 and the sound as MP3 and WAV, all as long as the source.

use crate::helpers::*;
use serde_json::{Value, json};
use std::io::Cursor;

const V2A: &str = "/v1/audio/video-to-audio";
const T2V: &str = "/v1/videos/text2video";

async fn finished_as(app: &TestApp, ak: &str, sk: &str, path: &str, body: Value) -> Value {
    let a = app.post_as(ak, sk, path, body).await;
    let id = a.ok()["task_id"].as_str().expect("task_id").to_string();
    app.advance(FINISH);
    app.get_as(ak, sk, &format!("{path}/{id}"))
        .await
        .ok()
        .clone()
}

/// A silent kling-v1 video of `secs` (5 or 10): its id and URL.
async fn silent_video(app: &TestApp, secs: &str) -> (String, String) {
    let d = finished_as(
        app,
        AK,
        SK,
        T2V,
        json!({"prompt": "a quiet lake", "duration": secs}),
    )
    .await;
    let v = &d["task_result"]["videos"][0];
    (
        v["id"].as_str().unwrap().to_string(),
        v["url"].as_str().unwrap().to_string(),
    )
}

#[tokio::test]
async fn a_video_gets_a_sound_track_as_long_as_itself() {
    let app = spawn_app().await;
    let (id, url) = silent_video(&app, "5").await;
    let d = finished_as(
        &app,
        AK,
        SK,
        V2A,
        json!({"video_id": id, "sound_effect_prompt": "wind", "bgm_prompt": "calm piano", "asmr_mode": true}),
    )
    .await;
    assert_eq!(d["task_status"], "succeed", "{d}");
    assert_eq!(d["task_info"]["parent_video"]["id"], id.as_str());
    assert_eq!(d["task_info"]["parent_video"]["duration"], "5");
    let r = &d["task_result"];
    let v = &r["videos"][0];
    assert_eq!(v["duration"], "5");
    assert_ne!(v["id"], id.as_str(), "a new video");
    let (_, _, mp4) = app.fetch(v["url"].as_str().unwrap()).await;
    let m = mp4::Mp4Reader::read_header(Cursor::new(&mp4), mp4.len() as u64).unwrap();
    assert_eq!(m.tracks().len(), 2, "video and its new sound");
    assert_eq!(m.duration(), std::time::Duration::from_secs(5));
    let video = m.tracks().values().find(|t| t.width() > 0).unwrap();
    assert_eq!(
        (video.width(), video.height()),
        (1280, 720),
        "the source's size"
    );
    let a = &r["audios"][0];
    assert_eq!(a["duration_wav"], "5");
    let (status, ctype, wav) = app.fetch(a["url_wav"].as_str().unwrap()).await;
    assert_eq!((status, ctype.as_str()), (200, "audio/wav"));
    assert!(wav.starts_with(b"RIFF"));
    let (_, ctype, _) = app.fetch(a["url_mp3"].as_str().unwrap()).await;
    assert_eq!(ctype, "audio/mpeg");
    // The mock's own URL of the same video works too.
    let d = finished_as(&app, AK, SK, V2A, json!({"video_url": url})).await;
    assert_eq!(d["task_status"], "succeed");
    assert_eq!(d["task_info"]["parent_video"]["id"], id.as_str());
    assert_eq!(d["task_result"]["videos"][0]["duration"], "5");
}

#[tokio::test]
async fn only_the_callers_own_finished_videos_of_3_to_20_s() {
    let app = spawn_app().await;
    let (id, _) = silent_video(&app, "10").await;
    let e = app.post_as(AK2, SK2, V2A, json!({"video_id": id})).await;
    assert_eq!(
        e.err(400, 1201),
        format!("video_id: Video not found by id: {id}")
    );
    app.post(V2A, json!({"video_id": "123"}))
        .await
        .err(400, 1201);
    // A 25 s video: one extension chain of a kling-v1 video (10 + 4.5 + 4.5 + 4.5 = 23.5 s).
    let mut vid = id.clone();
    for _ in 0..3 {
        let d = finished_as(
            &app,
            AK,
            SK,
            "/v1/videos/video-extend",
            json!({"video_id": vid}),
        )
        .await;
        vid = d["task_result"]["videos"][0]["id"]
            .as_str()
            .unwrap()
            .to_string();
    }
    let e = app.post(V2A, json!({"video_id": vid})).await;
    assert_eq!(
        e.err(400, 1201),
        "video_id: the video must last 3 to 20 s, got 23.5 s"
    );
    // A foreign URL is not fetched: the task makes a 5 s track.
    let d = finished_as(
        &app,
        AK,
        SK,
        V2A,
        json!({"video_url": "https://example.com/clip.mp4"}),
    )
    .await;
    assert_eq!(d["task_status"], "succeed");
    assert!(d["task_info"].get("parent_video").is_none(), "{d}");
    assert_eq!(d["task_result"]["audios"][0]["duration_wav"], "5");
    assert_eq!(d["final_unit_deduction"], "0.05");
}

#[tokio::test]
async fn image_recognize_answers_four_png_masks_of_the_input_size() {
    let app = spawn_app().await;
    // One of the mock's own pictures, so its size is known.
    let g = finished_as(
        &app,
        AK,
        SK,
        "/v1/images/generations",
        json!({"prompt": "a person", "aspect_ratio": "3:4"}),
    )
    .await;
    let pic = g["task_result"]["images"][0]["url"].as_str().unwrap();
    let a = app
        .post("/v1/videos/image-recognize", json!({"image": pic}))
        .await;
    let d = a.ok();
    assert_eq!(d["final_unit_deduction"], "0.05");
    let images = d["task_result"]["images"].as_array().unwrap();
    let types: Vec<&str> = images.iter().map(|i| i["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["object_seg", "head_seg", "face_seg", "cloth_seg"]);
    for i in images {
        assert_eq!(i["is_contain"], true);
        let (status, ctype, png) = app.fetch(i["url"].as_str().unwrap()).await;
        assert_eq!((status, ctype.as_str()), (200, "image/png"));
        let s = imagesize::blob_size(&png).unwrap();
        assert_eq!((s.width, s.height), (880, 1184), "the input's size");
    }
    let e = app
        .post(
            "/v1/videos/image-recognize",
            json!({"image": "https://x.example/a.png"}),
        )
        .await;
    assert_eq!(e.code(), 0, "a foreign URL is not fetched: {}", e.message());
    let bogus = format!(
        "{}/files/kling_00000000-0000-4000-8000-000000000000.png",
        app.base
    );
    let e = app
        .post("/v1/videos/image-recognize", json!({"image": bogus}))
        .await;
    assert!(
        e.err(400, 1201)
            .starts_with("image: Failed to download the image file"),
        "{}",
        e.message()
    );
    app.post("/v1/videos/image-recognize", json!({}))
        .await
        .err(400, 1201);
}
