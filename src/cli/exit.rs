//! Exit status and the one renderer for errors: `error:` line, `caused by:` chain, `hint:` lines.
//! **The shell.**
//!
//! Errors classify themselves ([`crate::fault::Classify`], next to each error type); this module
//! only maps the class to the exit-code contract (docs/exit-codes.md): 0 success, 1 the request
//! cannot be done as asked, 2 unexpected failure.

use std::error::Error as StdError;
use std::fmt::Write as _;

use crate::fault::{Class, Classify};
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

/// Finds the [`Classify`] implementation of `e`, if it has one. Rust cannot downcast to a
/// trait, so the types are named here once; `every_classified_type_is_known` fails when an
/// `impl Classify` is added elsewhere and not here.
macro_rules! classify_as {
    ($e:expr, $($t:ty),+ $(,)?) => {{
        let e: &(dyn StdError + 'static) = $e;
        None$(.or_else(|| e.downcast_ref::<$t>().map(Classify::class)))+
    }};
}

fn class_of(e: &(dyn StdError + 'static)) -> Option<Class> {
    classify_as!(
        e,
        crate::fault::UserError,
        crate::names::InvalidName,
        crate::release::model::InvalidVersion,
        crate::release::parse::Error,
        crate::intake::Error,
        crate::release::fetch::NotFound,
        crate::release::bundle::Error,
        crate::split::Error,
        crate::matrix::Error,
        crate::matrix::check::Error,
        crate::plan::error::Error,
        crate::fleet::Error,
        crate::yaml::Error,
        crate::apply::Conflict,
        crate::cluster::lock::Lost,
    )
}

/// Whether an error is the user's (exit 1) or unexpected (exit 2): the first classified error
/// in its chain decides; an error nothing classifies is unexpected.
pub fn exit_status(err: &anyhow::Error) -> ExitStatus {
    match err.chain().find_map(class_of) {
        Some(Class::User) => ExitStatus::UserError,
        Some(Class::Unexpected) | None => ExitStatus::Failure,
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

    /// Every `impl Classify for T` in `src/` and the core crate's sources, as the path
    /// `class_of` must name (the shell re-exports the core's modules under the same names).
    fn classified_types() -> Vec<String> {
        let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut out = Vec::new();
        for root in [repo.join("src"), repo.join("crates/tkn-multi-core/src")] {
            out.extend(classified_in(&root));
        }
        out.sort();
        out
    }

    fn classified_in(root: &std::path::Path) -> Vec<String> {
        let mut out = Vec::new();
        let mut dirs = vec![root.to_owned()];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    dirs.push(p);
                    continue;
                }
                let text = std::fs::read_to_string(&p).unwrap();
                let rel = p.strip_prefix(root).unwrap().with_extension("");
                let mut module: Vec<_> =
                    rel.iter().map(|c| c.to_string_lossy().into_owned()).collect();
                if module.last().is_some_and(|m| m == "mod") {
                    module.pop();
                }
                for line in text.lines() {
                    let line = line.trim();
                    let Some(rest) = line
                        .strip_prefix("impl crate::fault::Classify for ")
                        .or_else(|| line.strip_prefix("impl Classify for "))
                    else {
                        continue;
                    };
                    let ty = rest.trim_end_matches(" {");
                    out.push(format!("crate::{}::{ty}", module.join("::")));
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn every_classified_type_is_known() {
        let source = include_str!("exit.rs");
        let list = &source[source.find("fn class_of").unwrap()..];
        let list = &list[..list.find("\n}\n").unwrap()];
        let types = classified_types();
        assert!(types.len() >= 13, "the scan finds the implementations: {types:?}");
        for t in types {
            // Named where it is defined, or (a private module's items re-exported by its
            // parent) where it is re-exported.
            let (module, ty) = t.rsplit_once("::").unwrap();
            let parent = module.rsplit_once("::").map_or(module, |(p, _)| p);
            let known =
                list.contains(&format!("{t},")) || list.contains(&format!("{parent}::{ty},"));
            assert!(known, "`class_of` does not know `{t}`");
        }
    }

    #[test]
    fn errors_exit_by_their_own_class_wherever_they_are_in_the_chain() {
        let conflict = crate::apply::Conflict {
            object: "Deployment/x in y".into(),
            message: "conflict with \"someone-else\"".into(),
        };
        let e = anyhow::Error::new(conflict).context(crate::apply::Incomplete {
            step: 3,
            total: 9,
            done: 2,
        });
        assert_eq!(exit_status(&e), ExitStatus::UserError, "a 409 is the user's to resolve");
        let io = crate::release::bundle::Error::Io {
            path: "b.tar.gz".into(),
            source: std::io::Error::other("disk full"),
        };
        assert_eq!(exit_status(&anyhow::Error::new(io)), ExitStatus::Failure);
        let bad = crate::release::bundle::Error::Manifest { path: "b".into(), why: "none".into() };
        assert_eq!(exit_status(&anyhow::Error::new(bad)), ExitStatus::UserError);
        assert_eq!(exit_status(&anyhow::anyhow!("connection refused")), ExitStatus::Failure);
        let user = anyhow::Error::new(crate::fault::UserError("no".into())).context("while x");
        assert_eq!(exit_status(&user), ExitStatus::UserError);
    }
}
