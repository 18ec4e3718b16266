//! The shadow: a short-lived copy of a target version's admission webhook, that judges an
//! instance's objects with Tekton's own validation and defaulting before the instance moves.
//! **Pure**: what the shadow is made of, what is sent to it, and what its answers mean; the shell
//! (`tkn-multi`'s `shadow`) creates it, sends each object by server-side dry run, and removes it.
//!
//! The shadow is the target release's webhook component rendered as an instance of its own, in a
//! scratch namespace `tkn-multi-shadow-<id>` whose admission configurations select only that
//! namespace: its `ServiceAccount` and RBAC, its Deployment, Service and certificate Secret, and
//! the instance's `ConfigMap`s as the move would leave them. No controller runs: nothing is
//! reconciled, and objects sent by dry run are never stored.
//!
//! Every object of the shadow carries the label [`LABEL_SHADOW`] and none of tkn-multi's owner
//! labels: `list` and the planner never see it, and a run that holds the cluster lock removes
//! every shadow it finds (one killed before its cleanup leaves one behind).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use crate::managed::{LABEL_INSTANCE, LABEL_MANAGED_BY, LABEL_PART, LABEL_VERSION};
use crate::names::{InstanceName, NamespaceName};
use crate::precheck::{Finding, Severity, finished};
use crate::release::{Object, Release, TektonVersion};
use crate::split::{InstanceSpec, SharedSpec};

/// The label on every object of a shadow; its value is the shadow's id.
pub const LABEL_SHADOW: &str = "tkn-multi.tekton.dev/shadow";
/// The prefix of a shadow's namespace.
pub const NAMESPACE_PREFIX: &str = "tkn-multi-shadow-";
/// Rule of a refusal by the target's webhook.
pub const RULE_REFUSED: &str = "webhook-refused";
/// Rule of fields the target's webhook defaults differently.
pub const RULE_DEFAULTS: &str = "webhook-defaults";
/// Rule of fields a round trip through the target's conversion webhook loses.
pub const RULE_CONVERSION_LOSS: &str = "conversion-loss";
/// Rule of a conversion the target's webhook refuses.
pub const RULE_CONVERSION_FAILED: &str = "conversion-failed";

/// One shadow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shadow {
    /// Its id: a short lowercase hex string, unique per run.
    pub id: String,
    /// The version whose webhook it runs.
    pub version: TektonVersion,
}

/// Why a version gets no shadow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unsupported {
    /// Before v0.44 tkn-multi writes the webhook's certificates itself (knative's reconciler
    /// then never creates the Secret): a shadow would need the certificate work of an install.
    #[error(
        "the webhook of {0} is not judged: a shadow needs a release that writes its own webhook certificate (v0.44.0 or later)"
    )]
    TooOld(TektonVersion),
    /// The release has no admission webhook (no component `webhook`).
    #[error("{0} has no admission webhook to judge with")]
    NoWebhook(TektonVersion),
}

impl Shadow {
    /// The shadow `id` of `version`'s webhook.
    ///
    /// # Errors
    /// A version whose webhook cannot run as a shadow.
    pub fn new(id: &str, version: &TektonVersion) -> Result<Self, Unsupported> {
        if !version.at_least(0, 44, 0) {
            return Err(Unsupported::TooOld(version.clone()));
        }
        Ok(Self { id: id.to_owned(), version: version.clone() })
    }

    /// Its scratch namespace.
    pub fn namespace(&self) -> String {
        format!("{NAMESPACE_PREFIX}{}", self.id)
    }

    /// The instance name it is rendered as (its cluster-scoped names carry it).
    pub fn instance(&self) -> String {
        format!("shadow-{}", self.id)
    }

