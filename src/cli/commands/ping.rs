//! `plugsync ping`: reaches the target with its address and token, checks that the token may
//! read what plugsync reads, and prints the target's Kong version and the sandbox profile that
//! version runs streamed plugins with. Writes nothing (so it cannot prove write permission;
//! the first write of an apply does). `crate::ops::ping` runs the checks; this renders them.

use clap::Args;
use serde_json::json;

use crate::cli::run;
use crate::cli::target::TargetArgs;
use crate::cli::Format;
use crate::error::Outcome;
use crate::ops;
use crate::settings;

/// Arguments of `plugsync ping`.
#[derive(Debug, Args)]
pub struct PingArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Print only data and errors.
    #[arg(short, long)]
    pub quiet: bool,
    /// Print more detail (repeatable).
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// Runs the ping.
pub fn run(args: PingArgs) -> Outcome {
    let printer = settings::printer(args.quiet, args.verbose);
    let secrets = args.target.secrets();
    let backend = match run::connect(&args.target, None, None, &printer) {
        Ok(b) => b,
        Err(e) => return run::fail_with_report(&printer, args.format, "ping", e),
    };
    let ping = ops::ping::ping(backend.as_ref(), &secrets);
    let info = backend.info();
    let (checks, about, ok) = (&ping.checks, &ping.about, ping.ok);
    let (profile_name, profile_note) = (ping.profile, ping.profile_note.clone());
    match args.format {
        Format::Json => {
            let v = json!({
                "format_version": 1,
                "target": info,
                "ok": ok,
                "checks": checks.iter().map(|c| json!({
                    "check": c.name,
                    "ok": c.error.is_none(),
                    "error": c.error,
                })).collect::<Vec<_>>(),
                "write_permission": "not checked: ping writes nothing",
                "kong_version": about.kong_version,
                "kong_version_source": about.version_source,
                "sandbox_profile": profile_name,
                "sandbox_profile_note": profile_note,
                "facts": about.facts.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
                "plugsync_version": crate::version(),
            });
            printer.data(&(serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"));
        }
        _ => {
            let markdown = args.format == Format::Markdown;
            let mut out = String::new();
            if markdown {
                out.push_str(&format!(
                    "### plugsync ping: {}\n\n| | |\n|---|---|\n",
                    if ok { "ok" } else { "failed" }
                ));
            }
            let mut line = |k: &str, v: &str| {
                if markdown {
                    out.push_str(&format!("| {k} | {} |\n", v.replace('|', "\\|")));
                } else {
                    out.push_str(&format!("{k:<24} {v}\n"));
                }
            };
            for c in checks {
                match &c.error {
                    None => line(c.name, "ok"),
                    Some(e) => line(c.name, &format!("FAILED: {e}")),
                }
            }
            line("write permission", "not checked (ping writes nothing)");
            match &about.kong_version {
                Some(v) => line("Kong version", &format!("{v} ({})", about.version_source)),
                None if !about.version_source.is_empty() => line(
                    "Kong version",
                    &format!("unknown: {}", about.version_source),
                ),
                None => line("Kong version", "unknown"),
            }
            match (profile_name, &profile_note) {
                (Some(p), _) => line("sandbox profile", p),
                (None, Some(n)) => line("sandbox profile", n),
                (None, None) => {}
            }
            for (k, v) in &about.facts {
                line(k, v);
            }
            printer.data(&out);
        }
    }
    if ok {
        Outcome::Success
    } else {
        let failed = ping.failed();
        printer.error(&format!("ping failed: {}", failed.join(", ")), None);
        Outcome::Failure
    }
}
