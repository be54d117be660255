//! `--state-file`: restarts keep everything; bad files stop the server.

use crate::helpers::*;
use serde_json::{Value, json};
use std::collections::HashSet;
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
async fn serve(path: &Path, at_ms: i64) -> Stoppable {
    let cfg = kling_mock::Config {
        state_file: Some(path.to_path_buf()),
        public_url: Some("http://mock.test".into()),
        ..config()
    };
    spawn_stoppable(cfg, at_ms).await
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
        let err = bind_error(cfg).await;
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

/// The task ids a store at `path` holds now, read as another process would (read-only, while
/// the server writes).
fn stored_task_ids(path: &Path) -> HashSet<String> {
    let Ok(conn) =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return HashSet::new();
    };
    let Ok(mut st) = conn.prepare("SELECT id FROM tasks") else {
        return HashSet::new();
    };
    st.query_map([], |r| r.get::<_, i64>(0))
        .map(|rows| rows.flatten().map(|id| id.to_string()).collect())
        .unwrap_or_default()
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
    let path = state_path("crash.db");
    let (mut child, url) = start_binary(&path, "100ms").await;
    let id = create(&url).await;
    // Wait (polling, bounded) until a flush has committed the task: the documented window.
    tokio::time::timeout(Duration::from_secs(20), async {
        while !stored_task_ids(&path).contains(&id) {
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

/// Under load, `kill -9` loses only what no flush had committed: every task a read of the store
/// showed just before the kill answers after the restart, and so does every task acknowledged
/// at least one window before the last commit seen.
#[tokio::test]
async fn kill_9_under_load_keeps_every_committed_task() {
    let path = state_path("crash-load.db");
    let (mut child, url) = start_binary(&path, "50ms").await;
    let mut acked = Vec::new();
    // Create until at least three flushes have committed tasks created while others were being
    // created (bounded by a count, not by time).
    for round in 0..400 {
        let ids = futures_util::future::join_all((0..8).map(|_| create(&url))).await;
        acked.extend(ids);
        if round % 20 == 19 {
            let seen = stored_task_ids(&path);
            if seen.len() >= 3 * 8 && seen.len() < acked.len() {
                break;
            }
        }
    }
    let committed = stored_task_ids(&path);
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    assert!(!committed.is_empty(), "no flush committed anything");
    let (_child, url) = start_binary(&path, "50ms").await;
    for id in &committed {
        assert_eq!(status(&url, id).await, 200, "task {id} was committed");
    }
    // What was lost is a suffix: the tasks acknowledged after the last commit. The creates go
    // 8 at a time, so the batch in flight when the last flush began may be split (its answers
    // arrive in any order); every batch before it was committed whole, every batch after it
    // lost whole.
    let first_lost = acked.iter().position(|id| !committed.contains(id));
    if let Some(i) = first_lost {
        let after_its_batch = (i / 8 + 1) * 8;
        assert!(
            acked[after_its_batch.min(acked.len())..]
                .iter()
                .all(|id| !committed.contains(id)),
            "a flush writes everything acknowledged before it: lost tasks are the newest"
        );
    }
}

const V1_FIXTURE: &str = "tests/fixtures/state-v1.json";

/// A server on `path` for the accounts of the version 1 fixture, its clock frozen where that
/// state was saved.
async fn serve_v1(path: &Path) -> Stoppable {
    let cfg = kling_mock::Config {
        state_file: Some(path.to_path_buf()),
        public_url: Some("http://mock.test".into()),
        accounts: vec![
            kling_mock::config::AccountSpec {
                access_key: "v1-ak".into(),
                secret_key: "v1-sk".into(),
            },
            kling_mock::config::AccountSpec {
                access_key: "v1-ak2".into(),
                secret_key: "v1-sk2".into(),
            },
        ],
        seed: Some(7),
        ..kling_mock::Config::default()
    };
    spawn_stoppable(cfg, 1_790_000_010_000).await
}

/// What the fixture's server answered before it was stopped, against what `app` answers now.
async fn answers_as_saved(app: &TestApp) {
    let saved: Value = serde_json::from_str(
        &std::fs::read_to_string("tests/fixtures/state-v1.answers.json").unwrap(),
    )
    .unwrap();
    assert_eq!(
        app.get_as("v1-ak", "v1-sk", "/v1/audio/text-to-audio")
            .await
            .ok(),
        &saved["t2a_list"]
    );
    assert_eq!(
        app.get_as("v1-ak", "v1-sk", "/v1/general/custom-voices")
            .await
            .ok(),
        &saved["voices"]
    );
    assert_eq!(
        app.get_as("v1-ak2", "v1-sk2", "/v1/audio/text-to-audio")
            .await
            .ok(),
        &saved["other_list"]
    );
    let acc = app.ctl_get("/__mock/accounts/v1-ak").await;
    assert_eq!(acc.ok()["settings"], saved["account"]["settings"]);
    let url = saved["tts_url"].as_str().unwrap();
    let (status, _, bytes) = app
        .fetch(&format!(
            "{}{}",
            app.base,
            url.trim_start_matches("http://mock.test")
        ))
        .await;
    assert_eq!(status, 200, "the TTS file of the old state is still served");
    assert!(
        bytes.starts_with(b"ID3") || bytes.starts_with(&[0xff]),
        "an MP3"
    );
}

/// A JSON state file written by an earlier build (layout version 1: kinds by their Rust names,
/// media ids by the kind that made them) is migrated once into the store: the server answers
/// exactly as the old one did, the file becomes the store, the JSON is kept beside it, and a
/// second restart reads the store.
#[tokio::test]
async fn a_version_1_json_state_file_is_migrated_and_answers_the_same() {
    let path = state_path("migrate-v1.json");
    std::fs::copy(V1_FIXTURE, &path).unwrap();
    let (app, stop, run) = serve_v1(&path).await;
    answers_as_saved(&app).await;
    // The pending task goes on.
    app.advance(FINISH);
    assert_eq!(
        app.get_as("v1-ak", "v1-sk", "/v1/audio/text-to-audio/v1-pending")
            .await
            .ok()["task_status"],
        "succeed"
    );
    stop.send(()).unwrap();
    run.await.unwrap().unwrap();
    let head = std::fs::read(&path).unwrap();
    assert!(
        head.starts_with(b"SQLite format 3\0"),
        "the file is now the store"
    );
    let backup = path.with_file_name("migrate-v1.json.json-v1.bak");
    assert_eq!(
        std::fs::read(&backup).unwrap(),
        std::fs::read(V1_FIXTURE).unwrap(),
        "the JSON file is kept as it was"
    );
    let (app, _stop, _run) = serve_v1(&path).await;
    assert_eq!(
        app.get_as("v1-ak", "v1-sk", "/v1/audio/text-to-audio/v1-pending")
            .await
            .ok()["task_status"],
        "succeed",
        "the second start reads the store, with what happened after the migration"
    );
    assert_eq!(
        app.get_as("v1-ak", "v1-sk", "/v1/audio/text-to-audio/v1-done")
            .await
            .ok()["task_status"],
        "succeed"
    );
}

/// A saved task of a kind this build does not serve stops the server with a message naming it
/// (never dropped silently), whether it comes from a JSON state file or from the store, and the
/// file is left as it was.
#[tokio::test]
async fn a_state_with_a_kind_this_build_does_not_serve_is_refused() {
    let refused = |path: PathBuf| async move {
        let before = std::fs::read(&path).unwrap();
        let cfg = kling_mock::Config {
            state_file: Some(path.clone()),
            ..config()
        };
        let err = bind_error(cfg).await;
        assert!(
            err.contains("kind 'hologram'")
                && err.contains("custom-voice, text-to-audio")
                && err.contains("Move it away"),
            "{err}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), before, "left as it was");
    };
    let json_path = state_path("unknown-kind.json");
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(V1_FIXTURE).unwrap()).unwrap();
    v["tasks"][0]["kind"] = json!("hologram");
    std::fs::write(&json_path, serde_json::to_vec(&v).unwrap()).unwrap();
    refused(json_path).await;

    let db_path = state_path("unknown-kind.db");
    let (app, stop, run) = serve(&db_path, 0).await;
    app.create_t2a(json!({"prompt": "p", "duration": 3})).await;
    stop.send(()).unwrap();
    run.await.unwrap().unwrap();
    {
        let conn = rusqlite::Connection::open(&db_path).unwrap();
        conn.execute("UPDATE tasks SET kind = 'hologram'", [])
            .unwrap();
    }
    refused(db_path).await;
}

/// Stores this build cannot read stop the server and stay as they are: another program's
/// SQLite database, a store of a newer layout, a damaged store, bytes that are neither.
#[tokio::test]
async fn a_foreign_future_or_damaged_store_stops_the_server_untouched() {
    let mk = |name: &str, setup: &dyn Fn(&rusqlite::Connection)| {
        let p = state_path(name);
        let conn = rusqlite::Connection::open(&p).unwrap();
        setup(&conn);
        drop(conn);
        p
    };
    let foreign = mk("foreign.db", &|c| {
        c.execute_batch("CREATE TABLE notes(x); INSERT INTO notes VALUES (1);")
            .unwrap()
    });
    let future = mk("future.db", &|c| {
        c.execute_batch(
            "CREATE TABLE tasks(id); PRAGMA application_id = 1263291723; PRAGMA user_version = 99;",
        )
        .unwrap()
    });
    // A real store, then damaged in the middle of its pages.
    let damaged = state_path("damaged.db");
    {
        let (app, stop, run) = serve(&damaged, 0).await;
        for _ in 0..50 {
            app.create_t2a(json!({"prompt": "p", "duration": 3})).await;
        }
        stop.send(()).unwrap();
        run.await.unwrap().unwrap();
        let mut bytes = std::fs::read(&damaged).unwrap();
        let n = bytes.len();
        for b in &mut bytes[n / 2..n / 2 + 4096.min(n / 2)] {
            *b = 0xA5;
        }
        std::fs::write(&damaged, bytes).unwrap();
    }
    let garbage = state_path("garbage.bin");
    std::fs::write(&garbage, [0x00, 0x01, 0x02, 0xff, 0x10]).unwrap();
    let empty = state_path("empty.db");
    std::fs::write(&empty, b"").unwrap();
    let dir = state_path("a-directory");
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = kling_mock::Config {
        state_file: Some(dir.clone()),
        ..config()
    };
    let err = bind_error(cfg).await;
    assert!(
        err.contains("is a directory") && err.contains("Move it away"),
        "{err}"
    );
    assert!(
        std::fs::read_dir(&dir).unwrap().next().is_none(),
        "nothing written in it"
    );
    for (path, says) in [
        (foreign, "not a kling-mock state file"),
        (future, "layout version 99"),
        (damaged, "corrupt"),
        (garbage, "not a kling-mock state file"),
        (empty, "empty"),
    ] {
        let before = std::fs::read(&path).unwrap();
        let cfg = kling_mock::Config {
            state_file: Some(path.clone()),
            ..config()
        };
        let err = bind_error(cfg).await;
        assert!(
            err.contains(says) && err.contains("Move it away"),
            "{}: {err}",
            path.display()
        );
        assert_eq!(
            std::fs::read(&path).unwrap(),
            before,
            "{} untouched",
            path.display()
        );
    }
}

/// A callback still queued at a stop (its receiver failed and the retry waits) is sent by the
/// restarted server, in order and with the same `webhook-id`; one delivered before the stop is
/// not sent again.
#[tokio::test]
async fn callbacks_still_queued_at_a_stop_are_sent_after_the_restart() {
    use axum::extract::State;
    use axum::http::StatusCode;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};
    // Answers 500 to the first request, 200 afterwards; passes on what it accepted.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Value>();
    let hits = Arc::new(AtomicU32::new(0));
    let app = axum::Router::new()
        .route(
            "/hook",
            axum::routing::post(
                |State((tx, hits)): State<(
                    tokio::sync::mpsc::UnboundedSender<Value>,
                    Arc<AtomicU32>,
                )>,
                 body: String| async move {
                    if hits.fetch_add(1, Ordering::SeqCst) == 0 {
                        return StatusCode::INTERNAL_SERVER_ERROR;
                    }
                    let _ = tx.send(serde_json::from_str(&body).unwrap());
                    StatusCode::OK
                },
            ),
        )
        .with_state((tx, hits.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let path = state_path("callbacks.db");
    let start = |path: PathBuf| async move {
        let mut cfg = kling_mock::Config {
            state_file: Some(path),
            ..config()
        };
        // One failed attempt, then a retry an hour away: still queued at the stop.
        cfg.callbacks.backoff = Duration::from_secs(3600);
        spawn_stoppable(cfg, 1_790_000_000_000).await
    };
    let (app, stop, run) = start(path.clone()).await;
    let id = app
        .create_t2a(json!({"prompt": "p", "duration": 3, "callback_url": hook}))
        .await;
    // Wait (bounded, polling the log) for the failed first attempt.
    let first = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(a) = app.state.engine.callback_log().into_iter().next() {
                return a;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("a first attempt");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    stop.send(()).unwrap();
    run.await.unwrap().unwrap();

    let (app, _stop, _run) = start(path).await;
    let got = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("the queued callback is sent after the restart")
        .unwrap();
    assert_eq!(got["task_id"], id.as_str());
    assert_eq!(got["task_status"], "submitted");
    let again = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(a) = app.state.engine.callback_log().into_iter().next() {
                return a;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the attempt is logged");
    assert_eq!(
        again.webhook_id, first.webhook_id,
        "the same status change keeps its webhook-id"
    );
    // Delivered now: a further restart would not send it again.
    app.advance(Duration::from_secs(1));
    let next = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        next["task_status"], "processing",
        "then the next change, in order"
    );
}

/// A graceful restart is invisible to a seeded scenario: the same seed, clock and requests give
/// byte-identical answers (request ids and media URLs included) whether the server restarted in
/// the middle or not, because the random stream goes on from where the stop left it.
#[tokio::test]
async fn a_graceful_restart_keeps_a_seeded_scenario_byte_identical() {
    async fn requests(app: &TestApp, range: std::ops::Range<u32>) -> Vec<Value> {
        let mut out = Vec::new();
        for i in range {
            let a = app
                .post(
                    "/v1/audio/text-to-audio",
                    json!({"prompt": format!("p{i}"), "duration": 3}),
                )
                .await;
            out.push(a.body.clone());
            let tts = app
                .post(
                    "/v1/audio/tts",
                    json!({"text": format!("line {i}"), "voice_id": "oversea_male1", "voice_language": "en"}),
                )
                .await;
            out.push(tts.body.clone());
            app.advance(Duration::from_secs(5));
            out.push(app.get("/v1/audio/text-to-audio").await.body.clone());
        }
        out
    }
    let t0 = 1_790_000_000_000;
    let (a, stop_a, run_a) = serve(&state_path("straight.db"), t0).await;
    let straight = requests(&a, 0..6).await;
    stop_a.send(()).unwrap();
    run_a.await.unwrap().unwrap();

    let path = state_path("restarted.db");
    let (b, stop_b, run_b) = serve(&path, t0).await;
    let mut restarted = requests(&b, 0..3).await;
    stop_b.send(()).unwrap();
    run_b.await.unwrap().unwrap();
    let (b, _stop, _run) = serve(&path, t0).await;
    restarted.extend(requests(&b, 3..6).await);
    assert_eq!(straight.len(), restarted.len());
    for (i, (x, y)) in straight.iter().zip(&restarted).enumerate() {
        assert_eq!(x, y, "answer {i} differs after the restart");
    }
}

#[tokio::test]
async fn a_restart_keeps_image_tasks_their_pictures_and_their_slots() {
    let path = state_path("images.json");
    let t0 = 1_790_000_000_000;
    let (app, stop, run) = serve(&path, t0).await;
    app.ctl_put(
        &format!("/__mock/accounts/{AK}"),
        json!({"concurrency": {"image": 5}}),
    )
    .await
    .ok();
    const GEN: &str = "/v1/images/generations";
    let done = app
        .post(
            GEN,
            json!({"prompt": "kept", "n": 2, "watermark_info": {"enabled": true}}),
        )
        .await
        .ok()["task_id"]
        .as_str()
        .unwrap()
        .to_string();
    app.advance(FINISH);
    let pending = app
        .post(GEN, json!({"prompt": "in flight", "n": 4}))
        .await
        .ok()["task_id"]
        .as_str()
        .unwrap()
        .to_string();
    let before = app.get(&format!("{GEN}/{done}")).await.ok().clone();
    let urls: Vec<String> = before["task_result"]["images"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|i| [i["url"].as_str(), i["watermark_url"].as_str()])
        .map(|u| {
            format!(
                "{}{}",
                app.base,
                u.unwrap().trim_start_matches("http://mock.test")
            )
        })
        .collect();
    assert_eq!(urls.len(), 4);
    let mut bytes = Vec::new();
    for u in &urls {
        bytes.push(app.fetch(u).await.2);
    }
    let old_base = app.base.clone();
    stop.send(()).unwrap();
    run.await.unwrap().unwrap();

    let (app, _stop, _run) = serve(&path, t0 + FINISH.as_millis() as i64).await;
    assert_eq!(app.get(&format!("{GEN}/{done}")).await.ok(), &before);
    for (u, b) in urls.iter().zip(&bytes) {
        let u = u.replace(&old_base, &app.base);
        assert_eq!(&app.fetch(&u).await.2, b, "{u} is byte-identical");
    }
    // The task in flight still holds its 4 slots of 5.
    app.post(GEN, json!({"prompt": "x", "n": 2}))
        .await
        .err(429, 1303);
    app.advance(FINISH);
    assert_eq!(
        app.get(&format!("{GEN}/{pending}")).await.ok()["task_status"],
        "succeed"
    );
    app.post(GEN, json!({"prompt": "x", "n": 5})).await.ok();
}

#[tokio::test]
async fn an_identify_face_session_survives_a_restart_and_still_expires_after_24_hours() {
    let path = state_path("faces.json");
    let t0 = 1_790_000_000_000;
    let (app, stop, run) = serve(&path, t0).await;
    let src = app
        .post("/v1/videos/text2video", json!({"prompt": "a face"}))
        .await
        .ok()["task_id"]
        .as_str()
        .unwrap()
        .to_string();
    app.advance(FINISH);
    let d = app.get(&format!("/v1/videos/text2video/{src}")).await;
    let video_id = d.ok()["task_result"]["videos"][0]["id"].clone();
    let session = app
        .post("/v1/videos/identify-face", json!({"video_id": video_id}))
        .await
        .ok()["session_id"]
        .as_str()
        .unwrap()
        .to_string();
    let audio = app
        .post(
            "/v1/audio/tts",
            json!({"text": "one two three four five six seven", "voice_id": "oversea_male1", "voice_language": "en"}),
        )
        .await
        .ok()["task_result"]["audios"][0]["id"]
        .clone();
    stop.send(()).unwrap();
    run.await.unwrap().unwrap();

    let (app, _stop, _run) = serve(&path, t0 + FINISH.as_millis() as i64).await;
    let body = json!({"session_id": session, "face_choose": [{"face_id": "0", "audio_id": audio,
                      "sound_start_time": 0, "sound_end_time": 2500, "sound_insert_time": 0}]});
    app.post("/v1/videos/advanced-lip-sync", body.clone())
        .await
        .ok();
    app.advance(Duration::from_secs(24 * 3600));
    let e = app.post("/v1/videos/advanced-lip-sync", body).await;
    assert!(e.err(400, 1201).contains("has expired"), "{}", e.message());
}
