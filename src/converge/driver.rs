//! The driver of every changing command: observe → plan → consent → execute → roll back, over the `Cluster`, `ReleaseSource` and `Ui` traits. **I/O through its traits.**
use std::time::Duration;

use anyhow::Context as _;

use crate::apply;
use crate::fault::UserError;
use crate::matrix::Matrix;
use crate::names::SHARED_OWNER;
use crate::plan::state::ClusterState;
use crate::plan::{self, Desired, Plan, Releases, SharedPolicy, UpdateShared};
use crate::printer::Printer;
use crate::release::{Release, TektonVersion};
use crate::render::plan::to_text;

/// A cluster the driver can observe and change.
// The driver awaits on one task, so the futures need not be `Send`.
#[allow(async_fn_in_trait)]
pub trait Cluster {
    /// Whether this handle can write (a saved observation cannot).
    fn writable(&self) -> bool;
    /// Takes the cluster lock, so that no other run changes the cluster between observation
    /// and the end of execution.
    async fn lock(&mut self) -> anyhow::Result<()>;
    /// Releases the lock, if held.
    async fn unlock(&mut self) -> anyhow::Result<()>;
    /// What tkn-multi manages in the cluster now.
    async fn observe(&self) -> anyhow::Result<ClusterState>;
    /// Carries out `plan`.
    async fn execute(
        &self,
        plan: &Plan,
        opts: &apply::Options,
        printer: &Printer,
    ) -> anyhow::Result<()>;
    /// Runs a stage gate's smoke `TaskRun` in `instance`'s namespace and waits up to `timeout`
    /// for it to succeed.
    async fn smoke(
        &self,
        instance: &crate::plan::state::ObservedInstance,
        timeout: std::time::Duration,
        printer: &Printer,
    ) -> anyhow::Result<()>;
}

/// Where the releases the planner asks for come from.
#[allow(async_fn_in_trait)]
pub trait ReleaseSource {
    /// The parsed release `version`.
    async fn load(&self, version: &TektonVersion) -> anyhow::Result<Release>;
}

/// How the driver talks to the person running it.
pub trait Ui {
    /// Shows the plan (stdout, in the format asked for).
    fn show(&self, plan: &Plan) -> anyhow::Result<()>;
    /// Asks whether to go on; `None` when nobody can be asked (no terminal).
    fn confirm(&self, question: &str) -> anyhow::Result<Option<bool>>;
}

/// What a run does with its plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Show it; send nothing (`--dry-run`).
    Plan,
    /// Send every write with the API's dry run (`--dry-run=server`).
    ServerDryRun,
    /// Apply it.
    Apply,
}

/// How to run.
#[derive(Debug, Clone)]
pub struct Request {
    /// What to do with the plan.
    pub mode: Mode,
    /// Consent given up front to delete or replace objects (`--yes`).
    pub yes: bool,
    /// Roll the instances back if applying fails part-way (`--atomic`).
    pub atomic: bool,
    /// How to execute (its `server_dry_run` follows `mode`).
    pub apply: apply::Options,
    /// Certificate renewals asked for beyond those due (`rotate-certs`).
    pub certificates: crate::tls::Force,
}

/// What a run planned, and what it started from.
#[derive(Debug)]
pub struct Outcome {
    /// The observation the plan was made from.
    pub before: ClusterState,
    /// The plan (shown, and unless [`Mode::Plan`], executed).
    pub plan: Plan,
}

