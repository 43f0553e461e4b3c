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

/// The code of a file without its comments.
fn without_comments(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `a::{b, c::{d, e}}` -> `a::b`, `a::c::d`, `a::c::e` (`self` in a group is the prefix).
fn expand(tree: &str) -> Vec<String> {
    let tree: String = tree.chars().filter(|c| !c.is_whitespace()).collect();
    let Some(open) = tree.find('{') else {
        let tree = tree.split("as").next().unwrap_or("").to_string();
        return vec![tree.trim_end_matches("::self").to_string()];
    };
    let prefix = &tree[..open];
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    // Split the group at its top-level commas.
    let (mut items, mut depth, mut start) = (Vec::new(), 0, 0);
    for (at, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&inner[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    items.push(&inner[start..]);
    items
        .into_iter()
        .filter(|item| !item.is_empty())
        .flat_map(|item| expand(&format!("{prefix}{item}")))
        .collect()
}

/// The module paths a file in `module` names: its `use` items (with `crate::`, `super::`,
/// `self::` or a child module first) and the `crate::`/`super::` paths in its code, its unit
/// tests left out (what they import is no dependency of the module). `dir`: the file is its
/// folder's module (`mod.rs`, `lib.rs`), whose children are its folder's files; `exists`:
/// whether a module is a file of the crate.
fn named_paths(
    text: &str,
    module: &[String],
    dir: bool,
    exists: &dyn Fn(&[String]) -> bool,
) -> Vec<Vec<String>> {
    let text = text.split("#[cfg(test)]").next().unwrap_or("");
    let mut code = without_comments(text);
    let own: Vec<String> = if dir {
        module.to_vec()
    } else {
        module[..module.len().saturating_sub(1)].to_vec()
    };
    let resolve = |path: &str| -> Option<Vec<String>> {
        let parts = split(path);
        let (first, rest) = parts.split_first()?;
        let mut base = match first.as_str() {
            "crate" => vec![],
            "super" => own[..own.len().saturating_sub(1)].to_vec(),
            "self" => module.to_vec(),
            // A child module of a folder's module (`use declared::X` in `spec/mod.rs`).
            child if dir && exists(&[module, &[child.to_string()]].concat()) => {
                let mut base = module.to_vec();
                base.push(child.to_string());
                base
            }
            _ => return None,
        };
        base.extend(rest.iter().cloned());
        Some(base)
    };
    let mut paths = Vec::new();
    // The `use` items, taken out of the code as they are read.
    let mut from = 0;
    while let Some(at) = code[from..].find("use ").map(|at| at + from) {
        let starts_word = !code[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_');
        let Some(end) = code[at..].find(';').map(|end| end + at) else {
            break;
        };
        if starts_word {
            paths.extend(expand(&code[at + 4..end]).iter().filter_map(|p| resolve(p)));
            code.replace_range(at..end, "");
            from = at;
        } else {
            from = at + 4;
        }
    }
    for root in ["crate::", "super::"] {
        let mut rest = code.as_str();
        while let Some(at) = rest.find(root) {
            let start = &rest[at..];
            let end = start
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(start.len());
            paths.extend(resolve(&start[..end]));
            rest = &start[root.len()..];
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

/// The first cycle in a graph, as the nodes along it.
fn cycle<N: Ord + Clone>(edges: &BTreeMap<N, BTreeSet<N>>) -> Option<Vec<N>> {
    fn visit<N: Ord + Clone>(
        node: &N,
        edges: &BTreeMap<N, BTreeSet<N>>,
        path: &mut Vec<N>,
        done: &mut BTreeSet<N>,
    ) -> Option<Vec<N>> {
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
    edges
        .keys()
        .find_map(|node| visit(node, edges, &mut Vec::new(), &mut done))
}

/// Every file's imports, as edges between modules.
fn import_graph() -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let modules: BTreeMap<Vec<String>, PathBuf> = files
        .iter()
        .map(|f| (module_of(&src, f), f.clone()))
        .collect();
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (module, file) in &modules {
        let dir = file
            .file_name()
            .is_some_and(|n| n == "mod.rs" || n == "lib.rs");
        let text = std::fs::read_to_string(file).unwrap();
        let exists = |m: &[String]| modules.contains_key(m);
        for path in named_paths(&text, module, dir, &exists) {
            // The longest prefix that is a file of its own.
            let target = (0..=path.len())
                .rev()
                .map(|n| path[..n].to_vec())
                .find(|prefix| modules.contains_key(prefix))
                .unwrap();
            edges.entry(module.clone()).or_default();
            if &target != module {
                edges.entry(module.clone()).or_default().insert(target);
            }
        }
    }
    edges
}

fn shown(cycle: &[Vec<String>]) -> String {
    cycle
        .iter()
        .map(|m| format!("crate::{}", m.join("::")))
        .collect::<Vec<_>>()
        .join(" -> ")
}

#[test]
fn no_file_imports_one_that_imports_it_back() {
    let edges = import_graph();
    assert!(
        edges
            .values()
            .any(|e| e.contains(&vec!["error".to_string()])),
        "the reader finds imports: {edges:?}"
    );
    if let Some(cycle) = cycle(&edges) {
        panic!("an import cycle between files: {}", shown(&cycle));
    }
}

/// One level up: `image`, `container`, `deploy`, `spec` and the top-level files, as the
/// README's layout reads, import each other one way too.
#[test]
fn no_folder_imports_one_that_imports_it_back() {
    let top = |module: &Vec<String>| module.first().cloned().unwrap_or_default();
    let mut folders: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, targets) in import_graph() {
        for target in targets {
            if top(&module) != top(&target) {
                folders
                    .entry(top(&module))
                    .or_default()
                    .insert(top(&target));
            }
        }
    }
    if let Some(cycle) = cycle(&folders) {
        panic!("an import cycle between folders: {}", cycle.join(" -> "));
    }
}

#[test]
fn the_reader_sees_groups_relative_paths_and_skips_comments() {
    let module = vec!["spec".to_string()];
    let exists = |m: &[String]| m == ["spec".to_string(), "declared".to_string()];
    let paths = named_paths(
        "use crate::image::{auth::Auth, check::{self, compare}};\n// crate::nope\n\
         pub use declared::ContainerSpec;\nuse serde::Serialize;\n\
         let x = crate::steps::no_log; let y = super::lock::acquire;\n\
         #[cfg(test)]\nmod tests { use super::*; use crate::deploy::single; }",
        &module,
        true,
        &exists,
    );
    let shown: Vec<String> = paths.iter().map(|p| p.join("::")).collect();
    assert_eq!(
        shown,
        [
            "image::auth::Auth",
            "image::check",
            "image::check::compare",
            "spec::declared::ContainerSpec",
            "steps::no_log",
            "lock::acquire",
        ]
    );
}
