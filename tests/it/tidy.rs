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

/// The code lines of the files under `folders` that name one of the `forbidden` modules.
fn imports_under(folders: &[&str], forbidden: &[&str]) -> Vec<String> {
    let mut offenders = Vec::new();
    for (path, text) in sources() {
        if !folders.iter().any(|folder| path.starts_with(folder)) {
            continue;
        }
        for line in code_lines(&text) {
            if forbidden.iter().any(|module| line.contains(module)) {
                offenders.push(format!("{path}: {line}"));
            }
        }
    }
    offenders
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
    let offenders = imports_under(&["src/emulator", "src/store"], &forbidden);
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
    // The planner, renderers, model, conversion, export, diagnostics, lowering and schema
    // validation read no clock, touch no file, print nothing.
    let pure = [
        "src/plan",
        "src/render",
        "src/model.rs",
        "src/convert.rs",
        "src/wire.rs",
        "src/export.rs",
        "src/diagnostic.rs",
        "src/manifest/lower.rs",
        "src/manifest/schema.rs",
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

#[test]
fn only_the_cli_uses_anyhow() {
    let offenders: Vec<String> = sources()
        .into_iter()
        .filter(|(path, text)| {
            !(path.starts_with("src/cli") || path == "src/main.rs")
                && code_lines(text).any(|line| line.contains("anyhow"))
        })
        .map(|(path, _)| path)
        .collect();
    assert!(
        offenders.is_empty(),
        "anyhow outside src/cli (modules return thiserror enums callers can match): {offenders:?}"
    );
}

#[test]
fn raw_manifest_types_stay_in_the_manifest_module() {
    let offenders: Vec<String> = sources()
        .into_iter()
        .filter(|(path, text)| {
            !path.starts_with("src/manifest")
                && code_lines(text).any(|line| line.contains("manifest::raw"))
        })
        .map(|(path, _)| path)
        .collect();
    assert!(
        offenders.is_empty(),
        "`manifest::raw` used outside src/manifest: {offenders:?}"
    );
}

#[test]
fn the_manifest_module_does_not_depend_on_what_follows_it() {
    // Loading (with schema generation and validation inside it) feeds the planner; it never
    // reads live state, plans or prints.
    let forbidden = [
        "crate::plan",
        "crate::apply",
        "crate::live",
        "crate::render",
        "crate::cli",
        "crate::export",
        "crate::store",
        "crate::emulator",
    ];
    let offenders = imports_under(&["src/manifest"], &forbidden);
    assert!(offenders.is_empty(), "{offenders:#?}");
}

#[test]
fn the_live_layer_does_not_depend_on_its_callers() {
    // The client, the retry layer and the pacing tell what they do through
    // `live::observer`; they never reach up into the planner, the applier or the printing.
    let forbidden = [
        "crate::plan",
        "crate::apply",
        "crate::cli",
        "crate::render",
        "crate::manifest",
        "crate::export",
        "crate::convert",
    ];
    let offenders = imports_under(&["src/live"], &forbidden);
    assert!(offenders.is_empty(), "{offenders:#?}");
}

#[test]
fn the_applier_builds_no_request_body() {
    // Request bodies come from `convert`, the code the planner compares with.
    let mut offenders = Vec::new();
    for (path, text) in sources() {
        if !path.starts_with("src/apply") || path.ends_with("tests.rs") {
            continue;
        }
        for line in code_lines(&text) {
            let body = line.split("wire::").skip(1).any(|rest| {
                let name: String = rest
                    .chars()
                    .take_while(char::is_ascii_alphanumeric)
                    .collect();
                (name.ends_with("Input") || name == "Priority")
                    && rest[name.len()..].trim_start().starts_with('{')
            });
            if body {
                offenders.push(format!("{path}: {line}"));
            }
        }
    }
    assert!(offenders.is_empty(), "{offenders:#?}");
}

#[test]
fn only_the_diagnostic_module_builds_diagnostics_field_by_field() {
    // Everything else goes through `Diagnostic::error`/`warning`, `at` and `with_help`.
    let mut offenders = Vec::new();
    for (path, text) in sources() {
        if path == "src/diagnostic.rs" {
            continue;
        }
        for line in code_lines(&text) {
            if line.contains("Diagnostic {")
                && !line.contains("struct Diagnostic")
                && !line.contains("-> Diagnostic {")
            {
                offenders.push(format!("{path}: {line}"));
            }
        }
    }
    assert!(offenders.is_empty(), "{offenders:#?}");
}

#[test]
fn only_the_cli_decides_about_colour_and_exits() {
    let mut offenders = Vec::new();
    for (path, text) in sources() {
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for line in code_lines(code) {
            if line.contains("env::var") && ["COLOR", "TERM"].iter().any(|name| line.contains(name))
            {
                offenders.push(format!("{path}: {line}"));
            }
            if line.contains("ExitCode::from") && !path.starts_with("src/cli") {
                offenders.push(format!("{path}: {line}"));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "colour is decided once, by `cli::output::colors`; exit codes by `cli`: {offenders:#?}"
    );
}

#[test]
fn one_atomic_write() {
    // Temporary file, sync, rename: `store::write_atomically` is the one copy.
    let offenders: Vec<String> = sources()
        .into_iter()
        .filter(|(path, text)| {
            path != "src/store/persist.rs"
                && code_lines(text).any(|line| {
                    line.contains("NamedTempFile")
                        || line.contains(".persist(")
                        || line.contains("fs::rename(")
                })
        })
        .map(|(path, _)| path)
        .collect();
    assert!(
        offenders.is_empty(),
        "temporary-file-and-rename outside store::write_atomically: {offenders:?}"
    );
}
