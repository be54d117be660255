//! Bounded resources: the media retention (30 days on the mock's clock, as the real API), the cap
//! on stored tasks and the cap on generated media.

use crate::helpers::*;
use serde_json::{Value, json};
use std::time::Duration;

const DAY: Duration = Duration::from_secs(86_400);

async fn finished_t2a(app: &TestApp, ext: Option<&str>) -> (String, Value) {
    let mut body = json!({"prompt": "rain", "duration": 3});
    if let Some(e) = ext {
        body["external_task_id"] = json!(e);
    }
    let id = app.create_t2a(body).await;
    app.advance(FINISH);
    let task = app
        .get(&format!("/v1/audio/text-to-audio/{id}"))
        .await
        .ok()
        .clone();
    assert_eq!(task["task_status"], "succeed", "{task}");
    (id, task["task_result"]["audios"][0].clone())
}

async fn limits(app: &TestApp) -> Value {
    app.ctl_get("/__mock/state").await.ok()["limits"].clone()
}

#[tokio::test]
async fn generated_media_expire_after_30_days_on_the_mocks_clock() {
    let app = spawn_app().await;
    let (id, audio) = finished_t2a(&app, None).await;
    let mp3 = audio["url_mp3"].as_str().unwrap().to_string();
    let wav = audio["url_wav"].as_str().unwrap().to_string();
    let tts = app.tts_url("hello there").await;
    assert_eq!(app.fetch(&mp3).await.0, 200);
    // Just before 30 days since they were generated: still served.
    app.advance(30 * DAY - FINISH - Duration::from_secs(1));
    assert_eq!(app.fetch(&mp3).await.0, 200);
    assert_eq!(app.fetch(&tts).await.0, 200);
    app.advance(Duration::from_secs(FINISH.as_secs() + 2));
    for url in [&mp3, &wav, &tts] {
        let a = app.send(app.client.get(url)).await;
        let msg = a.err(404, 1203);
        assert!(
            msg.contains("expired at") && msg.contains("30 days"),
            "{msg}"
        );
    }
    // The task itself is still there, its URLs unchanged (as the real API's records).
    let task = app.get(&format!("/v1/audio/text-to-audio/{id}")).await;
    assert_eq!(task.ok()["task_result"]["audios"][0]["url_mp3"], json!(mp3));
    // The preset voices' trial files never expire.
    let presets = app.get("/v1/general/presets-voices").await;
    let trial = presets.ok()[0]["task_result"]["voices"][0]["trial_url"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(app.fetch(&trial).await.0, 200, "{trial}");
    assert_eq!(
        limits(&app).await["media_retention_ms"],
        json!(30 * 86_400_000i64)
    );
}

#[tokio::test]
async fn an_expired_audio_can_no_longer_make_a_custom_voice() {
    let app = spawn_app().await;
    let tts = app
        .tts_url("a voice sample that lasts long enough to be cloned, surely")
        .await;
    app.advance(31 * DAY);
    let r = app
        .post(
            "/v1/general/custom-voices",
            json!({"voice_name": "late", "voice_url": tts}),
        )
        .await;
    // Refused at once or failed later: either way, never a voice from a file that is gone.
    if r.status == 200 {
        let id = r.ok()["task_id"].as_str().unwrap().to_string();
        app.advance(FINISH);
        let t = app.get(&format!("/v1/general/custom-voices/{id}")).await;
        assert_eq!(t.ok()["task_status"], "failed", "{:?}", t.body);
        assert!(
            t.ok()["task_status_msg"].as_str().unwrap().contains("404"),
            "{:?}",
            t.body
        );
    } else {
        assert!(r.message().contains("404"), "{:?}", r.body);
    }
}

#[tokio::test]
async fn media_retention_is_configurable_and_zero_keeps_forever() {
    let app = spawn_with(kling_mock::Config {
        media_retention: Duration::from_secs(3600),
        ..config()
    })
    .await;
    let url = app.tts_url("short lived").await;
    app.advance(Duration::from_secs(3599));
    assert_eq!(app.fetch(&url).await.0, 200);
    app.advance(Duration::from_secs(1));
    assert_eq!(app.fetch(&url).await.0, 404);

    let app = spawn_with(kling_mock::Config {
        media_retention: Duration::ZERO,
        ..config()
    })
    .await;
    let url = app.tts_url("kept").await;
    app.advance(400 * DAY);
    assert_eq!(app.fetch(&url).await.0, 200);
}

#[tokio::test]
async fn past_the_task_cap_the_oldest_finished_tasks_are_forgotten() {
    let app = spawn_with(kling_mock::Config {
        max_tasks: 5,
        ..config()
    })
    .await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(finished_t2a(&app, Some(&format!("ext-{i}"))).await.0);
    }
    for i in 5..8 {
        ids.push(finished_t2a(&app, Some(&format!("ext-{i}"))).await.0);
    }
    let list = app.get("/v1/audio/text-to-audio?pageSize=100").await;
    let listed: Vec<String> = list
        .ok()
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["task_id"].as_str().unwrap().to_string())
        .collect();
    let newest: Vec<String> = ids[3..].iter().rev().cloned().collect();
    assert_eq!(listed, newest);
    for (i, id) in ids.iter().enumerate().take(3) {
        app.get(&format!("/v1/audio/text-to-audio/{id}"))
            .await
            .err(400, 1201);
        app.get(&format!("/v1/audio/text-to-audio/ext-{i}"))
            .await
            .err(400, 1201);
    }
    // A forgotten task's external id can be used again.
    app.create_t2a(json!({"prompt": "again", "duration": 3, "external_task_id": "ext-0"}))
        .await;
    let l = limits(&app).await;
    assert_eq!(l["max_tasks"], 5);
    assert_eq!(l["tasks_evicted"], 4);
    assert_eq!(app.ctl_get("/__mock/state").await.ok()["tasks"], 5);
}

