#![no_main]
//! APQ message pairs with every syntax registered: decoding, opening, re-encoding.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| mlsx_fuzz::all::apq_pair(data));
