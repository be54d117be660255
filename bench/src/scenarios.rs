//! The scenarios: set-up of the mock, seeding through the engine's Rust API, and the non-HTTP
//! measurements (advance + callbacks, startup, RSS).

use crate::load::{self, LoadResult, LoadSpec, MakeRequest};
use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;
use kling_mock::config::{Config, DEV_ACCESS_KEY, sign_token};
use kling_mock::kinds::text_to_audio::{self, CreateTextToAudio};
use kling_mock::{Clock, MockServer};
use std::io::BufRead;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A mock in-process: development account, journal on (default size), frozen clock, fixed seed.
pub async fn start_mock(callback_queue: usize) -> MockServer {
    let mut config = Config {
        seed: Some(6),
        ..Default::default()
    };
    config.callbacks.queue_limit = callback_queue.max(config.callbacks.queue_limit);
    config.callbacks.log_capacity = 0;
    MockServer::builder().config(config).start().await
}

/// [`start_mock`] with `--state-file path` (the default 1 s window).
pub async fn start_mock_with_store(path: &std::path::Path) -> MockServer {
    let mut config = Config {
        seed: Some(6),
        state_file: Some(path.to_path_buf()),
        ..Default::default()
    };
    config.callbacks.log_capacity = 0;
    MockServer::builder().config(config).start().await
}

/// The mock's address.
pub fn addr_of(mock: &MockServer) -> Result<SocketAddr, String> {
    mock.base_url()
        .trim_start_matches("http://")
        .parse()
        .map_err(|e| format!("base url {}: {e}", mock.base_url()))
}

/// Create `n` text-to-audio tasks through the engine, as the create handler does (no HTTP).
/// Returns the last task id.
pub fn seed(mock: &MockServer, n: usize, callback_url: Option<&str>) -> Result<u64, String> {
    seed_state(mock.state(), n, callback_url)
}

/// [`seed`] on any server's state.
pub fn seed_state(
    s: &kling_mock::state::AppState,
    n: usize,
    callback_url: Option<&str>,
) -> Result<u64, String> {
    let account = s
        .accounts
        .get(DEV_ACCESS_KEY)
        .ok_or("the development account is missing")?;
    let mut body = serde_json::Map::new();
    body.insert("prompt".into(), "rain on a tin roof".into());
    body.insert("duration".into(), 5.into());
    if let Some(url) = callback_url {
        body.insert("callback_url".into(), url.into());
    }
    let req = CreateTextToAudio::parse(&body).map_err(|e| format!("{e:?}"))?;
    let mut last = 0;
    tokio::task::block_in_place(|| {
        for _ in 0..n {
            let view = s
                .engine
                .create(
                    account.idx,
                    text_to_audio::SPEC.id,
                    &req.common,
                    None,
                    1,
                    |id, now| text_to_audio::plan(&s.kind_ctx(), &account, &req, id, now),
                )
                .map_err(|e| format!("seeding: {e:?}"))?;
            last = view.id;
        }
        Ok::<_, String>(())
    })?;
    Ok(last)
}

/// A token of the development account, signed now (one per connection, reused).
pub fn token(mock: &MockServer) -> String {
    let (ak, sk) = mock.credentials();
    sign_token(ak, sk, Clock::wall_ms() / 1000)
}

/// A request factory: `method path` with `body` (JSON when `Some`), bearer token per connection.
pub fn requests(
    addr: SocketAddr,
    tokens: Option<Vec<String>>,
    method: &'static str,
    path: String,
    body: Option<&'static str>,
) -> MakeRequest {
    let host = addr.to_string();
    let tokens: Option<Vec<String>> =
        tokens.map(|t| t.into_iter().map(|t| format!("Bearer {t}")).collect());
    Arc::new(move |i| {
        let mut b = Request::builder()
            .method(method)
            .uri(&path)
            .header("host", &host);
        if let Some(t) = &tokens {
            b = b.header("authorization", &t[i % t.len()]);
        }
        let body = match body {
            Some(json) => {
                b = b.header("content-type", "application/json");
                Full::new(Bytes::from_static(json.as_bytes()))
            }
            None => Full::new(Bytes::new()),
        };
        b.body(body).expect("valid request")
    })
}

/// One load run against the mock.
pub async fn drive(
    mock: &MockServer,
    spec: LoadSpec,
    method: &'static str,
    path: String,
    body: Option<&'static str>,
) -> Result<LoadResult, String> {
    let tokens = (0..spec.connections).map(|_| token(mock)).collect();
    let make = requests(spec.addr, Some(tokens), method, path, body);
    // A probe first, so a wrong set-up is an error, not a run of 4xx.
    let (status, answer) = load::one_request(spec.addr, make(0)).await?;
    if !(200..300).contains(&status) {
        return Err(format!(
            "probe {method} answered {status}: {}",
            String::from_utf8_lossy(&answer)
        ));
    }
    load::run(spec, make).await
}

