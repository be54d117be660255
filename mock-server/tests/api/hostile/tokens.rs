//! Hostile input: tokens (see `mod.rs`).

use super::*;

/// What the public API must answer for an `Authorization` value: a caller, or these codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum AuthClass {
    Valid,
    Fails(&'static [u32]),
}

/// `Authorization` values and what each must give on a Kling route.
pub(super) fn auth_values() -> Vec<(Vec<u8>, AuthClass)> {
    let now = Clock::wall_ms() / 1000;
    // Long-lived, so that a long run does not outlive its tokens.
    let valid1 = sign(
        json!({"iss": AK, "exp": now + 30 * 86_400, "nbf": now - 5}),
        SK,
    );
    let valid2 = sign(json!({"iss": AK2, "exp": now + 30 * 86_400}), SK2);
    let huge_exp = sign(json!({"iss": AK, "exp": 1e300, "nbf": -1e300}), SK);
    let expired = sign(json!({"iss": AK, "exp": now - 3600}), SK);
    let not_yet = sign(json!({"iss": AK, "nbf": now + 3600}), SK);
    let wrong_sig = sign(json!({"iss": AK, "exp": now + 3600}), SK2);
    let unknown = sign(json!({"iss": "nobody", "exp": now + 3600}), SK);
    let no_iss = sign(json!({"exp": now + 3600}), SK);
    let exp_string = sign(json!({"iss": AK, "exp": "tomorrow"}), SK);
    let b64 = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let alg_none = format!(
        "{}.{}.",
        b64(json!({"alg": "none", "typ": "JWT"})),
        b64(json!({"iss": AK, "exp": now + 3600}))
    );
    let hs384 = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS384),
        &json!({"iss": AK, "exp": now + 3600}),
        &jsonwebtoken::EncodingKey::from_secret(SK.as_bytes()),
    )
    .unwrap();
    const BAD: &[u32] = &[1002];
    const EMPTY: &[u32] = &[1001];
    let v = |s: String, c| (s.into_bytes(), c);
    vec![
        v(format!("Bearer {valid1}"), AuthClass::Valid),
        v(format!("Bearer {valid1}"), AuthClass::Valid),
        v(format!("Bearer {valid2}"), AuthClass::Valid),
        v(format!("bearer {valid1}"), AuthClass::Valid),
        v(format!("BEARER    {valid1}   "), AuthClass::Valid),
        v(format!("Bearer {huge_exp}"), AuthClass::Valid),
        v(valid1.clone(), AuthClass::Fails(BAD)),
        v(format!("Basic {valid1}"), AuthClass::Fails(BAD)),
        v("Basic dXNlcjpwYXNz".into(), AuthClass::Fails(BAD)),
        v("Bearer".into(), AuthClass::Fails(EMPTY)),
        v("Bearer    ".into(), AuthClass::Fails(EMPTY)),
        v(String::new(), AuthClass::Fails(EMPTY)),
        v(format!("Bearer {expired}"), AuthClass::Fails(&[1004])),
        v(format!("Bearer {not_yet}"), AuthClass::Fails(&[1003])),
        v(format!("Bearer {wrong_sig}"), AuthClass::Fails(BAD)),
        v(format!("Bearer {unknown}"), AuthClass::Fails(BAD)),
        v(format!("Bearer {no_iss}"), AuthClass::Fails(BAD)),
        v(format!("Bearer {exp_string}"), AuthClass::Fails(BAD)),
        v(format!("Bearer {alg_none}"), AuthClass::Fails(BAD)),
        v(format!("Bearer {hs384}"), AuthClass::Fails(BAD)),
        v(format!("Bearer {valid1}.x"), AuthClass::Fails(BAD)),
        v("Bearer a.b".into(), AuthClass::Fails(BAD)),
        v("Bearer ...".into(), AuthClass::Fails(BAD)),
        v("Bearer %%%.%%%.%%%".into(), AuthClass::Fails(BAD)),
        v(format!("Bearer {CONTROL_TOKEN}"), AuthClass::Fails(BAD)),
        v(format!("Bearer  {CONTROL_TOKEN} "), AuthClass::Fails(BAD)),
        v(format!("bearer {CONTROL_TOKEN}"), AuthClass::Fails(BAD)),
        v(
            format!("Bearer {}", "A".repeat(20_000)),
            AuthClass::Fails(BAD),
        ),
        (
            [b"Bearer ".as_slice(), valid1.as_bytes(), b"\xff"].concat(),
            AuthClass::Fails(BAD),
        ),
        (b"Bearer \xc3\x28.\xa0.\xff".to_vec(), AuthClass::Fails(BAD)),
    ]
}
