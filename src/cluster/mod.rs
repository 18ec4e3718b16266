//! The live cluster: connecting (kubectl conventions) and observing it into a [`ClusterState`].
//! **I/O.**
//!
//! Observation reads, once, every object labelled `app.kubernetes.io/managed-by: tkn-multi`, the
//! hashes the executor recorded on them, the instances (from their controller Deployments) and
//! the shared layer (its webhook Deployment and CRDs, with stored versions and object counts).
//! There is no local state file: the cluster is the record.

pub mod lock;
pub mod retry;
pub mod throttle;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::GroupVersionKind;
use kube::{Client, Config, discovery};
use serde_json::Value;

use crate::managed::{
    ANNOTATION_HASH, ANNOTATION_IMMUTABLE_HASH, ANNOTATION_RETAIN, LABEL_INSTANCE,
    LABEL_MANAGED_BY, LABEL_PART, LABEL_VERSION, MANAGER,
};
use crate::names::SHARED_OWNER;
use crate::plan::state::{
    ClusterState, ObservedCrd, ObservedInstance, ObservedObject, ObservedShared,
};
use crate::release::ObjectRef;

/// Where the cluster is: `--kubeconfig` (else `KUBECONFIG`, else `~/.kube/config`) and
/// `--context`, and the client-side rate limit.
#[derive(Debug, Clone)]
pub struct Connection {
    /// An explicit kubeconfig file.
    pub kubeconfig: Option<PathBuf>,
    /// A context other than the current one.
    pub context: Option<String>,
    /// Requests per second, on average (`--qps`).
    pub qps: u32,
    /// Requests at once (`--burst`).
    pub burst: u32,
}

impl Default for Connection {
    fn default() -> Self {
        Connection {
            kubeconfig: None,
            context: None,
            qps: throttle::DEFAULT_QPS,
            burst: throttle::DEFAULT_BURST,
        }
    }
}

/// Connects to the cluster `target` names, behind the client-side token bucket
/// ([`throttle::TokenBucket`], `--qps`/`--burst`). With no kubeconfig at all, inside a pod
/// (`KUBERNETES_SERVICE_HOST` set), the pod's service account, as kubectl and client-go do.
pub async fn connect(target: &Connection) -> anyhow::Result<Client> {
    let config = config(target).await?;
    let layer = throttle::TokenBucket::new(target.qps, target.burst);
    Ok(kube::client::ClientBuilder::try_from(config)?.with_layer(&layer).build())
}

/// The client configuration for `target`: its kubeconfig and context, else the pod's.
async fn config(target: &Connection) -> anyhow::Result<Config> {
    let kc = match &target.kubeconfig {
        Some(path) => Kubeconfig::read_from(path)
            .with_context(|| format!("cannot read kubeconfig `{}`", path.display()))?,
        None => match Kubeconfig::read() {
            Ok(kc) => kc,
            Err(_)
                if target.context.is_none()
                    && std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() =>
            {
                return Config::incluster().context("cannot use the pod's service account");
            }
            Err(e) => {
                return Err(anyhow::Error::new(e)
                    .context("cannot load a kubeconfig (set `--kubeconfig` or `KUBECONFIG`)"));
            }
        },
    };
    // A context the kubeconfig does not have is the request's fault: say which ones it has.
    if let Some(context) = &target.context
        && !kc.contexts.iter().any(|c| &c.name == context)
    {
        let known: Vec<String> = kc.contexts.iter().map(|c| format!("`{}`", c.name)).collect();
        return Err(crate::fault::UserError::msg(format!(
            "the kubeconfig has no context `{context}` (it has {})",
            if known.is_empty() { "none".to_owned() } else { known.join(", ") }
        ))
        .into());
    }
    let options =
        KubeConfigOptions { context: target.context.clone(), ..KubeConfigOptions::default() };
    Ok(Config::from_custom_kubeconfig(kc, &options).await?)
}

/// (group, version).
type GvKey = (String, String);

/// Resolves kinds to APIs, running discovery once per group and version for the whole run:
/// discovery is a round-trip to the API server, and one plan touches the same dozen kinds (in
/// half as many group versions) a hundred times. A kind its group version did not serve when it
/// was discovered (a CRD the run has just created) discovers that group version again.
#[derive(Clone)]
pub struct Apis {
    client: Client,
    resources: Arc<Mutex<HashMap<GvKey, Vec<ApiResource>>>>,
}

