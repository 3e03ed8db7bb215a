//! `yaml`: the state file parses, and every key is known (reported while loading).

use super::Rule;

pub const RULE: Rule = Rule {
    id: crate::state::RULE_YAML,
    summary: "the state file parses as YAML with known keys and well-typed values",
    check: None,
};
