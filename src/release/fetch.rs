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

use super::model::{Release, TektonVersion};
pub use super::parse::sha256_hex;

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
    /// `release_file` serves only the version it proves to be; other versions are looked up in
    /// the other sources (commands whose plans may need several versions).
    pub release_file_for_its_version_only: bool,
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

/// A release that passed [`crate::intake`], with its bytes, origin and sha256.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The accepted release.
    pub release: Release,
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

/// The cache path of a version's release file.
pub fn cache_path(cache_dir: &Path, version: &TektonVersion) -> PathBuf {
    cache_dir.join("releases").join("pipeline").join(version.to_string()).join("release.yaml")
}

/// The folders of a release directory that hold `<version>.yaml` files, looked in in this order:
/// upstream's files, then files rebuilt from the module source (newer releases whose upstream
/// file cannot be had).
pub const RELEASE_DIR_FOLDERS: &[&str] = &["pipeline", "pipeline-from-source"];

/// The file of `version` in a release directory, if one of [`RELEASE_DIR_FOLDERS`] has it.
pub fn release_dir_file(dir: &Path, version: &TektonVersion) -> Option<PathBuf> {
    RELEASE_DIR_FOLDERS
        .iter()
        .map(|f| dir.join(f).join(format!("{version}.yaml")))
        .find(|p| p.is_file())
}

fn sidecar(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".sha256");
    PathBuf::from(s)
}

/// Stores a release in the cache, with its sha256 beside it. Only verified bytes come here (the
/// callers pass what [`crate::intake`] accepted). Writes go to fresh temporary files that are then
/// renamed into place, so an interrupted run never leaves a truncated release, and a symlink placed
/// in the cache is replaced, never followed.
pub fn store_in_cache(
    cache_dir: &Path,
    version: &TektonVersion,
    bytes: &[u8],
) -> std::io::Result<PathBuf> {
    let path = cache_path(cache_dir, version);
    let dir = path.parent().expect("cache paths have a parent");
    fs_err::create_dir_all(dir)?;
    if fs_err::symlink_metadata(dir)?.file_type().is_symlink() {
        return Err(std::io::Error::other(format!(
            "cache directory `{}` is a symlink; refusing to write through it",
            dir.display()
        )));
    }
    let write_new = |name: &str, data: &[u8]| -> std::io::Result<PathBuf> {
        let tmp = dir.join(format!(".{name}.{}.partial", std::process::id()));
        let _ = fs_err::remove_file(&tmp);
        let mut f = fs_err::OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        std::io::Write::write_all(&mut f, data)?;
        f.sync_all()?;
        Ok(tmp)
    };
    let sum = write_new(
        "release.yaml.sha256",
        format!("{}  release.yaml\n", sha256_hex(bytes)).as_bytes(),
    )?;
    let body = write_new("release.yaml", bytes)?;
    // rename replaces a symlink at the destination instead of writing through it.
    fs_err::rename(&body, &path)?;
    fs_err::rename(&sum, sidecar(&path))?;
    Ok(path)
}

fn read_cache(path: &Path) -> Result<Option<Vec<u8>>, String> {
    match fs_err::symlink_metadata(path) {
        Err(_) => return Ok(None),
        Ok(m) if !m.is_file() => return Err("not a regular file (a symlink?)".into()),
        Ok(m) if m.len() > crate::intake::MAX_BYTES as u64 => {
            return Err(format!("{} bytes, over the release budget", m.len()));
        }
        Ok(_) => {}
    }
    let bytes = fs_err::read(path).map_err(|e| e.to_string())?;
    let recorded =
        fs_err::read_to_string(sidecar(path)).map_err(|e| format!("no recorded sha256 ({e})"))?;
    let recorded = recorded.split_whitespace().next().unwrap_or_default().to_owned();
    let actual = sha256_hex(&bytes);
    if recorded != actual {
        return Err(format!("sha256 mismatch: recorded {recorded}, file has {actual}"));
    }
    Ok(Some(bytes))
}

fn check_expected(bytes: &[u8], expected: Option<&str>) -> Result<(), String> {
    let actual = sha256_hex(bytes);
    match expected {
        Some(want) if want != actual => {
            Err(format!("sha256 mismatch: expected {want}, got {actual}"))
        }
        _ => Ok(()),
    }
}

/// Obtains the release `version` from the first source that has it, accepted by
/// [`crate::intake::release`]. A cached copy that is refused, or whose sha256 disagrees, is
/// reported and replaced by the next verified download; a download is cached only once accepted.
///
/// # Errors
/// [`NotFound`] listing every source tried, or the [`crate::intake::Error`] of a file the user
/// named (`--release-file`, the release directory): either way the request's
/// ([`crate::fault::UserError`]; a download that fails is one source tried).
pub async fn obtain(version: &TektonVersion, sources: &Sources) -> anyhow::Result<Fetched> {
    find(version, sources).await.map_err(crate::fault::user)
}