impl Apis {
    /// A resolver over `client`.
    pub fn new(client: Client) -> Self {
        Self { client, resources: Arc::default() }
    }

    /// The client it resolves for.
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn cached(&self, key: &GvKey, kind: &str) -> Option<ApiResource> {
        let resources = self.resources.lock().expect("the cache lock is never poisoned");
        resources.get(key)?.iter().find(|ar| ar.kind == kind).cloned()
    }

    /// An API for `gvk` in `namespace`, or cluster-wide (namespaced kinds then list across all
    /// namespaces).
    pub async fn api(
        &self,
        gvk: &GroupVersionKind,
        namespace: Option<&str>,
    ) -> anyhow::Result<Api<DynamicObject>> {
        let key = (gvk.group.clone(), gvk.version.clone());
        let ar = if let Some(ar) = self.cached(&key, &gvk.kind) {
            ar
        } else {
            let unserved = || {
                format!(
                    "cannot discover `{}/{}` `{}` (the API server is unreachable or does not serve it)",
                    gvk.group, gvk.version, gvk.kind
                )
            };
            let gv = kube::core::GroupVersion::gv(&gvk.group, &gvk.version);
            let group = discovery::pinned_group(&self.client, &gv).await.with_context(unserved)?;
            let served: Vec<ApiResource> =
                group.versioned_resources(&gvk.version).into_iter().map(|(ar, _)| ar).collect();
            let found = served.iter().find(|ar| ar.kind == gvk.kind).cloned();
            self.resources.lock().expect("the cache lock is never poisoned").insert(key, served);
            found.with_context(unserved)?
        };
        Ok(match namespace {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, &ar),
            None => Api::all_with(self.client.clone(), &ar),
        })
    }
}

fn label<'a>(o: &'a DynamicObject, key: &str) -> Option<&'a str> {
    o.metadata.labels.as_ref()?.get(key).map(String::as_str)
}

/// The owner tkn-multi's labels give an object: `shared`, or the instance's name (empty when
/// unlabelled).
pub fn owner_of(o: &DynamicObject) -> String {
    owner_of_meta(&o.metadata)
}

/// [`owner_of`], from metadata alone.
pub fn owner_of_meta(meta: &kube::api::ObjectMeta) -> String {
    let label = |key: &str| meta.labels.as_ref().and_then(|l| l.get(key)).map(String::as_str);
    match label(LABEL_PART) {
        Some("shared") => SHARED_OWNER.to_owned(),
        _ => label(LABEL_INSTANCE).unwrap_or_default().to_owned(),
    }
}

fn annotation<'a>(o: &'a DynamicObject, key: &str) -> Option<&'a str> {
    o.metadata.annotations.as_ref()?.get(key).map(String::as_str)
}

/// Every item `page` lists, page by page (500 at a time, as kubectl pages): `page` gets the
/// parameters of each page (the continue token of the one before).
///
/// # Errors
/// The API refused a page (a continue token that expired is refused with 410 Gone).
pub async fn list_all<T, F, Fut>(params: &ListParams, mut page: F) -> Result<Vec<T>, kube::Error>
where
    T: Clone,
    F: FnMut(ListParams) -> Fut,
    Fut: std::future::Future<Output = Result<kube::core::ObjectList<T>, kube::Error>>,
{
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let params = ListParams {
            limit: Some(params.limit.unwrap_or(PAGE)),
            continue_token: token.clone(),
            ..params.clone()
        };
        let list = page(params).await?;
        out.extend(list.items);
        token = list.metadata.continue_.filter(|t| !t.is_empty());
        if token.is_none() {
            return Ok(out);
        }
    }
}

/// Objects per page of a list.
pub const PAGE: u32 = 500;