/// Observes, plans the desired state `desired` builds from the observation, shows the plan and,
/// unless [`Mode::Plan`], asks for consent and executes it. The lock is held from observation
/// to the end, and released whatever the outcome.
///
/// # Errors
/// Bad requests (a [`UserError`]: the desired state's and the planner's refusals), a refused consent, and execution
/// failures (`apply::Incomplete` in the chain, `apply::RolledBack` too after `--atomic`).
pub async fn run<C, R, U>(
    cluster: &mut C,
    releases: &R,
    matrix: &Matrix,
    request: &Request,
    desired: impl FnOnce(&ClusterState) -> anyhow::Result<Desired>,
    ui: &U,
    printer: &Printer,
) -> anyhow::Result<Outcome>
where
    C: Cluster,
    R: ReleaseSource,
    U: Ui,
{
    let writes = request.mode != Mode::Plan && cluster.writable();
    let start = std::time::Instant::now();
    let sent = crate::cluster::throttle::requests();
    if writes {
        cluster.lock().await?;
    }
    if writes {
        printer.timing(
            &crate::timings::Timing::phase("lock", start.elapsed())
                .with_requests(crate::cluster::throttle::requests() - sent),
        );
    }
    let outcome = run_locked(cluster, releases, matrix, request, desired, ui, printer).await;
    if writes && let Err(unlock) = cluster.unlock().await {
        // The run's own error comes first; the failed unlock is said beside it, never instead.
        return Err(match outcome {
            Ok(_) => unlock.context("the run succeeded, but releasing the cluster lock failed"),
            Err(run) => {
                printer.warn(&format!("releasing the cluster lock failed too: {unlock:#}"));
                run
            }
        });
    }
    outcome
}

pub(super) async fn run_locked<C: Cluster, R: ReleaseSource, U: Ui>(
    cluster: &C,
    releases: &R,
    matrix: &Matrix,
    request: &Request,
    desired: impl FnOnce(&ClusterState) -> anyhow::Result<Desired>,
    ui: &U,
    printer: &Printer,
) -> anyhow::Result<Outcome> {
    let mut prepared = prepare(cluster, releases, matrix, request, desired, printer).await?;
    ui.show(&prepared.plan)?;
    if request.mode == Mode::Plan {
        return Ok(prepared.outcome());
    }
    if !cluster.writable() {
        return Err(review_only());
    }
    consent(prepared.plan.summary.delete + prepared.plan.summary.replace, request, ui)?;
    carry_out(cluster, &mut prepared, releases, matrix, request, printer).await?;
    Ok(prepared.outcome())
}

/// A plan made, and what it was made from: between [`prepare`] and [`carry_out`].
#[derive(Debug)]
pub struct Prepared {
    /// The observation.
    pub before: ClusterState,
    /// The desired state built from it (certificate work filled in).
    pub desired: Desired,
    /// The plan.
    pub plan: Plan,
    loaded: Releases,
}

impl Prepared {
    /// The desired objects the plan was made from (the operator compares them with the live
    /// ones to find hand edits).
    ///
    /// # Errors
    /// As [`plan::plan`] (not in practice: the same inputs planned).
    pub fn wanted(&self, matrix: &Matrix) -> Result<plan::Wanted, plan::Error> {
        plan::wanted(&self.desired, &self.before, &self.loaded, matrix)
    }

    /// Plans again from the same observation, with `edited` (objects whose live content differs
    /// from what tkn-multi wrote, found by the operator) marked so that the plan writes them back.
    /// Observes nothing and loads nothing: the releases are those already loaded.
    ///
    /// # Errors
    /// As [`plan::plan`] (not in practice: the same inputs planned).
    pub fn replan_edited(
        &mut self,
        edited: &std::collections::BTreeSet<crate::release::ObjectRef>,
        matrix: &Matrix,
    ) -> Result<(), plan::Error> {
        for o in &mut self.before.objects {
            if edited.contains(&o.object) {
                "edited outside tkn-multi".clone_into(&mut o.hash);
            }
        }
        self.plan = plan::plan(&self.desired, &self.before, &self.loaded, matrix)?;
        Ok(())
    }

    /// What the run planned and started from.
    pub fn outcome(self) -> Outcome {
        Outcome { before: self.before, plan: self.plan }
    }
}

