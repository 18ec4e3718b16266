//! The upgrade precheck on a live cluster: the instance's Tekton objects read (paginated), the
//! two releases loaded, the core's rules applied (`crate::precheck`), and the target's own
//! webhook asked through a shadow (`crate::apply::shadow`). **I/O**; used by the CLI (`precheck`,
//! `upgrade`, `apply -f`) and the operator.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams};
use kube::core::GroupVersionKind;
use serde_json::Value;

use super::driver::ReleaseSource;
use crate::apply::shadow;
use crate::cluster::Apis;
use crate::names::InstanceName;
use crate::plan::state::{ClusterState, ObservedInstance};
use crate::precheck::{Finding, Report};
use crate::printer::Printer;
use crate::release::{Release, TektonVersion};

/// `ConfigMap` → key → value.
pub type Config = BTreeMap<String, BTreeMap<String, String>>;

/// Whether to ask the target's webhook.
#[derive(Debug, Clone, Copy)]
pub enum Webhook {
    /// Ask a shadow of it; take the cluster lock for it within the timeout, or (`None`) the
    /// caller holds it.
    Ask {
        /// How long to wait for the lock.
        lock_timeout: Option<Duration>,
    },
    /// Do not ask, for this reason (the report says it).
    No(&'static str),
}

/// Where a precheck reads and how.
pub struct On<'a, R> {
    /// The cluster.
    pub apis: &'a Apis,
    /// The releases.
    pub releases: &'a R,
    /// Tekton's feature-flag defaults (the matrix's).
    pub defaults: &'a crate::matrix::defaults::Defaults,
    /// Whether to ask the target's webhook.
    pub webhook: Webhook,
    /// Progress.
    pub printer: &'a Printer,
}

/// One instance's move: to which version, with which config.
pub struct Move {
    /// The instance.
    pub instance: InstanceName,
    /// The version it moves to.
    pub to: TektonVersion,
    /// The `ConfigMap` keys the move writes (a fleet's `config`, the kept feature flags), over
    /// the instance's own.
    pub config: Config,
    /// Whether the move keeps the feature flags the target changes (`--keep-defaults`).
    pub keep_defaults: bool,
}

impl Move {
    /// A move with no config of its own.
    pub fn to(instance: InstanceName, to: TektonVersion) -> Self {
        Self { instance, to, config: std::collections::BTreeMap::new(), keep_defaults: false }
    }
}

/// The moves a desired state asks for (the precheck judges those whose version changes).
pub fn moves(desired: &crate::plan::Desired) -> Vec<Move> {
    desired
        .instances
        .iter()
        .map(|i| Move {
            instance: i.spec.name.clone(),
            to: i.version.clone(),
            config: i.config.clone(),
            keep_defaults: i.keep_defaults,
        })
        .collect()
}

/// The precheck of a move in the observed cluster; `None` when the instance is not installed.
///
/// # Errors
/// A release no source has, a cluster that cannot be read, a shadow that cannot be made or
/// does not answer.
pub async fn judge<R: ReleaseSource>(
    on: &On<'_, R>,
    state: &ClusterState,
    move_: &Move,
) -> anyhow::Result<Option<Report>> {
    let (apis, printer) = (on.apis, on.printer);
    let Some(instance) = state.instance(move_.instance.as_str()) else { return Ok(None) };
    let from = on.releases.load(&instance.version).await?;
    let to = on.releases.load(&move_.to).await?;
    let objects = tekton_objects(apis, &from, Some(&instance.namespace)).await?;
    let mut instance = instance.clone();
    let mut written = move_.config.clone();
    if move_.keep_defaults {
        // What `--keep-defaults` writes: the old value of every flag the target changes.
        let flags = written.entry(crate::matrix::defaults::FEATURE_FLAGS.to_owned()).or_default();
        for (key, old, _) in crate::matrix::diff::changed_feature_flags(&from, &to, on.defaults) {
            if let Some(old) = old {
                instance.kept_defaults.entry(key.clone()).or_insert_with(|| old.clone());
                flags.entry(key).or_insert(old);
            }
        }
    }
    let report = crate::precheck::precheck(&instance, &from, &to, on.defaults, &objects);
    let outcome = match on.webhook {
        Webhook::Ask { lock_timeout } => {
            let judge = (&from, &to, &objects[..], &written);
            ask_webhook(apis, &instance, judge, lock_timeout, printer).await?
        }
        Webhook::No(why) => Err(why.to_owned()),
    };
    Ok(Some(report.with_webhook(outcome)))
}

