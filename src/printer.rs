//! The `Printer`: the only way tkn-multi writes to stdout and stderr. **I/O.**
//!
//! stdout carries data (YAML, tables, JSON) and nothing else, so `tkn-multi render … | kubectl
//! apply -f -` works; progress, warnings and errors go to stderr.
//!
//! Text from files and clusters (names, values, paths, error messages quoting them) can hold
//! terminal control sequences. Everything written goes through [`neutralise`] here, whatever
//! message it is part of: control characters other than newline and tab are written as
//! `\u{..}`, and escape sequences survive only where tkn-multi colours a stream itself.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write;

/// How much to say on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Printer {
    /// `-q`: only errors on stderr.
    pub quiet: bool,
    /// `-v` count: more detail.
    pub verbose: u8,
    /// Colour on stdout (plans).
    pub color_out: bool,
    /// Colour on stderr (warnings, errors).
    pub color_err: bool,
    /// How `-v` timings are written.
    pub timings: TimingsFormat,
    /// The cluster this printer speaks for when several are worked on at once (see
    /// [`Printer::for_cluster`]): stderr lines but errors and questions start `[<cluster>] `,
    /// JSON timings carry `"cluster"`. Empty otherwise.
    pub cluster: &'static str,
}

/// How `-v` timings are written on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimingsFormat {
    /// `timings:` lines.
    #[default]
    Text,
    /// One JSON object per line (`-o json`).
    Json,
}

/// `--color`: when to colour output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless `NO_COLOR` is set.
    #[default]
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

impl ColorChoice {
    /// Whether to colour a stream that is (`terminal`) or is not a terminal, given the value of
    /// `NO_COLOR` (no-color.org: any non-empty value turns colour off).
    pub fn resolve(self, terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => terminal && no_color.is_none_or(std::ffi::OsStr::is_empty),
        }
    }
}

/// `text` with every control character but `\n` and `\t` written as `\u{..}`; with `keep_sgr`,
/// colour sequences (`ESC [ digits;… m`, what tkn-multi's own colouring writes) are kept and every
/// other escape sequence is neutralised all the same.
pub fn neutralise(text: &str, keep_sgr: bool) -> std::borrow::Cow<'_, str> {
    let harmless = |c: char| !c.is_control() || c == '\n' || c == '\t';
    if text.chars().all(harmless) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if c == '\x1b' && keep_sgr {
            let body = &rest[1..];
            let params = body.strip_prefix('[').map(|b| {
                b.len() - b.trim_start_matches(|d: char| d.is_ascii_digit() || d == ';').len()
            });
            if let Some(n) = params
                && body[1 + n..].starts_with('m')
            {
                out.push_str(&rest[..n + 3]);
                rest = &rest[n + 3..];
                continue;
            }
        }
        if harmless(c) {
            out.push(c);
        } else {
            out.push_str(&c.escape_unicode().to_string());
        }
        rest = &rest[c.len_utf8()..];
    }
    std::borrow::Cow::Owned(out)
}

const WARNING: anstyle::Style = anstyle::AnsiColor::Yellow.on_default();
const ERROR: anstyle::Style = anstyle::AnsiColor::Red.on_default();

impl Printer {
    /// A printer for `quiet`/`verbose`, colouring as `color` says for the streams this process
    /// has.
    pub fn new(quiet: bool, verbose: u8, color: ColorChoice) -> Self {
        use std::io::IsTerminal as _;
        let no_color = std::env::var_os("NO_COLOR");
        Printer {
            quiet,
            verbose,
            color_out: color.resolve(std::io::stdout().is_terminal(), no_color.as_deref()),
            color_err: color.resolve(std::io::stderr().is_terminal(), no_color.as_deref()),
            timings: TimingsFormat::Text,
            cluster: "",
        }
    }

