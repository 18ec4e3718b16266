//! The compatibility matrix: can the shared components of version Y serve an instance of X?
//! **Pure.**
//!
//! Pipeline position: `release` → **`matrix`** → `plan`.
//!
//! - [`derive`] turns a release into a [`ReleaseRecord`] (its CRDs, what its controller consumes,
//!   its capabilities); `tkn-multi matrix generate` writes one record per release into
//!   `compat-matrix/`, where they are committed and embedded in the binary.
//! - `compat-matrix/rules.yaml` holds the curated [`Rules`], each with its source.
//! - [`check`] computes the shared layer for a set of instance versions, with warnings,
//!   required migrations, or the exact reason no layer exists.
//!
//! The semantics are in `docs/compat-matrix.md`.

mod agreement;
pub mod check;
pub mod defaults;
pub mod derive;
pub mod diff;
pub mod evidence;
mod layer;
mod model;
mod records;

pub use agreement::agreement;
pub use model::*;
pub use records::*;
