//! `install | upgrade | uninstall | apply -f` with `--dry-run` and `--state`, as a user runs them.

use std::path::Path;

use assert_cmd::Command;

use crate::common::release_dir;

fn tkn(dir: &Path) -> Command {
    let mut c = crate::common::tkn_multi(Some(dir), &dir.join("no-cache"));
    c.arg("--quiet");
    c
}

fn run(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = tkn(dir).args(args).output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn sequence_1_as_a_chain_of_offline_dry_runs() {
    let releases = release_dir();
    let tmp = tempfile::tempdir().unwrap();
    let st = |n: u32| tmp.path().join(format!("state-{n}.yaml")).display().to_string();
    std::fs::write(st(0), "formatVersion: \"1\"\n").unwrap();
    let steps: &[&[&str]] = &[
        &["install", "v0.44.2", "-n", "team-x"],
        &["install", "v0.50.3", "-n", "team-y"],
        &["install", "v0.41.2", "-n", "team-j"],
        &["upgrade", "team-x", "--to", "v0.56.0"],
        &["uninstall", "team-x"],
    ];
    let mut shared = Vec::new();
    for (i, s) in steps.iter().enumerate() {
        let n = u32::try_from(i).unwrap();
        let mut args: Vec<&str> = s.to_vec();
        let (from, to) = (st(n), st(n + 1));
        args.extend(["--dry-run", "--detailed-exitcode", "--state", &from, "--save-state", &to]);
        let (code, out, err) = run(&releases, &args);
        assert_eq!(code, 2, "{s:?} has changes: {err}");
        shared.push(
            out.lines()
                .find_map(|l| l.strip_prefix("shared: tekton-pipelines "))
                .map(|l| l.split(',').next().unwrap().to_owned()),
        );
        // Re-planning the same request against the saved state: nothing to do.
        if s[0] != "uninstall" && s[0] != "install" {
            let mut again: Vec<&str> = s.to_vec();
            again.extend(["--dry-run", "--detailed-exitcode", "--state", &to]);
            let (code, out, _) = run(&releases, &again);
            assert_eq!(
                (code, out.as_str()),
                (0, "No changes. The cluster matches the desired state.\n")
            );
        }
    }
    assert_eq!(
        shared,
        [
            Some("v0.44.2".to_owned()),
            Some("v0.50.3 (from v0.44.2)".to_owned()),
            None,
            Some("v0.56.0 (from v0.50.3)".to_owned()),
            None
        ]
    );
    // The saved state lists what remains.
    let last: tkn_multi::plan::state::ClusterState =
        tkn_multi::yaml::from_str(&std::fs::read_to_string(st(5)).unwrap()).unwrap();
    let names: Vec<&str> = last.instances.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["team-j", "team-y"]);
    assert_eq!(last.shared.unwrap().version.to_string(), "v0.56.0");
}

