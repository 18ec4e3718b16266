//! `tkn-multi list`: the instances and the shared layer, discovered from the cluster's labels.

use std::fmt::Write as _;

use clap::Args;

use crate::cli::args::{KubeArgs, PlanOutput};
use crate::cli::exit::ExitStatus;
use crate::cli::settings::Env;
use crate::printer::Printer;
use crate::render::table;

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
        PlanOutput::Text => {
            let header = ["INSTANCE", "VERSION", "NAMESPACE", "CONTROL PLANE"];
            let rows: Vec<Vec<String>> = state
                .instances
                .iter()
                .map(|i| {
                    vec![
                        i.name.clone(),
                        i.version.to_string(),
                        i.namespace.clone(),
                        i.control_plane_namespace.clone(),
                    ]
                })
                .collect();
            let mut out =
                if rows.is_empty() { "no instances\n".to_owned() } else { table(&header, &rows) };
            match &state.shared {
                Some(s) => {
                    let _ = writeln!(
                        out,
                        "\nshared: tekton-pipelines {} in {}, {} CRDs",
                        s.version,
                        s.namespace,
                        s.crds.len()
                    );
                }
                None => out.push_str("\nshared: not installed\n"),
            }
            out
        }
    };
    printer.data(&text)?;
    Ok(ExitStatus::Success)
}
