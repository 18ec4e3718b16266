//! Executing a plan on a live cluster, in the plan's order. **I/O.**
//!
//! The executor never chooses actions: it carries out the steps the planner linearised.
//! Objects are written with server-side apply under one field manager and carry the hashes the
//! next observation compares against; waits poll the same conditions kube-runtime's
//! `is_crd_established` / `is_deployment_completed` use, under one overall deadline.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use kube::Client;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use serde_json::{Value, json};

use crate::cluster::{ANNOTATION_HASH, ANNOTATION_IMMUTABLE_HASH, Apis};
use crate::plan::{Action, Plan, StepKind};
use crate::printer::Printer;
use crate::release::{Object, ObjectRef};

/// How to execute.
#[derive(Debug, Clone)]
pub struct Options {
    /// The server-side apply field manager.
    pub field_manager: String,
    /// Overall deadline for the whole plan.
    pub timeout: Duration,
    /// Take ownership of fields other managers own (`--force-conflicts`).
    pub force_conflicts: bool,
    /// Send writes with `dryRun=All` and skip waits (`--dry-run=server`).
    pub server_dry_run: bool,
}

fn gvk_of(api_version: &str, kind: &str) -> GroupVersionKind {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    GroupVersionKind::gvk(group, version, kind)
}

fn describe(r: &ObjectRef) -> String {
    match &r.namespace {
        Some(ns) => format!("{}/{} in {ns}", r.kind, r.name),
        None => format!("{}/{}", r.kind, r.name),
    }
}

/// Executes `plan` step by step.
pub async fn execute(
    client: &Client,
    plan: &Plan,
    opts: &Options,
    printer: &Printer,
) -> anyhow::Result<()> {
    let apis = Apis::new(client.clone());
    let deadline = Instant::now() + opts.timeout;
    let total = plan.steps.len();
    for step in &plan.steps {
        let n = step.index + 1;
        match &step.kind {
            StepKind::Object { action, object, hash, immutable_hash, .. } => {
                printer.progress(&format!("[{n}/{total}] {} {}", action.mark(), describe(object)));
                match action {
                    Action::Create | Action::Update => {
                        let manifest = plan
                            .manifests
                            .get(&step.index)
                            .expect("apply steps carry their object");
                        apply(&apis, manifest, hash, immutable_hash, opts).await?;
                    }
                    Action::Replace => {
                        let manifest = plan
                            .manifests
                            .get(&step.index)
                            .expect("apply steps carry their object");
                        delete(&apis, object, manifest.api_version(), opts, Some(deadline)).await?;
                        apply(&apis, manifest, hash, immutable_hash, opts).await?;
                    }
                    Action::Delete => {
                        let api_version = crate::cluster::MANAGED_KINDS
                            .iter()
                            .find(|(_, _, k)| *k == object.kind)
                            .map_or_else(
                                || "v1".into(),
                                |(g, v, _)| {
                                    if g.is_empty() { (*v).to_owned() } else { format!("{g}/{v}") }
                                },
                            );
                        // Namespaces and CRDs finalize asynchronously: wait until they are gone, as
                        // `kubectl delete` does, so that what follows sees them gone.
                        let finalized = matches!(
                            object.kind.as_str(),
                            "Namespace" | "CustomResourceDefinition"
                        );
                        delete(&apis, object, &api_version, opts, finalized.then_some(deadline))
                            .await?;
                    }
                }
            }
            StepKind::WaitEstablished { crd } if !opts.server_dry_run => {
                printer.progress(&format!(
                    "[{n}/{total}] … CustomResourceDefinition/{crd} Established"
                ));
                wait(
                    &apis,
                    &gvk_of("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
                    None,
                    crd,
                    "Established",
                    deadline,
                )
                .await?;
            }
            StepKind::WaitAvailable { namespace, name, .. } if !opts.server_dry_run => {
                printer.progress(&format!(
                    "[{n}/{total}] … Deployment/{name} in {namespace} Available"
                ));
                wait(
                    &apis,
                    &gvk_of("apps/v1", "Deployment"),
                    Some(namespace),
                    name,
                    "Available",
                    deadline,
                )
                .await?;
            }
            StepKind::MigrateStoredVersions { crd, to, .. } if !opts.server_dry_run => {
                printer.progress(&format!("[{n}/{total}] » migrate {crd} to {to}"));
                migrate(&apis, crd, to).await?;
            }
            _ => {}
        }
    }
    Ok(())
}

async fn apply(
    apis: &Apis,
    manifest: &Object,
    hash: &str,
    immutable_hash: &str,
    opts: &Options,
) -> anyhow::Result<()> {
    let mut o = manifest.clone();
    o.set_annotation(ANNOTATION_HASH, hash);
    o.set_annotation(ANNOTATION_IMMUTABLE_HASH, immutable_hash);
    let api = apis.api(&gvk_of(o.api_version(), o.kind()), o.namespace()).await?;
    let mut params = PatchParams::apply(&opts.field_manager);
    params.force = opts.force_conflicts;
    params.dry_run = opts.server_dry_run;
    match api.patch(o.name(), &params, &Patch::Apply(o.to_value())).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 409 => bail!(
            "`{}` is also managed by another field manager: {}; re-run with `--force-conflicts` to take it over",
            describe(&o.object_ref()),
            e.message
        ),
        Err(e) => {
            Err(e).with_context(|| format!("failed to apply `{}`", describe(&o.object_ref())))
        }
    }
}

