//! `tkn-multi promote`'s edit of a fleet file: the destination stage gets the source stage's
//! version of one instance, by a minimal textual edit that keeps comments, key order and layout
//! (no YAML round trip). When the promotion makes every stage equal, the overrides collapse into
//! the instance's own `version:`. Every edit is checked by parsing the result: each cluster of the
//! destination must then run the source's version, and nothing else may change. **Pure.**

use std::collections::{BTreeMap, BTreeSet};

use super::members::{Fleet, Member, parse};
use super::schema::FleetFileV2;
use crate::names::{InstanceName, StageName};
use crate::release::TektonVersion;

/// A promotion's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Promotion {
    /// The version the destination gets.
    pub version: TektonVersion,
    /// The clusters of the source stage (the live check reads them) and of the destination.
    pub from_clusters: Vec<String>,
    /// The clusters of the destination stage.
    pub to_clusters: Vec<String>,
    /// The new file (equal to the old one when the destination already runs the version).
    pub text: String,
    /// Whether the overrides collapsed into the instance's own version.
    pub collapsed: bool,
}

/// Why a promotion cannot be done.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("cannot promote `{instance}` from `{from}` to `{to}` in `{origin}`: {why}")]
pub struct Refused {
    origin: String,
    instance: String,
    from: String,
    to: String,
    why: String,
}

/// The edit that promotes `instance` from stage `from` to stage `to` in fleet file `text`.
///
/// # Errors
/// A file that is not a fleet with stages, unknown stages or instance, a source stage whose
/// clusters disagree, or a layout this edit cannot change safely (the message says to edit by
/// hand).
pub fn promote(
    text: &str,
    origin: &str,
    instance: &InstanceName,
    from: &StageName,
    to: &StageName,
) -> Result<Promotion, Refused> {
    let refuse = |why: String| Refused {
        origin: origin.into(),
        instance: instance.to_string(),
        from: from.to_string(),
        to: to.to_string(),
        why,
    };
    let members = match parse(text, origin).map_err(|e| refuse(format!("{e}")))? {
        Fleet::Clusters(m) => m,
        Fleet::Single(_) => return Err(refuse("the fleet has no `clusters:` or `stages:`".into())),
    };
    let stages: Vec<StageName> = {
        let mut seen: Vec<(usize, StageName)> = members
            .iter()
            .filter_map(|m| m.stage.as_ref().map(|s| (s.index, s.name.clone())))
            .collect();
        seen.sort();
        seen.dedup();
        seen.into_iter().map(|(_, n)| n).collect()
    };
    if stages.is_empty() {
        return Err(refuse("the fleet has no `stages:`".into()));
    }
    for s in [from, to] {
        if !stages.contains(s) {
            return Err(refuse(format!(
                "the fleet has no stage `{s}` ({})",
                stages.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")
            )));
        }
    }
    if from == to {
        return Err(refuse("the two stages are the same".into()));
    }
    let versions = versions_by_stage(&members, instance);
    let source = versions.get(from).cloned().unwrap_or_default();
    let Some(version) = source.values().next().cloned() else {
        return Err(refuse(format!("the instance is on no cluster of stage `{from}`")));
    };
    if source.values().any(|v| v != &version) {
        return Err(refuse(format!(
            "the clusters of stage `{from}` run different versions of it ({}); a promotion needs one",
            source.iter().map(|(c, v)| format!("{c}: {v}")).collect::<Vec<_>>().join(", ")
        )));
    }
    let Some(dest) = versions.get(to).filter(|d| !d.is_empty()) else {
        return Err(refuse(format!("the instance is on no cluster of stage `{to}`")));
    };
    let from_clusters = source.keys().cloned().collect();
    let to_clusters: Vec<String> = dest.keys().cloned().collect();
    if dest.values().all(|v| v == &version) {
        return Ok(Promotion {
            version,
            from_clusters,
            to_clusters,
            text: text.to_owned(),
            collapsed: false,
        });
    }
    // What every cluster should run afterwards.
    let mut expected: BTreeMap<String, TektonVersion> =
        versions.values().flat_map(|m| m.iter().map(|(c, v)| (c.clone(), v.clone()))).collect();
    for c in &to_clusters {
        expected.insert(c.clone(), version.clone());
    }
    let every_stage_equal = expected.values().all(|v| v == &version);
    let edits = edits(text, instance, to, &version, every_stage_equal).map_err(refuse)?;
    let collapsed = every_stage_equal;
    let new = apply(text, &edits);
    // The edit must do exactly what was asked.
    let Ok(Fleet::Clusters(after)) = parse(&new, origin) else {
        return Err(refuse("the edited file would not parse; edit the file by hand".into()));
    };
    let got: BTreeMap<String, TektonVersion> = versions_by_stage(&after, instance)
        .values()
        .flat_map(|m| m.iter().map(|(c, v)| (c.clone(), v.clone())))
        .collect();
    let others_same = members.iter().zip(&after).all(|(a, b)| {
        let strip = |m: &Member| {
            let mut d = m.desired.clone();
            d.instances.iter_mut().filter(|x| &x.spec.name == instance).for_each(|x| {
                x.version = "v0.0.0".parse().expect("a version");
            });
            format!("{:?}{:?}", d.instances, m.stage)
        };
        strip(a) == strip(b)
    });
    if got != expected || !others_same {
        return Err(refuse(
            "the edit would change more than the destination's version; edit the file by hand"
                .into(),
        ));
    }
    Ok(Promotion { version, from_clusters, to_clusters, text: new, collapsed })
}

