//! `Clock`: the only source of "now" for tasks, timestamps and lifecycle timers.
//!
//! Two modes: **real** (wall time plus an offset, so the time can be set while it keeps running)
//! and **frozen** (time stands still until it is set or advanced). Moving the clock wakes the
//! lifecycle driver, which runs every transition that fell due (see `engine::lifecycle`).
//! Authentication deliberately does *not* use this clock: clients sign their tokens with their own
//! real clocks, so `exp`/`nbf` are checked against [`Clock::wall_ms`] (README, fidelity notes).

use std::sync::Arc;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::Notify;

/// Shared handle to the mock's clock. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Clock {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// The mode. A std Mutex: held for a few instructions, never across an `.await`.
    mode: Mutex<Mode>,
    /// Woken whenever the time jumps (set, advance, freeze, resume), so timers re-plan.
    changed: Notify,
}

/// How the clock moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Wall time plus `offset_ms`.
    Real {
        /// Added to the wall clock, in milliseconds.
        offset_ms: i64,
    },
    /// Standing still at `at_ms`.
    Frozen {
        /// The frozen time, Unix milliseconds.
        at_ms: i64,
    },
}

impl Default for Clock {
    fn default() -> Self {
        Clock::real()
    }
}

impl Clock {
    /// A clock that follows wall time.
    pub fn real() -> Self {
        Clock::with_mode(Mode::Real { offset_ms: 0 })
    }

    /// A clock frozen at `at_ms` (Unix milliseconds).
    pub fn frozen(at_ms: i64) -> Self {
        Clock::with_mode(Mode::Frozen { at_ms })
    }

    fn with_mode(mode: Mode) -> Self {
        Clock {
            inner: Arc::new(Inner {
                mode: Mutex::new(mode),
                changed: Notify::new(),
            }),
        }
    }

    /// Real wall time, Unix milliseconds (used for token validity, never for task timestamps).
    pub fn wall_ms() -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }

    /// The mock's "now", Unix milliseconds.
    pub fn now_ms(&self) -> i64 {
        match self.mode() {
            Mode::Real { offset_ms } => Clock::wall_ms().saturating_add(offset_ms),
            Mode::Frozen { at_ms } => at_ms,
        }
    }

    /// The current mode.
    pub fn mode(&self) -> Mode {
        *self.inner.mode.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the clock stands still.
    pub fn is_frozen(&self) -> bool {
        matches!(self.mode(), Mode::Frozen { .. })
    }

    /// Stop the clock at its current time.
    pub fn freeze(&self) {
        let now = self.now_ms();
        self.set_mode(Mode::Frozen { at_ms: now });
    }

    /// Let the clock run again from its current time.
    pub fn resume(&self) {
        let now = self.now_ms();
        self.set_mode(Mode::Real {
            // Saturating: a clock set near i64::MIN or MAX must not overflow (or wrap).
            offset_ms: now.saturating_sub(Clock::wall_ms()),
        });
    }

    /// Jump to `at_ms`, keeping the mode (a running clock keeps running from there).
    pub fn set(&self, at_ms: i64) {
        let mode = match self.mode() {
            Mode::Frozen { .. } => Mode::Frozen { at_ms },
            Mode::Real { .. } => Mode::Real {
                offset_ms: at_ms.saturating_sub(Clock::wall_ms()),
            },
        };
        self.set_mode(mode);
    }

    /// Move the clock forward by `ms` milliseconds (negative values are ignored: time never runs
    /// backwards by advancing).
    pub fn advance(&self, ms: i64) {
        let ms = ms.max(0);
        let mode = match self.mode() {
            Mode::Frozen { at_ms } => Mode::Frozen {
                at_ms: at_ms.saturating_add(ms),
            },
            Mode::Real { offset_ms } => Mode::Real {
                offset_ms: offset_ms.saturating_add(ms),
            },
        };
        self.set_mode(mode);
    }

    fn set_mode(&self, mode: Mode) {
        *self.inner.mode.lock().unwrap_or_else(|e| e.into_inner()) = mode;
        self.inner.changed.notify_waiters();
    }

    /// Resolves the next time the clock jumps. Register before reading the time to miss nothing.
    pub(crate) fn changed(&self) -> tokio::sync::futures::Notified<'_> {
        self.inner.changed.notified()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frozen_clock_moves_only_when_advanced_or_set() {
        let c = Clock::frozen(1_000);
        assert_eq!(c.now_ms(), 1_000);
        c.advance(250);
        assert_eq!(c.now_ms(), 1_250);
        c.advance(-50);
        assert_eq!(c.now_ms(), 1_250);
        c.set(5_000);
        assert_eq!(c.now_ms(), 5_000);
    }

    #[test]
    fn a_real_clock_follows_wall_time_with_its_offset() {
        let c = Clock::real();
        c.advance(3_600_000);
        let d = c.now_ms() - Clock::wall_ms();
        assert!((3_599_000..=3_601_000).contains(&d), "offset {d}");
        c.freeze();
        assert!(c.is_frozen());
        let t = c.now_ms();
        c.resume();
        assert!(c.now_ms() >= t);
    }
}
