//! Stored-version migrations: every object of a CRD rewritten at the storage version, page by
//! page, then `status.storedVersions` set and checked. **I/O.**

use std::time::Duration;

use anyhow::{Context as _, bail};
use backon::Retryable as _;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use serde_json::json;

use super::terms::{api_error, gvk_of};
use crate::cluster::Apis;
use crate::cluster::retry::every;

/// Rewrites one object at the storage version (a replace of what was read).
pub(super) async fn rewrite(
    apis: &Apis,
    gvk: &GroupVersionKind,
    crd_name: &str,
    o: &kube::api::DynamicObject,
) -> anyhow::Result<()> {
    let ns_api = apis.api(gvk, o.metadata.namespace.as_deref()).await?;
    let name = o.metadata.name.clone().unwrap_or_default();
    // A rewrite passes the admission webhooks of the object's namespace; one that is rolling
    // out at the same moment (an instance upgraded with the shared layer) may fail a call
    // (seen on the real cluster: "failed calling webhook … rejected our request for an
    // unknown reason" while a v0.41.2 instance webhook gave way to v0.56.0). Retry those.
    let post = PostParams::default();
    let written = (|| ns_api.replace(&name, &post, o))
        .retry(every(Duration::from_millis(500), Duration::from_secs(60)))
        .when(|e| {
            matches!(e, kube::Error::Api(e) if e.code == 500 && e.message.contains("failed calling webhook"))
        })
        .await;
    match written {
        Ok(_) => Ok(()),
        // Deleted or changed meanwhile: either way it was written at the storage version.
        Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot rewrite {crd_name} `{name}`")),
    }
}

/// Rewrites every object of `crd` (a read and write back stores it at the storage version), then
/// sets `status.storedVersions` to `[to]`, and checks it.
pub(super) async fn migrate(
    apis: &Apis,
    crd_name: &str,
    to: &str,
    chunk_size: u32,
) -> anyhow::Result<()> {
    let crds =
        apis.api(&gvk_of("apiextensions.k8s.io/v1", "CustomResourceDefinition"), None).await?;
    let crd = crds.get(crd_name).await?;
    let spec = &crd.data["spec"];
    let gvk = GroupVersionKind::gvk(
        spec["group"].as_str().unwrap_or_default(),
        to,
        spec["names"]["kind"].as_str().unwrap_or_default(),
    );
    // The CRD was Established before this run changed its versions, so the wait before this step
    // passes at once, while the API server may still answer 404 for a version it just added, in
    // discovery and in lists (seen on the real cluster, right after v0.24.1 → v0.56.0 and
    // v0.41.2 → v0.56.0 shared upgrades). Retry briefly.
    let serving = every(Duration::from_millis(250), Duration::from_secs(30));
    let api = (|| apis.api(&gvk, None)).retry(serving).await?;
    // Page by page (`--chunk-size`), so that a CRD with many objects is never one response. A
    // continue token that expired (410) restarts the listing: rewriting an object twice is
    // harmless.
    let mut token: Option<String> = None;
    loop {
        let params = ListParams {
            limit: Some(chunk_size),
            continue_token: token.clone(),
            ..ListParams::default()
        };
        let listed = (|| api.list(&params))
            .retry(serving)
            .when(|e| matches!(e, kube::Error::Api(e) if e.code == 404))
            .await;
        let page = match listed {
            Err(kube::Error::Api(e)) if e.code == 410 && token.is_some() => {
                token = None;
                continue;
            }
            other => other.map_err(api_error).with_context(|| {
                format!(
                    "cannot read the objects of `{crd_name}` at {to} to migrate them (objects stored at an older version are converted by the shared layer's webhook, which must be serving); `status.storedVersions` is left as it was"
                )
            })?,
        };
        for o in &page.items {
            rewrite(apis, &gvk, crd_name, o).await?;
        }
        token = page.metadata.continue_.filter(|t| !t.is_empty());
        if token.is_none() {
            break;
        }
    }
    crds.patch_status(
        crd_name,
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"storedVersions": [to]}})),
    )
    .await
    .with_context(|| format!("cannot set status.storedVersions of `{crd_name}`"))?;
    let after = crds.get(crd_name).await?;
    if after.data["status"]["storedVersions"] != json!([to]) {
        bail!(
            "status.storedVersions of `{crd_name}` is {} after the migration",
            after.data["status"]["storedVersions"]
        );
    }
    Ok(())
}
