//! The face families over HTTP: lip-sync, identify-face, advanced lip-sync and avatar: their
//! lifecycle and results, durations carrying through (decoded from the MP4 files), sessions
//! expiring after 24 h on the virtual clock, references of another account refused, custom
//! voices made from their videos, and the chained scenario TTS → avatar → custom voice →
//! lip-sync.

use crate::helpers::*;
use serde_json::{Value, json};
use std::io::Cursor;
use std::time::Duration;

const T2V: &str = "/v1/videos/text2video";
const LIP: &str = "/v1/videos/lip-sync";
const FACE: &str = "/v1/videos/identify-face";
const ADV: &str = "/v1/videos/advanced-lip-sync";
const AVATAR: &str = "/v1/videos/avatar/image2video";
const VOICES: &str = "/v1/general/custom-voices";
/// About 8 s of English speech.
const SPEECH: &str =
    "Throughout my time in college, several memorable events left a significant impact on my life";

async fn finished_as(app: &TestApp, ak: &str, sk: &str, path: &str, body: Value) -> Value {
    let a = app.post_as(ak, sk, path, body).await;
    let id = a.ok()["task_id"].as_str().expect("task_id").to_string();
    app.advance(FINISH);
    app.get_as(ak, sk, &format!("{path}/{id}"))
        .await
        .ok()
        .clone()
}

async fn finished(app: &TestApp, path: &str, body: Value) -> Value {
    finished_as(app, AK, SK, path, body).await
}

fn video(d: &Value) -> &Value {
    &d["task_result"]["videos"][0]
}

fn id_of(d: &Value) -> String {
    video(d)["id"].as_str().expect("video id").to_string()
}

/// A finished 5 s text2video video of account 1 (1280 × 720, 24 fps).
async fn five_seconds(app: &TestApp) -> Value {
    let d = finished(app, T2V, json!({"prompt": "a face", "duration": "5"})).await;
    assert_eq!(video(&d)["duration"], "5");
    d
}

/// A TTS audio of account (`ak`, `sk`): (id, seconds).
async fn tts(app: &TestApp, ak: &str, sk: &str) -> (String, f64) {
    let body = json!({"text": SPEECH, "voice_id": "oversea_male1", "voice_language": "en"});
    let a = app.post_as(ak, sk, "/v1/audio/tts", body).await;
    let audio = &a.ok()["task_result"]["audios"][0];
    let secs = audio["duration"].as_str().unwrap().parse().unwrap();
    (audio["id"].as_str().unwrap().to_string(), secs)
}

/// The decoded MP4 behind a URL: (duration, tracks, (width, height) of the video track).
async fn decode(app: &TestApp, url: &str) -> (Duration, usize, (u16, u16)) {
    let (status, ct, body) = app.fetch(url).await;
    assert_eq!((status, ct.as_str()), (200, "video/mp4"));
    let mp4 = mp4::Mp4Reader::read_header(Cursor::new(&body), body.len() as u64).unwrap();
    let v = mp4.tracks().values().find(|t| t.width() > 0).unwrap();
    (mp4.duration(), mp4.tracks().len(), (v.width(), v.height()))
}

fn png_b64(w: u32, h: u32) -> String {
    use base64::Engine as _;
    let mut b = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    b.extend_from_slice(&13u32.to_be_bytes());
    b.extend_from_slice(b"IHDR");
    b.extend_from_slice(&w.to_be_bytes());
    b.extend_from_slice(&h.to_be_bytes());
    b.extend_from_slice(&[8, 2, 0, 0, 0, 0, 0, 0, 0]);
    base64::engine::general_purpose::STANDARD.encode(b)
}

