//! The local control plane: a real, persistent Konnect-style control plane that `plugsync serve`
//! exposes over HTTP (`crate::server`) and that the embedded target calls in-process.
//!
//! It sits at the far end of the pipeline: `apply` writes to it, `fetch` reads it back. Its
//! agreed interface is written down in `API.md` next to this file.
//!
//! * `store` — SQLite (WAL, `synchronous=FULL`): every write is committed and durable before
//!   the call returns; writes that arrive together share one transaction (each in its own
//!   savepoint) and one commit (group commit: `store::GroupCommit`); `:memory:` for an
//!   ephemeral store.
//! * `entities` — request bodies to stored entities (Konnect's shapes), with the same
//!   validation `lint` applies: `crate::lint::upload` for custom plugins,
//!   `crate::schema::validate` for plugin instance configs.
//! * `dataplane` — one simulated data plane node per control plane: after every committed
//!   change it receives the configuration, accepts or rejects it with Kong's message, and logs
//!   the payload. Verdicts and the configuration hash are kept incrementally (O(1) per
//!   entity change), so long write streams stay fast.
//! * `kong_schema` — Kong's JSON form of a custom plugin's schema (`GET /schemas/plugins/{name}`).
//!
//! Entities are listed in creation order (an internal sequence number, kept across updates);
//! offset tokens are opaque. Evaluated schemas are cached per control plane and plugin name and
//! replaced whenever the custom plugin is written. One process owns a database file at a time.

mod dataplane;
mod entities;
mod kong_schema;
mod store;
mod util;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::Connection;
use serde_json::{json, Map, Value};

use crate::schema::model::PluginSchema;
pub use crate::schema::validate::FieldError;
use dataplane::{DpDraft, DpState};
use entities::Target;
use store::{CpRow, NewRow, Row};
use util::{now_secs, parse_uuid};

/// Entity kinds stored per control plane (the plan's vocabulary, defined in `model`).
pub use crate::model::EntityKind as Kind;

/// `tags` query: `a,b` = all of them, `a/b` = any of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagFilter {
    /// Every tag must be present (`a,b`; also a single tag).
    All(Vec<String>),
    /// At least one tag must be present (`a/b`).
    Any(Vec<String>),
}

impl TagFilter {
    /// Parses a `tags` query value. Mixing `,` and `/`, or an empty tag, is a bad request.
    pub fn parse(s: &str) -> Result<TagFilter, CpError> {
        let bad = |why: &str| CpError::BadRequest {
            message: format!("invalid tags filter '{s}': {why}"),
        };
        if s.contains(',') && s.contains('/') {
            return Err(bad("use ',' (all) or '/' (any), not both"));
        }
        let any = s.contains('/');
        let tags: Vec<String> = s
            .split(if any { '/' } else { ',' })
            .map(str::to_string)
            .collect();
        if tags.iter().any(String::is_empty) {
            return Err(bad("empty tag"));
        }
        Ok(if any {
            TagFilter::Any(tags)
        } else {
            TagFilter::All(tags)
        })
    }
}

/// A list request.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Page size, 1..=1000 (the caller validates; out-of-range values are clamped).
    pub size: usize,
    /// Opaque token from a previous [`Page`].
    pub offset: Option<String>,
    /// `tags` filter.
    pub tags: Option<TagFilter>,
    /// `filter[name][eq]`: the plugin name for plugins, the name (consumer: username) otherwise.
    pub name_eq: Option<String>,
    /// Nested list: plugins of `services/{id}`, `routes/{id}`, `consumers/{id}`,
    /// `consumer_groups/{id}`; routes of `services/{id}`. Id or name.
    pub parent: Option<(Kind, String)>,
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The entities, in stable (creation) order.
    pub data: Vec<Value>,
    /// Token for the next page; `None` on the last page.
    pub offset: Option<String>,
}

/// Why an operation was refused. The server maps these to Konnect's and Kong's error bodies.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CpError {
    /// No such entity (or control plane: then `id` is the control plane id).
    #[error("{} '{id}' not found", kind.path())]
    NotFound {
        /// The kind looked for.
        kind: Kind,
        /// The id or name looked for.
        id: String,
    },
    /// Schema / validation errors: field errors (dotted paths, Kong messages) and entity-level
    /// messages; `message` is Kong's summary (`schema violation (config.ttl: …)`).
    #[error("{message}")]
    Invalid {
        /// Kong's one-line summary.
        message: String,
        /// Field errors (no `@entity` ones at the top level; nested ones keep `x.@entity`).
        fields: Vec<FieldError>,
        /// The entity's top-level entity-check messages.
        entity: Vec<String>,
    },
    /// A unique constraint: custom plugin name, `instance_name`, a plugin's (name, scope),
    /// service / route / group name, consumer username / custom_id, a taken id, a control
    /// plane name. `message` is Kong's (`UNIQUE violation detected on '{name="x"}'`).
    #[error("{message}")]
    Unique {
        /// The field that must be unique.
        field: String,
        /// Kong's message.
        message: String,
    },
    /// Refused because other entities use it.
    #[error("{message}")]
    InUse {
        /// What uses it.
        message: String,
    },
    /// Malformed request: bad offset, bad tag filter, wrong body type, id/name mismatch.
    #[error("{message}")]
    BadRequest {
        /// What is wrong.
        message: String,
    },
    /// The database failed: the write is not acknowledged.
    #[error("storage error: {message}")]
    Storage {
        /// SQLite's message.
        message: String,
    },
}

/// The in-memory side of one control plane.
struct CpMem {
    row: CpRow,
    name: String,
    dp: DpState,
}

/// Key of the schema cache: (control plane id, plugin name).
type SchemaKey = (String, String);

/// Everything behind the lock.
struct Inner {
    conn: Connection,
    /// Control planes in creation order.
    cps: Vec<CpMem>,
    /// Evaluated schemas by (control plane id, plugin name).
    schemas: HashMap<SchemaKey, Arc<PluginSchema>>,
}

impl Inner {
    fn cp(&self, id: &str) -> Option<&CpMem> {
        self.cps.iter().find(|c| c.row.id == id)
    }
}

/// The control planes of one store. Thread-safe (`Send + Sync`); share it with `Arc`. Every
/// write is committed and durable before the call returns; writes that arrive together share one
/// transaction, each in its own savepoint, and one commit (group commit, `store::GroupCommit`).
pub struct ControlPlanes {
    inner: Mutex<Inner>,
    /// Group commit: writes that arrive together share one transaction and one sync.
    sync: store::GroupCommit,
    default_id: String,
    /// The exclusive lock on the store (`PATH.lock`), held while the store is open.
    _lock: Option<std::fs::File>,
    /// Schemas this store evaluated by source (the simulated nodes' schemas, read on every
    /// write of a hybrid-mode instance), at most [`EVALUATED_SCHEMAS`] of them.
    evaluated: crate::lua::SchemaCache,
}

