//! Executing a plan on a live cluster. **I/O.**
//!
//! The executor never chooses actions: it carries out the steps the planner made. [`schedule`]
//! runs each as soon as the steps it depends on are done (the plan's `dependsOn` edges), up to
//! `concurrency` at once; with a concurrency of 1 it follows the printed order exactly. Before
//! the first write, [`ownership::check`] refuses objects that belong to someone else. Objects are
//! written with server-side apply under one field manager and carry the hashes the next
//! observation compares against; a field conflict is [`Conflict`]. Waits watch the object (a
//! list, then a watch, as `kubectl wait` does; no polling interval) and test the pure
//! predicates of [`conditions`] (CRD Established; Deployment rolled out: `observedGeneration`,
//! updated and available replicas, `Progressing`/`NewReplicaSetAvailable`), and the shared
//! webhook's wait also checks that conversions work, under one overall deadline. A failed step
//! stops new steps from starting, lets the running ones finish, and reports what was done
//! ([`Incomplete`]): every step is idempotent, so re-running the same command converges.

use crate::timings::Timing;

mod certificate;
pub use certificate::read as read_secret;
pub mod conditions;
pub mod ownership;
pub mod schedule;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use serde_json::{Value, json};

use crate::cluster::Apis;
use crate::managed::{ANNOTATION_HASH, ANNOTATION_IMMUTABLE_HASH};
use crate::plan::{Action, Plan, Step, StepKind};
use crate::printer::Printer;
use crate::release::{Object, ObjectRef};

/// How to execute.
#[derive(Debug, Clone)]
pub struct Options {
    /// The server-side apply field manager.
    pub field_manager: String,
    /// Overall deadline for the whole plan.
    pub timeout: Duration,
    /// Take ownership of fields other managers own, and of existing objects that are not
    /// tkn-multi's (`--force-conflicts`).
    pub force_conflicts: bool,
    /// Take ownership of fields other managers set on the objects the plan updates, but never
    /// of foreign objects (the operator: a hand edit is reverted, as a controller's apply must).
    pub force_fields: bool,
    /// Send writes with `dryRun=All` and skip waits (`--dry-run=server`).
    pub server_dry_run: bool,
    /// How many independent steps run at once (at least 1).
    pub concurrency: usize,
    /// Page size of large lists (`--chunk-size`).
    pub chunk_size: u32,
    /// The cluster lock, asked before every step: a run that lost it writes nothing more.
    pub guard: Option<crate::cluster::lock::Guard>,
}

/// A plan that stopped part-way.
#[derive(Debug, thiserror::Error)]
#[error("step {step} of {total} failed, after {done} step(s) were done")]
pub struct Incomplete {
    /// The (1-based) failed step.
    pub step: usize,
    /// Steps in the plan.
    pub total: usize,
    /// Steps done.
    pub done: usize,
}

/// The API server's own words for a refused request (kube's `Display` of a status repeats it
/// with the whole `Status` struct).
fn api_error(e: kube::Error) -> anyhow::Error {
    match e {
        kube::Error::Api(s) => anyhow::anyhow!("{} ({}, HTTP {})", s.message, s.reason, s.code),
        other => other.into(),
    }
}

/// Server-side apply refused a write because another field manager owns fields tkn-multi sets
/// (HTTP 409). The user decides: leave the object to its owner, or `--force-conflicts`.
#[derive(Debug, thiserror::Error)]
#[error(
    "`{object}` is also managed by another field manager: {message}; re-run with `--force-conflicts` to take it over"
)]
pub struct Conflict {
    /// The object, as `Kind/name in namespace`.
    pub object: String,
    /// The API server's message (it names the fields and their managers).
    pub message: String,
}

impl crate::fault::Classify for Conflict {
    fn class(&self) -> crate::fault::Class {
        crate::fault::Class::User
    }
}

