//! `KlingError`: every failure a client can see, as (HTTP status, service code, message).
//!
//! The codes and their HTTP statuses are the error table of the official General Info page (SOURCES.md), copied exactly.
//! Every rejection (bad JSON, a missing field, a wrong method, an unknown path, a body that is too
//! large, a failed authentication) is one of these, so every error a client sees is a Kling
//! envelope `{code, message, request_id}` with no `data` (SOURCES.md: General Info). The envelope itself
//! is written by [`crate::wire`], which adds the request id.

use axum::http::StatusCode;
use std::borrow::Cow;

/// A documented Kling service code (SOURCES.md: General Info). `0` (success) is not an error and is not here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Code {
    /// 1000, HTTP 401: authentication failed.
    AuthFailed,
    /// 1001, HTTP 401: Authorization is empty.
    AuthEmpty,
    /// 1002, HTTP 401: Authorization is invalid.
    AuthInvalid,
    /// 1003, HTTP 401: Authorization is not yet valid.
    AuthNotYetValid,
    /// 1004, HTTP 401: Authorization has expired.
    AuthExpired,
    /// 1100, HTTP 429: account exception.
    AccountException,
    /// 1101, HTTP 429: account in arrears (postpaid).
    AccountArrears,
    /// 1102, HTTP 429: resource pack depleted or expired (prepaid).
    ResourcePackDepleted,
    /// 1103, HTTP 403: unauthorized access to the requested resource (API/model).
    Forbidden,
    /// 1200, HTTP 400: invalid request parameters.
    InvalidRequest,
    /// 1201, HTTP 400: invalid parameters, such as an incorrect key or an illegal value.
    InvalidParameter,
    /// 1202, HTTP 404: the requested method is invalid.
    MethodInvalid,
    /// 1203, HTTP 404: the requested resource does not exist.
    NotFound,
    /// 1300, HTTP 400: a platform strategy was triggered.
    Strategy,
    /// 1301, HTTP 400: the content security policy was triggered.
    ContentSecurity,
    /// 1302, HTTP 429: requests too fast (rate limit).
    RateLimited,
    /// 1303, HTTP 429: concurrency or QPS over the resource pack limit.
    ConcurrencyLimited,
    /// 1304, HTTP 429: IP whitelisting policy.
    IpWhitelist,
    /// 5000, HTTP 500: server internal error.
    Internal,
    /// 5001, HTTP 503: server temporarily unavailable.
    Unavailable,
    /// 5002, HTTP 504: server internal timeout.
    Timeout,
}

impl Code {
    /// Every documented error code, in table order.
    pub const ALL: [Code; 21] = [
        Code::AuthFailed,
        Code::AuthEmpty,
        Code::AuthInvalid,
        Code::AuthNotYetValid,
        Code::AuthExpired,
        Code::AccountException,
        Code::AccountArrears,
        Code::ResourcePackDepleted,
        Code::Forbidden,
        Code::InvalidRequest,
        Code::InvalidParameter,
        Code::MethodInvalid,
        Code::NotFound,
        Code::Strategy,
        Code::ContentSecurity,
        Code::RateLimited,
        Code::ConcurrencyLimited,
        Code::IpWhitelist,
        Code::Internal,
        Code::Unavailable,
        Code::Timeout,
    ];

    /// The numeric service code.
    pub const fn number(self) -> u32 {
        match self {
            Code::AuthFailed => 1000,
            Code::AuthEmpty => 1001,
            Code::AuthInvalid => 1002,
            Code::AuthNotYetValid => 1003,
            Code::AuthExpired => 1004,
            Code::AccountException => 1100,
            Code::AccountArrears => 1101,
            Code::ResourcePackDepleted => 1102,
            Code::Forbidden => 1103,
            Code::InvalidRequest => 1200,
            Code::InvalidParameter => 1201,
            Code::MethodInvalid => 1202,
            Code::NotFound => 1203,
            Code::Strategy => 1300,
            Code::ContentSecurity => 1301,
            Code::RateLimited => 1302,
            Code::ConcurrencyLimited => 1303,
            Code::IpWhitelist => 1304,
            Code::Internal => 5000,
            Code::Unavailable => 5001,
            Code::Timeout => 5002,
        }
    }

