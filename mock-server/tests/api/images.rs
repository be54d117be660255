//! The image families over HTTP: lifecycle and result shape, real pictures of the declared size,
//! `n` slots of the image pool, the image and try-on packs, costs, and the mock's own pictures
//! used as inputs elsewhere.

use crate::helpers::*;
use serde_json::{Value, json};
use std::io::Cursor;

const GEN: &str = "/v1/images/generations";
const I2V: &str = "/v1/videos/image2video";

/// Create a task at `path`, finish it, and return its single-query `data`.
async fn finished(app: &TestApp, path: &str, body: Value) -> Value {
    let a = app.post(path, body).await;
    let id = a.ok()["task_id"].as_str().expect("task_id").to_string();
    app.advance(FINISH);
    app.get(&format!("{path}/{id}")).await.ok().clone()
}

/// The width and height a PNG decodes to (decoding it whole), and its pixels.
pub fn png_pixels(bytes: &[u8]) -> ((u32, u32), Vec<u8>) {
    let mut r = png::Decoder::new(Cursor::new(bytes)).read_info().unwrap();
    let mut buf = vec![0; r.output_buffer_size().unwrap()];
    let info = r.next_frame(&mut buf).unwrap();
    buf.truncate(info.buffer_size());
    ((info.width, info.height), buf)
}

async fn fetch_ok(app: &TestApp, url: &str) -> Vec<u8> {
    let (status, ctype, body) = app.fetch(url).await;
    assert_eq!(status, 200, "{url}");
    assert!(ctype.starts_with("image/"), "{url}: {ctype}");
    body
}

#[tokio::test]
async fn a_generation_task_makes_n_distinct_pngs_of_the_requested_size() {
    let app = spawn_app().await;
    let body = json!({"prompt": "a lighthouse", "model_name": "kling-v2-1", "n": 3,
                      "aspect_ratio": "3:2", "resolution": "1k",
                      "watermark_info": {"enabled": true}, "external_task_id": "lh-1"});
    let created = app.post(GEN, body).await;
    let c = created.ok().clone();
    assert_eq!(c["task_status"], "submitted");
    assert_eq!(c["task_info"]["external_task_id"], "lh-1");
    let q = app.get(&format!("{GEN}/lh-1")).await;
    assert_eq!(q.ok()["task_result"], json!({}));
    assert_eq!(q.ok()["watermark_info"], json!({"enabled": true}));
    app.advance(FINISH);
    let d = app.get(&format!("{GEN}/lh-1")).await.ok().clone();
    assert_eq!(d["task_status"], "succeed");
    assert_eq!(
        d["final_unit_deduction"], "12",
        "kling-v2-1: 4 units a 1k picture, n = 3"
    );
    let images = d["task_result"]["images"].as_array().unwrap().clone();
    assert_eq!(images.len(), 3);
    let mut seen = Vec::new();
    for (i, img) in images.iter().enumerate() {
        assert_eq!(img["index"], i);
        let url = img["url"].as_str().unwrap();
        assert!(url.starts_with(&app.base) && url.contains(".png?"), "{url}");
        let (size, px) = png_pixels(&fetch_ok(&app, url).await);
        assert_eq!(size, (1248, 832), "1k 3:2: the area of 1024², sides ×16");
        let (msize, mpx) =
            png_pixels(&fetch_ok(&app, img["watermark_url"].as_str().unwrap()).await);
        assert_eq!(msize, size);
        let differ = px.iter().zip(&mpx).filter(|(a, b)| a != b).count();
        assert!(
            differ > px.len() / 50,
            "the watermarked copy is visibly marked ({differ} bytes differ)"
        );
        assert!(!seen.contains(&px), "image {i} repeats an earlier one");
        seen.push(px);
    }
    // The list shows it too.
    let list = app.get(&format!("{GEN}?pageNum=1&pageSize=10")).await;
    assert_eq!(list.ok()[0]["task_id"], c["task_id"]);
}

#[tokio::test]
async fn watermark_url_is_absent_unless_asked_for() {
    let app = spawn_app().await;
    let d = finished(&app, GEN, json!({"prompt": "x", "aspect_ratio": "9:16"})).await;
    let img = &d["task_result"]["images"][0];
    assert!(img.get("watermark_url").is_none(), "{img}");
    assert_eq!(d["watermark_info"], json!({"enabled": false}));
    let (size, _) = png_pixels(&fetch_ok(&app, img["url"].as_str().unwrap()).await);
    assert_eq!(size, (768, 1360));
    assert_eq!(
        d["final_unit_deduction"], "8",
        "kling-v3 1k, the live price"
    );
}

