//! The timer queue that moves tasks `submitted` → `processing` → `succeed` | `failed`.
//!
//! Each live task has exactly one pending timer: the time its next transition falls due. Timers
//! sit in a `BTreeMap` ordered by (due time, task id), so [`Timers::pop_due`] hands them out in
//! time order. Who fires them:
//! * every API call first catches up (`Engine::catch_up`), so an answer always reflects the clock;
//! * a background driver ([`drive`]) sleeps until the next due time (or until the clock jumps or
//!   an earlier timer is added) so callbacks go out on time even when nobody polls;
//! * moving the virtual clock catches up before returning.
//!
//! A transition is stamped with its due time, not with the time it happened to be processed, so
//! `updated_at` is exact and reproducible.

use super::Engine;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::Weak;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;
use tokio::sync::Notify;

/// How long a status lasts: `min_ms` to `max_ms` milliseconds, drawn per task from the seeded
/// random source (a fixed time when both are equal).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    /// Shortest time, ms.
    pub min_ms: u64,
    /// Longest time, ms.
    pub max_ms: u64,
}

impl Span {
    /// Exactly `ms` milliseconds.
    pub const fn fixed(ms: u64) -> Span {
        Span {
            min_ms: ms,
            max_ms: ms,
        }
    }
}

/// What moves a task to its next status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "lowercase")]
pub enum Progress {
    /// The clock: each status lasts its [`Span`].
    #[default]
    Time,
    /// Queries: a task moves on after `polls` single queries in its current status (the query
    /// that completes the count already sees the new status).
    Polls {
        /// Queries per status.
        polls: u32,
    },
    /// Only the control plane moves tasks (`POST /__mock/tasks/{id}/advance`).
    Manual,
}

/// The lifecycle of one task kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lifecycle {
    /// Time in `submitted`.
    pub submitted: Span,
    /// Time in `processing`.
    pub processing: Span,
    /// What moves tasks on.
    #[serde(default)]
    pub progress: Progress,
}

/// Where a task is moved by hand.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Goal {
    /// One status forward (`submitted` → `processing` → the planned outcome).
    Next,
    /// Straight to `succeed`.
    Succeed,
    /// Straight to `failed` with this `task_status_msg`.
    Failed(String),
}

/// Pending transitions.
#[derive(Debug)]
pub(crate) struct Timers {
    /// (due ms, task id). A std Mutex: held for one map operation, never across `.await`.
    queue: Mutex<BTreeMap<(i64, u64), ()>>,
    /// Earliest due time, or `i64::MAX`: lets callers skip the lock when nothing is due.
    next_due: AtomicI64,
    /// Wakes the driver when an earlier timer is added.
    pub wake: Notify,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            queue: Mutex::new(BTreeMap::new()),
            next_due: AtomicI64::new(i64::MAX),
            wake: Notify::new(),
        }
    }
}

impl Timers {
    pub fn schedule(&self, due: i64, id: u64) {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        q.insert((due, id), ());
        let earliest = q.keys().next().map_or(i64::MAX, |k| k.0);
        let before = self.next_due.swap(earliest, Ordering::AcqRel);
        drop(q);
        if earliest < before {
            self.wake.notify_one();
        }
    }

    /// The earliest timer due at or before `now`, removed from the queue.
    pub fn pop_due(&self, now: i64) -> Option<(i64, u64)> {
        if self.next_due.load(Ordering::Acquire) > now {
            return None;
        }
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let first = *q.keys().next()?;
        if first.0 > now {
            self.next_due.store(first.0, Ordering::Release);
            return None;
        }
        q.remove(&first);
        self.next_due
            .store(q.keys().next().map_or(i64::MAX, |k| k.0), Ordering::Release);
        Some(first)
    }

    pub fn next_due(&self) -> i64 {
        self.next_due.load(Ordering::Acquire)
    }

    pub fn len(&self) -> usize {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Remove the timer of task `id` due at `due`, if it is still pending.
    pub fn cancel(&self, due: i64, id: u64) {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        q.remove(&(due, id));
        self.next_due
            .store(q.keys().next().map_or(i64::MAX, |k| k.0), Ordering::Release);
    }

    /// Remove every timer whose task `keep` rejects.
    pub fn retain(&self, keep: impl Fn(u64) -> bool) {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        q.retain(|(_, id), _| keep(*id));
        self.next_due
            .store(q.keys().next().map_or(i64::MAX, |k| k.0), Ordering::Release);
    }
}

/// The background driver: fire due transitions, then sleep until the next one falls due, the
/// clock jumps, or an earlier timer is added. Ends when the engine is dropped.
pub(crate) async fn drive(engine: Weak<Engine>) {
    loop {
        let Some(e) = engine.upgrade() else { return };
        let clock = e.clock.clone();
        let timers = e.timers.clone();
        let jumped = clock.changed();
        let added = timers.wake.notified();
        tokio::pin!(jumped, added);
        jumped.as_mut().enable();
        added.as_mut().enable();
        e.catch_up();
        let next = timers.next_due();
        let wait = if next == i64::MAX || clock.is_frozen() {
            Duration::from_secs(3600)
        } else {
            Duration::from_millis((next - clock.now_ms()).clamp(0, 3_600_000) as u64)
        };
        drop(e);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = &mut jumped => {}
            _ = &mut added => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timers_come_out_in_time_order_and_only_when_due() {
        let t = Timers::default();
        t.schedule(300, 1);
        t.schedule(100, 2);
        t.schedule(200, 3);
        assert_eq!(t.pop_due(50), None);
        assert_eq!(t.pop_due(250), Some((100, 2)));
        assert_eq!(t.pop_due(250), Some((200, 3)));
        assert_eq!(t.pop_due(250), None);
        assert_eq!(t.next_due(), 300);
        assert_eq!(t.pop_due(300), Some((300, 1)));
        assert_eq!(t.next_due(), i64::MAX);
    }
}
