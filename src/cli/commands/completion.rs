//! `tkn-multi completion SHELL` and `tkn-multi man [COMMAND]`: generated from the clap
//! definition, so they never drift from the real flags.

use clap::Args;

use crate::cli::exit::ExitStatus;
use crate::fault::UserError;
use crate::printer::Printer;

/// Arguments of `completion`.
#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Arguments of `man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// A command (its page is `tkn-multi-COMMAND(1)`) [default: tkn-multi itself]
    pub command: Option<String>,
}

/// Prints the completion script for `args.shell` of `cli`, tkn-multi's clap definition.
pub fn completion(
    args: &CompletionArgs,
    mut cli: clap::Command,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut cli, "tkn-multi", &mut out);
    printer.data(&String::from_utf8(out)?)?;
    Ok(ExitStatus::Success)
}

/// Prints the manual page of tkn-multi (`root`, its clap definition), or of `args.command`.
pub fn man(args: &ManArgs, root: clap::Command, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let page = match &args.command {
        None => root,
        Some(name) => {
            let Some(sub) = root.find_subcommand(name) else {
                let known: Vec<_> =
                    root.get_subcommands().map(|c| c.get_name().to_owned()).collect();
                return Err(UserError::msg(format!(
                    "no command `{name}`; commands: {}",
                    known.join(", ")
                ))
                .into());
            };
            sub.clone().name(format!("tkn-multi-{name}"))
        }
    };
    let mut out = Vec::new();
    clap_mangen::Man::new(page).render(&mut out)?;
    printer.data(&String::from_utf8(out)?)?;
    Ok(ExitStatus::Success)
}