#[tokio::test]
async fn a_2k_picture_has_four_times_the_pixels() {
    let app = spawn_app().await;
    let d = finished(
        &app,
        GEN,
        json!({"prompt": "x", "resolution": "2k", "aspect_ratio": "1:1"}),
    )
    .await;
    let url = d["task_result"]["images"][0]["url"].as_str().unwrap();
    let (size, _) = png_pixels(&fetch_ok(&app, url).await);
    assert_eq!(size, (2048, 2048));
    assert_eq!(d["final_unit_deduction"], "16");
}

#[tokio::test]
async fn bad_requests_get_1201_naming_the_field() {
    let app = spawn_app().await;
    for (body, msg) in [
        (json!({}), "prompt must not be null"),
        (
            json!({"prompt": "x", "n": 10}),
            "n must be an integer between 1 and 9, got 10",
        ),
        (
            json!({"prompt": "x", "aspect_ratio": "5:4"}),
            "aspect_ratio value '5:4' is invalid",
        ),
        (
            json!({"prompt": "x", "image_reference": "face"}),
            "image must not be null when image_reference is face",
        ),
        (
            json!({"prompt": "x", "image": "data:image/png;base64,AAAA"}),
            "File is not in a valid base64 format",
        ),
    ] {
        let e = app.post(GEN, body.clone()).await;
        assert!(e.err(400, 1201).starts_with(msg), "{body}: {}", e.message());
    }
}

#[tokio::test]
async fn n_images_hold_n_slots_of_the_image_pool() {
    let app = spawn_app().await;
    app.ctl_put(
        &format!("/__mock/accounts/{AK}"),
        json!({"concurrency": {"image": 4, "video": 1}}),
    )
    .await
    .ok();
    app.post(GEN, json!({"prompt": "x", "n": 3})).await.ok();
    let acc = app.ctl_get(&format!("/__mock/accounts/{AK}")).await;
    assert_eq!(acc.ok()["in_flight"]["image"], 3);
    app.post(GEN, json!({"prompt": "x", "n": 2}))
        .await
        .err(429, 1303);
    app.post(GEN, json!({"prompt": "x", "n": 1})).await.ok();
    // The video pool is apart.
    app.create_t2a(json!({"prompt": "p", "duration": 3})).await;
    app.advance(FINISH);
    let acc = app.ctl_get(&format!("/__mock/accounts/{AK}")).await;
    assert_eq!(acc.ok()["in_flight"], json!({"image": 0, "video": 0}));
    app.post(GEN, json!({"prompt": "x", "n": 4})).await.ok();
}

#[tokio::test]
async fn images_are_paid_from_the_image_pack_and_refused_without_one() {
    let app = spawn_app().await;
    let now = app.now_ms();
    finished(&app, GEN, json!({"prompt": "x", "n": 2})).await;
    let c = app
        .get(&format!("/account/costs?start_time={now}&end_time={now}"))
        .await;
    let packs = c.ok()["resource_pack_subscribe_infos"]
        .as_array()
        .unwrap()
        .clone();
    let image = packs
        .iter()
        .find(|p| p["resource_pack_name"] == "kling-mock image pack")
        .expect("a default image pack");
    assert_eq!(
        image["remaining_quantity"].as_f64().unwrap(),
        100_000.0 - 16.0
    );
    let video = &packs[0];
    assert_eq!(video["remaining_quantity"].as_f64().unwrap(), 100_000.0);
    // Like a live account that bought only video: 429 / 1102.
    app.ctl_put(
        &format!("/__mock/accounts/{AK}"),
        json!({"packs": [{"name": "video only", "total": 100}]}),
    )
    .await
    .ok();
    let e = app.post(GEN, json!({"prompt": "x"})).await;
    assert_eq!(e.err(429, 1102), "Account balance not enough");
}

