//! What a command asks for: the [`Desired`] state (instances, shared policy, certificates), and
//! the checks of a desired state and of an observation before anything is planned. **Pure.**

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::error::Error;
use super::overrides;
use super::state::ClusterState;
use crate::names::SHARED_OWNER;
use crate::release::TektonVersion;
use crate::split::{InstanceSpec, SharedSpec};
use crate::tls::{CertificateDates, NewCa};

/// Whether tkn-multi may touch the shared layer at all.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum SharedMode {
    /// Install or change the shared layer as needed.
    #[default]
    Install,
    /// Never touch it; fail when what exists cannot serve the instances.
    Skip,
}

/// When the shared layer's version changes.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum UpdateShared {
    /// Only upward, and only when an instance needs it.
    #[default]
    IfOlder,
    /// Never change an installed layer (install one when there is none).
    Never,
    /// Follow the newest instance, up or down (a downgrade must be safe by the matrix).
    Always,
}

/// The shared-layer policy (TEP-0129's operator options).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SharedPolicy {
    /// `--shared`.
    #[serde(default)]
    pub mode: SharedMode,
    /// `--update-shared`.
    #[serde(default)]
    pub update: UpdateShared,
    /// `--keep-shared`: keep the shared layer when the last instance goes.
    #[serde(default)]
    pub keep_on_uninstall: bool,
    /// `--downgrade-shared`: lower the shared layer to what the remaining instances need.
    #[serde(default)]
    pub downgrade: bool,
    /// `--accept-broken-workloads`: move the shared layer to a version the compatibility lab's
    /// evidence shows breaking an instance's workloads.
    #[serde(default)]
    pub accept_broken_workloads: bool,
}

/// One desired instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredInstance {
    /// Names and namespaces.
    pub spec: InstanceSpec,
    /// Its Tekton version.
    pub version: TektonVersion,
    /// `ConfigMap` keys to override, by `ConfigMap` name (`feature-flags`, `config-defaults`, …).
    pub config: BTreeMap<String, BTreeMap<String, String>>,
    /// Image relocation and Deployment settings.
    pub overrides: overrides::Overrides,
    /// Feature flags kept at a value an upgrade would otherwise change (`feature-flags` key →
    /// value), written into the `ConfigMap` under the user's own `config`, and recorded on it
    /// (`tkn-multi.tekton.dev/kept-defaults`) so that later runs keep them.
    pub kept_defaults: BTreeMap<String, String>,
    /// `--keep-defaults` (a fleet's `keepDefaults`): keep the observed instance's kept values, and
    /// on a version change add every feature flag whose effective value the new version changes
    /// (its `ConfigMap` value, or Tekton's default where the `ConfigMap` leaves the key out).
    pub keep_defaults: bool,
}

/// What the cluster should look like, and which owners the plan may change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    /// The shared namespace.
    pub shared: SharedSpec,
    /// The shared-layer policy.
    pub policy: SharedPolicy,
    /// The registry the shared layer's images are relocated to.
    pub image_registry: Option<overrides::ImageRegistry>,
    /// Every instance that should exist (observed ones outside `scope` included).
    pub instances: Vec<DesiredInstance>,
    /// Instances whose objects the plan may create, change or delete; `None` means all (a fleet
    /// file). The shared layer is in scope unless the policy skips it.
    pub scope: Option<BTreeSet<String>>,
    /// Instances (before v0.44) whose webhook certificate is to be written, and why; filled by
    /// the driver from the observation.
    pub certificates: BTreeMap<String, CertificateWork>,
}

/// Why an instance's webhook certificate is written, and the CA made for it if there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateWork {
    /// Why (shown in the plan).
    pub reason: String,
    /// A CA generated for this run, stored by the certificate step.
    pub new_ca: Option<NewCa>,
    /// The validity the step's certificates will have (the shell knows the clock), recorded in
    /// the state a plan leaves (`--save-state`).
    pub dates: Option<CertificateDates>,
}

/// Namespaces that belong to Kubernetes, to a single-tenant Tekton install or to Flux: never an
/// instance's, never the shared layer's (an uninstall would delete them).
pub const RESERVED_NAMESPACES: &[&str] = &[
    "default",
    "kube-system",
    "kube-public",
    "kube-node-lease",
    "tekton-pipelines",
    "tekton-pipelines-resolvers",
    "flux-system",
];

/// The checks [`super::plan`] makes of a desired state before it looks at a cluster: no
/// instance listed twice, no namespace claimed twice.
///
/// # Errors
/// The first conflict.
pub fn check_desired(desired: &Desired) -> Result<(), Error> {
    validate(desired, &ClusterState::empty())
}

