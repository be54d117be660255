//! Callback delivery: POST the task object to `callback_url` on every status change.
//!
//! The body is the single-query `data` object as it was at that change (SOURCES.md: Callback Protocol: the task
//! object itself, no envelope). Deliveries of one task go out strictly in order, one at a time,
//! each retried with exponential backoff before the next is sent; different tasks are delivered
//! in parallel. Everything runs on spawned tasks: a slow or dead receiver never delays an API
//! answer, and [`Callbacks::enqueue`] never waits (a few short std-mutex sections, no I/O).
//!
//! Under control, for tests of a client's webhook handling:
//! * a **delivery log** ([`CallbackAttempt`]): every attempt, and every change that was never sent
//!   and why, in a bounded ring ([`CallbackConfig::log_capacity`]);
//! * **faults** ([`CallbackFaults`]), changeable at runtime: extra delay, duplicates, drops,
//!   reordering. Every random choice is drawn, when the change is queued, from one generator
//!   seeded at construction, so the same seed and the same sequence of changes fault the same
//!   deliveries;
//! * a **bounded queue** ([`CallbackConfig::queue_limit`]): changes beyond it are dropped and
//!   counted ([`CallbackStats::dropped`]);
//! * **signing** ([`super::webhook`]) when a webhook secret is configured;
//! * **safety**, since a caller chooses the URL: an attempt is bounded in time
//!   ([`CallbackConfig::timeout`], [`CallbackConfig::connect_timeout`]) and in what it reads (the
//!   status, then at most [`CALLBACK_RESPONSE_LIMIT`] bytes of the body, thrown away); redirects
//!   are never followed (a 3xx is a failed attempt, [`AttemptResult::Redirect`]); with an
//!   allow-list ([`CallbackConfig::allow`]) a callback to any other host is not sent
//!   ([`AttemptResult::Blocked`]). Nothing here runs on the request path and no lock is held
//!   across an await, so a receiver that is down, slow or failing never slows an API answer.
//!   Downloads of foreign inputs (`--fetch-inputs`, [`super::downloads`]) use the same client
//!   ([`guarded_client`]) and allow-list checks;
//! * **idle waiting** ([`Callbacks::idle`]): "advance the clock, then wait until every callback
//!   it caused has been delivered", without polling.
//!
//! Times: the log's `at_ms` and the `webhook-timestamp` header come from the mock [`Clock`]; the
//! retry backoff, the fault delay and the attempt timeouts are real-time waits (a frozen mock
//! clock must not stall deliveries).

use super::view::Status;
use super::webhook::{AllowResolver, CallbackAllow, NotAllowed, WebhookSecret};
use crate::clock::Clock;
use bytes::Bytes;
use dashmap::DashMap;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, mpsc};

/// Default number of callback delivery attempts in flight at once.
pub const DEFAULT_CALLBACK_CONCURRENCY: usize = 64;
/// Default timeout of one callback delivery attempt.
pub const DEFAULT_CALLBACK_TIMEOUT: Duration = Duration::from_secs(10);
/// Default timeout of connecting to a callback receiver (within the attempt's timeout).
pub const DEFAULT_CALLBACK_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Most bytes of a callback receiver's answer body that are read (and thrown away: only the
/// status counts). A longer or endless body is cut off by closing the connection.
pub const CALLBACK_RESPONSE_LIMIT: usize = 64 * 1024;
/// Default number of retries after a failed callback delivery.
pub const DEFAULT_CALLBACK_RETRIES: u32 = 3;
/// Default delay before the first callback retry (doubled for each further retry).
pub const DEFAULT_CALLBACK_BACKOFF: Duration = Duration::from_secs(1);
/// Default cap on pending callback deliveries (queued or in flight, all tasks together).
pub const DEFAULT_CALLBACK_QUEUE: usize = 10_000;
/// Default number of delivery attempts the callback log keeps.
pub const DEFAULT_CALLBACK_LOG: usize = 10_000;

/// Callback delivery settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallbackConfig {
    /// Timeout of one whole delivery attempt: connecting, sending, and the receiver's answer
    /// (its status, then at most [`CALLBACK_RESPONSE_LIMIT`] bytes of its body).
    pub timeout: Duration,
    /// Timeout of connecting to the receiver (DNS, TCP and TLS), within [`Self::timeout`].
    pub connect_timeout: Duration,
    /// Where callbacks may go: host names, `*.domain` wildcards and IP networks. Empty: anywhere.
    /// A callback to any other host is not sent (logged as blocked, never retried).
    pub allow: CallbackAllow,
    /// Retries after a failed attempt (so at most `1 + retries` attempts per status change).
    pub retries: u32,
    /// Delay before the first retry; doubled for each further retry (real time, not the mock
    /// clock).
    pub backoff: Duration,
    /// Most status changes pending delivery (queued, held or in flight) across all tasks; a
    /// change arriving when the cap is reached is dropped and counted
    /// ([`CallbackStats::dropped`](crate::engine::CallbackStats::dropped)).
    pub queue_limit: usize,
    /// Delivery attempts kept by the callback log (the oldest go first); 0 keeps none.
    pub log_capacity: usize,
    /// Standard Webhooks secret (`whsec_<base64>`): when set, every delivery is signed with the
    /// `webhook-id`, `webhook-timestamp` and `webhook-signature` headers, as Kling does.
    pub webhook_secret: Option<WebhookSecret>,
    /// Delivery attempts in flight at once, across all tasks (more wait their turn): a burst of
    /// status changes does not open thousands of connections to one receiver.
    pub concurrency: usize,
}

