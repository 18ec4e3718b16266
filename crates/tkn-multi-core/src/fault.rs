//! What kind of failure an error is. **Pure**, and the lowest layer: every module classifies its
//! own errors here, next to their definitions; the shell (`cli::exit`) turns the class into an
//! exit status and renders the error.
//!
//! Exit codes are a contract (docs/exit-codes.md): a [`Class::User`] error exits 1 (the request
//! cannot be done as asked: bad input, unknown version, conflicting instance), anything else 2
//! (I/O, network, API, internal).

/// The two kinds of failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// The request cannot be done as asked; changing the request (or the input) fixes it.
    User,
    /// Something failed that the request did not cause.
    Unexpected,
}

/// An error that knows its own [`Class`]. Implemented next to each error type; `cli::exit`
/// finds the implementations in an error's chain (a test there checks it knows every one).
pub trait Classify {
    /// This error's class.
    fn class(&self) -> Class;
}

/// A request that cannot be done as asked, for errors that need no type of their own.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UserError(pub String);

impl Classify for UserError {
    fn class(&self) -> Class {
        Class::User
    }
}
