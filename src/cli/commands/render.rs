//! `tkn-multi render`: the manifests of the shared part and one instance, offline.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use anyhow::Context as _;

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

/// `--gitops`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GitopsArg {
    /// Flux: kustomize trees per cluster and owner, and `Kustomization`s that apply them.
    Flux,
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
    #[arg(required_unless_present = "fleet")]
    pub version: Option<TektonVersion>,
    /// The namespace the instance reconciles (its `PipelineRuns` and `TaskRuns` live there).
    #[arg(short, long, value_name = "NS", required_unless_present = "fleet")]
    pub namespace: Option<NamespaceName>,
    /// The instance's name [default: the namespace]
    #[arg(long, value_name = "NAME")]
    pub instance: Option<crate::names::InstanceName>,
    /// Where the instance's controller and webhook run [default: tekton-<instance>]
    #[arg(long, value_name = "NS")]
    pub control_plane_namespace: Option<NamespaceName>,
    /// Render a fleet with `clusters:` instead of one instance: every cluster's shared layer and
    /// instances as it would be installed on an empty cluster (needs `--gitops`).
    #[arg(short = 'f', long = "filename", value_name = "FILE", conflicts_with_all = ["version", "namespace", "instance", "control_plane_namespace", "part"], requires_all = ["gitops", "output_dir"])]
    pub fleet: Option<PathBuf>,
    /// The `GitOps` engine the fleet's tree is for.
    #[arg(long, value_enum, value_name = "ENGINE", requires = "fleet")]
    pub gitops: Option<GitopsArg>,
    /// The namespace of the Flux objects (and the members' kubeconfig Secrets,
    /// `<cluster>-kubeconfig`) in the management cluster.
    #[arg(long, value_name = "NS", default_value = "flux-system")]
    pub flux_namespace: NamespaceName,
    /// The Flux source every Kustomization reads: `KIND/NAME`.
    #[arg(long, value_name = "KIND/NAME", default_value = "GitRepository/tkn-multi")]
    pub flux_source: String,
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
    if let Some(file) = &args.fleet {
        return fleet(&args, file, env, printer).await;
    }
    let target = crate::cli::args::InstanceArgs {
        namespace: args.namespace.clone().expect("clap requires it without --filename"),
        instance: args.instance.clone(),
        control_plane_namespace: args.control_plane_namespace.clone(),
    };
    let spec = target.spec().map_err(crate::fault::user)?;
    let version = args.version.clone().expect("clap requires it without --filename");
    let shared = SharedSpec { namespace: args.shared_namespace.clone() };
    let (release, _) = super::common::load_release(&version, &args.source, env, printer).await?;
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
        objects.extend(instance_part(&release, &spec, &shared).map_err(crate::fault::user)?);
    }
    let relocation = crate::plan::overrides::Overrides::registry(args.image_registry.clone());
    for o in &mut objects {
        relocation.apply(o);
    }
    match &args.output_dir {
        None => printer.data(&to_yaml_stream(&objects)?)?,
        Some(dir) => write_tree(dir, &to_tree(&objects)?, printer)?,
    }
    Ok(ExitStatus::Success)
}

