//! One typed [`Config`], and the command line ([`Cli`], clap derive with an env override per
//! option) that fills it.
//!
//! `Config` is what the library runs on: tests and embedders build it directly
//! (`Config { seed: Some(7), ..Config::default() }`), the binary builds it from [`Cli`]. Each
//! default lives once, in the `DEFAULT_*` constants below, and `--help` repeats it.

use crate::control::outcomes::Outcomes;
use crate::control::rules::{FaultSpec, Latency};
use crate::engine::billing::AccountPatch;
use crate::engine::webhook::{CallbackAllow, WebhookSecret};
use crate::engine::{CallbackFaults, Lifecycle, Progress, Span};
use crate::kinds::KindId;
use clap::{Parser, ValueEnum};
use std::net::SocketAddr;
use std::time::Duration;

// The types of the settings live with their owners; the configuration composes them.
pub use crate::auth::{AccountSpec, AuthMode};
pub use crate::engine::{
    CALLBACK_RESPONSE_LIMIT, CallbackConfig, DEFAULT_CALLBACK_BACKOFF,
    DEFAULT_CALLBACK_CONCURRENCY, DEFAULT_CALLBACK_CONNECT_TIMEOUT, DEFAULT_CALLBACK_LOG,
    DEFAULT_CALLBACK_QUEUE, DEFAULT_CALLBACK_RETRIES, DEFAULT_CALLBACK_TIMEOUT,
};
pub use crate::tls::TlsConfig;

/// Default listen address.
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
/// Access key of the development account used when no account is configured.
pub const DEV_ACCESS_KEY: &str = "kling-mock-dev-ak";
/// Secret key of the development account used when no account is configured (32 bytes or more,
/// as HS256 libraries such as PyJWT ask of a key).
pub const DEV_SECRET_KEY: &str = "kling-mock-dev-sk-not-a-real-kling-secret";
/// Default tolerance on `exp`/`nbf`, seconds.
pub const DEFAULT_JWT_LEEWAY_SECS: u64 = 5;
/// Default window of the state store's writes (a crash loses at most this).
pub const DEFAULT_STATE_INTERVAL: Duration = Duration::from_secs(1);
/// Default number of requests kept in the journal.
pub const DEFAULT_JOURNAL_SIZE: usize = 1000;
/// Default cap on stored tasks (about 0.7 GB of memory at 1M): past it, the oldest finished
/// tasks are forgotten.
pub const DEFAULT_MAX_TASKS: usize = 1_000_000;
/// Default life of generated media on the mock's clock: 30 days, as the real API
/// (SOURCES.md: General Info: generated images/videos are cleared after 30 days).
pub const DEFAULT_MEDIA_RETENTION: Duration = Duration::from_secs(30 * 86_400);
/// Default cap on generated media files, and on generated media ids.
pub const DEFAULT_MAX_MEDIA: usize = 2_000_000;
/// Default budget of the media cache (made files and shared video GOPs in memory), MiB.
pub const DEFAULT_VIDEO_CACHE_MB: usize = 256;
/// Default largest request body, bytes.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// Log line format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object a line.
    Json,
}

/// A bearer token as Kling's documents build one (HS256, `iss` = access key, `exp` = now + 30
/// minutes, `nbf` = now − 5 s), for tests and examples.
pub fn sign_token(access_key: &str, secret_key: &str, now_secs: i64) -> String {
    sign_token_for(access_key, secret_key, now_secs, 1800)
}

/// [`sign_token`] valid for `ttl_secs` from `now_secs` instead of 30 minutes.
pub fn sign_token_for(access_key: &str, secret_key: &str, now_secs: i64, ttl_secs: i64) -> String {
    let claims =
        serde_json::json!({"iss": access_key, "exp": now_secs + ttl_secs, "nbf": now_secs - 5});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret_key.as_bytes()),
    )
    .unwrap_or_default()
}

/// The default timings of the task kinds (`--timing-profile`); `--timing` and
/// `[lifecycle.KIND]` still override single kinds.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum TimingProfile {
    /// Seconds: short enough for development and tests.
    #[default]
    Fast,
    /// What the live service takes (seconds to minutes per family), for UIs that show progress.
    Realistic,
    /// No wait in `submitted`, 200 ms in `processing`: for CI and scripted checks.
    Instant,
}

/// How the mock's clock starts.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum ClockStart {
    /// Runs with wall time.
    #[default]
    Real,
    /// Stands still until set or advanced.
    Frozen,
}

/// `--timing KIND=SUBMITTED/PROCESSING[/PROGRESS]`: how long a kind stays in each status and
/// what moves it on. Each time is a duration (`500ms`, `2s`) or a seeded random range
/// (`1s..3s`); PROGRESS is `time` (default), `polls:N` (a task moves on after N single queries in
/// a status) or `manual` (only `POST /__mock/tasks/{id}/advance`). Examples:
/// `text-to-audio=500ms/2s`, `custom-voice=1s..3s/5s..12s`, `text-to-audio=0s/0s/polls:2`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimingSpec {
    /// The task kind.
    pub kind: KindId,
    /// Its lifecycle.
    pub lifecycle: Lifecycle,
}

