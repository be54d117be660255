//! Hostile input (issue 7, point 1): arbitrary bytes, JSON of every shape, wrong and duplicated
//! headers, odd methods, long and percent-encoded paths, huge numbers, deep nesting, invalid UTF-8
//! and oversized bodies, sent to every route of the public API and the control plane.
//!
//! Invariants checked on every answer:
//! * no panic, and no 5xx unless a fault or outcome rule injected it (the journal names the rule);
//! * every answer the router gives is the Kling envelope (`application/json`, `code`, a non-empty
//!   `message`, a UUID v4 `request_id`, `data` exactly on success) with a documented code and the
//!   error table's HTTP status for it; the two raw routes answer raw bytes only on success
//!   (`/files/...`: WAV or MP3; `/__mock/openapi.json`: the JSON document);
//! * the code is one the request allows: unknown path 1203, wrong method 1202, no token 1001, a
//!   bad token 1002-1004, a body that is not a JSON object 1200, a refused field 1201, a control
//!   request without the control token 1000, ...;
//! * a refused request leaves the server's state as it was: tasks by account, kind and status,
//!   pending transitions, media, custom voices, billing books, rules, lifecycles and the clock (the
//!   journal and the fault counters are left out: they record requests by design).
//!
//! Two layers:
//! * `hostile_requests_to_every_route_answer_a_documented_envelope_and_leave_state_alone` builds
//!   the server's own router in process and drives it with `oneshot` on generated
//!   `http::Request`s, one to three per case, so that an accepted control-plane change (a fault
//!   rule, a clock jump, an account in arrears) meets the requests after it; the server is then
//!   restored before the next case. `KLING_HOSTILE_CASES` sets the number of cases (default
//!   1,500: about 3 s), `KLING_HOSTILE_SEED` replays a run (the seed is printed).
//! * The wire tests write raw bytes to a server on 127.0.0.1:0, a table of named cases and
//!   random byte streams (`KLING_HOSTILE_WIRE_CASES`, default 400). Bytes hyper cannot parse as
//!   HTTP/1.1 get hyper's own bare answer (400, 414, 431; no body, no envelope) or a closed
//!   connection (the HTTP/2 preface) before any of our code runs, as the real API's front proxy
//!   answers them itself; everything hyper hands to the router gets the envelope.
//!
//! Files: `tokens` (the `Authorization` values and what each must get), `routes` (every route
//! and the fields its bodies are built from), `requests` (the generated requests), `oracle`
//! (the codes a request allows, the checks of an answer), `state` (the snapshot a refused request
//! must leave unchanged, the in-process harness and its test), `wire` (raw bytes on a socket);
//! the pinned regressions stay here.
//!
//! The long run (RELIABILITY.md): `KLING_HOSTILE_CASES=1000000 cargo test --release -p
//! kling-mock --test api hostile_requests -- --nocapture`. A `cargo fuzz` target of the same
//! invariants lives in `fuzz/`.

use crate::helpers::{AK, AK2, SK, SK2, sign};
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Method, Request, Uri};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kling_mock::control::journal::Filter;
use kling_mock::state::AppState;
use kling_mock::{Clock, Code, Config};
use proptest::prelude::*;
use proptest::strategy::Union;
use proptest::test_runner::{
    Config as RunnerConfig, RngAlgorithm, RngSeed, TestCaseError, TestRunner,
};
use serde_json::{Value, json};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::{Duration, Instant};
use tower::ServiceExt;

mod oracle;
mod requests;
mod routes;
mod state;
mod tokens;
mod wire;
use oracle::*;
use requests::*;
use routes::*;
use state::*;
use tokens::*;

/// The control token of the servers under test: control requests without it must get 1000.
const CONTROL_TOKEN: &str = "hostile-control-token";
/// A small body limit, so that bodies over it are cheap to generate (the wire layer sends a body
/// over the default limits).
const BODY_LIMIT: usize = 32 * 1024;
/// The frozen clock of the in-process server.
const START_MS: i64 = 1_790_000_000_000;

/// A number of cases from the environment.
fn env_count(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn hostile_config() -> Config {
    let mut c = crate::helpers::config();
    c.body_limit = BODY_LIMIT;
    c.control_token = Some(CONTROL_TOKEN.into());
    // Callbacks to the URLs the generator writes (a closed local port) fail at once, no retry.
    c.callbacks.retries = 0;
    c.callbacks.timeout = Duration::from_millis(200);
    c
}

// ---------------------------------------------------------------------------------------------
// What the fuzzer found, pinned
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_refused_clock_request_leaves_the_clock_alone() {
    let app = crate::helpers::spawn_app().await;
    let before = app.ctl_get("/__mock/clock").await.ok()["now_ms"].clone();
    for body in [
        json!({"set_ms": 1, "advance": "10000000000000y"}),
        json!({"mode": "real", "advance_ms": -5}),
        json!({"set_ms": 1, "mode": "paused"}),
    ] {
        app.ctl_post("/__mock/clock", body).await.err(400, 1201);
        let now = app.ctl_get("/__mock/clock").await;
        assert_eq!(now.ok()["now_ms"], before);
        assert_eq!(now.ok()["mode"], "frozen");
    }
}

#[tokio::test]
async fn extreme_clock_times_never_panic_and_ids_stay_unique() {
    let app = crate::helpers::spawn_app().await;
    // A running clock set to the far past stays in the far past (no overflow into the future).
    let a = app
        .ctl_post("/__mock/clock", json!({"mode": "real", "set_ms": i64::MIN}))
        .await;
    assert!(a.ok()["now_ms"].as_i64().unwrap() < 0, "{a:?}");
    // Resuming a clock frozen at the far past.
    app.ctl_post(
        "/__mock/clock",
        json!({"mode": "frozen", "set_ms": i64::MIN}),
    )
    .await
    .ok();
    app.ctl_post("/__mock/clock", json!({"mode": "real"}))
        .await
        .ok();
    // At the end of time, with a pack that never expires, ids still differ.
    app.ctl_put(
        &format!("/__mock/accounts/{AK}"),
        json!({"packs": [{"name": "forever", "total": 1000, "invalid_ms": i64::MAX}]}),
    )
    .await
    .ok();
    // (At i64::MAX itself the pack has expired: `now >= invalid_ms`.)
    app.ctl_post(
        "/__mock/clock",
        json!({"mode": "frozen", "set_ms": i64::MAX - 1}),
    )
    .await
    .ok();
    let mut ids = BTreeSet::new();
    for _ in 0..3 {
        let body = json!({"text": "hi", "voice_id": "oversea_male1", "voice_language": "en"});
        let a = app.post("/v1/audio/tts", body).await;
        let data = a.ok();
        ids.insert(data["task_id"].as_str().unwrap().to_string());
        ids.insert(
            data["task_result"]["audios"][0]["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(ids.len(), 6, "{ids:?}");
}
