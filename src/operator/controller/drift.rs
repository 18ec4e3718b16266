//! Drift: the live objects in scope whose content lost what tkn-multi applied (a hand edit),
//! found by two label-selected lists and compared by [`super::super::reconcile`]. **I/O.**

use std::collections::HashMap;

use kube::ResourceExt as _;
use kube::api::Api;

use super::super::reconcile::{self};
use super::context::Context;
use crate::converge;
use crate::managed::{LABEL_MANAGED_BY, MANAGER};

impl Context {
    /// The objects of [`reconcile::DRIFT_KINDS`] in scope whose live content lost what was
    /// applied (two label-selected lists, one per kind).
    pub(super) async fn drifted(
        &self,
        prepared: &converge::Prepared,
    ) -> anyhow::Result<std::collections::BTreeSet<crate::release::ObjectRef>> {
        use kube::api::{ApiResource, DynamicObject, ListParams};
        let wanted = prepared.wanted(&self.matrix)?;
        let scope = prepared.desired.scope.as_ref();
        let in_scope = |owner: &str| scope.is_none_or(|s| s.contains(owner));
        // Deployments an HPA scales: their replicas are the HPA's.
        let scaled: std::collections::BTreeSet<(Option<&str>, &str)> = wanted
            .objects
            .values()
            .filter(|(_, o)| o.kind() == "HorizontalPodAutoscaler")
            .filter_map(|(_, o)| {
                Some((o.namespace(), o.pointer("/spec/scaleTargetRef/name")?.as_str()?))
            })
            .collect();
        let mut found = std::collections::BTreeSet::new();
        for kind in reconcile::DRIFT_KINDS {
            let k = crate::managed::find(kind).expect("drift kinds are managed kinds");
            let gvk = kube::core::GroupVersionKind::gvk(k.group, k.version, k.kind);
            let api: Api<DynamicObject> =
                Api::all_with(self.client.clone(), &ApiResource::from_gvk(&gvk));
            let live = api
                .list(&ListParams::default().labels(&format!("{LABEL_MANAGED_BY}={MANAGER}")))
                .await?;
            let live: HashMap<(Option<String>, String), &DynamicObject> = live
                .items
                .iter()
                .map(|o| ((o.metadata.namespace.clone(), o.name_any()), o))
                .collect();
            for (r, (owner, o)) in &wanted.objects {
                if r.kind != *kind || !in_scope(owner) {
                    continue;
                }
                let Some(l) = live.get(&(r.namespace.clone(), r.name.clone())) else { continue };
                let scaled = scaled.contains(&(r.namespace.as_deref(), r.name.as_str()));
                if reconcile::drifted(&o.to_value(), &serde_json::to_value(l)?, scaled) {
                    found.insert(r.clone());
                }
            }
        }
        Ok(found)
    }
}
