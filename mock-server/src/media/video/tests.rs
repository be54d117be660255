//! The video files, read back by independent parsers: the `mp4` crate for the container,
//! OpenH264's decoder for the pictures, mp4-atom's reader for the edit list, and ffprobe/ffmpeg
//! when they are installed.

use super::*;
use openh264::formats::YUVSource;
use std::io::Cursor;

fn file(task_id: u64, sound: bool, watermark: bool) -> VideoFile {
    VideoFile {
        task_id,
        video_id: task_id + 1,
        width: 320,
        height: 180,
        fps: 24,
        frames: 60,
        sound: sound.then_some(7),
        watermark,
        label: Label::new("kling-v2-6 pro"),
        born: None,
    }
}

fn render_fresh(f: &VideoFile) -> Vec<u8> {
    render(f, &VariantGops::new(Variant::of(f))).unwrap()
}

/// Per track: (handler box type, timescale, duration ticks, samples, their sync flags, bytes).
struct Track {
    kind: String,
    timescale: u32,
    duration: u64,
    sync: Vec<bool>,
    samples: Vec<Vec<u8>>,
    width: u16,
    height: u16,
}

fn read(bytes: &[u8]) -> (u32, u64, Vec<Track>) {
    let mut r = mp4::Mp4Reader::read_header(Cursor::new(bytes), bytes.len() as u64).unwrap();
    let timescale = r.timescale();
    let duration = r.moov.mvhd.duration;
    let mut ids: Vec<u32> = r.tracks().keys().copied().collect();
    ids.sort();
    let mut out = Vec::new();
    for id in ids {
        let t = &r.tracks()[&id];
        let (kind, ts, dur, n, w, h) = (
            t.box_type().unwrap().to_string(),
            t.timescale(),
            t.trak.mdia.mdhd.duration,
            t.sample_count(),
            t.width(),
            t.height(),
        );
        let mut sync = Vec::new();
        let mut samples = Vec::new();
        for s in 1..=n {
            let s = r.read_sample(id, s).unwrap().unwrap();
            sync.push(s.is_sync);
            samples.push(s.bytes.to_vec());
        }
        out.push(Track {
            kind,
            timescale: ts,
            duration: dur,
            sync,
            samples,
            width: w,
            height: h,
        });
    }
    (timescale, duration, out)
}

/// Decode every picture with OpenH264; returns the luma planes (tightly packed) and the size.
fn decode(bytes: &[u8]) -> (Vec<Vec<u8>>, (usize, usize)) {
    let r = mp4::Mp4Reader::read_header(Cursor::new(bytes), bytes.len() as u64).unwrap();
    let t = &r.tracks()[&1];
    let mut annex_b = Vec::new();
    for ps in [
        t.sequence_parameter_set().unwrap(),
        t.picture_parameter_set().unwrap(),
    ] {
        annex_b.extend_from_slice(&[0, 0, 0, 1]);
        annex_b.extend_from_slice(ps);
    }
    let (_, _, tracks) = read(bytes);
    let mut dec = openh264::decoder::Decoder::new().unwrap();
    let _ = dec.decode(&annex_b).unwrap();
    let mut pictures = Vec::new();
    let mut size = (0, 0);
    let mut keep = |pic: &openh264::decoder::DecodedYUV<'_>| {
        let (w, h) = pic.dimensions();
        let stride = pic.strides().0;
        size = (w, h);
        pictures.push(
            (0..h)
                .flat_map(|row| pic.y()[row * stride..row * stride + w].iter().copied())
                .collect::<Vec<u8>>(),
        );
    };
    for sample in &tracks[0].samples {
        let mut d = &sample[..];
        let mut au = Vec::new();
        while d.len() >= 4 {
            let len = u32::from_be_bytes(d[..4].try_into().unwrap()) as usize;
            au.extend_from_slice(&[0, 0, 0, 1]);
            au.extend_from_slice(&d[4..4 + len]);
            d = &d[4 + len..];
        }
        assert!(d.is_empty(), "a sample is whole length-prefixed NAL units");
        if let Some(pic) = dec.decode(&au).expect("every sample decodes") {
            keep(&pic);
        }
    }
    for pic in dec.flush_remaining().unwrap() {
        keep(&pic);
    }
    (pictures, size)
}

