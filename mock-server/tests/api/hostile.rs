//! Hostile input (issue 7, point 1): arbitrary bytes, JSON of every shape, wrong and duplicated
//! headers, odd methods, long and percent-encoded paths, huge numbers, deep nesting, invalid UTF-8
//! and oversized bodies, sent to every route of the public API and the control plane.
//!
//! Invariants checked on every answer:
//! * no panic, and no 5xx unless a fault or outcome rule injected it (the journal names the rule);
//! * every answer the router gives is the Kling envelope (`application/json`, `code`, a non-empty
//!   `message`, a UUID v4 `request_id`, `data` exactly on success) with a documented code and the
//!   error table's HTTP status for it; the two raw routes answer raw bytes only on success
//!   (`/files/...`: WAV or MP3; `/__mock/openapi.json`: the JSON document);
//! * the code is one the request allows: unknown path 1203, wrong method 1202, no token 1001, a
//!   bad token 1002-1004, a body that is not a JSON object 1200, a refused field 1201, a control
//!   request without the control token 1000, ...;
//! * a refused request leaves the server's state as it was: tasks by account, kind and status,
//!   pending transitions, media, custom voices, billing books, rules, lifecycles and the clock (the
//!   journal and the fault counters are left out: they record requests by design).
//!
//! Two layers:
//! * `hostile_requests_to_every_route_answer_a_documented_envelope_and_leave_state_alone` builds
//!   the server's own router in process and drives it with `oneshot` on generated
//!   `http::Request`s, one to three per case, so that an accepted control-plane change (a fault
//!   rule, a clock jump, an account in arrears) meets the requests after it; the server is then
//!   restored before the next case. `KLING_HOSTILE_CASES` sets the number of cases (default
//!   1,500: about 3 s), `KLING_HOSTILE_SEED` replays a run (the seed is printed).
//! * The wire tests write raw bytes to a server on 127.0.0.1:0, a table of named cases and
//!   random byte streams (`KLING_HOSTILE_WIRE_CASES`, default 400). Bytes hyper cannot parse as
//!   HTTP/1.1 get hyper's own bare answer (400, 414, 431; no body, no envelope) or a closed
//!   connection (the HTTP/2 preface) before any of our code runs, as the real API's front proxy
//!   answers them itself; everything hyper hands to the router gets the envelope.
//!
//! The long run (RELIABILITY.md): `KLING_HOSTILE_CASES=1000000 cargo test --release -p
//! kling-mock --test api hostile_requests -- --nocapture`. A `cargo fuzz` target of the same
//! invariants lives in `fuzz/`.

use crate::helpers::{AK, AK2, SK, SK2, sign};
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Method, Request, Uri};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kling_mock::control::journal::Filter;
use kling_mock::state::AppState;
use kling_mock::{Clock, Code, Config};
use proptest::prelude::*;
use proptest::strategy::Union;
use proptest::test_runner::{
    Config as RunnerConfig, RngAlgorithm, RngSeed, TestCaseError, TestRunner,
};
use serde_json::{Value, json};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::{Duration, Instant};
use tower::ServiceExt;

/// The control token of the servers under test: control requests without it must get 1000.
const CONTROL_TOKEN: &str = "hostile-control-token";
/// A small body limit, so that bodies over it are cheap to generate (the wire layer sends a body
/// over the default limits).
const BODY_LIMIT: usize = 32 * 1024;
/// The frozen clock of the in-process server.
const START_MS: i64 = 1_790_000_000_000;

/// A number of cases from the environment.
fn env_count(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn hostile_config() -> Config {
    let mut c = crate::helpers::config();
    c.body_limit = BODY_LIMIT;
    c.control_token = Some(CONTROL_TOKEN.into());
    // Callbacks to the URLs the generator writes (a closed local port) fail at once, no retry.
    c.callbacks.retries = 0;
    c.callbacks.timeout = Duration::from_millis(200);
    c
}

// ---------------------------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------------------------

/// What the public API must answer for an `Authorization` value: a caller, or these codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AuthClass {
    Valid,
    Fails(&'static [u32]),
}

/// `Authorization` values and what each must give on a Kling route.
fn auth_values() -> Vec<(Vec<u8>, AuthClass)> {
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

// ---------------------------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------------------------

/// Who answers a route, and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Plane {
    /// A Kling endpoint: bearer token, envelope.
    Kling,
    /// `/files/{name}`: no token; media bytes or 404 / 1203.
    Files,
    /// `/__mock/health`: always `{"status":"ok"}`.
    Health,
    /// A control-plane endpoint behind the control token.
    Control,
    /// `/__mock/openapi.json`: the raw document, behind the control token.
    OpenApi,
}

/// One path of the router with its methods.
#[derive(Clone, Debug)]
struct Route {
    template: &'static str,
    methods: Vec<&'static str>,
    plane: Plane,
}

fn routes() -> Vec<Route> {
    let mut by_path: BTreeMap<&'static str, Vec<&'static str>> = BTreeMap::new();
    for (m, p) in kling_mock::api::ROUTES
        .iter()
        .chain(kling_mock::control::api::ROUTES)
    {
        by_path.entry(p).or_default().push(m);
    }
    by_path
        .into_iter()
        .map(|(template, methods)| Route {
            template,
            methods,
            plane: match template {
                "/files/{name}" => Plane::Files,
                "/__mock/health" => Plane::Health,
                "/__mock/openapi.json" => Plane::OpenApi,
                t if t.starts_with("/__mock/") => Plane::Control,
                _ => Plane::Kling,
            },
        })
        .collect()
}

/// The route `path` (raw, as the router sees it: not percent-decoded) falls on.
fn match_route<'a>(routes: &'a [Route], path: &str) -> Option<&'a Route> {
    let segs: Vec<&str> = path.split('/').collect();
    routes.iter().find(|r| {
        let t: Vec<&str> = r.template.split('/').collect();
        t.len() == segs.len()
            && t.iter().zip(&segs).all(|(t, s)| {
                if t.starts_with('{') {
                    !s.is_empty()
                } else {
                    t == s
                }
            })
    })
}

/// Field names and valid values (JSON texts) of a route's body, so that generated bodies often
/// reach validation and are sometimes accepted.
fn body_fields(template: &str) -> &'static [(&'static str, &'static [&'static str])] {
    const EXT: &[&str] = &[
        "\"ext-1\"",
        "\"ext-2\"",
        "\"~~K4~~\"",
        "\"~~K6~~\"",
        "\"\"",
        "null",
    ];
    const CALLBACK: &[&str] = &["\"\"", "\"http://127.0.0.1:9/hook\"", "null"];
    const TIMES: &[&str] = &[
        "1790000000000",
        "0",
        "-1",
        "4102444800000",
        "9223372036854775807",
        "-9223372036854775808",
        "253402300799999",
    ];
    const ACCOUNTS: &[&str] = &["\"test-ak-1\"", "\"test-ak-2\"", "\"nobody\""];
    const SPAN: &[&str] = &[
        "{\"min_ms\":0,\"max_ms\":0}",
        "{\"min_ms\":1000,\"max_ms\":3000}",
        "{\"min_ms\":5,\"max_ms\":1}",
        "{\"min_ms\":-1,\"max_ms\":9223372036854775807}",
        "{\"min_ms\":9223372036854775807,\"max_ms\":9223372036854775807}",
    ];
    const DELAY: &[&str] = &[
        "{\"kind\":\"fixed\",\"ms\":5}",
        "{\"kind\":\"uniform\",\"min_ms\":1,\"max_ms\":3}",
        "{\"kind\":\"lognormal\",\"median_ms\":1,\"sigma\":0.5}",
        "{\"kind\":\"fixed\",\"ms\":18446744073709551615}",
        "{\"kind\":\"lognormal\",\"median_ms\":1e300,\"sigma\":1e300}",
    ];
    match template {
        "/v1/audio/tts" => &[
            ("text", &["\"hello world\"", "\"你好，世界\"", "\"a.\""]),
            ("voice_id", &["\"oversea_male1\"", "\"genshin_vindi2\""]),
            ("voice_language", &["\"en\"", "\"zh\""]),
            ("voice_speed", &["1", "0.8", "2.0", "1.55", "100"]),
        ],
        "/v1/audio/text-to-audio" => &[
            ("prompt", &["\"rain\"", "\"a dog barking in the distance\""]),
            ("duration", &["3", "5.5", "10", "10.0", "3.0"]),
            ("external_task_id", EXT),
            ("callback_url", CALLBACK),
        ],
        "/v1/general/custom-voices" => &[
            ("voice_name", &["\"voice\"", "\"语音\""]),
            (
                "voice_url",
                &[
                    "\"https://example.com/sample.mp3\"",
                    "\"http://x.test/a.wav\"",
                ],
            ),
            ("video_id", &["\"\"", "\"930801301486305328\""]),
            ("external_task_id", EXT),
            ("callback_url", CALLBACK),
        ],
        "/v1/general/delete-voices" => &[("voice_id", &["\"~~K3~~\"", "\"~~K7~~\"", "\"x\""])],
        "/__mock/reset" => &[("account", ACCOUNTS), ("rules", &["true", "false"])],
        "/__mock/clock" => &[
            ("mode", &["\"frozen\"", "\"real\"", "\"paused\""]),
            ("set_ms", TIMES),
            (
                "advance",
                &[
                    "\"1s\"",
                    "\"90s\"",
                    "\"10000000000000y\"",
                    "\"-1s\"",
                    "\"1 fortnight\"",
                ],
            ),
            ("advance_ms", TIMES),
            ("wait_callbacks", &["true", "false"]),
        ],
        "/__mock/lifecycle/{kind}" => &[
            ("submitted", SPAN),
            ("processing", SPAN),
            (
                "progress",
                &[
                    "{\"mode\":\"time\"}",
                    "{\"mode\":\"polls\",\"polls\":2}",
                    "{\"mode\":\"polls\",\"polls\":0}",
                    "{\"mode\":\"manual\"}",
                ],
            ),
        ],
        "/__mock/tasks/{key}/advance" => &[
            (
                "to",
                &["\"next\"", "\"succeed\"", "\"failed\"", "\"sideways\""],
            ),
            ("message", &["\"boom\"", "\"\""]),
            ("account", ACCOUNTS),
        ],
        "/__mock/faults" => &[
            ("id", &["\"f1\"", "\"\""]),
            ("method", &["\"GET\"", "\"POST\"", "\"*\""]),
            ("path", &["\"*\"", "\"/v1/audio/*\"", "\"[\""]),
            ("account", ACCOUNTS),
            ("code", &["1303", "5000", "5001", "1201", "4242", "0"]),
            ("retry_after", &["2", "18446744073709551615"]),
            ("probability", &["0.5", "1", "2", "-1"]),
            ("first", &["1", "0"]),
            ("every", &["2", "0"]),
            ("from_ms", TIMES),
            ("until_ms", TIMES),
            ("limit", &["1", "0"]),
            (
                "transport",
                &[
                    "{\"kind\":\"close\"}",
                    "{\"kind\":\"truncate\",\"keep\":3}",
                    "{\"kind\":\"dribble\",\"bytes\":0,\"every_ms\":1}",
                    "{\"kind\":\"hang\",\"ms\":5}",
                ],
            ),
        ],
        "/__mock/latency" => &[
            ("global", DELAY),
            (
                "routes",
                &[
                    "[{\"path\":\"*\",\"delay\":{\"kind\":\"fixed\",\"ms\":1}}]",
                    "[]",
                ],
            ),
        ],
        "/__mock/outcomes" => &[
            (
                "failure_rates",
                &[
                    "{\"text-to-audio\":{\"probability\":0.5}}",
                    "{\"nope\":{\"probability\":2}}",
                ],
            ),
            (
                "rules",
                &[
                    "[{\"field\":\"text\",\"contains\":\"a\",\"reject\":{\"code\":5001}}]",
                    "[{\"kind\":\"text-to-audio\",\"field\":\"prompt\",\"regex\":\"(\",\"fail_task\":\"x\"}]",
                    "[{\"field\":\"prompt\",\"equals\":\"rain\",\"fail_task\":\"risk\"}]",
                ],
            ),
        ],
        "/__mock/journal" => &[("size", &["0", "10", "18446744073709551615", "-1"])],
        "/__mock/videos" => &[
            ("account", ACCOUNTS),
            ("source", &["\"v26_with_sound\"", "\"avatar\"", "\"film\""]),
            ("duration_ms", &["10000", "0", "18446744073709551615"]),
        ],
        "/__mock/accounts/{ak}" => &[
            (
                "state",
                &["\"normal\"", "\"arrears\"", "\"forbidden\"", "\"odd\""],
            ),
            (
                "concurrency",
                &["{\"video\":1}", "{\"video\":0}", "{}", "{\"sound\":1}"],
            ),
            (
                "packs",
                &[
                    "[{\"name\":\"p\",\"total\":10}]",
                    "[{\"name\":\"p\",\"total\":-1}]",
                    "[{\"name\":\"p\",\"total\":1e300,\"invalid_ms\":9223372036854775807,\"effective_ms\":-9223372036854775808}]",
                    "[{\"name\":\"p\",\"total\":5,\"purchase_ms\":9223372036854775807}]",
                    "[]",
                ],
            ),
        ],
        "/__mock/callbacks/faults" => &[
            ("delay_ms", &["0", "5", "18446744073709551615"]),
            ("duplicate", &["0.5", "2"]),
            ("drop", &["0.1", "-1"]),
            ("reorder", &["0.2", "1e400"]),
        ],
        _ => &[],
    }
}

