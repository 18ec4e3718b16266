//! The side a rewrite renders — the shared part, or one instance — and what it needs to know:
//! its owner, namespaces, version and capabilities, and before v0.44 the admission rules
//! tkn-multi writes. **Pure.**

use serde_json::{Map, Value, json};

use super::spec::{InstanceSpec, SharedSpec, UPSTREAM_NAMESPACE, UPSTREAM_RESOLVERS_NAMESPACE};
use crate::names::{SHARED_OWNER, webhook_name};
use crate::release::capabilities::Capabilities;
use crate::release::model::ensure_object;
use crate::release::{Release, TektonVersion};

/// Everything a rewrite needs to know about the side it renders.
pub(super) struct Side {
    /// `shared` or the instance name: used in cluster-scoped names and labels.
    pub owner: String,
    /// True for an instance, false for the shared part.
    pub instance: bool,
    /// Where `tekton-pipelines` objects go.
    pub system_namespace: String,
    /// Where `tekton-pipelines-resolvers` objects go.
    pub resolvers_namespace: String,
    /// The namespace an instance's controller and admission act on (the shared namespace for the
    /// shared part, whose admission configurations must never see tenant objects).
    pub watched_namespace: String,
    pub version: TektonVersion,
    pub caps: Capabilities,
    /// Before v0.44: the rules tkn-multi writes into the instance's own configurations.
    pub owned: Option<OwnedAdmission>,
}

/// What an instance before v0.44 gets in its admission configurations, which knative cannot
/// reconcile (their names are not the hard-coded ones).
pub(super) struct OwnedAdmission {
    /// `rules` of the defaulting configuration.
    pub defaulting: Value,
    /// `rules` of the validation configuration.
    pub validation: Value,
    /// Set `reinvocationPolicy: IfNeeded` on the defaulting webhook.
    pub reinvocation: bool,
    /// The PEM CA bundle for `clientConfig.caBundle`, when known (never at `render`).
    pub ca_bundle: Option<String>,
}

impl OwnedAdmission {
    /// The rules knative would write for `release`'s webhook types (`compat-matrix/admission.yaml`),
    /// with plurals and scopes from the release's CRDs. Cluster-scoped kinds (`ClusterTask`) are
    /// left out: a namespace selector cannot limit them, so an old instance's webhook (which
    /// refuses unknown fields) would police every `ClusterTask` in the cluster.
    pub(super) fn of(release: &Release, ca_bundle: Option<String>) -> Option<Self> {
        let table = crate::release::admission::of(&release.version)?;
        let mut defaulting = Vec::new();
        let mut validation = Vec::new();
        for t in &table.types {
            let Some((plural, namespaced, served)) = crd_names(release, &t.group, &t.kind) else {
                continue;
            };
            // Cluster-scoped kinds: see above. A version the release's own CRD does not serve
            // (v0.38–v0.43 list v1 kinds before serving them): no rule, so a newer shared CRD's
            // request at that version is converted to one this webhook knows (matchPolicy
            // Equivalent) instead of reaching a pre-GA decoder.
            if !namespaced || !served.contains(&t.version) {
                continue;
            }
            // A webhook that cannot decode `managedFields[].subresource` gets creates only.
            let updates = table.decodes_subresource_field();
            let resources =
                if updates { json!([plural, format!("{plural}/status")]) } else { json!([plural]) };
            let rule = |ops: Vec<String>| {
                json!({
                    "operations": ops,
                    "apiGroups": [t.group],
                    "apiVersions": [t.version],
                    "resources": resources,
                })
            };
            let only_creates = |ops: Vec<String>| {
                if updates { ops } else { ops.into_iter().filter(|o| o == "CREATE").collect() }
            };
            defaulting.push(rule(only_creates(vec!["CREATE".into(), "UPDATE".into()])));
            validation.push(rule(only_creates(t.validation_verbs.clone())));
        }
        Some(Self {
            defaulting: Value::Array(defaulting),
            validation: Value::Array(validation),
            reinvocation: table.reinvocation_if_needed,
            ca_bundle,
        })
    }
}

