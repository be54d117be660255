//! Running properties and reporting: progress on stderr, a summary table, JUnit and JSON files.

use crate::ctx::Ctx;
use proptest::strategy::Strategy;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use serde::Serialize;
use std::fmt::Debug;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How a property ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "lowercase")]
pub enum Outcome {
    /// Every case held.
    Passed {
        /// Cases run.
        cases: u32,
    },
    /// A case failed.
    Failed {
        /// Cases run, shrinking included.
        cases: u32,
        /// What went wrong (the assertion and the response).
        message: String,
        /// The minimal (shrunk) input.
        input: String,
    },
    /// Not run, and why (budget, no second account, unreachable receiver, ...).
    Skipped {
        /// Why.
        reason: String,
    },
}

/// One property's report.
#[derive(Clone, Debug, Serialize)]
pub struct PropertyReport {
    /// Property name.
    pub name: String,
    /// How it ended.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// Wall time, seconds.
    pub seconds: f64,
    /// Replay: `--seed <seed> --property <name>`.
    pub seed: u64,
}

impl PropertyReport {
    /// Whether it failed.
    pub fn failed(&self) -> bool {
        matches!(self.outcome, Outcome::Failed { .. })
    }
}

/// A failure inside a property, before it becomes a report.
#[derive(Clone, Debug)]
pub struct Failure {
    /// What went wrong.
    pub message: String,
    /// The minimal input.
    pub input: String,
    /// Cases run.
    pub cases: u32,
}

/// What a property's run function returns.
pub type PropResult = Result<u32, PropError>;

/// A property did not pass.
#[derive(Clone, Debug)]
pub enum PropError {
    /// It failed.
    Failed(Failure),
    /// It could not run.
    Skipped(String),
}

/// The per-property proptest seed, derived from the run seed and the name (so a property replays
/// alone with the same `--seed`).
pub fn property_seed(run_seed: u64, name: &str) -> [u8; 32] {
    let mut h = run_seed ^ 0x6b6c_696e_6763_6f6e;
    for b in name.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    let mut out = [0u8; 32];
    for (i, chunk) in out.chunks_mut(8).enumerate() {
        h = splitmix(h.wrapping_add(i as u64));
        chunk.copy_from_slice(&h.to_le_bytes());
    }
    out
}

fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Run `test` on `ctx.cases` inputs from `strategy`, shrinking a failure to its minimal input.
pub fn check<S>(
    ctx: &Ctx,
    seed: [u8; 32],
    cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) -> PropResult
where
    S: Strategy,
    S::Value: Debug,
{
    // Every shrinking step is a real request (and, against the real API, maybe a paid one).
    let shrink = if ctx.target.virtual_time() { 256 } else { 16 };
    check_with(seed, cases, shrink, strategy, test)
}

/// [`check`] with at most `max_shrink_iters` shrinking steps (a property whose cases are slow,
/// such as decoding videos, shrinks less).
pub fn check_with<S>(
    seed: [u8; 32],
    cases: u32,
    max_shrink_iters: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) -> PropResult
where
    S: Strategy,
    S::Value: Debug,
{
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters,
        max_global_rejects: cases * 20 + 100,
        ..Config::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &seed));
    let count = AtomicU32::new(0);
    let last_tick = std::cell::Cell::new(Instant::now());
    let result = runner.run(&strategy, |v| {
        let n = count.fetch_add(1, Ordering::Relaxed) + 1;
        // Long runs (real targets, many cases) show they are alive every few seconds.
        if last_tick.get().elapsed() >= Duration::from_secs(5) {
            last_tick.set(Instant::now());
            CURRENT.with(|c| progress(&format!("  … {}: {n} cases so far", c.borrow())));
        }
        test(v)
    });
    let cases = count.load(Ordering::Relaxed);
    match result {
        Ok(()) => Ok(cases),
        Err(TestError::Fail(reason, input)) => Err(PropError::Failed(Failure {
            message: reason.to_string(),
            input: format!("{input:#?}"),
            cases,
        })),
        Err(TestError::Abort(reason)) => {
            let r = reason.to_string();
            if r.contains("Too many global rejects") {
                Err(PropError::Skipped(format!("no case could run: {r}")))
            } else {
                Err(PropError::Failed(Failure {
                    message: r,
                    input: String::new(),
                    cases,
                }))
            }
        }
    }
}

