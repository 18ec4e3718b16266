//! The real-Tekton tier: Tekton's own controllers and webhooks, built from its Go module at each
//! version under `tests/cluster/tekton/`, run as processes by the test cluster's process kubelet
//! (`tests/cluster/kubelet.py`), each in a network namespace of its own at its pod IP. The API
//! server reaches admission and conversion webhooks through EndpointSlices. TaskRun pods are
//! completed by KWOK stages (`tests/cluster/stages/`), as kubelet would report them.
//!
//! Everything goes through the tkn-multi binary; the tests only write Tekton objects and read what
//! Tekton did with them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use crate::cluster::check_isolation;
use crate::common::load;
use crate::common::{CLUSTER, client, dynamic_api, kubeconfig, run_ok, tkn, unique};

/// The running cluster's directory (the kubeconfig's), where the kubelet keeps logs and pod state.
fn cluster_dir(kubeconfig: &Path) -> PathBuf {
    let dir = kubeconfig.parent().unwrap().to_path_buf();
    let have = dir.join("logs/pods").is_dir() && dir.join("kubelet").is_dir();
    assert!(
        have,
        "{} has no process kubelet: the real-Tekton tier needs scripts/test-cluster up",
        dir.display()
    );
    dir
}

/// The value of a controller flag (`-entrypoint-image`) in a release's controller Deployment: it is
/// different in every version, so a TaskRun pod's init container image says which instance made it.
fn controller_flag(version: &str, flag: &str) -> String {
    let release = load(&version.parse().unwrap());
    let d = release
        .objects
        .iter()
        .find(|o| o.kind() == "Deployment" && o.name() == "tekton-pipelines-controller")
        .unwrap();
    let args = d.to_value()["spec"]["template"]["spec"]["containers"][0]["args"].clone();
    let args: Vec<String> = serde_json::from_value(args).unwrap();
    let i = args.iter().position(|a| a == flag).unwrap();
    args[i + 1].clone()
}

/// A handle on the cluster for one test: a runtime, a client, the kubeconfig.
struct Kube {
    rt: tokio::runtime::Runtime,
    client: Client,
    path: PathBuf,
}

impl Kube {
    fn new(path: &Path) -> Self {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let client = rt.block_on(client(&path.to_path_buf()));
        Kube { rt, client, path: path.to_path_buf() }
    }

    fn api(&self, api_version: &str, kind: &str, ns: Option<&str>) -> Api<DynamicObject> {
        self.rt.block_on(dynamic_api(&self.client, api_version, kind, ns))
    }

    /// Creates an object; the API server's refusal (an admission webhook's) comes back as text.
    fn create(&self, yaml: &str) -> Result<Value, String> {
        let v: Value = tkn_multi::yaml::from_str(yaml).unwrap();
        let ns = v["metadata"]["namespace"].as_str();
        let api = self.api(v["apiVersion"].as_str().unwrap(), v["kind"].as_str().unwrap(), ns);
        let obj: DynamicObject = serde_json::from_value(v.clone()).unwrap();
        self.rt
            .block_on(api.create(&PostParams::default(), &obj))
            .map(|o| serde_json::to_value(o).unwrap())
            .map_err(|e| e.to_string())
    }

    fn get(&self, api_version: &str, kind: &str, ns: &str, name: &str) -> Result<Value, String> {
        let api = self.api(api_version, kind, Some(ns));
        self.rt
            .block_on(api.get(name))
            .map(|o| serde_json::to_value(o).unwrap())
            .map_err(|e| e.to_string())
    }

