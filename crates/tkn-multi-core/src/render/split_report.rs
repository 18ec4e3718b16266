//! The `split` report: every upstream object with its part and rule, as a table or JSON. **Pure.**

use std::fmt::Write as _;

use serde::Serialize;

use crate::release::TektonVersion;
use crate::release::capabilities::Capabilities;
use crate::split::{Disposition, Part};

/// Version of the JSON report's layout; minor bumps only add fields.
pub const FORMAT_VERSION: &str = "1.0";

/// The machine-readable `split` report.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SplitReport<'a> {
    /// Layout version of this document.
    pub format_version: &'static str,
    /// The release that was split.
    pub version: &'a TektonVersion,
    /// What the version supports, as the split used it.
    pub capabilities: &'a Capabilities,
    /// Every object of the release, in file order.
    pub objects: &'a [Disposition],
}

/// Renders the report as JSON.
pub fn to_json(report: &SplitReport<'_>) -> String {
    let mut s = serde_json::to_string_pretty(report).expect("the report is plain data");
    s.push('\n');
    s
}

/// Renders the report as a kubectl-style table plus a summary line.
pub fn to_text(report: &SplitReport<'_>) -> String {
    let rows: Vec<Vec<String>> = report
        .objects
        .iter()
        .map(|d| {
            vec![
                d.part.to_string(),
                d.object.kind.clone(),
                d.object.namespace.clone().unwrap_or_else(|| "-".into()),
                d.object.name.clone(),
                d.rule.id().to_owned(),
            ]
        })
        .collect();
    let header = ["PART", "KIND", "NAMESPACE", "NAME", "RULE"];
    let mut out = super::text::table_with_gap(&header, &rows, 3);
    let count = |p: Part| report.objects.iter().filter(|d| d.part == p).count();
    let _ = writeln!(
        out,
        "\n{}: {} objects, {} shared, {} instance, {} both, {} dropped",
        report.version,
        report.objects.len(),
        count(Part::Shared),
        count(Part::Instance),
        count(Part::Both),
        count(Part::Dropped),
    );
    let mut rules: Vec<_> = report.objects.iter().map(|d| d.rule).collect();
    rules.sort();
    rules.dedup();
    out.push_str("\nrules:\n");
    for r in rules {
        let _ = writeln!(out, "  {:<26} {}", r.id(), r.reason());
    }
    out
}
