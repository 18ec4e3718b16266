//! Changes a user asks for on top of the rendered release: image registry relocation and
//! per-Deployment settings (replicas, resources, node selectors, tolerations). **Pure.**
//!
//! Relocation rewrites every image a Tekton Deployment names — its containers' and init
//! containers' `image`, and the controller's `-*-image` arguments (`-entrypoint-image`,
//! `-shell-image`, `-shell-image-win`, …), which name the images of every Task's steps — to the
//! same repository path, tag and digest under a mirror: what `crane copy` / `skopeo sync`
//! produce when an air-gapped user mirrors the release's images.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::release::Object;

/// A registry (and optional path prefix) images are relocated to: `mirror.example.com:5000`,
/// `mirror.example.com/tekton`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct ImageRegistry(String);

/// Not a registry prefix.
#[derive(Debug, thiserror::Error)]
#[error(
    "`{0}` is not an image registry: expected a host with an optional port and path, such as `mirror.example.com:5000/tekton` (no scheme, no tag, no trailing `/`)"
)]
pub struct InvalidRegistry(String);

impl FromStr for ImageRegistry {
    type Err = InvalidRegistry;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || InvalidRegistry(s.to_owned());
        let (host, path) = s.split_once('/').unwrap_or((s, ""));
        let (hostname, port) = host.split_once(':').unwrap_or((host, ""));
        let host_ok = !hostname.is_empty()
            && hostname.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
            && !hostname.starts_with(['.', '-'])
            && (port.is_empty() && !host.contains(':')
                || !port.is_empty() && port.chars().all(|c| c.is_ascii_digit()));
        let host_ok = host_ok
            && hostname.len() <= 253
            && hostname.split('.').all(|l| !l.is_empty() && !l.ends_with('-'))
            && (port.is_empty() || port.parse::<u16>().is_ok_and(|p| p > 0));
        let path_ok = (path.is_empty() && !s.ends_with('/'))
            || path.split('/').all(|c| {
                c.starts_with(|ch: char| ch.is_ascii_lowercase() || ch.is_ascii_digit())
                    && c.ends_with(|ch: char| ch.is_ascii_lowercase() || ch.is_ascii_digit())
                    && c.chars().all(|ch| {
                        ch.is_ascii_lowercase() || ch.is_ascii_digit() || "._-".contains(ch)
                    })
            });
        if host_ok && path_ok { Ok(ImageRegistry(s.to_owned())) } else { Err(bad()) }
    }
}

impl<'de> Deserialize<'de> for ImageRegistry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for ImageRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl ImageRegistry {
    /// `image` under this registry: its registry host replaced, its repository path, tag and
    /// digest kept. An image with no registry host is Docker Hub's, whose one-part names live
    /// under `library/` (`busybox` → `<registry>/library/busybox`).
    pub fn relocate(&self, image: &str) -> String {
        let (name, digest) = match image.find('@') {
            Some(at) => image.split_at(at),
            None => (image, ""),
        };
        let path = match name.split_once('/') {
            // Docker's rule: the first component is a host if it has a `.` or `:`, or is
            // `localhost`.
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                rest.to_owned()
            }
            Some(_) => name.to_owned(),
            None => format!("library/{name}"),
        };
        format!("{}/{path}{digest}", self.0)
    }
}

/// Settings of one Deployment of an instance (every field optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeploymentOverride {
    /// `spec.replicas`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u32>,
    /// Every container's `resources` (requests and limits), replacing the release's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    /// The pod's `nodeSelector`, replacing the release's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<BTreeMap<String, String>>,
    /// The pod's `tolerations`, replacing the release's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerations: Option<Vec<Toleration>>,
}

impl DeploymentOverride {
    /// Why these settings are not what Kubernetes accepts, if they are not: replicas within
    /// `int32`, resource names and non-negative quantities, label keys and values of the node
    /// selector, and tolerations as Kubernetes validates them.
    pub fn problem(&self) -> Option<String> {
        if let Some(n) = self.replicas
            && n > i32::MAX as u32
        {
            return Some(format!("replicas {n} is over {}", i32::MAX));
        }
        if let Some(r) = &self.resources {
            for (which, map) in [("requests", &r.requests), ("limits", &r.limits)] {
                for (name, q) in map {
                    if !qualified_name(name) {
                        return Some(format!("resources.{which}: `{name}` is not a resource name"));
                    }
                    if !quantity(q) {
                        return Some(format!(
                            "resources.{which}.{name}: `{q}` is not a non-negative quantity (e.g. `500m`, `1`, `256Mi`)"
                        ));
                    }
                }
            }
        }
        for (k, v) in self.node_selector.iter().flatten() {
            if !qualified_name(k) {
                return Some(format!("nodeSelector: `{k}` is not a label key"));
            }
            if !label_value(v) {
                return Some(format!("nodeSelector.{k}: `{v}` is not a label value"));
            }
        }
        for t in self.tolerations.iter().flatten() {
            if let Some(why) = t.problem() {
                return Some(format!("tolerations: {why}"));
            }
        }
        None
    }
}

