//! `duplicate-name`: a name declared twice (reported while loading the state).

use super::Rule;

pub const RULE: Rule = Rule {
    id: crate::state::RULE_DUPLICATE,
    summary: "a custom plugin name, instance_name or instance scope declared twice",
    check: None,
};
