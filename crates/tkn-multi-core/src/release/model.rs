//! The typed view of a Tekton release: versions, Kubernetes objects and their identities. **Pure.**
//!
//! Objects stay as `serde_json::Value` maps so that every field of the upstream manifest survives a
//! rewrite untouched; the accessors here give the handful of typed views tkn-multi needs.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// A Tekton Pipelines release version, written `vMAJOR.MINOR.PATCH`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TektonVersion(pub semver::Version);

/// A version string that is not `vX.Y.Z`.
#[derive(Debug, thiserror::Error)]
#[error("`{input}` is not a Tekton version (expected `vMAJOR.MINOR.PATCH`, e.g. `v0.50.3`)")]
pub struct InvalidVersion {
    /// What the user wrote.
    pub input: String,
}

impl TektonVersion {
    /// Builds a version from its three numbers.
    pub const fn new(major: u64, minor: u64, patch: u64) -> Self {
        Self(semver::Version::new(major, minor, patch))
    }

    /// True when this version is at least `major.minor.patch`.
    pub fn at_least(&self, major: u64, minor: u64, patch: u64) -> bool {
        self.0 >= semver::Version::new(major, minor, patch)
    }
}

impl FromStr for TektonVersion {
    type Err = InvalidVersion;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bare = s.strip_prefix('v').unwrap_or(s);
        semver::Version::parse(bare)
            .ok()
            .filter(|v| v.build.is_empty())
            .map(TektonVersion)
            .ok_or_else(|| InvalidVersion { input: s.to_owned() })
    }
}

impl fmt::Display for TektonVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

impl Serialize for TektonVersion {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A `vMAJOR.MINOR.PATCH` string (the `TektonFleet` CRD's schema).
impl schemars::JsonSchema for TektonVersion {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "TektonVersion".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^v[0-9]+\\.[0-9]+\\.[0-9]+$",
            "description": "A Tekton Pipelines version, e.g. v0.50.3."
        })
    }
}

impl<'de> Deserialize<'de> for TektonVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Kinds a Tekton release may contain that Kubernetes serves cluster-scoped and tkn-multi does
/// not manage itself (the managed ones are marked in [`crate::managed::KINDS`]).
///
/// Scope is decided by kind, never by whether `metadata.namespace` is present: upstream's
/// `tekton-pipelines-resolvers` `ClusterRoleBinding` carries a stray namespace from v0.40 to v0.46.
const OTHER_CLUSTER_SCOPED_KINDS: &[&str] = &[
    "PodSecurityPolicy",
    "PriorityClass",
    "StorageClass",
    "APIService",
    "ClusterInterceptor",
    "ClusterTask",
];

/// Whether objects of `kind` are cluster-scoped.
pub fn is_cluster_scoped(kind: &str) -> bool {
    crate::managed::find(kind)
        .map_or_else(|| OTHER_CLUSTER_SCOPED_KINDS.contains(&kind), |k| k.cluster_scoped)
}

/// The identity of an object: kind, namespace (none for cluster-scoped kinds) and name.
///
/// The order sorts cluster-scoped objects first, then by kind, namespace and name, which is the
/// order tkn-multi uses wherever it lists objects.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    /// `kind` of the object.
    pub kind: String,
    /// `metadata.namespace`, absent for cluster-scoped kinds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// `metadata.name`.
    pub name: String,
}

impl Ord for ObjectRef {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.namespace.is_some(), &self.kind, &self.namespace, &self.name).cmp(&(
            other.namespace.is_some(),
            &other.kind,
            &other.namespace,
            &other.name,
        ))
    }
}

impl PartialOrd for ObjectRef {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{}/{} in namespace {}", self.kind, self.name, ns),
            None => write!(f, "{}/{}", self.kind, self.name),
        }
    }
}

/// One Kubernetes object of a manifest, kept as its full JSON map.
#[derive(Debug, Clone, PartialEq)]
pub struct Object(Map<String, Value>);

impl Object {
    /// Wraps a JSON map; the caller has checked that it has `kind` and `metadata.name`.
    pub fn from_map(map: Map<String, Value>) -> Self {
        Self(map)
    }

    /// The underlying JSON map.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    /// The object as a JSON value.
    pub fn to_value(&self) -> Value {
        Value::Object(self.0.clone())
    }

    /// The mutable JSON map, for rewrites.
    pub fn as_map_mut(&mut self) -> &mut Map<String, Value> {
        &mut self.0
    }

    fn str_field(&self, key: &str) -> &str {
        self.0.get(key).and_then(Value::as_str).unwrap_or_default()
    }

    /// `kind`.
    pub fn kind(&self) -> &str {
        self.str_field("kind")
    }

    /// `apiVersion`.
    pub fn api_version(&self) -> &str {
        self.str_field("apiVersion")
    }

