//! Foreign input images (`--fetch-inputs`): downloaded at create from an image server on
//! 127.0.0.1:0 under the callback rules and measured like Base64 input; never fetched when the
//! option is off.
//!
//! The image server counts every request it gets, so "never fetched" is checked, not assumed.
//! The one real-time wait is the timeout test's, set to 200 ms.

use crate::helpers::*;
use axum::body::Body;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use kling_mock::Config;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;

const I2V: &str = "/v1/videos/image2video";
const MULTI: &str = "/v1/videos/multi-image2video";
const MOTION: &str = "/v1/videos/motion-control";
const OMNI: &str = "/v1/videos/omni-video";

/// A PNG header of `w × h`: all the measuring reads.
fn png(w: u32, h: u32) -> Vec<u8> {
    let mut b = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    b.extend_from_slice(&13u32.to_be_bytes());
    b.extend_from_slice(b"IHDR");
    b.extend_from_slice(&w.to_be_bytes());
    b.extend_from_slice(&h.to_be_bytes());
    b.extend_from_slice(&[8, 2, 0, 0, 0, 0, 0, 0, 0]);
    b
}

/// An image server: `/tall.png` (600 × 1200), `/small.png` (200 × 200), `/page.html` (not an
/// image), `/huge.png` (a PNG streamed past 10 MB, no length given), 404 for the rest.
struct Images {
    base: String,
    hits: Arc<AtomicUsize>,
}

