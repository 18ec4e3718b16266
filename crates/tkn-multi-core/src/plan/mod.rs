//! Planning: desired × observed → a DAG of steps, linearised deterministically. **Pure.**
//!
//! Pipeline position: `split` + `matrix` → **`plan`** → `render` (dry run) / `apply`.
//!
//! `plan(&Desired, &ClusterState, &Releases, &Matrix) -> Result<Plan, Error>`:
//! 1. validate the fleet (unique names, no namespace claimed twice);
//! 2. choose the shared layer with the matrix and the shared policy (incompatible requests fail
//!    here, before any step exists);
//! 3. render the desired objects of the shared layer and of every instance in scope;
//! 4. diff them against the observed objects: create, update, replace (an immutable field
//!    changed), delete (observed, owned by an owner in scope, no longer desired); shared CRDs
//!    are never deleted while an instance or a Tekton object remains;
//! 5. add waits and stored-version migrations, connect everything by the ordering rules of
//!    [`graph`], and linearise.
//!
//! Ordering rules: [`order::Order`] (each edge in the graph names one; docs/architecture.md
//! lists them, generated from the enum).

pub mod fleet;
pub mod graph;
pub mod order;
pub mod overrides;
pub mod state;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::matrix::Matrix;
use crate::matrix::check::{self, Request, SharedLayer};
use crate::names::SHARED_OWNER;
use crate::release::{Object, ObjectRef, Release, TektonVersion};
use crate::split::{self, InstanceSpec, SharedSpec};
use crate::tls::NewCa;
use state::{ClusterState, ObservedInstance};

/// Layout version of the machine-readable plan.
pub const PLAN_FORMAT_VERSION: &str = "1";

/// Whether tkn-multi may touch the shared layer at all.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum SharedMode {
    /// Install or change the shared layer as needed.
    #[default]
    Install,
    /// Never touch it; fail when what exists cannot serve the instances.
    Skip,
}

/// When the shared layer's version changes.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum UpdateShared {
    /// Only upward, and only when an instance needs it.
    #[default]
    IfOlder,
    /// Never change an installed layer (install one when there is none).
    Never,
    /// Follow the newest instance, up or down (a downgrade must be safe by the matrix).
    Always,
}

/// The shared-layer policy (TEP-0129's operator options).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SharedPolicy {
    /// `--shared`.
    #[serde(default)]
    pub mode: SharedMode,
    /// `--update-shared`.
    #[serde(default)]
    pub update: UpdateShared,
    /// `--keep-shared`: keep the shared layer when the last instance goes.
    #[serde(default)]
    pub keep_on_uninstall: bool,
    /// `--downgrade-shared`: lower the shared layer to what the remaining instances need.
    #[serde(default)]
    pub downgrade: bool,
    /// `--accept-broken-workloads`: move the shared layer to a version the compatibility lab's
    /// evidence shows breaking an instance's workloads.
    #[serde(default)]
    pub accept_broken_workloads: bool,
}

/// One desired instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredInstance {
    /// Names and namespaces.
    pub spec: InstanceSpec,
    /// Its Tekton version.
    pub version: TektonVersion,
    /// `ConfigMap` keys to override, by `ConfigMap` name (`feature-flags`, `config-defaults`, …).
    pub config: BTreeMap<String, BTreeMap<String, String>>,
    /// Image relocation and Deployment settings.
    pub overrides: overrides::Overrides,
}

/// What the cluster should look like, and which owners the plan may change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    /// The shared namespace.
    pub shared: SharedSpec,
    /// The shared-layer policy.
    pub policy: SharedPolicy,
    /// The registry the shared layer's images are relocated to.
    pub image_registry: Option<overrides::ImageRegistry>,
    /// Every instance that should exist (observed ones outside `scope` included).
    pub instances: Vec<DesiredInstance>,
    /// Instances whose objects the plan may create, change or delete; `None` means all (a fleet
    /// file). The shared layer is in scope unless the policy skips it.
    pub scope: Option<BTreeSet<String>>,
    /// Instances (before v0.44) whose webhook certificate is to be written, and why; filled by
    /// the driver from the observation.
    pub certificates: BTreeMap<String, CertificateWork>,
}

/// Why an instance's webhook certificate is written, and the CA made for it if there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateWork {
    /// Why (shown in the plan).
    pub reason: String,
    /// A CA generated for this run, stored by the certificate step.
    pub new_ca: Option<NewCa>,
    /// The validity the step's certificates will have (the shell knows the clock), recorded in
    /// the state a plan leaves (`--save-state`).
    pub dates: Option<CertificateDates>,
}

