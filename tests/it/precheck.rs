//! The upgrade precheck's rules on the real releases, with objects as the API server returns them
//! (issue "Upgrade precheck"). The live command is tested in `cluster.rs`.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use tkn_multi::matrix::Matrix;
use tkn_multi::plan::state::ObservedInstance;
use tkn_multi::precheck::{Report, Severity, precheck};

use crate::common::{load, release_dir};

fn instance(version: &str) -> ObservedInstance {
    ObservedInstance {
        name: "team-b".into(),
        version: version.parse().unwrap(),
        namespace: "team-b".into(),
        control_plane_namespace: "tekton-team-b".into(),
        admission: None,
        kept_defaults: BTreeMap::new(),
    }
}

fn run(from: &str, to: &str, objects: &[Value]) -> Report {
    release_dir();
    let m = Matrix::embedded();
    precheck(
        &instance(from),
        &load(&from.parse().unwrap()),
        &load(&to.parse().unwrap()),
        &m.defaults,
        objects,
    )
}

fn blockers(r: &Report) -> Vec<(&'static str, String)> {
    r.findings
        .iter()
        .filter(|f| f.severity == Severity::Blocker)
        .map(|f| (f.rule, f.object.clone().unwrap_or_default()))
        .collect()
}

#[test]
fn clustertask_references_block_a_move_to_v1_and_only_live_ones() {
    let objects = [
        json!({"apiVersion": "tekton.dev/v1", "kind": "Pipeline", "metadata": {"name": "uses"},
            "spec": {"tasks": [{"name": "build", "taskRef": {"kind": "ClusterTask", "name": "x"}}]}}),
        json!({"apiVersion": "tekton.dev/v1", "kind": "TaskRun", "metadata": {"name": "running"},
            "spec": {"taskRef": {"kind": "ClusterTask", "name": "x"}}}),
        json!({"apiVersion": "tekton.dev/v1", "kind": "PipelineRun", "metadata": {"name": "done"},
            "spec": {"pipelineSpec": {"tasks": [{"name": "t", "taskRef": {"kind": "ClusterTask", "name": "x"}}]}},
            "status": {"conditions": [{"type": "Succeeded", "status": "True"}]}}),
        json!({"apiVersion": "tekton.dev/v1", "kind": "Task", "metadata": {"name": "clean"},
            "spec": {"steps": [{"name": "s", "image": "busybox", "script": "true"}]}}),
    ];
    let r = run("v0.56.0", "v1.15.1", &objects);
    assert_eq!(
        blockers(&r),
        [
            ("removed-kind-reference", "Pipeline/uses".to_owned()),
            ("removed-kind-reference", "TaskRun/running".to_owned())
        ],
        "{:#?}",
        r.findings
    );
    assert!(r.blocked() && r.objects == 4);
    assert!(r.findings[0].source.contains("v0.56.0 and v1.15.1"), "{:?}", r.findings[0]);
    // The same objects stay fine within the v0 line, which still has ClusterTasks.
    assert!(!run("v0.56.0", "v0.64.0", &objects).blocked());
    let text = tkn_multi::render::precheck::precheck_text(&r);
    assert!(text.contains("2 blocker(s)"), "{text}");
}

#[test]
fn pipeline_resources_and_their_kind_block_a_move_past_their_removal() {
    let objects = [
        json!({"apiVersion": "tekton.dev/v1beta1", "kind": "Task", "metadata": {"name": "with-resources"},
            "spec": {"resources": {"inputs": [{"name": "src", "type": "git"}]}, "steps": [{"name": "s", "image": "busybox"}]}}),
        json!({"apiVersion": "tekton.dev/v1alpha1", "kind": "PipelineResource", "metadata": {"name": "repo"},
            "spec": {"type": "git"}}),
    ];
    let r = run("v0.44.2", "v0.56.0", &objects);
    assert_eq!(
        blockers(&r),
        [
            ("removed-kind", "PipelineResource/repo".to_owned()),
            ("pipeline-resources", "Task/with-resources".to_owned())
        ],
        "{:#?}",
        r.findings
    );
}

