//! Tekton releases: the typed model, parsing and per-version facts (the core's, re-exported), and
//! obtaining the bytes (**I/O**: files, HTTP, archives), which `fetch` and `bundle` hand to
//! [`crate::intake`].

pub mod bundle;
pub mod fetch;

pub use tkn_multi_core::release::*;
