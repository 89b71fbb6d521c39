//! The dependency rule, checked on the source so that the next change that breaks it fails CI.
//!
//! Layers (`src/<layer>`), arrows pointing inwards only:
//! `startup -> api -> app -> ports -> domain` and `adapters -> ports -> domain`. Only `startup` names adapters
//! or installs process-wide state (the log subscriber, the metrics recorder). Unit tests at the end of a file
//! (`#[cfg(test)]`) may assemble what they test from any layer and are not checked. And no two modules of
//! `src/` import each other, directly or through others.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// The code of a file that ships: comments dropped, cut at its unit tests.
fn shipped_lines(file: &Path) -> Vec<(usize, String)> {
    let text = std::fs::read_to_string(file).expect("readable source");
    text.lines()
        .enumerate()
        .take_while(|(_, line)| line.trim() != "#[cfg(test)]")
        .map(|(n, line)| (n + 1, line.split("//").next().unwrap_or("").to_owned()))
        .collect()
}

fn offenders(layer: &str, forbidden: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for file in rust_files(&src().join(layer)) {
        for (n, code) in shipped_lines(&file) {
            for name in forbidden {
                if code.contains(name) {
                    found.push(format!("{}:{n}: `{name}` in {}", file.display(), code.trim()));
                }
            }
        }
    }
    found
}

const DRIVERS: [&str; 6] = ["mysql_async", "redis::", "bb8", "ureq", "sqlx", "reqwest"];
const FRAMEWORKS: [&str; 1] = ["poem"];
const PROCESS_STATE: [&str; 5] =
    ["tracing_subscriber", "metrics_exporter_prometheus", "install_recorder", "set_global_default", "try_init"];

fn assert_none(found: Vec<String>, what: &str) {
    assert!(found.is_empty(), "{what}:\n{}", found.join("\n"));
}

#[test]
fn the_domain_names_no_framework_driver_runtime_or_outer_layer() {
    let mut forbidden = [DRIVERS.as_slice(), &FRAMEWORKS, &PROCESS_STATE].concat();
    forbidden.extend(["tokio", "async fn", "crate::ports", "crate::app", "crate::adapters", "crate::api"]);
    forbidden.push("crate::startup");
    assert_none(offenders("domain", &forbidden), "the domain depends outwards");
}

#[test]
fn the_ports_name_no_framework_driver_or_outer_layer() {
    let mut forbidden = [DRIVERS.as_slice(), &FRAMEWORKS, &PROCESS_STATE].concat();
    forbidden.extend(["crate::app", "crate::adapters", "crate::api", "crate::startup"]);
    assert_none(offenders("ports", &forbidden), "a port depends outwards");
}

#[test]
fn use_cases_know_only_the_domain_and_the_ports() {
    let mut forbidden = [DRIVERS.as_slice(), &FRAMEWORKS, &PROCESS_STATE].concat();
    forbidden.extend(["serde_json", "crate::adapters", "crate::api", "crate::startup"]);
    assert_none(offenders("app", &forbidden), "a use case depends on HTTP, JSON, a driver or an adapter");
}

#[test]
fn outbound_adapters_never_reach_into_the_use_cases_the_api_or_startup() {
    let mut forbidden = PROCESS_STATE.to_vec();
    forbidden.extend(["crate::app", "crate::api", "crate::startup"]);
    assert_none(offenders("adapters", &forbidden), "an adapter depends on an outer layer");
}

#[test]
fn the_http_api_calls_use_cases_and_names_no_port_adapter_or_driver() {
    let mut forbidden = [DRIVERS.as_slice(), &PROCESS_STATE].concat();
    forbidden.extend(["crate::ports", "crate::adapters", "crate::startup"]);
    assert_none(offenders("api", &forbidden), "the HTTP API bypasses the use cases or installs global state");
}

