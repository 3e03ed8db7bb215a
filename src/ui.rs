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
