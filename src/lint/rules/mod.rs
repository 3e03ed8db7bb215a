//! The lint rules, one per file, registered in [`RULES`]. `docs/lints.md` has a line for each;
//! a test keeps the two in step.
//!
//! Each rule id is written once, in its rule's file: the Lua static checks name their findings
//! by [`Check`] and [`for_check`] gives their rule; the rules the state loader reports (`yaml`,
//! `duplicate-name`, `instance-config`, `instance-unknown-plugin`) take their ids from the
//! loader's constants.

mod duplicate_name;
mod extra_files;
mod file_size;
mod handler_shape;
mod instance_config;
mod instance_scope;
mod instance_unknown_plugin;
mod lua_syntax;
mod replaces;
mod schema_custom_validation;
mod schema_invalid;
mod schema_name_mismatch;
mod static_checks;
mod yaml;

use super::{Context, Diagnostic, Severity};
use crate::lua::Check;

/// One lint rule.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// The id shown as `error[ID]`.
    pub id: &'static str,
    /// What it checks, in one line.
    pub summary: &'static str,
    /// The check; `None` for rules reported while loading the state.
    pub check: Option<fn(&Context<'_>, &mut Vec<Diagnostic>)>,
}

/// Every rule, in the order of CONTRACT §9.
pub const RULES: &[Rule] = &[
    yaml::RULE,
    duplicate_name::RULE,
    schema_name_mismatch::RULE,
    file_size::RULE,
    lua_syntax::RULE,
    schema_invalid::RULE,
    extra_files::RULE,
    static_checks::INIT_WORKER,
    static_checks::TIMER,
    static_checks::FILESYSTEM,
    static_checks::REQUIRE,
    schema_custom_validation::RULE,
    handler_shape::RULE,
    instance_config::RULE,
    instance_unknown_plugin::RULE,
    instance_scope::RULE,
    replaces::RULE,
];

/// The page that documents the rules: `docs/lints.md` of the repository, with an anchor per
/// rule (`#ID`).
pub const DOCS_URL: &str = concat!(env!("CARGO_PKG_REPOSITORY"), "/blob/main/docs/lints.md");

/// The rules whose findings are warnings unless they say otherwise.
const WARNING_RULES: &[&str] = &[schema_custom_validation::RULE.id];

/// The rule that reports the findings of the Lua static check `check`.
pub fn for_check(check: Check) -> &'static Rule {
    match check {
        Check::Filesystem => &static_checks::FILESYSTEM,
        Check::InitWorker => &static_checks::INIT_WORKER,
        Check::LuaSyntax => &lua_syntax::RULE,
        Check::Require => &static_checks::REQUIRE,
        Check::Timer => &static_checks::TIMER,
    }
}

/// The rule of id `id`, if the registry has it.
pub fn find(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id == id)
}

impl Rule {
    /// The link to this rule's line in `docs/lints.md`.
    pub fn help_uri(&self) -> String {
        format!("{DOCS_URL}#{}", self.id)
    }

    /// The severity of most of this rule's findings (some rules also report milder ones).
    pub fn default_severity(&self) -> Severity {
        if WARNING_RULES.contains(&self.id) {
            Severity::Warning
        } else {
            Severity::Error
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Findings sort by check, which must be the order of the rule ids they print as.
    #[test]
    fn checks_map_to_registered_rules_in_id_order() {
        for pair in Check::ALL.windows(2) {
            assert!(for_check(pair[0]).id < for_check(pair[1]).id, "{pair:?}");
        }
        for check in Check::ALL {
            assert!(find(for_check(check).id).is_some(), "{check:?}");
        }
    }
}
