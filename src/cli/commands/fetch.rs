//! `tkn-multi fetch`: fill the release cache.

use anyhow::Context as _;
use clap::Args;

use crate::cli::exit::ExitStatus;
use crate::cli::settings::{Env, SourceArgs, resolve_cache_dir};
use crate::fault::UserError;
use crate::printer::Printer;
use crate::release::TektonVersion;
use crate::release::fetch::{Origin, cache_path, store_in_cache};

/// Download releases into the local cache (verifying their sha256) for later offline use.
///
/// Example: `tkn-multi fetch v0.44.2 v0.50.3`
#[derive(Debug, Args)]
pub struct FetchArgs {
    /// The Tekton Pipelines versions, e.g. `v0.50.3`.
    #[arg(required = true)]
    pub versions: Vec<TektonVersion>,
    /// Where the releases come from.
    #[command(flatten)]
    pub source: SourceArgs,
}

/// Runs `fetch`.
pub async fn run(args: FetchArgs, env: &Env, printer: &Printer) -> anyhow::Result<ExitStatus> {
    if args.source.release_file.is_some() && args.versions.len() > 1 {
        return Err(UserError::msg("`--release-file` can only provide one version".into()).into());
    }
    let cache = resolve_cache_dir(&args.source, env).ok_or_else(|| {
        UserError::msg("no cache directory: pass `--cache-dir` or set `TKN_MULTI_CACHE_DIR`".into())
    })?;
    for v in &args.versions {
        let (_, fetched) = super::common::load_release(v, &args.source, env, printer).await?;
        let path = if matches!(fetched.origin, Origin::Cache(_)) {
            cache_path(&cache, v)
        } else {
            store_in_cache(&cache, v, &fetched.bytes)
                .with_context(|| format!("cannot write the cache under `{}`", cache.display()))?
        };
        printer.data(&format!("{v}\t{}\t{}\n", fetched.sha256, path.display()))?;
    }
    Ok(ExitStatus::Success)
}
