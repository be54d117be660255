//! *auth*: missing, malformed, wrongly signed, expired, not-yet-valid and `alg: none` tokens get
//! their documented codes with HTTP 401, and create nothing.

use super::{check_envelope, ensure};
use crate::client::{authorization, broken};
use crate::ctx::Ctx;
use crate::report::{PropResult, check};
use crate::strategies::{AuthCase, auth_case, valid_body};
use crate::target::{Auth, Request, now_secs};
use proptest::prelude::*;
use proptest::sample::select;

fn header(ctx: &Ctx, case: &AuthCase) -> Auth {
    let a = &ctx.target.accounts[0];
    let now = now_secs();
    let bearer = |t: String| Auth::Header(format!("Bearer {t}"));
    match case {
        AuthCase::Missing => Auth::None,
        AuthCase::Garbage(g) => bearer(g.clone()),
        AuthCase::WrongSecret => Auth::Header(
            authorization(&a.access_key, &format!("{}-not", a.secret_key), now).unwrap_or_default(),
        ),
        AuthCase::UnknownKey => Auth::Header(
            authorization("kling-contract-unknown-key", &a.secret_key, now).unwrap_or_default(),
        ),
        AuthCase::Expired(ago) => bearer(broken::with_times(
            &a.access_key,
            &a.secret_key,
            now - ago,
            now - ago - 1800,
        )),
        AuthCase::NotYetValid(ahead) => bearer(broken::with_times(
            &a.access_key,
            &a.secret_key,
            now + ahead + 1800,
            now + ahead,
        )),
        AuthCase::AlgNone => bearer(broken::alg_none(&a.access_key, now)),
        AuthCase::OtherAlg(hs512) => {
            bearer(broken::other_alg(&a.access_key, &a.secret_key, now, *hs512))
        }
    }
}

/// The newest task id of the primary account's list `list` (to see that nothing was created).
fn newest(ctx: &Ctx, list: &str) -> Option<String> {
    let r = ctx.get(
        0,
        &format!("{}?pageSize=1", ctx.contract.endpoint(list).path),
    );
    r.data()
        .get(0)
        .and_then(|t| t["task_id"].as_str())
        .map(str::to_string)
}

/// Run the property.
pub fn run(ctx: &Ctx, seed: [u8; 32]) -> PropResult {
    // Every list, and every family's create with a body valid for it (whose list then shows
    // whether a refused token created something).
    let c = &ctx.contract;
    let mut targets: Vec<(String, Option<String>)> =
        c.lists().into_iter().map(|l| (l, None)).collect();
    targets.extend(
        c.families
            .iter()
            .map(|f| (f.create.clone(), Some(f.list.clone()))),
    );
    let c2 = c.clone();
    let target = select(targets).prop_flat_map(move |(endpoint, list)| {
        valid_body(&c2, &endpoint).prop_map(move |body| (endpoint.clone(), list.clone(), body))
    });
    let strategy = (auth_case(), target);
    check(
        ctx,
        seed,
        ctx.cases,
        strategy,
        |(case, (endpoint, list, body))| {
            let ep = ctx.contract.endpoint(&endpoint);
            let creates = list.is_some();
            let before = list.as_deref().and_then(|l| newest(ctx, l));
            let req = if creates {
                Request::post(ep.path.clone(), body)
            } else {
                Request::get(ep.path.clone())
            };
            let reply = ctx.target.call(&req.auth(header(ctx, &case)));
            check_envelope(ctx, &reply, &ep.response)?;
            let want = ctx.contract.auth_code(case.situation());
            ensure(
                reply.status == 401 && reply.code() == Some(want),
                format!(
                    "token case '{}' must be HTTP 401 with code {want}",
                    case.situation()
                ),
                &reply,
            )?;
            if let Some(l) = &list {
                let after = newest(ctx, l);
                ensure(
                    before == after,
                    format!("a refused token created a task ({before:?} → {after:?})"),
                    &reply,
                )?;
            }
            Ok(())
        },
    )
}
