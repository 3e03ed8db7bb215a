//! A linear pre-scan that bounds how deeply a Lua file nests, so the recursive full_moon parser
//! is never handed input that would overflow its stack.
//!
//! The estimate counts open brackets and blocks (`function`, `do`, `then`, `repeat`), plus the
//! operators that make the parser recurse without brackets (`not`, `#`, unary `-`, and the
//! right-associative `..` and `^`) since the last separator. It over-estimates rather than
//! under-estimates: LuaJIT itself refuses more than 200 syntax levels.

/// Estimated levels above which a file is not parsed at all.
pub(crate) const MAX_LEVELS: usize = 1_000;

/// Estimated levels up to which parsing on the caller's stack is safe.
pub(crate) const INLINE_LEVELS: usize = 24;

/// The deepest estimated nesting, and where it first went over [`MAX_LEVELS`] (1-based line and
/// column in characters).
pub(crate) struct Nesting {
    pub(crate) max: usize,
    pub(crate) too_deep_at: Option<(usize, usize)>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Prev {
    /// Start of file or after an operator, opener or separator: a `-` here is unary.
    Open,
    /// After a name, literal or closer: a `-` here is binary, a name starts a new statement.
    Value,
}

struct Scanner<'a> {
    bytes: &'a [u8],
    pos: usize,
    line: usize,
    column: usize,
}

impl Scanner<'_> {
    fn peek(&self, offset: usize) -> Option<u8> {
        self.bytes.get(self.pos + offset).copied()
    }

    fn bump(&mut self) {
        if let Some(&b) = self.bytes.get(self.pos) {
            self.pos += 1;
            if b == b'\n' {
                self.line += 1;
                self.column = 1;
            } else if b & 0xC0 != 0x80 {
                self.column += 1;
            }
        }
    }

    /// At `[` followed by `=`* and `[`: the number of `=`.
    fn long_bracket(&self) -> Option<usize> {
        if self.peek(0) != Some(b'[') {
            return None;
        }
        let mut level = 0;
        while self.peek(1 + level) == Some(b'=') {
            level += 1;
        }
        (self.peek(1 + level) == Some(b'[')).then_some(level)
    }

    /// Skips a long string or comment body whose opener (`level` `=`) starts here.
    fn skip_long(&mut self, level: usize) {
        for _ in 0..level + 2 {
            self.bump();
        }
        while self.pos < self.bytes.len() {
            if self.peek(0) == Some(b']') {
                let mut n = 0;
                while self.peek(1 + n) == Some(b'=') {
                    n += 1;
                }
                if n == level && self.peek(1 + n) == Some(b']') {
                    for _ in 0..level + 2 {
                        self.bump();
                    }
                    return;
                }
            }
            self.bump();
        }
    }

    fn skip_quoted(&mut self, quote: u8) {
        self.bump();
        while let Some(b) = self.peek(0) {
            match b {
                b'\\' => {
                    self.bump();
                    self.bump();
                }
                b'\n' => return,
                _ if b == quote => {
                    self.bump();
                    return;
                }
                _ => self.bump(),
            }
        }
    }
}

