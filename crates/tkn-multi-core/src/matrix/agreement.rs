//! Whether the compatibility lab's evidence and the curated rules agree. **Pure.**

use super::check::{self, Query};
use super::model::Matrix;
use super::records::RuleKind;

/// Everything in which the evidence files and the curated rules disagree, one line each; empty
/// when they agree. Checked by `matrix generate --check` and the tests.
///
/// - every difference and log anomaly names a rule, and the matrix gives that rule as a finding
///   for X on a shared layer of Y (a curated rule of `rules.yaml`, or one the check derives, such
///   as `api-version-not-served`); a curated rule also cites the file;
/// - every file a rule cites exists and names the rule;
/// - no `breaks-workloads` rule applies to a pair whose evidence shows no difference.
pub fn agreement(matrix: &Matrix) -> Vec<String> {
    let mut out = Vec::new();
    for ev in &matrix.evidence {
        let file = ev.file_name();
        if ev.counts.different as usize != ev.differences.len() {
            out.push(format!(
                "{file}: counts.different is {} but {} differences are listed",
                ev.counts.different,
                ev.differences.len()
            ));
        }
        let unexplained = ev
            .differences
            .iter()
            .filter(|d| d.rule.is_none())
            .map(|d| format!("{file}: {} ({}) names no rule", d.example, d.cause))
            .chain(
                ev.log_anomalies
                    .iter()
                    .filter(|a| a.rule.is_none())
                    .map(|a| format!("{file}: log anomaly `{}` names no rule", a.message)),
            );
        out.extend(unexplained);
        // What the matrix says about X on Y, breakage accepted so that every finding is listed.
        let req = Query {
            instances: vec![ev.instance.clone(), ev.shared.clone()],
            accept_broken_workloads: true,
            ..Query::default()
        };
        let layer = match check::check(matrix, &req) {
            Ok(layer) => layer,
            Err(check::Error::Incompatible { layer, .. }) => *layer,
            Err(e) => {
                out.push(format!("{file}: {e}"));
                continue;
            }
        };
        let mut found: Vec<&str> = layer
            .findings
            .iter()
            .filter(|f| f.instance == ev.instance)
            .map(|f| f.rule.as_str())
            .collect();
        found.sort_unstable();
        found.dedup();
        let mut cited: Vec<&str> = ev.rules().collect();
        cited.sort_unstable();
        cited.dedup();
        for id in cited {
            if !found.contains(&id) {
                out.push(format!(
                    "{file}: rule `{id}` is not among the matrix's findings for {} on {} ({})",
                    ev.instance,
                    ev.shared,
                    found.join(", ")
                ));
            }
            if let Some(r) = matrix.rules.rules.iter().find(|r| r.id == id)
                && !r.evidence.contains(&file)
            {
                out.push(format!("{file}: rule `{id}` does not cite it in `evidence`"));
            }
        }
        if ev.clean() {
            for r in matrix.rules.rules.iter().filter(|r| {
                r.kind == RuleKind::BreaksWorkloads && r.applies(&ev.instance, &ev.shared)
            }) {
                out.push(format!(
                    "{file}: every example behaves the same, yet rule `{}` says {} on {} breaks workloads",
                    r.id, ev.instance, ev.shared
                ));
            }
        }
    }
    for r in &matrix.rules.rules {
        for cited in &r.evidence {
            match matrix.evidence.iter().find(|e| e.file_name() == *cited) {
                None => out.push(format!("rule `{}` cites `{cited}`, which does not exist", r.id)),
                Some(ev) if !ev.rules().any(|id| id == r.id) => out.push(format!(
                    "rule `{}` cites `{cited}`, which names no difference of it",
                    r.id
                )),
                Some(_) => {}
            }
        }
        if r.kind == RuleKind::BreaksWorkloads && r.evidence.is_empty() {
            out.push(format!("rule `{}` breaks workloads but cites no evidence", r.id));
        }
    }
    out
}
