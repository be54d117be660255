use crate::helpers::*;
use serde_json::json;
use std::io::Cursor;
use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;

struct Decoded {
    rate: u32,
    channels: usize,
    frames: usize,
    rms: f64,
}

impl Decoded {
    fn secs(&self) -> f64 {
        self.frames as f64 / self.rate as f64
    }
}

fn decode(bytes: Vec<u8>, ext: &str) -> Decoded {
    let source = MediaSourceStream::new(Box::new(Cursor::new(bytes)), Default::default());
    let mut hint = Hint::new();
    hint.with_extension(ext);
    let mut format = symphonia::default::get_probe()
        .probe(
            &hint,
            source,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .expect("a recognised audio file");
    let track = format
        .default_track(TrackType::Audio)
        .expect("an audio track");
    let track_id = track.id;
    let params = track
        .codec_params
        .as_ref()
        .unwrap()
        .audio()
        .unwrap()
        .clone();
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(&params, &AudioDecoderOptions::default())
        .unwrap();
    let (mut rate, mut channels, mut frames, mut sum) = (0, 0, 0usize, 0f64);
    let mut buf = Vec::new();
    while let Some(packet) = format.next_packet().unwrap() {
        if packet.track_id != track_id {
            continue;
        }
        let b = decoder.decode(&packet).expect("every packet decodes");
        rate = b.spec().rate();
        channels = b.spec().channels().count();
        b.copy_to_vec_interleaved::<f32>(&mut buf);
        frames += buf.len() / channels.max(1);
        sum += buf.iter().map(|s| (*s as f64).powi(2)).sum::<f64>();
    }
    Decoded {
        rate,
        channels,
        frames,
        rms: (sum / frames.max(1) as f64).sqrt(),
    }
}

/// Count MPEG audio frames by walking their headers (MPEG-2 Layer III, as served).
fn mp3_frames(bytes: &[u8]) -> usize {
    let (mut i, mut n) = (0, 0);
    while i + 4 <= bytes.len() {
        let h = u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        assert_eq!(h >> 21, 0x7ff, "frame sync at byte {i}");
        let version_mpeg2 = (h >> 19) & 3 == 2;
        let layer3 = (h >> 17) & 3 == 1;
        assert!(version_mpeg2 && layer3, "MPEG-2 Layer III at byte {i}");
        let bitrate = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160]
            [((h >> 12) & 15) as usize]
            * 1000;
        let rate = [22050, 24000, 16000][((h >> 10) & 3) as usize];
        let pad = ((h >> 9) & 1) as usize;
        i += 72 * bitrate / rate + pad;
        n += 1;
    }
    assert_eq!(i, bytes.len(), "the file is whole frames");
    n
}

#[tokio::test]
async fn text_to_audio_files_decode_to_their_declared_durations() {
    let app = spawn_app().await;
    let id = app
        .create_t2a(json!({"prompt": "ocean waves", "duration": 7.3}))
        .await;
    app.advance(FINISH);
    let a = app.get(&format!("/v1/audio/text-to-audio/{id}")).await;
    let audio = a.ok()["task_result"]["audios"][0].clone();

    let (status, ct, wav) = app.fetch(audio["url_wav"].as_str().unwrap()).await;
    assert_eq!((status, ct.as_str()), (200, "audio/wav"));
    assert_eq!(&wav[0..4], b"RIFF");
    assert_eq!(&wav[8..12], b"WAVE");
    let spec = hound::WavReader::new(Cursor::new(wav.clone()))
        .unwrap()
        .spec();
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (1, 24_000, 16)
    );
    let d = decode(wav, "wav");
    assert_eq!(d.secs(), 7.3);
    assert_eq!(
        kling_mock::wire::format_secs(d.secs()),
        audio["duration_wav"].as_str().unwrap()
    );
    assert!(d.rms > 0.01, "not silent: {}", d.rms);

    let (status, ct, mp3) = app.fetch(audio["url_mp3"].as_str().unwrap()).await;
    assert_eq!((status, ct.as_str()), (200, "audio/mpeg"));
    let frames = mp3_frames(&mp3);
    let declared: f64 = audio["duration_mp3"].as_str().unwrap().parse().unwrap();
    assert!(
        (frames as f64 * 576.0 / 24_000.0 - declared).abs() < 0.0005,
        "{frames} frames vs {declared}"
    );
    let d = decode(mp3, "mp3");
    assert_eq!((d.rate, d.channels), (24_000, 1));
    assert!(
        (d.secs() - declared).abs() < 0.001,
        "decoded {} vs declared {declared}",
        d.secs()
    );
    assert!(d.rms > 0.01, "not silent: {}", d.rms);
}

#[tokio::test]
async fn tts_audio_decodes_to_its_declared_duration() {
    let app = spawn_app().await;
    let a = app
        .post("/v1/audio/tts", json!({"text": "今天天气很好，我们去公园散步吧。", "voice_id": "genshin_vindi2", "voice_language": "zh"}))
        .await;
    let audio = a.ok()["task_result"]["audios"][0].clone();
    let (status, _, mp3) = app.fetch(audio["url"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    let declared: f64 = audio["duration"].as_str().unwrap().parse().unwrap();
    let d = decode(mp3, "mp3");
    assert!(
        (d.secs() - declared).abs() < 0.001,
        "decoded {} vs declared {declared}",
        d.secs()
    );
}

#[tokio::test]
async fn the_same_url_serves_the_same_bytes() {
    let app = spawn_app().await;
    let url = app.tts_url("hello").await;
    assert_eq!(app.fetch(&url).await.2, app.fetch(&url).await.2);
}

#[tokio::test]
async fn unknown_files_are_404_in_the_envelope() {
    let app = spawn_app().await;
    let a = app
        .send(
            app.client
                .get(app.url("/files/kling_00000000-0000-4000-8000-000000000000.mp3")),
        )
        .await;
    a.err(404, 1203);
    app.send(app.client.get(app.url("/files/whatever.txt")))
        .await
        .err(404, 1203);
    // A real file asked for with the other extension is not found either.
    let url = app.tts_url("hello").await.replace(".mp3", ".wav");
    app.send(app.client.get(url)).await.err(404, 1203);
}

#[tokio::test]
async fn public_url_sets_the_base_of_every_result_url() {
    let cfg = kling_mock::Config {
        public_url: Some("https://sandbox.example:9443/".into()),
        ..config()
    };
    let app = spawn_with(cfg).await;
    let url = app.tts_url("hello").await;
    assert!(
        url.starts_with("https://sandbox.example:9443/files/kling_"),
        "{url}"
    );
    // The path still resolves on the mock itself.
    let path = url.trim_start_matches("https://sandbox.example:9443");
    assert_eq!(app.fetch(&app.url(path)).await.0, 200);
}