/// The `notAfter` dates (RFC 3339) of an instance's CA and serving certificate once written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateDates {
    /// The CA's.
    pub ca_not_after: String,
    /// The serving certificate's.
    pub serving_not_after: String,
}

/// The releases the planner may render, by version (loaded by the shell).
pub type Releases = BTreeMap<TektonVersion, Release>;

/// What a step does to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Action {
    /// `+`
    Create,
    /// `~`
    Update,
    /// `-/+`: delete and create, because an immutable field changed.
    Replace,
    /// `-`
    Delete,
}

impl Action {
    /// The plan mark.
    pub fn mark(self) -> &'static str {
        match self {
            Action::Create => "+",
            Action::Update => "~",
            Action::Replace => "-/+",
            Action::Delete => "-",
        }
    }
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "type")]
pub enum StepKind {
    /// Server-side apply (or delete) one object.
    Object {
        /// What to do.
        action: Action,
        /// The object.
        object: ObjectRef,
        /// `shared` or the instance.
        owner: String,
        /// Why (for updates and replaces).
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// Hash of the desired content (empty for deletes).
        #[serde(skip)]
        hash: String,
        /// Hash of its immutable fields (empty for deletes).
        #[serde(skip)]
        immutable_hash: String,
        /// The object must never be deleted by tkn-multi.
        #[serde(skip)]
        retain: bool,
    },
    /// Wait until a CRD is Established.
    WaitEstablished {
        /// The CRD.
        crd: String,
    },
    /// Wait until a Deployment is Available.
    WaitAvailable {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// Its owner.
        owner: String,
    },
    /// Write the webhook certificate of an instance before v0.44 (its CA Secret and
    /// `webhook-certs`), which tkn-multi owns because knative cannot reconcile it.
    Certificate {
        /// The control-plane namespace.
        namespace: String,
        /// The instance.
        owner: String,
        /// Why.
        reason: String,
        /// A CA made for this run (not serialised).
        #[serde(skip)]
        new_ca: Option<NewCa>,
        /// The dates the certificates will have (not serialised).
        #[serde(skip)]
        dates: Option<CertificateDates>,
    },
    /// Rewrite every object of a CRD at the new storage version and set `storedVersions`.
    MigrateStoredVersions {
        /// The CRD.
        crd: String,
        /// Stored versions before.
        from: Vec<String>,
        /// The storage version after.
        to: String,
    },
}

impl StepKind {
    /// The owner the step belongs to, for grouping (`shared` for CRD-level steps).
    pub fn owner(&self) -> &str {
        match self {
            StepKind::Object { owner, .. }
            | StepKind::WaitAvailable { owner, .. }
            | StepKind::Certificate { owner, .. } => owner,
            StepKind::WaitEstablished { .. } | StepKind::MigrateStoredVersions { .. } => {
                SHARED_OWNER
            }
        }
    }
}

/// A step with its position and dependencies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    /// Position in execution order.
    pub index: usize,
    /// What it does.
    #[serde(flatten)]
    pub kind: StepKind,
    /// Indices of the steps that must finish first, with the rule that orders them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<Dependency>,
}

/// An ordering edge.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Dependency {
    /// The step that must finish first.
    pub step: usize,
    /// The ordering rule.
    pub rule: order::Order,
}

/// The desired objects, with their content, by identity.
pub type ObjectsByRef = BTreeMap<ObjectRef, (String, Object)>;

/// What the cluster records after the plan: the `--state` of the next plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetState {
    /// The shared layer after the plan.
    pub shared: Option<TargetShared>,
    /// Every instance after the plan.
    pub instances: Vec<ObservedInstance>,
}

/// The shared layer after the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetShared {
    /// Its version.
    pub version: TektonVersion,
    /// Its namespace.
    pub namespace: String,
    /// CRD name → storage version.
    pub crds: BTreeMap<String, String>,
}

/// A plan: steps in execution order, the matrix's verdict, and the target state.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// Layout version of this document.
    pub format_version: &'static str,
    /// The shared layer the plan converges to (and its warnings), when in scope.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared_layer: Option<SharedLayer>,
    /// Steps, in execution order.
    pub steps: Vec<Step>,
    /// Desired objects per step index (for the executor; not serialised).
    #[serde(skip)]
    pub manifests: BTreeMap<usize, Object>,
    /// The state after the plan.
    pub target: TargetState,
    /// What the plan leaves undone on purpose, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Counts.
    pub summary: Summary,
}

