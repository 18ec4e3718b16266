//! A fleet through Flux: `render -f FLEET --gitops flux` reconciled by a real kustomize-controller
//! (built from its Go module by `scripts/test-cluster`, run here as a process against the main
//! test cluster as the management cluster) into the member clusters `east` and `west` through
//! kubeConfig Secrets. The artifact comes from a local HTTP server and the `GitRepository`'s
//! status is set by hand, as Flux's own tests do (no source-controller, no git).
//!
//! The instances are v1.15.1, whose controllers and webhooks the members' process kubelets run
//! for real: Flux's drift detection dry-runs every object through their admission webhooks.

use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use sha2::Digest as _;

use crate::common::{MEMBERS, apply, client, dynamic_api, kubeconfig, tkn, unique, wait_until};

fn flux_dir() -> PathBuf {
    match std::env::var_os("TKN_MULTI_TEST_FLUX_DIR") {
        Some(p) if Path::new(&p).join("kustomize-controller").is_file() => PathBuf::from(p),
        _ => panic!(
            "TKN_MULTI_TEST_FLUX_DIR names no kustomize-controller (scripts/test-cluster env sets it)"
        ),
    }
}

async fn member(path: &Path, context: &str) -> Client {
    let kc = Kubeconfig::read_from(path).unwrap();
    let opts = KubeConfigOptions { context: Some(context.into()), ..KubeConfigOptions::default() };
    Client::try_from(Config::from_custom_kubeconfig(kc, &opts).await.unwrap()).unwrap()
}

/// A self-contained kubeconfig for `context` (CA inline), as Flux requires of a kubeConfig Secret.
fn self_contained(path: &Path, context: &str) -> String {
    let kc = Kubeconfig::read_from(path).unwrap();
    let ctx = kc.contexts.iter().find(|c| c.name == context).unwrap().context.clone().unwrap();
    let cluster =
        kc.clusters.iter().find(|c| c.name == ctx.cluster).unwrap().cluster.clone().unwrap();
    let ca_path = path.parent().unwrap().join(cluster.certificate_authority.unwrap());
    let ca = std::fs::read(ca_path).unwrap();
    // Every context of the test kubeconfig uses the harness's admin token.
    let token = std::fs::read_to_string(path.parent().unwrap().join("pki/admin-token")).unwrap();
    use base64::Engine as _;
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: {context}\n  cluster:\n    server: {}\n    certificate-authority-data: {}\nusers:\n- name: flux\n  user:\n    token: {}\ncontexts:\n- name: {context}\n  context: {{cluster: {context}, user: flux}}\ncurrent-context: {context}\n",
        cluster.server.unwrap(),
        base64::engine::general_purpose::STANDARD.encode(ca),
        token.trim(),
    )
}

/// Serves the files of `dir` over HTTP on 127.0.0.1 (GET only), until the process ends.
fn serve(dir: PathBuf) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut line = String::new();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            // Skip the headers.
            let mut h = String::new();
            while reader.read_line(&mut h).is_ok_and(|n| n > 2) {
                h.clear();
            }
            let name =
                line.split_whitespace().nth(1).unwrap_or("/").trim_start_matches('/').to_owned();
            match std::fs::read(dir.join(&name)) {
                Ok(body) if !name.contains("..") => {
                    let _ = write!(
                        stream,
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/gzip\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = stream.write_all(&body);
                }
                _ => {
                    let _ = stream.write_all(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                }
            }
        }
    });
    port
}

/// A tar.gz of `tree`, written to `served/<name>`; its sha256 digest and size.
fn tarball(tree: &Path, served: &Path, name: &str) -> (String, usize) {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    {
        let mut tar = tar::Builder::new(&mut gz);
        tar.append_dir_all(".", tree).unwrap();
        tar.finish().unwrap();
    }
    let bytes = gz.finish().unwrap();
    std::fs::write(served.join(name), &bytes).unwrap();
    (format!("sha256:{}", hex::encode(sha2::Sha256::digest(&bytes))), bytes.len())
}