impl Default for CallbackConfig {
    fn default() -> Self {
        CallbackConfig {
            timeout: DEFAULT_CALLBACK_TIMEOUT,
            connect_timeout: DEFAULT_CALLBACK_CONNECT_TIMEOUT,
            allow: CallbackAllow::default(),
            retries: DEFAULT_CALLBACK_RETRIES,
            backoff: DEFAULT_CALLBACK_BACKOFF,
            queue_limit: DEFAULT_CALLBACK_QUEUE,
            log_capacity: DEFAULT_CALLBACK_LOG,
            webhook_secret: None,
            concurrency: DEFAULT_CALLBACK_CONCURRENCY,
        }
    }
}

/// Longest (real) time a delivery held back by the reorder fault waits for its task's next
/// change. The held delivery normally goes right after that next change, or as soon as the task's
/// queue closes (its final status was queued or dropped); this limit only matters for a task
/// that stops changing before it finishes (e.g. moved by hand, or forgotten).
pub const REORDER_HOLD_LIMIT: Duration = Duration::from_secs(10);

/// Longest `Location` kept in the log of a redirect (the log holds thousands of entries).
const LOCATION_LOG_LIMIT: usize = 512;

/// Mixed into the seed so the callback faults do not replay another component's random stream.
const SEED_SALT: u64 = 0x6361_6c6c_6261_636b; // "callback"

/// One status change to deliver.
#[derive(Clone, Debug)]
pub(crate) struct Delivery {
    pub task_id: u64,
    pub url: Arc<str>,
    pub status: Status,
    pub body: Bytes,
}

/// Faults applied to callback deliveries, settable at runtime
/// ([`Engine::set_callback_faults`](super::Engine::set_callback_faults)). The default is no fault.
///
/// Probabilities are in `[0, 1]`; out-of-range values are clamped when set (NaN counts as 0), and
/// [`CallbackFaults::validate`] tells a caller that wants to refuse them instead. Partial JSON is
/// accepted: a missing field is "no such fault".
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CallbackFaults {
    /// Extra real-time delay, in milliseconds, before each delivery (before its first attempt,
    /// and before each copy of a duplicate).
    pub delay_ms: u64,
    /// Probability that a status change is delivered twice (the second copy after the first one
    /// has finished, with the same `webhook-id`).
    pub duplicate: f64,
    /// Probability that a status change is never delivered (logged and counted in
    /// [`CallbackStats::fault_dropped`]).
    pub drop: f64,
    /// Probability that a delivery is held back and sent after the task's next one (a final
    /// status is never held, so everything is still delivered; see [`REORDER_HOLD_LIMIT`]).
    pub reorder: f64,
}

impl CallbackFaults {
    /// `Err` with a message naming the field when a probability is not a number in `[0, 1]`.
    pub fn validate(&self) -> Result<(), String> {
        for (name, p) in [
            ("duplicate", self.duplicate),
            ("drop", self.drop),
            ("reorder", self.reorder),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!(
                    "{name} must be a probability between 0 and 1, got {p}"
                ));
            }
        }
        Ok(())
    }

    /// Whether no fault is set.
    pub fn is_none(&self) -> bool {
        *self == CallbackFaults::default()
    }

    /// Probabilities clamped into `[0, 1]` (NaN: 0).
    fn clamped(self) -> Self {
        let p = |x: f64| if x.is_nan() { 0.0 } else { x.clamp(0.0, 1.0) };
        CallbackFaults {
            delay_ms: self.delay_ms,
            duplicate: p(self.duplicate),
            drop: p(self.drop),
            reorder: p(self.reorder),
        }
    }
}

/// Delivery counters. Serializes as plain numbers.
#[derive(Debug, Default, Serialize)]
pub struct CallbackStats {
    /// Deliveries that got a 2xx answer (each copy of a duplicated change counts).
    pub delivered: AtomicU64,
    /// Deliveries given up after every retry failed.
    pub failed: AtomicU64,
    /// Attempts made, including retries.
    pub attempts: AtomicU64,
    /// Status changes never delivered because the queue was full
    /// ([`CallbackConfig::queue_limit`]) or no runtime was there to deliver them.
    pub dropped: AtomicU64,
    /// Status changes never delivered because the `drop` fault hit them.
    pub fault_dropped: AtomicU64,
    /// Status changes not sent because their URL's host is outside the allow-list
    /// ([`CallbackConfig::allow`]).
    pub blocked: AtomicU64,
}

/// What one delivery attempt came to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AttemptResult {
    /// The receiver answered with this HTTP status (2xx: delivered).
    Http {
        /// The HTTP status code.
        status: u16,
    },
    /// The receiver answered with a redirect (3xx). Redirects are never followed: a failed
    /// attempt, retried like any other non-2xx answer.
    Redirect {
        /// The HTTP status code.
        status: u16,
        /// Where it pointed (its `Location` header, cut at 512 bytes), if it said.
        #[serde(skip_serializing_if = "Option::is_none")]
        location: Option<String>,
    },
    /// No answer: timeout, refused connection, bad URL... with the transport error's text.
    Error {
        /// The error and its causes.
        message: String,
    },
    /// Not sent: the URL's host is outside the allow-list ([`CallbackConfig::allow`]). Never
    /// retried.
    Blocked {
        /// Which host, what it resolved to, and the allow-list.
        message: String,
    },
    /// The status change was never sent.
    Dropped {
        /// Why.
        reason: DropReason,
    },
}

