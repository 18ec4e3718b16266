//! The compatibility matrix: drift against the release files, properties over every release,
//! incompatibilities, and the CLI (issue: compatibility matrix).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use assert_cmd::Command;
use tkn_multi::cli::commands::matrix::generate_records;
use tkn_multi::matrix::agreement;
use tkn_multi::matrix::check::{CrdSource, Error, Query, Verdict, check};
use tkn_multi::matrix::{EMBEDDED, Matrix};
use tkn_multi::release::TektonVersion;

use crate::common::release_dir;

fn v(s: &str) -> TektonVersion {
    s.parse().unwrap()
}

fn req(versions: &[&TektonVersion]) -> Query {
    Query { instances: versions.iter().map(|v| (*v).clone()).collect(), ..Query::default() }
}

#[test]
fn committed_matrix_matches_the_release_files() {
    let dir = release_dir();
    let records = generate_records(&dir).unwrap();
    assert_eq!(records.len(), 44);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("compat-matrix");
    for r in &records {
        let file = root.join(format!("{}.yaml", r.version));
        let committed = std::fs::read_to_string(&file).unwrap_or_default();
        assert!(
            committed == r.to_yaml(),
            "{} drifted from the release file: run `tkn-multi matrix generate --release-dir {}`",
            file.display(),
            dir.display()
        );
    }
    // The binary embeds exactly the committed files.
    let embedded = Matrix::embedded();
    assert_eq!(embedded.releases.len(), records.len());
    assert_eq!(EMBEDDED.iter().filter(|(n, _)| n.starts_with('v')).count(), records.len());
}

#[test]
fn a_single_instance_is_served_by_its_own_crds() {
    let m = Matrix::embedded();
    for x in m.releases.keys() {
        let layer = check(&m, &req(&[x])).unwrap_or_else(|e| panic!("{x}: {e}"));
        assert_eq!(&layer.version, x);
        let own: BTreeSet<_> = m.release(x).unwrap().crds.iter().map(|c| c.name.clone()).collect();
        let layer_crds: BTreeSet<_> = layer.crds.iter().map(|c| c.crd.name.clone()).collect();
        assert_eq!(own, layer_crds, "{x}: exactly its own CRDs");
        assert!(layer.crds.iter().all(|c| c.source == CrdSource::Base && &c.from == x));
        assert!(layer.migrations.is_empty());
    }
}

#[test]
fn pairs_of_instances_over_all_releases() {
    let m = Matrix::embedded();
    let versions: Vec<_> = m.releases.keys().cloned().collect();
    for x in &versions {
        let alone = check(&m, &req(&[x])).unwrap().version;
        for y in &versions {
            // A pair the lab's evidence shows breaking workloads is refused for that reason
            // alone; accepted, the layer is as for any other pair.
            let breaks = m.rules.rules.iter().any(|r| {
                r.kind == tkn_multi::matrix::RuleKind::BreaksWorkloads
                    && (r.applies(x, x.max(y)) || r.applies(y, x.max(y)))
            });
            match check(&m, &req(&[x, y])) {
                Err(Error::Incompatible { problems, .. }) if breaks => {
                    assert!(
                        problems.iter().all(|p| p.contains("(evidence: ")),
                        "{x}+{y}: {problems:#?}"
                    );
                }
                other => assert!(!breaks && other.is_ok(), "{x}+{y}: {other:?}"),
            }
            let accepted = Query { accept_broken_workloads: true, ..req(&[x, y]) };
            let layer = check(&m, &accepted).unwrap_or_else(|e| panic!("{x}+{y}: {e}"));
            // Adding an instance never lowers the shared version; the layer is the newest instance.
            assert!(layer.version >= alone, "{x}+{y}");
            assert_eq!(layer.version, *x.max(y));
            // Every API each instance consumes is served by the chosen layer.
            for i in [x, y] {
                for api in &m.release(i).unwrap().controller_consumes {
                    let crd = layer.crds.iter().find(|c| c.crd.name == api.crd_name());
                    assert!(
                        crd.is_some_and(|c| c.crd.serves(&api.version)),
                        "{x}+{y}: {api} of {i} is not served by the layer"
                    );
                }
            }
            // Legacy CRDs convert by nothing: the base webhook does not know them.
            for c in layer.crds.iter().filter(|c| matches!(c.source, CrdSource::Legacy { .. })) {
                assert!(
                    c.crd.served.len() == 1,
                    "{x}+{y}: legacy {} serves one version",
                    c.crd.name
                );
            }
            assert_ne!(layer.verdict, Verdict::Incompatible);
        }
    }
}