/// Step counts for the summary line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// `+`
    pub create: usize,
    /// `~`
    pub update: usize,
    /// `-/+`
    pub replace: usize,
    /// `-`
    pub delete: usize,
    /// Migrations.
    pub migrate: usize,
    /// Certificates written.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub certificates: usize,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Plan {
    /// Whether the plan changes anything.
    pub fn has_changes(&self) -> bool {
        let s = self.summary;
        s.create + s.update + s.replace + s.delete + s.migrate + s.certificates > 0
    }
}

/// Namespaces that belong to Kubernetes, to a single-tenant Tekton install or to Flux: never an
/// instance's, never the shared layer's (an uninstall would delete them).
pub const RESERVED_NAMESPACES: &[&str] = &[
    "default",
    "kube-system",
    "kube-public",
    "kube-node-lease",
    "tekton-pipelines",
    "tekton-pipelines-resolvers",
    "flux-system",
];

/// A desired state the planner refuses, before any step exists.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A reserved namespace asked for.
    #[error(
        "namespace `{namespace}` ({role} of `{owner}`) is reserved: tkn-multi never installs into \
         `default`, `kube-*`, `tekton-pipelines*` or `flux-system`, whose removal would break the cluster"
    )]
    ReservedNamespace {
        /// The namespace.
        namespace: String,
        /// What it would be.
        role: &'static str,
        /// The instance, or `shared`.
        owner: String,
    },
    /// A Deployment setting Kubernetes would refuse.
    #[error("instance `{instance}`, Deployment `{deployment}`: {why}")]
    InvalidOverride {
        /// The instance.
        instance: String,
        /// The Deployment.
        deployment: String,
        /// What is wrong.
        why: String,
    },
    /// A name that grows past Kubernetes' limits once tkn-multi derives its names from it.
    #[error("{0}")]
    NameTooLong(String),
    /// The observation (a live cluster or a `--state` file) is not one tkn-multi could have made.
    #[error("the observed state is not valid: {0}")]
    InvalidObservation(String),
    /// The shared layer is installed in another namespace than the one asked for.
    #[error(
        "the shared layer is installed in namespace `{installed}`, not `{asked}`: moving it would \
         delete its CRDs and every Tekton object; ask for `{installed}` (--shared-namespace, or \
         `shared.namespace` in a fleet file)"
    )]
    SharedNamespaceMoved {
        /// Where it is.
        installed: String,
        /// Where it was asked for.
        asked: String,
    },
    /// Two instances with one name.
    #[error("instance `{0}` is listed twice")]
    DuplicateInstance(String),
    /// A namespace claimed by two instances (or by an instance and the shared part).
    #[error("namespace `{namespace}` is claimed by both `{first}` and `{second}`")]
    NamespaceConflict {
        /// The namespace.
        namespace: String,
        /// One claimant.
        first: String,
        /// The other.
        second: String,
    },
    /// The matrix found no shared layer.
    #[error("the requested instances cannot share one layer")]
    Incompatible(#[source] check::Error),
    /// `--shared=skip` (or `--update-shared=never`) and the installed layer cannot serve.
    #[error(
        "the shared layer {current} cannot serve {needed} and the policy forbids changing it ({policy})"
    )]
    SharedLocked {
        /// Installed.
        current: TektonVersion,
        /// Needed.
        needed: TektonVersion,
        /// Which option.
        policy: &'static str,
    },
    /// `--shared=skip` with no shared layer installed.
    #[error("`--shared=skip` but no shared layer is installed")]
    NoShared,
    /// The planner needs release `{0}` and was not given it: the signal by which the driver
    /// loads releases lazily (`converge` loads it and plans again).
    #[error("release {0} is needed and was not loaded")]
    MissingRelease(TektonVersion),
    /// A `config:` entry names a `ConfigMap` the instance's release does not have.
    #[error(
        "instance `{instance}` sets keys of ConfigMap `{configmap}`, which Tekton Pipelines {version} does not have (it has {known})"
    )]
    UnknownConfigMap {
        /// The instance.
        instance: String,
        /// The name given.
        configmap: String,
        /// The instance's version.
        version: TektonVersion,
        /// The `ConfigMap`s it has.
        known: String,
    },
    /// An override names a Deployment the instance's release does not have.
    #[error(
        "instance `{instance}` overrides Deployment `{deployment}`, which Tekton Pipelines {version} does not have (it has {known})"
    )]
    UnknownDeployment {
        /// The instance.
        instance: String,
        /// The name overridden.
        deployment: String,
        /// The instance's version.
        version: TektonVersion,
        /// The Deployments it has.
        known: String,
    },
}