/// The line edits that give stage `to` the `version` of `instance` (collapsing the overrides
/// when `every_stage_equal`).
fn edits(
    text: &str,
    instance: &InstanceName,
    to: &StageName,
    version: &TektonVersion,
    every_stage_equal: bool,
) -> Result<Vec<Edit>, String> {
    let file: FleetFileV2 =
        crate::yaml::from_str(text).map_err(|e| format!("the file does not parse: {e}"))?;
    let Some(i) = file.instances.iter().find(|i| &i.name == instance) else {
        return Err("the fleet has no such instance".to_owned());
    };
    let lines = Lines::new(text);
    let item = lines.instance_item(instance).ok_or_else(|| {
        "its entry in `instances:` is not in block style (`- name: …` on its own line); edit the file by hand".to_owned()
    })?;
    let overrides = lines.override_items(&item);
    if overrides.len() != i.overrides.len() {
        return Err(
            "its `overrides:` are not one list item per override; edit the file by hand".to_owned()
        );
    }
    let mut edits: Vec<Edit> = Vec::new();
    if every_stage_equal {
        edits.push(lines.set_value(&item.own, "version", &version.to_string()).ok_or_else(
            || "its own `version:` is not on a line of its own; edit the file by hand".to_owned(),
        )?);
        for (o, span) in i.overrides.iter().zip(&overrides) {
            if o.version.is_none() {
                continue;
            }
            let only_version =
                o.config.is_empty() && o.image_registry.is_none() && o.deployments.is_empty();
            edits.push(if only_version {
                Edit::Remove(span.clone())
            } else {
                lines.drop_key(span, "version").ok_or_else(|| {
                    "an override's `version` is not a simple key; edit the file by hand".to_owned()
                })?
            });
        }
        if i.overrides.iter().all(|o| {
            o.version.is_some()
                && o.config.is_empty()
                && o.image_registry.is_none()
                && o.deployments.is_empty()
        }) && let Some(key) = &item.overrides_key
        {
            edits.push(Edit::Remove(key.clone()));
        }
    } else if let Some((_, span)) = i.overrides.iter().zip(&overrides).find(|(o, _)| {
        o.version.is_some()
            && o.clusters.is_none()
            && o.cluster_selector.is_none()
            && o.stages.as_deref() == Some(std::slice::from_ref(to))
    }) {
        edits.push(lines.set_value(span, "version", &version.to_string()).ok_or_else(|| {
            "the destination's override has no simple `version`; edit the file by hand".to_owned()
        })?);
    } else {
        let entry = format!("{{stages: [{to}], version: {version}}}");
        edits.push(lines.append_override(&item, &overrides, &entry).ok_or_else(|| {
            "cannot place a new override in its entry; edit the file by hand".to_owned()
        })?);
    }
    Ok(edits)
}

