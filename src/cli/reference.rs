//! The CLI reference (`docs/cli.md`), generated from the clap definitions so it cannot drift:
//! a test compares the committed file with this output.

use std::fmt::Write as _;

use clap::CommandFactory as _;

use super::app::Cli;

/// Renders the Markdown reference of every command's `--help`.
pub fn markdown() -> String {
    let mut root = Cli::command().term_width(100);
    root.build();
    let mut out = String::from(
        "# CLI reference\n\nGenerated from the command definitions (`src/cli`); a test fails when this \
         file is out of date. Regenerate with `TKN_MULTI_UPDATE_DOCS=1 cargo test cli_reference`.\n",
    );
    let mut stack = vec![(String::from("tkn-multi"), root)];
    while let Some((path, mut cmd)) = stack.pop() {
        let _ = write!(
            out,
            "\n## `{path}`\n\n```text\n{}```\n",
            cmd.render_long_help().to_string().trim_end().to_owned() + "\n"
        );
        let mut subs: Vec<_> =
            cmd.get_subcommands().filter(|s| s.get_name() != "help").cloned().collect();
        subs.reverse();
        for s in subs {
            stack.push((format!("{path} {}", s.get_name()), s));
        }
    }
    out
}
