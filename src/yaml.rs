//! The one module that names the YAML crate (serde-saphyr). **Pure.**
//!
//! Everything else in tkn-multi sees YAML only as `serde_json::Value` documents, so replacing the
//! YAML library changes this file alone. serde-saphyr is the crate kube 5 itself uses; it handles
//! YAML 1.1 merge keys (`!!merge <<: *version`), which Tekton v0.22.0's CRDs contain.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// A YAML document could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    message: String,
}

/// Parses a multi-document YAML stream into one JSON value per non-empty document.
///
/// Empty documents (a lone `---`, or only comments) are skipped, as `kubectl apply` does.
pub fn parse_documents(input: &str) -> Result<Vec<Value>, Error> {
    let docs: Vec<Option<Value>> = serde_saphyr::from_multiple_with_options(input, options())
        .map_err(|e| Error { message: e.to_string() })?;
    Ok(docs.into_iter().flatten().filter(|v| !v.is_null()).collect())
}

/// Parses one YAML document into a typed value.
pub fn from_str<T: DeserializeOwned>(input: &str) -> Result<T, Error> {
    serde_saphyr::from_str_with_options(input, options())
        .map_err(|e| Error { message: e.to_string() })
}

/// Serialises one value as a YAML document (without a leading `---`).
pub fn to_string<T: Serialize>(value: &T) -> Result<String, Error> {
    serde_saphyr::to_string(value).map_err(|e| Error { message: e.to_string() })
}

fn options() -> serde_saphyr::Options {
    // Tekton v1.x releases are about 1.5 MB with deeply nested OpenAPI schemas; the default
    // budget is sized for configuration files, so lift it to what a release needs.
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_events: 10_000_000,
            max_nodes: 5_000_000,
            max_depth: 256,
        },
    }
}

/// Every one of these is about the request or its input.
impl crate::fault::Classify for Error {
    fn class(&self) -> crate::fault::Class {
        crate::fault::Class::User
    }
}
