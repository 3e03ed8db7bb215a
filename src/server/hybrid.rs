//! Konnect hybrid mode: the `plugin-schemas` collection of a control plane, in Konnect's legacy
//! shapes (`{"item": …}`, `{"items": […], "page": {"total_count": N}}`, `page[size]` and
//! `page[after]`, errors as `{"message": …}`), and `/_plugsync/dp-plugins`, the files installed
//! on the simulated data plane node.

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::error::{json_response, Problem, Shape};
use super::request::{query_pairs, JsonBody, Scope};
use super::AppState;
use crate::controlplane::{CpError, Kind, ListQuery};

/// An error in Konnect's legacy shape: `{"message": …}` with the status.
fn legacy(status: StatusCode, message: impl Into<String>) -> Response {
    json_response(status, &json!({ "message": message.into() }))
}

/// A store error in the legacy shape. An unknown control plane (`cp`) is answered as every
/// core-entity path answers it (docs/conformance.md, deviation D2).
fn legacy_error(e: CpError, cp: &str) -> Response {
    if matches!(&e, CpError::NotFound { id, .. } if id == cp) {
        return super::error::ApiError::store(Shape::Konnect, e).into_response();
    }
    match e {
        CpError::NotFound { .. } => legacy(StatusCode::NOT_FOUND, "Not Found"),
        CpError::Unique { message, .. } => legacy(StatusCode::CONFLICT, message),
        CpError::Storage { message } => legacy(StatusCode::INTERNAL_SERVER_ERROR, message),
        other => legacy(StatusCode::BAD_REQUEST, other.to_string()),
    }
}

/// Runs a store call on the blocking pool; errors in the legacy shape.
async fn call<T, F>(app: &AppState, cp: String, f: F) -> Result<T, Response>
where
    T: Send + 'static,
    F: FnOnce(&crate::controlplane::ControlPlanes) -> Result<T, CpError> + Send + 'static,
{
    app.call(Shape::Konnect, f)
        .await
        .map_err(|e| match e.problem {
            Problem::Store(inner) => legacy_error(inner, &cp),
            _ => e.into_response(),
        })
}

/// As [`call`], for the list: its 400 (a bad `page[after]` cursor) is a platform error
/// (`application/problem+json`), as the spec documents.
async fn call_list<T, F>(app: &AppState, cp: String, f: F) -> Result<T, Response>
where
    T: Send + 'static,
    F: FnOnce(&crate::controlplane::ControlPlanes) -> Result<T, CpError> + Send + 'static,
{
    app.call(Shape::Konnect, f)
        .await
        .map_err(|e| match e.problem {
            Problem::Store(CpError::BadRequest { message }) => problem_json(
                StatusCode::BAD_REQUEST,
                &json!({
                    "status": 400,
                    "title": "Bad Request",
                    "instance": format!("konnect:trace:{}", crate::model::hash::sha256_hex(message.as_bytes()).get(..16).unwrap_or("0")),
                    "detail": message,
                    "invalid_parameters": [{"field": "page[after]", "reason": "is not a valid cursor", "source": "query"}],
                }),
            ),
            Problem::Store(inner) => legacy_error(inner, &cp),
            _ => e.into_response(),
        })
}

/// A platform error body (`application/problem+json`).
fn problem_json(status: StatusCode, body: &Value) -> Response {
    let mut response = json_response(status, body);
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/problem+json"),
    );
    response
}

/// `page[size]` (1..=1000, default 100) and `page[after]` (an opaque cursor).
fn page_params(uri: &Uri) -> Result<(usize, Option<String>), Box<Response>> {
    let pairs =
        query_pairs(Shape::Platform, uri).map_err(|e| Box::new(IntoResponse::into_response(e)))?;
    let mut size = 100;
    let mut after = None;
    for (k, v) in pairs {
        match k.as_str() {
            "page[size]" => match v.parse::<usize>() {
                Ok(n) if (1..=1000).contains(&n) => size = n,
                _ => {
                    // The list's 400 is a platform error (problem+json), unlike the others.
                    return Err(Box::new(problem_json(
                        StatusCode::BAD_REQUEST,
                        &json!({
                            "status": 400,
                            "title": "Bad Request",
                            "instance": format!("konnect:trace:{}", crate::model::hash::sha256_hex(v.as_bytes()).get(..16).unwrap_or("0")),
                            "detail": "page[size] must be an integer from 1 to 1000",
                            "invalid_parameters": [{"field": "page[size]", "reason": "must be an integer from 1 to 1000", "source": "query"}],
                        }),
                    )));
                }
            },
            "page[after]" if !v.is_empty() => after = Some(v),
            _ => {}
        }
    }
    Ok((size, after))
}

/// `GET …/core-entities/plugin-schemas`.
pub async fn list(State(app): State<AppState>, scope: Scope, uri: Uri) -> Response {
    let (size, after) = match page_params(&uri) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let cp = scope.cp.clone();
    let result = call_list(&app, cp.clone(), move |store| {
        let first = store.list(
            &cp,
            Kind::PluginSchema,
            &ListQuery {
                size,
                offset: after,
                ..ListQuery::default()
            },
        )?;
        let mut total = 0usize;
        let mut offset = None;
        loop {
            let page = store.list(
                &cp,
                Kind::PluginSchema,
                &ListQuery {
                    size: 1000,
                    offset: offset.take(),
                    ..ListQuery::default()
                },
            )?;
            total += page.data.len();
            match page.offset {
                Some(o) => offset = Some(o),
                None => break,
            }
        }
        Ok((first, total))
    })
    .await;
    match result {
        Ok((page, total)) => {
            let mut meta = json!({ "total_count": total });
            if let Some(next) = page.offset {
                meta["next"] = Value::from(next);
            }
            json_response(StatusCode::OK, &json!({ "items": page.data, "page": meta }))
        }
        Err(r) => r,
    }
}

