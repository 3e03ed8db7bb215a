//! Reading a plan file back (`plugsync apply FILE`). A plan file may have been edited by hand,
//! so it is checked before anything is written: every action, kind and stage is one plugsync
//! knows ([`crate::model`]'s closed enums), every step's stage is the one [`super::order`]
//! gives its kind and action, and an error names the entry and field at fault.

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use super::order::Stage;
use super::{Plan, FORMAT_VERSION};
use crate::model::{Action, StepKind, TargetKind};

/// Why a plan file cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanFileError {
    /// Not JSON, or not the shape of a plan.
    #[error("{0}")]
    Invalid(String),
    /// Another format version.
    #[error("the plan has format_version {0}; this plugsync reads {FORMAT_VERSION}")]
    Version(u32),
}

/// Parses a plan file's text and checks its steps.
pub fn parse(text: &str) -> Result<Plan, PlanFileError> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| PlanFileError::Invalid(e.to_string()))?;
    // The version first: a plan of another version may use words this one does not know.
    if let Some(v) = value.get("format_version").and_then(Value::as_u64) {
        if v != u64::from(FORMAT_VERSION) {
            return Err(PlanFileError::Version(u32::try_from(v).unwrap_or(u32::MAX)));
        }
    }
    let plan = Plan::deserialize(&value).map_err(|e| {
        // A word of the vocabulary by its entry and field; anything else as serde says it of
        // the text (with its line and column).
        let why = locate(&value)
            .or_else(|| {
                serde_json::from_str::<Plan>(text)
                    .err()
                    .map(|e| e.to_string())
            })
            .unwrap_or_else(|| e.to_string());
        PlanFileError::Invalid(why)
    })?;
    check(&plan).map_err(PlanFileError::Invalid)?;
    Ok(plan)
}

/// Every step's kind allows its action, and its stage is the one the order gives it.
fn check(plan: &Plan) -> Result<(), String> {
    for (i, s) in plan.steps.iter().enumerate() {
        if !s.kind.allows(s.action) {
            return Err(format!(
                "steps[{i}]: a {} step cannot have the action `{}`",
                s.kind, s.action
            ));
        }
        match Stage::of(s) {
            Some(stage) if stage == s.stage => {}
            Some(stage) => {
                return Err(format!(
                    "steps[{i}]: a {} {} step runs in stage {stage}, not {}",
                    s.action, s.kind, s.stage
                ))
            }
            None => return Err(format!("steps[{i}]: a rollout step needs its `rollout`")),
        }
    }
    Ok(())
}

/// The first entry and field of the plan's vocabulary that does not parse, as
/// `steps[3].action: unknown variant …` (serde's own message names neither).
fn locate(plan: &Value) -> Option<String> {
    if let Some(e) = field::<TargetKind>(plan.get("target")?, "kind") {
        return Some(format!("target.{e}"));
    }
    let list = |name: &str, check: &dyn Fn(&Value) -> Option<String>| {
        plan.get(name)?
            .as_array()?
            .iter()
            .enumerate()
            .find_map(|(i, item)| check(item).map(|e| format!("{name}[{i}].{e}")))
    };
    list("steps", &|s| {
        field::<Stage>(s, "stage")
            .or_else(|| field::<Action>(s, "action"))
            .or_else(|| field::<StepKind>(s, "kind"))
    })
    .or_else(|| list("custom_plugins", &|c| field::<Action>(c, "action")))
    .or_else(|| list("plugins", &|p| field::<Action>(p, "action")))
}

fn field<T: DeserializeOwned>(item: &Value, name: &str) -> Option<String> {
    let v = item.get(name)?;
    serde_json::from_value::<T>(v.clone())
        .err()
        .map(|e| format!("{name}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_with_step(step: Value) -> String {
        serde_json::json!({
            "format_version": 1,
            "target": {"kind": "local", "address": "a", "control_plane": "default"},
            "source": {"git_commit": null, "dirty": false},
            "fingerprint": "f",
            "maintenance_window": false,
            "summary": {"create": 1, "update": 0, "migrate": 0, "delete": 0, "unchanged": 0},
            "custom_plugins": [],
            "plugins": [],
            "steps": [step],
        })
        .to_string()
    }

    #[test]
    fn a_known_step_parses() {
        let text = plan_with_step(serde_json::json!({
            "stage": 1, "action": "create", "kind": "custom_plugin", "name": "x", "body": {}
        }));
        let plan = parse(&text).unwrap();
        assert_eq!(plan.steps[0].stage, Stage::PluginWrites);
        assert_eq!(plan.steps[0].action, Action::Create);
    }

    #[test]
    fn an_unknown_action_is_named_with_what_is_allowed() {
        let text = plan_with_step(serde_json::json!({
            "stage": 1, "action": "frobnicate", "kind": "custom_plugin", "name": "x"
        }));
        let e = parse(&text).unwrap_err().to_string();
        assert_eq!(
            e,
            "steps[0].action: unknown variant `frobnicate`, expected one of `create`, `update`, `migrate`, `delete`, `rollout`"
        );
    }

    #[test]
    fn an_unknown_kind_or_stage_is_named() {
        let text = plan_with_step(serde_json::json!({
            "stage": 1, "action": "create", "kind": "service", "name": "x"
        }));
        assert!(parse(&text)
            .unwrap_err()
            .to_string()
            .starts_with("steps[0].kind: unknown variant `service`"));
        let text = plan_with_step(serde_json::json!({
            "stage": 9, "action": "create", "kind": "plugin", "name": "x"
        }));
        assert_eq!(
            parse(&text).unwrap_err().to_string(),
            "steps[0].stage: unknown stage 9, expected 1 to 4"
        );
        let text = plan_with_step(serde_json::json!({})).replace("\"local\"", "\"mainframe\"");
        assert!(parse(&text)
            .unwrap_err()
            .to_string()
            .starts_with("target.kind: unknown variant `mainframe`"));
    }

    #[test]
    fn a_step_out_of_its_stage_or_with_a_foreign_action_is_refused() {
        let text = plan_with_step(serde_json::json!({
            "stage": 1, "action": "delete", "kind": "custom_plugin", "name": "x"
        }));
        assert_eq!(
            parse(&text).unwrap_err().to_string(),
            "steps[0]: a delete custom_plugin step runs in stage 4, not 1"
        );
        let text = plan_with_step(serde_json::json!({
            "stage": 1, "action": "rollout", "kind": "custom_plugin", "name": "x"
        }));
        assert_eq!(
            parse(&text).unwrap_err().to_string(),
            "steps[0]: a custom_plugin step cannot have the action `rollout`"
        );
    }

    #[test]
    fn other_shape_errors_keep_their_line_and_column() {
        let text = plan_with_step(serde_json::json!({
            "stage": 1, "action": "create", "kind": "custom_plugin", "name": "x"
        }))
        .replace("\"fingerprint\":\"f\",", "");
        let e = parse(&text).unwrap_err().to_string();
        assert!(
            e.starts_with("missing field `fingerprint` at line 1 column"),
            "{e}"
        );
    }

    #[test]
    fn another_format_version_is_named_first() {
        let text = plan_with_step(serde_json::json!({"action": "frobnicate"}))
            .replace("\"format_version\":1", "\"format_version\":2");
        assert_eq!(parse(&text).unwrap_err(), PlanFileError::Version(2));
    }
}