#[test]
fn a_video_decodes_to_its_exact_frames_size_and_duration_with_a_sync_sample_per_gop() {
    let f = file(1, true, false);
    let bytes = render_fresh(&f);
    assert_eq!(&bytes[4..8], b"ftyp");
    assert_eq!(&bytes[bytes.len() - bytes.len()..][..4], &bytes[..4]);
    let (timescale, duration, tracks) = read(&bytes);
    assert_eq!(timescale, 24_000);
    assert_eq!(
        duration,
        60 * 1000,
        "movie duration is exactly frames / fps"
    );
    let v = &tracks[0];
    assert_eq!(v.kind, "avc1");
    assert_eq!((v.width, v.height), (320, 180));
    assert_eq!((v.timescale, v.duration), (24_000, 60_000));
    assert_eq!(v.samples.len(), 60);
    let sync: Vec<usize> = (0..60).filter(|&i| v.sync[i]).collect();
    assert_eq!(
        sync,
        vec![0, 24, 48],
        "an IDR picture opens every one-second GOP"
    );
    let (pictures, size) = decode(&bytes);
    assert_eq!(pictures.len(), 60, "every frame decodes");
    assert_eq!(size, (320, 180));
    assert_ne!(pictures[0], pictures[30], "the picture moves");
}

#[test]
fn the_sound_track_is_there_iff_the_video_has_sound_and_covers_its_duration() {
    let silent = render_fresh(&file(1, false, false));
    assert_eq!(read(&silent).2.len(), 1, "no sound track");
    let f = file(1, true, false);
    let bytes = render_fresh(&f);
    let (_, _, tracks) = read(&bytes);
    assert_eq!(tracks.len(), 2);
    let a = &tracks[1];
    assert_eq!(a.kind, "mp4a");
    assert_eq!(a.timescale, mux::AUDIO_RATE);
    assert_eq!(
        a.duration,
        a.samples.len() as u64 * u64::from(mux::MP3_FRAME)
    );
    // Every sample is one MPEG-1 Layer III frame at 48 kHz.
    for s in &a.samples {
        assert_eq!((s[0], s[1] & 0xfe, (s[2] >> 2) & 3), (0xff, 0xfa, 1));
    }
    // The edit list presents exactly the video's length, from the first real sample on, and
    // the media holds at least that much after the delay (less than two frames of padding).
    let moov = read_moov(&bytes);
    let elst = moov.trak[1].edts.as_ref().unwrap().elst.as_ref().unwrap();
    assert_eq!(elst.entries.len(), 1);
    assert_eq!(elst.entries[0].segment_duration, 60 * 1000);
    assert_eq!(elst.entries[0].media_time, Some(mux::MP3_DELAY));
    let real = 60 * 48_000 / 24;
    let after_delay = a.duration - mux::MP3_DELAY;
    assert!(
        after_delay >= real && after_delay < real + 3 * u64::from(mux::MP3_FRAME),
        "{after_delay} samples after the delay for {real} real ones"
    );
}

fn read_moov(bytes: &[u8]) -> mp4_atom::Moov {
    use mp4_atom::{Any, DecodeMaybe};
    let mut buf = bytes;
    while let Some(atom) = Any::decode_maybe(&mut buf).unwrap() {
        if let Any::Moov(m) = atom {
            return m;
        }
    }
    panic!("no moov");
}

#[test]
fn files_of_one_variant_share_every_gop_but_the_first_and_are_deterministic() {
    let a = file(100, true, false);
    let b = VideoFile {
        task_id: 200,
        video_id: 201,
        sound: Some(99),
        ..a
    };
    let shared = VariantGops::new(Variant::of(&a));
    let fa = render(&a, &shared).unwrap();
    assert!(shared.complete());
    let fb = render(&b, &shared).unwrap();
    let (ta, tb) = (read(&fa).2, read(&fb).2);
    assert_ne!(
        ta[0].samples[..24],
        tb[0].samples[..24],
        "the title card differs"
    );
    assert_eq!(
        ta[0].samples[24..],
        tb[0].samples[24..],
        "later GOPs are shared"
    );
    // The same file from scratch (no shared GOPs yet) is byte-identical.
    assert_eq!(render_fresh(&a), fa);
    assert_eq!(render_fresh(&b), fb);
    // Another variant's GOPs are refused.
    let other = VideoFile { frames: 48, ..a };
    assert!(render(&other, &shared).is_err());
}

/// Mean luma of the middle tenth of the picture (where the diagonal band crosses).
fn centre_luma(picture: &[u8], (w, h): (usize, usize)) -> f64 {
    let (x0, y0) = (w * 9 / 20, h * 9 / 20);
    let (x1, y1) = (w * 11 / 20, h * 11 / 20);
    let mut sum = 0u64;
    for row in y0..y1 {
        sum += picture[row * w + x0..row * w + x1]
            .iter()
            .map(|&p| u64::from(p))
            .sum::<u64>();
    }
    sum as f64 / ((x1 - x0) * (y1 - y0)) as f64
}

