//! *isolation*: a second account never sees the first account's tasks or voices: not by task
//! id, not by external id, not in its lists.

use super::{billable_cases, check_envelope, ensure, need_budget};
use crate::ctx::Ctx;
use crate::report::{PropError, PropResult, check};
use crate::strategies::SAMPLE_VOICE_URL;
use proptest::prelude::*;
use serde_json::json;

/// Run the property.
pub fn run(ctx: &Ctx, seed: [u8; 32]) -> PropResult {
    if !ctx.target.has_second_account() {
        return Err(PropError::Skipped(
            "needs a second account (--access-key-2/--secret-key-2)".into(),
        ));
    }
    need_budget(ctx, 1)?;
    check(ctx, seed, billable_cases(ctx), any::<bool>(), |voice| {
        let ext = ctx.unique("iso");
        let (create, get, list, body) = if voice {
            (
                "custom_voice_create",
                "custom_voice_get",
                "custom_voice_list",
                json!({"voice_name": "contract", "voice_url": SAMPLE_VOICE_URL, "external_task_id": ext}),
            )
        } else {
            (
                "text_to_audio_create",
                "text_to_audio_get",
                "text_to_audio_list",
                json!({"prompt": "contract isolation", "duration": 3, "external_task_id": ext}),
            )
        };
        let Ok(created) = ctx.create(create, 0, body) else {
            return Err(proptest::test_runner::TestCaseError::reject("no budget"));
        };
        ensure(created.is_success(), "a valid create was refused", &created)?;
        let id = created.data()["task_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
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
