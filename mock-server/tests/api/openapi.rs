//! `GET /__mock/openapi.json` against the router, both ways, and the document's structure.
//!
//! axum's `Router` cannot list its routes, so the route list is made inspectable and then
//! checked from three sides, none of which trusts another:
//!
//! 1. **Lists**: `kling_mock::api::routes()` and `kling_mock::api::control::ROUTES` name every
//!    (method, path) the router serves. The document must hold exactly these operations, and
//!    these only ([`document_and_route_lists_agree`]).
//! 2. **Source**: every `.route("PATH", METHOD(..).METHOD(..))` call in `mock-server/src` (outside
//!    `#[cfg(test)]` modules) is parsed out of the source text, and the registry's routes
//!    (`api/tasks.rs`, one `.route` over `api::tasks::registry_routes()`) are added; the set must
//!    equal the lists
//!    ([`route_calls_in_the_source_match_the_lists`]). So a route added to a router but
//!    forgotten in the lists (hence in the document) fails here. A routing form this parser does
//!    not understand (`route_service`, `nest`, `any(..)`, a path that is not a literal, ...) fails
//!    the test instead of being skipped.
//! 3. **Live router**: every documented operation is requested on a running app (path
//!    parameters filled with a dummy value) and must not be the router's fallback (404 / 1203
//!    "No such endpoint") nor its wrong-method answer (404 / 1202); and on every documented path
//!    every other method must be that 1202, so the method sets are exact at runtime too
//!    ([`every_documented_operation_is_routed_and_no_other_method_is`]).
//!
//! HEAD (answered by axum for every GET route) and OPTIONS are not documented and not probed.

use crate::helpers::spawn_app;
use kling_mock::Code;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

type Route = (String, String);

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn document() -> Value {
    kling_mock::openapi::document()
}

/// (METHOD, path) of every operation of the document.
fn documented(doc: &Value) -> BTreeSet<Route> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (key, _) in item.as_object().expect("path item") {
            if METHODS.contains(&key.as_str()) {
                out.insert((key.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    out
}

fn listed() -> BTreeSet<Route> {
    let own = kling_mock::api::routes();
    let all: Vec<&(&str, &str)> = own.iter().chain(kling_mock::api::control::ROUTES).collect();
    let set: BTreeSet<Route> = all
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(set.len(), all.len(), "a route is listed twice");
    set
}

#[test]
fn document_and_route_lists_agree() {
    let doc = document();
    let documented = documented(&doc);
    let listed = listed();
    let undocumented: Vec<_> = listed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&listed).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from the OpenAPI document: {undocumented:?}"
    );
    assert!(
        unrouted.is_empty(),
        "documented operations that are not in api::routes() / api::control::ROUTES: {unrouted:?}"
    );
}

// ---- Source scan -------------------------------------------------------------------------

fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The source without its `#[cfg(test)] mod ...` (unit tests build throwaway routers).
fn without_test_module(src: &str) -> &str {
    match src.find("\n#[cfg(test)]\nmod ") {
        Some(i) => &src[..i],
        None => src,
    }
}

/// `src` with its comments blanked out (doc comments mention `.route(..)` too), string and
/// character literals kept.
fn without_comments(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                let end = skip_string(b, i).min(b.len());
                out.extend_from_slice(&b[i..end]);
                i = end;
            }
            // A character literal such as '"' or '\'' (a lifetime `'a` is copied as is).
            b'\'' if b.get(i + 2) == Some(&b'\'') || b.get(i + 1) == Some(&b'\\') => {
                let end = b[i + 2..]
                    .iter()
                    .position(|&c| c == b'\'')
                    .map_or(b.len(), |p| i + 2 + p + 1);
                out.extend_from_slice(&b[i..end]);
                i = end;
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let end = src[i + 2..].find("*/").map_or(b.len(), |p| i + 2 + p + 2);
                out.push(b' ');
                i = end;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).expect("comments end at ASCII boundaries")
}

/// Skip a string literal starting at `i` (at the opening quote); the index after it.
fn skip_string(b: &[u8], mut i: usize) -> usize {
    i += 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    i
}

