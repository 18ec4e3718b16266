//! The matrix's records: what each release ships (CRDs, API versions, capabilities), the
//! curated rules, and the errors of reading them. **Pure.**

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::release::TektonVersion;
use crate::release::capabilities::Capabilities;
use crate::yaml;

/// Layout version of the record and rules files.
pub const FORMAT_VERSION: &str = "1";

/// How a CRD converts between its versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Conversion {
    /// No conversion: versions differ only in name.
    None,
    /// Conversion by the (shared) Tekton webhook.
    Webhook,
}

/// Cluster or namespace scope of a CRD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scope {
    /// Objects live in namespaces.
    Namespaced,
    /// Objects are cluster-wide.
    Cluster,
}

/// One CRD of a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CrdRecord {
    /// `metadata.name`, e.g. `tasks.tekton.dev`.
    pub name: String,
    /// API group.
    pub group: String,
    /// Kind.
    pub kind: String,
    /// Plural resource name.
    pub plural: String,
    /// Scope.
    pub scope: Scope,
    /// Versions with `served: true`, in file order.
    pub served: Vec<String>,
    /// Versions defined but not served.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unserved: Vec<String>,
    /// The storage version.
    pub storage: String,
    /// Conversion strategy.
    pub conversion: Conversion,
}

impl CrdRecord {
    /// Whether `version` is served.
    pub fn serves(&self, version: &str) -> bool {
        self.served.iter().any(|v| v == version)
    }

    /// Whether `version` is defined at all (served or not).
    pub fn defines(&self, version: &str) -> bool {
        self.serves(version) || self.unserved.iter().any(|v| v == version)
    }
}

/// An API a controller consumes: group, version and plural resource.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApiRef {
    /// API group.
    pub group: String,
    /// API version.
    pub version: String,
    /// Plural resource.
    pub resource: String,
}

impl ApiRef {
    /// Whether the version is an alpha (`v1alpha1`).
    pub fn is_alpha(&self) -> bool {
        self.version.contains("alpha")
    }

    /// The CRD name this API is served by (`<resource>.<group>`).
    pub fn crd_name(&self) -> String {
        format!("{}.{}", self.resource, self.group)
    }
}

impl fmt::Display for ApiRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.group, self.version, self.resource)
    }
}

impl std::str::FromStr for ApiRef {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut it = s.split('/');
        match (it.next(), it.next(), it.next(), it.next()) {
            (Some(g), Some(v), Some(r), None)
                if !g.is_empty() && !v.is_empty() && !r.is_empty() =>
            {
                Ok(Self { group: g.into(), version: v.into(), resource: r.into() })
            }
            _ => Err(format!("`{s}` is not `group/version/resource`")),
        }
    }
}

impl Serialize for ApiRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ApiRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// Which components can be limited to one namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceScoping {
    /// The controller (`-namespace`).
    pub controller: bool,
    /// The remote resolvers, when the release has them.
    pub resolvers: Option<bool>,
    /// The events controller, when the release has it.
    pub events_controller: Option<bool>,
}

/// Where a record's release file came from, and when the record was derived.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Provenance {
    /// Derived at build time from the upstream `release.yaml` (shipped with this build).
    #[default]
    Upstream,
    /// Derived at build time from a `release.yaml` rebuilt from the Go module source, the way
    /// Tekton's release task builds it (image digests absent; shipped with this build).
    RebuiltFromSource,
    /// Derived at run time from the release file, because this build does not ship the record.
    DerivedAtRunTime,
}

impl Provenance {
    /// Whether the record is the default kind (not written in record files).
    pub fn is_upstream(&self) -> bool {
        *self == Provenance::Upstream
    }
}

