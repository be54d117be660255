//! Hostile input: generated requests (see `mod.rs`).

use super::*;

/// One generated request. Its `Debug` is what a failure prints after shrinking.
#[derive(Clone)]
pub(super) struct Hostile {
    pub(super) method: String,
    pub(super) target: String,
    pub(super) headers: Vec<(String, Vec<u8>)>,
    /// What the first `Authorization` header means on a Kling route (`None`: no header).
    pub(super) auth: Option<AuthClass>,
    pub(super) body: Vec<u8>,
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
    pub(super) fn request(&self) -> Request<Body> {
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

    pub(super) fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    pub(super) fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }
}

pub(super) const ODD_METHODS: &[&str] = &[
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
pub(super) fn target_safe(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/%".contains(&b)
}

pub(super) fn encode_target(raw: &[u8]) -> String {
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
pub(super) fn param_strategy() -> BoxedStrategy<Vec<u8>> {
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
pub(super) fn path_strategy(template: &'static str) -> BoxedStrategy<Vec<u8>> {
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
pub(super) fn query_strategy() -> BoxedStrategy<Option<Vec<u8>>> {
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
pub(super) fn json_strategy() -> BoxedStrategy<Vec<u8>> {
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
pub(super) fn shaped_strategy(template: &str) -> BoxedStrategy<Vec<u8>> {
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
pub(super) fn body_strategy(template: &str) -> BoxedStrategy<Vec<u8>> {
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
pub(super) fn content_type_strategy() -> BoxedStrategy<Vec<u8>> {
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
pub(super) enum Length {
    None,
    Right,
    Off(i8),
    Text(&'static str),
    Twice,
}

pub(super) fn length_strategy() -> BoxedStrategy<Length> {
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
pub(super) fn extra_headers_strategy() -> BoxedStrategy<Vec<(String, Vec<u8>)>> {
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
pub(super) fn header_value(mut v: Vec<u8>) -> Vec<u8> {
    for b in &mut v {
        if (*b < 0x20 && *b != b'\t') || *b == 0x7f {
            *b = b'?';
        }
    }
    v
}

/// Requests aimed at one route (with the wrong method now and then).
pub(super) fn route_strategy(
    route: &Route,
    auths: &[(Vec<u8>, AuthClass)],
) -> BoxedStrategy<Hostile> {
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
pub(super) fn stray_strategy() -> BoxedStrategy<Hostile> {
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

pub(super) fn request_strategy(
    routes: &[Route],
    auths: &[(Vec<u8>, AuthClass)],
) -> BoxedStrategy<Hostile> {
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
