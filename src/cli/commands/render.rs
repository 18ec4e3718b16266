//! `tkn-multi render`: the manifests of the shared part and one instance, offline.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::cli::exit::ExitStatus;
use crate::cli::settings::{Env, SourceArgs};
use crate::names::NamespaceName;
use crate::printer::Printer;
use crate::release::TektonVersion;
use crate::release::capabilities::Capabilities;
use crate::render::manifests::{to_tree, to_yaml_stream};
use crate::split::{DEFAULT_SHARED_NAMESPACE, SharedSpec, instance_part, shared_part};

/// Which part to render.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PartArg {
    /// Only what exists once per cluster (CRDs, conversion webhook, shared components).
    Shared,
    /// Only the instance.
    Instance,
    /// Both, shared first.
    All,
}

/// Print the manifests of the shared part and of one instance, without a cluster.
///
/// Like `helm template`: nothing is sent anywhere. Pipe it to `kubectl apply --server-side -f -`
/// or write a `GitOps` tree with `--output-dir`.
///
/// Example: `tkn-multi render v0.50.3 --namespace team-a --release-file release.yaml`
#[derive(Debug, Args)]
pub struct RenderArgs {
    /// The Tekton Pipelines version, e.g. `v0.50.3`.
    pub version: TektonVersion,
    /// The instance and its namespaces.
    #[command(flatten)]
    pub target: crate::cli::args::InstanceArgs,
    /// The namespace of the shared conversion webhook.
    #[arg(long, value_name = "NS", default_value = DEFAULT_SHARED_NAMESPACE)]
    pub shared_namespace: NamespaceName,
    /// Which part to render.
    #[arg(long, value_enum, default_value_t = PartArg::All)]
    pub part: PartArg,
    /// Write one file per object (`cluster/…`, `namespaces/<ns>/…`) instead of printing.
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
    /// Pull every Tekton image from this mirror (host, port, path prefix), repository paths,
    /// tags and digests kept; the controller's `-*-image` arguments too.
    #[arg(long, value_name = "REGISTRY", env = "TKN_MULTI_IMAGE_REGISTRY")]
    pub image_registry: Option<crate::plan::overrides::ImageRegistry>,
    /// Where the release comes from.
    #[command(flatten)]
    pub source: SourceArgs,
}

/// Runs `render`.
pub async fn run(args: RenderArgs, env: &Env, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let spec = args.target.spec()?;
    let shared = SharedSpec { namespace: args.shared_namespace.clone() };
    let (release, _) = super::load_release(&args.version, &args.source, env, printer).await?;
    if !Capabilities::of(&release.version).instance_admission() && args.part != PartArg::Shared {
        printer.warn(&format!(
            "{} hard-codes its admission webhook names and compat-matrix/admission.yaml does not record \
             what it admits: instance `{}` runs without admission (validation and defaulting still \
             happen in the controller)",
            release.version, spec.name
        ));
    }
    if Capabilities::of(&release.version).owned_admission && args.part != PartArg::Shared {
        printer.warn(&format!(
            "{} (before v0.44): the rendered admission configurations carry no caBundle and \
             `webhook-certs` no certificate; `tkn-multi install`/`apply` writes both (or run \
             `tkn-multi rotate-certs {}` after a GitOps sync); until then admission in `{}` fails",
            release.version, spec.name, spec.namespace
        ));
    }
    let mut objects = Vec::new();
    if args.part != PartArg::Instance {
        objects.extend(shared_part(&release, &shared));
    }
    if args.part != PartArg::Shared {
        objects.extend(instance_part(&release, &spec, &shared)?);
    }
    let relocation = crate::plan::overrides::Overrides::registry(args.image_registry.clone());
    for o in &mut objects {
        relocation.apply(o);
    }
    match &args.output_dir {
        None => printer.data(&to_yaml_stream(&objects)?)?,
        Some(dir) => {
            let files = to_tree(&objects)?;
            for (rel, content) in &files {
                let path = dir.join(rel);
                fs_err::create_dir_all(path.parent().expect("tree paths have a parent"))?;
                fs_err::write(&path, content)?;
            }
            printer.info(&format!("wrote {} files to {}", files.len(), dir.display()));
        }
    }
    Ok(ExitStatus::Success)
}
