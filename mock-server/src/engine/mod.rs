//! The generic task engine: storage, lifecycle, lookups, lists and callbacks for every
//! asynchronous task kind.
//!
//! A kind hands the engine a validated request's common fields and a planner; the engine
//! reserves the `external_task_id`, gives the task its id, asks the planner for the result the
//! task will have (and whether it will fail), stores it as `submitted`, and from then on owns it:
//! timers move it forward (`lifecycle`), each change is sent to its `callback_url` (`callbacks`),
//! and queries see it only from its own account (`store`). `downloads` fetches a create's
//! foreign inputs (`--fetch-inputs`) under the callback rules.

pub mod billing;
mod callbacks;
pub mod downloads;
pub(crate) mod lifecycle;
pub(crate) mod store;
pub mod view;
pub mod webhook;

pub use callbacks::{
    AppliedFault, AttemptResult, CallbackAttempt, CallbackFaults, CallbackStats, DropReason,
    REORDER_HOLD_LIMIT,
};
pub use lifecycle::{Goal, Lifecycle, Progress, Span};
pub use view::{Status, TaskView};
pub use webhook::{WebhookSecret, WebhookSecretError, sign_webhook};

use crate::clock::Clock;
use crate::error::KlingError;
use crate::ids::IdGen;
pub use crate::ids::KindId;
use bytes::Bytes;
use callbacks::Callbacks;
pub use callbacks::{
    CALLBACK_RESPONSE_LIMIT, CallbackConfig, DEFAULT_CALLBACK_BACKOFF,
    DEFAULT_CALLBACK_CONCURRENCY, DEFAULT_CALLBACK_CONNECT_TIMEOUT, DEFAULT_CALLBACK_LOG,
    DEFAULT_CALLBACK_QUEUE, DEFAULT_CALLBACK_RETRIES, DEFAULT_CALLBACK_TIMEOUT,
};
pub(crate) use callbacks::{Delivery, Queued};
use lifecycle::Timers;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use store::{Store, TaskRecord};

/// What a kind's task produced, as the kind's own type (one per kind file). The engine keeps it
/// and shows it; a saved state stores its serialized form, which the kind's spec reads back
/// (`crate::kinds::ResultType`), so a new kind's result persists with no code outside its file.
pub trait KindResult: erased_serde::Serialize + std::fmt::Debug + Send + Sync {
    /// The `task_result` object, with URLs rooted at `base`.
    fn wire<'a>(&'a self, base: &'a str) -> Box<dyn erased_serde::Serialize + 'a>;

    /// Entries the kind adds to `task_info` beside `external_task_id` (a video extension's
    /// `parent_video`), shown in every status: they describe the request, not the outcome.
    fn task_info(&self, _base: &str) -> Vec<(&'static str, serde_json::Value)> {
        Vec::new()
    }

    /// Top-level entries the kind adds to the task object after `task_result` (a video's
    /// `watermark_info`), shown in every status.
    fn extra(&self) -> Vec<(&'static str, serde_json::Value)> {
        Vec::new()
    }

    /// `final_unit_deduction` of this task once succeeded, when it depends on the request (a
    /// video's model, mode and duration); `None`: the kind's fixed cost.
    fn deduction(&self) -> Option<&str> {
        None
    }

    /// Concurrency slots the task holds while in flight: 1, or `n` for an image task of `n`
    /// images (SOURCES.md: Rate Limits).
    fn slots(&self) -> u32 {
        1
    }
}

erased_serde::serialize_trait_object!(KindResult);

/// A task's result: shared, cheap to clone into views.
#[derive(Clone, Debug)]
pub struct TaskResult(Arc<dyn KindResult>);

impl TaskResult {
    /// Wrap a kind's result.
    pub fn new(r: impl KindResult + 'static) -> TaskResult {
        TaskResult(Arc::new(r))
    }

    /// The `task_result` object with URLs rooted at `base`.
    pub fn to_wire<'a>(&'a self, base: &'a str) -> impl serde::Serialize + 'a {
        self.0.wire(base)
    }

