//! The control plane under /__mock/, over HTTP and through the Rust API.

use crate::helpers::*;
use kling_mock::control::outcomes::Outcomes;
use kling_mock::control::rules::{Delay, FaultSpec, Latency};
use kling_mock::engine::{Goal, Lifecycle, Progress, Span};
use serde_json::{Value, json};
use std::time::Duration;

const T2A: &str = "/v1/audio/text-to-audio";

async fn status(app: &TestApp, id: &str) -> String {
    app.get(&format!("{T2A}/{id}")).await.ok()["task_status"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn accounts_added_at_run_time_work_and_leave_nothing_behind_when_removed() {
    let app = spawn_app().await;
    let added = app
        .ctl_post(
            "/__mock/accounts",
            json!({"access_key": "sandbox-ak", "secret_key": "sandbox-sk"}),
        )
        .await;
    assert_eq!(added.ok()["access_key"], "sandbox-ak");
    // A working account: creates, lists, and is isolated from the configured ones.
    let created = app
        .post_as(
            "sandbox-ak",
            "sandbox-sk",
            T2A,
            json!({"prompt": "p", "duration": 3, "external_task_id": "mine"}),
        )
        .await;
    created.ok();
    assert_eq!(
        app.get_as("sandbox-ak", "sandbox-sk", T2A)
            .await
            .ok()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    app.get(&format!("{T2A}/mine")).await.err(400, 1201);
    // A taken key, an empty one, a wrong secret.
    let taken = app
        .ctl_post(
            "/__mock/accounts",
            json!({"access_key": "sandbox-ak", "secret_key": "other"}),
        )
        .await
        .err(400, 1201)
        .to_string();
    assert!(taken.contains("'sandbox-ak' is taken"), "{taken}");
    app.ctl_post(
        "/__mock/accounts",
        json!({"access_key": " ", "secret_key": "x"}),
    )
    .await
    .err(400, 1201);
    app.get_as("sandbox-ak", "wrong", T2A).await.err(401, 1002);

    // Removed: its tokens no longer work, its data is gone, the state no longer lists it.
    let removed = app.ctl_delete("/__mock/accounts/sandbox-ak").await;
    assert_eq!(removed.ok()["removed"], "sandbox-ak");
    app.get_as("sandbox-ak", "sandbox-sk", T2A)
        .await
        .err(401, 1002);
    let state = app.ctl_get("/__mock/state").await;
    assert!(!state.ok()["accounts"].to_string().contains("sandbox-ak"));
    // Added again, it starts empty.
    app.ctl_post(
        "/__mock/accounts",
        json!({"access_key": "sandbox-ak", "secret_key": "sandbox-sk"}),
    )
    .await
    .ok();
    assert_eq!(
        app.get_as("sandbox-ak", "sandbox-sk", T2A)
            .await
            .ok()
            .as_array()
            .unwrap()
            .len(),
        0
    );
    // A configured account cannot be removed, and says what to do instead.
    let refused = app
        .ctl_delete(&format!("/__mock/accounts/{AK}"))
        .await
        .err(400, 1201)
        .to_string();
    assert!(
        refused.contains("is configured") && refused.contains("/__mock/reset"),
        "{refused}"
    );
    app.get(T2A).await.ok();
}

#[tokio::test]
async fn a_resumed_clock_says_how_far_it_runs_from_wall_time_and_how_to_rejoin() {
    let app = spawn_app().await;
    app.ctl_post("/__mock/clock", json!({"advance": "1h"}))
        .await
        .ok();
    let c = app.ctl_post("/__mock/clock", json!({"mode": "real"})).await;
    let c = c.ok();
    let offset = c["offset_ms"].as_i64().unwrap();
    assert!((3_590_000..=3_600_000).contains(&offset), "{c}");
    let note = c["note"].as_str().unwrap_or_else(|| panic!("{c}"));
    assert!(
        note.contains(&format!("{offset} ms ahead of")) && note.contains("set_ms"),
        "{note}"
    );
    // Rejoining wall time: the offset is gone (but for the request's own few milliseconds).
    let wall = c["wall_ms"].as_i64().unwrap();
    let c = app.ctl_post("/__mock/clock", json!({"set_ms": wall})).await;
    let offset = c.ok()["offset_ms"].as_i64().unwrap();
    assert!((-5_000..=0).contains(&offset), "{offset}");
    // A frozen clock has no offset to speak of.
    let c = app
        .ctl_post("/__mock/clock", json!({"mode": "frozen"}))
        .await;
    assert!(c.ok().get("offset_ms").is_none());
}

#[tokio::test]
async fn the_clock_is_read_frozen_set_and_advanced_over_http() {
    let app = spawn_app().await;
    let c = app.ctl_get("/__mock/clock").await;
    assert_eq!(c.ok()["mode"], "frozen");
    let id = app.create_t2a(json!({"prompt": "p", "duration": 3})).await;
    let c = app
        .ctl_post("/__mock/clock", json!({"advance": "4s"}))
        .await;
    let now = c.ok()["now_ms"].as_i64().unwrap();
    assert_eq!(
        status(&app, &id).await,
        "succeed",
        "advancing ran both transitions before answering"
    );
    app.ctl_post("/__mock/clock", json!({"set_ms": 1_900_000_000_000i64}))
        .await
        .ok();
    assert_eq!(app.now_ms(), 1_900_000_000_000);
    let later = app.create_t2a(json!({"prompt": "p", "duration": 3})).await;
    let d = app.get(&format!("{T2A}/{later}")).await;
    assert_eq!(
        d.ok()["created_at"],
        1_900_000_000_000i64,
        "timestamps follow the clock"
    );
    assert!(now < 1_900_000_000_000);
    let r = app.ctl_post("/__mock/clock", json!({"mode": "real"})).await;
    assert_eq!(r.ok()["mode"], "real");
    app.ctl_post("/__mock/clock", json!({"mode": "sideways"}))
        .await
        .err(400, 1201);
    app.ctl_post("/__mock/clock", json!({"advance": "soon"}))
        .await
        .err(400, 1201);
    app.ctl_post("/__mock/clock", json!({"advance_ms": -5}))
        .await
        .err(400, 1201);
}

#[tokio::test]
async fn tasks_move_by_hand_by_task_id_or_external_id() {
    let app = spawn_app().await;
    app.ctl_put("/__mock/lifecycle/text-to-audio", json!({"submitted": {"min_ms": 0, "max_ms": 0}, "processing": {"min_ms": 0, "max_ms": 0}, "progress": {"mode": "manual"}}))
        .await
        .ok();
    let a = app
        .create_t2a(json!({"prompt": "p", "duration": 3, "external_task_id": "hand-1"}))
        .await;
    let b = app.create_t2a(json!({"prompt": "p", "duration": 3})).await;
    app.advance(Duration::from_secs(3600));
    assert_eq!(
        status(&app, &a).await,
        "submitted",
        "manual progress: time does nothing"
    );
    let r = app
        .ctl_post("/__mock/tasks/hand-1/advance", json!({}))
        .await;
    assert_eq!(r.ok()["task_status"], "processing");
    let r = app
        .ctl_post("/__mock/tasks/hand-1/advance", json!({"to": "next"}))
        .await;
    assert_eq!(r.ok()["task_status"], "succeed");
    assert!(r.ok()["task_result"]["audios"][0]["url_mp3"].is_string());
    let r = app
        .ctl_post(
            &format!("/__mock/tasks/{b}/advance"),
            json!({"to": "failed", "message": "Failure to pass the risk control system"}),
        )
        .await;
    assert_eq!(r.ok()["task_status"], "failed");
    let d = app.get(&format!("{T2A}/{b}")).await;
    assert_eq!(
        d.ok()["task_status_msg"],
        "Failure to pass the risk control system"
    );
    assert_eq!(d.ok()["task_result"], json!({}));
    let again = app
        .ctl_post(
            &format!("/__mock/tasks/{b}/advance"),
            json!({"to": "succeed"}),
        )
        .await;
    assert!(again.err(400, 1201).contains("already finished"));
    app.ctl_post("/__mock/tasks/nope/advance", json!({}))
        .await
        .err(400, 1201);
    app.ctl_post("/__mock/tasks/nope/advance", json!({"to": "sideways"}))
        .await
        .err(400, 1201);
}

#[tokio::test]
async fn a_task_can_go_straight_to_succeed_through_the_rust_api() {
    let app = spawn_app().await;
    let id = app.create_t2a(json!({"prompt": "p", "duration": 3})).await;
    let v = app.state.engine.force(None, &id, &Goal::Succeed).unwrap();
    assert_eq!(v.status.as_str(), "succeed");
    app.advance(Duration::from_secs(10));
    let d = app.get(&format!("{T2A}/{id}")).await;
    assert_eq!(
        d.ok()["task_status"],
        "succeed",
        "the old timer does not move it again"
    );
    assert_eq!(
        d.ok()["updated_at"].as_i64().unwrap(),
        d.ok()["created_at"].as_i64().unwrap()
    );
}

#[tokio::test]
async fn polls_drive_progress_when_configured() {
    let app = spawn_app().await;
    app.state.engine.set_lifecycle(
        kling_mock::kinds::text_to_audio::SPEC.id,
        Lifecycle {
            submitted: Span::fixed(0),
            processing: Span::fixed(0),
            progress: Progress::Polls { polls: 2 },
        },
    );
    let id = app.create_t2a(json!({"prompt": "p", "duration": 3})).await;
    app.advance(Duration::from_secs(600));
    assert_eq!(status(&app, &id).await, "submitted", "first poll");
    assert_eq!(
        status(&app, &id).await,
        "processing",
        "the second poll moves it"
    );
    assert_eq!(status(&app, &id).await, "processing");
    assert_eq!(status(&app, &id).await, "succeed");
}

#[tokio::test]
async fn random_spans_are_drawn_within_their_range_and_repeat_with_the_seed() {
    async fn durations(seed: u64) -> Vec<i64> {
        let app = spawn_at(
            kling_mock::Config {
                seed: Some(seed),
                ..config()
            },
            1_790_000_000_000,
        )
        .await;
        app.ctl_put("/__mock/lifecycle/text-to-audio", json!({"submitted": {"min_ms": 100, "max_ms": 900}, "processing": {"min_ms": 1000, "max_ms": 1000}}))
            .await
            .ok();
        let mut ids = Vec::new();
        for _ in 0..12 {
            ids.push(app.create_t2a(json!({"prompt": "p", "duration": 3})).await);
        }
        app.advance(Duration::from_secs(5));
        let mut out = Vec::new();
        for id in ids {
            let d = app.get(&format!("{T2A}/{id}")).await;
            let d = d.ok();
            out.push(d["updated_at"].as_i64().unwrap() - d["created_at"].as_i64().unwrap() - 1000);
        }
        out
    }
    let a = durations(5).await;
    assert!(a.iter().all(|d| (100..=900).contains(d)), "{a:?}");
    assert!(a.iter().any(|d| *d != a[0]), "not all the same: {a:?}");
    assert_eq!(a, durations(5).await);
}

#[tokio::test]
async fn lifecycle_input_is_checked() {
    let app = spawn_app().await;
    let l = app.ctl_get("/__mock/lifecycle").await;
    assert_eq!(
        l.ok()["text-to-audio"]["submitted"],
        json!({"min_ms": 1000, "max_ms": 1000})
    );
    app.ctl_put(
        "/__mock/lifecycle/video",
        json!({"submitted": {"min_ms": 0, "max_ms": 0}, "processing": {"min_ms": 0, "max_ms": 0}}),
    )
    .await
    .err(400, 1201);
    app.ctl_put(
        "/__mock/lifecycle/text-to-audio",
        json!({"submitted": {"min_ms": 9, "max_ms": 1}, "processing": {"min_ms": 0, "max_ms": 0}}),
    )
    .await
    .err(400, 1201);
    app.ctl_put("/__mock/lifecycle/text-to-audio", json!({"submitted": 5}))
        .await
        .err(400, 1201);
}

#[tokio::test]
async fn fault_rules_answer_kling_errors_and_count_how_often_they_fired() {
    let app = spawn_app().await;
    let r = app.ctl_post("/__mock/faults", json!({"id": "busy", "method": "POST", "path": "/v1/audio/*", "code": 1303, "first": 2, "retry_after": 3})).await;
    assert_eq!(r.ok()["id"], "busy");
    let body = json!({"prompt": "p", "duration": 3});
    let resp = app
        .client
        .post(app.url(T2A))
        .bearer_auth(token(AK, SK))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "3");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(
        (v["code"].clone(), v["message"].clone()),
        (json!(1303), json!("parallel task over resource pack limit"))
    );
    app.post(T2A, body.clone()).await.err(429, 1303);
    app.post(T2A, body.clone()).await.ok();
    app.get(T2A).await.ok();
    let list = app.ctl_get("/__mock/faults").await;
    assert_eq!(list.ok()[0]["matched"], 3, "GETs do not match a POST rule");
    assert_eq!(list.ok()[0]["fired"], 2);
    assert_eq!(
        app.state.engine.task_count(),
        1,
        "faulted creates created nothing"
    );
    app.ctl_post(
        "/__mock/faults",
        json!({"code": 5001, "account": AK2, "every": 2}),
    )
    .await
    .ok();
    app.get_as(AK2, SK2, T2A).await.ok();
    app.get_as(AK2, SK2, T2A).await.err(503, 5001);
    app.get(T2A).await.ok();
    app.get(T2A).await.ok();
    assert_eq!(
        app.ctl_delete("/__mock/faults/busy").await.ok()["removed"],
        1
    );
    app.ctl_delete("/__mock/faults/busy").await.err(404, 1203);
    assert_eq!(app.ctl_delete("/__mock/faults").await.ok()["removed"], 1);
    app.ctl_post("/__mock/faults", json!({"code": 4242}))
        .await
        .err(400, 1201);
    app.ctl_post("/__mock/faults", json!({"code": 1303, "bogus": 1}))
        .await
        .err(400, 1201);
}

#[tokio::test]
async fn fault_rules_work_through_the_rust_api_and_by_time_window() {
    let app = spawn_app().await;
    let now = app.now_ms();
    app.state
        .control
        .add_fault(FaultSpec {
            code: 5002,
            path: Some("/v1/general/*".into()),
            from_ms: Some(now + 1000),
            until_ms: Some(now + 2000),
            ..Default::default()
        })
        .unwrap();
    app.get("/v1/general/presets-voices").await.ok();
    app.advance(Duration::from_millis(1500));
    app.get("/v1/general/presets-voices").await.err(504, 5002);
    app.advance(Duration::from_millis(600));
    app.get("/v1/general/presets-voices").await.ok();
    assert_eq!(app.state.control.faults()[0].fired, 1);
}

#[tokio::test]
async fn outcome_rules_fail_tasks_or_refuse_creates_by_content() {
    let app = spawn_app().await;
    app.ctl_put(
        "/__mock/outcomes",
        json!({"rules": [
            {"kind": "text-to-audio", "field": "prompt", "contains": "explosion", "fail_task": "Failure to pass the risk control system"},
            {"field": "text", "regex": "(?i)^forbidden", "reject": {"code": 1301, "message": "The content is not allowed"}}
        ]}),
    )
    .await
    .ok();
    let id = app
        .create_t2a(json!({"prompt": "a big explosion", "duration": 3}))
        .await;
    let ok = app
        .create_t2a(json!({"prompt": "birds", "duration": 3}))
        .await;
    app.advance(FINISH);
    let d = app.get(&format!("{T2A}/{id}")).await;
    assert_eq!(
        (
            d.ok()["task_status"].clone(),
            d.ok()["task_status_msg"].clone()
        ),
        (
            json!("failed"),
            json!("Failure to pass the risk control system")
        )
    );
    assert_eq!(status(&app, &ok).await, "succeed");
    let tts =
        json!({"text": "Forbidden words", "voice_id": "oversea_male1", "voice_language": "en"});
    assert_eq!(
        app.post("/v1/audio/tts", tts).await.err(400, 1301),
        "The content is not allowed"
    );
    let journal = app.ctl_get("/__mock/journal?path=/v1/audio/*").await;
    let rules: Vec<Value> = journal
        .ok()
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["rule"].clone())
        .collect();
    assert_eq!(
        rules,
        [
            json!("outcome rule 1"),
            Value::Null,
            Value::Null,
            Value::Null,
            json!("outcome rule 2")
        ],
        "create, create, 2 queries, tts"
    );
    app.ctl_put(
        "/__mock/outcomes",
        json!({"rules": [{"field": "p", "regex": "(", "fail_task": "x"}]}),
    )
    .await
    .err(400, 1201);
    assert_eq!(
        app.ctl_delete("/__mock/outcomes").await.ok()["rules"],
        json!([])
    );
}

#[tokio::test]
async fn a_failure_rate_fails_that_share_of_tasks_and_tts_can_fail_too() {
    let app = spawn_app().await;
    let mut o = Outcomes::default();
    o.failure_rates.insert(
        "text-to-audio".into(),
        serde_json::from_value(json!({"probability": 0.5, "message": "Generation failed"}))
            .unwrap(),
    );
    o.failure_rates.insert(
        "tts".into(),
        serde_json::from_value(json!({"probability": 1.0})).unwrap(),
    );
    app.state.control.set_outcomes(o).unwrap();
    let mut ids = Vec::new();
    for _ in 0..60 {
        ids.push(app.create_t2a(json!({"prompt": "p", "duration": 3})).await);
    }
    app.advance(FINISH);
    let mut failed = 0;
    for id in &ids {
        if status(&app, id).await == "failed" {
            failed += 1;
        }
    }
    assert!((15..=45).contains(&failed), "{failed} of 60 at p = 0.5");
    let t = app
        .post(
            "/v1/audio/tts",
            json!({"text": "hi", "voice_id": "oversea_male1", "voice_language": "en"}),
        )
        .await;
    assert_eq!(t.ok()["task_status"], "failed");
    assert_eq!(t.ok()["task_result"], json!({}));
    assert_eq!(t.ok()["final_unit_deduction"], "0");
}

#[tokio::test]
async fn latency_delays_answers_without_blocking_others() {
    let app = spawn_app().await;
    app.ctl_put("/__mock/latency", json!({"routes": [{"path": "/v1/general/presets-voices", "delay": {"kind": "fixed", "ms": 300}}]})).await.ok();
    // 50 delayed requests at once: they all finish, and the journal records the delay.
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let app = app.clone();
        set.spawn(async move { app.get("/v1/general/presets-voices?pageSize=1").await });
    }
    while let Some(a) = set.join_next().await {
        a.unwrap().ok();
    }
    let j = app
        .ctl_get("/__mock/journal?path=/v1/general/presets-voices")
        .await;
    let entries = j.ok().as_array().unwrap().clone();
    assert_eq!(entries.len(), 50);
    assert!(entries.iter().all(|e| e["delay_ms"] == 300));
    app.state
        .control
        .set_latency(Latency {
            global: Some(Delay::LogNormal {
                median_ms: 5.0,
                sigma: 0.3,
            }),
            routes: vec![],
        })
        .unwrap();
    app.get(T2A).await.ok();
    app.ctl_put(
        "/__mock/latency",
        json!({"global": {"kind": "uniform", "min_ms": 9, "max_ms": 1}}),
    )
    .await
    .err(400, 1201);
}

