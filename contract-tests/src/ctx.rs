//! What every property gets: the target, the oracle, the budget, the callback receiver, the
//! values families take from other families' tasks, notes for the report, and a record of what
//! this run created (the harness deletes nothing else).

use crate::model::{Contract, Need, Verdict, need_placeholder};
use crate::receiver::Receiver;
use crate::target::{Auth, Reply, Request, Target};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Thousandths of a unit (the budget counts in them: costs such as 1.8 or 0.05 add up exactly).
const MILLI: f64 = 1000.0;

/// Units of the resource pack left to spend. `None`: unlimited. A create costs its unit cost:
/// a video create what the cost table says (`fixtures/video-models.json`), any other billable
/// create one unit (an upper bound on the 0.05 observed for TTS and voices).
#[derive(Debug)]
pub struct Budget {
    left: Option<AtomicI64>,
    /// Billable creates sent.
    pub spent: AtomicU64,
    /// Thousandths of a unit spent.
    spent_milli: AtomicU64,
}

impl Budget {
    /// A budget of `n` units (`None`: unlimited).
    pub fn new(n: Option<u64>) -> Budget {
        Budget {
            left: n.map(|n| AtomicI64::new((n.min(i64::MAX as u64 / 1000) * 1000) as i64)),
            spent: AtomicU64::new(0),
            spent_milli: AtomicU64::new(0),
        }
    }

    /// Take `units`; false (and nothing taken) when fewer are left.
    pub fn take(&self, units: f64) -> bool {
        let milli = (units.max(0.0) * MILLI).ceil() as i64;
        let ok = match &self.left {
            None => true,
            Some(left) => left
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |l| {
                    (l >= milli).then_some(l - milli)
                })
                .is_ok(),
        };
        if ok {
            self.spent.fetch_add(1, Ordering::Relaxed);
            self.spent_milli.fetch_add(milli as u64, Ordering::Relaxed);
        }
        ok
    }

    /// Whether at least `units` are left.
    pub fn has(&self, units: f64) -> bool {
        match &self.left {
            None => true,
            Some(left) => left.load(Ordering::Acquire) >= (units * MILLI).ceil() as i64,
        }
    }

    /// Units spent.
    pub fn spent_units(&self) -> f64 {
        self.spent_milli.load(Ordering::Relaxed) as f64 / MILLI
    }
}

/// A value made for a family's `needs`: what it is, and the task and body that made it.
#[derive(Clone, Debug)]
pub struct Source {
    /// The family that made it.
    pub family: String,
    /// The body of the task that made it (resolved).
    pub body: Value,
    /// Its task id.
    pub task_id: String,
    /// Its first result.
    pub result: Value,
    /// The value handed out.
    pub value: Value,
}

/// Why a needed value could not be made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NeedError {
    /// The source task was not sent (budget, dry run).
    NotSent(NotSent),
    /// The source task was refused or did not succeed.
    Failed(String),
}

