//! `plugsync serve`: the HTTP facade over the local control plane ([`crate::controlplane`]).
//!
//! A thin layer: it routes, reads and validates requests (paths, query parameters, JSON
//! bodies), calls the store on tokio's blocking pool (every write is a committed SQLite
//! transaction before the store returns, so an answered write is durable), and renders
//! answers and errors in the dialect of the API addressed:
//!
//! * Konnect's shape under `/v2`: the control planes API, the data plane checks
//!   (`platform`) and the core entities of each control plane (`entities`);
//! * Kong's Admin API shape at the root, for the `default` control plane (`entities`);
//! * `/_plugsync/dp-log`, the simulated data plane's log, for tests;
//! * Konnect's `plugin-schemas` (hybrid mode) in its legacy shapes, and
//!   `/_plugsync/dp-plugins`, the plugin files installed on the simulated node (`hybrid`).
//!
//! Around the routes, outermost first: the `--token` check (`auth`), then `--rate-limit` and
//! `--fault-rate` (`faults`, which can drop connections through `conn`). `docs/local-control-plane.md`
//! is the user's description of all of it.

mod auth;
mod conn;
mod entities;
mod error;
mod faults;
mod hybrid;
mod platform;
mod request;

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, MethodRouter};
use axum::Router;
use tokio::net::TcpListener;

pub use self::auth::Token;
use self::conn::{DroppableListener, Dropper};
use self::error::{ApiError, Problem, Shape};
pub use self::faults::FaultKind;
use self::faults::{FaultPlan, Misbehaviour, RateLimiter};
use crate::controlplane::{ControlPlanes, CpError};

/// The largest request body accepted (larger ones are answered 413).
pub const BODY_LIMIT: usize = 8 * 1024 * 1024;

/// How long a graceful shutdown waits for requests in flight before giving up on them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// What every handler shares: the store and the id of the `default` control plane.
#[derive(Clone)]
pub struct AppState {
    store: Arc<ControlPlanes>,
    default_cp: Arc<str>,
}

impl AppState {
    /// Serves `store`; the Admin API paths address its `default` control plane.
    pub fn new(store: Arc<ControlPlanes>) -> AppState {
        let default_cp = store.default_id().into();
        AppState { store, default_cp }
    }

    /// The id of the `default` control plane.
    pub fn default_cp(&self) -> &str {
        &self.default_cp
    }

    /// Runs a store call on the blocking pool; its error is answered in `shape`.
    async fn call<T, F>(&self, shape: Shape, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&ControlPlanes) -> Result<T, CpError> + Send + 'static,
    {
        let store = Arc::clone(&self.store);
        match tokio::task::spawn_blocking(move || f(&store)).await {
            Ok(result) => result.map_err(|e| ApiError::store(shape, e)),
            Err(e) => Err(ApiError::new(
                shape,
                Problem::Internal(format!("the store call did not complete: {e}")),
            )),
        }
    }
}

/// The server's options beyond the store.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--token`: require it on every request.
    pub token: Option<Token>,
    /// `--fault-rate` and `--fault-seed`.
    pub faults: Option<(f64, u64)>,
    /// `--fault-kinds` (empty: the default mix of 429, 500, 503 and dropped connections).
    pub fault_kinds: Vec<FaultKind>,
    /// `--fault-delay-ms`: how long a `slow` fault holds its answer.
    pub fault_delay: Duration,
    /// `--rate-limit`, requests per second.
    pub rate_limit: Option<f64>,
}

/// Item routes of one entity path: GET, PUT, DELETE, and PATCH on the Admin API.
fn item_routes<const NESTED: bool>(admin: bool) -> MethodRouter<AppState> {
    let routes = get(entities::get_one::<NESTED>)
        .put(entities::put::<NESTED>)
        .delete(entities::delete::<NESTED>);
    if admin {
        routes.patch(entities::patch::<NESTED>)
    } else {
        routes
    }
}

/// Adds the core-entity routes under `prefix` (`""` for the Admin API).
fn entity_routes(router: Router<AppState>, prefix: &str, admin: bool) -> Router<AppState> {
    router
        .route(
            &format!("{prefix}/schemas/plugins/{{name}}"),
            get(entities::plugin_schema),
        )
        .route(
            &format!("{prefix}/{{kind}}"),
            get(entities::list::<false>).post(entities::create::<false>),
        )
        .route(
            &format!("{prefix}/{{kind}}/{{id}}"),
            item_routes::<false>(admin),
        )
        .route(
            &format!("{prefix}/{{kind}}/{{id}}/plugins"),
            get(entities::list::<true>).post(entities::create::<true>),
        )
        .route(
            &format!("{prefix}/{{kind}}/{{id}}/plugins/{{plugin}}"),
            item_routes::<true>(admin),
        )
}

