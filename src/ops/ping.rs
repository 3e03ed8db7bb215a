//! Ping: reach the target with its address and token, check that the token may read what
//! plugsync reads, and find the target's Kong version and the sandbox profile that version
//! runs streamed plugins with. Writes nothing (so it cannot prove write permission; the first
//! write of an apply does).

use crate::backend::{self, About, Backend, Kind, TargetError};
use crate::lua::ProfileName;

/// One check and its result.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: &'static str,
    /// Why it failed (masked, with the token hint); `None`: it passed.
    pub error: Option<String>,
}

/// What a ping found.
#[derive(Debug, Clone)]
pub struct Ping {
    pub checks: Vec<Check>,
    /// The target's version and facts (empty when it did not answer).
    pub about: About,
    /// The sandbox profile the target's Kong version runs, when known.
    pub profile: Option<&'static str>,
    /// Why the profile is unknown.
    pub profile_note: Option<String>,
    /// Whether every check passed.
    pub ok: bool,
}

impl Ping {
    /// The names of the checks that failed.
    pub fn failed(&self) -> Vec<&'static str> {
        self.checks
            .iter()
            .filter(|c| c.error.is_some())
            .map(|c| c.name)
            .collect()
    }
}

/// Reads the first page of `kind`, nothing more.
fn probe(backend: &dyn Backend, kind: Kind) -> Result<(), TargetError> {
    const ENOUGH: &str = "plugsync ping: first page read";
    match backend.for_each_page(kind, None, &mut |_| {
        Err(TargetError::Config(ENOUGH.to_string()))
    }) {
        Err(TargetError::Config(m)) if m == ENOUGH => Ok(()),
        other => other,
    }
}

/// Pings `backend`; `secrets` are masked in the errors.
pub fn ping(backend: &dyn Backend, secrets: &[String]) -> Ping {
    let info = backend.info();
    let mask = |e: &TargetError| {
        let mut text = crate::model::mask_secrets(&e.to_string(), secrets);
        if let Some(h) = backend::auth_hint(info.kind, e.status()) {
            text.push_str(&format!(" (hint: {h})"));
        }
        text
    };

    let mut checks = vec![Check {
        name: "address and token",
        error: None,
    }];
    let about = match backend.about() {
        Ok(a) => Some(a),
        Err(e) => {
            checks[0].error = Some(mask(&e));
            None
        }
    };
    let reached = about.is_some();
    for (name, kind) in [
        ("read custom plugins", Kind::CustomPlugin),
        ("read plugin instances", Kind::Plugin),
    ] {
        let error = if reached {
            probe(backend, kind).err().map(|e| mask(&e))
        } else {
            Some("not tried: the target did not answer".to_string())
        };
        checks.push(Check { name, error });
    }
    let about = about.unwrap_or_default();
    let profile = about
        .kong_version
        .as_deref()
        .map(ProfileName::for_kong_version);
    let (profile_name, profile_note) = match &profile {
        Some(Ok(p)) => (Some(p.as_str()), None),
        Some(Err(e)) => (None, Some(e.clone())),
        None if !reached => (None, Some("unknown: the target did not answer".to_string())),
        None => (
            None,
            Some(format!(
                "unknown until a data plane node connects; lint uses the default profile `{}`",
                crate::lua::DEFAULT_PROFILE.as_str()
            )),
        ),
    };
    let ok = checks.iter().all(|c| c.error.is_none());
    Ping {
        checks,
        about,
        profile: profile_name,
        profile_note,
        ok,
    }
}
