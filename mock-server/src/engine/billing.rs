//! Accounts' resource packs, concurrency limits and states (SOURCES.md: Rate Limits, Account Information Inquiry, General Info).
//!
//! * **Concurrency**: per account and resource pool, at most `limit` tasks in flight (from
//!   `submitted` until finished or failed); one more create → 429 / 1303 "parallel task over
//!   resource pack limit". Query endpoints never count. TTS, custom voices and audio draw on the
//!   video pool (SOURCES.md: observed deductions). No limit unless one is set.
//! * **Packs**: a succeeded task deducts its `final_unit_deduction` from the account's online packs
//!   of its pool (the one expiring first); a create is refused with 429 / 1102 "Account balance not
//!   enough" when no online pack of the pool holds the cost. Every account starts with one large
//!   pack of each pool, so nothing is refused until packs are set.
//! * **State**: an account set to `exception` / `arrears` / `forbidden` gets 1100 / 1101 / 1103
//!   on every create.

use crate::error::{Code, KlingError};
use dashmap::DashMap;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// A resource pool (pack type), each with its own concurrency (SOURCES.md: Rate Limits).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pool {
    /// Video packs (also TTS, voices, audio).
    Video,
    /// Image packs.
    Image,
    /// Virtual try-on packs.
    TryOn,
}

/// An account's standing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountState {
    /// Everything works.
    #[default]
    Normal,
    /// 1100 Account exception.
    Exception,
    /// 1101 Account in arrears (postpaid).
    Arrears,
    /// 1103 Unauthorized access to the requested resource.
    Forbidden,
}

/// A resource pack (`GET /account/costs`, SOURCES.md: Account Information Inquiry).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pack {
    /// `resource_pack_name`.
    pub name: String,
    /// `resource_pack_id` (assigned when absent).
    #[serde(default)]
    pub id: String,
    /// The pool it serves.
    #[serde(default = "video")]
    pub pool: Pool,
    /// `resource_pack_type`: `decreasing_total` or `constant_period`.
    #[serde(default = "decreasing")]
    pub pack_type: String,
    /// `total_quantity`.
    pub total: f64,
    /// `remaining_quantity` (default: `total`).
    #[serde(default)]
    pub remaining: Option<f64>,
    /// `purchase_time`, Unix ms (default: now).
    #[serde(default)]
    pub purchase_ms: Option<i64>,
    /// `effective_time`, Unix ms (default: purchase).
    #[serde(default)]
    pub effective_ms: Option<i64>,
    /// `invalid_time`, Unix ms (default: effective + 365 days).
    #[serde(default)]
    pub invalid_ms: Option<i64>,
}

fn video() -> Pool {
    Pool::Video
}
fn decreasing() -> String {
    "decreasing_total".into()
}

const YEAR_MS: i64 = 365 * 24 * 3600 * 1000;

impl Pack {
    fn normalise(mut self, now: i64, n: usize) -> Pack {
        if self.id.is_empty() {
            self.id = format!("mock-pack-{n}");
        }
        let purchase = self.purchase_ms.unwrap_or(now);
        let effective = self.effective_ms.unwrap_or(purchase);
        self.purchase_ms = Some(purchase);
        self.effective_ms = Some(effective);
        self.invalid_ms = Some(self.invalid_ms.unwrap_or(effective.saturating_add(YEAR_MS)));
        self.remaining = Some(
            self.remaining
                .unwrap_or(self.total)
                .clamp(0.0, self.total.max(0.0)),
        );
        self
    }

    /// `status` at `now`: `toBeOnline`, `online`, `expired` or `runOut`.
    pub fn status(&self, now: i64) -> &'static str {
        if now < self.effective_ms.unwrap_or(i64::MIN) {
            "toBeOnline"
        } else if now >= self.invalid_ms.unwrap_or(i64::MAX) {
            "expired"
        } else if self.remaining.unwrap_or(0.0) <= 1e-9 {
            "runOut"
        } else {
            "online"
        }
    }

    fn usable(&self, pool: Pool, cost: f64, now: i64) -> bool {
        self.pool == pool
            && self.status(now) == "online"
            && self.remaining.unwrap_or(0.0) + 1e-9 >= cost
    }
}

