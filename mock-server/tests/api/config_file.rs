//! The TOML configuration file: precedence, the example file, bad files.

use crate::helpers::*;
use kling_mock::config_file::{LoadError, load_from};
use serde_json::json;
use std::process::Command;

const EXAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../fixtures/kling-mock.example.toml"
);

fn write(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("kling-mock-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn the_example_file_sets_every_section() {
    let l = load_from(["kling-mock", "--config", EXAMPLE]).unwrap();
    let c = l.config;
    assert_eq!(c.seed, Some(42));
    assert_eq!(c.accounts.len(), 2);
    assert_eq!(c.account_settings.len(), 1, "ci-ak carries settings");
    assert_eq!(c.faults.len(), 2);
    assert!(c.faults[1].transport.is_some());
    assert!(c.latency.global.is_some());
    assert_eq!(c.outcomes.rules.len(), 2);
    let t2a = c.lifecycle(kling_mock::kinds::text_to_audio::SPEC.id);
    assert_eq!((t2a.processing.min_ms, t2a.processing.max_ms), (1000, 3000));
    assert!(!l.print);
}

#[test]
fn the_command_line_beats_the_file_and_the_file_beats_the_defaults() {
    let f = write(
        "prec.toml",
        "seed = 42\njournal_size = 5\nbody_limit = 2048\n",
    );
    let c = load_from(["kling-mock", "--config", f.to_str().unwrap(), "--seed", "7"])
        .unwrap()
        .config;
    assert_eq!(c.seed, Some(7), "command line over file");
    assert_eq!(c.journal_size, 5, "file over default");
    assert_eq!(c.body_limit, 2048);
    let d = load_from([
        "kling-mock",
        "--config",
        f.to_str().unwrap(),
        "--body-limit",
        "1048576",
    ])
    .unwrap()
    .config;
    assert_eq!(
        d.body_limit, 1048576,
        "even when the command line repeats the default value"
    );
}

#[test]
fn the_environment_beats_the_file() {
    let f = write("env.toml", "seed = 42\njournal_size = 5\n");
    let out = Command::new(env!("CARGO_BIN_EXE_kling-mock"))
        .args(["--config", f.to_str().unwrap(), "--print-config"])
        .env("KLING_MOCK_SEED", "9")
        .env_remove("KLING_MOCK_JOURNAL_SIZE")
        .output()
        .unwrap();
    assert!(out.status.success());
    let printed = String::from_utf8(out.stdout).unwrap();
    assert!(printed.contains("seed = 9"), "{printed}");
    assert!(printed.contains("journal_size = 5"), "{printed}");
    let again: toml::Value =
        toml::from_str(&printed).expect("the printed configuration is itself a config file");
    assert_eq!(again["seed"].as_integer(), Some(9));
}

#[test]
fn fetch_inputs_is_off_unless_the_flag_the_environment_or_the_file_says_so() {
    assert!(!load_from(["kling-mock"]).unwrap().config.fetch_inputs);
    assert!(
        load_from(["kling-mock", "--fetch-inputs"])
            .unwrap()
            .config
            .fetch_inputs
    );
    let f = write("fetch.toml", "fetch_inputs = true\n");
    let c = load_from(["kling-mock", "--config", f.to_str().unwrap()]).unwrap();
    assert!(c.config.fetch_inputs);
    let out = Command::new(env!("CARGO_BIN_EXE_kling-mock"))
        .arg("--print-config")
        .env("KLING_MOCK_FETCH_INPUTS", "true")
        .output()
        .unwrap();
    assert!(out.status.success());
    let printed = String::from_utf8(out.stdout).unwrap();
    assert!(printed.contains("fetch_inputs = true"), "{printed}");
    let again = write("fetch-printed.toml", &printed);
    let c = load_from(["kling-mock", "--config", again.to_str().unwrap()]).unwrap();
    assert!(c.config.fetch_inputs, "the printed configuration keeps it");
}

#[test]
fn bad_files_name_the_key_and_line_and_stop_the_server() {
    for (text, wants) in [
        ("bind = \"127.0.0.1:0\"\nbnd = 3\n", vec!["line 2", "bnd"]),
        ("[[faults]]\ncode = 4242\n", vec!["line 1", "4242"]),
        (
            "[lifecycle.video]\nsubmitted = \"1s\"\nprocessing = \"1s\"\n",
            vec!["line 1", "video"],
        ),
        (
            "[latency]\nglobal = { kind = \"uniform\", min_ms = 5, max_ms = 1 }\n",
            vec!["line", "min_ms"],
        ),
        ("seed = \"many\"\n", vec!["line 1", "seed"]),
        (
            "[callbacks]\nwebhook_secret = \"nope\"\n",
            vec!["line 2", "whsec_"],
        ),
    ] {
        let f = write("bad.toml", text);
        let Err(LoadError::File(msg)) = load_from(["kling-mock", "--config", f.to_str().unwrap()])
        else {
            panic!("{text} should be refused")
        };
        for w in wants {
            assert!(msg.contains(w), "{msg} should mention {w}");
        }
        let out = Command::new(env!("CARGO_BIN_EXE_kling-mock"))
            .args(["--config", f.to_str().unwrap(), "--bind", "127.0.0.1:0"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert!(
            out.stdout.is_empty(),
            "no ready line: the server did not start"
        );
    }
    assert!(matches!(
        load_from(["kling-mock", "--config", "/no/such/file.toml"]),
        Err(LoadError::File(_))
    ));
}

#[tokio::test]
async fn a_server_started_from_the_example_file_applies_its_rules() {
    let mut c = load_from(["kling-mock", "--config", EXAMPLE, "--bind", "127.0.0.1:0"])
        .unwrap()
        .config;
    c.latency = Default::default(); // keep the test quick
    let app = spawn_with(c).await;
    let tts =
        json!({"text": "Forbidden words", "voice_id": "oversea_male1", "voice_language": "en"});
    assert_eq!(
        app.post_as("team-ak", "team-sk", "/v1/audio/tts", tts)
            .await
            .err(400, 1301),
        "The content is not allowed"
    );
    let acc = app.ctl_get("/__mock/accounts/ci-ak").await;
    assert_eq!(acc.ok()["settings"]["concurrency"]["video"], 3);
    assert_eq!(acc.ok()["settings"]["packs"][0]["name"], "CI video pack");
    assert_eq!(
        app.ctl_get("/__mock/faults")
            .await
            .ok()
            .as_array()
            .unwrap()
            .len(),
        2
    );
}
