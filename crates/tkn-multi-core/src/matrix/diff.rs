//! What changes between two releases, as an upgrade would meet it: configuration keys, CRD
//! versions and schema fields, kinds, and each component's RBAC, flags and environment. **Pure.**
//!
//! The first part of the upgrade precheck (`tkn-multi matrix diff FROM TO`): read from the two
//! release files, and for the feature flags a release leaves out of its `ConfigMap`, from the
//! defaults Tekton's source sets at each tag (`compat-matrix/defaults.yaml`).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use super::defaults::{Defaults, FEATURE_FLAGS, effective};
use crate::release::{Object, Release, TektonVersion};

/// The differences between two releases.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Diff {
    /// The release upgraded from.
    pub from: TektonVersion,
    /// The release upgraded to.
    pub to: TektonVersion,
    /// Per `ConfigMap` of the system namespace: keys added, removed or whose value changes.
    pub config: Vec<ConfigChange>,
    /// Effective values that change where a release's `ConfigMap` leaves the key out (Tekton's
    /// own default decides), which `config` cannot show.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub defaults: Vec<DefaultChange>,
    /// Per CRD: versions served, storage, and schema fields removed.
    pub crds: Vec<CrdChange>,
    /// Kinds the target no longer defines.
    pub kinds_removed: Vec<String>,
    /// Per component (Deployment): flags and environment variables added or removed.
    pub components: Vec<ComponentChange>,
    /// Per role (`ClusterRole`/`Role`): rules added or removed.
    pub rbac: Vec<RoleChange>,
}

/// One key of one `ConfigMap`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigChange {
    /// The `ConfigMap`.
    pub configmap: String,
    /// The key.
    pub key: String,
    /// Its value before (absent: added).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Its value after (absent: removed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

/// One key whose effective value changes, where at least one side is Tekton's default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DefaultChange {
    /// The `ConfigMap`.
    pub configmap: String,
    /// The key.
    pub key: String,
    /// The value before (absent: the release does not know the key).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Whether `from` is the default (the `ConfigMap` leaves the key out).
    pub from_default: bool,
    /// The value after.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Whether `to` is the default.
    pub to_default: bool,
    /// Where the target's default was read (module, commit, file).
    pub source: String,
}

/// One CRD.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CrdChange {
    /// Its name.
    pub name: String,
    /// Served versions before and after, when they differ.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub served: Option<(Vec<String>, Vec<String>)>,
    /// Storage version before and after, when it differs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage: Option<(String, String)>,
    /// Schema fields (JSON paths under `spec`/`status`) removed, per version served by both.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub fields_removed: BTreeMap<String, Vec<String>>,
    /// Fields that become required, per version served by both and typed in both: a write
    /// that leaves one out is refused (`Required value`). Only fields of objects the old schema
    /// already had: a new optional object's own required fields bind no old writer.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub required_added: BTreeMap<String, Vec<String>>,
    /// Fields that are no longer required, per version served by both and typed in both.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub required_removed: BTreeMap<String, Vec<String>>,
    /// The CRD is gone from the target (its objects remain readable only while a shared layer
    /// keeps it).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub removed: bool,
    /// The CRD is new in the target.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub added: bool,
}

/// One Deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ComponentChange {
    /// The Deployment.
    pub deployment: String,
    /// Flags (`-name`) added.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub flags_added: Vec<String>,
    /// Flags removed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub flags_removed: Vec<String>,
    /// Environment variables added.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub env_added: Vec<String>,
    /// Environment variables removed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub env_removed: Vec<String>,
    /// The Deployment is new, or gone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub whole: Option<&'static str>,
}

/// One role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleChange {
    /// `ClusterRole/<name>` or `Role/<namespace>/<name>`.
    pub role: String,
    /// Rules added, as `verbs on group/resources`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub added: Vec<String>,
    /// Rules removed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<String>,
}

/// The differences from `from` to `to`; `defaults` gives the feature flags' effective defaults
/// (the matrix's).
pub fn diff(from: &Release, to: &Release, defaults: &Defaults) -> Diff {
    Diff {
        from: from.version.clone(),
        to: to.version.clone(),
        config: config(from, to),
        defaults: effective_defaults(from, to, defaults),
        crds: crds(from, to),
        kinds_removed: kinds(from).difference(&kinds(to)).cloned().collect(),
        components: components(from, to),
        rbac: rbac(from, to),
    }
}

