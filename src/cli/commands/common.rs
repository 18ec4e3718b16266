//! What the commands share: loading releases, the changing commands' run through the driver, fleets' clusters. **The shell.**
use std::io::{BufRead as _, IsTerminal as _};
use std::time::Duration;

use anyhow::Context as _;

use crate::cli::args::{DryRun, PlanArgs, PlanOutput};
use crate::cli::exit::ExitStatus;
use crate::cli::settings::{Env, SourceArgs, resolve_sources};
use crate::converge::{self, Live, Mode, Saved};
use crate::fault::UserError;
use crate::plan::state::{ClusterState, STATE_FORMAT_VERSION};
use crate::plan::{Desired, Plan};
use crate::printer::Printer;
use crate::release::fetch::{Fetched, obtain};
use crate::release::{Release, TektonVersion};
use crate::render::plan::to_json;
use crate::split::SharedSpec;

/// Obtains and parses the release `version` from the sources the flags and env name.
pub(crate) async fn load_release(
    version: &TektonVersion,
    sources: &SourceArgs,
    env: &Env,
    printer: &Printer,
) -> anyhow::Result<(Release, Fetched)> {
    load_from(version, &resolve_sources(sources, env), printer).await
}

pub(super) async fn load_from(
    version: &TektonVersion,
    sources: &crate::release::fetch::Sources,
    printer: &Printer,
) -> anyhow::Result<(Release, Fetched)> {
    let fetched = match obtain(version, sources).await {
        Ok(f) => f,
        Err(e) if crate::fault::find::<crate::release::fetch::NotFound>(&e).is_some() => {
            return Err(e);
        }
        Err(e) => return Err(e.context(format!("cannot use Tekton Pipelines {version}"))),
    };
    if printer.verbose > 0 {
        printer
            .info(&format!("using {version} from {} (sha256 {})", fetched.origin, fetched.sha256));
    }
    let release = fetched.release.clone();
    Ok((release, fetched))
}

/// Releases from the flags' and the environment's sources. A plan may need several versions, so
/// `--release-file` serves the version it proves to be, and the others are looked up as usual.
pub(super) struct Sources<'a> {
    pub(super) source: SourceArgs,
    pub(super) env: &'a Env,
    pub(super) printer: &'a Printer,
}

impl converge::ReleaseSource for Sources<'_> {
    async fn load(&self, version: &TektonVersion) -> anyhow::Result<Release> {
        let mut sources = resolve_sources(&self.source, self.env);
        sources.release_file_for_its_version_only = true;
        Ok(load_from(version, &sources, self.printer).await?.0)
    }
}

/// The terminal: plans on stdout in the format asked for; questions on stderr, answers on stdin.
pub(super) struct Terminal<'a> {
    output: PlanOutput,
    printer: &'a Printer,
}