/// 404 for paths no route matches, in the path's dialect.
async fn no_route(request: Request) -> Response {
    ApiError::new(Shape::of_path(request.uri().path()), Problem::NoRoute).into_response()
}

/// 405 for a known path with another method, in the path's dialect.
async fn method_not_allowed(request: Request) -> Response {
    ApiError::new(
        Shape::of_path(request.uri().path()),
        Problem::MethodNotAllowed,
    )
    .into_response()
}

/// Every route, before state and middleware.
fn routes() -> Router<AppState> {
    let routes = Router::new()
        .route("/", get(entities::root))
        .route(
            "/v2/control-planes",
            get(platform::list).post(platform::create),
        )
        .route("/v2/control-planes/{cp}", get(platform::get))
        .route(
            "/v2/control-planes/{cp}/expected-config-hash",
            get(platform::expected_config_hash),
        )
        .route("/v2/control-planes/{cp}/nodes", get(platform::nodes))
        .route("/_plugsync/dp-log", get(entities::dp_log))
        .route(
            "/clustering/data-planes",
            get(entities::clustering_data_planes),
        )
        .route("/_plugsync/dp-plugins", get(hybrid::node_plugins))
        .route(
            "/_plugsync/dp-plugins/{name}",
            axum::routing::put(hybrid::install).delete(hybrid::remove),
        )
        .route(
            "/v2/control-planes/{cp}/core-entities/plugin-schemas",
            get(hybrid::list).post(hybrid::create),
        )
        .route(
            "/v2/control-planes/{cp}/core-entities/plugin-schemas/{name}",
            get(hybrid::get_one).put(hybrid::put).delete(hybrid::delete),
        );
    let routes = entity_routes(routes, "/v2/control-planes/{cp}/core-entities", false);
    entity_routes(routes, "", true)
        .fallback(no_route)
        .method_not_allowed_fallback(method_not_allowed)
}

/// The whole HTTP application over `state`.
pub fn router(state: AppState, options: &Options) -> Router {
    let misbehaviour = Arc::new(Misbehaviour {
        limiter: options.rate_limit.map(RateLimiter::new),
        faults: options.faults.map(|(rate, seed)| {
            FaultPlan::with_kinds(rate, seed, &options.fault_kinds, options.fault_delay)
        }),
    });
    let mut app = routes().layer(from_fn_with_state(misbehaviour, faults::misbehave));
    if let Some(token) = &options.token {
        app = app.layer(from_fn_with_state(
            Arc::new(token.clone()),
            auth::require_token,
        ));
    }
    app.layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// How long a connection may make no progress (headers that never finish, an answer never
/// read, an idle keep-alive connection) before the server closes it.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves `app` on `listener` until `shutdown` resolves, then finishes the requests in flight
/// (for at most ten seconds) and returns.
pub async fn serve<F>(listener: TcpListener, app: Router, shutdown: F) -> io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    serve_with(listener, app, shutdown, IDLE_TIMEOUT, MAX_CONNECTIONS).await
}

/// Connections served at once by default; more wait in the kernel's backlog.
pub const MAX_CONNECTIONS: usize = 512;

/// [`serve`], closing connections idle for `idle` and serving at most `max_connections`
/// at once.
pub async fn serve_with<F>(
    listener: TcpListener,
    app: Router,
    shutdown: F,
    idle: Duration,
    max_connections: usize,
) -> io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let stopping = Arc::new(tokio::sync::Notify::new());
    let signal = Arc::clone(&stopping);
    let server = axum::serve(
        DroppableListener::new(listener)
            .with_idle_timeout(idle)
            .with_connection_limit(max_connections),
        app.into_make_service_with_connect_info::<Dropper>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        signal.notify_one();
    });
    tokio::select! {
        result = server => result,
        () = async {
            stopping.notified().await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => Ok(()),
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_routes_do_not_conflict() {
        // axum panics on conflicting routes when they are added.
        let _ = routes();
    }
}
