//! HTTPS (`--tls`, `--tls-cert`/`--tls-key`): the base URL and media URLs are https, a client
//! that trusts only the mock's certificate is served, one that does not is refused, transport
//! faults still cut the connection under TLS, and a stalled handshake holds up nobody.

use crate::helpers::*;
use kling_mock::config::TlsConfig;
use kling_mock::config_file::{LoadError, load_from};
use kling_mock::{Clock, Config, Server};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

const T2A: &str = "/v1/audio/text-to-audio";
const PRESETS: &str = "/v1/general/presets-voices";
/// Bound on anything that should happen promptly (never reached when things work).
const PATIENCE: Duration = Duration::from_secs(20);

/// A fresh directory under the temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let p = std::env::temp_dir().join(format!("kling-mock-tls-test-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A client that trusts exactly the certificates in `pem` (no built-in roots, no danger flags).
fn trusting(pem: &str) -> reqwest::Client {
    let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes()).expect("PEM certificates");
    reqwest::Client::builder()
        .tls_certs_only(certs)
        .timeout(PATIENCE)
        .build()
        .unwrap()
}

/// The app over TLS (two accounts, frozen clock), its client trusting only the served
/// certificate; also returns that certificate (PEM) and where it was written.
async fn spawn_tls(tls: TlsConfig) -> (TestApp, String, PathBuf) {
    let config = Config {
        tls: Some(tls),
        ..config()
    };
    let server = Server::bind_with_clock(config, Clock::frozen(Clock::wall_ms()))
        .await
        .expect("bind");
    let base = server.base_url();
    let state = server.state().clone();
    let tls = server.tls().expect("serving TLS");
    let (pem, path) = (
        tls.certificate_pem().to_string(),
        tls.certificate_path().to_path_buf(),
    );
    tokio::spawn(server.run(std::future::pending()));
    let app = TestApp {
        base,
        state,
        client: trusting(&pem),
    };
    (app, pem, path)
}

#[tokio::test]
async fn a_generated_certificate_is_written_out_and_a_client_trusting_only_it_is_served() {
    let dir = TempDir::new();
    let out = dir.path("mock.pem");
    let (app, pem, path) = spawn_tls(TlsConfig::SelfSigned {
        cert_out: Some(out.clone()),
    })
    .await;
    assert!(app.base.starts_with("https://127.0.0.1:"), "{}", app.base);
    assert_eq!(path, out);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), pem);
    assert!(!pem.contains("PRIVATE KEY"), "the key never leaves memory");

    // An authenticated request gets the Kling envelope, over HTTPS.
    app.get(T2A).await.ok();
    // Result URLs are https and fetchable with the same client.
    let url = app.tts_url("Hello over TLS").await;
    assert!(url.starts_with(&format!("{}/files/", app.base)), "{url}");
    let (status, ct, bytes) = app.fetch(&url).await;
    assert_eq!((status, ct.as_str()), (200, "audio/mpeg"));
    assert!(!bytes.is_empty());
    let id = app
        .create_t2a(json!({"prompt": "rain on a tin roof", "duration": 3}))
        .await;
    app.advance(FINISH);
    let task = app.get(&format!("{T2A}/{id}")).await;
    let audio = &task.ok()["task_result"]["audios"][0];
    for key in ["url_mp3", "url_wav"] {
        let u = audio[key].as_str().expect(key);
        assert!(u.starts_with("https://127.0.0.1:"), "{key}: {u}");
        assert_eq!(app.fetch(u).await.0, 200, "{u}");
    }

    // The certificate names localhost too.
    let port = app.base.rsplit(':').next().unwrap();
    let r = app
        .client
        .get(format!("https://localhost:{port}/__mock/health"))
        .send()
        .await
        .expect("localhost is in the certificate");
    assert_eq!(r.status(), 200);

    // A client that does not trust the certificate fails the handshake, and plain HTTP gets no
    // answer; the server keeps serving.
    let err = reqwest::Client::new()
        .get(app.url(T2A))
        .bearer_auth(token(AK, SK))
        .send()
        .await
        .expect_err("an untrusted certificate");
    assert!(err.is_connect(), "{err:?}");
    let plain = app.base.replace("https://", "http://");
    assert!(
        reqwest::Client::new()
            .get(format!("{plain}{T2A}"))
            .send()
            .await
            .is_err()
    );
    app.get(T2A).await.ok();
}