    /// The code for a number, if it is a documented error code.
    pub fn from_number(n: u32) -> Option<Code> {
        Code::ALL.into_iter().find(|c| c.number() == n)
    }

    /// The HTTP status the error table pairs with this code.
    pub const fn status(self) -> StatusCode {
        match self {
            Code::AuthFailed
            | Code::AuthEmpty
            | Code::AuthInvalid
            | Code::AuthNotYetValid
            | Code::AuthExpired => StatusCode::UNAUTHORIZED,
            Code::AccountException
            | Code::AccountArrears
            | Code::ResourcePackDepleted
            | Code::RateLimited
            | Code::ConcurrencyLimited
            | Code::IpWhitelist => StatusCode::TOO_MANY_REQUESTS,
            Code::Forbidden => StatusCode::FORBIDDEN,
            Code::InvalidRequest
            | Code::InvalidParameter
            | Code::Strategy
            | Code::ContentSecurity => StatusCode::BAD_REQUEST,
            Code::MethodInvalid | Code::NotFound => StatusCode::NOT_FOUND,
            Code::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Code::Timeout => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    /// The table's "Explanation" column: the message used when nothing more specific applies.
    pub const fn explanation(self) -> &'static str {
        match self {
            Code::AuthFailed => "Authentication failed",
            Code::AuthEmpty => "Authorization is empty",
            Code::AuthInvalid => "Authorization is invalid",
            Code::AuthNotYetValid => "Authorization is not yet valid",
            Code::AuthExpired => "Authorization has expired",
            Code::AccountException => "Account exception",
            Code::AccountArrears => "Account in arrears",
            Code::ResourcePackDepleted => "Account balance not enough",
            Code::Forbidden => "Unauthorized access to requested resource",
            Code::InvalidRequest => "Invalid request parameters",
            Code::InvalidParameter => "Invalid parameters",
            Code::MethodInvalid => "The requested method is invalid",
            Code::NotFound => "The requested resource does not exist",
            Code::Strategy => "Trigger strategy of the platform",
            Code::ContentSecurity => "Trigger the content security policy of the platform",
            Code::RateLimited => "The API request is too fast, exceeding the platform's rate limit",
            Code::ConcurrencyLimited => "parallel task over resource pack limit",
            Code::IpWhitelist => "Trigger the platform's IP whitelisting policy",
            Code::Internal => "Server internal error",
            Code::Unavailable => "Server temporarily unavailable",
            Code::Timeout => "Server internal timeout",
        }
    }
}

/// An error as the client sees it: a service code and a human sentence naming what was wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{} ({}): {message}", .code.number(), .code.status())]
pub struct KlingError {
    /// The service code; it fixes the HTTP status.
    pub code: Code,
    /// The `message` field of the envelope.
    pub message: Cow<'static, str>,
}

impl KlingError {
    /// An error with a specific message.
    pub fn new(code: Code, message: impl Into<Cow<'static, str>>) -> Self {
        KlingError {
            code,
            message: message.into(),
        }
    }

    /// An error whose message is the table's explanation for the code.
    pub fn plain(code: Code) -> Self {
        KlingError::new(code, code.explanation())
    }

    /// HTTP 400, code 1201: a field broke a rule. The message names the field and the rule.
    pub fn param(message: impl Into<Cow<'static, str>>) -> Self {
        KlingError::new(Code::InvalidParameter, message)
    }

    /// HTTP 400, code 1200: the request as a whole is unusable (not JSON, wrong content type, ...).
    pub fn request(message: impl Into<Cow<'static, str>>) -> Self {
        KlingError::new(Code::InvalidRequest, message)
    }

    /// HTTP 400, code 1201 `"Task not found by id/external id: <value>"`, as the live API answers
    /// an unknown task id or external id (SOURCES.md: observed error bodies).
    pub fn task_not_found(id: &str) -> Self {
        KlingError::param(format!("Task not found by id/external id: {id}"))
    }
}

/// "a string", "an object", ... for messages naming what a value was.
pub(crate) fn json_kind(v: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
