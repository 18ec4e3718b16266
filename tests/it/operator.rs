//! Operator mode, so far: the generated `TektonFleet` CRD on the real API server. Its schema
//! accepts what the fleet file accepts and refuses what the fleet file refuses, and a stored
//! `TektonFleet` reads back as the fleet file's desired state.

use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};

use crate::common::{CLUSTER, client, crd_established, gone, kubeconfig, unique, wait_until};
use tkn_multi::operator::TektonFleet;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the test cluster: scripts/test runs it"]
async fn the_tektonfleet_crd_is_served_and_its_schema_is_the_fleet_files() {
    let path = kubeconfig();
    let _guard = CLUSTER.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let c = client(&path).await;
    let crd: CustomResourceDefinition = tkn_multi::yaml::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/manifests/crd.yaml"))
            .unwrap(),
    )
    .unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(c.clone());
    crds.patch(
        "tektonfleets.tkn-multi.tekton.dev",
        &PatchParams::apply("tkn-multi-tests").force(),
        &Patch::Apply(&crd),
    )
    .await
    .unwrap();
    wait_until("the TektonFleet CRD Established", Duration::from_secs(60), || {
        crd_established(&c, "tektonfleets.tkn-multi.tekton.dev")
    })
    .await;
    let fleets: Api<TektonFleet> = Api::all(c.clone());
    let name = unique("tkf");
    let make = |spec: serde_json::Value| -> TektonFleet {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "tkn-multi.tekton.dev/v1alpha1", "kind": "TektonFleet",
            "metadata": {"name": name}, "spec": spec,
        }))
        .unwrap()
    };
    // The API server refuses what the fleet file refuses (a name that is not a DNS label, an
    // unknown shared mode, a version that is not vX.Y.Z), before anything stores it.
    for (bad, says) in [
        (serde_json::json!({"name": "Team_A", "version": "v0.50.3"}), "spec.instances[0].name"),
        (serde_json::json!({"name": "team-a", "version": "0.50"}), "spec.instances[0].version"),
    ] {
        let raw = serde_json::json!({
            "apiVersion": "tkn-multi.tekton.dev/v1alpha1", "kind": "TektonFleet",
            "metadata": {"name": name}, "spec": {"instances": [bad]},
        });
        let dynamic =
            crate::common::dynamic_api(&c, "tkn-multi.tekton.dev/v1alpha1", "TektonFleet", None)
                .await;
        let obj: kube::api::DynamicObject = serde_json::from_value(raw).unwrap();
        let e = dynamic.create(&PostParams::default(), &obj).await.unwrap_err();
        assert!(e.to_string().contains(says), "{e}");
    }
    let dynamic =
        crate::common::dynamic_api(&c, "tkn-multi.tekton.dev/v1alpha1", "TektonFleet", None).await;
    let obj: kube::api::DynamicObject = serde_json::from_value(serde_json::json!({
        "apiVersion": "tkn-multi.tekton.dev/v1alpha1", "kind": "TektonFleet",
        "metadata": {"name": name}, "spec": {"shared": {"mode": "sometimes"}},
    }))
    .unwrap();
    let e = dynamic.create(&PostParams::default(), &obj).await.unwrap_err();
    assert!(e.to_string().contains("spec.shared.mode"), "{e}");
    // A good one is stored with the schema's defaults, and reads back as the desired state the
    // same fleet file gives.
    let f = make(serde_json::json!({"instances": [
        {"name": "team-a", "version": "v0.50.3", "config": {"feature-flags": {"enable-api-fields": "beta"}}},
        {"name": "team-b", "version": "v1.15.1", "namespace": "builds"},
    ]}));
    fleets.create(&PostParams::default(), &f).await.unwrap();
    let stored = fleets.get(&name).await.unwrap();
    assert_eq!(stored.spec.fleet.shared.update, tkn_multi::plan::UpdateShared::IfOlder);
    let from_resource = stored.spec.fleet.desired().unwrap();
    let file = "apiVersion: tkn-multi.tekton.dev/v1alpha1\nkind: Fleet\ninstances:\n- {name: team-a, version: v0.50.3, config: {feature-flags: {enable-api-fields: beta}}}\n- {name: team-b, version: v1.15.1, namespace: builds}\n";
    assert_eq!(from_resource, tkn_multi::fleet::parse_fleet(file, "f").unwrap());
    fleets.delete(&name, &DeleteParams::default()).await.unwrap();
    let _ = crds.delete("tektonfleets.tkn-multi.tekton.dev", &DeleteParams::default()).await;
    // Gone before the next test applies it again (a terminating CRD would take that one too).
    wait_until("the TektonFleet CRD deleted", Duration::from_secs(60), || {
        gone(&crds, "tektonfleets.tkn-multi.tekton.dev")
    })
    .await;
}

