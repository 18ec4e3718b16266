//! Tests against the real control plane named by `TKN_MULTI_TEST_KUBECONFIG` (a kube-apiserver,
//! controller-manager, scheduler and KWOK started by `scripts/test-cluster up`).
//!
//! They are `#[ignore]`d in the fast tier (reported as ignored) and run by `scripts/test`; run
//! without the cluster they fail saying what is missing. They run one at a time (they touch the
//! cluster-wide Tekton CRDs) and use unique names.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use kube::Client;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use tkn_multi::names::{InstanceName, NamespaceName};
use tkn_multi::release::Object;
use tkn_multi::split::{InstanceSpec, SharedSpec, instance_part, shared_part};

use crate::common::{
    CLUSTER, MANAGER, apply, client, crd_established, delete_namespace_and_wait,
    deployment_available, dynamic_api, kubeconfig, kubectl_apply, load, observed, run_ok, tkn,
    unique, wait_until,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the test cluster: scripts/test runs it"]
async fn smoke_real_crd_deployment_and_namespace_deletion() {
    let path = kubeconfig();
    let _guard = CLUSTER.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let client = client(&path).await;
    let release = load(&"v0.50.3".parse().unwrap());
    // A real Tekton CRD, as upstream ships it.
    let crd = release
        .objects
        .iter()
        .find(|o| o.kind() == "CustomResourceDefinition" && o.name() == "tasks.tekton.dev")
        .unwrap();
    apply(&client, crd).await;
    wait_until("tasks.tekton.dev Established", Duration::from_secs(60), || {
        crd_established(&client, "tasks.tekton.dev")
    })
    .await;
    // A real Tekton Deployment, in a namespace of its own.
    let ns = unique("smoke");
    let mut namespace = Object::from_map(serde_json::Map::new());
    namespace.as_map_mut().insert("apiVersion".into(), "v1".into());
    namespace.as_map_mut().insert("kind".into(), "Namespace".into());
    namespace.set_name(&ns);
    apply(&client, &namespace).await;
    for kind in ["ServiceAccount", "Deployment"] {
        let mut o = release
            .objects
            .iter()
            .find(|o| o.kind() == kind && o.name() == "tekton-pipelines-controller")
            .unwrap()
            .clone();
        o.set_namespace(Some(&ns));
        apply(&client, &o).await;
    }
    wait_until("controller Deployment Available", Duration::from_secs(120), || {
        deployment_available(&client, &ns, "tekton-pipelines-controller")
    })
    .await;
    delete_namespace_and_wait(&client, &ns).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the test cluster: scripts/test runs it"]
async fn rendered_shared_and_instance_parts_are_accepted_and_become_available() {
    let path = kubeconfig();
    let _guard = CLUSTER.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let client = client(&path).await;
    for version in ["v0.44.2", "v1.9.0"] {
        let release = load(&version.parse().unwrap());
        let inst = unique("it");
        let shared_ns = unique("shared");
        let shared = SharedSpec { namespace: shared_ns.parse::<NamespaceName>().unwrap() };
        let spec = InstanceSpec {
            name: inst.parse::<InstanceName>().unwrap(),
            namespace: inst.parse().unwrap(),
            control_plane_namespace: format!("tekton-{inst}").parse().unwrap(),
            admission_ca: None,
        };
        let mut objects = shared_part(&release, &shared);
        objects.extend(instance_part(&release, &spec, &shared).unwrap());
        // Namespaces and CRDs first, and CRDs Established, before anything else (they are first
        // in render order).
        for o in &objects {
            apply(&client, o).await;
            if o.kind() == "CustomResourceDefinition" {
                let name = o.name().to_owned();
                wait_until(&format!("{name} Established"), Duration::from_secs(60), || {
                    crd_established(&client, &name)
                })
                .await;
            }
        }
        for d in objects.iter().filter(|o| o.kind() == "Deployment") {
            let (ns, name) = (d.namespace().unwrap().to_owned(), d.name().to_owned());
            wait_until(
                &format!("{version}: Deployment {ns}/{name} Available"),
                Duration::from_secs(180),
                || deployment_available(&client, &ns, &name),
            )
            .await;
        }
        // Clean up everything but the CRDs (shared by every test and harmless to keep).
        for o in objects
            .iter()
            .rev()
            .filter(|o| o.namespace().is_none() && o.kind() != "CustomResourceDefinition")
        {
            if o.kind() == "Namespace" {
                delete_namespace_and_wait(&client, o.name()).await;
            } else {
                delete_cluster_scoped(&client, o).await;
            }
        }
    }
}

async fn delete_cluster_scoped(client: &Client, o: &Object) {
    let api = dynamic_api(client, o.api_version(), o.kind(), None).await;
    api.delete(o.name(), &DeleteParams::default())
        .await
        .unwrap_or_else(|e| panic!("delete {}: {e}", o.name()));
}

#[test]
#[ignore = "needs the test cluster: scripts/test runs it"]
fn install_upgrade_uninstall_on_the_real_cluster() {
    let path = kubeconfig();
    let _guard = CLUSTER.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let (a, b) = (unique("life-a"), unique("life-b"));
    // Earlier tests applied CRDs under another field manager: `run_ok` takes them over explicitly.
    let run = |args: &[&str]| run_ok(&path, args);
    run(&["install", "v0.44.2", "-n", &a]);
    run(&["install", "v0.50.3", "-n", &b]);
    let s = observed(&path);
    let names: Vec<&str> = s.instances.iter().map(|i| i.name.as_str()).collect();
    assert!(names.contains(&a.as_str()) && names.contains(&b.as_str()), "{names:?}");
    let shared = s.shared.as_ref().expect("a shared layer");
    assert_eq!(shared.version.to_string(), "v0.50.3", "the matrix's layer for v0.44.2 + v0.50.3");
    let tasks = shared.crds.iter().find(|c| c.name == "tasks.tekton.dev").unwrap();
    assert_eq!(tasks.stored_versions, ["v1"], "stored versions migrated and verified");
    // Isolation: each instance's service accounts can work in their own namespace only.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(check_isolation(&path, &a, &b));
    // Re-running is a no-op plan; installing again is refused.
    assert!(converged(&path, &["upgrade", &a, "--to", "v0.44.2"]));
    let (code, out, err) = tkn(&path, &["install", "v0.44.2", "-n", &a, "--detailed-exitcode"]);
    assert_eq!(
        (code, out.as_str()),
        (0, "No changes. The cluster matches the desired state.\n"),
        "{err}"
    );
    // A destructive plan without --yes changes nothing.
    let before = observed(&path);
    let (code, _, err) = tkn(&path, &["uninstall", &b]);
    assert_eq!(code, 1);
    assert!(err.contains("pass `--yes`"), "{err}");
    assert_eq!(observed(&path), before);
    // Status: every component of a and of the shared layer is Available.
    let (code, out, err) = tkn(&path, &["status", &a, "--json"]);
    assert_eq!(code, 0, "{err}");
    let status: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(status["ready"], true, "{out}");
    let owners: Vec<&str> = status["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["owner"].as_str().unwrap())
        .collect();
    assert!(owners.contains(&a.as_str()) && owners.contains(&"shared"), "{owners:?}");
    // Upgrade a: shared follows the matrix.
    run(&["upgrade", &a, "--to", "v0.56.0"]);
    assert_eq!(observed(&path).shared.unwrap().version.to_string(), "v0.56.0");
    // Uninstall b: CRDs stay while a remains.
    run(&["uninstall", &b]);
    let s = observed(&path);
    assert!(s.objects.iter().any(|o| o.object.kind == "CustomResourceDefinition"));
    assert!(s.objects.iter().all(|o| o.owner != b || o.retain));
    // Uninstall a, the last: nothing managed remains but the users' namespaces.
    run(&["uninstall", &a]);
    let s = observed(&path);
    assert!(s.instances.is_empty() && s.shared.is_none());
    assert!(s.objects.iter().all(|o| o.retain && o.object.kind == "Namespace"), "{:?}", s.objects);
}

/// Asks the API server (a `SubjectAccessReview`) whether `sa` may act on `resource` in `namespace`.
async fn can(
    client: &Client,
    sa_ns: &str,
    sa: &str,
    verb: &str,
    group: &str,
    resource: &str,
    namespace: &str,
) -> bool {
    use k8s_openapi::api::authorization::v1::{
        ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
    };
    let review = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(format!("system:serviceaccount:{sa_ns}:{sa}")),
            groups: Some(vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{sa_ns}"),
                "system:authenticated".into(),
            ]),
            resource_attributes: Some(ResourceAttributes {
                namespace: Some(namespace.into()),
                verb: Some(verb.into()),
                group: Some(group.into()),
                resource: Some(resource.into()),
                ..ResourceAttributes::default()
            }),
            ..SubjectAccessReviewSpec::default()
        },
        ..SubjectAccessReview::default()
    };
    let api: Api<SubjectAccessReview> = Api::all(client.clone());
    let answer =
        api.create(&kube::api::PostParams::default(), &review).await.expect("SubjectAccessReview");
    answer.status.is_some_and(|s| s.allowed)
}