/// Reads the cluster into a [`ClusterState`], in a number of requests that grows with the kinds
/// tkn-multi manages and the namespaces of its webhooks, not with the objects: one (paginated)
/// list per kind, a get per webhook Secret, one list of one object per CRD for its count.
pub async fn observe(apis: &Apis) -> anyhow::Result<ClusterState> {
    let client = apis.client();
    let selector = format!("{LABEL_MANAGED_BY}={MANAGER}");
    let mut state = ClusterState::empty();
    let mut shared_webhook = None;
    let mut crds = Vec::new();
    let mut webhook_namespaces = std::collections::BTreeSet::new();
    // Per instance: the feature flags it keeps (`--keep-defaults`), recorded on its
    // `feature-flags` ConfigMap.
    let mut kept = std::collections::BTreeMap::new();
    for crate::managed::Kind { group, version, kind, .. } in crate::managed::KINDS {
        if *kind == "Secret" {
            continue; // read by name below: no right to list Secrets is needed
        }
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let api = apis.api(&gvk, None).await?;
        let items = list_all(&ListParams::default().labels(&selector), |p| {
            let api = api.clone();
            async move { api.list(&p).await }
        })
        .await
        .with_context(|| format!("cannot list {kind}s"))?;
        for o in items {
            if *kind == "Deployment"
                && o.metadata.name.as_deref() == Some("tekton-pipelines-webhook")
            {
                webhook_namespaces.extend(o.metadata.namespace.clone());
            }
            let name = o.metadata.name.clone().unwrap_or_default();
            let namespace = if crate::release::model::is_cluster_scoped(kind) {
                None
            } else {
                o.metadata.namespace.clone()
            };
            let owner = owner_of(&o);
            if *kind == "Deployment"
                && name == "tekton-pipelines-controller"
                && owner != SHARED_OWNER
            {
                state.instances.push(instance_of(&o, &owner)?);
            }
            if *kind == "Deployment" && name == "tekton-pipelines-webhook" && owner == SHARED_OWNER
            {
                shared_webhook = Some((
                    label(&o, LABEL_VERSION).unwrap_or_default().to_owned(),
                    namespace.clone().unwrap_or_default(),
                ));
            }
            if *kind == "CustomResourceDefinition" {
                crds.push(o.clone());
            }
            if *kind == "ConfigMap"
                && name == crate::matrix::defaults::FEATURE_FLAGS
                && owner != SHARED_OWNER
                && let Some(record) = annotation(&o, crate::managed::ANNOTATION_KEPT_DEFAULTS)
            {
                let flags = serde_json::from_str(record).with_context(|| {
                    format!(
                        "the kept-defaults record on {owner}'s feature-flags is not a JSON object"
                    )
                })?;
                kept.insert(owner.clone(), flags);
            }
            state.objects.push(observed_object(kind, namespace, name, owner, &o));
        }
    }
    state.objects.extend(observe_webhook_secrets(apis, &webhook_namespaces).await?);
    if let Some((version, namespace)) = shared_webhook {
        let mut observed = Vec::new();
        for crd in &crds {
            observed.push(observe_crd(apis, crd).await?);
        }
        state.shared = Some(ObservedShared {
            version: version
                .parse()
                .context("the shared webhook's version label is not a Tekton version")?,
            namespace,
            crds: observed,
        });
    }
    for i in &mut state.instances {
        i.kept_defaults = kept.remove(&i.name).unwrap_or_default();
        if crate::release::capabilities::Capabilities::of(&i.version).owned_admission {
            i.admission = observe_certificate(client, &i.control_plane_namespace).await?;
        }
    }
    state.instances.sort_by(|a, b| a.name.cmp(&b.name));
    state.objects.sort_by(|a, b| a.object.cmp(&b.object));
    Ok(state)
}

/// The observed form of a managed object read from the cluster.
fn observed_object(
    kind: &str,
    namespace: Option<String>,
    name: String,
    owner: String,
    o: &DynamicObject,
) -> ObservedObject {
    ObservedObject {
        object: ObjectRef { kind: kind.to_owned(), namespace, name },
        owner,
        hash: annotation(o, ANNOTATION_HASH).unwrap_or_default().to_owned(),
        immutable_hash: annotation(o, ANNOTATION_IMMUTABLE_HASH).unwrap_or_default().to_owned(),
        retain: annotation(o, ANNOTATION_RETAIN).is_some(),
    }
}