/// The hash of an object's content, and of its immutable fields.
pub fn hashes(o: &Object) -> (String, String) {
    let h = |v: &Value| {
        hex::encode(Sha256::digest(serde_json::to_vec(v).expect("JSON values serialise")))
    };
    let immutable: Vec<Value> =
        ["/spec/selector", "/roleRef", "/spec/scope", "/spec/names/kind", "/spec/group"]
            .iter()
            .filter_map(|p| o.pointer(p).cloned())
            .collect();
    (h(&o.to_value()), h(&Value::Array(immutable)))
}

/// Plans `desired` against `observed`.
pub fn plan(
    desired: &Desired,
    observed: &ClusterState,
    releases: &Releases,
    matrix: &Matrix,
) -> Result<Plan, Error> {
    let Wanted { shared_layer, notes, remaining, keep_shared, objects: wanted, target } =
        wanted(desired, observed, releases, matrix)?;
    let in_scope = |owner: &str| match &desired.scope {
        _ if owner == SHARED_OWNER && keep_shared => false,
        None => true,
        Some(s) if owner == SHARED_OWNER => {
            desired.policy.mode == SharedMode::Install
                && (s.contains(owner) || shared_layer.is_some())
        }
        Some(s) => s.contains(owner),
    };
    let crds_protected =
        !target.instances.is_empty() || desired.policy.keep_on_uninstall || !remaining.is_empty();
    let mut g = graph::build(
        &wanted,
        observed,
        &in_scope,
        crds_protected,
        shared_layer.as_ref(),
        observed.shared.as_ref(),
    );
    graph::add_certificates(&mut g, desired, &in_scope);
    let mut plan = graph::linearise(&g, shared_layer, target);
    plan.notes = notes;
    Ok(plan)
}

/// How the notes that keep the installed shared layer begin (the operator reports them).
pub const SHARED_STAYS: &str = "the shared layer stays";

/// What a plan is made from: the desired objects of every owner, the shared layer chosen, and
/// what keeps the shared layer when no instance needs it.
#[derive(Debug)]
pub struct Wanted {
    /// The shared layer the instances need, if any.
    pub shared_layer: Option<SharedLayer>,
    /// The planner's notes.
    pub notes: Vec<String>,
    /// Tekton objects that remain (`<count> <crd>`), which keep the shared CRDs.
    pub remaining: Vec<String>,
    /// The installed shared layer stays although no instance needs it.
    pub keep_shared: bool,
    /// Every desired object, with its owner.
    pub objects: ObjectsByRef,
    /// The state after the plan.
    pub target: TargetState,
}

/// The desired objects of `desired` against `observed` (what [`plan`] diffs), with the shared
/// layer the matrix chose.
///
/// # Errors
/// As [`plan`].
pub fn wanted(
    desired: &Desired,
    observed: &ClusterState,
    releases: &Releases,
    matrix: &Matrix,
) -> Result<Wanted, Error> {
    validate(desired, observed)?;
    let mut notes = Vec::new();
    // A version this build ships no record of (newer than the oldest it ships) is judged by the
    // record of its own release file, derived here as `matrix generate` would, and marked so in
    // the layer.
    let current = observed.shared.iter().map(|s| &s.version);
    let judged = desired.instances.iter().map(|i| &i.version).chain(current);
    // Older than every shipped release: below the supported floor, the matrix refuses it.
    let floor = matrix.releases.keys().next();
    for v in judged.take_while(|_| !desired.instances.is_empty()) {
        if matrix.release(v).is_none() && !releases.contains_key(v) && floor.is_some_and(|f| v > f)
        {
            return Err(Error::MissingRelease(v.clone()));
        }
    }
    let matrix = matrix.completed(releases.values());
    let shared_layer = choose_shared(desired, observed, &matrix, &mut notes)?;
    notes.extend(desired.instances.iter().filter_map(shared_only_config));
    notes.extend(shared_cluster_tasks(desired, observed));
    // Tekton objects outlive the last instance: their CRDs, and the conversion webhook that
    // reads them, stay until they are gone.
    let remaining: Vec<String> = observed
        .shared
        .iter()
        .flat_map(|s| &s.crds)
        .filter(|c| c.objects > 0)
        .map(|c| format!("{} {}", c.objects, c.name))
        .collect();
    if shared_layer.is_none() && !remaining.is_empty() && !desired.policy.keep_on_uninstall {
        notes.push(format!(
            "{SHARED_STAYS}: Tekton objects remain ({}); it is removed once they are gone",
            remaining.join(", ")
        ));
    }
    // No instance needs a layer, yet the installed one stays.
    let keep_shared =
        shared_layer.is_none() && (desired.policy.keep_on_uninstall || !remaining.is_empty());
    let (wanted, target) =
        desired_objects(desired, observed, releases, shared_layer.as_ref(), keep_shared)?;
    Ok(Wanted { shared_layer, notes, remaining, keep_shared, objects: wanted, target })
}

