//! Embeds every file of the repository's `compat-matrix/` into the binary (as `(file name, contents)` pairs), so the
//! matrix works offline and `--matrix-dir` can override it.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../compat-matrix");
    println!("cargo::rerun-if-changed={}", dir.display());
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| Path::new(n).extension().is_some_and(|e| e == "yaml"))
                .collect()
        })
        .unwrap_or_default();
    // The compatibility lab's evidence, as `evidence/<X>-on-<Y>.yaml`.
    let evidence = dir.join("evidence");
    println!("cargo::rerun-if-changed={}", evidence.display());
    if let Ok(rd) = std::fs::read_dir(&evidence) {
        names.extend(
            rd.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| Path::new(n).extension().is_some_and(|e| e == "yaml"))
                .map(|n| format!("evidence/{n}")),
        );
    }
    names.sort();
    let mut out = String::from("&[\n");
    for n in &names {
        let path = dir.join(n);
        println!("cargo::rerun-if-changed={}", path.display());
        let _ = writeln!(out, "    ({n:?}, include_str!({:?})),", path.display().to_string());
    }
    out.push_str("]\n");
    let dest = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("embedded_matrix.rs");
    std::fs::write(dest, out).expect("OUT_DIR is writable");
}