/// Stage → cluster → the instance's version there.
fn versions_by_stage(
    members: &[Member],
    instance: &InstanceName,
) -> BTreeMap<StageName, BTreeMap<String, TektonVersion>> {
    let mut out: BTreeMap<StageName, BTreeMap<String, TektonVersion>> = BTreeMap::new();
    for m in members {
        let Some(stage) = &m.stage else { continue };
        let entry = out.entry(stage.name.clone()).or_default();
        if let Some(i) = m.desired.instances.iter().find(|i| &i.spec.name == instance) {
            entry.insert(m.cluster.name.to_string(), i.version.clone());
        }
    }
    out
}

/// A range of whole lines, `[start, end)`.
type Span = std::ops::Range<usize>;

/// One change to the file's lines.
#[derive(Debug, Clone)]
enum Edit {
    /// Replace line `n` with a new line.
    Line(usize, String),
    /// Remove whole lines.
    Remove(Span),
    /// Insert lines before line `n`.
    Insert(usize, Vec<String>),
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut lines: Vec<Option<String>> =
        text.split_inclusive('\n').map(|l| Some(l.to_owned())).collect();
    let mut inserts: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for e in edits {
        match e {
            Edit::Line(n, l) => lines[*n] = Some(l.clone()),
            Edit::Remove(span) => span.clone().for_each(|n| lines[n] = None),
            Edit::Insert(n, new) => inserts.entry(*n).or_default().extend(new.iter().cloned()),
        }
    }
    let mut out = String::new();
    for (n, l) in lines.iter().enumerate() {
        for new in inserts.get(&n).into_iter().flatten() {
            out.push_str(new);
        }
        if let Some(l) = l {
            out.push_str(l);
        }
    }
    for new in inserts.get(&lines.len()).into_iter().flatten() {
        out.push_str(new);
    }
    out
}

/// The file as lines, with the few structural questions the edit asks.
struct Lines<'a> {
    lines: Vec<&'a str>,
}

/// An instance's entry: its own keys' lines (the overrides' lines excepted), the `overrides:`
/// line, and where its list ends.
struct Item {
    own: Span,
    key_indent: usize,
    overrides_key: Option<Span>,
    overrides: Span,
}

fn indent(l: &str) -> usize {
    l.len() - l.trim_start().len()
}

