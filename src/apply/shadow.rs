//! The shadow of a target version's webhook on the live cluster: created, asked about each
//! object by server-side dry run, and removed. **I/O**; what it is made of and what its answers
//! mean is the core's (`tkn_multi_core::shadow`).
//!
//! Only a run that holds the cluster lock creates a shadow, so a shadow found by a run that holds
//! it belongs to a run that was killed: [`remove_all`] removes every one, first its admission
//! configurations (they select only its namespace), then its namespace (waiting until it is
//! gone), then its cluster-wide RBAC.

use std::time::Duration;

use anyhow::Context as _;
use futures::{StreamExt as _, TryStreamExt as _};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use serde_json::Value;

use crate::cluster::Apis;
use crate::precheck::Finding;
use crate::release::Object;
use crate::shadow::{Answer, LABEL_SHADOW, Shadow};

/// The field manager of the shadow's writes.
const MANAGER: &str = "tkn-multi-shadow";
/// How long the shadow's webhook has to answer its first request.
const READY_WITHIN: Duration = Duration::from_secs(180);
/// How long a shadow's namespace has to go.
const GONE_WITHIN: Duration = Duration::from_secs(120);
/// Objects asked about at once.
const IN_FLIGHT: usize = 8;

/// What the shadow said.
#[derive(Debug, Default)]
pub struct Verdict {
    /// Its findings.
    pub findings: Vec<Finding>,
    /// How many objects it was asked about.
    pub judged: usize,
}

fn gvk_of(api_version: &str, kind: &str) -> GroupVersionKind {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    GroupVersionKind::gvk(group, version, kind)
}

/// A short id, unique enough for one cluster's concurrent runs (which the lock serialises).
pub fn new_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{:08x}", nanos ^ std::process::id().rotate_left(16))
}

/// The data of the `ConfigMap`s of `namespace` (an instance's control plane).
pub async fn live_config(
    apis: &Apis,
    namespace: &str,
) -> anyhow::Result<std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>>
{
    let api: Api<ConfigMap> = Api::namespaced(apis.client().clone(), namespace);
    let list = api
        .list(&ListParams::default())
        .await
        .with_context(|| format!("cannot list the ConfigMaps of `{namespace}`"))?;
    Ok(list
        .items
        .into_iter()
        .filter_map(|c| Some((c.metadata.name?, c.data.unwrap_or_default().into_iter().collect())))
        .collect())
}

/// Creates the shadow from `objects`, asks it about each of `candidates`, and removes it (also
/// when asking failed). `probe_version` is the `apiVersion` of Tasks the live CRD serves.
///
/// # Errors
/// The shadow could not be created, did not answer within three minutes, or an object could not
/// be asked about (the API server failing to call it); removing it failed.
pub async fn judge(
    apis: &Apis,
    shadow: &Shadow,
    objects: &[Object],
    candidates: Vec<Value>,
    probe_version: &str,
    printer: &crate::printer::Printer,
) -> anyhow::Result<Verdict> {
    let asked = async {
        let started = std::time::Instant::now();
        printer.progress(&format!(
            "shadow: starting {}'s webhook in `{}`",
            shadow.version,
            shadow.namespace()
        ));
        create(apis, objects).await?;
        wait_for_answer(apis, shadow, probe_version).await?;
        printer
            .progress(&format!("shadow: answering after {:.1} s", started.elapsed().as_secs_f64()));
        let started = std::time::Instant::now();
        let verdict = ask_all(apis, shadow, candidates).await?;
        printer.progress(&format!(
            "shadow: judged {} object(s) in {:.1} s",
            verdict.judged,
            started.elapsed().as_secs_f64()
        ));
        anyhow::Ok(verdict)
    }
    .await;
    let started = std::time::Instant::now();
    let removed = remove(apis, Some(&shadow.id)).await;
    printer.progress(&format!("shadow: removed in {:.1} s", started.elapsed().as_secs_f64()));
    let verdict = asked?;
    removed?;
    Ok(verdict)
}

