//! What Tekton itself did when an instance of X was served by a shared layer of Y: the
//! compatibility lab's results, `compat-matrix/evidence/<X>-on-<Y>.yaml`. **Pure.**
//!
//! `scripts/compat-lab` runs X's own examples on the real test cluster twice, on X's own shared
//! layer and after moving the shared layer to Y, and writes one file per pair: the counts, every
//! example whose outcome differs with its cause, and controller log messages whose rate grew by
//! far. A difference names the curated rule (`rules.yaml`, kind `breaks-workloads` or `warning`)
//! that explains it; [`agreement`] checks that files and rules agree, so evidence wins over the
//! schema derivation wherever they meet. Format: docs/compat-matrix.md, "Evidence".

use serde::{Deserialize, Serialize};

use super::check::{self, Request};
use super::model::{Matrix, RuleKind};
use crate::release::TektonVersion;

/// Outcome counts of one run of the examples.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Tally {
    /// Runs that succeeded.
    pub succeeded: u32,
    /// Runs that failed.
    pub failed: u32,
    /// Runs that had not finished when the lab stopped waiting.
    pub never_finished: u32,
    /// Examples the API server refused at creation.
    pub refused: u32,
    /// Examples that create no run (upstream skips them too).
    pub no_run: u32,
}

/// How many examples ran and how many differ.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Counts {
    /// Examples selected.
    pub examples: u32,
    /// Examples with the same outcome on both shared layers.
    pub same: u32,
    /// Examples whose outcome differs.
    pub different: u32,
}

/// One example whose outcome differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Difference {
    /// The example's path under `examples/`.
    pub example: String,
    /// Its outcome on X's own shared layer (`succeeded`, `failed:<reason>`, `never-finished`,
    /// `refused`, `no-run`).
    pub baseline: String,
    /// Its outcome on the shared layer of Y.
    pub on_shared: String,
    /// The cause, from the evidence: `refused-at-creation`, `status-write-refused`,
    /// `never-finished`, `run-failed`, `fixed`.
    pub cause: String,
    /// The evidence itself: the refusal text, the field the API server refused, the reason.
    pub detail: String,
    /// The curated rule that explains it.
    pub rule: Option<String>,
}

/// A controller log message far more frequent on Y.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LogAnomaly {
    /// The message, names and numbers elided.
    pub message: String,
    /// How often on X's own shared layer.
    pub baseline: u64,
    /// How often on Y.
    pub on_shared: u64,
    /// The curated rule that explains it.
    pub rule: Option<String>,
}

/// One evidence file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Evidence {
    /// Layout version (the matrix's, [`super::model::FORMAT_VERSION`]).
    pub format_version: String,
    /// The instance's version X.
    pub instance: TektonVersion,
    /// The shared layer's version Y.
    pub shared: TektonVersion,
    /// The command that reproduces the file.
    pub command: String,
    /// Which examples ran, and by which rules they were chosen.
    pub selection: String,
    /// The day of the run.
    pub measured: String,
    /// How long the run took.
    pub seconds: u64,
    /// Counts.
    pub counts: Counts,
    /// Outcomes on X's own shared layer.
    pub baseline: Tally,
    /// Outcomes on Y.
    pub on_shared: Tally,
    /// Every example whose outcome differs.
    pub differences: Vec<Difference>,
    /// Controller log messages far more frequent on Y.
    pub log_anomalies: Vec<LogAnomaly>,
}

impl Evidence {
    /// The file name the lab gives it: `evidence/<X>-on-<Y>.yaml`.
    pub fn file_name(&self) -> String {
        format!("evidence/{}-on-{}.yaml", self.instance, self.shared)
    }

    /// Whether every example behaved the same on both shared layers.
    pub fn clean(&self) -> bool {
        self.differences.is_empty() && self.log_anomalies.is_empty()
    }

    /// Every rule the file cites.
    pub fn rules(&self) -> impl Iterator<Item = &str> {
        self.differences
            .iter()
            .filter_map(|d| d.rule.as_deref())
            .chain(self.log_anomalies.iter().filter_map(|a| a.rule.as_deref()))
    }
}

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
        let req = Request {
            instances: vec![ev.instance.clone(), ev.shared.clone()],
            accept_broken_workloads: true,
            ..Request::default()
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
