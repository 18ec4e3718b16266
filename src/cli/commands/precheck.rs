//! `tkn-multi precheck INSTANCE --to VERSION`: what moving an instance to another version breaks
//! or changes in the cluster's own Tekton objects. Read-only. **The shell.**

use anyhow::Context as _;
use clap::Args;

use crate::converge::precheck::{self, Move};
use crate::plan::state::ClusterState;

use crate::cli::args::{KubeArgs, MatrixSource, PlanOutput};
use crate::cli::exit::ExitStatus;
use crate::cli::settings::{Env, SourceArgs};
use crate::fault::UserError;
use crate::names::InstanceName;
use crate::printer::Printer;
use crate::release::TektonVersion;
use std::future::Future;

/// Arguments of `precheck`.
#[derive(Debug, Args)]
pub struct PrecheckArgs {
    /// The instance.
    #[arg(required_unless_present_any = ["file", "shared"], conflicts_with_all = ["file", "shared"])]
    pub instance: Option<InstanceName>,
    /// The version it would move to.
    #[arg(long, value_name = "VERSION", required_unless_present = "file", conflicts_with = "file")]
    pub to: Option<TektonVersion>,
    /// Judge a move of the shared layer to `--to` instead: every Tekton object of every
    /// instance is converted by the target's own conversion webhook (a shadow of it) to each
    /// version the target serves and back, and a field lost on the way is a blocker. The live
    /// CRDs do not change.
    #[arg(long, conflicts_with = "file")]
    pub shared: bool,
    /// Judge every instance of a fleet file that would move to another version (on each of its
    /// clusters, for a fleet with `clusters:`), instead of one instance.
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub file: Option<std::path::PathBuf>,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = PlanOutput::Text)]
    pub output: PlanOutput,
    /// Do not ask the target version's own webhook: no shadow of it is created, and nothing is
    /// written to the cluster. Its refusals and defaults go unjudged.
    #[arg(long)]
    pub no_webhook: bool,
    /// How long to wait for another tkn-multi run's cluster lock, in seconds (the shadow is
    /// created under it).
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub lock_timeout: u64,
    /// Where the matrix (its recorded defaults) comes from.
    #[command(flatten)]
    pub matrix: MatrixSource,
    /// Where the two releases come from.
    #[command(flatten)]
    pub source: SourceArgs,
    /// The cluster.
    #[command(flatten)]
    pub kube: KubeArgs,
}

/// Runs `precheck`: exit 1 when a finding blocks the move.
pub async fn run(args: PrecheckArgs, env: &Env, printer: &Printer) -> anyhow::Result<ExitStatus> {
    if args.source.release_file.is_some() {
        return Err(UserError::msg(
            "`precheck` reads two releases; use `--release-dir` instead of `--release-file`".into(),
        )
        .into());
    }
    let target = Target {
        connection: args.kube.connection(),
        source: &args.source,
        matrix: &args.matrix,
        webhook: !args.no_webhook,
        lock_timeout: std::time::Duration::from_secs(args.lock_timeout),
    };
    if args.shared {
        let to = args.to.as_ref().expect("clap requires --to with --shared");
        let Some(report) = ask(&target, Ask::Shared(to), env, printer).await?.pop() else {
            return Err(UserError::msg("no shared layer is installed".into()).into());
        };
        return print(&args, &report, printer);
    }
    let (Some(instance), Some(to)) = (&args.instance, &args.to) else {
        return fleet(&args, &target, env, printer).await;
    };
    let move_ = Move::to(instance.clone(), to.clone());
    let Some(report) = judge(&target, &move_, env, printer).await? else {
        return Err(UserError::msg(format!("instance `{instance}` is not installed")).into());
    };
    print(&args, &report, printer)
}

/// Prints one report; exit 1 on a blocker.
fn print(
    args: &PrecheckArgs,
    report: &crate::precheck::Report,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    printer.data(&match args.output {
        PlanOutput::Json => serde_json::to_string_pretty(report)? + "\n",
        PlanOutput::Yaml => crate::yaml::to_string(report)?,
        PlanOutput::Text => crate::render::precheck::precheck_text(report),
    })?;
    Ok(if report.blocked() { ExitStatus::UserError } else { ExitStatus::Success })
}

