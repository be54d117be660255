//! The bytes of served files, kept in memory under a byte budget (least recently used out first),
//! and the shared GOPs of video variants.
//!
//! * **Single flight**: a file's entry is created before its bytes are made, holding a
//!   `OnceLock` that the first fetch fills; concurrent fetches of the same file wait for it
//!   instead of making it again. Shared GOPs have one `OnceLock` each (`video::VariantGops`).
//! * **Budget**: an entry counts its bytes once made; past the budget the least recently used
//!   made entries go first (an entry being made is never evicted; a file larger than the whole
//!   budget is served and not kept). Budget 0 keeps nothing (and warms nothing).
//! * **Warm-up**: a registered video may have its variant's shared GOPs encoded ahead of its
//!   first fetch by one background thread, one GOP at a time, a few variants queued at most;
//!   the thread holds the cache weakly and stops when the server is gone.

use super::video::{Variant, VariantGops};
use super::{RenderError, Token};
use bytes::Bytes;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};

/// Default byte budget (`--video-cache-mb`).
pub const DEFAULT_BUDGET: usize = 256 << 20;
/// Variants waiting for the warm-up thread, at most (more are dropped: fetched cold instead).
const WARM_QUEUE: usize = 8;

/// A served file's bytes and its entity tag.
#[derive(Clone, Debug)]
pub struct FileBytes {
    /// The whole file.
    pub bytes: Bytes,
    /// Its strong `ETag` (quoted): the token and a hash of the bytes.
    pub etag: Arc<str>,
}

/// Why a file could not be made.
pub type MakeResult = Result<FileBytes, RenderError>;

type Slot = Arc<OnceLock<MakeResult>>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Key {
    File(Token),
    Variant(Variant),
}

#[derive(Clone, Debug)]
enum Value {
    File(Slot),
    Variant(Arc<VariantGops>),
}

#[derive(Debug)]
struct Entry {
    value: Value,
    /// Bytes counted against the budget (0 until made).
    size: usize,
    /// Made: counted, may be evicted.
    settled: bool,
    /// Position in the LRU order.
    tick: u64,
}

#[derive(Debug, Default)]
struct Lru {
    map: HashMap<Key, Entry>,
    /// tick → key, oldest first.
    order: BTreeMap<u64, Key>,
    next_tick: u64,
    bytes: usize,
}

impl Lru {
    /// The entry of `key`, created by `make` if absent, now the most recently used.
    fn touch(&mut self, key: Key, make: impl FnOnce() -> Value) -> Value {
        let tick = self.next_tick;
        self.next_tick += 1;
        let entry = self.map.entry(key).or_insert_with(|| Entry {
            value: make(),
            size: 0,
            settled: false,
            tick,
        });
        self.order.remove(&entry.tick);
        entry.tick = tick;
        self.order.insert(tick, key);
        entry.value.clone()
    }

    fn remove(&mut self, key: &Key) {
        if let Some(e) = self.map.remove(key) {
            self.order.remove(&e.tick);
            self.bytes -= e.size;
        }
    }
}

/// What the cache holds, for `GET /__mock/state`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CacheStats {
    /// The byte budget.
    pub budget_bytes: usize,
    /// Bytes held.
    pub bytes: usize,
    /// Files held.
    pub files: usize,
    /// Video variants whose shared GOPs are held.
    pub variants: usize,
    /// Fetches answered from memory.
    pub hits: u64,
    /// Fetches that made their file.
    pub misses: u64,
}

#[derive(Debug, Default)]
struct Inner {
    budget: AtomicUsize,
    lru: Mutex<Lru>,
    hits: AtomicU64,
    misses: AtomicU64,
    /// Variants waiting for the warm-up thread; `None` until it is started.
    warm: Mutex<Option<VecDeque<Variant>>>,
    warm_ready: Condvar,
}

/// The media cache; see the module docs. Cheap to clone (one `Arc`).
#[derive(Clone, Debug)]
pub struct MediaCache {
    inner: Arc<Inner>,
}

impl Default for MediaCache {
    fn default() -> Self {
        let inner = Inner::default();
        inner.budget.store(DEFAULT_BUDGET, Ordering::Relaxed);
        MediaCache {
            inner: Arc::new(inner),
        }
    }
}

impl MediaCache {
    fn lru(&self) -> std::sync::MutexGuard<'_, Lru> {
        self.inner.lru.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Set the byte budget (evicting down to it).
    pub fn set_budget(&self, bytes: usize) {
        self.inner.budget.store(bytes, Ordering::Relaxed);
        let mut lru = self.lru();
        self.shrink(&mut lru, None);
    }

    /// The byte budget.
    pub fn budget(&self) -> usize {
        self.inner.budget.load(Ordering::Relaxed)
    }

