//! MP4 video files and CDN-like serving of every media file: HEAD, Range, ETag, If-None-Match,
//! If-Range; a video file and a video id kept across a restart. No video task kind exists yet:
//! the files are registered through the library, as a kind will register them.

use crate::helpers::*;
use kling_mock::media::audio::{Sound, Style};
use kling_mock::media::{
    Format, Label, MediaFile, MediaItem, Origin, VideoFacts, VideoFile, VideoSource,
};
use reqwest::header::{HeaderMap, HeaderValue};
use std::io::Cursor;

fn video(task_id: u64, sound: bool) -> VideoFile {
    VideoFile {
        task_id,
        video_id: task_id + 1,
        width: 320,
        height: 180,
        fps: 24,
        frames: 48,
        sound: sound.then_some(task_id),
        watermark: false,
        label: Label::new("kling-v2-6 pro"),
        born: Some(1_790_000_000_000),
    }
}

/// Register a video with token `[n; 16]`; its URL on the test server.
fn add_video(app: &TestApp, n: u8, file: VideoFile) -> String {
    let r = app.state.media.add_video([n; 16], file);
    assert_eq!(r.format, Format::Mp4);
    assert_eq!(r.duration_secs(), 2.0);
    r.url(&app.base)
}

/// Register a 2 s MP3 with token `[n; 16]`; its URL.
fn add_mp3(app: &TestApp, n: u8) -> String {
    let file = MediaFile {
        sound: Sound {
            seed: 3,
            style: Style::Speech,
        },
        format: Format::Mp3,
        samples: 48_000,
        born: Some(app.now_ms()),
    };
    app.state.media.add_file([n; 16], file).url(&app.base)
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
        req = req.header(*k, HeaderValue::from_str(v).unwrap());
    }
    let r = req.send().await.unwrap();
    Got {
        status: r.status().as_u16(),
        headers: r.headers().clone(),
        body: r.bytes().await.unwrap().to_vec(),
    }
}

async fn app_at_t0() -> TestApp {
    spawn_at(config(), 1_790_000_000_000).await
}

#[tokio::test]
async fn a_video_url_serves_a_playable_mp4_with_length_etag_and_ranges_and_head_says_the_same() {
    let app = app_at_t0().await;
    let url = add_video(&app, 1, video(11, true));
    let full = get(&app, reqwest::Method::GET, &url, &[]).await;
    assert_eq!(full.status, 200);
    assert_eq!(full.header("content-type"), "video/mp4");
    assert_eq!(full.header("accept-ranges"), "bytes");
    assert_eq!(full.header("content-length"), full.body.len().to_string());
    let etag = full.header("etag").to_string();
    assert!(
        etag.starts_with("\"01010101") && etag.ends_with('"'),
        "{etag}"
    );
    // The container holds exactly 48 frames of 320x180 over 2 s, and a sound track.
    let mp4 = mp4::Mp4Reader::read_header(Cursor::new(&full.body), full.body.len() as u64).unwrap();
    assert_eq!(mp4.duration(), std::time::Duration::from_secs(2));
    assert_eq!(mp4.tracks().len(), 2);
    let v = &mp4.tracks()[&1];
    assert_eq!((v.width(), v.height(), v.sample_count()), (320, 180, 48));

    let again = get(&app, reqwest::Method::GET, &url, &[]).await;
    assert_eq!(
        (again.body == full.body, again.header("etag")),
        (true, &*etag)
    );
    let head = get(&app, reqwest::Method::HEAD, &url, &[]).await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    for h in ["content-type", "content-length", "etag", "accept-ranges"] {
        assert_eq!(head.header(h), full.header(h), "{h}");
    }
    let stats = app.ctl_get("/__mock/state").await.ok()["media_cache"].clone();
    assert_eq!(stats["files"], 1, "{stats}");
    assert_eq!(stats["misses"], 1, "made once: {stats}");
}

