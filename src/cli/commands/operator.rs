//! `tkn-multi operator …`: operator mode. `operator crd` prints the `TektonFleet` CRD,
//! generated from the Rust types (`manifests/crd.yaml` is this output, drift-tested);
//! `operator run` reconciles `TektonFleet`s (see [`crate::operator::controller`]).

use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand};

use crate::cli::args::KubeArgs;
use crate::cli::args::MatrixSource;
use crate::cli::exit::ExitStatus;
use crate::cli::settings::{Env, SourceArgs};
use crate::printer::Printer;

/// `operator` subcommands.
#[derive(Debug, Subcommand)]
pub enum OperatorCommand {
    /// Print the `TektonFleet` CRD (YAML), for `kubectl apply -f -`.
    Crd,
    /// Run the operator: reconcile every `TektonFleet` until SIGTERM or Ctrl-C.
    ///
    /// In a pod it uses the pod's service account; elsewhere the kubeconfig, as kubectl does.
    /// Example: `tkn-multi operator run --resync 300`
    Run(Box<RunArgs>),
}

/// Arguments of `operator run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Re-check every fleet this often, in seconds, changed or not (drift the watches miss).
    #[arg(long, value_name = "SECONDS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    pub resync: u64,
    /// Serve `/metrics`, `/healthz` and `/readyz` here.
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:8080")]
    pub metrics_address: std::net::SocketAddr,
    /// How long a reconcile waits for the cluster lock (held by a CLI run) before it retries.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub lock_timeout: u64,
    /// The overall deadline of one reconcile's plan: every wait in it (a Deployment Available, a
    /// CRD Established) must be done before it.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub timeout: u64,
    /// How many steps run at once.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub source: SourceArgs,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub matrix: MatrixSource,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub kube: KubeArgs,
}

/// Runs an `operator` subcommand.
pub async fn run(cmd: OperatorCommand, env: &Env, printer: &Printer) -> anyhow::Result<ExitStatus> {
    match cmd {
        OperatorCommand::Crd => printer.data(&crate::operator::crd_yaml()?)?,
        OperatorCommand::Run(args) => operate(*args, env, *printer).await?,
    }
    Ok(ExitStatus::Success)
}

async fn operate(args: RunArgs, env: &Env, printer: Printer) -> anyhow::Result<()> {
    if let Some(file) = &args.source.release_file {
        return Err(crate::fault::UserError::msg(format!(
            "`operator run` loads releases by the versions fleets name, not from one file ({}); use --release-dir with `pipeline/<VERSION>.yaml` files",
            file.display()
        ))
        .into());
    }
    let matrix = super::common::load_matrix(&args.matrix)?;
    let client = crate::cluster::connect(&args.kube.connection()).await?;
    let source = args.source.clone();
    let env = env.clone();
    let load: crate::operator::controller::LoadRelease = Arc::new(move |version| {
        let (source, env) = (source.clone(), env.clone());
        Box::pin(async move {
            Ok(super::common::load_release(&version, &source, &env, &printer).await?.0)
        })
    });
    let opts = crate::operator::controller::Settings {
        resync: Duration::from_secs(args.resync),
        lock_timeout: Duration::from_secs(args.lock_timeout),
        apply: crate::apply::Options {
            field_manager: args.kube.field_manager.clone(),
            timeout: Duration::from_secs(args.timeout),
            force_conflicts: false,
            force_fields: true,
            server_dry_run: false,
            concurrency: usize::from(args.concurrency),
            chunk_size: 500,
            guard: None,
        },
        metrics_address: args.metrics_address,
    };
    crate::operator::controller::run(client, load, matrix, opts, printer).await
}
