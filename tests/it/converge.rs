//! The driver (`tkn_multi::converge`) on an in-memory fake cluster: consent, `--atomic`
//! rollback, the lock and the modes, with no API server. The fake executes plans with the real
//! scheduler (`apply::schedule`) and records what a cluster would (`ClusterState::apply_done`);
//! it fails at a chosen step. The fleet driver runs over two of them.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use tkn_multi::apply::schedule::{self, Runner};
use tkn_multi::apply::{Incomplete, Options, RolledBack};
use tkn_multi::converge::{Cluster, Mode, Outcome, ReleaseSource, Request, Ui, run};
use tkn_multi::fault::UserError;
use tkn_multi::matrix::Matrix;
use tkn_multi::plan::state::ClusterState;
use tkn_multi::plan::{Action, Desired, DesiredInstance, Plan, SharedPolicy, Step, StepKind};
use tkn_multi::printer::Printer;
use tkn_multi::release::{Release, TektonVersion};
use tkn_multi::split::{InstanceSpec, SharedSpec};

use crate::common::{load, release_dir};

/// A cluster in memory. `fail` names a step (by what it writes) that fails once.
#[derive(Default)]
struct Fake {
    state: RefCell<ClusterState>,
    fail: RefCell<Option<(String, String)>>,
    fail_rollback: Cell<bool>,
    locked: Cell<bool>,
    locks: Cell<usize>,
    executions: RefCell<Vec<Plan>>,
    unreachable: Cell<bool>,
    fail_unlock: Cell<bool>,
    /// The smoke runs asked for (instance names), and whether they fail.
    smokes: RefCell<Vec<String>>,
    fail_smoke: Cell<bool>,
}

struct FakeRunner<'a> {
    fail: Option<usize>,
    done: &'a RefCell<BTreeSet<usize>>,
}

impl Runner for FakeRunner<'_> {
    async fn run(&self, step: &Step) -> anyhow::Result<()> {
        tokio::task::yield_now().await;
        if self.fail == Some(step.index) {
            anyhow::bail!("injected failure at step {}", step.index + 1);
        }
        self.done.borrow_mut().insert(step.index);
        Ok(())
    }
}

/// The index of the step that applies `kind/name` of `owner`.
fn step_writing(plan: &Plan, owner: &str, kind: &str, name: &str) -> Option<usize> {
    plan.steps.iter().find_map(|s| match &s.kind {
        StepKind::Object { object, owner: o, action, .. }
            if o == owner
                && object.kind == kind
                && object.name == name
                && *action != Action::Delete =>
        {
            Some(s.index)
        }
        _ => None,
    })
}

impl Cluster for Fake {
    fn writable(&self) -> bool {
        true
    }
    async fn smoke(
        &self,
        instance: &tkn_multi::plan::state::ObservedInstance,
        _: std::time::Duration,
        _: &Printer,
    ) -> anyhow::Result<()> {
        self.smokes.borrow_mut().push(instance.name.clone());
        if self.fail_smoke.get() {
            anyhow::bail!("the smoke TaskRun failed: injected");
        }
        Ok(())
    }
    async fn lock(&mut self) -> anyhow::Result<()> {
        assert!(!self.locked.get(), "the lock is taken once");
        self.locked.set(true);
        self.locks.set(self.locks.get() + 1);
        Ok(())
    }
    async fn unlock(&mut self) -> anyhow::Result<()> {
        self.locked.set(false);
        if self.fail_unlock.get() {
            anyhow::bail!("injected unlock failure");
        }
        Ok(())
    }
    async fn observe(&self) -> anyhow::Result<ClusterState> {
        if self.unreachable.get() {
            anyhow::bail!("connection refused");
        }
        Ok(self.state.borrow().clone())
    }
    async fn execute(&self, plan: &Plan, opts: &Options, _: &Printer) -> anyhow::Result<()> {
        self.executions.borrow_mut().push(plan.clone());
        if opts.server_dry_run {
            return Ok(());
        }
        let rollback = self.executions.borrow().len() > 1;
        let fail = match &*self.fail.borrow() {
            Some((owner, name)) if !rollback => step_writing(plan, owner, "Deployment", name),
            _ if rollback && self.fail_rollback.get() => Some(0),
            _ => None,
        };
        let done = RefCell::new(BTreeSet::new());
        let runner = FakeRunner { fail, done: &done };
        match schedule::run(&plan.steps, &runner, opts.concurrency).await {
            Ok(_) => {
                self.state.borrow_mut().apply(plan);
                Ok(())
            }
            Err(stopped) => {
                self.state.borrow_mut().apply_done(plan, &done.borrow());
                let total = plan.steps.len();
                Err(stopped.error.context(Incomplete {
                    step: stopped.step + 1,
                    total,
                    done: stopped.done,
                }))
            }
        }
    }
}

