//! The order of a plan's writes, in one place: the stage of every step and which earlier steps
//! a step waits for. The planner puts steps in these stages; the executor runs the stages in
//! order and blocks a step whose dependencies did not succeed.
//!
//! | stage | writes |
//! |---|---|
//! | 1 | custom plugin and plugin schema creates and updates; the `expand` rollout |
//! | 2 | instance creates, updates and migrations; the `schema` rollout |
//! | 3 | instance deletes |
//! | 4 | custom plugin and plugin schema deletes; the `contract` rollout |
//!
//! An instance write waits for its plugin's create or update; a plugin's delete waits for every
//! instance that leaves it (migrations away, deletes).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::rollout::Phase;
use super::Step;
use crate::model::{Action, StepKind};

/// A stage of a plan; the plan file writes its number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub enum Stage {
    /// 1: custom plugins (and hybrid-mode schemas) are created and updated.
    PluginWrites = 1,
    /// 2: instances are created, updated and migrated.
    InstanceWrites = 2,
    /// 3: instances are deleted.
    InstanceDeletes = 3,
    /// 4: custom plugins (and hybrid-mode schemas) are deleted.
    PluginDeletes = 4,
}

impl Stage {
    /// Every stage, in execution order.
    pub const ALL: [Stage; 4] = [
        Stage::PluginWrites,
        Stage::InstanceWrites,
        Stage::InstanceDeletes,
        Stage::PluginDeletes,
    ];

    /// The stage's number (1 to 4).
    pub fn number(self) -> u8 {
        self as u8
    }

    /// The stage's place in [`Stage::ALL`] (0 to 3).
    pub fn index(self) -> usize {
        usize::from(self.number() - 1)
    }

    /// The stage of a control-plane write of `kind` doing `action`; `None` for a rollout,
    /// whose stage follows its phase ([`Stage::of_rollout`]), and for an action a kind never
    /// has (see [`StepKind::allows`]).
    pub fn of_write(kind: StepKind, action: Action) -> Option<Stage> {
        match (kind, action) {
            (StepKind::CustomPlugin | StepKind::PluginSchema, Action::Create | Action::Update) => {
                Some(Stage::PluginWrites)
            }
            (StepKind::CustomPlugin | StepKind::PluginSchema, Action::Delete) => {
                Some(Stage::PluginDeletes)
            }
            (StepKind::Plugin, Action::Create | Action::Update | Action::Migrate) => {
                Some(Stage::InstanceWrites)
            }
            (StepKind::Plugin, Action::Delete) => Some(Stage::InstanceDeletes),
            (StepKind::CustomPlugin | StepKind::PluginSchema, Action::Migrate)
            | (StepKind::Rollout, _)
            | (_, Action::Rollout) => None,
        }
    }

    /// The stage of a data-plane rollout: the bundle that adds plugins goes out before the
    /// control plane knows them, the one that changes schemas in place before instances use
    /// them, the one that removes plugins after the control plane dropped them.
    pub fn of_rollout(phase: Phase) -> Stage {
        match phase {
            Phase::Expand => Stage::PluginWrites,
            Phase::Schema => Stage::InstanceWrites,
            Phase::Contract => Stage::PluginDeletes,
        }
    }

    /// The stage a step belongs in, from its kind, action and (for rollouts) phase.
    pub fn of(step: &Step) -> Option<Stage> {
        match (step.kind, &step.rollout) {
            (StepKind::Rollout, Some(r)) if step.action == Action::Rollout => {
                Some(Stage::of_rollout(r.phase))
            }
            (StepKind::Rollout, _) => None,
            (StepKind::CustomPlugin | StepKind::Plugin | StepKind::PluginSchema, _) => {
                Stage::of_write(step.kind, step.action)
            }
        }
    }
}

impl From<Stage> for u8 {
    fn from(s: Stage) -> u8 {
        s.number()
    }
}

impl TryFrom<u8> for Stage {
    type Error = String;

    fn try_from(n: u8) -> Result<Stage, String> {
        Stage::ALL
            .into_iter()
            .find(|s| s.number() == n)
            .ok_or_else(|| format!("unknown stage {n}, expected 1 to 4"))
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.number())
    }
}

/// Whether `step` waits for `earlier` (a step of an earlier stage): an instance write for its
/// plugin's create or update, a plugin's delete for the instances that leave it.
pub fn depends_on(step: &Step, earlier: &Step) -> bool {
    if earlier.stage >= step.stage {
        return false;
    }
    match (step.kind, step.stage) {
        (StepKind::Plugin, Stage::InstanceWrites) => {
            matches!(
                earlier.kind,
                StepKind::CustomPlugin | StepKind::PluginSchema
            ) && earlier.name == step.name
        }
        (StepKind::CustomPlugin | StepKind::PluginSchema, Stage::PluginDeletes) => {
            earlier.kind == StepKind::Plugin
                && match earlier.stage {
                    Stage::InstanceWrites => earlier.from.as_deref() == Some(step.name.as_str()),
                    Stage::InstanceDeletes => earlier.name == step.name,
                    Stage::PluginWrites | Stage::PluginDeletes => false,
                }
        }
        (StepKind::Plugin, Stage::PluginWrites | Stage::InstanceDeletes | Stage::PluginDeletes)
        | (
            StepKind::CustomPlugin | StepKind::PluginSchema,
            Stage::PluginWrites | Stage::InstanceWrites | Stage::InstanceDeletes,
        )
        | (StepKind::Rollout, _) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_write_the_planner_makes_has_a_stage() {
        use Action::{Create, Delete, Migrate, Update};
        use StepKind::{CustomPlugin, Plugin, PluginSchema};
        assert_eq!(
            Stage::of_write(CustomPlugin, Create),
            Some(Stage::PluginWrites)
        );
        assert_eq!(
            Stage::of_write(PluginSchema, Update),
            Some(Stage::PluginWrites)
        );
        assert_eq!(
            Stage::of_write(Plugin, Migrate),
            Some(Stage::InstanceWrites)
        );
        assert_eq!(
            Stage::of_write(Plugin, Delete),
            Some(Stage::InstanceDeletes)
        );
        assert_eq!(
            Stage::of_write(CustomPlugin, Delete),
            Some(Stage::PluginDeletes)
        );
        assert_eq!(Stage::of_write(CustomPlugin, Migrate), None);
        assert_eq!(Stage::of_write(StepKind::Rollout, Action::Rollout), None);
        // A write has a stage exactly when its kind allows its action.
        for kind in [CustomPlugin, Plugin, PluginSchema] {
            for action in [Create, Update, Migrate, Delete, Action::Rollout] {
                assert_eq!(
                    Stage::of_write(kind, action).is_some(),
                    kind.allows(action),
                    "{kind} {action}"
                );
            }
        }
    }

    #[test]
    fn stages_are_numbers_in_the_plan_file() {
        assert_eq!(serde_json::to_string(&Stage::InstanceDeletes).unwrap(), "3");
        assert_eq!(
            serde_json::from_str::<Stage>("4").unwrap(),
            Stage::PluginDeletes
        );
        let e = serde_json::from_str::<Stage>("7").unwrap_err();
        assert!(e.to_string().contains("unknown stage 7"), "{e}");
        assert!(Stage::ALL.windows(2).all(|w| w[0] < w[1]));
    }
}
