//! Transport faults (fault rules with `transport`): what a client on a bad network meets. Raw
//! `TcpStream` clients show the bytes (or errors) on the wire; reqwest shows what an HTTP client
//! makes of them.

use crate::helpers::*;
use kling_mock::control::journal::Filter;
use kling_mock::{Clock, Server};
use serde_json::{Value, json};
use std::io;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

const T2A: &str = "/v1/audio/text-to-audio";
const PRESETS: &str = "/v1/general/presets-voices";
/// Bound on anything that should happen promptly (never reached when things work).
const PATIENCE: Duration = Duration::from_secs(20);

/// Send one request (`Connection: close`) on a fresh connection; returns the connection.
async fn raw(base: &str, method: &str, path: &str, body: Option<Value>) -> TcpStream {
    let addr = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        token(AK, SK),
        body.len()
    );
    s.write_all(req.as_bytes()).await.expect("write request");
    s
}

/// Everything the server sends until the connection ends: the bytes, how many reads returned
/// data, and the error that ended it (`None`: an orderly EOF).
struct Received {
    bytes: Vec<u8>,
    reads: usize,
    error: Option<io::Error>,
}

async fn receive(s: &mut TcpStream) -> Received {
    let mut r = Received {
        bytes: Vec::new(),
        reads: 0,
        error: None,
    };
    let mut buf = [0u8; 65536];
    loop {
        match timeout(PATIENCE, s.read(&mut buf))
            .await
            .expect("the connection ends")
        {
            Ok(0) => return r,
            Ok(n) => {
                r.bytes.extend_from_slice(&buf[..n]);
                r.reads += 1;
            }
            Err(e) => {
                r.error = Some(e);
                return r;
            }
        }
    }
}

/// An HTTP/1.1 response split up: status, headers (lowercase names), body.
struct Parsed {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Parsed {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
    fn content_length(&self) -> usize {
        self.header("content-length")
            .expect("content-length")
            .parse()
            .unwrap()
    }
}

fn parse(bytes: &[u8]) -> Parsed {
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete response head");
    let head = std::str::from_utf8(&bytes[..end]).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.trim().to_ascii_lowercase(), v.trim().to_string())
        })
        .collect();
    Parsed {
        status,
        headers,
        body: bytes[end + 4..].to_vec(),
    }
}

async fn add_rule(app: &TestApp, rule: Value) -> String {
    let a = app.ctl_post("/__mock/faults", rule).await;
    a.ok()["id"].as_str().unwrap().to_string()
}

async fn journal(app: &TestApp, path: &str) -> Vec<Value> {
    let j = app.ctl_get(&format!("/__mock/journal?path={path}")).await;
    j.ok().as_array().unwrap().clone()
}

async fn task_count(app: &TestApp) -> usize {
    app.get(&format!("{T2A}?pageSize=500"))
        .await
        .ok()
        .as_array()
        .unwrap()
        .len()
}

fn t2a_body() -> Value {
    json!({"prompt": "rain on a tin roof", "duration": 3})
}

