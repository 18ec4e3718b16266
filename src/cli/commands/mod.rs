//! One module per command.

pub mod bundle;
pub mod fetch;
pub mod lifecycle;
pub mod matrix;
pub mod render;
pub mod split;

use anyhow::Context as _;

use super::settings::{Env, SourceArgs, resolve_sources};
use crate::printer::Printer;
use crate::release::fetch::{Fetched, obtain};
use crate::release::parse::parse_release;
use crate::release::{Release, TektonVersion};

/// Obtains and parses the release `version` from the sources the flags and env name.
pub(crate) async fn load_release(
    version: &TektonVersion,
    sources: &SourceArgs,
    env: &Env,
    printer: &Printer,
) -> anyhow::Result<(Release, Fetched)> {
    let fetched = obtain(version, &resolve_sources(sources, env)).await?;
    if printer.verbose > 0 {
        printer
            .info(&format!("using {version} from {} (sha256 {})", fetched.origin, fetched.sha256));
    }
    let release = parse_release(&fetched.bytes, version, &fetched.origin.to_string())
        .with_context(|| format!("cannot use Tekton Pipelines {version}"))?;
    Ok((release, fetched))
}