    /// The objects of the shadow, in apply order: the target's webhook component rendered for the
    /// scratch namespace, with `config` (`ConfigMap` → key → value) written over the release's
    /// `ConfigMap`s.
    ///
    /// # Errors
    /// A release without an admission webhook.
    pub fn objects(
        &self,
        release: &Release,
        config: &BTreeMap<String, BTreeMap<String, String>>,
    ) -> Result<Vec<Object>, Unsupported> {
        let ns: NamespaceName = self.namespace().parse().expect("a valid namespace name");
        let spec = InstanceSpec {
            name: self.instance().parse::<InstanceName>().expect("a valid instance name"),
            namespace: ns.clone(),
            control_plane_namespace: ns,
            admission_ca: None,
        };
        let rendered = crate::split::instance_part(release, &spec, &SharedSpec::default())
            .expect("the scratch namespace is never the shared one");
        let roles = self.webhook_roles(&rendered)?;
        let mut out = Vec::new();
        let mut namespace_done = false;
        for mut o in rendered {
            let keep = match o.kind() {
                "Namespace" => !std::mem::replace(&mut namespace_done, true),
                "ConfigMap" => true,
                "HorizontalPodAutoscaler" | "PodDisruptionBudget" => false,
                "Role" | "ClusterRole" => {
                    is_webhook(&o) || roles.contains(&(o.kind().to_owned(), o.name().to_owned()))
                }
                _ => is_webhook(&o),
            };
            if !keep {
                continue;
            }
            if o.kind() == "ConfigMap"
                && let Some(keys) = config.get(o.name())
            {
                let data = crate::release::model::ensure_object(o.as_map_mut(), "data");
                for (k, v) in keys {
                    data.insert(k.clone(), Value::String(v.clone()));
                }
            }
            self.relabel(&mut o);
            out.push(o);
        }
        Ok(out)
    }

    /// The objects of a shadow of `release`'s **shared** conversion webhook, for the precheck of
    /// a shared-layer move: the shared part's webhook component rendered for the scratch
    /// namespace, without CRDs or admission configurations, its cluster-wide names made the
    /// shadow's, and its rights to write CRDs and admission configurations taken away, so the
    /// live CRDs never change. It is asked through the API server's service proxy, with
    /// `ConversionReview`s ([`Shadow::conversion_path`]).
    ///
    /// # Errors
    /// A release without a webhook.
    pub fn shared_objects(&self, release: &Release) -> Result<Vec<Object>, Unsupported> {
        let ns = self.namespace();
        let spec = SharedSpec { namespace: ns.parse().expect("a valid namespace name") };
        let rendered = crate::split::shared_part(release, &spec);
        let roles = self.webhook_roles(&rendered)?;
        let shared_prefix = crate::names::rbac_name(crate::names::SHARED_OWNER, "");
        let own_prefix = crate::names::rbac_name(&self.instance(), "");
        let shared_webhook = crate::names::webhook_name(crate::names::SHARED_OWNER);
        let own_webhook = crate::names::webhook_name(&self.instance());
        let mut out = Vec::new();
        for mut o in rendered {
            let keep = match o.kind() {
                "Namespace" => o.name() == ns,
                "ConfigMap" => o.namespace() == Some(ns.as_str()),
                "Role" | "ClusterRole" => {
                    is_webhook(&o) || roles.contains(&(o.kind().to_owned(), o.name().to_owned()))
                }
                "CustomResourceDefinition"
                | "MutatingWebhookConfiguration"
                | "ValidatingWebhookConfiguration"
                | "HorizontalPodAutoscaler"
                | "PodDisruptionBudget" => false,
                _ => is_webhook(&o),
            };
            if !keep {
                continue;
            }
            if let Some(own) =
                o.name().strip_prefix(&shared_prefix).map(|rest| format!("{own_prefix}{rest}"))
            {
                o.set_name(&own);
            }
            if let Some(Value::String(r)) = o.pointer_mut("/roleRef/name")
                && let Some(rest) = r.strip_prefix(&shared_prefix)
            {
                *r = format!("{own_prefix}{rest}");
            }
            if o.kind() == "ClusterRole" {
                read_only_for(
                    &mut o,
                    &[
                        "customresourcedefinitions",
                        "mutatingwebhookconfigurations",
                        "validatingwebhookconfigurations",
                    ],
                );
            }
            // Its admission configurations' names (in env and RBAC) are the shadow's (none
            // exist: nothing calls them), never the live shared layer's.
            let text = serde_json::to_string(&o.to_value()).expect("JSON values serialise");
            if text.contains(&shared_webhook) {
                let text = text.replace(&shared_webhook, &own_webhook);
                let Ok(Value::Object(map)) = serde_json::from_str(&text) else {
                    unreachable!("a name replaced by a name keeps the JSON valid")
                };
                o = Object::from_map(map);
            }
            self.relabel(&mut o);
            out.push(o);
        }
        Ok(out)
    }

