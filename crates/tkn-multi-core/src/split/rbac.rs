//! RBAC rewrites: rules that name upstream objects, rules that must go, and narrowing an
//! instance's cluster-wide grants to its two namespaces. **Pure.**

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::side::Side;
use crate::release::Object;

/// Whether a resource is namespaced or cluster-scoped, for RBAC narrowing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ResourceScope {
    /// Grants on it can be bound per namespace with a `RoleBinding`.
    Namespaced,
    /// Grants on it only take effect through a `ClusterRoleBinding`.
    Cluster,
}

/// The scope of `resource` (with subresource, e.g. `namespaces/finalizers`) in `group`.
///
/// Covers every cluster-scoped resource that a Tekton Pipelines release grants; anything else
/// is namespaced.
pub fn resource_scope(group: &str, resource: &str) -> ResourceScope {
    let base = resource.split('/').next().unwrap_or(resource);
    let cluster = matches!(
        (group, base),
        ("", "namespaces" | "nodes" | "persistentvolumes")
            | ("apiextensions.k8s.io", "customresourcedefinitions")
            | ("admissionregistration.k8s.io" | "storage.k8s.io" | "apiregistration.k8s.io", _)
            | ("tekton.dev", "clustertasks")
            | ("triggers.tekton.dev", "clusterinterceptors" | "clustertriggerbindings")
            | ("policy" | "extensions", "podsecuritypolicies")
            | ("rbac.authorization.k8s.io", "clusterroles" | "clusterrolebindings")
    );
    if cluster { ResourceScope::Cluster } else { ResourceScope::Namespaced }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default()
}

/// Rewrites the rules of a Role or `ClusterRole` for `target`.
///
/// - `PodSecurityPolicy` `use` rules go with the PSP itself.
/// - `resourceNames` of `tekton-pipelines` on namespaces become the side's system namespace (the
///   webhook's ownerReference on its configurations needs them).
/// - webhook configuration `resourceNames` follow the side's admission names; where the version
///   cannot rename them the named rules go, so no side can touch upstream's names.
/// - an instance never gets `update`/`patch` on CRDs: only the shared webhook may write the
///   conversion caBundle, otherwise instances would overwrite each other's CA forever.
pub(super) fn rewrite_rules(o: &mut Object, target: &Side) {
    let Some(Value::Array(rules)) = o.pointer_mut("/rules") else { return };
    let webhook = target.webhook();
    let mut out = Vec::with_capacity(rules.len());
    for rule in rules.drain(..) {
        let Value::Object(mut r) = rule else { continue };
        let resources = strings(r.get("resources"));
        if resources.iter().any(|res| res == "podsecuritypolicies") {
            continue;
        }
        let has_names = r.get("resourceNames").is_some();
        let is_webhook_cfg = resources.iter().any(|res| res.ends_with("webhookconfigurations"));
        if has_names && is_webhook_cfg {
            let Some(w) = &webhook else { continue };
            let names: Vec<Value> = strings(r.get("resourceNames"))
                .into_iter()
                .map(|n| n.replace("webhook.pipeline.tekton.dev", w).into())
                .collect();
            r.insert("resourceNames".into(), Value::Array(names));
        }
        if has_names && resources.iter().any(|res| res.starts_with("namespaces")) {
            let names: Vec<Value> = strings(r.get("resourceNames"))
                .into_iter()
                .map(|n| target.map_namespace(&n).into())
                .collect();
            r.insert("resourceNames".into(), Value::Array(names));
        }
        if target.instance
            && resources.iter().any(|res| res.starts_with("customresourcedefinitions"))
        {
            let verbs: Vec<Value> = strings(r.get("verbs"))
                .into_iter()
                .filter(|v| !matches!(v.as_str(), "update" | "patch" | "create" | "delete" | "*"))
                .map(Value::from)
                .collect();
            if verbs.is_empty() {
                continue;
            }
            r.insert("verbs".into(), Value::Array(verbs));
        }
        out.push(Value::Object(r));
    }
    *rules = out;
}

/// Splits one rule into its namespaced and its cluster-scoped halves (either may be `None`).
fn partition_rule(rule: &Map<String, Value>) -> (Option<Value>, Option<Value>) {
    let groups = strings(rule.get("apiGroups"));
    let resources = strings(rule.get("resources"));
    if resources.is_empty() {
        // nonResourceURLs rules are cluster-wide by nature.
        return (None, Some(Value::Object(rule.clone())));
    }
    let is_cluster =
        |res: &String| groups.iter().any(|g| resource_scope(g, res) == ResourceScope::Cluster);
    let (cluster, namespaced): (Vec<String>, Vec<String>) =
        resources.into_iter().partition(is_cluster);
    let with = |res: Vec<String>| {
        (!res.is_empty()).then(|| {
            let mut r = rule.clone();
            r.insert("resources".into(), json!(res));
            Value::Object(r)
        })
    };
    (with(namespaced), with(cluster))
}