/// Range requests on an MP3 and an MP4 alike.
#[tokio::test]
async fn ranges_answer_206_with_content_range_and_416_past_the_end() {
    let app = app_at_t0().await;
    for url in [add_mp3(&app, 2), add_video(&app, 3, video(12, false))] {
        let full = get(&app, reqwest::Method::GET, &url, &[]).await.body;
        let len = full.len();
        for (range, first, last) in [
            ("bytes=0-99".to_string(), 0, 99),
            (format!("bytes={}-", len - 10), len - 10, len - 1),
            ("bytes=-25".to_string(), len - 25, len - 1),
            (format!("bytes=100-{}", len + 500), 100, len - 1),
        ] {
            let r = get(&app, reqwest::Method::GET, &url, &[("range", &range)]).await;
            assert_eq!(r.status, 206, "{url} {range}");
            assert_eq!(
                r.header("content-range"),
                format!("bytes {first}-{last}/{len}")
            );
            assert_eq!(r.header("content-length"), (last - first + 1).to_string());
            assert_eq!(r.body, full[first..=last], "{range}");
            let head = get(&app, reqwest::Method::HEAD, &url, &[("range", &range)]).await;
            assert_eq!((head.status, head.body.len()), (206, 0));
            assert_eq!(head.header("content-range"), r.header("content-range"));
        }
        for range in [format!("bytes={len}-"), "bytes=-0".to_string()] {
            let r = get(&app, reqwest::Method::GET, &url, &[("range", &range)]).await;
            assert_eq!(r.status, 416, "{range}");
            assert_eq!(r.header("content-range"), format!("bytes */{len}"));
            let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            assert_eq!(v["code"], 1200, "the Kling envelope: {v}");
        }
        // Several ranges, or a unit this server does not know: the whole file.
        for range in ["bytes=0-1,5-6", "pages=1-2"] {
            let r = get(&app, reqwest::Method::GET, &url, &[("range", range)]).await;
            assert_eq!((r.status, r.body.len()), (200, len), "{range}");
        }
    }
}

#[tokio::test]
async fn if_none_match_answers_304_and_if_range_lets_a_range_through_only_with_the_current_tag() {
    let app = app_at_t0().await;
    for url in [add_mp3(&app, 4), add_video(&app, 5, video(13, true))] {
        let full = get(&app, reqwest::Method::GET, &url, &[]).await;
        let etag = full.header("etag").to_string();
        for inm in [
            etag.clone(),
            format!("W/{etag}"),
            format!("\"x\", {etag}"),
            "*".into(),
        ] {
            let r = get(&app, reqwest::Method::GET, &url, &[("if-none-match", &inm)]).await;
            assert_eq!((r.status, r.body.len()), (304, 0), "{inm}");
            assert_eq!(r.header("etag"), etag);
        }
        let r = get(
            &app,
            reqwest::Method::GET,
            &url,
            &[("if-none-match", "\"other\"")],
        )
        .await;
        assert_eq!((r.status, r.body.len()), (200, full.body.len()));

        let ranged = [("range", "bytes=10-19"), ("if-range", etag.as_str())];
        let r = get(&app, reqwest::Method::GET, &url, &ranged).await;
        assert_eq!((r.status, r.body.as_slice()), (206, &full.body[10..20]));
        for stale in ["\"other\"", "Sat, 01 Jan 2000 00:00:00 GMT"] {
            let r = get(
                &app,
                reqwest::Method::GET,
                &url,
                &[("range", "bytes=10-19"), ("if-range", stale)],
            )
            .await;
            assert_eq!((r.status, r.body.len()), (200, full.body.len()), "{stale}");
        }
    }
}

