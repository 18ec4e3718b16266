//! `matrix show` and `matrix check` output. **Pure.**

use std::fmt::Write as _;

use super::text::table;

use crate::matrix::Matrix;
use crate::matrix::check::{CrdSource, SharedLayer};

/// Column headers (short CRD names) and their CRD names, in a stable order.
fn crd_columns(matrix: &Matrix) -> Vec<String> {
    let mut names: Vec<String> =
        matrix.releases.values().flat_map(|r| r.crds.iter().map(|c| c.name.clone())).collect();
    names.sort();
    names.dedup();
    names
}

fn short(crd: &str) -> &str {
    crd.split('.').next().unwrap_or(crd)
}

/// The versions × CRDs table: served versions, `*` marks storage, `(w)` webhook conversion.
pub fn show_text(matrix: &Matrix) -> String {
    let cols = crd_columns(matrix);
    let mut header = vec!["VERSION".to_owned()];
    header.extend(cols.iter().map(|c| short(c).to_uppercase()));
    header.push("ADMISSION".into());
    let rows: Vec<Vec<String>> = matrix
        .releases
        .values()
        .map(|r| {
            let mark = match r.provenance {
                crate::matrix::Provenance::Upstream => "",
                crate::matrix::Provenance::RebuiltFromSource => " †",
                crate::matrix::Provenance::DerivedAtRunTime => " ‡",
            };
            let mut row = vec![format!("{}{mark}", r.version)];
            for c in &cols {
                row.push(r.crd(c).map_or_else(
                    || "-".to_owned(),
                    |crd| {
                        let mut s = crd
                            .served
                            .iter()
                            .map(|v| if *v == crd.storage { format!("{v}*") } else { v.clone() })
                            .collect::<Vec<_>>()
                            .join(",");
                        if crd.conversion == crate::matrix::Conversion::Webhook {
                            s.push_str("(w)");
                        }
                        s
                    },
                ));
            }
            row.push(
                if r.capabilities.admission_name_env {
                    "per-instance"
                } else if r.capabilities.owned_admission {
                    "tkn-multi"
                } else {
                    "none"
                }
                .into(),
            );
            row
        })
        .collect();
    let mut out = table(&header, &rows);
    out.push_str(
        "\nserved versions per CRD; * storage version; (w) conversion by webhook; - not in the release\n\
         † from a release.yaml rebuilt from the module source (upstream's file cannot be had; no image digests)\n\
         ‡ derived at run time from the release file: not shipped with this build\n\
         ADMISSION: per-instance: its own webhooks, knative keeps their configurations; tkn-multi: its own\n         webhooks, tkn-multi writes their configurations and certificate (before v0.44); none: no admission\n",
    );
    out
}

/// The text report of a check: the layer, verdicts, findings, migrations, and problems.
pub fn check_text(layer: &SharedLayer, problems: &[String]) -> String {
    let mut out = format!("shared layer: {} ({})\n", layer.version, layer.verdict);
    if let Some(cur) = &layer.current_shared {
        let change = match cur.cmp(&layer.version) {
            std::cmp::Ordering::Less => format!("upgrade from {cur}"),
            std::cmp::Ordering::Equal => "no change".to_owned(),
            std::cmp::Ordering::Greater => format!("downgrade from {cur}"),
        };
        let _ = writeln!(out, "current shared: {cur} ({change})");
    }
    if let Some(k) = &layer.min_kubernetes_version {
        let _ = writeln!(out, "needs Kubernetes: {k} or later");
    }
    if let Some(note) = crate::render::plan::derived_note(layer) {
        let _ = writeln!(out, "note: {note}");
    }
    out.push('\n');
    let header = ["CRD", "FROM", "SERVED", "STORAGE", "CONVERSION", "WHY"];
    let rows: Vec<Vec<String>> = layer
        .crds
        .iter()
        .map(|c| {
            vec![
                c.crd.name.clone(),
                c.from.to_string(),
                c.crd.served.join(","),
                c.crd.storage.clone(),
                format!("{:?}", c.crd.conversion),
                match &c.source {
                    CrdSource::Base => "base".to_owned(),
                    CrdSource::Legacy { needed_by } => format!(
                        "legacy, needed by {}",
                        needed_by.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
                    ),
                    CrdSource::Kept => "kept: in the current layer, never deleted".to_owned(),
                },
            ]
        })
        .collect();
    out.push_str(&table(&header, &rows));
    out.push_str("\ninstances:\n");
    for iv in &layer.instances {
        let _ = writeln!(out, "  {}  {}", iv.instance, iv.verdict);
        for f in layer.findings.iter().filter(|f| f.instance == iv.instance) {
            let level = if f.verdict == crate::matrix::check::Verdict::Incompatible {
                "error"
            } else {
                "warning"
            };
            let _ = writeln!(out, "    {level} [{}]: {}", f.rule, f.message);
            let _ = writeln!(out, "      source: {}", f.source);
            if !f.evidence.is_empty() {
                let _ = writeln!(
                    out,
                    "      evidence: compat-matrix/{}",
                    f.evidence.join(", compat-matrix/")
                );
            }
        }
    }
    if !layer.migrations.is_empty() {
        out.push_str("\nmigrations:\n");
        for m in &layer.migrations {
            let when = if m.before_apply { "before applying" } else { "after applying" };
            let _ = writeln!(out, "  {} ({when}): {}", m.crd, m.message);
        }
    }
    if !problems.is_empty() {
        out.push_str("\nincompatible:\n");
        for p in problems {
            let _ = writeln!(out, "  - {p}");
        }
    }
    out
}

