//! The kube-runtime `Controller` over `TektonFleet`s and the reconcile it runs. **I/O.**
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::events::{EventType, Recorder, Reporter};
use kube::runtime::finalizer::{Event as Finalize, finalizer};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{Predicate, PredicateConfig, WatchStreamExt as _, predicates, watcher};
use kube::{Client, ResourceExt as _};

use super::context::{Context, LOCKED_RETRY, LoadRelease, Loader, STATUS_MANAGER, Settings};
use super::status::converged_message;

use crate::converge::{self, Cluster as _, Live, Mode};
use crate::managed::{LABEL_INSTANCE, LABEL_MANAGED_BY, MANAGER};
use crate::matrix::Matrix;
use crate::operator::reconcile::{self, Progress};
use crate::operator::resource::TektonFleet;
use crate::operator::serve::Metrics;
use crate::plan::state::ClusterState;
use crate::printer::Printer;
use tkn_multi_core::operator::TektonFleetStatus;

/// A reconcile that failed unexpectedly (retried with back-off).
#[derive(Debug, thiserror::Error)]
#[error("{0:#}")]
pub struct Failed(anyhow::Error);

/// Runs the operator until SIGTERM or Ctrl-C.
///
/// # Errors
/// The metrics address cannot be bound, or the `TektonFleet` CRD is not installed.
pub async fn run(
    client: Client,
    load: LoadRelease,
    matrix: Matrix,
    opts: Settings,
    printer: Printer,
) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let fleets: Api<TektonFleet> = Api::all(client.clone());
    fleets.list(&kube::api::ListParams::default().limit(1)).await.context(
        "cannot list TektonFleets: is the CRD installed (`tkn-multi operator crd | kubectl apply -f -`) and may this account list them?",
    )?;
    let metrics = Arc::new(Metrics::new());
    let listener = tokio::net::TcpListener::bind(opts.metrics_address)
        .await
        .with_context(|| format!("cannot listen on {}", opts.metrics_address))?;
    tokio::spawn(crate::operator::serve::serve(listener, metrics.clone()));
    let identity = crate::cluster::lock::identity();
    let reporter = Reporter { controller: STATUS_MANAGER.into(), instance: Some(identity) };
    let ctx = Arc::new(Context {
        recorder: Recorder::new(client.clone(), reporter),
        client: client.clone(),
        releases: Loader(load),
        matrix,
        opts,
        metrics: metrics.clone(),
        printer,
        failures: Mutex::default(),
    });
    // TektonFleets trigger a reconcile when their spec (generation: also bumped when deletion
    // is requested, the fleets carrying a finalizer), approval annotation or finalizers change;
    // the operator's own status writes do not.
    let (reader, writer) = kube::runtime::reflector::store();
    // Ready: the API server answered, this account may list TektonFleets (checked above), and
    // the controller's first list of them is in (its cache holds them all).
    let first_list = metrics.clone();
    let fleet_changes = watcher(fleets, watcher::Config::default())
        .default_backoff()
        .inspect(move |e| {
            if matches!(e, Ok(watcher::Event::InitDone)) {
                first_list.set_ready();
            }
        })
        .reflect(writer)
        .applied_objects()
        .predicate_filter(
            predicates::generation.combine(predicates::annotations).combine(predicates::finalizers),
            PredicateConfig::default(),
        );
    let controller = Controller::for_stream(fleet_changes, reader.clone());
    let owned = watcher::Config::default().labels(&format!("{LABEL_MANAGED_BY}={MANAGER}"));
    printer.info(&format!(
        "tkn-multi operator: reconciling TektonFleets (resync every {}s; metrics on {})",
        ctx.opts.resync.as_secs(),
        ctx.opts.metrics_address
    ));
    controller
        .watches_stream(
            managed_changes(Api::<Deployment>::all(client.clone()), &owned, predicates::generation),
            fleets_of(reader.clone()),
        )
        .watches_stream(
            managed_changes(Api::<ConfigMap>::all(client), &owned, config_content),
            fleets_of(reader),
        )
        .with_config(ControllerConfig::default().debounce(Duration::from_secs(1)).concurrency(1))
        .shutdown_on_signal()
        .run(reconcile, error_policy, ctx)
        .for_each(|r| {
            // Reconcile failures are reported where they happen; these are the watches'.
            if let Err(e) = r
                && !matches!(e, kube::runtime::controller::Error::ReconcilerFailed(..))
            {
                printer.warn(&format!("tkn-multi operator: {e}"));
            }
            futures::future::ready(())
        })
        .await;
    printer.info("tkn-multi operator: stopped");
    Ok(())
}

