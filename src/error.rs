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

/// Where to report a bug.
pub const ISSUES_URL: &str = "https://github.com/plugsync/plugsync/issues";

/// What kind of error ended a command, in the manner of jj's `CommandErrorKind`: who can fix
/// it. Each kind has one name in reports (`error.kind` of `--format json`, the Markdown
/// banner) and one exit code ([`ErrorKind::outcome`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    // The user fixes these: their flags, files and state.
    /// A flag, a file, a git reference the user gave (report: `error`).
    User,
    /// The state does not lint (report: `lint`).
    Lint,
    /// The state cannot be planned against the control plane: an unknown reference, a schema
    /// that does not evaluate (report: `invalid_state`).
    InvalidState,
    /// The planning policy refuses the change (report: `plan_refused`).
    PlanRefused,
    /// `apply`: the control plane changed since the plan was made (report: `stale_plan`).
    StalePlan,
    // The operator fixes these: settings and the environment.
    /// Settings: credentials, certificates, addresses, the store (report: `error`).
    Config,
    // The target's side.
    /// The target could not be reached or refused a request (report: `target`).
    Target,
    /// The changes were applied, but the data planes did not take them in time (report:
    /// `wait`).
    Wait,
    // plugsync's side.
    /// A bug in plugsync (report: `internal`); its hint asks to report it.
    Internal,
}

impl ErrorKind {
    /// The kind's name in reports.
    pub fn report_name(self) -> &'static str {
        match self {
            ErrorKind::User | ErrorKind::Config => "error",
            ErrorKind::Lint => "lint",
            ErrorKind::InvalidState => "invalid_state",
            ErrorKind::PlanRefused => "plan_refused",
            ErrorKind::StalePlan => "stale_plan",
            ErrorKind::Target => "target",
            ErrorKind::Wait => "wait",
            ErrorKind::Internal => "internal",
        }
    }

    /// How a command that fails with this kind exits (CONTRACT §2): 3 for a stale plan, 1
    /// for everything else.
    pub fn outcome(self) -> Outcome {
        match self {
            ErrorKind::StalePlan => Outcome::StalePlan,
            ErrorKind::User
            | ErrorKind::Lint
            | ErrorKind::InvalidState
            | ErrorKind::PlanRefused
            | ErrorKind::Config
            | ErrorKind::Target
            | ErrorKind::Wait
            | ErrorKind::Internal => Outcome::Failure,
        }
    }
}

/// An error that ends a command: a message (lowercase, saying what was being done and on
/// what) and an optional hint. Never holds a secret: callers mask before building one (or
/// call [`CommandError::masked`]).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct CommandError {
    pub message: String,
    pub hint: Option<String>,
    /// What went wrong: the report's name for it and the exit code follow from it.
    pub kind: ErrorKind,
    /// The entities involved, for reports (`{"kind": "custom_plugin", "name": …}`, …).
    pub entities: Vec<serde_json::Value>,
}

impl CommandError {
    /// An error of `kind` with a message.
    pub fn of_kind(kind: ErrorKind, message: impl Into<String>) -> CommandError {
        CommandError {
            message: message.into(),
            hint: None,
            kind,
            entities: Vec::new(),
        }
    }

    /// A user error (a flag, a file, the state) with a message.
    pub fn new(message: impl Into<String>) -> CommandError {
        CommandError::of_kind(ErrorKind::User, message)
    }

    /// A configuration error (credentials, certificates, addresses) with a message.
    pub fn config(message: impl Into<String>) -> CommandError {
        CommandError::of_kind(ErrorKind::Config, message)
    }

    /// A bug in plugsync: the hint asks to report it.
    pub fn internal(message: impl Into<String>) -> CommandError {
        CommandError::of_kind(ErrorKind::Internal, message).with_hint(format!(
            "this is a bug in plugsync: please report it at {ISSUES_URL} with the command you ran and this message"
        ))
    }

    /// A file operation that failed: `cannot {doing} {path}: {e}` (`doing`: `read the plan`,
    /// `write`, `create`, …).
    pub fn io(doing: &str, path: &std::path::Path, e: std::io::Error) -> CommandError {
        CommandError::new(format!("cannot {doing} {}: {e}", path.display()))
    }

    /// How the command exits.
    pub fn outcome(&self) -> Outcome {
        self.kind.outcome()
    }

    /// The same error with another kind.
    pub fn with_kind(mut self, kind: ErrorKind) -> CommandError {
        self.kind = kind;
        self
    }

    /// The same error with the entities involved.
    pub fn with_entities(mut self, entities: Vec<serde_json::Value>) -> CommandError {
        self.entities = entities;
        self
    }

    /// The same error said of what was being done: `{doing}: {message}`.
    pub fn context(mut self, doing: impl std::fmt::Display) -> CommandError {
        self.message = format!("{doing}: {}", self.message);
        self
    }

    /// The same error with `secrets` masked in its message and hint.
    pub fn masked(mut self, secrets: &[String]) -> CommandError {
        self.message = crate::model::mask_secrets(&self.message, secrets);
        self.hint = self.hint.map(|h| crate::model::mask_secrets(&h, secrets));
        self
    }

