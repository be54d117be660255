//! Per-account task storage. Sharded maps inside, never exposed: callers get owned
//! [`TaskView`]s.
//!
//! * `tasks`: every task by id (ids are unique across kinds and accounts), in a [`ChurnMap`]: once
//!   the cap is reached, every create evicts an old task, and that map's memory stays flat under
//!   such churn where a DashMap's tables each double once, minutes later (RELIABILITY.md §2).
//! * `lists`: per (account, kind), the ids in an ascending `Vec` (ids grow with creation time, so
//!   a new id almost always goes at the end); the newest-first page `n` is a slice taken from the
//!   end at offset `(n-1)·size`: its cost is the page's size, whatever the page number or the
//!   number of stored tasks. Removing an id (a deleted voice) shifts the tail, a rare operation.
//! * `external`: per account, `external_task_id` → task id. Unique per account across kinds
//!   (SOURCES.md: General Info: "unique within a single user account").
//! * `order`: every stored id in insertion order, for the cap (`--max-tasks`): past the cap, the
//!   oldest *finished* (or deleted) tasks are forgotten first, one or two per insert; a task
//!   still in flight is moved to the back instead, so a task stuck in `processing` (manual
//!   lifecycles) never blocks eviction and is never forgotten.
//!
//! Every lookup is keyed by the account, so one account can never reach another's tasks: they
//! are simply not found.

use super::view::{Status, TaskView};
use super::{KindId, TaskResult};
use crate::churn::ChurnMap;
use crate::error::KlingError;
use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// A stored task.
#[derive(Clone, Debug)]
pub(crate) struct TaskRecord {
    pub id: u64,
    pub account: u32,
    pub kind: KindId,
    pub external_id: Option<Box<str>>,
    pub status: Status,
    pub created_at: i64,
    pub updated_at: i64,
    /// The result the task will show once it succeeds (planned at creation).
    pub result: TaskResult,
    /// Why the task will fail, if it will (planned at creation, or set by hand).
    pub failure: Option<Box<str>>,
    pub callback_url: Option<Box<str>>,
    /// Removed by its owner (a deleted custom voice): no longer found or listed.
    pub deleted: bool,
    /// When its pending timer falls due (`None`: no timer, e.g. polls or manual progress).
    pub due: Option<i64>,
    /// Single queries seen in the current status (for polls-driven progress).
    pub polls: u32,
    /// Time this task spends in `processing` when time moves it (drawn at creation), ms.
    pub processing_ms: i64,
}

impl TaskRecord {
    pub fn view(&self) -> TaskView {
        TaskView {
            id: self.id,
            kind: self.kind,
            external_id: self.external_id.clone(),
            status: self.status,
            status_msg: match (self.status, &self.failure) {
                (Status::Failed, Some(m)) => m.clone(),
                _ => Box::from(""),
            },
            created_at: self.created_at,
            updated_at: self.updated_at,
            result: (self.status == Status::Succeed).then(|| self.result.clone()),
            planned: self.result.clone(),
        }
    }
}

#[derive(Debug)]
pub(crate) struct Store {
    /// Boxed: a growing map then moves 8-byte pointers, not 144-byte records (shorter pauses
    /// when a shard resizes), and its empty slots cost 16 bytes instead of 152.
    tasks: ChurnMap<u64, Box<TaskRecord>>,
    lists: DashMap<(u32, KindId), VecDeque<u64>>,
    external: DashMap<(u32, Box<str>), u64>,
    /// Ids in insertion order (evicted ones already gone), for the cap.
    order: Mutex<VecDeque<u64>>,
    /// Most tasks kept (0: no cap).
    max: AtomicUsize,
    /// Tasks forgotten because of the cap, since the start.
    evicted: AtomicU64,
    /// Ids of tasks added, changed or forgotten, for the state store.
    pub dirty: crate::dirty::Dirty<u64>,
}

impl Default for Store {
    fn default() -> Self {
        Store {
            tasks: ChurnMap::default(),
            lists: DashMap::new(),
            external: DashMap::new(),
            order: Mutex::default(),
            max: AtomicUsize::default(),
            evicted: AtomicU64::default(),
            dirty: Default::default(),
        }
    }
}

