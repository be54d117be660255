//! `selection`: multi-elements' `add-selection` over HTTP: the answer's latency (the mask drawn,
//! run-length encoded and PNG-encoded for every call) and size, on a 720p and a 1080p session.
//! The sessions are opened with `init-selection` on video files registered as a video task
//! registers them (`media::VideoFile`), given by the mock's own URL.

use crate::load;
use crate::scenarios::{addr_of, start_mock, token};
use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;
use kling_mock::media::{Label, VideoFile};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// What the scenario measured for one frame size.
pub struct SelectionBench {
    /// `WxH`.
    pub what: String,
    /// `add-selection` with three points (median).
    pub add: Duration,
    /// The answer's body, bytes.
    pub body_bytes: usize,
    /// The mask PNG inside it (decoded from Base64), bytes.
    pub png_bytes: usize,
}

async fn post(
    addr: SocketAddr,
    bearer: &str,
    path: &str,
    body: String,
) -> Result<serde_json::Value, String> {
    let req = Request::builder()
        .method("POST")
        .uri(path)
        .header("host", addr.to_string())
        .header("authorization", format!("Bearer {bearer}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let (status, bytes) = load::one_request(addr, req).await?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
    if status != 200 || v["code"] != 0 {
        return Err(format!("{path} answered {status}: {v}"));
    }
    Ok(v["data"].clone())
}

/// Run the scenario (one size and few runs in `--smoke`).
pub async fn selection(smoke: bool) -> Result<Vec<SelectionBench>, String> {
    let mock = start_mock(0).await;
    let addr = addr_of(&mock)?;
    let bearer = token(&mock);
    let media = &mock.state().media;
    let now = mock.state().clock.now_ms();
    let sizes: &[(u32, u32)] = if smoke {
        &[(1280, 720)]
    } else {
        &[(1280, 720), (1920, 1080)]
    };
    let mut out = Vec::new();
    for (i, &(width, height)) in sizes.iter().enumerate() {
        let token = [i as u8 + 1; 16];
        media.add_video(
            token,
            VideoFile {
                task_id: 860_123_456_789_000_000 + i as u64,
                video_id: 860_123_456_789_100_000 + i as u64,
                width,
                height,
                fps: 30,
                frames: 150,
                sound: None,
                watermark: false,
                label: Label::new("kling-v1-6 pro"),
                born: Some(now),
            },
        );
        let url = format!(
            "{}/files/kling_{}.mp4",
            mock.base_url(),
            crate::video::uuid_of(token)
        );
        let init = post(
            addr,
            &bearer,
            "/v1/videos/multi-elements/init-selection",
            serde_json::json!({ "video_url": url }).to_string(),
        )
        .await?;
        let session = init["session_id"].as_str().unwrap_or_default().to_string();
        let body = serde_json::json!({
            "session_id": session,
            "frame_index": 0,
            "points": [{"x": 0.3, "y": 0.4}, {"x": 0.35, "y": 0.45}, {"x": 0.7, "y": 0.6}],
        })
        .to_string();
        let runs = if smoke { 3 } else { 20 };
        let mut times = Vec::with_capacity(runs);
        let mut last = serde_json::Value::Null;
        for _ in 0..runs {
            let t = Instant::now();
            last = post(
                addr,
                &bearer,
                "/v1/videos/multi-elements/add-selection",
                body.clone(),
            )
            .await?;
            times.push(t.elapsed());
        }
        times.sort();
        let b64 = last["res"]["rle_mask_list"][0]["png_mask"]["base64"]
            .as_str()
            .unwrap_or_default();
        out.push(SelectionBench {
            what: format!("{width}x{height}"),
            add: times[runs / 2],
            body_bytes: last.to_string().len(),
            png_bytes: b64.len() * 3 / 4,
        });
    }
    Ok(out)
}
