//! `tkn-multi uninstall INSTANCE`: remove an instance; the shared layer goes with the last one.

use std::collections::BTreeSet;

use clap::Args;

use crate::cli::args::PlanArgs;
use crate::cli::exit::ExitStatus;
use crate::cli::settings::Env;
use crate::fault::UserError;
use crate::names::{InstanceName, SHARED_OWNER};
use crate::plan::state::ClusterState;
use crate::plan::{Desired, SharedPolicy};
use crate::printer::Printer;

/// Arguments of `uninstall`.
#[derive(Debug, Args)]
pub struct UninstallArgs {
    /// The instance to remove.
    pub instance: InstanceName,
    /// Keep the shared layer even when this is the last instance.
    #[arg(long)]
    pub keep_shared: bool,
    /// Lower the shared layer to what the remaining instances need, when the matrix says it is
    /// safe.
    #[arg(long, conflicts_with = "keep_shared")]
    pub downgrade_shared: bool,
    /// Planning options.
    #[command(flatten)]
    pub plan: PlanArgs,
}

/// Runs `uninstall`.
pub async fn run(args: UninstallArgs, env: &Env, printer: &Printer) -> anyhow::Result<ExitStatus> {
    super::common::change(&args.plan, env, printer, |state| desired(&args, state, *printer)).await
}

/// Every observed instance but this one; this one (and with the last, the shared layer) in
/// scope.
fn desired(
    args: &UninstallArgs,
    state: &ClusterState,
    printer: Printer,
) -> anyhow::Result<Desired> {
    if state.instance(args.instance.as_str()).is_none() {
        // An install interrupted before its controller existed leaves objects but no instance:
        // uninstall removes them.
        if !state.objects.iter().any(|o| o.owner == args.instance.as_str()) {
            return Err(
                UserError::msg(format!("instance `{}` is not installed", args.instance)).into()
            );
        }
        printer.warn(&format!(
            "`{}` is only partly installed (an interrupted install?); removing what it left",
            args.instance
        ));
    }
    let instances: Vec<_> =
        state.desired_instances()?.into_iter().filter(|i| i.spec.name != args.instance).collect();
    let mut scope = BTreeSet::from([args.instance.to_string()]);
    if instances.is_empty() && !args.keep_shared {
        scope.insert(SHARED_OWNER.to_owned());
    }
    Ok(Desired {
        shared: super::common::shared_spec(&args.plan, state)?,
        policy: SharedPolicy {
            keep_on_uninstall: args.keep_shared,
            downgrade: args.downgrade_shared,
            ..SharedPolicy::default()
        },
        image_registry: None,
        instances,
        scope: Some(scope),
        certificates: std::collections::BTreeMap::new(),
    })
}
