//! The one door every release file comes through: download, cache, bundle, `--release-file`,
//! `--release-dir`, `matrix generate`, and the records derived at run time. **Pure.**
//!
//! A release file is untrusted input: tkn-multi renders cluster-wide RBAC, webhooks and CRDs from
//! it, and derives the matrix record of a version it has never seen from it. [`release`] accepts a
//! file only when
//! 1. it stays within byte and document budgets that hold whatever its size ([`MAX_BYTES`],
//!    [`MAX_DOCUMENTS`]), checked before the YAML parser runs;
//! 2. it parses into Kubernetes objects ([`crate::release::parse`]);
//! 3. it **proves its version**: every Deployment carries the version label, every version label
//!    and the `pipelines-info` `ConfigMap` name the version asked for (`devel` is refused here), and
//!    every Tekton image reference is tagged with it;
//! 4. **every object is placed by a split rule** and stays within what a Tekton Pipelines release
//!    ships: known kinds, only the release's own namespaces, RBAC that grants no `*` and binds only
//!    the release's own roles to the release's own service accounts, no host access in pod specs,
//!    CRDs of Tekton groups whose conversion goes to Tekton's webhook, webhook configurations that
//!    call only the release's Services.
//!
//! Each refusal names the object (kind and name) and the reason. Nothing is placed by guesswork.

use serde_json::Value;

use crate::release::parse::{self, parse_release};
use crate::release::{Object, ObjectRef, Release, TektonVersion};
use crate::split::{self, Rule, UPSTREAM_NAMESPACE, UPSTREAM_RESOLVERS_NAMESPACE};

/// The largest release file accepted. Real ones are 0.3–1.6 MB.
pub const MAX_BYTES: usize = 16 * 1024 * 1024;
/// The most YAML documents a release file may have. Real ones have 45–80.
pub const MAX_DOCUMENTS: usize = 1_000;

/// The namespaces a Tekton Pipelines release puts objects in.
const RELEASE_NAMESPACES: &[&str] = &[UPSTREAM_NAMESPACE, UPSTREAM_RESOLVERS_NAMESPACE];

/// The kinds a Tekton Pipelines release ships (v0.22 → v1.15), each with the API versions seen.
const KINDS: &[(&str, &[&str])] = &[
    ("Namespace", &["v1"]),
    ("CustomResourceDefinition", &["apiextensions.k8s.io/v1", "apiextensions.k8s.io/v1beta1"]),
    ("ServiceAccount", &["v1"]),
    ("ClusterRole", &["rbac.authorization.k8s.io/v1"]),
    ("Role", &["rbac.authorization.k8s.io/v1"]),
    ("ClusterRoleBinding", &["rbac.authorization.k8s.io/v1", "rbac.authorization.k8s.io/v1beta1"]),
    ("RoleBinding", &["rbac.authorization.k8s.io/v1", "rbac.authorization.k8s.io/v1beta1"]),
    ("ConfigMap", &["v1"]),
    ("Secret", &["v1"]),
    ("Service", &["v1"]),
    ("Deployment", &["apps/v1"]),
    ("HorizontalPodAutoscaler", &["autoscaling/v2", "autoscaling/v2beta1"]),
    ("MutatingWebhookConfiguration", &["admissionregistration.k8s.io/v1"]),
    ("ValidatingWebhookConfiguration", &["admissionregistration.k8s.io/v1"]),
    ("PodSecurityPolicy", &["policy/v1beta1"]),
];

/// Why a release file is refused.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Not a release at all (not text, not YAML, not objects, no Tekton CRDs, another version).
    #[error(transparent)]
    Parse(#[from] parse::Error),
    /// Over the byte budget.
    #[error("release `{origin}` is {bytes} bytes; a release file may have at most {MAX_BYTES}")]
    TooLarge {
        /// Where the bytes came from.
        origin: String,
        /// Its size.
        bytes: usize,
    },
    /// Over the document budget.
    #[error(
        "release `{origin}` has {documents} YAML documents; a release file may have at most {MAX_DOCUMENTS}"
    )]
    TooManyDocuments {
        /// Where the bytes came from.
        origin: String,
        /// How many.
        documents: usize,
    },
    /// The file does not prove it is the version asked for.
    #[error("release `{origin}` does not prove it is Tekton Pipelines {version}: {why}")]
    Unproven {
        /// Where the bytes came from.
        origin: String,
        /// The version asked for.
        version: TektonVersion,
        /// What is missing or disagrees.
        why: String,
    },
    /// An object no rule places, or one a Tekton release does not ship.
    #[error("release `{origin}` is refused: {object}: {why}")]
    Refused {
        /// Where the bytes came from.
        origin: String,
        /// The object.
        object: ObjectRef,
        /// Why.
        why: String,
    },
}