#[test]
fn lifecycle_errors_are_clear_and_plan_nothing() {
    let releases = release_dir();
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty.yaml");
    std::fs::write(&empty, "formatVersion: \"1\"\n").unwrap();
    let one = tmp.path().join("one.yaml");
    let e = empty.display().to_string();
    let o = one.display().to_string();
    let (code, _, err) = run(
        &releases,
        &["install", "v0.50.3", "-n", "team-a", "--dry-run", "--state", &e, "--save-state", &o],
    );
    assert_eq!(code, 0, "{err}");
    // Installing it again: a no-op plan; another version on the same name: refused.
    let (code, out, err) =
        run(&releases, &["install", "v0.50.3", "-n", "team-a", "--dry-run", "--state", &o]);
    assert_eq!(
        (code, out.as_str()),
        (0, "No changes. The cluster matches the desired state.\n"),
        "{err}"
    );
    let (code, out, err) =
        run(&releases, &["install", "v0.56.0", "-n", "team-a", "--dry-run", "--state", &o]);
    assert_eq!((code, out.as_str()), (1, ""));
    assert_eq!(
        err,
        "error: instance `team-a` is already installed (v0.50.3 in `team-a`); use `tkn-multi upgrade team-a --to v0.56.0`\n"
    );
    // A second instance claiming team-a's namespace.
    let (code, _, err) = run(
        &releases,
        &["install", "v0.50.3", "-n", "team-a", "--instance", "other", "--dry-run", "--state", &o],
    );
    assert_eq!(code, 1);
    assert_eq!(err, "error: namespace `team-a` is claimed by both `team-a` and `other`\n");
    // Upgrading or removing what is not there.
    let (code, _, err) =
        run(&releases, &["upgrade", "nope", "--to", "v0.56.0", "--dry-run", "--state", &o]);
    assert_eq!((code, err.as_str()), (1, "error: instance `nope` is not installed\n"));
    // A version this build does not know and no source has: every source tried is named, and
    // no plan is printed.
    let (code, out, err) =
        run(&releases, &["upgrade", "team-a", "--to", "v0.99.0", "--dry-run", "--state", &o]);
    assert_eq!((code, out.as_str()), (1, ""));
    assert!(err.starts_with("error: cannot obtain Tekton Pipelines v0.99.0; tried:\n  - release directory: no pipeline/v0.99.0.yaml"), "{err}");
    assert!(err.contains("download http://127.0.0.1:9/v0.99.0.yaml: "), "{err}");
    // A malformed state file and a malformed fleet file.
    let bad = tmp.path().join("bad.yaml");
    std::fs::write(&bad, "formatVersion: \"1\"\ninstances: {oops\n").unwrap();
    let (code, _, err) = run(
        &releases,
        &["uninstall", "team-a", "--dry-run", "--state", &bad.display().to_string()],
    );
    assert_eq!(code, 1);
    assert!(
        err.starts_with(&format!(
            "error: state file `{}` is not a `tkn-multi list -o yaml` document",
            bad.display()
        )),
        "{err}"
    );
    let fleet = tmp.path().join("fleet.yaml");
    std::fs::write(&fleet, "apiVersion: tkn-multi.tekton.dev/v1alpha1\nkind: Fleet\ninstances:\n- name: a\n  versoin: v0.50.3\n").unwrap();
    let (code, _, err) =
        run(&releases, &["apply", "-f", &fleet.display().to_string(), "--dry-run", "--state", &e]);
    assert_eq!(code, 1);
    assert!(err.contains("is invalid") && err.contains("versoin"), "{err}");
    // --detailed-exitcode: errors are 1, never 2.
    let (code, _, _) = run(
        &releases,
        &["upgrade", "nope", "--to", "v0.56.0", "--dry-run", "--detailed-exitcode", "--state", &o],
    );
    assert_eq!(code, 1);
    // Without --dry-run nothing is applied (the apply engine is a later issue): exit 1, said plainly.
    let (code, _, err) = run(&releases, &["uninstall", "team-a", "--state", &o]);
    assert_eq!(code, 1);
    assert!(err.contains("use `--dry-run`"), "{err}");
}

