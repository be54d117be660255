//! The reliability scenarios of issue 7: `load` (many clients create tasks with callbacks to a
//! slow receiver while the clock runs: nothing lost, order kept, lists agree, API p99 against
//! the unloaded figure) and `soak` (steady mixed load for minutes: memory stays flat).

use crate::load::{self, Sender, Served};
use crate::scenarios::{addr_of, rss_bytes, token};
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::Full;
use hyper::Request;
use kling_mock::config::Config;
use kling_mock::{Clock, MockServer};
use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Status codes as the receiver records them.
const SUBMITTED: u8 = 1;
const PROCESSING: u8 = 2;
const SUCCEED: u8 = 3;
const FAILED: u8 = 4;
const OTHER: u8 = 9;

/// The fields of a callback body the receiver reads (the body is the task object, no envelope).
#[derive(serde::Deserialize)]
struct Callback<'a> {
    task_id: &'a str,
    task_status: &'a str,
}

/// What the ordered receiver saw.
#[derive(Debug, Default)]
pub struct Ordered {
    /// Every POST received.
    pub total: AtomicU64,
    /// Per task id, the statuses in the order they arrived.
    pub seen: Mutex<HashMap<u64, Vec<u8>>>,
}

/// A callback receiver that records every status per task, in arrival order, then answers 200
/// after `delay` (a slow receiver).
pub async fn ordered_receiver(delay: Duration) -> Result<(Served, Arc<Ordered>), String> {
    let seen = Arc::new(Ordered::default());
    let s = seen.clone();
    let router = axum::Router::new().fallback(move |body: Bytes| {
        let s = s.clone();
        async move {
            s.total.fetch_add(1, Ordering::Relaxed);
            // A typed, borrowing parse: the receiver shares the cores with the mock, so it
            // should cost as little as a real receiver on another machine would cost it.
            if let Ok(cb) = serde_json::from_slice::<Callback<'_>>(&body) {
                let status = match cb.task_status {
                    "submitted" => SUBMITTED,
                    "processing" => PROCESSING,
                    "succeed" => SUCCEED,
                    "failed" => FAILED,
                    _ => OTHER,
                };
                let id = cb.task_id.parse().unwrap_or(0);
                s.seen
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .entry(id)
                    .or_default()
                    .push(status);
            }
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            "ok"
        }
    });
    Ok((load::serve_router(router).await?, seen))
}

/// Wait (until `deadline` at most) for every task of `mock` to reach its end and every callback
/// to be out.
async fn settle(mock: &MockServer, deadline: Instant) {
    while mock.state().engine.pending_transitions() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = tokio::time::timeout(
        deadline.saturating_duration_since(Instant::now()),
        mock.state().engine.callbacks_idle(),
    )
    .await;
}

/// A runtime of its own for one party of a scenario (the mock, the receiver), shut down in the
/// background when dropped.
pub struct Side(Option<tokio::runtime::Runtime>);

impl Side {
    /// A multi-thread runtime of `threads` workers named `name`.
    pub fn new(name: &str, threads: usize) -> Result<Side, String> {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name(name)
            .enable_all()
            .build()
            .map(|rt| Side(Some(rt)))
            .map_err(|e| format!("cannot build the {name} runtime: {e}"))
    }

    /// Run `f` there (what it spawns stays there) and wait for it.
    pub async fn run<F>(&self, f: F) -> Result<F::Output, String>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let rt = self.0.as_ref().ok_or("runtime gone")?;
        rt.spawn(f).await.map_err(|e| e.to_string())
    }
}

