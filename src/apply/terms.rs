//! The executor's terms: how to execute ([`Options`]), how a run can end badly ([`Incomplete`],
//! [`Conflict`], [`RolledBack`]), and naming objects for the API. **I/O types.**

use std::time::Duration;

use kube::core::GroupVersionKind;

use crate::release::ObjectRef;

/// How to execute.
#[derive(Debug, Clone)]
pub struct Options {
    /// The server-side apply field manager.
    pub field_manager: String,
    /// Overall deadline for the whole plan.
    pub timeout: Duration,
    /// Take ownership of fields other managers own, and of existing objects that are not
    /// tkn-multi's (`--force-conflicts`).
    pub force_conflicts: bool,
    /// Take ownership of fields other managers set on the objects the plan updates, but never
    /// of foreign objects (the operator: a hand edit is reverted, as a controller's apply must).
    pub force_fields: bool,
    /// Send writes with `dryRun=All` and skip waits (`--dry-run=server`).
    pub server_dry_run: bool,
    /// How many independent steps run at once (at least 1).
    pub concurrency: usize,
    /// Page size of large lists (`--chunk-size`).
    pub chunk_size: u32,
    /// The cluster lock, asked before every step: a run that lost it writes nothing more.
    pub guard: Option<crate::cluster::lock::Guard>,
}

/// A plan that stopped part-way.
#[derive(Debug, thiserror::Error)]
#[error("step {step} of {total} failed, after {done} step(s) were done")]
pub struct Incomplete {
    /// The (1-based) failed step.
    pub step: usize,
    /// Steps in the plan.
    pub total: usize,
    /// Steps done.
    pub done: usize,
}

/// The API server's own words for a refused request (kube's `Display` of a status repeats it
/// with the whole `Status` struct).
pub(super) fn api_error(e: kube::Error) -> anyhow::Error {
    match e {
        kube::Error::Api(s) => anyhow::anyhow!("{} ({}, HTTP {})", s.message, s.reason, s.code),
        other => other.into(),
    }
}

/// Server-side apply refused a write because another field manager owns fields tkn-multi sets
/// (HTTP 409). The user decides: leave the object to its owner, or `--force-conflicts`.
#[derive(Debug, thiserror::Error)]
#[error(
    "`{object}` is also managed by another field manager: {message}; re-run with `--force-conflicts` to take it over"
)]
pub struct Conflict {
    /// The object, as `Kind/name in namespace`.
    pub object: String,
    /// The API server's message (it names the fields and their managers).
    pub message: String,
}

/// A failed run that `--atomic` undid.
#[derive(Debug, thiserror::Error)]
#[error("the run failed and was rolled back (`--atomic`): the instances are as they were")]
pub struct RolledBack;

pub(super) fn gvk_of(api_version: &str, kind: &str) -> GroupVersionKind {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    GroupVersionKind::gvk(group, version, kind)
}

pub(super) fn describe(r: &ObjectRef) -> String {
    match &r.namespace {
        Some(ns) => format!("{}/{} in {ns}", r.kind, r.name),
        None => format!("{}/{}", r.kind, r.name),
    }
}
