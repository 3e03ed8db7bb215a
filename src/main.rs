//! The `plugsync` binary: parse, run, map the outcome to an exit code.

fn main() -> std::process::ExitCode {
    plugsync::cli::main().into()
}