/// Releases from the release directory, counting loads.
#[derive(Default)]
struct Files {
    loads: Cell<usize>,
}

impl ReleaseSource for Files {
    async fn load(&self, version: &TektonVersion) -> anyhow::Result<Release> {
        self.loads.set(self.loads.get() + 1);
        Ok(load(version))
    }
}

/// A person at a terminal who answers `answer` (`None`: there is no terminal).
struct Person {
    answer: Option<bool>,
    asked: RefCell<Vec<String>>,
    shown: Cell<usize>,
}

impl Person {
    fn answering(answer: Option<bool>) -> Self {
        Person { answer, asked: RefCell::new(vec![]), shown: Cell::new(0) }
    }
}

impl Ui for Person {
    fn show(&self, _: &Plan) -> anyhow::Result<()> {
        self.shown.set(self.shown.get() + 1);
        Ok(())
    }
    fn confirm(&self, question: &str) -> anyhow::Result<Option<bool>> {
        self.asked.borrow_mut().push(question.to_owned());
        Ok(self.answer)
    }
}

impl tkn_multi::converge::fleet::FleetUi for Person {
    fn show_all(&self, plans: &[tkn_multi::converge::fleet::Shown<'_>]) -> anyhow::Result<()> {
        self.shown.set(self.shown.get() + plans.len());
        Ok(())
    }
}

fn request(mode: Mode, yes: bool, atomic: bool) -> Request {
    Request {
        mode,
        yes,
        atomic,
        apply: Options {
            field_manager: "tkn-multi".into(),
            timeout: Duration::from_secs(60),
            force_conflicts: false,
            force_fields: false,
            server_dry_run: false,
            concurrency: 4,
            chunk_size: 500,
            guard: None,
        },
        certificates: tkn_multi::tls::Force::default(),
    }
}

fn instance(name: &str, version: &str) -> DesiredInstance {
    DesiredInstance {
        spec: InstanceSpec {
            name: name.parse().unwrap(),
            namespace: name.parse().unwrap(),
            control_plane_namespace: format!("tekton-{name}").parse().unwrap(),
            admission_ca: None,
        },
        version: version.parse().unwrap(),
        config: BTreeMap::new(),
        overrides: tkn_multi::plan::overrides::Overrides::default(),
        kept_defaults: BTreeMap::new(),
        keep_defaults: false,
    }
}

/// What `install`/`upgrade` ask for: the observed instances, `name` at `version`, `name` in
/// scope.
fn with(name: &str, version: &str) -> impl FnOnce(&ClusterState) -> anyhow::Result<Desired> {
    let (name, version) = (name.to_owned(), version.to_owned());
    move |state| {
        let mut instances: Vec<_> = state
            .desired_instances()?
            .into_iter()
            .filter(|i| i.spec.name.as_str() != name)
            .collect();
        instances.push(instance(&name, &version));
        Ok(Desired {
            shared: SharedSpec::default(),
            policy: SharedPolicy::default(),
            image_registry: None,
            instances,
            scope: Some(BTreeSet::from([name])),
            certificates: std::collections::BTreeMap::new(),
        })
    }
}

/// What `uninstall` asks for.
fn without(name: &str) -> impl FnOnce(&ClusterState) -> anyhow::Result<Desired> {
    let name = name.to_owned();
    move |state| {
        let instances: Vec<_> = state
            .desired_instances()?
            .into_iter()
            .filter(|i| i.spec.name.as_str() != name)
            .collect();
        let mut scope = BTreeSet::from([name]);
        if instances.is_empty() {
            scope.insert("shared".to_owned());
        }
        Ok(Desired {
            shared: SharedSpec::default(),
            policy: SharedPolicy::default(),
            image_registry: None,
            instances,
            scope: Some(scope),
            certificates: std::collections::BTreeMap::new(),
        })
    }
}

struct World {
    cluster: Fake,
    files: Files,
    matrix: Matrix,
    rt: tokio::runtime::Runtime,
}

impl World {
    fn new() -> Self {
        release_dir();
        World {
            cluster: Fake { state: RefCell::new(ClusterState::empty()), ..Fake::default() },
            files: Files::default(),
            matrix: Matrix::embedded(),
            rt: tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap(),
        }
    }

