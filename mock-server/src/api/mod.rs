//! Thin HTTP handlers: extract, validate into a typed request, call the engine, map to the wire.
//! One file per endpoint family; [`router`] puts them together.

pub mod account;
pub mod control;
pub mod extract;
pub mod files;
pub mod tasks;

use crate::error::{Code, KlingError};
use crate::kinds::KindId;
use crate::kinds::fields::{Paging, query_param};
use crate::state::{AppState, Shared};
use crate::wire::{data_response, finish_envelope};
use axum::Router;
use axum::http::{Method, Uri};
use axum::response::Response;
use axum::routing::get;

/// The (method, path) [`router`] routes besides the kinds of the registry, in axum's path syntax
/// (the same as OpenAPI's).
const OWN_ROUTES: &[(&str, &str)] = &[
    ("GET", "/account/costs"),
    ("GET", "/files/{name}"),
    ("GET", "/__mock/health"),
];

/// Every (method, path) [`router`] serves, one entry per method: the kinds' routes from the
/// registry ([`tasks::registry_routes`]) and the others. The OpenAPI document
/// ([`crate::openapi`]) must list exactly these plus [`control::ROUTES`];
/// `tests/api/openapi.rs` checks this list against the document, the live router and the
/// `.route(..)` calls of this file.
pub fn routes() -> Vec<(&'static str, &'static str)> {
    tasks::registry_routes()
        .into_iter()
        .map(|(m, p, _, _)| (m, p))
        .chain(OWN_ROUTES.iter().copied())
        .collect()
}

/// Every route of the public API, plus `/files`.
pub fn router(state: AppState) -> Router {
    let routes = tasks::routes(Router::new())
        .route("/account/costs", get(account::costs))
        .route("/files/{name}", get(files::files_get))
        .route("/__mock/health", get(health))
        .fallback(unknown_path)
        .method_not_allowed_fallback(wrong_method);
    // The control plane: absent with --no-control, behind --control-token when one is set.
    let routes = if state.config.control {
        // Its own wrong-method fallback: the route layer would otherwise answer a bare 405.
        let control = control::routes().method_not_allowed_fallback(wrong_method);
        routes.merge(control.route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            control::require_token,
        )))
    } else {
        routes
    };
    // Runs before routing (a layer of a router with only a fallback): paths with doubled
    // slashes are routed as their single-slash form.
    Router::new()
        .fallback_service(with_edge_layers(routes, state))
        .layer(axum::middleware::map_request(collapse_slashes))
}

/// `/v1/images/kolors-virtual-try-on//123` → `/v1/images/kolors-virtual-try-on/123`: KwaiVGI's
/// nodes query try-on tasks with a doubled slash, and the live API answers them
/// (SOURCES.md: published clients).
async fn collapse_slashes(mut req: axum::extract::Request) -> axum::extract::Request {
    let path = req.uri().path();
    if !path.contains("//") {
        return req;
    }
    let mut clean = String::with_capacity(path.len());
    for c in path.chars() {
        if !(c == '/' && clean.ends_with('/')) {
            clean.push(c);
        }
    }
    if let Some(q) = req.uri().query() {
        clean.push('?');
        clean.push_str(q);
    }
    let mut parts = req.uri().clone().into_parts();
    if let Ok(pq) = clean.parse() {
        parts.path_and_query = Some(pq);
        if let Ok(uri) = Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
    }
    req
}

/// `GET /__mock/health`: the mock is up (also with `--no-control` and without a token: container
/// health checks use it).
async fn health() -> Response {
    data_response(&serde_json::json!({"status": "ok"}))
}

/// The layers every answer passes through: panics caught, faults and latency applied, the
/// envelope written, then transport faults shaping the final bytes.
fn with_edge_layers(routes: Router<AppState>, state: AppState) -> Router {
    routes
        // Inner layer: a panicking handler still leaves an error for the envelope layer.
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            // Never expected; a panic must still answer in the envelope, not drop the connection.
            crate::wire::error_response(Code::Internal, Code::Internal.explanation().into())
        }))
        // Middle layer: latency, HTTP faults and the journal of the public API.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            control::gate,
        ))
        // Every answer, fallbacks and panics included, gets its envelope here.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            finish_envelope::<AppState>,
        ))
        // Outermost: truncated or dribbled bodies (transport faults) take the final bytes.
        .layer(axum::middleware::from_fn(crate::control::transport::shape))
        .with_state(state)
}

async fn unknown_path(method: Method, uri: Uri) -> KlingError {
    KlingError::new(
        Code::NotFound,
        format!("No such endpoint: {method} {}", uri.path()),
    )
}

async fn wrong_method(method: Method, uri: Uri) -> KlingError {
    KlingError::new(
        Code::MethodInvalid,
        format!("Method {method} is not supported on {}", uri.path()),
    )
}

/// What the outcome rules say of a create: `Err` to refuse it, `Ok(Some(message))` to let the
/// task fail with that message, `Ok(None)` for the normal path.
pub(crate) fn scripted(
    s: &Shared,
    kind: KindId,
    body: &serde_json::Map<String, serde_json::Value>,
    note: Option<&crate::control::RuleNote>,
) -> Result<Option<String>, KlingError> {
    let (decision, rule) = s.control.decide(kind, body);
    if let (Some(rule), Some(note)) = (rule, note) {
        note.set(rule);
    }
    match decision {
        crate::control::outcomes::Decision::Normal => Ok(None),
        crate::control::outcomes::Decision::Fail(m) => Ok(Some(m)),
        crate::control::outcomes::Decision::Reject(e) => Err(e),
    }
}

/// A plan whose outcome a rule forced to fail.
pub(crate) fn with_failure(
    mut plan: crate::engine::Plan,
    fail: Option<String>,
) -> crate::engine::Plan {
    if fail.is_some() {
        plan.failure = fail;
    }
    plan
}

/// Single query of a task kind.
pub(crate) fn task_get(
    s: &Shared,
    account: u32,
    kind: KindId,
    key: &str,
) -> Result<Response, KlingError> {
    let view = s.engine.get(account, kind, key)?;
    Ok(data_response(&view.query(s.engine.base_url())))
}

/// List query of a task kind. `?external_task_id=` on the list path is a single query by
/// external id (SOURCES.md: General Info leaves the syntax open; FIDELITY.md).
pub(crate) fn task_list(
    s: &Shared,
    account: u32,
    kind: KindId,
    q: Option<&str>,
) -> Result<Response, KlingError> {
    if let Some(ext) = query_param(q, "external_task_id").filter(|e| !e.is_empty()) {
        return task_get(s, account, kind, &ext);
    }
    let paging = Paging::parse(q, kind.max_page_size())?;
    let base = s.engine.base_url();
    let page = s
        .engine
        .list(account, kind, paging.offset(), paging.page_size as usize);
    let items: Vec<_> = page.iter().map(|t| t.query(base)).collect();
    Ok(data_response(&items))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;
    use crate::clock::Clock;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    #[tokio::test]
    async fn a_panicking_handler_still_answers_5000_in_the_envelope() {
        let state = AppState::new(
            Config::default().settings(),
            Clock::frozen(0),
            "http://x".into(),
        );
        let routes = Router::new().route(
            "/boom",
            get(|| async {
                let v: Vec<u8> = Vec::new();
                v[1].to_string()
            }),
        );
        let app = with_edge_layers(routes, state);
        let resp = app
            .oneshot(Request::get("/boom").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), 500);
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["code"], 5000);
        assert_eq!(v["message"], "Server internal error");
        assert!(v["request_id"].is_string() && v.get("data").is_none());
    }
}