/// Scans `source` and estimates its nesting.
pub(crate) fn nesting(source: &str) -> Nesting {
    let mut s = Scanner {
        bytes: source.as_bytes(),
        pos: 0,
        line: 1,
        column: 1,
    };
    let mut frames = 0usize;
    let mut saved: Vec<usize> = Vec::new();
    let mut base = 0usize;
    let mut pressure = 0usize;
    let mut prev = Prev::Open;
    let mut result = Nesting {
        max: 0,
        too_deep_at: None,
    };

    while let Some(b) = s.peek(0) {
        let at = (s.line, s.column);
        let mut open = false;
        let mut close = false;
        let mut operator = false;
        let mut reset = false;
        let mut value = false;
        match b {
            b' ' | b'\t' | b'\r' | b'\n' | 0x0B | 0x0C => {
                s.bump();
                continue;
            }
            b'-' if s.peek(1) == Some(b'-') => {
                s.bump();
                s.bump();
                match s.long_bracket() {
                    Some(level) => s.skip_long(level),
                    None => {
                        while !matches!(s.peek(0), None | Some(b'\n')) {
                            s.bump();
                        }
                    }
                }
                continue;
            }
            b'"' | b'\'' => {
                s.skip_quoted(b);
                value = true;
            }
            b'[' if s.long_bracket().is_some() => {
                let level = s.long_bracket().unwrap_or(0);
                s.skip_long(level);
                value = true;
            }
            b'(' | b'{' | b'[' => {
                s.bump();
                open = true;
            }
            b')' | b'}' | b']' => {
                s.bump();
                close = true;
                value = true;
            }
            b'.' if s.peek(1) == Some(b'.') && s.peek(2) == Some(b'.') => {
                s.bump();
                s.bump();
                s.bump();
                value = true;
            }
            b'.' if s.peek(1) == Some(b'.') => {
                s.bump();
                s.bump();
                operator = true;
            }
            b'^' | b'#' => {
                s.bump();
                operator = true;
            }
            b'-' => {
                s.bump();
                operator = prev == Prev::Open;
            }
            b',' | b';' => {
                s.bump();
                reset = true;
            }
            b'=' if s.peek(1) != Some(b'=') => {
                s.bump();
                reset = true;
            }
            b'0'..=b'9' => {
                while matches!(s.peek(0), Some(c) if c.is_ascii_alphanumeric() || c == b'.' || c == b'_')
                {
                    let exponent = matches!(s.peek(0), Some(b'e' | b'E' | b'p' | b'P'));
                    s.bump();
                    if exponent && matches!(s.peek(0), Some(b'+' | b'-')) {
                        s.bump();
                    }
                }
                value = true;
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = s.pos;
                while matches!(s.peek(0), Some(c) if c.is_ascii_alphanumeric() || c == b'_') {
                    s.bump();
                }
                let word = &s.bytes[start..s.pos];
                match word {
                    b"function" | b"do" | b"then" | b"repeat" => {
                        open = true;
                        reset = word != b"function";
                    }
                    b"end" | b"until" => {
                        close = true;
                        reset = true;
                        value = word == b"end";
                    }
                    b"elseif" => {
                        close = true;
                        reset = true;
                    }
                    b"not" => operator = true,
                    b"and" | b"or" | b"in" => {}
                    b"local" | b"return" | b"if" | b"else" | b"while" | b"for" | b"break"
                    | b"goto" => reset = true,
                    b"nil" | b"true" | b"false" => value = true,
                    _ => {
                        if prev == Prev::Value {
                            reset = true; // two values in a row: a new statement
                        }
                        value = true;
                    }
                }
            }
            _ => {
                s.bump();
            }
        }

        if reset {
            pressure = 0;
        }
        if close && frames > 0 {
            frames -= 1;
            let restored = saved.pop().unwrap_or(0);
            base -= restored;
            pressure = restored;
        }
        if operator {
            pressure += 1;
        }
        if open {
            frames += 1;
            saved.push(pressure);
            base += pressure;
            pressure = 0;
        }
        let level = frames + base + pressure;
        if level > result.max {
            result.max = level;
        }
        if level > MAX_LEVELS && result.too_deep_at.is_none() {
            result.too_deep_at = Some(at);
        }
        prev = if value { Prev::Value } else { Prev::Open };
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_code_is_shallow() {
        let source = "local t = { a = { b = { c = 1 } } }\n\
                      function f(x)\n  if x then\n    for i = 1, 2 do\n      x = -x .. 'a' .. 'b'\n    end\n  end\nend";
        let n = nesting(source);
        assert!(n.max >= 4 && n.max <= 8, "{}", n.max);
        assert!(n.too_deep_at.is_none());
    }

    #[test]
    fn strings_and_comments_do_not_count() {
        let source = format!(
            "-- {}\n--[==[ {} ]==]\nlocal s = [[ {} ]] .. \"(((\" .. '{{{{'",
            "(".repeat(5000),
            "{".repeat(5000),
            "do ".repeat(5000)
        );
        assert!(nesting(&source).max < 5);
    }

    #[test]
    fn deep_nesting_of_every_kind_is_caught() {
        let deep = 2 * MAX_LEVELS;
        for source in [
            format!("return {}1", "(".repeat(deep)),
            format!("return {}", "{".repeat(deep)),
            format!("return {}1", "not ".repeat(deep)),
            format!("return {}1", "- ".repeat(deep)),
            format!("return 'a'{}", "..'a'".repeat(deep)),
            format!("return 2{}", "^2".repeat(deep)),
            "do ".repeat(deep),
            "if x then ".repeat(deep),
            "return function() return ".repeat(deep),
            format!("return {}1", "-(".repeat(deep)),
        ] {
            let n = nesting(&source);
            assert!(n.max > MAX_LEVELS, "{}", &source[..30]);
            assert_eq!(n.too_deep_at.map(|(line, _)| line), Some(1));
        }
    }

    #[test]
    fn balanced_blocks_do_not_accumulate() {
        let source = "if a then x() elseif b then y() else z() end\n".repeat(5000)
            + &"repeat x() until y\nwhile a do end\nfor i = 1, 2 do end\n".repeat(5000);
        assert!(nesting(&source).max < 5);
    }

    #[test]
    fn binary_minus_and_long_sums_do_not_count() {
        let source = format!("local x = 1{}", " - 1".repeat(5000));
        assert!(nesting(&source).max < 5);
    }
}
