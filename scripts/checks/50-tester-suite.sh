#!/usr/bin/env bash
# The tester's suite in examples/tester-suite: a separate crate that depends on the library as a consumer's
# would and tests it from docs/TESTING.md alone. It shares this checkout's target directory, so only the
# library and the suite are compiled again.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export CARGO_TARGET_DIR="$PWD/target"
manifest=examples/tester-suite/Cargo.toml
cargo fmt --manifest-path "$manifest" -- --check
cargo clippy --manifest-path "$manifest" --all-targets -- -D warnings
cargo test --manifest-path "$manifest"
