//! The control plane's HTTP side: the JSON API under `/__mock/` (clock, lifecycle, tasks,
//! faults, latency, outcomes, journal, callbacks, state, reset), the [`gate()`] every public
//! request passes, and the control plane's part of the OpenAPI document (`doc`). The rules,
//! the journal and the outcome decisions they work on are [`crate::control`]'s.
//!
//! Every answer uses the Kling envelope (`data` on success, code 1200/1201 and a message naming
//! the problem on bad input). README, "Control plane", documents each endpoint with examples.

pub(crate) mod doc;
mod gate;

pub use gate::gate;

use crate::api::extract::{IdPath, JsonObject, MaybeJson};
use crate::control::journal::Filter;
use crate::control::outcomes::Outcomes;
use crate::control::rules::{FaultSpec, Latency};
use crate::engine::{Goal, Lifecycle};
use crate::error::{Code, KlingError};
use crate::kinds::KindId;
use crate::media::{MediaItem, Origin, VideoSource};
use crate::state::AppState;
use crate::wire::data_response;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

type Answer = Result<Response, KlingError>;

/// Middleware of the control routes: with `--control-token`, a request must carry
/// `Authorization: Bearer <token>` (401 / 1000 otherwise).
pub async fn require_token(
    State(s): State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if let Some(token) = &s.config.control_token {
        let given = req
            .headers()
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        if given != Some(token.as_str()) {
            return KlingError::new(
                Code::AuthFailed,
                "the control plane needs Authorization: Bearer <control token>",
            )
            .into_response();
        }
    }
    next.run(req).await
}

/// Every (method, path) [`routes`] routes, one entry per method (see [`crate::api::routes`]).
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/__mock/openapi.json"),
    ("GET", "/__mock/state"),
    ("POST", "/__mock/reset"),
    ("GET", "/__mock/clock"),
    ("POST", "/__mock/clock"),
    ("GET", "/__mock/lifecycle"),
    ("PUT", "/__mock/lifecycle/{kind}"),
    ("POST", "/__mock/tasks/{key}/advance"),
    ("GET", "/__mock/faults"),
    ("POST", "/__mock/faults"),
    ("DELETE", "/__mock/faults"),
    ("DELETE", "/__mock/faults/{id}"),
    ("GET", "/__mock/latency"),
    ("PUT", "/__mock/latency"),
    ("GET", "/__mock/outcomes"),
    ("PUT", "/__mock/outcomes"),
    ("DELETE", "/__mock/outcomes"),
    ("GET", "/__mock/journal"),
    ("PUT", "/__mock/journal"),
    ("DELETE", "/__mock/journal"),
    ("POST", "/__mock/videos"),
    ("POST", "/__mock/accounts"),
    ("GET", "/__mock/accounts/{ak}"),
    ("PUT", "/__mock/accounts/{ak}"),
    ("DELETE", "/__mock/accounts/{ak}"),
    ("GET", "/__mock/callbacks"),
    ("DELETE", "/__mock/callbacks"),
    ("GET", "/__mock/callbacks/faults"),
    ("PUT", "/__mock/callbacks/faults"),
    ("POST", "/__mock/callbacks/idle"),
];

/// The control routes (mounted under `/__mock`).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/__mock/openapi.json", get(crate::openapi::serve))
        .route("/__mock/state", get(state))
        .route("/__mock/reset", post(reset))
        .route("/__mock/clock", get(clock_get).post(clock_set))
        .route("/__mock/lifecycle", get(lifecycle_get))
        .route(
            "/__mock/lifecycle/{kind}",
            axum::routing::put(lifecycle_set),
        )
        .route("/__mock/tasks/{key}/advance", post(task_advance))
        .route(
            "/__mock/faults",
            get(faults_list).post(faults_add).delete(faults_clear),
        )
        .route("/__mock/faults/{id}", delete(fault_remove))
        .route("/__mock/latency", get(latency_get).put(latency_set))
        .route(
            "/__mock/outcomes",
            get(outcomes_get).put(outcomes_set).delete(outcomes_clear),
        )
        .route(
            "/__mock/journal",
            get(journal_get).put(journal_set).delete(journal_clear),
        )
        .route("/__mock/videos", post(video_register))
        .route("/__mock/accounts", post(account_add))
        .route(
            "/__mock/accounts/{ak}",
            get(account_get).put(account_set).delete(account_remove),
        )
        .route(
            "/__mock/callbacks",
            get(callbacks_get).delete(callbacks_clear),
        )
        .route(
            "/__mock/callbacks/faults",
            get(callback_faults_get).put(callback_faults_set),
        )
        .route("/__mock/callbacks/idle", post(callbacks_idle))
}

