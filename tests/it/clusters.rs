//! A fleet across clusters (`apply -f` of a v1alpha2 fleet) against real member clusters: the
//! contexts `east` and `west` of the test kubeconfig (`scripts/test-cluster members east west`),
//! each its own etcd, kube-apiserver, controller-manager, scheduler and KWOK.
//!
//! One test, in phases that build on each other: placement, overrides, a re-run that plans
//! nothing, moving an instance off a cluster by its labels, a member API server stopped
//! mid-apply, bad input that writes nothing anywhere, and removal of everything.

use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use crate::common::{MEMBERS, kubeconfig, tkn, wait_until};

/// Asserts that the kubeconfig has the member contexts `east` and `west`.
fn members(path: &Path) {
    let kc = Kubeconfig::read_from(path).expect("kubeconfig is readable");
    let has = |n: &str| kc.contexts.iter().any(|c| c.name == n);
    assert!(
        has("east") && has("west"),
        "the test kubeconfig has no `east`/`west` contexts: the member clusters must run (scripts/test-cluster members east west)"
    );
}

async fn member(path: &Path, context: &str) -> Client {
    let kc = Kubeconfig::read_from(path).unwrap();
    let opts = KubeConfigOptions { context: Some(context.into()), ..KubeConfigOptions::default() };
    Client::try_from(Config::from_custom_kubeconfig(kc, &opts).await.unwrap()).unwrap()
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/test-cluster")
}

/// `scripts/test-cluster member-stop|member-start NAME`, with the cluster directory the
/// kubeconfig lives in.
fn member_api(path: &Path, verb: &str, name: &str) {
    let status = std::process::Command::new("bash")
        .arg(script())
        .args([verb, name])
        .env("TKN_MULTI_CLUSTER_DIR", path.parent().unwrap())
        .status()
        .unwrap();
    assert!(status.success(), "{verb} {name}");
}

async fn image(c: &Client, ns: &str, name: &str) -> Option<(String, Vec<String>, i32)> {
    let d = Api::<Deployment>::namespaced(c.clone(), ns).get_opt(name).await.unwrap()?;
    let spec = d.spec.unwrap();
    let container = spec.template.spec.unwrap().containers.remove(0);
    Some((container.image.unwrap(), container.args.unwrap_or_default(), spec.replicas.unwrap_or(1)))
}

async fn config_key(c: &Client, ns: &str, map: &str, key: &str) -> Option<String> {
    let cm = Api::<ConfigMap>::namespaced(c.clone(), ns).get(map).await.unwrap();
    cm.data.and_then(|d| d.get(key).cloned())
}

async fn namespaces(c: &Client, prefix: &str) -> Vec<String> {
    Api::<Namespace>::all(c.clone())
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .filter(|n| n.contains(prefix))
        .collect()
}

async fn has_crds(c: &Client) -> bool {
    Api::<CustomResourceDefinition>::all(c.clone())
        .get_opt("tasks.tekton.dev")
        .await
        .unwrap()
        .is_some()
}

