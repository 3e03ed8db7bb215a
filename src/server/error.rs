//! The three error dialects the server speaks, and the one error type every handler returns.
//!
//! A request is answered in the dialect of the API it addressed ([`Shape`]):
//!
//! * **Konnect core entities** (`/v2/control-planes/{id}/core-entities/…`): Konnect's gRPC-gateway
//!   body `{"code", "message", "details": [{"@type", "type", "field", "messages"}]}`. Validation,
//!   uniqueness and in-use refusals are HTTP 400 (`code` 3); not found is 404
//!   `{"code": 5, "message": "not found", "details": []}`.
//! * **Konnect platform** (the rest of `/v2`: control planes, nodes, expected config hash):
//!   RFC 7807 problem documents `{"status", "title", "instance", "detail"}`, with
//!   `invalid_parameters` on 400.
//! * **Kong Admin API** (every other path): Kong's `{"code", "name", "message", "fields"}` for DAO
//!   errors and the bare `{"message"}` for the rest (`kong/db/errors.lua`, `kong/api/endpoints.lua`).
//!
//! 401 is `{"message": "Unauthorized", "status": 401}` on `/v2` and Kong's `{"message":
//! "Unauthorized"}` elsewhere; 429 is Kong's rate-limiting body everywhere.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use crate::controlplane::{CpError, FieldError};
use crate::schema::validate::summary;

/// The `@type` of every Konnect error detail.
const DETAIL_TYPE: &str = "type.googleapis.com/kong.admin.model.v1.ErrorDetail";

/// The API dialect of a request, chosen by its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Konnect's core-entities API (`/v2/control-planes/{id}/core-entities/…`).
    Konnect,
    /// Konnect's platform API (control planes, nodes, expected config hash).
    Platform,
    /// Kong's Admin API (everything outside `/v2`).
    Admin,
}

impl Shape {
    /// The dialect of a request path.
    pub fn of_path(path: &str) -> Shape {
        let mut segments = path.trim_start_matches('/').split('/');
        if segments.next() != Some("v2") {
            return Shape::Admin;
        }
        match (segments.next(), segments.next(), segments.next()) {
            (Some("control-planes"), Some(_), Some("core-entities")) => Shape::Konnect,
            _ => Shape::Platform,
        }
    }
}

/// Injected server errors (see `faults`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Injected {
    /// 500 Internal Server Error.
    Internal,
    /// 502 Bad Gateway.
    BadGateway,
    /// 503 Service Unavailable.
    Unavailable,
    /// 504 Gateway Timeout.
    GatewayTimeout,
}

/// Why a request failed, before it is rendered in a dialect.
#[derive(Debug)]
pub enum Problem {
    /// The store refused the operation.
    Store(CpError),
    /// A query parameter is invalid (`size`, `page[size]`, …).
    InvalidQuery { param: String, message: String },
    /// The request body is not acceptable JSON (syntax, content type, empty).
    InvalidBody(String),
    /// The request body is larger than the server accepts.
    BodyTooLarge { limit: usize },
    /// No such path, or a path naming an unknown entity kind.
    NoRoute,
    /// Something the path names does not exist, with a message saying what (shown where the
    /// dialect has room for it: Kong's bare body and Konnect's problem documents).
    Missing(String),
    /// A path exists but not with that method.
    MethodNotAllowed,
    /// The token is missing or wrong.
    Unauthorized,
    /// Above `--rate-limit`, or an injected 429.
    RateLimited { retry_after_secs: u64 },
    /// An injected 500, 502, 503 or 504.
    Injected(Injected),
    /// A server-side failure outside the store (a panicked worker thread).
    Internal(String),
}

/// A failed request: the problem and the dialect to report it in.
#[derive(Debug)]
pub struct ApiError {
    /// The dialect of the answer.
    pub shape: Shape,
    /// What went wrong.
    pub problem: Problem,
}