/// An account's billing settings, as the control plane reads and writes them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccountSettings {
    /// Standing.
    pub state: AccountState,
    /// Tasks in flight allowed per pool (absent: unlimited).
    pub concurrency: BTreeMap<Pool, u32>,
    /// Resource packs.
    pub packs: Vec<Pack>,
}

#[derive(Debug)]
struct AccountBook {
    settings: AccountSettings,
    in_flight: BTreeMap<Pool, u32>,
}

/// Every account's book.
#[derive(Debug, Default)]
pub struct Billing {
    books: DashMap<u32, Mutex<AccountBook>>,
    /// Accounts whose settings or balances changed, for the state store.
    pub dirty: crate::dirty::Dirty<u32>,
}

/// 2100-01-01T00:00:00Z: the default pack is valid until then, so no clock setting expires it.
const FAR_FUTURE_MS: i64 = 4_102_444_800_000;

/// The packs every account starts with, one per pool, valid from 1970 to 2100: 100,000 video
/// units, 100,000 image units and 10,000 try-on units. A live account has only the packs it
/// bought (no image pack: image creates answer 429 / 1102); the mock starts with all three so
/// that every family works until packs are set (FIDELITY.md: accounts).
fn default_packs(now: i64) -> Vec<Pack> {
    [
        ("kling-mock video pack", Pool::Video, 100_000.0),
        ("kling-mock image pack", Pool::Image, 100_000.0),
        ("kling-mock try-on pack", Pool::TryOn, 10_000.0),
    ]
    .into_iter()
    .enumerate()
    .map(|(n, (name, pool, total))| {
        Pack {
            name: name.into(),
            id: format!("mock-pack-{n}"),
            pool,
            pack_type: decreasing(),
            total,
            remaining: None,
            purchase_ms: Some(0),
            effective_ms: Some(0),
            invalid_ms: Some(FAR_FUTURE_MS),
        }
        .normalise(now, n)
    })
    .collect()
}

/// A change to an account's settings: absent parts stay as they are.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccountPatch {
    /// New standing.
    pub state: Option<AccountState>,
    /// New concurrency limits per pool (an empty object removes every limit).
    pub concurrency: Option<BTreeMap<Pool, u32>>,
    /// New packs (replacing all of them).
    pub packs: Option<Vec<Pack>>,
}