pub(crate) fn parse_span(t: &str) -> Result<Span, String> {
    let ms = |d: &str| {
        humantime::parse_duration(d.trim())
            .map(|d| d.as_millis().min(u64::MAX as u128) as u64)
            .map_err(|e| format!("'{d}': {e}"))
    };
    match t.split_once("..") {
        Some((lo, hi)) => {
            let (min_ms, max_ms) = (ms(lo)?, ms(hi)?);
            if min_ms > max_ms {
                return Err(format!("'{t}': the range must not run backwards"));
            }
            Ok(Span { min_ms, max_ms })
        }
        None => Ok(Span::fixed(ms(t)?)),
    }
}

pub(crate) fn parse_progress(p: &str) -> Result<Progress, String> {
    match p.trim() {
        "time" => Ok(Progress::Time),
        "manual" => Ok(Progress::Manual),
        other => match other
            .strip_prefix("polls:")
            .map(|n| n.trim().parse::<u32>())
        {
            Some(Ok(polls)) if polls > 0 => Ok(Progress::Polls { polls }),
            _ => Err(format!(
                "progress must be time, manual or polls:N (N >= 1), got '{other}'"
            )),
        },
    }
}

impl std::str::FromStr for TimingSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let err = || {
            format!(
                "expected KIND=SUBMITTED/PROCESSING[/PROGRESS] (e.g. text-to-audio=500ms/2s), got '{s}'"
            )
        };
        let (kind, times) = s.trim().split_once('=').ok_or_else(err)?;
        let kind = KindId::task_from_slug(kind.trim())?;
        let parts: Vec<&str> = times.split('/').collect();
        let (sub, proc, progress) = match parts.as_slice() {
            [sub, proc] => (sub, proc, Progress::Time),
            [sub, proc, p] => (sub, proc, parse_progress(p)?),
            _ => return Err(err()),
        };
        Ok(TimingSpec {
            kind,
            lifecycle: Lifecycle {
                submitted: parse_span(sub)?,
                processing: parse_span(proc)?,
                progress,
            },
        })
    }
}

/// Everything the server runs on.
#[derive(Clone, Debug)]
pub struct Config {
    /// Address to listen on (port 0 picks a free port).
    pub bind: SocketAddr,
    /// Base of the URLs written into results (`url`, `url_mp3`, `trial_url`, ...). `None`: the
    /// address actually bound, as `http://HOST:PORT`.
    pub public_url: Option<String>,
    /// Accounts. Empty: one development account ([`DEV_ACCESS_KEY`] / [`DEV_SECRET_KEY`]).
    pub accounts: Vec<AccountSpec>,
    /// How tokens are checked.
    pub auth: AuthMode,
    /// Tolerance on `exp` and `nbf`, seconds.
    pub jwt_leeway_secs: u64,
    /// Seed of every random choice. `None`: drawn from the OS at start (and logged).
    pub seed: Option<u64>,
    /// Per-kind lifecycles that replace the profile's ([`KindId::default_lifecycle`]).
    pub timings: Vec<TimingSpec>,
    /// The timings of kinds without their own `timings` entry.
    pub timing_profile: TimingProfile,
    /// Largest accepted request body, bytes.
    pub body_limit: usize,
    /// Callback delivery.
    pub callbacks: CallbackConfig,
    /// Download the foreign image URLs a create names (not the mock's own media) and measure
    /// them as Base64 input, under the callback rules (allow-list, timeouts, no redirects).
    /// Off: they are never fetched (their size is unknown).
    pub fetch_inputs: bool,
    /// Whether the control plane (`/__mock/...`) is served.
    pub control: bool,
    /// When set, the control plane needs `Authorization: Bearer <token>`.
    pub control_token: Option<String>,
    /// Log lines as JSON instead of text.
    pub log_json: bool,
    /// Serve HTTPS instead of HTTP, with this certificate (`None`: plain HTTP). The base URL and
    /// the media URLs in results then start with `https://`.
    pub tls: Option<TlsConfig>,
    /// How the clock starts: running, or frozen.
    pub clock: ClockStart,
    /// The clock's time at start, Unix ms (`None`: the wall clock's).
    pub start_ms: Option<i64>,
    /// Where the state is saved and loaded from (`None`: in memory only).
    pub state_file: Option<std::path::PathBuf>,
    /// How often the state is saved when it changed (a crash loses at most this much).
    pub state_interval: Duration,
    /// Requests kept in the journal (0: off).
    pub journal_size: usize,
    /// Most tasks stored (0: no cap); past it the oldest finished tasks are forgotten.
    pub max_tasks: usize,
    /// How long generated media (files and media ids) live on the mock's clock (zero: forever).
    pub media_retention: Duration,
    /// Most generated media files, and media ids, kept (0: no cap); the oldest go first.
    pub max_media: usize,
    /// Memory for made media files and shared video GOPs, MiB (0: nothing kept, every fetch
    /// makes its file).
    pub video_cache_mb: usize,
    /// HTTP fault rules in force from the start.
    pub faults: Vec<FaultSpec>,
    /// Latency rules in force from the start.
    pub latency: Latency,
    /// Outcome rules in force from the start.
    pub outcomes: Outcomes,
    /// Callback faults in force from the start.
    pub callback_faults: CallbackFaults,
    /// Per-account standing, limits and packs from the start (access key, settings).
    pub account_settings: Vec<(String, AccountPatch)>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: DEFAULT_BIND
                .parse()
                .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 8080))),
            public_url: None,
            accounts: Vec::new(),
            auth: AuthMode::Strict,
            jwt_leeway_secs: DEFAULT_JWT_LEEWAY_SECS,
            seed: None,
            timings: Vec::new(),
            timing_profile: TimingProfile::Fast,
            body_limit: DEFAULT_BODY_LIMIT,
            callbacks: CallbackConfig::default(),
            fetch_inputs: false,
            journal_size: DEFAULT_JOURNAL_SIZE,
            max_tasks: DEFAULT_MAX_TASKS,
            media_retention: DEFAULT_MEDIA_RETENTION,
            max_media: DEFAULT_MAX_MEDIA,
            video_cache_mb: DEFAULT_VIDEO_CACHE_MB,
            state_file: None,
            state_interval: DEFAULT_STATE_INTERVAL,
            control: true,
            control_token: None,
            log_json: false,
            tls: None,
            clock: ClockStart::Real,
            start_ms: None,
            faults: Vec::new(),
            latency: Latency::default(),
            outcomes: Outcomes::default(),
            callback_faults: CallbackFaults::default(),
            account_settings: Vec::new(),
        }
    }
}

