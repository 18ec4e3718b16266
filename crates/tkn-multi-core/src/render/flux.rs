//! A fleet as a Flux tree (`render -f FLEET --gitops flux`). **Pure.**
//!
//! Per cluster, the objects of its plan from an empty cluster (so every object carries the
//! labels and hash annotations `tkn-multi list` and the planner read), one file per object:
//!
//! ```text
//! <cluster>/shared/{cluster,namespaces/<ns>}/<kind>-<name>.yaml + kustomization.yaml
//! <cluster>/instances/<instance>/…                             + kustomization.yaml
//! flux/<cluster>.yaml    Flux Kustomizations for the cluster, applied to the management cluster
//! flux/kustomization.yaml  lists them, for one parent Kustomization with `path: ./flux`
//! ```
//!
//! The Flux `Kustomization`s (`kustomize.toolkit.fluxcd.io/v1`) reach the member through
//! `spec.kubeConfig.secretRef`; every instance `dependsOn` the shared layer, and both `wait` for
//! their objects' health (CRDs Established, Deployments Available). Objects tkn-multi never
//! deletes (CRDs, the namespaces that hold users' runs) carry
//! `kustomize.toolkit.fluxcd.io/prune: disabled`, so Flux never prunes them either. The shared
//! layer's Kustomization exists while any instance does, so its objects are pruned only when
//! they leave the tree. Nothing Tekton or knative writes at run time (webhook rules and
//! caBundles, the conversion caBundle) is in the tree, so Flux does not own it and nothing
//! fights over it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::json;

use crate::names::SHARED_OWNER;
use crate::plan::{Plan, StepKind};
use crate::release::Object;

/// Where the Flux objects point.
#[derive(Debug, Clone)]
pub struct FluxOptions {
    /// The namespace of the Flux objects in the management cluster.
    pub namespace: String,
    /// The source every Kustomization reads (`GitRepository`, `Bucket`, `OCIRepository`).
    pub source_kind: String,
    /// Its name.
    pub source_name: String,
    /// The path of the rendered tree inside the source's artifact (`./` for its root).
    pub path_prefix: String,
    /// How often Flux reconciles.
    pub interval: String,
}

impl Default for FluxOptions {
    fn default() -> Self {
        FluxOptions {
            namespace: "flux-system".into(),
            source_kind: "GitRepository".into(),
            source_name: "tkn-multi".into(),
            path_prefix: "./".into(),
            interval: "10m".into(),
        }
    }
}

/// The name of a cluster's kubeconfig Secret (in [`FluxOptions::namespace`]).
pub fn kubeconfig_secret(cluster: &str) -> String {
    format!("{cluster}-kubeconfig")
}

/// The name of the Flux Kustomization of `owner` on `cluster`.
pub fn kustomization_name(cluster: &str, owner: &str) -> String {
    format!("tkn-multi-{cluster}-{owner}")
}

/// The files of one cluster: its objects (from `plan`, made against an empty cluster) by owner,
/// a `kustomization.yaml` per owner, and `flux/<cluster>.yaml`.
///
/// # Errors
/// An object that cannot be written as YAML.
pub fn cluster_tree(
    cluster: &str,
    plan: &Plan,
    opts: &FluxOptions,
) -> Result<Vec<(PathBuf, String)>, crate::yaml::Error> {
    let mut by_owner: BTreeMap<&str, Vec<Object>> = BTreeMap::new();
    for s in &plan.steps {
        let StepKind::Object { owner, retain, hash, immutable_hash, .. } = &s.kind else {
            continue;
        };
        let Some(o) = plan.manifests.get(&s.index) else { continue };
        let mut o = o.clone();
        // As tkn-multi applies it: the next plan reads these and finds nothing to change.
        o.set_annotation(crate::managed::ANNOTATION_HASH, hash);
        o.set_annotation(crate::managed::ANNOTATION_IMMUTABLE_HASH, immutable_hash);
        if *retain || o.kind() == "CustomResourceDefinition" {
            o.set_annotation("kustomize.toolkit.fluxcd.io/prune", "disabled");
        }
        by_owner.entry(owner.as_str()).or_default().push(o);
    }
    let mut files = Vec::new();
    let mut flux = Vec::new();
    let shared = kustomization_name(cluster, SHARED_OWNER);
    for (owner, objects) in &by_owner {
        let dir = if *owner == SHARED_OWNER {
            PathBuf::from(cluster).join("shared")
        } else {
            PathBuf::from(cluster).join("instances").join(owner)
        };
        let tree = super::manifests::to_tree(objects)?;
        let mut resources: Vec<String> = tree.iter().map(|(p, _)| p.clone()).collect();
        resources.sort();
        for (rel, content) in tree {
            files.push((dir.join(rel), content));
        }
        let kustomization = json!({
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": resources,
        });
        files.push((dir.join("kustomization.yaml"), crate::yaml::to_string(&kustomization)?));
        let mut spec = json!({
            "interval": opts.interval,
            "path": format!("{}{}", opts.path_prefix, dir.to_string_lossy()),
            "prune": true,
            "wait": true,
            "timeout": "5m",
            "sourceRef": {"kind": opts.source_kind, "name": opts.source_name},
            "kubeConfig": {"secretRef": {"name": kubeconfig_secret(cluster)}},
        });
        if *owner != SHARED_OWNER && by_owner.contains_key(SHARED_OWNER) {
            spec["dependsOn"] = json!([{"name": shared}]);
        }
        flux.push(json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {
                "name": kustomization_name(cluster, owner),
                "namespace": opts.namespace,
                "labels": {
                    "app.kubernetes.io/managed-by": "tkn-multi",
                    "tkn-multi.tekton.dev/cluster": cluster,
                    "tkn-multi.tekton.dev/owner": owner,
                },
            },
            "spec": spec,
        }));
    }
    let mut stream = String::new();
    for doc in crate::yaml::to_strings(&flux)? {
        stream.push_str("---\n");
        stream.push_str(&doc);
    }
    files.push((PathBuf::from("flux").join(format!("{cluster}.yaml")), stream));
    Ok(files)
}

/// `flux/kustomization.yaml`: the clusters' Flux files as one kustomize tree, for the parent
/// `Kustomization` that applies them to the management cluster (removing a cluster's or an
/// instance's Kustomization from the tree prunes it, and its finalizer prunes its objects).
///
/// # Errors
/// None in practice (a list of strings serialises).
pub fn index(clusters: &[&str]) -> Result<(PathBuf, String), crate::yaml::Error> {
    let resources: Vec<String> = clusters.iter().map(|c| format!("{c}.yaml")).collect();
    let k = json!({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": resources,
    });
    Ok((PathBuf::from("flux").join("kustomization.yaml"), crate::yaml::to_string(&k)?))
}
