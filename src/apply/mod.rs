//! Executing a plan on a live cluster. **I/O.**
//!
//! The executor never chooses actions: it carries out the steps the planner made. [`schedule`]
//! runs each as soon as the steps it depends on are done (the plan's `dependsOn` edges), up to
//! `concurrency` at once; with a concurrency of 1 it follows the printed order exactly. Before
//! the first write, [`ownership::check`] refuses objects that belong to someone else. Objects are
//! written with server-side apply under one field manager and carry the hashes the next
//! observation compares against; a field conflict is [`Conflict`]. Waits watch the object (a
//! list, then a watch, as `kubectl wait` does; no polling interval) and test the pure
//! predicates of [`conditions`] (CRD Established; Deployment rolled out: `observedGeneration`,
//! updated and available replicas, `Progressing`/`NewReplicaSetAvailable`), and the shared
//! webhook's wait also checks that conversions work, under one overall deadline. A failed step
//! stops new steps from starting, lets the running ones finish, and reports what was done
//! ([`Incomplete`]): every step is idempotent, so re-running the same command converges.
//!
//! [`shadow`] applies the other kind of object set: a short-lived shadow of a target version's
//! webhook for the upgrade precheck, asked about each object by server-side dry run, then removed.

mod certificate;
pub mod conditions;
mod executor;
mod knative;
mod migrate;
pub mod ownership;
pub mod schedule;
pub mod shadow;
pub mod smoke;
mod terms;
mod wait;
mod write;

pub use executor::*;
pub use terms::*;
