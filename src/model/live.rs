//! The live control plane as fetched: custom plugins, plugin instances, and the scope entities
//! (services, routes, consumers, consumer groups) that instances are bound to.

use serde_json::Value;

use super::Scope;

/// A custom plugin on the control plane.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveCustomPlugin {
    pub id: String,
    pub name: String,
    pub handler: String,
    pub schema: String,
    /// Sorted.
    pub tags: Vec<String>,
    /// `false` for a hybrid-mode plugin schema (`plugin-schemas`): no handler, no tags, and
    /// its id is its name.
    pub streamed: bool,
}

/// A plugin instance on the control plane. Scope fields hold ids.
#[derive(Debug, Clone, PartialEq)]
pub struct LivePlugin {
    pub id: String,
    pub name: String,
    pub instance_name: Option<String>,
    pub config: LiveConfig,
    pub enabled: bool,
    pub protocols: Vec<String>,
    pub scope: Scope,
    pub condition: Option<String>,
    pub ordering: Option<Value>,
    /// Sorted.
    pub tags: Vec<String>,
}

/// A live instance's config as compact JSON text. A large control plane's configs held as
/// value trees take several times the memory, and only changed instances need one:
/// [`LiveConfig::value`] parses it when asked.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LiveConfig(Box<str>);

impl LiveConfig {
    /// The config `v`.
    pub fn new(v: &Value) -> LiveConfig {
        // Writing a `Value` cannot fail (its keys are strings).
        LiveConfig(
            serde_json::to_string(v)
                .unwrap_or_default()
                .into_boxed_str(),
        )
    }

    /// The config as a value (`null` when there is none).
    pub fn value(&self) -> Value {
        serde_json::from_str(&self.0).unwrap_or(Value::Null)
    }
}

impl From<Value> for LiveConfig {
    fn from(v: Value) -> LiveConfig {
        LiveConfig::new(&v)
    }
}

/// A service, route, consumer or consumer group: what an instance can be bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeEntity {
    pub id: String,
    /// `name` (`username` for consumers), when it has one.
    pub name: Option<String>,
}

/// Which kind of scope entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ScopeKind {
    Service,
    Route,
    Consumer,
    ConsumerGroup,
}

impl ScopeKind {
    /// All kinds, in Kong's order.
    pub const ALL: [ScopeKind; 4] = [
        ScopeKind::Service,
        ScopeKind::Route,
        ScopeKind::Consumer,
        ScopeKind::ConsumerGroup,
    ];

    /// The instance key (`service`, `route`, `consumer`, `consumer_group`).
    pub fn key(self) -> &'static str {
        match self {
            ScopeKind::Service => "service",
            ScopeKind::Route => "route",
            ScopeKind::Consumer => "consumer",
            ScopeKind::ConsumerGroup => "consumer_group",
        }
    }
}

impl Scope {
    /// The value of one scope field.
    pub fn get(&self, kind: ScopeKind) -> Option<&String> {
        match kind {
            ScopeKind::Service => self.service.as_ref(),
            ScopeKind::Route => self.route.as_ref(),
            ScopeKind::Consumer => self.consumer.as_ref(),
            ScopeKind::ConsumerGroup => self.consumer_group.as_ref(),
        }
    }

    /// Sets one scope field.
    pub fn set(&mut self, kind: ScopeKind, value: Option<String>) {
        match kind {
            ScopeKind::Service => self.service = value,
            ScopeKind::Route => self.route = value,
            ScopeKind::Consumer => self.consumer = value,
            ScopeKind::ConsumerGroup => self.consumer_group = value,
        }
    }
}

/// Everything fetched from the control plane, in scope.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveState {
    pub custom_plugins: Vec<LiveCustomPlugin>,
    /// Instances of custom plugins only.
    pub plugins: Vec<LivePlugin>,
    pub services: Vec<ScopeEntity>,
    pub routes: Vec<ScopeEntity>,
    pub consumers: Vec<ScopeEntity>,
    pub consumer_groups: Vec<ScopeEntity>,
}