    /// The API server path that carries a `ConversionReview` to the shadow's conversion
    /// endpoint (the service proxy: the API server dials the Service's endpoint address).
    pub fn conversion_path(&self) -> String {
        format!(
            "/api/v1/namespaces/{}/services/https:tekton-pipelines-webhook:https-webhook/proxy/resource-conversion",
            self.namespace()
        )
    }

    /// The Roles and `ClusterRole`s the webhook component's bindings name (the leader-election
    /// Role has no component of its own).
    ///
    /// # Errors
    /// A release without an admission webhook.
    fn webhook_roles(
        &self,
        rendered: &[Object],
    ) -> Result<BTreeSet<(String, String)>, Unsupported> {
        if !rendered.iter().any(|o| o.kind() == "Deployment" && is_webhook(o)) {
            return Err(Unsupported::NoWebhook(self.version.clone()));
        }
        Ok(rendered
            .iter()
            .filter(|o| is_webhook(o) && o.kind().ends_with("Binding"))
            .filter_map(|o| {
                Some((
                    o.pointer("/roleRef/kind")?.as_str()?.to_owned(),
                    o.pointer("/roleRef/name")?.as_str()?.to_owned(),
                ))
            })
            .collect())
    }

    /// tkn-multi's owner labels off, the shadow's label on: `list` and the planner never see it.
    fn relabel(&self, o: &mut Object) {
        if let Some(Value::Object(labels)) = o.metadata_mut().get_mut("labels") {
            for key in [LABEL_MANAGED_BY, LABEL_PART, LABEL_INSTANCE, LABEL_VERSION] {
                labels.remove(key);
            }
        }
        o.set_label(LABEL_SHADOW, &self.id);
    }

    /// The name of the shadow's validating admission configuration for Tekton's kinds: a
    /// refusal that names it comes from the shadow.
    pub fn validation_webhook(&self) -> String {
        format!("validation.{}", crate::names::webhook_name(&self.instance()))
    }

    /// A Task the target's webhook always refuses (no steps), at `api_version`, in the scratch
    /// namespace: when the shadow refuses it, the shadow answers.
    pub fn probe(&self, api_version: &str) -> Value {
        serde_json::json!({
            "apiVersion": api_version,
            "kind": "Task",
            "metadata": {"name": "tkn-multi-shadow-probe", "namespace": self.namespace()},
            "spec": {"steps": []},
        })
    }
}

/// Takes every verb but `get`, `list` and `watch` away from the rules of a `ClusterRole` on
/// `resources`.
fn read_only_for(o: &mut Object, resources: &[&str]) {
    let Some(Value::Array(rules)) = o.pointer_mut("/rules") else { return };
    for rule in rules.iter_mut() {
        let names: Vec<&str> =
            rule["resources"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        if names.iter().any(|r| resources.contains(r) || *r == "*")
            && let Some(Value::Array(verbs)) = rule.get_mut("verbs")
        {
            verbs.retain(|v| matches!(v.as_str(), Some("get" | "list" | "watch")));
        }
    }
}

/// A `ConversionReview` asking for `objects` at `desired` (`tekton.dev/v1`).
pub fn conversion_review(uid: &str, desired: &str, objects: &[Value]) -> Value {
    serde_json::json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "ConversionReview",
        "request": {"uid": uid, "desiredAPIVersion": desired, "objects": objects},
    })
}

