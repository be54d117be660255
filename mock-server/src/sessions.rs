//! Sessions: the state a synchronous helper keeps between calls (multi-elements' selection:
//! `init-selection` opens one, `add-selection` / `delete-selection` / `clear-selection` change
//! it, the task reads it). Session id → owner, the kind that opened it, when, and the kind's own
//! state as JSON (the kind owns its type; this registry only keeps, saves and forgets it).
//!
//! A session belongs to its caller: another account's id reads as unknown. Its validity (24 h
//! for multi-elements) is the kind's rule, checked against `created_at`; the registry keeps
//! expired sessions for [`RETAIN_MS`] so that the kind can say "expired" rather than "not
//! found", then drops them. Saved with `--state-file` (`crate::persist`), forgotten by a reset
//! with the caller's other objects.

use dashmap::DashMap;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};

/// How long a session is kept after it was opened, ms (as the media of the retention: 30 days).
pub const RETAIN_MS: i64 = 30 * 24 * 3600 * 1000;
/// Old sessions are dropped once every this many opened.
pub const SWEEP_EVERY: u64 = 1024;

/// One session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// The owning account (its live index).
    pub account: u32,
    /// The slug of the kind that opened it (`multi-elements`).
    pub kind: String,
    /// When it was opened, Unix ms on the mock's clock.
    pub created_at: i64,
    /// The kind's state.
    pub body: serde_json::Value,
}

/// Session id → [`Session`]. Shared behind the state; every method takes `&self`.
#[derive(Debug, Default)]
pub struct Sessions {
    by_id: DashMap<u64, Session>,
    opened: AtomicU64,
    /// Session ids opened, changed or forgotten, for the state store.
    pub dirty: crate::dirty::Dirty<u64>,
}

impl Sessions {
    /// Remember session `id` (a new one, one changed, or one read back from a saved state).
    /// Every [`SWEEP_EVERY`] new sessions, those opened more than [`RETAIN_MS`] before `now` are
    /// dropped.
    pub fn put(&self, id: u64, session: Session, now: i64) {
        let new = self.by_id.insert(id, session).is_none();
        self.dirty.mark(id);
        if new && self.opened.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.by_id.retain(|id, s| {
                let keep = s.created_at.saturating_add(RETAIN_MS) > now;
                if !keep {
                    self.dirty.mark(*id);
                }
                keep
            });
        }
    }

    /// Put back session `id` read from a saved state (no sweep: the saved clock decides what is
    /// old, and the kinds check validity against it).
    pub fn restore(&self, id: u64, session: Session) {
        self.by_id.insert(id, session);
        self.dirty.mark(id);
    }

    /// Session `id` if it belongs to `account` and was opened by `kind`.
    pub fn of(&self, account: u32, kind: &str, id: u64) -> Option<Session> {
        self.by_id
            .get(&id)
            .filter(|s| s.account == account && s.kind == kind)
            .map(|s| s.value().clone())
    }

    /// Session `id`, whoever owns it (for the state store).
    pub fn entry(&self, id: u64) -> Option<Session> {
        self.by_id.get(&id).map(|s| s.value().clone())
    }

    /// How many sessions are kept.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Forget the sessions of `account` (or all).
    pub fn clear(&self, account: Option<u32>) {
        self.by_id.retain(|id, s| {
            let keep = account.is_some_and(|a| a != s.account);
            if !keep {
                self.dirty.mark(*id);
            }
            keep
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(account: u32, created_at: i64) -> Session {
        Session {
            account,
            kind: "multi-elements".into(),
            created_at,
            body: serde_json::json!({"marks": []}),
        }
    }

    #[test]
    fn sessions_belong_to_their_account_and_kind() {
        let r = Sessions::default();
        r.put(1, session(0, 0), 0);
        r.put(2, session(1, 0), 0);
        assert!(r.of(0, "multi-elements", 1).is_some());
        assert!(r.of(1, "multi-elements", 1).is_none(), "another account's");
        assert!(r.of(0, "identify-face", 1).is_none(), "another kind's");
        r.clear(Some(0));
        assert!(r.entry(1).is_none() && r.entry(2).is_some());
        r.clear(None);
        assert!(r.is_empty());
    }

    #[test]
    fn old_sessions_are_swept_as_new_ones_open() {
        let r = Sessions::default();
        r.put(0, session(0, 0), 0);
        let later = RETAIN_MS + 1;
        for id in 1..SWEEP_EVERY {
            r.put(id, session(0, later), later);
        }
        assert!(r.entry(0).is_none(), "opened more than 30 days ago");
        assert_eq!(r.len() as u64, SWEEP_EVERY - 1);
    }
}
