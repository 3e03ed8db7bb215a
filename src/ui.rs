//! The printer: data on stdout, status, warnings and errors on stderr. Colour only on a TTY
//! and never with `NO_COLOR`.

use std::io::{self, Write};

/// `eprintln!` that never panics: when stderr is closed (its reader went away), the line is
/// lost instead of the process ending with a panic (exit 101).
#[macro_export]
macro_rules! eline {
    ($($arg:tt)*) => {
        $crate::ui::write_stderr(&format!("{}\n", format_args!($($arg)*)))
    };
}

/// `eprint!` that never panics (see [`eline!`](crate::eline)).
#[macro_export]
macro_rules! etext {
    ($($arg:tt)*) => {
        $crate::ui::write_stderr(&format!($($arg)*))
    };
}

/// Writes to stderr, ignoring errors.
pub fn write_stderr(text: &str) {
    let text = terminal_safe(text);
    let mut err = io::stderr().lock();
    let _ = err.write_all(text.as_bytes());
    let _ = err.flush();
}

/// Where and how output goes.
#[derive(Debug, Clone)]
pub struct Printer {
    /// Colour stdout output.
    pub color_stdout: bool,
    /// Colour stderr output.
    pub color_stderr: bool,
    /// `-q`: no status lines.
    pub quiet: bool,
    /// `-v` count.
    pub verbose: u8,
}

/// Text as it may reach a terminal: control characters from the data a server or a file
/// supplied (escape sequences that clear the screen, set the window title or move the cursor,
/// bells, carriage returns that overwrite a line) are dropped. Newlines, tabs and colour
/// (SGR: `ESC [ digits/; m`) sequences stay.
pub fn terminal_safe(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() && c != '\n' && c != '\t';
    if !text.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if c == '\u{1b}' {
            let seq = rest[1..]
                .strip_prefix('[')
                .map(|after| {
                    after.len()
                        - after
                            .trim_start_matches(|d: char| d.is_ascii_digit() || d == ';')
                            .len()
                })
                .filter(|n| rest[2 + n..].starts_with('m'));
            if let Some(n) = seq {
                out.push_str(&rest[..3 + n]);
                rest = &rest[3 + n..];
                continue;
            }
        } else if !unsafe_char(c) {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    std::borrow::Cow::Owned(out)
}

/// ANSI styles used by the renderers.
#[derive(Debug, Clone, Copy)]
pub enum Style {
    Red,
    Yellow,
    Green,
    Cyan,
    Bold,
    Dim,
}

impl Style {
    fn code(self) -> &'static str {
        match self {
            Style::Red => "\x1b[31m",
            Style::Yellow => "\x1b[33m",
            Style::Green => "\x1b[32m",
            Style::Cyan => "\x1b[36m",
            Style::Bold => "\x1b[1m",
            Style::Dim => "\x1b[2m",
        }
    }
}

/// `text` in `style` when `color` is on.
pub fn paint(color: bool, style: Style, text: &str) -> String {
    if color {
        format!("{}{text}\x1b[0m", style.code())
    } else {
        text.to_string()
    }
}

impl Printer {
    /// Writes data to stdout (a broken pipe is not an error worth a panic).
    pub fn data(&self, text: &str) {
        let mut out = io::stdout().lock();
        let text = terminal_safe(text);
        let _ = out.write_all(text.as_bytes());
        if !text.ends_with('\n') && !text.is_empty() {
            let _ = out.write_all(b"\n");
        }
        let _ = out.flush();
    }

    /// A status line on stderr, unless quiet.
    pub fn status(&self, text: &str) {
        if !self.quiet {
            crate::eline!("{text}");
        }
    }

    /// A detail line on stderr with `-v`.
    pub fn verbose(&self, text: &str) {
        if self.verbose > 0 {
            crate::eline!("{text}");
        }
    }

    /// A warning on stderr (shown even when quiet).
    pub fn warn(&self, text: &str) {
        crate::eline!(
            "{}: {text}",
            paint(self.color_stderr, Style::Yellow, "warning")
        );
    }

    /// An error on stderr, with its hint on its own line.
    pub fn error(&self, text: &str, hint: Option<&str>) {
        crate::eline!("{}: {text}", paint(self.color_stderr, Style::Red, "error"));
        if let Some(h) = hint {
            crate::eline!("  hint: {h}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_safe_keeps_colours_and_drops_other_controls() {
        assert_eq!(terminal_safe("plain\n\tline"), "plain\n\tline");
        assert_eq!(
            terminal_safe(&paint(true, Style::Red, "error")),
            "\u{1b}[31merror\u{1b}[0m"
        );
        assert_eq!(
            terminal_safe("a\u{1b}[2Jb\u{1b}]0;title\u{7}c\rd\u{9b}e\u{1b}"),
            "a[2Jb]0;titlecde"
        );
    }
}