fn by_name<'a>(r: &'a Release, kind: &str) -> BTreeMap<String, &'a Object> {
    r.objects
        .iter()
        .filter(|o| o.kind() == kind)
        .map(|o| {
            let key = match o.namespace() {
                Some(ns) if kind != "ConfigMap" => format!("{ns}/{}", o.name()),
                _ => o.name().to_owned(),
            };
            (key, o)
        })
        .collect()
}

/// A `ConfigMap`'s data, without the `_example`-style keys, values trimmed.
fn data(o: Option<&&Object>) -> BTreeMap<String, String> {
    o.and_then(|o| o.pointer("/data"))
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter(|(k, _)| !k.starts_with('_'))
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().trim().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// The feature-flag data of a release's `ConfigMap`.
pub fn feature_flags(r: &Release) -> BTreeMap<String, String> {
    data(by_name(r, "ConfigMap").get(FEATURE_FLAGS))
}

/// A key's effective value in one release: the value, and whether it is Tekton's default (the
/// `ConfigMap` leaves the key out); `None` where the release does not know the key.
type Effective = Option<(String, bool)>;

/// Every `feature-flags` key whose effective value (the `ConfigMap`'s, else Tekton's default)
/// differs between `from` and `to`, with both sides.
fn flag_changes(
    from: &Release,
    to: &Release,
    defaults: &Defaults,
) -> Vec<(String, Effective, Effective)> {
    let (fa, fb) = (defaults.of(&from.version), defaults.of(&to.version));
    let (da, db) = (feature_flags(from), feature_flags(to));
    let keys: BTreeSet<&String> = da
        .keys()
        .chain(db.keys())
        .chain(fa.iter().flat_map(|d| d.feature_flags.keys()))
        .chain(fb.iter().flat_map(|d| d.feature_flags.keys()))
        .collect();
    keys.into_iter()
        .filter_map(|key| {
            let a = effective(FEATURE_FLAGS, key, &da, fa);
            let b = effective(FEATURE_FLAGS, key, &db, fb);
            (a.as_ref().map(|v| &v.0) != b.as_ref().map(|v| &v.0)).then(|| (key.clone(), a, b))
        })
        .collect()
}

/// Every `feature-flags` key whose effective value (the `ConfigMap`'s, else Tekton's default)
/// differs between `from` and `to`: (key, before, after); `None` where a release does not know
/// the key.
pub fn changed_feature_flags(
    from: &Release,
    to: &Release,
    defaults: &Defaults,
) -> Vec<(String, Option<String>, Option<String>)> {
    flag_changes(from, to, defaults)
        .into_iter()
        .map(|(key, a, b)| (key, a.map(|v| v.0), b.map(|v| v.0)))
        .collect()
}

/// The changes [`flag_changes`] finds where at least one side is Tekton's default (where both
/// `ConfigMap`s list the key, `config` shows it).
fn effective_defaults(from: &Release, to: &Release, defaults: &Defaults) -> Vec<DefaultChange> {
    let source = defaults.of(&to.version).map(|d| d.source.clone()).unwrap_or_default();
    flag_changes(from, to, defaults)
        .into_iter()
        .filter(|(_, a, b)| a.as_ref().is_some_and(|v| v.1) || b.as_ref().is_some_and(|v| v.1))
        .map(|(key, a, b)| DefaultChange {
            configmap: FEATURE_FLAGS.to_owned(),
            key,
            from_default: a.as_ref().is_some_and(|v| v.1),
            from: a.map(|v| v.0),
            to_default: b.as_ref().is_some_and(|v| v.1),
            to: b.map(|v| v.0),
            source: source.clone(),
        })
        .collect()
}

fn config(from: &Release, to: &Release) -> Vec<ConfigChange> {
    let (a, b) = (by_name(from, "ConfigMap"), by_name(to, "ConfigMap"));
    let names: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let mut out = Vec::new();
    for name in names {
        if name == "pipelines-info" {
            continue; // its only key is the version
        }
        let (da, db) = (data(a.get(name)), data(b.get(name)));
        let keys: BTreeSet<&String> = da.keys().chain(db.keys()).collect();
        for key in keys {
            let (va, vb) = (da.get(key), db.get(key));
            if va != vb {
                out.push(ConfigChange {
                    configmap: name.clone(),
                    key: key.clone(),
                    from: va.cloned(),
                    to: vb.cloned(),
                });
            }
        }
    }
    out
}

fn kinds(r: &Release) -> BTreeSet<String> {
    r.objects
        .iter()
        .filter(|o| o.kind() == "CustomResourceDefinition")
        .filter_map(|o| o.pointer("/spec/names/kind").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

/// Every property path of a schema (`spec.steps[].name`), from its `properties` and `items`,
/// and the paths its `required` lists name.
fn fields(
    schema: &Value,
    prefix: &str,
    out: &mut BTreeSet<String>,
    required: &mut BTreeSet<String>,
) {
    let path = |k: &str| if prefix.is_empty() { k.to_owned() } else { format!("{prefix}.{k}") };
    for r in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
        required.extend(r.as_str().map(path));
    }
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            out.insert(path(k));
            fields(v, &path(k), out, required);
        }
    }
    if let Some(items) = schema.get("items") {
        fields(items, &format!("{prefix}[]"), out, required);
    }
}