#[test]
fn fields_the_target_schema_drops_or_now_requires_are_blockers() {
    release_dir();
    let m = Matrix::embedded();
    let from = load(&"v1.15.1".parse().unwrap());
    // The target: v1.15.1 whose Task v1 schema drops `spec.steps[].script` and requires
    // `spec.description` (a made-up release; the rules read the schemas as `matrix diff` does).
    let mut to = from.clone();
    for o in &mut to.objects {
        if o.kind() == "CustomResourceDefinition" && o.name() == "tasks.tekton.dev" {
            let versions = o.pointer_mut("/spec/versions").and_then(Value::as_array_mut).unwrap();
            for v in versions.iter_mut().filter(|v| v["name"] == "v1") {
                let spec = &mut v["schema"]["openAPIV3Schema"]["properties"]["spec"];
                let step = &mut spec["properties"]["steps"]["items"]["properties"];
                step.as_object_mut().unwrap().remove("script");
                spec["required"] = json!(["description"]);
            }
        }
    }
    let objects = [
        json!({"apiVersion": "tekton.dev/v1", "kind": "Task", "metadata": {"name": "scripted"},
            "spec": {"description": "d", "steps": [{"name": "s", "image": "busybox", "script": "true"}]}}),
        json!({"apiVersion": "tekton.dev/v1", "kind": "Task", "metadata": {"name": "undescribed"},
            "spec": {"steps": [{"name": "s", "image": "busybox", "command": ["true"]}]}}),
        json!({"apiVersion": "tekton.dev/v1", "kind": "Task", "metadata": {"name": "fine"},
            "spec": {"description": "d", "steps": [{"name": "s", "image": "busybox", "command": ["true"]}]}}),
    ];
    let r = precheck(&instance("v1.15.1"), &from, &to, &m.defaults, &objects);
    assert_eq!(
        blockers(&r),
        [
            ("pruned-field", "Task/scripted".to_owned()),
            ("required-field", "Task/undescribed".to_owned())
        ],
        "{:#?}",
        r.findings
    );
    assert!(r.findings.iter().any(|f| f.message.contains("spec.steps[].script")));
}

#[test]
fn feature_flags_that_change_warn_unless_kept() {
    let r = run("v1.9.0", "v1.15.1", &[]);
    let flags: Vec<&str> = r
        .findings
        .iter()
        .filter(|f| f.rule == "feature-flag")
        .map(|f| f.message.as_str())
        .collect();
    assert!(
        flags.iter().any(|m| m.contains("`send-cloudevents-for-runs` changes from false to true")),
        "{flags:?}"
    );
    assert!(r.findings.iter().all(|f| f.severity == Severity::Warning) && !r.blocked());
    // Kept (`--keep-defaults` earlier): no warning for it.
    release_dir();
    let mut kept = instance("v1.9.0");
    kept.kept_defaults.insert("send-cloudevents-for-runs".into(), "false".into());
    let r = precheck(
        &kept,
        &load(&"v1.9.0".parse().unwrap()),
        &load(&"v1.15.1".parse().unwrap()),
        &Matrix::embedded().defaults,
        &[],
    );
    assert!(r.findings.iter().all(|f| !f.message.contains("send-cloudevents-for-runs")));
}