#[test]
fn the_layers_are_the_folders_of_src() {
    let mut folders: Vec<String> = std::fs::read_dir(src())
        .expect("src/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    folders.sort();
    assert_eq!(folders, ["adapters", "api", "app", "domain", "ports", "startup"], "a new layer needs a rule above");
}

// ---------------------------------------------------------------------------------------------------------------
// Import cycles between modules.

/// `src/a/b.rs` and `src/a/b/mod.rs` are module `a::b`; `src/lib.rs` is the crate root (empty path).
fn module_of(file: &Path) -> Option<Vec<String>> {
    let relative = file.strip_prefix(src()).ok()?;
    let mut parts: Vec<String> = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    let last = parts.pop()?;
    match last.as_str() {
        "lib.rs" | "mod.rs" => {}
        "main.rs" => return None,
        other => parts.push(other.trim_end_matches(".rs").to_owned()),
    }
    Some(parts)
}

/// The `use` declarations of shipped code, each as one string, with whether it is a `pub use` (a re-export).
fn use_declarations(file: &Path) -> Vec<(bool, String)> {
    let mut out = Vec::new();
    let mut current: Option<(bool, String)> = None;
    for (_, code) in shipped_lines(file) {
        let trimmed = code.trim();
        if current.is_none() {
            let rest = trimmed.strip_prefix("pub(crate) ").or_else(|| trimmed.strip_prefix("pub ")).map(|r| (true, r));
            let (public, rest) = rest.unwrap_or((false, trimmed));
            if let Some(tree) = rest.strip_prefix("use ") {
                current = Some((public, String::new()));
                if let Some((_, text)) = current.as_mut() {
                    text.push_str(tree);
                }
            }
        } else if let Some((_, text)) = current.as_mut() {
            text.push_str(trimmed);
        }
        if current.as_ref().is_some_and(|(_, text)| text.ends_with(';')) {
            if let Some((public, text)) = current.take() {
                out.push((public, text.trim_end_matches(';').replace(" as ", "@").replace(' ', "")));
            }
        }
    }
    out
}

/// Expands a use tree (`a::{b,c::{d,self}}`) into full paths.
fn expand(tree: &str) -> Vec<Vec<String>> {
    let Some(open) = tree.find('{') else {
        // `@` stands for ` as `: the name a path is imported under does not matter here.
        let path = tree.split("::").filter(|s| !s.is_empty()).map(|s| s.split('@').next().unwrap_or(s));
        return vec![path.map(str::to_owned).collect()];
    };
    let prefix: Vec<String> = tree[..open].split("::").filter(|s| !s.is_empty()).map(str::to_owned).collect();
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let (mut depth, mut start, mut items) = (0, 0, Vec::new());
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&inner[start..]);
    let mut out = Vec::new();
    for item in items.into_iter().filter(|i| !i.is_empty()) {
        for tail in expand(item) {
            let mut path = prefix.clone();
            path.extend(tail.into_iter().filter(|s| s != "self"));
            out.push(path);
        }
    }
    out
}

/// Shipped lines that are not part of a `use` declaration: paths written inline in code.
fn code_outside_use_declarations(file: &Path) -> Vec<String> {
    let mut in_use = false;
    let mut out = Vec::new();
    for (_, code) in shipped_lines(file) {
        let trimmed = code.trim_start();
        let rest = trimmed.strip_prefix("pub(crate) ").or_else(|| trimmed.strip_prefix("pub ")).unwrap_or(trimmed);
        in_use = in_use || rest.starts_with("use ");
        if in_use {
            in_use = !code.contains(';');
        } else {
            out.push(code);
        }
    }
    out
}

struct Modules {
    known: BTreeSet<Vec<String>>,
    /// For each module, the names it re-exports and the module they come from.
    reexports: BTreeMap<Vec<String>, BTreeMap<String, Vec<String>>>,
}

impl Modules {
    /// The module a path (already absolute, without `crate`) names: its longest module prefix, followed through
    /// one re-export of the next segment.
    fn resolve(&self, path: &[String]) -> Option<Vec<String>> {
        let length = (0..=path.len()).rev().find(|&n| self.known.contains(&path[..n]))?;
        let module = path[..length].to_vec();
        match path.get(length).and_then(|name| self.reexports.get(&module)?.get(name)) {
            Some(source) => Some(source.clone()),
            None => Some(module),
        }
    }

