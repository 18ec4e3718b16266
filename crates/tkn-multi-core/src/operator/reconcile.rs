//! What the operator decides, without doing it: the desired state of a `TektonFleet` against an
//! observation, the approval a destructive plan needs, and the status that describes the outcome.
//! **Pure**: [`super::controller`] does the I/O.
//!
//! Which instances a fleet manages is recorded in its status (`status.instances`): an instance
//! the spec lists, or one it listed and that is not yet uninstalled. Observed instances the fleet
//! never listed (installed by the CLI, or by another fleet) are *unmanaged*: kept as they are,
//! out of the plan's scope, and reported. Listing one in the spec adopts it.

use std::collections::BTreeSet;

use sha2::{Digest as _, Sha256};

use super::status::{
    Condition, InstancePhase, InstanceStatus, PendingPlan, SharedStatus, TektonFleetStatus,
};
use crate::fault::UserError;
use crate::fleet::FleetSpec;
use crate::names::SHARED_OWNER;
use crate::plan::state::ClusterState;
use crate::plan::{Action, Desired, Plan, StepKind};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// The finalizer that uninstalls a fleet's instances before the `TektonFleet` goes.
pub const FINALIZER: &str = "tkn-multi.tekton.dev/uninstall";
/// The annotation that approves a plan that deletes or replaces objects: its value is the
/// plan's hash (`status.pendingPlan.hash`), as `--yes` approves a CLI run.
pub const APPROVE_ANNOTATION: &str = "tkn-multi.tekton.dev/approve-plan";
/// At most this many destructive steps are listed in `status.pendingPlan.steps`.
pub const LISTED_STEPS: usize = 50;

/// The desired state of one reconcile, and what it leaves alone.
#[derive(Debug)]
pub struct FleetDesired {
    /// For the planner.
    pub desired: Desired,
    /// Observed instances the fleet does not manage (left as they are).
    pub unmanaged: Vec<String>,
}

/// The names a fleet manages: every instance its status records.
pub fn managed(status: Option<&TektonFleetStatus>) -> BTreeSet<String> {
    status.map(|s| s.instances.iter().map(|i| i.name.clone()).collect()).unwrap_or_default()
}

/// What the fleet asks of the cluster `state`: the spec's instances (none when `deleting`), in
/// scope with every instance it `managed` and the shared layer; every other observed instance
/// as it is, out of scope.
///
/// # Errors
/// The fleet file's refusals (an instance listed twice, a namespace claimed twice), and a shared
/// namespace other than the installed layer's.
pub fn desired(
    spec: &FleetSpec,
    managed: &BTreeSet<String>,
    state: &ClusterState,
    deleting: bool,
) -> anyhow::Result<FleetDesired> {
    let mut spec = spec.clone();
    if deleting {
        spec.instances.clear();
    }
    if let Some(s) = &state.shared {
        match &spec.shared.namespace {
            Some(ns) if ns.as_str() != s.namespace => {
                return Err(UserError::msg(format!(
                    "the shared layer is installed in `{}`, not `{ns}`; set `spec.shared.namespace: {}`",
                    s.namespace, s.namespace
                ))
                .into());
            }
            Some(_) => {}
            None => spec.shared.namespace = Some(s.namespace.parse()?),
        }
    }
    let mut desired = spec.desired()?;
    let listed: BTreeSet<String> =
        desired.instances.iter().map(|i| i.spec.name.to_string()).collect();
    let mut unmanaged = Vec::new();
    for i in state.desired_instances()? {
        let name = i.spec.name.to_string();
        if !listed.contains(&name) && !managed.contains(&name) {
            unmanaged.push(name);
            desired.instances.push(i);
        }
    }
    let mut scope: BTreeSet<String> = listed.union(managed).cloned().collect();
    scope.insert(SHARED_OWNER.to_owned());
    desired.scope = Some(scope);
    Ok(FleetDesired { desired, unmanaged })
}

/// The steps of `plan` that delete or replace objects, as `- Kind/name in namespace ns` lines.
pub fn destructive_steps(plan: &Plan) -> Vec<String> {
    plan.steps
        .iter()
        .filter_map(|s| match &s.kind {
            StepKind::Object { action: a @ (Action::Delete | Action::Replace), object, .. } => {
                Some(format!("{} {object}", a.mark()))
            }
            _ => None,
        })
        .collect()
}

