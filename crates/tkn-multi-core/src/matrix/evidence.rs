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
    /// Layout version (the matrix's, [`super::records::FORMAT_VERSION`]).
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