impl Toleration {
    /// Why Kubernetes would refuse this toleration, if it would.
    fn problem(&self) -> Option<String> {
        let op = self.operator.as_deref().unwrap_or("Equal");
        if !matches!(op, "Equal" | "Exists") {
            return Some(format!("operator `{op}` is not `Equal` or `Exists`"));
        }
        if let Some(k) = &self.key
            && !k.is_empty()
            && !qualified_name(k)
        {
            return Some(format!("key `{k}` is not a label key"));
        }
        if self.key.as_deref().unwrap_or_default().is_empty() && op != "Exists" {
            return Some("an empty key needs operator `Exists`".into());
        }
        if op == "Exists" && self.value.as_deref().is_some_and(|v| !v.is_empty()) {
            return Some("operator `Exists` takes no value".into());
        }
        if let Some(v) = &self.value
            && !label_value(v)
        {
            return Some(format!("value `{v}` is not a label value"));
        }
        if let Some(e) = &self.effect
            && !matches!(e.as_str(), "" | "NoSchedule" | "PreferNoSchedule" | "NoExecute")
        {
            return Some(format!(
                "effect `{e}` is not `NoSchedule`, `PreferNoSchedule` or `NoExecute`"
            ));
        }
        if self.toleration_seconds.is_some() && self.effect.as_deref() != Some("NoExecute") {
            return Some("tolerationSeconds needs effect `NoExecute`".into());
        }
        None
    }
}

/// A qualified name (label keys, resource names): an optional DNS-subdomain prefix and `/`, then
/// a name of at most 63 characters, alphanumeric at both ends, with `-`, `_`, `.` inside.
fn qualified_name(s: &str) -> bool {
    let (prefix, name) = match s.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    let prefix_ok = prefix.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 253
            && p.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            })
    });
    prefix_ok && !name.is_empty() && label_value(name)
}

/// A label value: at most 63 characters, empty or alphanumeric at both ends with `-`, `_`, `.`
/// inside.
fn label_value(s: &str) -> bool {
    s.len() <= 63
        && (s.is_empty()
            || s.starts_with(|c: char| c.is_ascii_alphanumeric())
                && s.ends_with(|c: char| c.is_ascii_alphanumeric())
                && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)))
}

/// A non-negative Kubernetes quantity: a decimal number, then a binary (`Ki` … `Ei`), decimal
/// (`m`, `k`, `M` … `E`) or exponent (`e3`) suffix.
fn quantity(s: &str) -> bool {
    let s = s.strip_prefix('+').unwrap_or(s);
    let digits_end = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (number, suffix) = s.split_at(digits_end);
    let number_ok = !number.is_empty() && number != "." && number.matches('.').count() <= 1;
    let suffix_ok = matches!(
        suffix,
        "" | "Ki"
            | "Mi"
            | "Gi"
            | "Ti"
            | "Pi"
            | "Ei"
            | "n"
            | "u"
            | "m"
            | "k"
            | "M"
            | "G"
            | "T"
            | "P"
            | "E"
    ) || suffix
        .strip_prefix(['e', 'E'])
        .map(|e| e.strip_prefix(['+', '-']).unwrap_or(e))
        .is_some_and(|e| !e.is_empty() && e.chars().all(|c| c.is_ascii_digit()));
    number_ok && suffix_ok
}

/// A container's requests and limits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Resources {
    /// `requests` (`cpu`, `memory`, …).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub requests: BTreeMap<String, String>,
    /// `limits`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub limits: BTreeMap<String, String>,
}

/// A pod toleration, as Kubernetes spells it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Toleration {
    /// The taint key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// `Equal` or `Exists`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    /// The taint value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// `NoSchedule`, `PreferNoSchedule` or `NoExecute`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<String>,
    /// How long a `NoExecute` taint is tolerated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub toleration_seconds: Option<i64>,
}

/// Everything overridden on one instance (or, for the registry, the shared layer).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// Relocate every image to this registry.
    pub image_registry: Option<ImageRegistry>,
    /// Settings by Deployment name (`tekton-pipelines-controller`, …).
    pub deployments: BTreeMap<String, DeploymentOverride>,
}

impl Overrides {
    /// Only a registry.
    pub fn registry(image_registry: Option<ImageRegistry>) -> Self {
        Overrides { image_registry, deployments: BTreeMap::new() }
    }

