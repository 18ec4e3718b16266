//! `tkn-multi operator run`: a kube-runtime `Controller` over `TektonFleet`s, each reconciled
//! with the shared driver ([`crate::converge`]: observe, plan, execute), under the same cluster
//! Lease as the CLI. **I/O** (the operator's shell); what it decides is [`super::reconcile`].
//!
//! Modelled on kube-rs's controller examples: the finalizer helper (deleting a `TektonFleet`
//! uninstalls its instances first), server-side apply of the status, an event recorder, an
//! error policy that backs off. Besides changes to the `TektonFleet`s it wakes on changes to the
//! Deployments and `ConfigMaps` tkn-multi manages (a hand edit is reverted at once), and every
//! `resync` to re-check drift the watches cannot see.

mod context;
mod drift;
mod events;
mod reconciler;
mod status;

pub use context::{LoadRelease, STATUS_MANAGER, Settings};
pub use reconciler::*;