    /// A path as written in `module` made absolute: `crate::`, `super::`, `self::` or a child module's name.
    fn absolute(&self, module: &[String], path: &[String]) -> Option<Vec<String>> {
        let (first, rest) = path.split_first()?;
        match first.as_str() {
            "crate" => Some(rest.to_vec()),
            "self" => Some([module, rest].concat()),
            "super" => {
                let mut base = module.to_vec();
                base.pop()?;
                self.absolute(&base, &[&["self".to_owned()], rest].concat())
            }
            _ => {
                let child = [module, std::slice::from_ref(first)].concat();
                self.known.contains(&child).then(|| [module, path].concat())
            }
        }
    }
}

fn module_graph() -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let files: Vec<(Vec<String>, PathBuf)> =
        rust_files(&src()).into_iter().filter_map(|f| module_of(&f).map(|m| (m, f))).collect();
    let mut modules = Modules { known: files.iter().map(|(m, _)| m.clone()).collect(), reexports: BTreeMap::new() };
    for (module, file) in &files {
        for (public, tree) in use_declarations(file) {
            if !public {
                continue;
            }
            for path in expand(&tree) {
                let (Some(name), Some(source)) = (path.last(), modules.absolute(module, &path)) else { continue };
                if let Some(source) = modules.resolve(&source) {
                    modules.reexports.entry(module.clone()).or_default().insert(name.clone(), source);
                }
            }
        }
    }
    let mut graph: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (module, file) in &files {
        let edges = graph.entry(module.clone()).or_default();
        let inline = code_outside_use_declarations(file).into_iter().flat_map(|code| {
            code.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .filter(|word| word.contains("::"))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        });
        let declared =
            use_declarations(file).into_iter().filter(|(public, _)| !public).flat_map(|(_, tree)| expand(&tree));
        let paths = declared.chain(inline.map(|word| word.split("::").map(str::to_owned).collect()));
        for path in paths {
            let Some(target) = modules.absolute(module, &path).and_then(|p| modules.resolve(&p)) else { continue };
            if target != *module {
                edges.insert(target);
            }
        }
    }
    graph
}

/// The groups of modules that reach each other through imports (strongly connected components of two or more).
fn cycles(graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Vec<Vec<String>> {
    let reach = |from: &Vec<String>| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.clone()];
        while let Some(node) = todo.pop() {
            for next in graph.get(&node).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    todo.push(next.clone());
                }
            }
        }
        seen
    };
    let reachable: BTreeMap<&Vec<String>, BTreeSet<Vec<String>>> = graph.keys().map(|n| (n, reach(n))).collect();
    let mut groups: Vec<Vec<String>> = Vec::new();
    let mut placed = BTreeSet::new();
    for (node, reaches) in &reachable {
        if placed.contains(*node) || !reaches.contains(*node) {
            continue;
        }
        let group: Vec<&Vec<String>> =
            reaches.iter().filter(|other| reachable.get(other).is_some_and(|r| r.contains(*node))).collect();
        placed.extend(group.iter().map(|m| (*m).clone()));
        groups.push(group.into_iter().map(|m| m.join("::")).collect());
    }
    groups
}

#[test]
fn no_two_modules_of_src_import_each_other() {
    let graph = module_graph();
    assert!(graph.len() > 50, "every module was found: {}", graph.len());
    assert!(
        graph
            .get(&vec!["app".to_owned(), "catalogue".to_owned()])
            .is_some_and(|e| e.contains(&vec!["ports".to_owned(), "product_repository".to_owned()])),
        "imports are read and followed through re-exports: app::catalogue imports ports::product_repository"
    );
    let cycles = cycles(&graph);
    assert!(cycles.is_empty(), "modules that import each other: {cycles:?}");
}

#[test]
fn the_cycle_finder_finds_a_cycle() {
    let node = |s: &str| s.split("::").map(str::to_owned).collect::<Vec<_>>();
    let mut graph = BTreeMap::new();
    graph.insert(node("a"), BTreeSet::from([node("b")]));
    graph.insert(node("b"), BTreeSet::from([node("c")]));
    graph.insert(node("c"), BTreeSet::from([node("a")]));
    graph.insert(node("d"), BTreeSet::from([node("a")]));
    assert_eq!(cycles(&graph), vec![vec!["a".to_owned(), "b".to_owned(), "c".to_owned()]], "d only leads in");
    graph.insert(node("c"), BTreeSet::new());
    assert_eq!(cycles(&graph), Vec::<Vec<String>>::new());
}