/// The derived record of one release: `compat-matrix/<version>.yaml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseRecord {
    /// Layout version.
    pub format_version: String,
    /// The release.
    pub version: TektonVersion,
    /// sha256 of the `release.yaml` the record was derived from.
    pub release_sha256: String,
    /// Where that file came from, and whether the record ships with this build.
    #[serde(default, skip_serializing_if = "Provenance::is_upstream")]
    pub provenance: Provenance,
    /// The registry host of the release's images.
    pub image_registry: String,
    /// The minimum Kubernetes version: `KUBERNETES_MIN_VERSION` where the release declares it
    /// (v1.x), else the one Tekton's README gives for its release line; `None` before v0.24.
    pub min_kubernetes_version: Option<String>,
    /// Which components can be limited to a namespace.
    pub namespace_scoping: NamespaceScoping,
    /// Multi-instance capabilities (see `release::capabilities`).
    pub capabilities: Capabilities,
    /// The release's CRDs, by name.
    pub crds: Vec<CrdRecord>,
    /// The APIs the controller opens informers on at start-up (it waits for them to sync).
    pub controller_consumes: Vec<ApiRef>,
}

impl ReleaseRecord {
    /// The CRD named `name`, if the release has it.
    pub fn crd(&self, name: &str) -> Option<&CrdRecord> {
        self.crds.iter().find(|c| c.name == name)
    }

    /// Serialises the record as committed in `compat-matrix/`.
    pub fn to_yaml(&self) -> String {
        let body = yaml::to_string(self).expect("records are plain data");
        format!(
            "# Generated by `tkn-multi matrix generate` from the {} release.yaml; do not edit.\n\
             # Curated rules live in compat-matrix/rules.yaml.\n{body}",
            self.version
        )
    }
}

/// What a curated rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleKind {
    /// The pair works, with a risk the user should know.
    Warning,
    /// The pair must not be combined.
    Incompatible,
    /// Instances matching the rule also need `api` from the shared layer.
    Needs,
    /// Tekton's own examples break on the pair (the compatibility lab's evidence, cited in
    /// `evidence`): the planner refuses to move the shared layer there unless told to accept it.
    BreaksWorkloads,
}

/// One curated rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CuratedRule {
    /// Stable identifier.
    pub id: String,
    /// What it does.
    pub kind: RuleKind,
    /// Instance versions it applies to (a semver requirement, e.g. `<0.49.0`).
    pub instances: semver::VersionReq,
    /// Shared versions it applies to; every version when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared: Option<semver::VersionReq>,
    /// For `needs`: the API the instance needs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<ApiRef>,
    /// What to tell the user.
    pub message: String,
    /// Where the fact comes from.
    pub source: String,
    /// The evidence files (`evidence/<X>-on-<Y>.yaml`) that show it on real Tekton.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<String>,
}

impl CuratedRule {
    /// Whether the rule applies to an instance of `instance` served by shared `shared`.
    pub fn applies(&self, instance: &TektonVersion, shared: &TektonVersion) -> bool {
        self.instances.matches(&instance.0)
            && self.shared.as_ref().is_none_or(|r| r.matches(&shared.0))
    }
}

/// The curated rules file, `compat-matrix/rules.yaml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rules {
    /// Layout version.
    pub format_version: String,
    /// The rules.
    pub rules: Vec<CuratedRule>,
}

/// A matrix file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file is not valid.
    #[error("compatibility matrix file `{file}` is invalid")]
    Invalid {
        /// The file.
        file: String,
        /// Why.
        #[source]
        source: yaml::Error,
    },
    /// A file has a layout tkn-multi does not know.
    #[error(
        "compatibility matrix file `{file}` has format version `{found}`; this tkn-multi reads `{FORMAT_VERSION}`"
    )]
    Format {
        /// The file.
        file: String,
        /// Its format version.
        found: String,
    },
    /// No rules file.
    #[error("the compatibility matrix has no `rules.yaml`")]
    NoRules,
    /// An evidence file whose name does not say its pair.
    #[error("compatibility matrix file `{file}` holds the evidence of `{expected}`")]
    Misnamed {
        /// The file.
        file: String,
        /// The name its contents call for.
        expected: String,
    },
}

pub(crate) fn check_format(file: &str, found: &str) -> Result<(), Error> {
    if found == FORMAT_VERSION {
        Ok(())
    } else {
        Err(Error::Format { file: file.to_owned(), found: found.to_owned() })
    }
}