/// A failed run that `--atomic` undid.
#[derive(Debug, thiserror::Error)]
#[error("the run failed and was rolled back (`--atomic`): the instances are as they were")]
pub struct RolledBack;

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

/// What one run needs at every step.
struct Run<'a> {
    apis: Apis,
    plan: &'a Plan,
    opts: &'a Options,
    deadline: Instant,
    printer: &'a Printer,
    /// Server dry run: namespaces the plan creates (a dry-run create persists nothing, so the
    /// API server cannot take objects into them).
    unborn_namespaces: BTreeSet<String>,
    /// Server dry run: objects not sent because their namespace does not exist yet.
    not_sent: std::sync::atomic::AtomicUsize,
    /// How long each finished step took, for `-v`.
    took: std::sync::Mutex<Vec<(usize, Duration)>>,
}

/// Executes `plan`: ownership check, then every step once its dependencies are done.
pub async fn execute(
    apis: &Apis,
    plan: &Plan,
    opts: &Options,
    printer: &Printer,
) -> anyhow::Result<()> {
    let unborn_namespaces = plan
        .steps
        .iter()
        .filter_map(|s| match &s.kind {
            StepKind::Object { action: Action::Create, object, .. }
                if opts.server_dry_run && object.kind == "Namespace" =>
            {
                Some(object.name.clone())
            }
            _ => None,
        })
        .collect();
    let run = Run {
        apis: apis.clone(),
        plan,
        opts,
        deadline: Instant::now() + opts.timeout,
        printer,
        unborn_namespaces,
        not_sent: std::sync::atomic::AtomicUsize::new(0),
        took: std::sync::Mutex::new(Vec::new()),
    };
    let run = &run;
    let start = Instant::now();
    let sent = crate::cluster::throttle::requests;
    let r0 = sent();
    ownership::check(&run.apis, plan, opts.force_conflicts, printer).await?;
    let checked = start.elapsed();
    let r1 = sent();
    printer.timing(&Timing::phase("ownership", checked).with_requests(r1 - r0));
    let total = plan.steps.len();
    let outcome = schedule::run(&plan.steps, run, opts.concurrency).await;
    if printer.verbose > 0 {
        let took = run.took.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        printer.timing(
            &Timing::steps(&plan.steps, start.elapsed().saturating_sub(checked), &took)
                .with_requests(sent() - r1),
        );
    }
    if let Err(stopped) = outcome {
        let schedule::Stopped { step, error, done } = stopped;
        if opts.server_dry_run {
            return Err(error.context(format!(
                "the API server refused step {} of {total} (dry run: nothing was changed)",
                step + 1
            )));
        }
        return Err(error.context(Incomplete { step: step + 1, total, done }));
    }
    let not_sent = run.not_sent.load(std::sync::atomic::Ordering::Relaxed);
    if not_sent > 0 {
        printer.warn(&format!(
            "{not_sent} object(s) were not sent: their namespace does not exist yet, and a dry run cannot create it"
        ));
    }
    Ok(())
}

impl schedule::Runner for Run<'_> {
    /// Waits, and deletes that wait for a finalizer (Namespaces, CRDs), send at most one
    /// request and then watch: they do not count against `--concurrency`.
    fn throttled(&self, step: &Step) -> bool {
        match &step.kind {
            StepKind::WaitEstablished { .. } | StepKind::WaitAvailable { .. } => false,
            StepKind::Object { action: Action::Delete, object, .. } => {
                !matches!(object.kind.as_str(), "Namespace" | "CustomResourceDefinition")
            }
            StepKind::Object { .. }
            | StepKind::MigrateStoredVersions { .. }
            | StepKind::Certificate { .. } => true,
        }
    }

    async fn run(&self, step: &Step) -> anyhow::Result<()> {
        let start = Instant::now();
        let outcome = self.step(step).await;
        self.took
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((step.index, start.elapsed()));
        outcome
    }
}

