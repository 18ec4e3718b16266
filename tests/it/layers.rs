//! `scripts/lint-layers` fails for every kind of layer crossing the compiler lets through: each
//! case injects one forbidden line into a copy of the sources (`src/` and the core crate's) and
//! expects the lint to name it; one case adds a runtime to the core crate's dependencies. (A core
//! file that names a client, a runtime or a shell module does not compile: the core crate does
//! not depend on them.)

use std::path::{Path, PathBuf};
use std::process::Command;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

fn lint(root: &Path) -> (bool, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/lint-layers");
    let out = Command::new("bash").arg(script).arg(root).output().expect("bash runs");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn the_layer_lint_catches_every_forbidden_import() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (ok, text) = lint(repo);
    assert!(ok, "the tree itself passes: {text}");
    const CORE: &str = "crates/tkn-multi-core/src";
    let cases: &[(&str, &str, &str)] = &[
        ("crates/tkn-multi-core/src/plan/mod.rs", "use std::{fs, env};", "std::fs"),
        (
            "crates/tkn-multi-core/src/render/plan.rs",
            "use std::io::{self, stdout};",
            "std::io::stdout",
        ),
        (
            "crates/tkn-multi-core/src/names.rs",
            "fn pid() -> u32 { std::process::id() }",
            "std::process::id",
        ),
        ("crates/tkn-multi-core/src/release/parse.rs", "fn say() { println!(\"x\"); }", "println!"),
        (
            "crates/tkn-multi-core/src/split/mod.rs",
            "fn at() -> std::net::Ipv4Addr { todo!() }",
            "std::net::Ipv4Addr",
        ),
        ("src/apply/schedule.rs", "use fs_err as fs;", "fs_err"),
        ("src/apply/conditions.rs", "use tokio::time::{sleep, Duration};", "tokio::time::sleep"),
        ("src/apply/schedule.rs", "use crate::cluster::observe;", "crate::cluster::observe"),
        (
            "crates/tkn-multi-core/src/split/side.rs",
            "use super::rewrite::KNATIVE_EXCLUDE_KEY;",
            "files import each other in a circle: core:split::rbac, core:split::rewrite,",
        ),
        (
            "crates/tkn-multi-core/src/plan/graph.rs",
            "use super::Error;",
            "core:plan::graph imports upwards, from core:plan",
        ),
        ("src/cluster/mod.rs", "use crate::cli::args::KubeArgs;", "imports the shell"),
        ("src/apply/mod.rs", "use crate::converge::Live;", "imports the driver"),
    ];
    let base = std::env::temp_dir().join(format!("tkn-multi-layers-{}", std::process::id()));
    let copy = |root: &Path| {
        copy_dir(&repo.join("src"), &root.join("src"));
        copy_dir(&repo.join(CORE), &root.join(CORE));
    };
    for (i, (file, line, expect)) in cases.iter().enumerate() {
        let root: PathBuf = base.join(i.to_string());
        copy(&root);
        let path = root.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        // After the module's doc comment, before the first item.
        let at = text.find("\nuse ").or_else(|| text.find("\npub ")).unwrap_or(0);
        std::fs::write(&path, format!("{}\n{line}\n{}", &text[..at], &text[at..])).unwrap();
        let (ok, out) = lint(&root);
        assert!(!ok, "`{line}` in {file} passed the lint: {out}");
        assert!(out.contains(expect), "`{line}` in {file}: expected `{expect}` in: {out}");
    }
    // A runtime in the core crate's dependency tree: the manifests and the lock file, copied,
    // with tokio (already in the lock, so `cargo tree --offline` resolves it) added to the core.
    let root = base.join("tree");
    copy(&root);
    for f in [
        "Cargo.toml",
        "Cargo.lock",
        "crates/tkn-multi-core/Cargo.toml",
        "crates/tkn-multi-core/build.rs",
    ] {
        std::fs::copy(repo.join(f), root.join(f)).unwrap();
    }
    let manifest = root.join("crates/tkn-multi-core/Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replace("[dependencies]\n", "[dependencies]\ntokio = \"1\"\n"))
        .unwrap();
    let (ok, out) = lint(&root);
    assert!(!ok, "tokio in the core's tree passed the lint: {out}");
    assert!(out.contains("`tokio` is in the core crate's dependency tree"), "{out}");
    std::fs::remove_dir_all(&base).unwrap();
}