/// Accepts `bytes` as the release `version` from `origin`, or says why not.
///
/// # Errors
/// See [`Error`]: the first problem found, naming the object where there is one.
pub fn release(bytes: &[u8], version: &TektonVersion, origin: &str) -> Result<Release, Error> {
    if bytes.len() > MAX_BYTES {
        return Err(Error::TooLarge { origin: origin.into(), bytes: bytes.len() });
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        let documents = crate::yaml::count_documents(text);
        if documents > MAX_DOCUMENTS {
            return Err(Error::TooManyDocuments { origin: origin.into(), documents });
        }
    }
    let release = parse_release(bytes, version, origin)?;
    prove_version(&release, origin)?;
    vet(&release, origin)?;
    Ok(release)
}

fn prove_version(release: &Release, origin: &str) -> Result<(), Error> {
    let want = release.version.to_string();
    let unproven = |why: String| Error::Unproven {
        origin: origin.into(),
        version: release.version.clone(),
        why,
    };
    let mut deployments = 0;
    let mut tekton_images = 0;
    for o in &release.objects {
        for key in ["app.kubernetes.io/version", "pipeline.tekton.dev/release"] {
            if let Some(found) = o.label(key)
                && found != want
            {
                return Err(unproven(format!("{} has label {key}={found}", o.object_ref())));
            }
        }
        if o.kind() == "Deployment" {
            deployments += 1;
            let labelled = o.label("app.kubernetes.io/version").is_some()
                || o.label("pipeline.tekton.dev/release").is_some();
            if !labelled {
                return Err(unproven(format!("{} carries no version label", o.object_ref())));
            }
            let mut strings = Vec::new();
            collect_strings(o.pointer("/spec/template/spec").unwrap_or(&Value::Null), &mut strings);
            for s in strings {
                for token in s.split(|c: char| c.is_whitespace() || c == '=' || c == ',') {
                    if let Some(tag) = tekton_image_tag(token) {
                        tekton_images += 1;
                        if tag != want {
                            return Err(unproven(format!(
                                "{} names image `{token}`, tagged {tag}",
                                o.object_ref()
                            )));
                        }
                    }
                }
            }
        }
        if o.kind() == "ConfigMap"
            && o.name() == "pipelines-info"
            && let Some(found) = o.pointer("/data/version").and_then(Value::as_str)
            && found != want
        {
            return Err(unproven(format!("{} says version {found}", o.object_ref())));
        }
    }
    if deployments == 0 || tekton_images == 0 {
        return Err(unproven("it has no Tekton Deployment with a tagged Tekton image".into()));
    }
    if release.version.at_least(0, 25, 0)
        && !release.objects.iter().any(|o| o.kind() == "ConfigMap" && o.name() == "pipelines-info")
    {
        return Err(unproven(
            "it has no `pipelines-info` ConfigMap (every release from v0.25 has one)".into(),
        ));
    }
    Ok(())
}

/// The tag of a Tekton Pipelines image reference (`…/tektoncd/pipeline/…:TAG[@sha256:…]`).
fn tekton_image_tag(token: &str) -> Option<&str> {
    if !token.contains("tektoncd/pipeline") {
        return None;
    }
    let name = token.split('@').next()?;
    let last = name.rsplit('/').next()?;
    last.split_once(':').map(|(_, tag)| tag)
}

fn collect_strings<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::String(s) => out.push(s),
        Value::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
        Value::Object(m) => m.values().for_each(|x| collect_strings(x, out)),
        _ => {}
    }
}

