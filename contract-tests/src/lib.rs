//! # kling-contract
//!
//! Conformance checks for the Kling API, run against `kling-mock` (started in-process by default)
//! or any base URL, including the real service. Each property generates requests with proptest,
//! shrinks a failure to its smallest input and prints the seed that replays it.
//!
//! The oracle is the harness's own: the documented contract as data (`fixtures/contract/`) read by
//! [`model`]. The harness depends on `kling-mock` only to start one in-process and move its clock.
//!
//! ```no_run
//! let run = kling_contract::run(kling_contract::Options::default()).unwrap();
//! assert!(run.passed());
//! ```
//!
//! # Layout
//!
//! * [`target`](mod@target): where requests go (in-process mock or base URL), pacing, 429 handling, time.
//! * [`client`]: JWT bearer tokens, valid and broken.
//! * [`model`], [`rules`], [`video_models`], [`image_models`], [`shape`]: the oracle (fields,
//!   limits, enums, the rules tying fields together, the video and image capability maps, outputs
//!   and costs, the error table, response shapes).
//! * [`strategies`]: generators of requests, broken tokens and paging parameters.
//! * [`properties`]: one module per property family.
//! * [`ctx`]: what properties share: budget, receiver, what this run created.
//! * [`receiver`]: the loopback callback receiver. [`audio`], [`video`]: decoding served media
//!   (symphonia for audio, `ffprobe` / `ffmpeg` for MP4), [`image`]: PNG / JPEG results and their
//!   size. [`png`]: the images the harness sends.
//! * [`report`]: running, progress, summary, JUnit and JSON reports.

pub mod audio;
pub mod bodies;
pub mod client;
pub mod ctx;
pub mod image;
pub mod image_models;
pub mod model;
pub mod png;
pub mod properties;
pub mod receiver;
pub mod report;
pub mod rules;
pub mod shape;
pub mod strategies;
pub mod target;
pub mod video;
pub mod video_models;

use ctx::{Budget, Ctx};
use report::{PropertyReport, run_property};
use std::net::SocketAddr;
use target::{RemoteSpec, Target};

/// How to run the suite.
#[derive(Clone, Debug)]
pub struct Options {
    /// The server to check; `None`: start a kling-mock in-process.
    pub remote: Option<RemoteSpec>,
    /// The remote target is a kling-mock (unlimited budget by default; checks that delete what
    /// the harness did not create, such as presets, are allowed).
    pub mock_target: bool,
    /// Cases per property.
    pub cases: u32,
    /// Run seed (`None`: random, printed).
    pub seed: Option<u64>,
    /// Properties to run (empty: all).
    pub properties: Vec<String>,
    /// Task families to check (empty: all); the other families' endpoints are left out.
    pub families: Vec<String>,
    /// Units of the resource pack the run may spend (`None`: 0 for a remote target, unlimited for
    /// a mock). A video create counts its unit cost from `fixtures/video-models.json`, an image
    /// create its images from `fixtures/image-models.json`, any other billable create its
    /// endpoint's `unit_cost` (default one unit).
    pub budget: Option<u64>,
    /// Print billable creates instead of sending them.
    pub dry_run: bool,
    /// Requests per second at most.
    pub rate_limit: Option<f64>,
    /// Public base URL that reaches the callback receiver.
    pub callback_base_url: Option<String>,
    /// Where the callback receiver listens.
    pub callback_listen: Option<SocketAddr>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            remote: None,
            mock_target: false,
            cases: 16,
            seed: None,
            properties: Vec::new(),
            families: Vec::new(),
            budget: None,
            dry_run: false,
            rate_limit: None,
            callback_base_url: None,
            callback_listen: None,
        }
    }
}

/// The result of a run.
#[derive(Debug)]
pub struct Run {
    /// One report per property run.
    pub reports: Vec<PropertyReport>,
    /// The run seed.
    pub seed: u64,
    /// The base URL checked.
    pub target: String,
    /// Billable creates sent.
    pub spent: u64,
    /// Units those creates cost (by the cost table).
    pub spent_units: f64,
    /// What a dry run would have created.
    pub dry_run_log: Vec<String>,
    /// What the run did to a shared kling-mock to leave it as found (or why it could not), and
    /// the checks that could not run (no `ffprobe`, ...).
    pub notes: Vec<String>,
}

