//! Tekton releases: the typed model, parsing, per-version facts, and (I/O) obtaining the bytes.
//!
//! `model`, `parse` and `capabilities` are **pure**; `fetch` and `bundle` do **I/O** (files, HTTP,
//! archives) and hand bytes to `parse`.

pub mod admission;
pub mod bundle;
pub mod capabilities;
pub mod fetch;
pub mod model;
pub mod parse;

pub use model::{Object, ObjectRef, Release, TektonVersion};
