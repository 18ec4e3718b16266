//! Guarantees 1–8 of the split, over every real release (issue: foundation).

use std::collections::{BTreeSet, HashSet};

use serde_json::Value;
use tkn_multi::names::{InstanceName, NamespaceName};
use tkn_multi::release::capabilities::Capabilities;
use tkn_multi::release::{Object, ObjectRef, Release, TektonVersion};
use tkn_multi::render::manifests::to_yaml_stream;
use tkn_multi::split::{
    self, InstanceSpec, Part, Rule, SharedSpec, classify, instance_part, resource_scope,
    shared_part,
};

use crate::common::{all_versions, load};

fn spec(name: &str) -> InstanceSpec {
    InstanceSpec {
        name: name.parse::<InstanceName>().unwrap(),
        namespace: name.parse::<NamespaceName>().unwrap(),
        control_plane_namespace: format!("tekton-{name}").parse().unwrap(),
        admission_ca: None,
    }
}

struct Rendered {
    version: TektonVersion,
    release: Release,
    shared: Vec<Object>,
    a: Vec<Object>,
    b: Vec<Object>,
}

fn render_all() -> Vec<Rendered> {
    let shared_spec = SharedSpec::default();
    all_versions()
        .into_iter()
        .map(|v| {
            let release = load(&v);
            let shared = shared_part(&release, &shared_spec);
            let a = instance_part(&release, &spec("team-a"), &shared_spec).unwrap();
            let b = instance_part(&release, &spec("team-b"), &shared_spec).unwrap();
            Rendered { version: v, release, shared, a, b }
        })
        .collect()
}

fn cluster_names(objects: &[Object]) -> BTreeSet<ObjectRef> {
    objects.iter().filter(|o| o.namespace().is_none()).map(Object::object_ref).collect()
}

fn strings(v: Option<&Value>) -> Vec<&str> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// Every place where a string equal to an upstream namespace survives, with its JSON path.
fn upstream_namespace_refs(o: &Object) -> Vec<String> {
    let is_namespace = o.kind() == "Namespace";
    fn walk(v: &Value, path: &mut Vec<String>, hits: &mut Vec<String>, is_namespace: bool) {
        match v {
            Value::String(s) if s == "tekton-pipelines" || s == "tekton-pipelines-resolvers" => {
                // Allowed: label values (part-of), CRD categories, and ConfigMap data values.
                // Object and subject *names* may keep upstream's words; only a Namespace's own
                // name is a namespace.
                let allowed =
                    path.iter().any(|p| {
                        matches!(
                            p.as_str(),
                            "labels"
                                | "matchLabels"
                                | "selector"
                                | "categories"
                                | "data"
                                | "objectSelector"
                        )
                    }) || (path.last().is_some_and(|p| p == "name" || p.ends_with("Name"))
                        && !is_namespace);
                if !allowed {
                    hits.push(path.join("/"));
                }
            }
            Value::Object(m) => {
                for (k, v) in m {
                    path.push(k.clone());
                    walk(v, path, hits, is_namespace);
                    path.pop();
                }
            }
            Value::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    path.push(i.to_string());
                    walk(v, path, hits, is_namespace);
                    path.pop();
                }
            }
            _ => {}
        }
    }
    let mut hits = vec![];
    walk(&o.to_value(), &mut vec![], &mut hits, is_namespace);
    hits
}

#[test]
fn guarantee_1_every_object_has_exactly_one_disposition() {
    for v in all_versions() {
        let release = load(&v);
        let ds = classify(&release);
        assert_eq!(ds.len(), release.objects.len(), "{v}: one disposition per object");
        for d in &ds {
            assert_ne!(d.rule, Rule::Unclassified, "{v}: {} is not recognised", d.object);
            if d.part == Part::Dropped {
                assert!(
                    matches!(
                        d.rule,
                        Rule::PodSecurityPolicy
                            | Rule::AdmissionHardcodedNames
                            | Rule::Duplicate
                            | Rule::LegacyCrdApi
                    ),
                    "{v}: {} dropped by {:?}",
                    d.object,
                    d.rule
                );
            }
        }
        // Dropped objects are exactly the PSP (≤ v0.40) and, before v0.44, the admission configs.
        let dropped: Vec<_> =
            ds.iter().filter(|d| d.part == Part::Dropped).map(|d| d.object.kind.as_str()).collect();
        let psp = usize::from(Capabilities::of(&v).legacy_policy_apis);
        let admission = if Capabilities::of(&v).instance_admission() { 0 } else { 3 };
        let legacy_crd = usize::from(v == "v0.22.0".parse().unwrap());
        assert_eq!(dropped.len(), psp + admission + legacy_crd, "{v}: dropped {dropped:?}");
    }
}