#[tokio::test]
async fn a_lip_sync_of_a_5_s_video_is_a_5_s_video_of_its_shape_with_sound() {
    let app = spawn_app().await;
    let src = five_seconds(&app).await;
    let body = json!({"input": {"video_id": id_of(&src), "mode": "text2video", "text": "Hello there",
                                "voice_id": "oversea_male1", "voice_language": "en"},
                      "external_task_id": "lip-1"});
    let created = app.post(LIP, body).await;
    assert_eq!(created.ok()["task_status"], "submitted");
    let id = created.ok()["task_id"].as_str().unwrap().to_string();
    app.advance(FINISH);
    let d = app.get(&format!("{LIP}/lip-1")).await.ok().clone();
    assert_eq!(d["task_id"], id.as_str());
    assert_eq!(d["task_status"], "succeed", "{d}");
    assert_eq!(d["task_info"]["parent_video"]["id"], id_of(&src).as_str());
    assert_eq!(d["task_info"]["parent_video"]["url"], video(&src)["url"]);
    assert_eq!(d["task_info"]["parent_video"]["duration"], "5");
    assert_eq!(video(&d)["duration"], "5");
    assert_eq!(d["final_unit_deduction"], "0.5");
    let (dur, tracks, size) = decode(&app, video(&d)["url"].as_str().unwrap()).await;
    assert_eq!(
        (dur, tracks, size),
        (Duration::from_secs(5), 2, (1280, 720))
    );
    // The list holds it.
    let list = app.get(&format!("{LIP}?pageNum=1&pageSize=10")).await;
    assert_eq!(list.ok()[0]["task_id"], id.as_str());
}

#[tokio::test]
async fn lip_sync_refusals_use_the_live_messages_and_resolve_references() {
    let app = spawn_app().await;
    let src = five_seconds(&app).await;
    let vid = id_of(&src);
    let cases = [
        (
            json!({"input": {"video_id": vid}}),
            "input.mode: must not be null",
        ),
        (
            json!({"input": {"mode": "text2video", "text": "hi", "voice_id": "oversea_male1"}}),
            "video_id or video_url is required",
        ),
        (
            json!({"input": {"video_id": vid, "mode": "audio2video"}}),
            "Audio type is null",
        ),
        (
            json!({"input": {"video_id": vid, "mode": "text2video", "voice_id": "oversea_male1"}}),
            "text is required",
        ),
        (
            json!({"input": {"video_id": vid, "mode": "text2video", "text": "hi", "voice_id": "nobody"}}),
            "Voice id not found",
        ),
        (
            json!({"input": {"video_id": vid, "mode": "text2video", "text": "hi",
                             "voice_id": "oversea_male1", "voice_language": "zh"}}),
            "Voice language not found",
        ),
        (
            json!({"input": {"video_id": vid, "mode": "text2video", "text": "hi",
                             "voice_id": "oversea_male1", "voice_language": "en", "voice_speed": 2.5}}),
            "input.voiceSpeed: must be less than or equal to 2.0",
        ),
    ];
    for (body, msg) in cases {
        assert_eq!(app.post(LIP, body).await.err(400, 1201), msg);
    }
    // Another account's video, and an audio id, are not videos of the caller's.
    let body = json!({"input": {"video_id": vid, "mode": "audio2video", "audio_type": "url",
                                "audio_url": "https://example.com/a.mp3"}});
    let e = app.post_as(AK2, SK2, LIP, body).await;
    assert_eq!(
        e.err(400, 1201),
        format!("video_id: Video not found by id: {vid}")
    );
    let (audio, _) = tts(&app, AK, SK).await;
    let body = json!({"input": {"video_id": audio, "mode": "audio2video", "audio_type": "url",
                                "audio_url": "https://example.com/a.mp3"}});
    assert!(
        app.post(LIP, body)
            .await
            .err(400, 1201)
            .starts_with("video_id: Video not found by id")
    );
    // A foreign URL counts as a 5 s video and has no parent the mock can point at.
    let body = json!({"input": {"video_url": "https://example.com/clip.mp4", "mode": "audio2video",
                                "audio_type": "url", "audio_url": "https://example.com/a.wav"}});
    let d = finished(&app, LIP, body).await;
    assert_eq!(d["task_status"], "succeed", "{d}");
    assert_eq!(video(&d)["duration"], "5");
    assert!(d["task_info"].get("parent_video").is_none(), "{d}");
}