/// Observes `cluster`, builds the desired state from the observation and plans it (loading the
/// releases the planner asks for). Writes nothing.
///
/// # Errors
/// An observation that fails, and the desired state's and the planner's refusals.
pub async fn prepare<C: Cluster, R: ReleaseSource>(
    cluster: &C,
    releases: &R,
    matrix: &Matrix,
    request: &Request,
    desired: impl FnOnce(&ClusterState) -> anyhow::Result<Desired>,
    printer: &Printer,
) -> anyhow::Result<Prepared> {
    let start = std::time::Instant::now();
    let sent = crate::cluster::throttle::requests;
    let r0 = sent();
    let before = cluster.observe().await.context("cannot observe the cluster")?;
    let observed = start.elapsed();
    let r1 = sent();
    // The desired state is the request read against the observation: what it refuses is the
    // request's, as is what the planner refuses (`make_plan`).
    let mut desired = desired(&before).map_err(crate::fault::user)?;
    prepare_certificates(&mut desired, &before, request.certificates)?;
    let mut loaded = Releases::new();
    let plan = make_plan(&desired, &before, releases, &mut loaded, matrix).await?;
    printer.timing(&crate::timings::Timing::phase("observe", observed).with_requests(r1 - r0));
    printer.timing(
        &crate::timings::Timing::phase("plan", start.elapsed().saturating_sub(observed))
            .with_requests(sent() - r1),
    );
    Ok(Prepared { before, desired, plan, loaded })
}

/// Consent to a plan that deletes or replaces `destructive` objects: `--yes`, an answer of
/// `yes`, or (with nobody to ask) a refusal that says to pass `--yes`.
///
/// # Errors
/// A declined plan, or no consent to be had.
pub fn consent<U: Ui>(destructive: usize, request: &Request, ui: &U) -> anyhow::Result<()> {
    if destructive == 0 || request.yes || request.mode != Mode::Apply {
        return Ok(());
    }
    let question = format!("The plan deletes or replaces {destructive} object(s). Apply it?");
    match ui.confirm(&question)? {
        Some(true) => Ok(()),
        Some(false) => Err(UserError::msg("not applied: the plan was declined".into()).into()),
        None => Err(UserError::msg(format!(
            "the plan deletes or replaces {destructive} object(s); review it and pass `--yes` to apply it"
        ))
        .into()),
    }
}

/// Executes a prepared plan (with the API's dry run under [`Mode::ServerDryRun`]), and with
/// `--atomic` rolls a run that stopped part-way back.
///
/// # Errors
/// Execution failures (`apply::Incomplete` in the chain, `apply::RolledBack` too after a
/// roll-back).
pub async fn carry_out<C: Cluster, R: ReleaseSource>(
    cluster: &C,
    prepared: &mut Prepared,
    releases: &R,
    matrix: &Matrix,
    request: &Request,
    printer: &Printer,
) -> anyhow::Result<()> {
    let opts = apply::Options {
        server_dry_run: request.mode == Mode::ServerDryRun,
        ..request.apply.clone()
    };
    let plan = &prepared.plan;
    if let Err(e) = cluster.execute(plan, &opts, printer).await {
        let partial = e.downcast_ref::<apply::Incomplete>().is_some();
        return Err(if request.atomic && partial && !opts.server_dry_run {
            let back = (&prepared.desired, &prepared.before, &mut prepared.loaded);
            roll_back(e, back, cluster, releases, matrix, &opts, printer).await
        } else {
            e
        });
    }
    if plan.has_changes() {
        printer.info(if opts.server_dry_run {
            "the API server accepted every write it was sent (dry run: nothing was changed)"
        } else {
            "applied"
        });
    }
    Ok(())
}

