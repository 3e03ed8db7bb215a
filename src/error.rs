//! Error kinds and the exit codes they map to (CONTRACT §2), in one place.

use std::process::ExitCode;

/// How a command ended, as far as the exit code is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Success; for `diff`/`plan --exit-code`, no changes.
    Success,
    /// `--exit-code` and the plan has changes.
    Changes,
    /// `apply` refused a stale plan.
    StalePlan,
    /// Any error: invalid input, lint errors, an API error, a failed apply, a usage error.
    Failure,
}

impl Outcome {
    /// The process exit code of the outcome.
    pub fn code(self) -> u8 {
        match self {
            Outcome::Success => 0,
            Outcome::Failure => 1,
            Outcome::Changes => 2,
            Outcome::StalePlan => 3,
        }
    }
}

impl From<Outcome> for ExitCode {
    fn from(o: Outcome) -> ExitCode {
        ExitCode::from(o.code())
    }
}

/// An error that ends a command: a message (lowercase, saying what was being done and on
/// what) and an optional hint. Never holds a secret: callers mask before building one.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct CommandError {
    pub message: String,
    pub hint: Option<String>,
    /// Exit with this outcome (normally [`Outcome::Failure`]).
    pub outcome: Outcome,
    /// What went wrong, for reports: `lint`, `plan_refused`, `invalid_state`, `stale_plan`,
    /// `target`, `apply`, or `error`.
    pub kind: &'static str,
    /// The entities involved, for reports (`{"kind": "custom_plugin", "name": …}`, …).
    pub entities: Vec<serde_json::Value>,
}

impl CommandError {
    /// A failure with a message.
    pub fn new(message: impl Into<String>) -> CommandError {
        CommandError {
            message: message.into(),
            hint: None,
            outcome: Outcome::Failure,
            kind: "error",
            entities: Vec::new(),
        }
    }

    /// The same error with a kind (see [`CommandError::kind`]).
    pub fn with_kind(mut self, kind: &'static str) -> CommandError {
        self.kind = kind;
        self
    }

    /// The same error with the entities involved.
    pub fn with_entities(mut self, entities: Vec<serde_json::Value>) -> CommandError {
        self.entities = entities;
        self
    }

    /// The error as a JSON report (`--format json`): what a script needs to say why.
    pub fn json_report(&self, command: &str) -> String {
        let v = serde_json::json!({
            "format_version": 1,
            "command": command,
            "exit_code": self.outcome.code(),
            "error": {
                "kind": self.kind,
                "message": self.message,
                "hint": self.hint,
                "entities": self.entities,
            },
        });
        serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"
    }

    /// The error as a Markdown report (`--format markdown`): a banner a PR comment can show.
    pub fn markdown_report(&self, command: &str) -> String {
        let mut s = format!(
            "## plugsync {command}: failed\n\n> **Error** ({}): {}\n",
            self.kind,
            self.message.replace('\n', "\n>\n> ")
        );
        if let Some(h) = &self.hint {
            s.push_str(&format!(">\n> **Fix**: {h}\n"));
        }
        let names: Vec<String> = self
            .entities
            .iter()
            .filter_map(|e| {
                let kind = e.get("kind")?.as_str()?;
                let name = e
                    .get("name")
                    .or_else(|| e.get("location"))
                    .and_then(serde_json::Value::as_str)?;
                Some(format!(
                    "| {} | `{}` |",
                    kind.replace('_', " "),
                    name.replace('`', "'")
                ))
            })
            .collect();
        if !names.is_empty() {
            s.push_str("\n| entity | name |\n|---|---|\n");
            s.push_str(&names.join("\n"));
            s.push('\n');
        }
        s.push_str(&format!("\nExit code {}.\n", self.outcome.code()));
        s
    }

    /// The same error with a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> CommandError {
        self.hint = Some(hint.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_contract() {
        assert_eq!(Outcome::Success.code(), 0);
        assert_eq!(Outcome::Failure.code(), 1);
        assert_eq!(Outcome::Changes.code(), 2);
        assert_eq!(Outcome::StalePlan.code(), 3);
    }
}