/// A fleet over `east` (`tier: prod`) and `west` (`tier: <west_tier>`): `sel-<id>` on every
/// `tier: prod` cluster, `e-<id>` on east by name, `w-<id>` on west by name; on west `sel` gets a
/// registry and a config override (while it is there); `extra` instances are appended as given.
fn fleet(id: &str, west_tier: &str, extra: &str) -> String {
    // An override that matches no cluster the instance is on is an error: it goes with `sel`.
    let overrides = if west_tier == "prod" {
        "  overrides:
  - clusters: [west]
    imageRegistry: mirror.test:5000/tekton
    config:
      feature-flags: {enable-api-fields: alpha}
    deployments:
      tekton-pipelines-controller: {replicas: 2}
"
    } else {
        ""
    };
    format!(
        "apiVersion: tkn-multi.tekton.dev/v1alpha2
kind: Fleet
clusters:
- {{name: east, context: east, labels: {{tier: prod}}}}
- {{name: west, context: west, labels: {{tier: {west_tier}}}}}
instances:
- name: sel-{id}
  version: v0.56.0
  placement: {{clusterSelector: {{matchLabels: {{tier: prod}}}}}}
{overrides}- {{name: e-{id}, version: v0.56.0, placement: {{clusters: [east]}}}}
- {{name: w-{id}, version: v0.56.0, placement: {{clusters: [west]}}}}
{extra}"
    )
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the test cluster: scripts/test runs it"]
async fn a_fleet_over_two_clusters_places_overrides_moves_and_survives_a_stopped_api_server() {
    let path = kubeconfig();
    members(&path);
    let _guard = MEMBERS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let (east, west) = (member(&path, "east").await, member(&path, "west").await);
    let tmp = tempfile::tempdir().unwrap();
    let id = crate::common::unique("f");
    let yes = ["--yes", "--force-conflicts", "-q"];
    let apply = |file: &str, more: &[&str]| {
        let mut args = vec!["apply", "-f", file];
        args.extend(more);
        tkn(&path, &args)
    };

    // Placement by selector and by names.
    let f1 = write(tmp.path(), "f1.yaml", &fleet(&id, "prod", ""));
    let (code, out, err) = apply(&f1, &yes);
    assert_eq!(code, 0, "{err}\n{out}");
    let ctl = "tekton-pipelines-controller";
    let (east_img, east_args, east_replicas) =
        image(&east, &format!("tekton-sel-{id}"), ctl).await.unwrap();
    let (west_img, west_args, west_replicas) =
        image(&west, &format!("tekton-sel-{id}"), ctl).await.unwrap();
    assert!(east_img.starts_with("gcr.io/tekton-releases/"), "{east_img}");
    assert!(east_args.iter().all(|a| !a.contains("mirror.test")), "{east_args:?}");
    assert_eq!(east_replicas, 1);
    // The registry and config overrides name west only, and reach every image argument.
    assert!(west_img.starts_with("mirror.test:5000/tekton/tekton-releases/"), "{west_img}");
    assert!(west_img.contains("@sha256:"), "digest kept: {west_img}");
    let shell = west_args.iter().position(|a| a == "-shell-image").unwrap();
    assert!(west_args[shell + 1].starts_with("mirror.test:5000/tekton/"), "{west_args:?}");
    assert_eq!(west_replicas, 2);
    assert_eq!(
        config_key(&west, &format!("tekton-sel-{id}"), "feature-flags", "enable-api-fields")
            .await
            .as_deref(),
        Some("alpha")
    );
    assert_ne!(
        config_key(&east, &format!("tekton-sel-{id}"), "feature-flags", "enable-api-fields")
            .await
            .as_deref(),
        Some("alpha")
    );
    assert!(image(&east, &format!("tekton-e-{id}"), ctl).await.is_some());
    assert!(image(&west, &format!("tekton-e-{id}"), ctl).await.is_none());
    assert!(image(&west, &format!("tekton-w-{id}"), ctl).await.is_some());
    assert!(image(&east, &format!("tekton-w-{id}"), ctl).await.is_none());
    // `list` shows each cluster what it holds.
    let (code, out, err) = tkn(&path, &["list", "--context", "west"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("sel-{id}")) && out.contains(&format!("w-{id}")), "{out}");
    // `list -f` and `status -f` show every cluster of the fleet.
    let (code, out, err) = tkn(&path, &["list", "-f", &f1]);
    assert_eq!(code, 0, "{err}");
    let east_part = out.split("cluster west:").next().unwrap();
    assert!(out.starts_with("cluster east:\n") && east_part.contains(&format!("e-{id}")), "{out}");
    assert!(!east_part.contains(&format!("w-{id}")), "{out}");
    let (code, out, err) = tkn(&path, &["status", "-f", &f1, &format!("w-{id}"), "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    let status: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(status["clusters"][0]["installed"], false, "{status}");
    assert_eq!(status["clusters"][1]["status"]["instance"], format!("w-{id}"), "{status}");

    // A re-run plans nothing on either cluster.
    let (code, out, err) = apply(&f1, &["--dry-run", "--detailed-exitcode", "-o", "json"]);
    assert_eq!(code, 0, "{err}\n{out}");
    let plans: serde_json::Value = serde_json::from_str(&out).unwrap();
    let clusters = plans["clusters"].as_array().unwrap();
    assert_eq!(
        clusters.iter().map(|c| c["name"].as_str().unwrap()).collect::<Vec<_>>(),
        ["east", "west"]
    );
    for c in clusters {
        assert_eq!(c["plan"]["summary"]["create"], 0, "{c}");
        assert_eq!(c["plan"]["summary"]["update"], 0, "{c}");
    }
    // `--cluster` narrows the plan.
    let (code, out, _) = apply(&f1, &["--dry-run", "--cluster", "west", "-o", "json"]);
    assert_eq!(code, 0);
    let plans: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(plans["clusters"].as_array().unwrap().len(), 1);

    // West leaves `tier: prod`: `sel` moves off it; west keeps its CRDs for `w`.
    let f2 = write(tmp.path(), "f2.yaml", &fleet(&id, "dev", ""));
    let (code, out, err) = apply(&f2, &yes);
    assert_eq!(code, 0, "{err}\n{out}");
    assert!(image(&west, &format!("tekton-sel-{id}"), ctl).await.is_none());
    assert!(image(&east, &format!("tekton-sel-{id}"), ctl).await.is_some());
    assert!(has_crds(&west).await, "CRDs stay on west while w-{id} remains");

    // Bad input writes nothing anywhere: two instances with one namespace on west, an unknown
    // context.
    let before = (namespaces(&east, &id).await, namespaces(&west, &id).await);
    let clash = format!(
        "- {{name: x-{id}, version: v0.56.0, namespace: w-{id}, placement: {{clusters: [west, east]}}}}\n"
    );
    let bad = write(tmp.path(), "bad.yaml", &fleet(&id, "dev", &clash));
    let (code, _, err) = apply(&bad, &yes);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("on cluster `west`")
            && err.contains(&format!("namespace `w-{id}` is claimed by both")),
        "{err}"
    );
    // A malformed fleet, and an override that matches no cluster its instance is on.
    let malformed = write(tmp.path(), "malformed.yaml", &fleet(&id, "dev", "- {name: [}\n"));
    let (code, _, err) = apply(&malformed, &yes);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("is invalid"), "{err}");
    let stale = format!(
        "- {{name: z-{id}, version: v0.56.0, placement: {{clusters: [east]}}, overrides: [{{clusters: [west], config: {{feature-flags: {{a: b}}}}}}]}}\n"
    );
    let stale = write(tmp.path(), "stale.yaml", &fleet(&id, "dev", &stale));
    let (code, _, err) = apply(&stale, &yes);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&format!("override 1 of instance `z-{id}` matches no cluster")), "{err}");
    let unknown = write(
        tmp.path(),
        "unknown.yaml",
        &fleet(
            &id,
            "dev",
            &format!(
                "- {{name: y-{id}, version: v0.56.0, placement: {{clusters: [east, west]}}}}\n"
            ),
        )
        .replace("context: west", "context: nowhere"),
    );
    let (code, _, err) = apply(&unknown, &yes);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("cluster `west`: cannot connect")
            && err.contains(
                "the kubeconfig has no context `nowhere` (it has `tkn-multi-test`, `east`, `west`)"
            ),
        "{err}"
    );
    assert_eq!(before, (namespaces(&east, &id).await, namespaces(&west, &id).await), "no writes");

    // West's API server stops while the fleet applies: west fails, clearly; east converges.
    let more =
        format!("- {{name: m-{id}, version: v0.56.0, placement: {{clusters: [east, west]}}}}\n");
    let f3 = write(tmp.path(), "f3.yaml", &fleet(&id, "dev", &more));
    let bin = assert_cmd::cargo::cargo_bin("tkn-multi");
    let child = std::process::Command::new(bin)
        .args(["apply", "-f", &f3, "--timeout", "20"])
        .args(yes)
        .env("KUBECONFIG", &path)
        .env("TKN_MULTI_RELEASE_DIR", crate::common::release_dir())
        .env("TKN_MULTI_RELEASE_URL", crate::common::NO_DOWNLOADS)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Mid-apply: once west has the new instance's namespace.
    wait_until("west starts applying", Duration::from_secs(60), || {
        let west = west.clone();
        let id = id.clone();
        async move { !namespaces(&west, &format!("m-{id}")).await.is_empty() }
    })
    .await;
    member_api(&path, "member-stop", "west");
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    member_api(&path, "member-start", "west");
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("error: cluster west:"), "{err}");
    assert!(err.contains("1 of 2 cluster(s) failed"), "{err}");
    assert!(!err.contains("error: cluster east"), "{err}");
    assert!(image(&east, &format!("tekton-m-{id}"), ctl).await.is_some(), "east converged");
    // A re-run converges both.
    let (code, out, err) = apply(&f3, &yes);
    assert_eq!(code, 0, "{err}\n{out}");
    let west = member(&path, "west").await;
    assert!(image(&west, &format!("tekton-m-{id}"), ctl).await.is_some());
    let (code, _, err) = apply(&f3, &["--dry-run", "--detailed-exitcode", "-q"]);
    assert_eq!(code, 0, "{err}");

    // An empty fleet removes everything, CRDs too (no Tekton objects remain).
    let empty = write(
        tmp.path(),
        "empty.yaml",
        "apiVersion: tkn-multi.tekton.dev/v1alpha2\nkind: Fleet\nclusters:\n- {name: east, context: east}\n- {name: west, context: west}\ninstances: []\n",
    );
    let (code, out, err) = apply(&empty, &yes);
    assert_eq!(code, 0, "{err}\n{out}");
    assert!(!has_crds(&east).await && !has_crds(&west).await);
}

