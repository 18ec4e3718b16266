//! One module per command.

pub mod apply;
pub mod bundle;
mod common;
pub mod completion;
pub mod fetch;
pub mod install;
pub mod list;
pub mod matrix;
pub mod operator;
pub mod precheck;
pub mod promote;
pub mod render;
pub mod rotate_certs;
pub mod split;
pub mod status;
pub mod uninstall;
pub mod upgrade;