// ---------------------------------------------------------------------------------------------
// Generated requests
// ---------------------------------------------------------------------------------------------

/// One generated request. Its `Debug` is what a failure prints after shrinking.
#[derive(Clone)]
struct Hostile {
    method: String,
    target: String,
    headers: Vec<(String, Vec<u8>)>,
    /// What the first `Authorization` header means on a Kling route (`None`: no header).
    auth: Option<AuthClass>,
    body: Vec<u8>,
}

impl fmt::Debug for Hostile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn short(b: &[u8]) -> String {
            let s = String::from_utf8_lossy(&b[..b.len().min(300)]);
            if b.len() > 300 {
                format!("{s:?}... ({} bytes)", b.len())
            } else {
                format!("{s:?}")
            }
        }
        writeln!(f, "{} {}", self.method, short(self.target.as_bytes()))?;
        for (n, v) in &self.headers {
            writeln!(f, "  {n}: {}", short(v))?;
        }
        write!(f, "  body: {}", short(&self.body))
    }
}

impl Hostile {
    fn request(&self) -> Request<Body> {
        let mut b = Request::builder()
            .method(Method::from_bytes(self.method.as_bytes()).expect("method token"))
            .uri(Uri::try_from(self.target.as_str()).expect("target"));
        for (n, v) in &self.headers {
            b = b.header(
                HeaderName::from_bytes(n.as_bytes()).expect("header name"),
                HeaderValue::from_bytes(v).expect("header value"),
            );
        }
        b.body(Body::from(self.body.clone())).expect("request")
    }

    fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }
}

const ODD_METHODS: &[&str] = &[
    "GET",
    "POST",
    "PUT",
    "DELETE",
    "HEAD",
    "OPTIONS",
    "PATCH",
    "TRACE",
    "CONNECT",
    "PROPFIND",
    "MKCOL",
    "M-SEARCH",
    "get",
    "post",
    "Post",
    "X-CUSTOM",
    "FOO_BAR",
    "!#$%&'*+-.^_`|~",
];

/// Bytes a request target may hold as they are; every other byte is percent-encoded.
fn target_safe(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/%".contains(&b)
}

fn encode_target(raw: &[u8]) -> String {
    let mut out = String::with_capacity(raw.len());
    for &b in raw {
        if target_safe(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A path parameter: known ids, numbers, encoded bytes, long and dotted segments. Known ids are
/// placeholders (`~~K3~~`) the harness replaces with the ids of the server it runs against.
fn param_strategy() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        6 => (0..KNOWN_IDS).prop_map(|i| format!("~~K{i}~~").into_bytes()),
        // Media names render MP3 or WAV in the handler (milliseconds): rare.
        1 => (0..KNOWN_MEDIA).prop_map(|i| format!("~~M{i}~~").into_bytes()),
        3 => "[0-9]{1,40}".prop_map(String::into_bytes),
        2 => proptest::sample::select(vec![
            "-1", "0", "18446744073709551616", "1e400", "..", ".", "%2e%2e", "%2F", "%00",
            "%FF%FE", "%C3%28", "%ED%A0%80", "%", "%G1", "%%", "kling_.mp3", ".wav",
            "kling_00000000-0000-4000-8000-000000000000.mp3", "custom-voice", "text-to-audio",
            "tts", "test-ak-1", "test-ak-2", "fault-1", "f1", "ext-cv",
        ]).prop_map(|s| s.as_bytes().to_vec()),
        3 => proptest::collection::vec(any::<u8>(), 1..24)
            .prop_map(|v| v.iter().flat_map(|b| format!("%{b:02X}").into_bytes()).collect()),
        2 => any::<String>().prop_filter("non-empty", |s| !s.is_empty()).prop_map(String::into_bytes),
        1 => (1usize..12_000).prop_map(|n| vec![b'a'; n]),
    ]
    .boxed()
}

/// A path for `route`: its template filled and sometimes bent (extra or missing segments,
/// doubled slashes, dot segments, a literal changed or percent-encoded).
fn path_strategy(template: &'static str) -> BoxedStrategy<Vec<u8>> {
    let segs: Vec<&'static str> = template.split('/').skip(1).collect();
    let params = proptest::collection::vec(param_strategy(), segs.len());
    // One path in five is bent.
    (
        params,
        0u8..50,
        any::<prop::sample::Index>(),
        param_strategy(),
    )
        .prop_map(move |(params, bend, at, extra)| {
            let mut parts: Vec<Vec<u8>> = segs
                .iter()
                .zip(params)
                .map(|(s, p)| {
                    if s.starts_with('{') {
                        p
                    } else {
                        s.as_bytes().to_vec()
                    }
                })
                .collect();
            let i = at.index(parts.len());
            match bend {
                0 => parts.push(extra),
                1 => parts.push(Vec::new()), // trailing slash
                2 => {
                    parts.pop();
                }
                3 => parts.insert(i, Vec::new()), // doubled slash
                4 => parts.insert(i, b"..".to_vec()),
                5 => parts.insert(i, b".".to_vec()),
                6 => parts[i] = parts[i].to_ascii_uppercase(),
                7 => {
                    // One literal character percent-encoded: the router matches raw paths.
                    if let Some(c) = parts[i].first().copied() {
                        parts[i].splice(0..1, format!("%{c:02X}").into_bytes());
                    }
                }
                8 => parts[i].extend_from_slice(b"%00"),
                9 => parts = vec![extra],
                _ => {}
            }
            let mut out = Vec::new();
            for p in parts {
                out.push(b'/');
                out.extend(p);
            }
            if out.is_empty() {
                out.push(b'/');
            }
            out
        })
        .boxed()
}

/// A query string (without `?`): paging and filter keys with odd values, repeated keys.
fn query_strategy() -> BoxedStrategy<Option<Vec<u8>>> {
    let key = prop_oneof![
        8 => proptest::sample::select(vec![
            "pageNum", "pageSize", "external_task_id", "start_time", "end_time",
            "resource_pack_name", "task_id", "limit", "path", "account", "since_ms", "until_ms",
            "pagenum", "page%53ize",
        ]).prop_map(|s| s.as_bytes().to_vec()),
        1 => proptest::collection::vec(any::<u8>(), 0..8),
    ];
    let value = prop_oneof![
        8 => proptest::sample::select(vec![
            "1", "2", "30", "500", "501", "1000", "1001", "0", "-1", "", " 5", "+5", "5 ", "1.5",
            "1e3", "0x10", "abc", "99999999999999999999", "-9223372036854775808",
            "9223372036854775807", "%FF", "%00", "%C3%28", "ext-t2a-done", "ext-cv",
            "1790000000000", "4102444800000", "*", "/v1/*", "test-ak-1",
        ]).prop_map(|s| s.as_bytes().to_vec()),
        1 => proptest::collection::vec(any::<u8>(), 0..16),
        1 => (1usize..5_000).prop_map(|n| vec![b'9'; n]),
    ];
    let pair = (key, value, 0u8..6).prop_map(|(k, v, shape)| match shape {
        0 => k,
        1 => [k, b"=".to_vec()].concat(),
        _ => [k, b"=".to_vec(), v].concat(),
    });
    prop_oneof![
        5 => Just(None),
        1 => Just(Some(Vec::new())),
        6 => proptest::collection::vec(pair, 1..6).prop_map(|v| Some(v.join(&b'&'))),
        1 => Just(Some(b"&&=&==&".to_vec())),
    ]
    .boxed()
}

/// A JSON text of any shape: every type, huge and malformed numbers, strings with NULs,
/// lone surrogates, invalid UTF-8 and bad escapes, duplicate keys.
fn json_strategy() -> BoxedStrategy<Vec<u8>> {
    let number = prop_oneof![
        3 => proptest::sample::select(vec![
            "0", "-0", "1", "-1", "0.1", "5.5", "1e400", "-1e400", "1e-400", "18446744073709551616",
            "-9223372036854775809", "9223372036854775807", "1.7976931348623157e308", "4.9e-324",
            "123456789012345678901234567890", "1E2", "01", "1.", "-", ".5", "+1", "NaN",
            "Infinity", "0x10", "1e", "--1",
        ]).prop_map(|s| s.as_bytes().to_vec()),
        1 => any::<i64>().prop_map(|n| n.to_string().into_bytes()),
        1 => any::<f64>().prop_map(|f| f.to_string().into_bytes()),
    ];
    let string = prop_oneof![
        4 => any::<String>().prop_map(|s| serde_json::to_vec(&s).unwrap()),
        2 => proptest::sample::select(vec![
            "\"\"", "\"   \"", "\"\\u0000\"", "\"a\\u0000b\"", "\"\\ud800\"", "\"\\udc00\\ud800\"",
            "\"\\x41\"", "\"\\\"", "\"tab\there\"", "\"\u{1F600}\u{200B}\u{FEFF}\"",
        ]).prop_map(|s| s.as_bytes().to_vec()),
        1 => proptest::collection::vec(any::<u8>(), 0..12)
            .prop_map(|b| [b"\"".to_vec(), b, b"\"".to_vec()].concat()),
        1 => (1usize..3_000).prop_map(|n| format!("\"{}\"", "x".repeat(n)).into_bytes()),
    ];
    let key = prop_oneof![
        3 => proptest::sample::select(vec![
            "text", "voice_id", "voice_language", "voice_speed", "prompt", "duration",
            "external_task_id", "callback_url", "voice_name", "voice_url", "video_id", "mode",
            "set_ms", "advance_ms", "code", "size", "state", "packs", "to", "kind", "",
        ]).prop_map(|k| serde_json::to_vec(k).unwrap()),
        1 => string.clone(),
    ];
    let leaf = prop_oneof![
        Just(b"null".to_vec()),
        Just(b"true".to_vec()),
        Just(b"false".to_vec()),
        number,
        string,
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(|items| [
                b"[".to_vec(),
                items.join(&b','),
                b"]".to_vec()
            ]
            .concat()),
            proptest::collection::vec((key.clone(), inner), 0..6).prop_map(|members| {
                let members: Vec<Vec<u8>> = members
                    .into_iter()
                    .map(|(k, v)| [k, b":".to_vec(), v].concat())
                    .collect();
                [b"{".to_vec(), members.join(&b','), b"}".to_vec()].concat()
            }),
        ]
    })
    .boxed()
}

