//! The cluster-side lock: a `coordination.k8s.io` Lease that serialises tkn-multi runs. **I/O.**
//!
//! One Lease, `kube-system/tkn-multi`, held for the whole plan-and-apply of a changing command and
//! renewed every 10 s. A second run waits up to `--lock-timeout`, then fails naming the holder. A
//! killed run stops renewing, so its lease expires after 30 s and the next run takes it over.
//!
//! Renewal replaces the Lease with its `resourceVersion` as precondition, and only while the Lease
//! still names this run. A run that finds another holder, or could not renew for longer than the
//! lease lasts (a stalled process, an unreachable API server), has **lost** the lock: [`Guard`]
//! refuses every later write (the executor asks it before each step), naming the new holder.
//!
//! Written by hand rather than with a leader-election crate: tkn-multi needs a lock for one run
//! (take, renew, release, and refuse writes once lost), not a leader elected forever; the crates
//! for kube-rs (kube-leader-election, kube-lease-manager) renew by a patch without the
//! `resourceVersion` precondition or hold leadership in a background loop the caller cannot ask
//! "do I still hold it, now?" before a write.

use std::time::Duration;

use anyhow::Context as _;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, DeleteParams, PostParams};

use crate::fault::UserError;

/// Namespace of the lock.
pub const LOCK_NAMESPACE: &str = "kube-system";
/// Name of the lock.
pub const LOCK_NAME: &str = "tkn-multi";
/// How long a lease lasts without renewal.
pub const LEASE_SECONDS: i32 = 30;
const RENEW_EVERY: Duration = Duration::from_secs(10);

/// A held lock; renewed in the background until [`Held::release`] (or drop, which stops renewing).
pub struct Held {
    api: Api<Lease>,
    identity: String,
    renewer: tokio::task::JoinHandle<()>,
    guard: Guard,
}

/// Asks, before a write, whether this run still holds the lock. Cheap (no request): the renewer
/// records what it found, and a renewal older than the lease is a loss.
#[derive(Clone)]
pub struct Guard(std::sync::Arc<std::sync::Mutex<GuardState>>);

struct GuardState {
    last_renewal: std::time::Instant,
    lost: Option<String>,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Guard")
    }
}

/// The lock was lost while the run was writing.
#[derive(Debug, thiserror::Error)]
#[error(
    "this run lost the cluster lock `kube-system/tkn-multi`: {0}; it stopped before its next write (re-run to converge)"
)]
pub struct Lost(pub String);

impl Guard {
    fn new() -> Self {
        Guard(std::sync::Arc::new(std::sync::Mutex::new(GuardState {
            last_renewal: std::time::Instant::now(),
            lost: None,
        })))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, GuardState> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether this run may still write.
    ///
    /// # Errors
    /// [`Lost`]: another run holds the lock, or this one could not renew it in time.
    pub fn check(&self) -> Result<(), Lost> {
        let s = self.state();
        if let Some(why) = &s.lost {
            return Err(Lost(why.clone()));
        }
        let since = s.last_renewal.elapsed();
        if since > Duration::from_secs(LEASE_SECONDS.unsigned_abs().into()) {
            return Err(Lost(format!(
                "it was last renewed {} s ago, longer than the lease lasts ({LEASE_SECONDS} s): another run may hold it now",
                since.as_secs()
            )));
        }
        Ok(())
    }

    fn renewed(&self) {
        self.state().last_renewal = std::time::Instant::now();
    }

    fn lose(&self, why: String) {
        self.state().lost.get_or_insert(why);
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.renewer.abort();
    }
}

fn expired(lease: &Lease) -> bool {
    let Some(spec) = &lease.spec else { return true };
    if spec.holder_identity.as_deref().unwrap_or_default().is_empty() {
        return true;
    }
    let seconds = i64::from(spec.lease_duration_seconds.unwrap_or(LEASE_SECONDS));
    spec.renew_time
        .as_ref()
        .or(spec.acquire_time.as_ref())
        .is_none_or(|t| Timestamp::now().as_second() > t.0.as_second() + seconds)
}

fn ours(identity: &str, resource_version: Option<String>) -> Lease {
    let now = MicroTime(Timestamp::now());
    Lease {
        metadata: ObjectMeta {
            name: Some(LOCK_NAME.into()),
            namespace: Some(LOCK_NAMESPACE.into()),
            resource_version,
            labels: Some([("app.kubernetes.io/name".to_owned(), "tkn-multi".to_owned())].into()),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(identity.into()),
            lease_duration_seconds: Some(LEASE_SECONDS),
            acquire_time: Some(now.clone()),
            renew_time: Some(now),
            ..LeaseSpec::default()
        }),
    }
}

