//! The video families over HTTP: lifecycle and result shape, costs, `watermark_info`, what real
//! clients send, video_id references (extension, custom voices), input images.

use crate::helpers::*;
use serde_json::{Value, json};

const T2V: &str = "/v1/videos/text2video";
const I2V: &str = "/v1/videos/image2video";
const EXTEND: &str = "/v1/videos/video-extend";

/// Create a task at `path`, finish it, and return its single-query `data`.
async fn finished(app: &TestApp, path: &str, body: Value) -> Value {
    finished_as(app, AK, SK, path, body).await
}

async fn finished_as(app: &TestApp, ak: &str, sk: &str, path: &str, body: Value) -> Value {
    let a = app.post_as(ak, sk, path, body).await;
    let id = a.ok()["task_id"].as_str().expect("task_id").to_string();
    app.advance(FINISH);
    let q = app.get_as(ak, sk, &format!("{path}/{id}")).await;
    q.ok().clone()
}

fn video(data: &Value) -> &Value {
    &data["task_result"]["videos"][0]
}

#[tokio::test]
async fn a_text2video_task_moves_to_succeed_with_one_video() {
    let app = spawn_app().await;
    let body = json!({"prompt": "a fox in snow", "external_task_id": "fox-1",
                      "watermark_info": {"enabled": true}});
    let created = app.post(T2V, body).await;
    let c = created.ok();
    assert_eq!(c["task_status"], "submitted");
    assert_eq!(c["task_info"]["external_task_id"], "fox-1");
    let id = c["task_id"].as_str().unwrap().to_string();
    // Every status shows what the request decided.
    let q = app.get(&format!("{T2V}/{id}")).await;
    assert_eq!(q.ok()["watermark_info"], json!({"enabled": true}));
    assert_eq!(q.ok()["task_result"], json!({}));
    assert_eq!(q.ok()["final_unit_deduction"], "0");
    app.advance(FINISH);
    let q = app.get(&format!("{T2V}/fox-1")).await;
    let d = q.ok();
    assert_eq!(d["task_status"], "succeed");
    assert_eq!(d["watermark_info"], json!({"enabled": true}));
    let v = video(d);
    assert!(
        v["id"]
            .as_str()
            .unwrap()
            .chars()
            .all(|c| c.is_ascii_digit())
    );
    assert_eq!(v["duration"], "5");
    let (url, marked) = (
        v["url"].as_str().unwrap(),
        v["watermark_url"].as_str().unwrap(),
    );
    assert!(url.starts_with(&app.base) && url.contains(".mp4"), "{url}");
    assert_ne!(url, marked);
    // kling-v1, std, 5 s: 1 unit.
    assert_eq!(d["final_unit_deduction"], "1");
    let list = app.get(&format!("{T2V}?pageNum=1&pageSize=10")).await;
    assert_eq!(list.ok().as_array().unwrap().len(), 1);
    assert_eq!(list.ok()[0]["task_id"], d["task_id"]);
}

#[tokio::test]
async fn without_a_watermark_there_is_no_watermark_url() {
    let app = spawn_app().await;
    let d = finished(&app, T2V, json!({"prompt": "x"})).await;
    assert_eq!(d["watermark_info"], json!({"enabled": false}));
    assert!(video(&d).get("watermark_url").is_none(), "{d}");
}

#[tokio::test]
async fn the_deduction_follows_model_mode_duration_and_sound_and_is_charged() {
    let app = spawn_app().await;
    let before = remaining(&app).await;
    let cases = [
        (
            json!({"prompt": "x", "model_name": "kling-v2-6", "mode": "pro", "duration": "10", "sound": "on"}),
            "10",
        ),
        (
            json!({"prompt": "x", "model_name": "kling-v2-6", "mode": "pro", "duration": "5"}),
            "2.5",
        ),
        (
            json!({"prompt": "x", "model_name": "kling-v2-master", "duration": 10}),
            "20",
        ),
        (
            json!({"prompt": "x", "model_name": "kling-v3", "duration": "3"}),
            "1.8",
        ),
    ];
    let mut total = 0.0;
    for (body, units) in cases {
        let d = finished(&app, T2V, body).await;
        assert_eq!(d["final_unit_deduction"], units, "{d}");
        total += units.parse::<f64>().unwrap();
    }
    let after = remaining(&app).await;
    assert!(
        (before - after - total).abs() < 1e-6,
        "{before} - {after} != {total}"
    );
}