/// A JSON object with the route's real field names, each absent, valid, or of a hostile value.
fn shaped_strategy(template: &str) -> BoxedStrategy<Vec<u8>> {
    let fields = body_fields(template);
    let per_field: Vec<BoxedStrategy<Option<Vec<u8>>>> = fields
        .iter()
        .map(|(name, valid)| {
            let name = serde_json::to_vec(name).unwrap();
            let valid: Vec<Vec<u8>> = valid.iter().map(|v| v.as_bytes().to_vec()).collect();
            let value = prop_oneof![
                6 => proptest::sample::select(valid),
                3 => json_strategy(),
            ];
            prop_oneof![
                1 => Just(None),
                4 => value.prop_map(move |v| Some([name.clone(), b":".to_vec(), v].concat())),
            ]
            .boxed()
        })
        .collect();
    (per_field, 0u8..12, json_strategy())
        .prop_map(|(members, twist, extra)| {
            let mut members: Vec<Vec<u8>> = members.into_iter().flatten().collect();
            match twist {
                // A duplicated key: the last one wins in serde_json.
                0 if !members.is_empty() => members.push(members[0].clone()),
                1 => members.push([b"\"unknown_field\":".to_vec(), extra].concat()),
                _ => {}
            }
            let body = [b"{".to_vec(), members.join(&b','), b"}".to_vec()].concat();
            match twist {
                2 => [body, b" trailing".to_vec()].concat(),
                3 => [b"\xef\xbb\xbf".to_vec(), body].concat(), // a UTF-8 BOM
                4 => [b"  \r\n\t".to_vec(), body, b"\n".to_vec()].concat(),
                5 => body[..body.len() / 2].to_vec(),
                _ => body,
            }
        })
        .boxed()
}

/// A body for `template`: empty, shaped, any JSON, arbitrary bytes, deep nesting, oversized.
fn body_strategy(template: &str) -> BoxedStrategy<Vec<u8>> {
    let shaped_weight = if body_fields(template).is_empty() {
        0
    } else {
        8
    };
    prop_oneof![
        3 => Just(Vec::new()),
        1 => proptest::sample::select(vec![" ", "\r\n\t ", "{}", "[]", "null", "\"x\"", "0"])
            .prop_map(|s| s.as_bytes().to_vec()),
        shaped_weight => shaped_strategy(template),
        4 => json_strategy(),
        2 => proptest::collection::vec(any::<u8>(), 0..256),
        1 => (0u8..2, 1usize..20_000).prop_map(|(kind, n)| {
            if kind == 0 {
                vec![b'['; n]
            } else {
                let mut v = b"{\"a\":".repeat(n / 5 + 1);
                v.extend(b"1");
                v.extend(b"}".repeat(n / 5 + 1));
                v
            }
        }),
        1 => (0usize..4_000, any::<u8>()).prop_map(|(extra, fill)| {
            let mut v = b"{\"text\":\"".to_vec();
            v.resize(BODY_LIMIT + extra, fill);
            v
        }),
    ]
    .boxed()
}

/// `Content-Type` values, as bytes (some invalid UTF-8).
fn content_type_strategy() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        6 => Just(b"application/json".to_vec()),
        3 => proptest::sample::select(vec![
            "application/json; charset=utf-8", "APPLICATION/JSON", "application/json;",
            "  application/json  ", "application/json, text/plain", "text/plain", "text/json",
            "application/jsonl", "application/json-patch+json", "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x", "", "*/*", "application/json\u{0}",
        ]).prop_map(|s| s.as_bytes().to_vec()),
        1 => Just(b"application/json\xff".to_vec()),
        1 => proptest::collection::vec(any::<u8>(), 0..24),
    ]
    .boxed()
}

/// How `Content-Length` is written.
#[derive(Clone, Copy, Debug)]
enum Length {
    None,
    Right,
    Off(i8),
    Text(&'static str),
    Twice,
}

fn length_strategy() -> BoxedStrategy<Length> {
    prop_oneof![
        4 => Just(Length::Right),
        3 => Just(Length::None),
        1 => any::<i8>().prop_map(Length::Off),
        1 => proptest::sample::select(vec![
            "abc", "-1", "99999999999999999999", "18446744073709551615", "0", "1048577", " 12",
        ]).prop_map(Length::Text),
        1 => Just(Length::Twice),
    ]
    .boxed()
}

/// Other headers: framing and negotiation headers, junk, huge values, many headers.
fn extra_headers_strategy() -> BoxedStrategy<Vec<(String, Vec<u8>)>> {
    let one = prop_oneof![
        proptest::sample::select(vec![
            ("transfer-encoding", "chunked"),
            ("transfer-encoding", "gzip, chunked"),
            ("expect", "100-continue"),
            ("content-encoding", "gzip"),
            ("accept", "*/*"),
            ("accept", "text/html"),
            ("host", "example.com"),
            ("x-forwarded-for", "127.0.0.1, ::1"),
            ("connection", "close, upgrade"),
            ("upgrade", "h2c"),
        ])
        .prop_map(|(n, v)| (n.to_string(), v.as_bytes().to_vec())),
        (
            "x-[a-z]{1,12}",
            proptest::collection::vec(any::<u8>(), 0..40)
        ),
        (1usize..40_000).prop_map(|n| ("x-huge".to_string(), vec![b'h'; n])),
    ];
    prop_oneof![
        12 => proptest::collection::vec(one, 0..3),
        1 => (100usize..300).prop_map(|n| {
            (0..n).map(|i| (format!("x-h{i}"), b"v".to_vec())).collect()
        }),
    ]
    .boxed()
}

/// A header value the `http` crate accepts: control characters other than tab become `?`.
fn header_value(mut v: Vec<u8>) -> Vec<u8> {
    for b in &mut v {
        if (*b < 0x20 && *b != b'\t') || *b == 0x7f {
            *b = b'?';
        }
    }
    v
}

/// Requests aimed at one route (with the wrong method now and then).
fn route_strategy(route: &Route, auths: &[(Vec<u8>, AuthClass)]) -> BoxedStrategy<Hostile> {
    let methods: Vec<&'static str> = route.methods.clone();
    let method = prop_oneof![
        8 => proptest::sample::select(methods),
        2 => proptest::sample::select(ODD_METHODS.to_vec()),
    ];
    let control_auth = format!("Bearer {CONTROL_TOKEN}").into_bytes();
    let valid: Vec<_> = auths
        .iter()
        .filter(|(_, c)| *c == AuthClass::Valid)
        .cloned()
        .collect();
    let auth_value = prop_oneof![
        8 => proptest::sample::select(valid).prop_map(|(v, c)| (v, Some(c))),
        6 => proptest::sample::select(auths.to_vec()).prop_map(|(v, c)| (v, Some(c))),
        if matches!(route.plane, Plane::Control | Plane::OpenApi) { 8 } else { 1 } =>
            Just((control_auth, Some(AuthClass::Fails(&[1002])))),
        1 => proptest::collection::vec(any::<u8>(), 0..60).prop_map(|v| (v, None)),
    ];
    let auth = prop_oneof![
        1 => Just(Vec::new()),
        8 => proptest::collection::vec(auth_value, 1..=1),
        1 => proptest::collection::vec(
            prop_oneof![
                8 => proptest::sample::select(auths.to_vec()).prop_map(|(v, c)| (v, Some(c))),
                1 => proptest::collection::vec(any::<u8>(), 0..60).prop_map(|v| (v, None)),
            ],
            2..=3
        ),
    ];
    let content_type = prop_oneof![
        6 => proptest::collection::vec(Just(b"application/json".to_vec()), 1..=1),
        2 => proptest::collection::vec(content_type_strategy(), 0..=2),
    ];
    (
        method,
        path_strategy(route.template),
        query_strategy(),
        auth,
        content_type,
        length_strategy(),
        extra_headers_strategy(),
        body_strategy(route.template),
    )
        .prop_map(|(method, path, query, auth, cts, length, extra, body)| {
            let mut target = encode_target(&path);
            if let Some(q) = query {
                target.push('?');
                target.push_str(&encode_target(&q));
            }
            let mut headers = Vec::new();
            // An arbitrary first value: the codes it may give are 1001 or 1002.
            let first = auth
                .first()
                .map(|(_, c)| c.unwrap_or(AuthClass::Fails(&[1001, 1002])));
            for (v, _) in auth {
                headers.push(("authorization".to_string(), header_value(v)));
            }
            for v in cts {
                headers.push(("content-type".to_string(), header_value(v)));
            }
            let n = body.len() as i64;
            match length {
                Length::None => {}
                Length::Right => headers.push(("content-length".into(), n.to_string().into())),
                Length::Off(d) => headers.push((
                    "content-length".into(),
                    (n + d as i64).max(0).to_string().into(),
                )),
                Length::Text(t) => headers.push(("content-length".into(), t.into())),
                Length::Twice => {
                    headers.push(("content-length".into(), n.to_string().into()));
                    headers.push(("content-length".into(), (n + 1).to_string().into()));
                }
            }
            for (name, v) in extra {
                headers.push((name, header_value(v)));
            }
            Hostile {
                method: method.to_string(),
                target,
                headers,
                auth: first,
                body,
            }
        })
        .boxed()
}

/// Requests to no route at all: random paths, `*`, absolute paths with odd bytes.
fn stray_strategy() -> BoxedStrategy<Hostile> {
    (
        proptest::sample::select(ODD_METHODS.to_vec()),
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..64),
            Just(b"".to_vec()),
            Just(b"/".to_vec()),
            Just(b"/v1".to_vec()),
            Just(b"/__mock".to_vec()),
            Just(b"/__mock/".to_vec()),
            Just(b"/files".to_vec()),
            Just(b"/files/".to_vec()),
            (1usize..16_000).prop_map(|n| b"/v1".repeat(n)),
        ],
        body_strategy(""),
    )
        .prop_map(|(method, path, body)| {
            let mut raw = vec![b'/'];
            raw.extend(path.into_iter().skip_while(|b| *b == b'/'));
            Hostile {
                method: method.to_string(),
                target: encode_target(&raw),
                headers: vec![("content-type".into(), b"application/json".to_vec())],
                auth: None,
                body,
            }
        })
        .boxed()
}