#[tokio::test]
async fn identify_face_answers_a_session_with_faces_inside_the_video() {
    let app = spawn_app().await;
    let src = finished(&app, T2V, json!({"prompt": "two people", "duration": "10"})).await;
    let a = app.post(FACE, json!({"video_id": id_of(&src)})).await;
    let d = a.ok();
    assert!(
        d["session_id"].as_str().unwrap().parse::<u64>().is_ok(),
        "{d}"
    );
    assert_eq!(d["final_unit_deduction"], "0");
    let faces = d["face_data"].as_array().unwrap();
    assert_eq!(faces.len(), 2, "{d}");
    for f in faces {
        let (start, end) = (
            f["start_time"].as_u64().unwrap(),
            f["end_time"].as_u64().unwrap(),
        );
        assert!(start < end && end <= 10_000, "{f}");
        let (status, ct, body) = app.fetch(f["face_image"].as_str().unwrap()).await;
        assert_eq!((status, ct.as_str()), (200, "image/png"));
        assert!(body.starts_with(b"\x89PNG"));
    }
    // Neither, both, another account's video.
    assert_eq!(
        app.post(FACE, json!({})).await.err(400, 1201),
        "video_id or video_url is required"
    );
    assert_eq!(
        app.post(
            FACE,
            json!({"video_id": id_of(&src), "video_url": "https://example.com/a.mp4"})
        )
        .await
        .err(400, 1201),
        "only one of video_id and video_url may be given, got both"
    );
    let e = app
        .post_as(AK2, SK2, FACE, json!({"video_id": id_of(&src)}))
        .await;
    assert!(
        e.err(400, 1201)
            .starts_with("video_id: Video not found by id")
    );
}

/// An identify-face session of a video of account 1 and a TTS audio: (session, audio id).
async fn session_and_audio(app: &TestApp) -> (String, String, Value) {
    let src = five_seconds(app).await;
    let a = app.post(FACE, json!({"video_id": id_of(&src)})).await;
    let session = a.ok()["session_id"].as_str().unwrap().to_string();
    assert_eq!(a.ok()["face_data"][0]["face_id"], "0");
    let (audio, _) = tts(app, AK, SK).await;
    (session, audio, src)
}

fn advanced(session: &str, audio: &str, end: u64, insert: u64) -> Value {
    json!({"session_id": session, "face_choose": [{"face_id": "0", "audio_id": audio,
           "sound_start_time": 0, "sound_end_time": end, "sound_insert_time": insert}],
           "watermark_info": {"enabled": true}})
}

#[tokio::test]
async fn an_advanced_lip_sync_dubs_the_sessions_video_for_its_length() {
    let app = spawn_app().await;
    let (session, audio, src) = session_and_audio(&app).await;
    let d = finished(&app, ADV, advanced(&session, &audio, 3_000, 1_000)).await;
    assert_eq!(d["task_status"], "succeed", "{d}");
    assert_eq!(d["task_info"]["parent_video"]["id"], id_of(&src).as_str());
    assert_eq!(video(&d)["duration"], "5");
    assert!(video(&d)["watermark_url"].is_string());
    assert_eq!(d["watermark_info"], json!({"enabled": true}));
    let (dur, tracks, _) = decode(&app, video(&d)["url"].as_str().unwrap()).await;
    assert_eq!((dur, tracks), (Duration::from_secs(5), 2));
}

#[tokio::test]
async fn advanced_lip_sync_timing_and_references_are_checked() {
    let app = spawn_app().await;
    let (session, audio, src) = session_and_audio(&app).await;
    let p = "face_choose[0].";
    // 3 s of audio inserted at 4 s would end after the 5 s video.
    let e = app
        .post(ADV, advanced(&session, &audio, 3_000, 4_000))
        .await;
    assert!(
        e.err(400, 1201).starts_with(&format!(
            "{p}sound_insert_time: the audio inserted at 4000 ms would end at 7000 ms"
        )),
        "{}",
        e.message()
    );
    // Cropped past the audio's end.
    let e = app.post(ADV, advanced(&session, &audio, 60_000, 0)).await;
    assert!(
        e.err(400, 1201).starts_with(&format!(
            "{p}sound_end_time must be at most the audio's length"
        )),
        "{}",
        e.message()
    );
    // A face the session does not have.
    let mut body = advanced(&session, &audio, 3_000, 0);
    body["face_choose"][0]["face_id"] = json!("7");
    assert_eq!(
        app.post(ADV, body).await.err(400, 1201),
        format!("{p}face_id: face '7' not found in session {session}")
    );
    // A video id is not an audio id; another account's session and audio are unknown to it.
    let e = app
        .post(ADV, advanced(&session, &id_of(&src), 3_000, 0))
        .await;
    assert!(
        e.err(400, 1201)
            .starts_with(&format!("{p}audio_id: Audio not found by id"))
    );
    let e = app
        .post_as(AK2, SK2, ADV, advanced(&session, &audio, 3_000, 0))
        .await;
    assert_eq!(
        e.err(400, 1201),
        format!("session_id: Session not found by id: {session}")
    );
    let (audio2, _) = tts(&app, AK2, SK2).await;
    let e = app.post(ADV, advanced(&session, &audio2, 3_000, 0)).await;
    assert_eq!(
        e.err(400, 1201),
        format!("{p}audio_id: Audio not found by id: {audio2}")
    );
    // An audio id is not a session.
    let e = app.post(ADV, advanced(&audio, &audio, 3_000, 0)).await;
    assert!(
        e.err(400, 1201)
            .starts_with("session_id: Session not found by id")
    );
}

