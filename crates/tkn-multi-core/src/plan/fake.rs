//! The in-memory fake cluster: a [`ClusterState`] that applies plans, whole or part-way, as a
//! cluster would record them. The planner's and the driver's tests run on it. **Pure.**

use std::collections::BTreeMap;

use super::model::{Action, Plan, StepKind};
use super::state::{ClusterState, ObservedCrd, ObservedObject, ObservedShared};
use crate::release::ObjectRef;
use crate::tls::ObservedCertificate;

impl ClusterState {
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
