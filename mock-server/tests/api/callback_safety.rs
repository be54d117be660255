//! Callback safety: bounded attempts (timeouts, a cap on the answer read), no redirects, the
//! allow-list (`--callback-allow`), and receivers that hang, fail or are gone never slowing the
//! API.
//!
//! Receivers listen on 127.0.0.1:0. Some are raw TCP servers, to misbehave in ways an HTTP
//! framework will not: accept and never answer, stream an endless body. Attempt timeouts are
//! real time, so they are set short (200 ms) where a test waits for them; everything else waits
//! on a channel, on `callbacks_idle` or (for the delivery log) polls it, always under a generous
//! guard timeout that only detects failure and never asserts a latency.

use crate::helpers::*;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::LOCATION;
use axum::response::IntoResponse;
use axum::routing::post;
use clap::Parser;
use kling_mock::config_file::{LoadError, load_from};
use kling_mock::engine::webhook::AllowEntry;
use kling_mock::engine::{AttemptResult, CallbackAttempt, Status};
use kling_mock::{Cli, Config};
use serde_json::{Value, json};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

/// Failure detector for anything that should take milliseconds.
const GUARD: Duration = Duration::from_secs(5);

/// 50 MB: a body no receiver answer should make the mock read.
const HUGE: usize = 50 * 1024 * 1024;

fn t2a(url: &str) -> Value {
    json!({"prompt": "rain on a tin roof", "duration": 3, "callback_url": url})
}

async fn guard<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(GUARD, f)
        .await
        .unwrap_or_else(|_| panic!("{what}: not done within {GUARD:?}"))
}

async fn idle(app: &TestApp) {
    guard("callbacks idle", app.state.engine.callbacks_idle()).await;
}

fn log_for(app: &TestApp, id: &str) -> Vec<CallbackAttempt> {
    app.state
        .engine
        .callback_log()
        .into_iter()
        .filter(|a| a.task_id == id)
        .collect()
}

fn stat(app: &TestApp, pick: fn(&kling_mock::engine::CallbackStats) -> u64) -> u64 {
    pick(app.state.engine.callback_stats())
}

/// An HTTP receiver counting its requests and answering each with `answer`.
struct Counter {
    url: String,
    hits: Arc<AtomicUsize>,
}

/// How a [`counting_receiver`] answers.
type Reply = fn() -> axum::response::Response;

async fn counting_receiver(answer: Reply) -> Counter {
    async fn hit(
        State((hits, answer)): State<(Arc<AtomicUsize>, Reply)>,
    ) -> axum::response::Response {
        hits.fetch_add(1, Ordering::SeqCst);
        answer()
    }
    let hits = Arc::new(AtomicUsize::new(0));
    let app = axum::Router::new()
        .route("/hook", post(hit))
        .with_state((hits.clone(), answer));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Counter {
        url: format!("http://127.0.0.1:{port}/hook"),
        hits,
    }
}

fn ok() -> axum::response::Response {
    StatusCode::OK.into_response()
}

fn server_error() -> axum::response::Response {
    StatusCode::INTERNAL_SERVER_ERROR.into_response()
}

/// A receiver that accepts TCP connections and never answers (nor closes them). `accepted`
/// counts the connections.
struct BlackHole {
    url: String,
    accepted: watch::Receiver<usize>,
}

async fn black_hole() -> BlackHole {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (tx, accepted) = watch::channel(0usize);
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
            tx.send_modify(|n| *n += 1);
        }
    });
    BlackHole { url, accepted }
}

/// Read one HTTP request (head and `Content-Length` body) from `sock`.
async fn read_request(sock: &mut TcpStream) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = sock.read(&mut chunk).await.unwrap_or(0);
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        if buf.len() >= end + 4 + len {
            return;
        }
    }
}

/// How a flooding receiver's answer went: the body bytes it managed to write before the mock
/// hung up (or it wrote everything).
#[derive(Debug)]
struct Flood {
    written: usize,
    cut_off: bool,
}