#[test]
fn guarantees_2_to_8_hold_for_every_release() {
    let all = render_all();
    let shared_ns = "tekton-shared";
    for r in &all {
        let v = &r.version;
        let caps = Capabilities::of(v);
        // 2. Shared part: every CRD, conversion pointed at the shared webhook, which exists there.
        let upstream_crds: BTreeSet<_> = r
            .release
            .objects
            .iter()
            .filter(|o| o.kind() == "CustomResourceDefinition" && o.name().ends_with("tekton.dev"))
            .map(Object::name)
            .collect();
        let shared_crds: BTreeSet<_> = r
            .shared
            .iter()
            .filter(|o| o.kind() == "CustomResourceDefinition")
            .map(Object::name)
            .collect();
        assert_eq!(upstream_crds, shared_crds, "{v}: all CRDs are shared");
        for crd in r.shared.iter().filter(|o| o.kind() == "CustomResourceDefinition") {
            if let Some(svc) = crd.pointer("/spec/conversion/webhook/clientConfig/service") {
                assert_eq!(svc["namespace"], shared_ns, "{v}: {}", crd.name());
                let name = svc["name"].as_str().unwrap();
                for kind in ["Service", "Deployment"] {
                    assert!(
                        r.shared.iter().any(|o| o.kind() == kind
                            && o.name() == name
                            && o.namespace() == Some(shared_ns)),
                        "{v}: conversion {kind} {name} missing from the shared part"
                    );
                }
            }
        }
        for name in ["tekton-aggregate-edit", "tekton-aggregate-view"] {
            assert!(
                r.shared.iter().any(|o| o.kind() == "ClusterRole" && o.name() == name),
                "{v}: {name}"
            );
        }
        assert!(
            !r.shared.iter().any(|o| o.name() == "tekton-pipelines-controller"),
            "{v}: no controller shared"
        );
        // The shared webhook keeps the CRD write rights (it owns the conversion caBundle).
        let shared_webhook_role = r
            .shared
            .iter()
            .find(|o| {
                o.kind() == "ClusterRole"
                    && o.name() == "tkn-multi:shared:tekton-pipelines-webhook-cluster-access"
            })
            .unwrap_or_else(|| panic!("{v}: shared webhook ClusterRole"));
        assert!(
            grants(shared_webhook_role, "customresourcedefinitions", "update"),
            "{v}: shared CRD update"
        );

        for (inst, objs) in [("team-a", &r.a), ("team-b", &r.b)] {
            let cp = format!("tekton-{inst}");
            // 3. Every namespaced object is in the control plane, or (bindings, the namespace
            //    itself) in the watched namespace; nothing refers to the upstream namespaces.
            for o in objs {
                match o.namespace() {
                    Some(ns) if ns == cp => {}
                    Some(ns) if ns == inst => {
                        assert_eq!(o.kind(), "RoleBinding", "{v}: {} in {inst}", o.name());
                    }
                    Some(ns) => {
                        panic!("{v}: {} {} in unexpected namespace {ns}", o.kind(), o.name())
                    }
                    None => {}
                }
                let refs = upstream_namespace_refs(o);
                assert!(
                    refs.is_empty(),
                    "{v}: {} {} still refers to upstream at {refs:?}",
                    o.kind(),
                    o.name()
                );
            }
            for o in &r.shared {
                let refs = upstream_namespace_refs(o);
                assert!(
                    refs.is_empty(),
                    "{v}: shared {} {} refers to upstream at {refs:?}",
                    o.kind(),
                    o.name()
                );
            }
            // 6. The controller watches only the instance's namespace.
            let ctrl = objs
                .iter()
                .find(|o| o.kind() == "Deployment" && o.name() == "tekton-pipelines-controller")
                .unwrap_or_else(|| panic!("{v}: controller"));
            let args = strings(ctrl.pointer("/spec/template/spec/containers/0/args"));
            let pos = args
                .iter()
                .position(|a| *a == "-namespace")
                .unwrap_or_else(|| panic!("{v}: -namespace"));
            assert_eq!(args[pos + 1], inst);
            // 5. Admission: only where the names can be made unique, acting only on the instance.
            check_admission(v, &caps, inst, &cp, objs);
            // 7. RBAC narrowed.
            check_rbac(v, inst, &cp, objs);
        }
        // 8. Deterministic output.
        let again = instance_part(&r.release, &spec("team-a"), &SharedSpec::default()).unwrap();
        assert_eq!(
            to_yaml_stream(&again).unwrap(),
            to_yaml_stream(&r.a).unwrap(),
            "{v}: deterministic"
        );
    }

    // 4. Cluster-scoped names are disjoint between any two instances of any two versions, and
    //    from the shared part of any version.
    let shared_names: BTreeSet<_> = all.iter().flat_map(|r| cluster_names(&r.shared)).collect();
    let a_names: Vec<_> = all.iter().map(|r| cluster_names(&r.a)).collect();
    let b_names: Vec<_> = all.iter().map(|r| cluster_names(&r.b)).collect();
    for (i, a) in a_names.iter().enumerate() {
        let clash: Vec<_> = a.intersection(&shared_names).collect();
        assert!(clash.is_empty(), "{}: team-a clashes with shared: {clash:?}", all[i].version);
        for (j, b) in b_names.iter().enumerate() {
            let clash: Vec<_> = a.intersection(b).collect();
            assert!(
                clash.is_empty(),
                "team-a {} and team-b {} clash: {clash:?}",
                all[i].version,
                all[j].version
            );
        }
    }
}