/// Per version: served, storage, its schema's field paths and required paths.
type Versions = BTreeMap<String, (bool, bool, BTreeSet<String>, BTreeSet<String>)>;

fn versions(crd: &Object) -> Versions {
    crd.pointer("/spec/versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| {
            let name = v.get("name")?.as_str()?.to_owned();
            let (mut f, mut r) = (BTreeSet::new(), BTreeSet::new());
            if let Some(s) = v.pointer("/schema/openAPIV3Schema") {
                fields(s, "", &mut f, &mut r);
            }
            let flag = |k: &str| v.get(k).and_then(Value::as_bool) == Some(true);
            Some((name, (flag("served"), flag("storage"), f, r)))
        })
        .collect()
}

fn crds(from: &Release, to: &Release) -> Vec<CrdChange> {
    let (a, b) =
        (by_name(from, "CustomResourceDefinition"), by_name(to, "CustomResourceDefinition"));
    let names: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let mut out = Vec::new();
    for name in names {
        let empty = |served, storage| CrdChange {
            name: name.clone(),
            served,
            storage,
            fields_removed: BTreeMap::new(),
            required_added: BTreeMap::new(),
            required_removed: BTreeMap::new(),
            removed: false,
            added: false,
        };
        match (a.get(name), b.get(name)) {
            (Some(_), None) => out.push(CrdChange { removed: true, ..empty(None, None) }),
            (None, Some(_)) => out.push(CrdChange { added: true, ..empty(None, None) }),
            (Some(before), Some(after)) => {
                let (vx, vy) = (versions(before), versions(after));
                let served = |v: &Versions| -> Vec<String> {
                    v.iter().filter(|(_, (s, ..))| *s).map(|(n, _)| n.clone()).collect()
                };
                let storage = |v: &Versions| {
                    v.iter()
                        .find(|(_, (_, st, ..))| *st)
                        .map(|(n, _)| n.clone())
                        .unwrap_or_default()
                };
                let mut c = empty(None, None);
                if served(&vx) != served(&vy) {
                    c.served = Some((served(&vx), served(&vy)));
                }
                if storage(&vx) != storage(&vy) {
                    c.storage = Some((storage(&vx), storage(&vy)));
                }
                for (v, (_, _, fx, rx)) in &vx {
                    // A version without a schema (before v0.70) accepts anything: nothing removed.
                    if let Some((_, _, fy, ry)) = vy.get(v)
                        && !fx.is_empty()
                        && !fy.is_empty()
                    {
                        // The object a required field belongs to (`spec.steps[].name` → `spec.steps`).
                        let parent = |p: &String| {
                            p.rsplit_once('.').map(|(a, _)| a.trim_end_matches("[]").to_owned())
                        };
                        let tighter: Vec<String> = ry
                            .difference(rx)
                            .filter(|p| parent(p).is_none_or(|a| fx.contains(&a)))
                            .cloned()
                            .collect();
                        if !tighter.is_empty() {
                            c.required_added.insert(v.clone(), tighter);
                        }
                        let looser: Vec<String> =
                            rx.difference(ry).filter(|p| fy.contains(*p)).cloned().collect();
                        if !looser.is_empty() {
                            c.required_removed.insert(v.clone(), looser);
                        }
                        let gone: Vec<String> = fx
                            .difference(fy)
                            // A removed object's children are implied by it.
                            .filter(|p| !fx.difference(fy).any(|q| p.starts_with(&format!("{q}."))))
                            .cloned()
                            .collect();
                        if !gone.is_empty() {
                            c.fields_removed.insert(v.clone(), gone);
                        }
                    }
                }
                if c != empty(None, None) {
                    out.push(c);
                }
            }
            (None, None) => {}
        }
    }
    out
}

