//! Lua 5.1 patterns (`string.match` / `string.find` semantics), used by Kong's `match*`
//! validators and by the typedef validators in [`super::builtins`].
//!
//! Kong runs LuaJIT, whose pattern engine is Lua 5.1's (reference manual §5.4.1). This module
//! reimplements it over bytes:
//!
//! * single items: `.`, `%a %c %d %l %p %s %u %w %x %z` and their upper-case complements
//!   (C locale: bytes >= 128 belong to no class), `%` followed by any other byte (that byte
//!   literally), sets `[...]` with ranges, classes, `^` complement and a leading literal `]`;
//! * quantifiers `*` `+` `-` `?`, anchors `^` (first byte only) and `$` (last byte only),
//!   `%bxy`, `%f[set]`, captures `( )`, position captures `()`, back-references `%1`–`%9`.
//!
//! Like Lua 5.1 the pattern ends at its first NUL byte (`%z` matches a NUL in the subject).
//!
//! Two deliberate differences from Lua, both about failure:
//!
//! * A malformed pattern is reported up front, whatever the subject. Lua only raises the error
//!   when the matcher reaches the bad spot (so `("abc"):match("x%")` is `nil` in Lua but an
//!   error here); the message is Lua's either way.
//! * Matching is bounded: recursion deeper than 200 levels (LuaJIT's own limit) or more than
//!   [`MAX_STEPS`] matcher steps yields `Err("pattern too complex")`, so hostile patterns can
//!   neither overflow the stack nor hang.

/// Lua's `LUA_MAXCAPTURES`.
const MAX_CAPTURES: usize = 32;

/// Deepest recursion allowed in the matcher (LuaJIT's `LJ_MAX_XLEVEL`).
const MAX_DEPTH: usize = 200;

/// Most matcher steps one search may take before giving up with "pattern too complex".
pub const MAX_STEPS: u64 = 5_000_000;

const ERR_ENDS_WITH_ESCAPE: &str = "malformed pattern (ends with '%')";
const ERR_MISSING_BRACKET: &str = "malformed pattern (missing ']')";
const ERR_FRONTIER: &str = "missing '[' after '%f' in pattern";
const ERR_UNBALANCED: &str = "unbalanced pattern";
const ERR_CAPTURE_INDEX: &str = "invalid capture index";
const ERR_PATTERN_CAPTURE: &str = "invalid pattern capture";
const ERR_UNFINISHED: &str = "unfinished capture";
const ERR_TOO_MANY: &str = "too many captures";
const ERR_TOO_COMPLEX: &str = "pattern too complex";

/// Whether `pattern` matches anywhere in `subject` (as `subject:match(pattern) ~= nil`).
/// Errors describe a malformed pattern in Lua's words.
pub fn is_match(subject: &str, pattern: &str) -> Result<bool, String> {
    Ok(find_bytes(subject.as_bytes(), pattern.as_bytes())?.is_some())
}

/// Where `pattern` first matches in `subject`: the byte range `(start, end)` of the whole match
/// (0-based, `end` exclusive), or `None`. This is the span `subject:find(pattern)` reports,
/// except that a pattern with no special byte is still read as a pattern (Lua's `find` then
/// searches for it plainly, so `("x"):find("a)")` is `nil` there and an error here).
pub fn find(subject: &str, pattern: &str) -> Result<Option<(usize, usize)>, String> {
    find_bytes(subject.as_bytes(), pattern.as_bytes())
}

/// [`find`] over raw bytes, for subjects or patterns that are not UTF-8 (Lua strings are byte
/// strings; Kong's own patterns use bytes such as `\128-\244`).
pub fn find_bytes(subject: &[u8], pattern: &[u8]) -> Result<Option<(usize, usize)>, String> {
    let pat = until_nul(pattern);
    check_bytes(pat)?;
    let anchored = pat.first() == Some(&b'^');
    let body = if anchored { 1 } else { 0 };
    let mut matcher = Matcher {
        src: subject,
        pat,
        level: 0,
        captures: [(0, CapLen::Unfinished); MAX_CAPTURES],
        depth: 0,
        steps: 0,
    };
    let mut start = 0;
    loop {
        matcher.level = 0;
        matcher.depth = 0;
        if let Some(end) = matcher.do_match(start, body)? {
            return Ok(Some((start, end)));
        }
        start += 1;
        if anchored || start > subject.len() {
            return Ok(None);
        }
    }
}

