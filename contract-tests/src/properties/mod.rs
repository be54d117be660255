//! The properties, one module per family. Each is a function of the [`Ctx`] and the property's
//! seed that runs proptest cases against the target and returns the number of cases run.

pub mod auth;
pub mod callbacks;
pub mod elements;
pub mod envelope;
pub mod identity;
pub mod isolation;
pub mod lifecycle;
pub mod media;
pub mod paging;
pub mod references;
pub mod selection;
pub mod validation;
pub mod voices;

use crate::ctx::Ctx;
use crate::report::PropResult;
use crate::target::Reply;
use proptest::test_runner::TestCaseError;
use serde_json::Value;

/// A property: its name, what it checks, and how to run it.
pub struct Property {
    /// Name (for `--property` and reports).
    pub name: &'static str,
    /// What it checks, one sentence.
    pub checks: &'static str,
    /// Whether it needs billable creates.
    pub billable: bool,
    /// Run it.
    pub run: fn(&Ctx, [u8; 32]) -> PropResult,
}

/// Every property, in report order.
pub const ALL: [Property; 13] = [
    Property {
        name: "envelope",
        checks: "every answer has the documented envelope, types and HTTP status for its code; errors carry no data",
        billable: false,
        run: envelope::run,
    },
    Property {
        name: "validation",
        checks: "generated requests, valid and broken in every documented way, are accepted exactly when the documents say so; refusals are 400 with 1200/1201",
        billable: false,
        run: validation::run,
    },
    Property {
        name: "auth",
        checks: "missing, malformed, wrongly signed, expired, not-yet-valid and alg:none tokens get their documented 401 codes and create nothing",
        billable: false,
        run: auth::run,
    },
    Property {
        name: "lifecycle",
        checks: "over call sequences, status only moves forward, terminal states stay, created_at is stable, updated_at never decreases, results exist exactly on success, failures say why",
        billable: true,
        run: lifecycle::run,
    },
    Property {
        name: "identity",
        checks: "a task is the same by task_id and by external_task_id; a duplicate external_task_id is refused; ids are unique",
        billable: true,
        run: identity::run,
    },
    Property {
        name: "paging",
        checks: "list pages together hold every task exactly once, newest first, each at most pageSize long",
        billable: false,
        run: paging::run,
    },
    Property {
        name: "isolation",
        checks: "a second account never sees the first account's tasks or voices",
        billable: true,
        run: isolation::run,
    },
    Property {
        name: "voices",
        checks: "custom voices appear in their owner's list only and only the owner deletes them; presets cannot be deleted; TTS accepts exactly the official voices in their own language",
        billable: true,
        run: voices::run,
    },
    Property {
        name: "callbacks",
        checks: "every status change reaches the callback_url, in order, shaped like the single query",
        billable: true,
        run: callbacks::run,
    },
    Property {
        name: "elements",
        checks: "an element_list accepts the caller's own finished element and refuses (400 / 1201) an id that names nothing, another account's element and a deleted one (whose task then shows it \"deleted\")",
        billable: true,
        run: elements::run,
    },
    Property {
        name: "references",
        checks: "a video_id that names nothing, another account's video or the id of an unfinished task is refused (400 / 1201) by every family that takes a video_id",
        billable: true,
        run: references::run,
    },
    Property {
        name: "selection",
        checks: "the multi-elements selection helpers, walked in order: init-selection's numbers agree and its normalized video decodes; add-selection's masks are of the video's size, their PNG and RLE agree, cover the clicked points; delete, the ten-point and ten-frame limits, clear and preview (MP4s and a cover that decode) as documented; foreign and unknown sessions refused",
        billable: true,
        run: selection::run,
    },
    Property {
        name: "media",
        checks: "every result URL can be fetched; audio lasts its declared duration; a video is an MP4 of the declared duration (within a frame), of the documented frame size and rate for its model, mode and aspect ratio, with sound exactly when asked, that decodes without an error; an image task makes as many PNG/JPEG images as asked, of the requested ratio and resolution class (or the grown input, the person's size), no two alike; a watermarked copy differs",
        billable: true,
        run: media::run,
    },
];

/// Fail the case with the response attached.
pub fn fail(what: impl std::fmt::Display, reply: &Reply) -> TestCaseError {
    TestCaseError::fail(format!("{what}\n  response: {reply}"))
}

/// `Ok` if `cond`, else fail with the response.
pub fn ensure(
    cond: bool,
    what: impl std::fmt::Display,
    reply: &Reply,
) -> Result<(), TestCaseError> {
    if cond { Ok(()) } else { Err(fail(what, reply)) }
}

