//! `spawn_app()` and typed calls.

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use kling_mock::config::{AccountSpec, CallbackConfig};
use kling_mock::state::AppState;
use kling_mock::{Clock, Config, Server};
use serde_json::{Value, json};
use std::time::Duration;

pub const AK: &str = "test-ak-1";
pub const SK: &str = "test-sk-1";
pub const AK2: &str = "test-ak-2";
pub const SK2: &str = "test-sk-2";

/// A running app (cheap to clone: the server keeps running).
#[derive(Clone)]
pub struct TestApp {
    pub base: String,
    pub state: AppState,
    pub client: reqwest::Client,
}

/// An answer: HTTP status and JSON body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    pub fn code(&self) -> i64 {
        self.body["code"].as_i64().unwrap_or(-1)
    }
    pub fn message(&self) -> &str {
        self.body["message"].as_str().unwrap_or("")
    }
    /// Assert success and return `data`.
    #[track_caller]
    pub fn ok(&self) -> &Value {
        assert_eq!(
            (self.status, self.code()),
            (200, 0),
            "expected success, got {self:?}"
        );
        assert_eq!(self.message(), "SUCCEED");
        &self.body["data"]
    }
    /// Assert an error with this HTTP status and code, in the envelope without `data`.
    #[track_caller]
    pub fn err(&self, status: u16, code: i64) -> &str {
        assert_eq!(
            (self.status, self.code()),
            (status, code),
            "unexpected answer {self:?}"
        );
        assert!(
            self.body.get("data").is_none(),
            "errors carry no data: {self:?}"
        );
        assert_is_uuid(self.body["request_id"].as_str().unwrap_or(""));
        self.message()
    }
}

#[track_caller]
pub fn assert_is_uuid(s: &str) {
    let u = uuid::Uuid::parse_str(s).unwrap_or_else(|_| panic!("not a UUID: {s:?}"));
    assert_eq!(u.get_version_num(), 4, "{s}");
    assert_eq!(s, u.hyphenated().to_string(), "lowercase hyphenated");
}

pub fn config() -> Config {
    Config {
        bind: "127.0.0.1:0".parse().unwrap(),
        accounts: vec![
            AccountSpec {
                access_key: AK.into(),
                secret_key: SK.into(),
            },
            AccountSpec {
                access_key: AK2.into(),
                secret_key: SK2.into(),
            },
        ],
        seed: Some(42),
        callbacks: CallbackConfig {
            timeout: Duration::from_secs(5),
            retries: 3,
            backoff: Duration::from_millis(20),
            ..CallbackConfig::default()
        },
        ..Config::default()
    }
}

/// The app with two accounts and a frozen clock.
pub async fn spawn_app() -> TestApp {
    spawn_with(config()).await
}

pub async fn spawn_with(config: Config) -> TestApp {
    spawn_at(config, Clock::wall_ms()).await
}

/// The app with its clock frozen at `at_ms`.
pub async fn spawn_at(config: Config, at_ms: i64) -> TestApp {
    let server = Server::bind_with_clock(config, Clock::frozen(at_ms))
        .await
        .expect("bind");
    let base = server.base_url();
    let state = server.state().clone();
    tokio::spawn(server.run(std::future::pending()));
    TestApp {
        base,
        state,
        client: reqwest::Client::new(),
    }
}

/// A server the test stops gracefully (its last state write done) by sending on the returned
/// sender and awaiting the handle: what a restart test needs.
pub type Stoppable = (
    TestApp,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
);

/// The app with its clock frozen at `at_ms`, stoppable (see [`Stoppable`]).
pub async fn spawn_stoppable(config: Config, at_ms: i64) -> Stoppable {
    let server = Server::bind_with_clock(config, Clock::frozen(at_ms))
        .await
        .expect("bind and load");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let app = TestApp {
        base: server.base_url(),
        state: server.state().clone(),
        client: reqwest::Client::new(),
    };
    let run = tokio::spawn(server.run(async move {
        let _ = rx.await;
    }));
    (app, tx, run)
}

/// Why the server refuses to start with `config` (it must refuse).
pub async fn bind_error(config: Config) -> String {
    Server::bind_with_clock(config, Clock::frozen(0))
        .await
        .expect_err("the server must refuse to start")
        .to_string()
}

/// A valid token for `ak`/`sk`, per Kling's recipe (exp now+1800, nbf now-5).
pub fn token(ak: &str, sk: &str) -> String {
    let now = Clock::wall_ms() / 1000;
    sign(json!({"iss": ak, "exp": now + 1800, "nbf": now - 5}), sk)
}