fn blank(l: &str) -> bool {
    let t = l.trim();
    t.is_empty() || t.starts_with('#')
}

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Self {
        Self { lines: text.split_inclusive('\n').collect() }
    }

    /// The block-style entry `- name: <instance>` under `instances:`.
    fn instance_item(&self, instance: &InstanceName) -> Option<Item> {
        let start_list = self.lines.iter().position(|l| l.trim_end() == "instances:")?;
        let want = format!("name: {instance}");
        let start = (start_list + 1..self.lines.len()).find(|&n| {
            let t = self.lines[n].trim();
            t.strip_prefix("- ").is_some_and(|rest| {
                rest.trim_end() == want || rest.starts_with(&format!("{want} "))
            })
        })?;
        let dash = indent(self.lines[start]);
        let key_indent = dash + 2;
        let mut end = start + 1;
        while end < self.lines.len()
            && (blank(self.lines[end]) || indent(self.lines[end]) >= key_indent)
        {
            end += 1;
        }
        // Trailing blank or comment lines belong to what follows.
        while end > start + 1 && blank(self.lines[end - 1]) {
            end -= 1;
        }
        let key = (start + 1..end)
            .find(|&n| indent(self.lines[n]) == key_indent && self.lines[n].trim() == "overrides:");
        let (overrides_key, overrides) = match key {
            Some(k) => {
                let mut e = k + 1;
                while e < end
                    && (blank(self.lines[e])
                        || indent(self.lines[e]) > key_indent
                        || (indent(self.lines[e]) == key_indent
                            && self.lines[e].trim_start().starts_with("- ")))
                {
                    e += 1;
                }
                (Some(k..k + 1), k + 1..e)
            }
            None => (None, end..end),
        };
        Some(Item { own: start..end, key_indent, overrides_key, overrides })
    }

    /// Each list item of the instance's overrides, as line spans.
    fn override_items(&self, item: &Item) -> Vec<Span> {
        let mut out: Vec<Span> = Vec::new();
        let mut dash: Option<usize> = None;
        for n in item.overrides.clone() {
            let l = self.lines[n];
            if blank(l) {
                continue;
            }
            let starts = l.trim_start().starts_with("- ");
            if starts && dash.is_none_or(|d| indent(l) == d) {
                dash = Some(indent(l));
                out.push(n..n + 1);
            } else if let Some(last) = out.last_mut() {
                last.end = n + 1;
            }
        }
        out
    }

    /// Sets `key`'s value on the first line of `span` that holds it at the span's key level:
    /// `key: value` in block style, or inside a one-line flow mapping.
    fn set_value(&self, span: &Span, key: &str, value: &str) -> Option<Edit> {
        for n in span.clone() {
            let l = self.lines[n];
            if let Some(new) = replace_value(l, key, value) {
                return Some(Edit::Line(n, new));
            }
        }
        None
    }

    /// Removes `key` from an override: its line in block style, or `key: value` from a flow
    /// mapping.
    fn drop_key(&self, span: &Span, key: &str) -> Option<Edit> {
        for n in span.clone() {
            let l = self.lines[n];
            let t = l.trim_start().trim_start_matches("- ");
            if t.starts_with(&format!("{key}:")) && !l.contains('{') {
                return Some(Edit::Remove(n..n + 1));
            }
            if let Some(pos) = find_key(l, key) {
                // `, key: value` or `key: value, `
                let after = &l[pos..];
                let end = after.find([',', '}']).map(|e| pos + e)?;
                let (a, b) = if l[end..].starts_with(',') {
                    (pos, end + 1 + l[end + 1..].len() - l[end + 1..].trim_start().len())
                } else {
                    let before = l[..pos].trim_end();
                    (before.strip_suffix(',').map(str::len)?, end)
                };
                return Some(Edit::Line(n, format!("{}{}", &l[..a], &l[b..])));
            }
        }
        None
    }

    /// A new override as the last item of the instance's list (creating `overrides:`).
    fn append_override(&self, item: &Item, overrides: &[Span], entry: &str) -> Option<Edit> {
        match (overrides.last(), &item.overrides_key) {
            (Some(last), _) => {
                let dash = indent(self.lines[last.start]);
                Some(Edit::Insert(last.end, vec![format!("{}- {entry}\n", " ".repeat(dash))]))
            }
            (None, Some(_)) => None,
            (None, None) => {
                let k = " ".repeat(item.key_indent);
                Some(Edit::Insert(
                    item.own.end,
                    vec![format!("{k}overrides:\n"), format!("{k}- {entry}\n")],
                ))
            }
        }
    }
}

/// Where `key:` starts in a line (as a key: at the start of its content, after `- `, or after
/// `{` or `,` in a flow mapping).
fn find_key(l: &str, key: &str) -> Option<usize> {
    let pat = format!("{key}:");
    let mut from = 0;
    while let Some(p) = l[from..].find(&pat) {
        let at = from + p;
        let before = l[..at].trim_end();
        if before.is_empty()
            || before.ends_with('{')
            || before.ends_with(',')
            || before.ends_with('-')
        {
            return Some(at);
        }
        from = at + pat.len();
    }
    None
}

/// The line with `key`'s value replaced, the rest (comments, spacing) kept.
fn replace_value(l: &str, key: &str, value: &str) -> Option<String> {
    let at = find_key(l, key)?;
    let start = at + key.len() + 1;
    let rest = &l[start..];
    let lead = rest.len() - rest.trim_start().len();
    let v = start + lead;
    let end = l[v..].find([',', '}', ' ', '\n', '#']).map_or(l.len(), |e| v + e);
    if end == v {
        return None;
    }
    Some(format!("{}{value}{}", &l[..v], &l[end..]))
}

