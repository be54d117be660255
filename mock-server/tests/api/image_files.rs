//! PNG and JPEG image files behind result URLs, served like the videos (HEAD, Range, ETag), and
//! kept across a restart. No image task kind exists yet: the files are registered through the
//! library, as a kind will register them.

use crate::helpers::*;
use kling_mock::media::{Format, ImageFile, Label};
use reqwest::header::HeaderMap;
use std::io::Cursor;

const T0: i64 = 1_790_000_000_000;

fn image(task_id: u64, index: u32, format: Format) -> ImageFile {
    ImageFile {
        task_id,
        index,
        n: 2,
        width: 1024,
        height: 576,
        seed: 7,
        watermark: index == 1,
        label: Label::new("kling-v2-1 1k 16:9"),
        format,
        born: Some(T0),
    }
}

/// Register an image with token `[n; 16]`; its URL on the test server.
fn add_image(app: &TestApp, n: u8, file: ImageFile) -> String {
    let r = app.state.media.add_image([n; 16], file);
    assert_eq!((r.format, r.samples), (file.format, 0));
    r.url(&app.base)
}

struct Got {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Got {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
    }
}

async fn get(app: &TestApp, method: reqwest::Method, url: &str, headers: &[(&str, &str)]) -> Got {
    let mut req = app.client.request(method, url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.unwrap();
    Got {
        status: r.status().as_u16(),
        headers: r.headers().clone(),
        body: r.bytes().await.unwrap().to_vec(),
    }
}

/// The width and height a PNG decodes to (and that it decodes whole).
fn png_size(bytes: &[u8]) -> (u32, u32) {
    let mut r = png::Decoder::new(Cursor::new(bytes)).read_info().unwrap();
    let mut buf = vec![0; r.output_buffer_size().unwrap()];
    let info = r.next_frame(&mut buf).unwrap();
    (info.width, info.height)
}

#[tokio::test]
async fn an_image_url_serves_a_png_of_its_size_with_head_ranges_and_etag() {
    let app = spawn_at(config(), T0).await;
    let url = add_image(&app, 3, image(31, 0, Format::Png));
    assert!(
        url.contains("/files/kling_03030303-") && url.contains(".png?"),
        "{url}"
    );
    let full = get(&app, reqwest::Method::GET, &url, &[]).await;
    assert_eq!(full.status, 200);
    assert_eq!(full.header("content-type"), "image/png");
    assert_eq!(full.header("accept-ranges"), "bytes");
    assert_eq!(full.header("content-length"), full.body.len().to_string());
    assert_eq!(png_size(&full.body), (1024, 576));
    let etag = full.header("etag").to_string();
    assert!(etag.starts_with("\"03030303"), "{etag}");

    let head = get(&app, reqwest::Method::HEAD, &url, &[]).await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    for h in ["content-type", "content-length", "etag", "accept-ranges"] {
        assert_eq!(head.header(h), full.header(h), "{h}");
    }
    let part = get(&app, reqwest::Method::GET, &url, &[("range", "bytes=8-23")]).await;
    assert_eq!(part.status, 206);
    assert_eq!(
        part.header("content-range"),
        format!("bytes 8-23/{}", full.body.len())
    );
    assert_eq!(part.body, full.body[8..24]);
    let past = format!("bytes={}-", full.body.len());
    let none = get(&app, reqwest::Method::GET, &url, &[("range", &past)]).await;
    assert_eq!(none.status, 416);
    let cached = get(
        &app,
        reqwest::Method::GET,
        &url,
        &[("if-none-match", &etag)],
    )
    .await;
    assert_eq!((cached.status, cached.body.len()), (304, 0));

    let stats = app.ctl_get("/__mock/state").await.ok()["media_cache"].clone();
    assert_eq!(stats["misses"], 1, "made once: {stats}");
}

#[tokio::test]
async fn the_images_of_one_task_differ_and_a_jpeg_is_served_as_one() {
    let app = spawn_at(config(), T0).await;
    let first = add_image(&app, 4, image(41, 0, Format::Png));
    let second = add_image(&app, 5, image(41, 1, Format::Png));
    let jpeg = add_image(&app, 6, image(41, 0, Format::Jpeg));
    assert!(jpeg.contains(".jpg?"), "{jpeg}");
    let a = get(&app, reqwest::Method::GET, &first, &[]).await;
    let b = get(&app, reqwest::Method::GET, &second, &[]).await;
    assert_ne!(a.body, b.body);
    let j = get(&app, reqwest::Method::GET, &jpeg, &[]).await;
    assert_eq!((j.status, j.header("content-type")), (200, "image/jpeg"));
    assert!(j.body.starts_with(&[0xFF, 0xD8, 0xFF]));
    // The same token under another extension is not this file.
    let wrong = first.replace(".png?", ".jpg?");
    assert_eq!(
        get(&app, reqwest::Method::GET, &wrong, &[]).await.status,
        404
    );
}

#[tokio::test]
async fn an_image_file_survives_a_restart_with_the_same_bytes() {
    let dir = std::env::temp_dir().join(format!("kling-mock-image-state-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("image.db");
    let _ = std::fs::remove_file(&path);
    let cfg = || kling_mock::Config {
        state_file: Some(path.clone()),
        ..config()
    };
    let (app, stop, run) = spawn_stoppable(cfg(), T0).await;
    let file = image(51, 1, Format::Png);
    let url = add_image(&app, 11, file);
    let before = get(&app, reqwest::Method::GET, &url, &[]).await;
    stop.send(()).unwrap();
    run.await.unwrap().unwrap();

    let (app, _stop, _run) = spawn_stoppable(cfg(), T0 + 1_000).await;
    assert_eq!(app.state.media.image(&[11; 16], T0 + 1_000), Some(file));
    let url = url.replace(&url[..url.find("/files").unwrap()], &app.base);
    let after = get(&app, reqwest::Method::GET, &url, &[]).await;
    assert_eq!(after.status, 200);
    assert_eq!(after.header("etag"), before.header("etag"));
    assert!(
        after.body == before.body,
        "the same bytes after the restart"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