    /// The result itself, as saved (the kind's type, serialized).
    pub fn saved(&self) -> &dyn KindResult {
        &*self.0
    }
}

/// The fields every asynchronous create accepts (SOURCES.md: General Info); `crate::kinds::fields`
/// reads them from a body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Common {
    /// `external_task_id`: the caller's own id, unique per account.
    pub external_task_id: Option<String>,
    /// `callback_url`: where status changes are POSTed.
    pub callback_url: Option<String>,
}

/// What the engine needs to know of a kind; the registry (`crate::kinds::ALL`) gives one per
/// asynchronous kind when the engine is built.
#[derive(Clone, Copy, Debug)]
pub struct KindTerms {
    /// Time in `submitted` and in `processing` (as configured at start).
    pub lifecycle: Lifecycle,
    /// The resource pool it draws on.
    pub pool: billing::Pool,
    /// Units a succeeded task costs.
    pub cost: f64,
}

/// What a planner decides at creation: the result, and the failure reason if the task will fail.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The result shown once the task succeeds.
    pub result: TaskResult,
    /// `Some(reason)`: the task ends `failed` with this `task_status_msg`.
    pub failure: Option<String>,
}

/// The engine. Shared behind an `Arc`; every method takes `&self`.
#[derive(Debug)]
pub struct Engine {
    pub(crate) clock: Clock,
    ids: Arc<IdGen>,
    /// What the engine knows of each asynchronous kind.
    kinds: HashMap<KindId, KindTerms>,
    /// Per-kind lifecycle, changeable at runtime (applies to tasks created afterwards).
    lifecycles: RwLock<HashMap<KindId, Lifecycle>>,
    /// Draws of random spans. Seeded: the same seed and requests give the same timings.
    rng: Mutex<StdRng>,
    store: Store,
    /// Resource packs, concurrency limits and account states.
    pub billing: billing::Billing,
    pub(crate) timers: Arc<Timers>,
    callbacks: Callbacks,
    /// Base of result URLs; known once the listener is bound.
    base_url: OnceLock<String>,
}

impl Engine {
    /// A new engine.
    pub fn new(
        clock: Clock,
        ids: Arc<IdGen>,
        kinds: impl IntoIterator<Item = (KindId, KindTerms)>,
        callbacks: CallbackConfig,
        seed: u64,
    ) -> Self {
        let callbacks = Callbacks::new(callbacks, clock.clone(), seed);
        let kinds: HashMap<KindId, KindTerms> = kinds.into_iter().collect();
        let lifecycles = kinds.iter().map(|(k, t)| (*k, t.lifecycle)).collect();
        Engine {
            clock,
            ids,
            kinds,
            lifecycles: RwLock::new(lifecycles),
            rng: Mutex::new(StdRng::seed_from_u64(seed ^ 0x6c69_6665_6379_636c)),
            store: Store::default(),
            billing: billing::Billing::default(),
            timers: Arc::default(),
            callbacks,
            base_url: OnceLock::new(),
        }
    }

    /// Set the base of result URLs (once).
    pub fn set_base_url(&self, base: String) {
        let _ = self.base_url.set(base);
    }

    /// The base of result URLs.
    pub fn base_url(&self) -> &str {
        self.base_url
            .get()
            .map(String::as_str)
            .unwrap_or("http://127.0.0.1")
    }

    /// The terms of `kind` (a kind the engine was not given costs nothing, draws on the video
    /// pool and finishes at once; the registry gives every asynchronous kind).
    fn terms(&self, kind: KindId) -> KindTerms {
        self.kinds.get(&kind).copied().unwrap_or(KindTerms {
            lifecycle: Lifecycle {
                submitted: Span::fixed(0),
                processing: Span::fixed(0),
                progress: Progress::Time,
            },
            pool: billing::Pool::Video,
            cost: 0.0,
        })
    }