/// Tasks examined (evicted or moved back) per insert past the cap: enough to bring the store
/// back under its cap after a burst, small enough to keep a create cheap.
const EVICT_PER_INSERT: usize = 4;

impl Store {
    /// Reserve `external_id` for task `id` of `account`; refused if the account already used it.
    pub fn reserve_external(
        &self,
        account: u32,
        external_id: &str,
        id: u64,
    ) -> Result<(), KlingError> {
        match self.external.entry((account, Box::from(external_id))) {
            Entry::Occupied(_) => {
                // Live message, SOURCES.md: observed error bodies.
                Err(KlingError::param(format!(
                    "External_task_id {external_id} already exists"
                )))
            }
            Entry::Vacant(v) => {
                v.insert(id);
                Ok(())
            }
        }
    }

    pub fn insert(&self, rec: TaskRecord) {
        let key = (rec.account, rec.kind);
        let id = rec.id;
        self.tasks.insert(id, Box::new(rec));
        self.dirty.mark(id);
        insert_sorted(&mut self.lists.entry(key).or_default(), id);
        self.order
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(id);
        self.enforce_cap();
    }

    /// Set the cap on stored tasks (0: none).
    pub fn set_max(&self, max: usize) {
        self.max.store(max, Ordering::Relaxed);
    }

    /// The cap on stored tasks (0: none).
    pub fn max(&self) -> usize {
        self.max.load(Ordering::Relaxed)
    }

    /// Tasks forgotten because of the cap since the start.
    pub fn evicted(&self) -> u64 {
        self.evicted.load(Ordering::Relaxed)
    }

    /// Past the cap, forget up to [`EVICT_PER_INSERT`] of the oldest finished or deleted tasks;
    /// unfinished ones met on the way go to the back of the order.
    fn enforce_cap(&self) {
        let max = self.max();
        if max == 0 || self.tasks.len() <= max {
            return;
        }
        for _ in 0..EVICT_PER_INSERT {
            if self.tasks.len() <= max {
                return;
            }
            let Some(id) = self
                .order
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pop_front()
            else {
                return;
            };
            let removable = self
                .tasks
                .evict_if(&id, |r| r.deleted || r.status.is_terminal());
            match removable {
                Some(rec) => {
                    self.unindex(&rec);
                    self.evicted.fetch_add(1, Ordering::Relaxed);
                    self.dirty.mark(id);
                }
                None if self.tasks.contains_key(&id) => self
                    .order
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push_back(id),
                // Already gone (a reset).
                None => {}
            }
        }
    }

    /// Drop a forgotten task from the list and external-id indexes.
    fn unindex(&self, rec: &TaskRecord) {
        if let Some(mut ids) = self.lists.get_mut(&(rec.account, rec.kind))
            && let Ok(pos) = ids.binary_search(&rec.id)
        {
            ids.remove(pos);
        }
        if let Some(ext) = &rec.external_id {
            self.external
                .remove_if(&(rec.account, ext.clone()), |_, v| *v == rec.id);
        }
    }

    /// Apply `f` to a task, whatever its account (used by the lifecycle).
    pub fn update<R>(&self, id: u64, f: impl FnOnce(&mut TaskRecord) -> R) -> Option<R> {
        let out = self.tasks.with_mut(&id, |r| f(r));
        if out.is_some() {
            self.dirty.mark(id);
        }
        out
    }

    /// The task `key` (a task id, else an external id) of `account` and `kind`.
    pub fn find(&self, account: u32, kind: KindId, key: &str) -> Option<TaskView> {
        let visible = |r: &TaskRecord| r.account == account && r.kind == kind && !r.deleted;
        if let Ok(id) = key.parse::<u64>()
            && let Some(Some(view)) = self.tasks.with(&id, |r| visible(r).then(|| r.view()))
        {
            return Some(view);
        }
        let id = *self.external.get(&(account, Box::from(key)))?;
        self.tasks
            .with(&id, |r| visible(r).then(|| r.view()))
            .flatten()
    }