/// One try at the lock: taken, or why not yet.
enum Attempt {
    Taken,
    /// Held by another run: its Lease.
    Held(Box<Lease>),
    /// The Lease changed under us (released between our create and read, or taken over by a
    /// racing run): try again.
    Changed,
}

async fn attempt(api: &Api<Lease>, identity: &str) -> anyhow::Result<Attempt> {
    match api.create(&PostParams::default(), &ours(identity, None)).await {
        Ok(_) => return Ok(Attempt::Taken),
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => return Err(e).context("cannot create the lock Lease `kube-system/tkn-multi`"),
    }
    // The holder may release the lock (delete the Lease) between our create and this read: then
    // the lock is free, and the next create takes it.
    let Some(current) = api.get_opt(LOCK_NAME).await.context("cannot read the lock Lease")? else {
        return Ok(Attempt::Changed);
    };
    if !expired(&current) {
        return Ok(Attempt::Held(Box::new(current)));
    }
    // Optimistic take-over: the resourceVersion makes a racing run fail with 409.
    let version = current.metadata.resource_version.clone();
    match api.replace(LOCK_NAME, &PostParams::default(), &ours(identity, version)).await {
        Ok(_) => Ok(Attempt::Taken),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(Attempt::Changed),
        Err(e) => Err(e).context("cannot take over the expired lock"),
    }
}

/// Why a try did not take the lock, for backon: the first two are tried again.
enum Retry {
    Held(Box<Lease>),
    Changed,
    Failed(anyhow::Error),
}

impl From<anyhow::Error> for Retry {
    fn from(e: anyhow::Error) -> Self {
        Retry::Failed(e)
    }
}

/// How often a waiting run tries the lock again.
const TRY_EVERY: Duration = Duration::from_millis(500);

/// Takes the lock, waiting up to `timeout` for another holder (tried every 500 ms, with backon).
pub async fn acquire(client: &Client, identity: &str, timeout: Duration) -> anyhow::Result<Held> {
    use backon::Retryable as _;
    let api: Api<Lease> = Api::namespaced(client.clone(), LOCK_NAMESPACE);
    // `Ok(Err(lease))`: still held when the tries ran out; `Err`: an API failure, not retried.
    let outcome = (|| async {
        match attempt(&api, identity).await? {
            Attempt::Taken => Ok(Ok(())),
            Attempt::Held(lease) => Err(Retry::Held(lease)),
            Attempt::Changed => Err(Retry::Changed),
        }
    })
    .retry(super::retry::every(TRY_EVERY, timeout))
    .when(|e| !matches!(e, Retry::Failed(_)))
    .await
    .or_else(|e| match e {
        Retry::Failed(e) => Err(e),
        Retry::Held(lease) => Ok(Err(lease)),
        Retry::Changed => Ok(Err(Box::default())),
    })?;
    if let Err(current) = outcome {
        let spec = current.spec.unwrap_or_default();
        return Err(UserError::msg(format!(
            "the cluster is locked by `{}` (since {}): another tkn-multi run is in progress; wait, or raise \
             `--lock-timeout` (a killed run's lock expires {LEASE_SECONDS} s after its last renewal)",
            spec.holder_identity.unwrap_or_default(),
            spec.acquire_time.map(|t| t.0.to_string()).unwrap_or_default()
        ))
        .into());
    }
    let guard = Guard::new();
    let renewer = tokio::spawn(renew(api.clone(), identity.to_owned(), guard.clone()));
    Ok(Held { api, identity: identity.to_owned(), renewer, guard })
}

/// Renews every [`RENEW_EVERY`] while the Lease names `identity`, with its `resourceVersion` as
/// precondition; records a loss in `guard` and stops when another run holds it, or when no
/// renewal succeeded for as long as the lease lasts.
async fn renew(api: Api<Lease>, identity: String, guard: Guard) {
    loop {
        tokio::time::sleep(RENEW_EVERY).await;
        if guard.check().is_err() {
            // Stalled past the lease (the process was stopped, the API unreachable): whatever
            // the Lease says now, this run must not write again.
            if let Ok(current) = api.get(LOCK_NAME).await {
                let holder = current.spec.and_then(|s| s.holder_identity).unwrap_or_default();
                guard.lose(format!("its renewals stalled, and the Lease now names `{holder}`"));
            } else {
                guard.lose("its renewals stalled past the lease".into());
            }
            return;
        }
        let current = match api.get(LOCK_NAME).await {
            Ok(c) => c,
            Err(kube::Error::Api(e)) if e.code == 404 => {
                guard.lose("the Lease was deleted".into());
                return;
            }
            Err(_) => continue, // retried; the guard times out if this lasts
        };
        let holder =
            current.spec.as_ref().and_then(|s| s.holder_identity.clone()).unwrap_or_default();
        if holder != identity {
            guard.lose(format!("it is held by `{holder}` now"));
            return;
        }
        let mut renewed = current.clone();
        if let Some(spec) = renewed.spec.as_mut() {
            spec.renew_time = Some(MicroTime(Timestamp::now()));
        }
        // On a conflict (changed since the read) the next round reads it again and sees who
        // holds it.
        if api.replace(LOCK_NAME, &PostParams::default(), &renewed).await.is_ok() {
            guard.renewed();
        }
    }
}