fn vet(release: &Release, origin: &str) -> Result<(), Error> {
    let refuse = |o: &Object, why: String| Error::Refused {
        origin: origin.into(),
        object: o.object_ref(),
        why,
    };
    let roles: Vec<(&str, &str)> = release
        .objects
        .iter()
        .filter(|o| matches!(o.kind(), "Role" | "ClusterRole"))
        .map(|o| (o.kind(), o.name()))
        .collect();
    for (o, d) in release.objects.iter().zip(split::classify(release)) {
        match KINDS.iter().find(|(k, _)| *k == o.kind()) {
            None => {
                return Err(refuse(
                    o,
                    "a Tekton Pipelines release ships no object of this kind".into(),
                ));
            }
            Some((_, versions)) if !versions.contains(&o.api_version()) => {
                return Err(refuse(o, format!("unexpected apiVersion {}", o.api_version())));
            }
            Some(_) => {}
        }
        let name = o.name();
        // 150 leaves room for the prefixes of the names tkn-multi derives (`tkn-multi:<instance>:`).
        let name_ok = name.len() <= 150
            && !name.contains("..")
            && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-.:".contains(c));
        if !name_ok {
            return Err(refuse(o, "its name is not a Kubernetes object name".into()));
        }
        if o.kind() == "Namespace" && !RELEASE_NAMESPACES.contains(&o.name()) {
            return Err(refuse(o, "a release may create only its own namespaces".into()));
        }
        if o.namespace().is_none() != crate::release::model::is_cluster_scoped(o.kind()) {
            return Err(refuse(o, "a namespaced object without a namespace".into()));
        }
        if let Some(ns) = o.namespace()
            && !RELEASE_NAMESPACES.contains(&ns)
        {
            return Err(refuse(
                o,
                format!(
                    "namespace `{ns}` is not the release's own ({})",
                    RELEASE_NAMESPACES.join(", ")
                ),
            ));
        }
        if d.rule == Rule::Unclassified {
            return Err(refuse(
                o,
                "no split rule places this object, so tkn-multi cannot tell whether it belongs to \
                 the shared layer or to an instance"
                    .into(),
            ));
        }
        if o.kind() == "Secret" && o.name() != "webhook-certs" {
            return Err(refuse(
                o,
                "the only Secret a Tekton Pipelines release ships is `webhook-certs`".into(),
            ));
        }
        let why = match o.kind() {
            "Role" | "ClusterRole" => role_problem(o),
            "RoleBinding" | "ClusterRoleBinding" => binding_problem(o, &roles),
            "Deployment" => pod_problem(o),
            "CustomResourceDefinition" => crd_problem(o),
            "MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration" => webhook_problem(o),
            _ => None,
        };
        if let Some(why) = why {
            return Err(refuse(o, why));
        }
    }
    Ok(())
}

fn strs(v: Option<&Value>) -> Vec<&str> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn role_problem(o: &Object) -> Option<String> {
    let aggregate = o.metadata().get("labels").and_then(Value::as_object).is_some_and(|l| {
        l.keys().any(|k| k.starts_with("rbac.authorization.k8s.io/aggregate-to-"))
    });
    if o.pointer("/aggregationRule").is_some() {
        return Some("aggregates other roles (no Tekton release does)".into());
    }
    for rule in o.pointer("/rules").and_then(Value::as_array).into_iter().flatten() {
        for field in ["verbs", "apiGroups", "resources", "resourceNames"] {
            if strs(rule.get(field)).iter().any(|s| s.contains('*')) {
                return Some(format!("a rule grants `*` in {field}"));
            }
        }
        if rule.get("nonResourceURLs").is_some() {
            return Some("a rule grants non-resource URLs".into());
        }
        if aggregate && strs(rule.get("apiGroups")).iter().any(|g| !g.ends_with("tekton.dev")) {
            return Some(
                "aggregated into the built-in roles, it grants more than Tekton's own API groups"
                    .into(),
            );
        }
    }
    None
}

fn binding_problem(o: &Object, roles: &[(&str, &str)]) -> Option<String> {
    let kind = o.pointer("/roleRef/kind").and_then(Value::as_str).unwrap_or_default();
    let name = o.pointer("/roleRef/name").and_then(Value::as_str).unwrap_or_default();
    if !roles.contains(&(kind, name)) || (o.kind() == "ClusterRoleBinding" && kind != "ClusterRole")
    {
        return Some(format!("binds {kind} `{name}`, which the release does not define"));
    }
    for s in o.pointer("/subjects").and_then(Value::as_array).into_iter().flatten() {
        let skind = s.get("kind").and_then(Value::as_str).unwrap_or_default();
        let sname = s.get("name").and_then(Value::as_str).unwrap_or_default();
        let sns = s.get("namespace").and_then(Value::as_str).unwrap_or_default();
        let ok = match skind {
            "ServiceAccount" => RELEASE_NAMESPACES.contains(&sns),
            // `tekton-pipelines-info` lets every user read `pipelines-info` in the system
            // namespace: a namespaced grant only.
            "Group" => o.kind() == "RoleBinding" && sname == "system:authenticated",
            _ => false,
        };
        if !ok {
            return Some(format!("binds {skind} `{sname}`, not a service account of the release"));
        }
    }
    None
}

