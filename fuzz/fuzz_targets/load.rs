//! Fuzz target: loading any bytes as a manifest file must not panic, and every diagnostic
//! must have a place and render.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let loaded = pzctl::manifest::load_inputs(vec![("fuzz.yaml".to_owned(), data.to_vec())]);
    for diagnostic in &loaded.diagnostics {
        assert!(diagnostic.line >= 1 && diagnostic.column >= 1);
    }
    let _ = pzctl::diagnostic::render_text(&loaded.diagnostics, &loaded.sources, false);
    let _ = pzctl::diagnostic::render_json(&loaded.diagnostics);
});