/// `render -f FLEET --gitops flux --output-dir DIR`: every cluster planned from an empty
/// cluster (the matrix picks its shared version), written as a Flux tree.
async fn fleet(
    args: &RenderArgs,
    file: &std::path::Path,
    env: &Env,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    use crate::fleet::{FLEET_V1ALPHA2, Fleet, parse};
    let dir = args.output_dir.as_ref().expect("clap requires --output-dir with --filename");
    let text = fs_err::read_to_string(file)?;
    let Fleet::Clusters(members) =
        parse(&text, &file.display().to_string()).map_err(crate::fault::user)?
    else {
        return Err(crate::fault::UserError::msg(format!(
            "`--gitops` renders a fleet with `clusters:` (apiVersion `{FLEET_V1ALPHA2}`)"
        ))
        .into());
    };
    let (kind, name) = args
        .flux_source
        .split_once('/')
        .filter(|(k, n)| !k.is_empty() && !n.is_empty())
        .ok_or_else(|| {
            crate::fault::UserError::msg(format!(
                "`--flux-source {}`: expected KIND/NAME, e.g. GitRepository/fleet",
                args.flux_source
            ))
        })?;
    let opts = crate::render::flux::FluxOptions {
        namespace: args.flux_namespace.to_string(),
        source_kind: kind.to_owned(),
        source_name: name.to_owned(),
        ..crate::render::flux::FluxOptions::default()
    };
    let matrix = crate::matrix::Matrix::embedded();
    let empty = crate::plan::state::ClusterState::empty();
    let mut releases = crate::plan::Releases::new();
    let sources = super::common::Sources { source: args.source.clone(), env, printer };
    let mut files = Vec::new();
    let names: Vec<String> = members.iter().map(|m| m.cluster.name.to_string()).collect();
    files.push(crate::render::flux::index(&names.iter().map(String::as_str).collect::<Vec<_>>())?);
    for m in members {
        let mut desired = m.desired;
        super::common::relocate_in_scope(&mut desired, args.image_registry.clone());
        for i in &desired.instances {
            if Capabilities::of(&i.version).owned_admission {
                printer.warn(&format!(
                    "cluster {}: {} (before v0.44) needs a webhook certificate that a GitOps tree cannot hold: run `tkn-multi rotate-certs {}` against the cluster after Flux applies it",
                    m.cluster.name, i.version, i.spec.name
                ));
            }
        }
        let plan = crate::converge::make_plan(&desired, &empty, &sources, &mut releases, &matrix)
            .await
            .with_context(|| format!("cluster `{}`", m.cluster.name))?;
        files.extend(crate::render::flux::cluster_tree(m.cluster.name.as_str(), &plan, &opts)?);
    }
    write_tree(dir, &files, printer)?;
    Ok(ExitStatus::Success)
}

/// Writes a tree of (relative path, content) files under `dir`, and says how many. Paths come
/// from data (namespaces, kinds, names, cluster names): every one is checked before anything is
/// written ([`crate::render::tree_path_problem`]), and each file's final directory must lie
/// inside `dir` (a symlink placed in the output directory does not lead out of it).
fn write_tree<P: AsRef<std::path::Path>>(
    dir: &std::path::Path,
    files: &[(P, String)],
    printer: &Printer,
) -> anyhow::Result<()> {
    for (rel, _) in files {
        if let Some(why) = crate::render::tree_path_problem(rel.as_ref()) {
            return Err(crate::fault::UserError::msg(format!(
                "refusing to write `{}` under --output-dir: {why}",
                crate::render::escape(&rel.as_ref().display().to_string())
            ))
            .into());
        }
    }
    fs_err::create_dir_all(dir)?;
    let root = fs_err::canonicalize(dir)?;
    for (rel, content) in files {
        let path = root.join(rel);
        // Directory by directory, never through a symlink: create_dir_all would follow one.
        let mut cur = root.clone();
        let parents = rel.as_ref().parent().map_or(0, |p| p.components().count());
        for c in rel.as_ref().components().take(parents) {
            cur.push(c);
            match fs_err::symlink_metadata(&cur) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return Err(crate::fault::UserError::msg(format!(
                        "refusing to write `{}`: `{}` is a symlink or a file, and could lead outside --output-dir {}",
                        rel.as_ref().display(),
                        cur.display(),
                        dir.display()
                    ))
                    .into());
                }
                Err(_) => fs_err::create_dir(&cur)?,
            }
        }
        if fs_err::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
            fs_err::remove_file(&path)?;
        }
        fs_err::write(&path, content)?;
    }
    printer.info(&format!("wrote {} files to {}", files.len(), dir.display()));
    Ok(())
}
