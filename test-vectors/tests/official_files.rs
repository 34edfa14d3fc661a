//! The copies in `test-vectors/official/` are the published files, byte for
//! byte: every file there is listed in the README's SHA256SUMS with its
//! hash, and every listed file is there.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;

use sha2::{Digest, Sha256};

fn listed(readme: &str) -> BTreeMap<String, String> {
    let sums = readme.split("## SHA256SUMS").nth(1).expect("README has a SHA256SUMS section");
    sums.lines()
        .filter_map(|l| l.split_once("  "))
        .filter(|(h, _)| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(|(h, p)| (p.trim().to_string(), h.to_string()))
        .collect()
}

fn files(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            files(root, &p, out);
        } else if p.file_name().is_some_and(|n| n != "README.md") {
            let rel = p.strip_prefix(root).unwrap();
            let rel = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            out.insert(rel, hex::encode(Sha256::digest(std::fs::read(&p).unwrap())));
        }
    }
}

#[test]
fn official_files_are_unchanged() {
    let root = mlsx_test_vectors::official_dir();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let want = listed(&readme);
    assert!(want.len() >= 34, "only {} files listed", want.len());
    let mut have = BTreeMap::new();
    files(&root, &root, &mut have);
    assert_eq!(have, want, "test-vectors/official differs from its README's SHA256SUMS");
}
