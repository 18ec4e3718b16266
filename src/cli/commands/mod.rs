//! One module per command.

pub mod bundle;
pub mod fetch;
pub mod lifecycle;
pub mod list;
pub mod matrix;
pub mod render;
pub mod split;
pub mod status;

use anyhow::Context as _;
use clap::Args;

use super::settings::{Env, SourceArgs, resolve_sources};
use crate::names::{InstanceName, NamespaceName, default_control_plane_namespace};
use crate::printer::Printer;
use crate::release::fetch::{Fetched, obtain};
use crate::release::parse::parse_release;
use crate::release::{Release, TektonVersion};
use crate::split::InstanceSpec;

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

/// The flags that name one instance and its namespaces (`render`, `install`).
#[derive(Debug, Args)]
pub struct InstanceArgs {
    /// The namespace the instance reconciles (its `PipelineRuns` and `TaskRuns` live there).
    #[arg(short, long, value_name = "NS")]
    pub namespace: NamespaceName,
    /// The instance's name [default: the namespace]
    #[arg(long, value_name = "NAME")]
    pub instance: Option<InstanceName>,
    /// Where the instance's controller and webhook run [default: tekton-<instance>]
    #[arg(long, value_name = "NS")]
    pub control_plane_namespace: Option<NamespaceName>,
}

impl InstanceArgs {
    /// The instance these flags name, with the defaults applied.
    pub fn spec(&self) -> anyhow::Result<InstanceSpec> {
        let name =
            match &self.instance {
                Some(n) => n.clone(),
                None => self.namespace.as_str().parse().context(
                    "the namespace cannot serve as the instance name; pass `--instance`",
                )?,
            };
        let control_plane_namespace = self
            .control_plane_namespace
            .clone()
            .unwrap_or_else(|| default_control_plane_namespace(&name));
        Ok(InstanceSpec { name, namespace: self.namespace.clone(), control_plane_namespace })
    }
}