#[tokio::test]
async fn the_journal_records_requests_and_filters_them() {
    let app = spawn_app().await;
    app.get(T2A).await.ok();
    app.get_as(AK2, SK2, "/v1/general/presets-voices")
        .await
        .ok();
    app.post(T2A, json!({"prompt": "p"})).await.err(400, 1201);
    app.get("/nope").await.err(404, 1203);
    let all = app.ctl_get("/__mock/journal").await;
    let all = all.ok().as_array().unwrap().clone();
    assert_eq!(all.len(), 4, "control-plane calls are not journaled");
    assert_eq!(all[2]["code"], 1201);
    assert_eq!(all[2]["method"], "POST");
    assert!(all[2]["request_id"].is_string());
    let mine = app.ctl_get(&format!("/__mock/journal?account={AK2}")).await;
    assert_eq!(mine.ok().as_array().unwrap().len(), 1);
    let last = app.ctl_get("/__mock/journal?limit=1").await;
    assert_eq!(last.ok()[0]["path"], "/nope");
    app.ctl_put("/__mock/journal", json!({"size": 0}))
        .await
        .ok();
    app.get(T2A).await.ok();
    assert_eq!(app.ctl_get("/__mock/journal").await.ok(), &json!([]));
    app.ctl_get("/__mock/journal?limit=x").await.err(400, 1201);
}

