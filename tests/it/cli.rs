//! Tests of the built binary, offline: the user-facing contract (output, errors, exit codes).

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use assert_cmd::Command;
use tkn_multi::release::Object;

use crate::common::{release_dir, release_path};

/// The binary with a clean environment: no inherited release dir, cache or URL settings.
fn tkn(cache: &Path) -> Command {
    crate::common::tkn_multi(None, cache)
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

fn docs(yaml: &str) -> Vec<Object> {
    tkn_multi::yaml::parse_documents(yaml)
        .unwrap()
        .into_iter()
        .map(|v| Object::from_map(v.as_object().unwrap().clone()))
        .collect()
}

#[test]
fn render_prints_shared_then_instance_manifests() {
    let file = release_path("v0.50.3");
    let tmp = tempfile::tempdir().unwrap();
    let out = tkn(tmp.path())
        .args(["render", "v0.50.3", "--namespace", "team-a", "--release-file"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let objects = docs(&stdout(&out));
    let part = |o: &Object| o.label("tkn-multi.tekton.dev/part").unwrap().to_owned();
    let first_instance = objects.iter().position(|o| part(o) == "instance").unwrap();
    assert!(objects[..first_instance].iter().all(|o| part(o) == "shared"));
    assert!(objects[first_instance..].iter().all(|o| part(o) == "instance"));
    assert!(objects.iter().any(|o| o.kind() == "Namespace" && o.name() == "tekton-team-a"));
    assert!(objects.iter().any(|o| o.kind() == "Namespace" && o.name() == "tekton-shared"));
    // Same input, byte-identical output.
    let again = tkn(tmp.path())
        .args(["render", "v0.50.3", "--namespace", "team-a", "--release-file"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.stdout, again.stdout);
}

#[test]
fn render_honours_instance_and_control_plane_flags() {
    let file = release_path("v1.9.0");
    let tmp = tempfile::tempdir().unwrap();
    let out = tkn(tmp.path())
        .args([
            "render",
            "v1.9.0",
            "-n",
            "apps",
            "--instance",
            "ci",
            "--control-plane-namespace",
            "ci-system",
        ])
        .args(["--part", "instance", "--release-file"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let objects = docs(&stdout(&out));
    assert!(objects.iter().all(|o| o.label("tkn-multi.tekton.dev/instance") == Some("ci")));
    let ctrl = objects
        .iter()
        .find(|o| o.kind() == "Deployment" && o.name() == "tekton-pipelines-controller")
        .unwrap();
    assert_eq!(ctrl.namespace(), Some("ci-system"));
    let args = ctrl.pointer("/spec/template/spec/containers/0/args").unwrap().as_array().unwrap();
    assert_eq!(
        args[args.len() - 2..],
        [serde_json::json!("-namespace"), serde_json::json!("apps")]
    );
    assert!(objects.iter().any(|o| o.name() == "webhook.ci.pipeline.tekton.dev"));
}

#[test]
fn render_writes_a_kfmt_tree() {
    let file = release_path("v0.44.2");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("tree");
    let out = tkn(tmp.path())
        .args(["render", "v0.44.2", "--namespace", "team-a", "--output-dir"])
        .arg(&dir)
        .arg("--release-file")
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).is_empty(), "nothing on stdout with --output-dir");
    assert!(dir.join("cluster/customresourcedefinition-tasks.tekton.dev.yaml").is_file());
    assert!(
        dir.join("cluster/mutatingwebhookconfiguration-webhook.team-a.pipeline.tekton.dev.yaml")
            .is_file()
    );
    assert!(
        dir.join("namespaces/tekton-team-a/deployment-tekton-pipelines-controller.yaml").is_file()
    );
    assert!(
        dir.join("namespaces/tekton-shared/deployment-tekton-pipelines-webhook.yaml").is_file()
    );
    // One object per file, and as many files as objects rendered to stdout.
    let streamed = tkn(tmp.path())
        .args(["render", "v0.44.2", "--namespace", "team-a", "--release-file"])
        .arg(&file)
        .output()
        .unwrap();
    let count = docs(&stdout(&streamed)).len();
    let mut files = 0;
    for sub in [
        "cluster",
        "namespaces/tekton-team-a",
        "namespaces/tekton-shared",
        "namespaces/team-a",
        "namespaces/tekton-shared-resolvers",
    ] {
        if let Ok(rd) = std::fs::read_dir(dir.join(sub)) {
            for e in rd {
                let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
                assert_eq!(docs(&text).len(), 1);
                files += 1;
            }
        }
    }
    assert_eq!(files, count);
}

#[test]
fn split_reports_are_stable() {
    let _ = release_dir();
    let tmp = tempfile::tempdir().unwrap();
    for v in ["v0.22.0", "v0.44.2", "v1.9.0"] {
        let out = tkn(tmp.path())
            .args(["split", v, "--release-file"])
            .arg(release_path(v))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        insta::assert_snapshot!(format!("split-{v}"), stdout(&out));
    }
    let out = tkn(tmp.path())
        .args(["split", "v0.50.3", "-o", "json", "--release-file"])
        .arg(release_path("v0.50.3"))
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["formatVersion"], "1.0");
    assert_eq!(json["capabilities"]["admissionNameEnv"], true);
    assert_eq!(json["objects"][0]["part"], "both");
}

#[test]
fn malformed_yaml_is_a_clear_user_error() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.yaml");
    std::fs::write(&bad, "apiVersion: v1\nkind: [unclosed\n").unwrap();
    let out = tkn(tmp.path())
        .args(["render", "v0.50.3", "-n", "team-a", "--release-file"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.starts_with("error: cannot use Tekton Pipelines v0.50.3\n"), "{err}");
    assert!(
        err.contains(&format!("caused by: release `{}` is not valid YAML", bad.display())),
        "{err}"
    );
    assert!(stdout(&out).is_empty());
}

#[test]
fn a_release_file_of_another_version_is_refused() {
    let file = release_path("v0.44.2");
    let tmp = tempfile::tempdir().unwrap();
    let out = tkn(tmp.path())
        .args(["render", "v0.50.3", "-n", "team-a", "--release-file"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let want = format!(
        "error: cannot use Tekton Pipelines v0.50.3\n  caused by: release `{}` is Tekton Pipelines v0.44.2, not v0.50.3\n\n\
         hint: the file is release v0.44.2: ask for that version, or pass the right file\n",
        file.display()
    );
    assert_eq!(stderr(&out), want);
}

#[test]
fn bad_names_and_versions_are_rejected_by_the_parser() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tkn(tmp.path()).args(["render", "latest", "-n", "team-a"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "usage errors are the user's: exit 1");
    assert!(stderr(&out).contains("`latest` is not a Tekton version"), "{}", stderr(&out));
    let out = tkn(tmp.path()).args(["render", "v0.50.3", "-n", "Team_A"]).output().unwrap();
    assert!(stderr(&out).contains("`Team_A` is not a valid namespace name"), "{}", stderr(&out));
    let out = tkn(tmp.path()).args(["render", "v0.50.3", "-n", "shared"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("`shared` is reserved for the shared part"), "{}", stderr(&out));
}

#[test]
fn an_unknown_version_offline_names_everything_tried() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tkn(tmp.path())
        .args(["render", "v9.9.9", "-n", "team-a", "--offline", "--release-dir"])
        .arg(tmp.path().join("nowhere"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.starts_with("error: cannot obtain Tekton Pipelines v9.9.9; tried:\n"), "{err}");
    assert!(err.contains("  - release directory: "), "{err}");
    assert!(err.contains("  - cache: "), "{err}");
    assert!(err.contains("  - download: disabled (--offline)"), "{err}");
    assert!(err.contains("hint: pass `--release-file <FILE>`"), "{err}");
}

/// Serves files from `root` over HTTP on 127.0.0.1 for a bounded number of requests; returns
/// the base URL and a request counter.
fn serve(root: std::path::PathBuf, max_requests: usize) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let counter = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(max_requests) {
            let Ok(mut stream) = stream else { continue };
            counter.fetch_add(1, Ordering::SeqCst);
            let mut line = String::new();
            BufReader::new(&stream).read_line(&mut line).unwrap();
            let path =
                line.split_whitespace().nth(1).unwrap_or("/").trim_start_matches('/').to_owned();
            match std::fs::read(root.join(&path)) {
                Ok(body) => {
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = stream.write_all(head.as_bytes());
                    let _ = stream.write_all(&body);
                }
                Err(_) => {
                    let _ = stream.write_all(
                        b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                    );
                }
            }
        }
    });
    (format!("http://{addr}"), count)
}

#[test]
fn fetch_downloads_once_then_uses_the_verified_cache() {
    let dir = release_dir();
    let tmp = tempfile::tempdir().unwrap();
    let (base, hits) = serve(dir.join("pipeline"), 10);
    let url = format!("{base}/{{version}}.yaml");
    let out = tkn(tmp.path()).args(["fetch", "v0.44.2", "--release-url", &url]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let cached = tmp.path().join("releases/pipeline/v0.44.2/release.yaml");
    assert_eq!(
        std::fs::read(&cached).unwrap(),
        std::fs::read(dir.join("pipeline/v0.44.2.yaml")).unwrap()
    );
    let sidecar =
        std::fs::read_to_string(tmp.path().join("releases/pipeline/v0.44.2/release.yaml.sha256"))
            .unwrap();
    assert!(stdout(&out).contains(sidecar.split_whitespace().next().unwrap()));
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    // Offline now works from the cache, without another request.
    let out =
        tkn(tmp.path()).args(["render", "v0.44.2", "-n", "team-a", "--offline"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    // A tampered cache is detected, not used.
    let mut bytes = std::fs::read(&cached).unwrap();
    bytes.extend_from_slice(b"\n# tampered\n");
    std::fs::write(&cached, bytes).unwrap();
    let out =
        tkn(tmp.path()).args(["render", "v0.44.2", "-n", "team-a", "--offline"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("sha256 mismatch: recorded"), "{}", stderr(&out));
    // An unknown version on the server is a 404, named in the error.
    let out = tkn(tmp.path()).args(["fetch", "v0.99.0", "--release-url", &url]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("v0.99.0.yaml: HTTP 404 Not Found"), "{}", stderr(&out));
}

/// Issue "Hardening" (cache poisoning): a download is cached only once it is accepted as the
/// version asked for; another version's body, an HTML page, a body over the budget and a URL
/// without `{version}` leave the cache empty, and a good URL then works. URLs with credentials
/// are redacted in every message.
#[test]
fn only_verified_downloads_reach_the_cache() {
    let dir = release_dir();
    let tmp = tempfile::tempdir().unwrap();
    let site = tmp.path().join("site");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::copy(dir.join("pipeline/v0.56.0.yaml"), site.join("v0.44.2.yaml")).unwrap();
    std::fs::write(site.join("page.yaml"), "<html><body>sign in</body></html>\n").unwrap();
    std::fs::copy(dir.join("pipeline/v0.56.0.yaml"), site.join("fixed.yaml")).unwrap();
    let big = std::fs::File::create(site.join("big.yaml")).unwrap();
    big.set_len(tkn_multi::intake::MAX_BYTES as u64 + 1).unwrap();
    std::fs::copy(dir.join("pipeline/v0.44.2.yaml"), site.join("good-v0.44.2.yaml")).unwrap();
    let (base, _) = serve(site, 20);
    let cached = tmp.path().join("releases/pipeline/v0.44.2/release.yaml");
    for (url, why) in [
        (format!("{base}/{{version}}.yaml"), "is Tekton Pipelines v0.56.0, not v0.44.2"),
        (format!("{base}/page.yaml"), "is not a Kubernetes object"),
        (format!("{base}/big.yaml"), "over the release budget"),
        (format!("{base}/fixed.yaml"), "is Tekton Pipelines v0.56.0, not v0.44.2"),
    ] {
        let out =
            tkn(tmp.path()).args(["fetch", "v0.44.2", "--release-url", &url]).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{url}");
        assert!(stderr(&out).contains(why), "{url}: {}", stderr(&out));
        assert!(!cached.exists(), "{url}: nothing cached");
    }
    let good = format!("{base}/good-{{version}}.yaml");
    let out = tkn(tmp.path()).args(["fetch", "v0.44.2", "--release-url", &good]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(cached.exists());
    // A cached entry that is no longer accepted is reported with its path and replaced by the
    // next verified download.
    std::fs::write(&cached, b"kind: [broken\n").unwrap();
    let sum = tkn_multi::release::fetch::sha256_hex(b"kind: [broken\n");
    std::fs::write(cached.with_extension("yaml.sha256"), format!("{sum}  release.yaml\n")).unwrap();
    let out = tkn(tmp.path()).args(["render", "v0.44.2", "-n", "a", "--offline"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!("cache {}: refused", cached.display())),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("let the next verified download replace it"), "{}", stderr(&out));
    let out = tkn(tmp.path()).args(["fetch", "v0.44.2", "--release-url", &good]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(&cached).unwrap(),
        std::fs::read(dir.join("pipeline/v0.44.2.yaml")).unwrap()
    );
    // Credentials in the URL never show.
    let secret = format!(
        "{}/{{version}}.yaml?access_token=SECRET",
        base.replace("http://", "http://user:PASSWORD@")
    );
    let out = tkn(tmp.path())
        .args(["fetch", "v0.99.0", "-v", "--release-url", &secret])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(!err.contains("SECRET") && !err.contains("PASSWORD"), "{err}");
    assert!(err.contains("http://***@127.0.0.1"), "{err}");
}

#[test]
fn bundles_round_trip_and_tampering_changes_nothing() {
    let dir = release_dir();
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join("tekton.tar.gz");
    let src_cache = tmp.path().join("src-cache");
    let out = tkn(&src_cache)
        .args(["bundle", "export", "v0.41.2", "v1.9.0", "--offline", "-o"])
        .arg(&bundle)
        .arg("--release-dir")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let air = tmp.path().join("airgap-cache");
    let out = tkn(&air).args(["bundle", "import"]).arg(&bundle).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    for v in ["v0.41.2", "v1.9.0"] {
        assert_eq!(
            std::fs::read(air.join(format!("releases/pipeline/{v}/release.yaml"))).unwrap(),
            std::fs::read(dir.join(format!("pipeline/{v}.yaml"))).unwrap()
        );
    }
    let out = tkn(&air).args(["render", "v1.9.0", "-n", "team-a", "--offline"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));

    // Tamper: rebuild the archive with one release changed but the manifest kept.
    let tampered = tmp.path().join("tampered.tar.gz");
    {
        let file = std::fs::File::open(&bundle).unwrap();
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
        let out = std::fs::File::create(&tampered).unwrap();
        let mut builder =
            tar::Builder::new(flate2::write::GzEncoder::new(out, flate2::Compression::fast()));
        for e in archive.entries().unwrap() {
            let mut e = e.unwrap();
            let name = e.path().unwrap().to_string_lossy().into_owned();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut data).unwrap();
            if name.ends_with("v1.9.0.yaml") {
                data.extend_from_slice(b"\n# tampered\n");
            }
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            builder.append_data(&mut h, &name, data.as_slice()).unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap();
    }
    let fresh = tmp.path().join("fresh-cache");
    let out = tkn(&fresh).args(["bundle", "import"]).arg(&tampered).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("`pipeline/v1.9.0.yaml` has sha256"), "{}", stderr(&out));
    assert!(
        !fresh.join("releases/pipeline/v0.41.2/release.yaml").exists(),
        "nothing imported from a bad bundle"
    );
}

/// Writes a bundle of (name, data) entries, the manifest first when given.
fn bundle_of(path: &Path, entries: &[(&str, &[u8])]) {
    let out = std::fs::File::create(path).unwrap();
    let mut builder =
        tar::Builder::new(flate2::write::GzEncoder::new(out, flate2::Compression::fast()));
    for (name, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        builder.append_data(&mut h, name, *data).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap();
}

/// Issue "Hardening": bundles are untrusted input too. A damaged archive is the user's error
/// (exit 1); a version listed twice and an entry over the budget are refused; an unlisted entry is
/// skipped without being read into memory; a re-import that changes a cached release says so.
#[test]
fn bundle_import_is_bounded_and_says_what_it_replaces() {
    let dir = release_dir();
    let tmp = tempfile::tempdir().unwrap();
    let v041 = std::fs::read(dir.join("pipeline/v0.41.2.yaml")).unwrap();
    let sum = tkn_multi::release::fetch::sha256_hex(&v041);
    let manifest = |entries: &[(&str, &str)]| {
        let list: Vec<String> = entries
            .iter()
            .map(|(v, s)| format!(r#"{{"component":"pipeline","version":"{v}","path":"pipeline/{v}.yaml","sha256":"{s}"}}"#))
            .collect();
        format!(r#"{{"formatVersion":"1","releases":[{}]}}"#, list.join(","))
    };
    let import = |bundle: &Path, cache: &Path| {
        tkn(cache).args(["bundle", "import"]).arg(bundle).output().unwrap()
    };
    // An unlisted entry of 64 MiB (zeros, a few KB compressed) is skipped.
    let good = tmp.path().join("good.tar.gz");
    let zeros = vec![0u8; 64 << 20];
    let m = manifest(&[("v0.41.2", &sum)]);
    bundle_of(
        &good,
        &[
            ("tkn-multi-bundle.json", m.as_bytes()),
            ("junk/zeros", &zeros),
            ("pipeline/v0.41.2.yaml", &v041),
        ],
    );
    let cache = tmp.path().join("cache");
    let out = import(&good, &cache);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("replaced"));
    // The same version with other (valid) bytes: replaced, and said.
    let mut other = v041.clone();
    other.extend_from_slice(b"\n# a comment\n");
    let other_sum = tkn_multi::release::fetch::sha256_hex(&other);
    let changed = tmp.path().join("changed.tar.gz");
    let m = manifest(&[("v0.41.2", &other_sum)]);
    bundle_of(
        &changed,
        &[("tkn-multi-bundle.json", m.as_bytes()), ("pipeline/v0.41.2.yaml", &other)],
    );
    let out = import(&changed, &cache);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("replaced the cached v0.41.2 (it had sha256 {sum})")),
        "{}",
        stderr(&out)
    );
    // Listed twice.
    let twice = tmp.path().join("twice.tar.gz");
    let m = manifest(&[("v0.41.2", &sum), ("v0.41.2", &sum)]);
    bundle_of(&twice, &[("tkn-multi-bundle.json", m.as_bytes()), ("pipeline/v0.41.2.yaml", &v041)]);
    let out = import(&twice, &tmp.path().join("c2"));
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("lists v0.41.2 twice"), "{}", stderr(&out));
    // A listed entry over the budget.
    let huge = tmp.path().join("huge.tar.gz");
    let big = vec![b'#'; tkn_multi::intake::MAX_BYTES + 1];
    let m = manifest(&[("v0.41.2", &sum)]);
    bundle_of(&huge, &[("tkn-multi-bundle.json", m.as_bytes()), ("pipeline/v0.41.2.yaml", &big)]);
    let out = import(&huge, &tmp.path().join("c3"));
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("is over the release budget"), "{}", stderr(&out));
    // Truncated: the user's input, exit 1, nothing written.
    let bytes = std::fs::read(&good).unwrap();
    let cut = tmp.path().join("cut.tar.gz");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let c4 = tmp.path().join("c4");
    let out = import(&cut, &c4);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot be read: it is missing, damaged or not a tar.gz"),
        "{}",
        stderr(&out)
    );
    assert!(!c4.join("releases").exists());
}

#[test]
fn cli_reference_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/cli.md");
    let want = tkn_multi::cli::reference::markdown();
    if std::env::var_os("TKN_MULTI_UPDATE_DOCS").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "docs/cli.md is out of date: run `TKN_MULTI_UPDATE_DOCS=1 cargo test cli_reference`"
    );
}

#[test]
fn the_committed_tektonfleet_crd_is_what_the_types_generate() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests/crd.yaml");
    let cache = tempfile::tempdir().unwrap();
    let out = tkn(cache.path()).args(["operator", "crd"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let want = stdout(&out);
    if std::env::var_os("TKN_MULTI_UPDATE_DOCS").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "manifests/crd.yaml is out of date: run `TKN_MULTI_UPDATE_DOCS=1 cargo test tektonfleet_crd`"
    );
    // One schema: the CRD's spec is the fleet file's body, with its names checked.
    let crd = &tkn_multi::yaml::parse_documents(&want).unwrap()[0];
    let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
    let instance = &spec["properties"]["instances"]["items"];
    assert_eq!(instance["required"], serde_json::json!(["name", "version"]));
    assert_eq!(instance["properties"]["name"]["maxLength"], 40);
    assert_eq!(
        spec["properties"]["shared"]["properties"]["mode"]["enum"],
        serde_json::json!(["install", "skip"])
    );
    assert_eq!(crd["spec"]["scope"], "Cluster");
}

#[test]
fn operator_run_refuses_a_release_file_before_connecting() {
    let cache = tempfile::tempdir().unwrap();
    let out = tkn(cache.path())
        .args(["operator", "run", "--release-file", "x.yaml", "--kubeconfig", "/nonexistent"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("use --release-dir"), "{}", stderr(&out));
}

#[test]
fn completions_and_man_pages_come_from_the_real_flags() {
    let cache = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let out = tkn(cache.path()).args(["completion", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
        let script = stdout(&out);
        assert!(script.contains("uninstall") && script.contains("update-shared"), "{shell}");
    }
    let out = tkn(cache.path()).args(["completion", "tcsh"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "an unknown shell is a usage error");
    let out = tkn(cache.path()).args(["man", "install"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let page = stdout(&out);
    assert!(page.contains(".TH tkn-multi-install 1"), "{page}");
    assert!(page.contains("update\\-shared"), "the page lists the flags: {page}");
    let out = tkn(cache.path()).args(["man", "nope"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no command `nope`; commands: render"), "{}", stderr(&out));
}

#[test]
fn plans_are_coloured_only_when_asked_or_on_a_terminal_and_never_with_no_color() {
    let dir = release_dir();
    let cache = tempfile::tempdir().unwrap();
    let state = cache.path().join("empty.yaml");
    std::fs::write(&state, "formatVersion: \"1\"\n").unwrap();
    let plan = |extra: &[&str], no_color: Option<&str>| {
        let mut c = tkn(cache.path());
        c.env("TKN_MULTI_RELEASE_DIR", &dir).env_remove("NO_COLOR");
        if let Some(v) = no_color {
            c.env("NO_COLOR", v);
        }
        let state = state.to_str().unwrap();
        let out = c
            .args(["install", "v0.50.3", "-n", "team-a", "--dry-run", "--state", state])
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    let coloured = plan(&["--color", "always"], None);
    assert!(coloured.contains("\x1b[32m  +   Namespace/team-a\x1b[0m"), "{coloured}");
    assert!(!plan(&[], None).contains('\x1b'), "a pipe gets no colour");
    assert!(!plan(&["--color", "never"], None).contains('\x1b'));
    assert!(!plan(&["--color", "auto"], Some("1")).contains('\x1b'));
    assert!(plan(&["--color", "always"], Some("1")).contains('\x1b'), "`always` is explicit");
    // The colour is only on the marks' lines: without the codes the text is the plain plan.
    assert_eq!(coloured.replace("\x1b[32m", "").replace("\x1b[0m", ""), plan(&[], None));
}

#[test]
fn verbose_timings_are_text_lines_or_with_json_output_json_lines_and_stdout_stays_one_document() {
    let dir = release_dir();
    let cache = tempfile::tempdir().unwrap();
    let state = cache.path().join("empty.yaml");
    std::fs::write(&state, "formatVersion: \"1\"\n").unwrap();
    let state = state.to_str().unwrap();
    let run = |extra: &[&str]| {
        let out = tkn(cache.path())
            .env("TKN_MULTI_RELEASE_DIR", &dir)
            .args(["install", "v0.50.3", "-n", "team-a", "--dry-run", "--state", state])
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        out
    };
    let json = run(&["-v", "-o", "json"]);
    let plan: serde_json::Value = serde_json::from_slice(&json.stdout).expect("one JSON document");
    assert!(plan["steps"].as_array().is_some_and(|s| !s.is_empty()), "{plan}");
    let phases: Vec<serde_json::Value> = stderr(&json)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let names: Vec<&str> = phases.iter().filter_map(|p| p["phase"].as_str()).collect();
    // A saved state is not locked and nothing is executed: observe and plan only.
    assert_eq!(names, ["observe", "plan"], "{}", stderr(&json));
    assert!(phases.iter().all(|p| p["seconds"].as_f64().is_some_and(|s| s >= 0.0)));
    let text = stderr(&run(&["-v"]));
    assert!(text.contains("timings: observe ") && text.contains("timings: plan "), "{text}");
    assert!(!text.contains("{\"phase\""), "{text}");
    assert!(!stderr(&run(&["-o", "json"])).contains("phase"), "only with -v");
}

#[test]
fn status_takes_the_same_output_flag_as_every_other_command() {
    let cache = tempfile::tempdir().unwrap();
    for bad in [&["status", "a", "-o", "xml"][..], &["status", "a", "--json", "-o", "yaml"]] {
        let out = tkn(cache.path()).args(bad).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{bad:?}: {}", stderr(&out));
    }
}

/// Issue "Hardening": each class of docs/exit-codes.md, bundles and network included, exits
/// with its documented code.
#[test]
fn every_documented_error_class_has_its_exit_code() {
    let dir = release_dir();
    let tmp = tempfile::tempdir().unwrap();
    let p = |name: &str| tmp.path().join(name).display().to_string();
    std::fs::write(p("empty.yaml"), "formatVersion: \"1\"\n").unwrap();
    std::fs::write(p("bad.yaml"), "instances: {oops\n").unwrap();
    std::fs::write(p("cut.tar.gz"), [0x1f, 0x8b, 0x08, 0x00, 0x00]).unwrap();
    std::fs::write(
        p("kubeconfig"),
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: 'https://127.0.0.1:9', insecure-skip-tls-verify: true}\nusers:\n- name: u\n  user: {token: x}\ncontexts:\n- name: c\n  context: {cluster: c, user: u}\ncurrent-context: c\n",
    )
    .unwrap();
    let rd = dir.display().to_string();
    let cases: &[(&[&str], i32)] = &[
        (
            &[
                "install",
                "v0.56.0",
                "-n",
                "default",
                "--dry-run",
                "--state",
                &p("empty.yaml"),
                "--release-dir",
                &rd,
            ],
            1,
        ),
        (&["install", "v0.56.0", "-n", "a", "--state", &p("empty.yaml"), "--release-dir", &rd], 1),
        (&["install", "latest", "-n", "a"], 1),
        (&["install", "v0.56.0", "--no-such-flag"], 1),
        (&["apply", "-f", &p("bad.yaml"), "--dry-run", "--state", &p("empty.yaml")], 1),
        (&["render", "v9.9.9", "-n", "a", "--offline"], 1),
        (&["bundle", "import", &p("cut.tar.gz")], 1),
        (&["bundle", "import", &p("does-not-exist.tar.gz")], 1),
        (&["list", "--kubeconfig", &p("kubeconfig")], 2),
        (
            &[
                "install",
                "v0.56.0",
                "-n",
                "a",
                "--yes",
                "--kubeconfig",
                &p("kubeconfig"),
                "--release-dir",
                &rd,
            ],
            2,
        ),
    ];
    for (args, want) in cases {
        let out = tkn(tmp.path()).args(*args).output().unwrap();
        assert_eq!(out.status.code(), Some(*want), "{args:?}: {}", stderr(&out));
        assert!(out.stdout.is_empty(), "{args:?}: nothing on stdout");
    }
}
