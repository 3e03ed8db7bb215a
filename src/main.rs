//! The `plugsync` binary: parse, run, map the outcome to an exit code.

fn main() -> std::process::ExitCode {
    // The Lua parser panics on a few malformed inputs; those panics are caught and reported as
    // lint findings, so the default hook must not print them as crashes.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !plugsync::lua::parser_panic_expected() {
            default_hook(info);
        }
    }));
    // Schemas' custom_validator and custom_entity_check functions run in the Lua sandbox.
    plugsync::lua::custom::install();
    plugsync::cli::main().into()
}