impl Config {
    /// The lifecycle `kind` starts with.
    pub fn lifecycle(&self, kind: KindId) -> Lifecycle {
        self.timings
            .iter()
            .rev()
            .find(|t| t.kind == kind)
            .map(|t| t.lifecycle)
            .unwrap_or(match self.timing_profile {
                TimingProfile::Fast => kind.default_lifecycle(),
                TimingProfile::Realistic => kind.spec().realistic,
                TimingProfile::Instant => crate::kinds::INSTANT_LIFECYCLE,
            })
    }

    /// What the server's state is built from and keeps (`crate::state::Settings`).
    pub fn settings(&self) -> crate::state::Settings {
        crate::state::Settings {
            seed: self.seed,
            accounts: self.effective_accounts(),
            auth: self.auth,
            jwt_leeway_secs: self.jwt_leeway_secs,
            lifecycles: KindId::tasks().map(|k| (k, self.lifecycle(k))).collect(),
            callbacks: self.callbacks.clone(),
            fetch_inputs: self.fetch_inputs,
            max_tasks: self.max_tasks,
            media_retention: self.media_retention,
            max_media: self.max_media,
            media_cache_bytes: self.video_cache_mb.saturating_mul(1 << 20),
            journal_size: self.journal_size,
            faults: self.faults.clone(),
            latency: self.latency.clone(),
            outcomes: self.outcomes.clone(),
            callback_faults: self.callback_faults,
            account_settings: self.account_settings.clone(),
            control: self.control,
            control_token: self.control_token.clone(),
            body_limit: self.body_limit,
            state_file: self.state_file.clone(),
            state_interval: self.state_interval,
        }
    }

    /// The clock the configuration asks for.
    pub fn make_clock(&self) -> crate::clock::Clock {
        let at = self.start_ms.unwrap_or_else(crate::clock::Clock::wall_ms);
        let clock = crate::clock::Clock::frozen(at);
        if self.clock == ClockStart::Real {
            clock.resume();
        }
        clock
    }

    /// The accounts in force: the configured ones, or the development account.
    pub fn effective_accounts(&self) -> Vec<AccountSpec> {
        if self.accounts.is_empty() {
            vec![AccountSpec {
                access_key: DEV_ACCESS_KEY.into(),
                secret_key: DEV_SECRET_KEY.into(),
            }]
        } else {
            self.accounts.clone()
        }
    }
}

/// `--timing`'s help, naming the asynchronous kinds of the registry and their defaults.
fn timing_help() -> String {
    let kinds: Vec<String> = KindId::tasks()
        .map(|k| {
            let l = k.default_lifecycle();
            let ms = |s: Span| humantime::format_duration(Duration::from_millis(s.min_ms));
            format!("{} ({}/{})", k.slug(), ms(l.submitted), ms(l.processing))
        })
        .collect();
    format!(
        "Time a task kind spends in `submitted` and in `processing`, and what moves it on, as \
         KIND=SUBMITTED/PROCESSING[/PROGRESS] (repeatable; env comma-separated). A time is a \
         duration or a seeded random range (`1s..3s`); PROGRESS is `time` (default), `polls:N` \
         or `manual`. E.g. `text-to-audio=500ms/2s`, `custom-voice=1s..3s/5s..12s`, \
         `text-to-audio=0s/0s/manual`. Kinds (default timings): {}.",
        kinds.join(", ")
    )
}