/// The reports of the moves whose instance runs another version in the observed cluster.
///
/// # Errors
/// As [`judge`].
pub async fn reports<R: ReleaseSource>(
    on: &On<'_, R>,
    state: &ClusterState,
    moves: &[Move],
) -> anyhow::Result<Vec<Report>> {
    let mut reports = Vec::new();
    for m in moves {
        if state.instance(m.instance.as_str()).is_some_and(|i| i.version != m.to)
            && let Some(r) = judge(on, state, m).await?
        {
            reports.push(r);
        }
    }
    Ok(reports)
}

/// The objects and config a shadow judges: the two releases, the stored objects, and the
/// `ConfigMap` keys the move writes.
type Judged<'a> = (&'a Release, &'a Release, &'a [Value], &'a Config);

/// Asks a shadow of `to`'s webhook about `objects`, under the cluster lock (taken here, unless
/// the caller holds it: `lock_timeout` `None`), removing any shadow a killed run left first.
/// `Err` says why the webhook could not be asked (a version whose webhook runs no shadow).
async fn ask_webhook(
    apis: &Apis,
    instance: &ObservedInstance,
    (from, to, objects, written): Judged<'_>,
    lock_timeout: Option<Duration>,
    printer: &Printer,
) -> anyhow::Result<Result<(usize, Vec<Finding>), String>> {
    let id = shadow::new_id();
    let sh = match crate::shadow::Shadow::new(&id, &to.version) {
        Ok(sh) => sh,
        Err(why) => return Ok(Err(why.to_string())),
    };
    let live = shadow::live_config(apis, &instance.control_plane_namespace).await?;
    let mut config = crate::shadow::config(from, &live, &std::collections::BTreeMap::new());
    for (name, keys) in written {
        config.entry(name.clone()).or_default().extend(keys.clone());
    }
    let made = match sh.objects(to, &config) {
        Ok(made) => made,
        Err(why) => return Ok(Err(why.to_string())),
    };
    let candidates: Vec<_> =
        objects.iter().filter_map(|o| crate::shadow::candidate(o, &sh.namespace())).collect();
    if candidates.is_empty() {
        return Ok(Ok((0, Vec::new()))); // nothing to ask: no shadow
    }
    let probe_version = storage_version(from, "tasks.tekton.dev")
        .map_or_else(|| "tekton.dev/v1".to_owned(), |v| format!("tekton.dev/{v}"));
    let verdict = under_lock(apis, lock_timeout, printer, async || {
        shadow::judge(apis, &sh, &made, candidates, &probe_version, printer).await
    })
    .await?;
    Ok(Ok((verdict.judged, verdict.findings)))
}

/// Runs `f` under the cluster lock (taken here within `lock_timeout`; `None`: the caller holds
/// it), after removing every shadow a killed run left behind.
async fn under_lock<T>(
    apis: &Apis,
    lock_timeout: Option<Duration>,
    printer: &Printer,
    f: impl AsyncFnOnce() -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let held = match lock_timeout {
        Some(timeout) => Some(
            crate::cluster::lock::acquire(
                apis.client(),
                &crate::cluster::lock::identity(),
                timeout,
            )
            .await?,
        ),
        None => None,
    };
    let done = async {
        let left = shadow::remove_all(apis).await?;
        if left > 0 {
            printer.info(&format!("removed {left} shadow(s) a killed run left behind"));
        }
        f().await
    }
    .await;
    if let Some(held) = held {
        held.release().await?;
    }
    done
}

