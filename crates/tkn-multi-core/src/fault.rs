//! What kind of failure an error is. **Pure**, and the lowest layer.
//!
//! Exit codes are a contract (docs/exit-codes.md): the request cannot be done as asked (bad input,
//! unknown version, conflicting instance) exits 1; anything else (I/O, network, API, internal)
//! exits 2. As in uv (`ExitStatus`), that is decided once, where it is known, not by the error's
//! type: the code that takes the request's input or judges it wraps a refusal in [`UserError`] —
//! a command on its input files, the release source on a release, the driver on the desired
//! state and the plan, the executor on a field conflict. Everything not wrapped is unexpected.
//! The same error type can be either (a YAML error reading the user's fleet file is the user's;
//! one writing a plan is not), which is why the type cannot decide.

use std::fmt;

/// The two kinds of failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// The request cannot be done as asked; changing the request (or the input) fixes it.
    User,
    /// Something failed that the request did not cause.
    Unexpected,
}

/// A request that cannot be done as asked: the one kind of error told apart from the others.
/// It shows as the error it wraps (its message and causes), so wrapping changes no output.
pub struct UserError(anyhow::Error);

impl UserError {
    /// A refusal with its own message.
    pub fn msg(message: String) -> Self {
        UserError(anyhow::Error::msg(message))
    }

    /// The refused error itself.
    pub fn get_ref(&self) -> &anyhow::Error {
        &self.0
    }
}

impl fmt::Debug for UserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for UserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for UserError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// `e`, marked as the request's fault (once: an error already marked is returned as it is).
pub fn user(e: impl Into<anyhow::Error>) -> anyhow::Error {
    let e = e.into();
    if is_user(&e) { e } else { anyhow::Error::new(UserError(e)) }
}

/// Whether `e` (anywhere in its chain) was marked as the request's fault.
pub fn is_user(e: &anyhow::Error) -> bool {
    e.chain().any(<dyn std::error::Error>::is::<UserError>)
}

/// The class of `e`.
pub fn class(e: &anyhow::Error) -> Class {
    if is_user(e) { Class::User } else { Class::Unexpected }
}

/// Every error in `e`'s chain, looking into a [`UserError`] (whose own chain skips the error it
/// wraps, so as not to show its message twice).
pub fn causes(e: &anyhow::Error) -> Vec<&(dyn std::error::Error + 'static)> {
    let mut out = Vec::new();
    for c in e.chain() {
        if let Some(u) = c.downcast_ref::<UserError>() {
            // The rest of the outer chain is the wrapped error's chain after its first.
            out.extend(causes(&u.0));
            break;
        }
        out.push(c);
    }
    out
}

/// The first error of type `T` in `e`'s chain, looking into a [`UserError`].
pub fn find<T: std::error::Error + 'static>(e: &anyhow::Error) -> Option<&T> {
    causes(e).into_iter().find_map(|c| c.downcast_ref::<T>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("inner")]
    struct Inner;

    #[test]
    fn a_user_error_shows_as_what_it_wraps_and_is_found_through_context() {
        let plain = anyhow::Error::new(Inner).context("outer");
        let marked = user(anyhow::Error::new(Inner)).context("outer");
        assert_eq!(format!("{plain:#}"), format!("{marked:#}"));
        assert_eq!(format!("{marked:#}"), "outer: inner");
        assert_eq!(class(&plain), Class::Unexpected);
        assert_eq!(class(&marked), Class::User);
        assert!(find::<Inner>(&marked).is_some() && find::<Inner>(&plain).is_some());
        assert_eq!(causes(&marked).len(), 2);
        // Marked once.
        let twice = user(user(Inner));
        assert_eq!(twice.chain().filter(|c| c.is::<UserError>()).count(), 1);
        assert_eq!(UserError::msg("no".into()).to_string(), "no");
    }
}