/// The managed objects of `api` worth a reconcile: those whose content `changed` says moved
/// (kube-runtime's predicate filter: a Deployment's status, which churns while pods start, is
/// not its generation), and every deletion, which a content predicate cannot see (a deleted
/// object keeps its generation), from a second watch of deletions only.
fn managed_changes<K>(
    api: Api<K>,
    owned: &watcher::Config,
    changed: impl Predicate<K> + Send + 'static,
) -> impl futures::Stream<Item = Result<K, watcher::Error>> + Send + 'static
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    let edits = watcher(api.clone(), owned.clone())
        .default_backoff()
        .applied_objects()
        .predicate_filter(changed, PredicateConfig::default());
    let deletions = watcher(api, owned.clone()).default_backoff().filter_map(|e| {
        futures::future::ready(match e {
            Ok(watcher::Event::Delete(o)) => Some(Ok(o)),
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        })
    });
    futures::stream::select(edits, deletions)
}

/// A `ConfigMap`'s content: it has no generation, and its metadata changes (the apply's managed
/// fields) are not edits.
#[allow(clippy::unnecessary_wraps, reason = "kube-runtime's Predicate is Fn(&K) -> Option<u64>")]
fn config_content(cm: &ConfigMap) -> Option<u64> {
    use std::hash::{Hash as _, Hasher as _};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    let binary = cm.binary_data.iter().flatten().map(|(k, v)| (k, &v.0));
    (&cm.data, binary.collect::<Vec<_>>(), &cm.metadata.labels).hash(&mut h);
    Some(h.finish())
}

/// The fleets a managed object concerns: those that list or manage its instance (its
/// `tkn-multi.tekton.dev/instance` label), every fleet for the shared layer's objects.
fn fleets_of<K: kube::Resource>(
    fleets: kube::runtime::reflector::Store<TektonFleet>,
) -> impl Fn(K) -> Vec<ObjectRef<TektonFleet>> + Send + Sync + 'static {
    move |o| {
        let instance = o.meta().labels.as_ref().and_then(|l| l.get(LABEL_INSTANCE)).cloned();
        fleets
            .state()
            .iter()
            .filter(|f| {
                instance.as_deref().is_none_or(|i| {
                    i == crate::names::SHARED_OWNER
                        || f.spec.fleet.instances.iter().any(|x| x.name.as_str() == i)
                        || f.status
                            .as_ref()
                            .is_some_and(|s| s.instances.iter().any(|x| x.name == i))
                })
            })
            .map(|f| ObjectRef::from_obj(f.as_ref()))
            .collect()
    }
}

pub(super) async fn reconcile(
    fleet: Arc<TektonFleet>,
    ctx: Arc<Context>,
) -> Result<Action, Failed> {
    let api: Api<TektonFleet> = Api::all(ctx.client.clone());
    let start = Instant::now();
    let name = fleet.name_any();
    let inner = ctx.clone();
    let result = finalizer(&api, reconcile::FINALIZER, fleet, move |event| async move {
        match event {
            Finalize::Apply(f) => inner.reconcile_fleet(&f, false).await,
            Finalize::Cleanup(f) => inner.reconcile_fleet(&f, true).await,
        }
    })
    .await;
    ctx.metrics.reconciled(start.elapsed(), result.is_ok());
    match result {
        Ok(action) => {
            ctx.failures.lock().expect("never poisoned").remove(&name);
            Ok(action)
        }
        Err(e) => {
            ctx.printer.warn(&format!("tektonfleet/{name}: {e}"));
            Err(Failed(anyhow::Error::new(e)))
        }
    }
}