/// Decode a JSON body into `T`, with a Kling error naming what is wrong.
fn decode<T: DeserializeOwned>(body: Map<String, Value>) -> Result<T, KlingError> {
    serde_json::from_value(Value::Object(body))
        .map_err(|e| KlingError::param(format!("invalid body: {e}")))
}

fn kind(slug: &str) -> Result<KindId, KlingError> {
    KindId::task_from_slug(slug).map_err(KlingError::param)
}

fn account_idx(s: &AppState, ak: &str) -> Result<u32, KlingError> {
    s.accounts
        .get(ak)
        .map(|a| a.idx)
        .ok_or_else(|| KlingError::param(format!("unknown account '{ak}'")))
}

/// The clock as `GET/POST /__mock/clock` show it. In real mode, `offset_ms` is how far the mock
/// runs ahead of (or behind) the wall clock: time advanced or set stays when the clock resumes,
/// and from a second on, a `note` says so and how to rejoin wall time.
fn clock_json(s: &AppState) -> Value {
    let wall = crate::clock::Clock::wall_ms();
    match s.clock.mode() {
        crate::clock::Mode::Frozen { at_ms } => {
            json!({"mode": "frozen", "now_ms": at_ms, "wall_ms": wall})
        }
        crate::clock::Mode::Real { offset_ms } => {
            let mut v = json!({"mode": "real", "now_ms": wall.saturating_add(offset_ms), "wall_ms": wall,
                               "offset_ms": offset_ms});
            // A few ms come from freezing and resuming (or setting) over HTTP: only a real
            // offset is worth a note.
            if offset_ms.unsigned_abs() >= 1000 {
                v["note"] = json!(format!(
                    "the clock runs with wall time but {} ms {} it (time advanced or set before \
                     it resumed is kept); POST {{\"set_ms\": {wall}}} (the wall time) to rejoin it",
                    offset_ms.unsigned_abs(),
                    if offset_ms > 0 { "ahead of" } else { "behind" }
                ));
            }
            v
        }
    }
}