    /// The file `token` if it is made and held.
    pub fn get(&self, token: &Token) -> Option<FileBytes> {
        let mut lru = self.lru();
        let key = Key::File(*token);
        let made = match &lru.map.get(&key)?.value {
            Value::File(slot) => slot.get().and_then(|r| r.as_ref().ok()).cloned(),
            Value::Variant(_) => None,
        }?;
        lru.touch(key, || unreachable!("the entry exists"));
        self.inner.hits.fetch_add(1, Ordering::Relaxed);
        Some(made)
    }

    /// The file `token`: held, or made now by `make` (blocking: call on a blocking thread).
    /// Concurrent callers for one token run `make` once.
    pub fn file(&self, token: &Token, make: impl FnOnce() -> MakeResult) -> MakeResult {
        let key = Key::File(*token);
        let slot = match self.lru().touch(key, || Value::File(Slot::default())) {
            Value::File(slot) => slot,
            Value::Variant(_) => unreachable!("a file key holds a file"),
        };
        let mut made_here = false;
        let result = slot
            .get_or_init(|| {
                made_here = true;
                make()
            })
            .clone();
        if made_here {
            self.inner.misses.fetch_add(1, Ordering::Relaxed);
            let size = result.as_ref().map_or(0, |f| f.bytes.len());
            self.settle(
                key,
                |v| matches!(v, Value::File(s) if Arc::ptr_eq(s, &slot)),
                size,
                result.is_ok(),
            );
        } else {
            self.inner.hits.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    /// The shared GOPs of `variant` (created empty if not held).
    pub fn variant(&self, variant: Variant) -> Arc<VariantGops> {
        match self.lru().touch(Key::Variant(variant), || {
            Value::Variant(Arc::new(VariantGops::new(variant)))
        }) {
            Value::Variant(v) => v,
            Value::File(_) => unreachable!("a variant key holds a variant"),
        }
    }

    /// Count what `gops` holds now against the budget.
    pub fn settle_variant(&self, gops: &Arc<VariantGops>, variant: Variant) {
        self.settle(
            Key::Variant(variant),
            |v| matches!(v, Value::Variant(g) if Arc::ptr_eq(g, gops)),
            gops.bytes(),
            true,
        );
    }

    /// Record the size of `key` (if it is still the entry `same` recognises), then evict the
    /// least recently used entries until the budget holds. A failed entry is dropped.
    fn settle(&self, key: Key, same: impl Fn(&Value) -> bool, size: usize, ok: bool) {
        let mut lru = self.lru();
        let Some(e) = lru.map.get_mut(&key).filter(|e| same(&e.value)) else {
            return;
        };
        if !ok || size > self.budget() {
            // A failure is not kept; nor is a file larger than the whole budget (it would
            // push everything else out).
            lru.remove(&key);
            return;
        }
        let old = std::mem::replace(&mut e.size, size);
        e.settled = true;
        lru.bytes = lru.bytes - old + size;
        self.shrink(&mut lru, Some(key));
    }

    /// Evict least recently used made entries until the budget holds; `last` goes last.
    fn shrink(&self, lru: &mut Lru, last: Option<Key>) {
        let budget = self.budget();
        while lru.bytes > budget {
            let victim = lru
                .order
                .values()
                .find(|k| {
                    Some(**k) != last && lru.map.get(k).is_some_and(|e| e.settled && e.size > 0)
                })
                .copied()
                .or_else(|| last.filter(|k| lru.map.contains_key(k)));
            match victim {
                Some(k) => lru.remove(&k),
                None => break,
            }
        }
        if budget == 0 {
            // Nothing is kept: drop the made entries with no bytes too.
            let made: Vec<Key> = lru
                .map
                .iter()
                .filter(|(_, e)| e.settled)
                .map(|(k, _)| *k)
                .collect();
            for k in made {
                lru.remove(&k);
            }
        }
    }

    /// Forget every held file and variant.
    pub fn clear(&self) {
        let mut lru = self.lru();
        *lru = Lru::default();
    }

    /// What the cache holds.
    pub fn stats(&self) -> CacheStats {
        let lru = self.lru();
        let variants = lru
            .map
            .keys()
            .filter(|k| matches!(k, Key::Variant(_)))
            .count();
        CacheStats {
            budget_bytes: self.budget(),
            bytes: lru.bytes,
            files: lru.map.len() - variants,
            variants,
            hits: self.inner.hits.load(Ordering::Relaxed),
            misses: self.inner.misses.load(Ordering::Relaxed),
        }
    }

    /// Queue `variant`'s shared GOPs for the background warm-up (nothing if the budget is 0,
    /// the variant is already complete, or the queue is full). Never blocks on encoding.
    pub fn warm(&self, variant: Variant) {
        if self.budget() == 0 || variant.check().is_err() || variant.gop_count() < 2 {
            return;
        }
        if let Some(Entry {
            value: Value::Variant(g),
            ..
        }) = self.lru().map.get(&Key::Variant(variant))
            && g.complete()
        {
            return;
        }
        let mut queue = self.inner.warm.lock().unwrap_or_else(|e| e.into_inner());
        let q = match &mut *queue {
            Some(q) => q,
            None => {
                let weak = Arc::downgrade(&self.inner);
                let started = std::thread::Builder::new()
                    .name("kling-mock-video-warm".into())
                    .spawn(move || warm_loop(weak));
                if started.is_err() {
                    return;
                }
                queue.insert(VecDeque::new())
            }
        };
        if q.len() < WARM_QUEUE && !q.contains(&variant) {
            q.push_back(variant);
            self.inner.warm_ready.notify_one();
        }
    }
}

/// Make the calling thread run only when no other thread of the machine wants the CPU
/// (Linux: `SCHED_IDLE`; elsewhere the lowest priority of its policy), so that warming up never
/// competes with the API's workers. Best effort: a refusal leaves the thread as it was.
fn lowest_priority() {
    #[cfg(target_os = "linux")]
    let r = {
        use thread_priority::ThreadPriority;
        use thread_priority::unix::*;
        set_thread_priority_and_policy(
            thread_native_id(),
            ThreadPriority::Min,
            ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle),
        )
    };
    #[cfg(not(target_os = "linux"))]
    let r = thread_priority::set_current_thread_priority(thread_priority::ThreadPriority::Min);
    if let Err(err) = r {
        tracing::debug!(?err, "the video warm-up thread keeps its priority");
    }
}

/// The warm-up thread: encode queued variants' shared GOPs one GOP at a time, until the cache
/// is dropped.
fn warm_loop(weak: Weak<Inner>) {
    lowest_priority();
    loop {
        let Some(inner) = weak.upgrade() else {
            return;
        };
        let next = {
            let mut queue = inner.warm.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                if let Some(v) = queue.as_mut().and_then(VecDeque::pop_front) {
                    break Some(v);
                }
                let (q, timeout) = inner
                    .warm_ready
                    .wait_timeout(queue, std::time::Duration::from_secs(1))
                    .unwrap_or_else(|e| e.into_inner());
                queue = q;
                if timeout.timed_out() {
                    break None;
                }
            }
        };
        let cache = MediaCache { inner };
        let Some(variant) = next else {
            // Let go of the cache between waits, so a dropped server ends this thread.
            drop(cache);
            continue;
        };
        let gops = cache.variant(variant);
        drop(cache);
        let alive = || weak.strong_count() > 0;
        let result = gops.warm(alive);
        let Some(inner) = weak.upgrade() else {
            return;
        };
        let cache = MediaCache { inner };
        match result {
            Ok(()) => cache.settle_variant(&gops, variant),
            Err(e) => tracing::warn!(error = %e, "video warm-up failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn made(n: usize) -> MakeResult {
        Ok(FileBytes {
            bytes: Bytes::from(vec![0u8; n]),
            etag: "\"x\"".into(),
        })
    }

    #[test]
    fn files_are_made_once_and_the_least_recently_used_go_first() {
        let cache = MediaCache::default();
        cache.set_budget(250);
        let runs = AtomicUsize::new(0);
        let make = |n| {
            runs.fetch_add(1, Ordering::Relaxed);
            made(n)
        };
        cache.file(&[1; 16], || make(100)).unwrap();
        cache.file(&[2; 16], || make(100)).unwrap();
        cache.file(&[1; 16], || make(100)).unwrap();
        assert_eq!(runs.load(Ordering::Relaxed), 2);
        // A third file is over the budget: the least recently used (2) goes.
        cache.file(&[3; 16], || make(100)).unwrap();
        assert!(cache.get(&[1; 16]).is_some());
        assert!(cache.get(&[2; 16]).is_none());
        assert!(cache.get(&[3; 16]).is_some());
        assert_eq!(cache.stats().bytes, 200);
        // Larger than the whole budget: served, not kept.
        assert_eq!(cache.file(&[4; 16], || make(300)).unwrap().bytes.len(), 300);
        assert!(cache.get(&[4; 16]).is_none());
        assert_eq!(cache.stats().bytes, 200);
        cache.set_budget(0);
        assert_eq!(cache.stats().bytes, 0);
        assert!(cache.get(&[1; 16]).is_none());
    }

    #[test]
    fn concurrent_fetches_of_one_file_make_it_once() {
        let cache = MediaCache::default();
        let runs = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    cache
                        .file(&[9; 16], || {
                            runs.fetch_add(1, Ordering::Relaxed);
                            std::thread::sleep(std::time::Duration::from_millis(50));
                            made(10)
                        })
                        .unwrap()
                });
            }
        });
        assert_eq!(runs.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_failed_make_is_not_kept() {
        let cache = MediaCache::default();
        let err = cache.file(&[5; 16], || {
            Err(RenderError::Video(crate::media::video::VideoError::Mux(
                "boom".into(),
            )))
        });
        assert!(err.is_err());
        assert!(cache.file(&[5; 16], || made(1)).is_ok());
    }
}