impl ApiError {
    /// An error in `shape`.
    pub fn new(shape: Shape, problem: Problem) -> ApiError {
        ApiError { shape, problem }
    }

    /// A store error in `shape`.
    pub fn store(shape: Shape, err: CpError) -> ApiError {
        ApiError::new(shape, Problem::Store(err))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Problem::Store(CpError::Storage { message }) = &self.problem {
            crate::eline!("error: storage failure while serving a request: {message}");
        }
        if let Problem::Internal(message) = &self.problem {
            crate::eline!("error: internal failure while serving a request: {message}");
        }
        let (status, mut body) = match self.shape {
            Shape::Konnect => konnect(&self.problem),
            Shape::Platform => platform(&self.problem),
            Shape::Admin => admin(&self.problem),
        };
        cap_echo(&mut body);
        let problem_json = self.shape == Shape::Platform
            && !matches!(
                self.problem,
                Problem::Unauthorized | Problem::RateLimited { .. }
            );
        let mut response = json_response(status, &body);
        if problem_json {
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/problem+json"),
            );
        }
        match self.problem {
            Problem::RateLimited { retry_after_secs } => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            }
            Problem::Unauthorized => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}

/// Most list items, object members and characters an error body echoes back: a request
/// with thousands of unknown keys, or a name of megabytes, must not be answered with an error
/// larger than itself.
const ECHO_ITEMS: usize = 50;
const ECHO_CHARS: usize = 1000;

/// Cuts an error body to [`ECHO_ITEMS`] items and members per level and [`ECHO_CHARS`]
/// characters per string, saying how much was left out.
pub fn cap_echo(v: &mut Value) {
    match v {
        Value::String(s) => {
            let n = s.chars().count();
            if n > ECHO_CHARS {
                let cut: String = s.chars().take(ECHO_CHARS).collect();
                *s = format!("{cut}… ({} more characters)", n - ECHO_CHARS);
            }
        }
        Value::Array(items) => {
            let extra = items.len().saturating_sub(ECHO_ITEMS);
            items.truncate(ECHO_ITEMS);
            items.iter_mut().for_each(cap_echo);
            if extra > 0 {
                // The marker keeps the list's item type (a list of error objects stays one).
                let marker = format!("… and {extra} more");
                items.push(match items.first() {
                    Some(Value::Object(_)) => serde_json::json!({ "message": marker }),
                    _ => Value::String(marker),
                });
            }
        }
        Value::Object(members) => {
            let extra = members.len().saturating_sub(ECHO_ITEMS);
            let mut kept = Map::new();
            for (k, mut v) in std::mem::take(members).into_iter().take(ECHO_ITEMS) {
                cap_echo(&mut v);
                let mut key = Value::String(k);
                cap_echo(&mut key);
                if let Value::String(k) = key {
                    kept.insert(k, v);
                }
            }
            if extra > 0 {
                kept.insert("…".into(), Value::String(format!("{extra} more")));
            }
            *members = kept;
        }
        _ => {}
    }
}

/// A JSON response with `status`.
pub fn json_response(status: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        bytes,
    )
        .into_response()
}

/// One Konnect error detail.
fn detail(kind: &str, field: Option<&str>, messages: Vec<String>) -> Value {
    let mut d = Map::new();
    d.insert("@type".into(), json!(DETAIL_TYPE));
    d.insert("type".into(), json!(kind));
    if let Some(field) = field {
        d.insert("field".into(), json!(field));
    }
    d.insert("messages".into(), json!(messages));
    Value::Object(d)
}

