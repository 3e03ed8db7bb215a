//! The SQLite layer: schema, and the few queries the engine needs. Nothing here validates or
//! decides; callers pass rows in and get rows out. All functions take a `Connection` (a
//! `Transaction` derefs to one), so a write's queries run inside its transaction.

use rusqlite::types::Value as SqlValue;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension};
use serde_json::Value;

use super::{CpError, Kind, TagFilter};

/// Version of the on-disk layout, stored in `meta`.
const LAYOUT_VERSION: &str = "1";

const DDL: &str = "
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS control_planes (
    seq               INTEGER PRIMARY KEY AUTOINCREMENT,
    id                TEXT NOT NULL UNIQUE,
    name              TEXT NOT NULL UNIQUE,
    body              TEXT NOT NULL,
    created_at        INTEGER NOT NULL,
    node_id           TEXT NOT NULL,
    node_hash         TEXT NOT NULL,
    node_error        TEXT,
    node_updated_at   INTEGER NOT NULL,
    config_updated_at INTEGER NOT NULL,
    dp_seq            INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS entities (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    cp             TEXT NOT NULL,
    kind           TEXT NOT NULL,
    id             TEXT NOT NULL,
    name           TEXT,
    uname          TEXT,
    ukey           TEXT,
    service        TEXT,
    route          TEXT,
    consumer       TEXT,
    consumer_group TEXT,
    body           TEXT NOT NULL,
    digest         BLOB NOT NULL,
    problem        TEXT,
    UNIQUE (cp, kind, id)
);
CREATE INDEX IF NOT EXISTS entities_list ON entities (cp, kind, seq);
CREATE INDEX IF NOT EXISTS entities_name ON entities (cp, kind, name);
CREATE UNIQUE INDEX IF NOT EXISTS entities_uname ON entities (cp, kind, uname) WHERE uname IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS entities_ukey ON entities (cp, kind, ukey) WHERE ukey IS NOT NULL;
CREATE INDEX IF NOT EXISTS entities_service ON entities (cp, kind, service) WHERE service IS NOT NULL;
CREATE INDEX IF NOT EXISTS entities_route ON entities (cp, kind, route) WHERE route IS NOT NULL;
CREATE INDEX IF NOT EXISTS entities_consumer ON entities (cp, kind, consumer) WHERE consumer IS NOT NULL;
CREATE INDEX IF NOT EXISTS entities_consumer_group ON entities (cp, kind, consumer_group) WHERE consumer_group IS NOT NULL;
CREATE INDEX IF NOT EXISTS entities_problem ON entities (cp) WHERE problem IS NOT NULL;
CREATE TABLE IF NOT EXISTS entity_tags (
    eseq INTEGER NOT NULL,
    tag  TEXT NOT NULL,
    PRIMARY KEY (eseq, tag)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dp_plugins (
    cp          TEXT NOT NULL,
    name        TEXT NOT NULL,
    schema      TEXT NOT NULL,
    handler     TEXT,
    installed_at INTEGER NOT NULL,
    PRIMARY KEY (cp, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dp_log (
    cp          TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    config_hash TEXT NOT NULL,
    accepted    INTEGER NOT NULL,
    error       TEXT,
    PRIMARY KEY (cp, seq)
) WITHOUT ROWID;
";

/// Maps a SQLite error to [`CpError::Storage`].
pub(crate) fn storage(e: rusqlite::Error) -> CpError {
    CpError::Storage {
        message: e.to_string(),
    }
}

/// Opens the database: WAL, `synchronous=FULL`, and the tables.
pub(crate) fn open(path: &str) -> Result<Connection, CpError> {
    let conn = if path == ":memory:" {
        Connection::open_in_memory().map_err(storage)?
    } else {
        if let Some(parent) = std::path::Path::new(path).parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent).map_err(|e| CpError::Storage {
                    message: format!("creating {}: {e}", parent.display()),
                })?;
            }
        }
        Connection::open(path).map_err(storage)?
    };
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(storage)?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .map_err(storage)?;
    if path != ":memory:" && !mode.eq_ignore_ascii_case("wal") {
        return Err(CpError::Storage {
            message: format!("{path}: SQLite refused WAL mode (journal_mode is {mode})"),
        });
    }
    // Savepoints (one per write of a batch) keep their rollback pages in memory, not in a
    // temporary file written page by page.
    conn.execute_batch(
        "PRAGMA synchronous=FULL; PRAGMA foreign_keys=OFF; PRAGMA temp_store=MEMORY;",
    )
    .map_err(storage)?;
    conn.execute_batch(DDL).map_err(storage)?;
    let version: Option<String> = conn
        .query_row("SELECT value FROM meta WHERE key = 'layout'", [], |r| {
            r.get(0)
        })
        .optional()
        .map_err(storage)?;
    match version.as_deref() {
        None => {
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('layout', ?1)",
                [LAYOUT_VERSION],
            )
            .map_err(storage)?;
        }
        Some(LAYOUT_VERSION) => {}
        Some(other) => {
            return Err(CpError::Storage {
                message: format!(
                    "{path}: database layout version {other} is not supported (expected {LAYOUT_VERSION})"
                ),
            })
        }
    }
    Ok(conn)
}