/// A CA and a leaf certificate it signs for localhost and 127.0.0.1 (as mkcert makes them):
/// (CA PEM, leaf PEM, leaf key PEM).
fn ca_and_leaf() -> (String, String, String) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "tls test CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();
    (ca_cert.pem(), leaf.pem(), leaf_key.serialize_pem())
}

#[tokio::test]
async fn given_certificate_and_key_files_are_served_in_process() {
    let dir = TempDir::new();
    let (ca, leaf, key) = ca_and_leaf();
    let (cert_path, key_path) = (dir.path("leaf.pem"), dir.path("leaf.key"));
    std::fs::write(&cert_path, &leaf).unwrap();
    std::fs::write(&key_path, &key).unwrap();
    let (mut app, pem, path) = spawn_tls(TlsConfig::Files {
        cert: cert_path.clone(),
        key: key_path,
    })
    .await;
    assert_eq!((pem, path), (leaf, cert_path));
    // Trust the CA only, as a client of an mkcert-style setup does.
    app.client = trusting(&ca);
    app.get(T2A).await.ok();
    let url = app.tts_url("given certificate").await;
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    assert_eq!(app.fetch(&url).await.0, 200);
}

#[tokio::test]
async fn transport_faults_cut_the_connection_under_tls() {
    let dir = TempDir::new();
    let (app, pem, _) = spawn_tls(TlsConfig::SelfSigned {
        cert_out: Some(dir.path("c.pem")),
    })
    .await;

    // close: rules are set over HTTPS; the client gets an error, not a response.
    let rule = app
        .ctl_post(
            "/__mock/faults",
            json!({"path": PRESETS, "first": 1, "transport": {"kind": "close"}}),
        )
        .await;
    rule.ok();
    let err = app
        .client
        .get(app.url(PRESETS))
        .bearer_auth(token(AK, SK))
        .send()
        .await
        .expect_err("a closed connection, not a response");
    assert!(!err.is_status(), "{err:?}");
    app.get(PRESETS).await.ok();

    // reset: on the wire, a TLS client reads not a byte and then an RST (no close_notify).
    app.ctl_post(
        "/__mock/faults",
        json!({"method": "POST", "path": T2A, "first": 1, "transport": {"kind": "reset"}}),
    )
    .await
    .ok();
    let mut tls = tls_connect(&app.base, &pem).await;
    let body = json!({"prompt": "p", "duration": 3}).to_string();
    let req = format!(
        "POST {T2A} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        token(AK, SK),
        body.len()
    );
    tls.write_all(req.as_bytes()).await.unwrap();
    tls.flush().await.unwrap();
    let mut got = Vec::new();
    let res = timeout(PATIENCE, tls.read_to_end(&mut got))
        .await
        .expect("the connection ends");
    assert!(got.is_empty(), "{:?}", String::from_utf8_lossy(&got));
    let e = res.expect_err("a reset, not an orderly TLS close");
    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}");

    // truncate: the head arrives, then the body fails.
    app.ctl_post(
        "/__mock/faults",
        json!({"path": PRESETS, "first": 1, "transport": {"kind": "truncate"}}),
    )
    .await
    .ok();
    let r = app
        .client
        .get(app.url(PRESETS))
        .bearer_auth(token(AK, SK))
        .send()
        .await
        .expect("the head arrives");
    assert_eq!(r.status(), 200);
    assert!(r.bytes().await.is_err(), "a cut body");

    // The journal saw the faulted requests; the server still serves.
    let j = app.ctl_get("/__mock/journal").await;
    let faulted = j.ok().as_array().unwrap().iter();
    assert_eq!(faulted.filter(|e| !e["fault"].is_null()).count(), 3);
    app.get(T2A).await.ok();
}