/// The converted objects of a `ConversionReview` response, or the webhook's message.
///
/// # Errors
/// The webhook's failure message, or what is missing from the response.
pub fn converted(response: &Value) -> Result<Vec<Value>, String> {
    let r = &response["response"];
    if r["result"]["status"] != "Success" {
        return Err(r["result"]["message"]
            .as_str()
            .unwrap_or("no result in the response")
            .to_owned());
    }
    r["convertedObjects"].as_array().cloned().ok_or_else(|| "no convertedObjects".to_owned())
}

/// What a shared-layer move does to an object as its instance reads it: `original`, read at
/// the version the instance's release stores, and `back`, the same after the target's
/// conversion webhook stored it at `stored` and converted it back. Fields of `spec` and
/// `status` that `back` lacks or holds otherwise are lost to the instance's controller: a
/// blocker naming them (and what the round trip put in their place); a warning for a run that
/// has finished.
pub fn round_trip(
    original: &Value,
    back: &Value,
    reader: &crate::plan::state::ObservedInstance,
    stored: &str,
    to: &TektonVersion,
) -> Option<Finding> {
    let (mut lost, mut added) = (Vec::new(), Vec::new());
    for part in ["spec", "status"] {
        changed_paths(&back[part], &original[part], part, &mut lost);
        changed_paths(&original[part], &back[part], part, &mut added);
    }
    if lost.is_empty() {
        return None;
    }
    let read = original["apiVersion"].as_str().unwrap_or_default();
    let added = if added.is_empty() {
        String::new()
    } else {
        format!("; it holds {} instead", listed(added))
    };
    Some(Finding {
        // A finished run is history: nothing reconciles it again, but what it recorded is lost.
        severity: if finished(original) { Severity::Warning } else { Severity::Blocker },
        rule: RULE_CONVERSION_LOSS,
        object: Some(object_name(original)),
        message: format!(
            "stored at {stored} by {to}'s conversion webhook, then read at {read} by `{}` ({}), it no longer holds {}{added}",
            reader.name,
            reader.version,
            listed(lost)
        ),
        source: format!("{to}'s own conversion webhook (a shadow, `ConversionReview`s)"),
    })
}

/// Up to [`SHOWN`] paths, sorted, and how many more.
fn listed(mut paths: Vec<String>) -> String {
    paths.sort();
    let more = paths.len().saturating_sub(SHOWN);
    paths.truncate(SHOWN);
    let list = paths.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", ");
    if more > 0 { format!("{list} and {more} more") } else { list }
}

/// A conversion the target's webhook refused.
pub fn conversion_failed(
    original: &Value,
    reader: &str,
    via: &str,
    to: &TektonVersion,
    message: &str,
) -> Finding {
    Finding {
        severity: Severity::Blocker,
        rule: RULE_CONVERSION_FAILED,
        object: Some(object_name(original)),
        message: format!(
            "{to}'s conversion webhook cannot convert it (read by `{reader}`) to {via}: {message}"
        ),
        source: format!("{to}'s own conversion webhook (a shadow, `ConversionReview`s)"),
    }
}

fn object_name(o: &Value) -> String {
    let ns = o["metadata"]["namespace"].as_str().map(|n| format!(" in {n}")).unwrap_or_default();
    format!(
        "{}/{}{ns}",
        o["kind"].as_str().unwrap_or_default(),
        o["metadata"]["name"].as_str().unwrap_or_default()
    )
}

