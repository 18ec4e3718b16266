//! tkn-multi: several coexisting Tekton Pipelines instances in one Kubernetes cluster.
//!
//! The pipeline, one module per stage (see `docs/architecture.md`):
//! release bytes → [`release`] (typed `Release`) → [`split`] (shared part + rewritten instance
//! part) → [`render`] (YAML, file trees, reports). [`cli`] is the imperative shell around them.

pub mod names;
pub mod release;
pub mod render;
pub mod split;
pub mod yaml;
