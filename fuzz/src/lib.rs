//! Fuzz targets for mlsx (`fuzz_targets/`, run with `cargo fuzz` or
//! `fuzz/run.sh SECONDS`) and the checks they share (`harness`).

pub mod all;
pub mod harness;
