//! `tkn-multi install VERSION -n NS`: add an instance (and whatever the shared layer needs).

use std::collections::BTreeSet;

use clap::Args;

use crate::cli::args::{InstanceArgs, PlanArgs, PolicyArgs};
use crate::cli::exit::ExitStatus;
use crate::cli::settings::Env;
use crate::fault::UserError;
use crate::plan::state::ClusterState;
use crate::plan::{Desired, DesiredInstance};
use crate::printer::Printer;
use crate::release::TektonVersion;

/// Arguments of `install`.
#[derive(Debug, Args)]
pub struct InstallArgs {
    /// The Tekton Pipelines version, e.g. `v0.50.3`.
    pub version: TektonVersion,
    /// The instance and its namespaces.
    #[command(flatten)]
    pub target: InstanceArgs,
    /// Shared-layer policy.
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Planning options.
    #[command(flatten)]
    pub plan: PlanArgs,
}

/// Runs `install`.
pub async fn run(args: InstallArgs, env: &Env, printer: &Printer) -> anyhow::Result<ExitStatus> {
    super::common::change(&args.plan, env, printer, |state| desired(&args, state)).await
}

/// Every observed instance, and this one at `args.version`; only this one in scope.
fn desired(args: &InstallArgs, state: &ClusterState) -> anyhow::Result<Desired> {
    let spec = args.target.spec()?;
    let name = spec.name.clone();
    let same = |e: &crate::plan::state::ObservedInstance| {
        e.version == args.version
            && e.namespace == spec.namespace.as_str()
            && e.control_plane_namespace == spec.control_plane_namespace.as_str()
    };
    // Re-running the same install converges (after an interruption) or is a no-op; anything
    // else on an installed name is an upgrade or a different instance.
    if let Some(existing) = state.instance(name.as_str()).filter(|e| !same(e)) {
        return Err(UserError::msg(format!(
            "instance `{name}` is already installed ({} in `{}`); use `tkn-multi upgrade {name} --to {}`",
            existing.version, existing.namespace, args.version
        ))
        .into());
    }
    let mut instances: Vec<_> =
        state.desired_instances()?.into_iter().filter(|i| i.spec.name != name).collect();
    instances.push(DesiredInstance {
        spec,
        version: args.version.clone(),
        config: std::collections::BTreeMap::new(),
        overrides: crate::plan::overrides::Overrides::default(),
        // Re-running an install converges: what the instance keeps stays kept.
        kept_defaults: state
            .instance(name.as_str())
            .map(|e| e.kept_defaults.clone())
            .unwrap_or_default(),
        keep_defaults: false,
    });
    Ok(Desired {
        shared: super::common::shared_spec(&args.plan, state)?,
        policy: args.policy.policy(),
        image_registry: None,
        instances,
        scope: Some(BTreeSet::from([name.to_string()])),
        certificates: std::collections::BTreeMap::new(),
    })
}
