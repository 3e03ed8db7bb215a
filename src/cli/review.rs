//! `plugsync diff --base REF [--head REF]`: offline review of two revisions of the state, with
//! no control plane. Maps the flags to a [`crate::ops::review::ReviewRequest`] (the base
//! revision stands in for the control plane there) and renders the plan.

use crate::cli::run::{self, PlanArgs, Reporter};
use crate::cli::CommonArgs;
use crate::error::{CommandError, Outcome};
use crate::ops::review::{self, ReviewRequest};
use crate::settings;
use crate::ui::Printer;

/// Runs the review and renders it; `exit_code` as for `diff --exit-code`.
pub fn run(
    common: &CommonArgs,
    base: &str,
    head: Option<&str>,
    args: &PlanArgs,
    exit_code: bool,
    printer: &Printer,
) -> Result<Outcome, CommandError> {
    let env = |name: &str| review::review_env(&settings::process_env, name);
    let request = ReviewRequest {
        paths: &common.state,
        base,
        head,
        select_tags: &common.select_tag,
        lint: &|| args.sandbox.lint_options(),
        plan: args.request(),
        env: &env,
    };
    let plan = review::review(&request, &Reporter::new(printer))?;
    printer.data(&run::render_plan(&plan, common.format, printer));
    Ok(if exit_code && plan.has_changes() {
        Outcome::Changes
    } else {
        Outcome::Success
    })
}