#[test]
fn legacy_crds_come_from_the_last_release_that_shipped_them() {
    let m = Matrix::embedded();
    let pair = Query { accept_broken_workloads: true, ..req(&[&v("v0.24.1"), &v("v1.9.0")]) };
    let layer = check(&m, &pair).unwrap();
    let from =
        |name: &str| layer.crds.iter().find(|c| c.crd.name == name).map(|c| c.from.to_string());
    assert_eq!(from("conditions.tekton.dev").as_deref(), Some("v0.36.0"));
    assert_eq!(from("pipelineresources.tekton.dev").as_deref(), Some("v0.45.0"));
    assert_eq!(from("runs.tekton.dev").as_deref(), Some("v0.46.0"));
    // ClusterTask: the newest release that has it, with one version and no webhook conversion.
    let ct = layer.crds.iter().find(|c| c.crd.name == "clustertasks.tekton.dev").unwrap();
    assert_eq!(ct.from, v("v0.64.0"));
    assert_eq!(ct.crd.conversion, tkn_multi::matrix::Conversion::None);
}

#[test]
fn unknown_versions_are_errors_not_panics() {
    let m = Matrix::embedded();
    let err = check(&m, &req(&[&v("v0.99.0")])).unwrap_err();
    assert!(
        err.to_string().starts_with("Tekton Pipelines v0.99.0 is not in the compatibility matrix (known: 44 releases, v0.22.0 … v1.15.1"),
        "{err}"
    );
    assert!(matches!(check(&m, &Query::default()), Err(Error::Empty)));
}

/// A matrix with a made-up future release that stops serving v1beta1, and an old release the
/// curated rules reject: the checks must say exactly why.
pub fn synthetic() -> Matrix {
    let m = Matrix::embedded();
    let mut future = m.release(&v("v1.9.0")).unwrap().clone();
    future.version = v("v2.0.0");
    // Stop serving v1beta1 where v1 exists (tasks, pipelines, taskruns, pipelineruns).
    for c in future.crds.iter_mut().filter(|c| c.serves("v1")) {
        c.served.retain(|s| s != "v1beta1");
        c.unserved.push("v1beta1".into());
    }
    let mut old = m.release(&v("v0.22.0")).unwrap().clone();
    old.version = v("v0.21.0");
    let mut files: Vec<(String, String)> =
        EMBEDDED.iter().map(|(n, t)| ((*n).to_owned(), (*t).to_owned())).collect();
    files.push(("v2.0.0.yaml".into(), future.to_yaml()));
    files.push(("v0.21.0.yaml".into(), old.to_yaml()));
    Matrix::from_files(files.iter().map(|(n, t)| (n.as_str(), t.as_str()))).unwrap()
}

#[test]
fn an_incompatible_set_names_instance_api_and_crd() {
    let m = synthetic();
    let Err(Error::Incompatible { problems, layer }) =
        check(&m, &req(&[&v("v0.47.5"), &v("v2.0.0")]))
    else {
        panic!("v0.47.5 consumes v1beta1 runs, which v2.0.0 no longer serves")
    };
    assert!(problems.contains(
        &"instance v0.47.5 needs tekton.dev/v1beta1/taskruns, which taskruns.tekton.dev of v2.0.0 no longer serves"
            .to_owned()
    ), "{problems:#?}");
    assert_eq!(layer.verdict, Verdict::Incompatible);
    let verdict = |i: &str| layer.instances.iter().find(|iv| iv.instance == v(i)).unwrap().verdict;
    assert_eq!(verdict("v0.47.5"), Verdict::Incompatible);
    assert_ne!(verdict("v2.0.0"), Verdict::Incompatible);
    // A curated `incompatible` rule.
    let Err(Error::Incompatible { problems, .. }) = check(&m, &req(&[&v("v0.21.0")])) else {
        panic!()
    };
    assert!(problems.iter().any(|p| p.contains("[unsupported-before-v0.22]")), "{problems:#?}");
}