impl LiveState {
    /// A live state from one JSON document in the API's entity shapes: `{"custom_plugins":
    /// [...], "plugins": [...], "services": [...], "routes": [...], "consumers": [...],
    /// "consumer_groups": [...]}` (each key optional). For fixtures and tests; the error names
    /// the first entity that does not parse.
    pub fn from_json(v: &Value) -> Result<LiveState, String> {
        let list = |k: &str| v.get(k).and_then(Value::as_array).map(Vec::as_slice);
        let mut live = LiveState::default();
        for (i, c) in list("custom_plugins")
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            let c = parse_custom_plugin(c).ok_or(format!("custom_plugins[{i}] does not parse"))?;
            live.custom_plugins.push(c);
        }
        for (i, p) in list("plugins").unwrap_or_default().iter().enumerate() {
            let p = parse_plugin(p).ok_or(format!("plugins[{i}] does not parse"))?;
            live.plugins.push(p);
        }
        for kind in [
            ScopeKind::Service,
            ScopeKind::Route,
            ScopeKind::Consumer,
            ScopeKind::ConsumerGroup,
        ] {
            let key = match kind {
                ScopeKind::Service => "services",
                ScopeKind::Route => "routes",
                ScopeKind::Consumer => "consumers",
                ScopeKind::ConsumerGroup => "consumer_groups",
            };
            for (i, e) in list(key).unwrap_or_default().iter().enumerate() {
                let e = parse_scope_entity(kind, e).ok_or(format!("{key}[{i}] does not parse"))?;
                match kind {
                    ScopeKind::Service => live.services.push(e),
                    ScopeKind::Route => live.routes.push(e),
                    ScopeKind::Consumer => live.consumers.push(e),
                    ScopeKind::ConsumerGroup => live.consumer_groups.push(e),
                }
            }
        }
        Ok(live)
    }

    /// The scope entities of one kind.
    pub fn scope_entities(&self, kind: ScopeKind) -> &[ScopeEntity] {
        match kind {
            ScopeKind::Service => &self.services,
            ScopeKind::Route => &self.routes,
            ScopeKind::Consumer => &self.consumers,
            ScopeKind::ConsumerGroup => &self.consumer_groups,
        }
    }

    /// Resolves a name or id to the entity's id.
    pub fn resolve(&self, kind: ScopeKind, name_or_id: &str) -> Option<&ScopeEntity> {
        let all = self.scope_entities(kind);
        all.iter()
            .find(|e| e.id == name_or_id)
            .or_else(|| all.iter().find(|e| e.name.as_deref() == Some(name_or_id)))
    }

    /// A readable name for an entity id: its name when it has one, else the id.
    pub fn display(&self, kind: ScopeKind, id: &str) -> String {
        self.scope_entities(kind)
            .iter()
            .find(|e| e.id == id)
            .and_then(|e| e.name.clone())
            .unwrap_or_else(|| id.to_string())
    }

    /// The live custom plugin named `name`.
    pub fn custom_plugin(&self, name: &str) -> Option<&LiveCustomPlugin> {
        self.custom_plugins.iter().find(|c| c.name == name)
    }
}

