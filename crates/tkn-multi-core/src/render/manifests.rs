//! Manifests as a multi-document YAML stream, or as a kfmt-style tree of one file per object.
//! **Pure.**

use crate::release::Object;
use crate::yaml;

/// Renders `objects` as one YAML stream, each document introduced by `---`.
pub fn to_yaml_stream(objects: &[Object]) -> Result<String, yaml::Error> {
    let maps: Vec<_> = objects.iter().map(Object::as_map).collect();
    let mut out = String::new();
    for doc in yaml::to_strings(&maps)? {
        out.push_str("---\n");
        out.push_str(&doc);
        if !out.ends_with('\n') {
            out.push('\n');
        }
    }
    Ok(out)
}

/// The kfmt-style path of an object: `cluster/<kind>-<name>.yaml` for cluster-scoped objects,
/// `namespaces/<ns>/<kind>-<name>.yaml` for namespaced ones. Kinds are lower-cased; characters that
/// are awkward in file names (`:` in RBAC names) become `_`.
pub fn tree_path(o: &Object) -> String {
    let file = format!("{}-{}.yaml", o.kind().to_ascii_lowercase(), sanitize(o.name()));
    match o.namespace() {
        Some(ns) => format!("namespaces/{ns}/{file}"),
        None => format!("cluster/{file}"),
    }
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_') { c } else { '_' })
        .collect()
}

/// Renders `objects` as a tree: one (relative path, YAML document) pair per object, sorted by path.
pub fn to_tree(objects: &[Object]) -> Result<Vec<(String, String)>, yaml::Error> {
    let maps: Vec<_> = objects.iter().map(Object::as_map).collect();
    let mut files: Vec<(String, String)> =
        objects.iter().map(tree_path).zip(yaml::to_strings(&maps)?).collect();
    files.sort();
    Ok(files)
}
