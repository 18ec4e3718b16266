//! The observed cluster as a value, and the in-memory fake cluster that applies plans. **Pure.**
//!
//! [`ClusterState`] is what `tkn-multi list -o yaml` prints and what `--state FILE` reads: the
//! installed instances, the shared layer (with each CRD's stored versions and object count), and
//! every object tkn-multi manages, with the hash of the content it applied.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::model::{Action, Plan, StepKind};
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
    pub admission: Option<ObservedCertificate>,
}

/// The webhook certificate of an instance before v0.44, which tkn-multi owns: only what is
/// public (certificates, dates), never a key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedCertificate {
    /// PEM of the CA certificates its admission configurations trust (current first).
    pub ca_bundle: String,
    /// When the current CA expires (RFC 3339).
    pub ca_not_after: String,
    /// When the serving certificate expires (RFC 3339), if there is a usable one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serving_not_after: Option<String>,
    /// The serving certificate is signed by the current CA and names the webhook's Service.
    #[serde(default)]
    pub serving_current: bool,
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

    /// The observed instances as desired ones, at their observed versions (with no config
    /// overrides): what a change to one instance keeps of the others.
    ///
    /// # Errors
    /// An observed name that is not a valid instance or namespace name.
    pub fn desired_instances(
        &self,
    ) -> Result<Vec<super::desired::DesiredInstance>, crate::names::InvalidName> {
        self.instances
            .iter()
            .map(|i| {
                Ok(super::desired::DesiredInstance {
                    spec: crate::split::InstanceSpec {
                        name: i.name.parse()?,
                        namespace: i.namespace.parse()?,
                        control_plane_namespace: i.control_plane_namespace.parse()?,
                        admission_ca: i.admission.as_ref().map(|t| t.ca_bundle.clone()),
                    },
                    version: i.version.clone(),
                    config: BTreeMap::new(),
                    overrides: super::overrides::Overrides::default(),
                })
            })
            .collect()
    }

    /// Applies the steps `done` of a plan that stopped part-way, as a cluster would record them:
    /// their objects change, and an instance (or the shared layer) is at its new version once its
    /// controller (the shared webhook) Deployment was written, gone once it was deleted. The
    /// in-memory fake cluster of the driver tests.
    pub fn apply_done(&mut self, plan: &Plan, done: &std::collections::BTreeSet<usize>) {
        let partial = Plan {
            steps: plan.steps.iter().filter(|s| done.contains(&s.index)).cloned().collect(),
            ..plan.clone()
        };
        let (instances, shared) = (self.instances.clone(), self.shared.clone());
        self.apply(&partial);
        let deployment = |owner: &str, name: &str| {
            partial.steps.iter().find_map(|s| match &s.kind {
                StepKind::Object { action, object, owner: o, .. }
                    if o == owner && object.kind == "Deployment" && object.name == name =>
                {
                    Some(*action)
                }
                _ => None,
            })
        };
        let mut now = Vec::new();
        for old in &instances {
            match deployment(&old.name, "tekton-pipelines-controller") {
                Some(Action::Delete) => {}
                Some(_) => {
                    now.extend(plan.target.instances.iter().find(|t| t.name == old.name).cloned());
                }
                None => now.push(old.clone()),
            }
        }
        for new in &plan.target.instances {
            let written = deployment(&new.name, "tekton-pipelines-controller")
                .is_some_and(|a| a != Action::Delete);
            if written && !now.iter().any(|i| i.name == new.name) {
                now.push(new.clone());
            }
        }
        now.sort_by(|a, b| a.name.cmp(&b.name));
        self.instances = now;
        match deployment(crate::names::SHARED_OWNER, "tekton-pipelines-webhook") {
            Some(Action::Delete) => self.shared = None,
            Some(_) => {}
            None => self.shared = shared,
        }
    }

    /// The managed objects by identity.
    pub fn objects_by_ref(&self) -> BTreeMap<&ObjectRef, &ObservedObject> {
        self.objects.iter().map(|o| (&o.object, o)).collect()
    }

    /// Applies a plan as a cluster would, in its order: the fake cluster of the planner tests.
    ///
    /// Objects are created, updated, replaced and deleted; migrations rewrite stored versions;
    /// the instance and shared records follow the plan's target.
    pub fn apply(&mut self, plan: &Plan) {
        let mut objects: BTreeMap<ObjectRef, ObservedObject> =
            self.objects.drain(..).map(|o| (o.object.clone(), o)).collect();
        let mut certificates: BTreeMap<String, ObservedCertificate> = BTreeMap::new();
        for step in &plan.steps {
            match &step.kind {
                StepKind::Object {
                    action, object, owner, hash, immutable_hash, retain, ..
                } => match action {
                    Action::Create | Action::Update | Action::Replace => {
                        objects.insert(
                            object.clone(),
                            ObservedObject {
                                object: object.clone(),
                                owner: owner.clone(),
                                hash: hash.clone(),
                                immutable_hash: immutable_hash.clone(),
                                retain: *retain,
                            },
                        );
                    }
                    Action::Delete => {
                        objects.remove(object);
                    }
                },
                StepKind::MigrateStoredVersions { crd, to, .. } => {
                    if let Some(c) = self
                        .shared
                        .as_mut()
                        .and_then(|s| s.crds.iter_mut().find(|c| &c.name == crd))
                    {
                        c.stored_versions = vec![to.clone()];
                    }
                }
                StepKind::WaitEstablished { .. } | StepKind::WaitAvailable { .. } => {}
                StepKind::Certificate { owner, new_ca, dates, .. } => {
                    // As the certificate step leaves it: the (new) CA trusted, a current serving
                    // certificate with the dates the shell computed. Only the in-memory fake of
                    // the pure tests, which has no clock, plans without dates: far-off ones.
                    let far = "9999-12-31T00:00:00Z";
                    let (ca_not_after, serving_not_after) = dates.as_ref().map_or_else(
                        || (far.to_owned(), far.to_owned()),
                        |d| (d.ca_not_after.clone(), d.serving_not_after.clone()),
                    );
                    let bundle = new_ca
                        .as_ref()
                        .map(|c| crate::tls::bundle(&c.cert_pem, c.previous_cert_pem.as_deref()));
                    let old = self.instance(owner).and_then(|i| i.admission.clone());
                    if let Some(ca_bundle) = bundle.or(old.map(|o| o.ca_bundle)) {
                        certificates.insert(
                            owner.clone(),
                            ObservedCertificate {
                                ca_bundle,
                                ca_not_after,
                                serving_not_after: Some(serving_not_after),
                                serving_current: true,
                            },
                        );
                    }
                }
            }
        }
        self.objects = objects.into_values().collect();
        for i in &self.instances {
            if let Some(a) = &i.admission {
                certificates.entry(i.name.clone()).or_insert_with(|| a.clone());
            }
        }
        self.instances.clone_from(&plan.target.instances);
        for i in &mut self.instances {
            i.admission = certificates.remove(&i.name);
        }
        self.shared = plan.target.shared.as_ref().map(|t| {
            let previous = self.shared.take();
            ObservedShared {
                version: t.version.clone(),
                namespace: t.namespace.clone(),
                crds: t
                    .crds
                    .iter()
                    .map(|(name, storage)| {
                        let old =
                            previous.as_ref().and_then(|p| p.crds.iter().find(|c| &c.name == name));
                        let mut stored = old.map(|c| c.stored_versions.clone()).unwrap_or_default();
                        if !stored.contains(storage) {
                            stored.push(storage.clone());
                        }
                        ObservedCrd {
                            name: name.clone(),
                            stored_versions: stored,
                            objects: old.map_or(0, |c| c.objects),
                        }
                    })
                    .collect(),
            }
        });
    }
}
