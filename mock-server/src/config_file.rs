//! The TOML configuration file (`--config PATH`, env `KLING_MOCK_CONFIG`) and the precedence
//! command line > environment > file > defaults.
//!
//! The file covers every option and the control-plane rules, so a team can check a scenario
//! into its repository (`fixtures/kling-mock.example.toml` shows every key). Keys are the
//! command-line names with `_` for `-`; rules use the JSON formats of the control plane, written
//! as TOML tables. Every value is checked while the file is read, so an error names the key and
//! the line and the server does not start.

use crate::config::{
    AccountSpec, AuthMode, Cli, ClockStart, Config, TimingProfile, TimingSpec, TlsConfig,
    parse_progress, parse_span,
};
use crate::control::outcomes::Outcomes;
use crate::control::rules::{FaultSpec, Latency};
use crate::engine::billing::{AccountPatch, AccountState, Pack, Pool};
use crate::engine::{CallbackFaults, Lifecycle, Progress, Span};
use crate::kinds::KindId;
use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Why the configuration could not be loaded.
#[derive(Debug)]
pub enum LoadError {
    /// The command line (or `--help` / `--version`): let clap print it and exit.
    Cli(clap::Error),
    /// The file is missing or invalid; the message names the file, key and line.
    File(String),
}

/// The loaded configuration and what the binary should do with it.
#[derive(Debug)]
pub struct Loaded {
    /// The effective configuration.
    pub config: Config,
    /// `--print-config`: print it and exit.
    pub print: bool,
    /// `--healthcheck`: probe the running server and exit.
    pub healthcheck: bool,
    /// A subcommand to run instead of serving.
    pub command: Option<crate::config::Command>,
}

/// A value checked while the file is read (the error then carries the key's line).
macro_rules! checked {
    ($name:ident, $inner:ty, $check:expr) => {
        #[derive(Clone, Debug, Serialize)]
        #[serde(transparent)]
        struct $name($inner);
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let v = <$inner>::deserialize(d)?;
                let check: fn(&$inner) -> Result<(), String> = $check;
                check(&v).map_err(D::Error::custom)?;
                Ok($name(v))
            }
        }
    };
}

checked!(FaultRule, FaultSpec, |f| f
    .validate()
    .map(|_| ())
    .map_err(|e| e.message.to_string()));
checked!(LatencyRules, Latency, |l| l
    .validate()
    .map_err(|e| e.message.to_string()));
checked!(OutcomeRules, Outcomes, |o| o
    .validate()
    .map_err(|e| e.message.to_string()));
checked!(CallbackFaultRules, CallbackFaults, |f| f.validate());

/// A duration such as `10s`, `250ms`.
#[derive(Clone, Debug, Serialize)]
#[serde(transparent)]
struct Dur(String);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s).map_err(|e| D::Error::custom(format!("'{s}': {e}")))?;
        Ok(Dur(s))
    }
}

impl Dur {
    fn get(&self) -> std::time::Duration {
        humantime::parse_duration(&self.0).unwrap_or_default()
    }
}

/// `[lifecycle.KIND]`: `submitted` / `processing` as `1s` or `1s..3s`; `progress` as `time`,
/// `polls:N` or `manual`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, try_from = "RawLifecycle")]
struct FileLifecycle {
    submitted: String,
    processing: String,
    #[serde(default)]
    progress: Option<String>,
}

/// [`FileLifecycle`] before its values are checked.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLifecycle {
    submitted: String,
    processing: String,
    #[serde(default)]
    progress: Option<String>,
}

impl TryFrom<RawLifecycle> for FileLifecycle {
    type Error = String;
    fn try_from(r: RawLifecycle) -> Result<Self, String> {
        let l = FileLifecycle {
            submitted: r.submitted,
            processing: r.processing,
            progress: r.progress,
        };
        l.lifecycle()?;
        Ok(l)
    }
}

/// A task kind name in `[lifecycle.KIND]`, checked when read.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
struct KindName(String);

impl<'de> Deserialize<'de> for KindName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        KindId::task_from_slug(&s)
            .map(|_| KindName(s))
            .map_err(D::Error::custom)
    }
}

impl FileLifecycle {
    fn lifecycle(&self) -> Result<Lifecycle, String> {
        Ok(Lifecycle {
            submitted: parse_span(&self.submitted)?,
            processing: parse_span(&self.processing)?,
            progress: match &self.progress {
                Some(p) => parse_progress(p)?,
                None => Progress::Time,
            },
        })
    }

    fn from_lifecycle(l: &Lifecycle) -> FileLifecycle {
        let span = |s: Span| {
            if s.min_ms == s.max_ms {
                format!("{}ms", s.min_ms)
            } else {
                format!("{}ms..{}ms", s.min_ms, s.max_ms)
            }
        };
        FileLifecycle {
            submitted: span(l.submitted),
            processing: span(l.processing),
            progress: Some(match l.progress {
                Progress::Time => "time".into(),
                Progress::Polls { polls } => format!("polls:{polls}"),
                Progress::Manual => "manual".into(),
            }),
        }
    }
}