#[tokio::test]
async fn reset_aborts_the_connection_without_a_byte_once_then_requests_are_normal() {
    let app = spawn_app().await;
    let id = add_rule(
        &app,
        json!({"id": "rst", "method": "POST", "path": T2A, "first": 1, "transport": {"kind": "reset"}}),
    )
    .await;
    assert_eq!(id, "rst");
    let mut s = raw(&app.base, "POST", T2A, Some(t2a_body())).await;
    let r = receive(&mut s).await;
    assert!(
        r.bytes.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&r.bytes)
    );
    let e = r.error.expect("a reset, not an orderly close");
    assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}");
    assert_eq!(task_count(&app).await, 0, "the handler did not run");
    // `first: 1`: the next request is normal.
    app.create_t2a(t2a_body()).await;
    assert_eq!(task_count(&app).await, 1);
    let entries = journal(&app, T2A).await;
    let posts: Vec<&Value> = entries.iter().filter(|e| e["method"] == "POST").collect();
    assert_eq!(posts.len(), 2);
    assert_eq!(posts[0]["fault"], "rst");
    assert_eq!(posts[0]["status"], 0, "no response");
    assert!(posts[0]["code"].is_null());
    assert!(posts[1]["fault"].is_null());
    assert_eq!(posts[1]["code"], 0);
    let rules = app.ctl_get("/__mock/faults").await;
    let rule = &rules.ok()[0];
    assert_eq!(
        (rule["matched"].as_u64(), rule["fired"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(rule["transport"], json!({"kind": "reset"}));
}

#[tokio::test]
async fn close_ends_the_connection_with_zero_bytes() {
    let app = spawn_app().await;
    add_rule(
        &app,
        json!({"path": PRESETS, "first": 2, "transport": {"kind": "close"}}),
    )
    .await;
    let mut s = raw(&app.base, "GET", PRESETS, None).await;
    let r = receive(&mut s).await;
    assert!(r.error.is_none(), "an orderly close: {:?}", r.error);
    assert!(
        r.bytes.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&r.bytes)
    );
    // An HTTP client gets an error, not a response.
    let err = reqwest::Client::new()
        .get(app.url(PRESETS))
        .bearer_auth(token(AK, SK))
        .send()
        .await
        .expect_err("no response");
    assert!(!err.is_status(), "{err:?}");
    app.get(PRESETS).await.ok();
    let entries = journal(&app, PRESETS).await;
    assert_eq!(entries.len(), 3);
    assert!(
        entries[..2]
            .iter()
            .all(|e| e["fault"] == "fault-1" && e["status"] == 0)
    );
    assert!(entries[2]["fault"].is_null());
}

#[tokio::test]
async fn hang_holds_the_request_unanswered_then_closes() {
    let app = spawn_app().await;
    let ms = 1000;
    add_rule(
        &app,
        json!({"id": "slow", "method": "POST", "path": T2A, "first": 1, "transport": {"kind": "hang", "ms": ms}}),
    )
    .await;
    let mut s = raw(&app.base, "POST", T2A, Some(t2a_body())).await;
    let mut buf = [0u8; 1024];
    // Well within the hang nothing arrives.
    assert!(
        timeout(Duration::from_millis(ms / 4), s.read(&mut buf))
            .await
            .is_err(),
        "an answer during the hang"
    );
    let r = receive(&mut s).await;
    assert!(
        r.error.is_none() && r.bytes.is_empty(),
        "{:?} {:?}",
        r.error,
        r.bytes
    );
    assert_eq!(task_count(&app).await, 0, "the handler did not run");
    let entries = journal(&app, T2A).await;
    assert_eq!(entries[0]["fault"], "slow");
    assert_eq!(entries[0]["status"], 0);
}

#[tokio::test]
async fn a_hang_does_not_hold_up_shutdown() {
    let server = Server::bind_with_clock(config(), Clock::frozen(Clock::wall_ms()))
        .await
        .unwrap();
    let base = server.base_url();
    let state = server.state().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    state
        .control
        .add_fault(serde_json::from_value(json!({"transport": {"kind": "hang"}})).unwrap())
        .unwrap();
    let mut s = raw(&base, "GET", PRESETS, None).await;
    // The journal records a hanging request when the hang starts.
    timeout(PATIENCE, async {
        while state.control.journal.query(&Filter::default()).is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the request arrives");
    stop.send(()).unwrap();
    let r = receive(&mut s).await;
    assert!(
        r.bytes.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&r.bytes)
    );
    timeout(PATIENCE, running)
        .await
        .expect("shutdown is not held up by a 10-minute hang")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn truncate_sends_the_full_length_but_a_prefix_of_the_real_answer() {
    let app = spawn_app().await;
    add_rule(
        &app,
        json!({"id": "cut", "method": "POST", "path": T2A, "first": 1, "transport": {"kind": "truncate"}}),
    )
    .await;
    let mut s = raw(&app.base, "POST", T2A, Some(t2a_body())).await;
    let r = receive(&mut s).await;
    let p = parse(&r.bytes);
    assert_eq!(p.status, 200);
    assert_eq!(p.header("content-type"), Some("application/json"));
    let full = p.content_length();
    assert_eq!(p.body.len(), full / 2, "half of the body by default");
    assert!(
        p.body
            .starts_with(br#"{"code":0,"message":"SUCCEED","request_id":""#)
    );
    assert!(serde_json::from_slice::<Value>(&p.body).is_err());
    assert_eq!(
        task_count(&app).await,
        1,
        "the handler ran: the task exists"
    );
    let entries = journal(&app, T2A).await;
    assert_eq!(
        (
            &entries[0]["fault"],
            &entries[0]["status"],
            &entries[0]["code"]
        ),
        (&json!("cut"), &json!(200), &json!(0))
    );
    // The answer it cut short is the real one: the same length as the full answer of a twin.
    let mut twin = raw(&app.base, "POST", T2A, Some(t2a_body())).await;
    let twin = parse(&receive(&mut twin).await.bytes);
    assert_eq!(twin.body.len(), full);
    let v: Value = serde_json::from_slice(&twin.body).unwrap();
    assert_eq!(v["code"], 0);
}

#[tokio::test]
async fn an_http_client_sees_the_headers_of_a_truncated_answer_then_a_body_error() {
    let app = spawn_app().await;
    add_rule(
        &app,
        json!({"path": PRESETS, "transport": {"kind": "truncate", "keep": 20}}),
    )
    .await;
    let resp = reqwest::Client::new()
        .get(app.url(PRESETS))
        .bearer_auth(token(AK, SK))
        .send()
        .await
        .expect("status and headers arrive");
    assert_eq!(resp.status(), 200);
    let full = resp.content_length().expect("content-length") as usize;
    assert!(full > 20);
    assert!(resp.bytes().await.is_err(), "the body is cut short");
    // On the wire: exactly `keep` bytes of it.
    let mut s = raw(&app.base, "GET", PRESETS, None).await;
    let p = parse(&receive(&mut s).await.bytes);
    assert_eq!(p.content_length(), full);
    assert_eq!(p.body, br#"{"code":0,"message":"#);
}

#[tokio::test]
async fn truncate_and_dribble_can_shape_a_kling_error() {
    let app = spawn_app().await;
    add_rule(
        &app,
        json!({"method": "POST", "path": T2A, "code": 1303, "retry_after": 2, "first": 1,
               "transport": {"kind": "truncate", "keep": 10}}),
    )
    .await;
    let mut s = raw(&app.base, "POST", T2A, Some(t2a_body())).await;
    let p = parse(&receive(&mut s).await.bytes);
    assert_eq!(p.status, 429);
    assert_eq!(p.header("retry-after"), Some("2"));
    assert_eq!(p.body, br#"{"code":13"#);
    assert_eq!(
        task_count(&app).await,
        0,
        "an error answer: the handler did not run"
    );
    add_rule(
        &app,
        json!({"method": "POST", "path": T2A, "code": 1303, "first": 1,
               "transport": {"kind": "dribble", "bytes": 7, "every_ms": 1}}),
    )
    .await;
    let mut s = raw(&app.base, "POST", T2A, Some(t2a_body())).await;
    let p = parse(&receive(&mut s).await.bytes);
    assert_eq!(p.status, 429);
    let v: Value = serde_json::from_slice(&p.body).unwrap();
    assert_eq!(v["code"], 1303);
}

#[tokio::test]
async fn dribble_sends_the_whole_answer_in_small_chunks() {
    let app = spawn_app().await;
    let normal = app.get(PRESETS).await.ok().clone();
    add_rule(
        &app,
        json!({"path": PRESETS, "transport": {"kind": "dribble", "bytes": 128, "every_ms": 5}}),
    )
    .await;
    let mut s = raw(&app.base, "GET", PRESETS, None).await;
    let r = receive(&mut s).await;
    assert!(r.error.is_none(), "{:?}", r.error);
    let p = parse(&r.bytes);
    assert_eq!(p.status, 200);
    assert_eq!(p.body.len(), p.content_length());
    assert!(p.body.len() > 3 * 128, "a body of several chunks");
    let v: Value = serde_json::from_slice(&p.body).unwrap();
    assert_eq!((v["code"].as_i64(), &v["data"]), (Some(0), &normal));
    assert!(r.reads >= 3, "the body came in pieces ({} reads)", r.reads);
    // An HTTP client just gets the answer, slowly.
    let a = app.get(PRESETS).await;
    assert_eq!(a.ok(), &normal);
    let entries = journal(&app, PRESETS).await;
    assert!(
        entries[1..]
            .iter()
            .all(|e| e["fault"] == "fault-1" && e["code"] == 0)
    );
}

#[tokio::test]
async fn rules_need_a_code_or_a_transport() {
    let app = spawn_app().await;
    let m = app
        .ctl_post("/__mock/faults", json!({"path": "/v1/*", "first": 1}))
        .await;
    assert!(m.err(400, 1201).contains("needs a code"), "{}", m.message());
    for bad in [
        json!({"transport": {"kind": "warp"}}),
        json!({"transport": {"kind": "dribble", "bytes": 0, "every_ms": 5}}),
        json!({"transport": {"kind": "dribble", "bytes": 4}}),
        json!({"code": 5000, "transport": {"kind": "reset"}}),
        json!({"transport": {"kind": "hang", "ms": 10}, "retry_after": 1}),
    ] {
        app.ctl_post("/__mock/faults", bad).await.err(400, 1201);
    }
    // The old format is unchanged.
    add_rule(&app, json!({"code": 1303, "first": 2})).await;
    add_rule(
        &app,
        json!({"transport": {"kind": "hang", "ms": 10}, "path": "/nowhere"}),
    )
    .await;
    let rules = app.ctl_get("/__mock/faults").await;
    let rules = rules.ok().as_array().unwrap().clone();
    assert_eq!(
        (&rules[0]["code"], &rules[0]["transport"]),
        (&json!(1303), &Value::Null)
    );
    assert_eq!(rules[1]["transport"], json!({"kind": "hang", "ms": 10}));
    assert!(rules[1].get("code").is_none());
    app.get(PRESETS).await.err(429, 1303);
}