impl Drop for Side {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// Moves the mock's (frozen) clock by `step` every `every` of real time until stopped: "the
/// clock runs", fast. The advance runs on a blocking thread of the runtime (callbacks it queues
/// need the runtime).
pub struct Ticker {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Ticker {
    /// Start ticking.
    pub fn start(mock: &MockServer, every: Duration, step: Duration) -> Ticker {
        let stop = Arc::new(AtomicBool::new(false));
        let state = mock.state().clone();
        let s = stop.clone();
        let task = tokio::spawn(async move {
            let ms = step.as_millis() as i64;
            while !s.load(Ordering::Relaxed) {
                tokio::time::sleep(every).await;
                let st = state.clone();
                let _ = tokio::task::spawn_blocking(move || st.engine.advance(ms)).await;
            }
        });
        Ticker { stop, task }
    }

    /// Stop and wait for the last tick.
    pub async fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.task.await;
    }
}

fn request(
    addr: SocketAddr,
    bearer: &str,
    method: &str,
    path: &str,
    body: Option<String>,
) -> Request<Full<Bytes>> {
    let mut b = Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string())
        .header("authorization", bearer);
    let body = match body {
        Some(json) => {
            b = b.header("content-type", "application/json");
            Full::new(Bytes::from(json))
        }
        None => Full::new(Bytes::new()),
    };
    b.body(body).expect("valid request")
}

