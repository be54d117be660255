use crate::helpers::*;
use kling_mock::config::TimingSpec;
use serde_json::json;
use std::time::Duration;

const T2A: &str = "/v1/audio/text-to-audio";

async fn status(app: &TestApp, id: &str) -> (String, i64, i64) {
    let a = app.get(&format!("{T2A}/{id}")).await;
    let d = a.ok();
    (
        d["task_status"].as_str().unwrap().to_string(),
        d["created_at"].as_i64().unwrap(),
        d["updated_at"].as_i64().unwrap(),
    )
}

#[tokio::test]
async fn a_task_moves_submitted_processing_succeed_on_the_clock_with_exact_timestamps() {
    let app = spawn_app().await;
    let t0 = app.now_ms();
    let id = app
        .create_t2a(json!({"prompt": "wind", "duration": 4}))
        .await;
    assert_eq!(status(&app, &id).await, ("submitted".into(), t0, t0));
    app.advance(Duration::from_millis(999));
    assert_eq!(status(&app, &id).await, ("submitted".into(), t0, t0));
    app.advance(Duration::from_millis(1));
    assert_eq!(
        status(&app, &id).await,
        ("processing".into(), t0, t0 + 1000)
    );
    let d = app.get(&format!("{T2A}/{id}")).await;
    assert_eq!(d.ok()["task_result"], json!({}), "no result before success");
    assert_eq!(d.ok()["final_unit_deduction"], "0");
    app.advance(Duration::from_millis(2999));
    assert_eq!(status(&app, &id).await.0, "processing");
    app.advance(Duration::from_millis(1));
    assert_eq!(status(&app, &id).await, ("succeed".into(), t0, t0 + 4000));
    app.advance(Duration::from_secs(3600));
    assert_eq!(
        status(&app, &id).await,
        ("succeed".into(), t0, t0 + 4000),
        "terminal states never change"
    );
}

#[tokio::test]
async fn one_big_clock_jump_runs_every_transition_stamped_at_its_own_time() {
    let app = spawn_app().await;
    let t0 = app.now_ms();
    let a = app.create_t2a(json!({"prompt": "a", "duration": 4})).await;
    app.advance(Duration::from_millis(500));
    let b = app.create_t2a(json!({"prompt": "b", "duration": 4})).await;
    app.advance(Duration::from_secs(60));
    assert_eq!(status(&app, &a).await, ("succeed".into(), t0, t0 + 4000));
    assert_eq!(
        status(&app, &b).await,
        ("succeed".into(), t0 + 500, t0 + 4500)
    );
}

#[tokio::test]
async fn timings_are_configurable_per_kind() {
    let mut cfg = config();
    cfg.timings = vec![
        "text-to-audio=0s/250ms".parse::<TimingSpec>().unwrap(),
        "custom-voice=2s/7s".parse::<TimingSpec>().unwrap(),
    ];
    let app = spawn_with(cfg).await;
    let t0 = app.now_ms();
    let id = app.create_t2a(json!({"prompt": "a", "duration": 4})).await;
    assert_eq!(
        status(&app, &id).await,
        ("processing".into(), t0, t0),
        "0s in submitted"
    );
    app.advance(Duration::from_millis(250));
    assert_eq!(status(&app, &id).await.0, "succeed");
    let v = app.create_voice(AK, SK, "v").await;
    app.advance(Duration::from_millis(8_999));
    let d = app.get(&format!("/v1/general/custom-voices/{v}")).await;
    assert_eq!(d.ok()["task_status"], "processing");
    app.advance(Duration::from_millis(1));
    let d = app.get(&format!("/v1/general/custom-voices/{v}")).await;
    assert_eq!(d.ok()["task_status"], "succeed");
    assert_eq!(d.ok()["updated_at"].as_i64().unwrap(), t0 + 250 + 9_000);
}

#[tokio::test]
async fn a_failed_task_keeps_its_reason_and_has_no_result() {
    let app = spawn_app().await;
    let id = app
        .post(
            "/v1/general/custom-voices",
            json!({"voice_name": "x", "video_id": "42"}),
        )
        .await
        .ok()["task_id"]
        .as_str()
        .unwrap()
        .to_string();
    app.advance(FINISH);
    let d = app.get(&format!("/v1/general/custom-voices/{id}")).await;
    let d = d.ok();
    assert_eq!(d["task_status"], "failed");
    assert_eq!(d["task_status_msg"], "Video not found by id: 42");
    assert_eq!(d["task_result"], json!({}));
    assert_eq!(d["final_unit_deduction"], "0");
}