    /// The error as a JSON report (`--format json`): what a script needs to say why.
    pub fn json_report(&self, command: &str) -> String {
        let v = serde_json::json!({
            "format_version": 1,
            "command": command,
            "exit_code": self.outcome().code(),
            "error": {
                "kind": self.kind.report_name(),
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
            self.kind.report_name(),
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
        s.push_str(&format!("\nExit code {}.\n", self.outcome().code()));
        s
    }

    /// The same error with a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> CommandError {
        self.hint = Some(hint.into());
        self
    }

    /// The same error with a hint, when there is one (else the hint it had).
    pub fn with_hint_opt(mut self, hint: Option<String>) -> CommandError {
        if hint.is_some() {
            self.hint = hint;
        }
        self
    }
}

/// A target that could not be reached or refused a request (mask the message with
/// [`CommandError::masked`]; the token hint depends on the kind of target:
/// `crate::backend::auth_hint`).
impl From<crate::backend::TargetError> for CommandError {
    fn from(e: crate::backend::TargetError) -> CommandError {
        CommandError::of_kind(ErrorKind::Target, e.to_string())
    }
}

/// A state that cannot be read from git, with the git error's hint.
impl From<crate::git::GitError> for CommandError {
    fn from(e: crate::git::GitError) -> CommandError {
        let hint = e.hint();
        CommandError::new(e.to_string()).with_hint_opt(hint)
    }
}

/// A change the planning policy refuses: the plugin involved and how to proceed.
impl From<crate::plan::PlanError> for CommandError {
    fn from(e: crate::plan::PlanError) -> CommandError {
        CommandError::from(crate::plan::prepare::PrepareError::Plan(vec![e]))
    }
}

/// A state the diff cannot resolve against the control plane.
impl From<crate::diff::DiffError> for CommandError {
    fn from(e: crate::diff::DiffError) -> CommandError {
        CommandError::from(crate::plan::prepare::PrepareError::Diff(vec![e]))
    }
}

/// A plan that cannot be made: refused by the policy (`plan_refused`) or a state that cannot
/// be planned (`invalid_state`), with every entity involved and the first error's hint.
impl From<crate::plan::prepare::PrepareError> for CommandError {
    fn from(e: crate::plan::prepare::PrepareError) -> CommandError {
        use crate::plan::prepare::PrepareError;
        let (kind, entities, hint) = match &e {
            PrepareError::Plan(errs) => (
                ErrorKind::PlanRefused,
                errs.iter().map(|e| e.entity()).collect(),
                errs.first().map(|e| e.hint()),
            ),
            PrepareError::Diff(errs) => (
                ErrorKind::InvalidState,
                errs.iter().map(|e| e.entity()).collect(),
                errs.first().map(|e| e.hint().to_string()),
            ),
            PrepareError::Schema { plugin, .. } => (
                ErrorKind::InvalidState,
                vec![
                    serde_json::json!({"kind": "custom_plugin", "name": plugin, "reason": "schema"}),
                ],
                None,
            ),
        };
        CommandError::of_kind(kind, e.to_string())
            .with_entities(entities)
            .with_hint_opt(hint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_names_and_exit_codes_follow_the_contract() {
        let names: Vec<(&str, u8)> = [
            ErrorKind::User,
            ErrorKind::Config,
            ErrorKind::Lint,
            ErrorKind::InvalidState,
            ErrorKind::PlanRefused,
            ErrorKind::StalePlan,
            ErrorKind::Target,
            ErrorKind::Wait,
            ErrorKind::Internal,
        ]
        .into_iter()
        .map(|k| (k.report_name(), k.outcome().code()))
        .collect();
        assert_eq!(
            names,
            vec![
                ("error", 1),
                ("error", 1),
                ("lint", 1),
                ("invalid_state", 1),
                ("plan_refused", 1),
                ("stale_plan", 3),
                ("target", 1),
                ("wait", 1),
                ("internal", 1),
            ]
        );
    }

    #[test]
    fn an_internal_error_asks_to_be_reported() {
        let e = CommandError::internal("the step has no result");
        assert!(e.hint.as_deref().unwrap().contains(ISSUES_URL));
        assert!(e.json_report("apply").contains("\"kind\": \"internal\""));
    }

    #[test]
    fn errors_carry_their_context_hint_and_masking() {
        let e = CommandError::from(crate::backend::TargetError::Config(
            "token s3cret refused".into(),
        ))
        .context("reading the control plane failed")
        .masked(&["s3cret".to_string()]);
        assert_eq!(
            e.message,
            "reading the control plane failed: token [masked] refused"
        );
        assert_eq!(e.kind, ErrorKind::Target);
        let e = CommandError::from(crate::plan::PlanError::EmptyState {
            live: 1,
            instances: 0,
        });
        assert_eq!(e.kind, ErrorKind::PlanRefused);
        assert!(e.hint.as_deref().unwrap().contains("--allow-empty"));
        assert_eq!(e.entities[0]["reason"], "empty_state");
    }

    #[test]
    fn exit_codes_follow_the_contract() {
        assert_eq!(Outcome::Success.code(), 0);
        assert_eq!(Outcome::Failure.code(), 1);
        assert_eq!(Outcome::Changes.code(), 2);
        assert_eq!(Outcome::StalePlan.code(), 3);
    }
}
