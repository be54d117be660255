//! *paging*: walking a list page by page gives every task of the account exactly once, newest
//! first, each page at most `pageSize` long. Runs on whatever the account holds (free); with a
//! budget, it first creates a few tasks so the walk has something to find.

use super::{check_envelope, ensure, fail};
use crate::ctx::Ctx;
use crate::report::{PropResult, check};
use std::collections::HashSet;

/// Most items walked per case (the rest of a very large account is not read).
const MAX_ITEMS: usize = 600;

/// Run the property.
pub fn run(ctx: &Ctx, seed: [u8; 32]) -> PropResult {
    let strategy = (super::any_family(ctx), 1u32..=7, 0usize..3);
    check(
        ctx,
        seed,
        ctx.cases,
        strategy,
        |(family, page_size, creates)| {
            let f = &ctx.contract.families[family];
            let (create, list) = (f.create.as_str(), f.list.as_str());
            let mut ours = Vec::new();
            for _ in 0..creates {
                ctx.target.pass(std::time::Duration::from_millis(1)); // distinct created_at
                let body = super::create_body(f, None);
                if let Ok(r) = ctx.create(create, 0, body)
                    && let Some(id) = r.data()["task_id"].as_str()
                {
                    ours.push(id.to_string());
                }
            }
            let path = &ctx.contract.endpoint(list).path;
            let max_page = ctx
                .contract
                .endpoint(list)
                .paging
                .as_ref()
                .map_or(1000, |p| p.page_num[1]);
            let mut seen: Vec<serde_json::Value> = Vec::new();
            let mut last_reply = None;
            for page in 1..=max_page {
                let reply = ctx.get(0, &format!("{path}?pageNum={page}&pageSize={page_size}"));
                check_envelope(ctx, &reply, "task_list")?;
                ensure(reply.is_success(), "a list page was refused", &reply)?;
                let items = reply.data().as_array().cloned().unwrap_or_default();
                ensure(
                    items.len() <= page_size as usize,
                    format!(
                        "page {page} holds {} items, pageSize is {page_size}",
                        items.len()
                    ),
                    &reply,
                )?;
                let short = items.len() < page_size as usize;
                seen.extend(items);
                last_reply = Some(reply);
                if short || seen.len() >= MAX_ITEMS {
                    break;
                }
            }
            let Some(reply) = last_reply else {
                return Ok(());
            };
            let mut ids = HashSet::new();
            for t in &seen {
                let id = t["task_id"].as_str().unwrap_or_default();
                ensure(
                    ids.insert(id.to_string()),
                    format!("task {id} appears on two pages"),
                    &reply,
                )?;
            }
            for w in seen.windows(2) {
                let (a, b) = (
                    w[0]["created_at"].as_i64().unwrap_or(0),
                    w[1]["created_at"].as_i64().unwrap_or(0),
                );
                if b > a {
                    return Err(fail(
                        format!(
                            "not newest first: {} (created {a}) before {} (created {b})",
                            w[0]["task_id"], w[1]["task_id"]
                        ),
                        &reply,
                    ));
                }
            }
            for id in &ours {
                ensure(
                    ids.contains(id),
                    format!("task {id} created just now is on no page"),
                    &reply,
                )?;
            }
            // Newest first also for tasks whose timestamps tie: the ones created here, in the
            // order they were created, must be listed in the reverse order.
            let pos = |id: &String| seen.iter().position(|t| t["task_id"] == id.as_str());
            for w in ours.windows(2) {
                if let (Some(older), Some(newer)) = (pos(&w[0]), pos(&w[1]))
                    && newer > older
                {
                    return Err(fail(
                        format!(
                            "not newest first: {} was created after {} but is listed after it",
                            w[1], w[0]
                        ),
                        &reply,
                    ));
                }
            }
            Ok(())
        },
    )
}
