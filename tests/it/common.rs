//! Helpers shared by the integration tests: where the real release files are, the built binary,
//! and the test cluster (its kubeconfig, clients, applies, waits, the binary run against it).
//!
//! Every test that needs the test cluster is `#[ignore = "needs the test cluster: scripts/test
//! runs it"]`: a plain `cargo test` reports it as ignored, never as passed, and `scripts/test`
//! runs it (`--include-ignored`) against the cluster it starts; run alone without a cluster it
//! fails and says what is missing. Tests that need the release files fail without them.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::GroupVersionKind;
use kube::{Client, Config, discovery};
use tkn_multi::release::Object;

use tkn_multi::intake;
use tkn_multi::release::fetch::{RELEASE_DIR_FOLDERS, release_dir_file};
use tkn_multi::release::{Release, TektonVersion};

/// A release URL on loopback that refuses at once: tests that may look a version up by download
/// use it, so no test traffic leaves the machine.
pub const NO_DOWNLOADS: &str = "http://127.0.0.1:9/{version}.yaml";

/// The built binary as every test runs it: releases looked up in `releases` (none: the variable
/// unset, so only the cache and downloads), cached in `cache`, downloaded from loopback (refused
/// at once, so no test traffic leaves the machine) unless a test names its own server.
pub fn tkn_multi(releases: Option<&Path>, cache: &Path) -> Command {
    let mut c = Command::cargo_bin("tkn-multi").unwrap();
    c.env("TKN_MULTI_RELEASE_URL", NO_DOWNLOADS).env("TKN_MULTI_CACHE_DIR", cache);
    match releases {
        Some(dir) => c.env("TKN_MULTI_RELEASE_DIR", dir),
        None => c.env_remove("TKN_MULTI_RELEASE_DIR"),
    };
    c
}

/// The directory holding `pipeline/<version>.yaml`: `$TKN_MULTI_RELEASE_DIR`, else the shared
/// test data beside the repository (`../shared/tekton-releases`). The release files are the
/// tests' data, as fixtures are: a test that needs them fails without them, in CI and outside,
/// and says where it looked.
pub fn release_dir() -> PathBuf {
    let dir = std::env::var_os("TKN_MULTI_RELEASE_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/tekton-releases"),
        PathBuf::from,
    );
    assert!(
        dir.join("pipeline").is_dir(),
        "the release files are missing: no {}/pipeline (set TKN_MULTI_RELEASE_DIR to the directory \
         holding pipeline/ and pipeline-from-source/)",
        dir.display()
    );
    dir
}

/// Every Pipelines release file, oldest first: upstream's (`pipeline/`) and those rebuilt from
/// the module source (`pipeline-from-source/`), as one set.
pub fn all_versions() -> Vec<TektonVersion> {
    let dir = release_dir();
    let mut versions: Vec<TektonVersion> = RELEASE_DIR_FOLDERS
        .iter()
        .filter_map(|f| std::fs::read_dir(dir.join(f)).ok())
        .flatten()
        .filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(".yaml")?.parse().ok())
        .collect();
    versions.sort();
    versions.dedup();
    assert!(versions.len() >= 44, "expected the 44 shared releases, found {}", versions.len());
    versions
}

/// The path of one release file.
pub fn release_path(version: &str) -> PathBuf {
    let v: TektonVersion = version.parse().expect("a version");
    let dir = release_dir();
    release_dir_file(&dir, &v)
        .unwrap_or_else(|| panic!("no release file of {version} in {}", dir.display()))
}

/// Loads one release through the same intake as the binary.
pub fn load(version: &TektonVersion) -> Release {
    let dir = release_dir();
    let path = release_dir_file(&dir, version).expect("release file exists");
    let bytes = std::fs::read(&path).expect("release file is readable");
    intake::release(&bytes, version, &path.display().to_string()).expect("real release is accepted")
}

/// Cluster tests share cluster-wide objects: one at a time.
pub(crate) static CLUSTER: Mutex<()> = Mutex::new(());

/// The member clusters' tests (`clusters`, `flux`) share the members' CRDs: one at a time, and
/// beside the main cluster's tests (they touch nothing of its Tekton objects).
pub(crate) static MEMBERS: Mutex<()> = Mutex::new(());

/// The field manager of the tests' own writes.
pub(crate) const MANAGER: &str = "tkn-multi-tests";

pub(crate) fn kubeconfig() -> PathBuf {
    match std::env::var_os("TKN_MULTI_TEST_KUBECONFIG") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => panic!(
            "TKN_MULTI_TEST_KUBECONFIG is unset: this test needs the test cluster (scripts/test \
             starts it and runs the tests a plain `cargo test` ignores)"
        ),
    }
}

pub(crate) async fn client(path: &PathBuf) -> Client {
    let kc = Kubeconfig::read_from(path).expect("kubeconfig is readable");
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("kubeconfig is valid");
    Client::try_from(config).expect("client")
}

pub(crate) fn unique(prefix: &str) -> String {
    let n = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{prefix}-{:x}", n % 0xff_ffff)
}

