//! Repository hygiene: module docs, import boundaries and output discipline, checked on the
//! source text so that a violation fails the build's tests rather than a review.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read src")
        .flatten()
        .map(|entry| entry.path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            out.push(path);
        }
    }
}

fn sources() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("read source");
            let relative = path
                .strip_prefix(root)
                .expect("under root")
                .to_string_lossy()
                .replace('\\', "/");
            (relative, text)
        })
        .collect()
}

/// Code lines only: comments and doc comments may mention anything.
fn code_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(str::trim_start)
        .filter(|line| !line.starts_with("//"))
}

#[test]
fn every_module_says_what_it_owns() {
    let missing: Vec<String> = sources()
        .into_iter()
        .filter(|(_, text)| !text.trim_start().starts_with("//!"))
        .map(|(path, _)| path)
        .collect();
    assert!(
        missing.is_empty(),
        "modules without a `//!` doc: {missing:?}"
    );
}

#[test]
fn emulator_and_store_do_not_depend_on_the_planner() {
    let forbidden = [
        "crate::plan",
        "crate::apply",
        "crate::manifest",
        "crate::render",
        "crate::convert",
        "crate::cli",
    ];
    let mut offenders = Vec::new();
    for (path, text) in sources() {
        if !(path.starts_with("src/emulator") || path.starts_with("src/store")) {
            continue;
        }
        for line in code_lines(&text) {
            if forbidden.iter().any(|module| line.contains(module)) {
                offenders.push(format!("{path}: {line}"));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "the emulator must depend only on the store and wire types: {offenders:#?}"
    );
}

#[test]
fn only_the_http_client_imports_reqwest() {
    let offenders: Vec<String> = sources()
        .into_iter()
        .filter(|(path, text)| {
            path != "src/live/http.rs" && code_lines(text).any(|line| line.contains("reqwest::"))
        })
        .map(|(path, _)| path)
        .collect();
    assert!(
        offenders.is_empty(),
        "reqwest used outside src/live/http.rs: {offenders:?}"
    );
}

#[test]
fn the_core_is_pure() {
    // The planner, renderers, model and conversion read no clock, touch no file, print nothing.
    let pure = [
        "src/plan",
        "src/render",
        "src/model.rs",
        "src/convert.rs",
        "src/wire.rs",
    ];
    let forbidden = [
        "std::fs",
        "tokio::",
        "SystemTime",
        "Instant::now",
        "println!",
        "eprintln!",
        "std::env",
    ];
    let mut offenders = Vec::new();
    for (path, text) in sources() {
        if !pure.iter().any(|prefix| path.starts_with(prefix)) {
            continue;
        }
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for line in code_lines(code) {
            if let Some(token) = forbidden.iter().find(|token| line.contains(*token)) {
                offenders.push(format!("{path}: `{token}` in {line}"));
            }
        }
    }
    assert!(offenders.is_empty(), "IO in the pure core: {offenders:#?}");
}

#[test]
fn only_the_cli_prints() {
    let mut offenders = Vec::new();
    for (path, text) in sources() {
        if path.starts_with("src/cli") || path == "src/main.rs" {
            continue;
        }
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for line in code_lines(code) {
            if line.contains("println!(") || line.contains("print!(") {
                offenders.push(format!("{path}: {line}"));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "printing outside src/cli: {offenders:#?}"
    );
}
