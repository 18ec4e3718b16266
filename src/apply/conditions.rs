//! Readiness predicates the executor's waits use. **Pure**: each takes an object as the API
//! server returned it (JSON) and answers yes or no, in the style of kube-runtime's
//! `wait::conditions`.

use serde_json::Value;

/// Whether a condition of `obj` with `type_` has status `True`.
pub fn has_condition(obj: &Value, type_: &str) -> bool {
    obj["status"]["conditions"]
        .as_array()
        .is_some_and(|cs| cs.iter().any(|c| c["type"] == type_ && c["status"] == "True"))
}

/// Whether a CRD is `Established` (kube-runtime's `is_crd_established`).
pub fn crd_established(crd: &Value) -> bool {
    has_condition(crd, "Established")
}

/// Whether a Deployment's rollout is complete: the controller has seen the current spec
/// (`observedGeneration`), every replica runs the current template and is available, no pod of
/// an older template is left, and `Progressing` says `NewReplicaSetAvailable` (kube-runtime's
/// `is_deployment_completed`; the counts are what `kubectl rollout status` checks).
///
/// `Available` alone is not enough: it stays `True` through a rolling update while the old pod
/// still serves, so a wait on it passes before the new version runs.
pub fn deployment_complete(d: &Value) -> bool {
    let (spec, status) = (&d["spec"], &d["status"]);
    let generation = d["metadata"]["generation"].as_i64().unwrap_or(0);
    let observed = status["observedGeneration"].as_i64().unwrap_or(-1);
    let wanted = spec["replicas"].as_i64().unwrap_or(1);
    let count = |field: &str| status[field].as_i64().unwrap_or(0);
    let progressed = status["conditions"].as_array().is_some_and(|cs| {
        cs.iter().any(|c| {
            c["type"] == "Progressing"
                && c["status"] == "True"
                && c["reason"] == "NewReplicaSetAvailable"
        })
    });
    observed >= generation
        && count("updatedReplicas") == wanted
        && count("availableReplicas") == wanted
        && count("replicas") == wanted
        && progressed
        && has_condition(d, "Available")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn deployment(generation: i64, status: &Value) -> Value {
        json!({"metadata": {"generation": generation}, "spec": {"replicas": 1}, "status": status})
    }

    fn complete_status() -> Value {
        json!({
            "observedGeneration": 2, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1,
            "conditions": [
                {"type": "Available", "status": "True"},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}
            ]
        })
    }

    #[test]
    fn a_finished_rollout_is_complete() {
        assert!(deployment_complete(&deployment(2, &complete_status())));
    }

    #[test]
    fn a_rolling_update_with_the_old_pod_available_is_not() {
        // What the API server reports mid-upgrade: Available (the old pod), two pods, the new one
        // not yet available, still progressing.
        let mut s = complete_status();
        s["replicas"] = json!(2);
        s["conditions"][1]["reason"] = json!("ReplicaSetUpdated");
        assert!(has_condition(&deployment(2, &s), "Available"));
        assert!(!deployment_complete(&deployment(2, &s)));
    }

    #[test]
    fn a_spec_the_controller_has_not_seen_is_not() {
        assert!(!deployment_complete(&deployment(3, &complete_status())));
    }

    #[test]
    fn unavailable_or_missing_status_is_not() {
        let mut s = complete_status();
        s["availableReplicas"] = json!(0);
        assert!(!deployment_complete(&deployment(2, &s)));
        assert!(!deployment_complete(&deployment(1, &json!({}))));
        assert!(!deployment_complete(&json!({})));
    }

    #[test]
    fn scaled_to_zero_counts_zero() {
        let d = json!({
            "metadata": {"generation": 1}, "spec": {"replicas": 0},
            "status": {"observedGeneration": 1, "conditions": [
                {"type": "Available", "status": "True"},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}
            ]}
        });
        assert!(deployment_complete(&d));
    }

    #[test]
    fn crds_are_established_by_condition() {
        let yes = json!({"status": {"conditions": [{"type": "Established", "status": "True"}]}});
        let no = json!({"status": {"conditions": [{"type": "Established", "status": "False"}]}});
        assert!(crd_established(&yes));
        assert!(!crd_established(&no));
        assert!(!crd_established(&json!({})));
    }
}
