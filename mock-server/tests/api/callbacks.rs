use crate::helpers::*;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;

/// A callback receiver on 127.0.0.1:0. It answers 500 to the first `fail_first` deliveries.
struct Receiver {
    url: String,
    rx: mpsc::UnboundedReceiver<Value>,
    hits: Arc<AtomicU32>,
}

#[derive(Clone)]
struct Rx {
    tx: mpsc::UnboundedSender<Value>,
    hits: Arc<AtomicU32>,
    fail_first: u32,
}

async fn receive(State(r): State<Rx>, body: String) -> StatusCode {
    let n = r.hits.fetch_add(1, Ordering::SeqCst);
    if n < r.fail_first {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let _ =
        r.tx.send(serde_json::from_str(&body).expect("callback body is JSON"));
    StatusCode::OK
}

async fn receiver(fail_first: u32) -> Receiver {
    let (tx, rx) = mpsc::unbounded_channel();
    let hits = Arc::new(AtomicU32::new(0));
    let app = axum::Router::new()
        .route("/hook", post(receive))
        .with_state(Rx {
            tx,
            hits: hits.clone(),
            fail_first,
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Receiver { url, rx, hits }
}

impl Receiver {
    async fn next(&mut self) -> Value {
        tokio::time::timeout(Duration::from_secs(10), self.rx.recv())
            .await
            .expect("callback in time")
            .expect("open")
    }
}

#[tokio::test]
async fn every_status_change_is_posted_in_order_with_the_query_shape() {
    let app = spawn_app().await;
    let mut r = receiver(0).await;
    let id = app.create_t2a(json!({"prompt": "bells", "duration": 5, "callback_url": r.url, "external_task_id": "cb-1"})).await;
    let first = r.next().await;
    assert_eq!(first["task_id"], id.as_str());
    assert_eq!(first["task_status"], "submitted");
    assert_eq!(first["task_info"], json!({"external_task_id": "cb-1"}));
    assert!(
        first.get("code").is_none() && first.get("data").is_none(),
        "no envelope: {first}"
    );
    app.advance(Duration::from_secs(1));
    let second = r.next().await;
    assert_eq!(second["task_status"], "processing");
    assert_eq!(
        second,
        *app.get(&format!("/v1/audio/text-to-audio/{id}")).await.ok()
    );
    app.advance(Duration::from_secs(3));
    let third = r.next().await;
    assert_eq!(third["task_status"], "succeed");
    assert_eq!(
        third,
        *app.get(&format!("/v1/audio/text-to-audio/{id}")).await.ok()
    );
    assert!(third["task_result"]["audios"][0]["url_mp3"].is_string());
    assert!(third["updated_at"].as_i64() >= second["updated_at"].as_i64());
}

#[tokio::test]
async fn transitions_fire_without_polling_when_the_clock_moves() {
    let app = spawn_app().await;
    let mut r = receiver(0).await;
    app.create_t2a(json!({"prompt": "x", "duration": 3, "callback_url": r.url}))
        .await;
    assert_eq!(r.next().await["task_status"], "submitted");
    // Move only the clock: the background driver notices and fires, nobody queries.
    app.state.clock.advance(10_000);
    assert_eq!(r.next().await["task_status"], "processing");
    assert_eq!(r.next().await["task_status"], "succeed");
}

#[tokio::test]
async fn a_failing_receiver_is_retried_and_order_is_kept() {
    let app = spawn_app().await;
    let mut r = receiver(2).await;
    app.create_t2a(json!({"prompt": "x", "duration": 3, "callback_url": r.url}))
        .await;
    app.advance(FINISH);
    let statuses: Vec<String> = [r.next().await, r.next().await, r.next().await]
        .iter()
        .map(|v| v["task_status"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(statuses, ["submitted", "processing", "succeed"]);
    assert_eq!(
        r.hits.load(Ordering::SeqCst),
        5,
        "two refusals, then three deliveries"
    );
    // The receiver records a body before its answer reaches the mock: wait for the mock's count.
    let stats = app.state.engine.callback_stats();
    tokio::time::timeout(Duration::from_secs(10), async {
        while stats.delivered.load(Ordering::Relaxed) < 3 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("three deliveries counted");
    assert_eq!(stats.attempts.load(Ordering::Relaxed), 5);
    assert_eq!(stats.failed.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn a_dead_receiver_never_blocks_the_api() {
    let mut cfg = config();
    cfg.callbacks.retries = 1;
    let app = spawn_with(cfg).await;
    // A port with nothing listening.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/hook", l.local_addr().unwrap())
    };
    let mut r = receiver(0).await;
    for _ in 0..20 {
        app.create_t2a(json!({"prompt": "x", "duration": 3, "callback_url": dead}))
            .await;
    }
    let ok = app
        .create_t2a(json!({"prompt": "y", "duration": 3, "callback_url": r.url}))
        .await;
    app.advance(FINISH);
    app.get("/v1/audio/text-to-audio?pageSize=50").await.ok();
    let mut seen = Vec::new();
    for _ in 0..3 {
        let v = r.next().await;
        assert_eq!(v["task_id"], ok.as_str());
        seen.push(v["task_status"].as_str().unwrap().to_string());
    }
    assert_eq!(seen, ["submitted", "processing", "succeed"]);
}

#[tokio::test]
async fn many_tasks_each_get_their_changes_in_order() {
    let app = spawn_app().await;
    let mut r = receiver(0).await;
    let mut ids = Vec::new();
    for i in 0..25 {
        ids.push(
            app.create_t2a(
                json!({"prompt": format!("p{i}"), "duration": 3, "callback_url": r.url}),
            )
            .await,
        );
        app.advance(Duration::from_millis(137));
    }
    app.advance(FINISH);
    let mut per_task: std::collections::HashMap<String, Vec<String>> = Default::default();
    for _ in 0..75 {
        let v = r.next().await;
        per_task
            .entry(v["task_id"].as_str().unwrap().to_string())
            .or_default()
            .push(v["task_status"].as_str().unwrap().to_string());
    }
    assert_eq!(per_task.len(), 25);
    for id in ids {
        assert_eq!(
            per_task[&id],
            ["submitted", "processing", "succeed"],
            "task {id}"
        );
    }
}

#[test]
fn moving_the_clock_from_outside_the_runtime_still_delivers_callbacks() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (app, mut r) = rt.block_on(async { (spawn_app().await, receiver(0).await) });
    rt.block_on(app.create_t2a(json!({"prompt": "x", "duration": 3, "callback_url": r.url})));
    // A plain thread (like a synchronous test harness) moves the clock.
    std::thread::scope(|s| {
        s.spawn(|| app.state.engine.advance(10_000));
    });
    let statuses: Vec<Value> = rt.block_on(async {
        let mut v = Vec::new();
        for _ in 0..3 {
            v.push(r.next().await["task_status"].clone());
        }
        v
    });
    assert_eq!(
        statuses,
        [json!("submitted"), json!("processing"), json!("succeed")]
    );
}
