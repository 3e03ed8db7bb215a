//! Core-entity handlers, shared by Konnect's `/v2/control-planes/{id}/core-entities/…` and
//! the Admin API paths at the root: custom plugins, plugins (flat and nested under a scope),
//! services, routes, consumers, consumer groups, plugin schemas; and the data plane log.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use super::error::{json_response, ApiError, Problem, Shape};
use super::request::{At, JsonBody, ListParams, Located, Scope};
use super::AppState;
use crate::controlplane::{CpError, ListQuery};

/// The scope entity of a nested path, borrowed for a store call.
fn parent_ref(at: &Located) -> Option<(crate::controlplane::Kind, &str)> {
    at.parent.as_ref().map(|(kind, id)| (*kind, id.as_str()))
}

/// `GET …/{kind}` and `GET …/{kind}/{id}/plugins`: one page of the collection.
pub async fn list<const NESTED: bool>(
    State(app): State<AppState>,
    At(at): At<NESTED>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let params = ListParams::parse(at.shape, &uri)?;
    let query = ListQuery {
        size: params.size,
        offset: params.offset.clone(),
        tags: params.tags.as_ref().map(|(_, filter)| filter.clone()),
        name_eq: params.name_eq.clone(),
        parent: at.parent.clone(),
    };
    let (cp, kind) = (at.cp.clone(), at.kind);
    let page = app
        .call(at.shape, move |store| store.list(&cp, kind, &query))
        .await?;
    let mut body = Map::new();
    body.insert("data".into(), Value::Array(page.data));
    let next = page
        .offset
        .as_deref()
        .map(|offset| params.next_link(at.shape, &uri, &headers, offset));
    body.insert("next".into(), json!(next));
    // Kong leaves `offset` out on the last page; so does Konnect's spec, whose `offset` is a
    // string, never null.
    if let Some(offset) = page.offset {
        body.insert("offset".into(), json!(offset));
    }
    Ok(json_response(StatusCode::OK, &Value::Object(body)))
}

/// `POST …/{kind}` and `POST …/{kind}/{id}/plugins`: 201 with the stored entity.
pub async fn create<const NESTED: bool>(
    State(app): State<AppState>,
    At(at): At<NESTED>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let located = at.clone();
    let entity = app
        .call(at.shape, move |store| {
            store.create(&located.cp, located.kind, body, parent_ref(&located))
        })
        .await?;
    Ok(json_response(StatusCode::CREATED, &entity))
}

/// `GET …/{kind}/{id}` (and nested): 200 with the entity.
pub async fn get_one<const NESTED: bool>(
    State(app): State<AppState>,
    At(at): At<NESTED>,
    uri: Uri,
) -> Result<Response, ApiError> {
    boolean_params(at.shape, &uri, &["list_consumers", "expand_partials"])?;
    let (located, id) = (at.clone(), at.item()?);
    let entity = app
        .call(at.shape, move |store| {
            store.get(&located.cp, located.kind, &id, parent_ref(&located))
        })
        .await?;
    Ok(json_response(StatusCode::OK, &entity))
}

/// The boolean query parameters of the specs (`list_consumers` of a consumer group,
/// `expand_partials` of a plugin) must be `true` or `false` when given; the answer does not
/// depend on them here.
fn boolean_params(shape: Shape, uri: &Uri, names: &[&str]) -> Result<(), ApiError> {
    let pairs = super::request::query_pairs(shape, uri)?;
    for (name, value) in &pairs {
        if names.contains(&name.as_str()) && !matches!(value.as_str(), "true" | "false") {
            return Err(ApiError::new(
                shape,
                Problem::InvalidQuery {
                    param: name.clone(),
                    message: format!("{name} must be a boolean (true or false)"),
                },
            ));
        }
    }
    Ok(())
}

/// `PUT …/{kind}/{id}` (and nested): create or replace; 200 with the entity.
pub async fn put<const NESTED: bool>(
    State(app): State<AppState>,
    At(at): At<NESTED>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let (located, id) = (at.clone(), at.item()?);
    let entity = app
        .call(at.shape, move |store| {
            store.upsert(&located.cp, located.kind, &id, body, parent_ref(&located))
        })
        .await?;
    Ok(json_response(StatusCode::OK, &entity))
}

/// `PATCH …/{kind}/{id}` (Admin API only): merge into the entity; 200 with the result.
pub async fn patch<const NESTED: bool>(
    State(app): State<AppState>,
    At(at): At<NESTED>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let (located, id) = (at.clone(), at.item()?);
    let entity = app
        .call(at.shape, move |store| {
            store.patch(&located.cp, located.kind, &id, body, parent_ref(&located))
        })
        .await?;
    Ok(json_response(StatusCode::OK, &entity))
}

