//! The executor: a plan's steps run in dependency order, up to `--concurrency` at once, after the ownership check. **I/O.**
use crate::timings::Timing;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::cluster::Apis;
use crate::plan::{Action, Plan, Step, StepKind};
use crate::printer::Printer;

use super::terms::{Incomplete, Options, describe, gvk_of};

/// What one run needs at every step.
pub(super) struct Run<'a> {
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
    super::ownership::check(&run.apis, plan, opts.force_conflicts, printer).await?;
    let checked = start.elapsed();
    let r1 = sent();
    printer.timing(&Timing::phase("ownership", checked).with_requests(r1 - r0));
    let total = plan.steps.len();
    let outcome = super::schedule::run(&plan.steps, run, opts.concurrency).await;
    if printer.verbose > 0 {
        let took = run.took.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        printer.timing(
            &Timing::steps(&plan.steps, start.elapsed().saturating_sub(checked), &took)
                .with_requests(sent() - r1),
        );
    }
    if let Err(stopped) = outcome {
        let super::schedule::Stopped { step, error, done } = stopped;
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

impl super::schedule::Runner for Run<'_> {
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
                        super::write::apply(&self.apis, manifest, hash, immutable_hash, opts).await
                    }
                    Action::Replace => {
                        let manifest = manifest.expect("apply steps carry their object");
                        let av = manifest.api_version();
                        super::write::delete(&self.apis, object, av, opts, Some(self.deadline))
                            .await?;
                        super::write::apply(&self.apis, manifest, hash, immutable_hash, opts).await
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
                        super::write::delete(&self.apis, object, &api_version, opts, wait_gone)
                            .await
                    }
                }
            }
            _ if opts.server_dry_run => Ok(()),
            StepKind::WaitEstablished { crd } => {
                self.printer.progress(&format!(
                    "[{n}/{total}] … CustomResourceDefinition/{crd} Established"
                ));
                let gvk = gvk_of("apiextensions.k8s.io/v1", "CustomResourceDefinition");
                super::wait::wait(
                    &self.apis,
                    &gvk,
                    None,
                    crd,
                    super::conditions::crd_established,
                    self.deadline,
                )
                .await
            }
            StepKind::WaitAvailable { namespace, name, .. } => {
                self.printer.progress(&format!(
                    "[{n}/{total}] … Deployment/{name} in {namespace} Available"
                ));
                let gvk = gvk_of("apps/v1", "Deployment");
                let complete = super::conditions::deployment_complete;
                super::wait::wait(&self.apis, &gvk, Some(namespace), name, complete, self.deadline)
                    .await?;
                if name == "tekton-pipelines-webhook" {
                    super::wait::wait_conversions(&self.apis, namespace, self.deadline).await?;
                }
                Ok(())
            }
            StepKind::MigrateStoredVersions { crd, to, .. } => {
                self.printer.progress(&format!("[{n}/{total}] » migrate {crd} to {to}"));
                super::migrate::migrate(&self.apis, crd, to, self.opts.chunk_size).await
            }
            StepKind::Certificate { namespace, owner, new_ca, .. } => {
                self.printer.progress(&format!(
                    "[{n}/{total}] ✎ webhook certificate of {owner} in {namespace}"
                ));
                super::certificate::write(self.apis.client(), namespace, owner, new_ca.as_ref())
                    .await
            }
        }
    }
}
