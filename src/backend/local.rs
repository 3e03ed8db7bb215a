//! The embedded local control plane: the same service `plugsync serve` serves, called
//! in-process on a SQLite file (`.plugsync/local.db` by default).

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;

use super::{Backend, Kind, NodePlugins, Propagation, Stats, TargetError};
use crate::controlplane::{ControlPlanes, CpError, ListQuery, TagFilter};
use crate::model::{TargetInfo, TargetKind};

/// The local control plane as a target.
pub struct LocalBackend {
    service: ControlPlanes,
    path: String,
    cp: String,
    requests: AtomicU64,
}

impl LocalBackend {
    /// Opens (or creates) the store at `path` and targets its `default` control plane.
    pub fn open(path: &str) -> Result<LocalBackend, TargetError> {
        let service = ControlPlanes::open(path).map_err(|e| {
            TargetError::Config(format!(
                "cannot open the local control plane at {path}: {e}"
            ))
        })?;
        let cp = service.default_id();
        Ok(LocalBackend {
            service,
            path: path.to_string(),
            cp,
            requests: AtomicU64::new(0),
        })
    }

    /// The service, for tests and tools that inspect the store.
    pub fn service(&self) -> &ControlPlanes {
        &self.service
    }

    fn err(&self, method: &str, kind: Kind, id: Option<&str>, e: CpError) -> TargetError {
        let status = match &e {
            CpError::NotFound { .. } => 404,
            CpError::Storage { .. } => 500,
            _ => 400,
        };
        let mut message = e.to_string();
        if let CpError::Invalid { fields, entity, .. } = &e {
            let mut parts: Vec<String> = fields
                .iter()
                .map(|f| format!("{}: {}", f.path, f.message))
                .collect();
            parts.extend(entity.iter().cloned());
            if !parts.is_empty() && !parts.iter().all(|p| message.contains(p.as_str())) {
                message = format!("{message} ({})", parts.join("; "));
            }
        }
        TargetError::Api {
            method: method.to_string(),
            url: match id {
                Some(id) => format!("local:{}/{id}", kind.path()),
                None => format!("local:{}", kind.path()),
            },
            status,
            message,
        }
    }
}

impl Backend for LocalBackend {
    fn about(&self) -> Result<super::About, TargetError> {
        let nodes = self
            .service
            .nodes(&self.cp)
            .map_err(|e| self.err("GET", Kind::CustomPlugin, None, e))?;
        let versions: Vec<&str> = nodes["items"]
            .as_array()
            .map(|a| a.iter().filter_map(|n| n["version"].as_str()).collect())
            .unwrap_or_default();
        Ok(super::About {
            kong_version: super::lowest_version(versions).map(str::to_string),
            version_source: "the simulated data plane node of the embedded control plane".into(),
            facts: vec![("store".into(), self.path.clone())],
        })
    }

    fn info(&self) -> TargetInfo {
        TargetInfo {
            kind: TargetKind::Local,
            address: self.path.clone(),
            control_plane: "default".into(),
        }
    }

    fn for_each_page(
        &self,
        kind: Kind,
        tags: Option<&str>,
        on_page: &mut dyn FnMut(Vec<Value>) -> Result<(), TargetError>,
    ) -> Result<(), TargetError> {
        let tags = match tags {
            Some(t) => Some(TagFilter::parse(t).map_err(|e| self.err("GET", kind, None, e))?),
            None => None,
        };
        let mut offset = None;
        loop {
            self.requests.fetch_add(1, Ordering::Relaxed);
            let q = ListQuery {
                size: 1000,
                offset: offset.take(),
                tags: tags.clone(),
                name_eq: None,
                parent: None,
            };
            let page = self
                .service
                .list(&self.cp, kind, &q)
                .map_err(|e| self.err("GET", kind, None, e))?;
            on_page(page.data)?;
            match page.offset {
                Some(o) => offset = Some(o),
                None => return Ok(()),
            }
        }
    }

    fn put(&self, kind: Kind, id: &str, body: &Value) -> Result<Value, TargetError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.service
            .upsert(&self.cp, kind, id, body.clone(), None)
            .map_err(|e| self.err("PUT", kind, Some(id), e))
    }

    fn delete(&self, kind: Kind, id: &str) -> Result<(), TargetError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        match self.service.delete(&self.cp, kind, id, None) {
            Ok(()) | Err(CpError::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.err("DELETE", kind, Some(id), e)),
        }
    }

    fn propagation(&self) -> Result<Option<Propagation>, TargetError> {
        let hash = self
            .service
            .expected_config_hash(&self.cp)
            .map_err(|e| TargetError::Config(e.to_string()))?;
        let nodes = self
            .service
            .nodes(&self.cp)
            .map_err(|e| TargetError::Config(e.to_string()))?;
        super::remote::parse_propagation(&hash, &nodes)
            .map(Some)
            .map_err(TargetError::Config)
    }

    fn supports_plugin_schemas(&self) -> bool {
        true
    }

    fn list_plugin_schemas(&self) -> Result<Vec<Value>, TargetError> {
        let mut out = Vec::new();
        self.for_each_page(Kind::PluginSchema, None, &mut |page| {
            out.extend(page);
            Ok(())
        })?;
        Ok(out)
    }

    fn put_plugin_schema(&self, name: &str, lua_schema: &str) -> Result<(), TargetError> {
        self.put(
            Kind::PluginSchema,
            name,
            &serde_json::json!({ "lua_schema": lua_schema }),
        )
        .map(|_| ())
    }

    fn delete_plugin_schema(&self, name: &str) -> Result<(), TargetError> {
        self.delete(Kind::PluginSchema, name)
    }

    fn node_plugins(&self) -> Result<Option<Vec<NodePlugins>>, TargetError> {
        let items = self
            .service
            .node_plugins(&self.cp)
            .map_err(|e| TargetError::Config(e.to_string()))?;
        let nodes = self
            .service
            .nodes(&self.cp)
            .map_err(|e| TargetError::Config(e.to_string()))?;
        let node = nodes["items"][0]["id"]
            .as_str()
            .unwrap_or("node")
            .to_string();
        Ok(Some(vec![NodePlugins {
            node,
            plugins: super::remote::parse_node_plugins(&items),
        }]))
    }

    fn stats(&self) -> Stats {
        Stats {
            requests: self.requests.load(Ordering::Relaxed),
            retries: 0,
        }
    }
}