/// Before v0.44 tkn-multi owns each instance's webhook certificate (see [`crate::tls`]): every
/// desired instance of such a version trusts the observed CA bundle, and for those in scope whose
/// certificate is due (or asked for by `force`) the plan gets a certificate step, with a new CA
/// made here when one is needed (so that the configurations can trust it before it is written).
///
/// # Errors
/// A key that cannot be generated.
pub fn prepare_certificates(
    desired: &mut Desired,
    before: &ClusterState,
    force: crate::tls::Force,
) -> anyhow::Result<()> {
    let now = crate::tls::now();
    for i in &mut desired.instances {
        if !crate::release::capabilities::Capabilities::of(&i.version).owned_admission {
            i.spec.admission_ca = None;
            continue;
        }
        let name = i.spec.name.to_string();
        let observed = before.instance(&name).and_then(|o| o.admission.as_ref());
        i.spec.admission_ca = observed.map(|o| o.ca_bundle.clone());
        if desired.scope.as_ref().is_some_and(|s| !s.contains(&name)) {
            continue;
        }
        let Some((reason, make_ca)) = crate::tls::due(observed, now, force) else { continue };
        let new_ca = if make_ca {
            let previous = observed.and_then(|o| crate::tls::first_certificate(&o.ca_bundle));
            let ca = crate::tls::generate_ca(&name, previous)?;
            i.spec.admission_ca =
                Some(crate::tls::bundle(&ca.cert_pem, ca.previous_cert_pem.as_deref()));
            Some(ca)
        } else {
            None
        };
        let dates = crate::tls::dates_after_writing(now, observed, new_ca.is_some());
        desired
            .certificates
            .insert(name, plan::CertificateWork { reason, new_ca, dates: Some(dates) });
    }
    Ok(())
}

/// Plans once, having loaded the releases [`plan::required_releases`] names (into `releases`,
/// kept for the next plan).
///
/// # Errors
/// The planner's refusals, and a release that cannot be loaded.
pub async fn make_plan<R: ReleaseSource>(
    desired: &Desired,
    state: &ClusterState,
    source: &R,
    releases: &mut Releases,
    matrix: &Matrix,
) -> anyhow::Result<Plan> {
    // At most twice round: a version with no record in the matrix first, then the releases the
    // shared layer its record chose reads. Each release is loaded once, and planned from once.
    loop {
        let required = plan::required_releases(desired, state, releases, matrix)
            .map_err(crate::fault::user)?;
        let missing: Vec<_> = required.into_iter().filter(|v| !releases.contains_key(v)).collect();
        if missing.is_empty() {
            return plan::plan(desired, state, releases, matrix).map_err(crate::fault::user);
        }
        for v in missing {
            let release = source.load(&v).await?;
            releases.insert(v, release);
        }
    }
}

/// What `--atomic` returns to: the instances as observed before the run, in the same scope; a
/// shared layer that existed stays (at whatever version it now has: a shared upgrade may have
/// migrated stored versions, and the matrix guarantees it serves the older instances), one
/// this run created goes when no instance is left.
///
/// # Errors
/// An observed instance whose names are not valid (a corrupt observation).
pub fn rollback_desired(forward: &Desired, before: &ClusterState) -> anyhow::Result<Desired> {
    let had_shared = before.shared.is_some();
    let mut scope = forward.scope.clone();
    if let Some(s) = scope.as_mut()
        && !had_shared
    {
        s.insert(SHARED_OWNER.to_owned());
    }
    Ok(Desired {
        shared: forward.shared.clone(),
        policy: SharedPolicy {
            mode: forward.policy.mode,
            update: UpdateShared::IfOlder,
            keep_on_uninstall: had_shared,
            downgrade: false,
            // The shared layer stays where the forward run took it, accepted or not.
            accept_broken_workloads: forward.policy.accept_broken_workloads,
        },
        image_registry: forward.image_registry.clone(),
        instances: before
            .desired_instances()?
            .into_iter()
            .map(|mut i| {
                // What the run was asked to keep of each instance stays asked for.
                if let Some(f) = forward.instances.iter().find(|f| f.spec.name == i.spec.name) {
                    i.overrides = f.overrides.clone();
                    i.config = f.config.clone();
                }
                i
            })
            .collect(),
        scope,
        certificates: std::collections::BTreeMap::new(),
    })
}

