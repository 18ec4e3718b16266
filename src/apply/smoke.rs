//! A stage's smoke run (a fleet's `gate: {smoke: true}`): a tiny Task and a `TaskRun` of it in
//! an instance's namespace, which must succeed; both removed after. The step's image is the
//! instance's own shell image, as its controller Deployment names it (`-shell-image`), so it
//! comes through the same relocation as every image of the instance. **I/O.**

use std::time::{Duration, Instant};

use anyhow::Context as _;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, DeleteParams, DynamicObject, PostParams};
use kube::core::GroupVersionKind;
use serde_json::json;

use crate::cluster::Apis;
use crate::plan::state::ObservedInstance;
use crate::printer::Printer;

/// The label on the smoke run's Task and `TaskRun`.
pub const LABEL_SMOKE: &str = "tkn-multi.tekton.dev/smoke";

/// Runs the smoke `TaskRun` of `instance` and waits up to `timeout` for it to succeed.
///
/// # Errors
/// The run failed (Tekton's reason and message), did not finish in time, or could not be
/// created.
pub async fn run(
    apis: &Apis,
    instance: &ObservedInstance,
    timeout: Duration,
    printer: &Printer,
) -> anyhow::Result<()> {
    let image = shell_image(apis, instance).await?;
    let ns = instance.namespace.as_str();
    let name = format!("tkn-multi-smoke-{}", crate::apply::shadow::new_id());
    // v1beta1: served by every version tkn-multi installs.
    let task_api =
        apis.api(&GroupVersionKind::gvk("tekton.dev", "v1beta1", "Task"), Some(ns)).await?;
    let run_api =
        apis.api(&GroupVersionKind::gvk("tekton.dev", "v1beta1", "TaskRun"), Some(ns)).await?;
    let labels = json!({ LABEL_SMOKE: instance.name });
    let task: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "tekton.dev/v1beta1", "kind": "Task",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {"steps": [{"name": "smoke", "image": image,
            "command": ["sh", "-c", "echo tkn-multi smoke"]}]},
    }))?;
    let taskrun: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "tekton.dev/v1beta1", "kind": "TaskRun",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {"taskRef": {"name": name}},
    }))?;
    printer.progress(&format!(
        "smoke: running {name} in `{ns}` ({} {})",
        instance.name, instance.version
    ));
    let ran = async {
        task_api
            .create(&PostParams::default(), &task)
            .await
            .context("cannot create the smoke Task")?;
        run_api
            .create(&PostParams::default(), &taskrun)
            .await
            .context("cannot create the smoke TaskRun")?;
        wait(&run_api, &name, timeout).await
    }
    .await;
    for api in [&run_api, &task_api] {
        match api.delete(&name, &DeleteParams::background()).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => printer.warn(&format!("cannot remove the smoke run {name} in `{ns}`: {e}")),
        }
    }
    ran.with_context(|| {
        format!("the smoke TaskRun of `{}` ({}) in `{ns}`", instance.name, instance.version)
    })
}

/// The `-shell-image` argument of the instance's controller.
async fn shell_image(apis: &Apis, instance: &ObservedInstance) -> anyhow::Result<String> {
    let api: Api<Deployment> =
        Api::namespaced(apis.client().clone(), &instance.control_plane_namespace);
    let d = api
        .get("tekton-pipelines-controller")
        .await
        .with_context(|| format!("cannot read the controller of `{}`", instance.name))?;
    let args = d
        .spec
        .and_then(|s| s.template.spec)
        .and_then(|s| s.containers.into_iter().next())
        .and_then(|c| c.args)
        .unwrap_or_default();
    args.iter()
        .position(|a| a == "-shell-image")
        .and_then(|i| args.get(i + 1))
        .cloned()
        .with_context(|| format!("the controller of `{}` names no `-shell-image`", instance.name))
}

/// Waits until the run's `Succeeded` condition is decided.
async fn wait(api: &Api<DynamicObject>, name: &str, timeout: Duration) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let run = api.get(name).await.context("cannot read the smoke TaskRun")?;
        let v = serde_json::to_value(&run)?;
        if let Some(c) = v["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["type"] == "Succeeded")
        {
            match c["status"].as_str() {
                Some("True") => return Ok(()),
                Some("False") => anyhow::bail!(
                    "failed: {}: {}",
                    c["reason"].as_str().unwrap_or_default(),
                    c["message"].as_str().unwrap_or_default()
                ),
                _ => {}
            }
        }
        if started.elapsed() > timeout {
            anyhow::bail!("did not finish within {} s", timeout.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
