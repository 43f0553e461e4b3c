//! The layout shows the flow only if its dependencies go one way: no file in `src/` imports
//! one that imports it back, directly or through others. Read from the source: every
//! `crate::...` path (in `use` items and in code, not in comments) names the file of the
//! longest module prefix it has.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// `src/container/converge.rs` -> `["container", "converge"]`; `mod.rs` and `lib.rs` are
/// their folder's module.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// The `crate::...` paths a file names, with `use crate::a::{b, c::d}` groups expanded.
fn crate_paths(text: &str) -> Vec<Vec<String>> {
    let code: String = text
        .lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut paths = Vec::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':' || c == '{'))
            .unwrap_or(rest.len());
        let head = &rest[..end];
        match head.split_once('{') {
            Some((prefix, _)) => {
                let group_end = rest.find('}').unwrap_or(rest.len());
                let group = &rest[prefix.len() + 1..group_end];
                for item in group.split(',') {
                    let item = item.trim().split(" as ").next().unwrap_or("");
                    let joined = format!("{prefix}{}", item.trim_start_matches("self"));
                    paths.push(split(&joined));
                }
            }
            None => paths.push(split(head)),
        }
    }
    paths
}

fn split(path: &str) -> Vec<String> {
    path.split("::")
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

#[test]
fn no_file_imports_one_that_imports_it_back() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let modules: BTreeMap<Vec<String>, PathBuf> = files
        .iter()
        .map(|f| (module_of(&src, f), f.clone()))
        .collect();
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (module, file) in &modules {
        let text = std::fs::read_to_string(file).unwrap();
        for path in crate_paths(&text) {
            // The longest prefix that is a file of its own.
            let target = (0..=path.len())
                .rev()
                .map(|n| path[..n].to_vec())
                .find(|prefix| modules.contains_key(prefix))
                .unwrap();
            if &target != module {
                edges.entry(module.clone()).or_default().insert(target);
            }
        }
    }
    assert!(
        edges
            .values()
            .any(|e| e.contains(&vec!["error".to_string()])),
        "the reader finds imports: {edges:?}"
    );

    // Depth-first search for a cycle, reporting the first one found.
    fn visit(
        node: &Vec<String>,
        edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        path: &mut Vec<Vec<String>>,
        done: &mut BTreeSet<Vec<String>>,
    ) -> Option<Vec<Vec<String>>> {
        if let Some(at) = path.iter().position(|p| p == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.clone());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.clone());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.clone());
        None
    }
    let mut done = BTreeSet::new();
    for module in modules.keys() {
        if let Some(cycle) = visit(module, &edges, &mut Vec::new(), &mut done) {
            let shown: Vec<String> = cycle
                .iter()
                .map(|m| format!("crate::{}", m.join("::")))
                .collect();
            panic!("an import cycle: {}", shown.join(" -> "));
        }
    }
}

#[test]
fn the_reader_sees_groups_and_skips_comments() {
    let paths = crate_paths(
        "use crate::image::{auth::Auth, check};\n// crate::nope\nlet x = crate::steps::no_log;",
    );
    assert_eq!(
        paths,
        vec![
            vec!["image", "auth", "Auth"],
            vec!["image", "check"],
            vec!["steps", "no_log"]
        ]
    );
}
