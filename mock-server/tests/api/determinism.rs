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
