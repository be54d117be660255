use crate::helpers::*;
use serde_json::{Value, json};

const TTS: &str = "/v1/audio/tts";

fn body(text: &str, voice: &str, lang: &str) -> Value {
    json!({"text": text, "voice_id": voice, "voice_language": lang, "voice_speed": 1})
}

#[tokio::test]
async fn tts_answers_with_the_finished_audio() {
    let app = spawn_app().await;
    let text = "Throughout my time in college, several memorable event left a significant impact on my life";
    let a = app.post(TTS, body(text, "oversea_male1", "en")).await;
    let d = a.ok();
    assert_eq!(d["task_id"].as_str().unwrap().len(), 18);
    assert_eq!(d["task_status"], "succeed");
    assert_eq!(d["task_status_msg"], "");
    assert_eq!(d["final_unit_deduction"], "0.05");
    assert_eq!(d["created_at"], d["updated_at"]);
    assert!(d.get("task_info").is_none(), "TTS has no task_info");
    let audio = &d["task_result"]["audios"][0];
    assert_eq!(audio["id"].as_str().unwrap().len(), 18);
    assert_ne!(audio["id"], d["task_id"]);
    let url = audio["url"].as_str().unwrap();
    assert!(url.contains(".mp3"), "{url}");
    let secs: f64 = audio["duration"].as_str().unwrap().parse().unwrap();
    assert!((5.0..9.0).contains(&secs), "{secs}");
}

#[tokio::test]
async fn tts_accepts_every_official_voice_in_its_own_language_only() {
    let app = spawn_app().await;
    let rows: Vec<Value> =
        serde_json::from_str(include_str!("../../../fixtures/tts-voices.json")).unwrap();
    assert_eq!(rows.len(), 62);
    let pairs: std::collections::HashSet<(String, String)> = rows
        .iter()
        .map(|r| {
            (
                r["voice_id"].as_str().unwrap().to_string(),
                r["voice_language"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for (id, lang) in &pairs {
        app.post(TTS, body("hello", id, lang)).await.ok();
        let other = if lang == "zh" { "en" } else { "zh" };
        let a = app.post(TTS, body("hello", id, other)).await;
        if pairs.contains(&(id.clone(), other.to_string())) {
            a.ok();
        } else {
            assert_eq!(a.err(400, 1201), "Voice id not found", "{id} in {other}");
        }
    }
}

#[tokio::test]
async fn tts_refuses_unknown_preset_and_custom_voices() {
    let app = spawn_app().await;
    assert_eq!(
        app.post(TTS, body("hi", "no_such_voice", "en"))
            .await
            .err(400, 1201),
        "Voice id not found"
    );
    let preset = app.first_preset_voice().await;
    app.post(TTS, body("hi", &preset, "zh"))
        .await
        .err(400, 1201);
    let task = app.create_voice(AK, SK, "mine").await;
    app.advance(FINISH);
    let voice = app
        .get(&format!("/v1/general/custom-voices/{task}"))
        .await
        .ok()["task_result"]["voices"][0]["voice_id"]
        .as_str()
        .unwrap()
        .to_string();
    app.post(TTS, body("hi", &voice, "zh")).await.err(400, 1201);
}

#[tokio::test]
async fn tts_text_rules_are_checked_at_their_boundaries() {
    let app = spawn_app().await;
    app.post(TTS, body(&"字".repeat(1000), "genshin_vindi2", "zh"))
        .await
        .ok();
    let m = app
        .post(TTS, body(&"a".repeat(1001), "oversea_male1", "en"))
        .await
        .err(400, 1201)
        .to_string();
    assert_eq!(m, "text must be at most 1000 characters, got 1001");
    assert_eq!(
        app.post(TTS, body("  ", "oversea_male1", "en"))
            .await
            .err(400, 1201),
        "text must not be blank"
    );
    assert_eq!(
        app.post(TTS, json!({"voice_id": "oversea_male1"}))
            .await
            .err(400, 1201),
        "text is required"
    );
    assert_eq!(
        app.post(TTS, json!({"text": "hi"})).await.err(400, 1201),
        "voice_id is required"
    );
    assert_eq!(
        app.post(TTS, body("hi", "oversea_male1", "fr"))
            .await
            .err(400, 1201),
        "voice_language must be one of zh, en, got 'fr'"
    );
    let mut b = body("hi", "oversea_male1", "en");
    b["voice_speed"] = json!("fast");
    assert_eq!(
        app.post(TTS, b).await.err(400, 1201),
        "voice_speed must be a number, got a string"
    );
}

#[tokio::test]
async fn voice_language_defaults_to_zh() {
    let app = spawn_app().await;
    app.post(TTS, json!({"text": "你好", "voice_id": "genshin_vindi2"}))
        .await
        .ok();
    let a = app
        .post(TTS, json!({"text": "hello", "voice_id": "oversea_male1"}))
        .await;
    assert_eq!(
        a.err(400, 1201),
        "Voice id not found",
        "oversea_male1 is an English voice"
    );
}

#[tokio::test]
async fn speed_out_of_range_is_clamped_not_refused_and_changes_the_duration() {
    let app = spawn_app().await;
    let dur = |speed: Value| {
        let app = &app;
        async move {
            let mut b = body(
                "the quick brown fox jumps over the lazy dog again and again",
                "oversea_male1",
                "en",
            );
            b["voice_speed"] = speed;
            let a = app.post(TTS, b).await;
            a.ok()["task_result"]["audios"][0]["duration"]
                .as_str()
                .unwrap()
                .parse::<f64>()
                .unwrap()
        }
    };
    let normal = dur(json!(1.0)).await;
    let fast = dur(json!(2.0)).await;
    assert!(fast < normal * 0.6, "{fast} vs {normal}");
    assert_eq!(dur(json!(5)).await, fast, "5 is clamped to 2.0");
    assert_eq!(
        dur(json!(0.1)).await,
        dur(json!(0.8)).await,
        "0.1 is clamped to 0.8"
    );
    assert_eq!(dur(json!(1.04)).await, normal, "rounded to one decimal");
}