pub fn sign(claims: Value, sk: &str) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(sk.as_bytes()),
    )
    .unwrap()
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Answer {
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let ct = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string());
        let bytes = resp.bytes().await.expect("body");
        let body: Value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&bytes)));
        assert_eq!(ct.as_deref(), Some("application/json"), "{body}");
        Answer { status, body }
    }

    /// POST JSON as account 1.
    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.post_as(AK, SK, path, body).await
    }

    pub async fn post_as(&self, ak: &str, sk: &str, path: &str, body: Value) -> Answer {
        self.send(
            self.client
                .post(self.url(path))
                .bearer_auth(token(ak, sk))
                .json(&body),
        )
        .await
    }

    /// POST a raw body as account 1, with this `Content-Type` (none if `None`).
    pub async fn post_raw(
        &self,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> Answer {
        let mut req = self.client.post(self.url(path)).bearer_auth(token(AK, SK));
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        self.send(req.body(body)).await
    }

    /// Synthesize `text` with an English voice; returns the audio URL.
    pub async fn tts_url(&self, text: &str) -> String {
        let body = json!({"text": text, "voice_id": "oversea_male1", "voice_language": "en"});
        let a = self.post("/v1/audio/tts", body).await;
        a.ok()["task_result"]["audios"][0]["url"]
            .as_str()
            .expect("url")
            .to_string()
    }

    /// The voice id of the first `presets-voices` entry.
    pub async fn first_preset_voice(&self) -> String {
        let a = self.get("/v1/general/presets-voices?pageSize=1").await;
        a.ok()[0]["task_result"]["voices"][0]["voice_id"]
            .as_str()
            .expect("voice_id")
            .to_string()
    }

    /// POST JSON to the control plane.
    pub async fn ctl_post(&self, path: &str, body: Value) -> Answer {
        self.send(self.client.post(self.url(path)).json(&body))
            .await
    }

    /// PUT JSON to the control plane.
    pub async fn ctl_put(&self, path: &str, body: Value) -> Answer {
        self.send(self.client.put(self.url(path)).json(&body)).await
    }

    /// GET from the control plane.
    pub async fn ctl_get(&self, path: &str) -> Answer {
        self.send(self.client.get(self.url(path))).await
    }

    /// DELETE on the control plane.
    pub async fn ctl_delete(&self, path: &str) -> Answer {
        self.send(self.client.delete(self.url(path))).await
    }

    /// GET as account 1.
    pub async fn get(&self, path: &str) -> Answer {
        self.get_as(AK, SK, path).await
    }

    pub async fn get_as(&self, ak: &str, sk: &str, path: &str) -> Answer {
        self.send(self.client.get(self.url(path)).bearer_auth(token(ak, sk)))
            .await
    }

    /// Move the virtual clock and run what falls due.
    pub fn advance(&self, d: Duration) {
        self.state.engine.advance(d.as_millis() as i64);
    }

    pub fn now_ms(&self) -> i64 {
        self.state.clock.now_ms()
    }

    /// Create a text-to-audio task, returning its id.
    pub async fn create_t2a(&self, body: Value) -> String {
        let a = self.post("/v1/audio/text-to-audio", body).await;
        a.ok()["task_id"].as_str().expect("task_id").to_string()
    }

    /// Create a custom voice with a valid external sample URL; returns the task id.
    pub async fn create_voice(&self, ak: &str, sk: &str, name: &str) -> String {
        let a = self
            .post_as(
                ak,
                sk,
                "/v1/general/custom-voices",
                json!({"voice_name": name, "voice_url": "https://example.com/sample.mp3"}),
            )
            .await;
        a.ok()["task_id"].as_str().expect("task_id").to_string()
    }

    /// Fetch a media URL: (status, content type, bytes).
    pub async fn fetch(&self, url: &str) -> (u16, String, Vec<u8>) {
        let r = self.client.get(url).send().await.expect("fetch");
        let status = r.status().as_u16();
        let ct = r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        (status, ct, r.bytes().await.unwrap().to_vec())
    }
}

/// Time to finish any async task with default timings.
pub const FINISH: Duration = Duration::from_secs(10);

/// A `kling-mock` process, killed when dropped.
pub struct Proc(pub std::process::Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A started binary: the process, the URL of its ready line, and its stderr if captured.
pub struct Binary {
    pub proc: Proc,
    pub url: String,
    pub stderr: Option<std::process::ChildStderr>,
}

/// The `kling-mock` binary with `args` and `env`, every other `KLING_MOCK_*` variable and
/// `RUST_LOG` removed.
pub fn binary_command(args: &[&str], env: &[(&str, &str)]) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_kling-mock"));
    cmd.args(args).env_remove("RUST_LOG");
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("KLING_MOCK_")) {
        cmd.env_remove(k);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Start the binary on `127.0.0.1:0` with `env` and expect it to refuse to start: it exits with
/// a failure and prints no ready line. Returns its stderr.
pub async fn binary_refuses_to_start(env: &[(&str, &str)]) -> String {
    let mut cmd = tokio::process::Command::from(binary_command(&["--bind", "127.0.0.1:0"], env));
    cmd.kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(30), cmd.output())
        .await
        .expect("the binary exits instead of serving")
        .expect("run kling-mock");
    assert!(!out.status.success(), "{:?}", out.status);
    assert!(out.stdout.is_empty(), "no ready line");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Start the `kling-mock` binary with `args` and `env` (every other `KLING_MOCK_*` variable and
/// `RUST_LOG` removed) and wait for its ready line (never a fixed sleep).
pub async fn start_binary(args: &[&str], env: &[(&str, &str)], capture_stderr: bool) -> Binary {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let mut cmd = binary_command(args, env);
    cmd.stdout(Stdio::piped()).stderr(if capture_stderr {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut proc = Proc(cmd.spawn().expect("start kling-mock"));
    let stdout = proc.0.stdout.take().expect("stdout");
    let stderr = proc.0.stderr.take();
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map(|_| line)
    });
    let line = tokio::time::timeout(Duration::from_secs(30), line)
        .await
        .expect("ready line in time")
        .expect("reader")
        .expect("ready line");
    let url = line
        .trim()
        .strip_prefix("kling-mock listening on ")
        .unwrap_or_else(|| panic!("ready line: {line:?}"))
        .to_string();
    Binary { proc, url, stderr }
}