pub(crate) async fn check_isolation(path: &PathBuf, a: &str, b: &str) {
    let client = client(path).await;
    let checks = [
        ("get", "tekton.dev", "pipelineruns"),
        ("list", "tekton.dev", "taskruns"),
        ("create", "", "pods"),
        ("list", "", "pods"),
        ("get", "", "secrets"),
    ];
    for (own, other) in [(a, b), (b, a)] {
        let cp = format!("tekton-{own}");
        for sa in ["tekton-pipelines-controller", "tekton-pipelines-webhook"] {
            for (verb, group, resource) in checks {
                assert!(
                    !can(&client, &cp, sa, verb, group, resource, other).await,
                    "{cp}/{sa} may {verb} {resource} in {other}"
                );
            }
        }
        for (verb, group, resource) in checks {
            assert!(
                can(&client, &cp, "tekton-pipelines-controller", verb, group, resource, own).await,
                "{cp}/tekton-pipelines-controller may not {verb} {resource} in its own namespace {own}"
            );
        }
        // Nor may an instance's webhook rewrite the shared CRDs (the conversion caBundle).
        assert!(
            !can(
                &client,
                &cp,
                "tekton-pipelines-webhook",
                "update",
                "apiextensions.k8s.io",
                "customresourcedefinitions",
                ""
            )
            .await
        );
    }
}

