//! The module layers of `kling-mock`: a module may use the modules of its own layer and of the
//! layers below, never those above. Read from the sources (every `crate::<module>` path outside
//! comments and `#[cfg(test)]` modules), so a new upward import fails here.
//!
//! The imports that still point up are listed in [`KNOWN_UPWARD`]: the loops issue 15 is
//! removing (the engine keyed on kinds' types, kinds reaching for the whole shared state, the
//! state holding the whole configuration). The test also fails when one of them is gone, so that
//! the list only shrinks and always says what is left.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Layers, bottom first. `lib` and `main` sit on top of everything.
const LAYERS: &[&[&str]] = &[
    &["error", "clock", "ids", "churn"],
    &["wire"],
    &["auth", "media", "voices"],
    &["engine"],
    &["kinds"],
    &["control"],
    &["state", "persist"],
    &["api", "openapi", "tls"],
    &["config", "config_file", "app", "embed"],
    &["lib", "main"],
];

/// (module, the higher module it still uses): to be removed, not added to.
const KNOWN_UPWARD: &[(&str, &str)] =
    &[("engine", "kinds"), ("kinds", "state"), ("state", "config")];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// The source without `//` comments and without what follows `#[cfg(test)]`.
fn code_of(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or("");
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read src").flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn modules_import_only_their_own_layer_and_those_below() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut upward: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        let rel = f
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let module = rel
            .split('/')
            .next()
            .unwrap()
            .trim_end_matches(".rs")
            .to_string();
        let own = layer_of(&module).unwrap_or_else(|| {
            panic!("module {module} ({rel}) has no layer: add it to LAYERS (and lib.rs's Layout)")
        });
        let code = code_of(&std::fs::read_to_string(f).unwrap());
        for (at, _) in code.match_indices("crate::") {
            let dep: String = code[at + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if let Some(l) = layer_of(&dep)
                && l > own
            {
                upward
                    .entry((module.clone(), dep))
                    .or_default()
                    .insert(rel.clone());
            }
        }
    }
    let known: BTreeSet<(String, String)> = KNOWN_UPWARD
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    let new: Vec<_> = upward.iter().filter(|(k, _)| !known.contains(*k)).collect();
    assert!(
        new.is_empty(),
        "imports pointing up a layer (move the type down, or the code up): {new:?}"
    );
    let gone: Vec<_> = known.iter().filter(|k| !upward.contains_key(*k)).collect();
    assert!(
        gone.is_empty(),
        "no longer imported upward: remove from KNOWN_UPWARD: {gone:?}"
    );
}
