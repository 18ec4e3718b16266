//! The `tkn-multi` binary: parse the command line, run it on a tokio runtime, map the result to
//! an exit code. Everything else lives in the library.

use std::process::ExitCode;

use clap::Parser as _;
use tkn_multi::cli::exit::{exit_status, render};
use tkn_multi::cli::{Cli, run};
use tkn_multi::printer::Printer;

fn main() -> ExitCode {
    // Usage errors are the user's request that cannot be done as asked: exit 1, not clap's 2
    // (docs/exit-codes.md). `--help` and `--version` exit 0.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(u8::from(e.use_stderr()));
        }
    };
    let printer = Printer::new(cli.global.quiet, cli.global.verbose, cli.global.color);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime can be built on any supported platform");
    let status = match runtime.block_on(run(cli, printer)) {
        Ok(status) => status,
        Err(err) => {
            printer.error(&render(&err));
            exit_status(&err)
        }
    };
    ExitCode::from(status.code())
}