/// One client's loop: `n` creates of text-to-audio (with `callback` when given), a GET of the
/// task just created after every `get_every` creates. Returns the created ids and the latency
/// of every API request.
async fn client(
    addr: SocketAddr,
    bearer: String,
    n: usize,
    callback: Option<String>,
    get_every: usize,
    pace: Duration,
    (phase, clients): (usize, usize),
) -> Result<(Vec<u64>, Histogram<u64>, u64), String> {
    let mut send: Sender = load::connect(addr).await?;
    let mut hist = load::new_hist();
    let mut ids = Vec::with_capacity(n);
    let mut errors = 0u64;
    let body = match &callback {
        Some(url) => {
            format!(r#"{{"prompt":"rain on a tin roof","duration":5,"callback_url":"{url}"}}"#)
        }
        None => r#"{"prompt":"rain on a tin roof","duration":5}"#.to_string(),
    };
    let record = |hist: &mut Histogram<u64>, t0: Instant| {
        hist.saturating_record((t0.elapsed().as_nanos() as u64).max(1));
    };
    // Client `phase` of `clients` starts `phase / clients` of a period late: the clients' requests
    // arrive evenly spread, not in one burst of all clients every period.
    let start = tokio::time::Instant::now() + pace.mul_f64(phase as f64 / clients.max(1) as f64);
    let mut tick = tokio::time::interval_at(start, pace.max(Duration::from_micros(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for i in 0..n {
        if !pace.is_zero() {
            tick.tick().await;
        }
        let req = request(
            addr,
            &bearer,
            "POST",
            "/v1/audio/text-to-audio",
            Some(body.clone()),
        );
        let t0 = Instant::now();
        let (status, answer) = load::exchange(&mut send, req).await?;
        record(&mut hist, t0);
        if status != 200 {
            errors += 1;
            continue;
        }
        let v: Value = serde_json::from_slice(&answer).map_err(|e| e.to_string())?;
        let id: u64 = v["data"]["task_id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("no task_id in {v}"))?;
        ids.push(id);
        if get_every > 0 && i % get_every == get_every - 1 {
            let path = format!("/v1/audio/text-to-audio/{id}");
            let t0 = Instant::now();
            let (status, _) =
                load::exchange(&mut send, request(addr, &bearer, "GET", &path, None)).await?;
            record(&mut hist, t0);
            if status != 200 {
                errors += 1;
            }
        }
    }
    Ok((ids, hist, errors))
}

/// Run `clients` clients creating `tasks` tasks in all at `rate` creates/s in all (0: as fast
/// as they can); returns (ids, histogram, errors, time).
async fn run_clients(
    mock: &MockServer,
    clients: usize,
    tasks: usize,
    rate: f64,
    callback: Option<String>,
) -> Result<(Vec<u64>, Histogram<u64>, u64, Duration), String> {
    let pace = if rate > 0.0 {
        Duration::from_secs_f64(clients as f64 / rate)
    } else {
        Duration::ZERO
    };
    let addr = addr_of(mock)?;
    let t0 = Instant::now();
    let mut handles = Vec::new();
    for c in 0..clients {
        let n = tasks / clients + usize::from(c < tasks % clients);
        let bearer = format!("Bearer {}", token(mock));
        handles.push(tokio::spawn(client(
            addr,
            bearer,
            n,
            callback.clone(),
            4,
            pace,
            (c, clients),
        )));
    }
    let mut ids = Vec::with_capacity(tasks);
    let mut hist = load::new_hist();
    let mut errors = 0;
    for h in handles {
        let (i, h, e) = h.await.map_err(|e| e.to_string())??;
        ids.extend(i);
        hist.add(&h).map_err(|e| e.to_string())?;
        errors += e;
    }
    Ok((ids, hist, errors, t0.elapsed()))
}

fn mock_config(queue: usize) -> Config {
    let mut config = Config {
        seed: Some(7),
        ..Default::default()
    };
    config.callbacks.queue_limit = queue;
    config.callbacks.log_capacity = 1000;
    config
}

/// What `load` measured.
#[derive(Debug)]
pub struct LoadReport {
    /// Clients and tasks.
    pub clients: usize,
    /// Tasks created (accepted).
    pub tasks: usize,
    /// API requests/s and p50/p99/p99.9 (µs) without callbacks or a running clock (all
    /// unloaded rounds).
    pub unloaded: (f64, f64, f64, f64),
    /// Per round, the loaded p99 over the unloaded p99.
    pub round_ratios: Vec<f64>,
    /// The same with callbacks to the slow receiver and the clock running.
    pub loaded: (f64, f64, f64, f64),
    /// Non-200 answers in both phases.
    pub errors: u64,
    /// Tasks not terminal at the end (by the mock's census).
    pub not_terminal: usize,
    /// Tasks in the list pages (all pages walked) and whether they are exactly the created ids.
    pub listed: usize,
    /// Whether the listed ids are exactly the created ones.
    pub list_matches: bool,
    /// Callbacks received in all.
    pub callbacks: u64,
    /// Tasks whose received statuses (consecutive duplicates folded) are not exactly
    /// submitted → processing → succeed|failed.
    pub bad_sequences: usize,
    /// Tasks that got no terminal callback.
    pub lost: usize,
    /// The mock's counters: delivered, failed, dropped.
    pub mock_stats: (u64, u64, u64),
    /// From the first create to the last terminal callback.
    pub total: Duration,
    /// The receiver's delay per callback.
    pub receiver_delay: Duration,
    /// Creates/s asked for (0: as fast as possible).
    pub rate: f64,
    /// Real time between clock advances (each moves the clock 100 times as far).
    pub tick: Duration,
}

fn quantiles(h: &Histogram<u64>, n: usize, d: Duration) -> (f64, f64, f64, f64) {
    (
        n as f64 / d.as_secs_f64(),
        h.value_at_quantile(0.5) as f64 / 1000.0,
        h.value_at_quantile(0.99) as f64 / 1000.0,
        h.value_at_quantile(0.999) as f64 / 1000.0,
    )
}

/// `load`: `clients` clients create `tasks` text-to-audio tasks (at `rate` creates/s in all,
/// plus a GET of every fourth task) with callbacks to a receiver answering after `delay`, while
/// a ticker moves the clock 100 `tick`s every `tick` (100× real time); then every task is driven
/// to its end and every callback awaited (bounded by `limit`).
pub async fn load(
    clients: usize,
    tasks: usize,
    rate: f64,
    delay: Duration,
    limit: Duration,
    rounds: usize,
    tick: Duration,
) -> Result<LoadReport, String> {
    // The mock and the receiver each run on a runtime of their own, as the separate processes
    // they are in use: the clients' latency then does not include waiting in one cooperative
    // queue behind the receiver's work (the OS still shares the cores among all three).
    let mock_side = Side::new("mock", 2)?;
    let recv_side = Side::new("receiver", 1)?;
    // The unloaded figure: the same clients and requests on a mock with no callbacks and the
    // clock still.
    let quiet = mock_side
        .run(MockServer::builder().config(mock_config(10_000)).start())
        .await?;
    let (recv, seen) = recv_side.run(ordered_receiver(delay)).await??;
    // Every status change of every task may wait in the queue: room for all of them.
    let mock = mock_side
        .run(
            MockServer::builder()
                .clock(Clock::frozen(Clock::wall_ms()))
                .config(mock_config(tasks * 3 + 1000))
                .start(),
        )
        .await?;
    let ticker = Ticker::start(&mock, tick, tick * 100);
    let url = format!("http://{}/hook", recv.addr);
    let t0 = Instant::now();
    let deadline = t0 + limit;
    // Rounds alternate, unloaded then loaded, each with its share of the tasks: on a shared
    // machine whose speed drifts by the minute, both figures then come from the same minutes.
    let rounds = rounds.clamp(1, tasks.max(1));
    let (mut hu, mut hl) = (load::new_hist(), load::new_hist());
    let (mut du, mut dl) = (Duration::ZERO, Duration::ZERO);
    let (mut e0, mut e1) = (0, 0);
    let mut ids = Vec::with_capacity(tasks);
    let mut round_ratios = Vec::with_capacity(rounds);
    for r in 0..rounds {
        let n = tasks / rounds + usize::from(r < tasks % rounds);
        // The unloaded round starts once the loaded mock has nothing left to do.
        settle(&mock, deadline).await;
        let (_, h, e, d) = run_clients(&quiet, clients, n, rate, None).await?;
        let (i, h2, e2, d2) = run_clients(&mock, clients, n, rate, Some(url.clone())).await?;
        round_ratios
            .push(h2.value_at_quantile(0.99) as f64 / h.value_at_quantile(0.99).max(1) as f64);
        hu.add(&h).map_err(|e| e.to_string())?;
        hl.add(&h2).map_err(|e| e.to_string())?;
        (du, dl, e0, e1) = (du + d, dl + d2, e0 + e, e1 + e2);
        ids.extend(i);
    }
    let unloaded = quantiles(&hu, hu.len() as usize, du);
    let loaded = quantiles(&hl, hl.len() as usize, dl);
    drop(quiet);
    // Every task to its end, then every callback out.
    settle(&mock, deadline).await;
    ticker.stop().await;
    let total = t0.elapsed();
    let census = mock.state().engine.census();
    let not_terminal = census
        .iter()
        .filter(|((_, _, st), _)| !st.is_terminal())
        .map(|(_, n)| *n)
        .sum();
    // Walk every list page (500 a page).
    let addr = addr_of(&mock)?;
    let bearer = format!("Bearer {}", token(&mock));
    let mut send = load::connect(addr).await?;
    let mut listed = Vec::with_capacity(ids.len());
    for page in 1..=1000 {
        let path = format!("/v1/audio/text-to-audio?pageNum={page}&pageSize=500");
        let (status, body) =
            load::exchange(&mut send, request(addr, &bearer, "GET", &path, None)).await?;
        if status != 200 {
            return Err(format!("list page {page} answered {status}"));
        }
        let v: Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
        let items = v["data"].as_array().cloned().unwrap_or_default();
        if items.is_empty() {
            break;
        }
        for it in items {
            if let Some(id) = it["task_id"].as_str().and_then(|s| s.parse::<u64>().ok()) {
                listed.push(id);
            }
        }
    }
    let mut created = ids.clone();
    created.sort_unstable();
    let mut sorted = listed.clone();
    sorted.sort_unstable();
    let list_matches = sorted == created;
    let seen_map = seen.seen.lock().unwrap_or_else(|e| e.into_inner());
    let mut bad_sequences = 0;
    let mut lost = 0;
    for id in &ids {
        let Some(got) = seen_map.get(id) else {
            lost += 1;
            bad_sequences += 1;
            continue;
        };
        let mut folded = got.clone();
        folded.dedup();
        let ok = matches!(
            folded.as_slice(),
            [SUBMITTED, PROCESSING, SUCCEED] | [SUBMITTED, PROCESSING, FAILED]
        );
        if !ok {
            bad_sequences += 1;
        }
        if !got.iter().any(|s| *s == SUCCEED || *s == FAILED) {
            lost += 1;
        }
    }
    drop(seen_map);
    let st = mock.state().engine.callback_stats();
    let ld = |a: &AtomicU64| a.load(Ordering::Relaxed);
    Ok(LoadReport {
        clients,
        tasks: ids.len(),
        unloaded,
        round_ratios,
        loaded,
        errors: e0 + e1,
        not_terminal,
        listed: listed.len(),
        list_matches,
        callbacks: seen.total.load(Ordering::Relaxed),
        bad_sequences,
        lost,
        mock_stats: (ld(&st.delivered), ld(&st.failed), ld(&st.dropped)),
        total,
        receiver_delay: delay,
        rate,
        tick,
    })
}

/// One soak sample: memory, and everything that could hold it.
#[derive(Debug, Clone, Copy)]
pub struct SoakSample {
    /// Seconds since the start.
    pub t: f64,
    /// VmRSS of the process, bytes.
    pub rss: u64,
    /// The allocator's bytes in use and bytes held free (glibc `mallinfo2`; zeros elsewhere),
    /// to tell live growth from fragmentation.
    pub heap: (u64, u64),
    /// Tasks stored, media files, media ids, pending transitions.
    pub counts: (usize, usize, usize, usize),
    /// Entries the task, file and media-id tables can hold before they next grow or rehash.
    pub tables: (usize, usize, usize),
    /// Open file descriptors (sockets among them) and live tokio tasks.
    pub handles: (usize, usize),
}

impl std::fmt::Display for SoakSample {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        let (tasks, files, ids, pending) = self.counts;
        let (tc, fc, ic) = self.tables;
        write!(
            f,
            "{:.0}s {:.1}MiB (heap used {:.1} free {:.1}) tasks {tasks}/{tc} files {files}/{fc} ids {ids}/{ic} pending {pending} fds {} tokio tasks {}",
            self.t,
            mib(self.rss),
            mib(self.heap.0),
            mib(self.heap.1),
            self.handles.0,
            self.handles.1
        )
    }
}

/// What `soak` measured.
#[derive(Debug)]
pub struct SoakReport {
    /// One per sample interval.
    pub samples: Vec<SoakSample>,
    /// Requests made and non-200 answers.
    pub requests: u64,
    /// Non-200 answers.
    pub errors: u64,
    /// Callbacks received.
    pub callbacks: u64,
    /// Tasks forgotten by the cap, media entries expired or past their cap.
    pub evicted: (u64, u64),
    /// Virtual time covered, days.
    pub virtual_days: f64,
}

/// `soak`: for `duration`, `clients` clients at `rate` requests/s in all (creates with
/// callbacks, GETs and list pages), the clock running 1 virtual hour every 100 ms (30 days of
/// media retention pass in 72 s), `max_tasks` stored at most; VmRSS sampled every `sample`.
pub async fn soak(
    duration: Duration,
    rate: f64,
    max_tasks: usize,
    sample: Duration,
) -> Result<SoakReport, String> {
    let (recv, seen) = ordered_receiver(Duration::ZERO).await?;
    let mut config = mock_config(10_000);
    config.max_tasks = max_tasks;
    let mock = MockServer::builder().config(config).start().await;
    let ticker = Ticker::start(&mock, Duration::from_millis(100), Duration::from_secs(3600));
    let clock0 = mock.state().clock.now_ms();
    let addr = addr_of(&mock)?;
    let url = format!("http://{}/hook", recv.addr);
    let clients = 8usize;
    let stop = Arc::new(AtomicBool::new(false));
    let requests = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::new();
    let per_client = Duration::from_secs_f64(clients as f64 / rate.max(1.0));
    for c in 0..clients {
        let bearer = format!("Bearer {}", token(&mock));
        let (stop, requests, errors, url) =
            (stop.clone(), requests.clone(), errors.clone(), url.clone());
        handles.push(tokio::spawn(async move {
            let mut send = load::connect(addr).await?;
            let body =
                format!(r#"{{"prompt":"rain on a tin roof","duration":5,"callback_url":"{url}"}}"#);
            let mut last = None::<String>;
            let mut tick = tokio::time::interval(per_client);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut k = c;
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                k += 1;
                let req = match (k % 4, &last) {
                    (1, Some(id)) => request(
                        addr,
                        &bearer,
                        "GET",
                        &format!("/v1/audio/text-to-audio/{id}"),
                        None,
                    ),
                    (2, _) => request(
                        addr,
                        &bearer,
                        "GET",
                        &format!("/v1/audio/text-to-audio?pageNum={}&pageSize=30", k % 50 + 1),
                        None,
                    ),
                    _ => request(
                        addr,
                        &bearer,
                        "POST",
                        "/v1/audio/text-to-audio",
                        Some(body.clone()),
                    ),
                };
                let (status, answer) = load::exchange(&mut send, req).await?;
                requests.fetch_add(1, Ordering::Relaxed);
                if status != 200 {
                    errors.fetch_add(1, Ordering::Relaxed);
                } else if let Ok(v) = serde_json::from_slice::<Value>(&answer)
                    && let Some(id) = v["data"]["task_id"].as_str()
                {
                    last = Some(id.to_string());
                }
            }
            Ok::<(), String>(())
        }));
    }
    let t0 = Instant::now();
    let mut samples = Vec::new();
    while t0.elapsed() < duration {
        tokio::time::sleep(sample.min(duration.saturating_sub(t0.elapsed()))).await;
        // Drop the receiver's own record, which grows by design (it is the test's, not the
        // mock's): keep only the count.
        seen.seen.lock().unwrap_or_else(|e| e.into_inner()).clear();
        let st = mock.state();
        let (file_slots, item_slots) = st.media.table_capacities();
        samples.push(SoakSample {
            t: t0.elapsed().as_secs_f64(),
            rss: rss_bytes("self").unwrap_or(0),
            heap: heap_bytes(),
            counts: (
                st.engine.task_count(),
                st.media.file_count(),
                st.media.item_count(),
                st.engine.pending_transitions(),
            ),
            tables: (st.engine.task_table_capacity(), file_slots, item_slots),
            handles: (
                std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count()),
                tokio::runtime::Handle::current()
                    .metrics()
                    .num_alive_tasks(),
            ),
        });
    }
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.await.map_err(|e| e.to_string())??;
    }
    ticker.stop().await;
    let virtual_days = (mock.state().clock.now_ms() - clock0) as f64 / 86_400_000.0;
    Ok(SoakReport {
        samples,
        requests: requests.load(Ordering::Relaxed),
        errors: errors.load(Ordering::Relaxed),
        callbacks: seen.total.load(Ordering::Relaxed),
        evicted: (
            mock.state().engine.evicted_tasks(),
            mock.state().media.evicted(),
        ),
        virtual_days,
    })
}

/// The allocator's (bytes in use, bytes free in its arenas): glibc's `mallinfo2`.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn heap_bytes() -> (u64, u64) {
    // SAFETY: mallinfo2 only reads the allocator's counters; it has no preconditions.
    let m = unsafe { libc::mallinfo2() };
    ((m.uordblks + m.hblkhd) as u64, m.fordblks as u64)
}

/// Not glibc: no figures.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn heap_bytes() -> (u64, u64) {
    (0, 0)
}
