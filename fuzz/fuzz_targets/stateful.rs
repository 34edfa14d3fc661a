#![no_main]
//! Arbitrary and mutated valid messages fed to a live three-member group: no panic, a rejected message leaves the state byte-identical, an accepted commit keeps members in agreement.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    mlsx_fuzz::all::register_all();
    mlsx_fuzz::harness::stateful(data);
});