    /// Applies these overrides to one rendered object (only Deployments change).
    pub fn apply(&self, o: &mut Object) {
        if o.kind() != "Deployment" {
            return;
        }
        if let Some(registry) = &self.image_registry {
            relocate(o, registry);
        }
        let Some(d) = self.deployments.get(o.name()) else { return };
        if let Some(n) = d.replicas {
            o.as_map_mut()
                .get_mut("spec")
                .and_then(Value::as_object_mut)
                .map(|s| s.insert("replicas".into(), Value::from(n)));
        }
        let Some(pod) = o.pointer_mut("/spec/template/spec").and_then(Value::as_object_mut) else {
            return;
        };
        if let Some(r) = &d.resources {
            let r = serde_json::to_value(r).expect("resources serialise");
            for c in pod.get_mut("containers").and_then(Value::as_array_mut).into_iter().flatten() {
                c.as_object_mut().map(|c| c.insert("resources".into(), r.clone()));
            }
        }
        if let Some(s) = &d.node_selector {
            pod.insert("nodeSelector".into(), serde_json::to_value(s).expect("a map serialises"));
        }
        if let Some(t) = &d.tolerations {
            pod.insert(
                "tolerations".into(),
                serde_json::to_value(t).expect("tolerations serialise"),
            );
        }
    }
}

/// Whether a container argument is a flag whose value is an image (`-shell-image`,
/// `--entrypoint-image`, `-shell-image-win`).
fn is_image_flag(arg: &str) -> bool {
    let flag = arg.trim_start_matches('-');
    arg.starts_with('-') && (flag.ends_with("-image") || flag.ends_with("-image-win"))
}

