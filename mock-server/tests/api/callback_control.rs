//! Callbacks under control: the delivery log, faults, the bounded queue, signing, idle waiting.
//!
//! Every receiver listens on 127.0.0.1:0 and records each request it gets (headers, raw body,
//! the status it answered) on a channel. Nothing sleeps: tests wait on
//! `Engine::callbacks_idle` or on the channel, always under a timeout.

use crate::helpers::*;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use clap::Parser;
use hmac::{Hmac, Mac};
use kling_mock::config::CallbackConfig;
use kling_mock::engine::{
    AppliedFault, AttemptResult, CallbackAttempt, CallbackFaults, DropReason, Status,
};
use kling_mock::{Cli, Config};
use serde_json::{Value, json};
use sha2::Sha256;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// The vendor's test secret (SOURCES.md: webhook signing).
const SECRET: &str = "whsec_dGVzdHNlY3JldHRlc3RzZWNyZXR0ZXN0c2VjcmV0MTI=";

/// One request the receiver got.
#[derive(Debug)]
struct Hit {
    headers: HeaderMap,
    body: Bytes,
    answered: u16,
}

impl Hit {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("callback body is JSON")
    }
    fn status(&self) -> String {
        self.json()["task_status"].as_str().unwrap().to_string()
    }
    fn task_id(&self) -> String {
        self.json()["task_id"].as_str().unwrap().to_string()
    }
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("header {name} missing"))
            .to_str()
            .unwrap()
    }
}

/// A receiver: answers 500 to the first `fail_first` requests, 200 after; holds every request
/// until `release` is set to true (it starts released unless built with `held`).
struct Receiver {
    url: String,
    rx: mpsc::UnboundedReceiver<Hit>,
    release: watch::Sender<bool>,
}

#[derive(Clone)]
struct Rx {
    tx: mpsc::UnboundedSender<Hit>,
    hits: Arc<AtomicU32>,
    fail_first: u32,
    gate: watch::Receiver<bool>,
}

async fn receive(State(r): State<Rx>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let mut gate = r.gate.clone();
    let _ = gate.wait_for(|open| *open).await;
    let n = r.hits.fetch_add(1, Ordering::SeqCst);
    let answer = if n < r.fail_first {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    };
    let _ = r.tx.send(Hit {
        headers,
        body,
        answered: answer.as_u16(),
    });
    answer
}