/// kling-mock: a stateful mock of the Kling AI API (api-singapore.klingai.com).
///
/// Every option can also be set by the environment variable shown with it.
#[derive(Debug, Parser)]
#[command(name = "kling-mock", version, about, long_about)]
pub struct Cli {
    /// A TOML configuration file (every option and the control-plane rules; see
    /// fixtures/kling-mock.example.toml). The command line and the environment override it.
    #[arg(long, env = "KLING_MOCK_CONFIG", value_name = "PATH")]
    pub config: Option<std::path::PathBuf>,

    /// Print the effective configuration (command line > environment > file > defaults) as a
    /// config file, and exit.
    #[arg(long)]
    pub print_config: bool,

    /// Ask a running kling-mock on the --bind port whether it is healthy (`GET /__mock/health`)
    /// and exit 0 if so, 1 if not: the container HEALTHCHECK, with no curl in the image.
    #[arg(long)]
    pub healthcheck: bool,

    /// Instead of serving: `token` prints a bearer token.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Address to listen on; port 0 picks a free port (the ready line prints the real one).
    #[arg(long, env = "KLING_MOCK_BIND", default_value = DEFAULT_BIND)]
    pub bind: SocketAddr,

    /// Base URL written into result URLs (media files), e.g. http://localhost:8080 when the mock
    /// runs in a container. Default: `http://<bound address>`.
    #[arg(long, env = "KLING_MOCK_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// An account as ACCESS_KEY:SECRET_KEY (repeatable; the env variable takes a comma-separated
    /// list). With none, a development account is used and printed at start.
    #[arg(
        long = "account",
        env = "KLING_MOCK_ACCOUNTS",
        value_delimiter = ',',
        value_name = "AK:SK"
    )]
    pub accounts: Vec<AccountSpec>,

    /// `strict`: tokens must be signed with a configured account's secret key. `any`: any
    /// well-formed HS256 token is accepted unverified and its `iss` names the account.
    #[arg(long, env = "KLING_MOCK_AUTH", value_enum, default_value_t = AuthMode::Strict)]
    pub auth: AuthMode,

    /// Tolerance, in seconds, when checking a token's `exp` and `nbf` against the wall clock.
    #[arg(long, env = "KLING_MOCK_JWT_LEEWAY", default_value_t = DEFAULT_JWT_LEEWAY_SECS)]
    pub jwt_leeway: u64,

    /// Seed of every random choice (request ids, media tokens, ...). Default: random, logged at start.
    #[arg(long, env = "KLING_MOCK_SEED")]
    pub seed: Option<u64>,

    /// Time a task kind spends in `submitted` and in `processing`, and what moves it on (the
    /// help text names the kinds of the registry: see `timing_help`).
    #[arg(
        long = "timing",
        env = "KLING_MOCK_TIMINGS",
        value_delimiter = ',',
        value_name = "KIND=SUB/PROC[/PROGRESS]",
        help = timing_help()
    )]
    pub timings: Vec<TimingSpec>,

    /// Default timings of every task kind: `fast` (seconds, for development), `realistic`
    /// (what the live service takes: minutes for videos, e.g. text2video about 5 minutes) or
    /// `instant` (0 s submitted, 200 ms processing: for CI);
    /// `--timing` overrides single kinds.
    #[arg(long, env = "KLING_MOCK_TIMING_PROFILE", value_enum, default_value_t = TimingProfile::Fast)]
    pub timing_profile: TimingProfile,

    /// Largest accepted request body, in bytes; a larger one is refused with code 1200.
    #[arg(long, env = "KLING_MOCK_BODY_LIMIT", default_value_t = DEFAULT_BODY_LIMIT)]
    pub body_limit: usize,

    /// Do not serve the control plane (`/__mock/...` answers 404; `/__mock/health` stays).
    #[arg(long, env = "KLING_MOCK_NO_CONTROL")]
    pub no_control: bool,

    /// Require `Authorization: Bearer <TOKEN>` on the control plane. Without one, anyone who
    /// can reach the mock can reconfigure it: set one when binding a non-loopback address.
    #[arg(long, env = "KLING_MOCK_CONTROL_TOKEN", hide_env_values = true)]
    pub control_token: Option<String>,

    /// Log format on stderr: `text` or `json` (one JSON object a line).
    #[arg(long, env = "KLING_MOCK_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Serve HTTPS with a self-signed certificate generated at start for localhost, 127.0.0.1,
    /// ::1, the bound address and the host of --public-url. Its PEM is written to
    /// --tls-cert-out (path logged at start): trust it in your client (`curl --cacert PATH`).
    #[arg(long, env = "KLING_MOCK_TLS", value_parser = clap::builder::FalseyValueParser::new())]
    pub tls: bool,

    /// Serve HTTPS with this certificate (PEM, the chain leaf first) instead of a generated one;
    /// needs --tls-key (implies --tls).
    #[arg(
        long,
        env = "KLING_MOCK_TLS_CERT",
        value_name = "PATH",
        requires = "tls_key"
    )]
    pub tls_cert: Option<std::path::PathBuf>,

    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1); needs --tls-cert.
    #[arg(
        long,
        env = "KLING_MOCK_TLS_KEY",
        value_name = "PATH",
        requires = "tls_cert"
    )]
    pub tls_key: Option<std::path::PathBuf>,

    /// Where the generated certificate (PEM) is written (implies --tls; ignored with
    /// --tls-cert). Default: kling-mock-PORT.pem in the system temp directory.
    #[arg(long, env = "KLING_MOCK_TLS_CERT_OUT", value_name = "PATH")]
    pub tls_cert_out: Option<std::path::PathBuf>,

    /// Keep tasks, voices, accounts, packs, media and the clock in this SQLite file, written as
    /// they change and read at start (a corrupt, foreign or newer file stops the server; a JSON
    /// state file of an earlier build is migrated once, the JSON kept as a backup).
    #[arg(long, env = "KLING_MOCK_STATE_FILE", value_name = "PATH")]
    pub state_file: Option<std::path::PathBuf>,

    /// The state file's write window: what changed is written every window, in one transaction;
    /// a crash (kill -9) loses at most the last window. SIGTERM and ctrl-c always write.
    #[arg(long, env = "KLING_MOCK_STATE_INTERVAL", value_parser = humantime::parse_duration, default_value = "1s")]
    pub state_interval: Duration,

    /// Requests kept in the request journal (`GET /__mock/journal`); 0 switches it off.
    #[arg(long, env = "KLING_MOCK_JOURNAL_SIZE", default_value_t = DEFAULT_JOURNAL_SIZE)]
    pub journal_size: usize,

    /// Most tasks stored; past it the oldest finished (or deleted) tasks are forgotten, a few
    /// per create. 0: no cap. About 700 bytes a task.
    #[arg(long, env = "KLING_MOCK_MAX_TASKS", default_value_t = DEFAULT_MAX_TASKS)]
    pub max_tasks: usize,

    /// How long generated media (result files, media ids) live on the mock's clock before their
    /// URLs answer 404, as the real API clears them after 30 days. `0s`: forever.
    #[arg(long, env = "KLING_MOCK_MEDIA_RETENTION", value_parser = humantime::parse_duration, default_value = "30days")]
    pub media_retention: Duration,

    /// Most generated media files, and media ids, kept; the oldest go first. 0: no cap.
    #[arg(long, env = "KLING_MOCK_MAX_MEDIA", default_value_t = DEFAULT_MAX_MEDIA)]
    pub max_media: usize,

    /// Memory for made media files (MP4 videos, MP3/WAV audio) and the video GOPs shared between
    /// files, MiB; the least recently used go first. Repeat fetches are served from it. 0:
    /// nothing kept (every fetch makes its file again, no background warm-up).
    #[arg(long, env = "KLING_MOCK_VIDEO_CACHE_MB", default_value_t = DEFAULT_VIDEO_CACHE_MB)]
    pub video_cache_mb: usize,

    /// How the mock's clock starts: `real` (runs with wall time) or `frozen` (moves only when
    /// set or advanced through `/__mock/clock`).
    #[arg(long, env = "KLING_MOCK_CLOCK", value_enum, default_value_t = ClockStart::Real)]
    pub clock: ClockStart,

    /// The clock's time at start, in Unix milliseconds (default: now). With `--clock frozen` and
    /// `--seed`, the same requests give byte-identical answers.
    #[arg(long, env = "KLING_MOCK_START_TIME", value_name = "UNIX_MS")]
    pub start_time: Option<i64>,

    /// HTTP fault rules in force from the start: a JSON array of rules as accepted by
    /// `POST /__mock/faults`, e.g. '[{"path":"/v1/audio/*","code":1303,"every":3}]'.
    #[arg(long, env = "KLING_MOCK_FAULTS", value_parser = parse_faults, value_name = "JSON")]
    pub faults: Option<FaultList>,

    /// Latency rules in force from the start, as accepted by `PUT /__mock/latency`,
    /// e.g. '{"global":{"kind":"lognormal","median_ms":80,"sigma":0.5}}'.
    #[arg(long, env = "KLING_MOCK_LATENCY", value_parser = parse_latency, value_name = "JSON")]
    pub latency: Option<Latency>,

    /// Outcome rules in force from the start, as accepted by `PUT /__mock/outcomes`,
    /// e.g. '{"rules":[{"field":"prompt","contains":"gore","reject":{"code":1301}}]}'.
    #[arg(long, env = "KLING_MOCK_OUTCOMES", value_parser = parse_outcomes, value_name = "JSON")]
    pub outcomes: Option<Outcomes>,

    /// Callback faults in force from the start, as accepted by `PUT /__mock/callbacks/faults`,
    /// e.g. '{"drop":0.1,"delay_ms":500}'.
    #[arg(long, env = "KLING_MOCK_CALLBACK_FAULTS", value_parser = parse_callback_faults, value_name = "JSON")]
    pub callback_faults: Option<CallbackFaults>,

    /// An account's standing, concurrency limits and resource packs from the start, as
    /// ACCESS_KEY=JSON in the format of `PUT /__mock/accounts/{ak}` (repeatable), e.g.
    /// 'ak1={"concurrency":{"video":3},"packs":[{"name":"trial","total":10}]}'.
    #[arg(long = "account-settings", value_parser = parse_account_settings, value_name = "AK=JSON")]
    pub account_settings: Vec<(String, AccountPatch)>,

    /// Timeout of one whole callback delivery attempt (e.g. 10s, 500ms): connecting, sending,
    /// and the receiver's answer, status and body (of which at most 64 KiB is read). A receiver
    /// that does not answer in time counts as a failed attempt, retried.
    #[arg(long, env = "KLING_MOCK_CALLBACK_TIMEOUT", value_parser = humantime::parse_duration, default_value = "10s")]
    pub callback_timeout: Duration,

    /// Timeout of connecting to a callback receiver (DNS, TCP, TLS), within --callback-timeout.
    #[arg(long, env = "KLING_MOCK_CALLBACK_CONNECT_TIMEOUT", value_parser = humantime::parse_duration, default_value = "5s")]
    pub callback_connect_timeout: Duration,

    /// Hosts callbacks may go to (comma-separated, repeatable): host names
    /// (hooks.example.com), wildcards (*.example.com: names under it) and IP addresses or
    /// networks (127.0.0.1, 10.0.0.0/8, fd00::/8). A host name no name entry allows is allowed
    /// only towards resolved addresses a network holds. Default: empty, every host is allowed.
    /// A callback to another host is not sent, logged as blocked, never retried (the create
    /// still succeeds).
    #[arg(
        long = "callback-allow",
        env = "KLING_MOCK_CALLBACK_ALLOW",
        value_name = "HOST|CIDR,..."
    )]
    pub callback_allow: Vec<CallbackAllow>,

    /// Retries after a failed callback delivery (a non-2xx answer, a timeout, a refused connection).
    #[arg(long, env = "KLING_MOCK_CALLBACK_RETRIES", default_value_t = DEFAULT_CALLBACK_RETRIES)]
    pub callback_retries: u32,

    /// Delay before the first callback retry; doubled for each further retry.
    #[arg(long, env = "KLING_MOCK_CALLBACK_BACKOFF", value_parser = humantime::parse_duration, default_value = "1s")]
    pub callback_backoff: Duration,

    /// Most callback deliveries pending at once (queued or in flight, all tasks together); a
    /// status change arriving beyond it is dropped and counted.
    #[arg(long, env = "KLING_MOCK_CALLBACK_QUEUE", default_value_t = DEFAULT_CALLBACK_QUEUE)]
    pub callback_queue: usize,

    /// Callback delivery attempts in flight at once, across all tasks; more wait their turn.
    #[arg(long, env = "KLING_MOCK_CALLBACK_CONCURRENCY", default_value_t = DEFAULT_CALLBACK_CONCURRENCY)]
    pub callback_concurrency: usize,

    /// Delivery attempts kept by the callback log (oldest dropped first).
    #[arg(long, env = "KLING_MOCK_CALLBACK_LOG", default_value_t = DEFAULT_CALLBACK_LOG)]
    pub callback_log: usize,

    /// Download the foreign image URLs a create names (image2video `image` / `image_tail`, the
    /// other video families' image lists; not the mock's own media, not videos) before the
    /// task is created, and measure them as Base64 input: the video takes their shape, and a
    /// download that fails (an HTTP error, a host outside --callback-allow, a timeout, more than
    /// 10 MB, not a JPEG/PNG) makes the task fail naming the field and the URL. Downloads obey
    /// the callback rules: --callback-allow, --callback-timeout (all of one create's downloads),
    /// --callback-connect-timeout, no redirects. Default: off, never fetched.
    #[arg(long, env = "KLING_MOCK_FETCH_INPUTS", value_parser = clap::builder::FalseyValueParser::new())]
    pub fetch_inputs: bool,

    /// Sign callbacks as Kling does when a Webhook Secret is set (Standard Webhooks headers
    /// webhook-id, webhook-timestamp, webhook-signature). Format: whsec_ then the key in Base64.
    #[arg(
        long,
        env = "KLING_MOCK_WEBHOOK_SECRET",
        value_name = "whsec_BASE64",
        hide_env_values = true
    )]
    pub webhook_secret: Option<WebhookSecret>,
}

