//! The library without its default features compiles no HTTP server or
//! client, async runtime, command-line parser or vector runner (issue: the
//! front door, "a lean library").
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[test]
fn the_library_alone_pulls_in_no_server_runtime_parser_or_vector_runner() {
    let out = std::process::Command::new(env!("CARGO"))
        .args([
            "tree",
            "-p",
            "mlsx-app",
            "--no-default-features",
            "-e",
            "normal",
            "--prefix",
            "none",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let tree = String::from_utf8(out.stdout).unwrap();
    let crates: Vec<&str> = tree.lines().filter_map(|l| l.split_whitespace().next()).collect();
    assert!(crates.contains(&"mlsx-combiner"), "{tree}");
    for heavy in [
        "axum",
        "tokio",
        "hyper",
        "clap",
        "ureq",
        "mlsx-test-vectors",
        "postgres",
        "plotters",
        "indicatif",
    ] {
        assert!(!crates.contains(&heavy), "{heavy} in the lean build:\n{tree}");
    }
}
