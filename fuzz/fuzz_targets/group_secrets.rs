#![no_main]
//! `GroupSecrets` decodes, re-encodes to the same bytes, and decodes again to the same value.

use libfuzzer_sys::fuzz_target;
use mlsx_base::codec::GroupSecrets;

fuzz_target!(|data: &[u8]| {
    mlsx_fuzz::all::register_all();
    mlsx_fuzz::harness::round_trip::<GroupSecrets>(data);
});