/// `POST …/core-entities/plugin-schemas`: 201 `{"item": …}`; 409 when the name is taken.
pub async fn create(State(app): State<AppState>, scope: Scope, body: JsonBody) -> Response {
    let JsonBody(body) = body;
    let cp = scope.cp.clone();
    match call(&app, cp.clone(), move |store| {
        store.create(&cp, Kind::PluginSchema, body, None)
    })
    .await
    {
        Ok(item) => json_response(StatusCode::CREATED, &json!({ "item": item })),
        Err(r) => r,
    }
}

/// `GET …/core-entities/plugin-schemas/{name}`.
pub async fn get_one(State(app): State<AppState>, scope: Scope) -> Response {
    let (cp, name) = (
        scope.cp.clone(),
        scope.param("name").unwrap_or("").to_string(),
    );
    match call(&app, cp.clone(), move |store| {
        store.get(&cp, Kind::PluginSchema, &name, None)
    })
    .await
    {
        Ok(item) => json_response(StatusCode::OK, &json!({ "item": item })),
        Err(r) => r,
    }
}

/// `PUT …/core-entities/plugin-schemas/{name}`: create or update; the schema must be named
/// `{name}`.
pub async fn put(State(app): State<AppState>, scope: Scope, body: JsonBody) -> Response {
    let JsonBody(body) = body;
    let (cp, name) = (
        scope.cp.clone(),
        scope.param("name").unwrap_or("").to_string(),
    );
    match call(&app, cp.clone(), move |store| {
        store.upsert(&cp, Kind::PluginSchema, &name, body, None)
    })
    .await
    {
        Ok(item) => json_response(StatusCode::OK, &json!({ "item": item })),
        Err(r) => r,
    }
}

/// `DELETE …/core-entities/plugin-schemas/{name}`: 204; 404 when there is none.
pub async fn delete(State(app): State<AppState>, scope: Scope) -> Response {
    let (cp, name) = (
        scope.cp.clone(),
        scope.param("name").unwrap_or("").to_string(),
    );
    match call(&app, cp.clone(), move |store| {
        store.get(&cp, Kind::PluginSchema, &name, None)?;
        store.delete(&cp, Kind::PluginSchema, &name, None)
    })
    .await
    {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(r) => r,
    }
}

/// The control plane of a `/_plugsync/…` request: `?control_plane_id=ID`, or `default`.
fn dp_cp(app: &AppState, uri: &Uri) -> Result<String, Box<Response>> {
    let pairs =
        query_pairs(Shape::Admin, uri).map_err(|e| Box::new(IntoResponse::into_response(e)))?;
    Ok(pairs
        .into_iter()
        .find(|(k, _)| k == "control_plane_id")
        .map(|(_, v)| v)
        .unwrap_or_else(|| app.default_cp().to_string()))
}

/// `GET /_plugsync/dp-plugins`: the plugins installed on the simulated node.
pub async fn node_plugins(State(app): State<AppState>, uri: Uri) -> Response {
    let cp = match dp_cp(&app, &uri) {
        Ok(cp) => cp,
        Err(r) => return *r,
    };
    match call(&app, cp.clone(), move |store| store.node_plugins(&cp)).await {
        Ok(list) => json_response(StatusCode::OK, &Value::Array(list)),
        Err(r) => r,
    }
}

/// `PUT /_plugsync/dp-plugins/{name}` with `{"schema": "…", "handler": "…"}`: installs a
/// plugin's files on the node (a rollout), which then receives the configuration again.
pub async fn install(
    State(app): State<AppState>,
    scope: Scope,
    uri: Uri,
    body: JsonBody,
) -> Response {
    let JsonBody(body) = body;
    let cp = match dp_cp(&app, &uri) {
        Ok(cp) => cp,
        Err(r) => return *r,
    };
    let name = scope.param("name").unwrap_or("").to_string();
    let Some(schema) = body
        .get("schema")
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        return legacy(
            StatusCode::BAD_REQUEST,
            "`schema` (the schema.lua text) is required",
        );
    };
    let handler = body
        .get("handler")
        .and_then(Value::as_str)
        .map(str::to_string);
    match call(&app, cp.clone(), move |store| {
        store.install_node_plugin(&cp, &name, handler.as_deref(), &schema)
    })
    .await
    {
        Ok(v) => json_response(StatusCode::OK, &v),
        Err(r) => r,
    }
}

/// `DELETE /_plugsync/dp-plugins/{name}`: removes a plugin's files from the node.
pub async fn remove(State(app): State<AppState>, scope: Scope, uri: Uri) -> Response {
    let cp = match dp_cp(&app, &uri) {
        Ok(cp) => cp,
        Err(r) => return *r,
    };
    let name = scope.param("name").unwrap_or("").to_string();
    match call(&app, cp.clone(), move |store| {
        store.remove_node_plugin(&cp, &name)
    })
    .await
    {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(r) => r,
    }
}