thread_local! {
    /// The property being run on this thread (for progress lines).
    static CURRENT: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// Print a progress line to stderr.
pub fn progress(line: &str) {
    // eprintln!, not a raw stderr handle, so a test harness can capture it.
    eprintln!("{line}");
}

/// Run one property's function into a report.
pub fn run_property(name: &str, run_seed: u64, f: impl FnOnce() -> PropResult) -> PropertyReport {
    progress(&format!("▶ {name} ..."));
    CURRENT.with(|c| *c.borrow_mut() = name.to_string());
    let start = Instant::now();
    let outcome = match f() {
        Ok(cases) => Outcome::Passed { cases },
        Err(PropError::Failed(f)) => Outcome::Failed {
            cases: f.cases,
            message: f.message,
            input: f.input,
        },
        Err(PropError::Skipped(reason)) => Outcome::Skipped { reason },
    };
    let seconds = start.elapsed().as_secs_f64();
    let report = PropertyReport {
        name: name.to_string(),
        outcome,
        seconds,
        seed: run_seed,
    };
    match &report.outcome {
        Outcome::Passed { cases } => progress(&format!(
            "  ✓ {name}: {cases} cases passed in {seconds:.2}s"
        )),
        Outcome::Skipped { reason } => progress(&format!("  - {name}: skipped ({reason})")),
        Outcome::Failed {
            cases,
            message,
            input,
        } => progress(&format!(
            "  ✗ {name}: FAILED after {cases} cases\n    {}\n    minimal input:\n{}\n    replay: kling-contract --seed {run_seed} --property {name}",
            message.replace('\n', "\n    "),
            indent(input, 6)
        )),
    }
    report
}

fn indent(s: &str, n: usize) -> String {
    let pad = " ".repeat(n);
    s.lines()
        .map(|l| format!("{pad}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The summary table.
pub fn summary(reports: &[PropertyReport]) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "{:<12} {:>6} {:<8} {:>8}\n",
        "property", "cases", "result", "time"
    ));
    for r in reports {
        let (cases, result, why) = match &r.outcome {
            Outcome::Passed { cases } => (cases.to_string(), "passed", String::new()),
            Outcome::Failed { cases, .. } => (cases.to_string(), "FAILED", String::new()),
            // Said in the table itself, so a skip is never mistaken for a pass.
            Outcome::Skipped { reason } => ("-".to_string(), "skipped", format!("  ({reason})")),
        };
        out.push_str(&format!(
            "{:<12} {:>6} {:<8} {:>7.2}s{why}\n",
            r.name, cases, result, r.seconds
        ));
    }
    let passed = reports
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Passed { .. }))
        .count();
    let failed = reports.iter().filter(|r| r.failed()).count();
    let skipped = reports.len() - passed - failed;
    out.push_str(&format!(
        "{passed} passed, {failed} failed, {skipped} skipped\n"
    ));
    out
}

/// The JSON report.
pub fn json_report(reports: &[PropertyReport], target: &str) -> String {
    serde_json::to_string_pretty(&serde_json::json!({ "target": target, "properties": reports }))
        .unwrap_or_default()
}

/// The JUnit XML report (one testsuite, one testcase per property).
pub fn junit_report(reports: &[PropertyReport]) -> String {
    let failures = reports.iter().filter(|r| r.failed()).count();
    let skipped = reports
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Skipped { .. }))
        .count();
    let total: f64 = reports.iter().map(|r| r.seconds).sum();
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.push_str(&format!(
        "<testsuite name=\"kling-contract\" tests=\"{}\" failures=\"{failures}\" skipped=\"{skipped}\" time=\"{total:.3}\">\n",
        reports.len()
    ));
    for r in reports {
        x.push_str(&format!(
            "  <testcase classname=\"kling-contract\" name=\"{}\" time=\"{:.3}\">",
            esc(&r.name),
            r.seconds
        ));
        match &r.outcome {
            Outcome::Passed { .. } => {}
            Outcome::Skipped { reason } => x.push_str(&format!("<skipped message=\"{}\"/>", esc(reason))),
            Outcome::Failed { message, input, .. } => x.push_str(&format!(
                "<failure message=\"{}\">{}\nminimal input:\n{}\nreplay: --seed {} --property {}</failure>",
                esc(message.lines().next().unwrap_or("")),
                esc(message),
                esc(input),
                r.seed,
                esc(&r.name)
            )),
        }
        x.push_str("</testcase>\n");
    }
    x.push_str("</testsuite>\n");
    x
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<PropertyReport> {
        vec![
            PropertyReport {
                name: "auth".into(),
                outcome: Outcome::Passed { cases: 8 },
                seconds: 0.5,
                seed: 1,
            },
            PropertyReport {
                name: "paging".into(),
                outcome: Outcome::Failed {
                    cases: 3,
                    message: "page 2 has <4> items".into(),
                    input: "3".into(),
                },
                seconds: 1.0,
                seed: 1,
            },
            PropertyReport {
                name: "isolation".into(),
                outcome: Outcome::Skipped {
                    reason: "no second account".into(),
                },
                seconds: 0.0,
                seed: 1,
            },
        ]
    }

    #[test]
    fn the_summary_counts_each_outcome() {
        let s = summary(&sample());
        assert!(s.contains("1 passed, 1 failed, 1 skipped"), "{s}");
        assert!(s.contains("paging") && s.contains("FAILED"));
        let row = s.lines().find(|l| l.starts_with("isolation")).unwrap();
        assert!(
            row.contains("skipped") && row.ends_with("(no second account)"),
            "{row}"
        );
    }

    #[test]
    fn junit_and_json_reports_name_every_property() {
        let x = junit_report(&sample());
        assert!(
            x.contains("tests=\"3\" failures=\"1\" skipped=\"1\""),
            "{x}"
        );
        assert!(x.contains("page 2 has &lt;4&gt; items"), "escaped: {x}");
        let j: serde_json::Value =
            serde_json::from_str(&json_report(&sample(), "http://x")).unwrap();
        assert_eq!(j["properties"][1]["result"], "failed");
        assert_eq!(j["properties"][2]["reason"], "no second account");
    }

    #[test]
    fn property_seeds_differ_by_name_and_repeat_for_the_same_seed() {
        assert_eq!(property_seed(5, "auth"), property_seed(5, "auth"));
        assert_ne!(property_seed(5, "auth"), property_seed(5, "paging"));
        assert_ne!(property_seed(5, "auth"), property_seed(6, "auth"));
    }
}