/// How many evaluated schema sources a store keeps besides its per-plugin cache.
const EVALUATED_SCHEMAS: usize = 20_000;

/// How long opening a store waits for another process to let go of it before refusing.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Takes the exclusive lock of the store at `path`: the file `PATH.lock`, which holds the PID
/// of the process that has the store open. The operating system releases the lock when that
/// process ends, however it ends.
fn lock_store(path: &str) -> Result<std::fs::File, CpError> {
    use std::io::{Read, Seek, Write};
    let lock_path = format!("{path}.lock");
    if let Some(parent) = std::path::Path::new(path).parent() {
        if !parent.as_os_str().is_empty() {
            std::fs::create_dir_all(parent).map_err(|e| CpError::Storage {
                message: format!("creating {}: {e}", parent.display()),
            })?;
        }
    }
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(|e| CpError::Storage {
            message: format!("cannot open {lock_path}: {e}"),
        })?;
    // A holder that is ending (or a process that forked while holding it, until the child
    // execs) lets go within moments: wait up to [`LOCK_WAIT`] before refusing.
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    let mut locked = try_lock(&file);
    while matches!(locked, Ok(false)) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
        locked = try_lock(&file);
    }
    match locked {
        Ok(true) => {}
        Ok(false) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            let holder = match text.trim().parse::<u32>() {
                Ok(pid) => format!("PID {pid}"),
                Err(_) => "another process".to_string(),
            };
            return Err(CpError::Storage {
                message: format!(
                    "{path} is in use by {holder} (a `plugsync serve` or a run with --local); one process at a time may open a store: stop it, or send this run to that server over HTTP"
                ),
            });
        }
        Err(e) => {
            return Err(CpError::Storage {
                message: format!("cannot lock {lock_path}: {e}"),
            })
        }
    }
    let _ = file.set_len(0);
    let _ = file.rewind();
    let _ = writeln!(file, "{}", std::process::id());
    let _ = file.flush();
    Ok(file)
}

/// An exclusive, non-blocking lock on `file`: `Ok(false)` when another process holds it.
#[cfg(unix)]
#[allow(unsafe_code)] // the crate's one `unsafe` (Cargo.toml [lints]): std's File::try_lock needs Rust 1.89
fn try_lock(file: &std::fs::File) -> std::io::Result<bool> {
    use std::os::unix::io::AsRawFd;
    // SAFETY: flock on a file descriptor this function borrows; no memory is passed.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(true);
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(err)
    }
}

/// Without flock, the store is not locked.
#[cfg(not(unix))]
fn try_lock(_file: &std::fs::File) -> std::io::Result<bool> {
    Ok(true)
}

/// Name of the control plane created on first start.
const DEFAULT_CP: &str = "default";

