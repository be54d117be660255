//! `images`: PNG image files through `/files`: the first fetch of a 2k and of a 4k picture
//! (drawn and encoded: cold), a repeat fetch (from memory: warm), and the bytes a cached image
//! takes. The pictures are those an image task registers (`media::ImageFile`), at the sizes
//! the image families give (2k 1:1: 2048², 4k 16:9: 5456 × 3072).

use crate::load;
use crate::scenarios::{addr_of, start_mock};
use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;
use kling_mock::media::{Format, ImageFile, Label};
use std::time::{Duration, Instant};

/// What the scenario measured for one picture size.
pub struct ImageBench {
    /// `WxH PNG`.
    pub what: String,
    /// First fetch, nothing cached.
    pub cold: Duration,
    /// CPU time of the process over the cold fetch.
    pub cold_cpu: Duration,
    /// Repeat fetch (median).
    pub warm: Duration,
    /// Bytes of the file.
    pub file_bytes: usize,
    /// What the cache grew by when it kept the file.
    pub cached_bytes: usize,
}

/// Run the scenario (tiny pictures in `--smoke`).
pub async fn images(smoke: bool) -> Result<Vec<ImageBench>, String> {
    let mock = start_mock(0).await;
    let addr = addr_of(&mock)?;
    let media = &mock.state().media;
    let now = mock.state().clock.now_ms();
    let sizes: [(u32, u32, &str); 2] = if smoke {
        [
            (256, 256, "kling-v3 2k 1:1"),
            (512, 288, "kling-v3-omni 4k 16:9"),
        ]
    } else {
        [
            (2048, 2048, "kling-v3 2k 1:1"),
            (5456, 3072, "kling-v3-omni 4k 16:9"),
        ]
    };
    let mut out = Vec::new();
    for (i, (width, height, label)) in sizes.into_iter().enumerate() {
        let token = [i as u8 + 1; 16];
        media.add_image(
            token,
            ImageFile {
                task_id: 860_123_456_789_000_000 + i as u64,
                index: 0,
                n: 4,
                width,
                height,
                seed: 42 + i as u64,
                watermark: false,
                label: Label::new(label),
                format: Format::Png,
                born: Some(now),
            },
        );
        let get = || {
            let path = format!("/files/kling_{}.png", crate::video::uuid_of(token));
            async move {
                let req = Request::builder()
                    .uri(path)
                    .header("host", addr.to_string())
                    .body(Full::new(Bytes::new()))
                    .map_err(|e| e.to_string())?;
                let (status, body) = load::one_request(addr, req).await?;
                if status != 200 {
                    return Err(format!("image fetch answered {status}"));
                }
                Ok::<Bytes, String>(body)
            }
        };
        let before = media.cache_stats().bytes;
        let (t, c) = (Instant::now(), crate::video::cpu_time());
        let first = get().await?;
        let (cold, cold_cpu) = (t.elapsed(), crate::video::cpu_time().saturating_sub(c));
        let cached_bytes = media.cache_stats().bytes.saturating_sub(before);
        let runs = if smoke { 3 } else { 20 };
        let mut times = Vec::with_capacity(runs);
        for _ in 0..runs {
            let t = Instant::now();
            get().await?;
            times.push(t.elapsed());
        }
        times.sort();
        out.push(ImageBench {
            what: format!("{width}x{height} PNG"),
            cold,
            cold_cpu,
            warm: times[runs / 2],
            file_bytes: first.len(),
            cached_bytes,
        });
    }
    Ok(out)
}
