//! Where requests go: a `kling-mock` started in-process (the default), or any base URL with an
//! access key and secret key (a mock in a container, or the real Kling API).
//!
//! The harness is synchronous (proptest runs plain closures); every network call runs on the
//! target's own tokio runtime via `block_on`. Requests are spaced by `--rate-limit`, and an answer
//! with code 1302/1303 (HTTP 429) is waited out and retried, never counted as a failure.

use crate::client;
use kling_mock::config::{AccountSpec, TimingSpec};
use kling_mock::engine::{Lifecycle, Progress, Span};
use kling_mock::kinds::KindId;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::runtime::Runtime;

/// An account of the target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    /// Access key (JWT `iss`).
    pub access_key: String,
    /// Secret key.
    pub secret_key: String,
}

/// How the harness lets time pass.
#[derive(Clone)]
enum Time {
    /// The in-process mock's virtual clock: passing time is instant.
    Virtual(Arc<kling_mock::engine::Engine>),
    /// Real time: passing time sleeps.
    Real,
    /// A remote kling-mock: passing time advances its clock through `POST /__mock/clock` (and
    /// waits for the callbacks it caused); falls back to sleeping if the control plane refuses.
    MockControl {
        token: Option<String>,
        works: Arc<std::sync::atomic::AtomicBool>,
    },
}

/// Who signs a request.
#[derive(Clone, Debug)]
pub enum Auth {
    /// A valid token of account `n` (0 = primary, 1 = second).
    Account(usize),
    /// No `Authorization` header.
    None,
    /// This exact header value.
    Header(String),
}

/// A request body.
#[derive(Clone, Debug)]
pub enum Body {
    /// `application/json` of this value.
    Json(Value),
}

/// One request.
#[derive(Clone, Debug)]
pub struct Request {
    /// HTTP method.
    pub method: reqwest::Method,
    /// Path and query, e.g. `/v1/audio/text-to-audio?pageSize=3`.
    pub path: String,
    /// Authorization.
    pub auth: Auth,
    /// Body.
    pub body: Option<Body>,
}

impl Request {
    /// GET `path` as the primary account.
    pub fn get(path: impl Into<String>) -> Request {
        Request {
            method: reqwest::Method::GET,
            path: path.into(),
            auth: Auth::Account(0),
            body: None,
        }
    }

    /// POST JSON to `path` as the primary account.
    pub fn post(path: impl Into<String>, body: Value) -> Request {
        Request {
            method: reqwest::Method::POST,
            path: path.into(),
            auth: Auth::Account(0),
            body: Some(Body::Json(body)),
        }
    }

    /// The same request signed differently.
    pub fn auth(mut self, auth: Auth) -> Request {
        self.auth = auth;
        self
    }
}

/// An answer.
#[derive(Clone, Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// The body as JSON (`Value::Null` if it was not JSON).
    pub body: Value,
    /// The body as text (for reports).
    pub text: String,
    /// `Retry-After` in seconds, if the answer had one.
    pub retry_after: Option<Duration>,
}

impl Reply {
    /// The envelope's `code`, if any.
    pub fn code(&self) -> Option<i64> {
        self.body.get("code").and_then(Value::as_i64)
    }

    /// The envelope's `data`.
    pub fn data(&self) -> &Value {
        &self.body["data"]
    }

    /// Whether this is a success envelope.
    pub fn is_success(&self) -> bool {
        self.status == 200 && self.code() == Some(0)
    }
}

impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text: String = self.text.chars().take(600).collect();
        write!(f, "HTTP {} {}", self.status, text)
    }
}

/// Request pacing and 429 handling.
#[derive(Debug)]
struct Pacing {
    /// Least time between two requests.
    min_gap: Duration,
    next: Mutex<Instant>,
}

/// Settings of a remote target.
#[derive(Clone, Debug)]
pub struct RemoteSpec {
    /// Base URL, e.g. `https://api-singapore.klingai.com`.
    pub base_url: String,
    /// Primary account.
    pub account: Account,
    /// A second account, for the isolation property.
    pub second: Option<Account>,
    /// `--control-token` of a remote kling-mock (with `mock_target`, time is moved through its
    /// control plane).
    pub control_token: Option<String>,
}

/// A target: where requests go, with what keys, and how time passes.
pub struct Target {
    rt: Arc<Runtime>,
    http: reqwest::Client,
    /// Base URL.
    pub base_url: String,
    /// Accounts: the primary first, then an optional second one.
    pub accounts: Vec<Account>,
    time: Time,
    /// Whether the target is a kling-mock (in-process, or declared with `--mock-target`).
    pub is_mock: bool,
    pacing: Pacing,
    /// 429 answers waited out.
    pub throttled: std::sync::atomic::AtomicU64,
    /// A shared kling-mock borrowed by [`Target::borrow_mock`], to give back.
    borrowed: Option<Borrowed>,
}

