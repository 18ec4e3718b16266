//! Obtaining a release's bytes. **I/O** (files, HTTP).
//!
//! Lookup order, first hit wins:
//! 1. `--release-file`;
//! 2. `$TKN_MULTI_RELEASE_DIR/pipeline/<version>.yaml` (a directory of release files);
//! 3. the user cache, `<cache>/releases/pipeline/<version>/release.yaml`, whose recorded sha256
//!    (`release.yaml.sha256`) is verified on every read;
//! 4. a download from Tekton's release location, whose sha256 is checked against the known one
//!    when tkn-multi knows it, then recorded in the cache.
//!
//! When nothing works the error lists every place tried and why each failed.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::model::TektonVersion;

/// The default download location; `{version}` is replaced by `vX.Y.Z`.
pub const DEFAULT_RELEASE_URL: &str =
    "https://infra.tekton.dev/tekton-releases/pipeline/previous/{version}/release.yaml";

/// Where releases may come from.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// An explicit file (`--release-file`); used for exactly the version asked for.
    pub release_file: Option<PathBuf>,
    /// A directory with `pipeline/<version>.yaml` files (`TKN_MULTI_RELEASE_DIR`).
    pub release_dir: Option<PathBuf>,
    /// The cache root (`TKN_MULTI_CACHE_DIR`, default `~/.cache/tkn-multi`).
    pub cache_dir: Option<PathBuf>,
    /// The download URL template (`TKN_MULTI_RELEASE_URL`); `None` means no downloads.
    pub url_template: Option<String>,
    /// The sha256 the release must have, when tkn-multi knows it.
    pub expected_sha256: Option<String>,
}

/// Where a release came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// `--release-file`.
    File(PathBuf),
    /// The release directory.
    ReleaseDir(PathBuf),
    /// The cache.
    Cache(PathBuf),
    /// A download (then stored in the cache).
    Download(String),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::File(p) | Origin::ReleaseDir(p) | Origin::Cache(p) => {
                write!(f, "{}", p.display())
            }
            Origin::Download(u) => f.write_str(u),
        }
    }
}

/// A release's bytes with their origin and sha256.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The bytes of `release.yaml`.
    pub bytes: Vec<u8>,
    /// Where they came from.
    pub origin: Origin,
    /// Their sha256, lowercase hex.
    pub sha256: String,
}

/// No source could provide the release.
#[derive(Debug, thiserror::Error)]
#[error("cannot obtain Tekton Pipelines {version}; tried:{}", list(.tried))]
pub struct NotFound {
    /// The version asked for.
    pub version: TektonVersion,
    /// Each source tried, and why it failed.
    pub tried: Vec<String>,
}

fn list(tried: &[String]) -> String {
    let mut s = String::new();
    for t in tried {
        let _ = write!(s, "\n  - {t}");
    }
    s
}

/// The sha256 of `bytes` as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The cache path of a version's release file.
pub fn cache_path(cache_dir: &Path, version: &TektonVersion) -> PathBuf {
    cache_dir.join("releases").join("pipeline").join(version.to_string()).join("release.yaml")
}

fn sidecar(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".sha256");
    PathBuf::from(s)
}

/// Stores a release in the cache, with its sha256 beside it. Writes to a temporary file first so
/// that an interrupted run never leaves a truncated release behind.
pub fn store_in_cache(
    cache_dir: &Path,
    version: &TektonVersion,
    bytes: &[u8],
) -> std::io::Result<PathBuf> {
    let path = cache_path(cache_dir, version);
    let dir = path.parent().expect("cache paths have a parent");
    fs_err::create_dir_all(dir)?;
    let tmp = dir.join(".release.yaml.partial");
    fs_err::write(&tmp, bytes)?;
    fs_err::write(sidecar(&path), format!("{}  release.yaml\n", sha256_hex(bytes)))?;
    fs_err::rename(&tmp, &path)?;
    Ok(path)
}

