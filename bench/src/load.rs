//! The closed-loop load generator (hyper 1, one keep-alive HTTP/1.1 connection per worker), the
//! baseline server and the callback receiver.

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// Longest wait for one answer; a request that takes longer counts as an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Shortest sleep of the open-loop pacer thread.
const PACER_TICK: Duration = Duration::from_micros(100);

/// Builds the next request of connection `i`.
pub type MakeRequest = Arc<dyn Fn(usize) -> Request<Full<Bytes>> + Send + Sync>;

/// How to drive one scenario.
#[derive(Clone, Copy, Debug)]
pub struct LoadSpec {
    /// Where.
    pub addr: SocketAddr,
    /// Concurrent keep-alive connections, one request in flight on each.
    pub connections: usize,
    /// Requests made but not recorded before the measured window.
    pub warmup: Duration,
    /// The measured window.
    pub duration: Duration,
    /// `None`: closed loop (each connection sends its next request as soon as the previous answer
    /// is read). `Some(r)`: open loop at `r` requests/s in all, spread evenly over the
    /// connections, each request due at a fixed time whatever the previous answers took.
    pub rate: Option<f64>,
}

/// What a measured window gave.
#[derive(Debug)]
pub struct LoadResult {
    /// Successful (2xx) answers completed inside the window.
    pub requests: u64,
    /// Non-2xx answers, timeouts and transport errors (whole run, warm-up included).
    pub errors: u64,
    /// The window.
    pub window: Duration,
    /// Latency of every successful request of the window, nanoseconds.
    pub hist: Histogram<u64>,
}

impl LoadResult {
    /// Requests per second.
    pub fn rps(&self) -> f64 {
        self.requests as f64 / self.window.as_secs_f64()
    }

    /// Latency quantile `q` in microseconds.
    pub fn quantile_us(&self, q: f64) -> f64 {
        self.hist.value_at_quantile(q) as f64 / 1000.0
    }
}

pub fn new_hist() -> Histogram<u64> {
    // 1 ns .. 60 s, 3 significant digits.
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid histogram bounds")
}

pub type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

pub async fn connect(addr: SocketAddr) -> Result<Sender, String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake {addr}: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(send)
}

/// Send one request and read the whole answer.
pub async fn exchange(
    send: &mut Sender,
    req: Request<Full<Bytes>>,
) -> Result<(u16, Bytes), String> {
    let fut = async {
        send.ready().await.map_err(|e| e.to_string())?;
        let res = send.send_request(req).await.map_err(|e| e.to_string())?;
        let status = res.status().as_u16();
        let body = res
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok((status, body))
    };
    tokio::time::timeout(REQUEST_TIMEOUT, fut)
        .await
        .map_err(|_| "timeout".to_string())?
}

/// One request on a fresh connection (set-up steps, health probes).
pub async fn one_request(
    addr: SocketAddr,
    req: Request<Full<Bytes>>,
) -> Result<(u16, Bytes), String> {
    let mut send = connect(addr).await?;
    exchange(&mut send, req).await
}

