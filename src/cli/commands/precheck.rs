//! `tkn-multi precheck INSTANCE --to VERSION`: what moving an instance to another version breaks
//! or changes in the cluster's own Tekton objects. Read-only. **The shell.**

use clap::Args;
use kube::api::ListParams;
use kube::core::GroupVersionKind;

use crate::cli::args::{KubeArgs, MatrixSource, PlanOutput};
use crate::cli::exit::ExitStatus;
use crate::cli::settings::{Env, SourceArgs};
use crate::fault::UserError;
use crate::names::InstanceName;
use crate::printer::Printer;
use crate::release::{Release, TektonVersion};

/// Arguments of `precheck`.
#[derive(Debug, Args)]
pub struct PrecheckArgs {
    /// The instance.
    pub instance: InstanceName,
    /// The version it would move to.
    #[arg(long, value_name = "VERSION")]
    pub to: TektonVersion,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = PlanOutput::Text)]
    pub output: PlanOutput,
    /// Do not ask the target version's own webhook: no shadow of it is created, and nothing is
    /// written to the cluster. Its refusals and defaults go unjudged.
    #[arg(long)]
    pub no_webhook: bool,
    /// How long to wait for another tkn-multi run's cluster lock, in seconds (the shadow is
    /// created under it).
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub lock_timeout: u64,
    /// Where the matrix (its recorded defaults) comes from.
    #[command(flatten)]
    pub matrix: MatrixSource,
    /// Where the two releases come from.
    #[command(flatten)]
    pub source: SourceArgs,
    /// The cluster.
    #[command(flatten)]
    pub kube: KubeArgs,
}

/// Runs `precheck`: exit 1 when a finding blocks the move.
pub async fn run(args: PrecheckArgs, env: &Env, printer: &Printer) -> anyhow::Result<ExitStatus> {
    if args.source.release_file.is_some() {
        return Err(UserError::msg(
            "`precheck` reads two releases; use `--release-dir` instead of `--release-file`".into(),
        )
        .into());
    }
    let target = Target {
        kube: &args.kube,
        source: &args.source,
        matrix: &args.matrix,
        webhook: !args.no_webhook,
        lock_timeout: std::time::Duration::from_secs(args.lock_timeout),
    };
    let Some(report) = judge(&target, &args.instance, &args.to, env, printer).await? else {
        return Err(UserError::msg(format!("instance `{}` is not installed", args.instance)).into());
    };
    printer.data(&match args.output {
        PlanOutput::Json => serde_json::to_string_pretty(&report)? + "\n",
        PlanOutput::Yaml => crate::yaml::to_string(&report)?,
        PlanOutput::Text => crate::render::precheck::precheck_text(&report),
    })?;
    Ok(if report.blocked() { ExitStatus::UserError } else { ExitStatus::Success })
}

/// Where a precheck reads: the cluster, the releases, the matrix.
pub(super) struct Target<'a> {
    pub(super) kube: &'a KubeArgs,
    pub(super) source: &'a SourceArgs,
    pub(super) matrix: &'a MatrixSource,
    /// Whether to ask the target's webhook (a shadow of it).
    pub(super) webhook: bool,
    /// How long to wait for the cluster lock the shadow is created under.
    pub(super) lock_timeout: std::time::Duration,
}

/// The precheck of moving `instance` to `to`; `None` when it is not installed.
pub(super) async fn judge(
    target: &Target<'_>,
    instance: &InstanceName,
    to: &TektonVersion,
    env: &Env,
    printer: &Printer,
) -> anyhow::Result<Option<crate::precheck::Report>> {
    let matrix = super::common::load_matrix(target.matrix)?;
    let client = crate::cluster::connect(&target.kube.connection()).await?;
    let apis = crate::cluster::Apis::new(client);
    let state = crate::cluster::observe(&apis).await?;
    let Some(instance) = state.instance(instance.as_str()) else { return Ok(None) };
    let from = super::common::load_release(&instance.version, target.source, env, printer).await?.0;
    let to = super::common::load_release(to, target.source, env, printer).await?.0;
    let objects = tekton_objects(&apis, &from, &instance.namespace).await?;
    let report = crate::precheck::precheck(instance, &from, &to, &matrix.defaults, &objects);
    let outcome = if target.webhook {
        ask_webhook(&apis, instance, &from, &to, &objects, target.lock_timeout, printer).await?
    } else {
        Err("not asked (`--no-webhook`)".to_owned())
    };
    Ok(Some(report.with_webhook(outcome)))
}

