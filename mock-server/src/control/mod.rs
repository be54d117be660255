//! The control plane: what a mock can do that the real API cannot.
//!
//! * [`Control`] holds the runtime rules: HTTP faults ([`rules`]), latency, outcome rules
//!   ([`outcomes`]), the request journal ([`journal`]), and the seeded dice they roll. Reachable
//!   from Rust (`state.control`), from the command line (`--faults`, `--latency`, `--outcomes`,
//!   `--journal-size`) and over HTTP.
//! * [`RuleNote`] is where a handler notes the outcome rule that applied, for the journal.
//! * [`transport`] carries out transport faults (reset, close, hang, truncate, dribble).
//!
//! The HTTP side lives with the other handlers, in [`crate::api::control`]: the JSON API under
//! `/__mock/`, the gate every public request passes (it journals the request, applies latency
//! and answers a fault when a rule fires), and the control plane's part of the OpenAPI
//! document.

pub mod journal;
pub mod outcomes;
pub mod rules;
pub mod transport;

use crate::error::KlingError;
use journal::Journal;
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

    /// The first fault rule that matches this request (`account`: the access key its token
    /// names, if any) and fires at `now_ms`. Each matching rule tried counts the request (and
    /// rolls its dice); the gate ([`crate::api::control::gate()`]) asks this of every public
    /// request.
    pub fn fault_for(
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

    /// How long the latency rules hold this request (the first route rule matching its method
    /// and path, else the global one; zero when none applies), sampled with the dice. The gate
    /// ([`crate::api::control::gate()`]) waits this long before a public request goes on.
    pub fn delay_for(&self, method: &str, path: &str) -> std::time::Duration {
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

/// Where a handler notes the outcome rule that applied to its request, for the journal. The
/// gate puts one in every public request's extensions.
#[derive(Clone, Debug, Default)]
pub struct RuleNote(Arc<Mutex<Option<String>>>);

impl RuleNote {
    /// Note the rule that applied.
    pub fn set(&self, rule: String) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(rule);
    }

    /// The rule noted, if any, leaving none (the gate writes it into the journal entry).
    pub fn take(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}
