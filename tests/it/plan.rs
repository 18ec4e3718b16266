//! The planner on the in-memory fake cluster (issue: planner): TEP-0129 Sequence 1 end to end,
//! and the invariants every plan must keep.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use serde_json::Value;
use tkn_multi::converge::prepare_certificates;
use tkn_multi::matrix::Matrix;
use tkn_multi::names::InstanceName;
use tkn_multi::plan::order::Order;
use tkn_multi::plan::state::ClusterState;
use tkn_multi::plan::{
    Action, Desired, DesiredInstance, Error, Plan, Releases, SharedMode, SharedPolicy, StepKind,
    plan,
};
use tkn_multi::release::TektonVersion;
use tkn_multi::render::plan::{to_json, to_text};
use tkn_multi::split::{InstanceSpec, SharedSpec};
use tkn_multi::tls::Force;

use crate::common::{all_versions, load};

pub(crate) fn releases() -> &'static Releases {
    static R: OnceLock<Releases> = OnceLock::new();
    R.get_or_init(|| all_versions().iter().map(|v| (v.clone(), load(v))).collect())
}

fn instance(name: &str, version: &str) -> DesiredInstance {
    let n: InstanceName = name.parse().unwrap();
    DesiredInstance {
        spec: InstanceSpec {
            namespace: name.parse().unwrap(),
            control_plane_namespace: format!("tekton-{name}").parse().unwrap(),
            admission_ca: None,
            name: n,
        },
        version: version.parse().unwrap(),
        config: BTreeMap::new(),
        overrides: tkn_multi::plan::overrides::Overrides::default(),
        kept_defaults: BTreeMap::new(),
        keep_defaults: false,
    }
}

pub(crate) fn desired(instances: &[(&str, &str)], scope: &[&str], policy: SharedPolicy) -> Desired {
    Desired {
        shared: SharedSpec::default(),
        policy,
        image_registry: None,
        instances: instances.iter().map(|(n, v)| instance(n, v)).collect(),
        scope: Some(scope.iter().map(|s| (*s).to_owned()).collect()),
        certificates: std::collections::BTreeMap::new(),
    }
}

/// Plans, checks the invariants, applies the plan to the fake cluster, and checks that planning
/// again changes nothing.
fn step(state: &mut ClusterState, d: &Desired) -> Plan {
    let m = Matrix::embedded();
    let p = plan(d, state, releases(), &m).unwrap_or_else(|e| panic!("plan: {e}"));
    check_invariants(&p);
    state.apply(&p);
    let again = plan(d, state, releases(), &m).unwrap();
    assert!(
        !again.has_changes(),
        "planning again after applying is empty, got:\n{}",
        to_text(&again)
    );
    p
}

fn check_invariants(p: &Plan) {
    for s in &p.steps {
        // Acyclic and ordered: every dependency comes earlier.
        assert!(
            s.depends_on.iter().all(|d| d.step < s.index),
            "step {} depends on a later step",
            s.index
        );
    }
    // No CRD is deleted while an instance remains.
    if !p.target.instances.is_empty() {
        assert!(!p.steps.iter().any(|s| matches!(&s.kind,
            StepKind::Object { action: Action::Delete, object, .. } if object.kind == "CustomResourceDefinition")));
    }
    // Namespaces are created before their objects, CRDs are Established before any Deployment
    // other than the shared webhook, and a webhook is Available before its configurations.
    let pos = |pred: &dyn Fn(&StepKind) -> bool| {
        p.steps.iter().filter(|s| pred(&s.kind)).map(|s| s.index).collect::<Vec<_>>()
    };
    for s in &p.steps {
        if let StepKind::Object { action: Action::Create, object, .. } = &s.kind {
            if let Some(ns) = &object.namespace {
                let ns_steps = pos(
                    &|k| matches!(k, StepKind::Object { action: Action::Create, object: o, .. } if o.kind == "Namespace" && &o.name == ns),
                );
                assert!(ns_steps.iter().all(|i| *i < s.index), "{object} before its namespace");
            }
            if object.kind.ends_with("WebhookConfiguration") {
                let owner = s.kind.owner();
                let waits = pos(
                    &|k| matches!(k, StepKind::WaitAvailable { name, owner: o, .. } if name == "tekton-pipelines-webhook" && o == owner),
                );
                assert!(
                    waits.iter().all(|i| *i < s.index),
                    "{object} before its webhook is Available"
                );
            }
            if object.kind == "Deployment"
                && !(object.name == "tekton-pipelines-webhook" && s.kind.owner() == "shared")
            {
                let waits = pos(&|k| matches!(k, StepKind::WaitEstablished { .. }));
                assert!(
                    waits.iter().all(|i| *i < s.index),
                    "{object} before the CRDs are Established"
                );
            }
        }
    }
}

fn shared_version(p: &Plan) -> Option<String> {
    p.target.shared.as_ref().map(|s| s.version.to_string())
}

