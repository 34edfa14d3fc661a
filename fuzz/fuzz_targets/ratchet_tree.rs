#![no_main]
//! `RatchetTree` (a `Vec<Option<Node>>`) round-trips; a tree that decodes goes through tree hashing and parent-hash verification.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    mlsx_fuzz::all::register_all();
    mlsx_fuzz::harness::ratchet_tree(data);
});