impl LiveState {
    /// The part of the state in scope of `select_tags` (CONTRACT §3.4): custom plugins and
    /// instances carrying all of them; with no tags, every custom plugin and every instance of
    /// a custom plugin. Also returns, per custom plugin in scope, the instances outside the
    /// scope that use it (they keep it from being deleted or changed in a breaking way).
    ///
    /// Hybrid-mode plugin schemas carry no tags: `hybrid` names those in scope (`None`: all).
    pub fn into_scope(
        self,
        select_tags: &[String],
        hybrid: Option<&std::collections::BTreeSet<String>>,
    ) -> (LiveState, std::collections::BTreeMap<String, Unmanaged>) {
        let has_all = |tags: &[String]| select_tags.iter().all(|t| tags.contains(t));
        let custom: std::collections::BTreeSet<String> =
            self.custom_plugins.iter().map(|c| c.name.clone()).collect();
        let mut out = LiveState {
            custom_plugins: self
                .custom_plugins
                .into_iter()
                .filter(|c| {
                    if c.streamed {
                        has_all(&c.tags)
                    } else {
                        hybrid.is_none_or(|h| h.contains(&c.name))
                    }
                })
                .collect(),
            plugins: Vec::new(),
            services: self.services,
            routes: self.routes,
            consumers: self.consumers,
            consumer_groups: self.consumer_groups,
        };
        let in_scope: std::collections::BTreeSet<String> =
            out.custom_plugins.iter().map(|c| c.name.clone()).collect();
        let mut unmanaged = std::collections::BTreeMap::new();
        for p in self.plugins {
            if !custom.contains(&p.name) {
                continue;
            }
            if has_all(&p.tags) {
                out.plugins.push(p);
            } else if in_scope.contains(&p.name) {
                unmanaged
                    .entry(p.name.clone())
                    .or_insert_with(Unmanaged::default)
                    .add(&p);
            }
        }
        (out, unmanaged)
    }
}

/// Instances outside the select tags that use a custom plugin in scope: plugsync never writes
/// them, so they keep the plugin from being deleted or changed in a way they cannot follow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unmanaged {
    /// How many there are.
    pub count: usize,
    /// Who owns them: the tags they carry (`untagged` for instances with none).
    pub owners: std::collections::BTreeSet<String>,
}

impl Unmanaged {
    /// Counts one more instance.
    pub fn add(&mut self, p: &LivePlugin) {
        self.count += 1;
        if p.tags.is_empty() {
            self.owners.insert("untagged".to_string());
        } else {
            self.owners.extend(p.tags.iter().cloned());
        }
    }

    /// `N instance(s) outside the select tags (tagged a, b)`, for messages.
    pub fn describe(&self) -> String {
        format!(
            "{} instance(s) outside the select tags (tagged {})",
            self.count,
            self.owners.iter().cloned().collect::<Vec<_>>().join(", ")
        )
    }
}