fn shared_steps(p: &Plan) -> usize {
    p.steps
        .iter()
        .filter(|s| matches!(&s.kind, StepKind::Object { owner, .. } if owner == "shared"))
        .count()
}

#[test]
fn sequence_1_end_to_end_on_the_fake_cluster() {
    releases();
    let mut s = ClusterState::empty();
    let p = SharedPolicy::default();
    // 1. install vX = v0.44.2 in team-x.
    let p1 = step(&mut s, &desired(&[("team-x", "v0.44.2")], &["team-x"], p.clone()));
    assert_eq!(shared_version(&p1).as_deref(), Some("v0.44.2"));
    assert!(shared_steps(&p1) > 0);
    insta::assert_snapshot!("seq1-1-install-vX", to_text(&p1));
    // 2. install vY = v0.50.3 > vX in team-y: shared moves to vY, with storage migrations.
    let p2 = step(
        &mut s,
        &desired(&[("team-x", "v0.44.2"), ("team-y", "v0.50.3")], &["team-y"], p.clone()),
    );
    assert_eq!(shared_version(&p2).as_deref(), Some("v0.50.3"));
    assert!(p2.summary.migrate >= 4, "tasks, pipelines, taskruns, pipelineruns move to v1 storage");
    // The shared aggregated roles reach the legacy CRDs team-x's users still need.
    let m = Matrix::embedded();
    let fresh = plan(
        &desired(&[("team-x", "v0.44.2"), ("team-y", "v0.50.3")], &["team-y"], p.clone()),
        &ClusterState::empty(),
        releases(),
        &m,
    )
    .unwrap();
    let edit = fresh.manifests.values().find(|o| o.name() == "tekton-aggregate-edit").unwrap();
    let resources = edit.pointer("/rules/0/resources").unwrap().as_array().unwrap();
    for legacy in ["pipelineresources", "runs"] {
        assert!(
            resources.iter().any(|r| r == legacy),
            "tekton-aggregate-edit lacks {legacy}: {resources:?}"
        );
    }
    insta::assert_snapshot!("seq1-2-install-vY", to_text(&p2));
    // 3. install vJ = v0.41.2 < vX in team-j: nothing shared changes.
    let p3 = step(
        &mut s,
        &desired(
            &[("team-x", "v0.44.2"), ("team-y", "v0.50.3"), ("team-j", "v0.41.2")],
            &["team-j"],
            p.clone(),
        ),
    );
    assert_eq!(shared_steps(&p3), 0, "no shared step:\n{}", to_text(&p3));
    insta::assert_snapshot!("seq1-3-install-vJ", to_text(&p3));
    // 4. upgrade team-x from vX to vZ = v0.56.0 > vY: shared moves to vZ.
    let p4 = step(
        &mut s,
        &desired(
            &[("team-x", "v0.56.0"), ("team-y", "v0.50.3"), ("team-j", "v0.41.2")],
            &["team-x"],
            p.clone(),
        ),
    );
    assert_eq!(shared_version(&p4).as_deref(), Some("v0.56.0"));
    insta::assert_snapshot!("seq1-4-upgrade-vX-to-vZ", to_text(&p4));
    // 5. uninstall vZ (team-x): no shared change; its objects go, CRDs stay.
    let before = s.clone();
    let p5 = step(
        &mut s,
        &desired(&[("team-y", "v0.50.3"), ("team-j", "v0.41.2")], &["team-x"], p.clone()),
    );
    assert_eq!(shared_version(&p5).as_deref(), Some("v0.56.0"));
    assert_eq!(shared_steps(&p5), 0);
    assert!(p5.summary.delete > 0 && p5.summary.create == 0);
    assert!(
        s.objects.iter().all(|o| o.owner != "team-x" || (o.retain && o.object.name == "team-x")),
        "nothing of team-x remains but its (retained) watched namespace"
    );
    insta::assert_snapshot!("seq1-5-uninstall-vZ", to_text(&p5));
    // 5'. the same uninstall with --downgrade-shared: shared back to vY, StepAction kept.
    let mut s2 = before;
    let down = SharedPolicy { downgrade: true, ..SharedPolicy::default() };
    let p5b =
        step(&mut s2, &desired(&[("team-y", "v0.50.3"), ("team-j", "v0.41.2")], &["team-x"], down));
    assert_eq!(shared_version(&p5b).as_deref(), Some("v0.50.3"));
    assert!(
        s2.objects.iter().any(|o| o.object.name == "stepactions.tekton.dev"),
        "a downgrade never deletes a CRD"
    );
    insta::assert_snapshot!("seq1-5b-uninstall-vZ-downgrade", to_text(&p5b));
    // Uninstall the rest: the last one removes the shared layer, CRDs last.
    let p6 = step(&mut s, &desired(&[("team-j", "v0.41.2")], &["team-y"], p.clone()));
    assert_eq!(shared_steps(&p6), 0);
    let p7 = step(&mut s, &desired(&[], &["team-j", "shared"], p));
    assert!(p7.target.shared.is_none());
    let left: BTreeSet<String> =
        s.objects.iter().map(|o| format!("{}/{}", o.object.kind, o.object.name)).collect();
    assert_eq!(
        left,
        BTreeSet::from(
            ["Namespace/team-j", "Namespace/team-x", "Namespace/team-y"].map(String::from)
        ),
        "only the users' (retained) namespaces remain"
    );
    let crd_deletes: Vec<usize> = p7.steps.iter().filter(|st| matches!(&st.kind,
        StepKind::Object { action: Action::Delete, object, .. } if object.kind == "CustomResourceDefinition")).map(|st| st.index).collect();
    let instance_deletes: Vec<usize> =
        p7.steps.iter().filter(|st| st.kind.owner() == "team-j").map(|st| st.index).collect();
    assert!(!crd_deletes.is_empty());
    assert!(
        instance_deletes.iter().max() < crd_deletes.iter().min(),
        "instances go before the CRDs"
    );
}

