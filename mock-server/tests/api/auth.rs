//! `Authorization: Bearer <JWT>` over HTTP (SOURCES.md: General Info, authentication and error codes): each way a
//! token can be wrong gets its 401 code (1001 empty, 1002 invalid, 1003 not yet valid, 1004
//! expired), a refused create makes nothing, and the leeway boundary holds on the wall clock.

use crate::helpers::*;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use kling_mock::Clock;
use kling_mock::config::{AuthMode, DEV_ACCESS_KEY, DEV_SECRET_KEY};
use reqwest::header::HeaderValue;
use serde_json::{Value, json};
use sha2::Sha256;
use std::time::{Duration, Instant};

const T2A: &str = "/v1/audio/text-to-audio";

/// Some public key, as PEM text: what an algorithm-confusion attack uses as the HMAC secret.
const PUBLIC_KEY_PEM: &str = "-----BEGIN PUBLIC KEY-----\n\
MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n\
-----END PUBLIC KEY-----\n";

async fn with_header(app: &TestApp, value: Option<String>) -> Answer {
    let mut req = app.client.get(app.url(T2A));
    if let Some(v) = value {
        req = req.header("authorization", v);
    }
    app.send(req).await
}

/// POST a valid text-to-audio create with one `Authorization` header per value (raw bytes,
/// sent as they are), so a refusal can be checked to create nothing.
async fn create_with(app: &TestApp, values: &[&[u8]]) -> Answer {
    let mut req = app
        .client
        .post(app.url(T2A))
        .json(&json!({"prompt": "rain", "duration": 5}));
    for v in values {
        req = req.header("authorization", HeaderValue::from_bytes(v).expect("header"));
    }
    app.send(req).await
}

/// POST a create with this header value; the answer.
async fn create(app: &TestApp, value: &str) -> Answer {
    create_with(app, &[value.as_bytes()]).await
}

#[track_caller]
fn assert_nothing_created(app: &TestApp) {
    assert_eq!(
        app.state.engine.task_count(),
        0,
        "a refused create made a task"
    );
}

