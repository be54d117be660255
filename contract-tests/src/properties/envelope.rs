//! *envelope*: every answer, success or error, has the documented shape and types; the HTTP
//! status matches the service code per the error table; errors carry no `data`.

use super::check_envelope;
use super::validation::{self, Case};
use crate::ctx::Ctx;
use crate::report::{PropResult, check};
use crate::target::{Auth, Request};
use proptest::prelude::*;
use proptest::sample::select;

/// A probe.
#[derive(Clone, Debug)]
pub enum Probe {
    /// A validation case (body or paging).
    Validation(Case),
    /// A single query of an id that does not exist.
    UnknownTask {
        /// Get endpoint.
        endpoint: String,
        /// The id.
        id: String,
    },
    /// A list query without credentials.
    NoAuth {
        /// List endpoint.
        endpoint: String,
    },
}

/// Run the property.
pub fn run(ctx: &Ctx, seed: [u8; 32]) -> PropResult {
    let gets = ctx.contract.gets();
    let lists = ctx.contract.lists();
    let strategy = prop_oneof![
        3 => validation::cases(ctx).prop_map(Probe::Validation),
        1 => (select(gets), "[0-9]{18}|[a-z]{1,12}").prop_map(|(endpoint, id)| Probe::UnknownTask { endpoint, id }),
        1 => select(lists).prop_map(|endpoint| Probe::NoAuth { endpoint }),
    ];
    check(ctx, seed, ctx.cases, strategy, |probe| {
        let c = &ctx.contract;
        match probe {
            Probe::Validation(Case::Body(b)) => {
                let body = validation::with_unique_external_id(ctx, &b.endpoint, b.body);
                let reply = super::sent(ctx.create(&b.endpoint, 0, body))?;
                check_envelope(ctx, &reply, &c.endpoint(&b.endpoint).response)
            }
            Probe::Validation(Case::Paging {
                endpoint,
                page_num,
                page_size,
            }) => {
                let ep = c.endpoint(&endpoint);
                let reply = ctx.target.call(&Request::get(format!(
                    "{}{}",
                    ep.path,
                    validation::query(&page_num, &page_size)
                )));
                check_envelope(ctx, &reply, &ep.response)
            }
            Probe::UnknownTask { endpoint, id } => {
                let ep = c.endpoint(&endpoint);
                let reply = ctx.get(
                    0,
                    &ep.path.replace("{id}", &format!("contract-unknown-{id}")),
                );
                check_envelope(ctx, &reply, &ep.response)
            }
            Probe::NoAuth { endpoint } => {
                let ep = c.endpoint(&endpoint);
                let reply = ctx
                    .target
                    .call(&Request::get(ep.path.clone()).auth(Auth::None));
                check_envelope(ctx, &reply, &ep.response)
            }
        }
    })
}