#[test]
fn the_watermarked_file_visibly_differs() {
    let plain = render_fresh(&file(1, false, false));
    let marked = render_fresh(&file(1, false, true));
    let (p, size) = decode(&plain);
    let (m, _) = decode(&marked);
    // Away from the title card and the timecode: the band's corners of the picture differ too,
    // but its centre is where it is widest.
    for i in [0, 30, 59] {
        let (lp, lm) = (centre_luma(&p[i], size), centre_luma(&m[i], size));
        assert!(lm - lp > 40.0, "frame {i}: band luma {lm} vs plain {lp}");
    }
}

#[test]
fn unsupported_sizes_and_rates_are_refused() {
    for (w, h, fps, frames) in [
        (321, 180, 24, 24),
        (320, 180, 0, 24),
        (320, 180, 61, 24),
        (320, 180, 24, 0),
        (8, 8, 24, 24),
        (4096, 2160, 24, 24),
    ] {
        let f = VideoFile {
            width: w,
            height: h,
            fps,
            frames,
            ..file(1, false, false)
        };
        assert!(
            Variant::of(&f).check().is_err(),
            "{w}x{h} {fps} fps {frames}"
        );
    }
}

#[test]
fn odd_frame_counts_and_one_fps_still_give_every_frame() {
    for (fps, frames) in [(1, 3), (30, 31), (25, 1)] {
        let f = VideoFile {
            fps,
            frames,
            ..file(1, true, false)
        };
        let bytes = render_fresh(&f);
        let (timescale, duration, tracks) = read(&bytes);
        assert_eq!(
            (timescale, duration),
            (fps * 1000, u64::from(frames) * 1000)
        );
        assert_eq!(tracks[0].samples.len(), frames as usize);
        assert_eq!(decode(&bytes).0.len(), frames as usize);
    }
}

/// ffprobe and ffmpeg, when installed, read the container and decode every frame without a
/// single error message.
#[test]
fn ffprobe_reports_the_exact_stream_and_ffmpeg_decodes_it_silently() {
    if std::process::Command::new("ffprobe")
        .arg("-version")
        .output()
        .is_err()
    {
        eprintln!("NOTE: ffprobe is not on PATH; skipping the ffprobe/ffmpeg check");
        return;
    }
    let dir = std::env::temp_dir().join(format!("kling-mock-video-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (f, secs) in [
        (
            VideoFile {
                width: 1280,
                height: 720,
                fps: 24,
                frames: 120,
                ..file(5, true, true)
            },
            "5.000000",
        ),
        (
            VideoFile {
                width: 720,
                height: 1280,
                fps: 30,
                frames: 75,
                ..file(6, false, false)
            },
            "2.500000",
        ),
    ] {
        let path = dir.join(format!("{}.mp4", f.task_id));
        std::fs::write(&path, render_fresh(&f)).unwrap();
        let out = std::process::Command::new("ffprobe")
            .args(["-v", "error", "-count_frames", "-print_format", "json"])
            .args(["-show_format", "-show_streams"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["format"]["duration"], secs);
        let streams = v["streams"].as_array().unwrap();
        assert_eq!(streams.len(), if f.sound.is_some() { 2 } else { 1 });
        let s = &streams[0];
        assert_eq!(s["codec_name"], "h264");
        assert_eq!(
            (s["width"].as_u64(), s["height"].as_u64()),
            (Some(u64::from(f.width)), Some(u64::from(f.height)))
        );
        assert_eq!(s["r_frame_rate"], format!("{}/1", f.fps));
        assert_eq!(s["avg_frame_rate"], format!("{}/1", f.fps));
        assert_eq!(s["nb_frames"], f.frames.to_string());
        assert_eq!(s["nb_read_frames"], f.frames.to_string());
        assert_eq!(s["duration"], secs);
        assert_eq!(s["pix_fmt"], "yuv420p");
        if f.sound.is_some() {
            let a = &streams[1];
            assert_eq!(
                (a["codec_name"].as_str(), a["sample_rate"].as_str()),
                (Some("mp3"), Some("48000"))
            );
            let d: f64 = a["duration"].as_str().unwrap().parse().unwrap();
            assert!(
                (d - f.duration_secs()).abs() <= 1152.0 / 48_000.0,
                "audio lasts {d} s"
            );
        }
        let out = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(&path)
            .args(["-f", "null", "-"])
            .output()
            .unwrap();
        assert!(out.status.success());
        assert!(
            out.stderr.is_empty(),
            "ffmpeg: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