#[test]
fn keep_shared_keeps_the_layer_after_the_last_instance() {
    releases();
    let mut s = ClusterState::empty();
    step(&mut s, &desired(&[("team-a", "v0.50.3")], &["team-a"], SharedPolicy::default()));
    let keep = SharedPolicy { keep_on_uninstall: true, ..SharedPolicy::default() };
    let p = step(&mut s, &desired(&[], &["team-a"], keep));
    assert_eq!(shared_steps(&p), 0);
    assert!(p.shared_kept.is_none(), "kept as asked, not for remaining objects");
    assert!(s.shared.is_some());
    assert!(s.objects.iter().any(|o| o.owner == "shared"));
    assert!(
        s.objects.iter().all(|o| o.owner == "shared" || (o.retain && o.object.kind == "Namespace"))
    );
    // The watched namespace is the user's: never deleted.
    assert!(!p.steps.iter().any(|st| matches!(&st.kind,
        StepKind::Object { action: Action::Delete, object, .. } if object.kind == "Namespace" && object.name == "team-a")));
}

#[test]
fn tekton_objects_keep_the_whole_shared_layer_after_the_last_instance() {
    releases();
    let mut s = ClusterState::empty();
    step(&mut s, &desired(&[("team-a", "v0.50.3")], &["team-a"], SharedPolicy::default()));
    // A user's Task outlives the instance.
    let shared = s.shared.as_mut().unwrap();
    shared.crds.iter_mut().find(|c| c.name == "tasks.tekton.dev").unwrap().objects = 1;
    let uninstall = desired(&[], &["team-a", "shared"], SharedPolicy::default());
    let p = step(&mut s, &uninstall);
    assert_eq!(shared_steps(&p), 0, "no shared step while a Task remains:\n{}", to_text(&p));
    assert!(s.shared.is_some(), "the shared layer is still recorded");
    assert_eq!(p.notes.len(), 1, "{:?}", p.notes);
    assert!(p.notes[0].contains("1 tasks.tekton.dev"), "{}", p.notes[0]);
    assert_eq!(p.shared_kept.as_ref(), Some(&p.notes[0]), "the operator's event reads it typed");
    assert!(to_text(&p).contains("note: the shared layer stays"), "{}", to_text(&p));
    // Once the Task is gone, the same request removes the layer.
    s.shared.as_mut().unwrap().crds.iter_mut().for_each(|c| c.objects = 0);
    let p = step(&mut s, &uninstall);
    assert!(p.notes.is_empty() && p.shared_kept.is_none());
    assert!(shared_steps(&p) > 0);
    assert!(s.shared.is_none() && s.objects.iter().all(|o| o.retain));
}

#[test]
fn bad_requests_fail_before_any_step() {
    let r = releases();
    let m = Matrix::embedded();
    let empty = ClusterState::empty();
    // Two instances claiming one namespace.
    let mut d = desired(
        &[("team-a", "v0.50.3"), ("team-b", "v0.50.3")],
        &["team-a", "team-b"],
        SharedPolicy::default(),
    );
    d.instances[1].spec.namespace = "team-a".parse().unwrap();
    let err = plan(&d, &empty, r, &m).unwrap_err();
    assert_eq!(err.to_string(), "namespace `team-a` is claimed by both `team-a` and `team-b`");
    // An instance name twice.
    let d = desired(
        &[("team-a", "v0.50.3"), ("team-a", "v0.44.2")],
        &["team-a"],
        SharedPolicy::default(),
    );
    assert!(matches!(plan(&d, &empty, r, &m), Err(Error::DuplicateInstance(_))));
    // --shared=skip with nothing installed, and with a layer too old to serve.
    let skip = SharedPolicy { mode: SharedMode::Skip, ..SharedPolicy::default() };
    let d = desired(&[("team-a", "v0.50.3")], &["team-a"], skip.clone());
    assert!(matches!(plan(&d, &empty, r, &m), Err(Error::NoShared)));
    let mut s = ClusterState::empty();
    step(&mut s, &desired(&[("team-a", "v0.44.2")], &["team-a"], SharedPolicy::default()));
    let d = desired(&[("team-a", "v0.44.2"), ("team-b", "v0.50.3")], &["team-b"], skip);
    let err = plan(&d, &s, r, &m).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the shared layer v0.44.2 cannot serve v0.50.3 and the policy forbids changing it (--shared=skip)"
    );
    // A version the matrix does not ship: the planner asks for its release (to derive its
    // record), and plans nothing.
    let d = desired(&[("team-a", "v0.99.0")], &["team-a"], SharedPolicy::default());
    assert!(
        matches!(plan(&d, &empty, r, &m), Err(Error::MissingRelease(v)) if v.to_string() == "v0.99.0")
    );
}

