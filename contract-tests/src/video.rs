//! Probing served MP4 files with Debian's `ffprobe` and `ffmpeg` (package `ffmpeg`): container
//! duration, frame size, frame rate, whether an audio stream exists, and whether the file decodes
//! without a single error. When `ffprobe` is not installed the media property says so in the
//! run's notes and checks only what it can without it.

use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// What `ffprobe` says about a file.
#[derive(Clone, Debug, PartialEq)]
pub struct Probe {
    /// `format_name` (`mov,mp4,m4a,3gp,3g2,mj2` for an MP4).
    pub format: String,
    /// Container duration, seconds.
    pub duration: f64,
    /// Width of the first video stream.
    pub width: u32,
    /// Height of the first video stream.
    pub height: u32,
    /// Frames per second of the first video stream.
    pub fps: f64,
    /// Whether an audio stream exists.
    pub audio: bool,
}

/// Whether `ffprobe` and `ffmpeg` can be run (checked once).
pub fn available() -> bool {
    static ONCE: OnceLock<bool> = OnceLock::new();
    *ONCE.get_or_init(|| {
        ["ffprobe", "ffmpeg"].iter().all(|tool| {
            Command::new(tool)
                .arg("-version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
    })
}

/// A temporary file holding `bytes`, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(bytes: &[u8], ext: &str) -> Result<TempFile, String> {
        static N: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "kling-contract-{}-{}.{ext}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, bytes)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(TempFile(path))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `"30000/1001"` → 29.97.
fn rate(s: &str) -> Option<f64> {
    let (n, d) = s.split_once('/').unwrap_or((s, "1"));
    let (n, d): (f64, f64) = (n.parse().ok()?, d.parse().ok()?);
    (d != 0.0 && n > 0.0).then(|| n / d)
}

/// Read `ffprobe -print_format json -show_format -show_streams` output.
pub fn parse_probe(json: &Value) -> Result<Probe, String> {
    let streams = json["streams"].as_array().cloned().unwrap_or_default();
    let video = streams
        .iter()
        .find(|s| s["codec_type"] == "video")
        .ok_or("no video stream")?;
    let num = |v: &Value| {
        v.as_f64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
    };
    let duration = num(&json["format"]["duration"])
        .or_else(|| num(&video["duration"]))
        .ok_or("no duration")?;
    let fps = video["avg_frame_rate"]
        .as_str()
        .and_then(rate)
        .or_else(|| video["r_frame_rate"].as_str().and_then(rate))
        .ok_or("no frame rate")?;
    Ok(Probe {
        format: json["format"]["format_name"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        duration,
        width: video["width"].as_u64().ok_or("no width")? as u32,
        height: video["height"].as_u64().ok_or("no height")? as u32,
        fps,
        audio: streams.iter().any(|s| s["codec_type"] == "audio"),
    })
}

/// Probe a file's bytes.
pub fn probe(bytes: &[u8]) -> Result<Probe, String> {
    let f = TempFile::new(bytes, "mp4")?;
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
        ])
        .arg(&f.0)
        .output()
        .map_err(|e| format!("cannot run ffprobe: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "ffprobe cannot read it: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let json: Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("ffprobe printed no JSON: {e}"))?;
    parse_probe(&json)
}

/// What `ffmpeg -v error -i <file> -f null -` prints (empty for a file that decodes cleanly).
pub fn decode_errors(bytes: &[u8]) -> Result<String, String> {
    let f = TempFile::new(bytes, "mp4")?;
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(&f.0)
        .args(["-f", "null", "-"])
        .output()
        .map_err(|e| format!("cannot run ffmpeg: {e}"))?;
    let mut text = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if !out.status.success() && text.is_empty() {
        text = format!("ffmpeg exited with {}", out.status);
    }
    Ok(text)
}

/// An MP4 made by `ffmpeg` from its test sources (for tests): `w`×`h`, `secs` long, `fps`, with
/// a sine tone if `audio`.
pub fn synthesize(w: u32, h: u32, secs: f64, fps: u32, audio: bool) -> Result<Vec<u8>, String> {
    let f = TempFile::new(&[], "mp4")?;
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("testsrc=size={w}x{h}:rate={fps}:duration={secs}"));
    if audio {
        cmd.args(["-f", "lavfi", "-i"])
            .arg(format!("sine=frequency=440:duration={secs}"))
            .args(["-c:a", "aac"]);
    }
    cmd.args([
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
    ])
    .arg(&f.0);
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run ffmpeg: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).to_string());
    }
    std::fs::read(&f.0).map_err(|e| e.to_string())
}

/// The same video scaled to `w`×`h` (for the drift tests: a file of the wrong size).
pub fn rescale(bytes: &[u8], w: u32, h: u32) -> Result<Vec<u8>, String> {
    let input = TempFile::new(bytes, "mp4")?;
    let output = TempFile::new(&[], "mp4")?;
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-i"])
        .arg(&input.0)
        .args(["-vf"])
        .arg(format!("scale={w}:{h}"))
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "copy",
        ])
        .arg(&output.0)
        .output()
        .map_err(|e| format!("cannot run ffmpeg: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).to_string());
    }
    std::fs::read(&output.0).map_err(|e| e.to_string())
}

/// The first `secs` seconds of a video (for the drift tests: a file shorter than declared).
pub fn trim(bytes: &[u8], secs: f64) -> Result<Vec<u8>, String> {
    let input = TempFile::new(bytes, "mp4")?;
    let output = TempFile::new(&[], "mp4")?;
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-i"])
        .arg(&input.0)
        .args(["-t", &secs.to_string(), "-c", "copy"])
        .arg(&output.0)
        .output()
        .map_err(|e| format!("cannot run ffmpeg: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).to_string());
    }
    std::fs::read(&output.0).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn probe_output_is_read() {
        let j = json!({"streams": [
            {"codec_type": "video", "width": 1280, "height": 720, "avg_frame_rate": "30/1", "r_frame_rate": "30/1"},
            {"codec_type": "audio"}],
            "format": {"format_name": "mov,mp4,m4a,3gp,3g2,mj2", "duration": "5.000000"}});
        let p = parse_probe(&j).unwrap();
        assert_eq!(
            (p.width, p.height, p.fps, p.duration, p.audio),
            (1280, 720, 30.0, 5.0, true)
        );
        let no_video = json!({"streams": [{"codec_type": "audio"}], "format": {"duration": "1"}});
        assert_eq!(parse_probe(&no_video).unwrap_err(), "no video stream");
        assert_eq!(
            rate("30000/1001").map(|r| (r * 100.0).round()),
            Some(2997.0)
        );
        assert_eq!(rate("0/0"), None);
    }

    #[test]
    fn a_synthesized_mp4_probes_as_made() {
        if !available() {
            return;
        }
        let bytes = synthesize(320, 180, 2.0, 24, true).unwrap();
        let p = probe(&bytes).unwrap();
        assert_eq!((p.width, p.height, p.fps, p.audio), (320, 180, 24.0, true));
        assert!((p.duration - 2.0).abs() < 0.1, "{p:?}");
        assert!(p.format.contains("mp4"));
        assert_eq!(decode_errors(&bytes).unwrap(), "");
        let small = rescale(&bytes, 160, 90).unwrap();
        assert_eq!(probe(&small).unwrap().width, 160);
        let short = trim(&bytes, 1.0).unwrap();
        assert!(probe(&short).unwrap().duration < 1.5);
        let broken = &bytes[..bytes.len() / 2];
        assert!(probe(broken).is_err() || !decode_errors(broken).unwrap().is_empty());
        assert!(probe(b"not a video").is_err());
    }
}
