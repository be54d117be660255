//! `ChurnMap`: a sharded hash map for tables that fill up and then live under steady churn (an
//! entry added, the oldest removed), with flat memory once they are full.
//!
//! Why not DashMap: a hashbrown table under churn collects tombstones; when they have used up its
//! spare room, hashbrown rehashes in place only if the table is at most half full, and otherwise
//! doubles it. A table that runs above half full (most do: they fill to 7/8 before growing) thus
//! doubles once, minutes into the churn, at a time set by how fast its tombstones pile up: the
//! 15-minute soak (RELIABILITY.md §2) saw RSS step from 88 to 112.5 MiB between 315 and 495 s.
//!
//! Here a shard that churns never lets hashbrown decide. At its first eviction it rebuilds itself
//! with room for its entries plus headroom, and it keeps that room: whenever tombstones have used
//! up the spare room and the shard is more than half full, it rebuilds into a fresh table of the
//! same size (a copy of one shard's entries, 1/128 of the map) instead of letting hashbrown
//! double it. The headroom is an eighth of the entries (so rebuilds are rare) plus four standard
//! deviations of the shard's count, which wanders as keys land on shards at random; the shard
//! grows only if its live count rises past that. The size is thus set when churn starts and
//! never changes under steady churn, at half the memory hashbrown's own doubling would reach.
//!
//! Used for the media files and ids (`media`) and the task table (`engine::store`): each fills to
//! its cap or retention and then churns with every create.

use hashbrown::DefaultHashBuilder as RandomState;
use hashbrown::HashMap;
use std::hash::{BuildHasher, Hash};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Shards: a shard's resize rehashes 1/128 of the table while holding its lock.
const SHARDS: usize = 1 << SHARD_BITS;
/// log2 of [`SHARDS`].
const SHARD_BITS: u32 = 7;

#[derive(Debug)]
struct Shard<K, V> {
    map: HashMap<K, V, RandomState>,
    /// Evicting: the shard holds its steady count and keeps its size ([`Shard::rebuild`]).
    churning: bool,
    /// Entries the table holds with no tombstones, as last rebuilt (0: never rebuilt).
    room: usize,
}

impl<K: Eq + Hash, V> Shard<K, V> {
    /// Move the entries into a fresh table (no tombstones) of at least the size it had: room
    /// for the entries plus headroom (see the module docs).
    fn rebuild(&mut self) {
        let n = self.map.len();
        let want = self.room.max(n + n / 8 + 4 * n.isqrt() + 16);
        let mut fresh = HashMap::with_capacity_and_hasher(want, self.map.hasher().clone());
        fresh.extend(self.map.drain());
        self.map = fresh;
        self.room = self.map.capacity();
    }
}

/// A sharded map of `Copy` keys; see the module docs. Values are reached through closures run
/// under the shard's lock (or copied out with [`ChurnMap::get`]).
#[derive(Debug)]
pub(crate) struct ChurnMap<K, V> {
    shards: Box<[RwLock<Shard<K, V>>]>,
    pick: RandomState,
    /// Entries in all shards (changed under the shard's lock: exact whenever no change is under
    /// way), so a length check costs no locks.
    len: AtomicUsize,
}

impl<K: Eq + Hash + Copy, V> Default for ChurnMap<K, V> {
    fn default() -> Self {
        ChurnMap {
            shards: (0..SHARDS)
                .map(|_| {
                    RwLock::new(Shard {
                        map: HashMap::with_hasher(RandomState::default()),
                        churning: false,
                        room: 0,
                    })
                })
                .collect(),
            pick: RandomState::default(),
            len: AtomicUsize::new(0),
        }
    }
}

impl<K: Eq + Hash + Copy, V> ChurnMap<K, V> {
    fn shard(&self, k: &K) -> &RwLock<Shard<K, V>> {
        // The top bits: the low ones of a fast hash of sequential ids spread less evenly.
        &self.shards[(self.pick.hash_one(k) >> (64 - SHARD_BITS)) as usize]
    }

