//! The middleware every public request passes: it journals the request, applies latency, and
//! answers a fault when a rule fires (a Kling error, or a transport fault carried out by
//! [`crate::control::transport`]). The rules it applies are [`crate::control::Control`]'s.

use crate::control::journal::Entry;
use crate::control::{RuleNote, rules, transport};
use crate::state::AppState;
use crate::wire::{Pending, RequestId};
use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The access key a request's token names, read without verifying it (for matching and the
/// journal only; authentication proper happens in the handlers).
fn token_issuer(req: &Request) -> Option<String> {
    use base64::Engine as _;
    let h = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let token = h.trim().split_once(' ')?.1.trim();
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    v.get("iss")?.as_str().map(str::to_string)
}

/// Middleware on every public request: latency, faults, journal. The control plane itself
/// (`/__mock/...`) passes untouched.
pub async fn gate(State(s): State<AppState>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    if path.starts_with("/__mock/") || path == "/__mock" {
        return next.run(req).await;
    }
    let method = req.method().to_string();
    let query = req.uri().query().map(str::to_string);
    let account = token_issuer(&req);
    let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone());
    let at_ms = s.clock.now_ms();
    let delay = s.control.delay_for(&method, &path);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let fired = s
        .control
        .fault_for(&method, &path, account.as_deref(), at_ms);
    let mut entry = Entry {
        seq: 0,
        at_ms,
        method,
        path,
        query,
        account,
        request_id,
        status: 0,
        code: None,
        fault: fired.as_ref().map(|f| f.rule.clone()),
        rule: None,
        delay_ms: delay.as_millis() as u64,
    };
    let note = RuleNote::default();
    req.extensions_mut().insert(note.clone());
    let resp = match fired {
        None => next.run(req).await,
        // No response at all (the handler does not run): journaled with status 0 now, since a
        // hang may hold the request for long.
        Some(rules::Fired {
            transport: Some(t), ..
        }) if t.answers_nothing() => {
            let conn = transport::ConnHandle::of(&req);
            drop(req);
            if s.control.journal.enabled() {
                s.control.journal.push(entry);
            }
            return transport::no_answer(t, conn).await;
        }
        Some(f) => {
            let mut r = match f.error {
                Some(e) => {
                    let mut r = e.into_response();
                    if let Some(secs) = f.retry_after {
                        r.headers_mut()
                            .insert(axum::http::header::RETRY_AFTER, HeaderValue::from(secs));
                    }
                    r
                }
                // Truncate or dribble of the normal answer.
                None => next.run(req).await,
            };
            if let Some(t) = f.transport {
                r.extensions_mut().insert(transport::Shape(t));
            }
            r
        }
    };
    if s.control.journal.enabled() {
        entry.rule = note.take();
        entry.status = resp.status().as_u16();
        entry.code = match resp.extensions().get::<Pending>() {
            Some(Pending::Data(_)) => Some(0),
            Some(Pending::Error { code, .. }) => Some(code.number()),
            None => None,
        };
        s.control.journal.push(entry);
    }
    resp
}
