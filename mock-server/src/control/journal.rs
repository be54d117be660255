//! The request journal: a bounded ring of the requests the public API received and what it
//! answered (including the fault or rule that applied). Size configurable; 0 switches it off.

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::sync::Mutex;

/// One journaled request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// Sequence number (counts every journaled request since start or reset).
    pub seq: u64,
    /// Mock-clock time the request arrived, Unix ms.
    pub at_ms: i64,
    /// HTTP method.
    pub method: String,
    /// Path.
    pub path: String,
    /// Query string, if any.
    pub query: Option<String>,
    /// The access key the token names (unverified), if any.
    pub account: Option<String>,
    /// The request id answered.
    pub request_id: Option<String>,
    /// HTTP status answered (0: no response at all, a reset, close or hang fault).
    pub status: u16,
    /// Service code answered (absent for media files).
    pub code: Option<u32>,
    /// The HTTP fault rule that answered, if any.
    pub fault: Option<String>,
    /// The outcome rule that decided the request's fate, if any (`outcome rule N`,
    /// `failure rate KIND`).
    pub rule: Option<String>,
    /// Injected latency, ms.
    pub delay_ms: u64,
}

/// Which entries to return.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Filter {
    /// Path glob.
    pub path: Option<String>,
    /// Access key.
    pub account: Option<String>,
    /// Arrived at or after (mock clock, Unix ms).
    pub since_ms: Option<i64>,
    /// Arrived before.
    pub until_ms: Option<i64>,
    /// At most this many, the newest.
    pub limit: Option<usize>,
}

#[derive(Debug, Default)]
struct Ring {
    entries: VecDeque<Entry>,
    capacity: usize,
    next_seq: u64,
}

/// The journal. A std Mutex: each push or read holds it briefly, never across `.await`.
#[derive(Debug)]
pub struct Journal {
    ring: Mutex<Ring>,
}

impl Journal {
    /// A journal keeping the last `capacity` requests (0: off).
    pub fn new(capacity: usize) -> Journal {
        Journal {
            ring: Mutex::new(Ring {
                capacity,
                ..Default::default()
            }),
        }
    }

    fn ring(&self) -> std::sync::MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether it records.
    pub fn enabled(&self) -> bool {
        self.ring().capacity > 0
    }

    /// The capacity (0: off).
    pub fn capacity(&self) -> usize {
        self.ring().capacity
    }

    /// Change the capacity (0 switches it off and empties it).
    pub fn resize(&self, capacity: usize) {
        let mut r = self.ring();
        r.capacity = capacity;
        while r.entries.len() > capacity {
            r.entries.pop_front();
        }
    }

    /// Record a request (its `seq` is assigned here).
    pub fn push(&self, mut e: Entry) {
        let mut r = self.ring();
        if r.capacity == 0 {
            return;
        }
        e.seq = r.next_seq;
        r.next_seq += 1;
        if r.entries.len() == r.capacity {
            r.entries.pop_front();
        }
        r.entries.push_back(e);
    }

    /// Entries matching `f`, oldest first.
    pub fn query(&self, f: &Filter) -> Vec<Entry> {
        let r = self.ring();
        let mut out: Vec<Entry> = r
            .entries
            .iter()
            .filter(|e| {
                f.path
                    .as_deref()
                    .is_none_or(|p| super::rules::glob(p, &e.path))
            })
            .filter(|e| f.account.is_none() || e.account == f.account)
            .filter(|e| f.since_ms.is_none_or(|s| e.at_ms >= s))
            .filter(|e| f.until_ms.is_none_or(|u| e.at_ms < u))
            .cloned()
            .collect();
        if let Some(n) = f.limit
            && out.len() > n
        {
            out.drain(..out.len() - n);
        }
        out
    }

    /// Forget every entry.
    pub fn clear(&self) {
        self.ring().entries.clear();
    }

    /// Forget the entries of one account.
    pub fn clear_account(&self, account: &str) {
        self.ring()
            .entries
            .retain(|e| e.account.as_deref() != Some(account));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, account: &str, at_ms: i64) -> Entry {
        Entry {
            seq: 0,
            at_ms,
            method: "GET".into(),
            path: path.into(),
            query: None,
            account: Some(account.into()),
            request_id: None,
            status: 200,
            code: Some(0),
            fault: None,
            rule: None,
            delay_ms: 0,
        }
    }

    #[test]
    fn the_ring_keeps_the_newest_and_filters() {
        let j = Journal::new(3);
        for i in 0..5 {
            j.push(entry(
                if i % 2 == 0 {
                    "/v1/audio/tts"
                } else {
                    "/v1/general/presets-voices"
                },
                "a",
                i,
            ));
        }
        let all = j.query(&Filter::default());
        assert_eq!(all.iter().map(|e| e.seq).collect::<Vec<_>>(), [2, 3, 4]);
        assert_eq!(
            j.query(&Filter {
                path: Some("/v1/audio/*".into()),
                ..Default::default()
            })
            .len(),
            2
        );
        assert_eq!(
            j.query(&Filter {
                since_ms: Some(4),
                ..Default::default()
            })
            .len(),
            1
        );
        assert_eq!(
            j.query(&Filter {
                limit: Some(1),
                ..Default::default()
            })[0]
                .seq,
            4
        );
        j.resize(0);
        j.push(entry("/x", "a", 9));
        assert!(j.query(&Filter::default()).is_empty());
    }
}