/// The precheck of moving the shared layer to `to`. After the move every Tekton object is
/// stored at the version `to`'s CRD stores, and each instance's controller still reads it at
/// the version its own release stores: each object of each instance, read at that version, is
/// converted by a shadow of `to`'s own conversion webhook to `to`'s storage version and back. A
/// field that does not come back, or a conversion refused, is a blocker. The live CRDs do not
/// change. `None` when no shared layer is installed.
///
/// # Errors
/// A release no source has, a cluster that cannot be read, a shadow that cannot be made or does
/// not answer.
pub async fn shared<R: ReleaseSource>(
    on: &On<'_, R>,
    state: &ClusterState,
    to: &TektonVersion,
) -> anyhow::Result<Option<Report>> {
    let Some(live) = &state.shared else { return Ok(None) };
    let to = on.releases.load(to).await?;
    // The version `to` stores each kind at, for the kinds it converts by webhook.
    let storage: BTreeMap<String, String> = to
        .objects
        .iter()
        .filter(|o| {
            o.kind() == "CustomResourceDefinition"
                && o.pointer("/spec/conversion/strategy").is_some_and(|s| s == "Webhook")
        })
        .filter_map(|crd| {
            let kind = crd.pointer("/spec/names/kind")?.as_str()?.to_owned();
            let group = crd.pointer("/spec/group")?.as_str()?;
            let version = storage_version(&to, crd.name())?;
            Some((kind, format!("{group}/{version}")))
        })
        .collect();
    let mut objects = 0;
    let mut asked: Vec<Asked> = Vec::new();
    for instance in &state.instances {
        let release = on.releases.load(&instance.version).await?;
        for o in tekton_objects(on.apis, &release, Some(&instance.namespace)).await? {
            objects += 1;
            let kind = o["kind"].as_str().unwrap_or_default();
            if let Some(stored) = storage.get(kind)
                && o["apiVersion"].as_str() != Some(stored.as_str())
            {
                asked.push(Asked { object: o, stored: stored.clone(), reader: instance.clone() });
            }
        }
    }
    let mut report = Report {
        format_version: crate::precheck::PRECHECK_FORMAT_VERSION,
        instance: crate::names::SHARED_OWNER.to_owned(),
        namespace: String::new(),
        from: live.version.clone(),
        to: to.version.clone(),
        objects,
        webhook: crate::precheck::Webhook::default(),
        findings: Vec::new(),
    };
    if asked.is_empty() {
        return Ok(Some(report.with_webhook(Ok((0, Vec::new())))));
    }
    let Webhook::Ask { lock_timeout } = on.webhook else {
        return Ok(Some(report.with_webhook(Err("not asked (`--no-webhook`)".to_owned()))));
    };
    let sh = match crate::shadow::Shadow::new(&shadow::new_id(), &to.version) {
        Ok(sh) => sh,
        Err(why) => return Ok(Some(report.with_webhook(Err(why.to_string())))),
    };
    let made = match sh.shared_objects(&to) {
        Ok(made) => made,
        Err(why) => return Ok(Some(report.with_webhook(Err(why.to_string())))),
    };
    let (apis, printer) = (on.apis, on.printer);
    let findings = under_lock(apis, lock_timeout, printer, async || {
        shadow::with_converter(apis, &sh, &made, printer, async || {
            round_trips(apis, &sh, &asked).await
        })
        .await
    })
    .await?;
    report = report.with_webhook(Ok((asked.len(), findings)));
    Ok(Some(report))
}

/// An object a shared-layer move converts: as its instance reads it, the version the target
/// stores it at, and the instance.
struct Asked {
    object: Value,
    stored: String,
    reader: ObservedInstance,
}

/// The version the plan of `desired` moves the shared layer to, when it moves it (`None` too
/// when it cannot be planned: the change itself then says why).
pub async fn shared_move<R: ReleaseSource>(
    on: &On<'_, R>,
    state: &ClusterState,
    desired: &crate::plan::Desired,
    matrix: &crate::matrix::Matrix,
) -> Option<TektonVersion> {
    let live = state.shared.as_ref()?;
    let mut loaded = crate::plan::model::Releases::new();
    let plan =
        super::driver::make_plan(desired, state, on.releases, &mut loaded, matrix).await.ok()?;
    plan.target.shared.map(|s| s.version).filter(|v| v != &live.version)
}

/// Objects per `ConversionReview`.
const PER_REVIEW: usize = 100;

