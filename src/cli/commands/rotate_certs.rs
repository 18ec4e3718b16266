//! `tkn-multi rotate-certs [INSTANCE...]`: renew the webhook certificates of instances before
//! v0.44, which tkn-multi owns (see `crate::tls`).

use std::collections::BTreeSet;

use clap::Args;

use crate::cli::args::PlanArgs;
use crate::cli::exit::ExitStatus;
use crate::cli::settings::Env;
use crate::fault::UserError;
use crate::names::InstanceName;
use crate::plan::state::ClusterState;
use crate::plan::{Desired, SharedPolicy, UpdateShared};
use crate::printer::Printer;
use crate::release::capabilities::Capabilities;
use crate::tls::Force;

/// Arguments of `rotate-certs`.
#[derive(Debug, Args)]
pub struct RotateCertsArgs {
    /// The instances (default: every instance before v0.44).
    pub instances: Vec<InstanceName>,
    /// Also replace the CA. Takes two passes: the first trusts the old and the new CA and keeps
    /// the serving certificate, the second signs a new one with the new CA, so admission never
    /// stops trusting the webhook.
    #[arg(long)]
    pub ca: bool,
    /// Planning options.
    #[command(flatten)]
    pub plan: PlanArgs,
}

/// Runs `rotate-certs`.
pub async fn run(
    args: RotateCertsArgs,
    env: &Env,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let first = Force { serving: !args.ca, ca: args.ca };
    let status =
        super::common::change_with(&args.plan, env, printer, first, |state| desired(&args, state))
            .await?;
    if !args.ca {
        return Ok(status);
    }
    if args.plan.dry_run.is_some() || args.plan.state.is_some() {
        printer.info(
            "a second pass then signs new serving certificates with the new CAs (not shown: it \
             plans from what the first pass leaves)",
        );
        return Ok(status);
    }
    printer.info("second pass: serving certificates signed by the new CAs");
    super::common::change_with(&args.plan, env, printer, Force::default(), |state| {
        desired(&args, state)
    })
    .await
}

/// Every observed instance as it is; the instances asked for in scope.
fn desired(args: &RotateCertsArgs, state: &ClusterState) -> anyhow::Result<Desired> {
    let owned = |v| Capabilities::of(v).owned_admission;
    let scope: BTreeSet<String> = if args.instances.is_empty() {
        state.instances.iter().filter(|i| owned(&i.version)).map(|i| i.name.clone()).collect()
    } else {
        let mut s = BTreeSet::new();
        for name in &args.instances {
            let Some(i) = state.instance(name.as_str()) else {
                return Err(UserError::msg(format!("instance `{name}` is not installed")).into());
            };
            if !owned(&i.version) {
                return Err(UserError::msg(format!(
                    "instance `{name}` runs {}: from v0.44 knative's webhook keeps its own \
                     certificate (and renews it a day before it expires); tkn-multi owns \
                     certificates only before v0.44",
                    i.version
                ))
                .into());
            }
            s.insert(name.to_string());
        }
        s
    };
    if scope.is_empty() {
        return Err(UserError::msg(
            "no installed instance before v0.44: there is no certificate for tkn-multi to rotate"
                .into(),
        )
        .into());
    }
    Ok(Desired {
        shared: super::common::shared_spec(&args.plan, state)?,
        policy: SharedPolicy { update: UpdateShared::Never, ..SharedPolicy::default() },
        image_registry: None,
        instances: state.desired_instances()?,
        scope: Some(scope),
        certificates: std::collections::BTreeMap::new(),
    })
}