    /// The lifecycle in force for `kind`.
    pub fn lifecycle(&self, kind: KindId) -> Lifecycle {
        let m = self.lifecycles.read().unwrap_or_else(|e| e.into_inner());
        m.get(&kind)
            .copied()
            .unwrap_or_else(|| self.terms(kind).lifecycle)
    }

    /// Change the lifecycle of `kind` (tasks created from now on; pending timers keep theirs).
    pub fn set_lifecycle(&self, kind: KindId, l: Lifecycle) {
        self.lifecycles
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(kind, l);
    }

    /// A duration drawn from `span`, ms.
    fn draw(&self, span: Span) -> i64 {
        let (lo, hi) = (span.min_ms.min(span.max_ms), span.min_ms.max(span.max_ms));
        let ms = if lo == hi {
            lo
        } else {
            self.rng
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .random_range(lo..=hi)
        };
        ms.min(i64::MAX as u64) as i64
    }

    /// When a task of `kind` entering a status at `at` moves on, if time moves it.
    /// `entering` a status at `at` with the task's drawn durations `(submitted, processing)`.
    /// Both durations are drawn when the task is created, in the request that creates it, so
    /// the seeded draws never depend on which thread fires a timer first.
    fn next_due(
        &self,
        kind: KindId,
        entering: Status,
        at: i64,
        spans_ms: (i64, i64),
    ) -> Option<i64> {
        let ms = match entering {
            Status::Submitted => spans_ms.0,
            Status::Processing => spans_ms.1,
            Status::Succeed | Status::Failed => return None,
        };
        (self.lifecycle(kind).progress == Progress::Time).then(|| at.saturating_add(ms))
    }

    /// Create a task of `kind` for `account`. `plan` receives the new task id and the creation
    /// time. A duplicate `external_task_id` is refused before anything is created.
    ///
    /// `cost`: the units this task will cost when it succeeds, if the request decides it (the
    /// kind's fixed cost otherwise); the planned result must then report the same deduction.
    /// `slots`: the concurrency slots it holds while in flight; the planned result's
    /// [`KindResult::slots`] must say the same.
    pub fn create(
        &self,
        account: u32,
        kind: KindId,
        common: &Common,
        cost: Option<f64>,
        slots: u32,
        plan: impl FnOnce(u64, i64) -> Plan,
    ) -> Result<TaskView, KlingError> {
        self.catch_up();
        let now = self.clock.now_ms();
        let terms = self.terms(kind);
        let cost = cost.unwrap_or(terms.cost);
        self.billing.admit(account, terms.pool, cost, slots, now)?;
        let id = self.ids.next(now);
        if let Some(ext) = &common.external_task_id
            && let Err(e) = self.store.reserve_external(account, ext, id)
        {
            self.billing.finish(account, terms.pool, slots, None, now);
            return Err(e);
        }
        let Plan { result, failure } = plan(id, now);
        let l = self.lifecycle(kind);
        let spans_ms = (self.draw(l.submitted), self.draw(l.processing));
        let rec = TaskRecord {
            id,
            account,
            kind,
            external_id: common.external_task_id.as_deref().map(Box::from),
            status: Status::Submitted,
            created_at: now,
            updated_at: now,
            result,
            failure: failure.map(Box::from),
            callback_url: common.callback_url.as_deref().map(Box::from),
            deleted: false,
            due: self.next_due(kind, Status::Submitted, now, spans_ms),
            processing_ms: spans_ms.1,
            polls: 0,
        };
        let due = rec.due;
        let view = rec.view();
        // The `submitted` callback is queued before the task becomes visible, so nothing that
        // moves it (a poll, the control plane) can queue a later status first.
        if let Some(url) = &rec.callback_url {
            self.send_callback(url, &view);
        }
        self.store.insert(rec);
        if let Some(due) = due {
            self.timers.schedule(due, id);
        }
        Ok(view)
    }

