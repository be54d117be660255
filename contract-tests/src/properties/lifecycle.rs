//! *lifecycle* (stateful): over random sequences of create / query / list / wait / delete calls,
//! status only moves forward along `submitted → processing → succeed|failed`, terminal states
//! never change, `created_at` is stable, `updated_at` never decreases, a result exists exactly
//! when the task succeeded, and a failed task says why in `task_status_msg`.

use super::{billable_cases, check_envelope, ensure, fail, need_budget, rank};
use crate::ctx::Ctx;
use crate::report::{PropResult, check};
use crate::strategies::SAMPLE_VOICE_URL;
use crate::target::Reply;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;

/// One call of a sequence.
#[derive(Clone, Debug)]
pub enum Op {
    /// Create a text-to-audio task (`voice = false`) or a custom voice.
    Create {
        /// Custom voice instead of text-to-audio.
        voice: bool,
        /// Text-to-audio duration in tenths.
        tenths: u32,
    },
    /// Query the n-th created task (modulo the count).
    Query(usize),
    /// List the first page of one family.
    List(bool),
    /// Let this many milliseconds pass.
    Wait(u32),
    /// Delete the voice of the n-th created task, if it is a finished custom voice.
    Delete(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (any::<bool>(), 30u32..=100).prop_map(|(voice, tenths)| Op::Create { voice, tenths }),
        3 => any::<usize>().prop_map(Op::Query),
        1 => any::<bool>().prop_map(Op::List),
        2 => (0u32..4000).prop_map(Op::Wait),
        1 => any::<usize>().prop_map(Op::Delete),
    ]
}

struct Tracked {
    voice: bool,
    id: String,
    last: Option<Value>,
    deleted: bool,
}

fn get_path(ctx: &Ctx, voice: bool) -> String {
    ctx.contract.endpoint(super::family(voice).get).path.clone()
}

fn list_path(ctx: &Ctx, voice: bool) -> String {
    ctx.contract
        .endpoint(super::family(voice).list)
        .path
        .clone()
}