/// Converts every object to the version the target stores it at and back, by the shadow.
async fn round_trips(
    apis: &Apis,
    sh: &crate::shadow::Shadow,
    asked: &[Asked],
) -> anyhow::Result<Vec<Finding>> {
    use crate::shadow::{conversion_failed, conversion_review, converted, round_trip};
    // Batches of one apiVersion and target version.
    let mut batches: BTreeMap<(&str, &str), Vec<&Asked>> = BTreeMap::new();
    for a in asked {
        let read = a.object["apiVersion"].as_str().unwrap_or_default();
        batches.entry((read, a.stored.as_str())).or_default().push(a);
    }
    let mut findings = Vec::new();
    for ((read, stored), all) in batches {
        for chunk in all.chunks(PER_REVIEW) {
            let sent: Vec<Value> = chunk.iter().map(|a| a.object.clone()).collect();
            let there =
                shadow::convert(apis, sh, &conversion_review("store", stored, &sent)).await?;
            let back = if let Ok(c) = converted(&there) {
                shadow::convert(apis, sh, &conversion_review("read", read, &c)).await?
            } else {
                // One refusal refuses the batch: ask about each object alone.
                {
                    for (a, o) in chunk.iter().zip(&sent) {
                        let one = conversion_review("one", stored, std::slice::from_ref(o));
                        if let Err(m) = converted(&shadow::convert(apis, sh, &one).await?) {
                            findings.push(conversion_failed(
                                o,
                                &a.reader.name,
                                stored,
                                &sh.version,
                                &m,
                            ));
                        }
                    }
                    continue;
                }
            };
            match converted(&back) {
                Ok(back) => {
                    for ((a, o), b) in chunk.iter().zip(&sent).zip(&back) {
                        findings.extend(round_trip(o, b, &a.reader, stored, &sh.version));
                    }
                }
                Err(m) => {
                    for (a, o) in chunk.iter().zip(&sent) {
                        findings.push(conversion_failed(o, &a.reader.name, read, &sh.version, &m));
                    }
                }
            }
        }
    }
    Ok(findings)
}

/// Every namespaced Tekton object of `namespace`, of each kind the running release defines, read
/// at the version its CRD stores (paginated).
async fn tekton_objects(
    apis: &Apis,
    release: &Release,
    namespace: Option<&str>,
) -> anyhow::Result<Vec<serde_json::Value>> {
    use anyhow::Context as _;
    let place = namespace.map_or_else(|| "any namespace".to_owned(), |n| format!("`{n}`"));
    let mut out = Vec::new();
    for crd in release.objects.iter().filter(|o| o.kind() == "CustomResourceDefinition") {
        let spec = crd.pointer("/spec").cloned().unwrap_or_default();
        if spec["scope"] != "Namespaced" {
            continue;
        }
        let group = spec["group"].as_str().unwrap_or_default();
        let kind = spec["names"]["kind"].as_str().unwrap_or_default();
        let Some(stored) = spec["versions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|v| v["storage"] == true)
            .and_then(|v| v["name"].as_str())
        else {
            continue;
        };
        // The live CRD decides what can be read: a kind the shared layer does not define has no
        // objects; a version it no longer serves is read at the one it stores.
        let crds: Api<CustomResourceDefinition> = Api::all(apis.client().clone());
        let Some(live) = crds
            .get_opt(crd.name())
            .await
            .with_context(|| format!("cannot read CRD `{}`", crd.name()))?
        else {
            continue;
        };
        let served: Vec<&str> =
            live.spec.versions.iter().filter(|v| v.served).map(|v| v.name.as_str()).collect();
        let version = if served.contains(&stored) {
            stored.to_owned()
        } else if let Some(v) = live.spec.versions.iter().find(|v| v.storage) {
            v.name.clone()
        } else {
            continue;
        };
        let gvk = GroupVersionKind::gvk(group, &version, kind);
        let api = apis.api(&gvk, namespace).await?;
        let items = crate::cluster::list_all(&ListParams::default(), |p| {
            let api = api.clone();
            async move { api.list(&p).await }
        })
        .await
        .with_context(|| format!("cannot list {kind}s in {place}"))?;
        for o in items {
            let mut v = serde_json::to_value(&o)?;
            // A list's items carry no kind or apiVersion.
            v["kind"] = kind.into();
            v["apiVersion"] = format!("{group}/{version}").into();
            out.push(v);
        }
    }
    Ok(out)
}

/// The storage version of CRD `name` in `release`.
fn storage_version(release: &Release, name: &str) -> Option<String> {
    let crd = release
        .objects
        .iter()
        .find(|o| o.kind() == "CustomResourceDefinition" && o.name() == name)?;
    crd.pointer("/spec/versions")?.as_array()?.iter().find(|v| v["storage"] == true)?["name"]
        .as_str()
        .map(str::to_owned)
}