fn parse_json<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, String> {
    serde_json::from_str(s).map_err(|e| format!("invalid JSON: {e}"))
}

/// The JSON array given to `--faults` (a newtype so clap takes it as one value).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FaultList(pub Vec<FaultSpec>);

fn parse_faults(s: &str) -> Result<FaultList, String> {
    let v: Vec<FaultSpec> = parse_json(s)?;
    for f in &v {
        f.validate().map_err(|e| e.message.to_string())?;
    }
    Ok(FaultList(v))
}

fn parse_latency(s: &str) -> Result<Latency, String> {
    let l: Latency = parse_json(s)?;
    l.validate().map_err(|e| e.message.to_string())?;
    Ok(l)
}

fn parse_callback_faults(s: &str) -> Result<CallbackFaults, String> {
    let f: CallbackFaults = parse_json(s)?;
    f.validate()?;
    Ok(f)
}

fn parse_account_settings(s: &str) -> Result<(String, AccountPatch), String> {
    let (ak, json) = s
        .split_once('=')
        .ok_or_else(|| format!("expected ACCESS_KEY=JSON, got '{s}'"))?;
    Ok((ak.trim().to_string(), parse_json(json)?))
}

fn parse_outcomes(s: &str) -> Result<Outcomes, String> {
    let o: Outcomes = parse_json(s)?;
    o.validate().map_err(|e| e.message.to_string())?;
    Ok(o)
}