/// Group commit: writers that arrive together share one transaction, and so one commit and
/// one sync of the write-ahead log (`synchronous=FULL`).
///
/// The first writer to find no transaction open begins one (a *batch*); each write runs inside
/// its own savepoint of it, released when the write succeeds and rolled back when it fails, so
/// a failing write leaves the others in its batch untouched. A writer is answered only after
/// its batch commits: the first waiter takes the store lock and commits the batch for everyone
/// in it, the others wait for that; writers that arrive during the commit form the next batch.
/// Readers wait the same way for the batch whose writes they could see, so nothing is shown
/// before it is durable. Hot pages (indexes, the control plane's row, the data plane log) are
/// written to the log once per batch instead of once per write. A failed commit poisons the
/// store: every later request fails until it is reopened from disk.
#[derive(Default)]
pub(crate) struct GroupCommit {
    state: std::sync::Mutex<BatchState>,
    done: std::sync::Condvar,
}

#[derive(Default)]
pub(crate) struct BatchState {
    /// The number of the last batch begun.
    pub last: u64,
    /// The batch open in the connection, if any.
    pub open: Option<u64>,
    /// Batches up to this one are committed.
    pub durable: u64,
    /// A commit is running.
    pub committing: bool,
    /// Why a commit failed: every later request fails with it.
    pub poisoned: Option<String>,
    /// Commits done (tests and measurements).
    pub commits: u64,
}

impl GroupCommit {
    pub(crate) fn state(&self) -> std::sync::MutexGuard<'_, BatchState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for a change of the state (a commit finished).
    pub(crate) fn wait_change<'a>(
        &self,
        st: std::sync::MutexGuard<'a, BatchState>,
    ) -> std::sync::MutexGuard<'a, BatchState> {
        self.done.wait(st).unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn notify(&self) {
        self.done.notify_all();
    }

    /// Joins the open batch of `conn`, beginning one when none is open (call under the store
    /// lock); returns the batch's number.
    pub(crate) fn join(&self, conn: &Connection) -> Result<u64, CpError> {
        let mut st = self.state();
        poisoned(&st)?;
        if let Some(open) = st.open {
            if !conn.is_autocommit() {
                return Ok(open);
            }
        }
        conn.execute_batch("BEGIN IMMEDIATE").map_err(storage)?;
        st.last += 1;
        st.open = Some(st.last);
        Ok(st.last)
    }

    /// The batch whose writes a reader could see now (call under the store lock).
    pub(crate) fn visible(&self) -> u64 {
        let st = self.state();
        st.open.unwrap_or(st.durable)
    }

    /// How many batches were committed.
    #[cfg(test)]
    pub(crate) fn commits(&self) -> u64 {
        self.state().commits
    }
}

