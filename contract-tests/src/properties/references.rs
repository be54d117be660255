//! *references*: a video used by its id. A family that takes a `video_id` another family's task
//! provides (its `needs` with `result_field: "id"`: video extension, video to audio, ...) takes
//! a video of the caller's own, made by a task that has finished (kling-api.md §5.7 "video_id
//! ... from text2video / image2video / video-extend", §5.12 "video_id (Kling, ≤30 days)", §5.8
//! lip-sync and identify-face "Kling video id"). It refuses with 400 / 1201 a `video_id` that
//! names nothing, another account's video, and the id of a task that has not finished (it has
//! made no video yet).
//!
//! The synchronous endpoints that take a `video_id` naming a video on the target (identify-face,
//! §5.8 (b): "video_id: Kling video ≤30 days") are probed the same way, with a body of that field
//! alone. The body is the family's example with the probed id in the field; every other value it
//! needs is made as usual. The accepted case (the caller's own finished video) is the lifecycle and
//! media properties' business: every one of their tasks of these families uses one.
//!
//! A session is used the same way: a family whose `needs` take a `session_id` from a synchronous
//! call (multi-elements from init-selection, §5.6; advanced lip-sync from identify-face, §5.8
//! (c)) refuses with 400 / 1201, naming the field, a session id that names nothing and another
//! account's session.

use super::{billable_cases, check_envelope, ensure, need_budget, prepared};
use crate::ctx::Ctx;
use crate::model::Family;
use crate::report::{PropError, PropResult, check};
use proptest::test_runner::TestCaseError;
use serde_json::{Value, json};

/// An id no video has: 18 digits, like the task ids, far above any a run makes.
pub const UNKNOWN_VIDEO: &str = "899999999999999941";

/// How a video is referred to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    /// An id that names nothing.
    Unknown,
    /// A finished video of the other account.
    Foreign,
    /// The id of the caller's own task of the source family that has not finished.
    Unfinished,
}

/// A synchronous endpoint's `video_id` fields (`external`: they name a video on the target).
pub fn video_id_calls(ctx: &Ctx) -> Vec<(String, String)> {
    // The probes make text-to-video tasks (a run of some families may have left it out).
    if ctx.contract.family("text2video").is_none() {
        return Vec::new();
    }
    ctx.contract
        .endpoints
        .iter()
        .filter(|(_, e)| e.method == "POST" && e.creates.is_none() && e.billable)
        .flat_map(|(n, e)| {
            e.fields
                .iter()
                .filter(|f| f.external && f.name == "video_id")
                .map(move |f| (n.clone(), f.name.clone()))
        })
        .collect()
}

/// A kling-v1 text-to-video task of `account` (the cheapest video), finished when `wait`: its
/// first video's id, else the task id.
fn source_video(ctx: &Ctx, account: usize, wait: bool) -> Result<Value, TestCaseError> {
    let f = ctx
        .contract
        .family("text2video")
        .ok_or_else(|| TestCaseError::fail("the oracle has no text2video family"))?;
    let mut body = f.example.clone();
    body["model_name"] = json!("kling-v1");
    let (_, id) = super::create_ok(ctx, &f.create, account, body)?;
    if !wait {
        return Ok(Value::from(id));
    }
    let last = ctx
        .settle(account, &ctx.contract.endpoint(&f.get).path, &id)
        .pop()
        .ok_or_else(|| TestCaseError::fail("no answer"))?;
    let video = last.data()["task_result"]["videos"][0]["id"].clone();
    super::ensure(
        last.data()["task_status"] == "succeed" && video.is_string(),
        "the text2video task did not make a video",
        &last,
    )?;
    Ok(video)
}

fn call_case(ctx: &Ctx, endpoint: &str, field: &str, probe: Probe) -> Result<(), TestCaseError> {
    let (value, what) = match probe {
        Probe::Unknown => (json!(UNKNOWN_VIDEO), "a video_id that names nothing"),
        Probe::Foreign => (source_video(ctx, 1, true)?, "another account's video"),
        Probe::Unfinished => (
            source_video(ctx, 0, false)?,
            "the id of a text2video task that has not finished",
        ),
    };
    let r = ctx.send_refused(endpoint, 0, json!({ field: value }));
    check_envelope(ctx, &r, &ctx.contract.endpoint(endpoint).response)?;
    ensure(
        r.status == 400 && r.code() == Some(1201),
        format!("{endpoint} with {what} in {field} must be 400 / 1201"),
        &r,
    )
}

/// The (family, field) pairs whose field takes a video id another family's task makes.
pub fn video_id_users(ctx: &Ctx) -> Vec<(usize, String)> {
    ctx.contract
        .families
        .iter()
        .enumerate()
        .flat_map(|(i, f)| {
            f.needs
                .iter()
                .filter(|(field, n)| {
                    n.result_field == "id"
                        && crate::model::at_path(&f.example, field).is_some()
                        && ctx.contract.family(&n.from_family).is_some()
                })
                .map(move |(field, _)| (i, field.clone()))
        })
        .collect()
}

/// The (family, field) pairs whose field takes a session another call opened (`needs` from a
/// call, `result_field: "session_id"`).
pub fn session_users(ctx: &Ctx) -> Vec<(usize, String)> {
    ctx.contract
        .families
        .iter()
        .enumerate()
        .flat_map(|(i, f)| {
            f.needs
                .iter()
                .filter(|(field, n)| {
                    n.from_call.is_some()
                        && n.result_field == "session_id"
                        && crate::model::at_path(&f.example, field).is_some()
                })
                .map(move |(field, _)| (i, field.clone()))
        })
        .collect()
}