fn request_strategy(routes: &[Route], auths: &[(Vec<u8>, AuthClass)]) -> BoxedStrategy<Hostile> {
    let mut arms: Vec<(u32, BoxedStrategy<Hostile>)> = routes
        .iter()
        .map(|r| {
            let w = match r.plane {
                Plane::Kling => 10,
                Plane::Control => 3,
                Plane::Files | Plane::Health | Plane::OpenApi => 2,
            };
            (w, route_strategy(r, auths))
        })
        .collect();
    arms.push((6, stray_strategy()));
    Union::new_weighted(arms).boxed()
}

// ---------------------------------------------------------------------------------------------
// Oracle
// ---------------------------------------------------------------------------------------------

/// What an answer may be: the codes allowed (0 = success), and whether it may be raw bytes.
#[derive(Debug)]
struct Expect {
    codes: BTreeSet<u32>,
    raw: Option<Plane>,
}

fn expect_codes(codes: &[u32]) -> Expect {
    Expect {
        codes: codes.iter().copied().collect(),
        raw: None,
    }
}

/// `JsonObject`'s rules (README error table): is this body refused with 1200?
fn body_refused(h: &Hostile, limit: usize) -> bool {
    let ct = h
        .header("content-type")
        .filter(|v| v.iter().all(|&b| b == b'\t' || (0x20..0x7f).contains(&b)))
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_default();
    let essence = ct.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return true;
    }
    let declared = h
        .header("content-length")
        .and_then(|v| std::str::from_utf8(v).ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) || h.body.len() > limit {
        return true;
    }
    !matches!(
        serde_json::from_slice::<Value>(&h.body),
        Ok(Value::Object(_))
    )
}

/// Whether the first `Authorization` value opens the control plane.
fn control_auth_ok(h: &Hostile) -> bool {
    h.header("authorization")
        .filter(|v| v.iter().all(|&b| b == b'\t' || (0x20..0x7f).contains(&b)))
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| t.trim() == CONTROL_TOKEN)
}

fn expect(routes: &[Route], h: &Hostile) -> Expect {
    let Some(route) = match_route(routes, h.path()) else {
        return expect_codes(&[1203]);
    };
    let m = h.method.as_str();
    let method_ok = route.methods.contains(&m) || (m == "HEAD" && route.methods.contains(&"GET"));
    if !method_ok {
        return match route.plane {
            // The token check wraps the control routes, their wrong-method answer included.
            Plane::Control | Plane::OpenApi if !control_auth_ok(h) => expect_codes(&[1000]),
            _ => expect_codes(&[1202]),
        };
    }
    match route.plane {
        Plane::Health => expect_codes(&[0]),
        // An unknown name, or one that is not UTF-8 once decoded, is 404 / 1203
        // (tests/api/envelope.rs pins the latter).
        Plane::Files => Expect {
            codes: [0, 1203].into(),
            raw: Some(Plane::Files),
        },
        Plane::OpenApi if control_auth_ok(h) => Expect {
            codes: [0].into(),
            raw: Some(Plane::OpenApi),
        },
        Plane::Control | Plane::OpenApi if !control_auth_ok(h) => expect_codes(&[1000]),
        Plane::Control | Plane::OpenApi => expect_codes(&[0, 1200, 1201, 1203]),
        Plane::Kling => match h.auth {
            None => expect_codes(&[1001]),
            Some(AuthClass::Fails(codes)) => expect_codes(codes),
            Some(AuthClass::Valid) if m == "POST" && body_refused(h, BODY_LIMIT) => {
                expect_codes(&[1200])
            }
            Some(AuthClass::Valid) => expect_codes(&[0, 1201]),
        },
    }
}

