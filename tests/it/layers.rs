//! `scripts/lint-layers` fails for every kind of layer crossing: each case injects one forbidden
//! line into a copy of `src/` and expects the lint to name it.

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
    let cases: &[(&str, &str, &str)] = &[
        ("plan/mod.rs", "use std::{fs, env};", "std::fs"),
        ("split/mod.rs", "use kube::Client;", "kube::Client"),
        ("render/plan.rs", "use std::io::{self, stdout};", "std::io::stdout"),
        ("matrix/check.rs", "use crate::cluster::observe;", "crate::cluster::observe"),
        ("names.rs", "fn pid() -> u32 { std::process::id() }", "std::process::id"),
        ("yaml.rs", "use super::cli::exit::ExitStatus;", "crate::cli::exit::ExitStatus"),
        ("plan/state.rs", "use crate::printer::Printer;", "crate::printer::Printer"),
        ("release/parse.rs", "fn say() { println!(\"x\"); }", "println!"),
        ("plan/graph.rs", "use tokio::time::{sleep, Duration};", "tokio::time::sleep"),
        ("apply/schedule.rs", "use fs_err as fs;", "fs_err"),
        ("cluster/mod.rs", "use crate::cli::args::KubeArgs;", "imports the shell"),
        ("apply/mod.rs", "use crate::converge::Live;", "imports the driver"),
    ];
    let base = std::env::temp_dir().join(format!("tkn-multi-layers-{}", std::process::id()));
    for (i, (file, line, expect)) in cases.iter().enumerate() {
        let root: PathBuf = base.join(i.to_string());
        copy_dir(&repo.join("src"), &root.join("src"));
        let path = root.join("src").join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        // After the module's doc comment, before the first item.
        let at = text.find("\nuse ").or_else(|| text.find("\npub ")).unwrap_or(0);
        std::fs::write(&path, format!("{}\n{line}\n{}", &text[..at], &text[at..])).unwrap();
        let (ok, out) = lint(&root);
        assert!(!ok, "`{line}` in {file} passed the lint: {out}");
        assert!(out.contains(expect), "`{line}` in {file}: expected `{expect}` in: {out}");
    }
    std::fs::remove_dir_all(&base).unwrap();
}
