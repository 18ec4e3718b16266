//! `tkn-multi apply -f FLEET`: converge the cluster to a fleet file.

use std::path::PathBuf;

use clap::Args;

use crate::cli::args::PlanArgs;
use crate::cli::exit::ExitStatus;
use crate::cli::settings::Env;
use crate::fault::UserError;
use crate::plan::fleet::parse_fleet;
use crate::printer::Printer;
use crate::split::DEFAULT_SHARED_NAMESPACE;

/// Arguments of `apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The fleet file (`kind: Fleet`): every instance and the shared-layer policy.
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub file: PathBuf,
    /// Planning options.
    #[command(flatten)]
    pub plan: PlanArgs,
}

/// Runs `apply -f`.
pub async fn run(args: ApplyArgs, env: &Env, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let text = fs_err::read_to_string(&args.file)?;
    let desired = parse_fleet(&text, &args.file.display().to_string())?;
    if desired.shared.namespace != args.plan.shared_namespace
        && args.plan.shared_namespace.as_str() != DEFAULT_SHARED_NAMESPACE
    {
        return Err(UserError(
            "the fleet file sets the shared namespace; do not pass `--shared-namespace`".into(),
        )
        .into());
    }
    super::change(&args.plan, env, printer, |_| Ok(desired)).await
}