/// The releases the planner names are the ones it reads: planning with exactly those succeeds,
/// with every release at hand too, and without any one of them it fails. A version with no record
/// is named alone first (its record chooses the shared layer).
#[test]
fn required_releases_are_exactly_what_one_plan_reads() {
    let (r, m, empty) = (releases(), Matrix::embedded(), ClusterState::empty());
    for pair in [
        vec![("team-a", "v0.50.3")],
        vec![("team-a", "v0.24.1"), ("team-b", "v0.56.0")],
        vec![("team-a", "v0.44.2"), ("team-b", "v1.9.0")],
    ] {
        let d = desired(&pair, &["team-a"], SharedPolicy::default());
        let need = tkn_multi::plan::required_releases(&d, &empty, &Releases::new(), &m).unwrap();
        for (_, v) in &pair {
            assert!(need.contains(&v.parse::<TektonVersion>().unwrap()), "{pair:?}: {need:?}");
        }
        let only: Releases = need.iter().map(|v| (v.clone(), r[v].clone())).collect();
        let with_only = plan(&d, &empty, &only, &m).unwrap_or_else(|e| panic!("{pair:?}: {e}"));
        let with_all = plan(&d, &empty, r, &m).unwrap();
        assert_eq!(to_json(&with_only), to_json(&with_all), "{pair:?}");
        for v in &need {
            let mut less = only.clone();
            less.remove(v);
            assert!(
                matches!(plan(&d, &empty, &less, &m), Err(Error::MissingRelease(_))),
                "{pair:?}: planned without {v}, which was named"
            );
        }
    }
    let d = desired(
        &[("team-a", "v0.99.0"), ("team-b", "v0.50.3")],
        &["team-a"],
        SharedPolicy::default(),
    );
    let need = tkn_multi::plan::required_releases(&d, &empty, &Releases::new(), &m).unwrap();
    assert_eq!(need.iter().map(ToString::to_string).collect::<Vec<_>>(), ["v0.99.0"]);
}

#[test]
fn config_overrides_update_only_the_configmap() {
    releases();
    let mut s = ClusterState::empty();
    let mut d = desired(&[("team-a", "v0.50.3")], &["team-a"], SharedPolicy::default());
    step(&mut s, &d);
    d.instances[0].config.insert(
        "feature-flags".into(),
        BTreeMap::from([("enable-api-fields".into(), "alpha".into())]),
    );
    let p = step(&mut s, &d);
    let changed: BTreeSet<String> = p
        .steps
        .iter()
        .filter_map(|st| match &st.kind {
            StepKind::Object { action, object, .. } => {
                Some(format!("{} {}/{}", action.mark(), object.kind, object.name))
            }
            _ => None,
        })
        .collect();
    assert_eq!(changed, BTreeSet::from(["~ ConfigMap/feature-flags".to_owned()]));
}