/// The `ConfigMap` values the moved instance would run with, for the shadow: the target's own,
/// with the instance's keys where the instance set them (a value that differs from the running
/// release's, or a key the release does not have), then `kept` (feature flags an upgrade with
/// `--keep-defaults` keeps).
pub fn config(
    from: &Release,
    live: &BTreeMap<String, BTreeMap<String, String>>,
    kept: &BTreeMap<String, String>,
) -> BTreeMap<String, BTreeMap<String, String>> {
    let released = |name: &str, key: &str| {
        from.objects
            .iter()
            .find(|o| o.kind() == "ConfigMap" && o.name() == name)
            .and_then(|o| {
                o.pointer(&format!("/data/{}", key.replace('~', "~0").replace('/', "~1")))
            })
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (name, data) in live {
        for (key, value) in data {
            if released(name, key).as_deref() != Some(value.as_str()) {
                out.entry(name.clone()).or_default().insert(key.clone(), value.clone());
            }
        }
    }
    if !kept.is_empty() {
        let flags = out.entry(crate::matrix::defaults::FEATURE_FLAGS.to_owned()).or_default();
        for (k, v) in kept {
            flags.insert(k.clone(), v.clone());
        }
    }
    out
}

/// What is sent to the shadow for a stored object: its kind, version, name, labels, annotations
/// and spec, in the scratch namespace. `None` for a run that has finished (history: nothing
/// reconciles it again) and for an object with no spec.
pub fn candidate(o: &Value, namespace: &str) -> Option<Value> {
    if finished(o) || o.get("spec").is_none_or(Value::is_null) {
        return None;
    }
    let mut metadata = Map::new();
    metadata.insert("name".into(), o["metadata"]["name"].clone());
    metadata.insert("namespace".into(), namespace.into());
    for key in ["labels", "annotations"] {
        if let Some(Value::Object(m)) = o["metadata"].get(key) {
            let mut m = m.clone();
            m.remove("kubectl.kubernetes.io/last-applied-configuration");
            if !m.is_empty() {
                metadata.insert(key.into(), Value::Object(m));
            }
        }
    }
    Some(serde_json::json!({
        "apiVersion": o["apiVersion"],
        "kind": o["kind"],
        "metadata": metadata,
        "spec": o["spec"],
    }))
}

/// Whether an object belongs to a release's webhook component.
fn is_webhook(o: &Object) -> bool {
    o.pointer("/metadata/labels/app.kubernetes.io~1component").is_some_and(|c| c == "webhook")
}

/// How many paths a defaults finding names.
const SHOWN: usize = 5;

/// The shadow's answer to one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Admitted: the object as the target's webhook defaulted it.
    Admitted(Value),
    /// Refused by the target's webhook, with the API server's message.
    Refused(String),
}

/// Tekton's own words in a refusal: the API server's `admission webhook "…" denied the request: `
/// prefix dropped (it names the shadow, whose id changes every run).
pub fn tekton_message(message: &str) -> &str {
    message.split_once("denied the request: ").map_or(message, |(_, m)| m)
}

/// What the shadow's answer about `sent` means for the move to `to`: a refusal is a blocker in
/// Tekton's words; fields the target's defaulting adds or changes are information, by path.
pub fn judge(sent: &Value, answer: &Answer, to: &TektonVersion) -> Vec<Finding> {
    let object = format!(
        "{}/{}",
        sent["kind"].as_str().unwrap_or_default(),
        sent["metadata"]["name"].as_str().unwrap_or_default()
    );
    let source = format!("{to}'s own admission webhook (a shadow, server-side dry run)");
    match answer {
        Answer::Refused(message) => vec![Finding {
            severity: Severity::Blocker,
            rule: RULE_REFUSED,
            object: Some(object),
            message: format!("{to}'s webhook refuses it: {}", tekton_message(message)),
            source,
        }],
        Answer::Admitted(back) => {
            let mut paths = Vec::new();
            changed_paths(&sent["spec"], &back["spec"], "spec", &mut paths);
            if paths.is_empty() {
                return Vec::new();
            }
            vec![Finding {
                severity: Severity::Info,
                rule: RULE_DEFAULTS,
                object: Some(object),
                message: format!("{to}'s webhook defaults {}", listed(paths)),
                source,
            }]
        }
    }
}