impl AttemptResult {
    /// Whether the attempt was answered with a 2xx status.
    pub fn is_delivered(&self) -> bool {
        matches!(self, AttemptResult::Http { status } if (200..300).contains(status))
    }
}

/// Why a status change was never sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// [`CallbackConfig::queue_limit`] deliveries were already pending.
    QueueFull,
    /// The `drop` fault ([`CallbackFaults::drop`]).
    Fault,
    /// No tokio runtime to deliver on.
    NoRuntime,
}

/// A fault applied to a delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AppliedFault {
    /// Waited this long (real time) before sending.
    Delay {
        /// The delay, milliseconds.
        ms: u64,
    },
    /// This is the second copy of a duplicated delivery.
    Duplicate,
    /// This delivery was held back behind the task's next one.
    Reorder,
    /// The status change was dropped.
    Drop,
}

/// One entry of the delivery log: one attempt, or one status change that was never sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CallbackAttempt {
    /// The task (decimal string, as the API shows it).
    pub task_id: String,
    /// The status the body carried.
    pub status: Status,
    /// The `callback_url`.
    pub url: String,
    /// Id of the status change: the same on every retry and on a duplicate; sent as the
    /// `webhook-id` header when deliveries are signed.
    pub webhook_id: String,
    /// Attempt number, 1-based, counted per copy (0: never sent: dropped or blocked).
    pub attempt: u32,
    /// The outcome.
    pub result: AttemptResult,
    /// Time from sending the request to its answer (or error), milliseconds (0: never sent).
    pub latency_ms: u64,
    /// Mock clock time when the attempt was made (or the change dropped), Unix milliseconds.
    pub at_ms: i64,
    /// Whether the request carried the Standard Webhooks signature headers.
    pub signed: bool,
    /// Faults applied (empty: none).
    pub faults: Vec<AppliedFault>,
}

/// A queued status change and the faults drawn for it.
#[derive(Debug)]
struct Job {
    d: Delivery,
    /// Its place in the order changes were queued (the state store's key).
    seq: u64,
    webhook_id: String,
    delay_ms: u64,
    duplicate: bool,
    reorder: bool,
}

/// The deliveries' own runtime: one worker thread named `kling-callbacks`, shut down (without
/// waiting) when the dispatcher is dropped; or, if it cannot be made, the server's.
#[derive(Debug)]
enum DeliveryRuntime {
    Own(Option<tokio::runtime::Runtime>),
    Shared(tokio::runtime::Handle),
}

impl DeliveryRuntime {
    /// A runtime for deliveries if the caller runs on one (a server is being built).
    fn start() -> Option<DeliveryRuntime> {
        let outer = tokio::runtime::Handle::try_current().ok()?;
        Some(
            match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("kling-callbacks")
                .enable_all()
                .build()
            {
                Ok(rt) => DeliveryRuntime::Own(Some(rt)),
                Err(err) => {
                    tracing::warn!(%err, "no thread for callbacks: they share the server's runtime");
                    DeliveryRuntime::Shared(outer)
                }
            },
        )
    }

    fn handle(&self) -> Option<tokio::runtime::Handle> {
        match self {
            DeliveryRuntime::Own(rt) => rt.as_ref().map(|rt| rt.handle().clone()),
            DeliveryRuntime::Shared(h) => Some(h.clone()),
        }
    }
}

impl Drop for DeliveryRuntime {
    fn drop(&mut self) {
        if let DeliveryRuntime::Own(rt) = self
            && let Some(rt) = rt.take()
        {
            rt.shutdown_background();
        }
    }
}

/// What the workers share with the dispatcher.
#[derive(Debug)]
struct Shared {
    /// The HTTP client (`Err`: why it could not be built; every attempt then fails with that).
    client: Result<reqwest::Client, String>,
    cfg: CallbackConfig,
    clock: Clock,
    stats: Arc<CallbackStats>,
    log: Mutex<VecDeque<CallbackAttempt>>,
    /// Status changes accepted and not finished, held ones included (the queue cap).
    outstanding: AtomicUsize,
    /// `outstanding` minus the held ones: what [`Callbacks::idle`] waits for.
    busy: AtomicUsize,
    /// Woken when `busy` drops to 0.
    idle: Notify,
    /// Caps the attempts in flight across all tasks (`CallbackConfig::concurrency`).
    in_flight: tokio::sync::Semaphore,
    /// With a state store: the changes accepted and not finished, by their `seq`, so that a
    /// restart sends them still.
    queued: DashMap<u64, Queued>,
    /// `seq`s queued or finished since the store last looked.
    dirty: crate::dirty::Dirty<u64>,
}

/// A status change accepted and not yet finished, as the state store keeps it.
#[derive(Clone, Debug)]
pub(crate) struct Queued {
    pub d: Delivery,
    pub webhook_id: String,
}