/// Asks a shadow of `to`'s webhook about `objects`, under the cluster lock (removing any shadow a
/// killed run left first). `Err` says why the webhook could not be asked (a version whose webhook
/// runs no shadow).
async fn ask_webhook(
    apis: &crate::cluster::Apis,
    instance: &crate::plan::state::ObservedInstance,
    from: &Release,
    to: &Release,
    objects: &[serde_json::Value],
    lock_timeout: std::time::Duration,
    printer: &Printer,
) -> anyhow::Result<Result<(usize, Vec<crate::precheck::Finding>), String>> {
    use crate::apply::shadow;
    let id = shadow::new_id();
    let sh = match crate::shadow::Shadow::new(&id, &to.version) {
        Ok(sh) => sh,
        Err(why) => return Ok(Err(why.to_string())),
    };
    let live = shadow::live_config(apis, &instance.control_plane_namespace).await?;
    let config = crate::shadow::config(from, &live, &std::collections::BTreeMap::new());
    let made = match sh.objects(to, &config) {
        Ok(made) => made,
        Err(why) => return Ok(Err(why.to_string())),
    };
    let candidates: Vec<_> =
        objects.iter().filter_map(|o| crate::shadow::candidate(o, &sh.namespace())).collect();
    if candidates.is_empty() {
        return Ok(Ok((0, Vec::new()))); // nothing to ask: no shadow
    }
    let probe_version = storage_version(from, "tasks.tekton.dev")
        .map_or_else(|| "tekton.dev/v1".to_owned(), |v| format!("tekton.dev/{v}"));
    let held = crate::cluster::lock::acquire(
        apis.client(),
        &crate::cluster::lock::identity(),
        lock_timeout,
    )
    .await?;
    let asked = async {
        let left = shadow::remove_all(apis).await?;
        if left > 0 {
            printer.info(&format!("removed {left} shadow(s) a killed run left behind"));
        }
        shadow::judge(apis, &sh, &made, candidates, &probe_version, printer).await
    }
    .await;
    held.release().await?;
    let verdict = asked?;
    Ok(Ok((verdict.judged, verdict.findings)))
}

/// The storage version of CRD `name` in `release`.
fn storage_version(release: &Release, name: &str) -> Option<String> {
    let crd = release
        .objects
        .iter()
        .find(|o| o.kind() == "CustomResourceDefinition" && o.name() == name)?;
    crd.pointer("/spec/versions")?.as_array()?.iter().find(|v| v["storage"] == true)?["name"]
        .as_str()
        .map(str::to_owned)
}

/// Every namespaced Tekton object of `namespace`, of each kind the running release defines, read
/// at the version its CRD stores (paginated).
async fn tekton_objects(
    apis: &crate::cluster::Apis,
    release: &Release,
    namespace: &str,
) -> anyhow::Result<Vec<serde_json::Value>> {
    use anyhow::Context as _;
    let mut out = Vec::new();
    for crd in release.objects.iter().filter(|o| o.kind() == "CustomResourceDefinition") {
        let spec = crd.pointer("/spec").cloned().unwrap_or_default();
        if spec["scope"] != "Namespaced" {
            continue;
        }
        let group = spec["group"].as_str().unwrap_or_default();
        let kind = spec["names"]["kind"].as_str().unwrap_or_default();
        let Some(version) = spec["versions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|v| v["storage"] == true)
            .and_then(|v| v["name"].as_str())
        else {
            continue;
        };
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let api = apis.api(&gvk, Some(namespace)).await?;
        let items = crate::cluster::list_all(&ListParams::default(), |p| {
            let api = api.clone();
            async move { api.list(&p).await }
        })
        .await
        .with_context(|| format!("cannot list {kind}s in `{namespace}`"))?;
        for o in items {
            let mut v = serde_json::to_value(&o)?;
            // A list's items carry no kind or apiVersion.
            v["kind"] = kind.into();
            v["apiVersion"] = format!("{group}/{version}").into();
            out.push(v);
        }
    }
    Ok(out)
}
