//! Observation on a fake API server: `cluster::observe` over a `kube::Client` whose transport is
//! an in-memory API server (discovery, label-selected and paginated lists, gets by name) holding
//! the objects a plan writes. It counts every request. Issue "Speed": observing a cluster costs a
//! number of requests that grows with kinds and namespaces, not with objects.

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::future::{Ready, ready};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use serde_json::{Value, json};
use tkn_multi::cluster::{Apis, observe};
use tkn_multi::matrix::Matrix;
use tkn_multi::plan::state::ClusterState;
use tkn_multi::plan::{SharedPolicy, plan};

use crate::common::release_dir;

/// The most items the fake puts in one page of a list, whatever `limit` asks (a server may
/// return fewer): lists of more items than this take several pages.
const PAGE: usize = 100;

/// A served resource: kind, plural, namespaced.
type Resource = (String, String, bool);

/// An in-memory API server: the objects, and every request it answered.
#[derive(Clone, Default)]
struct FakeApi {
    /// By (`group`, `version`): the kinds served, with their plural and scope.
    served: Arc<BTreeMap<(String, String), Vec<Resource>>>,
    /// By (group, plural): the stored objects.
    objects: Arc<BTreeMap<(String, String), Vec<Value>>>,
    requests: Arc<Mutex<Vec<String>>>,
}

fn plural(kind: &str) -> String {
    let lower = kind.to_lowercase();
    if let Some(stem) = lower.strip_suffix('y') {
        format!("{stem}ies")
    } else if lower.ends_with('s') {
        format!("{lower}es")
    } else {
        format!("{lower}s")
    }
}

fn group_version(api_version: &str) -> (String, String) {
    match api_version.split_once('/') {
        Some((g, v)) => (g.to_owned(), v.to_owned()),
        None => (String::new(), api_version.to_owned()),
    }
}