/// A receiver answering `200 OK` with a body of `total` bytes (`None`: endless, chunked), written
/// as fast as the mock reads it. Reports each connection's [`Flood`] on the channel.
async fn flooding_receiver(total: Option<usize>) -> (String, mpsc::UnboundedReceiver<Flood>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                read_request(&mut sock).await;
                let head = match total {
                    Some(n) => format!("HTTP/1.1 200 OK\r\ncontent-length: {n}\r\n\r\n"),
                    None => "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n".to_string(),
                };
                let block = vec![b'x'; 64 * 1024];
                let mut written = 0usize;
                let mut cut_off = sock.write_all(head.as_bytes()).await.is_err();
                while !cut_off && total.is_none_or(|t| written < t) {
                    let res = match total {
                        Some(_) => sock.write_all(&block).await,
                        None => {
                            let mut framed = format!("{:x}\r\n", block.len()).into_bytes();
                            framed.extend_from_slice(&block);
                            framed.extend_from_slice(b"\r\n");
                            sock.write_all(&framed).await
                        }
                    };
                    match res {
                        Ok(()) => written += block.len(),
                        Err(_) => cut_off = true,
                    }
                }
                let _ = tx.send(Flood { written, cut_off });
            });
        }
    });
    (url, rx)
}

/// A loopback port with nothing listening on it.
async fn closed_port_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}/hook")
}