#[test]
fn a_downgrade_that_would_drop_a_stored_version_is_refused() {
    let m = synthetic();
    // From a made-up v2.0.0 layer (storage v1) down to v0.48.0 (storage v1beta1, defines v1): fine.
    let r = Query {
        instances: vec![v("v0.48.0")],
        current_shared: Some(v("v2.0.0")),
        allow_downgrade: true,
        ..Query::default()
    };
    let layer = check(&m, &r).unwrap();
    assert_eq!(layer.version, v("v0.48.0"));
    assert!(
        layer
            .migrations
            .iter()
            .any(|mi| mi.crd == "tasks.tekton.dev" && mi.to_storage == "v1beta1")
    );
    // Down to v0.38.4, whose CRDs do not define v1 at all: refused.
    let r = Query {
        instances: vec![v("v0.38.4")],
        current_shared: Some(v("v0.50.3")),
        allow_downgrade: true,
        ..Query::default()
    };
    let Err(Error::Incompatible { problems, .. }) = check(&m, &r) else { panic!("must refuse") };
    assert!(problems.iter().any(|p| p
        == "downgrading tasks.tekton.dev from v0.50.3 to v0.38.4 would drop v1, the version its objects are stored as"));
}

fn tkn() -> Command {
    crate::common::tkn_multi(None, &std::env::temp_dir().join("tkn-multi-test-no-cache"))
}

/// The worked answers of docs/compat-matrix.md: TEP-0129 Sequence 1 with real versions
/// (vX = v0.44.2, vY = v0.50.3, vJ = v0.41.2, vZ = v0.56.0).
pub const SEQUENCE_1: &[(&str, &[&str])] = &[
    ("1. install vX", &["v0.44.2"]),
    (
        "2. install vY > vX: shared moves to vY",
        &["v0.44.2", "v0.50.3", "--current-shared", "v0.44.2"],
    ),
    (
        "3. install vJ < vX: nothing shared changes",
        &["v0.44.2", "v0.50.3", "v0.41.2", "--current-shared", "v0.50.3"],
    ),
    (
        "4. upgrade vX to vZ > vY: shared moves to vZ",
        &["v0.56.0", "v0.50.3", "v0.41.2", "--current-shared", "v0.50.3"],
    ),
    ("5. uninstall vZ: no shared change", &["v0.50.3", "v0.41.2", "--current-shared", "v0.56.0"]),
    (
        "5'. uninstall vZ with a downgrade: shared back to vY",
        &["v0.50.3", "v0.41.2", "--current-shared", "v0.56.0", "--downgrade"],
    ),
];

#[test]
fn sequence_1_answers_are_the_documented_ones() {
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/compat-matrix.md"),
    )
    .unwrap();
    let mut generated = String::new();
    for (title, args) in SEQUENCE_1 {
        let out = tkn().args(["matrix", "check"]).args(*args).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{title}");
        let text = String::from_utf8(out.stdout).unwrap();
        insta::assert_snapshot!(format!("sequence-1-{}", &title[..2].trim_end_matches('.')), text);
        let _ = write!(
            generated,
            "### {title}\n\n```text\n$ tkn-multi matrix check {}\n{text}```\n\n",
            args.join(" ")
        );
    }
    let begin = "<!-- sequence-1:begin -->\n";
    let end = "<!-- sequence-1:end -->";
    if std::env::var_os("TKN_MULTI_UPDATE_DOCS").is_some() {
        let (head, rest) = doc.split_once(begin).expect("markers");
        let (_, tail) = rest.split_once(end).expect("markers");
        std::fs::write(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/compat-matrix.md"),
            format!("{head}{begin}{generated}{end}{tail}"),
        )
        .unwrap();
        return;
    }
    let section = doc
        .split_once(begin)
        .and_then(|(_, r)| r.split_once(end))
        .map(|(s, _)| s)
        .unwrap_or_default();
    assert!(
        section == generated,
        "docs/compat-matrix.md Sequence 1 is out of date: TKN_MULTI_UPDATE_DOCS=1 cargo test sequence_1"
    );
    // The shared versions TEP-0129 expects at each step.
    let shared: Vec<&str> = SEQUENCE_1
        .iter()
        .map(|(t, _)| {
            let block = section.split(&format!("### {t}")).nth(1).unwrap();
            block
                .lines()
                .find_map(|l| l.strip_prefix("shared layer: "))
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
        })
        .collect();
    assert_eq!(shared, ["v0.44.2", "v0.50.3", "v0.50.3", "v0.56.0", "v0.56.0", "v0.50.3"]);
}

