//! The state store's figures (issue 16): a restart from a large store (time to the first answer,
//! RSS against the same state built live), disk bytes per task, and what `kill -9` loses under
//! load against the configured window.

use crate::load;
use crate::scenarios::{self, requests, rss_bytes, spawn};
use kling_mock::config::{Config, DEV_ACCESS_KEY, DEV_SECRET_KEY, sign_token};
use kling_mock::{Clock, Server};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What `restart` measured.
#[derive(Debug)]
pub struct Restart {
    /// Tasks in the store.
    pub tasks: usize,
    /// RSS growth of a process that built the same state live (no store).
    pub live_delta: u64,
    /// Time of the graceful stop that wrote the whole state (one window holding every task).
    pub final_flush: Duration,
    /// The store's size on disk (database and WAL).
    pub file_bytes: u64,
    /// RSS of the binary started empty, 0.5 s after its first answer.
    pub idle_rss: u64,
    /// RSS of the binary restored from the store, 0.5 s after its first answer.
    pub restored_rss: u64,
    /// Spawn of the binary on the store → first answered request.
    pub restart: Duration,
    /// Tasks the restored binary reports (`GET /__mock/state`).
    pub restored_tasks: u64,
}

/// A fresh temporary directory of this process.
fn temp_dir(name: &str) -> Result<PathBuf, String> {
    let dir = std::env::temp_dir().join(format!("kling-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}

fn size_with_wal(path: &Path) -> u64 {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    [path.to_path_buf(), PathBuf::from(wal)]
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

/// `restart`: `n` tasks built live in this process (RSS growth), the same built on a store and
/// written by a graceful stop, then the binary started on that store.
pub async fn restart(bin: &Path, n: usize) -> Result<Restart, String> {
    // The same state built live, without a store.
    let live_delta = {
        let mock = scenarios::start_mock(0).await;
        let before = rss_bytes("self").ok_or("no /proc/self/status")?;
        scenarios::seed(&mock, n, None)?;
        tokio::task::block_in_place(|| mock.advance(Duration::from_secs(60)));
        rss_bytes("self")
            .ok_or("no /proc/self/status")?
            .saturating_sub(before)
    };
    let dir = temp_dir("restart")?;
    let path = dir.join("restart.db");
    let config = Config {
        seed: Some(6),
        state_file: Some(path.clone()),
        state_interval: Duration::from_secs(3600),
        max_tasks: 0,
        ..Default::default()
    };
    let server = Server::bind_with_clock(config, Clock::frozen(Clock::wall_ms()))
        .await
        .map_err(|e| e.to_string())?;
    let state = server.state().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    scenarios::seed_state(&state, n, None)?;
    tokio::task::block_in_place(|| state.engine.advance(60_000));
    drop(state);
    let t0 = Instant::now();
    let _ = stop.send(());
    run.await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let final_flush = t0.elapsed();
    let file_bytes = size_with_wal(&path);
    let idle = spawn(bin, &["--max-tasks", "0"]).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle_rss = rss_bytes(&idle.proc.id().to_string()).ok_or("no child VmRSS")?;
    drop(idle);
    let p = path.to_str().ok_or("a UTF-8 temp path")?;
    let restored = spawn(
        bin,
        &[
            "--max-tasks",
            "0",
            "--state-file",
            p,
            "--state-interval",
            "1h",
        ],
    )
    .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let restored_rss = rss_bytes(&restored.proc.id().to_string()).ok_or("no child VmRSS")?;
    let probe = requests(restored.addr, None, "GET", "/__mock/state".into(), None);
    let (status, body) = load::one_request(restored.addr, probe(0)).await?;
    if status != 200 {
        return Err(format!("/__mock/state answered {status}"));
    }
    let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
    let restored_tasks = v["data"]["tasks"]
        .as_u64()
        .or_else(|| v["data"]["task_count"].as_u64())
        .unwrap_or(0);
    let r = Restart {
        tasks: n,
        live_delta,
        final_flush,
        file_bytes,
        idle_rss,
        restored_rss,
        restart: restored.ready,
        restored_tasks,
    };
    drop(restored);
    // KLING_BENCH_KEEP_STORE=1 keeps the store (its path is printed) for profiling a restart.
    if std::env::var_os("KLING_BENCH_KEEP_STORE").is_some() {
        eprintln!("store kept: {}", path.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(r)
}

/// What `kill-9` measured.
#[derive(Debug)]
pub struct Kill9 {
    /// The configured window.
    pub window: Duration,
    /// Creates acknowledged before the kill.
    pub acked: usize,
    /// Of those, missing from the store after the kill.
    pub lost: usize,
    /// How long before the kill the oldest lost create was acknowledged (zero: none lost).
    pub oldest_lost_age: Duration,
    /// Creates per second while it ran.
    pub rate: f64,
}

/// `kill-9`: `connections` clients create tasks against the binary on a store with `window`
/// for `secs`, then `kill -9`; the store is read as the next start reads it.
pub async fn kill9(
    bin: &Path,
    window: Duration,
    secs: f64,
    connections: usize,
) -> Result<Kill9, String> {
    let dir = temp_dir("kill9")?;
    let path = dir.join("kill9.db");
    let p = path.to_str().ok_or("a UTF-8 temp path")?;
    let w = format!("{}ms", window.as_millis());
    let mut child = spawn(bin, &["--state-file", p, "--state-interval", &w]).await?;
    let token = sign_token(DEV_ACCESS_KEY, DEV_SECRET_KEY, Clock::wall_ms() / 1000);
    let make = requests(
        child.addr,
        Some(vec![token]),
        "POST",
        "/v1/audio/text-to-audio".into(),
        Some(r#"{"prompt":"rain on a tin roof","duration":5}"#),
    );
    let t0 = Instant::now();
    let end = t0 + Duration::from_secs_f64(secs);
    let mut workers = Vec::new();
    for _ in 0..connections {
        let (make, addr) = (make.clone(), child.addr);
        workers.push(tokio::spawn(async move {
            let mut send = load::connect(addr).await?;
            let mut acks = Vec::new();
            while Instant::now() < end {
                let (status, body) = load::exchange(&mut send, make(0)).await?;
                if status == 200 {
                    let v: serde_json::Value =
                        serde_json::from_slice(&body).map_err(|e| e.to_string())?;
                    if let Some(id) = v["data"]["task_id"].as_str() {
                        acks.push((id.parse::<i64>().unwrap_or(0), Instant::now()));
                    }
                }
            }
            Ok::<_, String>(acks)
        }));
    }
    let mut acks = Vec::new();
    for w in workers {
        acks.extend(w.await.map_err(|e| e.to_string())??);
    }
    // SIGKILL: no chance to write anything more.
    let _ = child.proc.kill();
    let killed = Instant::now();
    let _ = child.proc.wait();
    drop(child);
    let conn =
        rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| format!("open the store after the kill: {e}"))?;
    let stored: std::collections::HashSet<i64> = {
        let mut st = conn
            .prepare("SELECT id FROM tasks")
            .map_err(|e| e.to_string())?;
        st.query_map([], |r| r.get::<_, i64>(0))
            .map_err(|e| e.to_string())?
            .flatten()
            .collect()
    };
    let lost: Vec<&(i64, Instant)> = acks.iter().filter(|(id, _)| !stored.contains(id)).collect();
    let oldest_lost_age = lost
        .iter()
        .map(|(_, t)| killed.duration_since(*t))
        .max()
        .unwrap_or_default();
    let r = Kill9 {
        window,
        acked: acks.len(),
        lost: lost.len(),
        oldest_lost_age,
        rate: acks.len() as f64 / secs,
    };
    drop(conn);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(r)
}