/// The hash that approves `plan` at `generation`: of its destructive steps only (certificate
/// work makes new keys on every plan, so the whole plan never hashes the same twice), and of
/// the generation, so that an approval does not carry over to an edited spec.
pub fn plan_hash(plan: &Plan, generation: i64) -> String {
    let mut h = Sha256::new();
    h.update(generation.to_string());
    for line in destructive_steps(plan) {
        h.update(b"\n");
        h.update(line);
    }
    hex::encode(h.finalize())[..16].to_owned()
}

/// Whether `plan` may run: it destroys nothing, or the approval annotation carries its hash.
pub fn approved(plan: &Plan, generation: i64, annotation: Option<&str>) -> bool {
    plan.summary.delete + plan.summary.replace == 0
        || annotation.is_some_and(|a| a.trim() == plan_hash(plan, generation))
}

/// Whether the approval annotation carries `plan`'s hash (what a plan the precheck blocks needs,
/// destructive or not).
pub fn approved_despite_precheck(plan: &Plan, generation: i64, annotation: Option<&str>) -> bool {
    annotation.is_some_and(|a| a.trim() == plan_hash(plan, generation))
}

/// The precheck's findings, for the status.
pub fn precheck_findings(
    reports: &[crate::precheck::Report],
) -> Vec<super::status::PrecheckFinding> {
    reports
        .iter()
        .flat_map(|r| {
            r.findings.iter().map(|f| super::status::PrecheckFinding {
                instance: r.instance.clone(),
                from: r.from.to_string(),
                to: r.to.to_string(),
                severity: crate::render::precheck::severity(f.severity).to_owned(),
                rule: f.rule.to_owned(),
                object: f.object.clone().unwrap_or_default(),
                message: f.message.clone(),
            })
        })
        .collect()
}

/// Why a plan the precheck blocks waits, and how to approve it anyway.
pub fn precheck_refusal(
    reports: &[crate::precheck::Report],
    plan: &Plan,
    generation: i64,
    fleet: &str,
) -> String {
    let blocked: Vec<String> = reports
        .iter()
        .filter(|r| r.blocked())
        .map(|r| {
            let n = r
                .findings
                .iter()
                .filter(|f| f.severity == crate::precheck::Severity::Blocker)
                .count();
            format!(
                "moving `{}` from {} to {} would break {n} object finding(s)",
                r.instance, r.from, r.to
            )
        })
        .collect();
    format!(
        "the upgrade precheck found blockers: {} (`status.precheck`); fix them, or approve the move with `kubectl annotate tektonfleet {fleet} {APPROVE_ANNOTATION}={} --overwrite`",
        blocked.join("; "),
        plan_hash(plan, generation)
    )
}

/// A plan's counts, for status and events.
pub fn summary(plan: &Plan) -> String {
    let s = plan.summary;
    if !plan.has_changes() {
        return "no changes".into();
    }
    format!(
        "{} to create, {} to update, {} to replace, {} to delete, {} migration(s), {} certificate(s)",
        s.create, s.update, s.replace, s.delete, s.migrate, s.certificates
    )
}

/// The pending plan of a fleet waiting for approval.
pub fn pending(plan: &Plan, generation: i64, fleet: &str) -> PendingPlan {
    let steps = destructive_steps(plan);
    let hash = plan_hash(plan, generation);
    let mut listed: Vec<String> = steps.iter().take(LISTED_STEPS).cloned().collect();
    if steps.len() > LISTED_STEPS {
        listed.push(format!("… and {} more", steps.len() - LISTED_STEPS));
    }
    PendingPlan {
        message: format!(
            "the plan deletes or replaces {} object(s); review it and approve with `kubectl annotate tektonfleet {fleet} {APPROVE_ANNOTATION}={hash} --overwrite`",
            steps.len()
        ),
        hash,
        summary: summary(plan),
        steps: listed,
    }
}

/// How a reconcile ended, for the conditions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Converged.
    Ready(String),
    /// A destructive plan waits for its approval annotation.
    AwaitingApproval(String),
    /// Work in progress, or retried: applying, waiting for the lock, after a failure.
    Progressing {
        /// CamelCase.
        reason: String,
        /// For people.
        message: String,
    },
    /// The spec cannot be done as asked (invalid, incompatible, conflicting): nothing written
    /// until it changes.
    Stalled {
        /// CamelCase.
        reason: String,
        /// For people.
        message: String,
    },
}

