//! Air-gap bundles: several releases in one `tar.gz` with a manifest of their sha256.
//! **I/O** (archives, files).
//!
//! Layout:
//! - `tkn-multi-bundle.json`: `{"formatVersion": "1", "releases": [{"component", "version",
//!   "path", "sha256"}]}`
//! - `pipeline/<version>.yaml`: each release, byte for byte.
//!
//! Import verifies every checksum and parses every release before anything is written to the
//! cache, so a damaged bundle changes nothing.

use std::io::{Read, Write};
use std::path::Path;

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use serde::{Deserialize, Serialize};

use super::fetch::{sha256_hex, store_in_cache};
use super::model::TektonVersion;

/// The manifest's file name inside the archive.
pub const MANIFEST: &str = "tkn-multi-bundle.json";
const FORMAT_VERSION: &str = "1";

/// The bundle's manifest.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Layout version.
    pub format_version: String,
    /// The releases in the bundle.
    pub releases: Vec<Entry>,
}

/// One release in a bundle.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// Always `pipeline` for now.
    pub component: String,
    /// The release's version.
    pub version: TektonVersion,
    /// Its path inside the archive.
    pub path: String,
    /// Its sha256, lowercase hex.
    pub sha256: String,
}

/// A bundle that cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing the archive failed.
    #[error("cannot read or write bundle `{path}`")]
    Io {
        /// The bundle file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The archive has no manifest, or an unreadable one.
    #[error("bundle `{path}` has no valid `{MANIFEST}`: {why}")]
    Manifest {
        /// The bundle file.
        path: String,
        /// What is wrong.
        why: String,
    },
    /// A release's bytes do not match the manifest.
    #[error("bundle `{path}`: `{entry}` {why}")]
    Entry {
        /// The bundle file.
        path: String,
        /// The entry's path.
        entry: String,
        /// What is wrong.
        why: String,
    },
}

/// Writes a bundle of `releases` (version, bytes) to `out`.
pub fn export(out: &Path, releases: &[(TektonVersion, Vec<u8>)]) -> Result<Manifest, Error> {
    let io = |source| Error::Io { path: out.display().to_string(), source };
    let entries: Vec<Entry> = releases
        .iter()
        .map(|(v, bytes)| Entry {
            component: "pipeline".into(),
            version: v.clone(),
            path: format!("pipeline/{v}.yaml"),
            sha256: sha256_hex(bytes),
        })
        .collect();
    let manifest = Manifest { format_version: FORMAT_VERSION.into(), releases: entries };
    let json = serde_json::to_vec_pretty(&manifest).expect("the manifest is plain data");
    let file = fs_err::File::create(out).map_err(io)?;
    let mut tar = tar::Builder::new(GzEncoder::new(file, Compression::default()));
    let mut add = |name: &str, data: &[u8]| -> std::io::Result<()> {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        // A fixed mtime keeps bundles of the same releases byte-identical.
        header.set_mtime(0);
        header.set_cksum();
        tar.append_data(&mut header, name, data)
    };
    add(MANIFEST, &json).map_err(io)?;
    for ((_, bytes), e) in releases.iter().zip(&manifest.releases) {
        add(&e.path, bytes).map_err(io)?;
    }
    let gz = tar.into_inner().map_err(io)?;
    gz.finish().map_err(io)?.flush().map_err(io)?;
    Ok(manifest)
}

/// Reads a bundle, verifies every release, and stores them all in `cache_dir`.
pub fn import(bundle: &Path, cache_dir: &Path) -> Result<Manifest, Error> {
    let path = bundle.display().to_string();
    let io = |source| Error::Io { path: path.clone(), source };
    let file = fs_err::File::open(bundle).map_err(io)?;
    let mut archive = tar::Archive::new(GzDecoder::new(file));
    let mut files = std::collections::BTreeMap::new();
    for entry in archive.entries().map_err(io)? {
        let mut entry = entry.map_err(io)?;
        let name = entry.path().map_err(io)?.to_string_lossy().into_owned();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).map_err(io)?;
        files.insert(name, data);
    }
    let raw = files
        .get(MANIFEST)
        .ok_or_else(|| Error::Manifest { path: path.clone(), why: "missing".into() })?;
    let manifest: Manifest = serde_json::from_slice(raw)
        .map_err(|e| Error::Manifest { path: path.clone(), why: e.to_string() })?;
    if manifest.format_version != FORMAT_VERSION {
        return Err(Error::Manifest {
            path,
            why: format!("format version `{}` is not supported", manifest.format_version),
        });
    }
    let entry_err =
        |e: &Entry, why: String| Error::Entry { path: path.clone(), entry: e.path.clone(), why };
    for e in &manifest.releases {
        let bytes =
            files.get(&e.path).ok_or_else(|| entry_err(e, "is missing from the archive".into()))?;
        let actual = sha256_hex(bytes);
        if actual != e.sha256 {
            return Err(entry_err(
                e,
                format!("has sha256 {actual}, the manifest says {}", e.sha256),
            ));
        }
        crate::intake::release(bytes, &e.version, &e.path)
            .map_err(|err| entry_err(e, format!("is not usable: {err}")))?;
    }
    for e in &manifest.releases {
        store_in_cache(cache_dir, &e.version, &files[&e.path]).map_err(io)?;
    }
    Ok(manifest)
}

/// A bad bundle is the user's input; failing to read or write it is not.
impl crate::fault::Classify for Error {
    fn class(&self) -> crate::fault::Class {
        match self {
            Error::Manifest { .. } | Error::Entry { .. } => crate::fault::Class::User,
            Error::Io { .. } => crate::fault::Class::Unexpected,
        }
    }
}
