//! Exit codes and the one renderer for errors: `error:` line, `caused by:` chain, `hint:` lines.
//!
//! Exit codes are a contract (docs/exit-codes.md): 0 success, 1 the request cannot be done as
//! asked (bad input, unknown version, conflicting instance), 2 unexpected failure (I/O, network,
//! API, internal).

use std::fmt::Write as _;

use crate::matrix;
use crate::names::InvalidName;
use crate::plan;
use crate::release::bundle;
use crate::release::fetch::NotFound;
use crate::release::model::InvalidVersion;
use crate::release::parse;
use crate::split;

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

/// A request that cannot be done as asked, raised by the CLI itself.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UserError(pub String);

/// Whether an error is the user's (exit 1) or unexpected (exit 2).
pub fn exit_status(err: &anyhow::Error) -> ExitStatus {
    let user = err.chain().any(|e| {
        e.is::<UserError>()
            || e.is::<InvalidName>()
            || e.is::<InvalidVersion>()
            || e.is::<parse::Error>()
            || e.is::<split::Error>()
            || e.is::<NotFound>()
            || e.is::<matrix::check::Error>()
            || e.is::<matrix::Error>()
            || e.is::<plan::Error>()
            || e.is::<plan::fleet::Error>()
            || e.is::<crate::yaml::Error>()
            || matches!(
                e.downcast_ref::<bundle::Error>(),
                Some(bundle::Error::Manifest { .. } | bundle::Error::Entry { .. })
            )
    });
    if user { ExitStatus::UserError } else { ExitStatus::Failure }
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
    for e in err.chain() {
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
            hints.push("`tkn-multi matrix show` lists the known versions; a newer release can be added with \
                        `tkn-multi matrix generate` and `--matrix-dir`"
                .to_owned());
        }
        if let Some(parse::Error::VersionMismatch { found, .. }) = e.downcast_ref::<parse::Error>()
        {
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