impl Run<'_> {
    async fn step(&self, step: &Step) -> anyhow::Result<()> {
        if let Some(g) = &self.opts.guard {
            g.check()?;
        }
        let (opts, total, n) = (self.opts, self.plan.steps.len(), step.index + 1);
        match &step.kind {
            StepKind::Object { action, object, hash, immutable_hash, .. } => {
                self.printer.progress(&format!(
                    "[{n}/{total}] {} {}",
                    action.mark(),
                    describe(object)
                ));
                let manifest = self.plan.manifests.get(&step.index);
                if object.namespace.as_ref().is_some_and(|ns| self.unborn_namespaces.contains(ns)) {
                    self.not_sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    return Ok(());
                }
                match action {
                    Action::Create | Action::Update => {
                        let manifest = manifest.expect("apply steps carry their object");
                        apply(&self.apis, manifest, hash, immutable_hash, opts).await
                    }
                    Action::Replace => {
                        let manifest = manifest.expect("apply steps carry their object");
                        let av = manifest.api_version();
                        delete(&self.apis, object, av, opts, Some(self.deadline)).await?;
                        apply(&self.apis, manifest, hash, immutable_hash, opts).await
                    }
                    Action::Delete => {
                        let api_version = crate::managed::find(&object.kind)
                            .map_or_else(|| "v1".to_owned(), crate::managed::Kind::api_version);
                        // Namespaces and CRDs finalize asynchronously: wait until they are gone, as
                        // `kubectl delete` does, so that what follows sees them gone.
                        let finalized = matches!(
                            object.kind.as_str(),
                            "Namespace" | "CustomResourceDefinition"
                        );
                        let wait_gone = finalized.then_some(self.deadline);
                        delete(&self.apis, object, &api_version, opts, wait_gone).await
                    }
                }
            }
            _ if opts.server_dry_run => Ok(()),
            StepKind::WaitEstablished { crd } => {
                self.printer.progress(&format!(
                    "[{n}/{total}] … CustomResourceDefinition/{crd} Established"
                ));
                let gvk = gvk_of("apiextensions.k8s.io/v1", "CustomResourceDefinition");
                wait(&self.apis, &gvk, None, crd, conditions::crd_established, self.deadline).await
            }
            StepKind::WaitAvailable { namespace, name, .. } => {
                self.printer.progress(&format!(
                    "[{n}/{total}] … Deployment/{name} in {namespace} Available"
                ));
                let gvk = gvk_of("apps/v1", "Deployment");
                let complete = conditions::deployment_complete;
                wait(&self.apis, &gvk, Some(namespace), name, complete, self.deadline).await?;
                if name == "tekton-pipelines-webhook" {
                    wait_conversions(&self.apis, namespace, self.deadline).await?;
                }
                Ok(())
            }
            StepKind::MigrateStoredVersions { crd, to, .. } => {
                self.printer.progress(&format!("[{n}/{total}] » migrate {crd} to {to}"));
                migrate(&self.apis, crd, to, self.opts.chunk_size).await
            }
            StepKind::Certificate { namespace, owner, new_ca, .. } => {
                self.printer.progress(&format!(
                    "[{n}/{total}] ✎ webhook certificate of {owner} in {namespace}"
                ));
                certificate::write(self.apis.client(), namespace, owner, new_ca.as_ref()).await
            }
        }
    }
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
    if o.kind() == "CustomResourceDefinition" && !opts.server_dry_run {
        drop_foreign_conversion_webhook(&api, &o, &opts.field_manager).await?;
    }
    if o.kind().ends_with("WebhookConfiguration") && !opts.server_dry_run {
        hand_admission_over(&api, &o, &opts.field_manager).await?;
    }
    let mut params = PatchParams::apply(&opts.field_manager);
    params.force = opts.force_conflicts || opts.force_fields;
    params.dry_run = opts.server_dry_run;
    match api.patch(o.name(), &params, &Patch::Apply(o.to_value())).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 409 => {
            Err(Conflict { object: describe(&o.object_ref()), message: e.message }.into())
        }
        Err(e) => Err(api_error(e))
            .with_context(|| format!("failed to apply `{}`", describe(&o.object_ref()))),
    }
}