/// An API for any kind, in `namespace` or cluster-wide.
pub(crate) async fn dynamic_api(
    client: &Client,
    api_version: &str,
    kind: &str,
    namespace: Option<&str>,
) -> Api<DynamicObject> {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let (ar, _) = discovery::pinned_kind(client, &gvk)
        .await
        .unwrap_or_else(|e| panic!("discover {gvk:?}: {e}"));
    match namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
        None => Api::all_with(client.clone(), &ar),
    }
}

/// Server-side applies one object, whatever its kind.
pub(crate) async fn apply(client: &Client, o: &Object) {
    let api = dynamic_api(client, o.api_version(), o.kind(), o.namespace()).await;
    api.patch(o.name(), &PatchParams::apply(MANAGER).force(), &Patch::Apply(o.to_value()))
        .await
        .unwrap_or_else(|e| panic!("apply {} {}: {e}", o.kind(), o.name()));
}

pub(crate) async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < timeout, "{what} not reached within {timeout:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Whether the CRD `name` is Established.
pub(crate) async fn crd_established(client: &Client, name: &str) -> bool {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    api.get(name)
        .await
        .ok()
        .and_then(|c| c.status)
        .and_then(|s| s.conditions)
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Established" && c.status == "True"))
}

pub(crate) async fn deployment_available(client: &Client, ns: &str, name: &str) -> bool {
    let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
    api.get(name)
        .await
        .ok()
        .and_then(|d| d.status)
        .and_then(|s| s.conditions)
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Available" && c.status == "True"))
}

/// Whether `name` is gone from `api` (a 404).
pub(crate) async fn gone<K>(api: &Api<K>, name: &str) -> bool
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    matches!(api.get(name).await, Err(kube::Error::Api(e)) if e.code == 404)
}

pub(crate) async fn delete_namespace_and_wait(client: &Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    let _ = api.delete(name, &DeleteParams::default()).await;
    wait_until(&format!("namespace {name} gone"), Duration::from_secs(120), || gone(&api, name))
        .await;
}

/// Runs the binary against the test cluster.
pub(crate) fn tkn(kubeconfig: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let dir = crate::common::release_dir();
    let out = crate::common::tkn_multi(Some(&dir), &kubeconfig.with_file_name("no-cache"))
        .env("KUBECONFIG", kubeconfig)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

pub(crate) fn observed(kubeconfig: &std::path::Path) -> tkn_multi::plan::state::ClusterState {
    let (code, out, err) = tkn(kubeconfig, &["list", "-o", "yaml"]);
    assert_eq!(code, 0, "{err}");
    tkn_multi::yaml::from_str(&out).unwrap()
}

/// Runs tkn-multi with `--yes -q` (and `--force-conflicts`: earlier tests leave unlabelled CRDs),
/// asserting success.
pub(crate) fn run_ok(path: &std::path::Path, args: &[&str]) -> String {
    let mut all = args.to_vec();
    all.extend(["--yes", "--force-conflicts", "-q"]);
    let (code, out, err) = tkn(path, &all);
    assert_eq!(code, 0, "{args:?}: {err}\n{out}");
    out
}

pub(crate) fn kubectl_apply(path: &std::path::Path, yaml: &str) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = client(&path.to_path_buf()).await;
        for doc in yaml.split("\n---\n") {
            let v: serde_json::Value = tkn_multi::yaml::from_str(doc).unwrap();
            let serde_json::Value::Object(map) = v else { panic!("a mapping") };
            apply(&client, &Object::from_map(map)).await;
        }
    });
}

/// The phases of a scenario test. Each phase runs in order and reports on stderr; one that
/// fails (panics) is recorded and the later phases still run, so that an early failure does not
/// hide the rest (a later phase that needed it fails with its own message). [`Phases::finish`]
/// fails the test naming every failed phase.
pub(crate) struct Phases {
    scenario: &'static str,
    failed: Vec<String>,
}

impl Phases {
    pub(crate) fn new(scenario: &'static str) -> Self {
        Phases { scenario, failed: Vec::new() }
    }

    /// Runs one phase.
    pub(crate) async fn run(&mut self, phase: &str, body: impl std::future::Future<Output = ()>) {
        use futures::FutureExt as _;
        let start = Instant::now();
        match std::panic::AssertUnwindSafe(body).catch_unwind().await {
            Ok(()) => eprintln!("{}: phase {phase}: ok ({:.0?})", self.scenario, start.elapsed()),
            Err(panic) => {
                let why = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default();
                eprintln!("{}: phase {phase}: FAILED: {why}", self.scenario);
                self.failed.push(format!("{phase}: {why}"));
            }
        }
    }

    /// Fails when any phase failed.
    pub(crate) fn finish(self) {
        assert!(
            self.failed.is_empty(),
            "{}: {} phase(s) failed:\n  - {}",
            self.scenario,
            self.failed.len(),
            self.failed.join("\n  - ")
        );
    }
}
