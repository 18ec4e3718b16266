//! The per-object rewrites for one side (the shared part or one instance). **Pure.**

use serde_json::{Map, Value, json};

use super::rbac;
use super::rules::Rule;
use super::side::Side;
use crate::managed::{
    ANNOTATION_RETAIN, LABEL_INSTANCE, LABEL_MANAGED_BY, LABEL_PART, LABEL_VERSION, MANAGER,
};
use crate::names::{rbac_name, webhook_name};
use crate::release::Object;
use crate::release::model::ensure_object;

/// The upstream admission webhook name (`WEBHOOK_ADMISSION_CONTROLLER_NAME` default).
const UPSTREAM_WEBHOOK: &str = "webhook.pipeline.tekton.dev";
const WEBHOOK_NAME_ENV: &str = "WEBHOOK_ADMISSION_CONTROLLER_NAME";
const WATCH_KEY: &str = "kubernetes.io/metadata.name";
/// The expression knative's webhooks put in every selector they reconcile
/// (`knative.dev/pkg/webhook/resourcesemantics/*`, `configmaps`).
const KNATIVE_EXCLUDE_KEY: &str = "webhooks.knative.dev/exclude";

impl Side {
    /// Rewrites one upstream object for this side.
    pub fn rewrite(&self, upstream: &Object, rule: Rule) -> Object {
        let mut o = upstream.clone();
        if let Some(ns) = o.namespace().map(str::to_owned) {
            o.set_namespace(Some(&self.map_namespace(&ns)));
        } else if o.raw_namespace().is_some() {
            // A stray namespace on a cluster-scoped kind (upstream's resolvers CRB, v0.40–v0.46).
            o.set_namespace(None);
        }
        if o.api_version() == "rbac.authorization.k8s.io/v1beta1" {
            // Removed in Kubernetes 1.22; v1 has the same schema (v0.22.0 still uses v1beta1).
            o.as_map_mut().insert("apiVersion".into(), "rbac.authorization.k8s.io/v1".into());
        }
        match o.kind() {
            "Namespace" => {
                let name = self.map_namespace(upstream.name());
                o.set_name(&name);
            }
            "CustomResourceDefinition" => self.rewrite_crd(&mut o),
            "ClusterRole" if rule != Rule::AggregateRole => {
                o.set_name(&rbac_name(&self.owner, upstream.name()));
                rbac::rewrite_rules(&mut o, self);
            }
            "Role" => rbac::rewrite_rules(&mut o, self),
            "ClusterRoleBinding" => {
                o.set_name(&rbac_name(&self.owner, upstream.name()));
                self.rewrite_binding(&mut o);
            }
            "RoleBinding" => self.rewrite_binding(&mut o),
            "Deployment" => self.rewrite_deployment(&mut o),
            "HorizontalPodAutoscaler" => rewrite_hpa(&mut o),
            "MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration" => {
                self.rewrite_admission(&mut o);
            }
            _ => {}
        }
        self.relabel(&mut o);
        o
    }

    fn rewrite_crd(&self, o: &mut Object) {
        if let Some(Value::Object(svc)) =
            o.pointer_mut("/spec/conversion/webhook/clientConfig/service")
            && let Some(ns) = svc.get("namespace").and_then(Value::as_str)
        {
            let ns = self.map_namespace(ns);
            svc.insert("namespace".into(), ns.into());
        }
    }

    fn rewrite_binding(&self, o: &mut Object) {
        if let Some(Value::Object(role_ref)) = o.pointer_mut("/roleRef")
            && role_ref.get("kind").and_then(Value::as_str) == Some("ClusterRole")
            && let Some(name) = role_ref.get("name").and_then(Value::as_str)
            && name.starts_with("tekton-")
            && !is_aggregate_role(name)
        {
            let renamed = rbac_name(&self.owner, name);
            role_ref.insert("name".into(), renamed.into());
        }
        if let Some(Value::Array(subjects)) = o.pointer_mut("/subjects") {
            for s in subjects.iter_mut().filter_map(Value::as_object_mut) {
                if s.get("kind").and_then(Value::as_str) == Some("ServiceAccount")
                    && let Some(ns) = s.get("namespace").and_then(Value::as_str)
                {
                    let ns = self.map_namespace(ns);
                    s.insert("namespace".into(), ns.into());
                }
            }
        }
    }

    fn rewrite_deployment(&self, o: &mut Object) {
        let is_controller = o.label("app.kubernetes.io/component") == Some("controller");
        let Some(Value::Array(containers)) = o.pointer_mut("/spec/template/spec/containers") else {
            return;
        };
        for c in containers.iter_mut().filter_map(Value::as_object_mut) {
            if self.instance && is_controller {
                // H1: the controller limits every informer to one namespace with `-namespace`.
                let args = c.entry("args").or_insert_with(|| Value::Array(vec![]));
                if let Value::Array(args) = args {
                    args.retain(|a| !a.as_str().is_some_and(|s| s.starts_with("-namespace")));
                    args.push("-namespace".into());
                    args.push(self.watched_namespace.clone().into());
                }
            }
            let Some(Value::Array(env)) = c.get_mut("env") else { continue };
            let mut has_webhook_name = false;
            for e in env.iter_mut().filter_map(Value::as_object_mut) {
                if e.get("name").and_then(Value::as_str) == Some(WEBHOOK_NAME_ENV)
                    && let Some(w) = self.webhook()
                {
                    e.insert("value".into(), w.into());
                    has_webhook_name = true;
                }
            }
            let is_webhook = env.iter().any(|e| e["name"] == "WEBHOOK_SECRET_NAME");
            if is_webhook
                && !has_webhook_name
                && let Some(w) = self.webhook()
            {
                env.push(json!({"name": WEBHOOK_NAME_ENV, "value": w}));
            }
        }
    }

