//! The Kling envelope and the value formats shared by every endpoint.
//!
//! Every answer of the public API is `{code, message, request_id, data}` (SOURCES.md: General Info):
//! `code` 0 and `message` "SUCCEED" on success (SOURCES.md: observed envelope values), a documented error
//! code and a sentence otherwise, and no `data` key on errors. Handlers do not write envelopes
//! themselves: they return [`data_response`] or a [`KlingError`], which
//! leave a `Pending` marker on the response, and the [`finish_envelope`] middleware turns it into
//! the body, adding the request id. So one place knows the envelope, and the request id of every
//! answer (success, validation error, auth error, unknown path) comes from the same seeded source.

use crate::error::{Code, KlingError};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::borrow::Cow;

/// The request id of the request being served (a UUID v4 string, SOURCES.md: observed envelope values).
/// Placed in the request extensions by [`finish_envelope`].
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// What a handler answered, before the envelope is written.
#[derive(Clone, Debug)]
pub(crate) enum Pending {
    /// Success: the serialized `data` value.
    Data(Vec<u8>),
    /// An error: no `data`.
    Error {
        code: Code,
        message: Cow<'static, str>,
    },
}

/// A success answer (`code` 0, `message` "SUCCEED") carrying `data`.
pub fn data_response<T: Serialize + ?Sized>(data: &T) -> Response {
    match serde_json::to_vec(data) {
        Ok(bytes) => pending(StatusCode::OK, Pending::Data(bytes)),
        Err(err) => {
            tracing::error!(%err, "could not serialize a response body");
            error_response(Code::Internal, Cow::Borrowed(Code::Internal.explanation()))
        }
    }
}

/// An error answer: the HTTP status of the code, and no `data`.
pub fn error_response(code: Code, message: Cow<'static, str>) -> Response {
    pending(code.status(), Pending::Error { code, message })
}

impl IntoResponse for KlingError {
    fn into_response(self) -> Response {
        error_response(self.code, self.message)
    }
}

fn pending(status: StatusCode, p: Pending) -> Response {
    let mut resp = status.into_response();
    resp.extensions_mut().insert(p);
    resp
}

#[derive(Serialize)]
struct ErrorEnvelope<'a> {
    code: u32,
    message: &'a str,
    request_id: &'a str,
}

/// Where request ids come from (the server's seeded source: `crate::state::AppState`).
pub trait RequestIds {
    /// A new request id.
    fn request_id(&self) -> String;
}

/// Middleware: gives the request its id, runs it, and writes the envelope of the answer.
/// Responses without a `Pending` marker (media files, the control plane) pass through untouched.
pub async fn finish_envelope<S: RequestIds>(
    State(state): State<S>,
    mut req: Request,
    next: Next,
) -> Response {
    let request_id = state.request_id();
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let mut resp = next.run(req).await;
    let Some(p) = resp.extensions_mut().remove::<Pending>() else {
        return resp;
    };
    let body = envelope_bytes(&p, &request_id);
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.remove(header::CONTENT_LENGTH);
    *resp.body_mut() = Body::from(body);
    resp
}

/// The bytes of an envelope.
pub(crate) fn envelope_bytes(p: &Pending, request_id: &str) -> Vec<u8> {
    match p {
        Pending::Data(data) => {
            let mut out = Vec::with_capacity(data.len() + 96);
            out.extend_from_slice(br#"{"code":0,"message":"SUCCEED","request_id":"#);
            // A UUID needs no escaping, but go through serde to be safe for any id format.
            out.extend_from_slice(
                serde_json::to_string(request_id)
                    .unwrap_or_default()
                    .as_bytes(),
            );
            out.extend_from_slice(br#","data":"#);
            out.extend_from_slice(data);
            out.push(b'}');
            out
        }
        Pending::Error { code, message } => serde_json::to_vec(&ErrorEnvelope {
            code: code.number(),
            message,
            request_id,
        })
        .unwrap_or_default(),
    }
}

/// A duration in seconds as Kling writes it: a string, rounded to 3 decimals, trailing zeros
/// dropped (`5.080` → `"5.08"`, `3.0` → `"3"`; SOURCES.md: observed durations).
pub fn format_secs(secs: f64) -> String {
    let mut s = format!("{:.3}", secs);
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_rounded_to_milliseconds_without_trailing_zeros() {
        assert_eq!(format_secs(5.08), "5.08");
        assert_eq!(format_secs(5.0), "5");
        assert_eq!(format_secs(14.6664), "14.666");
        assert_eq!(format_secs(3.0415), "3.042");
        assert_eq!(format_secs(10.0), "10");
        assert_eq!(format_secs(0.5), "0.5");
    }

    #[test]
    fn success_envelope_carries_data_and_error_envelope_does_not() {
        let ok = envelope_bytes(&Pending::Data(br#"{"a":1}"#.to_vec()), "rid");
        let v: serde_json::Value = serde_json::from_slice(&ok).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"code":0,"message":"SUCCEED","request_id":"rid","data":{"a":1}})
        );
        let err = envelope_bytes(
            &Pending::Error {
                code: Code::InvalidParameter,
                message: "x is required".into(),
            },
            "rid",
        );
        let v: serde_json::Value = serde_json::from_slice(&err).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"code":1201,"message":"x is required","request_id":"rid"})
        );
    }
}