/// Check one observation of a task against the previous one.
pub fn observe(
    prev: Option<&Value>,
    now: &Value,
    voice: bool,
    reply: &Reply,
) -> Result<(), TestCaseError> {
    let status = now["task_status"].as_str().unwrap_or("");
    let r = rank(status).ok_or_else(|| fail(format!("unknown status '{status}'"), reply))?;
    let key = if voice { "voices" } else { "audios" };
    let results = now["task_result"][key].as_array().map_or(0, Vec::len);
    ensure(
        (status == "succeed") == (results > 0),
        format!("status {status} with {results} results"),
        reply,
    )?;
    if status == "failed" {
        ensure(
            now["task_status_msg"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "a failed task has no task_status_msg",
            reply,
        )?;
    }
    if let Some(p) = prev {
        let ps = p["task_status"].as_str().unwrap_or("");
        let pr = rank(ps).unwrap_or(0);
        ensure(
            r >= pr,
            format!("status went back from {ps} to {status}"),
            reply,
        )?;
        if pr == 2 {
            ensure(
                ps == status,
                format!("terminal status {ps} changed to {status}"),
                reply,
            )?;
        }
        ensure(
            p["created_at"] == now["created_at"],
            "created_at changed",
            reply,
        )?;
        let (pu, nu) = (
            p["updated_at"].as_i64().unwrap_or(0),
            now["updated_at"].as_i64().unwrap_or(0),
        );
        ensure(
            nu >= pu,
            format!("updated_at went back from {pu} to {nu}"),
            reply,
        )?;
    }
    Ok(())
}

/// Run the property.
pub fn run(ctx: &Ctx, seed: [u8; 32]) -> PropResult {
    need_budget(ctx, 1)?;
    let strategy = proptest::collection::vec(op(), 1..10);
    check(ctx, seed, billable_cases(ctx), strategy, |ops| {
        let mut tasks: Vec<Tracked> = Vec::new();
        let apply = |tasks: &mut Vec<Tracked>, op: &Op| -> Result<(), TestCaseError> {
            match *op {
                Op::Create { voice, tenths } => {
                    let (endpoint, body) = if voice {
                        (
                            "custom_voice_create",
                            json!({"voice_name": "contract", "voice_url": SAMPLE_VOICE_URL, "external_task_id": ctx.unique("lc")}),
                        )
                    } else {
                        (
                            "text_to_audio_create",
                            json!({"prompt": "contract lifecycle", "duration": tenths as f64 / 10.0, "external_task_id": ctx.unique("lc")}),
                        )
                    };
                    let Ok(reply) = ctx.create(endpoint, 0, body) else {
                        return Ok(());
                    };
                    check_envelope(ctx, &reply, "created")?;
                    ensure(
                        reply.data()["task_status"] == "submitted",
                        "a new task is not submitted",
                        &reply,
                    )?;
                    let id = reply.data()["task_id"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string();
                    tasks.push(Tracked {
                        voice,
                        id,
                        last: None,
                        deleted: false,
                    });
                }
                Op::Query(i) if !tasks.is_empty() => {
                    let n = i % tasks.len();
                    let t = &mut tasks[n];
                    if t.deleted {
                        return Ok(());
                    }
                    let reply = ctx.get(0, &get_path(ctx, t.voice).replace("{id}", &t.id));
                    check_envelope(ctx, &reply, "task")?;
                    ensure(
                        reply.is_success(),
                        "a created task cannot be queried",
                        &reply,
                    )?;
                    observe(t.last.as_ref(), reply.data(), t.voice, &reply)?;
                    t.last = Some(reply.data().clone());
                }
                Op::List(voice) => {
                    let reply = ctx.get(0, &format!("{}?pageSize=50", list_path(ctx, voice)));
                    check_envelope(ctx, &reply, "task_list")?;
                    let items: HashMap<String, Value> = reply
                        .data()
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|t| Some((t["task_id"].as_str()?.to_string(), t.clone())))
                        .collect();
                    for t in tasks.iter_mut().filter(|t| t.voice == voice && !t.deleted) {
                        if let Some(now) = items.get(&t.id) {
                            observe(t.last.as_ref(), now, voice, &reply)?;
                            t.last = Some(now.clone());
                        }
                    }
                }
                Op::Wait(ms) => ctx.target.pass(Duration::from_millis(ms as u64)),
                Op::Delete(i) if !tasks.is_empty() => {
                    let n = i % tasks.len();
                    let t = &mut tasks[n];
                    let voice_id = t.last.as_ref().and_then(|l| {
                        l["task_result"]["voices"][0]["voice_id"]
                            .as_str()
                            .map(str::to_string)
                    });
                    if let (true, false, Some(v)) = (t.voice, t.deleted, voice_id)
                        && ctx.created_by_us(0, &t.id)
                    {
                        let path = ctx.contract.endpoint("delete_voice").path.clone();
                        let reply = ctx
                            .target
                            .call(&crate::target::Request::post(path, json!({"voice_id": v})));
                        check_envelope(ctx, &reply, "deleted")?;
                        ensure(
                            reply.is_success(),
                            "the owner could not delete a finished custom voice",
                            &reply,
                        )?;
                        t.deleted = true;
                    }
                }
                Op::Query(_) | Op::Delete(_) => {}
            }
            Ok(())
        };
        for op in &ops {
            apply(&mut tasks, op)?;
        }
        // Finish every task and check the whole history once more.
        for t in tasks.iter_mut().filter(|t| !t.deleted) {
            let path = get_path(ctx, t.voice);
            let mut replies = ctx.settle(0, &path, &t.id);
            // One more look a while after the end: a terminal state must stay.
            ctx.target.pass(Duration::from_millis(1500));
            replies.push(ctx.get(0, &path.replace("{id}", &t.id)));
            for reply in replies {
                check_envelope(ctx, &reply, "task")?;
                observe(t.last.as_ref(), reply.data(), t.voice, &reply)?;
                t.last = Some(reply.data().clone());
            }
            let last = t.last.clone().unwrap_or_default();
            let status = last["task_status"].as_str().unwrap_or("");
            if rank(status) != Some(2) {
                return Err(TestCaseError::fail(format!(
                    "task {} did not finish in time (last status '{status}')",
                    t.id
                )));
            }
        }
        Ok(())
    })
}