/// A raw TLS connection (tokio-rustls) that trusts `pem`, to `base`'s port, as `localhost`.
async fn tls_connect(
    base: &str,
    pem: &str,
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let addr = base.trim_start_matches("https://");
    let tcp = TcpStream::connect(addr).await.unwrap();
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("handshake")
}

#[tokio::test]
async fn a_client_that_never_finishes_its_handshake_holds_up_nobody() {
    let dir = TempDir::new();
    let (app, _, _) = spawn_tls(TlsConfig::SelfSigned {
        cert_out: Some(dir.path("c.pem")),
    })
    .await;
    let addr = app.base.trim_start_matches("https://").to_string();
    // Connections that send nothing, or the start of a ClientHello and then nothing.
    let mut stalled = Vec::new();
    for i in 0..4 {
        let mut s = TcpStream::connect(&addr).await.unwrap();
        if i % 2 == 1 {
            s.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
                .await
                .unwrap();
        }
        stalled.push(s);
    }
    // Well within the handshake timeout (10 s), others are served.
    for _ in 0..3 {
        let a = timeout(Duration::from_secs(5), app.get(T2A))
            .await
            .expect("served while handshakes stall");
        a.ok();
    }
    // A client that sends garbage fails its handshake; the server keeps serving.
    let mut garbage = TcpStream::connect(&addr).await.unwrap();
    garbage
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let _ = timeout(PATIENCE, garbage.read_to_end(&mut buf))
        .await
        .expect("a failed handshake ends the connection");
    app.get(T2A).await.ok();
    // The stalled connections are dropped once the handshake timeout passes.
    for mut s in stalled {
        let mut b = [0u8; 64];
        let r = timeout(PATIENCE, s.read(&mut b))
            .await
            .expect("dropped after the handshake timeout");
        assert!(matches!(r, Ok(0) | Err(_)), "the connection ended: {r:?}");
    }
}

// ---- the binary ----

use crate::helpers::Proc as Child;

fn command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kling-mock"));
    cmd.args(args).env_remove("RUST_LOG");
    for var in [
        "KLING_MOCK_CONFIG",
        "KLING_MOCK_BIND",
        "KLING_MOCK_ACCOUNTS",
        "KLING_MOCK_PUBLIC_URL",
        "KLING_MOCK_LOG_FORMAT",
        "KLING_MOCK_TLS",
        "KLING_MOCK_TLS_CERT",
        "KLING_MOCK_TLS_KEY",
        "KLING_MOCK_TLS_CERT_OUT",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Start the binary (JSON logs); returns the child, the URL of its ready line and the log
/// lines written before it.
async fn start(args: &[&str], env: &[(&str, &str)]) -> (Child, String, Vec<Value>) {
    let args: Vec<&str> = args
        .iter()
        .copied()
        .chain(["--log-format", "json"])
        .collect();
    let crate::helpers::Binary {
        proc: child,
        url,
        stderr,
    } = crate::helpers::start_binary(&args, env, true).await;
    let stderr = stderr.expect("captured");
    // "random seed" is the last line logged before the ready line.
    let logs = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        for l in BufReader::new(stderr).lines().map_while(Result::ok) {
            let v: Value = serde_json::from_str(&l).unwrap_or(json!({"raw": l}));
            let last = v["fields"]["message"] == "random seed";
            out.push(v);
            if last {
                break;
            }
        }
        out
    });
    let logs = timeout(PATIENCE, logs).await.expect("log lines").unwrap();
    (child, url, logs)
}