/// The dispatcher: one ordered queue per task with pending deliveries.
#[derive(Debug)]
pub(crate) struct Callbacks {
    shared: Arc<Shared>,
    queues: DashMap<u64, mpsc::UnboundedSender<Job>>,
    pub stats: Arc<CallbackStats>,
    faults: Mutex<CallbackFaults>,
    /// Fault draws and webhook ids, in the order changes are queued.
    rng: Mutex<StdRng>,
    /// First `webhook-id` (seeded, 18 digits) and the count of ids given so far.
    id_base: u64,
    ids_given: AtomicU64,
    /// Changes queued so far (their `seq`).
    seqs: AtomicU64,
    /// Where deliveries run: a runtime of their own (one thread), so that they never queue in
    /// front of API requests on the server's workers, and a status change fired from any thread
    /// (e.g. a test moving the virtual clock from outside the runtime) is still delivered.
    /// Built when the dispatcher is made inside a runtime (where a server runs); `None`
    /// otherwise, and changes are then dropped for want of one.
    runtime: Option<DeliveryRuntime>,
}

impl Callbacks {
    /// A dispatcher delivering per `cfg`, stamping with `clock`, drawing its faults from `seed`.
    pub fn new(cfg: CallbackConfig, clock: Clock, seed: u64) -> Self {
        let client = guarded_client(&cfg)
            .map_err(|e| format!("the callback HTTP client could not be built: {e}"));
        if let Err(err) = &client {
            tracing::error!(%err, "no callback will be delivered");
        }
        let in_flight = tokio::sync::Semaphore::new(cfg.concurrency.max(1));
        let stats = Arc::<CallbackStats>::default();
        let mut rng = StdRng::seed_from_u64(seed ^ SEED_SALT);
        let id_base = rng.random_range(100_000_000_000_000_000..500_000_000_000_000_000);
        Callbacks {
            shared: Arc::new(Shared {
                client,
                cfg,
                clock,
                stats: stats.clone(),
                log: Mutex::new(VecDeque::new()),
                outstanding: AtomicUsize::new(0),
                busy: AtomicUsize::new(0),
                idle: Notify::new(),
                in_flight,
                queued: DashMap::new(),
                dirty: Default::default(),
            }),
            queues: DashMap::new(),
            stats,
            faults: Mutex::default(),
            rng: Mutex::new(rng),
            id_base,
            ids_given: AtomicU64::new(0),
            seqs: AtomicU64::new(0),
            runtime: DeliveryRuntime::start(),
        }
    }

    /// Queue a delivery behind the task's earlier ones. Callers enqueue a task's changes in order.
    /// Never waits: the change is dropped (and logged) if the queue is full.
    pub fn enqueue(&self, d: Delivery) {
        let faults = self.faults();
        let (webhook_id, drop, duplicate, reorder) = {
            let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
            // Always three draws per change: the sequence does not depend on the fault settings.
            let draws: [f64; 3] = [rng.random(), rng.random(), rng.random()];
            let n = self.ids_given.fetch_add(1, Ordering::Relaxed);
            (
                self.id_base.wrapping_add(n).to_string(),
                draws[0] < faults.drop,
                draws[1] < faults.duplicate,
                draws[2] < faults.reorder,
            )
        };
        let terminal = d.status.is_terminal();
        let job = Job {
            d,
            seq: self.seqs.fetch_add(1, Ordering::Relaxed),
            webhook_id,
            delay_ms: faults.delay_ms,
            duplicate,
            // A final status is never held: nothing follows it.
            reorder: reorder && !terminal,
        };
        self.admit(job, drop, terminal);
    }

    /// Log and count `job` as dropped, without sending it.
    fn drop_job(&self, job: &Job, reason: DropReason) {
        let sh = &self.shared;
        let faults = match reason {
            DropReason::Fault => {
                sh.stats.fault_dropped.fetch_add(1, Ordering::Relaxed);
                vec![AppliedFault::Drop]
            }
            DropReason::QueueFull | DropReason::NoRuntime => {
                sh.stats.dropped.fetch_add(1, Ordering::Relaxed);
                Vec::new()
            }
        };
        tracing::info!(
            task_id = job.d.task_id,
            status = job.d.status.as_str(),
            ?reason,
            "callback dropped"
        );
        sh.record(CallbackAttempt {
            task_id: job.d.task_id.to_string(),
            status: job.d.status,
            url: job.d.url.to_string(),
            webhook_id: job.webhook_id.clone(),
            attempt: 0,
            result: AttemptResult::Dropped { reason },
            latency_ms: 0,
            at_ms: sh.clock.now_ms(),
            signed: false,
            faults,
        });
    }

