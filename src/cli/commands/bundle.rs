//! `plugsync bundle --out DIR`: the files operators install on Konnect hybrid-mode data planes
//! for the hybrid-mode plugins (`streamed: false`) in scope — Kong's Lua path tree
//! (`kong/plugins/NAME/{handler,schema}.lua`), or with `--format configmap` one Kubernetes
//! ConfigMap per plugin as Kong's Helm chart mounts them (`plugins.configMaps`). The output is
//! byte-identical across runs for the same state. The files are made by `crate::ops::bundle`.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::cli::run;
use crate::error::{CommandError, Outcome};
use crate::ops::{self, bundle::BundleRequest, bundle::Layout};
use crate::settings;

/// What `bundle` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum BundleFormat {
    /// `kong/plugins/NAME/handler.lua` and `schema.lua` (an image's Lua path, or a LuaRocks tree).
    #[default]
    Tree,
    /// One ConfigMap per plugin (`NAME.configmap.yaml`) plus `values.yaml` for Kong's Helm chart.
    Configmap,
}

/// Arguments of `plugsync bundle`.
#[derive(Debug, Args)]
pub struct BundleArgs {
    /// A state file, or a directory whose *.yaml/*.yml files are merged (repeatable).
    #[arg(
        short = 's',
        long = "state",
        value_name = "PATH",
        default_value = "plugsync.yaml"
    )]
    pub state: Vec<PathBuf>,
    /// The directory to write into (created; the bundle's files in it are replaced).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// `tree` (Kong's Lua path layout) or `configmap`.
    #[arg(long, value_enum, default_value_t = BundleFormat::Tree)]
    pub format: BundleFormat,
    /// Read the state from this git commit instead of the working tree.
    #[arg(long = "git-ref", value_name = "REF")]
    pub git_ref: Option<String>,
    /// Also hold the hybrid-mode plugins the state at this commit declares and the current
    /// state no longer does (old versions kept during a `replaces` upgrade: the `expand` bundle).
    #[arg(long = "base", value_name = "REF")]
    pub base: Option<String>,
    /// Print only data and errors.
    #[arg(short, long)]
    pub quiet: bool,
}

/// Runs the bundle.
pub fn run(args: BundleArgs) -> Outcome {
    let printer = settings::printer(args.quiet, 0);
    match bundle(&args, &printer) {
        Ok(o) => o,
        Err(e) => run::fail(&printer, e),
    }
}

fn bundle(args: &BundleArgs, printer: &crate::ui::Printer) -> Result<Outcome, CommandError> {
    let request = BundleRequest {
        paths: &args.state,
        git_ref: args.git_ref.as_deref(),
        base: args.base.as_deref(),
        layout: match args.format {
            BundleFormat::Tree => Layout::Tree,
            BundleFormat::Configmap => Layout::Configmap,
        },
        env: &settings::process_env,
    };
    let bundle = ops::bundle::bundle(&request, &run::Reporter::new(printer))?;
    ops::bundle::write(&args.out, &bundle.files)?;
    printer.status(&format!(
        "wrote {} hybrid-mode plugin{} to {}",
        bundle.plugins,
        if bundle.plugins == 1 { "" } else { "s" },
        args.out.display()
    ));
    printer.data(&format!("KONG_PLUGINS={}\n", bundle.kong_plugins));
    Ok(Outcome::Success)
}
