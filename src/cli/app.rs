//! The command line: clap's definition of every command, and running one. **The shell.**
use clap::{Args, Parser, Subcommand};

use crate::cli::exit::ExitStatus;
use crate::printer::{ColorChoice, Printer};

/// Install, upgrade and uninstall several Tekton Pipelines instances in one cluster.
///
/// Tekton's CRDs and conversion webhook are cluster-wide; tkn-multi runs them once, shared, and
/// gives every instance its own controller, admission webhook and configuration, limited to its
/// own namespace.
#[derive(Debug, Parser)]
#[command(name = "tkn-multi", version, max_term_width = 100)]
#[command(
    after_help = "Exit codes: 0 success, 1 the request cannot be done as asked, 2 unexpected failure."
)]
pub struct Cli {
    /// Output and verbosity.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
#[command(next_help_heading = "Output options")]
pub struct GlobalArgs {
    /// Print only errors on stderr.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Say more on stderr (repeatable): the release used, every step as it runs, and where the
    /// time went (lock, observe, plan, ownership reads, steps by kind, the slowest steps); with
    /// `-o json` the timings are JSON Lines (`{"phase":…,"seconds":…}`).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// When to colour the output; `NO_COLOR` turns `auto` off.
    #[arg(long, value_name = "WHEN", value_enum, global = true, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the manifests of the shared part and of one instance, without a cluster.
    ///
    /// Like `helm template`: nothing is sent anywhere. Pipe the output to
    /// `kubectl apply --server-side -f -`, or write a `GitOps` tree with `--output-dir`.
    ///
    /// Example: `tkn-multi render v0.50.3 --namespace team-a --release-file release.yaml`
    Render(super::commands::render::RenderArgs),
    /// Show which part every object of a release goes to, and why.
    ///
    /// Example: `tkn-multi split v0.50.3 -o json`
    Split(super::commands::split::SplitArgs),
    /// Download releases into the local cache, recording their sha256.
    ///
    /// Example: `tkn-multi fetch v0.44.2 v0.50.3`
    Fetch(super::commands::fetch::FetchArgs),
    /// Carry releases to air-gapped machines.
    #[command(subcommand)]
    Bundle(super::commands::bundle::BundleCommand),
    /// The compatibility matrix: which shared version can serve which instances.
    #[command(subcommand)]
    Matrix(super::commands::matrix::MatrixCommand),
    /// Operator mode: the `TektonFleet` resource.
    #[command(subcommand)]
    Operator(super::commands::operator::OperatorCommand),
    /// Install a Tekton instance into a namespace.
    ///
    /// Plans the instance and whatever the shared layer needs; `--dry-run` prints the plan.
    ///
    /// Example: `tkn-multi install v0.44.2 --namespace team-a --dry-run --state cluster.yaml`
    Install(super::commands::install::InstallArgs),
    /// Move an instance to another Tekton version.
    ///
    /// Example: `tkn-multi upgrade team-a --to v0.50.3 --dry-run --state cluster.yaml`
    Upgrade(super::commands::upgrade::UpgradeArgs),
    /// Judge what moving an instance to another version breaks in its Tekton objects.
    ///
    /// Read-only: lists the instance's objects and compares the two releases. Exits 1 on a
    /// blocker.
    ///
    /// Example: `tkn-multi precheck team-b --to v1.15.1 -o json`
    Precheck(super::commands::precheck::PrecheckArgs),
    /// Remove an instance; the shared layer goes with the last one unless `--keep-shared`.
    ///
    /// Shared CRDs are never deleted while any instance or Tekton object remains.
    ///
    /// Example: `tkn-multi uninstall team-a --dry-run --state cluster.yaml`
    #[command(visible_alias = "rm")]
    Uninstall(super::commands::uninstall::UninstallArgs),
    /// List the instances and the shared layer, discovered from the cluster's labels.
    ///
    /// `-o yaml` prints the state file the planning commands read with `--state`.
    #[command(visible_alias = "ls")]
    List(super::commands::list::ListArgs),
    /// Show the readiness of an instance's components (and the shared ones), with recent warnings.
    ///
    /// Example: `tkn-multi status team-a`
    Status(super::commands::status::StatusArgs),
    /// Converge the cluster to a fleet file: every instance and the shared-layer policy.
    ///
    /// Example: `tkn-multi apply -f fleet.yaml --dry-run --state cluster.yaml`
    Apply(super::commands::apply::ApplyArgs),
    /// Give a fleet's stage the version another stage runs (dev → prod), by editing the file.
    ///
    /// Checks that the source stage runs the instance Ready on every cluster, runs the upgrade
    /// precheck on the destination's, rewrites the fleet file with a minimal edit (comments and
    /// layout kept) and prints the diff; `--apply` then converges the destination stage.
    ///
    /// Example: `tkn-multi promote build --from dev --to prod -f fleet.yaml --dry-run`
    Promote(super::commands::promote::PromoteArgs),
    /// Renew the webhook certificates of instances before v0.44, which tkn-multi owns.
    ///
    /// Every install, upgrade and apply renews a serving certificate with less than 90 days
    /// left; this renews it now, and with `--ca` replaces the CA too, never leaving admission
    /// without a trusted certificate.
    ///
    /// Example: `tkn-multi rotate-certs team-a --dry-run`
    RotateCerts(super::commands::rotate_certs::RotateCertsArgs),
    /// Print a shell completion script.
    ///
    /// Example: `tkn-multi completion bash > /etc/bash_completion.d/tkn-multi`
    Completion(super::commands::completion::CompletionArgs),
    /// Print the manual page (roff) of tkn-multi or of one of its commands.
    ///
    /// Example: `tkn-multi man install | man -l -`
    Man(super::commands::completion::ManArgs),
}

/// Runs a parsed command line, saying what it does through `printer` (made from `cli.global`).
pub async fn run(cli: Cli, printer: Printer) -> anyhow::Result<ExitStatus> {
    let env = super::settings::Env::from_process();
    // With `--detailed-exitcode` every error of a planning command exits 1 (2 means "changes").
    let detailed = match &cli.command {
        Command::Install(a) => a.plan.detailed_exitcode,
        Command::Upgrade(a) => a.plan.detailed_exitcode,
        Command::Uninstall(a) => a.plan.detailed_exitcode,
        Command::Apply(a) => a.plan.detailed_exitcode,
        Command::RotateCerts(a) => a.plan.detailed_exitcode,
        _ => false,
    };
    let result = match cli.command {
        Command::Render(args) => super::commands::render::run(args, &env, &printer).await,
        Command::Split(args) => super::commands::split::run(args, &env, &printer).await,
        Command::Fetch(args) => super::commands::fetch::run(args, &env, &printer).await,
        Command::Bundle(cmd) => super::commands::bundle::run(cmd, &env, &printer).await,
        Command::Matrix(cmd) => super::commands::matrix::run(cmd, &env, &printer).await,
        Command::Operator(cmd) => super::commands::operator::run(cmd, &env, &printer).await,
        Command::List(args) => super::commands::list::run(args, &env, &printer).await,
        Command::Status(args) => super::commands::status::run(args, &env, &printer).await,
        Command::Precheck(args) => super::commands::precheck::run(args, &env, &printer).await,
        Command::Promote(args) => super::commands::promote::run(args, &env, &printer).await,
        Command::Install(args) => super::commands::install::run(args, &env, &printer).await,
        Command::Upgrade(args) => super::commands::upgrade::run(args, &env, &printer).await,
        Command::Uninstall(args) => super::commands::uninstall::run(args, &env, &printer).await,
        Command::Apply(args) => super::commands::apply::run(args, &env, &printer).await,
        Command::RotateCerts(args) => {
            super::commands::rotate_certs::run(args, &env, &printer).await
        }
        Command::Completion(args) => super::commands::completion::completion(
            &args,
            <Cli as clap::CommandFactory>::command(),
            &printer,
        ),
        Command::Man(args) => super::commands::completion::man(
            &args,
            <Cli as clap::CommandFactory>::command(),
            &printer,
        ),
    };
    detailed_errors(detailed, printer, result)
}

/// With `--detailed-exitcode` every error exits 1, because 2 means "changes present"
/// (Terraform's contract).
pub(super) fn detailed_errors(
    detailed: bool,
    printer: Printer,
    result: anyhow::Result<ExitStatus>,
) -> anyhow::Result<ExitStatus> {
    match result {
        Err(e) if detailed => {
            printer.error(&crate::cli::exit::render(&e));
            Ok(ExitStatus::UserError)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory as _;
        super::Cli::command().debug_assert();
    }
}
