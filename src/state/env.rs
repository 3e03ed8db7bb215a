//! `${{ env "PLUGSYNC_NAME" }}` templates (decK's `DECK_NAME` too).
//!
//! A template anywhere in a string value is replaced by the variable's value; the values are
//! secrets, collected so every renderer can mask them.

/// Where variables come from; `settings` passes the process environment, tests a map.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Whether `text` holds a template.
pub fn has_template(text: &str) -> bool {
    text.contains("${{")
}

/// plugsync's (and decK's) own credentials: a state file must not copy them into a config
/// that is uploaded to the control plane (the GitHub Action exports them to every step).
pub const CREDENTIAL_VARIABLES: &[&str] = &[
    "PLUGSYNC_KONNECT_TOKEN",
    "PLUGSYNC_KONNECT_TOKEN_FILE",
    "PLUGSYNC_KONG_ADMIN_TOKEN",
    "PLUGSYNC_SERVE_TOKEN",
    "DECK_KONNECT_TOKEN",
    "DECK_KONNECT_TOKEN_FILE",
    "DECK_KONNECT_PASSWORD",
    "DECK_KONNECT_PASSWORD_FILE",
    "DECK_HEADERS",
];

/// Substitutes every template in `text`. Returns the new text and the values substituted.
/// Errors are messages naming the problem (an unset variable, a malformed template, a name
/// outside `PLUGSYNC_*`/`DECK_*`, one of plugsync's own credentials).
pub fn substitute(text: &str, env: EnvLookup<'_>) -> Result<(String, Vec<String>), String> {
    substitute_named(text, env)
        .map(|(out, found)| (out, found.into_iter().map(|(_, v)| v).collect()))
}

/// [`substitute`], returning each value with the name of its variable.
pub fn substitute_named(
    text: &str,
    env: EnvLookup<'_>,
) -> Result<(String, Vec<(String, String)>), String> {
    let mut out = String::with_capacity(text.len());
    let mut secrets = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 3..];
        let Some(end) = after.find("}}") else {
            return Err("unterminated template: `${{` without `}}`".to_string());
        };
        let inner = after[..end].trim();
        let name = parse_env_call(inner).ok_or_else(|| {
            format!("malformed template `${{{{ {inner} }}}}`: expected `${{{{ env \"PLUGSYNC_NAME\" }}}}`")
        })?;
        if !(name.starts_with("PLUGSYNC_") || name.starts_with("DECK_")) {
            return Err(format!(
                "template names `{name}`: only variables named PLUGSYNC_* or DECK_* can be used"
            ));
        }
        if CREDENTIAL_VARIABLES.contains(&name) {
            return Err(format!(
                "template names `{name}`, plugsync's own credential: it cannot be copied into the state (use a variable of its own)"
            ));
        }
        let value = env(name).ok_or_else(|| format!("environment variable {name} is not set"))?;
        out.push_str(&value);
        secrets.push((name.to_string(), value));
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok((out, secrets))
}

/// Parses `env "NAME"` and returns `NAME`.
fn parse_env_call(inner: &str) -> Option<&str> {
    let rest = inner.strip_prefix("env")?;
    if !rest.starts_with(char::is_whitespace) {
        return None;
    }
    let rest = rest.trim_start();
    let name = rest.strip_prefix('"')?.strip_suffix('"')?;
    let valid = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    valid.then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "PLUGSYNC_KEY" => Some("s3cret".to_string()),
            "DECK_HOST" => Some("example.com".to_string()),
            _ => None,
        }
    }

    #[test]
    fn substitutes_and_collects_secrets() {
        let (out, secrets) = substitute(
            "key=${{ env \"PLUGSYNC_KEY\" }}@${{env \"DECK_HOST\"}}",
            &env,
        )
        .unwrap();
        assert_eq!(out, "key=s3cret@example.com");
        assert_eq!(secrets, vec!["s3cret", "example.com"]);
    }

    #[test]
    fn text_without_templates_is_unchanged() {
        assert_eq!(
            substitute("plain", &env).unwrap(),
            ("plain".to_string(), vec![])
        );
    }

    #[test]
    fn errors_name_the_problem() {
        let cases = [
            (
                "${{ env \"PLUGSYNC_MISSING\" }}",
                "PLUGSYNC_MISSING is not set",
            ),
            (
                "${{ env \"HOME\" }}",
                "only variables named PLUGSYNC_* or DECK_*",
            ),
            ("${{ env PLUGSYNC_KEY }}", "malformed template"),
            ("${{ env \"PLUGSYNC_KEY\" ", "unterminated template"),
            ("${{ envx \"PLUGSYNC_KEY\" }}", "malformed template"),
            (
                "Bearer ${{ env \"PLUGSYNC_KONG_ADMIN_TOKEN\" }}",
                "plugsync's own credential",
            ),
            ("${{ env \"PLUGSYNC_KONNECT_TOKEN\" }}", "own credential"),
            ("${{ env \"DECK_KONNECT_TOKEN\" }}", "own credential"),
        ];
        for (text, want) in cases {
            let err = substitute(text, &env).unwrap_err();
            assert!(err.contains(want), "{text}: {err}");
        }
    }
}
