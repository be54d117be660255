//! *identity*: a task is the same by `task_id` and by `external_task_id`; a duplicate
//! `external_task_id` is refused (400 / 1201) and creates nothing; task ids are unique.

use super::{
    Family, any_family, billable_cases, check_envelope, create_body, create_ok, ensure, need_budget,
};
use crate::ctx::Ctx;
use crate::report::{PropResult, check};
use std::collections::HashSet;

/// Run the property.
pub fn run(ctx: &Ctx, seed: [u8; 32]) -> PropResult {
    need_budget(ctx, 1)?;
    let strategy = (any_family(ctx), "[a-zA-Z0-9_-]{1,24}");
    check(
        ctx,
        seed,
        billable_cases(ctx),
        strategy,
        |(family, ext_tail)| {
            let ext = format!("{}-{ext_tail}", ctx.unique("id"));
            let f: &Family = &ctx.contract.families[family];
            let (create, get, list) = (f.create.as_str(), f.get.as_str(), f.list.as_str());
            let body = super::prepared(ctx, create, 0, create_body(f, Some(&ext)))?;
            let (created, id) = create_ok(ctx, create, 0, body.clone())?;
            ensure(
                created.data()["task_info"]["external_task_id"] == ext.as_str()
                    || created.data().get("task_info").is_none(),
                "the create answer names another external_task_id",
                &created,
            )?;
            let path = &ctx.contract.endpoint(get).path;
            let by_id = ctx.get(0, &path.replace("{id}", &id));
            // AI multi-shot's single query documents only task_id (§5.19): ask by id twice.
            let by_ext = ctx.get(
                0,
                &path.replace("{id}", if f.query_by_external { &ext } else { &id }),
            );
            check_envelope(ctx, &by_id, "task")?;
            check_envelope(ctx, &by_ext, "task")?;
            ensure(
                by_id.is_success(),
                "the task is not found by its task_id",
                &by_id,
            )?;
            ensure(
                by_ext.is_success(),
                "the task is not found by its external_task_id",
                &by_ext,
            )?;
            for field in ["task_id", "created_at", "task_info"] {
                ensure(
                    by_id.data()[field] == by_ext.data()[field],
                    format!("{field} differs between the two queries"),
                    &by_ext,
                )?;
            }
            ensure(
                by_id.data()["task_id"] == id.as_str(),
                "the query names another task",
                &by_id,
            )?;
            for alias in &f.query_aliases {
                let r = ctx.get(0, &alias.replace("{id}", &id));
                check_envelope(ctx, &r, "task")?;
                ensure(
                    r.is_success() && r.data()["task_id"] == id.as_str(),
                    format!("the task is not found at {alias}, where real clients query it"),
                    &r,
                )?;
            }
            ensure(
                by_id.data()["task_info"]["external_task_id"] == ext.as_str(),
                "task_info.external_task_id is not echoed",
                &by_id,
            )?;

            // The same external id again: refused, nothing created.
            let newest = |r: &crate::target::Reply| {
                r.data()
                    .get(0)
                    .and_then(|t| t["task_id"].as_str())
                    .map(str::to_string)
            };
            let list_path = format!("{}?pageSize=1", ctx.contract.endpoint(list).path);
            let before = newest(&ctx.get(0, &list_path));
            let dup = ctx.send_refused(create, 0, body);
            check_envelope(ctx, &dup, "created")?;
            ensure(
                dup.status == 400 && dup.code() == Some(1201),
                "a duplicate external_task_id must be 400 / 1201",
                &dup,
            )?;
            let after_reply = ctx.get(0, &list_path);
            ensure(
                newest(&after_reply) == before,
                "the refused duplicate created a task",
                &after_reply,
            )?;

            let ids: Vec<String> = ctx.created().into_iter().map(|c| c.task_id).collect();
            let unique: HashSet<&String> = ids.iter().collect();
            ensure(
                unique.len() == ids.len(),
                format!("{} task ids given twice", ids.len() - unique.len()),
                &created,
            )?;
            Ok(())
        },
    )
}