impl FakeApi {
    /// A server holding `objects`, serving every managed kind and the CRDs among them.
    fn new(objects: Vec<Value>) -> Self {
        let mut served: BTreeMap<(String, String), Vec<Resource>> = BTreeMap::new();
        for k in tkn_multi::managed::KINDS {
            served.entry((k.group.to_owned(), k.version.to_owned())).or_default().push((
                k.kind.to_owned(),
                plural(k.kind),
                !tkn_multi::release::model::is_cluster_scoped(k.kind),
            ));
        }
        for crd in objects.iter().filter(|o| o["kind"] == "CustomResourceDefinition") {
            let spec = &crd["spec"];
            for v in spec["versions"].as_array().into_iter().flatten() {
                served
                    .entry((
                        spec["group"].as_str().unwrap().to_owned(),
                        v["name"].as_str().unwrap().to_owned(),
                    ))
                    .or_default()
                    .push((
                        spec["names"]["kind"].as_str().unwrap().to_owned(),
                        spec["names"]["plural"].as_str().unwrap().to_owned(),
                        spec["scope"] == "Namespaced",
                    ));
            }
        }
        let mut by_resource: BTreeMap<(String, String), Vec<Value>> = BTreeMap::new();
        for o in objects {
            let (group, _) = group_version(o["apiVersion"].as_str().unwrap());
            by_resource.entry((group, plural(o["kind"].as_str().unwrap()))).or_default().push(o);
        }
        FakeApi { served: Arc::new(served), objects: Arc::new(by_resource), ..FakeApi::default() }
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    fn answer(&self, path: &str, query: &BTreeMap<String, String>) -> (StatusCode, Value) {
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        // /api/v1/… or /apis/group/version/…
        let (group, version, rest) = match parts.as_slice() {
            ["api", v, rest @ ..] => (String::new(), (*v).to_owned(), rest),
            ["apis", g, v, rest @ ..] => ((*g).to_owned(), (*v).to_owned(), rest),
            _ => return not_found(path),
        };
        let (namespace, resource, name) = match rest {
            [] => return self.discovery(&group, &version),
            ["namespaces", ns, resource] => (Some(*ns), *resource, None),
            ["namespaces", ns, resource, name] => (Some(*ns), *resource, Some(*name)),
            [resource] => (None, *resource, None),
            [resource, name] => (None, *resource, Some(*name)),
            _ => return not_found(path),
        };
        let stored = self.objects.get(&(group, resource.to_owned())).cloned().unwrap_or_default();
        let in_scope = stored
            .into_iter()
            .filter(|o| namespace.is_none_or(|ns| o["metadata"]["namespace"] == ns))
            .filter(|o| selected(o, query.get("labelSelector").map(String::as_str)));
        if let Some(name) = name {
            return in_scope
                .into_iter()
                .find(|o| o["metadata"]["name"] == name)
                .map_or_else(|| not_found(path), |o| (StatusCode::OK, o));
        }
        let items: Vec<Value> = in_scope.collect();
        let from: usize = query.get("continue").map_or(0, |c| c.parse().unwrap());
        let limit = query.get("limit").map_or(usize::MAX, |l| l.parse().unwrap()).min(PAGE);
        let page: Vec<Value> = items.iter().skip(from).take(limit).cloned().collect();
        let next = from + page.len();
        let mut metadata = json!({"resourceVersion": "1"});
        if next < items.len() {
            metadata["continue"] = json!(next.to_string());
            metadata["remainingItemCount"] = json!(items.len() - next);
        }
        (
            StatusCode::OK,
            json!({"kind": "List", "apiVersion": "v1", "metadata": metadata, "items": page}),
        )
    }

    fn discovery(&self, group: &str, version: &str) -> (StatusCode, Value) {
        let gv = if group.is_empty() { version.to_owned() } else { format!("{group}/{version}") };
        let Some(kinds) = self.served.get(&(group.to_owned(), version.to_owned())) else {
            return not_found(&gv);
        };
        let resources: Vec<Value> = kinds
            .iter()
            .map(|(kind, plural, namespaced)| {
                json!({"name": plural, "singularName": kind.to_lowercase(), "namespaced": namespaced,
                       "kind": kind, "verbs": ["get", "list", "watch", "create", "patch", "delete"]})
            })
            .collect();
        (
            StatusCode::OK,
            json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
        )
    }
}

/// Whether `o` matches a selector of `key=value` terms.
fn selected(o: &Value, selector: Option<&str>) -> bool {
    selector.into_iter().flat_map(|s| s.split(',')).all(|term| {
        let (key, value) = term.split_once('=').unwrap();
        o["metadata"]["labels"][key] == value
    })
}

fn not_found(what: &str) -> (StatusCode, Value) {
    (
        StatusCode::NOT_FOUND,
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound",
               "code": 404, "message": format!("{what} not found")}),
    )
}

fn query_of(query: Option<&str>) -> BTreeMap<String, String> {
    query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| {
            let v = v.replace("%3D", "=").replace("%2C", ",").replace("%2F", "/");
            (k.to_owned(), v)
        })
        .collect()
}

impl tower::Service<Request<kube::client::Body>> for FakeApi {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<kube::client::Body>) -> Self::Future {
        let uri = req.uri().clone();
        self.requests.lock().unwrap().push(format!("{} {uri}", req.method()));
        assert_eq!(req.method(), http::Method::GET, "observation only reads: {uri}");
        let (status, body) = self.answer(uri.path(), &query_of(uri.query()));
        let response = Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .unwrap();
        ready(Ok(response))
    }
}

/// The objects a fresh cluster holds after tkn-multi installs `n` v0.56.0 instances, as the
/// executor writes them (the planner's manifests carry tkn-multi's labels), and the in-memory
/// fake's view of the same cluster.
fn installed(n: usize) -> (Vec<Value>, ClusterState) {
    let names: Vec<String> = (0..n).map(|i| format!("team-{i}")).collect();
    let instances: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "v0.56.0")).collect();
    let scope: Vec<&str> = names.iter().map(String::as_str).chain(["shared"]).collect();
    let d = crate::plan::desired(&instances, &scope, SharedPolicy::default());
    let p = plan(&d, &ClusterState::empty(), crate::plan::releases(), &Matrix::embedded()).unwrap();
    let mut state = ClusterState::empty();
    state.apply(&p);
    let objects = p.manifests.values().map(|o| Value::Object(o.as_map().clone())).collect();
    (objects, state)
}