/// The envelope rules every answer must follow (SOURCES.md: General Info): a JSON object with an
/// integer `code`, string `message` and `request_id`; HTTP status as the error table pairs with
/// the code; a success carries `data` matching `shape`, an error carries no `data`.
pub fn check_envelope(ctx: &Ctx, reply: &Reply, shape: &str) -> Result<(), TestCaseError> {
    let obj = reply
        .body
        .as_object()
        .ok_or_else(|| fail("the body is not a JSON object", reply))?;
    let code = obj
        .get("code")
        .and_then(Value::as_i64)
        .ok_or_else(|| fail("`code` is not an integer", reply))?;
    ensure(
        obj.get("message").is_some_and(Value::is_string),
        "`message` is not a string",
        reply,
    )?;
    ensure(
        obj.get("request_id").is_some_and(Value::is_string),
        "`request_id` is not a string",
        reply,
    )?;
    let http = ctx
        .contract
        .http_for(code)
        .ok_or_else(|| fail(format!("code {code} is not in the error table"), reply))?;
    ensure(
        reply.status == http,
        format!(
            "code {code} must come with HTTP {http}, got {}",
            reply.status
        ),
        reply,
    )?;
    if code == 0 {
        let data = obj
            .get("data")
            .ok_or_else(|| fail("a success has no `data`", reply))?;
        crate::shape::check(
            &ctx.contract.shapes,
            &Value::String(shape.into()),
            data,
            "data",
        )
        .map_err(|e| fail(e, reply))?;
    } else {
        ensure(!obj.contains_key("data"), "an error carries `data`", reply)?;
    }
    Ok(())
}

/// The answer to a create, or how the case ends without one: rejected (no budget, a dry run:
/// the case cannot run) or failed (a value it takes from another family's task could not be
/// made: the target refused or failed that task).
pub fn sent(r: Result<Reply, crate::ctx::NotSent>) -> Result<Reply, TestCaseError> {
    match r {
        Ok(r) => Ok(r),
        Err(crate::ctx::NotSent::NeedFailed(why)) => Err(TestCaseError::fail(why)),
        Err(_) => Err(TestCaseError::reject("no budget")),
    }
}

/// A create body with its `needs` filled (a task of another family made first, once per run):
/// for a call sent twice with the same body (a duplicate `external_task_id`).
pub fn prepared(
    ctx: &Ctx,
    endpoint: &str,
    account: usize,
    mut body: Value,
) -> Result<Value, TestCaseError> {
    match ctx.resolve_needs(endpoint, account, &mut body) {
        Ok(()) => Ok(body),
        Err(crate::ctx::NeedError::Failed(why)) => Err(TestCaseError::fail(why)),
        Err(crate::ctx::NeedError::NotSent(_)) => Err(TestCaseError::reject("no budget")),
    }
}

/// Skip a billable property when nothing can be created.
pub fn need_budget(ctx: &Ctx, n: u64) -> Result<(), crate::report::PropError> {
    if ctx.dry_run {
        return Err(crate::report::PropError::Skipped(
            "dry run: creates are printed, not sent".into(),
        ));
    }
    if !ctx.budget.has(n as f64) {
        return Err(crate::report::PropError::Skipped(format!(
            "needs {n} billable creates; raise --budget"
        )));
    }
    Ok(())
}

/// Rank of a status along `submitted → processing → succeed|failed`.
pub fn rank(status: &str) -> Option<u8> {
    match status {
        "submitted" => Some(0),
        "processing" => Some(1),
        "succeed" | "failed" => Some(2),
        _ => None,
    }
}

/// Cases for a billable property: fewer against a paid target.
pub fn billable_cases(ctx: &Ctx) -> u32 {
    if ctx.target.is_mock {
        ctx.cases
    } else {
        ctx.cases.min(4)
    }
}

pub use crate::model::Family;

/// The families of the oracle, as indexes into `ctx.contract.families` (for proptest).
pub fn any_family(ctx: &Ctx) -> std::ops::Range<usize> {
    0..ctx.contract.families.len()
}

/// A minimal valid create body of the family (its documented example), with an
/// `external_task_id` if given.
pub fn create_body(f: &Family, external_task_id: Option<&str>) -> Value {
    let mut b = f.example.clone();
    if let (Some(ext), Some(o)) = (external_task_id, b.as_object_mut()) {
        o.insert("external_task_id".into(), Value::from(ext));
    }
    b
}

/// The family's example with its first required number field that has a documented range set
/// from `tenths`, clamped into that range (e.g. a text-to-audio duration), so generated tasks
/// differ along what the documents let vary; the example itself where that value breaks a rule
/// (an expansion ratio that grows the image beyond 3x its area).
pub fn varied_body(ctx: &Ctx, f: &Family, tenths: u32) -> Value {
    let example = create_body(f, None);
    let mut body = example.clone();
    let ranged = ctx.contract.endpoint(&f.create).fields.iter().find(|x| {
        x.ty == crate::model::Ty::Number && x.required && x.min.is_some() && x.max.is_some()
    });
    if let (Some(x), Some(o)) = (ranged, body.as_object_mut()) {
        let v = (tenths as f64 / 10.0).clamp(x.min.unwrap_or(0.0), x.max.unwrap_or(f64::MAX));
        o.insert(x.name.clone(), Value::from(v));
    }
    let judged = crate::bodies::with_stand_ins(&ctx.contract, &f.create, body.clone());
    if ctx.contract.judge(&f.create, &judged).accepted() {
        body
    } else {
        example
    }
}

/// Send a create the documents accept: the case is skipped without budget, fails unless the
/// target accepts it; returns the answer and the new task id.
pub fn create_ok(
    ctx: &Ctx,
    endpoint: &str,
    account: usize,
    body: Value,
) -> Result<(Reply, String), TestCaseError> {
    let reply = sent(ctx.create(endpoint, account, body))?;
    check_envelope(ctx, &reply, &ctx.contract.endpoint(endpoint).response)?;
    ensure(reply.is_success(), "a valid create was refused", &reply)?;
    let id = reply.data()["task_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    Ok((reply, id))
}
