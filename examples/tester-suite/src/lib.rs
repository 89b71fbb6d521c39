//! A consumer's test suite of FarmLokal, written only from `docs/TESTING.md` against the library's public API
//! (the tests are in `tests/`). `scripts/checks/50-tester-suite.sh` runs it in CI.
