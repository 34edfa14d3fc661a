//! Decoding allocates at most a small multiple of its input: the peak
//! memory of decoding a megabyte of the structures with the largest
//! in-memory size per wire byte (proposals by value and by reference in a
//! commit, blank tree nodes, extensions, certificates), measured by the
//! process's resident-set high-water mark (Linux). One test in this
//! binary, so nothing else allocates meanwhile.

#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mlsx_base::codec::*;

/// The process's resident-set high-water mark in bytes (`VmHWM`).
fn high_water() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kb: usize = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

/// Peak memory growth while decoding `bytes` as `T`, over its length: the
/// high-water mark is reset to the current resident set first (Linux's
/// `clear_refs` 5), then read after decoding.
fn ratio<T: DeserializeBytes>(bytes: &[u8]) -> f64 {
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    let base = high_water();
    let decoded = T::tls_deserialize_bytes(bytes);
    let peak = high_water().saturating_sub(base);
    drop(decoded);
    peak as f64 / bytes.len() as f64
}

fn vector_of(element: &[u8], total: usize) -> Vec<u8> {
    let count = total / element.len();
    let mut out = vec![];
    write_varint(&mut out, count * element.len()).unwrap();
    out.extend(element.repeat(count));
    out
}

/// A measurement: decodes its input and returns the ratio.
type Measure = Box<dyn Fn() -> f64>;

/// The cases: a name and a megabyte of input decoded as its type.
fn cases() -> Vec<(&'static str, Measure)> {
    const MB: usize = 1 << 20;
    vec![
        // A commit of Remove proposals by value: 7 wire bytes each.
        (
            "commit of Removes",
            Box::new(|| {
                let mut commit = vector_of(&[1, 0, 3, 0, 0, 0, 0], MB);
                commit.push(0);
                ratio::<Commit>(&commit)
            }),
        ),
        // A commit of empty proposal references: 2 wire bytes each.
        (
            "commit of empty references",
            Box::new(|| {
                let mut refs = vector_of(&[2, 0], MB);
                refs.push(0);
                ratio::<Commit>(&refs)
            }),
        ),
        // Blank tree nodes: one byte each.
        ("blank tree nodes", Box::new(|| ratio::<RatchetTreeNodes>(&vector_of(&[0], MB)))),
        // Empty extensions: 3 bytes each.
        ("empty extensions", Box::new(|| ratio::<Vec<Extension>>(&vector_of(&[0, 1, 0], MB)))),
        // An x509 credential of empty certificates: one byte each.
        (
            "empty certificates",
            Box::new(|| {
                let mut x509 = vec![0, 2];
                x509.extend(vector_of(&[0], MB));
                ratio::<Credential>(&x509)
            }),
        ),
    ]
}

/// One case, measured in a process of its own (freed memory stays
/// resident in the allocator and would hide the next case's peak): this
/// test re-runs its binary for each.
#[test]
fn decoding_a_megabyte_allocates_a_small_multiple_of_it() {
    if let Ok(i) = std::env::var("MLSX_ALLOC_CASE") {
        let i: usize = i.parse().unwrap();
        println!("\nratio {}", (cases()[i].1)());
        return;
    }
    let exe = std::env::current_exe().unwrap();
    for (i, (what, _)) in cases().iter().enumerate() {
        let out = std::process::Command::new(&exe)
            .args([
                "--exact",
                "decoding_a_megabyte_allocates_a_small_multiple_of_it",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("MLSX_ALLOC_CASE", i.to_string())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let r: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix("ratio "))
            .unwrap_or_else(|| panic!("{what}: no figure in {text}"))
            .parse()
            .unwrap();
        eprintln!("{what}: {r:.1}x its length");
        assert!(r <= 64.0, "{what}: {r:.1}x");
    }
}
