//! The flags several commands share: the cluster, planning, the shared-layer policy, one
//! instance. Closed sets of values are `ValueEnum`s, so clap lists and checks them.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, ValueEnum};

use crate::cli::settings::SourceArgs;
use crate::names::{InstanceName, NamespaceName, default_control_plane_namespace};
use crate::plan::{SharedMode, SharedPolicy, UpdateShared};
use crate::split::{DEFAULT_SHARED_NAMESPACE, InstanceSpec};

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
    /// Read large lists (the objects a storage migration rewrites) in pages of this many, as
    /// kubectl's `--chunk-size`.
    #[arg(long, value_name = "N", default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..))]
    pub chunk_size: u32,
    /// How long to wait for another tkn-multi run's cluster lock, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub lock_timeout: u64,
    /// Pull every Tekton image from this mirror (host, port, path prefix), repository paths,
    /// tags and digests kept; the controller's `-*-image` arguments too.
    #[arg(long, value_name = "REGISTRY", env = "TKN_MULTI_IMAGE_REGISTRY")]
    pub image_registry: Option<crate::plan::overrides::ImageRegistry>,
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
    /// Client-side limit: requests per second to the API server, on average (client-go's QPS).
    #[arg(long, value_name = "N", default_value_t = crate::cluster::throttle::DEFAULT_QPS, value_parser = clap::value_parser!(u32).range(1..))]
    pub qps: u32,
    /// Client-side limit: requests sent at once before `--qps` applies (client-go's burst).
    #[arg(long, value_name = "N", default_value_t = crate::cluster::throttle::DEFAULT_BURST, value_parser = clap::value_parser!(u32).range(1..))]
    pub burst: u32,
}

impl KubeArgs {
    /// The cluster these flags name.
    pub fn connection(&self) -> crate::cluster::Connection {
        crate::cluster::Connection {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
            qps: self.qps,
            burst: self.burst,
        }
    }
}

/// `--shared`: whether this run may change the shared layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SharedArg {
    /// Change the shared layer as needed.
    Install,
    /// Never touch it.
    Skip,
}

/// `--update-shared`: when the shared layer's version changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum UpdateSharedArg {
    /// Only up, and only when an instance needs it.
    IfOlder,
    /// Never.
    Never,
    /// Follow the newest instance, down too when the matrix says it is safe.
    Always,
}

/// Shared-layer policy flags of `install` and `upgrade`.
#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// Whether this run may change the shared layer.
    #[arg(long, value_name = "MODE", value_enum, default_value_t = SharedArg::Install)]
    pub shared: SharedArg,
    /// When the shared layer's version changes.
    #[arg(long, value_name = "WHEN", value_enum, default_value_t = UpdateSharedArg::IfOlder)]
    pub update_shared: UpdateSharedArg,
    /// Move the shared layer even to a version the compatibility lab's evidence shows breaking
    /// an instance's workloads (`tkn-multi matrix check` names them)
    #[arg(long)]
    pub accept_broken_workloads: bool,
}

impl PolicyArgs {
    /// The planner's policy these flags ask for.
    pub fn policy(&self) -> SharedPolicy {
        SharedPolicy {
            mode: match self.shared {
                SharedArg::Install => SharedMode::Install,
                SharedArg::Skip => SharedMode::Skip,
            },
            update: match self.update_shared {
                UpdateSharedArg::IfOlder => UpdateShared::IfOlder,
                UpdateSharedArg::Never => UpdateShared::Never,
                UpdateSharedArg::Always => UpdateShared::Always,
            },
            accept_broken_workloads: self.accept_broken_workloads,
            ..SharedPolicy::default()
        }
    }
}

/// The flags that name one instance and its namespaces (`render`, `install`).
#[derive(Debug, Args)]
pub struct InstanceArgs {
    /// The namespace the instance reconciles (its `PipelineRuns` and `TaskRuns` live there).
    #[arg(short, long, value_name = "NS")]
    pub namespace: NamespaceName,
    /// The instance's name [default: the namespace]
    #[arg(long, value_name = "NAME")]
    pub instance: Option<InstanceName>,
    /// Where the instance's controller and webhook run [default: tekton-<instance>]
    #[arg(long, value_name = "NS")]
    pub control_plane_namespace: Option<NamespaceName>,
}

impl InstanceArgs {
    /// The instance these flags name, with the defaults applied.
    pub fn spec(&self) -> anyhow::Result<InstanceSpec> {
        let name =
            match &self.instance {
                Some(n) => n.clone(),
                None => self.namespace.as_str().parse().context(
                    "the namespace cannot serve as the instance name; pass `--instance`",
                )?,
            };
        let control_plane_namespace = self
            .control_plane_namespace
            .clone()
            .unwrap_or_else(|| default_control_plane_namespace(&name));
        Ok(InstanceSpec {
            name,
            namespace: self.namespace.clone(),
            control_plane_namespace,
            admission_ca: None,
        })
    }
}

/// Where the matrix comes from.
#[derive(Debug, Clone, Default, Args)]
pub struct MatrixSource {
    /// Read the matrix from this directory instead of the built-in copy.
    #[arg(long, value_name = "DIR", global = true)]
    pub matrix_dir: Option<PathBuf>,
}
