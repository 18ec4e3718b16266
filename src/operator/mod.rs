//! Operator mode: the `TektonFleet` resource, whose spec is a one-cluster fleet file's body
//! ([`FleetSpec`]: one schema, one validation). The CRD is generated from these types
//! (`tkn-multi operator crd`, committed as `manifests/crd.yaml` and drift-tested).
//!
//! [`reconcile`] decides (pure); [`controller`] runs the kube-runtime `Controller` that observes,
//! plans and executes each `TektonFleet` with the shared driver; [`serve`] answers `/metrics`
//! and the health probes.

pub mod controller;
pub mod serve;
pub use tkn_multi_core::operator::*;
mod resource;

pub use resource::*;