async fn delete(
    apis: &Apis,
    r: &ObjectRef,
    api_version: &str,
    opts: &Options,
    wait_gone: Option<Instant>,
) -> anyhow::Result<()> {
    let api = apis.api(&gvk_of(api_version, &r.kind), r.namespace.as_deref()).await?;
    let params = DeleteParams { dry_run: opts.server_dry_run, ..DeleteParams::background() };
    match api.delete(&r.name, &params).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 404 => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("failed to delete `{}`", describe(r))),
    }
    if let Some(deadline) = wait_gone.filter(|_| !opts.server_dry_run) {
        while api.get_opt(&r.name).await?.is_some() {
            if Instant::now() > deadline {
                bail!("`{}` was not gone before the timeout", describe(r));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    Ok(())
}

async fn wait(
    apis: &Apis,
    gvk: &GroupVersionKind,
    namespace: Option<&str>,
    name: &str,
    condition: &str,
    deadline: Instant,
) -> anyhow::Result<()> {
    let api = apis.api(gvk, namespace).await?;
    loop {
        let last = api.get_opt(name).await?;
        let conditions =
            last.as_ref().map_or(Value::Null, |o| o.data["status"]["conditions"].clone());
        let met = conditions
            .as_array()
            .is_some_and(|cs| cs.iter().any(|c| c["type"] == condition && c["status"] == "True"));
        if met {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "timed out waiting for {} `{name}` to be {condition}; last conditions: {}",
                gvk.kind,
                serde_json::to_string(&conditions).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Rewrites every object of `crd` (a read and write back stores it at the storage version), then
/// sets `status.storedVersions` to `[to]`, and checks it.
async fn migrate(apis: &Apis, crd_name: &str, to: &str) -> anyhow::Result<()> {
    let crds =
        apis.api(&gvk_of("apiextensions.k8s.io/v1", "CustomResourceDefinition"), None).await?;
    let crd = crds.get(crd_name).await?;
    let spec = &crd.data["spec"];
    let gvk = GroupVersionKind::gvk(
        spec["group"].as_str().unwrap_or_default(),
        to,
        spec["names"]["kind"].as_str().unwrap_or_default(),
    );
    let api = apis.api(&gvk, None).await?;
    for o in api.list(&ListParams::default()).await?.items {
        let ns_api = apis.api(&gvk, o.metadata.namespace.as_deref()).await?;
        let name = o.metadata.name.clone().unwrap_or_default();
        match ns_api.replace(&name, &PostParams::default(), &o).await {
            Ok(_) => {}
            // Deleted or changed meanwhile: either way it was written at the storage version.
            Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => {}
            Err(e) => return Err(e).with_context(|| format!("cannot rewrite {crd_name} `{name}`")),
        }
    }
    crds.patch_status(
        crd_name,
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"storedVersions": [to]}})),
    )
    .await
    .with_context(|| format!("cannot set status.storedVersions of `{crd_name}`"))?;
    let after = crds.get(crd_name).await?;
    if after.data["status"]["storedVersions"] != json!([to]) {
        bail!(
            "status.storedVersions of `{crd_name}` is {} after the migration",
            after.data["status"]["storedVersions"]
        );
    }
    Ok(())
}