fn grants(role: &Object, resource: &str, verb: &str) -> bool {
    role.pointer("/rules").and_then(Value::as_array).is_some_and(|rules| {
        rules.iter().any(|r| {
            strings(r.get("resources")).iter().any(|res| res.starts_with(resource))
                && strings(r.get("verbs")).iter().any(|v| *v == verb || *v == "*")
        })
    })
}

fn check_admission(v: &TektonVersion, caps: &Capabilities, inst: &str, cp: &str, objs: &[Object]) {
    let configs: Vec<_> =
        objs.iter().filter(|o| o.kind().ends_with("WebhookConfiguration")).collect();
    if !caps.instance_admission() {
        assert!(configs.is_empty(), "{v}: no instance admission");
        assert!(
            !objs.iter().any(|o| o.name() == "tekton-pipelines-webhook"),
            "{v}: no instance webhook"
        );
        return;
    }
    if caps.owned_admission {
        check_owned_admission(v, &configs);
    }
    assert_eq!(configs.len(), 3, "{v}: three admission configurations");
    let w = format!("webhook.{inst}.pipeline.tekton.dev");
    let names: BTreeSet<_> = configs.iter().map(|o| o.name().to_owned()).collect();
    assert_eq!(
        names,
        BTreeSet::from([w.clone(), format!("validation.{w}"), format!("config.{w}")])
    );
    for c in &configs {
        for h in c.pointer("/webhooks").and_then(Value::as_array).unwrap() {
            assert_eq!(
                h["name"],
                c.name(),
                "{v}: knative only reconciles webhooks named like the object"
            );
            assert_eq!(h["clientConfig"]["service"]["namespace"], cp);
            let svc = h["clientConfig"]["service"]["name"].as_str().unwrap();
            assert!(
                objs.iter().any(|o| o.kind() == "Service" && o.name() == svc),
                "{v}: service {svc}"
            );
            let selector = &h["namespaceSelector"];
            let expr = selector["matchExpressions"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["key"] == "kubernetes.io/metadata.name")
                .unwrap();
            assert_eq!(expr["operator"], "In");
            let want = if c.name().starts_with("config.") { cp } else { inst };
            assert_eq!(expr["values"], serde_json::json!([want]), "{v}: {}", c.name());
            assert!(selector.get("matchLabels").is_none(), "{v}: expressions only");
            assert_eq!(
                &knative_ensure_label_selector_expressions(selector),
                selector,
                "{v}: {} is not knative's fixed point, so its webhook would rewrite it",
                c.name()
            );
        }
    }
    let webhook = objs
        .iter()
        .find(|o| o.kind() == "Deployment" && o.name() == "tekton-pipelines-webhook")
        .unwrap();
    let env =
        webhook.pointer("/spec/template/spec/containers/0/env").and_then(Value::as_array).unwrap();
    let name_env = env.iter().find(|e| e["name"] == "WEBHOOK_ADMISSION_CONTROLLER_NAME");
    if caps.owned_admission {
        assert!(name_env.is_none(), "{v}: the variable does not exist before v0.44");
    } else {
        assert_eq!(
            name_env.unwrap()["value"],
            w.as_str(),
            "{v}: the webhook reconciles the renamed configurations"
        );
    }
    // The instance's webhook can update its own configurations and nothing else; never CRDs.
    for role in objs.iter().filter(|o| o.kind() == "ClusterRole") {
        assert!(
            !grants(role, "customresourcedefinitions", "update"),
            "{v}: {} may update CRDs",
            role.name()
        );
        assert!(
            !grants(role, "customresourcedefinitions", "patch"),
            "{v}: {} may patch CRDs",
            role.name()
        );
        for rule in role.pointer("/rules").and_then(Value::as_array).unwrap() {
            let res = strings(rule.get("resources"));
            let named = strings(rule.get("resourceNames"));
            if res.iter().any(|r| r.ends_with("webhookconfigurations")) {
                assert!(
                    named.iter().all(|n| names.contains(*n)),
                    "{v}: {} names {named:?}",
                    role.name()
                );
            }
            // Before v0.44 the controller's unnamed `namespaces` read is all there is.
            if res.iter().any(|r| r.starts_with("namespaces"))
                && (!caps.owned_admission || !named.is_empty())
            {
                assert_eq!(named, vec![cp], "{v}: {} namespaces", role.name());
            }
        }
    }
}