/// `Ready`, `Reconciling` and `Stalled` for `outcome` at `generation`; a condition whose
/// status did not change keeps its `lastTransitionTime` from `previous`.
pub fn conditions(
    outcome: &Progress,
    generation: Option<i64>,
    now: &Time,
    previous: &[Condition],
) -> Vec<Condition> {
    let (ready, reconciling, stalled, reason, message) = match outcome {
        Progress::Ready(m) => (true, false, false, "Reconciled", m.as_str()),
        Progress::AwaitingApproval(m) => (false, true, false, "AwaitingApproval", m.as_str()),
        Progress::Progressing { reason, message } => {
            (false, true, false, reason.as_str(), message.as_str())
        }
        Progress::Stalled { reason, message } => {
            (false, false, true, reason.as_str(), message.as_str())
        }
    };
    [("Ready", ready), ("Reconciling", reconciling), ("Stalled", stalled)]
        .into_iter()
        .map(|(type_, on)| {
            let status = if on { "True" } else { "False" }.to_owned();
            let since = previous
                .iter()
                .find(|c| c.type_ == type_ && c.status == status)
                .map_or_else(|| now.clone(), |c| c.last_transition_time.clone());
            Condition {
                type_: type_.to_owned(),
                status,
                reason: reason.to_owned(),
                message: message.to_owned(),
                observed_generation: generation,
                last_transition_time: since,
            }
        })
        .collect()
}

/// The CamelCase reason of a refused spec, from the planner's error.
pub fn stalled_reason(e: &anyhow::Error) -> &'static str {
    use crate::plan::Error as P;
    for cause in crate::fault::causes(e) {
        if let Some(p) = cause.downcast_ref::<P>() {
            return match p {
                P::NamespaceConflict { .. } | P::DuplicateInstance(_) => "Conflict",
                P::Incompatible(_) | P::SharedLocked { .. } | P::NoShared => "Incompatible",
                _ => "InvalidSpec",
            };
        }
        if cause.downcast_ref::<crate::matrix::check::Error>().is_some() {
            return "Incompatible";
        }
    }
    "InvalidSpec"
}

/// Every instance the fleet manages after a reconcile, with its state: the spec's instances
/// (`Ready` at their version when `converged`, else `Pending`), then managed ones the spec no
/// longer lists and that still exist (`Removing`).
pub fn instances(
    spec: &FleetSpec,
    managed: &BTreeSet<String>,
    state: &ClusterState,
    converged: bool,
    deleting: bool,
) -> Vec<InstanceStatus> {
    let mut out = Vec::new();
    let listed: Vec<&crate::fleet::FleetInstance> =
        if deleting { Vec::new() } else { spec.instances.iter().collect() };
    for i in &listed {
        let observed = state.instance(i.name.as_str());
        let at = observed.is_some_and(|o| o.version == i.version);
        out.push(InstanceStatus {
            name: i.name.to_string(),
            namespace: i.namespace.as_ref().map_or_else(|| i.name.to_string(), ToString::to_string),
            version: observed.map(|o| o.version.to_string()).unwrap_or_default(),
            phase: if converged && at { InstancePhase::Ready } else { InstancePhase::Pending },
        });
    }
    for name in managed {
        if listed.iter().any(|i| i.name.as_str() == name) {
            continue;
        }
        let observed = state.instance(name);
        let leftovers = state.objects.iter().any(|o| &o.owner == name);
        if observed.is_some() || leftovers || !converged {
            out.push(InstanceStatus {
                name: name.clone(),
                namespace: observed.map(|o| o.namespace.clone()).unwrap_or_default(),
                version: observed.map(|o| o.version.to_string()).unwrap_or_default(),
                phase: InstancePhase::Removing,
            });
        }
    }
    out
}