/// `upgrade --keep-defaults`: the feature flags the new version changes stay at their old
/// values, recorded on the `ConfigMap` so later runs keep them; a plain upgrade opts in.
#[test]
fn keep_defaults_keeps_the_flags_an_upgrade_would_change() {
    releases();
    let m = Matrix::embedded();
    let flags = |p: &Plan| {
        p.manifests
            .values()
            .find(|o| o.name() == "feature-flags" && o.namespace() == Some("tekton-team-a"))
            .map(|o| {
                let v = o.to_value();
                let kept =
                    v["metadata"]["annotations"]["tkn-multi.tekton.dev/kept-defaults"].clone();
                (v["data"]["send-cloudevents-for-runs"].as_str().map(str::to_owned), kept)
            })
    };
    let mut s = ClusterState::empty();
    step(&mut s, &desired(&[("team-a", "v1.9.0")], &["team-a"], SharedPolicy::default()));
    let mut up = desired(&[("team-a", "v1.15.1")], &["team-a"], SharedPolicy::default());
    up.instances[0].keep_defaults = true;
    // The old release's flags are read: the planner names it.
    let need = tkn_multi::plan::required_releases(&up, &s, &Releases::new(), &m).unwrap();
    assert!(need.contains(&"v1.9.0".parse::<TektonVersion>().unwrap()), "{need:?}");
    let p = step(&mut s, &up);
    let (value, record) = flags(&p).expect("the feature-flags ConfigMap is rewritten");
    assert_eq!(value.as_deref(), Some("false"), "v1.15.1 ships true; v1.9.0's value is kept");
    let record: BTreeMap<String, String> =
        serde_json::from_str(record.as_str().expect("recorded")).unwrap();
    assert_eq!(record.get("send-cloudevents-for-runs").map(String::as_str), Some("false"));
    let expected = tkn_multi::matrix::diff::changed_feature_flags(
        &releases()[&"v1.9.0".parse().unwrap()],
        &releases()[&"v1.15.1".parse().unwrap()],
        &m.defaults,
    );
    assert_eq!(
        record.keys().collect::<Vec<_>>(),
        expected.iter().filter(|(_, old, _)| old.is_some()).map(|(k, _, _)| k).collect::<Vec<_>>(),
        "every flag whose effective value moves, and only those"
    );
    assert!(
        p.notes
            .iter()
            .any(|n| n.contains("keeps feature flags")
                && n.contains("send-cloudevents-for-runs: false")),
        "{:?}",
        p.notes
    );
    assert_eq!(s.instance("team-a").unwrap().kept_defaults, record, "observed as recorded");
    // Later runs that carry the observed instance (`desired_instances`) keep them: no change.
    let again = Desired { instances: s.desired_instances().unwrap(), ..up.clone() };
    assert!(!plan(&again, &s, releases(), &m).unwrap().has_changes());
    // A key the user sets is the user's, never kept.
    let mut own = again.clone();
    own.instances[0].config.insert(
        "feature-flags".into(),
        BTreeMap::from([("send-cloudevents-for-runs".into(), "true".into())]),
    );
    let p = plan(&own, &s, releases(), &m).unwrap();
    let (value, record) = flags(&p).unwrap();
    assert_eq!(value.as_deref(), Some("true"));
    assert!(!record.as_str().unwrap_or("{}").contains("send-cloudevents-for-runs"), "{record}");
    // A plain upgrade (the flag not given) opts in: the version's own values apply.
    let mut plain = again;
    plain.instances[0].kept_defaults.clear();
    let p = step(&mut s, &plain);
    assert_eq!(flags(&p).unwrap().0.as_deref(), Some("true"));
    assert!(s.instance("team-a").unwrap().kept_defaults.is_empty());
}

/// v1.12+ sends CloudEvents only from the shared events controller: an instance's own settings
/// are pointless and the plan says so; older instances beside a v1.12+ layer get the matrix's
/// warning of double delivery.
#[test]
fn cloudevents_settings_follow_the_events_controller() {
    let r = releases();
    let m = Matrix::embedded();
    let mut d = desired(
        &[("team-a", "v1.9.6"), ("team-b", "v1.15.1")],
        &["team-a", "team-b"],
        SharedPolicy::default(),
    );
    for i in &mut d.instances {
        i.config.insert(
            "config-events".into(),
            BTreeMap::from([("sink".into(), "http://sink.invalid".into())]),
        );
    }
    let p = plan(&d, &ClusterState::empty(), r, &m).unwrap();
    let notes = p.notes.join("\n");
    assert!(
        notes.contains("instance `team-b` (v1.15.1): `config-events` has no effect"),
        "{notes}"
    );
    assert!(!notes.contains("team-a"), "v1.9.6 sends its own: {notes}");
    let layer = p.shared_layer.unwrap();
    let rules: Vec<(String, String)> =
        layer.findings.iter().map(|f| (f.instance.to_string(), f.rule.clone())).collect();
    assert!(
        rules.contains(&("v1.9.6".into(), "cloudevents-from-shared-events-controller".into())),
        "{rules:?}"
    );
    assert!(
        !rules
            .iter()
            .any(|(v, r)| v == "v1.15.1" && r == "cloudevents-from-shared-events-controller")
    );
}

#[test]
fn plans_are_deterministic_and_serialise_with_a_format_version() {
    let r = releases();
    let m = Matrix::embedded();
    let d = desired(&[("team-a", "v1.9.0")], &["team-a"], SharedPolicy::default());
    let a = plan(&d, &ClusterState::empty(), r, &m).unwrap();
    let b = plan(&d, &ClusterState::empty(), r, &m).unwrap();
    assert_eq!(to_text(&a), to_text(&b));
    let json: serde_json::Value =
        serde_json::from_str(&tkn_multi::render::plan::to_json(&a)).unwrap();
    assert_eq!(json["formatVersion"], "1");
    assert_eq!(json["steps"][0]["index"], 0);
    assert!(json["summary"]["create"].as_u64().unwrap() > 50);
    let _: TektonVersion = json["target"]["shared"]["version"].as_str().unwrap().parse().unwrap();
}