/// A fleet with stages (dev = east, prod = west) for the staged-rollout test: `build-<id>` at
/// `base` everywhere, `dev` (an override line for dev, or none), dev's gate, and prod's config.
fn staged_fleet(id: &str, base: &str, dev: &str, gate: &str, prod_flag: &str) -> String {
    format!(
        "apiVersion: tkn-multi.tekton.dev/v1alpha2
kind: Fleet
# dev first, then prod
clusters:
- {{name: east, context: east, labels: {{env: dev}}}}
- {{name: west, context: west, labels: {{env: prod}}}}
stages:
- name: dev
  clusterSelector: {{matchLabels: {{env: dev}}}}
{gate}- name: prod
  clusterSelector: {{matchLabels: {{env: prod}}}}
instances:
- name: build-{id}
  version: {base}   # prod's version
  placement: {{clusterSelector: {{}}}}
  overrides:
{dev}  - {{stages: [prod], config: {{feature-flags: {{enable-api-fields: {prod_flag}}}}}}}
"
    )
}

/// The resourceVersion of every object tkn-multi manages on a cluster (and the CRDs).
async fn versions_of(c: &Client) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let lp = ListParams::default().labels("app.kubernetes.io/managed-by=tkn-multi");
    for d in Api::<Deployment>::all(c.clone()).list(&lp).await.unwrap() {
        out.push((
            format!("Deployment/{}", d.metadata.name.unwrap()),
            d.metadata.resource_version.unwrap(),
        ));
    }
    for m in Api::<ConfigMap>::all(c.clone()).list(&lp).await.unwrap() {
        out.push((
            format!("ConfigMap/{}/{}", m.metadata.namespace.unwrap(), m.metadata.name.unwrap()),
            m.metadata.resource_version.unwrap(),
        ));
    }
    for crd in Api::<CustomResourceDefinition>::all(c.clone()).list(&lp).await.unwrap() {
        out.push((
            format!("CRD/{}", crd.metadata.name.unwrap()),
            crd.metadata.resource_version.unwrap(),
        ));
    }
    out.sort();
    out
}

