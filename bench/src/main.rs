//! `kling-bench`: the benchmark harness of kling-mock (issue 6).
//!
//! One process: the mock in-process (release build), a baseline axum server answering a fixed
//! JSON body of the size of a task query answer, and a closed-loop HTTP/1.1 keep-alive client
//! over loopback recording every latency in an HDR histogram. See BENCHMARKS.md.

mod images;
mod load;
mod reliability;
mod scenarios;
mod selection;
mod store;
mod video;

use clap::Parser;
use load::{LoadResult, LoadSpec};
use scenarios::{addr_of, drive, start_mock};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A benchmark scenario.
struct Scenario {
    /// Its name (`--scenario NAME`).
    name: &'static str,
    /// Measured against the baseline server (which then runs too, as its reference).
    http: bool,
    /// Runs only when named (or in `--smoke`, briefly).
    only_when_named: bool,
}

const fn scenario(name: &'static str, http: bool) -> Scenario {
    Scenario {
        name,
        http,
        only_when_named: false,
    }
}

/// Every scenario, in the order they run (`rss` first, while the heap is fresh): the one list
/// that names them (`--scenario` values, the baseline's dependants, the run order).
const SCENARIOS: [Scenario; 20] = [
    scenario("rss", false),
    scenario("baseline", false),
    scenario("get-task", true),
    scenario("create-t2a", true),
    scenario("create-t2a-store", true),
    scenario("create-t2v", true),
    scenario("create-image", true),
    scenario("tts", true),
    scenario("list-1k", true),
    scenario("list-100k", true),
    scenario("list-1m", true),
    scenario("advance", false),
    scenario("startup", false),
    scenario("restart", false),
    scenario("kill-9", false),
    scenario("load", false),
    scenario("video", false),
    scenario("images", false),
    scenario("selection", false),
    Scenario {
        name: "soak",
        http: false,
        only_when_named: true,
    },
];

/// The scenario named `name`.
fn find(name: &str) -> Option<&'static Scenario> {
    SCENARIOS.iter().find(|s| s.name == name)
}

/// Every scenario's name, for `--scenario`'s check and help.
fn names() -> Vec<&'static str> {
    SCENARIOS.iter().map(|s| s.name).collect()
}

/// Why `startup` and the idle RSS are skipped.
const NO_BINARY: &str =
    "no kling-mock binary next to kling-bench (build it: cargo build --release -p kling-mock)";

/// Benchmark harness of kling-mock: throughput and latency against a baseline, list paging,
/// callbacks, startup and memory.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Run only these scenarios (repeatable). Default: all but `soak`.
    #[arg(long = "scenario", value_name = "NAME", value_parser = clap::builder::PossibleValuesParser::new(names()))]
    scenarios: Vec<String>,
    /// Keep-alive connections of the closed-loop client.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Warm-up before each measured window, seconds.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Measured window of each load scenario, seconds.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Cap on every seeded task count (list, rss, advance).
    #[arg(long)]
    max_tasks: Option<usize>,
    /// Tasks in the store of the `restart` scenario.
    #[arg(long, default_value_t = 1_000_000)]
    restart_tasks: usize,
    /// Tasks of the `advance` scenario.
    #[arg(long, default_value_t = 100_000)]
    advance_tasks: usize,
    /// Starts of the binary measured by `startup` (the median is reported).
    #[arg(long, default_value_t = 5)]
    startup_runs: usize,
    /// `load`: concurrent clients.
    #[arg(long, default_value_t = 64)]
    load_clients: usize,
    /// `load`: tasks created in all.
    #[arg(long, default_value_t = 100_000)]
    load_tasks: usize,
    /// `load`: creates/s in all, paced (0: as fast as the clients can).
    #[arg(long, default_value_t = 2000.0)]
    load_rate: f64,
    /// `load`: the receiver's delay before answering each callback, ms (a slow receiver).
    #[arg(long, default_value_t = 5)]
    receiver_delay_ms: u64,
    /// `load`: rounds, each an unloaded then a loaded run with its share of the tasks.
    #[arg(long, default_value_t = 10)]
    load_rounds: usize,
    /// `load`: real ms between clock advances; each advance moves the clock 100 times as far
    /// (the clock always runs 100× real time; smaller ticks release smaller bursts of changes).
    #[arg(long, default_value_t = 10)]
    load_tick_ms: u64,
    /// `soak`: how long, seconds.
    #[arg(long, default_value_t = 600.0)]
    soak_secs: f64,
    /// `soak`: requests/s in all (creates with callbacks, GETs, list pages).
    #[arg(long, default_value_t = 2000.0)]
    soak_rate: f64,
    /// `soak`: the mock's `--max-tasks`.
    #[arg(long, default_value_t = 100_000)]
    soak_max_tasks: usize,
    /// Run every scenario in this process instead of one child process per scenario (by default
    /// each scenario gets a fresh process, so one scenario's heap — a million stored tasks — and
    /// leftover tasks cannot slow the next).
    #[arg(long)]
    no_isolate: bool,
    /// Skip the open-loop runs at half of the closed loop's throughput (baseline, get-task,
    /// create-t2a, create-t2v, create-image, tts).
    #[arg(long)]
    no_half_load: bool,
    /// Tiny sizes (0.2 s windows, 2 connections, 1k tasks): checks that everything works.
    #[arg(long)]
    smoke: bool,
    /// `video`: also write the first MP4 it fetched to this file (to look at it).
    #[arg(long, value_name = "PATH")]
    video_out: Option<std::path::PathBuf>,
    /// Write the results as JSON to this file.
    #[arg(long, value_name = "PATH")]
    json: Option<std::path::PathBuf>,
}