/// One user operation on a fleet of up to three instances.
#[derive(Debug, Clone)]
enum Op {
    Install(usize, usize),
    Upgrade(usize, usize),
    Uninstall(usize, bool, bool),
}

const NAMES: [&str; 3] = ["team-a", "team-b", "team-c"];
const VERSIONS: [&str; 6] = ["v0.41.2", "v0.44.2", "v0.47.5", "v0.50.3", "v0.56.0", "v1.9.0"];

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    prop_oneof![
        (0..NAMES.len(), 0..VERSIONS.len()).prop_map(|(n, v)| Op::Install(n, v)),
        (0..NAMES.len(), 0..VERSIONS.len()).prop_map(|(n, v)| Op::Upgrade(n, v)),
        (0..NAMES.len(), any::<bool>(), any::<bool>()).prop_map(|(n, k, d)| Op::Uninstall(n, k, d)),
    ]
}

/// The desired state and scope of `op` on `state`, as the CLI builds them; `None` when the
/// operation does not apply (installing what exists, touching what does not).
fn desire(state: &ClusterState, op: &Op) -> Option<Desired> {
    let current: Vec<(String, String)> =
        state.instances.iter().map(|i| (i.name.clone(), i.version.to_string())).collect();
    let exists = |n: &str| current.iter().any(|(c, _)| c == n);
    let (instances, scope, policy): (Vec<(String, String)>, Vec<String>, SharedPolicy) = match op {
        Op::Install(n, v) if !exists(NAMES[*n]) => {
            let mut all = current.clone();
            all.push((NAMES[*n].into(), VERSIONS[*v].into()));
            (all, vec![NAMES[*n].into()], SharedPolicy::default())
        }
        Op::Upgrade(n, v) if exists(NAMES[*n]) => {
            let all = current
                .iter()
                .map(|(c, ver)| {
                    (c.clone(), if c == NAMES[*n] { VERSIONS[*v].into() } else { ver.clone() })
                })
                .collect();
            (all, vec![NAMES[*n].into()], SharedPolicy::default())
        }
        Op::Uninstall(n, keep, down) if exists(NAMES[*n]) => {
            let rest: Vec<_> = current.iter().filter(|(c, _)| c != NAMES[*n]).cloned().collect();
            let mut scope = vec![NAMES[*n].to_owned()];
            if rest.is_empty() && !keep {
                scope.push("shared".into());
            }
            (
                rest,
                scope,
                SharedPolicy {
                    keep_on_uninstall: *keep,
                    downgrade: *down,
                    ..SharedPolicy::default()
                },
            )
        }
        _ => return None,
    };
    let refs: Vec<(&str, &str)> = instances.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let scope_refs: Vec<&str> = scope.iter().map(String::as_str).collect();
    Some(desired(&refs, &scope_refs, policy))
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 48, ..proptest::prelude::ProptestConfig::default() })]

    /// Any sequence of installs, upgrades and uninstalls: every plan is acyclic and ordered,
    /// applying it and planning again gives an empty plan, no CRD is deleted while an instance
    /// remains, and the shared layer is never older than the newest instance.
    #[test]
    fn random_operation_sequences_keep_the_invariants(ops in proptest::collection::vec(op(), 1..7)) {
        releases();
        let mut s = ClusterState::empty();
        for o in &ops {
            let Some(d) = desire(&s, o) else { continue };
            let p = step(&mut s, &d);
            if let (Some(shared), Some(newest)) = (&s.shared, s.instances.iter().map(|i| &i.version).max()) {
                proptest::prop_assert!(&shared.version >= newest, "shared {} older than instance {}", shared.version, newest);
            }
            let crds_left = s.objects.iter().filter(|o| o.object.kind == "CustomResourceDefinition").count();
            if !s.instances.is_empty() {
                proptest::prop_assert!(crds_left > 0);
            }
            drop(p);
        }
    }
}

/// Found by `random_operation_sequences_keep_the_invariants`: `--downgrade-shared` when lowering
/// is not safe failed the whole uninstall ("cannot share one layer"); the layer now stays, and
/// the plan says why.
#[test]
fn an_unsafe_downgrade_keeps_the_shared_layer_with_a_note() {
    let r = releases();
    let m = Matrix::embedded();
    let mut s = ClusterState::empty();
    step(&mut s, &desired(&[("team-a", "v0.56.0")], &["team-a"], SharedPolicy::default()));
    let both = [("team-a", "v0.56.0"), ("team-c", "v1.9.0")];
    step(&mut s, &desired(&both, &["team-c"], SharedPolicy::default()));
    let down = SharedPolicy { downgrade: true, ..SharedPolicy::default() };
    let p = plan(&desired(&[("team-a", "v0.56.0")], &["team-c"], down), &s, r, &m).unwrap();
    assert_eq!(p.shared_layer.as_ref().unwrap().version.to_string(), "v1.9.0");
    assert!(
        p.notes
            .iter()
            .any(|n| n.contains("stays at v1.9.0") && n.contains("stepactions.tekton.dev")),
        "{:?}",
        p.notes
    );
}

