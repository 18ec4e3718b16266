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
pub mod conditions;
mod knative;
mod migrate;
pub mod ownership;
pub mod schedule;
mod wait;
mod write;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use kube::core::GroupVersionKind;

use crate::cluster::Apis;
use crate::plan::{Action, Plan, Step, StepKind};
use crate::printer::Printer;
use crate::release::ObjectRef;

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
                        write::apply(&self.apis, manifest, hash, immutable_hash, opts).await
                    }
                    Action::Replace => {
                        let manifest = manifest.expect("apply steps carry their object");
                        let av = manifest.api_version();
                        write::delete(&self.apis, object, av, opts, Some(self.deadline)).await?;
                        write::apply(&self.apis, manifest, hash, immutable_hash, opts).await
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
                        write::delete(&self.apis, object, &api_version, opts, wait_gone).await
                    }
                }
            }
            _ if opts.server_dry_run => Ok(()),
            StepKind::WaitEstablished { crd } => {
                self.printer.progress(&format!(
                    "[{n}/{total}] … CustomResourceDefinition/{crd} Established"
                ));
                let gvk = gvk_of("apiextensions.k8s.io/v1", "CustomResourceDefinition");
                wait::wait(&self.apis, &gvk, None, crd, conditions::crd_established, self.deadline)
                    .await
            }
            StepKind::WaitAvailable { namespace, name, .. } => {
                self.printer.progress(&format!(
                    "[{n}/{total}] … Deployment/{name} in {namespace} Available"
                ));
                let gvk = gvk_of("apps/v1", "Deployment");
                let complete = conditions::deployment_complete;
                wait::wait(&self.apis, &gvk, Some(namespace), name, complete, self.deadline)
                    .await?;
                if name == "tekton-pipelines-webhook" {
                    wait::wait_conversions(&self.apis, namespace, self.deadline).await?;
                }
                Ok(())
            }
            StepKind::MigrateStoredVersions { crd, to, .. } => {
                self.printer.progress(&format!("[{n}/{total}] » migrate {crd} to {to}"));
                migrate::migrate(&self.apis, crd, to, self.opts.chunk_size).await
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