fn session_case(ctx: &Ctx, f: &Family, field: &str, probe: Probe) -> Result<(), TestCaseError> {
    let (value, what) = match probe {
        Probe::Foreign => (theirs(ctx, f, field)?, "another account's session"),
        _ => (json!(UNKNOWN_VIDEO), "a session id that names nothing"),
    };
    let body = body_with(ctx, f, field, value)?;
    let r = ctx.send_refused(&f.create, 0, body);
    check_envelope(ctx, &r, "created")?;
    ensure(
        r.status == 400 && r.code() == Some(1201),
        format!("{} with {what} in {field} must be 400 / 1201", f.name),
        &r,
    )?;
    let message = r.body["message"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    ensure(
        message.contains(field) || message.contains(&field.replace('_', " ")),
        format!(
            "{} refused {what} in {field} without naming {field}",
            f.name
        ),
        &r,
    )
}

/// The value of `field` the second account's needs give (its own source video, its own
/// session), made as that account's needs are.
fn theirs(ctx: &Ctx, f: &Family, field: &str) -> Result<Value, TestCaseError> {
    let mut body = crate::bodies::example_with_stand_ins(&ctx.contract, f);
    crate::model::set_at_path(
        &mut body,
        field,
        Value::from(crate::model::need_placeholder(field)),
    );
    let body = prepared(ctx, &f.create, 1, body)?;
    Ok(crate::model::at_path(&body, field)
        .cloned()
        .unwrap_or_default())
}

/// The family's example, its other needs made, with `value` in `field`.
fn body_with(ctx: &Ctx, f: &Family, field: &str, value: Value) -> Result<Value, TestCaseError> {
    let mut body = crate::bodies::example_with_stand_ins(&ctx.contract, f);
    crate::model::set_at_path(&mut body, field, value);
    prepared(ctx, &f.create, 0, body)
}

fn run_case(ctx: &Ctx, f: &Family, field: &str, probe: Probe) -> Result<(), TestCaseError> {
    let need = &f.needs[field];
    let (value, what) = match probe {
        Probe::Unknown => (json!(UNKNOWN_VIDEO), "a video_id that names nothing".into()),
        Probe::Foreign => (theirs(ctx, f, field)?, "another account's video".into()),
        Probe::Unfinished => {
            let from = ctx
                .contract
                .family(&need.from_family)
                .ok_or_else(|| TestCaseError::fail("no source family"))?;
            let mut src = from.example.clone();
            if let Some(o) = src.as_object_mut() {
                o.extend(need.example_override.clone());
            }
            let (_, id) = super::create_ok(ctx, &from.create, 0, src)?;
            let q = ctx.get(
                0,
                &ctx.contract.endpoint(&from.get).path.replace("{id}", &id),
            );
            if q.data()["task_status"] == "succeed" || q.data()["task_status"] == "failed" {
                // A target that finishes at once (no virtual clock): nothing unfinished to probe.
                return Err(TestCaseError::reject("the source task finished at once"));
            }
            (
                Value::from(id),
                format!("the id of a {} task that has not finished", from.name),
            )
        }
    };
    let body = body_with(ctx, f, field, value)?;
    let r = ctx.send_refused(&f.create, 0, body);
    check_envelope(ctx, &r, "created")?;
    ensure(
        r.status == 400 && r.code() == Some(1201),
        format!("{} with {what} in {field} must be 400 / 1201", f.name),
        &r,
    )
}

/// Run the property.
pub fn run(ctx: &Ctx, seed: [u8; 32]) -> PropResult {
    need_budget(ctx, 1)?;
    let all = [Probe::Unknown, Probe::Foreign, Probe::Unfinished];
    let mut cases: Vec<(Target, Probe)> = Vec::new();
    for (f, field) in video_id_users(ctx) {
        cases.extend(all.map(|p| (Target::Family(f, field.clone()), p)));
    }
    for (e, field) in video_id_calls(ctx) {
        cases.extend(all.map(|p| (Target::Call(e.clone(), field.clone()), p)));
    }
    // A session has no unfinished state: it is open from the call's answer.
    for (f, field) in session_users(ctx) {
        cases.extend(
            [Probe::Unknown, Probe::Foreign].map(|p| (Target::Session(f, field.clone()), p)),
        );
    }
    if cases.is_empty() {
        return Err(PropError::Skipped(
            "no family or call takes a video_id of another task or a session".into(),
        ));
    }
    check(
        ctx,
        seed,
        billable_cases(ctx).min(12),
        proptest::sample::select(cases),
        |(target, probe)| match target {
            Target::Family(family, field) => {
                run_case(ctx, &ctx.contract.families[family], &field, probe)
            }
            Target::Call(endpoint, field) => call_case(ctx, &endpoint, &field, probe),
            Target::Session(family, field) => {
                session_case(ctx, &ctx.contract.families[family], &field, probe)
            }
        },
    )
}

/// What is probed.
#[derive(Clone, Debug)]
pub enum Target {
    /// A family (an index into the oracle's families) and its field.
    Family(usize, String),
    /// A synchronous endpoint and its field.
    Call(String, String),
    /// A family (an index into the oracle's families) and its field holding a session.
    Session(usize, String),
}