/// Back-off: 5 s after the first failure, doubling to at most 5 minutes.
#[allow(clippy::needless_pass_by_value)] // kube-runtime's signature
pub(super) fn error_policy(fleet: Arc<TektonFleet>, _: &Failed, ctx: Arc<Context>) -> Action {
    let mut failures = ctx.failures.lock().expect("never poisoned");
    let n = failures.entry(fleet.name_any()).or_insert(0);
    *n = (*n + 1).min(6);
    Action::requeue(Duration::from_secs(5 << (*n - 1)).min(Duration::from_secs(300)))
}

impl Context {
    /// One reconcile of `fleet`: uninstalling its instances when `deleting` (the finalizer).
    async fn reconcile_fleet(&self, fleet: &TektonFleet, deleting: bool) -> Result<Action, Failed> {
        let name = fleet.name_any();
        let previous = fleet.status.clone().unwrap_or_default();
        let mut status =
            TektonFleetStatus { conditions: previous.conditions.clone(), ..previous.clone() };
        if !deleting && let Err(e) = fleet.spec.fleet.desired() {
            let e = anyhow::Error::from(e);
            return self.refuse(fleet, &mut status, &e).await;
        }
        let mut cluster = Live::from_client(self.client.clone(), self.opts.lock_timeout);
        if let Err(e) = cluster.lock().await {
            let outcome = Progress::Progressing {
                reason: "WaitingForLock".into(),
                message: format!("{e:#}"),
            };
            self.set(fleet, &mut status, &outcome).await.map_err(Failed)?;
            return Ok(Action::requeue(LOCKED_RETRY));
        }
        let result = self.locked(&cluster, fleet, &mut status, deleting).await;
        if let Err(e) = cluster.unlock().await {
            self.printer.warn(&format!("tektonfleet/{name}: cannot release the lock: {e:#}"));
        }
        result.map(|done| {
            if deleting && done {
                Action::await_change()
            } else {
                Action::requeue(self.opts.resync)
            }
        })
    }

    /// Plans and, when allowed, executes: `Ok(true)` once the fleet has converged.
    async fn locked(
        &self,
        cluster: &Live,
        fleet: &TektonFleet,
        status: &mut TektonFleetStatus,
        deleting: bool,
    ) -> Result<bool, Failed> {
        let name = fleet.name_any();
        let generation = fleet.metadata.generation.unwrap_or_default();
        let spec = &fleet.spec.fleet;
        let managed = reconcile::managed(fleet.status.as_ref());
        let request = converge::Request {
            mode: Mode::Apply,
            yes: true,
            atomic: false,
            apply: self.opts.apply.clone(),
            certificates: crate::tls::Force::default(),
        };
        let mut unmanaged = Vec::new();
        let (m, r, p) = (&self.matrix, &self.releases, &self.printer);
        let mut prepared = converge::prepare(
            cluster,
            r,
            m,
            &request,
            want(spec, &managed, deleting, &mut unmanaged),
            p,
        )
        .await;
        // No change by the hashes: look for hand edits, and plan again from the same
        // observation with them marked.
        let mut drift = Vec::new();
        if !deleting
            && let Ok(ready) = &mut prepared
            && !ready.plan.has_changes()
        {
            let found = self.drifted(ready).await.map_err(Failed)?;
            if !found.is_empty() {
                drift = found.iter().map(ToString::to_string).collect();
                ready.replan_edited(&found, m).map_err(|e| Failed(e.into()))?;
            }
        }
        let mut prepared = match prepared {
            Ok(p) => p,
            Err(e) if crate::fault::is_user(&e) => {
                self.refuse(fleet, status, &e).await?;
                return Ok(false);
            }
            Err(e) => return Err(self.failure(fleet, status, "ObserveFailed", e).await),
        };
        status.unmanaged_instances = unmanaged;
        status.shared = reconcile::shared(Some(&prepared.plan), &prepared.before);
        let plan = &prepared.plan;
        if !plan.has_changes() {
            status.pending_plan = None;
            status.instances =
                reconcile::instances(spec, &managed, &prepared.before, true, deleting);
            status.observed_generation = Some(generation);
            let message = converged_message(status);
            self.set(fleet, status, &Progress::Ready(message)).await.map_err(Failed)?;
            self.kept_shared(fleet, plan, deleting).await;
            return Ok(true);
        }
        let annotation = fleet.annotations().get(reconcile::APPROVE_ANNOTATION).map(String::as_str);
        if !deleting {
            let reports = match self.precheck(spec, &prepared.before, plan).await {
                Ok(reports) => reports,
                Err(e) => return Err(self.failure(fleet, status, "PrecheckError", e).await),
            };
            status.precheck = reconcile::precheck_findings(&reports);
            if reports.iter().any(crate::precheck::Report::blocked)
                && !reconcile::approved_despite_precheck(plan, generation, annotation)
            {
                let message = reconcile::precheck_refusal(&reports, plan, generation, &name);
                status.pending_plan = Some(tkn_multi_core::operator::PendingPlan {
                    hash: reconcile::plan_hash(plan, generation),
                    summary: reconcile::summary(plan),
                    steps: Vec::new(),
                    message: message.clone(),
                });
                status.instances =
                    reconcile::instances(spec, &managed, &prepared.before, false, deleting);
                self.stall(fleet, status, "PrecheckFailed", &anyhow::anyhow!(message)).await?;
                return Ok(false);
            }
        }
        if !deleting && !reconcile::approved(plan, generation, annotation) {
            let pending = reconcile::pending(plan, generation, &name);
            if status.pending_plan.as_ref().map(|p| &p.hash) != Some(&pending.hash) {
                self.event(fleet, EventType::Normal, "ApprovalRequired", "Plan", &pending.message)
                    .await;
                self.printer.info(&format!("tektonfleet/{name}: {}", pending.message));
            }
            let message = pending.message.clone();
            status.pending_plan = Some(pending);
            status.instances =
                reconcile::instances(spec, &managed, &prepared.before, false, deleting);
            self.set(fleet, status, &Progress::AwaitingApproval(message)).await.map_err(Failed)?;
            return Ok(false);
        }
        self.apply(cluster, fleet, status, (&mut prepared, &managed, &request), &drift).await
    }