/// Checks that `pattern` is well formed, without matching anything. The error is Lua's.
pub fn check(pattern: &str) -> Result<(), String> {
    check_bytes(until_nul(pattern.as_bytes()))
}

/// The pattern as Lua 5.1 sees it: up to its first NUL byte.
fn until_nul(pattern: &[u8]) -> &[u8] {
    match pattern.iter().position(|&b| b == 0) {
        Some(i) => &pattern[..i],
        None => pattern,
    }
}

/// Walks the pattern item by item, the way the matcher would read it, and reports the first
/// malformation in pattern order.
fn check_bytes(pat: &[u8]) -> Result<(), String> {
    let mut p = usize::from(pat.first() == Some(&b'^'));
    // For every capture opened so far (by index): whether its `)` has been seen.
    let mut closed: Vec<bool> = Vec::new();
    // Indices of the captures still open, innermost last.
    let mut open: Vec<usize> = Vec::new();
    while p < pat.len() {
        match pat[p] {
            b'(' => {
                if closed.len() >= MAX_CAPTURES {
                    return Err(ERR_TOO_MANY.to_string());
                }
                if pat.get(p + 1) == Some(&b')') {
                    closed.push(true);
                    p += 2;
                } else {
                    open.push(closed.len());
                    closed.push(false);
                    p += 1;
                }
                continue;
            }
            b')' => {
                let index = open.pop().ok_or(ERR_PATTERN_CAPTURE)?;
                closed[index] = true;
                p += 1;
                continue;
            }
            b'$' if p + 1 == pat.len() => {
                p += 1;
                continue;
            }
            b'%' => match pat.get(p + 1).copied() {
                Some(b'b') => {
                    if p + 3 >= pat.len() {
                        return Err(ERR_UNBALANCED.to_string());
                    }
                    p += 4;
                    continue;
                }
                Some(b'f') => {
                    p += 2;
                    if pat.get(p) != Some(&b'[') {
                        return Err(ERR_FRONTIER.to_string());
                    }
                    p = class_end(pat, p)?;
                    continue;
                }
                Some(d) if d.is_ascii_digit() => {
                    let ok = d != b'0' && closed.get(usize::from(d - b'1')) == Some(&true);
                    if !ok {
                        return Err(ERR_CAPTURE_INDEX.to_string());
                    }
                    p += 2;
                    continue;
                }
                _ => {}
            },
            _ => {}
        }
        let ep = class_end(pat, p)?;
        p = match pat.get(ep) {
            Some(b'?' | b'*' | b'+' | b'-') => ep + 1,
            _ => ep,
        };
    }
    if open.is_empty() {
        Ok(())
    } else {
        Err(ERR_UNFINISHED.to_string())
    }
}

/// The index just past the single-byte item (`.`, `%x`, `[set]` or a literal) starting at `p`.
fn class_end(pat: &[u8], p: usize) -> Result<usize, String> {
    let mut p = p;
    let first = pat[p];
    p += 1;
    match first {
        b'%' => {
            if p >= pat.len() {
                return Err(ERR_ENDS_WITH_ESCAPE.to_string());
            }
            Ok(p + 1)
        }
        b'[' => {
            if pat.get(p) == Some(&b'^') {
                p += 1;
            }
            // The first byte of a set is always a member, so `[]]` and `[^]]` are valid.
            loop {
                let Some(&c) = pat.get(p) else {
                    return Err(ERR_MISSING_BRACKET.to_string());
                };
                p += 1;
                if c == b'%' && p < pat.len() {
                    p += 1;
                }
                if pat.get(p) == Some(&b']') {
                    return Ok(p + 1);
                }
            }
        }
        _ => Ok(p),
    }
}

/// Whether byte `c` belongs to the class letter `cl` (`%a`, `%D`, …). Any other letter stands
/// for itself.
fn match_class(c: u8, cl: u8) -> bool {
    let res = match cl.to_ascii_lowercase() {
        b'a' => c.is_ascii_alphabetic(),
        b'c' => c.is_ascii_control(),
        b'd' => c.is_ascii_digit(),
        b'l' => c.is_ascii_lowercase(),
        b'p' => c.is_ascii_punctuation(),
        b's' => matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'),
        b'u' => c.is_ascii_uppercase(),
        b'w' => c.is_ascii_alphanumeric(),
        b'x' => c.is_ascii_hexdigit(),
        b'z' => c == 0,
        _ => return cl == c,
    };
    if cl.is_ascii_uppercase() {
        !res
    } else {
        res
    }
}