#[test]
fn an_incompatible_fleet_fails_with_the_matrix_explanation() {
    let r = releases();
    // A made-up v2.0.0 that stops serving v1beta1 TaskRuns/PipelineRuns, which v0.47.5 consumes.
    let m = crate::matrix::synthetic();
    let d = desired(
        &[("team-a", "v0.47.5"), ("team-b", "v2.0.0")],
        &["team-b"],
        SharedPolicy::default(),
    );
    let err = plan(&d, &ClusterState::empty(), r, &m).unwrap_err();
    let chain: Vec<String> =
        std::iter::successors(Some(&err as &dyn std::error::Error), |e| e.source())
            .map(ToString::to_string)
            .collect();
    assert_eq!(chain[0], "the requested instances cannot share one layer");
    assert!(
        chain[1].contains(
            "instance v0.47.5 needs tekton.dev/v1beta1/taskruns, which taskruns.tekton.dev of v2.0.0 no longer serves"
        ),
        "{chain:#?}"
    );
}

/// docs/architecture.md's rule table is generated from `plan::order::Order`.
#[test]
fn ordering_rules_table_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/architecture.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let start = doc.find("| rule | edge | why |").expect("the table");
    let end = start + doc[start..].find("<!-- end of generated table -->").expect("its end marker");
    let want = tkn_multi::plan::order::markdown_table();
    if std::env::var_os("TKN_MULTI_UPDATE_DOCS").is_some() {
        std::fs::write(&path, format!("{}{want}{}", &doc[..start], &doc[end..])).unwrap();
        return;
    }
    assert!(
        doc[start..end] == want,
        "docs/architecture.md's ordering rules are out of date: run `TKN_MULTI_UPDATE_DOCS=1 cargo test ordering_rules`"
    );
}

/// Every rule the graph uses is one of the documented ones, and every documented one is used
/// by some plan of Sequence 1 (no dead rows in the table).
#[test]
fn every_ordering_rule_is_used() {
    let r = releases();
    let m = Matrix::embedded();
    let mut used = BTreeSet::new();
    let mut s = ClusterState::empty();
    type Op<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str]);
    let ops: [Op; 4] = [
        (&[("team-a", "v0.50.3")], &["team-a"]),
        (&[("team-a", "v0.50.3"), ("team-b", "v0.56.0")], &["team-b"]),
        (&[("team-a", "v0.50.3"), ("team-b", "v1.9.0")], &["team-b"]),
        (&[], &["team-a", "team-b", "shared"]),
    ];
    for (instances, scope) in ops {
        let p = plan(&desired(instances, scope, SharedPolicy::default()), &s, r, &m).unwrap();
        used.extend(p.steps.iter().flat_map(|st| st.depends_on.iter().map(|d| d.rule)));
        s.apply(&p);
    }
    // An instance before v0.44 gets a certificate step.
    let mut d = desired(&[("team-c", "v0.24.1")], &["team-c"], SharedPolicy::default());
    prepare_certificates(&mut d, &s, Force::default()).unwrap();
    let p = plan(&d, &s, r, &m).unwrap();
    used.extend(p.steps.iter().flat_map(|st| st.depends_on.iter().map(|d| d.rule)));
    let all: BTreeSet<_> = tkn_multi::plan::order::Order::ALL.into_iter().collect();
    let unused: Vec<_> = all.difference(&used).collect();
    assert!(unused.is_empty(), "rules no plan used: {unused:?}");
}

