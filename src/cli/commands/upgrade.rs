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
    /// With `--dry-run`, do not run the precheck (`tkn-multi precheck`) before planning. The
    /// precheck's findings are shown on stderr; a dry run against `--state` has no objects to
    /// judge and runs none.
    #[arg(long)]
    pub no_precheck: bool,
    /// Shared-layer policy.
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Planning options.
    #[command(flatten)]
    pub plan: PlanArgs,
}

/// Runs `upgrade`.
pub async fn run(args: UpgradeArgs, env: &Env, printer: &Printer) -> anyhow::Result<ExitStatus> {
    if args.plan.dry_run.is_some() && args.plan.state.is_none() && !args.no_precheck {
        show_precheck(&args, env, printer).await;
    }
    super::common::change(&args.plan, env, printer, |state| desired(&args, state, *printer)).await
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

/// The precheck's findings for this move, on stderr, before the plan. A precheck that cannot run
/// (an old release no source has) says so and the plan goes on; the instance not installed is
/// the plan's to report.
async fn show_precheck(args: &UpgradeArgs, env: &Env, printer: &Printer) {
    let target = super::precheck::Target {
        kube: &args.plan.kube,
        source: &args.plan.source,
        matrix: &args.plan.matrix,
    };
    let quiet = Printer { quiet: true, ..*printer };
    match super::precheck::judge(&target, &args.instance, &args.to, env, &quiet).await {
        Ok(Some(report)) => {
            for f in &report.findings {
                let line = crate::render::precheck::finding_line(f);
                printer.warn(&format!("precheck: {line}"));
            }
            if report.blocked() {
                printer.warn(&format!(
                    "precheck: moving `{}` to {} would break the objects above (`tkn-multi precheck` for the report)",
                    args.instance, args.to
                ));
            }
        }
        Ok(None) => {}
        Err(e) => printer.warn(&format!("the precheck could not run: {e:#}")),
    }
}