/// Before v0.44 the configurations carry what knative would have written: every kind of the
/// version's `types` map (compat-matrix/admission.yaml) that has a namespaced CRD, the service
/// paths; never a cluster-scoped kind, never a caBundle at render.
fn check_owned_admission(v: &TektonVersion, configs: &[&Object]) {
    let table = tkn_multi::release::admission::of(v).expect("recorded");
    let release = load(v);
    let crd = |group: &str, kind: &str| {
        release.objects.iter().find(|o| {
            o.kind() == "CustomResourceDefinition"
                && o.pointer("/spec/group") == Some(&Value::from(group))
                && o.pointer("/spec/names/kind") == Some(&Value::from(kind))
        })
    };
    let mut want = BTreeSet::new();
    for t in &table.types {
        let c = crd(&t.group, &t.kind).unwrap_or_else(|| {
            panic!("{v}: the webhook admits {}/{}, which has no CRD", t.group, t.kind)
        });
        let served: Vec<&str> = c
            .pointer("/spec/versions")
            .and_then(Value::as_array)
            .unwrap()
            .iter()
            .filter(|x| x["served"] == true)
            .filter_map(|x| x["name"].as_str())
            .collect();
        // v0.38–v0.43 list v1 kinds their own CRDs do not serve yet: no rule (a newer shared
        // CRD's v1 request is converted to a version the instance knows, matchPolicy Equivalent).
        if c.pointer("/spec/scope") == Some(&Value::from("Namespaced"))
            && served.contains(&t.version.as_str())
        {
            let plural = c.pointer("/spec/names/plural").and_then(Value::as_str).unwrap();
            want.insert((t.group.clone(), t.version.clone(), plural.to_owned()));
        }
    }
    for c in configs {
        let h = &c.pointer("/webhooks").and_then(Value::as_array).unwrap()[0];
        assert!(h["clientConfig"].get("caBundle").is_none(), "{v}: render makes no certificate");
        let path = h["clientConfig"]["service"]["path"].as_str().unwrap();
        let rules = h["rules"].as_array().unwrap();
        if c.name().starts_with("config.") {
            assert_eq!(path, "/config-validation");
            assert_eq!(rules[0]["resources"], serde_json::json!(["configmaps/*"]));
            continue;
        }
        let got: BTreeSet<_> = rules
            .iter()
            .map(|r| {
                let res = strings(r.get("resources"));
                let ops = strings(r.get("operations"));
                if table.decodes_subresource_field() {
                    assert_eq!(res[1], format!("{}/status", res[0]), "{v}: plural and status");
                } else {
                    assert_eq!((res.len(), ops.clone()), (1, vec!["CREATE"]), "{v}: creates only");
                }
                (
                    r["apiGroups"][0].as_str().unwrap().to_owned(),
                    r["apiVersions"][0].as_str().unwrap().to_owned(),
                    res[0].to_string(),
                )
            })
            .collect();
        assert_eq!(got, want, "{v}: {}", c.name());
        assert!(!got.iter().any(|g| g.2 == "clustertasks"), "{v}: never cluster-scoped kinds");
        let expected_path = if c.name().starts_with("validation.") {
            "/resource-validation"
        } else {
            "/defaulting"
        };
        assert_eq!(path, expected_path, "{v}");
        assert_eq!(h["failurePolicy"], "Fail", "{v}");
    }
}

