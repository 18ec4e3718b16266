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
    /// The cluster.
    #[command(flatten)]
    pub kube: KubeArgs,
}

/// Runs `status`.
pub async fn run(args: StatusArgs, _env: &Env, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let client = crate::cluster::connect(&args.kube.connection()).await?;
    let state = crate::cluster::observe(&client).await?;
    let Some(inst) = state.instance(args.instance.as_str()) else {
        return Err(UserError(format!("instance `{}` is not installed", args.instance)).into());
    };
    let mut components = Vec::new();
    for o in state.objects.iter().filter(|o| o.object.kind == "Deployment") {
        if o.owner == inst.name || o.owner == SHARED_OWNER {
            let ns = o.object.namespace.clone().unwrap_or_default();
            let d = crate::cluster::deployment(&client, &ns, &o.object.name).await?;
            components.push(component(&o.owner, &ns, &o.object.name, d.as_ref()));
        }
    }
    let recent_warnings =
        crate::cluster::recent_warnings(&client, &inst.control_plane_namespace, 10).await?;
    let problems =
        crate::cluster::conversion_failures(&client, Some(&inst.namespace), None).await?;
    let report = Report {
        instance: inst.name.clone(),
        version: inst.version.to_string(),
        namespace: inst.namespace.clone(),
        control_plane_namespace: inst.control_plane_namespace.clone(),
        ready: components.iter().all(|c| c.available) && problems.is_empty(),
        components,
        problems,
        recent_warnings,
    };
    printer.data(&match if args.json { PlanOutput::Json } else { args.output } {
        PlanOutput::Json => serde_json::to_string_pretty(&report)? + "\n",
        PlanOutput::Yaml => crate::yaml::to_string(&report)?,
        PlanOutput::Text => status_text(&report),
    })?;
    Ok(ExitStatus::Success)
}
