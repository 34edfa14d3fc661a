#![no_main]
//! `PrivateMessageContent` of each content type round-trips (RFC 9420 §6.3.1).

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    mlsx_fuzz::all::register_all();
    mlsx_fuzz::harness::private_content(data);
});
