//! Deriving a [`ReleaseRecord`] from a release. **Pure.**
//!
//! Everything except `controller_consumes` is read from the release file itself. What the
//! controller consumes is not in the manifest; it comes from the informer imports in
//! `pkg/reconciler/*/controller.go` of tektoncd/pipeline at each tag (table below, sources in
//! `docs/compat-matrix.md`), and is part of the generated record so that the matrix is one file per
//! release.

use serde_json::Value;

use super::records::{
    ApiRef, Conversion, CrdRecord, FORMAT_VERSION, NamespaceScoping, Provenance, ReleaseRecord,
    Scope,
};
use crate::release::capabilities::Capabilities;
use crate::release::{Object, Release, TektonVersion};

/// Derives the record of `release`, whose file has sha256 `sha256`.
pub fn derive_record(release: &Release, sha256: &str) -> ReleaseRecord {
    let v = &release.version;
    let caps = Capabilities::of(v);
    let has_component = |c: &str| {
        release
            .objects
            .iter()
            .any(|o| o.kind() == "Deployment" && o.label("app.kubernetes.io/component") == Some(c))
    };
    let mut crds: Vec<CrdRecord> = release
        .objects
        .iter()
        .filter(|o| {
            o.kind() == "CustomResourceDefinition" && o.api_version() == "apiextensions.k8s.io/v1"
        })
        .filter_map(crd_record)
        .collect();
    crds.sort_by(|a, b| a.name.cmp(&b.name));
    ReleaseRecord {
        format_version: FORMAT_VERSION.into(),
        version: v.clone(),
        release_sha256: sha256.to_owned(),
        provenance: if release.rebuilt_from_source {
            Provenance::RebuiltFromSource
        } else {
            Provenance::Upstream
        },
        image_registry: image_registry(release).unwrap_or_default(),
        min_kubernetes_version: min_kubernetes_version(release)
            .or_else(|| documented_min_kubernetes(v)),
        namespace_scoping: NamespaceScoping {
            controller: caps.controller_namespace_flag,
            resolvers: has_component("resolvers").then_some(caps.resolvers_namespace_scope),
            events_controller: has_component("events").then_some(caps.events_namespace_scope),
        },
        capabilities: caps,
        crds,
        controller_consumes: controller_consumes(v),
    }
}

fn crd_record(o: &Object) -> Option<CrdRecord> {
    let spec = o.pointer("/spec")?;
    let s = |p: &str| spec.pointer(p).and_then(Value::as_str).map(str::to_owned);
    let mut served = vec![];
    let mut unserved = vec![];
    let mut storage = String::new();
    for v in spec.get("versions")?.as_array()? {
        let name = v.get("name")?.as_str()?.to_owned();
        if v.get("storage").and_then(Value::as_bool) == Some(true) {
            storage.clone_from(&name);
        }
        if v.get("served").and_then(Value::as_bool) == Some(true) {
            served.push(name);
        } else {
            unserved.push(name);
        }
    }
    let conversion = match s("/conversion/strategy").as_deref() {
        Some("Webhook") => Conversion::Webhook,
        _ => Conversion::None,
    };
    Some(CrdRecord {
        name: o.name().to_owned(),
        group: s("/group")?,
        kind: s("/names/kind")?,
        plural: s("/names/plural")?,
        scope: if s("/scope").as_deref() == Some("Cluster") {
            Scope::Cluster
        } else {
            Scope::Namespaced
        },
        served,
        unserved,
        storage,
        conversion,
    })
}

/// The registry host of the controller image (`gcr.io`, `ghcr.io`, …).
fn image_registry(release: &Release) -> Option<String> {
    let ctrl = release.objects.iter().find(|o| {
        o.kind() == "Deployment" && o.label("app.kubernetes.io/component") == Some("controller")
    })?;
    let image = ctrl.pointer("/spec/template/spec/containers/0/image")?.as_str()?;
    image.split('/').next().map(str::to_owned)
}

/// `KUBERNETES_MIN_VERSION` from the controller's env (declared from v1.x on).
fn min_kubernetes_version(release: &Release) -> Option<String> {
    release.objects.iter().filter(|o| o.kind() == "Deployment").find_map(|o| {
        let env = o.pointer("/spec/template/spec/containers/0/env")?.as_array()?;
        env.iter()
            .find(|e| e["name"] == "KUBERNETES_MIN_VERSION")
            .and_then(|e| e["value"].as_str())
            .map(str::to_owned)
    })
}

