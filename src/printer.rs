//! The `Printer`: the only way tkn-multi writes to stdout and stderr. **I/O.**
//!
//! stdout carries data (YAML, tables, JSON) and nothing else, so `tkn-multi render … | kubectl
//! apply -f -` works; progress, warnings and errors go to stderr.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write;

/// How much to say on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Printer {
    /// `-q`: only errors on stderr.
    pub quiet: bool,
    /// `-v` count: more detail.
    pub verbose: u8,
}

impl Printer {
    /// Writes data to stdout. A closed pipe (`| head`) is not an error.
    pub fn data(&self, text: &str) -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            other => other,
        }
    }

    /// A status line on stderr, unless quiet.
    pub fn info(&self, text: &str) {
        if !self.quiet {
            eprintln!("{text}");
        }
    }

    /// A progress line on stderr: on a terminal, or with `-v`; never when quiet.
    pub fn progress(&self, text: &str) {
        use std::io::IsTerminal as _;
        if !self.quiet && (self.verbose > 0 || std::io::stderr().is_terminal()) {
            eprintln!("{text}");
        }
    }

    /// A warning on stderr, unless quiet.
    pub fn warn(&self, text: &str) {
        if !self.quiet {
            eprintln!("warning: {text}");
        }
    }

    /// A question on stderr, with no newline (always: it waits for an answer).
    pub fn ask(&self, text: &str) {
        eprint!("{text}");
        let _ = std::io::stderr().flush();
    }

    /// An error report on stderr (always).
    pub fn error(&self, text: &str) {
        eprint!("{text}");
    }
}