#[tokio::test]
async fn an_identify_face_session_expires_after_24_hours_on_the_mocks_clock() {
    let app = spawn_app().await;
    let (session, audio, _) = session_and_audio(&app).await;
    app.advance(Duration::from_secs(24 * 3600 - 60));
    let ok = app.post(ADV, advanced(&session, &audio, 3_000, 0)).await;
    ok.ok();
    app.advance(Duration::from_secs(60));
    let e = app.post(ADV, advanced(&session, &audio, 3_000, 0)).await;
    assert_eq!(
        e.err(400, 1201),
        format!(
            "session_id: session {session} has expired (a session of identify-face is valid for 24 hours)"
        )
    );
}

#[tokio::test]
async fn an_avatar_lasts_as_long_as_its_tts_audio_in_the_images_shape() {
    let app = spawn_app().await;
    let (audio, secs) = tts(&app, AK, SK).await;
    let d = finished(
        &app,
        AVATAR,
        json!({"image": png_b64(600, 800), "audio_id": audio, "prompt": "smiles"}),
    )
    .await;
    assert_eq!(d["task_status"], "succeed", "{d}");
    let declared: f64 = video(&d)["duration"].as_str().unwrap().parse().unwrap();
    assert!(
        (declared - secs).abs() <= 1.0 / 30.0,
        "{declared} vs {secs}"
    );
    let (dur, tracks, size) = decode(&app, video(&d)["url"].as_str().unwrap()).await;
    assert!(
        (dur.as_secs_f64() - secs).abs() <= 1.0 / 30.0,
        "{dur:?} vs {secs}"
    );
    assert_eq!((tracks, size), (2, (720, 960)));
    // 0.36 units a second in std (live: 12.27 s → 4.4).
    let units: f64 = d["final_unit_deduction"].as_str().unwrap().parse().unwrap();
    assert!(
        (units - (secs * 0.36 * 10.0).round() / 10.0).abs() < 0.11,
        "{units}"
    );
}