/// `[[accounts]]`: keys, and optionally the account's standing, limits and packs.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileAccount {
    access_key: String,
    secret_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    state: Option<AccountState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    concurrency: Option<BTreeMap<Pool, u32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    packs: Option<Vec<Pack>>,
}

/// `[callbacks]`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileCallbacks {
    timeout: Option<Dur>,
    connect_timeout: Option<Dur>,
    allow: Option<Vec<Allow>>,
    retries: Option<u32>,
    backoff: Option<Dur>,
    queue: Option<usize>,
    log: Option<usize>,
    concurrency: Option<usize>,
    webhook_secret: Option<Secret>,
    faults: Option<CallbackFaultRules>,
}

/// One `[callbacks] allow` entry (`--callback-allow`), checked when read.
#[derive(Clone, Debug)]
struct Allow(crate::engine::webhook::AllowEntry);

impl<'de> Deserialize<'de> for Allow {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map(Allow).map_err(D::Error::custom)
    }
}

impl Serialize for Allow {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

/// A webhook secret, checked when read; printed as `<set>`.
#[derive(Clone, Debug)]
struct Secret(crate::engine::WebhookSecret);

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse()
            .map(Secret)
            .map_err(|e| D::Error::custom(format!("{e}")))
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<set>")
    }
}

/// The whole file. Every key is optional.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    bind: Option<SocketAddr>,
    public_url: Option<String>,
    auth: Option<AuthMode>,
    jwt_leeway: Option<u64>,
    seed: Option<u64>,
    timing_profile: Option<TimingProfile>,
    body_limit: Option<usize>,
    journal_size: Option<usize>,
    max_tasks: Option<usize>,
    media_retention: Option<Dur>,
    max_media: Option<usize>,
    video_cache_mb: Option<usize>,
    clock: Option<ClockStart>,
    start_time: Option<i64>,
    state_file: Option<PathBuf>,
    state_interval: Option<Dur>,
    no_control: Option<bool>,
    control_token: Option<String>,
    log_format: Option<String>,
    tls: Option<bool>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    tls_cert_out: Option<PathBuf>,
    fetch_inputs: Option<bool>,
    accounts: Option<Vec<FileAccount>>,
    lifecycle: Option<BTreeMap<KindName, FileLifecycle>>,
    callbacks: Option<FileCallbacks>,
    faults: Option<Vec<FaultRule>>,
    latency: Option<LatencyRules>,
    outcomes: Option<OutcomeRules>,
}

/// Load the configuration from the process's command line, environment and file.
pub fn load() -> Result<Loaded, LoadError> {
    load_from(std::env::args_os())
}

/// Load the configuration from `args` (the first is the program name), the environment and
/// the file `--config` names.
pub fn load_from<I, T>(args: I) -> Result<Loaded, LoadError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let matches = Cli::command()
        .try_get_matches_from(args)
        .map_err(LoadError::Cli)?;
    let cli = Cli::from_arg_matches(&matches).map_err(LoadError::Cli)?;
    let print = cli.print_config;
    let healthcheck = cli.healthcheck;
    let command = cli.command.clone();
    let path: Option<PathBuf> = cli.config.clone();
    let mut config: Config = cli.into();
    if let Some(path) = path {
        let text = std::fs::read_to_string(&path).map_err(|e| {
            LoadError::File(format!("cannot read config file {}: {e}", path.display()))
        })?;
        let file: FileConfig = toml::from_str(&text)
            .map_err(|e| LoadError::File(format!("invalid config file {}: {e}", path.display())))?;
        // The file fills in what neither the command line nor the environment set.
        let unset = |id: &str| {
            !matches!(
                matches.value_source(id),
                Some(ValueSource::CommandLine | ValueSource::EnvVariable)
            )
        };
        apply(&mut config, file, unset)
            .map_err(|e| LoadError::File(format!("invalid config file {}: {e}", path.display())))?;
    }
    Ok(Loaded {
        config,
        print,
        healthcheck,
        command,
    })
}