/// How a precheck from the command line reads.
fn on<'a, R>(
    target: &Target<'_>,
    apis: &'a crate::cluster::Apis,
    releases: &'a R,
    matrix: &'a crate::matrix::Matrix,
    printer: &'a Printer,
) -> precheck::On<'a, R> {
    precheck::On {
        apis,
        releases,
        defaults: &matrix.defaults,
        webhook: if target.webhook {
            precheck::Webhook::Ask { lock_timeout: Some(target.lock_timeout) }
        } else {
            precheck::Webhook::No("not asked (`--no-webhook`)")
        },
        printer,
    }
}

/// `precheck -f FLEET`: a report for every instance that moves, per cluster.
async fn fleet(
    args: &PrecheckArgs,
    target: &Target<'_>,
    env: &Env,
    printer: &Printer,
) -> anyhow::Result<ExitStatus> {
    let path = args.file.as_ref().expect("clap requires -f without INSTANCE");
    let text = fs_err::read_to_string(path).map_err(crate::fault::user)?;
    let places: Vec<(Option<String>, crate::cluster::Connection, crate::plan::Desired)> =
        match crate::fleet::parse(&text, &path.display().to_string()).map_err(crate::fault::user)? {
            crate::fleet::Fleet::Single(d) => vec![(None, args.kube.connection(), d)],
            crate::fleet::Fleet::Clusters(members) => members
                .into_iter()
                .map(|m| {
                    let c = super::common::connection(&m.cluster, &args.kube);
                    (Some(m.cluster.name.to_string()), c, m.desired)
                })
                .collect(),
        };
    let mut all = Vec::new();
    for (cluster, connection, desired) in places {
        let here = Target { connection, ..*target };
        let reports =
            ask(&here, Ask::Wanted(&|_| Ok(desired.clone())), env, printer).await.with_context(
                || cluster.as_ref().map(|c| format!("cluster `{c}`")).unwrap_or_default(),
            )?;
        all.extend(reports.into_iter().map(|r| (cluster.clone(), r)));
    }
    let blocked = all.iter().any(|(_, r)| r.blocked());
    let document = || {
        serde_json::json!({
            "formatVersion": crate::precheck::PRECHECK_FORMAT_VERSION,
            "reports": all.iter().map(|(c, r)| serde_json::json!({"cluster": c, "report": r})).collect::<Vec<_>>(),
        })
    };
    printer.data(&match args.output {
        PlanOutput::Json => serde_json::to_string_pretty(&document())? + "\n",
        PlanOutput::Yaml => crate::yaml::to_string(&document())?,
        PlanOutput::Text if all.is_empty() => {
            "no instance moves to another version: nothing to precheck\n".to_owned()
        }
        PlanOutput::Text => all
            .iter()
            .map(|(c, r)| {
                let head = c.as_ref().map(|c| format!("cluster `{c}`: ")).unwrap_or_default();
                head + &crate::render::precheck::precheck_text(r)
            })
            .collect::<Vec<_>>()
            .join("\n"),
    })?;
    Ok(if blocked { ExitStatus::UserError } else { ExitStatus::Success })
}

/// Where a precheck reads: the cluster, the releases, the matrix.
pub(super) struct Target<'a> {
    pub(super) connection: crate::cluster::Connection,
    pub(super) source: &'a SourceArgs,
    pub(super) matrix: &'a MatrixSource,
    /// Whether to ask the target's webhook (a shadow of it).
    pub(super) webhook: bool,
    /// How long to wait for the cluster lock the shadow is created under.
    pub(super) lock_timeout: std::time::Duration,
}

/// The precheck of a move; `None` when the instance is not installed.
pub(super) async fn judge(
    target: &Target<'_>,
    move_: &Move,
    env: &Env,
    printer: &Printer,
) -> anyhow::Result<Option<crate::precheck::Report>> {
    Ok(ask(target, Ask::One(move_), env, printer).await?.pop())
}

