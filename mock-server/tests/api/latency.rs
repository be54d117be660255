//! Latency is asynchronous: many delayed requests wait together, not one after another.
//! Runs the router in-process on tokio's paused clock, so the check is exact and independent of
//! the machine's speed (no wall-clock assertion).

use axum::body::Body;
use axum::http::Request;
use kling_mock::control::rules::{Delay, Latency};
use kling_mock::state::AppState;
use kling_mock::{Clock, Config};
use std::time::Duration;
use tower::ServiceExt;

#[tokio::test(start_paused = true)]
async fn a_thousand_delayed_requests_finish_in_about_one_delay() {
    let state = AppState::new(
        Config {
            seed: Some(1),
            ..Config::default()
        }
        .settings(),
        Clock::frozen(1_790_000_000_000),
        "http://mock.test".into(),
    );
    state
        .control
        .set_latency(Latency {
            global: Some(Delay::Fixed { ms: 2_000 }),
            routes: vec![],
        })
        .unwrap();
    let app = kling_mock::api::router(state.clone());
    let start = tokio::time::Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..1000 {
        let app = app.clone();
        set.spawn(async move {
            let req = Request::get("/v1/general/presets-voices")
                .body(Body::empty())
                .unwrap();
            app.oneshot(req).await.unwrap().status()
        });
    }
    let mut answered = 0;
    while let Some(status) = set.join_next().await {
        assert_eq!(
            status.unwrap(),
            401,
            "no token: the delay applies before the handler refuses it"
        );
        answered += 1;
    }
    assert_eq!(answered, 1000);
    let took = start.elapsed();
    // On tokio's paused clock, time only moves when every task is waiting: one 2 s delay for all
    // of them means 2 s of virtual time; a serialised delay would mean 2000 s.
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(3),
        "took {took:?} of virtual time"
    );
    let j = state.control.journal.query(&Default::default());
    assert_eq!(j.len(), 1000);
    assert!(j.iter().all(|e| e.delay_ms == 2_000));
}