#[tokio::test]
async fn tasks_in_flight_are_never_forgotten_even_past_the_cap() {
    let app = spawn_with(kling_mock::Config {
        max_tasks: 2,
        ..config()
    })
    .await;
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(
            app.create_t2a(json!({"prompt": "wait", "duration": 3}))
                .await,
        );
    }
    // Four in flight, cap two: all four kept and found.
    for id in &ids {
        let t = app.get(&format!("/v1/audio/text-to-audio/{id}")).await;
        assert_eq!(t.ok()["task_status"], "submitted");
    }
    app.advance(FINISH);
    // The next creates bring the store back to its cap, oldest finished first.
    let newest = app
        .create_t2a(json!({"prompt": "new", "duration": 3}))
        .await;
    let stored = app.ctl_get("/__mock/state").await.ok()["tasks"]
        .as_u64()
        .unwrap();
    assert_eq!(stored, 2, "one create evicts up to four");
    app.get(&format!("/v1/audio/text-to-audio/{}", ids[0]))
        .await
        .err(400, 1201);
    app.get(&format!("/v1/audio/text-to-audio/{}", ids[3]))
        .await
        .ok();
    app.get(&format!("/v1/audio/text-to-audio/{newest}"))
        .await
        .ok();
}

#[tokio::test]
async fn past_the_media_cap_the_oldest_files_go_first() {
    let app = spawn_with(kling_mock::Config {
        max_media: 4,
        ..config()
    })
    .await;
    let first = app.tts_url("one").await;
    let mut urls = Vec::new();
    for text in ["two", "three", "four", "five"] {
        urls.push(app.tts_url(text).await);
    }
    assert_eq!(app.fetch(&first).await.0, 404);
    for u in &urls {
        assert_eq!(app.fetch(u).await.0, 200, "{u}");
    }
    assert!(limits(&app).await["media_evicted"].as_u64().unwrap() >= 1);
}

#[tokio::test]
async fn public_creates_take_64_kib_and_the_control_plane_its_global_limit() {
    let app = spawn_app().await;
    let pad = |n: usize| {
        format!(
            r#"{{"text": "hello", "voice_id": "oversea_male1", "voice_language": "en"{}}}"#,
            " ".repeat(n)
        )
    };
    // Just under 64 KiB: read and validated as usual.
    let ok = app
        .post_raw("/v1/audio/tts", Some("application/json"), pad(60 * 1024))
        .await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    let files = |app: &TestApp| {
        let app = app.clone();
        async move { app.ctl_get("/__mock/state").await.ok()["media_files"].clone() }
    };
    let before = files(&app).await;
    let big = app
        .post_raw("/v1/audio/tts", Some("application/json"), pad(70 * 1024))
        .await;
    assert_eq!(
        big.err(400, 1200),
        "Request body is larger than the limit of 65536 bytes"
    );
    // Nothing was created by the refused request.
    assert_eq!(files(&app).await, before);
    // The control plane reads bodies up to --body-limit (1 MiB by default).
    let rules = format!(r#"{{"rules": []{}}}"#, " ".repeat(200 * 1024));
    let r = app
        .send(
            app.client
                .put(app.url("/__mock/outcomes"))
                .header("content-type", "application/json")
                .body(rules),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}

#[test]
fn the_limits_come_from_the_command_line_and_the_config_file() {
    use clap::Parser;
    let cfg: kling_mock::Config = kling_mock::config::Cli::parse_from([
        "kling-mock",
        "--max-tasks",
        "5",
        "--media-retention",
        "1h",
        "--max-media",
        "7",
    ])
    .into();
    assert_eq!(
        (cfg.max_tasks, cfg.media_retention, cfg.max_media),
        (5, Duration::from_secs(3600), 7)
    );
    let def: kling_mock::Config = kling_mock::config::Cli::parse_from(["kling-mock"]).into();
    assert_eq!(
        (def.max_tasks, def.media_retention, def.max_media),
        (1_000_000, 30 * DAY, 2_000_000)
    );
    let dir = std::env::temp_dir().join(format!("kling-mock-limits-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("limits.toml");
    std::fs::write(
        &file,
        "max_tasks = 9\nmedia_retention = \"2days\"\nmax_media = 0\n",
    )
    .unwrap();
    let loaded =
        kling_mock::config_file::load_from(["kling-mock", "--config", file.to_str().unwrap()])
            .unwrap();
    let c = &loaded.config;
    assert_eq!(
        (c.max_tasks, c.media_retention, c.max_media),
        (9, 2 * DAY, 0)
    );
    // --print-config writes them back.
    let printed = kling_mock::config_file::to_toml(c);
    assert!(printed.contains("max_tasks = 9"), "{printed}");
    assert!(printed.contains("media_retention = \"2days\""), "{printed}");
    std::fs::write(dir.join("bad.toml"), "media_retention = \"soon\"\n").unwrap();
    let err = kling_mock::config_file::load_from([
        "kling-mock",
        "--config",
        dir.join("bad.toml").to_str().unwrap(),
    ])
    .expect_err("a bad duration is refused");
    assert!(format!("{err:?}").contains("soon"), "{err:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
