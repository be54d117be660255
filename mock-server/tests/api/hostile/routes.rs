//! Hostile input: routes (see `mod.rs`).

use super::*;

/// Who answers a route, and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Plane {
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
pub(super) struct Route {
    pub(super) template: &'static str,
    pub(super) methods: Vec<&'static str>,
    pub(super) plane: Plane,
}

pub(super) fn routes() -> Vec<Route> {
    let mut by_path: BTreeMap<&'static str, Vec<&'static str>> = BTreeMap::new();
    for (m, p) in kling_mock::api::routes()
        .iter()
        .chain(kling_mock::api::control::ROUTES)
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

/// The route `path` (raw, as the router sees it: not percent-decoded, doubled slashes
/// collapsed) falls on.
pub(super) fn match_route<'a>(routes: &'a [Route], path: &str) -> Option<&'a Route> {
    let mut clean = String::with_capacity(path.len());
    for c in path.chars() {
        if !(c == '/' && clean.ends_with('/')) {
            clean.push(c);
        }
    }
    let segs: Vec<&str> = clean.split('/').collect();
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

/// The contract oracle (`fixtures/contract/endpoints.json`): the Kling endpoints and their body
/// fields come from it, so a new family's routes get hostile bodies with no table here.
const ORACLE: &str = include_str!("../../../../fixtures/contract/endpoints.json");
/// The official TTS voices, for valid `voice_id`s.
const TTS_VOICES: &str = include_str!("../../../../fixtures/tts-voices.json");

/// `external_task_id` values: fresh, taken by a seeded task (`~~K4~~`), empty, null.
const EXT: &[&str] = &[
    "\"ext-1\"",
    "\"ext-2\"",
    "\"~~K4~~\"",
    "\"~~K6~~\"",
    "\"\"",
    "null",
];
/// `callback_url` values: empty, a closed local port, null.
const CALLBACK: &[&str] = &["\"\"", "\"http://127.0.0.1:9/hook\"", "null"];

/// Field names and valid or boundary values (JSON texts) of a route's body, so that generated
/// bodies often reach validation and are sometimes accepted: for a Kling endpoint, from the
/// oracle's field rules; for the control plane, from [`control_fields`].
pub(super) fn body_fields(template: &str) -> Vec<(String, Vec<String>)> {
    let oracle: Value = serde_json::from_str(ORACLE).expect("endpoints.json");
    let endpoint = oracle["endpoints"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(_, e)| e)
        .find(|e| e["method"] == "POST" && e["path"] == template);
    match endpoint {
        Some(e) => e["fields"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| {
                (
                    f["name"].as_str().unwrap_or("").to_string(),
                    field_values(e, f),
                )
            })
            .collect(),
        None => control_fields(template)
            .iter()
            .map(|(n, vs)| (n.to_string(), vs.iter().map(|v| v.to_string()).collect()))
            .collect(),
    }
}

/// Values of one oracle field: valid ones and the documented boundaries (a rule's last valid and
/// first invalid value), plus what the harness's seeded state makes interesting.
fn field_values(endpoint: &Value, f: &Value) -> Vec<String> {
    let name = f["name"].as_str().unwrap_or("");
    let q = |s: &str| serde_json::to_string(s).unwrap();
    match name {
        "external_task_id" => return EXT.iter().map(|s| s.to_string()).collect(),
        "callback_url" => return CALLBACK.iter().map(|s| s.to_string()).collect(),
        _ => {}
    }
    if endpoint["destructive"] == true {
        // What a delete names: the seeded custom voice and a voice of the other account.
        return vec![q("~~K3~~"), q("~~K7~~"), q("x")];
    }
    if endpoint["voice_catalogue"].is_string() && name == "voice_id" {
        let voices: Vec<Value> = serde_json::from_str(TTS_VOICES).expect("tts-voices.json");
        let first = |lang: &str| {
            voices
                .iter()
                .find(|v| v["voice_language"] == lang)
                .and_then(|v| v["voice_id"].as_str())
                .map(q)
        };
        return ["en", "zh"].into_iter().filter_map(first).collect();
    }
    let mut out = Vec::new();
    if let Some(values) = f["enum"].as_array() {
        out.extend(values.iter().map(|v| v.to_string()));
        out.push(q("zz"));
        return out;
    }
    if f["type"] == "number" {
        let (min, max) = (
            f["min"].as_f64().unwrap_or(0.0),
            f["max"].as_f64().unwrap_or(100.0),
        );
        out.extend([min, max, (min + max) / 2.0].map(|v| v.to_string()));
        out.push(format!("{max:.1}"));
        if let Some(d) = f["decimals"].as_u64() {
            // One decimal place more than allowed.
            out.push(format!(
                "{:.*}",
                d as usize + 1,
                min + 10f64.powi(-(d as i32 + 1)) * 5.0
            ));
        }
        out.push((max * 10.0).to_string());
        return out;
    }
    if let Some(exts) = f["url_extensions"].as_array() {
        let ext = |i: usize| {
            exts.get(i)
                .or(exts.first())
                .and_then(Value::as_str)
                .unwrap_or("mp3")
        };
        return vec![
            q(&format!("https://example.com/sample.{}", ext(0))),
            q(&format!("http://x.test/a.{}", ext(1))),
        ];
    }
    // A plain string: short, in Chinese, and at and over its length limit.
    out.extend([q("rain"), q("你好，世界")]);
    if let Some(max) = f["max_chars"].as_u64() {
        out.push(q(&"a".repeat(max as usize)));
        out.push(q(&"语".repeat(max as usize + 1)));
    }
    if f["required"] != true {
        out.extend([q(""), q("930801301486305328")]);
    }
    out
}

/// Field names and values (JSON texts) of the control plane's bodies.
fn control_fields(template: &str) -> &'static [(&'static str, &'static [&'static str])] {
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