/// Every (METHOD, path) of the `.route(..)` calls of `src`; `Err` for a form it cannot read.
fn route_calls(file: &str, src: &str) -> Result<Vec<Route>, String> {
    for unsupported in [".route_service(", ".nest(", ".nest_service("] {
        if src.contains(unsupported) {
            return Err(format!(
                "{file}: `{unsupported}` is not understood by this scan: extend it"
            ));
        }
    }
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = src[from..].find(".route(") {
        let mut i = from + at + ".route(".len();
        from = i;
        while b[i].is_ascii_whitespace() {
            i += 1;
        }
        if b[i] != b'"' {
            return Err(format!(
                "{file}: a .route( whose path is not a string literal, near {:?}",
                &src[i..(i + 40).min(src.len())]
            ));
        }
        let end = skip_string(b, i);
        let path = src[i + 1..end - 1].to_string();
        i = end;
        while b[i].is_ascii_whitespace() || b[i] == b',' {
            i += 1;
        }
        // The method router: `a(..).b(..)`, where only the depth-0 calls name methods.
        let mut depth = 0usize;
        let mut methods = Vec::new();
        while i < b.len() {
            match b[i] {
                b'"' => {
                    i = skip_string(b, i);
                    continue;
                }
                b'(' | b'[' | b'{' => depth += 1,
                b')' | b']' | b'}' if depth == 0 => break,
                b')' | b']' | b'}' => depth -= 1,
                c if depth == 0 && (c.is_ascii_alphabetic() || c == b'_') => {
                    let start = i;
                    while i < b.len() && (b[i].is_ascii_alphanumeric() || b"_:".contains(&b[i])) {
                        i += 1;
                    }
                    let ident = &src[start..i];
                    let name = ident.rsplit("::").next().unwrap_or(ident);
                    if b.get(i) == Some(&b'(') {
                        if METHODS.contains(&name) {
                            methods.push(name.to_ascii_uppercase());
                        } else {
                            return Err(format!(
                                "{file}: route {path}: `{ident}(..)` is not a method this scan knows"
                            ));
                        }
                    }
                    continue;
                }
                _ => {}
            }
            i += 1;
        }
        if methods.is_empty() {
            return Err(format!("{file}: route {path}: no method found"));
        }
        out.extend(methods.into_iter().map(|m| (m, path.clone())));
    }
    Ok(out)
}