#[test]
fn show_and_check_output() {
    let out = tkn().args(["matrix", "show"]).output().unwrap();
    assert!(out.status.success());
    insta::assert_snapshot!("matrix-show", String::from_utf8(out.stdout).unwrap());
    let out = tkn().args(["matrix", "show", "-o", "json"]).output().unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 44);
    let out = tkn().args(["matrix", "check", "v0.44.2", "v0.50.3", "-o", "json"]).output().unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["version"], "v0.50.3");
    assert_eq!(json["verdict"], "compatible-with-warnings");
    assert_eq!(json["problems"], serde_json::json!([]));
    // A version this build does not ship and no source has: exit 1, every source named, a hint,
    // nothing on stdout.
    let out = tkn().args(["matrix", "check", "v0.99.0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with("error: cannot obtain Tekton Pipelines v0.99.0; tried:\n"), "{err}");
    assert!(err.contains("  - download http://127.0.0.1:9/v0.99.0.yaml: "), "{err}");
    assert!(err.contains("hint: pass `--release-file <FILE>`"), "{err}");
}

#[test]
fn an_incompatible_check_exits_1_with_the_report() {
    // A matrix directory with the synthetic future release.
    let tmp = tempfile::tempdir().unwrap();
    for (n, t) in EMBEDDED {
        let path = tmp.path().join(n);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, t).unwrap();
    }
    let m = synthetic();
    std::fs::write(tmp.path().join("v2.0.0.yaml"), m.release(&v("v2.0.0")).unwrap().to_yaml())
        .unwrap();
    let out = tkn()
        .args(["matrix", "check", "v0.47.5", "v2.0.0", "--matrix-dir"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("shared layer: v2.0.0 (incompatible)\n"), "{text}");
    assert!(text.contains("\nincompatible:\n  - instance v0.47.5 needs tekton.dev/v1beta1/pipelineruns, which pipelineruns.tekton.dev of v2.0.0 no longer serves\n  - instance v0.47.5 needs tekton.dev/v1beta1/taskruns, which taskruns.tekton.dev of v2.0.0 no longer serves\n"), "{text}");
}

/// Issue "Upgrade precheck" (first part): `matrix diff` between real releases names what an
/// upgrade changes.
#[test]
fn diff_names_what_an_upgrade_changes() {
    release_dir();
    use tkn_multi::matrix::diff::diff;
    let load = |s: &str| crate::common::load(&v(s));
    let defaults = Matrix::embedded().defaults;
    let d = diff(&load("v1.9.0"), &load("v1.15.1"), &defaults);
    let change = |cm: &str, key: &str| {
        d.config
            .iter()
            .find(|c| c.configmap == cm && c.key == key)
            .map(|c| (c.from.clone(), c.to.clone()))
    };
    assert_eq!(
        change("feature-flags", "send-cloudevents-for-runs"),
        Some((Some("false".into()), Some("true".into())))
    );
    assert_eq!(
        change("config-observability", "metrics-protocol"),
        Some((None, Some("prometheus".into())))
    );
    assert_eq!(
        change("feature-flags", "enable-informer-cache-transforms"),
        Some((None, Some("true".into())))
    );
    assert!(
        d.rbac.iter().any(|r| r.role == "ClusterRole/tekton-events-controller-cluster-access"
            && r.added == ["create,patch on core/events"]),
        "{:?}",
        d.rbac
    );
    // Same CRD versions and fields; one field is no longer required (v1.14.1's Task v1beta1
    // `stepTemplate`), and no new required field binds an object the old schema had.
    assert!(d.kinds_removed.is_empty());
    assert_eq!(d.crds.len(), 1, "{:?}", d.crds);
    let tasks = &d.crds[0];
    assert_eq!(tasks.name, "tasks.tekton.dev");
    assert!(tasks.fields_removed.is_empty() && tasks.required_added.is_empty());
    assert_eq!(tasks.required_removed["v1beta1"], ["spec.stepTemplate.name"]);
    let text = tkn_multi::render::matrix::diff_text(&d);
    assert!(
        text.contains("~ tasks.tekton.dev v1beta1: no longer required: spec.stepTemplate.name"),
        "{text}"
    );
    // A field that becomes required: the typed schema of a made-up release requires
    // `status.skippedTasks[].reason`'s sibling `whenExpressions` (the check is the same one).
    let mut stricter = load("v1.15.1");
    for o in &mut stricter.objects {
        if o.kind() == "CustomResourceDefinition" && o.name() == "pipelineruns.tekton.dev" {
            for n in 0..2 {
                let at = format!(
                    "/spec/versions/{n}/schema/openAPIV3Schema/properties/status/properties/skippedTasks/items/required"
                );
                if let Some(serde_json::Value::Array(req)) = o.pointer_mut(&at) {
                    req.push("whenExpressions".into());
                }
            }
        }
    }
    let d = diff(&load("v1.15.1"), &stricter, &defaults);
    let prs = d.crds.iter().find(|c| c.name == "pipelineruns.tekton.dev");
    assert!(
        prs.is_some_and(|c| c
            .required_added
            .values()
            .flatten()
            .any(|p| p.ends_with("skippedTasks[].whenExpressions"))),
        "{:?}",
        d.crds
    );
    let d = diff(&load("v0.64.0"), &load("v1.2.0"), &defaults);
    assert_eq!(d.kinds_removed, ["ClusterTask"]);
    assert!(d.crds.iter().any(|c| c.name == "clustertasks.tekton.dev" && c.removed));
    let d = diff(&load("v0.44.2"), &load("v0.56.0"), &defaults);
    let tasks = d.crds.iter().find(|c| c.name == "tasks.tekton.dev").unwrap();
    assert_eq!(tasks.storage, Some(("v1beta1".into(), "v1".into())));
    let ctrl = d
        .components
        .iter()
        .find(|c| c.deployment == "tekton-pipelines/tekton-pipelines-controller")
        .unwrap();
    assert!(ctrl.flags_removed.contains(&"-pr-image".to_owned()), "{ctrl:?}");
    // Through the binary, JSON.
    let out = tkn()
        .args(["matrix", "diff", "v1.9.0", "v1.15.1", "-o", "json", "--offline", "--release-dir"])
        .arg(release_dir())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["from"], "v1.9.0");
    assert!(
        json["config"].as_array().unwrap().iter().any(|c| c["key"] == "send-cloudevents-for-runs")
    );
}

