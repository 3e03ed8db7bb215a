//! The lint rules, one per file, registered in [`RULES`]. `docs/lints.md` has a line for each;
//! a test keeps the two in step.

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
const WARNING_RULES: &[&str] = &["schema-custom-validation"];

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
