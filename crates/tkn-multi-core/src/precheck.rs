//! The upgrade precheck: what moving an instance from one release to another breaks or changes
//! in the cluster's own Tekton objects, judged from the two releases and the matrix. **Pure.**
//!
//! The shell (`tkn-multi precheck`) reads the instance's objects (paginated) and the two release
//! files; this module decides. Each finding has a severity (a blocker makes the precheck fail,
//! exit 1), the rule that found it and the rule's source. The rules:
//!
//! | rule | severity | what | source |
//! | --- | --- | --- | --- |
//! | `removed-kind` | blocker | an object of a kind the target no longer defines | the two releases' CRDs (`matrix diff`: kinds removed) |
//! | `removed-kind-reference` | blocker | a Pipeline, or a run not finished, whose `taskRef` names such a kind (`ClusterTask` from v1.0.0) | the same |
//! | `pipeline-resources` | blocker | `resources` in a Task, Pipeline or run not finished, when the target no longer has `PipelineResource` (v0.50.0) | the same |
//! | `pruned-field` | blocker | a field the object holds that the target's schema of its version no longer has (the API server prunes it) | `matrix diff`: schema fields removed |
//! | `required-field` | blocker | a field the target's schema now requires and the object lacks | `matrix diff`: fields that become required |
//! | `bundle-reference` | blocker | a `taskRef`/`pipelineRef` with the `bundle` field, when the target refuses it (v0.61.0) | tektoncd/pipeline commit 13af266aa |
//! | `deprecated-status` | blocker | a `PipelineRun` with `spec.status: PipelineRunCancelled`, gone in v0.38.0 | tektoncd/pipeline commit d71d7dbd0 |
//! | `feature-flag` | warning | a feature flag whose effective value the target changes, where the instance does not keep it | the `feature-flags` `ConfigMap`s and `compat-matrix/defaults.yaml` |
//!
//! What real Tekton's own webhook at the target version refuses or defaults is judged by a
//! shadow of it (`crate::shadow`, rules `webhook-refused` and `webhook-defaults`), whose findings
//! the shell adds with [`Report::with_webhook`].

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::Value;

use crate::matrix::defaults::Defaults;
use crate::matrix::diff::{Diff, changed_feature_flags, diff};
use crate::plan::state::ObservedInstance;
use crate::release::{Release, TektonVersion};

/// Layout version of the precheck document.
pub const PRECHECK_FORMAT_VERSION: &str = "1";

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The upgrade would break this: the precheck fails.
    Blocker,
    /// Behaviour changes.
    Warning,
    /// Worth knowing.
    Info,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// How bad it is.
    pub severity: Severity,
    /// The rule that found it.
    pub rule: &'static str,
    /// The object, as `Kind/name`, when it is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// What is wrong, for people.
    pub message: String,
    /// Where the rule's knowledge comes from.
    pub source: String,
}

/// The precheck of one instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Layout version.
    pub format_version: &'static str,
    /// The instance.
    pub instance: String,
    /// Its namespace (where the objects were read).
    pub namespace: String,
    /// The version it runs.
    pub from: TektonVersion,
    /// The version it would move to.
    pub to: TektonVersion,
    /// How many objects were judged.
    pub objects: usize,
    /// What the target's own webhook said (a shadow of it, sent each object by dry run).
    pub webhook: Webhook,
    /// Blockers first, then warnings and information.
    pub findings: Vec<Finding>,
}

/// Whether the target's own webhook judged the objects.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    /// How many objects it was asked about (finished runs are not).
    pub judged: usize,
    /// Why it was not asked, when it was not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_judged: Option<String>,
}

impl Report {
    /// Whether a finding blocks the upgrade.
    pub fn blocked(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Blocker)
    }

    /// Adds what the target's webhook said: `judged` objects and its findings, or why it was not
    /// asked.
    #[must_use]
    pub fn with_webhook(mut self, outcome: Result<(usize, Vec<Finding>), String>) -> Self {
        match outcome {
            Ok((judged, findings)) => {
                self.webhook = Webhook { judged, not_judged: None };
                self.findings.extend(findings);
                sort(&mut self.findings);
            }
            Err(why) => self.webhook = Webhook { judged: 0, not_judged: Some(why) },
        }
        self
    }
}