/// `ClusterTasks` are cluster-scoped, so every instance that reads them (before v1.0) reads the
/// same objects, and the API server ignores namespace selectors for them: the webhooks whose
/// rules knative writes (from v0.44) admit every `ClusterTask` in the cluster; tkn-multi writes
/// the rules of older ones without cluster-scoped kinds, so they admit none. Said once two or
/// more instances read `ClusterTasks` and this plan adds one (docs/compat-matrix.md,
/// "`ClusterTasks`").
fn shared_cluster_tasks(desired: &Desired, observed: &ClusterState) -> Option<String> {
    let readers: Vec<&DesiredInstance> =
        desired.instances.iter().filter(|i| !i.version.at_least(1, 0, 0)).collect();
    let joins = |i: &&DesiredInstance| {
        !observed
            .instances
            .iter()
            .any(|o| o.name == i.spec.name.as_str() && !o.version.at_least(1, 0, 0))
    };
    if readers.len() < 2 || !readers.iter().any(joins) {
        return None;
    }
    let names = |is: &[&DesiredInstance]| {
        is.iter().map(|i| format!("{} ({})", i.spec.name, i.version)).collect::<Vec<_>>().join(", ")
    };
    let admitting: Vec<&DesiredInstance> =
        readers.iter().copied().filter(|i| i.version.at_least(0, 44, 0)).collect();
    let admission = if admitting.is_empty() {
        "no instance webhook admits them (tkn-multi leaves cluster-scoped kinds out of the rules \
         it writes before v0.44)"
            .to_owned()
    } else {
        let older = readers.len() > admitting.len();
        format!(
            "every ClusterTask is admitted by the webhooks of {} (knative writes their rules and \
             namespace selectors do not apply to cluster-scoped objects){}",
            names(&admitting),
            if older { ", none by an older instance's webhook" } else { "" }
        )
    };
    Some(format!(
        "ClusterTasks are cluster-scoped: {} share one set of ClusterTask names (a second \
         `kubectl create` of the same name is refused; a `taskRef` of kind ClusterTask reads the \
         same object in every instance); {admission}",
        names(&readers)
    ))
}

/// From v1.12 an instance's controller sends no `CloudEvents`: the events controller, which runs
/// once in the shared layer, sends them for every run in the cluster from the shared
/// `config-events` and `feature-flags`. An instance's own settings of them change nothing.
fn shared_only_config(i: &DesiredInstance) -> Option<String> {
    if !i.version.at_least(1, 12, 0) {
        return None;
    }
    let mut keys = Vec::new();
    if i.config.contains_key("config-events") {
        keys.push("`config-events`".to_owned());
    }
    if i.config.get("feature-flags").is_some_and(|f| f.contains_key("send-cloudevents-for-runs")) {
        keys.push("`feature-flags: send-cloudevents-for-runs`".to_owned());
    }
    (!keys.is_empty()).then(|| {
        format!(
            "instance `{}` ({}): {} has no effect: from v1.12 the shared events controller sends \
             every run's CloudEvents, from the shared layer's ConfigMaps",
            i.spec.name,
            i.version,
            keys.join(" and ")
        )
    })
}

/// The checks [`plan`] makes of a desired state before it looks at a cluster: no instance
/// listed twice, no namespace claimed twice.
///
/// # Errors
/// The first conflict.
pub fn check_desired(desired: &Desired) -> Result<(), Error> {
    validate(desired, &ClusterState::empty())
}

