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
}

impl CommandError {
    /// A failure with a message.
    pub fn new(message: impl Into<String>) -> CommandError {
        CommandError {
            message: message.into(),
            hint: None,
            outcome: Outcome::Failure,
        }
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