impl Billing {
    fn with<R>(&self, account: u32, now: i64, f: impl FnOnce(&mut AccountBook) -> R) -> R {
        let entry = self.books.entry(account).or_insert_with(|| {
            Mutex::new(AccountBook {
                settings: AccountSettings {
                    packs: default_packs(now),
                    ..Default::default()
                },
                in_flight: BTreeMap::new(),
            })
        });
        let mut book = entry.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut book)
    }

    /// Admit a create drawing on `pool` (cost `cost` units): check the account's state, concurrency and
    /// balance; an asynchronous task takes `slots` concurrency slots (1, or `n` for an image task
    /// of `n` images; 0 for a synchronous call) until [`Billing::finish`].
    pub fn admit(
        &self,
        account: u32,
        pool: Pool,
        cost: f64,
        slots: u32,
        now: i64,
    ) -> Result<(), KlingError> {
        self.with(account, now, |b| {
            match b.settings.state {
                AccountState::Normal => {}
                AccountState::Exception => return Err(KlingError::plain(Code::AccountException)),
                AccountState::Arrears => return Err(KlingError::plain(Code::AccountArrears)),
                AccountState::Forbidden => return Err(KlingError::plain(Code::Forbidden)),
            }
            let used = b.in_flight.get(&pool).copied().unwrap_or(0);
            if let Some(limit) = b.settings.concurrency.get(&pool)
                && used + slots.max(1) > *limit
            {
                return Err(KlingError::plain(Code::ConcurrencyLimited));
            }
            if !b.settings.packs.iter().any(|p| p.usable(pool, cost, now)) {
                return Err(KlingError::plain(Code::ResourcePackDepleted));
            }
            if slots > 0 {
                b.in_flight.insert(pool, used + slots);
            }
            Ok(())
        })
    }

    /// A task left flight (finished, failed, or its create was refused after admission),
    /// releasing its `slots`; `charge` units are deducted when it succeeded.
    pub fn finish(&self, account: u32, pool: Pool, slots: u32, charge: Option<f64>, now: i64) {
        self.with(account, now, |b| {
            if let Some(n) = b.in_flight.get_mut(&pool) {
                *n = n.saturating_sub(slots);
            }
            if let Some(cost) = charge {
                self.dirty.mark(account);
                let pick = b
                    .settings
                    .packs
                    .iter_mut()
                    .filter(|p| p.usable(pool, cost, now))
                    .min_by_key(|p| p.invalid_ms.unwrap_or(i64::MAX));
                if let Some(p) = pick {
                    p.remaining = Some(units((p.remaining.unwrap_or(0.0) - cost).max(0.0)));
                }
            }
        });
    }

    /// Take `slots` concurrency slots without checks (a task restored from a saved state).
    pub fn occupy(&self, account: u32, pool: Pool, slots: u32, now: i64) {
        self.with(account, now, |b| {
            *b.in_flight.entry(pool).or_insert(0) += slots
        });
    }

    /// An account's settings if it has a book (for the state store: none means the defaults).
    pub fn saved(&self, account: u32) -> Option<AccountSettings> {
        self.books
            .get(&account)
            .map(|b| b.lock().unwrap_or_else(|e| e.into_inner()).settings.clone())
    }

    /// Every account's settings (for persistence).
    pub fn all_settings(&self) -> Vec<(u32, AccountSettings)> {
        self.books
            .iter()
            .map(|e| {
                (
                    *e.key(),
                    e.value()
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .settings
                        .clone(),
                )
            })
            .collect()
    }

    /// An account's settings and tasks in flight.
    pub fn settings(&self, account: u32, now: i64) -> (AccountSettings, BTreeMap<Pool, u32>) {
        self.with(account, now, |b| (b.settings.clone(), b.in_flight.clone()))
    }

    /// Change the parts of an account's settings that `patch` names.
    pub fn patch(
        &self,
        account: u32,
        patch: AccountPatch,
        now: i64,
    ) -> Result<AccountSettings, KlingError> {
        let (mut s, _) = self.settings(account, now);
        if let Some(st) = patch.state {
            s.state = st;
        }
        if let Some(c) = patch.concurrency {
            s.concurrency = c;
        }
        if let Some(p) = patch.packs {
            s.packs = p;
        }
        self.set(account, s, now)
    }

    /// Replace an account's settings (packs normalised: ids, times and remaining filled in).
    /// Tasks in flight keep their slots.
    pub fn set(
        &self,
        account: u32,
        mut s: AccountSettings,
        now: i64,
    ) -> Result<AccountSettings, KlingError> {
        for p in &s.packs {
            if !(p.total.is_finite() && p.total >= 0.0) {
                return Err(KlingError::param(format!(
                    "pack '{}': total must be a number >= 0",
                    p.name
                )));
            }
            if !matches!(p.pack_type.as_str(), "decreasing_total" | "constant_period") {
                return Err(KlingError::param(
                    "pack_type must be decreasing_total or constant_period",
                ));
            }
        }
        s.packs = s
            .packs
            .into_iter()
            .enumerate()
            .map(|(i, p)| p.normalise(now, i))
            .collect();
        self.with(account, now, |b| b.settings = s.clone());
        self.dirty.mark(account);
        Ok(s)
    }

    /// Forget an account's book (or all), back to the starting pack.
    pub fn reset(&self, account: Option<u32>) {
        match account {
            Some(a) => {
                self.books.remove(&a);
                self.dirty.mark(a);
            }
            None => {
                self.dirty.mark_all(self.books.iter().map(|e| *e.key()));
                self.books.clear();
            }
        }
    }
}

