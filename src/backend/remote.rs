//! Konnect and the Kong Admin API over HTTP. Both serve the same core-entity paths; they differ
//! in the base URL (Konnect: `/v2/control-planes/{id}/core-entities`; Kong: the root, or
//! `/{workspace}`), in how the token is sent, and in what they report about data planes.

use reqwest::{Method, Url};
use serde_json::Value;

use super::http::{HttpSettings, Transport};
use super::{Backend, Kind, NodePlugins, Propagation, Stats, TargetError};
use crate::model::mask;
use crate::model::{TargetInfo, TargetKind};

/// The most pages one list may take: five million entities at 1,000 a page, far beyond any
/// real control plane, and a bound on a server whose `offset` never ends.
pub const MAX_PAGES: usize = 5_000;

/// Which API the backend speaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteFlavor {
    /// Konnect: a control plane chosen by id or by name.
    Konnect {
        control_plane_id: Option<String>,
        control_plane_name: Option<String>,
    },
    /// Kong Gateway's Admin API, optionally in a workspace.
    Kong { workspace: Option<String> },
}

/// A Konnect or Kong Admin API target.
pub struct HttpBackend {
    transport: Transport,
    address: String,
    /// The core-entity base URL (no trailing slash).
    base: String,
    info: TargetInfo,
    /// Konnect's control plane id.
    cp_id: Option<String>,
}

impl HttpBackend {
    /// Connects: for Konnect, resolves the control plane by name (`filter[name][eq]`) or checks
    /// the id.
    pub fn connect(
        address: &str,
        flavor: RemoteFlavor,
        settings: &HttpSettings,
    ) -> Result<HttpBackend, TargetError> {
        Self::connect_with(address, flavor, settings, Transport::new)
    }

    /// [`HttpBackend::connect`] over the transport that `transport` makes (tests: one over a
    /// scripted [`super::http::HttpClient`]).
    pub fn connect_with(
        address: &str,
        flavor: RemoteFlavor,
        settings: &HttpSettings,
        transport: impl FnOnce(&HttpSettings) -> Result<Transport, TargetError>,
    ) -> Result<HttpBackend, TargetError> {
        let address = address.trim_end_matches('/').to_string();
        Url::parse(&address)
            .map_err(|e| TargetError::Config(format!("invalid address `{address}`: {e}")))?;
        let transport = transport(settings)?;
        let shown = display_address(&address, settings);
        match flavor {
            RemoteFlavor::Kong { workspace } => {
                let base = match &workspace {
                    Some(ws) => format!("{address}/{ws}"),
                    None => address.clone(),
                };
                Ok(HttpBackend {
                    transport,
                    info: TargetInfo {
                        kind: TargetKind::Kong,
                        address: shown,
                        control_plane: workspace.unwrap_or_else(|| "default".into()),
                    },
                    address,
                    base,
                    cp_id: None,
                })
            }
            RemoteFlavor::Konnect {
                control_plane_id,
                control_plane_name,
            } => {
                let (id, name) = match (control_plane_id, control_plane_name) {
                    (Some(id), _) => {
                        let url = format!("{address}/v2/control-planes/{id}");
                        let (_, v) = transport.send(Method::GET, &url, None)?;
                        let name = v
                            .get("name")
                            .and_then(Value::as_str)
                            .unwrap_or(&id)
                            .to_string();
                        (id, name)
                    }
                    (None, Some(name)) => {
                        let mut url = Url::parse(&format!("{address}/v2/control-planes"))
                            .map_err(|e| TargetError::Config(e.to_string()))?;
                        url.query_pairs_mut().append_pair("filter[name][eq]", &name);
                        let (status, v) = transport.send(Method::GET, url.as_str(), None)?;
                        let Some(list) = v.get("data").and_then(Value::as_array) else {
                            return Err(TargetError::Api {
                                method: "GET".into(),
                                url: url.to_string(),
                                status,
                                message: format!(
                                    "the answer is not a list (no array `data`): {}",
                                    super::http::clean_text(&v.to_string(), 200)
                                ),
                            });
                        };
                        let found = Some(list)
                            .and_then(|d| {
                                d.iter().find(|cp| {
                                    cp.get("name").and_then(Value::as_str) == Some(name.as_str())
                                })
                            })
                            .and_then(|cp| cp.get("id"))
                            .and_then(Value::as_str)
                            .map(str::to_string);
                        match found {
                            Some(id) => (id, name),
                            None => {
                                return Err(TargetError::Config(format!(
                                    "control plane not found: {name} (at {shown})"
                                )))
                            }
                        }
                    }
                    (None, None) => return Err(TargetError::Config(
                        "Konnect needs --konnect-control-plane-name or --konnect-control-plane-id"
                            .into(),
                    )),
                };
                Ok(HttpBackend {
                    transport,
                    base: format!("{address}/v2/control-planes/{id}/core-entities"),
                    info: TargetInfo {
                        kind: TargetKind::Konnect,
                        address: shown,
                        control_plane: name,
                    },
                    address,
                    cp_id: Some(id),
                })
            }
        }
    }