/// One line of the results.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Row {
    scenario: String,
    label: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    rps: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    p50_us: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    p99_us: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    p999_us: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rps_ratio: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    p50_ratio: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    p99_ratio: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    p999_ratio: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    unit: Option<String>,
    note: String,
}

impl Row {
    fn load(scenario: &str, label: String, r: &LoadResult, base: Option<&Row>) -> Row {
        let (rps, p50, p99, p999) = (
            r.rps(),
            r.quantile_us(0.5),
            r.quantile_us(0.99),
            r.quantile_us(0.999),
        );
        let ratio = |a: f64, b: Option<f64>| b.filter(|b| *b > 0.0).map(|b| a / b);
        Row {
            scenario: scenario.into(),
            label,
            rps: Some(rps),
            p50_us: Some(p50),
            p99_us: Some(p99),
            p999_us: Some(p999),
            rps_ratio: ratio(rps, base.and_then(|b| b.rps)),
            p50_ratio: ratio(p50, base.and_then(|b| b.p50_us)),
            p99_ratio: ratio(p99, base.and_then(|b| b.p99_us)),
            p999_ratio: ratio(p999, base.and_then(|b| b.p999_us)),
            errors: Some(r.errors),
            note: format!("{} requests", r.requests),
            ..Default::default()
        }
    }

    fn metric(scenario: &str, label: String, value: f64, unit: &str, note: String) -> Row {
        Row {
            scenario: scenario.into(),
            label,
            value: Some(value),
            unit: Some(unit.into()),
            note,
            ..Default::default()
        }
    }

    fn skipped(scenario: &str, why: &str) -> Row {
        Row {
            scenario: scenario.into(),
            label: scenario.into(),
            note: format!("SKIPPED: {why}"),
            ..Default::default()
        }
    }

    fn failed(scenario: &str, why: String) -> Row {
        Row {
            scenario: scenario.into(),
            label: scenario.into(),
            note: format!("FAILED: {why}"),
            ..Default::default()
        }
    }
}