fn opt_str(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

/// The strings of a JSON array, sorted and without repeats (empty for anything else).
pub fn sorted_strings(v: Option<&Value>) -> Vec<String> {
    let mut out: Vec<String> = v
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out.dedup();
    out
}

/// Parses a custom plugin object of the API.
pub fn parse_custom_plugin(v: &Value) -> Option<LiveCustomPlugin> {
    Some(LiveCustomPlugin {
        id: opt_str(v, "id")?,
        name: opt_str(v, "name")?,
        handler: opt_str(v, "handler").unwrap_or_default(),
        schema: opt_str(v, "schema").unwrap_or_default(),
        tags: sorted_strings(v.get("tags")),
        streamed: true,
    })
}

/// Parses a plugin schema object of Konnect's `plugin-schemas` (`{name, lua_schema, …}`): a
/// hybrid-mode plugin, identified by its name.
pub fn parse_plugin_schema(v: &Value) -> Option<LiveCustomPlugin> {
    let name = opt_str(v, "name")?;
    Some(LiveCustomPlugin {
        id: name.clone(),
        name,
        handler: String::new(),
        schema: opt_str(v, "lua_schema").unwrap_or_default(),
        tags: Vec::new(),
        streamed: false,
    })
}

/// Parses a plugin object of the API, taking its config instead of copying it; one that
/// cannot be read is handed back whole.
pub fn parse_plugin_owned(mut v: Value) -> Result<LivePlugin, Value> {
    if opt_str(&v, "id").is_none() || opt_str(&v, "name").is_none() {
        return Err(v);
    }
    let config = v.get_mut("config").map(Value::take).unwrap_or(Value::Null);
    let ordering = v
        .get_mut("ordering")
        .map(Value::take)
        .filter(|o| !o.is_null());
    let Some(mut p) = parse_plugin(&v) else {
        return Err(v);
    };
    p.config = LiveConfig::new(&config);
    p.ordering = ordering;
    Ok(p)
}

/// Parses a plugin object of the API.
pub fn parse_plugin(v: &Value) -> Option<LivePlugin> {
    let mut scope = Scope::default();
    for kind in ScopeKind::ALL {
        let id = v
            .get(kind.key())
            .and_then(|f| f.get("id"))
            .and_then(Value::as_str)
            .map(str::to_string);
        scope.set(kind, id);
    }
    Some(LivePlugin {
        id: opt_str(v, "id")?,
        name: opt_str(v, "name")?,
        instance_name: opt_str(v, "instance_name"),
        config: LiveConfig::new(v.get("config").unwrap_or(&Value::Null)),
        enabled: v.get("enabled").and_then(Value::as_bool).unwrap_or(true),
        protocols: sorted_strings(v.get("protocols")),
        scope,
        condition: opt_str(v, "condition"),
        ordering: v.get("ordering").filter(|o| !o.is_null()).cloned(),
        tags: sorted_strings(v.get("tags")),
    })
}

/// Parses a service, route, consumer or consumer group object.
pub fn parse_scope_entity(kind: ScopeKind, v: &Value) -> Option<ScopeEntity> {
    let name_key = if kind == ScopeKind::Consumer {
        "username"
    } else {
        "name"
    };
    Some(ScopeEntity {
        id: opt_str(v, "id")?,
        name: opt_str(v, name_key),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A live config kept as text reads back as the value it was made from, whatever it holds,
    /// so hashes and field changes are those of the value fetched.
    #[test]
    fn a_live_config_reads_back_as_it_was() {
        let values = [
            Value::Null,
            json!({}),
            json!([]),
            json!({
                "u": u64::MAX, "i": i64::MIN, "f": 0.1, "g": 1e300, "h": 60.0, "z": -0.0,
                "s": "é\u{2028}\"\\\u{1}", "n": null, "b": false,
                "nested": {"list": [1, [2, {"x": "y"}], {}], "empty": {}},
            }),
        ];
        for v in values {
            let c = LiveConfig::new(&v);
            assert_eq!(c.value(), v, "{c:?}");
            assert_eq!(
                crate::model::hash::canonical_json(&c.value()),
                crate::model::hash::canonical_json(&v)
            );
        }
    }

    #[test]
    fn parses_api_objects() {
        let p = parse_plugin(&json!({
            "id": "p1", "name": "x", "instance_name": null, "config": {"a": 1},
            "enabled": false, "protocols": ["https", "http"], "service": {"id": "s1"},
            "route": null, "consumer": null, "consumer_group": null, "condition": null,
            "ordering": null, "tags": ["b", "a"]
        }))
        .unwrap();
        assert_eq!(p.scope.service.as_deref(), Some("s1"));
        assert_eq!(p.protocols, vec!["http", "https"]);
        assert_eq!(p.tags, vec!["a", "b"]);
        assert!(!p.enabled);
        assert!(p.ordering.is_none());
        let mut live = LiveState::default();
        live.consumers.push(
            parse_scope_entity(
                ScopeKind::Consumer,
                &json!({"id": "c1", "username": "alice"}),
            )
            .unwrap(),
        );
        assert_eq!(live.resolve(ScopeKind::Consumer, "alice").unwrap().id, "c1");
        assert_eq!(live.resolve(ScopeKind::Consumer, "c1").unwrap().id, "c1");
        assert_eq!(live.display(ScopeKind::Consumer, "c1"), "alice");
        assert!(live.resolve(ScopeKind::Service, "nope").is_none());
    }
}