#[test]
#[ignore = "needs the test cluster: scripts/test runs it"]
fn the_cluster_lock_serialises_runs() {
    use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
    let path = kubeconfig();
    let _guard = CLUSTER.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = rt.block_on(client(&path));
    let leases: Api<Lease> = Api::namespaced(client, "kube-system");
    // Someone else holds the lock.
    let foreign = Lease {
        metadata: ObjectMeta { name: Some("tkn-multi".into()), ..ObjectMeta::default() },
        spec: Some(LeaseSpec {
            holder_identity: Some("someone-else".into()),
            lease_duration_seconds: Some(300),
            acquire_time: Some(MicroTime(k8s_openapi::jiff::Timestamp::now())),
            renew_time: Some(MicroTime(k8s_openapi::jiff::Timestamp::now())),
            ..LeaseSpec::default()
        }),
    };
    rt.block_on(leases.create(&kube::api::PostParams::default(), &foreign)).unwrap();
    let a = unique("lock-a");
    let before = observed(&path);
    let (code, out, err) =
        tkn(&path, &["install", "v0.50.3", "-n", &a, "--lock-timeout", "2", "-q"]);
    assert_eq!((code, out.as_str()), (1, ""), "{err}");
    assert!(err.contains("the cluster is locked by `someone-else`"), "{err}");
    assert_eq!(observed(&path), before, "nothing changed while locked out");
    rt.block_on(leases.delete("tkn-multi", &DeleteParams::default())).unwrap();
    // Two runs at once: one waits for the other; both succeed, and the lock is released.
    let b = unique("lock-b");
    let spawn = |ns: &str| {
        let dir = crate::common::release_dir();
        std::process::Command::new(assert_cmd::cargo::cargo_bin("tkn-multi"))
            .env("KUBECONFIG", &path)
            .env("TKN_MULTI_RELEASE_DIR", dir)
            .env("TKN_MULTI_RELEASE_URL", crate::common::NO_DOWNLOADS)
            .args(["install", "v0.50.3", "-n", ns, "--yes", "--force-conflicts", "-q"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (pa, pb) = (spawn(&a), spawn(&b));
    for p in [pa, pb] {
        let out = p.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    assert!(matches!(rt.block_on(leases.get_opt("tkn-multi")), Ok(None)), "the lock is released");
    let names: Vec<String> = observed(&path).instances.into_iter().map(|i| i.name).collect();
    assert!(names.contains(&a) && names.contains(&b), "{names:?}");
    for ns in [&b, &a] {
        let (code, _, err) = tkn(&path, &["uninstall", ns, "--yes", "-q"]);
        assert_eq!(code, 0, "{err}");
    }
}

/// Runs tkn-multi on a terminal (a pty from util-linux `script`) and types `answer` at it:
/// (exit code, everything the terminal showed).
fn tkn_on_a_terminal(kubeconfig: &std::path::Path, args: &[&str], answer: &str) -> (i32, String) {
    use std::io::Write as _;
    let bin = assert_cmd::cargo::cargo_bin("tkn-multi");
    let line = std::iter::once(bin.to_str().unwrap())
        .chain(args.iter().copied())
        .map(|a| format!("'{a}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let mut child = std::process::Command::new("script")
        .args(["-q", "-e", "-c", &line, "/dev/null"])
        .env("KUBECONFIG", kubeconfig)
        .env("TKN_MULTI_RELEASE_DIR", crate::common::release_dir())
        .env("TKN_MULTI_RELEASE_URL", crate::common::NO_DOWNLOADS)
        .env("TKN_MULTI_CACHE_DIR", kubeconfig.with_file_name("no-cache"))
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("util-linux `script` runs");
    // Typed ahead: the pty keeps it until tkn-multi reads its answer.
    child.stdin.take().unwrap().write_all(format!("{answer}\n").as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Whether planning `args` again finds nothing to do (`--detailed-exitcode`: 0 none, 2 some).
/// Issue "Upgrade precheck" (defaults): v1.9.0 → v1.15.1 with `--keep-defaults` keeps
/// `send-cloudevents-for-runs` at `false` (v1.12.2 ships `true`) in the live ConfigMap, later runs
/// keep it, and a plain upgrade opts in.
#[test]
#[ignore = "needs the test cluster: scripts/test runs it"]
fn an_upgrade_with_keep_defaults_keeps_the_flags_it_would_change() {
    let path = kubeconfig();
    let _guard = CLUSTER.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let a = unique("keep-a");
    let live = |key: &str| -> Option<String> {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let c = client(&path).await;
            let cms: Api<k8s_openapi::api::core::v1::ConfigMap> =
                Api::namespaced(c, &format!("tekton-{a}"));
            cms.get("feature-flags").await.unwrap().data.unwrap_or_default().get(key).cloned()
        })
    };
    run_ok(&path, &["install", "v1.9.0", "-n", &a]);
    assert_eq!(live("send-cloudevents-for-runs").as_deref(), Some("false"));
    let (code, out, err) =
        tkn(&path, &["upgrade", &a, "--to", "v1.15.1", "--keep-defaults", "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("keeps feature flags") && out.contains("send-cloudevents-for-runs: false"),
        "{out}"
    );
    run_ok(&path, &["upgrade", &a, "--to", "v1.15.1", "--keep-defaults"]);
    assert_eq!(live("send-cloudevents-for-runs").as_deref(), Some("false"), "kept");
    let kept = observed(&path).instance(&a).unwrap().kept_defaults.clone();
    assert_eq!(kept.get("send-cloudevents-for-runs").map(String::as_str), Some("false"));
    assert!(converged(&path, &["upgrade", &a, "--to", "v1.15.1", "--keep-defaults"]));
    assert!(converged(&path, &["install", "v1.15.1", "-n", &a]), "later runs keep them");
    run_ok(&path, &["upgrade", &a, "--to", "v1.15.1"]);
    assert_eq!(live("send-cloudevents-for-runs").as_deref(), Some("true"), "opted in");
    assert!(observed(&path).instance(&a).unwrap().kept_defaults.is_empty());
    run_ok(&path, &["uninstall", &a]);
}

/// Issue "Upgrade precheck": a v0.56.0 instance holding a Pipeline that references a
/// ClusterTask and a clean Task. `precheck --to v1.15.1` names exactly the Pipeline (a blocker,
/// exit 1) and the feature flags that change (warnings); once the Pipeline is gone it exits 0.
/// Read-only: the cluster is the same before and after.
#[test]
#[ignore = "needs the test cluster: scripts/test runs it"]
fn precheck_names_the_objects_an_upgrade_would_break() {
    let path = kubeconfig();
    let _guard = CLUSTER.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let b = unique("pre-b");
    run_ok(&path, &["install", "v0.56.0", "-n", &b]);
    kubectl_apply(
        &path,
        &format!(
            "apiVersion: tekton.dev/v1\nkind: Pipeline\nmetadata:\n  name: uses-clustertask\n  namespace: {b}\nspec:\n  tasks:\n  - name: build\n    taskRef:\n      kind: ClusterTask\n      name: buildah\n---\napiVersion: tekton.dev/v1\nkind: Task\nmetadata:\n  name: clean\n  namespace: {b}\nspec:\n  steps:\n  - name: hello\n    image: busybox\n    script: echo hello"
        ),
    );
    let before = observed(&path);
    let (code, out, err) = tkn(&path, &["precheck", &b, "--to", "v1.15.1", "-o", "json"]);
    assert_eq!(code, 1, "a blocker exits 1: {err}\n{out}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let blockers: Vec<(&str, &str)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "blocker")
        .map(|f| (f["rule"].as_str().unwrap(), f["object"].as_str().unwrap()))
        .collect();
    assert_eq!(
        blockers,
        [
            ("removed-kind-reference", "Pipeline/uses-clustertask"),
            ("webhook-refused", "Pipeline/uses-clustertask")
        ],
        "exactly the bad object, by the curated rule and by v1.15.1's own webhook: {out}"
    );
    // The refusal is in the words of v1.15.1's webhook (`PipelineTask.Validate`: a kind other
    // than Task makes it a custom task, which needs an apiVersion), run as a shadow.
    assert!(
        out.contains("v1.15.1's webhook refuses it: validation failed: invalid value: custom task ref must specify apiVersion: spec.tasks[0].taskRef.apiVersion"),
        "{out}"
    );
    assert_eq!(report["webhook"]["judged"], 2, "{out}");
    assert!(
        report["findings"].as_array().unwrap().iter().any(|f| f["rule"] == "feature-flag"
            && f["message"].as_str().unwrap().contains("send-cloudevents-for-runs")),
        "{out}"
    );
    assert_eq!(shadows(&path), Vec::<String>::new(), "the shadow leaves nothing behind");
    let (_, text, _) = tkn(&path, &["precheck", &b, "--to", "v1.15.1"]);
    assert!(text.contains("blocker [removed-kind-reference] Pipeline/uses-clustertask: task `build` references a ClusterTask"), "{text}");
    assert!(text.contains("v1.15.1's own webhook judged 2 object(s)"), "{text}");
    assert!(!text.contains("Task/clean"), "the clean Task is not named: {text}");
    // `--no-webhook` creates no shadow and says the webhook did not judge.
    let (code, text, _) = tkn(&path, &["precheck", &b, "--to", "v1.15.1", "--no-webhook"]);
    assert_eq!(code, 1);
    assert!(
        text.contains("not judged by v1.15.1's own webhook") && !text.contains("webhook-refused"),
        "{text}"
    );
    // `upgrade --dry-run` shows the same findings, its plan, and exits 1; a real upgrade is
    // refused before it writes anything; `--no-precheck` skips the precheck.
    let (code, out, err) = tkn(&path, &["upgrade", &b, "--to", "v1.15.1", "--dry-run"]);
    assert_eq!(code, 1, "{err}");
    for rule in ["removed-kind-reference", "webhook-refused"] {
        assert!(
            err.contains(&format!("precheck: blocker [{rule}] Pipeline/uses-clustertask")),
            "{err}"
        );
    }
    assert!(out.contains("instance ") && !out.contains("precheck"), "the plan on stdout: {out}");
    let (code, _, err) = tkn(&path, &["upgrade", &b, "--to", "v1.15.1", "--yes"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("the precheck found blockers") && err.contains("--no-precheck"), "{err}");
    let (code, _, err) =
        tkn(&path, &["upgrade", &b, "--to", "v1.15.1", "--dry-run", "--no-precheck"]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("precheck:"), "{err}");
    // A fleet file moving the instance: `precheck -f` judges it, `apply -f` refuses it.
    let fleet = std::env::temp_dir().join(format!("{b}-fleet.yaml"));
    std::fs::write(
        &fleet,
        format!("apiVersion: tkn-multi.tekton.dev/v1alpha1\nkind: Fleet\ninstances:\n- {{name: {b}, version: v1.15.1}}\n"),
    )
    .unwrap();
    let fleet = fleet.to_str().unwrap();
    let (code, out, err) = tkn(&path, &["precheck", "-f", fleet, "-o", "json"]);
    assert_eq!(code, 1, "{err}\n{out}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["reports"][0]["report"]["instance"], b.as_str(), "{out}");
    assert!(
        doc["reports"][0]["report"]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule"] == "webhook-refused"),
        "{out}"
    );
    let (code, _, err) = tkn(&path, &["apply", "-f", fleet, "--yes"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("precheck: blocker [webhook-refused] Pipeline/uses-clustertask"), "{err}");
    assert!(err.contains("the precheck found blockers: applying"), "{err}");
    assert_eq!(observed(&path), before, "read-only");
    // A precheck killed (SIGKILL) while its shadow runs leaves the shadow behind; the next run
    // removes it (once the dead run's lock has expired) and leaves nothing.
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("tkn-multi"))
        .env("KUBECONFIG", &path)
        .env("TKN_MULTI_RELEASE_DIR", crate::common::release_dir())
        .env("TKN_MULTI_RELEASE_URL", crate::common::NO_DOWNLOADS)
        .args(["precheck", &b, "--to", "v1.15.1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while shadows(&path).is_empty() {
        assert!(child.try_wait().unwrap().is_none(), "the precheck ended before it was killed");
        assert!(start.elapsed() < Duration::from_secs(60), "no shadow within 60 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap();
    assert!(!child.wait().unwrap().success(), "killed");
    let left = shadows(&path);
    assert!(left.iter().any(|s| s.starts_with("Namespace/tkn-multi-shadow-")), "{left:?}");
    let (code, _, err) = tkn(&path, &["precheck", &b, "--to", "v1.15.1"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("removed 1 shadow(s) a killed run left behind"), "{err}");
    assert_eq!(shadows(&path), Vec::<String>::new(), "nothing left");
    // Fixed (the Pipeline gone), the move is clear.
    delete_object(&path, "tekton.dev/v1", "Pipeline", Some(&b), "uses-clustertask");
    let (code, text, err) = tkn(&path, &["precheck", &b, "--to", "v1.15.1"]);
    assert_eq!(code, 0, "{err}\n{text}");
    assert!(text.contains("no blocker"), "{text}");
    // An instance that is not installed, and a version no source has, are the user's (exit 1).
    assert_eq!(tkn(&path, &["precheck", "nobody-here", "--to", "v1.15.1"]).0, 1);
    assert_eq!(tkn(&path, &["precheck", &b, "--to", "v9.9.9", "--offline"]).0, 1);
    delete_object(&path, "tekton.dev/v1", "Task", Some(&b), "clean");
    run_ok(&path, &["uninstall", &b]);
    assert!(observed(&path).instances.is_empty());
}

/// Every object a shadow of a webhook is made of (`Kind/name`), in the namespaces and
/// cluster-wide kinds it uses.
pub(crate) fn shadows(path: &std::path::Path) -> Vec<String> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = client(&path.to_path_buf()).await;
        let lp = kube::api::ListParams::default().labels(tkn_multi::shadow::LABEL_SHADOW);
        let mut out = Vec::new();
        for (api_version, kind) in [
            ("v1", "Namespace"),
            ("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration"),
            ("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration"),
            ("rbac.authorization.k8s.io/v1", "ClusterRole"),
            ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
        ] {
            let api = dynamic_api(&client, api_version, kind, None).await;
            for o in api.list(&lp).await.unwrap() {
                out.push(format!("{kind}/{}", o.metadata.name.unwrap_or_default()));
            }
        }
        out
    })
}

fn converged(path: &std::path::Path, args: &[&str]) -> bool {
    let mut all = args.to_vec();
    all.extend(["--dry-run", "--detailed-exitcode", "-q"]);
    let (code, out, err) = tkn(path, &all);
    assert!(code == 0 || code == 2, "{args:?}: {err}");
    code == 0 && out == "No changes. The cluster matches the desired state.\n"
}

fn delete_object(
    path: &std::path::Path,
    api_version: &str,
    kind: &str,
    namespace: Option<&str>,
    name: &str,
) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = client(&path.to_path_buf()).await;
        let api = dynamic_api(&client, api_version, kind, namespace).await;
        api.delete(name, &DeleteParams::default()).await.unwrap();
    });
}

/// A `ValidatingAdmissionPolicy` that makes the API server refuse every v0.56.0 Deployment in
/// the namespaces `namespaces`: a real API failure in the middle of an upgrade.
fn refuse_v0_56_deployments_in(namespaces: &[&str]) -> String {
    let namespaces = namespaces.join(", ");
    format!(
        r#"apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: tkn-multi-test-refuse
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - apiGroups: ["apps"]
      apiVersions: ["v1"]
      operations: ["CREATE", "UPDATE"]
      resources: ["deployments"]
  validations:
  - expression: "!has(object.metadata.labels) || !('tkn-multi.tekton.dev/tekton-version' in object.metadata.labels) || object.metadata.labels['tkn-multi.tekton.dev/tekton-version'] != 'v0.56.0'"
    message: "refused by the test policy"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: tkn-multi-test-refuse
spec:
  policyName: tkn-multi-test-refuse
  validationActions: ["Deny"]
  matchResources:
    namespaceSelector:
      matchExpressions:
      - {{key: kubernetes.io/metadata.name, operator: In, values: [{namespaces}]}}"#
    )
}

#[test]
#[ignore = "needs the test cluster: scripts/test runs it"]
fn api_failures_roll_back_with_atomic_and_converge_when_re_run() {
    let path = kubeconfig();
    let _guard = CLUSTER.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let (a, b) = (unique("fault-a"), unique("fault-b"));
    run_ok(&path, &["install", "v0.50.3", "-n", &a]);
    let installed = observed(&path);
    let (cp_a, cp_b) = (format!("tekton-{a}"), format!("tekton-{b}"));
    kubectl_apply(&path, &refuse_v0_56_deployments_in(&[&cp_a, &cp_b]));
    // The policy is enforced once the API server has loaded it: wait until a server dry run of
    // the upgrade is refused.
    let start = Instant::now();
    loop {
        let (code, _, err) = tkn(
            &path,
            &["upgrade", &a, "--to", "v0.56.0", "--dry-run=server", "--force-conflicts", "-q"],
        );
        if code != 0 {
            assert!(err.contains("refused by the test policy"), "{err}");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "the policy never took effect");
        std::thread::sleep(Duration::from_millis(500));
    }
    // --atomic: the upgrade fails at the controller Deployment and is rolled back: the instance
    // is exactly as installed (planning its install again finds nothing to do).
    let (code, _, err) =
        tkn(&path, &["upgrade", &a, "--to", "v0.56.0", "--atomic", "--yes", "--force-conflicts"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("rolled back (`--atomic`)"), "{err}");
    assert!(err.contains("refused by the test policy (Invalid, HTTP 422)"), "{err}");
    assert!(converged(&path, &["install", "v0.50.3", "-n", &a]), "rolled back exactly");
    let after = observed(&path);
    let instance = after.instance(&a).unwrap();
    assert_eq!(instance.version.to_string(), "v0.50.3");
    assert_eq!(after.instances, installed.instances);
    // An install rolled back leaves nothing of the instance but its (user's) namespace.
    let (code, _, err) =
        tkn(&path, &["install", "v0.56.0", "-n", &b, "--atomic", "--yes", "--force-conflicts"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("rolled back (`--atomic`)"), "{err}");
    let s = observed(&path);
    assert!(s.instance(&b).is_none());
    assert!(
        s.objects.iter().all(|o| o.owner != b || (o.retain && o.object.kind == "Namespace")),
        "{:?}",
        s.objects.iter().filter(|o| o.owner == b).collect::<Vec<_>>()
    );
    assert_eq!(s.instances, installed.instances);
    // Without --atomic the run stops part-way, says so, and re-running converges once the API
    // accepts the writes again.
    let (code, _, err) = tkn(&path, &["upgrade", &a, "--to", "v0.56.0", "--yes", "-q"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("re-running the same command converges"), "{err}");
    assert!(!converged(&path, &["upgrade", &a, "--to", "v0.56.0"]), "part-way");
    for kind in ["ValidatingAdmissionPolicyBinding", "ValidatingAdmissionPolicy"] {
        let api_version = "admissionregistration.k8s.io/v1";
        delete_object(&path, api_version, kind, None, "tkn-multi-test-refuse");
    }
    // The binding's removal also takes a moment to reach the API server's admission.
    let start = Instant::now();
    loop {
        let (code, _, err) = tkn(&path, &["upgrade", &a, "--to", "v0.56.0", "--yes", "-q"]);
        if code == 0 {
            break;
        }
        assert!(err.contains("refused by the test policy"), "{err}");
        assert!(start.elapsed() < Duration::from_secs(30), "the policy never went away");
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(converged(&path, &["upgrade", &a, "--to", "v0.56.0"]));
    assert_eq!(observed(&path).instance(&a).unwrap().version.to_string(), "v0.56.0");
    run_ok(&path, &["uninstall", &a]);
}

#[test]
#[ignore = "needs the test cluster: scripts/test runs it"]
fn a_killed_install_converges_when_re_run() {
    let path = kubeconfig();
    let _guard = CLUSTER.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let a = unique("kill");
    let dir = crate::common::release_dir();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("tkn-multi"))
        .env("KUBECONFIG", &path)
        .env("TKN_MULTI_RELEASE_DIR", dir)
        .env("TKN_MULTI_RELEASE_URL", crate::common::NO_DOWNLOADS)
        .args(["install", "v0.50.3", "-n", &a, "--yes", "--force-conflicts", "-q"])
        .args(["--concurrency", "1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it (SIGKILL: no clean-up, the lock left held) once some of its objects exist.
    let start = Instant::now();
    loop {
        let written = observed(&path).objects.iter().filter(|o| o.owner == a).count();
        if written >= 5 {
            break;
        }
        assert!(child.try_wait().unwrap().is_none(), "the install finished before it was killed");
        assert!(start.elapsed() < Duration::from_secs(60), "the install wrote nothing");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    assert!(!child.wait().unwrap().success(), "killed");
    assert!(!converged(&path, &["install", "v0.50.3", "-n", &a]), "killed part-way");
    // Re-running takes the dead run's lock over once its lease expires, and converges.
    let start = Instant::now();
    run_ok(&path, &["install", "v0.50.3", "-n", &a]);
    eprintln!("re-run after the kill took {:?} (lease expiry included)", start.elapsed());
    assert!(converged(&path, &["install", "v0.50.3", "-n", &a]));
    let (code, out, err) = tkn(&path, &["status", &a, "--json"]);
    assert_eq!(code, 0, "{err}");
    let status: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(status["ready"], true, "{out}");
    let (code, out, err) = tkn(&path, &["status", &a, "-o", "yaml"]);
    assert_eq!(code, 0, "{err}");
    let yaml: serde_json::Value = tkn_multi::yaml::from_str(&out).unwrap();
    for field in ["instance", "version", "ready", "components"] {
        assert_eq!(yaml[field], status[field], "`-o yaml` is the report `-o json` prints");
    }
    run_ok(&path, &["uninstall", &a]);
}

/// Issue "Hardening": a run that stalls past its lease (SIGSTOP) loses the lock to another run,
/// and once it resumes it writes nothing more: it stops with exit 2, naming the new holder.
#[test]
#[ignore = "needs the test cluster: scripts/test runs it"]
fn a_stalled_run_that_lost_the_lock_writes_nothing_more() {
    let path = kubeconfig();
    let _guard = CLUSTER.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let (a, b) = (unique("stall-a"), unique("stall-b"));
    let dir = crate::common::release_dir();
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("tkn-multi"))
        .env("KUBECONFIG", &path)
        .env("TKN_MULTI_RELEASE_DIR", dir)
        .env("TKN_MULTI_RELEASE_URL", crate::common::NO_DOWNLOADS)
        .args(["install", "v0.50.3", "-n", &a, "--yes", "--force-conflicts", "-q"])
        .args(["--concurrency", "1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    // Stop it once some of its objects exist.
    let start = Instant::now();
    loop {
        let written = observed(&path).objects.iter().filter(|o| o.owner == a).count();
        if written >= 5 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "the install wrote nothing");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::process::Command::new("kill").args(["-STOP", &pid]).status().unwrap();
    let frozen = observed(&path).objects.iter().filter(|o| o.owner == a).count();
    // Another run waits out the stalled one's lease (30 s), takes the lock, and installs.
    run_ok(&path, &["install", "v0.50.3", "-n", &b, "--lock-timeout", "90"]);
    // The stalled run resumes: it must write nothing more, and say why.
    std::process::Command::new("kill").args(["-CONT", &pid]).status().unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("this run lost the cluster lock `kube-system/tkn-multi`"), "{err}");
    let after = observed(&path).objects.iter().filter(|o| o.owner == a).count();
    assert!(after <= frozen + 1, "at most the write in flight when it stopped: {frozen} → {after}");
    // Re-running converges it.
    run_ok(&path, &["install", "v0.50.3", "-n", &a]);
    run_ok(&path, &["uninstall", &a]);
    run_ok(&path, &["uninstall", &b]);
}

#[test]
#[ignore = "needs the test cluster: scripts/test runs it"]
fn foreign_objects_and_bad_input_change_nothing() {
    let path = kubeconfig();
    let _guard = CLUSTER.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let a = unique("own");
    // A server dry run of a fresh install writes nothing, and says what it could not send.
    let before = observed(&path);
    let (code, _, err) =
        tkn(&path, &["install", "v0.50.3", "-n", &a, "--dry-run=server", "--force-conflicts"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("were not sent: their namespace does not exist yet"), "{err}");
    assert_eq!(observed(&path), before, "zero writes");
    // Someone else's ClusterRole, under the name the instance would create.
    let role = format!("tkn-multi:{a}:tekton-pipelines-webhook-cluster-access");
    kubectl_apply(
        &path,
        &format!(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: {role}\nrules: []"
        ),
    );
    let before = observed(&path);
    let (code, out, err) = tkn(&path, &["install", "v0.50.3", "-n", &a, "--yes"]);
    assert_eq!(code, 1, "{err}");
    assert!(out.contains("plan:"), "the plan is shown: {out}");
    assert!(err.contains("nothing was written"), "{err}");
    assert!(
        err.contains(&format!(
            "`ClusterRole/{role}` is not managed by tkn-multi (written by {MANAGER})"
        )),
        "{err}"
    );
    assert!(err.contains("--force-conflicts"), "{err}");
    assert_eq!(observed(&path), before, "zero writes");
    // Malformed input and unknown versions: errors, zero writes.
    let bad = path.with_file_name("bad-fleet.yaml");
    std::fs::write(&bad, "apiVersion: tkn-multi.tekton.dev/v1alpha1\nkind: Fleet\ninstances: [{name: x, version: }\n").unwrap();
    let (code, _, err) = tkn(&path, &["apply", "-f", bad.to_str().unwrap(), "--yes"]);
    assert_eq!(code, 1, "{err}");
    let (code, _, err) = tkn(&path, &["install", "v9.9.9", "-n", &a, "--yes"]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(observed(&path), before, "zero writes");
    // Taking it over is explicit, and then the object is the instance's (and goes with it).
    let (code, _, err) =
        tkn(&path, &["install", "v0.50.3", "-n", &a, "--yes", "--force-conflicts"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains(&format!("taking over `ClusterRole/{role}`")), "{err}");
    let s = observed(&path);
    assert!(s.objects.iter().any(|o| o.object.name == role && o.owner == a));
    // Someone else sets the controller's image (a field tkn-multi applied): the upgrade's
    // server-side apply conflicts (HTTP 409), a refusal the user resolves, so it exits 1.
    let cp = format!("tekton-{a}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = client(&path).await;
        let api = dynamic_api(&client, "apps/v1", "Deployment", Some(&cp)).await;
        let patch = serde_json::json!({"spec": {"template": {"spec": {"containers": [
            {"name": "tekton-pipelines-controller", "image": "registry.invalid/controller:edited"}
        ]}}}});
        let params =
            PatchParams { field_manager: Some("someone-else".into()), ..Default::default() };
        api.patch("tekton-pipelines-controller", &params, &Patch::Strategic(patch)).await.unwrap();
    });
    let (code, _, err) = tkn(&path, &["upgrade", &a, "--to", "v0.56.0", "--yes"]);
    assert_eq!(code, 1, "a field conflict is the user's to resolve: {err}");
    assert!(err.contains("also managed by another field manager"), "{err}");
    assert!(err.contains("someone-else"), "the API server names the other manager: {err}");
    // On a terminal, a destructive plan without `--yes` asks, as Terraform does: anything but
    // `yes` declines and changes nothing; `yes` applies it.
    let before = observed(&path);
    let (code, screen) = tkn_on_a_terminal(&path, &["uninstall", &a, "--force-conflicts"], "y");
    assert_eq!(code, 1, "{screen}");
    assert!(screen.contains("Only 'yes' will be accepted"), "{screen}");
    assert!(screen.contains("declined"), "{screen}");
    assert_eq!(observed(&path), before, "declining changes nothing");
    let (code, screen) = tkn_on_a_terminal(&path, &["uninstall", &a, "--force-conflicts"], "yes");
    assert_eq!(code, 0, "{screen}");
    assert!(observed(&path).instance(&a).is_none(), "{screen}");
    assert!(!observed(&path).objects.iter().any(|o| o.object.name == role));
}

#[test]
#[ignore = "needs the test cluster: scripts/test runs it"]
fn sequence_1_on_the_real_cluster_with_tekton_objects() {
    let path = kubeconfig();
    let _guard = CLUSTER.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    assert!(observed(&path).shared.is_none(), "starts without a shared layer");
    let (x, y, j) = (unique("seq-x"), unique("seq-y"), unique("seq-j"));
    let shared = || observed(&path).shared.map(|s| s.version.to_string());
    // The matrix issue's versions and answers (docs/compat-matrix.md).
    run_ok(&path, &["install", "v0.44.2", "-n", &x]);
    assert_eq!(shared().as_deref(), Some("v0.44.2"));
    run_ok(&path, &["install", "v0.50.3", "-n", &y]);
    assert_eq!(shared().as_deref(), Some("v0.50.3"));
    let s = observed(&path);
    let tasks = s.shared.as_ref().unwrap().crds.iter().find(|c| c.name == "tasks.tekton.dev");
    assert_eq!(tasks.unwrap().stored_versions, ["v1"], "migrated to v1 storage");
    run_ok(&path, &["install", "v0.41.2", "-n", &j]);
    assert_eq!(shared().as_deref(), Some("v0.50.3"), "an older instance changes nothing shared");
    // A user's Tekton object, written at the storage version, in y's namespace.
    kubectl_apply(
        &path,
        &format!(
            "apiVersion: tekton.dev/v1\nkind: Task\nmetadata:\n  name: hello\n  namespace: {y}\nspec:\n  steps:\n  - name: hello\n    image: busybox\n    script: echo hello"
        ),
    );
    run_ok(&path, &["upgrade", &x, "--to", "v0.56.0"]);
    assert_eq!(shared().as_deref(), Some("v0.56.0"));
    run_ok(&path, &["uninstall", &x]);
    assert_eq!(shared().as_deref(), Some("v0.56.0"), "uninstalling vZ keeps the layer");
    for i in [&j, &y] {
        run_ok(&path, &["uninstall", i]);
    }
    // The Task outlives every instance: the whole shared layer stays, with a note.
    let s = observed(&path);
    assert!(s.instances.is_empty());
    let tasks = s.shared.as_ref().expect("kept while a Task remains").crds.iter();
    assert!(tasks.clone().any(|c| c.name == "tasks.tekton.dev" && c.objects == 1));
    let empty = path.with_file_name("empty-fleet.yaml");
    std::fs::write(
        &empty,
        "apiVersion: tkn-multi.tekton.dev/v1alpha1\nkind: Fleet\ninstances: []\n",
    )
    .unwrap();
    let fleet = ["apply", "-f", empty.to_str().unwrap()];
    let (code, out, err) = tkn(&path, &[&fleet[..], &["--dry-run"]].concat());
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("note: the shared layer stays: Tekton objects remain (1 tasks.tekton.dev)"),
        "{out}"
    );
    // Once the user deletes it, the fleet with no instances removes the layer.
    delete_object(&path, "tekton.dev/v1", "Task", Some(&y), "hello");
    run_ok(&path, &fleet);
    let s = observed(&path);
    assert!(s.shared.is_none(), "removed once the Task was gone");
    assert!(s.objects.iter().all(|o| o.retain && o.object.kind == "Namespace"), "{:?}", s.objects);
}
