//! Helpers shared by the integration tests: where the real release files are.

use std::path::PathBuf;

use tkn_multi::intake;
use tkn_multi::release::fetch::{RELEASE_DIR_FOLDERS, release_dir_file};
use tkn_multi::release::{Release, TektonVersion};

/// A release URL on loopback that refuses at once: tests that may look a version up by download
/// use it, so no test traffic leaves the machine.
pub const NO_DOWNLOADS: &str = "http://127.0.0.1:9/{version}.yaml";

/// True when running in CI, where a missing prerequisite is a failure, never a skip.
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false")
}

/// The directory holding `pipeline/<version>.yaml`: `$TKN_MULTI_RELEASE_DIR`, else the shared
/// test data beside the repository (`../shared/tekton-releases`).
pub fn release_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("TKN_MULTI_RELEASE_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/tekton-releases"),
        PathBuf::from,
    );
    if dir.join("pipeline").is_dir() {
        return Some(dir);
    }
    assert!(!in_ci(), "release directory {} is missing: in CI this is a failure", dir.display());
    eprintln!(
        "skipping: release directory {} is missing (set TKN_MULTI_RELEASE_DIR)",
        dir.display()
    );
    None
}

/// Every Pipelines release file, oldest first: upstream's (`pipeline/`) and those rebuilt from
/// the module source (`pipeline-from-source/`), as one set.
pub fn all_versions() -> Vec<TektonVersion> {
    let Some(dir) = release_dir() else { return vec![] };
    let mut versions: Vec<TektonVersion> = RELEASE_DIR_FOLDERS
        .iter()
        .filter_map(|f| std::fs::read_dir(dir.join(f)).ok())
        .flatten()
        .filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(".yaml")?.parse().ok())
        .collect();
    versions.sort();
    versions.dedup();
    assert!(versions.len() >= 44, "expected the 44 shared releases, found {}", versions.len());
    versions
}

/// The path of one release file.
pub fn release_path(version: &str) -> Option<PathBuf> {
    let v: TektonVersion = version.parse().expect("a version");
    release_dir().and_then(|d| release_dir_file(&d, &v))
}

/// Loads one release through the same intake as the binary.
pub fn load(version: &TektonVersion) -> Release {
    let dir = release_dir().expect("release directory");
    let path = release_dir_file(&dir, version).expect("release file exists");
    let bytes = std::fs::read(&path).expect("release file is readable");
    intake::release(&bytes, version, &path.display().to_string()).expect("real release is accepted")
}