/// Check one answer against the invariants. `injected`: fault or outcome rules are in force.
fn check_answer(
    h: &Hostile,
    want: &Expect,
    status: u16,
    headers: &axum::http::HeaderMap,
    body: &[u8],
    injected: bool,
) -> Result<Option<(u32, String)>, String> {
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if h.method == "HEAD" {
        // axum answers HEAD like GET, without the body.
        if !body.is_empty() {
            return Err(format!("HEAD answered a body of {} bytes", body.len()));
        }
        if status >= 500 && !injected {
            return Err(format!("HEAD answered {status}"));
        }
        return Ok(None);
    }
    if status == 200 {
        match want.raw {
            Some(Plane::Files) if ct.starts_with("audio/") => {
                let wav = body.starts_with(b"RIFF") && ct == "audio/wav";
                let mp3 = body.len() > 4 && body[0] == 0xff && body[1] & 0xe0 == 0xe0;
                return if wav || mp3 {
                    Ok(None)
                } else {
                    Err(format!("media answer of {} bytes as {ct}", body.len()))
                };
            }
            Some(Plane::OpenApi) => {
                let doc: Value = serde_json::from_slice(body)
                    .map_err(|e| format!("the OpenAPI document is not JSON: {e}"))?;
                return if ct == "application/json" && doc.get("openapi").is_some() {
                    Ok(None)
                } else {
                    Err(format!("not the OpenAPI document ({ct})"))
                };
            }
            _ => {}
        }
    }
    if ct != "application/json" {
        return Err(format!(
            "{status} answered with Content-Type {ct:?}, not the envelope: {:?}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        ));
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        format!(
            "{status} body is not JSON ({e}): {:?}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        )
    })?;
    let obj = v.as_object().ok_or("the envelope is not an object")?;
    if let Some(k) = obj
        .keys()
        .find(|k| !["code", "message", "request_id", "data"].contains(&k.as_str()))
    {
        return Err(format!("unexpected envelope key {k:?}: {v}"));
    }
    let code = obj
        .get("code")
        .and_then(Value::as_u64)
        .ok_or_else(|| format!("no integer code: {v}"))? as u32;
    let message = obj.get("message").and_then(Value::as_str).unwrap_or("");
    if message.is_empty() {
        return Err(format!("empty or missing message: {v}"));
    }
    let rid = obj.get("request_id").and_then(Value::as_str).unwrap_or("");
    match uuid::Uuid::parse_str(rid) {
        Ok(u) if u.get_version_num() == 4 && u.hyphenated().to_string() == rid => {}
        _ => return Err(format!("request_id is not a UUID v4: {v}")),
    }
    if code == 0 {
        if status != 200 || message != "SUCCEED" || !obj.contains_key("data") {
            return Err(format!(
                "success must be 200, SUCCEED and data: {status} {v}"
            ));
        }
    } else {
        let c = Code::from_number(code).ok_or_else(|| format!("undocumented code {code}: {v}"))?;
        if c.status().as_u16() != status {
            return Err(format!("code {code} answered with HTTP {status}: {v}"));
        }
        if obj.contains_key("data") {
            return Err(format!("an error carries data: {v}"));
        }
    }
    if !want.codes.contains(&code) && !injected {
        return Err(format!(
            "code {code} ({status}) where {:?} was expected: {v}",
            want.codes
        ));
    }
    Ok(Some((code, rid.to_string())))
}

// ---------------------------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------------------------

/// Everything a refused request must leave as it was. Left out: the journal and the fault rules'
/// match counters (they record requests by design), request-id and id counters, callback delivery
/// logs (deliveries run in the background).
fn snapshot(s: &AppState) -> Value {
    let now = s.clock.now_ms();
    let census: Vec<String> = s
        .engine
        .census()
        .into_iter()
        .map(|(k, n)| format!("{k:?}={n}"))
        .collect();
    let billing: Vec<Value> = s
        .accounts
        .list()
        .iter()
        .map(|a| {
            let (settings, in_flight) = s.engine.billing.settings(a.idx, now);
            json!({"settings": settings, "in_flight": in_flight})
        })
        .collect();
    let faults: Vec<Value> = s
        .control
        .faults()
        .into_iter()
        .map(|f| serde_json::to_value(&f.spec).unwrap())
        .collect();
    let mut voices = s.custom_voices.entries();
    voices.sort_unstable();
    let lifecycles: Vec<Value> = kling_mock::kinds::KindId::ASYNC
        .iter()
        .map(|k| serde_json::to_value(s.engine.lifecycle(*k)).unwrap())
        .collect();
    json!({
        "clock": [now, s.clock.is_frozen()],
        "tasks": s.engine.task_count(),
        "census": census,
        "pending_transitions": s.engine.pending_transitions(),
        "media": [s.media.file_count(), s.media.item_count()],
        "voices": voices,
        "billing": billing,
        "faults": faults,
        "latency": s.control.latency(),
        "outcomes": s.control.outcomes(),
        "journal_capacity": s.control.journal.capacity(),
        "callback_faults": s.engine.callback_faults(),
        "lifecycles": lifecycles,
    })
}

/// Ids of the tasks, voices and media the harness created, which `~~K<i>~~` and `~~M<i>~~`
/// placeholders of generated requests stand for.
#[derive(Clone, Debug, Default)]
struct Known {
    ids: Vec<String>,
    media: Vec<String>,
}

/// Placeholders `~~K0~~`..: a finished and a live text-to-audio task, a custom voice task, its
/// voice id, the three external ids, an official (preset) voice id.
const KNOWN_IDS: usize = 8;
/// Placeholders `~~M0~~`..: a TTS MP3, a text-to-audio MP3 and WAV, a preset trial MP3.
const KNOWN_MEDIA: usize = 4;

impl Known {
    fn resolve(&self, bytes: &[u8]) -> Vec<u8> {
        // (A body that is not UTF-8 keeps its placeholders: it is refused before any id is read.)
        let Ok(text) = std::str::from_utf8(bytes) else {
            return bytes.to_vec();
        };
        if !text.contains("~~") {
            return bytes.to_vec();
        }
        let mut out = text.to_string();
        for (i, id) in self.ids.iter().enumerate() {
            out = out.replace(&format!("~~K{i}~~"), id);
        }
        for (i, m) in self.media.iter().enumerate() {
            out = out.replace(&format!("~~M{i}~~"), m);
        }
        out.into_bytes()
    }
}

impl Hostile {
    /// The request with its placeholders replaced by the server's ids.
    fn resolve(&self, known: &Known) -> Hostile {
        let mut h = self.clone();
        h.target = String::from_utf8(known.resolve(self.target.as_bytes())).unwrap();
        h.body = known.resolve(&self.body);
        if let Some(i) = h.headers.iter().position(|(n, _)| n == "content-length") {
            // A right length stays right after the substitution.
            if h.headers[i].1 == self.body.len().to_string().as_bytes() {
                h.headers[i].1 = h.body.len().to_string().into_bytes();
            }
        }
        h
    }
}

/// The in-process server under test. A case that changed its rules (or failed) leaves it dirty:
/// it is restored (clock, rules, tasks, journal size) and seeded again before the next case.
struct Harness {
    rt: tokio::runtime::Runtime,
    routes: Vec<Route>,
    state: AppState,
    app: Router,
    known: Known,
    /// The state after the last request.
    baseline: Value,
    /// The state right after the seeding (to tell which rules a case changed).
    initial: Value,
    /// An accepted control-plane change or a failure: restore before the next case.
    dirty: bool,
    /// Changes accepted since the last restore (restored after many, to bound memory).
    accepted: usize,
    /// Figures for the report.
    stats: Stats,
}

#[derive(Debug, Default)]
struct Stats {
    requests: u64,
    by_code: BTreeMap<u32, u64>,
    raw: u64,
    restores: u64,
}

impl Harness {
    fn new() -> Harness {
        // Paused tokio time: latency rules a case installs cost no real time.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap();
        // Building a state costs ~20 ms (HTTP client of the callbacks): once, then restored.
        let state = AppState::new(
            hostile_config(),
            Clock::frozen(START_MS),
            "http://mock.test".into(),
        );
        let app = kling_mock::api::router(state.clone());
        let known = seed(&rt, &app, &state);
        let baseline = snapshot(&state);
        Harness {
            rt,
            routes: routes(),
            state,
            app,
            known,
            initial: baseline.clone(),
            baseline,
            dirty: false,
            accepted: 0,
            stats: Stats::default(),
        }
    }

    /// Back to the state right after [`Harness::new`]: clock, rules, tasks, media, journal.
    fn restore(&mut self) {
        let s = &self.state;
        s.clock.freeze();
        s.clock.set(START_MS);
        s.reset(None, None, true);
        s.control.journal.resize(s.config.journal_size);
        self.known = seed(&self.rt, &self.app, s);
        self.initial = snapshot(s);
        self.baseline = self.initial.clone();
        self.dirty = false;
        self.accepted = 0;
        self.stats.restores += 1;
    }

    /// Run one case: each request, its invariants, and the state around it.
    fn run(&mut self, case: &[Hostile]) -> Result<(), TestCaseError> {
        if self.dirty || self.accepted > 2_000 {
            self.restore();
        }
        for (i, h) in case.iter().enumerate() {
            let h = h.resolve(&self.known);
            if let Err(e) = self.step(&h) {
                // Start the next case (a shrinking step) from a restored server.
                self.dirty = true;
                return Err(TestCaseError::fail(format!(
                    "request {} of the case: {e}\nthe request as sent: {h:?}",
                    i + 1
                )));
            }
        }
        Ok(())
    }

    fn step(&mut self, h: &Hostile) -> Result<(), String> {
        let before = &self.baseline;
        // Rules a previous request of the case put in force may answer any documented error.
        let injected = before["faults"] != self.initial["faults"]
            || before["outcomes"] != self.initial["outcomes"]
            || before["billing"] != self.initial["billing"];
        let transport = before["faults"]
            .as_array()
            .is_some_and(|f| f.iter().any(|f| f.get("transport").is_some()));
        let clock_moves = !self.state.clock.is_frozen();
        let polls = before["lifecycles"] != self.initial["lifecycles"];
        let want = expect(&self.routes, h);
        let app = self.app.clone();
        let (parts, body) = self.rt.block_on(async move {
            let resp = app.oneshot(h.request()).await.unwrap();
            let (parts, body) = resp.into_parts();
            (parts, axum::body::to_bytes(body, usize::MAX).await)
        });
        self.stats.requests += 1;
        let body = match body {
            Ok(b) => b,
            // A close, reset or hang fault answers a body that fails (no connection in process).
            Err(_) if transport => return self.settle(h, None, parts.status.as_u16(), true),
            Err(e) => return Err(format!("the body could not be read: {e}")),
        };
        let status = parts.status.as_u16();
        let public = !h.path().starts_with("/__mock/");
        let answer = check_answer(h, &want, status, &parts.headers, &body, injected && public);
        let answer = match answer {
            Err(_) if transport && public => None,
            Err(e) => return Err(e),
            Ok(a) => a,
        };
        if status >= 500 {
            // Allowed only when the journal says a rule injected it (never on the control plane).
            let rid = answer.as_ref().map(|(_, r)| r.clone());
            let entries = self.state.control.journal.query(&Filter::default());
            let by_rule = entries
                .iter()
                .any(|e| e.request_id == rid && (e.fault.is_some() || e.rule.is_some()));
            let journal_off = !self.state.control.journal.enabled();
            if !(public && (by_rule || (journal_off && injected))) {
                return Err(format!("{status} that no rule injected: {answer:?}"));
            }
        }
        match &answer {
            Some((code, _)) => *self.stats.by_code.entry(*code).or_default() += 1,
            None => self.stats.raw += 1,
        }
        let code = answer.map(|(c, _)| c);
        let read = matches!(h.method.as_str(), "GET" | "HEAD");
        self.settle(h, code, status, clock_moves || (polls && read))
    }

    /// Compare the state with the one before the request, and move the baseline.
    fn settle(
        &mut self,
        h: &Hostile,
        code: Option<u32>,
        status: u16,
        unchecked: bool,
    ) -> Result<(), String> {
        let after = snapshot(&self.state);
        let reads = matches!(h.method.as_str(), "GET" | "HEAD");
        let accepted = (200..300).contains(&status) && code.is_none_or(|c| c == 0);
        let control = h.path().starts_with("/__mock/");
        if accepted && !reads {
            // An accepted create or control change: the state may move; a control change also
            // changes the rules, so the next case starts from a fresh server.
            self.accepted += 1;
            self.dirty |= control;
        } else if !unchecked && after != self.baseline {
            return Err(format!(
                "a {} answer ({status}, code {code:?}) changed the state:\n{}",
                if accepted { "read" } else { "refused" },
                diff(&self.baseline, &after)
            ));
        }
        self.baseline = after;
        Ok(())
    }
}

/// Seed a fresh or reset server through its own API: a finished and a live text-to-audio task,
/// a custom voice, a TTS file. Returns their ids.
fn seed(rt: &tokio::runtime::Runtime, app: &Router, state: &AppState) -> Known {
    let token = format!(
        "Bearer {}",
        sign(
            json!({"iss": AK, "exp": Clock::wall_ms() / 1000 + 30 * 86_400}),
            SK
        )
    );
    let call = |method: &str, path: &str, body: Option<Value>| -> Value {
        let mut b = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", &token);
        if body.is_some() {
            b = b.header("content-type", "application/json");
        }
        let req = b
            .body(Body::from(body.map(|b| b.to_string()).unwrap_or_default()))
            .unwrap();
        rt.block_on(async {
            let resp = app.clone().oneshot(req).await.unwrap();
            let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
                .await
                .unwrap();
            let v: Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(v["code"], 0, "seeding {method} {path}: {v}");
            v["data"].clone()
        })
    };
    let done = call(
        "POST",
        "/v1/audio/text-to-audio",
        Some(json!({"prompt": "rain", "duration": 5, "external_task_id": "ext-t2a-done"})),
    );
    let voice = call(
        "POST",
        "/v1/general/custom-voices",
        Some(
            json!({"voice_name": "seed", "voice_url": "https://example.com/s.mp3",
                    "external_task_id": "ext-cv"}),
        ),
    );
    state.engine.advance(60_000);
    let live = call(
        "POST",
        "/v1/audio/text-to-audio",
        Some(json!({"prompt": "wind", "duration": 3, "external_task_id": "ext-t2a-live"})),
    );
    let tts = call(
        "POST",
        "/v1/audio/tts",
        Some(json!({"text": "hi", "voice_id": "oversea_male1", "voice_language": "en"})),
    );
    let str_at = |v: &Value, ptr: &str| -> String {
        v.pointer(ptr)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("seeding: no {ptr} in {v}"))
            .to_string()
    };
    let voice_task = str_at(&voice, "/task_id");
    let voice_id = str_at(
        &call(
            "GET",
            &format!("/v1/general/custom-voices/{voice_task}"),
            None,
        ),
        "/task_result/voices/0/voice_id",
    );
    let done_task = call("GET", "/v1/audio/text-to-audio/ext-t2a-done", None);
    let presets = call("GET", "/v1/general/presets-voices?pageSize=1", None);
    let file = |url: String| {
        let name = url.rsplit('/').next().unwrap_or_default();
        name.split('?').next().unwrap_or_default().to_string()
    };
    let known = Known {
        ids: vec![
            str_at(&done, "/task_id"),
            str_at(&live, "/task_id"),
            voice_task,
            voice_id,
            "ext-t2a-done".into(),
            "ext-t2a-live".into(),
            "ext-cv".into(),
            str_at(&presets, "/0/task_result/voices/0/voice_id"),
        ],
        media: vec![
            file(str_at(&tts, "/task_result/audios/0/url")),
            file(str_at(&done_task, "/task_result/audios/0/url_mp3")),
            file(str_at(&done_task, "/task_result/audios/0/url_wav")),
            file(str_at(&presets, "/0/task_result/voices/0/trial_url")),
        ],
    };
    assert_eq!(
        (known.ids.len(), known.media.len()),
        (KNOWN_IDS, KNOWN_MEDIA)
    );
    known
}

/// The top-level keys whose values differ.
fn diff(a: &Value, b: &Value) -> String {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return format!("{a} -> {b}");
    };
    a.iter()
        .filter(|(k, v)| b.get(*k) != Some(v))
        .map(|(k, v)| format!("  {k}: {v} -> {}", b.get(k).unwrap_or(&Value::Null)))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn hostile_requests_to_every_route_answer_a_documented_envelope_and_leave_state_alone() {
    let cases = env_count("KLING_HOSTILE_CASES", 1_500);
    let seed = std::env::var("KLING_HOSTILE_SEED")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or_else(rand::random);
    let harness = Harness::new();
    let auths = auth_values();
    let one = request_strategy(&harness.routes, &auths);
    let case = prop_oneof![
        7 => proptest::collection::vec(one.clone(), 1..=1),
        3 => proptest::collection::vec(one, 2..=3),
    ];
    let harness = RefCell::new(harness);
    let mut runner = TestRunner::new(RunnerConfig {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        // ChaCha unoptimised (the test profile) costs more than the requests themselves.
        rng_algorithm: RngAlgorithm::XorShift,
        failure_persistence: None,
        max_shrink_iters: 4_000,
        ..RunnerConfig::default()
    });
    let started = Instant::now();
    let result = runner.run(&case, |c| harness.borrow_mut().run(&c));
    let took = started.elapsed();
    let h = harness.borrow();
    println!(
        "hostile (in process): {cases} cases, {} requests in {:.1} s ({:.0} cases/s), seed {seed} \
         (KLING_HOSTILE_SEED), {} restores; codes {:?}, raw answers {}",
        h.stats.requests,
        took.as_secs_f64(),
        cases as f64 / took.as_secs_f64(),
        h.stats.restores,
        h.stats.by_code,
        h.stats.raw,
    );
    if let Err(e) = result {
        panic!("{e}\nreplay: KLING_HOSTILE_SEED={seed} KLING_HOSTILE_CASES={cases}");
    }
}

// ---------------------------------------------------------------------------------------------
// On the wire
// ---------------------------------------------------------------------------------------------

/// One answer read back from the socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wire {
    /// The Kling envelope (checked: documented code, its HTTP status, request id, no data on
    /// errors): HTTP status and code.
    Envelope(u16, u32),
    /// hyper's own answer to bytes it could not parse: a status, no body, no Content-Type. Our
    /// code never ran.
    Bare(u16),
    /// An answer to `HEAD`: a status and a `Content-Length`, no body.
    Head(u16),
    /// A success of a raw route: media bytes (`/files`) or the OpenAPI document.
    Raw,
    /// An answer whose body the connection's end cut short: hyper closes at once on a malformed
    /// pipelined request, and the unread bytes left in the socket make the kernel reset the
    /// connection, which can drop the tail of the answer before (no lingering close).
    Cut(u16),
}

