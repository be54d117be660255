//! The generic task engine: storage, lifecycle, lookups, lists and callbacks for every
//! asynchronous task kind.
//!
//! A kind hands the engine a validated request's common fields and a planner; the engine
//! reserves the `external_task_id`, gives the task its id, asks the planner for the result the
//! task will have (and whether it will fail), stores it as `submitted`, and from then on owns it:
//! timers move it forward (`lifecycle`), each change is sent to its `callback_url` (`callbacks`),
//! and queries see it only from its own account (`store`).

mod callbacks;
pub(crate) mod lifecycle;
mod store;
pub mod view;

pub use callbacks::CallbackStats;
pub use view::{Status, TaskView};

use crate::clock::Clock;
use crate::config::{CallbackConfig, Timing};
use crate::error::KlingError;
use crate::ids::IdGen;
use crate::kinds::fields::{Common, Paging};
use crate::kinds::{KindId, TaskResult};
use bytes::Bytes;
use callbacks::{Callbacks, Delivery};
use lifecycle::Timers;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use store::{Store, TaskRecord};

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
    timings: HashMap<KindId, Timing>,
    store: Store,
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
        timings: HashMap<KindId, Timing>,
        callbacks: CallbackConfig,
    ) -> Self {
        Engine {
            clock,
            ids,
            timings,
            store: Store::default(),
            timers: Arc::default(),
            callbacks: Callbacks::new(callbacks),
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

    fn timing(&self, kind: KindId) -> Timing {
        self.timings
            .get(&kind)
            .copied()
            .unwrap_or(kind.default_timing())
    }

    /// Create a task of `kind` for `account`. `plan` receives the new task id and the creation
    /// time. A duplicate `external_task_id` is refused before anything is created.
    pub fn create(
        &self,
        account: u32,
        kind: KindId,
        common: &Common,
        plan: impl FnOnce(u64, i64) -> Plan,
    ) -> Result<TaskView, KlingError> {
        self.catch_up();
        let now = self.clock.now_ms();
        let id = self.ids.next(now);
        if let Some(ext) = &common.external_task_id {
            self.store.reserve_external(account, ext, id)?;
        }
        let Plan { result, failure } = plan(id, now);
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
        };
        let view = rec.view();
        let callback = rec.callback_url.clone();
        self.store.insert(rec);
        if let Some(url) = callback {
            self.send_callback(&url, &view);
        }
        let t = self.timing(kind);
        self.timers
            .schedule(now.saturating_add(t.submitted.as_millis() as i64), id);
        Ok(view)
    }

    /// The task `key` (task id or external id) of `account` and `kind`, or the live API's
    /// "Task not found by id/external id" error.
    pub fn get(&self, account: u32, kind: KindId, key: &str) -> Result<TaskView, KlingError> {
        self.catch_up();
        self.store
            .find(account, kind, key)
            .ok_or_else(|| KlingError::task_not_found(key))
    }

    /// A task by id if it belongs to `account`, whatever its kind.
    pub fn get_owned(&self, account: u32, id: u64) -> Option<TaskView> {
        self.catch_up();
        self.store.get_owned(account, id)
    }

    /// A newest-first page of `account`'s tasks of `kind`.
    pub fn list(&self, account: u32, kind: KindId, paging: Paging) -> Vec<TaskView> {
        self.catch_up();
        self.store
            .page(account, kind, paging.offset(), paging.page_size as usize)
    }

    /// Remove a task of `account` from lookups and lists. Returns whether it existed.
    pub fn delete(&self, account: u32, id: u64) -> bool {
        self.store.delete(account, id)
    }

    /// Number of stored tasks (all accounts, all kinds).
    pub fn task_count(&self) -> usize {
        self.store.len()
    }

    /// Number of transitions still pending.
    pub fn pending_transitions(&self) -> usize {
        self.timers.len()
    }

    /// Callback delivery counters.
    pub fn callback_stats(&self) -> &CallbackStats {
        &self.callbacks.stats
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
        let processing = |k: KindId| self.timing(k).processing.as_millis() as i64;
        let fired = self.store.update(id, |r| {
            let next = match r.status {
                Status::Submitted => {
                    r.status = Status::Processing;
                    Some(due.saturating_add(processing(r.kind)))
                }
                Status::Processing => {
                    r.status = if r.failure.is_some() {
                        Status::Failed
                    } else {
                        Status::Succeed
                    };
                    None
                }
                Status::Succeed | Status::Failed => return None,
            };
            r.updated_at = r.updated_at.max(due);
            Some((r.view(), r.callback_url.clone(), next))
        });
        let Some(Some((view, callback, next))) = fired else {
            return;
        };
        // Queue the callback before scheduling the next transition, so a task's deliveries are
        // queued in status order even when another thread fires the next one.
        if let Some(url) = callback {
            self.send_callback(&url, &view);
        }
        if let Some(next) = next {
            self.timers.schedule(next, id);
        }
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
