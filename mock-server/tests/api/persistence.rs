//! `--state-file`: restarts keep everything; bad files stop the server.

use crate::helpers::*;
use kling_mock::{Clock, Server};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn state_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kling-mock-state-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    let _ = std::fs::remove_file(&p);
    p
}

/// A server on the state file, stopped gracefully by the returned sender.
async fn serve(
    path: &Path,
    at_ms: i64,
) -> (
    TestApp,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let cfg = kling_mock::Config {
        state_file: Some(path.to_path_buf()),
        public_url: Some("http://mock.test".into()),
        ..config()
    };
    let server = Server::bind_with_clock(cfg, Clock::frozen(at_ms))
        .await
        .expect("bind and load");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let app = TestApp {
        base: server.base_url(),
        state: server.state().clone(),
        client: reqwest::Client::new(),
    };
    let run = tokio::spawn(server.run(async move {
        let _ = rx.await;
    }));
    (app, tx, run)
}

#[tokio::test]
async fn a_graceful_restart_keeps_tasks_voices_packs_and_media() {
    let path = state_path("graceful.json");
    let t0 = 1_790_000_000_000;
    let (app, stop, run) = serve(&path, t0).await;
    app.ctl_put(
        &format!("/__mock/accounts/{AK}"),
        json!({"packs": [{"name": "p", "total": 10}]}),
    )
    .await
    .ok();
    let done = app
        .create_t2a(json!({"prompt": "p", "duration": 4, "external_task_id": "keep-1"}))
        .await;
    let voice_task = app.create_voice(AK, SK, "kept").await;
    app.advance(FINISH);
    let pending = app
        .create_t2a(json!({"prompt": "later", "duration": 3}))
        .await;
    let tts = app
        .post(
            "/v1/audio/tts",
            json!({"text": "hello", "voice_id": "oversea_male1", "voice_language": "en"}),
        )
        .await;
    let tts_url = tts.ok()["task_result"]["audios"][0]["url"]
        .as_str()
        .unwrap()
        .to_string();
    let before_done = app
        .get(&format!("/v1/audio/text-to-audio/{done}"))
        .await
        .ok()
        .clone();
    let before_list = app.get("/v1/audio/text-to-audio").await.ok().clone();
    let before_voices = app
        .get_as(AK, SK, "/v1/general/custom-voices")
        .await
        .ok()
        .clone();
    let tts_bytes = app
        .fetch(&format!(
            "{}{}",
            app.base,
            tts_url.trim_start_matches("http://mock.test")
        ))
        .await
        .2;
    stop.send(()).unwrap();
    run.await.unwrap().unwrap();

    let (app, _stop, _run) = serve(&path, t0 + FINISH.as_millis() as i64).await;
    assert_eq!(
        app.get(&format!("/v1/audio/text-to-audio/{done}"))
            .await
            .ok(),
        &before_done
    );
    assert_eq!(
        app.get("/v1/audio/text-to-audio/keep-1").await.ok(),
        &before_done,
        "external ids survive"
    );
    assert_eq!(app.get("/v1/audio/text-to-audio").await.ok(), &before_list);
    assert_eq!(
        app.get_as(AK, SK, "/v1/general/custom-voices").await.ok(),
        &before_voices
    );
    let again = app
        .post(
            "/v1/audio/text-to-audio",
            json!({"prompt": "p", "duration": 3, "external_task_id": "keep-1"}),
        )
        .await;
    again.err(400, 1201);
    // The unfinished task goes on after the restart.
    app.advance(FINISH);
    assert_eq!(
        app.get(&format!("/v1/audio/text-to-audio/{pending}"))
            .await
            .ok()["task_status"],
        "succeed"
    );
    // New ids keep growing past the old ones.
    let newer = app.create_t2a(json!({"prompt": "n", "duration": 3})).await;
    assert!(newer.parse::<u64>().unwrap() > pending.parse::<u64>().unwrap());
    // Media stay servable, byte for byte.
    assert_eq!(
        app.fetch(&format!(
            "{}{}",
            app.base,
            tts_url.trim_start_matches("http://mock.test")
        ))
        .await
        .2,
        tts_bytes
    );
    // Packs keep their balance.
    let acc = app.ctl_get(&format!("/__mock/accounts/{AK}")).await;
    let remaining = acc.ok()["settings"]["packs"][0]["remaining"]
        .as_f64()
        .unwrap();
    assert!(
        (remaining - 9.8).abs() < 1e-9,
        "10 - 4 successes of 0.05 (t2a, voice, tts before; the pending task after): {remaining}"
    );
    // The voice is still the owner's to delete.
    let voice = app
        .get(&format!("/v1/general/custom-voices/{voice_task}"))
        .await
        .ok()["task_result"]["voices"][0]["voice_id"]
        .as_str()
        .unwrap()
        .to_string();
    app.post("/v1/general/delete-voices", json!({"voice_id": voice}))
        .await
        .ok();
}

#[tokio::test]
async fn a_corrupt_or_foreign_state_file_stops_the_server() {
    for (name, text, says) in [
        ("garbage.json", "{not json", "not valid JSON"),
        (
            "foreign.json",
            r#"{"hello": 1}"#,
            "not a kling-mock state file",
        ),
        (
            "future.json",
            r#"{"format": "kling-mock-state", "version": 99}"#,
            "version 99",
        ),
        (
            "broken.json",
            r#"{"format": "kling-mock-state", "version": 1, "tasks": 5}"#,
            "corrupt",
        ),
    ] {
        let path = state_path(name);
        std::fs::write(&path, text).unwrap();
        let cfg = kling_mock::Config {
            state_file: Some(path.clone()),
            ..config()
        };
        let err = Server::bind_with_clock(cfg, Clock::frozen(0))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(says) && err.contains("Move it away"),
            "{name}: {err}"
        );
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            text,
            "the file is left untouched"
        );
    }
}