/// Parse every HTTP/1.1 response in `raw` (interim 1xx answers skipped).
fn parse_wire(raw: &[u8]) -> Result<Vec<Wire>, String> {
    let mut out = Vec::new();
    let mut rest = raw;
    while !rest.is_empty() {
        let end = rest
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| {
                format!(
                    "a response head without its end: {:?}",
                    String::from_utf8_lossy(rest)
                )
            })?;
        let head = std::str::from_utf8(&rest[..end]).map_err(|e| format!("head not UTF-8: {e}"))?;
        rest = &rest[end + 4..];
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status: u16 = status_line
            .strip_prefix("HTTP/1.1 ")
            .or_else(|| status_line.strip_prefix("HTTP/1.0 "))
            .and_then(|s| s.get(..3))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("not a status line: {status_line:?}"))?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        if (100..200).contains(&status) {
            continue;
        }
        let body: Vec<u8> = if let Some(n) = header("content-length") {
            let n: usize = n.parse().map_err(|_| format!("bad content-length {n:?}"))?;
            if n > 0 && (rest.is_empty() || rest.starts_with(b"HTTP/1.")) {
                // The body-less answer to a HEAD request.
                out.push(Wire::Head(status));
                continue;
            }
            if rest.len() < n {
                // The connection ended inside this body: nothing can follow.
                out.push(Wire::Cut(status));
                break;
            }
            let (b, r) = rest.split_at(n);
            rest = r;
            b.to_vec()
        } else if header("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
            let mut body = Vec::new();
            loop {
                let eol = rest
                    .windows(2)
                    .position(|w| w == b"\r\n")
                    .ok_or("a chunk size without its line end")?;
                let size = std::str::from_utf8(&rest[..eol])
                    .ok()
                    .and_then(|s| usize::from_str_radix(s.split(';').next()?.trim(), 16).ok())
                    .ok_or("a bad chunk size")?;
                rest = &rest[eol + 2..];
                if size == 0 {
                    rest = rest.get(2..).unwrap_or_default();
                    break;
                }
                body.extend_from_slice(rest.get(..size).ok_or("a short chunk")?);
                rest = rest.get(size + 2..).unwrap_or_default();
            }
            body
        } else {
            std::mem::take(&mut rest).to_vec()
        };
        let ct = header("content-type");
        let shown = || String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
        if body.is_empty() && ct.is_none() {
            out.push(Wire::Bare(status));
            continue;
        }
        if status == 200 && ct.is_some_and(|c| c.starts_with("audio/")) {
            out.push(Wire::Raw);
            continue;
        }
        if ct != Some("application/json") {
            return Err(format!("{status} with Content-Type {ct:?}: {:?}", shown()));
        }
        let v: Value = serde_json::from_slice(&body)
            .map_err(|e| format!("{status}: body not JSON ({e}): {:?}", shown()))?;
        if status == 200 && v.get("openapi").is_some() {
            out.push(Wire::Raw);
            continue;
        }
        let code = v["code"].as_u64().ok_or_else(|| format!("no code: {v}"))? as u32;
        let rid = v["request_id"].as_str().unwrap_or("");
        if uuid::Uuid::parse_str(rid).map(|u| u.get_version_num()) != Ok(4) {
            return Err(format!("request_id is not a UUID v4: {v}"));
        }
        if v["message"].as_str().is_none_or(str::is_empty) {
            return Err(format!("no message: {v}"));
        }
        let table = if code == 0 {
            Some(200)
        } else {
            Code::from_number(code).map(|c| c.status().as_u16())
        };
        if table != Some(status) || (code == 0) != v.get("data").is_some() {
            return Err(format!("{status} does not fit the envelope {v}"));
        }
        out.push(Wire::Envelope(status, code));
    }
    Ok(out)
}

/// Write `bytes` on a new connection, close our writing side, and read until the server closes.
/// `Err` when the server neither answers nor closes in 10 s (a guard, not a sleep).
async fn exchange(addr: &str, bytes: &[u8]) -> Result<Vec<u8>, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    // The server may answer and close before it read everything: write errors are expected.
    let _ = s.write_all(bytes).await;
    let _ = s.shutdown().await;
    let mut out = Vec::new();
    let read = async {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .map_err(|_| "the server neither answered nor closed the connection in 10 s".to_string())?;
    Ok(out)
}

/// A mock with the control token on 127.0.0.1:0, its address and its state.
async fn wire_server() -> (String, AppState) {
    let mut c = crate::helpers::config();
    c.control_token = Some(CONTROL_TOKEN.into());
    let app = crate::helpers::spawn_with(c).await;
    let addr = app.base.trim_start_matches("http://").to_string();
    (addr, app.state)
}

