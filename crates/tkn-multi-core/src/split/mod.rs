//! Splitting a release into the **shared** part and a rewritten **instance** part. **Pure.**
//!
//! Pipeline position: `release` → **`split`** → `render` / `plan`.
//!
//! 1. [`classify`] gives every upstream object one [`Disposition`]: the part it goes to and the
//!    [`Rule`] that sent it there. It depends only on the release.
//! 2. [`shared_part`] renders what exists once per cluster: the CRDs (conversion pointed at the
//!    shared webhook), the aggregated roles, the conversion webhook, and the components Tekton
//!    cannot limit to a namespace (remote resolvers, events controller).
//! 3. [`instance_part`] renders one instance: its control-plane namespace, a controller limited
//!    to the watched namespace, an admission webhook whose configurations only act on that
//!    namespace, and RBAC narrowed to the two namespaces.
//!
//! The rules and their sources are listed in `docs/tekton-internals.md`; each [`Rule`] there has
//! the same identifier as here.

mod rbac;
mod rewrite;
mod side;
pub use rbac::{ResourceScope, resource_scope};
mod rules;
mod spec;

pub use rules::*;
pub use spec::*;