#[tokio::test]
async fn avatar_audio_references_resolve_to_the_callers_own_audio() {
    let app = spawn_app().await;
    let (audio, _) = tts(&app, AK, SK).await;
    let img = png_b64(600, 800);
    let e = app
        .post_as(AK2, SK2, AVATAR, json!({"image": img, "audio_id": audio}))
        .await;
    assert_eq!(
        e.err(400, 1201),
        format!("audio_id: Audio not found by id: {audio}")
    );
    assert_eq!(
        app.post(AVATAR, json!({"image": img})).await.err(400, 1201),
        "audio_id or sound_file is required"
    );
    assert_eq!(
        app.post(AVATAR, json!({"audio_id": audio}))
            .await
            .err(400, 1201),
        "image must not be null"
    );
    // The audio expires with the media retention (30 days).
    app.advance(Duration::from_secs(31 * 24 * 3600));
    let e = app
        .post(AVATAR, json!({"image": img, "audio_id": audio}))
        .await;
    assert_eq!(
        e.err(400, 1201),
        format!("audio_id: Audio not found by id: {audio}")
    );
    // A foreign sound file of unknown length gives a 5 s video; the mock's own MP3 is measured.
    let d = finished(
        &app,
        AVATAR,
        json!({"image": img, "sound_file": "https://example.com/voice.m4a", "mode": "pro"}),
    )
    .await;
    assert_eq!(video(&d)["duration"], "5");
    let body = json!({"text": SPEECH, "voice_id": "oversea_male1", "voice_language": "en"});
    let a = app.post("/v1/audio/tts", body).await;
    let audio = a.ok()["task_result"]["audios"][0].clone();
    let secs: f64 = audio["duration"].as_str().unwrap().parse().unwrap();
    let d = finished(
        &app,
        AVATAR,
        json!({"image": img, "sound_file": audio["url"]}),
    )
    .await;
    let declared: f64 = video(&d)["duration"].as_str().unwrap().parse().unwrap();
    assert!(
        (declared - secs).abs() <= 1.0 / 30.0,
        "{declared} vs {secs}"
    );
    // One of the mock's own videos is not audio, even under an audio name.
    let mp4 = video(&d)["url"].as_str().unwrap().to_string();
    let e = app
        .post(AVATAR, json!({"image": img, "sound_file": mp4}))
        .await;
    assert!(
        e.err(400, 1201)
            .starts_with("sound_file must be a .mp3/.wav/.m4a/.aac audio URL"),
        "{}",
        e.message()
    );
    let renamed = mp4.replace(".mp4?", ".mp3?");
    let e = app
        .post(AVATAR, json!({"image": img, "sound_file": renamed}))
        .await;
    assert_eq!(
        e.err(400, 1201),
        format!(
            "sound_file must be a .mp3/.wav/.m4a/.aac audio, but {renamed} is one of the mock's videos"
        )
    );
}

#[tokio::test]
async fn a_lip_sync_takes_base64_audio_and_fails_on_an_audio_url_of_the_mock_it_never_made() {
    let app = spawn_app().await;
    let src = five_seconds(&app).await;
    use base64::Engine as _;
    let mut wav = b"RIFF\x24\x00\x00\x00WAVEfmt ".to_vec();
    wav.extend_from_slice(&[
        16, 0, 0, 0, 1, 0, 1, 0, 0xC0, 0x5D, 0, 0, 0x80, 0xBB, 0, 0, 2, 0, 16, 0,
    ]);
    wav.extend_from_slice(b"data\x00\x00\x00\x00");
    let b64 = base64::engine::general_purpose::STANDARD.encode(&wav);
    let d = finished(
        &app,
        LIP,
        json!({"input": {"video_id": id_of(&src), "mode": "audio2video", "audio_type": "file",
                         "audio_file": b64}}),
    )
    .await;
    assert_eq!(d["task_status"], "succeed", "{d}");
    let missing = format!(
        "{}/files/kling_00000000-0000-4000-8000-000000000000.mp3",
        app.base
    );
    let d = finished(
        &app,
        LIP,
        json!({"input": {"video_id": id_of(&src), "mode": "audio2video", "audio_type": "url",
                         "audio_url": missing}}),
    )
    .await;
    assert_eq!(d["task_status"], "failed", "{d}");
    assert!(
        d["task_status_msg"]
            .as_str()
            .unwrap()
            .starts_with("Failed to download the audio file: HTTP 404"),
        "{d}"
    );
}

#[tokio::test]
async fn identify_face_takes_the_mocks_own_video_url_and_its_session_names_the_parent() {
    let app = spawn_app().await;
    let src = five_seconds(&app).await;
    let a = app
        .post_as(AK2, SK2, FACE, json!({"video_url": video(&src)["url"]}))
        .await;
    let session = a.ok()["session_id"].as_str().unwrap().to_string();
    assert_eq!(a.ok()["face_data"][0]["end_time"], 5_000);
    let (audio, _) = tts(&app, AK2, SK2).await;
    let d = finished_as(&app, AK2, SK2, ADV, advanced(&session, &audio, 2_000, 0)).await;
    assert_eq!(d["task_status"], "succeed", "{d}");
    assert_eq!(d["task_info"]["parent_video"]["id"], id_of(&src).as_str());
    assert_eq!(video(&d)["duration"], "5");
}

