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
    /// Every cluster of this fleet file (`clusters:`), each by its context.
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub fleet: Option<std::path::PathBuf>,
    /// The cluster.
    #[command(flatten)]
    pub kube: KubeArgs,
}

/// Whether this build ships the matrix record of a version.
pub(crate) fn shipped() -> impl Fn(&crate::release::TektonVersion) -> bool {
    let matrix = crate::matrix::Matrix::embedded();
    move |v| matrix.release(v).is_some()
}

/// Runs `list`.
pub async fn run(args: ListArgs, _env: &Env, printer: &Printer) -> anyhow::Result<ExitStatus> {
    if let Some(file) = &args.fleet {
        return fleet(&args, file, printer).await;
    }
    let client = crate::cluster::connect(&args.kube.connection()).await?;
    let state = crate::cluster::observe(&crate::cluster::Apis::new(client)).await?;
    let text = match args.output {
        PlanOutput::Yaml => crate::yaml::to_string(&state)?,
        PlanOutput::Json => serde_json::to_string_pretty(&state)? + "\n",
        PlanOutput::Text => crate::render::status::list_text(&state, &shipped()),
    };
    printer.data(&text)?;
    Ok(ExitStatus::Success)
}

/// `list -f FLEET`: every cluster observed at once; one section (or document entry) each, and a
/// cluster that cannot be observed says why without hiding the others (exit 2).
async fn fleet(
    args: &ListArgs,
    file: &std::path::Path,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let clusters = super::common::fleet_clusters(file, &args.kube)?;
    let states = futures::future::join_all(clusters.iter().map(|(_, c)| async move {
        let client = crate::cluster::connect(c).await?;
        crate::cluster::observe(&crate::cluster::Apis::new(client)).await
    }))
    .await;
    let failed = states.iter().filter(|s| s.is_err()).count();
    let text = match args.output {
        PlanOutput::Text => {
            let sections: Vec<(&str, Result<String, String>)> = clusters
                .iter()
                .zip(&states)
                .map(|((name, _), s)| {
                    let body = s
                        .as_ref()
                        .map(|s| crate::render::status::list_text(s, &shipped()))
                        .map_err(|e| format!("cannot observe: {e:#}"));
                    (name.as_str(), body)
                })
                .collect();
            crate::render::cluster_sections(&sections)
        }
        format => {
            let entries: Vec<serde_json::Value> = clusters
                .iter()
                .zip(&states)
                .map(|((name, _), state)| match state {
                    Ok(s) => serde_json::json!({"name": name, "state": s}),
                    Err(e) => serde_json::json!({"name": name, "error": format!("{e:#}")}),
                })
                .collect();
            crate::render::clusters_document(&entries, format == PlanOutput::Json)?
        }
    };
    printer.data(&text)?;
    Ok(if failed > 0 { ExitStatus::Failure } else { ExitStatus::Success })
}