    fn rewrite_admission(&self, o: &mut Object) {
        let Some(w) =
            self.webhook().or_else(|| self.owned.as_ref().map(|_| webhook_name(&self.owner)))
        else {
            return;
        };
        let new_name = match o.name() {
            UPSTREAM_WEBHOOK => w,
            other => match other.strip_suffix(UPSTREAM_WEBHOOK) {
                Some(prefix) => format!("{prefix}{w}"),
                None => other.to_owned(),
            },
        };
        let is_config = new_name.starts_with("config.");
        o.set_name(&new_name);
        let selector_ns = if is_config {
            // The config webhook validates the instance's own ConfigMaps (in its control plane).
            self.system_namespace.clone()
        } else {
            self.watched_namespace.clone()
        };
        let service_ns = self.system_namespace.clone();
        if let Some(Value::Array(hooks)) = o.pointer_mut("/webhooks") {
            for h in hooks.iter_mut().filter_map(Value::as_object_mut) {
                h.insert("name".into(), new_name.clone().into());
                if let Some(Value::Object(svc)) =
                    h.get_mut("clientConfig").and_then(|c| c.get_mut("service"))
                {
                    svc.insert("namespace".into(), service_ns.clone().into());
                }
                if let Some(owned) = &self.owned {
                    owned.fill(h, &new_name, is_config);
                }
                // Expressions only: knative before v0.41 drops `matchLabels` when it reconciles.
                // And knative's own expression first, as its `EnsureLabelSelectorExpressions`
                // orders them: the selector is then knative's fixed point, so its webhook never
                // rewrites the field (the selector is atomic: a rewrite would make knative its
                // owner and every later server-side apply of ours a conflict).
                h.insert(
                    "namespaceSelector".into(),
                    json!({"matchExpressions": [
                        {"key": KNATIVE_EXCLUDE_KEY, "operator": "DoesNotExist"},
                        {"key": WATCH_KEY, "operator": "In", "values": [selector_ns]},
                    ]}),
                );
            }
        }
    }

    /// Adds tkn-multi's labels and replaces upstream's `app.kubernetes.io/instance: default`
    /// (in labels and selectors alike, so they keep matching) with the owner's name.
    fn relabel(&self, o: &mut Object) {
        replace_instance_label(o.as_map_mut(), &self.owner);
        o.set_label(LABEL_MANAGED_BY, MANAGER);
        o.set_label(LABEL_PART, if self.instance { "instance" } else { "shared" });
        if self.instance {
            o.set_label(LABEL_INSTANCE, &self.owner);
        }
        o.set_label(LABEL_VERSION, &self.version.to_string());
    }

    /// Adds what the side needs beyond rewritten upstream objects, and narrows an instance's RBAC.
    pub fn finish(&self, mut objects: Vec<Object>) -> Vec<Object> {
        if self.instance {
            objects = rbac::narrow(objects, self);
            if self.watched_namespace != self.system_namespace {
                let mut ns = Object::from_map(Map::new());
                let m = ns.as_map_mut();
                m.insert("apiVersion".into(), "v1".into());
                m.insert("kind".into(), "Namespace".into());
                ns.set_name(&self.watched_namespace);
                ns.set_annotation(ANNOTATION_RETAIN, "true");
                self.relabel(&mut ns);
                objects.push(ns);
            }
        }
        objects
    }
}

fn is_aggregate_role(name: &str) -> bool {
    name.starts_with("tekton-aggregate-")
}

fn replace_instance_label(map: &mut Map<String, Value>, owner: &str) {
    for (k, v) in map.iter_mut() {
        match v {
            Value::String(s) if k == "app.kubernetes.io/instance" && s == "default" => {
                owner.clone_into(s);
            }
            Value::Object(inner) => replace_instance_label(inner, owner),
            Value::Array(items) => {
                for item in items.iter_mut().filter_map(Value::as_object_mut) {
                    replace_instance_label(item, owner);
                }
            }
            _ => {}
        }
    }
}

/// `autoscaling/v2beta1` (removed in Kubernetes 1.26) → `autoscaling/v2`: resource metrics'
/// `targetAverageUtilization`/`targetAverageValue` become a `target`.
fn rewrite_hpa(o: &mut Object) {
    if !matches!(o.api_version(), "autoscaling/v2beta1" | "autoscaling/v2beta2") {
        return;
    }
    o.as_map_mut().insert("apiVersion".into(), "autoscaling/v2".into());
    let Some(Value::Array(metrics)) = o.pointer_mut("/spec/metrics") else { return };
    for m in metrics.iter_mut().filter_map(Value::as_object_mut) {
        let Some(Value::Object(res)) = m.get_mut("resource") else { continue };
        let target = if let Some(u) = res.remove("targetAverageUtilization") {
            Some(json!({"type": "Utilization", "averageUtilization": u}))
        } else {
            res.remove("targetAverageValue")
                .map(|v| json!({"type": "AverageValue", "averageValue": v}))
        };
        if let Some(t) = target {
            ensure_object(res, "target").extend(t.as_object().expect("built as an object").clone());
        }
    }
}