/// A balance in units as Kling shows one (`99999.65`, never `99999.64999999998`): costs have at
/// most a few decimals, so a balance is kept rounded to a millionth, where binary floating point
/// would otherwise carry the error of every deduction into the JSON.
fn units(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrency_is_per_pool_and_released_when_tasks_finish() {
        let b = Billing::default();
        let mut s = AccountSettings::default();
        s.concurrency.insert(Pool::Video, 2);
        s.packs = default_packs(0);
        b.set(1, s, 0).unwrap();
        b.admit(1, Pool::Video, 0.05, 1, 0).unwrap();
        b.admit(1, Pool::Video, 0.05, 1, 0).unwrap();
        assert_eq!(
            b.admit(1, Pool::Video, 0.05, 1, 0).unwrap_err().code,
            Code::ConcurrencyLimited
        );
        b.admit(2, Pool::Video, 0.05, 1, 0).unwrap();
        b.finish(1, Pool::Video, 1, Some(0.05), 0);
        b.admit(1, Pool::Video, 0.05, 1, 0).unwrap();
    }

    #[test]
    fn packs_pay_for_succeeded_tasks_and_run_out() {
        let b = Billing::default();
        let s: AccountSettings =
            serde_json::from_value(serde_json::json!({"packs": [{"name": "small", "total": 0.1}]}))
                .unwrap();
        b.set(1, s, 1000).unwrap();
        for _ in 0..2 {
            b.admit(1, Pool::Video, 0.05, 0, 1000).unwrap();
            b.finish(1, Pool::Video, 0, Some(0.05), 1000);
        }
        let e = b.admit(1, Pool::Video, 0.05, 0, 1000).unwrap_err();
        assert_eq!(
            (e.code, e.message.as_ref()),
            (Code::ResourcePackDepleted, "Account balance not enough")
        );
        let (s, _) = b.settings(1, 1000);
        assert_eq!(s.packs[0].status(1000), "runOut");
    }

    #[test]
    fn balances_read_as_decimals_after_many_deductions() {
        let b = Billing::default();
        let s: AccountSettings = serde_json::from_value(
            serde_json::json!({"packs": [{"name": "big", "total": 100000}]}),
        )
        .unwrap();
        b.set(1, s, 0).unwrap();
        for _ in 0..7 {
            b.admit(1, Pool::Video, 0.05, 0, 0).unwrap();
            b.finish(1, Pool::Video, 0, Some(0.05), 0);
        }
        let (s, _) = b.settings(1, 0);
        assert_eq!(
            serde_json::json!(s.packs[0].remaining).to_string(),
            "99999.65"
        );
    }

    #[test]
    fn packs_outside_their_validity_do_not_pay() {
        let b = Billing::default();
        let s: AccountSettings = serde_json::from_value(serde_json::json!({
            "packs": [{"name": "later", "total": 10, "effective_ms": 5000, "invalid_ms": 9000}]
        }))
        .unwrap();
        b.set(1, s, 0).unwrap();
        assert_eq!(
            b.admit(1, Pool::Video, 0.05, 0, 4999).unwrap_err().code,
            Code::ResourcePackDepleted
        );
        b.admit(1, Pool::Video, 0.05, 0, 5000).unwrap();
        assert!(b.admit(1, Pool::Video, 0.05, 0, 9000).is_err());
    }

    #[test]
    fn account_states_refuse_creates_with_their_codes() {
        let b = Billing::default();
        for (state, code) in [
            (AccountState::Exception, Code::AccountException),
            (AccountState::Arrears, Code::AccountArrears),
            (AccountState::Forbidden, Code::Forbidden),
        ] {
            b.set(
                1,
                AccountSettings {
                    state,
                    packs: default_packs(0),
                    ..Default::default()
                },
                0,
            )
            .unwrap();
            assert_eq!(b.admit(1, Pool::Video, 0.05, 0, 0).unwrap_err().code, code);
        }
    }
}
