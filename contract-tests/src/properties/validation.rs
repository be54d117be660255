//! *validation*: generated requests, valid and broken in every documented way, are accepted
//! exactly when the oracle says so; refusals are HTTP 400 with 1200/1201 and no `data`. A body
//! refused only for rules tying fields together or for the capability map must get 1201 and a
//! message naming one of the fields involved. Against a paying target the valid bodies of the
//! video families are their cheapest (the family example's model, mode and duration).

use super::{check_envelope, ensure, fail};
use crate::bodies::GenOpts;
use crate::ctx::Ctx;
use crate::report::{PropResult, check};
use crate::strategies::{BodyCase, body_case_with, paging_case};
use crate::target::Request;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::Value;

/// A generated validation case.
#[derive(Clone, Debug)]
pub enum Case {
    /// A create body.
    Body(BodyCase),
    /// A list query.
    Paging {
        /// List endpoint.
        endpoint: String,
        /// Raw `pageNum`.
        page_num: Option<String>,
        /// Raw `pageSize`.
        page_size: Option<String>,
    },
}

/// The query string for raw paging values.
pub fn query(page_num: &Option<String>, page_size: &Option<String>) -> String {
    let mut q = Vec::new();
    if let Some(n) = page_num {
        q.push(format!("pageNum={n}"));
    }
    if let Some(s) = page_size {
        q.push(format!("pageSize={s}"));
    }
    if q.is_empty() {
        String::new()
    } else {
        format!("?{}", q.join("&"))
    }
}

/// Give a create body a fresh `external_task_id` where the endpoint takes one.
pub fn with_unique_external_id(ctx: &Ctx, endpoint: &str, mut body: Value) -> Value {
    let takes = ctx
        .contract
        .endpoint(endpoint)
        .fields
        .iter()
        .any(|f| f.name == "external_task_id");
    if takes && let Some(o) = body.as_object_mut() {
        o.insert(
            "external_task_id".into(),
            Value::from(ctx.unique("contract")),
        );
    }
    body
}

/// Send one case and compare with the oracle.
pub fn judge_and_send(ctx: &Ctx, case: Case) -> Result<(), TestCaseError> {
    let c = &ctx.contract;
    match case {
        Case::Body(b) => {
            let body = with_unique_external_id(ctx, &b.endpoint, b.body);
            let verdict = c.judge(&b.endpoint, &body);
            let reply = super::sent(ctx.create(&b.endpoint, 0, body))?;
            // A value another family's task provides may still be its stand-in (no budget to
            // make the task): a message may name that field instead.
            let stand_ins: Vec<String> = c
                .needs_of(&b.endpoint)
                .map(|(_, n)| n.keys().cloned().collect())
                .unwrap_or_default();
            check_expectation(
                ctx,
                &verdict,
                &reply,
                &c.endpoint(&b.endpoint).response,
                &stand_ins,
            )
        }
        Case::Paging {
            endpoint,
            page_num,
            page_size,
        } => {
            let ep = c.endpoint(&endpoint);
            let verdict = c.judge_paging(&endpoint, page_num.as_deref(), page_size.as_deref());
            let reply = ctx.target.call(&Request::get(format!(
                "{}{}",
                ep.path,
                query(&page_num, &page_size)
            )));
            check_expectation(ctx, &verdict, &reply, &ep.response, &[])
        }
    }
}

fn check_expectation(
    ctx: &Ctx,
    verdict: &crate::model::Verdict,
    reply: &crate::target::Reply,
    shape: &str,
    more_names: &[String],
) -> Result<(), TestCaseError> {
    check_envelope(ctx, reply, shape)?;
    match verdict {
        crate::model::Verdict::Accept => ensure(
            reply.is_success(),
            "the documents accept this request, the target refused it",
            reply,
        ),
        crate::model::Verdict::Reject(why) => {
            let code = reply.code().unwrap_or(-1);
            if reply.is_success() {
                return Err(fail(
                    format!("the documents refuse this request ({why}), the target accepted it"),
                    reply,
                ));
            }
            if why.cross_field() {
                ensure(
                    reply.status == 400 && code == 1201,
                    format!("a request the documents refuse ({why}) must be HTTP 400 with 1201"),
                    reply,
                )?;
                let message = reply.body["message"]
                    .as_str()
                    .unwrap_or_default()
                    .to_lowercase();
                let mut names = why.names();
                names.extend(more_names.iter().cloned());
                // A field in words counts too: the live lip-sync answers "Audio type is null"
                // for `audio_type` (kling-api.md §5.8 (a)).
                let in_words = message.replace(['_', ' '], "");
                return ensure(
                    names.iter().any(|n| {
                        message.contains(&n.to_lowercase())
                            || (n.contains('_')
                                && in_words.contains(&n.to_lowercase().replace('_', "")))
                    }),
                    format!("the refusal ({why}) names none of the fields {names:?}"),
                    reply,
                );
            }
            ensure(
                reply.status == 400 && ctx.contract.validation_codes.contains(&code),
                format!("a refused request ({why}) must be HTTP 400 with 1200/1201"),
                reply,
            )
        }
    }
}

/// The strategy of validation cases.
pub fn cases(ctx: &Ctx) -> BoxedStrategy<Case> {
    let c = &ctx.contract;
    let lists: Vec<BoxedStrategy<Case>> = c
        .lists()
        .into_iter()
        .map(|e| {
            let max = c
                .endpoint(&e)
                .paging
                .as_ref()
                .map_or(500, |p| p.page_size[1]);
            paging_case(max)
                .prop_map(move |(page_num, page_size)| Case::Paging {
                    endpoint: e.clone(),
                    page_num,
                    page_size,
                })
                .boxed()
        })
        .collect();
    let opts = GenOpts {
        cheap: !ctx.target.is_mock,
    };
    prop_oneof![
        3 => body_case_with(c, &c.creates(), opts).prop_map(Case::Body),
        1 => proptest::strategy::Union::new(lists),
    ]
    .boxed()
}

/// Run the property.
pub fn run(ctx: &Ctx, seed: [u8; 32]) -> PropResult {
    check(ctx, seed, ctx.cases, cases(ctx), |case| {
        judge_and_send(ctx, case)
    })
}
