//! The shape of this test binary, checked so it stays that way: test modules share code only through
//! `harness`, never with each other, and the harness depends on no test module.

use std::path::{Path, PathBuf};

fn it_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it")
}

/// The module names a file's `use` declarations reach through `crate::` or `super::` (the first segment after
/// them). Strings and comments are not looked at: `architecture` names `crate::` paths of `src` in its strings.
fn reached(file: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let mut out = Vec::new();
    for line in text.lines().map(str::trim_start) {
        let Some(path) = line.strip_prefix("use ").or_else(|| line.strip_prefix("pub(crate) use ")) else { continue };
        let Some(rest) = path.strip_prefix("crate::").or_else(|| path.strip_prefix("super::")) else { continue };
        let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        if !name.is_empty() {
            out.push(name);
        }
    }
    out
}

#[test]
fn test_modules_import_only_the_harness_and_the_harness_no_test_module() {
    let mut offenders = Vec::new();
    for entry in std::fs::read_dir(it_dir()).expect("tests/it") {
        let path = entry.expect("an entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        if !name.ends_with(".rs") || name == "main.rs" {
            continue;
        }
        for module in reached(&path) {
            if module != "harness" {
                offenders.push(format!("{name} reaches {module}"));
            }
        }
    }
    for entry in std::fs::read_dir(it_dir().join("harness")).expect("tests/it/harness") {
        let path = entry.expect("an entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        for module in reached(&path) {
            if module != "harness" && !harness_has(&module) {
                offenders.push(format!("harness/{name} reaches {module}"));
            }
        }
    }
    assert!(offenders.is_empty(), "imports between test modules:\n{}", offenders.join("\n"));
}

/// Whether `name` is a module of the harness (harness files reach their siblings through `super::`).
fn harness_has(name: &str) -> bool {
    it_dir().join("harness").join(format!("{name}.rs")).exists()
}

#[test]
fn the_layout_check_finds_a_test_module_importing_another() {
    let dir = std::env::temp_dir().join(format!("fl_layout_{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    let file = dir.join("some_test.rs");
    std::fs::write(&file, "use crate::other_test::helper;\nuse crate::harness::World;\n").expect("write");
    let found = reached(&file);
    std::fs::remove_dir_all(&dir).expect("cleanup");
    assert_eq!(found, ["other_test", "harness"]);
}
