//! *elements*: an element is used by reference (kling-api.md §5.14-§5.16: `element_list` items
//! `{element_id: long}`). A family that takes an `element_list` accepts an element its caller
//! made with advanced-custom-elements, once that task succeeded, and refuses (400 / 1201) an
//! `element_id` the caller did not make: one that names nothing, another account's element, or
//! its own element after `POST /v1/general/delete-advanced-elements {element_id}`, whose task
//! then shows the element with `status: "deleted"` (§5.14: `status: "succeed"|"deleted"`).
//!
//! The families probed are those whose example body with an `element_list` the oracle accepts
//! (a model the capability map lets take elements); the element is the advanced-custom-elements
//! family's example (an image_refer element of the harness's PNGs).

use super::{billable_cases, check_envelope, create_ok, ensure, fail, need_budget};
use crate::ctx::Ctx;
use crate::model::Family;
use crate::report::{PropError, PropResult, check};
use crate::target::{Auth, Reply, Request};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{Value, json};

/// The family that makes elements.
pub const ELEMENT_FAMILY: &str = "advanced_custom_elements";

/// An id no element has: 18 digits, like the task ids, far above any a run makes.
pub const UNKNOWN_ELEMENT: i64 = 899_999_999_999_999_937;

/// How an element is referred to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    /// The caller's own element, then the same after its delete (accepted, then refused).
    OwnThenDeleted,
    /// An id that names nothing.
    Unknown,
    /// Another account's element.
    Foreign,
}

/// The families whose example with an element the oracle accepts (indexes into the families).
pub fn element_users(ctx: &Ctx) -> Vec<usize> {
    let c = &ctx.contract;
    c.families
        .iter()
        .enumerate()
        .filter(|(_, f)| {
            c.endpoint(&f.create)
                .fields
                .iter()
                .any(|x| x.name == "element_list")
                && c.judge(&f.create, &with_element(c, f, json!(1))).accepted()
        })
        .map(|(i, _)| i)
        .collect()
}

/// The family's example (stand-ins for its needs) with `element_list: [{element_id}]`.
pub fn with_element(c: &crate::model::Contract, f: &Family, element_id: Value) -> Value {
    let mut body = crate::bodies::example_with_stand_ins(c, f);
    body["element_list"] = json!([{ "element_id": element_id }]);
    body
}

/// The element id of a succeeded element task, as the `long` the `element_list` takes.
pub fn element_id(task: &Value) -> Option<Value> {
    match &task["task_result"]["elements"][0]["element_id"] {
        Value::Number(n) => Some(Value::Number(n.clone())),
        Value::String(s) => s.parse::<i64>().ok().map(Value::from),
        _ => None,
    }
}

/// Make an element as `account` and wait for it: its id and its task's id.
pub fn make_element(ctx: &Ctx, account: usize) -> Result<(Value, String), TestCaseError> {
    let f = ctx
        .contract
        .family(ELEMENT_FAMILY)
        .ok_or_else(|| TestCaseError::fail("the oracle has no elements family"))?;
    let (_, id) = create_ok(ctx, &f.create, account, f.example.clone())?;
    let replies = ctx.settle(account, &ctx.contract.endpoint(&f.get).path, &id);
    let last = replies
        .last()
        .ok_or_else(|| TestCaseError::fail("no answer"))?;
    check_envelope(ctx, last, "task")?;
    ensure(
        last.data()["task_status"] == "succeed",
        "the element task did not succeed",
        last,
    )?;
    let element = element_id(last.data()).ok_or_else(|| {
        fail(
            "a succeeded element task names no element_id (task_result.elements[0])",
            last,
        )
    })?;
    Ok((element, id))
}

fn refused(ctx: &Ctx, f: &Family, element: Value, what: &str) -> Result<(), TestCaseError> {
    let body = with_element(&ctx.contract, f, element);
    let body = super::prepared(ctx, &f.create, 0, body)?;
    let r = ctx.send_refused(&f.create, 0, body);
    check_envelope(ctx, &r, "created")?;
    ensure(
        r.status == 400 && r.code() == Some(1201),
        format!("{} with {what} in element_list must be 400 / 1201", f.name),
        &r,
    )
}

fn delete(ctx: &Ctx, element: &Value) -> Reply {
    let ep = ctx.contract.endpoint(
        &ctx.contract
            .family(ELEMENT_FAMILY)
            .and_then(|f| f.delete.as_ref())
            .map_or("delete_element".to_string(), |d| d.endpoint.clone()),
    );
    ctx.target.call(
        &Request::post(ep.path.clone(), json!({ "element_id": element })).auth(Auth::Account(0)),
    )
}

fn run_case(ctx: &Ctx, f: &Family, probe: Probe) -> Result<(), TestCaseError> {
    match probe {
        Probe::Unknown => refused(ctx, f, json!(UNKNOWN_ELEMENT), "an id that names nothing"),
        Probe::Foreign => {
            let (e, _) = make_element(ctx, 1)?;
            refused(ctx, f, e, "another account's element")
        }
        Probe::OwnThenDeleted => {
            let (e, task) = make_element(ctx, 0)?;
            let body =
                super::prepared(ctx, &f.create, 0, with_element(&ctx.contract, f, e.clone()))?;
            create_ok(ctx, &f.create, 0, body)?;
            let r = delete(ctx, &e);
            check_envelope(ctx, &r, "deleted")?;
            ensure(r.is_success(), "the owner could not delete its element", &r)?;
            let get = &ctx
                .contract
                .endpoint(
                    &ctx.contract
                        .family(ELEMENT_FAMILY)
                        .map_or(String::new(), |f| f.get.clone()),
                )
                .path;
            let q = ctx.get(0, &get.replace("{id}", &task));
            check_envelope(ctx, &q, "task")?;
            ensure(
                q.data()["task_result"]["elements"][0]["status"] == "deleted",
                "a deleted element's task does not show it with status \"deleted\"",
                &q,
            )?;
            refused(ctx, f, e, "a deleted element")
        }
    }
}

/// Run the property.
pub fn run(ctx: &Ctx, seed: [u8; 32]) -> PropResult {
    need_budget(ctx, 1)?;
    let users = element_users(ctx);
    if users.is_empty() || ctx.contract.family(ELEMENT_FAMILY).is_none() {
        return Err(PropError::Skipped(
            "no family takes an element_list the oracle accepts".into(),
        ));
    }
    let strategy = (
        proptest::sample::select(users),
        prop_oneof![
            2 => Just(Probe::OwnThenDeleted),
            1 => Just(Probe::Unknown),
            1 => Just(Probe::Foreign),
        ],
    );
    check(
        ctx,
        seed,
        billable_cases(ctx).min(8),
        strategy,
        |(family, probe)| run_case(ctx, &ctx.contract.families[family], probe),
    )
}
