//! Writes: server-side apply of one object (with the hashes the next observation compares) and
//! deletes that wait for the object to be gone. **I/O.**

use std::time::Instant;

use anyhow::{Context as _, bail};
use kube::api::{DeleteParams, Patch, PatchParams};

use super::knative::{drop_foreign_conversion_webhook, hand_admission_over};
use super::terms::{Conflict, Options, api_error, describe, gvk_of};
use super::wait::watch_until;
use crate::cluster::Apis;
use crate::managed::{ANNOTATION_HASH, ANNOTATION_IMMUTABLE_HASH};
use crate::release::{Object, ObjectRef};

pub(super) async fn apply(
    apis: &Apis,
    manifest: &Object,
    hash: &str,
    immutable_hash: &str,
    opts: &Options,
) -> anyhow::Result<()> {
    let mut o = manifest.clone();
    o.set_annotation(ANNOTATION_HASH, hash);
    o.set_annotation(ANNOTATION_IMMUTABLE_HASH, immutable_hash);
    let api = apis.api(&gvk_of(o.api_version(), o.kind()), o.namespace()).await?;
    if o.kind() == "CustomResourceDefinition" && !opts.server_dry_run {
        drop_foreign_conversion_webhook(&api, &o, &opts.field_manager).await?;
    }
    if o.kind().ends_with("WebhookConfiguration") && !opts.server_dry_run {
        hand_admission_over(&api, &o, &opts.field_manager).await?;
    }
    let mut params = PatchParams::apply(&opts.field_manager);
    params.force = opts.force_conflicts || opts.force_fields;
    params.dry_run = opts.server_dry_run;
    match api.patch(o.name(), &params, &Patch::Apply(o.to_value())).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 409 => Err(crate::fault::user(Conflict {
            object: describe(&o.object_ref()),
            message: e.message,
        })),
        Err(e) => Err(api_error(e))
            .with_context(|| format!("failed to apply `{}`", describe(&o.object_ref()))),
    }
}

pub(super) async fn delete(
    apis: &Apis,
    r: &ObjectRef,
    api_version: &str,
    opts: &Options,
    wait_gone: Option<Instant>,
) -> anyhow::Result<()> {
    let api = apis.api(&gvk_of(api_version, &r.kind), r.namespace.as_deref()).await?;
    let params = DeleteParams { dry_run: opts.server_dry_run, ..DeleteParams::background() };
    match api.delete(&r.name, &params).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 404 => return Ok(()),
        Err(e) => {
            return Err(api_error(e))
                .with_context(|| format!("failed to delete `{}`", describe(r)));
        }
    }
    if let Some(deadline) = wait_gone.filter(|_| !opts.server_dry_run) {
        let gone = watch_until(api, &r.name, deadline, Option::is_none).await?;
        if gone.is_err() {
            bail!("`{}` was not gone before the timeout", describe(r));
        }
    }
    Ok(())
}
