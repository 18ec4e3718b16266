//! Waits: watch one object until a pure predicate of [`super::conditions`] holds (a list, then a
//! watch from its resourceVersion, as `kubectl wait` and kube-runtime's `await_condition` do; kept
//! by hand so that a timeout can say the last status seen), and the conversion check after the
//! shared webhook rolled out. **I/O.**

use std::time::Duration;
use std::time::Instant;

use anyhow::bail;
use kube::core::GroupVersionKind;
use serde_json::Value;

use crate::cluster::Apis;

/// Watches object `name` (a list, then a watch from its resourceVersion, as `kubectl wait`
/// does) until `done` holds for it (`None`: it does not exist), or `deadline` passes:
/// `Err(last seen)` then. No polling interval stands between a change and its notice.
pub(super) async fn watch_until(
    api: kube::Api<kube::api::DynamicObject>,
    name: &str,
    deadline: Instant,
    done: impl Fn(&Option<Value>) -> bool,
) -> anyhow::Result<Result<(), Option<Value>>> {
    use futures::TryStreamExt;
    let mut last = None;
    let watched = tokio::time::timeout_at(tokio::time::Instant::from_std(deadline), async {
        let mut events = std::pin::pin!(kube::runtime::watcher::watch_object(api, name));
        while let Some(seen) = events.try_next().await? {
            last = seen.map(|o| serde_json::to_value(o).unwrap_or_default());
            if done(&last) {
                return Ok(true);
            }
        }
        Ok::<_, kube::runtime::watcher::Error>(false)
    })
    .await;
    match watched {
        Ok(Ok(true)) => Ok(Ok(())),
        Ok(Ok(false)) => bail!("the watch of `{name}` ended"),
        Ok(Err(e)) => Err(anyhow::Error::new(e).context(format!("cannot watch `{name}`"))),
        Err(_elapsed) => Ok(Err(last)),
    }
}

pub(super) async fn wait(
    apis: &Apis,
    gvk: &GroupVersionKind,
    namespace: Option<&str>,
    name: &str,
    ready: fn(&Value) -> bool,
    deadline: Instant,
) -> anyhow::Result<()> {
    let api = apis.api(gvk, namespace).await?;
    let watched = watch_until(api, name, deadline, |o| o.as_ref().is_some_and(ready)).await?;
    if let Err(last) = watched {
        let status = last.as_ref().map_or(Value::Null, |o| o["status"].clone());
        bail!(
            "timed out waiting for {} `{name}` to be ready; last status: {}",
            gvk.kind,
            serde_json::to_string(&status).unwrap_or_default()
        );
    }
    Ok(())
}

/// After the webhook Deployment in `namespace` rolled out: waits until conversions through it
/// work ([`crate::cluster::conversion_failures`]). Real Tekton needs this: a new webhook pod
/// reports Ready a moment before its certificate Secret has synced, and conversions fail
/// meanwhile (`tls: unrecognized name`; seen with v1.9.0 replacing v0.56.0).
pub(super) async fn wait_conversions(
    apis: &Apis,
    namespace: &str,
    deadline: Instant,
) -> anyhow::Result<()> {
    use backon::Retryable as _;
    // Only a webhook that cannot be reached, or whose TLS fails, is not serving yet. An answer
    // that refuses a conversion is the webhook serving: a new shared webhook refuses versions it
    // no longer converts (v1alpha1 Tasks, v0.56.0 after v0.24.1) until the next steps update the
    // CRDs. The API server words an unreachable one as
    // `conversion webhook for … failed: Post "https://…": <transport error>`.
    let unreachable = || async {
        let failures: Vec<String> =
            crate::cluster::conversion_failures(apis, None, Some(namespace))
                .await
                .map_err(Check::Failed)?
                .into_iter()
                .filter(|f| f.contains("Post \"https://"))
                .collect();
        if failures.is_empty() { Ok(()) } else { Err(Check::NotYet(failures)) }
    };
    let left = deadline.saturating_duration_since(Instant::now());
    match unreachable
        .retry(crate::cluster::retry::every(Duration::from_millis(250), left))
        .when(|c| matches!(c, Check::NotYet(_)))
        .await
    {
        Ok(()) => Ok(()),
        Err(Check::Failed(e)) => Err(e),
        Err(Check::NotYet(failures)) => bail!(
            "conversions through the webhook in `{namespace}` still fail: {}",
            failures.join("; ")
        ),
    }
}

/// A check of conversions: not serving yet (tried again), or the check itself failed.
enum Check {
    NotYet(Vec<String>),
    Failed(anyhow::Error),
}
