//! The OpenAPI 3.1 document of every endpoint the mock serves and every error each can answer,
//! served raw (no envelope) at `GET /__mock/openapi.json` for tools such as Prism and Schemathesis.
//!
//! The document is built in code ([`document`]): each kind's operations from the registry
//! (`crate::kinds::ALL`, with each kind's `doc`: its names and schemas, written next to its
//! validator in the kind's file), the control plane's next to its handlers
//! (`crate::api::control::doc`), the other operations from the table here. The field rules
//! quote the constants the validators use (`MAX_VOICE_NAME`, `DURATION_TENTHS`, ...) and the
//! error responses are generated from the error table ([`Code::ALL`], [`Code::status`]): a code
//! added to or moved in the table changes every operation's responses.
//!
//! Errors: every Kling operation (and `/files`) lists a response for every HTTP status of the
//! error table, because a control-plane fault rule can answer any documented code on any public
//! path (and an outcome rule `reject` any code on a create). Where the handler itself can answer
//! a status, the response is inline and names the codes and their causes (`x-kling-causes`);
//! where only a fault can, it refers to the shared `components.responses.Fault<status>`. Every
//! error response lists the codes it can carry in `x-kling-codes`, and its schema restricts
//! `code` to them. The control plane is never faulted: its operations list only their own errors.
//!
//! `tests/api/openapi.rs` keeps the document true: every operation is routed, and every route
//! (`crate::api::routes()`, `crate::api::control::ROUTES`, and the `.route(..)` calls in the
//! source) is documented.

pub mod reference;

use crate::error::Code;
use crate::kinds::KindId;
use crate::kinds::doc::{schema_ref, url_pattern};
use crate::kinds::fields::{DEFAULT_PAGE_SIZE, MAX_PAGE_NUM};
use crate::kinds::{ALL, ExtraMethod, KindSpec, Mode};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use std::sync::OnceLock;

/// `GET /__mock/openapi.json`: the document as plain JSON (no Kling envelope).
pub async fn serve() -> Response {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    let bytes = BYTES.get_or_init(|| serde_json::to_vec_pretty(&document()).unwrap_or_default());
    let mut resp = bytes.clone().into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// Who may call an operation, and what besides its handler can answer it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Plane {
    /// A Kling endpoint: bearer token; fault rules apply.
    Kling,
    /// A Kling create: bearer token; fault rules and outcome rules (`reject`) apply.
    KlingCreate,
    /// `/files`: no token; fault rules apply.
    Files,
    /// `/__mock/`: never faulted, delayed or journaled; with `--control-token` the token is
    /// required (401 / 1000); with `--no-control` not served.
    Control,
    /// `GET /__mock/health`: like the control plane, but always served and without a token.
    Health,
}

/// One operation of the document.
pub(crate) struct Op {
    pub(crate) method: &'static str,
    pub(crate) path: &'static str,
    pub(crate) id: &'static str,
    pub(crate) tag: &'static str,
    pub(crate) summary: &'static str,
    pub(crate) description: &'static str,
    pub(crate) plane: Plane,
    pub(crate) params: Vec<Value>,
    /// (required, schema) of an `application/json` body.
    pub(crate) body: Option<(bool, Value)>,
    /// The 200 response object.
    pub(crate) ok: Value,
    /// The errors the handler itself can answer, with their causes.
    pub(crate) causes: Vec<(Code, &'static str)>,
}

/// The headers of a served file.
fn file_headers() -> Value {
    let text = json!({"schema": {"type": "string"}});
    json!({
        "Cache-Control": text,
        "ETag": text,
        "Accept-Ranges": text,
        "Content-Length": {"schema": {"type": "integer"}},
        "Content-Range": text,
    })
}

/// A success answer whose `data` follows `data`.
pub(crate) fn ok(description: &str, data: Value) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {
            "allOf": [schema_ref("SuccessEnvelope")],
            "properties": {"data": data},
        }}},
    })
}

/// A required path parameter (a non-empty string).
pub(crate) fn path_param(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "description": description,
           "schema": {"type": "string", "minLength": 1}})
}

/// A query parameter with its schema.
pub(crate) fn query_param(name: &str, required: bool, description: &str, schema: Value) -> Value {
    json!({"name": name, "in": "query", "required": required, "description": description,
           "schema": schema})
}

