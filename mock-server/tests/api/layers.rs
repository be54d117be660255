//! The module layers of `kling-mock`: a module may use the modules of its own layer and of the
//! layers below, never those above. Read from the sources (every `crate::<module>` path outside
//! comments and `#[cfg(test)]` modules), so a new upward import fails here.
//!
//! None points up today (issue 15 removed the last: the engine keyed on kinds' types, kinds and
//! the control plane reaching for the whole shared state, the state holding the configuration).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Layers, bottom first. `lib` and `main` sit on top of everything.
const LAYERS: &[&[&str]] = &[
    &["error", "clock", "ids", "churn", "dirty"],
    &["wire"],
    &["auth", "media", "voices", "elements", "sessions"],
    &["engine"],
    &["kinds"],
    &["control"],
    &["state", "persist"],
    &["api", "openapi", "tls"],
    &["config", "config_file", "app", "embed"],
    &["lib", "main"],
];

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
        for dep in crate_modules(&code) {
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
    assert!(
        upward.is_empty(),
        "imports pointing up a layer (move the type down, or the code up): {upward:?}"
    );
}

/// The top-level modules named by `crate::` paths in `code`, grouped ones (`crate::{a, b::c}`)
/// included.
fn crate_modules(code: &str) -> Vec<String> {
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '_')
            .collect()
    };
    let mut out = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut start = 0;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        out.push(ident(&group[start..i]));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.push(ident(&group[start..i]));
                        start = i + 1;
                    }
                    _ => {}
                }
            }
        } else {
            out.push(ident(rest));
        }
    }
    out.retain(|m| !m.is_empty());
    out
}

#[test]
fn the_import_reader_sees_plain_and_grouped_paths() {
    let code = "use crate::engine::Engine;\nuse crate::{config, state::{AppState, Shared}, api::x};\nlet _ = crate::kinds::ALL;";
    assert_eq!(
        crate_modules(code),
        ["engine", "config", "state", "api", "kinds"]
    );
}
