use std::io::{BufRead, BufReader};
use std::process::Command;

use crate::helpers::{Binary, Proc as Child, start_binary};

/// Start the binary with `args` and `env`, wait for its ready line, return the URL it announces.
async fn start(args: &[&str], env: &[(&str, &str)]) -> (Child, String) {
    let Binary { proc, url, .. } = start_binary(args, env, false).await;
    (proc, url)
}

async fn status_for(url: &str, ak: &str, sk: &str) -> u16 {
    status_with(url, &crate::helpers::token(ak, sk)).await
}

#[tokio::test]
async fn the_binary_prints_its_real_address_and_serves_it() {
    let (_child, url) = start(
        &["--bind", "127.0.0.1:0", "--account", "bin-ak:bin-sk"],
        &[],
    )
    .await;
    assert!(
        url.starts_with("http://127.0.0.1:") && !url.ends_with(":0"),
        "{url}"
    );
    assert_eq!(status_for(&url, "bin-ak", "bin-sk").await, 200);
    assert_eq!(
        status_for(
            &url,
            "kling-mock-dev-ak",
            "kling-mock-dev-sk-not-a-real-kling-secret"
        )
        .await,
        401
    );
}

#[tokio::test]
async fn accounts_and_bind_come_from_the_environment() {
    let env = [
        ("KLING_MOCK_BIND", "127.0.0.1:0"),
        ("KLING_MOCK_ACCOUNTS", "env-ak1:env-sk1,env-ak2:env-sk2"),
    ];
    let (_child, url) = start(&[], &env).await;
    assert_eq!(status_for(&url, "env-ak1", "env-sk1").await, 200);
    assert_eq!(status_for(&url, "env-ak2", "env-sk2").await, 200);
    assert_eq!(
        status_for(
            &url,
            "kling-mock-dev-ak",
            "kling-mock-dev-sk-not-a-real-kling-secret"
        )
        .await,
        401
    );
}

#[tokio::test]
async fn without_accounts_the_binary_serves_the_development_account() {
    let (_child, url) = start(&["--bind", "127.0.0.1:0"], &[]).await;
    assert_eq!(
        status_for(
            &url,
            "kling-mock-dev-ak",
            "kling-mock-dev-sk-not-a-real-kling-secret"
        )
        .await,
        200
    );
}

/// `kling-mock ARGS` with `env` (no other KLING_MOCK_* variable): (exit code, stdout, stderr).
fn run_binary(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = crate::helpers::binary_command(args, env).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// The claims of a JWT, unverified.
fn claims(token: &str) -> serde_json::Value {
    use base64::Engine as _;
    let part = token.split('.').nth(1).expect("three parts");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&raw).unwrap()
}

async fn status_with(url: &str, token: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{url}/v1/audio/text-to-audio"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn the_token_subcommand_prints_a_token_the_server_accepts() {
    // No account configured: the development account, as the server started the same way has.
    let (code, out, err) = run_binary(&["token"], &[]);
    assert_eq!(code, 0, "{err}");
    let token = out.trim();
    assert_eq!(out.lines().count(), 1, "the token alone on stdout: {out:?}");
    let c = claims(token);
    assert_eq!(c["iss"], "kling-mock-dev-ak");
    let (exp, nbf) = (c["exp"].as_i64().unwrap(), c["nbf"].as_i64().unwrap());
    assert_eq!(exp - nbf, 1800 + 5, "30 minutes, nbf 5 s back: {c}");
    let (_child, url) = start(&["--bind", "127.0.0.1:0"], &[]).await;
    assert_eq!(status_with(&url, token).await, 200);

    // The accounts of the environment: the first by default, another by its access key alone.
    let env = [("KLING_MOCK_ACCOUNTS", "tok-ak1:tok-sk1,tok-ak2:tok-sk2")];
    let (_child, url) = start(&["--bind", "127.0.0.1:0"], &env).await;
    let (code, first, err) = run_binary(&["token"], &env);
    assert_eq!(code, 0, "{err}");
    assert_eq!(claims(first.trim())["iss"], "tok-ak1");
    assert_eq!(status_with(&url, first.trim()).await, 200);
    let (code, second, err) =
        run_binary(&["token", "--access-key", "tok-ak2", "--ttl", "2h"], &env);
    assert_eq!(code, 0, "{err}");
    let c = claims(second.trim());
    assert_eq!(c["iss"], "tok-ak2");
    assert_eq!(
        c["exp"].as_i64().unwrap() - c["nbf"].as_i64().unwrap(),
        7200 + 5
    );
    assert_eq!(status_with(&url, second.trim()).await, 200);
    // Keys given in full sign for a mock configured elsewhere; a wrong secret is refused there.
    let (_, other, _) = run_binary(
        &["token", "--access-key", "tok-ak2", "--secret-key", "wrong"],
        &[],
    );
    assert_eq!(status_with(&url, other.trim()).await, 401);
}