/// Konnect's details for a validation failure: one `ERROR_TYPE_FIELD` per field error, one
/// `ERROR_TYPE_ENTITY` per entity-check failure (with the record's path as `field`, if nested).
fn validation_details(fields: &[FieldError], entity: &[String]) -> Vec<Value> {
    let mut details: Vec<Value> = entity
        .iter()
        .map(|m| detail("ERROR_TYPE_ENTITY", None, vec![m.clone()]))
        .collect();
    for f in fields {
        let record = if f.path == "@entity" {
            Some("")
        } else {
            f.path.strip_suffix(".@entity")
        };
        details.push(match record {
            Some("") => detail("ERROR_TYPE_ENTITY", None, vec![f.message.clone()]),
            Some(record) => detail("ERROR_TYPE_ENTITY", Some(record), vec![f.message.clone()]),
            None => detail("ERROR_TYPE_FIELD", Some(&f.path), vec![f.message.clone()]),
        });
    }
    details
}

/// A Konnect gRPC-gateway error body.
fn grpc(code: u16, message: &str, details: Vec<Value>) -> Value {
    json!({"code": code, "message": message, "details": details})
}

/// Status and body in Konnect's core-entities dialect.
fn konnect(problem: &Problem) -> (StatusCode, Value) {
    match problem {
        Problem::Store(err) => match err {
            CpError::NotFound { .. } => (StatusCode::NOT_FOUND, grpc(5, "not found", vec![])),
            CpError::Invalid {
                message,
                fields,
                entity,
            } => {
                let mut details = validation_details(fields, entity);
                if details.is_empty() {
                    details.push(detail("ERROR_TYPE_ENTITY", None, vec![message.clone()]));
                }
                (
                    StatusCode::BAD_REQUEST,
                    grpc(3, "validation error", details),
                )
            }
            CpError::Unique { field, message } => (
                StatusCode::BAD_REQUEST,
                grpc(
                    3,
                    "data constraint error",
                    vec![detail(
                        "ERROR_TYPE_REFERENCE",
                        Some(field),
                        vec![message.clone()],
                    )],
                ),
            ),
            CpError::InUse { message } => (
                StatusCode::BAD_REQUEST,
                grpc(
                    3,
                    "data constraint error",
                    vec![detail("ERROR_TYPE_REFERENCE", None, vec![message.clone()])],
                ),
            ),
            CpError::BadRequest { message } => (StatusCode::BAD_REQUEST, grpc(3, message, vec![])),
            CpError::Storage { message } => (
                StatusCode::INTERNAL_SERVER_ERROR,
                grpc(13, &format!("storage error: {message}"), vec![]),
            ),
        },
        Problem::InvalidQuery { param, message } => (
            StatusCode::BAD_REQUEST,
            grpc(
                3,
                "validation error",
                vec![detail(
                    "ERROR_TYPE_FIELD",
                    Some(param),
                    vec![message.clone()],
                )],
            ),
        ),
        Problem::InvalidBody(message) => (StatusCode::BAD_REQUEST, grpc(3, message, vec![])),
        Problem::BodyTooLarge { limit } => (
            StatusCode::PAYLOAD_TOO_LARGE,
            grpc(3, &too_large(*limit), vec![]),
        ),
        Problem::NoRoute | Problem::Missing(_) => {
            (StatusCode::NOT_FOUND, grpc(5, "not found", vec![]))
        }
        Problem::MethodNotAllowed => (
            StatusCode::METHOD_NOT_ALLOWED,
            grpc(12, "method not allowed", vec![]),
        ),
        Problem::Injected(Injected::Internal) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            grpc(13, "internal error (injected fault)", vec![]),
        ),
        Problem::Injected(Injected::Unavailable) => (
            StatusCode::SERVICE_UNAVAILABLE,
            grpc(14, "service unavailable (injected fault)", vec![]),
        ),
        Problem::Injected(Injected::BadGateway) => (
            StatusCode::BAD_GATEWAY,
            grpc(14, "bad gateway (injected fault)", vec![]),
        ),
        Problem::Injected(Injected::GatewayTimeout) => (
            StatusCode::GATEWAY_TIMEOUT,
            grpc(4, "gateway timeout (injected fault)", vec![]),
        ),
        Problem::Internal(message) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            grpc(13, &format!("internal error: {message}"), vec![]),
        ),
        Problem::Unauthorized | Problem::RateLimited { .. } => common(problem, true),
    }
}

