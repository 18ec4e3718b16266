//! Plans for humans (Terraform-style) and machines (JSON/YAML with `formatVersion`). **Pure.**

use std::fmt::Write as _;

use crate::names::SHARED_OWNER;
use anstyle::{AnsiColor, Style};

use crate::plan::{Action, Plan, StepKind};

/// Renders the plan as text: a legend, a shared section, one section per instance, one line per
/// step in execution order (waits inline), and a summary line.
pub fn to_text(plan: &Plan) -> String {
    styled_text(plan, false)
}

/// [`to_text`], with each object step coloured by its action when `colour` (red for what deletes
/// or replaces, green for what creates, yellow for what updates: Terraform's colours).
pub fn styled_text(plan: &Plan, colour: bool) -> String {
    let mut notes = String::new();
    if let Some(line) = plan.shared_layer.as_ref().and_then(derived_note) {
        let _ = writeln!(notes, "note: {line}");
    }
    for n in &plan.notes {
        let _ = writeln!(notes, "note: {n}");
    }
    if !plan.has_changes() {
        return format!("{notes}No changes. The cluster matches the desired state.\n");
    }
    let mut out =
        String::from("legend: + create, ~ update, -/+ replace, - delete, … wait, » migrate");
    if plan.summary.certificates > 0 {
        out.push_str(", ✎ certificate");
    }
    out.push('\n');
    let mut owners: Vec<&str> = plan.steps.iter().map(|s| s.kind.owner()).collect();
    owners.sort_unstable();
    owners.dedup();
    owners.sort_by_key(|o| *o != SHARED_OWNER);
    for owner in owners {
        out.push('\n');
        out.push_str(&section_header(plan, owner));
        for step in plan.steps.iter().filter(|s| s.kind.owner() == owner) {
            let style = if colour { style_of(&step.kind) } else { Style::new() };
            let _ = writeln!(out, "{style}  {}{style:#}", step_line(&step.kind));
        }
    }
    if let Some(layer) = &plan.shared_layer {
        let warnings: Vec<_> = layer.findings.iter().collect();
        if !warnings.is_empty() {
            out.push_str("\nwarnings:\n");
            for f in warnings {
                let _ = writeln!(out, "  {} [{}]: {}", f.instance, f.rule, f.message);
            }
        }
    }
    if !notes.is_empty() {
        out.push('\n');
        out.push_str(&notes);
    }
    let s = plan.summary;
    let _ = write!(
        out,
        "\nplan: {} to create, {} to update, {} to replace, {} to delete, {} to migrate",
        s.create, s.update, s.replace, s.delete, s.migrate
    );
    if s.certificates > 0 {
        let _ = write!(out, ", {} certificate(s) to write", s.certificates);
    }
    out.push('\n');
    out
}

/// The note that records were derived at run time, when some were.
pub fn derived_note(layer: &crate::matrix::check::SharedLayer) -> Option<String> {
    let versions = &layer.derived_at_run_time;
    (!versions.is_empty()).then(|| {
        let list: Vec<String> = versions.iter().map(ToString::to_string).collect();
        format!(
            "the matrix record of {} was derived at run time from its release file; it is not shipped \
             with this build (curated rules apply by version range)",
            list.join(", ")
        )
    })
}

fn section_header(plan: &Plan, owner: &str) -> String {
    if owner == SHARED_OWNER {
        return match &plan.target.shared {
            Some(t) => {
                let from = plan
                    .shared_layer
                    .as_ref()
                    .and_then(|l| l.current_shared.as_ref())
                    .filter(|c| **c != t.version)
                    .map(|c| format!(" (from {c})"))
                    .unwrap_or_default();
                format!("shared: tekton-pipelines {}{from}, namespace {}\n", t.version, t.namespace)
            }
            None => "shared: removed\n".to_owned(),
        };
    }
    match plan.target.instances.iter().find(|i| i.name == owner) {
        Some(i) => format!(
            "instance {owner}: tekton-pipelines {}, namespace {}, control plane {}\n",
            i.version, i.namespace, i.control_plane_namespace
        ),
        None => format!("instance {owner}: removed\n"),
    }
}

/// One step as the text plan shows it (mark, object, reason).
pub fn step_line(kind: &StepKind) -> String {
    match kind {
        StepKind::Object { action, object, reason, .. } => {
            let mut l = format!("{:<3} {}/{}", action.mark(), object.kind, object.name);
            if let Some(ns) = &object.namespace {
                let _ = write!(l, " in {ns}");
            }
            if let Some(r) = reason {
                let _ = write!(l, "  ({r})");
            }
            l
        }
        StepKind::WaitEstablished { crd } => {
            format!("…   wait until CustomResourceDefinition/{crd} is Established")
        }
        StepKind::WaitAvailable { namespace, name, .. } => {
            format!("…   wait until Deployment/{name} in {namespace} is Available")
        }
        StepKind::Certificate { namespace, owner, reason, .. } => {
            format!("✎   write the webhook certificate of {owner} in {namespace}  ({reason})")
        }
        StepKind::MigrateStoredVersions { crd, from, to } => {
            format!(
                "»   migrate {crd}: rewrite objects stored as {} to {to}, set storedVersions [{to}]",
                from.join(",")
            )
        }
    }
}

fn style_of(kind: &StepKind) -> Style {
    match kind {
        StepKind::Object { action: Action::Replace | Action::Delete, .. } => {
            AnsiColor::Red.on_default()
        }
        StepKind::Object { action: Action::Create, .. } => AnsiColor::Green.on_default(),
        StepKind::Object { action: Action::Update, .. } => AnsiColor::Yellow.on_default(),
        _ => Style::new(),
    }
}

/// Renders the plan as JSON.
pub fn to_json(plan: &Plan) -> String {
    serde_json::to_string_pretty(plan).expect("plans are plain data") + "\n"
}

/// The plans of several clusters, one section each (`cluster east:`), in the given order; a
/// cluster with no plan shows its error.
pub fn fleet_to_text(plans: &[(&str, Result<&Plan, String>)], colour: bool) -> String {
    let sections: Vec<(&str, Result<String, String>)> = plans
        .iter()
        .map(|(c, p)| {
            (*c, p.as_ref().map(|p| styled_text(p, colour)).map_err(|e| format!("no plan: {e}")))
        })
        .collect();
    super::text::cluster_sections(&sections)
}

/// The plans of several clusters as one document (JSON with `json`, else YAML):
/// `{"clusters": [{"name": …, "plan": {…}} | {"name": …, "error": "…"}]}`, each with its
/// `stage` when the fleet has stages.
///
/// # Errors
/// None in practice (plans are plain data).
pub fn fleet_document(
    plans: &[(&str, Option<&str>, Result<&Plan, String>)],
    json: bool,
) -> Result<String, crate::yaml::Error> {
    let clusters: Vec<serde_json::Value> = plans
        .iter()
        .map(|(cluster, stage, plan)| {
            let mut entry = match plan {
                Ok(plan) => serde_json::json!({"name": cluster, "plan": plan}),
                Err(e) => serde_json::json!({"name": cluster, "error": e}),
            };
            if let Some(stage) = stage {
                entry["stage"] = (*stage).into();
            }
            entry
        })
        .collect();
    super::text::clusters_document(&clusters, json)
}
