//! Effective defaults: the value Tekton uses for a `feature-flags` key its `ConfigMap` leaves
//! out, per release, as `compat-matrix/defaults.yaml` records it (derived by
//! `scripts/derive-defaults` from `pkg/apis/config/feature_flags.go` at each tag). **Pure.**

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::release::TektonVersion;

/// The `ConfigMap` whose defaults are recorded.
pub const FEATURE_FLAGS: &str = "feature-flags";

/// Every release's recorded defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Defaults {
    /// Layout version.
    pub format_version: String,
    /// By release.
    pub versions: BTreeMap<TektonVersion, ReleaseDefaults>,
}

/// One release's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseDefaults {
    /// Where they were read: the module and commit, and the file.
    pub source: String,
    /// `feature-flags` key → the value used when the key is left out.
    #[serde(rename = "feature-flags")]
    pub feature_flags: BTreeMap<String, String>,
}

impl Defaults {
    /// The defaults of `version`, if recorded.
    pub fn of(&self, version: &TektonVersion) -> Option<&ReleaseDefaults> {
        self.versions.get(version)
    }
}

/// What a key of `configmap` is worth in a release: the `ConfigMap`'s own value, else the
/// recorded default; `None` when neither has it.
pub fn effective(
    configmap: &str,
    key: &str,
    data: &BTreeMap<String, String>,
    defaults: Option<&ReleaseDefaults>,
) -> Option<(String, bool)> {
    if let Some(v) = data.get(key) {
        return Some((v.clone(), false));
    }
    (configmap == FEATURE_FLAGS)
        .then(|| defaults?.feature_flags.get(key).map(|v| (v.clone(), true)))
        .flatten()
}