fn pod_problem(o: &Object) -> Option<String> {
    let spec = o.pointer("/spec/template/spec")?;
    for key in ["hostNetwork", "hostPID", "hostIPC"] {
        if spec.get(key).and_then(Value::as_bool) == Some(true) {
            return Some(format!("its pods set {key}"));
        }
    }
    if spec
        .get("volumes")
        .and_then(Value::as_array)
        .is_some_and(|v| v.iter().any(|v| v.get("hostPath").is_some()))
    {
        return Some("its pods mount a hostPath volume".into());
    }
    let containers = ["containers", "initContainers", "ephemeralContainers"]
        .into_iter()
        .filter_map(|k| spec.get(k).and_then(Value::as_array))
        .flatten();
    for c in containers {
        let sc = c.get("securityContext");
        let set = |k: &str| sc.and_then(|s| s.get(k)).and_then(Value::as_bool) == Some(true);
        if set("privileged") || set("allowPrivilegeEscalation") {
            return Some("a container is privileged or may escalate privileges".into());
        }
        if !strs(sc.and_then(|s| s.pointer("/capabilities/add"))).is_empty() {
            return Some("a container adds Linux capabilities".into());
        }
    }
    None
}

fn crd_problem(o: &Object) -> Option<String> {
    let group = o.pointer("/spec/group").and_then(Value::as_str).unwrap_or_default();
    let legacy_knative = o.api_version() == "apiextensions.k8s.io/v1beta1";
    if !group.ends_with("tekton.dev") && !legacy_knative {
        return Some(format!("group `{group}` is not Tekton's"));
    }
    let conversion = o.pointer("/spec/conversion")?;
    let client = conversion.pointer("/webhook/clientConfig")?;
    if client.get("url").is_some() {
        return Some("its conversion webhook is a URL, not Tekton's webhook Service".into());
    }
    let name = client.pointer("/service/name").and_then(Value::as_str).unwrap_or_default();
    let ns = client.pointer("/service/namespace").and_then(Value::as_str).unwrap_or_default();
    (name != "tekton-pipelines-webhook" || ns != UPSTREAM_NAMESPACE).then(|| {
        format!("its conversion webhook is Service {ns}/{name}, not {UPSTREAM_NAMESPACE}/tekton-pipelines-webhook")
    })
}

fn webhook_problem(o: &Object) -> Option<String> {
    for w in o.pointer("/webhooks").and_then(Value::as_array).into_iter().flatten() {
        let client = w.get("clientConfig")?;
        if client.get("url").is_some() {
            return Some("a webhook calls a URL, not the release's Service".into());
        }
        let ns = client.pointer("/service/namespace").and_then(Value::as_str).unwrap_or_default();
        if !RELEASE_NAMESPACES.contains(&ns) {
            return Some(format!("a webhook calls a Service in namespace `{ns}`"));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_tags_are_read_from_tekton_references_only() {
        assert_eq!(
            tekton_image_tag(
                "ghcr.io/tektoncd/pipeline/controller-10a3e32792f33651396d02b6855a6e36:v0.56.0@sha256:ab"
            ),
            Some("v0.56.0")
        );
        assert_eq!(
            tekton_image_tag(
                "gcr.io/tekton-releases/github.com/tektoncd/pipeline/cmd/nop:v0.24.1@sha256:1"
            ),
            Some("v0.24.1")
        );
        assert_eq!(tekton_image_tag("mirror:5000/tektoncd/pipeline/x:v1.2.0"), Some("v1.2.0"));
        assert_eq!(tekton_image_tag("cgr.dev/chainguard/busybox@sha256:19f0"), None);
        assert_eq!(tekton_image_tag("registry:5000/tektoncd/pipeline/x"), None);
    }
}