    fn url(&self, kind: Kind, id: Option<&str>) -> String {
        match id {
            Some(id) => format!("{}/{}/{}", self.base, kind.path(), id),
            None => format!("{}/{}", self.base, kind.path()),
        }
    }
}

impl Backend for HttpBackend {
    fn info(&self) -> TargetInfo {
        self.info.clone()
    }

    fn about(&self) -> Result<super::About, TargetError> {
        let Some(cp) = &self.cp_id else {
            // Kong's Admin API says its own version at the root.
            let (_, v) = self
                .transport
                .send(Method::GET, &format!("{}/", self.address), None)?;
            let mut facts = Vec::new();
            for key in ["edition", "hostname"] {
                if let Some(x) = v.get(key).and_then(Value::as_str) {
                    facts.push((key.to_string(), x.to_string()));
                }
            }
            if let Some(mode) = v.pointer("/configuration/role").and_then(Value::as_str) {
                facts.push(("role".into(), mode.to_string()));
            }
            return Ok(super::About {
                kong_version: v.get("version").and_then(Value::as_str).map(str::to_string),
                version_source: "the Admin API (GET /)".into(),
                facts,
            });
        };
        // A Konnect control plane has no version of its own: its data plane nodes run one each,
        // and a streamed plugin must load on the oldest of them.
        let base = format!("{}/v2/control-planes/{cp}", self.address);
        let (_, info) = self.transport.send(Method::GET, &base, None)?;
        let mut facts = vec![("control plane id".to_string(), cp.clone())];
        if let Some(t) = info.pointer("/config/cluster_type").and_then(Value::as_str) {
            facts.push(("cluster type".into(), t.to_string()));
        }
        let (_, nodes) = self
            .transport
            .send(Method::GET, &format!("{base}/nodes"), None)?;
        let items = nodes
            .get("items")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let versions: Vec<&str> = items
            .iter()
            .filter_map(|n| n.get("version").and_then(Value::as_str))
            .collect();
        facts.push(("data plane nodes".into(), items.len().to_string()));
        let mut distinct: Vec<&str> = versions.clone();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.len() > 1 {
            facts.push(("node versions".into(), distinct.join(", ")));
        }
        Ok(super::About {
            kong_version: super::lowest_version(versions).map(str::to_string),
            version_source: if items.is_empty() {
                "no data plane node is connected".into()
            } else {
                "the oldest connected data plane node".into()
            },
            facts,
        })
    }

    fn for_each_page(
        &self,
        kind: Kind,
        tags: Option<&str>,
        on_page: &mut dyn FnMut(Vec<Value>) -> Result<(), TargetError>,
    ) -> Result<(), TargetError> {
        let mut offset: Option<String> = None;
        let mut seen = std::collections::HashSet::new();
        let mut pages = 0usize;
        loop {
            let mut url = Url::parse(&self.url(kind, None))
                .map_err(|e| TargetError::Config(format!("invalid URL: {e}")))?;
            {
                let mut q = url.query_pairs_mut();
                q.append_pair("size", "1000");
                if let Some(t) = tags {
                    q.append_pair("tags", t);
                }
                if let Some(o) = &offset {
                    q.append_pair("offset", o);
                }
            }
            pages += 1;
            let fail = |status: u16, message: String| TargetError::Api {
                method: "GET".into(),
                url: url.to_string(),
                status,
                message,
            };
            if pages > MAX_PAGES {
                return Err(fail(
                    200,
                    format!("the list did not end after {MAX_PAGES} pages (an `offset` that keeps changing); refusing to read on"),
                ));
            }
            let (status, mut v) = self.transport.send(Method::GET, url.as_str(), None)?;
            // A list answer without an array `data` (a proxy's maintenance page, an error in a
            // 200) is not an empty list.
            let empty = match v.get_mut("data").map(Value::take) {
                Some(Value::Array(data)) => {
                    let empty = data.is_empty();
                    on_page(data)?;
                    empty
                }
                _ => {
                    let preview = super::http::clean_text(&v.to_string(), 200);
                    return Err(fail(
                        status,
                        format!("the answer is not a list (no array `data`): {preview}"),
                    ));
                }
            };
            match v.get("offset").and_then(Value::as_str) {
                // Without a tag filter a page is only empty at the end of the list.
                Some(o) if !o.is_empty() && empty && tags.is_none() => {
                    return Err(fail(
                        status,
                        "an empty page that points to a next one (`offset`): the list does not end"
                            .into(),
                    ));
                }
                Some(o) if !o.is_empty() => {
                    if !seen.insert(o.to_string()) {
                        return Err(fail(
                            status,
                            format!(
                                "the list's pages loop (offset `{}` came back)",
                                super::http::clean_text(o, 100)
                            ),
                        ));
                    }
                    offset = Some(o.to_string())
                }
                _ => return Ok(()),
            }
        }
    }