    /// The task `key` (task id or external id) of `account` and `kind`, or the live API's
    /// "Task not found by id/external id" error.
    pub fn get(&self, account: u32, kind: KindId, key: &str) -> Result<TaskView, KlingError> {
        self.catch_up();
        let view = self
            .store
            .find(account, kind, key)
            .ok_or_else(|| KlingError::task_not_found(key))?;
        if let Progress::Polls { polls } = self.lifecycle(kind).progress
            && !view.status.is_terminal()
        {
            let counted = self.store.update(view.id, |r| {
                r.polls += 1;
                r.polls >= polls.max(1)
            });
            if counted == Some(true) {
                self.transition(view.id, self.clock.now_ms(), &Goal::Next, None);
                return self
                    .store
                    .find(account, kind, key)
                    .ok_or_else(|| KlingError::task_not_found(key));
            }
        }
        Ok(view)
    }

    /// A task by id if it belongs to `account`, whatever its kind.
    pub fn get_owned(&self, account: u32, id: u64) -> Option<TaskView> {
        self.catch_up();
        self.store.get_owned(account, id)
    }

    /// A newest-first page of `account`'s tasks of `kind`.
    pub fn list(&self, account: u32, kind: KindId, offset: usize, size: usize) -> Vec<TaskView> {
        self.catch_up();
        self.store.page(account, kind, offset, size)
    }

    /// Remove a task of `account` from lookups and lists. Returns whether it existed.
    pub fn delete(&self, account: u32, id: u64) -> bool {
        self.store.delete(account, id)
    }

    /// Replace the result of task `id` of `account` (visible, not deleted) with what `change`
    /// makes of it: a kind's own change after the task ended (an element marked deleted). The
    /// status, times and callbacks are left as they are; the new result is saved like any
    /// change. Returns whether the task was there and `change` gave a new result.
    pub fn replace_result(
        &self,
        account: u32,
        id: u64,
        change: impl FnOnce(&TaskResult) -> Option<TaskResult>,
    ) -> bool {
        self.store
            .update(id, |r| {
                if r.account != account || r.deleted {
                    return false;
                }
                match change(&r.result) {
                    Some(new) => {
                        r.result = new;
                        true
                    }
                    None => false,
                }
            })
            .unwrap_or(false)
    }

    /// Number of stored tasks (all accounts, all kinds).
    pub fn task_count(&self) -> usize {
        self.store.len()
    }

    /// Tasks the task table can hold before it next grows or rehashes (its hash tables' capacity:
    /// stored tasks plus spare room, which tombstones use up), for memory diagnostics.
    pub fn task_table_capacity(&self) -> usize {
        self.store.capacity()
    }

    /// Number of transitions still pending.
    pub fn pending_transitions(&self) -> usize {
        self.timers.len()
    }

    /// Callback delivery counters.
    pub fn callback_stats(&self) -> &CallbackStats {
        &self.callbacks.stats
    }

    /// The callback delivery log, oldest first: every attempt, and every status change that was
    /// never sent and why (bounded by `CallbackConfig::log_capacity`).
    pub fn callback_log(&self) -> Vec<CallbackAttempt> {
        self.callbacks.log()
    }

    /// Empty the callback delivery log.
    pub fn clear_callback_log(&self) {
        self.callbacks.clear_log()
    }

    /// Replace the callback faults (probabilities clamped into `[0, 1]`; check them first with
    /// [`CallbackFaults::validate`] to refuse instead). Applies to status changes from now on.
    pub fn set_callback_faults(&self, faults: CallbackFaults) {
        self.callbacks.set_faults(faults)
    }

    /// The callback faults in force.
    pub fn callback_faults(&self) -> CallbackFaults {
        self.callbacks.faults()
    }

    /// Status changes waiting for delivery: queued, held back by the reorder fault, or in flight.
    pub fn callbacks_pending(&self) -> usize {
        self.callbacks.pending()
    }

    /// Resolves once no callback delivery is queued or in flight (retries included), e.g. to
    /// advance the clock and then wait until the callbacks it caused are delivered. A delivery
    /// held back by the reorder fault waits for its task's next change and does not count.
    pub async fn callbacks_idle(&self) {
        self.callbacks.idle().await
    }

