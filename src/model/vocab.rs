//! The plan's vocabulary: the entity kinds a control plane stores, what a step does to which
//! kind of entity, and the control plane (or git revision) a plan is for.
//!
//! Plan files are read back from disk (`plugsync apply FILE`), so these are closed enums: a
//! value outside them is refused when the file is read, and a new variant is a compile error
//! at every `match` that must handle it. The serde spellings are the plan format's
//! (CONTRACT §4.4); `Display` writes the same spelling.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Entity kinds stored per control plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    /// A streamed custom plugin (`name`, `handler`, `schema`).
    CustomPlugin,
    /// A plugin instance.
    Plugin,
    /// A gateway service.
    Service,
    /// A route.
    Route,
    /// A consumer.
    Consumer,
    /// A consumer group.
    ConsumerGroup,
    /// A hybrid-mode plugin's schema (Konnect's `plugin-schemas`: `{name, lua_schema}`,
    /// addressed by name). Not part of the data plane payload, and not in
    /// [`EntityKind::ALL`]: its paths and response shapes are Konnect's legacy ones, routed
    /// on their own.
    PluginSchema,
}

impl EntityKind {
    /// Every kind.
    pub const ALL: [EntityKind; 6] = [
        EntityKind::CustomPlugin,
        EntityKind::Plugin,
        EntityKind::Service,
        EntityKind::Route,
        EntityKind::Consumer,
        EntityKind::ConsumerGroup,
    ];

    /// The collection's path segment: `custom-plugins`, `plugins`, `services`, `routes`,
    /// `consumers`, `consumer_groups`, `plugin-schemas`.
    pub fn path(self) -> &'static str {
        match self {
            EntityKind::CustomPlugin => "custom-plugins",
            EntityKind::Plugin => "plugins",
            EntityKind::Service => "services",
            EntityKind::Route => "routes",
            EntityKind::Consumer => "consumers",
            EntityKind::ConsumerGroup => "consumer_groups",
            EntityKind::PluginSchema => "plugin-schemas",
        }
    }

    /// The kind (of [`EntityKind::ALL`]) whose path segment is `s`.
    pub fn from_path(s: &str) -> Option<EntityKind> {
        EntityKind::ALL.into_iter().find(|k| k.path() == s)
    }

    /// The plugin scope field this kind binds when it is the parent of a nested path.
    pub fn scope_field(self) -> Option<&'static str> {
        match self {
            EntityKind::Service => Some("service"),
            EntityKind::Route => Some("route"),
            EntityKind::Consumer => Some("consumer"),
            EntityKind::ConsumerGroup => Some("consumer_group"),
            EntityKind::CustomPlugin | EntityKind::Plugin | EntityKind::PluginSchema => None,
        }
    }
}

/// What a plan entry or step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// A new entity (a PUT of a client-made id).
    Create,
    /// A change to an entity in place (a PUT).
    Update,
    /// An instance moving to a new version of its plugin (a PUT of the instance).
    Migrate,
    /// A removed entity (a DELETE).
    Delete,
    /// A data-plane rollout (hybrid mode): shown, never performed by plugsync. Only steps of
    /// kind [`StepKind::Rollout`] have it.
    Rollout,
}

impl Action {
    /// The plan's spelling: `create`, `update`, `migrate`, `delete`, `rollout`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Migrate => "migrate",
            Action::Delete => "delete",
            Action::Rollout => "rollout",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a step writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// A streamed custom plugin (`custom-plugins`).
    CustomPlugin,
    /// A plugin instance (`plugins`).
    Plugin,
    /// A hybrid-mode plugin's schema (`plugin-schemas`).
    PluginSchema,
    /// A data-plane rollout: not a control-plane write.
    Rollout,
}

