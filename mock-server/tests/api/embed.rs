//! The embedding API: `kling_mock::MockServer` in a user's own tests.

use kling_mock::MockServer;
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test]
async fn a_mock_server_runs_tasks_by_hand_and_stops_when_dropped() {
    let mock = MockServer::builder()
        .seed(1)
        .account("e-ak", "e-sk")
        .start()
        .await;
    let http = reqwest::Client::new();
    let create = |ext: &'static str| {
        let (http, url, token) = (
            http.clone(),
            format!("{}/v1/audio/text-to-audio", mock.base_url()),
            mock.token(),
        );
        async move {
            let v: Value = http
                .post(url)
                .bearer_auth(token)
                .json(&json!({"prompt": "p", "duration": 3, "external_task_id": ext}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v["data"]["task_id"].as_str().unwrap().to_string()
        }
    };
    let a = create("a").await;
    create("b").await;
    assert_eq!(mock.complete("a").unwrap().status.as_str(), "succeed");
    assert_eq!(mock.fail("b", "broken").unwrap().status.as_str(), "failed");
    assert!(mock.complete(&a).is_err(), "already finished");
    mock.advance_and_deliver(Duration::from_secs(60)).await;
    assert_eq!(mock.journal().len(), 2);
    assert!(
        mock.callback_log().is_empty(),
        "no callback_url, no deliveries"
    );
    mock.reset();
    assert_eq!(mock.state().engine.task_count(), 0);

    let base = mock.base_url().to_string();
    drop(mock);
    // The server stops on drop: soon nothing answers there (poll, never sleep a fixed time).
    tokio::time::timeout(Duration::from_secs(10), async {
        while reqwest::get(format!("{base}/__mock/health")).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the dropped server stops answering");
}

#[tokio::test]
async fn a_mock_server_can_serve_https_to_a_client_trusting_its_certificate() {
    let mock = MockServer::builder().tls().start().await;
    assert!(mock.base_url().starts_with("https://127.0.0.1:"));
    let pem = mock.certificate_pem().expect("a certificate");
    let cert = reqwest::Certificate::from_pem(pem.as_bytes()).unwrap();
    let client = reqwest::Client::builder()
        .tls_certs_only([cert])
        .build()
        .unwrap();
    let r = client
        .get(format!("{}/v1/general/presets-voices", mock.base_url()))
        .bearer_auth(mock.token())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        reqwest::Client::new()
            .get(format!("{}/__mock/health", mock.base_url()))
            .send()
            .await
            .is_err(),
        "untrusted"
    );
}
