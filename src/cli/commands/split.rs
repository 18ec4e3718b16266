//! `tkn-multi split`: every object of a release with its part and rule.

use clap::{Args, ValueEnum};

use crate::cli::exit::ExitStatus;
use crate::cli::settings::{Env, SourceArgs};
use crate::printer::Printer;
use crate::release::TektonVersion;
use crate::release::capabilities::Capabilities;
use crate::render::split_report::{FORMAT_VERSION, SplitReport, to_json, to_text};
use crate::split::classify;

/// Output format of `split`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SplitOutput {
    /// A table and a summary.
    Text,
    /// One JSON document with a `formatVersion`.
    Json,
}

/// Show which part every object of a release goes to, and why.
///
/// Example: `tkn-multi split v0.50.3 -o json`
#[derive(Debug, Args)]
pub struct SplitArgs {
    /// The Tekton Pipelines version, e.g. `v0.50.3`.
    pub version: TektonVersion,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = SplitOutput::Text)]
    pub output: SplitOutput,
    /// Where the release comes from.
    #[command(flatten)]
    pub source: SourceArgs,
}

/// Runs `split`.
pub async fn run(args: SplitArgs, env: &Env, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let (release, _) =
        super::common::load_release(&args.version, &args.source, env, printer).await?;
    let objects = classify(&release);
    let caps = Capabilities::of(&release.version);
    let report = SplitReport {
        format_version: FORMAT_VERSION,
        version: &release.version,
        capabilities: &caps,
        objects: &objects,
    };
    printer.data(&match args.output {
        SplitOutput::Text => to_text(&report),
        SplitOutput::Json => to_json(&report),
    })?;
    Ok(ExitStatus::Success)
}
