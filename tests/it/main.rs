//! Integration tests, one binary (style guide rule 38).
//!
//! - `releases`: guarantees 1–8 of the split over every real release in the release directory.
//! - `cli`: the built binary, offline.
//! - `cluster`: against the real control plane named by `TKN_MULTI_TEST_KUBECONFIG`.

mod cli;
mod cluster;
mod common;
mod releases;
