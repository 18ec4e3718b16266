//! One module per command.

pub mod apply;
pub mod bundle;
pub mod completion;
pub mod fetch;
pub mod install;
pub mod list;
pub mod matrix;
pub mod render;
pub mod rotate_certs;
pub mod split;
pub mod status;
pub mod uninstall;
pub mod upgrade;

use std::io::{BufRead as _, IsTerminal as _};
use std::time::Duration;

use anyhow::Context as _;

use super::args::{DryRun, PlanArgs, PlanOutput};
use super::exit::ExitStatus;
use super::settings::{Env, SourceArgs, resolve_sources};
use crate::converge::{self, Live, Mode, Saved};
use crate::fault::UserError;
use crate::plan::state::{ClusterState, STATE_FORMAT_VERSION};
use crate::plan::{Desired, Plan};
use crate::printer::Printer;
use crate::release::fetch::{Fetched, obtain};
use crate::release::parse::parse_release;
use crate::release::{Release, TektonVersion};
use crate::render::plan::{to_json, to_text};
use crate::split::SharedSpec;

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

/// Releases from the flags' and the environment's sources (never `--release-file`: a plan may
/// need several versions).
struct Sources<'a> {
    source: SourceArgs,
    env: &'a Env,
    printer: &'a Printer,
}

impl converge::ReleaseSource for Sources<'_> {
    async fn load(&self, version: &TektonVersion) -> anyhow::Result<Release> {
        Ok(load_release(version, &self.source, self.env, self.printer).await?.0)
    }
}

/// The terminal: plans on stdout in the format asked for; questions on stderr, answers on stdin.
struct Terminal<'a> {
    output: PlanOutput,
    printer: &'a Printer,
}

impl converge::Ui for Terminal<'_> {
    fn show(&self, plan: &Plan) -> anyhow::Result<()> {
        self.printer.data(&match self.output {
            PlanOutput::Text if self.printer.color_out => {
                crate::render::plan::colorize(&to_text(plan))
            }
            PlanOutput::Text => to_text(plan),
            PlanOutput::Json => to_json(plan),
            PlanOutput::Yaml => crate::yaml::to_string(plan)?,
        })?;
        Ok(())
    }

    /// As Terraform asks: only `yes` goes on. Without a terminal on stdin and stderr nobody can
    /// be asked.
    fn confirm(&self, question: &str) -> anyhow::Result<Option<bool>> {
        if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
            return Ok(None);
        }
        self.printer.ask(&format!("{question}\n  Only 'yes' will be accepted: "));
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        Ok(Some(answer.trim() == "yes"))
    }
}

/// The shared namespace the flags name, checked against an installed shared layer.
pub(crate) fn shared_spec(args: &PlanArgs, state: &ClusterState) -> anyhow::Result<SharedSpec> {
    if let Some(s) = &state.shared
        && s.namespace != args.shared_namespace.as_str()
    {
        return Err(UserError(format!(
            "the shared layer is installed in `{}`, not `{}`; pass `--shared-namespace {}`",
            s.namespace, args.shared_namespace, s.namespace
        ))
        .into());
    }
    Ok(SharedSpec { namespace: args.shared_namespace.clone() })
}

fn read_state(path: &std::path::Path) -> anyhow::Result<ClusterState> {
    let text = fs_err::read_to_string(path)?;
    let state: ClusterState = crate::yaml::from_str(&text).with_context(|| {
        format!("state file `{}` is not a `tkn-multi list -o yaml` document", path.display())
    })?;
    if state.format_version != STATE_FORMAT_VERSION {
        return Err(UserError(format!(
            "state file `{}` has format version `{}`; this tkn-multi reads `{STATE_FORMAT_VERSION}`",
            path.display(),
            state.format_version
        ))
        .into());
    }
    Ok(state)
}

/// Every changing command: the flags become a cluster handle and a request for the driver,
/// `desired` says what the command wants of the observed cluster; then `--save-state` and the
/// exit status.
pub(crate) async fn change(
    args: &PlanArgs,
    env: &Env,
    printer: &Printer,
    desired: impl FnOnce(&ClusterState) -> anyhow::Result<Desired>,
) -> anyhow::Result<ExitStatus> {
    change_with(args, env, printer, crate::tls::Force::default(), desired).await
}

/// [`change`], asking for certificate renewals beyond those due (`rotate-certs`).
pub(crate) async fn change_with(
    args: &PlanArgs,
    env: &Env,
    printer: &Printer,
    certificates: crate::tls::Force,
    desired: impl FnOnce(&ClusterState) -> anyhow::Result<Desired>,
) -> anyhow::Result<ExitStatus> {
    let timings = match args.output {
        PlanOutput::Json => crate::printer::TimingsFormat::Json,
        _ => crate::printer::TimingsFormat::Text,
    };
    let printer = &Printer { timings, ..*printer };
    let matrix = matrix::load_matrix(&args.matrix)?;
    let sources =
        Sources { source: SourceArgs { release_file: None, ..args.source.clone() }, env, printer };
    let ui = Terminal { output: args.output, printer };
    let request = converge::Request {
        mode: match args.dry_run {
            Some(DryRun::Client) => Mode::Plan,
            Some(DryRun::Server) => Mode::ServerDryRun,
            None => Mode::Apply,
        },
        yes: args.yes,
        atomic: args.atomic,
        apply: crate::apply::Options {
            field_manager: args.kube.field_manager.clone(),
            timeout: Duration::from_secs(args.timeout),
            force_conflicts: args.force_conflicts,
            server_dry_run: false,
            concurrency: usize::from(args.concurrency),
        },
        certificates,
    };
    let outcome = if let Some(path) = &args.state {
        let mut cluster = Saved(read_state(path)?);
        converge::converge(&mut cluster, &sources, &matrix, &request, desired, &ui, printer).await?
    } else {
        let lock_timeout = Duration::from_secs(args.lock_timeout);
        let mut cluster = Live::connect(&args.kube.connection(), lock_timeout).await?;
        converge::converge(&mut cluster, &sources, &matrix, &request, desired, &ui, printer).await?
    };
    if let Some(path) = &args.save_state {
        let mut next = outcome.before.clone();
        next.apply(&outcome.plan);
        fs_err::write(path, crate::yaml::to_string(&next)?)?;
    }
    Ok(if args.detailed_exitcode && outcome.plan.has_changes() {
        ExitStatus::Changes
    } else {
        ExitStatus::Success
    })
}