/// Run the load for `warmup + duration`; answers completed inside the measured window are
/// counted.
///
/// Closed loop (`spec.rate` = `None`): every connection sends its next request as soon as the
/// previous answer is read; latency is send → answer read.
///
/// Open loop (`spec.rate` = `Some(r)`): a pacer thread releases request `k` at
/// `start + k / r` (a blocking OS-thread sleep: tokio timers tick per millisecond and would send
/// the requests in bursts) to connection `k mod c`. Latency counts from the release, so a request
/// held back behind a slow answer on its connection is charged for the wait (no coordinated
/// omission); the pacer's own wake-up lag (tens of µs) is not charged to the server.
pub async fn run(spec: LoadSpec, make: MakeRequest) -> Result<LoadResult, String> {
    let mut senders = Vec::with_capacity(spec.connections);
    for _ in 0..spec.connections {
        senders.push(connect(spec.addr).await?);
    }
    let start = Instant::now();
    let from = start + spec.warmup;
    let end = from + spec.duration;
    let rate = spec.rate.filter(|r| *r > 0.0);
    let mut releases = Vec::new();
    let mut workers = Vec::with_capacity(senders.len());
    for (i, mut send) in senders.into_iter().enumerate() {
        let make = make.clone();
        let mut released = rate.map(|_| {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Instant>();
            releases.push(tx);
            rx
        });
        workers.push(tokio::spawn(async move {
            let mut hist = new_hist();
            let (mut ok, mut errors) = (0u64, 0u64);
            loop {
                let origin = match released.as_mut() {
                    Some(rx) => match rx.recv().await {
                        Some(at) => Some(at),
                        None => break,
                    },
                    None => None,
                };
                if Instant::now() >= end {
                    break;
                }
                let req = make(i);
                let t0 = Instant::now();
                let origin = origin.unwrap_or(t0);
                let res = exchange(&mut send, req).await;
                let t1 = Instant::now();
                match res {
                    Ok((status, _)) if (200..300).contains(&status) => {
                        if origin >= from && t1 <= end {
                            ok += 1;
                            let ns = (t1 - origin).as_nanos().clamp(1, 60_000_000_000) as u64;
                            hist.saturating_record(ns);
                        }
                    }
                    Ok(_) => errors += 1,
                    Err(_) => {
                        // The connection is gone (or timed out): stop this worker.
                        errors += 1;
                        break;
                    }
                }
            }
            (hist, ok, errors)
        }));
    }
    if let Some(rate) = rate {
        let pacer = std::thread::spawn(move || {
            let step = Duration::from_secs_f64(1.0 / rate);
            let mut k: u32 = 0;
            loop {
                let due = start + step * k;
                if due >= end {
                    break;
                }
                let now = Instant::now();
                if due > now {
                    // Sleep at least PACER_TICK: fewer wake-ups of this thread, which shares
                    // the cores with the runtime; the requests then leave in small batches.
                    std::thread::sleep((due - now).max(PACER_TICK));
                    continue;
                }
                let _ = releases[k as usize % releases.len()].send(Instant::now());
                k = k.saturating_add(1);
            }
            // Dropping the senders ends the workers once their queues are drained.
        });
        tokio::task::spawn_blocking(move || pacer.join())
            .await
            .map_err(|e| e.to_string())?
            .map_err(|_| "the pacer thread panicked".to_string())?;
    }
    let mut hist = new_hist();
    let (mut requests, mut errors) = (0, 0);
    for w in workers {
        let (h, ok, err) = w.await.map_err(|e| e.to_string())?;
        hist.add(&h).map_err(|e| e.to_string())?;
        requests += ok;
        errors += err;
    }
    Ok(LoadResult {
        requests,
        errors,
        window: spec.duration,
        hist,
    })
}

/// A server on `127.0.0.1:0`; stops when the sender is dropped or fired.
pub struct Served {
    /// Its address.
    pub addr: SocketAddr,
    _stop: oneshot::Sender<()>,
}

/// Serve `router` on `127.0.0.1:0` until the returned [`Served`] is dropped.
pub async fn serve_router(router: axum::Router) -> Result<Served, String> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await;
    });
    Ok(Served { addr, _stop: stop })
}

/// The baseline: a minimal axum server answering `body` (JSON) to every request. No auth, no
/// state: the ceiling of this stack on this machine.
pub async fn baseline(body: Bytes) -> Result<Served, String> {
    let router = axum::Router::new().fallback(move || {
        let body = body.clone();
        async move {
            (
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                body,
            )
        }
    });
    serve_router(router).await
}

/// What the callback receiver saw.
#[derive(Debug, Default)]
pub struct Received {
    /// Every POST received.
    pub total: AtomicU64,
    /// Task ids whose terminal (`succeed` / `failed`) status arrived.
    pub terminal: Mutex<HashSet<String>>,
}

impl Received {
    /// Distinct tasks whose terminal callback arrived.
    pub fn terminal_count(&self) -> usize {
        self.terminal
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }
}

/// A callback receiver on `127.0.0.1:0`: answers 200 to every POST and notes terminal statuses.
pub async fn receiver() -> Result<(Served, Arc<Received>), String> {
    let seen = Arc::new(Received::default());
    let s = seen.clone();
    let router = axum::Router::new().fallback(move |body: Bytes| {
        let s = s.clone();
        async move {
            s.total.fetch_add(1, Ordering::Relaxed);
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) {
                let v = if v.get("task_status").is_some() {
                    &v
                } else {
                    v.get("data").unwrap_or(&v)
                };
                let status = v.get("task_status").and_then(|x| x.as_str());
                if matches!(status, Some("succeed" | "failed")) {
                    let id = match v.get("task_id") {
                        Some(serde_json::Value::String(id)) => id.clone(),
                        Some(other) => other.to_string(),
                        None => String::new(),
                    };
                    s.terminal
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(id);
                }
            }
            "ok"
        }
    });
    Ok((serve_router(router).await?, seen))
}