/// Why a create was not sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotSent {
    /// The budget is spent.
    Budget,
    /// `--dry-run`: printed instead.
    DryRun,
    /// A value it takes from another family's task could not be made (that task was refused
    /// or failed): a failure of the target, not of the budget.
    NeedFailed(String),
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
    /// Notes for the report (a check that could not run, and why).
    notes: Mutex<Vec<String>>,
    /// Values made for `needs`, by (family, field, account).
    sources: Mutex<HashMap<(String, String, usize), Source>>,
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
            notes: Mutex::default(),
            sources: Mutex::default(),
            unique: AtomicU64::new(0),
        }
    }

    /// A string unique in this run (for `external_task_id`s).
    pub fn unique(&self, prefix: &str) -> String {
        let n = self.unique.fetch_add(1, Ordering::Relaxed);
        format!("{prefix}-{}-{n}", crate::target::now_secs())
    }

    /// Add a note to the report (once).
    pub fn note(&self, note: impl Into<String>) {
        let note = note.into();
        let mut notes = self.notes.lock().unwrap_or_else(|e| e.into_inner());
        if !notes.contains(&note) {
            crate::report::progress(&format!("  note: {note}"));
            notes.push(note);
        }
    }

    /// The notes so far.
    pub fn notes(&self) -> Vec<String> {
        self.notes.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The source of a value made for `needs` (a video id or URL this run made).
    pub fn source_of(&self, value: &Value) -> Option<Source> {
        self.sources
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .find(|s| &s.value == value)
            .cloned()
    }

    /// Fill the values `body` takes from other families' tasks (the family's `needs`): a task of
    /// the source family is made from its example once per account and run, and its first result
    /// gives the value. Fields holding something else than the placeholder or stand-in are left.
    pub fn resolve_needs(
        &self,
        endpoint: &str,
        account: usize,
        body: &mut Value,
    ) -> Result<(), NeedError> {
        let Some((owner, needs)) = self
            .contract
            .needs_of(endpoint)
            .map(|(o, n)| (o, n.clone()))
        else {
            return Ok(());
        };
        let fields = self.contract.endpoint(endpoint).fields.clone();
        for field in needs.keys() {
            let Some(current) = crate::model::at_path(body, field).cloned() else {
                continue;
            };
            let stand_in =
                crate::bodies::lookup_def(&fields, field).and_then(crate::bodies::stand_in);
            if current != need_placeholder(field) && Some(&current) != stand_in.as_ref() {
                continue;
            }
            let source = self.source(&owner, &needs, field, account)?;
            crate::model::set_at_path(body, field, source.value);
        }
        Ok(())
    }

    fn source(
        &self,
        owner: &str,
        needs: &BTreeMap<String, Need>,
        field: &str,
        account: usize,
    ) -> Result<Source, NeedError> {
        let key = (owner.to_string(), field.to_string(), account);
        if let Some(s) = self
            .sources
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok(s.clone());
        }
        let need = &needs[field];
        if let Some(call) = &need.from_call {
            return self.call_source(owner, need, call, account);
        }
        let from = self
            .contract
            .family(&need.from_family)
            .ok_or_else(|| NeedError::Failed(format!("no family {}", need.from_family)))?
            .clone();
        let mut body = from.example.clone();
        if let Some(o) = body.as_object_mut() {
            o.extend(need.example_override.clone());
        }
        let reply = self
            .create(&from.create, account, body.clone())
            .map_err(NeedError::NotSent)?;
        let id = reply.data()["task_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if !reply.is_success() || id.is_empty() {
            return Err(NeedError::Failed(format!(
                "the {} task {owner} needs was refused: {reply}",
                from.name
            )));
        }
        let get = self.contract.endpoint(&from.get).path.clone();
        let last = self.settle(account, &get, &id).pop();
        let result = last
            .as_ref()
            .filter(|r| r.data()["task_status"] == "succeed")
            .map(|r| r.data()["task_result"][from.results.as_str()][0].clone())
            .filter(|r| !r.is_null())
            .ok_or_else(|| {
                NeedError::Failed(format!(
                    "the {} task {id} that {owner} needs did not succeed: {}",
                    from.name,
                    last.map_or("no answer".into(), |r| r.to_string())
                ))
            })?;
        let value = result[need.result_field.as_str()].clone();
        if value.is_null() {
            return Err(NeedError::Failed(format!(
                "the {} task {id} has no {} in its result",
                from.name, need.result_field
            )));
        }
        let source = Source {
            family: from.name.clone(),
            body,
            task_id: id,
            result,
            value,
        };
        self.sources
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, source.clone());
        Ok(source)
    }

    /// A value taken from a synchronous call's answer: the call (and its follow-ups) is made once
    /// per owner, endpoint and account (every time when `fresh`), and each field takes its
    /// `result_field` from the same answer.
    fn call_source(
        &self,
        owner: &str,
        need: &Need,
        call: &crate::model::CallNeed,
        account: usize,
    ) -> Result<Source, NeedError> {
        let key = (
            owner.to_string(),
            format!("call:{}", call.endpoint),
            account,
        );
        let cached = if call.fresh {
            None
        } else {
            self.sources
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&key)
                .cloned()
        };
        let mut source = match cached {
            Some(s) => s,
            None => {
                let s = self.make_call(owner, call, account)?;
                if !call.fresh {
                    self.sources
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(key, s.clone());
                }
                s
            }
        };
        let path = &need.result_field;
        source.value = crate::model::at_path(&source.result, path)
            .cloned()
            .ok_or_else(|| {
                NeedError::Failed(format!(
                    "the {} answer has no {path}: {}",
                    call.endpoint, source.result
                ))
            })?;
        Ok(source)
    }

    /// Make a need's call and its follow-ups (each follow-up's `take` fields from the first
    /// answer): the first answer's `data` as the source.
    fn make_call(
        &self,
        owner: &str,
        call: &crate::model::CallNeed,
        account: usize,
    ) -> Result<Source, NeedError> {
        let reply = self
            .create(&call.endpoint, account, call.body.clone())
            .map_err(NeedError::NotSent)?;
        if !reply.is_success() {
            return Err(NeedError::Failed(format!(
                "the {} call {owner} needs was refused: {reply}",
                call.endpoint
            )));
        }
        let data = reply.data().clone();
        for next in &call.then {
            let mut body = next.body.clone();
            for (field, from) in &next.take {
                let v = crate::model::at_path(&data, from).cloned().ok_or_else(|| {
                    NeedError::Failed(format!(
                        "the {} answer has no {from} for {}: {data}",
                        call.endpoint, next.endpoint
                    ))
                })?;
                crate::model::set_at_path(&mut body, field, v);
            }
            let r = self
                .create(&next.endpoint, account, body)
                .map_err(NeedError::NotSent)?;
            if !r.is_success() {
                return Err(NeedError::Failed(format!(
                    "the {} call after {} that {owner} needs was refused: {r}",
                    next.endpoint, call.endpoint
                )));
            }
        }
        Ok(Source {
            family: call.endpoint.clone(),
            body: call.body.clone(),
            task_id: String::new(),
            result: data,
            value: Value::Null,
        })
    }

    /// Send a create (or another billable POST) of `endpoint` as `account`, its `needs` filled
    /// first where the budget allows (else their stand-ins are sent). A request the oracle
    /// expects to be refused costs nothing and is always sent; one it expects to be accepted
    /// takes its unit cost from the budget, and is not sent without it (or in a dry run).
    pub fn create(&self, endpoint: &str, account: usize, body: Value) -> Result<Reply, NotSent> {
        let ep = self.contract.endpoint(endpoint);
        let mut body = crate::bodies::with_stand_ins(&self.contract, endpoint, body);
        let expected = self.contract.judge(endpoint, &body);
        match self.resolve_needs(endpoint, account, &mut body) {
            Ok(()) => {}
            Err(NeedError::NotSent(n)) if expected == Verdict::Accept => return Err(n),
            Err(NeedError::Failed(why)) if expected == Verdict::Accept => {
                return Err(NotSent::NeedFailed(why));
            }
            Err(_) => {}
        }
        if ep.billable && expected == Verdict::Accept {
            if self.dry_run {
                self.dry_run_log
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(format!("{} {} {}", ep.method, ep.path, body));
                return Err(NotSent::DryRun);
            }
            if !self.budget.take(self.contract.unit_cost(endpoint, &body)) {
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