#[tokio::test]
async fn a_custom_voice_can_be_made_from_a_lip_sync_video() {
    let app = spawn_app().await;
    let src = five_seconds(&app).await;
    let d = finished(
        &app,
        LIP,
        json!({"input": {"video_id": id_of(&src), "mode": "audio2video", "audio_type": "url",
                         "audio_url": "https://example.com/a.mp3"}}),
    )
    .await;
    let v = finished(
        &app,
        VOICES,
        json!({"voice_name": "dubbed", "video_id": id_of(&d)}),
    )
    .await;
    assert_eq!(v["task_status"], "succeed", "{v}");
    // Its source, a plain text2video video, does not qualify.
    let v = finished(
        &app,
        VOICES,
        json!({"voice_name": "plain", "video_id": id_of(&src)}),
    )
    .await;
    assert_eq!(v["task_status"], "failed", "{v}");
}

/// TTS → avatar with that audio → custom voice from the avatar video → lip-sync of the avatar
/// video speaking with that custom voice.
#[tokio::test]
async fn the_chained_scenario_tts_avatar_custom_voice_lip_sync() {
    let app = spawn_app().await;
    let (audio, secs) = tts(&app, AK, SK).await;
    assert!((5.0..10.0).contains(&secs), "{secs}");
    let avatar = finished(
        &app,
        AVATAR,
        json!({"image": png_b64(720, 720), "audio_id": audio}),
    )
    .await;
    assert_eq!(avatar["task_status"], "succeed", "{avatar}");
    let voice = finished(
        &app,
        VOICES,
        json!({"voice_name": "my avatar", "video_id": id_of(&avatar)}),
    )
    .await;
    assert_eq!(voice["task_status"], "succeed", "{voice}");
    let voice_id = voice["task_result"]["voices"][0]["voice_id"]
        .as_str()
        .unwrap()
        .to_string();
    let lip = finished(
        &app,
        LIP,
        json!({"input": {"video_id": id_of(&avatar), "mode": "text2video",
                         "text": "Now I speak again", "voice_id": voice_id, "voice_language": "en"}}),
    )
    .await;
    assert_eq!(lip["task_status"], "succeed", "{lip}");
    assert_eq!(
        lip["task_info"]["parent_video"]["id"],
        id_of(&avatar).as_str()
    );
    assert_eq!(video(&lip)["duration"], video(&avatar)["duration"]);
    let (dur, tracks, size) = decode(&app, video(&lip)["url"].as_str().unwrap()).await;
    assert_eq!((tracks, size), (2, (720, 720)));
    assert!((dur.as_secs_f64() - secs).abs() <= 1.0 / 30.0);
    // The voice is the caller's own: another account cannot use it.
    let src2 = finished_as(&app, AK2, SK2, T2V, json!({"prompt": "x"})).await;
    let e = app
        .post_as(
            AK2,
            SK2,
            LIP,
            json!({"input": {"video_id": id_of(&src2), "mode": "text2video", "text": "hi",
                             "voice_id": voice_id}}),
        )
        .await;
    assert_eq!(e.err(400, 1201), "Voice id not found");
}

#[tokio::test]
async fn the_inserted_audio_must_overlap_the_chosen_face_by_2_s() {
    let app = spawn_app().await;
    let src = finished(&app, T2V, json!({"prompt": "two people", "duration": "10"})).await;
    let a = app.post(FACE, json!({"video_id": id_of(&src)})).await;
    let session = a.ok()["session_id"].as_str().unwrap().to_string();
    let face1 = a.ok()["face_data"][1].clone();
    assert_eq!(
        (face1["face_id"].as_str(), face1["start_time"].as_u64()),
        (Some("1"), Some(3_333))
    );
    let (audio, _) = tts(&app, AK, SK).await;
    let mut body = advanced(&session, &audio, 3_000, 0);
    body["face_choose"][0]["face_id"] = json!("1");
    assert_eq!(
        app.post(ADV, body.clone()).await.err(400, 1201),
        "face_choose[0].sound_insert_time: the audio (0–3000 ms) must overlap the face's window (3333–10000 ms) by at least 2000 ms, got 0 ms"
    );
    body["face_choose"][0]["sound_insert_time"] = json!(5_000);
    let d = app.post(ADV, body).await;
    d.ok();
}
