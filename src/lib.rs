//! tkn-multi: several coexisting Tekton Pipelines instances in one Kubernetes cluster.
//!
//! The pipeline, one module per stage (see `docs/architecture.md`):
//! release bytes → [`release`] (typed `Release`) → [`split`] (shared part + rewritten instance
//! part) → [`matrix`] (which shared version serves the instances) → [`plan`] (a DAG of steps) →
//! [`render`] (YAML, file trees, plans, reports) or [`apply`] (the steps on a cluster).
//! [`converge`] is the one driver of every changing command (observe → plan → consent → execute
//! → roll back); [`cli`] is the shell around it; [`printer`] is the only thing that writes to the
//! terminal.
//!
//! Pure modules (`scripts/lint-layers` checks them): `release::{model, parse, capabilities}`,
//! `split`, `matrix`, `plan`, `render`, `names`, `managed`, `fault`, `yaml`,
//! `apply::{conditions, schedule}`. I/O modules: `release::{fetch, bundle}`, `cluster`, `apply`,
//! `converge`, `cli`, `printer`.

pub mod apply;
pub mod cli;
pub mod cluster;
pub mod converge;
pub mod fault;
pub mod intake;
pub mod managed;
pub mod matrix;
pub mod names;
pub mod operator;
pub mod plan;
pub mod printer;
pub mod release;
pub mod render;
pub mod split;
pub mod timings;
pub mod tls;
pub mod yaml;