async fn start_binary(path: &Path, interval: &str) -> (Proc, String) {
    let path = path.to_str().expect("a UTF-8 temp path");
    let args = [
        "--bind",
        "127.0.0.1:0",
        "--account",
        "p-ak:p-sk",
        "--state-interval",
        interval,
        "--state-file",
        path,
    ];
    let b = crate::helpers::start_binary(&args, &[], false).await;
    (b.proc, b.url)
}

async fn create(url: &str) -> String {
    let v: Value = reqwest::Client::new()
        .post(format!("{url}/v1/audio/text-to-audio"))
        .bearer_auth(token("p-ak", "p-sk"))
        .json(&json!({"prompt": "p", "duration": 3}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["data"]["task_id"].as_str().unwrap().to_string()
}

async fn status(url: &str, id: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{url}/v1/audio/text-to-audio/{id}"))
        .bearer_auth(token("p-ak", "p-sk"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn sigterm_loses_nothing_acknowledged() {
    let path = state_path("sigterm.json");
    let (child, url) = start_binary(&path, "1h").await;
    let id = create(&url).await;
    let kill = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let mut child = child;
    let status_code = tokio::task::spawn_blocking(move || child.0.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status_code.success());
    let (_child, url) = start_binary(&path, "1h").await;
    assert_eq!(
        status(&url, &id).await,
        200,
        "acknowledged before SIGTERM, present after the restart"
    );
}

#[tokio::test]
async fn a_crash_loses_at_most_the_last_interval() {
    let path = state_path("crash.json");
    let (mut child, url) = start_binary(&path, "100ms").await;
    let id = create(&url).await;
    // Wait (polling, bounded) until a periodic save holds the task: the documented window.
    tokio::time::timeout(Duration::from_secs(20), async {
        while !std::fs::read_to_string(&path).is_ok_and(|s| s.contains(&id)) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("saved within the interval");
    child.0.kill().unwrap(); // SIGKILL: no chance to save
    child.0.wait().unwrap();
    let (_child, url) = start_binary(&path, "100ms").await;
    assert_eq!(status(&url, &id).await, 200);
}

/// A state saved by a build of layout version 1 (kinds named by their Rust names, audios' media
/// ids by the kind that made them) is read, and answers as it did.
#[tokio::test]
async fn a_version_1_state_file_is_read_and_answers_the_same() {
    let path = state_path("v1.json");
    let t0 = 1_790_000_000_000;
    let (app, stop, run) = serve(&path, t0).await;
    let done = app
        .create_t2a(json!({"prompt": "p", "duration": 4, "external_task_id": "old-1"}))
        .await;
    let voice_task = app.create_voice(AK, SK, "old voice").await;
    app.advance(FINISH);
    let before_t2a = app.get("/v1/audio/text-to-audio").await.ok().clone();
    let before_voice = app
        .get(&format!("/v1/general/custom-voices/{voice_task}"))
        .await
        .ok()
        .clone();
    stop.send(()).unwrap();
    run.await.unwrap().unwrap();

    // Write it back as version 1 wrote it.
    let mut v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(v["version"], 2, "this build writes version 2");
    v["version"] = json!(1);
    for t in v["tasks"].as_array_mut().unwrap() {
        let old = match t["kind"].as_str().unwrap() {
            "text-to-audio" => "TextToAudio",
            "custom-voice" => "CustomVoice",
            k => panic!("unexpected kind {k}"),
        };
        t["kind"] = json!(old);
    }
    for item in v["media_items"].as_array_mut().unwrap() {
        assert_eq!(item[1]["origin"], "Audio");
        item[1]["origin"] = json!("TextToAudio");
    }
    std::fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();

    let (app, _stop, _run) = serve(&path, t0 + FINISH.as_millis() as i64).await;
    assert_eq!(app.get("/v1/audio/text-to-audio").await.ok(), &before_t2a);
    assert_eq!(
        app.get("/v1/audio/text-to-audio/old-1").await.ok()["task_id"],
        done.as_str()
    );
    assert_eq!(
        app.get(&format!("/v1/general/custom-voices/{voice_task}"))
            .await
            .ok(),
        &before_voice
    );
}

/// A saved task of a kind this build does not serve stops the server with a message naming it
/// (never dropped silently), and the file is left as it was.
#[tokio::test]
async fn a_state_file_with_a_kind_this_build_does_not_serve_is_refused() {
    let path = state_path("unknown-kind.json");
    let (app, stop, run) = serve(&path, 0).await;
    app.create_t2a(json!({"prompt": "p", "duration": 3})).await;
    stop.send(()).unwrap();
    run.await.unwrap().unwrap();
    let mut v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    v["tasks"][0]["kind"] = json!("hologram");
    let text = serde_json::to_string(&v).unwrap();
    std::fs::write(&path, &text).unwrap();
    let cfg = kling_mock::Config {
        state_file: Some(path.clone()),
        ..config()
    };
    let err = Server::bind_with_clock(cfg, Clock::frozen(0))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("kind 'hologram'")
            && err.contains("custom-voice, text-to-audio")
            && err.contains("Move it away"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
}
