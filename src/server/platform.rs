//! Konnect's platform endpoints: the control planes API (`/v2/control-planes[/{id}]`) and the
//! data plane checks (`/v2/control-planes/{id}/expected-config-hash`, `…/nodes`). Errors are
//! problem documents (see `error`).

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use serde_json::json;

use super::error::{json_response, ApiError, Problem, Shape};
use super::request::{bounded, query_pairs, query_value, JsonBody, Scope};
use super::AppState;
use crate::controlplane::CpError;

/// `page[size]` when not given.
const DEFAULT_PAGE_SIZE: usize = 10;
/// The largest `page[size]`.
const MAX_PAGE_SIZE: usize = 100;
/// The filters of Konnect's `ControlPlaneFilterParameters` (and `filter[name]`); only the
/// name filters select anything here, and any other `filter[…]` key (or a bare `filter`) is
/// refused.
const FILTERS: [&str; 12] = [
    "filter[id][eq]",
    "filter[id][oeq]",
    "filter[name]",
    "filter[name][eq]",
    "filter[name][neq]",
    "filter[name][contains]",
    "filter[cluster_type][eq]",
    "filter[cluster_type][neq]",
    "filter[cluster_type][oeq]",
    "filter[cloud_gateway]",
    "filter[cloud_gateway][eq]",
    "filter[cloud_gateway][neq]",
];

/// A store error about control plane `id`, with a not-found saying which.
fn about(id: &str) -> impl FnOnce(ApiError) -> ApiError + '_ {
    move |e| {
        if matches!(e.problem, Problem::Store(CpError::NotFound { .. })) {
            ApiError::new(
                e.shape,
                Problem::Missing(format!("control plane '{id}' not found")),
            )
        } else {
            e
        }
    }
}

/// `GET /v2/control-planes` with `page[size]`, `page[number]` and `filter[name][eq]` (also
/// `filter[name]`): `{"meta": {"page": {number, size, total}}, "data": […]}`.
pub async fn list(State(app): State<AppState>, uri: Uri) -> Result<Response, ApiError> {
    let shape = Shape::Platform;
    let pairs = query_pairs(shape, &uri)?;
    let size = bounded(
        shape,
        &pairs,
        "page[size]",
        DEFAULT_PAGE_SIZE,
        MAX_PAGE_SIZE,
    )?;
    let number = bounded(shape, &pairs, "page[number]", 1, u32::MAX as usize)?;
    if let Some((key, _)) = pairs.iter().find(|(k, _)| {
        (k == "filter" || k.starts_with("filter[")) && !FILTERS.contains(&k.as_str())
    }) {
        return Err(ApiError::new(
            shape,
            Problem::InvalidQuery {
                param: key.clone(),
                message: format!("unknown filter {key}"),
            },
        ));
    }
    let name = query_value(&pairs, "filter[name][eq]")
        .or_else(|| query_value(&pairs, "filter[name]"))
        .map(str::to_string);
    let (data, total) = app
        .call(shape, move |store| {
            store.list_control_planes(name.as_deref(), size, number)
        })
        .await?;
    let body = json!({
        "meta": {"page": {"number": number, "size": size, "total": total}},
        "data": data,
    });
    Ok(json_response(StatusCode::OK, &body))
}

/// `POST /v2/control-planes` (`{name, description?, labels?}`): 201 with the control plane.
pub async fn create(
    State(app): State<AppState>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let created = app
        .call(Shape::Platform, move |store| {
            store.create_control_plane(&body)
        })
        .await?;
    Ok(json_response(StatusCode::CREATED, &created))
}

/// `GET /v2/control-planes/{id}`.
pub async fn get(State(app): State<AppState>, scope: Scope) -> Result<Response, ApiError> {
    let (id, wanted) = (scope.cp.clone(), scope.cp);
    let cp = app
        .call(Shape::Platform, move |store| {
            store.get_control_plane(&wanted)
        })
        .await
        .map_err(about(&id))?;
    Ok(json_response(StatusCode::OK, &cp))
}

/// `GET /v2/control-planes/{id}/expected-config-hash`.
pub async fn expected_config_hash(
    State(app): State<AppState>,
    scope: Scope,
) -> Result<Response, ApiError> {
    let (id, wanted) = (scope.cp.clone(), scope.cp);
    let hash = app
        .call(Shape::Platform, move |store| {
            store.expected_config_hash(&wanted)
        })
        .await
        .map_err(about(&id))?;
    Ok(json_response(StatusCode::OK, &hash))
}

/// `GET /v2/control-planes/{id}/nodes`: the simulated data plane node (one page holds it;
/// `page[size]` must still be a valid page size).
pub async fn nodes(
    State(app): State<AppState>,
    scope: Scope,
    uri: Uri,
) -> Result<Response, ApiError> {
    let pairs = query_pairs(Shape::Platform, &uri)?;
    bounded(
        Shape::Platform,
        &pairs,
        "page[size]",
        DEFAULT_PAGE_SIZE,
        MAX_PAGE_SIZE,
    )?;
    let (id, wanted) = (scope.cp.clone(), scope.cp);
    let nodes = app
        .call(Shape::Platform, move |store| store.nodes(&wanted))
        .await
        .map_err(about(&id))?;
    Ok(json_response(StatusCode::OK, &nodes))
}