/// What the binary does instead of serving.
#[derive(Clone, Debug, clap::Subcommand)]
pub enum Command {
    /// Print a bearer token for an account of this configuration and exit, e.g.
    /// `export TOKEN=$(kling-mock token)`. Kling's recipe: an HS256 JWT whose `iss` is the access
    /// key, `nbf` 5 s ago, `exp` after --ttl. The accounts are those the server would have
    /// (--account, KLING_MOCK_ACCOUNTS, --config; else the development account).
    Token(TokenArgs),
}

/// `kling-mock token`'s options.
#[derive(Clone, Debug, clap::Args)]
pub struct TokenArgs {
    /// The account's access key. Default: the first configured account (or the development one).
    #[arg(long, value_name = "AK")]
    pub access_key: Option<String>,

    /// Sign with this secret key instead of the configured account's (for an account this
    /// configuration does not have, e.g. a mock running elsewhere, or `--auth any`).
    #[arg(long, value_name = "SK", requires = "access_key")]
    pub secret_key: Option<String>,

    /// How long the token is valid (Kling's examples use 30 minutes).
    #[arg(long, default_value = "30m", value_parser = humantime::parse_duration)]
    pub ttl: Duration,
}

impl TokenArgs {
    /// The token for `config`'s accounts at `now_secs`, or why there is none.
    pub fn token(&self, config: &Config, now_secs: i64) -> Result<String, String> {
        let ttl = i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX / 2);
        if ttl == 0 {
            return Err("--ttl must be at least one second".into());
        }
        let accounts = config.effective_accounts();
        let (ak, sk) = match (&self.access_key, &self.secret_key) {
            (Some(ak), Some(sk)) => (ak.clone(), sk.clone()),
            (Some(ak), None) => match accounts.iter().find(|a| &a.access_key == ak) {
                Some(a) => (a.access_key.clone(), a.secret_key.clone()),
                None => {
                    let known: Vec<&str> = accounts.iter().map(|a| a.access_key.as_str()).collect();
                    return Err(format!(
                        "no account with access key '{ak}' in this configuration (it has: {}); \
                         give its --secret-key too to sign for another mock",
                        known.join(", ")
                    ));
                }
            },
            (None, _) => {
                let a = &accounts[0];
                (a.access_key.clone(), a.secret_key.clone())
            }
        };
        Ok(sign_token_for(&ak, &sk, now_secs, ttl))
    }
}

