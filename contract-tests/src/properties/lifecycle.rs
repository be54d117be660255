//! *lifecycle* (stateful): over random sequences of create / query / list / wait / delete calls,
//! status only moves forward along `submitted → processing → succeed|failed`, terminal states
//! never change, `created_at` is stable, `updated_at` never decreases, a result exists exactly
//! when the task succeeded, and a failed task says why in `task_status_msg`.

use super::{
    Family, any_family, billable_cases, check_envelope, ensure, fail, need_budget, rank,
    varied_body,
};
use crate::ctx::Ctx;
use crate::report::{PropResult, check};
use crate::target::Reply;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;

/// One call of a sequence.
#[derive(Clone, Debug)]
pub enum Op {
    /// Create a task of a family (an index into the oracle's families).
    Create {
        /// The family.
        family: usize,
        /// The value, in tenths, of the family's first ranged number field (clamped into its
        /// range), e.g. a text-to-audio duration.
        tenths: u32,
    },
    /// Query the n-th created task (modulo the count).
    Query(usize),
    /// List the first page of one family.
    List(usize),
    /// Let this many milliseconds pass.
    Wait(u32),
    /// Delete what the n-th created task made, if it finished and its family has a delete.
    Delete(usize),
}

fn op(families: std::ops::Range<usize>) -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (families.clone(), 30u32..=100).prop_map(|(family, tenths)| Op::Create { family, tenths }),
        3 => any::<usize>().prop_map(Op::Query),
        1 => families.prop_map(Op::List),
        2 => (0u32..4000).prop_map(Op::Wait),
        1 => any::<usize>().prop_map(Op::Delete),
    ]
}

struct Tracked {
    family: usize,
    id: String,
    last: Option<Value>,
    deleted: bool,
}

/// Check one observation of a task against the previous one (and, on success, each result
/// against the family's result shape).
pub fn observe(
    ctx: &Ctx,
    prev: Option<&Value>,
    now: &Value,
    family: &Family,
    reply: &Reply,
) -> Result<(), TestCaseError> {
    let results_key = family.results.as_str();
    let status = now["task_status"].as_str().unwrap_or("");
    let r = rank(status).ok_or_else(|| fail(format!("unknown status '{status}'"), reply))?;
    let results = now["task_result"][results_key]
        .as_array()
        .map_or(0, Vec::len);
    ensure(
        (status == "succeed") == (results > 0),
        format!("status {status} with {results} results"),
        reply,
    )?;
    if let (Some(shape), "succeed") = (&family.result_shape, status) {
        for (i, r) in now["task_result"][results_key]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            crate::shape::check(
                &ctx.contract.shapes,
                &Value::from(shape.as_str()),
                r,
                &format!("task_result.{results_key}[{i}]"),
            )
            .map_err(|e| fail(e, reply))?;
        }
    }
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
    let families = &ctx.contract.families;
    let strategy = proptest::collection::vec(op(any_family(ctx)), 1..10);
    check(ctx, seed, billable_cases(ctx), strategy, |ops| {
        let mut tasks: Vec<Tracked> = Vec::new();
        let apply = |tasks: &mut Vec<Tracked>, op: &Op| -> Result<(), TestCaseError> {
            match *op {
                Op::Create { family, tenths } => {
                    let f = &families[family];
                    let mut body = varied_body(ctx, f, tenths);
                    body["external_task_id"] = json!(ctx.unique("lc"));
                    let reply = match ctx.create(&f.create, 0, body) {
                        Ok(r) => r,
                        Err(crate::ctx::NotSent::NeedFailed(why)) => {
                            return Err(TestCaseError::fail(why));
                        }
                        Err(_) => return Ok(()),
                    };
                    check_envelope(ctx, &reply, &ctx.contract.endpoint(&f.create).response)?;
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
                        family,
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
                    let f = &families[t.family];
                    let get = ctx.contract.endpoint(&f.get);
                    let reply = ctx.get(0, &get.path.replace("{id}", &t.id));
                    check_envelope(ctx, &reply, &get.response)?;
                    ensure(
                        reply.is_success(),
                        "a created task cannot be queried",
                        &reply,
                    )?;
                    observe(ctx, t.last.as_ref(), reply.data(), f, &reply)?;
                    t.last = Some(reply.data().clone());
                }
                Op::List(family) => {
                    let f = &families[family];
                    let list = ctx.contract.endpoint(&f.list);
                    let reply = ctx.get(0, &format!("{}?pageSize=50", list.path));
                    check_envelope(ctx, &reply, &list.response)?;
                    let items: HashMap<String, Value> = reply
                        .data()
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|t| Some((t["task_id"].as_str()?.to_string(), t.clone())))
                        .collect();
                    for t in tasks
                        .iter_mut()
                        .filter(|t| t.family == family && !t.deleted)
                    {
                        if let Some(now) = items.get(&t.id) {
                            observe(ctx, t.last.as_ref(), now, f, &reply)?;
                            t.last = Some(now.clone());
                        }
                    }
                }
                Op::Wait(ms) => ctx.target.pass(Duration::from_millis(ms as u64)),
                Op::Delete(i) if !tasks.is_empty() => {
                    let n = i % tasks.len();
                    let t = &mut tasks[n];
                    let f = &families[t.family];
                    let Some(d) = &f.delete else {
                        return Ok(());
                    };
                    // A voice id is a string, an element id a number (§5.14: `long`).
                    let made = t.last.as_ref().and_then(|l| {
                        let v = &l["task_result"][&f.results][0][&d.result_field];
                        (v.is_string() || v.is_number()).then(|| v.clone())
                    });
                    if let (false, Some(v)) = (t.deleted, made)
                        && ctx.created_by_us(0, &t.id)
                    {
                        let delete = ctx.contract.endpoint(&d.endpoint);
                        let reply = ctx.target.call(&crate::target::Request::post(
                            delete.path.clone(),
                            json!({ d.field.as_str(): v }),
                        ));
                        check_envelope(ctx, &reply, &delete.response)?;
                        ensure(
                            reply.is_success(),
                            format!(
                                "the owner could not delete what a finished {} task made",
                                f.name
                            ),
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
            let f = &families[t.family];
            let get = ctx.contract.endpoint(&f.get);
            let path = get.path.clone();
            let mut replies = ctx.settle(0, &path, &t.id);
            // One more look a while after the end: a terminal state must stay.
            ctx.target.pass(Duration::from_millis(1500));
            replies.push(ctx.get(0, &path.replace("{id}", &t.id)));
            for reply in replies {
                check_envelope(ctx, &reply, &get.response)?;
                observe(ctx, t.last.as_ref(), reply.data(), f, &reply)?;
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
