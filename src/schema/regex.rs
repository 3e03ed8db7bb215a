//! Regexes as Kong compiles them: with PCRE2, through `ngx.re` (lua-nginx-module). Kong
//! compiles a value with PCRE2 wherever a schema says it is a regex: the `is_regex` validator
//! (`ngx.re.match("any string", value)`) and the regex form of router paths (`~/…`,
//! `typedefs.router_path`). plugsync compiles the same text with the same engine, PCRE2 built
//! from the source the `pcre2` crate bundles, so what Kong rejects is rejected here, with
//! PCRE2's own message and offset.
//!
//! The options are `ngx.re`'s without flags: no UTF mode (the pattern is bytes; `ngx.re` sets
//! UTF only for the `u` flag, which neither check passes), no JIT (it changes how a regex runs,
//! not whether it compiles). Lua patterns (`match`, `match_any`, …) are not regexes: see
//! `lua_pattern`.

use std::fmt;

/// Why PCRE2 refused a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegexError {
    /// PCRE2's message (`missing closing parenthesis`).
    pub message: String,
    /// Where PCRE2 stopped, in bytes from the start of the pattern (the pattern's length when
    /// the error is at its end).
    pub offset: usize,
}

impl fmt::Display for RegexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at offset {}", self.message, self.offset)
    }
}

impl std::error::Error for RegexError {}

/// Compiles `pattern` with PCRE2 as Kong does, keeping nothing: `Ok` when Kong would accept it
/// as a regex, else PCRE2's error.
pub fn compile_check(pattern: &str) -> Result<(), RegexError> {
    match pcre2::bytes::RegexBuilder::new().build(pattern) {
        Ok(_) => Ok(()),
        Err(e) => Err(RegexError {
            message: pcre2_message(&e),
            offset: e.offset().unwrap_or(pattern.len()),
        }),
    }
}

/// The error in the form lua-nginx-module reports a failed compile, which Kong quotes in its
/// messages: `pcre2_compile() failed: <message> in "<pattern>"`, then ` at "<rest>"` when
/// PCRE2 stopped before the end.
pub fn ngx_compile_error(pattern: &str, error: &RegexError) -> String {
    match pattern.as_bytes().get(error.offset..) {
        Some(rest) if !rest.is_empty() => format!(
            "pcre2_compile() failed: {} in \"{pattern}\" at \"{}\"",
            error.message,
            String::from_utf8_lossy(rest)
        ),
        _ => format!("pcre2_compile() failed: {} in \"{pattern}\"", error.message),
    }
}

/// PCRE2's own message. The crate gives it only inside its display form
/// (`PCRE2: error compiling pattern at offset N: <message>`), so the prefix is taken off.
fn pcre2_message(e: &pcre2::Error) -> String {
    let text = e.to_string();
    let prefix = match e.offset() {
        Some(offset) => format!("PCRE2: error compiling pattern at offset {offset}: "),
        None => "PCRE2: error compiling pattern: ".to_string(),
    };
    match text.strip_prefix(&prefix) {
        Some(message) => message.to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(pattern: &str) -> (String, usize) {
        let e = compile_check(pattern).expect_err(pattern);
        (e.message, e.offset)
    }

    #[test]
    fn accepts_what_pcre2_compiles() {
        for re in [
            "",
            "abc",
            "^/api/v\\d+/users$",
            "(?i)^foo(bar)?$",
            "[a-z]+",
            "[]a]",
            "[^]a]*",
            "[[:alpha:]]+",
            "a{2,3}",
            "a{2}+",
            "x{,3}",
            "{literal}",
            "(?<name>\\w+)",
            "(?#comment)a",
            "(*UTF)abc",
            "(*UTF8)abc",
            "(?<=a|bc)d",
            "a*?b+?c??",
            "\\Q(*)\\E",
            "~/status/\\d+",
            "(?<=ab)c",
            "\\x{ff}",
            "é+",
        ] {
            assert_eq!(compile_check(re), Ok(()), "{re:?}");
        }
    }

    /// PCRE2's words and offsets, pinned: they are Kong's, and show up in plugsync's messages.
    #[test]
    fn rejects_with_pcre2_message_and_offset() {
        let cases: &[(&str, &str, usize)] = &[
            ("abc\\", "\\ at end of pattern", 4),
            ("[abc", "missing terminating ] for character class", 4),
            ("(abc", "missing closing parenthesis", 4),
            ("abc)", "unmatched closing parenthesis", 3),
            ("*abc", "quantifier does not follow a repeatable item", 0),
            ("a|*b", "quantifier does not follow a repeatable item", 2),
            ("a**", "quantifier does not follow a repeatable item", 2),
            ("a{3,2}", "numbers out of order in {} quantifier", 5),
            ("(?#open", "missing ) after (?# comment", 7),
            (
                "[[:alpha:]",
                "missing terminating ] for character class",
                10,
            ),
            // What a structural check could not see.
            (
                "(?<=a+)b",
                "length of lookbehind assertion is not limited",
                0,
            ),
            ("(?<1a>x)", "subpattern name must start with a non-digit", 3),
            ("(?P<n>a)(?P=m)", "reference to non-existent subpattern", 12),
            ("[z-a]", "range out of order in character class", 3),
            ("(?z)", "unrecognized character after (? or (?-", 2),
            ("a{99999}", "number too big in {} quantifier", 7),
            (
                "\\k",
                "\\k is not followed by a braced, angle-bracketed, or quoted name",
                2,
            ),
        ];
        for (re, message, offset) in cases {
            assert_eq!(error(re), (message.to_string(), *offset), "{re:?}");
        }
    }

    #[test]
    fn nginx_form_of_the_error() {
        let e = compile_check("/foo)x").unwrap_err();
        assert_eq!(
            ngx_compile_error("/foo)x", &e),
            "pcre2_compile() failed: unmatched closing parenthesis in \"/foo)x\" at \")x\""
        );
        let e = compile_check("/foo(").unwrap_err();
        assert_eq!(
            ngx_compile_error("/foo(", &e),
            "pcre2_compile() failed: missing closing parenthesis in \"/foo(\""
        );
        assert_eq!(e.to_string(), "missing closing parenthesis at offset 5");
    }

    #[test]
    fn deep_nesting_is_refused_not_a_crash() {
        let deep = format!("{}a{}", "(".repeat(10_000), ")".repeat(10_000));
        let (message, _) = error(&deep);
        assert!(message.contains("too deeply nested"), "{message}");
    }
}
