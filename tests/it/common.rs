//! Helpers shared by the integration tests: where the real release files are.
//!
//! Every test that needs the test cluster is `#[ignore = "needs the test cluster: scripts/test
//! runs it"]`: a plain `cargo test` reports it as ignored, never as passed, and `scripts/test`
//! runs it (`--include-ignored`) against the cluster it starts; run alone without a cluster it
//! fails and says what is missing. Tests that need the release files fail without them.

use std::path::PathBuf;

use tkn_multi::intake;
use tkn_multi::release::fetch::{RELEASE_DIR_FOLDERS, release_dir_file};
use tkn_multi::release::{Release, TektonVersion};

/// A release URL on loopback that refuses at once: tests that may look a version up by download
/// use it, so no test traffic leaves the machine.
pub const NO_DOWNLOADS: &str = "http://127.0.0.1:9/{version}.yaml";

/// The directory holding `pipeline/<version>.yaml`: `$TKN_MULTI_RELEASE_DIR`, else the shared
/// test data beside the repository (`../shared/tekton-releases`). The release files are the
/// tests' data, as fixtures are: a test that needs them fails without them, in CI and outside,
/// and says where it looked.
pub fn release_dir() -> PathBuf {
    let dir = std::env::var_os("TKN_MULTI_RELEASE_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/tekton-releases"),
        PathBuf::from,
    );
    assert!(
        dir.join("pipeline").is_dir(),
        "the release files are missing: no {}/pipeline (set TKN_MULTI_RELEASE_DIR to the directory \
         holding pipeline/ and pipeline-from-source/)",
        dir.display()
    );
    dir
}

/// Every Pipelines release file, oldest first: upstream's (`pipeline/`) and those rebuilt from
/// the module source (`pipeline-from-source/`), as one set.
pub fn all_versions() -> Vec<TektonVersion> {
    let dir = release_dir();
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
pub fn release_path(version: &str) -> PathBuf {
    let v: TektonVersion = version.parse().expect("a version");
    let dir = release_dir();
    release_dir_file(&dir, &v)
        .unwrap_or_else(|| panic!("no release file of {version} in {}", dir.display()))
}

/// Loads one release through the same intake as the binary.
pub fn load(version: &TektonVersion) -> Release {
    let dir = release_dir();
    let path = release_dir_file(&dir, version).expect("release file exists");
    let bytes = std::fs::read(&path).expect("release file is readable");
    intake::release(&bytes, version, &path.display().to_string()).expect("real release is accepted")
}