    /// The task with this id if it belongs to `account` (any kind).
    pub fn get_owned(&self, account: u32, id: u64) -> Option<TaskView> {
        self.tasks
            .with(&id, |r| {
                (r.account == account && !r.deleted).then(|| r.view())
            })
            .flatten()
    }

    /// Newest-first page of `account`'s tasks of `kind`.
    pub fn page(&self, account: u32, kind: KindId, offset: usize, size: usize) -> Vec<TaskView> {
        let ids: Vec<u64> = match self.lists.get(&(account, kind)) {
            Some(ids) => {
                let end = ids.len().saturating_sub(offset);
                ids.range(end.saturating_sub(size)..end)
                    .rev()
                    .copied()
                    .collect()
            }
            None => return Vec::new(),
        };
        ids.into_iter()
            .filter_map(|id| self.tasks.with(&id, |r| r.view()))
            .collect()
    }

    /// Mark a task deleted: gone from lists and lookups. Returns whether it was visible before.
    pub fn delete(&self, account: u32, id: u64) -> bool {
        let deleted = self.tasks.with_mut(&id, |r| {
            (r.account == account && !r.deleted).then(|| {
                r.deleted = true;
                r.kind
            })
        });
        let Some(Some(kind)) = deleted else {
            return false;
        };
        self.dirty.mark(id);
        if let Some(mut ids) = self.lists.get_mut(&(account, kind))
            && let Ok(pos) = ids.binary_search(&id)
        {
            ids.remove(pos);
        }
        true
    }

    /// Number of stored tasks.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Tasks the task table can hold before it next grows or rehashes (diagnostics).
    pub fn capacity(&self) -> usize {
        self.tasks.capacity()
    }

    /// Bytes the task table's slots take.
    #[cfg(test)]
    fn table_bytes(&self) -> usize {
        self.tasks.allocation_size()
    }

    /// Ids of the tasks `key` names: the task with that id, or every task (of `account`, or of
    /// any account) with that external id.
    pub fn resolve(&self, account: Option<u32>, key: &str) -> Vec<u64> {
        if let Ok(id) = key.parse::<u64>()
            && self
                .tasks
                .with(&id, |r| {
                    account.is_none_or(|a| a == r.account) && !r.deleted
                })
                .unwrap_or(false)
        {
            return vec![id];
        }
        self.external
            .iter()
            .filter(|e| &*e.key().1 == key && account.is_none_or(|a| a == e.key().0))
            .map(|e| *e.value())
            .filter(|id| self.tasks.with(id, |r| !r.deleted).unwrap_or(false))
            .collect()
    }

    /// Forget every task of `account` (or all tasks); returns the ids removed.
    pub fn clear(&self, account: Option<u32>) -> Vec<u64> {
        let mut gone = Vec::new();
        self.tasks.retain(|id, r| {
            let forget = account.is_none_or(|a| a == r.account);
            if forget {
                gone.push(*id);
            }
            !forget
        });
        {
            let mut order = self.order.lock().unwrap_or_else(|e| e.into_inner());
            order.retain(|id| self.tasks.contains_key(id));
        }
        self.lists.retain(|k, _| account.is_some_and(|a| a != k.0));
        self.external
            .retain(|k, _| account.is_some_and(|a| a != k.0));
        self.dirty.mark_all(gone.iter().copied());
        gone
    }

    /// Every stored id (for the state store).
    pub fn ids(&self) -> Vec<u64> {
        let mut ids = Vec::with_capacity(self.tasks.len());
        self.tasks.for_each(|id, _| ids.push(*id));
        ids
    }

    /// The task with this id, whatever its account (for the state store).
    pub fn record(&self, id: u64) -> Option<TaskRecord> {
        self.tasks.with(&id, |r| (**r).clone())
    }

    /// Make room for `n` tasks (a restore).
    pub fn reserve(&self, n: usize) {
        self.tasks.reserve(n);
        self.order
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .reserve(n);
    }