/// Narrows an instance's `ClusterRoleBindings`.
///
/// Each instance `ClusterRole` bound cluster-wide is split: rules on namespaced resources stay in a
/// `ClusterRole` that is bound only by `RoleBindings` in the watched and control-plane namespaces;
/// rules on cluster-scoped resources (nodes, CRDs, webhook configurations, its own namespace)
/// stay cluster-wide, in a second `ClusterRole` when both kinds exist.
pub(super) fn narrow(objects: Vec<Object>, target: &Side) -> Vec<Object> {
    let role_of = |binding: &Object| -> Option<String> {
        binding.pointer("/roleRef/name").and_then(Value::as_str).map(str::to_owned)
    };
    let bound_roles: Vec<String> =
        objects.iter().filter(|o| o.kind() == "ClusterRoleBinding").filter_map(role_of).collect();
    let mut namespaces = vec![target.watched_namespace.clone()];
    if target.system_namespace != target.watched_namespace {
        namespaces.push(target.system_namespace.clone());
    }
    let mut out = Vec::with_capacity(objects.len() + 8);
    // Role name → (has namespaced rules, has cluster rules), to rebuild the bindings.
    let mut split_roles: Vec<(String, bool, bool)> = Vec::new();
    for o in &objects {
        if o.kind() != "ClusterRole" || !bound_roles.iter().any(|r| r == o.name()) {
            continue;
        }
        let rules = o.pointer("/rules").and_then(Value::as_array).cloned().unwrap_or_default();
        let (mut ns_rules, mut cl_rules) = (vec![], vec![]);
        for r in rules.iter().filter_map(Value::as_object) {
            let (n, c) = partition_rule(r);
            ns_rules.extend(n);
            cl_rules.extend(c);
        }
        let (has_ns, has_cl) = (!ns_rules.is_empty(), !cl_rules.is_empty());
        split_roles.push((o.name().to_owned(), has_ns, has_cl));
        if has_ns {
            let mut role = o.clone();
            role.as_map_mut().insert("rules".into(), Value::Array(ns_rules));
            out.push(role);
        }
        if has_cl {
            let mut role = o.clone();
            role.set_name(&cluster_role_name(o.name(), has_ns));
            role.as_map_mut().insert("rules".into(), Value::Array(cl_rules));
            out.push(role);
        }
    }
    for o in objects {
        match o.kind() {
            "ClusterRole" if split_roles.iter().any(|(n, ..)| n == o.name()) => {}
            "ClusterRoleBinding" => {
                let role = role_of(&o).unwrap_or_default();
                let Some((_, has_ns, has_cl)) = split_roles.iter().find(|(n, ..)| *n == role)
                else {
                    out.push(o);
                    continue;
                };
                if *has_cl {
                    let mut crb = o.clone();
                    crb.set_name(&cluster_role_name(o.name(), *has_ns));
                    if let Some(Value::Object(rr)) = crb.pointer_mut("/roleRef") {
                        rr.insert("name".into(), cluster_role_name(&role, *has_ns).into());
                    }
                    out.push(crb);
                }
                if *has_ns {
                    for ns in &namespaces {
                        out.push(role_binding_from(&o, ns));
                    }
                }
            }
            _ => out.push(o),
        }
    }
    out
}

fn cluster_role_name(name: &str, also_namespaced: bool) -> String {
    if also_namespaced { format!("{name}:cluster-scoped") } else { name.to_owned() }
}

/// A `RoleBinding` in `namespace` with the subjects and `ClusterRole` of `crb`.
fn role_binding_from(crb: &Object, namespace: &str) -> Object {
    let mut rb = crb.clone();
    rb.as_map_mut().insert("kind".into(), "RoleBinding".into());
    rb.set_namespace(Some(namespace));
    rb
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_of_the_resources_tekton_grants() {
        assert_eq!(resource_scope("", "namespaces/finalizers"), ResourceScope::Cluster);
        assert_eq!(resource_scope("", "pods/log"), ResourceScope::Namespaced);
        assert_eq!(resource_scope("tekton.dev", "clustertasks/status"), ResourceScope::Cluster);
        assert_eq!(resource_scope("tekton.dev", "taskruns"), ResourceScope::Namespaced);
        assert_eq!(
            resource_scope("admissionregistration.k8s.io", "mutatingwebhookconfigurations"),
            ResourceScope::Cluster
        );
    }

    #[test]
    fn a_mixed_rule_is_split() {
        let rule = json!({"apiGroups": ["tekton.dev"], "resources": ["tasks", "clustertasks"], "verbs": ["get"]});
        let (n, c) = partition_rule(rule.as_object().unwrap());
        assert_eq!(n.unwrap()["resources"], json!(["tasks"]));
        assert_eq!(c.unwrap()["resources"], json!(["clustertasks"]));
    }
}