/// A value on one line, cut at 60 characters.
fn one_line(v: &str) -> String {
    let one = v.replace('\n', " ");
    if one.chars().count() > 60 {
        format!("{}…", one.chars().take(60).collect::<String>())
    } else {
        one
    }
}

fn config_lines(d: &crate::matrix::diff::Diff) -> Vec<String> {
    d.config
        .iter()
        .map(|c| match (&c.from, &c.to) {
            (None, Some(v)) => format!("+ {} {} = {}", c.configmap, c.key, one_line(v)),
            (Some(v), None) => format!("- {} {} (was {})", c.configmap, c.key, one_line(v)),
            (Some(a), Some(b)) => {
                format!("~ {} {}: {} → {}", c.configmap, c.key, one_line(a), one_line(b))
            }
            (None, None) => String::new(),
        })
        .collect()
}

fn default_lines(d: &crate::matrix::diff::Diff) -> Vec<String> {
    let side = |v: &Option<String>, default: bool| match v {
        Some(v) if default => format!("{} (default)", one_line(v)),
        Some(v) => one_line(v),
        None => "(unknown key)".to_owned(),
    };
    d.defaults
        .iter()
        .map(|c| {
            let (from, to) = (side(&c.from, c.from_default), side(&c.to, c.to_default));
            format!("~ {} {}: {from} → {to}", c.configmap, c.key)
        })
        .collect()
}

/// `matrix diff` as text: one section per kind of change, empty sections left out.
pub fn diff_text(d: &crate::matrix::diff::Diff) -> String {
    let mut out = format!("{} → {}\n", d.from, d.to);
    let mut section = |title: &str, lines: Vec<String>| {
        if !lines.is_empty() {
            let _ = writeln!(out, "\n{title}:");
            for l in lines {
                let _ = writeln!(out, "  {l}");
            }
        }
    };
    section("config", config_lines(d));
    section(
        "effective defaults (keys a ConfigMap leaves out; Tekton's own default applies)",
        default_lines(d),
    );
    section("kinds removed", d.kinds_removed.clone());
    let mut crds = Vec::new();
    for c in &d.crds {
        if c.removed {
            crds.push(format!("- {}", c.name));
        } else if c.added {
            crds.push(format!("+ {}", c.name));
        } else {
            if let Some((a, b)) = &c.served {
                crds.push(format!("~ {} served: {} → {}", c.name, a.join(","), b.join(",")));
            }
            if let Some((a, b)) = &c.storage {
                crds.push(format!("~ {} storage: {a} → {b}", c.name));
            }
            for (v, fields) in &c.fields_removed {
                crds.push(format!("~ {} {v}: fields removed: {}", c.name, fields.join(", ")));
            }
            for (v, fields) in &c.required_added {
                crds.push(format!("~ {} {v}: now required: {}", c.name, fields.join(", ")));
            }
            for (v, fields) in &c.required_removed {
                crds.push(format!("~ {} {v}: no longer required: {}", c.name, fields.join(", ")));
            }
        }
    }
    section("CRDs", crds);
    section(
        "components",
        d.components
            .iter()
            .map(|c| {
                let mut parts = Vec::new();
                if let Some(w) = c.whole {
                    parts.push(w.to_owned());
                }
                for (sign, what, list) in [
                    ("+", "flags", &c.flags_added),
                    ("-", "flags", &c.flags_removed),
                    ("+", "env", &c.env_added),
                    ("-", "env", &c.env_removed),
                ] {
                    if !list.is_empty() {
                        parts.push(format!("{sign}{what} {}", list.join(" ")));
                    }
                }
                format!("{}: {}", c.deployment, parts.join("; "))
            })
            .collect(),
    );
    section(
        "RBAC",
        d.rbac
            .iter()
            .flat_map(|r| {
                r.added
                    .iter()
                    .map(move |a| format!("+ {}: {a}", r.role))
                    .chain(r.removed.iter().map(move |x| format!("- {}: {x}", r.role)))
            })
            .collect(),
    );
    out
}
