//! [`MockServer`]: kling-mock inside your own Rust tests, in the spirit of wiremock-rs.
//!
//! `MockServer::start().await` serves on a random loopback port with a frozen clock, so a test
//! moves time by hand and nothing depends on the machine's speed. The control plane is there as
//! typed methods; the server shuts down when the `MockServer` is dropped.
//!
//! ```
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
//! # async fn main() {
//! use kling_mock::MockServer;
//! use std::time::Duration;
//!
//! let mock = MockServer::start().await;
//! let http = reqwest::Client::new();
//!
//! // Your client points at mock.base_url() with mock.credentials(); here, by hand:
//! let created: serde_json::Value = http
//!     .post(format!("{}/v1/audio/text-to-audio", mock.base_url()))
//!     .bearer_auth(mock.token())
//!     .json(&serde_json::json!({"prompt": "rain", "duration": 5, "external_task_id": "t1"}))
//!     .send().await.unwrap()
//!     .json().await.unwrap();
//! assert_eq!(created["data"]["task_status"], "submitted");
//!
//! // No sleeping: move the clock and the task has finished.
//! mock.advance(Duration::from_secs(10));
//! let task: serde_json::Value = http
//!     .get(format!("{}/v1/audio/text-to-audio/t1", mock.base_url()))
//!     .bearer_auth(mock.token())
//!     .send().await.unwrap()
//!     .json().await.unwrap();
//! assert_eq!(task["data"]["task_status"], "succeed");
//! assert_eq!(mock.journal().len(), 2);
//! # }
//! ```
//!
//! Faults and hand-made outcomes:
//!
//! ```
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
//! # async fn main() {
//! use kling_mock::{FaultSpec, MockServer};
//!
//! let mock = MockServer::builder().seed(7).account("my-ak", "my-sk").start().await;
//! assert_eq!(mock.credentials(), ("my-ak", "my-sk"));
//! mock.add_fault(FaultSpec::error(1303).path("/v1/audio/*").first(1)).unwrap();
//! let http = reqwest::Client::new();
//! let list = format!("{}/v1/audio/text-to-audio", mock.base_url());
//! let first = http.get(&list).bearer_auth(mock.token()).send().await.unwrap();
//! assert_eq!(first.status(), 429); // the first request meets the fault ...
//! let second = http.get(&list).bearer_auth(mock.token()).send().await.unwrap();
//! assert_eq!(second.status(), 200); // ... and the next is normal
//! // A rule is checked when added: an undocumented code is refused, with the reason.
//! assert!(mock.add_fault(FaultSpec::error(4242)).is_err());
//!
//! // Tasks can be finished or failed by hand (by task id or external id):
//! assert!(mock.complete("no-such-task").is_err());
//! # }
//! ```

use crate::clock::Clock;
use crate::config::{AccountSpec, Config};
use crate::control::journal::{Entry, Filter};
use crate::control::rules::FaultSpec;
use crate::engine::{CallbackAttempt, Goal, TaskView};
use crate::error::KlingError;
use crate::state::AppState;
use crate::{Server, config};
use std::time::Duration;
use tokio::sync::oneshot;

/// A kling-mock running in-process on `127.0.0.1:<random port>`. Stops when dropped.
#[derive(Debug)]
pub struct MockServer {
    base_url: String,
    certificate: Option<String>,
    state: AppState,
    account: AccountSpec,
    stop: Option<oneshot::Sender<()>>,
}

/// Options for [`MockServer::builder`].
#[derive(Debug)]
pub struct MockServerBuilder {
    config: Config,
    clock: Option<Clock>,
}

impl MockServerBuilder {
    /// Seed of every random choice (ids, tokens, dice).
    pub fn seed(mut self, seed: u64) -> Self {
        self.config.seed = Some(seed);
        self
    }

    /// Add an account (the first one added is the one [`MockServer::credentials`] names).
    pub fn account(mut self, access_key: &str, secret_key: &str) -> Self {
        self.config.accounts.push(AccountSpec {
            access_key: access_key.into(),
            secret_key: secret_key.into(),
        });
        self
    }