/// Relocates every image of a Deployment's pod: containers', init containers', and the values
/// of `-*-image` arguments (`-flag value` and `-flag=value`).
fn relocate(o: &mut Object, registry: &ImageRegistry) {
    let Some(pod) = o.pointer_mut("/spec/template/spec").and_then(Value::as_object_mut) else {
        return;
    };
    for list in ["initContainers", "containers"] {
        for c in pod.get_mut(list).and_then(Value::as_array_mut).into_iter().flatten() {
            if let Some(Value::String(image)) = c.get_mut("image") {
                *image = registry.relocate(image);
            }
            let Some(args) = c.get_mut("args").and_then(Value::as_array_mut) else { continue };
            let mut value_next = false;
            for a in args.iter_mut() {
                let Value::String(s) = a else {
                    value_next = false;
                    continue;
                };
                if value_next {
                    *s = registry.relocate(s);
                    value_next = false;
                } else if let Some((flag, value)) = s.split_once('=')
                    && is_image_flag(flag)
                {
                    *s = format!("{flag}={}", registry.relocate(value));
                } else {
                    value_next = is_image_flag(s);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_settings_are_checked_as_kubernetes_would() {
        let d = |y: &str| -> DeploymentOverride { crate::yaml::from_str(y).unwrap() };
        assert_eq!(d("{replicas: 2, resources: {requests: {cpu: 500m, memory: 256Mi}, limits: {cpu: '1', memory: 1e9}}, nodeSelector: {kubernetes.io/os: linux}, tolerations: [{key: dedicated, operator: Equal, value: tekton, effect: NoSchedule}, {operator: Exists}]}").problem(), None);
        for (y, why) in [
            ("{replicas: 4294967295}", "is over 2147483647"),
            ("{resources: {requests: {cpu: lots}}}", "`lots` is not a non-negative quantity"),
            ("{resources: {limits: {memory: -5Gi}}}", "`-5Gi` is not a non-negative quantity"),
            ("{nodeSelector: {'bad key!': x}}", "`bad key!` is not a label key"),
            ("{tolerations: [{key: a, operator: Bogus}]}", "operator `Bogus`"),
            ("{tolerations: [{key: a, operator: Exists, value: b}]}", "takes no value"),
            ("{tolerations: [{key: a, effect: Sometimes}]}", "effect `Sometimes`"),
        ] {
            let p = d(y).problem().unwrap_or_else(|| panic!("{y} accepted"));
            assert!(p.contains(why), "{y}: {p}");
        }
    }

    #[test]
    fn registries_are_hosts_with_ports_and_clean_paths() {
        for ok in ["mirror.example.com:5000", "m.local/tekton", "10.0.0.1:443/a/b-c"] {
            assert!(ok.parse::<ImageRegistry>().is_ok(), "{ok}");
        }
        for bad in ["host/../..", "a..b", "m:99999999999", "m:0", "https://m", "m/", "m/.hidden"] {
            assert!(bad.parse::<ImageRegistry>().is_err(), "{bad}");
        }
    }

    fn reg(s: &str) -> ImageRegistry {
        s.parse().unwrap()
    }

    #[test]
    fn relocation_replaces_the_host_and_keeps_path_tag_and_digest() {
        let r = reg("mirror.local:5000/tekton");
        for (from, to) in [
            (
                "gcr.io/tekton-releases/github.com/tektoncd/pipeline/cmd/controller:v0.56.0@sha256:ab",
                "mirror.local:5000/tekton/tekton-releases/github.com/tektoncd/pipeline/cmd/controller:v0.56.0@sha256:ab",
            ),
            (
                "020300.ihome.sxxpqp.top:8443/tektoncd/pipeline/nop-8e:v1.9.0@sha256:08",
                "mirror.local:5000/tekton/tektoncd/pipeline/nop-8e:v1.9.0@sha256:08",
            ),
            (
                "mcr.microsoft.com/powershell:nanoserver@sha256:b6",
                "mirror.local:5000/tekton/powershell:nanoserver@sha256:b6",
            ),
            ("busybox@sha256:19", "mirror.local:5000/tekton/library/busybox@sha256:19"),
            ("chainguard/busybox:1", "mirror.local:5000/tekton/chainguard/busybox:1"),
            ("localhost/x/y", "mirror.local:5000/tekton/x/y"),
        ] {
            assert_eq!(r.relocate(from), to);
        }
    }

    #[test]
    fn registries_are_checked() {
        for ok in ["mirror.local", "mirror.local:5000", "m/a/b", "10.0.0.1:5000/t-1"] {
            ok.parse::<ImageRegistry>().unwrap();
        }
        for bad in ["", "https://m", "m/", "m:port", "m/Upper", "m//x", "-m", "m:5000:1"] {
            assert!(bad.parse::<ImageRegistry>().is_err(), "{bad}");
        }
    }

    fn deployment() -> Object {
        let v = serde_json::json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "tekton-pipelines-controller", "namespace": "tekton-a"},
            "spec": {"replicas": 1, "template": {"spec": {
                "initContainers": [{"name": "i", "image": "gcr.io/a/init:1"}],
                "containers": [{
                    "name": "c", "image": "gcr.io/a/controller:v1@sha256:00",
                    "args": ["-entrypoint-image", "gcr.io/a/entrypoint@sha256:01",
                             "-shell-image-win", "mcr.microsoft.com/powershell:nano@sha256:02",
                             "--nop-image=gcr.io/a/nop:v1", "-kubeconfig", "gcr.io/not/an-image"]
                }]
            }}}
        });
        Object::from_map(v.as_object().unwrap().clone())
    }

    #[test]
    fn every_image_of_a_deployment_moves_and_settings_apply_by_name() {
        let mut o = deployment();
        let ov = Overrides {
            image_registry: Some(reg("m.local")),
            deployments: BTreeMap::from([(
                "tekton-pipelines-controller".into(),
                DeploymentOverride {
                    replicas: Some(3),
                    resources: Some(Resources {
                        requests: BTreeMap::from([("cpu".into(), "100m".into())]),
                        limits: BTreeMap::new(),
                    }),
                    node_selector: Some(BTreeMap::from([("pool".into(), "ci".into())])),
                    tolerations: Some(vec![Toleration {
                        key: Some("ci".into()),
                        operator: Some("Exists".into()),
                        ..Toleration::default()
                    }]),
                },
            )]),
        };
        ov.apply(&mut o);
        let pod = o.pointer("/spec/template/spec").unwrap();
        assert_eq!(pod["initContainers"][0]["image"], "m.local/a/init:1");
        let c = &pod["containers"][0];
        assert_eq!(c["image"], "m.local/a/controller:v1@sha256:00");
        assert_eq!(
            c["args"],
            serde_json::json!([
                "-entrypoint-image",
                "m.local/a/entrypoint@sha256:01",
                "-shell-image-win",
                "m.local/powershell:nano@sha256:02",
                "--nop-image=m.local/a/nop:v1",
                "-kubeconfig",
                "gcr.io/not/an-image"
            ])
        );
        assert_eq!(c["resources"], serde_json::json!({"requests": {"cpu": "100m"}}));
        assert_eq!(o.pointer("/spec/replicas").unwrap(), 3);
        assert_eq!(pod["nodeSelector"], serde_json::json!({"pool": "ci"}));
        assert_eq!(pod["tolerations"], serde_json::json!([{"key": "ci", "operator": "Exists"}]));

        // Another Deployment only moves; a ConfigMap is untouched.
        let mut other = deployment();
        other.set_name("tekton-events-controller");
        ov.apply(&mut other);
        assert_eq!(other.pointer("/spec/replicas").unwrap(), 1);
        assert!(other.pointer("/spec/template/spec/nodeSelector").is_none());
    }
}
