//! The fleet files' schemas: v1alpha1 (one cluster, [`FleetSpec`], also the `TektonFleet`
//! resource's spec) and v1alpha2 (clusters, placement, per-cluster overrides). **Pure.**

use std::collections::BTreeMap;

use serde::Deserialize;

use super::placement::{ClusterTarget, LabelSelector};
use crate::names::{ClusterName, InstanceName, NamespaceName, StageName};
use crate::plan::desired::{SharedMode, UpdateShared};
use crate::plan::overrides::{DeploymentOverride, ImageRegistry};
use crate::release::TektonVersion;

/// The `apiVersion` of a one-cluster fleet file.
pub const FLEET_API_VERSION: &str = "tkn-multi.tekton.dev/v1alpha1";

/// The `apiVersion` of a fleet file with clusters.
pub const FLEET_V1ALPHA2: &str = "tkn-multi.tekton.dev/v1alpha2";

/// What every fleet file starts with.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Head {
    pub(crate) api_version: String,
    pub(crate) kind: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct FleetFile {
    #[allow(dead_code)] // checked by `Head`
    pub(crate) api_version: String,
    #[allow(dead_code)]
    pub(crate) kind: String,
    #[serde(default)]
    pub(crate) shared: SharedSection,
    #[serde(default)]
    pub(crate) instances: Vec<FleetInstance>,
}

/// What a one-cluster fleet asks for: the shared-layer policy and every instance. The body of a
/// v1alpha1 fleet file, and the spec of the `TektonFleet` resource (one schema, one validation).
#[derive(
    Debug, Clone, Default, PartialEq, Eq, Deserialize, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FleetSpec {
    /// The shared layer's namespace and policy.
    #[serde(default)]
    pub shared: SharedSection,
    /// Every instance that should exist; installed ones not listed are uninstalled.
    #[serde(default)]
    pub instances: Vec<FleetInstance>,
}

/// The shared layer's namespace and policy (every field optional).
#[derive(
    Debug, Clone, Default, PartialEq, Eq, Deserialize, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SharedSection {
    /// The shared namespace [default: tekton-shared].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<NamespaceName>,
    /// `install` (change the shared layer as needed) or `skip` (never touch it).
    #[serde(default)]
    pub mode: SharedMode,
    /// When the shared layer's version changes: `if-older`, `never`, `always`.
    #[serde(default)]
    pub update: UpdateShared,
    /// Keep the shared layer when the last instance goes.
    #[serde(default)]
    pub keep_on_uninstall: bool,
    /// Lower the shared layer to what the remaining instances need, when the matrix says it is
    /// safe.
    #[serde(default)]
    pub downgrade: bool,
    /// Move the shared layer even to a version the compatibility lab's evidence shows breaking
    /// an instance's workloads.
    #[serde(default)]
    pub accept_broken_workloads: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct FleetFileV2 {
    #[allow(dead_code)] // checked by `Head`
    pub(crate) api_version: String,
    #[allow(dead_code)]
    pub(crate) kind: String,
    pub(crate) clusters: Vec<ClusterEntry>,
    /// Rollout stages, in order (`dev`, then `prod`): a cluster belongs to the first that
    /// selects it; with stages, every cluster must be in one.
    #[serde(default)]
    pub(crate) stages: Vec<StageEntry>,
    #[serde(default)]
    pub(crate) shared: SharedSection,
    #[serde(default)]
    pub(crate) instances: Vec<FleetInstanceV2>,
}

/// A rollout stage: a name, and the clusters it selects (names, else a label selector).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct StageEntry {
    pub(crate) name: StageName,
    pub(crate) clusters: Option<Vec<ClusterName>>,
    pub(crate) cluster_selector: Option<LabelSelector>,
    /// Checks before the next stage starts.
    #[serde(default)]
    pub(crate) gate: Option<Gate>,
}

impl StageEntry {
    pub(crate) fn target(&self) -> ClusterTarget {
        ClusterTarget {
            clusters: self.clusters.clone(),
            cluster_selector: self.cluster_selector.clone(),
        }
    }
}

/// What must hold, after a stage converged, before the next one starts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Gate {
    /// Run a tiny `TaskRun` in the namespace of every instance the stage changed, and require it
    /// to succeed.
    #[serde(default)]
    pub smoke: bool,
    /// Seconds to wait after the stage is Ready (and its smoke runs passed).
    #[serde(default)]
    pub soak_seconds: u64,
}

/// A cluster of a fleet: how to reach it, and the labels placements select it by.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterEntry {
    /// Its name in the fleet (plans, state files, `--cluster`).
    pub name: ClusterName,
    /// The kubeconfig context [default: the kubeconfig's current one].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// A kubeconfig file [default: `--kubeconfig`, `$KUBECONFIG`, `~/.kube/config`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubeconfig: Option<std::path::PathBuf>,
    /// Labels for `clusterSelector`s.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Relocate every image on this cluster (shared layer included) to this mirror.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_registry: Option<ImageRegistry>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct FleetInstanceV2 {
    pub(crate) name: InstanceName,
    pub(crate) version: TektonVersion,
    pub(crate) namespace: Option<NamespaceName>,
    pub(crate) control_plane_namespace: Option<NamespaceName>,
    #[serde(default)]
    pub(crate) config: BTreeMap<String, BTreeMap<String, String>>,
    pub(crate) placement: Option<ClusterTarget>,
    #[serde(default)]
    pub(crate) overrides: Vec<OverrideEntry>,
    #[serde(default)]
    pub(crate) keep_defaults: bool,
}

impl FleetInstanceV2 {
    pub(crate) fn base(&self) -> FleetInstance {
        FleetInstance {
            name: self.name.clone(),
            version: self.version.clone(),
            namespace: self.namespace.clone(),
            control_plane_namespace: self.control_plane_namespace.clone(),
            config: self.config.clone(),
            keep_defaults: self.keep_defaults,
        }
    }
}

/// Per-cluster changes to one instance.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct OverrideEntry {
    pub(crate) clusters: Option<Vec<ClusterName>>,
    pub(crate) cluster_selector: Option<LabelSelector>,
    /// The clusters of these stages (with `clusters` or `clusterSelector` too: those of them
    /// in these stages).
    pub(crate) stages: Option<Vec<StageName>>,
    /// Another version of the instance on the matched clusters.
    pub(crate) version: Option<TektonVersion>,
    #[serde(default)]
    pub(crate) config: BTreeMap<String, BTreeMap<String, String>>,
    pub(crate) image_registry: Option<ImageRegistry>,
    #[serde(default)]
    pub(crate) deployments: BTreeMap<String, DeploymentOverride>,
}

/// One instance of a one-cluster fleet.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FleetInstance {
    /// The instance's name.
    pub name: InstanceName,
    /// Its Tekton Pipelines version.
    pub version: TektonVersion,
    /// The namespace it reconciles [default: its name].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<NamespaceName>,
    /// Where its controller and webhook run [default: tekton-<name>].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_plane_namespace: Option<NamespaceName>,
    /// `ConfigMap` keys to override, by `ConfigMap` name (`feature-flags`, `config-defaults`, …).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub config: BTreeMap<String, BTreeMap<String, String>>,
    /// Keep the feature flags an upgrade would change at their values before it (and those
    /// kept before); `false` lets the version's own values apply (see `upgrade --keep-defaults`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keep_defaults: bool,
}

impl OverrideEntry {
    pub(crate) fn target(&self) -> ClusterTarget {
        ClusterTarget {
            clusters: self.clusters.clone(),
            cluster_selector: self.cluster_selector.clone(),
        }
    }
}
