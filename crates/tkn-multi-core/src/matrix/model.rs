//! The [`Matrix`]: every known release's record and the curated rules, from the embedded data
//! or a directory, completed at run time for releases the build does not ship. **Pure.**

use std::collections::BTreeMap;

use crate::release::TektonVersion;
use crate::yaml;

use super::records::{Error, Provenance, ReleaseRecord, Rules, check_format};

/// The whole matrix: every known release and the curated rules.
#[derive(Debug, Clone)]
pub struct Matrix {
    /// Records by version.
    pub releases: BTreeMap<TektonVersion, ReleaseRecord>,
    /// Curated rules.
    pub rules: Rules,
    /// The compatibility lab's evidence, by pair.
    pub evidence: Vec<super::evidence::Evidence>,
    /// The effective defaults of each release's feature flags (`defaults.yaml`; empty when a
    /// `--matrix-dir` has none).
    pub defaults: super::defaults::Defaults,
}

/// The matrix files built into the binary: (file name, contents).
pub const EMBEDDED: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/embedded_matrix.rs"));

impl Matrix {
    /// Parses matrix files given as (file name, contents): `rules.yaml` and `v*.yaml` records.
    pub fn from_files<'a>(
        files: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, Error> {
        let mut releases = BTreeMap::new();
        let mut rules = None;
        let mut found = Vec::new();
        let mut defaults = super::defaults::Defaults::default();
        for (name, text) in files {
            let invalid = |source| Error::Invalid { file: name.to_owned(), source };
            if let Some(base) = name.strip_prefix("evidence/") {
                if std::path::Path::new(base).extension().is_none_or(|e| e != "yaml") {
                    continue;
                }
                let e: super::evidence::Evidence = yaml::from_str(text).map_err(invalid)?;
                check_format(name, &e.format_version)?;
                if e.file_name() != name {
                    return Err(Error::Misnamed { file: name.to_owned(), expected: e.file_name() });
                }
                found.push(e);
            } else if name == "defaults.yaml" {
                defaults = yaml::from_str(text).map_err(invalid)?;
                check_format(name, &defaults.format_version)?;
            } else if name == "rules.yaml" {
                let r: Rules = yaml::from_str(text).map_err(invalid)?;
                check_format(name, &r.format_version)?;
                rules = Some(r);
            } else if name.starts_with('v')
                && std::path::Path::new(name).extension().is_some_and(|e| e == "yaml")
            {
                let r: ReleaseRecord = yaml::from_str(text).map_err(invalid)?;
                check_format(name, &r.format_version)?;
                releases.insert(r.version.clone(), r);
            }
        }
        found.sort_by(|a, b| (&a.instance, &a.shared).cmp(&(&b.instance, &b.shared)));
        Ok(Self { releases, rules: rules.ok_or(Error::NoRules)?, evidence: found, defaults })
    }

    /// The matrix built into the binary.
    pub fn embedded() -> Self {
        Self::from_files(EMBEDDED.iter().copied())
            .expect("the embedded matrix is checked by the tests")
    }

    /// The record of `version`, if known.
    pub fn release(&self, version: &TektonVersion) -> Option<&ReleaseRecord> {
        self.releases.get(version)
    }

    /// This matrix with a record derived at run time for every release of `releases` it does
    /// not know (borrowed when it knows them all). The curated rules apply to derived records by
    /// their version ranges, as to shipped ones.
    pub fn completed<'a, 'r>(
        &'a self,
        releases: impl IntoIterator<Item = &'r crate::release::Release>,
    ) -> std::borrow::Cow<'a, Matrix> {
        let mut out = std::borrow::Cow::Borrowed(self);
        for r in releases {
            if !out.releases.contains_key(&r.version) {
                let mut record = super::derive::derive_record(r, &r.sha256);
                record.provenance = Provenance::DerivedAtRunTime;
                out.to_mut().releases.insert(r.version.clone(), record);
            }
        }
        out
    }

    /// The versions whose records were derived at run time.
    pub fn derived_at_run_time(&self) -> Vec<TektonVersion> {
        self.releases
            .values()
            .filter(|r| r.provenance == Provenance::DerivedAtRunTime)
            .map(|r| r.version.clone())
            .collect()
    }
}
