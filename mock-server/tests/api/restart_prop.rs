//! Restarts as a property (issue 16): a random sequence of calls by two accounts over every task
//! family of the oracle (`fixtures/contract/endpoints.json`), a graceful restart at a random point
//! of it, and every account's answers must be the
//! same on both sides of the restart: every family's list, every task by id and by external id,
//! the account's packs and limits, every result file (and TTS file) byte for byte. The clock is
//! frozen, and the restarted server is bound with a clock a day off: the store must bring its
//! own back. After the restart the rest of the sequence runs on the restored server, and the
//! answers are checked once more across a second restart. 16 cases by default
//! (`KLING_MOCK_RESTART_CASES=N` for more). Tried against a store that forgets the clock: it
//! fails at once, shrunk to the empty sequence.

use crate::helpers::*;
use crate::isolation_prop::FAMILIES;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

const START_MS: i64 = 1_790_000_000_000;

#[derive(Clone, Debug)]
enum Op {
    /// A create in family `family` by account `who` (0 or 1), with `job-{ext}` as its external id.
    Create {
        who: usize,
        family: usize,
        ext: Option<u8>,
    },
    /// A TTS call (a media file and id that are not a task).
    Tts { who: usize },
    /// Packs and limits changed by the operator.
    Packs { who: usize, total: u16 },
    /// The clock moves.
    Advance { ms: u32 },
}

fn op() -> impl Strategy<Value = Op> {
    let who = 0usize..2;
    prop_oneof![
        4 => (who.clone(), 0..FAMILIES.len(), proptest::option::of(0u8..6))
            .prop_map(|(who, family, ext)| Op::Create { who, family, ext }),
        1 => who.clone().prop_map(|who| Op::Tts { who }),
        1 => (who, 1u16..50).prop_map(|(who, total)| Op::Packs { who, total }),
        2 => (0u32..6000).prop_map(|ms| Op::Advance { ms }),
    ]
}

const KEYS: [(&str, &str); 2] = [(AK, SK), (AK2, SK2)];

/// A server on the store at `path`, its clock frozen at `at_ms`.
async fn start(path: &Path, at_ms: i64) -> Stoppable {
    let cfg = kling_mock::Config {
        state_file: Some(path.to_path_buf()),
        state_interval: Duration::from_secs(3600),
        public_url: Some("http://mock.test".into()),
        ..config()
    };
    spawn_stoppable(cfg, at_ms).await
}

/// Stop gracefully: the store's last write is done when this returns.
async fn stop((_, tx, run): Stoppable) {
    tx.send(()).unwrap();
    run.await.unwrap().unwrap();
}

async fn apply(app: &TestApp, op: &Op, tts: &mut Vec<String>) {
    match *op {
        Op::Create { who, family, ext } => {
            let f = &FAMILIES[family];
            let mut body = f.example.clone();
            if let Some(e) = ext {
                body["external_task_id"] = json!(format!("job-{e}"));
            }
            let (ak, sk) = KEYS[who];
            // A duplicate external id is refused (1201): both sides of a restart must agree.
            app.post_as(ak, sk, &f.create, body).await;
        }
        Op::Tts { who } => {
            let (ak, sk) = KEYS[who];
            let a = app
                .post_as(
                    ak,
                    sk,
                    "/v1/audio/tts",
                    json!({"text": "a restart", "voice_id": "oversea_male1", "voice_language": "en"}),
                )
                .await;
            if let Some(u) = a.body["data"]["task_result"]["audios"][0]["url"].as_str() {
                tts.push(u.to_string());
            }
        }
        Op::Packs { who, total } => {
            app.ctl_put(
                &format!("/__mock/accounts/{}", KEYS[who].0),
                json!({"packs": [{"name": "p", "total": total}], "concurrency": {"video": 4}}),
            )
            .await;
        }
        Op::Advance { ms } => app.advance(Duration::from_millis(ms as u64)),
    }
}

