//! What every property gets: the target, the oracle, the budget, the callback receiver, and a
//! record of what this run created (the harness deletes nothing else).

use crate::model::{Contract, Verdict};
use crate::receiver::Receiver;
use crate::target::{Auth, Reply, Request, Target};
use serde_json::Value;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Billable creates left. `None`: unlimited.
#[derive(Debug)]
pub struct Budget {
    left: Option<AtomicI64>,
    /// Billable creates sent.
    pub spent: AtomicU64,
}

impl Budget {
    /// A budget of `n` billable creates (`None`: unlimited).
    pub fn new(n: Option<u64>) -> Budget {
        Budget {
            left: n.map(|n| AtomicI64::new(n.min(i64::MAX as u64) as i64)),
            spent: AtomicU64::new(0),
        }
    }

    /// Take one unit; false when none is left.
    pub fn take(&self) -> bool {
        let ok = match &self.left {
            None => true,
            Some(left) => left.fetch_sub(1, Ordering::AcqRel) > 0,
        };
        if ok {
            self.spent.fetch_add(1, Ordering::Relaxed);
        }
        ok
    }

    /// Whether at least `n` units are left.
    pub fn has(&self, n: u64) -> bool {
        match &self.left {
            None => true,
            Some(left) => left.load(Ordering::Acquire) >= n as i64,
        }
    }
}

/// Why a create was not sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotSent {
    /// The budget is spent.
    Budget,
    /// `--dry-run`: printed instead.
    DryRun,
}

/// Something this run created.
#[derive(Clone, Debug)]
pub struct Created {
    /// Endpoint family, e.g. `text_to_audio`.
    pub kind: String,
    /// Account index.
    pub account: usize,
    /// Task id.
    pub task_id: String,
}

/// The harness context.
pub struct Ctx {
    /// Where requests go.
    pub target: Target,
    /// The oracle.
    pub contract: Contract,
    /// Billable creates.
    pub budget: Budget,
    /// `--dry-run`.
    pub dry_run: bool,
    /// Cases per property.
    pub cases: u32,
    /// The loopback callback receiver, if the target can reach one.
    pub receiver: Option<Receiver>,
    /// How long to wait for a task to finish (real time for remote targets).
    pub settle_timeout: Duration,
    created: Mutex<Vec<Created>>,
    /// What a dry run would have created.
    pub dry_run_log: Mutex<Vec<String>>,
    unique: AtomicU64,
}

impl Ctx {
    /// A context.
    pub fn new(target: Target, contract: Contract, budget: Budget, cases: u32) -> Ctx {
        Ctx {
            target,
            contract,
            budget,
            dry_run: false,
            cases,
            receiver: None,
            settle_timeout: Duration::from_secs(300),
            created: Mutex::default(),
            dry_run_log: Mutex::default(),
            unique: AtomicU64::new(0),
        }
    }

    /// A string unique in this run (for `external_task_id`s).
    pub fn unique(&self, prefix: &str) -> String {
        let n = self.unique.fetch_add(1, Ordering::Relaxed);
        format!("{prefix}-{}-{n}", crate::target::now_secs())
    }

    /// Send a create (or another billable POST) of `endpoint` as `account`. A request the oracle
    /// expects to be refused costs nothing and is always sent; one it expects to be accepted takes
    /// one unit of the budget, and is not sent without one (or in a dry run).
    pub fn create(&self, endpoint: &str, account: usize, body: Value) -> Result<Reply, NotSent> {
        let ep = self.contract.endpoint(endpoint);
        let expected = self.contract.judge(endpoint, &body);
        if ep.billable && expected == Verdict::Accept {
            if self.dry_run {
                self.dry_run_log
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(format!("{} {} {}", ep.method, ep.path, body));
                return Err(NotSent::DryRun);
            }
            if !self.budget.take() {
                return Err(NotSent::Budget);
            }
        }
        let reply = self
            .target
            .call(&Request::post(ep.path.clone(), body).auth(Auth::Account(account)));
        if reply.is_success()
            && let Some(kind) = &ep.creates
            && let Some(id) = reply.data()["task_id"].as_str()
        {
            self.created
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(Created {
                    kind: kind.clone(),
                    account,
                    task_id: id.to_string(),
                });
        }
        Ok(reply)
    }

    /// Send a create the documents say must be refused (a duplicate `external_task_id`, ...):
    /// free, so sent without budget. If the target wrongly accepts it, the property fails.
    pub fn send_refused(&self, endpoint: &str, account: usize, body: Value) -> Reply {
        let ep = self.contract.endpoint(endpoint);
        self.target
            .call(&Request::post(ep.path.clone(), body).auth(Auth::Account(account)))
    }

    /// Whether this run created task `task_id` as `account`.
    pub fn created_by_us(&self, account: usize, task_id: &str) -> bool {
        self.created
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|c| c.account == account && c.task_id == task_id)
    }

    /// Everything created so far.
    pub fn created(&self) -> Vec<Created> {
        self.created
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// GET `path` as `account`.
    pub fn get(&self, account: usize, path: &str) -> Reply {
        self.target
            .call(&Request::get(path).auth(Auth::Account(account)))
    }

    /// Poll task `id` at `get_path` (with `{id}`) until it is terminal; every answer seen, in order.
    /// Time passes between polls (virtually for the in-process mock).
    pub fn settle(&self, account: usize, get_path: &str, id: &str) -> Vec<Reply> {
        let path = get_path.replace("{id}", id);
        let start = Instant::now();
        let mut seen = Vec::new();
        let step = if self.target.virtual_time() {
            Duration::from_millis(500)
        } else {
            Duration::from_millis(400)
        };
        let mut waited = Duration::ZERO;
        loop {
            let r = self.get(account, &path);
            let terminal = matches!(r.data()["task_status"].as_str(), Some("succeed" | "failed"));
            let stop = !r.is_success() || terminal;
            seen.push(r);
            if stop || start.elapsed() > self.settle_timeout || waited > Duration::from_secs(3600) {
                return seen;
            }
            self.target.pass(step);
            waited += step;
        }
    }
}
