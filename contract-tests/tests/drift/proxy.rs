//! A forwarding HTTP proxy between the harness and the mock that breaks the answers in one way
//! (a [`Mutation`]). Everything else passes through untouched: method, path and query, headers
//! (`Authorization` included), body, and the mock's status, headers and bytes.

use crate::mutations::{Answer, Call, Memory, Mutation};
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::runtime::Runtime;

/// Path of the callback relay (never a Kling path).
const RELAY_PATH: &str = "/__drift/callback-relay";

/// Headers that belong to one hop and are not forwarded.
const HOP_HEADERS: [header::HeaderName; 4] = [
    header::HOST,
    header::CONTENT_LENGTH,
    header::CONNECTION,
    header::TRANSFER_ENCODING,
];

struct Proxy {
    upstream: String,
    /// The proxy's own base URL (media URLs in answers are pointed at it).
    base: String,
    relay: String,
    mutation: Mutation,
    memory: Mutex<Memory>,
    http: reqwest::Client,
}

/// Start a proxy to `upstream` on 127.0.0.1 (any port) on `rt`; its base URL.
pub fn start(rt: &Arc<Runtime>, upstream: String, mutation: Mutation) -> String {
    let listener = rt
        .block_on(tokio::net::TcpListener::bind(("127.0.0.1", 0)))
        .expect("the proxy binds 127.0.0.1:0");
    let base = format!("http://{}", listener.local_addr().expect("a bound address"));
    let proxy = Arc::new(Proxy {
        upstream: upstream.trim_end_matches('/').to_string(),
        base: base.clone(),
        relay: format!("{base}{RELAY_PATH}"),
        mutation,
        memory: Mutex::default(),
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client"),
    });
    let app = axum::Router::new()
        .route(RELAY_PATH, axum::routing::post(relay))
        .fallback(forward)
        .with_state(proxy);
    rt.spawn(async move { axum::serve(listener, app).await });
    base
}

/// The JWT `iss` of a `Bearer` header (unverified: only to tell accounts apart).
fn account(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let token = value.split_whitespace().nth(1)?;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    claims["iss"].as_str().map(str::to_string)
}

fn bad_gateway(e: impl std::fmt::Display) -> Response {
    (StatusCode::BAD_GATEWAY, format!("drift proxy: {e}")).into_response()
}

async fn forward(
    State(p): State<Arc<Proxy>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let call = Call {
        method: method.as_str().to_string(),
        path: uri.path().to_string(),
        account: account(&headers),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    };
    let mut sent = body.clone();
    if let Ok(mut json) = serde_json::from_slice::<Value>(&body) {
        let before = json.clone();
        p.mutation.on_request(&call, &mut json, &p.relay);
        if json != before {
            sent = Bytes::from(json.to_string());
        }
    }
    let path_and_query = uri.path_and_query().map_or("/", |pq| pq.as_str());
    let mut req = p
        .http
        .request(method, format!("{}{path_and_query}", p.upstream));
    for (name, value) in &headers {
        if !HOP_HEADERS.contains(name) {
            req = req.header(name, value);
        }
    }
    let resp = match req.body(sent).send().await {
        Ok(r) => r,
        Err(e) => return bad_gateway(e),
    };
    let status = resp.status();
    let mut out_headers = resp.headers().clone();
    let bytes = match resp.bytes().await {
        Ok(b) => b,
        Err(e) => return bad_gateway(e),
    };
    let mut out_status = status;
    let mut out_body = bytes.clone();
    if status.is_success() {
        let mutation = p.mutation;
        let call2 = call.clone();
        let original = bytes.clone();
        // ffmpeg runs outside the async workers.
        if let Ok(Some(changed)) =
            tokio::task::spawn_blocking(move || mutation.on_file(&call2, &original)).await
        {
            out_body = Bytes::from(changed);
        }
    }
    if let Ok(mut json) = serde_json::from_slice::<Value>(&bytes) {
        // Media URLs in answers name the mock: they are pointed at the proxy, so that file
        // downloads pass through it too.
        if p.mutation.changes_files() {
            let text = json.to_string().replace(&p.upstream, &p.base);
            json = serde_json::from_str(&text).unwrap_or(json);
            out_body = Bytes::from(json.to_string());
        }
        let original = Answer {
            status: status.as_u16(),
            body: json,
        };
        let mut answer = original.clone();
        {
            let mut memory = p.memory.lock().unwrap_or_else(|e| e.into_inner());
            p.mutation.on_answer(&call, &mut answer, &mut memory);
        }
        if answer != original {
            out_status = StatusCode::from_u16(answer.status).unwrap_or(status);
            out_body = Bytes::from(answer.body.to_string());
        }
    }
    for name in &HOP_HEADERS {
        out_headers.remove(name);
    }
    let mut response = Response::new(axum::body::Body::from(out_body));
    *response.status_mut() = out_status;
    *response.headers_mut() = out_headers;
    response
}

/// The callback relay: the mock POSTs here (see `Mutation::on_request`); the callback goes on to
/// `?to=` unless the mutation drops it.
async fn relay(
    State(p): State<Arc<Proxy>>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> StatusCode {
    let callback: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if p.mutation.drops_callback(&callback) {
        return StatusCode::OK;
    }
    let Some(to) = q.get("to") else {
        return StatusCode::BAD_REQUEST;
    };
    match p
        .http
        .post(to)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
    {
        Ok(r) => StatusCode::from_u16(r.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY),
        Err(_) => StatusCode::BAD_GATEWAY,
    }
}
