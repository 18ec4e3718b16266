//! tkn-multi: several coexisting Tekton Pipelines instances in one Kubernetes cluster.
//!
//! The pipeline, one module per stage (see `docs/architecture.md`):
//! release bytes → [`release`] (typed `Release`) → [`split`] (shared part + rewritten instance
//! part) → [`render`] (YAML, file trees, reports). [`cli`] is the imperative shell around them;
//! [`printer`] is the only thing that writes to the terminal.
//!
//! Pure modules: `release::{model, parse, capabilities}`, `split`, `render`, `names`, `yaml`.
//! I/O modules: `release::{fetch, bundle}`, `cli`, `printer`.

pub mod apply;
pub mod cli;
pub mod cluster;
pub mod converge;
pub mod fault;
pub mod managed;
pub mod matrix;
pub mod names;
pub mod plan;
pub mod printer;
pub mod release;
pub mod render;
pub mod split;
pub mod yaml;
