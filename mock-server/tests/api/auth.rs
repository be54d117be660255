use crate::helpers::*;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kling_mock::Clock;
use kling_mock::config::{AuthMode, DEV_ACCESS_KEY, DEV_SECRET_KEY};
use serde_json::json;

const T2A: &str = "/v1/audio/text-to-audio";

async fn with_header(app: &TestApp, value: Option<String>) -> Answer {
    let mut req = app.client.get(app.url(T2A));
    if let Some(v) = value {
        req = req.header("authorization", v);
    }
    app.send(req).await
}

fn now() -> i64 {
    Clock::wall_ms() / 1000
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
async fn malformed_tokens_are_1002() {
    let app = spawn_app().await;
    let a = with_header(&app, Some("Bearer garbage".into())).await;
    assert_eq!(
        a.err(401, 1002),
        "The token was expected to have 3 parts, but got 0"
    );
    with_header(&app, Some("Bearer a.b".into()))
        .await
        .err(401, 1002);
    with_header(&app, Some("Bearer a.b.c".into()))
        .await
        .err(401, 1002);
    with_header(&app, Some(format!("Token {}", token(AK, SK))))
        .await
        .err(401, 1002);
    with_header(&app, Some(token(AK, SK))).await.err(401, 1002);
}

#[tokio::test]
async fn a_wrong_signature_or_unknown_access_key_is_1002() {
    let app = spawn_app().await;
    with_header(
        &app,
        Some(format!("Bearer {}", token(AK, "not-the-secret"))),
    )
    .await
    .err(401, 1002);
    with_header(&app, Some(format!("Bearer {}", token("unknown-ak", SK))))
        .await
        .err(401, 1002);
    let no_iss = sign(json!({"exp": now() + 600}), SK);
    with_header(&app, Some(format!("Bearer {no_iss}")))
        .await
        .err(401, 1002);
}

#[tokio::test]
async fn algorithms_other_than_hs256_are_1002_including_none() {
    let app = spawn_app().await;
    let claims = json!({"iss": AK, "exp": now() + 600});
    let hs384 = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS384),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SK.as_bytes()),
    )
    .unwrap();
    with_header(&app, Some(format!("Bearer {hs384}")))
        .await
        .err(401, 1002);
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    with_header(&app, Some(format!("Bearer {none}")))
        .await
        .err(401, 1002);
}

#[tokio::test]
async fn a_token_not_yet_valid_is_1003_and_an_expired_one_is_1004() {
    let app = spawn_app().await;
    let early = sign(
        json!({"iss": AK, "exp": now() + 3600, "nbf": now() + 60}),
        SK,
    );
    assert_eq!(
        with_header(&app, Some(format!("Bearer {early}")))
            .await
            .err(401, 1003),
        "Authorization is not yet valid"
    );
    let late = sign(
        json!({"iss": AK, "exp": now() - 60, "nbf": now() - 120}),
        SK,
    );
    assert_eq!(
        with_header(&app, Some(format!("Bearer {late}")))
            .await
            .err(401, 1004),
        "Authorization has expired"
    );
}

#[tokio::test]
async fn extra_claims_and_a_lower_case_scheme_are_accepted() {
    let app = spawn_app().await;
    let t = sign(
        json!({"iss": AK, "exp": now() + 600, "nbf": now() - 5, "iat": now(), "jti": "x"}),
        SK,
    );
    with_header(&app, Some(format!("Bearer {t}"))).await.ok();
    with_header(&app, Some(format!("bearer {t}"))).await.ok();
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
}