impl Images {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

async fn image_server() -> Images {
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let app = axum::Router::new().fallback(move |uri: Uri| {
        counted.fetch_add(1, Ordering::SeqCst);
        async move { answer(uri.path()) }
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Images { base, hits }
}

fn answer(path: &str) -> Response {
    match path {
        "/tall.png" => png(600, 1200).into_response(),
        "/small.png" => png(200, 200).into_response(),
        "/page.html" => "<html>not a picture</html>".into_response(),
        "/huge.png" => {
            let mb = bytes::Bytes::from(vec![0u8; 1024 * 1024]);
            let chunks = std::iter::once(bytes::Bytes::from(png(600, 600)))
                .chain(std::iter::repeat_n(mb, 11))
                .map(Ok::<_, std::io::Error>);
            Body::from_stream(tokio_stream::iter(chunks)).into_response()
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The test configuration with `--fetch-inputs`.
fn fetching() -> Config {
    Config {
        fetch_inputs: true,
        ..config()
    }
}

/// Create a task at `path` (the create must succeed: a failed download is the task's failure,
/// never the request's), finish it, and return its single-query `data`.
async fn finished(app: &TestApp, path: &str, body: Value) -> Value {
    let a = app.post(path, body).await;
    let id = a.ok()["task_id"].as_str().expect("task_id").to_string();
    app.advance(FINISH);
    app.get(&format!("{path}/{id}")).await.ok().clone()
}

async fn facts(app: &TestApp, d: &Value) -> kling_mock::media::VideoFacts {
    let id: u64 = d["task_result"]["videos"][0]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    app.state
        .media
        .video_item(0, id, app.now_ms())
        .expect("a video id of account 0")
        .1
}

#[tokio::test]
async fn a_downloaded_image_gives_the_video_its_shape() {
    let app = spawn_with(fetching()).await;
    let images = image_server().await;
    let body = json!({"prompt": "p", "image": images.url("/tall.png"), "model_name": "kling-v2-1", "mode": "pro"});
    let d = finished(&app, I2V, body).await;
    assert_eq!(d["task_status"], "succeed", "{d}");
    let f = facts(&app, &d).await;
    assert_eq!((f.width, f.height, f.fps), (1080, 2160, 24));
    assert_eq!(images.hits(), 1);
}

#[tokio::test]
async fn a_downloaded_picture_under_300_px_fails_the_task_as_base64_does() {
    let app = spawn_with(fetching()).await;
    let images = image_server().await;
    let d = finished(
        &app,
        I2V,
        json!({"prompt": "p", "image": images.url("/small.png")}),
    )
    .await;
    assert_eq!(d["task_status"], "failed");
    assert_eq!(d["task_status_msg"], "Image pixel is invalid");
    assert_eq!(d["final_unit_deduction"], "0");
}

#[tokio::test]
async fn a_download_that_fails_fails_the_task_naming_the_field_and_the_url() {
    let app = spawn_with(fetching()).await;
    let images = image_server().await;
    let tall = images.url("/tall.png");
    let cases = [
        (
            "/missing.png",
            "Failed to download the image file of image_tail: HTTP 404 for ",
        ),
        ("/page.html", "image_tail must be a .jpg/.jpeg/.png image ("),
        (
            "/huge.png",
            "Failed to download the image file of image_tail: larger than 10MB for ",
        ),
    ];
    for (path, msg) in cases {
        let url = images.url(path);
        let body = json!({"prompt": "p", "image": tall, "image_tail": url, "model_name": "kling-v2-1", "mode": "pro"});
        let d = finished(&app, I2V, body).await;
        assert_eq!(d["task_status"], "failed", "{path}: {d}");
        let got = d["task_status_msg"].as_str().unwrap();
        assert!(got.starts_with(msg) && got.contains(&url), "{path}: {got}");
    }
    assert_eq!(images.hits(), 2 * cases.len(), "both images of each create");
}

#[tokio::test]
async fn an_image_host_outside_the_callback_allow_list_is_never_asked() {
    let mut cfg = fetching();
    cfg.callbacks.allow = "10.9.9.9,images.example.com".parse().unwrap();
    let app = spawn_with(cfg).await;
    let images = image_server().await;
    let url = images.url("/tall.png");
    let d = finished(&app, I2V, json!({"prompt": "p", "image": url})).await;
    assert_eq!(d["task_status"], "failed");
    let msg = d["task_status_msg"].as_str().unwrap();
    assert!(
        msg.starts_with("Failed to download the image file of image: blocked: host 127.0.0.1")
            && msg.contains("not in the callback allow-list (10.9.9.9,images.example.com)")
            && msg.ends_with(&format!("for {url}")),
        "{msg}"
    );
    // By name too: `localhost` resolves to loopback addresses the list does not hold.
    let by_name = url.replace("127.0.0.1", "localhost");
    let d = finished(&app, I2V, json!({"prompt": "p", "image": by_name})).await;
    let msg = d["task_status_msg"].as_str().unwrap();
    assert!(
        msg.contains("blocked: host localhost (resolved to"),
        "{msg}"
    );
    assert_eq!(images.hits(), 0);
}

#[tokio::test]
async fn a_download_that_never_answers_times_out_with_the_callback_timeout() {
    let mut cfg = fetching();
    cfg.callbacks.timeout = Duration::from_millis(200);
    let app = spawn_with(cfg).await;
    // Accepts connections and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/slow.png", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
        }
    });
    let d = finished(&app, I2V, json!({"prompt": "p", "image": url})).await;
    assert_eq!(
        d["task_status_msg"],
        format!(
            "Failed to download the image file of image: no complete answer within 200ms (callback timeout) for {url}"
        )
    );
}

#[tokio::test]
async fn without_fetch_inputs_nothing_is_fetched() {
    let app = spawn_app().await;
    let images = image_server().await;
    let d = finished(
        &app,
        I2V,
        json!({"prompt": "p", "image": images.url("/small.png")}),
    )
    .await;
    assert_eq!(d["task_status"], "succeed", "the size is unknown: {d}");
    let f = facts(&app, &d).await;
    assert_eq!((f.width, f.height), (1280, 720), "16:9 by default");
    assert_eq!(images.hits(), 0);
}

#[tokio::test]
async fn the_other_families_measure_their_images_too() {
    let app = spawn_with(fetching()).await;
    let images = image_server().await;
    let (tall, small) = (images.url("/tall.png"), images.url("/small.png"));

    let omni = json!({"prompt": "p", "image_list": [{"image_url": tall, "type": "first_frame"}]});
    let d = finished(&app, OMNI, omni).await;
    assert_eq!(d["task_status"], "succeed", "{d}");
    let f = facts(&app, &d).await;
    assert_eq!(f.height, 2 * f.width, "the first frame's shape: {f:?}");

    let motion = json!({"image_url": small, "video_url": "https://x.example/m.mp4",
        "character_orientation": "image", "mode": "std"});
    let d = finished(&app, MOTION, motion).await;
    assert_eq!(d["task_status_msg"], "Image pixel is invalid");

    let missing = images.url("/missing.png");
    let multi = json!({"prompt": "p", "image_list": [{"image": tall}, {"image": missing}]});
    let d = finished(&app, MULTI, multi).await;
    assert_eq!(
        d["task_status_msg"],
        format!("Failed to download the image file of image_list[1].image: HTTP 404 for {missing}")
    );
    assert_eq!(images.hits(), 4, "the motion video is not fetched");
}

#[tokio::test]
async fn the_mocks_own_media_are_never_fetched_over_http() {
    let app = spawn_with(fetching()).await;
    let audio = app.tts_url("hello").await;
    let a = app.post(I2V, json!({"prompt": "p", "image": audio})).await;
    assert!(
        a.err(400, 1201)
            .starts_with("image must be a .jpg/.jpeg/.png image")
    );
    let ghost = format!(
        "{}/files/kling_00000000-0000-4000-8000-000000000000.mp4",
        app.base
    );
    let d = finished(&app, I2V, json!({"prompt": "p", "image": ghost})).await;
    assert_eq!(
        d["task_status_msg"],
        format!("Failed to download the image file: HTTP 404 for {ghost}")
    );
    // The journal records file downloads (this one, the test's own); the mock made none.
    let (status, _, _) = app.fetch(&audio).await;
    assert_eq!(status, 200);
    let files = app.ctl_get("/__mock/journal?path=/files/*").await;
    assert_eq!(files.ok().as_array().unwrap().len(), 1, "{files:?}");
}
