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
pub(super) fn match_route<'a>(routes: &'a [Route], path: &str) -> Option<&'a Route> {
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
pub(super) fn body_fields(template: &str) -> &'static [(&'static str, &'static [&'static str])] {
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
