#![no_main]
//! Request bodies into the delivery service's handlers (the router, no network): no panic, no 5xx.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| mlsx_fuzz::all::ds_handlers(data));
