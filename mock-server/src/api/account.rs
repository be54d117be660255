//! `GET /account/costs` (SOURCES.md: Account Information Inquiry): the caller's resource packs.

use super::extract::Caller;
use crate::error::KlingError;
use crate::kinds::fields::query_param;
use crate::state::AppState;
use crate::wire::data_response;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use serde_json::{Value, json};

fn time_param(q: Option<&str>, name: &str) -> Result<i64, KlingError> {
    let raw = query_param(q, name)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| KlingError::param(format!("{name} is required")))?;
    raw.trim()
        .parse::<i64>()
        .map_err(|_| KlingError::param(format!("{name} must be an integer (Unix ms), got '{raw}'")))
}

/// `GET /account/costs?start_time&end_time&resource_pack_name`: packs valid at some point of
/// [start_time, end_time], optionally of one name. Remaining quantities are current (the real
/// service reports them with a 12 h statistics delay).
pub async fn costs(
    State(s): State<AppState>,
    Caller(account): Caller,
    RawQuery(q): RawQuery,
) -> Result<Response, KlingError> {
    let q = q.as_deref();
    let start = time_param(q, "start_time")?;
    let end = time_param(q, "end_time")?;
    if end < start {
        return Err(KlingError::param(
            "end_time must not be earlier than start_time",
        ));
    }
    let name = query_param(q, "resource_pack_name").filter(|n| !n.is_empty());
    let now = s.clock.now_ms();
    let (settings, _) = s.engine.billing.settings(account.idx, now);
    let infos: Vec<Value> = settings
        .packs
        .iter()
        .filter(|p| name.as_deref().is_none_or(|n| n == p.name))
        .filter(|p| {
            p.effective_ms.unwrap_or(i64::MIN) <= end && p.invalid_ms.unwrap_or(i64::MAX) >= start
        })
        .map(|p| {
            json!({
                "resource_pack_name": p.name,
                "resource_pack_id": p.id,
                "resource_pack_type": p.pack_type,
                "total_quantity": p.total,
                "remaining_quantity": p.remaining.unwrap_or(0.0),
                "purchase_time": p.purchase_ms,
                "effective_time": p.effective_ms,
                "invalid_time": p.invalid_ms,
                "status": p.status(now),
            })
        })
        .collect();
    Ok(data_response(
        &json!({"code": 0, "msg": "success", "resource_pack_subscribe_infos": infos}),
    ))
}