    fn namespace(&self, name: &str) {
        let api = self.api("v1", "Namespace", None);
        let obj: DynamicObject = serde_json::from_value(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}),
        )
        .unwrap();
        self.rt
            .block_on(api.patch(name, &PatchParams::apply("tkn-multi-tests"), &Patch::Apply(obj)))
            .unwrap();
    }

    /// Waits for a run's `Succeeded` condition to be decided; returns (status, reason).
    fn wait_run(&self, api_version: &str, kind: &str, ns: &str, name: &str) -> (String, String) {
        let start = Instant::now();
        loop {
            let o = self.get(api_version, kind, ns, name).unwrap();
            if let Some(c) = o["status"]["conditions"]
                .as_array()
                .and_then(|cs| cs.iter().find(|c| c["type"] == "Succeeded"))
                && c["status"] != "Unknown"
            {
                return (
                    c["status"].as_str().unwrap().to_owned(),
                    c["reason"].as_str().unwrap_or_default().to_owned(),
                );
            }
            assert!(
                start.elapsed() < Duration::from_secs(180),
                "{kind} {ns}/{name} not done within 180 s: {}",
                o["status"]
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// The init container images of a TaskRun's pod.
    fn pod_images(&self, api_version: &str, ns: &str, taskrun: &str) -> Vec<String> {
        let tr = self.get(api_version, "TaskRun", ns, taskrun).unwrap();
        let pod_name = tr["status"]["podName"].as_str().expect("the TaskRun has a pod");
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        let pod = self.rt.block_on(pods.get(pod_name)).unwrap();
        let spec = pod.spec.unwrap();
        spec.init_containers
            .unwrap_or_default()
            .into_iter()
            .chain(spec.containers)
            .filter_map(|c| c.image)
            .collect()
    }

    /// Deletes every object of `kinds` in `ns` and waits until they are gone (90 s at most).
    fn delete_cluster_task(&self, name: &str) {
        let api = self.api("tekton.dev/v1beta1", "ClusterTask", None);
        self.rt.block_on(api.delete(name, &DeleteParams::default())).unwrap();
    }

    fn delete_all(&self, ns: &str, api_version: &str, kinds: &[&str]) {
        for kind in kinds {
            let api = self.api(api_version, kind, Some(ns));
            self.rt
                .block_on(api.delete_collection(&DeleteParams::default(), &ListParams::default()))
                .unwrap();
            let start = Instant::now();
            while !self.rt.block_on(api.list(&ListParams::default())).unwrap().items.is_empty() {
                assert!(start.elapsed() < Duration::from_secs(90), "{kind}s in {ns} not deleted");
                std::thread::sleep(Duration::from_millis(500));
            }
        }
    }

    fn stored_versions(&self, crd: &str) -> Vec<String> {
        let api: Api<CustomResourceDefinition> = Api::all(self.client.clone());
        let c = self.rt.block_on(api.get(crd)).unwrap();
        c.status.and_then(|s| s.stored_versions).unwrap_or_default()
    }

    fn storage_version(&self, crd: &str) -> String {
        let api: Api<CustomResourceDefinition> = Api::all(self.client.clone());
        let c = self.rt.block_on(api.get(crd)).unwrap();
        c.spec.versions.into_iter().find(|v| v.storage).unwrap().name
    }
}

/// A TaskRun with an embedded Task: one step with a command (so Tekton never looks the image up).
fn taskrun(api_version: &str, ns: &str, name: &str, annotations: &Value) -> String {
    json!({
        "apiVersion": api_version, "kind": "TaskRun",
        "metadata": {"name": name, "namespace": ns, "annotations": annotations},
        "spec": {"taskSpec": {"steps": [
            {"name": "echo", "image": "registry.invalid/busybox:1", "command": ["echo"], "args": ["hello"]}
        ]}}
    })
    .to_string()
}

/// A PipelineRun of two tasks, the second after the first.
fn pipelinerun(api_version: &str, ns: &str, name: &str, annotations: &Value) -> String {
    let task = json!({"steps": [
        {"name": "work", "image": "registry.invalid/busybox:1", "command": ["true"]}
    ]});
    json!({
        "apiVersion": api_version, "kind": "PipelineRun",
        "metadata": {"name": name, "namespace": ns, "annotations": annotations},
        "spec": {"pipelineSpec": {"tasks": [
            {"name": "first", "taskSpec": task},
            {"name": "second", "runAfter": ["first"], "taskSpec": task}
        ]}}
    })
    .to_string()
}

/// A v1beta1 PipelineRun of two tasks, the second skipped by a `when` expression that is false.
fn skipping_pipelinerun(ns: &str, name: &str) -> String {
    let task = json!({"steps": [
        {"name": "work", "image": "registry.invalid/busybox:1", "command": ["true"]}
    ]});
    json!({
        "apiVersion": "tekton.dev/v1beta1", "kind": "PipelineRun",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"pipelineSpec": {"tasks": [
            {"name": "runs", "taskSpec": task},
            {"name": "skipped", "taskSpec": task,
             "when": [{"input": "a", "operator": "in", "values": ["b"]}]}
        ]}}
    })
    .to_string()
}

/// The names of the pod log files the kubelet has written so far.
fn log_files(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir.join("logs/pods"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// Every log line of the pod processes the kubelet ran in namespace `ns`, with the file it is
/// in, leaving out the pods of `earlier` (those of tests that ran before: their shared layer's
/// pods outlived its RBAC on uninstall and could not release their leases).
fn pod_logs(dir: &Path, ns: &str, earlier: &BTreeSet<String>) -> Vec<(String, String)> {
    let mut lines = Vec::new();
    for name in log_files(dir) {
        if name.starts_with(&format!("{ns}_")) && !earlier.contains(&name) {
            let e = dir.join("logs/pods").join(&name);
            let text = std::fs::read_to_string(e).unwrap();
            lines.extend(text.lines().map(|l| (name.clone(), l.to_owned())));
        }
    }
    lines
}

/// The pod processes of namespace `ns` the kubelet runs: (pod dir, pid) for every live one.
fn live_processes(dir: &Path, ns: &str) -> Vec<(String, i32)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir.join("kubelet/pods")).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with(&format!("{ns}_")) {
            continue;
        }
        for f in std::fs::read_dir(e.path()).unwrap() {
            let f = f.unwrap();
            if f.file_name().to_string_lossy().ends_with(".pid") {
                let pid: i32 = std::fs::read_to_string(f.path()).unwrap().trim().parse().unwrap();
                if Path::new(&format!("/proc/{pid}")).exists() {
                    out.push((name.clone(), pid));
                }
            }
        }
    }
    out
}

/// The namespaces an admission webhook's log says it was asked about (knative logs
/// `knative.dev/namespace` with every request it admits).
/// What an instance's webhook was asked about: the values of `key` (knative logs each request's
/// `knative.dev/namespace` and `knative.dev/name`) in its log lines.
fn admitted(dir: &Path, control_plane: &str, key: &str) -> BTreeSet<String> {
    pod_logs(dir, control_plane, &BTreeSet::new())
        .into_iter()
        .filter(|(file, _)| file.contains("webhook"))
        .filter_map(|(_, line)| {
            let v: Value = serde_json::from_str(&line).ok()?;
            v.get(key).and_then(Value::as_str).map(str::to_owned)
        })
        .collect()
}

/// The namespaces an instance's webhook was asked about.
fn admitted_namespaces(dir: &Path, control_plane: &str) -> BTreeSet<String> {
    admitted(dir, control_plane, "knative.dev/namespace")
}

/// The names of the objects an instance's webhook was asked about.
fn admitted_names(dir: &Path, control_plane: &str) -> BTreeSet<String> {
    admitted(dir, control_plane, "knative.dev/name")
}