async fn remaining(app: &TestApp) -> f64 {
    let now = app.now_ms();
    let a = app
        .get(&format!(
            "/account/costs?start_time={}&end_time={}",
            now - 1000,
            now + 1000
        ))
        .await;
    a.ok()["resource_pack_subscribe_infos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["remaining_quantity"].as_f64().unwrap())
        .sum()
}

#[tokio::test]
async fn what_published_clients_send_is_accepted() {
    let app = spawn_app().await;
    // new-api: model beside model_name, cfg_scale to a v2 model, mode, aspect ratio.
    let a = app
        .post(
            T2V,
            json!({"model": "kling-v2-1-master", "model_name": "kling-v2-1-master",
            "prompt": "x", "negative_prompt": "", "cfg_scale": 0.5, "mode": "std",
            "aspect_ratio": "16:9", "duration": "5", "callback_url": ""}),
        )
        .await;
    a.ok();
    // Griptape: duration as a number.
    app.post(
        I2V,
        json!({"model_name": "kling-v2-5-turbo", "image": "https://x.example/a.jpg", "prompt": "p",
        "duration": 10, "mode": "pro"}),
    )
    .await
    .ok();
    // The official example: multi_shot as a string.
    app.post(
        I2V,
        json!({"model_name": "kling-v3", "image": "https://x.example/a.jpg",
        "multi_shot": "true", "shot_type": "intelligence", "prompt": "two shots"}),
    )
    .await
    .ok();
}

#[tokio::test]
async fn refusals_are_1201_and_name_the_field_and_rule() {
    let app = spawn_app().await;
    let cases = [
        (
            T2V,
            json!({"model_name": "kling-v1-5", "prompt": "x"}),
            "model is not supported",
        ),
        (
            T2V,
            json!({"prompt": "x", "duration": "99"}),
            "duration value '99' is invalid",
        ),
        (
            T2V,
            json!({"prompt": "x", "camera_control": {"type": "simple", "config": {"pan": 1, "zoom": 1}}}),
            "exactly one non-zero",
        ),
        (
            I2V,
            json!({"prompt": "x"}),
            "image and image_tail must not both be null",
        ),
        (
            I2V,
            json!({"prompt": "p", "image": "data:image/png;base64,AAAA"}),
            "File is not in a valid base64 format",
        ),
        (
            "/v1/videos/omni-video",
            json!({"prompt": "x"}),
            "aspect_ratio must not be null",
        ),
        (
            "/v1/videos/motion-control",
            json!({"image_url": "https://x.example/a.jpg", "video_url": "https://x.example/m.mp4", "mode": "std"}),
            "character_orientation must not be null",
        ),
        (
            "/v1/videos/multi-image2video",
            json!({"prompt": "x"}),
            "image_list must not be null",
        ),
        (EXTEND, json!({}), "video_id must not be null"),
    ];
    for (path, body, msg) in cases {
        let a = app.post(path, body.clone()).await;
        let m = a.err(400, 1201);
        assert!(m.contains(msg), "{path} {body}: {m}");
    }
}

#[tokio::test]
async fn a_small_input_image_makes_the_task_fail_as_live() {
    let app = spawn_app().await;
    let d = finished(
        &app,
        I2V,
        json!({"prompt": "p", "image": png_b64(200, 200)}),
    )
    .await;
    assert_eq!(d["task_status"], "failed");
    assert_eq!(d["task_status_msg"], "Image pixel is invalid");
    assert_eq!(d["task_result"], json!({}));
    assert_eq!(d["final_unit_deduction"], "0");
}

#[tokio::test]
async fn an_image_to_video_takes_the_shape_of_its_base64_image() {
    let app = spawn_app().await;
    let d = finished(
        &app,
        I2V,
        json!({"prompt": "p", "image": png_b64(600, 1200), "model_name": "kling-v2-1", "mode": "pro"}),
    )
    .await;
    assert_eq!(d["task_status"], "succeed", "{d}");
    let facts = video_facts(&app, &d).await;
    assert_eq!((facts.width, facts.height, facts.fps), (1080, 2160, 24));
}

async fn video_facts(app: &TestApp, d: &Value) -> kling_mock::media::VideoFacts {
    let id: u64 = video(d)["id"].as_str().unwrap().parse().unwrap();
    app.state
        .media
        .video_item(0, id, app.now_ms())
        .expect("a video id of account 0")
        .1
}

/// A PNG header of `w × h` in Base64 (enough for the size checks).
fn png_b64(w: u32, h: u32) -> String {
    use base64::Engine as _;
    let mut b = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    b.extend_from_slice(&13u32.to_be_bytes());
    b.extend_from_slice(b"IHDR");
    b.extend_from_slice(&w.to_be_bytes());
    b.extend_from_slice(&h.to_be_bytes());
    b.extend_from_slice(&[8, 2, 0, 0, 0, 0, 0, 0, 0]);
    base64::engine::general_purpose::STANDARD.encode(b)
}

#[tokio::test]
async fn an_extension_continues_its_parent_with_the_same_model_and_mode() {
    let app = spawn_app().await;
    let parent = finished(
        &app,
        T2V,
        json!({"prompt": "x", "model_name": "kling-v1-6", "mode": "pro"}),
    )
    .await;
    let pid = video(&parent)["id"].as_str().unwrap().to_string();
    let d = finished(&app, EXTEND, json!({"video_id": pid, "prompt": "go on"})).await;
    assert_eq!(d["task_status"], "succeed", "{d}");
    assert_eq!(d["task_info"]["parent_video"]["id"], pid.as_str());
    assert_eq!(d["task_info"]["parent_video"]["url"], video(&parent)["url"]);
    assert_eq!(d["task_info"]["parent_video"]["duration"], "5");
    assert_eq!(video(&d)["duration"], "9.5");
    let facts = video_facts(&app, &d).await;
    assert_eq!(
        (facts.width, facts.height, facts.fps, facts.pro),
        (1920, 1080, 24, true)
    );
    assert_eq!(facts.model.as_str(), "kling-v1-6");
    // An extension of the extension.
    let again = finished(&app, EXTEND, json!({"video_id": video(&d)["id"]})).await;
    assert_eq!(video(&again)["duration"], "14");
}

#[tokio::test]
async fn video_ids_resolve_only_to_the_callers_own_finished_extendable_videos() {
    let app = spawn_app().await;
    let mine = finished(&app, T2V, json!({"prompt": "x"})).await;
    let id = video(&mine)["id"].as_str().unwrap().to_string();
    // Another account's video is unknown to this one.
    let a = app.post_as(AK2, SK2, EXTEND, json!({"video_id": id})).await;
    assert!(
        a.err(400, 1201)
            .contains(&format!("video_id: Video not found by id: {id}"))
    );
    // A video still being made is not visible yet.
    let c = app.post(T2V, json!({"prompt": "y"})).await;
    let tid = c.ok()["task_id"].as_str().unwrap().to_string();
    let pending = app
        .state
        .engine
        .get(0, kling_mock::kinds::text2video::SPEC.id, &tid);
    let planned = pending.unwrap().planned;
    let pending_video =
        serde_json::to_value(planned.to_wire(&app.base)).unwrap()["videos"][0]["id"]
            .as_str()
            .unwrap()
            .to_string();
    let a = app.post(EXTEND, json!({"video_id": pending_video})).await;
    assert!(a.err(400, 1201).contains("Video not found by id"));
    // A model whose videos cannot be extended.
    let v26 = finished(
        &app,
        T2V,
        json!({"prompt": "x", "model_name": "kling-v2-6"}),
    )
    .await;
    let a = app
        .post(EXTEND, json!({"video_id": video(&v26)["id"]}))
        .await;
    assert!(
        a.err(400, 1201)
            .contains("only videos of kling-v1, kling-v1-5, kling-v1-6 can be extended")
    );
    // An audio id is not a video.
    let tts = app
        .post(
            "/v1/audio/tts",
            json!({"text": "hi", "voice_id": "oversea_male1", "voice_language": "en"}),
        )
        .await;
    let audio_id = tts.ok()["task_result"]["audios"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let a = app.post(EXTEND, json!({"video_id": audio_id})).await;
    assert!(a.err(400, 1201).contains("Video not found by id"));
    // Past the 30-day retention.
    app.advance(std::time::Duration::from_secs(31 * 86_400));
    let a = app.post(EXTEND, json!({"video_id": id})).await;
    assert!(a.err(400, 1201).contains("Video not found by id"));
}

#[tokio::test]
async fn an_extension_chain_stops_at_three_minutes() {
    let app = spawn_app().await;
    let first = finished(&app, T2V, json!({"prompt": "x", "duration": "10"})).await;
    let mut id = video(&first)["id"].as_str().unwrap().to_string();
    // 10 s + 37 × 4.5 s = 176.5 s; one more would pass 180 s.
    for _ in 0..37 {
        let d = finished(&app, EXTEND, json!({"video_id": id})).await;
        id = video(&d)["id"].as_str().unwrap().to_string();
    }
    let a = app.post(EXTEND, json!({"video_id": id})).await;
    assert!(a.err(400, 1201).contains("at most 3 minutes"), "{a:?}");
}

#[tokio::test]
async fn a_custom_voice_can_be_made_from_a_v2_6_video_with_sound() {
    let app = spawn_app().await;
    let with_sound = finished(
        &app,
        T2V,
        json!({"prompt": "x", "model_name": "kling-v2-6",
        "mode": "pro", "sound": "on", "duration": "10"}),
    )
    .await;
    let silent = finished(
        &app,
        T2V,
        json!({"prompt": "x", "model_name": "kling-v2-6", "mode": "pro"}),
    )
    .await;
    let voice = |d: &Value| json!({"voice_name": "from video", "video_id": video(d)["id"]});
    let ok = finished(&app, "/v1/general/custom-voices", voice(&with_sound)).await;
    assert_eq!(ok["task_status"], "succeed", "{ok}");
    let bad = finished(&app, "/v1/general/custom-voices", voice(&silent)).await;
    assert_eq!(bad["task_status"], "failed");
    assert!(
        bad["task_status_msg"]
            .as_str()
            .unwrap()
            .contains("kling-v2-6 with sound on")
    );
}

#[tokio::test]
async fn the_mocks_own_audio_is_not_an_image() {
    let app = spawn_app().await;
    let url = app.tts_url("hello").await;
    let a = app.post(I2V, json!({"prompt": "p", "image": url})).await;
    assert!(
        a.err(400, 1201)
            .starts_with("image must be a .jpg/.jpeg/.png image")
    );
    // One of the mock's own names that it never generated: the download fails.
    let ghost = format!(
        "{}/files/kling_00000000-0000-4000-8000-000000000000.mp4",
        app.base
    );
    let d = finished(&app, I2V, json!({"prompt": "p", "image": ghost})).await;
    assert_eq!(d["task_status"], "failed");
    assert!(
        d["task_status_msg"]
            .as_str()
            .unwrap()
            .starts_with("Failed to download the image file")
    );
}

#[tokio::test]
async fn video_creates_draw_on_the_video_pool() {
    let app = spawn_app().await;
    app.ctl_put(
        &format!("/__mock/accounts/{AK}"),
        json!({"concurrency": {"video": 1}}),
    )
    .await;
    app.post(T2V, json!({"prompt": "x"})).await.ok();
    let a = app
        .post(
            I2V,
            json!({"prompt": "p", "image": "https://x.example/a.jpg"}),
        )
        .await;
    a.err(429, 1303);
}

#[tokio::test]
async fn the_realistic_profile_takes_minutes_and_fast_seconds() {
    let mut config = config();
    config.timing_profile = kling_mock::config::TimingProfile::Realistic;
    let app = spawn_with(config).await;
    let a = app.post(T2V, json!({"prompt": "x"})).await;
    let id = a.ok()["task_id"].as_str().unwrap().to_string();
    app.advance(std::time::Duration::from_secs(60));
    let q = app.get(&format!("{T2V}/{id}")).await;
    assert_ne!(q.ok()["task_status"], "succeed");
    app.advance(std::time::Duration::from_secs(10 * 60));
    let q = app.get(&format!("{T2V}/{id}")).await;
    assert_eq!(q.ok()["task_status"], "succeed");
    // Under the instant profile every kind is done after 200 ms in processing.
    let mut quick = crate::helpers::config();
    quick.timing_profile = kling_mock::config::TimingProfile::Instant;
    let instant = spawn_with(quick).await;
    let a = instant.post(T2V, json!({"prompt": "x"})).await;
    let id = a.ok()["task_id"].as_str().unwrap().to_string();
    instant.advance(std::time::Duration::from_millis(199));
    let q = instant.get(&format!("{T2V}/{id}")).await;
    assert_eq!(q.ok()["task_status"], "processing");
    instant.advance(std::time::Duration::from_millis(1));
    let q = instant.get(&format!("{T2V}/{id}")).await;
    assert_eq!(q.ok()["task_status"], "succeed");
    // The same task finishes within seconds by default.
    let fast = spawn_app().await;
    let d = finished(&fast, T2V, json!({"prompt": "x"})).await;
    assert_eq!(d["task_status"], "succeed");
}

#[tokio::test]
async fn a_custom_voice_sample_may_be_one_of_the_mocks_own_videos_with_sound() {
    let app = spawn_app().await;
    let loud = finished(
        &app,
        T2V,
        json!({"prompt": "x", "model_name": "kling-v3", "sound": "on", "duration": "6"}),
    )
    .await;
    let silent = finished(
        &app,
        T2V,
        json!({"prompt": "x", "model_name": "kling-v3", "duration": "6"}),
    )
    .await;
    let voice = |d: &Value| json!({"voice_name": "from url", "voice_url": video(d)["url"]});
    let ok = finished(&app, "/v1/general/custom-voices", voice(&loud)).await;
    assert_eq!(ok["task_status"], "succeed", "{ok}");
    let bad = finished(&app, "/v1/general/custom-voices", voice(&silent)).await;
    assert_eq!(bad["task_status"], "failed");
    assert!(
        bad["task_status_msg"]
            .as_str()
            .unwrap()
            .contains("has no sound"),
        "{bad}"
    );
    let short = finished(
        &app,
        T2V,
        json!({"prompt": "x", "model_name": "kling-v3", "sound": "on", "duration": "3"}),
    )
    .await;
    let d = finished(&app, "/v1/general/custom-voices", voice(&short)).await;
    assert!(
        d["task_status_msg"]
            .as_str()
            .unwrap()
            .contains("between 5 and 30 seconds"),
        "{d}"
    );
}