/// Before v0.44 tkn-multi owns the webhook certificate: the plan writes it after the empty
/// `webhook-certs` Secret and before the webhook and its configurations, which trust the CA
/// made for the run; the plan never shows a key; planning again changes nothing; `rotate-certs`
/// renews the serving certificate alone, and `--ca` makes the configurations trust both CAs.
#[test]
fn an_old_instance_gets_a_certificate_before_its_webhook_and_configurations() {
    let r = releases();
    let m = Matrix::embedded();
    let mut s = ClusterState::empty();
    let mut d = desired(&[("team-c", "v0.24.1")], &["team-c"], SharedPolicy::default());
    prepare_certificates(&mut d, &s, Force::default()).unwrap();
    let p = plan(&d, &s, r, &m).unwrap();
    assert_eq!(p.summary.certificates, 1);
    let idx =
        |pred: &dyn Fn(&StepKind) -> bool| p.steps.iter().position(|st| pred(&st.kind)).unwrap();
    let is_obj = |kind: &'static str, name: &'static str| move |k: &StepKind| matches!(k, StepKind::Object { object, owner, .. } if object.kind == kind && object.name == name && owner == "team-c");
    let cert = idx(&|k| matches!(k, StepKind::Certificate { .. }));
    let secret = idx(&is_obj("Secret", "webhook-certs"));
    let webhook = idx(&is_obj("Deployment", "tekton-pipelines-webhook"));
    let mutating =
        idx(&is_obj("MutatingWebhookConfiguration", "webhook.team-c.pipeline.tekton.dev"));
    assert!(
        secret < cert && cert < webhook && cert < mutating,
        "{secret} < {cert} < {webhook}, {mutating}"
    );
    let deps =
        |i: usize| p.steps[i].depends_on.iter().map(|d| (d.step, d.rule)).collect::<Vec<_>>();
    assert!(deps(cert).contains(&(secret, Order::CertificateFirst)), "{:?}", deps(cert));
    assert!(deps(webhook).contains(&(cert, Order::CertificateFirst)));
    // The configurations trust the CA made for this run.
    let bundle = d.instances[0].spec.admission_ca.clone().unwrap();
    let StepKind::Certificate { new_ca: Some(ca), .. } = &p.steps[cert].kind else {
        panic!("a new CA")
    };
    assert!(bundle.contains(ca.cert_pem.trim()));
    let cfg = &p.manifests[&mutating];
    let ca_b64 = cfg.pointer("/webhooks/0/clientConfig/caBundle").and_then(Value::as_str).unwrap();
    use base64::Engine as _;
    let decoded = base64::engine::general_purpose::STANDARD.decode(ca_b64).unwrap();
    assert_eq!(String::from_utf8(decoded).unwrap(), bundle);
    // No key anywhere in what a plan prints.
    for shown in [to_json(&p), to_text(&p), format!("{p:?}")] {
        assert!(
            !shown.contains("PRIVATE KEY") && !shown.contains(ca.key_pem.lines().nth(1).unwrap())
        );
    }
    // Applied, then planned again: nothing to do.
    s.apply(&p);
    let mut again = desired(&[("team-c", "v0.24.1")], &["team-c"], SharedPolicy::default());
    prepare_certificates(&mut again, &s, Force::default()).unwrap();
    let p2 = plan(&again, &s, r, &m).unwrap();
    assert!(!p2.has_changes(), "{}", to_text(&p2));
    // rotate-certs: the serving certificate only; the CA and so the configurations stay.
    let mut rot = again.clone();
    prepare_certificates(&mut rot, &s, Force { serving: true, ca: false }).unwrap();
    let p3 = plan(&rot, &s, r, &m).unwrap();
    assert_eq!(
        (p3.summary.certificates, p3.summary.update, p3.summary.create),
        (1, 0, 0),
        "{}",
        to_text(&p3)
    );
    // rotate-certs --ca: both CAs trusted, so the three configurations change.
    let mut rot_ca = again.clone();
    prepare_certificates(&mut rot_ca, &s, Force { serving: false, ca: true }).unwrap();
    let p4 = plan(&rot_ca, &s, r, &m).unwrap();
    assert_eq!((p4.summary.certificates, p4.summary.update), (1, 3), "{}", to_text(&p4));
    let both = rot_ca.instances[0].spec.admission_ca.clone().unwrap();
    assert_eq!(both.matches("BEGIN CERTIFICATE").count(), 2);
    assert!(both.ends_with(&bundle), "the previous CA stays trusted");
}

/// Issue "Speed": the ownership check of a 20-instance install reads by kind (and by namespace
/// only where a kind spans few), never object by object: a list per kind, and a get per Secret
/// (one per webhook namespace), however many objects the plan creates.
#[test]
fn ownership_reads_grow_with_kinds_and_namespaces_not_objects() {
    use tkn_multi::apply::ownership::{Read, reads};
    let r = releases();
    let m = Matrix::embedded();
    let names: Vec<String> = (0..20).map(|i| format!("team-{i}")).collect();
    let instances: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "v0.56.0")).collect();
    let scope: Vec<&str> = names.iter().map(String::as_str).chain(["shared"]).collect();
    let d = desired(&instances, &scope, SharedPolicy::default());
    let p = plan(&d, &ClusterState::empty(), r, &m).unwrap();
    let creates = p.summary.create;
    let reads = reads(&p);
    let kinds: BTreeSet<&str> =
        p.manifests.values().map(tkn_multi::release::Object::kind).collect();
    let lists = reads.iter().filter(|r| matches!(r, Read::List { .. })).count();
    let gets = reads.iter().filter(|r| matches!(r, Read::Get { .. })).count();
    assert!(creates > 900, "{creates} objects created");
    assert!(lists <= kinds.len(), "{lists} lists for {} kinds", kinds.len());
    assert_eq!(gets, 21, "one webhook-certs per instance and the shared layer");
    // Every object created is covered by exactly one read.
    let covered: usize = reads
        .iter()
        .map(|r| match r {
            Read::Get { .. } => 1,
            Read::List { wanted, .. } => wanted.len(),
        })
        .sum();
    assert_eq!(covered, creates);
}
