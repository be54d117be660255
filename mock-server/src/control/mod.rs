//! The control plane: what a mock can do that the real API cannot.
//!
//! * [`Control`] holds the runtime rules: HTTP faults, latency, outcome rules, the request
//!   journal, and the seeded dice they roll. Reachable from Rust (`state.control`), from the
//!   command line (`--faults`, `--latency`, `--outcomes`, `--journal-size`) and over HTTP.
//! * [`gate`] is the middleware every public request passes: it journals the request, applies
//!   latency, and answers a fault when a rule fires (a Kling error, or a transport fault carried
//!   out by [`transport`]).
//! * [`api`] is the JSON API under `/__mock/` (clock, lifecycle, tasks, faults, latency,
//!   outcomes, journal, callbacks, state, reset).

pub mod api;
pub mod journal;
pub mod outcomes;
pub mod rules;
pub mod transport;

use crate::error::KlingError;
use crate::state::AppState;
use crate::wire::{Pending, RequestId};
use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use journal::{Entry, Journal};
use outcomes::Outcomes;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rules::{Fault, FaultReport, FaultSpec, Latency};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// Runtime rules of the control plane.
#[derive(Debug)]
pub struct Control {
    faults: RwLock<Vec<Arc<Fault>>>,
    latency: RwLock<Latency>,
    outcomes: RwLock<Outcomes>,
    /// The request journal.
    pub journal: Journal,
    /// Dice of faults, latency and outcomes (seeded; separate from ids so a fault rule does not
    /// shift the ids a scenario produces).
    rng: Mutex<StdRng>,
    next_fault: AtomicU64,
}

impl Control {
    /// Rules from the configuration; dice seeded with `seed`.
    pub fn new(seed: u64, journal_size: usize) -> Control {
        Control {
            faults: RwLock::default(),
            latency: RwLock::default(),
            outcomes: RwLock::default(),
            journal: Journal::new(journal_size),
            rng: Mutex::new(StdRng::seed_from_u64(seed ^ 0x636f_6e74_726f_6c00)),
            next_fault: AtomicU64::new(1),
        }
    }

    fn dice(&self) -> std::sync::MutexGuard<'_, StdRng> {
        self.rng.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Add a fault rule; returns its id.
    pub fn add_fault(&self, mut spec: FaultSpec) -> Result<String, KlingError> {
        if spec.id.is_empty() {
            spec.id = format!("fault-{}", self.next_fault.fetch_add(1, Ordering::Relaxed));
        }
        let mut faults = self.faults.write().unwrap_or_else(|e| e.into_inner());
        if faults.iter().any(|f| f.spec.id == spec.id) {
            return Err(KlingError::param(format!(
                "a fault rule named '{}' exists already",
                spec.id
            )));
        }
        let id = spec.id.clone();
        faults.push(Arc::new(Fault::new(spec)?));
        Ok(id)
    }

