//! The `TektonFleet` resource's status, and the operator's decisions ([`reconcile`], pure). The
//! resource itself (its spec, the CRD) and the controller that runs the decisions are the shell's
//! (`tkn_multi::operator`).

pub mod reconcile;
mod status;

pub use status::*;
