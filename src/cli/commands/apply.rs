//! `tkn-multi apply -f FLEET`: converge the cluster to a fleet file.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;

use crate::cli::args::PlanArgs;
use crate::cli::exit::ExitStatus;
use crate::cli::settings::Env;
use crate::fault::UserError;
use crate::fleet::{self, Fleet};
use crate::printer::Printer;
use crate::split::DEFAULT_SHARED_NAMESPACE;

/// Arguments of `apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The fleet file (`kind: Fleet`): every instance and the shared-layer policy.
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub file: PathBuf,
    /// Only these clusters of a fleet with `clusters:` (repeatable).
    #[arg(long = "cluster", value_name = "NAME")]
    pub clusters: Vec<crate::names::ClusterName>,
    /// Only the clusters of this stage of a fleet with `stages:`.
    #[arg(long, value_name = "NAME")]
    pub stage: Option<crate::names::StageName>,
    /// Plan a fleet with clusters offline: one saved observation per cluster,
    /// `DIR/<cluster>.yaml` (`tkn-multi list -o yaml`).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Do not run the precheck (`tkn-multi precheck`) for the instances that move to another
    /// version. Its findings are shown on stderr, and a blocker refuses the whole apply before
    /// anything is written (a dry run exits 1 after its plan).
    #[arg(long)]
    pub no_precheck: bool,
    /// Planning options.
    #[command(flatten)]
    pub plan: PlanArgs,
}

/// Runs `apply -f`.
pub async fn run(args: ApplyArgs, env: &Env, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let text = fs_err::read_to_string(&args.file)?;
    let desired = match fleet::parse(&text, &args.file.display().to_string())
        .map_err(crate::fault::user)?
    {
        Fleet::Single(d)
            if args.clusters.is_empty() && args.state_dir.is_none() && args.stage.is_none() =>
        {
            d
        }
        Fleet::Single(_) => {
            return Err(UserError::msg(format!(
                "`--cluster`, `--stage` and `--state-dir` need a fleet with `clusters:` (`{}`)",
                fleet::FLEET_V1ALPHA2
            ))
            .into());
        }
        Fleet::Clusters(mut members) => {
            narrow(&args, &mut members)?;
            check_shared_namespace(&args, &members[0].desired)?;
            let mut blocked = false;
            // A cluster whose precheck cannot run is that cluster's failure, not the fleet's.
            let mut unchecked: Vec<String> = Vec::new();
            if args.state_dir.is_none() && !args.no_precheck {
                // Every cluster reachable by its context first, as the apply itself checks.
                for m in &members {
                    let connection = super::common::connection(&m.cluster, &args.plan.kube);
                    crate::cluster::connect(&connection)
                        .await
                        .with_context(|| format!("cluster `{}`: cannot connect", m.cluster.name))?;
                }
                for m in &members {
                    let target =
                        target(&args, super::common::connection(&m.cluster, &args.plan.kube));
                    let place = m.cluster.name.to_string();
                    let wanted = |_: &crate::plan::state::ClusterState| Ok(m.desired.clone());
                    match super::precheck::gate(
                        &target,
                        &wanted,
                        Some(&place),
                        args.plan.dry_run.is_some(),
                        env,
                        printer,
                    )
                    .await
                    {
                        Ok(b) => blocked |= b,
                        Err(e) if crate::fault::is_user(&e) => {
                            return Err(e.context(format!("cluster `{place}`")));
                        }
                        Err(e) => {
                            printer.error(&format!("error: cluster {place}: not applied: {e:#}\n"));
                            unchecked.push(place);
                        }
                    }
                }
            }
            members.retain(|m| !unchecked.contains(&m.cluster.name.to_string()));
            if members.is_empty() {
                return Ok(ExitStatus::Failure);
            }
            let change = super::common::change_fleet(
                &args.plan,
                env,
                printer,
                members,
                args.state_dir.as_deref(),
            );
            let status = super::precheck::behind(
                blocked,
                args.plan.dry_run.is_some(),
                &refusal(&args),
                printer,
                change,
            )
            .await?;
            return Ok(if unchecked.is_empty() { status } else { ExitStatus::Failure });
        }
    };
    check_shared_namespace(&args, &desired)?;
    let blocked = if args.plan.state.is_none() && !args.no_precheck {
        let target = target(&args, args.plan.kube.connection());
        let wanted = |_: &crate::plan::state::ClusterState| Ok(desired.clone());
        super::precheck::gate(&target, &wanted, None, args.plan.dry_run.is_some(), env, printer)
            .await?
    } else {
        false
    };
    let change = super::common::change(&args.plan, env, printer, |_| Ok(desired.clone()));
    super::precheck::behind(blocked, args.plan.dry_run.is_some(), &refusal(&args), printer, change)
        .await
}

/// `--cluster` and `--stage`: only those clusters.
fn narrow(args: &ApplyArgs, members: &mut Vec<fleet::Member>) -> anyhow::Result<()> {
    if let Some(unknown) =
        args.clusters.iter().find(|c| !members.iter().any(|m| &m.cluster.name == *c))
    {
        return Err(UserError::msg(format!(
            "`--cluster {unknown}`: the fleet has no such cluster ({})",
            members.iter().map(|m| format!("`{}`", m.cluster.name)).collect::<Vec<_>>().join(", ")
        ))
        .into());
    }
    if !args.clusters.is_empty() {
        members.retain(|m| args.clusters.contains(&m.cluster.name));
    }
    if let Some(stage) = &args.stage {
        let mut known: Vec<String> = Vec::new();
        for m in members.iter() {
            if let Some(s) = &m.stage
                && !known.contains(&s.name.to_string())
            {
                known.push(s.name.to_string());
            }
        }
        if !known.contains(&stage.to_string()) {
            return Err(UserError::msg(if known.is_empty() {
                format!("`--stage {stage}`: the fleet has no `stages:`")
            } else {
                format!(
                    "`--stage {stage}`: the fleet has no such stage ({})",
                    known.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
                )
            })
            .into());
        }
        members.retain(|m| m.stage.as_ref().is_some_and(|s| &s.name == stage));
    }
    if members.is_empty() {
        return Err(UserError::msg("`--cluster` and `--stage` leave no cluster".into()).into());
    }
    Ok(())
}

/// Where the precheck of `apply` reads.
fn target(args: &ApplyArgs, connection: crate::cluster::Connection) -> super::precheck::Target<'_> {
    super::precheck::Target {
        connection,
        source: &args.plan.source,
        matrix: &args.plan.matrix,
        webhook: true,
        lock_timeout: std::time::Duration::from_secs(args.plan.lock_timeout),
    }
}

fn refusal(args: &ApplyArgs) -> String {
    format!(
        "the precheck found blockers: applying `{}` would break the objects above (`tkn-multi precheck INSTANCE --to VERSION` for a report; `--no-precheck` to apply anyway)",
        args.file.display()
    )
}

fn check_shared_namespace(args: &ApplyArgs, desired: &crate::plan::Desired) -> anyhow::Result<()> {
    if desired.shared.namespace != args.plan.shared_namespace
        && args.plan.shared_namespace.as_str() != DEFAULT_SHARED_NAMESPACE
    {
        return Err(UserError::msg(
            "the fleet file sets the shared namespace; do not pass `--shared-namespace`".into(),
        )
        .into());
    }
    Ok(())
}