fn validate(desired: &Desired, observed: &ClusterState) -> Result<(), Error> {
    let mut names = BTreeSet::new();
    let mut claims: BTreeMap<String, String> = BTreeMap::new();
    let mut claim = |ns: &str, who: &str| -> Result<(), Error> {
        match claims.get(ns) {
            Some(first) if first != who => Err(Error::NamespaceConflict {
                namespace: ns.to_owned(),
                first: first.clone(),
                second: who.to_owned(),
            }),
            _ => {
                claims.insert(ns.to_owned(), who.to_owned());
                Ok(())
            }
        }
    };
    check_observation(observed)?;
    let reserved = |ns: &str, role: &'static str, owner: &str| {
        if RESERVED_NAMESPACES.contains(&ns) {
            Err(Error::ReservedNamespace {
                namespace: ns.to_owned(),
                role,
                owner: owner.to_owned(),
            })
        } else {
            Ok(())
        }
    };
    reserved(desired.shared.namespace.as_str(), "the namespace", SHARED_OWNER)?;
    if let Some(s) = &observed.shared
        && s.namespace != desired.shared.namespace.as_str()
        && !desired.instances.is_empty()
    {
        return Err(Error::SharedNamespaceMoved {
            installed: s.namespace.clone(),
            asked: desired.shared.namespace.to_string(),
        });
    }
    if desired.shared.resolvers_namespace().len() > 63 {
        return Err(Error::NameTooLong(format!(
            "the shared namespace `{}` leaves no room for its `-resolvers` namespace (63 characters at most)",
            desired.shared.namespace
        )));
    }
    for i in &desired.instances {
        let owner = i.spec.name.as_str();
        for (deployment, d) in &i.overrides.deployments {
            if let Some(why) = d.problem() {
                return Err(Error::InvalidOverride {
                    instance: owner.to_owned(),
                    deployment: deployment.clone(),
                    why,
                });
            }
        }
        reserved(i.spec.namespace.as_str(), "the watched namespace", owner)?;
        reserved(i.spec.control_plane_namespace.as_str(), "the control-plane namespace", owner)?;
    }
    claim(desired.shared.namespace.as_str(), SHARED_OWNER)?;
    claim(&desired.shared.resolvers_namespace(), SHARED_OWNER)?;
    for i in &desired.instances {
        if !names.insert(i.spec.name.to_string()) {
            return Err(Error::DuplicateInstance(i.spec.name.to_string()));
        }
        claim(i.spec.namespace.as_str(), i.spec.name.as_str())?;
        claim(i.spec.control_plane_namespace.as_str(), i.spec.name.as_str())?;
    }
    // Installed instances not in the desired set still hold their namespaces unless the plan
    // removes them (a fleet file in full scope).
    if desired.scope.is_some() {
        for o in &observed.instances {
            if !names.contains(&o.name) {
                claim(&o.namespace, &o.name)?;
                claim(&o.control_plane_namespace, &o.name)?;
            }
        }
    }
    Ok(())
}

/// What every command's observation must be (a live cluster's, or a `--state` file's): valid,
/// unique instance names; valid namespace names, none reserved, none claimed twice.
///
/// # Errors
/// The first problem, as [`Error::InvalidObservation`].
pub fn check_observation(observed: &ClusterState) -> Result<(), Error> {
    let bad = |why: String| Err(Error::InvalidObservation(why));
    let mut names = BTreeSet::new();
    let mut claims: BTreeMap<&str, &str> = BTreeMap::new();
    if let Some(s) = &observed.shared {
        if s.namespace.parse::<crate::names::NamespaceName>().is_err() {
            return bad(format!(
                "the shared namespace `{}` is not a namespace name",
                crate::render::escape(&s.namespace)
            ));
        }
        if RESERVED_NAMESPACES.contains(&s.namespace.as_str()) {
            return bad(format!("the shared layer is in the reserved namespace `{}`", s.namespace));
        }
        claims.insert(&s.namespace, SHARED_OWNER);
    }
    for i in &observed.instances {
        if let Err(e) = i.name.parse::<crate::names::InstanceName>() {
            return bad(crate::render::escape(&e.to_string()));
        }
        if !names.insert(i.name.as_str()) {
            return bad(format!("instance `{}` appears twice", i.name));
        }
        for ns in [&i.namespace, &i.control_plane_namespace] {
            if let Err(e) = ns.parse::<crate::names::NamespaceName>() {
                return bad(format!(
                    "instance `{}`: {}",
                    i.name,
                    crate::render::escape(&e.to_string())
                ));
            }
            if RESERVED_NAMESPACES.contains(&ns.as_str()) {
                return bad(format!("instance `{}` is in the reserved namespace `{ns}`", i.name));
            }
            match claims.insert(ns, &i.name) {
                Some(other) if other != i.name => {
                    return bad(format!(
                        "namespace `{ns}` is claimed by both `{other}` and `{}`",
                        i.name
                    ));
                }
                _ => {}
            }
        }
    }
    Ok(())
}

