//! The Python package (`python/`), from this crate's test run: builds and
//! installs it into a virtual environment (`pip install ./python`), runs its
//! pytest suite, `mypy --strict` on its examples and the examples
//! themselves (`python/test.sh`). The simulator's pytest compares against
//! the `mlsx` binary this run built. Needs `python3` (3.9 or later) with
//! `venv` and `pip`, and the package registry.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[test]
fn the_python_package_builds_and_passes_its_tests() {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../python/test.sh");
    let status = std::process::Command::new("bash")
        .arg(&script)
        .env("MLSX_BIN", env!("CARGO_BIN_EXE_mlsx"))
        .status()
        .expect("bash runs python/test.sh");
    assert!(status.success(), "python/test.sh failed: {status}");
}
