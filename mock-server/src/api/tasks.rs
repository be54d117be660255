//! The routes and handlers of every kind in the registry ([`crate::kinds::ALL`]): create (or a
//! synchronous call), single query and list, generic over the kind, and the endpoints of a kind's
//! own ([`crate::kinds::Extra`]: presets, deletes), whose handlers live in the kind's file. A kind
//! adds nothing here.

use super::extract::{Caller, IdPath, JsonObject};
use crate::control::RuleNote;
use crate::error::KlingError;
use crate::kinds::{ALL, Extra, ExtraMethod, Input, KindSpec, Mode};
use crate::state::AppState;
use crate::wire::data_response;
use axum::Extension;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use axum::routing::MethodRouter;
use std::collections::BTreeMap;

/// What a registry route does.
#[derive(Clone, Copy)]
pub enum Action {
    /// `POST`: create a task, or answer a synchronous call.
    Create,
    /// `GET .../{id}`: one task by task id or external id.
    Get,
    /// `GET`: the caller's tasks, newest first.
    List,
    /// An endpoint of the kind's own.
    Extra(&'static Extra),
}

/// Every (method, path, kind, action) the registry routes, in registry order: the one list both
/// [`routes`] and [`crate::api::routes`] read, so what is served and what is listed (and so
/// documented) cannot differ.
pub fn registry_routes() -> Vec<(&'static str, &'static str, &'static KindSpec, Action)> {
    let mut out = Vec::new();
    for spec in ALL {
        out.push(("POST", spec.path, spec, Action::Create));
        if let Mode::Task { query, .. } = spec.mode {
            out.push(("GET", spec.path, spec, Action::List));
            out.push(("GET", query, spec, Action::Get));
        }
        for e in spec.extras {
            out.push((e.method.as_str(), e.path, spec, Action::Extra(e)));
        }
    }
    out
}

/// The registry's routes on `router`.
pub fn routes(router: Router<AppState>) -> Router<AppState> {
    let mut by_path: BTreeMap<&'static str, MethodRouter<AppState>> = BTreeMap::new();
    for (_, path, spec, action) in registry_routes() {
        let m = by_path.remove(path).unwrap_or_default();
        let m = match action {
            Action::Create => m.post(
                move |s: State<AppState>,
                      c: Caller,
                      note: Option<Extension<RuleNote>>,
                      body: JsonObject| create(spec, s, c, note, body),
            ),
            Action::List => {
                m.get(move |s: State<AppState>, c: Caller, q: RawQuery| list(spec, s, c, q))
            }
            Action::Get => {
                m.get(move |s: State<AppState>, c: Caller, id: IdPath| get(spec, s, c, id))
            }
            Action::Extra(e) => match e.method {
                ExtraMethod::Get => {
                    m.get(move |s: State<AppState>, c: Caller, q: RawQuery| extra_get(e, s, c, q))
                }
                ExtraMethod::Post => {
                    m.post(move |s: State<AppState>, c: Caller, body: JsonObject| {
                        extra_post(e, s, c, body)
                    })
                }
            },
        };
        by_path.insert(path, m);
    }
    by_path
        .into_iter()
        .fold(router, |r, (path, m)| r.route(path, m))
}

/// `POST path`: validate the body (with `--fetch-inputs`, download and measure its foreign
/// images), let the outcome rules speak, then create the task (or answer the call).
async fn create(
    spec: &'static KindSpec,
    State(s): State<AppState>,
    Caller(account): Caller,
    note: Option<Extension<RuleNote>>,
    JsonObject(body): JsonObject,
) -> Result<Response, KlingError> {
    let note = note.as_ref().map(|n| &n.0);
    match &spec.mode {
        Mode::Task { parse, .. } => {
            let mut job = parse(&body)?;
            if let Some(downloads) = &s.downloads {
                // --fetch-inputs: foreign images are measured before anything resolves.
                crate::kinds::fetch_images(&mut *job, s.engine.base_url(), downloads).await;
            }
            job.resolve(&s.kind_ctx(), &account)?;
            let fail = super::scripted(&s, spec.id, &body, note)?;
            let view = s.engine.create(
                account.idx,
                spec.id,
                job.common(),
                job.cost(),
                job.slots(),
                |id, now| super::with_failure(job.plan(&s.kind_ctx(), &account, id, now), fail),
            )?;
            Ok(data_response(&view.created()))
        }
        Mode::Call { parse } => {
            let call = parse(&body)?;
            let fail = super::scripted(&s, spec.id, &body, note)?;
            call.answer(&s.kind_ctx(), &account, fail)
        }
    }
}

/// `GET query` (task id or external id).
async fn get(
    spec: &'static KindSpec,
    State(s): State<AppState>,
    Caller(account): Caller,
    IdPath(id): IdPath,
) -> Result<Response, KlingError> {
    super::task_get(&s, account.idx, spec.id, &id)
}

/// `GET path?pageNum&pageSize` (`pageSize` up to the kind's limit).
async fn list(
    spec: &'static KindSpec,
    State(s): State<AppState>,
    Caller(account): Caller,
    RawQuery(q): RawQuery,
) -> Result<Response, KlingError> {
    super::task_list(&s, account.idx, spec.id, q.as_deref())
}

/// A kind's own `GET` endpoint.
async fn extra_get(
    e: &'static Extra,
    State(s): State<AppState>,
    Caller(account): Caller,
    RawQuery(q): RawQuery,
) -> Result<Response, KlingError> {
    (e.handler)(&s.kind_ctx(), &account, Input::Query(q.as_deref()))
}

/// A kind's own `POST` endpoint.
async fn extra_post(
    e: &'static Extra,
    State(s): State<AppState>,
    Caller(account): Caller,
    JsonObject(body): JsonObject,
) -> Result<Response, KlingError> {
    (e.handler)(&s.kind_ctx(), &account, Input::Body(&body))
}