fn check_rbac(v: &TektonVersion, inst: &str, cp: &str, objs: &[Object]) {
    let role = |name: &str| objs.iter().find(|o| o.kind() == "ClusterRole" && o.name() == name);
    for crb in objs.iter().filter(|o| o.kind() == "ClusterRoleBinding") {
        assert!(crb.name().starts_with(&format!("tkn-multi:{inst}:")), "{v}: {}", crb.name());
        let rr = crb.pointer("/roleRef/name").and_then(Value::as_str).unwrap();
        let r = role(rr).unwrap_or_else(|| panic!("{v}: {} binds missing {rr}", crb.name()));
        // Only truly cluster-scoped needs stay cluster-wide.
        for rule in r.pointer("/rules").and_then(Value::as_array).unwrap() {
            let groups = strings(rule.get("apiGroups"));
            for res in strings(rule.get("resources")) {
                assert!(
                    groups.iter().any(|g| resource_scope(g, res) == split::ResourceScope::Cluster),
                    "{v}: {} grants namespaced {res} cluster-wide",
                    crb.name()
                );
            }
        }
        for s in crb.pointer("/subjects").and_then(Value::as_array).unwrap() {
            assert_eq!(s["namespace"], cp, "{v}: {} subject", crb.name());
        }
    }
    // Namespaced grants arrive through RoleBindings in exactly the two namespaces.
    let narrowed: HashSet<_> = objs
        .iter()
        .filter(|o| {
            o.kind() == "RoleBinding"
                && o.pointer("/roleRef/kind").and_then(Value::as_str) == Some("ClusterRole")
        })
        .map(|o| (o.namespace().unwrap().to_owned(), o.name().to_owned()))
        .collect();
    let controller_access = format!("tkn-multi:{inst}:tekton-pipelines-controller-cluster-access");
    for ns in [inst, cp] {
        assert!(
            narrowed.contains(&(ns.to_owned(), controller_access.clone())),
            "{v}: controller access in {ns}"
        );
    }
}

#[test]
fn every_release_parses_the_same_cut_into_runs_as_in_one_piece() {
    for v in all_versions() {
        let text = std::fs::read_to_string(crate::common::release_path(&v.to_string())).unwrap();
        let cut = tkn_multi::yaml::parse_documents(&text).unwrap();
        assert_eq!(cut, tkn_multi::yaml::parse_documents_in_one_piece(&text).unwrap(), "{v}");
        assert!(cut.len() > 40, "{v}: {} documents", cut.len());
    }
}

#[test]
fn instances_cannot_use_the_shared_namespace() {
    let v = all_versions().pop().expect("the release files");
    let release = load(&v);
    let mut s = spec("team-a");
    s.control_plane_namespace = "tekton-shared".parse().unwrap();
    let err = instance_part(&release, &s, &SharedSpec::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "namespace `tekton-shared` of instance `team-a` is reserved for the shared part"
    );
}

