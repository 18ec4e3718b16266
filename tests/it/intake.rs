//! The untrusted-release layer (`tkn_multi::intake`) on mutated real releases, and releases this
//! build has never seen (a real file relabelled as a version no build knows) through the binary.

use std::path::Path;

use assert_cmd::Command;
use serde_json::Value;
use tkn_multi::intake::{self, Error, MAX_DOCUMENTS};
use tkn_multi::release::{Object, TektonVersion};
use tkn_multi::split::{self, InstanceSpec, SharedSpec};

use crate::common::{all_versions, release_dir, release_path};

fn v(s: &str) -> TektonVersion {
    s.parse().unwrap()
}

fn text(version: &str) -> String {
    std::fs::read_to_string(release_path(version)).unwrap()
}

/// The refusal of `body` as `version`, as a string.
fn refusal(body: &str, version: &str) -> String {
    match intake::release(body.as_bytes(), &v(version), "mutated") {
        Ok(_) => panic!("a mutated {version} was accepted"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn every_real_release_is_accepted_and_rebuilt_ones_say_so() {
    let versions = all_versions();
    if versions.is_empty() {
        return;
    }
    assert_eq!(versions.len(), 44);
    for version in versions {
        let path = release_path(&version.to_string());
        let bytes = std::fs::read(&path).unwrap();
        let r = intake::release(&bytes, &version, "real").unwrap();
        let rebuilt = path.parent().unwrap().ends_with("pipeline-from-source");
        assert_eq!(r.rebuilt_from_source, rebuilt, "{version}");
    }
}

/// Each mutation of a real release is refused, naming the object and the reason.
#[test]
fn mutations_that_widen_rights_or_escape_are_refused_by_name() {
    let base = text("v1.15.1");
    let cases: &[(&str, &str, &str)] = &[
        (
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: evil\n  labels: {app.kubernetes.io/component: controller}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}\nsubjects:\n- {kind: ServiceAccount, name: tekton-pipelines-controller, namespace: tekton-pipelines}\n",
            "ClusterRoleBinding/evil",
            "binds ClusterRole `cluster-admin`, which the release does not define",
        ),
        (
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: all\n  labels: {rbac.authorization.k8s.io/aggregate-to-edit: \"true\"}\nrules:\n- {apiGroups: [\"*\"], resources: [\"*\"], verbs: [\"*\"]}\n",
            "ClusterRole/all",
            "a rule grants `*` in verbs",
        ),
        (
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: secrets\n  labels: {rbac.authorization.k8s.io/aggregate-to-view: \"true\"}\nrules:\n- {apiGroups: [\"\"], resources: [secrets], verbs: [get]}\n",
            "ClusterRole/secrets",
            "grants more than Tekton's own API groups",
        ),
        (
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: tekton-pipelines-controller-2\n  namespace: tekton-pipelines\n  labels: {app.kubernetes.io/component: controller, app.kubernetes.io/version: v1.15.1}\nspec:\n  template:\n    spec:\n      containers: [{name: c, image: \"ghcr.io/tektoncd/pipeline/controller:v1.15.1\"}]\n      volumes: [{name: root, hostPath: {path: /}}]\n",
            "Deployment/tekton-pipelines-controller-2 in namespace tekton-pipelines",
            "hostPath",
        ),
        (
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: priv\n  namespace: tekton-pipelines\n  labels: {app.kubernetes.io/component: controller, app.kubernetes.io/version: v1.15.1}\nspec:\n  template:\n    spec:\n      containers: [{name: c, image: \"ghcr.io/tektoncd/pipeline/controller:v1.15.1\", securityContext: {privileged: true}}]\n",
            "Deployment/priv in namespace tekton-pipelines",
            "privileged",
        ),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: config-x\n  namespace: kube-system\n  labels: {app.kubernetes.io/component: controller}\n",
            "ConfigMap/config-x in namespace kube-system",
            "namespace `kube-system` is not the release's own",
        ),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: escape\n  namespace: ../../ESCAPED-ns\n",
            "ConfigMap/escape in namespace ../../ESCAPED-ns",
            "not the release's own",
        ),
        (
            "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: stray, namespace: tekton-pipelines}\n",
            "ServiceAccount/stray in namespace tekton-pipelines",
            "no split rule places this object",
        ),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: \"../../x\", namespace: tekton-pipelines}\n",
            "ConfigMap/../../x in namespace tekton-pipelines",
            "not a Kubernetes object name",
        ),
        (
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: default\n  labels: {app.kubernetes.io/component: controller}\n",
            "Namespace/default",
            "only its own namespaces",
        ),
        (
            "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: surprise, namespace: tekton-pipelines}\nspec: {}\n",
            "StatefulSet/surprise in namespace tekton-pipelines",
            "a Tekton Pipelines release ships no object of this kind",
        ),
        (
            "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.tekton.dev}\nspec:\n  group: tekton.dev\n  names: {kind: Widget, plural: widgets}\n  scope: Namespaced\n  versions: [{name: v1, served: true, storage: true}]\n  conversion: {strategy: Webhook, webhook: {conversionReviewVersions: [v1], clientConfig: {url: \"https://evil.example/convert\"}}}\n",
            "CustomResourceDefinition/widgets.tekton.dev",
            "conversion webhook is a URL",
        ),
        (
            "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.tekton.dev}\nspec:\n  group: tekton.dev\n  names: {kind: Widget, plural: widgets}\n  scope: Namespaced\n  versions: [{name: v1, served: true, storage: true}]\n  conversion: {strategy: Webhook, webhook: {conversionReviewVersions: [v1], clientConfig: {service: {name: other, namespace: tekton-pipelines}}}}\n",
            "CustomResourceDefinition/widgets.tekton.dev",
            "not tekton-pipelines/tekton-pipelines-webhook",
        ),
        (
            "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: pods.example.com}\nspec:\n  group: example.com\n  names: {kind: Pod, plural: pods}\n  scope: Namespaced\n  versions: [{name: v1, served: true, storage: true}]\n",
            "CustomResourceDefinition/pods.example.com",
            "group `example.com` is not Tekton's",
        ),
    ];
    for (extra, object, why) in cases {
        let err = refusal(&format!("{base}\n---\n{extra}"), "v1.15.1");
        assert!(
            err.starts_with(&format!("release `mutated` is refused: {object}: ")),
            "{object}: {err}"
        );
        assert!(err.contains(why), "{object}: {err}");
    }
}

#[test]
fn a_release_must_prove_its_version() {
    let v056 = text("v0.56.0");
    // Labels stripped: the images still say v0.56.0.
    let stripped: String = v056
        .lines()
        .filter(|l| {
            !l.contains("app.kubernetes.io/version:")
                && !l.contains("pipeline.tekton.dev/release:")
                && !l.trim_start().starts_with("version: \"v0.56.0\"")
        })
        .fold(String::new(), |mut acc, l| {
            acc.push_str(l);
            acc.push('\n');
            acc
        });
    for claimed in ["v0.24.1", "v9.9.9"] {
        let err = refusal(&stripped, claimed);
        assert!(err.contains(&format!("does not prove it is Tekton Pipelines {claimed}")), "{err}");
    }
    // Even as itself, a release without version labels on its Deployments proves nothing.
    let err = refusal(&stripped, "v0.56.0");
    assert!(err.contains("carries no version label"), "{err}");
    // pipelines-info naming another version.
    let at = v056.find("name: pipelines-info").unwrap();
    let (head, tail) = v056.split_at(at);
    let lied =
        format!("{head}{}", tail.replacen("version: \"v0.56.0\"", "version: \"v0.55.0\"", 1));
    let err = refusal(&lied, "v0.56.0");
    assert!(
        err.contains("ConfigMap/pipelines-info in namespace tekton-pipelines says version v0.55.0"),
        "{err}"
    );
    // A `devel` label is a local build, not a release.
    let devel = v056.replacen(
        "app.kubernetes.io/version: \"v0.56.0\"",
        "app.kubernetes.io/version: \"devel\"",
        1,
    );
    assert_ne!(devel, v056);
    assert!(refusal(&devel, "v0.56.0").contains("app.kubernetes.io/version=devel"));
}

#[test]
fn budgets_hold_whatever_the_file_size() {
    // Many small documents in a small file.
    let many = "---\na: 1\n".repeat(MAX_DOCUMENTS + 1);
    assert!(many.len() < 16 * 1024);
    let err = intake::release(many.as_bytes(), &v("v1.0.0"), "many").unwrap_err();
    assert!(
        matches!(err, Error::TooManyDocuments { documents, .. } if documents == MAX_DOCUMENTS + 1)
    );
    // One huge document.
    let huge = format!("a: \"{}\"\n", "x".repeat(intake::MAX_BYTES));
    let err = intake::release(huge.as_bytes(), &v("v1.0.0"), "huge").unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err}");
}

fn tkn(cache: &Path) -> Command {
    crate::common::tkn_multi(None, cache)
}

/// v1.15.1's file relabelled v1.99.0, in `dir/pipeline/`; with `extra` appended.
pub(crate) fn relabelled(dir: &Path, extra: &str) {
    let body = text("v1.15.1");
    std::fs::create_dir_all(dir.join("pipeline")).unwrap();
    std::fs::write(dir.join("pipeline/v1.99.0.yaml"), body.replace("v1.15.1", "v1.99.0") + extra)
        .unwrap();
}

#[test]
fn a_release_no_build_knows_plans_offline_with_the_derived_mark() {
    release_dir();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("releases");
    relabelled(&dir, "");
    let state = tmp.path().join("empty.yaml");
    std::fs::write(&state, "formatVersion: \"1\"\n").unwrap();
    let plan = |format: &str| {
        tkn(tmp.path())
            .args(["install", "v1.99.0", "-n", "team-c", "--dry-run", "--offline", "-o", format])
            .arg("--state")
            .arg(&state)
            .arg("--release-dir")
            .arg(&dir)
            .output()
            .unwrap()
    };
    let out = plan("text");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("note: the matrix record of v1.99.0 was derived at run time from its release file; it is not shipped with this build"), "{stdout}");
    assert!(stdout.contains("instance team-c: tekton-pipelines v1.99.0"), "{stdout}");
    let json: serde_json::Value = serde_json::from_slice(&plan("json").stdout).unwrap();
    assert_eq!(json["sharedLayer"]["derivedAtRunTime"], serde_json::json!(["v1.99.0"]));
    assert_eq!(json["sharedLayer"]["version"], "v1.99.0");
    // `matrix check` derives it the same way, next to a shipped version.
    let out = tkn(tmp.path())
        .args(["matrix", "check", "v0.56.0", "v1.99.0", "--offline", "-o", "json", "--release-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["derivedAtRunTime"], serde_json::json!(["v1.99.0"]));
    // A patch of a known minor that no source has: every source named, exit 1.
    let out = tkn(tmp.path())
        .args(["matrix", "check", "v1.15.2", "--offline", "--release-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .starts_with("error: cannot obtain Tekton Pipelines v1.15.2; tried:")
    );
}

#[test]
fn a_release_no_build_knows_with_an_unplaced_object_is_refused_by_name() {
    release_dir();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("releases");
    let extra = "\n---\napiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: surprise, namespace: tekton-pipelines}\nspec: {}\n";
    relabelled(&dir, extra);
    let state = tmp.path().join("empty.yaml");
    std::fs::write(&state, "formatVersion: \"1\"\n").unwrap();
    let out = tkn(tmp.path())
        .args(["install", "v1.99.0", "-n", "team-c", "--dry-run", "--offline", "--state"])
        .arg(&state)
        .arg("--release-dir")
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("is refused: StatefulSet/surprise in namespace tekton-pipelines: a Tekton Pipelines release ships no object of this kind"),
        "{err}"
    );
}

/// `render --output-dir` writes only inside the directory, even through a symlink placed in it.
#[test]
fn render_writes_only_inside_the_output_directory() {
    release_dir();
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("out");
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir_all(&out_dir).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, out_dir.join("namespaces")).unwrap();
    let out = tkn(tmp.path())
        .args(["render", "v0.56.0", "-n", "team-a", "--offline", "--output-dir"])
        .arg(&out_dir)
        .arg("--release-file")
        .arg(release_path("v0.56.0"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("is a symlink or a file, and could lead outside --output-dir"), "{err}");
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0, "nothing written outside");
}

/// Rights an instance's rendered objects grant: every ClusterRoleBinding binds only cluster-scoped
/// resources to the instance's own service accounts, every RoleBinding is in one of its two
/// namespaces; no rule of either part grants `*`.
fn rbac_invariant(
    shared: &[Object],
    instance: &[Object],
    inst: &str,
    cp: &str,
) -> Result<(), String> {
    let strs = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default()
    };
    for o in shared.iter().chain(instance) {
        if matches!(o.kind(), "Role" | "ClusterRole") {
            for rule in o.pointer("/rules").and_then(Value::as_array).into_iter().flatten() {
                for f in ["verbs", "apiGroups", "resources"] {
                    if strs(rule.get(f)).iter().any(|s| s.contains('*')) {
                        return Err(format!("{} grants `*` in {f}", o.object_ref()));
                    }
                }
            }
        }
    }
    let role = |name: &str| instance.iter().find(|o| o.kind() == "ClusterRole" && o.name() == name);
    for o in instance {
        match o.kind() {
            "ClusterRoleBinding" => {
                let rr = o.pointer("/roleRef/name").and_then(Value::as_str).unwrap_or_default();
                let Some(r) = role(rr) else {
                    return Err(format!(
                        "{} binds {rr}, which the instance does not define",
                        o.object_ref()
                    ));
                };
                for rule in r.pointer("/rules").and_then(Value::as_array).into_iter().flatten() {
                    let groups = strs(rule.get("apiGroups"));
                    for res in strs(rule.get("resources")) {
                        let cluster = groups.iter().any(|g| {
                            tkn_multi::split::resource_scope(g, &res)
                                == tkn_multi::split::ResourceScope::Cluster
                        });
                        if !cluster {
                            return Err(format!(
                                "{} grants namespaced {res} cluster-wide",
                                o.object_ref()
                            ));
                        }
                    }
                }
                for s in o.pointer("/subjects").and_then(Value::as_array).into_iter().flatten() {
                    if s["namespace"] != cp {
                        return Err(format!("{} binds a subject outside {cp}", o.object_ref()));
                    }
                }
            }
            "RoleBinding" | "Role" => {
                let ns = o.namespace().unwrap_or_default();
                if ns != inst && ns != cp {
                    return Err(format!("{} is outside the instance's namespaces", o.object_ref()));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn render(release: &tkn_multi::release::Release) -> (Vec<Object>, Vec<Object>) {
    let spec = InstanceSpec {
        name: "team-a".parse().unwrap(),
        namespace: "team-a".parse().unwrap(),
        control_plane_namespace: "tekton-team-a".parse().unwrap(),
        admission_ca: None,
    };
    let shared = SharedSpec::default();
    (split::shared_part(release, &shared), split::instance_part(release, &spec, &shared).unwrap())
}

/// Issue "Hardening": over all 44 releases, each instance's rights stop at its namespaces and
/// nothing grants `*`.
#[test]
fn rbac_stays_within_the_instance_for_every_release() {
    for version in all_versions() {
        let release = crate::common::load(&version);
        let (shared, instance) = render(&release);
        rbac_invariant(&shared, &instance, "team-a", "tekton-team-a")
            .unwrap_or_else(|e| panic!("{version}: {e}"));
    }
}

/// Objects a hostile or broken release might add.
fn extra_object() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    let kind = prop::sample::select(vec![
        ("rbac.authorization.k8s.io/v1", "ClusterRole"),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
        ("rbac.authorization.k8s.io/v1", "RoleBinding"),
        ("rbac.authorization.k8s.io/v1", "Role"),
        ("v1", "ConfigMap"),
        ("v1", "Secret"),
        ("v1", "ServiceAccount"),
        ("v1", "Namespace"),
        ("apps/v1", "Deployment"),
        ("apps/v1", "DaemonSet"),
        ("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration"),
        ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
    ]);
    let namespace = prop::sample::select(vec![
        "tekton-pipelines",
        "tekton-pipelines-resolvers",
        "kube-system",
        "default",
        "../../escaped",
        "",
    ]);
    let name = prop::sample::select(vec![
        "tekton-pipelines-controller",
        "evil",
        "a:b",
        "../x",
        "UPPER",
        "x".repeat(240).leak() as &str,
        "\u{1b}[2J",
    ]);
    let component = prop::sample::select(vec!["controller", "webhook", "resolvers", "events", ""]);
    let body = prop::sample::select(vec![
        "rules: [{apiGroups: ['*'], resources: ['*'], verbs: ['*']}]",
        "rules: [{apiGroups: [''], resources: [secrets], verbs: [get, list]}]",
        "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}\nsubjects: [{kind: ServiceAccount, name: tekton-pipelines-controller, namespace: tekton-pipelines}]",
        "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: tekton-pipelines-controller-cluster-access}\nsubjects: [{kind: Group, name: system:authenticated}]",
        "spec: {template: {spec: {hostNetwork: true, containers: [{name: c, image: 'ghcr.io/tektoncd/pipeline/controller:v1.15.1'}]}}}",
        "spec: {group: example.com, names: {kind: W, plural: ws}, scope: Namespaced, versions: [{name: v1, served: true, storage: true}]}",
        "webhooks: [{name: w.example.com, clientConfig: {url: 'https://evil.example'}, sideEffects: None, admissionReviewVersions: [v1]}]",
        "data: {x: y}",
    ]);
    let aggregate = proptest::bool::ANY;
    (kind, namespace, name, component, body, aggregate).prop_map(|((api, kind), ns, name, component, body, aggregate)| {
        let mut labels = vec![format!("app.kubernetes.io/version: v1.15.1")];
        if !component.is_empty() {
            labels.push(format!("app.kubernetes.io/component: {component}"));
        }
        if aggregate {
            labels.push("rbac.authorization.k8s.io/aggregate-to-edit: 'true'".into());
        }
        let ns = if ns.is_empty() { String::new() } else { format!("\n  namespace: {ns:?}") };
        format!(
            "\n---\napiVersion: {api}\nkind: {kind}\nmetadata:\n  name: {name:?}{ns}\n  labels: {{{}}}\n{body}\n",
            labels.join(", ")
        )
    })
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 64, ..proptest::prelude::ProptestConfig::default() })]

    /// Issue "Hardening": a real release with extra objects either renders within the RBAC
    /// invariant or is refused naming the cause; nothing panics.
    #[test]
    fn mutated_releases_render_within_the_invariant_or_are_refused(extras in proptest::collection::vec(extra_object(), 1..4)) {
        let base = text("v1.15.1");
        let body = format!("{base}{}", extras.concat());
        match intake::release(body.as_bytes(), &v("v1.15.1"), "mutated") {
            Err(e) => {
                let msg = e.to_string();
                proptest::prop_assert!(msg.starts_with("release `mutated`"), "{}", msg);
            }
            Ok(release) => {
                let (shared, instance) = render(&release);
                let check = rbac_invariant(&shared, &instance, "team-a", "tekton-team-a");
                proptest::prop_assert!(check.is_ok(), "accepted {:?}: {:?}", extras, check);
            }
        }
    }
}
