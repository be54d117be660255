//! Callback delivery: POST the task object to `callback_url` on every status change.
//!
//! The body is the single-query `data` object as it was at that change (kling-api.md §2: the task
//! object itself, no envelope). Deliveries of one task go out strictly in order, one at a time,
//! each retried with exponential backoff before the next is sent; different tasks are delivered
//! in parallel. Everything runs on spawned tasks: a slow or dead receiver never delays an API
//! answer.

use super::view::Status;
use crate::config::CallbackConfig;
use bytes::Bytes;
use dashmap::DashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::mpsc;

/// One status change to deliver.
#[derive(Clone, Debug)]
pub(crate) struct Delivery {
    pub task_id: u64,
    pub url: Arc<str>,
    pub status: Status,
    pub body: Bytes,
}

/// Delivery counters.
#[derive(Debug, Default)]
pub struct CallbackStats {
    /// Status changes delivered (a 2xx answer).
    pub delivered: AtomicU64,
    /// Status changes given up after every retry failed.
    pub failed: AtomicU64,
    /// Attempts made, including retries.
    pub attempts: AtomicU64,
}

/// The dispatcher: one ordered queue per task with pending deliveries.
#[derive(Debug)]
pub(crate) struct Callbacks {
    client: reqwest::Client,
    cfg: CallbackConfig,
    queues: DashMap<u64, mpsc::UnboundedSender<Delivery>>,
    pub stats: Arc<CallbackStats>,
    /// The runtime the server was built on. Deliveries are spawned there, so a status change
    /// fired from any thread (e.g. a test moving the virtual clock from outside the runtime) is
    /// still delivered.
    runtime: Option<tokio::runtime::Handle>,
}

impl Callbacks {
    pub fn new(cfg: CallbackConfig) -> Self {
        let client = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("kling-mock/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Callbacks {
            client,
            cfg,
            queues: DashMap::new(),
            stats: Arc::default(),
            runtime: tokio::runtime::Handle::try_current().ok(),
        }
    }

    /// Queue a delivery behind the task's earlier ones. Callers enqueue a task's changes in order.
    pub fn enqueue(&self, d: Delivery) {
        let Some(rt) = self
            .runtime
            .clone()
            .or_else(|| tokio::runtime::Handle::try_current().ok())
        else {
            tracing::error!(
                task_id = d.task_id,
                "no tokio runtime to deliver on: callback dropped"
            );
            return;
        };
        let id = d.task_id;
        let terminal = d.status.is_terminal();
        let tx = self
            .queues
            .entry(id)
            .or_insert_with(|| {
                let (tx, rx) = mpsc::unbounded_channel();
                rt.spawn(worker(
                    self.client.clone(),
                    self.cfg,
                    self.stats.clone(),
                    rx,
                ));
                tx
            })
            .clone();
        if tx.send(d).is_err() {
            tracing::warn!(task_id = id, "callback worker gone: delivery dropped");
        }
        if terminal {
            // No change follows a terminal one: the worker ends once it has drained its queue.
            self.queues.remove(&id);
        }
    }
}

async fn worker(
    client: reqwest::Client,
    cfg: CallbackConfig,
    stats: Arc<CallbackStats>,
    mut rx: mpsc::UnboundedReceiver<Delivery>,
) {
    while let Some(d) = rx.recv().await {
        deliver(&client, &cfg, &stats, &d).await;
    }
}

async fn deliver(
    client: &reqwest::Client,
    cfg: &CallbackConfig,
    stats: &CallbackStats,
    d: &Delivery,
) {
    let mut backoff = cfg.backoff;
    for attempt in 0..=cfg.retries {
        if attempt > 0 {
            tokio::time::sleep(backoff).await;
            backoff = backoff.saturating_mul(2);
        }
        stats.attempts.fetch_add(1, Ordering::Relaxed);
        let res = client
            .post(&*d.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(d.body.clone())
            .send()
            .await;
        match res {
            Ok(r) if r.status().is_success() => {
                stats.delivered.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(
                    task_id = d.task_id,
                    status = d.status.as_str(),
                    attempt,
                    "callback delivered"
                );
                return;
            }
            Ok(r) => {
                tracing::info!(
                    task_id = d.task_id,
                    url = &*d.url,
                    http = r.status().as_u16(),
                    attempt,
                    "callback refused"
                )
            }
            Err(err) => {
                tracing::info!(task_id = d.task_id, url = &*d.url, %err, attempt, "callback failed")
            }
        }
    }
    stats.failed.fetch_add(1, Ordering::Relaxed);
    tracing::warn!(
        task_id = d.task_id,
        status = d.status.as_str(),
        "callback given up after retries"
    );
}