/// The shared layer's status from a plan (its chosen version and the matrix's verdict), else
/// from the observation.
pub fn shared(plan: Option<&Plan>, state: &ClusterState) -> Option<SharedStatus> {
    if let Some(layer) = plan.and_then(|p| p.shared_layer.as_ref()) {
        return Some(SharedStatus {
            version: layer.version.to_string(),
            namespace: plan
                .and_then(|p| p.target.shared.as_ref())
                .map(|s| s.namespace.clone())
                .unwrap_or_default(),
            verdict: layer.verdict.to_string(),
            findings: layer.findings.iter().map(|f| format!("{}: {}", f.rule, f.message)).collect(),
            migrations: layer
                .migrations
                .iter()
                .map(|m| format!("{}: {} → {}", m.crd, m.from_storage, m.to_storage))
                .collect(),
            derived_at_run_time: layer
                .derived_at_run_time
                .iter()
                .map(ToString::to_string)
                .collect(),
        });
    }
    state.shared.as_ref().map(|s| SharedStatus {
        version: s.version.to_string(),
        namespace: s.namespace.clone(),
        ..SharedStatus::default()
    })
}

/// The kinds whose drift the operator looks for besides the planner's hashes: what a person
/// edits by hand. Others are written by Tekton itself (knative fills webhook configurations,
/// certificate Secrets and CRDs' conversion bundles) and would never look converged.
pub const DRIFT_KINDS: &[&str] = &["ConfigMap", "Deployment"];

/// Whether the live object no longer has what tkn-multi applied: a field of `desired` (its
/// `data` and `binaryData`, or its `spec`) missing or different in `live`. Fields the server
/// or other controllers add are not drift; `spec.replicas` is not when `scaled` (an HPA owns it);
/// quantities compare by value (`1000m` is `1`).
pub fn drifted(desired: &serde_json::Value, live: &serde_json::Value, scaled: bool) -> bool {
    let mut fields: Vec<&str> = vec!["data", "binaryData", "spec"];
    fields.retain(|f| desired.get(*f).is_some());
    fields.iter().any(|f| {
        let mut want = desired[*f].clone();
        if *f == "spec"
            && scaled
            && let Some(m) = want.as_object_mut()
        {
            m.remove("replicas");
        }
        !contains(live.get(*f).unwrap_or(&serde_json::Value::Null), &want)
    })
}

fn contains(live: &serde_json::Value, want: &serde_json::Value) -> bool {
    use serde_json::Value as V;
    match (want, live) {
        (V::Object(w), V::Object(l)) => w.iter().all(|(k, wv)| match l.get(k) {
            Some(lv) => contains(lv, wv),
            None => is_zero(wv),
        }),
        (V::Object(w), V::Null) => w.values().all(is_zero),
        (V::Array(w), V::Array(l)) => {
            w.len() == l.len() && w.iter().zip(l).all(|(wv, lv)| contains(lv, wv))
        }
        (V::String(a), V::String(b)) => a == b || quantity(a).zip(quantity(b)).is_some_and(same),
        (V::Number(a), V::String(b)) | (V::String(b), V::Number(a)) => {
            quantity(&a.to_string()).zip(quantity(b)).is_some_and(same)
        }
        (V::Number(a), V::Number(b)) => a.as_f64() == b.as_f64(),
        (w, V::Null) => is_zero(w),
        (w, l) => w == l,
    }
}

fn same((a, b): (f64, f64)) -> bool {
    (a - b).abs() <= f64::EPSILON * a.abs().max(b.abs()).max(1.0)
}

/// A value the API server drops when it is empty or zero.
fn is_zero(v: &serde_json::Value) -> bool {
    use serde_json::Value as V;
    match v {
        V::Null => true,
        V::Bool(b) => !b,
        V::Number(n) => n.as_f64() == Some(0.0),
        V::String(s) => s.is_empty(),
        V::Array(a) => a.is_empty(),
        V::Object(o) => o.values().all(is_zero),
    }
}

