//! Air-gap bundles: several releases in one `tar.gz` with a manifest of their sha256.
//! **I/O** (archives, files).
//!
//! Layout:
//! - `tkn-multi-bundle.json`: `{"formatVersion": "1", "releases": [{"component", "version",
//!   "path", "sha256"}]}`
//! - `pipeline/<version>.yaml`: each release, byte for byte.
//!
//! Import verifies every checksum and accepts every release through [`crate::intake`] before
//! anything is written to the cache, so a damaged bundle changes nothing; only listed entries are
//! read, each under the release byte budget.

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
    /// Writing the bundle, or the release cache, failed.
    #[error("cannot write `{path}`")]
    Io {
        /// The file written.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The bundle cannot be opened or is not a readable tar.gz (damaged, truncated).
    #[error("bundle `{path}` cannot be read: it is missing, damaged or not a tar.gz")]
    Unreadable {
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

/// What an import did.
#[derive(Debug)]
pub struct Imported {
    /// The bundle's manifest.
    pub manifest: Manifest,
    /// Versions whose cached release had other bytes, now replaced (with the old sha256).
    pub replaced: Vec<(TektonVersion, String)>,
}

/// The largest manifest read.
const MAX_MANIFEST_BYTES: u64 = 1024 * 1024;
/// The most releases a bundle may list.
const MAX_RELEASES: usize = 500;

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
///
/// Nothing is read into memory but the manifest and the entries it lists, each under the release
/// byte budget: unlisted entries are skipped as the archive streams by. Every release is checked
/// (sha256, [`crate::intake`]) before anything is written, and the writes are staged so that a
/// failure leaves the cache as it was.
pub fn import(bundle: &Path, cache_dir: &Path) -> Result<Imported, Error> {
    let path = bundle.display().to_string();
    let unreadable = |source| Error::Unreadable { path: path.clone(), source };
    let file = fs_err::File::open(bundle).map_err(unreadable)?;
    let mut archive = tar::Archive::new(GzDecoder::new(file));
    let mut manifest: Option<Manifest> = None;
    // Entries seen before the manifest are kept only if they look like releases (our bundles write
    // the manifest first); afterwards, only listed ones.
    let mut files = std::collections::BTreeMap::new();
    for entry in archive.entries().map_err(unreadable)? {
        let mut entry = entry.map_err(unreadable)?;
        let name = entry.path().map_err(unreadable)?.to_string_lossy().into_owned();
        if name == MANIFEST {
            let mut raw = Vec::new();
            (&mut entry).take(MAX_MANIFEST_BYTES + 1).read_to_end(&mut raw).map_err(unreadable)?;
            if raw.len() as u64 > MAX_MANIFEST_BYTES {
                return Err(Error::Manifest { path, why: "over 1 MiB".into() });
            }
            let m: Manifest = serde_json::from_slice(&raw)
                .map_err(|e| Error::Manifest { path: path.clone(), why: e.to_string() })?;
            check_manifest(&m, &path)?;
            files.retain(|k, _| m.releases.iter().any(|e| &e.path == k));
            manifest = Some(m);
            continue;
        }
        let wanted = match &manifest {
            Some(m) => m.releases.iter().any(|e| e.path == name),
            None => {
                name.starts_with("pipeline/")
                    && Path::new(&name).extension().is_some_and(|e| e == "yaml")
                    && files.len() < MAX_RELEASES
            }
        };
        if !wanted {
            continue;
        }
        let limit = crate::intake::MAX_BYTES as u64;
        let mut data = Vec::new();
        (&mut entry).take(limit + 1).read_to_end(&mut data).map_err(unreadable)?;
        if data.len() as u64 > limit {
            return Err(Error::Entry {
                path,
                entry: name,
                why: format!("is over the release budget of {limit} bytes"),
            });
        }
        files.insert(name, data);
    }
    let manifest =
        manifest.ok_or_else(|| Error::Manifest { path: path.clone(), why: "missing".into() })?;
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
    let mut replaced = Vec::new();
    for e in &manifest.releases {
        let cached = super::fetch::cache_path(cache_dir, &e.version);
        if let Ok(old) = fs_err::read(&cached) {
            let old = sha256_hex(&old);
            if old != e.sha256 {
                replaced.push((e.version.clone(), old));
            }
        }
    }
    let io = |p: &Path| {
        let p = p.display().to_string();
        move |source| Error::Io { path: p, source }
    };
    // Every release written beside its place first; only then renamed into place.
    let mut staged = Vec::new();
    for e in &manifest.releases {
        let stage = cache_dir.join(".import").join(e.version.to_string());
        match store_in_cache(&stage, &e.version, &files[&e.path]) {
            Ok(p) => staged.push((e.version.clone(), p)),
            Err(err) => {
                let _ = fs_err::remove_dir_all(cache_dir.join(".import"));
                return Err(io(&stage)(err));
            }
        }
    }
    for (v, from) in staged {
        let to = super::fetch::cache_path(cache_dir, &v);
        let dir = to.parent().expect("cache paths have a parent");
        fs_err::create_dir_all(dir).map_err(io(dir))?;
        let mut sum_from = from.as_os_str().to_owned();
        sum_from.push(".sha256");
        let mut sum_to = to.as_os_str().to_owned();
        sum_to.push(".sha256");
        fs_err::rename(&from, &to).map_err(io(&to))?;
        fs_err::rename(&sum_from, &sum_to).map_err(io(&to))?;
    }
    let _ = fs_err::remove_dir_all(cache_dir.join(".import"));
    Ok(Imported { manifest, replaced })
}

fn check_manifest(m: &Manifest, path: &str) -> Result<(), Error> {
    let bad = |why: String| Error::Manifest { path: path.to_owned(), why };
    if m.format_version != FORMAT_VERSION {
        return Err(bad(format!("format version `{}` is not supported", m.format_version)));
    }
    if m.releases.len() > MAX_RELEASES {
        return Err(bad(format!("lists {} releases; at most {MAX_RELEASES}", m.releases.len())));
    }
    let mut seen = std::collections::BTreeSet::new();
    for e in &m.releases {
        if !seen.insert(&e.version) {
            return Err(bad(format!("lists {} twice", e.version)));
        }
        if e.path != format!("pipeline/{}.yaml", e.version) {
            return Err(bad(format!(
                "entry `{}` for {} is not at `pipeline/{}.yaml`",
                crate::render::escape(&e.path),
                e.version,
                e.version
            )));
        }
    }
    Ok(())
}
