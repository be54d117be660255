//! *isolation*: a second account never sees the first account's tasks or voices: not by task
//! id, not by external id, not in its lists.

use super::{
    Family, any_family, billable_cases, check_envelope, create_body, create_ok, ensure, need_budget,
};
use crate::ctx::Ctx;
use crate::report::{PropError, PropResult, check};

/// Run the property.
pub fn run(ctx: &Ctx, seed: [u8; 32]) -> PropResult {
    if !ctx.target.has_second_account() {
        return Err(PropError::Skipped(
            "needs a second account (--access-key-2/--secret-key-2)".into(),
        ));
    }
    need_budget(ctx, 1)?;
    check(ctx, seed, billable_cases(ctx), any_family(ctx), |family| {
        let ext = ctx.unique("iso");
        let f: &Family = &ctx.contract.families[family];
        let (create, get, list) = (f.create.as_str(), f.get.as_str(), f.list.as_str());
        let (_, id) = create_ok(ctx, create, 0, create_body(f, Some(&ext)))?;
        let get_path = &ctx.contract.endpoint(get).path;
        ctx.settle(0, get_path, &id);
        for key in [&id, &ext] {
            let r = ctx.get(1, &get_path.replace("{id}", key));
            check_envelope(ctx, &r, "task")?;
            ensure(
                r.status == 400 && r.code() == Some(1201),
                format!("the second account found the first's task by {key}"),
                &r,
            )?;
        }
        let path = &ctx.contract.endpoint(list).path;
        for page in 1..=20 {
            let r = ctx.get(1, &format!("{path}?pageNum={page}&pageSize=100"));
            check_envelope(ctx, &r, "task_list")?;
            let items = r.data().as_array().cloned().unwrap_or_default();
            ensure(
                !items.iter().any(|t| t["task_id"] == id.as_str()),
                "the first account's task is in the second's list",
                &r,
            )?;
            if items.len() < 100 {
                break;
            }
        }
        Ok(())
    })
}