/// Whether byte `c` is in the set `pat[open..=close]` (`open` at `[`, `close` at its `]`).
fn match_bracket_class(pat: &[u8], c: u8, open: usize, close: usize) -> bool {
    let mut p = open + 1;
    let mut member = true;
    if pat[p] == b'^' {
        member = false;
        p += 1;
    }
    while p < close {
        if pat[p] == b'%' {
            p += 1;
            if match_class(c, pat[p]) {
                return member;
            }
            p += 1;
        } else if pat[p + 1] == b'-' && p + 2 < close {
            if pat[p] <= c && c <= pat[p + 2] {
                return member;
            }
            p += 3;
        } else {
            if pat[p] == c {
                return member;
            }
            p += 1;
        }
    }
    !member
}

/// Whether byte `c` matches the single item `pat[p..ep]`.
fn single_match(pat: &[u8], c: u8, p: usize, ep: usize) -> bool {
    match pat[p] {
        b'.' => true,
        b'%' => match_class(c, pat[p + 1]),
        b'[' => match_bracket_class(pat, c, p, ep - 1),
        literal => literal == c,
    }
}

/// The length of a capture, Lua's `CAP_UNFINISHED` / `CAP_POSITION` included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CapLen {
    Unfinished,
    Position,
    Len(usize),
}

/// Outcome of matching from a point: `Ok(Some(end))` on success, `Ok(None)` on failure.
type Step = Result<Option<usize>, String>;

/// One search: Lua's `MatchState`, plus the depth and step budgets.
struct Matcher<'a> {
    src: &'a [u8],
    pat: &'a [u8],
    level: usize,
    captures: [(usize, CapLen); MAX_CAPTURES],
    depth: usize,
    steps: u64,
}