/// The minimum Kubernetes version Tekton's README gives for the release line of `v` ("Required
/// Kubernetes Version": v0.24 → 1.18, v0.27 → 1.19, v0.30 → 1.20, v0.33 → 1.21, v0.39 → 1.22,
/// v0.41 → 1.23, v0.45 → 1.24, v0.51 → 1.25, v0.59 → 1.27, v0.61 → 1.28), for releases that do
/// not declare `KUBERNETES_MIN_VERSION`; `None` before v0.24, where the README states none.
pub fn documented_min_kubernetes(v: &TektonVersion) -> Option<String> {
    const TABLE: &[((u64, u64), &str)] = &[
        ((0, 61), "v1.28.0"),
        ((0, 59), "v1.27.0"),
        ((0, 51), "v1.25.0"),
        ((0, 45), "v1.24.0"),
        ((0, 41), "v1.23.0"),
        ((0, 39), "v1.22.0"),
        ((0, 33), "v1.21.0"),
        ((0, 30), "v1.20.0"),
        ((0, 27), "v1.19.0"),
        ((0, 24), "v1.18.0"),
    ];
    TABLE
        .iter()
        .find(|((major, minor), _)| v.at_least(*major, *minor, 0))
        .map(|(_, k)| (*k).to_owned())
}

/// The APIs a controller of `v` opens informers on, from the informer imports of
/// `pkg/reconciler/*/controller.go` at each tag (research notes §5.2).
pub fn controller_consumes(v: &TektonVersion) -> Vec<ApiRef> {
    let at = |major, minor| v.at_least(major, minor, 0);
    let api = |g: &str, ver: &str, r: &str| ApiRef {
        group: g.into(),
        version: ver.into(),
        resource: r.into(),
    };
    let run_version = if at(0, 49) { "v1" } else { "v1beta1" };
    let mut out = vec![
        api("tekton.dev", run_version, "taskruns"),
        api("tekton.dev", run_version, "pipelineruns"),
    ];
    if !at(0, 32) {
        // v0.24–v0.31 also watch the definitions themselves.
        out.push(api("tekton.dev", "v1beta1", "tasks"));
        out.push(api("tekton.dev", "v1beta1", "pipelines"));
        out.push(api("tekton.dev", "v1beta1", "clustertasks"));
    }
    if !at(0, 37) {
        out.push(api("tekton.dev", "v1alpha1", "conditions"));
    }
    if !at(0, 47) {
        out.push(api("tekton.dev", "v1alpha1", "runs"));
    }
    if !at(0, 46) {
        out.push(api("tekton.dev", "v1alpha1", "pipelineresources"));
    }
    if at(0, 35) {
        let rr = if at(0, 41) { "v1beta1" } else { "v1alpha1" };
        out.push(api("resolution.tekton.dev", rr, "resolutionrequests"));
    }
    if at(0, 42) {
        out.push(api("tekton.dev", "v1beta1", "customruns"));
    }
    if at(0, 43) {
        out.push(api("tekton.dev", "v1alpha1", "verificationpolicies"));
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn consumes(v: &str) -> Vec<String> {
        controller_consumes(&v.parse().unwrap()).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn documented_minimum_kubernetes_follows_the_readme() {
        let min = |v: &str| documented_min_kubernetes(&v.parse().unwrap());
        assert_eq!(min("v0.23.0"), None);
        assert_eq!(min("v0.24.1").as_deref(), Some("v1.18.0"));
        assert_eq!(min("v0.50.3").as_deref(), Some("v1.24.0"));
        assert_eq!(min("v0.64.0").as_deref(), Some("v1.28.0"));
    }

    #[test]
    fn controllers_switch_to_v1_at_v0_49() {
        assert!(consumes("v0.48.0").contains(&"tekton.dev/v1beta1/taskruns".to_owned()));
        assert!(consumes("v0.49.0").contains(&"tekton.dev/v1/taskruns".to_owned()));
    }

    #[test]
    fn legacy_informers_end_where_upstream_removed_them() {
        assert!(consumes("v0.36.0").contains(&"tekton.dev/v1alpha1/conditions".to_owned()));
        assert!(!consumes("v0.37.5").contains(&"tekton.dev/v1alpha1/conditions".to_owned()));
        assert!(consumes("v0.45.0").contains(&"tekton.dev/v1alpha1/pipelineresources".to_owned()));
        assert!(!consumes("v0.46.0").contains(&"tekton.dev/v1alpha1/pipelineresources".to_owned()));
        assert!(consumes("v0.46.0").contains(&"tekton.dev/v1alpha1/runs".to_owned()));
        assert!(!consumes("v0.47.5").contains(&"tekton.dev/v1alpha1/runs".to_owned()));
    }
}