/// Judges `objects` (the instance's Tekton objects, as the API server returns them) for a move of
/// `instance` from `from` to `to`.
pub fn precheck(
    instance: &ObservedInstance,
    from: &Release,
    to: &Release,
    defaults: &Defaults,
    objects: &[Value],
) -> Report {
    let d = diff(from, to, defaults);
    let removed: BTreeSet<&str> = d.kinds_removed.iter().map(String::as_str).collect();
    let crd_source =
        format!("the CRDs of {} and {} (`tkn-multi matrix diff`)", from.version, to.version);
    let mut findings = Vec::new();
    for o in objects {
        let kind = o["kind"].as_str().unwrap_or_default();
        let name = format!("{kind}/{}", o["metadata"]["name"].as_str().unwrap_or_default());
        if !finished(o) {
            for (rule, message, source) in removed_features(o, &to.version) {
                findings.push(Finding {
                    severity: Severity::Blocker,
                    rule,
                    object: Some(name.clone()),
                    message,
                    source: source.to_owned(),
                });
            }
        }
        let mut found = |rule, message: String| {
            findings.push(Finding {
                severity: Severity::Blocker,
                rule,
                object: Some(name.clone()),
                message,
                source: crd_source.clone(),
            });
        };
        if removed.contains(kind) {
            found("removed-kind", format!("{} no longer has the kind {kind}", to.version));
            continue;
        }
        if finished(o) {
            continue; // a finished run is history: nothing reconciles it again
        }
        for (task, referenced) in task_refs(o) {
            if removed.contains(referenced.as_str()) {
                found(
                    "removed-kind-reference",
                    format!(
                        "{task} references a {referenced}, a kind {} no longer has",
                        to.version
                    ),
                );
            }
        }
        if removed.contains("PipelineResource") && uses_resources(o) {
            found(
                "pipeline-resources",
                format!("uses PipelineResources (`resources`), which {} no longer has", to.version),
            );
        }
        for (rule, path) in schema_findings(&d, o) {
            let message = match rule {
                "pruned-field" => format!(
                    "holds `{path}`, which {}'s schema drops (the API server prunes it)",
                    to.version
                ),
                _ => format!("lacks `{path}`, which {} requires", to.version),
            };
            found(rule, message);
        }
    }
    findings.extend(flag_findings(instance, from, to, defaults));
    sort(&mut findings);
    Report {
        format_version: PRECHECK_FORMAT_VERSION,
        instance: instance.name.clone(),
        namespace: instance.namespace.clone(),
        from: from.version.clone(),
        to: to.version.clone(),
        objects: objects.len(),
        webhook: Webhook { judged: 0, not_judged: Some("not asked".into()) },
        findings,
    }
}

/// Blockers first; then by object and rule.
fn sort(findings: &mut [Finding]) {
    findings.sort_by(|a, b| (a.severity, &a.object, a.rule).cmp(&(b.severity, &b.object, b.rule)));
}

/// A run whose `Succeeded` condition is `True` or `False`.
pub(crate) fn finished(o: &Value) -> bool {
    o["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Succeeded" && (c["status"] == "True" || c["status"] == "False"))
    })
}

/// Every `taskRef.kind` an object names: a Pipeline's tasks and finally, a `PipelineRun`'s inline
/// `pipelineSpec`, a `TaskRun`'s `taskRef`. (where, kind).
fn task_refs(o: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let pipeline = match o["kind"].as_str() {
        Some("Pipeline") => Some(&o["spec"]),
        Some("PipelineRun") => Some(&o["spec"]["pipelineSpec"]),
        Some("TaskRun") => {
            if let Some(k) = o["spec"]["taskRef"]["kind"].as_str() {
                out.push(("its taskRef".to_owned(), k.to_owned()));
            }
            None
        }
        _ => None,
    };
    for section in ["tasks", "finally"] {
        for t in pipeline.and_then(|p| p[section].as_array()).into_iter().flatten() {
            if let Some(k) = t["taskRef"]["kind"].as_str() {
                let task = t["name"].as_str().unwrap_or_default();
                out.push((format!("task `{task}`"), k.to_owned()));
            }
        }
    }
    out
}

