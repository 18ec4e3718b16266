//! Text helpers every renderer shares: tables, sections, paths. **Pure.**
use std::fmt::Write as _;

/// One section per cluster, in the given order: `cluster <name>:` and its text indented by two
/// spaces, or `cluster <name>: <line>` when it has a one-line outcome instead (an error, "not
/// installed"); sections are separated by a blank line.
pub fn cluster_sections(sections: &[(&str, Result<String, String>)]) -> String {
    let mut out = String::new();
    for (i, (cluster, body)) in sections.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        match body {
            Ok(text) => {
                let _ = writeln!(out, "cluster {cluster}:");
                for line in text.lines() {
                    if line.is_empty() {
                        out.push('\n');
                    } else {
                        let _ = writeln!(out, "  {line}");
                    }
                }
            }
            Err(line) => {
                let _ = writeln!(out, "cluster {cluster}: {line}");
            }
        }
    }
    out
}

/// What several clusters report, as one document: `{"clusters": [...]}`, pretty JSON with
/// `json` (and a final newline), else YAML. `apply`'s plans, `list -f` and `status -f`.
///
/// # Errors
/// None in practice (the entries are JSON values already).
pub fn clusters_document(
    entries: &[serde_json::Value],
    json: bool,
) -> Result<String, crate::yaml::Error> {
    let doc = serde_json::json!({ "clusters": entries });
    if json {
        Ok(serde_json::to_string_pretty(&doc).expect("a JSON value serialises") + "\n")
    } else {
        crate::yaml::to_string(&doc)
    }
}

/// Aligns a header and rows into kubectl-style columns separated by two spaces.
pub fn table(header: &[impl AsRef<str>], rows: &[Vec<String>]) -> String {
    table_with_gap(header, rows, 2)
}

/// Aligns a header and rows into columns separated by `gap` spaces; no trailing spaces.
pub fn table_with_gap(header: &[impl AsRef<str>], rows: &[Vec<String>], gap: usize) -> String {
    let header: Vec<&str> = header.iter().map(AsRef::as_ref).collect();
    let rows: Vec<Vec<&str>> =
        rows.iter().map(|r| r.iter().map(String::as_str).collect()).collect();
    let mut widths: Vec<usize> = header.iter().map(|c| c.chars().count()).collect();
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (c, w) in r.iter().zip(&widths) {
            let _ = write!(line, "{c:<w$}{:gap$}", "");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Why a relative path built from data cannot be written under an output directory, if it
/// cannot: it must be relative, of plain components only (no `..`, `.`, root or empty part), and
/// free of control characters.
pub fn tree_path_problem(path: &std::path::Path) -> Option<String> {
    use std::path::Component;
    let text = path.to_string_lossy();
    if text.is_empty() {
        return Some("an empty path".into());
    }
    if text.chars().any(char::is_control) {
        return Some("it contains control characters".into());
    }
    for c in path.components() {
        match c {
            Component::Normal(_) => {}
            Component::ParentDir => return Some("it climbs out with `..`".into()),
            Component::RootDir | Component::Prefix(_) => return Some("it is absolute".into()),
            Component::CurDir => return Some("it has a `.` component".into()),
        }
    }
    None
}

/// `s` with control characters (terminal escape sequences among them) shown as `\u{…}`
/// escapes, for printing text that came from data.
pub fn escape(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_owned();
    }
    s.chars()
        .map(|c| if c.is_control() { c.escape_unicode().to_string() } else { c.to_string() })
        .collect()
}

#[cfg(test)]
mod path_tests {
    use super::*;

    #[test]
    fn tree_paths_from_data_stay_inside() {
        let p = |s: &str| tree_path_problem(std::path::Path::new(s));
        assert_eq!(p("namespaces/team-a/configmap-x.yaml"), None);
        assert!(p("namespaces/../../ESCAPED-ns/configmap-x.yaml").unwrap().contains(".."));
        assert!(p("/etc/passwd").unwrap().contains("absolute"));
        assert!(p("a/./b").is_none() || p("a/./b").unwrap().contains('.'));
        assert!(p("cluster/\u{1b}[31mred.yaml").unwrap().contains("control"));
        assert_eq!(escape("plain"), "plain");
        assert_eq!(escape("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
    }
}
