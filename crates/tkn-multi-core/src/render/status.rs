//! `list` and `status` as text, and the `status` report built from what the cluster returned.
//! **Pure.**

use std::fmt::Write as _;

use k8s_openapi::api::apps::v1::Deployment;
use serde::Serialize;

use super::text::table;
use crate::plan::state::ClusterState;
use crate::release::TektonVersion;

/// One component's readiness.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Component {
    /// `shared` or the instance.
    pub owner: String,
    /// Its namespace.
    pub namespace: String,
    /// The Deployment.
    pub name: String,
    /// Replicas asked for.
    pub desired: i32,
    /// Replicas ready.
    pub ready: i32,
    /// The `Available` condition is true.
    pub available: bool,
    /// The first condition that is not true (or `Progressing`), in the API's words.
    pub message: String,
}

/// The `status` report.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The instance.
    pub instance: String,
    /// Its Tekton version.
    pub version: String,
    /// This build ships no matrix record of the version: plans derive it at run time from the
    /// release file.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub record_derived_at_run_time: bool,
    /// The namespace it reconciles.
    pub namespace: String,
    /// Where its controller and webhook run.
    pub control_plane_namespace: String,
    /// Every component available and no problem.
    pub ready: bool,
    /// The instance's and the shared layer's Deployments.
    pub components: Vec<Component>,
    /// What fails for this instance's objects, in the API server's words (a dead conversion
    /// webhook shows here).
    pub problems: Vec<String>,
    /// The newest warning events of the control-plane namespace.
    pub recent_warnings: Vec<String>,
}

/// The readiness of Deployment `namespace/name` of `owner`, from what the API returned for it
/// (`None`: it does not exist).
pub fn component(owner: &str, namespace: &str, name: &str, d: Option<&Deployment>) -> Component {
    let status = d.and_then(|d| d.status.clone()).unwrap_or_default();
    let conditions = status.conditions.unwrap_or_default();
    let available = conditions.iter().any(|c| c.type_ == "Available" && c.status == "True");
    let message = if d.is_none() {
        "missing".to_owned()
    } else {
        conditions
            .iter()
            .filter(|c| c.status != "True" || c.type_ == "Progressing")
            .find_map(|c| c.message.clone().map(|m| format!("{}: {m}", c.type_)))
            .unwrap_or_default()
    };
    Component {
        owner: owner.to_owned(),
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        desired: d.and_then(|d| d.spec.as_ref()).and_then(|s| s.replicas).unwrap_or(1),
        ready: status.ready_replicas.unwrap_or(0),
        available,
        message,
    }
}

/// `status` as text.
pub fn status_text(report: &Report) -> String {
    let mut out = format!(
        "instance {}: tekton-pipelines {}, namespace {}, control plane {}: {}\n\n",
        report.instance,
        report.version,
        report.namespace,
        report.control_plane_namespace,
        if report.ready { "ready" } else { "NOT READY" }
    );
    if report.record_derived_at_run_time {
        out.insert_str(
            out.len() - 1,
            &format!("note: {}\n", DERIVED_NOTE.replace("{}", &report.version)),
        );
    }
    let header = ["OWNER", "DEPLOYMENT", "READY", "AVAILABLE", "MESSAGE"];
    let rows: Vec<Vec<String>> = report
        .components
        .iter()
        .map(|c| {
            vec![
                c.owner.clone(),
                format!("{}/{}", c.namespace, c.name),
                format!("{}/{}", c.ready, c.desired),
                if c.available { "True" } else { "False" }.to_owned(),
                c.message.clone(),
            ]
        })
        .collect();
    out.push_str(&table(&header, &rows));
    if !report.problems.is_empty() {
        out.push_str("\nproblems:\n");
        for p in &report.problems {
            let _ = writeln!(out, "  {p}");
        }
    }
    if !report.recent_warnings.is_empty() {
        out.push_str("\nrecent warnings:\n");
        for w in &report.recent_warnings {
            let _ = writeln!(out, "  {w}");
        }
    }
    out
}

/// What `list` and `status` say of a version whose record this build does not ship.
pub const DERIVED_NOTE: &str = "{} is not in this build's compatibility matrix: its record is derived at run time from its release file";

/// `list` as text: the instances, then the shared layer. Versions `shipped` says no to are
/// marked `‡` and explained below the table.
pub fn list_text(state: &ClusterState, shipped: &dyn Fn(&TektonVersion) -> bool) -> String {
    let header = ["INSTANCE", "VERSION", "NAMESPACE", "CONTROL PLANE"];
    let mut unshipped = std::collections::BTreeSet::new();
    let mut mark = |v: &TektonVersion| {
        if shipped(v) {
            v.to_string()
        } else {
            unshipped.insert(v.clone());
            format!("{v} ‡")
        }
    };
    let rows: Vec<Vec<String>> = state
        .instances
        .iter()
        .map(|i| {
            vec![
                i.name.clone(),
                mark(&i.version),
                i.namespace.clone(),
                i.control_plane_namespace.clone(),
            ]
        })
        .collect();
    let mut out = if rows.is_empty() { "no instances\n".to_owned() } else { table(&header, &rows) };
    match &state.shared {
        Some(s) => {
            let _ = writeln!(
                out,
                "\nshared: tekton-pipelines {} in {}, {} CRDs",
                mark(&s.version),
                s.namespace,
                s.crds.len()
            );
        }
        None => out.push_str("\nshared: not installed\n"),
    }
    for v in unshipped {
        let _ = writeln!(out, "‡ {}", DERIVED_NOTE.replace("{}", &v.to_string()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_component_reads_the_deployment_conditions() {
        let d: Deployment = serde_json::from_value(serde_json::json!({
            "spec": {"replicas": 2, "selector": {}, "template": {}},
            "status": {"readyReplicas": 1, "conditions": [
                {"type": "Available", "status": "False", "message": "Deployment does not have minimum availability."},
                {"type": "Progressing", "status": "True", "message": "ReplicaSet is progressing."}
            ]}
        }))
        .unwrap();
        let c = component("team-a", "tekton-team-a", "tekton-pipelines-controller", Some(&d));
        assert!(!c.available);
        assert_eq!((c.desired, c.ready), (2, 1));
        assert_eq!(c.message, "Available: Deployment does not have minimum availability.");
        let gone = component("team-a", "tekton-team-a", "x", None);
        assert_eq!(gone.message, "missing");
        assert!(!gone.available);
    }
}
