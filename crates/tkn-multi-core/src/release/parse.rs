//! Parsing `release.yaml` bytes into a [`Release`]. **Pure.**
//!
//! Checks what later stages rely on: every document is a Kubernetes object with `apiVersion`,
//! `kind` and `metadata.name`, and the release's own version labels agree with the version asked
//! for (so a mislabelled `--release-file` is caught before anything is rendered or applied).

use serde_json::Value;

use super::model::{Object, Release, TektonVersion};
use crate::yaml;

/// Labels whose value is the release's version on every Tekton Pipelines object that has them.
const VERSION_LABELS: &[&str] =
    &["app.kubernetes.io/version", "pipeline.tekton.dev/release", "version"];

/// Why a release file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The bytes are not UTF-8.
    #[error("release `{origin}` is not UTF-8 text")]
    NotText {
        /// Where the bytes came from.
        origin: String,
    },
    /// The YAML is malformed.
    #[error("release `{origin}` is not valid YAML")]
    Yaml {
        /// Where the bytes came from.
        origin: String,
        /// The parser's message.
        #[source]
        source: yaml::Error,
    },
    /// A document is not a Kubernetes object.
    #[error("document {index} of release `{origin}` is not a Kubernetes object: {problem}")]
    NotAnObject {
        /// Where the bytes came from.
        origin: String,
        /// 1-based index among non-empty documents.
        index: usize,
        /// What is missing.
        problem: &'static str,
    },
    /// The file holds no Tekton Pipelines objects at all.
    #[error("release `{origin}` contains no Tekton Pipelines objects")]
    Empty {
        /// Where the bytes came from.
        origin: String,
    },
    /// The file's version labels name a different version.
    #[error("release `{origin}` is Tekton Pipelines {found}, not {expected}")]
    VersionMismatch {
        /// Where the bytes came from.
        origin: String,
        /// The version asked for.
        expected: TektonVersion,
        /// The version its labels carry.
        found: String,
    },
}

/// Parses a Pipelines `release.yaml` that should be version `expected`.
///
/// `origin` names the source (a path or URL) for error messages.
pub fn parse_release(
    bytes: &[u8],
    expected: &TektonVersion,
    origin: &str,
) -> Result<Release, Error> {
    let text = std::str::from_utf8(bytes).map_err(|_| Error::NotText { origin: origin.into() })?;
    let docs = yaml::parse_documents(text)
        .map_err(|source| Error::Yaml { origin: origin.into(), source })?;
    let mut objects = Vec::with_capacity(docs.len());
    for (i, doc) in docs.into_iter().enumerate() {
        let problem = |problem| Error::NotAnObject { origin: origin.into(), index: i + 1, problem };
        let Value::Object(map) = doc else { return Err(problem("not a mapping")) };
        let has_str = |k: &str| map.get(k).and_then(Value::as_str).is_some_and(|s| !s.is_empty());
        if !has_str("apiVersion") {
            return Err(problem("no `apiVersion`"));
        }
        if !has_str("kind") {
            return Err(problem("no `kind`"));
        }
        let named = map
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty());
        if !named {
            return Err(problem("no `metadata.name`"));
        }
        objects.push(Object::from_map(map));
    }
    if !objects
        .iter()
        .any(|o| o.kind() == "CustomResourceDefinition" && o.name().ends_with(".tekton.dev"))
    {
        return Err(Error::Empty { origin: origin.into() });
    }
    check_version(&objects, expected, origin)?;
    Ok(Release {
        version: expected.clone(),
        objects,
        sha256: sha256_hex(bytes),
        rebuilt_from_source: says_rebuilt(text),
    })
}

/// The sha256 of `bytes` as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest as _, Sha256};
    hex::encode(Sha256::digest(bytes))
}

/// Marker in the leading comment of a release file rebuilt from the module source.
pub const REBUILT_MARKER: &str = "RECONSTRUCTED from source";

/// Whether the file's leading comment says it was rebuilt from source (not the upstream file).
fn says_rebuilt(text: &str) -> bool {
    text.lines().take_while(|l| l.starts_with('#')).any(|l| l.contains(REBUILT_MARKER))
}

/// Finds the first version label that disagrees with `expected`.
///
/// Releases label their objects with the bare tag (`v0.50.3`); `devel` appears only in
/// unreleased `config/` trees and is accepted so that a locally built release can be rendered.
fn check_version(objects: &[Object], expected: &TektonVersion, origin: &str) -> Result<(), Error> {
    let want = expected.to_string();
    for o in objects {
        for key in VERSION_LABELS {
            if let Some(found) = o.label(key) {
                if key == &"version" && !found.starts_with('v') {
                    continue;
                }
                if found != want && found != "devel" {
                    return Err(Error::VersionMismatch {
                        origin: origin.into(),
                        expected: expected.clone(),
                        found: found.to_owned(),
                    });
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINI: &str = "
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: tasks.tekton.dev
  labels:
    app.kubernetes.io/version: v0.50.3
---
# only a comment
---
apiVersion: v1
kind: Namespace
metadata:
  name: tekton-pipelines
";

    fn v(s: &str) -> TektonVersion {
        s.parse().unwrap()
    }

    #[test]
    fn parses_objects_and_skips_empty_documents() {
        let r = parse_release(MINI.as_bytes(), &v("v0.50.3"), "mini").unwrap();
        assert_eq!(r.objects.len(), 2);
        assert_eq!(r.objects[1].kind(), "Namespace");
    }

    #[test]
    fn rejects_a_version_mismatch() {
        let err = parse_release(MINI.as_bytes(), &v("v0.44.2"), "mini").unwrap_err();
        assert_eq!(err.to_string(), "release `mini` is Tekton Pipelines v0.50.3, not v0.44.2");
    }

    #[test]
    fn rejects_malformed_yaml_and_non_objects() {
        let err = parse_release(b"kind: [unclosed", &v("v0.50.3"), "bad").unwrap_err();
        assert!(matches!(err, Error::Yaml { .. }), "{err}");
        let err = parse_release(b"- a\n- b\n", &v("v0.50.3"), "list").unwrap_err();
        assert_eq!(
            err.to_string(),
            "document 1 of release `list` is not a Kubernetes object: not a mapping"
        );
        let err =
            parse_release(b"apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n", &v("v0.50.3"), "x")
                .unwrap_err();
        assert!(err.to_string().ends_with("no `metadata.name`"), "{err}");
    }

    #[test]
    fn rejects_a_file_without_tekton_crds() {
        let err = parse_release(
            b"apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n",
            &v("v0.50.3"),
            "x",
        )
        .unwrap_err();
        assert!(matches!(err, Error::Empty { .. }));
    }

    #[test]
    fn merge_keys_are_expanded() {
        let y = "
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: tasks.tekton.dev
spec:
  versions:
  - &version
    name: v1alpha1
    served: true
    storage: false
  - !!merge <<: *version
    name: v1beta1
    storage: true
";
        let r = parse_release(y.as_bytes(), &v("v0.22.0"), "merge").unwrap();
        let versions = r.objects[0].pointer("/spec/versions").unwrap();
        assert_eq!(versions[1]["served"], true);
        assert_eq!(versions[1]["name"], "v1beta1");
        assert_eq!(versions[1]["storage"], true);
    }
}
