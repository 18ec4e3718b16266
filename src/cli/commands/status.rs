//! `tkn-multi status <INSTANCE>`: readiness of each component, its conditions, recent failures.

use clap::Args;

use crate::cli::args::{KubeArgs, PlanOutput};
use crate::cli::exit::ExitStatus;
use crate::cli::settings::Env;
use crate::fault::UserError;
use crate::names::{InstanceName, SHARED_OWNER};
use crate::printer::Printer;
use crate::render::status::{Report, component, status_text};

/// Arguments of `status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The instance.
    pub instance: InstanceName,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = PlanOutput::Text)]
    pub output: PlanOutput,
    /// The same as `-o json` (kept for scripts written before `-o`).
    #[arg(long, hide = true, conflicts_with = "output")]
    pub json: bool,
    /// The instance on every cluster of this fleet file (`clusters:`), each by its context.
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub fleet: Option<std::path::PathBuf>,
    /// The cluster.
    #[command(flatten)]
    pub kube: KubeArgs,
}

/// Runs `status`.
pub async fn run(args: StatusArgs, _env: &Env, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let format = if args.json { PlanOutput::Json } else { args.output };
    if let Some(file) = &args.fleet {
        return fleet(&args, file, format, printer).await;
    }
    let client = crate::cluster::connect(&args.kube.connection()).await?;
    let Some(report) = report(&client, &args.instance).await? else {
        return Err(UserError::msg(format!("instance `{}` is not installed", args.instance)).into());
    };
    printer.data(&match format {
        PlanOutput::Json => serde_json::to_string_pretty(&report)? + "\n",
        PlanOutput::Yaml => crate::yaml::to_string(&report)?,
        PlanOutput::Text => status_text(&report),
    })?;
    Ok(ExitStatus::Success)
}

/// The instance's report on one cluster; `None` when it is not installed there.
async fn report(client: &kube::Client, instance: &InstanceName) -> anyhow::Result<Option<Report>> {
    let apis = crate::cluster::Apis::new(client.clone());
    let state = crate::cluster::observe(&apis).await?;
    let Some(inst) = state.instance(instance.as_str()) else { return Ok(None) };
    let mut components = Vec::new();
    for o in state.objects.iter().filter(|o| o.object.kind == "Deployment") {
        if o.owner == inst.name || o.owner == SHARED_OWNER {
            let ns = o.object.namespace.clone().unwrap_or_default();
            let d = crate::cluster::deployment(client, &ns, &o.object.name).await?;
            components.push(component(&o.owner, &ns, &o.object.name, d.as_ref()));
        }
    }
    let recent_warnings =
        crate::cluster::recent_warnings(client, &inst.control_plane_namespace, 10).await?;
    let problems = crate::cluster::conversion_failures(&apis, Some(&inst.namespace), None).await?;
    Ok(Some(Report {
        instance: inst.name.clone(),
        version: inst.version.to_string(),
        record_derived_at_run_time: !super::list::shipped()(&inst.version),
        namespace: inst.namespace.clone(),
        control_plane_namespace: inst.control_plane_namespace.clone(),
        ready: components.iter().all(|c| c.available) && problems.is_empty(),
        components,
        problems,
        recent_warnings,
    }))
}

/// `status -f FLEET INSTANCE`: the instance on every cluster that has it; a cluster that cannot
/// be observed says why (exit 2); installed nowhere is the user's error.
async fn fleet(
    args: &StatusArgs,
    file: &std::path::Path,
    format: PlanOutput,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let clusters = super::common::fleet_clusters(file, &args.kube)?;
    let reports = futures::future::join_all(clusters.iter().map(|(_, c)| async move {
        let client = crate::cluster::connect(c).await?;
        report(&client, &args.instance).await
    }))
    .await;
    let failed = reports.iter().filter(|r| r.is_err()).count();
    if failed == 0 && reports.iter().all(|r| matches!(r, Ok(None))) {
        return Err(UserError::msg(format!(
            "instance `{}` is not installed on any cluster of the fleet",
            args.instance
        ))
        .into());
    }
    let text = match format {
        PlanOutput::Text => {
            let sections: Vec<(&str, Result<String, String>)> = clusters
                .iter()
                .zip(&reports)
                .map(|((name, _), r)| {
                    let body = match r {
                        Ok(Some(report)) => Ok(status_text(report)),
                        Ok(None) => Err("not installed".to_owned()),
                        Err(e) => Err(format!("cannot observe: {e:#}")),
                    };
                    (name.as_str(), body)
                })
                .collect();
            crate::render::cluster_sections(&sections)
        }
        format => {
            let entries: Vec<serde_json::Value> = clusters
                .iter()
                .zip(&reports)
                .map(|((name, _), r)| match r {
                    Ok(Some(report)) => serde_json::json!({"name": name, "status": report}),
                    Ok(None) => serde_json::json!({"name": name, "installed": false}),
                    Err(e) => serde_json::json!({"name": name, "error": format!("{e:#}")}),
                })
                .collect();
            crate::render::clusters_document(&entries, format == PlanOutput::Json)?
        }
    };
    printer.data(&text)?;
    Ok(if failed > 0 { ExitStatus::Failure } else { ExitStatus::Success })
}
