//! What the planner refuses, before any step exists. **Pure.**

use crate::matrix::check;
use crate::release::TektonVersion;

/// A desired state the planner refuses, before any step exists.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A reserved namespace asked for.
    #[error(
        "namespace `{namespace}` ({role} of `{owner}`) is reserved: tkn-multi never installs into \
         `default`, `kube-*`, `tekton-pipelines*` or `flux-system`, whose removal would break the cluster"
    )]
    ReservedNamespace {
        /// The namespace.
        namespace: String,
        /// What it would be.
        role: &'static str,
        /// The instance, or `shared`.
        owner: String,
    },
    /// A Deployment setting Kubernetes would refuse.
    #[error("instance `{instance}`, Deployment `{deployment}`: {why}")]
    InvalidOverride {
        /// The instance.
        instance: String,
        /// The Deployment.
        deployment: String,
        /// What is wrong.
        why: String,
    },
    /// A name that grows past Kubernetes' limits once tkn-multi derives its names from it.
    #[error("{0}")]
    NameTooLong(String),
    /// The observation (a live cluster or a `--state` file) is not one tkn-multi could have made.
    #[error("the observed state is not valid: {0}")]
    InvalidObservation(String),
    /// The shared layer is installed in another namespace than the one asked for.
    #[error(
        "the shared layer is installed in namespace `{installed}`, not `{asked}`: moving it would \
         delete its CRDs and every Tekton object; ask for `{installed}` (--shared-namespace, or \
         `shared.namespace` in a fleet file)"
    )]
    SharedNamespaceMoved {
        /// Where it is.
        installed: String,
        /// Where it was asked for.
        asked: String,
    },
    /// Two instances with one name.
    #[error("instance `{0}` is listed twice")]
    DuplicateInstance(String),
    /// A namespace claimed by two instances (or by an instance and the shared part).
    #[error("namespace `{namespace}` is claimed by both `{first}` and `{second}`")]
    NamespaceConflict {
        /// The namespace.
        namespace: String,
        /// One claimant.
        first: String,
        /// The other.
        second: String,
    },
    /// The matrix found no shared layer.
    #[error("the requested instances cannot share one layer")]
    Incompatible(#[source] check::Error),
    /// `--shared=skip` (or `--update-shared=never`) and the installed layer cannot serve.
    #[error(
        "the shared layer {current} cannot serve {needed} and the policy forbids changing it ({policy})"
    )]
    SharedLocked {
        /// Installed.
        current: TektonVersion,
        /// Needed.
        needed: TektonVersion,
        /// Which option.
        policy: &'static str,
    },
    /// `--shared=skip` with no shared layer installed.
    #[error("`--shared=skip` but no shared layer is installed")]
    NoShared,
    /// The planner needs release `{0}` and was not given it: the signal by which the driver
    /// loads releases lazily (`converge` loads it and plans again).
    #[error("release {0} is needed and was not loaded")]
    MissingRelease(TektonVersion),
    /// A `config:` entry names a `ConfigMap` the instance's release does not have.
    #[error(
        "instance `{instance}` sets keys of ConfigMap `{configmap}`, which Tekton Pipelines {version} does not have (it has {known})"
    )]
    UnknownConfigMap {
        /// The instance.
        instance: String,
        /// The name given.
        configmap: String,
        /// The instance's version.
        version: TektonVersion,
        /// The `ConfigMap`s it has.
        known: String,
    },
    /// An override names a Deployment the instance's release does not have.
    #[error(
        "instance `{instance}` overrides Deployment `{deployment}`, which Tekton Pipelines {version} does not have (it has {known})"
    )]
    UnknownDeployment {
        /// The instance.
        instance: String,
        /// The name overridden.
        deployment: String,
        /// The instance's version.
        version: TektonVersion,
        /// The Deployments it has.
        known: String,
    },
}