fn choose_shared(
    desired: &Desired,
    observed: &ClusterState,
    matrix: &Matrix,
    notes: &mut Vec<String>,
) -> Result<Option<SharedLayer>, Error> {
    let current = observed.shared.as_ref().map(|s| s.version.clone());
    let versions: Vec<TektonVersion> =
        desired.instances.iter().map(|i| i.version.clone()).collect();
    if versions.is_empty() {
        return Ok(None);
    }
    let policy = &desired.policy;
    let lock = match (policy.mode, policy.update) {
        (SharedMode::Skip, _) => Some("--shared=skip"),
        (SharedMode::Install, UpdateShared::Never) if current.is_some() => {
            Some("--update-shared=never")
        }
        _ => None,
    };
    if policy.mode == SharedMode::Skip && current.is_none() {
        return Err(Error::NoShared);
    }
    let req = Request {
        instances: versions,
        current_shared: current.clone(),
        allow_downgrade: policy.downgrade || policy.update == UpdateShared::Always,
        running: if current.is_some() {
            observed.instances.iter().map(|i| i.version.clone()).collect()
        } else {
            Vec::new()
        },
        accept_broken_workloads: policy.accept_broken_workloads,
    };
    let layer = match check::check(matrix, &req) {
        // A downgrade is only made when safe: otherwise the installed layer stays, and says why.
        Err(check::Error::Incompatible { problems, .. })
            if req.allow_downgrade
                && current.as_ref().is_some_and(|c| Some(c) > req.instances.iter().max()) =>
        {
            let kept = Request { allow_downgrade: false, ..req.clone() };
            let layer = check::check(matrix, &kept).map_err(Error::Incompatible)?;
            notes.push(format!(
                "{SHARED_STAYS} at {}: lowering it is not safe ({})",
                layer.version,
                problems.join("; ")
            ));
            layer
        }
        other => other.map_err(Error::Incompatible)?,
    };
    if let (Some(policy_name), Some(cur)) = (lock, &current)
        && &layer.version != cur
    {
        // The installed layer must serve as it is.
        let pinned = Request { allow_downgrade: false, ..req };
        let served = check::check(matrix, &pinned).map_err(Error::Incompatible)?;
        if &served.version != cur {
            return Err(Error::SharedLocked {
                current: cur.clone(),
                needed: layer.version,
                policy: policy_name,
            });
        }
        return Ok(Some(served));
    }
    Ok(Some(layer))
}

fn release<'a>(releases: &'a Releases, v: &TektonVersion) -> Result<&'a Release, Error> {
    releases.get(v).ok_or_else(|| Error::MissingRelease(v.clone()))
}