/// `GET /__mock/state`: a summary of everything the mock holds.
async fn state(State(s): State<AppState>) -> Answer {
    s.engine.catch_up();
    let census = s.engine.census();
    // Live (not deleted) elements per account.
    let mut elements: BTreeMap<u32, usize> = BTreeMap::new();
    for (_, e) in s.elements.entries() {
        if !e.deleted {
            *elements.entry(e.account).or_default() += 1;
        }
    }
    let accounts: Vec<Value> = s
        .accounts
        .list()
        .into_iter()
        .map(|a| {
            let mut tasks: BTreeMap<&str, BTreeMap<&str, usize>> = BTreeMap::new();
            let mut voices = 0;
            for ((acc, k, st), n) in census.range((a.idx, KindId::MIN, crate::engine::Status::Submitted)..) {
                if *acc != a.idx {
                    break;
                }
                *tasks.entry(k.slug()).or_default().entry(st.as_str()).or_default() += n;
                if *k == crate::kinds::custom_voice::SPEC.id && *st == crate::engine::Status::Succeed {
                    voices += n;
                }
            }
            let (settings, in_flight) = s.engine.billing.settings(a.idx, s.clock.now_ms());
            let packs: Vec<Value> = settings
                .packs
                .iter()
                .map(|p| json!({"name": p.name, "pool": p.pool, "total": p.total, "remaining": p.remaining, "status": p.status(s.clock.now_ms())}))
                .collect();
            json!({
                "access_key": &*a.access_key,
                "owner_id": a.owner_id.to_string(),
                "state": settings.state,
                "tasks": tasks,
                "in_flight": in_flight,
                "custom_voices": voices,
                "elements": elements.get(&a.idx).copied().unwrap_or(0),
                "packs": packs,
            })
        })
        .collect();
    let stats = s.engine.callback_stats();
    use std::sync::atomic::Ordering::Relaxed;
    Ok(data_response(&json!({
        "clock": clock_json(&s),
        "seed": s.entropy.seed(),
        "accounts": accounts,
        "tasks": s.engine.task_count(),
        "pending_transitions": s.engine.pending_transitions(),
        "media_files": s.media.file_count(),
        "media_ids": s.media.item_count(),
        "video_files": s.media.video_count(),
        "image_files": s.media.image_count(),
        "media_cache": s.media.cache_stats(),
        "callbacks": {
            "delivered": stats.delivered.load(Relaxed),
            "failed": stats.failed.load(Relaxed),
            "attempts": stats.attempts.load(Relaxed),
        },
        "journal": {"capacity": s.control.journal.capacity()},
        "limits": {
            "max_tasks": s.engine.max_tasks(),
            "tasks_evicted": s.engine.evicted_tasks(),
            "media_retention_ms": s.media.retention_ms(),
            "max_media": s.media.cap(),
            "media_evicted": s.media.evicted(),
        },
        "faults": s.control.faults().len(),
    })))
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct ResetBody {
    /// Only this account (access key).
    account: Option<String>,
    /// Also restore the startup rules (faults, latency, outcomes, lifecycles).
    rules: bool,
}

/// `POST /__mock/reset`: forget tasks, voices, elements, sessions, media ids and journal entries (of one account or
/// all); with `"rules": true` also drop runtime faults, latency and outcome rules and restore the
/// startup lifecycles.
async fn reset(State(s): State<AppState>, MaybeJson(body): MaybeJson) -> Answer {
    let b: ResetBody = match body {
        Some(m) => decode(m)?,
        None => ResetBody::default(),
    };
    let idx = b
        .account
        .as_deref()
        .map(|a| account_idx(&s, a))
        .transpose()?;
    s.reset(idx, b.account.as_deref(), b.rules);
    Ok(data_response(
        &json!({"reset": b.account.as_deref().unwrap_or("all"), "rules": b.rules}),
    ))
}

async fn clock_get(State(s): State<AppState>) -> Answer {
    Ok(data_response(&clock_json(&s)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockBody {
    /// `real` or `frozen`.
    mode: Option<String>,
    /// Jump to this time, Unix ms.
    set_ms: Option<i64>,
    /// Move forward by a duration such as `90s`, `5m`, `250ms`.
    advance: Option<String>,
    /// Move forward by this many ms.
    advance_ms: Option<i64>,
    /// Answer only once every callback queued so far has been delivered or given up.
    #[serde(default)]
    wait_callbacks: bool,
}

/// `POST /__mock/clock`: change mode, set, and/or advance (in that order). Every transition and
/// callback that falls due runs, in time order, before the answer.
async fn clock_set(State(s): State<AppState>, JsonObject(body): JsonObject) -> Answer {
    let b: ClockBody = decode(body)?;
    // Everything is checked before anything changes: a refused request leaves the clock alone.
    let frozen = match b.mode.as_deref() {
        None => None,
        Some("frozen") => Some(true),
        Some("real") => Some(false),
        Some(m) => {
            return Err(KlingError::param(format!(
                "mode must be real or frozen, got '{m}'"
            )));
        }
    };
    let mut ms = b.advance_ms.unwrap_or(0);
    if let Some(d) = &b.advance {
        let d = humantime::parse_duration(d)
            .map_err(|e| KlingError::param(format!("advance '{d}': {e}")))?;
        ms = ms.saturating_add(d.as_millis().min(i64::MAX as u128) as i64);
    }
    if ms < 0 {
        return Err(KlingError::param("advance_ms must not be negative"));
    }
    match frozen {
        None => {}
        Some(true) => s.clock.freeze(),
        Some(false) => s.clock.resume(),
    }
    if let Some(at) = b.set_ms {
        s.clock.set(at);
    }
    s.engine.advance(ms);
    if b.wait_callbacks {
        s.engine.callbacks_idle().await;
    }
    Ok(data_response(&clock_json(&s)))
}

async fn lifecycle_get(State(s): State<AppState>) -> Answer {
    let m: BTreeMap<&str, Lifecycle> = KindId::tasks()
        .map(|k| (k.slug(), s.engine.lifecycle(k)))
        .collect();
    Ok(data_response(&m))
}

/// `PUT /__mock/lifecycle/{kind}`: durations (fixed or a range) and what moves tasks on.
async fn lifecycle_set(
    State(s): State<AppState>,
    IdPath(k): IdPath,
    JsonObject(body): JsonObject,
) -> Answer {
    let k = kind(&k)?;
    let l: Lifecycle = decode(body)?;
    if l.submitted.min_ms > l.submitted.max_ms || l.processing.min_ms > l.processing.max_ms {
        return Err(KlingError::param("a span needs min_ms <= max_ms"));
    }
    if matches!(l.progress, crate::engine::Progress::Polls { polls: 0 }) {
        return Err(KlingError::param("polls must be at least 1"));
    }
    s.engine.set_lifecycle(k, l);
    Ok(data_response(&l))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AdvanceBody {
    /// `next`, `succeed` or `failed`.
    #[serde(default = "next")]
    to: String,
    /// `task_status_msg` of a failure.
    message: Option<String>,
    /// The account whose external id `key` is (needed only when several accounts use it).
    account: Option<String>,
}

fn next() -> String {
    "next".into()
}

/// `POST /__mock/tasks/{key}/advance`: move one task by hand.
async fn task_advance(
    State(s): State<AppState>,
    IdPath(key): IdPath,
    MaybeJson(body): MaybeJson,
) -> Answer {
    let b: AdvanceBody = match body {
        Some(m) => decode(m)?,
        None => AdvanceBody {
            to: next(),
            message: None,
            account: None,
        },
    };
    let goal = match b.to.as_str() {
        "next" => Goal::Next,
        "succeed" => Goal::Succeed,
        "failed" => Goal::Failed(b.message.unwrap_or_else(|| "Task failed".into())),
        other => {
            return Err(KlingError::param(format!(
                "to must be next, succeed or failed, got '{other}'"
            )));
        }
    };
    let idx = b
        .account
        .as_deref()
        .map(|a| account_idx(&s, a))
        .transpose()?;
    let view = s.engine.force(idx, &key, &goal)?;
    Ok(data_response(&view.query(s.engine.base_url())))
}

async fn faults_list(State(s): State<AppState>) -> Answer {
    Ok(data_response(&s.control.faults()))
}

/// `POST /__mock/faults`: add a rule.
async fn faults_add(State(s): State<AppState>, JsonObject(body): JsonObject) -> Answer {
    let spec: FaultSpec = decode(body)?;
    let id = s.control.add_fault(spec)?;
    Ok(data_response(&json!({"id": id})))
}

async fn faults_clear(State(s): State<AppState>) -> Answer {
    Ok(data_response(
        &json!({"removed": s.control.remove_faults(None)}),
    ))
}

async fn fault_remove(State(s): State<AppState>, IdPath(id): IdPath) -> Answer {
    match s.control.remove_faults(Some(&id)) {
        0 => Err(KlingError::new(
            Code::NotFound,
            format!("no fault rule named '{id}'"),
        )),
        n => Ok(data_response(&json!({"removed": n}))),
    }
}

async fn latency_get(State(s): State<AppState>) -> Answer {
    Ok(data_response(&s.control.latency()))
}

async fn latency_set(State(s): State<AppState>, JsonObject(body): JsonObject) -> Answer {
    let l: Latency = decode(body)?;
    s.control.set_latency(l.clone())?;
    Ok(data_response(&l))
}

async fn outcomes_get(State(s): State<AppState>) -> Answer {
    Ok(data_response(&s.control.outcomes()))
}

async fn outcomes_set(State(s): State<AppState>, JsonObject(body): JsonObject) -> Answer {
    let o: Outcomes = decode(body)?;
    s.control.set_outcomes(o.clone())?;
    Ok(data_response(&o))
}

async fn outcomes_clear(State(s): State<AppState>) -> Answer {
    s.control.set_outcomes(Outcomes::default())?;
    Ok(data_response(&Outcomes::default()))
}

/// `GET /__mock/journal?path=&account=&since_ms=&until_ms=&limit=`.
async fn journal_get(State(s): State<AppState>, RawQuery(q): RawQuery) -> Answer {
    let q = q.unwrap_or_default();
    let f: Filter = serde_urlencoded_filter(&q)?;
    Ok(data_response(&s.control.journal.query(&f)))
}

fn serde_urlencoded_filter(q: &str) -> Result<Filter, KlingError> {
    let mut f = Filter::default();
    for (k, v) in url::form_urlencoded::parse(q.as_bytes()) {
        let int = |v: &str| {
            v.parse::<i64>()
                .map_err(|_| KlingError::param(format!("{k} must be an integer, got '{v}'")))
        };
        match &*k {
            "path" => f.path = Some(v.into_owned()),
            "account" => f.account = Some(v.into_owned()),
            "since_ms" => f.since_ms = Some(int(&v)?),
            "until_ms" => f.until_ms = Some(int(&v)?),
            "limit" => f.limit = Some(int(&v)?.max(0) as usize),
            _ => {}
        }
    }
    Ok(f)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JournalBody {
    /// Entries kept; 0 switches the journal off.
    size: usize,
}

async fn journal_set(State(s): State<AppState>, JsonObject(body): JsonObject) -> Answer {
    let b: JournalBody = decode(body)?;
    s.control.journal.resize(b.size);
    Ok(data_response(&json!({"capacity": b.size})))
}

async fn journal_clear(State(s): State<AppState>) -> Answer {
    s.control.journal.clear();
    Ok(data_response(&json!({"cleared": true})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VideoBody {
    /// Owner (access key).
    account: String,
    /// `v26_with_sound`, `avatar`, `lip_sync` or `other`.
    source: String,
    /// Duration, ms.
    duration_ms: u64,
}

/// `POST /__mock/videos`: register a video id without a task (no file behind it): a quick
/// `video_id` for custom voices, and the sources the mock does not generate yet (avatar,
/// lip-sync). Videos made by the video families are registered by their tasks.
async fn video_register(State(s): State<AppState>, JsonObject(body): JsonObject) -> Answer {
    let b: VideoBody = decode(body)?;
    let idx = account_idx(&s, &b.account)?;
    let source = match b.source.as_str() {
        "v26_with_sound" => VideoSource::V26WithSound,
        "avatar" => VideoSource::Avatar,
        "lip_sync" => VideoSource::LipSync,
        "other" => VideoSource::Other,
        o => {
            return Err(KlingError::param(format!(
                "source must be v26_with_sound, avatar, lip_sync or other, got '{o}'"
            )));
        }
    };
    let now = s.clock.now_ms();
    let id = s.ids.next(now);
    s.media.add_item(
        id,
        MediaItem {
            account: idx,
            origin: Origin::Video(source),
            duration_ms: b.duration_ms,
            created_at: now,
        },
    );
    Ok(data_response(&json!({"video_id": id.to_string()})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountAdd {
    access_key: String,
    secret_key: String,
}

/// `POST /__mock/accounts {"access_key", "secret_key"}`: an account added while running, with
/// the default packs; a test run on a shared mock works in accounts of its own and removes them
/// when done, leaving the mock as it found it. Not kept across restarts (its data is, under its
/// access key, as for any account no longer configured).
async fn account_add(State(s): State<AppState>, JsonObject(body): JsonObject) -> Answer {
    let b: AccountAdd = decode(body)?;
    let a = s.accounts.add(&b.access_key, &b.secret_key)?;
    Ok(data_response(&json!({
        "access_key": &*a.access_key,
        "owner_id": a.owner_id.to_string(),
    })))
}

/// `DELETE /__mock/accounts/{ak}`: remove an account added at run time and forget its tasks,
/// voices, media ids, journal entries and packs. Configured accounts are refused.
async fn account_remove(State(s): State<AppState>, IdPath(ak): IdPath) -> Answer {
    let a = s.accounts.remove(&ak)?;
    s.reset(Some(a.idx), Some(&a.access_key), false);
    Ok(data_response(&json!({"removed": &*a.access_key})))
}

/// `GET /__mock/accounts/{ak}`: state, concurrency limits, packs and tasks in flight.
async fn account_get(State(s): State<AppState>, IdPath(ak): IdPath) -> Answer {
    let idx = account_idx(&s, &ak)?;
    let (settings, in_flight) = s.engine.billing.settings(idx, s.clock.now_ms());
    Ok(data_response(
        &json!({"settings": settings, "in_flight": in_flight}),
    ))
}

/// `PUT /__mock/accounts/{ak}`: change state, concurrency limits and/or packs (absent parts stay).
async fn account_set(
    State(s): State<AppState>,
    IdPath(ak): IdPath,
    JsonObject(body): JsonObject,
) -> Answer {
    let idx = account_idx(&s, &ak)?;
    let patch: crate::engine::billing::AccountPatch = decode(body)?;
    let settings = s.engine.billing.patch(idx, patch, s.clock.now_ms())?;
    Ok(data_response(&settings))
}

/// `GET /__mock/callbacks?task_id=&limit=`: delivery counters, faults in force, and the log of
/// delivery attempts (oldest first).
async fn callbacks_get(State(s): State<AppState>, RawQuery(q): RawQuery) -> Answer {
    let q = q.as_deref();
    let task = crate::kinds::fields::query_param(q, "task_id");
    let limit = match crate::kinds::fields::query_param(q, "limit") {
        Some(l) => Some(
            l.parse::<usize>()
                .map_err(|_| KlingError::param(format!("limit must be an integer, got '{l}'")))?,
        ),
        None => None,
    };
    let mut log: Vec<Value> = s
        .engine
        .callback_log()
        .into_iter()
        .filter_map(|a| serde_json::to_value(a).ok())
        .filter(|a| task.as_deref().is_none_or(|t| a["task_id"] == t))
        .collect();
    if let Some(n) = limit
        && log.len() > n
    {
        log.drain(..log.len() - n);
    }
    Ok(data_response(&json!({
        "stats": s.engine.callback_stats(),
        "pending": s.engine.callbacks_pending(),
        "faults": s.engine.callback_faults(),
        "log": log,
    })))
}

async fn callbacks_clear(State(s): State<AppState>) -> Answer {
    s.engine.clear_callback_log();
    Ok(data_response(&json!({"cleared": true})))
}

async fn callback_faults_get(State(s): State<AppState>) -> Answer {
    Ok(data_response(&s.engine.callback_faults()))
}

/// `PUT /__mock/callbacks/faults`: `{delay_ms, duplicate, drop, reorder}` (absent: 0).
async fn callback_faults_set(State(s): State<AppState>, JsonObject(body): JsonObject) -> Answer {
    let f: crate::engine::CallbackFaults = decode(body)?;
    f.validate().map_err(KlingError::param)?;
    s.engine.set_callback_faults(f);
    Ok(data_response(&s.engine.callback_faults()))
}

/// `POST /__mock/callbacks/idle`: answers once no delivery is queued or in flight.
async fn callbacks_idle(State(s): State<AppState>) -> Answer {
    s.engine.callbacks_idle().await;
    Ok(data_response(
        &json!({"pending": s.engine.callbacks_pending()}),
    ))
}