/// The error of a poisoned store.
pub(crate) fn poisoned(st: &BatchState) -> Result<(), CpError> {
    match &st.poisoned {
        Some(why) => Err(CpError::Storage {
            message: format!("an earlier commit failed ({why}); restart the server"),
        }),
        None => Ok(()),
    }
}

/// A control plane row.
#[derive(Debug, Clone)]
pub(crate) struct CpRow {
    pub id: String,
    pub body: Value,
    pub created_at: i64,
    pub node_id: String,
    pub node_hash: String,
    pub node_error: Option<String>,
    pub node_updated_at: i64,
    pub config_updated_at: i64,
    pub dp_seq: i64,
}

const CP_COLUMNS: &str = "id, body, created_at, node_id, node_hash, node_error, node_updated_at, config_updated_at, dp_seq";

fn cp_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<CpRow> {
    let body: String = r.get(1)?;
    Ok(CpRow {
        id: r.get(0)?,
        body: serde_json::from_str(&body).unwrap_or(Value::Null),
        created_at: r.get(2)?,
        node_id: r.get(3)?,
        node_hash: r.get(4)?,
        node_error: r.get(5)?,
        node_updated_at: r.get(6)?,
        config_updated_at: r.get(7)?,
        dp_seq: r.get(8)?,
    })
}

/// Every control plane, in creation order.
pub(crate) fn control_planes(conn: &Connection) -> Result<Vec<CpRow>, CpError> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {CP_COLUMNS} FROM control_planes ORDER BY seq"
        ))
        .map_err(storage)?;
    let rows = stmt.query_map([], cp_row).map_err(storage)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(storage)
}

/// Whether a control plane named `name` exists.
pub(crate) fn control_plane_name_taken(conn: &Connection, name: &str) -> Result<bool, CpError> {
    conn.query_row(
        "SELECT 1 FROM control_planes WHERE name = ?1",
        [name],
        |_| Ok(()),
    )
    .optional()
    .map(|r| r.is_some())
    .map_err(storage)
}

/// Inserts a control plane.
pub(crate) fn insert_control_plane(
    conn: &Connection,
    row: &CpRow,
    name: &str,
) -> Result<(), CpError> {
    conn.execute(
        "INSERT INTO control_planes (id, name, body, created_at, node_id, node_hash, node_error, node_updated_at, config_updated_at, dp_seq)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            row.id,
            name,
            row.body.to_string(),
            row.created_at,
            row.node_id,
            row.node_hash,
            row.node_error,
            row.node_updated_at,
            row.config_updated_at,
            row.dp_seq
        ],
    )
    .map_err(storage)?;
    Ok(())
}

/// Saves the node and configuration state of a control plane.
pub(crate) fn update_node(
    conn: &Connection,
    cp: &str,
    node_hash: &str,
    node_error: Option<&str>,
    node_updated_at: i64,
    config_updated_at: i64,
    dp_seq: i64,
) -> Result<(), CpError> {
    conn.prepare_cached(
        "UPDATE control_planes SET node_hash = ?2, node_error = ?3, node_updated_at = ?4,
             config_updated_at = ?5, dp_seq = ?6 WHERE id = ?1",
    )
    .and_then(|mut s| {
        s.execute(params![
            cp,
            node_hash,
            node_error,
            node_updated_at,
            config_updated_at,
            dp_seq
        ])
    })
    .map_err(storage)?;
    Ok(())
}

