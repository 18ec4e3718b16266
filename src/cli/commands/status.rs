//! `tkn-multi status <INSTANCE>`: readiness of each component, its conditions, recent failures.

use std::fmt::Write as _;

use anyhow::Context as _;
use clap::Args;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, ListParams};
use serde::Serialize;

use crate::cli::args::{KubeArgs, PlanOutput};
use crate::cli::exit::ExitStatus;
use crate::cli::settings::Env;
use crate::fault::UserError;
use crate::names::{InstanceName, SHARED_OWNER};
use crate::printer::Printer;
use crate::render::table;

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

/// One component's readiness.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Component {
    owner: String,
    namespace: String,
    name: String,
    desired: i32,
    ready: i32,
    available: bool,
    message: String,
}

/// The `status` report.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Report {
    instance: String,
    version: String,
    namespace: String,
    control_plane_namespace: String,
    ready: bool,
    components: Vec<Component>,
    /// What fails for this instance's objects, in the API server's words (a dead conversion
    /// webhook shows here).
    problems: Vec<String>,
    recent_warnings: Vec<String>,
}

async fn component(
    client: &kube::Client,
    owner: &str,
    namespace: &str,
    name: &str,
) -> anyhow::Result<Component> {
    let api: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    let d = api.get_opt(name).await?;
    let status = d.as_ref().and_then(|d| d.status.clone()).unwrap_or_default();
    let conditions = status.conditions.unwrap_or_default();
    let available = conditions.iter().any(|c| c.type_ == "Available" && c.status == "True");
    let message = if d.is_none() {
        "missing".to_owned()
    } else {
        conditions
            .iter()
            .filter(|c| c.status != "True" || c.type_ == "Progressing")
            .find_map(|c| c.message.clone().map(|m| format!("{}: {m}", c.type_)))
            .unwrap_or_default()
    };
    Ok(Component {
        owner: owner.to_owned(),
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        desired: d.and_then(|d| d.spec).and_then(|s| s.replicas).unwrap_or(1),
        ready: status.ready_replicas.unwrap_or(0),
        available,
        message,
    })
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
            components.push(component(&client, &o.owner, &ns, &o.object.name).await?);
        }
    }
    let events: Api<Event> = Api::namespaced(client.clone(), &inst.control_plane_namespace);
    let mut warnings: Vec<Event> = events
        .list(&ListParams::default().fields("type=Warning"))
        .await
        .context("cannot list events")?
        .items;
    warnings.sort_by_key(|e| std::cmp::Reverse(e.last_timestamp.clone().map(|t| t.0)));
    let recent_warnings: Vec<String> = warnings
        .iter()
        .take(10)
        .map(|e| {
            format!(
                "{}/{}: {} {}",
                e.involved_object.kind.clone().unwrap_or_default(),
                e.involved_object.name.clone().unwrap_or_default(),
                e.reason.clone().unwrap_or_default(),
                e.message.clone().unwrap_or_default()
            )
        })
        .collect();
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
    let output = if args.json { PlanOutput::Json } else { args.output };
    if output == PlanOutput::Json {
        printer.data(&(serde_json::to_string_pretty(&report)? + "\n"))?;
    } else if output == PlanOutput::Yaml {
        printer.data(&crate::yaml::to_string(&report)?)?;
    } else {
        let mut out = format!(
            "instance {}: tekton-pipelines {}, namespace {}, control plane {}: {}\n\n",
            report.instance,
            report.version,
            report.namespace,
            report.control_plane_namespace,
            if report.ready { "ready" } else { "NOT READY" }
        );
        let header = ["OWNER", "DEPLOYMENT", "READY", "AVAILABLE", "MESSAGE"];
        let rows: Vec<Vec<String>> = report
            .components
            .iter()
            .map(|c| {
                vec![
                    c.owner.clone(),
                    format!("{}/{}", c.namespace, c.name),
                    format!("{}/{}", c.ready, c.desired),
                    if c.available { "True" } else { "False" }.to_owned(),
                    c.message.clone(),
                ]
            })
            .collect();
        out.push_str(&table(&header, &rows));
        if !report.problems.is_empty() {
            out.push_str("\nproblems:\n");
            for p in &report.problems {
                let _ = writeln!(out, "  {p}");
            }
        }
        if !report.recent_warnings.is_empty() {
            out.push_str("\nrecent warnings:\n");
            for w in &report.recent_warnings {
                let _ = writeln!(out, "  {w}");
            }
        }
        printer.data(&out)?;
    }
    Ok(ExitStatus::Success)
}