fn paging(max_size: u32) -> Vec<Value> {
    let rule = "An empty value means the default, a repeated parameter its first value; a \
                non-integer or out-of-range value is 400 / 1201.";
    vec![
        query_param(
            "pageNum",
            false,
            &format!("Page number, 1-based. {rule}"),
            json!({"type": "integer", "minimum": 1, "maximum": MAX_PAGE_NUM, "default": 1}),
        ),
        query_param(
            "pageSize",
            false,
            &format!("Items per page. {rule}"),
            json!({"type": "integer", "minimum": 1, "maximum": max_size,
                   "default": DEFAULT_PAGE_SIZE}),
        ),
    ]
}

fn external_id_query() -> Value {
    query_param(
        "external_task_id",
        false,
        "When given and not empty, the answer is the single task with this external id (the same \
         object as the single query, not a list); pageNum and pageSize are then ignored.",
        json!({"type": "string"}),
    )
}

const AUTH: [(Code, &str); 4] = [
    (
        Code::AuthEmpty,
        "no `Authorization` header, or an empty one",
    ),
    (
        Code::AuthInvalid,
        "malformed token, wrong signature, unknown access key, an algorithm other than HS256 \
         (incl. `none`), or a header without the `Bearer` scheme",
    ),
    (
        Code::AuthNotYetValid,
        "`nbf` in the future, beyond the leeway (`--jwt-leeway`, 5 s)",
    ),
    (
        Code::AuthExpired,
        "`exp` in the past, beyond the leeway (`--jwt-leeway`, 5 s)",
    ),
];

/// The error a JSON body can cause before its fields are read (`api::extract::JsonObject`).
pub(crate) const BODY: (Code, &str) = (
    Code::InvalidRequest,
    "body not JSON, not an object or empty; `Content-Type` not `application/json`; body over \
     `--body-limit` (default 1 MiB)",
);

const ADMIT: [(Code, &str); 5] = [
    (
        Code::AccountException,
        "the account is set to `exception` (`PUT /__mock/accounts/{ak}`)",
    ),
    (
        Code::AccountArrears,
        "the account is set to `arrears` (`PUT /__mock/accounts/{ak}`)",
    ),
    (
        Code::ResourcePackDepleted,
        "no online resource pack of the account holds the cost",
    ),
    (
        Code::Forbidden,
        "the account is set to `forbidden` (`PUT /__mock/accounts/{ak}`)",
    ),
    (
        Code::ConcurrencyLimited,
        "the account's tasks in flight are at its concurrency limit",
    ),
];

const TASK_NOT_FOUND: (Code, &str) = (
    Code::InvalidParameter,
    "no task of the caller has this task_id or external_task_id (`Task not found by id/external \
     id: …`)",
);

const PAGING_ERROR: (Code, &str) = (
    Code::InvalidParameter,
    "`pageNum` / `pageSize` not an integer or out of range",
);

fn with(base: &[(Code, &'static str)], more: &[(Code, &'static str)]) -> Vec<(Code, &'static str)> {
    base.iter().chain(more).copied().collect()
}

/// The list query of a task family (a page, or one task with `external_task_id`).
fn task_list_op(
    kind: KindId,
    path: &'static str,
    id: &'static str,
    tag: &'static str,
    summary: &'static str,
    task: &str,
) -> Op {
    Op {
        method: "GET",
        path,
        id,
        tag,
        summary,
        description: "",
        plane: Plane::Kling,
        params: paging(kind.max_page_size())
            .into_iter()
            .chain([external_id_query()])
            .collect(),
        body: None,
        ok: ok(
            "A page of tasks, or one task when `external_task_id` is given.",
            json!({"oneOf": [
                {"type": "array", "items": schema_ref(task)},
                schema_ref(task),
            ]}),
        ),
        causes: with(&AUTH, &[PAGING_ERROR, TASK_NOT_FOUND]),
    }
}

/// The single query of a task family, by task_id or external_task_id.
fn task_get_op(
    path: &'static str,
    id: &'static str,
    tag: &'static str,
    summary: &'static str,
    task: &str,
) -> Op {
    Op {
        method: "GET",
        path,
        id,
        tag,
        summary,
        description: "The value is looked up as a task_id first, then as an external_task_id.",
        plane: Plane::Kling,
        params: vec![path_param("id", "task_id or external_task_id")],
        body: None,
        ok: ok("The task.", schema_ref(task)),
        causes: with(&AUTH, &[TASK_NOT_FOUND]),
    }
}

