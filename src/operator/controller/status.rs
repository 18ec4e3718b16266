//! Writing a `TektonFleet`'s status: server-side apply under the operator's own field
//! manager, with the conditions of the reconcile's outcome. **I/O.**

use kube::api::{Api, Patch, PatchParams};
use kube::{Resource as _, ResourceExt as _};

use super::super::reconcile::{self, Progress};
use super::context::{Context, STATUS_MANAGER};
use crate::operator::resource::TektonFleet;
use tkn_multi_core::operator::TektonFleetStatus;

impl Context {
    /// Writes `status` with the conditions of `outcome` (server-side apply, its own field manager).
    pub(super) async fn set(
        &self,
        fleet: &TektonFleet,
        status: &mut TektonFleetStatus,
        outcome: &Progress,
    ) -> anyhow::Result<()> {
        let now = k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            k8s_openapi::jiff::Timestamp::now(),
        );
        let previous = fleet.status.as_ref().map(|s| s.conditions.as_slice()).unwrap_or_default();
        status.conditions =
            reconcile::conditions(outcome, fleet.metadata.generation, &now, previous);
        let api: Api<TektonFleet> = Api::all(self.client.clone());
        let patch = serde_json::json!({
            "apiVersion": TektonFleet::api_version(&()),
            "kind": TektonFleet::kind(&()),
            "status": status,
        });
        api.patch_status(
            &fleet.name_any(),
            &PatchParams::apply(STATUS_MANAGER).force(),
            &Patch::Apply(patch),
        )
        .await
        .map(|_| ())
        .map_err(|e| anyhow::Error::new(e).context("cannot write the TektonFleet's status"))
    }
}

pub(super) fn converged_message(status: &TektonFleetStatus) -> String {
    let mut m = format!("{} instance(s) converged", status.instances.len());
    let unmanaged = &status.unmanaged_instances;
    if !unmanaged.is_empty() {
        m = format!("{m}; not managed by this fleet (left alone): {}", unmanaged.join(", "));
    }
    m
}