/// The field manager that keeps an instance's admission rules and caBundle while knative takes
/// them over (an instance moving from before v0.44 to v0.44+).
const HANDOVER_MANAGER: &str = "tkn-multi-handover";

/// Before v0.44 tkn-multi writes the rules and caBundle of an instance's webhook configurations;
/// from v0.44 knative does, once its new webhook holds the leader lease (seen on the real
/// cluster: up to ~15 s after the rollout). Applying the v0.44+ configuration, which has neither,
/// would remove them (tkn-multi owned them), leaving the namespace without admission until then.
/// So when the desired configuration has no rules and the live one has rules tkn-multi owns, the
/// live rules and caBundle are first applied under [`HANDOVER_MANAGER`], which keeps them until
/// knative's update replaces them (knative writes with Update, so nothing conflicts).
async fn hand_admission_over(
    api: &kube::Api<kube::api::DynamicObject>,
    desired: &Object,
    field_manager: &str,
) -> anyhow::Result<()> {
    let wants_rules = desired
        .pointer("/webhooks")
        .and_then(Value::as_array)
        .is_some_and(|hooks| hooks.iter().any(|h| h.get("rules").is_some()));
    if wants_rules {
        return Ok(());
    }
    let Some(live) = api.get_opt(desired.name()).await.map_err(api_error)? else { return Ok(()) };
    let owns_rules = live.metadata.managed_fields.iter().flatten().any(|m| {
        m.manager.as_deref() == Some(field_manager)
            && m.fields_v1.as_ref().is_some_and(|f| f.0.to_string().contains("\"f:rules\""))
    });
    if !owns_rules {
        return Ok(());
    }
    let hooks: Vec<Value> = live.data["webhooks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|h| {
            let mut kept = json!({"name": h["name"]});
            if let Some(r) = h.get("rules") {
                kept["rules"] = r.clone();
            }
            if let Some(ca) = h["clientConfig"].get("caBundle") {
                kept["clientConfig"] = json!({"caBundle": ca});
            }
            kept
        })
        .collect();
    let body = json!({
        "apiVersion": desired.api_version(), "kind": desired.kind(),
        "metadata": {"name": desired.name()},
        "webhooks": hooks,
    });
    api.patch(desired.name(), &PatchParams::apply(HANDOVER_MANAGER), &Patch::Apply(body))
        .await
        .map_err(api_error)
        .with_context(|| format!("cannot hand `{}` over to knative", desired.name()))?;
    Ok(())
}

/// A CRD that should not convert by webhook (`strategy: None`) may still carry the
/// `conversion.webhook` stanza knative's conversion reconciler filled in (it owns
/// `clientConfig.caBundle`). Server-side apply keeps fields another manager owns, so the merged
/// CRD would have a webhook and no strategy, which the API server rejects. Found on the real
/// cluster: a legacy `clustertasks.tekton.dev` of a v1.9.0 shared layer, after a v0.56.0 one whose
/// webhook had converted it. A merge patch removes the stanza (and every manager's claim on it)
/// first; on a CRD that has no such stanza, or none at all, it changes nothing.
async fn drop_foreign_conversion_webhook(
    api: &kube::Api<kube::api::DynamicObject>,
    crd: &Object,
    field_manager: &str,
) -> anyhow::Result<()> {
    let strategy = crd.to_value()["spec"]["conversion"]["strategy"].as_str().map(str::to_owned);
    if strategy.as_deref().unwrap_or("None") != "None" {
        return Ok(());
    }
    let Some(live) = api.get_opt(crd.name()).await.map_err(api_error)? else { return Ok(()) };
    if live.data["spec"]["conversion"].get("webhook").is_none() {
        return Ok(());
    }
    let patch = json!({"spec": {"conversion": {"strategy": "None", "webhook": null}}});
    api.patch(
        crd.name(),
        &PatchParams { field_manager: Some(field_manager.to_owned()), ..PatchParams::default() },
        &Patch::Merge(patch),
    )
    .await
    .map_err(api_error)
    .with_context(|| format!("cannot remove the conversion webhook of `{}`", crd.name()))?;
    Ok(())
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
        Err(e) => {
            return Err(api_error(e))
                .with_context(|| format!("failed to delete `{}`", describe(r)));
        }
    }
    if let Some(deadline) = wait_gone.filter(|_| !opts.server_dry_run) {
        let gone = watch_until(api, &r.name, deadline, Option::is_none).await?;
        if gone.is_err() {
            bail!("`{}` was not gone before the timeout", describe(r));
        }
    }
    Ok(())
}