    /// Executes an allowed plan, recording first what it may touch; then the events, and the
    /// status of a converged fleet.
    async fn apply(
        &self,
        cluster: &Live,
        fleet: &TektonFleet,
        status: &mut TektonFleetStatus,
        (prepared, managed, request): (
            &mut converge::Prepared,
            &std::collections::BTreeSet<String>,
            &converge::Request,
        ),
        drift: &[String],
    ) -> Result<bool, Failed> {
        let deleting = fleet.metadata.deletion_timestamp.is_some();
        let name = fleet.name_any();
        let generation = fleet.metadata.generation.unwrap_or_default();
        let spec = &fleet.spec.fleet;
        let plan = &prepared.plan;
        // Record every instance this run may touch before it touches any: a restarted
        // operator must still know what it owns.
        status.pending_plan = None;
        status.instances = reconcile::instances(spec, managed, &prepared.before, false, deleting);
        let applying = Progress::Progressing {
            reason: "Applying".into(),
            message: format!("applying: {}", reconcile::summary(plan)),
        };
        self.set(fleet, status, &applying).await.map_err(Failed)?;
        self.printer.info(&format!("tektonfleet/{name}: applying ({})", reconcile::summary(plan)));
        if let Err(e) = converge::carry_out(
            cluster,
            prepared,
            &self.releases,
            &self.matrix,
            request,
            &self.printer,
        )
        .await
        {
            if crate::fault::is_user(&e) {
                self.refuse(fleet, status, &e).await?;
                return Ok(false);
            }
            return Err(self.failure(fleet, status, "ApplyFailed", e).await);
        }
        let plan = &prepared.plan;
        self.step_events(fleet, plan).await;
        self.metrics.applied(plan.steps.len(), !drift.is_empty());
        if !drift.is_empty() {
            let message =
                format!("reverted changes made outside the fleet to {}", drift.join(", "));
            self.event(fleet, EventType::Warning, "DriftCorrected", "Reconcile", &message).await;
        }
        let after =
            ClusterState { instances: plan.target.instances.clone(), ..ClusterState::empty() };
        status.instances = reconcile::instances(spec, managed, &after, true, deleting);
        status.observed_generation = Some(generation);
        status.last_applied = Some(reconcile::summary(plan));
        let message = converged_message(status);
        self.set(fleet, status, &Progress::Ready(message)).await.map_err(Failed)?;
        self.kept_shared(fleet, plan, deleting).await;
        self.printer.info(&format!("tektonfleet/{name}: applied"));
        Ok(true)
    }

