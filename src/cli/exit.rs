//! Exit status and the one renderer for errors: `error:` line, `caused by:` chain, `hint:` lines.
//! **The shell.**
//!
//! The code that knows marks a refusal once ([`crate::fault::UserError`], see [`crate::fault`]);
//! this module only maps that to the exit-code contract (docs/exit-codes.md): 0 success, 1 the request
//! cannot be done as asked, 2 unexpected failure.

use std::fmt::Write as _;

use crate::fault::Class;
use crate::matrix;
use crate::release::fetch::NotFound;
use crate::release::parse;

/// How the process ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// 0: done.
    Success,
    /// 1: the request cannot be done as asked.
    UserError,
    /// 2: something failed unexpectedly.
    Failure,
    /// 2 with `--detailed-exitcode`: the plan has changes (Terraform's meaning).
    Changes,
}

impl ExitStatus {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::UserError => 1,
            ExitStatus::Failure | ExitStatus::Changes => 2,
        }
    }
}

/// The exit status of a failed run: 1 when a [`crate::fault::UserError`] is in the chain (the
/// code that knew decided so), else 2.
pub fn exit_status(err: &anyhow::Error) -> ExitStatus {
    match crate::fault::class(err) {
        Class::User => ExitStatus::UserError,
        Class::Unexpected => ExitStatus::Failure,
    }
}

fn hints(err: &anyhow::Error) -> Vec<String> {
    let mut hints = Vec::new();
    if err.downcast_ref::<crate::apply::Incomplete>().is_some()
        && err.downcast_ref::<crate::apply::RolledBack>().is_none()
    {
        hints.push(
            "the cluster is part-way; every step is idempotent, so re-running the same command converges \
             (`--atomic` rolls a failed run back instead)"
                .to_owned(),
        );
    }
    for e in crate::fault::causes(err) {
        if let Some(nf) = e.downcast_ref::<NotFound>() {
            hints.push(format!(
                "pass `--release-file <FILE>`, set `TKN_MULTI_RELEASE_DIR`, or run `tkn-multi bundle import` \
                 with a bundle that contains {}",
                nf.version
            ));
        }
        if let Some(matrix::check::Error::UnknownVersion { .. }) =
            e.downcast_ref::<matrix::check::Error>()
        {
            hints.push("`tkn-multi matrix show` lists the versions this build ships; for any other version \
                        tkn-multi derives the record from its release file when one can be had (`--release-dir`, \
                        `TKN_MULTI_RELEASE_DIR`, the cache, a download, `bundle import`)"
                .to_owned());
        }
        let mismatch = e.downcast_ref::<parse::Error>().or_else(|| match e.downcast_ref() {
            Some(crate::intake::Error::Parse(p)) => Some(p),
            _ => None,
        });
        if let Some(parse::Error::VersionMismatch { found, .. }) = mismatch {
            hints.push(format!(
                "the file is release {found}: ask for that version, or pass the right file"
            ));
        }
    }
    hints
}

/// Renders an error with its chain and hints, ready for stderr.
pub fn render(err: &anyhow::Error) -> String {
    let mut out = format!("error: {err}\n");
    for cause in err.chain().skip(1) {
        let _ = writeln!(out, "  caused by: {cause}");
    }
    let hints = hints(err);
    if !hints.is_empty() {
        out.push('\n');
        for h in hints {
            let _ = writeln!(out, "hint: {h}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_exits_1_wherever_it_is_in_the_chain_and_anything_else_2() {
        let conflict = || crate::apply::Conflict {
            object: "Deployment/x in y".into(),
            message: "conflict with \"someone-else\"".into(),
        };
        let step = crate::apply::Incomplete { step: 3, total: 9, done: 2 };
        let marked = crate::fault::user(conflict()).context(step);
        assert_eq!(exit_status(&marked), ExitStatus::UserError, "a 409 is the user's to resolve");
        // The type does not decide: the same error, not marked by the code that knows, is not.
        let unmarked = anyhow::Error::new(conflict());
        assert_eq!(exit_status(&unmarked), ExitStatus::Failure);
        assert_eq!(exit_status(&anyhow::anyhow!("connection refused")), ExitStatus::Failure);
        let user = anyhow::Error::new(crate::fault::UserError::msg("no".into())).context("while x");
        assert_eq!(exit_status(&user), ExitStatus::UserError);
    }

    #[test]
    fn a_marked_error_renders_as_it_would_unmarked_with_its_hints() {
        let not_found = || crate::release::fetch::NotFound {
            version: "v9.9.9".parse().unwrap(),
            tried: vec!["download: disabled (--offline)".into()],
        };
        let plain = anyhow::Error::new(not_found()).context("cannot plan");
        let marked = crate::fault::user(not_found()).context("cannot plan");
        assert_eq!(render(&plain), render(&marked));
        assert!(render(&marked).contains("hint: pass `--release-file"), "{}", render(&marked));
    }
}
