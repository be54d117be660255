//! What changed since the state store last looked: each part of the state that a saved state
//! holds (tasks, media, voices, billing) notes the keys it changes, and the store's writer
//! (`crate::persist`) takes them every flush window and writes what they name now. Off (and free:
//! one relaxed load per change) unless `--state-file` is set.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// Keys changed since the last [`Dirty::take`].
#[derive(Debug)]
pub struct Dirty<K> {
    on: AtomicBool,
    keys: Mutex<Vec<K>>,
}

impl<K> Default for Dirty<K> {
    fn default() -> Self {
        Dirty {
            on: AtomicBool::new(false),
            keys: Mutex::new(Vec::new()),
        }
    }
}

impl<K> Dirty<K> {
    /// Start noting changes (a store is attached).
    pub fn enable(&self) {
        self.on.store(true, Ordering::Release);
    }

    /// Whether changes are noted.
    pub fn is_on(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    /// Note that `key` changed.
    #[inline]
    pub fn mark(&self, key: K) {
        if self.is_on() {
            self.keys
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(key);
        }
    }

    /// Note that each of `keys` changed.
    pub fn mark_all(&self, keys: impl IntoIterator<Item = K>) {
        if self.is_on() {
            self.keys
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(keys);
        }
    }

    /// The keys noted since the last call (in the order they changed, repeats included).
    pub fn take(&self) -> Vec<K> {
        std::mem::take(&mut *self.keys.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_noted_only_once_enabled_and_taken_once() {
        let d = Dirty::default();
        d.mark(1u64);
        assert!(d.take().is_empty(), "off: nothing noted");
        d.enable();
        d.mark(2);
        d.mark_all([3, 2]);
        assert_eq!(d.take(), vec![2, 3, 2]);
        assert!(d.take().is_empty());
    }
}