    /// Put back a saved task with its indexes (external id, list membership).
    pub fn restore(&self, rec: TaskRecord) {
        if let Some(ext) = &rec.external_id {
            self.external.insert((rec.account, ext.clone()), rec.id);
        }
        let (key, id, deleted) = ((rec.account, rec.kind), rec.id, rec.deleted);
        self.tasks.insert(id, Box::new(rec));
        if !deleted {
            insert_sorted(&mut self.lists.entry(key).or_default(), id);
        }
        // Saved tasks come back in any order: `order` is re-sorted once they are all in.
        self.order
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(id);
    }

    /// After a restore: the insertion order is the id order (ids grow with creation time); then
    /// the cap applies.
    pub fn restored(&self) {
        self.order
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .make_contiguous()
            .sort_unstable();
        while self.max() != 0 && self.tasks.len() > self.max() {
            let before = self.tasks.len();
            self.enforce_cap();
            if self.tasks.len() == before {
                break;
            }
        }
    }

    /// Counts of live tasks by (account, kind, status).
    pub fn census(&self) -> std::collections::BTreeMap<(u32, KindId, Status), usize> {
        let mut m = std::collections::BTreeMap::new();
        self.tasks.for_each(|_, r| {
            if !r.deleted {
                *m.entry((r.account, r.kind, r.status)).or_insert(0) += 1;
            }
        });
        m
    }
}

/// Insert `id` keeping `ids` ascending and without duplicates (normally a push at the end:
/// concurrent creates can arrive a few places out of order).
fn insert_sorted(ids: &mut VecDeque<u64>, id: u64) {
    match ids.back() {
        Some(&last) if last < id => ids.push_back(id),
        None => ids.push_back(id),
        Some(_) => {
            if let Err(pos) = ids.binary_search(&id) {
                ids.insert(pos, id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A result of no kind, for the store's own tests.
    #[derive(Debug, serde::Serialize, serde::Deserialize)]
    struct NoResult;

    impl crate::engine::KindResult for NoResult {
        fn wire<'a>(&'a self, _: &'a str) -> Box<dyn erased_serde::Serialize + 'a> {
            Box::new(serde_json::Map::new())
        }
    }

    fn finished(id: u64) -> TaskRecord {
        TaskRecord {
            id,
            account: 1,
            kind: KindId::new("text-to-audio"),
            external_id: None,
            status: Status::Succeed,
            created_at: 0,
            updated_at: 0,
            result: TaskResult::new(NoResult),
            failure: None,
            callback_url: None,
            deleted: false,
            due: None,
            polls: 0,
            processing_ms: 0,
        }
    }

    /// At its cap, every insert evicts the oldest task; the task table's size is then set once
    /// the churn starts and never grows again (the soak's late step, RELIABILITY.md §2).
    #[test]
    fn a_full_store_under_churn_keeps_its_table_size() {
        let store = Store::default();
        let cap = 60_000;
        store.set_max(cap);
        let mut id = 0;
        for _ in 0..cap + 10_000 {
            id += 1;
            store.insert(finished(id));
        }
        assert_eq!(store.len(), cap);
        let settled = store.table_bytes();
        for _ in 0..30 {
            for _ in 0..20_000 {
                id += 1;
                store.insert(finished(id));
            }
            assert_eq!(store.len(), cap);
            assert_eq!(store.table_bytes(), settled, "grew after {id} inserts");
        }
        assert_eq!(store.evicted(), id - cap as u64);
        // The newest are kept, listed newest first.
        let page = store.page(1, KindId::new("text-to-audio"), 0, 2);
        assert_eq!(page.iter().map(|v| v.id).collect::<Vec<_>>(), [id, id - 1]);
    }

    #[test]
    fn ids_stay_sorted_and_unique_whatever_the_arrival_order() {
        let mut v = std::collections::VecDeque::new();
        for id in [5, 7, 6, 9, 1, 7, 8] {
            insert_sorted(&mut v, id);
        }
        assert_eq!(v, [1, 5, 6, 7, 8, 9]);
    }
}
