//! The upgrade precheck for people: one line per finding, blockers first, and a verdict. **Pure.**

use std::fmt::Write as _;

use crate::precheck::{Finding, Report, Severity};

/// One finding on one line: severity, rule, object, message (the report's lines, and what
/// `upgrade --dry-run` shows on stderr).
pub fn finding_line(f: &Finding) -> String {
    let mark = severity(f.severity);
    let what = f.object.as_deref().map(|o| format!("{o}: ")).unwrap_or_default();
    format!("{mark:<7} [{}] {what}{}", f.rule, f.message)
}

/// A severity's name.
pub fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Blocker => "blocker",
        Severity::Warning => "warning",
        Severity::Info => "info",
    }
}

/// The instance, or "the shared layer".
fn who(r: &Report) -> String {
    if r.instance == crate::names::SHARED_OWNER {
        "the shared layer".to_owned()
    } else {
        r.instance.clone()
    }
}

/// The report as text.
pub fn precheck_text(r: &Report) -> String {
    let shared = r.instance == crate::names::SHARED_OWNER;
    let mut out = if shared {
        format!(
            "precheck of the shared layer ({}) for {}: {} object(s) of every instance\n",
            r.from, r.to, r.objects
        )
    } else {
        format!(
            "precheck of {} ({} in `{}`) for {}: {} object(s) judged\n",
            r.instance, r.from, r.namespace, r.to, r.objects
        )
    };
    match &r.webhook.not_judged {
        None if shared => {
            let _ = writeln!(
                out,
                "  {}'s own conversion webhook stored {} object(s) at its version and read them back as their instances read them",
                r.to, r.webhook.judged
            );
        }
        None => {
            let _ = writeln!(out, "  {}'s own webhook judged {} object(s)", r.to, r.webhook.judged);
        }
        Some(why) => {
            let _ = writeln!(out, "  not judged by {}'s own webhook: {why}", r.to);
        }
    }
    for f in &r.findings {
        let _ = writeln!(out, "  {}", finding_line(f));
    }
    let blockers = r.findings.iter().filter(|f| f.severity == Severity::Blocker).count();
    let _ = writeln!(
        out,
        "{}",
        if blockers > 0 {
            format!("{blockers} blocker(s): moving {} to {} would break them", who(r), r.to)
        } else {
            format!("no blocker: {} can move to {}", who(r), r.to)
        }
    );
    out
}