pub(crate) fn validate(desired: &Desired, observed: &ClusterState) -> Result<(), Error> {
    let mut names = BTreeSet::new();
    let mut claims: BTreeMap<String, String> = BTreeMap::new();
    let mut claim = |ns: &str, who: &str| -> Result<(), Error> {
        match claims.get(ns) {
            Some(first) if first != who => Err(Error::NamespaceConflict {
                namespace: ns.to_owned(),
                first: first.clone(),
                second: who.to_owned(),
            }),
            _ => {
                claims.insert(ns.to_owned(), who.to_owned());
                Ok(())
            }
        }
    };
    check_observation(observed)?;
    let reserved = |ns: &str, role: &'static str, owner: &str| {
        if RESERVED_NAMESPACES.contains(&ns) {
            Err(Error::ReservedNamespace {
                namespace: ns.to_owned(),
                role,
                owner: owner.to_owned(),
            })
        } else {
            Ok(())
        }
    };
    reserved(desired.shared.namespace.as_str(), "the namespace", SHARED_OWNER)?;
    if let Some(s) = &observed.shared
        && s.namespace != desired.shared.namespace.as_str()
        && !desired.instances.is_empty()
    {
        return Err(Error::SharedNamespaceMoved {
            installed: s.namespace.clone(),
            asked: desired.shared.namespace.to_string(),
        });
    }
    if desired.shared.resolvers_namespace().len() > 63 {
        return Err(Error::NameTooLong(format!(
            "the shared namespace `{}` leaves no room for its `-resolvers` namespace (63 characters at most)",
            desired.shared.namespace
        )));
    }
    for i in &desired.instances {
        let owner = i.spec.name.as_str();
        for (deployment, d) in &i.overrides.deployments {
            if let Some(why) = d.problem() {
                return Err(Error::InvalidOverride {
                    instance: owner.to_owned(),
                    deployment: deployment.clone(),
                    why,
                });
            }
        }
        reserved(i.spec.namespace.as_str(), "the watched namespace", owner)?;
        reserved(i.spec.control_plane_namespace.as_str(), "the control-plane namespace", owner)?;
    }
    claim(desired.shared.namespace.as_str(), SHARED_OWNER)?;
    claim(&desired.shared.resolvers_namespace(), SHARED_OWNER)?;
    for i in &desired.instances {
        if !names.insert(i.spec.name.to_string()) {
            return Err(Error::DuplicateInstance(i.spec.name.to_string()));
        }
        claim(i.spec.namespace.as_str(), i.spec.name.as_str())?;
        claim(i.spec.control_plane_namespace.as_str(), i.spec.name.as_str())?;
    }
    // Installed instances not in the desired set still hold their namespaces unless the plan
    // removes them (a fleet file in full scope).
    if desired.scope.is_some() {
        for o in &observed.instances {
            if !names.contains(&o.name) {
                claim(&o.namespace, &o.name)?;
                claim(&o.control_plane_namespace, &o.name)?;
            }
        }
    }
    Ok(())
}

/// What every command's observation must be (a live cluster's, or a `--state` file's): valid,
/// unique instance names; valid namespace names, none reserved, none claimed twice.
///
/// # Errors
/// The first problem, as [`Error::InvalidObservation`].
pub fn check_observation(observed: &ClusterState) -> Result<(), Error> {
    let bad = |why: String| Err(Error::InvalidObservation(why));
    let mut names = BTreeSet::new();
    let mut claims: BTreeMap<&str, &str> = BTreeMap::new();
    if let Some(s) = &observed.shared {
        if s.namespace.parse::<crate::names::NamespaceName>().is_err() {
            return bad(format!(
                "the shared namespace `{}` is not a namespace name",
                crate::render::escape(&s.namespace)
            ));
        }
        if RESERVED_NAMESPACES.contains(&s.namespace.as_str()) {
            return bad(format!("the shared layer is in the reserved namespace `{}`", s.namespace));
        }
        claims.insert(&s.namespace, SHARED_OWNER);
    }
    for i in &observed.instances {
        if let Err(e) = i.name.parse::<crate::names::InstanceName>() {
            return bad(crate::render::escape(&e.to_string()));
        }
        if !names.insert(i.name.as_str()) {
            return bad(format!("instance `{}` appears twice", i.name));
        }
        for ns in [&i.namespace, &i.control_plane_namespace] {
            if let Err(e) = ns.parse::<crate::names::NamespaceName>() {
                return bad(format!(
                    "instance `{}`: {}",
                    i.name,
                    crate::render::escape(&e.to_string())
                ));
            }
            if RESERVED_NAMESPACES.contains(&ns.as_str()) {
                return bad(format!("instance `{}` is in the reserved namespace `{ns}`", i.name));
            }
            match claims.insert(ns, &i.name) {
                Some(other) if other != i.name => {
                    return bad(format!(
                        "namespace `{ns}` is claimed by both `{other}` and `{}`",
                        i.name
                    ));
                }
                _ => {}
            }
        }
    }
    Ok(())
}

impl ClusterState {
    /// The observed instances as desired ones, at their observed versions (with no config
    /// overrides): what a change to one instance keeps of the others.
    ///
    /// # Errors
    /// An observed name that is not a valid instance or namespace name.
    pub fn desired_instances(&self) -> Result<Vec<DesiredInstance>, crate::names::InvalidName> {
        self.instances
            .iter()
            .map(|i| {
                Ok(DesiredInstance {
                    spec: crate::split::InstanceSpec {
                        name: i.name.parse()?,
                        namespace: i.namespace.parse()?,
                        control_plane_namespace: i.control_plane_namespace.parse()?,
                        admission_ca: i.admission.as_ref().map(|t| t.ca_bundle.clone()),
                    },
                    version: i.version.clone(),
                    config: BTreeMap::new(),
                    overrides: super::overrides::Overrides::default(),
                    kept_defaults: i.kept_defaults.clone(),
                    keep_defaults: false,
                })
            })
            .collect()
    }
}
