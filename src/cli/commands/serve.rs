//! `plugsync serve`: open the local control plane's store and serve it over HTTP until SIGINT
//! or SIGTERM. Wiring only: the HTTP layer is `crate::server`, the store `crate::controlplane`.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::Args;

use crate::controlplane::ControlPlanes;
use crate::error::{CommandError, Outcome};
use crate::server::{self, AppState, FaultKind, Options, Token};
use crate::settings;
use crate::ui::Printer;

/// Arguments of `plugsync serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free one); a non-loopback address requires --token.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8001")]
    pub listen: String,
    /// The database file, created if missing (`:memory:` for an ephemeral store).
    #[arg(long, value_name = "PATH", default_value = ".plugsync/local.db")]
    pub data: String,
    /// Require `Authorization: Bearer TOKEN` or `Kong-Admin-Token: TOKEN` on every request.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "PLUGSYNC_SERVE_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// For tests: answer this fraction (0..1) of requests with 429, 500, 503 or a dropped
    /// connection, before or after the write commits.
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = fraction)]
    pub fault_rate: f64,
    /// For tests: the faults to inject, comma-separated: 429, 429-date (Retry-After as an HTTP
    /// date), 500, 502, 503, 504, drop, slow (default: 429,500,503,drop).
    #[arg(long, value_name = "KINDS", value_delimiter = ',', value_parser = fault_kind)]
    pub fault_kinds: Vec<FaultKind>,
    /// For tests: how long a `slow` fault holds its answer, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    pub fault_delay_ms: u64,
    /// For tests: seed of the fault sequence (default: random, printed at start).
    #[arg(long, value_name = "N")]
    pub fault_seed: Option<u64>,
    /// For tests: answer 429 with Retry-After above this many requests per second.
    #[arg(long, value_name = "RPS", value_parser = positive)]
    pub rate_limit: Option<f64>,
    /// Close a connection that makes no progress for this many seconds: headers that never
    /// finish, an answer never read, an idle keep-alive connection.
    #[arg(long, value_name = "SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub idle_timeout: u64,
    /// Serve at most this many connections at once; more wait until one closes.
    #[arg(long, value_name = "N", default_value_t = crate::server::MAX_CONNECTIONS, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_connections: usize,
}

/// Parses a fraction in `0..=1`.
fn fraction(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!("'{s}' is not a fraction between 0 and 1")),
    }
}

/// Parses one fault kind of `--fault-kinds`.
fn fault_kind(s: &str) -> Result<FaultKind, String> {
    FaultKind::parse(s).ok_or_else(|| {
        let names: Vec<&str> = FaultKind::ALL.iter().map(|(n, _)| *n).collect();
        format!("'{s}' is not a fault kind (one of {})", names.join(", "))
    })
}

/// Parses a positive finite number.
fn positive(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(n) if n > 0.0 && n.is_finite() => Ok(n),
        _ => Err(format!("'{s}' is not a positive number")),
    }
}

/// Runs the server.
pub fn run(args: ServeArgs) -> Outcome {
    let printer = settings::printer(false, 0);
    match serve(args, &printer) {
        Ok(()) => Outcome::Success,
        Err(e) => {
            printer.error(&e.message, e.hint.as_deref());
            e.outcome()
        }
    }
}

/// Resolves `--listen` to the address to bind.
fn listen_address(listen: &str) -> Result<SocketAddr, CommandError> {
    let mut addrs = listen.to_socket_addrs().map_err(|e| {
        CommandError::config(format!("cannot resolve --listen address '{listen}': {e}"))
            .with_hint("give HOST:PORT, e.g. 127.0.0.1:8001")
    })?;
    addrs.next().ok_or_else(|| {
        CommandError::config(format!(
            "--listen address '{listen}' resolves to no address"
        ))
    })
}

fn serve(args: ServeArgs, printer: &Printer) -> Result<(), CommandError> {
    let addr = listen_address(&args.listen)?;
    let token = args.token.as_deref().filter(|t| !t.is_empty());
    if args.token.is_some() && token.is_none() {
        return Err(CommandError::config("--token must not be empty"));
    }
    if !addr.ip().is_loopback() && token.is_none() {
        return Err(CommandError::config(format!(
            "refusing to listen on non-loopback address {addr} without --token"
        ))
        .with_hint("pass --token TOKEN (or PLUGSYNC_SERVE_TOKEN), or listen on 127.0.0.1"));
    }
    let faults = (args.fault_rate > 0.0).then(|| {
        let seed = args.fault_seed.unwrap_or_else(random_seed);
        let kinds: Vec<&str> = if args.fault_kinds.is_empty() {
            FaultKind::DEFAULT.iter().map(|k| k.name()).collect()
        } else {
            args.fault_kinds.iter().map(|k| k.name()).collect()
        };
        printer.warn(&format!(
            "fault injection on: --fault-rate {} --fault-seed {seed} --fault-kinds {}",
            args.fault_rate,
            kinds.join(",")
        ));
        (args.fault_rate, seed)
    });
    if let Some(rps) = args.rate_limit {
        printer.status(&format!(
            "rate limit on: {rps} requests per second, 429 above it"
        ));
    }
    let store = ControlPlanes::open(&args.data).map_err(|e| {
        CommandError::config(format!("cannot open the store at '{}': {e}", args.data))
    })?;
    let state = AppState::new(Arc::new(store));
    let default_cp = state.default_cp().to_string();
    let options = Options {
        token: token.map(Token::new),
        faults,
        fault_kinds: args.fault_kinds.clone(),
        fault_delay: std::time::Duration::from_millis(args.fault_delay_ms),
        rate_limit: args.rate_limit,
    };
    let app = server::router(state, &options);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CommandError::new(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| CommandError::config(format!("cannot listen on {addr}: {e}")))?;
        let bound = listener
            .local_addr()
            .map_err(|e| CommandError::internal(format!("cannot read the bound address: {e}")))?;
        printer.data(&format!(
            "plugsync serve listening on http://{bound} (control plane default: {default_cp})"
        ));
        server::serve_with(
            listener,
            app,
            server::shutdown_signal(),
            std::time::Duration::from_secs(args.idle_timeout),
            args.max_connections,
        )
        .await
        .map_err(|e| CommandError::new(format!("serving on {bound} failed: {e}")))?;
        printer.status("plugsync serve stopped");
        Ok(())
    })
}

/// A seed for a fault sequence when none is given.
fn random_seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    (nanos as u64) ^ u64::from(std::process::id()).rotate_left(32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions_are_between_zero_and_one() {
        assert_eq!(fraction("0.25"), Ok(0.25));
        assert_eq!(fraction("1"), Ok(1.0));
        assert!(fraction("1.5").is_err());
        assert!(fraction("-0.1").is_err());
        assert!(fraction("NaN").is_err());
    }

    #[test]
    fn loopback_is_recognised() {
        assert!(listen_address("127.0.0.1:0").unwrap().ip().is_loopback());
        assert!(!listen_address("0.0.0.0:0").unwrap().ip().is_loopback());
        assert!(listen_address("no-port").is_err());
    }
}