#[test]
fn the_token_subcommand_names_an_unknown_access_key_and_the_known_ones() {
    let env = [("KLING_MOCK_ACCOUNTS", "tok-ak1:tok-sk1")];
    let (code, out, err) = run_binary(&["token", "--access-key", "nobody"], &env);
    assert_eq!(code, 2);
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains("'nobody'") && err.contains("tok-ak1") && err.contains("--secret-key"),
        "{err}"
    );
    let (code, _, err) = run_binary(&["token", "--secret-key", "sk"], &[]);
    assert_eq!(code, 2, "a secret key alone names no account: {err}");
    assert!(err.contains("--access-key"), "{err}");
}

#[test]
fn help_documents_every_option() {
    let out = Command::new(env!("CARGO_BIN_EXE_kling-mock"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    for opt in [
        "--bind",
        "--public-url",
        "--account",
        "--auth",
        "--jwt-leeway",
        "--seed",
        "--timing",
        "--body-limit",
        "--callback-timeout",
        "--callback-retries",
        "--callback-backoff",
        "KLING_MOCK_BIND",
        "KLING_MOCK_ACCOUNTS",
    ] {
        assert!(help.contains(opt), "--help lacks {opt}");
    }
}

#[tokio::test]
async fn a_frozen_start_time_and_seed_make_the_binary_reproducible() {
    let args = [
        "--bind",
        "127.0.0.1:0",
        "--account",
        "d-ak:d-sk",
        "--seed",
        "3",
        "--clock",
        "frozen",
        "--start-time",
        "1790000000000",
    ];
    let mut bodies = Vec::new();
    for _ in 0..2 {
        let (_child, url) = start(&args, &[]).await;
        let client = reqwest::Client::new();
        let r = client
            .post(format!("{url}/v1/audio/text-to-audio"))
            .bearer_auth(crate::helpers::token("d-ak", "d-sk"))
            .json(&serde_json::json!({"prompt": "p", "duration": 3}))
            .send()
            .await
            .unwrap();
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["data"]["created_at"], 1_790_000_000_000i64);
        let clock: serde_json::Value = client
            .get(format!("{url}/__mock/clock"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(clock["data"]["mode"], "frozen");
        bodies.push(v);
    }
    assert_eq!(
        bodies[0], bodies[1],
        "same seed, frozen clock, same request: the same answer"
    );
}

/// Start the binary with stderr captured; returns the child, its URL and its stderr reader.
async fn start_with_stderr(args: &[&str]) -> (Child, String, std::process::ChildStderr) {
    let Binary { proc, url, stderr } = start_binary(args, &[], true).await;
    (proc, url, stderr.expect("captured"))
}

#[tokio::test]
async fn json_logs_are_one_json_object_a_line_and_sigterm_stops_the_server_cleanly() {
    let (mut child, _url, stderr) =
        start_with_stderr(&["--bind", "127.0.0.1:0", "--log-format", "json"]).await;
    let pid = child.0.id().to_string();
    let kill = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(kill.success());
    let status = tokio::task::spawn_blocking(move || child.0.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "SIGTERM is a clean exit: {status:?}");
    let lines: Vec<String> = BufReader::new(stderr)
        .lines()
        .map_while(Result::ok)
        .collect();
    assert!(!lines.is_empty());
    for l in &lines {
        let v: serde_json::Value =
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
        assert!(v["level"].is_string() && v["fields"].is_object(), "{l}");
    }
    assert!(
        lines.iter().any(|l| l.contains("kling-mock-dev-ak")),
        "the development keys are logged"
    );
    assert!(lines.iter().any(|l| l.contains("shutting down")));
}

#[tokio::test]
async fn binding_all_interfaces_without_a_control_token_warns() {
    let (_child, _url, stderr) =
        start_with_stderr(&["--bind", "0.0.0.0:0", "--log-format", "json"]).await;
    let first_lines = tokio::task::spawn_blocking(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .take_while(|l| !l.contains("random seed"))
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    assert!(
        first_lines.iter().any(|l| l.contains("without a token")),
        "{first_lines:?}"
    );
}

#[tokio::test]
async fn healthcheck_reports_whether_the_server_on_the_bind_port_answers() {
    let (_child, url) = start(&["--bind", "127.0.0.1:0"], &[]).await;
    let port = url.rsplit(':').next().unwrap();
    let ok = Command::new(env!("CARGO_BIN_EXE_kling-mock"))
        .args(["--healthcheck", "--bind", &format!("0.0.0.0:{port}")])
        .status()
        .unwrap();
    assert!(ok.success());
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let down = Command::new(env!("CARGO_BIN_EXE_kling-mock"))
        .args(["--healthcheck", "--bind", &format!("127.0.0.1:{free}")])
        .status()
        .unwrap();
    assert_eq!(down.code(), Some(1));
}
