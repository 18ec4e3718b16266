//! The cluster-side lock: a `coordination.k8s.io` Lease that serialises tkn-multi runs. **I/O.**
//!
//! One Lease, `kube-system/tkn-multi`, held for the whole plan-and-apply of a changing command and
//! renewed every 10 s. A second run waits up to `--lock-timeout`, then fails naming the holder. A
//! killed run stops renewing, so its lease expires after 30 s and the next run takes it over.

use std::time::Duration;

use anyhow::Context as _;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;

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

/// Takes the lock, waiting up to `timeout` for another holder.
pub async fn acquire(client: &Client, identity: &str, timeout: Duration) -> anyhow::Result<Held> {
    let api: Api<Lease> = Api::namespaced(client.clone(), LOCK_NAMESPACE);
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match api.create(&PostParams::default(), &ours(identity, None)).await {
            Ok(_) => break,
            Err(kube::Error::Api(e)) if e.code == 409 => {}
            Err(e) => {
                return Err(e).context("cannot create the lock Lease `kube-system/tkn-multi`");
            }
        }
        let current = api.get(LOCK_NAME).await.context("cannot read the lock Lease")?;
        if expired(&current) {
            // Optimistic take-over: the resourceVersion makes a racing run fail with 409.
            match api
                .replace(
                    LOCK_NAME,
                    &PostParams::default(),
                    &ours(identity, current.metadata.resource_version.clone()),
                )
                .await
            {
                Ok(_) => break,
                Err(kube::Error::Api(e)) if e.code == 409 => continue,
                Err(e) => return Err(e).context("cannot take over the expired lock"),
            }
        }
        if tokio::time::Instant::now() >= deadline {
            let spec = current.spec.unwrap_or_default();
            return Err(UserError(format!(
                "the cluster is locked by `{}` (since {}): another tkn-multi run is in progress; wait, or raise \
                 `--lock-timeout` (a killed run's lock expires {LEASE_SECONDS} s after its last renewal)",
                spec.holder_identity.unwrap_or_default(),
                spec.acquire_time.map(|t| t.0.to_string()).unwrap_or_default()
            ))
            .into());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let renew_api = api.clone();
    let renewer = tokio::spawn(async move {
        loop {
            tokio::time::sleep(RENEW_EVERY).await;
            let patch = json!({"spec": {"renewTime": MicroTime(Timestamp::now())}});
            let _ = renew_api.patch(LOCK_NAME, &PatchParams::default(), &Patch::Merge(patch)).await;
        }
    });
    Ok(Held { api, identity: identity.to_owned(), renewer })
}

impl Held {
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