async fn create(apis: &Apis, objects: &[Object]) -> anyhow::Result<()> {
    for o in objects {
        let api = apis.api(&gvk_of(o.api_version(), o.kind()), o.namespace()).await?;
        api.patch(o.name(), &PatchParams::apply(MANAGER).force(), &Patch::Apply(o.to_value()))
            .await
            .with_context(|| format!("cannot create the shadow's {} `{}`", o.kind(), o.name()))?;
    }
    Ok(())
}

/// Dry-run creates `o` in the scratch namespace.
async fn ask(apis: &Apis, shadow: &Shadow, o: &Value) -> anyhow::Result<Answer> {
    let gvk = gvk_of(
        o["apiVersion"].as_str().unwrap_or_default(),
        o["kind"].as_str().unwrap_or_default(),
    );
    let api = apis.api(&gvk, Some(&shadow.namespace())).await?;
    let object: DynamicObject = serde_json::from_value(o.clone())?;
    let params = PostParams { dry_run: true, field_manager: Some(MANAGER.into()) };
    match api.create(&params, &object).await {
        Ok(back) => Ok(Answer::Admitted(serde_json::to_value(back)?)),
        Err(kube::Error::Api(status)) if status.message.contains("denied the request") => {
            Ok(Answer::Refused(status.message))
        }
        Err(e) => Err(e).with_context(|| {
            format!(
                "cannot ask the shadow of {}'s webhook about {}/{}",
                shadow.version,
                gvk.kind,
                o["metadata"]["name"].as_str().unwrap_or_default()
            )
        }),
    }
}

