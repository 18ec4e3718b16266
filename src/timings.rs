//! Where a run's time went, for `-v`: one record per phase. **Pure.**
//!
//! The driver and the executor measure (lock, observe, plan, ownership reads, steps); the
//! [`crate::printer::Printer`] writes each record on stderr as a `timings:` line, or with
//! `-o json` as one JSON object per line (JSON Lines), so that stdout keeps its one document.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::plan::{Action, Step, StepKind};

/// How many of the slowest steps a steps record names.
pub const SLOWEST: usize = 5;

/// One phase of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Timing {
    /// `lock`, `observe`, `plan` (releases loaded included), `ownership` (reads before the first
    /// write) or `steps` (the plan's steps, wall-clock).
    pub phase: &'static str,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// For `steps`: the steps by kind (`apply`, `delete`, `wait`, `migrate`, `certificate`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub by_kind: BTreeMap<&'static str, KindTime>,
    /// For `steps`: the slowest, slowest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub slowest: Vec<StepTime>,
    /// API requests sent during the phase (by every client of the process: several clusters'
    /// phases overlap in a fleet run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests: Option<u64>,
}

/// The steps of one kind.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct KindTime {
    /// How many ran.
    pub count: usize,
    /// Their durations summed (they overlap: the sum may exceed the wall-clock time).
    pub seconds: f64,
}

/// One step's duration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepTime {
    /// 1-based step number, as the plan prints it.
    pub step: usize,
    /// The step as the text plan shows it.
    pub what: String,
    /// Seconds from its start to its end.
    pub seconds: f64,
}

impl Timing {
    /// A phase with only a duration.
    pub fn phase(phase: &'static str, took: Duration) -> Self {
        Timing {
            phase,
            seconds: took.as_secs_f64(),
            by_kind: BTreeMap::new(),
            slowest: Vec::new(),
            requests: None,
        }
    }

    /// The record with its request count.
    #[must_use]
    pub fn with_requests(mut self, requests: u64) -> Self {
        self.requests = Some(requests);
        self
    }

    /// The `steps` record of a plan's `steps`, which ran in `wall`, each step (by index) taking
    /// `took`.
    pub fn steps(steps: &[Step], wall: Duration, took: &[(usize, Duration)]) -> Self {
        let mut by_kind: BTreeMap<&'static str, KindTime> = BTreeMap::new();
        for (i, d) in took {
            let e =
                by_kind.entry(kind(&steps[*i].kind)).or_insert(KindTime { count: 0, seconds: 0.0 });
            e.count += 1;
            e.seconds += d.as_secs_f64();
        }
        let mut slowest = took.to_vec();
        slowest.sort_by_key(|&(i, d)| (std::cmp::Reverse(d), i));
        let slowest = slowest
            .into_iter()
            .take(SLOWEST)
            .map(|(i, d)| StepTime {
                step: i + 1,
                what: crate::render::plan::step_line(&steps[i].kind),
                seconds: d.as_secs_f64(),
            })
            .collect();
        Timing { phase: "steps", seconds: wall.as_secs_f64(), by_kind, slowest, requests: None }
    }

    /// The record as `timings:` text lines.
    pub fn to_text(&self) -> String {
        let mut text = match self.phase {
            "plan" => format!("timings: plan {:.2} s (releases loaded included)", self.seconds),
            "ownership" => format!("timings: ownership reads {:.2} s", self.seconds),
            "steps" => format!("timings: steps {:.2} s wall", self.seconds),
            phase => format!("timings: {phase} {:.2} s", self.seconds),
        };
        if let Some(n) = self.requests {
            let _ = write!(text, ", {n} requests");
        }
        if !self.by_kind.is_empty() {
            let kinds: Vec<String> = self
                .by_kind
                .iter()
                .map(|(k, t)| format!("{} {k} {:.2} s", t.count, t.seconds))
                .collect();
            let _ = write!(text, " ({} summed)", kinds.join(", "));
        }
        if !self.slowest.is_empty() {
            text.push_str("; slowest steps:");
            for s in &self.slowest {
                let _ = write!(text, "\n  {:.2} s  [{}] {}", s.seconds, s.step, s.what);
            }
        }
        text
    }

    /// The record as one line of JSON.
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).expect("timings are plain data")
    }
}

fn kind(step: &StepKind) -> &'static str {
    match step {
        StepKind::Object { action: Action::Delete, .. } => "delete",
        StepKind::Object { .. } => "apply",
        StepKind::WaitEstablished { .. } | StepKind::WaitAvailable { .. } => "wait",
        StepKind::MigrateStoredVersions { .. } => "migrate",
        StepKind::Certificate { .. } => "certificate",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::release::ObjectRef;

    fn step(index: usize, kind: StepKind) -> Step {
        Step { index, kind, depends_on: Vec::new() }
    }

    #[test]
    fn a_steps_record_sums_by_kind_and_names_the_slowest_first() {
        let object = |name: &str| ObjectRef {
            kind: "ConfigMap".into(),
            name: name.into(),
            namespace: Some("team-a".into()),
        };
        let steps: Vec<Step> = (0..7)
            .map(|i| {
                let kind = if i == 6 {
                    StepKind::WaitEstablished { crd: "tasks.tekton.dev".into() }
                } else {
                    StepKind::Object {
                        action: if i < 4 { Action::Create } else { Action::Delete },
                        object: object(&format!("c{i}")),
                        owner: "team-a".into(),
                        reason: None,
                        hash: String::new(),
                        immutable_hash: String::new(),
                        retain: false,
                    }
                };
                step(i, kind)
            })
            .collect();
        let took: Vec<(usize, Duration)> =
            (0..7).map(|i| (i, Duration::from_millis(100 * (i as u64 + 1)))).collect();
        let t = Timing::steps(&steps, Duration::from_secs(2), &took);
        assert_eq!(t.by_kind["apply"], KindTime { count: 4, seconds: 1.0 });
        assert_eq!(t.by_kind["delete"].count, 2);
        assert_eq!(t.by_kind["wait"].count, 1);
        let order: Vec<usize> = t.slowest.iter().map(|s| s.step).collect();
        assert_eq!(order, [7, 6, 5, 4, 3]);
        assert!(t.slowest[0].what.contains("tasks.tekton.dev"), "{:?}", t.slowest[0]);
        let json: serde_json::Value = serde_json::from_str(&t.to_json_line()).unwrap();
        assert_eq!(json["phase"], "steps");
        assert_eq!(json["byKind"]["apply"]["count"], 4);
        assert_eq!(json["slowest"][0]["step"], 7);
        let text = t.to_text();
        assert!(text.starts_with("timings: steps 2.00 s wall (4 apply 1.00 s, 2 delete"), "{text}");
        assert!(text.contains("[7] …   wait until CustomResourceDefinition/tasks.tekton.dev"));
        assert_eq!(
            Timing::phase("lock", Duration::from_millis(250)).to_json_line(),
            r#"{"phase":"lock","seconds":0.25}"#
        );
    }
}
