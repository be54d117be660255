#![no_main]
//! cargo-fuzz target: libFuzzer's bytes, read with `arbitrary` as a request (a route of the
//! router's own table, bent; any method; any `Authorization`, `Content-Type`, other headers and
//! body), served by kling-mock's router in process.
//!
//! Invariants (the same as `mock-server/tests/api/hostile.rs`): no panic; no 5xx; every answer
//! the Kling envelope (`application/json`, a documented code with the error table's HTTP status,
//! a non-empty message, a UUID v4 request id, `data` exactly on success), except media bytes
//! from `/files` on success; a refused request changes neither the tasks nor the media.
//! The control plane is off (`--no-control`): the fuzzer would otherwise install fault rules.
//!
//! ```sh
//! cargo install cargo-fuzz
//! cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run request -s none -- -max_total_time=600
//! ```
//! `RUSTC_BOOTSTRAP=1` lets stable rustc take the `-Z` flags cargo-fuzz passes; `-s none` drops
//! AddressSanitizer (the mock has no `unsafe`; panics are what we look for).

use arbitrary::Arbitrary;
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Method, Request};
use kling_mock::state::AppState;
use kling_mock::{Clock, Code, Config};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use std::sync::OnceLock;
use tower::ServiceExt;

/// A request as the fuzzer writes it.
#[derive(Arbitrary, Debug)]
struct Input {
    method: MethodPick,
    /// Index into the route table.
    route: u8,
    /// Replaces each `{param}` of the route (percent-encoded unless `raw_tail`).
    param: Vec<u8>,
    /// Appended to the path as is (filtered to what a request target may hold).
    raw_tail: Vec<u8>,
    query: Option<Vec<u8>>,
    auth: Auth,
    content_type: Option<Vec<u8>>,
    headers: Vec<(u8, Vec<u8>)>,
    body: Vec<u8>,
}

#[derive(Arbitrary, Debug)]
enum MethodPick {
    Get,
    Post,
    Put,
    Delete,
    Head,
    Options,
    Other(String),
}

#[derive(Arbitrary, Debug)]
enum Auth {
    None,
    /// A valid token of the configured account: the request reaches validation.
    Valid,
    Raw(Vec<u8>),
}

const HEADER_NAMES: [&str; 8] = [
    "authorization",
    "content-type",
    "content-length",
    "transfer-encoding",
    "expect",
    "accept",
    "host",
    "x-anything",
];

struct Target {
    rt: tokio::runtime::Runtime,
    app: Router,
    state: AppState,
    token: String,
}

fn target() -> &'static Target {
    static T: OnceLock<Target> = OnceLock::new();
    T.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let config = Config {
            seed: Some(1),
            control: false,
            body_limit: 64 * 1024,
            ..Config::default()
        };
        let state = AppState::new(config, Clock::frozen(1_790_000_000_000), "http://f".into());
        let app = kling_mock::api::router(state.clone());
        let now = Clock::wall_ms() / 1000;
        let token = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &json!({"iss": kling_mock::config::DEV_ACCESS_KEY, "exp": now + 365 * 86_400}),
            &jsonwebtoken::EncodingKey::from_secret(kling_mock::config::DEV_SECRET_KEY.as_bytes()),
        )
        .expect("token");
        Target {
            rt,
            app,
            state,
            token,
        }
    })
}

fn encode(bytes: &[u8], keep: impl Fn(u8) -> bool) -> String {
    let mut out = String::new();
    for &b in bytes {
        if keep(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn safe(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/%".contains(&b)
}

fn request(input: &Input, t: &Target) -> Option<Request<Body>> {
    let routes = kling_mock::api::routes();
    let (_, template) = routes[input.route as usize % routes.len()];
    let param = encode(&input.param, |b| b.is_ascii_alphanumeric());
    let mut path: String = template
        .split('/')
        .map(|seg| if seg.starts_with('{') { param.as_str() } else { seg })
        .collect::<Vec<_>>()
        .join("/");
    path.push_str(&encode(&input.raw_tail, safe));
    if let Some(q) = &input.query {
        path.push('?');
        path.push_str(&encode(q, safe));
    }
    let method = match &input.method {
        MethodPick::Get => Method::GET,
        MethodPick::Post => Method::POST,
        MethodPick::Put => Method::PUT,
        MethodPick::Delete => Method::DELETE,
        MethodPick::Head => Method::HEAD,
        MethodPick::Options => Method::OPTIONS,
        MethodPick::Other(m) => Method::from_bytes(m.as_bytes()).ok()?,
    };
    let mut b = Request::builder().method(method).uri(path);
    match &input.auth {
        Auth::None => {}
        Auth::Valid => b = b.header("authorization", format!("Bearer {}", t.token)),
        Auth::Raw(v) => b = b.header("authorization", HeaderValue::from_bytes(v).ok()?),
    }
    if let Some(ct) = &input.content_type {
        b = b.header("content-type", HeaderValue::from_bytes(ct).ok()?);
    }
    for (n, v) in &input.headers {
        let name = HeaderName::from_static(HEADER_NAMES[*n as usize % HEADER_NAMES.len()]);
        b = b.header(name, HeaderValue::from_bytes(v).ok()?);
    }
    b.body(Body::from(input.body.clone())).ok()
}

/// What a refused request must leave alone.
fn census(s: &AppState) -> (usize, String, usize, usize) {
    (
        s.engine.task_count(),
        format!("{:?}", s.engine.census()),
        s.media.file_count(),
        s.media.item_count(),
    )
}

fuzz_target!(|input: Input| {
    let t = target();
    if t.state.engine.task_count() > 10_000 {
        // Accepted creates pile up over a long run: start again from an empty server.
        t.state.reset(None, None, false);
    }
    let Some(req) = request(&input, t) else {
        return;
    };
    let head = req.method() == Method::HEAD;
    let files = req.uri().path().starts_with("/files/");
    let before = census(&t.state);
    let (status, ct, body) = t.rt.block_on(async {
        let resp = t.app.clone().oneshot(req).await.expect("infallible");
        let status = resp.status().as_u16();
        let ct = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .expect("body");
        (status, ct, body)
    });
    assert!(status < 500, "{status} for {input:?}");
    if head || (files && status == 200) {
        return;
    }
    assert_eq!(ct, "application/json", "{status} for {input:?}");
    let v: Value = serde_json::from_slice(&body).expect("the envelope is JSON");
    let code = v["code"].as_u64().expect("a code") as u32;
    assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    let rid = uuid::Uuid::parse_str(v["request_id"].as_str().unwrap_or("")).expect("a UUID");
    assert_eq!(rid.get_version_num(), 4);
    if code == 0 {
        assert!(status == 200 && v.get("data").is_some(), "{v}");
    } else {
        let c = Code::from_number(code).unwrap_or_else(|| panic!("undocumented code: {v}"));
        assert_eq!(c.status().as_u16(), status, "{v}");
        assert!(v.get("data").is_none(), "{v}");
        assert_eq!(census(&t.state), before, "a refused request changed the state: {input:?}");
    }
});