    /// Run every transition that is due by the clock's "now", in time order.
    pub fn catch_up(&self) {
        let now = self.clock.now_ms();
        while let Some((due, id)) = self.timers.pop_due(now) {
            self.fire(id, due);
        }
    }

    /// Move the virtual clock forward by `ms` and run every transition that falls due.
    pub fn advance(&self, ms: i64) {
        self.clock.advance(ms);
        self.catch_up();
    }

    fn fire(&self, id: u64, due: i64) {
        self.transition(id, due, &Goal::Next, Some(due));
    }

    /// Move task `id` toward `goal`, stamped `at` (only if its pending timer is `expect_due`,
    /// when given); queue its callback; schedule what follows. Returns the new view, or `None`
    /// if the task is gone, already finished, or (for a timer) moved on meanwhile.
    ///
    /// The status change, its callback and its next due time are decided under the task's store
    /// entry, so concurrent movers (timers, polls, the control plane) cannot reorder callbacks.
    fn transition(
        &self,
        id: u64,
        at: i64,
        goal: &Goal,
        expect_due: Option<i64>,
    ) -> Option<TaskView> {
        let moved = self.store.update(id, |r| {
            if r.status.is_terminal() || expect_due.is_some_and(|d| r.due != Some(d)) {
                return None;
            }
            let planned_end = if r.failure.is_some() {
                Status::Failed
            } else {
                Status::Succeed
            };
            r.status = match goal {
                Goal::Next if r.status == Status::Submitted => Status::Processing,
                Goal::Next => planned_end,
                Goal::Succeed => {
                    r.failure = None;
                    Status::Succeed
                }
                Goal::Failed(msg) => {
                    r.failure = Some(msg.as_str().into());
                    Status::Failed
                }
            };
            r.updated_at = r.updated_at.max(at);
            r.polls = 0;
            let old_due = r.due.take();
            let view = r.view();
            if let Some(url) = &r.callback_url {
                self.send_callback(url, &view);
            }
            r.due = self.next_due(r.kind, view.status, view.updated_at, (0, r.processing_ms));
            Some((view, old_due, r.due, r.kind, r.account))
        });
        let (view, old_due, next, kind, account) = moved.flatten()?;
        if view.status.is_terminal() {
            let terms = self.terms(kind);
            let cost = view
                .planned
                .saved()
                .deduction()
                .and_then(|d| d.parse().ok())
                .unwrap_or(terms.cost);
            let charge = (view.status == Status::Succeed).then_some(cost);
            let slots = view.planned.saved().slots();
            self.billing.finish(account, terms.pool, slots, charge, at);
        }
        if let Some(d) = old_due.filter(|&d| d != at) {
            self.timers.cancel(d, id);
        }
        if let Some(next) = next {
            self.timers.schedule(next, id);
        }
        Some(view)
    }

    /// Move a task by hand: `key` is a task id or an external id (of `account`, or of whichever
    /// account has it when unambiguous). Refused for unknown, ambiguous or finished tasks.
    pub fn force(
        &self,
        account: Option<u32>,
        key: &str,
        goal: &Goal,
    ) -> Result<TaskView, KlingError> {
        self.catch_up();
        let ids = self.store.resolve(account, key);
        let id = match ids.as_slice() {
            [id] => *id,
            [] => return Err(KlingError::task_not_found(key)),
            _ => {
                return Err(KlingError::param(format!(
                    "external_task_id {key} exists in {} accounts: name the account",
                    ids.len()
                )));
            }
        };
        self.transition(id, self.clock.now_ms(), goal, None)
            .ok_or_else(|| {
                KlingError::param(format!(
                    "Task {id} has already finished; its status cannot change"
                ))
            })
    }

    /// Note every change of tasks and billing from now on, for the state store.
    pub(crate) fn track_changes(&self) {
        self.store.dirty.enable();
        self.billing.dirty.enable();
        self.callbacks.track();
    }