/// Waits until the shadow's own webhook refuses the probe (the API server reaches it, and its
/// certificate is in its admission configurations).
async fn wait_for_answer(apis: &Apis, shadow: &Shadow, probe_version: &str) -> anyhow::Result<()> {
    let probe = shadow.probe(probe_version);
    let name = shadow.validation_webhook();
    let started = std::time::Instant::now();
    let mut last = String::new();
    while started.elapsed() < READY_WITHIN {
        match ask(apis, shadow, &probe).await {
            Ok(Answer::Refused(m)) if m.contains(&name) => return Ok(()),
            Ok(Answer::Refused(m)) => last = m,
            Ok(Answer::Admitted(_)) => last = "the probe was admitted (no webhook yet)".into(),
            Err(e) => last = format!("{e:#}"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    anyhow::bail!(
        "the shadow of {}'s webhook did not answer within {} s (last: {last})",
        shadow.version,
        READY_WITHIN.as_secs()
    )
}

async fn ask_all(apis: &Apis, shadow: &Shadow, candidates: Vec<Value>) -> anyhow::Result<Verdict> {
    let judged = candidates.len();
    let findings: Vec<Vec<Finding>> = futures::stream::iter(candidates)
        .map(|c| async move {
            let answer = ask(apis, shadow, &c).await?;
            anyhow::Ok(crate::shadow::judge(&c, &answer, &shadow.version))
        })
        .buffer_unordered(IN_FLIGHT)
        .try_collect()
        .await?;
    Ok(Verdict { findings: findings.into_iter().flatten().collect(), judged })
}

/// Creates the shadow of a shared conversion webhook from `objects`, waits until it converts,
/// hands it to `ask` (which sends `ConversionReview`s through [`convert`]), and removes it (also
/// when asking failed).
///
/// # Errors
/// The shadow could not be created, did not answer within three minutes, `ask` failed, or
/// removing it failed.
pub async fn with_converter<T>(
    apis: &Apis,
    shadow: &Shadow,
    objects: &[Object],
    printer: &crate::printer::Printer,
    ask: impl AsyncFnOnce() -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let asked = async {
        let started = std::time::Instant::now();
        printer.progress(&format!(
            "shadow: starting {}'s conversion webhook in `{}`",
            shadow.version,
            shadow.namespace()
        ));
        create(apis, objects).await?;
        loop {
            let last = match convert(apis, shadow, &crate::shadow::conversion_review("probe", "tekton.dev/v1", &[])).await {
                Ok(r) if crate::shadow::converted(&r).is_ok() => break,
                Ok(r) => r.to_string(),
                Err(e) => format!("{e:#}"),
            };
            if started.elapsed() > READY_WITHIN {
                anyhow::bail!(
                    "the shadow of {}'s conversion webhook did not answer within {} s (last: {last})",
                    shadow.version,
                    READY_WITHIN.as_secs()
                );
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        printer.progress(&format!("shadow: answering after {:.1} s", started.elapsed().as_secs_f64()));
        ask().await
    }
    .await;
    let started = std::time::Instant::now();
    let removed = remove(apis, Some(&shadow.id)).await;
    printer.progress(&format!("shadow: removed in {:.1} s", started.elapsed().as_secs_f64()));
    let out = asked?;
    removed?;
    Ok(out)
}

/// Sends a `ConversionReview` to the shadow's conversion endpoint through the API server's
/// service proxy; returns the review it answers.
///
/// # Errors
/// The API server could not reach it, or the answer is not JSON.
pub async fn convert(apis: &Apis, shadow: &Shadow, review: &Value) -> anyhow::Result<Value> {
    let request = hyper::Request::post(shadow.conversion_path())
        .header("Content-Type", "application/json")
        .body(serde_json::to_vec(review)?)?;
    let text = apis.client().request_text(request).await.with_context(|| {
        format!("cannot reach the shadow of {}'s conversion webhook", shadow.version)
    })?;
    serde_json::from_str(&text).with_context(|| format!("the conversion webhook answered `{text}`"))
}

/// Removes every shadow (a killed run's too). Returns how many namespaces it removed.
///
/// # Errors
/// A delete the API server refused, or a namespace that did not go within two minutes.
pub async fn remove_all(apis: &Apis) -> anyhow::Result<usize> {
    remove(apis, None).await
}

/// Removes shadow `id`, or every shadow.
async fn remove(apis: &Apis, id: Option<&str>) -> anyhow::Result<usize> {
    let selector = match id {
        Some(id) => format!("{LABEL_SHADOW}={id}"),
        None => LABEL_SHADOW.to_owned(),
    };
    let lp = ListParams::default().labels(&selector);
    let cluster_wide =
        |group: &'static str, kind: &'static str| GroupVersionKind::gvk(group, "v1", kind);
    for gvk in [
        cluster_wide("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
        cluster_wide("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
    ] {
        let api = apis.api(&gvk, None).await?;
        api.delete_collection(&DeleteParams::default(), &lp)
            .await
            .with_context(|| format!("cannot remove a shadow's {}s", gvk.kind))?;
    }
    let namespaces: Api<Namespace> = Api::all(apis.client().clone());
    let found = namespaces.list(&lp).await.context("cannot list the shadows' namespaces")?;
    for ns in &found.items {
        let name = ns.metadata.name.clone().unwrap_or_default();
        // The webhook keeps no state: its pod goes at once (no grace period), which saves the
        // namespace's finalization the wait for it.
        let deployments: Api<Deployment> = Api::namespaced(apis.client().clone(), &name);
        let pods: Api<Pod> = Api::namespaced(apis.client().clone(), &name);
        let now = DeleteParams { grace_period_seconds: Some(0), ..DeleteParams::background() };
        deployments
            .delete_collection(&DeleteParams::background(), &ListParams::default())
            .await
            .with_context(|| format!("cannot remove the Deployments of `{name}`"))?;
        pods.delete_collection(&now, &ListParams::default())
            .await
            .with_context(|| format!("cannot remove the pods of `{name}`"))?;
        match namespaces.delete(&name, &DeleteParams::background()).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(e).with_context(|| format!("cannot remove namespace `{name}`")),
        }
    }
    let started = std::time::Instant::now();
    loop {
        let left = namespaces.list(&lp).await.context("cannot list the shadows' namespaces")?;
        if left.items.is_empty() {
            break;
        }
        if started.elapsed() > GONE_WITHIN {
            anyhow::bail!(
                "the shadow namespace `{}` did not go within {} s",
                left.items[0].metadata.name.as_deref().unwrap_or_default(),
                GONE_WITHIN.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for gvk in [
        cluster_wide("rbac.authorization.k8s.io", "ClusterRoleBinding"),
        cluster_wide("rbac.authorization.k8s.io", "ClusterRole"),
    ] {
        let api = apis.api(&gvk, None).await?;
        api.delete_collection(&DeleteParams::default(), &lp)
            .await
            .with_context(|| format!("cannot remove a shadow's {}s", gvk.kind))?;
    }
    Ok(found.items.len())
}