#[tokio::test]
async fn concurrent_first_fetches_of_a_video_make_it_once_and_unknown_or_expired_ones_answer_404() {
    let app = app_at_t0().await;
    let url = add_video(&app, 6, video(14, true));
    // Four fetches in flight at once, before the file is made.
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let (app, url) = (app.clone(), url.clone());
            tokio::spawn(async move { get(&app, reqwest::Method::GET, &url, &[]).await })
        })
        .collect();
    let mut got = Vec::new();
    for t in tasks {
        got.push(t.await.unwrap());
    }
    assert!(got.iter().all(|g| g.status == 200 && g.body == got[0].body));
    let stats = app.state.media.cache_stats();
    assert_eq!(stats.misses, 1, "{stats:?}");

    let unknown = url.replace("06060606", "07070707");
    let a = get(&app, reqwest::Method::GET, &unknown, &[]).await;
    assert_eq!(a.status, 404);
    let v: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
    assert_eq!(v["code"], 1203);
    // Past the 30-day retention the URL is gone, even though its bytes are cached.
    app.state.clock.set(1_790_000_000_000 + 31 * 86_400_000);
    let a = get(&app, reqwest::Method::GET, &url, &[]).await;
    assert_eq!(a.status, 404);
    assert!(String::from_utf8_lossy(&a.body).contains("expired"));
    // An .mp3 name with a video's token is not that video.
    let r = get(
        &app,
        reqwest::Method::GET,
        &url.replace(".mp4", ".mp3"),
        &[],
    )
    .await;
    assert_eq!(r.status, 404);
}

/// ffprobe (when installed) reads the file over HTTP, with the range requests it makes.
#[tokio::test]
async fn ffprobe_reads_a_video_over_http() {
    if std::process::Command::new("ffprobe")
        .arg("-version")
        .output()
        .is_err()
    {
        eprintln!("NOTE: ffprobe is not on PATH; skipping the ffprobe-over-HTTP check");
        return;
    }
    let app = app_at_t0().await;
    let url = add_video(&app, 8, video(15, true));
    let out = tokio::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-print_format",
            "json",
            "-show_streams",
            "-show_format",
        ])
        .arg(&url)
        .output()
        .await
        .unwrap();
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["format"]["duration"], "2.000000");
    assert_eq!(v["streams"][0]["nb_read_frames"], "48");
    assert_eq!(v["streams"][0]["codec_name"], "h264");
    assert_eq!(v["streams"][1]["codec_name"], "mp3");
}

#[tokio::test]
async fn a_video_file_and_its_video_id_survive_a_restart() {
    let dir = std::env::temp_dir().join(format!("kling-mock-video-state-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("video.db");
    let _ = std::fs::remove_file(&path);
    let cfg = || kling_mock::Config {
        state_file: Some(path.clone()),
        ..config()
    };
    let t0 = 1_790_000_000_000;
    let (app, stop, run) = spawn_stoppable(cfg(), t0).await;
    let file = video(21, true);
    let url = add_video(&app, 9, file);
    let item = MediaItem {
        account: 0,
        origin: Origin::Video(VideoSource::V26WithSound),
        duration_ms: 2_000,
        created_at: t0,
    };
    let facts = VideoFacts {
        model: Label::new("kling-v2-6"),
        pro: true,
        sound: true,
        file: [9; 16],
        width: 320,
        height: 180,
        fps: 24,
        frames: 48,
        chain_ms: 2_000,
    };
    app.state.media.add_video_item(22, item, facts);
    let before = get(&app, reqwest::Method::GET, &url, &[]).await;
    stop.send(()).unwrap();
    run.await.unwrap().unwrap();

    let (app, _stop, _run) = spawn_stoppable(cfg(), t0 + 1_000).await;
    assert_eq!(app.state.media.video(&[9; 16], t0 + 1_000), Some(file));
    assert_eq!(
        app.state.media.video_item(0, 22, t0 + 1_000),
        Some((item, facts))
    );
    assert_eq!(
        app.state.media.video_item(1, 22, t0 + 1_000),
        None,
        "another account's"
    );
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