/// Appends one entry to the data plane log.
pub(crate) fn append_log(
    conn: &Connection,
    cp: &str,
    seq: i64,
    hash: &str,
    accepted: bool,
    error: Option<&str>,
) -> Result<(), CpError> {
    conn.prepare_cached(
        "INSERT INTO dp_log (cp, seq, config_hash, accepted, error) VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .and_then(|mut s| s.execute(params![cp, seq, hash, accepted, error]))
    .map_err(storage)?;
    Ok(())
}

/// The data plane log of a control plane, oldest first.
pub(crate) fn dp_log(conn: &Connection, cp: &str) -> Result<Vec<Value>, CpError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT seq, config_hash, accepted, error FROM dp_log WHERE cp = ?1 ORDER BY seq",
        )
        .map_err(storage)?;
    let rows = stmt
        .query_map([cp], |r| {
            let seq: i64 = r.get(0)?;
            let hash: String = r.get(1)?;
            let accepted: bool = r.get(2)?;
            let error: Option<String> = r.get(3)?;
            Ok(serde_json::json!({
                "seq": seq, "config_hash": hash, "accepted": accepted, "error": error,
            }))
        })
        .map_err(storage)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(storage)
}

/// A stored entity.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub seq: i64,
    pub id: String,
    pub body: Value,
    pub digest: [u8; 32],
}

/// What to write for one entity.
#[derive(Debug, Clone)]
pub(crate) struct NewRow {
    pub id: String,
    /// Lookup name (`name`, consumer `username`; a plugin's plugin name).
    pub name: Option<String>,
    /// First unique key (custom plugin / service / route / group name, consumer username,
    /// plugin `instance_name`).
    pub uname: Option<String>,
    /// Second unique key (consumer `custom_id`, a plugin's name + scope).
    pub ukey: Option<String>,
    /// Foreign ids: service, route, consumer, consumer group.
    pub refs: [Option<String>; 4],
    pub body: Value,
    pub digest: [u8; 32],
    pub problem: Option<String>,
    pub tags: Vec<String>,
}

/// The foreign-key columns, in [`NewRow::refs`] order.
pub(crate) const REF_COLUMNS: [&str; 4] = ["service", "route", "consumer", "consumer_group"];

const ROW_COLUMNS: &str = "seq, id, body, digest";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    let body: String = r.get(2)?;
    let digest: Vec<u8> = r.get(3)?;
    let mut d = [0u8; 32];
    if digest.len() == 32 {
        d.copy_from_slice(&digest);
    }
    Ok(Row {
        seq: r.get(0)?,
        id: r.get(1)?,
        body: serde_json::from_str(&body).unwrap_or(Value::Null),
        digest: d,
    })
}

/// The entity of `kind` whose `column` (`id`, `uname` or `ukey`) is `value`.
fn by_column(
    conn: &Connection,
    cp: &str,
    kind: Kind,
    column: &str,
    value: &str,
) -> Result<Option<Row>, CpError> {
    conn.prepare_cached(&format!(
        "SELECT {ROW_COLUMNS} FROM entities WHERE cp = ?1 AND kind = ?2 AND {column} = ?3"
    ))
    .and_then(|mut s| s.query_row(params![cp, kind.path(), value], row).optional())
    .map_err(storage)
}

/// The entity of `kind` with id `id`.
pub(crate) fn by_id(
    conn: &Connection,
    cp: &str,
    kind: Kind,
    id: &str,
) -> Result<Option<Row>, CpError> {
    by_column(conn, cp, kind, "id", id)
}

/// The entity of `kind` whose unique name (`uname`) is `name`.
pub(crate) fn by_uname(
    conn: &Connection,
    cp: &str,
    kind: Kind,
    name: &str,
) -> Result<Option<Row>, CpError> {
    by_column(conn, cp, kind, "uname", name)
}

/// The entity of `kind` whose second unique key (`ukey`) is `key`.
pub(crate) fn by_ukey(
    conn: &Connection,
    cp: &str,
    kind: Kind,
    key: &str,
) -> Result<Option<Row>, CpError> {
    by_column(conn, cp, kind, "ukey", key)
}

/// Entities of `kind` whose foreign column `column` (one of [`REF_COLUMNS`]) is `id`.
pub(crate) fn referencing(
    conn: &Connection,
    cp: &str,
    kind: Kind,
    column: &str,
    id: &str,
) -> Result<Vec<Row>, CpError> {
    if !REF_COLUMNS.contains(&column) {
        return Ok(Vec::new());
    }
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {ROW_COLUMNS} FROM entities WHERE cp = ?1 AND kind = ?2 AND {column} = ?3 ORDER BY seq"
        ))
        .map_err(storage)?;
    let rows = stmt
        .query_map(params![cp, kind.path(), id], row)
        .map_err(storage)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(storage)
}