    /// `seq`s of callbacks queued or finished since the last call (for the state store).
    pub(crate) fn changed_callbacks(&self) -> Vec<u64> {
        self.callbacks.changed()
    }

    /// Note these callback `seq`s again (a flush that failed, or rows to forget).
    pub(crate) fn mark_callbacks(&self, seqs: Vec<u64>) {
        self.callbacks.mark(seqs);
    }

    /// A callback still queued.
    pub(crate) fn queued_callback(&self, seq: u64) -> Option<Queued> {
        self.callbacks.queued(seq)
    }

    /// Send again a callback a saved state held, numbering new ones after `next_seq`.
    pub(crate) fn requeue_callback(&self, q: Queued, next_seq: u64) {
        self.callbacks.seqs_from(next_seq);
        self.callbacks.requeue(q);
    }

    /// Ids of the tasks added, changed or forgotten since the last call (repeats included).
    pub(crate) fn changed_tasks(&self) -> Vec<u64> {
        self.store.dirty.take()
    }

    /// Note these tasks as changed again (a flush that failed puts its notes back).
    pub(crate) fn mark_tasks(&self, ids: Vec<u64>) {
        self.store.dirty.mark_all(ids);
    }

    /// Note every stored task as changed (a migrated state is written whole once).
    pub(crate) fn mark_all_tasks(&self) {
        self.store.dirty.mark_all(self.store.ids());
    }

    /// A stored task, whatever its account (for the state store).
    pub(crate) fn task_record(&self, id: u64) -> Option<TaskRecord> {
        self.store.record(id)
    }

    /// Put back a saved task: indexes, pending timers (a timer already due fires at the next
    /// catch-up), concurrency slots of unfinished tasks, and the id counter.
    pub(crate) fn restore_task(&self, rec: TaskRecord) {
        self.ids.observe(rec.id);
        if !rec.status.is_terminal() {
            let pool = self.terms(rec.kind).pool;
            let slots = rec.result.saved().slots();
            self.billing
                .occupy(rec.account, pool, slots, self.clock.now_ms());
        }
        if let Some(due) = rec.due {
            self.timers.schedule(due, rec.id);
        }
        self.store.restore(rec);
    }

    /// Make room for `n` restored tasks.
    pub(crate) fn reserve_tasks(&self, n: usize) {
        self.store.reserve(n);
    }

    /// After the last [`Engine::restore_task`]: the store's order, then its cap.
    pub(crate) fn restored(&self) {
        self.store.restored();
    }

    /// Cap the stored tasks at `max` (0: no cap): past it, the oldest finished tasks are
    /// forgotten.
    pub fn set_max_tasks(&self, max: usize) {
        self.store.set_max(max);
    }

    /// The cap on stored tasks (0: none).
    pub fn max_tasks(&self) -> usize {
        self.store.max()
    }

    /// Tasks forgotten because of the cap since the start.
    pub fn evicted_tasks(&self) -> u64 {
        self.store.evicted()
    }

    /// Forget every task of `account` (or all tasks), with their pending timers.
    pub fn reset(&self, account: Option<u32>) {
        let gone: std::collections::HashSet<u64> = self.store.clear(account).into_iter().collect();
        self.timers.retain(|id| !gone.contains(&id));
        self.billing.reset(account);
    }

    /// Live tasks by (account index, kind, status).
    pub fn census(&self) -> BTreeMap<(u32, KindId, Status), usize> {
        self.store.census()
    }

    fn send_callback(&self, url: &str, view: &TaskView) {
        match serde_json::to_vec(&view.query(self.base_url())) {
            Ok(body) => self.callbacks.enqueue(Delivery {
                task_id: view.id,
                url: Arc::from(url),
                status: view.status,
                body: Bytes::from(body),
            }),
            Err(err) => tracing::error!(%err, "could not serialize a callback body"),
        }
    }
}
