#![no_main]
//! Saved group state, raw or edited: loading never panics, and a state that loads saves, reloads to the same bytes and can be used.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    mlsx_fuzz::all::register_all();
    mlsx_fuzz::harness::group_state(data);
});
