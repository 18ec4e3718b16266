//! `tkn-multi install | upgrade | uninstall | apply -f`: plan a change, show it, apply it.
//!
//! All four build a [`Desired`] state and a scope, observe the cluster (or read `--state FILE`),
//! and call the one planner. `--dry-run` (client) prints the plan; `--dry-run=server` sends every
//! write with the API's dry run; without it the plan is printed and executed (plans that delete
//! or replace objects need `--yes`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, ValueEnum};

use crate::cli::settings::{Env, SourceArgs};
use crate::error::{ExitStatus, UserError};
use crate::matrix::Matrix;
use crate::names::{InstanceName, NamespaceName, SHARED_OWNER};
use crate::plan::fleet::parse_fleet;
use crate::plan::state::{ClusterState, STATE_FORMAT_VERSION};
use crate::plan::{
    self, Desired, DesiredInstance, Releases, SharedMode, SharedPolicy, UpdateShared,
};
use crate::printer::Printer;
use crate::release::TektonVersion;
use crate::render::plan::{to_json, to_text};
use crate::split::{DEFAULT_SHARED_NAMESPACE, InstanceSpec, SharedSpec};

use super::matrix::{MatrixSource, load_matrix};

/// Output format of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanOutput {
    /// Terraform-style text.
    Text,
    /// JSON with `formatVersion`.
    Json,
    /// YAML with `formatVersion`.
    Yaml,
}

/// `--dry-run` modes, as kubectl's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DryRun {
    /// Plan and print; send nothing.
    Client,
    /// Send the writes with the API's dryRun (needs the apply engine).
    Server,
}

/// Options every planning command takes.
#[derive(Debug, Args)]
#[allow(clippy::struct_excessive_bools)] // independent on/off flags, as kubectl and helm have them
pub struct PlanArgs {
    /// Only show the plan (`client`, the default) or have the API server validate it (`server`).
    #[arg(long, value_enum, num_args = 0..=1, default_missing_value = "client", require_equals = true)]
    pub dry_run: Option<DryRun>,
    /// Plan against a saved observation (`tkn-multi list -o yaml`) instead of a live cluster.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Output format of the plan.
    #[arg(short, long, value_enum, default_value_t = PlanOutput::Text)]
    pub output: PlanOutput,
    /// Exit 0 when there are no changes, 2 when there are, 1 on error (Terraform's meaning).
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Write the state the cluster would be in after this plan (for the next `--state`).
    #[arg(long, value_name = "FILE", requires = "state")]
    pub save_state: Option<PathBuf>,
    /// The namespace of the shared layer.
    #[arg(long, value_name = "NS", default_value = DEFAULT_SHARED_NAMESPACE)]
    pub shared_namespace: NamespaceName,
    /// Where releases come from.
    #[command(flatten)]
    pub source: SourceArgs,
    /// Where the matrix comes from.
    #[command(flatten)]
    pub matrix: MatrixSource,
    /// The cluster.
    #[command(flatten)]
    pub kube: KubeArgs,
    /// Apply plans that delete or replace objects without asking.
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Overall deadline for applying and waiting, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub timeout: u64,
    /// Take over fields that another field manager owns (server-side apply `force`).
    #[arg(long)]
    pub force_conflicts: bool,
    /// If applying fails, return the instances to where they were before this run (Helm's
    /// `--atomic`); the shared layer keeps its new version.
    #[arg(long)]
    pub atomic: bool,
    /// How many independent steps to run at once (1: one at a time, in the printed order).
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,
    /// How long to wait for another tkn-multi run's cluster lock, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub lock_timeout: u64,
}

/// kubectl-compatible cluster flags.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Kubernetes options")]
pub struct KubeArgs {
    /// The kubeconfig file [default: $KUBECONFIG, else ~/.kube/config]
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context [default: the current context]
    #[arg(long, value_name = "NAME", visible_alias = "kube-context")]
    pub context: Option<String>,
    /// The server-side apply field manager.
    #[arg(long, value_name = "NAME", default_value = "tkn-multi")]
    pub field_manager: String,
}

impl KubeArgs {
    /// The cluster these flags name.
    pub fn target(&self) -> crate::cluster::Target {
        crate::cluster::Target {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
        }
    }
}

/// Shared-layer policy flags of `install` and `upgrade`.
#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// `install`: change the shared layer as needed; `skip`: never touch it.
    #[arg(long, value_name = "MODE", default_value = "install", value_parser = ["install", "skip"])]
    pub shared: String,
    /// When the shared layer's version changes: `if-older` (only up, when needed), `never`,
    /// `always` (follow the newest instance, down too when safe).
    #[arg(long, value_name = "WHEN", default_value = "if-older", value_parser = ["if-older", "never", "always"])]
    pub update_shared: String,
}