/// Plugin instances of the plugin named `name`.
pub(crate) fn instances_of(conn: &Connection, cp: &str, name: &str) -> Result<Vec<Row>, CpError> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {ROW_COLUMNS} FROM entities WHERE cp = ?1 AND kind = 'plugins' AND name = ?2 ORDER BY seq"
        ))
        .map_err(storage)?;
    let rows = stmt.query_map(params![cp, name], row).map_err(storage)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(storage)
}

/// How many plugin instances use the plugin named `name`.
pub(crate) fn count_instances_of(conn: &Connection, cp: &str, name: &str) -> Result<i64, CpError> {
    conn.prepare_cached(
        "SELECT COUNT(*) FROM entities WHERE cp = ?1 AND kind = 'plugins' AND name = ?2",
    )
    .and_then(|mut s| s.query_row(params![cp, name], |r| r.get(0)))
    .map_err(storage)
}

/// The custom plugin source `(schema.lua)` of the plugin named `name`, if there is one.
pub(crate) fn custom_plugin_schema_source(
    conn: &Connection,
    cp: &str,
    name: &str,
) -> Result<Option<String>, CpError> {
    Ok(by_uname(conn, cp, Kind::CustomPlugin, name)?.and_then(|r| {
        r.body
            .get("schema")
            .and_then(Value::as_str)
            .map(str::to_string)
    }))
}

/// The `lua_schema` of the hybrid-mode plugin schema named `name`, if there is one.
pub(crate) fn plugin_schema_source(
    conn: &Connection,
    cp: &str,
    name: &str,
) -> Result<Option<String>, CpError> {
    Ok(by_uname(conn, cp, Kind::PluginSchema, name)?.and_then(|r| {
        r.body
            .get("lua_schema")
            .and_then(Value::as_str)
            .map(str::to_string)
    }))
}

/// The plugin `name` installed on the simulated node: `(handler, schema)`.
pub(crate) fn node_plugin(
    conn: &Connection,
    cp: &str,
    name: &str,
) -> Result<Option<(Option<String>, String)>, CpError> {
    conn.query_row(
        "SELECT handler, schema FROM dp_plugins WHERE cp = ?1 AND name = ?2",
        params![cp, name],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
    .map_err(storage)
}

/// A plugin installed on the simulated node: `(name, handler, schema, installed_at)`.
pub(crate) type NodePluginRow = (String, Option<String>, String, i64);

/// Every plugin installed on the simulated node, by name.
pub(crate) fn node_plugins(conn: &Connection, cp: &str) -> Result<Vec<NodePluginRow>, CpError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT name, handler, schema, installed_at FROM dp_plugins WHERE cp = ?1 ORDER BY name",
        )
        .map_err(storage)?;
    let rows = stmt
        .query_map([cp], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .map_err(storage)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(storage)
}

/// Installs (or replaces) a plugin's files on the simulated node.
pub(crate) fn put_node_plugin(
    conn: &Connection,
    cp: &str,
    name: &str,
    handler: Option<&str>,
    schema: &str,
    now: i64,
) -> Result<(), CpError> {
    conn.execute(
        "INSERT OR REPLACE INTO dp_plugins (cp, name, schema, handler, installed_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![cp, name, schema, handler, now],
    )
    .map(|_| ())
    .map_err(storage)
}

/// Removes a plugin's files from the simulated node; whether it was installed.
pub(crate) fn delete_node_plugin(conn: &Connection, cp: &str, name: &str) -> Result<bool, CpError> {
    conn.execute(
        "DELETE FROM dp_plugins WHERE cp = ?1 AND name = ?2",
        params![cp, name],
    )
    .map(|n| n > 0)
    .map_err(storage)
}