/// Watches object `name` (a list, then a watch from its resourceVersion, as `kubectl wait`
/// does) until `done` holds for it (`None`: it does not exist), or `deadline` passes:
/// `Err(last seen)` then. No polling interval stands between a change and its notice.
async fn watch_until(
    api: kube::Api<kube::api::DynamicObject>,
    name: &str,
    deadline: Instant,
    done: impl Fn(&Option<Value>) -> bool,
) -> anyhow::Result<Result<(), Option<Value>>> {
    use futures::TryStreamExt;
    let mut last = None;
    let watched = tokio::time::timeout_at(tokio::time::Instant::from_std(deadline), async {
        let mut events = std::pin::pin!(kube::runtime::watcher::watch_object(api, name));
        while let Some(seen) = events.try_next().await? {
            last = seen.map(|o| serde_json::to_value(o).unwrap_or_default());
            if done(&last) {
                return Ok(true);
            }
        }
        Ok::<_, kube::runtime::watcher::Error>(false)
    })
    .await;
    match watched {
        Ok(Ok(true)) => Ok(Ok(())),
        Ok(Ok(false)) => bail!("the watch of `{name}` ended"),
        Ok(Err(e)) => Err(anyhow::Error::new(e).context(format!("cannot watch `{name}`"))),
        Err(_elapsed) => Ok(Err(last)),
    }
}

async fn wait(
    apis: &Apis,
    gvk: &GroupVersionKind,
    namespace: Option<&str>,
    name: &str,
    ready: fn(&Value) -> bool,
    deadline: Instant,
) -> anyhow::Result<()> {
    let api = apis.api(gvk, namespace).await?;
    let watched = watch_until(api, name, deadline, |o| o.as_ref().is_some_and(ready)).await?;
    if let Err(last) = watched {
        let status = last.as_ref().map_or(Value::Null, |o| o["status"].clone());
        bail!(
            "timed out waiting for {} `{name}` to be ready; last status: {}",
            gvk.kind,
            serde_json::to_string(&status).unwrap_or_default()
        );
    }
    Ok(())
}