impl PolicyArgs {
    fn policy(&self) -> SharedPolicy {
        SharedPolicy {
            mode: if self.shared == "skip" { SharedMode::Skip } else { SharedMode::Install },
            update: match self.update_shared.as_str() {
                "never" => UpdateShared::Never,
                "always" => UpdateShared::Always,
                _ => UpdateShared::IfOlder,
            },
            ..SharedPolicy::default()
        }
    }
}

/// Arguments of `install`.
#[derive(Debug, Args)]
pub struct InstallArgs {
    /// The Tekton Pipelines version, e.g. `v0.50.3`.
    pub version: TektonVersion,
    /// The instance and its namespaces.
    #[command(flatten)]
    pub target: super::InstanceArgs,
    /// Shared-layer policy.
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Planning options.
    #[command(flatten)]
    pub plan: PlanArgs,
}

/// Arguments of `upgrade`.
#[derive(Debug, Args)]
pub struct UpgradeArgs {
    /// The instance to upgrade.
    pub instance: InstanceName,
    /// The version to move it to.
    #[arg(long, value_name = "VERSION")]
    pub to: TektonVersion,
    /// Shared-layer policy.
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Planning options.
    #[command(flatten)]
    pub plan: PlanArgs,
}

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

/// Arguments of `apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The fleet file (`kind: Fleet`): every instance and the shared-layer policy.
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub file: PathBuf,
    /// Planning options.
    #[command(flatten)]
    pub plan: PlanArgs,
}

/// The observed cluster, the client that observed it (none with `--state`), and the cluster
/// lock when the run may write.
struct Observed {
    state: ClusterState,
    client: Option<kube::Client>,
    lock: Option<crate::cluster::lock::Held>,
}

async fn observe(args: &PlanArgs) -> anyhow::Result<Observed> {
    let Some(path) = &args.state else {
        let client = crate::cluster::connect(&args.kube.target()).await?;
        // A run that may write holds the lock from observation to the end, so no other run can
        // change the cluster between the plan and its execution.
        let lock = if args.dry_run == Some(DryRun::Client) {
            None
        } else {
            let identity = crate::cluster::lock::identity();
            let timeout = std::time::Duration::from_secs(args.lock_timeout);
            Some(crate::cluster::lock::acquire(&client, &identity, timeout).await?)
        };
        let state = crate::cluster::observe(&client).await.context("cannot observe the cluster")?;
        return Ok(Observed { state, client: Some(client), lock });
    };
    let text = fs_err::read_to_string(path)?;
    let state: ClusterState = crate::yaml::from_str(&text).with_context(|| {
        format!("state file `{}` is not a `tkn-multi list -o yaml` document", path.display())
    })?;
    if state.format_version != STATE_FORMAT_VERSION {
        return Err(UserError(format!(
            "state file `{}` has format version `{}`; this tkn-multi reads `{STATE_FORMAT_VERSION}`",
            path.display(),
            state.format_version
        ))
        .into());
    }
    Ok(Observed { state, client: None, lock: None })
}

/// The observed instances as desired ones (out of scope, so their objects are left alone).
fn observed_instances(state: &ClusterState) -> anyhow::Result<Vec<DesiredInstance>> {
    state
        .instances
        .iter()
        .map(|i| {
            Ok(DesiredInstance {
                spec: InstanceSpec {
                    name: i.name.parse()?,
                    namespace: i.namespace.parse()?,
                    control_plane_namespace: i.control_plane_namespace.parse()?,
                },
                version: i.version.clone(),
                config: BTreeMap::new(),
            })
        })
        .collect()
}

fn shared_spec(args: &PlanArgs, state: &ClusterState) -> anyhow::Result<SharedSpec> {
    if let Some(s) = &state.shared
        && s.namespace != args.shared_namespace.as_str()
    {
        return Err(UserError(format!(
            "the shared layer is installed in `{}`, not `{}`; pass `--shared-namespace {}`",
            s.namespace, args.shared_namespace, s.namespace
        ))
        .into());
    }
    Ok(SharedSpec { namespace: args.shared_namespace.clone() })
}

/// Releases the lock (if held) whatever the outcome, and passes the outcome on.
async fn finish(
    lock: Option<crate::cluster::lock::Held>,
    outcome: anyhow::Result<ExitStatus>,
) -> anyhow::Result<ExitStatus> {
    if let Some(lock) = lock {
        lock.release().await?;
    }
    outcome
}