impl From<Cli> for Config {
    fn from(c: Cli) -> Config {
        Config {
            bind: c.bind,
            public_url: c.public_url,
            accounts: c.accounts,
            auth: c.auth,
            jwt_leeway_secs: c.jwt_leeway,
            seed: c.seed,
            timings: c.timings,
            timing_profile: c.timing_profile,
            body_limit: c.body_limit,
            journal_size: c.journal_size,
            max_tasks: c.max_tasks,
            media_retention: c.media_retention,
            max_media: c.max_media,
            video_cache_mb: c.video_cache_mb,
            state_file: c.state_file,
            state_interval: c.state_interval,
            control: !c.no_control,
            control_token: c.control_token,
            log_json: c.log_format == LogFormat::Json,
            tls: TlsConfig::from_options(c.tls, c.tls_cert, c.tls_key, c.tls_cert_out),
            clock: c.clock,
            start_ms: c.start_time,
            faults: c.faults.map(|f| f.0).unwrap_or_default(),
            latency: c.latency.unwrap_or_default(),
            outcomes: c.outcomes.unwrap_or_default(),
            callback_faults: c.callback_faults.unwrap_or_default(),
            account_settings: c.account_settings,
            fetch_inputs: c.fetch_inputs,
            callbacks: CallbackConfig {
                timeout: c.callback_timeout,
                connect_timeout: c.callback_connect_timeout,
                allow: CallbackAllow::new(
                    c.callback_allow
                        .iter()
                        .flat_map(|a| a.entries().iter().cloned()),
                ),
                retries: c.callback_retries,
                backoff: c.callback_backoff,
                queue_limit: c.callback_queue,
                log_capacity: c.callback_log,
                webhook_secret: c.webhook_secret,
                concurrency: c.callback_concurrency.max(1),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_defaults_match_the_library_defaults() {
        let cfg: Config = Cli::parse_from(["kling-mock"]).into();
        let def = Config::default();
        assert_eq!(cfg.bind, def.bind);
        assert_eq!(cfg.callbacks, def.callbacks);
        assert_eq!(cfg.body_limit, def.body_limit);
        assert_eq!(cfg.jwt_leeway_secs, def.jwt_leeway_secs);
    }

    #[test]
    fn accounts_and_timings_parse_from_the_command_line() {
        let cfg: Config = Cli::parse_from([
            "kling-mock",
            "--account",
            "ak1:sk1",
            "--account",
            "ak2:sk:with:colons",
            "--timing",
            "text-to-audio=500ms/2s",
        ])
        .into();
        assert_eq!(cfg.accounts.len(), 2);
        assert_eq!(cfg.accounts[1].secret_key, "sk:with:colons");
        let t = cfg.lifecycle(crate::kinds::text_to_audio::SPEC.id);
        assert_eq!(t.submitted, Span::fixed(500));
        assert_eq!(t.processing, Span::fixed(2000));
        assert_eq!(t.progress, Progress::Time);
        assert_eq!(
            cfg.lifecycle(crate::kinds::custom_voice::SPEC.id),
            crate::kinds::custom_voice::SPEC.id.default_lifecycle()
        );
        let r: TimingSpec = "custom-voice=1s..3s/0s/polls:2".parse().unwrap();
        assert_eq!(
            r.lifecycle.submitted,
            Span {
                min_ms: 1000,
                max_ms: 3000
            }
        );
        assert_eq!(r.lifecycle.progress, Progress::Polls { polls: 2 });
        let m: TimingSpec = "text-to-audio=0s/0s/manual".parse().unwrap();
        assert_eq!(m.lifecycle.progress, Progress::Manual);
    }

    #[test]
    fn control_rules_can_be_given_at_startup_and_bad_ones_stop_it() {
        let cfg: Config = Cli::parse_from([
            "kling-mock",
            "--faults",
            r#"[{"path":"/v1/audio/*","code":1303,"every":3}]"#,
            "--latency",
            r#"{"global":{"kind":"fixed","ms":5}}"#,
            "--outcomes",
            r#"{"rules":[{"field":"prompt","contains":"gore","reject":{"code":1301}}]}"#,
            "--callback-faults",
            r#"{"drop":0.5}"#,
            "--account-settings",
            r#"ak1={"concurrency":{"video":2}}"#,
            "--journal-size",
            "0",
        ])
        .into();
        assert_eq!(cfg.faults[0].every, Some(3));
        assert!(cfg.latency.global.is_some());
        assert_eq!(cfg.outcomes.rules.len(), 1);
        assert_eq!(cfg.callback_faults.drop, 0.5);
        assert_eq!(cfg.account_settings[0].0, "ak1");
        assert_eq!(cfg.journal_size, 0);
        for bad in [
            ["--faults", r#"[{"code":4242}]"#],
            ["--faults", "not json"],
            [
                "--latency",
                r#"{"global":{"kind":"uniform","min_ms":5,"max_ms":1}}"#,
            ],
            [
                "--outcomes",
                r#"{"rules":[{"field":"p","regex":"(","fail_task":"x"}]}"#,
            ],
            ["--callback-faults", r#"{"drop":3}"#],
            ["--account-settings", "ak1"],
        ] {
            assert!(
                Cli::try_parse_from(["kling-mock", bad[0], bad[1]]).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn malformed_accounts_and_timings_are_refused() {
        assert!(Cli::try_parse_from(["kling-mock", "--account", "no-colon"]).is_err());
        assert!(Cli::try_parse_from(["kling-mock", "--timing", "video=1s/2s"]).is_err());
        assert!(Cli::try_parse_from(["kling-mock", "--timing", "text-to-audio=1s"]).is_err());
        assert!(
            Cli::try_parse_from(["kling-mock", "--timing", "text-to-audio=3s..1s/1s"]).is_err()
        );
        assert!(
            Cli::try_parse_from(["kling-mock", "--timing", "text-to-audio=1s/1s/polls:0"]).is_err()
        );
        assert!(Cli::try_parse_from(["kling-mock", "--timing", "tts=1s/1s"]).is_err());
    }
}