#[tokio::test]
async fn malformed_http_gets_hypers_bare_answer_and_everything_else_the_envelope() {
    use Wire::{Bare, Envelope};
    let (addr, state) = wire_server().await;
    let token = crate::helpers::token(AK, SK);
    let auth = format!("Authorization: Bearer {token}\r\n");
    let json = "Content-Type: application/json\r\n";
    let close = "Host: mock\r\nConnection: close\r\n";
    let head = |line: &str, headers: &str| format!("{line}\r\n{headers}{close}\r\n").into_bytes();
    let with_body =
        |line: &str, headers: &str, body: &[u8]| [head(line, headers), body.to_vec()].concat();
    let big = vec![b' '; 2 * 1024 * 1024 + 1];
    let many_headers: String = (0..150).map(|i| format!("X-H{i}: v\r\n")).collect();
    let huge_header = format!("X-Big: {}\r\n", "b".repeat(512 * 1024));
    let t2a = "/v1/audio/text-to-audio";
    let cases: Vec<(&str, Vec<u8>, Vec<Wire>)> = vec![
        // Not HTTP at all.
        ("garbage", b"HELLO THERE\r\n\r\n".to_vec(), vec![Bare(400)]),
        (
            "binary",
            vec![0, 1, 2, 255, 254, b'\r', b'\n', b'\r', b'\n'],
            vec![Bare(400)],
        ),
        (
            "a TLS ClientHello",
            b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03".to_vec(),
            vec![Bare(400)],
        ),
        // hyper (HTTP/1 only) recognises the HTTP/2 preface and closes without a word.
        (
            "the HTTP/2 preface",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec(),
            vec![],
        ),
        (
            "HTTP/9.9",
            head(&format!("GET {t2a} HTTP/9.9"), &auth),
            vec![Bare(400)],
        ),
        (
            "a request line with 4 parts",
            head(&format!("GET {t2a} HTTP/1.1 x"), &auth),
            vec![Bare(400)],
        ),
        (
            "a doubled space",
            head(&format!("GET  {t2a} HTTP/1.1"), &auth),
            vec![Bare(400)],
        ),
        (
            "a method with a bad character",
            head(&format!("GE(T {t2a} HTTP/1.1"), &auth),
            vec![Bare(400)],
        ),
        (
            "raw invalid UTF-8 in the path",
            [
                b"GET /v1/audio/text-to-audio/\xff\xfe HTTP/1.1\r\n".to_vec(),
                auth.as_bytes().to_vec(),
                close.as_bytes().to_vec(),
                b"\r\n".to_vec(),
            ]
            .concat(),
            vec![Bare(400)],
        ),
        (
            "a raw space in the path",
            head("GET /v1/audio/text to audio HTTP/1.1", &auth),
            vec![Bare(400)],
        ),
        (
            "a header name with a space",
            head(&format!("GET {t2a} HTTP/1.1"), "Bad Header: x\r\n"),
            vec![Bare(400)],
        ),
        (
            "a header line without a colon",
            head(&format!("GET {t2a} HTTP/1.1"), "NoColon\r\n"),
            vec![Bare(400)],
        ),
        (
            "a NUL in a header value",
            head(&format!("GET {t2a} HTTP/1.1"), "X-A: a\0b\r\n"),
            vec![Bare(400)],
        ),
        (
            "an obsolete folded header",
            head(&format!("GET {t2a} HTTP/1.1"), "X-A: a\r\n b\r\n"),
            vec![Bare(400)],
        ),
        (
            "two different Content-Lengths",
            with_body(
                "POST /v1/audio/tts HTTP/1.1",
                &format!("{auth}{json}Content-Length: 2\r\nContent-Length: 3\r\n"),
                b"{}",
            ),
            vec![Bare(400)],
        ),
        (
            "a Content-Length that is not a number",
            with_body(
                "POST /v1/audio/tts HTTP/1.1",
                &format!("{auth}{json}Content-Length: abc\r\n"),
                b"{}",
            ),
            vec![Bare(400)],
        ),
        (
            "a negative Content-Length",
            with_body(
                "POST /v1/audio/tts HTTP/1.1",
                &format!("{auth}{json}Content-Length: -1\r\n"),
                b"{}",
            ),
            vec![Bare(400)],
        ),
        (
            "Transfer-Encoding gzip only",
            with_body(
                "POST /v1/audio/tts HTTP/1.1",
                &format!("{auth}{json}Transfer-Encoding: gzip\r\n"),
                b"{}",
            ),
            vec![Bare(400)],
        ),
        (
            "a header line over the limit",
            head(&format!("GET {t2a} HTTP/1.1"), &huge_header),
            vec![Bare(431)],
        ),
        (
            "150 headers",
            head(&format!("GET {t2a} HTTP/1.1"), &many_headers),
            vec![Bare(431)],
        ),
        (
            "a 70 KB path",
            head(&format!("GET /{} HTTP/1.1", "a".repeat(70_000)), &auth),
            vec![Bare(414)],
        ),
        // Parsed by hyper: our router answers, in the envelope.
        (
            "an odd method",
            head("PROPFIND /v1/audio/tts HTTP/1.1", &auth),
            vec![Envelope(404, 1202)],
        ),
        (
            "a lowercase method",
            head(&format!("get {t2a} HTTP/1.1"), &auth),
            vec![Envelope(404, 1202)],
        ),
        (
            "a long custom method",
            head(&format!("{} {t2a} HTTP/1.1", "X".repeat(200)), &auth),
            vec![Envelope(404, 1202)],
        ),
        (
            "TRACE",
            head(&format!("TRACE {t2a} HTTP/1.1"), &auth),
            vec![Envelope(404, 1202)],
        ),
        (
            "OPTIONS *",
            head("OPTIONS * HTTP/1.1", &auth),
            vec![Envelope(404, 1203)],
        ),
        (
            "CONNECT host:port",
            head("CONNECT example.com:443 HTTP/1.1", &auth),
            vec![Envelope(404, 1203)],
        ),
        (
            "an absolute URI",
            head(&format!("GET http://example.com{t2a} HTTP/1.1"), &auth),
            vec![Envelope(200, 0)],
        ),
        (
            "a 8 KB path",
            head(&format!("GET /{} HTTP/1.1", "a".repeat(8_000)), &auth),
            vec![Envelope(404, 1203)],
        ),
        (
            "percent-encoded invalid UTF-8 in an id",
            head(&format!("GET {t2a}/%FF%FE HTTP/1.1"), &auth),
            vec![Envelope(400, 1201)],
        ),
        (
            "a percent-encoded NUL id",
            head(&format!("GET {t2a}/%00 HTTP/1.1"), &auth),
            vec![Envelope(400, 1201)],
        ),
        (
            "a doubled slash",
            head(&format!("GET /{t2a} HTTP/1.1"), &auth),
            vec![Envelope(404, 1203)],
        ),
        (
            "a dot segment",
            head("GET /v1/audio/../audio/text-to-audio HTTP/1.1", &auth),
            vec![Envelope(404, 1203)],
        ),
        (
            "invalid UTF-8 in Authorization",
            [
                b"GET /v1/audio/text-to-audio HTTP/1.1\r\nAuthorization: Bearer \xff\xfe\r\n"
                    .to_vec(),
                close.as_bytes().to_vec(),
                b"\r\n".to_vec(),
            ]
            .concat(),
            vec![Envelope(401, 1002)],
        ),
        (
            "two Authorization headers, a bad one first",
            head(
                &format!("GET {t2a} HTTP/1.1"),
                &format!("Authorization: Bearer x\r\n{auth}"),
            ),
            vec![Envelope(401, 1002)],
        ),
        (
            "invalid UTF-8 in Content-Type",
            with_body(
                "POST /v1/audio/tts HTTP/1.1",
                &format!("{auth}Content-Type: application/json\u{ff}\r\nContent-Length: 2\r\n"),
                b"{}",
            ),
            vec![Envelope(400, 1200)],
        ),
        (
            "HTTP/1.0 without Host",
            b"GET /__mock/health HTTP/1.0\r\n\r\n".to_vec(),
            vec![Envelope(200, 0)],
        ),
        (
            "bare LF line ends",
            b"GET /__mock/health HTTP/1.1\nHost: mock\nConnection: close\n\n".to_vec(),
            vec![Envelope(200, 0)],
        ),
        (
            "two equal Content-Lengths",
            with_body(
                "POST /v1/audio/tts HTTP/1.1",
                &format!("{auth}{json}Content-Length: 2\r\nContent-Length: 2\r\n"),
                b"[]",
            ),
            vec![Envelope(400, 1200)],
        ),
        (
            "a body shorter than its Content-Length",
            with_body(
                "POST /v1/audio/tts HTTP/1.1",
                &format!("{auth}{json}Content-Length: 100\r\n"),
                b"{\"text\"",
            ),
            vec![Envelope(400, 1200)],
        ),
        (
            "a body longer than its Content-Length",
            with_body(
                "POST /v1/audio/tts HTTP/1.1",
                &format!("{auth}{json}Content-Length: 2\r\n"),
                b"{}GARBAGE\r\n\r\n",
            ),
            vec![Envelope(400, 1201)],
        ),
        (
            "a bad chunk size",
            with_body(
                "POST /v1/audio/tts HTTP/1.1",
                &format!("{auth}{json}Transfer-Encoding: chunked\r\n"),
                b"zz\r\n{}\r\n0\r\n\r\n",
            ),
            vec![Envelope(400, 1200)],
        ),
        (
            "a chunk size that overflows",
            with_body(
                "POST /v1/audio/tts HTTP/1.1",
                &format!("{auth}{json}Transfer-Encoding: chunked\r\n"),
                b"fffffffffffffffffff\r\n{}\r\n0\r\n\r\n",
            ),
            vec![Envelope(400, 1200)],
        ),
        (
            "a chunk shorter than its size",
            with_body(
                "POST /v1/audio/tts HTTP/1.1",
                &format!("{auth}{json}Transfer-Encoding: chunked\r\n"),
                b"10\r\n{}\r\n",
            ),
            vec![Envelope(400, 1200)],
        ),
        // RFC 9112 §6.3: Transfer-Encoding overrides Content-Length; the chunked body is read.
        (
            "chunked and Content-Length together",
            with_body(
                "POST /v1/audio/tts HTTP/1.1",
                &format!("{auth}{json}Transfer-Encoding: chunked\r\nContent-Length: 1\r\n"),
                b"2\r\n[]\r\n0\r\n\r\n",
            ),
            vec![Envelope(400, 1200)],
        ),
        (
            "a valid chunked body with a trailer",
            with_body(
                "POST /v1/audio/tts HTTP/1.1",
                &format!("{auth}{json}Transfer-Encoding: chunked\r\n"),
                b"2;ext=1\r\n[]\r\n0\r\nX-Trailer: 1\r\n\r\n",
            ),
            vec![Envelope(400, 1200)],
        ),
        (
            "a body over the limit",
            with_body(
                "POST /v1/audio/tts HTTP/1.1",
                &format!("{auth}{json}Content-Length: {}\r\n", big.len()),
                &big,
            ),
            vec![Envelope(400, 1200)],
        ),
        (
            "a chunked body over the limit",
            with_body(
                "POST /v1/audio/tts HTTP/1.1",
                &format!("{auth}{json}Transfer-Encoding: chunked\r\n"),
                &[
                    format!("{:x}\r\n", big.len()).into_bytes(),
                    big.clone(),
                    b"\r\n0\r\n\r\n".to_vec(),
                ]
                .concat(),
            ),
            vec![Envelope(400, 1200)],
        ),
        (
            "100-continue over the limit",
            head(
                "POST /v1/audio/tts HTTP/1.1",
                &format!("{auth}{json}Expect: 100-continue\r\nContent-Length: 99999999\r\n"),
            ),
            vec![Envelope(400, 1200)],
        ),
        (
            "a control request without the token",
            head("DELETE /__mock/faults HTTP/1.1", ""),
            vec![Envelope(401, 1000)],
        ),
        (
            "a control request with a public token",
            head("POST /__mock/reset HTTP/1.1", &auth),
            vec![Envelope(401, 1000)],
        ),
        (
            "a kept-alive request, then the end of input",
            b"GET /__mock/health HTTP/1.1\r\nHost: mock\r\n\r\n".to_vec(),
            vec![Envelope(200, 0)],
        ),
        (
            "pipelined requests, the second garbage",
            [
                b"GET /__mock/health HTTP/1.1\r\nHost: mock\r\n\r\n".to_vec(),
                b"GARBAGE\r\n\r\n".to_vec(),
            ]
            .concat(),
            vec![Envelope(200, 0), Bare(400)],
        ),
        (
            "pipelined requests, both valid",
            [
                b"GET /__mock/health HTTP/1.1\r\nHost: mock\r\n\r\n".to_vec(),
                head(&format!("GET {t2a} HTTP/1.1"), &auth),
            ]
            .concat(),
            vec![Envelope(200, 0), Envelope(200, 0)],
        ),
        // Nothing to answer.
        ("an empty connection", Vec::new(), vec![]),
        ("only line ends", b"\r\n\r\n".to_vec(), vec![]),
        (
            "a request head cut short",
            b"GET /v1/audio/tts HTTP/1.1\r\nHost: mo".to_vec(),
            vec![],
        ),
    ];
    let before = snapshot(&state);
    let mut wrong = Vec::new();
    for (name, bytes, want) in &cases {
        let got = exchange(&addr, bytes)
            .await
            .and_then(|raw| parse_wire(&raw));
        if got.as_ref() != Ok(want) {
            wrong.push(format!("{name}: expected {want:?}, got {got:?}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} cases:\n{}",
        wrong.len(),
        cases.len(),
        wrong.join("\n")
    );
    assert_eq!(
        snapshot(&state),
        before,
        "refused requests changed the state"
    );
}

/// The bytes written on one connection (`Debug`: as an escaped string).
#[derive(Clone)]
struct Stream(Vec<u8>);

impl fmt::Debug for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0.escape_ascii().to_string())
    }
}