/// Plans, loading whatever releases the planner asks for.
async fn make_plan(
    desired: &Desired,
    state: &ClusterState,
    args: &PlanArgs,
    env: &Env,
    printer: &Printer,
) -> anyhow::Result<plan::Plan> {
    let matrix: Matrix = load_matrix(&args.matrix)?;
    let mut releases = Releases::new();
    let source = SourceArgs { release_file: None, ..args.source.clone() };
    loop {
        match plan::plan(desired, state, &releases, &matrix) {
            Err(plan::Error::MissingRelease(v)) if !releases.contains_key(&v) => {
                let (release, _) = super::load_release(&v, &source, env, printer).await?;
                releases.insert(v, release);
            }
            other => return Ok(other?),
        }
    }
}

/// What `--atomic` returns to: the instances as observed before the run, in the same scope; a
/// shared layer that existed stays (at whatever version it now has: a shared upgrade may have
/// migrated stored versions, and the matrix guarantees it serves the older instances), one
/// this run created goes when no instance is left.
fn rollback_desired(forward: &Desired, before: &ClusterState) -> anyhow::Result<Desired> {
    let had_shared = before.shared.is_some();
    let mut scope = forward.scope.clone();
    if let Some(s) = scope.as_mut()
        && !had_shared
    {
        s.insert(SHARED_OWNER.to_owned());
    }
    Ok(Desired {
        shared: forward.shared.clone(),
        policy: SharedPolicy {
            mode: forward.policy.mode,
            update: UpdateShared::IfOlder,
            keep_on_uninstall: had_shared,
            downgrade: false,
        },
        instances: observed_instances(before)?,
        scope,
    })
}

/// `--atomic`: after `failure`, plans the way back to `before` and executes it.
async fn roll_back(
    failure: anyhow::Error,
    forward: &Desired,
    before: &ClusterState,
    args: &PlanArgs,
    env: &Env,
    printer: &Printer,
    (client, opts): (&kube::Client, &crate::apply::Options),
) -> anyhow::Error {
    printer.warn(&format!("{failure:#}"));
    printer.info("rolling back (`--atomic`)");
    let back = async {
        let desired = rollback_desired(forward, before)?;
        let now = crate::cluster::observe(client).await.context("cannot observe the cluster")?;
        let plan = make_plan(&desired, &now, args, env, printer).await?;
        printer.info(&to_text(&plan));
        crate::apply::execute(client, &plan, opts, printer).await
    };
    match back.await {
        Ok(()) => failure.context(crate::apply::RolledBack),
        Err(e) => e.context(format!(
            "the rollback failed too, after: {failure:#}; re-run the command, or roll back by hand"
        )),
    }
}

/// Plans, shows the plan, and (unless a client dry run) applies it.
async fn plan_and_show(
    desired: &Desired,
    state: &ClusterState,
    client: Option<&kube::Client>,
    args: &PlanArgs,
    env: &Env,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let plan = make_plan(desired, state, args, env, printer).await?;
    if args.dry_run != Some(DryRun::Client) && args.state.is_some() {
        printer.data(&to_text(&plan))?;
        return Err(UserError(
            "a plan made from `--state` is for review only; use `--dry-run`".into(),
        )
        .into());
    }
    if let Some(path) = &args.save_state {
        let mut next = state.clone();
        next.apply(&plan);
        fs_err::write(path, crate::yaml::to_string(&next)?)?;
    }
    printer.data(&match args.output {
        PlanOutput::Text => to_text(&plan),
        PlanOutput::Json => to_json(&plan),
        PlanOutput::Yaml => crate::yaml::to_string(&plan)?,
    })?;
    if args.dry_run != Some(DryRun::Client) {
        let destructive = plan.summary.delete + plan.summary.replace;
        if destructive > 0 && !args.yes && args.dry_run.is_none() {
            return Err(UserError(format!(
                "the plan deletes or replaces {destructive} object(s); review it and pass `--yes` to apply it"
            ))
            .into());
        }
        let client = client.expect("only `--state` plans lack a client, and they returned above");
        let opts = crate::apply::Options {
            field_manager: args.kube.field_manager.clone(),
            timeout: std::time::Duration::from_secs(args.timeout),
            force_conflicts: args.force_conflicts,
            server_dry_run: args.dry_run == Some(DryRun::Server),
            concurrency: usize::from(args.concurrency),
        };
        if let Err(e) = crate::apply::execute(client, &plan, &opts, printer).await {
            let partial = e.downcast_ref::<crate::apply::Incomplete>().is_some();
            return Err(if args.atomic && partial && !opts.server_dry_run {
                roll_back(e, desired, state, args, env, printer, (client, &opts)).await
            } else {
                e
            });
        }
        if plan.has_changes() {
            printer.info(if opts.server_dry_run {
                "the API server accepted every write it was sent (dry run: nothing was changed)"
            } else {
                "applied"
            });
        }
    }
    Ok(if args.detailed_exitcode && plan.has_changes() {
        ExitStatus::Changes
    } else {
        ExitStatus::Success
    })
}

