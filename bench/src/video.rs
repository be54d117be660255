//! `video`: MP4 video files through `/files`: the cost of registering one (what a create adds),
//! the first fetch with no shared GOPs made (cold), the first fetch of a second task of the
//! same variant (its shared GOPs warm: only its own first second is encoded), a repeat fetch (from
//! memory), a 1 MiB range request, and the memory a cached variant and a cached file take.

use crate::load;
use crate::scenarios::{addr_of, start_mock};
use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;
use kling_mock::media::{Label, VideoFile};
use std::time::{Duration, Instant};

/// What the `video` scenario measured.
pub struct VideoBench {
    /// The file measured: `WxH fps frames`.
    pub what: String,
    /// `MediaLibrary::add_video` of the first file (what a create pays; it queues the warm-up).
    pub register: Duration,
    /// First fetch, nothing cached.
    pub cold: Duration,
    /// CPU time the process spent over the cold fetch (all threads; the figure to read on a
    /// busy machine).
    pub cold_cpu: Duration,
    /// CPU time over the second task's first fetch.
    pub shared_cpu: Duration,
    /// First fetch of another task's file of the same variant.
    pub shared: Duration,
    /// Repeat fetch (median).
    pub repeat: Duration,
    /// `Range: bytes=0-1048575` (median).
    pub range: Duration,
    /// Bytes of one file.
    pub file_bytes: usize,
    /// Bytes of the variant's shared GOPs in the cache.
    pub variant_bytes: usize,
}

/// Median of `f()` over `n` runs.
async fn median<F: std::future::Future<Output = Result<(), String>>>(
    n: usize,
    mut f: impl FnMut() -> F,
) -> Result<Duration, String> {
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        f().await?;
        times.push(t.elapsed());
    }
    times.sort();
    Ok(times[times.len() / 2])
}

/// Run the scenario: 1920x1080, 24 fps, 10 s with sound (320x180, 2 s in `--smoke`). With `out`,
/// the first file is also written there (to look at it).
pub async fn video(smoke: bool, out: Option<&std::path::Path>) -> Result<VideoBench, String> {
    let mock = start_mock(0).await;
    let addr = addr_of(&mock)?;
    let media = &mock.state().media;
    let now = mock.state().clock.now_ms();
    let (width, height, frames) = if smoke {
        (320, 180, 48)
    } else {
        (1920, 1080, 240)
    };
    // 18-digit ids, as the mock hands out.
    let file = |n: u64| VideoFile {
        task_id: 860_123_456_789_000_000 + 2 * n,
        video_id: 860_123_456_789_000_001 + 2 * n,
        width,
        height,
        fps: 24,
        frames,
        sound: Some(n),
        watermark: false,
        label: Label::new("kling-v2-6 pro"),
        born: Some(now),
    };
    let get = |token: [u8; 16], range: Option<&'static str>| {
        let path = format!("/files/kling_{}.mp4", uuid_of(token));
        async move {
            let mut b = Request::builder()
                .uri(path)
                .header("host", addr.to_string());
            if let Some(r) = range {
                b = b.header("range", r);
            }
            let req = b.body(Full::new(Bytes::new())).map_err(|e| e.to_string())?;
            let (status, body) = load::one_request(addr, req).await?;
            let want = if range.is_some() { 206 } else { 200 };
            if status != want {
                return Err(format!("video fetch answered {status}, not {want}"));
            }
            Ok::<Bytes, String>(body)
        }
    };
    // Registering: what a create pays (the warm-up it queues runs on another thread).
    let t = Instant::now();
    media.add_video([1; 16], file(1));
    let register = t.elapsed();
    let (t, c) = (Instant::now(), cpu_time());
    let first = get([1; 16], None).await?;
    let (cold, cold_cpu) = (t.elapsed(), cpu_time().saturating_sub(c));
    if let Some(path) = out {
        std::fs::write(path, &first).map_err(|e| format!("{}: {e}", path.display()))?;
        // And its watermarked twin, beside it (not measured).
        media.add_video(
            [9; 16],
            VideoFile {
                watermark: true,
                ..file(1)
            },
        );
        let marked = get([9; 16], None).await?;
        let twin = path.with_extension("watermark.mp4");
        std::fs::write(&twin, &marked).map_err(|e| format!("{}: {e}", twin.display()))?;
    }
    media.add_video([2; 16], file(2));
    let (t, c) = (Instant::now(), cpu_time());
    get([2; 16], None).await?;
    let (shared, shared_cpu) = (t.elapsed(), cpu_time().saturating_sub(c));
    let runs = if smoke { 3 } else { 20 };
    let repeat = median(runs, || async { get([1; 16], None).await.map(drop) }).await?;
    let range = median(runs, || async {
        get([1; 16], Some("bytes=0-1048575")).await.map(drop)
    })
    .await?;
    let stats = media.cache_stats();
    let variant_bytes = stats.bytes.saturating_sub(2 * first.len());
    Ok(VideoBench {
        what: format!("{width}x{height} 24 fps {frames} frames, with sound"),
        register,
        cold,
        cold_cpu,
        shared,
        shared_cpu,
        repeat,
        range,
        file_bytes: first.len(),
        variant_bytes,
    })
}

/// User + system CPU time of this process so far (`/proc/self/stat`, 10 ms ticks; zero where
/// there is no `/proc`).
pub fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which ends with the last ')'): utime is the 12th, stime
    // the 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|v| v.parse().ok())
        .collect();
    Duration::from_millis(f.iter().sum::<u64>() * 10)
}

/// The hyphenated UUID of a token.
pub fn uuid_of(t: [u8; 16]) -> String {
    let h: String = t.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}