    fn put(&self, kind: Kind, id: &str, body: &Value) -> Result<Value, TargetError> {
        self.transport
            .send(Method::PUT, &self.url(kind, Some(id)), Some(body))
            .map(|(_, v)| v)
    }

    fn delete(&self, kind: Kind, id: &str) -> Result<(), TargetError> {
        match self
            .transport
            .send(Method::DELETE, &self.url(kind, Some(id)), None)
        {
            Ok(_) => Ok(()),
            Err(e) if e.status() == Some(404) => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn node_info(&self) -> Result<Option<Value>, TargetError> {
        if self.info.kind != TargetKind::Kong {
            return Ok(None);
        }
        let (_, v) = self
            .transport
            .send(Method::GET, &format!("{}/", self.address), None)?;
        Ok(Some(v))
    }

    fn propagation(&self) -> Result<Option<Propagation>, TargetError> {
        let Some(cp) = &self.cp_id else {
            // Kong's Admin API of a hybrid-mode control plane lists its data planes; a
            // traditional-mode node has no such endpoint.
            let url = format!("{}/clustering/data-planes", self.address);
            return match self.transport.send(Method::GET, &url, None) {
                Ok((_, v)) => Ok(Some(parse_kong_data_planes(&v))),
                Err(TargetError::Api {
                    status: 404 | 405, ..
                }) => Ok(None),
                Err(e) => Err(e),
            };
        };
        let base = format!("{}/v2/control-planes/{cp}", self.address);
        let (status, hash) =
            self.transport
                .send(Method::GET, &format!("{base}/expected-config-hash"), None)?;
        let (_, nodes) = self
            .transport
            .send(Method::GET, &format!("{base}/nodes"), None)?;
        parse_propagation(&hash, &nodes)
            .map(Some)
            .map_err(|message| TargetError::Api {
                method: "GET".into(),
                url: format!("{base}/expected-config-hash, {base}/nodes"),
                status,
                message,
            })
    }

    fn stats(&self) -> Stats {
        self.transport.stats()
    }

    fn supports_plugin_schemas(&self) -> bool {
        self.cp_id.is_some()
    }

    fn list_plugin_schemas(&self) -> Result<Vec<Value>, TargetError> {
        if self.cp_id.is_none() {
            return Ok(Vec::new());
        }
        // Konnect's legacy cursor paging: `page[size]`, `page[after]`, `page.next`.
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut url = Url::parse(&format!("{}/plugin-schemas", self.base))
                .map_err(|e| TargetError::Config(format!("invalid URL: {e}")))?;
            {
                let mut q = url.query_pairs_mut();
                q.append_pair("page[size]", "1000");
                if let Some(a) = &after {
                    q.append_pair("page[after]", a);
                }
            }
            let (_, mut v) = self.transport.send(Method::GET, url.as_str(), None)?;
            if let Some(Value::Array(items)) = v.get_mut("items").map(Value::take) {
                out.extend(items);
            }
            let next = v
                .get("page")
                .and_then(|p| p.get("next"))
                .and_then(Value::as_str)
                .map(|n| cursor_of(n).to_string());
            match next {
                Some(n) if !n.is_empty() && Some(&n) != after.as_ref() => after = Some(n),
                _ => return Ok(out),
            }
        }
    }

    fn put_plugin_schema(&self, name: &str, lua_schema: &str) -> Result<(), TargetError> {
        if self.cp_id.is_none() {
            return Err(TargetError::Config(format!(
                "`{name}` is a hybrid-mode plugin (`streamed: false`): only Konnect holds plugin schemas; self-managed Kong loads custom plugins from each node's files"
            )));
        }
        let url = format!("{}/plugin-schemas/{}", self.base, encode_segment(name));
        self.transport
            .send(
                Method::PUT,
                &url,
                Some(&serde_json::json!({ "lua_schema": lua_schema })),
            )
            .map(|_| ())
    }

    fn delete_plugin_schema(&self, name: &str) -> Result<(), TargetError> {
        if self.cp_id.is_none() {
            return self.put_plugin_schema(name, "");
        }
        let url = format!("{}/plugin-schemas/{}", self.base, encode_segment(name));
        match self.transport.send(Method::DELETE, &url, None) {
            Ok(_) => Ok(()),
            Err(e) if e.status() == Some(404) => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn node_plugins(&self) -> Result<Option<Vec<NodePlugins>>, TargetError> {
        // Konnect does not report the files installed on nodes; `plugsync serve` does, under
        // `/_plugsync/dp-plugins`. Anything else answers 404 (or an error): not reported.
        let Some(cp) = &self.cp_id else {
            return Ok(None);
        };
        let mut url = Url::parse(&format!("{}/_plugsync/dp-plugins", self.address))
            .map_err(|e| TargetError::Config(format!("invalid URL: {e}")))?;
        url.query_pairs_mut().append_pair("control_plane_id", cp);
        let Ok((_, v)) = self.transport.send(Method::GET, url.as_str(), None) else {
            return Ok(None);
        };
        let Some(items) = v.as_array() else {
            return Ok(None);
        };
        let node = self
            .propagation()?
            .and_then(|p| p.nodes.first().map(|(id, _)| id.clone()))
            .unwrap_or_else(|| "node".to_string());
        Ok(Some(vec![NodePlugins {
            node,
            plugins: parse_node_plugins(items),
        }]))
    }

    fn unreachable(&self) -> Option<String> {
        self.transport.unreachable()
    }
}

/// The cursor of a `page.next` value: the `page[after]` of a URI, or the value itself.
fn cursor_of(next: &str) -> &str {
    match next
        .find("page%5Bafter%5D=")
        .or_else(|| next.find("page[after]="))
    {
        Some(i) => {
            let rest = &next[i..];
            let start = rest.find('=').map_or(0, |j| j + 1);
            let rest = &rest[start..];
            rest.split('&').next().unwrap_or(rest)
        }
        None => next,
    }
}

/// A path segment, percent-encoded.
fn encode_segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `[(name, schema sha256, handler sha256)]` from `/_plugsync/dp-plugins` items.
pub fn parse_node_plugins(items: &[Value]) -> Vec<(String, String, Option<String>)> {
    items
        .iter()
        .filter_map(|p| {
            Some((
                p.get("name")?.as_str()?.to_string(),
                p.get("schema_sha256")?.as_str()?.to_string(),
                p.get("handler_sha256")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            ))
        })
        .collect()
}

/// The nodes of Kong's `GET /clustering/data-planes` (`{"data": [{"id", "config_hash",
/// "sync_status"}]}`); Kong has no expected hash, and a `sync_status` other than `normal` is
/// the node's problem.
pub fn parse_kong_data_planes(v: &Value) -> Propagation {
    let mut p = Propagation::default();
    for n in v
        .get("data")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let id = n
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string();
        let hash = n
            .get("config_hash")
            .and_then(Value::as_str)
            .filter(|h| !h.is_empty())
            .map(str::to_string);
        if let Some(status) = n
            .get("sync_status")
            .and_then(Value::as_str)
            .filter(|s| *s != "normal")
        {
            let detail = n
                .get("sync_error")
                .and_then(Value::as_str)
                .map(|e| format!(": {e}"))
                .unwrap_or_default();
            p.issues
                .push((id.clone(), format!("sync_status {status}{detail}")));
        }
        p.nodes.push((id, hash));
    }
    p
}

/// The expected hash and nodes from Konnect's `expected-config-hash` and `nodes` bodies. An
/// answer of another shape is an error, never "no node is behind".
pub fn parse_propagation(hash: &Value, nodes: &Value) -> Result<Propagation, String> {
    let Some(expected_hash) = hash.get("expected_hash").and_then(Value::as_str) else {
        return Err(format!(
            "the expected config hash answer has no string `expected_hash`: {}",
            super::http::clean_text(&hash.to_string(), 200)
        ));
    };
    let Some(items) = nodes.get("items").and_then(Value::as_array) else {
        return Err(format!(
            "the nodes answer has no array `items`: {}",
            super::http::clean_text(&nodes.to_string(), 200)
        ));
    };
    let issues = items
        .iter()
        .flat_map(|n| {
            let id = n
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_string();
            n.pointer("/compatibility_status/issues")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|i| i.get("description").and_then(Value::as_str))
                .map(move |d| (id.clone(), d.to_string()))
                .collect::<Vec<_>>()
        })
        .collect();
    Ok(Propagation {
        issues,
        expected_hash: expected_hash.to_string(),
        nodes: Some(items)
            .map(|items| {
                items
                    .iter()
                    .map(|n| {
                        (
                            n.get("id")
                                .and_then(Value::as_str)
                                .unwrap_or("?")
                                .to_string(),
                            n.get("config_hash")
                                .and_then(Value::as_str)
                                .map(str::to_string),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default(),
    })
}

/// The address as it may be shown (status lines, plans, errors): without a URL password, and
/// with the token masked should it be part of the address (`model::mask`).
fn display_address(address: &str, settings: &HttpSettings) -> String {
    let shown = mask::mask_url_password(address);
    let secrets: Vec<String> = settings
        .auth
        .iter()
        .flat_map(|(_, value)| mask::credential_secrets(value))
        .collect();
    mask::mask_secrets(&shown, &secrets)
}
