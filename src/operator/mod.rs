//! Operator mode: the `TektonFleet` resource, whose spec is a one-cluster fleet file's body
//! ([`FleetSpec`]: one schema, one validation). The CRD is generated from these types
//! (`tkn-multi operator crd`, committed as `manifests/crd.yaml` and drift-tested).
//!
//! [`reconcile`] decides (pure); [`controller`] runs the kube-runtime `Controller` that observes,
//! plans and executes each `TektonFleet` with the shared driver; [`serve`] answers `/metrics`
//! and the health probes.

pub mod controller;
pub mod serve;

pub use tkn_multi_core::operator::*;

use kube::CustomResource;
use serde::{Deserialize, Serialize};

use crate::fleet::FleetSpec;

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

/// The `TektonFleet` CRD as YAML (`manifests/crd.yaml`).
///
/// # Errors
/// None in practice (the CRD serialises).
pub fn crd_yaml() -> Result<String, crate::yaml::Error> {
    use kube::CustomResourceExt as _;
    crate::yaml::to_string(&TektonFleet::crd())
}
