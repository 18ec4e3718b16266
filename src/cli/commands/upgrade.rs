//! `tkn-multi upgrade INSTANCE --to VERSION`: move an instance to another Tekton version.

use std::collections::BTreeSet;

use clap::Args;

use crate::cli::args::{PlanArgs, PolicyArgs};
use crate::cli::exit::ExitStatus;
use crate::cli::settings::Env;
use crate::fault::UserError;
use crate::names::InstanceName;
use crate::plan::Desired;
use crate::plan::state::ClusterState;
use crate::printer::Printer;
use crate::release::TektonVersion;

/// Arguments of `upgrade`.
#[derive(Debug, Args)]
pub struct UpgradeArgs {
    /// The instance to upgrade.
    pub instance: InstanceName,
    /// The version to move it to.
    #[arg(long, value_name = "VERSION")]
    pub to: TektonVersion,
    /// Keep every feature flag the new version changes (its `ConfigMap` value, or Tekton's own
    /// default where the `ConfigMap` leaves the key out) at its current value, and keep those kept
    /// before; without it, the new version's values apply and earlier kept values are dropped.
    /// `tkn-multi matrix diff FROM TO` lists the changes.
    #[arg(long)]
    pub keep_defaults: bool,
    /// Do not run the precheck (`tkn-multi precheck`) before planning. The precheck's findings
    /// are shown on stderr, and a blocker refuses the move (a dry run exits 1 after its plan); a
    /// plan from `--state` has no objects to judge and runs none.
    #[arg(long)]
    pub no_precheck: bool,
    /// Shared-layer policy.
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Planning options.
    #[command(flatten)]
    pub plan: PlanArgs,
}

/// Runs `upgrade`: the precheck first (unless `--no-precheck`, or planning from `--state`); a
/// blocker refuses the move before anything is written (a dry run shows the plan, then exits 1).
pub async fn run(args: UpgradeArgs, env: &Env, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let dry_run = args.plan.dry_run.is_some();
    let blocked = if args.plan.state.is_none() && !args.no_precheck {
        let target = super::precheck::Target {
            connection: args.plan.kube.connection(),
            source: &args.plan.source,
            matrix: &args.plan.matrix,
            webhook: true,
            lock_timeout: std::time::Duration::from_secs(args.plan.lock_timeout),
        };
        let quiet = Printer { quiet: true, ..*printer };
        let wanted = |state: &ClusterState| desired(&args, state, quiet);
        super::precheck::gate(&target, &wanted, None, dry_run, env, printer).await?
    } else {
        false
    };
    let refusal = format!(
        "the precheck found blockers: moving `{}` to {} would break the objects above (`tkn-multi precheck {} --to {}` for the report; `--no-precheck` to move anyway)",
        args.instance, args.to, args.instance, args.to
    );
    let change =
        super::common::change(&args.plan, env, printer, |state| desired(&args, state, *printer));
    super::precheck::behind(blocked, dry_run, &refusal, printer, change).await
}

/// Every observed instance, this one at `args.to`; only this one in scope.
fn desired(args: &UpgradeArgs, state: &ClusterState, printer: Printer) -> anyhow::Result<Desired> {
    let Some(existing) = state.instance(args.instance.as_str()) else {
        return Err(UserError::msg(format!("instance `{}` is not installed", args.instance)).into());
    };
    if existing.version > args.to {
        printer.warn(&format!(
            "moving `{}` down from {} to {}",
            args.instance, existing.version, args.to
        ));
    }
    let mut instances = state.desired_instances()?;
    for i in &mut instances {
        if i.spec.name == args.instance {
            i.version = args.to.clone();
            // An upgrade is the moment to opt in: without the flag, nothing stays kept.
            i.keep_defaults = args.keep_defaults;
            i.kept_defaults.clear();
        }
    }
    Ok(Desired {
        shared: super::common::shared_spec(&args.plan, state)?,
        policy: args.policy.policy(),
        image_registry: None,
        instances,
        scope: Some(BTreeSet::from([args.instance.to_string()])),
        certificates: std::collections::BTreeMap::new(),
    })
}
