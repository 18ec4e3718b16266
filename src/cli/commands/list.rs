//! `tkn-multi list`: the instances and the shared layer, discovered from the cluster's labels.

use clap::Args;

use crate::cli::args::{KubeArgs, PlanOutput};
use crate::cli::exit::ExitStatus;
use crate::cli::settings::Env;
use crate::printer::Printer;

/// Arguments of `list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Output format; `-o yaml` is the `--state` file of the planning commands.
    #[arg(short, long, value_enum, default_value_t = PlanOutput::Text)]
    pub output: PlanOutput,
    /// The cluster.
    #[command(flatten)]
    pub kube: KubeArgs,
}

/// Runs `list`.
pub async fn run(args: ListArgs, _env: &Env, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let client = crate::cluster::connect(&args.kube.connection()).await?;
    let state = crate::cluster::observe(&client).await?;
    let text = match args.output {
        PlanOutput::Yaml => crate::yaml::to_string(&state)?,
        PlanOutput::Json => serde_json::to_string_pretty(&state)? + "\n",
        PlanOutput::Text => crate::render::status::list_text(&state),
    };
    printer.data(&text)?;
    Ok(ExitStatus::Success)
}
