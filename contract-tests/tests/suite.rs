//! The whole suite against an in-process kling-mock, plus the harness's own safety rails
//! (budget, dry run, remote targets, reports, exit codes).
//! `KLING_CONTRACT_CASES` raises the case count (default 8 here, to keep CI quick).

use clap::Parser;
use kling_contract::report::Outcome;
use kling_contract::target::{Account, RemoteSpec};
use kling_contract::{Options, run};
use std::process::Command;

fn cases() -> u32 {
    std::env::var("KLING_CONTRACT_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(8)
}

#[test]
fn every_property_holds_for_the_in_process_mock() {
    let r = run(Options {
        cases: cases(),
        seed: Some(20261121),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(r.reports.len(), 13);
    for p in &r.reports {
        assert!(
            matches!(p.outcome, Outcome::Passed { cases } if cases >= 1),
            "{} did not pass: {:#?}",
            p.name,
            p.outcome
        );
    }
    assert!(r.spent > 0);
}

#[test]
fn with_no_budget_only_the_free_properties_run_and_nothing_is_billed() {
    let r = run(Options {
        cases: 6,
        seed: Some(3),
        budget: Some(0),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(r.spent, 0);
    for name in ["envelope", "validation", "auth", "paging"] {
        assert!(
            matches!(r.report(name).unwrap().outcome, Outcome::Passed { .. }),
            "{name}: {:?}",
            r.report(name)
        );
    }
    for name in [
        "lifecycle",
        "identity",
        "isolation",
        "voices",
        "callbacks",
        "selection",
        "media",
    ] {
        assert!(
            matches!(r.report(name).unwrap().outcome, Outcome::Skipped { .. }),
            "{name}: {:?}",
            r.report(name)
        );
    }
}

#[test]
fn a_dry_run_prints_what_it_would_create_and_sends_none_of_it() {
    let r = run(Options {
        cases: 40,
        seed: Some(5),
        dry_run: true,
        properties: vec!["validation".into(), "media".into()],
        ..Default::default()
    })
    .unwrap();
    assert_eq!(r.spent, 0);
    assert!(
        !r.dry_run_log.is_empty(),
        "validation meets accepted requests and logs them"
    );
    assert!(
        r.dry_run_log.iter().all(|l| l.starts_with("POST /v1/")),
        "{:?}",
        r.dry_run_log
    );
    assert!(matches!(
        r.report("media").unwrap().outcome,
        Outcome::Skipped { .. }
    ));
}

#[test]
fn an_unknown_property_is_an_error() {
    let e = run(Options {
        properties: vec!["nope".into()],
        ..Default::default()
    })
    .unwrap_err();
    assert!(e.contains("unknown property 'nope'"), "{e}");
}

/// A kling-mock served from its own runtime thread, reached only over HTTP (like a container):
/// fast timings, two accounts. Stops when dropped.
struct MockProcess {
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for MockProcess {
    fn drop(&mut self) {
        let _ = self.stop.take().map(|s| s.send(()));
        let _ = self.thread.take().map(|t| t.join());
    }
}

fn mock_process() -> MockProcess {
    mock_process_with(&[])
}

fn mock_process_with(extra: &[&str]) -> MockProcess {
    let mut args = vec![
        "kling-mock",
        "--bind",
        "127.0.0.1:0",
        "--account",
        "p-ak:p-sk",
        "--account",
        "p-ak2:p-sk2",
        "--timing",
        "text-to-audio=0s/150ms",
        "--timing",
        "custom-voice=0s/150ms",
        "--callback-backoff",
        "50ms",
    ];
    args.extend_from_slice(extra);
    let cli = kling_mock::Cli::parse_from(args);
    let (url_tx, url_rx) = std::sync::mpsc::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let server = kling_mock::Server::bind(cli.into()).await.unwrap();
            url_tx.send(server.base_url()).unwrap();
            server
                .run(async move {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
    });
    let url = url_rx.recv().expect("the mock starts");
    MockProcess {
        url,
        stop: Some(stop),
        thread: Some(thread),
    }
}

fn spec(url: &str, second: bool) -> RemoteSpec {
    RemoteSpec {
        base_url: url.to_string(),
        account: Account {
            access_key: "p-ak".into(),
            secret_key: "p-sk".into(),
        },
        control_token: None,
        second: second.then(|| Account {
            access_key: "p-ak2".into(),
            secret_key: "p-sk2".into(),
        }),
    }
}

#[test]
fn a_remote_target_runs_in_real_time_and_defaults_to_no_budget() {
    let mock = mock_process();
    let free = run(Options {
        remote: Some(spec(&mock.url, true)),
        cases: 4,
        seed: Some(9),
        ..Default::default()
    })
    .unwrap();
    assert!(free.passed(), "{:#?}", free.reports);
    assert_eq!(
        free.spent, 0,
        "a remote target spends nothing unless given a budget"
    );
    assert!(matches!(
        free.report("lifecycle").unwrap().outcome,
        Outcome::Skipped { .. }
    ));

    let paid = run(Options {
        remote: Some(spec(&mock.url, true)),
        mock_target: true,
        cases: 3,
        seed: Some(9),
        properties: vec!["lifecycle".into(), "isolation".into(), "callbacks".into()],
        ..Default::default()
    })
    .unwrap();
    assert!(paid.passed(), "{:#?}", paid.reports);
    assert!(
        paid.reports
            .iter()
            .all(|r| matches!(r.outcome, Outcome::Passed { .. })),
        "{:#?}",
        paid.reports
    );
}

#[test]
fn a_budget_caps_billable_creates() {
    let mock = mock_process();
    let r = run(Options {
        remote: Some(spec(&mock.url, false)),
        budget: Some(2),
        cases: 6,
        seed: Some(11),
        properties: vec!["validation".into(), "media".into()],
        ..Default::default()
    })
    .unwrap();
    assert!(r.spent <= 2, "spent {}", r.spent);
    assert!(r.passed(), "{:#?}", r.reports);
    assert!(
        r.report("isolation").is_none(),
        "only the named properties run"
    );
}

#[test]
fn the_binary_writes_reports_and_exits_zero_only_when_all_pass() {
    let mock = mock_process();
    let dir = std::env::temp_dir().join(format!("kling-contract-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (junit, json) = (dir.join("r.xml"), dir.join("r.json"));
    let ok = Command::new(env!("CARGO_BIN_EXE_kling-contract"))
        .args([
            "--base-url",
            &mock.url,
            "--access-key",
            "p-ak",
            "--secret-key",
            "p-sk",
            "--cases",
            "3",
            "--property",
            "auth",
        ])
        .arg("--junit")
        .arg(&junit)
        .arg("--json")
        .arg(&json)
        .env_remove("KLING_CONTRACT_CASES")
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(
        stdout.contains("auth") && stdout.contains("1 passed, 0 failed"),
        "{stdout}"
    );
    assert!(
        std::fs::read_to_string(&junit)
            .unwrap()
            .contains("<testcase classname=\"kling-contract\" name=\"auth\"")
    );
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(j["properties"][0]["result"], "passed");

    // Wrong keys: every request is refused, so validation cannot hold.
    let bad = Command::new(env!("CARGO_BIN_EXE_kling-contract"))
        .args([
            "--base-url",
            &mock.url,
            "--access-key",
            "p-ak",
            "--secret-key",
            "wrong",
            "--cases",
            "3",
            "--property",
            "validation",
        ])
        .output()
        .unwrap();
    assert_eq!(
        bad.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("replay: kling-contract --seed"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn rate_limit_answers_are_waited_out_not_failed() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};
    // A stub that answers 429 / 1303 (with Retry-After: 0) twice, then succeeds.
    let hits = Arc::new(AtomicU32::new(0));
    let (url_tx, url_rx) = std::sync::mpsc::channel();
    let h = hits.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let app = axum::Router::new().fallback(move || {
                let n = h.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n < 2 {
                        (
                            axum::http::StatusCode::TOO_MANY_REQUESTS,
                            [("retry-after", "0")],
                            r#"{"code":1303,"message":"parallel task over resource pack limit","request_id":"x"}"#,
                        )
                    } else {
                        (axum::http::StatusCode::OK, [("retry-after", "0")], r#"{"code":0,"message":"SUCCEED","request_id":"y","data":[]}"#)
                    }
                }
            });
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            url_tx.send(format!("http://{}", l.local_addr().unwrap())).unwrap();
            axum::serve(l, app).await.unwrap();
        });
    });
    let url = url_rx.recv().unwrap();
    let t = kling_contract::target::Target::remote(spec(&url, false), false, None);
    let r = t.call(&kling_contract::target::Request::get(
        "/v1/audio/text-to-audio",
    ));
    assert!(r.is_success(), "{r}");
    assert_eq!(hits.load(Ordering::SeqCst), 3);
    assert_eq!(t.throttled.load(Ordering::Relaxed), 2);
}

#[test]
fn a_mock_target_without_a_control_plane_falls_back_to_waiting() {
    let mock = mock_process_with(&["--no-control"]);
    let r = run(Options {
        remote: Some(spec(&mock.url, false)),
        mock_target: true,
        cases: 2,
        seed: Some(4),
        properties: vec!["lifecycle".into()],
        ..Default::default()
    })
    .unwrap();
    assert!(
        matches!(
            r.report("lifecycle").unwrap().outcome,
            Outcome::Passed { .. }
        ),
        "{:#?}",
        r.reports
    );
}

#[test]
fn a_mock_target_is_left_as_the_run_found_it() {
    use kling_contract::target::{Auth, Request, Target};
    let mock = mock_process();
    let t = Target::remote(spec(&mock.url, false), true, None);
    // Someone's own task on the shared mock, before the run.
    let mine = t.call(&Request::post(
        "/v1/audio/text-to-audio",
        serde_json::json!({"prompt": "mine", "duration": 3, "external_task_id": "mine"}),
    ));
    assert!(mine.is_success(), "{mine}");
    let state = |t: &Target| {
        let r = t.call(&Request::get("/__mock/state").auth(Auth::None));
        assert!(r.is_success(), "{r}");
        let accounts: Vec<(String, usize)> = r.data()["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                let tasks = a["tasks"]
                    .as_object()
                    .unwrap()
                    .values()
                    .flat_map(|by_status| by_status.as_object().unwrap().values())
                    .map(|n| n.as_u64().unwrap() as usize)
                    .sum();
                (a["access_key"].as_str().unwrap().to_string(), tasks)
            })
            .collect();
        let clock = t.call(&Request::get("/__mock/clock").auth(Auth::None));
        (accounts, clock.data()["offset_ms"].as_i64().unwrap())
    };
    let (before, offset_before) = state(&t);
    assert_eq!(before, [("p-ak".to_string(), 1), ("p-ak2".to_string(), 0)]);

    // Given one account only, the run still checks isolation: in accounts of its own.
    let r = run(Options {
        remote: Some(spec(&mock.url, false)),
        mock_target: true,
        cases: 3,
        seed: Some(21),
        properties: vec!["lifecycle".into(), "isolation".into(), "callbacks".into()],
        ..Default::default()
    })
    .unwrap();
    assert!(
        r.reports
            .iter()
            .all(|r| matches!(r.outcome, Outcome::Passed { .. })),
        "{:#?}",
        r.reports
    );
    let notes = r.notes.join("\n");
    assert!(
        notes.contains("accounts of its own")
            && notes.matches("removed the run's account").count() == 2
            && notes.contains("set the clock back"),
        "{notes}"
    );

    // As found: the same accounts with the same tasks, the clock on wall time again (the run
    // moved it ahead to finish its tasks without waiting).
    let (after, offset_after) = state(&t);
    assert_eq!(after, before);
    assert!(
        (offset_after - offset_before).abs() < 1000,
        "clock offset {offset_before} ms before the run, {offset_after} ms after"
    );
    let still_mine = t.call(&Request::get("/v1/audio/text-to-audio/mine"));
    assert!(still_mine.is_success(), "{still_mine}");
}

#[test]
fn a_paying_target_gets_the_cheapest_video_bodies() {
    use kling_contract::model::Contract;
    let mock = mock_process();
    let r = run(Options {
        remote: Some(spec(&mock.url, false)),
        dry_run: true,
        cases: 300,
        seed: Some(13),
        properties: vec!["validation".into()],
        ..Default::default()
    })
    .unwrap();
    let c = Contract::load().unwrap();
    let mut videos = 0;
    for line in &r.dry_run_log {
        let (path, json) = line
            .strip_prefix("POST ")
            .and_then(|l| l.split_once(' '))
            .expect("POST <path> <body>");
        let Some(f) = c.families.iter().find(|f| {
            c.endpoint(&f.create).path == path && c.endpoint(&f.create).capabilities.is_some()
        }) else {
            continue;
        };
        let body: serde_json::Value = serde_json::from_str(json).unwrap();
        let example = kling_contract::bodies::example_with_stand_ins(&c, f);
        assert_eq!(
            c.unit_cost(&f.create, &body),
            c.unit_cost(&f.create, &example),
            "{line}"
        );
        videos += 1;
    }
    assert!(videos > 3, "{:#?}", r.dry_run_log);
}

#[test]
fn the_budget_counts_each_create_at_its_unit_cost() {
    let r = run(Options {
        cases: 8,
        seed: Some(17),
        budget: Some(6),
        properties: vec!["identity".into(), "lifecycle".into()],
        ..Default::default()
    })
    .unwrap();
    assert!(r.spent_units <= 6.0, "{} units", r.spent_units);
    assert!(
        r.spent_units >= r.spent as f64,
        "every create costs a unit or more"
    );
    for p in &r.reports {
        assert!(!p.failed(), "{p:#?}");
    }
}
