//! `kling-contract`: check a Kling API (the real one, or kling-mock) against the documents.

use clap::Parser;
use kling_contract::target::{Account, RemoteSpec};
use kling_contract::{Options, report};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// Property-based conformance checks of the Kling API. Without --base-url it starts a kling-mock
/// in-process and checks that.
#[derive(Debug, Parser)]
#[command(name = "kling-contract", version, about)]
struct Cli {
    /// Base URL of the server to check, e.g. https://api-singapore.klingai.com or http://127.0.0.1:8080.
    #[arg(long, env = "KLING_BASE_URL")]
    base_url: Option<String>,
    /// Access key (with --base-url).
    #[arg(long, env = "KLING_ACCESS_KEY")]
    access_key: Option<String>,
    /// Secret key (with --base-url).
    #[arg(long, env = "KLING_SECRET_KEY", hide_env_values = true)]
    secret_key: Option<String>,
    /// A second account's access key, for the isolation property.
    #[arg(long, env = "KLING_ACCESS_KEY_2")]
    access_key_2: Option<String>,
    /// A second account's secret key.
    #[arg(long, env = "KLING_SECRET_KEY_2", hide_env_values = true)]
    secret_key_2: Option<String>,
    /// The --base-url server is a kling-mock: no spending limit by default, checks that try to
    /// delete presets are allowed, and time is moved through its control plane instead of waited.
    /// The run leaves the mock as it found it: it works in two accounts of its own (added, then
    /// removed with all they hold) and sets the clock back at the end; the keys are optional.
    #[arg(long)]
    mock_target: bool,
    /// The control token of that kling-mock (its --control-token), if it has one.
    #[arg(long, env = "KLING_CONTRACT_CONTROL_TOKEN", hide_env_values = true)]
    mock_control_token: Option<String>,
    /// Units of the resource pack the run may spend (default: 0 against --base-url, so only the
    /// free properties run; unlimited against a mock). A video create counts its unit cost from
    /// the cost table (fixtures/video-models.json; the cheapest model is used), any other billable
    /// create one unit.
    #[arg(long, env = "KLING_CONTRACT_BUDGET")]
    budget: Option<u64>,
    /// Print the billable requests that would be sent instead of sending them.
    #[arg(long)]
    dry_run: bool,
    /// At most this many requests per second.
    #[arg(long)]
    rate_limit: Option<f64>,
    /// Cases per property.
    #[arg(long, env = "KLING_CONTRACT_CASES", default_value_t = 24)]
    cases: u32,
    /// Seed of the run (printed; replays a failure with --property).
    #[arg(long)]
    seed: Option<u64>,
    /// Run only this property (repeatable).
    #[arg(long = "property")]
    properties: Vec<String>,
    /// Check only this task family (repeatable; a key of `families` in
    /// fixtures/contract/endpoints.json, e.g. image_generation): for a target that serves only
    /// some of them. Lists, creates and queries of the other families are left out.
    #[arg(long = "family")]
    families: Vec<String>,
    /// Public base URL that reaches the callback receiver (e.g. a tunnel to --callback-listen).
    #[arg(long)]
    callback_base_url: Option<String>,
    /// Address the callback receiver listens on (default 127.0.0.1, any port).
    #[arg(long)]
    callback_listen: Option<SocketAddr>,
    /// Write a JUnit XML report here.
    #[arg(long)]
    junit: Option<PathBuf>,
    /// Write a JSON report here.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A kling-mock target needs no keys: the run adds accounts of its own (and falls back on
    // the development account of a mock started with none configured).
    let dev = (
        kling_mock::config::DEV_ACCESS_KEY.to_string(),
        kling_mock::config::DEV_SECRET_KEY.to_string(),
    );
    let (access_key, secret_key) = match (cli.access_key.clone(), cli.secret_key.clone()) {
        (None, None) if cli.mock_target => (Some(dev.0), Some(dev.1)),
        keys => keys,
    };
    let remote = match (&cli.base_url, &access_key, &secret_key) {
        (None, _, _) => None,
        (Some(base), Some(ak), Some(sk)) => Some(RemoteSpec {
            base_url: base.clone(),
            account: Account {
                access_key: ak.clone(),
                secret_key: sk.clone(),
            },
            second: match (&cli.access_key_2, &cli.secret_key_2) {
                (Some(a), Some(s)) => Some(Account {
                    access_key: a.clone(),
                    secret_key: s.clone(),
                }),
                _ => None,
            },
            control_token: cli.mock_control_token.clone(),
        }),
        (Some(_), _, _) => {
            eprintln!(
                "kling-contract: --base-url needs --access-key and --secret-key (or KLING_ACCESS_KEY / KLING_SECRET_KEY), unless it is a kling-mock (--mock-target)"
            );
            return ExitCode::from(2);
        }
    };
    let opts = Options {
        remote,
        mock_target: cli.mock_target,
        cases: cli.cases.max(1),
        seed: cli.seed,
        properties: cli.properties,
        families: cli.families,
        budget: cli.budget,
        dry_run: cli.dry_run,
        rate_limit: cli.rate_limit,
        callback_base_url: cli.callback_base_url,
        callback_listen: cli.callback_listen,
    };
    let run = match kling_contract::run(opts) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("kling-contract: {e}");
            return ExitCode::from(2);
        }
    };
    for line in &run.dry_run_log {
        println!("DRY RUN would send: {line}");
    }
    for note in &run.notes {
        println!("note: {note}");
    }
    println!(
        "billable creates sent: {} ({} units); seed: {}",
        run.spent,
        (run.spent_units * 1000.0).round() / 1000.0,
        run.seed
    );
    // The summary ends with the "N passed, N failed, N skipped" line, last, for CI log readers.
    print!("{}", report::summary(&run.reports));
    if let Some(p) = &cli.junit
        && let Err(e) = std::fs::write(p, report::junit_report(&run.reports))
    {
        eprintln!("kling-contract: cannot write {}: {e}", p.display());
        return ExitCode::from(2);
    }
    if let Some(p) = &cli.json
        && let Err(e) = std::fs::write(p, report::json_report(&run.reports, &run.target))
    {
        eprintln!("kling-contract: cannot write {}: {e}", p.display());
        return ExitCode::from(2);
    }
    if run.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
