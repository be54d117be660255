use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Kill the child when the test ends, however it ends.
struct Child(std::process::Child);
impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_binary_prints_its_real_address_and_serves_it() {
    let mut child = Child(
        Command::new(env!("CARGO_BIN_EXE_kling-mock"))
            .args(["--bind", "127.0.0.1:0", "--account", "bin-ak:bin-sk"])
            .env_remove("KLING_MOCK_ACCOUNTS")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start kling-mock"),
    );
    let stdout = child.0.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map(|_| line)
    });
    let line = tokio::time::timeout(Duration::from_secs(30), line)
        .await
        .expect("ready line")
        .unwrap()
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("kling-mock listening on ")
        .unwrap_or_else(|| panic!("ready line: {line:?}"));
    assert!(
        url.starts_with("http://127.0.0.1:") && !url.ends_with(":0"),
        "{url}"
    );
    let token = crate::helpers::token("bin-ak", "bin-sk");
    let r = reqwest::Client::new()
        .get(format!("{url}/v1/audio/text-to-audio"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["code"], 0);
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