impl ControlPlanes {
    /// Opens (or creates) the store at `path` (`:memory:` = ephemeral; the parent directory is
    /// created). Creates the control plane `default` on first start.
    ///
    /// One process at a time: the store's state is cached in memory, so a second writer would
    /// work from a stale view. Opening a store another process holds fails with an error naming
    /// that process.
    pub fn open(path: &str) -> Result<ControlPlanes, CpError> {
        let lock = if path == ":memory:" {
            None
        } else {
            Some(lock_store(path)?)
        };
        let conn = store::open(path)?;
        let mut cps = Vec::new();
        for row in store::control_planes(&conn)? {
            let mut dp = DpState::empty(row.created_at);
            dp.head.load_digests(store::digests(&conn, &row.id)?.iter());
            for (id, seq, problem) in store::problems(&conn, &row.id)? {
                dp.bad.insert(seq, (id, problem));
            }
            dp.head.dp_seq = row.dp_seq;
            dp.head.node_hash = row.node_hash.clone();
            dp.head.node_error = row.node_error.clone();
            dp.head.node_updated_at = row.node_updated_at;
            dp.head.config_updated_at = row.config_updated_at;
            let name = row
                .body
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            cps.push(CpMem { row, name, dp });
        }
        let planes = ControlPlanes {
            inner: Mutex::new(Inner {
                conn,
                cps,
                schemas: HashMap::new(),
            }),
            sync: store::GroupCommit::default(),
            default_id: String::new(),
            _lock: lock,
            evaluated: crate::lua::SchemaCache::bounded(EVALUATED_SCHEMAS),
        };
        let existing = planes
            .lock()
            .cps
            .iter()
            .find(|c| c.name == DEFAULT_CP)
            .map(|c| c.row.id.clone());
        let default_id = match existing {
            Some(id) => id,
            None => planes.create_control_plane(&json!({ "name": DEFAULT_CP }))?["id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        };
        Ok(ControlPlanes {
            default_id,
            ..planes
        })
    }

    /// The id of the `default` control plane.
    pub fn default_id(&self) -> String {
        self.default_id.clone()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` under the lock, then answers once everything it could see is durable.
    fn read<T>(&self, f: impl FnOnce(&mut Inner) -> Result<T, CpError>) -> Result<T, CpError> {
        let (out, seen) = {
            let mut inner = self.lock();
            (f(&mut inner), self.sync.visible())
        };
        self.durable(seen)?;
        out
    }

    /// Returns once batch `ticket` is committed: the first waiter commits the open batch for
    /// everyone in it (`store::GroupCommit`).
    fn durable(&self, ticket: u64) -> Result<(), CpError> {
        let mut st = self.sync.state();
        loop {
            store::poisoned(&st)?;
            if st.durable >= ticket {
                return Ok(());
            }
            if st.committing {
                st = self.sync.wait_change(st);
                continue;
            }
            if st.open.is_none() {
                // Not committed and no batch left to commit: never claim it is durable.
                return Err(CpError::Storage {
                    message: "a write's transaction was lost before its commit".to_string(),
                });
            }
            st.committing = true;
            drop(st);
            {
                let inner = self.lock();
                let mut st = self.sync.state();
                if let Some(batch) = st.open.take() {
                    drop(st);
                    let result = inner.conn.execute_batch("COMMIT");
                    st = self.sync.state();
                    match result {
                        Ok(()) => {
                            st.durable = batch;
                            st.commits += 1;
                        }
                        Err(e) => st.poisoned = Some(e.to_string()),
                    }
                }
                st.committing = false;
            }
            self.sync.notify();
            st = self.sync.state();
        }
    }

    // ---------------------------------------------------------------- control planes

    /// Control planes in creation order, filtered by exact name, paged (`page_number` from 1):
    /// `(page, total matching)`.
    pub fn list_control_planes(
        &self,
        name_eq: Option<&str>,
        page_size: usize,
        page_number: usize,
    ) -> Result<(Vec<Value>, usize), CpError> {
        self.read(|inner| {
            let matching: Vec<&CpMem> = inner
                .cps
                .iter()
                .filter(|c| name_eq.is_none_or(|n| c.name == n))
                .collect();
            let size = page_size.max(1);
            let skip = page_number.max(1).saturating_sub(1).saturating_mul(size);
            let page = matching
                .iter()
                .skip(skip)
                .take(size)
                .map(|c| c.row.body.clone())
                .collect();
            Ok((page, matching.len()))
        })
    }

    /// One control plane by id.
    pub fn get_control_plane(&self, id: &str) -> Result<Value, CpError> {
        self.read(|inner| {
            inner
                .cp(id)
                .map(|c| c.row.body.clone())
                .ok_or_else(|| cp_not_found(id))
        })
    }

    /// Creates a control plane from `{name, description?, labels?, cluster_type?, auth_type?,
    /// cloud_gateway?, proxy_urls?}`.
    pub fn create_control_plane(&self, body: &Value) -> Result<Value, CpError> {
        let map = body.as_object().ok_or_else(|| CpError::BadRequest {
            message: "the request body must be a JSON object".to_string(),
        })?;
        let (name, out_body) = control_plane_body(map)?;
        let mut guard = self.lock();
        let inner = &mut *guard;
        if inner.cps.iter().any(|c| c.name == name) {
            return Err(CpError::Unique {
                field: "name".to_string(),
                message: format!("a control plane named '{name}' already exists"),
            });
        }
        let now = now_secs();
        let id = util::new_id();
        let mut body = out_body;
        body.insert("id".into(), Value::from(id.clone()));
        body.insert("created_at".into(), Value::from(util::iso8601(now)));
        body.insert("updated_at".into(), Value::from(util::iso8601(now)));
        let dp = DpState::empty(now);
        let row = CpRow {
            id: id.clone(),
            body: Value::Object(body),
            created_at: now,
            node_id: util::new_id(),
            node_hash: dp.head.node_hash.clone(),
            node_error: None,
            node_updated_at: now,
            config_updated_at: now,
            dp_seq: 0,
        };
        let ticket = self.sync.join(&inner.conn)?;
        let tx = inner.conn.savepoint().map_err(store::storage)?;
        if store::control_plane_name_taken(&tx, &name)? {
            return Err(CpError::Unique {
                field: "name".to_string(),
                message: format!("a control plane named '{name}' already exists"),
            });
        }
        store::insert_control_plane(&tx, &row, &name)?;
        tx.commit().map_err(store::storage)?;
        let out = row.body.clone();
        inner.cps.push(CpMem { row, name, dp });
        drop(guard);
        self.durable(ticket)?;
        Ok(out)
    }

    // ---------------------------------------------------------------- core entities

    /// One page of `kind` entities of control plane `cp`.
    pub fn list(&self, cp: &str, kind: Kind, q: &ListQuery) -> Result<Page, CpError> {
        self.read(|inner| {
            if inner.cp(cp).is_none() {
                return Err(not_found(kind, cp));
            }
            let after = match &q.offset {
                None => 0,
                Some(token) => util::decode_offset(token).ok_or_else(|| CpError::BadRequest {
                    message: format!("'{token}' is not a valid offset"),
                })?,
            };
            let parent = match &q.parent {
                None => None,
                Some((pkind, key)) => {
                    let column = parent_column(kind, *pkind)?;
                    let row =
                        entities::resolve(&inner.conn, cp, *pkind, key)?.ok_or_else(|| {
                            CpError::NotFound {
                                kind: *pkind,
                                id: key.clone(),
                            }
                        })?;
                    Some((column, row.id))
                }
            };
            let size = q.size.clamp(1, 1000);
            let filter = store::ListFilter {
                after,
                limit: size + 1,
                tags: q.tags.as_ref(),
                name_eq: q.name_eq.as_deref(),
                parent,
            };
            let mut rows = store::list(&inner.conn, cp, kind, &filter)?;
            let offset = if rows.len() > size {
                rows.truncate(size);
                rows.last().map(|(seq, _)| util::encode_offset(*seq))
            } else {
                None
            };
            Ok(Page {
                data: rows.into_iter().map(|(_, body)| body).collect(),
                offset,
            })
        })
    }

    /// One entity by id, or by name where the kind has one (custom plugins, services, routes,
    /// consumer groups: `name`; consumers: `username`; plugins: id only). With `parent`, the
    /// entity must be bound to it.
    pub fn get(
        &self,
        cp: &str,
        kind: Kind,
        id_or_name: &str,
        parent: Option<(Kind, &str)>,
    ) -> Result<Value, CpError> {
        self.read(|inner| {
            if inner.cp(cp).is_none() {
                return Err(not_found(kind, cp));
            }
            let parent = resolve_parent(&inner.conn, cp, kind, parent)?;
            match entities::resolve(&inner.conn, cp, kind, id_or_name)? {
                Some(row) if bound_to(&row, kind, parent.as_ref()) => Ok(row.body),
                _ => Err(not_found(kind, id_or_name)),
            }
        })
    }

    /// Creates an entity (201). A body `id` is used when given (a taken id is refused as
    /// `Unique`); with `parent`, the entity is bound to it.
    pub fn create(
        &self,
        cp: &str,
        kind: Kind,
        body: Value,
        parent: Option<(Kind, &str)>,
    ) -> Result<Value, CpError> {
        let body = object(body)?;
        self.write(cp, kind, |ctx| {
            let parent = resolve_parent(ctx.tx, cp, kind, parent)?;
            let id = match body.get("id") {
                None | Some(Value::Null) => util::new_id(),
                Some(v) => {
                    let id = body_uuid(v)?;
                    if store::by_id(ctx.tx, cp, kind, &id)?.is_some() {
                        return Err(CpError::Unique {
                            field: "id".to_string(),
                            message: format!("PRIMARY KEY violation detected on '{{id=\"{id}\"}}'"),
                        });
                    }
                    id
                }
            };
            ctx.put(kind, None, id, body, parent)
        })
    }

    /// PUT: replaces the entity named by `id_or_name`, or creates it with that id (or name)
    /// when absent. Fields not given get their defaults (a replace, not a merge).
    pub fn upsert(
        &self,
        cp: &str,
        kind: Kind,
        id_or_name: &str,
        body: Value,
        parent: Option<(Kind, &str)>,
    ) -> Result<Value, CpError> {
        let mut body = object(body)?;
        self.write(cp, kind, |ctx| {
            let parent = resolve_parent(ctx.tx, cp, kind, parent)?;
            let existing = entities::resolve(ctx.tx, cp, kind, id_or_name)?;
            if let Some(row) = &existing {
                if !bound_to(row, kind, parent.as_ref()) {
                    return Err(not_found(kind, id_or_name));
                }
            }
            let by_uuid = parse_uuid(id_or_name);
            let id = match (&existing, &by_uuid) {
                (Some(row), _) => row.id.clone(),
                (None, Some(id)) => id.clone(),
                (None, None) => {
                    let Some(field) = name_field(kind) else {
                        return Err(entities::invalid(vec![FieldError {
                            path: "id".to_string(),
                            message: "expected a valid UUID".to_string(),
                        }]));
                    };
                    match body.get(field) {
                        None | Some(Value::Null) => {
                            body.insert(field.to_string(), Value::from(id_or_name));
                        }
                        Some(v) if v.as_str() == Some(id_or_name) => {}
                        Some(_) => {
                            return Err(CpError::BadRequest {
                                message: format!(
                                    "the {field} in the body differs from the {field} '{id_or_name}' in the path"
                                ),
                            })
                        }
                    }
                    match body.get("id") {
                        None | Some(Value::Null) => util::new_id(),
                        Some(v) => {
                            let id = body_uuid(v)?;
                            if store::by_id(ctx.tx, cp, kind, &id)?.is_some() {
                                return Err(CpError::Unique {
                                    field: "id".to_string(),
                                    message: format!(
                                        "PRIMARY KEY violation detected on '{{id=\"{id}\"}}'"
                                    ),
                                });
                            }
                            id
                        }
                    }
                }
            };
            if existing.is_some() && by_uuid.is_none() {
                // Addressed by name: the name in the body, if any, must be that name.
                if let Some(field) = name_field(kind) {
                    if let Some(v) = body.get(field).filter(|v| !v.is_null()) {
                        if v.as_str() != Some(id_or_name) {
                            return Err(CpError::BadRequest {
                                message: format!(
                                    "the {field} in the body differs from the {field} '{id_or_name}' in the path"
                                ),
                            });
                        }
                    }
                }
            }
            check_body_id(&body, &id)?;
            ctx.put(kind, existing.as_ref(), id, body, parent)
        })
    }

    /// Admin API PATCH: merges `body` into the existing entity (a plugin's `config` is merged
    /// recursively), then validates the result as a whole.
    pub fn patch(
        &self,
        cp: &str,
        kind: Kind,
        id_or_name: &str,
        body: Value,
        parent: Option<(Kind, &str)>,
    ) -> Result<Value, CpError> {
        let patch = object(body)?;
        self.write(cp, kind, |ctx| {
            let parent = resolve_parent(ctx.tx, cp, kind, parent)?;
            let existing = match entities::resolve(ctx.tx, cp, kind, id_or_name)? {
                Some(row) if bound_to(&row, kind, parent.as_ref()) => row,
                _ => return Err(not_found(kind, id_or_name)),
            };
            check_body_id(&patch, &existing.id)?;
            let mut merged = existing.body.as_object().cloned().unwrap_or_default();
            merged.remove("created_at");
            merged.remove("updated_at");
            for (key, value) in patch {
                match (merged.get_mut(&key), value) {
                    (Some(Value::Object(old)), Value::Object(new)) if key == "config" => {
                        merge_into(old, new)
                    }
                    (_, value) => {
                        merged.insert(key, value);
                    }
                }
            }
            let id = existing.id.clone();
            ctx.put(kind, Some(&existing), id, merged, parent)
        })
    }

    /// Deletes an entity; a missing one is fine. Refused (`InUse`) for a custom plugin that
    /// plugin instances use and for a service that routes use; deleting a scope (service,
    /// route, consumer, consumer group) deletes the plugin instances bound to it, as Kong does.
    pub fn delete(
        &self,
        cp: &str,
        kind: Kind,
        id_or_name: &str,
        parent: Option<(Kind, &str)>,
    ) -> Result<(), CpError> {
        self.write(cp, kind, |ctx| {
            let parent = resolve_parent(ctx.tx, cp, kind, parent)?;
            let row = match entities::resolve(ctx.tx, cp, kind, id_or_name)? {
                Some(row) if bound_to(&row, kind, parent.as_ref()) => row,
                _ => return Ok(()),
            };
            match kind {
                Kind::CustomPlugin => {
                    let name = row.body["name"].as_str().unwrap_or_default().to_string();
                    let users = store::count_instances_of(ctx.tx, cp, &name)?;
                    if users > 0 {
                        return Err(CpError::InUse {
                            message: format!(
                                "custom plugin '{name}' is used by {users} plugin instance{}; delete {} first",
                                if users == 1 { "" } else { "s" },
                                if users == 1 { "it" } else { "them" }
                            ),
                        });
                    }
                    ctx.schema_updates.push(((cp.to_string(), name), None));
                }
                Kind::PluginSchema => {
                    let name = row.body["name"].as_str().unwrap_or_default().to_string();
                    let users = store::count_instances_of(ctx.tx, cp, &name)?;
                    if users > 0 {
                        return Err(CpError::InUse {
                            message: format!(
                                "plugin schema '{name}' is used by {users} plugin instance{}; delete {} first",
                                if users == 1 { "" } else { "s" },
                                if users == 1 { "it" } else { "them" }
                            ),
                        });
                    }
                    ctx.schema_updates.push(((cp.to_string(), name), None));
                }
                Kind::Service => {
                    if !store::referencing(ctx.tx, cp, Kind::Route, "service", &row.id)?.is_empty() {
                        return Err(CpError::InUse {
                            message: "an existing 'routes' entity references this 'services' entity"
                                .to_string(),
                        });
                    }
                }
                Kind::Plugin => {}
                Kind::Route | Kind::Consumer | Kind::ConsumerGroup => {}
            }
            if let Some(column) = kind.scope_field() {
                for plugin in store::referencing(ctx.tx, cp, Kind::Plugin, column, &row.id)? {
                    ctx.remove(Kind::Plugin, &plugin)?;
                }
            }
            ctx.remove(kind, &row)
        })
    }

    // ---------------------------------------------------------------- schemas and the data plane

    /// Kong's JSON form `{"fields": [...]}` of the schema of custom plugin `name`.
    pub fn plugin_schema(&self, cp: &str, name: &str) -> Result<Value, CpError> {
        self.read(|inner| {
            if inner.cp(cp).is_none() {
                return Err(cp_not_found(cp));
            }
            let key = (cp.to_string(), name.to_string());
            let schema = match inner.schemas.get(&key) {
                Some(s) => s.clone(),
                None => match load_schema(&inner.conn, cp, name)? {
                    Some(s) => {
                        inner.schemas.insert(key, s.clone());
                        s
                    }
                    None => return Err(not_found(Kind::CustomPlugin, name)),
                },
            };
            Ok(kong_schema::schema_json(&schema))
        })
    }

    /// `{"expected_hash", "created_at", "updated_at"}`: the hash of the latest committed
    /// configuration.
    pub fn expected_config_hash(&self, cp: &str) -> Result<Value, CpError> {
        self.read(|inner| {
            let c = inner.cp(cp).ok_or_else(|| cp_not_found(cp))?;
            Ok(json!({
                "expected_hash": c.dp.head.hash(),
                "created_at": c.row.created_at,
                "updated_at": c.dp.head.config_updated_at,
            }))
        })
    }

    /// `{"items": [node], "page": {"total_count": 1}}`: the simulated data plane node, its
    /// config hash (the last configuration it accepted) and `compatibility_status`.
    pub fn nodes(&self, cp: &str) -> Result<Value, CpError> {
        self.read(|inner| {
            let c = inner.cp(cp).ok_or_else(|| cp_not_found(cp))?;
            Ok(json!({
                "items": [{
                    "id": c.row.node_id,
                    "version": "3.15.0.0",
                    "hostname": "plugsync-local-dp",
                    "last_ping": now_secs(),
                    "type": "kong-proxy",
                    "created_at": c.row.created_at,
                    "updated_at": c.dp.head.node_updated_at,
                    "config_hash": c.dp.head.node_hash,
                    "compatibility_status": dataplane::compatibility_status(&c.dp),
                }],
                "page": { "total_count": 1 },
            }))
        })
    }

    /// Installs a hybrid-mode plugin's files on the simulated node (standing in for rolling out
    /// an image or ConfigMap that holds them): `schema` must evaluate and be named `name`. The
    /// node then restarts on its new files and receives the configuration again, validating
    /// every instance of a hybrid-mode plugin against the schemas installed on it.
    pub fn install_node_plugin(
        &self,
        cp: &str,
        name: &str,
        handler: Option<&str>,
        schema: &str,
    ) -> Result<Value, CpError> {
        let evaluated = self.evaluated.evaluate(schema).map_err(|e| {
            entities::invalid(vec![FieldError {
                path: "schema".to_string(),
                message: e.to_string(),
            }])
        })?;
        if evaluated.name != name {
            return Err(CpError::BadRequest {
                message: format!(
                    "the schema is named '{}' but is installed as '{name}'",
                    evaluated.name
                ),
            });
        }
        self.write(cp, Kind::PluginSchema, |ctx| {
            store::put_node_plugin(ctx.tx, cp, name, handler, schema, ctx.now)?;
            ctx.recheck_on_node(name, Some(&evaluated))?;
            ctx.changed = true;
            Ok(node_plugin_json(name, handler, schema, ctx.now))
        })
    }

    /// Removes a plugin's files from the simulated node (a rollout of a bundle without it);
    /// the node restarts and receives the configuration again. Removing a plugin that is not
    /// installed changes nothing.
    pub fn remove_node_plugin(&self, cp: &str, name: &str) -> Result<(), CpError> {
        self.write(cp, Kind::PluginSchema, |ctx| {
            if store::delete_node_plugin(ctx.tx, cp, name)? {
                ctx.recheck_on_node(name, None)?;
                ctx.changed = true;
            }
            Ok(())
        })
    }

    /// The plugins installed on the simulated node, by name: `[{"name", "handler_sha256",
    /// "schema_sha256", "installed_at"}]`.
    pub fn node_plugins(&self, cp: &str) -> Result<Vec<Value>, CpError> {
        self.read(|inner| {
            if inner.cp(cp).is_none() {
                return Err(cp_not_found(cp));
            }
            Ok(store::node_plugins(&inner.conn, cp)?
                .into_iter()
                .map(|(name, handler, schema, at)| {
                    node_plugin_json(&name, handler.as_deref(), &schema, at)
                })
                .collect())
        })
    }

    /// Every payload the node received, oldest first: `[{"seq", "config_hash", "accepted",
    /// "error"}]`.
    pub fn dp_log(&self, cp: &str) -> Result<Vec<Value>, CpError> {
        self.read(|inner| {
            if inner.cp(cp).is_none() {
                return Err(cp_not_found(cp));
            }
            store::dp_log(&inner.conn, cp)
        })
    }

    // ---------------------------------------------------------------- the write path

    /// Runs `f` in a savepoint of the open batch (`store::GroupCommit`) for control plane `cp`;
    /// when it changed anything, sends the configuration to the data plane (log + node state,
    /// same savepoint), releases the savepoint, and only then updates the in-memory state
    /// (schema cache, data plane accumulators); else rolls it back. Answers once the batch is
    /// committed.
    fn write<T>(
        &self,
        cp: &str,
        kind: Kind,
        f: impl FnOnce(&mut Ctx<'_>) -> Result<T, CpError>,
    ) -> Result<T, CpError> {
        let mut guard = self.lock();
        let mut ticket = None;
        let out = (|| {
            let Inner { conn, cps, schemas } = &mut *guard;
            let Some(mem) = cps.iter_mut().find(|c| c.row.id == cp) else {
                return Err(not_found(kind, cp));
            };
            ticket = Some(self.sync.join(conn)?);
            let tx = conn.savepoint().map_err(store::storage)?;
            let now = now_secs();
            let mut ctx = Ctx {
                tx: &tx,
                cp,
                schemas,
                evaluated: &self.evaluated,
                schema_updates: Vec::new(),
                dp: mem.dp.draft(),
                changed: false,
                committed: false,
                now,
            };
            let out = f(&mut ctx)?;
            if ctx.changed {
                send_to_data_plane(ctx.tx, cp, &mut ctx.dp, now)?;
            }
            let Ctx {
                dp,
                schema_updates,
                changed,
                committed,
                ..
            } = ctx;
            let (head, overlay) = (dp.head, dp.overlay);
            if changed || committed {
                tx.commit().map_err(store::storage)?;
                mem.dp.apply(head, overlay);
            } else {
                drop(tx);
            }
            for (key, schema) in schema_updates {
                match schema {
                    Some(s) => {
                        schemas.insert(key, s);
                    }
                    None => {
                        schemas.remove(&key);
                    }
                }
            }
            Ok(out)
        })();
        drop(guard);
        if let Some(ticket) = ticket {
            self.durable(ticket)?;
        }
        out
    }
}

/// One write in progress.
struct Ctx<'a> {
    tx: &'a Connection,
    cp: &'a str,
    schemas: &'a HashMap<SchemaKey, Arc<PluginSchema>>,
    /// The store's evaluated schemas by source.
    evaluated: &'a crate::lua::SchemaCache,
    /// Schema cache changes to apply after the commit (`None` = drop).
    schema_updates: Vec<(SchemaKey, Option<Arc<PluginSchema>>)>,
    /// The data plane state as of this write.
    dp: DpDraft<'a>,
    /// The configuration changed: send it to the data plane.
    changed: bool,
    /// Something outside the payload changed (a plugin schema): commit without sending.
    committed: bool,
    now: i64,
}

impl Ctx<'_> {
    /// The current schema of plugin `name`: written in this transaction, cached, or evaluated
    /// from the stored `schema.lua`.
    fn schema(&mut self, name: &str) -> Result<Option<Arc<PluginSchema>>, CpError> {
        let key = (self.cp.to_string(), name.to_string());
        if let Some((_, s)) = self.schema_updates.iter().rev().find(|(k, _)| *k == key) {
            return Ok(s.clone());
        }
        if let Some(s) = self.schemas.get(&key) {
            return Ok(Some(s.clone()));
        }
        let loaded = load_schema(self.tx, self.cp, name)?;
        if let Some(s) = &loaded {
            self.schema_updates.push((key, Some(s.clone())));
        }
        Ok(loaded)
    }

    /// Validates `body` as the new state of a `kind` entity (`existing` = the entity it
    /// replaces) and writes it.
    fn put(
        &mut self,
        kind: Kind,
        existing: Option<&Row>,
        id: String,
        body: Map<String, Value>,
        parent: Option<(Kind, String)>,
    ) -> Result<Value, CpError> {
        let target = Target {
            conn: self.tx,
            cp: self.cp,
            id,
            created_at: existing.and_then(|r| r.body.get("created_at").and_then(Value::as_i64)),
            now: self.now,
            parent,
        };
        match kind {
            Kind::CustomPlugin => {
                let (row, schema) = entities::prepare_custom_plugin(&target, body)?;
                let name = row.name.clone().unwrap_or_default();
                let old_name = existing
                    .and_then(|r| r.body.get("name").and_then(Value::as_str))
                    .map(str::to_string);
                if let Some(old) = old_name.as_deref().filter(|o| *o != name) {
                    let users = store::count_instances_of(self.tx, self.cp, old)?;
                    if users > 0 {
                        return Err(CpError::InUse {
                            message: format!(
                                "custom plugin '{old}' is used by {users} plugin instance{}; it cannot be renamed",
                                if users == 1 { "" } else { "s" }
                            ),
                        });
                    }
                    self.schema_updates
                        .push(((self.cp.to_string(), old.to_string()), None));
                }
                let schema = Arc::new(schema);
                let out = self.store_row(kind, existing, row)?;
                self.schema_updates
                    .push(((self.cp.to_string(), name.clone()), Some(schema.clone())));
                if existing.is_some() {
                    self.recheck_instances(&name, &schema)?;
                }
                Ok(out)
            }
            Kind::Plugin => {
                let mut schema_of = |n: &str| self.schema(n);
                let (mut row, schema) = entities::prepare_plugin(&target, body, &mut schema_of)?;
                let name = row.name.clone().unwrap_or_default();
                row.problem = self.dp_verdict(&name, &schema, &row.body)?;
                self.store_row(kind, existing, row)
            }
            Kind::Service | Kind::Route | Kind::Consumer | Kind::ConsumerGroup => {
                let row = entities::prepare_simple(&target, kind, body)?;
                self.store_row(kind, existing, row)
            }
            Kind::PluginSchema => {
                let (row, schema) = entities::prepare_plugin_schema(&target, body)?;
                let name = row.name.clone().unwrap_or_default();
                if let Some(old) = existing
                    .and_then(|r| r.body.get("name").and_then(Value::as_str))
                    .filter(|o| *o != name)
                {
                    return Err(CpError::BadRequest {
                        message: format!(
                            "the schema is named '{name}' but the plugin schema being replaced is '{old}'"
                        ),
                    });
                }
                let out = self.store_row(kind, existing, row)?;
                self.schema_updates
                    .push(((self.cp.to_string(), name), Some(Arc::new(schema))));
                Ok(out)
            }
        }
    }

    /// The data plane's verdict on an instance of plugin `name`: a streamed plugin runs the
    /// control plane's schema; a hybrid-mode plugin runs the schema installed on the node.
    fn dp_verdict(
        &mut self,
        name: &str,
        cp_schema: &PluginSchema,
        body: &Value,
    ) -> Result<Option<String>, CpError> {
        if store::by_uname(self.tx, self.cp, Kind::PluginSchema, name)?.is_none() {
            return Ok(dataplane::instance_problem(Some(cp_schema), body));
        }
        let installed = node_schema(self.tx, self.cp, name, self.evaluated)?;
        Ok(dataplane::instance_problem(installed.as_deref(), body))
    }

    /// Writes a prepared row and accounts for it in the data plane state.
    fn store_row(
        &mut self,
        kind: Kind,
        existing: Option<&Row>,
        mut row: NewRow,
    ) -> Result<Value, CpError> {
        row.digest = util::entity_digest(kind.path(), &row.body);
        if kind == Kind::PluginSchema {
            // Schemas are not part of the payload: hybrid-mode data planes read them from
            // their own files, and changing one sends nothing to the nodes.
            row.digest = [0; 32];
            match existing {
                Some(old) => store::update(self.tx, old.seq, &row)?,
                None => {
                    store::insert(self.tx, self.cp, kind, &row)?;
                }
            }
            self.committed = true;
            return Ok(row.body);
        }
        let seq = match existing {
            Some(old) => {
                store::update(self.tx, old.seq, &row)?;
                self.dp.head.replace(Some(&old.digest), Some(&row.digest));
                old.seq
            }
            None => {
                let seq = store::insert(self.tx, self.cp, kind, &row)?;
                self.dp.head.add(&row.digest);
                seq
            }
        };
        if kind == Kind::Plugin {
            self.dp.set_verdict(seq, &row.id, row.problem.clone());
        }
        self.changed = true;
        Ok(row.body)
    }

    /// Deletes a stored entity.
    fn remove(&mut self, kind: Kind, row: &Row) -> Result<(), CpError> {
        store::delete(self.tx, row.seq)?;
        if kind == Kind::PluginSchema {
            self.committed = true;
            return Ok(());
        }
        self.dp.head.replace(Some(&row.digest), None);
        if kind == Kind::Plugin {
            self.dp.set_verdict(row.seq, &row.id, None);
        }
        self.changed = true;
        Ok(())
    }

    /// Re-checks the instances of hybrid-mode plugin `name` against the schema now installed on
    /// the node (`None`: not installed).
    fn recheck_on_node(
        &mut self,
        name: &str,
        schema: Option<&PluginSchema>,
    ) -> Result<(), CpError> {
        if store::by_uname(self.tx, self.cp, Kind::PluginSchema, name)?.is_none() {
            return Ok(());
        }
        for row in store::instances_of(self.tx, self.cp, name)? {
            let problem = dataplane::instance_problem(schema, &row.body);
            if self.dp.verdict(row.seq) != problem.as_deref() {
                store::set_problem(self.tx, row.seq, problem.as_deref())?;
                self.dp.set_verdict(row.seq, &row.id, problem);
            }
        }
        Ok(())
    }

    /// Re-checks the instances of plugin `name` against its new schema (the data plane's view;
    /// the stored instances themselves are not touched).
    fn recheck_instances(&mut self, name: &str, schema: &PluginSchema) -> Result<(), CpError> {
        for row in store::instances_of(self.tx, self.cp, name)? {
            let problem = dataplane::instance_problem(Some(schema), &row.body);
            if self.dp.verdict(row.seq) != problem.as_deref() {
                store::set_problem(self.tx, row.seq, problem.as_deref())?;
                self.dp.set_verdict(row.seq, &row.id, problem);
            }
        }
        Ok(())
    }
}

/// Sends the configuration as of this transaction to the control plane's data plane node:
/// appends the payload to the log and records the node's verdict. Costs O(1) plus, when the
/// payload is rejected, the ranking of the few entries the message lists.
fn send_to_data_plane(
    conn: &Connection,
    cp: &str,
    dp: &mut DpDraft<'_>,
    now: i64,
) -> Result<(), CpError> {
    let hash = dp.head.hash();
    let head = &mut dp.head;
    head.dp_seq += 1;
    head.config_updated_at = now;
    head.node_updated_at = now;
    let total = dp.bad_count();
    let error = if total == 0 {
        dp.head.node_hash = hash.clone();
        dp.head.node_error = None;
        None
    } else {
        let listed = dp.first_bad(dataplane::MAX_LISTED_ENTRIES);
        let last = listed.last().map_or(0, |(seq, _)| *seq);
        let seqs = store::plugin_seqs_upto(conn, cp, last)?;
        let entries: Vec<(usize, String)> = listed
            .into_iter()
            .map(|(seq, problem)| (seqs.binary_search(&seq).map_or(0, |i| i + 1), problem))
            .collect();
        let message = dataplane::rejection_message(&entries, total);
        dp.head.node_error = Some(message.clone());
        Some(message)
    };
    let head = &dp.head;
    store::append_log(
        conn,
        cp,
        head.dp_seq,
        &hash,
        error.is_none(),
        error.as_deref(),
    )?;
    store::update_node(
        conn,
        cp,
        &head.node_hash,
        head.node_error.as_deref(),
        head.node_updated_at,
        head.config_updated_at,
        head.dp_seq,
    )
}

/// Evaluates the stored schema of custom plugin `name`, if there is one.
fn load_schema(
    conn: &Connection,
    cp: &str,
    name: &str,
) -> Result<Option<Arc<PluginSchema>>, CpError> {
    let source = match store::custom_plugin_schema_source(conn, cp, name)? {
        Some(s) => s,
        None => match store::plugin_schema_source(conn, cp, name)? {
            Some(s) => s,
            None => return Ok(None),
        },
    };
    // It evaluated when it was stored; a failure now (a sandbox limit) makes the plugin unknown.
    Ok(crate::lua::evaluate_schema(&source).ok().map(Arc::new))
}

/// A plugin installed on the simulated node, as `/_plugsync/dp-plugins` lists it.
fn node_plugin_json(name: &str, handler: Option<&str>, schema: &str, at: i64) -> Value {
    let sha = |t: &str| crate::model::hash::sha256_hex(t.as_bytes());
    json!({
        "name": name,
        "handler_sha256": handler.map(sha),
        "schema_sha256": sha(schema),
        "installed_at": at,
    })
}

/// The schema of plugin `name` as installed on the control plane's simulated node, evaluated.
fn node_schema(
    conn: &Connection,
    cp: &str,
    name: &str,
    evaluated: &crate::lua::SchemaCache,
) -> Result<Option<std::sync::Arc<PluginSchema>>, CpError> {
    let Some((_, schema)) = store::node_plugin(conn, cp, name)? else {
        return Ok(None);
    };
    Ok(evaluated.evaluate(&schema).ok())
}

/// The body as an object.
fn object(body: Value) -> Result<Map<String, Value>, CpError> {
    match body {
        Value::Object(map) => Ok(map),
        _ => Err(CpError::BadRequest {
            message: "the request body must be a JSON object".to_string(),
        }),
    }
}

/// A body `id`, which must be a UUID.
fn body_uuid(value: &Value) -> Result<String, CpError> {
    value.as_str().and_then(parse_uuid).ok_or_else(|| {
        entities::invalid(vec![FieldError {
            path: "id".to_string(),
            message: "expected a valid UUID".to_string(),
        }])
    })
}

/// Refuses a body `id` that differs from the id being written.
fn check_body_id(body: &Map<String, Value>, id: &str) -> Result<(), CpError> {
    match body.get("id") {
        None | Some(Value::Null) => Ok(()),
        Some(v) => {
            if body_uuid(v)? == id {
                Ok(())
            } else {
                Err(CpError::BadRequest {
                    message: format!("the id in the body differs from the id '{id}' in the path"),
                })
            }
        }
    }
}

/// The field a kind is addressed by besides its id.
fn name_field(kind: Kind) -> Option<&'static str> {
    match kind {
        Kind::CustomPlugin
        | Kind::Service
        | Kind::Route
        | Kind::ConsumerGroup
        | Kind::PluginSchema => Some("name"),
        Kind::Consumer => Some("username"),
        Kind::Plugin => None,
    }
}

/// The foreign column that binds a `kind` entity to a parent of kind `parent`.
fn parent_column(kind: Kind, parent: Kind) -> Result<&'static str, CpError> {
    match (kind, parent) {
        (Kind::Plugin, p) => p.scope_field(),
        (Kind::Route, Kind::Service) => Some("service"),
        _ => None,
    }
    .ok_or_else(|| CpError::BadRequest {
        message: format!("{} cannot be nested under {}", kind.path(), parent.path()),
    })
}

/// Resolves the parent of a nested path: `(parent kind, parent id)`.
fn resolve_parent(
    conn: &Connection,
    cp: &str,
    kind: Kind,
    parent: Option<(Kind, &str)>,
) -> Result<Option<(Kind, String)>, CpError> {
    let Some((pkind, key)) = parent else {
        return Ok(None);
    };
    parent_column(kind, pkind)?;
    let row = entities::resolve(conn, cp, pkind, key)?.ok_or_else(|| not_found(pkind, key))?;
    Ok(Some((pkind, row.id)))
}

/// Whether `row` (of `kind`) is bound to `parent` (always, without one).
fn bound_to(row: &Row, kind: Kind, parent: Option<&(Kind, String)>) -> bool {
    let Some((pkind, pid)) = parent else {
        return true;
    };
    let Ok(column) = parent_column(kind, *pkind) else {
        return false;
    };
    row.body
        .get(column)
        .and_then(|v| v.get("id"))
        .and_then(Value::as_str)
        == Some(pid.as_str())
}

/// Recursively merges `new` into `old` (objects merge, everything else replaces).
fn merge_into(old: &mut Map<String, Value>, new: Map<String, Value>) {
    for (key, value) in new {
        match (old.get_mut(&key), value) {
            (Some(Value::Object(o)), Value::Object(n)) => merge_into(o, n),
            (_, value) => {
                old.insert(key, value);
            }
        }
    }
}

fn not_found(kind: Kind, id: &str) -> CpError {
    CpError::NotFound {
        kind,
        id: id.to_string(),
    }
}

/// A missing control plane: `NotFound` with the kind asked for (plugins for control-plane-level
/// calls) and the control plane's id, so callers tell it apart by `id == cp`.
fn cp_not_found(id: &str) -> CpError {
    not_found(Kind::Plugin, id)
}

/// What is wrong with a control plane label, if anything: keys of 1 to 63 characters not
/// starting with `kong`, `konnect`, `mesh`, `kic` or `_`; values of 1 to 63 letters, digits,
/// `-`, `.` and `_`, starting and ending with a letter or digit.
fn label_problem(key: &str, value: &str) -> Option<String> {
    let key_len = key.chars().count();
    if !(1..=63).contains(&key_len) {
        return Some("label keys must be 1 to 63 characters long".to_string());
    }
    if ["kong", "konnect", "mesh", "kic", "_"]
        .iter()
        .any(|p| key.starts_with(p))
    {
        return Some(
            "label keys cannot start with 'kong', 'konnect', 'mesh', 'kic' or '_'".to_string(),
        );
    }
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    let ok = (1..=63).contains(&value.len())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        && edge(value.chars().next())
        && edge(value.chars().last());
    (!ok).then(|| {
        "label values must be 1 to 63 letters, digits, '-', '.' or '_', \
         starting and ending with a letter or digit"
            .to_string()
    })
}

/// What is wrong with one of a control plane's `proxy_urls`, if anything: an object of exactly
/// `host` (1 to 120 characters), `port` (an integer of at least 1) and `protocol` (1 to 32
/// characters).
fn proxy_url_problem(url: &Value) -> Option<String> {
    let Some(map) = url.as_object() else {
        return Some("must be an object".to_string());
    };
    if let Some(key) = map
        .keys()
        .find(|k| !["host", "port", "protocol"].contains(&k.as_str()))
    {
        return Some(format!("property {key} should not exist"));
    }
    let text = |key: &str, max: usize| match map.get(key) {
        Some(Value::String(s)) if (1..=max).contains(&s.chars().count()) => None,
        _ => Some(format!("{key} must be a string of 1 to {max} characters")),
    };
    text("host", 120)
        .or_else(|| text("protocol", 32))
        .or_else(|| match map.get("port").and_then(Value::as_u64) {
            Some(port) if port >= 1 => None,
            _ => Some("port must be an integer of at least 1".to_string()),
        })
}

/// Validates a control plane creation body: `(name, body without id and timestamps)`.
fn control_plane_body(map: &Map<String, Value>) -> Result<(String, Map<String, Value>), CpError> {
    const CLUSTER_TYPES: [&str; 6] = [
        "CLUSTER_TYPE_CONTROL_PLANE",
        "CLUSTER_TYPE_K8S_INGRESS_CONTROLLER",
        "CLUSTER_TYPE_CONTROL_PLANE_GROUP",
        "CLUSTER_TYPE_SERVERLESS",
        "CLUSTER_TYPE_KAFKA_NATIVE_EVENT_PROXY",
        "CLUSTER_TYPE_SERVERLESS_V1",
    ];
    const AUTH_TYPES: [&str; 2] = ["pinned_client_certs", "pki_client_certs"];
    let mut errors = Vec::new();
    let mut fail = |path: &str, message: &str| {
        errors.push(FieldError {
            path: path.to_string(),
            message: message.to_string(),
        })
    };
    let known = [
        "name",
        "description",
        "labels",
        "cluster_type",
        "auth_type",
        "cloud_gateway",
        "proxy_urls",
    ];
    for key in map.keys() {
        if !known.contains(&key.as_str()) {
            fail(key, &format!("property {key} should not exist"));
        }
    }
    // Lengths, label syntax and proxy URLs as in Konnect's `CreateControlPlaneRequest`.
    let name = match map.get("name") {
        Some(Value::String(s)) if (2..=256).contains(&s.chars().count()) => s.clone(),
        Some(Value::String(_)) => {
            fail("name", "length must be between 2 and 256 characters");
            String::new()
        }
        None | Some(Value::Null) => {
            fail("name", "is a required field");
            String::new()
        }
        Some(_) => {
            fail("name", "must be a string");
            String::new()
        }
    };
    let description = match map.get("description") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) if s.chars().count() <= 2048 => s.clone(),
        Some(Value::String(_)) => {
            fail("description", "length must be at most 2048 characters");
            String::new()
        }
        Some(_) => {
            fail("description", "must be a string");
            String::new()
        }
    };
    let labels = match map.get("labels") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(Value::Object(l)) if l.values().all(Value::is_string) => {
            for (key, value) in l {
                if let Some(reason) = label_problem(key, value.as_str().unwrap_or_default()) {
                    fail(&format!("labels.{key}"), &reason);
                }
            }
            Value::Object(l.clone())
        }
        Some(_) => {
            fail("labels", "must be an object of strings");
            Value::Null
        }
    };
    let pick =
        |key: &str, choices: &[&str], default: &str, fail: &mut dyn FnMut(&str, &str)| match map
            .get(key)
        {
            None | Some(Value::Null) => default.to_string(),
            Some(Value::String(s)) if choices.contains(&s.as_str()) => s.clone(),
            Some(_) => {
                fail(key, &format!("must be one of: {}", choices.join(", ")));
                default.to_string()
            }
        };
    let cluster_type = pick(
        "cluster_type",
        &CLUSTER_TYPES,
        "CLUSTER_TYPE_CONTROL_PLANE",
        &mut fail,
    );
    let auth_type = pick("auth_type", &AUTH_TYPES, "pinned_client_certs", &mut fail);
    let cloud_gateway = match map.get("cloud_gateway") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            fail("cloud_gateway", "must be a boolean");
            false
        }
    };
    let proxy_urls = match map.get("proxy_urls") {
        None | Some(Value::Null) => Value::Array(Vec::new()),
        Some(Value::Array(a)) => {
            if a.len() > 5 {
                fail("proxy_urls", "must hold at most 5 items");
            }
            for (i, url) in a.iter().enumerate() {
                if let Some(reason) = proxy_url_problem(url) {
                    fail(&format!("proxy_urls[{i}]"), &reason);
                }
            }
            Value::Array(a.clone())
        }
        Some(_) => {
            fail("proxy_urls", "must be an array");
            Value::Null
        }
    };
    if !errors.is_empty() {
        return Err(entities::invalid(errors));
    }
    let mut out = Map::new();
    out.insert("name".into(), Value::from(name.clone()));
    out.insert("description".into(), Value::from(description));
    out.insert("labels".into(), labels);
    out.insert(
        "config".into(),
        json!({
            "control_plane_endpoint": "http://127.0.0.1:8001",
            "telemetry_endpoint": "http://127.0.0.1:8001",
            "cluster_type": cluster_type,
            "auth_type": auth_type,
            "cloud_gateway": cloud_gateway,
            "proxy_urls": proxy_urls,
        }),
    );
    Ok((name, out))
}