    fn run(
        &mut self,
        request: &Request,
        desired: impl FnOnce(&ClusterState) -> anyhow::Result<Desired>,
        ui: &Person,
    ) -> anyhow::Result<Outcome> {
        let printer = Printer { quiet: true, ..Printer::default() };
        let (cluster, files, matrix) = (&mut self.cluster, &self.files, &self.matrix);
        let out = self.rt.block_on(run(cluster, files, matrix, request, desired, ui, &printer));
        assert!(!self.cluster.locked.get(), "the lock is released whatever the outcome");
        out
    }

    fn versions(&self) -> Vec<(String, String)> {
        let s = self.cluster.state.borrow();
        s.instances.iter().map(|i| (i.name.clone(), i.version.to_string())).collect()
    }
}

fn nobody() -> Person {
    Person::answering(None)
}

#[test]
fn a_plan_only_run_neither_locks_nor_executes() {
    let mut w = World::new();
    let ui = nobody();
    let out = w.run(&request(Mode::Plan, false, false), with("a", "v0.50.3"), &ui).unwrap();
    assert!(out.plan.has_changes());
    assert_eq!(ui.shown.get(), 1, "the plan is shown");
    assert_eq!(w.cluster.locks.get(), 0);
    assert!(w.cluster.executions.borrow().is_empty());
    assert!(w.cluster.state.borrow().objects.is_empty());
    assert_eq!(w.files.loads.get(), 1, "the planner asked for the one release it needs");
}

#[test]
fn a_destructive_plan_needs_consent_and_nothing_runs_without_it() {
    let mut w = World::new();
    w.run(&request(Mode::Apply, false, false), with("a", "v0.50.3"), &nobody()).unwrap();
    assert_eq!(
        w.versions(),
        [("a".into(), "v0.50.3".into())],
        "an install deletes nothing: no question"
    );
    let before = w.cluster.state.borrow().clone();
    // No terminal: refused, with the way out.
    let ui = nobody();
    let err = w.run(&request(Mode::Apply, false, false), without("a"), &ui).unwrap_err();
    assert!(err.is::<UserError>(), "{err:#}");
    assert!(err.to_string().contains("pass `--yes`"), "{err:#}");
    assert_eq!(ui.asked.borrow().len(), 1);
    assert_eq!(*w.cluster.state.borrow(), before, "nothing was executed");
    // A person who declines.
    let ui = Person::answering(Some(false));
    let err = w.run(&request(Mode::Apply, false, false), without("a"), &ui).unwrap_err();
    assert!(err.to_string().contains("declined"), "{err:#}");
    assert!(ui.asked.borrow()[0].contains("deletes or replaces"), "{:?}", ui.asked);
    assert_eq!(*w.cluster.state.borrow(), before, "nothing was executed");
    assert_eq!(w.cluster.executions.borrow().len(), 1, "only the install ran");
    // A server dry run sends nothing that persists: no question.
    let ui = nobody();
    w.run(&request(Mode::ServerDryRun, false, false), without("a"), &ui).unwrap();
    assert!(ui.asked.borrow().is_empty());
    assert_eq!(*w.cluster.state.borrow(), before);
    // `--yes`, or a person who says yes.
    let ui = Person::answering(Some(true));
    w.run(&request(Mode::Apply, false, false), without("a"), &ui).unwrap();
    assert_eq!(ui.asked.borrow().len(), 1);
    let gone = |w: &World| {
        let s = w.cluster.state.borrow();
        s.shared.is_none() && s.instances.is_empty() && s.objects.iter().all(|o| o.retain)
    };
    assert!(gone(&w), "the last instance took the shared layer (its namespace stays)");
    let ui = nobody();
    w.run(&request(Mode::Apply, true, false), with("b", "v0.50.3"), &ui).unwrap();
    w.run(&request(Mode::Apply, true, false), without("b"), &ui).unwrap();
    assert!(ui.asked.borrow().is_empty(), "`--yes` asks nobody");
    assert!(gone(&w));
}

#[test]
fn atomic_returns_the_instances_to_where_they_were_and_without_it_the_cluster_is_part_way() {
    let mut w = World::new();
    w.run(&request(Mode::Apply, true, false), with("a", "v0.50.3"), &nobody()).unwrap();
    w.run(&request(Mode::Apply, true, false), with("b", "v0.50.3"), &nobody()).unwrap();
    let before = w.cluster.state.borrow().clone();
    let objects_of = |s: &ClusterState, owner: &str| -> BTreeMap<String, String> {
        s.objects
            .iter()
            .filter(|o| o.owner == owner)
            .map(|o| (format!("{:?}", o.object), o.hash.clone()))
            .collect()
    };
    // The upgrade of a fails when its controller Deployment is written.
    w.cluster.executions.borrow_mut().clear();
    *w.cluster.fail.borrow_mut() = Some(("a".into(), "tekton-pipelines-controller".into()));
    let err =
        w.run(&request(Mode::Apply, true, true), with("a", "v0.56.0"), &nobody()).unwrap_err();
    assert!(err.is::<RolledBack>(), "{err:#}");
    assert!(format!("{err:#}").contains("injected failure"), "the cause is kept: {err:#}");
    assert_eq!(w.cluster.executions.borrow().len(), 2, "the run and its rollback");
    let after = w.cluster.state.borrow().clone();
    assert_eq!(after.instances, before.instances, "both instances are as they were");
    assert_eq!(objects_of(&after, "a"), objects_of(&before, "a"), "a's objects are as they were");
    assert_eq!(objects_of(&after, "b"), objects_of(&before, "b"), "b was never touched");
    // Without `--atomic` the cluster stays part-way, and re-running converges.
    w.cluster.executions.borrow_mut().clear();
    *w.cluster.fail.borrow_mut() = Some(("a".into(), "tekton-pipelines-controller".into()));
    let err =
        w.run(&request(Mode::Apply, true, false), with("a", "v0.56.0"), &nobody()).unwrap_err();
    assert!(err.is::<Incomplete>() && !err.is::<RolledBack>(), "{err:#}");
    assert_eq!(w.cluster.executions.borrow().len(), 1, "no rollback");
    let part_way = w.cluster.state.borrow().clone();
    assert_eq!(w.versions()[0], ("a".into(), "v0.50.3".into()), "its controller was not written");
    assert_ne!(objects_of(&part_way, "a"), objects_of(&before, "a"), "but some objects were");
    *w.cluster.fail.borrow_mut() = None;
    w.run(&request(Mode::Apply, true, false), with("a", "v0.56.0"), &nobody()).unwrap();
    assert_eq!(w.versions()[0], ("a".into(), "v0.56.0".into()));
    let again = w.run(&request(Mode::Plan, true, false), with("a", "v0.56.0"), &nobody()).unwrap();
    assert!(!again.plan.has_changes(), "converged");
}

#[test]
fn a_failed_rollback_says_so_and_keeps_both_causes() {
    let mut w = World::new();
    w.run(&request(Mode::Apply, true, false), with("a", "v0.50.3"), &nobody()).unwrap();
    w.cluster.executions.borrow_mut().clear();
    *w.cluster.fail.borrow_mut() = Some(("a".into(), "tekton-pipelines-controller".into()));
    w.cluster.fail_rollback.set(true);
    let err =
        w.run(&request(Mode::Apply, true, true), with("a", "v0.56.0"), &nobody()).unwrap_err();
    let text = format!("{err:#}");
    assert!(!err.is::<RolledBack>(), "{text}");
    assert!(text.contains("the rollback failed too"), "{text}");
    assert!(text.contains("injected failure at step 1"), "the rollback's cause: {text}");
}

/// Issue "Hardening": a run that fails keeps its own error when releasing the lock fails too; a
/// run that succeeded reports the failed release.
#[test]
fn a_failed_unlock_never_hides_the_runs_error() {
    let mut w = World::new();
    w.run(&request(Mode::Apply, true, false), with("a", "v0.50.3"), &nobody()).unwrap();
    w.cluster.executions.borrow_mut().clear();
    *w.cluster.fail.borrow_mut() = Some(("a".into(), "tekton-pipelines-controller".into()));
    w.cluster.fail_unlock.set(true);
    let err =
        w.run(&request(Mode::Apply, true, false), with("a", "v0.56.0"), &nobody()).unwrap_err();
    let text = format!("{err:#}");
    assert!(text.contains("injected failure at step"), "the run's own error: {text}");
    assert!(!text.contains("injected unlock failure"), "{text}");
    *w.cluster.fail.borrow_mut() = None;
    let err =
        w.run(&request(Mode::Apply, true, false), with("a", "v0.56.0"), &nobody()).unwrap_err();
    let text = format!("{err:#}");
    assert!(text.contains("the run succeeded, but releasing the cluster lock failed"), "{text}");
    assert!(text.contains("injected unlock failure"), "{text}");
}

/// The fleet driver over two fake clusters, `east` and `west`, each wanting `desired`.
fn fleet_run(
    members: &mut [tkn_multi::converge::fleet::Handle<Fake>],
    request: &Request,
    ui: &Person,
) -> Vec<(String, tkn_multi::converge::fleet::ClusterResult)> {
    let files = Files::default();
    let matrix = Matrix::embedded();
    let printer = Printer { quiet: true, ..Printer::default() };
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let out = rt
        .block_on(tkn_multi::converge::fleet::run_all(
            members, &files, &matrix, request, ui, &printer,
        ))
        .unwrap();
    for m in members.iter() {
        assert!(!m.cluster.locked.get(), "{}: the lock is released whatever the outcome", m.name);
    }
    out
}

fn member(name: &str, instances: &[(&str, &str)]) -> tkn_multi::converge::fleet::Handle<Fake> {
    tkn_multi::converge::fleet::Handle {
        name: name.into(),
        cluster: Fake { state: RefCell::new(ClusterState::empty()), ..Fake::default() },
        desired: Desired {
            shared: SharedSpec::default(),
            policy: SharedPolicy::default(),
            image_registry: None,
            instances: instances.iter().map(|(n, v)| instance(n, v)).collect(),
            scope: None,
            certificates: BTreeMap::new(),
        },
        stage: None,
    }
}

fn staged(name: &str, index: usize) -> tkn_multi::fleet::Stage {
    tkn_multi::fleet::Stage {
        name: name.parse().unwrap(),
        index,
        gate: tkn_multi::fleet::Gate::default(),
    }
}

/// Issue "Promotion across clusters": stages roll out in order, whatever the fleet's order of
/// clusters; a stage that fails leaves every later stage untouched (held, not executed).
#[test]
fn stages_roll_out_in_order_and_a_failed_stage_holds_the_later_ones() {
    use tkn_multi::converge::fleet::ClusterResult as R;
    release_dir();
    // prod listed first; dev must run first.
    let mut members = [member("west", &[("b", "v0.56.0")]), member("east", &[("a", "v0.50.3")])];
    members[0].stage = Some(staged("prod", 1));
    members[1].stage = Some(staged("dev", 0));
    // dev fails while executing: prod is held.
    members[1].cluster.fail.replace(Some(("a".into(), "tekton-pipelines-controller".into())));
    let out = fleet_run(&mut members, &request(Mode::Apply, false, false), &nobody());
    assert!(matches!(&out[1].1, R::Failed(_)), "dev failed: {:?}", out[1].1);
    assert!(matches!(&out[0].1, R::Held(_, stage) if stage == "dev"), "{:?}", out[0].1);
    assert!(members[0].cluster.executions.borrow().is_empty(), "prod untouched");
    assert!(members[0].cluster.state.borrow().instances.is_empty());
    // dev's gate: a smoke run in the instance it changed; when it fails, prod is held.
    members[1].cluster.fail.replace(None);
    members[1].stage.as_mut().unwrap().gate.smoke = true;
    members[1].cluster.fail_smoke.set(true);
    let out = fleet_run(&mut members, &request(Mode::Apply, false, false), &nobody());
    assert!(
        matches!(&out[1].1, R::Failed(e) if format!("{e:#}").contains("the gate of stage `dev`: the smoke TaskRun failed")),
        "{:?}",
        out[1].1
    );
    assert!(matches!(&out[0].1, R::Held(_, stage) if stage == "dev"), "{:?}", out[0].1);
    assert_eq!(*members[1].cluster.smokes.borrow(), ["a"]);
    assert!(members[0].cluster.executions.borrow().is_empty(), "prod untouched");
    // Re-run: dev has no change, but its gate guards prod's, so it runs again; it passes, and
    // prod goes on. Once nothing changes anywhere, no smoke run.
    members[1].cluster.fail_smoke.set(false);
    let out = fleet_run(&mut members, &request(Mode::Apply, false, false), &nobody());
    assert!(out.iter().all(|(_, r)| matches!(r, R::Applied(_))), "{out:?}");
    assert_eq!(members[0].cluster.state.borrow().instances[0].name, "b");
    assert_eq!(*members[1].cluster.smokes.borrow(), ["a", "a"]);
    assert!(members[0].cluster.smokes.borrow().is_empty(), "prod has no gate");
    fleet_run(&mut members, &request(Mode::Apply, false, false), &nobody());
    assert_eq!(members[1].cluster.smokes.borrow().len(), 2, "nothing to guard: no run");
}

#[test]
fn an_unreachable_cluster_fails_alone_and_the_others_converge() {
    use tkn_multi::converge::fleet::ClusterResult as R;
    release_dir();
    let mut members = [member("east", &[("a", "v0.50.3")]), member("west", &[("b", "v0.56.0")])];
    members[1].cluster.unreachable.set(true);
    let ui = nobody();
    let out = fleet_run(&mut members, &request(Mode::Apply, false, false), &ui);
    assert_eq!(ui.shown.get(), 2, "both clusters are shown, the failed one with its error");
    assert!(matches!(&out[0].1, R::Applied(o) if o.plan.has_changes()), "{:?}", out[0].1);
    assert!(matches!(&out[1].1, R::Failed(e) if format!("{e:#}").contains("connection refused")));
    assert_eq!(members[0].cluster.state.borrow().instances.len(), 1, "east converged");
    assert!(members[1].cluster.executions.borrow().is_empty());
    // Once west answers, a re-run converges it and leaves east as it is.
    members[1].cluster.unreachable.set(false);
    let out = fleet_run(&mut members, &request(Mode::Apply, false, false), &nobody());
    assert!(matches!(&out[0].1, R::Applied(o) if !o.plan.has_changes()));
    assert!(matches!(&out[1].1, R::Applied(o) if o.plan.has_changes()), "{:?}", out[1].1);
    assert_eq!(members[1].cluster.state.borrow().instances[0].name, "b");
}

#[test]
fn a_refusal_on_one_cluster_applies_nothing_anywhere_and_consent_is_asked_once() {
    use tkn_multi::converge::fleet::ClusterResult as R;
    release_dir();
    let mut members = [member("east", &[("a", "v0.50.3")]), member("west", &[("b", "v0.56.0")])];
    // West may not touch a shared layer it does not have: the planner refuses.
    members[1].desired.policy.mode = tkn_multi::plan::SharedMode::Skip;
    let out = fleet_run(&mut members, &request(Mode::Apply, false, false), &nobody());
    assert!(matches!(&out[0].1, R::NotApplied(_)), "{:?}", out[0].1);
    assert!(matches!(&out[1].1, R::Failed(_)));
    assert!(members.iter().all(|m| m.cluster.executions.borrow().is_empty()), "0 writes");
    // Both install; then both remove: one question, for both clusters' deletions.
    members[1].desired.policy.mode = tkn_multi::plan::SharedMode::Install;
    let out = fleet_run(&mut members, &request(Mode::Apply, false, false), &nobody());
    assert!(out.iter().all(|(_, r)| matches!(r, R::Applied(_))));
    for m in &mut members {
        m.desired.instances.clear();
    }
    let ui = nobody();
    let before: Vec<_> = members.iter().map(|m| m.cluster.state.borrow().clone()).collect();
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let err = rt
        .block_on(tkn_multi::converge::fleet::run_all(
            &mut members,
            &Files::default(),
            &Matrix::embedded(),
            &request(Mode::Apply, false, false),
            &ui,
            &Printer { quiet: true, ..Printer::default() },
        ))
        .unwrap_err();
    assert!(err.to_string().contains("pass `--yes`"), "{err:#}");
    assert_eq!(ui.asked.borrow().len(), 1, "one question for the fleet");
    assert!(members.iter().all(|m| !m.cluster.locked.get()));
    let after: Vec<_> = members.iter().map(|m| m.cluster.state.borrow().clone()).collect();
    assert_eq!(before, after, "nothing ran without consent");
    let out = fleet_run(&mut members, &request(Mode::Apply, true, false), &nobody());
    assert!(out.iter().all(|(_, r)| matches!(r, R::Applied(_))));
    assert!(members.iter().all(|m| m.cluster.state.borrow().instances.is_empty()));
}
