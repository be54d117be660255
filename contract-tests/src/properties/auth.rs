//! *auth*: missing, malformed, wrongly signed, expired, not-yet-valid and `alg: none` tokens get
//! their documented codes with HTTP 401, and create nothing.

use super::{check_envelope, ensure};
use crate::client::{authorization, broken};
use crate::ctx::Ctx;
use crate::report::{PropResult, check};
use crate::strategies::{AuthCase, auth_case, valid_body};
use crate::target::{Auth, Request, now_secs};
use proptest::sample::select;

const ENDPOINTS: [&str; 4] = [
    "text_to_audio_list",
    "custom_voice_list",
    "presets_list",
    "text_to_audio_create",
];

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

/// The newest task id of the primary account's text-to-audio list (to see that nothing was created).
fn newest(ctx: &Ctx) -> Option<String> {
    let r = ctx.get(
        0,
        &format!(
            "{}?pageSize=1",
            ctx.contract.endpoint("text_to_audio_list").path
        ),
    );
    r.data()
        .get(0)
        .and_then(|t| t["task_id"].as_str())
        .map(str::to_string)
}

/// Run the property.
pub fn run(ctx: &Ctx, seed: [u8; 32]) -> PropResult {
    let strategy = (
        auth_case(),
        select(ENDPOINTS.to_vec()),
        valid_body(&ctx.contract, "text_to_audio_create"),
    );
    check(ctx, seed, ctx.cases, strategy, |(case, endpoint, body)| {
        let ep = ctx.contract.endpoint(endpoint);
        let creates = ep.method == "POST";
        let before = if creates { newest(ctx) } else { None };
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
        if creates {
            let after = newest(ctx);
            ensure(
                before == after,
                format!("a refused token created a task ({before:?} → {after:?})"),
                &reply,
            )?;
        }
        Ok(())
    })
}