async fn find(version: &TektonVersion, sources: &Sources) -> anyhow::Result<Fetched> {
    let mut tried = Vec::new();
    let expected = sources.expected_sha256.as_deref();
    let accept = |bytes: Vec<u8>, origin: Origin| -> Result<Fetched, crate::intake::Error> {
        let release = crate::intake::release(&bytes, version, &origin.to_string())?;
        let sha256 = release.sha256.clone();
        Ok(Fetched { release, bytes, origin, sha256 })
    };
    if let Some(file) = &sources.release_file {
        // An explicit file is the user's choice: no checksum against the known upstream one, so
        // patched or mirrored releases work; it must still prove its version and pass intake.
        match fs_err::read(file).map(|bytes| accept(bytes, Origin::File(file.clone()))) {
            Ok(Ok(fetched)) => return Ok(fetched),
            Ok(Err(crate::intake::Error::Parse(super::parse::Error::VersionMismatch {
                found,
                ..
            }))) if sources.release_file_for_its_version_only => {
                tried.push(format!("--release-file: {} is release {found}", file.display()));
            }
            Ok(Err(e)) => return Err(e.into()),
            Err(e) => {
                tried.push(format!("--release-file: {e}"));
                return Err(NotFound { version: version.clone(), tried }.into());
            }
        }
        if !sources.release_file_for_its_version_only {
            return Err(NotFound { version: version.clone(), tried }.into());
        }
    }
    if let Some(dir) = &sources.release_dir {
        match release_dir_file(dir, version) {
            Some(path) => match fs_err::read(&path) {
                Ok(bytes) => return Ok(accept(bytes, Origin::ReleaseDir(path))?),
                Err(e) => tried.push(format!("release directory: {e}")),
            },
            None => tried.push(format!(
                "release directory: no {} in {}",
                RELEASE_DIR_FOLDERS
                    .iter()
                    .map(|f| format!("{f}/{version}.yaml"))
                    .collect::<Vec<_>>()
                    .join(" or "),
                dir.display()
            )),
        }
    }
    let mut bad_cache = None;
    if let Some(cache) = &sources.cache_dir {
        let path = cache_path(cache, version);
        let found = read_cache(&path)
            .and_then(|b| b.map(|b| check_expected(&b, expected).map(|()| b)).transpose());
        match found {
            Ok(Some(bytes)) => match accept(bytes, Origin::Cache(path.clone())) {
                Ok(f) => return Ok(f),
                Err(e) => {
                    tried.push(format!("cache {}: refused: {e}", path.display()));
                    bad_cache = Some(path);
                }
            },
            Ok(None) => tried.push(format!("cache: {} does not exist", path.display())),
            Err(e) => {
                tried.push(format!("cache {}: {e}", path.display()));
                bad_cache = Some(path);
            }
        }
    }
    match &sources.url_template {
        Some(template) => {
            let url = template.replace("{version}", &version.to_string());
            let shown = redact_url(&url);
            match download(&url).await {
                Ok(bytes) => match check_expected(&bytes, expected).and_then(|()| {
                    accept(bytes, Origin::Download(shown.clone())).map_err(|e| e.to_string())
                }) {
                    Ok(fetched) => {
                        if let Some(cache) = &sources.cache_dir {
                            // A cache that cannot be written only costs a later re-download.
                            let _ = store_in_cache(cache, version, &fetched.bytes);
                        }
                        return Ok(fetched);
                    }
                    Err(e) => tried.push(format!("download {shown}: {e}")),
                },
                Err(e) => tried.push(format!("download {shown}: {}", e.replace(&url, &shown))),
            }
        }
        None => tried.push("download: disabled (--offline)".into()),
    }
    if let Some(path) = bad_cache {
        tried.push(format!(
            "the cached copy at {} is not usable: delete it, or let the next verified download replace it",
            path.display()
        ));
    }
    Err(NotFound { version: version.clone(), tried }.into())
}

/// `url` with any user info and query string replaced by `***`, for messages.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let authority = match authority.rsplit_once('@') {
        Some((_, host)) => format!("***@{host}"),
        None => authority.to_owned(),
    };
    let path = match path.split_once('?') {
        Some((p, _)) => format!("{p}?***"),
        None => path.to_owned(),
    };
    if scheme.is_empty() {
        format!("{authority}{path}")
    } else {
        format!("{scheme}://{authority}{path}")
    }
}

async fn download(url: &str) -> Result<Vec<u8>, String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(10))
        .timeout(std::time::Duration::from_secs(120))
        .user_agent(concat!("tkn-multi/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| e.to_string())?;
    let mut resp = client.get(url).send().await.map_err(|e| error_chain(&e))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(format!("HTTP {status}"));
    }
    let limit = crate::intake::MAX_BYTES;
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err(format!("the body is over the release budget of {limit} bytes"));
    }
    // Streamed, so a body over the budget is cut off, never read whole into memory.
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| error_chain(&e))? {
        if body.len() + chunk.len() > limit {
            return Err(format!("the body is over the release budget of {limit} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
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
