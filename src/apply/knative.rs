//! Two workarounds for what knative does to objects tkn-multi also writes: the admission
//! handover of an instance moving to v0.44+, and a CRD's conversion stanza left by another
//! webhook. **I/O.**

use anyhow::Context as _;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

use super::terms::api_error;
use crate::release::Object;

/// The field manager that keeps an instance's admission rules and caBundle while knative takes
/// them over (an instance moving from before v0.44 to v0.44+).
pub(super) const HANDOVER_MANAGER: &str = "tkn-multi-handover";

/// Before v0.44 tkn-multi writes the rules and caBundle of an instance's webhook configurations;
/// from v0.44 knative does, once its new webhook holds the leader lease (seen on the real
/// cluster: up to ~15 s after the rollout). Applying the v0.44+ configuration, which has neither,
/// would remove them (tkn-multi owned them), leaving the namespace without admission until then.
/// So when the desired configuration has no rules and the live one has rules tkn-multi owns, the
/// live rules and caBundle are first applied under [`HANDOVER_MANAGER`], which keeps them until
/// knative's update replaces them (knative writes with Update, so nothing conflicts).
pub(super) async fn hand_admission_over(
    api: &kube::Api<kube::api::DynamicObject>,
    desired: &Object,
    field_manager: &str,
) -> anyhow::Result<()> {
    let wants_rules = desired
        .pointer("/webhooks")
        .and_then(Value::as_array)
        .is_some_and(|hooks| hooks.iter().any(|h| h.get("rules").is_some()));
    if wants_rules {
        return Ok(());
    }
    let Some(live) = api.get_opt(desired.name()).await.map_err(api_error)? else { return Ok(()) };
    let owns_rules = live.metadata.managed_fields.iter().flatten().any(|m| {
        m.manager.as_deref() == Some(field_manager)
            && m.fields_v1.as_ref().is_some_and(|f| f.0.to_string().contains("\"f:rules\""))
    });
    if !owns_rules {
        return Ok(());
    }
    let hooks: Vec<Value> = live.data["webhooks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|h| {
            let mut kept = json!({"name": h["name"]});
            if let Some(r) = h.get("rules") {
                kept["rules"] = r.clone();
            }
            if let Some(ca) = h["clientConfig"].get("caBundle") {
                kept["clientConfig"] = json!({"caBundle": ca});
            }
            kept
        })
        .collect();
    let body = json!({
        "apiVersion": desired.api_version(), "kind": desired.kind(),
        "metadata": {"name": desired.name()},
        "webhooks": hooks,
    });
    api.patch(desired.name(), &PatchParams::apply(HANDOVER_MANAGER), &Patch::Apply(body))
        .await
        .map_err(api_error)
        .with_context(|| format!("cannot hand `{}` over to knative", desired.name()))?;
    Ok(())
}

/// A CRD that should not convert by webhook (`strategy: None`) may still carry the
/// `conversion.webhook` stanza knative's conversion reconciler filled in (it owns
/// `clientConfig.caBundle`). Server-side apply keeps fields another manager owns, so the merged
/// CRD would have a webhook and no strategy, which the API server rejects. Found on the real
/// cluster: a legacy `clustertasks.tekton.dev` of a v1.9.0 shared layer, after a v0.56.0 one whose
/// webhook had converted it. A merge patch removes the stanza (and every manager's claim on it)
/// first; on a CRD that has no such stanza, or none at all, it changes nothing.
pub(super) async fn drop_foreign_conversion_webhook(
    api: &kube::Api<kube::api::DynamicObject>,
    crd: &Object,
    field_manager: &str,
) -> anyhow::Result<()> {
    let strategy = crd.to_value()["spec"]["conversion"]["strategy"].as_str().map(str::to_owned);
    if strategy.as_deref().unwrap_or("None") != "None" {
        return Ok(());
    }
    let Some(live) = api.get_opt(crd.name()).await.map_err(api_error)? else { return Ok(()) };
    if live.data["spec"]["conversion"].get("webhook").is_none() {
        return Ok(());
    }
    let patch = json!({"spec": {"conversion": {"strategy": "None", "webhook": null}}});
    api.patch(
        crd.name(),
        &PatchParams { field_manager: Some(field_manager.to_owned()), ..PatchParams::default() },
        &Patch::Merge(patch),
    )
    .await
    .map_err(api_error)
    .with_context(|| format!("cannot remove the conversion webhook of `{}`", crd.name()))?;
    Ok(())
}
