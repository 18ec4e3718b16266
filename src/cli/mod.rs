//! The command line: argument parsing (clap derive) and dispatch. **I/O** (the shell).
//!
//! Each command lives in `commands/<name>.rs` with an `Args` struct and a `run` function; they
//! turn arguments into core values, call the pure core, and print through the `Printer`.

mod app;
pub mod args;
pub mod commands;
pub mod exit;
pub mod reference;
pub mod settings;

pub use app::*;