/// A unified diff of two texts, for people.
pub fn diff(old: &str, new: &str, name: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(2)
        .header(&format!("a/{name}"), &format!("b/{name}"))
        .to_string()
}

/// The stages a fleet rolls out, in order, for messages.
pub fn stage_names(members: &[Member]) -> Vec<String> {
    let mut s: BTreeSet<(usize, String)> = BTreeSet::new();
    for m in members {
        if let Some(st) = &m.stage {
            s.insert((st.index, st.name.to_string()));
        }
    }
    s.into_iter().map(|(_, n)| n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> &'static str {
        include_str!("../../../../docs/examples/fleet-stages.yaml")
    }

    fn run(text: &str, from: &str, to: &str) -> Result<Promotion, Refused> {
        promote(
            text,
            "f.yaml",
            &"build".parse().unwrap(),
            &from.parse().unwrap(),
            &to.parse().unwrap(),
        )
    }

    #[test]
    fn promoting_dev_to_prod_changes_only_the_version_lines_and_collapses_the_override() {
        let p = run(example(), "dev", "prod").unwrap();
        assert!(p.collapsed);
        assert_eq!(p.version.to_string(), "v1.15.1");
        let expected = example()
            .replace("  version: v0.56.0            # what prod runs", "  version: v1.15.1            # what prod runs")
            .replace("  overrides:\n  - {stages: [dev], version: v1.15.1}   # dev runs ahead; `tkn-multi promote build --from dev --to prod` moves prod\n", "");
        assert_eq!(p.text, expected);
        assert!(p.text.contains("# A fleet promoted stage by stage"), "comments kept");
    }

    #[test]
    fn a_destination_with_its_own_override_gets_the_version_there() {
        let text = "apiVersion: tkn-multi.tekton.dev/v1alpha2\nkind: Fleet\nclusters:\n- {name: a, context: a}\n- {name: b, context: b}\n- {name: c, context: c}\nstages:\n- {name: dev, clusters: [a]}\n- {name: staging, clusters: [b]}\n- {name: prod, clusters: [c]}\ninstances:\n- name: build\n  version: v0.56.0 # prod\n  placement: {clusterSelector: {}}\n  overrides:\n  - stages: [dev]\n    version: v1.15.1\n  - {stages: [staging], version: v1.9.0, config: {feature-flags: {a: b}}}\n";
        let p = run(text, "dev", "staging").unwrap();
        assert!(!p.collapsed);
        assert_eq!(p.text, text.replace("version: v1.9.0, config", "version: v1.15.1, config"));
        // staging → prod: prod runs the base; a new override for prod goes last.
        let p = run(text, "staging", "prod").unwrap();
        assert_eq!(p.text, format!("{text}  - {{stages: [prod], version: v1.9.0}}\n"));
        // dev → prod when staging differs: no collapse.
        let p = run(text, "dev", "prod").unwrap();
        assert!(!p.collapsed);
        // Already there: nothing changes.
        let p = run(&p.text, "dev", "prod").unwrap();
        assert_eq!(run(&p.text, "dev", "prod").unwrap().text, p.text);
    }

    #[test]
    fn bad_promotions_say_why() {
        let e = |from: &str, to: &str| run(example(), from, to).unwrap_err().to_string();
        assert_eq!(
            e("dev", "qa"),
            "cannot promote `build` from `dev` to `qa` in `f.yaml`: the fleet has no stage `qa` (`dev`, `prod`)"
        );
        assert_eq!(
            e("dev", "dev"),
            "cannot promote `build` from `dev` to `dev` in `f.yaml`: the two stages are the same"
        );
    }

    #[test]
    fn the_diff_shows_only_the_changed_lines() {
        let p = run(example(), "dev", "prod").unwrap();
        let d = diff(example(), &p.text, "fleet.yaml");
        assert!(d.contains("-  version: v0.56.0") && d.contains("+  version: v1.15.1"), "{d}");
        assert_eq!(
            d.lines().filter(|l| l.starts_with('+') && !l.starts_with("+++")).count(),
            1,
            "{d}"
        );
    }
}