/// Issue "Promotion across clusters", on the member clusters (east as dev, west as prod):
/// stage order with dev's gate (a smoke TaskRun run by v1.15.1's real controller on east), a
/// failing dev stage that leaves prod untouched (exit 2, a summary naming the stage), and
/// `promote` refusing while dev is not Ready, then rewriting the file (its bytes compared) and
/// upgrading prod with `--apply`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the test cluster: scripts/test runs it"]
async fn a_fleet_with_stages_rolls_out_dev_first_and_promotes_to_prod() {
    let path = kubeconfig();
    members(&path);
    let _guard = MEMBERS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let (east, west) = (member(&path, "east").await, member(&path, "west").await);
    let tmp = tempfile::tempdir().unwrap();
    let id = crate::common::unique("st");
    let name = format!("build-{id}");
    let cp = format!("tekton-{name}");
    let ctl = "tekton-pipelines-controller";
    let version_on = |c: Client| {
        let cp = cp.clone();
        async move {
            let d = Api::<Deployment>::namespaced(c, &cp).get_opt(ctl).await.unwrap();
            d.and_then(|d| d.metadata.labels?.get("tkn-multi.tekton.dev/tekton-version").cloned())
        }
    };
    let gate = "  gate: {smoke: true}\n";
    let dev_ahead = "  - {stages: [dev], version: v1.15.1}\n";

    // 1. Both stages at v0.56.0 (no gate yet: v0.56.0 runs no controller on the members).
    let f = write(tmp.path(), "fleet.yaml", &staged_fleet(&id, "v0.56.0", "", "", "beta"));
    let (code, out, err) = tkn(&path, &["apply", "-f", &f, "--yes", "--force-conflicts"]);
    assert_eq!(code, 0, "{err}\n{out}");
    assert!(err.contains("stage 1 (dev): converged on east"), "{err}");
    assert!(err.contains("stage 2 (prod): converged on west"), "{err}");

    // 2. dev moves to v1.15.1 and prod changes a flag: east first, its smoke run, then west.
    let f =
        write(tmp.path(), "fleet.yaml", &staged_fleet(&id, "v0.56.0", dev_ahead, gate, "alpha"));
    let (code, out, err) = tkn(&path, &["apply", "-f", &f, "--yes", "--force-conflicts", "-v"]);
    assert_eq!(code, 0, "{err}\n{out}");
    let smoke = err.find("[east] smoke: running").unwrap_or_else(|| panic!("no smoke run: {err}"));
    let west_first = err.find("[west] [1/").unwrap_or_else(|| panic!("west did not move: {err}"));
    assert!(smoke < west_first, "west moves only after east's smoke run: {err}");
    assert_eq!(version_on(east.clone()).await.as_deref(), Some("v1.15.1"));
    assert_eq!(version_on(west.clone()).await.as_deref(), Some("v0.56.0"));
    let flag = |c: Client| {
        let cp = cp.clone();
        async move {
            Api::<ConfigMap>::namespaced(c, &cp).get("feature-flags").await.unwrap().data.unwrap()
                ["enable-api-fields"]
                .clone()
        }
    };
    assert_eq!(flag(west.clone()).await, "alpha");
    // The smoke run leaves nothing behind.
    let runs =
        crate::common::dynamic_api(&east, "tekton.dev/v1beta1", "TaskRun", Some(&name)).await;
    assert!(runs.list(&ListParams::default()).await.unwrap().items.is_empty());

    // 3. A failing dev stage: east's API server refuses the new Deployments; prod is untouched.
    let refuse = format!(
        r#"apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {{name: tkn-multi-test-refuse-stage}}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - {{apiGroups: ["apps"], apiVersions: ["v1"], operations: ["CREATE", "UPDATE"], resources: ["deployments"]}}
  validations:
  - expression: "!has(object.metadata.labels) || !('tkn-multi.tekton.dev/tekton-version' in object.metadata.labels) || object.metadata.labels['tkn-multi.tekton.dev/tekton-version'] != 'v1.9.0'"
    message: "refused by the test policy"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {{name: tkn-multi-test-refuse-stage}}
spec:
  policyName: tkn-multi-test-refuse-stage
  validationActions: ["Deny"]
  matchResources:
    namespaceSelector:
      matchExpressions:
      - {{key: kubernetes.io/metadata.name, operator: In, values: [{cp}]}}"#
    );
    for doc in refuse.split("\n---\n") {
        let v: serde_json::Value = tkn_multi::yaml::from_str(doc).unwrap();
        let serde_json::Value::Object(map) = v else { unreachable!() };
        crate::common::apply(&east, &tkn_multi::release::Object::from_map(map)).await;
    }
    let failing =
        staged_fleet(&id, "v0.56.0", "  - {stages: [dev], version: v1.9.0}\n", gate, "beta");
    let f3 = write(tmp.path(), "failing.yaml", &failing);
    let before = versions_of(&west).await;
    // The policy is in force once the API server has it (it refuses a dry-run Deployment).
    wait_until("the test policy in force", Duration::from_secs(30), || {
        let (east, cp) = (east.clone(), cp.clone());
        async move {
            let d: Deployment = serde_json::from_value(serde_json::json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "probe", "namespace": cp, "labels": {"tkn-multi.tekton.dev/tekton-version": "v1.9.0"}},
                "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}}}
            }))
            .unwrap();
            let pp = kube::api::PostParams { dry_run: true, ..Default::default() };
            Api::<Deployment>::namespaced(east, &cp).create(&pp, &d).await.is_err()
        }
    })
    .await;
    let (code, _, err) = tkn(&path, &["apply", "-f", &f3, "--yes", "--force-conflicts"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("stage 1 (dev): failed on east"), "{err}");
    assert!(err.contains("stage 2 (prod): not started on west"), "{err}");
    assert!(err.contains("cluster west: not applied: stage `dev` did not converge"), "{err}");
    assert_eq!(versions_of(&west).await, before, "west untouched");

    // 4. Promotion. While dev is not what the file says (east still runs v1.15.1, the file says
    // v1.9.0), `promote` refuses and writes nothing.
    let (code, out, err) =
        tkn(&path, &["promote", &name, "--from", "dev", "--to", "prod", "-f", &f3]);
    assert_eq!((code, out.as_str()), (1, ""), "{err}");
    assert!(err.contains("stage `dev` is not Ready: on cluster `east`"), "{err}");
    assert_eq!(std::fs::read_to_string(&f3).unwrap(), failing, "unchanged");
    for kind in ["ValidatingAdmissionPolicyBinding", "ValidatingAdmissionPolicy"] {
        let api =
            crate::common::dynamic_api(&east, "admissionregistration.k8s.io/v1", kind, None).await;
        api.delete("tkn-multi-test-refuse-stage", &kube::api::DeleteParams::default())
            .await
            .unwrap();
    }
    // dev back at v1.15.1 (the fleet of step 2), Ready: the dry run prints the diff only.
    let ahead = staged_fleet(&id, "v0.56.0", dev_ahead, gate, "alpha");
    let f = write(tmp.path(), "fleet.yaml", &ahead);
    let (code, out, err) = tkn(&path, &["apply", "-f", &f, "--yes", "--force-conflicts"]);
    assert_eq!(code, 0, "{err}\n{out}");
    let (code, out, err) =
        tkn(&path, &["promote", &name, "--from", "dev", "--to", "prod", "-f", &f, "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("-  version: v0.56.0   # prod's version")
            && out.contains("+  version: v1.15.1   # prod's version"),
        "{out}"
    );
    assert_eq!(std::fs::read_to_string(&f).unwrap(), ahead, "a dry run writes nothing");
    // `--apply`: the file's bytes change exactly (the version line, dev's override gone as
    // every stage now runs v1.15.1; comments kept), and west moves to v1.15.1.
    let (code, out, err) = tkn(
        &path,
        &[
            "promote",
            &name,
            "--from",
            "dev",
            "--to",
            "prod",
            "-f",
            &f,
            "--apply",
            "--yes",
            "--force-conflicts",
        ],
    );
    assert_eq!(code, 0, "{err}\n{out}");
    let expected = ahead
        .replace("  version: v0.56.0   # prod's version", "  version: v1.15.1   # prod's version")
        .replace(dev_ahead, "");
    assert_eq!(std::fs::read_to_string(&f).unwrap(), expected);
    assert_eq!(version_on(west.clone()).await.as_deref(), Some("v1.15.1"));
    assert_eq!(version_on(east.clone()).await.as_deref(), Some("v1.15.1"));

    // Everything goes.
    let empty = write(
        tmp.path(),
        "empty.yaml",
        "apiVersion: tkn-multi.tekton.dev/v1alpha2\nkind: Fleet\nclusters:\n- {name: east, context: east}\n- {name: west, context: west}\ninstances: []\n",
    );
    let (code, _, err) = tkn(&path, &["apply", "-f", &empty, "--yes", "--force-conflicts", "-q"]);
    assert_eq!(code, 0, "{err}");
}