/// After the webhook Deployment in `namespace` rolled out: waits until conversions through it
/// work ([`crate::cluster::conversion_failures`]). Real Tekton needs this: a new webhook pod
/// reports Ready a moment before its certificate Secret has synced, and conversions fail
/// meanwhile (`tls: unrecognized name`; seen with v1.9.0 replacing v0.56.0).
async fn wait_conversions(apis: &Apis, namespace: &str, deadline: Instant) -> anyhow::Result<()> {
    loop {
        // Only a webhook that cannot be reached, or whose TLS fails, is not serving yet. An
        // answer that refuses a conversion is the webhook serving: a new shared webhook refuses
        // versions it no longer converts (v1alpha1 Tasks, v0.56.0 after v0.24.1) until the next
        // steps update the CRDs. The API server words an unreachable one as
        // `conversion webhook for … failed: Post "https://…": <transport error>`.
        let failures: Vec<String> =
            crate::cluster::conversion_failures(apis, None, Some(namespace))
                .await?
                .into_iter()
                .filter(|f| f.contains("Post \"https://"))
                .collect();
        if failures.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "conversions through the webhook in `{namespace}` still fail: {}",
                failures.join("; ")
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Rewrites every object of `crd` (a read and write back stores it at the storage version), then
/// sets `status.storedVersions` to `[to]`, and checks it.
/// Rewrites one object at the storage version (a replace of what was read).
async fn rewrite(
    apis: &Apis,
    gvk: &GroupVersionKind,
    crd_name: &str,
    o: &kube::api::DynamicObject,
) -> anyhow::Result<()> {
    let ns_api = apis.api(gvk, o.metadata.namespace.as_deref()).await?;
    let name = o.metadata.name.clone().unwrap_or_default();
    // A rewrite passes the admission webhooks of the object's namespace; one that is rolling
    // out at the same moment (an instance upgraded with the shared layer) may fail a call
    // (seen on the real cluster: "failed calling webhook … rejected our request for an
    // unknown reason" while a v0.41.2 instance webhook gave way to v0.56.0). Retry those.
    let retry_until = Instant::now() + Duration::from_secs(60);
    let written = loop {
        match ns_api.replace(&name, &PostParams::default(), o).await {
            Err(kube::Error::Api(e))
                if e.code == 500
                    && e.message.contains("failed calling webhook")
                    && Instant::now() < retry_until =>
            {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            other => break other,
        }
    };
    match written {
        Ok(_) => Ok(()),
        // Deleted or changed meanwhile: either way it was written at the storage version.
        Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot rewrite {crd_name} `{name}`")),
    }
}

async fn migrate(apis: &Apis, crd_name: &str, to: &str, chunk_size: u32) -> anyhow::Result<()> {
    let crds =
        apis.api(&gvk_of("apiextensions.k8s.io/v1", "CustomResourceDefinition"), None).await?;
    let crd = crds.get(crd_name).await?;
    let spec = &crd.data["spec"];
    let gvk = GroupVersionKind::gvk(
        spec["group"].as_str().unwrap_or_default(),
        to,
        spec["names"]["kind"].as_str().unwrap_or_default(),
    );
    // The CRD was Established before this run changed its versions, so the wait before this step
    // passes at once, while the API server may still answer 404 for a version it just added, in
    // discovery and in lists (seen on the real cluster, right after v0.24.1 → v0.56.0 and
    // v0.41.2 → v0.56.0 shared upgrades). Retry briefly.
    let serving_deadline = Instant::now() + Duration::from_secs(30);
    let api = loop {
        match apis.api(&gvk, None).await {
            Err(_) if Instant::now() < serving_deadline => {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            other => break other?,
        }
    };
    // Page by page (`--chunk-size`), so that a CRD with many objects is never one response. A
    // continue token that expired (410) restarts the listing: rewriting an object twice is
    // harmless.
    let mut token: Option<String> = None;
    loop {
        let params = ListParams {
            limit: Some(chunk_size),
            continue_token: token.clone(),
            ..ListParams::default()
        };
        let listed = loop {
            match api.list(&params).await {
                Err(kube::Error::Api(e)) if e.code == 404 && Instant::now() < serving_deadline => {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                other => break other,
            }
        };
        let page = match listed {
            Err(kube::Error::Api(e)) if e.code == 410 && token.is_some() => {
                token = None;
                continue;
            }
            other => other.map_err(api_error).with_context(|| {
                format!(
                    "cannot read the objects of `{crd_name}` at {to} to migrate them (objects stored at an older version are converted by the shared layer's webhook, which must be serving); `status.storedVersions` is left as it was"
                )
            })?,
        };
        for o in &page.items {
            rewrite(apis, &gvk, crd_name, o).await?;
        }
        token = page.metadata.continue_.filter(|t| !t.is_empty());
        if token.is_none() {
            break;
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