/// The `cert` field of the TLS log line.
fn logged_cert(logs: &[Value]) -> PathBuf {
    let line = logs
        .iter()
        .find(|l| {
            l["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("TLS:"))
        })
        .unwrap_or_else(|| panic!("no TLS log line in {logs:?}"));
    PathBuf::from(line["fields"]["cert"].as_str().expect("cert field"))
}

async fn authenticated_get(client: &reqwest::Client, url: &str, ak: &str, sk: &str) -> Value {
    let r = client
        .get(format!("{url}{T2A}"))
        .bearer_auth(token(ak, sk))
        .send()
        .await
        .expect("served");
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

#[tokio::test]
async fn the_binary_with_tls_prints_https_and_where_the_certificate_is() {
    // Enabled through the environment; the certificate goes to the default place.
    let (_child, url, logs) = start(
        &["--bind", "127.0.0.1:0", "--account", "t-ak:t-sk"],
        &[("KLING_MOCK_TLS", "1")],
    )
    .await;
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let port = url.rsplit(':').next().unwrap();
    let cert = logged_cert(&logs);
    let by_port = std::env::temp_dir().join(format!("kling-mock-{port}.pem"));
    let random = format!("kling-mock-{port}-");
    assert!(
        cert == by_port
            || cert
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&random),
        "{cert:?}"
    );
    let pem = std::fs::read_to_string(&cert).unwrap();
    let _ = std::fs::remove_file(&cert);
    let v = authenticated_get(&trusting(&pem), &url, "t-ak", "t-sk").await;
    assert_eq!(
        (v["code"].as_i64(), v["message"].as_str()),
        (Some(0), Some("SUCCEED"))
    );
    assert!(
        reqwest::Client::new()
            .get(format!("{url}{T2A}"))
            .send()
            .await
            .is_err(),
        "a client that does not trust the certificate is refused"
    );

    // --healthcheck probes over HTTPS when TLS is on, and fails over plain HTTP.
    let hc = |tls: bool| {
        let mut args = vec!["--healthcheck", "--bind"];
        let bind = format!("0.0.0.0:{port}");
        args.push(&bind);
        if tls {
            args.push("--tls");
        }
        command(&args, &[]).status().unwrap()
    };
    assert!(hc(true).success());
    assert_eq!(hc(false).code(), Some(1));
}

#[tokio::test]
async fn the_binary_serves_given_certificate_files_and_writes_the_generated_one_where_told() {
    let dir = TempDir::new();
    let (ca, leaf, key) = ca_and_leaf();
    let (cert_path, key_path) = (dir.path("leaf.pem"), dir.path("leaf.key"));
    std::fs::write(&cert_path, leaf).unwrap();
    std::fs::write(&key_path, key).unwrap();
    let (_child, url, logs) = start(
        &[
            "--bind",
            "127.0.0.1:0",
            "--tls-cert",
            cert_path.to_str().unwrap(),
            "--tls-key",
            key_path.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    assert_eq!(logged_cert(&logs), cert_path);
    let client = trusting(&ca);
    let v = authenticated_get(
        &client,
        &url,
        "kling-mock-dev-ak",
        "kling-mock-dev-sk-not-a-real-kling-secret",
    )
    .await;
    assert_eq!(v["code"], 0);

    // --tls-cert-out alone: a generated certificate, written there.
    let out = dir.path("generated.pem");
    let (_child2, url2, logs2) = start(
        &[
            "--bind",
            "127.0.0.1:0",
            "--tls-cert-out",
            out.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    assert!(url2.starts_with("https://"), "{url2}");
    assert_eq!(logged_cert(&logs2), out);
    let pem = std::fs::read_to_string(&out).unwrap();
    let v = authenticated_get(
        &trusting(&pem),
        &url2,
        "kling-mock-dev-ak",
        "kling-mock-dev-sk-not-a-real-kling-secret",
    )
    .await;
    assert_eq!(v["code"], 0);
}

/// Run the binary to its end; returns (exit code, stdout, stderr).
fn run_to_end(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let out = command(args, env)
        .stdin(Stdio::null())
        .output()
        .expect("run kling-mock");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn half_a_certificate_is_refused_at_start() {
    let dir = TempDir::new();
    let p = dir.path("x.pem");
    let p = p.to_str().unwrap();
    for (args, env, needs) in [
        (vec!["--tls-cert", p], vec![], "--tls-key"),
        (vec!["--tls-key", p], vec![], "--tls-cert"),
        (vec!["--tls"], vec![("KLING_MOCK_TLS_CERT", p)], "--tls-key"),
    ] {
        let mut all = vec!["--bind", "127.0.0.1:0"];
        all.extend(args.iter().copied());
        let (code, stdout, stderr) = run_to_end(&all, &env);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stdout.is_empty(), "no ready line: {stdout}");
        assert!(stderr.contains(needs), "{args:?}: {stderr}");
    }
    // In the file too.
    let file = dir.path("half.toml");
    std::fs::write(&file, format!("tls_cert = {p:?}\n")).unwrap();
    let (code, stdout, stderr) = run_to_end(
        &["--bind", "127.0.0.1:0", "--config", file.to_str().unwrap()],
        &[],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stdout.is_empty());
    assert!(
        stderr.contains("tls_cert is given without tls_key"),
        "{stderr}"
    );
    // Both given but unreadable: a clear error, no ready line.
    let (code, stdout, stderr) = run_to_end(
        &["--bind", "127.0.0.1:0", "--tls-cert", p, "--tls-key", p],
        &[],
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stdout.is_empty());
    assert!(
        stderr.contains(&format!("TLS: certificate file {p}")),
        "{stderr}"
    );
}

#[test]
fn tls_options_follow_the_precedence_of_every_option() {
    let dir = TempDir::new();
    let ok = |args: &[&str]| load_from(args.iter().copied()).unwrap().config.tls;
    let generated = |out: Option<&Path>| {
        Some(TlsConfig::SelfSigned {
            cert_out: out.map(Path::to_path_buf),
        })
    };
    assert_eq!(ok(&["kling-mock"]), None);
    assert_eq!(ok(&["kling-mock", "--tls"]), generated(None));
    let files = Some(TlsConfig::Files {
        cert: "c.pem".into(),
        key: "k.pem".into(),
    });
    assert_eq!(
        ok(&[
            "kling-mock",
            "--tls",
            "--tls-cert",
            "c.pem",
            "--tls-key",
            "k.pem"
        ]),
        files
    );

    let file = dir.path("tls.toml");
    let write = |text: &str| std::fs::write(&file, text).unwrap();
    let f = file.to_str().unwrap();
    write("tls = true\ntls_cert_out = \"/tmp/out.pem\"\n");
    assert_eq!(
        ok(&["kling-mock", "--config", f]),
        generated(Some(Path::new("/tmp/out.pem")))
    );
    assert_eq!(
        ok(&["kling-mock", "--config", f, "--tls-cert-out", "/x.pem"]),
        generated(Some(Path::new("/x.pem"))),
        "the command line over the file"
    );
    write("tls_cert = \"fc.pem\"\ntls_key = \"fk.pem\"\n");
    let from_file = Some(TlsConfig::Files {
        cert: "fc.pem".into(),
        key: "fk.pem".into(),
    });
    assert_eq!(ok(&["kling-mock", "--config", f]), from_file);
    assert_eq!(ok(&["kling-mock", "--config", f, "--tls"]), from_file);
    assert_eq!(
        ok(&[
            "kling-mock",
            "--config",
            f,
            "--tls-cert",
            "c.pem",
            "--tls-key",
            "k.pem"
        ]),
        files
    );
    write("tls = false\n");
    assert_eq!(ok(&["kling-mock", "--config", f, "--tls"]), generated(None));
    write("tls_key = \"fk.pem\"\n");
    match load_from(["kling-mock", "--config", f]) {
        Err(LoadError::File(msg)) => {
            assert!(msg.contains("tls_key is given without tls_cert"), "{msg}")
        }
        other => panic!("{other:?}"),
    }

    // --print-config gives a file that loads back to the same.
    let l = load_from(["kling-mock", "--tls", "--tls-cert-out", "/o.pem"]).unwrap();
    let printed = kling_mock::config_file::to_toml(&l.config);
    assert!(printed.contains("tls = true"), "{printed}");
    write(&printed);
    assert_eq!(
        ok(&["kling-mock", "--config", f]),
        generated(Some(Path::new("/o.pem")))
    );
}