/// The only Secret a Tekton release ships is the webhook's `webhook-certs`, beside each managed
/// webhook: read by name (the operator's RBAC grants Secrets by name only), kept when it is
/// tkn-multi's.
async fn observe_webhook_secrets(
    apis: &Apis,
    namespaces: &std::collections::BTreeSet<String>,
) -> anyhow::Result<Vec<ObservedObject>> {
    let gvk = GroupVersionKind::gvk("", "v1", "Secret");
    let name = crate::managed::WEBHOOK_CERTS_SECRET;
    let mut out = Vec::new();
    for ns in namespaces {
        let api = apis.api(&gvk, Some(ns)).await?;
        let found =
            api.get_opt(name).await.with_context(|| format!("cannot read Secret {ns}/{name}"))?;
        if let Some(o) = found.filter(|o| label(o, LABEL_MANAGED_BY) == Some(MANAGER)) {
            out.push(observed_object("Secret", Some(ns.clone()), name.into(), owner_of(&o), &o));
        }
    }
    Ok(out)
}

/// Reads the string data of Secret `name` (empty when it is missing).
pub async fn secret_data(
    secrets: &Api<k8s_openapi::api::core::v1::Secret>,
    name: &str,
) -> anyhow::Result<Option<std::collections::BTreeMap<String, String>>> {
    let Some(s) =
        secrets.get_opt(name).await.with_context(|| format!("cannot read Secret {name}"))?
    else {
        return Ok(None);
    };
    Ok(Some(
        s.data
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(k, v)| Some((k, String::from_utf8(v.0).ok()?)))
            .collect(),
    ))
}

/// The public facts of an instance's webhook certificate (before v0.44).
async fn observe_certificate(
    client: &Client,
    namespace: &str,
) -> anyhow::Result<Option<crate::tls::ObservedCertificate>> {
    let secrets: Api<k8s_openapi::api::core::v1::Secret> =
        Api::namespaced(client.clone(), namespace);
    let ca = secret_data(&secrets, crate::managed::WEBHOOK_CA_SECRET).await?;
    let serving = secret_data(&secrets, crate::managed::WEBHOOK_CERTS_SECRET).await?;
    Ok(crate::tls::inspect(ca.as_ref(), serving.as_ref(), namespace))
}

