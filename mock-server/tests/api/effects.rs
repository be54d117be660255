//! Video effects over HTTP: single, dual and older dual-character scenes, the MP4 each makes,
//! and the refusals that name the field.

use crate::helpers::*;
use serde_json::{Value, json};
use std::io::Cursor;

const FX: &str = "/v1/videos/effects";

fn png_input(w: u32, h: u32) -> String {
    use base64::Engine as _;
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Grayscale);
        let mut wr = enc.write_header().unwrap();
        wr.write_image_data(&vec![90; (w * h) as usize]).unwrap();
    }
    base64::engine::general_purpose::STANDARD.encode(out)
}

async fn finished(app: &TestApp, body: Value) -> Value {
    let a = app.post(FX, body).await;
    let id = a.ok()["task_id"].as_str().expect("task_id").to_string();
    app.advance(FINISH);
    app.get(&format!("{FX}/{id}")).await.ok().clone()
}

async fn mp4_shape(app: &TestApp, url: &str) -> ((u16, u16), std::time::Duration) {
    let (_, _, body) = app.fetch(url).await;
    let m = mp4::Mp4Reader::read_header(Cursor::new(&body), body.len() as u64).unwrap();
    let v = m.tracks().values().find(|t| t.width() > 0).unwrap();
    ((v.width(), v.height()), m.duration())
}

#[tokio::test]
async fn every_kind_of_scene_makes_its_video() {
    let app = spawn_app().await;
    let d = finished(
        &app,
        json!({"effect_scene": "pet_dance", "input": {"image": png_input(600, 900), "duration": "10"},
               "watermark_info": {"enabled": true}}),
    )
    .await;
    assert_eq!(d["task_status"], "succeed", "{d}");
    let v = &d["task_result"]["videos"][0];
    assert_eq!(v["duration"], "10");
    assert!(v["watermark_url"].is_string());
    assert_eq!(d["final_unit_deduction"], "4");
    let (size, dur) = mp4_shape(&app, v["url"].as_str().unwrap()).await;
    assert_eq!(
        (size, dur.as_secs()),
        ((720, 1080), 10),
        "the picture's shape at 720p"
    );
    let d = finished(
        &app,
        json!({"effect_scene": "hug_pro", "input": {"images": [png_input(500, 500), png_input(500, 600)]}}),
    )
    .await;
    let (size, dur) = mp4_shape(&app, d["task_result"]["videos"][0]["url"].as_str().unwrap()).await;
    assert_eq!(
        (size, dur.as_secs()),
        ((1280, 720), 5),
        "two pictures side by side, 16:9"
    );
    let d = finished(
        &app,
        json!({"effect_scene": "fight", "input": {"images": ["https://example.com/a.png", "https://example.com/b.png"],
               "model_name": "kling-v1-6", "mode": "pro", "duration": "5"}}),
    )
    .await;
    assert_eq!(d["task_status"], "succeed");
    let (size, _) = mp4_shape(&app, d["task_result"]["videos"][0]["url"].as_str().unwrap()).await;
    assert_eq!(size, (1920, 1080), "pro mode of the older scene");
}

#[tokio::test]
async fn bad_effects_name_the_field() {
    let app = spawn_app().await;
    let img = png_input(400, 400);
    for (body, msg) in [
        (
            json!({"input": {"image": img}}),
            "effect_scene must not be null",
        ),
        (
            json!({"effect_scene": "moonwalk_2099", "input": {"image": img}}),
            "effect_scene value 'moonwalk_2099' is invalid",
        ),
        (
            json!({"effect_scene": "kiss_pro", "input": {"image": img}}),
            "input.images must not be null",
        ),
        (
            json!({"effect_scene": "swing_swing", "input": {"images": [img, img]}}),
            "input.image must not be null",
        ),
        (
            json!({"effect_scene": "swing_swing", "input": {"image": img, "duration": "7"}}),
            "input.duration value '7' is invalid for this effect_scene",
        ),
    ] {
        let e = app.post(FX, body.clone()).await;
        assert!(e.err(400, 1201).starts_with(msg), "{body}: {}", e.message());
    }
    // A picture the size rules refuse fails the task.
    let d = finished(
        &app,
        json!({"effect_scene": "swing_swing", "input": {"image": png_input(200, 200)}}),
    )
    .await;
    assert_eq!(
        (d["task_status"].as_str(), d["task_status_msg"].as_str()),
        (Some("failed"), Some("Image pixel is invalid"))
    );
}