fn apply(c: &mut Config, f: FileConfig, unset: impl Fn(&str) -> bool) -> Result<(), String> {
    macro_rules! take {
        ($id:literal, $field:expr, $value:expr) => {
            if unset($id)
                && let Some(v) = $value
            {
                $field = v;
            }
        };
    }
    take!("bind", c.bind, f.bind);
    take!("public_url", c.public_url, f.public_url.map(Some));
    take!("auth", c.auth, f.auth);
    take!("jwt_leeway", c.jwt_leeway_secs, f.jwt_leeway);
    take!("seed", c.seed, f.seed.map(Some));
    take!("timing_profile", c.timing_profile, f.timing_profile);
    take!("body_limit", c.body_limit, f.body_limit);
    take!("journal_size", c.journal_size, f.journal_size);
    take!("max_tasks", c.max_tasks, f.max_tasks);
    take!("max_media", c.max_media, f.max_media);
    take!("video_cache_mb", c.video_cache_mb, f.video_cache_mb);
    take!(
        "media_retention",
        c.media_retention,
        f.media_retention.as_ref().map(Dur::get)
    );
    take!("clock", c.clock, f.clock);
    take!("start_time", c.start_ms, f.start_time.map(Some));
    take!("state_file", c.state_file, f.state_file.map(Some));
    take!(
        "state_interval",
        c.state_interval,
        f.state_interval.as_ref().map(Dur::get)
    );
    take!("no_control", c.control, f.no_control.map(|n| !n));
    take!("control_token", c.control_token, f.control_token.map(Some));
    if let Some(fmt) = f.log_format
        && unset("log_format")
    {
        c.log_json = match fmt.as_str() {
            "json" => true,
            "text" => false,
            other => return Err(format!("log_format must be text or json, got '{other}'")),
        };
    }
    let tls = FileTls {
        tls: f.tls,
        cert: f.tls_cert,
        key: f.tls_key,
        cert_out: f.tls_cert_out,
    };
    apply_tls(c, tls, &unset)?;
    if let Some(accounts) = f.accounts
        && unset("accounts")
    {
        c.accounts = accounts
            .iter()
            .map(|a| AccountSpec {
                access_key: a.access_key.clone(),
                secret_key: a.secret_key.clone(),
            })
            .collect();
        let mut settings: Vec<(String, AccountPatch)> = accounts
            .into_iter()
            .filter(|a| a.state.is_some() || a.concurrency.is_some() || a.packs.is_some())
            .map(|a| {
                (
                    a.access_key,
                    AccountPatch {
                        state: a.state,
                        concurrency: a.concurrency,
                        packs: a.packs,
                    },
                )
            })
            .collect();
        // Command-line account settings apply after the file's.
        settings.append(&mut c.account_settings);
        c.account_settings = settings;
    }
    if let Some(l) = f.lifecycle
        && unset("timings")
    {
        for (KindName(kind), fl) in l {
            let k = KindId::from_slug(&kind)
                .ok_or_else(|| format!("lifecycle.{kind}: unknown task kind"))?;
            let lifecycle = fl
                .lifecycle()
                .map_err(|e| format!("lifecycle.{kind}: {e}"))?;
            c.timings.push(TimingSpec { kind: k, lifecycle });
        }
    }
    if let Some(cb) = f.callbacks {
        take!(
            "callback_timeout",
            c.callbacks.timeout,
            cb.timeout.as_ref().map(Dur::get)
        );
        take!(
            "callback_connect_timeout",
            c.callbacks.connect_timeout,
            cb.connect_timeout.as_ref().map(Dur::get)
        );
        take!(
            "callback_allow",
            c.callbacks.allow,
            cb.allow
                .map(|v| crate::engine::webhook::CallbackAllow::new(v.into_iter().map(|a| a.0)))
        );
        take!("callback_retries", c.callbacks.retries, cb.retries);
        take!(
            "callback_backoff",
            c.callbacks.backoff,
            cb.backoff.as_ref().map(Dur::get)
        );
        take!("callback_queue", c.callbacks.queue_limit, cb.queue);
        take!("callback_log", c.callbacks.log_capacity, cb.log);
        take!(
            "callback_concurrency",
            c.callbacks.concurrency,
            cb.concurrency.map(|n| n.max(1))
        );
        take!(
            "webhook_secret",
            c.callbacks.webhook_secret,
            cb.webhook_secret.map(|s| Some(s.0))
        );
        take!("callback_faults", c.callback_faults, cb.faults.map(|f| f.0));
    }
    take!("fetch_inputs", c.fetch_inputs, f.fetch_inputs);
    take!(
        "faults",
        c.faults,
        f.faults.map(|v| v.into_iter().map(|r| r.0).collect())
    );
    take!("latency", c.latency, f.latency.map(|l| l.0));
    take!("outcomes", c.outcomes, f.outcomes.map(|o| o.0));
    Ok(())
}

/// The file's `tls`, `tls_cert`, `tls_key`, `tls_cert_out`.
struct FileTls {
    tls: Option<bool>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    cert_out: Option<PathBuf>,
}