/// A kind's own endpoint ([`crate::kinds::Extra`]), under the kind's tag.
fn extra_op(spec: &KindSpec, e: &crate::kinds::Extra) -> Op {
    let d = (e.doc)();
    let (params, body, causes) = match e.method {
        ExtraMethod::Get => {
            let paged = d.paging.is_some();
            (
                d.paging.map(paging).unwrap_or_default(),
                None,
                if paged {
                    with(&AUTH, &[PAGING_ERROR])
                } else {
                    AUTH.to_vec()
                },
            )
        }
        ExtraMethod::Post => (
            Vec::new(),
            d.body.map(|b| (true, schema_ref(b))),
            with(&AUTH, &[BODY, (Code::InvalidParameter, d.field_rules)]),
        ),
    };
    Op {
        method: e.method.as_str(),
        path: e.path,
        id: d.id,
        tag: (spec.doc)().tag,
        summary: d.summary,
        description: d.description,
        plane: Plane::Kling,
        params,
        body,
        ok: ok(d.ok.0, d.ok.1),
        causes,
    }
}

/// Every operation, in document order.
fn operations() -> Vec<Op> {
    let create_errors = |field_rules: &'static str| {
        let mut v = with(&AUTH, &[BODY, (Code::InvalidParameter, field_rules)]);
        v.extend(ADMIT);
        v
    };
    // The kinds' own endpoints first (presets, deletes), then the rest of the table.
    let mut ops: Vec<Op> = ALL
        .iter()
        .flat_map(|spec| spec.extras.iter().map(move |e| extra_op(spec, e)))
        .collect();
    ops.extend(vec![
        Op {
            method: "GET",
            path: "/account/costs",
            id: "getAccountCosts",
            tag: "account",
            summary: "The caller's resource packs valid at some point of [start_time, end_time]",
            description: "SOURCES.md: Account Information Inquiry. Remaining quantities are current (the real service \
                          reports them with a 12 h statistics delay).",
            plane: Plane::Kling,
            params: vec![
                query_param(
                    "start_time",
                    true,
                    "Start of the period, Unix ms.",
                    json!({"type": "integer", "format": "int64"}),
                ),
                query_param(
                    "end_time",
                    true,
                    "End of the period, Unix ms; not earlier than start_time.",
                    json!({"type": "integer", "format": "int64"}),
                ),
                query_param(
                    "resource_pack_name",
                    false,
                    "Only packs of this name (empty: all).",
                    json!({"type": "string"}),
                ),
            ],
            body: None,
            ok: ok("The packs.", schema_ref("Costs")),
            causes: with(
                &AUTH,
                &[(
                    Code::InvalidParameter,
                    "start_time / end_time missing, empty or not an integer; end_time earlier \
                     than start_time",
                )],
            ),
        },
        Op {
            method: "GET",
            path: "/files/{name}",
            id: "getFile",
            tag: "files",
            summary: "The media behind result URLs (not a Kling path)",
            description: "Every url, url_mp3, url_wav and trial_url of a result points here. \
                          Synthesised on first request, deterministic per file, then served \
                          from memory like a CDN: `HEAD` gives the same headers without the \
                          body; `Accept-Ranges: bytes`; one range `bytes=a-b`, `a-` or `-n` \
                          answers 206 (several ranges, or another unit, the whole file); a \
                          strong `ETag`; `If-None-Match` answers 304; `If-Range` with the \
                          current tag lets a range through, anything else gets the whole file.",
            plane: Plane::Files,
            params: vec![json!({
                "name": "name", "in": "path", "required": true,
                "description": "`kling_<uuid>.mp3`, `.wav`, `.mp4`, `.png` or `.jpg`",
                "schema": {"type": "string",
                           "pattern": "^kling_[0-9a-fA-F-]{32,36}\\.([mM][pP][34]|[wW][aA][vV]|[pP][nN][gG]|[jJ][pP][eE]?[gG])$"},
            })],
            body: None,
            ok: json!({
                "description": "The file: MP3 (MPEG-2 Layer III, 24 kHz mono, 64 kbit/s CBR), \
                                WAV (PCM 16-bit, 24 kHz mono), MP4 (H.264, and MP3 sound \
                                when the video has sound), PNG (8-bit RGB) or JPEG.",
                "headers": file_headers(),
                "content": {"audio/mpeg": {}, "audio/wav": {}, "video/mp4": {},
                            "image/png": {}, "image/jpeg": {}},
            }),
            causes: vec![
                (
                    Code::NotFound,
                    "no such file (`File not found: …`), or the extension is not the file's",
                ),
                (Code::Internal, "the MP3 or H.264 encoder failed"),
            ],
        },
    ]);
    // Every kind of the registry: its create (or call), and a task kind's list and single query.
    for spec in ALL {
        let d = (spec.doc)();
        let ok_answer = match spec.mode {
            Mode::Task { .. } => ok("The task was created.", schema_ref("CreatedTask")),
            Mode::Call { .. } => ok(d.answer_description, schema_ref(d.answer)),
        };
        ops.push(Op {
            method: "POST",
            path: spec.path,
            id: d.ids[0],
            tag: d.tag,
            summary: d.summaries[0],
            description: d.description,
            plane: Plane::KlingCreate,
            params: vec![],
            body: Some((true, schema_ref(d.request))),
            ok: ok_answer,
            causes: create_errors(d.field_rules),
        });
        if let Mode::Task { query, .. } = spec.mode {
            ops.push(task_list_op(
                spec.id,
                spec.path,
                d.ids[2],
                d.tag,
                d.summaries[2],
                d.answer,
            ));
            ops.push(task_get_op(
                query,
                d.ids[1],
                d.tag,
                d.summaries[1],
                d.answer,
            ));
        }
    }
    ops.extend(crate::api::control::doc::operations());
    ops
}