#[tokio::test]
async fn a_generated_picture_is_an_input_of_known_size_elsewhere() {
    let app = spawn_app().await;
    let d = finished(&app, GEN, json!({"prompt": "x", "aspect_ratio": "9:16"})).await;
    let url = d["task_result"]["images"][0]["url"]
        .as_str()
        .unwrap()
        .to_string();
    // image2video takes the picture's shape.
    let v = finished(&app, I2V, json!({"image": url, "prompt": "moves"})).await;
    assert_eq!(v["task_status"], "succeed", "{v}");
    let (_, _, mp4) = app
        .fetch(v["task_result"]["videos"][0]["url"].as_str().unwrap())
        .await;
    let mp4 = mp4::Mp4Reader::read_header(Cursor::new(&mp4), mp4.len() as u64).unwrap();
    let track = mp4.tracks().values().find(|t| t.width() > 0).unwrap();
    assert_eq!(
        (track.width(), track.height()),
        (720, 1276),
        "the 768 × 1360 picture's shape at 720p"
    );
    // An image-to-image request with it is measured, not refused.
    let g = finished(
        &app,
        GEN,
        json!({"prompt": "restyle", "model_name": "kling-v2-new", "image": url}),
    )
    .await;
    assert_eq!(g["task_status"], "succeed", "{g}");
    // An expired or never-made name of the mock's own fails the task as a download would.
    let bogus = format!(
        "{}/files/kling_00000000-0000-4000-8000-000000000000.png",
        app.base
    );
    let g = finished(
        &app,
        GEN,
        json!({"prompt": "x", "model_name": "kling-v2", "image": bogus}),
    )
    .await;
    assert_eq!(g["task_status"], "failed");
    assert!(
        g["task_status_msg"].as_str().unwrap().contains("HTTP 404"),
        "{g}"
    );
}

/// A real PNG of `w × h` (one grey), as raw Base64.
fn png_input(w: u32, h: u32) -> String {
    use base64::Engine as _;
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Grayscale);
        let mut wr = enc.write_header().unwrap();
        wr.write_image_data(&vec![128; (w * h) as usize]).unwrap();
    }
    base64::engine::general_purpose::STANDARD.encode(out)
}

async fn sizes(app: &TestApp, list: &Value) -> Vec<(u32, u32)> {
    let mut v = Vec::new();
    for img in list.as_array().unwrap() {
        let bytes = fetch_ok(app, img["url"].as_str().unwrap()).await;
        let s = imagesize::blob_size(&bytes).unwrap();
        v.push((s.width as u32, s.height as u32));
    }
    v
}

#[tokio::test]
async fn omni_image_single_takes_the_first_image_shape_under_auto() {
    let app = spawn_app().await;
    let d = finished(
        &app,
        "/v1/images/omni-image",
        json!({"prompt": "<<<image_1>>> at sea", "image_list": [{"image": png_input(600, 400)}], "n": 2,
               "watermark_info": {"enabled": true}}),
    )
    .await;
    let r = &d["task_result"];
    assert_eq!(r["result_type"], "single");
    assert_eq!(r["series_images"], json!([]));
    assert_eq!(sizes(&app, &r["images"]).await, [(1248, 832); 2]);
    assert!(r["images"][1]["watermark_url"].is_string());
    assert_eq!(d["final_unit_deduction"], "16");
    assert_eq!(d["watermark_info"], json!({"enabled": true}));
}

#[tokio::test]
async fn an_omni_series_fills_series_images() {
    let app = spawn_app().await;
    let d = finished(
        &app,
        "/v1/images/omni-image",
        json!({"prompt": "a comic strip", "model_name": "kling-v3-omni", "result_type": "series",
               "series_amount": 3, "aspect_ratio": "4:3", "image_list": [{"image": png_input(400, 400)}]}),
    )
    .await;
    let r = &d["task_result"];
    assert_eq!(
        (&r["result_type"], &r["images"]),
        (&json!("series"), &json!([]))
    );
    assert_eq!(sizes(&app, &r["series_images"]).await, [(1184, 880); 3]);
    let e = app
        .post(
            "/v1/images/omni-image",
            json!({"prompt": "x", "resolution": "4k"}),
        )
        .await;
    assert_eq!(
        e.err(400, 1201),
        "resolution 4k is supported by kling-v3-omni only, not kling-image-o1"
    );
}

