//! Turning objects and reports into text. **Pure**: every function returns a `String` or a list
//! of (path, content) pairs; the CLI decides where they go.

pub mod flux;
pub mod manifests;
pub mod matrix;
pub mod plan;
pub mod precheck;
pub mod split_report;
pub mod status;
mod text;

pub use text::*;