fn now() -> i64 {
    Clock::wall_ms() / 1000
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A JWT with exactly these header and payload texts, HMAC-SHA256 signed with `key` over the
/// parts as sent (so odd JSON like `1e400` or `NaN` can be tested with a right signature).
fn hs256_raw(header: &str, payload: &str, key: &[u8]) -> String {
    signed(&format!("{}.{}", b64(header), b64(payload)), key)
}

/// `input.<HMAC-SHA256 of input with key>`.
fn signed(input: &str, key: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(input.as_bytes());
    format!("{input}.{}", b64(mac.finalize().into_bytes()))
}

/// Claims by Kling's recipe for account 1, with these fields replaced or added.
fn claims_with(extra: Value) -> Value {
    let mut c = json!({"iss": AK, "exp": now() + 1800, "nbf": now() - 5});
    for (k, v) in extra.as_object().expect("object") {
        c[k] = v.clone();
    }
    c
}

/// `Bearer <token>`, the token signed with account 1's secret over `claims`, with this header.
fn bearer_with_header(header: Value, claims: Value) -> String {
    format!(
        "Bearer {}",
        hs256_raw(&header.to_string(), &claims.to_string(), SK.as_bytes())
    )
}

#[tokio::test]
async fn a_missing_authorization_header_is_1001() {
    let app = spawn_app().await;
    let m = with_header(&app, None).await.err(401, 1001).to_string();
    assert_eq!(m, "Authorization is empty");
    with_header(&app, Some("Bearer ".into()))
        .await
        .err(401, 1001);
}

#[tokio::test]
async fn an_empty_or_blank_header_or_a_bare_bearer_is_1001_and_creates_nothing() {
    let app = spawn_app().await;
    for h in [
        "",
        "   ",
        "\t",
        "Bearer",
        "bearer",
        "BEARER   ",
        "Bearer \t ",
    ] {
        let a = create(&app, h).await;
        assert_eq!(a.err(401, 1001), "Authorization is empty", "{h:?}");
    }
    assert_nothing_created(&app);
}

#[tokio::test]
async fn tokens_without_three_parts_are_1002_with_the_java_jwt_message() {
    let app = spawn_app().await;
    let valid = token(AK, SK);
    let (h, rest) = valid.split_once('.').unwrap();
    for (t, got) in [
        ("garbage".to_string(), "0"),
        ("a.b".to_string(), "2"),
        (".".to_string(), "2"),
        ("...".to_string(), "> 3"),
        (format!("{valid}.x"), "> 3"),
        (format!("{h}.{h}.{rest}"), "> 3"),
        (format!("{h}{rest}"), "2"),
    ] {
        let a = create(&app, &format!("Bearer {t}")).await;
        assert_eq!(
            a.err(401, 1002),
            format!("The token was expected to have 3 parts, but got {got}"),
            "{t}"
        );
    }
    // Three parts, but nothing in them.
    let a = create(&app, "Bearer ..").await;
    assert_eq!(a.err(401, 1002), "The token's header is empty");
    let a = create(&app, "Bearer a.b.c").await;
    assert_eq!(
        a.err(401, 1002),
        "The token's header is not valid base64url"
    );
    assert_nothing_created(&app);
}

#[tokio::test]
async fn a_wrong_signature_or_unknown_access_key_is_1002() {
    let app = spawn_app().await;
    let a = with_header(
        &app,
        Some(format!("Bearer {}", token(AK, "not-the-secret"))),
    )
    .await;
    assert_eq!(
        a.err(401, 1002),
        "The Token's Signature resulted invalid when verified using the Algorithm: HmacSHA256"
    );
    let a = with_header(&app, Some(format!("Bearer {}", token("unknown-ak", SK)))).await;
    assert_eq!(
        a.err(401, 1002),
        "Authorization is invalid: unknown access key"
    );
    // Account 2's secret does not open account 1.
    with_header(&app, Some(format!("Bearer {}", token(AK, SK2))))
        .await
        .err(401, 1002);
}

#[tokio::test]
async fn hs384_hs512_and_rs256_tokens_are_1002_and_create_nothing() {
    let app = spawn_app().await;
    let claims = claims_with(json!({}));
    for alg in [
        jsonwebtoken::Algorithm::HS384,
        jsonwebtoken::Algorithm::HS512,
    ] {
        let t = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(alg),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(SK.as_bytes()),
        )
        .unwrap();
        let a = create(&app, &format!("Bearer {t}")).await;
        assert_eq!(
            a.err(401, 1002),
            format!("The token's algorithm '{alg:?}' is not supported: only HS256 is accepted")
        );
    }
    // RS256, built by hand: no private key needed to be refused on the algorithm alone.
    let rs256 = format!(
        "{}.{}.{}",
        b64(r#"{"alg":"RS256","typ":"JWT"}"#),
        b64(claims.to_string()),
        b64([7u8; 256])
    );
    let a = create(&app, &format!("Bearer {rs256}")).await;
    assert_eq!(
        a.err(401, 1002),
        "The token's algorithm 'RS256' is not supported: only HS256 is accepted"
    );
    // `alg` is case-sensitive (RFC 7515 §4.1.1), even with a right HMAC-SHA256 signature.
    let lower = bearer_with_header(json!({"alg": "hs256", "typ": "JWT"}), claims.clone());
    create(&app, &lower).await.err(401, 1002);
    assert_nothing_created(&app);
}

#[tokio::test]
async fn alg_none_is_1002_with_or_without_a_signature() {
    let app = spawn_app().await;
    let claims = b64(claims_with(json!({})).to_string());
    for alg in ["none", "None", "NONE"] {
        let header = b64(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#));
        for sig in ["", "c2lnbmF0dXJl"] {
            let a = create(&app, &format!("Bearer {header}.{claims}.{sig}")).await;
            assert_eq!(
                a.err(401, 1002),
                format!("The token's algorithm '{alg}' is not supported: only HS256 is accepted")
            );
        }
    }
    assert_nothing_created(&app);
}

#[tokio::test]
async fn a_token_signed_with_a_public_key_or_the_access_key_is_1002_no_alg_confusion() {
    let app = spawn_app().await;
    let header = r#"{"alg":"HS256","typ":"JWT"}"#;
    let claims = claims_with(json!({})).to_string();
    for key in [PUBLIC_KEY_PEM, AK, "", "test-sk-"] {
        let t = hs256_raw(header, &claims, key.as_bytes());
        let a = create(&app, &format!("Bearer {t}")).await;
        assert_eq!(
            a.err(401, 1002),
            "The Token's Signature resulted invalid when verified using the Algorithm: HmacSHA256",
            "key {key:?}"
        );
    }
    // The classic confusion: an RS256 header, HMAC-signed with the public key.
    let t = hs256_raw(
        r#"{"alg":"RS256","typ":"JWT"}"#,
        &claims,
        PUBLIC_KEY_PEM.as_bytes(),
    );
    create(&app, &format!("Bearer {t}")).await.err(401, 1002);
    // The same recipe with the secret key does pass: the refusals above are about the key.
    let t = hs256_raw(header, &claims, SK.as_bytes());
    create(&app, &format!("Bearer {t}")).await.ok();
    assert_eq!(app.state.engine.task_count(), 1);
}

#[tokio::test]
async fn a_header_without_a_string_alg_is_1002() {
    let app = spawn_app().await;
    let claims = claims_with(json!({}));
    for (header, message) in [
        (json!({"typ": "JWT"}), "The token's header has no 'alg'"),
        (json!({"alg": null}), "The token's header has no 'alg'"),
        (
            json!({"alg": 256}),
            "The token's 'alg' must be a string, got a number",
        ),
        (
            json!({"alg": ["HS256"]}),
            "The token's 'alg' must be a string, got an array",
        ),
        (
            json!(["HS256"]),
            "The token's header must be a JSON object, got an array",
        ),
    ] {
        let a = create(&app, &bearer_with_header(header.clone(), claims.clone())).await;
        assert_eq!(a.err(401, 1002), message, "{header}");
    }
    assert_nothing_created(&app);
}

#[tokio::test]
async fn a_missing_empty_or_non_string_iss_is_1002() {
    let app = spawn_app().await;
    for (iss, message) in [
        (None, "The token has no 'iss' claim (the access key)"),
        (
            Some(json!(null)),
            "The token has no 'iss' claim (the access key)",
        ),
        (
            Some(json!("")),
            "The token's 'iss' claim is empty: it must be the access key",
        ),
        (
            Some(json!(12345)),
            "The token's 'iss' claim must be a string (the access key), got a number",
        ),
        (
            Some(json!([AK])),
            "The token's 'iss' claim must be a string (the access key), got an array",
        ),
    ] {
        let mut claims = claims_with(json!({}));
        match &iss {
            Some(v) => claims["iss"] = v.clone(),
            None => {
                claims.as_object_mut().unwrap().remove("iss");
            }
        }
        let a = create(&app, &format!("Bearer {}", sign(claims, SK))).await;
        assert_eq!(a.err(401, 1002), message, "iss {iss:?}");
    }
    assert_nothing_created(&app);
}

#[tokio::test]
async fn exp_or_nbf_that_is_not_a_number_is_1002() {
    let app = spawn_app().await;
    for claim in ["exp", "nbf"] {
        for (value, kind) in [
            (json!("1700000000"), "a string"),
            (json!(true), "a boolean"),
            (json!({"seconds": 1}), "an object"),
            (json!([1]), "an array"),
        ] {
            let claims = claims_with(json!({ claim: value }));
            let a = create(&app, &format!("Bearer {}", sign(claims, SK))).await;
            assert_eq!(
                a.err(401, 1002),
                format!(
                    "The token's '{claim}' claim must be a NumericDate (seconds since 1970), got {kind}"
                ),
                "{claim}: {value}"
            );
        }
    }
    // Not JSON at all: NaN, and a number no f64 holds.
    for payload in [
        format!(r#"{{"iss":"{AK}","exp":NaN}}"#),
        format!(r#"{{"iss":"{AK}","exp":1e400}}"#),
    ] {
        let t = hs256_raw(r#"{"alg":"HS256"}"#, &payload, SK.as_bytes());
        let a = create(&app, &format!("Bearer {t}")).await;
        assert!(
            a.err(401, 1002)
                .starts_with("The token's payload is not valid JSON: "),
            "{payload}: {a:?}"
        );
    }
    assert_nothing_created(&app);
}

#[tokio::test]
async fn huge_negative_and_fractional_dates_are_compared_as_numbers() {
    let app = spawn_app().await;
    let n = now();
    let cases = [
        // A far-future `exp` simply never expires (RFC 7519 §2 NumericDate).
        (json!({"exp": 1e300}), 0),
        (json!({"exp": u64::MAX}), 0),
        (json!({"exp": i64::MAX}), 0),
        (json!({"exp": n as f64 + 600.5}), 0),
        // A far-future `nbf` is never reached.
        (json!({"nbf": 1e300}), 1003),
        (json!({"nbf": u64::MAX}), 1003),
        (json!({"nbf": i64::MAX}), 1003),
        (json!({"nbf": n as f64 + 60.5}), 1003),
        // Before 1970.
        (json!({"exp": -1}), 1004),
        (json!({"exp": i64::MIN}), 1004),
        (json!({"exp": -1e300}), 1004),
        (json!({"exp": n as f64 - 60.5}), 1004),
        (json!({"nbf": -1}), 0),
        (json!({"nbf": i64::MIN, "exp": 1e300}), 0),
        // `null` is an absent claim, as in java-jwt.
        (json!({"exp": null, "nbf": null}), 0),
    ];
    let mut created = 0;
    for (extra, code) in cases {
        let a = create(
            &app,
            &format!("Bearer {}", sign(claims_with(extra.clone()), SK)),
        )
        .await;
        match code {
            0 => {
                a.ok();
                created += 1;
            }
            1003 => assert!(
                a.err(401, 1003)
                    .starts_with("Authorization is not yet valid ("),
                "{extra}"
            ),
            _ => assert!(
                a.err(401, 1004).starts_with("Authorization has expired ("),
                "{extra}"
            ),
        }
    }
    assert_eq!(app.state.engine.task_count(), created);
}

#[tokio::test]
async fn a_token_without_the_bearer_scheme_is_1002() {
    let app = spawn_app().await;
    let t = token(AK, SK);
    for (h, message) in [
        (
            t.clone(),
            "Authorization is invalid: expected 'Bearer <token>', got no scheme".to_string(),
        ),
        (
            format!("Token {t}"),
            "Authorization is invalid: expected 'Bearer <token>', got the scheme 'Token'".into(),
        ),
        (
            "Basic dGVzdC1hay0xOnRlc3Qtc2stMQ==".into(),
            "Authorization is invalid: expected 'Bearer <token>', got the scheme 'Basic'".into(),
        ),
        (
            format!("JWT {t}"),
            "Authorization is invalid: expected 'Bearer <token>', got the scheme 'JWT'".into(),
        ),
        (
            format!("Bearer{t}"),
            "Authorization is invalid: 'Bearer' must be followed by a space and the token".into(),
        ),
        (
            format!("Bearer:{t}"),
            "Authorization is invalid: 'Bearer' must be followed by a space and the token".into(),
        ),
    ] {
        let a = create(&app, &h).await;
        assert_eq!(a.err(401, 1002), message, "{h}");
    }
    assert_nothing_created(&app);
}

#[tokio::test]
async fn the_scheme_in_any_case_and_extra_spaces_around_the_token_are_accepted() {
    let app = spawn_app().await;
    let t = token(AK, SK);
    let variants = [
        format!("bearer {t}"),
        format!("BEARER {t}"),
        format!("BeArEr {t}"),
        format!("Bearer  {t}"),
        format!("Bearer      {t}"),
        format!("Bearer {t}   "),
        format!("Bearer {t}\t"),
        format!(" \tBearer {t}"),
    ];
    for h in &variants {
        create(&app, h).await.ok();
    }
    assert_eq!(app.state.engine.task_count(), variants.len());
}

#[tokio::test]
async fn a_tab_after_bearer_or_white_space_inside_the_token_is_1002() {
    let app = spawn_app().await;
    let t = token(AK, SK);
    let (head, rest) = t.split_at(10);
    for (h, message) in [
        (
            format!("Bearer\t{t}"),
            "Authorization is invalid: 'Bearer' must be followed by spaces, not a tab",
        ),
        (
            format!("Bearer \t{t}"),
            "Authorization is invalid: 'Bearer' must be followed by spaces, not a tab",
        ),
        (
            format!("Bearer {head} {rest}"),
            "The token contains white space",
        ),
        (
            format!("Bearer {head}\t{rest}"),
            "The token contains white space",
        ),
        (format!("Bearer {t} {t}"), "The token contains white space"),
        (
            format!("Bearer Bearer {t}"),
            "The token contains white space",
        ),
    ] {
        let a = create(&app, &h).await;
        assert_eq!(a.err(401, 1002), message, "{h:?}");
    }
    assert_nothing_created(&app);
}

#[tokio::test]
async fn with_two_authorization_headers_only_the_first_counts() {
    let app = spawn_app().await;
    let good = format!("Bearer {}", token(AK, SK));
    let bad = format!("Bearer {}", token(AK, "wrong"));
    // The second header is never read, whatever it holds.
    create_with(&app, &[bad.as_bytes(), good.as_bytes()])
        .await
        .err(401, 1002);
    create_with(&app, &[b"".as_slice(), good.as_bytes()])
        .await
        .err(401, 1001);
    assert_nothing_created(&app);
    create_with(&app, &[good.as_bytes(), bad.as_bytes()])
        .await
        .ok();
    let other = format!("Bearer {}", token(AK2, SK2));
    let a = create_with(&app, &[good.as_bytes(), other.as_bytes()]).await;
    let id = a.ok()["task_id"].as_str().unwrap().to_string();
    // The task belongs to the first header's account.
    app.get(&format!("{T2A}/{id}")).await.ok();
    app.get_as(AK2, SK2, &format!("{T2A}/{id}"))
        .await
        .err(400, 1201);
}

#[tokio::test]
async fn a_header_that_is_not_utf8_is_1002() {
    let app = spawn_app().await;
    let t = token(AK, SK);
    let latin1 = [b"Bearer ".as_slice(), t.as_bytes(), b"\xe9"].concat();
    for h in [b"Bearer \xff\xfe".as_slice(), latin1.as_slice(), b"\x80"] {
        let a = create_with(&app, &[h]).await;
        assert_eq!(
            a.err(401, 1002),
            "Authorization is invalid: the header is not valid UTF-8"
        );
    }
    assert_nothing_created(&app);
}

#[tokio::test]
async fn a_64_kib_token_is_refused_quickly() {
    let app = spawn_app().await;
    let big = 64 * 1024;
    let valid = token(AK, SK);
    let (signing_input, _) = valid.rsplit_once('.').unwrap();
    let tokens = [
        "A".repeat(big),
        ".".repeat(big),
        format!(
            "{}.{}.{}",
            "A".repeat(big / 3),
            "B".repeat(big / 3),
            "C".repeat(big / 3)
        ),
        // A right header and payload with a 64 KiB signature.
        format!("{signing_input}.{}", "A".repeat(big)),
        // A right header and a 64 KiB payload (a claim no one checks), wrongly signed.
        hs256_raw(
            r#"{"alg":"HS256"}"#,
            &claims_with(json!({"pad": "x".repeat(big)})).to_string(),
            b"wrong",
        ),
    ];
    for t in &tokens {
        let start = Instant::now();
        create(&app, &format!("Bearer {t}")).await.err(401, 1002);
        // Generous for a loaded machine; a quadratic scan of 64 KiB would take far longer.
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
    }
    assert_nothing_created(&app);
}

#[tokio::test]
async fn padded_or_plain_base64_parts_are_1002() {
    let app = spawn_app().await;
    // 28 bytes: unpadded base64url ends mid-group, so the padded form has '='.
    let header = r#"{"alg":"HS256","typ": "JWT"}"#;
    let claims = claims_with(json!({})).to_string();
    let padded = |part: String| {
        let pad = (4 - part.len() % 4) % 4;
        part + &"=".repeat(pad)
    };
    let padded_header = padded(b64(header));
    assert!(padded_header.ends_with('='));
    // Signed over the parts as sent: only the padding is wrong.
    let t = signed(&format!("{padded_header}.{}", b64(&claims)), SK.as_bytes());
    let a = create(&app, &format!("Bearer {t}")).await;
    assert_eq!(
        a.err(401, 1002),
        "The token's header is not valid base64url ('=' padding is not allowed, RFC 7515 §2)"
    );
    let t = hs256_raw(header, &claims, SK.as_bytes());
    let (input, sig) = t.rsplit_once('.').unwrap();
    let a = create(&app, &format!("Bearer {input}.{}", padded(sig.to_string()))).await;
    assert_eq!(
        a.err(401, 1002),
        "The token's signature is not valid base64url ('=' padding is not allowed, RFC 7515 §2)"
    );
    // Plain base64's '+' and '/' instead of '-' and '_'.
    let plain = format!("{input}.{}", sig.replace('-', "+").replace('_', "/") + "+/");
    let a = create(&app, &format!("Bearer {plain}")).await;
    assert_eq!(
        a.err(401, 1002),
        "The token's signature is not valid base64url ('+' and '/' are plain base64: use '-' and '_')"
    );
    assert_nothing_created(&app);
    create(&app, &format!("Bearer {t}")).await.ok();
}

#[tokio::test]
async fn kid_jku_crit_and_any_typ_are_ignored_and_nothing_is_fetched() {
    let app = spawn_app().await;
    // Anything the mock fetched from these URLs would land in this listener's queue.
    let trap = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    trap.set_nonblocking(true).unwrap();
    let url = format!("http://{}/jwks.json", trap.local_addr().unwrap());
    let claims = claims_with(json!({}));
    let headers = [
        json!({"alg": "HS256", "typ": "JWT", "kid": "key-1"}),
        json!({"alg": "HS256", "jku": url, "x5u": url, "kid": 7}),
        json!({"alg": "HS256", "jwk": {"kty": "oct", "k": "AAAA"}}),
        json!({"alg": "HS256", "crit": ["exp"], "exp": 1}),
        json!({"alg": "HS256", "crit": "not even a list"}),
        json!({"alg": "HS256", "typ": "at+jwt"}),
        json!({"alg": "HS256", "typ": 42}),
        json!({"alg": "HS256"}),
    ];
    for h in &headers {
        create(&app, &bearer_with_header(h.clone(), claims.clone()))
            .await
            .ok();
    }
    assert_eq!(app.state.engine.task_count(), headers.len());
    match trap.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the mock connected to a URL of the token header: {other:?}"),
    }
    // And the signature is still checked under those fields.
    let h = json!({"alg": "HS256", "jku": url, "kid": "key-1"});
    let t = hs256_raw(&h.to_string(), &claims.to_string(), b"attacker key");
    create(&app, &format!("Bearer {t}")).await.err(401, 1002);
}

#[tokio::test]
async fn a_token_not_yet_valid_is_1003_and_an_expired_one_is_1004() {
    let app = spawn_app().await;
    let early = sign(
        json!({"iss": AK, "exp": now() + 3600, "nbf": now() + 60}),
        SK,
    );
    let nbf = now() + 60;
    let msg = with_header(&app, Some(format!("Bearer {early}")))
        .await
        .err(401, 1003)
        .to_string();
    // The table's text, then the claim, the server's time and the leeway, so a developer sees
    // a clock skew at once.
    assert!(
        msg.starts_with("Authorization is not yet valid (nbf ")
            && msg.contains(&format!("nbf {nbf} = "))
            && msg.contains("; server time ")
            && msg.ends_with("; leeway 5 s)"),
        "{msg}"
    );
    let exp = now() - 60;
    let late = sign(json!({"iss": AK, "exp": exp, "nbf": now() - 120}), SK);
    let msg = with_header(&app, Some(format!("Bearer {late}")))
        .await
        .err(401, 1004)
        .to_string();
    let server_time: i64 = msg
        .split("server time ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{msg}"));
    assert!((exp + 60..=now()).contains(&server_time), "{msg}");
    let exp_date = humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(exp as u64),
    );
    assert!(
        msg.starts_with(&format!(
            "Authorization has expired (exp {exp} = {exp_date}; "
        )),
        "{msg}"
    );
}

/// Send a create whose claims are built from the wall second `t0` read just before, and
/// return the answer with the wall seconds `t0` and `t1` (read just after): the server's own
/// reading lies in `[t0, t1]`.
async fn create_at_wall_second(app: &TestApp, claims: impl Fn(i64) -> Value) -> (Answer, i64, i64) {
    let t0 = now();
    let a = create(app, &format!("Bearer {}", sign(claims(t0), SK))).await;
    (a, t0, now())
}

/// The leeway boundary over HTTP, on the wall clock: `exp = now - leeway - 1` and
/// `nbf = now + leeway + 1` (strictly beyond) are refused, `exp = now - leeway + 1` and
/// `nbf = now + leeway - 1` pass. A case that could straddle a wall-second change is retried
/// until its request ran within one second, so the test cannot flake on a slow machine.
async fn assert_leeway(app: &TestApp, leeway: i64) {
    let expired = |t: i64| json!({"iss": AK, "exp": t - leeway - 1});
    let (a, _, _) = create_at_wall_second(app, expired).await;
    a.err(401, 1004); // exp + leeway = t0 - 1 < t0 <= server's now: no race
    let not_yet = |t: i64| json!({"iss": AK, "nbf": t + leeway + 1});
    let still_ok = |t: i64| json!({"iss": AK, "exp": t - leeway + 1});
    let nearly = |t: i64| json!({"iss": AK, "nbf": t + leeway - 1});
    let (a, _, _) = create_at_wall_second(app, nearly).await;
    a.ok(); // nbf - leeway = t0 - 1 < server's now: no race
    let mut checked = (false, false);
    for _ in 0..50 {
        if !checked.0 {
            // Refused iff the server read t0 itself.
            let (a, t0, t1) = create_at_wall_second(app, not_yet).await;
            if t1 == t0 {
                a.err(401, 1003);
                checked.0 = true;
            }
        }
        if !checked.1 {
            // Passes iff the server read at most t0 + 1.
            let (a, t0, t1) = create_at_wall_second(app, still_ok).await;
            if t1 <= t0 + 1 {
                a.ok();
                checked.1 = true;
            }
        }
        if checked == (true, true) {
            return;
        }
    }
    panic!("50 requests each straddled a wall-second change: {checked:?}");
}

#[tokio::test]
async fn the_leeway_is_5_seconds_by_default_at_the_http_level() {
    let app = spawn_app().await;
    assert_leeway(&app, 5).await; // README: `--jwt-leeway`, default 5
}

#[tokio::test]
async fn the_leeway_is_set_by_jwt_leeway() {
    for leeway in [0, 120] {
        let app = spawn_with(kling_mock::Config {
            jwt_leeway_secs: leeway,
            ..config()
        })
        .await;
        assert_leeway(&app, leeway as i64).await;
    }
}

#[tokio::test]
async fn a_refused_token_creates_nothing() {
    let app = spawn_app().await;
    let bad = app
        .send(
            app.client
                .post(app.url(T2A))
                .bearer_auth(token(AK, "wrong"))
                .json(&json!({"prompt": "rain", "duration": 5})),
        )
        .await;
    bad.err(401, 1002);
    assert_eq!(app.get(T2A).await.ok(), &json!([]));
    assert_eq!(app.state.engine.task_count(), 0);
}

#[tokio::test]
async fn extra_claims_are_accepted() {
    let app = spawn_app().await;
    let t = sign(
        claims_with(json!({"iat": now(), "jti": "x", "aud": 5, "sub": {"a": 1}})),
        SK,
    );
    with_header(&app, Some(format!("Bearer {t}"))).await.ok();
}

#[tokio::test]
async fn without_accounts_the_development_account_works() {
    let app = spawn_with(kling_mock::Config {
        accounts: vec![],
        ..config()
    })
    .await;
    app.get_as(DEV_ACCESS_KEY, DEV_SECRET_KEY, T2A).await.ok();
    app.get_as(AK, SK, T2A).await.err(401, 1002);
}

#[tokio::test]
async fn auth_any_accepts_unverified_tokens_and_isolates_each_issuer() {
    let app = spawn_with(kling_mock::Config {
        accounts: vec![],
        auth: AuthMode::Any,
        ..config()
    })
    .await;
    let a = app
        .post_as(
            "team-a",
            "whatever",
            T2A,
            json!({"prompt": "rain", "duration": 5}),
        )
        .await;
    let id = a.ok()["task_id"].as_str().unwrap().to_string();
    app.get_as("team-a", "another secret", &format!("{T2A}/{id}"))
        .await
        .ok();
    app.get_as("team-b", "x", &format!("{T2A}/{id}"))
        .await
        .err(400, 1201);
    let expired = sign(json!({"iss": "team-a", "exp": now() - 600}), "x");
    with_header(&app, Some(format!("Bearer {expired}")))
        .await
        .err(401, 1004);
    // Unverified is not unchecked: `alg: none` and a missing signature are still 1002.
    let claims = b64(json!({"iss": "team-a", "exp": now() + 600}).to_string());
    let none = format!("Bearer {}.{claims}.", b64(r#"{"alg":"none"}"#));
    create(&app, &none).await.err(401, 1002);
    let unsigned = format!("Bearer {}.{claims}.", b64(r#"{"alg":"HS256"}"#));
    create(&app, &unsigned).await.err(401, 1002);
}