    /// This printer, its stderr lines marked `[<cluster>] `. Each distinct cluster name is kept
    /// once for the life of the process (however often a fleet is driven), so the printer stays
    /// `Copy`.
    #[must_use]
    pub fn for_cluster(&self, cluster: &str) -> Printer {
        static NAMES: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
        let mut names = NAMES.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let name = if let Some(n) = names.iter().find(|n| **n == cluster) {
            *n
        } else {
            let n: &'static str = Box::leak(cluster.to_owned().into_boxed_str());
            names.push(n);
            n
        };
        Printer { cluster: name, ..*self }
    }

    fn tag(&self) -> String {
        if self.cluster.is_empty() { String::new() } else { format!("[{}] ", self.cluster) }
    }

    /// Writes data to stdout. A closed pipe (`| head`) is not an error.
    pub fn data(&self, text: &str) -> std::io::Result<()> {
        let text = neutralise(text, self.color_out);
        let mut out = std::io::stdout().lock();
        match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            other => other,
        }
    }

    /// A status line on stderr, unless quiet.
    pub fn info(&self, text: &str) {
        if !self.quiet {
            eprintln!("{}{}", self.tag(), neutralise(text, false));
        }
    }

    /// With `-v`, where a phase's time went, on stderr: a `timings:` line, or one JSON object
    /// per line with `-o json`; never when quiet.
    pub fn timing(&self, timing: &crate::timings::Timing) {
        if !self.quiet && self.verbose > 0 {
            if self.timings == TimingsFormat::Json {
                let mut line = timing.to_json_line();
                if !self.cluster.is_empty() {
                    let cluster = serde_json::to_string(self.cluster).expect("a string serialises");
                    line = format!("{{\"cluster\":{cluster},{}", &line[1..]);
                }
                eprintln!("{line}");
            } else {
                eprintln!("{}{}", self.tag(), timing.to_text());
            }
        }
    }

    /// A progress line on stderr: on a terminal, or with `-v`; never when quiet.
    pub fn progress(&self, text: &str) {
        use std::io::IsTerminal as _;
        if !self.quiet && (self.verbose > 0 || std::io::stderr().is_terminal()) {
            eprintln!("{}{}", self.tag(), neutralise(text, false));
        }
    }

    /// A warning on stderr, unless quiet.
    pub fn warn(&self, text: &str) {
        let text = neutralise(text, false);
        if !self.quiet {
            if self.color_err {
                eprintln!("{}{WARNING}warning:{WARNING:#} {text}", self.tag());
            } else {
                eprintln!("{}warning: {text}", self.tag());
            }
        }
    }

    /// A question on stderr, with no newline (always: it waits for an answer).
    pub fn ask(&self, text: &str) {
        eprint!("{}", neutralise(text, false));
        let _ = std::io::stderr().flush();
    }

    /// An error report on stderr (always).
    pub fn error(&self, text: &str) {
        let text = neutralise(text, false);
        match text.strip_prefix("error:") {
            Some(rest) if self.color_err => eprint!("{ERROR}error:{ERROR:#}{rest}"),
            _ => eprint!("{text}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::neutralise;

    #[test]
    fn control_sequences_from_data_are_neutralised() {
        assert_eq!(neutralise("plain\n\ttext", false), "plain\n\ttext");
        assert_eq!(neutralise("a\x1b[2Jb\rc\x07", false), "a\\u{1b}[2Jb\\u{d}c\\u{7}");
        // Colour sequences survive only where tkn-multi colours the stream.
        assert_eq!(neutralise("\x1b[31mred\x1b[0m", true), "\x1b[31mred\x1b[0m");
        assert_eq!(neutralise("\x1b[31mred", false), "\\u{1b}[31mred");
        // Any other sequence is neutralised even then: a screen clear, a title, a cursor move.
        assert_eq!(neutralise("\x1b[2J", true), "\\u{1b}[2J");
        assert_eq!(neutralise("\x1b]0;owned\x07", true), "\\u{1b}]0;owned\\u{7}");
        assert_eq!(neutralise("\x1b[", true), "\\u{1b}[");
        assert_eq!(neutralise("\x1b", true), "\\u{1b}");
        assert_eq!(neutralise("é\u{9b}2J", false), "é\\u{9b}2J");
    }
}