/// The HTTP statuses of the error table, ascending.
fn error_statuses() -> Vec<u16> {
    let mut s: Vec<u16> = Code::ALL.iter().map(|c| c.status().as_u16()).collect();
    s.sort_unstable();
    s.dedup();
    s
}

/// The codes of the error table answered with `status`, in table order.
fn codes_of(status: u16) -> Vec<u32> {
    Code::ALL
        .iter()
        .filter(|c| c.status().as_u16() == status)
        .map(|c| c.number())
        .collect()
}

fn status_title(status: u16) -> &'static str {
    axum::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error")
}

fn code_list(codes: &[u32]) -> String {
    codes
        .iter()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn error_content(status: u16) -> Value {
    json!({"application/json": {"schema": schema_ref(&format!("Error{status}"))}})
}

impl Op {
    fn to_json(&self) -> Value {
        let mut op = Map::new();
        op.insert("operationId".into(), json!(self.id));
        op.insert("tags".into(), json!([self.tag]));
        op.insert("summary".into(), json!(self.summary));
        if !self.description.is_empty() {
            op.insert("description".into(), json!(self.description));
        }
        match self.plane {
            Plane::Kling | Plane::KlingCreate => {
                op.insert("security".into(), json!([{"bearerAuth": []}]));
            }
            // No token unless the mock runs with `--control-token`.
            Plane::Control => {
                op.insert("security".into(), json!([{}, {"controlToken": []}]));
            }
            Plane::Files | Plane::Health => {}
        }
        if !self.params.is_empty() {
            op.insert("parameters".into(), Value::Array(self.params.clone()));
        }
        if let Some((required, schema)) = &self.body {
            op.insert(
                "requestBody".into(),
                json!({"required": required,
                       "content": {"application/json": {"schema": schema}}}),
            );
        }
        op.insert("responses".into(), Value::Object(self.responses()));
        Value::Object(op)
    }

    fn responses(&self) -> Map<String, Value> {
        let mut out = Map::new();
        out.insert("200".into(), self.ok.clone());
        if self.plane == Plane::Files {
            out.insert(
                "206".into(),
                json!({
                    "description": "Partial content: the one byte range asked for \
                                    (`Content-Range: bytes a-b/len`).",
                    "headers": file_headers(),
                    "content": {"audio/mpeg": {}, "audio/wav": {}, "video/mp4": {},
                            "image/png": {}, "image/jpeg": {}},
                }),
            );
            out.insert(
                "304".into(),
                json!({"description": "Not modified: `If-None-Match` names the file's ETag \
                                       (or `*`); no body."}),
            );
            out.insert(
                "416".into(),
                json!({
                    "description": "Range not satisfiable: the range starts past the end (or \
                                    is `-0`); `Content-Range: bytes */len`, and the envelope \
                                    of code 1200.",
                    "headers": {"Content-Range": {"schema": {"type": "string"}}},
                    "content": {"application/json": {"schema": schema_ref("ErrorEnvelope")}},
                }),
            );
        }
        let injected = match self.plane {
            Plane::Control | Plane::Health => None,
            Plane::Kling | Plane::Files => Some("a control-plane fault rule"),
            Plane::KlingCreate => Some("a control-plane fault rule or an outcome rule `reject`"),
        };
        let token = [(
            Code::AuthFailed,
            "with `--control-token`, a missing or wrong `Authorization: Bearer <control token>`",
        )];
        let token: &[(Code, &str)] = if self.plane == Plane::Control {
            &token
        } else {
            &[]
        };
        for status in error_statuses() {
            let natural: Vec<&(Code, &str)> = token
                .iter()
                .chain(&self.causes)
                .filter(|(c, _)| c.status().as_u16() == status)
                .collect();
            let key = status.to_string();
            if natural.is_empty() {
                if injected.is_some() {
                    out.insert(
                        key,
                        json!({"$ref": format!("#/components/responses/Fault{status}")}),
                    );
                }
                continue;
            }
            let mut own: Vec<u32> = natural.iter().map(|(c, _)| c.number()).collect();
            own.dedup();
            let causes: Vec<Value> = natural
                .iter()
                .map(|(c, why)| json!({"code": c.number(), "cause": why}))
                .collect();
            let mut text = format!("{}. ", status_title(status));
            for (c, why) in &natural {
                text.push_str(&format!("{}: {why}. ", c.number()));
            }
            let codes = match injected {
                Some(by) => {
                    let all = codes_of(status);
                    let others: Vec<u32> =
                        all.iter().copied().filter(|c| !own.contains(c)).collect();
                    if !others.is_empty() {
                        text.push_str(&format!("Also {} through {by}.", code_list(&others)));
                    }
                    all
                }
                None => own,
            };
            out.insert(
                key,
                json!({
                    "description": text.trim_end(),
                    "x-kling-codes": codes,
                    "x-kling-causes": causes,
                    "content": error_content(status),
                }),
            );
        }
        out
    }
}

fn schemas() -> Value {
    let absent_or_empty = "`null` and `\"\"` count as absent.";
    let id = json!({"type": "string", "pattern": "^[0-9]+$"});
    let ms = json!({"type": "integer", "format": "int64", "description": "Unix ms."});
    let task_base = json!({
        "type": "object",
        "required": ["task_id", "task_status", "task_status_msg", "task_info", "task_result",
                     "final_unit_deduction", "created_at", "updated_at"],
        "properties": {
            "task_id": id,
            "task_status": schema_ref("TaskStatus"),
            "task_status_msg": {"type": "string", "description": "The failure reason of a failed task, \"\" otherwise."},
            "task_info": schema_ref("TaskInfo"),
            "final_unit_deduction": {"type": "string", "description": "The kind's cost once succeeded, \"0\" otherwise.", "examples": ["0.05", "0"]},
            "created_at": ms,
            "updated_at": ms,
        },
    });
    let error_envelope = json!({
        "type": "object",
        "required": ["code", "message", "request_id"],
        "properties": {
            "code": {"type": "integer", "enum": Code::ALL.iter().map(|c| c.number()).collect::<Vec<_>>()},
            "message": {"type": "string"},
            "request_id": {"type": "string", "format": "uuid"},
        },
        "not": {"required": ["data"]},
        "description": "Errors carry no `data`. The HTTP status is the error table's for the code (SOURCES.md: General Info).",
    });
    let mut map = Map::new();
    map.insert(
        "SuccessEnvelope".into(),
        json!({
            "type": "object",
            "required": ["code", "message", "request_id", "data"],
            "properties": {
                "code": {"const": 0},
                "message": {"const": "SUCCEED"},
                "request_id": {"type": "string", "format": "uuid"},
                "data": {},
            },
        }),
    );
    map.insert("ErrorEnvelope".into(), json!(error_envelope));
    map.insert(
        "TaskStatus".into(),
        json!({"enum": ["submitted", "processing", "succeed", "failed"]}),
    );
    map.insert(
        "TaskInfo".into(),
        json!({
            "type": "object",
            "description": "`{}` without an external id.",
            "properties": {"external_task_id": {"type": "string"}},
        }),
    );
    map.insert(
        "CreatedTask".into(),
        json!({
            "type": "object",
            "required": ["task_id", "task_status", "task_info", "created_at", "updated_at"],
            "properties": {
                "task_id": id,
                "task_status": schema_ref("TaskStatus"),
                "task_info": schema_ref("TaskInfo"),
                "created_at": ms,
                "updated_at": ms,
            },
        }),
    );
    map.insert("Task".into(), json!(task_base));
    for spec in crate::kinds::ALL {
        for (name, schema) in (spec.doc)().schemas {
            map.insert(name.into(), schema);
        }
    }
    map.insert("Costs".into(), json!({
            "type": "object",
            "required": ["code", "msg", "resource_pack_subscribe_infos"],
            "properties": {
                "code": {"const": 0},
                "msg": {"const": "success"},
                "resource_pack_subscribe_infos": {"type": "array", "items": schema_ref("ResourcePack")},
            },
        }));
    map.insert(
        "ResourcePack".into(),
        json!({
            "type": "object",
            "properties": {
                "resource_pack_name": {"type": "string"},
                "resource_pack_id": {"type": "string"},
                "resource_pack_type": {"enum": ["decreasing_total", "constant_period"]},
                "total_quantity": {"type": "number"},
                "remaining_quantity": {"type": "number"},
                "purchase_time": ms,
                "effective_time": ms,
                "invalid_time": ms,
                "status": {"enum": ["toBeOnline", "online", "expired", "runOut"]},
            },
        }),
    );
    map.insert("ExternalTaskId".into(), json!({
            "type": ["string", "null"],
            "description": format!("The caller's own id, unique per account across all kinds (a duplicate is 400 / 1201). {absent_or_empty}"),
        }));
    map.insert("CallbackUrl".into(), json!({
            "type": ["string", "null"],
            "pattern": url_pattern(&[]),
            "description": format!("Every status change is POSTed here. An absolute http(s) URL. {absent_or_empty}"),
        }));
    map.insert(
        "MockClock".into(),
        json!({
            "type": "object",
            "required": ["mode", "now_ms", "wall_ms"],
            "properties": {
                "mode": {"enum": ["real", "frozen"]},
                "now_ms": ms,
                "wall_ms": ms,
                "offset_ms": {"type": "integer", "description": "Real mode: how far the mock runs ahead of (negative: behind) the wall clock."},
                "note": {"type": "string", "description": "Real mode with an offset: that time advanced or set is kept, and how to rejoin wall time."},
            },
        }),
    );
    map.insert("FaultRule".into(), json!({
            "type": "object",
            "additionalProperties": false,
            "description": "See the README, \"Control plane\", rule formats \"Fault rule\" and \"Transport fault\". A code, a transport, or both.",
            "properties": {
                "id": {"type": "string"},
                "method": {"type": "string"},
                "path": {"type": "string", "description": "Glob, `*` = anything."},
                "account": {"type": "string", "description": "Access key."},
                "code": {"enum": std::iter::once(0).chain(Code::ALL.iter().map(|c| c.number())).collect::<Vec<_>>(),
                         "description": "A documented Kling error code; its HTTP status comes from the error table. 0 or absent: no error (then transport is required)."},
                "message": {"type": "string"},
                "retry_after": {"type": "integer", "minimum": 0},
                "probability": {"type": "number", "minimum": 0, "maximum": 1},
                "first": {"type": "integer", "minimum": 0},
                "every": {"type": "integer", "minimum": 1},
                "from_ms": {"type": "integer"},
                "until_ms": {"type": "integer"},
                "limit": {"type": "integer", "minimum": 0},
                "transport": {"type": "object", "required": ["kind"], "properties": {
                    "kind": {"enum": ["reset", "close", "hang", "truncate", "dribble"]},
                    "ms": {"type": "integer", "minimum": 0},
                    "keep": {"type": "integer", "minimum": 0},
                    "bytes": {"type": "integer", "minimum": 1},
                    "every_ms": {"type": "integer", "minimum": 0},
                }},
            },
        }));

    for status in error_statuses() {
        map.insert(
            format!("Error{status}"),
            json!({
                "allOf": [schema_ref("ErrorEnvelope")],
                "properties": {"code": {"enum": codes_of(status)}},
            }),
        );
    }
    Value::Object(map)
}

/// `components.responses.Fault<status>`: what any faultable operation can answer only because a
/// control-plane fault rule fired.
fn fault_responses() -> Value {
    let mut m = Map::new();
    for status in error_statuses() {
        let codes = codes_of(status);
        let explained: Vec<String> = Code::ALL
            .iter()
            .filter(|c| c.status().as_u16() == status)
            .map(|c| format!("{} ({})", c.number(), c.explanation()))
            .collect();
        let mut text = format!(
            "{}: only through a control-plane fault rule (`POST /__mock/faults`), or an outcome \
             rule `reject` on a create: {}.",
            status_title(status),
            explained.join(", ")
        );
        if status == 404 {
            text.push_str(
                " Without a rule, 1202 answers a method a path does not have, 1203 a path that \
                 does not exist.",
            );
        }
        if status == 500 {
            text.push_str(" 5000 also answers a handler that panicked (a bug).");
        }
        m.insert(
            format!("Fault{status}"),
            json!({
                "description": text,
                "x-kling-codes": codes,
                "content": error_content(status),
            }),
        );
    }
    Value::Object(m)
}

fn error_table_text() -> String {
    let mut t = String::from("| code | HTTP | explanation |\n|---|---|---|\n");
    for c in Code::ALL {
        t.push_str(&format!(
            "| {} | {} | {} |\n",
            c.number(),
            c.status().as_u16(),
            c.explanation()
        ));
    }
    t
}

/// The whole document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for op in operations() {
        let item = paths
            .entry(op.path)
            .or_insert_with(|| Value::Object(Map::new()));
        item[op.method.to_ascii_lowercase()] = op.to_json();
    }
    let description = format!(
        "A stateful mock of the Kling AI API. The `/v1/...` and `/account/costs` operations \
         mirror `https://api-singapore.klingai.com`: same paths, JWT auth, validation, envelope \
         `{{code, message, request_id, data}}` and error codes. Besides them the mock serves \
         `/files/{{name}}` (the media behind result URLs) and the control plane under `/__mock/` \
         (see the README, \"Control plane\"), neither of which exists on Kling. The control plane \
         needs no token unless the mock runs with `--control-token`, and is not served with \
         `--no-control` (except `GET /__mock/health`).\n\n\
         Every answer except media files and this document is the Kling envelope; errors carry \
         no `data`. An unknown path is 404 / 1203, a method a path does not have 404 / 1202; \
         routing is decided before authentication.\n\n\
         Any public path (not `/__mock/`) can answer any documented error code when a \
         control-plane fault rule fires, and a create any code an outcome rule `reject` names: \
         every such operation lists a response for every status of the error table. Transport \
         faults (reset, close, hang, truncate, dribble) have no HTTP status and are not listed.\n\n\
         Error table (SOURCES.md: General Info):\n\n{}",
        error_table_text()
    );
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "kling-mock",
            "version": env!("CARGO_PKG_VERSION"),
            "description": description,
            "license": {"name": "MIT OR Apache-2.0", "identifier": "MIT OR Apache-2.0"},
        },
        "servers": [{"url": "/", "description": "The mock itself (default http://127.0.0.1:8080)."}],
        "tags": [
            {"name": "custom-voices", "description": "Custom and preset voices (SOURCES.md: Custom Voices)."},
            {"name": "audio", "description": "Text to speech, text to audio and video to audio (SOURCES.md: TTS, Text to Audio, Video to Audio)."},
            {"name": "video", "description": "Video generation: text to video, image to video, multi-image to video, extension, motion control, omni video (SOURCES.md: Text to Video, Image to Video, Capability Map)."},
            {"name": "images", "description": "Image generation: generations, omni-image, multi-image to image, expansion, virtual try-on, AI multi-shot; real PNG / JPEG pictures behind every URL (SOURCES.md: Image Generation, Capability Map)."},
            {"name": "elements", "description": "Advanced and legacy custom elements, the preset catalogue, deletes (SOURCES.md: Elements)."},
            {"name": "account", "description": "Resource packs (SOURCES.md: Account Information Inquiry)."},
            {"name": "files", "description": "Media behind result URLs (mock only)."},
            {"name": "control-plane", "description": "The mock's control plane (mock only; never faulted, delayed or journaled)."},
        ],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "`Authorization: Bearer <JWT>`, Kling's recipe: HS256 signed \
                                    with the secret key; claims `iss` = access key, `exp` (e.g. \
                                    now + 1800 s) and `nbf` (e.g. now - 5 s), checked against the \
                                    wall clock with 5 s leeway. Errors: 1001 no header, 1002 \
                                    invalid token, 1003 not yet valid, 1004 expired (HTTP 401).",
                },
                "controlToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "Only when the mock runs with `--control-token TOKEN`: the \
                                    control plane then needs `Authorization: Bearer TOKEN` \
                                    (401 / 1000 otherwise).",
                },
            },
            "schemas": schemas(),
            "responses": fault_responses(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_has_a_unique_id_and_its_path_parameters() {
        let mut ids = std::collections::HashSet::new();
        for op in operations() {
            assert!(ids.insert(op.id), "duplicate operationId {}", op.id);
            let in_path: Vec<&str> = op
                .path
                .split('/')
                .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
                .collect();
            let declared: Vec<&str> = op
                .params
                .iter()
                .filter(|p| p["in"] == "path")
                .filter_map(|p| p["name"].as_str())
                .collect();
            assert_eq!(in_path, declared, "{} {}", op.method, op.path);
        }
    }

    #[test]
    fn faultable_operations_answer_every_status_of_the_error_table() {
        let doc = document();
        let statuses = error_statuses();
        assert_eq!(statuses, [400, 401, 403, 404, 429, 500, 503, 504]);
        let op = &doc["paths"]["/v1/audio/tts"]["post"]["responses"];
        for s in &statuses {
            assert!(op.get(s.to_string()).is_some(), "{s}");
        }
        assert_eq!(
            op["401"]["x-kling-codes"],
            json!([1000, 1001, 1002, 1003, 1004])
        );
        assert_eq!(op["400"]["x-kling-codes"], json!([1200, 1201, 1300, 1301]));
        let health = &doc["paths"]["/__mock/health"]["get"]["responses"];
        assert_eq!(health.as_object().unwrap().len(), 1, "{health}");
    }

    #[test]
    fn the_tts_voice_enums_are_exactly_what_tts_accepts() {
        let catalog = crate::voices::VoiceCatalog::load(&crate::media::MediaLibrary::default());
        let tts_voices = crate::kinds::tts::tts_voices;
        let (en, zh) = (tts_voices("en"), tts_voices("zh"));
        assert!(!en.is_empty() && !zh.is_empty());
        assert_eq!(en.len() + zh.len(), catalog.tts_len());
        for v in &en {
            assert!(catalog.tts_accepts(v, crate::voices::Lang::En), "{v}");
        }
        for v in &zh {
            assert!(catalog.tts_accepts(v, crate::voices::Lang::Zh), "{v}");
        }
    }

    #[test]
    fn voice_url_pattern_follows_the_extension_rule() {
        let exts = crate::kinds::custom_voice::VOICE_URL_EXTENSIONS;
        let re = regex::Regex::new(&url_pattern(&exts)).unwrap();
        for ok in [
            "",
            "https://x/a.mp3",
            "https://x/a.WAV",
            "http://x/v.mp4?sig=1",
            "HTTPS://x/d/v.mov#t",
            "http://localhost:65535/files/kling_1.wav",
        ] {
            assert!(re.is_match(ok), "{ok}");
        }
        for bad in [
            "https://\u{1f}/a.mp3",
            "https://x:99999/a.mp3",
            "https://10.0.0.1/a.mp3",
            "https://x/a.ogg",
            "https://x.mp3",
            "ftp://x/a.mp3",
            "https://x/a.mp3/b",
            "a.mp3",
        ] {
            assert!(!re.is_match(bad), "{bad}");
        }
    }
}
