//! What a compatibility check is asked and answers: the [`Query`], the [`SharedLayer`] with
//! its [`Finding`]s, verdicts and migrations, and why it cannot answer ([`Error`]). **Pure.**

use super::records::CrdRecord;
use crate::release::TektonVersion;
use serde::Serialize;
use std::fmt::{self, Write as _};

/// What to check.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// The instances' versions (duplicates allowed).
    pub instances: Vec<TektonVersion>,
    /// The shared layer installed now, if any.
    pub current_shared: Option<TektonVersion>,
    /// Allow the new layer to be older than the current one (after an uninstall).
    pub allow_downgrade: bool,
    /// The versions of the instances the current shared layer serves now: a pair the evidence
    /// shows broken that already runs is reported, not refused.
    pub running: Vec<TektonVersion>,
    /// Accept pairs the evidence shows breaking workloads (`--accept-broken-workloads`).
    pub accept_broken_workloads: bool,
}

/// The overall answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Nothing to worry about.
    Compatible,
    /// Works, with risks listed as warnings.
    CompatibleWithWarnings,
    /// Must not be combined.
    Incompatible,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Compatible => "compatible",
            Verdict::CompatibleWithWarnings => "compatible-with-warnings",
            Verdict::Incompatible => "incompatible",
        })
    }
}

/// Why a CRD is in the layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "reason")]
pub enum CrdSource {
    /// A CRD of the base release.
    Base,
    /// Dropped by the base release, still consumed by older instances.
    Legacy {
        /// The instances that need it.
        needed_by: Vec<TektonVersion>,
    },
    /// In the current shared layer but not needed any more: kept, never deleted by a shared
    /// change (deleting a CRD deletes every object of it).
    Kept,
}

/// One CRD of the layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LayerCrd {
    /// The release it is taken from.
    pub from: TektonVersion,
    /// Its record.
    #[serde(flatten)]
    pub crd: CrdRecord,
    /// Why it is there.
    pub source: CrdSource,
}

/// A warning or an incompatibility about one instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// The instance version concerned.
    pub instance: TektonVersion,
    /// Rule identifier.
    pub rule: String,
    /// `warning` or `incompatible`.
    pub verdict: Verdict,
    /// What it means.
    pub message: String,
    /// Where the fact comes from.
    pub source: String,
    /// The compatibility lab's evidence files that show it (`evidence/<X>-on-<Y>.yaml`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<String>,
}

/// A storage step a shared change requires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Migration {
    /// The CRD.
    pub crd: String,
    /// Storage version now.
    pub from_storage: String,
    /// Storage version after the change.
    pub to_storage: String,
    /// Whether it must complete **before** the new CRD is applied (the new CRD does not define a
    /// version objects may be stored as).
    pub before_apply: bool,
    /// What to do.
    pub message: String,
}

/// Each instance's verdict against the layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceVerdict {
    /// The instance version.
    pub instance: TektonVersion,
    /// Its verdict.
    pub verdict: Verdict,
}

/// The answer for a request: the layer, findings and migrations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SharedLayer {
    /// The base (shared webhook and CRDs) version.
    pub version: TektonVersion,
    /// The overall verdict.
    pub verdict: Verdict,
    /// The shared version installed now, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_shared: Option<TektonVersion>,
    /// The newest minimum Kubernetes version among the base and the instances.
    pub min_kubernetes_version: Option<String>,
    /// Every CRD of the layer, by name.
    pub crds: Vec<LayerCrd>,
    /// Versions (the base's or an instance's) whose records this build does not ship: derived at
    /// run time from their release files.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub derived_at_run_time: Vec<TektonVersion>,
    /// Per-instance verdicts, oldest first.
    pub instances: Vec<InstanceVerdict>,
    /// Warnings and incompatibilities.
    pub findings: Vec<Finding>,
    /// Storage migrations.
    pub migrations: Vec<Migration>,
}

/// Why a check cannot answer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No instance given.
    #[error("no instance versions given")]
    Empty,
    /// A version the matrix does not know.
    #[error("Tekton Pipelines {version} is not in the compatibility matrix (known: {known})")]
    UnknownVersion {
        /// The version.
        version: TektonVersion,
        /// The known versions, summarised.
        known: String,
    },
    /// No layer can serve the instances.
    #[error("no shared layer can serve these instances:{}", list(.problems))]
    Incompatible {
        /// Each reason, one line.
        problems: Vec<String>,
        /// The partial answer, for reports.
        layer: Box<SharedLayer>,
    },
}

fn list(items: &[String]) -> String {
    let mut s = String::new();
    for i in items {
        let _ = write!(s, "\n  - {i}");
    }
    s
}
