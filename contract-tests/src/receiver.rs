//! A callback receiver on loopback: records every POSTed body by `task_id`, answers 200.

use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Log = Arc<Mutex<HashMap<String, Vec<Value>>>>;

/// A running receiver.
pub struct Receiver {
    /// The URL to pass as `callback_url`.
    pub url: String,
    log: Log,
}

impl Receiver {
    /// Listen on `listen` (e.g. `127.0.0.1:0`) on `rt`; the URL handed out is `public_base` (if
    /// given) or `http://<bound address>`, plus `/kling-callback`.
    pub fn start(
        rt: &tokio::runtime::Runtime,
        listen: std::net::SocketAddr,
        public_base: Option<&str>,
    ) -> std::io::Result<Receiver> {
        let log: Log = Arc::default();
        let listener = rt.block_on(tokio::net::TcpListener::bind(listen))?;
        let addr = listener.local_addr()?;
        let app = axum::Router::new()
            .route(
                "/kling-callback",
                axum::routing::post(|axum::extract::State(log): axum::extract::State<Log>, body: String| async move {
                    if let Ok(v) = serde_json::from_str::<Value>(&body) {
                        let id = v["task_id"].as_str().unwrap_or("").to_string();
                        log.lock().unwrap_or_else(|e| e.into_inner()).entry(id).or_default().push(v);
                    }
                    "ok"
                }),
            )
            .with_state(log.clone());
        rt.spawn(async move { axum::serve(listener, app).await });
        let base = public_base
            .map(|b| b.trim_end_matches('/').to_string())
            .unwrap_or(format!("http://{addr}"));
        Ok(Receiver {
            url: format!("{base}/kling-callback"),
            log,
        })
    }

    /// The bodies received for `task_id` so far.
    pub fn received(&self, task_id: &str) -> Vec<Value> {
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(task_id)
            .cloned()
            .unwrap_or_default()
    }

    /// Wait (real time, up to `timeout`) until a terminal status for `task_id` has arrived.
    pub fn wait_terminal(&self, task_id: &str, timeout: Duration) -> Vec<Value> {
        let start = Instant::now();
        loop {
            let got = self.received(task_id);
            let done = got
                .iter()
                .any(|v| matches!(v["task_status"].as_str(), Some("succeed" | "failed")));
            if done || start.elapsed() > timeout {
                return got;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