#[test]
fn rendered_objects_deserialise_into_their_kubernetes_types() {
    use k8s_openapi::api::admissionregistration::v1 as adm;
    use k8s_openapi::api::{
        apps::v1 as apps, autoscaling::v2 as hpa, core::v1 as core, rbac::v1 as rbac,
    };
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as ext;
    fn check<T: serde::de::DeserializeOwned + serde::Serialize>(o: &Object, v: &TektonVersion) {
        let typed: T = serde_json::from_value(o.to_value())
            .unwrap_or_else(|e| panic!("{v}: {} {} does not deserialise: {e}", o.kind(), o.name()));
        // Nothing is lost: the typed value serialises back to every field we rendered.
        let back = serde_json::to_value(&typed).unwrap();
        assert_json_subset(&o.to_value(), &back, &format!("{v}: {} {}", o.kind(), o.name()));
    }
    for v in all_versions() {
        let release = load(&v);
        let mut objects = shared_part(&release, &SharedSpec::default());
        objects.extend(instance_part(&release, &spec("team-a"), &SharedSpec::default()).unwrap());
        for o in &objects {
            match (o.api_version(), o.kind()) {
                ("v1", "Namespace") => check::<core::Namespace>(o, &v),
                ("v1", "ServiceAccount") => check::<core::ServiceAccount>(o, &v),
                ("v1", "ConfigMap") => check::<core::ConfigMap>(o, &v),
                ("v1", "Secret") => check::<core::Secret>(o, &v),
                ("v1", "Service") => check::<core::Service>(o, &v),
                ("apps/v1", "Deployment") => check::<apps::Deployment>(o, &v),
                ("autoscaling/v2", "HorizontalPodAutoscaler") => {
                    check::<hpa::HorizontalPodAutoscaler>(o, &v);
                }
                ("rbac.authorization.k8s.io/v1", "ClusterRole") => {
                    check::<rbac::ClusterRole>(o, &v);
                }
                ("rbac.authorization.k8s.io/v1", "Role") => check::<rbac::Role>(o, &v),
                ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => {
                    check::<rbac::ClusterRoleBinding>(o, &v);
                }
                ("rbac.authorization.k8s.io/v1", "RoleBinding") => {
                    check::<rbac::RoleBinding>(o, &v);
                }
                ("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration") => {
                    check::<adm::MutatingWebhookConfiguration>(o, &v);
                }
                ("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration") => {
                    check::<adm::ValidatingWebhookConfiguration>(o, &v);
                }
                ("apiextensions.k8s.io/v1", "CustomResourceDefinition") => {
                    check::<ext::CustomResourceDefinition>(o, &v);
                }
                (api, kind) => panic!("{v}: {kind} {} has no known type for {api}", o.name()),
            }
        }
    }
}

/// Every leaf of `want` is present, equal, in `got` (numbers compared by value).
fn assert_json_subset(want: &Value, got: &Value, at: &str) {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            for (k, wv) in w {
                if wv.is_null() {
                    continue;
                }
                let gv = g.get(k).unwrap_or_else(|| panic!("{at}: field `{k}` lost"));
                assert_json_subset(wv, gv, &format!("{at}/{k}"));
            }
        }
        (Value::Array(w), Value::Array(g)) => {
            assert_eq!(w.len(), g.len(), "{at}: array length");
            for (i, (wv, gv)) in w.iter().zip(g).enumerate() {
                assert_json_subset(wv, gv, &format!("{at}/{i}"));
            }
        }
        (Value::Number(w), Value::Number(g)) => assert_eq!(w.as_f64(), g.as_f64(), "{at}"),
        (w, g) => assert_eq!(w, g, "{at}"),
    }
}

/// knative's `webhook.EnsureLabelSelectorExpressions(current, want)` as every Tekton webhook calls
/// it (`want` = `webhooks.knative.dev/exclude DoesNotExist`), transcribed as the specification the
/// rendered selectors are checked against: knative's expressions first, then every expression
/// whose key does not contain `knative.dev`, `matchLabels` kept.
fn knative_ensure_label_selector_expressions(current: &Value) -> Value {
    let want =
        serde_json::json!([{"key": "webhooks.knative.dev/exclude", "operator": "DoesNotExist"}]);
    let exprs = current["matchExpressions"].as_array().cloned().unwrap_or_default();
    let mut out = serde_json::Map::new();
    if let Some(labels) = current.get("matchLabels") {
        out.insert("matchLabels".into(), labels.clone());
    }
    let mut merged = want.as_array().unwrap().clone();
    if !exprs.is_empty() {
        merged.extend(
            exprs.into_iter().filter(|e| !e["key"].as_str().unwrap().contains("knative.dev")),
        );
    }
    out.insert("matchExpressions".into(), Value::Array(merged));
    Value::Object(out)
}