async fn start_receiver(fail_first: u32, held: bool) -> Receiver {
    let (tx, rx) = mpsc::unbounded_channel();
    let (release, gate) = watch::channel(!held);
    let app = axum::Router::new()
        .route("/hook", post(receive))
        .with_state(Rx {
            tx,
            hits: Arc::default(),
            fail_first,
            gate,
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Receiver { url, rx, release }
}

async fn receiver(fail_first: u32) -> Receiver {
    start_receiver(fail_first, false).await
}

impl Receiver {
    /// Every request received so far (call after `idle`: nothing more is on its way).
    fn drain(&mut self) -> Vec<Hit> {
        let mut v = Vec::new();
        while let Ok(h) = self.rx.try_recv() {
            v.push(h);
        }
        v
    }
}

/// Wait until no callback is queued or in flight.
async fn idle(app: &TestApp) {
    tokio::time::timeout(Duration::from_secs(20), app.state.engine.callbacks_idle())
        .await
        .expect("callbacks idle in time");
}

fn log_for(app: &TestApp, id: &str) -> Vec<CallbackAttempt> {
    app.state
        .engine
        .callback_log()
        .into_iter()
        .filter(|a| a.task_id == id)
        .collect()
}

fn statuses(hits: &[Hit]) -> Vec<String> {
    hits.iter().map(Hit::status).collect()
}

fn t2a(url: &str) -> Value {
    json!({"prompt": "rain on a tin roof", "duration": 3, "callback_url": url})
}

fn set_faults(app: &TestApp, f: CallbackFaults) {
    app.state.engine.set_callback_faults(f);
    assert_eq!(app.state.engine.callback_faults(), f);
}

fn signed_config() -> Config {
    let mut cfg = config();
    cfg.callbacks.webhook_secret = Some(SECRET.parse().unwrap());
    cfg
}

/// An implementation of the Standard Webhooks check independent of the mock's: HMAC-SHA256 over
/// `{id}.{timestamp}.{raw body}` with the Base64-decoded secret, compared with every `v1,` entry.
fn signature_verifies(hit: &Hit, secret: &str) -> bool {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let id = hit.header("webhook-id");
    let ts = hit.header("webhook-timestamp");
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(&hit.body);
    let expected = STANDARD.encode(mac.finalize().into_bytes());
    hit.header("webhook-signature")
        .split(' ')
        .any(|s| s.strip_prefix("v1,") == Some(expected.as_str()))
}

#[track_caller]
fn verify_signature(hit: &Hit, secret: &str) {
    assert!(
        signature_verifies(hit, secret),
        "signature {:?} does not verify",
        hit.header("webhook-signature")
    );
}

#[tokio::test]
async fn a_receiver_failing_twice_shows_two_failed_attempts_then_the_delivery_in_the_log() {
    let app = spawn_app().await;
    let mut r = receiver(2).await;
    let id = app.create_t2a(t2a(&r.url)).await;
    idle(&app).await;
    let log = log_for(&app, &id);
    let seen: Vec<(u32, Status, AttemptResult)> = log
        .iter()
        .map(|a| (a.attempt, a.status, a.result.clone()))
        .collect();
    assert_eq!(
        seen,
        [
            (1, Status::Submitted, AttemptResult::Http { status: 500 }),
            (2, Status::Submitted, AttemptResult::Http { status: 500 }),
            (3, Status::Submitted, AttemptResult::Http { status: 200 }),
        ]
    );
    for a in &log {
        assert_eq!(a.url, r.url);
        assert_eq!(a.at_ms, app.now_ms(), "stamped with the mock clock");
        assert!(!a.signed && a.faults.is_empty(), "{a:?}");
        assert_eq!(a.webhook_id, log[0].webhook_id, "one id per status change");
    }
    assert_eq!(
        r.drain().iter().map(|h| h.answered).collect::<Vec<_>>(),
        [500, 500, 200]
    );
    let stats = app.state.engine.callback_stats();
    assert_eq!(stats.attempts.load(Ordering::Relaxed), 3);
    assert_eq!(stats.delivered.load(Ordering::Relaxed), 1);

    // The rest of the lifecycle: one attempt each, in order, appended after.
    app.advance(FINISH);
    idle(&app).await;
    let log = log_for(&app, &id);
    let tail: Vec<(u32, Status)> = log[3..].iter().map(|a| (a.attempt, a.status)).collect();
    assert_eq!(tail, [(1, Status::Processing), (1, Status::Succeed)]);
    assert_ne!(log[3].webhook_id, log[4].webhook_id);

    // The log is JSON for the control plane.
    let j = serde_json::to_value(&log[0]).unwrap();
    assert_eq!(j["task_id"], id.as_str());
    assert_eq!(j["status"], "submitted");
    assert_eq!(j["attempt"], 1);
    assert_eq!(j["result"], json!({"kind": "http", "status": 500}));
    assert_eq!(j["signed"], false);
    assert!(j["latency_ms"].is_u64() && j["at_ms"].is_i64());

    app.state.engine.clear_callback_log();
    assert!(app.state.engine.callback_log().is_empty());
}

#[tokio::test]
async fn drop_one_delivers_nothing_and_the_log_says_why() {
    let app = spawn_app().await;
    let mut r = receiver(0).await;
    set_faults(
        &app,
        CallbackFaults {
            drop: 1.0,
            ..Default::default()
        },
    );
    let id = app.create_t2a(t2a(&r.url)).await;
    app.advance(FINISH);
    idle(&app).await;
    assert!(r.drain().is_empty(), "nothing may arrive");
    let stats = app.state.engine.callback_stats();
    assert_eq!(stats.fault_dropped.load(Ordering::Relaxed), 3);
    assert_eq!(stats.dropped.load(Ordering::Relaxed), 0);
    assert_eq!(stats.attempts.load(Ordering::Relaxed), 0);
    let log = log_for(&app, &id);
    assert_eq!(
        log.iter().map(|a| a.status).collect::<Vec<_>>(),
        [Status::Submitted, Status::Processing, Status::Succeed]
    );
    for a in &log {
        assert_eq!(
            a.result,
            AttemptResult::Dropped {
                reason: DropReason::Fault
            }
        );
        assert_eq!(a.faults, [AppliedFault::Drop]);
        assert_eq!(a.attempt, 0);
    }
    // Faults off again: deliveries resume.
    set_faults(&app, CallbackFaults::default());
    app.create_t2a(t2a(&r.url)).await;
    idle(&app).await;
    assert_eq!(statuses(&r.drain()), ["submitted"]);
}

#[tokio::test]
async fn duplicate_one_sends_every_change_twice_with_the_same_webhook_id() {
    let app = spawn_with(signed_config()).await;
    let mut r = receiver(0).await;
    set_faults(
        &app,
        CallbackFaults {
            duplicate: 1.0,
            ..Default::default()
        },
    );
    let id = app.create_t2a(t2a(&r.url)).await;
    app.advance(FINISH);
    idle(&app).await;
    let hits = r.drain();
    assert_eq!(
        statuses(&hits),
        [
            "submitted",
            "submitted",
            "processing",
            "processing",
            "succeed",
            "succeed"
        ]
    );
    for pair in hits.chunks(2) {
        assert_eq!(pair[0].body, pair[1].body);
        assert_eq!(pair[0].header("webhook-id"), pair[1].header("webhook-id"));
        verify_signature(&pair[0], SECRET);
        verify_signature(&pair[1], SECRET);
    }
    assert_ne!(hits[0].header("webhook-id"), hits[2].header("webhook-id"));
    let log = log_for(&app, &id);
    assert_eq!(log.len(), 6);
    for (i, a) in log.iter().enumerate() {
        let expected: &[AppliedFault] = if i % 2 == 1 {
            &[AppliedFault::Duplicate]
        } else {
            &[]
        };
        assert_eq!(a.faults, expected, "entry {i}");
        assert_eq!(a.attempt, 1);
    }
    let stats = app.state.engine.callback_stats();
    assert_eq!(stats.delivered.load(Ordering::Relaxed), 6);
}

#[tokio::test]
async fn reorder_one_still_delivers_every_status_and_logs_the_fault() {
    let app = spawn_app().await;
    let mut r = receiver(0).await;
    set_faults(
        &app,
        CallbackFaults {
            reorder: 1.0,
            ..Default::default()
        },
    );
    let id = app.create_t2a(t2a(&r.url)).await;
    // `submitted` is held back for the task's next change: idle, yet still pending.
    idle(&app).await;
    assert_eq!(app.state.engine.callbacks_pending(), 1);
    assert!(r.drain().is_empty());

    app.advance(FINISH);
    idle(&app).await;
    assert_eq!(app.state.engine.callbacks_pending(), 0);
    let got = statuses(&r.drain());
    let mut sorted = got.clone();
    sorted.sort();
    assert_eq!(sorted, ["processing", "submitted", "succeed"], "{got:?}");
    // One delivery held at a time, released right after the next one; a final status is never
    // held.
    assert_eq!(got, ["processing", "submitted", "succeed"]);
    let log = log_for(&app, &id);
    let faults: Vec<(Status, Vec<AppliedFault>)> =
        log.iter().map(|a| (a.status, a.faults.clone())).collect();
    assert_eq!(
        faults,
        [
            (Status::Processing, vec![]),
            (Status::Submitted, vec![AppliedFault::Reorder]),
            (Status::Succeed, vec![]),
        ]
    );
}

#[tokio::test]
async fn a_fault_delay_is_applied_and_logged() {
    let app = spawn_app().await;
    let mut r = receiver(0).await;
    set_faults(
        &app,
        CallbackFaults {
            delay_ms: 30,
            ..Default::default()
        },
    );
    let id = app.create_t2a(t2a(&r.url)).await;
    app.advance(FINISH);
    idle(&app).await;
    assert_eq!(statuses(&r.drain()), ["submitted", "processing", "succeed"]);
    let log = log_for(&app, &id);
    assert_eq!(log.len(), 3);
    for a in &log {
        assert_eq!(a.faults, [AppliedFault::Delay { ms: 30 }]);
        assert!(a.result.is_delivered());
    }
}

#[tokio::test]
async fn a_full_queue_drops_and_counts_changes_and_the_api_still_answers() {
    let mut cfg = config();
    cfg.callbacks.queue_limit = 2;
    cfg.callbacks.retries = 0;
    cfg.callbacks.timeout = Duration::from_secs(120);
    let app = spawn_with(cfg).await;
    // Accepts the connection and holds every request until released.
    let mut r = start_receiver(0, true).await;
    let a = app.create_t2a(t2a(&r.url)).await;
    let b = app.create_t2a(t2a(&r.url)).await;
    let c = app.create_t2a(t2a(&r.url)).await;
    assert_eq!(app.state.engine.callbacks_pending(), 2);
    let stats = app.state.engine.callback_stats();
    assert_eq!(stats.dropped.load(Ordering::Relaxed), 1);
    let log_c = log_for(&app, &c);
    assert_eq!(log_c.len(), 1);
    assert_eq!(
        log_c[0].result,
        AttemptResult::Dropped {
            reason: DropReason::QueueFull
        }
    );
    assert_eq!(log_c[0].status, Status::Submitted);

    // Every further change is dropped too; the API answers all the same.
    app.advance(FINISH);
    for id in [&a, &b, &c] {
        let v = app.get(&format!("/v1/audio/text-to-audio/{id}")).await;
        assert_eq!(v.ok()["task_status"], "succeed");
    }
    app.get("/v1/audio/text-to-audio?pageSize=10").await.ok();
    assert_eq!(stats.dropped.load(Ordering::Relaxed), 7);
    assert_eq!(app.state.engine.callbacks_pending(), 2);
    let queue_full = app
        .state
        .engine
        .callback_log()
        .iter()
        .filter(|e| {
            e.result
                == AttemptResult::Dropped {
                    reason: DropReason::QueueFull,
                }
        })
        .count();
    assert_eq!(queue_full, 7);

    r.release.send(true).unwrap();
    idle(&app).await;
    let mut got: Vec<(String, String)> = r
        .drain()
        .iter()
        .map(|h| (h.task_id(), h.status()))
        .collect();
    got.sort();
    let mut want = vec![(a, "submitted".to_string()), (b, "submitted".to_string())];
    want.sort();
    assert_eq!(got, want);
    assert_eq!(stats.delivered.load(Ordering::Relaxed), 2);
    assert_eq!(app.state.engine.callbacks_pending(), 0);
}

#[tokio::test]
async fn signed_deliveries_verify_independently_and_carry_the_mock_clock_second() {
    let app = spawn_with(signed_config()).await;
    let mut r = receiver(1).await;
    let id = app.create_t2a(t2a(&r.url)).await;
    idle(&app).await;
    let hits = r.drain();
    assert_eq!(
        hits.iter().map(|h| h.answered).collect::<Vec<_>>(),
        [500, 200]
    );
    let second = app.now_ms().div_euclid(1000);
    for h in &hits {
        verify_signature(h, SECRET);
        assert_eq!(h.header("webhook-timestamp"), second.to_string());
        assert!(
            h.header("webhook-id").chars().all(|c| c.is_ascii_digit()),
            "{}",
            h.header("webhook-id")
        );
        assert_eq!(
            h.headers.get("content-type").unwrap(),
            "application/json",
            "the signed body is the raw JSON"
        );
    }
    assert_eq!(
        hits[0].header("webhook-id"),
        hits[1].header("webhook-id"),
        "a retry keeps the id"
    );

    // The next change: a new id, the timestamp follows the mock clock.
    app.advance(Duration::from_millis(1_500));
    idle(&app).await;
    let next = r.drain();
    assert_eq!(statuses(&next), ["processing"]);
    verify_signature(&next[0], SECRET);
    assert_ne!(next[0].header("webhook-id"), hits[0].header("webhook-id"));
    assert_eq!(
        next[0].header("webhook-timestamp"),
        app.now_ms().div_euclid(1000).to_string()
    );
    // A signature with another secret does not verify.
    let other = format!("whsec_{}", STANDARD.encode([9u8; 32]));
    assert!(!signature_verifies(&next[0], &other));

    let log = log_for(&app, &id);
    assert!(log.iter().all(|a| a.signed), "{log:?}");
    assert_eq!(log[0].webhook_id, hits[0].header("webhook-id"));
}

#[tokio::test]
async fn unsigned_deliveries_carry_no_webhook_headers() {
    let app = spawn_app().await;
    let mut r = receiver(0).await;
    app.create_t2a(t2a(&r.url)).await;
    idle(&app).await;
    let hits = r.drain();
    assert_eq!(hits.len(), 1);
    for h in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        assert!(hits[0].headers.get(h).is_none(), "{h}");
    }
}

#[test]
fn the_vendor_test_vector_signs_exactly() {
    let body = r#"{"id":"1234567890","status":"succeeded","message":"","create_time":1781080778802,"update_time":1781080794151}"#;
    assert_eq!(
        kling_mock::engine::sign_webhook(SECRET, "9876543210", 1781080794, body.as_bytes())
            .unwrap(),
        "v1,UsKlJP00XoQyOn410NM9xv34sP+Gl0jnOO9Lcpr7NJ4="
    );
}

#[test]
fn callback_options_parse_from_the_command_line_and_a_bad_secret_is_refused() {
    let cfg: Config = Cli::parse_from([
        "kling-mock",
        "--callback-queue",
        "5",
        "--callback-log",
        "7",
        "--webhook-secret",
        SECRET,
    ])
    .into();
    let want = CallbackConfig {
        queue_limit: 5,
        log_capacity: 7,
        webhook_secret: Some(SECRET.parse().unwrap()),
        ..CallbackConfig::default()
    };
    assert_eq!(cfg.callbacks, want);
    assert_eq!(Config::default().callbacks.webhook_secret, None);
    for bad in ["not-a-secret", "whsec_***", "whsec_", "dGVzdHNlY3JldA=="] {
        let err = Cli::try_parse_from(["kling-mock", "--webhook-secret", bad])
            .expect_err(bad)
            .to_string();
        assert!(err.contains("whsec_"), "{bad}: {err}");
    }
}

#[tokio::test]
async fn the_binary_refuses_to_start_with_a_bad_webhook_secret() {
    let stderr =
        binary_refuses_to_start(&[("KLING_MOCK_WEBHOOK_SECRET", "whsec_not base64!")]).await;
    assert!(stderr.contains("webhook-secret"), "{stderr}");
    assert!(stderr.contains("whsec_<base64>"), "{stderr}");
}

#[tokio::test]
async fn callbacks_idle_resolves_once_every_delivery_has_finished() {
    let app = spawn_app().await;
    // Retries included: the first refusals are retried before idle resolves.
    let mut r = receiver(3).await;
    // Nothing pending: resolves at once.
    idle(&app).await;
    for _ in 0..10 {
        app.create_t2a(t2a(&r.url)).await;
    }
    app.advance(FINISH);
    idle(&app).await;
    assert_eq!(app.state.engine.callbacks_pending(), 0);
    let hits = r.drain();
    assert_eq!(hits.len(), 33, "30 deliveries and 3 refusals");
    let stats = app.state.engine.callback_stats();
    assert_eq!(stats.delivered.load(Ordering::Relaxed), 30);
    assert_eq!(stats.attempts.load(Ordering::Relaxed), 33);
    assert_eq!(stats.failed.load(Ordering::Relaxed), 0);
    // Each delivery was logged before idle resolved.
    assert_eq!(app.state.engine.callback_log().len(), 33);
}

#[tokio::test]
async fn the_control_plane_sets_callback_faults_waits_for_delivery_and_shows_the_log() {
    let app = spawn_app().await;
    let mut r = receiver(2).await;
    let f = app
        .ctl_put("/__mock/callbacks/faults", json!({"duplicate": 1.0}))
        .await;
    assert_eq!(f.ok()["duplicate"], 1.0);
    let id = app.create_t2a(t2a(&r.url)).await;
    // Advance and wait for every delivery in one call: no polling, no sleeping.
    app.ctl_post(
        "/__mock/clock",
        json!({"advance": "10s", "wait_callbacks": true}),
    )
    .await
    .ok();
    let hits = r.drain();
    assert_eq!(
        hits.len(),
        8,
        "3 statuses twice each, plus the 2 refused attempts"
    );
    let c = app
        .ctl_get(&format!("/__mock/callbacks?task_id={id}"))
        .await;
    let c = c.ok();
    assert_eq!(c["pending"], 0);
    assert_eq!(c["faults"]["duplicate"], 1.0);
    let log = c["log"].as_array().unwrap();
    assert_eq!(log.len(), 8);
    assert!(log.iter().all(|a| a["task_id"] == id.as_str()));
    assert!(c["stats"]["delivered"].as_u64().unwrap() >= 6);
    let last = app.ctl_get("/__mock/callbacks?limit=1").await;
    assert_eq!(last.ok()["log"].as_array().unwrap().len(), 1);
    app.ctl_put("/__mock/callbacks/faults", json!({"drop": 2.0}))
        .await
        .err(400, 1201);
    app.ctl_put("/__mock/callbacks/faults", json!({"shuffle": 1}))
        .await
        .err(400, 1201);
    app.ctl_delete("/__mock/callbacks").await.ok();
    assert_eq!(
        app.ctl_get("/__mock/callbacks").await.ok()["log"],
        json!([])
    );
    assert_eq!(
        app.ctl_post("/__mock/callbacks/idle", json!({})).await.ok()["pending"],
        0
    );
}

#[tokio::test]
async fn deliveries_in_flight_are_capped_and_all_still_arrive() {
    use std::sync::atomic::AtomicUsize;
    #[derive(Clone, Default)]
    struct Gauge {
        now: Arc<AtomicUsize>,
        max: Arc<AtomicUsize>,
        total: Arc<AtomicUsize>,
    }
    async fn slow(State(g): State<Gauge>) -> StatusCode {
        let n = g.now.fetch_add(1, Ordering::SeqCst) + 1;
        g.max.fetch_max(n, Ordering::SeqCst);
        // Hold the request a little so deliveries would overlap if they could.
        tokio::time::sleep(Duration::from_millis(20)).await;
        g.now.fetch_sub(1, Ordering::SeqCst);
        g.total.fetch_add(1, Ordering::SeqCst);
        StatusCode::OK
    }
    let g = Gauge::default();
    let app = axum::Router::new()
        .route("/hook", post(slow))
        .with_state(g.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let mut cfg = config();
    cfg.callbacks.concurrency = 2;
    let mock = spawn_with(cfg).await;
    for _ in 0..10 {
        mock.create_t2a(t2a(&url)).await;
    }
    mock.advance(FINISH);
    idle(&mock).await;
    assert_eq!(
        g.total.load(Ordering::SeqCst),
        30,
        "every status of every task arrived"
    );
    assert!(
        g.max.load(Ordering::SeqCst) <= 2,
        "at most 2 in flight, saw {}",
        g.max.load(Ordering::SeqCst)
    );
}
