//! Integration tests, one binary (style guide rule 38).
//!
//! - `releases`: guarantees 1–8 of the split over every real release in the release directory.
//! - `cli`: the built binary, offline.
//! - `layers`: `scripts/lint-layers` catches each kind of layer crossing.
//! - `converge`: the driver on an in-memory fake cluster (consent, `--atomic`, the lock).
//! - `plan`: the planner on the in-memory fake cluster (Sequence 1 snapshots, random sequences,
//!   the ordering-rule table).
//! - `matrix`: the compatibility matrix against the real releases.
//! - `observe`: observation on a fake API server that counts requests.
//! - `precheck`: the upgrade precheck's rules on the real releases.
//! - `intake`: the untrusted-release layer on mutated real releases; releases no build knows.
//! - `lifecycle`: the changing commands with `--dry-run` and `--state`, as a user runs them.
//! - `cluster`: against the real control plane named by `TKN_MULTI_TEST_KUBECONFIG`.
//! - `clusters`: a fleet across the member clusters `east` and `west` of that kubeconfig.
//! - `flux`: the fleet rendered for Flux, reconciled by a real kustomize-controller into those members.
//! - `operator`: the generated `TektonFleet` CRD on that cluster.
//! - `tekton`: real Tekton controllers and webhooks run by that cluster's process kubelet.

// Test code: skips are announced on stderr; the cluster tests hold a std mutex across awaits on
// purpose (each test has its own runtime and thread; the lock only serialises tests).
#![allow(
    clippy::print_stderr,
    clippy::too_many_lines,
    clippy::items_after_statements,
    clippy::similar_names,
    clippy::await_holding_lock,
    clippy::many_single_char_names,
    clippy::doc_markdown
)]

mod cli;
mod cluster;
mod clusters;
mod common;
mod converge;
mod flux;
mod intake;
mod layers;
mod lifecycle;
mod matrix;
mod observe;
mod operator;
mod plan;
mod precheck;
mod releases;
mod tekton;