/// What the run changed on a borrowed mock.
struct Borrowed {
    /// Accounts the run added.
    accounts: Vec<String>,
    /// `GET /__mock/clock` when the run began.
    clock: Value,
    /// How control-plane requests are signed.
    control: Auth,
}

/// Timings of the in-process mock: short, and only virtual anyway.
const IN_PROCESS_TIMING: Lifecycle = Lifecycle {
    submitted: Span::fixed(500),
    processing: Span::fixed(2000),
    progress: Progress::Time,
};

impl Target {
    fn runtime() -> Arc<Runtime> {
        Arc::new(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a tokio runtime"),
        )
    }

    /// Start a kling-mock in-process on 127.0.0.1:0 with two accounts and a frozen clock.
    pub fn in_process(rate_per_sec: Option<f64>) -> std::io::Result<Target> {
        let rt = Target::runtime();
        let accounts = vec![
            Account {
                access_key: "contract-ak-1".into(),
                secret_key: "contract-sk-1".into(),
            },
            Account {
                access_key: "contract-ak-2".into(),
                secret_key: "contract-sk-2".into(),
            },
        ];
        let config = kling_mock::Config {
            bind: ([127, 0, 0, 1], 0).into(),
            accounts: accounts
                .iter()
                .map(|a| AccountSpec {
                    access_key: a.access_key.clone(),
                    secret_key: a.secret_key.clone(),
                })
                .collect(),
            timings: KindId::tasks()
                .map(|kind| TimingSpec {
                    kind,
                    lifecycle: IN_PROCESS_TIMING,
                })
                .collect(),
            callbacks: kling_mock::config::CallbackConfig {
                backoff: Duration::from_millis(50),
                ..Default::default()
            },
            ..Default::default()
        };
        let server = rt.block_on(kling_mock::Server::bind_with_clock(
            config,
            kling_mock::Clock::frozen(kling_mock::Clock::wall_ms()),
        ))?;
        let base_url = server.base_url();
        let engine = server.state().engine.clone();
        rt.spawn(server.run(std::future::pending()));
        Ok(Target::new(
            rt,
            base_url,
            accounts,
            Time::Virtual(engine),
            true,
            rate_per_sec,
        ))
    }

    /// Use the server at `spec.base_url`.
    pub fn remote(spec: RemoteSpec, is_mock: bool, rate_per_sec: Option<f64>) -> Target {
        let mut accounts = vec![spec.account];
        accounts.extend(spec.second);
        let base = spec.base_url.trim_end_matches('/').to_string();
        let time = if is_mock {
            Time::MockControl {
                token: spec.control_token,
                works: Arc::new(true.into()),
            }
        } else {
            Time::Real
        };
        Target::new(
            Target::runtime(),
            base,
            accounts,
            time,
            is_mock,
            rate_per_sec,
        )
    }

    fn new(
        rt: Arc<Runtime>,
        base_url: String,
        accounts: Vec<Account>,
        time: Time,
        is_mock: bool,
        rate: Option<f64>,
    ) -> Target {
        let min_gap = match rate {
            Some(r) if r > 0.0 => Duration::from_secs_f64(1.0 / r),
            _ => Duration::ZERO,
        };
        Target {
            rt,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap_or_default(),
            base_url,
            accounts,
            time,
            is_mock,
            pacing: Pacing {
                min_gap,
                next: Mutex::new(Instant::now()),
            },
            throttled: Default::default(),
            borrowed: None,
        }
    }

    /// The runtime the target's network work runs on (for the callback receiver).
    pub fn runtime_handle(&self) -> &Arc<Runtime> {
        &self.rt
    }

    /// Whether the target's clock is virtual (in-process): passing time costs nothing.
    pub fn virtual_time(&self) -> bool {
        match &self.time {
            Time::Virtual(_) => true,
            Time::MockControl { works, .. } => works.load(std::sync::atomic::Ordering::Relaxed),
            Time::Real => false,
        }
    }