    /// The upgrade precheck of the instances the spec moves to another version, and of the
    /// shared layer when `plan` moves it (the operator holds the cluster lock: the shadows are
    /// made under it).
    async fn precheck(
        &self,
        spec: &crate::fleet::FleetSpec,
        before: &ClusterState,
        plan: &crate::plan::Plan,
    ) -> anyhow::Result<Vec<crate::precheck::Report>> {
        let Ok(desired) = spec.desired() else { return Ok(Vec::new()) };
        let apis = crate::cluster::Apis::new(self.client.clone());
        let on = crate::converge::precheck::On {
            apis: &apis,
            releases: &self.releases,
            defaults: &self.matrix.defaults,
            webhook: crate::converge::precheck::Webhook::Ask { lock_timeout: None },
            printer: &self.printer,
        };
        let moves = crate::converge::precheck::moves(&desired);
        let mut reports = crate::converge::precheck::reports(&on, before, &moves).await?;
        let live = before.shared.as_ref().map(|s| &s.version);
        if let Some(to) = plan.target.shared.as_ref().map(|s| &s.version)
            && live.is_some_and(|l| l != to)
        {
            reports.extend(crate::converge::precheck::shared(&on, before, to).await?);
        }
        Ok(reports)
    }

    /// A spec that cannot be done as asked: `Stalled` with the reason, a Warning event once per
    /// message, nothing written to the cluster; tried again at the next change or resync.
    async fn refuse(
        &self,
        fleet: &TektonFleet,
        status: &mut TektonFleetStatus,
        e: &anyhow::Error,
    ) -> Result<Action, Failed> {
        status.pending_plan = None;
        self.stall(fleet, status, reconcile::stalled_reason(e), e).await
    }

    /// `Stalled` with `reason`: a Warning event once per message; a pending plan in `status`
    /// stays (a plan the precheck blocks waits for its approval).
    async fn stall(
        &self,
        fleet: &TektonFleet,
        status: &mut TektonFleetStatus,
        reason: &str,
        e: &anyhow::Error,
    ) -> Result<Action, Failed> {
        let message = format!("{e:#}");
        let already = fleet.status.as_ref().is_some_and(|s| {
            s.conditions
                .iter()
                .any(|c| c.type_ == "Stalled" && c.status == "True" && c.message == message)
        });
        if !already {
            self.event(fleet, EventType::Warning, reason, "Plan", &message).await;
            self.printer.warn(&format!("tektonfleet/{}: refused: {message}", fleet.name_any()));
        }
        let outcome = Progress::Stalled { reason: reason.into(), message };
        self.set(fleet, status, &outcome).await.map_err(Failed)?;
        Ok(Action::requeue(self.opts.resync))
    }

    async fn failure(
        &self,
        fleet: &TektonFleet,
        status: &mut TektonFleetStatus,
        reason: &str,
        e: anyhow::Error,
    ) -> Failed {
        let message = format!("{e:#}");
        self.event(fleet, EventType::Warning, reason, "Reconcile", &message).await;
        let outcome = Progress::Progressing { reason: reason.into(), message };
        if let Err(write) = self.set(fleet, status, &outcome).await {
            self.printer.warn(&format!("cannot write the status: {write:#}"));
        }
        Failed(e)
    }
}

/// The desired state of a reconcile, for the driver; the unmanaged instances it found go to
/// `unmanaged`.
pub(super) fn want<'a>(
    spec: &'a crate::fleet::FleetSpec,
    managed: &'a std::collections::BTreeSet<String>,
    deleting: bool,
    unmanaged: &'a mut Vec<String>,
) -> impl FnOnce(&ClusterState) -> anyhow::Result<crate::plan::Desired> + 'a {
    move |state| {
        let w = reconcile::desired(spec, managed, state, deleting)?;
        *unmanaged = w.unmanaged;
        Ok(w.desired)
    }
}