/// Byte streams that are mostly HTTP/1.1: request lines, headers and bodies with odd bytes in
/// every place, bad framing, pipelining, and now and then pure garbage. No valid Kling token, and
/// the bodies the control token may carry change nothing on a fresh server (a reset, `{}` to the
/// clock), so the state must not move.
fn wire_strategy() -> BoxedStrategy<Stream> {
    let bytes = |n: usize| proptest::collection::vec(any::<u8>(), 0..n);
    let pick =
        |v: Vec<&'static str>| proptest::sample::select(v).prop_map(|s| s.as_bytes().to_vec());
    let method = prop_oneof![
        12 => pick(vec!["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "PROPFIND", "get", "X-Y"]),
        1 => bytes(10),
    ];
    let target = prop_oneof![
        12 => pick(vec![
            "/v1/audio/tts", "/v1/audio/text-to-audio", "/v1/audio/text-to-audio/123",
            "/v1/general/custom-voices?pageNum=0&pageSize=99999999999999999999",
            "/v1/general/presets-voices?pageSize=%FF", "/v1/general/delete-voices",
            "/account/costs?start_time=-1&end_time=1e9", "/files/kling_x.mp3", "/files/%FF",
            "/__mock/health", "/__mock/reset", "/__mock/clock", "/__mock/faults",
            "/__mock/openapi.json", "/__mock/state", "*", "http://h/v1/audio/tts", "//", "/%00",
        ]),
        2 => bytes(40),
        1 => (1usize..20_000).prop_map(|n| {
            let mut v = b"/v1/".to_vec();
            v.resize(n, b'a');
            v
        }),
    ];
    // Each part is well-formed most of the time, so that about half the streams reach the router.
    let version = prop_oneof![
        12 => Just(b"HTTP/1.1".to_vec()),
        1 => pick(vec!["HTTP/1.0", "HTTP/2.0", "HTTP/1.2", "http/1.1", "HTTP/1.1x", ""]),
    ];
    let sp = prop_oneof![
        20 => Just(b" ".to_vec()),
        1 => pick(vec!["  ", "\t", ""]),
    ];
    let eol = prop_oneof![
        20 => Just(b"\r\n".to_vec()),
        1 => pick(vec!["\n", "\r"]),
    ];
    let header = prop_oneof![
        20 => pick(vec![
            "Host: mock", "Authorization: Bearer not.a.token", "Authorization: Bearer hostile-control-token",
            "Authorization: Basic eDp5", "Content-Type: application/json", "Content-Type: text/plain",
            "Content-Length: 2", "Content-Length: 0", "Transfer-Encoding: chunked",
            "Expect: 100-continue", "Connection: close", "Connection: keep-alive", "Upgrade: h2c",
            "Upgrade: websocket", "Connection: upgrade", "X-Empty:", "Host: \u{ff}",
        ]),
        2 => pick(vec![
            ": no-name", "Content-Length: 99999999999999999999", "Content-Length: -5",
            "Content-Length: 2, 3", "Transfer-Encoding: gzip", "Transfer-Encoding: chunked, chunked",
        ]),
        1 => (bytes(12), pick(vec![": ", ":", " : "]), bytes(40))
            .prop_map(|(n, s, v)| [n, s, v].concat()),
        1 => (1usize..100_000).prop_map(|n| [b"X-Long: ".to_vec(), vec![b'l'; n]].concat()),
    ];
    let body = prop_oneof![
        4 => Just(Vec::new()),
        3 => pick(vec!["{}", "[]", "{\"text\":\"hi\",\"voice_id\":\"oversea_male1\"}", "null", "{\"a\":"]),
        2 => pick(vec!["2\r\n{}\r\n0\r\n\r\n", "zz\r\n", "0\r\n\r\n", "5\r\nab\r\n", "ffffffffffffffffffff\r\n"]),
        2 => bytes(300),
    ];
    let request = (
        method,
        sp.clone(),
        target,
        sp,
        version,
        eol.clone(),
        proptest::collection::vec(header, 0..8),
        eol,
        body,
    )
        .prop_map(|(m, s1, t, s2, v, eol, headers, end, body)| {
            let mut out = [m, s1, t, s2, v, eol.clone()].concat();
            for h in headers {
                out.extend(h);
                out.extend(&eol);
            }
            out.extend(end);
            out.extend(body);
            out
        });
    prop_oneof![
        12 => proptest::collection::vec(request, 1..=3).prop_map(|r| r.concat()),
        1 => bytes(600),
    ]
    .prop_map(Stream)
    .boxed()
}

#[test]
fn random_bytes_on_the_wire_get_a_bare_4xx_or_the_envelope_and_change_nothing() {
    let cases = env_count("KLING_HOSTILE_WIRE_CASES", 400);
    let seed = std::env::var("KLING_HOSTILE_SEED")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or_else(rand::random);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (addr, state) = rt.block_on(wire_server());
    let before = snapshot(&state);
    let answers = RefCell::new(BTreeMap::<String, u64>::new());
    let mut runner = TestRunner::new(RunnerConfig {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        rng_algorithm: RngAlgorithm::XorShift,
        failure_persistence: None,
        max_shrink_iters: 1_000,
        ..RunnerConfig::default()
    });
    let started = Instant::now();
    let result = runner.run(&wire_strategy(), |Stream(bytes)| {
        let raw = rt
            .block_on(exchange(&addr, &bytes))
            .map_err(TestCaseError::fail)?;
        let got = parse_wire(&raw).map_err(TestCaseError::fail)?;
        for w in &got {
            let ok = match *w {
                Wire::Bare(s) => (400..500).contains(&s),
                Wire::Envelope(s, _) | Wire::Head(s) | Wire::Cut(s) => s < 500,
                Wire::Raw => true,
            };
            prop_assert!(ok, "{w:?} in {got:?}");
            *answers.borrow_mut().entry(format!("{w:?}")).or_default() += 1;
        }
        // The server lives on, and nothing a refused request sent changed its state.
        let health = rt
            .block_on(exchange(
                &addr,
                b"GET /__mock/health HTTP/1.1\r\nHost: m\r\n\r\n",
            ))
            .and_then(|raw| parse_wire(&raw));
        prop_assert_eq!(health, Ok(vec![Wire::Envelope(200, 0)]));
        let after = snapshot(&state);
        prop_assert!(
            after == before,
            "the state changed:\n{}",
            diff(&before, &after)
        );
        Ok(())
    });
    let took = started.elapsed();
    println!(
        "hostile (wire): {cases} byte streams in {:.1} s ({:.0}/s), seed {seed}; answers {:?}",
        took.as_secs_f64(),
        cases as f64 / took.as_secs_f64(),
        answers.borrow(),
    );
    if let Err(e) = result {
        panic!("{e}\nreplay: KLING_HOSTILE_SEED={seed} KLING_HOSTILE_WIRE_CASES={cases}");
    }
}

// ---------------------------------------------------------------------------------------------
// What the fuzzer found, pinned
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_refused_clock_request_leaves_the_clock_alone() {
    let app = crate::helpers::spawn_app().await;
    let before = app.ctl_get("/__mock/clock").await.ok()["now_ms"].clone();
    for body in [
        json!({"set_ms": 1, "advance": "10000000000000y"}),
        json!({"mode": "real", "advance_ms": -5}),
        json!({"set_ms": 1, "mode": "paused"}),
    ] {
        app.ctl_post("/__mock/clock", body).await.err(400, 1201);
        let now = app.ctl_get("/__mock/clock").await;
        assert_eq!(now.ok()["now_ms"], before);
        assert_eq!(now.ok()["mode"], "frozen");
    }
}

#[tokio::test]
async fn extreme_clock_times_never_panic_and_ids_stay_unique() {
    let app = crate::helpers::spawn_app().await;
    // A running clock set to the far past stays in the far past (no overflow into the future).
    let a = app
        .ctl_post("/__mock/clock", json!({"mode": "real", "set_ms": i64::MIN}))
        .await;
    assert!(a.ok()["now_ms"].as_i64().unwrap() < 0, "{a:?}");
    // Resuming a clock frozen at the far past.
    app.ctl_post(
        "/__mock/clock",
        json!({"mode": "frozen", "set_ms": i64::MIN}),
    )
    .await
    .ok();
    app.ctl_post("/__mock/clock", json!({"mode": "real"}))
        .await
        .ok();
    // At the end of time, with a pack that never expires, ids still differ.
    app.ctl_put(
        &format!("/__mock/accounts/{AK}"),
        json!({"packs": [{"name": "forever", "total": 1000, "invalid_ms": i64::MAX}]}),
    )
    .await
    .ok();
    // (At i64::MAX itself the pack has expired: `now >= invalid_ms`.)
    app.ctl_post(
        "/__mock/clock",
        json!({"mode": "frozen", "set_ms": i64::MAX - 1}),
    )
    .await
    .ok();
    let mut ids = BTreeSet::new();
    for _ in 0..3 {
        let body = json!({"text": "hi", "voice_id": "oversea_male1", "voice_language": "en"});
        let a = app.post("/v1/audio/tts", body).await;
        let data = a.ok();
        ids.insert(data["task_id"].as_str().unwrap().to_string());
        ids.insert(
            data["task_result"]["audios"][0]["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(ids.len(), 6, "{ids:?}");
}
