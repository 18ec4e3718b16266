//! tkn-multi: several coexisting Tekton Pipelines instances in one Kubernetes cluster.
//!
//! This crate is the **shell**: the I/O around the functional core, [`tkn_multi_core`], whose
//! modules it re-exports under the same names (`tkn_multi::plan` is `tkn_multi_core::plan`).
//! [`release`] adds obtaining release bytes (`fetch`, `bundle`); [`cluster`] connects and
//! observes; [`apply`] executes plans; [`converge`] is the one driver of every changing command
//! (observe → plan → consent → execute → roll back); [`operator`] adds the `TektonFleet` CRD and
//! its controller; [`tls`] makes keys and reads the clock; [`cli`] is the shell around it all;
//! [`printer`] is the only thing that writes to the terminal. See `docs/architecture.md`.

pub use tkn_multi_core::{
    fault, fleet, intake, managed, matrix, names, plan, precheck, render, shadow, split, yaml,
};

pub mod apply;
pub mod cli;
pub mod cluster;
pub mod converge;
pub mod operator;
pub mod printer;
pub mod release;
pub mod timings;
pub mod tls;