/// `--atomic`: after `failure`, plans the way back to `before` and executes it.
pub(super) async fn roll_back<C: Cluster, R: ReleaseSource>(
    failure: anyhow::Error,
    (forward, before, loaded): (&Desired, &ClusterState, &mut Releases),
    cluster: &C,
    releases: &R,
    matrix: &Matrix,
    opts: &apply::Options,
    printer: &Printer,
) -> anyhow::Error {
    printer.warn(&format!("{failure:#}"));
    printer.info("rolling back (`--atomic`)");
    let back = async {
        let desired = rollback_desired(forward, before)?;
        let now = cluster.observe().await.context("cannot observe the cluster")?;
        let plan = make_plan(&desired, &now, releases, loaded, matrix).await?;
        printer.info(&to_text(&plan));
        cluster.execute(&plan, opts, printer).await
    };
    match back.await {
        Ok(()) => failure.context(apply::RolledBack),
        Err(e) => e.context(format!(
            "the rollback failed too, after: {failure:#}; re-run the command, or roll back by hand"
        )),
    }
}

/// The live cluster: kubectl's connection conventions, the cluster lock, observation and the
/// apply engine.
pub struct Live {
    /// The client, with the kinds discovered once for observation and execution alike.
    apis: crate::cluster::Apis,
    lock_timeout: Duration,
    lock: Option<crate::cluster::lock::Held>,
}

impl Live {
    /// Connects to the cluster `target` names.
    ///
    /// # Errors
    /// No kubeconfig, an unknown context, or an unreachable API server.
    pub async fn connect(
        target: &crate::cluster::Connection,
        lock_timeout: Duration,
    ) -> anyhow::Result<Self> {
        let client = crate::cluster::connect(target).await?;
        Ok(Self::from_client(client, lock_timeout))
    }

    /// The cluster `client` reaches.
    pub fn from_client(client: kube::Client, lock_timeout: Duration) -> Self {
        Live { apis: crate::cluster::Apis::new(client), lock_timeout, lock: None }
    }
}

impl Cluster for Live {
    fn writable(&self) -> bool {
        true
    }

    async fn lock(&mut self) -> anyhow::Result<()> {
        if self.lock.is_none() {
            let identity = crate::cluster::lock::identity();
            let held =
                crate::cluster::lock::acquire(self.apis.client(), &identity, self.lock_timeout)
                    .await?;
            self.lock = Some(held);
        }
        Ok(())
    }

    async fn unlock(&mut self) -> anyhow::Result<()> {
        match self.lock.take() {
            Some(held) => held.release().await,
            None => Ok(()),
        }
    }

    async fn observe(&self) -> anyhow::Result<ClusterState> {
        crate::cluster::observe(&self.apis).await
    }

    async fn execute(
        &self,
        plan: &Plan,
        opts: &apply::Options,
        printer: &Printer,
    ) -> anyhow::Result<()> {
        // Every step first asks the lock's guard: a run that lost the lock writes nothing more.
        let opts = apply::Options {
            guard: self.lock.as_ref().map(crate::cluster::lock::Held::guard),
            ..opts.clone()
        };
        apply::execute(&self.apis, plan, &opts, printer).await
    }

    async fn smoke(
        &self,
        instance: &crate::plan::state::ObservedInstance,
        timeout: std::time::Duration,
        printer: &Printer,
    ) -> anyhow::Result<()> {
        apply::smoke::run(&self.apis, instance, timeout, printer).await
    }
}

/// The refusal to execute a plan made from a saved observation.
pub(super) fn review_only() -> anyhow::Error {
    UserError::msg("a plan made from `--state` is for review only; use `--dry-run`".into()).into()
}

/// A saved observation (`--state FILE`): plans can be made from it, never executed.
pub struct Saved(pub ClusterState);

impl Cluster for Saved {
    fn writable(&self) -> bool {
        false
    }

    async fn lock(&mut self) -> anyhow::Result<()> {
        Ok(())
    }

    async fn unlock(&mut self) -> anyhow::Result<()> {
        Ok(())
    }

    async fn observe(&self) -> anyhow::Result<ClusterState> {
        Ok(self.0.clone())
    }

    async fn execute(&self, _: &Plan, _: &apply::Options, _: &Printer) -> anyhow::Result<()> {
        Err(review_only())
    }

    async fn smoke(
        &self,
        _: &crate::plan::state::ObservedInstance,
        _: std::time::Duration,
        _: &Printer,
    ) -> anyhow::Result<()> {
        Err(review_only())
    }
}