fn fleet(id: &str, with_east_only: bool) -> String {
    let mut f = format!(
        "apiVersion: tkn-multi.tekton.dev/v1alpha2
kind: Fleet
clusters:
- {{name: east, context: east, labels: {{tier: prod}}}}
- {{name: west, context: west, labels: {{tier: prod}}}}
instances:
- name: fx-{id}
  version: v1.15.1
  placement: {{clusterSelector: {{matchLabels: {{tier: prod}}}}}}
  overrides:
  - clusters: [west]
    config:
      feature-flags: {{enable-api-fields: beta}}
"
    );
    if with_east_only {
        let _ =
            writeln!(f, "- {{name: fe-{id}, version: v1.15.1, placement: {{clusters: [east]}}}}");
    }
    f
}

async fn kustomizations(mgmt: &Client) -> Api<DynamicObject> {
    dynamic_api(mgmt, "kustomize.toolkit.fluxcd.io/v1", "Kustomization", Some("flux-system")).await
}

fn ready(k: &DynamicObject) -> bool {
    k.data["status"]["conditions"]
        .as_array()
        .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
}

/// What Flux could have rewritten on a member: every tkn-multi object's resourceVersion
/// (Deployments: their generation, since their status moves on its own).
async fn versions(c: &Client, id: &str) -> Vec<(String, String)> {
    let lp = ListParams::default().labels("app.kubernetes.io/managed-by=tkn-multi");
    let mut out = Vec::new();
    for (api_version, kind) in [
        ("v1", "ConfigMap"),
        ("v1", "Service"),
        ("v1", "ServiceAccount"),
        ("rbac.authorization.k8s.io/v1", "ClusterRole"),
        ("rbac.authorization.k8s.io/v1", "RoleBinding"),
        ("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration"),
        ("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration"),
        ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
    ] {
        for o in dynamic_api(c, api_version, kind, None).await.list(&lp).await.unwrap() {
            out.push((
                format!("{kind}/{:?}/{}", o.metadata.namespace, o.metadata.name.unwrap()),
                o.metadata.resource_version.unwrap(),
            ));
        }
    }
    for d in Api::<Deployment>::all(c.clone()).list(&lp).await.unwrap() {
        out.push((
            format!("Deployment/{:?}/{}", d.metadata.namespace, d.metadata.name.unwrap()),
            d.metadata.generation.unwrap().to_string(),
        ));
    }
    out.retain(|(k, _)| k.contains(id) || k.contains("shared") || k.contains("tekton.dev"));
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the test cluster: scripts/test runs it"]
async fn flux_reconciles_a_rendered_fleet_into_two_clusters_without_drift_and_prunes_a_removed_instance()
 {
    let path = kubeconfig();
    let flux = flux_dir();
    let _guard = MEMBERS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let mgmt = client(&path).await;
    let (east, west) = (member(&path, "east").await, member(&path, "west").await);
    let tmp = tempfile::tempdir().unwrap();
    let id = unique("x");
    let served = tmp.path().join("served");
    std::fs::create_dir(&served).unwrap();
    let port = serve(served.clone());

    // Flux's CRDs (from the modules), its namespace, and the members' kubeconfig Secrets.
    for f in ["kustomizations.yaml", "gitrepositories.yaml", "ocirepositories.yaml", "buckets.yaml"]
    {
        let text = std::fs::read_to_string(flux.join("crds").join(f)).unwrap();
        for v in tkn_multi::yaml::parse_documents(&text).unwrap() {
            apply(&mgmt, &tkn_multi::release::Object::from_map(v.as_object().unwrap().clone()))
                .await;
        }
    }
    for name in
        ["kustomizations.kustomize.toolkit.fluxcd.io", "gitrepositories.source.toolkit.fluxcd.io"]
    {
        wait_until(&format!("{name} Established"), Duration::from_secs(60), || {
            crate::common::crd_established(&mgmt, name)
        })
        .await;
    }
    let pp = PatchParams::apply("tkn-multi-tests").force();
    Api::<Namespace>::all(mgmt.clone())
        .patch("flux-system", &pp, &Patch::Apply(serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "flux-system"}})))
        .await
        .unwrap();
    let secrets: Api<Secret> = Api::namespaced(mgmt.clone(), "flux-system");
    for c in ["east", "west"] {
        let value = self_contained(&path, c);
        secrets
            .patch(
                &format!("{c}-kubeconfig"),
                &pp,
                &Patch::Apply(serde_json::json!({
                    "apiVersion": "v1", "kind": "Secret",
                    "metadata": {"name": format!("{c}-kubeconfig"), "namespace": "flux-system"},
                    "stringData": {"value": value},
                })),
            )
            .await
            .unwrap();
    }

    // The rendered fleet, as an artifact of a GitRepository whose status says where it is.
    let source = format!("fleet-{id}");
    let publish = |fleet_text: String, revision: &str| {
        let file = tmp.path().join(format!("fleet-{revision}.yaml"));
        std::fs::write(&file, fleet_text).unwrap();
        let tree = tmp.path().join(format!("tree-{revision}"));
        let (code, _, err) = tkn(
            &path,
            &[
                "render",
                "-f",
                &file.display().to_string(),
                "--gitops",
                "flux",
                "--output-dir",
                &tree.display().to_string(),
                "--flux-source",
                &format!("GitRepository/{source}"),
            ],
        );
        assert_eq!(code, 0, "{err}");
        let (digest, size) = tarball(&tree, &served, &format!("{revision}.tar.gz"));
        (file, digest, size)
    };
    let repos =
        dynamic_api(&mgmt, "source.toolkit.fluxcd.io/v1", "GitRepository", Some("flux-system"))
            .await;
    let set_artifact = |revision: String, digest: String, size: usize| {
        let repos = repos.clone();
        let source = source.clone();
        async move {
            let now =
                k8s_openapi::jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
            let status = serde_json::json!({"status": {
                "artifact": {
                    "path": format!("gitrepository/flux-system/{source}/{revision}.tar.gz"),
                    "url": format!("http://127.0.0.1:{port}/{revision}.tar.gz"),
                    "revision": format!("main@sha1:{revision}"),
                    "digest": digest, "size": size, "lastUpdateTime": now,
                },
                "conditions": [{"type": "Ready", "status": "True", "reason": "Succeeded", "message": "stored artifact", "lastTransitionTime": now, "observedGeneration": 1}],
                "observedGeneration": 1,
            }});
            repos
                .patch_status(&source, &PatchParams::default(), &Patch::Merge(&status))
                .await
                .unwrap();
        }
    };
    let rev1 = format!("{:040x}", 1);
    let (f1, digest, size) = publish(fleet(&id, true), &rev1);
    repos
        .patch(
            &source,
            &pp,
            &Patch::Apply(serde_json::json!({
                "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                "metadata": {"name": source, "namespace": "flux-system"},
                "spec": {"url": "https://git.invalid/fleet", "interval": "1h"},
            })),
        )
        .await
        .unwrap();
    set_artifact(rev1.clone(), digest, size).await;
    // The parent Kustomization applies `flux/` (every cluster's Kustomizations) to this cluster.
    let ks = kustomizations(&mgmt).await;
    let parent = format!("fleet-{id}");
    ks.patch(
        &parent,
        &pp,
        &Patch::Apply(serde_json::json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": parent, "namespace": "flux-system"},
            "spec": {"interval": "1h", "path": "./flux", "prune": true,
                     "sourceRef": {"kind": "GitRepository", "name": source}},
        })),
    )
    .await
    .unwrap();

    let mut controller = std::process::Command::new(flux.join("kustomize-controller"))
        .args([
            "--metrics-addr=0",
            "--health-addr=127.0.0.1:0",
            "--watch-all-namespaces=true",
            "--requeue-dependency=3s",
            "--log-level=info",
        ])
        .env("KUBECONFIG", &path)
        .env("RUNTIME_NAMESPACE", "flux-system")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(tmp.path().join("kustomize-controller.log")).unwrap())
        .spawn()
        .unwrap();
    let names = |clusters: &[&str], instances: &[&str]| -> Vec<String> {
        let mut v = vec![parent.clone()];
        for c in clusters {
            v.push(format!("tkn-multi-{c}-shared"));
            for i in instances {
                v.push(format!("tkn-multi-{c}-{i}"));
            }
        }
        v
    };
    let fx = format!("fx-{id}");
    let fe = format!("fe-{id}");
    let mut all = names(&["east", "west"], &[&fx]);
    all.push(format!("tkn-multi-east-{fe}"));
    let log = tmp.path().join("kustomize-controller.log");
    let all_ready = |wanted: Vec<String>| {
        let ks = ks.clone();
        async move {
            let list = ks.list(&ListParams::default()).await.unwrap();
            wanted.iter().all(|n| {
                list.items.iter().any(|k| k.metadata.name.as_deref() == Some(n) && ready(k))
            })
        }
    };
    let start = std::time::Instant::now();
    while !all_ready(all.clone()).await {
        let exited = controller.try_wait().unwrap();
        if exited.is_some() || start.elapsed() > Duration::from_secs(360) {
            let list = ks.list(&ListParams::default()).await.unwrap();
            let states: Vec<String> = list
                .items
                .iter()
                .filter(|k| all.iter().any(|n| k.metadata.name.as_ref() == Some(n)))
                .map(|k| {
                    format!(
                        "{}: {}",
                        k.metadata.name.clone().unwrap(),
                        k.data["status"]["conditions"]
                    )
                })
                .collect();
            let _ = controller.kill();
            panic!(
                "Kustomizations not Ready in 6 min (controller exit: {exited:?}):\n{}\n{}",
                states.join("\n"),
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }

    let mut phases = crate::common::Phases::new("flux");
    // Every Deployment is Available (Flux waited on them); `tkn-multi` sees each member's
    // instances and plans nothing for a Flux-managed fleet.
    phases
        .run("Deployments Available, no plan", async {
            for (c, instances) in [(&east, vec![&fx, &fe]), (&west, vec![&fx])] {
                for i in instances {
                    let d = Api::<Deployment>::namespaced(c.clone(), &format!("tekton-{i}"))
                        .get("tekton-pipelines-controller")
                        .await
                        .unwrap();
                    let available = d.status.and_then(|s| s.conditions).is_some_and(|cs| {
                        cs.iter().any(|c| c.type_ == "Available" && c.status == "True")
                    });
                    assert!(available, "{i}");
                }
            }
            let (code, out, err) = tkn(&path, &["list", "-f", &f1.display().to_string()]);
            assert_eq!(code, 0, "{err}");
            assert!(out.contains(&fx) && out.contains(&fe), "{out}");
            let (code, out, err) = tkn(
                &path,
                &["apply", "-f", &f1.display().to_string(), "--dry-run", "--detailed-exitcode"],
            );
            assert_eq!(code, 0, "a Flux-managed fleet plans nothing:\n{err}\n{out}");
        })
        .await;

    // Five further reconciles rewrite nothing on either member. The baseline is taken once a
    // first requested reconcile (round 0) has been handled: a positive signal that whatever the
    // first sync left in flight is done, instead of a fixed pause.
    phases
        .run("five reconciles, no drift", async {
        let mut before = None;
        for round in 0..=5 {
            let at = format!("{id}-{round}");
            for n in &all {
                ks.patch(n, &PatchParams::default(), &Patch::Merge(serde_json::json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": at}}}))).await.unwrap();
            }
            wait_until(&format!("reconcile {round} handled"), Duration::from_secs(120), || {
                let ks = ks.clone();
                let (all, at) = (all.clone(), at.clone());
                async move {
                    let list = ks.list(&ListParams::default()).await.unwrap();
                    all.iter().all(|n| {
                        list.items.iter().any(|k| {
                            k.metadata.name.as_deref() == Some(n)
                                && k.data["status"]["lastHandledReconcileAt"] == at.as_str()
                                && ready(k)
                        })
                    })
                }
            })
            .await;
            if round == 0 {
                let baseline = (versions(&east, &id).await, versions(&west, &id).await);
                assert!(baseline.0.len() > 20, "{:?}", baseline.0);
                before = Some(baseline);
            }
        }
        let after = (versions(&east, &id).await, versions(&west, &id).await);
        assert_eq!(before.unwrap(), after, "Flux rewrote objects on a member (drift)");
        })
        .await;

    // Removing `fe` from the fleet and publishing the new render removes it through Flux, and
    // keeps the CRDs (and the namespace that held its runs).
    phases
        .run("a removed instance pruned", async {
        let rev2 = format!("{:040x}", 2);
        let (_, digest, size) = publish(fleet(&id, false), &rev2);
        set_artifact(rev2.clone(), digest, size).await;
        ks.patch(&parent, &PatchParams::default(), &Patch::Merge(serde_json::json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": "rev2"}}}))).await.unwrap();
        let gone = format!("tkn-multi-east-{fe}");
        wait_until("fe's Kustomization pruned", Duration::from_secs(180), || {
            let ks = ks.clone();
            let gone = gone.clone();
            async move { ks.get_opt(&gone).await.unwrap().is_none() }
        })
        .await;
        wait_until("fe's controller gone from east", Duration::from_secs(120), || {
            let east = east.clone();
            let ns = format!("tekton-{fe}");
            async move {
                Api::<Deployment>::namespaced(east, &ns)
                    .get_opt("tekton-pipelines-controller")
                    .await
                    .unwrap()
                    .is_none()
            }
        })
        .await;
        assert!(
            Api::<CustomResourceDefinition>::all(east.clone())
                .get_opt("tasks.tekton.dev")
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            Api::<Namespace>::all(east.clone()).get_opt(&fe).await.unwrap().is_some(),
            "prune: disabled keeps the watched namespace"
        );
        assert!(
            Api::<Deployment>::namespaced(east.clone(), &format!("tekton-{fx}"))
                .get_opt("tekton-pipelines-controller")
                .await
                .unwrap()
                .is_some()
        );
        })
        .await;

    // Clean up: the parent's deletion prunes every child Kustomization, whose finalizers prune
    // their objects (CRDs and watched namespaces stay); tkn-multi removes the rest.
    ks.delete(&parent, &DeleteParams::default()).await.unwrap();
    wait_until("every Kustomization of the fleet gone", Duration::from_secs(180), || {
        let ks = ks.clone();
        let id = id.clone();
        async move {
            ks.list(&ListParams::default())
                .await
                .unwrap()
                .items
                .iter()
                .all(|k| !k.metadata.name.as_deref().unwrap_or("").contains(&id))
        }
    })
    .await;
    let _ = controller.kill();
    let _ = controller.wait();
    let empty = tmp.path().join("empty.yaml");
    std::fs::write(&empty, "apiVersion: tkn-multi.tekton.dev/v1alpha2\nkind: Fleet\nclusters:\n- {name: east, context: east}\n- {name: west, context: west}\ninstances: []\n").unwrap();
    let (code, out, err) = tkn(
        &path,
        &["apply", "-f", &empty.display().to_string(), "--yes", "--force-conflicts", "-q"],
    );
    assert_eq!(code, 0, "{err}\n{out}");
    for n in [&fx, &fe] {
        for c in [&east, &west] {
            let _ = Api::<Namespace>::all(c.clone()).delete(n, &DeleteParams::default()).await;
        }
    }
    let _ = repos.delete(&source, &DeleteParams::default()).await;
    phases.finish();
}