/// Every URL in `v`.
fn urls(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) if s.starts_with("http://mock.test/files/") => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| urls(x, out)),
        Value::Object(m) => m.values().for_each(|x| urls(x, out)),
        _ => {}
    }
}

/// What each account sees: every family's tasks (list, by id, by external id), its packs, and
/// every result file's bytes.
async fn snapshot(app: &TestApp, tts_urls: &[String]) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let mut files = Vec::new();
    for (ak, sk) in KEYS {
        for f in FAMILIES.iter() {
            let list = app
                .get_as(ak, sk, &format!("{}?pageSize=500", f.list))
                .await
                .ok()
                .clone();
            for t in list.as_array().unwrap() {
                let id = t["task_id"].as_str().unwrap();
                let one = app
                    .get_as(ak, sk, &f.query.replace("{id}", id))
                    .await
                    .ok()
                    .clone();
                out.insert(format!("{ak} {} {id}", f.name), one);
                if let Some(ext) = t["task_info"]["external_task_id"].as_str() {
                    let by_ext = app
                        .get_as(ak, sk, &f.query.replace("{id}", ext))
                        .await
                        .ok()
                        .clone();
                    out.insert(format!("{ak} {} ext {ext}", f.name), by_ext);
                }
                urls(t, &mut files);
            }
            out.insert(format!("{ak} {} list", f.name), list);
        }
        let acc = app.ctl_get(&format!("/__mock/accounts/{ak}")).await;
        out.insert(format!("{ak} settings"), acc.ok()["settings"].clone());
    }
    files.extend(tts_urls.iter().cloned());
    for url in files {
        let local = format!("{}{}", app.base, url.trim_start_matches("http://mock.test"));
        let (status, _, bytes) = app.fetch(&local).await;
        let digest = format!("{status} {} bytes, sum {}", bytes.len(), {
            bytes
                .iter()
                .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(*b as u64))
        });
        out.insert(format!("file {url}"), json!(digest));
    }
    out.insert("clock".into(), json!(app.state.clock.now_ms()));
    out
}

fn differences(a: &BTreeMap<String, Value>, b: &BTreeMap<String, Value>) -> Vec<String> {
    let mut d = Vec::new();
    for (k, v) in a {
        match b.get(k) {
            Some(w) if w == v => {}
            Some(w) => d.push(format!("{k}: {v} became {w}")),
            None => d.push(format!("{k}: gone")),
        }
    }
    for k in b.keys().filter(|k| !a.contains_key(*k)) {
        d.push(format!("{k}: new"));
    }
    d
}

fn path_for(case: u64) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kling-mock-restart-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(format!("case-{case}.db"));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", p.display()));
    }
    p
}

async fn case(ops: Vec<Op>, at: usize, n: u64) -> Result<(), TestCaseError> {
    let path = path_for(n);
    let mut r = start(&path, START_MS).await;
    let at = at.min(ops.len());
    let mut tts = Vec::new();
    for op in &ops[..at] {
        apply(&r.0, op, &mut tts).await;
    }
    let before = snapshot(&r.0, &tts).await;
    stop(r).await;
    // Bound with a clock a day off: the store's frozen clock must come back.
    r = start(&path, START_MS - 86_400_000).await;
    let after = snapshot(&r.0, &tts).await;
    let d = differences(&before, &after);
    prop_assert!(d.is_empty(), "changed across the restart: {d:#?}");
    for op in &ops[at..] {
        apply(&r.0, op, &mut tts).await;
    }
    let end = snapshot(&r.0, &tts).await;
    stop(r).await;
    r = start(&path, START_MS).await;
    let again = snapshot(&r.0, &tts).await;
    let d = differences(&end, &again);
    prop_assert!(d.is_empty(), "changed across the second restart: {d:#?}");
    stop(r).await;
    Ok(())
}

fn cases() -> u32 {
    std::env::var("KLING_MOCK_RESTART_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        max_shrink_iters: 200,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_accounts_answers_are_the_same_across_a_restart(
        ops in proptest::collection::vec(op(), 0..24),
        at in 0usize..24,
    ) {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(case(ops, at, n))?;
    }
}
