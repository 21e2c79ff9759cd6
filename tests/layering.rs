//! The layers of docs/architecture.md, checked: every module of `src/` may use only the
//! layers below it, and the module graph has no cycle. Test code (`#[cfg(test)]` items
//! and test-only files) may reach anywhere and is left out; so are comments.
//!
//! A change that makes, say, `memory` import `gdb` fails here with the file and line.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each layer and the layers it may use, lowest first. Test support (`builder`,
/// `harness`) is compiled only with the `test-support` feature; no shipped layer may
/// use it.
const LAYERS: &[(&str, &[&str])] = &[
    ("addr", &[]),
    ("kinds", &[]),
    ("vcpu", &["addr", "kinds"]),
    ("dump", &["addr", "kinds", "vcpu"]),
    ("memory", &["addr", "kinds", "vcpu", "dump"]),
    ("os", &["addr", "kinds", "vcpu", "dump", "memory"]),
    (
        "threads",
        &["addr", "kinds", "vcpu", "dump", "memory", "os"],
    ),
    (
        "summary",
        &["addr", "kinds", "vcpu", "dump", "memory", "os"],
    ),
    (
        "convert",
        &["addr", "kinds", "vcpu", "dump", "memory", "os"],
    ),
    (
        "gdb",
        &[
            "addr", "kinds", "vcpu", "dump", "memory", "os", "threads", "summary",
        ],
    ),
    ("server", &["gdb", "threads"]),
    // Test support: the builder describes guests with the lower layers' vocabulary
    // (a Linux guest's kernel structs with the OS layer's layout); the harness drives
    // everything the server and `convert` do.
    (
        "builder",
        &["addr", "kinds", "vcpu", "dump", "memory", "os"],
    ),
    (
        "harness",
        &[
            "addr", "kinds", "vcpu", "dump", "memory", "os", "threads", "summary", "gdb",
            "convert", "builder",
        ],
    ),
];

/// The binary may use any shipped layer.
const BINARY_MAY_NOT_USE: &[&str] = &["builder", "harness"];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file of `src/` belongs to (`None` for lib.rs).
fn layer_of(path: &Path) -> Option<String> {
    let rel = path.strip_prefix(src()).unwrap();
    let first = rel.components().next()?.as_os_str().to_str()?.to_string();
    let name = first.strip_suffix(".rs").unwrap_or(&first).to_string();
    (name != "lib").then_some(name)
}

/// Files that are test modules as a whole (declared under `#[cfg(test)]`).
fn is_test_file(path: &Path) -> bool {
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    stem == "tests" || stem.ends_with("_tests")
}

/// Source lines that are shipped code: comments and `#[cfg(test)]` items removed.
fn shipped_lines(text: &str) -> Vec<(usize, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let t = lines[i].trim();
        if t.starts_with("#[cfg(test)]") {
            // Skip the item: a `mod x;` line, or everything to its closing brace.
            i += 1;
            let mut depth = 0i32;
            while i < lines.len() {
                let l = lines[i];
                depth += l.matches('{').count() as i32 - l.matches('}').count() as i32;
                i += 1;
                if depth <= 0 && (l.contains('}') || l.trim_end().ends_with(';')) {
                    break;
                }
            }
            continue;
        }
        if !t.starts_with("//") {
            let code = match lines[i].find("//") {
                Some(c) if !lines[i][..c].contains('"') => &lines[i][..c],
                _ => lines[i],
            };
            out.push((i + 1, code.to_string()));
        }
        i += 1;
    }
    out
}

/// `crate::X` references: which top-level modules a line uses.
fn uses(line: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = line;
    while let Some(p) = rest.find("crate::") {
        let after = &rest[p + "crate::".len()..];
        let name: String = after
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            found.push(name);
        }
        rest = after;
    }
    // `use crate::{a, b::c}` groups.
    if let Some(p) = line.find("crate::{") {
        let inner = &line[p + "crate::{".len()..];
        for part in inner.split(',') {
            let name: String = part
                .trim()
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.push(name);
            }
        }
    }
    found
}

/// Edges `layer -> used layer`, each with where it was seen.
fn graph() -> BTreeMap<(String, String), String> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut edges = BTreeMap::new();
    for f in files {
        if is_test_file(&f) {
            continue;
        }
        let Some(layer) = layer_of(&f) else { continue };
        let text = std::fs::read_to_string(&f).unwrap();
        for (n, line) in shipped_lines(&text) {
            for used in uses(&line) {
                if used != layer {
                    let at = format!("{}:{n}: {}", f.display(), line.trim());
                    edges.entry((layer.clone(), used)).or_insert(at);
                }
            }
        }
    }
    edges
}

#[test]
fn every_layer_uses_only_the_layers_below_it() {
    let allowed: BTreeMap<&str, &[&str]> = LAYERS.iter().copied().collect();
    let mut problems = Vec::new();
    for ((from, to), at) in graph() {
        if from == "main" {
            if BINARY_MAY_NOT_USE.contains(&to.as_str()) {
                problems.push(format!("the binary uses test support `{to}`: {at}"));
            }
            continue;
        }
        match allowed.get(from.as_str()) {
            None => problems.push(format!(
                "`{from}` is not in the layer list of tests/layering.rs (and docs/architecture.md): {at}"
            )),
            Some(ok) if !ok.contains(&to.as_str()) => {
                problems.push(format!("`{from}` uses `{to}`, which is not below it: {at}"))
            }
            Some(_) => {}
        }
    }
    assert!(
        problems.is_empty(),
        "layering broken:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_module_graph_has_no_cycle() {
    let mut next: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, to) in graph().into_keys() {
        if from != "main" {
            next.entry(from).or_default().insert(to);
        }
    }
    // Depth-first search; a node met again while on the stack closes a cycle.
    fn visit(
        n: &str,
        next: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = stack.iter().position(|s| s == n) {
            let mut cycle = stack[i..].to_vec();
            cycle.push(n.to_string());
            return Some(cycle);
        }
        if !done.insert(n.to_string()) {
            return None;
        }
        stack.push(n.to_string());
        for m in next.get(n).into_iter().flatten() {
            if let Some(c) = visit(m, next, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        None
    }
    let mut done = BTreeSet::new();
    for n in next.keys() {
        let cycle = visit(n, &next, &mut Vec::new(), &mut done);
        assert!(
            cycle.is_none(),
            "module cycle: {}",
            cycle.unwrap().join(" -> ")
        );
    }
}

#[test]
fn the_checker_sees_imports_and_ignores_tests_and_comments() {
    // The checker itself must be able to fail: feed it a file that breaks the rules.
    let text = "use crate::gdb::x;\n// use crate::server;\nfn f() { crate::os::linux::g(); }\n#[cfg(test)]\nmod tests {\n    use crate::builder::y;\n}\nuse crate::{dump, memory::Via};\n";
    let found: Vec<String> = shipped_lines(text)
        .iter()
        .flat_map(|(_, l)| uses(l))
        .collect();
    assert_eq!(found, ["gdb", "os", "dump", "memory"]);
    // And the real tree has edges to check.
    let g = graph();
    assert!(g.contains_key(&("gdb".to_string(), "threads".to_string())));
    assert!(g.contains_key(&("memory".to_string(), "dump".to_string())));
}