#[test]
fn a_fleet_file_converges_and_removes_what_it_no_longer_lists() {
    let releases = release_dir();
    let tmp = tempfile::tempdir().unwrap();
    let p = |n: &str| tmp.path().join(n).display().to_string();
    std::fs::write(p("s0.yaml"), "formatVersion: \"1\"\n").unwrap();
    let fleet = |instances: &str| {
        format!("apiVersion: tkn-multi.tekton.dev/v1alpha1\nkind: Fleet\ninstances:\n{instances}")
    };
    std::fs::write(
        p("f1.yaml"),
        fleet("- {name: team-a, version: v0.44.2}\n- {name: team-b, version: v0.50.3}\n"),
    )
    .unwrap();
    let (code, out, err) = run(
        &releases,
        &[
            "apply",
            "-f",
            &p("f1.yaml"),
            "--dry-run",
            "--state",
            &p("s0.yaml"),
            "--save-state",
            &p("s1.yaml"),
            "-o",
            "json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["target"]["shared"]["version"], "v0.50.3");
    assert_eq!(json["target"]["instances"].as_array().unwrap().len(), 2);
    std::fs::write(p("f2.yaml"), fleet("- {name: team-b, version: v0.50.3}\n")).unwrap();
    let (code, out, err) =
        run(&releases, &["apply", "-f", &p("f2.yaml"), "--dry-run", "--state", &p("s1.yaml")]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("instance team-a: removed"), "{out}");
    assert!(!out.contains("- CustomResourceDefinition"), "CRDs stay while team-b remains:\n{out}");
}

#[test]
fn a_fleet_across_clusters_plans_offline_per_cluster_from_a_state_dir() {
    let releases = release_dir();
    let tmp = tempfile::tempdir().unwrap();
    let states = tmp.path().join("states");
    std::fs::create_dir(&states).unwrap();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/examples/fleet-two-clusters.yaml");
    let dir = states.display().to_string();
    // A missing state file names the cluster and how to write it.
    let (code, _, err) =
        run(&releases, &["apply", "-f", example, "--state-dir", &dir, "--dry-run"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cannot read the state of cluster `east`"), "{err}");
    for c in ["east", "west"] {
        std::fs::write(states.join(format!("{c}.yaml")), "formatVersion: \"1\"\n").unwrap();
    }
    let (code, out, err) =
        run(&releases, &["apply", "-f", example, "--state-dir", &dir, "--dry-run", "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let clusters = json["clusters"].as_array().unwrap();
    let plan = |name: &str| &clusters.iter().find(|c| c["name"] == name).unwrap()["plan"];
    let instances = |name: &str| -> Vec<String> {
        plan(name)["target"]["instances"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(instances("east"), ["build", "legacy"]);
    assert_eq!(instances("west"), ["build", "legacy", "release"]);
    // The matrix runs per cluster: west serves v1.9.0, east only needs v0.56.0.
    assert_eq!(plan("east")["target"]["shared"]["version"], "v0.56.0");
    assert_eq!(plan("west")["target"]["shared"]["version"], "v1.9.0");
    // The text plan has one section per cluster; `--cluster` narrows it.
    let (code, out, err) = run(
        &releases,
        &["apply", "-f", example, "--state-dir", &dir, "--dry-run", "--cluster", "west"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("cluster west:\n") && !out.contains("cluster east:"), "{out}");
    let (code, _, err) = run(
        &releases,
        &["apply", "-f", example, "--state-dir", &dir, "--dry-run", "--cluster", "north"],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("`--cluster north`: the fleet has no such cluster (`east`, `west`)"),
        "{err}"
    );
    // Executing from saved observations is refused, as with `--state`.
    let (code, out, err) = run(&releases, &["apply", "-f", example, "--state-dir", &dir, "--yes"]);
    assert_eq!((code, out.as_str()), (1, ""), "nothing planned or printed");
    assert!(
        err.contains("is for review only and cannot change a cluster; use `--dry-run`"),
        "{err}"
    );
    let state = format!("{dir}/east.yaml");
    let (code, out, err) = run(&releases, &["install", "v0.56.0", "-n", "x", "--state", &state]);
    assert_eq!((code, out.as_str()), (1, ""), "nothing planned or printed");
    assert!(err.contains("from `--state` is for review only"), "{err}");
    // A Deployment override the release does not have is refused on that cluster, and nothing runs
    // anywhere.
    let bad = std::fs::read_to_string(example).unwrap().replace(
        "tekton-pipelines-controller: {replicas: 2}",
        "tekton-pipelines-kontroller: {replicas: 2}",
    );
    std::fs::write(tmp.path().join("bad.yaml"), bad).unwrap();
    let (code, out, err) = run(
        &releases,
        &[
            "apply",
            "-f",
            &tmp.path().join("bad.yaml").display().to_string(),
            "--state-dir",
            &dir,
            "--dry-run",
        ],
    );
    assert_eq!(code, 1, "{err}");
    assert!(out.contains("cluster east: no plan:") && out.contains("cluster west:\n"), "{out}");
    assert!(err.contains("error: cluster east: instance `build` overrides Deployment `tekton-pipelines-kontroller`, which Tekton Pipelines v0.56.0 does not have"), "{err}");
}

/// Issue "Promotion across clusters", offline: a fleet with stages plans from `--state-dir`,
/// grouped by stage in rollout order (dev's east first, at dev's version), in text and JSON;
/// `--stage` narrows it; an unknown stage writes and plans nothing.
#[test]
fn a_fleet_with_stages_plans_per_stage_from_a_state_dir() {
    let releases = release_dir();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().display().to_string();
    for c in ["east", "west"] {
        std::fs::write(tmp.path().join(format!("{c}.yaml")), "formatVersion: \"1\"\n").unwrap();
    }
    // prod (west) listed first in the file's clusters: the plan still starts with dev.
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/examples/fleet-stages.yaml"
    ))
    .unwrap();
    let swapped = example.replace(
        "- {name: east, context: east, labels: {env: dev}}\n- {name: west, context: west, labels: {env: prod}}",
        "- {name: west, context: west, labels: {env: prod}}\n- {name: east, context: east, labels: {env: dev}}",
    );
    assert_ne!(swapped, example);
    let file = tmp.path().join("fleet.yaml");
    std::fs::write(&file, &swapped).unwrap();
    let f = file.display().to_string();
    let (code, out, err) = run(&releases, &["apply", "-f", &f, "--state-dir", &dir, "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    let east = out.find("cluster east (stage 1: dev):").expect(&out);
    let west = out.find("cluster west (stage 2: prod):").expect(&out);
    assert!(east < west, "dev first: {out}");
    let (code, out, err) =
        run(&releases, &["apply", "-f", &f, "--state-dir", &dir, "--dry-run", "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let clusters = json["clusters"].as_array().unwrap();
    let got: Vec<(&str, &str, &str)> = clusters
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap(),
                c["stage"].as_str().unwrap(),
                c["plan"]["target"]["instances"][0]["version"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, [("east", "dev", "v1.15.1"), ("west", "prod", "v0.56.0")]);
    let (code, out, err) =
        run(&releases, &["apply", "-f", &f, "--state-dir", &dir, "--dry-run", "--stage", "prod"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("cluster west (stage 2: prod):") && !out.contains("east"), "{out}");
    let (code, out, err) =
        run(&releases, &["apply", "-f", &f, "--state-dir", &dir, "--dry-run", "--stage", "qa"]);
    assert_eq!((code, out.as_str()), (1, ""), "{err}");
    assert!(err.contains("`--stage qa`: the fleet has no such stage (`prod`, `dev`)"), "{err}");
}

/// `promote` with bad input refuses before it reads any cluster and leaves the file as it was:
/// an unknown stage, one stage twice, an instance the fleet does not have, a fleet with
/// overlapping stage names.
#[test]
fn promote_refuses_bad_input_and_writes_nothing() {
    let releases = release_dir();
    let tmp = tempfile::tempdir().unwrap();
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/examples/fleet-stages.yaml"
    ))
    .unwrap();
    let file = tmp.path().join("fleet.yaml");
    std::fs::write(&file, &example).unwrap();
    let f = file.display().to_string();
    for (args, says) in [
        (
            vec!["build", "--from", "dev", "--to", "qa"],
            "the fleet has no stage `qa` (`dev`, `prod`)",
        ),
        (vec!["build", "--from", "prod", "--to", "prod"], "the two stages are the same"),
        (
            vec!["nobody", "--from", "dev", "--to", "prod"],
            "the instance is on no cluster of stage `dev`",
        ),
    ] {
        let mut all = vec!["promote", "-f", &f];
        all.extend(args);
        let (code, out, err) = run(&releases, &all);
        assert_eq!((code, out.as_str()), (1, ""), "{err}");
        assert!(err.contains(says), "{says}: {err}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), example, "unchanged");
    }
    let twice = example.replace("- name: prod\n", "- name: dev\n");
    std::fs::write(&file, &twice).unwrap();
    let (code, _, err) =
        run(&releases, &["promote", "build", "--from", "dev", "--to", "prod", "-f", &f]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("stage `dev` is listed twice"), "{err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), twice, "unchanged");
}

/// Issue "Promotion across clusters", GitOps: the Flux tree is one directory per cluster, so a
/// promotion (dev → prod, `promote`'s own edit of the file) changes only the destination's
/// clusters' files: every file under `east/` (dev) is the same before and after, and files
/// under `west/` (prod) change.
#[test]
fn a_promotion_changes_only_the_destinations_flux_tree() {
    let releases = release_dir();
    let tmp = tempfile::tempdir().unwrap();
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/examples/fleet-stages.yaml"
    ))
    .unwrap();
    let p = tkn_multi::fleet::promote::promote(
        &example,
        "fleet.yaml",
        &"build".parse().unwrap(),
        &"dev".parse().unwrap(),
        &"prod".parse().unwrap(),
    )
    .unwrap();
    let render = |name: &str, text: &str| {
        let file = tmp.path().join(format!("{name}.yaml"));
        std::fs::write(&file, text).unwrap();
        let out = tmp.path().join(name);
        let (code, _, err) = run(
            &releases,
            &[
                "render",
                "-f",
                &file.display().to_string(),
                "--gitops",
                "flux",
                "--output-dir",
                &out.display().to_string(),
            ],
        );
        assert_eq!(code, 0, "{err}");
        walk(&out)
            .into_iter()
            .map(|f| {
                let body = std::fs::read_to_string(out.join(&f)).unwrap();
                (f, body)
            })
            .collect::<std::collections::BTreeMap<String, String>>()
    };
    let (before, after) = (render("before", &example), render("after", &p.text));
    let changed: std::collections::BTreeSet<String> = before
        .keys()
        .chain(after.keys())
        .filter(|f| before.get(*f) != after.get(*f))
        .cloned()
        .collect();
    assert!(!changed.is_empty());
    assert!(
        changed.iter().all(|f| f.starts_with("west/") || f == "flux/west.yaml"),
        "only prod's (west's) tree changes: {changed:#?}"
    );
    assert!(changed.iter().any(|f| f.starts_with("west/instances/build/")), "{changed:#?}");
}

#[test]
fn render_relocates_every_image_to_a_registry() {
    let releases = release_dir();
    for v in ["v0.22.0", "v0.50.3", "v1.9.0"] {
        let (code, out, err) = run(
            &releases,
            &["render", v, "-n", "team-a", "--image-registry", "mirror.local:5000/tekton"],
        );
        assert_eq!(code, 0, "{err}");
        let objects = tkn_multi::yaml::parse_documents(&out).unwrap();
        let mut images = Vec::new();
        for o in objects.iter().filter(|o| o["kind"] == "Deployment") {
            for c in o["spec"]["template"]["spec"]["containers"].as_array().unwrap() {
                images.push(c["image"].as_str().unwrap().to_owned());
                let args: Vec<&str> =
                    c["args"].as_array().into_iter().flatten().filter_map(|a| a.as_str()).collect();
                for w in args.windows(2) {
                    if w[0].starts_with('-') && w[0].ends_with("-image")
                        || w[0].ends_with("-image-win")
                    {
                        images.push(w[1].to_owned());
                    }
                }
            }
        }
        assert!(images.len() >= 6, "{v}: {images:?}");
        for i in &images {
            assert!(i.starts_with("mirror.local:5000/tekton/"), "{v}: {i}");
        }
        assert!(images.iter().any(|i| i.contains("@sha256:")), "{v}: digests kept");
    }
}

#[test]
fn a_fleet_renders_as_a_flux_tree_per_cluster() {
    let releases = release_dir();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("tree");
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/examples/fleet-two-clusters.yaml");
    let (code, _, err) = run(
        &releases,
        &["render", "-f", example, "--gitops", "flux", "--output-dir", &out.display().to_string()],
    );
    assert_eq!(code, 0, "{err}");
    let read = |rel: &str| std::fs::read_to_string(out.join(rel)).unwrap();
    let flux = tkn_multi::yaml::parse_documents(&read("flux/west.yaml")).unwrap();
    let names: Vec<&str> = flux.iter().map(|k| k["metadata"]["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "tkn-multi-west-build",
            "tkn-multi-west-legacy",
            "tkn-multi-west-release",
            "tkn-multi-west-shared"
        ]
    );
    for k in &flux {
        assert_eq!(k["apiVersion"], "kustomize.toolkit.fluxcd.io/v1");
        assert_eq!(k["spec"]["kubeConfig"]["secretRef"]["name"], "west-kubeconfig");
        assert_eq!(k["spec"]["wait"], true);
        let path = k["spec"]["path"].as_str().unwrap().trim_start_matches("./");
        // Every path holds a kustomization that lists exactly the files beside it.
        let kz =
            tkn_multi::yaml::parse_documents(&read(&format!("{path}/kustomization.yaml"))).unwrap();
        let listed: std::collections::BTreeSet<String> = kz[0]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap().to_owned())
            .collect();
        let on_disk: std::collections::BTreeSet<String> =
            walk(&out.join(path)).into_iter().filter(|p| p != "kustomization.yaml").collect();
        assert_eq!(listed, on_disk, "{path}");
        if k["metadata"]["name"] == "tkn-multi-west-shared" {
            assert!(k["spec"].get("dependsOn").is_none());
        } else {
            assert_eq!(k["spec"]["dependsOn"][0]["name"], "tkn-multi-west-shared");
        }
    }
    // CRDs and the namespaces that hold users' runs are never pruned; every object carries what
    // `tkn-multi list` and the planner read.
    let crd = &tkn_multi::yaml::parse_documents(&read(
        "west/shared/cluster/customresourcedefinition-tasks.tekton.dev.yaml",
    ))
    .unwrap()[0];
    assert_eq!(crd["metadata"]["annotations"]["kustomize.toolkit.fluxcd.io/prune"], "disabled");
    assert!(crd["metadata"]["annotations"]["tkn-multi.tekton.dev/applied-hash"].is_string());
    let ns = &tkn_multi::yaml::parse_documents(&read(
        "west/instances/build/cluster/namespace-build.yaml",
    ))
    .unwrap()[0];
    assert_eq!(ns["metadata"]["annotations"]["kustomize.toolkit.fluxcd.io/prune"], "disabled");
    assert_eq!(ns["metadata"]["labels"]["tkn-multi.tekton.dev/instance"], "build");
    // No field Tekton or knative writes at run time.
    for (rel, text) in
        walk(&out).iter().map(|r| (r.clone(), std::fs::read_to_string(out.join(r)).unwrap()))
    {
        assert!(!text.contains("caBundle"), "{rel}");
    }
    // West's registry override reached its tree, and not east's.
    let ctl = "instances/build/namespaces/tekton-build/deployment-tekton-pipelines-controller.yaml";
    assert!(read(&format!("west/{ctl}")).contains("mirror.west.example.com:5000/tekton/"));
    assert!(!read(&format!("east/{ctl}")).contains("mirror."));
}

/// Every file under `dir`, relative to it, `/`-separated.
fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().to_string_lossy().replace('\\', "/"));
            }
        }
    }
    out.sort();
    out
}

/// `--release-file` on a changing command serves the version it proves to be; other versions are
/// looked up as usual, and a file of another version is named among the places tried.
#[test]
fn release_file_serves_the_version_it_proves_to_be() {
    release_dir();
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("empty.yaml");
    std::fs::write(&state, "formatVersion: \"1\"\n").unwrap();
    let file = |v: &str| crate::common::release_path(v).display().to_string();
    let plan = |version: &str, with: &str| {
        let out = Command::cargo_bin("tkn-multi")
            .unwrap()
            .env_remove("TKN_MULTI_RELEASE_DIR")
            .env("TKN_MULTI_CACHE_DIR", tmp.path().join("cache"))
            .args(["install", version, "-n", "team-a", "--dry-run", "--offline", "-q"])
            .args(["--release-file", with, "--state"])
            .arg(&state)
            .output()
            .unwrap();
        (out.status.code().unwrap(), String::from_utf8(out.stderr).unwrap())
    };
    assert_eq!(plan("v0.24.1", &file("v0.24.1")), (0, String::new()));
    let (code, err) = plan("v0.24.1", &file("v0.56.0"));
    assert_eq!(code, 1);
    assert!(err.contains("is release v0.56.0"), "{err}");
    assert!(err.contains("download: disabled (--offline)"), "{err}");
}

/// A saved state holds the dates the certificates will have, not made-up ones.
#[test]
fn saved_states_hold_real_certificate_dates() {
    let releases = release_dir();
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty.yaml");
    let saved = tmp.path().join("saved.yaml");
    std::fs::write(&empty, "formatVersion: \"1\"\n").unwrap();
    let (code, _, err) = run(
        &releases,
        &[
            "install",
            "v0.24.1",
            "-n",
            "team-a",
            "--dry-run",
            "--state",
            &empty.display().to_string(),
            "--save-state",
            &saved.display().to_string(),
        ],
    );
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(&saved).unwrap();
    assert!(!text.contains("9999"), "{text}");
    let date = |key: &str| -> String {
        let line = text.lines().find(|l| l.trim_start().starts_with(key)).unwrap();
        line.split('"').nth(1).unwrap().to_owned()
    };
    let (ca, serving) = (date("caNotAfter:"), date("servingNotAfter:"));
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let now_year = 1970 + secs.as_secs() / 31_556_952;
    let year = |d: &str| d[..4].parse::<u64>().unwrap();
    assert!(year(&serving) >= now_year && year(&serving) <= now_year + 1, "{serving}");
    assert!(year(&ca) >= now_year + 9, "a 10-year CA: {ca}");
}

/// Issue "Hardening": one validation of the observed state for every command, reserved
/// namespaces refused, and a shared layer never moved by a plan.
#[test]
fn observations_and_namespaces_are_validated_for_every_command() {
    let releases = release_dir();
    let tmp = tempfile::tempdir().unwrap();
    let p = |name: &str| tmp.path().join(name).display().to_string();
    std::fs::write(p("empty.yaml"), "formatVersion: \"1\"\n").unwrap();
    let (code, _, err) = run(
        &releases,
        &[
            "install",
            "v0.50.3",
            "-n",
            "team-a",
            "--dry-run",
            "--state",
            &p("empty.yaml"),
            "--save-state",
            &p("one.yaml"),
        ],
    );
    assert_eq!(code, 0, "{err}");
    let one = std::fs::read_to_string(p("one.yaml")).unwrap();
    // Reserved namespaces, for instances and their control planes.
    for args in [
        vec!["install", "v0.50.3", "-n", "kube-system"],
        vec!["install", "v0.50.3", "-n", "team-b", "--control-plane-namespace", "flux-system"],
        vec!["install", "v0.50.3", "-n", "default"],
    ] {
        let empty = p("empty.yaml");
        let mut all = args.clone();
        all.extend(["--dry-run", "--state", &empty]);
        let (code, out, err) = run(&releases, &all);
        assert_eq!((code, out.as_str()), (1, ""), "{args:?}");
        assert!(err.contains("is reserved: tkn-multi never installs into"), "{err}");
    }
    // A shared layer observed in another namespace: `apply -f` refuses to move it, as install does.
    std::fs::write(
        p("moved.yaml"),
        one.replace("namespace: tekton-shared", "namespace: other-shared"),
    )
    .unwrap();
    std::fs::write(
        p("fleet.yaml"),
        "apiVersion: tkn-multi.tekton.dev/v1alpha1\nkind: Fleet\ninstances:\n- {name: team-a, version: v0.50.3}\n",
    )
    .unwrap();
    let (code, out, err) = run(
        &releases,
        &["apply", "-f", &p("fleet.yaml"), "--dry-run", "--state", &p("moved.yaml")],
    );
    assert_eq!((code, out.as_str()), (1, ""), "{err}");
    assert!(
        err.contains(
            "the shared layer is installed in namespace `other-shared`, not `tekton-shared`"
        ),
        "{err}"
    );
    // An observation no cluster could give: an instance twice, an invalid name, a reserved namespace.
    let instance_block =
        one.split("instances:\n").nth(1).unwrap().split("objects:").next().unwrap().to_owned();
    for (bad, why) in [
        (
            one.replace("instances:\n", &format!("instances:\n{instance_block}")),
            "instance `team-a` appears twice",
        ),
        (one.replace("name: team-a", "name: Team_A"), "is not a valid instance name"),
        (
            one.replace(
                "controlPlaneNamespace: tekton-team-a",
                "controlPlaneNamespace: kube-system",
            ),
            "reserved namespace `kube-system`",
        ),
    ] {
        std::fs::write(p("bad.yaml"), &bad).unwrap();
        let (code, out, err) =
            run(&releases, &["uninstall", "team-a", "--dry-run", "--state", &p("bad.yaml")]);
        assert_eq!((code, out.as_str()), (1, ""), "{why}: {err}");
        assert!(err.contains(why), "{why}: {err}");
    }
}

/// Issue "Hardening": fleet values are checked as Kubernetes would, before any plan: an unknown
/// ConfigMap lists the known ones; a bad quantity, toleration or name is named.
#[test]
fn fleet_values_are_validated() {
    let releases = release_dir();
    let tmp = tempfile::tempdir().unwrap();
    let states = tmp.path().join("states");
    std::fs::create_dir_all(&states).unwrap();
    std::fs::write(states.join("a.yaml"), "formatVersion: \"1\"\n").unwrap();
    let d = states.display().to_string();
    let fleet = tmp.path().join("fleet.yaml");
    let f = fleet.display().to_string();
    let file = |shared: &str, extra: &str| {
        format!(
            "apiVersion: tkn-multi.tekton.dev/v1alpha2\nkind: Fleet\nclusters:\n- {{name: a, context: a}}\n{shared}instances:\n- {{name: team-a, version: v0.56.0, placement: {{clusters: [a]}}{extra}}}\n"
        )
    };
    for (extra, why) in [
        (
            ", config: {feature-flag: {enable-api-fields: beta}}",
            "sets keys of ConfigMap `feature-flag`, which Tekton Pipelines v0.56.0 does not have (it has ",
        ),
        (
            ", overrides: [{clusters: [a], deployments: {tekton-pipelines-controller: {resources: {requests: {cpu: lots}}}}}]",
            "`lots` is not a non-negative quantity",
        ),
        (
            ", overrides: [{clusters: [a], deployments: {tekton-pipelines-controller: {tolerations: [{key: a, operator: Bogus}]}}}]",
            "operator `Bogus`",
        ),
        ("", "leaves no room for its `-resolvers` namespace"),
    ] {
        let shared = if extra.is_empty() {
            format!("shared: {{namespace: {}}}\n", "s".repeat(63))
        } else {
            String::new()
        };
        std::fs::write(&fleet, file(&shared, extra)).unwrap();
        let (code, _, err) = run(&releases, &["apply", "-f", &f, "--dry-run", "--state-dir", &d]);
        assert_eq!(code, 1, "{extra}: {err}");
        assert!(err.contains(why), "{extra}: {err}");
    }
}

/// Issue "Hardening": terminal control sequences in a fleet file (a config value, an unknown
/// field, a bad name) reach neither stdout nor stderr raw, in a plan or in an error.
#[test]
fn control_sequences_in_files_never_reach_the_terminal() {
    let releases = release_dir();
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("empty.yaml");
    std::fs::write(&state, "formatVersion: \"1\"\n").unwrap();
    let s = state.display().to_string();
    // In YAML's double quotes: ESC [2J (clear the screen), ESC ]0;… BEL (set the title).
    let clear = "\\e[2J\\e]0;owned\\a";
    for (what, body) in [
        (
            "a config value",
            format!(
                "- name: team-a\n  version: v0.50.3\n  config:\n    feature-flags: {{enable-api-fields: \"{clear}\"}}\n"
            ),
        ),
        ("an unknown field", format!("- name: team-a\n  version: v0.50.3\n  \"x{clear}\": 1\n")),
        ("an instance name", format!("- name: \"team-{clear}\"\n  version: v0.50.3\n")),
    ] {
        let fleet = tmp.path().join("fleet.yaml");
        std::fs::write(
            &fleet,
            format!("apiVersion: tkn-multi.tekton.dev/v1alpha1\nkind: Fleet\ninstances:\n{body}"),
        )
        .unwrap();
        let out = Command::cargo_bin("tkn-multi")
            .unwrap()
            .env("TKN_MULTI_RELEASE_DIR", &releases)
            .env("TKN_MULTI_RELEASE_URL", crate::common::NO_DOWNLOADS)
            .args([
                "apply",
                "-f",
                &fleet.display().to_string(),
                "--dry-run",
                "--state",
                &s,
                "-v",
                "--color",
                "always",
            ])
            .output()
            .unwrap();
        let (stdout, stderr) =
            (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        for (stream, text) in [("stdout", &stdout), ("stderr", &stderr)] {
            // tkn-multi's own colours (`ESC [ … m`) only; no other escape, bell or carriage
            // return: text the printer's neutralising (unit-tested on its own) would leave as is.
            assert_eq!(
                tkn_multi::printer::neutralise(text, true),
                **text,
                "{what}: raw control characters on {stream}"
            );
        }
        // An error that quotes the value shows it escaped (a plan does not print values).
        if out.status.code() != Some(0) {
            assert!(stderr.contains("\\u{1b}[2J"), "{what}: shown escaped: {stderr}");
        }
    }
}

/// Issue "Hardening": the Flux tree goes through the same checked writer as `render
/// --output-dir`: a symlink planted in the tree is refused with nothing written through it, and a
/// cluster whose name would leave the tree is refused before anything is written.
#[test]
fn the_flux_tree_writes_only_inside_the_output_directory() {
    let releases = release_dir();
    let tmp = tempfile::tempdir().unwrap();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/examples/fleet-two-clusters.yaml");
    let render = |fleet: &str, out: &Path| {
        run(
            &releases,
            &[
                "render",
                "-f",
                fleet,
                "--gitops",
                "flux",
                "--output-dir",
                &out.display().to_string(),
            ],
        )
    };
    // A symlink where the tree's `flux/` directory goes.
    let out = tmp.path().join("tree");
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, out.join("flux")).unwrap();
    let (code, _, err) = render(example, &out);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("is a symlink or a file, and could lead outside --output-dir"), "{err}");
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0, "nothing written through it");
    // A cluster named to climb out of the tree.
    let text = std::fs::read_to_string(example).unwrap().replace("name: west", "name: ../../west");
    let fleet = tmp.path().join("climb.yaml");
    std::fs::write(&fleet, text).unwrap();
    let fresh = tmp.path().join("fresh");
    let (code, _, err) = render(&fleet.display().to_string(), &fresh);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("../../west"), "{err}");
    assert!(!fresh.exists() || std::fs::read_dir(&fresh).unwrap().count() == 0, "nothing written");
    assert!(!tmp.path().join("west").exists());
}
