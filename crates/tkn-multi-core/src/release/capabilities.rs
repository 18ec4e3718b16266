//! What each Tekton Pipelines version can do that matters for running several instances.
//! **Pure.**
//!
//! Each fact comes from tektoncd/pipeline (and the knative/pkg it vendors) at the release tags;
//! `docs/tekton-internals.md` gives the source paths and commits. The split consults these facts,
//! and the compatibility matrix records them per release.

use serde::{Deserialize, Serialize};

use super::model::TektonVersion;

/// The multi-instance capabilities of one Tekton Pipelines version.
// A record of independent yes/no facts per version, not a state machine.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Capabilities {
    /// `cmd/controller` takes `-namespace <ns>` and scopes every injected informer to it
    /// (`injection.WithNamespaceScope`). Present in every release tkn-multi supports.
    pub controller_namespace_flag: bool,
    /// `cmd/webhook` reads its admission configuration names from
    /// `WEBHOOK_ADMISSION_CONTROLLER_NAME` (v0.44.0, tektoncd/pipeline PR #6007). Before that the
    /// three names are string literals, so only one instance per cluster could own them.
    pub admission_name_env: bool,
    /// Before v0.44, tkn-multi owns the instance's admission: it renders configurations under
    /// per-instance names with the rules knative would write (`compat-matrix/admission.yaml`,
    /// derived from `cmd/webhook/main.go`) and a caBundle, and writes the webhook's certificate.
    /// True for every version before v0.44 the table records.
    #[serde(default)]
    pub owned_admission: bool,
    /// The webhook adds an ownerReference to its system Namespace on its webhook configurations and
    /// needs `namespaces get` / `namespaces/finalizers update` for it (v0.27.0).
    pub webhook_namespace_owner_ref: bool,
    /// knative keeps `namespaceSelector.matchLabels` when it reconciles a webhook configuration
    /// (vendored knative.dev/pkg from v0.41.0); before, only `matchExpressions` survive.
    pub selector_match_labels_kept: bool,
    /// The remote resolvers (`cmd/resolvers`) can be limited to a namespace. Never: they watch
    /// `ResolutionRequests` cluster-wide, so tkn-multi runs them once, in the shared part.
    pub resolvers_namespace_scope: bool,
    /// The events controller (`cmd/events`, v0.48.0+) can be limited to a namespace. Never: it
    /// runs `sharedmain.Main` without a namespace scope, so tkn-multi runs it once, shared.
    pub events_namespace_scope: bool,
    /// The release ships `PodSecurityPolicy` (`policy/v1beta1`, removed in Kubernetes 1.25) and an
    /// `autoscaling/v2beta1` `HorizontalPodAutoscaler` (removed in 1.26): up to v0.40.
    pub legacy_policy_apis: bool,
}

impl Capabilities {
    /// The capabilities of `version`.
    pub fn of(version: &TektonVersion) -> Self {
        Self {
            controller_namespace_flag: true,
            admission_name_env: version.at_least(0, 44, 0),
            owned_admission: !version.at_least(0, 44, 0) && super::admission::of(version).is_some(),
            webhook_namespace_owner_ref: version.at_least(0, 27, 0),
            selector_match_labels_kept: version.at_least(0, 41, 0),
            resolvers_namespace_scope: false,
            events_namespace_scope: false,
            legacy_policy_apis: !version.at_least(0, 41, 0),
        }
    }

    /// Whether an instance of this version gets admission webhooks of its own.
    ///
    /// When the webhook's configuration names can be made unique (v0.44+), or when tkn-multi owns
    /// the configurations and the certificate itself (before v0.44). Without either, every
    /// instance would reconcile the same three cluster-scoped objects and overwrite each other's
    /// caBundle.
    pub fn instance_admission(&self) -> bool {
        self.admission_name_env || self.owned_admission
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(v: &str) -> Capabilities {
        Capabilities::of(&v.parse().unwrap())
    }

    #[test]
    fn admission_names_become_configurable_at_v0_44() {
        assert!(!caps("v0.43.2").admission_name_env);
        assert!(caps("v0.44.0").admission_name_env);
        assert!(caps("v1.9.0").instance_admission());
    }

    #[test]
    fn tkn_multi_owns_admission_before_v0_44() {
        assert!(caps("v0.24.1").owned_admission && caps("v0.24.1").instance_admission());
        assert!(caps("v0.43.2").owned_admission);
        assert!(!caps("v0.44.2").owned_admission);
        // A tag the table does not record (none exists before v0.22) gets none.
        assert!(!caps("v0.21.0").instance_admission());
    }

    #[test]
    fn legacy_policy_apis_end_at_v0_41() {
        assert!(caps("v0.40.2").legacy_policy_apis);
        assert!(!caps("v0.41.2").legacy_policy_apis);
    }
}
