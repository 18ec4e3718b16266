//! The plan's vocabulary: [`Plan`], its [`Step`]s and what they do ([`StepKind`], [`Action`]),
//! the edges between them ([`Dependency`]) and the state a plan leaves ([`TargetState`]). **Pure.**

use std::collections::BTreeMap;

use serde::Serialize;

use super::order;
use super::state::ObservedInstance;
use crate::matrix::check::SharedLayer;
use crate::names::SHARED_OWNER;
use crate::release::{Object, ObjectRef, Release, TektonVersion};
use crate::tls::CertificateDates;
use crate::tls::NewCa;

/// Layout version of the machine-readable plan.
pub const PLAN_FORMAT_VERSION: &str = "1";

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
    /// Why the installed shared layer stays although no instance needs it (Tekton objects
    /// remain), when it does: one of the notes, typed for the operator's event.
    #[serde(skip)]
    pub shared_kept: Option<String>,
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