fn read_cache(path: &Path) -> Result<Option<Vec<u8>>, String> {
    if !path.is_file() {
        return Ok(None);
    }
    let bytes = fs_err::read(path).map_err(|e| e.to_string())?;
    let recorded =
        fs_err::read_to_string(sidecar(path)).map_err(|e| format!("no recorded sha256 ({e})"))?;
    let recorded = recorded.split_whitespace().next().unwrap_or_default().to_owned();
    let actual = sha256_hex(&bytes);
    if recorded != actual {
        return Err(format!(
            "sha256 mismatch: recorded {recorded}, file has {actual} (delete it to re-download)"
        ));
    }
    Ok(Some(bytes))
}

fn check_expected(bytes: &[u8], expected: Option<&str>) -> Result<String, String> {
    let actual = sha256_hex(bytes);
    match expected {
        Some(want) if want != actual => {
            Err(format!("sha256 mismatch: expected {want}, got {actual}"))
        }
        _ => Ok(actual),
    }
}

/// Obtains the release `version` from the first source that has it.
pub async fn obtain(version: &TektonVersion, sources: &Sources) -> Result<Fetched, NotFound> {
    let mut tried = Vec::new();
    let expected = sources.expected_sha256.as_deref();
    if let Some(file) = &sources.release_file {
        // An explicit file is the user's choice: no checksum against the known upstream one, so
        // patched or mirrored releases work; its version labels are still checked by `parse`.
        match fs_err::read(file) {
            Ok(bytes) => {
                let sha256 = sha256_hex(&bytes);
                return Ok(Fetched { bytes, origin: Origin::File(file.clone()), sha256 });
            }
            Err(e) => tried.push(format!("--release-file: {e}")),
        }
        return Err(NotFound { version: version.clone(), tried });
    }
    if let Some(dir) = &sources.release_dir {
        let path = dir.join("pipeline").join(format!("{version}.yaml"));
        match fs_err::read(&path) {
            Ok(bytes) => {
                let sha256 = sha256_hex(&bytes);
                return Ok(Fetched { bytes, origin: Origin::ReleaseDir(path), sha256 });
            }
            Err(e) => tried.push(format!("release directory: {e}")),
        }
    }
    if let Some(cache) = &sources.cache_dir {
        let path = cache_path(cache, version);
        match read_cache(&path) {
            Ok(Some(bytes)) => match check_expected(&bytes, expected) {
                Ok(sha256) => return Ok(Fetched { bytes, origin: Origin::Cache(path), sha256 }),
                Err(e) => tried.push(format!("cache {}: {e}", path.display())),
            },
            Ok(None) => tried.push(format!("cache: {} does not exist", path.display())),
            Err(e) => tried.push(format!("cache {}: {e}", path.display())),
        }
    }
    match &sources.url_template {
        Some(template) => {
            let url = template.replace("{version}", &version.to_string());
            match download(&url).await {
                Ok(bytes) => match check_expected(&bytes, expected) {
                    Ok(sha256) => {
                        if let Some(cache) = &sources.cache_dir {
                            // A cache that cannot be written only costs a later re-download.
                            let _ = store_in_cache(cache, version, &bytes);
                        }
                        return Ok(Fetched { bytes, origin: Origin::Download(url), sha256 });
                    }
                    Err(e) => tried.push(format!("download {url}: {e}")),
                },
                Err(e) => tried.push(format!("download {url}: {e}")),
            }
        }
        None => tried.push("download: disabled (--offline)".into()),
    }
    Err(NotFound { version: version.clone(), tried })
}

async fn download(url: &str) -> Result<Vec<u8>, String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(10))
        .timeout(std::time::Duration::from_secs(120))
        .user_agent(concat!("tkn-multi/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| e.to_string())?;
    let resp = client.get(url).send().await.map_err(|e| error_chain(&e))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(format!("HTTP {status}"));
    }
    resp.bytes().await.map(|b| b.to_vec()).map_err(|e| error_chain(&e))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let _ = write!(s, ": {c}");
        cur = c.source();
    }
    s
}

/// Every one of these is about the request or its input.
impl crate::fault::Classify for NotFound {
    fn class(&self) -> crate::fault::Class {
        crate::fault::Class::User
    }
}