impl OwnedAdmission {
    /// Writes what knative's reconcilers would have written into one webhook entry (before
    /// v0.44): the service path, the rules and the caBundle.
    pub(super) fn fill(&self, h: &mut Map<String, Value>, name: &str, is_config: bool) {
        let (path, rules) = if is_config {
            let rules = json!([{
                "operations": ["CREATE", "UPDATE"],
                "apiGroups": [""],
                "apiVersions": ["v1"],
                "resources": ["configmaps/*"],
                "scope": "Namespaced",
            }]);
            ("/config-validation", rules)
        } else if name.starts_with("validation.") {
            ("/resource-validation", self.validation.clone())
        } else {
            if self.reinvocation {
                h.insert("reinvocationPolicy".into(), "IfNeeded".into());
            }
            ("/defaulting", self.defaulting.clone())
        };
        h.insert("rules".into(), rules);
        let client = ensure_object(h, "clientConfig");
        if let Some(Value::Object(svc)) = client.get_mut("service") {
            svc.insert("path".into(), path.into());
        }
        if let Some(ca) = &self.ca_bundle {
            client.insert("caBundle".into(), base64(ca.as_bytes()).into());
        }
    }
}

/// Standard base64 with padding (`caBundle` is `[]byte` in the API).
fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// `(plural, namespaced, served versions)` of the CRD of `group`/`kind` in `release`.
fn crd_names(release: &Release, group: &str, kind: &str) -> Option<(String, bool, Vec<String>)> {
    release.objects.iter().filter(|o| o.kind() == "CustomResourceDefinition").find_map(|o| {
        let spec = o.pointer("/spec")?;
        (spec["group"] == group && spec["names"]["kind"] == kind).then(|| {
            let served = spec["versions"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|v| v["served"] == true)
                .filter_map(|v| v["name"].as_str().map(str::to_owned))
                .collect();
            (
                spec["names"]["plural"].as_str().unwrap_or_default().to_owned(),
                spec["scope"] == "Namespaced",
                served,
            )
        })
    })
}

impl Side {
    pub fn shared(release: &Release, spec: &SharedSpec) -> Self {
        Self {
            owner: SHARED_OWNER.into(),
            instance: false,
            system_namespace: spec.namespace.to_string(),
            resolvers_namespace: spec.resolvers_namespace(),
            watched_namespace: spec.namespace.to_string(),
            version: release.version.clone(),
            caps: Capabilities::of(&release.version),
            owned: None,
        }
    }

    pub fn instance(release: &Release, spec: &InstanceSpec) -> Self {
        let caps = Capabilities::of(&release.version);
        Self {
            owner: spec.name.to_string(),
            instance: true,
            system_namespace: spec.control_plane_namespace.to_string(),
            // Resolvers are never part of an instance (see `Rule::Resolvers`); a stray reference
            // still lands in the instance's own namespace rather than upstream's.
            resolvers_namespace: spec.control_plane_namespace.to_string(),
            watched_namespace: spec.namespace.to_string(),
            version: release.version.clone(),
            owned: caps
                .owned_admission
                .then(|| OwnedAdmission::of(release, spec.admission_ca.clone()))
                .flatten(),
            caps,
        }
    }

    /// The admission webhook name of this side, or none where the version cannot rename it.
    pub fn webhook(&self) -> Option<String> {
        self.caps.admission_name_env.then(|| webhook_name(&self.owner))
    }

    pub fn map_namespace(&self, ns: &str) -> String {
        match ns {
            UPSTREAM_NAMESPACE => self.system_namespace.clone(),
            UPSTREAM_RESOLVERS_NAMESPACE => self.resolvers_namespace.clone(),
            other => other.to_owned(),
        }
    }
}