    /// Borrow a shared kling-mock (`--mock-target`) so that the run leaves it as it found it:
    /// two accounts of the run's own (`POST /__mock/accounts`, random keys) instead of the
    /// given ones, and the clock as found read for [`Target::give_back`]. Returns what it did
    /// or why it could not (a mock without a reachable control plane, or an older one): then
    /// the run uses the given accounts, and says that what it creates stays there.
    pub fn borrow_mock(&mut self) -> String {
        let Time::MockControl { token, .. } = &self.time else {
            return String::new();
        };
        let control = token
            .as_deref()
            .map_or(Auth::None, |t| Auth::Header(format!("Bearer {t}")));
        let ctl = |method: reqwest::Method, path: &str, body: Option<Value>| Request {
            method,
            path: path.into(),
            auth: control.clone(),
            body: body.map(Body::Json),
        };
        let clock = self.send_once(&ctl(reqwest::Method::GET, "/__mock/clock", None));
        if !clock.is_success() {
            self.time = Time::Real;
            return format!(
                "the mock's control plane answered GET /__mock/clock with HTTP {} ({}): time is \
                 waited for, and what the run creates stays on the given accounts \
                 (--mock-control-token?)",
                clock.status,
                clock.code().map_or("no code".into(), |c| c.to_string())
            );
        }
        // From here on the clock is set back at the end, whatever else happens.
        let mut borrowed = Borrowed {
            accounts: Vec::new(),
            clock: clock.data().clone(),
            control: control.clone(),
        };
        let run = uuid::Uuid::new_v4().simple().to_string();
        let mut made = Vec::new();
        for n in 1..=2 {
            let account = Account {
                access_key: format!("kling-contract-{}-{n}", &run[..12]),
                secret_key: uuid::Uuid::new_v4().simple().to_string(),
            };
            let body = serde_json::json!({
                "access_key": account.access_key, "secret_key": account.secret_key});
            let r = self.send_once(&ctl(reqwest::Method::POST, "/__mock/accounts", Some(body)));
            if !r.is_success() {
                self.borrowed = Some(borrowed);
                return format!(
                    "the mock cannot add accounts (POST /__mock/accounts: HTTP {}): the run uses \
                     the given accounts, and what it creates stays there",
                    r.status
                );
            }
            borrowed.accounts.push(account.access_key.clone());
            made.push(account);
        }
        let note = format!(
            "the run works in accounts of its own: {}",
            borrowed.accounts.join(", ")
        );
        self.accounts = made;
        self.borrowed = Some(borrowed);
        note
    }

    /// Give a borrowed mock back as found: remove the run's accounts (and all they hold) and
    /// set the clock back to where it was (frozen at the same time, or running with the same
    /// offset from wall time). Returns what it did, for the report.
    pub fn give_back(&mut self) -> Vec<String> {
        let Some(b) = self.borrowed.take() else {
            return Vec::new();
        };
        let req = |method: reqwest::Method, path: String, body: Option<Value>| Request {
            method,
            path,
            auth: b.control.clone(),
            body: body.map(Body::Json),
        };
        let mut notes = Vec::new();
        for ak in &b.accounts {
            let r = self.send_once(&req(
                reqwest::Method::DELETE,
                format!("/__mock/accounts/{ak}"),
                None,
            ));
            notes.push(if r.is_success() {
                format!("removed the run's account {ak} and everything it held")
            } else {
                format!(
                    "could not remove the run's account {ak}: HTTP {} {}",
                    r.status, r.text
                )
            });
        }
        let now = self.send_once(&req(reqwest::Method::GET, "/__mock/clock".into(), None));
        let (Some(then_ms), Some(now_ms), Some(wall_ms)) = (
            b.clock["now_ms"].as_i64(),
            now.data()["now_ms"].as_i64(),
            now.data()["wall_ms"].as_i64(),
        ) else {
            notes.push(format!(
                "could not read the clock to set it back: {}",
                now.text
            ));
            return notes;
        };
        let body = if b.clock["mode"] == "frozen" {
            serde_json::json!({"mode": "frozen", "set_ms": then_ms})
        } else {
            let offset = b.clock["offset_ms"]
                .as_i64()
                .unwrap_or(then_ms.saturating_sub(b.clock["wall_ms"].as_i64().unwrap_or(then_ms)));
            serde_json::json!({"mode": "real", "set_ms": wall_ms.saturating_add(offset)})
        };
        let moved_s =
            now_ms.saturating_sub(body["set_ms"].as_i64().unwrap_or(now_ms)) as f64 / 1000.0;
        let r = self.send_once(&req(
            reqwest::Method::POST,
            "/__mock/clock".into(),
            Some(body),
        ));
        notes.push(if r.is_success() {
            format!(
                "set the clock back by {moved_s:.1} s, to where it was ({}); tasks of other \
                 accounts that were in flight meanwhile moved on with it",
                if b.clock["mode"] == "frozen" {
                    "frozen"
                } else {
                    "running"
                }
            )
        } else {
            format!("could not set the clock back: HTTP {} {}", r.status, r.text)
        });
        notes
    }