#[test]
fn the_route_scan_reads_every_form_the_sources_use() {
    let src = r#"
        Router::new()
            .route("/a", get(h))
            .route(
                "/b/{id}",
                post(m::create).get(m::list).delete(|| async { "x)" }),
            )
            .route("/c", axum::routing::put(f))
            .route_layer(x)
    "#;
    let got = route_calls("t", src).unwrap();
    let want: Vec<Route> = [
        ("GET", "/a"),
        ("POST", "/b/{id}"),
        ("GET", "/b/{id}"),
        ("DELETE", "/b/{id}"),
        ("PUT", "/c"),
    ]
    .iter()
    .map(|(m, p)| (m.to_string(), p.to_string()))
    .collect();
    assert_eq!(got, want);
    assert!(route_calls("t", r#".route("/a", any(h))"#).is_err());
    assert!(route_calls("t", r#".route(PATH, get(h))"#).is_err());
    assert!(route_calls("t", r#".nest("/x", r)"#).is_err());
    let commented = "// see `.route(..)`\n/* .route(X, y) */ let s = \"// not a comment\"; .route(\"/d\", get(h))";
    assert_eq!(
        route_calls("t", &without_comments(commented)).unwrap(),
        [("GET".to_string(), "/d".to_string())]
    );
}

#[test]
fn route_calls_in_the_source_match_the_lists() {
    let src_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src_dir, &mut files);
    files.sort();
    let mut found: BTreeMap<Route, String> = BTreeMap::new();
    for f in &files {
        let text = std::fs::read_to_string(f).expect("read source");
        let name = f.strip_prefix(&src_dir).unwrap_or(f).display().to_string();
        let code = without_comments(without_test_module(&text));
        // The registry's router routes every kind from one list that the route list is made
        // from too (`api::tasks::registry_routes`): its one `.route(path, ..)` takes its paths
        // from there.
        let routes = if name == "api/tasks.rs" {
            assert_eq!(
                code.matches(".route(").count(),
                1,
                "api/tasks.rs routes only the registry's list"
            );
            kling_mock::api::tasks::registry_routes()
                .into_iter()
                .map(|(m, p, _, _)| (m.to_string(), p.to_string()))
                .collect()
        } else {
            route_calls(&name, &code).unwrap_or_else(|e| panic!("{e}"))
        };
        for r in routes {
            if let Some(other) = found.insert(r.clone(), name.clone()) {
                panic!("{r:?} is routed twice ({other}, {name})");
            }
        }
    }
    let in_source: BTreeSet<Route> = found.keys().cloned().collect();
    let listed = listed();
    let unlisted: Vec<_> = in_source
        .difference(&listed)
        .map(|r| (r, &found[r]))
        .collect();
    let phantom: Vec<_> = listed.difference(&in_source).collect();
    assert!(
        unlisted.is_empty(),
        "routes of the source missing from api::routes() / api::control::ROUTES (and so from the \
         OpenAPI document): {unlisted:?}"
    );
    assert!(
        phantom.is_empty(),
        "listed routes no .route(..) call serves: {phantom:?}"
    );
}

// ---- Live router -------------------------------------------------------------------------

/// `path` with every `{param}` replaced by a dummy value.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|s| {
            if s.starts_with('{') && s.ends_with('}') {
                "dummy-value"
            } else {
                s
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn every_documented_operation_is_routed_and_no_other_method_is() {
    let app = spawn_app().await;
    let doc = document();
    let documented = documented(&doc);
    let paths: BTreeSet<&String> = documented.iter().map(|(_, p)| p).collect();
    let probe = ["GET", "POST", "PUT", "DELETE", "PATCH"];
    let mut failures = Vec::new();
    for path in paths {
        let url = app.url(&concrete(path));
        for method in probe {
            let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            let resp = app.client.request(m, &url).send().await.expect("request");
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            let code = body["code"].as_u64();
            let message = body["message"].as_str().unwrap_or("");
            let no_endpoint =
                status == 404 && code == Some(1203) && message.starts_with("No such endpoint");
            let wrong_method = status == 404
                && code == Some(1202)
                && message.starts_with(&format!("Method {method} is not supported"));
            let is_documented = documented.contains(&(method.to_string(), path.clone()));
            if is_documented && (no_endpoint || wrong_method) {
                failures.push(format!(
                    "documented but not routed: {method} {path} -> {status} {body}"
                ));
            }
            if !is_documented && !wrong_method {
                failures.push(format!(
                    "routed but not documented (expected 404 / 1202): {method} {path} -> {status} {body}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn the_document_is_served_raw_without_the_envelope() {
    let app = spawn_app().await;
    let resp = app
        .client
        .get(app.url("/__mock/openapi.json"))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    let served: Value = resp.json().await.expect("JSON");
    assert!(
        served.get("request_id").is_none() && served.get("data").is_none(),
        "the document must not be wrapped in the Kling envelope"
    );
    assert_eq!(served, document());
    assert_eq!(served["openapi"], "3.1.0");
    assert_eq!(served["info"]["version"], env!("CARGO_PKG_VERSION"));
}

// ---- Structure ---------------------------------------------------------------------------

/// The value `pointer` (`#/a/b`) names inside `doc`.
fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    let pointer = reference.strip_prefix('#')?;
    // JSON pointers escape `~` and `/`; the document's keys use neither, but decode anyway.
    let decoded: Vec<String> = pointer
        .split('/')
        .skip(1)
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect();
    decoded.iter().try_fold(doc, |v, k| v.get(k))
}

fn collect_refs<'a>(v: &'a Value, at: String, out: &mut Vec<(String, &'a str)>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "$ref" {
                    out.push((at.clone(), x.as_str().unwrap_or("<not a string>")));
                } else {
                    collect_refs(x, format!("{at}/{k}"), out);
                }
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                collect_refs(x, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// A response object, following one `$ref`.
fn response<'a>(doc: &'a Value, r: &'a Value) -> &'a Value {
    match r.get("$ref").and_then(Value::as_str) {
        Some(reference) => resolve(doc, reference).expect("resolvable"),
        None => r,
    }
}

#[test]
fn the_document_is_structurally_valid_openapi_3_1() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["title"], "kling-mock");
    assert!(
        doc["info"]["version"]
            .as_str()
            .is_some_and(|v| !v.is_empty())
    );

    // Every $ref resolves inside the document.
    let mut refs = Vec::new();
    collect_refs(&doc, "#".into(), &mut refs);
    assert!(!refs.is_empty());
    for (at, r) in &refs {
        assert!(
            r.starts_with("#/") && resolve(&doc, r).is_some(),
            "{at}: $ref {r} does not resolve"
        );
    }

    let schemes = doc["components"]["securitySchemes"]
        .as_object()
        .expect("security schemes");
    let tags: BTreeSet<&str> = doc["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    let mut ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        assert!(path.starts_with('/'), "{path}");
        let templated: BTreeSet<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        for (method, op) in item.as_object().expect("path item") {
            assert!(METHODS.contains(&method.as_str()), "{path}: key {method}");
            let here = format!("{method} {path}");
            assert!(
                ids.insert(op["operationId"].as_str().expect("operationId")),
                "{here}: duplicate operationId"
            );
            for t in op["tags"].as_array().expect("tags") {
                assert!(tags.contains(t.as_str().unwrap_or("")), "{here}: tag {t}");
            }
            // Path parameters: exactly the template's, each required.
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            let declared: BTreeSet<&str> = params
                .iter()
                .filter(|p| p["in"] == "path")
                .map(|p| {
                    assert_eq!(p["required"], true, "{here}: {p}");
                    p["name"].as_str().expect("name")
                })
                .collect();
            assert_eq!(declared, templated, "{here}: path parameters");
            for p in &params {
                assert!(
                    ["query", "path", "header", "cookie"].contains(&p["in"].as_str().unwrap_or("")),
                    "{here}: {p}"
                );
                assert!(p["schema"].is_object(), "{here}: {p}");
            }
            // Security: only the Kling paths need the JWT.
            let kling = path.starts_with("/v1/") || path == "/account/costs";
            let jwt = op["security"]
                .as_array()
                .is_some_and(|a| a.iter().any(|s| s.get("bearerAuth").is_some()));
            assert_eq!(jwt, kling, "{here}: bearerAuth");
            for req in op["security"].as_array().into_iter().flatten() {
                for name in req.as_object().expect("requirement").keys() {
                    assert!(schemes.contains_key(name), "{here}: scheme {name}");
                }
            }
            // Responses: a 200, and each status a valid code with a description.
            let responses = op["responses"].as_object().expect("responses");
            assert!(responses.contains_key("200"), "{here}: no 200");
            for (status, r) in responses {
                let n: u16 = status.parse().expect("numeric status");
                assert!((100..600).contains(&n), "{here}: {status}");
                let r = response(&doc, r);
                assert!(r["description"].is_string(), "{here} {status}: description");
            }
        }
    }
}

/// Every public (non-control) operation can answer every status of the error table, each error
/// response names the codes of the table for that status, and the schema agrees.
#[test]
fn error_responses_follow_the_error_table() {
    let doc = document();
    let mut by_status: BTreeMap<u16, Vec<u64>> = BTreeMap::new();
    for c in Code::ALL {
        by_status
            .entry(c.status().as_u16())
            .or_default()
            .push(c.number().into());
    }
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let here = format!("{method} {path}");
            let responses = op["responses"].as_object().unwrap();
            let faultable = !path.starts_with("/__mock/");
            for (status, codes) in &by_status {
                let Some(r) = responses.get(&status.to_string()) else {
                    assert!(!faultable, "{here}: no {status} response");
                    continue;
                };
                let r = response(&doc, r);
                let listed: Vec<u64> = r["x-kling-codes"]
                    .as_array()
                    .unwrap_or_else(|| panic!("{here} {status}: x-kling-codes"))
                    .iter()
                    .map(|c| c.as_u64().unwrap())
                    .collect();
                if faultable {
                    assert_eq!(&listed, codes, "{here} {status}");
                } else {
                    assert!(listed.iter().all(|c| codes.contains(c)), "{here} {status}");
                }
                for cause in r["x-kling-causes"].as_array().into_iter().flatten() {
                    assert!(
                        listed.contains(&cause["code"].as_u64().unwrap()),
                        "{here} {status}: {cause}"
                    );
                }
                let schema = resolve(
                    &doc,
                    r["content"]["application/json"]["schema"]["$ref"]
                        .as_str()
                        .unwrap(),
                )
                .unwrap();
                let allowed: Vec<u64> = schema["properties"]["code"]["enum"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c.as_u64().unwrap())
                    .collect();
                assert_eq!(&allowed, codes, "{here} {status}: schema");
            }
        }
    }
    // The request rules quote the validators' limits.
    let schemas = &doc["components"]["schemas"];
    let props = |s: &str| &schemas[s]["properties"];
    assert_eq!(
        props("CreateCustomVoiceRequest")["voice_name"]["maxLength"],
        20
    );
    assert_eq!(props("TtsRequest")["text"]["maxLength"], 1000);
    assert_eq!(props("TextToAudioRequest")["prompt"]["maxLength"], 200);
    assert_eq!(props("TextToAudioRequest")["duration"]["minimum"], 3.0);
    assert_eq!(props("TextToAudioRequest")["duration"]["maximum"], 10.0);
    assert_eq!(props("TtsRequest")["voice_speed"]["minimum"], 0.8);
    assert_eq!(props("TtsRequest")["voice_speed"]["maximum"], 2.0);
}

/// A 3.1-aware parser (the `oas3` crate) reads the document, finds every operation and resolves
/// every response.
#[test]
fn an_openapi_3_1_parser_reads_the_document() {
    let text = serde_json::to_string(&document()).unwrap();
    let spec = oas3::from_json(&text).expect("oas3 parses the document");
    assert_eq!(spec.openapi, "3.1.0");
    let mut seen = BTreeSet::new();
    for (path, method, op) in spec.operations() {
        seen.insert((method.as_str().to_string(), path.clone()));
        let responses = op.responses.as_ref().expect("responses");
        assert!(!responses.is_empty(), "{method} {path}");
        for (status, r) in responses {
            r.resolve(&spec)
                .unwrap_or_else(|e| panic!("{method} {path} {status}: {e}"));
        }
        if let Some(body) = &op.request_body {
            body.resolve(&spec)
                .unwrap_or_else(|e| panic!("{method} {path} body: {e}"));
        }
    }
    assert_eq!(seen, listed());
}

/// ENDPOINTS.md at the repository root is the OpenAPI document rendered by
/// `kling_mock::openapi::reference::markdown`: a field, rule or error changed in the code
/// changes the reference, and this fails until the file is regenerated
/// (`KLING_MOCK_BLESS=1 cargo test -p kling-mock --test api openapi`).
#[test]
fn the_endpoint_reference_is_generated_from_the_document() {
    let doc = kling_mock::openapi::document();
    let fresh = kling_mock::openapi::reference::markdown(&doc);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ENDPOINTS.md");
    if std::env::var_os("KLING_MOCK_BLESS").is_some() {
        std::fs::write(&path, &fresh).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "ENDPOINTS.md is not what the OpenAPI document renders to; regenerate it with \
         KLING_MOCK_BLESS=1 cargo test -p kling-mock --test api openapi"
    );
    // What a reader looks for is there: each public path, its fields with their rules.
    for needle in [
        "### `POST /v1/audio/text-to-audio`",
        "| `duration` | number | yes | 3–10; a multiple of 0.1 |",
        "| `voice_name` | string | yes | 1–20 characters;",
        "### `GET /v1/general/custom-voices/{id}`",
        "| `pageSize` | query | integer | no | 1–500; default `30` |",
        "`task_result.audios[].url_wav`",
    ] {
        assert!(fresh.contains(needle), "the reference lacks {needle:?}");
    }
}