fn flags_and_env(d: &Object) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut flags = BTreeSet::new();
    let mut env = BTreeSet::new();
    for c in
        d.pointer("/spec/template/spec/containers").and_then(Value::as_array).into_iter().flatten()
    {
        for a in
            c.get("args").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str)
        {
            if let Some(flag) = a.strip_prefix('-') {
                let name = flag.trim_start_matches('-').split('=').next().unwrap_or_default();
                if !name.is_empty() && !name.starts_with(|c: char| c.is_ascii_digit()) {
                    flags.insert(format!("-{name}"));
                }
            }
        }
        for e in c.get("env").and_then(Value::as_array).into_iter().flatten() {
            if let Some(n) = e.get("name").and_then(Value::as_str) {
                env.insert(n.to_owned());
            }
        }
    }
    (flags, env)
}

fn components(from: &Release, to: &Release) -> Vec<ComponentChange> {
    let (a, b) = (by_name(from, "Deployment"), by_name(to, "Deployment"));
    let names: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let mut out = Vec::new();
    for name in names {
        let none = || (BTreeSet::new(), BTreeSet::new());
        let (fa, ea) = a.get(name).map_or_else(none, |d| flags_and_env(d));
        let (fb, eb) = b.get(name).map_or_else(none, |d| flags_and_env(d));
        let c = ComponentChange {
            deployment: name.clone(),
            flags_added: fb.difference(&fa).cloned().collect(),
            flags_removed: fa.difference(&fb).cloned().collect(),
            env_added: eb.difference(&ea).cloned().collect(),
            env_removed: ea.difference(&eb).cloned().collect(),
            whole: match (a.contains_key(name), b.contains_key(name)) {
                (true, false) => Some("removed"),
                (false, true) => Some("added"),
                _ => None,
            },
        };
        let changed = c.whole.is_some()
            || !(c.flags_added.is_empty()
                && c.flags_removed.is_empty()
                && c.env_added.is_empty()
                && c.env_removed.is_empty());
        if changed {
            out.push(c);
        }
    }
    out
}

fn rules(role: &Object) -> BTreeSet<String> {
    let strs = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default()
    };
    let mut out = BTreeSet::new();
    for r in role.pointer("/rules").and_then(Value::as_array).into_iter().flatten() {
        let mut verbs = strs(r.get("verbs"));
        verbs.sort();
        for g in strs(r.get("apiGroups")) {
            for res in strs(r.get("resources")) {
                let resource_names = strs(r.get("resourceNames"));
                let only = if resource_names.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", resource_names.join(", "))
                };
                let group = if g.is_empty() { "core".to_owned() } else { g.clone() };
                out.insert(format!("{} on {group}/{res}{only}", verbs.join(",")));
            }
        }
    }
    out
}

fn rbac(from: &Release, to: &Release) -> Vec<RoleChange> {
    let mut out = Vec::new();
    for kind in ["ClusterRole", "Role"] {
        let (a, b) = (by_name(from, kind), by_name(to, kind));
        let names: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        for name in names {
            let ra = a.get(name).map(|o| rules(o)).unwrap_or_default();
            let rb = b.get(name).map(|o| rules(o)).unwrap_or_default();
            if ra != rb {
                out.push(RoleChange {
                    role: format!("{kind}/{name}"),
                    added: rb.difference(&ra).cloned().collect(),
                    removed: ra.difference(&rb).cloned().collect(),
                });
            }
        }
    }
    out
}