/// Features the target removed that an object (not finished) still uses, from curated rules
/// with their sources: `bundle` in a `taskRef`/`pipelineRef` (v0.61.0 refuses it), a
/// `PipelineRun`'s `spec.status: PipelineRunCancelled` (gone in v0.38.0).
fn removed_features(o: &Value, to: &TektonVersion) -> Vec<(&'static str, String, &'static str)> {
    let mut out = Vec::new();
    if to.at_least(0, 61, 0) {
        let pipeline = match o["kind"].as_str() {
            Some("Pipeline") => Some(&o["spec"]),
            Some("PipelineRun") => Some(&o["spec"]["pipelineSpec"]),
            _ => None,
        };
        let mut refs: Vec<(String, &Value)> = Vec::new();
        for section in ["tasks", "finally"] {
            for t in pipeline.and_then(|p| p[section].as_array()).into_iter().flatten() {
                let task = t["name"].as_str().unwrap_or_default();
                refs.push((format!("task `{task}`'s taskRef"), &t["taskRef"]));
            }
        }
        refs.push(("its pipelineRef".to_owned(), &o["spec"]["pipelineRef"]));
        refs.push(("its taskRef".to_owned(), &o["spec"]["taskRef"]));
        for (where_, r) in refs {
            if let Some(b) = r["bundle"].as_str().filter(|b| !b.is_empty()) {
                out.push((
                    "bundle-reference",
                    format!(
                        "{where_} names the bundle `{b}` (the `bundle` field), which {to} refuses: use the bundles resolver"
                    ),
                    "tektoncd/pipeline commit 13af266aa \"Remove taskref/pipelineref deprecated bundle field\" (v0.61.0)",
                ));
            }
        }
    }
    if to.at_least(0, 38, 0)
        && o["kind"] == "PipelineRun"
        && o["spec"]["status"] == "PipelineRunCancelled"
    {
        out.push((
            "deprecated-status",
            format!("`spec.status: PipelineRunCancelled` is a value {to} no longer knows: use `Cancelled`"),
            "tektoncd/pipeline commit d71d7dbd0 \"Remove deprecated `PipelineRunSpecStatusCancelledDeprecated`\" (v0.38.0)",
        ));
    }
    out
}

/// Whether an object declares `PipelineResources`.
fn uses_resources(o: &Value) -> bool {
    let r = &o["spec"]["resources"];
    match r {
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => m.values().any(|v| v.as_array().is_some_and(|a| !a.is_empty())),
        _ => false,
    }
}

/// Fields the object holds that the target's schema of its version drops, and fields the
/// target's schema now requires that the object lacks (where their parent exists).
fn schema_findings(d: &Diff, o: &Value) -> Vec<(&'static str, String)> {
    let kind = o["kind"].as_str().unwrap_or_default();
    let version = o["apiVersion"].as_str().and_then(|a| a.rsplit_once('/')).map_or("", |(_, v)| v);
    let mut out = Vec::new();
    for c in d.crds.iter().filter(|c| crd_kind(&c.name) == kind.to_lowercase()) {
        for path in c.fields_removed.get(version).into_iter().flatten() {
            if present(o, path) {
                out.push(("pruned-field", path.clone()));
            }
        }
        for path in c.required_added.get(version).into_iter().flatten() {
            if let Some((parent, _)) = path.rsplit_once('.')
                && present(o, parent)
                && !present(o, path)
            {
                out.push(("required-field", path.clone()));
            }
        }
    }
    out
}

/// The kind a CRD name is the plural of (`tasks.tekton.dev` → `task`).
fn crd_kind(crd: &str) -> String {
    crd.split('.').next().unwrap_or_default().trim_end_matches('s').to_owned()
}