    /// Count `job` as pending and hand it to its task's worker, or drop it (fault, full queue, no
    /// runtime). `close`: the task's last change; its queue is closed either way.
    fn admit(&self, job: Job, drop: bool, close: bool) {
        let sh = &self.shared;
        let id = job.d.task_id;
        let rt = self.runtime.as_ref().and_then(DeliveryRuntime::handle);
        let refused = if drop {
            Some(DropReason::Fault)
        } else if rt.is_none() {
            Some(DropReason::NoRuntime)
        } else {
            let limit = sh.cfg.queue_limit;
            let admitted = sh
                .outstanding
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                    (n < limit).then_some(n + 1)
                })
                .is_ok();
            (!admitted).then_some(DropReason::QueueFull)
        };
        let (None, Some(rt)) = (refused, rt) else {
            if let Some(reason) = refused {
                self.drop_job(&job, reason);
            }
            if close {
                self.queues.remove(&id);
            }
            return;
        };
        sh.busy.fetch_add(1, Ordering::AcqRel);
        let tx = self
            .queues
            .entry(id)
            .or_insert_with(|| {
                let (tx, rx) = mpsc::unbounded_channel();
                rt.spawn(worker(sh.clone(), rx));
                tx
            })
            .clone();
        if close {
            // No change follows a terminal one: the worker ends once it has drained its queue.
            self.queues.remove(&id);
        }
        if sh.dirty.is_on() {
            sh.queued.insert(
                job.seq,
                Queued {
                    d: job.d.clone(),
                    webhook_id: job.webhook_id.clone(),
                },
            );
            sh.dirty.mark(job.seq);
        }
        if let Err(mpsc::error::SendError(job)) = tx.send(job) {
            // The worker's runtime is gone (shut down).
            self.drop_job(&job, DropReason::NoRuntime);
            sh.finish_job(job.seq);
        }
    }

    /// Note the changes queued and finished from now on (a state store is attached).
    pub fn track(&self) {
        self.shared.dirty.enable();
    }

    /// Number the next changes from `seq` on (after those a saved state holds).
    pub fn seqs_from(&self, seq: u64) {
        self.seqs.fetch_max(seq, Ordering::Relaxed);
    }

    /// `seq`s of changes queued or finished since the last call.
    pub fn changed(&self) -> Vec<u64> {
        self.shared.dirty.take()
    }

    /// Note these `seq`s again (a flush that failed).
    pub fn mark(&self, seqs: Vec<u64>) {
        self.shared.dirty.mark_all(seqs);
    }

    /// A change still queued, by its `seq`.
    pub fn queued(&self, seq: u64) -> Option<Queued> {
        self.shared.queued.get(&seq).map(|q| q.clone())
    }

    /// Queue again a change a saved state held (a restart): no fault is drawn for it (it was
    /// drawn when first queued), and it keeps its `webhook-id`.
    pub fn requeue(&self, q: Queued) {
        let terminal = q.d.status.is_terminal();
        let job = Job {
            d: q.d,
            seq: self.seqs.fetch_add(1, Ordering::Relaxed),
            webhook_id: q.webhook_id,
            delay_ms: 0,
            duplicate: false,
            reorder: false,
        };
        self.admit(job, false, terminal);
    }

    /// The faults in force.
    pub fn faults(&self) -> CallbackFaults {
        *self.faults.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Replace the faults (probabilities clamped into `[0, 1]`); applies to changes queued from
    /// now on.
    pub fn set_faults(&self, f: CallbackFaults) {
        *self.faults.lock().unwrap_or_else(|e| e.into_inner()) = f.clamped();
    }

    /// The delivery log, oldest first.
    pub fn log(&self) -> Vec<CallbackAttempt> {
        let log = self.shared.log.lock().unwrap_or_else(|e| e.into_inner());
        log.iter().cloned().collect()
    }

    /// Empty the delivery log.
    pub fn clear_log(&self) {
        self.shared
            .log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Status changes accepted and not yet finished (queued, held back or in flight).
    pub fn pending(&self) -> usize {
        self.shared.outstanding.load(Ordering::Acquire)
    }

    /// Resolves once no delivery is queued or in flight. A delivery held back by the reorder fault
    /// waits for its task's next change, which may need the clock to move, so it does not count;
    /// it counts again from the moment it is released.
    pub async fn idle(&self) {
        let sh = &self.shared;
        loop {
            let notified = sh.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if sh.busy.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl Shared {
    fn record(&self, a: CallbackAttempt) {
        let cap = self.cfg.log_capacity;
        if cap == 0 {
            return;
        }
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        while log.len() >= cap {
            log.pop_front();
        }
        log.push_back(a);
    }

    /// One accepted status change is done (delivered, given up, or lost).
    fn finish(&self) {
        self.outstanding.fetch_sub(1, Ordering::AcqRel);
        self.unbusy();
    }

    fn unbusy(&self) {
        if self.busy.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.idle.notify_waiters();
        }
    }

    /// Deliver a job: optional delay, one or two copies, each with its retries. `url`: the job's
    /// URL parsed (`None`: it does not parse; the client then reports why).
    async fn run(&self, job: Job, url: Option<&reqwest::Url>, reordered: bool) {
        let copies = if job.duplicate { 2 } else { 1 };
        for copy in 0..copies {
            let mut applied = Vec::new();
            if job.delay_ms > 0 {
                applied.push(AppliedFault::Delay { ms: job.delay_ms });
                tokio::time::sleep(Duration::from_millis(job.delay_ms)).await;
            }
            if reordered {
                applied.push(AppliedFault::Reorder);
            }
            if copy > 0 {
                applied.push(AppliedFault::Duplicate);
            }
            self.deliver(&job, url, &applied).await;
        }
        self.finish_job(job.seq);
    }

    /// A job is done (delivered, failed for good, or dropped after it was accepted).
    fn finish_job(&self, seq: u64) {
        if self.dirty.is_on() {
            self.queued.remove(&seq);
            self.dirty.mark(seq);
        }
        self.finish();
    }

    async fn deliver(&self, job: &Job, url: Option<&reqwest::Url>, applied: &[AppliedFault]) {
        let d = &job.d;
        let cfg = &self.cfg;
        let mut backoff = cfg.backoff;
        for attempt in 1..=cfg.retries.saturating_add(1) {
            if attempt > 1 {
                tokio::time::sleep(backoff).await;
                backoff = backoff.saturating_mul(2);
            }
            let at_ms = self.clock.now_ms();
            let (result, latency_ms) = match self.refused(url) {
                Some(message) => (AttemptResult::Blocked { message }, 0),
                None => self.attempt(job, url, at_ms).await,
            };
            let delivered = result.is_delivered();
            match &result {
                AttemptResult::Http { status } if delivered => tracing::debug!(
                    task_id = d.task_id,
                    status = d.status.as_str(),
                    http = status,
                    attempt,
                    "callback delivered"
                ),
                AttemptResult::Http { status } | AttemptResult::Redirect { status, .. } => {
                    tracing::info!(
                        task_id = d.task_id,
                        url = &*d.url,
                        http = status,
                        attempt,
                        "callback refused"
                    )
                }
                AttemptResult::Error { message } => tracing::info!(
                    task_id = d.task_id,
                    url = &*d.url,
                    err = message.as_str(),
                    attempt,
                    "callback failed"
                ),
                AttemptResult::Blocked { message } => tracing::warn!(
                    task_id = d.task_id,
                    url = &*d.url,
                    reason = message.as_str(),
                    "callback blocked by the allow-list"
                ),
                AttemptResult::Dropped { .. } => {}
            }
            let blocked = matches!(result, AttemptResult::Blocked { .. });
            if !blocked {
                self.stats.attempts.fetch_add(1, Ordering::Relaxed);
            }
            self.record(CallbackAttempt {
                task_id: d.task_id.to_string(),
                status: d.status,
                url: d.url.to_string(),
                webhook_id: job.webhook_id.clone(),
                attempt: if blocked { 0 } else { attempt },
                result,
                latency_ms,
                at_ms,
                signed: cfg.webhook_secret.is_some() && !blocked,
                faults: applied.to_vec(),
            });
            if blocked {
                // The allow-list will not change its mind: no retry.
                self.stats.blocked.fetch_add(1, Ordering::Relaxed);
                return;
            }
            if delivered {
                self.stats.delivered.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        self.stats.failed.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            task_id = d.task_id,
            status = d.status.as_str(),
            "callback given up after retries"
        );
    }

    /// Why the allow-list forbids sending to `url` before any connection is made
    /// ([`refused_before_connect`]).
    fn refused(&self, url: Option<&reqwest::Url>) -> Option<String> {
        // A URL that does not parse is left to the client, which reports it.
        refused_before_connect(&self.cfg.allow, url?).map(|why| blocked_callback(&why))
    }

    /// One attempt, bounded by [`CallbackConfig::timeout`] from the moment it has a slot: send,
    /// wait for the status, then read and throw away at most [`CALLBACK_RESPONSE_LIMIT`] bytes of
    /// the body (so the connection can be reused; a longer body is cut off). The status decides:
    /// a 2xx is delivered even if its body is slow or endless. Returns the outcome and the time
    /// to the status (or the error), milliseconds.
    async fn attempt(
        &self,
        job: &Job,
        url: Option<&reqwest::Url>,
        at_ms: i64,
    ) -> (AttemptResult, u64) {
        let d = &job.d;
        let cfg = &self.cfg;
        let client = match &self.client {
            Ok(c) => c,
            Err(e) => return (AttemptResult::Error { message: e.clone() }, 0),
        };
        let req = match url {
            Some(url) => client.post(url.clone()),
            // The client's own parse fails the attempt with its error text.
            None => client.post(&*d.url),
        };
        let mut req = req
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(d.body.clone());
        if let Some(secret) = &cfg.webhook_secret {
            let ts = at_ms.div_euclid(1000);
            req = req
                .header(super::webhook::HEADER_ID, &job.webhook_id)
                .header(super::webhook::HEADER_TIMESTAMP, ts.to_string())
                .header(
                    super::webhook::HEADER_SIGNATURE,
                    secret.sign(&job.webhook_id, ts, &d.body),
                );
        }
        // Wait for a slot before the attempt's timeout starts: a burst queues here instead of
        // opening one connection per task at once.
        let _permit = self.in_flight.acquire().await;
        let started = Instant::now();
        let deadline = tokio::time::Instant::now() + cfg.timeout;
        let answer = tokio::time::timeout_at(deadline, req.send()).await;
        let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let mut res = match answer {
            Err(_) => {
                let message = format!(
                    "timed out: no answer within {} (callback timeout)",
                    humantime::format_duration(cfg.timeout)
                );
                return (AttemptResult::Error { message }, latency_ms);
            }
            Ok(Err(err)) => return (self.transport_error(&err), latency_ms),
            Ok(Ok(res)) => res,
        };
        let status = res.status().as_u16();
        let result = if res.status().is_redirection() {
            let location = res
                .headers()
                .get(reqwest::header::LOCATION)
                .map(|v| cut(&String::from_utf8_lossy(v.as_bytes()), LOCATION_LOG_LIMIT));
            AttemptResult::Redirect { status, location }
        } else {
            AttemptResult::Http { status }
        };
        let drain = async {
            let mut read = 0usize;
            while read < CALLBACK_RESPONSE_LIMIT {
                match res.chunk().await {
                    Ok(Some(chunk)) => read = read.saturating_add(chunk.len()),
                    Ok(None) | Err(_) => break,
                }
            }
        };
        // Past the deadline or the limit, dropping the response closes the connection.
        let _ = tokio::time::timeout_at(deadline, drain).await;
        (result, latency_ms)
    }

    /// What a transport error means for the log: blocked by the allow-list while resolving, a
    /// connect timeout, or the error's own text.
    fn transport_error(&self, err: &reqwest::Error) -> AttemptResult {
        if let Some(why) = refusal(err) {
            return AttemptResult::Blocked {
                message: blocked_callback(&why),
            };
        }
        let text = error_text(err);
        let message = if err.is_connect() && err.is_timeout() {
            format!(
                "connect timed out: no connection within {} (callback connect timeout): {text}",
                humantime::format_duration(self.cfg.connect_timeout)
            )
        } else {
            text
        };
        AttemptResult::Error { message }
    }
}

/// The HTTP client of callbacks, and of downloads of foreign inputs (`--fetch-inputs`,
/// [`super::downloads`]): connect timeout, no redirects, and with an allow-list, the resolver
/// that enforces it and no proxy (through a proxy, the address connected to could not be
/// checked). The timeout of a whole attempt is applied around each request, not here. `Err`:
/// why it could not be built.
pub(crate) fn guarded_client(cfg: &CallbackConfig) -> Result<reqwest::Client, String> {
    let mut b = reqwest::Client::builder()
        .connect_timeout(cfg.connect_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("kling-mock/", env!("CARGO_PKG_VERSION")));
    if !cfg.allow.is_empty() {
        b = b
            .no_proxy()
            .dns_resolver(AllowResolver(Arc::new(cfg.allow.clone())));
    }
    b.build().map_err(|e| error_text(&e))
}

/// Why `allow` forbids connecting to `url` before any connection is made: its host is an IP
/// address no network entry holds. A host name is checked when it is resolved
/// ([`AllowResolver`], in [`guarded_client`]), against the addresses the connection will use.
pub(crate) fn refused_before_connect(allow: &CallbackAllow, url: &reqwest::Url) -> Option<String> {
    if allow.is_empty() {
        return None;
    }
    match url.host()? {
        url::Host::Ipv4(ip) => allow.refuse_ip(ip.into()),
        url::Host::Ipv6(ip) => allow.refuse_ip(ip.into()),
        url::Host::Domain(_) => None,
    }
}

/// The allow-list's refusal among a transport error's causes: the [`AllowResolver`] of a
/// [`guarded_client`] found no allowed address for the host.
pub(crate) fn refusal(err: &reqwest::Error) -> Option<String> {
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        if let Some(NotAllowed(message)) = s.downcast_ref::<NotAllowed>() {
            return Some(message.clone());
        }
        source = s.source();
    }
    None
}

/// The delivery log's text for a callback the allow-list refused.
fn blocked_callback(why: &str) -> String {
    format!("callback {why}; not sent, not retried")
}

/// `s` cut to at most `max` bytes, on a character boundary.
fn cut(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// A transport error with its causes ("error sending request: connection refused").
pub(crate) fn error_text(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

/// A task's callback URL, parsed once for all its deliveries (the changes of a task all carry
/// the same URL; parsing it, IDNA host processing included, was 5% of a delivery's CPU).
#[derive(Default)]
struct ParsedUrl(Option<(Arc<str>, Option<reqwest::Url>)>);

impl ParsedUrl {
    /// `text` parsed (`None`: it does not parse).
    fn of(&mut self, text: &Arc<str>) -> Option<reqwest::Url> {
        match &self.0 {
            Some((t, url)) if t == text => url.clone(),
            _ => {
                let url = reqwest::Url::parse(text).ok();
                self.0 = Some((text.clone(), url.clone()));
                url
            }
        }
    }
}

/// One task's deliveries, in order. A job drawn for reordering is held until the next job has
/// been delivered, the queue closes, or [`REORDER_HOLD_LIMIT`] passes; only one is held at a time.
async fn worker(sh: Arc<Shared>, mut rx: mpsc::UnboundedReceiver<Job>) {
    let mut held: Option<Job> = None;
    let mut parsed = ParsedUrl::default();
    loop {
        let next = match held {
            None => rx.recv().await,
            Some(_) => match tokio::time::timeout(REORDER_HOLD_LIMIT, rx.recv()).await {
                Ok(next) => next,
                Err(_) => {
                    // The task stopped changing: release the held delivery.
                    if let Some(h) = held.take() {
                        sh.busy.fetch_add(1, Ordering::AcqRel);
                        let url = parsed.of(&h.d.url);
                        sh.run(h, url.as_ref(), true).await;
                    }
                    continue;
                }
            },
        };
        let Some(job) = next else { break };
        if held.is_none() && job.reorder && !job.d.status.is_terminal() {
            // Held: no longer "busy" (it waits for the task's next change), still outstanding.
            sh.unbusy();
            held = Some(job);
            continue;
        }
        let released = held.take();
        if released.is_some() {
            // Busy again before `job` finishes, so the count never touches 0 in between.
            sh.busy.fetch_add(1, Ordering::AcqRel);
        }
        let url = parsed.of(&job.d.url);
        sh.run(job, url.as_ref(), false).await;
        if let Some(h) = released {
            let url = parsed.of(&h.d.url);
            sh.run(h, url.as_ref(), true).await;
        }
    }
    if let Some(h) = held {
        sh.busy.fetch_add(1, Ordering::AcqRel);
        let url = parsed.of(&h.d.url);
        sh.run(h, url.as_ref(), true).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(task_id: u64, status: Status) -> Delivery {
        Delivery {
            task_id,
            // Nothing listens on port 9 of the TEST-NET address; these tests never send.
            url: Arc::from("http://192.0.2.1:9/hook"),
            status,
            body: Bytes::from_static(b"{}"),
        }
    }

    #[test]
    fn a_parsed_url_is_reused_only_for_the_same_text() {
        let mut p = ParsedUrl::default();
        let a: Arc<str> = Arc::from("http://127.0.0.1:9/a");
        let b: Arc<str> = Arc::from("http://127.0.0.1:9/b");
        assert_eq!(p.of(&a).map(|u| u.path().to_string()), Some("/a".into()));
        assert_eq!(
            p.of(&Arc::from("http://127.0.0.1:9/a")).unwrap().path(),
            "/a"
        );
        assert_eq!(p.of(&b).unwrap().path(), "/b");
        assert_eq!(p.of(&Arc::from("not a url")), None);
        assert_eq!(p.of(&a).unwrap().path(), "/a");
    }

    #[test]
    fn faults_deserialize_from_partial_json_and_clamp() {
        let f: CallbackFaults = serde_json::from_str(r#"{"drop": 0.5}"#).unwrap();
        assert_eq!(
            f,
            CallbackFaults {
                drop: 0.5,
                ..Default::default()
            }
        );
        assert!(CallbackFaults::default().is_none());
        let bad = CallbackFaults {
            duplicate: 1.5,
            reorder: f64::NAN,
            ..Default::default()
        };
        assert!(bad.validate().unwrap_err().contains("duplicate"));
        let c = bad.clamped();
        assert_eq!((c.duplicate, c.reorder), (1.0, 0.0));
    }

    #[test]
    fn drops_by_fault_are_logged_and_counted_without_a_runtime() {
        let cb = Callbacks::new(CallbackConfig::default(), Clock::frozen(5_000), 1);
        cb.set_faults(CallbackFaults {
            drop: 1.0,
            ..Default::default()
        });
        cb.enqueue(delivery(7, Status::Submitted));
        cb.enqueue(delivery(7, Status::Succeed));
        assert_eq!(cb.stats.fault_dropped.load(Ordering::Relaxed), 2);
        let log = cb.log();
        assert_eq!(log.len(), 2);
        assert_eq!(
            log[0].result,
            AttemptResult::Dropped {
                reason: DropReason::Fault
            }
        );
        assert_eq!(log[0].faults, [AppliedFault::Drop]);
        assert_eq!((log[0].attempt, log[0].at_ms), (0, 5_000));
        assert_ne!(log[0].webhook_id, log[1].webhook_id);
        assert_eq!(cb.pending(), 0);
        cb.clear_log();
        assert!(cb.log().is_empty());
    }

    #[test]
    fn the_log_is_a_bounded_ring() {
        let cfg = CallbackConfig {
            log_capacity: 3,
            ..Default::default()
        };
        let cb = Callbacks::new(cfg, Clock::frozen(0), 1);
        cb.set_faults(CallbackFaults {
            drop: 1.0,
            ..Default::default()
        });
        for id in 1..=5 {
            cb.enqueue(delivery(id, Status::Submitted));
        }
        let ids: Vec<String> = cb.log().into_iter().map(|a| a.task_id).collect();
        assert_eq!(ids, ["3", "4", "5"]);
    }

    #[test]
    fn fault_draws_and_webhook_ids_follow_the_seed() {
        let run = |seed| {
            let cb = Callbacks::new(CallbackConfig::default(), Clock::frozen(0), seed);
            cb.set_faults(CallbackFaults {
                drop: 0.5,
                ..Default::default()
            });
            for id in 1..=40 {
                cb.enqueue(delivery(id, Status::Submitted));
            }
            // Without a runtime, the changes the fault spares are dropped for want of one.
            cb.log()
                .into_iter()
                .filter(|a| a.faults == [AppliedFault::Drop])
                .map(|a| (a.task_id, a.webhook_id))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(3), run(3));
        assert_ne!(run(3), run(4));
        let dropped = run(3).len();
        assert!(
            (5..=35).contains(&dropped),
            "{dropped} of 40 dropped at p=0.5"
        );
    }

    #[test]
    fn a_change_without_a_runtime_is_dropped_and_logged() {
        let cb = Callbacks::new(CallbackConfig::default(), Clock::frozen(0), 1);
        cb.enqueue(delivery(9, Status::Submitted));
        assert_eq!(cb.stats.dropped.load(Ordering::Relaxed), 1);
        assert_eq!(
            cb.log()[0].result,
            AttemptResult::Dropped {
                reason: DropReason::NoRuntime
            }
        );
        assert_eq!(cb.pending(), 0);
    }

    #[tokio::test]
    async fn idle_resolves_at_once_when_nothing_is_pending() {
        let cb = Callbacks::new(CallbackConfig::default(), Clock::frozen(0), 1);
        tokio::time::timeout(Duration::from_secs(5), cb.idle())
            .await
            .expect("idle");
    }
}