impl Run {
    /// Whether no property failed.
    pub fn passed(&self) -> bool {
        !self.reports.iter().any(PropertyReport::failed)
    }

    /// The report of one property.
    pub fn report(&self, name: &str) -> Option<&PropertyReport> {
        self.reports.iter().find(|r| r.name == name)
    }
}

/// Build the target the options name.
pub fn target(opts: &Options) -> Result<Target, String> {
    match &opts.remote {
        Some(spec) => Ok(Target::remote(
            spec.clone(),
            opts.mock_target,
            opts.rate_limit,
        )),
        None => Target::in_process(opts.rate_limit)
            .map_err(|e| format!("cannot start the in-process mock: {e}")),
    }
}

/// Run the suite as `opts` says.
pub fn run(opts: Options) -> Result<Run, String> {
    let t = target(&opts)?;
    run_on(t, &opts)
}

fn loopback(base: &str) -> bool {
    url::Url::parse(base)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .is_some_and(|h| {
            h == "localhost"
                || h.parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        })
}

/// Run the suite on a target built by the caller (e.g. behind a proxy).
pub fn run_on(mut target: Target, opts: &Options) -> Result<Run, String> {
    let mut contract = model::Contract::load()?;
    if !opts.families.is_empty() {
        contract.only_families(&opts.families)?;
    }
    // A kling-mock someone else also uses: work in accounts of the run's own, give it back as
    // found at the end.
    let mut notes = Vec::new();
    let borrowed = target.borrow_mock();
    if !borrowed.is_empty() {
        report::progress(&format!("kling-contract: {borrowed}"));
        notes.push(borrowed);
    }
    let budget = match opts.budget {
        Some(n) => Some(n),
        None if target.is_mock => None,
        None => Some(0),
    };
    let reachable = opts.callback_base_url.is_some() || loopback(&target.base_url);
    let receiver = if reachable {
        let listen = opts
            .callback_listen
            .unwrap_or_else(|| ([127, 0, 0, 1], 0).into());
        Some(
            receiver::Receiver::start(
                target.runtime_handle(),
                listen,
                opts.callback_base_url.as_deref(),
            )
            .map_err(|e| format!("cannot start the callback receiver on {listen}: {e}"))?,
        )
    } else {
        None
    };
    let base = target.base_url.clone();
    let mut ctx = Ctx::new(target, contract, Budget::new(budget), opts.cases);
    ctx.dry_run = opts.dry_run;
    ctx.receiver = receiver;
    let seed = opts.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    report::progress(&format!(
        "kling-contract: target {base}, seed {seed}, {} cases per property, budget {}",
        opts.cases,
        budget.map_or("unlimited".to_string(), |b| b.to_string())
    ));
    for p in &opts.properties {
        if !properties::ALL.iter().any(|q| q.name == p) {
            return Err(format!(
                "unknown property '{p}'; known: {}",
                properties::ALL
                    .iter()
                    .map(|q| q.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    let mut reports = Vec::new();
    for p in properties::ALL
        .iter()
        .filter(|p| opts.properties.is_empty() || opts.properties.iter().any(|n| n == p.name))
    {
        let s = report::property_seed(seed, p.name);
        reports.push(run_property(p.name, seed, || (p.run)(&ctx, s)));
    }
    let dry_run_log = ctx
        .dry_run_log
        .lock()
        .map(|l| l.clone())
        .unwrap_or_default();
    notes.extend(ctx.notes());
    notes.extend(ctx.target.give_back());
    Ok(Run {
        reports,
        seed,
        target: base,
        spent: ctx.budget.spent.load(std::sync::atomic::Ordering::Relaxed),
        spent_units: ctx.budget.spent_units(),
        dry_run_log,
        notes,
    })
}