fn desired_objects(
    desired: &Desired,
    observed: &ClusterState,
    releases: &Releases,
    layer: Option<&SharedLayer>,
    keep_shared: bool,
) -> Result<(ObjectsByRef, TargetState), Error> {
    let mut wanted: ObjectsByRef = BTreeMap::new();
    let mut add = |owner: &str, o: Object| {
        wanted.insert(o.object_ref(), (owner.to_owned(), o));
    };
    let mut target_shared = None;
    if let Some(layer) = layer {
        let base = release(releases, &layer.version)?;
        let relocation = overrides::Overrides::registry(desired.image_registry.clone());
        for mut o in split::shared_part(base, &desired.shared) {
            relocation.apply(&mut o);
            add(SHARED_OWNER, o);
        }
        // Legacy CRDs come from the release that last shipped them, as single-version CRDs.
        for c in layer.crds.iter().filter(|c| matches!(c.source, check::CrdSource::Legacy { .. })) {
            let r = release(releases, &c.from)?;
            let mut crd = split::shared_part(r, &desired.shared)
                .into_iter()
                .find(|o| o.kind() == "CustomResourceDefinition" && o.name() == c.crd.name)
                .ok_or_else(|| Error::MissingRelease(c.from.clone()))?;
            if c.crd.conversion == crate::matrix::Conversion::None {
                // Explicitly `None`, not absent: the CRD may be converting by webhook today.
                crd.as_map_mut().get_mut("spec").and_then(Value::as_object_mut).map(|s| {
                    s.insert("conversion".into(), serde_json::json!({"strategy": "None"}))
                });
            }
            add(SHARED_OWNER, crd);
        }
        target_shared = Some(TargetShared {
            version: layer.version.clone(),
            namespace: desired.shared.namespace.to_string(),
            crds: layer.crds.iter().map(|c| (c.crd.name.clone(), c.crd.storage.clone())).collect(),
        });
    } else if keep_shared || desired.policy.mode == SharedMode::Skip {
        target_shared = observed.shared.as_ref().map(|s| TargetShared {
            version: s.version.clone(),
            namespace: s.namespace.clone(),
            crds: s
                .crds
                .iter()
                .map(|c| (c.name.clone(), c.stored_versions.last().cloned().unwrap_or_default()))
                .collect(),
        });
    }
    let mut instances = Vec::new();
    for i in &desired.instances {
        let r = release(releases, &i.version)?;
        let objects = split::instance_part(r, &i.spec, &desired.shared).map_err(|_| {
            Error::NamespaceConflict {
                namespace: desired.shared.namespace.to_string(),
                first: SHARED_OWNER.into(),
                second: i.spec.name.to_string(),
            }
        })?;
        let deployments: Vec<&str> =
            objects.iter().filter(|o| o.kind() == "Deployment").map(Object::name).collect();
        if let Some(unknown) =
            i.overrides.deployments.keys().find(|d| !deployments.contains(&d.as_str()))
        {
            return Err(Error::UnknownDeployment {
                instance: i.spec.name.to_string(),
                deployment: unknown.clone(),
                version: i.version.clone(),
                known: deployments.iter().map(|d| format!("`{d}`")).collect::<Vec<_>>().join(", "),
            });
        }
        let configmaps: Vec<&str> =
            objects.iter().filter(|o| o.kind() == "ConfigMap").map(Object::name).collect();
        if let Some(unknown) = i.config.keys().find(|c| !configmaps.contains(&c.as_str())) {
            return Err(Error::UnknownConfigMap {
                instance: i.spec.name.to_string(),
                configmap: unknown.clone(),
                version: i.version.clone(),
                known: configmaps.iter().map(|d| format!("`{d}`")).collect::<Vec<_>>().join(", "),
            });
        }
        for mut o in objects {
            apply_config(&mut o, &i.config);
            i.overrides.apply(&mut o);
            add(i.spec.name.as_str(), o);
        }
        instances.push(ObservedInstance {
            name: i.spec.name.to_string(),
            version: i.version.clone(),
            namespace: i.spec.namespace.to_string(),
            control_plane_namespace: i.spec.control_plane_namespace.to_string(),
            admission: None,
        });
    }
    instances.sort_by(|a, b| a.name.cmp(&b.name));
    if let Some(layer) = layer {
        let legacy: Vec<&str> = layer
            .crds
            .iter()
            .filter(|c| {
                matches!(c.source, check::CrdSource::Legacy { .. }) && c.crd.group == "tekton.dev"
            })
            .map(|c| c.crd.plural.as_str())
            .collect();
        extend_aggregate_roles(&mut wanted, &legacy);
    }
    Ok((wanted, TargetState { shared: target_shared, instances }))
}

/// Lets the built-in `edit`/`view` roles reach the legacy CRDs older instances still use: their
/// users create `PipelineResources` or `Runs` under a shared layer whose own aggregated roles no
/// longer list them.
fn extend_aggregate_roles(wanted: &mut ObjectsByRef, legacy_plurals: &[&str]) {
    if legacy_plurals.is_empty() {
        return;
    }
    for (r, (_, o)) in wanted.iter_mut() {
        if r.kind != "ClusterRole" || !r.name.starts_with("tekton-aggregate-") {
            continue;
        }
        let Some(Value::Array(rules)) = o.pointer_mut("/rules") else { continue };
        let Some(Value::Array(resources)) = rules
            .iter_mut()
            .find(|rule| {
                rule["apiGroups"].as_array().is_some_and(|g| g.iter().any(|g| g == "tekton.dev"))
            })
            .and_then(|rule| rule.get_mut("resources"))
        else {
            continue;
        };
        for p in legacy_plurals {
            if !resources.iter().any(|x| x == p) {
                resources.push(Value::String((*p).to_owned()));
            }
        }
    }
}

/// Overrides `ConfigMap` keys of an instance (`feature-flags`, `config-defaults`, …).
fn apply_config(o: &mut Object, config: &BTreeMap<String, BTreeMap<String, String>>) {
    if o.kind() != "ConfigMap" {
        return;
    }
    let Some(keys) = config.get(o.name()) else { return };
    let data = crate::release::model::ensure_object(o.as_map_mut(), "data");
    for (k, v) in keys {
        data.insert(k.clone(), Value::String(v.clone()));
    }
}

/// Every one of these is about the request or its input.
impl crate::fault::Classify for Error {
    fn class(&self) -> crate::fault::Class {
        crate::fault::Class::User
    }
}