    /// Whether a second account is available.
    pub fn has_second_account(&self) -> bool {
        self.accounts.len() > 1
    }

    /// Let `d` pass: the virtual clock jumps, or the harness sleeps.
    pub fn pass(&self, d: Duration) {
        match &self.time {
            Time::Virtual(engine) => engine.advance(d.as_millis() as i64),
            Time::Real => std::thread::sleep(d),
            Time::MockControl { token, works } => {
                if works.load(std::sync::atomic::Ordering::Relaxed)
                    && self.advance_remote(d, token.as_deref())
                {
                    return;
                }
                works.store(false, std::sync::atomic::Ordering::Relaxed);
                std::thread::sleep(d);
            }
        }
    }

    /// `POST /__mock/clock {"advance_ms", "wait_callbacks": true}` on a remote kling-mock.
    fn advance_remote(&self, d: Duration, token: Option<&str>) -> bool {
        let body = serde_json::json!({"advance_ms": d.as_millis() as u64, "wait_callbacks": true});
        let req = Request {
            method: reqwest::Method::POST,
            path: "/__mock/clock".into(),
            auth: token.map_or(Auth::None, |t| Auth::Header(format!("Bearer {t}"))),
            body: Some(Body::Json(body)),
        };
        self.send_once(&req).is_success()
    }

    /// The `Authorization` value for account `n` now.
    pub fn bearer(&self, n: usize) -> String {
        let a = &self.accounts[n.min(self.accounts.len() - 1)];
        client::authorization(&a.access_key, &a.secret_key, now_secs()).unwrap_or_default()
    }

    /// Send `req`, waiting out rate limits (HTTP 429 with 1302/1303, up to a few minutes).
    pub fn call(&self, req: &Request) -> Reply {
        let mut backoff = Duration::from_secs(1);
        for _ in 0..8 {
            let reply = self.send_once(req);
            let throttled = reply.status == 429 && matches!(reply.code(), Some(1302 | 1303));
            if !throttled {
                return reply;
            }
            self.throttled
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            // The server's own Retry-After wins; otherwise exponential backoff from 1 s
            // (SOURCES.md: Rate Limits: "exponential backoff, initial delay ≥1 s").
            let wait = reply
                .retry_after
                .unwrap_or(backoff)
                .min(Duration::from_secs(120));
            self.pass_real(wait);
            backoff = (backoff * 2).min(Duration::from_secs(30));
        }
        self.send_once(req)
    }

    fn pass_real(&self, d: Duration) {
        std::thread::sleep(d);
    }

    fn pace(&self) {
        if self.pacing.min_gap.is_zero() {
            return;
        }
        let wait = {
            let mut next = self.pacing.next.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            let at = (*next).max(now);
            *next = at + self.pacing.min_gap;
            at - now
        };
        std::thread::sleep(wait);
    }

    fn send_once(&self, req: &Request) -> Reply {
        self.pace();
        let url = format!("{}{}", self.base_url, req.path);
        let mut b = self.http.request(req.method.clone(), url);
        match &req.auth {
            Auth::Account(n) => b = b.header("authorization", self.bearer(*n)),
            Auth::None => {}
            Auth::Header(h) => b = b.header("authorization", h.as_str()),
        }
        if let Some(Body::Json(v)) = &req.body {
            b = b
                .header("content-type", "application/json")
                .body(v.to_string());
        }
        self.rt.block_on(async move {
            match b.send().await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let retry_after = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    let text = resp.text().await.unwrap_or_default();
                    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
                    Reply {
                        status,
                        body,
                        text,
                        retry_after,
                    }
                }
                Err(e) => Reply {
                    status: 0,
                    body: Value::Null,
                    text: format!("transport error: {e}"),
                    retry_after: None,
                },
            }
        })
    }

    /// GET an absolute URL (a media file): status and bytes.
    pub fn fetch(&self, url: &str) -> Result<(u16, Vec<u8>), String> {
        self.pace();
        let http = self.http.clone();
        let url = url.to_string();
        self.rt.block_on(async move {
            let r = http
                .get(&url)
                .send()
                .await
                .map_err(|e| format!("GET {url}: {e}"))?;
            let status = r.status().as_u16();
            let bytes = r.bytes().await.map_err(|e| format!("GET {url}: {e}"))?;
            Ok((status, bytes.to_vec()))
        })
    }
}

/// Wall time, Unix seconds.
pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