impl converge::Ui for Terminal<'_> {
    fn show(&self, plan: &Plan) -> anyhow::Result<()> {
        self.printer.data(&match self.output {
            PlanOutput::Text => crate::render::plan::styled_text(plan, self.printer.color_out),
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

impl converge::fleet::FleetUi for Terminal<'_> {
    fn show_all(&self, plans: &[converge::fleet::Shown<'_>]) -> anyhow::Result<()> {
        use crate::render::plan::{fleet_document, fleet_to_text};
        // Grouped by stage, in rollout order (the fleet's order within a stage).
        let mut ordered: Vec<&converge::fleet::Shown<'_>> = plans.iter().collect();
        ordered.sort_by_key(|s| s.stage.map_or(0, |st| st.index));
        let labels: Vec<(String, Option<String>)> = ordered
            .iter()
            .map(|s| match s.stage {
                Some(st) => (
                    format!("{} (stage {}: {})", s.cluster, st.index + 1, st.name),
                    Some(st.name.to_string()),
                ),
                None => (s.cluster.to_owned(), None),
            })
            .collect();
        let plans: Vec<(&str, Option<&str>, Result<&Plan, String>)> = ordered
            .iter()
            .zip(&labels)
            .map(|(s, (_, stage))| {
                (s.cluster, stage.as_deref(), s.plan.map_err(|e| format!("{e:#}")))
            })
            .collect();
        let text_plans: Vec<(&str, Result<&Plan, String>)> = plans
            .iter()
            .zip(&labels)
            .map(|((_, _, p), (label, _))| (label.as_str(), p.clone()))
            .collect();
        self.printer.data(&match self.output {
            PlanOutput::Text => fleet_to_text(&text_plans, self.printer.color_out),
            format => fleet_document(&plans, format == PlanOutput::Json)?,
        })?;
        Ok(())
    }
}

/// The shared namespace the flags name, checked against an installed shared layer.
pub(crate) fn shared_spec(args: &PlanArgs, state: &ClusterState) -> anyhow::Result<SharedSpec> {
    if let Some(s) = &state.shared
        && s.namespace != args.shared_namespace.as_str()
    {
        return Err(UserError::msg(format!(
            "the shared layer is installed in `{}`, not `{}`; pass `--shared-namespace {}`",
            s.namespace, args.shared_namespace, s.namespace
        ))
        .into());
    }
    Ok(SharedSpec { namespace: args.shared_namespace.clone() })
}

pub(super) fn read_state(path: &std::path::Path) -> anyhow::Result<ClusterState> {
    let text = fs_err::read_to_string(path)?;
    let state: ClusterState =
        crate::yaml::from_str(&text).map_err(crate::fault::user).with_context(|| {
            format!("state file `{}` is not a `tkn-multi list -o yaml` document", path.display())
        })?;
    if state.format_version != STATE_FORMAT_VERSION {
        return Err(UserError::msg(format!(
            "state file `{}` has format version `{}`; this tkn-multi reads `{STATE_FORMAT_VERSION}`",
            path.display(),
            state.format_version
        ))
        .into());
    }
    Ok(state)
}

/// `--image-registry`: relocates the shared layer and every instance in scope that does not name
/// its own registry.
pub(crate) fn relocate_in_scope(
    d: &mut Desired,
    registry: Option<crate::plan::overrides::ImageRegistry>,
) {
    let Some(registry) = registry else { return };
    d.image_registry.get_or_insert_with(|| registry.clone());
    for i in &mut d.instances {
        if d.scope.as_ref().is_none_or(|s| s.contains(i.spec.name.as_str())) {
            i.overrides.image_registry.get_or_insert_with(|| registry.clone());
        }
    }
}

/// The driver's request the flags make.
pub(super) fn request(args: &PlanArgs, certificates: crate::tls::Force) -> converge::Request {
    converge::Request {
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
            force_fields: false,
            server_dry_run: false,
            concurrency: usize::from(args.concurrency),
            chunk_size: args.chunk_size,
            guard: None,
        },
        certificates,
    }
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
    if args.state.is_some() && args.dry_run.is_none() {
        return Err(review_only_flag("--state"));
    }
    let printer = &driver_printer(args, printer);
    let matrix = load_matrix(&args.matrix)?;
    let sources = Sources { source: args.source.clone(), env, printer };
    let ui = Terminal { output: args.output, printer };
    let request = request(args, certificates);
    let registry = args.image_registry.clone();
    let desired = move |state: &ClusterState| {
        let mut d = desired(state)?;
        relocate_in_scope(&mut d, registry);
        Ok(d)
    };
    let outcome = if let Some(path) = &args.state {
        let mut cluster = Saved(read_state(path)?);
        converge::run(&mut cluster, &sources, &matrix, &request, desired, &ui, printer).await?
    } else {
        let lock_timeout = Duration::from_secs(args.lock_timeout);
        let mut cluster = Live::connect(&args.kube.connection(), lock_timeout).await?;
        converge::run(&mut cluster, &sources, &matrix, &request, desired, &ui, printer).await?
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

/// A saved observation can be planned from, never applied: refused before anything is planned or
/// printed.
pub(super) fn review_only_flag(flag: &str) -> anyhow::Error {
    UserError::msg(format!(
        "a plan made from `{flag}` is for review only and cannot change a cluster; use `--dry-run`"
    ))
    .into()
}

/// `apply -f` of a fleet with clusters: every cluster's handle first (an unknown context stops
/// the run before anything is locked), then the fleet driver; a summary per cluster on stderr.
pub(crate) async fn change_fleet(
    args: &PlanArgs,
    env: &Env,
    printer: &Printer,
    members: Vec<crate::fleet::Member>,
    state_dir: Option<&std::path::Path>,
) -> anyhow::Result<ExitStatus> {
    if args.state.is_some() || args.save_state.is_some() {
        return Err(UserError::msg(
            "a fleet with clusters plans offline with `--state-dir DIR` (one `<cluster>.yaml` per cluster), not `--state`".into(),
        )
        .into());
    }
    let members: Vec<(String, crate::fleet::ClusterEntry, Desired, Option<crate::fleet::Stage>)> =
        members
            .into_iter()
            .map(|m| {
                let mut d = m.desired;
                relocate_in_scope(&mut d, args.image_registry.clone());
                (m.cluster.name.to_string(), m.cluster, d, m.stage)
            })
            .collect();
    if let Some(dir) = state_dir {
        if args.dry_run.is_none() {
            return Err(review_only_flag("--state-dir"));
        }
        let mut handles = Vec::new();
        for (name, _, desired, stage) in members {
            let path = dir.join(format!("{name}.yaml"));
            let state = read_state(&path).with_context(|| {
                format!(
                    "cannot read the state of cluster `{name}` (write it with `tkn-multi list -o yaml --context <its context> > {}`)",
                    path.display()
                )
            })?;
            handles.push(converge::fleet::Handle { name, cluster: Saved(state), desired, stage });
        }
        return run_fleet(args, env, printer, &mut handles).await;
    }
    let lock_timeout = Duration::from_secs(args.lock_timeout);
    let mut handles = Vec::new();
    for (name, entry, desired, stage) in members {
        let cluster = Live::connect(&connection(&entry, &args.kube), lock_timeout)
            .await
            .with_context(|| format!("cluster `{name}`: cannot connect"))?;
        handles.push(converge::fleet::Handle { name, cluster, desired, stage });
    }
    run_fleet(args, env, printer, &mut handles).await
}

pub(super) async fn run_fleet<C: converge::Cluster>(
    args: &PlanArgs,
    env: &Env,
    printer: &Printer,
    members: &mut [converge::fleet::Handle<C>],
) -> anyhow::Result<ExitStatus> {
    use converge::fleet::ClusterResult as R;
    let printer = &driver_printer(args, printer);
    let matrix = load_matrix(&args.matrix)?;
    let sources = Sources { source: args.source.clone(), env, printer };
    let ui = Terminal { output: args.output, printer };
    let request = request(args, crate::tls::Force::default());
    let results =
        converge::fleet::run_all(members, &sources, &matrix, &request, &ui, printer).await?;
    let (mut user, mut unexpected, mut changes) = (0, 0, false);
    for (name, result) in &results {
        match result {
            R::Planned(o) => changes |= o.plan.has_changes(),
            R::Applied(o) => {
                changes |= o.plan.has_changes();
                let s = o.plan.summary;
                printer.info(&if o.plan.has_changes() {
                    format!(
                        "cluster {name}: applied ({} created, {} updated, {} replaced, {} deleted)",
                        s.create, s.update, s.replace, s.delete
                    )
                } else {
                    format!("cluster {name}: no changes")
                });
            }
            R::NotApplied(_) => printer.warn(&format!(
                "cluster {name}: not applied: the fleet was refused on another cluster"
            )),
            R::Held(_, stage) => printer
                .warn(&format!("cluster {name}: not applied: stage `{stage}` did not converge")),
            R::Failed(e) => {
                if crate::fault::is_user(e) {
                    user += 1;
                } else {
                    unexpected += 1;
                }
                printer.error(&format!("error: cluster {name}: {e:#}\n"));
            }
        }
    }
    stage_summary(members, &results, printer);
    let failed = user + unexpected;
    if failed > 0 {
        printer.error(&format!(
            "error: {failed} of {} cluster(s) failed; the others are as reported above\n",
            results.len()
        ));
    }
    Ok(if failed > 0 && args.detailed_exitcode {
        // 2 means "changes" there (Terraform's contract): every error is 1.
        ExitStatus::UserError
    } else if unexpected > 0 {
        ExitStatus::Failure
    } else if user > 0 {
        ExitStatus::UserError
    } else if args.detailed_exitcode && changes {
        ExitStatus::Changes
    } else {
        ExitStatus::Success
    })
}

/// One line per stage of a staged rollout: what happened on its clusters.
fn stage_summary<C>(
    members: &[converge::fleet::Handle<C>],
    results: &[(String, converge::fleet::ClusterResult)],
    printer: &Printer,
) {
    use converge::fleet::ClusterResult as R;
    let mut stages: Vec<&crate::fleet::Stage> =
        members.iter().filter_map(|m| m.stage.as_ref()).collect();
    stages.sort_by_key(|s| s.index);
    stages.dedup_by_key(|s| s.index);
    for stage in stages {
        let mut by: std::collections::BTreeMap<&str, Vec<&str>> = std::collections::BTreeMap::new();
        for (m, (name, result)) in members.iter().zip(results) {
            if m.stage.as_ref().map(|s| s.index) != Some(stage.index) {
                continue;
            }
            let what = match result {
                R::Planned(_) => "planned",
                R::Applied(_) => "converged",
                R::NotApplied(_) => "not applied",
                R::Held(..) => "not started",
                R::Failed(_) => "failed",
            };
            by.entry(what).or_default().push(name);
        }
        let line = by
            .iter()
            .map(|(what, names)| format!("{what} on {}", names.join(", ")))
            .collect::<Vec<_>>()
            .join("; ");
        let msg = format!("stage {} ({}): {line}", stage.index + 1, stage.name);
        if by.contains_key("failed") || by.contains_key("not started") {
            printer.warn(&msg);
        } else {
            printer.info(&msg);
        }
    }
}

/// The clusters of a fleet file with `clusters:` and how to reach each (its kubeconfig, else
/// the flags'), for the read-only commands (`list -f`, `status -f`).
pub(crate) fn fleet_clusters(
    file: &std::path::Path,
    kube: &crate::cli::args::KubeArgs,
) -> anyhow::Result<Vec<(String, crate::cluster::Connection)>> {
    let text = fs_err::read_to_string(file)?;
    match crate::fleet::parse(&text, &file.display().to_string()).map_err(crate::fault::user)? {
        crate::fleet::Fleet::Single(_) => Err(UserError::msg(format!(
            "`{}` has no `clusters:` (apiVersion `{}`); use `--context` for one cluster",
            file.display(),
            crate::fleet::FLEET_V1ALPHA2
        ))
        .into()),
        crate::fleet::Fleet::Clusters(members) => Ok(members
            .into_iter()
            .map(|m| (m.cluster.name.to_string(), connection(&m.cluster, kube)))
            .collect()),
    }
}

/// How to reach a fleet's cluster: its own kubeconfig and context, else the flags'.
pub(super) fn connection(
    entry: &crate::fleet::ClusterEntry,
    kube: &crate::cli::args::KubeArgs,
) -> crate::cluster::Connection {
    crate::cluster::Connection {
        kubeconfig: entry.kubeconfig.clone().or_else(|| kube.kubeconfig.clone()),
        context: entry.context.clone().or_else(|| kube.context.clone()),
        qps: kube.qps,
        burst: kube.burst,
    }
}

/// The printer of a planning run: its `-v` timings as JSON Lines with `-o json`, else as text.
pub(super) fn driver_printer(args: &PlanArgs, printer: &Printer) -> Printer {
    let timings = match args.output {
        PlanOutput::Json => crate::printer::TimingsFormat::Json,
        _ => crate::printer::TimingsFormat::Text,
    };
    Printer { timings, ..*printer }
}

/// Loads the matrix from `--matrix-dir` or the built-in copy.
pub(super) fn load_matrix(
    source: &crate::cli::args::MatrixSource,
) -> anyhow::Result<crate::matrix::Matrix> {
    let Some(dir) = &source.matrix_dir else { return Ok(crate::matrix::Matrix::embedded()) };
    let mut files = Vec::new();
    // The records and rules, then the compatibility lab's evidence (`evidence/`, when present).
    for (sub, prefix) in [(dir.clone(), ""), (dir.join("evidence"), "evidence/")] {
        if !prefix.is_empty() && !sub.is_dir() {
            continue;
        }
        for entry in fs_err::read_dir(&sub)? {
            let path = entry?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
            if path.is_file()
                && std::path::Path::new(&name).extension().is_some_and(|e| e == "yaml")
            {
                files.push((format!("{prefix}{name}"), fs_err::read_to_string(&path)?));
            }
        }
    }
    crate::matrix::Matrix::from_files(files.iter().map(|(n, t)| (n.as_str(), t.as_str())))
        .map_err(crate::fault::user)
}
