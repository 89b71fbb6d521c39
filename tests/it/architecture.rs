//! The dependency rule, checked on the source: `domain` and `ports` name no framework or driver, and `domain`
//! has no async runtime. (`app -> ports -> domain`, `adapters -> ports -> domain`; only `app::wiring` picks
//! adapters.)

use std::path::{Path, PathBuf};

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
    out
}

fn offenders(layer: &str, forbidden: &[&str]) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(layer);
    let mut found = Vec::new();
    for file in rust_files(&root) {
        let text = std::fs::read_to_string(&file).expect("readable source");
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for name in forbidden {
                if code.contains(name) {
                    found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
                }
            }
        }
    }
    found
}

const DRIVERS_AND_FRAMEWORKS: [&str; 7] = ["poem", "mysql_async", "redis::", "bb8", "ureq", "sqlx", "reqwest"];

#[test]
fn the_domain_names_no_framework_driver_or_runtime() {
    let mut forbidden = DRIVERS_AND_FRAMEWORKS.to_vec();
    forbidden.extend(["tokio", "async fn", "crate::adapters", "crate::app", "crate::ports"]);
    let found = offenders("domain", &forbidden);
    assert!(found.is_empty(), "the domain depends outwards:\n{}", found.join("\n"));
}

#[test]
fn the_ports_name_no_framework_or_driver_and_no_adapter() {
    let mut forbidden = DRIVERS_AND_FRAMEWORKS.to_vec();
    forbidden.extend(["crate::adapters", "crate::app"]);
    let found = offenders("ports", &forbidden);
    assert!(found.is_empty(), "a port depends outwards:\n{}", found.join("\n"));
}

#[test]
fn adapters_never_reach_into_the_app() {
    let found = offenders("adapters", &["crate::app"]);
    assert!(found.is_empty(), "an adapter depends on the app layer:\n{}", found.join("\n"));
}