/// `DELETE …/{kind}/{id}` (and nested): 204, also when it did not exist.
pub async fn delete<const NESTED: bool>(
    State(app): State<AppState>,
    At(at): At<NESTED>,
) -> Result<Response, ApiError> {
    let (located, id) = (at.clone(), at.item()?);
    app.call(at.shape, move |store| {
        store.delete(&located.cp, located.kind, &id, parent_ref(&located))
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET …/schemas/plugins/{name}`: Kong's JSON form of a custom plugin's schema.
pub async fn plugin_schema(
    State(app): State<AppState>,
    scope: Scope,
) -> Result<Response, ApiError> {
    let name = scope.param("name").unwrap_or_default().to_string();
    let (cp, wanted) = (scope.cp.clone(), name.clone());
    let schema = app
        .call(scope.shape, move |store| store.plugin_schema(&cp, &wanted))
        .await
        .map_err(|e| {
            if matches!(e.problem, Problem::Store(CpError::NotFound { .. })) {
                ApiError::new(
                    scope.shape,
                    Problem::Missing(format!("No plugin named '{name}'")),
                )
            } else {
                e
            }
        })?;
    Ok(json_response(StatusCode::OK, &schema))
}

/// Query of `GET /_plugsync/dp-log`.
#[derive(Debug, serde::Deserialize)]
pub struct DpLogQuery {
    /// The control plane (default: `default`).
    control_plane_id: Option<String>,
}

/// `GET /_plugsync/dp-log[?control_plane_id=ID]`: every payload the simulated data plane
/// node received, oldest first.
/// `GET /clustering/data-planes` (Kong's Admin API of a hybrid-mode control plane, for the
/// `default` control plane): the simulated node with the config hash it runs, and, when it
/// rejected the last payload, `sync_status` `unknown` with the reason in `sync_error` (a
/// plugsync extension: Kong gives no reason there).
pub async fn clustering_data_planes(State(app): State<AppState>) -> Result<Response, ApiError> {
    let cp = app.default_cp.to_string();
    let nodes = app
        .call(Shape::Admin, move |store| store.nodes(&cp))
        .await?;
    let data: Vec<Value> = nodes
        .get("items")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|n| {
            let error = n
                .pointer("/compatibility_status/issues/0/description")
                .and_then(Value::as_str);
            let mut node = serde_json::json!({
                "id": n["id"],
                "hostname": n["hostname"],
                "ip": "127.0.0.1",
                "version": n["version"],
                "config_hash": n["config_hash"],
                "last_seen": n["last_ping"],
                "sync_status": if error.is_some() { "unknown" } else { "normal" },
            });
            if let Some(e) = error {
                node["sync_error"] = Value::from(e);
            }
            node
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({"data": data, "next": null}),
    ))
}

pub async fn dp_log(
    State(app): State<AppState>,
    query: Result<Query<DpLogQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| {
        ApiError::new(
            Shape::Admin,
            Problem::InvalidQuery {
                param: "control_plane_id".into(),
                message: format!("cannot parse the query string: {}", e.body_text()),
            },
        )
    })?;
    let cp = query
        .control_plane_id
        .unwrap_or_else(|| app.default_cp.to_string());
    let wanted = cp.clone();
    let log = app
        .call(Shape::Admin, move |store| store.dp_log(&wanted))
        .await
        .map_err(|e| {
            if matches!(e.problem, Problem::Store(CpError::NotFound { .. })) {
                ApiError::new(
                    Shape::Admin,
                    Problem::Missing(format!("control plane '{cp}' not found")),
                )
            } else {
                e
            }
        })?;
    Ok(json_response(StatusCode::OK, &Value::Array(log)))
}

/// `GET /`: a small node-information document, as Kong's Admin API root answers (clients read
/// `version` to learn what they talk to).
pub async fn root(State(app): State<AppState>) -> Response {
    let body = json!({
        "tagline": "Welcome to plugsync",
        "version": "3.15.0.0-enterprise-edition",
        "edition": "enterprise",
        "node_id": app.default_cp.as_ref(),
        "configuration": {
            "database": "sqlite",
            "custom_plugin_streaming_enabled": true,
            "untrusted_lua": crate::lua::ProfileName::default().untrusted_lua(),
        },
        "plugsync": {
            "version": env!("CARGO_PKG_VERSION"),
            "control_plane_id": app.default_cp.as_ref(),
        },
    });
    json_response(StatusCode::OK, &body)
}
