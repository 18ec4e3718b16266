//! tkn-multi's functional core: everything that decides, with no I/O. The shell crate
//! (`tkn-multi`: cluster, apply, converge, the operator's controller, the CLI) depends on it;
//! nothing here can reach a client, a runtime or the network, because none is in this crate's
//! dependency tree (`scripts/lint-layers` checks the tree, and that no file here names the file
//! system, the environment, a process or the terminal).
//!
//! The pipeline, one module per stage (see `docs/architecture.md`):
//! release bytes → [`intake`] → [`release`] (typed `Release`) → [`split`] (shared part +
//! rewritten instance part) → [`matrix`] (which shared version serves the instances) → [`plan`]
//! (a DAG of steps) → [`render`] (YAML, file trees, plans, reports). [`operator`] holds the
//! `TektonFleet` status and the operator's decisions; [`tls`] the facts and decisions about the
//! webhook certificates of instances before v0.44.

pub mod fault;
pub mod fleet;
pub mod intake;
pub mod managed;
pub mod matrix;
pub mod names;
pub mod operator;
pub mod plan;
pub mod precheck;
pub mod release;
pub mod render;
pub mod shadow;
pub mod split;
pub mod tls;
pub mod yaml;