/// Plans and applies `desired` (if it could be built) and always releases the lock.
async fn run_locked(
    desired: anyhow::Result<Desired>,
    observed: Observed,
    args: &PlanArgs,
    env: &Env,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let Observed { state, client, lock } = observed;
    let outcome = match desired {
        Ok(d) => plan_and_show(&d, &state, client.as_ref(), args, env, printer).await,
        Err(e) => Err(e),
    };
    finish(lock, outcome).await
}

/// Runs `install`.
pub async fn install(
    args: InstallArgs,
    env: &Env,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let observed = observe(&args.plan).await?;
    let desired = install_desired(&args, &observed.state);
    run_locked(desired, observed, &args.plan, env, printer).await
}

fn install_desired(args: &InstallArgs, state: &ClusterState) -> anyhow::Result<Desired> {
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
        return Err(UserError(format!(
            "instance `{name}` is already installed ({} in `{}`); use `tkn-multi upgrade {name} --to {}`",
            existing.version, existing.namespace, args.version
        ))
        .into());
    }
    let mut instances: Vec<_> =
        observed_instances(state)?.into_iter().filter(|i| i.spec.name != name).collect();
    instances.push(DesiredInstance {
        spec,
        version: args.version.clone(),
        config: BTreeMap::new(),
    });
    Ok(Desired {
        shared: shared_spec(&args.plan, state)?,
        policy: args.policy.policy(),
        instances,
        scope: Some(BTreeSet::from([name.to_string()])),
    })
}

/// Runs `upgrade`.
pub async fn upgrade(
    args: UpgradeArgs,
    env: &Env,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let observed = observe(&args.plan).await?;
    let desired = upgrade_desired(&args, &observed.state, *printer);
    run_locked(desired, observed, &args.plan, env, printer).await
}

fn upgrade_desired(
    args: &UpgradeArgs,
    state: &ClusterState,
    printer: Printer,
) -> anyhow::Result<Desired> {
    let Some(existing) = state.instance(args.instance.as_str()) else {
        return Err(UserError(format!("instance `{}` is not installed", args.instance)).into());
    };
    if existing.version > args.to {
        printer.warn(&format!(
            "moving `{}` down from {} to {}",
            args.instance, existing.version, args.to
        ));
    }
    let mut instances = observed_instances(state)?;
    for i in &mut instances {
        if i.spec.name == args.instance {
            i.version = args.to.clone();
        }
    }
    Ok(Desired {
        shared: shared_spec(&args.plan, state)?,
        policy: args.policy.policy(),
        instances,
        scope: Some(BTreeSet::from([args.instance.to_string()])),
    })
}

/// Runs `uninstall`.
pub async fn uninstall(
    args: UninstallArgs,
    env: &Env,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let observed = observe(&args.plan).await?;
    let desired = uninstall_desired(&args, &observed.state, *printer);
    run_locked(desired, observed, &args.plan, env, printer).await
}

fn uninstall_desired(
    args: &UninstallArgs,
    state: &ClusterState,
    printer: Printer,
) -> anyhow::Result<Desired> {
    if state.instance(args.instance.as_str()).is_none() {
        // An install interrupted before its controller existed leaves objects but no instance:
        // uninstall removes them.
        if !state.objects.iter().any(|o| o.owner == args.instance.as_str()) {
            return Err(UserError(format!("instance `{}` is not installed", args.instance)).into());
        }
        printer.warn(&format!(
            "`{}` is only partly installed (an interrupted install?); removing what it left",
            args.instance
        ));
    }
    let instances: Vec<_> =
        observed_instances(state)?.into_iter().filter(|i| i.spec.name != args.instance).collect();
    let mut scope = BTreeSet::from([args.instance.to_string()]);
    if instances.is_empty() && !args.keep_shared {
        scope.insert(SHARED_OWNER.to_owned());
    }
    Ok(Desired {
        shared: shared_spec(&args.plan, state)?,
        policy: SharedPolicy {
            keep_on_uninstall: args.keep_shared,
            downgrade: args.downgrade_shared,
            ..SharedPolicy::default()
        },
        instances,
        scope: Some(scope),
    })
}

/// Runs `apply -f`.
pub async fn apply(args: ApplyArgs, env: &Env, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let text = fs_err::read_to_string(&args.file)?;
    let desired = parse_fleet(&text, &args.file.display().to_string())?;
    if desired.shared.namespace != args.plan.shared_namespace
        && args.plan.shared_namespace.as_str() != DEFAULT_SHARED_NAMESPACE
    {
        return Err(UserError(
            "the fleet file sets the shared namespace; do not pass `--shared-namespace`".into(),
        )
        .into());
    }
    let observed = observe(&args.plan).await?;
    run_locked(Ok(desired), observed, &args.plan, env, printer).await
}
