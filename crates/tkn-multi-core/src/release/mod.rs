//! Tekton releases: the typed model, parsing and per-version facts. Obtaining the bytes (files,
//! HTTP, archives) is the shell's (`tkn_multi::release::{fetch, bundle}`), which hands them to
//! [`crate::intake`].

pub mod admission;
pub mod capabilities;
pub mod model;
pub mod parse;

pub use model::{Object, ObjectRef, Release, TektonVersion};
