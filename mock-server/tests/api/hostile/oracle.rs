//! Hostile input: oracle (see `mod.rs`).

use super::*;

/// What an answer may be: the codes allowed (0 = success), and whether it may be raw bytes.
#[derive(Debug)]
pub(super) struct Expect {
    pub(super) codes: BTreeSet<u32>,
    pub(super) raw: Option<Plane>,
}

pub(super) fn expect_codes(codes: &[u32]) -> Expect {
    Expect {
        codes: codes.iter().copied().collect(),
        raw: None,
    }
}

/// `JsonObject`'s rules (README error table): is this body refused with 1200?
pub(super) fn body_refused(h: &Hostile, limit: usize) -> bool {
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
pub(super) fn control_auth_ok(h: &Hostile) -> bool {
    h.header("authorization")
        .filter(|v| v.iter().all(|&b| b == b'\t' || (0x20..0x7f).contains(&b)))
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| t.trim() == CONTROL_TOKEN)
}

pub(super) fn expect(routes: &[Route], h: &Hostile) -> Expect {
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
pub(super) fn check_answer(
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