    fn read(lock: &RwLock<Shard<K, V>>) -> RwLockReadGuard<'_, Shard<K, V>> {
        lock.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(lock: &RwLock<Shard<K, V>>) -> RwLockWriteGuard<'_, Shard<K, V>> {
        lock.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Make room for `total` entries in all (a restore that knows its count grows each table
    /// once instead of doubling it step by step).
    pub fn reserve(&self, total: usize) {
        let per = total / SHARDS + total / SHARDS / 16 + 16;
        for shard in &self.shards {
            let mut s = Self::write(shard);
            let more = per.saturating_sub(s.map.len());
            s.map.reserve(more);
        }
    }

    pub fn insert(&self, k: K, v: V) {
        let mut s = Self::write(self.shard(&k));
        // No spare room left (tombstones): hashbrown would rehash in place if the table is at
        // most half full, and double it otherwise. A churning shard rebuilds at its size instead.
        if s.churning && s.map.len() == s.map.capacity() && s.map.len() > s.room / 2 {
            s.rebuild();
        }
        // Counted under the lock: a removal of `k` (which needs the lock) is counted after.
        if s.map.insert(k, v).is_none() {
            self.len.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A copy of the value at `k`.
    pub fn get(&self, k: &K) -> Option<V>
    where
        V: Clone,
    {
        self.with(k, V::clone)
    }

    /// `f` applied to the value at `k`, under the shard's read lock.
    pub fn with<R>(&self, k: &K, f: impl FnOnce(&V) -> R) -> Option<R> {
        Self::read(self.shard(k)).map.get(k).map(f)
    }

    /// `f` applied to the value at `k`, under the shard's write lock.
    pub fn with_mut<R>(&self, k: &K, f: impl FnOnce(&mut V) -> R) -> Option<R> {
        Self::write(self.shard(k)).map.get_mut(k).map(f)
    }

    pub fn contains_key(&self, k: &K) -> bool {
        Self::read(self.shard(k)).map.contains_key(k)
    }

    /// Remove `k` as the oldest entry of a table under churn (expired or past a cap). At its
    /// first eviction a shard sizes itself for churn (see the module docs). Returns whether `k`
    /// was there.
    pub fn evict(&self, k: &K) -> bool {
        self.evict_if(k, |_| true).is_some()
    }

    /// [`ChurnMap::evict`] if `k` is there and `pred` accepts its value; returns the value
    /// removed.
    pub fn evict_if(&self, k: &K, pred: impl FnOnce(&V) -> bool) -> Option<V> {
        let mut s = Self::write(self.shard(k));
        // Two lookups, not `entry`: hashbrown's `entry` reserves room for an insert first, which
        // can resize the table (the store's churn test catches it).
        if !s.map.get(k).is_some_and(pred) {
            return None;
        }
        let found = s.map.remove(k)?;
        self.len.fetch_sub(1, Ordering::Relaxed);
        if !s.churning {
            s.churning = true;
            s.rebuild();
        }
        Some(found)
    }

    pub fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// Entries the shards can hold before they next grow or rehash (diagnostics).
    pub fn capacity(&self) -> usize {
        self.shards
            .iter()
            .map(|s| Self::read(s).map.capacity())
            .sum()
    }

    /// Bytes the shards' tables take (slots and control bytes).
    #[cfg(test)]
    pub fn allocation_size(&self) -> usize {
        self.shards
            .iter()
            .map(|s| Self::read(s).map.allocation_size())
            .sum()
    }

    /// `f` on every entry (no order), one shard's read lock at a time.
    pub fn for_each(&self, mut f: impl FnMut(&K, &V)) {
        for s in self.shards.iter() {
            for (k, v) in Self::read(s).map.iter() {
                f(k, v);
            }
        }
    }

    /// Every entry (no order).
    pub fn snapshot(&self) -> Vec<(K, V)>
    where
        V: Clone,
    {
        let mut out = Vec::with_capacity(self.len());
        self.for_each(|k, v| out.push((*k, v.clone())));
        out
    }

    /// Keep only the entries `keep` accepts (removals here are not churn: no room is made).
    pub fn retain(&self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        for s in self.shards.iter() {
            let mut s = Self::write(s);
            let before = s.map.len();
            s.map.retain(|k, v| keep(k, v));
            self.len.fetch_sub(before - s.map.len(), Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_as_a_map() {
        let m = ChurnMap::<u64, u32>::default();
        for i in 0..1000 {
            m.insert(i, i as u32 * 2);
        }
        m.insert(7, 1);
        assert_eq!(m.len(), 1000);
        assert_eq!(m.get(&7), Some(1));
        assert_eq!(m.get(&8), Some(16));
        assert_eq!(m.get(&1000), None);
        assert!(m.evict(&8));
        assert!(!m.evict(&8));
        assert!(!m.contains_key(&8));
        m.retain(|k, _| k % 2 == 0);
        assert_eq!(m.len(), 499);
        let mut all = m.snapshot();
        all.sort_unstable();
        assert_eq!(all.len(), 499);
        assert_eq!(all[..2], [(0, 0), (2, 4)]);
        assert_eq!(m.with_mut(&2, |v| std::mem::replace(v, 40)), Some(4));
        assert_eq!(m.with(&2, |v| v + 1), Some(41));
        assert_eq!(m.with_mut(&3, |v| *v), None);
        assert_eq!(
            m.evict_if(&2, |v| *v == 4),
            None,
            "refused: the value is 40"
        );
        assert_eq!(m.evict_if(&2, |v| *v == 40), Some(40));
        assert_eq!(m.len(), 498);
        let mut sum = 0;
        m.for_each(|k, _| sum += k);
        assert_eq!(sum, (0..1000).step_by(2).sum::<u64>() - 8 - 2);
    }

    /// The counted length stays exact while threads insert and evict at once (it is what the task
    /// store's cap reads on every create).
    #[test]
    fn the_length_is_exact_under_concurrent_churn() {
        let m = ChurnMap::<u64, u64>::default();
        std::thread::scope(|s| {
            for t in 0..4u64 {
                let m = &m;
                s.spawn(move || {
                    for i in 0..20_000 {
                        let k = t * 1_000_000 + i;
                        m.insert(k, k);
                        if i >= 100 {
                            assert!(m.evict(&(k - 100)));
                        }
                        // Each thread holds 100 entries, 101 between its insert and evict.
                        let len = m.len();
                        assert!(len <= 404, "len {len} beyond the live entries");
                    }
                });
            }
        });
        assert_eq!(m.len(), 400);
        assert_eq!(m.snapshot().len(), 400);
    }

    /// A full table under churn (add one, evict the oldest) stops growing once churn has started:
    /// the capacity after the first evictions is the capacity for good. And it costs nothing
    /// here: 1,172 entries a shard already have a table with headroom enough (2,048 buckets), so
    /// the size is the one the table had when it filled (hashbrown alone doubles it later).
    #[test]
    fn capacity_is_set_when_churn_starts_and_stays() {
        let m = ChurnMap::<u64, [u64; 4]>::default();
        let live = 150_000u64;
        for i in 0..live {
            m.insert(i, [i; 4]);
        }
        let filled = m.allocation_size();
        // Churn for a while so every shard has had its first eviction.
        let mut next = live;
        for _ in 0..20_000 {
            m.insert(next, [next; 4]);
            assert!(m.evict(&(next - live)));
            next += 1;
        }
        let settled = m.allocation_size();
        assert_eq!(settled, filled, "churn made the tables grow");
        for _ in 0..40 {
            for _ in 0..25_000 {
                m.insert(next, [next; 4]);
                assert!(m.evict(&(next - live)));
                next += 1;
            }
            assert_eq!(m.len(), live as usize);
            assert_eq!(
                m.allocation_size(),
                settled,
                "the tables changed size after churn started ({} churns)",
                next - live
            );
        }
    }

    /// What the map prevents: a plain table under the same churn doubles long after it filled.
    #[test]
    fn a_plain_table_under_churn_grows_late() {
        let mut m: HashMap<u64, [u64; 4], RandomState> =
            HashMap::with_hasher(RandomState::default());
        let live = 1_200u64;
        for i in 0..live {
            m.insert(i, [i; 4]);
        }
        let full = m.allocation_size();
        let mut next = live;
        while m.allocation_size() == full && next < 10_000_000 {
            m.insert(next, [next; 4]);
            m.remove(&(next - live));
            next += 1;
        }
        assert!(
            m.allocation_size() > full,
            "a plain hashbrown table did not grow under churn: the reason for ChurnMap is gone"
        );
    }
}
