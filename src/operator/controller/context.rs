//! What every reconcile shares: the client, the release loader, the matrix, the options, the
//! event recorder and metrics. **I/O types.**

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::Client;
use kube::runtime::events::Recorder;

use crate::converge::ReleaseSource;
use crate::matrix::Matrix;
use crate::operator::serve::Metrics;
use crate::printer::Printer;
use crate::release::{Release, TektonVersion};

/// The field manager of the operator's status writes (its writes to the cluster's objects use
/// the CLI's, so that the two never conflict over a field).
pub const STATUS_MANAGER: &str = "tkn-multi-operator";
/// How soon a reconcile that found the lock held tries again.
pub(super) const LOCKED_RETRY: Duration = Duration::from_secs(5);

/// How the operator runs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Re-check every fleet this often, changed or not.
    pub resync: Duration,
    /// How long a reconcile waits for the cluster lock before it retries later.
    pub lock_timeout: Duration,
    /// How to execute plans.
    pub apply: crate::apply::Options,
    /// Where `/metrics`, `/healthz` and `/readyz` are served.
    pub metrics_address: std::net::SocketAddr,
}

/// Loads releases for the operator: the shell's loader behind a concrete type, so the
/// reconcile futures can be spawned.
pub type LoadRelease = Arc<
    dyn Fn(TektonVersion) -> futures::future::BoxFuture<'static, anyhow::Result<Release>>
        + Send
        + Sync,
>;

pub(super) struct Loader(pub(super) LoadRelease);

impl ReleaseSource for Loader {
    async fn load(&self, version: &TektonVersion) -> anyhow::Result<Release> {
        (self.0)(version.clone()).await
    }
}

pub(super) struct Context {
    pub(super) client: Client,
    pub(super) releases: Loader,
    pub(super) matrix: Matrix,
    pub(super) opts: Settings,
    pub(super) recorder: Recorder,
    pub(super) metrics: Arc<Metrics>,
    pub(super) printer: Printer,
    pub(super) failures: Mutex<HashMap<String, u32>>,
}
