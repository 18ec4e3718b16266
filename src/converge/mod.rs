//! The one driver of every changing command: observe the cluster, build the desired state from
//! what was observed, plan, show the plan, get consent for what it destroys, execute, and with
//! `--atomic` roll a failed run back. **I/O**, but only through what it is given: a [`Cluster`]
//! (the live one, a saved observation, or an in-memory fake in tests), a [`ReleaseSource`] and a
//! [`Ui`].
//!
//! `install`, `upgrade`, `uninstall` and `apply -f` differ only in the desired state they ask
//! for; a fleet across clusters and the operator call the same [`run`].

mod driver;
pub mod fleet;
pub mod precheck;

pub use driver::*;