impl Matcher<'_> {
    /// Spends `n` steps of the budget.
    fn tick(&mut self, n: u64) -> Result<(), String> {
        self.steps += n;
        if self.steps > MAX_STEPS {
            Err(ERR_TOO_COMPLEX.to_string())
        } else {
            Ok(())
        }
    }

    /// Matches `pat[p..]` against `src[s..]`, one recursion level deeper.
    fn do_match(&mut self, s: usize, p: usize) -> Step {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ERR_TOO_COMPLEX.to_string());
        }
        let result = self.match_here(s, p);
        self.depth -= 1;
        result
    }

    /// The body of Lua's `match`, tail calls turned into a loop.
    fn match_here(&mut self, mut s: usize, mut p: usize) -> Step {
        let pat = self.pat;
        let src = self.src;
        loop {
            self.tick(1)?;
            let Some(&pc) = pat.get(p) else {
                return Ok(Some(s));
            };
            match pc {
                b'(' => {
                    return if pat.get(p + 1) == Some(&b')') {
                        self.start_capture(s, p + 2, CapLen::Position)
                    } else {
                        self.start_capture(s, p + 1, CapLen::Unfinished)
                    };
                }
                b')' => return self.end_capture(s, p + 1),
                b'$' if p + 1 == pat.len() => {
                    return Ok((s == src.len()).then_some(s));
                }
                b'%' => match pat.get(p + 1).copied() {
                    Some(b'b') => match self.match_balance(s, p + 2)? {
                        Some(next) => {
                            s = next;
                            p += 4;
                            continue;
                        }
                        None => return Ok(None),
                    },
                    Some(b'f') => {
                        p += 2;
                        if pat.get(p) != Some(&b'[') {
                            return Err(ERR_FRONTIER.to_string());
                        }
                        let ep = class_end(pat, p)?;
                        let previous = if s == 0 { 0 } else { src[s - 1] };
                        let current = src.get(s).copied().unwrap_or(0);
                        if !match_bracket_class(pat, previous, p, ep - 1)
                            && match_bracket_class(pat, current, p, ep - 1)
                        {
                            p = ep;
                            continue;
                        }
                        return Ok(None);
                    }
                    Some(d) if d.is_ascii_digit() => match self.match_capture(s, d)? {
                        Some(next) => {
                            s = next;
                            p += 2;
                            continue;
                        }
                        None => return Ok(None),
                    },
                    _ => {}
                },
                _ => {}
            }
            // A single-byte item, maybe followed by a quantifier.
            let ep = class_end(pat, p)?;
            let matched = s < src.len() && single_match(pat, src[s], p, ep);
            match pat.get(ep) {
                Some(b'?') => {
                    if matched {
                        if let Some(end) = self.do_match(s + 1, ep + 1)? {
                            return Ok(Some(end));
                        }
                    }
                    p = ep + 1;
                }
                Some(b'*') => return self.max_expand(s, p, ep),
                Some(b'+') => {
                    return if matched {
                        self.max_expand(s + 1, p, ep)
                    } else {
                        Ok(None)
                    };
                }
                Some(b'-') => return self.min_expand(s, p, ep),
                _ => {
                    if !matched {
                        return Ok(None);
                    }
                    s += 1;
                    p = ep;
                }
            }
        }
    }

    /// Greedy repetition (`*`, `+`): as many as possible, then back off one at a time.
    fn max_expand(&mut self, s: usize, p: usize, ep: usize) -> Step {
        let mut count = 0;
        while s + count < self.src.len() && single_match(self.pat, self.src[s + count], p, ep) {
            count += 1;
        }
        self.tick(count as u64)?;
        loop {
            if let Some(end) = self.do_match(s + count, ep + 1)? {
                return Ok(Some(end));
            }
            if count == 0 {
                return Ok(None);
            }
            count -= 1;
        }
    }

    /// Lazy repetition (`-`): as few as possible, one more at a time.
    fn min_expand(&mut self, mut s: usize, p: usize, ep: usize) -> Step {
        loop {
            if let Some(end) = self.do_match(s, ep + 1)? {
                return Ok(Some(end));
            }
            if s < self.src.len() && single_match(self.pat, self.src[s], p, ep) {
                s += 1;
            } else {
                return Ok(None);
            }
        }
    }

    fn start_capture(&mut self, s: usize, p: usize, what: CapLen) -> Step {
        if self.level >= MAX_CAPTURES {
            return Err(ERR_TOO_MANY.to_string());
        }
        self.captures[self.level] = (s, what);
        self.level += 1;
        let result = self.do_match(s, p)?;
        if result.is_none() {
            self.level -= 1;
        }
        Ok(result)
    }

    fn end_capture(&mut self, s: usize, p: usize) -> Step {
        let index = (0..self.level)
            .rev()
            .find(|&i| self.captures[i].1 == CapLen::Unfinished)
            .ok_or(ERR_PATTERN_CAPTURE)?;
        self.captures[index].1 = CapLen::Len(s - self.captures[index].0);
        let result = self.do_match(s, p)?;
        if result.is_none() {
            self.captures[index].1 = CapLen::Unfinished;
        }
        Ok(result)
    }

    /// `%bxy`: `p` is at `x`.
    fn match_balance(&mut self, s: usize, p: usize) -> Step {
        if p + 1 >= self.pat.len() {
            return Err(ERR_UNBALANCED.to_string());
        }
        let (open, close) = (self.pat[p], self.pat[p + 1]);
        if self.src.get(s) != Some(&open) {
            return Ok(None);
        }
        let mut depth = 1usize;
        for i in s + 1..self.src.len() {
            self.tick(1)?;
            let c = self.src[i];
            if c == close {
                depth -= 1;
                if depth == 0 {
                    return Ok(Some(i + 1));
                }
            } else if c == open {
                depth += 1;
            }
        }
        Ok(None)
    }

    /// `%1`–`%9`: the text of a closed capture, again.
    fn match_capture(&mut self, s: usize, digit: u8) -> Step {
        let index = usize::from(digit.wrapping_sub(b'1'));
        if digit == b'0' || index >= self.level {
            return Err(ERR_CAPTURE_INDEX.to_string());
        }
        let (init, len) = self.captures[index];
        match len {
            CapLen::Unfinished => Err(ERR_CAPTURE_INDEX.to_string()),
            // Lua compares against the length -2 read as unsigned: never matches.
            CapLen::Position => Ok(None),
            CapLen::Len(len) => {
                self.tick(len as u64)?;
                let same =
                    self.src.len() - s >= len && self.src[init..init + len] == self.src[s..s + len];
                Ok(same.then_some(s + len))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(subject, pattern, expected find result)`; `None` = no match.
    type FindCase = (&'static str, &'static str, Option<(usize, usize)>);

    const FIND_CASES: &[FindCase] = &[
        // Literals, unanchored search.
        ("hello", "hello", Some((0, 5))),
        ("say hello", "hello", Some((4, 9))),
        ("hello", "world", None),
        ("", "", Some((0, 0))),
        ("abc", "", Some((0, 0))),
        ("", "a", None),
        // Anchors.
        ("hello", "^hello$", Some((0, 5))),
        ("hello!", "^hello$", None),
        ("say hello", "^hello", None),
        ("hello", "^", Some((0, 0))),
        ("hello", "$", Some((5, 5))),
        ("hello", "o$", Some((4, 5))),
        ("a^b", "a^b", Some((0, 3))),
        ("a$b", "a$b", Some((0, 3))),
        ("^a", "^^a", Some((0, 2))),
        ("$", "^$$", Some((0, 1))),
        // Any byte.
        ("abc", "a.c", Some((0, 3))),
        ("a\nc", "a.c", Some((0, 3))),
        ("ac", "a.c", None),
        // Classes.
        ("abc123", "%d+", Some((3, 6))),
        ("abc123", "%a+", Some((0, 3))),
        ("ABCdef", "%l+", Some((3, 6))),
        ("ABCdef", "%u+", Some((0, 3))),
        ("a b", "%s", Some((1, 2))),
        ("a\tb", "%s", Some((1, 2))),
        ("a\x0bb", "%s", Some((1, 2))),
        ("ab,c", "%p", Some((2, 3))),
        ("ab~c", "%p", Some((2, 3))),
        ("a\x01b", "%c", Some((1, 2))),
        ("a\x7fb", "%c", Some((1, 2))),
        ("xyz_09", "%w+", Some((0, 3))),
        ("zBEEF0g", "%x+", Some((1, 6))),
        ("a\0b", "%z", Some((1, 2))),
        ("\0\0a", "%Z", Some((2, 3))),
        ("123abc", "%D+", Some((3, 6))),
        ("abc 123", "%S+", Some((0, 3))),
        ("ab12", "%A", Some((2, 3))),
        ("AB12", "%L", Some((0, 1))),
        ("ab12", "%U", Some((0, 1))),
        ("ab,12", "%P+", Some((0, 2))),
        ("ab,12", "%W", Some((2, 3))),
        ("ab\x01", "%C+", Some((0, 2))),
        ("fgh", "%X", Some((1, 2))),
        // Non-ASCII bytes are in no class.
        ("é", "%a", None),
        ("é", "%A", Some((0, 1))),
        ("é", "%p", None),
        // Escapes of non-alphanumerics, and of letters that are not classes.
        ("a.b", "a%.b", Some((0, 3))),
        ("axb", "a%.b", None),
        ("100%", "%d+%%", Some((0, 4))),
        ("(x)", "%(x%)", Some((0, 3))),
        ("[x]", "%[x%]", Some((0, 3))),
        ("a+b", "a%+b", Some((0, 3))),
        ("a-b", "a%-b", Some((0, 3))),
        ("gq", "%g%q", Some((0, 2))),
        // Sets.
        ("hello", "[aeiou]", Some((1, 2))),
        ("hello", "[^aeiou]+", Some((0, 1))),
        ("hello", "[a-f]", Some((1, 2))),
        ("x-y", "[-]", Some((1, 2))),
        ("x-y", "[a-]", Some((1, 2))),
        ("x-y", "[%-]", Some((1, 2))),
        ("a]b", "[]]", Some((1, 2))),
        ("]]a", "[^]]", Some((2, 3))),
        ("a]b", "[%]]", Some((1, 2))),
        ("a^b", "[b^]", Some((1, 2))),
        ("a^b", "[%^]", Some((1, 2))),
        ("ab1", "[%d]", Some((2, 3))),
        ("ab1", "[%a%d]+", Some((0, 3))),
        ("ab1", "[^%a]", Some((2, 3))),
        ("a%b", "[%%]", Some((1, 2))),
        ("z", "[a-]", None),
        ("b", "[%a-z]", Some((0, 1))),
        ("-", "[%a-z]", Some((0, 1))),
        ("m", "[a-c-z]", None),
        ("-", "[a-c-z]", Some((0, 1))),
        ("\u{e9}", "[\u{80}-\u{10ffff}]", Some((0, 1))),
        // Quantifiers.
        ("aaa", "a*", Some((0, 3))),
        ("bbb", "a*", Some((0, 0))),
        ("aaab", "a+b", Some((0, 4))),
        ("b", "a+b", None),
        ("ab", "a?b", Some((0, 2))),
        ("b", "a?b", Some((0, 1))),
        ("aab", "a?ab", Some((0, 3))),
        ("<a><b>", "<.->", Some((0, 3))),
        ("<a><b>", "<.*>", Some((0, 6))),
        ("abc", "a.-c", Some((0, 3))),
        ("abc", "a-b", Some((0, 2))),
        ("aaa", "a-$", Some((0, 3))),
        ("xaaay", "a-y", Some((1, 5))),
        ("a*", "a%*", Some((0, 2))),
        ("a", "a**", None),
        ("a*", "a**", Some((0, 2))),
        ("*", "*", Some((0, 1))),
        ("+a", "+a", Some((0, 2))),
        ("?", "^?$", Some((0, 1))),
        ("-x", "-x", Some((0, 2))),
        // Backtracking.
        ("aaab", "^a*ab$", Some((0, 4))),
        ("abcabc", "^(.*)c$", Some((0, 6))),
        ("key=value", "^([^=]+)=(.*)$", Some((0, 9))),
        // Captures and position captures.
        ("hello world", "(o)(r)", Some((7, 9))),
        ("hello", "()ll()", Some((2, 4))),
        ("hello", "(h)(e)(l)(l)(o)", Some((0, 5))),
        ("abc", "()", Some((0, 0))),
        // Back-references.
        ("abab", "^(ab)%1$", Some((0, 4))),
        ("abac", "^(ab)%1$", None),
        ("say \"hi\" 'x'", "([\"'])(.-)%1", Some((4, 8))),
        ("xx==yy", "(=+)", Some((2, 4))),
        ("aa", "(a)%1", Some((0, 2))),
        ("a", "()a%1", None),
        ("abcabc", "(a(b)c)%2", None),
        ("abcb", "(a(b)c)%2", Some((0, 4))),
        ("abcabc", "(a(b)c)%1", Some((0, 6))),
        // Balanced.
        ("f(a(b)c) d", "%b()", Some((1, 8))),
        ("f(a(b c) d", "%b()", Some((3, 8))),
        ("((", "%b()", None),
        ("x[[a]]y", "%b[]", Some((1, 6))),
        ("\"ab\"c", "%b\"\"", Some((0, 4))),
        ("(a)b", "^%b()b$", Some((0, 4))),
        ("(a)", "%b()*", None),
        ("(a)*", "%b()*", Some((0, 4))),
        // Frontier.
        ("THE (quick) fox", "%f[%a]%a+", Some((0, 3))),
        ("hello world", "%f[%w]%w+$", Some((6, 11))),
        ("foo", "%f[%a]", Some((0, 0))),
        ("foo", "%f[%A]", Some((3, 3))),
        ("foobar bar", "%f[%w]bar", Some((7, 10))),
        ("the cat", "%f[%l]cat%f[%L]", Some((4, 7))),
        ("concat", "%f[%l]cat%f[%L]", None),
        ("a\0b", "%f[%z]", Some((1, 1))),
        // Kong's own patterns.
        ("GET", "^%u+$", Some((0, 3))),
        ("get", "^%u+$", None),
        ("G3T", "^%u+$", None),
        ("my-plugin_1.0~x", "^[%w%.%-%_~]+$", Some((0, 15))),
        ("my plugin", "^[%w%.%-%_~]+$", None),
        (
            "/a-b_c.d~/%20:@!$&'()*+,;=",
            "^/[%w%.%-%_%~%/%%%:%@%!%$%&%'%(%)%*%+%,%;%=]*$",
            Some((0, 26)),
        ),
        (
            "/a b",
            "^/[%w%.%-%_%~%/%%%:%@%!%$%&%'%(%)%*%+%,%;%=]*$",
            None,
        ),
        (
            "/a?b",
            "^/[%w%.%-%_%~%/%%%:%@%!%$%&%'%(%)%*%+%,%;%=]*$",
            None,
        ),
        ("a/", "^/[%w%.%-%_%~%/%%%:%@%!%$%&%'%(%)%*%+%,%;%=]*$", None),
        ("/a//b", "//", Some((2, 4))),
        ("/a/b", "//", None),
        ("1.2.3", "^%d+[%.%d]*$", Some((0, 5))),
        ("1.2.3-beta", "^%d+[%.%d]*%-?.*$", Some((0, 10))),
        ("1..2", "%.%.", Some((1, 3))),
        ("*.example.com", "^[^*]*%*?[^*]*$", Some((0, 13))),
        ("*.ex*ample.com", "^[^*]*%*?[^*]*$", None),
        ("*.example.com", "^%*%.", Some((0, 2))),
        ("example.*", "%.%*$", Some((7, 9))),
        ("Host", "^[Hh][Oo][Ss][Tt]$", Some((0, 4))),
        ("~/regex$", "^~/", Some((0, 2))),
        (
            "192.168.0.1",
            "^(%d%d?%d?)%.(%d%d?%d?)%.(%d%d?%d?)%.(%d%d?%d?)$",
            Some((0, 11)),
        ),
        (
            "1234.1.1.1",
            "^(%d%d?%d?)%.(%d%d?%d?)%.(%d%d?%d?)%.(%d%d?%d?)$",
            None,
        ),
        ("[::1]:80", "^(%b[])(.-)$", Some((0, 8))),
        ("example.com:8080", ":(%d+)$", Some((11, 16))),
        // The pattern ends at its first NUL, as in Lua 5.1.
        ("ab", "a\0zzz", Some((0, 1))),
        ("", "\0", Some((0, 0))),
    ];

    /// Lua 5.1's own `string.find` (mlua's vendored interpreter), as `"start,end"` (0-based,
    /// end exclusive), `"nil"` or `"error: <message>"`.
    fn lua_find() -> impl Fn(&str, &str) -> String {
        let lua = mlua::Lua::new();
        let function: mlua::Function = lua
            .load(
                "return function(s, p) local ok, a, b = pcall(string.find, s, p)\n\
                 if not ok then return 'error: ' .. a end\n\
                 if a == nil then return 'nil' end\n\
                 return (a - 1) .. ',' .. b end",
            )
            .eval()
            .expect("lua helper");
        move |subject, pattern| {
            let _keep_alive = &lua;
            function.call((subject, pattern)).expect("call")
        }
    }

    fn render(result: Option<(usize, usize)>) -> String {
        match result {
            None => "nil".to_string(),
            Some((a, b)) => format!("{a},{b}"),
        }
    }

    #[test]
    fn find_matches_lua() {
        let lua = lua_find();
        for &(subject, pattern, expected) in FIND_CASES {
            assert_eq!(
                find(subject, pattern),
                Ok(expected),
                "find({subject:?}, {pattern:?})"
            );
            assert_eq!(
                is_match(subject, pattern),
                Ok(expected.is_some()),
                "is_match({subject:?}, {pattern:?})"
            );
            // Lua's `find` searches plainly when the pattern has no special byte, NUL included.
            if !pattern.contains('\0') {
                assert_eq!(
                    render(expected),
                    lua(subject, pattern),
                    "Lua disagrees on {subject:?}, {pattern:?}"
                );
            }
        }
    }

    #[test]
    fn byte_patterns() {
        // Kong's tag pattern, with raw bytes.
        let tag: &[u8] = b"^[ \x21-\x2b\x2d\x2e\x30-\x7e\x80-\xf4]+$";
        assert_eq!(find_bytes(b"tag-1 ok", tag), Ok(Some((0, 8))));
        assert_eq!(find_bytes("caf\u{e9}".as_bytes(), tag), Ok(Some((0, 5))));
        assert_eq!(find_bytes(b"a,b", tag), Ok(None));
        assert_eq!(find_bytes(b"a/b", tag), Ok(None));
        assert_eq!(find_bytes(b"a\x01b", tag), Ok(None));
        assert_eq!(find_bytes(b"\xf5", tag), Ok(None));
        // Ranges compare bytes unsigned.
        assert_eq!(find_bytes(b"\xff", b"[\x80-\xff]"), Ok(Some((0, 1))));
        assert_eq!(find_bytes(b"\x7f", b"[\x80-\xff]"), Ok(None));
    }

    /// `(pattern, Lua's error)`.
    const ERROR_CASES: &[(&str, &str)] = &[
        ("%", "malformed pattern (ends with '%')"),
        ("abc%", "malformed pattern (ends with '%')"),
        ("[a%", "malformed pattern (missing ']')"),
        ("[", "malformed pattern (missing ']')"),
        ("[a", "malformed pattern (missing ']')"),
        ("[^", "malformed pattern (missing ']')"),
        ("[]", "malformed pattern (missing ']')"),
        ("[^]", "malformed pattern (missing ']')"),
        ("[%]", "malformed pattern (missing ']')"),
        ("x[a-", "malformed pattern (missing ']')"),
        ("%f", "missing '[' after '%f' in pattern"),
        ("%fa", "missing '[' after '%f' in pattern"),
        ("%f[a", "malformed pattern (missing ']')"),
        ("%b", "unbalanced pattern"),
        ("%b(", "unbalanced pattern"),
        ("%1", "invalid capture index"),
        ("%0", "invalid capture index"),
        ("(a)%2", "invalid capture index"),
        ("(a%1)", "invalid capture index"),
        ("()%9", "invalid capture index"),
        (")", "invalid pattern capture"),
        ("a)", "invalid pattern capture"),
        ("(a))", "invalid pattern capture"),
        ("(", "unfinished capture"),
        ("(a", "unfinished capture"),
        ("((a)", "unfinished capture"),
        (
            "()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()",
            "too many captures",
        ),
    ];

    #[test]
    fn malformed_patterns_fail_with_luas_message() {
        for &(pattern, message) in ERROR_CASES {
            for subject in ["", "abc", "(a)(b)"] {
                assert_eq!(
                    is_match(subject, pattern),
                    Err(message.to_string()),
                    "is_match({subject:?}, {pattern:?})"
                );
            }
            assert_eq!(
                check(pattern),
                Err(message.to_string()),
                "check({pattern:?})"
            );
        }
    }

    #[test]
    fn thirty_two_captures_are_allowed() {
        let pattern = "()".repeat(32);
        assert_eq!(is_match("x", &pattern), Ok(true));
        assert_eq!(check(&pattern), Ok(()));
        assert_eq!(check("(%d+)-(%a+)"), Ok(()));
    }

    #[test]
    fn deep_recursion_is_bounded() {
        // Each `a?` recurses once: 300 of them exceed the depth limit instead of the stack.
        let pattern = "a?".repeat(300);
        assert_eq!(
            is_match(&"a".repeat(300), &pattern),
            Err("pattern too complex".to_string())
        );
        let nested = format!("{}a{}", "(".repeat(31), ")".repeat(31));
        assert_eq!(is_match("a", &nested), Ok(true));
        // A long pattern of plain items does not recurse at all.
        let long = "a".repeat(10_000);
        assert_eq!(is_match(&long, &long), Ok(true));
    }

    #[test]
    fn catastrophic_backtracking_is_bounded() {
        let subject = "a".repeat(40);
        assert_eq!(
            is_match(&subject, "a*a*a*a*a*a*a*b"),
            Err("pattern too complex".to_string())
        );
        assert_eq!(
            is_match(&subject, "(.-)(.-)(.-)(.-)(.-)$b"),
            Err("pattern too complex".to_string())
        );
        // Long but linear work stays within budget.
        let long = "x".repeat(100_000);
        assert_eq!(is_match(&long, "^x*$"), Ok(true));
        assert_eq!(is_match(&long, "y"), Ok(false));
    }

    /// A tiny deterministic generator for the differential test.
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self, n: usize) -> usize {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((self.0 >> 33) % n as u64) as usize
        }
    }

    /// Compares with the real Lua 5.1 `string.find` on many generated patterns and subjects.
    #[test]
    fn agrees_with_lua_5_1() {
        let lua = lua_find();
        const PIECES: &[&str] = &[
            "a", "b", "c", ".", "%a", "%d", "%s", "%W", "%z", "[ab]", "[^a]", "[a-c]", "[%d_]",
            "[]]", "[^]a]", "[a-]", "[%a-]", "*", "+", "-", "?", "(", ")", "()", "%1", "%2", "%0",
            "%b()", "%bab", "%b", "%f[%w]", "%f[%W]", "%f", "$", "^", "%%", "%.", "%", "[", "]",
            "x", "1", " ",
        ];
        const SUBJECT_BYTES: &[u8] = b"abcx1 _(%).]";
        let mut rng = Lcg(42);
        let (mut compared, mut failed) = (0, 0);
        for _ in 0..30_000 {
            let pattern: String = (0..1 + rng.next(7))
                .map(|_| PIECES[rng.next(PIECES.len())])
                .collect();
            let subject: String = (0..rng.next(12))
                .map(|_| char::from(SUBJECT_BYTES[rng.next(SUBJECT_BYTES.len())]))
                .collect();
            let theirs = lua(&subject, &pattern);
            match find(&subject, &pattern) {
                Ok(result) => {
                    assert_eq!(render(result), theirs, "find({subject:?}, {pattern:?})");
                    compared += 1;
                }
                Err(message) => {
                    failed += 1;
                    // Lua reports malformations lazily (and `find` searches plainly when no
                    // byte is special); when it does fail, it says what we say.
                    assert_eq!(check(&pattern), Err(message.clone()));
                    if let Some(lua_message) = theirs.strip_prefix("error: ") {
                        assert_eq!(message, lua_message, "find({subject:?}, {pattern:?})");
                    }
                }
            }
        }
        assert!(failed > 1_000, "only {failed} malformed patterns");
        assert!(compared > 10_000, "only {compared} comparisons");
    }
}