/// Observes the fake holding `objects`; returns what it saw and the requests it took.
fn observed(objects: Vec<Value>) -> (ClusterState, Vec<String>) {
    let fake = FakeApi::new(objects);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let state = runtime
        .block_on(async { observe(&Apis::new(kube::Client::new(fake.clone(), "default"))).await })
        .unwrap();
    (state, fake.requests())
}

#[test]
fn observing_takes_requests_per_kind_and_namespace_not_per_object() {
    release_dir();
    let (objects, expected) = installed(20);
    let count = objects.len();
    let kinds: BTreeSet<(String, String)> = objects
        .iter()
        .map(|o| {
            (o["apiVersion"].as_str().unwrap().to_owned(), o["kind"].as_str().unwrap().to_owned())
        })
        .collect();
    let crds = objects.iter().filter(|o| o["kind"] == "CustomResourceDefinition").count();
    let webhook_namespaces: BTreeSet<&str> = objects
        .iter()
        .filter(|o| {
            o["kind"] == "Deployment" && o["metadata"]["name"] == "tekton-pipelines-webhook"
        })
        .map(|o| o["metadata"]["namespace"].as_str().unwrap())
        .collect();
    assert_eq!(webhook_namespaces.len(), 21, "20 instance webhooks and the shared one");
    let per_kind: BTreeMap<&str, usize> = objects.iter().fold(BTreeMap::new(), |mut m, o| {
        *m.entry(o["kind"].as_str().unwrap()).or_default() += 1;
        m
    });
    assert!(
        per_kind.values().any(|&n| n > PAGE),
        "some kind needs more than one page, so that paging is exercised: {per_kind:?}"
    );

    let (state, requests) = observed(objects.clone());

    // It saw what the in-memory fake cluster holds after the same plan: every object, every
    // instance, the shared layer.
    assert_eq!(state.objects.len(), count, "every object observed once");
    assert_eq!(state.instances, expected.instances);
    assert_eq!(
        state.shared.as_ref().map(|s| (s.version.clone(), s.crds.len())),
        Some((expected.shared.as_ref().unwrap().version.clone(), crds))
    );

    // The requests: discovery once per group version, a list per managed kind (a page per
    // `PAGE` objects), a get per webhook Secret, a one-item list per CRD to count its objects.
    let discovery =
        requests.iter().filter(|r| r.matches('/').count() <= 3 && !r.contains('?')).count();
    let group_versions: BTreeSet<&str> = tkn_multi::managed::KINDS
        .iter()
        .map(|k| if k.group.is_empty() { "v1" } else { k.group })
        .collect();
    let secrets = requests.iter().filter(|r| r.contains("/secrets/webhook-certs")).count();
    assert_eq!(secrets, webhook_namespaces.len(), "{requests:#?}");
    let pages: usize = tkn_multi::managed::KINDS
        .iter()
        .filter(|k| k.kind != "Secret")
        .map(|k| per_kind.get(k.kind).map_or(1, |n| n.div_ceil(PAGE)))
        .sum();
    assert_eq!(
        requests.len(),
        discovery + pages + secrets + crds,
        "discovery {discovery}, list pages {pages}, Secrets {secrets}, CRD counts {crds}:\n{requests:#?}"
    );
    // Discovery: each group version once, the managed kinds' and the CRDs' storage versions.
    let storage: BTreeSet<String> = objects
        .iter()
        .filter(|o| o["kind"] == "CustomResourceDefinition")
        .flat_map(|crd| {
            let group = crd["spec"]["group"].as_str().unwrap().to_owned();
            crd["spec"]["versions"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|v| v["storage"] == true)
                .map(move |v| format!("{group}/{}", v["name"].as_str().unwrap()))
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(discovery, group_versions.len() + storage.len(), "{requests:#?}");
    // Bounded by kinds and namespaces: a few requests each, for some thousand objects.
    let bound = 2 * (kinds.len() + webhook_namespaces.len());
    assert!(count > 900, "{count} objects");
    assert!(requests.len() <= bound, "{} requests, more than {bound}", requests.len());

    // Ten instances more cost one request per webhook namespace, nothing per object.
    let (more, _) = installed(30);
    let (_, requests_30) = observed(more);
    assert!(
        requests_30.len() <= requests.len() + 10 + 5,
        "30 instances: {} requests, 20: {}",
        requests_30.len(),
        requests.len()
    );
}