/// Inserts an entity; returns its sequence number.
pub(crate) fn insert(
    conn: &Connection,
    cp: &str,
    kind: Kind,
    new: &NewRow,
) -> Result<i64, CpError> {
    conn.prepare_cached(
        "INSERT INTO entities (cp, kind, id, name, uname, ukey, service, route, consumer, consumer_group, body, digest, problem)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )
    .and_then(|mut s| {
        s.execute(params![
            cp,
            kind.path(),
            new.id,
            new.name,
            new.uname,
            new.ukey,
            new.refs[0],
            new.refs[1],
            new.refs[2],
            new.refs[3],
            new.body.to_string(),
            &new.digest[..],
            new.problem
        ])
    })
    .map_err(storage)?;
    let seq = conn.last_insert_rowid();
    set_tags(conn, seq, &new.tags)?;
    Ok(seq)
}

/// Replaces the stored entity with sequence number `seq` (the sequence number, and so the
/// list position, stays).
pub(crate) fn update(conn: &Connection, seq: i64, new: &NewRow) -> Result<(), CpError> {
    conn.prepare_cached(
        "UPDATE entities SET id = ?2, name = ?3, uname = ?4, ukey = ?5, service = ?6, route = ?7,
             consumer = ?8, consumer_group = ?9, body = ?10, digest = ?11, problem = ?12
         WHERE seq = ?1",
    )
    .and_then(|mut s| {
        s.execute(params![
            seq,
            new.id,
            new.name,
            new.uname,
            new.ukey,
            new.refs[0],
            new.refs[1],
            new.refs[2],
            new.refs[3],
            new.body.to_string(),
            &new.digest[..],
            new.problem
        ])
    })
    .map_err(storage)?;
    conn.prepare_cached("DELETE FROM entity_tags WHERE eseq = ?1")
        .and_then(|mut s| s.execute([seq]))
        .map_err(storage)?;
    set_tags(conn, seq, &new.tags)
}

/// Updates only the data plane verdict of an entity.
pub(crate) fn set_problem(
    conn: &Connection,
    seq: i64,
    problem: Option<&str>,
) -> Result<(), CpError> {
    conn.prepare_cached("UPDATE entities SET problem = ?2 WHERE seq = ?1")
        .and_then(|mut s| s.execute(params![seq, problem]))
        .map_err(storage)?;
    Ok(())
}

fn set_tags(conn: &Connection, seq: i64, tags: &[String]) -> Result<(), CpError> {
    if tags.is_empty() {
        return Ok(());
    }
    let mut stmt = conn
        .prepare_cached("INSERT OR IGNORE INTO entity_tags (eseq, tag) VALUES (?1, ?2)")
        .map_err(storage)?;
    for tag in tags {
        stmt.execute(params![seq, tag]).map_err(storage)?;
    }
    Ok(())
}

/// Deletes the entity with sequence number `seq`.
pub(crate) fn delete(conn: &Connection, seq: i64) -> Result<(), CpError> {
    conn.prepare_cached("DELETE FROM entities WHERE seq = ?1")
        .and_then(|mut s| s.execute([seq]))
        .map_err(storage)?;
    conn.prepare_cached("DELETE FROM entity_tags WHERE eseq = ?1")
        .and_then(|mut s| s.execute([seq]))
        .map_err(storage)?;
    Ok(())
}

/// Filters of a list query, resolved.
pub(crate) struct ListFilter<'a> {
    pub after: i64,
    pub limit: usize,
    pub tags: Option<&'a TagFilter>,
    pub name_eq: Option<&'a str>,
    /// Foreign column and id of the parent of a nested list.
    pub parent: Option<(&'static str, String)>,
}

/// Entities of one kind after sequence number `after`, in sequence order: `(seq, body)`.
pub(crate) fn list(
    conn: &Connection,
    cp: &str,
    kind: Kind,
    f: &ListFilter<'_>,
) -> Result<Vec<(i64, Value)>, CpError> {
    let mut sql = String::from(
        "SELECT e.seq, e.body FROM entities e WHERE e.cp = ? AND e.kind = ? AND e.seq > ?",
    );
    let mut args: Vec<SqlValue> = vec![
        SqlValue::Text(cp.to_string()),
        SqlValue::Text(kind.path().to_string()),
        SqlValue::Integer(f.after),
    ];
    if let Some(name) = f.name_eq {
        sql.push_str(" AND e.name = ?");
        args.push(SqlValue::Text(name.to_string()));
    }
    if let Some((column, id)) = &f.parent {
        if REF_COLUMNS.contains(column) {
            sql.push_str(&format!(" AND e.{column} = ?"));
            args.push(SqlValue::Text(id.clone()));
        }
    }
    if let Some(filter) = f.tags {
        let (tags, all) = match filter {
            TagFilter::All(t) => (t, true),
            TagFilter::Any(t) => (t, false),
        };
        let mut unique: Vec<&String> = tags.iter().collect();
        unique.sort();
        unique.dedup();
        let marks = vec!["?"; unique.len()].join(", ");
        if all {
            sql.push_str(&format!(
                " AND (SELECT COUNT(*) FROM entity_tags t WHERE t.eseq = e.seq AND t.tag IN ({marks})) = ?"
            ));
        } else {
            sql.push_str(&format!(
                " AND EXISTS (SELECT 1 FROM entity_tags t WHERE t.eseq = e.seq AND t.tag IN ({marks}))"
            ));
        }
        for t in &unique {
            args.push(SqlValue::Text((*t).clone()));
        }
        if all {
            args.push(SqlValue::Integer(
                i64::try_from(unique.len()).unwrap_or(i64::MAX),
            ));
        }
    }
    sql.push_str(" ORDER BY e.seq LIMIT ?");
    args.push(SqlValue::Integer(
        i64::try_from(f.limit).unwrap_or(i64::MAX),
    ));
    let mut stmt = conn.prepare_cached(&sql).map_err(storage)?;
    let rows = stmt
        .query_map(params_from_iter(args), |r| {
            let seq: i64 = r.get(0)?;
            let body: String = r.get(1)?;
            Ok((seq, serde_json::from_str(&body).unwrap_or(Value::Null)))
        })
        .map_err(storage)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(storage)
}

/// Every entity digest of a control plane.
pub(crate) fn digests(conn: &Connection, cp: &str) -> Result<Vec<[u8; 32]>, CpError> {
    let mut stmt = conn
        .prepare_cached("SELECT digest FROM entities WHERE cp = ?1 AND kind != 'plugin-schemas'")
        .map_err(storage)?;
    let rows = stmt
        .query_map([cp], |r| {
            let d: Vec<u8> = r.get(0)?;
            let mut out = [0u8; 32];
            if d.len() == 32 {
                out.copy_from_slice(&d);
            }
            Ok(out)
        })
        .map_err(storage)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(storage)
}

/// The stored data plane problems of a control plane: `(id, seq, problem)`.
pub(crate) fn problems(conn: &Connection, cp: &str) -> Result<Vec<(String, i64, String)>, CpError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT id, seq, problem FROM entities WHERE cp = ?1 AND problem IS NOT NULL",
        )
        .map_err(storage)?;
    let rows = stmt
        .query_map([cp], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .map_err(storage)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(storage)
}

/// Sequence numbers of the plugin instances of a control plane up to `last`, ascending (the
/// payload's `plugins` order).
pub(crate) fn plugin_seqs_upto(
    conn: &Connection,
    cp: &str,
    last: i64,
) -> Result<Vec<i64>, CpError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT seq FROM entities WHERE cp = ?1 AND kind = 'plugins' AND seq <= ?2 ORDER BY seq",
        )
        .map_err(storage)?;
    let rows = stmt
        .query_map(params![cp, last], |r| r.get(0))
        .map_err(storage)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(storage)
}