/// Size in bytes of a `GET /v1/audio/text-to-audio/{id}` answer for a finished task.
pub async fn task_answer_size() -> Result<(usize, Bytes), String> {
    let mock = start_mock(0).await;
    let id = seed(&mock, 1, None)?;
    mock.advance(Duration::from_secs(60));
    let addr = addr_of(&mock)?;
    let make = requests(
        addr,
        Some(vec![token(&mock)]),
        "GET",
        format!("/v1/audio/text-to-audio/{id}"),
        None,
    );
    let (status, body) = load::one_request(addr, make(0)).await?;
    if status != 200 {
        return Err(format!("task query answered {status}"));
    }
    Ok((body.len(), body))
}

/// What the `advance` scenario measured.
#[derive(Debug)]
pub struct AdvanceResult {
    /// Tasks completed by the one advance.
    pub tasks: usize,
    /// Time of `engine.advance` itself.
    pub advance: Duration,
    /// From the start of the advance to the last terminal callback received.
    pub delivered_in: Duration,
    /// Callbacks received in that time (every status change, not only terminal ones).
    pub callbacks: u64,
    /// Tasks whose terminal callback never arrived (before the time limit).
    pub lost: usize,
    /// The mock's own counters at the end: (delivered, failed after retries, dropped).
    pub mock_stats: (u64, u64, u64),
}

/// `advance`: `n` tasks with a callback URL to a local receiver, one `engine.advance` that
/// finishes them all, then wait (bounded) for every terminal callback.
pub async fn advance(n: usize, limit: Duration) -> Result<AdvanceResult, String> {
    let (recv, seen) = load::receiver().await?;
    let mock = start_mock(n * 4 + 1000).await;
    let url = format!("http://{}/hook", recv.addr);
    seed(&mock, n, Some(&url))?;
    // Let the `submitted` callbacks go out first (bounded).
    let _ = tokio::time::timeout(limit, mock.state().engine.callbacks_idle()).await;
    let before = seen.total.load(std::sync::atomic::Ordering::Relaxed);
    let t0 = Instant::now();
    tokio::task::block_in_place(|| mock.advance(Duration::from_secs(60)));
    let advance = t0.elapsed();
    let deadline = t0 + limit;
    while seen.terminal_count() < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let delivered_in = t0.elapsed();
    let callbacks = seen.total.load(std::sync::atomic::Ordering::Relaxed) - before;
    let lost = n.saturating_sub(seen.terminal_count());
    let st = mock.state().engine.callback_stats();
    let ld = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    let mock_stats = (ld(&st.delivered), ld(&st.failed), ld(&st.dropped));
    Ok(AdvanceResult {
        mock_stats,
        tasks: n,
        advance,
        delivered_in,
        callbacks,
        lost,
    })
}

/// The release `kling-mock` binary next to this one (same target directory).
pub fn mock_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let p = exe
        .parent()?
        .join(format!("kling-mock{}", std::env::consts::EXE_SUFFIX));
    p.is_file().then_some(p)
}

/// VmRSS of process `pid` (`"self"` for this one), bytes.
pub fn rss_bytes(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// A running binary: its address, and the time from spawn to its first answer.
pub struct Child {
    /// The process (killed on drop).
    pub proc: std::process::Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Spawn → first answered request.
    pub ready: Duration,
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.proc.kill();
        let _ = self.proc.wait();
    }
}

/// Start `bin` with `args` (plus `--bind 127.0.0.1:0`) and wait for its first answer.
pub async fn spawn(bin: &std::path::Path, args: &[&str]) -> Result<Child, String> {
    let t0 = Instant::now();
    let mut proc = std::process::Command::new(bin)
        .args(["--bind", "127.0.0.1:0"])
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("spawn {}: {e}", bin.display()))?;
    let out = proc.stdout.take().ok_or("no stdout")?;
    let line = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::task::spawn_blocking(move || {
            let mut r = std::io::BufReader::new(out);
            let mut line = String::new();
            for _ in 0..100 {
                line.clear();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    return None;
                }
                if line.starts_with("kling-mock listening on ") {
                    return Some(line);
                }
            }
            None
        }),
    )
    .await
    .map_err(|_| "no ready line within 120 s".to_string())?
    .map_err(|e| e.to_string())?
    .ok_or("no ready line (did the store refuse to load?)")?;
    let addr: SocketAddr = line
        .trim()
        .trim_start_matches("kling-mock listening on http://")
        .parse()
        .map_err(|e| format!("ready line {line:?}: {e}"))?;
    let probe = requests(addr, None, "GET", "/__mock/health".into(), None);
    for _ in 0..5000 {
        if let Ok((200, _)) = load::one_request(addr, probe(0)).await {
            return Ok(Child {
                proc,
                addr,
                ready: t0.elapsed(),
            });
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Err("health never answered 200".into())
}

/// One start of the binary: time from spawn to the first answered request, and its RSS after
/// `settle` idle.
pub async fn spawn_once(
    bin: &std::path::Path,
    settle: Duration,
) -> Result<(Duration, Option<u64>), String> {
    let child = spawn(bin, &[]).await?;
    tokio::time::sleep(settle).await;
    Ok((child.ready, rss_bytes(&child.proc.id().to_string())))
}