/// A trace id for problem documents (`konnect:trace:N`, unique per process).
fn trace() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!(
        "konnect:trace:plugsync-{}",
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// An RFC 7807 problem document.
fn problem_doc(status: StatusCode, detail: &str) -> (StatusCode, Value) {
    let title = status.canonical_reason().unwrap_or("Error");
    (
        status,
        json!({"status": status.as_u16(), "title": title, "instance": trace(), "detail": detail}),
    )
}

/// A 400 problem document; Konnect's `BadRequestError` always carries `invalid_parameters`.
fn bad_request_doc(field: &str, reason: &str) -> (StatusCode, Value) {
    let (status, mut body) = problem_doc(StatusCode::BAD_REQUEST, reason);
    body["invalid_parameters"] = json!([{"field": field, "source": "body", "reason": reason}]);
    (status, body)
}

/// Status and body in Konnect's platform dialect.
fn platform(problem: &Problem) -> (StatusCode, Value) {
    match problem {
        Problem::Store(err) => match err {
            CpError::NotFound { .. } => problem_doc(StatusCode::NOT_FOUND, "not found"),
            CpError::Invalid {
                message,
                fields,
                entity,
            } => {
                let (status, mut body) = problem_doc(StatusCode::BAD_REQUEST, message);
                let mut params: Vec<Value> = fields
                    .iter()
                    .map(|f| json!({"field": f.path, "reason": f.message}))
                    .collect();
                params.extend(entity.iter().map(|m| json!({"field": "", "reason": m})));
                body["invalid_parameters"] = Value::Array(params);
                (status, body)
            }
            CpError::Unique { message, .. } => problem_doc(StatusCode::CONFLICT, message),
            CpError::InUse { message } => problem_doc(StatusCode::CONFLICT, message),
            CpError::BadRequest { message } => bad_request_doc("body", message),
            CpError::Storage { message } => problem_doc(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("storage error: {message}"),
            ),
        },
        Problem::InvalidQuery { param, message } => {
            let (status, mut body) = problem_doc(StatusCode::BAD_REQUEST, "invalid parameters");
            body["invalid_parameters"] =
                json!([{"field": param, "source": "query", "reason": message}]);
            (status, body)
        }
        Problem::InvalidBody(message) => bad_request_doc("body", message),
        Problem::BodyTooLarge { limit } => {
            problem_doc(StatusCode::PAYLOAD_TOO_LARGE, &too_large(*limit))
        }
        Problem::NoRoute => problem_doc(StatusCode::NOT_FOUND, "not found"),
        Problem::Missing(message) => problem_doc(StatusCode::NOT_FOUND, message),
        Problem::MethodNotAllowed => {
            problem_doc(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
        }
        Problem::Injected(Injected::Internal) => problem_doc(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error (injected fault)",
        ),
        Problem::Injected(Injected::Unavailable) => problem_doc(
            StatusCode::SERVICE_UNAVAILABLE,
            "service unavailable (injected fault)",
        ),
        Problem::Injected(Injected::BadGateway) => {
            problem_doc(StatusCode::BAD_GATEWAY, "bad gateway (injected fault)")
        }
        Problem::Injected(Injected::GatewayTimeout) => problem_doc(
            StatusCode::GATEWAY_TIMEOUT,
            "gateway timeout (injected fault)",
        ),
        Problem::Internal(message) => problem_doc(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("internal error: {message}"),
        ),
        Problem::Unauthorized | Problem::RateLimited { .. } => common(problem, true),
    }
}

/// Kong's DAO error body `{code, name, message, fields}`.
fn kong_err(code: u16, name: &str, message: &str, fields: Value) -> Value {
    json!({"code": code, "name": name, "message": message, "fields": fields})
}

/// Kong's bare `{"message"}` body.
fn bare(message: &str) -> Value {
    json!({ "message": message })
}

/// Kong's nested `fields` table of a schema violation: `config.foo` → `{"config": {"foo": msg}}`,
/// entity-check failures as `@entity` arrays on their record.
fn nested_fields(fields: &[FieldError], entity: &[String]) -> Value {
    let mut root = Map::new();
    for m in entity {
        push_entity(&mut root, m);
    }
    for f in fields {
        let segments: Vec<&str> = f.path.split('.').collect();
        insert_path(&mut root, &segments, &f.message);
    }
    Value::Object(root)
}

/// Puts `message` at `segments` under `node`; an entry already there wins (Kong reports
/// one error per field).
fn insert_path(node: &mut Map<String, Value>, segments: &[&str], message: &str) {
    match segments {
        [] => {}
        ["@entity"] => push_entity(node, message),
        [last] => {
            node.entry((*last).to_string())
                .or_insert_with(|| json!(message));
        }
        [first, rest @ ..] => {
            let entry = node
                .entry((*first).to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(child) = entry {
                insert_path(child, rest, message);
            }
        }
    }
}

/// Appends an entity-check message to a record's `@entity` array.
fn push_entity(node: &mut Map<String, Value>, message: &str) {
    let entry = node
        .entry("@entity".to_string())
        .or_insert_with(|| Value::Array(vec![]));
    if let Value::Array(list) = entry {
        list.push(json!(message));
    }
}

/// Kong's one-line message of a schema violation, from the field errors when there are any.
fn violation_message(message: &str, fields: &[FieldError], entity: &[String]) -> String {
    if fields.is_empty() && entity.is_empty() {
        return format!("schema violation ({message})");
    }
    let mut all: Vec<FieldError> = entity
        .iter()
        .map(|m| FieldError {
            path: "@entity".to_string(),
            message: m.clone(),
        })
        .collect();
    all.extend(fields.iter().cloned());
    summary(&all)
}

/// Status and body in Kong's Admin API dialect.
fn admin(problem: &Problem) -> (StatusCode, Value) {
    match problem {
        Problem::Store(err) => match err {
            CpError::NotFound { .. } => (StatusCode::NOT_FOUND, bare("Not found")),
            CpError::Invalid {
                message,
                fields,
                entity,
            } => {
                let mut nested = nested_fields(fields, entity);
                if fields.is_empty() && entity.is_empty() {
                    nested = json!({"@entity": [message]});
                }
                (
                    StatusCode::BAD_REQUEST,
                    kong_err(
                        2,
                        "schema violation",
                        &violation_message(message, fields, entity),
                        nested,
                    ),
                )
            }
            CpError::Unique { field, message } => (
                StatusCode::CONFLICT,
                kong_err(
                    5,
                    "unique constraint violation",
                    message,
                    json!({ field.as_str(): message }),
                ),
            ),
            CpError::InUse { message } => (
                StatusCode::BAD_REQUEST,
                kong_err(4, "foreign key violation", message, json!({})),
            ),
            CpError::BadRequest { message } => (StatusCode::BAD_REQUEST, bare(message)),
            CpError::Storage { .. } => (
                StatusCode::INTERNAL_SERVER_ERROR,
                bare("An unexpected error occurred"),
            ),
        },
        Problem::InvalidQuery { param, message } if param == "size" => (
            StatusCode::BAD_REQUEST,
            json!({"code": 9, "name": "invalid size", "message": message}),
        ),
        Problem::InvalidQuery { message, .. } => (StatusCode::BAD_REQUEST, bare(message)),
        Problem::InvalidBody(message) => (StatusCode::BAD_REQUEST, bare(message)),
        Problem::BodyTooLarge { limit } => {
            (StatusCode::PAYLOAD_TOO_LARGE, bare(&too_large(*limit)))
        }
        Problem::NoRoute => (StatusCode::NOT_FOUND, bare("Not found")),
        Problem::Missing(message) => (StatusCode::NOT_FOUND, bare(message)),
        Problem::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, bare("Method not allowed")),
        Problem::Injected(Injected::Internal) | Problem::Internal(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            bare("An unexpected error occurred"),
        ),
        Problem::Injected(Injected::Unavailable) => {
            (StatusCode::SERVICE_UNAVAILABLE, bare("Service unavailable"))
        }
        Problem::Injected(Injected::BadGateway) => (StatusCode::BAD_GATEWAY, bare("Bad gateway")),
        Problem::Injected(Injected::GatewayTimeout) => {
            (StatusCode::GATEWAY_TIMEOUT, bare("Gateway timeout"))
        }
        Problem::Unauthorized | Problem::RateLimited { .. } => common(problem, false),
    }
}

/// Bodies shared by the dialects (401 and 429); `konnect` adds `status` to a 401 as Konnect does.
fn common(problem: &Problem, konnect: bool) -> (StatusCode, Value) {
    match problem {
        Problem::RateLimited { .. } => (
            StatusCode::TOO_MANY_REQUESTS,
            bare("API rate limit exceeded"),
        ),
        _ if konnect => (
            StatusCode::UNAUTHORIZED,
            json!({"message": "Unauthorized", "status": 401}),
        ),
        _ => (StatusCode::UNAUTHORIZED, bare("Unauthorized")),
    }
}

/// The message of a refused oversized body.
fn too_large(limit: usize) -> String {
    format!("request body too large: the limit is {limit} bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_follow_the_path() {
        assert_eq!(
            Shape::of_path("/v2/control-planes/x/core-entities/plugins"),
            Shape::Konnect
        );
        assert_eq!(
            Shape::of_path("/v2/control-planes/x/nodes"),
            Shape::Platform
        );
        assert_eq!(Shape::of_path("/v2/control-planes"), Shape::Platform);
        assert_eq!(Shape::of_path("/v2"), Shape::Platform);
        assert_eq!(Shape::of_path("/plugins"), Shape::Admin);
        assert_eq!(Shape::of_path("/v2x/plugins"), Shape::Admin);
    }

    fn invalid() -> CpError {
        CpError::Invalid {
            message: "schema violation".into(),
            fields: vec![
                FieldError {
                    path: "config.foo".into(),
                    message: "required field missing".into(),
                },
                FieldError {
                    path: "config.@entity".into(),
                    message: "at least one of these fields must be non-empty: 'config.a'".into(),
                },
            ],
            entity: vec![],
        }
    }

    #[test]
    fn konnect_validation_details_carry_field_paths() {
        let (status, body) = konnect(&Problem::Store(invalid()));
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["code"], 3);
        assert_eq!(body["message"], "validation error");
        assert_eq!(body["details"][0]["@type"], DETAIL_TYPE);
        assert_eq!(body["details"][0]["type"], "ERROR_TYPE_FIELD");
        assert_eq!(body["details"][0]["field"], "config.foo");
        assert_eq!(body["details"][1]["type"], "ERROR_TYPE_ENTITY");
        assert_eq!(body["details"][1]["field"], "config");
    }

    #[test]
    fn kong_schema_violation_nests_fields() {
        let (status, body) = admin(&Problem::Store(invalid()));
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["code"], 2);
        assert_eq!(body["name"], "schema violation");
        assert_eq!(body["fields"]["config"]["foo"], "required field missing");
        assert_eq!(
            body["fields"]["config"]["@entity"][0],
            "at least one of these fields must be non-empty: 'config.a'"
        );
        assert!(body["message"]
            .as_str()
            .unwrap()
            .starts_with("2 schema violations ("));
    }

    #[test]
    fn kong_unique_is_409() {
        let err = CpError::Unique {
            field: "name".into(),
            message: "UNIQUE violation detected on '{name=\"x\"}'".into(),
        };
        let (status, body) = admin(&Problem::Store(err));
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(body["code"], 5);
    }
}