impl Held {
    /// The guard the executor asks before each write.
    pub fn guard(&self) -> Guard {
        self.guard.clone()
    }

    /// Releases the lock if this run still holds it.
    pub async fn release(self) -> anyhow::Result<()> {
        self.renewer.abort();
        if let Ok(current) = self.api.get(LOCK_NAME).await
            && current.spec.and_then(|s| s.holder_identity).as_deref()
                == Some(self.identity.as_str())
        {
            self.api
                .delete(LOCK_NAME, &DeleteParams::default())
                .await
                .context("cannot release the lock")?;
        }
        Ok(())
    }
}

/// This run's identity: host and process id.
pub fn identity() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map_or_else(|_| "unknown-host".into(), |h| h.trim().to_owned());
    format!("tkn-multi@{host}/{}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An API server whose Lease answers are scripted: each request takes the next answer.
    #[derive(Clone)]
    struct Scripted {
        answers: std::sync::Arc<std::sync::Mutex<Vec<(u16, serde_json::Value)>>>,
        seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    }

    impl tower::Service<http::Request<kube::client::Body>> for Scripted {
        type Response = http::Response<http_body_util::Full<bytes::Bytes>>;
        type Error = std::convert::Infallible;
        type Future = std::future::Ready<Result<Self::Response, Self::Error>>;

        fn poll_ready(
            &mut self,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<(), Self::Error>> {
            std::task::Poll::Ready(Ok(()))
        }

        fn call(&mut self, req: http::Request<kube::client::Body>) -> Self::Future {
            self.seen.lock().unwrap().push(format!("{} {}", req.method(), req.uri().path()));
            let (code, body) = self.answers.lock().unwrap().remove(0);
            std::future::ready(Ok(http::Response::builder()
                .status(code)
                .header("content-type", "application/json")
                .body(http_body_util::Full::new(bytes::Bytes::from(body.to_string())))
                .unwrap()))
        }
    }

    fn status(code: u16, reason: &str) -> (u16, serde_json::Value) {
        let body = serde_json::json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
            "reason": reason, "code": code, "message": reason});
        (code, body)
    }

    /// The holder releases the lock (deletes the Lease) between our create (409) and our read
    /// (404): the lock is free, and the next create takes it.
    #[test]
    fn a_lease_released_between_create_and_read_is_a_free_lock() {
        let lease = serde_json::to_value(ours("us", Some("2".into()))).unwrap();
        let fake = Scripted {
            answers: std::sync::Arc::new(std::sync::Mutex::new(vec![
                status(409, "AlreadyExists"),
                status(404, "NotFound"),
                (201, lease),
            ])),
            seen: std::sync::Arc::default(),
        };
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let held = runtime.block_on(async {
            acquire(&Client::new(fake.clone(), "default"), "us", Duration::from_secs(5)).await
        });
        let held = held.expect("the lock is taken");
        held.renewer.abort();
        let path = format!("/apis/coordination.k8s.io/v1/namespaces/{LOCK_NAMESPACE}/leases");
        assert_eq!(
            *fake.seen.lock().unwrap(),
            [format!("POST {path}"), format!("GET {path}/{LOCK_NAME}"), format!("POST {path}")]
        );
    }

    #[test]
    fn a_guard_refuses_once_lost_or_stale() {
        let g = Guard::new();
        assert!(g.check().is_ok());
        g.state().last_renewal =
            std::time::Instant::now().checked_sub(Duration::from_secs(31)).unwrap();
        let err = g.check().unwrap_err().to_string();
        assert!(err.contains("last renewed 31 s ago"), "{err}");
        g.renewed();
        assert!(g.check().is_ok());
        g.lose("it is held by `other` now".into());
        g.lose("a later reason does not replace the first".into());
        assert_eq!(
            g.check().unwrap_err().to_string(),
            "this run lost the cluster lock `kube-system/tkn-multi`: it is held by `other` now; it stopped before its next write (re-run to converge)"
        );
    }
}
