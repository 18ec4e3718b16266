//! `tkn-multi operator …`: operator mode. `operator crd` prints the `TektonFleet` CRD,
//! generated from the Rust types (`manifests/crd.yaml` is this output, drift-tested).

use clap::Subcommand;

use crate::cli::exit::ExitStatus;
use crate::printer::Printer;

/// `operator` subcommands.
#[derive(Debug, Subcommand)]
pub enum OperatorCommand {
    /// Print the `TektonFleet` CRD (YAML), for `kubectl apply -f -`.
    Crd,
}

/// Runs an `operator` subcommand.
pub fn run(cmd: &OperatorCommand, printer: &Printer) -> anyhow::Result<ExitStatus> {
    match cmd {
        OperatorCommand::Crd => printer.data(&crate::operator::crd_yaml()?)?,
    }
    Ok(ExitStatus::Success)
}