/// A Kubernetes quantity's value (`100m`, `1`, `1.5`, `64Mi`, `4Gi`, `2k`), if it is one; the
/// exponent forms (`1e3`) are not read, so they compare as text.
fn quantity(s: &str) -> Option<f64> {
    const SUFFIXES: &[(&str, f64)] = &[
        ("Ki", 1024.0),
        ("Mi", 1_048_576.0),
        ("Gi", 1_073_741_824.0),
        ("Ti", 1_099_511_627_776.0),
        ("m", 0.001),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
    ];
    let (number, scale) = SUFFIXES
        .iter()
        .find_map(|(suffix, scale)| s.strip_suffix(suffix).map(|n| (n, *scale)))
        .unwrap_or((s, 1.0));
    if number.is_empty() || !number.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return None;
    }
    number.parse::<f64>().ok().map(|n| n * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> FleetSpec {
        crate::yaml::from_str(yaml).unwrap()
    }

    fn observed(instances: &[(&str, &str)]) -> ClusterState {
        let mut s = ClusterState::empty();
        for (name, version) in instances {
            s.instances.push(crate::plan::state::ObservedInstance {
                name: (*name).to_owned(),
                version: version.parse().unwrap(),
                namespace: (*name).to_owned(),
                control_plane_namespace: format!("tekton-{name}"),
                admission: None,
                kept_defaults: std::collections::BTreeMap::new(),
            });
        }
        s
    }

    #[test]
    fn instances_the_fleet_never_listed_are_unmanaged_and_out_of_scope() {
        let s = spec("instances: [{name: team-a, version: v1.9.0}]");
        let state = observed(&[("team-a", "v0.56.0"), ("cli-made", "v1.9.0"), ("gone", "v1.9.0")]);
        let managed = BTreeSet::from(["gone".to_owned()]);
        let w = desired(&s, &managed, &state, false).unwrap();
        assert_eq!(w.unmanaged, ["cli-made"]);
        let scope = w.desired.scope.unwrap();
        assert!(scope.contains("team-a") && scope.contains("gone") && scope.contains("shared"));
        assert!(!scope.contains("cli-made"));
        let names: Vec<_> = w.desired.instances.iter().map(|i| i.spec.name.to_string()).collect();
        assert_eq!(names, ["team-a", "cli-made"], "the removed one is not desired");
    }

    #[test]
    fn deleting_desires_no_instance_of_the_fleet_and_keeps_the_others() {
        let s = spec("instances: [{name: team-a, version: v1.9.0}]");
        let state = observed(&[("team-a", "v1.9.0"), ("cli-made", "v1.9.0")]);
        let managed = BTreeSet::from(["team-a".to_owned()]);
        let w = desired(&s, &managed, &state, true).unwrap();
        let names: Vec<_> = w.desired.instances.iter().map(|i| i.spec.name.to_string()).collect();
        assert_eq!(names, ["cli-made"]);
        assert!(w.desired.scope.unwrap().contains("team-a"));
    }

    #[test]
    fn a_namespace_claimed_twice_is_refused() {
        let s = spec(
            "instances: [{name: team-a, version: v1.9.0}, {name: team-b, version: v1.9.0, namespace: team-a}]",
        );
        let e = desired(&s, &BTreeSet::new(), &ClusterState::empty(), false).unwrap_err();
        assert!(e.to_string().contains("namespace `team-a`"), "{e}");
    }

    #[test]
    fn a_shared_namespace_other_than_the_installed_one_is_refused_and_none_follows_it() {
        let mut state = observed(&[]);
        state.shared = Some(crate::plan::state::ObservedShared {
            version: "v1.9.0".parse().unwrap(),
            namespace: "elsewhere".into(),
            crds: Vec::new(),
        });
        let bad = spec("shared: {namespace: tekton-shared}");
        let e = desired(&bad, &BTreeSet::new(), &state, false).unwrap_err();
        assert!(e.to_string().contains("installed in `elsewhere`"), "{e}");
        let w = desired(&spec("{}"), &BTreeSet::new(), &state, false).unwrap();
        assert_eq!(w.desired.shared.namespace.as_str(), "elsewhere");
    }

    #[test]
    fn conditions_keep_their_transition_time_while_their_status_holds() {
        let t = |s: i64| Time(k8s_openapi::jiff::Timestamp::from_second(s).unwrap());
        let (t1, t2, t3) = (t(1), t(2), t(3));
        let ready = conditions(&Progress::Ready("ok".into()), Some(3), &t1, &[]);
        assert_eq!(ready.len(), 3);
        assert_eq!(
            ready.iter().map(|c| (c.type_.as_str(), c.status.as_str())).collect::<Vec<_>>(),
            [("Ready", "True"), ("Reconciling", "False"), ("Stalled", "False")]
        );
        let again = conditions(&Progress::Ready("ok".into()), Some(4), &t2, &ready);
        assert!(again.iter().all(|c| c.last_transition_time == t1));
        assert!(again.iter().all(|c| c.observed_generation == Some(4)));
        let stalled = conditions(
            &Progress::Stalled { reason: "Incompatible".into(), message: "no".into() },
            Some(5),
            &t3,
            &again,
        );
        let by = |k: &str| stalled.iter().find(|c| c.type_ == k).unwrap().clone();
        assert_eq!(
            (by("Ready").status.as_str(), &by("Ready").last_transition_time),
            ("False", &t3)
        );
        assert_eq!(by("Reconciling").last_transition_time, t1, "still False");
        assert_eq!(
            (by("Stalled").status.as_str(), by("Stalled").reason.as_str()),
            ("True", "Incompatible")
        );
    }

    #[test]
    fn planner_refusals_name_their_reason() {
        let conflict = anyhow::Error::from(crate::plan::Error::NamespaceConflict {
            namespace: "a".into(),
            first: "x".into(),
            second: "y".into(),
        });
        assert_eq!(stalled_reason(&conflict), "Conflict");
        assert_eq!(
            stalled_reason(&anyhow::Error::from(crate::plan::Error::NoShared)),
            "Incompatible"
        );
        assert_eq!(stalled_reason(&anyhow::anyhow!("other")), "InvalidSpec");
    }

    #[test]
    fn drift_is_a_changed_or_missing_field_not_an_added_default() {
        let desired = serde_json::json!({
            "data": {"a": "1"},
            "spec": {"replicas": 1, "template": {"spec": {"containers": [
                {"name": "c", "image": "i", "resources": {"requests": {"cpu": "1000m", "memory": "100Mi"}},
                 "securityContext": {"privileged": false}}
            ]}}}
        });
        let live = serde_json::json!({
            "data": {"a": "1", "added": "by someone"},
            "spec": {"replicas": 1, "progressDeadlineSeconds": 600, "template": {"spec": {"containers": [
                {"name": "c", "image": "i", "imagePullPolicy": "IfNotPresent",
                 "resources": {"requests": {"cpu": "1", "memory": "100Mi"}}}
            ]}}}
        });
        assert!(
            !drifted(&desired, &live, false),
            "defaults and normalised quantities are not drift"
        );
        let mut edited = live.clone();
        edited["data"]["a"] = "2".into();
        assert!(drifted(&desired, &edited, false));
        let mut image = live.clone();
        image["spec"]["template"]["spec"]["containers"][0]["image"] = "other".into();
        assert!(drifted(&desired, &image, false));
        let mut scaled = live.clone();
        scaled["spec"]["replicas"] = 3.into();
        assert!(drifted(&desired, &scaled, false));
        assert!(!drifted(&desired, &scaled, true), "an HPA owns replicas");
        let mut removed = live;
        removed["data"].as_object_mut().unwrap().remove("a");
        assert!(drifted(&desired, &removed, false));
        assert_eq!(quantity("64Mi"), Some(67_108_864.0));
        assert_eq!(quantity("latest"), None);
    }

    #[test]
    fn status_instances_list_the_spec_then_those_being_removed() {
        let s =
            spec("instances: [{name: team-a, version: v1.9.0}, {name: team-b, version: v1.9.0}]");
        let state = observed(&[("team-a", "v1.9.0"), ("old", "v0.56.0")]);
        let managed = BTreeSet::from(["old".to_owned(), "team-a".to_owned()]);
        let got = instances(&s, &managed, &state, true, false);
        let short: Vec<_> =
            got.iter().map(|i| (i.name.as_str(), i.version.as_str(), i.phase.as_str())).collect();
        assert_eq!(
            short,
            [
                ("team-a", "v1.9.0", "Ready"),
                ("team-b", "", "Pending"),
                ("old", "v0.56.0", "Removing")
            ]
        );
        // Once an uninstall converged, the removed instance leaves the record.
        let after = observed(&[("team-a", "v1.9.0"), ("team-b", "v1.9.0")]);
        let got = instances(&s, &managed, &after, true, false);
        assert_eq!(got.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(), ["team-a", "team-b"]);
    }
}