    /// `metadata.name`.
    pub fn name(&self) -> &str {
        self.metadata().get("name").and_then(Value::as_str).unwrap_or_default()
    }

    /// `metadata.namespace` as written, which may be present on cluster-scoped kinds by mistake.
    pub fn raw_namespace(&self) -> Option<&str> {
        self.metadata().get("namespace").and_then(Value::as_str)
    }

    /// The namespace the object lives in: none for cluster-scoped kinds.
    pub fn namespace(&self) -> Option<&str> {
        if is_cluster_scoped(self.kind()) { None } else { self.raw_namespace() }
    }

    /// The identity of this object.
    pub fn object_ref(&self) -> ObjectRef {
        ObjectRef {
            kind: self.kind().to_owned(),
            namespace: self.namespace().map(str::to_owned),
            name: self.name().to_owned(),
        }
    }

    /// `metadata` (empty when absent).
    pub fn metadata(&self) -> &Map<String, Value> {
        static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
        self.0
            .get("metadata")
            .and_then(Value::as_object)
            .unwrap_or_else(|| EMPTY.get_or_init(Map::new))
    }

    /// `metadata`, created when absent.
    pub fn metadata_mut(&mut self) -> &mut Map<String, Value> {
        ensure_object(&mut self.0, "metadata")
    }

    /// The value of label `key`, if set.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.metadata().get("labels").and_then(|l| l.get(key)).and_then(Value::as_str)
    }

    /// Sets label `key` to `value`.
    pub fn set_label(&mut self, key: &str, value: &str) {
        ensure_object(self.metadata_mut(), "labels").insert(key.to_owned(), value.into());
    }

    /// Sets annotation `key` to `value`.
    pub fn set_annotation(&mut self, key: &str, value: &str) {
        ensure_object(self.metadata_mut(), "annotations").insert(key.to_owned(), value.into());
    }

    /// Sets `metadata.name`.
    pub fn set_name(&mut self, name: &str) {
        self.metadata_mut().insert("name".into(), name.into());
    }

    /// Sets `metadata.namespace`, or removes it when `namespace` is `None`.
    pub fn set_namespace(&mut self, namespace: Option<&str>) {
        match namespace {
            Some(ns) => {
                self.metadata_mut().insert("namespace".into(), ns.into());
            }
            None => {
                self.metadata_mut().remove("namespace");
            }
        }
    }

    /// A value at a JSON pointer (`/spec/template/spec`), if present.
    pub fn pointer(&self, pointer: &str) -> Option<&Value> {
        let (first, rest) = split_pointer(pointer);
        let v = self.0.get(first)?;
        if rest.is_empty() { Some(v) } else { v.pointer(rest) }
    }

    /// A mutable value at a JSON pointer, if present.
    pub fn pointer_mut(&mut self, pointer: &str) -> Option<&mut Value> {
        let (first, rest) = split_pointer(pointer);
        let v = self.0.get_mut(first)?;
        if rest.is_empty() { Some(v) } else { v.pointer_mut(rest) }
    }
}

fn split_pointer(pointer: &str) -> (&str, &str) {
    let p = pointer.strip_prefix('/').unwrap_or(pointer);
    match p.find('/') {
        Some(i) => (&p[..i], &p[i..]),
        None => (p, ""),
    }
}

/// Returns `map[key]` as a mutable object, replacing anything that is not an object.
pub fn ensure_object<'a>(map: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let slot = map.entry(key.to_owned()).or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    slot.as_object_mut().expect("the slot was just made an object")
}

/// A parsed Tekton Pipelines release: its version and its objects in file order.
#[derive(Debug, Clone)]
pub struct Release {
    /// The release's version.
    pub version: TektonVersion,
    /// Every object of `release.yaml`, in file order.
    pub objects: Vec<Object>,
    /// sha256 of the file's bytes, lowercase hex.
    pub sha256: String,
    /// The file says it was rebuilt from the module source, not published upstream (the
    /// `pipeline-from-source/` files' header).
    pub rebuilt_from_source: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_with_or_without_v_and_order_semantically() {
        let a: TektonVersion = "v0.9.0".parse().unwrap();
        let b: TektonVersion = "0.10.0".parse().unwrap();
        assert!(a < b);
        assert_eq!(b.to_string(), "v0.10.0");
        assert!("latest".parse::<TektonVersion>().is_err());
        assert!("v1.2".parse::<TektonVersion>().is_err());
    }

    #[test]
    fn object_refs_sort_cluster_scoped_first() {
        let ns =
            ObjectRef { kind: "ConfigMap".into(), namespace: Some("a".into()), name: "x".into() };
        let cl = ObjectRef { kind: "Namespace".into(), namespace: None, name: "z".into() };
        assert!(cl < ns);
    }
}