#[tokio::test]
async fn state_summarises_and_reset_forgets_one_account_or_all() {
    let app = spawn_app().await;
    app.create_t2a(json!({"prompt": "p", "duration": 3})).await;
    app.create_voice(AK, SK, "v").await;
    app.create_voice(AK2, SK2, "w").await;
    app.advance(FINISH);
    let st = app.ctl_get("/__mock/state").await;
    let st = st.ok().clone();
    assert_eq!(st["tasks"], 3);
    let a1 = st["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["access_key"] == AK)
        .unwrap()
        .clone();
    assert_eq!(a1["tasks"]["text-to-audio"]["succeed"], 1);
    assert_eq!(a1["custom_voices"], 1);
    app.ctl_post("/__mock/reset", json!({"account": AK}))
        .await
        .ok();
    assert_eq!(app.get(T2A).await.ok(), &json!([]));
    assert_eq!(
        app.get_as(AK2, SK2, "/v1/general/custom-voices")
            .await
            .ok()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    app.ctl_post("/__mock/reset", json!({"account": "nobody"}))
        .await
        .err(400, 1201);
    app.ctl_post("/__mock/faults", json!({"code": 1303}))
        .await
        .ok();
    app.send(app.client.post(app.url("/__mock/reset")))
        .await
        .ok();
    assert_eq!(app.state.engine.task_count(), 0);
    app.get(T2A).await.err(429, 1303);
    app.ctl_post("/__mock/reset", json!({"rules": true}))
        .await
        .ok();
    app.get(T2A).await.ok();
    let trial =
        app.get("/v1/general/presets-voices?pageSize=1").await.ok()[0]["task_result"]["voices"][0]
            ["trial_url"]
            .as_str()
            .unwrap()
            .to_string();
    assert_eq!(
        app.fetch(&trial).await.0,
        200,
        "preset trial files survive a reset"
    );
}

#[tokio::test]
async fn a_video_registered_by_the_control_plane_can_source_a_custom_voice() {
    let app = spawn_app().await;
    let v = app
        .ctl_post(
            "/__mock/videos",
            json!({"account": AK, "source": "avatar", "duration_ms": 12000}),
        )
        .await;
    let video = v.ok()["video_id"].as_str().unwrap().to_string();
    let r = app
        .post(
            "/v1/general/custom-voices",
            json!({"voice_name": "v", "video_id": video}),
        )
        .await;
    let id = r.ok()["task_id"].as_str().unwrap().to_string();
    app.advance(FINISH);
    let d = app.get(&format!("/v1/general/custom-voices/{id}")).await;
    assert_eq!(d.ok()["task_status"], "succeed");
    app.ctl_post(
        "/__mock/videos",
        json!({"account": AK, "source": "tv", "duration_ms": 1}),
    )
    .await
    .err(400, 1201);
}

#[tokio::test]
async fn unknown_control_paths_are_404_in_the_envelope() {
    let app = spawn_app().await;
    app.ctl_get("/__mock/nothing").await.err(404, 1203);
    assert_eq!(app.ctl_get("/__mock/health").await.ok()["status"], "ok");
}

#[tokio::test]
async fn a_concurrency_limit_fills_refuses_with_1303_and_is_released() {
    let app = spawn_app().await;
    app.ctl_put(
        &format!("/__mock/accounts/{AK}"),
        json!({"concurrency": {"video": 2}, "packs": [{"name": "p", "total": 100}]}),
    )
    .await
    .ok();
    let a = app.create_t2a(json!({"prompt": "p", "duration": 3})).await;
    app.create_voice(AK, SK, "v").await;
    let refused = app.post(T2A, json!({"prompt": "p", "duration": 3})).await;
    assert_eq!(
        refused.err(429, 1303),
        "parallel task over resource pack limit"
    );
    app.post_as(AK2, SK2, T2A, json!({"prompt": "p", "duration": 3}))
        .await
        .ok();
    let acc = app.ctl_get(&format!("/__mock/accounts/{AK}")).await;
    assert_eq!(acc.ok()["in_flight"]["video"], 2);
    app.state
        .engine
        .force(None, &a, &Goal::Failed("gone".into()))
        .unwrap();
    app.post(T2A, json!({"prompt": "p", "duration": 3}))
        .await
        .ok();
    app.post(T2A, json!({"prompt": "p", "duration": 3}))
        .await
        .err(429, 1303);
    app.advance(FINISH);
    app.post(T2A, json!({"prompt": "p", "duration": 3}))
        .await
        .ok();
    // Queries never count.
    app.get(T2A).await.ok();
}

#[tokio::test]
async fn packs_pay_for_succeeded_tasks_and_run_out_with_1102() {
    let app = spawn_app().await;
    app.ctl_put(
        &format!("/__mock/accounts/{AK}"),
        json!({"packs": [{"name": "tiny", "total": 0.1}]}),
    )
    .await
    .ok();
    let failed = app.create_t2a(json!({"prompt": "p", "duration": 3})).await;
    app.state
        .engine
        .force(None, &failed, &Goal::Failed("no".into()))
        .unwrap();
    let tts = json!({"text": "hi", "voice_id": "oversea_male1", "voice_language": "en"});
    app.post("/v1/audio/tts", tts.clone()).await.ok();
    app.create_t2a(json!({"prompt": "p", "duration": 3})).await;
    app.advance(FINISH);
    let e = app.post("/v1/audio/tts", tts).await;
    assert_eq!(e.err(429, 1102), "Account balance not enough");
    let now = app.now_ms();
    let c = app
        .get(&format!(
            "/account/costs?start_time={}&end_time={}",
            now - 1000,
            now
        ))
        .await;
    let info = c.ok()["resource_pack_subscribe_infos"][0].clone();
    assert_eq!(info["resource_pack_name"], "tiny");
    assert_eq!(
        info["remaining_quantity"].as_f64().unwrap(),
        0.0,
        "two successes of 0.05, the failure was free"
    );
    assert_eq!(info["status"], "runOut");
    assert_eq!(c.ok()["code"], 0);
    app.get("/account/costs?start_time=1").await.err(400, 1201);
    app.get("/account/costs?start_time=x&end_time=2")
        .await
        .err(400, 1201);
}

#[tokio::test]
async fn every_account_starts_with_a_large_pack_of_each_pool() {
    let app = spawn_app().await;
    let now = app.now_ms();
    app.post(
        "/v1/audio/tts",
        json!({"text": "hi", "voice_id": "oversea_male1", "voice_language": "en"}),
    )
    .await
    .ok();
    let c = app
        .get(&format!("/account/costs?start_time={now}&end_time={now}"))
        .await;
    let info = c.ok()["resource_pack_subscribe_infos"][0].clone();
    assert_eq!(info["total_quantity"].as_f64().unwrap(), 100000.0);
    assert!((info["remaining_quantity"].as_f64().unwrap() - 99999.95).abs() < 1e-6);
    assert_eq!(info["status"], "online");
    let names: Vec<&str> = c.ok()["resource_pack_subscribe_infos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["resource_pack_name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "kling-mock video pack",
            "kling-mock image pack",
            "kling-mock try-on pack"
        ]
    );
    let none = app
        .get(&format!(
            "/account/costs?start_time={now}&end_time={now}&resource_pack_name=other"
        ))
        .await;
    assert_eq!(none.ok()["resource_pack_subscribe_infos"], json!([]));
}

#[tokio::test]
async fn account_states_refuse_creates_with_their_codes() {
    let app = spawn_app().await;
    for (state, status, code) in [
        ("exception", 429, 1100),
        ("arrears", 429, 1101),
        ("forbidden", 403, 1103),
    ] {
        app.ctl_put(&format!("/__mock/accounts/{AK}"), json!({"state": state}))
            .await
            .ok();
        app.post(T2A, json!({"prompt": "p", "duration": 3}))
            .await
            .err(status, code);
        app.get(T2A).await.ok();
    }
    app.ctl_put(
        &format!("/__mock/accounts/{AK}"),
        json!({"state": "sleepy"}),
    )
    .await
    .err(400, 1201);
    app.ctl_put("/__mock/accounts/nobody", json!({}))
        .await
        .err(400, 1201);
    app.ctl_put(&format!("/__mock/accounts/{AK}"), json!({}))
        .await
        .ok();
    app.post(T2A, json!({"prompt": "p", "duration": 3}))
        .await
        .err(403, 1103);
    app.ctl_put(
        &format!("/__mock/accounts/{AK}"),
        json!({"state": "normal"}),
    )
    .await
    .ok();
    app.post(T2A, json!({"prompt": "p", "duration": 3}))
        .await
        .ok();
}

#[tokio::test]
async fn startup_rules_and_account_settings_apply_and_survive_a_rules_reset() {
    let cfg = kling_mock::Config {
        faults: vec![FaultSpec {
            code: 5000,
            path: Some("/v1/general/presets-voices".into()),
            ..Default::default()
        }],
        account_settings: vec![(
            AK.to_string(),
            serde_json::from_value(json!({"concurrency": {"video": 1}})).unwrap(),
        )],
        ..config()
    };
    let app = spawn_with(cfg).await;
    app.get("/v1/general/presets-voices").await.err(500, 5000);
    app.create_t2a(json!({"prompt": "p", "duration": 3})).await;
    app.post(T2A, json!({"prompt": "p", "duration": 3}))
        .await
        .err(429, 1303);
    app.ctl_post("/__mock/faults", json!({"code": 1302}))
        .await
        .ok();
    app.ctl_post("/__mock/reset", json!({"rules": true}))
        .await
        .ok();
    app.get("/v1/general/presets-voices").await.err(500, 5000);
    app.create_t2a(json!({"prompt": "p", "duration": 3})).await;
    app.post(T2A, json!({"prompt": "p", "duration": 3}))
        .await
        .err(429, 1303);
}

#[tokio::test]
async fn billing_and_reset_work_through_the_rust_api_and_show_in_the_state() {
    let app = spawn_app().await;
    let acc = app.state.accounts.get(AK).unwrap();
    let patch: kling_mock::engine::billing::AccountPatch = serde_json::from_value(
        json!({"concurrency": {"video": 1}, "packs": [{"name": "rust", "total": 1}]}),
    )
    .unwrap();
    app.state
        .engine
        .billing
        .patch(acc.idx, patch, app.now_ms())
        .unwrap();
    app.create_t2a(json!({"prompt": "p", "duration": 3})).await;
    app.post(T2A, json!({"prompt": "p", "duration": 3}))
        .await
        .err(429, 1303);
    let st = app.ctl_get("/__mock/state").await;
    let mine = st.ok()["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["access_key"] == AK)
        .unwrap()
        .clone();
    assert_eq!(mine["in_flight"]["video"], 1);
    assert_eq!(mine["packs"][0]["name"], "rust");
    assert_eq!(mine["state"], "normal");
    app.state.reset(Some(acc.idx), Some(AK), false);
    assert_eq!(app.state.engine.task_count(), 0);
    let (settings, in_flight) = app.state.engine.billing.settings(acc.idx, app.now_ms());
    assert_eq!(
        settings.packs[0].name, "kling-mock video pack",
        "back to the starting pack"
    );
    assert!(in_flight.is_empty());
    app.create_t2a(json!({"prompt": "p", "duration": 3})).await;
}

#[tokio::test]
async fn the_control_plane_can_be_switched_off_or_protected_by_a_token() {
    let off = spawn_with(kling_mock::Config {
        control: false,
        ..config()
    })
    .await;
    off.ctl_get("/__mock/clock").await.err(404, 1203);
    assert_eq!(off.ctl_get("/__mock/health").await.ok()["status"], "ok");
    off.get(T2A).await.ok();

    let locked = spawn_with(kling_mock::Config {
        control_token: Some("s3cret".into()),
        ..config()
    })
    .await;
    assert!(
        locked
            .ctl_get("/__mock/state")
            .await
            .err(401, 1000)
            .contains("control token")
    );
    let wrong = locked
        .send(
            locked
                .client
                .get(locked.url("/__mock/state"))
                .bearer_auth("nope"),
        )
        .await;
    wrong.err(401, 1000);
    let right = locked
        .send(
            locked
                .client
                .get(locked.url("/__mock/state"))
                .bearer_auth("s3cret"),
        )
        .await;
    right.ok();
    assert_eq!(
        locked.ctl_get("/__mock/health").await.ok()["status"],
        "ok",
        "health needs no token"
    );
    locked.get(T2A).await.ok();
}
