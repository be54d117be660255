use crate::helpers::*;
use serde_json::{Value, json};
use std::time::Duration;

async fn session(seed: u64) -> Vec<Value> {
    let cfg = kling_mock::Config {
        seed: Some(seed),
        public_url: Some("http://mock.test".into()),
        ..config()
    };
    let app = spawn_at(cfg, 1_790_000_000_000).await;
    let mut out = Vec::new();
    out.push(
        app.post(
            "/v1/audio/tts",
            json!({"text": "hello there", "voice_id": "oversea_male1", "voice_language": "en"}),
        )
        .await
        .body,
    );
    out.push(
        app.post(
            "/v1/audio/text-to-audio",
            json!({"prompt": "rain", "duration": 5, "external_task_id": "d1"}),
        )
        .await
        .body,
    );
    out.push(
        app.post(
            "/v1/general/custom-voices",
            json!({"voice_name": "v", "voice_url": "https://x.test/a.wav"}),
        )
        .await
        .body,
    );
    out.push(app.get("/v1/audio/text-to-audio/nope").await.body);
    app.advance(Duration::from_secs(10));
    out.push(app.get("/v1/audio/text-to-audio").await.body);
    out.push(app.get("/v1/general/custom-voices").await.body);
    out
}

#[tokio::test]
async fn the_same_seed_clock_and_requests_give_identical_answers() {
    let a = session(7).await;
    let b = session(7).await;
    assert_eq!(a, b);
    let c = session(8).await;
    assert_ne!(
        a[0]["request_id"], c[0]["request_id"],
        "another seed, other request ids"
    );
    assert_ne!(
        a[4]["data"][0]["task_result"], c[4]["data"][0]["task_result"],
        "and other media tokens"
    );
}

/// A scenario that rolls every kind of dice: random spans, fault probability, failure rate,
/// callback-free lifecycle, all on a frozen clock.
async fn dice_session(seed: u64) -> Vec<Value> {
    let cfg = kling_mock::Config {
        seed: Some(seed),
        public_url: Some("http://mock.test".into()),
        ..config()
    };
    let app = spawn_at(cfg, 1_790_000_000_000).await;
    app.ctl_put("/__mock/lifecycle/text-to-audio", json!({"submitted": {"min_ms": 100, "max_ms": 5000}, "processing": {"min_ms": 100, "max_ms": 5000}}))
        .await
        .ok();
    app.ctl_post("/__mock/faults", json!({"path": "/v1/audio/text-to-audio", "method": "POST", "code": 1303, "probability": 0.3})).await.ok();
    app.ctl_put(
        "/__mock/outcomes",
        json!({"failure_rates": {"text-to-audio": {"probability": 0.4, "message": "unlucky"}}}),
    )
    .await
    .ok();
    let mut out = Vec::new();
    for i in 0..20 {
        out.push(
            app.post(
                "/v1/audio/text-to-audio",
                json!({"prompt": format!("p{i}"), "duration": 3}),
            )
            .await
            .body,
        );
        app.advance(Duration::from_millis(700));
        out.push(app.get("/v1/audio/text-to-audio?pageSize=5").await.body);
    }
    app.advance(Duration::from_secs(20));
    out.push(app.get("/v1/audio/text-to-audio?pageSize=50").await.body);
    out.push(app.ctl_get("/__mock/faults").await.body["data"].clone());
    out
}

#[tokio::test]
async fn the_same_seed_gives_byte_identical_answers_with_faults_spans_and_failure_rates() {
    let a = dice_session(11).await;
    let b = dice_session(11).await;
    assert_eq!(
        serde_json::to_string(&a).unwrap(),
        serde_json::to_string(&b).unwrap()
    );
    let fired = a.last().unwrap()[0]["fired"].as_u64().unwrap();
    assert!(
        fired > 0 && fired < 20,
        "the dice were rolled: {fired} of 20 refused"
    );
    let statuses: Vec<&str> = a[a.len() - 2].as_object().unwrap()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["task_status"].as_str().unwrap())
        .collect();
    assert!(
        statuses.contains(&"failed") && statuses.contains(&"succeed"),
        "{statuses:?}"
    );
    assert_ne!(
        serde_json::to_string(&a).unwrap(),
        serde_json::to_string(&dice_session(12).await).unwrap()
    );
}