fn instance_of(deploy: &DynamicObject, owner: &str) -> anyhow::Result<ObservedInstance> {
    let args: Vec<String> = deploy.data["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    let watched = args
        .iter()
        .position(|a| a == "-namespace")
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_default();
    Ok(ObservedInstance {
        name: owner.to_owned(),
        version: label(deploy, LABEL_VERSION)
            .unwrap_or_default()
            .parse()
            .context("an instance's version label is not a Tekton version")?,
        namespace: watched,
        control_plane_namespace: deploy.metadata.namespace.clone().unwrap_or_default(),
        admission: None,
        kept_defaults: std::collections::BTreeMap::new(),
    })
}

async fn observe_crd(apis: &Apis, crd: &DynamicObject) -> anyhow::Result<ObservedCrd> {
    let name = crd.metadata.name.clone().unwrap_or_default();
    let stored: Vec<String> = crd.data["status"]["storedVersions"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    let spec = &crd.data["spec"];
    let storage = spec["versions"]
        .as_array()
        .and_then(|vs| vs.iter().find(|v| v["storage"] == true))
        .and_then(|v| v["name"].as_str())
        .unwrap_or_default();
    let gvk = GroupVersionKind::gvk(
        spec["group"].as_str().unwrap_or_default(),
        storage,
        spec["names"]["kind"].as_str().unwrap_or_default(),
    );
    // Counting needs the CRD Established; a CRD that is not yet counts as empty.
    let objects = match apis.api(&gvk, None).await {
        Ok(api) => {
            let page = api.list(&ListParams::default().limit(1)).await?;
            page.items.len() as u64
                + page.metadata.remaining_item_count.map_or(0, |n| u64::try_from(n).unwrap_or(0))
        }
        Err(_) => 0,
    };
    Ok(ObservedCrd { name, stored_versions: stored, objects })
}

/// Checks that conversions through the webhook work: for every CRD tkn-multi manages that converts
/// by webhook (only those whose webhook Service is in `service_namespace`, if given), one stored
/// object (in `namespace`, if given) is read at each served version other than the storage one.
/// Returns each failure in the API server's words (`conversion webhook for tekton.dev/v1,
/// Kind=Task failed: …`); with no object stored there is nothing to convert and nothing fails.
///
/// The object is read by name: a GET goes to etcd and decodes through the webhook, while a LIST
/// is served from the API server's watch cache, which holds objects converted when they were
/// written, and succeeds with the webhook dead (seen on the real cluster).
pub async fn conversion_failures(
    apis: &Apis,
    namespace: Option<&str>,
    service_namespace: Option<&str>,
) -> anyhow::Result<Vec<String>> {
    let crds = apis
        .api(&GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition"), None)
        .await?
        .list(&ListParams::default().labels(&format!("{LABEL_MANAGED_BY}={MANAGER}")))
        .await
        .context("cannot list CustomResourceDefinitions")?;
    let mut failures = Vec::new();
    for crd in &crds.items {
        let spec = &crd.data["spec"];
        let service = &spec["conversion"]["webhook"]["clientConfig"]["service"]["namespace"];
        if spec["conversion"]["strategy"] != "Webhook"
            || service_namespace.is_some_and(|ns| service != ns)
        {
            continue;
        }
        let (group, kind) = (
            spec["group"].as_str().unwrap_or_default(),
            spec["names"]["kind"].as_str().unwrap_or_default(),
        );
        let versions: Vec<&Value> = spec["versions"].as_array().into_iter().flatten().collect();
        let Some(storage) = versions.iter().find(|v| v["storage"] == true) else { continue };
        let at = |version: &str| GroupVersionKind::gvk(group, version, kind);
        let ns = namespace.filter(|_| spec["scope"] == "Namespaced");
        let Ok(stored) = apis.api(&at(storage["name"].as_str().unwrap_or_default()), ns).await
        else {
            continue;
        };
        let Some(one) = stored.list(&ListParams::default().limit(1)).await?.items.pop() else {
            continue;
        };
        let (name, object_ns) =
            (one.metadata.name.clone().unwrap_or_default(), one.metadata.namespace.clone());
        for v in versions.iter().filter(|v| v["served"] == true && v["storage"] != true) {
            let version = v["name"].as_str().unwrap_or_default();
            let Ok(api) = apis.api(&at(version), object_ns.as_deref()).await else { continue };
            if let Err(e) = api.get(&name).await {
                let why = match e {
                    kube::Error::Api(s) => s.message,
                    e => e.to_string(),
                };
                failures.push(format!("reading {kind}s at {group}/{version} fails: {why}"));
            }
        }
    }
    Ok(failures)
}

/// The Deployment `namespace/name`, if it exists.
///
/// # Errors
/// The API refused the read.
pub async fn deployment(
    client: &Client,
    namespace: &str,
    name: &str,
) -> anyhow::Result<Option<k8s_openapi::api::apps::v1::Deployment>> {
    let api: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(client.clone(), namespace);
    Ok(api.get_opt(name).await?)
}

/// The newest `limit` warning events in `namespace`, as `Kind/name: Reason message`.
///
/// # Errors
/// The API refused the list.
pub async fn recent_warnings(
    client: &Client,
    namespace: &str,
    limit: usize,
) -> anyhow::Result<Vec<String>> {
    use k8s_openapi::api::core::v1::Event;
    let events: Api<Event> = Api::namespaced(client.clone(), namespace);
    let mut warnings: Vec<Event> = events
        .list(&ListParams::default().fields("type=Warning"))
        .await
        .context("cannot list events")?
        .items;
    warnings.sort_by_key(|e| std::cmp::Reverse(e.last_timestamp.clone().map(|t| t.0)));
    Ok(warnings
        .iter()
        .take(limit)
        .map(|e| {
            format!(
                "{}/{}: {} {}",
                e.involved_object.kind.clone().unwrap_or_default(),
                e.involved_object.name.clone().unwrap_or_default(),
                e.reason.clone().unwrap_or_default(),
                e.message.clone().unwrap_or_default()
            )
        })
        .collect())
}
