//! *callbacks*: with `callback_url` pointing at the harness's receiver, every status change
//! arrives, in order, shaped like the single query; the last one is the final state.

use super::{
    any_family, billable_cases, check_envelope, create_ok, fail, need_budget, rank, varied_body,
};
use crate::ctx::Ctx;
use crate::report::{PropError, PropResult, check};
use crate::target::Reply;
use serde_json::{Value, json};
use std::time::Duration;

/// Run the property.
pub fn run(ctx: &Ctx, seed: [u8; 32]) -> PropResult {
    let Some(receiver) = &ctx.receiver else {
        return Err(PropError::Skipped(
            "the target cannot reach a loopback receiver; give --callback-base-url (and --callback-listen)".into(),
        ));
    };
    need_budget(ctx, 1)?;
    let strategy = (any_family(ctx), 30u32..=100);
    check(
        ctx,
        seed,
        billable_cases(ctx),
        strategy,
        |(family, tenths)| {
            let f = &ctx.contract.families[family];
            let mut body = varied_body(ctx, f, tenths);
            body["callback_url"] = json!(receiver.url);
            let (created, id) = create_ok(ctx, &f.create, 0, body)?;
            let get = ctx.contract.endpoint(&f.get);
            let polled = ctx.settle(0, &get.path, &id);
            let last: &Reply = polled.last().unwrap_or(&created);
            let got = receiver.wait_terminal(
                &id,
                // In-process, deliveries leave as soon as the clock moves: a short wait suffices (and
                // keeps shrinking a "nothing arrives" failure quick). Real targets get two minutes.
                Duration::from_secs(if ctx.target.virtual_time() { 3 } else { 120 }),
            );
            let statuses: Vec<&str> = got
                .iter()
                .map(|v| v["task_status"].as_str().unwrap_or("?"))
                .collect();
            let report =
                |what: String| fail(format!("{what}; callbacks received: {statuses:?}"), last);
            if got.is_empty() {
                return Err(report("no callback arrived".into()));
            }
            for (i, v) in got.iter().enumerate() {
                crate::shape::check(
                    &ctx.contract.shapes,
                    &Value::from(get.response.as_str()),
                    v,
                    &format!("callback[{i}]"),
                )
                .map_err(&report)?;
                if v.get("code").is_some() && v.get("data").is_some() {
                    return Err(report("a callback is wrapped in the envelope".into()));
                }
            }
            for w in got.windows(2) {
                let (a, b) = (
                    w[0]["task_status"].as_str().unwrap_or(""),
                    w[1]["task_status"].as_str().unwrap_or(""),
                );
                if rank(b) < rank(a) || (rank(a) == Some(2) && a != b) {
                    return Err(report(format!("out of order: {a} then {b}")));
                }
            }
            check_envelope(ctx, last, &get.response)?;
            let fin = last.data();
            let terminal = got
                .iter()
                .rev()
                .find(|v| rank(v["task_status"].as_str().unwrap_or("")) == Some(2));
            match terminal {
                Some(t) if t == fin => {}
                Some(_) => {
                    return Err(report(
                        "the final callback differs from the final query".into(),
                    ));
                }
                None => return Err(report("the final status never arrived".into())),
            }
            for p in &polled {
                let s = p.data()["task_status"].as_str().unwrap_or("");
                if !s.is_empty() && !statuses.contains(&s) {
                    return Err(report(format!(
                        "status {s} was seen by polling but never called back"
                    )));
                }
            }
            Ok(())
        },
    )
}
