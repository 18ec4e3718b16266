//! The observed cluster as a value. **Pure.** (The in-memory fake cluster that applies plans to
//! it is [`super::fake`].)
//!
//! [`ClusterState`] is what `tkn-multi list -o yaml` prints and what `--state FILE` reads: the
//! installed instances, the shared layer (with each CRD's stored versions and object count), and
//! every object tkn-multi manages, with the hash of the content it applied.

use serde::{Deserialize, Serialize};

use crate::release::{ObjectRef, TektonVersion};

/// Layout version of the state file.
pub const STATE_FORMAT_VERSION: &str = "1";

/// An installed instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedInstance {
    /// Its name.
    pub name: String,
    /// Its Tekton version.
    pub version: TektonVersion,
    /// The namespace it reconciles.
    pub namespace: String,
    /// Where its controller and webhook run.
    pub control_plane_namespace: String,
    /// Before v0.44: its webhook certificate, in public facts (the CA bundle, expiry dates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admission: Option<crate::tls::ObservedCertificate>,
    /// Feature flags kept at their pre-upgrade values (`--keep-defaults`), as its `feature-flags`
    /// `ConfigMap` records them.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub kept_defaults: std::collections::BTreeMap<String, String>,
}

/// One shared CRD as the cluster has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedCrd {
    /// `metadata.name`.
    pub name: String,
    /// `status.storedVersions`.
    pub stored_versions: Vec<String>,
    /// How many objects of it exist (all namespaces).
    #[serde(default)]
    pub objects: u64,
}

/// The shared layer as installed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedShared {
    /// Its version.
    pub version: TektonVersion,
    /// Its namespace.
    pub namespace: String,
    /// Its CRDs.
    pub crds: Vec<ObservedCrd>,
}

/// One managed object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedObject {
    /// Identity.
    #[serde(flatten)]
    pub object: ObjectRef,
    /// `shared` or the instance name.
    pub owner: String,
    /// Hash of the content tkn-multi applied.
    pub hash: String,
    /// Hash of the fields Kubernetes will not change in place (selectors, roleRefs).
    pub immutable_hash: String,
    /// Annotated `tkn-multi.tekton.dev/retain`: never deleted by tkn-multi (the watched namespace).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retain: bool,
}

/// The observed cluster.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ClusterState {
    /// Layout version.
    pub format_version: String,
    /// The shared layer, if installed.
    pub shared: Option<ObservedShared>,
    /// Installed instances, by name.
    pub instances: Vec<ObservedInstance>,
    /// Managed objects.
    pub objects: Vec<ObservedObject>,
}

impl ClusterState {
    /// An empty cluster.
    pub fn empty() -> Self {
        Self { format_version: STATE_FORMAT_VERSION.into(), ..Self::default() }
    }

    /// The instance named `name`.
    pub fn instance(&self, name: &str) -> Option<&ObservedInstance> {
        self.instances.iter().find(|i| i.name == name)
    }
}
