//! Target flags (CONTRACT §1) and the choice of control plane they make.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::backend::http::{HttpSettings, RetryPolicy};
use crate::backend::{Backend, HttpBackend, LocalBackend, RemoteFlavor};
use crate::error::{CommandError, ErrorKind};

/// The embedded local control plane's default store.
pub const DEFAULT_LOCAL: &str = ".plugsync/local.db";
/// The pace a Konnect target starts at before its answers say more (requests a second).
pub const KONNECT_START_RPS: f64 = 30.0;

/// Flags that choose and reach the control plane.
#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
    /// Konnect API address.
    #[arg(long, env = "PLUGSYNC_KONNECT_ADDR", value_name = "URL")]
    pub konnect_addr: Option<String>,
    /// Konnect personal or system access token.
    #[arg(
        long,
        env = "PLUGSYNC_KONNECT_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub konnect_token: Option<String>,
    /// Read the Konnect token from a file.
    #[arg(long, value_name = "PATH")]
    pub konnect_token_file: Option<PathBuf>,
    /// Konnect control plane, by name.
    #[arg(long, env = "PLUGSYNC_KONNECT_CONTROL_PLANE_NAME", value_name = "NAME")]
    pub konnect_control_plane_name: Option<String>,
    /// Konnect control plane, by id.
    #[arg(long, value_name = "ID")]
    pub konnect_control_plane_id: Option<String>,
    /// Kong Admin API address (self-managed Kong Gateway 3.15+).
    #[arg(long, env = "PLUGSYNC_KONG_ADDR", value_name = "URL")]
    pub kong_addr: Option<String>,
    /// Kong Admin API token, sent as Kong-Admin-Token.
    #[arg(
        long,
        env = "PLUGSYNC_KONG_ADMIN_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub kong_admin_token: Option<String>,
    /// Kong workspace.
    #[arg(long, value_name = "NAME")]
    pub workspace: Option<String>,
    /// The embedded local control plane's database (default when no other target is given: .plugsync/local.db).
    #[arg(long, env = "PLUGSYNC_LOCAL", value_name = "PATH")]
    pub local: Option<String>,
    /// Do not verify TLS certificates (dangerous).
    #[arg(long)]
    pub tls_skip_verify: bool,
    /// Trust the CA certificates in this PEM file.
    #[arg(long, value_name = "PATH")]
    pub ca_cert: Option<PathBuf>,
    /// Request timeout in seconds.
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    pub timeout: u64,
}

/// The kind of target the flags choose (a plan's [`crate::model::TargetKind`] can also be
/// `git`, which no flag chooses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    Konnect,
    Kong,
    Local,
}

impl From<TargetKind> for crate::model::TargetKind {
    fn from(k: TargetKind) -> crate::model::TargetKind {
        match k {
            TargetKind::Konnect => crate::model::TargetKind::Konnect,
            TargetKind::Kong => crate::model::TargetKind::Kong,
            TargetKind::Local => crate::model::TargetKind::Local,
        }
    }
}

impl TargetArgs {
    /// Which target the flags, the environment and the state's `_konnect` choose.
    pub fn kind(&self, state_cp_name: Option<&str>) -> TargetKind {
        if self.local.is_some() {
            TargetKind::Local
        } else if self.kong_addr.is_some() {
            TargetKind::Kong
        } else if self.konnect_token.is_some()
            || self.konnect_token_file.is_some()
            || self.konnect_control_plane_name.is_some()
            || self.konnect_control_plane_id.is_some()
            || self.konnect_addr.is_some()
            || state_cp_name.is_some()
        {
            TargetKind::Konnect
        } else {
            TargetKind::Local
        }
    }

    /// Whether the flags alone name a remote target: a state file cannot change which one
    /// (its `_konnect.control_plane_name` only counts when no flag names the control plane),
    /// so it can be reached before the state is read. The local control plane is not (opening
    /// its store may create it).
    pub fn independent_of_state(&self) -> bool {
        match self.kind(None) {
            TargetKind::Kong => true,
            TargetKind::Konnect => {
                self.konnect_control_plane_name.is_some() || self.konnect_control_plane_id.is_some()
            }
            _ => false,
        }
    }

    /// The secrets these flags carry (for masking).
    pub fn secrets(&self) -> Vec<String> {
        let mut out = Vec::new();
        out.extend(self.konnect_token.clone());
        out.extend(self.kong_admin_token.clone());
        if let Some(f) = &self.konnect_token_file {
            if let Ok(t) = std::fs::read_to_string(f) {
                out.push(t.trim().to_string());
            }
        }
        out.retain(|s| !s.is_empty());
        out
    }