struct Sizes {
    spec_connections: usize,
    warmup: Duration,
    duration: Duration,
    list: [(&'static str, usize); 3],
    rss_tasks: usize,
    advance_tasks: usize,
    advance_limit: Duration,
    startup_runs: usize,
    half_load: bool,
    load_clients: usize,
    load_tasks: usize,
    load_rate: f64,
    receiver_delay: Duration,
    load_rounds: usize,
    load_tick: Duration,
    soak: Duration,
    soak_rate: f64,
    soak_max_tasks: usize,
    restart_tasks: usize,
    kill_secs: f64,
    smoke: bool,
    video_out: Option<std::path::PathBuf>,
}

/// Label mark of the open-loop runs at half the closed loop's throughput.
const HALF: &str = "at 50% load, open loop";

impl Sizes {
    fn of(a: &Args) -> Sizes {
        let cap = |n: usize| a.max_tasks.map_or(n, |m| n.min(m)).max(1);
        if a.smoke {
            let small = cap(1000);
            return Sizes {
                spec_connections: 2,
                warmup: Duration::from_millis(100),
                duration: Duration::from_millis(200),
                list: [("list-1k", small), ("list-100k", small), ("list-1m", small)],
                rss_tasks: small,
                restart_tasks: small,
                kill_secs: 0.5,
                advance_tasks: small,
                advance_limit: Duration::from_secs(30),
                startup_runs: 1,
                half_load: !a.no_half_load,
                load_clients: 8,
                load_tasks: small.min(2000),
                load_rate: a.load_rate,
                receiver_delay: Duration::from_millis(a.receiver_delay_ms),
                load_rounds: 2,
                load_tick: Duration::from_millis(a.load_tick_ms.max(1)),
                soak: Duration::from_secs(2),
                soak_rate: 200.0,
                soak_max_tasks: 100,
                smoke: true,
                video_out: a.video_out.clone(),
            };
        }
        Sizes {
            spec_connections: a.connections.max(1),
            warmup: Duration::from_secs_f64(a.warmup.max(0.0)),
            duration: Duration::from_secs_f64(a.duration.max(0.01)),
            list: [
                ("list-1k", cap(1_000)),
                ("list-100k", cap(100_000)),
                ("list-1m", cap(1_000_000)),
            ],
            rss_tasks: cap(1_000_000),
            restart_tasks: cap(a.restart_tasks),
            kill_secs: 3.0,
            advance_tasks: cap(a.advance_tasks),
            advance_limit: Duration::from_secs(120),
            startup_runs: a.startup_runs.max(1),
            half_load: !a.no_half_load,
            load_clients: a.load_clients.max(1),
            load_tasks: cap(a.load_tasks),
            load_rate: a.load_rate,
            receiver_delay: Duration::from_millis(a.receiver_delay_ms),
            load_rounds: a.load_rounds.max(1),
            load_tick: Duration::from_millis(a.load_tick_ms.max(1)),
            soak: Duration::from_secs_f64(a.soak_secs.max(1.0)),
            soak_rate: a.soak_rate,
            soak_max_tasks: a.soak_max_tasks,
            smoke: false,
            video_out: a.video_out.clone(),
        }
    }
}

fn mb(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

async fn run_scenario(
    name: &str,
    z: &Sizes,
    rows: &mut Vec<Row>,
    answer: &bytes::Bytes,
) -> Result<(), String> {
    let reference = |half: bool| {
        rows.iter()
            .find(|r| r.scenario == "baseline" && r.label.contains(HALF) == half)
            .map(|r| Row {
                rps: r.rps,
                p50_us: r.p50_us,
                p99_us: r.p99_us,
                p999_us: r.p999_us,
                ..Default::default()
            })
    };
    let base = reference(false);
    let half_base = reference(true);
    let spec = |addr| LoadSpec {
        addr,
        connections: z.spec_connections,
        warmup: z.warmup,
        duration: z.duration,
        rate: None,
    };
    match name {
        "baseline" => {
            let server = load::baseline(answer.clone()).await?;
            let make = scenarios::requests(server.addr, None, "GET", "/".into(), None);
            let r = load::run(spec(server.addr), make.clone()).await?;
            let mut row = Row::load(name, "baseline (fixed JSON)".into(), &r, None);
            row.note = format!("{}; body {} B", row.note, answer.len());
            rows.push(row);
            if z.half_load {
                let h = load::run(half(spec(server.addr), &r), make).await?;
                let label = half_label("baseline", &r);
                rows.push(Row::load(name, label, &h, None));
            }
        }
        "get-task" => {
            let mock = start_mock(0).await;
            let id = scenarios::seed(&mock, 1, None)?;
            mock.advance(Duration::from_secs(60));
            let path = format!("/v1/audio/text-to-audio/{id}");
            let request = ("GET one task", "GET", path, None);
            let (r, h) =
                closed_and_half(&mock, spec(addr_of(&mock)?), z.half_load, request).await?;
            rows.push(Row::load(name, "GET one task".into(), &r, base.as_ref()));
            if let Some((label, h)) = h {
                rows.push(Row::load(name, label, &h, half_base.as_ref()));
            }
        }
        "create-t2a" | "create-t2a-store" | "create-t2v" | "create-image" | "tts" => {
            let store_dir = (name == "create-t2a-store").then(|| {
                std::env::temp_dir().join(format!("kling-bench-create-{}", std::process::id()))
            });
            let mock = match &store_dir {
                Some(dir) => {
                    let _ = std::fs::remove_dir_all(dir);
                    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
                    scenarios::start_mock_with_store(&dir.join("create.db")).await
                }
                None => start_mock(0).await,
            };
            let request = if name == "create-t2v" {
                (
                    "POST text2video (kling-v2-6 pro 10 s, sound, watermark)",
                    "POST",
                    "/v1/videos/text2video".to_string(),
                    Some(
                        r#"{"model_name":"kling-v2-6","mode":"pro","duration":"10","sound":"on","prompt":"a fox in the snow","watermark_info":{"enabled":true}}"#,
                    ),
                )
            } else if name == "create-image" {
                (
                    "POST images/generations (kling-v3 2k, n 4, watermark)",
                    "POST",
                    "/v1/images/generations".to_string(),
                    Some(
                        r#"{"model_name":"kling-v3","prompt":"a lighthouse at dawn","resolution":"2k","n":4,"aspect_ratio":"3:2","watermark_info":{"enabled":true}}"#,
                    ),
                )
            } else if name == "tts" {
                (
                    "POST tts",
                    "POST",
                    "/v1/audio/tts".to_string(),
                    Some(
                        r#"{"text":"Hello from the mock","voice_id":"oversea_male1","voice_language":"en"}"#,
                    ),
                )
            } else {
                (
                    "POST text-to-audio",
                    "POST",
                    "/v1/audio/text-to-audio".to_string(),
                    Some(r#"{"prompt":"rain on a tin roof","duration":5}"#),
                )
            };
            let what = if store_dir.is_some() {
                "POST text-to-audio, --state-file (1 s window)"
            } else {
                request.0
            };
            let (r, h) =
                closed_and_half(&mock, spec(addr_of(&mock)?), z.half_load, request).await?;
            rows.push(Row::load(name, what.into(), &r, base.as_ref()));
            if let Some((label, h)) = h {
                rows.push(Row::load(name, label, &h, half_base.as_ref()));
            }
            drop(mock);
            if let Some(dir) = store_dir {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
        "restart" => {
            let Some(bin) = scenarios::mock_binary() else {
                rows.push(Row::skipped(name, NO_BINARY));
                return Ok(());
            };
            let r = store::restart(&bin, z.restart_tasks).await?;
            let n = r.tasks;
            rows.push(Row::metric(
                name,
                format!("spawn on a store of {n} tasks → first answer"),
                r.restart.as_secs_f64() * 1000.0,
                "ms",
                format!("the restored binary reports {} tasks", r.restored_tasks),
            ));
            let live_total = r.idle_rss + r.live_delta;
            rows.push(Row::metric(
                name,
                "RSS restored ÷ RSS of the same state built live".into(),
                r.restored_rss as f64 / live_total as f64,
                "×",
                format!(
                    "restored binary {:.1} MiB; live = idle binary {:.1} MiB + {:.1} MiB grown seeding the same {n} tasks in-process",
                    mb(r.restored_rss),
                    mb(r.idle_rss),
                    mb(r.live_delta)
                ),
            ));
            rows.push(Row::metric(
                name,
                "disk bytes per task".into(),
                r.file_bytes as f64 / n as f64,
                "B/task",
                format!(
                    "{:.1} MiB for {n} finished text-to-audio tasks (2 files, 1 media id each); the graceful stop wrote them in one window in {:.1} s",
                    mb(r.file_bytes),
                    r.final_flush.as_secs_f64()
                ),
            ));
        }
        "kill-9" => {
            let Some(bin) = scenarios::mock_binary() else {
                rows.push(Row::skipped(name, NO_BINARY));
                return Ok(());
            };
            let window = Duration::from_secs(1);
            let r = store::kill9(&bin, window, z.kill_secs, 16).await?;
            rows.push(Row::metric(
                name,
                format!("kill -9 under load, window {} ms: oldest lost create's age", r.window.as_millis()),
                r.oldest_lost_age.as_secs_f64() * 1000.0,
                "ms",
                format!(
                    "{} creates acknowledged at {:.0}/s over 16 connections, {} lost (acknowledged after the last committed window)",
                    r.acked, r.rate, r.lost
                ),
            ));
        }
        "list-1k" | "list-100k" | "list-1m" => {
            let n = z
                .list
                .iter()
                .find(|(l, _)| *l == name)
                .map_or(1000, |(_, n)| *n);
            let mock = start_mock(0).await;
            scenarios::seed(&mock, n, None)?;
            let deep = (n / 30).clamp(1, 1000);
            for page in [1, deep] {
                let path = format!("/v1/audio/text-to-audio?pageNum={page}&pageSize=30");
                let r = drive(&mock, spec(addr_of(&mock)?), "GET", path, None).await?;
                let label = format!("list n={n} pageNum={page}");
                rows.push(Row::load(name, label, &r, base.as_ref()));
            }
        }
        "video" => {
            let v = video::video(z.smoke, z.video_out.as_deref()).await?;
            let ms = |d: Duration| d.as_secs_f64() * 1000.0;
            let what = &v.what;
            for (label, value, unit, note) in [
                (
                    "register a video file (add_video)",
                    v.register.as_secs_f64() * 1e6,
                    "µs",
                    "what a create pays; the warm-up it queues runs on its own thread".to_string(),
                ),
                (
                    "first fetch, cold (no shared GOPs made)",
                    ms(v.cold),
                    "ms",
                    format!(
                        "{what}; {} bytes; {:.0} ms CPU",
                        v.file_bytes,
                        ms(v.cold_cpu)
                    ),
                ),
                (
                    "first fetch of a second task, same variant",
                    ms(v.shared),
                    "ms",
                    format!(
                        "its own first second encoded, the other GOPs shared; {:.0} ms CPU",
                        ms(v.shared_cpu)
                    ),
                ),
                (
                    "repeat fetch (from memory)",
                    ms(v.repeat),
                    "ms",
                    "median".into(),
                ),
                (
                    "Range: bytes=0-1048575 (206)",
                    ms(v.range),
                    "ms",
                    "median".into(),
                ),
                (
                    "memory of one cached variant (shared GOPs)",
                    v.variant_bytes as f64 / 1024.0,
                    "KiB",
                    format!("a cached file: {} KiB", v.file_bytes / 1024),
                ),
            ] {
                rows.push(Row::metric(name, label.into(), value, unit, note));
            }
        }
        "images" => {
            let ms = |d: Duration| d.as_secs_f64() * 1000.0;
            for b in images::images(z.smoke).await? {
                let what = &b.what;
                for (label, value, unit, note) in [
                    (
                        format!("{what}: first fetch, cold"),
                        ms(b.cold),
                        "ms",
                        format!("{} bytes; {:.0} ms CPU", b.file_bytes, ms(b.cold_cpu)),
                    ),
                    (
                        format!("{what}: repeat fetch (from memory)"),
                        ms(b.warm),
                        "ms",
                        "median".into(),
                    ),
                    (
                        format!("{what}: memory of one cached image"),
                        b.cached_bytes as f64 / 1024.0,
                        "KiB",
                        format!(
                            "the cache's bytes for it; its description (media::ImageFile) is {} B",
                            std::mem::size_of::<kling_mock::media::ImageFile>()
                        ),
                    ),
                ] {
                    rows.push(Row::metric(name, label, value, unit, note));
                }
            }
        }
        "selection" => {
            for b in selection::selection(z.smoke).await? {
                rows.push(Row::metric(
                    name,
                    format!("{}: add-selection (3 points), answered", b.what),
                    b.add.as_secs_f64() * 1000.0,
                    "ms",
                    format!(
                        "median; the answer {} B, its mask PNG {} B (mask, COCO RLE and PNG made per call)",
                        b.body_bytes, b.png_bytes
                    ),
                ));
            }
        }
        "advance" => {
            let a = scenarios::advance(z.advance_tasks, z.advance_limit).await?;
            let n = a.tasks;
            rows.push(Row::metric(
                name,
                format!("engine.advance of {n} tasks"),
                a.advance.as_secs_f64() * 1000.0,
                "ms",
                String::new(),
            ));
            rows.push(Row::metric(
                name,
                "terminal callbacks delivered / s".into(),
                (n - a.lost) as f64 / a.delivered_in.as_secs_f64(),
                "/s",
                format!(
                    "{n} tasks in {:.0} ms; {} callbacks received (all statuses)",
                    a.delivered_in.as_secs_f64() * 1000.0,
                    a.callbacks
                ),
            ));
            rows.push(Row::metric(
                name,
                "terminal callbacks lost".into(),
                a.lost as f64,
                "tasks",
                format!(
                    "of {n}, not received within {} s; mock counters: delivered {}, failed {}, dropped {}",
                    z.advance_limit.as_secs(),
                    a.mock_stats.0,
                    a.mock_stats.1,
                    a.mock_stats.2
                ),
            ));
        }
        "startup" => {
            let Some(bin) = scenarios::mock_binary() else {
                rows.push(Row::skipped(name, NO_BINARY));
                return Ok(());
            };
            let mut times = Vec::new();
            for _ in 0..z.startup_runs {
                times.push(scenarios::spawn_once(&bin, Duration::ZERO).await?.0);
            }
            times.sort();
            let med = times[times.len() / 2];
            rows.push(Row::metric(
                name,
                "spawn → first answered request".into(),
                med.as_secs_f64() * 1000.0,
                "ms",
                format!(
                    "median of {} (min {:.1} ms, max {:.1} ms)",
                    times.len(),
                    times[0].as_secs_f64() * 1000.0,
                    times[times.len() - 1].as_secs_f64() * 1000.0
                ),
            ));
        }
        "rss" => {
            match scenarios::mock_binary() {
                Some(bin) => {
                    let (_, rss) = scenarios::spawn_once(&bin, Duration::from_millis(500)).await?;
                    let rss = rss.ok_or("cannot read the child's VmRSS")?;
                    rows.push(Row::metric(
                        name,
                        "idle RSS of kling-mock (binary)".into(),
                        mb(rss),
                        "MiB",
                        "VmRSS 0.5 s after the first answer".into(),
                    ));
                }
                None => rows.push(Row::skipped("rss", NO_BINARY)),
            }
            let n = z.rss_tasks;
            let mock = start_mock(0).await;
            let before = scenarios::rss_bytes("self").ok_or("no /proc/self/status")?;
            scenarios::seed(&mock, n, None)?;
            let after = scenarios::rss_bytes("self").ok_or("no /proc/self/status")?;
            let per = after.saturating_sub(before) as f64 / n as f64;
            rows.push(Row::metric(
                name,
                format!("RSS per stored task (n={n})"),
                per,
                "B/task",
                format!("in-process VmRSS {:.1} → {:.1} MiB", mb(before), mb(after)),
            ));
        }
        "load" => {
            let r = reliability::load(
                z.load_clients,
                z.load_tasks,
                z.load_rate,
                z.receiver_delay,
                Duration::from_secs(600),
                z.load_rounds,
                z.load_tick,
            )
            .await?;
            let (u, l) = (r.unloaded, r.loaded);
            let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
            for (label, q) in [("unloaded (no callbacks, clock still)", u), ("loaded", l)] {
                rows.push(Row {
                    scenario: name.into(),
                    label: format!(
                        "{} clients, {} creates at {} /s + GETs: {label}",
                        r.clients, r.tasks, r.rate
                    ),
                    rps: Some(q.0),
                    p50_us: Some(q.1),
                    p99_us: Some(q.2),
                    p999_us: Some(q.3),
                    p99_ratio: Some(ratio(q.2, u.2)),
                    errors: Some(if label == "loaded" { r.errors } else { 0 }),
                    note: if label == "loaded" {
                        format!(
                            "callbacks to a receiver answering after {} ms, clock {} s / {} ms; ×p99 vs unloaded; {} rounds, ×p99 per round: {}",
                            r.receiver_delay.as_millis(),
                            r.tick.as_secs_f64() * 100.0,
                            r.tick.as_millis(),
                            r.round_ratios.len(),
                            r.round_ratios
                                .iter()
                                .map(|x| format!("{x:.2}"))
                                .collect::<Vec<_>>()
                                .join(" ")
                        )
                    } else {
                        format!("req/s counts creates and GETs; {} errors", r.errors)
                    },
                    ..Default::default()
                });
            }
            let m = |label: &str, v: f64, unit: &str, note: String| {
                Row::metric(name, label.into(), v, unit, note)
            };
            rows.push(m(
                "tasks not terminal at the end",
                r.not_terminal as f64,
                "tasks",
                format!("of {}", r.tasks),
            ));
            rows.push(m(
                "tasks listed (every page walked)",
                r.listed as f64,
                "tasks",
                format!("exactly the created ids: {}", r.list_matches),
            ));
            rows.push(m(
                "callbacks received",
                r.callbacks as f64,
                "callbacks",
                format!(
                    "in {:.1} s; mock counters: delivered {}, failed {}, dropped {}",
                    r.total.as_secs_f64(),
                    r.mock_stats.0,
                    r.mock_stats.1,
                    r.mock_stats.2
                ),
            ));
            rows.push(m(
                "tasks with a status sequence out of order or incomplete",
                r.bad_sequences as f64,
                "tasks",
                "expected submitted → processing → succeed|failed (repeats folded)".into(),
            ));
            rows.push(m(
                "terminal callbacks lost",
                r.lost as f64,
                "tasks",
                String::new(),
            ));
            if r.not_terminal > 0
                || !r.list_matches
                || r.bad_sequences > 0
                || r.lost > 0
                || r.mock_stats.2 > 0
            {
                return Err(format!("load lost or disordered something: {r:?}"));
            }
        }
        "soak" => {
            let r = reliability::soak(
                z.soak,
                z.soak_rate,
                z.soak_max_tasks,
                (z.soak / 20).max(Duration::from_millis(500)),
            )
            .await?;
            let skip = r.samples.len() / 5;
            let steady = &r.samples[skip.min(r.samples.len().saturating_sub(1))..];
            let min = steady.iter().map(|s| s.rss).min().unwrap_or(0);
            let max = steady.iter().map(|s| s.rss).max().unwrap_or(0);
            let (first, last) = (
                steady.first().map_or(0, |s| s.rss),
                steady.last().map_or(0, |s| s.rss),
            );
            rows.push(Row::metric(
                name,
                format!(
                    "RSS over the last 80% of {:.0} s ({} req/s)",
                    z.soak.as_secs_f64(),
                    z.soak_rate
                ),
                mb(max),
                "MiB max",
                format!(
                    "min {:.1} MiB, first {:.1}, last {:.1}; {} requests, {} errors, {} callbacks; tasks stored at the end {} (cap {}), evicted {}; media evicted {}; {:.1} virtual days",
                    mb(min),
                    mb(first),
                    mb(last),
                    r.requests,
                    r.errors,
                    r.callbacks,
                    r.samples.last().map_or(0, |s| s.counts.0),
                    z.soak_max_tasks,
                    r.evicted.0,
                    r.evicted.1,
                    r.virtual_days
                ),
            ));
            let series: Vec<String> = r.samples.iter().map(|s| s.to_string()).collect();
            eprintln!("kling-bench: soak samples: {}", series.join(", "));
            if r.errors > 0 {
                return Err(format!("soak: {} requests failed", r.errors));
            }
        }
        other => return Err(format!("unknown scenario {other}")),
    }
    Ok(())
}

/// A scenario's closed-loop run, then (when `half_load`) the same requests open loop at half the
/// throughput it reached, labelled for its row.
async fn closed_and_half(
    mock: &kling_mock::MockServer,
    spec: LoadSpec,
    half_load: bool,
    (what, method, path, body): (&str, &'static str, String, Option<&'static str>),
) -> Result<(LoadResult, Option<(String, LoadResult)>), String> {
    let r = drive(mock, spec, method, path.clone(), body).await?;
    if !half_load {
        return Ok((r, None));
    }
    let h = drive(mock, half(spec, &r), method, path, body).await?;
    let label = half_label(what, &r);
    Ok((r, Some((label, h))))
}

/// `spec`, open loop at half the throughput `max` reached.
fn half(spec: LoadSpec, max: &LoadResult) -> LoadSpec {
    LoadSpec {
        rate: Some(max.rps() / 2.0),
        ..spec
    }
}

/// The row label of a half-load run.
fn half_label(what: &str, max: &LoadResult) -> String {
    format!("{what} {HALF} ({:.0} req/s)", max.rps() / 2.0)
}

fn fmt_opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.digits$}"))
}

fn print_table(rows: &[Row]) {
    println!(
        "| scenario | what | req/s | p50 µs | p99 µs | p99.9 µs | ×rps | ×p50 | ×p99 | ×p99.9 | errors | value | note |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for r in rows {
        let value = match (r.value, &r.unit) {
            // A ratio needs its second decimal (0.96 against a target of 1.2).
            (Some(v), Some(u)) if u == "×" => format!("{v:.2} {u}"),
            (Some(v), Some(u)) => format!("{v:.1} {u}"),
            _ => "-".into(),
        };
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.scenario,
            r.label,
            fmt_opt(r.rps, 0),
            fmt_opt(r.p50_us, 0),
            fmt_opt(r.p99_us, 0),
            fmt_opt(r.p999_us, 0),
            fmt_opt(r.rps_ratio, 2),
            fmt_opt(r.p50_ratio, 2),
            fmt_opt(r.p99_ratio, 2),
            fmt_opt(r.p999_ratio, 2),
            r.errors.map_or("-".into(), |e| e.to_string()),
            value,
            r.note
        );
    }
}

/// Run `scenario` in a child process (this binary, the same flags, `--no-isolate`) and read its
/// rows back.
fn run_child(scenario: &str) -> Result<Vec<Row>, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut pass = Vec::new();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--scenario" | "--json" => {
                it.next();
            }
            _ if a.starts_with("--scenario=") || a.starts_with("--json=") => {}
            _ => pass.push(a),
        }
    }
    let out = std::env::temp_dir().join(format!(
        "kling-bench-{}-{scenario}.json",
        std::process::id()
    ));
    let status = std::process::Command::new(exe)
        .args(&pass)
        .args(["--no-isolate", "--scenario", scenario, "--json"])
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(|e| format!("cannot start the child: {e}"))?;
    let text = std::fs::read_to_string(&out).map_err(|e| format!("no results ({status}): {e}"))?;
    let _ = std::fs::remove_file(&out);
    serde_json::from_str(&text).map_err(|e| format!("unreadable results: {e}"))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let z = Sizes::of(&args);
    let mut selected: Vec<&'static Scenario> = if args.scenarios.is_empty() {
        SCENARIOS
            .iter()
            .filter(|s| !s.only_when_named || args.smoke)
            .collect()
    } else {
        // clap has checked the names against the list.
        args.scenarios.iter().filter_map(|s| find(s)).collect()
    };
    // The baseline is the reference of every HTTP scenario: measure it whenever one runs.
    let any_http = selected.iter().any(|s| s.http);
    if any_http && !selected.iter().any(|s| s.name == "baseline") {
        selected.extend(find("baseline"));
    }
    selected.sort_by_key(|s| SCENARIOS.iter().position(|a| a.name == s.name));
    let selected: Vec<&'static str> = selected.iter().map(|s| s.name).collect();
    let answer = match scenarios::task_answer_size().await {
        Ok((_, body)) => body,
        Err(e) => {
            eprintln!("kling-bench: cannot read a task answer: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    eprintln!(
        "kling-bench: {} connections, warm-up {:?}, window {:?}, scenarios: {}",
        z.spec_connections,
        z.warmup,
        z.duration,
        selected.join(", ")
    );
    let mut rows = Vec::new();
    let mut failed = false;
    let isolate = !args.no_isolate && selected.len() > 1;
    for name in selected.iter().copied() {
        if isolate {
            // Every HTTP scenario's child measures its own baseline right before it.
            if name == "baseline" && any_http {
                continue;
            }
            eprintln!("kling-bench: running {name} (own process)");
            match run_child(name) {
                Ok(mut r) => rows.append(&mut r),
                Err(e) => {
                    failed = true;
                    rows.push(Row::failed(name, e));
                }
            }
            continue;
        }
        eprintln!("kling-bench: running {name}");
        if let Err(e) = run_scenario(name, &z, &mut rows, &answer).await {
            failed = true;
            rows.push(Row::failed(name, e));
        }
    }
    for r in &rows {
        if r.note.starts_with("FAILED") || r.errors.is_some_and(|e| e > 0) {
            failed = true;
        }
        if r.label == "terminal callbacks lost" && r.value.is_some_and(|v| v > 0.0) {
            failed = true;
        }
    }
    print_table(&rows);
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&rows).unwrap_or_default();
        if let Err(e) = std::fs::write(path, json) {
            eprintln!("kling-bench: cannot write {}: {e}", path.display());
            return std::process::ExitCode::FAILURE;
        }
    }
    if failed {
        eprintln!(
            "kling-bench: some scenario failed, had errors or lost callbacks (see the table)"
        );
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    }
}
