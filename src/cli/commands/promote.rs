//! `tkn-multi promote INSTANCE --from STAGE --to STAGE -f FLEET`: give the destination stage the
//! version the source stage runs, once the source runs it Ready everywhere. The fleet file is
//! edited in place (a minimal textual edit, `crate::fleet::promote`); `--dry-run` only prints the
//! diff; `--apply` then converges the destination stage.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;

use crate::cli::args::PlanArgs;
use crate::cli::exit::ExitStatus;
use crate::cli::settings::Env;
use crate::fault::UserError;
use crate::fleet::{self, Fleet};
use crate::names::{InstanceName, StageName};
use crate::printer::Printer;

/// Arguments of `promote`.
#[derive(Debug, Args)]
pub struct PromoteArgs {
    /// The instance.
    pub instance: InstanceName,
    /// The stage whose version it takes (it must run it Ready on every one of its clusters).
    #[arg(long, value_name = "STAGE")]
    pub from: StageName,
    /// The stage that gets it.
    #[arg(long, value_name = "STAGE")]
    pub to: StageName,
    /// The fleet file (with `stages:`), edited in place.
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub file: PathBuf,
    /// After writing the file, converge the destination stage (as `apply -f FILE --stage TO`).
    #[arg(long, conflicts_with = "dry_run")]
    pub apply: bool,
    /// Do not run the upgrade precheck of the destination's clusters.
    #[arg(long)]
    pub no_precheck: bool,
    /// Planning options (`--dry-run` prints the diff and changes nothing).
    #[command(flatten)]
    pub plan: PlanArgs,
}

/// Runs `promote`.
pub async fn run(args: PromoteArgs, env: &Env, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let origin = args.file.display().to_string();
    let text = fs_err::read_to_string(&args.file).map_err(crate::fault::user)?;
    let p = fleet::promote::promote(&text, &origin, &args.instance, &args.from, &args.to)
        .map_err(crate::fault::user)?;
    let Fleet::Clusters(members) = fleet::parse(&text, &origin).map_err(crate::fault::user)? else {
        unreachable!("promote refuses a fleet without clusters")
    };
    // The source runs the version, Ready, on every one of its clusters.
    for m in members.iter().filter(|m| p.from_clusters.contains(&m.cluster.name.to_string())) {
        let connection = super::common::connection(&m.cluster, &args.plan.kube);
        source_ready(
            &connection,
            &args.instance,
            &p.version,
            &m.cluster.name.to_string(),
            &args.from,
        )
        .await?;
    }
    if p.text == text {
        printer.info(&format!(
            "nothing to promote: stage `{}` already runs {} of `{}`",
            args.to, p.version, args.instance
        ));
        return Ok(ExitStatus::Success);
    }
    let Fleet::Clusters(after) = fleet::parse(&p.text, &origin).map_err(crate::fault::user)? else {
        unreachable!("the edit keeps the clusters")
    };
    let dest: Vec<fleet::Member> =
        after.into_iter().filter(|m| m.stage.as_ref().is_some_and(|s| s.name == args.to)).collect();
    if !args.no_precheck {
        let mut blocked = false;
        for m in &dest {
            let target = super::precheck::Target {
                connection: super::common::connection(&m.cluster, &args.plan.kube),
                source: &args.plan.source,
                matrix: &args.plan.matrix,
                webhook: true,
                lock_timeout: std::time::Duration::from_secs(args.plan.lock_timeout),
            };
            let place = m.cluster.name.to_string();
            let wanted = |_: &crate::plan::state::ClusterState| Ok(m.desired.clone());
            blocked |= super::precheck::gate(&target, &wanted, Some(&place), false, env, printer)
                .await
                .with_context(|| format!("cluster `{place}`"))?;
        }
        if blocked {
            return Err(UserError::msg(format!(
                "the precheck found blockers on stage `{}`: promoting `{}` to {} would break the objects above (`--no-precheck` to promote anyway); the file is unchanged",
                args.to, args.instance, p.version
            ))
            .into());
        }
    }
    printer.data(&fleet::promote::diff(&text, &p.text, &origin))?;
    if args.plan.dry_run.is_some() {
        return Ok(ExitStatus::Success);
    }
    write_atomically(&args.file, &p.text)?;
    printer.info(&format!(
        "promoted `{}` to {} on stage `{}`{}: {} written",
        args.instance,
        p.version,
        args.to,
        if p.collapsed { " (every stage now runs it: the overrides collapsed)" } else { "" },
        origin
    ));
    if !args.apply {
        return Ok(ExitStatus::Success);
    }
    super::common::change_fleet(&args.plan, env, printer, dest, None).await
}

/// Whether `instance` runs `version` with its controller and webhook Available on the cluster.
async fn source_ready(
    connection: &crate::cluster::Connection,
    instance: &InstanceName,
    version: &crate::release::TektonVersion,
    cluster: &str,
    stage: &StageName,
) -> anyhow::Result<()> {
    let client = crate::cluster::connect(connection)
        .await
        .with_context(|| format!("cluster `{cluster}`: cannot connect"))?;
    let apis = crate::cluster::Apis::new(client.clone());
    let observed = crate::cluster::observe(&apis).await?;
    let not_ready = |why: String| -> anyhow::Error {
        UserError::msg(format!(
            "stage `{stage}` is not Ready: on cluster `{cluster}`, `{instance}` {why}; nothing was promoted"
        ))
        .into()
    };
    let Some(i) = observed.instance(instance.as_str()) else {
        return Err(not_ready("is not installed".into()));
    };
    if &i.version != version {
        return Err(not_ready(format!("runs {} (the fleet says {version})", i.version)));
    }
    for name in ["tekton-pipelines-controller", "tekton-pipelines-webhook"] {
        let d = crate::cluster::deployment(&client, &i.control_plane_namespace, name).await?;
        let ok = d.as_ref().is_some_and(|d| {
            crate::apply::conditions::deployment_complete(
                &serde_json::to_value(d).unwrap_or_default(),
            )
        });
        if !ok {
            return Err(not_ready(format!("has its {name} not Available")));
        }
    }
    Ok(())
}

/// Writes `text` to `path` by a rename over it (no half-written file).
fn write_atomically(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    let dir =
        path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let name = path.file_name().context("the fleet file has no name")?.to_string_lossy();
    let tmp = dir.join(format!(".{name}.tkn-multi-promote"));
    fs_err::write(&tmp, text)?;
    fs_err::rename(&tmp, path)?;
    Ok(())
}