/// The shadow of v1.15.1's webhook is its webhook component only, in the scratch namespace,
/// admitting for that namespace alone, with the instance's own config, and carrying the shadow
/// label instead of tkn-multi's owner labels (so `list` and the planner never see it). Before
/// v0.44 no shadow is made.
#[test]
fn a_shadow_is_the_targets_webhook_alone_in_its_scratch_namespace() {
    use tkn_multi::shadow::{LABEL_SHADOW, Shadow};
    release_dir();
    let to = load(&"v1.15.1".parse().unwrap());
    let sh = Shadow::new("abc123", &to.version).unwrap();
    let config = BTreeMap::from([(
        "feature-flags".to_owned(),
        BTreeMap::from([("send-cloudevents-for-runs".to_owned(), "false".to_owned())]),
    )]);
    let objects = sh.objects(&to, &config).unwrap();
    let deployments: Vec<&str> = objects
        .iter()
        .filter(|o| o.kind() == "Deployment")
        .map(tkn_multi::release::Object::name)
        .collect();
    assert_eq!(deployments, ["tekton-pipelines-webhook"], "no controller runs");
    for o in &objects {
        assert_eq!(o.label(LABEL_SHADOW), Some("abc123"), "{:?}", o.object_ref());
        for owner in ["app.kubernetes.io/managed-by", "tkn-multi.tekton.dev/instance"] {
            assert_eq!(o.label(owner), None, "{:?}", o.object_ref());
        }
        if let Some(ns) = o.namespace() {
            assert_eq!(ns, "tkn-multi-shadow-abc123");
        }
        if o.kind().ends_with("WebhookConfiguration") {
            let selected = serde_json::to_string(o.pointer("/webhooks").unwrap()).unwrap();
            assert!(selected.contains("tkn-multi-shadow-abc123"), "{selected}");
        }
    }
    let namespaces: Vec<&str> = objects
        .iter()
        .filter(|o| o.kind() == "Namespace")
        .map(tkn_multi::release::Object::name)
        .collect();
    assert_eq!(namespaces, ["tkn-multi-shadow-abc123"]);
    let flags = objects.iter().find(|o| o.name() == "feature-flags").unwrap();
    assert_eq!(flags.pointer("/data/send-cloudevents-for-runs").unwrap(), "false");
    let validation = sh.validation_webhook();
    assert!(
        objects
            .iter()
            .any(|o| o.kind() == "ValidatingWebhookConfiguration" && o.name() == validation),
        "the probe's refusal names {validation}"
    );
    // The webhook can take its leases: the Role its leader-election binding names is there.
    assert!(
        objects
            .iter()
            .any(|o| o.kind() == "Role" && o.name() == "tekton-pipelines-leader-election")
    );
    assert!(Shadow::new("x", &"v0.41.2".parse().unwrap()).is_err(), "no shadow before v0.44");
}

/// The shadow of v1.15.1's shared conversion webhook: its webhook alone, no CRDs and no
/// admission configurations, its cluster-wide names its own, and no right to write a CRD or an
/// admission configuration: the live CRDs never change, nor the live shared layer's objects.
#[test]
fn a_shared_shadow_converts_without_touching_the_live_crds() {
    use tkn_multi::shadow::{LABEL_SHADOW, Shadow};
    release_dir();
    let to = load(&"v1.15.1".parse().unwrap());
    let sh = Shadow::new("abc123", &to.version).unwrap();
    let objects = sh.shared_objects(&to).unwrap();
    let kinds: std::collections::BTreeSet<&str> =
        objects.iter().map(tkn_multi::release::Object::kind).collect();
    for absent in [
        "CustomResourceDefinition",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
    ] {
        assert!(!kinds.contains(absent), "{absent}: {kinds:?}");
    }
    let deployments: Vec<&str> = objects
        .iter()
        .filter(|o| o.kind() == "Deployment")
        .map(tkn_multi::release::Object::name)
        .collect();
    assert_eq!(deployments, ["tekton-pipelines-webhook"], "no events controller, no resolvers");
    for o in &objects {
        assert_eq!(o.label(LABEL_SHADOW), Some("abc123"));
        assert!(!o.name().contains(":shared:"), "{:?}", o.object_ref());
        if let Some(r) = o.pointer("/roleRef/name") {
            assert!(!r.as_str().unwrap().contains(":shared:"), "{r}");
        }
        if let Some(ns) = o.namespace() {
            assert_eq!(ns, "tkn-multi-shadow-abc123");
        }
        let text = serde_json::to_string(&o.to_value()).unwrap();
        assert!(!text.contains("webhook.shared.pipeline.tekton.dev"), "{text}");
        if o.kind() == "ClusterRole" {
            for rule in o.pointer("/rules").unwrap().as_array().unwrap() {
                let on_crds = rule["resources"].as_array().into_iter().flatten().any(|r| {
                    r == "customresourcedefinitions"
                        || r.as_str().unwrap().contains("webhookconfigurations")
                });
                let writes = rule["verbs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|v| !matches!(v.as_str().unwrap(), "get" | "list" | "watch"));
                assert!(!(on_crds && writes), "{rule}");
            }
        }
    }
    assert!(
        sh.conversion_path().starts_with("/api/v1/namespaces/tkn-multi-shadow-abc123/services/")
    );
}