/// Poll `cond` (real network events, not the mock clock) until it holds, under [`GUARD`].
async fn eventually(what: &str, cond: impl Fn() -> bool) {
    guard(what, async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
}

fn allow_config(allow: &str) -> Config {
    let mut cfg = config();
    cfg.callbacks.allow = allow.parse().expect("allow-list");
    cfg
}

// --- timeouts ---------------------------------------------------------------------------------

#[tokio::test]
async fn a_receiver_that_never_answers_times_out_each_attempt_and_the_task_goes_on() {
    let mut cfg = config();
    cfg.callbacks.timeout = Duration::from_millis(200);
    cfg.callbacks.retries = 1;
    let app = spawn_with(cfg).await;
    let mut hole = black_hole().await;
    let id = app.create_t2a(t2a(&hole.url)).await;

    // The first attempt hangs on the receiver; the task answers all the same.
    guard("first connection", hole.accepted.wait_for(|n| *n >= 1))
        .await
        .unwrap();
    let v = guard("query", app.get(&format!("/v1/audio/text-to-audio/{id}"))).await;
    assert_eq!(v.ok()["task_status"], "submitted");
    app.advance(FINISH);
    let v = guard("query", app.get(&format!("/v1/audio/text-to-audio/{id}"))).await;
    assert_eq!(v.ok()["task_status"], "succeed");

    idle(&app).await;
    let log = log_for(&app, &id);
    let submitted: Vec<&CallbackAttempt> = log
        .iter()
        .filter(|a| a.status == Status::Submitted)
        .collect();
    assert_eq!(
        submitted.iter().map(|a| a.attempt).collect::<Vec<_>>(),
        [1, 2],
        "one retry: {log:#?}"
    );
    for a in &log {
        let AttemptResult::Error { message } = &a.result else {
            panic!("expected a timeout, got {a:?}");
        };
        assert!(message.contains("timed out"), "{message}");
        assert!(message.contains("200ms"), "{message}");
        assert!((200..3000).contains(&a.latency_ms), "{a:?}");
    }
    // Three status changes, each tried twice, each on its own connection.
    assert_eq!(log.len(), 6);
    assert_eq!(*hole.accepted.borrow(), 6);
    assert_eq!(stat(&app, |s| s.failed.load(Ordering::Relaxed)), 3);
    assert_eq!(stat(&app, |s| s.delivered.load(Ordering::Relaxed)), 0);
}

#[tokio::test]
async fn a_receiver_that_never_accepts_fails_the_attempt_as_a_connect_timeout() {
    let mut cfg = config();
    cfg.callbacks.connect_timeout = Duration::from_millis(200);
    cfg.callbacks.retries = 0;
    let app = spawn_with(cfg).await;
    // A listener that never accepts, its backlog filled: the kernel drops further SYNs, so a
    // connection attempt hangs (as towards a firewalled host).
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    sock.listen(1).unwrap();
    let addr = sock.local_addr().unwrap().as_socket().unwrap();
    let mut fillers = Vec::new();
    let mut full = false;
    for _ in 0..16 {
        match tokio::time::timeout(Duration::from_millis(300), TcpStream::connect(addr)).await {
            Ok(Ok(s)) => fillers.push(s),
            _ => {
                full = true;
                break;
            }
        }
    }
    assert!(full, "the backlog never filled");
    let id = app.create_t2a(t2a(&format!("http://{addr}/hook"))).await;
    idle(&app).await;
    let log = log_for(&app, &id);
    let AttemptResult::Error { message } = &log[0].result else {
        panic!("expected an error, got {log:?}");
    };
    assert!(message.contains("connect timed out"), "{message}");
    assert!(message.contains("200ms"), "{message}");
    assert!(log[0].latency_ms < 3000, "{:?}", log[0]);
}

// --- the answer read --------------------------------------------------------------------------

#[tokio::test]
async fn a_receiver_streaming_an_endless_body_is_cut_off_and_the_delivery_counts() {
    let mut cfg = config();
    cfg.callbacks.retries = 0;
    // Longer than the guard: reading the whole body would trip the guard, not this timeout.
    cfg.callbacks.timeout = Duration::from_secs(30);
    let app = spawn_with(cfg).await;
    let (url, mut floods) = flooding_receiver(None).await;
    let id = app.create_t2a(t2a(&url)).await;

    let flood = guard("the mock hangs up", floods.recv()).await.unwrap();
    assert!(flood.cut_off, "{flood:?}");
    idle(&app).await;
    let log = log_for(&app, &id);
    assert_eq!(log.len(), 1, "{log:#?}");
    assert_eq!(log[0].result, AttemptResult::Http { status: 200 });
    assert_eq!(stat(&app, |s| s.delivered.load(Ordering::Relaxed)), 1);
}

#[tokio::test]
async fn a_50_megabyte_answer_is_not_read_to_its_end() {
    let mut cfg = config();
    cfg.callbacks.retries = 0;
    cfg.callbacks.timeout = Duration::from_secs(30);
    let app = spawn_with(cfg).await;
    let (url, mut floods) = flooding_receiver(Some(HUGE)).await;
    let id = app.create_t2a(t2a(&url)).await;

    let flood = guard("the mock hangs up", floods.recv()).await.unwrap();
    // What the receiver got out is the mock's read plus the kernel's socket buffers: far from
    // 50 MB when the mock stops at its limit.
    assert!(flood.cut_off, "{flood:?}");
    assert!(flood.written < HUGE / 2, "{flood:?}");
    idle(&app).await;
    assert!(log_for(&app, &id)[0].result.is_delivered());
    assert_eq!(stat(&app, |s| s.delivered.load(Ordering::Relaxed)), 1);
}

// --- redirects --------------------------------------------------------------------------------

#[tokio::test]
async fn a_redirect_to_another_host_is_not_followed_and_the_log_says_where_it_pointed() {
    let mut cfg = config();
    cfg.callbacks.retries = 1;
    let app = spawn_with(cfg).await;
    let elsewhere = counting_receiver(ok).await;
    // The redirecting receiver is built around the other one's URL.
    let target = elsewhere.url.clone();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let redirecting = axum::Router::new().route(
        "/hook",
        post(move || {
            h.fetch_add(1, Ordering::SeqCst);
            let target = target.clone();
            async move { (StatusCode::FOUND, [(LOCATION, target)]) }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, redirecting).await });

    let id = app.create_t2a(t2a(&url)).await;
    idle(&app).await;
    assert_eq!(hits.load(Ordering::SeqCst), 2, "tried, then retried once");
    assert_eq!(elsewhere.hits.load(Ordering::SeqCst), 0, "never followed");
    let log = log_for(&app, &id);
    assert_eq!(log.len(), 2);
    for a in &log {
        assert_eq!(
            a.result,
            AttemptResult::Redirect {
                status: 302,
                location: Some(elsewhere.url.clone())
            }
        );
        assert!(!a.result.is_delivered());
    }
    assert_eq!(stat(&app, |s| s.failed.load(Ordering::Relaxed)), 1);
    let j = app
        .ctl_get(&format!("/__mock/callbacks?task_id={id}"))
        .await;
    assert_eq!(
        j.ok()["log"][0]["result"],
        json!({"kind": "redirect", "status": 302, "location": elsewhere.url})
    );
}

// --- the allow-list ---------------------------------------------------------------------------

#[tokio::test]
async fn an_allow_list_of_the_loopback_network_lets_callbacks_through() {
    let app = spawn_with(allow_config("127.0.0.0/8")).await;
    let r = counting_receiver(ok).await;
    let id = app.create_t2a(t2a(&r.url)).await;
    idle(&app).await;
    assert_eq!(r.hits.load(Ordering::SeqCst), 1);
    assert!(log_for(&app, &id)[0].result.is_delivered());
    assert_eq!(stat(&app, |s| s.blocked.load(Ordering::Relaxed)), 0);
}

#[tokio::test]
async fn a_callback_outside_the_allow_list_is_blocked_never_sent_and_never_retried() {
    let app = spawn_with(allow_config("10.0.0.0/8")).await;
    let r = counting_receiver(ok).await;
    // The create is accepted, as the real API accepts any callback_url.
    let id = app.create_t2a(t2a(&r.url)).await;
    idle(&app).await;
    let log = log_for(&app, &id);
    assert_eq!(log.len(), 1, "no retry: {log:#?}");
    assert_eq!(log[0].attempt, 0, "never sent");
    let AttemptResult::Blocked { message } = &log[0].result else {
        panic!("expected blocked, got {:?}", log[0]);
    };
    assert!(message.contains("127.0.0.1"), "{message}");
    assert!(message.contains("10.0.0.0/8"), "{message}");
    assert!(message.contains("allow-list"), "{message}");

    app.advance(FINISH);
    idle(&app).await;
    let v = app.get(&format!("/v1/audio/text-to-audio/{id}")).await;
    assert_eq!(v.ok()["task_status"], "succeed");
    assert_eq!(r.hits.load(Ordering::SeqCst), 0);
    let c = app.ctl_get("/__mock/callbacks").await;
    let c = c.ok();
    assert_eq!(c["stats"]["blocked"], 3);
    assert_eq!(c["stats"]["attempts"], 0);
    assert_eq!(c["stats"]["failed"], 0);
    assert_eq!(c["log"][0]["result"]["kind"], "blocked");
}

#[tokio::test]
async fn a_host_name_entry_allows_that_name_but_not_its_address() {
    let app = spawn_with(allow_config("localhost")).await;
    let r = counting_receiver(ok).await;
    let by_name = r.url.replace("127.0.0.1", "localhost");
    let named = app.create_t2a(t2a(&by_name)).await;
    let by_ip = app.create_t2a(t2a(&r.url)).await;
    idle(&app).await;
    assert!(log_for(&app, &named)[0].result.is_delivered());
    assert!(matches!(
        log_for(&app, &by_ip)[0].result,
        AttemptResult::Blocked { .. }
    ));
    assert_eq!(r.hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_host_name_is_checked_by_the_addresses_it_resolves_to() {
    // Not allowed by name: `localhost` goes through only towards an allowed address.
    let app = spawn_with(allow_config("127.0.0.0/8")).await;
    let r = counting_receiver(ok).await;
    let id = app
        .create_t2a(t2a(&r.url.replace("127.0.0.1", "localhost")))
        .await;
    idle(&app).await;
    assert!(log_for(&app, &id)[0].result.is_delivered());
    assert_eq!(r.hits.load(Ordering::SeqCst), 1);

    let app = spawn_with(allow_config("10.0.0.0/8")).await;
    let id = app
        .create_t2a(t2a(&r.url.replace("127.0.0.1", "localhost")))
        .await;
    idle(&app).await;
    let log = log_for(&app, &id);
    assert_eq!(log.len(), 1, "no retry: {log:#?}");
    let AttemptResult::Blocked { message } = &log[0].result else {
        panic!("expected blocked, got {:?}", log[0]);
    };
    assert!(message.contains("localhost"), "{message}");
    assert!(message.contains("127.0.0.1"), "{message}");
    assert_eq!(r.hits.load(Ordering::SeqCst), 1, "nothing more arrived");
}

#[test]
fn allow_list_and_connect_timeout_parse_from_the_command_line() {
    let cfg: Config = Cli::parse_from([
        "kling-mock",
        "--callback-allow",
        "127.0.0.0/8,*.example.com",
        "--callback-allow",
        "localhost",
        "--callback-connect-timeout",
        "250ms",
    ])
    .into();
    assert_eq!(
        cfg.callbacks.allow.entries(),
        [
            AllowEntry::Net("127.0.0.0/8".parse().unwrap()),
            AllowEntry::Subdomains("example.com".into()),
            AllowEntry::Host("localhost".into()),
        ]
    );
    assert_eq!(cfg.callbacks.connect_timeout, Duration::from_millis(250));
    let none: Config = Cli::parse_from(["kling-mock"]).into();
    assert!(none.callbacks.allow.is_empty(), "default: every host");
    // An empty value (e.g. KLING_MOCK_CALLBACK_ALLOW="") is the default, not an error.
    let empty: Config = Cli::parse_from(["kling-mock", "--callback-allow", ""]).into();
    assert!(empty.callbacks.allow.is_empty());
}

#[test]
fn bad_allow_entries_are_refused_with_a_message_naming_them() {
    for bad in ["10.0.0.0/33", "exa mple.com", "*", "fd00::/129"] {
        let err = Cli::try_parse_from(["kling-mock", "--callback-allow", bad])
            .expect_err(bad)
            .to_string();
        assert!(err.contains(bad), "{bad}: {err}");
        assert!(err.contains("--callback-allow"), "{err}");
    }
}

#[test]
fn the_config_file_takes_an_allow_list_and_names_a_bad_entry() {
    let dir = std::env::temp_dir().join(format!("kling-mock-allow-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.toml");
    std::fs::write(
        &good,
        "[callbacks]\nconnect_timeout = \"1s\"\nallow = [\"127.0.0.0/8\", \"hooks.example.com\"]\n",
    )
    .unwrap();
    let loaded = load_from(["kling-mock", "--config", good.to_str().unwrap()]).unwrap();
    let cb = &loaded.config.callbacks;
    assert_eq!(cb.allow.to_string(), "127.0.0.0/8,hooks.example.com");
    assert_eq!(cb.connect_timeout, Duration::from_secs(1));
    // --print-config writes the list back as a file that loads the same list.
    let printed = dir.join("printed.toml");
    std::fs::write(&printed, kling_mock::config_file::to_toml(&loaded.config)).unwrap();
    let again = load_from(["kling-mock", "--config", printed.to_str().unwrap()]).unwrap();
    assert_eq!(again.config.callbacks.allow, cb.allow);
    assert_eq!(again.config.callbacks.connect_timeout, cb.connect_timeout);

    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "[callbacks]\nallow = [\"127.0.0.0/8\", \"10.0.0.0/33\"]\n",
    )
    .unwrap();
    let Err(LoadError::File(msg)) = load_from(["kling-mock", "--config", bad.to_str().unwrap()])
    else {
        panic!("a bad allow entry must stop the load");
    };
    assert!(msg.contains("10.0.0.0/33"), "{msg}");
    assert!(msg.contains("allow"), "{msg}");
}

#[tokio::test]
async fn the_binary_refuses_to_start_with_a_bad_allow_entry_from_the_environment() {
    let stderr =
        binary_refuses_to_start(&[("KLING_MOCK_CALLBACK_ALLOW", "localhost,10.0.0.0/33")]).await;
    assert!(stderr.contains("10.0.0.0/33"), "{stderr}");
}

// --- the API is never slowed ------------------------------------------------------------------

#[tokio::test]
async fn receivers_that_hang_fail_or_are_gone_never_slow_the_api() {
    let mut cfg = config();
    // Stuck for the whole test: attempts to the black hole never end while the API is queried.
    cfg.callbacks.timeout = Duration::from_secs(60);
    cfg.callbacks.retries = 3;
    // Every first delivery in flight at once, so each kind of receiver is really tried.
    cfg.callbacks.concurrency = 1000;
    let app = spawn_with(cfg).await;
    let mut hole = black_hole().await;
    let failing = counting_receiver(server_error).await;
    let gone = closed_port_url().await;
    let urls = [hole.url.clone(), failing.url.clone(), gone.clone()];

    let mut ids = Vec::new();
    for i in 0..200 {
        let id = guard("create", app.create_t2a(t2a(&urls[i % 3]))).await;
        ids.push(id);
    }
    // Every task finishes on the virtual clock: 400 more changes queue behind the stuck ones.
    app.advance(FINISH);

    guard(
        "the black hole holds attempts",
        hole.accepted.wait_for(|n| *n >= 60),
    )
    .await
    .unwrap();
    eventually("the failing receiver answered 500", || {
        failing.hits.load(Ordering::SeqCst) >= 60
    })
    .await;
    eventually("the closed port refused", || {
        app.state.engine.callback_log().iter().any(|a| {
            a.url == gone && matches!(&a.result, AttemptResult::Error { message } if !message.contains("timed out"))
        })
    })
    .await;
    assert!(
        app.state.engine.callbacks_pending() > 0,
        "deliveries are stuck"
    );

    // Meanwhile the API answers every call, correctly.
    let fresh = guard("create while stuck", app.create_t2a(t2a(&hole.url))).await;
    let v = guard(
        "get while stuck",
        app.get(&format!("/v1/audio/text-to-audio/{fresh}")),
    )
    .await;
    assert_eq!(v.ok()["task_status"], "submitted");
    for id in ids.iter().step_by(17) {
        let v = guard(
            "get while stuck",
            app.get(&format!("/v1/audio/text-to-audio/{id}")),
        )
        .await;
        assert_eq!(v.ok()["task_status"], "succeed", "{id}");
    }
    let page = guard(
        "list while stuck",
        app.get("/v1/audio/text-to-audio?pageSize=500"),
    )
    .await;
    let page = page.ok().as_array().expect("list").clone();
    assert_eq!(page.len(), 201);
    assert_eq!(page[0]["task_id"], fresh.as_str(), "newest first");
    let state = guard("control plane while stuck", app.ctl_get("/__mock/state")).await;
    state.ok();
    assert!(app.state.engine.callbacks_pending() > 0, "still stuck");
}

/// Deliveries run on a thread of their own (`kling-callbacks`): they go out even while the
/// runtime the server was started on is blocked (a test waiting synchronously, a busy worker).
/// The receiver is a plain thread outside every runtime; this test's runtime has one thread, and
/// it is blocked in `recv_timeout` while the callbacks must arrive.
#[tokio::test]
async fn deliveries_go_out_while_the_servers_runtime_is_blocked() {
    use std::io::{BufRead, BufReader, Read, Write};
    let app = spawn_app().await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let tx = tx.clone();
            std::thread::spawn(move || {
                let Ok(read_half) = stream.try_clone() else {
                    return;
                };
                let (mut r, mut w) = (BufReader::new(read_half), stream);
                loop {
                    let (mut len, mut line) = (0usize, String::new());
                    loop {
                        line.clear();
                        if r.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; len];
                    if r.read_exact(&mut body).is_err() || tx.send(body).is_err() {
                        return;
                    }
                    if w.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    let id = app.create_t2a(t2a(&url)).await;
    let status_of = |body: Vec<u8>| {
        let v: Value = serde_json::from_slice(&body).expect("a JSON callback");
        assert_eq!(v["task_id"], id.as_str());
        v["task_status"].as_str().unwrap_or_default().to_string()
    };
    // From here on this runtime is blocked: nothing the server spawned on it can run.
    let first = rx
        .recv_timeout(GUARD)
        .expect("`submitted` delivered while the server's runtime is blocked");
    assert_eq!(status_of(first), "submitted");
    // The clock moved from outside any await: the rest goes out too.
    app.advance(FINISH);
    let rest: Vec<String> = (0..2)
        .map(|_| status_of(rx.recv_timeout(GUARD).expect("the next change delivered")))
        .collect();
    assert_eq!(rest[0], "processing");
    assert!(
        rest[1] == "succeed" || rest[1] == "failed",
        "the last change is final: {rest:?}"
    );
}