/// Issue "Compatibility lab": a pair the lab's evidence shows breaking workloads is refused,
/// naming the rule and its evidence, unless accepted or already running.
#[test]
fn evidence_of_broken_workloads_refuses_the_move_unless_accepted() {
    let m = Matrix::embedded();
    let pair = req(&[&v("v0.24.1"), &v("v1.9.0")]);
    let Err(Error::Incompatible { problems, layer }) = check(&m, &pair) else {
        panic!("v0.24.1's skipped tasks cannot be written to a v1.9.0 layer")
    };
    let refusal = problems
        .iter()
        .find(|p| p.contains("[skipped-tasks-status-refused]"))
        .unwrap_or_else(|| panic!("{problems:#?}"));
    assert!(
        refusal.starts_with("instance v0.24.1: PipelineRuns with skipped tasks never finish"),
        "{refusal}"
    );
    assert!(refusal.contains("(evidence: evidence/v0.24.1-on-v1.15.1.yaml; accept it knowingly with --accept-broken-workloads)"), "{refusal}");
    let f = layer.findings.iter().find(|f| f.rule == "skipped-tasks-status-refused").unwrap();
    assert_eq!(f.evidence, vec!["evidence/v0.24.1-on-v1.15.1.yaml".to_owned()]);
    // The `conditions` wording the lab corrected.
    let typed = layer.findings.iter().find(|f| f.rule == "typed-crd-schemas").unwrap();
    assert!(
        typed.message.contains("is refused when the client asks for strict field validation"),
        "{}",
        typed.message
    );

    // Accepted: a warning that says so.
    let accepted = check(&m, &Query { accept_broken_workloads: true, ..pair.clone() }).unwrap();
    let f = accepted.findings.iter().find(|f| f.rule == "skipped-tasks-status-refused").unwrap();
    assert_eq!(f.verdict, Verdict::CompatibleWithWarnings);
    assert!(f.message.ends_with("(accepted with --accept-broken-workloads)"), "{}", f.message);

    // Already so: the layer is v1.9.0 and serves v0.24.1 now (a later upgrade of another
    // instance must not be blocked by what was accepted before).
    let running = Query {
        current_shared: Some(v("v1.9.0")),
        running: vec![v("v0.24.1"), v("v1.9.0")],
        ..pair.clone()
    };
    let layer = check(&m, &running).unwrap();
    let f = layer.findings.iter().find(|f| f.rule == "skipped-tasks-status-refused").unwrap();
    assert!(f.message.ends_with("(already so: the shared layer is v1.9.0 now)"), "{}", f.message);
    // A new v0.24.1 instance onto that layer is refused all the same.
    let joining = Query { running: vec![v("v1.9.0")], ..running };
    assert!(matches!(check(&m, &joining), Err(Error::Incompatible { .. })));

    // v0.36.0 writes `reason`: not concerned.
    let later =
        check(&m, &Query { accept_broken_workloads: true, ..req(&[&v("v0.36.0"), &v("v1.9.0")]) })
            .unwrap();
    assert!(!later.findings.iter().any(|f| f.rule == "skipped-tasks-status-refused"));
    // The CLI says the same, citing the evidence file.
    let out = tkn().args(["matrix", "check", "v0.24.1", "v1.9.0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(
            "    error [skipped-tasks-status-refused]: PipelineRuns with skipped tasks never finish"
        ),
        "{text}"
    );
    assert!(
        text.contains("      evidence: compat-matrix/evidence/v0.24.1-on-v1.15.1.yaml\n"),
        "{text}"
    );
    let out = tkn()
        .args(["matrix", "check", "v0.24.1", "v1.9.0", "--accept-broken-workloads"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
}

/// A change to one embedded matrix file: `Some((name, new text))`, or `None` to keep it.
type Edit<'a> = dyn Fn(&str, &str) -> Option<(String, String)> + 'a;

/// The committed evidence and rules agree, and each kind of disagreement is caught.
#[test]
fn the_evidence_agrees_with_the_rules() {
    let m = Matrix::embedded();
    assert!(m.evidence.iter().any(|e| e.instance == v("v0.24.1") && e.shared == v("v1.15.1")));
    assert_eq!(agreement(&m), Vec::<String>::new());
    for ev in &m.evidence {
        assert_eq!(ev.counts.examples, ev.counts.same + ev.counts.different, "{}", ev.file_name());
        assert!(ev.command.starts_with("scripts/compat-lab --instance "), "{}", ev.file_name());
    }

    let with = |edit: &Edit<'_>| {
        let files: Vec<(String, String)> = EMBEDDED
            .iter()
            .filter_map(|(n, t)| edit(n, t).or_else(|| Some(((*n).to_owned(), (*t).to_owned()))))
            .collect();
        agreement(&Matrix::from_files(files.iter().map(|(n, t)| (n.as_str(), t.as_str()))).unwrap())
    };
    let file = "evidence/v0.24.1-on-v1.15.1.yaml";
    // A difference whose rule is taken away.
    let found = with(&|n, t| {
        (n == file).then(|| {
            (n.to_owned(), t.replacen("rule: \"skipped-tasks-status-refused\"", "rule: null", 1))
        })
    });
    assert!(found.iter().any(|d| d.contains("names no rule")), "{found:#?}");
    // A rule that no longer cites the file.
    let found = with(&|n, t| {
        (n == "rules.yaml").then(|| {
            let cited = "  evidence:\n  - evidence/v0.24.1-on-v1.15.1.yaml\n- id: pipeline-conditions-refused";
            assert!(t.contains(cited));
            (n.to_owned(), t.replacen(cited, "- id: pipeline-conditions-refused", 1))
        })
    });
    assert!(
        found.iter().any(|d| d.contains("rule `skipped-tasks-status-refused` does not cite it")),
        "{found:#?}"
    );
    // A pair whose examples all behave the same, under a `breaks-workloads` rule.
    let tally = "  succeeded: 3\n  failed: 0\n  never-finished: 0\n  refused: 0\n  no-run: 0\n";
    let clean_file = format!(
        "formatVersion: \"1\"\ninstance: v0.30.0\nshared: v1.15.1\n\
         command: \"scripts/compat-lab --instance v0.30.0 --shared v1.15.1\"\nselection: \"three\"\n\
         measured: \"2026-12-05\"\nseconds: 1\ncounts:\n  examples: 3\n  same: 3\n  different: 0\n\
         baseline:\n{tally}onShared:\n{tally}differences: []\nlogAnomalies: []\n"
    );
    let mut files: Vec<(String, String)> =
        EMBEDDED.iter().map(|(n, t)| ((*n).to_owned(), (*t).to_owned())).collect();
    files.push(("evidence/v0.30.0-on-v1.15.1.yaml".into(), clean_file));
    let matrix = Matrix::from_files(files.iter().map(|(n, t)| (n.as_str(), t.as_str())));
    let found = agreement(&matrix.unwrap());
    assert!(
        found.iter().any(|d| d
            .contains("every example behaves the same, yet rule `skipped-tasks-status-refused`")),
        "{found:#?}"
    );
}

/// Issue "Upgrade precheck": the effective defaults `scripts/derive-defaults` read from Tekton's
/// source agree with every release's own `feature-flags` `ConfigMap` wherever both have a key
/// (a wrong parse of the Go source would disagree), and hold the known flips.
#[test]
fn recorded_defaults_agree_with_every_release_configmap() {
    release_dir();
    let m = Matrix::embedded();
    let mut compared = 0;
    for v in crate::common::all_versions() {
        let d = m.defaults.of(&v).unwrap_or_else(|| panic!("{v}: no recorded defaults"));
        assert!(d.feature_flags.len() >= 8, "{v}: {:?}", d.feature_flags);
        assert!(d.source.contains("pkg/apis/config/feature_flags.go"), "{v}: {}", d.source);
        let cm = tkn_multi::matrix::diff::feature_flags(&crate::common::load(&v));
        for (key, value) in &cm {
            if let Some(default) = d.feature_flags.get(key) {
                assert_eq!(default, value, "{v}: {key}: the default and the release's ConfigMap");
                compared += 1;
            }
        }
    }
    assert!(compared > 300, "{compared} keys compared");
    let flag =
        |v: &str, k: &str| m.defaults.of(&v.parse().unwrap()).unwrap().feature_flags[k].clone();
    assert_eq!(flag("v1.9.0", "send-cloudevents-for-runs"), "false");
    assert_eq!(flag("v1.12.2", "send-cloudevents-for-runs"), "true");
    assert_eq!(flag("v0.24.1", "enable-api-fields"), "stable");
    assert_eq!(flag("v1.15.1", "enable-api-fields"), "beta");
}

/// `matrix diff` shows the effective values that change where a release's `ConfigMap` leaves
/// the key out: Tekton's default decides, which the `ConfigMap` comparison cannot show.
#[test]
fn diff_shows_effective_defaults_the_configmaps_leave_out() {
    release_dir();
    use tkn_multi::matrix::diff::diff;
    let m = Matrix::embedded();
    let load = |s: &str| crate::common::load(&v(s));
    let d = diff(&load("v0.42.0"), &load("v0.43.2"), &m.defaults);
    let keys: Vec<_> = d.defaults.iter().map(|c| (c.key.as_str(), c.to.as_deref())).collect();
    assert_eq!(
        keys,
        [("max-result-size", Some("4096")), ("results-from", Some("termination-message"))]
    );
    assert!(d.defaults.iter().all(|c| c.to_default && c.from.is_none()));
    assert!(d.config.iter().all(|c| c.key != "max-result-size"), "the ConfigMaps do not show it");
    assert!(d.defaults[0].source.contains("tektoncd/pipeline@"), "{}", d.defaults[0].source);
    let d = diff(&load("v0.44.2"), &load("v0.45.0"), &m.defaults);
    assert_eq!(d.defaults.len(), 1, "{:?}", d.defaults);
    assert_eq!(
        (d.defaults[0].key.as_str(), d.defaults[0].from.as_deref(), d.defaults[0].from_default),
        ("enable-spire", Some("false"), true)
    );
    let text = tkn_multi::render::matrix::diff_text(&d);
    assert!(
        text.contains("~ feature-flags enable-spire: false (default) → (unknown key)"),
        "{text}"
    );
    // Where both ConfigMaps list every key, nothing is added (v1.9.0 → v1.15.1's flips show in
    // `config`).
    assert!(diff(&load("v1.9.0"), &load("v1.15.1"), &m.defaults).defaults.is_empty());
    // Without recorded defaults (a `--matrix-dir` that has none), only the ConfigMaps speak.
    let none = tkn_multi::matrix::defaults::Defaults::default();
    assert!(diff(&load("v0.42.0"), &load("v0.43.2"), &none).defaults.is_empty());
}