    /// Connects to the chosen target. `rps` is the client-side rate limit, a hard cap
    /// (`None`: the default for the target: for Konnect an adaptive pace from 30 requests a
    /// second, unlimited otherwise).
    pub fn connect(
        &self,
        state_cp_name: Option<&str>,
        rps: Option<f64>,
        warn: &dyn Fn(&str),
        notice: Option<crate::backend::http::RetryNotice>,
    ) -> Result<Box<dyn Backend>, CommandError> {
        let kind = self.kind(state_cp_name);
        if kind == TargetKind::Local {
            let path = self
                .local
                .clone()
                .unwrap_or_else(|| DEFAULT_LOCAL.to_string());
            let backend =
                LocalBackend::open(&path).map_err(|e| CommandError::config(e.to_string()))?;
            return Ok(Box::new(backend));
        }
        if self.tls_skip_verify {
            warn("--tls-skip-verify: TLS certificates are NOT verified; anyone on the network path can read and change this traffic, tokens included");
        }
        let ca_cert = match &self.ca_cert {
            Some(p) => Some(std::fs::read(p).map_err(|e| {
                CommandError::io("read --ca-cert", p, e).with_kind(ErrorKind::Config)
            })?),
            None => None,
        };
        let mut settings = HttpSettings {
            notice,
            auth: None,
            timeout: Duration::from_secs(self.timeout.max(1)),
            tls_skip_verify: self.tls_skip_verify,
            ca_cert,
            rps: 0.0,
            adaptive_start: None,
            retry: RetryPolicy::from_env(),
        };
        let backend = match kind {
            TargetKind::Kong => {
                let addr = self.kong_addr.clone().unwrap_or_default();
                settings.rps = rps.unwrap_or(0.0);
                settings.auth = self
                    .kong_admin_token
                    .clone()
                    .map(|t| ("Kong-Admin-Token".to_string(), t));
                HttpBackend::connect(
                    &addr,
                    RemoteFlavor::Kong {
                        workspace: self.workspace.clone(),
                    },
                    &settings,
                )
            }
            _ => {
                let addr = self
                    .konnect_addr
                    .clone()
                    .unwrap_or_else(|| "https://us.api.konghq.com".to_string());
                let token = match (&self.konnect_token, &self.konnect_token_file) {
                    (Some(t), _) => Some(t.clone()),
                    (None, Some(f)) => Some(
                        std::fs::read_to_string(f)
                            .map_err(|e| {
                                CommandError::io("read --konnect-token-file", f, e)
                                    .with_kind(ErrorKind::Config)
                            })?
                            .trim()
                            .to_string(),
                    ),
                    (None, None) => None,
                };
                let Some(token) = token else {
                    return Err(CommandError::config("Konnect needs an access token").with_hint(
                        "pass --konnect-token-file PATH or set PLUGSYNC_KONNECT_TOKEN (or use --local for the embedded control plane)",
                    ));
                };
                // Konnect: adaptive from 30 a second by the server's rate-limit headers and
                // 429s; an explicit --rps is a hard cap (and the starting rate).
                settings.rps = rps.unwrap_or(0.0);
                if rps.is_none() {
                    settings.adaptive_start = Some(KONNECT_START_RPS);
                }
                settings.auth = Some(("Authorization".to_string(), format!("Bearer {token}")));
                let name = self
                    .konnect_control_plane_name
                    .clone()
                    .or_else(|| state_cp_name.map(str::to_string));
                HttpBackend::connect(
                    &addr,
                    RemoteFlavor::Konnect {
                        control_plane_id: self.konnect_control_plane_id.clone(),
                        control_plane_name: name,
                    },
                    &settings,
                )
            }
        };
        backend
            .map(|b| Box::new(b) as Box<dyn Backend>)
            .map_err(|e| {
                let hint = auth_hint(kind.into(), e.status());
                CommandError::from(e)
                    .masked(&self.secrets())
                    .with_hint_opt(hint)
            })
    }
}

pub use crate::backend::auth_hint;

/// A line naming the target, for the status output of every command.
pub fn describe(info: &crate::plan::TargetInfo) -> String {
    use crate::model::TargetKind as Kind;
    match info.kind {
        Kind::Konnect => format!(
            "target: Konnect control plane \"{}\" at {}",
            info.control_plane, info.address
        ),
        Kind::Kong => format!(
            "target: Kong Admin API at {} (workspace {})",
            info.address, info.control_plane
        ),
        Kind::Local | Kind::Git => format!("target: local control plane at {}", info.address),
    }
}