/// Whether the object holds the field at `path` (`spec.steps[].name`: in any element).
fn present(o: &Value, path: &str) -> bool {
    fn walk(v: &Value, parts: &[&str]) -> bool {
        let Some((first, rest)) = parts.split_first() else { return !v.is_null() };
        let (key, each) = first.strip_suffix("[]").map_or((*first, false), |k| (k, true));
        let child = &v[key];
        if each {
            child.as_array().is_some_and(|a| a.iter().any(|e| walk(e, rest)))
        } else {
            !child.is_null() && walk(child, rest)
        }
    }
    walk(o, &path.split('.').collect::<Vec<_>>())
}

/// Feature flags whose effective value the target changes, unless the instance keeps them.
fn flag_findings(
    instance: &ObservedInstance,
    from: &Release,
    to: &Release,
    defaults: &Defaults,
) -> Vec<Finding> {
    changed_feature_flags(from, to, defaults)
        .into_iter()
        .filter(|(key, old, _)| old.is_some() && !instance.kept_defaults.contains_key(key))
        .map(|(key, old, new)| Finding {
            severity: Severity::Warning,
            rule: "feature-flag",
            object: Some(format!("ConfigMap/{}", crate::matrix::defaults::FEATURE_FLAGS)),
            message: format!(
                "`{key}` changes from {} to {} (`upgrade --keep-defaults` keeps {})",
                old.as_deref().unwrap_or("-"),
                new.as_deref().unwrap_or("(no longer a key)"),
                old.as_deref().unwrap_or("-"),
            ),
            source: format!(
                "the feature-flags ConfigMaps of {} and {}, and Tekton's defaults (compat-matrix/defaults.yaml)",
                from.version, to.version
            ),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_match_in_any_array_element() {
        let o = json!({"spec": {"steps": [{"image": "x"}, {"name": "n"}]}});
        assert!(present(&o, "spec.steps[].name"));
        assert!(!present(&o, "spec.steps[].script"));
        assert!(present(&o, "spec.steps"));
        assert!(!present(&o, "spec.params"));
    }

    #[test]
    fn removed_features_are_named_with_their_sources() {
        let v = |s: &str| s.parse::<TektonVersion>().unwrap();
        let p = json!({"kind": "Pipeline", "spec": {"tasks": [
            {"name": "a", "taskRef": {"name": "x", "bundle": "registry.example/x:1"}},
            {"name": "b", "taskRef": {"name": "y"}}]}});
        let found = removed_features(&p, &v("v1.15.1"));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, "bundle-reference");
        assert!(
            found[0].1.starts_with("task `a`'s taskRef names the bundle `registry.example/x:1`"),
            "{}",
            found[0].1
        );
        assert!(removed_features(&p, &v("v0.60.1")).is_empty(), "still accepted before v0.61");
        let r = json!({"kind": "PipelineRun", "spec": {"status": "PipelineRunCancelled", "pipelineRef": {"name": "p"}}});
        assert_eq!(removed_features(&r, &v("v0.56.0"))[0].0, "deprecated-status");
        assert!(removed_features(&r, &v("v0.37.0")).is_empty());
    }

    #[test]
    fn task_refs_are_found_where_tekton_has_them() {
        let p = json!({"kind": "Pipeline", "spec": {
            "tasks": [{"name": "a", "taskRef": {"kind": "ClusterTask", "name": "x"}}, {"name": "b", "taskRef": {"name": "y"}}],
            "finally": [{"name": "f", "taskRef": {"kind": "Task", "name": "z"}}]}});
        assert_eq!(
            task_refs(&p),
            [
                ("task `a`".to_owned(), "ClusterTask".to_owned()),
                ("task `f`".to_owned(), "Task".to_owned())
            ]
        );
        let tr =
            json!({"kind": "TaskRun", "spec": {"taskRef": {"kind": "ClusterTask", "name": "x"}}});
        assert_eq!(task_refs(&tr), [("its taskRef".to_owned(), "ClusterTask".to_owned())]);
        let done = json!({"status": {"conditions": [{"type": "Succeeded", "status": "True"}]}});
        assert!(finished(&done) && !finished(&tr));
        assert!(uses_resources(&json!({"spec": {"resources": {"inputs": [{"name": "src"}]}}})));
        assert!(!uses_resources(&json!({"spec": {"resources": {}}})));
    }
}