#[tokio::test]
async fn multi_image2image_and_expand_make_their_sizes() {
    let app = spawn_app().await;
    let d = finished(
        &app,
        "/v1/images/multi-image2image",
        json!({"prompt": "together", "subject_image_list": [{"subject_image": png_input(400, 500)}, {"subject_image": png_input(500, 400)}],
               "n": 2, "aspect_ratio": "1:1"}),
    )
    .await;
    assert_eq!(
        sizes(&app, &d["task_result"]["images"]).await,
        [(1024, 1024); 2]
    );
    let d = finished(
        &app,
        "/v1/images/editing/expand",
        json!({"image": png_input(800, 600), "up_expansion_ratio": 0.5, "down_expansion_ratio": 0,
               "left_expansion_ratio": 0.25, "right_expansion_ratio": 0.25, "prompt": "more sky"}),
    )
    .await;
    assert_eq!(
        sizes(&app, &d["task_result"]["images"]).await,
        [(1200, 900)]
    );
    let e = app
        .post(
            "/v1/images/editing/expand",
            json!({"image": png_input(800, 600), "up_expansion_ratio": 1, "down_expansion_ratio": 1,
                   "left_expansion_ratio": 0.5, "right_expansion_ratio": 0}),
        )
        .await;
    assert!(
        e.err(400, 1201)
            .starts_with("the expanded image's area must be at most 3 times the original's"),
        "{}",
        e.message()
    );
}

#[tokio::test]
async fn try_on_is_a_jpeg_of_the_person_from_its_own_pack_and_pool() {
    let app = spawn_app().await;
    app.ctl_put(
        &format!("/__mock/accounts/{AK}"),
        json!({"concurrency": {"try_on": 1, "image": 1}}),
    )
    .await
    .ok();
    const TRY_ON: &str = "/v1/images/kolors-virtual-try-on";
    let body = json!({"human_image": png_input(600, 900), "cloth_image": png_input(400, 400)});
    let a = app.post(TRY_ON, body.clone()).await;
    let id = a.ok()["task_id"].as_str().unwrap().to_string();
    app.post(TRY_ON, body.clone()).await.err(429, 1303);
    // The image pool is apart.
    app.post(GEN, json!({"prompt": "x"})).await.ok();
    app.advance(FINISH);
    // KwaiVGI's doubled slash.
    let q = app.get(&format!("{TRY_ON}//{id}")).await;
    let d = q.ok();
    assert_eq!(d["task_status"], "succeed");
    assert!(d.get("watermark_info").is_none(), "{d}");
    let img = &d["task_result"]["images"][0];
    assert!(img.get("watermark_url").is_none());
    let url = img["url"].as_str().unwrap();
    assert!(url.contains(".jpg?"), "{url}");
    let bytes = fetch_ok(&app, url).await;
    assert_eq!(&bytes[..3], &[0xFF, 0xD8, 0xFF], "a JPEG");
    let s = imagesize::blob_size(&bytes).unwrap();
    assert_eq!((s.width, s.height), (600, 900));
    let now = app.now_ms();
    let c = app
        .get(&format!("/account/costs?start_time={now}&end_time={now}&resource_pack_name=kling-mock try-on pack"))
        .await;
    assert_eq!(
        c.ok()["resource_pack_subscribe_infos"][0]["remaining_quantity"].as_f64(),
        Some(9_999.0)
    );
}

#[tokio::test]
async fn ai_multi_shot_makes_three_views() {
    let app = spawn_app().await;
    let d = finished(
        &app,
        "/v1/general/ai-multi-shot",
        json!({"element_frontal_image": png_input(600, 900)}),
    )
    .await;
    let list = &d["task_result"]["images"];
    assert_eq!(sizes(&app, list).await, [(832, 1248); 3]);
    assert_eq!(d["final_unit_deduction"], "8");
    let e = app.post("/v1/general/ai-multi-shot", json!({})).await;
    assert_eq!(e.err(400, 1201), "element_frontal_image is required");
}

/// The pictures of a seeded mock: the same seed, clock and requests give the same files, byte
/// for byte; another seed other pictures.
#[tokio::test]
async fn a_seed_decides_the_pictures_byte_for_byte() {
    async fn pictures(seed: u64) -> Vec<(String, Vec<u8>)> {
        let cfg = kling_mock::Config {
            seed: Some(seed),
            ..config()
        };
        let app = spawn_at(cfg, 1_790_000_000_000).await;
        let d = finished(
            &app,
            GEN,
            json!({"prompt": "same", "n": 2, "aspect_ratio": "1:1"}),
        )
        .await;
        let mut out = Vec::new();
        for img in d["task_result"]["images"].as_array().unwrap() {
            let url = img["url"].as_str().unwrap();
            let path = url.trim_start_matches(&app.base).to_string();
            out.push((path, fetch_ok(&app, url).await));
        }
        out
    }
    let a = pictures(11).await;
    assert_eq!(a, pictures(11).await);
    let c = pictures(12).await;
    assert_ne!(a[0].1, c[0].1, "another seed, another picture");
    assert_ne!(a[0].0, c[0].0, "and another URL");
}