/// `tls`, `tls_cert`, `tls_key`, `tls_cert_out`, key by key under the command line and the
/// environment (which give the certificate and key together or not at all).
fn apply_tls(
    c: &mut Config,
    FileTls {
        tls,
        cert,
        key,
        cert_out,
    }: FileTls,
    unset: impl Fn(&str) -> bool,
) -> Result<(), String> {
    let files = match (cert, key) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        (Some(_), None) => return Err("tls_cert is given without tls_key".into()),
        (None, Some(_)) => return Err("tls_key is given without tls_cert".into()),
    };
    if let Some((cert, key)) = files
        && unset("tls_cert")
        && unset("tls_key")
    {
        c.tls = Some(TlsConfig::Files { cert, key });
    }
    let out = cert_out.filter(|_| unset("tls_cert_out"));
    match &mut c.tls {
        Some(TlsConfig::Files { .. }) => {}
        Some(TlsConfig::SelfSigned { cert_out }) => {
            if out.is_some() {
                *cert_out = out;
            }
        }
        None => {
            let on = tls.filter(|_| unset("tls")).unwrap_or(out.is_some());
            if on {
                c.tls = Some(TlsConfig::SelfSigned { cert_out: out });
            }
        }
    }
    Ok(())
}

/// The effective configuration as a config file (secret keys and the webhook secret are not
/// printed).
pub fn to_toml(c: &Config) -> String {
    let settings: BTreeMap<&str, &AccountPatch> = c
        .account_settings
        .iter()
        .map(|(k, p)| (k.as_str(), p))
        .collect();
    let file = FileConfig {
        bind: Some(c.bind),
        public_url: c.public_url.clone(),
        auth: Some(c.auth),
        jwt_leeway: Some(c.jwt_leeway_secs),
        seed: c.seed,
        timing_profile: Some(c.timing_profile),
        body_limit: Some(c.body_limit),
        journal_size: Some(c.journal_size),
        max_tasks: Some(c.max_tasks),
        media_retention: Some(Dur(
            humantime::format_duration(c.media_retention).to_string()
        )),
        max_media: Some(c.max_media),
        video_cache_mb: Some(c.video_cache_mb),
        clock: Some(c.clock),
        start_time: c.start_ms,
        state_file: c.state_file.clone(),
        state_interval: Some(Dur(humantime::format_duration(c.state_interval).to_string())),
        no_control: Some(!c.control),
        control_token: c.control_token.as_ref().map(|_| "<redacted>".to_string()),
        log_format: Some(if c.log_json { "json" } else { "text" }.to_string()),
        tls: Some(c.tls.is_some()),
        tls_cert: match &c.tls {
            Some(TlsConfig::Files { cert, .. }) => Some(cert.clone()),
            _ => None,
        },
        tls_key: match &c.tls {
            Some(TlsConfig::Files { key, .. }) => Some(key.clone()),
            _ => None,
        },
        tls_cert_out: match &c.tls {
            Some(TlsConfig::SelfSigned { cert_out }) => cert_out.clone(),
            _ => None,
        },
        accounts: Some(
            c.effective_accounts()
                .into_iter()
                .map(|a| {
                    let p = settings.get(a.access_key.as_str());
                    FileAccount {
                        state: p.and_then(|p| p.state),
                        concurrency: p.and_then(|p| p.concurrency.clone()),
                        packs: p.and_then(|p| p.packs.clone()),
                        access_key: a.access_key,
                        // Never echo a secret: users sometimes configure real keys.
                        secret_key: "<redacted>".into(),
                    }
                })
                .collect(),
        ),
        lifecycle: Some(
            KindId::tasks()
                .map(|k| {
                    (
                        KindName(k.slug().to_string()),
                        FileLifecycle::from_lifecycle(&c.lifecycle(k)),
                    )
                })
                .collect(),
        ),
        callbacks: Some(FileCallbacks {
            timeout: Some(Dur(
                humantime::format_duration(c.callbacks.timeout).to_string()
            )),
            connect_timeout: Some(Dur(
                humantime::format_duration(c.callbacks.connect_timeout).to_string()
            )),
            allow: Some(
                c.callbacks
                    .allow
                    .entries()
                    .iter()
                    .cloned()
                    .map(Allow)
                    .collect(),
            ),
            retries: Some(c.callbacks.retries),
            backoff: Some(Dur(
                humantime::format_duration(c.callbacks.backoff).to_string()
            )),
            queue: Some(c.callbacks.queue_limit),
            log: Some(c.callbacks.log_capacity),
            concurrency: Some(c.callbacks.concurrency),
            webhook_secret: c.callbacks.webhook_secret.map(Secret),
            faults: Some(CallbackFaultRules(c.callback_faults)),
        }),
        fetch_inputs: Some(c.fetch_inputs),
        faults: Some(c.faults.iter().cloned().map(FaultRule).collect()),
        latency: Some(LatencyRules(c.latency.clone())),
        outcomes: Some(OutcomeRules(c.outcomes.clone())),
    };
    toml::to_string_pretty(&file)
        .unwrap_or_else(|e| format!("# could not print the configuration: {e}\n"))
}