/// The operator as a process, under the service account and RBAC of `manifests/`.
struct Operator {
    child: std::process::Child,
    log: std::path::PathBuf,
}

impl Operator {
    fn start(kubeconfig: &std::path::Path, port: u16, log: &std::path::Path) -> Self {
        let out = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
        let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("tkn-multi"))
            .args(["operator", "run", "--resync", "10", "--lock-timeout", "5", "--timeout", "180"])
            .arg(format!("--metrics-address=127.0.0.1:{port}"))
            .env("KUBECONFIG", kubeconfig)
            .env("TKN_MULTI_RELEASE_DIR", crate::common::release_dir())
            .env("TKN_MULTI_CACHE_DIR", kubeconfig.with_file_name("no-cache"))
            .env("TKN_MULTI_RELEASE_URL", crate::common::NO_DOWNLOADS)
            .stdout(std::process::Stdio::null())
            .stderr(out)
            .spawn()
            .unwrap();
        Operator { child, log: log.to_owned() }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("--- operator log ---\n{}", self.log());
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `GET path` on the operator's metrics port: (status line, body).
fn http_get(port: u16, path: &str) -> (String, String) {
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (head.lines().next().unwrap_or_default().to_owned(), body.to_owned())
}

/// How many reconciles the operator has finished, whatever their result
/// (`tkn_multi_operator_reconciles_total`).
fn reconciles(port: u16) -> u64 {
    let (_, metrics) = http_get(port, "/metrics");
    metrics
        .lines()
        .filter(|l| l.starts_with("tkn_multi_operator_reconciles_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// Waits until the operator has finished another reconcile after `since` reconciles: the
/// positive signal before a check that nothing happened.
async fn another_reconcile(port: u16, since: u64) {
    wait_until(
        "another reconcile",
        Duration::from_secs(60),
        || async move { reconciles(port) > since },
    )
    .await;
}

/// Whether the operator's service account may `verb` `group/resource` (named `name`) in
/// `namespace`, by a `SubjectAccessReview`.
async fn operator_may(
    c: &kube::Client,
    verb: &str,
    group: &str,
    resource: &str,
    namespace: Option<&str>,
    name: Option<&str>,
) -> bool {
    use k8s_openapi::api::authorization::v1::{
        ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
    };
    let (resource, subresource) = match resource.split_once('/') {
        Some((r, s)) => (r, Some(s.to_owned())),
        None => (resource, None),
    };
    let review = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some("system:serviceaccount:tkn-multi-system:tkn-multi-operator".into()),
            groups: Some(vec![
                "system:serviceaccounts".into(),
                "system:serviceaccounts:tkn-multi-system".into(),
                "system:authenticated".into(),
            ]),
            resource_attributes: Some(ResourceAttributes {
                namespace: namespace.map(Into::into),
                name: name.map(Into::into),
                verb: Some(verb.into()),
                group: Some(group.into()),
                resource: Some(resource.into()),
                subresource,
                ..ResourceAttributes::default()
            }),
            ..SubjectAccessReviewSpec::default()
        },
        ..SubjectAccessReview::default()
    };
    let api: Api<SubjectAccessReview> = Api::all(c.clone());
    api.create(&PostParams::default(), &review).await.unwrap().status.is_some_and(|s| s.allowed)
}

/// A kubeconfig for the operator's service account: the test cluster's server and CA, a token
/// from the TokenRequest API.
async fn service_account_kubeconfig(
    c: &kube::Client,
    admin: &std::path::Path,
) -> std::path::PathBuf {
    use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
    use k8s_openapi::api::core::v1::ServiceAccount;
    let sas: Api<ServiceAccount> = Api::namespaced(c.clone(), "tkn-multi-system");
    let request = TokenRequest {
        spec: TokenRequestSpec {
            audiences: vec![],
            expiration_seconds: Some(3600),
            ..TokenRequestSpec::default()
        },
        ..TokenRequest::default()
    };
    let token = sas
        .create_token_request("tkn-multi-operator", &PostParams::default(), &request)
        .await
        .unwrap()
        .status
        .unwrap()
        .token;
    let kc = kube::config::Kubeconfig::read_from(admin).unwrap();
    let cluster = kc.clusters[0].cluster.clone().unwrap();
    let ca = match (&cluster.certificate_authority_data, &cluster.certificate_authority) {
        (Some(data), _) => data.clone(),
        (None, Some(file)) => {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode(std::fs::read(file).unwrap())
        }
        (None, None) => panic!("the test kubeconfig names no CA"),
    };
    let yaml = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster: {{server: \"{}\", certificate-authority-data: \"{ca}\"}}\nusers:\n- name: operator\n  user: {{token: \"{token}\"}}\ncontexts:\n- name: operator\n  context: {{cluster: test, user: operator}}\ncurrent-context: operator\n",
        cluster.server.unwrap()
    );
    let path = admin.with_file_name("operator-kubeconfig");
    std::fs::write(&path, yaml).unwrap();
    path
}

fn condition<'a>(f: &'a TektonFleet, type_: &str) -> Option<&'a tkn_multi::operator::Condition> {
    f.status.as_ref()?.conditions.iter().find(|c| c.type_ == type_)
}

/// Waits until the fleet's status satisfies `check`; returns it.
async fn wait_fleet(
    api: &Api<TektonFleet>,
    name: &str,
    what: &str,
    timeout: Duration,
    check: impl Fn(&TektonFleet) -> bool,
) -> TektonFleet {
    let start = std::time::Instant::now();
    loop {
        let f = api.get(name).await.unwrap();
        if check(&f) {
            return f;
        }
        assert!(
            start.elapsed() < timeout,
            "{what} not reached within {timeout:?}; status: {}",
            serde_json::to_string_pretty(&f.status).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn ready_at_generation(f: &TektonFleet) -> bool {
    condition(f, "Ready").is_some_and(|c| c.status == "True")
        && f.status.as_ref().and_then(|s| s.observed_generation) == f.metadata.generation
}

/// Events the operator recorded about `fleet`, as `Reason: note`.
async fn fleet_events(c: &kube::Client, fleet: &str) -> Vec<String> {
    use k8s_openapi::api::events::v1::Event;
    let api: Api<Event> = Api::all(c.clone());
    api.list(&kube::api::ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(fleet))
        .map(|e| format!("{}: {}", e.reason.unwrap_or_default(), e.note.unwrap_or_default()))
        .collect()
}

fn versions(path: &std::path::Path) -> Vec<(String, String)> {
    crate::common::observed(path)
        .instances
        .into_iter()
        .map(|i| (i.name, i.version.to_string()))
        .collect()
}

async fn patch_spec(api: &Api<TektonFleet>, name: &str, spec: serde_json::Value) {
    api.patch(name, &PatchParams::default(), &Patch::Merge(serde_json::json!({"spec": spec})))
        .await
        .unwrap();
}

/// Issue 15's acceptance, on the real cluster with real Tekton controllers and webhooks: the
/// operator runs as a process with the RBAC of `manifests/` (a service-account token), and
/// creates, upgrades, removes (after approval), reverts hand edits, refuses bad specs with 0
/// writes, leaves a CLI-installed instance alone, survives a kill mid-apply, and on delete
/// uninstalls its instances while keeping the CRDs a Task still needs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the test cluster: scripts/test runs it"]
async fn the_operator_reconciles_tektonfleets_under_the_manifests_rbac() {
    let path = kubeconfig();
    let _guard = CLUSTER.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let c = client(&path).await;
    assert!(crate::common::observed(&path).instances.is_empty(), "the cluster starts empty");
    // The CRD, the namespace and the RBAC, as `kubectl apply -k manifests/` (without the
    // Deployment: the operator runs here as a process).
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/manifests");
    for file in ["namespace.yaml", "crd.yaml", "rbac.yaml"] {
        let text = std::fs::read_to_string(format!("{dir}/{file}")).unwrap();
        for doc in text.split("\n---\n") {
            let v: serde_json::Value = tkn_multi::yaml::from_str(doc).unwrap();
            let serde_json::Value::Object(map) = v else { panic!("{file}: a mapping") };
            crate::common::apply(&c, &tkn_multi::release::Object::from_map(map)).await;
        }
    }
    let crds: Api<CustomResourceDefinition> = Api::all(c.clone());
    wait_until("the TektonFleet CRD Established", Duration::from_secs(60), || {
        crd_established(&c, "tektonfleets.tkn-multi.tekton.dev")
    })
    .await;
    // Least privilege, as the API server decides it.
    for (verb, group, resource, ns, name) in [
        ("patch", "apps", "deployments", Some("any-team"), None),
        ("create", "rbac.authorization.k8s.io", "clusterroles", None, None),
        ("escalate", "rbac.authorization.k8s.io", "clusterroles", None, None),
        ("list", "tekton.dev", "tasks", None, None),
        ("update", "tekton.dev", "pipelineruns", Some("any-team"), None),
        ("patch", "tkn-multi.tekton.dev", "tektonfleets/status", None, None),
        ("create", "events.k8s.io", "events", Some("default"), None),
        ("update", "coordination.k8s.io", "leases", Some("kube-system"), Some("tkn-multi")),
        ("get", "", "secrets", Some("tekton-any-team"), Some("webhook-certs")),
        ("create", "tekton.dev", "pipelines", Some("any-team"), None),
        ("deletecollection", "", "pods", Some("tkn-multi-shadow-x"), None),
        ("patch", "", "secrets", Some("tekton-any-team"), Some("tkn-multi-webhook-ca")),
    ] {
        assert!(
            operator_may(&c, verb, group, resource, ns, name).await,
            "may {verb} {group}/{resource}"
        );
    }
    for (verb, group, resource, ns, name) in [
        ("delete", "tekton.dev", "pipelineruns", Some("any-team"), None),
        ("create", "", "pods", Some("any-team"), None),
        ("get", "", "nodes", None, None),
        ("update", "coordination.k8s.io", "leases", Some("kube-system"), Some("kube-scheduler")),
        ("create", "coordination.k8s.io", "leases", Some("default"), None),
        ("list", "", "secrets", None, None),
        ("watch", "", "secrets", Some("any-team"), None),
        ("get", "", "secrets", Some("kube-system"), Some("bootstrap-token-abcdef")),
    ] {
        assert!(
            !operator_may(&c, verb, group, resource, ns, name).await,
            "may not {verb} {group}/{resource}"
        );
    }
    let sa_kubeconfig = service_account_kubeconfig(&c, &path).await;
    let port = free_port();
    let log = path.with_file_name(format!("{}.log", unique("operator")));
    let mut operator = Operator::start(&sa_kubeconfig, port, &log);
    wait_until("the operator ready", Duration::from_secs(60), || async {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            && http_get(port, "/readyz").0.contains("200")
    })
    .await;

    let fleets: Api<TektonFleet> = Api::all(c.clone());
    let name = unique("fleet");
    let (a, b, cli, d) = (unique("op-a"), unique("op-b"), unique("op-cli"), unique("op-d"));
    let mut phases = crate::common::Phases::new("operator");
    // 1. Create: two instances of different versions.
    phases
        .run("1. Create", async {
        let fleet: TektonFleet = serde_json::from_value(serde_json::json!({
            "apiVersion": "tkn-multi.tekton.dev/v1alpha1", "kind": "TektonFleet",
            "metadata": {"name": name},
            "spec": {"instances": [{"name": a, "version": "v0.56.0"}, {"name": b, "version": "v1.15.1"}]},
        }))
        .unwrap();
        fleets.create(&PostParams::default(), &fleet).await.unwrap();
        let f = wait_fleet(
            &fleets,
            &name,
            "Ready after create",
            Duration::from_secs(300),
            ready_at_generation,
        )
        .await;
        let status = f.status.clone().unwrap();
        assert_eq!(
            status
                .instances
                .iter()
                .map(|i| (i.name.as_str(), i.version.as_str(), i.phase.as_str()))
                .collect::<Vec<_>>(),
            [(a.as_str(), "v0.56.0", "Ready"), (b.as_str(), "v1.15.1", "Ready")]
        );
        assert_eq!(status.shared.as_ref().map(|s| s.version.as_str()), Some("v1.15.1"));
        assert_eq!(versions(&path), [(a.clone(), "v0.56.0".into()), (b.clone(), "v1.15.1".into())]);
        let events = fleet_events(&c, &name).await;
        assert!(
            events.iter().any(|e| e.starts_with("Created: Deployment/tekton-pipelines-controller")),
            "{events:#?}"
        );
        let (line, metrics) = http_get(port, "/metrics");
        assert!(line.contains("200"), "{line}");
        assert!(
            metrics.contains("tkn_multi_operator_reconciles_total{result=\"success\"}"),
            "{metrics}"
        );
        assert!(!metrics.contains("tkn_multi_operator_applied_steps_total 0\n"), "{metrics}");
        })
        .await;
    // 2a. Edit: a version change upgrades that instance, once its precheck passes or the
    // plan is approved: a Pipeline naming a ClusterTask (which v1.15.1 refuses) stalls it.
    phases
        .run("2a. Edit", async {
            let pipeline = serde_json::json!({
                "apiVersion": "tekton.dev/v1", "kind": "Pipeline",
                "metadata": {"name": "uses-clustertask", "namespace": a},
                "spec": {"tasks": [{"name": "build", "taskRef": {"kind": "ClusterTask", "name": "buildah"}}]},
            });
            let serde_json::Value::Object(map) = pipeline else { unreachable!() };
            crate::common::apply(&c, &tkn_multi::release::Object::from_map(map)).await;
            patch_spec(
                &fleets,
                &name,
                serde_json::json!({"instances": [
            {"name": a, "version": "v1.15.1"}, {"name": b, "version": "v1.15.1"}]}),
            )
            .await;
            let f = wait_fleet(&fleets, &name, "stalled by the precheck", Duration::from_secs(180), |f| {
                condition(f, "Stalled").is_some_and(|c| c.status == "True" && c.reason == "PrecheckFailed")
            })
            .await;
            let status = f.status.clone().unwrap();
            let blockers: Vec<(&str, &str, &str)> = status
                .precheck
                .iter()
                .filter(|p| p.severity == "blocker")
                .map(|p| (p.instance.as_str(), p.rule.as_str(), p.object.as_str()))
                .collect();
            assert_eq!(
                blockers,
                [
                    (a.as_str(), "removed-kind-reference", "Pipeline/uses-clustertask"),
                    (a.as_str(), "webhook-refused", "Pipeline/uses-clustertask")
                ],
                "{:#?}",
                status.precheck
            );
            let pending = status.pending_plan.clone().unwrap();
            assert!(condition(&f, "Stalled").unwrap().message.contains(&pending.hash), "{pending:?}");
            assert!(
                fleet_events(&c, &name).await.iter().any(|e| e.starts_with("PrecheckFailed:")),
                "an event"
            );
            another_reconcile(port, reconciles(port)).await;
            assert_eq!(
                versions(&path),
                [(a.clone(), "v0.56.0".into()), (b.clone(), "v1.15.1".into())],
                "nothing moves before approval"
            );
            fleets
                .patch(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(serde_json::json!({"metadata": {"annotations": {
                "tkn-multi.tekton.dev/approve-plan": pending.hash}}})),
                )
                .await
                .unwrap();
            wait_fleet(
                &fleets,
                &name,
                "Ready after upgrade",
                Duration::from_secs(300),
                ready_at_generation,
            )
            .await;
            assert_eq!(
                versions(&path),
                [(a.clone(), "v1.15.1".into()), (b.clone(), "v1.15.1".into())]
            );
            let dynamic = crate::common::dynamic_api(&c, "tekton.dev/v1", "Pipeline", Some(&a)).await;
            dynamic.delete("uses-clustertask", &DeleteParams::default()).await.unwrap();
        })
        .await;
    // 2b. A removed instance waits for approval, then goes.
    phases
        .run("2b. A removed instance waits for approval, then goes.", async {
            patch_spec(
                &fleets,
                &name,
                serde_json::json!({"instances": [{"name": a, "version": "v1.15.1"}]}),
            )
            .await;
            let f = wait_fleet(&fleets, &name, "awaiting approval", Duration::from_secs(60), |f| {
                f.status.as_ref().is_some_and(|s| s.pending_plan.is_some())
            })
            .await;
            let pending = f.status.as_ref().unwrap().pending_plan.clone().unwrap();
            assert!(pending.message.contains(&pending.hash), "{pending:?}");
            assert!(
                pending
                    .steps
                    .iter()
                    .any(|s| s.starts_with("- Deployment/tekton-pipelines-controller")),
                "{pending:?}"
            );
            assert_eq!(condition(&f, "Ready").unwrap().reason, "AwaitingApproval");
            another_reconcile(port, reconciles(port)).await;
            assert_eq!(versions(&path).len(), 2, "nothing is removed before approval");
            fleets
                .patch(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(serde_json::json!({"metadata": {"annotations": {
                "tkn-multi.tekton.dev/approve-plan": pending.hash}}})),
                )
                .await
                .unwrap();
            let f = wait_fleet(
                &fleets,
                &name,
                "Ready after approval",
                Duration::from_secs(180),
                ready_at_generation,
            )
            .await;
            assert_eq!(versions(&path), [(a.clone(), "v1.15.1".into())]);
            assert!(f.status.as_ref().unwrap().pending_plan.is_none());
        })
        .await;
    // 2c. Hand edits of a ConfigMap and a Deployment are reverted, with an event.
    phases
        .run("2c. Hand edits of a ConfigMap and a Deployment are reverted, with an event.", async {
            let cp = format!("tekton-{a}");
            let cms: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::namespaced(c.clone(), &cp);
            let flag = |cm: &k8s_openapi::api::core::v1::ConfigMap| {
                cm.data.as_ref().and_then(|d| d.get("enable-api-fields")).cloned()
            };
            let original = flag(&cms.get("feature-flags").await.unwrap());
            // A value Tekton's own config webhook accepts (it refuses an invalid one).
            let edited = if original.as_deref() == Some("alpha") { "stable" } else { "alpha" };
            let by_hand = PatchParams {
                field_manager: Some("kubectl-edit".into()),
                ..PatchParams::default()
            };
            cms.patch(
                "feature-flags",
                &by_hand,
                &Patch::Merge(serde_json::json!({"data": {"enable-api-fields": edited}})),
            )
            .await
            .unwrap();
            let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
                Api::namespaced(c.clone(), &cp);
            deployments
                .patch(
                    "tekton-pipelines-controller",
                    &by_hand,
                    &Patch::Merge(serde_json::json!({"spec": {"replicas": 0}})),
                )
                .await
                .unwrap();
            wait_until("hand edits reverted", Duration::from_secs(60), || {
                let (cms, deployments, original) =
                    (cms.clone(), deployments.clone(), original.clone());
                async move {
                    let cm = cms.get("feature-flags").await.unwrap();
                    let d = deployments.get("tekton-pipelines-controller").await.unwrap();
                    flag(&cm) == original && d.spec.and_then(|s| s.replicas) == Some(1)
                }
            })
            .await;
            // The event comes once the plan's waits are over (the controller Available again).
            wait_until("a DriftCorrected event", Duration::from_secs(120), || async {
                fleet_events(&c, &name)
                    .await
                    .iter()
                    .any(|e| e.starts_with("DriftCorrected:") && e.contains("feature-flags"))
            })
            .await;
            wait_fleet(
                &fleets,
                &name,
                "Ready after drift",
                Duration::from_secs(60),
                ready_at_generation,
            )
            .await;
        })
        .await;
    // 3. Refusals: Stalled with the reason, and nothing written.
    phases
        .run("3. Refusals", async {
        let before = crate::common::observed(&path);
        for (spec, reason, says) in [
            (
                serde_json::json!({"instances": [{"name": a, "version": "v1.15.1"}, {"name": "op-old", "version": "v0.21.0"}]}),
                "Incompatible",
                "cannot share one layer",
            ),
            (
                serde_json::json!({"instances": [{"name": a, "version": "v1.15.1"}, {"name": "op-c", "version": "v1.15.1", "namespace": a}]}),
                "Conflict",
                "is claimed by both",
            ),
        ] {
            patch_spec(&fleets, &name, spec).await;
            let f = wait_fleet(&fleets, &name, "Stalled", Duration::from_secs(60), |f| {
                condition(f, "Stalled").is_some_and(|c| c.status == "True" && c.reason == reason)
                    && condition(f, "Stalled").and_then(|c| c.observed_generation)
                        == f.metadata.generation
            })
            .await;
            let stalled = condition(&f, "Stalled").unwrap();
            assert!(stalled.message.contains(says), "{stalled:?}");
            assert_eq!(condition(&f, "Ready").unwrap().status, "False");
            assert_eq!(crate::common::observed(&path), before, "a refused spec writes nothing");
        }
        patch_spec(
            &fleets,
            &name,
            serde_json::json!({"instances": [{"name": a, "version": "v1.15.1"}]}),
        )
        .await;
        wait_fleet(&fleets, &name, "Ready again", Duration::from_secs(60), ready_at_generation).await;
        })
        .await;
    // 5. Interplay: a CLI install takes the same lock, and the operator leaves its instance alone.
    phases
        .run("5. Interplay", async {
            let (code, _, err) = tokio::task::block_in_place(|| {
                crate::common::tkn(
                    &path,
                    &["install", "v1.15.1", "--namespace", &cli, "--yes", "-q"],
                )
            });
            assert_eq!(code, 0, "{err}");
            let f = wait_fleet(
                &fleets,
                &name,
                "the CLI's instance reported",
                Duration::from_secs(60),
                |f| f.status.as_ref().is_some_and(|s| s.unmanaged_instances.contains(&cli)),
            )
            .await;
            assert!(
                condition(&f, "Ready").is_some_and(|c| c.message.contains(&cli)),
                "{:?}",
                f.status
            );
            another_reconcile(port, reconciles(port)).await;
            assert!(
                versions(&path).iter().any(|(n, _)| n == &cli),
                "the operator left the CLI's instance"
            );
        })
        .await;
    // 6. Restart: killed mid-apply, a new operator converges.
    phases
        .run("6. Restart", async {
            patch_spec(
                &fleets,
                &name,
                serde_json::json!({"instances": [
            {"name": a, "version": "v1.15.1"}, {"name": d, "version": "v1.15.1"}]}),
            )
            .await;
            wait_fleet(&fleets, &name, "applying", Duration::from_secs(60), |f| {
                condition(f, "Reconciling")
                    .is_some_and(|c| c.status == "True" && c.reason == "Applying")
            })
            .await;
            operator.kill();
            operator = Operator::start(&sa_kubeconfig, port, &log);
            let f = wait_fleet(
                &fleets,
                &name,
                "Ready after restart",
                Duration::from_secs(300),
                ready_at_generation,
            )
            .await;
            let names: Vec<&str> =
                f.status.as_ref().unwrap().instances.iter().map(|i| i.name.as_str()).collect();
            assert_eq!(names, [a.as_str(), d.as_str()]);
            let installed = versions(&path);
            assert!(
                installed.iter().any(|(n, _)| n == &d) && installed.iter().any(|(n, _)| n == &cli),
                "{installed:?}"
            );
        })
        .await;
    // 4. Delete: the fleet's instances go, the CRDs stay while a Task exists.
    phases
        .run("4. Delete", async {
            let (code, _, err) = tokio::task::block_in_place(|| {
                crate::common::tkn(&path, &["uninstall", &cli, "--yes", "-q"])
            });
            assert_eq!(code, 0, "{err}");
            let task: kube::api::DynamicObject = serde_json::from_value(serde_json::json!({
                "apiVersion": "tekton.dev/v1", "kind": "Task", "metadata": {"name": "keep-me"},
                "spec": {"steps": [{"name": "s", "image": "busybox", "script": "true"}]},
            }))
            .unwrap();
            let tasks = crate::common::dynamic_api(&c, "tekton.dev/v1", "Task", Some(&a)).await;
            tasks.create(&PostParams::default(), &task).await.unwrap();
            fleets.delete(&name, &DeleteParams::default()).await.unwrap();
            wait_until("the TektonFleet gone", Duration::from_secs(300), || gone(&fleets, &name))
                .await;
            let after = crate::common::observed(&path);
            assert!(after.instances.is_empty(), "{:?}", after.instances);
            assert!(after.shared.is_some(), "the shared layer stays while a Task exists");
            assert!(crds.get("tasks.tekton.dev").await.is_ok());
            assert!(tasks.get("keep-me").await.is_ok());
            let events = fleet_events(&c, &name).await;
            assert!(events.iter().any(|e| e.starts_with("SharedLayerKept:")), "{events:#?}");
        })
        .await;

    operator.kill();
    // Clean up, whichever phases failed: the fleet (its finalizer dropped, the operator being
    // gone), the Task, then the shared layer (a fleet with no instances).
    if !gone(&fleets, &name).await {
        let drop_finalizers = serde_json::json!({"metadata": {"finalizers": null}});
        let _ = fleets.patch(&name, &PatchParams::default(), &Patch::Merge(drop_finalizers)).await;
        let _ = fleets.delete(&name, &DeleteParams::default()).await;
    }
    if crd_established(&c, "tasks.tekton.dev").await {
        let tasks = crate::common::dynamic_api(&c, "tekton.dev/v1", "Task", Some(&a)).await;
        let _ = tasks.delete("keep-me", &DeleteParams::default()).await;
    }
    for ns in [&a, &b, &d, &cli] {
        crate::common::delete_namespace_and_wait(&c, ns).await;
    }
    let empty = path.with_file_name(format!("{}.yaml", unique("empty-fleet")));
    std::fs::write(
        &empty,
        "apiVersion: tkn-multi.tekton.dev/v1alpha1\nkind: Fleet\ninstances: []\n",
    )
    .unwrap();
    let (code, _, err) = tokio::task::block_in_place(|| {
        crate::common::tkn(&path, &["apply", "-f", empty.to_str().unwrap(), "--yes", "-q"])
    });
    assert_eq!(code, 0, "{err}");
    assert!(crate::common::observed(&path).shared.is_none());
    phases.finish();
}

/// Applies every document of `manifests/<file>` (server-side, as `kubectl apply -k` would), each
/// through `edit` first.
async fn apply_manifest(c: &kube::Client, file: &str, edit: impl Fn(&mut serde_json::Value)) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/manifests");
    let text = std::fs::read_to_string(format!("{dir}/{file}")).unwrap();
    for doc in text.split("\n---\n") {
        let mut v: serde_json::Value = tkn_multi::yaml::from_str(doc).unwrap();
        edit(&mut v);
        let serde_json::Value::Object(map) = v else { panic!("{file}: a mapping") };
        crate::common::apply(c, &tkn_multi::release::Object::from_map(map)).await;
    }
}

/// Issue "Hardening": `manifests/` as shipped, the Deployment included, run by the process
/// kubelet from the built binary (the image `tkn-multi:0.1.0` mapped to it). The only change is
/// the air-gap setting its comment documents: the release files mounted at `/releases` (and
/// downloads pointed at loopback). Its probes pass, and it reconciles a `TektonFleet`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the test cluster: scripts/test runs it"]
async fn the_shipped_operator_deployment_runs_and_reconciles() {
    let path = kubeconfig();
    let _guard = CLUSTER.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let c = client(&path).await;
    let images = path.parent().unwrap().join("tekton/images");
    std::fs::create_dir_all(&images).unwrap();
    let image = images.join("tkn-multi:0.1.0");
    let _ = std::fs::remove_file(&image);
    std::os::unix::fs::symlink(assert_cmd::cargo::cargo_bin("tkn-multi"), &image).unwrap();
    for file in ["namespace.yaml", "crd.yaml", "rbac.yaml"] {
        apply_manifest(&c, file, |_| {}).await;
    }
    wait_until("the TektonFleet CRD Established", Duration::from_secs(60), || {
        crd_established(&c, "tektonfleets.tkn-multi.tekton.dev")
    })
    .await;
    // The API server refuses a hostPath with `..`: the real path.
    let releases =
        std::fs::canonicalize(crate::common::release_dir()).unwrap().display().to_string();
    apply_manifest(&c, "deployment.yaml", |d| {
        assert_eq!(d["spec"]["template"]["spec"]["containers"][0]["image"], "tkn-multi:0.1.0");
        let pod = &mut d["spec"]["template"]["spec"];
        pod["volumes"].as_array_mut().unwrap().push(serde_json::json!(
            {"name": "releases", "hostPath": {"path": releases, "type": "Directory"}}));
        let container = &mut pod["containers"][0];
        container["volumeMounts"].as_array_mut().unwrap().push(serde_json::json!(
            {"name": "releases", "mountPath": "/releases", "readOnly": true}));
        let env = container["env"].as_array_mut().unwrap();
        env.push(serde_json::json!({"name": "TKN_MULTI_RELEASE_DIR", "value": "/releases"}));
        env.push(serde_json::json!({"name": "TKN_MULTI_RELEASE_URL", "value": crate::common::NO_DOWNLOADS}));
    })
    .await;
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(c.clone(), "tkn-multi-system");
    wait_until(
        "the operator Deployment Available (its probes pass)",
        Duration::from_secs(120),
        || async {
            deployments.get("tkn-multi-operator").await.ok().and_then(|d| d.status).is_some_and(
                |s| {
                    s.conditions
                        .unwrap_or_default()
                        .iter()
                        .any(|c| c.type_ == "Available" && c.status == "True")
                },
            )
        },
    )
    .await;
    let fleets: Api<TektonFleet> = Api::all(c.clone());
    let (name, a) = (unique("pod-fleet"), unique("pod-a"));
    let fleet: TektonFleet = serde_json::from_value(serde_json::json!({
        "apiVersion": "tkn-multi.tekton.dev/v1alpha1", "kind": "TektonFleet",
        "metadata": {"name": name},
        "spec": {"instances": [{"name": a, "version": "v1.15.1"}]},
    }))
    .unwrap();
    fleets.create(&PostParams::default(), &fleet).await.unwrap();
    let f =
        wait_fleet(&fleets, &name, "Ready", Duration::from_secs(300), ready_at_generation).await;
    let status = f.status.unwrap();
    assert_eq!(status.instances.len(), 1);
    assert_eq!(status.shared.as_ref().map(|s| s.version.as_str()), Some("v1.15.1"));
    assert!(versions(&path).iter().any(|(n, v)| n == &a && v == "v1.15.1"));
    // Uninstalled through the finalizer by the operator in its pod.
    fleets.delete(&name, &DeleteParams::default()).await.unwrap();
    wait_until("the TektonFleet gone", Duration::from_secs(300), || gone(&fleets, &name)).await;
    assert!(crate::common::observed(&path).instances.is_empty());
    deployments.delete("tkn-multi-operator", &DeleteParams::default()).await.unwrap();
    wait_until("the operator Deployment gone", Duration::from_secs(60), || {
        gone(&deployments, "tkn-multi-operator")
    })
    .await;
    crate::common::delete_namespace_and_wait(&c, &a).await;
}
