//! The `TektonFleet` resource: its spec (a one-cluster fleet file's body) and the CRD generated from it. **Types.**
use kube::CustomResource;
use serde::{Deserialize, Serialize};
use tkn_multi_core::operator::TektonFleetStatus;

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
