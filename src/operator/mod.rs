//! Operator mode: the `TektonFleet` resource, whose spec is a one-cluster fleet file's body
//! ([`FleetSpec`]: one schema, one validation). The CRD is generated from these types
//! (`tkn-multi operator crd`, committed as `manifests/crd.yaml` and drift-tested).
//!
//! The reconciler that drives it with the shared driver is not built yet (see issue 15's note).

use kube::CustomResource;
use serde::{Deserialize, Serialize};

use crate::plan::fleet::FleetSpec;

/// A fleet of Tekton instances in this cluster, reconciled by `tkn-multi operator`.
#[derive(CustomResource, Debug, Clone, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[kube(
    group = "tkn-multi.tekton.dev",
    version = "v1alpha1",
    kind = "TektonFleet",
    plural = "tektonfleets",
    shortname = "tkf",
    status = "TektonFleetStatus",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Shared","type":"string","jsonPath":".status.shared.version"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct TektonFleetSpec {
    /// The fleet: the shared-layer policy and every instance, as in a v1alpha1 fleet file.
    #[serde(flatten)]
    pub fleet: FleetSpec,
}

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
    /// Every instance, installed or pending.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub instances: Vec<InstanceStatus>,
}

/// A status condition (`metav1.Condition`'s fields).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// `Ready`, `Reconciling` or `Stalled`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// A CamelCase reason.
    pub reason: String,
    /// What happened, for people.
    pub message: String,
    /// The generation the condition was set for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// RFC 3339.
    pub last_transition_time: String,
}

/// The shared layer's state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SharedStatus {
    /// Its Tekton version.
    pub version: String,
    /// Its namespace.
    pub namespace: String,
}

/// One instance's state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstanceStatus {
    /// Its name.
    pub name: String,
    /// The version installed (empty while pending).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// Whether its Deployments are Available.
    pub ready: bool,
}

/// The `TektonFleet` CRD as YAML (`manifests/crd.yaml`).
///
/// # Errors
/// None in practice (the CRD serialises).
pub fn crd_yaml() -> Result<String, crate::yaml::Error> {
    use kube::CustomResourceExt as _;
    crate::yaml::to_string(&TektonFleet::crd())
}