/// The paths under `at` where `after` holds a value `before` does not (added or changed).
fn changed_paths(before: &Value, after: &Value, at: &str, out: &mut Vec<String>) {
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            for (k, v) in a {
                changed_paths(b.get(k).unwrap_or(&Value::Null), v, &format!("{at}.{k}"), out);
            }
        }
        (Value::Array(b), Value::Array(a)) if a.len() == b.len() => {
            for (i, (bv, av)) in b.iter().zip(a).enumerate() {
                changed_paths(bv, av, &format!("{at}[{i}]"), out);
            }
        }
        (b, a) if b != a && !a.is_null() => out.push(at.to_owned()),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_candidate_keeps_what_the_webhook_judges_and_skips_history() {
        let stored = json!({"apiVersion": "tekton.dev/v1", "kind": "Task",
            "metadata": {"name": "t", "namespace": "team", "uid": "u", "resourceVersion": "9",
                "managedFields": [], "ownerReferences": [{"uid": "x"}],
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"},
                "labels": {"app": "a"}},
            "spec": {"steps": [{"image": "x"}]}, "status": {}});
        assert_eq!(
            candidate(&stored, "scratch").unwrap(),
            json!({"apiVersion": "tekton.dev/v1", "kind": "Task",
                "metadata": {"name": "t", "namespace": "scratch", "labels": {"app": "a"}},
                "spec": {"steps": [{"image": "x"}]}})
        );
        let done = json!({"kind": "TaskRun", "metadata": {"name": "r"}, "spec": {},
            "status": {"conditions": [{"type": "Succeeded", "status": "False"}]}});
        assert_eq!(candidate(&done, "scratch"), None);
    }

    #[test]
    fn answers_become_findings_in_tekton_words() {
        let v: TektonVersion = "v1.15.1".parse().unwrap();
        let sent = json!({"kind": "Pipeline", "metadata": {"name": "p"},
            "spec": {"tasks": [{"name": "a", "taskRef": {"name": "x"}}]}});
        let refused = judge(
            &sent,
            &Answer::Refused("admission webhook \"validation.webhook.shadow-1.pipeline.tekton.dev\" denied the request: validation failed: invalid value: custom task ref must specify apiVersion: spec.tasks[0].taskRef.apiVersion".into()),
            &v,
        );
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].severity, Severity::Blocker);
        assert_eq!(
            refused[0].message,
            "v1.15.1's webhook refuses it: validation failed: invalid value: custom task ref must specify apiVersion: spec.tasks[0].taskRef.apiVersion"
        );
        let same = judge(&sent, &Answer::Admitted(sent.clone()), &v);
        assert!(same.is_empty());
        let mut back = sent.clone();
        back["spec"]["tasks"][0]["taskRef"]["kind"] = "Task".into();
        back["spec"]["params"] = json!([]);
        let defaults = judge(&sent, &Answer::Admitted(back), &v);
        assert_eq!(defaults[0].severity, Severity::Info);
        assert_eq!(
            defaults[0].message,
            "v1.15.1's webhook defaults `spec.params`, `spec.tasks[0].taskRef.kind`"
        );
    }

    #[test]
    fn the_config_keeps_what_the_instance_set_and_lets_release_values_move() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "feature-flags", "namespace": "tekton-pipelines"},
            "data": {"a": "1", "b": "2"}});
        let from = Release {
            version: "v0.56.0".parse().unwrap(),
            objects: vec![Object::from_map(cm.as_object().unwrap().clone())],
            sha256: String::new(),
            rebuilt_from_source: false,
        };
        let live = BTreeMap::from([(
            "feature-flags".to_owned(),
            BTreeMap::from([
                ("a".to_owned(), "1".to_owned()),
                ("b".to_owned(), "3".to_owned()),
                ("c".to_owned(), "4".to_owned()),
            ]),
        )]);
        let kept = BTreeMap::from([("d".to_owned(), "false".to_owned())]);
        let got = config(&from, &live, &kept);
        assert_eq!(
            got["feature-flags"],
            BTreeMap::from([
                ("b".to_owned(), "3".to_owned()),
                ("c".to_owned(), "4".to_owned()),
                ("d".to_owned(), "false".to_owned())
            ])
        );
    }
}