    /// Serve HTTPS with a self-signed certificate made at start; trust it with
    /// [`MockServer::certificate_pem`].
    pub fn tls(mut self) -> Self {
        self.config.tls = Some(config::TlsConfig::SelfSigned { cert_out: None });
        self
    }

    /// Use this clock instead of one frozen at the current wall time.
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Start from a whole [`Config`] (its `bind` is ignored: always `127.0.0.1:0`).
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Start the server.
    ///
    /// # Panics
    /// If no loopback port can be bound (a test environment without networking).
    pub async fn start(self) -> MockServer {
        let mut config = self.config;
        config.bind = ([127, 0, 0, 1], 0).into();
        let clock = self
            .clock
            .unwrap_or_else(|| Clock::frozen(Clock::wall_ms()));
        let account = config.effective_accounts().remove(0);
        let server = Server::bind_with_clock(config, clock)
            .await
            .expect("kling-mock binds 127.0.0.1:0");
        let base_url = server.base_url();
        let certificate = server.tls().map(|t| t.certificate_pem().to_string());
        let state = server.state().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        MockServer {
            base_url,
            certificate,
            state,
            account,
            stop: Some(stop),
        }
    }
}

impl MockServer {
    /// A server with the development account and a frozen clock.
    pub async fn start() -> MockServer {
        MockServer::builder().start().await
    }

    /// Options before starting.
    pub fn builder() -> MockServerBuilder {
        MockServerBuilder {
            config: Config::default(),
            clock: None,
        }
    }

    /// `http://127.0.0.1:PORT`: the base URL to give your Kling client.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The PEM certificate a client must trust, when started with [`MockServerBuilder::tls`].
    pub fn certificate_pem(&self) -> Option<&str> {
        self.certificate.as_deref()
    }

    /// The access key and secret key of the first account.
    pub fn credentials(&self) -> (&str, &str) {
        (&self.account.access_key, &self.account.secret_key)
    }

    /// A valid bearer token of the first account (HS256, `exp` in 30 minutes, `nbf` 5 s ago).
    pub fn token(&self) -> String {
        config::sign_token(
            &self.account.access_key,
            &self.account.secret_key,
            Clock::wall_ms() / 1000,
        )
    }

    /// Everything the server owns, for what the typed methods do not cover.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Move the mock's clock forward; every transition that falls due runs before this returns.
    pub fn advance(&self, by: Duration) {
        self.state
            .engine
            .advance(by.as_millis().min(i64::MAX as u128) as i64);
    }

    /// Move the clock forward and wait until every callback it caused has been delivered (or
    /// given up).
    pub async fn advance_and_deliver(&self, by: Duration) {
        self.advance(by);
        self.state.engine.callbacks_idle().await;
    }

    /// Finish a task now with success (`key`: task id or external id).
    pub fn complete(&self, key: &str) -> Result<TaskView, KlingError> {
        self.state.engine.force(None, key, &Goal::Succeed)
    }

    /// Fail a task now with this `task_status_msg`.
    pub fn fail(&self, key: &str, message: &str) -> Result<TaskView, KlingError> {
        self.state
            .engine
            .force(None, key, &Goal::Failed(message.to_string()))
    }

    /// Add an HTTP fault rule; returns its id.
    pub fn add_fault(&self, rule: FaultSpec) -> Result<String, KlingError> {
        self.state.control.add_fault(rule)
    }

    /// Every request journaled so far, oldest first.
    pub fn journal(&self) -> Vec<Entry> {
        self.state.control.journal.query(&Filter::default())
    }

    /// Every callback delivery attempt so far, oldest first.
    pub fn callback_log(&self) -> Vec<CallbackAttempt> {
        self.state.engine.callback_log()
    }

    /// Forget every task, voice, media id and journal entry (rules stay).
    pub fn reset(&self) {
        self.state.reset(None, None, false);
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
