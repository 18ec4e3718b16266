//! The `TektonFleet` status types (kstatus conventions). **Pure.**
use serde::{Deserialize, Serialize};

/// What the operator last saw and did (kstatus conventions).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TektonFleetStatus {
    /// The generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `Reconciling`, `Stalled`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The shared layer, when installed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared: Option<SharedStatus>,
    /// Every instance the fleet manages: those the spec lists, and those it listed that are
    /// not uninstalled yet. This is the operator's record of what it owns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub instances: Vec<InstanceStatus>,
    /// Installed instances this fleet does not manage (the CLI's, another fleet's): left
    /// alone; listing one in the spec adopts it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unmanaged_instances: Vec<String>,
    /// A plan that deletes or replaces objects, waiting for its approval annotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_plan: Option<PendingPlan>,
    /// The counts of the last plan the operator applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_applied: Option<String>,
    /// The upgrade precheck of the instances the current plan moves to another version
    /// (docs/precheck.md): its findings, blockers first. A blocker stalls the fleet
    /// (`PrecheckFailed`) until the plan is approved.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub precheck: Vec<PrecheckFinding>,
}

/// One finding of the upgrade precheck.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrecheckFinding {
    /// The instance that moves.
    pub instance: String,
    /// From which version.
    pub from: String,
    /// To which version.
    pub to: String,
    /// `blocker`, `warning` or `info`.
    pub severity: String,
    /// The rule that found it.
    pub rule: String,
    /// The object, as `Kind/name`, when it is about one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub object: String,
    /// What is wrong.
    pub message: String,
}

/// A destructive plan waiting for approval.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PendingPlan {
    /// The value of the `tkn-multi.tekton.dev/approve-plan` annotation that approves it.
    pub hash: String,
    /// Its counts.
    pub summary: String,
    /// Its deleting and replacing steps (`-` delete, `-/+` replace).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<String>,
    /// How to approve it.
    pub message: String,
}

/// A status condition: metav1's own (`Ready`, `Reconciling`, `Stalled`).
pub use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

/// The shared layer's state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SharedStatus {
    /// Its Tekton version.
    pub version: String,
    /// Its namespace.
    pub namespace: String,
    /// The matrix's verdict on the instances it serves (empty when nothing was planned).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub verdict: String,
    /// The matrix's warnings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<String>,
    /// Storage migrations the layer's version needs (`crd: from → to`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub migrations: Vec<String>,
    /// Versions whose matrix records this operator's build does not ship: derived at run time
    /// from their release files.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub derived_at_run_time: Vec<String>,
}

/// One instance's state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstanceStatus {
    /// Its name.
    pub name: String,
    /// Its namespace.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// The version installed (empty while none is).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// `Ready` (installed at the spec's version, its Deployments Available when last applied),
    /// `Pending` (not yet), `Removing` (no longer listed, not yet uninstalled).
    pub phase: InstancePhase,
}

/// Where an instance of the fleet stands.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema,
)]
pub enum InstancePhase {
    /// Installed at the spec's version, its Deployments Available when last applied.
    Ready,
    /// Not yet.
    #[default]
    Pending,
    /// No longer listed, not yet uninstalled.
    Removing,
}

impl InstancePhase {
    /// Its name, as in the status.
    pub fn as_str(self) -> &'static str {
        match self {
            InstancePhase::Ready => "Ready",
            InstancePhase::Pending => "Pending",
            InstancePhase::Removing => "Removing",
        }
    }
}