/// What a change asks for, read against the observation.
pub(super) type Wanted<'a> = &'a dyn Fn(&ClusterState) -> anyhow::Result<crate::plan::Desired>;

/// What a precheck is asked about.
enum Ask<'a> {
    /// One move, whatever its instance's version.
    One(&'a Move),
    /// A move of the shared layer to this version.
    Shared(&'a TektonVersion),
    /// The moves a change asks for: instances that run another version, and the shared layer
    /// when its plan moves it.
    Wanted(Wanted<'a>),
}

/// The reports of what `what` asks about, in the cluster `target` reaches (none for an instance
/// or shared layer that is not installed).
async fn ask(
    target: &Target<'_>,
    what: Ask<'_>,
    env: &Env,
    printer: &Printer,
) -> anyhow::Result<Vec<crate::precheck::Report>> {
    let matrix = super::common::load_matrix(target.matrix)?;
    let client = crate::cluster::connect(&target.connection).await?;
    let apis = crate::cluster::Apis::new(client);
    let state = crate::cluster::observe(&apis).await?;
    let releases = super::common::Sources { source: target.source.clone(), env, printer };
    let on = on(target, &apis, &releases, &matrix, printer);
    let wanted = match what {
        Ask::One(m) => return Ok(precheck::judge(&on, &state, m).await?.into_iter().collect()),
        Ask::Shared(to) => {
            return Ok(precheck::shared(&on, &state, to).await?.into_iter().collect());
        }
        Ask::Wanted(wanted) => wanted,
    };
    let desired = wanted(&state)?;
    let mut reports = precheck::reports(&on, &state, &precheck::moves(&desired)).await?;
    if let Some(to) = precheck::shared_move(&on, &state, &desired, &matrix).await {
        reports.extend(precheck::shared(&on, &state, &to).await?);
    }
    Ok(reports)
}

/// The precheck of every move whose instance runs another version in the cluster `target`
/// reaches, each finding on stderr (`precheck: …`, naming the instance when `name` is set, and
/// the cluster); whether a finding blocks a move. A precheck that cannot run is a warning for a
/// dry run and an error otherwise (`--no-precheck` skips it).
pub(super) async fn gate(
    target: &Target<'_>,
    wanted: Wanted<'_>,
    place: Option<&str>,
    dry_run: bool,
    env: &Env,
    printer: &Printer,
) -> anyhow::Result<bool> {
    let quiet = Printer { quiet: true, ..*printer };
    let reports = match ask(target, Ask::Wanted(wanted), env, &quiet).await {
        Ok(reports) => reports,
        Err(e) if dry_run => {
            printer.warn(&format!("the precheck could not run: {e:#}"));
            return Ok(false);
        }
        Err(e) => return Err(e.context("the precheck could not run (`--no-precheck` skips it)")),
    };
    let mut blocked = false;
    for r in &reports {
        let shared = r.instance == crate::names::SHARED_OWNER;
        let instances = reports.iter().filter(|r| r.instance != crate::names::SHARED_OWNER).count();
        let named =
            if shared { "the shared layer".to_owned() } else { format!("`{}`", r.instance) };
        let whose = match place {
            Some(cluster) => format!(" of {named} on `{cluster}`"),
            None if shared || instances > 1 => format!(" of {named}"),
            None => String::new(),
        };
        for f in &r.findings {
            let line = crate::render::precheck::finding_line(f);
            printer.warn(&format!("precheck{whose}: {line}"));
        }
        blocked |= r.blocked();
    }
    Ok(blocked)
}

/// Runs a change behind the precheck's verdict: a blocker refuses a real run before anything is
/// written (exit 1); a dry run shows its plan, then exits 1.
pub(super) async fn behind(
    blocked: bool,
    dry_run: bool,
    refusal: &str,
    printer: &Printer,
    change: impl Future<Output = anyhow::Result<ExitStatus>>,
) -> anyhow::Result<ExitStatus> {
    if blocked && !dry_run {
        return Err(UserError::msg(refusal.to_owned()).into());
    }
    let status = change.await?;
    if blocked {
        printer.error(&format!("error: {refusal}\n"));
        return Ok(ExitStatus::UserError);
    }
    Ok(status)
}
