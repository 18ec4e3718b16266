//! What the split renders for: the shared part's and an instance's settings, and the upstream
//! namespaces they replace. **Pure.**

use crate::names::{InstanceName, NamespaceName};

/// The upstream system namespace of every Pipelines release.
pub const UPSTREAM_NAMESPACE: &str = "tekton-pipelines";
/// The upstream namespace of the remote resolvers (v0.41+ releases).
pub const UPSTREAM_RESOLVERS_NAMESPACE: &str = "tekton-pipelines-resolvers";
/// The default namespace of the shared part.
pub const DEFAULT_SHARED_NAMESPACE: &str = "tekton-shared";

/// The shared part's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedSpec {
    /// The namespace of the shared conversion webhook and events controller.
    pub namespace: NamespaceName,
}

impl SharedSpec {
    /// The namespace of the shared remote resolvers: `<shared namespace>-resolvers`.
    pub fn resolvers_namespace(&self) -> String {
        format!("{}-resolvers", self.namespace)
    }
}

impl Default for SharedSpec {
    fn default() -> Self {
        Self { namespace: DEFAULT_SHARED_NAMESPACE.parse().expect("the default is a valid name") }
    }
}

/// One instance's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceSpec {
    /// The instance's name.
    pub name: InstanceName,
    /// The namespace whose Tekton resources the instance reconciles.
    pub namespace: NamespaceName,
    /// The namespace its controller, webhook and configuration live in.
    pub control_plane_namespace: NamespaceName,
    /// Before v0.44: the PEM bundle of the CAs its webhook's certificate may be signed by, for
    /// the admission configurations' `caBundle` (public; `None` renders none).
    pub admission_ca: Option<String>,
}
