//! `tkn-multi matrix generate|show|check`: the compatibility matrix.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;

use crate::cli::args::MatrixSource;
use crate::cli::exit::ExitStatus;
use crate::cli::settings::{Env, SourceArgs};
use crate::fault::UserError;
use crate::matrix::check::{self, Query};
use crate::matrix::derive::derive_record;
use crate::matrix::{Matrix, ReleaseRecord};
use crate::printer::Printer;
use crate::release::TektonVersion;
use crate::release::fetch::RELEASE_DIR_FOLDERS;
use crate::render::matrix::{check_text, show_text};

/// Output format of `matrix` commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MatrixOutput {
    /// A table.
    Text,
    /// JSON.
    Json,
    /// YAML.
    Yaml,
}

/// The compatibility matrix.
#[derive(Debug, Subcommand)]
pub enum MatrixCommand {
    /// Derive `compat-matrix/<version>.yaml` from a directory of release files.
    ///
    /// Example: `tkn-multi matrix generate --release-dir ../shared/tekton-releases`
    Generate(GenerateArgs),
    /// Show the table of versions × CRDs (served versions, storage, conversion).
    ///
    /// Example: `tkn-multi matrix show -o json`
    Show(ShowArgs),
    /// Compute the shared layer for a set of instance versions; exit 1 when incompatible.
    ///
    /// Example: `tkn-multi matrix check v0.44.2 v0.50.3 --current-shared v0.44.2`
    Check(CheckArgs),
    /// What an upgrade from one release to another changes: configuration keys, CRD versions and
    /// schema fields removed, kinds removed, components' flags and environment, RBAC rules.
    ///
    /// Example: `tkn-multi matrix diff v1.9.0 v1.15.1`
    Diff(DiffArgs),
}

/// Arguments of `matrix diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The release upgraded from.
    pub from: TektonVersion,
    /// The release upgraded to.
    pub to: TektonVersion,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = MatrixOutput::Text)]
    pub output: MatrixOutput,
    /// Where the matrix (its recorded defaults) comes from.
    #[command(flatten)]
    pub matrix: MatrixSource,
    /// Where the two releases come from.
    #[command(flatten)]
    pub releases: SourceArgs,
}

/// Arguments of `matrix generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// A directory with `pipeline/<VERSION>.yaml` (and `pipeline-from-source/<VERSION>.yaml`)
    /// release files.
    #[arg(long, value_name = "DIR")]
    pub release_dir: PathBuf,
    /// Where to write the records.
    #[arg(long, value_name = "DIR", default_value = "compat-matrix")]
    pub out: PathBuf,
    /// Write nothing; exit 1 when the files in `--out` differ from what would be generated.
    #[arg(long)]
    pub check: bool,
}

/// Arguments of `matrix show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = MatrixOutput::Text)]
    pub output: MatrixOutput,
    /// Where the matrix comes from.
    #[command(flatten)]
    pub source: MatrixSource,
}

/// Arguments of `matrix check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The instances' Tekton versions.
    #[arg(required = true)]
    pub versions: Vec<TektonVersion>,
    /// The shared layer's version in the cluster now, to report kept CRDs and migrations.
    #[arg(long, value_name = "VERSION")]
    pub current_shared: Option<TektonVersion>,
    /// Allow a layer older than `--current-shared` (after the newest instance is gone).
    #[arg(long, requires = "current_shared")]
    pub downgrade: bool,
    /// Accept pairs the compatibility lab's evidence shows breaking workloads (reported as
    /// warnings instead of refused).
    #[arg(long)]
    pub accept_broken_workloads: bool,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = MatrixOutput::Text)]
    pub output: MatrixOutput,
    /// Where the matrix comes from.
    #[command(flatten)]
    pub source: MatrixSource,
    /// Where the releases of versions this build has no record of come from (their records are
    /// derived at run time).
    #[command(flatten)]
    pub releases: SourceArgs,
}

/// Derives the records of every release in the release directory's folders
/// ([`RELEASE_DIR_FOLDERS`]: upstream's files, then those rebuilt from source), each file
/// accepted by [`crate::intake`] first.
pub fn generate_records(dir: &Path) -> anyhow::Result<Vec<ReleaseRecord>> {
    let mut records: Vec<ReleaseRecord> = Vec::new();
    for folder in RELEASE_DIR_FOLDERS {
        let Ok(entries) = fs_err::read_dir(dir.join(folder)) else { continue };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .collect();
        paths.sort();
        for path in paths {
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
            let version: TektonVersion =
                stem.parse().map_err(crate::fault::user).with_context(|| {
                    format!("release file `{}` is not named `<VERSION>.yaml`", path.display())
                })?;
            if records.iter().any(|r| r.version == version) {
                continue; // upstream's own file wins over a rebuilt one
            }
            let bytes = fs_err::read(&path)?;
            let release = crate::intake::release(&bytes, &version, &path.display().to_string())
                .map_err(crate::fault::user)?;
            records.push(derive_record(&release, &release.sha256));
        }
    }
    if records.is_empty() {
        return Err(UserError::msg(format!(
            "no release files in `{}` (looked in {})",
            dir.display(),
            RELEASE_DIR_FOLDERS.join(", ")
        ))
        .into());
    }
    records.sort_by(|a, b| a.version.cmp(&b.version));
    Ok(records)
}