    /// The fault rules with their counters.
    pub fn faults(&self) -> Vec<FaultReport> {
        self.faults
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|f| f.report())
            .collect()
    }

    /// Remove one fault rule (`Some(id)`) or all; returns how many were removed.
    pub fn remove_faults(&self, id: Option<&str>) -> usize {
        let mut faults = self.faults.write().unwrap_or_else(|e| e.into_inner());
        let before = faults.len();
        faults.retain(|f| id.is_some_and(|id| f.spec.id != id));
        before - faults.len()
    }

    /// The latency rules.
    pub fn latency(&self) -> Latency {
        self.latency
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replace the latency rules.
    pub fn set_latency(&self, l: Latency) -> Result<(), KlingError> {
        l.validate()?;
        *self.latency.write().unwrap_or_else(|e| e.into_inner()) = l;
        Ok(())
    }

    /// The outcome rules.
    pub fn outcomes(&self) -> Outcomes {
        self.outcomes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replace the outcome rules.
    pub fn set_outcomes(&self, o: Outcomes) -> Result<(), KlingError> {
        o.validate()?;
        *self.outcomes.write().unwrap_or_else(|e| e.into_inner()) = o;
        Ok(())
    }

    /// What the outcome rules say of a create of `kind` with `body`.
    pub fn decide(
        &self,
        kind: crate::kinds::KindId,
        body: &serde_json::Map<String, serde_json::Value>,
    ) -> (outcomes::Decision, Option<String>) {
        let o = self.outcomes.read().unwrap_or_else(|e| e.into_inner());
        if o.rules.is_empty() && o.failure_rates.is_empty() {
            return (outcomes::Decision::Normal, None);
        }
        o.decide_labeled(kind, body, &mut self.dice())
    }

    /// The first fault rule that matches and fires for this request.
    fn fault_for(
        &self,
        method: &str,
        path: &str,
        account: Option<&str>,
        now_ms: i64,
    ) -> Option<rules::Fired> {
        let faults = self.faults.read().unwrap_or_else(|e| e.into_inner());
        let matching: Vec<Arc<Fault>> = faults
            .iter()
            .filter(|f| f.matches(method, path, account))
            .cloned()
            .collect();
        drop(faults);
        matching
            .iter()
            .find_map(|f| f.trigger(now_ms, &mut self.dice()))
    }

    fn delay_for(&self, method: &str, path: &str) -> std::time::Duration {
        let delay = self
            .latency
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .pick(method, path);
        delay
            .map(|d| d.sample(&mut self.dice()))
            .unwrap_or_default()
    }
}

/// The access key a request's token names, read without verifying it (for matching and the
/// journal only; authentication proper happens in the handlers).
fn token_issuer(req: &Request) -> Option<String> {
    use base64::Engine as _;
    let h = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let token = h.trim().split_once(' ')?.1.trim();
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    v.get("iss")?.as_str().map(str::to_string)
}

/// Where a handler notes the outcome rule that applied to its request, for the journal. The
/// gate puts one in every public request's extensions.
#[derive(Clone, Debug, Default)]
pub struct RuleNote(Arc<Mutex<Option<String>>>);

impl RuleNote {
    /// Note the rule that applied.
    pub fn set(&self, rule: String) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(rule);
    }

    fn take(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// Middleware on every public request: latency, faults, journal. The control plane itself
/// (`/__mock/...`) passes untouched.
pub async fn gate(State(s): State<AppState>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    if path.starts_with("/__mock/") || path == "/__mock" {
        return next.run(req).await;
    }
    let method = req.method().to_string();
    let query = req.uri().query().map(str::to_string);
    let account = token_issuer(&req);
    let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone());
    let at_ms = s.clock.now_ms();
    let delay = s.control.delay_for(&method, &path);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let fired = s
        .control
        .fault_for(&method, &path, account.as_deref(), at_ms);
    let mut entry = Entry {
        seq: 0,
        at_ms,
        method,
        path,
        query,
        account,
        request_id,
        status: 0,
        code: None,
        fault: fired.as_ref().map(|f| f.rule.clone()),
        rule: None,
        delay_ms: delay.as_millis() as u64,
    };
    let note = RuleNote::default();
    req.extensions_mut().insert(note.clone());
    let resp = match fired {
        None => next.run(req).await,
        // No response at all (the handler does not run): journaled with status 0 now, since a
        // hang may hold the request for long.
        Some(rules::Fired {
            transport: Some(t), ..
        }) if t.answers_nothing() => {
            let conn = transport::ConnHandle::of(&req);
            drop(req);
            if s.control.journal.enabled() {
                s.control.journal.push(entry);
            }
            return transport::no_answer(t, conn).await;
        }
        Some(f) => {
            let mut r = match f.error {
                Some(e) => {
                    let mut r = e.into_response();
                    if let Some(secs) = f.retry_after {
                        r.headers_mut()
                            .insert(axum::http::header::RETRY_AFTER, HeaderValue::from(secs));
                    }
                    r
                }
                // Truncate or dribble of the normal answer.
                None => next.run(req).await,
            };
            if let Some(t) = f.transport {
                r.extensions_mut().insert(transport::Shape(t));
            }
            r
        }
    };
    if s.control.journal.enabled() {
        entry.rule = note.take();
        entry.status = resp.status().as_u16();
        entry.code = match resp.extensions().get::<Pending>() {
            Some(Pending::Data(_)) => Some(0),
            Some(Pending::Error { code, .. }) => Some(code.number()),
            None => None,
        };
        s.control.journal.push(entry);
    }
    resp
}