impl StepKind {
    /// The plan's spelling: `custom_plugin`, `plugin`, `plugin_schema`, `rollout`.
    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::CustomPlugin => "custom_plugin",
            StepKind::Plugin => "plugin",
            StepKind::PluginSchema => "plugin_schema",
            StepKind::Rollout => "rollout",
        }
    }

    /// The control-plane entity the step writes (`None` for a rollout).
    pub fn entity(self) -> Option<EntityKind> {
        match self {
            StepKind::CustomPlugin => Some(EntityKind::CustomPlugin),
            StepKind::Plugin => Some(EntityKind::Plugin),
            StepKind::PluginSchema => Some(EntityKind::PluginSchema),
            StepKind::Rollout => None,
        }
    }

    /// Whether a step of this kind may have `action`: rollouts have the `rollout` action and
    /// nothing else does; only instances migrate.
    pub fn allows(self, action: Action) -> bool {
        match (self, action) {
            (StepKind::Rollout, Action::Rollout) => true,
            (StepKind::Rollout, _) | (_, Action::Rollout) => false,
            (StepKind::Plugin, Action::Migrate) => true,
            (StepKind::CustomPlugin | StepKind::PluginSchema, Action::Migrate) => false,
            (
                StepKind::CustomPlugin | StepKind::Plugin | StepKind::PluginSchema,
                Action::Create | Action::Update | Action::Delete,
            ) => true,
        }
    }
}

impl fmt::Display for StepKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a plan was made against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    /// A Konnect control plane.
    Konnect,
    /// A Kong Admin API (a workspace).
    Kong,
    /// The local control plane (`plugsync serve`'s store, or one opened in-process).
    Local,
    /// An offline review against a git revision (`diff --base`): never applied.
    Git,
}

impl TargetKind {
    /// The plan's spelling: `konnect`, `kong`, `local`, `git`.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::Konnect => "konnect",
            TargetKind::Kong => "kong",
            TargetKind::Local => "local",
            TargetKind::Git => "git",
        }
    }
}

impl fmt::Display for TargetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The control plane a plan is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetInfo {
    pub kind: TargetKind,
    /// The API address (for `git`: the base commit).
    pub address: String,
    /// The control plane's name, the Kong workspace, or (for `git`) the base ref.
    pub control_plane: String,
}

/// Where the state came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SourceInfo {
    pub git_commit: Option<String>,
    pub dirty: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spellings are the plan format's: serde, `as_str` and `Display` agree.
    #[test]
    fn spellings_are_the_plan_formats() {
        for a in [
            Action::Create,
            Action::Update,
            Action::Migrate,
            Action::Delete,
            Action::Rollout,
        ] {
            assert_eq!(serde_json::to_value(a).unwrap(), a.as_str());
            assert_eq!(a.to_string(), a.as_str());
        }
        assert_eq!(
            [
                StepKind::CustomPlugin,
                StepKind::Plugin,
                StepKind::PluginSchema,
                StepKind::Rollout
            ]
            .map(|k| serde_json::to_value(k).unwrap()),
            ["custom_plugin", "plugin", "plugin_schema", "rollout"].map(serde_json::Value::from)
        );
        for k in [
            TargetKind::Konnect,
            TargetKind::Kong,
            TargetKind::Local,
            TargetKind::Git,
        ] {
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
        assert_eq!(
            serde_json::to_value(EntityKind::ConsumerGroup).unwrap(),
            "consumer_group"
        );
    }

    #[test]
    fn unknown_values_are_refused() {
        let e = serde_json::from_str::<Action>("\"frobnicate\"").unwrap_err();
        assert!(
            e.to_string().contains("unknown variant `frobnicate`"),
            "{e}"
        );
        assert!(serde_json::from_str::<StepKind>("\"service\"").is_err());
        assert!(serde_json::from_str::<TargetKind>("\"KONG\"").is_err());
    }

    #[test]
    fn paths_round_trip() {
        for k in EntityKind::ALL {
            assert_eq!(EntityKind::from_path(k.path()), Some(k));
        }
        assert_eq!(EntityKind::from_path("plugin-schemas"), None);
    }

    #[test]
    fn only_rollouts_roll_out_and_only_instances_migrate() {
        assert!(StepKind::Rollout.allows(Action::Rollout));
        assert!(!StepKind::Rollout.allows(Action::Delete));
        assert!(!StepKind::Plugin.allows(Action::Rollout));
        assert!(StepKind::Plugin.allows(Action::Migrate));
        assert!(!StepKind::CustomPlugin.allows(Action::Migrate));
        assert!(StepKind::PluginSchema.allows(Action::Delete));
    }
}
