//! `tkn-multi bundle export|import`: releases for air-gapped machines.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::cli::exit::ExitStatus;
use crate::cli::settings::{Env, SourceArgs, resolve_cache_dir};
use crate::fault::UserError;
use crate::printer::Printer;
use crate::release::TektonVersion;
use crate::release::bundle;

/// Carry releases to air-gapped machines.
#[derive(Debug, Subcommand)]
pub enum BundleCommand {
    /// Write releases, with their sha256, into one tar.gz.
    ///
    /// Example: `tkn-multi bundle export v0.44.2 v0.50.3 -o tekton.tar.gz`
    Export(ExportArgs),
    /// Verify a bundle and copy its releases into the cache.
    ///
    /// Example: `tkn-multi bundle import tekton.tar.gz`
    Import(ImportArgs),
}

/// Arguments of `bundle export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The Tekton Pipelines versions to include.
    #[arg(required = true)]
    pub versions: Vec<TektonVersion>,
    /// The bundle to write.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Where the releases come from.
    #[command(flatten)]
    pub source: SourceArgs,
}

/// Arguments of `bundle import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The bundle to read.
    pub bundle: PathBuf,
    /// The release cache [env: `TKN_MULTI_CACHE_DIR`] [default: ~/.cache/tkn-multi]
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
}

/// Runs `bundle export` or `bundle import`.
pub async fn run(cmd: BundleCommand, env: &Env, printer: &Printer) -> anyhow::Result<ExitStatus> {
    match cmd {
        BundleCommand::Export(args) => {
            if args.source.release_file.is_some() && args.versions.len() > 1 {
                return Err(
                    UserError::msg("`--release-file` can only provide one version".into()).into()
                );
            }
            let mut releases = Vec::with_capacity(args.versions.len());
            for v in &args.versions {
                let (_, fetched) =
                    super::common::load_release(v, &args.source, env, printer).await?;
                releases.push((v.clone(), fetched.bytes));
            }
            let manifest = bundle::export(&args.output, &releases).map_err(judged)?;
            for e in &manifest.releases {
                printer.data(&format!("{}\t{}\n", e.version, e.sha256))?;
            }
            printer.info(&format!(
                "wrote {} release(s) to {}",
                manifest.releases.len(),
                args.output.display()
            ));
        }
        BundleCommand::Import(args) => {
            let source = SourceArgs { cache_dir: args.cache_dir, ..SourceArgs::default() };
            let cache = resolve_cache_dir(&source, env).ok_or_else(|| {
                UserError::msg(
                    "no cache directory: pass `--cache-dir` or set `TKN_MULTI_CACHE_DIR`".into(),
                )
            })?;
            let imported = bundle::import(&args.bundle, &cache).map_err(judged)?;
            for (v, old) in &imported.replaced {
                printer.warn(&format!("replaced the cached {v} (it had sha256 {old})"));
            }
            let manifest = imported.manifest;
            for e in &manifest.releases {
                printer.data(&format!("{}\t{}\n", e.version, e.sha256))?;
            }
            printer.info(&format!(
                "imported {} release(s) into {}",
                manifest.releases.len(),
                cache.display()
            ));
        }
    }
    Ok(ExitStatus::Success)
}

/// A bundle that cannot be read, or whose manifest or entries are wrong, is the request's; a
/// write that fails is not.
fn judged(e: bundle::Error) -> anyhow::Error {
    match e {
        bundle::Error::Io { .. } => e.into(),
        bundle::Error::Unreadable { .. }
        | bundle::Error::Manifest { .. }
        | bundle::Error::Entry { .. } => crate::fault::user(e),
    }
}