#[test]
#[ignore = "needs the test cluster: scripts/test runs it"]
fn real_tekton_instances_reconcile_admit_and_convert_only_for_their_namespaces() {
    let path = kubeconfig();
    let _guard = CLUSTER.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = cluster_dir(&path);
    let earlier = log_files(&dir);
    let k = Kube::new(&path);
    let (a, b, c) = (unique("rt-a"), unique("rt-b"), unique("rt-c"));
    let (cp_a, cp_b, cp_c) = (format!("tekton-{a}"), format!("tekton-{b}"), format!("tekton-{c}"));
    let none = json!({});

    // 1. v0.24.1 in a: the shared layer is v0.24.1; every Deployment is a real process.
    run_ok(&path, &["install", "v0.24.1", "-n", &a]);
    assert!(!live_processes(&dir, &cp_a).is_empty(), "a's controller runs as a process");
    assert!(!live_processes(&dir, "tekton-shared").is_empty(), "the shared webhook runs");
    // Objects written at v1beta1 while v1beta1 is the storage version, reconciled by v0.24.1.
    assert_eq!(k.storage_version("tasks.tekton.dev"), "v1beta1");
    k.create(
        &json!({
            "apiVersion": "tekton.dev/v1beta1", "kind": "Task",
            "metadata": {"name": "hello", "namespace": a},
            "spec": {"steps": [{"name": "s", "image": "registry.invalid/busybox:1", "command": ["true"]}]}
        })
        .to_string(),
    )
    .unwrap();
    k.create(
        &json!({
            "apiVersion": "tekton.dev/v1beta1", "kind": "TaskRun",
            "metadata": {"name": "by-ref", "namespace": a},
            "spec": {"taskRef": {"name": "hello"}}
        })
        .to_string(),
    )
    .unwrap();
    assert_eq!(k.wait_run("tekton.dev/v1beta1", "TaskRun", &a, "by-ref").0, "True");
    let entrypoint_a = controller_flag("v0.24.1", "-entrypoint-image");
    assert!(k.pod_images("tekton.dev/v1beta1", &a, "by-ref").contains(&entrypoint_a));

    // 2. v0.56.0 in b: the shared layer moves to v0.56.0 (storage v1), and tkn-multi migrates the
    //    objects stored at v1beta1 through the real conversion webhook, in pages of 2 (more Tasks
    //    than one page): every one is rewritten, so its resourceVersion changes.
    for i in 0..4 {
        k.create(
            &json!({
                "apiVersion": "tekton.dev/v1beta1", "kind": "Task",
                "metadata": {"name": format!("paged-{i}"), "namespace": a},
                "spec": {"steps": [{"name": "s", "image": "registry.invalid/busybox:1", "command": ["true"]}]}
            })
            .to_string(),
        )
        .unwrap();
    }
    let task_versions = |k: &Kube| -> std::collections::BTreeMap<String, String> {
        let api = k.rt.block_on(dynamic_api(&k.client, "tekton.dev/v1beta1", "Task", Some(&a)));
        k.rt.block_on(api.list(&ListParams::default()))
            .unwrap()
            .items
            .into_iter()
            .map(|t| (t.metadata.name.unwrap(), t.metadata.resource_version.unwrap()))
            .collect()
    };
    let before = task_versions(&k);
    assert_eq!(before.len(), 5, "hello and paged-0…3");
    run_ok(&path, &["install", "v0.56.0", "-n", &b, "--chunk-size", "2"]);
    assert_eq!(k.storage_version("tasks.tekton.dev"), "v1");
    let after = task_versions(&k);
    for (name, rv) in &before {
        assert_ne!(after.get(name), Some(rv), "Task {name} was rewritten at v1");
    }
    for crd in ["tasks.tekton.dev", "taskruns.tekton.dev"] {
        assert_eq!(k.stored_versions(crd), ["v1"], "{crd}: migrated and verified");
    }
    // The v1beta1 Task, stored at v1, reads back at both versions through the conversion webhook.
    let t1 = k.get("tekton.dev/v1", "Task", &a, "hello").unwrap();
    assert_eq!(t1["spec"]["steps"][0]["name"], "s");
    let t1b = k.get("tekton.dev/v1beta1", "Task", &a, "hello").unwrap();
    assert_eq!(t1b["apiVersion"], "tekton.dev/v1beta1");

    // 2b. ClusterTasks (docs/compat-matrix.md, "ClusterTasks"): one name for both instances, and
    //     admitted by the webhook of the instance whose rules knative writes (v0.56.0), never by
    //     v0.24.1's, whose rules tkn-multi writes without cluster-scoped kinds.
    let ct_name = unique("ct");
    let ct = json!({
        "apiVersion": "tekton.dev/v1beta1", "kind": "ClusterTask",
        "metadata": {"name": ct_name},
        "spec": {"steps": [{"name": "s", "image": "registry.invalid/busybox:1", "command": ["true"]}]}
    })
    .to_string();
    k.create(&ct).unwrap();
    let again = k.create(&ct).expect_err("one name for the whole cluster");
    assert!(again.contains("already exists"), "{again}");
    let start = Instant::now();
    while !admitted_names(&dir, &cp_b).contains(&ct_name) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "v0.56.0's webhook admitted the ClusterTask"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        !admitted_names(&dir, &cp_a).contains(&ct_name),
        "v0.24.1's webhook was asked about it"
    );
    for (ns, api_version) in [(&a, "tekton.dev/v1beta1"), (&b, "tekton.dev/v1")] {
        let tr = json!({
            "apiVersion": api_version, "kind": "TaskRun",
            "metadata": {"name": "by-cluster-task", "namespace": ns},
            "spec": {"taskRef": {"name": ct_name, "kind": "ClusterTask"}}
        });
        k.create(&tr.to_string()).unwrap();
        assert_eq!(
            k.wait_run(api_version, "TaskRun", ns, "by-cluster-task").0,
            "True",
            "{ns} reads the same ClusterTask"
        );
    }
    k.delete_cluster_task(&ct_name);

    // 3. v1.15.1 in c would move the shared layer to v1.15.1, where the compatibility lab saw
    //    v0.24.1's PipelineRuns with skipped tasks never finish: refused, naming the evidence,
    //    and nothing changes. On the v0.56.0 layer such a run of a finishes.
    k.create(&skipping_pipelinerun(&a, "skips-on-v0.56.0")).unwrap();
    assert_eq!(k.wait_run("tekton.dev/v1beta1", "PipelineRun", &a, "skips-on-v0.56.0").0, "True");
    let before = crate::common::observed(&path);
    let (code, out, err) = tkn(&path, &["install", "v1.15.1", "-n", &c, "--yes"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("[skipped-tasks-status-refused] (evidence: evidence/v0.24.1-on-v1.15.1.yaml; accept it knowingly with --accept-broken-workloads)"), "{err}");
    assert!(
        err.contains("instance v0.24.1: PipelineRuns with skipped tasks never finish"),
        "{err}"
    );
    assert_eq!(crate::common::observed(&path), before, "a refused install changes nothing");
    //    Accepted knowingly, the layer moves, and the evidence holds on the real cluster: the
    //    same PipelineRun in a never finishes, every status write refused.
    let out = run_ok(&path, &["install", "v1.15.1", "-n", &c, "--accept-broken-workloads"]);
    assert!(out.contains("(accepted with --accept-broken-workloads)"), "{out}");
    let shared = crate::common::observed(&path).shared.unwrap();
    assert_eq!(shared.version.to_string(), "v1.15.1");
    k.create(&skipping_pipelinerun(&a, "skips-on-v1.15.1")).unwrap();
    let start = Instant::now();
    while !pod_logs(&dir, &cp_a, &BTreeSet::new()).iter().any(|(_, l)| {
        l.contains("skips-on-v1.15.1")
            && l.contains("status.skippedTasks[0].reason: Required value")
    }) {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no refused status write of skips-on-v1.15.1"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    let stuck = k.get("tekton.dev/v1beta1", "PipelineRun", &a, "skips-on-v1.15.1").unwrap();
    let finished = stuck["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["status"] != "Unknown");
    assert!(!finished, "{}", stuck["status"]);
    k.delete_all(&a, "tekton.dev/v1beta1", &["PipelineRun"]);

    // 4. Every instance reconciles its own namespace, and only its own.
    let runs = [
        (&a, "tekton.dev/v1beta1", "v0.24.1"),
        (&b, "tekton.dev/v1", "v0.56.0"),
        (&c, "tekton.dev/v1", "v1.15.1"),
    ];
    for (ns, api_version, _) in runs {
        k.create(&taskrun(api_version, ns, "tr", &none)).unwrap();
        k.create(&pipelinerun(api_version, ns, "pr", &none)).unwrap();
    }
    for (ns, api_version, version) in runs {
        assert_eq!(
            k.wait_run(api_version, "TaskRun", ns, "tr"),
            ("True".into(), "Succeeded".into()),
            "{ns}"
        );
        assert_eq!(k.wait_run(api_version, "PipelineRun", ns, "pr").0, "True", "{ns}");
        let entrypoint = controller_flag(version, "-entrypoint-image");
        assert!(
            k.pod_images(api_version, ns, "tr").contains(&entrypoint),
            "{ns}: the pod was made by the {version} controller ({entrypoint})"
        );
    }
    // A failing step fails the run.
    k.create(&taskrun("tekton.dev/v1", &b, "fails", &json!({"tkn-multi.test/exit-code": "1"})))
        .unwrap();
    assert_eq!(k.wait_run("tekton.dev/v1", "TaskRun", &b, "fails").0, "False");
    // A namespace no instance watches: nobody touches its TaskRun.
    let stray = unique("rt-none");
    k.namespace(&stray);
    k.create(&taskrun("tekton.dev/v1", &stray, "alone", &none)).unwrap();
    // The positive signal first: a TaskRun created after it, in a watched namespace, ran to the
    // end, so the controllers have handled events from after the stray one's creation.
    k.create(&taskrun("tekton.dev/v1", &b, "after-alone", &none)).unwrap();
    assert_eq!(k.wait_run("tekton.dev/v1", "TaskRun", &b, "after-alone").0, "True");
    let alone = k.get("tekton.dev/v1", "TaskRun", &stray, "alone").unwrap();
    assert!(alone["status"].get("conditions").is_none(), "untouched: {}", alone["status"]);

    // 5. Admission per instance (v0.44+): Tekton's own refusal and defaults.
    for ns in [&b, &c] {
        assert_refuses_a_task_without_an_image(&k, ns, "tekton.dev/v1");
        let defaulted = k.create(&taskrun("tekton.dev/v1", ns, "defaults", &none)).unwrap();
        assert_eq!(defaulted["spec"]["serviceAccountName"], "default", "{ns}");
        assert_eq!(defaulted["spec"]["timeout"], "1h0m0s", "{ns}");
    }
    for (cp, ns) in [(&cp_b, &b), (&cp_c, &c)] {
        let seen = admitted_namespaces(&dir, cp);
        assert!(seen.contains(ns.as_str()), "{cp}'s webhook admitted in {ns}: {seen:?}");
        for other in [&a, &b, &c, &stray] {
            if other != ns {
                assert!(!seen.contains(other.as_str()), "{cp}'s webhook was asked about {other}");
            }
        }
    }

    // 6. The v0.24.1 instance still works with the v1.15.1 shared layer: its v1beta1 objects
    //    convert through v1.15.1's webhook, and its runs reconcile to Succeeded.
    k.create(&taskrun("tekton.dev/v1beta1", &a, "tr-later", &none)).unwrap();
    assert_eq!(
        k.wait_run("tekton.dev/v1beta1", "TaskRun", &a, "tr-later"),
        ("True".into(), "Succeeded".into())
    );
    let hello = k.get("tekton.dev/v1beta1", "Task", &a, "hello").unwrap();
    assert_eq!(hello["spec"]["steps"][0]["name"], "s");
    // v1.15 reads `enable-informer-cache-transforms` from its own feature-flags at start-up (a
    // direct GET in its control-plane namespace): the instance's RBAC allows it.
    let c_logs = pod_logs(&dir, &cp_c, &earlier);
    assert!(
        c_logs.iter().any(|(_, l)| l.contains("Informer cache transforms enabled")),
        "v1.15.1's controller read its feature-flags"
    );
    assert!(
        !c_logs.iter().any(|(_, l)| l.contains("Failed to read feature-flags ConfigMap")),
        "{c_logs:#?}"
    );

    // 7. The shared conversion webhook dies: v1beta1 reads fail and `status` names the cause;
    //    once it is back the runs go on.
    let (webhook_pod, pid) = live_processes(&dir, "tekton-shared")
        .into_iter()
        .find(|(p, _)| p.contains("webhook"))
        .expect("the shared webhook's process");
    let hold = dir.join("kubelet/pods").join(&webhook_pod).join("hold");
    std::fs::write(&hold, "").unwrap();
    std::process::Command::new("kill").args(["-9", &pid.to_string()]).status().unwrap();
    let start = Instant::now();
    let err = loop {
        match k.get("tekton.dev/v1beta1", "Task", &a, "hello") {
            Err(e) => break e,
            Ok(_) if start.elapsed() < Duration::from_secs(30) => {
                std::thread::sleep(Duration::from_millis(200));
            }
            Ok(_) => panic!("v1beta1 reads still work without the conversion webhook"),
        }
    };
    assert!(err.contains("conversion webhook"), "{err}");
    let (code, out, err) = tkn(&path, &["status", &a]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("NOT READY") && out.contains("conversion webhook"), "{out}");
    k.create(&taskrun("tekton.dev/v1beta1", &a, "during-outage", &none)).unwrap_err();
    std::fs::remove_file(&hold).unwrap();
    // Back once the kubelet restarted it and its readiness probe passes.
    let start = Instant::now();
    while let Err(e) = k.create(&taskrun("tekton.dev/v1beta1", &a, "after-outage", &none)) {
        assert!(start.elapsed() < Duration::from_secs(60), "the webhook did not come back: {e}");
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(k.wait_run("tekton.dev/v1beta1", "TaskRun", &a, "after-outage").0, "True");

    // 8. The narrowed RBAC is enough: nothing a controller or webhook needs is refused. The one
    //    refusal Tekton provokes is wanted: knative's conversion reconciler runs in every webhook
    //    (Tekton's cmd/webhook cannot switch it off) and tries to point the shared CRDs at the
    //    instance's own webhook and CA; RBAC keeps them on the shared webhook.
    for ns in
        [&cp_a, &cp_b, &cp_c, &"tekton-shared".to_owned(), &"tekton-shared-resolvers".to_owned()]
    {
        let refused: Vec<_> = pod_logs(&dir, ns, &earlier)
            .into_iter()
            .filter(|(_, l)| l.contains("forbidden"))
            .filter(|(file, l)| {
                let crd_update = file.contains("webhook")
                    && l.contains("tekton-pipelines-webhook.ConversionWebhook")
                    && l.contains(r#"cannot update resource \"customresourcedefinitions\""#);
                !(crd_update && ns.starts_with("tekton-rt-"))
            })
            .collect();
        assert!(refused.is_empty(), "{ns}: {refused:#?}");
    }
    for crd in ["tasks.tekton.dev", "taskruns.tekton.dev", "pipelineruns.tekton.dev"] {
        let api: Api<CustomResourceDefinition> = Api::all(k.client.clone());
        let c = serde_json::to_value(k.rt.block_on(api.get(crd)).unwrap()).unwrap();
        let service = &c["spec"]["conversion"]["webhook"]["clientConfig"]["service"];
        assert_eq!(
            service["namespace"], "tekton-shared",
            "{crd} converts through the shared webhook"
        );
    }
    k.rt.block_on(check_isolation(&k.path, &b, &c));

    // 9. Upgrade under load: b moves v0.56.0 → v1.15.1 while PipelineRuns run in every namespace
    //    (each task's pod takes 6 s); none is lost or disturbed.
    let slow = json!({"tkn-multi.test/duration": "6s"});
    for (ns, api_version, _) in runs {
        k.create(&pipelinerun(api_version, ns, "under-load", &slow)).unwrap();
    }
    // Started and still running (each task's pod takes 6 s) when the upgrade begins.
    poll("the PipelineRuns under load running", Duration::from_secs(60), || {
        runs.iter().all(|(ns, api_version, _)| {
            k.get(api_version, "PipelineRun", ns, "under-load")
                .is_ok_and(|r| r["status"]["conditions"][0]["status"] == "Unknown")
        })
    });
    // The upgrade under load itself, without its precheck (a shadow webhook of its own, judged
    // in `cluster::precheck_names_the_objects_an_upgrade_would_break`): here the runs must still
    // be running when the Deployments roll.
    run_ok(&path, &["upgrade", &b, "--to", "v1.15.1", "--no-precheck"]);
    for (ns, api_version, _) in runs {
        assert_eq!(
            k.wait_run(api_version, "PipelineRun", ns, "under-load"),
            ("True".into(), "Succeeded".into()),
            "{ns}"
        );
    }
    let upgraded = crate::common::observed(&path);
    assert_eq!(upgraded.instance(&b).unwrap().version.to_string(), "v1.15.1");
    // The new controller takes over: a run created now gets v1.15.1's entrypoint.
    k.create(&taskrun("tekton.dev/v1", &b, "after-upgrade", &none)).unwrap();
    assert_eq!(k.wait_run("tekton.dev/v1", "TaskRun", &b, "after-upgrade").0, "True");
    let entrypoint = controller_flag("v1.15.1", "-entrypoint-image");
    assert!(k.pod_images("tekton.dev/v1", &b, "after-upgrade").contains(&entrypoint));

    // Clean up: Tekton objects first (while the controllers that may hold finalizers run), so the
    // shared layer goes with the last instance and later tests start from an empty cluster.
    for ns in [&a, &b, &c, &stray] {
        k.delete_all(ns, "tekton.dev/v1", &["PipelineRun", "TaskRun", "Task"]);
    }
    for inst in [&a, &b, &c] {
        run_ok(&path, &["uninstall", inst]);
    }
    let s = crate::common::observed(&path);
    assert!(s.shared.is_none(), "the shared layer went with the last instance");
    k.rt.block_on(crate::common::delete_namespace_and_wait(&k.client, &stray));
}

/// The instance webhook of `ns` refuses a Task (at `api_version`) whose step has no image, in
/// Tekton's words, under its per-instance configuration name.
fn assert_refuses_a_task_without_an_image(k: &Kube, ns: &str, api_version: &str) {
    let err = k
        .create(
            &json!({
                "apiVersion": api_version, "kind": "Task",
                "metadata": {"name": "invalid", "namespace": ns},
                "spec": {"steps": [{"name": "no-image", "command": ["true"]}]}
            })
            .to_string(),
        )
        .unwrap_err();
    assert!(
        err.contains(&format!("validation.webhook.{ns}.pipeline.tekton.dev"))
            && err.contains("missing field(s)"),
        "{ns} ({api_version}): {err}"
    );
}

/// The data of Secret `name` in `ns`, as strings.
fn secret_data(k: &Kube, ns: &str, name: &str) -> std::collections::BTreeMap<String, String> {
    let api: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(k.client.clone(), ns);
    let s = k.rt.block_on(api.get(name)).unwrap();
    s.data
        .unwrap_or_default()
        .into_iter()
        .map(|(key, v)| (key, String::from_utf8(v.0).unwrap()))
        .collect()
}

/// The caBundle (decoded) of a webhook configuration.
fn ca_bundle_of(k: &Kube, kind: &str, name: &str) -> String {
    use base64::Engine as _;
    let api = k.api("admissionregistration.k8s.io/v1", kind, None);
    let c = serde_json::to_value(k.rt.block_on(api.get(name)).unwrap()).unwrap();
    let b64 = c["webhooks"][0]["clientConfig"]["caBundle"].as_str().unwrap_or_default();
    String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b64).unwrap()).unwrap()
}

/// Polls `check` every 200 ms until it holds; panics naming `what` after `timeout`.
fn poll(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !check() {
        assert!(start.elapsed() < timeout, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Creates a TaskRun in a namespace every 100 ms until finished; finishing asserts that none
/// was refused.
struct Prober {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    sent: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    handle: std::thread::JoinHandle<(usize, Vec<String>)>,
}

impl Prober {
    fn start(path: &Path, ns: &str) -> Self {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let sent = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (flag, count, path, ns) =
            (stop.clone(), sent.clone(), path.to_path_buf(), ns.to_owned());
        let prefix = unique("probe");
        let handle = std::thread::spawn(move || {
            let k = Kube::new(&path);
            let mut refused = Vec::new();
            let mut n = 0;
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                let tr = taskrun("tekton.dev/v1beta1", &ns, &format!("{prefix}-{n}"), &json!({}));
                if let Err(e) = k.create(&tr) {
                    refused.push(e);
                }
                count.store(n, std::sync::atomic::Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(100));
            }
            (n, refused)
        });
        Prober { stop, sent, handle }
    }

    /// Waits until `n` probes were sent.
    fn wait_for(&self, n: usize) {
        poll(&format!("{n} probes"), Duration::from_secs(60), || {
            self.sent.load(std::sync::atomic::Ordering::Relaxed) >= n
        });
    }

    fn finish(self) {
        self.finish_allowing(0);
    }

    /// As [`Prober::finish`], allowing up to `calls` refusals that are failed calls to a webhook
    /// (never a denial, never a TLS failure).
    fn finish_allowing(self, calls: usize) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let (probes, refused) = self.handle.join().unwrap();
        let unknown = |e: &String| e.contains("rejected our request for an unknown reason");
        assert!(
            probes > 5 && refused.len() <= calls && refused.iter().all(unknown),
            "{probes} probes, refused: {refused:#?}"
        );
    }
}

/// A Pipeline whose param has no `type`: stored as given, v0.24.1's reconciler fails the run
/// (`FailedValidation`); defaulted at admission, it runs.
fn untyped_pipeline(ns: &str) -> String {
    json!({
        "apiVersion": "tekton.dev/v1beta1", "kind": "Pipeline",
        "metadata": {"name": "untyped", "namespace": ns},
        "spec": {
            "params": [{"name": "greeting"}],
            "tasks": [{"name": "one", "params": [{"name": "greeting", "value": "$(params.greeting)"}],
                "taskSpec": {"params": [{"name": "greeting"}], "steps": [
                    {"name": "s", "image": "registry.invalid/busybox:1", "command": ["echo"], "args": ["$(params.greeting)"]}
                ]}}]
        }
    })
    .to_string()
}

/// Issue "Admission for instances before v0.44": v0.24.1 (twice) and v0.41.2 instances get
/// admission of their own, from their real webhooks, with certificates tkn-multi writes:
/// defaulting, validation and config validation each for its own namespaces only, two old
/// instances side by side, and certificate rotation without a refused request.
#[test]
#[ignore = "needs the test cluster: scripts/test runs it"]
fn real_tekton_webhooks_before_v0_44_admit_for_their_own_instance() {
    let path = kubeconfig();
    let _guard = CLUSTER.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = cluster_dir(&path);
    let earlier = log_files(&dir);
    let k = Kube::new(&path);
    let (a, a2, b) = (unique("old-a"), unique("old-c"), unique("old-b"));
    let cp = |ns: &str| format!("tekton-{ns}");
    let none = json!({});
    let installs = [(&a, "v0.24.1"), (&a2, "v0.24.1"), (&b, "v0.41.2")];
    for (ns, version) in installs {
        let out = run_ok(&path, &["install", version, "-n", ns]);
        assert!(out.contains("webhook certificate"), "{ns}: the plan wrote a certificate: {out}");
    }
    for (ns, _) in installs {
        assert!(
            live_processes(&dir, &cp(ns)).iter().any(|(p, _)| p.contains("webhook")),
            "{ns}'s own webhook runs"
        );
    }

    // 1. Defaulting: the untyped param is stored with `type: string`, and the run succeeds.
    for (ns, version) in installs {
        let stored = k.create(&untyped_pipeline(ns)).unwrap();
        assert_eq!(stored["spec"]["params"][0]["type"], "string", "{ns} ({version}): defaulted");
        k.create(
            &json!({
                "apiVersion": "tekton.dev/v1beta1", "kind": "PipelineRun",
                "metadata": {"name": "by-ref", "namespace": ns},
                "spec": {"pipelineRef": {"name": "untyped"}, "params": [{"name": "greeting", "value": "hi"}]}
            })
            .to_string(),
        )
        .unwrap();
        assert_eq!(
            k.wait_run("tekton.dev/v1beta1", "PipelineRun", ns, "by-ref"),
            ("True".into(), "Succeeded".into()),
            "{ns} ({version})"
        );
    }
    // 2. Validation by the instance's own webhook.
    for (ns, _) in installs {
        assert_refuses_a_task_without_an_image(&k, ns, "tekton.dev/v1beta1");
    }
    // 3. Each webhook polices its own namespace only: a field v0.24.1 does not know (`onError`,
    //    v0.27) is refused in a's namespace by a's webhook and accepted in b's.
    let on_error = |ns: &str| {
        json!({
            "apiVersion": "tekton.dev/v1beta1", "kind": "Task",
            "metadata": {"name": "on-error", "namespace": ns},
            "spec": {"steps": [{"name": "s", "image": "registry.invalid/busybox:1", "onError": "continue"}]}
        })
        .to_string()
    };
    let err = k.create(&on_error(&a)).unwrap_err();
    assert!(err.contains(&format!("webhook.{a}.pipeline.tekton.dev")), "{err}");
    k.create(&on_error(&b)).unwrap();
    k.create(&taskrun("tekton.dev/v1beta1", &a, "defaults", &none)).unwrap();
    for (ns, _) in installs {
        let seen = admitted_namespaces(&dir, &cp(ns));
        assert!(seen.contains(ns.as_str()), "{ns}'s webhook admitted in {ns}: {seen:?}");
        for (other, _) in installs {
            assert!(other == ns || !seen.contains(other.as_str()), "{ns}'s webhook saw {other}");
        }
    }
    // 4. Config validation: a bad edit of the instance's own ConfigMap is refused.
    for (ns, version) in installs {
        let api = k.api("v1", "ConfigMap", Some(&cp(ns)));
        let patch = json!({"data": {"default-timeout-minutes": "not-a-number"}});
        let err = k
            .rt
            .block_on(api.patch("config-defaults", &PatchParams::default(), &Patch::Merge(&patch)))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("config.webhook.{ns}.pipeline.tekton.dev")),
            "{ns} ({version}): {err}"
        );
    }
    // 5. The certificate is tkn-multi's and knative keeps it; the two v0.24.1 instances have
    //    their own configurations and CAs, which nobody rewrites.
    let serving = |ns: &str| secret_data(&k, &cp(ns), "webhook-certs")["server-cert.pem"].clone();
    let first = serving(&a);
    let ca_a = secret_data(&k, &cp(&a), "tkn-multi-webhook-ca")["ca-cert.pem"].clone();
    let ca_a2 = secret_data(&k, &cp(&a2), "tkn-multi-webhook-ca")["ca-cert.pem"].clone();
    assert_ne!(ca_a, ca_a2, "one CA per instance");
    let mutating = |ns: &str| format!("webhook.{ns}.pipeline.tekton.dev");
    assert_eq!(ca_bundle_of(&k, "MutatingWebhookConfiguration", &mutating(&a)).trim(), ca_a.trim());
    // The positive signal first: a's webhook serves (it refuses an invalid Task, over TLS that
    // the configuration's CA bundle verifies), so knative's certificate reconciler has run.
    assert_refuses_a_task_without_an_image(&k, &a, "tekton.dev/v1beta1");
    assert_eq!(serving(&a), first, "knative kept the certificate");
    let state = crate::common::observed(&path);
    let cert = state.instance(&a).unwrap().admission.clone().expect("observed");
    assert!(cert.serving_current, "{cert:?}");
    let (code, listed, _) = tkn(&path, &["list", "-o", "yaml"]);
    assert_eq!(code, 0);
    assert!(!listed.contains("PRIVATE KEY"), "no key in list output");
    // Planning again changes nothing.
    let (code, out, err) = tkn(&path, &["install", "v0.24.1", "-n", &a, "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("No changes"), "{out}");

    // 6. rotate-certs: a new serving certificate, same CA; admission never refuses meanwhile.
    let prober = Prober::start(&path, &a);
    let out = run_ok(&path, &["rotate-certs", &a]);
    assert!(out.contains("webhook certificate"), "{out}");
    assert_ne!(serving(&a), first, "a new serving certificate");
    assert_eq!(secret_data(&k, &cp(&a), "tkn-multi-webhook-ca")["ca-cert.pem"], ca_a, "same CA");
    // 7. rotate-certs --ca: both CAs trusted, then a serving certificate of the new CA.
    run_ok(&path, &["rotate-certs", &a, "--ca"]);
    let ca = secret_data(&k, &cp(&a), "tkn-multi-webhook-ca");
    assert_ne!(ca["ca-cert.pem"], ca_a, "a new CA");
    assert_eq!(ca["previous-ca-cert.pem"].trim(), ca_a.trim(), "the old CA stays trusted");
    let bundle =
        ca_bundle_of(&k, "ValidatingWebhookConfiguration", &format!("validation.{}", mutating(&a)));
    assert_eq!(bundle.matches("BEGIN CERTIFICATE").count(), 2, "{bundle}");
    let after = crate::common::observed(&path).instance(&a).unwrap().admission.clone().unwrap();
    assert!(after.serving_current, "signed by the new CA after the second pass: {after:?}");
    prober.finish();
    // The other old instance was not touched.
    assert_eq!(secret_data(&k, &cp(&a2), "tkn-multi-webhook-ca")["ca-cert.pem"], ca_a2);

    // 8. The handover at v0.44: b moves v0.41.2 → v0.56.0, whose knative keeps the renamed
    //    configurations itself; no request in b is refused meanwhile, and admission works after.
    //    Seen here: while the old v0.41.2 webhook pod drains (knative keeps serving for its quiet
    //    period, the test kubelet kills it after 10 s), calls that still reach it fail
    //    (`rejected our request for an unknown reason`), in one run for 0.3 s, in another for the
    //    whole 10 s. That is the rollout of a `failurePolicy: Fail` webhook with no preStop delay,
    //    not the handover: such failures are allowed during the upgrade, nothing else is, and
    //    none once it is done.
    let prober = Prober::start(&path, &b);
    // The handover itself, without the precheck's shadows (tested on their own).
    run_ok(&path, &["upgrade", &b, "--to", "v0.56.0", "--no-precheck"]);
    prober.finish_allowing(usize::MAX);
    // Once the old webhook pod is gone (one webhook process left in b's control plane), no call
    // fails: 20 probes, none refused.
    poll("the old webhook of b gone", Duration::from_secs(60), || {
        live_processes(&dir, &cp(&b)).iter().filter(|(p, _)| p.contains("webhook")).count() == 1
    });
    let prober = Prober::start(&path, &b);
    prober.wait_for(20);
    prober.finish();
    let err = k
        .create(
            &json!({
                "apiVersion": "tekton.dev/v1", "kind": "Task",
                "metadata": {"name": "invalid-after", "namespace": b},
                "spec": {"steps": [{"name": "no-image", "command": ["true"]}]}
            })
            .to_string(),
        )
        .unwrap_err();
    assert!(err.contains(&format!("validation.webhook.{b}.pipeline.tekton.dev")), "{err}");

    // 9. Nothing the webhooks need is refused (the conversion reconciler's CRD update aside, see
    //    the test above).
    for (ns, _) in installs {
        let refused: Vec<_> = pod_logs(&dir, &cp(ns), &earlier)
            .into_iter()
            .filter(|(_, l)| l.contains("forbidden"))
            .filter(|(_, l)| !l.contains(r#"cannot update resource \"customresourcedefinitions\""#))
            .collect();
        assert!(refused.is_empty(), "{ns}: {refused:#?}");
    }

    // Clean up: Tekton objects, then the instances; their configurations go with them.
    for (ns, _) in installs {
        k.delete_all(ns, "tekton.dev/v1beta1", &["PipelineRun", "TaskRun", "Pipeline", "Task"]);
    }
    for (ns, _) in installs {
        run_ok(&path, &["uninstall", ns]);
        let api = k.api("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration", None);
        assert!(
            k.rt.block_on(api.get_opt(&mutating(ns))).unwrap().is_none(),
            "{ns}'s configuration went"
        );
    }
    assert!(crate::common::observed(&path).shared.is_none());
}

/// A release directory whose `pipeline/` has every shared release plus v1.15.1's file relabelled
/// v1.99.0 (with `extra` appended), a version no build knows.
fn release_dir_with_v1_99(root: &Path, extra: &str) -> PathBuf {
    let shared = crate::common::release_dir();
    let dir = root.join("releases");
    std::fs::create_dir_all(dir.join("pipeline")).unwrap();
    for e in std::fs::read_dir(shared.join("pipeline")).unwrap() {
        let e = e.unwrap();
        std::os::unix::fs::symlink(e.path(), dir.join("pipeline").join(e.file_name())).unwrap();
    }
    std::os::unix::fs::symlink(
        shared.join("pipeline-from-source"),
        dir.join("pipeline-from-source"),
    )
    .unwrap();
    crate::intake::relabelled(&dir, extra);
    dir
}

/// Issue "Current Tekton": a release no build knows (v1.15.1's content as v1.99.0) installs on the
/// real cluster from its own YAML, its record derived at run time, and runs: v1.15.1's binaries
/// serve as v1.99.0's. The same file with an object no rule places is refused and writes nothing.
#[test]
#[ignore = "needs the test cluster: scripts/test runs it"]
fn a_release_no_build_knows_installs_and_runs_from_its_own_yaml() {
    let path = kubeconfig();
    let _guard = CLUSTER.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = cluster_dir(&path);
    let k = Kube::new(&path);
    let link = dir.join("tekton/v1.99.0");
    if !link.exists() {
        let real = std::fs::read_link(dir.join("tekton/v1.15.1")).expect("v1.15.1 is built");
        std::os::unix::fs::symlink(real, &link).unwrap();
    }
    let tmp = tempfile::tempdir().unwrap();
    let ns = unique("rt-new");
    let cp = format!("tekton-{ns}");
    let none = json!({});

    // Refused first: one object no rule places; nothing is written.
    let bad = release_dir_with_v1_99(
        &tmp.path().join("bad"),
        "\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: stray, namespace: tekton-pipelines}\n",
    );
    let before = crate::common::observed(&path);
    let bad_dir = bad.display().to_string();
    let (code, out, err) =
        tkn(&path, &["install", "v1.99.0", "-n", &ns, "--yes", "--release-dir", &bad_dir]);
    assert_eq!((code, out.as_str()), (1, ""), "{err}");
    assert!(
        err.contains("is refused: ServiceAccount/stray in namespace tekton-pipelines: no split rule places this object"),
        "{err}"
    );
    assert_eq!(crate::common::observed(&path), before, "nothing was written");

    // Installed from its own file, planned with the derived mark.
    let good = release_dir_with_v1_99(&tmp.path().join("good"), "");
    let good_dir = good.display().to_string();
    let (code, out, err) =
        tkn(&path, &["install", "v1.99.0", "-n", &ns, "--dry-run", "--release-dir", &good_dir]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("note: the matrix record of v1.99.0 was derived at run time"), "{out}");
    run_ok(&path, &["install", "v1.99.0", "-n", &ns, "--release-dir", &good_dir]);
    assert!(!live_processes(&dir, &cp).is_empty(), "its controller runs as a real process");
    let (code, out, err) = tkn(&path, &["list"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("v1.99.0 ‡"), "{out}");
    assert!(
        out.contains("‡ v1.99.0 is not in this build's compatibility matrix: its record is derived at run time"),
        "{out}"
    );
    let (code, out, err) = tkn(&path, &["status", &ns, "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["recordDerivedAtRunTime"], true, "{out}");
    let (_, out, _) = tkn(&path, &["status", &ns]);
    assert!(out.contains("note: v1.99.0 is not in this build's compatibility matrix"), "{out}");

    // It runs: a TaskRun and a PipelineRun succeed, and its webhook refuses an invalid Task.
    k.create(&taskrun("tekton.dev/v1", &ns, "tr", &none)).unwrap();
    k.create(&pipelinerun("tekton.dev/v1", &ns, "pr", &none)).unwrap();
    assert_eq!(
        k.wait_run("tekton.dev/v1", "TaskRun", &ns, "tr"),
        ("True".into(), "Succeeded".into())
    );
    assert_eq!(k.wait_run("tekton.dev/v1", "PipelineRun", &ns, "pr").0, "True");
    assert_refuses_a_task_without_an_image(&k, &ns, "tekton.dev/v1");

    k.delete_all(&ns, "tekton.dev/v1", &["PipelineRun", "TaskRun", "Task"]);
    let (code, _, err) = tkn(
        &path,
        &["uninstall", &ns, "--yes", "--force-conflicts", "-q", "--release-dir", &good_dir],
    );
    assert_eq!(code, 0, "{err}");
    assert!(crate::common::observed(&path).shared.is_none());
}

/// Issue "Upgrade precheck", the shared layer: a v0.24.1 instance holds v1beta1 objects; the
/// precheck of moving the shared layer to v1.15.1 has v1.15.1's own conversion webhook (a
/// shadow, asked through the API server's service proxy) store each at v1 and read it back at
/// v1beta1, as the instance reads it. It names what a PipelineRun loses, and nothing for the
/// objects that survive; the live CRDs do not change, and no shadow is left.
#[test]
#[ignore = "needs the test cluster: scripts/test runs it"]
fn a_shared_layer_precheck_reads_every_object_back_through_the_new_conversion_webhook() {
    let path = kubeconfig();
    let _guard = CLUSTER.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let k = Kube::new(&path);
    let ns = unique("sh-pre");
    run_ok(&path, &["install", "v0.24.1", "-n", &ns]);
    for yaml in [
        format!(
            "apiVersion: tekton.dev/v1beta1\nkind: Task\nmetadata: {{name: build, namespace: {ns}}}\nspec:\n  params: [{{name: target, type: string, default: all}}]\n  steps: [{{name: make, image: busybox, script: make}}]\n"
        ),
        format!(
            "apiVersion: tekton.dev/v1beta1\nkind: Pipeline\nmetadata: {{name: ci, namespace: {ns}}}\nspec:\n  tasks: [{{name: build, taskRef: {{name: build}}}}]\n"
        ),
        format!(
            "apiVersion: tekton.dev/v1beta1\nkind: PipelineRun\nmetadata: {{name: old-run, namespace: {ns}}}\nspec:\n  pipelineRef: {{name: ci}}\n  serviceAccountNames: [{{taskName: build, serviceAccountName: builder}}]\n  timeout: 1h\n  status: PipelineRunPending\n"
        ),
    ] {
        k.create(&yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    }
    let crds = || {
        let api: Api<CustomResourceDefinition> = Api::all(k.client.clone());
        let mut v: Vec<(String, String)> =
            k.rt.block_on(api.list(&ListParams::default()))
                .unwrap()
                .into_iter()
                .map(|c| (c.metadata.name.unwrap(), c.metadata.resource_version.unwrap()))
                .collect();
        v.sort();
        v
    };
    let before = (crds(), crate::common::observed(&path));
    let (code, out, err) = tkn(&path, &["precheck", "--shared", "--to", "v1.15.1", "-o", "json"]);
    assert_eq!(code, 1, "a loss is a blocker: {err}\n{out}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["instance"], "shared");
    assert_eq!(report["from"], "v0.24.1");
    assert_eq!(report["webhook"]["judged"], 3, "every object went through the webhook: {out}");
    let findings = report["findings"].as_array().unwrap();
    let named: Vec<(&str, &str)> = findings
        .iter()
        .map(|f| (f["rule"].as_str().unwrap(), f["object"].as_str().unwrap()))
        .collect();
    let run = format!("PipelineRun/old-run in {ns}");
    assert_eq!(named, [("conversion-loss", run.as_str())], "{out}");
    let message = findings[0]["message"].as_str().unwrap();
    for part in [
        "stored at tekton.dev/v1 by v1.15.1's conversion webhook",
        "then read at tekton.dev/v1beta1",
        "no longer holds `spec.serviceAccountNames`, `spec.timeout`",
        "it holds `spec.timeouts` instead",
    ] {
        assert!(message.contains(part), "{part}: {message}");
    }
    assert_eq!((crds(), crate::common::observed(&path)), before, "the live CRDs did not change");
    assert_eq!(crate::cluster::shadows(&path), Vec::<String>::new(), "no shadow left");
    // Without that PipelineRun, nothing is lost: the Task and the Pipeline come back whole.
    let runs = k.api("tekton.dev/v1beta1", "PipelineRun", Some(&ns));
    k.rt.block_on(runs.delete("old-run", &DeleteParams::default())).unwrap();
    let (code, text, err) = tkn(&path, &["precheck", "--shared", "--to", "v1.15.1"]);
    assert_eq!(code, 0, "{err}\n{text}");
    assert!(text.contains("stored 2 object(s) at its version and read them back"), "{text}");
    assert!(text.contains("no blocker: the shared layer can move to v1.15.1"), "{text}");
    for kind in ["Pipeline", "Task"] {
        let api = k.api("tekton.dev/v1beta1", kind, Some(&ns));
        k.rt.block_on(api.delete_collection(&DeleteParams::default(), &ListParams::default()))
            .unwrap();
    }
    run_ok(&path, &["uninstall", &ns]);
}