fn emit<T: Serialize>(
    printer: Printer,
    format: MatrixOutput,
    value: &T,
    text: impl FnOnce() -> String,
) -> anyhow::Result<()> {
    let s = match format {
        MatrixOutput::Text => text(),
        MatrixOutput::Json => serde_json::to_string_pretty(value)? + "\n",
        MatrixOutput::Yaml => crate::yaml::to_string(value)?,
    };
    printer.data(&s)?;
    Ok(())
}

/// The `matrix check` report: the layer plus the problems that make it incompatible.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Report<'a> {
    #[serde(flatten)]
    layer: &'a check::SharedLayer,
    problems: &'a [String],
}

/// `matrix generate`: the records of every release file, checked against the evidence and rules.
fn generate(args: &GenerateArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let records = generate_records(&args.release_dir)?;
    let mut drifted = Vec::new();
    for r in &records {
        let path = args.out.join(format!("{}.yaml", r.version));
        let text = r.to_yaml();
        if args.check {
            if fs_err::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                drifted.push(path.display().to_string());
            }
        } else {
            fs_err::create_dir_all(&args.out)?;
            fs_err::write(&path, text)?;
        }
    }
    if !drifted.is_empty() {
        return Err(UserError::msg(format!(
            "the committed matrix differs from the release files: {}; run `tkn-multi matrix generate`",
            drifted.join(", ")
        ))
        .into());
    }
    // The compatibility lab's evidence and the curated rules must agree (evidence wins:
    // a rule it contradicts is corrected by hand, `rules.yaml` being curated).
    // (A directory without rules.yaml holds records only: nothing to agree with.)
    let written = if args.out.join("rules.yaml").is_file() {
        super::common::load_matrix(&MatrixSource { matrix_dir: Some(args.out.clone()) })?
    } else {
        Matrix::embedded()
    };
    let disagreements = crate::matrix::agreement(&written);
    if !disagreements.is_empty() {
        return Err(UserError::msg(format!(
            "the evidence in {} and rules.yaml disagree:\n  - {}",
            args.out.join("evidence").display(),
            disagreements.join("\n  - ")
        ))
        .into());
    }
    let verb = if args.check { "checked" } else { "wrote" };
    printer.info(&format!(
        "{verb} {} records in {}; {} evidence files agree with rules.yaml",
        records.len(),
        args.out.display(),
        written.evidence.len()
    ));
    Ok(ExitStatus::Success)
}

/// Runs a `matrix` command.
pub async fn run(cmd: MatrixCommand, env: &Env, printer: &Printer) -> anyhow::Result<ExitStatus> {
    match cmd {
        MatrixCommand::Generate(args) => generate(&args, printer),
        MatrixCommand::Diff(args) => {
            if args.releases.release_file.is_some() {
                return Err(UserError::msg(
                    "`matrix diff` reads two releases; use `--release-dir` instead of `--release-file`".into(),
                )
                .into());
            }
            let from =
                super::common::load_release(&args.from, &args.releases, env, printer).await?.0;
            let to = super::common::load_release(&args.to, &args.releases, env, printer).await?.0;
            let matrix = super::common::load_matrix(&args.matrix)?;
            let d = crate::matrix::diff::diff(&from, &to, &matrix.defaults);
            emit(*printer, args.output, &d, || crate::render::matrix::diff_text(&d))?;
            Ok(ExitStatus::Success)
        }
        MatrixCommand::Show(args) => {
            let matrix = super::common::load_matrix(&args.source)?;
            let records: Vec<&ReleaseRecord> = matrix.releases.values().collect();
            emit(*printer, args.output, &records, || show_text(&matrix))?;
            Ok(ExitStatus::Success)
        }
        MatrixCommand::Check(args) => {
            let matrix = super::common::load_matrix(&args.source)?;
            // Versions this build has no record of: derived from their release files.
            let mut loaded = Vec::new();
            // Older than every shipped release: below the supported floor, refused as it is.
            let floor = matrix.releases.keys().next().cloned();
            for v in args.versions.iter().chain(&args.current_shared) {
                if matrix.release(v).is_none()
                    && floor.as_ref().is_some_and(|f| v > f)
                    && !loaded.iter().any(|r: &crate::release::Release| &r.version == v)
                {
                    if args.releases.release_file.is_some() && args.versions.len() > 1 {
                        return Err(UserError::msg(
                            "`--release-file` can only provide one version; use `--release-dir`"
                                .into(),
                        )
                        .into());
                    }
                    loaded.push(
                        super::common::load_release(v, &args.releases, env, printer).await?.0,
                    );
                }
            }
            let matrix = matrix.completed(&loaded);
            let req = Query {
                instances: args.versions,
                current_shared: args.current_shared,
                allow_downgrade: args.downgrade,
                running: Vec::new(),
                accept_broken_workloads: args.accept_broken_workloads,
            };
            match check::check(&matrix, &req) {
                Ok(layer) => {
                    emit(*printer, args.output, &Report { layer: &layer, problems: &[] }, || {
                        check_text(&layer, &[])
                    })?;
                    Ok(ExitStatus::Success)
                }
                Err(check::Error::Incompatible { problems, layer }) => {
                    emit(
                        *printer,
                        args.output,
                        &Report { layer: &layer, problems: &problems },
                        || check_text(&layer, &problems),
                    )?;
                    Ok(ExitStatus::UserError)
                }
                Err(e) => Err(crate::fault::user(e)),
            }
        }
    }
}
