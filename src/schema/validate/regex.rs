//! The `is_regex` validator. Kong compiles the value with PCRE (`ngx.re.match`); no PCRE is
//! available here, so this is a structural check that only rejects what PCRE certainly rejects:
//! a trailing `\`, an unterminated character class, unbalanced parentheses, an unterminated
//! `(?#…)` comment, a quantifier with nothing to repeat (`*a`, `(+a)`, `a|?`, `a**`), and a
//! `{n,m}` quantifier with `n > m`. Anything subtler (bad escapes, bad group names, lookbehind
//! limits) passes: a false "valid" is preferred over rejecting a regex Kong accepts.

/// Whether `pattern` may be a valid PCRE regex (see the module notes for what is checked).
pub(super) fn is_plausible_regex(pattern: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n = p.len();
    let mut i = 0;
    let mut depth: usize = 0;
    // Whether the previous item can take a quantifier.
    let mut repeatable = false;
    while i < n {
        match p[i] {
            '\\' => {
                if i + 1 >= n {
                    return false;
                }
                if p[i + 1] == 'Q' {
                    // Literal text up to `\E` (or the end).
                    i += 2;
                    while i < n && !(p[i] == '\\' && i + 1 < n && p[i + 1] == 'E') {
                        i += 1;
                    }
                    i = (i + 2).min(n);
                    repeatable = true;
                    continue;
                }
                i += 2;
                repeatable = true;
                continue;
            }
            '[' => match class_end(&p, i) {
                Some(end) => {
                    i = end + 1;
                    repeatable = true;
                    continue;
                }
                None => return false,
            },
            '(' => {
                i += 1;
                if i < n && p[i] == '?' {
                    if i + 1 < n && p[i + 1] == '#' {
                        // A comment group: skip to its closing parenthesis.
                        match p[i..].iter().position(|c| *c == ')') {
                            Some(off) => {
                                i += off + 1;
                                continue;
                            }
                            None => return false,
                        }
                    }
                    i += 1;
                } else if i < n && p[i] == '*' {
                    // A verb such as `(*UTF8)` or `(*FAIL)`.
                    i += 1;
                }
                depth += 1;
                repeatable = false;
                continue;
            }
            ')' => {
                if depth == 0 {
                    return false;
                }
                depth -= 1;
                repeatable = true;
            }
            '|' => repeatable = false,
            '*' | '+' | '?' => {
                if !repeatable {
                    return false;
                }
                if i + 1 < n && matches!(p[i + 1], '?' | '+') {
                    i += 1;
                }
                repeatable = false;
            }
            '{' => {
                if let Some((end, ok)) = counted_quantifier(&p, i) {
                    if !repeatable || !ok {
                        return false;
                    }
                    i = end;
                    if i + 1 < n && matches!(p[i + 1], '?' | '+') {
                        i += 1;
                    }
                    repeatable = false;
                } else {
                    // Not a quantifier: a literal brace.
                    repeatable = true;
                }
            }
            _ => repeatable = true,
        }
        i += 1;
    }
    depth == 0
}

/// The index of the `]` closing the class opened at `start`, if any.
fn class_end(p: &[char], start: usize) -> Option<usize> {
    let n = p.len();
    let mut j = start + 1;
    if j < n && p[j] == '^' {
        j += 1;
    }
    // A `]` first in the class is literal.
    if j < n && p[j] == ']' {
        j += 1;
    }
    while j < n {
        match p[j] {
            '\\' => j += 2,
            '[' if j + 1 < n && matches!(p[j + 1], ':' | '.' | '=') => {
                let term = p[j + 1];
                let mut k = j + 2;
                while k + 1 < n && !(p[k] == term && p[k + 1] == ']') {
                    k += 1;
                }
                j = if k + 1 < n { k + 2 } else { j + 1 };
            }
            ']' => return Some(j),
            _ => j += 1,
        }
    }
    None
}

/// A `{n}`, `{n,}` or `{n,m}` quantifier starting at `start`: its closing index and whether its
/// bounds are in order. `None` when the brace is a literal.
fn counted_quantifier(p: &[char], start: usize) -> Option<(usize, bool)> {
    let close = start + p[start..].iter().position(|c| *c == '}')?;
    let body: String = p[start + 1..close].iter().collect();
    let (lo, hi) = match body.split_once(',') {
        Some((lo, hi)) => (lo, Some(hi)),
        None => (body.as_str(), None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(lo) {
        return None;
    }
    let ok = match hi {
        None | Some("") => true,
        Some(hi) if digits(hi) => match (lo.parse::<u64>(), hi.parse::<u64>()) {
            (Ok(lo), Ok(hi)) => lo <= hi,
            _ => true,
        },
        Some(_) => return None,
    };
    Some((close, ok))
}

#[cfg(test)]
mod tests {
    use super::is_plausible_regex;

    #[test]
    fn accepts_ordinary_regexes() {
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
            "(*UTF8)abc",
            "a*?b+?c??",
            "\\Q(*)\\E",
            "~/status/\\d+",
        ] {
            assert!(is_plausible_regex(re), "{re:?} should pass");
        }
    }

    #[test]
    fn rejects_certain_errors() {
        for re in [
            "abc\\",
            "[abc",
            "(abc",
            "abc)",
            "*abc",
            "a|*b",
            "(+a)",
            "a**",
            "a{3,2}",
            "(?#open",
            "[[:alpha:]",
        ] {
            assert!(!is_plausible_regex(re), "{re:?} should fail");
        }
    }
}
